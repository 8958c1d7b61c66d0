/* tap.c - the TAP net backend: /dev/net/tun with a virtio_net_hdr_v1 on every frame. */
#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/evloop.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"

/* Frames read per wake-up before the loop serves other fds (fairness). */
#define TAP_RX_BUDGET 64

struct tap {
	struct net_backend be;
	char ifname[IFNAMSIZ];
	int fd;
	bool registered;
	bool rx_paused;
	bool want_out;        /* send hit EAGAIN: waiting for EPOLLOUT */
	uint8_t buf[NET_VNET_HDR_LEN + NET_FRAME_MAX];
};

static struct tap *to_tap(struct net_backend *be)
{
	return (struct tap *)be;
}

static uint32_t tap_events(const struct tap *t)
{
	return (t->rx_paused ? 0 : EPOLLIN) | (t->want_out ? EPOLLOUT : 0);
}

static void tap_update(struct tap *t)
{
	if (t->registered)
		evloop_mod(t->be.loop, t->fd, tap_events(t));
}

static void tap_ready(void *opaque, uint32_t events)
{
	struct tap *t = opaque;

	if (events & EPOLLOUT && t->want_out) {
		t->want_out = false;
		tap_update(t);
		if (t->be.writable)
			t->be.writable(t->be.opaque);
	}
	for (int i = 0; i < TAP_RX_BUDGET && !t->rx_paused; i++) {
		ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_debug_rl("tap %s: read: %s", t->ifname, strerror(errno));
			break;
		}
		if (n < NET_VNET_HDR_LEN + NET_FRAME_MIN)
			continue;
		t->be.rx(t->be.opaque, t->buf, (size_t)n);
	}
}

static int tap_start(struct net_backend *be, struct evloop *loop)
{
	struct tap *t = to_tap(be);
	int r = evloop_add(loop, t->fd, tap_events(t), tap_ready, t);

	loop->sandbox = SANDBOX_NET_TAP;

	if (r) {
		log_err("tap %s: cannot watch its fd: %s", t->ifname, strerror(-r));
		return r;
	}
	t->registered = true;
	return 0;
}

static void tap_stop(struct net_backend *be)
{
	struct tap *t = to_tap(be);

	if (t->registered)
		evloop_del(be->loop, t->fd);
	t->registered = false;
	t->want_out = false;
}

static int tap_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct tap *t = to_tap(be);

	for (;;) {
		ssize_t n = writev(t->fd, iov, iovcnt);
		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			if (!t->want_out) {
				t->want_out = true;
				tap_update(t);
			}
			return -EAGAIN;
		}
		/* EIO: interface down; EINVAL: a malformed vnet header. A NIC
		 * would drop these too. */
		log_debug_rl("tap %s: write: %s", t->ifname, strerror(errno));
		return -errno;
	}
}

static void tap_set_rx_paused(struct net_backend *be, bool paused)
{
	struct tap *t = to_tap(be);

	if (t->rx_paused == paused)
		return;
	t->rx_paused = paused;
	tap_update(t);
}

static int tap_set_offload(struct net_backend *be, unsigned offloads)
{
	struct tap *t = to_tap(be);
	unsigned long f = 0;

	if (offloads & NET_OFFLOAD_CSUM) {
		f |= TUN_F_CSUM;
		/* Segmentation offloads are meaningless without checksum offload. */
		if (offloads & NET_OFFLOAD_TSO4)
			f |= TUN_F_TSO4;
		if (offloads & NET_OFFLOAD_TSO6)
			f |= TUN_F_TSO6;
		if (offloads & NET_OFFLOAD_ECN && f & (TUN_F_TSO4 | TUN_F_TSO6))
			f |= TUN_F_TSO_ECN;
		if (offloads & NET_OFFLOAD_UFO)
			f |= TUN_F_UFO;
	}
	if (ioctl(t->fd, TUNSETOFFLOAD, f) < 0) {
		int e = errno;
		log_err_rl("tap %s: TUNSETOFFLOAD 0x%lx: %s", t->ifname, f, strerror(e));
		return -e;
	}
	return 0;
}

static void tap_close(struct net_backend *be)
{
	struct tap *t = to_tap(be);

	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct net_backend_ops tap_ops = {
	.start = tap_start,
	.stop = tap_stop,
	.send = tap_send,
	.set_rx_paused = tap_set_rx_paused,
	.set_offload = tap_set_offload,
	.close = tap_close,
};

int net_tap_open(struct net_backend **out, const char *ifname)
{
	struct tap *t;
	struct ifreq ifr;
	int hdr_sz = NET_VNET_HDR_LEN, r;

	*out = NULL;
	if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ) {
		log_err("tap: interface name '%s' must be 1-%d characters", ifname ? ifname : "",
			IFNAMSIZ - 1);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return err_host(-ENOMEM);
	t->be.ops = &tap_ops;
	t->be.vnet_hdr = true;
	t->be.offload_caps = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	t->be.name = t->ifname;

	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		r = -errno;
		err_host(r);   /* the host's tun device or its permissions, not the flag */
		if (r == -ENOENT || r == -ENODEV)
			log_err("tap %s: /dev/net/tun is missing: load the tun module (modprobe tun)", ifname);
		else if (r == -EACCES || r == -EPERM)
			log_err("tap %s: cannot open /dev/net/tun: %s (needs CAP_NET_ADMIN or access to /dev/net/tun)",
				ifname, strerror(-r));
		else
			log_err("tap %s: cannot open /dev/net/tun: %s", ifname, strerror(-r));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, t->ifname, strlen(t->ifname));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		/* EINVAL: the name belongs to an interface that is not a tap: the
		 * flag's. Anything else (no CAP_NET_ADMIN, busy) is the host's. */
		if (r == -EINVAL)
			err_usage(r);
		else
			err_host(r);
		if (r == -EPERM || r == -EACCES)
			log_err("tap %s: cannot attach: %s (needs CAP_NET_ADMIN or a tap owned by you: ip tuntap add %s mode tap user $USER vnet_hdr)",
				ifname, strerror(-r), ifname);
		else if (r == -EBUSY)
			log_err("tap %s: busy: another program holds it (or it is a tun, or lacks vnet_hdr)", ifname);
		else if (r == -EINVAL)
			log_err("tap %s: refused by the kernel: an interface of that name exists and is not a tap with vnet_hdr", ifname);
		else
			log_err("tap %s: TUNSETIFF: %s", ifname, strerror(-r));
		goto fail;
	}
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_sz) < 0) {
		r = -errno;
		log_err("tap %s: TUNSETVNETHDRSZ 12: %s", ifname, strerror(-r));
		goto fail;
	}
	/* No receive offloads until the guest says it can take them. */
	if (ioctl(t->fd, TUNSETOFFLOAD, 0UL) < 0) {
		r = -errno;
		log_err("tap %s: TUNSETOFFLOAD 0: %s", ifname, strerror(-r));
		goto fail;
	}
	/* Paused until the device has a receiver ready (it unpauses). */
	t->rx_paused = true;
	*out = &t->be;
	return 0;
fail:
	tap_close(&t->be);
	return r;
}

int net_tap_fd(const struct net_backend *be)
{
	return ((const struct tap *)be)->fd;
}
