/* test_uart_snapshot.c - COM1's output queue across a snapshot or migration:
 * the save first gives the queue a bounded time to drain (what the guest
 * wrote before the snapshot reaches this process's stdout before the state
 * is taken), never blocks on an unread stdout, and a restored UART with a
 * live queue shows an idle line and the THR-empty interrupt the guest was
 * waiting for, then transmits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board/uart8250.h"

enum { THR = 0, IER = 1, IIR = 2, FCR = 2, LSR = 5 };

struct irq_rec {
	atomic_int level;
};

static void irq_rec_set(void *ctx, uint32_t gsi, int level)
{
	struct irq_rec *r = ctx;

	(void)gsi;
	atomic_store(&r->level, level);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t rd(struct uart8250 *u, unsigned reg)
{
	uint8_t v = 0;

	uart8250_io(u, reg, &v, 1, false);
	return v;
}

static void wr(struct uart8250 *u, unsigned reg, uint8_t v)
{
	uart8250_io(u, reg, &v, 1, true);
}

struct reader {
	int fd, delay_ms;
	size_t got;
};

static void *slow_reader(void *arg)
{
	struct reader *r = arg;
	char buf[4096];
	ssize_t n;

	usleep((useconds_t)r->delay_ms * 1000);
	while ((n = read(r->fd, buf, sizeof(buf))) > 0)
		r->got += (size_t)n;
	return NULL;
}

/* A UART on a blocking pipe of 4 KiB (a shell's pipe). */
static void open_uart(struct uart8250 *u, struct irq_rec *irq, int p[2])
{
	assert_int_equal(pipe(p), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	uart8250_init(u, (struct irq_line){ irq_rec_set, irq, 4 }, p[1]);
	assert_int_equal(uart8250_start_output(u), 0);
}

/* Bytes queued when the snapshot is asked for are written before the
 * state is taken once stdout is read (here 20 ms later): a restored guest's
 * output follows them, not overtakes them. */
static void test_save_drains_queue_first(void **state)
{
	struct uart8250 u;
	struct irq_rec irq = { 0 };
	struct uart8250_state s;
	struct uart8250_stats st;
	struct reader r = { .delay_ms = 20 };
	pthread_t t;
	int p[2];

	(void)state;
	open_uart(&u, &irq, p);
	for (int i = 0; i < 30000; i++)
		wr(&u, THR, (uint8_t)i);
	uart8250_get_stats(&u, &st);
	assert_true(st.tx_queued > 0);
	r.fd = p[0];
	assert_int_equal(pthread_create(&t, NULL, slow_reader, &r), 0);
	assert_int_equal(uart8250_save(&u, &s), 0);
	uart8250_get_stats(&u, &st);
	assert_int_equal(st.tx_queued, 0);
	assert_int_equal(st.tx_written, 30000);
	uart8250_destroy(&u);
	close(p[1]);
	pthread_join(t, NULL);
	assert_int_equal(r.got, 30000);
	close(p[0]);
}

/* Nobody reads stdout: the save gives up after UART8250_SAVE_FLUSH_MS (the
 * bytes stay with this process), and the state has the line idle with the
 * THR-empty interrupt armed. Restored into a UART with a live queue, the
 * guest sees THRE/TEMT, IIR THRI, the line raised, and its next bytes go out. */
static void test_save_unread_restores_idle_line(void **state)
{
	struct uart8250 u, b;
	struct irq_rec irq = { 0 }, birq = { 0 };
	struct uart8250_state s;
	int p[2], q[2];
	char got[8];
	double t0, took;
	size_t n = 0;

	(void)state;
	open_uart(&u, &irq, p);
	wr(&u, FCR, 0x07);
	wr(&u, IER, 0x02);
	rd(&u, IIR);                                 /* the first THRI consumed */
	/* Fill until the line stays busy: the writer may still be filling the
	 * pipe (and making room) a while after the ring first fills. */
	for (int settle = 0; settle < 100; settle++) {
		while ((rd(&u, LSR) & 0x20) && n < 1024 * 1024) {
			for (int i = 0; i < UART8250_FIFO_SIZE; i++)
				wr(&u, THR, 'x');
			n += UART8250_FIFO_SIZE;
		}
		usleep(50000);
		if (!(rd(&u, LSR) & 0x20))
			break;
	}
	assert_int_equal(rd(&u, LSR) & 0x60, 0);    /* busy */
	assert_int_equal(atomic_load(&irq.level), 0);
	t0 = now_s();
	assert_int_equal(uart8250_save(&u, &s), 0);
	took = now_s() - t0;
	print_message("# save with an unread stdout took %.3f s\n", took);
	assert_true(took >= UART8250_SAVE_FLUSH_MS / 1000.0 - 0.01);
	assert_true(took < UART8250_SAVE_FLUSH_MS / 1000.0 + 1);
	assert_int_equal(s.regs.thr_ipending, 1);
	assert_int_equal(s.regs.irq_level, 1);

	assert_int_equal(pipe2(q, O_NONBLOCK), 0);
	uart8250_init(&b, (struct irq_line){ irq_rec_set, &birq, 4 }, q[1]);
	assert_int_equal(uart8250_start_output(&b), 0);
	assert_int_equal(uart8250_restore(&b, &s), 0);
	assert_int_equal(atomic_load(&birq.level), 1);
	assert_int_equal(rd(&b, LSR) & 0x60, 0x60);
	assert_int_equal(rd(&b, IIR) & 0x0f, 0x02);  /* THRI, consumed by the read */
	assert_int_equal(atomic_load(&birq.level), 0);
	wr(&b, THR, 'o');
	wr(&b, THR, 'k');
	assert_int_equal(uart8250_flush(&b, 2000), 0);
	assert_int_equal(read(q[0], got, sizeof(got)), 2);
	assert_memory_equal(got, "ok", 2);
	assert_true(atomic_load(&birq.level) == 1);  /* THRE again after the writes */
	uart8250_destroy(&b);
	close(q[0]);
	close(q[1]);

	/* The source's queue is still there: once read, it drains. */
	{
		struct reader r = { .fd = p[0] };
		pthread_t t;

		assert_int_equal(pthread_create(&t, NULL, slow_reader, &r), 0);
		uart8250_destroy(&u);
		close(p[1]);
		pthread_join(t, NULL);
		assert_int_equal(r.got, n);
	}
	close(p[0]);
}

/* No output fd (stdout closed): the save has nothing to wait for. */
static void test_save_without_output(void **state)
{
	struct uart8250 u;
	struct uart8250_state s;
	double t0;

	(void)state;
	uart8250_init(&u, (struct irq_line){ 0 }, -1);
	assert_int_equal(uart8250_start_output(&u), 0);
	wr(&u, THR, 'x');
	t0 = now_s();
	assert_int_equal(uart8250_save(&u, &s), 0);
	assert_true(now_s() - t0 < 0.05);
	assert_int_equal(s.regs.thr_ipending, 1);
	uart8250_destroy(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_drains_queue_first),
		cmocka_unit_test(test_save_unread_restores_idle_line),
		cmocka_unit_test(test_save_without_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
