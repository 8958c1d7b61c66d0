/* virtq.c - adversarial guest: malformed virtqueue chains against blk, rng, net and console.
 *
 * Command line: case=NAME dev=blk|rng|net|console. Every ring-level case
 * writes one hostile chain (or avail index) to the device's "busy" queue
 * (blk/rng queue 0, net/console transmit queue 1), notifies, and expects the
 * device to set DEVICE_NEEDS_RESET without completing it; then the device is
 * reset and must work again. The blk-only cases (zero-len, out-writable,
 * ro-status, bad-sector) check the request's status byte. Output:
 * "ADV-PASS case/dev" and exit 0, or ADV-FAIL lines and exit 1.
 */
#include "adv.h"

#define HOLE_START  0xc0000000ULL
#define VIRTIO_WIN  0xd0000000ULL
#define LAPIC       0xfee00000ULL

static const struct mvm_bootinfo *bi;
static struct adv_dev dev;
static int aq;             /* attacked queue */
static uint16_t dflags;    /* the direction the device expects: WRITE or 0 */
static uint64_t feats;     /* features we negotiate */

/* Indirect tables and data live in adv_scratch; the usability check after
 * reset reuses only its first two pages. */
#define TABLE   ((struct virtq_desc *)(adv_scratch + 0x10000))
#define TABLE2  ((struct virtq_desc *)(adv_scratch + 0x20000))
#define DATA    (adv_scratch + 0x30000)

static struct virtq_desc mk(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	return (struct virtq_desc){ addr, len, flags, next };
}

/* The ring-level attacks: set up descriptors, return the head to submit,
 * or -1 when the case published its own avail entries. */
static int ring_attack(const char *c)
{
	struct mvm_virtq *q = &dev.q[aq];
	uint16_t f = dflags;

	if (!strcmp(c, "loop-direct")) {
		/* 0 -> 1 -> 2 -> 0, one direction so only the loop check can stop it. */
		q->desc[0] = mk((uintptr_t)DATA, 512, f | VIRTQ_DESC_F_NEXT, 1);
		q->desc[1] = mk((uintptr_t)DATA + 512, 512, f | VIRTQ_DESC_F_NEXT, 2);
		q->desc[2] = mk((uintptr_t)DATA + 1024, 512, f | VIRTQ_DESC_F_NEXT, 0);
		return 0;
	}
	if (!strcmp(c, "loop-self")) {
		q->desc[5] = mk((uintptr_t)DATA, 512, f | VIRTQ_DESC_F_NEXT, 5);
		return 5;
	}
	if (!strcmp(c, "loop-indirect")) {
		/* An indirect table of 4 whose chain runs 0 1 2 3 1 2 3 ... */
		for (int i = 0; i < 4; i++)
			TABLE[i] = mk((uintptr_t)DATA + 512 * i, 512, f | VIRTQ_DESC_F_NEXT, i == 3 ? 1 : i + 1);
		q->desc[0] = mk((uintptr_t)TABLE, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-nested")) {
		TABLE2[0] = mk((uintptr_t)DATA, 512, f, 0);
		TABLE[0] = mk((uintptr_t)TABLE2, 16, VIRTQ_DESC_F_INDIRECT, 0);
		q->desc[0] = mk((uintptr_t)TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-noneg")) {   /* run with feats lacking INDIRECT_DESC */
		TABLE[0] = mk((uintptr_t)DATA, 512, f, 0);
		q->desc[0] = mk((uintptr_t)TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-outside")) {   /* the table starts past the end of RAM */
		q->desc[0] = mk(bi->low_mem_end + 0x1000, 64, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-hole")) {      /* the table is the device's own window */
		q->desc[0] = mk(dev.base, 64, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-lapic")) {
		q->desc[0] = mk(LAPIC, 64, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-straddle")) {  /* last 32 bytes of RAM and 32 beyond */
		q->desc[0] = mk(bi->low_mem_end - 32, 64, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-len0")) {
		TABLE[0] = mk((uintptr_t)DATA, 512, f, 0);
		q->desc[0] = mk((uintptr_t)TABLE, 0, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-len17")) {
		TABLE[0] = mk((uintptr_t)DATA, 512, f, 0);
		q->desc[0] = mk((uintptr_t)TABLE, 17, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-huge")) {
		q->desc[0] = mk((uintptr_t)TABLE, 0xfffffff0u, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-long")) {      /* 300 segments: past the 256-segment cap */
		for (int i = 0; i < 300; i++)
			TABLE[i] = mk((uintptr_t)DATA + 16 * i, 16, f | (i < 299 ? VIRTQ_DESC_F_NEXT : 0), i + 1);
		q->desc[0] = mk((uintptr_t)TABLE, 300 * 16, VIRTQ_DESC_F_INDIRECT, 0);
		return 0;
	}
	if (!strcmp(c, "indirect-next")) {      /* INDIRECT together with NEXT */
		TABLE[0] = mk((uintptr_t)DATA, 512, f, 0);
		q->desc[0] = mk((uintptr_t)TABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
		q->desc[1] = mk((uintptr_t)DATA, 512, f, 0);
		return 0;
	}
	if (!strcmp(c, "buf-end-of-ram")) {     /* 256 bytes of RAM, 256 past its end */
		q->desc[0] = mk(bi->low_mem_end - 256, 512, f, 0);
		return 0;
	}
	if (!strcmp(c, "buf-past-ram")) {
		q->desc[0] = mk(bi->low_mem_end, 512, f, 0);
		return 0;
	}
	if (!strcmp(c, "buf-hole")) {           /* a buffer on a virtio-mmio window */
		q->desc[0] = mk(VIRTIO_WIN, 512, f, 0);
		return 0;
	}
	if (!strcmp(c, "buf-hole-span")) {
		/* Needs --mem 3200M: low RAM ends at the hole; the buffer runs from
		 * RAM into it. The next one runs from the hole into RAM at 4 GiB. */
		if (bi->low_mem_end != HOLE_START)
			adv_fail("buf-hole-span wants low RAM to end at 0xc0000000 (got 0x%lx): run with --mem 3200M",
				 (unsigned long)bi->low_mem_end);
		q->desc[0] = mk(HOLE_START - 256, 512, f | VIRTQ_DESC_F_NEXT, 1);
		q->desc[1] = mk(0x100000000ULL - 256, 512, f, 0);
		return 0;
	}
	if (!strcmp(c, "buf-wrap")) {           /* addr + len wraps 64 bits */
		q->desc[0] = mk(0xffffffffffffff00ULL, 512, f, 0);
		return 0;
	}
	if (!strcmp(c, "len-huge")) {
		q->desc[0] = mk((uintptr_t)DATA, 0xffffffffu, f, 0);
		return 0;
	}
	if (!strcmp(c, "head-oob")) {
		q->desc[0] = mk((uintptr_t)DATA, 512, f, 0);
		return 0xffff;
	}
	if (!strcmp(c, "next-oob")) {
		q->desc[0] = mk((uintptr_t)DATA, 512, f | VIRTQ_DESC_F_NEXT, 999);
		return 0;
	}
	if (!strcmp(c, "avail-jump")) {         /* idx runs size + 5 ahead */
		q->desc[0] = mk((uintptr_t)DATA, 512, f, 0);
		for (int i = 0; i < ADV_QSIZE; i++)
			q->avail[2 + i] = 0;
		mb();
		q->avail[1] = (uint16_t)(q->next_avail + ADV_QSIZE + 5);
		mb();
		mmio_write32(dev.base + VIRTIO_MMIO_QUEUE_NOTIFY, (uint32_t)aq);
		return -1;
	}
	adv_fail("unknown case %s", c);
	mvm_exit(1);
}

static int is_ring_case(const char *c)
{
	static const char *const names[] = {
		"loop-direct", "loop-self", "loop-indirect", "indirect-nested", "indirect-noneg",
		"indirect-outside", "indirect-hole", "indirect-lapic", "indirect-straddle",
		"indirect-len0", "indirect-len17", "indirect-huge", "indirect-long", "indirect-next",
		"buf-end-of-ram", "buf-past-ram", "buf-hole", "buf-hole-span", "buf-wrap", "len-huge",
		"head-oob", "next-oob", "avail-jump",
	};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(c, names[i]))
			return 1;
	return 0;
}

/* Nothing may come back for a chain the device refused: used idx stays. */
static void expect_needs_reset(const char *c)
{
	struct mvm_virtq *q = &dev.q[aq];

	if (adv_wait_needs_reset(&dev))
		adv_fail("%s: no DEVICE_NEEDS_RESET within the timeout (status 0x%x)", c, adv_status(&dev));
	else
		mvm_printf("ADV-MARK %s: status 0x%x (NEEDS_RESET)\n", c, adv_status(&dev));
	ADV_CHECK(*(volatile uint16_t *)(q->used + 2) == q->last_used,
		  "%s: the device completed a refused chain (used idx %u)", c,
		  *(volatile uint16_t *)(q->used + 2));
}

/* A request the device may refuse either way: completed (used entry) or
 * NEEDS_RESET. Either is fine; silence is not. */
static void expect_needs_reset_or_done(const char *c)
{
	struct mvm_virtq *q = &dev.q[aq];
	uint64_t end = mvm_time_mono_ns() + ADV_TIMEOUT_NS;

	while (mvm_time_mono_ns() < end) {
		if (adv_status(&dev) & VIRTIO_STATUS_NEEDS_RESET) {
			mvm_printf("ADV-MARK %s: status 0x%x (NEEDS_RESET)\n", c, adv_status(&dev));
			return;
		}
		if (*(volatile uint16_t *)(q->used + 2) != q->last_used) {
			q->last_used = *(volatile uint16_t *)(q->used + 2);
			mvm_printf("ADV-MARK %s: request completed (refused)\n", c);
			return;
		}
	}
	adv_fail("%s: neither a used entry nor NEEDS_RESET within the timeout", c);
}

/* The blk cases that are well-formed rings but wrong requests. */
static void blk_case(const char *c)
{
	uint64_t cap = mmio_read64(dev.base + VIRTIO_MMIO_CONFIG);
	struct mvm_virtq *q = &dev.q[0];
	uint8_t st = 0xff, *data = DATA;
	uint32_t id, len;

	if (!strcmp(c, "zero-len")) {
		/* A read of 0 bytes: IOERR, completed. */
		if (adv_blk_rw(&dev, BLK_T_IN, 0, data, 0, VIRTQ_DESC_F_WRITE, &st))
			adv_fail("zero-len: no used entry for a 0-byte read");
		else
			ADV_CHECK(st == BLK_S_IOERR, "zero-len: status %u for a 0-byte read, want IOERR", st);
		/* A chain whose every length is 0 has no status byte: NEEDS_RESET
		 * (a used entry with len 0 may come back too). */
		q->desc[0] = mk((uintptr_t)data, 0, VIRTQ_DESC_F_NEXT, 1);
		q->desc[1] = mk((uintptr_t)data, 0, VIRTQ_DESC_F_WRITE, 0);
		mvm_virtq_submit(q, 0);
		expect_needs_reset_or_done(c);
		return;
	}
	if (!strcmp(c, "out-writable")) {
		/* An OUT whose data the device could write: refused with IOERR,
		 * nothing reaches the image (run.sh compares checksums). */
		memset(data, 0xee, 4096);
		if (adv_blk_rw(&dev, BLK_T_OUT, 0, data, 4096, VIRTQ_DESC_F_WRITE, &st))
			adv_fail("out-writable: no used entry");
		else
			ADV_CHECK(st == BLK_S_IOERR, "out-writable: status %u, want IOERR", st);
		ADV_CHECK(data[0] == 0xee && data[4095] == 0xee, "out-writable: the device wrote the OUT data");
		return;
	}
	if (!strcmp(c, "ro-status")) {
		/* IN with a device-readable status after writable data: the
		 * readable-after-writable rule breaks the queue. */
		static struct { uint32_t t, r; uint64_t s; } hdr = { BLK_T_IN, 0, 0 };
		static uint8_t sb = 0x77;

		q->desc[0] = mk((uintptr_t)&hdr, 16, VIRTQ_DESC_F_NEXT, 1);
		q->desc[1] = mk((uintptr_t)data, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
		q->desc[2] = mk((uintptr_t)&sb, 1, 0, 0);
		mvm_virtq_submit(q, 0);
		expect_needs_reset(c);
		ADV_CHECK(sb == 0x77, "ro-status: the device wrote a read-only status byte");
		if (adv_usable(&dev, feats))
			return;
		/* Header and a read-only status only: no writable byte at all. */
		q->desc[0] = mk((uintptr_t)&hdr, 16, VIRTQ_DESC_F_NEXT, 1);
		q->desc[1] = mk((uintptr_t)&sb, 1, 0, 0);
		mvm_virtq_submit(q, 0);
		expect_needs_reset_or_done(c);
		ADV_CHECK(sb == 0x77, "ro-status: the device wrote a read-only status byte");
		return;
	}
	if (!strcmp(c, "bad-sector")) {
		/* Writes past the capacity through virtio-blk and the hypercall:
		 * all refused, the image unchanged (run.sh compares checksums). */
		static const uint64_t sectors[] = { 0, 0, 0xffffffffffffffffULL, 1ULL << 55, 0xfffffffffffffff8ULL };
		uint64_t s[5] = { cap, cap - 1, sectors[2], sectors[3], sectors[4] };
		struct mvm_hc_blkinfo info = { 0 };
		int64_t r;

		mvm_printf("ADV-MARK bad-sector: capacity %lu sectors\n", (unsigned long)cap);
		ADV_CHECK(mvm_blk_info(&info) == 0 && info.sectors == cap,
			  "bad-sector: config capacity %lu, hypercall says %lu", (unsigned long)cap,
			  (unsigned long)info.sectors);
		memset(data, 0xee, 8192);
		for (int i = 0; i < 5; i++) {
			if (adv_blk_rw(&dev, BLK_T_OUT, s[i], data, 1024, 0, &st))
				adv_fail("bad-sector: no used entry for a write at sector %lu", (unsigned long)s[i]);
			else
				ADV_CHECK(st == BLK_S_IOERR, "bad-sector: write at %lu: status %u, want IOERR",
					  (unsigned long)s[i], st);
			if (adv_blk_rw(&dev, BLK_T_IN, s[i], data + 4096, 1024, VIRTQ_DESC_F_WRITE, &st))
				adv_fail("bad-sector: no used entry for a read at sector %lu", (unsigned long)s[i]);
			else
				ADV_CHECK(st == BLK_S_IOERR, "bad-sector: read at %lu: status %u, want IOERR",
					  (unsigned long)s[i], st);
			r = mvm_blk_write(s[i], data, 1024);
			ADV_CHECK(r == -MVM_EINVAL, "bad-sector: hypercall write at %lu returned %ld, want -EINVAL",
				  (unsigned long)s[i], (long)r);
		}
		return;
	}
	(void)id; (void)len;
	adv_fail("unknown case %s", c);
}

int mvm_main(const struct mvm_bootinfo *b)
{
	char c[32] = "", dv[16] = "blk", name[64];
	uint32_t id;

	bi = b;
	mvm_cmdline_get(bi, "case", c, sizeof(c));
	mvm_cmdline_get(bi, "dev", dv, sizeof(dv));
	mvm_snprintf(name, sizeof(name), "%s/%s", c, dv);
	if (!strcmp(dv, "blk")) { id = VIRTIO_ID_BLOCK; aq = 0; dflags = VIRTQ_DESC_F_WRITE; }
	else if (!strcmp(dv, "rng")) { id = VIRTIO_ID_RNG; aq = 0; dflags = VIRTQ_DESC_F_WRITE; }
	else if (!strcmp(dv, "net")) { id = VIRTIO_ID_NET; aq = 1; dflags = 0; }
	else if (!strcmp(dv, "console")) { id = VIRTIO_ID_CONSOLE; aq = 1; dflags = 0; }
	else { adv_fail("unknown dev=%s", dv); return 1; }

	feats = strcmp(c, "indirect-noneg") ? 1ULL << VIRTIO_F_INDIRECT_DESC : 0;
	if (adv_up(&dev, adv_need(bi, id), id, feats, aq + 1))
		return adv_finish(name);
	mvm_printf("ADV-START %s\n", name);
	if (is_ring_case(c)) {
		int head = ring_attack(c);

		if (head >= 0)
			adv_submit(&dev, aq, (uint16_t)head);
		expect_needs_reset(c);
		adv_usable(&dev, feats);
	} else {
		if (id != VIRTIO_ID_BLOCK) {
			adv_fail("case %s is for dev=blk", c);
			return 1;
		}
		blk_case(c);
		adv_usable(&dev, feats);
	}
	return adv_finish(name);
}
