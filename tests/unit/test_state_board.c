/* test_state_board.c - board devices' state: save -> restore into a fresh
 * device -> save is byte-identical, the restored device behaves as the
 * original, and each corrupted field is refused with a message naming it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "board/acpi_pm.h"
#include "board/i8042.h"
#include "board/pvpanic.h"
#include "board/rtc.h"
#include "board/uart8250.h"
#include "core/layout.h"
#include "recorders.h"
#include "util/log.h"

/* ---- log capture: the refusal must name the field ---- */

static char logbuf[8192];

static void capture(enum log_level l, const char *m, void *c)
{
	size_t n = strlen(logbuf);

	(void)l;
	(void)c;
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", m);
}

static int setup(void **state)
{
	(void)state;
	logbuf[0] = 0;
	log_set_sink(capture, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_sink(NULL, NULL);
	return 0;
}

#define assert_refused(call, field) do {				\
	logbuf[0] = 0;							\
	assert_int_equal((call), -EINVAL);				\
	assert_non_null(strstr(logbuf, field));				\
	assert_non_null(strstr(logbuf, "state refused"));		\
} while (0)

/* ---- an interrupt line that records its level ---- */

struct irq_rec {
	int level, sets;
};

static void irq_rec_set(void *ctx, uint32_t gsi, int level)
{
	struct irq_rec *r = ctx;

	(void)gsi;
	r->level = level;
	r->sets++;
}

#define IRQ(rec) ((struct irq_line){ .set = irq_rec_set, .ctx = &(rec), .gsi = 4 })

static void io_w(void (*fn)(void *, uint64_t, uint8_t *, uint32_t, bool), void *dev,
		 uint64_t off, uint8_t v)
{
	fn(dev, off, &v, 1, true);
}

static uint8_t io_r(void (*fn)(void *, uint64_t, uint8_t *, uint32_t, bool), void *dev,
		    uint64_t off)
{
	uint8_t v = 0;

	fn(dev, off, &v, 1, false);
	return v;
}

/* ---- uart8250 ---- */

/* FIFO on (trigger 4), RX interrupt on, three bytes waiting, scratch set:
 * the interrupt line is high. */
static void uart_busy(struct uart8250 *u, struct irq_rec *rec)
{
	uart8250_init(u, IRQ(*rec), -1);
	io_w(uart8250_io, u, 2, 0x41);   /* FCR: enable, trigger 4 */
	io_w(uart8250_io, u, 1, 0x01);   /* IER: RDI */
	io_w(uart8250_io, u, 7, 0x5a);   /* SCR */
	assert_int_equal(uart8250_receive(u, (const uint8_t *)"xabc", 4), 4);
	assert_int_equal(io_r(uart8250_io, u, 0), 'x');  /* head moves off 0 */
}

static void test_uart_roundtrip(void **state)
{
	struct irq_rec r1 = { 0 }, r2 = { 0 };
	struct uart8250 a, b;
	struct uart8250_state s1, s2;

	(void)state;
	uart_busy(&a, &r1);
	assert_int_equal(r1.level, 1);
	assert_int_equal(uart8250_save(&a, &s1), 0);
	assert_int_equal(s1.regs.rx_count, 3);

	uart8250_init(&b, IRQ(r2), -1);
	assert_int_equal(uart8250_restore(&b, &s1), 0);
	assert_int_equal(r2.level, 1);   /* the line follows the restored registers */
	assert_int_equal(uart8250_save(&b, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));

	/* It works: the FIFO reads out in order, then the interrupt drops. */
	assert_int_equal(io_r(uart8250_io, &b, 7), 0x5a);
	assert_int_equal(io_r(uart8250_io, &b, 2) & 0x0f, 0x0c);  /* RX timeout: 3 < 4 */
	assert_int_equal(io_r(uart8250_io, &b, 0), 'a');
	assert_int_equal(io_r(uart8250_io, &b, 0), 'b');
	assert_int_equal(io_r(uart8250_io, &b, 0), 'c');
	assert_int_equal(r2.level, 0);
	uart8250_destroy(&a);
	uart8250_destroy(&b);
}

static void test_uart_refused(void **state)
{
	struct irq_rec r1 = { 0 }, r2 = { 0 };
	struct uart8250 a, b;
	struct uart8250_state good, bad, after, fresh;

	(void)state;
	uart_busy(&a, &r1);
	assert_int_equal(uart8250_save(&a, &good), 0);
	uart8250_init(&b, IRQ(r2), -1);
	assert_int_equal(uart8250_save(&b, &fresh), 0);

#define UART_BAD(stmt, field) do { bad = good; stmt; \
	assert_refused(uart8250_restore(&b, &bad), field); } while (0)
	UART_BAD(bad.regs.rx_head = UART8250_FIFO_SIZE, "rx_head");
	UART_BAD(bad.regs.rx_count = UART8250_FIFO_SIZE + 1, "rx_count");
	/* Without FIFOs the receiver holds one byte. */
	UART_BAD(bad.regs.fcr = 0, "rx_count");
	UART_BAD(bad.regs.ier = 0x10, "ier");
	UART_BAD(bad.regs.mcr = 0x20, "mcr");
	UART_BAD(bad.regs.fcr = 0x43, "fcr");
	UART_BAD(bad.regs.lsr_errors = 0x01, "lsr_errors");
	UART_BAD(bad.regs.msr_delta = 0x10, "msr_delta");
	UART_BAD(bad.regs.thr_ipending = 2, "thr_ipending");
	UART_BAD(bad.regs.irq_level = 0, "irq_level");
#undef UART_BAD
	/* Nothing of a refused state was taken. */
	assert_int_equal(uart8250_save(&b, &after), 0);
	assert_memory_equal(&after, &fresh, sizeof(after));
	assert_int_equal(r2.sets, 0);
	uart8250_destroy(&a);
	uart8250_destroy(&b);
}

/* ---- i8042 ---- */

static void i8042_busy(struct i8042 *k, struct stop_rec *stop, struct irq_rec *rec)
{
	i8042_init(k, STOPPER(*stop));
	i8042_set_irq(k, IRQ(*rec));
	io_w(i8042_cmd_io, k, 0, 0x60);      /* write command byte */
	io_w(i8042_data_io, k, 0, 0x45);     /* translate, sys, keyboard irq */
	io_w(i8042_data_io, k, 0, 0xf2);     /* keyboard GET ID: FA AB 41 */
	assert_int_equal(i8042_send_ctrl_alt_del(k), 0);   /* key codes behind */
	io_w(i8042_data_io, k, 0, 0xed);     /* SET LEDS: waits for its parameter */
}

static void test_i8042_roundtrip(void **state)
{
	struct stop_rec st = { 0 };
	struct irq_rec r1 = { 0 }, r2 = { 0 };
	struct i8042 a, b;
	struct i8042_state s1, s2;
	uint8_t got_a[16], got_b[16];

	(void)state;
	i8042_busy(&a, &st, &r1);
	assert_int_equal(i8042_save(&a, &s1), 0);
	assert_true(s1.regs.q_len > 4);
	assert_int_equal(s1.regs.kbd_param_cmd, 0xed);

	i8042_init(&b, STOPPER(st));
	i8042_set_irq(&b, IRQ(r2));
	assert_int_equal(i8042_restore(&b, &s1), 0);
	assert_int_equal(i8042_save(&b, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));

	/* Both hand the guest the same bytes: FA AB 41 FA (LEDS ack), key codes. */
	for (int i = 0; i < 12; i++) {
		got_a[i] = io_r(i8042_data_io, &a, 0);
		got_b[i] = io_r(i8042_data_io, &b, 0);
	}
	assert_memory_equal(got_a, got_b, 12);
	assert_int_equal(got_b[0], 0xfa);
	assert_int_equal(got_b[1], 0xab);
	assert_int_equal(got_b[2], 0x41);
	assert_int_equal(got_b[3], 0xfa);
	assert_int_equal(got_b[4], 0x1d);   /* Ctrl, set 1 */
	assert_true(r2.sets > 0);           /* refills raised IRQ 1 */
	i8042_destroy(&a);
	i8042_destroy(&b);
}

static void test_i8042_refused(void **state)
{
	struct stop_rec st = { 0 };
	struct irq_rec r1 = { 0 };
	struct i8042 a, b;
	struct i8042_state good, bad, after, fresh;

	(void)state;
	i8042_busy(&a, &st, &r1);
	assert_int_equal(i8042_save(&a, &good), 0);
	i8042_init(&b, STOPPER(st));
	assert_int_equal(i8042_save(&b, &fresh), 0);

#define KBD_BAD(stmt, field) do { bad = good; stmt; \
	assert_refused(i8042_restore(&b, &bad), field); } while (0)
	KBD_BAD(bad.regs.status = 0x01, "status");
	KBD_BAD(bad.regs.out_full = 2, "out_full");
	KBD_BAD(bad.regs.kbd_scanning = 2, "kbd_scanning");
	KBD_BAD(bad.regs.pending_cmd = 0x20, "pending_cmd");
	KBD_BAD(bad.regs.kbd_param_cmd = 0xf2, "kbd_param_cmd");
	KBD_BAD(bad.regs.q_head = I8042_QUEUE, "q_head");
	KBD_BAD(bad.regs.q_len = I8042_QUEUE + 1, "q_len");
	KBD_BAD(bad.regs.q_replies = (uint8_t)(bad.regs.q_len + 1), "q_replies");
	KBD_BAD(bad.regs.out_full = 0, "q_len");
#undef KBD_BAD
	assert_int_equal(i8042_save(&b, &after), 0);
	assert_memory_equal(&after, &fresh, sizeof(after));
	i8042_destroy(&a);
	i8042_destroy(&b);
}

/* ---- rtc ---- */

static uint64_t fixed_now(void)
{
	return 1700000000ull * RTC_NS + RTC_NS / 2;   /* 2023-11-14 22:13:20.5 UTC */
}

static void rtc_read_time(struct rtc *r, uint8_t out[7])
{
	static const uint8_t regs[] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, RTC_CENTURY };

	for (int i = 0; i < 7; i++) {
		io_w(rtc_io, r, 0, regs[i]);
		out[i] = io_r(rtc_io, r, 1);
	}
}

static void rtc_busy(struct rtc *r)
{
	rtc_init(r, (struct irq_line){ 0 });
	r->now_ns = fixed_now;
	rtc_cmos_set(r, 0x34, 0x12);
	/* The guest sets 2031-05-06 07:08:09 (BCD, 24h) with SET held. */
	io_w(rtc_io, r, 0, 0x0b);
	io_w(rtc_io, r, 1, 0x82);
	io_w(rtc_io, r, 0, 0x09); io_w(rtc_io, r, 1, 0x31);
	io_w(rtc_io, r, 0, 0x08); io_w(rtc_io, r, 1, 0x05);
	io_w(rtc_io, r, 0, 0x07); io_w(rtc_io, r, 1, 0x06);
	io_w(rtc_io, r, 0, 0x04); io_w(rtc_io, r, 1, 0x07);
	io_w(rtc_io, r, 0, 0x02); io_w(rtc_io, r, 1, 0x08);
	io_w(rtc_io, r, 0, 0x00); io_w(rtc_io, r, 1, 0x09);
	io_w(rtc_io, r, 0, 0x0b);
	io_w(rtc_io, r, 1, 0x02);
	io_w(rtc_io, r, 0, 0x34);   /* index left on a RAM byte */
}

static void test_rtc_roundtrip(void **state)
{
	struct rtc a, b;
	struct rtc_state s1, s2;
	uint8_t ta[7], tb[7];

	(void)state;
	rtc_busy(&a);
	assert_int_equal(rtc_save(&a, &s1), 0);
	assert_true(s1.regs.offset_s != 0);
	assert_int_equal(s1.regs.index, 0x34);

	rtc_init(&b, (struct irq_line){ 0 });
	b.now_ns = fixed_now;
	assert_int_equal(rtc_restore(&b, &s1), 0);
	assert_int_equal(rtc_save(&b, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));

	/* Same host time: the same guest time, the one the guest set. */
	assert_int_equal(io_r(rtc_io, &b, 1), 0x12);   /* index restored */
	rtc_read_time(&a, ta);
	rtc_read_time(&b, tb);
	assert_memory_equal(ta, tb, sizeof(ta));
	assert_int_equal(tb[5], 0x31);
	assert_int_equal(tb[2], 0x07);
	rtc_destroy(&a);
	rtc_destroy(&b);
}

static void test_rtc_refused(void **state)
{
	struct rtc a, b;
	struct rtc_state good, bad, after, fresh;

	(void)state;
	rtc_busy(&a);
	assert_int_equal(rtc_save(&a, &good), 0);
	rtc_init(&b, (struct irq_line){ 0 });
	assert_int_equal(rtc_save(&b, &fresh), 0);

#define RTC_BAD(stmt, field) do { bad = good; stmt; \
	assert_refused(rtc_restore(&b, &bad), field); } while (0)
	RTC_BAD(bad.regs.index = 0x80, "index");
	RTC_BAD(bad.regs.cmos[0x0a] |= 0x80, "cmos[0x0a]");
	RTC_BAD(bad.regs.cmos[0x0c] = 0x80, "cmos[0x0c]");
	RTC_BAD(bad.regs.cmos[0x0c] = 0x10, "cmos[0x0c]");
	RTC_BAD(bad.regs.offset_s = INT64_MAX, "offset_s");
	RTC_BAD(bad.regs.offset_s = INT64_MIN, "offset_s");
	RTC_BAD(bad.regs.pad[3] = 1, "pad");
#undef RTC_BAD
	assert_int_equal(rtc_save(&b, &after), 0);
	assert_memory_equal(&after, &fresh, sizeof(after));
	rtc_destroy(&a);
	rtc_destroy(&b);
}

/* ---- pvpanic and acpi_pm ---- */

static void test_pvpanic(void **state)
{
	struct stop_rec st = { 0 }, st2 = { 0 };
	struct pvpanic a, b;
	struct pvpanic_state s1, s2, bad;

	(void)state;
	pvpanic_init(&a, STOPPER(st));
	io_w(pvpanic_io, &a, 0, PVPANIC_CRASH_LOADED);
	assert_int_equal(pvpanic_save(&a, &s1), 0);
	assert_int_equal(s1.regs.events_seen, PVPANIC_CRASH_LOADED);

	pvpanic_init(&b, STOPPER(st2));
	bad = s1;
	bad.regs.events_seen = 0x04;
	assert_refused(pvpanic_restore(&b, &bad), "events_seen");
	assert_int_equal(pvpanic_restore(&b, &s1), 0);
	assert_int_equal(pvpanic_save(&b, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	/* A panic still stops the restored VM. */
	io_w(pvpanic_io, &b, 0, PVPANIC_PANICKED);
	assert_int_equal(st2.count, 1);
	assert_int_equal(st2.last, VM_STOP_PANIC);
}

static void test_acpi_pm(void **state)
{
	struct stop_rec st = { 0 };
	struct acpi_pm a, b;
	struct acpi_pm_state s1, s2, bad;

	(void)state;
	acpi_pm_init(&a, STOPPER(st));
	io_w(acpi_pm_io, &a, 0, ACPI_PM_SLP_EN | (1 << 2));   /* S1: not entered, WAK_STS */
	assert_int_equal(acpi_pm_save(&a, &s1), 0);
	assert_int_equal(s1.regs.sleep_sts, ACPI_PM_WAK_STS);

	acpi_pm_init(&b, STOPPER(st));
	bad = s1;
	bad.regs.sleep_sts = 0x01;
	assert_refused(acpi_pm_restore(&b, &bad), "sleep_sts");
	assert_int_equal(io_r(acpi_pm_io, &b, 1), 0);
	assert_int_equal(acpi_pm_restore(&b, &s1), 0);
	assert_int_equal(acpi_pm_save(&b, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	assert_int_equal(io_r(acpi_pm_io, &b, 1), ACPI_PM_WAK_STS);
	acpi_pm_destroy(&a);
	acpi_pm_destroy(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_uart_roundtrip),
		T(test_uart_refused),
		T(test_i8042_roundtrip),
		T(test_i8042_refused),
		T(test_rtc_roundtrip),
		T(test_rtc_refused),
		T(test_pvpanic),
		T(test_acpi_pm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
