/* balloon.h - virtio-balloon (virtio 1.2 spec 5.5), as Firecracker's: the
 * host sets a target, the guest's driver gives pages, mvm hands them back
 * to the host.
 *
 * Contract: queues inflateq (0) and deflateq (1), plus statsq (2) when
 * statistics are on (stats_polling_interval_s > 0 offers
 * VIRTIO_BALLOON_F_STATS_VQ); deflate_on_oom offers
 * VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the guest deflates by itself under
 * memory pressure); free_page_reporting offers VIRTIO_BALLOON_F_REPORTING
 * and one more queue, reportingq (after statsq, or at 2 without it: Linux
 * numbers only the queues it uses), whose chains are free guest pages the
 * driver lends back: every whole 4 KiB page of every segment goes back to
 * the host (gmem_discard_host), and the chain is returned. Config space: num_pages (the host's target, in 4 KiB
 * pages; read-only to the driver) and actual (written by the driver: the
 * pages it holds). A target change raises a config-change interrupt.
 *
 * Inflate: each chain's device-readable bytes are little-endian u32 page
 * frame numbers (4 KiB pages, whatever the guest's page size); at most
 * VIRTIO_BALLOON_PFN_MAX of them are read per chain (the rest is ignored
 * and counted). Every PFN is checked (balloon_pfn_runs): only pages
 * wholly inside a RAM region are taken, never the MMIO hole or anything
 * past RAM; consecutive pages become one run, and each run goes back to
 * the host with gmem_discard() (MADV_DONTNEED). Bad PFNs are counted and
 * skipped; the chain is returned either way. Deflate: the pages need
 * nothing (the next guest touch faults in a zero page); the chain is
 * returned. Statistics (spec 5.5.6.3): the driver keeps one buffer of
 * {le16 tag, le64 value} entries posted; the device reads it
 * (balloon_stats_parse: at most VIRTIO_BALLOON_STATS_MAX_BYTES, unknown
 * tags counted and ignored, a trailing partial entry ignored) and holds
 * it; every stats_polling_interval_s seconds (a timerfd on the worker) it
 * gives the buffer back, and the driver refills and reposts it. A second
 * buffer posted while one is held returns the held one at once.
 *
 * Threads: queue work, the timer and resets run on the device's worker,
 * at most VIRTIO_BALLOON_BATCH chains per wake-up (then it kicks itself).
 * virtio_balloon_set_target(), _set_stats_interval() and _info() may be
 * called from any thread (the API): the target and actual are atomics,
 * the latest statistics sit behind a mutex, an interval change pokes the
 * worker, which re-arms its timer and asks the guest for statistics at
 * once (as Firecracker does).
 *
 * State: the transport, the target, the driver's actual, the interval. A
 * held statistics buffer is saved as not taken (its queue's last_avail one
 * back: it is always the last chain taken), so the restored device takes
 * it again at activation.
 */
#ifndef MVM_VIRTIO_BALLOON_H
#define MVM_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/memory.h"
#include "virtio/mmio.h"
#include "virtio/queue.h"

#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING      5

#define VIRTIO_BALLOON_INFLATEQ 0
#define VIRTIO_BALLOON_DEFLATEQ 1
#define VIRTIO_BALLOON_STATSQ   2

#define VIRTIO_BALLOON_QUEUE_MAX  256
#define VIRTIO_BALLOON_PFN_MAX    4096   /* PFNs read from one chain (Linux sends <= 256) */
#define VIRTIO_BALLOON_BATCH      64     /* chains per worker wake-up */
#define VIRTIO_BALLOON_PAGES_PER_MIB 256u
#define VIRTIO_BALLOON_STAT_SIZE  10     /* le16 tag + le64 value, packed */
#define VIRTIO_BALLOON_STATS_MAX_BYTES (256 * VIRTIO_BALLOON_STAT_SIZE)
#define VIRTIO_BALLOON_S_NR       16     /* tags 0..15 (Linux's VIRTIO_BALLOON_S_*) */

/* ---- pure parsing (balloon_parse.c): no device, no threads ---- */

/* One chain of reportingq: the whole pages of each segment given back.
 * pages: how many; errors: segments refused (never for segments from
 * vq_pop(), which are RAM). */
void balloon_chain_report(const struct gmem *m, const struct vq_chain *c, uint64_t *pages,
			  uint32_t *errors);

/* Up to cap bytes of the iovecs' concatenation into buf; returns the bytes
 * copied (the total may be larger: the caller compares). */
size_t balloon_gather(const struct iovec *iov, unsigned n, void *buf, size_t cap);

/* A run of consecutive guest pages to give back. */
struct balloon_run {
	uint64_t gpa;
	uint64_t len;
};

/* The n little-endian u32 PFNs at pfns (any alignment) into runs (room
 * for n). A PFN is taken only when its whole 4 KiB page is guest RAM
 * (gmem_ptr()); the others are counted in *bad and skipped. A PFN that
 * extends the previous run (the next page, same region) joins it. Returns
 * the number of runs. */
size_t balloon_pfn_runs(const struct gmem *m, const void *pfns, size_t n,
			struct balloon_run *runs, uint32_t *bad);

/* The guest's statistics, as the last report gave them. */
struct balloon_stats {
	uint32_t present;            /* bit t: tag t was in the last report */
	uint32_t unknown;            /* entries with a tag past VIRTIO_BALLOON_S_NR */
	uint32_t partial;            /* trailing bytes that were not a whole entry */
	uint64_t val[VIRTIO_BALLOON_S_NR];
};

/* len bytes of entries at buf into *s (cleared first); a repeated tag
 * keeps its last value. Never fails: anything malformed is counted. */
void balloon_stats_parse(const void *buf, size_t len, struct balloon_stats *s);
/* Firecracker's JSON name of tag t ("swap_in", "free_memory", ...), or
 * NULL past VIRTIO_BALLOON_S_NR. */
const char *balloon_stat_name(unsigned t);

/* What one inflate or deflate chain did. */
struct balloon_chain_result {
	uint32_t pfns;               /* read from the chain (<= VIRTIO_BALLOON_PFN_MAX) */
	uint32_t bad;                /* refused by balloon_pfn_runs() */
	uint32_t ignored;            /* whole PFNs past the bound */
	uint32_t runs;
	uint32_t discard_errors;     /* runs gmem_discard() failed on (kept) */
	uint64_t pages;              /* pages given back (inflate) or taken back (deflate) */
};

/* One chain of inflateq (inflate: each run goes through gmem_discard()
 * and is marked dirty) or deflateq (nothing to do but count). pfn_buf:
 * VIRTIO_BALLOON_PFN_MAX * 4 bytes; runs: VIRTIO_BALLOON_PFN_MAX entries.
 * Only the chain's device-readable segments are read; nothing in guest
 * RAM is written but the discarded pages. */
void balloon_chain_pages(const struct gmem *m, const struct vq_chain *c, bool inflate,
			 uint8_t *pfn_buf, struct balloon_run *runs,
			 struct balloon_chain_result *r);
/* One statistics chain's readable bytes (at most
 * VIRTIO_BALLOON_STATS_MAX_BYTES, gathered into buf of that size) into *s;
 * returns the readable bytes past the bound, ignored. */
uint32_t balloon_chain_stats(const struct vq_chain *c, uint8_t *buf, struct balloon_stats *s);

/* ---- the device ---- */

struct virtio_balloon_cfg {
	uint32_t amount_mib;
	bool deflate_on_oom;
	uint16_t stats_polling_interval_s;
	bool free_page_reporting;
};

struct virtio_balloon;

/* What the API shows: targets, the driver's actual, counters, statistics. */
struct virtio_balloon_info {
	uint32_t target_pages;
	uint32_t actual_pages;
	uint16_t stats_polling_interval_s;
	bool deflate_on_oom;
	bool stats_valid;            /* a report has arrived */
	struct balloon_stats stats;
	uint64_t inflated_pages;     /* pages given back to the host (counted per PFN) */
	uint64_t deflated_pages;
	uint64_t bad_pfns;           /* refused: outside RAM or in a hole */
	uint64_t ignored_pfns;       /* past VIRTIO_BALLOON_PFN_MAX in one chain */
	uint64_t discard_errors;     /* madvise failures (pages kept) */
	uint64_t stats_reports;
	uint64_t reported_pages;     /* free pages the guest reported, given back */
};

#define VIRTIO_BALLOON_STATE_VERSION 1

struct virtio_balloon_state {
	struct virtio_mmio_state transport;
	uint32_t num_pages;          /* the target */
	uint32_t actual;             /* the driver's last write */
	uint16_t stats_polling_interval_s;
	uint8_t pad[6];              /* always 0 */
};

/* 0 or -errno (logged; -EINVAL when amount_mib exceeds guest RAM, mem's
 * size, which also bounds every later target). */
int virtio_balloon_create(struct virtio_balloon **out, const struct virtio_balloon_cfg *cfg,
			  const struct gmem *mem);
int virtio_balloon_attach(struct virtio_balloon *d, const struct virtio_env *env,
			  uint64_t base, uint32_t gsi);
void virtio_balloon_destroy(struct virtio_balloon *d);
struct evloop *virtio_balloon_loop(struct virtio_balloon *d);
struct virtio_mmio *virtio_balloon_transport(struct virtio_balloon *d);

/* The target, any thread: -EINVAL when amount_mib exceeds guest RAM. The
 * driver sees it at once if it is up (config-change interrupt), else when
 * it starts. */
int virtio_balloon_set_target(struct virtio_balloon *d, uint32_t amount_mib);
/* -EPERM when statistics would be turned on or off (fixed at creation,
 * as in Firecracker); 0 otherwise (the guest is asked for statistics now). */
int virtio_balloon_set_stats_interval(struct virtio_balloon *d, uint16_t seconds);
void virtio_balloon_info(struct virtio_balloon *d, struct virtio_balloon_info *out);

/* With the VM paused. 0 or -errno (logged naming the field). */
int virtio_balloon_save(struct virtio_balloon *d, struct virtio_balloon_state *s);
int virtio_balloon_restore(struct virtio_balloon *d, const struct virtio_balloon_state *s);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind virtio_balloon_kind;

#endif
