/* test_i8042_kbd.c - the i8042's PS/2 keyboard: the command/answer dialogue Linux's i8042 and
 * atkbd drivers have at probe, the output queue with one IRQ 1 edge per byte, and
 * Ctrl-Alt-Del in scan code sets 1 (translated) and 2. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "board/i8042.h"
#include "recorders.h"

struct irq_rec {
	int rises;     /* 0 -> 1 transitions */
	int level;
	uint32_t gsi;
};

static void irq_rec_set(void *ctx, uint32_t gsi, int level)
{
	struct irq_rec *r = ctx;

	if (level && !r->level)
		r->rises++;
	r->level = level;
	r->gsi = gsi;
}

static uint8_t status(struct i8042 *k)
{
	uint8_t v = 0;

	i8042_cmd_io(k, 0, &v, 1, false);
	return v;
}

static uint8_t rd_data(struct i8042 *k)
{
	uint8_t v = 0;

	i8042_data_io(k, 0, &v, 1, false);
	return v;
}

static void wr_cmd(struct i8042 *k, uint8_t v) { i8042_cmd_io(k, 0, &v, 1, true); }
static void wr_data(struct i8042 *k, uint8_t v) { i8042_data_io(k, 0, &v, 1, true); }

/* Read every byte waiting (OBF set), as Linux's interrupt handler does. */
static int drain(struct i8042 *k, uint8_t *out, int max)
{
	int n = 0;

	while ((status(k) & 0x01) && n < max)
		out[n++] = rd_data(k);
	return n;
}

static struct stop_rec stops;
static struct irq_rec irq;

static void setup_kbd(struct i8042 *k)
{
	memset(&stops, 0, sizeof(stops));
	memset(&irq, 0, sizeof(irq));
	i8042_init(k, STOPPER(stops));
	i8042_set_irq(k, (struct irq_line){ irq_rec_set, &irq, 1 });
	/* Linux: enable the keyboard interrupt, keep translation. */
	wr_cmd(k, 0x60);
	wr_data(k, 0x47);
}

static void test_get_id_translated(void **state)
{
	struct i8042 k;
	uint8_t b[8];

	setup_kbd(&k);
	wr_data(&k, 0xf2);
	assert_int_equal(irq.rises, 1);      /* one edge for the first byte */
	assert_int_equal(irq.gsi, 1);
	assert_int_equal(irq.level, 0);      /* a pulse, not a held line */
	assert_int_equal(rd_data(&k), 0xfa);
	assert_int_equal(irq.rises, 2);      /* the next byte moved in: another edge */
	assert_int_equal(drain(&k, b, 8), 2);
	assert_int_equal(b[0], 0xab);
	assert_int_equal(b[1], 0x41);
	assert_int_equal(irq.rises, 3);
	assert_int_equal(status(&k) & 0x01, 0);
	i8042_destroy(&k);
}

static void test_get_id_untranslated(void **state)
{
	struct i8042 k;
	uint8_t b[8];

	setup_kbd(&k);
	wr_cmd(&k, 0x60);
	wr_data(&k, 0x07);
	wr_data(&k, 0xf2);
	assert_int_equal(drain(&k, b, 8), 3);
	assert_memory_equal(b, "\xfa\xab\x83", 3);
	i8042_destroy(&k);
}

static void test_commands_with_parameters(void **state)
{
	struct i8042 k;
	uint8_t b[8];

	setup_kbd(&k);
	wr_data(&k, 0xed);                   /* SET LEDS */
	assert_int_equal(drain(&k, b, 8), 1);
	assert_int_equal(b[0], 0xfa);
	wr_data(&k, 0x00);                   /* its parameter: ACK, not taken as a command */
	assert_int_equal(drain(&k, b, 8), 1);
	assert_int_equal(b[0], 0xfa);
	wr_data(&k, 0xf0);                   /* SCAN SET, 0 = which one? */
	wr_data(&k, 0x00);
	assert_int_equal(drain(&k, b, 8), 3);
	assert_memory_equal(b, "\xfa\xfa\x41", 3);
	wr_data(&k, 0xf3);                   /* TYPEMATIC 0x20 */
	wr_data(&k, 0x20);
	assert_int_equal(drain(&k, b, 8), 2);
	wr_data(&k, 0xee);                   /* ECHO */
	assert_int_equal(drain(&k, b, 8), 1);
	assert_int_equal(b[0], 0xee);
	wr_data(&k, 0xff);                   /* RESET: ACK, self test passed */
	assert_int_equal(drain(&k, b, 8), 2);
	assert_memory_equal(b, "\xfa\xaa", 2);
	wr_data(&k, 0xf4);                   /* ENABLE */
	assert_int_equal(drain(&k, b, 8), 1);
	assert_int_equal(stops.count, 0);
	i8042_destroy(&k);
}

static void test_no_irq_when_disabled(void **state)
{
	struct i8042 k;
	uint8_t b[8];

	setup_kbd(&k);
	wr_cmd(&k, 0x60);
	wr_data(&k, 0x44);                   /* interrupt bit clear: Linux polls */
	wr_data(&k, 0xf2);
	assert_int_equal(irq.rises, 0);
	assert_int_equal(drain(&k, b, 8), 3);
	assert_int_equal(irq.rises, 0);
	i8042_destroy(&k);
}

static void test_enable_irq_with_byte_waiting(void **state)
{
	struct i8042 k;

	setup_kbd(&k);
	wr_cmd(&k, 0x60);
	wr_data(&k, 0x44);
	wr_data(&k, 0xee);                   /* answer waits, no interrupt */
	assert_int_equal(irq.rises, 0);
	wr_cmd(&k, 0x60);
	wr_data(&k, 0x45);                   /* interrupt enabled: the waiting byte is signalled */
	assert_int_equal(irq.rises, 1);
	assert_int_equal(rd_data(&k), 0xee);
	i8042_destroy(&k);
}

/* 0xAD disables the keyboard interface, 0xAE enables it again: a byte that arrived meanwhile is
 * signalled when the interface comes back (IRQ1 follows OBF while the interrupt is enabled). */
static void test_kbd_reenable_with_byte_waiting(void **state)
{
	struct i8042 k;

	setup_kbd(&k);
	wr_cmd(&k, 0xad);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(irq.rises, 0);
	wr_cmd(&k, 0xae);
	assert_int_equal(irq.rises, 1);
	assert_int_equal(rd_data(&k), 0x1d);
	assert_int_equal(irq.rises, 2);      /* the next scancode, as before */
	wr_cmd(&k, 0xae);                    /* already enabled: no new edge */
	assert_int_equal(irq.rises, 2);
	i8042_destroy(&k);
}

static void test_ctrl_alt_del_set1(void **state)
{
	struct i8042 k;
	uint8_t b[16];

	setup_kbd(&k);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(irq.rises, 1);
	assert_int_equal(drain(&k, b, 16), 8);
	assert_memory_equal(b, "\x1d\x38\xe0\x53\xe0\xd3\xb8\x9d", 8);
	assert_int_equal(irq.rises, 8);      /* one edge per byte */
	i8042_destroy(&k);
}

static void test_ctrl_alt_del_set2(void **state)
{
	struct i8042 k;
	uint8_t b[16];

	setup_kbd(&k);
	wr_cmd(&k, 0x60);
	wr_data(&k, 0x05);                   /* no translation */
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(drain(&k, b, 16), 11);
	assert_memory_equal(b, "\x14\x11\xe0\x71\xe0\xf0\x71\xf0\x11\xf0\x14", 11);
	i8042_destroy(&k);
}

static void test_ctrl_alt_del_queue_full(void **state)
{
	struct i8042 k;
	int ok = 0, ret;

	setup_kbd(&k);
	/* A guest that never reads: the sequence goes in whole or not at all. */
	while ((ret = i8042_send_ctrl_alt_del(&k)) == 0)
		ok++;
	assert_int_equal(ret, -EAGAIN);
	assert_int_equal(ok, 2);             /* 1 + 16 bytes hold two sequences of 8 */
	i8042_destroy(&k);
}

/* A command sent while key codes wait: its answers come right after the byte
 * already in the output buffer, ahead of the rest (atkbd setting its LEDs
 * while Ctrl-Alt-Del arrives would otherwise eat the key codes). */
static void test_replies_ahead_of_keys(void **state)
{
	struct i8042 k;
	uint8_t b[16];

	setup_kbd(&k);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	wr_data(&k, 0xed);                   /* SET LEDS */
	wr_data(&k, 0x02);                   /* its parameter */
	assert_int_equal(drain(&k, b, 16), 10);
	assert_memory_equal(b, "\x1d\xfa\xfa\x38\xe0\x53\xe0\xd3\xb8\x9d", 10);
	i8042_destroy(&k);
}

/* With the queue full of key codes, an answer still gets in: the newest key
 * code makes room. */
static void test_reply_into_full_queue(void **state)
{
	struct i8042 k;
	uint8_t b[32];

	setup_kbd(&k);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);   /* 1 + 15 */
	wr_cmd(&k, 0xd2);                    /* one more key code: the queue is full */
	wr_data(&k, 0x5a);
	wr_data(&k, 0xee);                   /* ECHO: 0x5a makes room */
	assert_int_equal(drain(&k, b, 32), 17);
	assert_int_equal(b[0], 0x1d);
	assert_int_equal(b[1], 0xee);
	assert_memory_equal(b + 2, "\x38\xe0\x53\xe0\xd3\xb8\x9d\x1d\x38\xe0\x53\xe0\xd3\xb8\x9d", 15);
	i8042_destroy(&k);
}

static void test_ctrl_alt_del_without_irq(void **state)
{
	struct i8042 k;

	i8042_init(&k, STOPPER(stops));
	assert_int_equal(i8042_send_ctrl_alt_del(&k), -ENOTSUP);
	i8042_destroy(&k);
}

static void test_write_kbd_output(void **state)
{
	struct i8042 k;

	setup_kbd(&k);
	wr_cmd(&k, 0xd2);                    /* the next data byte comes back as keyboard data */
	wr_data(&k, 0x5a);
	assert_int_equal(rd_data(&k), 0x5a);
	assert_int_equal(irq.rises, 1);
	/* The reset line still works beside the keyboard. */
	wr_cmd(&k, 0xfe);
	assert_int_equal(stops.count, 1);
	i8042_destroy(&k);
}

/* ---- two threads on one line ----
 * The API thread queues Ctrl-Alt-Del and raises IRQ 1; a vCPU (here the "guest" thread, an
 * edge-triggered handler reading one byte per edge, as Linux's i8042_interrupt does) takes the
 * edge and reads the data port while the API thread still holds the line high. The rise the
 * read makes for the next byte must still be an edge, or the guest stops after 0x1d. */
struct edge_guest {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t api;
	struct i8042 *k;
	int level, pending, reads;
	uint8_t got[16];
};

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void edge_set(void *ctx, uint32_t gsi, int level)
{
	struct edge_guest *g = ctx;
	struct timespec ts;

	(void)gsi;
	pthread_mutex_lock(&g->mu);
	if (level && !g->level) {
		g->pending++;
		pthread_cond_broadcast(&g->cv);
	}
	g->level = level;
	/* The API thread is slow to lower the line (preempted between its two
	 * ioctls): give the guest up to 200 ms to take the edge meanwhile. */
	if (level && pthread_equal(pthread_self(), g->api)) {
		deadline_in(&ts, 200);
		while (g->reads == 0 &&
		       pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&g->mu);
}

static void *edge_guest_run(void *arg)
{
	struct edge_guest *g = arg;
	struct timespec ts;

	pthread_mutex_lock(&g->mu);
	while (g->reads < (int)sizeof(g->got)) {
		deadline_in(&ts, 1000);
		while (!g->pending && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
			;
		if (!g->pending)
			break;   /* no edge for a second: what the guest would see */
		g->pending--;
		pthread_mutex_unlock(&g->mu);
		uint8_t v = rd_data(g->k);
		pthread_mutex_lock(&g->mu);
		g->got[g->reads++] = v;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

static void test_ctrl_alt_del_edge_per_byte_across_threads(void **state)
{
	struct edge_guest g = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct i8042 k;
	pthread_t guest;

	(void)state;
	memset(&stops, 0, sizeof(stops));
	i8042_init(&k, STOPPER(stops));
	wr_cmd(&k, 0x60);
	wr_data(&k, 0x47);
	g.k = &k;
	g.api = pthread_self();
	i8042_set_irq(&k, (struct irq_line){ edge_set, &g, 1 });
	assert_int_equal(pthread_create(&guest, NULL, edge_guest_run, &g), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	pthread_join(guest, NULL);
	assert_int_equal(g.reads, 8);
	assert_memory_equal(g.got, "\x1d\x38\xe0\x53\xe0\xd3\xb8\x9d", 8);
	i8042_destroy(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_id_translated),
		cmocka_unit_test(test_get_id_untranslated),
		cmocka_unit_test(test_commands_with_parameters),
		cmocka_unit_test(test_no_irq_when_disabled),
		cmocka_unit_test(test_enable_irq_with_byte_waiting),
		cmocka_unit_test(test_ctrl_alt_del_set1),
		cmocka_unit_test(test_ctrl_alt_del_set2),
		cmocka_unit_test(test_ctrl_alt_del_queue_full),
		cmocka_unit_test(test_ctrl_alt_del_without_irq),
		cmocka_unit_test(test_replies_ahead_of_keys),
		cmocka_unit_test(test_reply_into_full_queue),
		cmocka_unit_test(test_write_kbd_output),
		cmocka_unit_test(test_kbd_reenable_with_byte_waiting),
		cmocka_unit_test(test_ctrl_alt_del_edge_per_byte_across_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
