/* net.c - virtio-net: rx/tx queues between the guest and a net backend. */
#include "virtio/net.h"
#include "virtio/net_priv.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"
#include "virtio/worker.h"

static const struct net_vnet_hdr zero_hdr;

/* ---- helpers over a chain's writable part ---- */

/* Copy [src, src+len) to the writable bytes of c starting at off. Returns
 * the bytes copied (less when the chain ends). */
static size_t chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len)
{
	const uint8_t *s = src;
	size_t done = 0;

	for (int i = c->nr_out; i < c->nr_out + c->nr_in && done < len; i++) {
		size_t l = c->iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t n = l - off < len - done ? l - off : len - done;
		memcpy((uint8_t *)c->iov[i].iov_base + off, s + done, n);
		done += n;
		off = 0;
	}
	return done;
}

/* Give back the last n chains vq_pop() returned, unused: the driver never
 * sees a difference (queue.h: last_avail is the next entry to take). Used
 * when a frame does not fit the buffers available yet. */
static void rx_unpop(struct vq *q, uint16_t n)
{
	q->last_avail = (uint16_t)(q->last_avail - n);
}

static void net_signal(struct virtio_net *d, struct vq *q)
{
	if (vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
}

/* ---- rx: backend -> guest ---- */

/* Put one frame (hdr + data) into rx chains. 0: delivered; 1: dropped
 * (does not fit the guest's buffers at all); -ENOSPC: not enough buffers
 * now, nothing consumed; -EIO: the driver broke the queue. */
static int net_rx_put(struct virtio_net *d, const struct net_vnet_hdr *in_hdr,
		      const uint8_t *data, size_t len)
{
	struct vq *q = virtio_mmio_vq(&d->w.t, VIRTIO_NET_RXQ);
	struct net_vnet_hdr hdr = *in_hdr;
	size_t total = NET_VNET_HDR_LEN + len, copied = 0;
	uint16_t n = 0, nb;
	int r;

	if (!d->active || !vq_enabled(q))
		return -ENOSPC;
	if (!d->guest_csum) {
		/* Spec 5.1.6.4.1: flags zero unless GUEST_CSUM was negotiated. */
		hdr.flags = 0;
		hdr.gso_type = NET_HDR_GSO_NONE;
		hdr.gso_size = hdr.hdr_len = hdr.csum_start = hdr.csum_offset = 0;
	}
	while (copied < total) {
		struct vq_chain *c = n == 0 ? &d->rx_first : &d->rx_more;
		size_t off = 0, w;

		if (n == q->size) {
			/* Every buffer the ring can hold is too little. */
			rx_unpop(q, n);
			return 1;
		}
		r = vq_pop(q, c);
		if (r < 0) {
			virtio_mmio_needs_reset(&d->w.t);
			return -EIO;
		}
		if (r == 0) {
			rx_unpop(q, n);
			return -ENOSPC;
		}
		if (c->in_len == 0 || (n == 0 && c->in_len < NET_VNET_HDR_LEN)) {
			log_debug_rl("virtio-net: rx buffer of %u bytes cannot hold the header", c->in_len);
			virtio_mmio_needs_reset(&d->w.t);
			return -EIO;
		}
		if (copied < NET_VNET_HDR_LEN) {
			w = chain_write(c, 0, (const uint8_t *)&hdr + copied, NET_VNET_HDR_LEN - copied);
			copied += w;
			off = w;
		}
		if (copied >= NET_VNET_HDR_LEN) {
			w = chain_write(c, off, data + (copied - NET_VNET_HDR_LEN), total - copied);
			copied += w;
			off += w;
		}
		d->rx_used[n].head = c->head;
		d->rx_used[n].len = (uint32_t)off;
		n++;
		if (!d->mrg_rxbuf && copied < total) {
			rx_unpop(q, n);
			return 1;
		}
	}
	nb = n;
	chain_write(&d->rx_first, offsetof(struct net_vnet_hdr, num_buffers), &nb, sizeof(nb));
	for (uint16_t i = 0; i < n; i++)
		vq_push(q, d->rx_used[i].head, d->rx_used[i].len);
	d->stats.rx_frames++;
	d->stats.rx_bytes += len;
	return 0;
}

static void net_pending_free_all(struct virtio_net *d)
{
	while (d->p_count) {
		free(d->pending[d->p_head]);
		d->p_head = (d->p_head + 1) % VIRTIO_NET_PENDING_MAX;
		d->p_count--;
	}
	d->p_head = 0;
}

static void net_pending_add(struct virtio_net *d, const struct net_vnet_hdr *hdr,
			    const uint8_t *data, size_t len)
{
	struct net_pending *p;

	if (d->p_count == VIRTIO_NET_PENDING_MAX ||
	    !(p = malloc(sizeof(*p) + NET_VNET_HDR_LEN + len))) {
		d->stats.rx_dropped++;
		return;
	}
	p->len = NET_VNET_HDR_LEN + len;
	memcpy(p->data, hdr, NET_VNET_HDR_LEN);
	memcpy(p->data + NET_VNET_HDR_LEN, data, len);
	d->pending[(d->p_head + d->p_count) % VIRTIO_NET_PENDING_MAX] = p;
	if (d->p_count++ == 0)
		net_backend_set_rx_paused(d->be, true);
}

/* Out of buffers: ask for rx kicks. Always re-armed, because with
 * EVENT_IDX the kick point is "past the last entry we took", which moves.
 * true when the caller should retry once (buffers may have arrived while
 * kicks were off). */
static bool net_rx_starved(struct virtio_net *d)
{
	struct vq *q = virtio_mmio_vq(&d->w.t, VIRTIO_NET_RXQ);

	if (!d->active || !vq_enabled(q))
		return false;
	d->rx_notify = true;
	vq_set_notify(q, true);
	return vq_has_avail(q);
}

/* Deliver queued frames in order while buffers last. */
static void net_rx_flush(struct virtio_net *d)
{
	struct vq *q = virtio_mmio_vq(&d->w.t, VIRTIO_NET_RXQ);
	bool pushed = false, retried = false;

	while (d->p_count) {
		struct net_pending *p = d->pending[d->p_head];
		int r;

		if (!virtio_limiter_can(&d->rx_lim, p->len - NET_VNET_HDR_LEN))
			break;   /* its timer brings us back */
		r = net_rx_put(d, (const struct net_vnet_hdr *)p->data,
			       p->data + NET_VNET_HDR_LEN, p->len - NET_VNET_HDR_LEN);
		if (r == 0)
			virtio_limiter_spend(&d->rx_lim, p->len - NET_VNET_HDR_LEN);
		if (r == -ENOSPC) {
			if (!retried && net_rx_starved(d)) {
				retried = true;
				continue;
			}
			break;
		}
		retried = false;
		if (r < 0)
			break;
		if (r == 1)
			d->stats.rx_dropped++;
		else
			pushed = true;
		free(p);
		d->p_head = (d->p_head + 1) % VIRTIO_NET_PENDING_MAX;
		d->p_count--;
	}
	if (pushed)
		net_signal(d, q);
	if (d->p_count == 0 && d->active) {
		if (d->rx_notify) {
			/* Plenty again: the next shortage turns kicks back on. */
			d->rx_notify = false;
			vq_set_notify(q, false);
		}
		net_backend_set_rx_paused(d->be, false);
	}
}

static void net_on_rx(void *opaque, const uint8_t *frame, size_t len)
{
	struct virtio_net *d = opaque;
	const struct net_vnet_hdr *hdr = &zero_hdr;
	int r;

	if (d->be->vnet_hdr) {
		if (len < NET_VNET_HDR_LEN) {
			d->stats.rx_dropped++;
			return;
		}
		hdr = (const struct net_vnet_hdr *)frame;
		frame += NET_VNET_HDR_LEN;
		len -= NET_VNET_HDR_LEN;
	}
	if (len < NET_FRAME_MIN || len > NET_FRAME_MAX) {
		d->stats.rx_dropped++;
		return;
	}
	if (d->p_count || !virtio_limiter_can(&d->rx_lim, len)) {
		net_pending_add(d, hdr, frame, len);
		return;
	}
	r = net_rx_put(d, hdr, frame, len);
	if (r == -ENOSPC && net_rx_starved(d))
		r = net_rx_put(d, hdr, frame, len);
	if (r == 0) {
		virtio_limiter_spend(&d->rx_lim, len);
		net_signal(d, virtio_mmio_vq(&d->w.t, VIRTIO_NET_RXQ));
	}
	else if (r == 1)
		d->stats.rx_dropped++;
	else if (r == -ENOSPC)
		net_pending_add(d, hdr, frame, len);
	else
		d->stats.rx_dropped++;
}

static void net_rx_kick(void *dev)
{
	struct virtio_net *d = dev;

	if (d->active)
		net_rx_flush(d);
}

/* ---- tx: guest -> backend ---- */

/* Send d->tx_chain. 0: done (push it); -EAGAIN: keep it for later. */
static int net_tx_one(struct virtio_net *d)
{
	struct vq_chain *c = &d->tx_chain;
	struct net_vnet_hdr hdr;
	struct iovec *iov = c->iov;
	int cnt = c->nr_out, r;
	size_t got = 0;

	if (c->nr_in || c->out_len < NET_VNET_HDR_LEN + NET_FRAME_MIN ||
	    c->out_len > NET_VNET_HDR_LEN + NET_FRAME_MAX) {
		d->stats.tx_dropped++;
		return 0;
	}
	for (int i = 0; i < cnt && got < sizeof(hdr); i++) {
		size_t n = c->iov[i].iov_len < sizeof(hdr) - got ? c->iov[i].iov_len : sizeof(hdr) - got;
		memcpy((uint8_t *)&hdr + got, c->iov[i].iov_base, n);
		got += n;
	}
	if (!d->be->vnet_hdr) {
		size_t skip = NET_VNET_HDR_LEN;
		/* No offload was offered: a frame asking for one is the guest's bug. */
		if (hdr.flags & NET_HDR_F_NEEDS_CSUM || hdr.gso_type != NET_HDR_GSO_NONE) {
			d->stats.tx_dropped++;
			return 0;
		}
		cnt = 0;
		for (int i = 0; i < c->nr_out; i++) {
			size_t l = c->iov[i].iov_len;
			if (skip >= l) {
				skip -= l;
				continue;
			}
			d->tx_iov[cnt].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
			d->tx_iov[cnt].iov_len = l - skip;
			skip = 0;
			cnt++;
		}
		iov = d->tx_iov;
	}
	r = net_backend_send(d->be, iov, cnt);
	if (r == -EAGAIN)
		return -EAGAIN;
	if (r < 0) {
		d->stats.tx_dropped++;
		return 0;
	}
	d->stats.tx_frames++;
	d->stats.tx_bytes += c->out_len - NET_VNET_HDR_LEN;
	return 0;
}

/* The tx kick, and the backend's "writable again". */
static void net_tx_run(void *dev)
{
	struct virtio_net *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, VIRTIO_NET_TXQ);
	int budget = NET_TX_BUDGET;
	bool pushed = false;

	if (!d->active || !vq_enabled(q))
		return;
	vq_set_notify(q, false);
	for (;;) {
		uint64_t bytes;

		if (!d->tx_held && virtio_worker_pop(&d->w, VIRTIO_NET_TXQ, &d->tx_chain) <= 0)
			break;
		bytes = d->tx_chain.out_len > NET_VNET_HDR_LEN ? d->tx_chain.out_len - NET_VNET_HDR_LEN
							       : 0;
		if (!virtio_limiter_can(&d->tx_lim, bytes)) {
			/* Held; the limiter's timer runs us again, kicks stay off. */
			d->tx_held = true;
			break;
		}
		if (net_tx_one(d) == -EAGAIN) {
			/* The backend calls net_on_writable(); kicks stay off. */
			d->tx_held = true;
			break;
		}
		virtio_limiter_spend(&d->tx_lim, bytes);
		d->tx_held = false;
		vq_push(q, d->tx_chain.head, 0);
		pushed = true;
		if (--budget == 0) {
			/* Let rx run; come back through our own kick. */
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, VIRTIO_NET_TXQ));
			break;
		}
	}
	if (pushed)
		net_signal(d, q);
}

/* ---- transport callbacks (activate and reset run on the worker: worker.h) ---- */

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *d = dev;

	memcpy(data, (const uint8_t *)&d->config + off, len);
}

static int net_activate(void *dev)
{
	struct virtio_net *d = dev;
	unsigned off = 0;
	int r;

	d->mrg_rxbuf = virtio_mmio_has_feature(&d->w.t, VIRTIO_NET_F_MRG_RXBUF);
	d->guest_csum = d->be->vnet_hdr && virtio_mmio_has_feature(&d->w.t, VIRTIO_NET_F_GUEST_CSUM);
	if (d->guest_csum) {
		off |= NET_OFFLOAD_CSUM;
		if (virtio_mmio_has_feature(&d->w.t, VIRTIO_NET_F_GUEST_TSO4))
			off |= NET_OFFLOAD_TSO4;
		if (virtio_mmio_has_feature(&d->w.t, VIRTIO_NET_F_GUEST_TSO6))
			off |= NET_OFFLOAD_TSO6;
		if (virtio_mmio_has_feature(&d->w.t, VIRTIO_NET_F_GUEST_ECN))
			off |= NET_OFFLOAD_ECN;
	}
	r = net_backend_set_offload(d->be, off);
	if (r)
		return r;
	d->active = true;
	d->rx_notify = true;
	if (vq_enabled(virtio_mmio_vq(&d->w.t, VIRTIO_NET_RXQ)))
		vq_set_notify(virtio_mmio_vq(&d->w.t, VIRTIO_NET_RXQ), true);
	d->tx_held = false;
	net_rx_flush(d);
	net_tx_run(d);
	return 0;
}

static void net_reset(void *dev)
{
	struct virtio_net *d = dev;

	d->active = false;
	d->tx_held = false;
	net_pending_free_all(d);
	if (d->be_started) {
		net_backend_set_rx_paused(d->be, true);
		net_backend_set_offload(d->be, 0);
	}
}

static const virtio_worker_fn net_kicks[] = {
	[VIRTIO_NET_RXQ] = net_rx_kick,
	[VIRTIO_NET_TXQ] = net_tx_run,
};

/* ---- lifecycle ---- */

int virtio_net_parse(const char *arg, struct virtio_net_cfg *cfg)
{
	return net_cfg_parse(arg, &cfg->net);
}

int virtio_net_create_with(struct virtio_net **out, struct net_backend *be,
			   const uint8_t mac[6], const struct gmem *mem)
{
	struct virtio_net *d;
	uint64_t f;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		net_backend_close(be);
		return err_host(-ENOMEM);
	}
	d->be = be;
	d->mem = mem;
	if (virtio_limiter_init(&d->rx_lim, NULL) || virtio_limiter_init(&d->tx_lim, NULL)) {
		virtio_limiter_close(&d->rx_lim);
		net_backend_close(be);
		free(d);
		return err_host(-ENOMEM);
	}
	memcpy(d->config.mac, mac, 6);
	d->config.status = VIRTIO_NET_S_LINK_UP;
	d->config.max_virtqueue_pairs = 1;

	f = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
	    VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (be->vnet_hdr) {
		f |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
		if (be->offload_caps & NET_OFFLOAD_TSO4)
			f |= VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4);
		if (be->offload_caps & NET_OFFLOAD_TSO6)
			f |= VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);
		if (be->offload_caps & NET_OFFLOAD_ECN &&
		    be->offload_caps & (NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6))
			f |= VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN);
	}
	d->ops = (struct virtio_dev_ops){
		.name = "virtio-net",
		.device_id = VIRTIO_ID_NET,
		.features = f,
		.nr_queues = 2,
		.queue_max = VIRTIO_NET_QUEUE_MAX,
		.config_size = sizeof(struct virtio_net_config),
		.config_read = net_config_read,
		.config_write = NULL,
		.activate = net_activate,
		.reset = net_reset,
	};
	*out = d;
	return 0;
}

int virtio_net_create(struct virtio_net **out, const struct virtio_net_cfg *cfg,
		      const struct gmem *mem)
{
	struct net_backend *be;
	int r;

	*out = NULL;
	r = net_backend_open(&be, &cfg->net);
	if (r)
		return r;
	return virtio_net_create_with(out, be, cfg->net.mac, mem);
}

int virtio_net_attach(struct virtio_net *d, const struct virtio_env *env,
		      uint64_t base, uint32_t gsi)
{
	int r;

	r = virtio_worker_init(&d->w, "mvm-net", d->be->name, d);
	if (r < 0) {
		log_err("virtio-net %s: cannot create its worker: %s", d->be->name, strerror(-r));
		return r;
	}
	/* The loop is not running yet: start() registers directly. */
	r = net_backend_start(d->be, &d->w.loop, net_on_rx, net_tx_run, d);
	if (r < 0) {
		log_err("virtio-net %s: cannot start its worker: %s", d->be->name, strerror(-r));
		return r;
	}
	d->be_started = true;
	net_backend_set_rx_paused(d->be, true);   /* until DRIVER_OK */
	if ((r = virtio_limiter_watch(&d->rx_lim, &d->w, net_rx_kick)) ||
	    (r = virtio_limiter_watch(&d->tx_lim, &d->w, net_tx_run)))
		return r;
	return virtio_worker_attach(&d->w, env, base, gsi, &d->ops, net_kicks);
}

struct evloop *virtio_net_loop(struct virtio_net *d)
{
	return d ? &d->w.loop : NULL;
}

void virtio_net_destroy(struct virtio_net *d)
{
	if (!d)
		return;
	/* Worker stopped and transport detached (its reset ran here): no
	 * backend callback runs while the backend stops. */
	virtio_worker_quiesce(&d->w);
	d->active = false;
	if (d->be_started)
		net_backend_stop(d->be);
	net_pending_free_all(d);
	virtio_worker_release(&d->w);
	net_backend_close(d->be);
	virtio_limiter_close(&d->rx_lim);
	virtio_limiter_close(&d->tx_lim);
	free(d);
}

struct virtio_mmio *virtio_net_transport(struct virtio_net *d)
{
	return &d->w.t;
}

static void net_do_stats(void *arg)
{
	struct virtio_net *d = arg;

	d->stats_copy = d->stats;
}

void virtio_net_get_stats(struct virtio_net *d, struct virtio_net_stats *out)
{
	virtio_worker_run(&d->w, net_do_stats);
	*out = d->stats_copy;
}

static void net_do_set_limiters(void *dev)
{
	struct virtio_net *d = dev;

	virtio_limiter_update(&d->rx_lim, &d->rx_upd);
	virtio_limiter_update(&d->tx_lim, &d->tx_upd);
	/* A lifted limit: what waits goes at the loop's next turn (not now:
	 * on a paused VM the loop holds it until resume). */
	if (d->w.attached) {
		virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, VIRTIO_NET_RXQ));
		virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, VIRTIO_NET_TXQ));
	}
}

void virtio_net_set_rate_limiters(struct virtio_net *d, const struct rlim_update *rx,
				  const struct rlim_update *tx)
{
	static const struct rlim_update none;

	d->rx_upd = rx ? *rx : none;   /* read on the worker, after run_sync's hand-over */
	d->tx_upd = tx ? *tx : none;
	if (d->w.loop_ready)
		virtio_worker_run(&d->w, net_do_set_limiters);
	else
		net_do_set_limiters(d);   /* at create: no worker yet */
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int net_kind_count(const struct vm_config *cfg)
{
	return cfg->nr_nets;
}

static int net_kind_create(void **dev, const struct vm_config *cfg, int index,
			   const struct device_env *env)
{
	struct virtio_net_cfg nc;
	struct rlim_update rx = { true, true, cfg->net_rx_rl[index] };
	struct rlim_update tx = { true, true, cfg->net_tx_rl[index] };
	int ret = virtio_net_parse(cfg->nets[index], &nc);

	if (ret || (ret = virtio_net_create((struct virtio_net **)dev, &nc, env->mem)))
		return ret;
	/* Not attached yet: this runs here, on the creating thread. */
	virtio_net_set_rate_limiters(*dev, &rx, &tx);
	return 0;
}

static int net_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct virtio_env venv = virtio_env_of(env);

	return virtio_net_attach(dev, &venv, base, gsi);
}

/* On the held worker: one non-blocking attempt to finish what the device
 * holds, before quiesce returns (net.h). */
static void net_quiesce_flush(void *dev)
{
	struct virtio_net *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, VIRTIO_NET_TXQ);
	uint64_t bytes = d->tx_chain.out_len > NET_VNET_HDR_LEN
			 ? d->tx_chain.out_len - NET_VNET_HDR_LEN : 0;

	if (!d->active)
		return;
	if (d->tx_held && vq_enabled(q) && virtio_limiter_can(&d->tx_lim, bytes) &&
	    net_tx_one(d) == 0) {
		virtio_limiter_spend(&d->tx_lim, bytes);
		d->tx_held = false;
		vq_push(q, d->tx_chain.head, 0);
		net_signal(d, q);
		/* Kicks were off while it was held: the chains behind it wait
		 * for this poke, served on resume. */
		virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, VIRTIO_NET_TXQ));
	}
	if (d->p_count)
		net_rx_flush(d);
}

static int net_kind_quiesce(void *dev, int timeout_ms)
{
	struct virtio_net *d = dev;
	int ret = evloop_pause_timed(virtio_net_loop(d), timeout_ms);

	if (!ret && d->w.attached)
		virtio_worker_run(&d->w, net_quiesce_flush);
	return ret;
}

static void net_kind_resume(void *dev)
{
	evloop_resume(virtio_net_loop(dev));
}

static void net_kind_stats(void *dev, struct json_object *out)
{
	struct virtio_net_stats st;

	virtio_net_get_stats(dev, &st);

	const struct { const char *key; uint64_t v; } counters[] = {
		{ "tx_frames", st.tx_frames }, { "tx_bytes", st.tx_bytes },
		{ "tx_dropped", st.tx_dropped }, { "rx_frames", st.rx_frames },
		{ "rx_bytes", st.rx_bytes }, { "rx_dropped", st.rx_dropped },
	};

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		json_object_object_add(out, counters[i].key, json_object_new_uint64(counters[i].v));
}

static int net_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct virtio_net_state) ? virtio_net_save(dev, state) : -EINVAL;
}

static int net_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct virtio_net_state) ? virtio_net_restore(dev, state) : -EINVAL;
}

static void net_kind_destroy(void *dev)
{
	virtio_net_destroy(dev);
}

const struct device_kind virtio_net_kind = {
	.name = "virtio-net",
	.short_name = "net",
	.virtio_id = VIRTIO_ID_NET,
	.count = net_kind_count,
	.create = net_kind_create,
	.attach = net_kind_attach,
	.quiesce = net_kind_quiesce,
	.resume = net_kind_resume,
	.stats = net_kind_stats,
	.state_size = sizeof(struct virtio_net_state),
	.state_version = VIRTIO_NET_STATE_VERSION,
	.save = net_kind_save,
	.restore = net_kind_restore,
	.destroy = net_kind_destroy,
};
