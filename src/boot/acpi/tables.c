/* tables.c - RSDP, XSDT, FADT and MADT, laid out in the ACPI region. */
#include "boot/acpi/acpi.h"
#include "boot/acpi/dsdt.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ACPI_OEM_ID        "MVM   "  /* 6 bytes */
#define ACPI_CREATOR_ID    "MVM "    /* 4 bytes */
#define ACPI_HDR_LEN       36

#define RSDP_LEN           36
#define XSDT_NR_ENTRIES    2         /* FADT, MADT; the DSDT hangs off the FADT */
#define FADT_LEN           276       /* revision 6 (ACPI 6.0-6.5) */
#define FADT_REVISION      6
#define FADT_MINOR         5
#define MADT_REVISION      5
#define DSDT_REVISION      2         /* 64-bit AML integers */

/* FADT field offsets (ACPI 6.5 table 5.9). */
#define FADT_FIRMWARE_CTRL 36
#define FADT_SCI_INT       46
#define FADT_PM1A_EVT_BLK  56
#define FADT_PM1A_CNT_BLK  64
#define FADT_PM_TMR_BLK    76
#define FADT_PM1_EVT_LEN   88
#define FADT_PM1_CNT_LEN   89
#define FADT_PM_TMR_LEN    91
#define FADT_X_PM1A_EVT    148
#define FADT_X_PM1A_CNT    172
#define FADT_X_PM_TMR      208
#define FADT_IAPC_BOOT     109
#define FADT_FLAGS         112
#define FADT_RESET_REG     116
#define FADT_RESET_VALUE   128
#define FADT_MINOR_VER     131
#define FADT_X_DSDT        140
#define FADT_SLEEP_CTL     244
#define FADT_SLEEP_STS     256
#define FADT_HYPERVISOR_ID 268

/* FADT Flags. */
#define FADT_F_WBINVD          (1u << 0)
#define FADT_F_PWR_BUTTON      (1u << 4)  /* set: no fixed-feature power button */
#define FADT_F_SLP_BUTTON      (1u << 5)  /* set: no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_TMR_VAL_EXT     (1u << 8)  /* set: 32-bit PM timer (ours is 24) */
#define FADT_F_HW_REDUCED_ACPI (1u << 20)

/* FACS (ACPI 6.5 table 5.14): 64 bytes, 64-byte aligned. */
#define FACS_LEN           64
#define FACS_VERSION_OFF   32
#define FACS_VERSION       2

/* IAPC_BOOT_ARCH. No 8042 bit: Linux then leaves the i8042 driver unbound
 * (we only emulate enough of it for reboot=k). No CMOS-RTC-absent bit: we
 * emulate the RTC. No MSI-not-supported bit. */
#define IAPC_LEGACY_DEVICES    (1u << 0)
#define IAPC_VGA_NOT_PRESENT   (1u << 2)

#define GAS_SYSTEM_IO      1
#define GAS_ACCESS_BYTE    1
#define GAS_ACCESS_WORD    2
#define GAS_ACCESS_DWORD   3

#define MADT_PCAT_COMPAT   1u
#define MADT_LAPIC         0
#define MADT_LAPIC_LEN     8
#define MADT_IOAPIC        1
#define MADT_IOAPIC_LEN    12
#define MADT_LAPIC_ENABLED 1u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0x100 - sum);
}

static void sdt_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev,
		       const char *table_id)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, table_id, 8);
	put32(t + 24, 1);                 /* OEM revision */
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t + 32, 1);                 /* creator revision */
}

/* Called last, once the table's bytes are final. */
static void sdt_seal(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* Generic Address Structure for a byte-wide I/O port. Linux's acpi_reboot()
 * insists on bit_width 8 and bit_offset 0 for the reset register. */
static void put_gas(uint8_t *p, uint16_t port, uint8_t bits, uint8_t access)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	put64(p + 4, port);
}

static void put_gas_port(uint8_t *p, uint16_t port)
{
	put_gas(p, port, 8, GAS_ACCESS_BYTE);
}

static size_t align16(size_t off)
{
	return (off + 15) & ~(size_t)15;
}

static void build_rsdp(uint8_t *p, uint64_t xsdt_gpa)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, ACPI_OEM_ID, 6);
	p[15] = 2;                        /* ACPI 2.0+: XSDT */
	put32(p + 16, 0);                 /* no RSDT */
	put32(p + 20, RSDP_LEN);
	put64(p + 24, xsdt_gpa);
	p[8] = checksum(p, 20);           /* ACPI 1.0 part */
	p[32] = checksum(p, RSDP_LEN);    /* whole structure */
}

static void build_xsdt(uint8_t *t, const uint64_t *entries, int n)
{
	uint32_t len = ACPI_HDR_LEN + 8u * (uint32_t)n;

	sdt_header(t, "XSDT", len, 1, "MVMXSDT ");
	for (int i = 0; i < n; i++)
		put64(t + ACPI_HDR_LEN + 8 * i, entries[i]);
	sdt_seal(t, len);
}

/* A FACS for the legacy PM blocks: the firmware waking vector lives here. */
static void build_facs(uint8_t *f)
{
	memcpy(f, "FACS", 4);
	put32(f + 4, FACS_LEN);
	f[FACS_VERSION_OFF] = FACS_VERSION;
}

/* The PM1a blocks and PM timer, in both the 32-bit fields (what
 * kvm-unit-tests reads) and the extended GAS ones (what ACPICA prefers). */
static void fadt_legacy_pm(uint8_t *t)
{
	put32(t + FADT_FIRMWARE_CTRL, (uint32_t)ACPI_FACS_GPA);
	put32(t + FADT_PM1A_EVT_BLK, PORT_ACPI_PM1_EVT);
	put32(t + FADT_PM1A_CNT_BLK, PORT_ACPI_PM1_CNT);
	put32(t + FADT_PM_TMR_BLK, PORT_ACPI_PM_TMR);
	t[FADT_PM1_EVT_LEN] = 4;
	t[FADT_PM1_CNT_LEN] = 2;
	t[FADT_PM_TMR_LEN] = 4;
	put_gas(t + FADT_X_PM1A_EVT, PORT_ACPI_PM1_EVT, 32, GAS_ACCESS_WORD);
	put_gas(t + FADT_X_PM1A_CNT, PORT_ACPI_PM1_CNT, 16, GAS_ACCESS_WORD);
	put_gas(t + FADT_X_PM_TMR, PORT_ACPI_PM_TMR, 32, GAS_ACCESS_DWORD);
}

static void build_fadt(uint8_t *t, uint64_t dsdt_gpa, bool legacy_pm)
{
	uint32_t flags = FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
			 FADT_F_RESET_REG_SUP;

	sdt_header(t, "FACP", FADT_LEN, FADT_REVISION, "MVMFACP ");
	put16(t + FADT_SCI_INT, IRQ_ACPI_SCI);
	put16(t + FADT_IAPC_BOOT, IAPC_LEGACY_DEVICES | IAPC_VGA_NOT_PRESENT);
	if (legacy_pm)
		fadt_legacy_pm(t);
	else
		flags |= FADT_F_HW_REDUCED_ACPI;
	put32(t + FADT_FLAGS, flags);
	put_gas_port(t + FADT_RESET_REG, PORT_ACPI_RESET);
	t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
	t[FADT_MINOR_VER] = FADT_MINOR;
	/* Only X_DSDT: the spec has OSPM ignore DSDT when X_DSDT is set, and
	 * ACPICA warns when the two disagree, so leave DSDT zero. FACS is
	 * optional with HW_REDUCED_ACPI and only the legacy blocks have one. */
	put64(t + FADT_X_DSDT, dsdt_gpa);
	put_gas_port(t + FADT_SLEEP_CTL, PORT_ACPI_SLEEP_CTL);
	put_gas_port(t + FADT_SLEEP_STS, PORT_ACPI_SLEEP_STS);
	memcpy(t + FADT_HYPERVISOR_ID, "MVM     ", 8);
	sdt_seal(t, FADT_LEN);
}

static uint32_t madt_len(int nr_cpus)
{
	return ACPI_HDR_LEN + 8 + MADT_LAPIC_LEN * (uint32_t)nr_cpus + MADT_IOAPIC_LEN;
}

static void build_madt(uint8_t *t, int nr_cpus)
{
	uint32_t len = madt_len(nr_cpus);
	uint8_t *e = t + ACPI_HDR_LEN + 8;

	sdt_header(t, "APIC", len, MADT_REVISION, "MVMMADT ");
	put32(t + ACPI_HDR_LEN, (uint32_t)LAYOUT_LAPIC);
	/* KVM's in-kernel irqchip does have the dual 8259 (QEMU microvm also
	 * sets this with HW-reduced ACPI); Linux bypasses it in HW-reduced mode. */
	put32(t + ACPI_HDR_LEN + 4, MADT_PCAT_COMPAT);
	for (int i = 0; i < nr_cpus; i++, e += MADT_LAPIC_LEN) {
		e[0] = MADT_LAPIC;
		e[1] = MADT_LAPIC_LEN;
		e[2] = (uint8_t)i;            /* ACPI processor UID */
		e[3] = (uint8_t)i;            /* APIC ID, as KVM_CREATE_VCPU's id */
		put32(e + 4, MADT_LAPIC_ENABLED);
	}
	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_LEN;
	e[2] = 0;                         /* IOAPIC ID */
	e[3] = 0;
	put32(e + 4, (uint32_t)LAYOUT_IOAPIC);
	put32(e + 8, 0);                  /* GSI base */
	sdt_seal(t, len);
}

static int hid_ok(const char *hid)
{
	size_t n;

	if (!hid)
		return 0;
	n = strlen(hid);
	if (n == 0 || n > 15)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (hid[i] <= 0x20 || hid[i] > 0x7e)
			return 0;
	}
	return 1;
}

static int check_cfg(const struct acpi_cfg *cfg)
{
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > ACPI_MAX_CPUS) {
		log_err("acpi: nr_cpus %d out of range 1..%d", cfg->nr_cpus, ACPI_MAX_CPUS);
		return -EINVAL;
	}
	if (cfg->nr_mmio_devs < 0 || (cfg->nr_mmio_devs > 0 && !cfg->mmio_devs)) {
		log_err("acpi: nr_mmio_devs %d without a device array", cfg->nr_mmio_devs);
		return -EINVAL;
	}
	if (cfg->nr_mmio_devs > ACPI_MAX_MMIO_DEVS) {
		log_err("acpi: %d MMIO devices do not fit in the ACPI region (at most %d)",
			cfg->nr_mmio_devs, ACPI_MAX_MMIO_DEVS);
		return -ENOSPC;
	}
	for (int i = 0; i < cfg->nr_mmio_devs; i++) {
		const struct acpi_mmio_dev *d = &cfg->mmio_devs[i];

		if (!hid_ok(d->hid)) {
			log_err("acpi: mmio device %d: hid must be 1-15 printable characters", i);
			return -EINVAL;
		}
		if (d->size == 0 || d->base > 0xffffffffULL ||
		    d->size - 1 > 0xffffffffULL - d->base) {
			log_err("acpi: mmio device %d: window 0x%llx+0x%x is empty or crosses 4 GiB",
				i, (unsigned long long)d->base, d->size);
			return -EINVAL;
		}
		if (d->gsi >= IOAPIC_NR_PINS) {
			log_err("acpi: mmio device %d: gsi %u is not an IOAPIC pin (0..%d)",
				i, d->gsi, IOAPIC_NR_PINS - 1);
			return -EINVAL;
		}
	}
	return 0;
}

int acpi_build(const struct gmem *m, const struct acpi_cfg *cfg, uint64_t *rsdp_gpa)
{
	const size_t region = LAYOUT_ACPI_END - LAYOUT_ACPI_START;
	size_t xsdt_off, fadt_off, madt_off, dsdt_off;
	struct aml_buf b;
	uint8_t *img;
	int ret;

	if (!m || !cfg || !rsdp_gpa)
		return -EINVAL;
	ret = check_cfg(cfg);
	if (ret)
		return ret;
	if (!gmem_ptr(m, LAYOUT_ACPI_START, region)) {
		log_err("acpi: region 0x%llx-0x%llx is not guest RAM",
			(unsigned long long)LAYOUT_ACPI_START, (unsigned long long)LAYOUT_ACPI_END);
		return -EFAULT;
	}

	/* Fixed-size tables first, the DSDT last: it takes whatever is left.
	 * The FACS, when there is one, sits at ACPI_FACS_GPA, after the RSDP. */
	xsdt_off = align16(cfg->legacy_pm ? ACPI_FACS_GPA - LAYOUT_ACPI_START + FACS_LEN
					  : RSDP_LEN);
	fadt_off = align16(xsdt_off + ACPI_HDR_LEN + 8 * XSDT_NR_ENTRIES);
	madt_off = align16(fadt_off + FADT_LEN);
	dsdt_off = align16(madt_off + madt_len(cfg->nr_cpus));
	if (dsdt_off + ACPI_HDR_LEN > region)
		return -ENOSPC;

	img = calloc(1, region);
	if (!img)
		return -ENOMEM;

	aml_init(&b, img + dsdt_off + ACPI_HDR_LEN, region - dsdt_off - ACPI_HDR_LEN);
	ret = acpi_dsdt_body(&b, cfg);
	if (ret) {
		if (ret == -ENOSPC)
			log_err("acpi: the DSDT for %d MMIO devices does not fit in %zu bytes",
				cfg->nr_mmio_devs, region);
		else
			log_err("acpi: building the DSDT failed (%d)", ret);
		free(img);
		return ret;
	}
	sdt_header(img + dsdt_off, "DSDT", (uint32_t)(ACPI_HDR_LEN + b.len), DSDT_REVISION,
		   "MVMDSDT ");
	sdt_seal(img + dsdt_off, (uint32_t)(ACPI_HDR_LEN + b.len));

	build_fadt(img + fadt_off, LAYOUT_ACPI_START + dsdt_off, cfg->legacy_pm);
	if (cfg->legacy_pm)
		build_facs(img + (ACPI_FACS_GPA - LAYOUT_ACPI_START));
	build_madt(img + madt_off, cfg->nr_cpus);
	uint64_t entries[XSDT_NR_ENTRIES] = {
		LAYOUT_ACPI_START + fadt_off,
		LAYOUT_ACPI_START + madt_off,
	};
	build_xsdt(img + xsdt_off, entries, XSDT_NR_ENTRIES);
	build_rsdp(img, LAYOUT_ACPI_START + xsdt_off);

	/* The whole region, so nothing from an earlier boot lingers. */
	ret = gmem_write(m, LAYOUT_ACPI_START, img, region);
	free(img);
	if (ret)
		return ret;
	*rsdp_gpa = LAYOUT_ACPI_START;
	return 0;
}
