/* ports.c - adversarial guest: unclaimed port I/O and MMIO at every width.
 *
 * Command line: case=ports [stride=N] (IN of every port 0-0xffff, OUT at
 * widths 1/2/4 to every port below 0x1000 and every stride-th above, except
 * the ports that end the VM by design and the UART's output; REP INSB/OUTSB
 * of 4096 bytes), case=mmio (reads and writes at widths 1-16, REP MOVS/STOS,
 * accesses straddling the end of RAM, on unclaimed addresses of the MMIO
 * hole and past RAM). mvm must keep running; exit 0 with ADV-PASS.
 */
#include "adv.h"

static const struct mvm_bootinfo *bi;

/* Writing these ends the VM on purpose (pvpanic, ACPI sleep and reset, the
 * i8042 reset command, the hypercalls) or prints (COM1). QEMU's debug-exit
 * port 0xf4 is written too: mvm runs without --debug-exit here, so the port
 * is unclaimed and the guest must not be able to end mvm through it. */
static int port_skipped(uint32_t p, uint32_t width)
{
	uint32_t last = p + width - 1;
	static const uint32_t ranges[][2] = {
		{ 0x60, 0x64 }, { 0x3f8, 0x3ff }, { 0x505, 0x505 },
		{ 0x520, 0x532 }, { 0x600, 0x602 }, { 0xcf9, 0xcf9 },
	};

	for (unsigned i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (p <= ranges[i][1] && last >= ranges[i][0])
			return 1;
	return 0;
}

static void ports_case(uint32_t stride)
{
	uint64_t sum = 0, t0 = mvm_time_mono_ns();
	unsigned long outs = 0;
	uint8_t *buf = adv_scratch;

	for (uint32_t p = 0; p <= 0xffff; p++)
		sum += inb((uint16_t)p);
	for (uint32_t p = 0x1000; p <= 0xfffc; p += 0x101) {
		sum += inw((uint16_t)p);
		sum += inl((uint16_t)p);
	}
	for (uint32_t p = 0; p <= 0xffff; p += p < 0x1000 ? 1 : stride) {
		if (!port_skipped(p, 1)) { outb((uint16_t)p, 0xa5); outs++; }
		if (p <= 0xfffe && !port_skipped(p, 2)) { outw((uint16_t)p, 0xa5a5); outs++; }
		if (p <= 0xfffc && !port_skipped(p, 4)) { outl((uint16_t)p, 0xa5a5a5a5u); outs++; }
	}
	/* String I/O: KVM hands mvm 4096 items in one exit (or a few). */
	memset(buf, 0, 4096);
	__asm__ volatile("cld; rep insb" : "+D"(buf), "+c"((uint64_t){4096}) : "d"((uint16_t)0x1234) : "memory");
	buf = adv_scratch;
	for (int i = 0; i < 4096; i++)
		if (buf[i] != 0xff) {
			adv_fail("rep insb from an unclaimed port: byte %d is 0x%x, want 0xff", i, buf[i]);
			break;
		}
	__asm__ volatile("cld; rep outsb" : "+S"(buf), "+c"((uint64_t){4096}) : "d"((uint16_t)0x1234) : "memory");
	mvm_printf("ADV-MARK ports: 65536 IN + %lu OUT in %lu ms, sum 0x%lx\n", outs,
		   (unsigned long)((mvm_time_mono_ns() - t0) / 1000000), (unsigned long)sum);
}

static void sse_rw(uint64_t a)
{
	uint8_t v[16] __attribute__((aligned(16)));

	__asm__ volatile("movdqu (%1), %%xmm0; movdqu %%xmm0, (%0)" :: "r"(v), "r"(a) : "xmm0", "memory");
	__asm__ volatile("movdqu (%0), %%xmm0; movdqu %%xmm0, (%1)" :: "r"(v), "r"(a) : "xmm0", "memory");
}

static void mmio_case(void)
{
	uint64_t unused_win = 0xd0000000ULL + 0x1000ULL * bi->nr_devices;
	const uint64_t addrs[] = {
		0xc0000000ULL, 0xc0000ffdULL, 0xcffff000ULL, unused_win, unused_win + 0xffe,
		0xd0100000ULL, 0xfebff000ULL, 0xfec01000ULL, 0xfed00000ULL, 0xfee01000ULL,
		0xffff0000ULL, 0xfffffff0ULL, bi->low_mem_end, bi->low_mem_end + 0x12345,
	};
	uint64_t sum = 0;
	uint8_t *buf = adv_scratch;

	for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint64_t a = addrs[i];

		sum += mmio_read8(a) + mmio_read16(a) + mmio_read32(a) + mmio_read64(a);
		mmio_write8(a, 0x5a);
		mmio_write16(a, 0x5a5a);
		mmio_write32(a, 0x5a5a5a5au);
		mmio_write64(a, 0x5a5a5a5a5a5a5a5aULL);
		sse_rw(a);
		ADV_CHECK(mmio_read32(a) == 0xffffffffu, "unclaimed MMIO 0x%lx reads 0x%x, want all ones",
			  (unsigned long)a, mmio_read32(a));
	}
	/* REP MOVS out of and into the hole, REP STOS into it. */
	__asm__ volatile("cld; rep movsb" : "+S"((uint64_t){0xc0000000ULL}), "+D"(buf), "+c"((uint64_t){256}) :: "memory");
	buf = adv_scratch;
	__asm__ volatile("cld; rep movsb" : "+S"(buf), "+D"((uint64_t){0xc0001000ULL}), "+c"((uint64_t){256}) :: "memory");
	__asm__ volatile("cld; rep stosb" : "+D"((uint64_t){0xc0002000ULL}), "+c"((uint64_t){256}) : "a"(0x77) : "memory");
	/* Straddling the end of RAM: 4 bytes RAM, 4 bytes nothing. */
	sum += mmio_read64(bi->low_mem_end - 4);
	mmio_write64(bi->low_mem_end - 4, 0x1122334455667788ULL);
	sse_rw(bi->low_mem_end - 8);
	mvm_printf("ADV-MARK mmio: %u addresses, sum 0x%lx\n", (unsigned)(sizeof(addrs) / sizeof(addrs[0])),
		   (unsigned long)sum);
	/* Still alive: a clock call answers. */
	ADV_CHECK(mvm_time_mono_ns() != 0, "no clock after the MMIO sweep");
}

int mvm_main(const struct mvm_bootinfo *b)
{
	char c[16] = "ports";

	bi = b;
	mvm_cmdline_get(bi, "case", c, sizeof(c));
	mvm_printf("ADV-START %s\n", c);
	if (!strcmp(c, "ports"))
		ports_case((uint32_t)mvm_cmdline_u64(bi, "stride", 7));
	else if (!strcmp(c, "mmio"))
		mmio_case();
	else
		adv_fail("unknown case %s", c);
	return adv_finish(c);
}
