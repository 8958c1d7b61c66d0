/* tap.h - a Linux TAP interface as a net backend (frames carry a vnet header).
 *
 * Contract: net_tap_open() attaches to (or creates) the TAP interface
 * ifname through /dev/net/tun with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and a
 * 12-byte vnet header (virtio_net_hdr_v1), non-blocking, with every receive
 * offload off until set_offload() turns on the ones the guest negotiated.
 * The interface is not brought up or addressed: that is the host admin's
 * job (ip link set IFNAME up). Errors name the interface; EPERM says it
 * needs CAP_NET_ADMIN or a tap owned by the caller. The tap goes away with
 * its fd unless it was made persistent beforehand (ip tuntap add).
 * Everything else follows net/backend.h: one reader callback on the loop,
 * pausing rx stops reading the fd (the kernel queues, then drops), a full
 * tap returns -EAGAIN from send and calls writable() on EPOLLOUT.
 */
#ifndef MVM_NET_TAP_H
#define MVM_NET_TAP_H

#include "net/backend.h"

int net_tap_open(struct net_backend **out, const char *ifname);
/* The tap's fd (tests). */
int net_tap_fd(const struct net_backend *be);

#endif
