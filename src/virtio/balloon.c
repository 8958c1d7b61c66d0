/* balloon.c - virtio-balloon: inflated pages back to the host, the target
 * from the API, the guest's statistics on a timer. */
#include "virtio/balloon.h"
#include "virtio/balloon_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <json-c/json.h>

#include "util/err.h"
#include "util/log.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"

static void cnt_add(uint64_t *c, uint64_t n)
{
	if (n)
		__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* ---- inflate and deflate ---- */

/* One chain's PFNs: checked, then (inflate) given back run by run. */
static void balloon_pages(struct virtio_balloon *d, const struct vq_chain *c, bool inflate)
{
	struct balloon_chain_result r;

	balloon_chain_pages(d->mem, c, inflate, d->pfn_buf, d->runs, &r);
	cnt_add(&d->cnt.ignored_pfns, r.ignored);
	cnt_add(&d->cnt.bad_pfns, r.bad);
	cnt_add(&d->cnt.discard_errors, r.discard_errors);
	cnt_add(inflate ? &d->cnt.inflated_pages : &d->cnt.deflated_pages, r.pages);
	if (r.bad)
		log_debug_rl("virtio-balloon: %u page frame numbers outside guest RAM ignored", r.bad);
}

static void balloon_serve_pages(struct virtio_balloon *d, int qi)
{
	struct vq *q = virtio_mmio_vq(&d->w.t, qi);
	bool pushed = false;
	int served = 0;

	if (!d->active || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		if (served == VIRTIO_BALLOON_BATCH) {
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, qi));
			break;
		}
		if (virtio_worker_pop(&d->w, qi, &d->chain) <= 0)
			break;
		balloon_pages(d, &d->chain, qi == VIRTIO_BALLOON_INFLATEQ);
		vq_push(q, d->chain.head, 0);
		pushed = true;
		served++;
	}
	if (pushed && vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
}

static void balloon_inflate(void *dev)
{
	balloon_serve_pages(dev, VIRTIO_BALLOON_INFLATEQ);
}

static void balloon_deflate(void *dev)
{
	balloon_serve_pages(dev, VIRTIO_BALLOON_DEFLATEQ);
}

/* ---- free page reporting ---- */

static void balloon_report(void *dev)
{
	struct virtio_balloon *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, d->report_q);
	bool pushed = false;
	int served = 0;

	if (!d->active || !d->report_on || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		uint64_t pages;
		uint32_t errors;

		if (served == VIRTIO_BALLOON_BATCH) {
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, d->report_q));
			break;
		}
		if (virtio_worker_pop(&d->w, d->report_q, &d->chain) <= 0)
			break;
		balloon_chain_report(d->mem, &d->chain, &pages, &errors);
		cnt_add(&d->cnt.reported_pages, pages);
		cnt_add(&d->cnt.discard_errors, errors);
		vq_push(q, d->chain.head, 0);
		pushed = true;
		served++;
	}
	if (pushed && vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
}

/* ---- statistics ---- */

/* Give the held buffer back: the driver refills and reposts it. */
static void balloon_stats_return(struct virtio_balloon *d)
{
	struct vq *q = virtio_mmio_vq(&d->w.t, VIRTIO_BALLOON_STATSQ);

	if (!d->active || !d->stats_held || !vq_enabled(q))
		return;
	d->stats_held = false;
	vq_push(q, d->stats_head, 0);
	if (vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
}

static void balloon_stats(void *dev)
{
	struct virtio_balloon *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, VIRTIO_BALLOON_STATSQ);
	struct balloon_stats s;
	int served = 0;

	if (!d->active || !d->stats_on || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		uint32_t past;

		if (served == VIRTIO_BALLOON_BATCH) {
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, VIRTIO_BALLOON_STATSQ));
			break;
		}
		if (virtio_worker_pop(&d->w, VIRTIO_BALLOON_STATSQ, &d->chain) <= 0)
			break;
		served++;
		/* One buffer in flight is the protocol; a second one returns
		 * the first, so a driver cannot make the device hold many. */
		balloon_stats_return(d);
		past = balloon_chain_stats(&d->chain, d->stats_buf, &s);
		if (s.unknown || s.partial || past)
			log_debug_rl("virtio-balloon: statistics with %u unknown tags, %u stray bytes, "
				     "%u bytes past %u ignored", s.unknown, s.partial, past,
				     VIRTIO_BALLOON_STATS_MAX_BYTES);
		pthread_mutex_lock(&d->lock);
		d->stats = s;
		d->stats_valid = true;
		pthread_mutex_unlock(&d->lock);
		cnt_add(&d->cnt.stats_reports, 1);
		d->stats_held = true;
		d->stats_head = d->chain.head;
	}
}

static void balloon_timer_arm(struct virtio_balloon *d, bool on)
{
	uint16_t s = __atomic_load_n(&d->interval_s, __ATOMIC_ACQUIRE);
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (on && s) {
		its.it_interval.tv_sec = s;
		its.it_value.tv_sec = s;
	}
	if (timerfd_settime(d->timer_fd, 0, &its, NULL) < 0)
		log_warn_rl("virtio-balloon: statistics timer: %s", strerror(errno));
}

static void balloon_tick(void *dev)
{
	balloon_stats_return(dev);
}

/* The interval changed (API): new period, and statistics now. */
static void balloon_ctl(void *dev)
{
	struct virtio_balloon *d = dev;

	if (!d->active)
		return;
	balloon_timer_arm(d, true);
	balloon_stats_return(d);
}

/* ---- transport hooks ---- */

static int balloon_activate(void *dev)
{
	struct virtio_balloon *d = dev;

	d->active = true;
	if (d->stats_on)
		balloon_timer_arm(d, true);
	/* Buffers posted before DRIVER_OK (Linux posts its statistics then). */
	balloon_inflate(d);
	balloon_deflate(d);
	balloon_stats(d);
	balloon_report(d);
	return 0;
}

static void balloon_reset(void *dev)
{
	struct virtio_balloon *d = dev;

	d->active = false;
	d->stats_held = false;   /* the queue goes with the reset */
	if (d->stats_on)
		balloon_timer_arm(d, false);
	__atomic_store_n(&d->actual, 0, __ATOMIC_RELEASE);
}

static void balloon_config_bytes(struct virtio_balloon *d, uint8_t cfg[BALLOON_CONFIG_SIZE])
{
	uint32_t v[2] = { __atomic_load_n(&d->num_pages, __ATOMIC_ACQUIRE),
			  __atomic_load_n(&d->actual, __ATOMIC_ACQUIRE) };

	memcpy(cfg, v, sizeof(v));   /* x86: little-endian as the spec wants */
}

static void balloon_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	uint8_t cfg[BALLOON_CONFIG_SIZE];

	balloon_config_bytes(dev, cfg);
	memcpy(data, cfg + off, len);
}

/* Only actual (bytes 4..7) is the driver's; num_pages is the host's. */
static void balloon_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_balloon *d = dev;
	uint8_t cfg[BALLOON_CONFIG_SIZE];
	uint32_t actual;

	balloon_config_bytes(d, cfg);
	for (uint32_t i = 0; i < len; i++)
		if (off + i >= 4)
			cfg[off + i] = data[i];
	memcpy(&actual, cfg + 4, 4);
	__atomic_store_n(&d->actual, actual, __ATOMIC_RELEASE);
}


/* ---- the API's side ---- */

int virtio_balloon_set_target(struct virtio_balloon *d, uint32_t amount_mib)
{
	if (amount_mib > d->max_mib)
		return -EINVAL;
	__atomic_store_n(&d->num_pages, amount_mib * VIRTIO_BALLOON_PAGES_PER_MIB,
			 __ATOMIC_RELEASE);
	/* A driver not up yet reads it when it starts. */
	if (__atomic_load_n(&d->w.t.regs.status, __ATOMIC_ACQUIRE) & VIRTIO_STATUS_DRIVER_OK)
		virtio_mmio_config_changed(&d->w.t);
	return 0;
}

int virtio_balloon_set_stats_interval(struct virtio_balloon *d, uint16_t seconds)
{
	if (!d->stats_on != !seconds)
		return -EPERM;
	if (!seconds)
		return 0;
	__atomic_store_n(&d->interval_s, seconds, __ATOMIC_RELEASE);
	virtio_worker_poke(&d->w, d->ctl_fd);
	return 0;
}

void virtio_balloon_info(struct virtio_balloon *d, struct virtio_balloon_info *out)
{
	memset(out, 0, sizeof(*out));
	out->target_pages = __atomic_load_n(&d->num_pages, __ATOMIC_ACQUIRE);
	out->actual_pages = __atomic_load_n(&d->actual, __ATOMIC_ACQUIRE);
	out->stats_polling_interval_s = __atomic_load_n(&d->interval_s, __ATOMIC_ACQUIRE);
	out->deflate_on_oom = d->deflate_on_oom;
	pthread_mutex_lock(&d->lock);
	out->stats_valid = d->stats_valid;
	out->stats = d->stats;
	pthread_mutex_unlock(&d->lock);
	out->inflated_pages = __atomic_load_n(&d->cnt.inflated_pages, __ATOMIC_RELAXED);
	out->deflated_pages = __atomic_load_n(&d->cnt.deflated_pages, __ATOMIC_RELAXED);
	out->bad_pfns = __atomic_load_n(&d->cnt.bad_pfns, __ATOMIC_RELAXED);
	out->ignored_pfns = __atomic_load_n(&d->cnt.ignored_pfns, __ATOMIC_RELAXED);
	out->discard_errors = __atomic_load_n(&d->cnt.discard_errors, __ATOMIC_RELAXED);
	out->stats_reports = __atomic_load_n(&d->cnt.stats_reports, __ATOMIC_RELAXED);
	out->reported_pages = __atomic_load_n(&d->cnt.reported_pages, __ATOMIC_RELAXED);
}

/* ---- lifecycle ---- */

int virtio_balloon_create(struct virtio_balloon **out, const struct virtio_balloon_cfg *cfg,
			  const struct gmem *mem)
{
	struct virtio_balloon *d;
	uint64_t mib = mem->ram_size >> 20;
	int rc;

	*out = NULL;
	if (cfg->amount_mib > mib) {
		log_err("balloon: amount_mib %u is more than the guest's memory (%llu MiB)",
			cfg->amount_mib, (unsigned long long)mib);
		return err_usage(-EINVAL);
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("virtio-balloon: out of memory");
		return err_host(-ENOMEM);
	}
	d->mem = mem;
	d->max_mib = (uint32_t)mib;
	d->deflate_on_oom = cfg->deflate_on_oom;
	d->stats_on = cfg->stats_polling_interval_s > 0;
	d->report_on = cfg->free_page_reporting;
	d->report_q = d->stats_on ? 3 : 2;
	d->kicks[VIRTIO_BALLOON_INFLATEQ] = balloon_inflate;
	d->kicks[VIRTIO_BALLOON_DEFLATEQ] = balloon_deflate;
	if (d->stats_on)
		d->kicks[VIRTIO_BALLOON_STATSQ] = balloon_stats;
	if (d->report_on)
		d->kicks[d->report_q] = balloon_report;
	d->interval_s = cfg->stats_polling_interval_s;
	d->num_pages = cfg->amount_mib * VIRTIO_BALLOON_PAGES_PER_MIB;
	d->timer_fd = d->ctl_fd = -1;
	d->ops = (struct virtio_dev_ops){
		.name = "virtio-balloon",
		.device_id = VIRTIO_ID_BALLOON,
		.features = (d->stats_on ? VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) : 0) |
			    (d->deflate_on_oom ? VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) : 0) |
			    (d->report_on ? VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING) : 0),
		.nr_queues = 2 + d->stats_on + d->report_on,
		.queue_max = VIRTIO_BALLOON_QUEUE_MAX,
		.config_size = BALLOON_CONFIG_SIZE,
		.config_read = balloon_config_read,
		.config_write = balloon_config_write,
		.activate = balloon_activate,
		.reset = balloon_reset,
	};
	if ((rc = pthread_mutex_init(&d->lock, NULL))) {
		free(d);
		return err_host(-rc);
	}
	d->lock_ready = true;
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->timer_fd < 0 || d->ctl_fd < 0) {
		rc = -errno;
		log_err("virtio-balloon: timerfd/eventfd: %s", strerror(-rc));
		virtio_balloon_destroy(d);
		return err_host(rc);
	}
	if ((rc = virtio_worker_init(&d->w, "mvm-balloon", NULL, d)) ||
	    (rc = virtio_worker_watch(&d->w, d->timer_fd, balloon_tick)) ||
	    (rc = virtio_worker_watch(&d->w, d->ctl_fd, balloon_ctl))) {
		virtio_balloon_destroy(d);
		return rc;
	}
	*out = d;
	return 0;
}

int virtio_balloon_attach(struct virtio_balloon *d, const struct virtio_env *env,
			  uint64_t base, uint32_t gsi)
{
	return virtio_worker_attach(&d->w, env, base, gsi, &d->ops, d->kicks);
}

struct evloop *virtio_balloon_loop(struct virtio_balloon *d)
{
	return d ? &d->w.loop : NULL;
}

struct virtio_mmio *virtio_balloon_transport(struct virtio_balloon *d)
{
	return &d->w.t;
}

void virtio_balloon_destroy(struct virtio_balloon *d)
{
	if (!d)
		return;
	virtio_worker_release(&d->w);   /* worker stopped before the detach's reset */
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->ctl_fd >= 0)
		close(d->ctl_fd);
	if (d->lock_ready)
		pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int balloon_kind_count(const struct vm_config *cfg)
{
	return cfg->balloon.enabled ? 1 : 0;
}

static int balloon_kind_create(void **dev, const struct vm_config *cfg, int index,
			       const struct device_env *env)
{
	struct virtio_balloon_cfg bc = {
		.amount_mib = cfg->balloon.amount_mib,
		.deflate_on_oom = cfg->balloon.deflate_on_oom,
		.stats_polling_interval_s = cfg->balloon.stats_polling_interval_s,
		.free_page_reporting = cfg->balloon.free_page_reporting,
	};

	return virtio_balloon_create((struct virtio_balloon **)dev, &bc, env->mem);
}

static int balloon_kind_attach(void *dev, const struct device_env *env, uint64_t base,
			       uint32_t gsi)
{
	struct virtio_env venv = virtio_env_of(env);

	return virtio_balloon_attach(dev, &venv, base, gsi);
}

static int balloon_kind_quiesce(void *dev, int timeout_ms)
{
	return evloop_pause_timed(virtio_balloon_loop(dev), timeout_ms);
}

static void balloon_kind_resume(void *dev)
{
	evloop_resume(virtio_balloon_loop(dev));
}

static void balloon_kind_stats(void *dev, struct json_object *out)
{
	struct virtio_balloon_info i;

	virtio_balloon_info(dev, &i);
	json_object_object_add(out, "target_pages", json_object_new_int64(i.target_pages));
	json_object_object_add(out, "actual_pages", json_object_new_int64(i.actual_pages));
	json_object_object_add(out, "inflated_pages", json_object_new_int64((int64_t)i.inflated_pages));
	json_object_object_add(out, "deflated_pages", json_object_new_int64((int64_t)i.deflated_pages));
	json_object_object_add(out, "bad_pfns", json_object_new_int64((int64_t)i.bad_pfns));
	json_object_object_add(out, "ignored_pfns", json_object_new_int64((int64_t)i.ignored_pfns));
	json_object_object_add(out, "discard_errors", json_object_new_int64((int64_t)i.discard_errors));
	json_object_object_add(out, "stats_reports", json_object_new_int64((int64_t)i.stats_reports));
	json_object_object_add(out, "reported_pages", json_object_new_int64((int64_t)i.reported_pages));
}

static int balloon_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct virtio_balloon_state) ? virtio_balloon_save(dev, state)
							   : -EINVAL;
}

static int balloon_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct virtio_balloon_state) ? virtio_balloon_restore(dev, state)
							   : -EINVAL;
}

static void balloon_kind_destroy(void *dev)
{
	virtio_balloon_destroy(dev);
}

const struct device_kind virtio_balloon_kind = {
	.name = "virtio-balloon",
	.short_name = "balloon",
	.virtio_id = VIRTIO_ID_BALLOON,
	.count = balloon_kind_count,
	.create = balloon_kind_create,
	.attach = balloon_kind_attach,
	.quiesce = balloon_kind_quiesce,
	.resume = balloon_kind_resume,
	.stats = balloon_kind_stats,
	.state_size = sizeof(struct virtio_balloon_state),
	.state_version = VIRTIO_BALLOON_STATE_VERSION,
	.save = balloon_kind_save,
	.restore = balloon_kind_restore,
	.destroy = balloon_kind_destroy,
};

