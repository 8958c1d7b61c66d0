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
 *
 * Bounds (net/user_flows.h): every guest frame is classified before
 * slirp_input(); one that would make slirp open a host socket past
 * cfg->max_flows (default NET_USER_FLOWS_DEFAULT), or reach the host's
 * loopback under cfg->no_host_loopback, is dropped (send() still returns 0)
 * and counted in a rate-limited warning. cfg->restrict_on is libslirp's
 * restricted mode: the guest reaches nothing outside, hostfwd still works.
 * The epoll mirror is updated per fd (epoll_ctl only for changes) and
 * slirp's revents come from epoll_wait(), at most 64 fds a round.
 */
#ifndef MVM_NET_USER_H
#define MVM_NET_USER_H

#include "net/backend.h"
#include "net/user_addr.h"

int net_user_open(struct net_backend **out, const struct net_cfg *cfg);

#endif
