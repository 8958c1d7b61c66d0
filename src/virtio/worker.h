/* worker.h - what every virtio device shares around its worker thread: the
 * transport, the event loop, and the order of attach and teardown.
 *
 * Contract: a device embeds a struct virtio_worker and calls, in order:
 * virtio_worker_init() (the loop exists, nothing runs yet: at create or at
 * attach time), virtio_worker_watch() for each eventfd of its own, then
 * virtio_worker_attach(), which claims the MMIO window, wires queue i's kick
 * eventfd to kicks[i] and starts the worker. Every handler runs on the
 * worker, one at a time, with its eventfd already drained, and gets the dev
 * pointer given to init. The device may also use w->loop directly (fds
 * that are not eventfds, a backend's own fds) and w->t (its queues).
 *
 * The transport calls ops->activate and ops->reset from a vCPU thread with
 * its lock held; the worker runs them on the worker thread through
 * evloop_run_sync() and waits, so they own the device's worker state while
 * they run (on the calling thread when the worker is not running).
 * config_read and config_write are passed through on the calling thread.
 *
 * Teardown comes in two halves. virtio_worker_quiesce() stops the worker
 * first and then detaches the transport: the reset the detach performs
 * runs synchronously on the caller, and afterwards nothing but the caller
 * touches the device (no handler, no backend callback on the loop). The
 * device drops what it still holds (in-flight I/O, a backend) and calls
 * virtio_worker_release(), which frees the loop (quiescing first if that
 * was not done). Both are safe on a zeroed, half-made or already released
 * worker.
 */
#ifndef MVM_VIRTIO_WORKER_H
#define MVM_VIRTIO_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/device.h"
#include "util/evloop.h"
#include "virtio/mmio.h"

/* The transport's view of a struct device_env (the device kinds' attach). */
static inline struct virtio_env virtio_env_of(const struct device_env *e)
{
	return (struct virtio_env){ .mem = e->mem, .mmio = e->mmio, .ioeventfd = e->ioeventfd,
				    .irqfd = e->irqfd, .ctx = e->ctx };
}

/* Queue kicks plus a few eventfds of the device's own. */
#define VIRTIO_WORKER_MAX_FDS (VIRTIO_MMIO_MAX_QUEUES + 4)

/* A handler on the worker; dev is the pointer given to virtio_worker_init(). */
typedef void (*virtio_worker_fn)(void *dev);

struct virtio_worker_fd {
	struct virtio_worker *w;
	int fd;
	virtio_worker_fn fn;
};

struct virtio_worker {
	struct virtio_mmio t;            /* the transport; dev is this worker */
	struct evloop loop;
	void *dev;
	const char *label;               /* after ops->name in messages, or NULL */
	const struct virtio_dev_ops *ops;    /* the device's */
	struct virtio_dev_ops tops;      /* what the transport calls */
	bool loop_ready;                 /* evloop_init() succeeded */
	bool attached;                   /* virtio_mmio_attach() succeeded */
	int nr_fds;
	struct virtio_worker_fd fds[VIRTIO_WORKER_MAX_FDS];
};

/* Make the loop (thread name "mvm-..."); label names this instance in
 * messages (a disk's path; NULL for none). 0 or -errno (logged). */
int virtio_worker_init(struct virtio_worker *w, const char *thread, const char *label,
		       void *dev);
/* fn(dev) on the worker whenever eventfd fd is written. Before attach.
 * 0 or -errno (logged). */
int virtio_worker_watch(struct virtio_worker *w, int fd, virtio_worker_fn fn);
/* Claim [base, base+4K), wire kicks[0..ops->nr_queues) to the queues' kick
 * eventfds, start the worker. 0 or -errno (logged). */
int virtio_worker_attach(struct virtio_worker *w, const struct virtio_env *env,
			 uint64_t base, uint32_t gsi, const struct virtio_dev_ops *ops,
			 const virtio_worker_fn *kicks);
/* Run fn(dev) on the worker and wait; directly when it is not running. */
void virtio_worker_run(struct virtio_worker *w, virtio_worker_fn fn);

/* Write eventfd fd (a queue's kick fd or a watched one) from any thread:
 * its handler runs soon. From the worker itself, it runs again after
 * whatever else the loop has pending: how a batch limit yields. */
void virtio_worker_poke(struct virtio_worker *w, int fd);
/* From the worker, for a queue whose kicks are off while it is served:
 * 1 with the next chain in *c; 0 when the ring is empty (kicks are back on,
 * and nothing was posted meanwhile); -EIO when the driver broke the ring
 * (NEEDS_RESET is set). */
int virtio_worker_pop(struct virtio_worker *w, int queue, struct vq_chain *c);

void virtio_worker_quiesce(struct virtio_worker *w);
void virtio_worker_release(struct virtio_worker *w);

#endif
