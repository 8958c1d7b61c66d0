/* rng.c - virtio-rng: fills the guest's request buffers from getrandom(). */
#include "virtio/rng.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/evloop.h"
#include "util/log.h"
#include "virtio/virtio.h"

struct virtio_rng {
	struct virtio_mmio t;
	struct evloop loop;
	const struct gmem *mem;
	bool loop_ready;         /* evloop_init() succeeded */
	bool attached;           /* virtio_mmio_attach() succeeded */
	/* Worker-owned. */
	bool active;             /* DRIVER_OK seen, no reset since */
	bool warned_readable;    /* the readable-chain rule was logged once */
	bool warned_getrandom;
	struct vq_chain chain;   /* scratch for vq_pop() (4 KiB: not on the stack) */
};

/* Fill the writable part of c; returns the bytes written. */
static uint32_t rng_fill(struct virtio_rng *d, const struct vq_chain *c)
{
	uint32_t total = 0;

	for (unsigned i = c->nr_out; i < (unsigned)c->nr_out + c->nr_in; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t want = c->iov[i].iov_len;

		if (want > VIRTIO_RNG_MAX_REQ - total)
			want = VIRTIO_RNG_MAX_REQ - total;
		while (want) {
			ssize_t n = getrandom(p, want, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (!d->warned_getrandom)
					log_warn("virtio-rng: getrandom failed: %s; the guest gets "
						 "short reads", strerror(errno));
				d->warned_getrandom = true;
				return total;
			}
			p += n;
			want -= (size_t)n;
			total += (uint32_t)n;
		}
		if (total == VIRTIO_RNG_MAX_REQ)
			break;
	}
	return total;
}

/* Serve up to VIRTIO_RNG_BATCH chains; if more wait, kick ourselves so the
 * loop comes back after anything else it has to do. */
static void rng_serve(struct virtio_rng *d)
{
	struct vq *q = virtio_mmio_vq(&d->t, 0);
	bool pushed = false;
	int served = 0;

	if (!d->active || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		uint32_t len = 0;
		int rc;

		if (served == VIRTIO_RNG_BATCH) {
			uint64_t one = 1;

			/* Notifications stay off: this write brings us back. */
			if (write(virtio_mmio_kick_fd(&d->t, 0), &one, sizeof(one)) < 0)
				log_debug("virtio-rng: self-kick: %s", strerror(errno));
			break;
		}
		rc = vq_pop(q, &d->chain);
		if (rc < 0) {
			virtio_mmio_needs_reset(&d->t);
			break;
		}
		if (rc == 0) {
			vq_set_notify(q, true);
			if (!vq_has_avail(q))
				break;
			vq_set_notify(q, false);
			continue;
		}
		if (d->chain.nr_out) {
			if (!d->warned_readable)
				log_debug("virtio-rng: request with device-readable buffers; "
					  "returned empty");
			d->warned_readable = true;
		} else {
			len = rng_fill(d, &d->chain);
		}
		vq_push(q, d->chain.head, len);
		pushed = true;
		served++;
	}
	if (pushed && vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->t);
}

static void rng_kick(void *opaque, uint32_t events)
{
	struct virtio_rng *d = opaque;
	uint64_t v;

	/* Epoll said readable and only this worker reads it: never blocks. */
	if (read(virtio_mmio_kick_fd(&d->t, 0), &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("virtio-rng: kick read: %s", strerror(errno));
	rng_serve(d);
}

static void rng_do_activate(void *arg)
{
	struct virtio_rng *d = arg;

	d->active = true;
	rng_serve(d);   /* buffers posted before DRIVER_OK */
}

static void rng_do_reset(void *arg)
{
	struct virtio_rng *d = arg;

	d->active = false;
}

static int rng_activate(void *dev)
{
	struct virtio_rng *d = dev;

	evloop_run_sync(&d->loop, rng_do_activate, d);
	return 0;
}

static void rng_reset(void *dev)
{
	struct virtio_rng *d = dev;

	evloop_run_sync(&d->loop, rng_do_reset, d);
}

static void rng_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);  /* no config space */
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.features = 0,
	.nr_queues = 1,
	.queue_max = VIRTIO_RNG_QUEUE_MAX,
	.config_size = 0,
	.config_read = rng_config_read,
	.config_write = NULL,
	.activate = rng_activate,
	.reset = rng_reset,
};

int virtio_rng_create(struct virtio_rng **out, const struct virtio_rng_cfg *cfg,
		      const struct gmem *mem)
{
	struct virtio_rng *d;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("virtio-rng: out of memory");
		return -ENOMEM;
	}
	d->mem = mem;
	rc = evloop_init(&d->loop, "mvm-rng");
	if (rc) {
		free(d);
		return rc;
	}
	d->loop_ready = true;
	*out = d;
	return 0;
}

int virtio_rng_attach(struct virtio_rng *d, const struct virtio_env *env,
		      uint64_t base, uint32_t gsi)
{
	int rc = virtio_mmio_attach(&d->t, env, base, gsi, &rng_ops, d);

	if (rc)
		return rc;
	d->attached = true;
	rc = evloop_add(&d->loop, virtio_mmio_kick_fd(&d->t, 0), EPOLLIN, rng_kick, d);
	if (!rc)
		rc = evloop_start(&d->loop);
	if (rc)
		log_err("virtio-rng: cannot start the worker: %s", strerror(-rc));
	return rc;
}

struct evloop *virtio_rng_loop(struct virtio_rng *d)
{
	return d ? &d->loop : NULL;
}

void virtio_rng_destroy(struct virtio_rng *d)
{
	if (!d)
		return;
	/* Worker first: afterwards the reset the detach performs runs here
	 * (evloop_run_sync() on a stopped loop) and nothing else touches d. */
	if (d->loop_ready)
		evloop_stop(&d->loop);
	if (d->attached)
		virtio_mmio_detach(&d->t);
	if (d->loop_ready)
		evloop_destroy(&d->loop);
	free(d);
}

struct virtio_mmio *virtio_rng_transport(struct virtio_rng *d)
{
	return &d->t;
}
