/* layout.h - every guest-physical address mvm uses, in one place.
 *
 * Low memory (below 1 MiB) holds the structures mvm builds for boot; the
 * kernel loads at 1 MiB; RAM above MMIO_HOLE_START continues at 4 GiB.
 *
 *   0x00000500  GDT                     0x00007000  zero page (boot_params)
 *   0x00000528  IDT (empty)             0x00009000  PML4, 0xa000 PDPT,
 *   0x00006000  PVH hvm_start_info      0x0000b000  4 page directories (0-4 GiB, 2 MiB pages)
 *   0x00006400  PVH memory map          0x00020000  kernel command line (max 64 KiB)
 *   0x00030000  Multiboot info, module list, loader name, memory map, module string (to 0x31000)
 *   0x0009fc00  EBDA (reserved)         0x000e0000  ACPI: RSDP then tables (reserved)
 *   0x00100000  kernel (bzImage protected-mode part)
 *   0xc0000000  32-bit MMIO hole start (virtio-mmio windows at 0xd0000000)
 *   0xfec00000  IOAPIC   0xfee00000 LAPIC   0xff000000 pc-testdev iomem (--pc-testdev)
 *   0xfffbc000  identity map + TSS (KVM)
 */
#ifndef MVM_CORE_LAYOUT_H
#define MVM_CORE_LAYOUT_H

#define LAYOUT_GDT              0x00000500ULL
#define LAYOUT_IDT              0x00000528ULL /* after the 5-entry GDT */
#define LAYOUT_PVH_START_INFO   0x00006000ULL
#define LAYOUT_PVH_MEMMAP       0x00006400ULL
#define LAYOUT_PVH_MODLIST      0x00006e00ULL
#define LAYOUT_ZERO_PAGE        0x00007000ULL
#define LAYOUT_BOOT_STACK       0x00008ff0ULL
#define LAYOUT_PML4             0x00009000ULL
#define LAYOUT_PDPT             0x0000a000ULL
#define LAYOUT_PD               0x0000b000ULL /* four pages: 0xb000-0xefff */
#define LAYOUT_CMDLINE          0x00020000ULL
#define LAYOUT_CMDLINE_MAX      0x00010000ULL
/* Multiboot v1 (boot/multiboot.c): info structure and what it points to.
 * The command line itself goes to LAYOUT_CMDLINE as for the other loaders. */
#define LAYOUT_MB_INFO          0x00030000ULL /* struct multiboot_info, 0x80 bytes */
#define LAYOUT_MB_MODS          0x00030080ULL /* one 16-byte module entry */
#define LAYOUT_MB_LOADER_NAME   0x000300c0ULL /* "mvm" */
#define LAYOUT_MB_MMAP          0x00030100ULL /* size-prefixed e820 entries, 24 bytes each */
#define LAYOUT_MB_MODSTR        0x00030200ULL /* module 0's string (the initrd path) */
#define LAYOUT_MB_END           0x00031000ULL
/* A multiboot kernel may also load below 1 MiB: from here up to the EBDA,
 * except LAYOUT_CMDLINE..LAYOUT_MB_END (only the GDT below it is in use:
 * multiboot enters with paging off, so no page tables are written). */
#define LAYOUT_MB_LOW_START     0x00001000ULL
/* ELF64 tiny guests (boot/elf64.c, core/ring3.c; docs/guest-abi.md). The
 * boot info page is user-readable; GDT..PT are mvm's, mapped supervisor-only;
 * page 0 is not mapped at all, so a NULL dereference faults. */
#define LAYOUT_R3_BOOTINFO      0x00040000ULL /* struct mvm_bootinfo, one page */
#define LAYOUT_R3_SYS_START     0x00041000ULL /* first supervisor-only page */
#define LAYOUT_R3_GDT           0x00041000ULL /* 7 entries (the TSS takes two) */
#define LAYOUT_R3_TSS           0x00041080ULL /* 64-bit TSS, 104 bytes */
#define LAYOUT_R3_FAULT_REPORT  0x00041200ULL /* struct mvm_fault_report */
#define LAYOUT_R3_IDT           0x00042000ULL /* 256 gates, one page */
#define LAYOUT_R3_STUB          0x00043000ULL /* ring-0 exception stub code */
#define LAYOUT_R3_STACK0_TOP    0x00045000ULL /* TSS.RSP0: ring-0 stack page 0x44000 */
#define LAYOUT_R3_PML4          0x00045000ULL
#define LAYOUT_R3_PDPT          0x00046000ULL
#define LAYOUT_R3_PD            0x00047000ULL /* four pages: 0-4 GiB */
#define LAYOUT_R3_PT            0x0004b000ULL /* the first 2 MiB in 4 KiB pages */
#define LAYOUT_R3_SYS_END       0x0004c000ULL
#define LAYOUT_R3_STACK_BOTTOM  0x00050000ULL /* the guest's ring-3 stack */
#define LAYOUT_R3_STACK_TOP     0x0009f000ULL
#define LAYOUT_EBDA_START       0x0009fc00ULL
#define LAYOUT_ACPI_START       0x000e0000ULL /* RSDP here, tables after it */
#define LAYOUT_ACPI_END         0x00100000ULL
#define LAYOUT_HIMEM_START      0x00100000ULL /* bzImage loads here */

#define LAYOUT_MMIO_HOLE_START  0xc0000000ULL
#define LAYOUT_MMIO_HOLE_END    0x100000000ULL
#define LAYOUT_VIRTIO_MMIO_BASE 0xd0000000ULL /* one 4 KiB window per device */
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ULL
#define LAYOUT_IOAPIC           0xfec00000ULL
#define LAYOUT_LAPIC            0xfee00000ULL
#define LAYOUT_TESTDEV_IOMEM    0xff000000ULL /* pc-testdev's 64 KiB, only with --pc-testdev */
#define LAYOUT_IDENTITY_MAP     0xfffbc000ULL /* KVM_SET_IDENTITY_MAP_ADDR, 1 page */
#define LAYOUT_TSS              0xfffbd000ULL /* KVM_SET_TSS_ADDR, 3 pages */
#define LAYOUT_HIGH_RAM_START   0x100000000ULL

/* Legacy devices (port I/O). */
#define PORT_COM1               0x3f8
#define IRQ_COM1                4
#define PORT_I8042_DATA         0x60
#define PORT_I8042_CMD          0x64
#define IRQ_KBD                 1
#define PORT_RTC                0x70 /* 0x70 index, 0x71 data */
#define IRQ_RTC                 8
#define PORT_PVPANIC            0x505
#define PORT_FW_CFG             0x510 /* QEMU fw_cfg: 0x510 selector, 0x511 data */
#define PORT_FW_CFG_LEN         2
/* QEMU's pc-testdev (board/pc_testdev.h), only with --pc-testdev. */
#define PORT_TESTDEV_LATCH      0xe0  /* 4 bytes */
#define PORT_TESTDEV_FLUSH      0xe4  /* 4 bytes */
#define PORT_TESTDEV_IRQ        0x2000 /* 24 ports: IRQ line n at 0x2000 + n */
#define PORT_HCALL              0x520 /* 16 call ports, ELF64 tiny guests only (mvm/abi.h) */
#define PORT_HCALL_LEN          19    /* + 3: a 4-byte OUT to the last port spans them */
#define PORT_DEBUG_EXIT         0xf4  /* QEMU isa-debug-exit, 4 bytes */
#define PORT_DEBUG_EXIT_LEN     4
/* HW-reduced ACPI registers (FADT sleep control/status, reset), 1 byte each. */
#define PORT_ACPI_SLEEP_CTL     0x600 /* write (SLP_TYP << 2) | SLP_EN (0x20) */
#define PORT_ACPI_SLEEP_STS     0x601
#define PORT_ACPI_RESET         0x602 /* write ACPI_RESET_VALUE to reset */
#define PORT_ACPI_PM_LEN        3
#define ACPI_RESET_VALUE        0x1
#define ACPI_S5_SLP_TYP         5     /* \_S5 package value */
#define ACPI_S3_SLP_TYP         1     /* \_S3 package value (legacy PM1 only) */
/* Legacy ACPI fixed hardware, for a multiboot kernel only (board/acpi_pm1.h):
 * PM1a event block (STS, EN), PM1a control block, then the PM timer. */
#define PORT_ACPI_PM1_EVT       0x608 /* 4 bytes */
#define PORT_ACPI_PM1_CNT       0x60c /* 2 bytes */
#define PORT_ACPI_PM_TMR        0x610 /* 4 bytes */
#define PORT_ACPI_PM1_LEN       12
#define IRQ_ACPI_SCI            9

/* The mptable-free x86 board: 24 IOAPIC pins, GSI n == pin n. */
#define IOAPIC_NR_PINS          24

#endif
