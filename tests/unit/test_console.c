/* test_console.c - the console on a real terminal (a pty): raw mode, restore,
 * and Ctrl-A x reaching the VM while the guest never reads its UART. */
#include <errno.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "board/console.h"
#include "board/uart8250.h"
#include "recorders.h"


static int wait_for_stop(struct stop_rec *s, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (__atomic_load_n(&s->count, __ATOMIC_SEQ_CST))
			return 1;
		usleep(1000);
	}
	return 0;
}

/* The guest never reads: the 16-byte FIFO fills, then 600 more bytes are
 * typed, then Ctrl-A x. The quit must still get through. */
static void test_quit_while_guest_ignores_input(void **state)
{
	struct stop_rec stops = { 0 };
	struct uart8250 u;
	struct console c;
	struct termios before, during, after;
	uint8_t junk[600];
	int master, slave;

	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	assert_int_equal(tcgetattr(slave, &before), 0);
	uart8250_init(&u, (struct irq_line){ 0 }, -1);
	assert_int_equal(console_start(&c, slave, &u,
				       (struct vm_stopper){ .request = stop_rec_request, .ctx = &stops }), 0);
	assert_true(c.is_tty);
	assert_int_equal(tcgetattr(slave, &during), 0);
	assert_int_equal(during.c_lflag & (ICANON | ECHO | ISIG), 0);

	memset(junk, 'a', sizeof(junk));
	assert_int_equal(write(master, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(write(master, "\x01x", 2), 2);
	assert_true(wait_for_stop(&stops, 2000));
	assert_int_equal(stops.last, VM_STOP_USER);

	console_stop(&c);
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	uart8250_destroy(&u);
	close(master);
	close(slave);
}

/* Ctrl-A Ctrl-A sends one 0x01; plain bytes arrive in order. */
static void test_escape_literal_reaches_guest(void **state)
{
	struct stop_rec stops = { 0 };
	struct uart8250 u;
	struct console c;
	uint8_t got[8], data = 0;
	int master, slave, n = 0;

	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	uart8250_init(&u, (struct irq_line){ 0 }, -1);
	assert_int_equal(console_start(&c, slave, &u,
				       (struct vm_stopper){ .request = stop_rec_request, .ctx = &stops }), 0);
	assert_int_equal(write(master, "h\x01\x01i", 4), 4);
	for (int tries = 0; tries < 2000 && n < 3; tries++) {
		uint8_t lsr = 0;

		uart8250_io(&u, 5, &lsr, 1, false);
		if (lsr & 1) {
			uart8250_io(&u, 0, &data, 1, false);
			got[n++] = data;
		} else {
			usleep(1000);
		}
	}
	assert_int_equal(n, 3);
	assert_memory_equal(got, "h\x01i", 3);
	assert_int_equal(stops.count, 0);
	console_stop(&c);
	uart8250_destroy(&u);
	close(master);
	close(slave);
}

/* A sink that takes at most 3 bytes a call and records them. */
struct slow_sink {
	pthread_mutex_t lock;
	uint8_t got[64];
	size_t len;
	int waits;
};

static size_t slow_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct slow_sink *s = ctx;
	size_t n = len < 3 ? len : 3;

	pthread_mutex_lock(&s->lock);
	if (n > sizeof(s->got) - s->len)
		n = sizeof(s->got) - s->len;
	memcpy(s->got + s->len, buf, n);
	s->len += n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int slow_wait(void *ctx, int timeout_ms)
{
	struct slow_sink *s = ctx;

	__atomic_add_fetch(&s->waits, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/* A pipe (not a terminal) into a sink that takes little at a time: every
 * byte arrives, 0x01 included (no escapes off a terminal). */
static void test_sink_from_pipe(void **state)
{
	struct stop_rec stops = { 0 };
	struct slow_sink s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct console c;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(console_start_sink(&c, p[0],
					    (struct console_sink){ slow_write, slow_wait, &s },
					    STOPPER(stops)), 0);
	assert_false(c.is_tty);
	assert_int_equal(write(p[1], "hello\x01x world", 13), 13);
	for (int i = 0; i < 2000 && __atomic_load_n(&s.len, __ATOMIC_SEQ_CST) < 13; i++)
		usleep(1000);
	console_stop(&c);
	assert_int_equal(s.len, 13);
	assert_memory_equal(s.got, "hello\x01x world", 13);
	assert_true(s.waits > 0);
	assert_int_equal(stops.count, 0);
	close(p[0]);
	close(p[1]);
}

static void test_start_rejects_bad_sink(void **state)
{
	struct stop_rec stops = { 0 };
	struct console c;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(console_start_sink(&c, p[0], (struct console_sink){ 0 }, STOPPER(stops)), -EBADF);
	console_stop(&c);
	assert_int_equal(console_start(&c, p[0], NULL, STOPPER(stops)), -EBADF);
	console_stop(&c);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quit_while_guest_ignores_input),
		cmocka_unit_test(test_escape_literal_reaches_guest),
		cmocka_unit_test(test_sink_from_pipe),
		cmocka_unit_test(test_start_rejects_bad_sink),
	};
	return cmocka_run_group_tests_name("console-tty", tests, NULL, NULL);
}
