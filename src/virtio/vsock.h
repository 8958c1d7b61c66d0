/* vsock.h - virtio-vsock with Firecracker's hybrid Unix-socket backend
 * (virtio 1.2 spec 5.10).
 *
 * Contract: three queues (rx, tx, event; queue_max 256), no feature bits,
 * config space the guest's 64-bit CID. mvm listens on the Unix socket
 * uds_path (which must not exist; it is removed at destroy):
 *  - host -> guest: a client connects to uds_path and writes
 *    "CONNECT <port>\n"; the device sends the guest a REQUEST from CID 2
 *    and a fresh host port (from 2^30 up) to <port>; on the guest's
 *    RESPONSE the client reads "OK <host port>\n" and then the stream; on
 *    RST (nobody listens) the client is closed. A line that is not a
 *    CONNECT is answered "ERR <why>\n" and closed; nothing else notices.
 *  - guest -> host: a guest REQUEST to CID 2 port X connects to
 *    "<uds_path>_X"; the guest gets RESPONSE, or RST when nothing listens.
 * Every guest header is checked (vsock_proto.h): a packet from another CID
 * or to one other than 2, or longer than its buffer, is dropped; an
 * unknown op or type, or a packet that breaks the connection's state, is
 * answered RST (and the connection is closed).
 *
 * Bounds: at most VSOCK_MAX_CONNS connections (host clients still writing
 * their CONNECT line included) -- past it a guest REQUEST gets RST and a
 * host client "ERR too many connections". While VSOCK_MAX_HANDSHAKES
 * clients are still writing their line, new ones wait in the listen
 * backlog; a client gets VSOCK_HANDSHAKE_MS to send its line, and the
 * guest as long to answer the REQUEST, else "ERR timeout" and closed.
 * Host -> guest bytes are read from the host socket straight into the
 * guest's rx buffers and only while the guest advertises credit
 * (buf_alloc - (sent - fwd_cnt)): mvm buffers none, and a guest that stops
 * reading stops mvm reading, so the host client sees back-pressure. Guest
 * -> host bytes go straight to the host socket; what it does not take is
 * kept in a per-connection buffer of VSOCK_BUF_ALLOC bytes, the buf_alloc
 * mvm advertises, so a guest that sends past its credit breaks the
 * protocol and gets RST. Worst case: VSOCK_MAX_CONNS * VSOCK_BUF_ALLOC.
 *
 * State: the transport and the CID. Connections are host resources and
 * are not saved (as Firecracker): a restored device sends the guest
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue as soon as the
 * driver has an event buffer there, and the guest drops its connections.
 */
#ifndef MVM_VIRTIO_VSOCK_H
#define MVM_VIRTIO_VSOCK_H

#include <stdint.h>

#include "core/memory.h"
#include "virtio/mmio.h"

#define VSOCK_QUEUE_MAX      256
#define VSOCK_MAX_CONNS      256
#define VSOCK_MAX_HANDSHAKES 32
#define VSOCK_HANDSHAKE_MS   5000   /* a client's CONNECT line, and the guest's answer to it */
#define VSOCK_BUF_ALLOC      (128u * 1024)
#define VSOCK_BATCH          64     /* chains per queue per worker wake-up */
#define VSOCK_RST_QUEUE      64     /* RSTs for packets of no connection, waiting for rx room */
#define VSOCK_MIN_CID        3      /* 0-2 are reserved (hypervisor, local, host) */

struct virtio_vsock_cfg {
	uint64_t guest_cid;
	const char *uds_path;
	uint32_t handshake_ms;   /* 0: VSOCK_HANDSHAKE_MS (unit tests shorten it) */
};

struct virtio_vsock;

#define VIRTIO_VSOCK_STATE_VERSION 1

struct virtio_vsock_state {
	struct virtio_mmio_state transport;
	uint64_t guest_cid;
};

/* Check cfg (CID, path length) and listen on uds_path. 0 or -errno (logged). */
int virtio_vsock_create(struct virtio_vsock **out, const struct virtio_vsock_cfg *cfg,
			const struct gmem *mem);
int virtio_vsock_attach(struct virtio_vsock *d, const struct virtio_env *env,
			uint64_t base, uint32_t gsi);
void virtio_vsock_destroy(struct virtio_vsock *d);
struct evloop *virtio_vsock_loop(struct virtio_vsock *d);
struct virtio_mmio *virtio_vsock_transport(struct virtio_vsock *d);
/* Open connections (tests, stats); from any thread, on the worker. */
int virtio_vsock_nr_conns(struct virtio_vsock *d);

/* 0 or -EINVAL (not attached). */
int virtio_vsock_save(struct virtio_vsock *d, struct virtio_vsock_state *s);
/* 0, or -errno naming the refused field; a TRANSPORT_RESET event follows. */
int virtio_vsock_restore(struct virtio_vsock *d, const struct virtio_vsock_state *s);

extern const struct device_kind virtio_vsock_kind;

#endif
