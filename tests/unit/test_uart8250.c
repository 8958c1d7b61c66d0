/* test_uart8250.c - 16550A registers, interrupts, RX FIFO, the output queue
 * behind THR, and the console thread feeding RX. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "board/uart8250.h"
#include "board/console.h"
#include "util/log.h"
#include "recorders.h"

/* Register offsets as the guest sees them. */
enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3,
       MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* The output thread raises the line too: the fields are atomic. */
struct irq_rec {
	_Atomic int level;
	_Atomic int raises;
	_Atomic int calls;
};

static void irq_rec_set(void *ctx, uint32_t gsi, int level)
{
	struct irq_rec *r = ctx;

	assert_int_equal(gsi, 4);
	if (level && !r->level)
		r->raises++;
	r->level = level;
	r->calls++;
}


struct fixture {
	struct uart8250 u;
	struct irq_rec irq;
	int out[2]; /* pipe: [0] read back what the guest transmitted */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || pipe2(f->out, O_NONBLOCK) < 0)
		return -1;
	uart8250_init(&f->u, (struct irq_line){ irq_rec_set, &f->irq, 4 }, f->out[1]);
	if (uart8250_start_output(&f->u))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uart8250_destroy(&f->u);
	close(f->out[0]);
	close(f->out[1]);
	free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned reg)
{
	uint8_t v = 0;

	uart8250_io(&f->u, reg, &v, 1, false);
	return v;
}

static void wr(struct fixture *f, unsigned reg, uint8_t v)
{
	uart8250_io(&f->u, reg, &v, 1, true);
}

/* What the guest transmitted so far (the output thread has written it). */
static ssize_t drain_out(struct fixture *f, char *buf, size_t len)
{
	ssize_t n;

	assert_int_equal(uart8250_flush(&f->u, 2000), 0);
	n = read(f->out[0], buf, len);

	return n < 0 ? 0 : n;
}

static void test_reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60);      /* THRE | TEMT */
	assert_int_equal(rd(f, MSR), 0xb0);      /* DCD | DSR | CTS */
	assert_int_equal(rd(f, IER), 0x00);
	assert_int_equal(rd(f, RBR), 0x00);      /* empty FIFO */
	assert_int_equal(f->irq.calls, 0);
}

static void test_scratch_and_ier(void **state)
{
	struct fixture *f = *state;

	wr(f, SCR, 0xa5);
	assert_int_equal(rd(f, SCR), 0xa5);
	/* Linux's probe: IER keeps the low 4 bits, upper bits read 0. */
	wr(f, IER, 0x00);
	assert_int_equal(rd(f, IER), 0x00);
	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f);
	wr(f, IER, 0x00);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x05);
	wr(f, LCR, 0x83);
	wr(f, DLL, 0x01);
	wr(f, DLM, 0x02);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	assert_int_equal(rd(f, LCR), 0x83);
	/* A THR write under DLAB must not transmit. */
	char buf[8];
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 0);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, IER), 0x05);      /* IER untouched by DLM */
	assert_int_equal(rd(f, RBR), 0x00);
	wr(f, LCR, 0x83);
	assert_int_equal(rd(f, DLL), 0x01);
}

static void test_fifo_bits(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR), 0xc1);
	/* Linux's 16750 probe: bit 5 must never show up. */
	wr(f, FCR, 0x21);
	assert_int_equal(rd(f, IIR) & 0xe0, 0xc0);
	wr(f, FCR, 0x00);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;
	char buf[8];

	rd(f, MSR); /* clear deltas */
	wr(f, MCR, 0x10 | 0x0a);                 /* Linux's probe: LOOP | RTS | OUT2 */
	assert_int_equal(rd(f, MSR) & 0xf0, 0x90);
	wr(f, MCR, 0x1f);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xf0);
	wr(f, MCR, 0x1b);                         /* OUT1 falls: trailing-edge RI */
	assert_int_equal(rd(f, MSR), 0xb4);
	assert_int_equal(rd(f, MSR), 0xb0);

	wr(f, FCR, 0x01);
	wr(f, THR, 'L');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 0);
	assert_int_equal(rd(f, LSR) & 0x01, 0x01);
	assert_int_equal(rd(f, RBR), 'L');
	assert_int_equal(rd(f, LSR) & 0x01, 0x00);
	/* Host input waits while the receiver is looped back. */
	assert_int_equal(uart8250_receive(&f->u, (const uint8_t *)"h", 1), 0);
	assert_int_equal(uart8250_wait_rx_room(&f->u, 1), -ETIMEDOUT);

	wr(f, MCR, 0x0b);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xb0);
	wr(f, THR, 'T');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'T');
	assert_int_equal(uart8250_receive(&f->u, (const uint8_t *)"h", 1), 1);
}

static void test_loopback_overrun(void **state)
{
	struct fixture *f = *state;
	int i;

	wr(f, FCR, 0x01);
	wr(f, MCR, 0x10);
	wr(f, IER, 0x04);                        /* line status only */
	for (i = 0; i < UART8250_FIFO_SIZE + 1; i++)
		wr(f, THR, (uint8_t)i);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0xc6);
	assert_int_equal(rd(f, LSR), 0x63);      /* THRE TEMT OE DR */
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, LSR), 0x61);      /* OE cleared by the read */
	for (i = 0; i < UART8250_FIFO_SIZE; i++)
		assert_int_equal(rd(f, RBR), i);
}

/* The exact sequence Linux's 8250 driver relies on (startup THRE test and
 * interrupt-driven transmit). */
static void test_thre_sequence(void **state)
{
	struct fixture *f = *state;
	char buf[8];

	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, IIR), 0x01);

	/* Toggling ETBEI re-arms THRE (serial8250_do_startup's test). */
	wr(f, IER, 0x00);
	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);
	/* Rewriting the same IER value does not. */
	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(f->irq.level, 0);

	wr(f, THR, 'A');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'A');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
	int raises = f->irq.raises;
	wr(f, THR, 'B');                          /* stays high: no extra edge */
	assert_int_equal(f->irq.raises, raises);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'B');

	/* Masking a pending THRE drops the line. */
	wr(f, THR, 'C');
	assert_int_equal(f->irq.level, 1);
	wr(f, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_rx(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x07);                         /* FIFO on, trigger 1 */
	wr(f, IER, 0x01);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(uart8250_receive(&f->u, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0xc4);
	assert_int_equal(rd(f, LSR) & 0x01, 0x01);
	assert_int_equal(rd(f, RBR), 'a');
	assert_int_equal(rd(f, RBR), 'b');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, RBR), 'c');
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, IIR), 0xc1);
	assert_int_equal(rd(f, LSR), 0x60);

	/* Below the trigger level the guest sees a character timeout. */
	wr(f, FCR, 0x81);                         /* trigger 8 */
	assert_int_equal(uart8250_receive(&f->u, (const uint8_t *)"xyz", 3), 3);
	assert_int_equal(rd(f, IIR), 0xcc);
	/* FCR "clear RX" empties it and drops the line. */
	wr(f, FCR, 0x83);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(f->irq.level, 0);
}

static void test_rx_priority_over_thre(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x01);
	wr(f, IER, 0x03);
	assert_int_equal(uart8250_receive(&f->u, (const uint8_t *)"q", 1), 1);
	assert_int_equal(rd(f, IIR), 0xc4);       /* RX first; THRE stays armed */
	assert_int_equal(rd(f, RBR), 'q');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0xc2);
	assert_int_equal(f->irq.level, 0);
}

static void test_rx_full(void **state)
{
	struct fixture *f = *state;
	uint8_t big[40];

	memset(big, 'z', sizeof(big));
	/* FIFO off: a single holding register. */
	assert_int_equal(uart8250_receive(&f->u, big, sizeof(big)), 1);
	assert_int_equal(uart8250_receive(&f->u, big, sizeof(big)), 0);
	assert_int_equal(uart8250_wait_rx_room(&f->u, 10), -ETIMEDOUT);
	assert_int_equal(rd(f, RBR), 'z');
	assert_int_equal(uart8250_wait_rx_room(&f->u, 10), 0);

	wr(f, FCR, 0x01);
	assert_int_equal(uart8250_receive(&f->u, big, sizeof(big)), UART8250_FIFO_SIZE);
	assert_int_equal(uart8250_receive(&f->u, big, sizeof(big)), 0);
	assert_int_equal(rd(f, LSR) & 0x02, 0);   /* host input never overruns */
	rd(f, RBR);
	assert_int_equal(uart8250_wait_rx_room(&f->u, 0), 0);
	assert_int_equal(uart8250_receive(&f->u, big, sizeof(big)), 1);
}

static void test_modem_status_irq(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x08);
	assert_int_equal(f->irq.level, 0);
	wr(f, MCR, 0x10);                         /* loopback: all lines drop */
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x00);
	assert_int_equal(rd(f, MSR) & 0x0f, 0x0b);
	assert_int_equal(f->irq.level, 0);
}

/* Any offset, any width, reads and writes: nothing outside the 8 registers. */
static void test_odd_widths(void **state)
{
	struct fixture *f = *state;
	static const uint32_t lens[] = { 1, 2, 3, 4, 8 };
	uint64_t off;
	size_t i;
	char sink[4096];

	for (off = 0; off < 16; off++) {
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			uint8_t *d = malloc(lens[i]);

			memset(d, 0x5a, lens[i]);
			uart8250_io(&f->u, off, d, lens[i], true);
			uart8250_io(&f->u, off, d, lens[i], false);
			if (off >= 8)
				assert_int_equal(d[0], 0xff);
			free(d);
		}
		drain_out(f, sink, sizeof(sink));
	}
	uint8_t w[2] = { 0 };
	uart8250_io(&f->u, 7, w, 2, false);
	assert_int_equal(w[1], 0xff);
	uart8250_io(&f->u, UINT64_MAX, w, 2, false);
	assert_int_equal(w[0], 0xff);
	assert_int_equal(w[1], 0xff);
	/* A 16-bit write at SCR-1 lands on MSR (ignored) and SCR. */
	uint8_t v[2] = { 0x11, 0x22 };
	uart8250_io(&f->u, 6, v, 2, true);
	assert_int_equal(rd(f, SCR), 0x22);
}

static int warnings;
static void count_sink(enum log_level level, const char *msg, void *ctx)
{
	(void)msg;
	(void)ctx;
	if (level <= LOG_WARN)
		warnings++;
}

static void test_output_failure_dropped(void **state)
{
	struct uart8250 u;
	int p[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	close(p[0]);                              /* writes now fail with EPIPE */
	warnings = 0;
	log_set_sink(count_sink, NULL);
	uart8250_init(&u, (struct irq_line){ 0 }, p[1]);
	assert_int_equal(uart8250_start_output(&u), 0);
	for (int i = 0; i < 5; i++) {
		uint8_t c = 'x';
		uart8250_io(&u, 0, &c, 1, true);
		assert_int_equal(uart8250_flush(&u, 2000), 0);
	}
	assert_int_equal(warnings, 1);            /* said once, not per byte */
	uint8_t lsr;
	uart8250_io(&u, 5, &lsr, 1, false);
	assert_int_equal(lsr, 0x60);
	uart8250_destroy(&u);
	log_set_sink(NULL, NULL);
	close(p[1]);

	/* out_fd < 0 discards output silently. */
	uart8250_init(&u, (struct irq_line){ 0 }, -1);
	uint8_t c = 'y';
	uart8250_io(&u, 0, &c, 1, true);
	uart8250_destroy(&u);
}

/* ---- the output queue behind THR ---- */

static double now_s(void);
static uint8_t io_r_lsr(struct uart8250 *u);

/* Shrink the output pipe so the queue fills fast; the capacity it got. */
static int small_pipe(struct fixture *f)
{
	int cap = fcntl(f->out[1], F_SETPIPE_SZ, 4096);

	assert_true(cap >= 4096);
	return cap;
}

/* Write THR until LSR says the line is busy; how many bytes it took. */
static size_t fill_until_busy(struct fixture *f, size_t limit)
{
	size_t n = 0;

	while (n < limit && (rd(f, LSR) & 0x60)) {
		wr(f, THR, (uint8_t)n);
		n++;
		/* Let the writer fill the pipe before the queue fills. */
		if (n % 4096 == 0)
			uart8250_flush(&f->u, 20);
	}
	return n;
}

/* Wait up to 2 s for the output thread to raise the line. */
static bool wait_level(struct fixture *f, int level)
{
	double end = now_s() + 2;

	while (f->irq.level != level && now_s() < end)
		usleep(1000);
	return f->irq.level == level;
}

static void test_tx_full_busy_then_room_interrupts(void **state)
{
	struct fixture *f = *state;
	int cap = small_pipe(f);
	struct uart8250_stats st;
	char sink[8192];
	size_t n;

	wr(f, FCR, 0x07);
	wr(f, IER, 0x02);                         /* THRI */
	assert_int_equal(rd(f, IIR), 0xc2);
	/* Nobody reads: the pipe, then the queue fill; THRE/TEMT clear once
	 * less than a FIFO's worth of room is left. */
	n = fill_until_busy(f, UART8250_TX_RING + (size_t)cap + 4096);
	assert_true(n >= UART8250_TX_RING - UART8250_FIFO_SIZE);
	assert_true(n <= UART8250_TX_RING + (size_t)cap);
	assert_int_equal(rd(f, LSR) & 0x60, 0);
	assert_int_equal(rd(f, IIR), 0xc1);       /* no THR-empty interrupt while busy */
	assert_int_equal(f->irq.level, 0);
	/* Still busy a while later: it is the reader that makes room. */
	usleep(50000);
	assert_int_equal(rd(f, LSR) & 0x60, 0);
	assert_int_equal(f->irq.level, 0);
	uart8250_get_stats(&f->u, &st);
	assert_int_equal(st.tx_dropped, 0);       /* a driver that waits loses nothing */

	/* The host reads: the writer makes room, THRE comes back and the
	 * THR-empty interrupt fires from the writer's thread. */
	int raises = f->irq.raises;
	assert_true(read(f->out[0], sink, sizeof(sink)) > 0);
	assert_true(wait_level(f, 1));
	assert_int_equal(f->irq.raises, raises + 1);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
	assert_int_equal(rd(f, IIR), 0xc2);
	assert_int_equal(f->irq.level, 0);
	/* With THRI masked, room comes silently; unmasking with THRE set fires. */
	n = fill_until_busy(f, 64 * 1024);
	assert_int_equal(rd(f, LSR) & 0x60, 0);
	wr(f, IER, 0x00);
	assert_true(read(f->out[0], sink, sizeof(sink)) > 0);
	double end = now_s() + 2;
	while (!(rd(f, LSR) & 0x20) && now_s() < end)
		usleep(1000);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
	assert_int_equal(f->irq.level, 0);
	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	/* Drain everything before the teardown's flush. */
	while (uart8250_flush(&f->u, 10) != 0)
		while (read(f->out[0], sink, sizeof(sink)) > 0)
			;
}

/* Enabling THRI while the line is busy arms the interrupt for when room comes. */
static void test_tx_ier_while_busy(void **state)
{
	struct fixture *f = *state;
	char sink[8192];

	small_pipe(f);
	fill_until_busy(f, 128 * 1024);
	assert_int_equal(rd(f, LSR) & 0x60, 0);
	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 0);
	assert_true(read(f->out[0], sink, sizeof(sink)) > 0);
	assert_true(wait_level(f, 1));
	assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
	while (uart8250_flush(&f->u, 10) != 0)
		while (read(f->out[0], sink, sizeof(sink)) > 0)
			;
}

/* A driver that honours THRE, three rings' worth of output with a slow
 * host reader: every byte arrives, in order, across many wraparounds. */
static void test_tx_order_across_wraparound(void **state)
{
	struct fixture *f = *state;
	const size_t total = 3 * UART8250_TX_RING + 1234;
	uint8_t *got = malloc(total);
	size_t sent = 0, recvd = 0;
	struct uart8250_stats st;
	double end = now_s() + 20;

	assert_non_null(got);
	small_pipe(f);
	while ((sent < total || recvd < total) && now_s() < end) {
		if (sent < total && (rd(f, LSR) & 0x20)) {
			for (int i = 0; i < UART8250_FIFO_SIZE && sent < total; i++, sent++)
				wr(f, THR, (uint8_t)(sent * 131 + sent / 251));
			continue;
		}
		/* Busy (or all sent): the host reads a little. */
		ssize_t n = read(f->out[0], got + recvd, total - recvd < 3000 ? total - recvd : 3000);

		if (n > 0)
			recvd += (size_t)n;
		else
			usleep(200);
	}
	assert_int_equal(sent, total);
	assert_int_equal(recvd, total);
	for (size_t i = 0; i < total; i++)
		if (got[i] != (uint8_t)(i * 131 + i / 251))
			fail_msg("byte %zu is %#x, expected %#x", i, got[i], (uint8_t)(i * 131 + i / 251));
	uart8250_get_stats(&f->u, &st);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(st.tx_bytes, total);
	assert_int_equal(st.tx_written, total);
	assert_int_equal(st.tx_queued, 0);
	free(got);
}

/* A driver that ignores THRE, into a pipe nobody reads: every THR write
 * returns at once, and what did not fit is counted, not blocked on. */
static void test_tx_unread_pipe_never_blocks(void **state)
{
	struct fixture *f = *state;
	int cap = small_pipe(f);
	const size_t total = UART8250_TX_RING + (size_t)cap + 100000;
	struct uart8250_stats st;
	double t0 = now_s(), worst = 0;

	for (size_t i = 0; i < total; i++) {
		double t = now_s();

		wr(f, THR, 'x');
		if (now_s() - t > worst)
			worst = now_s() - t;
		if (i % 8192 == 0)
			uart8250_flush(&f->u, 5);   /* let the writer fill the pipe */
	}
	print_message("# %zu THR writes in %.3f s, slowest %.1f us\n", total, now_s() - t0, worst * 1e6);
	assert_true(now_s() - t0 < 5);
	assert_true(worst < 0.5);
	uart8250_get_stats(&f->u, &st);
	assert_true(st.tx_dropped >= 100000);
	assert_int_equal(st.tx_bytes + st.tx_dropped, total);
	assert_true(st.tx_written <= (uint64_t)cap);   /* what the pipe took */
	assert_int_equal(st.tx_queued, UART8250_TX_RING);
	assert_int_equal(st.tx_bytes, st.tx_written + st.tx_queued);
	assert_int_equal(rd(f, LSR) & 0x60, 0);
}

struct reader {
	int fd;
	size_t got;
	int delay_ms;
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

static int lost_warnings;
static void lost_sink(enum log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= LOG_WARN && strstr(msg, "not written within"))
		lost_warnings++;
}

/* Destroy flushes what is queued: everything, once the host reads; with
 * nobody reading, it gives up after UART8250_EXIT_FLUSH_MS and says how
 * much it dropped. */
static void test_tx_flush_at_destroy(void **state)
{
	struct uart8250 u;
	struct reader r = { .delay_ms = 300 };
	pthread_t t;
	int p[2];
	double t0;

	(void)state;
	assert_int_equal(pipe(p), 0);            /* blocking, like a shell's pipe */
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	uart8250_init(&u, (struct irq_line){ 0 }, p[1]);
	assert_int_equal(uart8250_start_output(&u), 0);
	for (int i = 0; i < 40000; i++) {
		uint8_t c = (uint8_t)i;
		uart8250_io(&u, 0, &c, 1, true);
	}
	r.fd = p[0];
	assert_int_equal(pthread_create(&t, NULL, slow_reader, &r), 0);
	lost_warnings = 0;
	log_set_sink(lost_sink, NULL);
	uart8250_destroy(&u);                     /* the reader starts during the flush */
	close(p[1]);
	pthread_join(t, NULL);
	assert_int_equal(r.got, 40000);
	assert_int_equal(lost_warnings, 0);
	close(p[0]);

	/* Nobody reads: destroy returns after the deadline, counting the loss. */
	assert_int_equal(pipe(p), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	uart8250_init(&u, (struct irq_line){ 0 }, p[1]);
	assert_int_equal(uart8250_start_output(&u), 0);
	for (int i = 0; i < 40000; i++) {
		uint8_t c = (uint8_t)i;
		uart8250_io(&u, 0, &c, 1, true);
	}
	t0 = now_s();
	uart8250_destroy(&u);
	print_message("# destroy with an unread pipe took %.3f s\n", now_s() - t0);
	assert_true(now_s() - t0 >= UART8250_EXIT_FLUSH_MS / 1000.0 - 0.05);
	assert_true(now_s() - t0 < UART8250_EXIT_FLUSH_MS / 1000.0 + 3);   /* a loaded host */
	assert_int_equal(lost_warnings, 1);
	log_set_sink(NULL, NULL);
	close(p[0]);
	close(p[1]);
}

/* A snapshot taken while the guest waits for a busy line restores with an
 * empty queue: the THR-empty interrupt it waits for is armed. */
static void test_tx_busy_snapshot(void **state)
{
	struct fixture *f = *state;
	struct uart8250_state s;
	struct irq_rec rec = { 0 };
	struct uart8250 b;
	char sink[8192];

	small_pipe(f);
	wr(f, IER, 0x02);
	rd(f, IIR);
	fill_until_busy(f, 128 * 1024);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(uart8250_save(&f->u, &s), 0);
	uart8250_init(&b, (struct irq_line){ irq_rec_set, &rec, 4 }, -1);
	assert_int_equal(uart8250_restore(&b, &s), 0);
	assert_int_equal(rec.level, 1);
	assert_int_equal(io_r_lsr(&b) & 0x60, 0x60);
	uart8250_destroy(&b);
	while (uart8250_flush(&f->u, 10) != 0)
		while (read(f->out[0], sink, sizeof(sink)) > 0)
			;
}

/* ---- console ---- */

static void test_escape_machine(void **state)
{
	struct console_escape e = { 0 };
	uint8_t out[16];
	unsigned act = 0;
	size_t n;

	(void)state;
	n = console_escape_feed(&e, (const uint8_t *)"ab\x01\x01" "c", 5, out, &act);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "ab\x01" "c", 4);
	assert_int_equal(act, 0);

	n = console_escape_feed(&e, (const uint8_t *)"\x01h", 2, out, &act);
	assert_int_equal(n, 0);
	assert_int_equal(act, CONSOLE_ACT_HELP);

	act = 0;
	n = console_escape_feed(&e, (const uint8_t *)"\x01zq", 3, out, &act);
	assert_int_equal(n, 1);                   /* unknown command swallowed */
	assert_int_equal(out[0], 'q');
	assert_int_equal(act, 0);

	/* Escape split across reads; input after quit is dropped. */
	n = console_escape_feed(&e, (const uint8_t *)"k\x01", 2, out, &act);
	assert_int_equal(n, 1);
	assert_true(e.pending);
	n = console_escape_feed(&e, (const uint8_t *)"xmore", 5, out, &act);
	assert_int_equal(n, 0);
	assert_int_equal(act, CONSOLE_ACT_QUIT);
	assert_false(e.pending);
}

static uint8_t io_r_lsr(struct uart8250 *u)
{
	uint8_t v = 0;

	uart8250_io(u, 5, &v, 1, false);
	return v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Act as the guest: read RBR while LSR.DR, until want bytes or timeout. */
static size_t guest_read(struct fixture *f, uint8_t *buf, size_t want)
{
	size_t got = 0;
	double end = now_s() + 3;

	while (got < want && now_s() < end) {
		if (rd(f, LSR) & 0x01)
			buf[got++] = rd(f, RBR);
		else
			usleep(200);
	}
	return got;
}

static void test_console_pipe_passthrough(void **state)
{
	struct fixture *f = *state;
	struct stop_rec stops = { 0 };
	struct console c;
	uint8_t msg[100], got[100];
	int in[2];
	size_t i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	msg[10] = 0x01;                           /* Ctrl-A x: data on a pipe */
	msg[11] = 'x';
	assert_int_equal(pipe(in), 0);
	wr(f, FCR, 0x01);
	assert_int_equal(console_start(&c, in[0], &f->u,
				       (struct vm_stopper){ .request = stop_rec_request, .ctx = &stops }), 0);
	assert_false(c.is_tty);
	assert_int_equal(write(in[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	close(in[1]);                             /* EOF after the data */
	assert_int_equal(guest_read(f, got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, msg, sizeof(msg));
	console_stop(&c);
	console_stop(&c);                         /* twice is fine */
	assert_int_equal(stops.count, 0);
	close(in[0]);
}

static void test_console_stop_while_blocked(void **state)
{
	struct fixture *f = *state;
	struct console c;
	int in[2];
	double t;

	assert_int_equal(pipe(in), 0);
	/* Blocked in poll/read: no input at all. */
	assert_int_equal(console_start(&c, in[0], &f->u, (struct vm_stopper){ 0 }), 0);
	usleep(20000);
	t = now_s();
	console_stop(&c);
	assert_true(now_s() - t < 0.5);

	/* Blocked on a full receiver (FIFO off: one byte) the guest never reads. */
	assert_int_equal(console_start(&c, in[0], &f->u, (struct vm_stopper){ 0 }), 0);
	assert_int_equal(write(in[1], "0123456789", 10), 10);
	usleep(50000);
	t = now_s();
	console_stop(&c);
	assert_true(now_s() - t < 0.5);
	assert_int_equal(rd(f, RBR), '0');
	close(in[0]);
	close(in[1]);
}

static void test_console_bad_fd(void **state)
{
	struct fixture *f = *state;
	struct console c;

	assert_int_equal(console_start(&c, -1, &f->u, (struct vm_stopper){ 0 }), -EBADF);
	console_stop(&c);
	console_restore_terminal();               /* nothing saved: no-op */
}

static void test_console_dev_null(void **state)
{
	struct fixture *f = *state;
	struct console c;
	int fd = open("/dev/null", O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(console_start(&c, fd, &f->u, (struct vm_stopper){ 0 }), 0);
	usleep(10000);                            /* EOF at once; thread ends alone */
	console_stop(&c);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	close(fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_scratch_and_ier),
		T(test_divisor_latch),
		T(test_fifo_bits),
		T(test_loopback),
		T(test_loopback_overrun),
		T(test_thre_sequence),
		T(test_rx),
		T(test_rx_priority_over_thre),
		T(test_rx_full),
		T(test_modem_status_irq),
		T(test_odd_widths),
		cmocka_unit_test(test_output_failure_dropped),
		T(test_tx_full_busy_then_room_interrupts),
		T(test_tx_ier_while_busy),
		T(test_tx_order_across_wraparound),
		T(test_tx_unread_pipe_never_blocks),
		cmocka_unit_test(test_tx_flush_at_destroy),
		T(test_tx_busy_snapshot),
		cmocka_unit_test(test_escape_machine),
		T(test_console_pipe_passthrough),
		T(test_console_stop_while_blocked),
		T(test_console_bad_fd),
		T(test_console_dev_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
