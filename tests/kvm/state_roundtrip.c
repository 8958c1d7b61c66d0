/* state_roundtrip.c - KVM test: save a running vCPU and its VM, restore into a fresh VM, compare, run on.
 *
 * Needs a /dev/kvm that runs a normal guest (the test host: tests/linux/state-cases.sh).
 * VM A runs tests/kvm/state_guest.S to its third OUT, then completes that
 * OUT (KVM_RUN with immediate_exit) and is saved. VM B, fresh, gets A's RAM
 * and the saved state, is saved again and compared with A's save field by
 * field; what legitimately moves (the TSC, kvm-clock, the PIT's load times)
 * is checked to have moved by a plausible amount, then masked. B then runs on and must continue the loop where A
 * left it. One line per check, then "N passed, M failed"; exit status 0 only
 * when all passed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/kvm.h"
#include "core/layout.h"
#include "core/memory.h"
#include "core/vcpu_state.h"
#include "core/vm_state.h"
#include "state_roundtrip.h"

#define GUEST_CODE   LAYOUT_HIMEM_START
#define GUEST_RAM    (16ULL << 20)
#define GUEST_PORT   0xe9

extern const uint8_t state_guest_start[], state_guest_end[], state_guest_loop_out[];

struct tvm {
	int fd, vcpu, ap; /* ap: vCPU 1, an application processor that waits for INIT/SIPI */
	struct kvm_run *run;
	size_t run_size;
	struct gmem mem;
};

static int passed, failed;

void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	ok ? passed++ : failed++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int tvm_ioctl(int fd, unsigned long req, unsigned long arg, const char *what)
{
	if (ioctl(fd, req, arg) < 0) {
		fprintf(stderr, "state_roundtrip: %s: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

/* A VM as mvm builds one (vm.c): identity map and TSS in the MMIO hole,
 * in-kernel irqchip and PIT, RAM in slots, then vCPU 0. */
static int tvm_create(const struct kvm_sys *k, struct tvm *t)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = LAYOUT_IDENTITY_MAP;

	memset(t, 0, sizeof(*t));
	t->fd = t->vcpu = t->ap = -1;
	if (gmem_init(&t->mem, GUEST_RAM))
		return -1;
	t->fd = ioctl(k->fd, KVM_CREATE_VM, 0);
	if (t->fd < 0) {
		fprintf(stderr, "state_roundtrip: KVM_CREATE_VM: %s\n", strerror(errno));
		return -1;
	}
	if (tvm_ioctl(t->fd, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&identity, "KVM_SET_IDENTITY_MAP_ADDR") ||
	    tvm_ioctl(t->fd, KVM_SET_TSS_ADDR, LAYOUT_TSS, "KVM_SET_TSS_ADDR") ||
	    tvm_ioctl(t->fd, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP") ||
	    tvm_ioctl(t->fd, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2"))
		return -1;
	for (int i = 0; i < t->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = i, .guest_phys_addr = t->mem.regions[i].gpa,
			.memory_size = t->mem.regions[i].size,
			.userspace_addr = (uintptr_t)t->mem.regions[i].host,
		};

		if (tvm_ioctl(t->fd, KVM_SET_USER_MEMORY_REGION, (unsigned long)&slot, "KVM_SET_USER_MEMORY_REGION"))
			return -1;
	}
	t->vcpu = ioctl(t->fd, KVM_CREATE_VCPU, 0);
	if (t->vcpu < 0) {
		fprintf(stderr, "state_roundtrip: KVM_CREATE_VCPU: %s\n", strerror(errno));
		return -1;
	}
	t->ap = ioctl(t->fd, KVM_CREATE_VCPU, 1);
	if (t->ap < 0) {
		fprintf(stderr, "state_roundtrip: KVM_CREATE_VCPU 1: %s\n", strerror(errno));
		return -1;
	}
	t->run_size = (size_t)k->run_mmap_size;
	t->run = mmap(NULL, t->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->vcpu, 0);
	if (t->run == MAP_FAILED) {
		t->run = NULL;
		fprintf(stderr, "state_roundtrip: mmap of kvm_run: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void tvm_destroy(struct tvm *t)
{
	if (t->run)
		munmap(t->run, t->run_size);
	if (t->vcpu >= 0)
		close(t->vcpu);
	if (t->ap >= 0)
		close(t->ap);
	if (t->fd >= 0)
		close(t->fd);
	gmem_free(&t->mem);
}

/* Run to the guest's next OUT to GUEST_PORT: its byte, or -1 (said why). */
static int tvm_run_to_out(struct tvm *t, uint64_t *rip)
{
	struct kvm_regs regs;

	for (;;) {
		if (ioctl(t->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "state_roundtrip: KVM_RUN: %s\n", strerror(errno));
			return -1;
		}
		if (t->run->exit_reason == KVM_EXIT_IO && t->run->io.port == GUEST_PORT &&
		    t->run->io.direction == KVM_EXIT_IO_OUT && t->run->io.size == 1)
			break;
		fprintf(stderr, "state_roundtrip: unexpected exit %u (port %#x)\n",
			t->run->exit_reason, t->run->io.port);
		cpu_dump_state(stderr, t->vcpu, &t->mem);
		return -1;
	}
	if (ioctl(t->vcpu, KVM_GET_REGS, &regs) == 0 && rip)
		*rip = regs.rip;
	return ((const uint8_t *)t->run)[t->run->io.data_offset];
}

/* KVM finishes an OUT only on the next KVM_RUN: with immediate_exit it does
 * that and returns EINTR before running any guest instruction. */
static int tvm_complete_io(struct tvm *t)
{
	int ret;

	t->run->immediate_exit = 1;
	ret = ioctl(t->vcpu, KVM_RUN, 0);
	t->run->immediate_exit = 0;
	if (ret == 0 || errno != EINTR) {
		fprintf(stderr, "state_roundtrip: KVM_RUN with immediate_exit: %s\n",
			ret == 0 ? "returned 0, expected EINTR" : strerror(errno));
		return -1;
	}
	return 0;
}

/* Repeated timings, for figures less at the mercy of one slow ioctl: N saves
 * of the paused source, N restores into fresh VMs. Median and minimum, us. */
#define TIMING_RUNS 9

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static void report(const char *what, uint64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), u64_cmp);
	printf("# %s: median %.1f us, min %.1f us, max %.1f us (%d runs)\n", what, t[n / 2] / 1e3,
	       t[0] / 1e3, t[n - 1] / 1e3, n);
}

static void time_runs(const struct kvm_sys *k, struct tvm *a, const struct vcpu_state_host *host,
		      const struct vcpu_state *sa, const struct vm_kvm_state *va)
{
	static struct vcpu_state tmp;
	struct vm_kvm_state vtmp;
	uint64_t ts[TIMING_RUNS], tv[TIMING_RUNS], rs[TIMING_RUNS], rv[TIMING_RUNS], t0;
	int ok = 1;

	for (int i = 0; i < TIMING_RUNS; i++) {
		struct tvm c;

		t0 = now_ns();
		ok &= vcpu_state_save(a->vcpu, host, &tmp) == 0;
		ts[i] = now_ns() - t0;
		t0 = now_ns();
		ok &= vm_state_save(a->fd, &vtmp) == 0;
		tv[i] = now_ns() - t0;
		if (tvm_create(k, &c)) {
			ok = 0;
			tvm_destroy(&c);
			break;
		}
		t0 = now_ns();
		ok &= vm_state_restore(c.fd, va) == 0;
		rv[i] = now_ns() - t0;
		t0 = now_ns();
		ok &= vcpu_state_restore(c.vcpu, sa) == 0;
		rs[i] = now_ns() - t0;
		tvm_destroy(&c);
	}
	check(ok, "%d more saves and restores into fresh VMs succeeded", TIMING_RUNS);
	if (!ok)
		return;
	report("vCPU save", ts, TIMING_RUNS);
	report("vCPU restore", rs, TIMING_RUNS);
	report("VM save", tv, TIMING_RUNS);
	report("VM restore", rv, TIMING_RUNS);
}

/* Source VM: boot tables, the guest at 1 MiB, three OUTs, the third completed. */
static int run_source(const struct kvm_sys *k, struct tvm *a, uint64_t *out_rip)
{
	const struct cpu_entry entry = { .mode = CPU_ENTRY_LINUX64, .rip = GUEST_CODE };
	size_t len = (size_t)(state_guest_end - state_guest_start);

	if (tvm_create(k, a) || cpu_write_boot_tables(&a->mem) ||
	    gmem_write(&a->mem, GUEST_CODE, state_guest_start, len) ||
	    cpu_init(a->vcpu, k->supported, 0, 2, false, NULL) || cpu_init(a->ap, k->supported, 1, 2, false, NULL) ||
	    cpu_set_entry(a->vcpu, &entry))
		return -1;
	for (int i = 1; i <= 3; i++) {
		int b = tvm_run_to_out(a, out_rip);

		if (b != i) {
			fprintf(stderr, "state_roundtrip: source OUT %d wrote %d\n", i, b);
			return -1;
		}
	}
	return tvm_complete_io(a);
}

int main(void)
{
	static struct vcpu_state sa, sb, pa, pb; /* s: vCPU 0, p: the AP; a: source, b: restored */
	static struct vcpu_state_host host;
	struct vm_kvm_state va, vb;
	struct kvm_sys kvm;
	struct tvm a, b;
	uint64_t rip_a = 0, rip_b = 0, t0, t_probe, t_save, t_vmsave, t_vmrest, t_rest, t_b0, t_b1, t_a1, away;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (kvm_open(&kvm, "/dev/kvm"))
		return 2;
	if (run_source(&kvm, &a, &rip_a)) {
		check(0, "source VM ran the guest to its third OUT");
		goto out;
	}
	check(1, "source VM ran the guest to its third OUT (rip %#llx)", (unsigned long long)rip_a);

	t0 = now_ns();
	if (vcpu_state_host_probe(kvm.fd, a.fd, &host))
		goto out;
	t_probe = now_ns() - t0;
	t0 = now_ns();
	check(vcpu_state_save(a.vcpu, &host, &sa) == 0, "vcpu_state_save");
	t_save = now_ns() - t0;
	t0 = now_ns();
	check(vm_state_save(a.fd, &va) == 0, "vm_state_save");
	t_a1 = now_ns();
	t_vmsave = t_a1 - t0;
	check(vcpu_state_save(a.ap, &host, &pa) == 0, "vcpu_state_save of the AP");
	check_source_state(&host, &sa, &va);
	check(pa.mp_state.mp_state == KVM_MP_STATE_UNINITIALIZED && pa.regs.rip == 0xfff0,
	      "AP saved waiting for INIT/SIPI (mp_state %u, rip %#llx)", pa.mp_state.mp_state,
	      (unsigned long long)pa.regs.rip);

	/* Fresh VM: same RAM bytes, no cpu_init: everything comes from the state. */
	if (tvm_create(&kvm, &b) || gmem_write(&b.mem, 0, a.mem.base, GUEST_RAM)) {
		check(0, "fresh VM created");
		goto out;
	}
	t_b0 = now_ns();
	away = t_b0 - t_a1;
	check(vm_state_restore(b.fd, &va) == 0, "vm_state_restore");
	t_vmrest = now_ns() - t_b0;
	t0 = now_ns();
	check(vcpu_state_restore(b.vcpu, &sa) == 0, "vcpu_state_restore");
	t_rest = now_ns() - t0;
	check(vcpu_state_restore(b.ap, &pa) == 0, "vcpu_state_restore of the AP");
	check(vcpu_state_save(b.vcpu, &host, &sb) == 0 && vcpu_state_save(b.ap, &host, &pb) == 0 &&
	      vm_state_save(b.fd, &vb) == 0, "save of the restored VM");
	t_b1 = now_ns();
	compare_vcpu("vCPU 0", &sa, &sb, t_b1 - t_b0);
	compare_vcpu("AP", &pa, &pb, t_b1 - t_b0);
	compare_vm(&va, &vb, away, t_b1 - t_b0);

	/* B continues the loop: the fourth OUT, from the same instruction. */
	int byte = tvm_run_to_out(&b, &rip_b);
	struct kvm_regs r;

	check(byte == 4, "restored vCPU ran on to OUT #4 (wrote %d)", byte);
	check(rip_b == rip_a, "... at the same OUT instruction (rip %#llx, source %#llx)",
	      (unsigned long long)rip_b, (unsigned long long)rip_a);
	if (ioctl(b.vcpu, KVM_GET_REGS, &r) < 0)
		memset(&r, 0, sizeof(r));
	check(r.rbx == 4 && r.r12 == 0xabcdef + 1 + 2 + 3,
	      "... with rbx 4 and r12 = 0xabcdef+1+2+3 (rbx %llu, r12 %#llx)",
	      (unsigned long long)r.rbx, (unsigned long long)r.r12);
	check(rip_a - GUEST_CODE == (uint64_t)(state_guest_loop_out - state_guest_start),
	      "the OUT is the loop's (offset %#llx)", (unsigned long long)(rip_a - GUEST_CODE));

	printf("# sizes: struct vcpu_state %zu bytes, struct vm_kvm_state %zu bytes; "
	       "XSAVE area %u bytes (%s), %u MSRs saved, %u refused, %u CPUID entries, %s\n",
	       sizeof(struct vcpu_state), sizeof(struct vm_kvm_state), sa.xsave_size,
	       host.has_xsave2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE", sa.nmsrs, sa.nmsrs_refused,
	       sa.cpuid_nent, sa.flags & VCPU_STATE_F_SREGS2 ? "sregs2" : "sregs");
	printf("# first run: host probe %.1f us; vCPU save %.1f us, restore %.1f us; "
	       "VM save %.1f us, restore %.1f us; clock flags %#x\n",
	       t_probe / 1e3, t_save / 1e3, t_rest / 1e3, t_vmsave / 1e3, t_vmrest / 1e3,
	       va.clock.flags);
	time_runs(&kvm, &a, &host, &sa, &va);
	tvm_destroy(&b);
out:
	tvm_destroy(&a);
	kvm_close(&kvm);
	printf("%d passed, %d failed\n", passed, failed);
	return failed || !passed ? 1 : 0;
}
