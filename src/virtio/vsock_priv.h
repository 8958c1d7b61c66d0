/* vsock_priv.h - what vsock.c (queues, device) and vsock_conn.c (connections,
 * host sockets) share. Everything here is owned by the device's worker. */
#ifndef MVM_VIRTIO_VSOCK_PRIV_H
#define MVM_VIRTIO_VSOCK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "virtio/vsock.h"
#include "virtio/vsock_proto.h"
#include "virtio/worker.h"

#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2

enum vsock_conn_state {
	VSC_HANDSHAKE,    /* host client accepted; its CONNECT line not read yet */
	VSC_REQUEST,      /* host -> guest: REQUEST queued or sent, waiting for RESPONSE */
	VSC_ESTABLISHED,
	VSC_CLOSING,      /* host socket closed; only an RST left to send */
};

/* Control packets a connection owes the guest (struct vsock_conn.pending). */
#define VSC_P_REQUEST  1u
#define VSC_P_RESPONSE 2u
#define VSC_P_CREDIT   4u
#define VSC_P_SHUTDOWN 8u
#define VSC_P_RST      16u

struct virtio_vsock;

struct vsock_conn {
	struct virtio_vsock *d;
	int slot;                 /* index in d->conns */
	int fd;                   /* the host socket; -1 once closed */
	uint64_t since_ms;        /* CLOCK_MONOTONIC: accepted (HANDSHAKE), CONNECT read (REQUEST) */
	enum vsock_conn_state state;
	bool host_initiated;      /* a client of uds_path (else the guest connected out) */
	uint32_t local_port;      /* the host's end (CID 2) */
	uint32_t peer_port;       /* the guest's end */
	uint32_t events;          /* epoll interest now registered */
	bool registered;          /* fd is in the loop */
	unsigned pending;         /* VSC_P_* */
	char line[VSOCK_LINE_MAX];
	size_t line_len;
	/* guest -> host */
	uint32_t rx_cnt;          /* payload bytes the guest sent */
	uint32_t fwd_cnt;         /* ... of which the host socket took */
	uint32_t fwd_told;        /* fwd_cnt the guest last heard */
	uint8_t *buf;             /* VSOCK_BUF_ALLOC bytes, allocated when first needed */
	uint32_t buf_head, buf_len;
	uint32_t peer_shutdown;   /* VSOCK_SHUTDOWN_* the guest sent */
	bool shut_wr;             /* shutdown(SHUT_WR) done on the host socket */
	/* host -> guest */
	uint32_t peer_buf_alloc;  /* the guest's receive buffer and ... */
	uint32_t peer_fwd_cnt;    /* ... how much of what we sent it has consumed */
	uint32_t tx_cnt;          /* payload bytes sent to the guest */
	bool readable;            /* the host socket may hold data or EOF */
	bool host_eof;            /* it returned EOF: SHUTDOWN(SEND) owed or sent */
	bool hup;                 /* it hung up: out of the loop for good */
};

struct vsock_stray_rst {
	uint32_t src_port, dst_port;   /* as the RST carries them (host port first) */
};

struct virtio_vsock {
	struct virtio_worker w;
	const struct gmem *mem;
	uint64_t cid;
	char *uds_path;
	int listen_fd;
	int timer_fd;             /* ticks while a host client waits: handshake timeouts */
	uint32_t handshake_ms;    /* a client's CONNECT line, and the guest's answer to it */
	bool unlink_at_destroy;   /* bind made uds_path: this device and inode */
	dev_t sock_dev;
	ino_t sock_ino;
	/* Worker-owned. */
	bool active;
	bool event_reset_pending; /* TRANSPORT_RESET owed on the event queue */
	struct vsock_conn *conns[VSOCK_MAX_CONNS];
	int nr_conns;
	int nr_handshakes;
	bool listen_paused;       /* at VSOCK_MAX_HANDSHAKES: new clients wait in the backlog */
	bool timer_armed;
	int rx_cursor;            /* round robin over conns for rx */
	uint32_t next_port;       /* next host port to try for a host client */
	struct vsock_stray_rst rst[VSOCK_RST_QUEUE];
	int rst_head, rst_len;
	struct vq_chain chain;    /* scratch for vq_pop() */
	/* Counters (stats). */
	uint64_t n_bad_pkts, n_rst_dropped, n_refused, n_garbage;
};

/* What the rx queue carries next (vsock_rx_next/vsock_rx_emit). */
struct vsock_rx_pick {
	struct vsock_conn *c;     /* NULL: a stray RST */
	uint16_t op;
	uint32_t flags;
	uint32_t src_port, dst_port;
};

/* vsock_conn.c */
void vsock_listener_ready(void *opaque, uint32_t events);
void vsock_timer_tick(void *opaque, uint32_t events);
void vsock_guest_pkt(struct virtio_vsock *d, const struct vsock_hdr *h,
		     const struct vq_chain *c, uint32_t payload_off);
void vsock_stray_rst(struct virtio_vsock *d, const struct vsock_hdr *h);
int vsock_rx_next(struct virtio_vsock *d, struct vsock_rx_pick *pk);
uint32_t vsock_rx_emit(struct virtio_vsock *d, const struct vsock_rx_pick *pk,
		       const struct vq_chain *c);
void vsock_conns_drop_all(struct virtio_vsock *d);

/* vsock.c: run the rx queue (after anything that may have made rx work). */
void vsock_rx_kick(struct virtio_vsock *d);

/* Copy len bytes from the readable part of c at off into dst; the bytes copied. */
size_t vsock_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len);
/* Copy len bytes into the writable part of c at off; the bytes copied. */
size_t vsock_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len);

#endif
