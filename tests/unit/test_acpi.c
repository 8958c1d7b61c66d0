/* test_acpi.c - acpi_build() into fake guest RAM, read back as a guest would.
 *
 * Set MVM_ACPI_DUMP_DIR to also write the tables (with 2 CPUs and 2 MMIO
 * devices) as <dir>/{dsdt,facp,apic,xsdt}.dat for `iasl -d`; see
 * tests/unit/acpi_iasl.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "boot/acpi/acpi.h"
#include "core/layout.h"
#include "core/memory.h"
#include "util/log.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

struct tables {
	const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt;
};

static void quiet_sink(enum log_level l, const char *msg, void *ctx)
{
	(void)l;
	(void)msg;
	(void)ctx;
}

/* Keeps the last message so negative tests can check it names the field. */
static void keep_sink(enum log_level l, const char *msg, void *ctx)
{
	(void)l;
	snprintf(ctx, 256, "%s", msg);
}

/* A table at gpa, checked to lie inside the ACPI region with a valid
 * length and checksum. */
static const uint8_t *table_at(const struct gmem *m, uint64_t gpa, const char *sig)
{
	assert_true(gpa >= LAYOUT_ACPI_START && gpa + 36 <= LAYOUT_ACPI_END);
	const uint8_t *t = gmem_ptr(m, gpa, 36);

	assert_non_null(t);
	assert_memory_equal(t, sig, 4);
	uint32_t len = rd32(t + 4);

	assert_true(len >= 36);
	assert_true(gpa + len <= LAYOUT_ACPI_END);
	assert_non_null(gmem_ptr(m, gpa, len));
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "MVM   ", 6);
	return t;
}

static void find_tables(const struct gmem *m, uint64_t rsdp_gpa, struct tables *t)
{
	assert_int_equal(rsdp_gpa, LAYOUT_ACPI_START);
	t->rsdp = gmem_ptr(m, rsdp_gpa, 36);
	assert_non_null(t->rsdp);
	assert_memory_equal(t->rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(t->rsdp, 20), 0);
	assert_int_equal(t->rsdp[15], 2);
	assert_int_equal(rd32(t->rsdp + 20), 36);
	assert_int_equal(sum(t->rsdp, 36), 0);
	assert_memory_equal(t->rsdp + 9, "MVM   ", 6);

	t->xsdt = table_at(m, rd64(t->rsdp + 24), "XSDT");
	uint32_t n = (rd32(t->xsdt + 4) - 36) / 8;

	assert_int_equal(rd32(t->xsdt + 4), 36 + 8 * n);
	t->fadt = t->madt = NULL;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = rd64(t->xsdt + 36 + 8 * i);
		const uint8_t *h = gmem_ptr(m, gpa, 4);

		assert_non_null(h);
		if (!memcmp(h, "FACP", 4))
			t->fadt = table_at(m, gpa, "FACP");
		else if (!memcmp(h, "APIC", 4))
			t->madt = table_at(m, gpa, "APIC");
		else
			fail_msg("unexpected table in XSDT");
	}
	assert_non_null(t->fadt);
	assert_non_null(t->madt);
	t->dsdt = table_at(m, rd64(t->fadt + 140), "DSDT");
}

static int build_pm(struct gmem *m, int nr_cpus, const struct acpi_mmio_dev *devs, int n,
		    bool legacy_pm, struct tables *t)
{
	struct acpi_cfg cfg = { .nr_cpus = nr_cpus, .mmio_devs = devs, .nr_mmio_devs = n,
				.legacy_pm = legacy_pm };
	uint64_t rsdp = 0;
	int ret = acpi_build(m, &cfg, &rsdp);

	if (ret == 0)
		find_tables(m, rsdp, t);
	return ret;
}

static int build(struct gmem *m, int nr_cpus, const struct acpi_mmio_dev *devs, int n,
		 struct tables *t)
{
	return build_pm(m, nr_cpus, devs, n, false, t);
}

static int setup(void **state)
{
	struct gmem *m = calloc(1, sizeof(*m));

	if (!m || gmem_init(m, 256ULL << 20))
		return -1;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	gmem_free(*state);
	free(*state);
	return 0;
}

static const uint8_t *memmem_in(const uint8_t *hay, size_t n, const void *needle, size_t k)
{
	return memmem(hay, n, needle, k);
}

static int dsdt_has(const struct tables *t, const void *needle, size_t k)
{
	return memmem_in(t->dsdt + 36, rd32(t->dsdt + 4) - 36, needle, k) != NULL;
}

static void check_gas(const uint8_t *g, uint16_t port, uint8_t bits, uint8_t access)
{
	assert_int_equal(g[0], 1);     /* SystemIO */
	assert_int_equal(g[1], bits);  /* bit width */
	assert_int_equal(g[2], 0);     /* bit offset */
	assert_int_equal(g[3], access);
	assert_int_equal(rd64(g + 4), port);
}

static void check_gas_port(const uint8_t *g, uint16_t port)
{
	check_gas(g, port, 8, 1);      /* byte access */
}

static void test_fadt(void **state)
{
	struct tables t;

	assert_int_equal(build(*state, 1, NULL, 0, &t), 0);
	assert_int_equal(rd32(t.fadt + 4), 276);
	assert_int_equal(t.fadt[8], 6);
	uint32_t flags = rd32(t.fadt + 112);

	assert_true(flags & (1u << 20));          /* HW_REDUCED_ACPI */
	assert_true(flags & (1u << 10));          /* RESET_REG_SUP */
	check_gas_port(t.fadt + 116, PORT_ACPI_RESET);
	assert_int_equal(t.fadt[128], ACPI_RESET_VALUE);
	check_gas_port(t.fadt + 244, PORT_ACPI_SLEEP_CTL);
	check_gas_port(t.fadt + 256, PORT_ACPI_SLEEP_STS);
	assert_int_equal(rd16(t.fadt + 46), IRQ_ACPI_SCI);
	uint16_t iapc = rd16(t.fadt + 109);

	assert_true(iapc & (1u << 2));            /* VGA not present */
	assert_false(iapc & (1u << 1));           /* no 8042 */
	assert_false(iapc & (1u << 3));           /* MSI not unsupported */
	assert_false(iapc & (1u << 5));           /* CMOS RTC present */
	assert_int_equal(rd32(t.fadt + 40), 0);   /* only X_DSDT */
	assert_int_equal(rd64(t.fadt + 132), 0);  /* no FACS */
	assert_int_equal(rd32(t.fadt + 36), 0);
	assert_int_equal(rd32(t.fadt + 56), 0);   /* no PM1 blocks, no PM timer */
	assert_int_equal(rd32(t.fadt + 64), 0);
	assert_int_equal(rd32(t.fadt + 76), 0);
	assert_false(dsdt_has(&t, "_S3_", 4));
	assert_int_equal(t.dsdt[8], 2);           /* 64-bit integers */
}

/* A multiboot kernel's FADT (kvm-unit-tests' s3): not HW-reduced, a FACS
 * whose waking vector the guest sets, PM1a blocks, a PM timer and \_S3. */
static void test_fadt_legacy_pm(void **state)
{
	struct tables t;
	/* Package (4) { One, Zero, Zero, Zero }: AML's OneOp for SLP_TYP 1. */
	static const uint8_t s3[] = { 0x08, 0x5c, '_', 'S', '3', '_', 0x12, 0x06, 0x04,
				      0x01, 0x00, 0x00, 0x00 };
	struct gmem *m = *state;

	assert_int_equal(build_pm(m, 2, NULL, 0, true, &t), 0);
	uint32_t flags = rd32(t.fadt + 112);

	assert_false(flags & (1u << 20));         /* not HW_REDUCED_ACPI */
	assert_false(flags & (1u << 8));          /* 24-bit PM timer */
	assert_true(flags & (1u << 10));          /* the reset register stays */
	assert_int_equal(rd32(t.fadt + 36), ACPI_FACS_GPA);
	assert_int_equal(rd64(t.fadt + 132), 0);  /* FIRMWARE_CTRL only, as the spec wants */
	assert_int_equal(rd32(t.fadt + 48), 0);   /* no SMI_CMD: ACPI mode from the start */
	assert_int_equal(rd32(t.fadt + 56), PORT_ACPI_PM1_EVT);
	assert_int_equal(rd32(t.fadt + 64), PORT_ACPI_PM1_CNT);
	assert_int_equal(rd32(t.fadt + 76), PORT_ACPI_PM_TMR);
	assert_int_equal(t.fadt[88], 4);
	assert_int_equal(t.fadt[89], 2);
	assert_int_equal(t.fadt[91], 4);
	check_gas(t.fadt + 148, PORT_ACPI_PM1_EVT, 32, 2);
	check_gas(t.fadt + 172, PORT_ACPI_PM1_CNT, 16, 2);
	check_gas(t.fadt + 208, PORT_ACPI_PM_TMR, 32, 3);
	/* The FACS: 64 bytes, 64-byte aligned, version 2, waking vector 0. */
	assert_int_equal(ACPI_FACS_GPA % 64, 0);
	const uint8_t *facs = gmem_ptr(m, ACPI_FACS_GPA, 64);

	assert_non_null(facs);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(rd32(facs + 4), 64);
	assert_int_equal(rd32(facs + ACPI_FACS_WAKING_VECTOR), 0);
	assert_int_equal(facs[32], 2);
	/* Nothing overlaps it: the XSDT starts after it. */
	assert_true(t.xsdt >= facs + 64);
	assert_true(dsdt_has(&t, s3, sizeof(s3)));
	assert_true(dsdt_has(&t, "_S5_", 4));
}

static void check_madt(struct gmem *m, int n)
{
	struct tables t;

	assert_int_equal(build(m, n, NULL, 0, &t), 0);
	assert_int_equal(rd32(t.madt + 36), LAYOUT_LAPIC);
	assert_int_equal(rd32(t.madt + 40), 1);   /* PCAT_COMPAT */
	uint32_t len = rd32(t.madt + 4);
	int lapics = 0, ioapics = 0, others = 0;

	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = t.madt + off;

		assert_true(off + 2 <= len);
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], lapics);   /* UID */
			assert_int_equal(e[3], lapics);   /* APIC ID */
			assert_int_equal(rd32(e + 4), 1); /* enabled */
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], 0);
			assert_int_equal(rd32(e + 4), LAYOUT_IOAPIC);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		default:
			others++;
		}
		off += e[1];
	}
	assert_int_equal(lapics, n);
	assert_int_equal(ioapics, 1);
	assert_int_equal(others, 0);              /* no IRQ0->GSI2, no SCI override */
}

static void test_madt(void **state)
{
	check_madt(*state, 1);
	check_madt(*state, 2);
	check_madt(*state, 64);
	check_madt(*state, 255);
}

static void test_dsdt_devices(void **state)
{
	struct tables t;
	static const uint8_t pnp0501[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01 };
	static const uint8_t pnp0b00[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0b, 0x00 };
	/* IO(Decode16, 0x3F8, 0x3F8, 1, 8), IRQNoFlags(){4} */
	static const uint8_t com1_crs[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
					    0x22, 0x10, 0x00, 0x79 };
	static const uint8_t rtc_crs[] = { 0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02,
					   0x22, 0x00, 0x01, 0x79 };
	static const uint8_t kbd_crs[] = { 0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,
					   0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,
					   0x22, 0x02, 0x00, 0x79 };
	static const uint8_t pvp_crs[] = { 0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01, 0x79 };
	static const uint8_t s5[] = { 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x07, 0x04,
				      0x0a, ACPI_S5_SLP_TYP, 0x00, 0x00, 0x00 };
	static const uint8_t sb[] = { 0x10, 0x00, 0x5c, '_', 'S', 'B', '_' };

	assert_int_equal(build(*state, 1, NULL, 0, &t), 0);
	assert_true(dsdt_has(&t, pnp0501, sizeof(pnp0501)));
	assert_true(dsdt_has(&t, pnp0b00, sizeof(pnp0b00)));
	assert_true(dsdt_has(&t, "\x0dQEMU0001", 10));
	assert_true(dsdt_has(&t, com1_crs, sizeof(com1_crs)));
	assert_true(dsdt_has(&t, rtc_crs, sizeof(rtc_crs)));
	assert_true(dsdt_has(&t, pvp_crs, sizeof(pvp_crs)));
	assert_true(dsdt_has(&t, s5, sizeof(s5)));
	assert_true(dsdt_has(&t, "\x14\x09_STA\x00\xa4\x0a\x0f", 9));
	/* The PS/2 keyboard (Ctrl-Alt-Del): EISAID PNP0303, IO 0x60, IO 0x64, IRQ 1. */
	assert_true(dsdt_has(&t, kbd_crs, sizeof(kbd_crs)));
	assert_true(dsdt_has(&t, "\x41\xd0\x03\x03", 4));
	assert_false(dsdt_has(&t, "\x41\xd0\x0f\x13", 4));   /* no PNP0F13 mouse */
	assert_false(dsdt_has(&t, "LNRO", 4));
	/* The body starts with Scope(\_SB) (PkgLength bytes vary). */
	assert_int_equal(t.dsdt[36], sb[0]);
	assert_true(dsdt_has(&t, sb + 2, 5));
}

static void test_dsdt_mmio(void **state)
{
	struct tables t;
	const struct acpi_mmio_dev devs[2] = {
		{ .hid = "LNRO0005", .uid = 0, .base = 0xd0000000, .size = 0x1000, .gsi = 5 },
		{ .hid = "LNRO0005", .uid = 1, .base = 0xd0001000, .size = 0x1000, .gsi = 6 },
	};
	static const uint8_t crs1[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xd0,
					0x00, 0x10, 0x00, 0x00,
					0x89, 0x06, 0x00, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00, 0x79 };

	assert_int_equal(build(*state, 2, devs, 2, &t), 0);
	assert_true(dsdt_has(&t, "\x08_HID\x0dLNRO0005", 15));
	assert_true(dsdt_has(&t, "V000", 4));
	assert_true(dsdt_has(&t, "V001", 4));
	assert_true(dsdt_has(&t, "\x08_UID\x01", 6));
	assert_true(dsdt_has(&t, crs1, sizeof(crs1)));
}

static void test_bad_cfg(void **state)
{
	struct gmem *m = *state;
	struct acpi_cfg cfg = { .nr_cpus = 0 };
	uint64_t rsdp;
	struct acpi_mmio_dev d = { .hid = "LNRO0005", .base = 0xd0000000, .size = 0x1000, .gsi = 5 };
	char msg[256] = "";

	log_set_sink(keep_sink, msg);
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);
	assert_non_null(strstr(msg, "nr_cpus 0"));
	cfg.nr_cpus = 256;
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);
	assert_non_null(strstr(msg, "nr_cpus 256"));
	cfg.nr_cpus = 1;
	cfg.nr_mmio_devs = 1;
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);   /* NULL array */
	cfg.mmio_devs = &d;
	d.gsi = IOAPIC_NR_PINS;
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);
	assert_non_null(strstr(msg, "mmio device 0: gsi 24"));
	d.gsi = 5;
	d.base = 0xfffff000;
	d.size = 0x2000;
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);   /* crosses 4 GiB */
	d.base = 0xd0000000;
	d.size = 0;
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);
	d.size = 0x1000;
	d.hid = "";
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);
	d.hid = NULL;
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -EINVAL);
	assert_non_null(strstr(msg, "hid"));
	d.hid = "LNRO0005";
	assert_int_equal(acpi_build(m, &cfg, &rsdp), 0);

	/* No RAM under the region: refused, nothing dereferenced. */
	struct gmem none = { 0 };

	assert_int_equal(acpi_build(&none, &cfg, &rsdp), -EFAULT);
	assert_non_null(strstr(msg, "not guest RAM"));
	log_set_sink(NULL, NULL);
}

/* Too many devices: -ENOSPC, and not one byte written in or past the region. */
static void check_enospc(struct gmem *m, int n)
{
	struct acpi_mmio_dev *devs = calloc((size_t)n, sizeof(*devs));
	uint8_t *region = gmem_ptr(m, LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START + 4096);
	struct acpi_cfg cfg = { .nr_cpus = 255, .mmio_devs = devs, .nr_mmio_devs = n };
	uint64_t rsdp = 0;
	const size_t span = LAYOUT_ACPI_END - LAYOUT_ACPI_START + 4096;

	assert_non_null(devs);
	assert_non_null(region);
	for (int i = 0; i < n; i++)
		devs[i] = (struct acpi_mmio_dev){ .hid = "LNRO0005", .uid = (uint32_t)i,
			.base = 0xd0000000 + 0x1000ULL * (uint64_t)(i % 4096), .size = 0x1000,
			.gsi = 5 + (uint32_t)(i % 19) };
	memset(region, 0x5a, span);
	log_set_sink(quiet_sink, NULL);
	assert_int_equal(acpi_build(m, &cfg, &rsdp), -ENOSPC);
	log_set_sink(NULL, NULL);
	for (size_t i = 0; i < span; i++)
		assert_int_equal(region[i], 0x5a);
	free(devs);
}

static void test_enospc(void **state)
{
	check_enospc(*state, 10000);   /* refused up front */
	check_enospc(*state, 3000);    /* accepted, but the DSDT overflows */
}

/* The largest device count that fits still builds valid tables. */
static void test_many_devices_fit(void **state)
{
	enum { N = 1000 };
	struct acpi_mmio_dev *devs = calloc(N, sizeof(*devs));
	struct tables t;

	assert_non_null(devs);
	for (int i = 0; i < N; i++)
		devs[i] = (struct acpi_mmio_dev){ .hid = "LNRO0005", .uid = (uint32_t)i,
			.base = 0xd0000000 + 0x1000ULL * (uint64_t)i, .size = 0x1000, .gsi = 5 };
	assert_int_equal(build(*state, 255, devs, N, &t), 0);
	assert_true(dsdt_has(&t, "V3E7", 4));
	assert_true(rd32(t.dsdt + 4) > 4096 * 8); /* exercises multi-byte PkgLengths */
	free(devs);
}

static void dump(const struct gmem *m)
{
	const char *dir = getenv("MVM_ACPI_DUMP_DIR");
	const struct acpi_mmio_dev devs[2] = {
		{ .hid = "LNRO0005", .uid = 0, .base = 0xd0000000, .size = 0x1000, .gsi = 5 },
		{ .hid = "LNRO0005", .uid = 1, .base = 0xd0001000, .size = 0x1000, .gsi = 6 },
	};
	struct tables t;
	const struct { const char *name; const uint8_t **p; } out[] = {
		{ "dsdt", &t.dsdt }, { "facp", &t.fadt }, { "apic", &t.madt }, { "xsdt", &t.xsdt },
	};

	if (!dir)
		return;
	/* MVM_ACPI_DUMP_LEGACY=1: a multiboot kernel's tables (legacy PM1, FACS). */
	bool legacy = getenv("MVM_ACPI_DUMP_LEGACY") != NULL;

	assert_int_equal(build_pm((struct gmem *)m, 2, devs, 2, legacy, &t), 0);
	if (legacy) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/facs.dat", dir);
		f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(gmem_ptr(m, ACPI_FACS_GPA, 64), 1, 64, f);
		fclose(f);
	}
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.dat", dir, out[i].name);
		f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(*out[i].p, 1, rd32(*out[i].p + 4), f);
		fclose(f);
	}
}

static void test_dump(void **state)
{
	dump(*state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_fadt_legacy_pm),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_dsdt_devices),
		cmocka_unit_test(test_dsdt_mmio),
		cmocka_unit_test(test_bad_cfg),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_many_devices_fit),
		cmocka_unit_test(test_dump),
	};

	return cmocka_run_group_tests_name("acpi", tests, setup, teardown);
}
