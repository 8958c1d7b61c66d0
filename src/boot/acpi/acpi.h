/* acpi.h - the ACPI tables mvm gives the guest (RSDP, XSDT, FADT, MADT, DSDT).
 *
 * Contract: acpi_build() writes a HW-reduced ACPI description of the board
 * into guest RAM at [LAYOUT_ACPI_START, LAYOUT_ACPI_END): the RSDP first (a
 * guest without boot_params.acpi_rsdp_addr finds it by scanning 0xE0000-
 * 0xFFFFF), then XSDT, FADT, MADT and DSDT. It builds everything in host
 * memory first and copies it in with one gmem_write(), so on any error the
 * guest region is left untouched. The e820/PVH memory map must mark the
 * region reserved (layout.h says so; the boot loader does it).
 *
 * What the guest sees:
 *  - FADT rev 6, HW_REDUCED_ACPI: no PM1/GPE blocks, no SCI handler, no
 *    FACS. Poweroff writes (ACPI_S5_SLP_TYP << 2) | 0x20 to the byte port
 *    PORT_ACPI_SLEEP_CTL (ACPICA's extended sleep path, using \_S5); reboot
 *    writes ACPI_RESET_VALUE to PORT_ACPI_RESET (Linux's acpi_reboot, the
 *    first method of the default x86 reboot order). Before the sleep write
 *    ACPICA writes 0x80 (WAK_STS, clear) to PORT_ACPI_SLEEP_STS, and after
 *    it polls that port until bit 7 is set, so the VMM should accept the
 *    status write and stop the VM on the control write.
 *  - MADT: one enabled LAPIC per vCPU (APIC ID == ACPI UID == index), one
 *    IOAPIC (ID 0, GSI base 0, IOAPIC_NR_PINS pins), PCAT_COMPAT (KVM's
 *    in-kernel irqchip has the dual 8259), and no interrupt source
 *    overrides: ISA IRQ n is GSI n, which is KVM's default GSI routing (an
 *    IRQ0->GSI2 override would be wrong: the in-kernel PIT injects on GSI 0
 *    and KVM routes that to IOAPIC pin 0). No SCI override either: with
 *    HW_REDUCED_ACPI, ACPICA installs no SCI handler and Linux skips the
 *    SCI's IOAPIC setup, so IRQ 9 stays free and SCI_INT is informational.
 *  - DSDT: \_SB.COM1 (PNP0501), \_SB.RTC (PNP0B00), \_SB.PEVT (QEMU0001
 *    pvpanic, I/O port), one \_SB.Vxxx per acpi_mmio_dev, and \_S5.
 *  - With legacy_pm (a multiboot kernel, as SeaBIOS describes QEMU's PC):
 *    the FADT is not HW-reduced; it points at a FACS (ACPI_FACS_GPA, all
 *    zero but its header: the guest writes its waking vector there), the
 *    PM1a event block (PORT_ACPI_PM1_EVT, 4 bytes), PM1a control block
 *    (PORT_ACPI_PM1_CNT, 2 bytes) and PM timer (PORT_ACPI_PM_TMR, 24-bit)
 *    in the 32-bit fields and the extended GAS ones, no SMI command port
 *    (ACPI mode is on from the start), and the DSDT adds \_S3. The HW-
 *    reduced sleep and reset registers stay.
 */
#ifndef MVM_BOOT_ACPI_ACPI_H
#define MVM_BOOT_ACPI_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/layout.h"
#include "core/memory.h"

#define ACPI_MAX_CPUS 255
/* Caps the DSDT device names V000..VFFF; far more than fit in the region. */
#define ACPI_MAX_MMIO_DEVS 4096
/* The FACS with legacy_pm: 64-byte aligned, right after the RSDP. */
#define ACPI_FACS_GPA (LAYOUT_ACPI_START + 64)
#define ACPI_FACS_WAKING_VECTOR 12   /* offset of the 32-bit real-mode vector */

struct acpi_mmio_dev {          /* a device the DSDT declares, e.g. virtio-mmio */
	const char *hid;            /* _HID string, e.g. "LNRO0005" for virtio-mmio */
	uint32_t uid;
	uint64_t base;              /* MMIO window; must lie below 4 GiB */
	uint32_t size;              /* > 0 */
	uint32_t gsi;               /* < IOAPIC_NR_PINS; declared edge, active high */
};

struct acpi_cfg {
	int nr_cpus;                            /* 1..255, APIC IDs 0..nr_cpus-1 */
	const struct acpi_mmio_dev *mmio_devs;  /* may be NULL */
	int nr_mmio_devs;
	bool legacy_pm;                         /* PM1 blocks, PM timer, FACS, \_S3 */
};

/* Writes the RSDP at LAYOUT_ACPI_START and all tables after it, inside
 * [LAYOUT_ACPI_START, LAYOUT_ACPI_END), through gmem_ptr only. 0 or -errno:
 * -ENOSPC if they don't fit, -EINVAL for a bad cfg (logged, naming the
 * field), -EFAULT if the region is not guest RAM, -ENOMEM.
 * *rsdp_gpa receives the RSDP's address. */
int acpi_build(const struct gmem *m, const struct acpi_cfg *cfg, uint64_t *rsdp_gpa);

#endif
