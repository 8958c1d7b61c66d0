/* exits-floor.c - the floor for bench/exits.sh: the least a VMM can spend per exit.
 *
 * usage: exits-floor [N [ROUNDS]]   (default 100000 exits per batch, best of 3)
 * Makes a KVM VM with one 4 KiB memory slot at 0x1000 and one vCPU in real
 * mode running either `out dx, al; jmp .-1` (port 0x3f0) or
 * `mov al, [0x8000]; jmp .-3` (0x8000 is no memory slot: KVM decodes the
 * load and exits with KVM_EXIT_MMIO), and times N bare KVM_RUN round trips
 * of each: no device model, no lookup, the exit checked and KVM_RUN again.
 * Also calibrates the TSC against CLOCK_MONOTONIC (the benchmark converts
 * the multiboot guest's rdtsc cycles with it). Prints one line:
 *   FLOOR pio_ns=... mmio_ns=... tsc_khz=...
 * Exit status 0, or 1 with a message when KVM refuses a step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define SLOT_GPA  0x1000
#define SLOT_SIZE 0x1000
#define IO_ENTRY   0x1000
#define MMIO_ENTRY 0x1010

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what)
{
	fprintf(stderr, "exits-floor: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Point the vCPU at entry in real mode (CS base 0). */
static int floor_enter(int vcpu, uint64_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = entry, .rflags = 2 };

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	return ioctl(vcpu, KVM_SET_REGS, &regs) < 0 ? -1 : 0;
}

/* ns for n round trips of the expected exit; 0 on a surprise. */
static uint64_t floor_batch(int vcpu, struct kvm_run *run, uint32_t want, uint64_t n)
{
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < n; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != want) {
			fprintf(stderr, "exits-floor: KVM_RUN: exit reason %u, expected %u (%s)\n",
				run->exit_reason, want, strerror(errno));
			return 0;
		}
	}
	return now_ns() - t0;
}

static uint64_t floor_tsc_khz(void)
{
	uint64_t t0 = now_ns(), c0 = __rdtsc(), t1;

	do
		t1 = now_ns();
	while (t1 - t0 < 100000000ULL);
	return (__rdtsc() - c0) * 1000000ULL / (t1 - t0);
}

int main(int argc, char **argv)
{
	static const uint8_t code_io[] = { 0xba, 0xf0, 0x03, 0xee, 0xeb, 0xfd };
	static const uint8_t code_mmio[] = { 0xa0, 0x00, 0x80, 0xeb, 0xfb };
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	uint64_t best[2] = { ~0ULL, ~0ULL };
	int kvm, vm, vcpu;
	long run_size;
	struct kvm_run *run;
	uint8_t *mem;

	if (n == 0 || rounds < 1) {
		fprintf(stderr, "usage: exits-floor [N [ROUNDS]]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	mem = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	memcpy(mem + (IO_ENTRY - SLOT_GPA), code_io, sizeof(code_io));
	memcpy(mem + (MMIO_ENTRY - SLOT_GPA), code_mmio, sizeof(code_mmio));
	struct kvm_userspace_memory_region slot = {
		.slot = 0, .guest_phys_addr = SLOT_GPA, .memory_size = SLOT_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	/* Intel needs a TSS page for real mode; harmless on AMD. */
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		return fail("KVM_SET_TSS_ADDR");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");

	for (int k = 0; k < 2; k++) {
		uint32_t want = k == 0 ? KVM_EXIT_IO : KVM_EXIT_MMIO;

		if (floor_enter(vcpu, k == 0 ? IO_ENTRY : MMIO_ENTRY) < 0)
			return fail("setting the vCPU's registers");
		if (!floor_batch(vcpu, run, want, n / 10 + 1))  /* warm up */
			return 1;
		for (int r = 0; r < rounds; r++) {
			uint64_t ns = floor_batch(vcpu, run, want, n);

			if (!ns)
				return 1;
			if (ns < best[k])
				best[k] = ns;
		}
	}
	printf("FLOOR pio_ns=%.2f mmio_ns=%.2f tsc_khz=%llu\n", (double)best[0] / n,
	       (double)best[1] / n, (unsigned long long)floor_tsc_khz());
	return 0;
}
