/* vsock.c - adversarial guest: hostile packets and buffers against virtio-vsock.
 *
 * Run with --vsock cid=3,uds=PATH (nothing listens on PATH_*). Every tx chain here is a valid
 * chain holding a hostile packet, so the device must take each one back (used) and never ask
 * for a reset: headers from another CID or to one other than the host, lengths past the
 * buffer or past 64 KiB, unknown ops and socket types, flags and payloads where none belong,
 * chains shorter than a header or with a writable part; hundreds of packets of no connection
 * (each owes an RST: more than mvm queues) and of connection requests to ports nobody serves,
 * with rx buffers that are readable or too small. Every rx packet the device hands back must
 * be well-formed (CID 2 to 3, STREAM, a real op, its length inside the buffer). At the end a
 * REQUEST must still be answered by an RST from port 7 to our port.
 * Output: "ADV-PASS vsock" and exit 0, or ADV-FAIL lines and exit 1.
 */
#include <stdbool.h>

#include "adv.h"

#define VIRTIO_ID_VSOCK 19
#define QS     16
#define NRX    8
#define RXLEN  4096
#define HDR    44

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static uint8_t qmem[3][2 * 4096] __attribute__((aligned(4096)));
static uint8_t rxbuf[NRX][RXLEN] __attribute__((aligned(4096)));
static uint8_t txbuf[2][8192] __attribute__((aligned(4096)));
static struct mvm_virtq q[3];
static uint64_t base;
static unsigned rx_seen, rsts, tx_done;
static bool got_final;   /* the RST from port 7 to 4242 came */

static struct hdr pkt(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	return (struct hdr){ .src_cid = 3, .dst_cid = 2, .src_port = src_port,
			     .dst_port = dst_port, .type = 1, .op = op, .buf_alloc = 65536 };
}

/* rx buffer i in descriptor i (ids 0..NRX-1 are the rx buffers). */
static void post_rx(int i)
{
	q[0].desc[i] = (struct virtq_desc){ (uintptr_t)rxbuf[i], RXLEN, VIRTQ_DESC_F_WRITE, 0 };
	mvm_virtq_submit(&q[0], (uint16_t)i);
}

/* Check every rx packet that came back, and give its buffer back. */
static void drain_rx(void)
{
	uint32_t id, len;

	while (!mvm_virtq_wait_used(&q[0], &id, &len, 0)) {
		rx_seen++;
		if (id >= NRX) {   /* one of the hostile rx chains below */
			ADV_CHECK(len == 0, "rx: a bad buffer (id %u) came back with %u bytes", id, len);
			continue;
		}
		ADV_CHECK(len <= RXLEN, "rx: used len %u past the buffer", len);
		if (len >= HDR) {
			struct hdr h;

			memcpy(&h, rxbuf[id], sizeof(h));
			ADV_CHECK(h.src_cid == 2 && h.dst_cid == 3, "rx: cid %lu -> %lu",
				  (unsigned long)h.src_cid, (unsigned long)h.dst_cid);
			ADV_CHECK(h.type == 1 && h.op >= 1 && h.op <= 6, "rx: type %u op %u", h.type, h.op);
			ADV_CHECK(h.len == len - HDR, "rx: header len %u, used %u", h.len, len);
			if (h.op == 3)
				rsts++;
			if (h.op == 3 && h.src_port == 7 && h.dst_port == 4242)
				got_final = true;
		} else {
			ADV_CHECK(len == 0, "rx: %u bytes, less than a header", len);
		}
		post_rx((int)id);
	}
}

/* One tx chain (descriptors NRX.. of queue 1 are free: it is its own queue); it must come back. */
static void send_chain(const void *h, uint32_t hlen, const void *payload, uint32_t plen,
		       bool writable_tail)
{
	struct mvm_virtq *t = &q[1];
	uint32_t id, len;
	int n = 0;

	memcpy(txbuf[0], h, hlen);
	t->desc[n] = (struct virtq_desc){ (uintptr_t)txbuf[0], hlen, 0, (uint16_t)(n + 1) };
	n++;
	if (plen) {
		memcpy(txbuf[1], payload, plen);
		t->desc[n - 1].flags = VIRTQ_DESC_F_NEXT;
		t->desc[n] = (struct virtq_desc){ (uintptr_t)txbuf[1], plen, 0, (uint16_t)(n + 1) };
		n++;
	}
	if (writable_tail) {
		t->desc[n - 1].flags |= VIRTQ_DESC_F_NEXT;
		t->desc[n] = (struct virtq_desc){ (uintptr_t)txbuf[1] + 4096, 64, VIRTQ_DESC_F_WRITE, 0 };
	}
	mvm_virtq_submit(t, 0);
	if (mvm_virtq_wait_used(t, &id, &len, ADV_TIMEOUT_NS)) {
		adv_fail("tx: a chain was not given back (packet op %u)", ((const struct hdr *)h)->op);
		mvm_exit(1);
	}
	tx_done++;
	ADV_CHECK(!(mmio_read32(base + VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET),
		  "the device asked for a reset after a valid chain (tx %u)", tx_done);
	drain_rx();
}

static void send_pkt(struct hdr h, const void *payload, uint32_t plen)
{
	send_chain(&h, HDR, payload, plen, false);
}

int mvm_main(const struct mvm_bootinfo *bi)
{
	static uint8_t junk[8192];
	struct hdr h;

	base = adv_need(bi, VIRTIO_ID_VSOCK);
	mvm_printf("ADV-START vsock\n");
	if (mvm_virtio_init(base, 0)) {
		adv_fail("feature negotiation failed");
		return adv_finish("vsock");
	}
	for (int i = 0; i < 3; i++)
		if (mvm_virtq_setup(&q[i], base, (uint16_t)i, QS, qmem[i])) {
			adv_fail("queue %d setup refused", i);
			return adv_finish("vsock");
		}
	mvm_virtio_driver_ok(base);
	ADV_CHECK(mmio_read32(base + VIRTIO_MMIO_CONFIG) == 3, "config: guest_cid %u, want 3",
		  mmio_read32(base + VIRTIO_MMIO_CONFIG));
	for (int i = 0; i < NRX; i++)
		post_rx(i);
	memset(junk, 0x5a, sizeof(junk));

	/* Headers that name the wrong CIDs, or lie about their length: dropped. */
	h = pkt(1, 100, 7); h.src_cid = 4; send_pkt(h, NULL, 0);
	h = pkt(1, 100, 7); h.src_cid = 2; send_pkt(h, NULL, 0);
	h = pkt(1, 100, 7); h.dst_cid = 3; send_pkt(h, NULL, 0);
	h = pkt(1, 100, 7); h.dst_cid = ~0ULL; send_pkt(h, NULL, 0);
	h = pkt(5, 100, 7); h.len = 100; send_pkt(h, junk, 10);
	h = pkt(5, 100, 7); h.len = 0xffffffff; send_pkt(h, junk, 4096);
	h = pkt(5, 100, 7); h.len = 70000; send_pkt(h, junk, 8192);
	/* Unknown ops and types, flags and payloads where none belong: RST (or nothing). */
	for (uint16_t op = 0; op < 12; op++) {
		h = pkt(op, 200 + op, 7); h.type = 2; send_pkt(h, NULL, 0);
		h = pkt(op, 300 + op, 7); h.flags = 0xffffffff; send_pkt(h, NULL, 0);
		h = pkt(op, 400 + op, 7); h.len = 16; send_pkt(h, junk, 16);
	}
	/* Chains that are no packet: shorter than a header, a header split at every byte, a
	 * writable segment. */
	h = pkt(1, 500, 7);
	send_chain(&h, 20, NULL, 0, false);
	send_chain(&h, 1, NULL, 0, false);
	for (uint32_t cut = 1; cut < HDR; cut += 7)
		send_chain(&h, cut, (const uint8_t *)&h + cut, HDR - cut, false);
	send_chain(&h, HDR, NULL, 0, true);
	/* Packets of no connection, far more than the RST queue holds, while the rx buffers
	 * run out; then connection requests to ports nobody serves. */
	for (unsigned i = 0; i < 300; i++) {
		static const uint16_t ops[] = { 2, 4, 5, 6, 7 };

		h = pkt(ops[i % 5], 1000 + i, 40000 + i);
		send_pkt(h, junk, ops[i % 5] == 5 ? 100 : 0);
	}
	for (unsigned i = 0; i < 300; i++)
		send_pkt(pkt(1, 2000 + i, 50000 + i), NULL, 0);
	/* rx chains the device cannot use: readable, or smaller than a header. */
	q[0].desc[NRX] = (struct virtq_desc){ (uintptr_t)junk, 512, 0, 0 };
	mvm_virtq_submit(&q[0], NRX);
	q[0].desc[NRX + 1] = (struct virtq_desc){ (uintptr_t)junk + 1024, 10, VIRTQ_DESC_F_WRITE, 0 };
	mvm_virtq_submit(&q[0], NRX + 1);
	send_pkt(pkt(7, 3000, 60000), NULL, 0);

	/* Let the owed RSTs out (each buffer given back brings the next) until 0.2 s pass quiet. */
	{
		uint64_t quiet = mvm_time_mono_ns() + 200000000ULL, end = quiet + ADV_TIMEOUT_NS;
		unsigned seen = rx_seen;

		while (mvm_time_mono_ns() < quiet && mvm_time_mono_ns() < end) {
			drain_rx();
			if (rx_seen != seen) {
				seen = rx_seen;
				quiet = mvm_time_mono_ns() + 200000000ULL;
			}
		}
	}
	/* Still serving: a REQUEST to port 7 (nobody there) gets its RST. */
	{
		uint64_t end = mvm_time_mono_ns() + ADV_TIMEOUT_NS;

		send_pkt(pkt(1, 4242, 7), NULL, 0);
		while (!got_final && mvm_time_mono_ns() < end)
			drain_rx();
		ADV_CHECK(got_final, "no RST for a REQUEST to port 7 at the end (%u RSTs before)", rsts);
	}
	ADV_CHECK(!(mmio_read32(base + VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET),
		  "NEEDS_RESET at the end");
	mvm_printf("ADV-MARK vsock: %u tx chains, %u rx packets, %u RSTs\n", tx_done, rx_seen, rsts);
	return adv_finish("vsock");
}
