/* limiter.h - a device's rate limiter on its worker: token buckets
 * (util/tbucket.h) plus a timerfd that wakes the worker when they refill.
 *
 * Contract: a device embeds a struct virtio_limiter per limited direction,
 * calls virtio_limiter_init() at create (the timerfd exists even with no
 * limit, so a PATCH can add one later) and virtio_limiter_watch() before
 * virtio_worker_attach(), naming the handler that serves its queue. On the
 * worker, before taking a request: virtio_limiter_can(bytes); false means
 * the buckets are short, the timer is armed for when they will not be, and
 * the device keeps the request (leaves it in the ring, or holds it) and
 * stops taking more with notifications off: no busy loop, nothing dropped.
 * When the timer fires the handler runs again and retries. After a request
 * is taken, virtio_limiter_spend(bytes) (one op and `bytes` bandwidth
 * tokens). virtio_limiter_update() runs on the worker (virtio_worker_run);
 * the device then re-runs its handler so a lifted limit resumes at once.
 * virtio_limiter_close() after the worker is released.
 */
#ifndef MVM_VIRTIO_LIMITER_H
#define MVM_VIRTIO_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "util/tbucket.h"
#include "virtio/worker.h"

struct virtio_limiter {
	struct rlim rl;
	int tfd;                 /* timerfd (CLOCK_MONOTONIC); -1 before init */
	uint64_t throttled;      /* times a request had to wait (worker-owned) */
};

/* cfg NULL: no limit. 0 or -errno (logged). */
int virtio_limiter_init(struct virtio_limiter *l, const struct rlim_cfg *cfg);
int virtio_limiter_watch(struct virtio_limiter *l, struct virtio_worker *w,
			 virtio_worker_fn fn);
/* On the worker: may a request of `bytes` pass now? false: timer armed. */
bool virtio_limiter_can(struct virtio_limiter *l, uint64_t bytes);
void virtio_limiter_spend(struct virtio_limiter *l, uint64_t bytes);
void virtio_limiter_update(struct virtio_limiter *l, const struct rlim_update *u);
void virtio_limiter_close(struct virtio_limiter *l);

#endif
