/* hcall_net.c - the net hypercalls' backend, loop thread and bounded receive queue. */
#include "hcall/hcall_net.h"
#include "mvm/abi.h"
#include "net/backend.h"
#include "util/evloop.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct hcall_net_frame {
	uint16_t len;
	uint8_t data[MVM_NET_MAX];
};

struct hcall_net {
	struct net_backend *be;
	uint8_t mac[6];
	struct evloop loop;
	bool loop_ready;           /* evloop_init done */
	bool started;              /* backend started on the loop */

	/* The queue: filled on the loop thread, emptied by vCPU threads. */
	pthread_mutex_t lock;
	struct hcall_net_frame q[HCALL_NET_QUEUE];
	unsigned head, count;

	atomic_ulong rx_frames, rx_dropped, tx_frames, tx_dropped;
};

int hcall_net_open(struct hcall_net **out, const char *arg)
{
	struct net_cfg cfg;
	struct hcall_net *n;
	int ret;

	*out = NULL;
	if ((ret = net_cfg_parse(arg, &cfg)))
		return ret;
	n = calloc(1, sizeof(*n));
	if (!n) {
		log_err("--net %s: out of memory for the hypercall receive queue", arg);
		return err_host(-ENOMEM);
	}
	if ((ret = net_backend_open(&n->be, &cfg))) {
		free(n);
		return ret;
	}
	memcpy(n->mac, cfg.mac, sizeof(n->mac));
	pthread_mutex_init(&n->lock, NULL);
	*out = n;
	return 0;
}

/* Loop thread: one frame from the backend. */
static void hcall_net_on_rx(void *opaque, const uint8_t *frame, size_t len)
{
	struct hcall_net *n = opaque;
	struct hcall_net_frame *slot;

	if (n->be->vnet_hdr) {
		struct net_vnet_hdr hdr;

		if (len < NET_VNET_HDR_LEN)
			goto drop;
		memcpy(&hdr, frame, sizeof(hdr));
		/* No offloads were offered, so a segmented frame is a backend surprise. */
		if (hdr.gso_type != NET_HDR_GSO_NONE)
			goto drop;
		frame += NET_VNET_HDR_LEN;
		len -= NET_VNET_HDR_LEN;
	}
	if (len < NET_FRAME_MIN || len > MVM_NET_MAX)
		goto drop;
	pthread_mutex_lock(&n->lock);
	if (n->count == HCALL_NET_QUEUE) {
		/* Drop the newest: the guest reads in order, and slirp cannot be paused. */
		pthread_mutex_unlock(&n->lock);
		goto drop;
	}
	slot = &n->q[(n->head + n->count) % HCALL_NET_QUEUE];
	slot->len = (uint16_t)len;
	memcpy(slot->data, frame, len);
	n->count++;
	pthread_mutex_unlock(&n->lock);
	atomic_fetch_add(&n->rx_frames, 1);
	return;
drop:
	atomic_fetch_add(&n->rx_dropped, 1);
}

/* The guest polls: nothing to wake when the host side drains. */
static void hcall_net_on_writable(void *opaque)
{
}

int hcall_net_start(struct hcall_net *n)
{
	int ret;

	if ((ret = evloop_init(&n->loop, "mvm-hcnet"))) {
		log_err("net hypercalls (%s): cannot make an event loop: %s", n->be->name,
			strerror(-ret));
		return ret;
	}
	n->loop_ready = true;
	ret = net_backend_start(n->be, &n->loop, hcall_net_on_rx, hcall_net_on_writable, n);
	if (!ret) {
		n->started = true;
		ret = evloop_start(&n->loop);
	}
	if (ret)
		log_err("net hypercalls (%s): cannot start the backend: %s", n->be->name,
			strerror(-ret));
	return ret;
}

void hcall_net_destroy(struct hcall_net *n)
{
	if (!n)
		return;
	/* Loop stopped first: afterwards no rx callback runs and stop is safe here. */
	if (n->loop_ready)
		evloop_stop(&n->loop);
	if (n->started)
		net_backend_stop(n->be);
	if (n->loop_ready)
		evloop_destroy(&n->loop);
	net_backend_close(n->be);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void hcall_net_mac(const struct hcall_net *n, uint8_t mac[6])
{
	memcpy(mac, n->mac, 6);
}

struct hcall_net_tx {
	struct hcall_net *n;
	struct iovec iov[2];
	int cnt;
	int ret;
};

static void hcall_net_do_send(void *arg)
{
	struct hcall_net_tx *t = arg;

	t->ret = net_backend_send(t->n->be, t->iov, t->cnt);
}

int hcall_net_write(struct hcall_net *n, const uint8_t *frame, size_t len)
{
	static const struct net_vnet_hdr zero_hdr; /* no offload: the frame is whole */
	uint8_t copy[MVM_NET_MAX];
	struct hcall_net_tx t = { .n = n };

	if (len < NET_FRAME_MIN || len > MVM_NET_MAX)
		return -EINVAL;
	/* A private copy: another vCPU may rewrite the guest buffer while the
	 * loop thread reads it. */
	memcpy(copy, frame, len);
	if (n->be->vnet_hdr)
		t.iov[t.cnt++] = (struct iovec){ (void *)&zero_hdr, NET_VNET_HDR_LEN };
	t.iov[t.cnt++] = (struct iovec){ copy, len };
	if (n->started)
		evloop_run_sync(&n->loop, hcall_net_do_send, &t);
	else
		t.ret = -EIO;
	if (t.ret == 0) {
		atomic_fetch_add(&n->tx_frames, 1);
		return 0;
	}
	if (t.ret == -EAGAIN)
		return -EAGAIN;
	atomic_fetch_add(&n->tx_dropped, 1);
	log_debug_rl("net hypercalls (%s): frame of %zu bytes not sent: %s", n->be->name, len,
		     strerror(-t.ret));
	return -EIO;
}

int hcall_net_read(struct hcall_net *n, uint8_t *buf, size_t cap)
{
	struct hcall_net_frame *f;
	int ret;

	pthread_mutex_lock(&n->lock);
	if (n->count == 0) {
		ret = -EAGAIN;
	} else {
		f = &n->q[n->head];
		if (f->len > cap) {
			ret = -EMSGSIZE;
		} else {
			memcpy(buf, f->data, f->len);
			ret = f->len;
			n->head = (n->head + 1) % HCALL_NET_QUEUE;
			n->count--;
		}
	}
	pthread_mutex_unlock(&n->lock);
	return ret;
}

void hcall_net_get_stats(struct hcall_net *n, struct hcall_net_stats *s)
{
	s->rx_frames = atomic_load(&n->rx_frames);
	s->rx_dropped = atomic_load(&n->rx_dropped);
	s->tx_frames = atomic_load(&n->tx_frames);
	s->tx_dropped = atomic_load(&n->tx_dropped);
}
