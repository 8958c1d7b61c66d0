/* user.h - user-mode networking (libslirp) as a net backend: no root needed.
 *
 * Contract: net_user_open() builds a libslirp 4.7 instance with QEMU's
 * familiar addresses: network 10.0.2.0/24, host (gateway) 10.0.2.2, DNS
 * 10.0.2.3 (forwarded to the host's resolver), DHCP handing out 10.0.2.15
 * onwards; IPv6 off. Every cfg->hostfwd rule is bound at open (a taken
 * port fails here, message naming the rule). Frames carry no vnet header
 * and must be complete and checksummed (the device offers no offloads).
 *
 * Polling: libslirp wants slirp_pollfds_fill()/slirp_pollfds_poll() around
 * a poll(). Here that runs on the owner's event loop, no extra thread: the
 * sockets slirp asks for are mirrored into a private epoll fd watched by
 * the loop, and one timerfd carries both slirp's own timeout and its
 * timers. After every entry into slirp (a guest frame, a ready socket, a
 * timer) the interest set and the timerfd are re-filled. libslirp caps its
 * timeout at one second, so an idle backend wakes once a second (and every
 * 2 ms only while a TCP delayed ACK is pending), never spins.
 * set_rx_paused() is a no-op: slirp produces frames on its own, so the
 * receiver bounds its queue (net/backend.h).
 */
#ifndef MVM_NET_USER_H
#define MVM_NET_USER_H

#include "net/backend.h"

/* Host byte order. */
#define NET_USER_NETWORK    0x0a000200u  /* 10.0.2.0/24 */
#define NET_USER_NETMASK    0xffffff00u
#define NET_USER_HOST_ADDR  0x0a000202u  /* 10.0.2.2: the gateway and the host */
#define NET_USER_DNS_ADDR   0x0a000203u  /* 10.0.2.3 */
#define NET_USER_GUEST_ADDR 0x0a00020fu  /* 10.0.2.15: first DHCP lease */

int net_user_open(struct net_backend **out, const struct net_cfg *cfg);

#endif
