/* rng.c - virtio-rng: fills the guest's request buffers from getrandom(). */
#include "virtio/rng.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/err.h"
#include "util/log.h"
#include "virtio/limiter.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"

struct virtio_rng {
	struct virtio_worker w;  /* transport + worker */
	const struct gmem *mem;
	/* Worker-owned. */
	bool active;             /* DRIVER_OK seen, no reset since */
	bool warned_readable;    /* the readable-chain rule was logged once */
	bool warned_getrandom;
	struct vq_chain chain;   /* scratch for vq_pop() (4 KiB: not on the stack) */
	struct virtio_limiter lim;   /* entropy.rate_limiter: requests wait in the ring */
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
					log_warn_rl("virtio-rng: getrandom failed: %s; the guest gets "
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
static void rng_serve(void *dev)
{
	struct virtio_rng *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, 0);
	bool pushed = false;
	int served = 0;

	if (!d->active || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		uint32_t len = 0;

		if (served == VIRTIO_RNG_BATCH) {
			/* Notifications stay off: this write brings us back. */
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, 0));
			break;
		}
		if (virtio_worker_pop(&d->w, 0, &d->chain) <= 0)
			break;
		len = d->chain.in_len < VIRTIO_RNG_MAX_REQ ? d->chain.in_len : VIRTIO_RNG_MAX_REQ;
		if (!virtio_limiter_can(&d->lim, d->chain.nr_out ? 0 : len)) {
			q->last_avail--;   /* not taken; the limiter's timer brings us back */
			break;
		}
		len = 0;
		if (d->chain.nr_out) {
			if (!d->warned_readable)
				log_debug_rl("virtio-rng: request with device-readable buffers; "
					     "returned empty");
			d->warned_readable = true;
		} else {
			len = rng_fill(d, &d->chain);
		}
		virtio_limiter_spend(&d->lim, len);
		vq_push(q, d->chain.head, len);
		pushed = true;
		served++;
	}
	if (pushed && vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
}

/* On the worker (worker.h), as is reset. */
static int rng_activate(void *dev)
{
	struct virtio_rng *d = dev;

	d->active = true;
	rng_serve(d);   /* buffers posted before DRIVER_OK */
	return 0;
}

static void rng_reset(void *dev)
{
	struct virtio_rng *d = dev;

	d->active = false;
}

static const virtio_worker_fn rng_kicks[] = { rng_serve };

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.features = 0,
	.nr_queues = 1,
	.queue_max = VIRTIO_RNG_QUEUE_MAX,
	.config_size = 0,       /* no config space: the transport reads zeros */
	.config_read = NULL,
	.config_write = NULL,
	.activate = rng_activate,
	.reset = rng_reset,
};

int virtio_rng_save(struct virtio_rng *d, struct virtio_rng_state *s)
{
	memset(s, 0, sizeof(*s));
	return virtio_mmio_save(&d->w.t, &s->transport);
}

int virtio_rng_restore(struct virtio_rng *d, const struct virtio_rng_state *s)
{
	return virtio_mmio_restore(&d->w.t, &s->transport);
}

int virtio_rng_create(struct virtio_rng **out, const struct virtio_rng_cfg *cfg,
		      const struct gmem *mem)
{
	struct virtio_rng *d;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("virtio-rng: out of memory");
		return err_host(-ENOMEM);
	}
	d->mem = mem;
	rc = virtio_limiter_init(&d->lim, cfg ? cfg->rate_limiter : NULL);
	if (rc) {
		free(d);
		return rc;
	}
	rc = virtio_worker_init(&d->w, "mvm-rng", NULL, d);
	if (!rc)
		rc = virtio_limiter_watch(&d->lim, &d->w, rng_serve);
	if (rc) {
		virtio_worker_release(&d->w);
		virtio_limiter_close(&d->lim);
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int virtio_rng_attach(struct virtio_rng *d, const struct virtio_env *env,
		      uint64_t base, uint32_t gsi)
{
	return virtio_worker_attach(&d->w, env, base, gsi, &rng_ops, rng_kicks);
}

struct evloop *virtio_rng_loop(struct virtio_rng *d)
{
	return d ? &d->w.loop : NULL;
}

void virtio_rng_destroy(struct virtio_rng *d)
{
	if (!d)
		return;
	virtio_worker_release(&d->w);   /* worker stopped before the detach's reset */
	virtio_limiter_close(&d->lim);
	free(d);
}

struct virtio_mmio *virtio_rng_transport(struct virtio_rng *d)
{
	return &d->w.t;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int rng_kind_count(const struct vm_config *cfg)
{
	return cfg->rng ? 1 : 0;
}

static int rng_kind_create(void **dev, const struct vm_config *cfg, int index,
			   const struct device_env *env)
{
	struct virtio_rng_cfg rc = { .rate_limiter = &cfg->rng_rl };

	return virtio_rng_create((struct virtio_rng **)dev, &rc, env->mem);
}

static int rng_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct virtio_env venv = virtio_env_of(env);

	return virtio_rng_attach(dev, &venv, base, gsi);
}

static int rng_kind_quiesce(void *dev, int timeout_ms)
{
	return evloop_pause_timed(virtio_rng_loop(dev), timeout_ms);
}

static void rng_kind_resume(void *dev)
{
	evloop_resume(virtio_rng_loop(dev));
}

static int rng_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct virtio_rng_state) ? virtio_rng_save(dev, state) : -EINVAL;
}

static int rng_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct virtio_rng_state) ? virtio_rng_restore(dev, state) : -EINVAL;
}

static void rng_kind_destroy(void *dev)
{
	virtio_rng_destroy(dev);
}

const struct device_kind virtio_rng_kind = {
	.name = "virtio-rng",
	.short_name = "rng",
	.virtio_id = VIRTIO_ID_RNG,
	.count = rng_kind_count,
	.create = rng_kind_create,
	.attach = rng_kind_attach,
	.quiesce = rng_kind_quiesce,
	.resume = rng_kind_resume,
	.state_size = sizeof(struct virtio_rng_state),
	.state_version = VIRTIO_RNG_STATE_VERSION,
	.save = rng_kind_save,
	.restore = rng_kind_restore,
	.destroy = rng_kind_destroy,
};
