/* cpu.h - x86 vCPU initial state: boot GDT and page tables, CPUID, MSRs,
 * FPU, LAPIC LINT pins, and registers for each boot entry mode.
 *
 * Contract: cpu_write_boot_tables() writes the GDT (LAYOUT_GDT) and an
 * identity map of 0-4 GiB with 2 MiB pages (LAYOUT_PML4/PDPT/PD) into guest
 * RAM. cpu_init() prepares any vCPU; cpu_set_entry() only the boot vCPU:
 * application processors wait for INIT/SIPI in the in-kernel LAPIC.
 */
#ifndef MVM_CORE_CPU_H
#define MVM_CORE_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>

#include "boot/boot.h"
#include "core/memory.h"

/* GDT selectors mvm's boot GDT provides. */
#define CPU_SEL_CODE32 0x08
#define CPU_SEL_CODE64 0x10
#define CPU_SEL_DATA   0x18
#define CPU_SEL_TSS    0x20

int cpu_write_boot_tables(const struct gmem *m);
int cpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported, int index, int nr_cpus);
int cpu_set_entry(int vcpu_fd, const struct boot_entry *entry);

/* Registers, control registers, segments and the code bytes at RIP. */
void cpu_dump_state(FILE *out, int vcpu_fd, const struct gmem *m);

#endif
