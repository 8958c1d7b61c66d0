/* test_acpi_pm1.c - legacy PM1 blocks: status and enable bits, S3/S5 through PM1_CNT, PM timer, state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "board/acpi_pm1.h"
#include "core/layout.h"
#include "recorders.h"

struct sleep_rec { int count, state; };

/* What the device asked: stops and sleeps. */
struct recs { struct stop_rec stop; struct sleep_rec *sleep; };

static uint64_t fake_ns;
static uint64_t fake_clock(void) { return fake_ns; }

static void stop_request(void *ctx, enum vm_stop_reason r)
{
	stop_rec_request(&((struct recs *)ctx)->stop, r);
}

static void sleep_request(void *ctx, int state)
{
	struct recs *r = ctx;

	r->sleep->count++;
	r->sleep->state = state;
}

struct fixture {
	struct acpi_pm1 p;
	struct recs recs;
	struct sleep_rec sleep;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->recs.sleep = &f->sleep;
	acpi_pm1_init(&f->p, (struct vm_stopper){ .request = stop_request, .ctx = &f->recs,
						  .request_sleep = sleep_request });
	f->p.now_ns = fake_clock;
	fake_ns = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	acpi_pm1_destroy(&f->p);
	free(f);
	return 0;
}

static uint32_t rd(struct acpi_pm1 *p, uint64_t off, uint32_t len)
{
	uint8_t d[4] = { 0 };
	uint32_t v = 0;

	acpi_pm1_io(p, off, d, len, false);
	memcpy(&v, d, len);
	return v;
}

static void wr(struct acpi_pm1 *p, uint64_t off, uint32_t v, uint32_t len)
{
	uint8_t d[4];

	memcpy(d, &v, sizeof(d));
	acpi_pm1_io(p, off, d, len, true);
}

/* PM1_CNT reads SCI_EN (ACPI mode from the start); PM1_EN keeps only the
 * bits the device implements; PM1_STS is write-1-to-clear. */
static void test_registers(void **state)
{
	struct fixture *f = *state;
	struct acpi_pm1 *p = &f->p;

	assert_int_equal(rd(p, 4, 2), ACPI_PM1_SCI_EN);
	wr(p, 4, 0, 2);                                  /* SCI_EN cannot be cleared */
	assert_int_equal(rd(p, 4, 2), ACPI_PM1_SCI_EN);
	wr(p, 2, 0xffff, 2);
	assert_int_equal(rd(p, 2, 2), ACPI_PM1_TMR_STS | ACPI_PM1_PWRBTN | ACPI_PM1_RTC);
	wr(p, 2, ACPI_PM1_RTC, 2);                       /* what kvm-unit-tests' s3 writes */
	assert_true(acpi_pm1_enabled(p, ACPI_PM1_RTC));
	assert_false(acpi_pm1_enabled(p, ACPI_PM1_PWRBTN));
	acpi_pm1_wake(p, ACPI_PM1_RTC);
	assert_int_equal(rd(p, 0, 2), ACPI_PM1_WAK_STS | ACPI_PM1_RTC);
	wr(p, 0, ACPI_PM1_RTC, 2);                       /* clears RTC_STS only */
	assert_int_equal(rd(p, 0, 2), ACPI_PM1_WAK_STS);
	wr(p, 1, ACPI_PM1_WAK_STS >> 8, 1);              /* the high byte alone */
	assert_int_equal(rd(p, 0, 2), 0);
	/* One 4-byte access spans STS and EN, as the event block is laid out. */
	assert_int_equal(rd(p, 0, 4), (uint32_t)ACPI_PM1_RTC << 16);
	/* Bytes 6 and 7 and anything past 12 are nobody's. */
	assert_int_equal(rd(p, 6, 2), 0xffff);
	assert_int_equal(rd(p, PORT_ACPI_PM1_LEN - 1, 4) >> 8, 0xffffff);
	assert_int_equal(f->recs.stop.count + f->sleep.count, 0);
}

/* SLP_EN with type 5 powers off, type 3 asks the VM to sleep (clearing
 * WAK_STS first, as the wake sets it), any other type wakes at once. */
static void test_sleep_types(void **state)
{
	struct fixture *f = *state;
	struct acpi_pm1 *p = &f->p;

	wr(p, 4, ACPI_S3_SLP_TYP << 10, 2);              /* SLP_TYP without SLP_EN */
	assert_int_equal(f->sleep.count, 0);
	assert_int_equal(rd(p, 4, 2), ACPI_PM1_SCI_EN | (ACPI_S3_SLP_TYP << 10));
	acpi_pm1_wake(p, 0);
	wr(p, 4, 0x2400, 2);                             /* kvm-unit-tests' s3: S3 | SLP_EN */
	assert_int_equal(f->sleep.count, 1);
	assert_int_equal(f->sleep.state, 3);
	assert_int_equal(rd(p, 0, 2) & ACPI_PM1_WAK_STS, 0);
	assert_int_equal(rd(p, 4, 2) & ACPI_PM1_SLP_EN, 0);  /* SLP_EN reads 0 */
	wr(p, 5, 0x20 | (2 << 2), 1);                    /* S2 through the high byte */
	assert_int_equal(f->sleep.count, 1);
	assert_int_equal(rd(p, 0, 2), ACPI_PM1_WAK_STS);
	assert_int_equal(f->recs.stop.count, 0);
	wr(p, 4, ACPI_PM1_SLP_EN | (ACPI_S5_SLP_TYP << 10), 2);
	assert_int_equal(f->recs.stop.count, 1);
	assert_int_equal(f->recs.stop.last, VM_STOP_POWEROFF);
	assert_int_equal(f->sleep.count, 1);
}

/* 3.579545 MHz, 24 bits, one sample per access. */
static void test_pm_timer(void **state)
{
	struct fixture *f = *state;
	struct acpi_pm1 *p = &f->p;

	fake_ns = 1000000000ull;                         /* 1 s: 3579545 ticks */
	assert_int_equal(rd(p, 8, 4), 3579545);
	fake_ns = 1000;                                  /* 1 us: 3 ticks */
	assert_int_equal(rd(p, 8, 4), 3);
	fake_ns = 5 * 1000000000ull;                     /* wraps at 2^24 */
	assert_int_equal(rd(p, 8, 4), (5 * 3579545) & 0xffffff);
	assert_int_equal(rd(p, 10, 2), ((5 * 3579545) >> 16) & 0xff);
	wr(p, 8, 0, 4);                                  /* read-only */
	assert_int_equal(rd(p, 8, 4), (5 * 3579545) & 0xffffff);
	fake_ns = 1000ull * 86400 * 1000000000ull;       /* 1000 days: no overflow */
	assert_int_equal(rd(p, 8, 4), (uint32_t)((1000ull * 86400 * 3579545) & 0xffffff));
}

/* TMR_STS: set once the timer's bit 23 changed since the last access
 * (every 2^23 ticks, 2.34 s), cleared by writing 1, not set again within
 * the same half-period. */
static void test_tmr_sts(void **state)
{
	struct fixture *f = *state;
	struct acpi_pm1 *p = &f->p;

	fake_ns = 100000000ull;                          /* 0.1 s: bit 23 clear */
	assert_int_equal(rd(p, 0, 2) & ACPI_PM1_TMR_STS, 0);
	fake_ns = 2000000000ull;                         /* 2.0 s: still clear */
	assert_int_equal(rd(p, 0, 2) & ACPI_PM1_TMR_STS, 0);
	fake_ns = 2400000000ull;                         /* 2.4 s: bit 23 set */
	assert_int_equal(rd(p, 0, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
	wr(p, 0, ACPI_PM1_TMR_STS, 2);                   /* write 1 to clear */
	assert_int_equal(rd(p, 0, 2) & ACPI_PM1_TMR_STS, 0);
	fake_ns = 4600000000ull;                         /* 4.6 s: same half-period */
	assert_int_equal(rd(p, 0, 2) & ACPI_PM1_TMR_STS, 0);
	fake_ns = 4700000000ull;                         /* 4.7 s: the counter wrapped */
	assert_int_equal(rd(p, 0, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
}

static void test_state(void **state)
{
	struct fixture *f = *state;
	struct acpi_pm1 *p = &f->p;
	struct acpi_pm1_state s;

	wr(p, 2, ACPI_PM1_RTC, 2);
	wr(p, 4, ACPI_S3_SLP_TYP << 10, 2);
	acpi_pm1_wake(p, ACPI_PM1_RTC);
	assert_int_equal(acpi_pm1_save(p, &s), 0);
	acpi_pm1_init(p, (struct vm_stopper){ 0 });
	p->now_ns = fake_clock;
	assert_int_equal(acpi_pm1_restore(p, &s), 0);
	assert_int_equal(rd(p, 0, 2), ACPI_PM1_WAK_STS | ACPI_PM1_RTC);
	assert_int_equal(rd(p, 2, 2), ACPI_PM1_RTC);
	assert_int_equal(rd(p, 4, 2), ACPI_PM1_SCI_EN | (ACPI_S3_SLP_TYP << 10));
	s.regs.sts |= 0x0020;                            /* GBL_STS: not implemented */
	assert_int_equal(acpi_pm1_restore(p, &s), -EINVAL);
	s.regs.sts &= (uint16_t)~0x0020;
	s.regs.en = 0x8000;
	assert_int_equal(acpi_pm1_restore(p, &s), -EINVAL);
	s.regs.en = 0;
	s.regs.slp_typ = 8;
	assert_int_equal(acpi_pm1_restore(p, &s), -EINVAL);
	s.regs.slp_typ = 0;
	s.regs.pad = 1;
	assert_int_equal(acpi_pm1_restore(p, &s), -EINVAL);
	assert_int_equal(rd(p, 2, 2), ACPI_PM1_RTC);     /* unchanged by the refusals */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_registers),
		T(test_sleep_types),
		T(test_pm_timer),
		T(test_tmr_sts),
		T(test_state),
	};

	return cmocka_run_group_tests_name("acpi_pm1", tests, NULL, NULL);
}
