/* net.h - virtio-net over a TAP or user-mode (libslirp) backend
 * (virtio 1.2 spec 5.1).
 *
 * Contract: virtio_net_create() opens the backend cfg names (tap: attach to
 * or create the interface; user: slirp plus its hostfwd listeners) and fails
 * there, message naming the interface or rule. Two queues, rx (0) and tx
 * (1), 256 entries each. Offered: MAC, STATUS (link always up), MRG_RXBUF,
 * and with tap (whose frames carry a vnet header) CSUM, GUEST_CSUM,
 * HOST/GUEST_TSO4/6 and HOST/GUEST_ECN, so frames up to 65550 bytes flow
 * both ways; tap's receive offloads are set from what the guest accepted
 * at DRIVER_OK. With user networking no offloads are offered (slirp needs
 * whole checksummed frames): the device strips the 12-byte header on tx
 * and writes a zeroed one on rx.
 *
 * Threading: all queue and backend work runs on the device's worker
 * (struct evloop); activate/reset hand over with evloop_run_sync().
 *
 * tx: each chain's readable part is header + frame. A chain with a
 * writable descriptor, a readable part shorter than the header plus an
 * ethernet header or longer than the header plus 65550 bytes, or (user
 * backend) asking for an offload that was not offered, is dropped: returned
 * with len 0 and counted in tx_dropped; the queue keeps working. When the
 * backend is full (-EAGAIN) the chain is kept and tx stops until the
 * backend is writable again.
 * rx: a frame fills as many rx chains as it needs (num_buffers in the
 * first header; exactly one chain without MRG_RXBUF, else the frame is
 * dropped). With no rx buffers the frame waits in a bounded queue (256
 * frames, newest dropped beyond, counted in rx_dropped) and a pausable
 * backend (tap) stops being read until the guest kicks rx.
 *
 * Quiesce (the device kind's, on a pause) holds the worker, then makes one
 * non-blocking attempt to finish what it holds: a tx chain held for a full
 * backend is sent and pushed if the backend (and the rate limiter) now
 * take it, the chains behind it served on resume; frames in the rx queue
 * go into the buffers the guest has posted.
 *
 * State (net_state.c): the transport (registers, both queues) and the
 * config space (MAC, link status, queue pairs). A tx chain still held is
 * saved as not yet taken (the tx queue's last_avail one back), so the
 * restored device sends it again; rx frames still waiting in the host
 * queue are not state: the save logs how many, naming the backend, and a
 * restored device has lost them, as a wire may. Restore into a device freshly created
 * and attached, before the VM runs: the offered features must be the same
 * (a tap snapshot does not restore onto user networking: the transport
 * refuses device_features), the MAC must be unicast, status LINK_UP and
 * one queue pair; the transport's activate re-applies the negotiated
 * offloads to the backend. The backend (tap fd, slirp) is not state.
 */
#ifndef MVM_VIRTIO_NET_H
#define MVM_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/memory.h"
#include "util/tbucket.h"
#include "net/backend.h"
#include "virtio/mmio.h"

/* Feature bits (spec 5.1.3). */
#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MTU         3
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_GUEST_TSO4  7
#define VIRTIO_NET_F_GUEST_TSO6  8
#define VIRTIO_NET_F_GUEST_ECN   9
#define VIRTIO_NET_F_GUEST_UFO   10
#define VIRTIO_NET_F_HOST_TSO4   11
#define VIRTIO_NET_F_HOST_TSO6   12
#define VIRTIO_NET_F_HOST_ECN    13
#define VIRTIO_NET_F_HOST_UFO    14
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16

#define VIRTIO_NET_S_LINK_UP     1
#define VIRTIO_NET_QUEUE_MAX     256
#define VIRTIO_NET_RXQ           0
#define VIRTIO_NET_TXQ           1
#define VIRTIO_NET_PENDING_MAX   256   /* rx frames held while the guest has no buffers */

/* Device config space (spec 5.1.4): what we expose of it. */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
} __attribute__((packed));

struct virtio_net_cfg {
	struct net_cfg net;        /* backend, MAC, hostfwd: from virtio_net_parse() */
};

struct virtio_net_stats {
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t rx_frames, rx_bytes, rx_dropped;
};

struct virtio_net;

#define VIRTIO_NET_STATE_VERSION 1

struct virtio_net_state {
	struct virtio_mmio_state transport;
	struct virtio_net_config config;
	uint8_t pad[6];                  /* always 0 */
};

/* 0 or -EINVAL (not attached); with the VM paused. */
int virtio_net_save(struct virtio_net *d, struct virtio_net_state *s);
/* 0, or -EINVAL/-EBUSY/-errno logged naming the refused field; on failure
 * the device is left reset. */
int virtio_net_restore(struct virtio_net *d, const struct virtio_net_state *s);

/* Parse a --net value into cfg (see net_cfg_parse() in net/backend.h). */
int virtio_net_parse(const char *arg, struct virtio_net_cfg *cfg);

/* Open the backend. 0 or -errno (logged: -EPERM/-EACCES/-ENOENT/-EINVAL/
 * -EBUSY/-EADDRINUSE are the user's to fix). */
int virtio_net_create(struct virtio_net **out, const struct virtio_net_cfg *cfg,
		      const struct gmem *mem);
/* Same, with a backend the caller opened (tests; ownership passes in,
 * also on failure). */
int virtio_net_create_with(struct virtio_net **out, struct net_backend *be,
			   const uint8_t mac[6], const struct gmem *mem);
/* Claim the MMIO window, start the backend and the worker. 0 or -errno. */
int virtio_net_attach(struct virtio_net *d, const struct virtio_env *env,
		      uint64_t base, uint32_t gsi);
/* NULL-safe: stop the worker, detach, stop and close the backend. */
struct evloop;
void virtio_net_destroy(struct virtio_net *d);
/* The device's worker loop (vm_pause() holds it); NULL for NULL. */
struct evloop *virtio_net_loop(struct virtio_net *d);

/* The embedded transport (tests drive virtio_mmio_io() through it). */
struct virtio_mmio *virtio_net_transport(struct virtio_net *d);
/* A consistent copy of the counters (taken on the worker). */
void virtio_net_get_stats(struct virtio_net *d, struct virtio_net_stats *out);
/* rx_rate_limiter / tx_rate_limiter: replace the buckets each update names
 * (NULL: none), on the worker; held frames go at once if a limit lifted. */
void virtio_net_set_rate_limiters(struct virtio_net *d, const struct rlim_update *rx,
				  const struct rlim_update *tx);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind virtio_net_kind;

#endif
