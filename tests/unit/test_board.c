/* test_board.c - i8042 reset line, pvpanic and ACPI PM registers against a recording stopper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "board/acpi_pm.h"
#include "board/i8042.h"
#include "board/pvpanic.h"
#include "core/layout.h"
#include "recorders.h"


typedef void (*io_fn)(void *, uint64_t, uint8_t *, uint32_t, bool);

static uint8_t rd8(io_fn fn, void *o, uint64_t off)
{
	uint8_t v = 0;

	fn(o, off, &v, 1, false);
	return v;
}

static void wr8(io_fn fn, void *o, uint64_t off, uint8_t v)
{
	fn(o, off, &v, 1, true);
}

/* ---- i8042 ---- */

static void test_i8042_reset_pulse(void **state)
{
	struct stop_rec s = { 0 };
	struct i8042 k;

	(void)state;
	i8042_init(&k, STOPPER(s));
	/* Linux's kb_wait(): input buffer full (bit 1) must be clear. */
	assert_int_equal(rd8(i8042_cmd_io, &k, 0) & 0x02, 0);
	assert_int_equal(rd8(i8042_data_io, &k, 0), 0);
	wr8(i8042_data_io, &k, 0, 0xf4);           /* a keyboard command: ignored */
	assert_int_equal(s.count, 0);
	wr8(i8042_cmd_io, &k, 0, 0xfe);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.last, VM_STOP_RESET);
	wr8(i8042_cmd_io, &k, 0, 0xff);            /* pulse nothing */
	assert_int_equal(s.count, 1);
	i8042_destroy(&k);
}

static void test_i8042_commands(void **state)
{
	struct stop_rec s = { 0 };
	struct i8042 k;

	(void)state;
	i8042_init(&k, STOPPER(s));
	wr8(i8042_cmd_io, &k, 0, 0xaa);            /* self test */
	assert_int_equal(rd8(i8042_cmd_io, &k, 0) & 0x01, 0x01);
	assert_int_equal(rd8(i8042_data_io, &k, 0), 0x55);
	assert_int_equal(rd8(i8042_cmd_io, &k, 0) & 0x01, 0x00);

	wr8(i8042_cmd_io, &k, 0, 0x60);            /* write command byte */
	wr8(i8042_data_io, &k, 0, 0x65);
	wr8(i8042_cmd_io, &k, 0, 0x20);
	assert_int_equal(rd8(i8042_data_io, &k, 0), 0x65);

	wr8(i8042_cmd_io, &k, 0, 0xd0);            /* read output port */
	assert_int_equal(rd8(i8042_data_io, &k, 0) & 0x01, 0x01);
	wr8(i8042_cmd_io, &k, 0, 0xd1);            /* A20 on, reset high: fine */
	wr8(i8042_data_io, &k, 0, 0x03);
	assert_int_equal(s.count, 0);
	wr8(i8042_cmd_io, &k, 0, 0xd1);            /* reset line low */
	wr8(i8042_data_io, &k, 0, 0x02);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.last, VM_STOP_RESET);

	wr8(i8042_cmd_io, &k, 0, 0x12);            /* unknown: ignored */
	assert_int_equal(s.count, 1);
	i8042_destroy(&k);
}

static void test_i8042_odd_widths(void **state)
{
	struct stop_rec s = { 0 };
	struct i8042 k;
	uint8_t buf[8];

	(void)state;
	i8042_init(&k, STOPPER(s));
	memset(buf, 0xfe, sizeof(buf));
	i8042_cmd_io(&k, 3, buf, 4, true);         /* not offset 0: ignored */
	i8042_cmd_io(&k, 0, buf, 0, true);
	assert_int_equal(s.count, 0);
	i8042_cmd_io(&k, 0, buf, 4, false);
	assert_int_equal(buf[0] & 0x02, 0);
	assert_int_equal(buf[1], 0xff);
	i8042_data_io(&k, 0, buf, 8, false);
	i8042_data_io(&k, UINT64_MAX, buf, 8, false);
	buf[0] = 0xfe;
	buf[1] = 0xff;
	i8042_cmd_io(&k, 0, buf, 2, true);         /* 0xfe, 0xff as a word */
	assert_int_equal(s.last, VM_STOP_RESET);
	i8042_destroy(&k);
}

/* ---- pvpanic ---- */

static void test_pvpanic(void **state)
{
	struct stop_rec s = { 0 };
	struct pvpanic p;
	uint8_t buf[4];

	(void)state;
	pvpanic_init(&p, STOPPER(s));
	assert_int_equal(rd8(pvpanic_io, &p, 0), 0x03);
	pvpanic_io(&p, 0, buf, 4, false);
	assert_int_equal(buf[0], 0x03);
	assert_int_equal(buf[1], 0x00);
	wr8(pvpanic_io, &p, 0, 0x00);
	wr8(pvpanic_io, &p, 0, 0x02);              /* crash kernel loaded: log only */
	wr8(pvpanic_io, &p, 0, 0xf0);              /* unknown bits */
	wr8(pvpanic_io, &p, 1, 0x01);              /* outside the port */
	assert_int_equal(s.count, 0);
	assert_int_equal(p.regs.events_seen, 0x02);
	wr8(pvpanic_io, &p, 0, 0x01);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.last, VM_STOP_PANIC);
	pvpanic_destroy(&p);
}

/* ---- ACPI PM ---- */

static void test_acpi_poweroff(void **state)
{
	struct stop_rec s = { 0 };
	struct acpi_pm p;

	(void)state;
	acpi_pm_init(&p, STOPPER(s));
	wr8(acpi_pm_io, &p, 0, ACPI_S5_SLP_TYP << 2); /* no SLP_EN */
	assert_int_equal(s.count, 0);
	wr8(acpi_pm_io, &p, 0, 0x34);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.last, VM_STOP_POWEROFF);
	acpi_pm_destroy(&p);
}

static void test_acpi_other_sleep(void **state)
{
	struct stop_rec s = { 0 };
	struct acpi_pm p;

	(void)state;
	acpi_pm_init(&p, STOPPER(s));
	assert_int_equal(rd8(acpi_pm_io, &p, 1), 0);
	wr8(acpi_pm_io, &p, 0, 0x20 | (3 << 2));  /* S3: not entered */
	assert_int_equal(s.count, 0);
	/* The guest wakes at once instead of polling WAK_STS forever. */
	assert_int_equal(rd8(acpi_pm_io, &p, 1), 0x80);
	wr8(acpi_pm_io, &p, 1, 0x80);              /* write 1 to clear */
	assert_int_equal(rd8(acpi_pm_io, &p, 1), 0);
	acpi_pm_destroy(&p);
}

static void test_acpi_reset(void **state)
{
	struct stop_rec s = { 0 };
	struct acpi_pm p;
	uint8_t w[2] = { 0x00, ACPI_RESET_VALUE };

	(void)state;
	acpi_pm_init(&p, STOPPER(s));
	wr8(acpi_pm_io, &p, 2, 0x02);
	wr8(acpi_pm_io, &p, 2, 0x00);
	assert_int_equal(s.count, 0);
	wr8(acpi_pm_io, &p, 2, ACPI_RESET_VALUE);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.last, VM_STOP_RESET);
	/* A 16-bit write at STS reaches RESET as its second byte. */
	acpi_pm_io(&p, 1, w, 2, true);
	assert_int_equal(s.count, 2);
	acpi_pm_destroy(&p);
}

static void test_acpi_odd_widths(void **state)
{
	struct stop_rec s = { 0 };
	struct acpi_pm p;
	uint8_t buf[8];

	(void)state;
	acpi_pm_init(&p, STOPPER(s));
	for (uint64_t off = 3; off < 16; off++) {
		memset(buf, 0x34, sizeof(buf));
		acpi_pm_io(&p, off, buf, 8, true);
		acpi_pm_io(&p, off, buf, 8, false);
		assert_int_equal(buf[0], 0xff);
	}
	acpi_pm_io(&p, UINT64_MAX, buf, 4, false);
	assert_int_equal(s.count, 0);
	acpi_pm_io(&p, 0, buf, 8, false);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[3], 0xff);
	acpi_pm_destroy(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_i8042_reset_pulse),
		cmocka_unit_test(test_i8042_commands),
		cmocka_unit_test(test_i8042_odd_widths),
		cmocka_unit_test(test_pvpanic),
		cmocka_unit_test(test_acpi_poweroff),
		cmocka_unit_test(test_acpi_other_sleep),
		cmocka_unit_test(test_acpi_reset),
		cmocka_unit_test(test_acpi_odd_widths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
