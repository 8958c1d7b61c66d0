/* cpu.c - x86 vCPU initial state for the 64-bit Linux entry and PVH. */
#include "core/cpu.h"
#include "core/cpuid.h"
#include "core/hyperv.h"
#include "core/layout.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define X86_CR0_PE 0x1ULL
#define X86_CR0_MP 0x2ULL
#define X86_CR0_ET 0x10ULL
#define X86_CR0_NE 0x20ULL
#define X86_CR0_PG 0x80000000ULL
#define X86_CR4_PAE 0x20ULL
#define X86_EFER_LME 0x100ULL
#define X86_EFER_LMA 0x400ULL

#define PTE_PRESENT 0x1ULL
#define PTE_RW      0x2ULL
#define PTE_PS      0x80ULL

#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102

#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MTRR_ENABLE_WRITEBACK   ((1ULL << 11) | 6) /* MTRRs on, default type WB */

#define APIC_LDR         0x0d0
#define APIC_DFR         0x0e0
#define APIC_SVR         0x0f0
#define APIC_ISR         0x100   /* ISR, TMR, IRR: 0x100-0x270 */
#define APIC_ESR         0x280
#define APIC_ICR_LOW     0x300
#define APIC_ICR_HIGH    0x310
#define APIC_LVT_TIMER   0x320
#define APIC_LVT_ERROR   0x370
#define APIC_TMICT       0x380
#define APIC_TDCR        0x3e0
#define APIC_LVT_MASKED  0x10000u
#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI    0x4

/* A flat descriptor: base 0, limit 4 GiB (4 KiB granular). */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (limit & 0xffffu);
}

/* Flags: G/DB/L in the top nibble, then P/DPL/S/type. */
static const uint16_t gdt_flags[] = {
	[CPU_SEL_CODE32 >> 3] = 0xc09b, /* 32-bit code, execute/read, accessed */
	[CPU_SEL_CODE64 >> 3] = 0xa09b, /* 64-bit code */
	[CPU_SEL_DATA >> 3]   = 0xc093, /* data, read/write, accessed */
	[CPU_SEL_TSS >> 3]    = 0x008b, /* 32-bit busy TSS */
};

int cpu_write_boot_gdt(const struct gmem *m)
{
	uint64_t gdt[5] = { 0 };

	for (int i = 1; i < 5; i++)
		gdt[i] = gdt_entry(gdt_flags[i], 0, i == (CPU_SEL_TSS >> 3) ? 0x67 : 0xfffff);
	return gmem_write(m, LAYOUT_GDT, gdt, sizeof(gdt)) ? -EFAULT : 0;
}

int cpu_write_boot_tables(const struct gmem *m)
{
	uint64_t *pml4 = gmem_ptr(m, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gmem_ptr(m, LAYOUT_PDPT, 4096);
	uint64_t *pd = gmem_ptr(m, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd || cpu_write_boot_gdt(m))
		return -EFAULT;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}

static int cpu_set_msrs(int fd)
{
	static const struct { uint32_t index; uint64_t value; } boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE_WRITEBACK },
	};
	const int n = sizeof(boot_msrs) / sizeof(boot_msrs[0]);
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	int ret;

	if (!msrs)
		return err_host(-ENOMEM);
	msrs->nmsrs = n;
	for (int i = 0; i < n; i++) {
		msrs->entries[i].index = boot_msrs[i].index;
		msrs->entries[i].data = boot_msrs[i].value;
	}
	/* KVM_SET_MSRS returns how many it set; fewer is an error. */
	ret = ioctl(fd, KVM_SET_MSRS, msrs);
	int err = errno;

	free(msrs);
	if (ret != n) {
		/* KVM stops at the first MSR it refuses: name it. */
		if (ret >= 0 && ret < n)
			log_err("KVM_SET_MSRS: the host refused MSR %#x", boot_msrs[ret].index);
		else
			log_err("KVM_SET_MSRS: %s", strerror(err));
		return -EINVAL;
	}
	return 0;
}

static void lapic_put(struct kvm_lapic_state *l, unsigned reg, uint32_t v)
{
	memcpy(&l->regs[reg], &v, sizeof(v));
}

/* PC wiring of the LAPIC's local pins: LINT0 takes the PIC (ExtINT), LINT1
 * NMI. reset: every register to its power-on value first (an S3 wake),
 * keeping the APIC ID. */
static int cpu_set_lint(int fd, bool reset)
{
	struct kvm_lapic_state lapic;
	uint32_t *lint0, *lint1;

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno; /* the caller names the failure */
	if (reset) {
		lapic_put(&lapic, 0x080, 0);                      /* TPR */
		lapic_put(&lapic, APIC_LDR, 0);
		lapic_put(&lapic, APIC_DFR, 0xffffffffu);
		lapic_put(&lapic, APIC_SVR, 0xff);                /* software-disabled */
		for (unsigned r = APIC_ISR; r < APIC_ESR; r += 0x10)
			lapic_put(&lapic, r, 0);
		lapic_put(&lapic, APIC_ESR, 0);
		lapic_put(&lapic, APIC_ICR_LOW, 0);
		lapic_put(&lapic, APIC_ICR_HIGH, 0);
		for (unsigned r = APIC_LVT_TIMER; r <= APIC_LVT_ERROR; r += 0x10)
			lapic_put(&lapic, r, APIC_LVT_MASKED);
		lapic_put(&lapic, APIC_TMICT, 0);
		lapic_put(&lapic, APIC_TDCR, 0);
	}
	lint0 = (uint32_t *)&lapic.regs[APIC_LVT_LINT0];
	lint1 = (uint32_t *)&lapic.regs[APIC_LVT_LINT1];
	*lint0 = (*lint0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	*lint1 = (*lint1 & ~0x700u) | (APIC_MODE_NMI << 8);
	if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

/* KVM_GET_CPUID2 with room for nent entries (KVM answers E2BIG for fewer). */
static struct kvm_cpuid2 *cpuid_read(int fd, uint32_t nent)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

	if (!c)
		return NULL;
	c->nent = nent;
	if (ioctl(fd, KVM_GET_CPUID2, c) < 0) {
		log_debug("KVM_GET_CPUID2: %s", strerror(errno));
		free(c);
		return NULL;
	}
	return c;
}

int cpu_init(int fd, const struct kvm_cpuid2 *supported, int index, int nr_cpus, bool hyperv,
	     struct kvm_cpuid2 **seen)
{
	struct kvm_cpuid2 *cpuid = cpuid_build(supported, index, nr_cpus);
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int ret;

	if (!cpuid)
		return err_host(-ENOMEM);
	if (hyperv && (ret = hyperv_vcpu_cpuid(fd, &cpuid))) {
		free(cpuid);
		return ret;
	}
	ret = ioctl(fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
	if (!ret && seen)
		*seen = cpuid_read(fd, cpuid->nent + 16);
	free(cpuid);
	if (ret) {
		log_err("vCPU %d: KVM_SET_CPUID2: %s", index, strerror(-ret));
		return ret;
	}
	if (hyperv && (ret = hyperv_vcpu_enable(fd)))
		return ret;
	ret = cpu_set_msrs(fd);
	if (ret)
		return ret;
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0) {
		ret = -errno;
		log_err("vCPU %d: KVM_SET_FPU: %s", index, strerror(-ret));
		return ret;
	}
	ret = cpu_set_lint(fd, false);
	if (ret)
		log_err("vCPU %d: setting LAPIC LINT0/LINT1: %s", index, strerror(-ret));
	return ret;
}

/* KVM's paravirtual MSRs that make it write into guest RAM or change how
 * interrupts arrive: a reset turns them off (the woken guest sets them
 * again). One at a time: a host KVM may refuse one it does not offer. */
static void cpu_clear_pv_msrs(int fd)
{
	static const uint32_t pv_msrs[] = {
		0x12,        /* MSR_KVM_SYSTEM_TIME */
		0x4b564d01,  /* MSR_KVM_SYSTEM_TIME_NEW */
		0x4b564d02,  /* MSR_KVM_ASYNC_PF_EN */
		0x4b564d03,  /* MSR_KVM_STEAL_TIME */
		0x4b564d04,  /* MSR_KVM_PV_EOI_EN */
	};
	/* A header and one entry; 8-byte aligned as the entries need. */
	uint64_t buf[(sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry) + 7) / 8];
	struct kvm_msrs *one = (struct kvm_msrs *)buf;

	for (size_t i = 0; i < sizeof(pv_msrs) / sizeof(pv_msrs[0]); i++) {
		memset(buf, 0, sizeof(buf));
		one->nmsrs = 1;
		one->entries[0].index = pv_msrs[i];
		if (ioctl(fd, KVM_SET_MSRS, one) != 1)
			log_debug("KVM_SET_MSRS: MSR %#x not cleared (the host does not offer it)",
				  pv_msrs[i]);
	}
}

/* A real-mode segment: selector, base = selector << 4, 64 KiB. */
static void seg_real(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){
		.base = (uint64_t)sel << 4, .limit = 0xffff, .selector = sel,
		.type = type, .present = 1, .s = 1,
	};
}

int cpu_wake_reset(int fd, int index, uint32_t waking_vector)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct kvm_debugregs dbg = { .dr6 = 0xffff0ff0, .dr7 = 0x400 };
	struct kvm_vcpu_events ev;
	struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs = { { .xcr = 0, .value = 1 } } };
	struct kvm_mp_state mp = { .mp_state = index == 0 ? KVM_MP_STATE_RUNNABLE
							  : KVM_MP_STATE_INIT_RECEIVED };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 0x2 };
	const char *what = NULL;
	int ret;

	memset(&ev, 0, sizeof(ev));     /* nothing pending: no exception, interrupt or NMI */
	if ((ret = cpu_set_msrs(fd)))
		return ret;
	cpu_clear_pv_msrs(fd);
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		what = "KVM_SET_FPU";
	else if (ioctl(fd, KVM_SET_DEBUGREGS, &dbg) < 0)
		what = "KVM_SET_DEBUGREGS";
	else if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		what = "KVM_SET_VCPU_EVENTS";
	else if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		what = "KVM_GET_SREGS";
	if (what)
		goto fail;
	/* XCR0 back to x87 only; a host without XSAVE has no XCRs to set. */
	if (ioctl(fd, KVM_SET_XCRS, &xcrs) < 0)
		log_debug("vCPU %d: S3 wake: KVM_SET_XCRS: %s", index, strerror(errno));

	/* Real mode at the waking vector (CS = vector >> 4, IP = vector & 0xf),
	 * as a firmware's S3 resume path jumps there; APs wait for INIT/SIPI. */
	seg_real(&sregs.cs, (uint16_t)(waking_vector >> 4), 0xb);
	seg_real(&sregs.ds, 0, 0x3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	sregs.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 0x2, .present = 1 };
	sregs.gdt.base = sregs.idt.base = 0;
	sregs.gdt.limit = sregs.idt.limit = 0xffff;
	sregs.cr0 = X86_CR0_ET;
	sregs.cr2 = sregs.cr3 = sregs.cr4 = sregs.cr8 = 0;
	sregs.efer = 0;
	sregs.apic_base = LAYOUT_LAPIC | 0x800 | (index == 0 ? 0x100 : 0); /* xAPIC on, BSP */
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	regs.rip = waking_vector & 0xf;
	/* SREGS before the LAPIC: apic_base leaves x2APIC mode (if the guest
	 * had entered it) first, so the reset registers are xAPIC ones. */
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		what = "KVM_SET_SREGS";
	else if (cpu_set_lint(fd, true))
		what = "resetting the LAPIC";
	else if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		what = "KVM_SET_REGS";
	else if (ioctl(fd, KVM_SET_MP_STATE, &mp) < 0)
		what = "KVM_SET_MP_STATE";
	if (!what)
		return 0;
fail:
	ret = -errno;
	log_err("vCPU %d: S3 wake: %s: %s", index, what, strerror(errno));
	return ret;
}

static void seg_flat(struct kvm_segment *s, uint16_t sel)
{
	uint16_t f = gdt_flags[sel >> 3];

	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel,
		.type = f & 0xf, .present = (f >> 7) & 1, .dpl = (f >> 5) & 3,
		.db = (f >> 14) & 1, .s = (f >> 4) & 1, .l = (f >> 13) & 1, .g = (f >> 15) & 1,
	};
}

int cpu_set_entry(int fd, const struct cpu_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 0x2 };
	bool long_mode = entry->mode == CPU_ENTRY_LINUX64;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0) {
		int err = errno;

		log_err("KVM_GET_SREGS: %s", strerror(err));
		return -err;
	}
	seg_flat(&sregs.cs, long_mode ? CPU_SEL_CODE64 : CPU_SEL_CODE32);
	seg_flat(&sregs.ds, CPU_SEL_DATA);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	seg_flat(&sregs.tr, CPU_SEL_TSS);
	sregs.tr.limit = 0x67;
	sregs.tr.g = 0;
	sregs.tr.s = 0;
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = LAYOUT_IDT;
	sregs.idt.limit = 0;
	if (long_mode) {
		sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = X86_CR4_PAE;
		sregs.efer = X86_EFER_LME | X86_EFER_LMA;
		regs.rsi = entry->info;
	} else {
		/* PVH and multiboot: 32-bit protected mode, paging off,
		 * EBX -> hvm_start_info or multiboot_info. */
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = entry->info;
		if (entry->mode == CPU_ENTRY_MULTIBOOT32)
			regs.rax = CPU_MULTIBOOT_LOADER_MAGIC;
	}
	regs.rip = entry->rip;
	regs.rsp = LAYOUT_BOOT_STACK;
	if (entry->mode == CPU_ENTRY_RING3) {
		/* Tiny guest: the platform's own GDT/TSS/IDT (platform/ring3.c). */
		if (!entry->set_sregs)
			return -EINVAL;
		entry->set_sregs(&sregs);
		regs.rflags = entry->rflags;
		regs.rsp = entry->rsp;
		regs.rsi = 0;
		regs.rdi = entry->info;
	}
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0) {
		int err = errno;

		log_err("setting boot vCPU registers: %s", strerror(err));
		return -err;
	}
	return 0;
}

static void dump_seg(FILE *out, const char *name, const struct kvm_segment *s)
{
	fprintf(out, "  %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u l=%u db=%u\r\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl, s->l, s->db);
}

void cpu_dump_state(FILE *out, int fd, const struct gmem *m)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "  (registers unavailable: %s)\r\n", strerror(errno));
		return;
	}
	fprintf(out, "  rip=%016llx rsp=%016llx rflags=%016llx\r\n"
		"  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\r\n"
		"  rsi=%016llx rdi=%016llx rbp=%016llx\r\n"
		"  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\r\n"
		"  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\r\n"
		"  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\r\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
		r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	/* SVM's shutdown intercept leaves the VMCB undefined, so KVM resets the
	 * vCPU before telling us: say so rather than pass off reset state. */
	if (r.rip == 0xfff0 && s.cs.base == 0xffff0000)
		fprintf(out, "  (this is the reset state: KVM reset the vCPU on shutdown, as it does "
			"on AMD; the state at the fault is lost)\r\n");
	dump_seg(out, "cs", &s.cs);
	dump_seg(out, "ss", &s.ss);
	dump_seg(out, "ds", &s.ds);
	dump_seg(out, "tr", &s.tr);
	fprintf(out, "  gdt=%016llx/%x idt=%016llx/%x\r\n", (unsigned long long)s.gdt.base,
		s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);

	struct kvm_translation t = { .linear_address = s.cs.base + r.rip };

	if (ioctl(fd, KVM_TRANSLATE, &t) == 0 && t.valid) {
		const uint8_t *code = gmem_ptr(m, t.physical_address, 16);

		if (code) {
			fprintf(out, "  code at rip (gpa %#llx):", (unsigned long long)t.physical_address);
			for (int i = 0; i < 16; i++)
				fprintf(out, " %02x", code[i]);
			fprintf(out, "\r\n");
		}
	}
}
