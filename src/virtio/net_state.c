/* net_state.c - virtio-net as plain data: the transport and the config
 * space; restore re-applies offloads through the transport's activate. */
#include "virtio/net.h"
#include "virtio/net_priv.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_net_state) == sizeof(struct virtio_mmio_state) + 16,
	       "virtio_net_state has hidden padding");

int virtio_net_save(struct virtio_net *d, struct virtio_net_state *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = virtio_mmio_save(&d->w.t, &s->transport);
	if (err)
		return err;
	/* A held tx chain was popped but not sent: record it as not taken,
	 * so the restored device pops and sends it. It is always the last
	 * chain taken from tx (nothing is popped while one is held). */
	if (d->tx_held)
		s->transport.vq[VIRTIO_NET_TXQ].last_avail--;
	/* Quiesce delivered what the guest had buffers for; the rest is not
	 * state (up to 256 frames of 64 KiB): a restored device has lost
	 * them, as a wire may. Said, so a missing frame has a cause. */
	if (d->p_count)
		log_info("virtio-net %s state: %u received frames wait for guest rx buffers; "
			 "the state does not hold them (a restored VM has lost them, as a "
			 "network may lose frames)", d->be->name, d->p_count);
	memcpy(&s->config, &d->config, sizeof(s->config));
	return 0;
}

int virtio_net_restore(struct virtio_net *d, const struct virtio_net_state *s)
{
	static const uint8_t zero[sizeof(s->pad)];
	const struct virtio_net_config *c = &s->config;

	if (memcmp(s->pad, zero, sizeof(zero))) {
		log_err("virtio-net state: pad is not zero; state refused");
		return -EINVAL;
	}
	if (c->mac[0] & 1) {
		log_err("virtio-net state: config.mac %02x:%02x:%02x:%02x:%02x:%02x is a multicast "
			"address; state refused", c->mac[0], c->mac[1], c->mac[2], c->mac[3],
			c->mac[4], c->mac[5]);
		return -EINVAL;
	}
	if (c->status != VIRTIO_NET_S_LINK_UP) {
		log_err("virtio-net state: config.status = %#x, not LINK_UP (the only status this "
			"device reports); state refused", c->status);
		return -EINVAL;
	}
	if (c->max_virtqueue_pairs != 1) {
		log_err("virtio-net state: config.max_virtqueue_pairs = %u, but the device has one "
			"pair; state refused", c->max_virtqueue_pairs);
		return -EINVAL;
	}
	/* The guest's driver knows this MAC; keep it whatever the new config says. */
	memcpy(&d->config, c, sizeof(d->config));
	return virtio_mmio_restore(&d->w.t, &s->transport);
}
