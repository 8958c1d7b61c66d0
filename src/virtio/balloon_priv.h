/* balloon_priv.h - the live virtio-balloon device, shared by balloon.c and
 * balloon_state.c.
 *
 * Contract: private to src/virtio/balloon*.c. Fields marked "any thread"
 * are read and written only through __atomic builtins; the worker state
 * belongs to the device's worker once the loop runs.
 */
#ifndef MVM_VIRTIO_BALLOON_PRIV_H
#define MVM_VIRTIO_BALLOON_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/balloon.h"
#include "virtio/worker.h"

#define BALLOON_CONFIG_SIZE 8     /* num_pages, actual */

struct balloon_counters {
	uint64_t inflated_pages, deflated_pages, bad_pfns, ignored_pfns, discard_errors,
		 stats_reports, reported_pages;
};

struct virtio_balloon {
	struct virtio_worker w;       /* transport + worker */
	struct virtio_dev_ops ops;    /* per instance: the features and queue count vary */
	const struct gmem *mem;
	uint32_t max_mib;             /* guest RAM: the target's bound */
	bool deflate_on_oom;
	bool stats_on;                /* fixed at creation, as the statsq feature */
	bool report_on;               /* free page reporting offered */
	int report_q;                 /* reportingq's index (after statsq if any) */
	virtio_worker_fn kicks[4];    /* per queue: the numbering depends on the features */
	int timer_fd;                 /* statistics polling (worker) */
	int ctl_fd;                   /* eventfd: the interval changed (API -> worker) */

	/* Any thread, through __atomic builtins. */
	uint32_t num_pages;
	uint32_t actual;
	uint16_t interval_s;
	struct balloon_counters cnt;

	/* The latest statistics: the worker writes, the API reads. */
	pthread_mutex_t lock;
	bool lock_ready;
	struct balloon_stats stats;
	bool stats_valid;

	/* Worker-owned. */
	bool active;                  /* DRIVER_OK seen, no reset since */
	bool stats_held;              /* stats_head is the driver's buffer, not yet returned */
	uint16_t stats_head;
	uint8_t pfn_buf[VIRTIO_BALLOON_PFN_MAX * 4];
	struct balloon_run runs[VIRTIO_BALLOON_PFN_MAX];
	uint8_t stats_buf[VIRTIO_BALLOON_STATS_MAX_BYTES];
	struct vq_chain chain;        /* scratch for vq_pop() */
};

#endif
