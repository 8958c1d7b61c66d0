/* fuzz_net.c - libFuzzer target for virtio-net's transmit path (src/virtio/net.c):
 * tx chains of vnet header + frame, as a guest driver posts them, through
 * the real MMIO transport and worker thread to a fake backend.
 *
 * Each input makes a device over a fresh fake backend (bit 0 of byte 0:
 * a tap-like backend whose frames carry the vnet header and that takes
 * offloads, else a user-like one without), negotiates the features of
 * byte 1 (offload bits; MAC/STATUS/MRG_RXBUF always), posts up to 4 tx
 * chains of up to 4 segments [offset: le16][len: le16][writable: 1 byte]
 * into a data area filled with the rest of the input (so the vnet header
 * and frame bytes are the fuzzer's), kicks, and waits for the device.
 * Checked, from net.h:
 *  - the device returns every chain (used len 0) or asks for a reset, and
 *    never hangs (5 s);
 *  - every frame reaching the backend is ETH_HLEN..65550 bytes (plus the
 *    header with a tap-like backend), and is byte for byte the readable
 *    part of one posted chain, in order (without the header for a
 *    user-like backend); chains with a writable segment are never sent;
 *  - frames + drops = chains returned (the counters).
 *
 * Run: build/fuzz/fuzz_net tests/fuzz/corpus/net
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "net/backend.h"
#include "virtio/net.h"
#include "virtio_fake_driver.h"

#define MAX_SENT 16
#define AREA     0x20000   /* the data area: FD_DATA_BASE .. + AREA */

struct fake_be {
	struct net_backend be;
	pthread_mutex_t lock;
	uint8_t *sent[MAX_SENT];
	size_t len[MAX_SENT];
	int n;
};

static int fb_start(struct net_backend *be, struct evloop *l) { return 0; }
static void fb_stop(struct net_backend *be) { }
static void fb_pause(struct net_backend *be, bool p) { }
static int fb_offload(struct net_backend *be, unsigned o) { return 0; }
static void fb_close(struct net_backend *be) { }

static int fb_send(struct net_backend *be, const struct iovec *iov, int n)
{
	struct fake_be *f = (struct fake_be *)be;
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	pthread_mutex_lock(&f->lock);
	FZ_CHECK(f->n < MAX_SENT);
	f->sent[f->n] = malloc(len ? len : 1);
	FZ_CHECK(f->sent[f->n]);
	for (size_t i = 0, o = 0; i < (size_t)n; o += iov[i].iov_len, i++)
		memcpy(f->sent[f->n] + o, iov[i].iov_base, iov[i].iov_len);
	f->len[f->n++] = len;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static const struct net_backend_ops fb_ops = {
	.start = fb_start, .stop = fb_stop, .send = fb_send,
	.set_rx_paused = fb_pause, .set_offload = fb_offload, .close = fb_close,
};

static struct fake_driver f;
static struct fake_be fb;
static uint8_t chain_bytes[8][4 * 0xffff];
static size_t chain_len[8];
static bool chain_writable[8];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	struct fz_in in = { data, size, 0 };
	struct virtio_net *d;
	struct virtio_net_stats st;
	bool tap;
	uint64_t features;
	int nchains;
	uint16_t heads[8];
	struct fd_seg segs[4];

	if (!f.mem.base) {
		fz_logs_off();
		FZ_CHECK(fd_setup(&f) == 0);
		pthread_mutex_init(&fb.lock, NULL);
	}
	tap = fz_u8(&in) & 1;
	features = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		   VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	{
		static const int bits[] = { VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM,
					    VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
					    VIRTIO_NET_F_HOST_ECN, VIRTIO_NET_F_GUEST_TSO4,
					    VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN };
		uint8_t b = fz_u8(&in);

		for (int i = 0; i < 8; i++)
			if (b >> i & 1)
				features |= VIRTIO_BIT(bits[i]);
	}
	nchains = fz_u8(&in) % 5;   /* 4 chains of 4 segments fill the 16-entry queue */

	memset(&fb.be, 0, sizeof(fb.be));
	fb.n = 0;
	fb.be.ops = &fb_ops;
	fb.be.name = "fuzz";
	fb.be.vnet_hdr = tap;
	fb.be.offload_caps = tap ? NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 |
				   NET_OFFLOAD_ECN : 0;
	bus_free(&f.bus);
	bus_init(&f.bus, "mmio");
	FZ_CHECK(virtio_net_create_with(&d, &fb.be, mac, &f.mem) == 0);
	FZ_CHECK(virtio_net_attach(d, &f.env, FD_MMIO_BASE, 5) == 0);
	f.t = virtio_net_transport(d);
	/* A driver accepts only what the device offers. */
	fd_wr(&f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t offered = fd_rd(&f, VIRTIO_MMIO_DEVICE_FEATURES);
	fd_wr(&f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)fd_rd(&f, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	FZ_CHECK((fd_init(&f, 2, 16, features & offered) &
		  (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) == VIRTIO_STATUS_DRIVER_OK);

	/* Chains first (their layout), then the data area gets the rest. */
	struct { int n; struct fd_seg s[4]; } plan[8];
	for (int c = 0; c < nchains; c++) {
		plan[c].n = 1 + fz_u8(&in) % 4;
		for (int i = 0; i < plan[c].n; i++) {
			uint16_t off = fz_u16(&in), len = fz_u16(&in);

			plan[c].s[i] = (struct fd_seg){ FD_DATA_BASE + off, len, fz_u8(&in) == 0xff };
		}
	}
	memset(fd_host(&f, FD_DATA_BASE, AREA), 0, AREA);
	fz_bytes(&in, fd_host(&f, FD_DATA_BASE, AREA), in.len - in.off < AREA ? in.len - in.off : AREA);
	for (int c = 0; c < nchains; c++) {
		chain_len[c] = 0;
		chain_writable[c] = false;
		for (int i = 0; i < plan[c].n; i++) {
			segs[i] = plan[c].s[i];
			if (segs[i].writable)
				chain_writable[c] = true;
			else {
				memcpy(chain_bytes[c] + chain_len[c], fd_host(&f, segs[i].gpa, segs[i].len ? segs[i].len : 1),
				       segs[i].len);
				chain_len[c] += segs[i].len;
			}
		}
		heads[c] = fd_add_chain(&f, 1, segs, plan[c].n);
	}
	fd_notify(&f, 1);

	/* Wait for every chain back, or a reset request. */
	bool done = false;
	for (int i = 0; i < 50000 && !done; i++) {
		done = fd_used_idx(&f, 1) == nchains ||
		       (fd_rd(&f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
		if (!done)
			usleep(100);
	}
	FZ_CHECK(done);
	virtio_net_get_stats(d, &st);
	uint16_t used = fd_used_idx(&f, 1);
	for (uint16_t i = 0; i < used; i++) {
		struct virtq_used_elem e = fd_used_elem(&f, 1, i);

		FZ_CHECK(e.len == 0 && e.id == heads[i]);
	}
	FZ_CHECK(st.tx_frames == (uint64_t)fb.n && st.tx_frames + st.tx_dropped == used);

	/* Each frame sent is one chain's readable bytes, in order. */
	int c = 0;
	size_t hdr = tap ? 0 : NET_VNET_HDR_LEN;
	for (int k = 0; k < fb.n; k++) {
		size_t min = 14 + (tap ? NET_VNET_HDR_LEN : 0), max = 65550 + (tap ? NET_VNET_HDR_LEN : 0);

		FZ_CHECK(fb.len[k] >= min && fb.len[k] <= max);
		while (c < used && (chain_writable[c] || chain_len[c] < hdr ||
				    chain_len[c] - hdr != fb.len[k] ||
				    memcmp(chain_bytes[c] + hdr, fb.sent[k], fb.len[k])))
			c++;
		FZ_CHECK(c < used);
		c++;
		free(fb.sent[k]);
	}
	virtio_net_destroy(d);
	return 0;
}
