/* hcall_net.h - the host side of the net hypercalls: one --net backend, its
 * event loop, and a bounded queue of received frames the vCPU pops.
 *
 * Contract: hcall_net_open() parses a --net value and opens its backend
 * (before KVM: bad input fails like any device's; errors logged naming the
 * flag). hcall_net_start() starts a private event loop thread ("mvm-hcnet")
 * and the backend on it. From then on the backend delivers frames on that
 * thread into a queue of HCALL_NET_QUEUE frames (plain ethernet, at most
 * MVM_NET_MAX bytes; the vnet header, when the backend has one, is
 * stripped); a frame arriving at a full queue is dropped and counted, as
 * are frames too short, too long or still segmented (GSO). The calls below
 * run on vCPU threads, never block on the network and are safe from
 * several vCPUs at once: read pops one frame (-EAGAIN when none waits),
 * write hands one frame to the backend on the loop thread (evloop_run_sync:
 * the backend is not thread-safe) and returns once it was taken, dropped
 * (-EIO) or refused as full (-EAGAIN: retry later). The guest buffers are
 * host pointers already checked by the dispatcher (hcall.c).
 * hcall_net_destroy() (NULL-safe) stops the loop and closes the backend.
 */
#ifndef MVM_HCALL_HCALL_NET_H
#define MVM_HCALL_HCALL_NET_H

#include <stddef.h>
#include <stdint.h>

#define HCALL_NET_QUEUE 64   /* received frames held for the guest */
#define HCALL_NET_MTU   1500

struct hcall_net;

struct hcall_net_stats {
	uint64_t rx_frames;     /* queued for the guest */
	uint64_t rx_dropped;    /* queue full, or a frame the ABI cannot carry */
	uint64_t tx_frames;     /* taken by the backend */
	uint64_t tx_dropped;    /* refused by the backend with an error */
};

/* 0 or -errno (logged): -EINVAL for a bad --net value, the backend's errors. */
int hcall_net_open(struct hcall_net **out, const char *arg);
/* 0 or -errno (logged). Once only. */
int hcall_net_start(struct hcall_net *n);
void hcall_net_destroy(struct hcall_net *n);

void hcall_net_mac(const struct hcall_net *n, uint8_t mac[6]);
/* Send frame[0..len) (14..MVM_NET_MAX, checked by the caller). 0, -EAGAIN or -EIO. */
int hcall_net_write(struct hcall_net *n, const uint8_t *frame, size_t len);
/* Pop the oldest frame into buf (cap bytes): its length, -EAGAIN when the
 * queue is empty, -EMSGSIZE when it does not fit (the frame stays queued). */
int hcall_net_read(struct hcall_net *n, uint8_t *buf, size_t cap);
void hcall_net_get_stats(struct hcall_net *n, struct hcall_net_stats *s);

#endif
