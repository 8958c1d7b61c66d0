/* net_priv.h - the live virtio-net device, shared by net.c and net_state.c.
 *
 * Contract: private to src/virtio/net*.c. The worker state belongs to the
 * device's worker once the loop runs; another thread reads it only with
 * the worker held (VM paused) or stopped.
 */
#ifndef MVM_VIRTIO_NET_PRIV_H
#define MVM_VIRTIO_NET_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/limiter.h"
#include "virtio/net.h"
#include "virtio/worker.h"

/* tx chains handled per wake-up before the worker serves rx again. */
#define NET_TX_BUDGET 256

struct net_pending {
	size_t len;                 /* header + frame */
	uint8_t data[];             /* struct net_vnet_hdr, then the frame */
};

struct virtio_net {
	struct virtio_worker w;     /* transport + worker */
	struct virtio_dev_ops ops;
	bool be_started;
	struct net_backend *be;
	const struct gmem *mem;
	struct virtio_net_config config;

	/* Worker state (only the worker touches it once the loop runs). */
	bool active;
	bool mrg_rxbuf, guest_csum;
	bool rx_notify;             /* rx kicks enabled (we are short of buffers) */
	bool tx_held;               /* tx_chain was popped and waits for the backend */
	struct net_pending *pending[VIRTIO_NET_PENDING_MAX];
	unsigned p_head, p_count;
	struct vq_chain rx_first, rx_more, tx_chain;
	struct { uint16_t head; uint32_t len; } rx_used[VQ_MAX_SIZE];
	struct iovec tx_iov[VQ_CHAIN_MAX];
	struct virtio_net_stats stats, stats_copy;
	/* rx_rate_limiter: frames wait in pending[] (tap: the backend is not
	 * read meanwhile); tx_rate_limiter: the chain is held as for a full
	 * backend. */
	struct virtio_limiter rx_lim, tx_lim;
	struct rlim_update rx_upd, tx_upd;   /* virtio_net_set_rate_limiters() -> the worker */
};

#endif
