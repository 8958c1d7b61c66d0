/* vsock.c - virtio-vsock: the rx, tx and event queues, the listener on
 * uds_path, the device kind. Connections live in vsock_conn.c. */
#include "virtio/vsock_priv.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"

/* ---- queues ---- */

static void vsock_signal(struct virtio_vsock *d, int qi)
{
	if (vq_needs_interrupt(virtio_mmio_vq(&d->w.t, qi)))
		virtio_mmio_signal_used(&d->w.t);
}

/* Fill rx buffers with whatever the connections owe the guest. */
void vsock_rx_kick(struct virtio_vsock *d)
{
	struct vq *q = virtio_mmio_vq(&d->w.t, VSOCK_RXQ);
	struct vsock_rx_pick pk;
	bool pushed = false;
	int served = 0;

	if (!d->active || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		if (served == VSOCK_BATCH) {
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, VSOCK_RXQ));
			break;
		}
		if (!vsock_rx_next(d, &pk))
			break;
		/* No buffer: kicks are back on and the driver's next one brings us here. */
		if (virtio_worker_pop(&d->w, VSOCK_RXQ, &d->chain) <= 0)
			break;
		if (d->chain.nr_out || d->chain.in_len < VSOCK_HDR_LEN) {
			log_debug_rl("virtio-vsock: rx buffer of %u bytes (%u readable); "
				     "returned unused", d->chain.in_len, d->chain.out_len);
			d->n_bad_pkts++;
			vq_push(q, d->chain.head, 0);
		} else {
			vq_push(q, d->chain.head, vsock_rx_emit(d, &pk, &d->chain));
		}
		pushed = true;
		served++;
	}
	if (pushed)
		vsock_signal(d, VSOCK_RXQ);
}

static void vsock_rx_serve(void *dev)
{
	vsock_rx_kick(dev);
}

/* One packet the guest sent. */
static void vsock_tx_one(struct virtio_vsock *d, const struct vq_chain *c)
{
	struct vsock_hdr h;
	const char *why;
	int bad;

	if (c->nr_in || c->out_len < VSOCK_HDR_LEN) {
		log_debug_rl("virtio-vsock: tx buffer of %u bytes (%u writable) dropped",
			     c->out_len, c->in_len);
		d->n_bad_pkts++;
		return;
	}
	vsock_chain_read(c, 0, &h, sizeof(h));
	bad = vsock_hdr_check(&h, d->cid, c->out_len - VSOCK_HDR_LEN, &why);
	if (bad) {
		log_debug_rl("virtio-vsock: guest packet (op %u, port %u -> %u) %s: %s",
			     h.op, h.src_port, h.dst_port,
			     bad == VSOCK_BAD_RST ? "reset" : "dropped", why);
		d->n_bad_pkts++;
		if (bad == VSOCK_BAD_RST)
			vsock_stray_rst(d, &h);
		return;
	}
	vsock_guest_pkt(d, &h, c, VSOCK_HDR_LEN);
}

static void vsock_tx_serve(void *dev)
{
	struct virtio_vsock *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, VSOCK_TXQ);
	bool pushed = false;
	int served = 0;

	if (!d->active || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		if (served == VSOCK_BATCH) {
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, VSOCK_TXQ));
			break;
		}
		if (virtio_worker_pop(&d->w, VSOCK_TXQ, &d->chain) <= 0)
			break;
		vsock_tx_one(d, &d->chain);
		vq_push(q, d->chain.head, 0);
		pushed = true;
		served++;
	}
	if (pushed)
		vsock_signal(d, VSOCK_TXQ);
	vsock_rx_kick(d);
}

/* The event queue carries one thing: TRANSPORT_RESET after a restore. */
static void vsock_ev_serve(void *dev)
{
	struct virtio_vsock *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, VSOCK_EVQ);
	uint32_t id = VSOCK_EVENT_TRANSPORT_RESET, len = 0;

	if (!d->active || !vq_enabled(q) || !d->event_reset_pending)
		return;
	if (virtio_worker_pop(&d->w, VSOCK_EVQ, &d->chain) <= 0)
		return;
	if (!d->chain.nr_out && d->chain.in_len >= sizeof(id))
		len = (uint32_t)vsock_chain_write(&d->chain, 0, &id, sizeof(id));
	vq_push(q, d->chain.head, len);
	if (len)
		d->event_reset_pending = false;
	vsock_signal(d, VSOCK_EVQ);
}

/* ---- the device ---- */

static void vsock_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *d = dev;

	memcpy(data, (const uint8_t *)&d->cid + off, len);
}

static int vsock_activate(void *dev)
{
	struct virtio_vsock *d = dev;

	d->active = true;
	vsock_tx_serve(d);   /* buffers posted before DRIVER_OK; runs rx too */
	vsock_ev_serve(d);
	return 0;
}

static void vsock_reset(void *dev)
{
	struct virtio_vsock *d = dev;

	d->active = false;
	d->event_reset_pending = false;
	vsock_conns_drop_all(d);
}

static const virtio_worker_fn vsock_kicks[] = { vsock_rx_serve, vsock_tx_serve, vsock_ev_serve };

static const struct virtio_dev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.features = 0,
	.nr_queues = 3,
	.queue_max = VSOCK_QUEUE_MAX,
	.config_size = sizeof(uint64_t),   /* guest_cid */
	.config_read = vsock_config_read,
	.config_write = NULL,
	.activate = vsock_activate,
	.reset = vsock_reset,
};

struct conn_count {
	struct virtio_vsock *d;
	int n;
};

static void count_conns(void *arg)
{
	struct conn_count *a = arg;

	a->n = a->d->nr_conns;
}

int virtio_vsock_nr_conns(struct virtio_vsock *d)
{
	struct conn_count a = { d, 0 };

	evloop_run_sync(&d->w.loop, count_conns, &a);
	return a.n;
}

int virtio_vsock_save(struct virtio_vsock *d, struct virtio_vsock_state *s)
{
	memset(s, 0, sizeof(*s));
	s->guest_cid = d->cid;
	return virtio_mmio_save(&d->w.t, &s->transport);
}

static void owe_reset_event(void *dev)
{
	struct virtio_vsock *d = dev;

	d->event_reset_pending = true;
}

int virtio_vsock_restore(struct virtio_vsock *d, const struct virtio_vsock_state *s)
{
	if (s->guest_cid != d->cid) {
		log_err("virtio-vsock: the saved state's guest_cid %llu is not the configured %llu",
			(unsigned long long)s->guest_cid, (unsigned long long)d->cid);
		return -EINVAL;
	}
	/* Set before the restore's activate, which sends it if it can. */
	virtio_worker_run(&d->w, owe_reset_event);
	return virtio_mmio_restore(&d->w.t, &s->transport);
}

/* A socket file left at uds_path by an mvm that died (a restore after a
 * kill): replaced when nothing answers on it; anything else is refused. */
static int vsock_take_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0 || errno != ECONNREFUSED)
		return -EADDRINUSE;   /* in use, or not ours to judge */
	log_debug("vsock uds_path %s: replacing a stale socket", path);
	return unlink(path) < 0 ? -errno : 0;
}

static int vsock_listen(struct virtio_vsock *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->uds_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("virtio-vsock: socket: %s", strerror(errno));
		return err_host(-errno);
	}
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0 && errno == EADDRINUSE && !vsock_take_stale(d->uds_path))
		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0) {
		int e = errno;

		close(fd);
		if (e == EADDRINUSE) {
			log_err("vsock uds_path %s: already exists (and is not a stale socket); "
				"remove it or pick another path", d->uds_path);
			return err_usage(-e);
		}
		log_err("vsock uds_path %s: cannot bind: %s", d->uds_path, strerror(e));
		return err_usage(-e);
	}
	/* Remove at the end only what bind made, if it is still there. */
	if (!lstat(d->uds_path, &st)) {
		d->unlink_at_destroy = true;
		d->sock_dev = st.st_dev;
		d->sock_ino = st.st_ino;
	}
	if (listen(fd, 128) < 0) {
		log_err("vsock uds_path %s: listen: %s", d->uds_path, strerror(errno));
		close(fd);
		return err_host(-errno);
	}
	d->listen_fd = fd;
	return 0;
}

int virtio_vsock_create(struct virtio_vsock **out, const struct virtio_vsock_cfg *cfg,
			const struct gmem *mem)
{
	struct sockaddr_un sa;
	struct virtio_vsock *d;
	int rc;

	*out = NULL;
	if (cfg->guest_cid < VSOCK_MIN_CID || cfg->guest_cid >= UINT32_MAX) {
		log_err("vsock guest_cid %llu: must be from %d to %u",
			(unsigned long long)cfg->guest_cid, VSOCK_MIN_CID, UINT32_MAX - 1);
		return err_usage(-EINVAL);
	}
	/* Room for "<path>_4294967295", the guest's connections out. */
	if (!cfg->uds_path || !*cfg->uds_path ||
	    strlen(cfg->uds_path) + 11 >= sizeof(sa.sun_path)) {
		log_err("vsock uds_path '%s': must be 1 to %zu bytes (a Unix socket path, with "
			"room for _<port>)", cfg->uds_path ? cfg->uds_path : "",
			sizeof(sa.sun_path) - 12);
		return err_usage(-EINVAL);
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->uds_path = strdup(cfg->uds_path))) {
		free(d);
		log_err("virtio-vsock: out of memory");
		return err_host(-ENOMEM);
	}
	d->mem = mem;
	d->cid = cfg->guest_cid;
	d->handshake_ms = cfg->handshake_ms ? cfg->handshake_ms : VSOCK_HANDSHAKE_MS;
	d->listen_fd = -1;
	d->next_port = 1u << 30;
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->timer_fd < 0) {
		log_err("virtio-vsock: timerfd_create: %s", strerror(errno));
		free(d->uds_path);
		free(d);
		return err_host(-ENOMEM);
	}
	rc = vsock_listen(d);
	if (!rc)
		rc = virtio_worker_init(&d->w, "mvm-vsock", d->uds_path, d);
	if (!rc) {
		d->w.loop.sandbox = SANDBOX_VSOCK;
		rc = evloop_add(&d->w.loop, d->listen_fd, EPOLLIN, vsock_listener_ready, d);
	}
	if (!rc)
		rc = evloop_add(&d->w.loop, d->timer_fd, EPOLLIN, vsock_timer_tick, d);
	if (rc) {
		virtio_vsock_destroy(d);
		return rc;
	}
	*out = d;
	return 0;
}

int virtio_vsock_attach(struct virtio_vsock *d, const struct virtio_env *env,
			uint64_t base, uint32_t gsi)
{
	return virtio_worker_attach(&d->w, env, base, gsi, &vsock_ops, vsock_kicks);
}

struct evloop *virtio_vsock_loop(struct virtio_vsock *d)
{
	return d ? &d->w.loop : NULL;
}

struct virtio_mmio *virtio_vsock_transport(struct virtio_vsock *d)
{
	return &d->w.t;
}

void virtio_vsock_destroy(struct virtio_vsock *d)
{
	if (!d)
		return;
	virtio_worker_quiesce(&d->w);   /* the detach's reset drops every connection */
	vsock_conns_drop_all(d);
	virtio_worker_release(&d->w);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->unlink_at_destroy) {
		struct stat st;

		if (!lstat(d->uds_path, &st) && st.st_dev == d->sock_dev && st.st_ino == d->sock_ino)
			unlink(d->uds_path);
	}
	free(d->uds_path);
	free(d);
}

/* ---- the device kind (core/device.h) ---- */

static int vsock_kind_count(const struct vm_config *cfg)
{
	return cfg->vsock_uds ? 1 : 0;
}

static int vsock_kind_create(void **dev, const struct vm_config *cfg, int index,
			     const struct device_env *env)
{
	struct virtio_vsock_cfg vc = { .guest_cid = cfg->vsock_cid, .uds_path = cfg->vsock_uds };

	return virtio_vsock_create((struct virtio_vsock **)dev, &vc, env->mem);
}

static int vsock_kind_attach(void *dev, const struct device_env *env, uint64_t base,
			     uint32_t gsi)
{
	struct virtio_env venv = virtio_env_of(env);

	return virtio_vsock_attach(dev, &venv, base, gsi);
}

static int vsock_kind_quiesce(void *dev, int timeout_ms)
{
	return evloop_pause_timed(virtio_vsock_loop(dev), timeout_ms);
}

static void vsock_kind_resume(void *dev)
{
	evloop_resume(virtio_vsock_loop(dev));
}

static void stats_on_worker(void *arg)
{
	void **a = arg;
	struct virtio_vsock *d = a[0];
	struct json_object *o = a[1];

	json_object_object_add(o, "connections", json_object_new_int(d->nr_conns));
	json_object_object_add(o, "bad_packets", json_object_new_int64((int64_t)d->n_bad_pkts));
	json_object_object_add(o, "refused", json_object_new_int64((int64_t)d->n_refused));
	json_object_object_add(o, "bad_connect_lines",
			       json_object_new_int64((int64_t)d->n_garbage));
	json_object_object_add(o, "rst_dropped", json_object_new_int64((int64_t)d->n_rst_dropped));
}

static void vsock_kind_stats(void *dev, struct json_object *out)
{
	struct virtio_vsock *d = dev;
	void *a[2] = { d, out };

	evloop_run_sync(&d->w.loop, stats_on_worker, a);
}

static int vsock_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct virtio_vsock_state) ? virtio_vsock_save(dev, state) : -EINVAL;
}

static int vsock_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct virtio_vsock_state) ? virtio_vsock_restore(dev, state)
							 : -EINVAL;
}

static void vsock_kind_destroy(void *dev)
{
	virtio_vsock_destroy(dev);
}

const struct device_kind virtio_vsock_kind = {
	.name = "virtio-vsock",
	.short_name = "vsock",
	.virtio_id = VIRTIO_ID_VSOCK,
	.count = vsock_kind_count,
	.create = vsock_kind_create,
	.attach = vsock_kind_attach,
	.quiesce = vsock_kind_quiesce,
	.resume = vsock_kind_resume,
	.stats = vsock_kind_stats,
	.state_size = sizeof(struct virtio_vsock_state),
	.state_version = VIRTIO_VSOCK_STATE_VERSION,
	.save = vsock_kind_save,
	.restore = vsock_kind_restore,
	.destroy = vsock_kind_destroy,
};
