/* cpu.h - x86 vCPU initial state: boot GDT and page tables, CPUID, MSRs,
 * FPU, LAPIC LINT pins, and registers for each boot entry mode.
 *
 * Contract: cpu_write_boot_tables() writes the GDT (LAYOUT_GDT) and an
 * identity map of 0-4 GiB with 2 MiB pages (LAYOUT_PML4/PDPT/PD) into guest
 * RAM; cpu_write_boot_gdt() only the GDT (a 32-bit entry with paging off,
 * whose kernel may occupy the page tables' pages). cpu_init() prepares any vCPU; cpu_set_entry() only the boot vCPU:
 * application processors wait for INIT/SIPI in the in-kernel LAPIC.
 */
#ifndef MVM_CORE_CPU_H
#define MVM_CORE_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/memory.h"

/* GDT selectors mvm's boot GDT provides. */
#define CPU_SEL_CODE32 0x08
#define CPU_SEL_CODE64 0x10
#define CPU_SEL_DATA   0x18
#define CPU_SEL_TSS    0x20

/* How the boot vCPU enters the guest: the builder translates a loader's
 * result into this, so core knows no boot format. */
enum cpu_entry_mode {
	CPU_ENTRY_LINUX64,     /* long mode, paging on mvm's identity map, RSI = info */
	CPU_ENTRY_PVH32,       /* 32-bit protected mode, paging off, EBX = info */
	CPU_ENTRY_MULTIBOOT32, /* as PVH32, plus EAX = the multiboot loader magic */
	CPU_ENTRY_RING3,       /* long mode at CPL 3 on ring3.c's tables, RDI = info */
};

struct cpu_entry {
	enum cpu_entry_mode mode;
	uint64_t rip;
	uint64_t info;         /* zero page, hvm_start_info, multiboot_info or bootinfo gpa */
	/* CPU_ENTRY_RING3 only: segment and control registers for CPL 3
	 * (the tiny-guest platform's ring3_set_sregs), and its stack. */
	void (*set_sregs)(struct kvm_sregs *s);
	uint64_t rflags, rsp;
};

/* EAX at a multiboot entry (the Multiboot v1 spec's bootloader magic). */
#define CPU_MULTIBOOT_LOADER_MAGIC 0x2BADB002u

int cpu_write_boot_tables(const struct gmem *m);
int cpu_write_boot_gdt(const struct gmem *m);
/* hyperv: KVM's Hyper-V leaves and the vCPU's SynIC as well (core/hyperv.h).
 * seen (may be NULL): the CPUID KVM reports back for the vCPU once set
 * (KVM_GET_CPUID2; malloc'd, NULL if it cannot be read). On VT-x/AMD-V KVM
 * that is what mvm set; a PVM-backed KVM reports the host's own features
 * beside them, and its guests see those: a restore compares a saved CPUID
 * against this, not against what mvm asked for. */
int cpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported, int index, int nr_cpus,
	     bool hyperv, struct kvm_cpuid2 **seen);
int cpu_set_entry(int vcpu_fd, const struct cpu_entry *entry);
/* An ACPI S3 wake, on the vCPU's own thread: the vCPU back to its reset
 * state (boot MSRs, KVM's paravirtual MSRs off, FPU, debug registers, no
 * pending events, LAPIC registers at power-on with the PC's LINT wiring,
 * XCR0 = x87), then vCPU 0 in real mode at waking_vector (CS = vector >> 4,
 * IP = vector & 0xf) and every other vCPU waiting for INIT/SIPI. Memory,
 * the TSC and CPUID are left alone. 0 or -errno (logged). */
int cpu_wake_reset(int vcpu_fd, int index, uint32_t waking_vector);

/* Registers, control registers, segments and the code bytes at RIP. */
void cpu_dump_state(FILE *out, int vcpu_fd, const struct gmem *m);

#endif
