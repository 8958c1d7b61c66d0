/* adv.c - helpers shared by the adversarial guests: verdicts, device bring-up, blk requests. */
#include "adv.h"

int adv_failures;
uint8_t adv_scratch[1 << 20] __attribute__((aligned(4096)));

/* Queue memory for two queues of ADV_QSIZE: mvm_virtq_mem_size(16) is two pages. */
static uint8_t adv_qmem[2][2 * 4096] __attribute__((aligned(4096)));

/* Request pieces kept in .bss so they have stable guest-physical addresses. */
static struct { uint32_t type, reserved; uint64_t sector; } adv_hdr;
static volatile uint8_t adv_st;

void adv_fail(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	mvm_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mvm_printf("ADV-FAIL: %s\n", buf);
	adv_failures++;
}

int adv_finish(const char *name)
{
	if (adv_failures) {
		mvm_printf("ADV-FAILED %s: %d check(s) failed\n", name, adv_failures);
		return 1;
	}
	mvm_printf("ADV-PASS %s\n", name);
	return 0;
}

uint64_t adv_need(const struct mvm_bootinfo *bi, uint32_t id)
{
	uint64_t base = mvm_virtio_find(bi, id);

	if (!base) {
		mvm_printf("ADV-FAIL: no virtio device with id %u in the boot info (mvm flags?)\n", id);
		mvm_exit(1);
	}
	return base;
}

uint32_t adv_status(const struct adv_dev *d)
{
	return mmio_read32(d->base + VIRTIO_MMIO_STATUS);
}

int adv_up(struct adv_dev *d, uint64_t base, uint32_t id, uint64_t features, int nq)
{
	d->base = base;
	d->id = id;
	d->nq = nq;
	if (mvm_virtio_init(base, features)) {
		adv_fail("device %u at 0x%lx: feature negotiation failed (status 0x%x)", id,
			 (unsigned long)base, mmio_read32(base + VIRTIO_MMIO_STATUS));
		return -1;
	}
	for (int i = 0; i < nq; i++) {
		if (mvm_virtq_setup(&d->q[i], base, (uint16_t)i, ADV_QSIZE, adv_qmem[i]) ||
		    !mmio_read32(base + VIRTIO_MMIO_QUEUE_READY)) {
			adv_fail("device %u: queue %d setup refused (status 0x%x)", id, i,
				 mmio_read32(base + VIRTIO_MMIO_STATUS));
			return -1;
		}
	}
	mvm_virtio_driver_ok(base);
	if ((adv_status(d) & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) !=
	    VIRTIO_STATUS_DRIVER_OK) {
		adv_fail("device %u: status 0x%x after DRIVER_OK", id, adv_status(d));
		return -1;
	}
	return 0;
}

int adv_wait_needs_reset(const struct adv_dev *d)
{
	uint64_t end = mvm_time_mono_ns() + ADV_TIMEOUT_NS;

	while (mvm_time_mono_ns() < end)
		if (adv_status(d) & VIRTIO_STATUS_NEEDS_RESET)
			return 0;
	return -1;
}

void adv_reset(const struct adv_dev *d)
{
	mmio_write32(d->base + VIRTIO_MMIO_STATUS, 0);
	ADV_CHECK(adv_status(d) == 0, "device %u: status 0x%x after reset, want 0", d->id, adv_status(d));
	mmio_write32(d->base + VIRTIO_MMIO_QUEUE_SEL, 0);
	ADV_CHECK(mmio_read32(d->base + VIRTIO_MMIO_QUEUE_READY) == 0,
		  "device %u: queue 0 still ready after reset", d->id);
}

void adv_submit(struct adv_dev *d, int qi, uint16_t head)
{
	mvm_virtq_submit(&d->q[qi], head);
}

int adv_blk_rw(struct adv_dev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len,
	       uint16_t data_flags, uint8_t *status)
{
	struct mvm_virtq *q = &d->q[0];
	uint32_t id, used_len;

	adv_hdr.type = type;
	adv_hdr.reserved = 0;
	adv_hdr.sector = sector;
	adv_st = 0xff;
	q->desc[0] = (struct virtq_desc){ (uintptr_t)&adv_hdr, 16, VIRTQ_DESC_F_NEXT, 1 };
	q->desc[1] = (struct virtq_desc){ (uintptr_t)buf, len, data_flags | VIRTQ_DESC_F_NEXT, 2 };
	q->desc[2] = (struct virtq_desc){ (uintptr_t)&adv_st, 1, VIRTQ_DESC_F_WRITE, 0 };
	mvm_virtq_submit(q, 0);
	if (mvm_virtq_wait_used(q, &id, &used_len, ADV_TIMEOUT_NS))
		return -1;
	ADV_CHECK(id == 0, "blk: used id %u, want 0", id);
	*status = adv_st;
	return 0;
}

static int adv_usable_blk(struct adv_dev *d)
{
	uint8_t *viaq = adv_scratch, *viahc = adv_scratch + 4096, st = 0xff;
	int64_t r;

	memset(viaq, 0xa5, 4096);
	memset(viahc, 0x5a, 4096);
	if (adv_blk_rw(d, BLK_T_IN, 0, viaq, 4096, VIRTQ_DESC_F_WRITE, &st)) {
		adv_fail("blk after reset: a valid read got no used entry");
		return -1;
	}
	r = mvm_blk_read(0, viahc, 4096);
	ADV_CHECK(r == 4096, "blk hypercall read returned %ld", (long)r);
	if (st != BLK_S_OK || memcmp(viaq, viahc, 4096)) {
		adv_fail("blk after reset: read status %u, data %s the image", st,
			 memcmp(viaq, viahc, 4096) ? "differs from" : "matches");
		return -1;
	}
	return 0;
}

static int adv_usable_rng(struct adv_dev *d)
{
	struct mvm_virtq *q = &d->q[0];
	uint32_t id, len;
	uint8_t *buf = adv_scratch;

	memset(buf, 0, 64);
	q->desc[0] = (struct virtq_desc){ (uintptr_t)buf, 64, VIRTQ_DESC_F_WRITE, 0 };
	mvm_virtq_submit(q, 0);
	if (mvm_virtq_wait_used(q, &id, &len, ADV_TIMEOUT_NS)) {
		adv_fail("rng after reset: no used entry");
		return -1;
	}
	ADV_CHECK(len > 0 && len <= 64, "rng after reset: used len %u", len);
	return 0;
}

/* A broadcast ARP request behind a zeroed 12-byte virtio-net header. */
static int adv_usable_net(struct adv_dev *d)
{
	static const uint8_t arp[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
		0, 1, 8, 0, 6, 4, 0, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15,
		0, 0, 0, 0, 0, 0, 10, 0, 2, 2,
	};
	struct mvm_virtq *q = &d->q[1];
	uint8_t *buf = adv_scratch;
	uint32_t id, len;

	memset(buf, 0, 12);
	memcpy(buf + 12, arp, sizeof(arp));
	q->desc[0] = (struct virtq_desc){ (uintptr_t)buf, 12 + sizeof(arp), 0, 0 };
	mvm_virtq_submit(q, 0);
	if (mvm_virtq_wait_used(q, &id, &len, ADV_TIMEOUT_NS)) {
		adv_fail("net after reset: a tx frame was never completed");
		return -1;
	}
	return 0;
}

static int adv_usable_console(struct adv_dev *d)
{
	static const char line[] = "ADV-HVC-OK\n";
	struct mvm_virtq *q = &d->q[1];
	uint32_t id, len;

	memcpy(adv_scratch, line, sizeof(line) - 1);
	q->desc[0] = (struct virtq_desc){ (uintptr_t)adv_scratch, sizeof(line) - 1, 0, 0 };
	mvm_virtq_submit(q, 0);
	if (mvm_virtq_wait_used(q, &id, &len, ADV_TIMEOUT_NS)) {
		adv_fail("console after reset: the tx buffer was never completed");
		return -1;
	}
	return 0;
}

int adv_usable(struct adv_dev *d, uint64_t features)
{
	adv_reset(d);
	if (adv_up(d, d->base, d->id, features, d->nq))
		return -1;
	switch (d->id) {
	case VIRTIO_ID_BLOCK: return adv_usable_blk(d);
	case VIRTIO_ID_RNG: return adv_usable_rng(d);
	case VIRTIO_ID_NET: return adv_usable_net(d);
	case VIRTIO_ID_CONSOLE: return adv_usable_console(d);
	}
	return 0;
}
