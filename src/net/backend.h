/* backend.h - what carries a network device's ethernet frames to the host:
 * a TAP interface (net/tap.c) or user-mode networking (net/user.c, libslirp).
 *
 * Contract:
 *  - A backend moves whole ethernet frames (no FCS). When be->vnet_hdr is
 *    true every frame, in both directions, starts with a 12-byte
 *    struct net_vnet_hdr (virtio_net_hdr_v1 layout) describing checksum and
 *    segmentation offload; when false, frames are plain and must be fully
 *    checksummed (the device synthesizes/strips a zeroed header).
 *  - net_backend_open() checks user input (interface name, hostfwd rules)
 *    and opens host resources; errors are logged naming the problem and
 *    returned as -errno (-EPERM/-EACCES/-ENOENT/-EINVAL/-EADDRINUSE...).
 *  - net_backend_start() hands the backend an event loop and the receiver's
 *    callbacks. From then on EVERYTHING happens on that loop's thread:
 *    the backend's fds and timers are registered on it, rx() and
 *    writable() are called from it, and the owner must call send(),
 *    set_rx_paused(), set_offload() and net_backend_stop() from it too
 *    (evloop_run_sync() from other threads). Nothing in a backend locks.
 *  - send(): one frame given as an iovec (header included when vnet_hdr).
 *    0 when the frame was taken (or silently dropped by the host side, as
 *    a NIC would), -EAGAIN when the host side is full: keep the frame,
 *    writable() will be called once when it is worth retrying. Other
 *    -errno: the frame was not sent and should be dropped.
 *  - rx(): one frame for the guest; the pointer is valid only during the
 *    call, so the receiver copies what it keeps. A receiver that cannot
 *    take more calls set_rx_paused(be, true): a backend that can hold
 *    frames back (tap: stops reading its fd) does so; one that cannot
 *    (slirp, which produces frames from its own timers and sockets) keeps
 *    calling rx(), and the receiver bounds its own queue and drops.
 *  - net_backend_stop() unregisters everything from the loop; afterwards no
 *    callback runs. net_backend_close() (any thread, after stop or before
 *    start) frees it; NULL-safe.
 */
#ifndef MVM_NET_BACKEND_H
#define MVM_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct evloop;
struct net_backend;

/* virtio_net_hdr_v1 (virtio 1.2 5.1.6), little-endian. */
struct net_vnet_hdr {
	uint8_t flags;          /* NET_HDR_F_* */
	uint8_t gso_type;       /* NET_HDR_GSO_* */
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;   /* rx with MRG_RXBUF: chains this frame used */
} __attribute__((packed));
#define NET_VNET_HDR_LEN 12

#define NET_HDR_F_NEEDS_CSUM 1
#define NET_HDR_F_DATA_VALID 2
#define NET_HDR_GSO_NONE  0
#define NET_HDR_GSO_TCPV4 1
#define NET_HDR_GSO_UDP   3
#define NET_HDR_GSO_TCPV6 4
#define NET_HDR_GSO_ECN   0x80

/* Largest frame (without the header) a backend may deliver or accept:
 * a 64 KiB GSO packet plus ethernet and VLAN headers, as Linux's tun. */
#define NET_FRAME_MAX 65550
/* Smallest frame worth carrying: an ethernet header. */
#define NET_FRAME_MIN 14

/* Offloads the guest can receive (set_offload); tap maps them to TUN_F_*. */
#define NET_OFFLOAD_CSUM 0x01
#define NET_OFFLOAD_TSO4 0x02
#define NET_OFFLOAD_TSO6 0x04
#define NET_OFFLOAD_ECN  0x08
#define NET_OFFLOAD_UFO  0x10

/* Receiver callbacks, all on the loop thread. */
typedef void (*net_rx_fn)(void *opaque, const uint8_t *frame, size_t len);
typedef void (*net_writable_fn)(void *opaque);

struct net_backend_ops {
	int (*start)(struct net_backend *be, struct evloop *loop);
	void (*stop)(struct net_backend *be);
	int (*send)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	void (*set_rx_paused)(struct net_backend *be, bool paused);
	/* NULL when the backend takes no offloads (vnet_hdr false). */
	int (*set_offload)(struct net_backend *be, unsigned offloads);
	void (*close)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	const char *name;          /* "tap0", "user": for messages */
	bool vnet_hdr;             /* frames carry struct net_vnet_hdr */
	unsigned offload_caps;     /* NET_OFFLOAD_* the backend can take */
	net_rx_fn rx;
	net_writable_fn writable;
	void *opaque;
	struct evloop *loop;       /* set by net_backend_start() */
};

/* What --net asked for. */
enum net_kind { NET_TAP, NET_USER };

#define NET_MAX_HOSTFWD 16
struct net_hostfwd {
	bool udp;
	uint32_t host_addr;        /* network byte order; default 127.0.0.1 */
	uint16_t host_port;
	uint32_t guest_addr;       /* network byte order; default 10.0.2.15 */
	uint16_t guest_port;
};

/* max-flows=N: the cap on slirp's host sockets per --net user. */
#define NET_USER_FLOWS_MIN 32
#define NET_USER_FLOWS_MAX 65536
#define NET_USER_FLOWS_DEFAULT 1024

struct net_cfg {
	enum net_kind kind;
	char ifname[16];           /* tap: IFNAMSIZ with the NUL */
	uint8_t mac[6];            /* the guest's MAC (generated unless mac_set) */
	bool mac_set;
	int nr_hostfwd;            /* user only */
	struct net_hostfwd hostfwd[NET_MAX_HOSTFWD];
	/* user only: restrict=on (the guest reaches nothing, hostfwd still
	 * works), host-loopback=off (the guest cannot reach the host's
	 * 127.0.0.0/8 through 10.0.2.x), max-flows=N (cap on slirp's host
	 * sockets; 0 here means the default). */
	bool restrict_on;
	bool no_host_loopback;
	unsigned max_flows;
};

/* Parse a --net value:
 *   tap=IFNAME[,mac=MAC]
 *   user[,mac=MAC][,restrict=on|off][,host-loopback=on|off][,max-flows=N]
 *       [,hostfwd=PROTO:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 * (QEMU's hostfwd syntax; PROTO tcp or udp, empty HOSTADDR = 127.0.0.1, i.e.
 * loopback only, unlike QEMU's any-address default; empty GUESTADDR =
 * 10.0.2.15). Without mac= a random locally administered unicast MAC is
 * generated. 0 or -EINVAL with a message naming the bad part. */
int net_cfg_parse(const char *arg, struct net_cfg *cfg);

/* Fill mac with a random locally administered unicast address. */
void net_random_mac(uint8_t mac[6]);

/* Open the backend cfg asks for (not started). 0 or -errno, logged. */
int net_backend_open(struct net_backend **out, const struct net_cfg *cfg);

static inline int net_backend_start(struct net_backend *be, struct evloop *loop,
				    net_rx_fn rx, net_writable_fn writable, void *opaque)
{
	be->rx = rx;
	be->writable = writable;
	be->opaque = opaque;
	be->loop = loop;
	return be->ops->start(be, loop);
}

static inline void net_backend_stop(struct net_backend *be)
{
	if (be && be->loop) {
		be->ops->stop(be);
		be->loop = NULL;
	}
}

static inline int net_backend_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return be->ops->send(be, iov, iovcnt);
}

static inline void net_backend_set_rx_paused(struct net_backend *be, bool paused)
{
	be->ops->set_rx_paused(be, paused);
}

static inline int net_backend_set_offload(struct net_backend *be, unsigned offloads)
{
	return be->ops->set_offload ? be->ops->set_offload(be, offloads) : 0;
}

/* Stops it first if still started. */
void net_backend_close(struct net_backend *be);

#endif
