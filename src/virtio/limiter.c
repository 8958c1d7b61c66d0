/* limiter.c - token buckets plus a timerfd on a device's worker. */
#include "virtio/limiter.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"

int virtio_limiter_init(struct virtio_limiter *l, const struct rlim_cfg *cfg)
{
	static const struct rlim_cfg none;

	memset(l, 0, sizeof(*l));
	rlim_init(&l->rl, cfg ? cfg : &none, rlim_now_ns());
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->tfd < 0) {
		int e = errno;

		log_err("rate limiter: timerfd_create: %s", strerror(e));
		return err_host(-e);
	}
	return 0;
}

int virtio_limiter_watch(struct virtio_limiter *l, struct virtio_worker *w,
			 virtio_worker_fn fn)
{
	return virtio_worker_watch(w, l->tfd, fn);
}

static void limiter_arm(struct virtio_limiter *l, uint64_t ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull) },
	};

	if (timerfd_settime(l->tfd, 0, &its, NULL) < 0)
		log_warn_rl("rate limiter: timerfd_settime: %s", strerror(errno));
}

bool virtio_limiter_can(struct virtio_limiter *l, uint64_t bytes)
{
	uint64_t wait;

	if (!rlim_on(&l->rl))
		return true;
	wait = rlim_wait(&l->rl, bytes, rlim_now_ns());
	if (!wait)
		return true;
	l->throttled++;
	limiter_arm(l, wait);
	return false;
}

void virtio_limiter_spend(struct virtio_limiter *l, uint64_t bytes)
{
	if (rlim_on(&l->rl))
		rlim_take(&l->rl, bytes, rlim_now_ns());
}

void virtio_limiter_update(struct virtio_limiter *l, const struct rlim_update *u)
{
	rlim_update(&l->rl, u, rlim_now_ns());
}

void virtio_limiter_close(struct virtio_limiter *l)
{
	if (l->tfd > 0)
		close(l->tfd);
	l->tfd = -1;
}
