/* transport.c - adversarial guest: the virtio-mmio registers themselves.
 *
 * Command line: case=NAME [dev=blk|rng|net|console] [storm=N] [idle=SECONDS]
 * [rounds=N]. queue-* cases give QueueReady a bad ring (outside RAM, in the
 * MMIO hole, misaligned, a size that is not a power of two...) and expect
 * NEEDS_RESET with the queue not ready, then a reset and a working device;
 * config reads/writes the whole config space and registers at every width
 * and odd offsets; status-order writes status bits out of order; reset-mid-io
 * fills the blk queue and resets at once; notify-storm writes QueueNotify
 * storm times, completes a request, then idles idle seconds (run.sh measures
 * mvm's threads meanwhile). Output: "ADV-PASS case/dev", exit 0.
 */
#include "adv.h"

static const struct mvm_bootinfo *bi;
static struct adv_dev dev;
static uint8_t qmem[4][4 * 4096] __attribute__((aligned(4096)));

static void w32(uint32_t off, uint32_t v) { mmio_write32(dev.base + off, v); }
static uint32_t r32(uint32_t off) { return mmio_read32(dev.base + off); }

/* Handshake up to FEATURES_OK, then program queue 0 by hand. */
static void bad_queue(const char *what, uint32_t num, uint64_t desc, uint64_t drv, uint64_t devr)
{
	mmio_write32(dev.base + VIRTIO_MMIO_STATUS, 0);
	if (mvm_virtio_init(dev.base, 0)) {
		adv_fail("%s: feature negotiation failed", what);
		return;
	}
	w32(VIRTIO_MMIO_QUEUE_SEL, 0);
	w32(VIRTIO_MMIO_QUEUE_NUM, num);
	w32(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	w32(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	w32(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)drv);
	w32(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(drv >> 32));
	w32(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)devr);
	w32(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(devr >> 32));
	w32(VIRTIO_MMIO_QUEUE_READY, 1);
	ADV_CHECK(r32(VIRTIO_MMIO_QUEUE_READY) == 0, "%s: QueueReady reads 1 for a bad queue", what);
	ADV_CHECK(r32(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET,
		  "%s: status 0x%x lacks NEEDS_RESET", what, r32(VIRTIO_MMIO_STATUS));
	/* DRIVER_OK on a device that needs a reset must not activate it. */
	w32(VIRTIO_MMIO_STATUS, r32(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	/* A notify on the never-enabled queue must be harmless. */
	w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	mvm_printf("ADV-MARK %s: status 0x%x\n", what, r32(VIRTIO_MMIO_STATUS));
	adv_usable(&dev, 0);
}

static void queue_cases(const char *c)
{
	uint64_t m = (uintptr_t)qmem[0], end = bi->low_mem_end;
	uint64_t good_d = m, good_a = m + 256, good_u = m + 4096;

	if (!strcmp(c, "queue-outside")) {
		bad_queue("desc past RAM", 16, end + 0x10000, good_a, good_u);
		bad_queue("avail past RAM", 16, good_d, end + 0x10000, good_u);
		bad_queue("used past RAM", 16, good_d, good_a, end + 0x10000);
		bad_queue("used straddles the end of RAM", 16, good_d, good_a, end - 64);
		bad_queue("desc above 4 GiB", 16, 0x123400000000ULL, good_a, good_u);
		bad_queue("desc wraps 64 bits", 16, 0xfffffffffffffff0ULL, good_a, good_u);
	} else if (!strcmp(c, "queue-hole")) {
		bad_queue("desc on a virtio window", 16, 0xd0000000ULL, good_a, good_u);
		bad_queue("avail on the IOAPIC", 16, good_d, 0xfec00000ULL, good_u);
		bad_queue("used on the LAPIC", 16, good_d, good_a, 0xfee00000ULL);
		bad_queue("desc at the hole start", 16, 0xc0000000ULL, good_a, good_u);
	} else if (!strcmp(c, "queue-size")) {
		bad_queue("size 3", 3, good_d, good_a, good_u);
		bad_queue("size 0", 0, good_d, good_a, good_u);
		bad_queue("size 17", 17, good_d, good_a, good_u);
		bad_queue("size 32768 (past QueueNumMax)", 32768, good_d, good_a, good_u);
		bad_queue("size 0x10000", 0x10000, good_d, good_a, good_u);
		bad_queue("size 0xffffffff", 0xffffffffu, good_d, good_a, good_u);
	} else if (!strcmp(c, "queue-misaligned")) {
		bad_queue("desc at +8", 16, good_d + 8, good_a, good_u);
		bad_queue("avail at +1", 16, good_d, good_a + 1, good_u);
		bad_queue("used at +2", 16, good_d, good_a, good_u + 2);
	}
}

/* QueueSel out of range: every queue register ignored, nothing enabled. */
static void queue_sel_case(void)
{
	static const uint32_t sels[] = { 2, 7, 8, 9, 255, 0x10000, 0xffffffffu };

	mmio_write32(dev.base + VIRTIO_MMIO_STATUS, 0);
	if (mvm_virtio_init(dev.base, 0)) {
		adv_fail("queue-sel: feature negotiation failed");
		return;
	}
	for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		uint64_t m = (uintptr_t)qmem[1];

		w32(VIRTIO_MMIO_QUEUE_SEL, sels[i]);
		/* Every selector here is past the last queue (at most 2). */
		ADV_CHECK(r32(VIRTIO_MMIO_QUEUE_NUM_MAX) == 0,
			  "queue-sel %u: QueueNumMax %u, want 0", sels[i], r32(VIRTIO_MMIO_QUEUE_NUM_MAX));
		w32(VIRTIO_MMIO_QUEUE_NUM, 16);
		w32(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)m);
		w32(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)m + 256);
		w32(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)m + 4096);
		w32(VIRTIO_MMIO_QUEUE_READY, 1);
		w32(VIRTIO_MMIO_QUEUE_NOTIFY, sels[i]);
		ADV_CHECK(r32(VIRTIO_MMIO_QUEUE_READY) == 0, "queue-sel %u: QueueReady reads 1", sels[i]);
	}
	adv_usable(&dev, 0);
}

/* 16-byte SSE load/store: KVM's emulator hands mvm a 16-byte access. */
static void sse_access(uint64_t a)
{
	uint8_t buf[16] __attribute__((aligned(16)));

	__asm__ volatile("movdqu (%1), %%xmm0; movdqu %%xmm0, (%0)" :: "r"(buf), "r"(a) : "xmm0", "memory");
	__asm__ volatile("movdqu (%0), %%xmm0; movdqu %%xmm0, (%1)" :: "r"(buf), "r"(a) : "xmm0", "memory");
}

static void config_case(void)
{
	uint64_t sum = 0, cap = 0;
	struct mvm_hc_blkinfo info = { 0 };

	/* Every offset of the window at every width, reads. */
	for (uint32_t off = 0; off < 0x1000; off++) {
		sum += mmio_read8(dev.base + off);
		if (off <= 0x1000 - 2) sum += mmio_read16(dev.base + off);
		if (off <= 0x1000 - 4) sum += mmio_read32(dev.base + off);
		if (off <= 0x1000 - 8 && !(off & 7)) sum += mmio_read64(dev.base + off);
	}
	/* Writes past the config space, at odd offsets and widths. */
	for (uint32_t off = 0x100; off < 0x1000; off += 0x3f) {
		mmio_write8(dev.base + off, 0xff);
		mmio_write16(dev.base + off + 1, 0xffff);
		mmio_write32(dev.base + off + 3, 0xffffffffu);
		mmio_write64(dev.base + (off & ~7u), ~0ULL);
	}
	/* Registers at the wrong width and misaligned. */
	for (uint32_t off = 0; off < 0x100; off++) {
		mmio_write8(dev.base + off, 0);
		if (off & 3)
			mmio_write32(dev.base + off, 0xffffffffu);
		if (!(off & 1))
			mmio_write16(dev.base + off, 0);
	}
	mmio_write64(dev.base + VIRTIO_MMIO_STATUS, 0xffffffffffffffffULL);
	/* Past the window's end into the next one, and SSE widths. */
	sum += mmio_read64(dev.base + 0xffc);
	mmio_write64(dev.base + 0xffc, 0);
	sse_access(dev.base + 0x100);
	sse_access(dev.base + 0x70);
	sse_access(dev.base + 0xff8);
	mvm_printf("ADV-MARK config: read sum 0x%lx\n", (unsigned long)sum);
	/* The device still answers and (blk) the capacity still reads right. */
	ADV_CHECK(r32(VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC, "config: magic lost");
	if (dev.id == VIRTIO_ID_BLOCK) {
		cap = mmio_read64(dev.base + VIRTIO_MMIO_CONFIG);
		mvm_blk_info(&info);
		ADV_CHECK(cap == info.sectors, "config: capacity %lu after the writes, want %lu",
			  (unsigned long)cap, (unsigned long)info.sectors);
	}
	adv_usable(&dev, 0);
}

/* Status bits out of order, cleared bits, DRIVER_OK before FEATURES_OK. */
static void status_case(void)
{
	static const uint32_t seq[][4] = {
		{ VIRTIO_STATUS_DRIVER_OK, 0, 0, 0 },
		{ VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER_OK, 0, 0 },
		{ VIRTIO_STATUS_ACKNOWLEDGE, 3, 3 | VIRTIO_STATUS_DRIVER_OK, 0 },
		{ 3, 1, 0x7f, 0xffffffffu },
		{ VIRTIO_STATUS_FAILED, 0xff, 3, VIRTIO_STATUS_NEEDS_RESET },
	};

	for (unsigned i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		w32(VIRTIO_MMIO_STATUS, 0);
		for (int j = 0; j < 4 && seq[i][j]; j++)
			w32(VIRTIO_MMIO_STATUS, seq[i][j]);
		ADV_CHECK(!(r32(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK) ||
			  (r32(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK),
			  "status sequence %u: DRIVER_OK without FEATURES_OK (0x%x)", i, r32(VIRTIO_MMIO_STATUS));
		/* Features written outside negotiation. */
		w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 5);
		w32(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
		w32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffffu);
		(void)r32(VIRTIO_MMIO_DEVICE_FEATURES);
		w32(VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffffu);
	}
	/* Accepting every feature bit (unoffered ones too): FEATURES_OK refused. */
	w32(VIRTIO_MMIO_STATUS, 0);
	w32(VIRTIO_MMIO_STATUS, 1);
	w32(VIRTIO_MMIO_STATUS, 3);
	w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
	w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
	w32(VIRTIO_MMIO_STATUS, 11);
	ADV_CHECK(!(r32(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK),
		  "status: FEATURES_OK accepted with every feature bit set");
	adv_usable(&dev, 0);
}

/* Fill a 256-entry blk queue with reads and with writes of the bytes the
 * image already holds, notify, and reset at once; rounds times. */
static void reset_mid_io(unsigned rounds)
{
	static struct { uint32_t t, r; uint64_t s; } hdr[128];
	static uint8_t st[128];
	uint8_t *img = adv_scratch + 0x10000;   /* the first 512 KiB of the image */
	struct mvm_virtq q;
	uint64_t cap;
	unsigned done_min = 80, done_max = 0;

	ADV_CHECK(mvm_blk_read(0, img, 1024 * 512) == 1024 * 512, "reset-mid-io: hypercall read failed");
	for (unsigned round = 0; round < rounds; round++) {
		mmio_write32(dev.base + VIRTIO_MMIO_STATUS, 0);
		if (mvm_virtio_init(dev.base, 0) ||
		    mvm_virtq_setup(&q, dev.base, 0, 256, qmem[0])) {
			adv_fail("reset-mid-io: setup failed in round %u", round);
			return;
		}
		mvm_virtio_driver_ok(dev.base);
		cap = mmio_read64(dev.base + VIRTIO_MMIO_CONFIG);
		for (int i = 0; i < 80; i++) {
			/* 80 chains of 3 descriptors: even reads, odd identical writes,
			 * every 8th an invalid write past the end. */
			uint64_t sec = (uint64_t)(i % 64) * 8;
			int wr = i & 1, bad = (i % 8) == 7;

			hdr[i].t = wr ? BLK_T_OUT : BLK_T_IN;
			hdr[i].r = 0;
			hdr[i].s = bad ? cap : sec;
			q.desc[3 * i] = (struct virtq_desc){ (uintptr_t)&hdr[i], 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 1) };
			q.desc[3 * i + 1] = (struct virtq_desc){
				wr ? (uintptr_t)img + sec * 512 : (uintptr_t)adv_scratch + 0x90000 + 4096 * (i % 64),
				4096, (wr ? 0 : VIRTQ_DESC_F_WRITE) | VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 2) };
			q.desc[3 * i + 2] = (struct virtq_desc){ (uintptr_t)&st[i], 1, VIRTQ_DESC_F_WRITE, 0 };
			q.avail[2 + i] = (uint16_t)(3 * i);
		}
		mb();
		q.avail[1] = 80;
		mb();
		w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		for (unsigned spin = 0; spin < (round % 4) * 50; spin++)
			cpu_relax();
		w32(VIRTIO_MMIO_STATUS, 0);
		ADV_CHECK(r32(VIRTIO_MMIO_STATUS) == 0, "reset-mid-io: status 0x%x after reset", r32(VIRTIO_MMIO_STATUS));
		/* After the reset returned, the device must not write the rings:
		 * snapshot used idx and look again a little later. */
		uint16_t u0 = *(volatile uint16_t *)(q.used + 2);
		uint64_t t = mvm_time_mono_ns() + 20000000ULL;

		done_min = u0 < done_min ? u0 : done_min;
		done_max = u0 > done_max ? u0 : done_max;

		while (mvm_time_mono_ns() < t)
			cpu_relax();
		ADV_CHECK(*(volatile uint16_t *)(q.used + 2) == u0,
			  "reset-mid-io: used idx moved after the reset returned (%u -> %u)", u0,
			  *(volatile uint16_t *)(q.used + 2));
	}
	/* How far the device got before each reset: evidence the resets hit I/O in flight. */
	mvm_printf("ADV-MARK reset-mid-io: %u rounds of 80 requests, %u to %u completed before the reset\n",
		   rounds, done_min, done_max);
	dev.nq = 1;
	adv_usable(&dev, 0);
}

static void notify_storm(uint64_t n, uint64_t idle)
{
	uint64_t t0, t1, end;

	if (adv_up(&dev, dev.base, dev.id, 0, dev.nq))
		return;
	t0 = mvm_time_mono_ns();
	for (uint64_t i = 0; i < n; i++)
		w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	/* Out-of-range queue numbers reach mvm (no ioeventfd matches them). */
	for (uint32_t i = 0; i < 1000; i++)
		w32(VIRTIO_MMIO_QUEUE_NOTIFY, 2 + i);
	t1 = mvm_time_mono_ns();
	mvm_printf("ADV-MARK notify-storm: %lu notifies in %lu ms (%lu ns each)\n", (unsigned long)n,
		   (unsigned long)((t1 - t0) / 1000000), (unsigned long)(n ? (t1 - t0) / n : 0));
	/* A normal request still completes (adv_usable resets first: do it by hand). */
	if (dev.id == VIRTIO_ID_BLOCK) {
		uint8_t s = 0xff;

		if (adv_blk_rw(&dev, BLK_T_IN, 0, adv_scratch, 512, VIRTQ_DESC_F_WRITE, &s) || s != BLK_S_OK)
			adv_fail("notify-storm: a read after the storm failed (status %u)", s);
	}
	ADV_CHECK(!(adv_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "notify-storm: NEEDS_RESET set");
	mvm_printf("ADV-IDLE-BEGIN %lu s\n", (unsigned long)idle);
	end = mvm_time_mono_ns() + idle * 1000000000ULL;
	while (mvm_time_mono_ns() < end) {
		/* Long pauses between clock reads: few exits while idle. */
		for (int i = 0; i < 100000; i++)
			cpu_relax();
	}
	mvm_printf("ADV-IDLE-END\n");
}

int mvm_main(const struct mvm_bootinfo *b)
{
	char c[32] = "", dv[16] = "blk", name[64];

	bi = b;
	mvm_cmdline_get(bi, "case", c, sizeof(c));
	mvm_cmdline_get(bi, "dev", dv, sizeof(dv));
	mvm_snprintf(name, sizeof(name), "%s/%s", c, dv);
	if (!strcmp(dv, "blk")) { dev.id = VIRTIO_ID_BLOCK; dev.nq = 1; }
	else if (!strcmp(dv, "rng")) { dev.id = VIRTIO_ID_RNG; dev.nq = 1; }
	else if (!strcmp(dv, "net")) { dev.id = VIRTIO_ID_NET; dev.nq = 2; }
	else if (!strcmp(dv, "console")) { dev.id = VIRTIO_ID_CONSOLE; dev.nq = 2; }
	else { adv_fail("unknown dev=%s", dv); return 1; }
	dev.base = adv_need(bi, dev.id);
	mvm_printf("ADV-START %s\n", name);

	if (!strncmp(c, "queue-", 6) && strcmp(c, "queue-sel"))
		queue_cases(c);
	else if (!strcmp(c, "queue-sel"))
		queue_sel_case();
	else if (!strcmp(c, "config"))
		config_case();
	else if (!strcmp(c, "status-order"))
		status_case();
	else if (!strcmp(c, "reset-mid-io") && dev.id == VIRTIO_ID_BLOCK)
		reset_mid_io((unsigned)mvm_cmdline_u64(bi, "rounds", 20));
	else if (!strcmp(c, "notify-storm"))
		notify_storm(mvm_cmdline_u64(bi, "storm", 1000000), mvm_cmdline_u64(bi, "idle", 4));
	else
		adv_fail("unknown case %s for dev=%s", c, dv);
	return adv_finish(name);
}
