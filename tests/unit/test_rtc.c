/* test_rtc.c - CMOS RTC: time registers in every mode, SET latch, index masking. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "board/rtc.h"

/* 2026-11-23 07:54:37 UTC, a Monday. */
#define T0 ((time_t)1795420477)
static time_t fake_now = T0;
static uint64_t fake_frac_ns;                 /* within the second */
static uint64_t fake_clock(void) { return (uint64_t)fake_now * RTC_NS + fake_frac_ns; }

static int setup(void **state)
{
	struct rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	rtc_init(r, (struct irq_line){ 0 });
	r->now_ns = fake_clock;
	fake_now = T0;
	fake_frac_ns = 500000000;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	rtc_destroy(*state);
	free(*state);
	return 0;
}

static uint8_t cmos_rd(struct rtc *r, uint8_t idx)
{
	uint8_t v;

	rtc_io(r, 0, &idx, 1, true);
	rtc_io(r, 1, &v, 1, false);
	return v;
}

static void cmos_wr(struct rtc *r, uint8_t idx, uint8_t v)
{
	rtc_io(r, 0, &idx, 1, true);
	rtc_io(r, 1, &v, 1, true);
}

static void test_bcd_24h(void **state)
{
	struct rtc *r = *state;

	assert_int_equal(cmos_rd(r, 0x0b), 0x02);  /* default: BCD, 24-hour */
	assert_int_equal(cmos_rd(r, 0x00), 0x37);
	assert_int_equal(cmos_rd(r, 0x02), 0x54);
	assert_int_equal(cmos_rd(r, 0x04), 0x07);
	assert_int_equal(cmos_rd(r, 0x06), 0x02);  /* Monday, Sunday = 1 */
	assert_int_equal(cmos_rd(r, 0x07), 0x23);
	assert_int_equal(cmos_rd(r, 0x08), 0x11);
	assert_int_equal(cmos_rd(r, 0x09), 0x26);
	assert_int_equal(cmos_rd(r, 0x32), 0x20);
	/* Read on every access: the clock moves with the host. */
	fake_now = T0 + 3;
	assert_int_equal(cmos_rd(r, 0x00), 0x40);
}

static void test_binary(void **state)
{
	struct rtc *r = *state;

	cmos_wr(r, 0x0b, 0x06);
	assert_int_equal(cmos_rd(r, 0x00), 37);
	assert_int_equal(cmos_rd(r, 0x02), 54);
	assert_int_equal(cmos_rd(r, 0x04), 7);
	assert_int_equal(cmos_rd(r, 0x07), 23);
	assert_int_equal(cmos_rd(r, 0x08), 11);
	assert_int_equal(cmos_rd(r, 0x09), 26);
	assert_int_equal(cmos_rd(r, 0x32), 20);
}

static void test_12_hour(void **state)
{
	struct rtc *r = *state;

	cmos_wr(r, 0x0b, 0x00);                    /* BCD, 12-hour */
	assert_int_equal(cmos_rd(r, 0x04), 0x07);  /* 7 AM */
	fake_now = T0 + 12 * 3600;                 /* 19:54 */
	assert_int_equal(cmos_rd(r, 0x04), 0x87);
	fake_now = T0 - 7 * 3600;                  /* 00:54 -> 12 AM */
	assert_int_equal(cmos_rd(r, 0x04), 0x12);
	fake_now = T0 + 5 * 3600;                  /* 12:54 -> 12 PM */
	assert_int_equal(cmos_rd(r, 0x04), 0x92);
	cmos_wr(r, 0x0b, 0x04);                    /* binary, 12-hour */
	fake_now = T0 + 15 * 3600;                 /* 22:54 -> 10 PM */
	assert_int_equal(cmos_rd(r, 0x04), 0x80 | 10);
}

static void test_control_registers(void **state)
{
	struct rtc *r = *state;

	assert_int_equal(cmos_rd(r, 0x0a), 0x26);
	cmos_wr(r, 0x0a, 0xa6);                    /* UIP is read-only */
	assert_int_equal(cmos_rd(r, 0x0a) & 0x80, 0);
	assert_int_equal(cmos_rd(r, 0x0c), 0x00);
	assert_int_equal(cmos_rd(r, 0x0d), 0x80);  /* battery good */
	cmos_wr(r, 0x0d, 0x00);
	assert_int_equal(cmos_rd(r, 0x0d), 0x80);
}

static void test_index_masking(void **state)
{
	struct rtc *r = *state;
	uint8_t v;

	assert_int_equal(cmos_rd(r, 0x80 | 0x09), 0x26); /* NMI-disable bit */
	cmos_wr(r, 0xff, 0x5a);                    /* -> 0x7f */
	assert_int_equal(cmos_rd(r, 0x7f), 0x5a);
	cmos_wr(r, 0x8e, 0x33);
	assert_int_equal(cmos_rd(r, 0x0e), 0x33);
	rtc_io(r, 0, &v, 1, false);
	assert_int_equal(v, 0xff);                 /* index port is write-only */
	rtc_cmos_set(r, 0xb4, 0x44);               /* builder helper masks too */
	assert_int_equal(cmos_rd(r, 0x34), 0x44);
}

static void test_odd_widths(void **state)
{
	struct rtc *r = *state;
	uint8_t w[2] = { 0x40, 0x77 };             /* outw 0x70: index, then data */
	uint8_t buf[8];
	uint64_t off;

	rtc_io(r, 0, w, 2, true);
	assert_int_equal(cmos_rd(r, 0x40), 0x77);
	for (off = 0; off < 12; off++) {
		memset(buf, 0, sizeof(buf));
		rtc_io(r, off, buf, sizeof(buf), false);
		rtc_io(r, off, buf, 4, true);
		if (off >= 2)
			assert_int_equal(buf[0], 0xff);
	}
	rtc_io(r, UINT64_MAX, buf, 4, false);
	assert_int_equal(buf[0], 0xff);
}

/* Linux's mc146818_set_time: SET on, write fields, SET off. */
static void test_set_time_keeps_offset(void **state)
{
	struct rtc *r = *state;

	cmos_wr(r, 0x0b, 0x82);
	/* While SET is on, the time bytes read back as latched/written. */
	assert_int_equal(cmos_rd(r, 0x00), 0x37);
	fake_now = T0 + 10;
	assert_int_equal(cmos_rd(r, 0x00), 0x37);
	cmos_wr(r, 0x09, 0x27);
	cmos_wr(r, 0x08, 0x01);
	cmos_wr(r, 0x07, 0x02);
	cmos_wr(r, 0x04, 0x03);
	cmos_wr(r, 0x02, 0x04);
	cmos_wr(r, 0x00, 0x05);
	assert_int_equal(cmos_rd(r, 0x04), 0x03);
	cmos_wr(r, 0x0b, 0x02);
	/* 2027-01-02 03:04:05 from now on, advancing with the host. */
	assert_int_equal(cmos_rd(r, 0x09), 0x27);
	assert_int_equal(cmos_rd(r, 0x08), 0x01);
	assert_int_equal(cmos_rd(r, 0x07), 0x02);
	assert_int_equal(cmos_rd(r, 0x04), 0x03);
	assert_int_equal(cmos_rd(r, 0x06), 0x07);  /* a Saturday */
	fake_now += 61;
	assert_int_equal(cmos_rd(r, 0x02), 0x05);
	assert_int_equal(cmos_rd(r, 0x00), 0x06);

	/* A single write with SET off moves just that field. */
	cmos_wr(r, 0x04, 0x21);
	assert_int_equal(cmos_rd(r, 0x04), 0x21);
	assert_int_equal(cmos_rd(r, 0x02), 0x05);
	assert_int_equal(cmos_rd(r, 0x07), 0x02);
}

static void test_set_time_invalid_ignored(void **state)
{
	struct rtc *r = *state;

	cmos_wr(r, 0x00, 0x7a);                    /* not BCD */
	assert_int_equal(cmos_rd(r, 0x00), 0x37);
	cmos_wr(r, 0x04, 0x24);                    /* hour 24 */
	assert_int_equal(cmos_rd(r, 0x04), 0x07);
	cmos_wr(r, 0x0b, 0x80);                    /* 12-hour: hour 0 is invalid */
	cmos_wr(r, 0x04, 0x00);
	cmos_wr(r, 0x0b, 0x00);
	assert_int_equal(cmos_rd(r, 0x04), 0x07);
	/* 12-hour writes are understood: 11 PM. */
	cmos_wr(r, 0x04, 0x91);
	cmos_wr(r, 0x0b, 0x02);
	assert_int_equal(cmos_rd(r, 0x04), 0x23);
}

/* Update-in-progress: 244 us before each second boundary through the
 * 1984 us update cycle after it, only while the divider runs and SET is off. */
static void test_update_in_progress(void **state)
{
	struct rtc *r = *state;

	fake_frac_ns = RTC_NS - RTC_UIP_BEFORE_NS - 1;
	assert_int_equal(cmos_rd(r, 0x0a), 0x26);
	fake_frac_ns = RTC_NS - RTC_UIP_BEFORE_NS;
	assert_int_equal(cmos_rd(r, 0x0a), 0xa6);
	assert_int_equal(cmos_rd(r, 0x00), 0x37);  /* still the old second */
	fake_now++;
	fake_frac_ns = 0;
	assert_int_equal(cmos_rd(r, 0x0a), 0xa6);
	fake_frac_ns = RTC_UIP_AFTER_NS - 1;
	assert_int_equal(cmos_rd(r, 0x0a), 0xa6);
	fake_frac_ns = RTC_UIP_AFTER_NS;
	assert_int_equal(cmos_rd(r, 0x0a), 0x26);
	assert_int_equal(cmos_rd(r, 0x00), 0x38);  /* the new one once UIP falls */
	fake_frac_ns = 0;
	cmos_wr(r, 0x0b, 0x82);                    /* SET holds the clock: no update */
	assert_int_equal(cmos_rd(r, 0x0a), 0x26);
	cmos_wr(r, 0x0b, 0x02);
	cmos_wr(r, 0x0a, 0x76);                    /* divider in reset */
	assert_int_equal(cmos_rd(r, 0x0a), 0x76);
	cmos_wr(r, 0x0a, 0x26);
	assert_int_equal(cmos_rd(r, 0x0a), 0xa6);
}

/* The alarm as a wake source: when it next rings, per mode and don't-care. */
static void test_alarm_next(void **state)
{
	struct rtc *r = *state;
	uint64_t at = 0;

	/* AIE off: never. */
	cmos_wr(r, 0x01, 0xc0);
	cmos_wr(r, 0x03, 0xc0);
	cmos_wr(r, 0x05, 0xc0);
	assert_int_equal(rtc_alarm_next(r, 0, &at), -ENOENT);
	/* All don't care (kvm-unit-tests' s3): the next second boundary. */
	cmos_wr(r, 0x0b, 0x22);
	assert_int_equal(rtc_alarm_next(r, 0, &at), 0);
	assert_true(at == (uint64_t)(T0 + 1) * RTC_NS);
	/* 07:55:00 BCD: 23 s from 07:54:37. */
	cmos_wr(r, 0x01, 0x00);
	cmos_wr(r, 0x03, 0x55);
	cmos_wr(r, 0x05, 0x07);
	assert_int_equal(rtc_alarm_next(r, 0, &at), 0);
	assert_true(at == (uint64_t)(T0 + 23) * RTC_NS);
	/* 07:54:37 itself is now: a day later. */
	cmos_wr(r, 0x01, 0x37);
	cmos_wr(r, 0x03, 0x54);
	assert_int_equal(rtc_alarm_next(r, 0, &at), 0);
	assert_true(at == (uint64_t)(T0 + 86400) * RTC_NS);
	/* Seconds 40 of any minute and hour. */
	cmos_wr(r, 0x01, 0x40);
	cmos_wr(r, 0x03, 0xff);
	cmos_wr(r, 0x05, 0xc5);
	assert_int_equal(rtc_alarm_next(r, 0, &at), 0);
	assert_true(at == (uint64_t)(T0 + 3) * RTC_NS);
	/* Binary, 12-hour: 8 AM (0x08) at :00:00 is 5 min 23 s away... */
	cmos_wr(r, 0x0b, 0x24);
	cmos_wr(r, 0x01, 0);
	cmos_wr(r, 0x03, 0);
	cmos_wr(r, 0x05, 0x08);
	assert_int_equal(rtc_alarm_next(r, 0, &at), 0);
	assert_true(at == (uint64_t)(T0 + 323) * RTC_NS);
	/* ...and 8 PM (0x88) 12 hours later. */
	cmos_wr(r, 0x05, 0x88);
	assert_int_equal(rtc_alarm_next(r, 0, &at), 0);
	assert_true(at == (uint64_t)(T0 + 323 + 12 * 3600) * RTC_NS);
	/* Searched from 5 s ago (a sleep written then): 8 PM is 5 s further. */
	assert_int_equal(rtc_alarm_next(r, (uint64_t)(T0 - 5) * RTC_NS, &at), 0);
	assert_true(at == (uint64_t)(T0 + 323 + 12 * 3600) * RTC_NS);
	/* 07:54:35 AM (binary, 12-hour) searched from 07:54:32 (the sleep's
	 * second): 3 s after it, already past now, not a day later. */
	cmos_wr(r, 0x05, 7);
	cmos_wr(r, 0x03, 54);
	cmos_wr(r, 0x01, 35);
	assert_int_equal(rtc_alarm_next(r, (uint64_t)(T0 - 5) * RTC_NS, &at), 0);
	assert_true(at == (uint64_t)(T0 - 2) * RTC_NS);
	/* A byte no clock value equals (BCD 0x7a): never. */
	cmos_wr(r, 0x0b, 0x22);
	cmos_wr(r, 0x01, 0x7a);
	assert_int_equal(rtc_alarm_next(r, 0, &at), -ENOENT);
	/* The clock stopped (SET): never. */
	cmos_wr(r, 0x01, 0xc0);
	cmos_wr(r, 0x0b, 0xa2);
	assert_int_equal(rtc_alarm_next(r, 0, &at), -ENOENT);
}

/* Ringing sets IRQF|AF in register C, which a read clears; a state with
 * them set restores, one with other flags does not. */
static void test_alarm_ring_and_state(void **state)
{
	struct rtc *r = *state;
	struct rtc_state st;

	rtc_alarm_ring(r);
	assert_int_equal(rtc_save(r, &st), 0);
	assert_int_equal(st.regs.cmos[0x0c], 0xa0);
	assert_int_equal(rtc_restore(r, &st), 0);
	assert_int_equal(cmos_rd(r, 0x0c), 0xa0);
	assert_int_equal(cmos_rd(r, 0x0c), 0x00);
	st.regs.cmos[0x0c] = 0x90;                 /* PF|IRQF: nothing sets PF */
	assert_int_equal(rtc_restore(r, &st), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bcd_24h),
		T(test_binary),
		T(test_12_hour),
		T(test_control_registers),
		T(test_index_masking),
		T(test_odd_widths),
		T(test_set_time_keeps_offset),
		T(test_set_time_invalid_ignored),
		T(test_update_in_progress),
		T(test_alarm_next),
		T(test_alarm_ring_and_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
