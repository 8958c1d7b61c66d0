/* ring3.h - the machine mvm builds around an ELF64 tiny guest that runs in ring 3.
 *
 * Contract: ring3_write_tables() writes into guest RAM (LAYOUT_R3_*): a GDT
 * with ring-0 and ring-3 64-bit code/data segments and a 64-bit TSS whose
 * RSP0 is a ring-0 stack; an IDT whose 32 exception gates (DPL 0) lead to a
 * ring-0 stub that stores a struct mvm_fault_report at
 * LAYOUT_R3_FAULT_REPORT, writes MVM_HC_PORT(MVM_HC_FAULT) and halts; and
 * identity-mapped page tables for 0-4 GiB, user-accessible except page 0
 * (not present) and mvm's own pages [LAYOUT_R3_SYS_START, LAYOUT_R3_SYS_END)
 * (supervisor-only). ring3_set_sregs() fills the segment, descriptor-table
 * and control registers for entry at CPL 3 (cpu_set_entry uses it).
 */
#ifndef MVM_PLATFORM_RING3_H
#define MVM_PLATFORM_RING3_H

#include <linux/kvm.h>
#include <stddef.h>

#include "core/memory.h"

#define RING3_SEL_KCODE 0x08
#define RING3_SEL_KDATA 0x10
#define RING3_SEL_UDATA 0x1b /* 0x18 | RPL 3 */
#define RING3_SEL_UCODE 0x23 /* 0x20 | RPL 3 */
#define RING3_SEL_TSS   0x28 /* 16 bytes: two GDT slots */
#define RING3_GDT_LEN   0x38

#define RING3_RFLAGS    0x3002ULL /* IOPL 3, reserved bit 1; IF clear */

/* 0 or -EFAULT when RAM does not hold the tables (it always does >= 16 MiB). */
int ring3_write_tables(const struct gmem *m);
void ring3_set_sregs(struct kvm_sregs *s);

/* Are the GDT, TSS, IDT, exception stub and page tables still what ring3_write_tables
 * wrote (Accessed/Dirty bits aside)? 0 when they are; 1 with the first
 * difference described in WHAT; -errno when it could not tell. For a ring-3
 * guest's triple fault: the guest cannot write these supervisor pages itself,
 * so a difference means something else did. */
int ring3_check_tables(const struct gmem *m, char *what, size_t len);

#endif
