/* hcall.c - adversarial guest: hypercalls with hostile structs, buffers and widths.
 *
 * Command line: case=bad (every check below; exit 0 when mvm answered each
 * with the documented error and kept running), case=fault-port (a forged
 * OUT to the fault-report port: mvm must end with status 4), case=exit-wide
 * (exit status 0x12345: mvm must exit 0x45), case=triple (the unknown-call
 * ENOSYS write aimed at the IDT gates of #UD, #GP and #DF, then ud2: the
 * CPU cannot deliver the exception and shuts down; mvm must end with 4).
 */
#include "adv.h"

#define IDT 0x42000ULL   /* LAYOUT_R3_IDT: supervisor-only for the guest, RAM for mvm */

static const struct mvm_bootinfo *bi;

static int64_t console(uint64_t buf, uint64_t len)
{
	struct mvm_hc_console a = { .ret = 0x5555, .buf = buf, .len = len };

	return mvm_hypercall(MVM_HC_CONSOLE, &a);
}

static int64_t blkio(unsigned nr, uint64_t sector, uint64_t buf, uint64_t len)
{
	struct mvm_hc_blkio a = { .ret = 0x5555, .sector = sector, .buf = buf, .len = len };

	return mvm_hypercall(nr, &a);
}

static void expect(const char *what, int64_t got, int64_t want)
{
	ADV_CHECK(got == want, "%s: ret %ld, want %ld", what, (long)got, (long)want);
}

/* An OUT carrying an address where no struct can be: mvm ignores it and
 * must still answer the next call. */
static void out_addr(unsigned nr, uint32_t gpa)
{
	__asm__ volatile("outl %0, %1" :: "a"(gpa), "Nd"((uint16_t)MVM_HC_PORT(nr)) : "memory");
}

static void bad_case(void)
{
	uint64_t end = bi->low_mem_end;
	volatile int64_t *last = (volatile int64_t *)(uintptr_t)(end - 8);
	struct mvm_hc_time t = { .ret = 0x5555 };
	int64_t r;

	/* Console buffers. */
	expect("console len 0", console((uintptr_t)adv_scratch, 0), 0);
	expect("console buf straddles the end of RAM", console(end - 8, 16), -MVM_EFAULT);
	expect("console buf past RAM", console(end, 1), -MVM_EFAULT);
	expect("console buf on a virtio window", console(0xd0000000ULL, 4), -MVM_EFAULT);
	expect("console buf on the LAPIC", console(0xfee00000ULL, 4), -MVM_EFAULT);
	expect("console buf wraps 64 bits", console(~0ULL - 100, 200), -MVM_EFAULT);
	expect("console buf above 4 GiB", console(0x100000000000ULL, 16), -MVM_EFAULT);
	expect("console len 4097", console((uintptr_t)adv_scratch, 4097), -MVM_EINVAL);
	expect("console len ~0", console((uintptr_t)adv_scratch, ~0ULL), -MVM_EINVAL);
	r = console(0, 1);   /* page 0 is RAM for mvm, unmapped for the guest */
	mvm_printf("\n");   /* after the NUL byte that call may have printed */
	ADV_CHECK(r == 1 || r == -MVM_EFAULT, "console buf NULL: ret %ld", (long)r);

	/* Block buffers, lengths and sectors. */
	expect("blk read buf straddles the end of RAM", blkio(MVM_HC_BLKREAD, 0, end - 256, 512), -MVM_EFAULT);
	expect("blk read buf in the MMIO hole", blkio(MVM_HC_BLKREAD, 0, 0xc0000000ULL, 512), -MVM_EFAULT);
	expect("blk read buf wraps", blkio(MVM_HC_BLKREAD, 0, ~0ULL - 255, 512), -MVM_EFAULT);
	expect("blk write buf on a virtio window", blkio(MVM_HC_BLKWRITE, 0, 0xd0000000ULL, 512), -MVM_EFAULT);
	expect("blk write buf past RAM", blkio(MVM_HC_BLKWRITE, 0, end, 4096), -MVM_EFAULT);
	expect("blk read len 0", blkio(MVM_HC_BLKREAD, 0, (uintptr_t)adv_scratch, 0), -MVM_EINVAL);
	expect("blk read len 513", blkio(MVM_HC_BLKREAD, 0, (uintptr_t)adv_scratch, 513), -MVM_EINVAL);
	expect("blk read len 2 MiB", blkio(MVM_HC_BLKREAD, 0, (uintptr_t)adv_scratch, 2 << 20), -MVM_EINVAL);
	expect("blk write len ~0", blkio(MVM_HC_BLKWRITE, 0, (uintptr_t)adv_scratch, ~0ULL & ~511ULL), -MVM_EINVAL);
	expect("blk read sector ~0", blkio(MVM_HC_BLKREAD, ~0ULL, (uintptr_t)adv_scratch, 512), -MVM_EINVAL);
	expect("blk write sector 2^55", blkio(MVM_HC_BLKWRITE, 1ULL << 55, (uintptr_t)adv_scratch, 512), -MVM_EINVAL);

	/* Net calls (not wired): an error whatever the buffer. */
	{
		struct mvm_hc_netio n = { .ret = 0x5555, .buf = 0xd0000000ULL, .len = ~0ULL };

		r = mvm_hypercall(MVM_HC_NETWRITE, &n);
		ADV_CHECK(r < 0, "net write of a hole buffer: ret %ld", (long)r);
		n = (struct mvm_hc_netio){ .ret = 0x5555, .buf = end - 4, .len = 1514 };
		r = mvm_hypercall(MVM_HC_NETREAD, &n);
		ADV_CHECK(r < 0, "net read into a straddling buffer: ret %ld", (long)r);
	}

	/* Unknown call numbers 0 and 10..14: -ENOSYS. Ports 0x530..0x532 are
	 * not call ports: a 4-byte OUT there runs past the claimed range and
	 * is an unclaimed access, ret untouched. */
	static const unsigned unknown[] = { 0, 10, 11, 12, 13, 14 };
	for (unsigned i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		t.ret = 0x5555;
		expect("unknown call", mvm_hypercall(unknown[i], &t), -MVM_ENOSYS);
	}
	for (unsigned nr = 16; nr <= 18; nr++) {
		t.ret = 0x5555;
		expect("OUT past the call ports", mvm_hypercall(nr, &t), 0x5555);
	}

	/* Structs that are not (all) RAM: ignored. The last 8 bytes of RAM
	 * hold a sentinel where a straddling struct's ret would go. */
	*last = 0x600d;
	out_addr(MVM_HC_TIME, (uint32_t)(end - 8));
	out_addr(MVM_HC_BLKINFO, (uint32_t)(end - 8));
	ADV_CHECK(*last == 0x600d, "a struct straddling the end of RAM was written (0x%lx)", (long)*last);
	out_addr(MVM_HC_TIME, (uint32_t)end);
	out_addr(MVM_HC_CONSOLE, 0xd0000000u);
	out_addr(MVM_HC_TIME, 0xfec00000u);
	out_addr(MVM_HC_BLKREAD, 0xfffffff8u);
	out_addr(MVM_HC_CONSOLE, 0xffffffffu);
	out_addr(MVM_HC_TIME, 0);   /* NULL: RAM for mvm, written there, harmless */
	out_addr(MVM_HC_EXIT, 0xffffffffu);   /* an exit struct nobody can read: no exit */

	/* Wrong widths: ignored, ret untouched. Reads: all ones. */
	t.ret = 0x5555;
	__asm__ volatile("outb %b0, %1" :: "a"((uint32_t)(uintptr_t)&t), "Nd"((uint16_t)MVM_HC_PORT(MVM_HC_TIME)) : "memory");
	__asm__ volatile("outw %w0, %1" :: "a"((uint32_t)(uintptr_t)&t), "Nd"((uint16_t)MVM_HC_PORT(MVM_HC_TIME)) : "memory");
	ADV_CHECK(t.ret == 0x5555, "a 1- or 2-byte OUT was taken as a call (ret %ld)", (long)t.ret);
	ADV_CHECK(inl(MVM_HC_PORT(MVM_HC_TIME)) == 0xffffffffu, "IN from a hypercall port is not all ones");
	ADV_CHECK(inb(MVM_HC_PORT(MVM_HC_EXIT)) == 0xff, "INB from the exit port is not all ones");

	/* REP OUTSL: four calls in one exit. */
	{
		static struct mvm_hc_time ts[4];
		static uint32_t addrs[4];

		for (int i = 0; i < 4; i++) {
			ts[i].ret = 0x5555;
			addrs[i] = (uint32_t)(uintptr_t)&ts[i];
		}
		const void *src = addrs;
		uint64_t cnt = 4;

		__asm__ volatile("cld; rep outsl" : "+S"(src), "+c"(cnt)
				 : "d"((uint16_t)MVM_HC_PORT(MVM_HC_TIME)) : "memory");
		for (int i = 0; i < 4; i++)
			ADV_CHECK(ts[i].ret == 0 && ts[i].mono_ns, "rep outsl call %d: ret %ld", i, (long)ts[i].ret);
	}

	/* Still alive and answering. */
	t.ret = 0x5555;
	expect("time after all that", mvm_hypercall(MVM_HC_TIME, &t), 0);
	ADV_CHECK(t.mono_ns != 0, "time after all that: no clock");
}

/* Write -ENOSYS (0xffffffffffffffda) over the low half of gate v: selector
 * 0xffff, present: delivering through it faults. */
static void smash_gate(unsigned v)
{
	out_addr(13, (uint32_t)(IDT + 16 * v));
}

int mvm_main(const struct mvm_bootinfo *b)
{
	char c[32] = "bad";

	bi = b;
	mvm_cmdline_get(bi, "case", c, sizeof(c));
	mvm_printf("ADV-START hcall-%s\n", c);
	if (!strcmp(c, "bad")) {
		bad_case();
	} else if (!strcmp(c, "fault-port")) {
		mvm_printf("ADV-MARK fault-port: writing port 0x%x\n", MVM_HC_PORT(MVM_HC_FAULT));
		outl(MVM_HC_PORT(MVM_HC_FAULT), 0x12345678);
		adv_fail("fault-port: still running after the fault port write");
	} else if (!strcmp(c, "exit-wide")) {
		struct mvm_hc_exit e = { .status = 0x12345 };

		mvm_hypercall(MVM_HC_EXIT, &e);
		adv_fail("exit-wide: still running after the exit call");
	} else if (!strcmp(c, "triple")) {
		smash_gate(6);    /* #UD */
		smash_gate(13);   /* #GP */
		smash_gate(11);   /* #NP */
		smash_gate(10);   /* #TS */
		smash_gate(8);    /* #DF */
		mvm_printf("ADV-MARK triple: IDT gates 6 8 10 11 13 overwritten through the ENOSYS reply\n");
		__asm__ volatile("ud2");
		adv_fail("triple: still running after ud2");
	} else {
		adv_fail("unknown case %s", c);
	}
	return adv_finish("hcall");
}
