/* test_virtio_console.c - virtio-console through the mmio transport: guest
 * output to pipes (full ones included), host input into the guest's receive
 * buffers, directly and through the host console thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/console.h"
#include "recorders.h"
#include "virtio/console.h"
#include "virtio_fake_driver.h"

#define RXQ 0
#define TXQ 1
#define TX_DATA (FD_DATA_BASE + 0x400000)   /* guest output buffers */

struct rig {
	struct fake_driver f;
	struct virtio_console *d;
	int pipe[2];     /* guest output: the device writes [1], the test reads [0] */
};

static void rig_make(struct rig *r, int out_fd, uint16_t cols, uint16_t rows)
{
	struct virtio_console_cfg cfg = { .out_fd = out_fd, .cols = cols, .rows = rows };

	assert_int_equal(fd_setup(&r->f), 0);
	assert_int_equal(virtio_console_create(&r->d, &cfg, &r->f.mem), 0);
	assert_int_equal(virtio_console_attach(r->d, &r->f.env, FD_MMIO_BASE, 6), 0);
	r->f.t = virtio_console_transport(r->d);
}

static int rig_up(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(pipe2(r->pipe, O_CLOEXEC), 0);
	rig_make(r, r->pipe[1], 0, 0);
	*state = r;
	return 0;
}

static int rig_down(void **state)
{
	struct rig *r = *state;

	virtio_console_destroy(r->d);
	fd_teardown(&r->f);
	if (r->pipe[0] >= 0)
		close(r->pipe[0]);
	if (r->pipe[1] >= 0)
		close(r->pipe[1]);
	free(r);
	return 0;
}

/* A guest output chain of the given readable pieces, copied into RAM. */
static uint16_t post_tx(struct fake_driver *f, uint64_t *gpa, const void *data, uint32_t len)
{
	struct fd_seg s = { *gpa, len, false };

	memcpy(fd_host(f, *gpa, len), data, len);
	*gpa += (len + 15) & ~15u;
	return fd_add_chain(f, TXQ, &s, 1);
}

/* One writable receive buffer of len bytes at gpa. */
static uint16_t post_rx(struct fake_driver *f, uint64_t gpa, uint32_t len)
{
	struct fd_seg s = { gpa, len, true };

	return fd_add_chain(f, RXQ, &s, 1);
}

static ssize_t read_exact(int fd, uint8_t *buf, size_t len, int ms)
{
	size_t got = 0;

	for (int i = 0; i < ms && got < len; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1) != 1)
			continue;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static void test_identity_and_config(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;

	assert_int_equal(fd_rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	fd_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_DEVICE_FEATURES) & 0x0fffffff,
			 1u << VIRTIO_CONSOLE_F_SIZE);
	for (int q = 0; q < 2; q++) {
		fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, (uint32_t)q);
		assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_CONSOLE_QUEUE_MAX);
	}
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* A pipe is no terminal: 80x25; no ports beyond the one. */
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_CONFIG) & 0xffff, 80);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_CONFIG) >> 16, 25);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_CONFIG + 4), 0);
	assert_int_equal(fd_init(f, 2, 64, VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_size_from_cfg_and_resize(void **state)
{
	struct rig r;

	memset(&r, 0, sizeof(r));
	rig_make(&r, -1, 132, 43);
	assert_int_equal(fd_rd(&r.f, VIRTIO_MMIO_CONFIG), 132 | 43u << 16);
	fd_init(&r.f, 2, 64, VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE));
	(void)fd_rd(&r.f, VIRTIO_MMIO_INTERRUPT_STATUS);
	uint32_t gen = fd_rd(&r.f, VIRTIO_MMIO_CONFIG_GENERATION);

	virtio_console_resize(r.d, 100, 30);
	assert_int_equal(fd_rd(&r.f, VIRTIO_MMIO_CONFIG), 100 | 30u << 16);
	assert_true(fd_rd(&r.f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_not_equal(fd_rd(&r.f, VIRTIO_MMIO_CONFIG_GENERATION), gen);
	virtio_console_destroy(r.d);
	fd_teardown(&r.f);
}

/* Guest output, two segments and two chains, reaches the pipe in order. */
static void test_tx_reaches_pipe(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct fd_seg segs[] = { { TX_DATA, 6, false }, { TX_DATA + 0x100, 5, false } };
	uint64_t gpa = TX_DATA + 0x1000;
	uint8_t got[32];

	fd_init(f, 2, 64, 0);
	memcpy(fd_host(f, TX_DATA, 6), "hello ", 6);
	memcpy(fd_host(f, TX_DATA + 0x100, 5), "world", 5);
	fd_add_chain(f, TXQ, segs, 2);
	post_tx(f, &gpa, "!\n", 2);
	fd_notify(f, TXQ);
	assert_int_equal(read_exact(r->pipe[0], got, 13, 2000), 13);
	assert_memory_equal(got, "hello world!\n", 13);
	assert_true(fd_wait_used(f, TXQ, 2, 2000));
	assert_int_equal(fd_used_elem(f, TXQ, 0).len, 0);
	assert_int_equal(fd_used_elem(f, TXQ, 1).len, 0);
	assert_true(fd_irq_raised(f));
	/* The caller's stdout stand-in stays blocking: the device writes
	 * through a description of its own. */
	assert_int_equal(fcntl(r->pipe[1], F_GETFL) & O_NONBLOCK, 0);
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

/* Fill the pipe first: the worker must not block, must keep the chain, and
 * everything arrives in order once the reader drains. */
static void test_tx_full_pipe_then_drain(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	const size_t chunk = 3000, nr = 40, total = chunk * nr;
	uint8_t *src = malloc(total), *got = malloc(total), junk[4096];
	uint64_t gpa = TX_DATA;
	size_t filled = 0, have = 0;
	int nb;

	assert_non_null(src);
	assert_non_null(got);
	for (size_t i = 0; i < total; i++)
		src[i] = pattern(i);
	fcntl(r->pipe[1], F_SETPIPE_SZ, 4096);
	fcntl(r->pipe[1], F_SETFL, O_NONBLOCK);
	memset(junk, 'J', sizeof(junk));
	while ((nb = (int)write(r->pipe[1], junk, sizeof(junk))) > 0)
		filled += (size_t)nb;
	assert_int_equal(errno, EAGAIN);
	fcntl(r->pipe[1], F_SETFL, 0);

	fd_init(f, 2, 64, 0);
	for (size_t c = 0; c < nr; c++)
		post_tx(f, &gpa, src + c * chunk, (uint32_t)chunk);
	fd_notify(f, TXQ);
	usleep(100000);
	/* The worker is waiting, not finished, and not stuck: a reset would
	 * have to get through (checked by the destroy at teardown). */
	assert_true(fd_used_idx(f, TXQ) < nr);

	/* Drain the junk, then the guest's bytes. */
	while (filled) {
		ssize_t n = read(r->pipe[0], junk, filled < sizeof(junk) ? filled : sizeof(junk));

		assert_true(n > 0);
		filled -= (size_t)n;
	}
	have = (size_t)read_exact(r->pipe[0], got, total, 5000);
	assert_int_equal(have, total);
	assert_memory_equal(got, src, total);
	assert_true(fd_wait_used(f, TXQ, (uint16_t)nr, 2000));
	free(src);
	free(got);
}

/* Reset while a chain waits on a full pipe, then the device works again. */
static void test_tx_reset_while_blocked(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint8_t junk[4096], got[8];
	uint64_t gpa = TX_DATA;
	int n;

	fcntl(r->pipe[1], F_SETPIPE_SZ, 4096);
	fcntl(r->pipe[1], F_SETFL, O_NONBLOCK);
	memset(junk, 'J', sizeof(junk));
	while (write(r->pipe[1], junk, sizeof(junk)) > 0)
		;
	fcntl(r->pipe[1], F_SETFL, 0);
	fd_init(f, 2, 64, 0);
	memset(junk, 'g', sizeof(junk));
	post_tx(f, &gpa, junk, sizeof(junk));
	fd_notify(f, TXQ);
	usleep(50000);
	assert_int_equal(fd_used_idx(f, TXQ), 0);
	fd_wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_STATUS), 0);

	/* Empty the pipe; nothing of the reset chain follows the junk. */
	while ((n = (int)read_exact(r->pipe[0], junk, sizeof(junk), 50)) > 0)
		for (int i = 0; i < n; i++)
			assert_int_equal(junk[i], 'J');
	fd_init(f, 2, 64, 0);
	gpa = TX_DATA;
	post_tx(f, &gpa, "again", 5);
	fd_notify(f, TXQ);
	assert_int_equal(read_exact(r->pipe[0], got, 5, 2000), 5);
	assert_memory_equal(got, "again", 5);
}

/* The reader went away: output is dropped, the guest's chains complete. */
static void test_tx_reader_gone(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint64_t gpa = TX_DATA;

	close(r->pipe[0]);
	r->pipe[0] = -1;
	fd_init(f, 2, 64, 0);
	for (int i = 0; i < 10; i++)
		post_tx(f, &gpa, "lost", 4);
	fd_notify(f, TXQ);
	assert_true(fd_wait_used(f, TXQ, 10, 2000));
}

/* No output fd, and a regular file. */
static void test_tx_discard_and_file(void **state)
{
	struct rig a, b;
	char path[] = "/tmp/mvm-vcon-XXXXXX";
	uint64_t gpa = TX_DATA;
	char got[16] = { 0 };
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	memset(&a, 0, sizeof(a));
	rig_make(&a, -1, 0, 0);
	fd_init(&a.f, 2, 64, 0);
	post_tx(&a.f, &gpa, "void", 4);
	fd_notify(&a.f, TXQ);
	assert_true(fd_wait_used(&a.f, TXQ, 1, 2000));
	virtio_console_destroy(a.d);
	fd_teardown(&a.f);

	memset(&b, 0, sizeof(b));
	rig_make(&b, fd, 0, 0);
	fd_init(&b.f, 2, 64, 0);
	gpa = TX_DATA;
	post_tx(&b.f, &gpa, "to a ", 5);
	post_tx(&b.f, &gpa, "file", 4);
	fd_notify(&b.f, TXQ);
	assert_true(fd_wait_used(&b.f, TXQ, 2, 2000));
	assert_int_equal(pread(fd, got, sizeof(got), 0), 9);
	assert_string_equal(got, "to a file");
	virtio_console_destroy(b.d);
	fd_teardown(&b.f);
	close(fd);
}

/* Host input with a buffer posted: delivered, used length the byte count. */
static void test_rx_delivered(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint8_t *buf = fd_host(f, FD_DATA_BASE, 64);
	uint16_t head;

	fd_init(f, 2, 64, 0);
	head = post_rx(f, FD_DATA_BASE, 64);
	fd_notify(f, RXQ);
	(void)fd_irq_raised(f);
	assert_int_equal(virtio_console_receive(r->d, (const uint8_t *)"ls -l\r", 6), 6);
	assert_true(fd_wait_used(f, RXQ, 1, 2000));
	assert_int_equal(fd_used_elem(f, RXQ, 0).id, head);
	assert_int_equal(fd_used_elem(f, RXQ, 0).len, 6);
	assert_memory_equal(buf, "ls -l\r", 6);
	assert_true(fd_irq_raised(f));
}

/* No receive buffers: input is staged up to the buffer size, the sink
 * reports full, and it all arrives when the guest posts buffers. */
static void test_rx_waits_for_buffers(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	const size_t total = VIRTIO_CONSOLE_RX_BUF + 100;
	uint8_t *src = malloc(total);
	size_t took, got = 0;
	uint16_t used = 0;

	assert_non_null(src);
	for (size_t i = 0; i < total; i++)
		src[i] = pattern(i);
	fd_init(f, 2, 64, 0);
	took = virtio_console_receive(r->d, src, total);
	assert_int_equal(took, VIRTIO_CONSOLE_RX_BUF);
	assert_int_equal(virtio_console_receive(r->d, src + took, total - took), 0);
	assert_int_equal(virtio_console_wait_rx_room(r->d, 20), -ETIMEDOUT);
	usleep(20000);
	assert_int_equal(fd_used_idx(f, RXQ), 0);

	/* 1 KiB buffers: four drain the staging buffer. */
	for (int i = 0; i < 4; i++)
		post_rx(f, FD_DATA_BASE + (uint64_t)i * 0x1000, 1024);
	fd_notify(f, RXQ);
	assert_int_equal(virtio_console_wait_rx_room(r->d, 2000), 0);
	assert_true(fd_wait_used(f, RXQ, 4, 2000));
	took += virtio_console_receive(r->d, src + took, total - took);
	assert_int_equal(took, total);
	post_rx(f, FD_DATA_BASE + 4 * 0x1000, 1024);
	fd_notify(f, RXQ);
	assert_true(fd_wait_used(f, RXQ, 5, 2000));
	for (used = 0; used < 5; used++) {
		struct virtq_used_elem e = fd_used_elem(f, RXQ, used);

		assert_memory_equal(fd_host(f, FD_DATA_BASE + (uint64_t)used * 0x1000, e.len),
				    src + got, e.len);
		got += e.len;
	}
	assert_int_equal(got, total);
	free(src);
}

/* A receive buffer the device may not write is returned empty. */
static void test_rx_readable_buffer(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct fd_seg bad = { FD_DATA_BASE, 16, false };
	uint8_t *p = fd_host(f, FD_DATA_BASE, 0x2000);

	fd_init(f, 2, 64, 0);
	memset(p, 0x5a, 0x2000);
	fd_add_chain(f, RXQ, &bad, 1);
	post_rx(f, FD_DATA_BASE + 0x1000, 16);
	fd_notify(f, RXQ);
	assert_int_equal(virtio_console_receive(r->d, (const uint8_t *)"ab", 2), 2);
	assert_true(fd_wait_used(f, RXQ, 2, 2000));
	assert_int_equal(fd_used_elem(f, RXQ, 0).len, 0);
	assert_int_equal(p[0], 0x5a);
	assert_int_equal(fd_used_elem(f, RXQ, 1).len, 2);
	assert_memory_equal(p + 0x1000, "ab", 2);
}

/* The host console thread feeding the virtio console from a pipe: the
 * guest takes its time posting buffers; every byte arrives, in order. */
static void rx_through_console_thread(struct rig *r, bool event_idx)
{
	struct fake_driver *f = &r->f;
	struct stop_rec stops = { 0 };
	struct console c;
	const size_t total = 20000;
	uint8_t *src = malloc(total), *got = malloc(total);
	size_t have = 0;
	uint16_t seen = 0, posted = 0;
	int in[2];

	assert_non_null(src);
	assert_non_null(got);
	for (size_t i = 0; i < total; i++)
		src[i] = pattern(i + 3);
	assert_int_equal(pipe(in), 0);
	fd_init(f, 2, 64, event_idx ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0);
	assert_int_equal(console_start_sink(&c, in[0], virtio_console_sink(r->d), STOPPER(stops)), 0);
	assert_false(c.is_tty);
	/* More than the pipe and the staging buffer hold together. */
	fcntl(in[1], F_SETPIPE_SZ, 4096);
	{
		size_t off = 0;

		/* The writer would block: feed from here in pieces while we
		 * post buffers slowly. */
		fcntl(in[1], F_SETFL, O_NONBLOCK);
		for (int rounds = 0; rounds < 20000 && have < total; rounds++) {
			if (off < total) {
				ssize_t n = write(in[1], src + off, total - off);

				if (n > 0)
					off += (size_t)n;
			}
			if ((uint16_t)(posted - seen) < 8) {
				uint16_t old = f->q[RXQ].avail_idx;

				post_rx(f, FD_DATA_BASE + (uint64_t)(posted % 64) * 0x1000, 512);
				posted++;
				fd_notify_if_needed(f, RXQ, old, event_idx);
			}
			while (seen != fd_used_idx(f, RXQ)) {
				struct virtq_used_elem e = fd_used_elem(f, RXQ, seen);

				assert_true(have + e.len <= total);
				memcpy(got + have, fd_host(f, FD_DATA_BASE + (uint64_t)(e.id % 64) * 0x1000, 512), e.len);
				have += e.len;
				seen++;
			}
			usleep(200);
		}
	}
	assert_int_equal(have, total);
	assert_memory_equal(got, src, total);
	assert_int_equal(stops.count, 0);
	console_stop(&c);
	close(in[0]);
	close(in[1]);
	free(src);
	free(got);
}

static void test_rx_through_console_thread(void **state)
{
	rx_through_console_thread(*state, false);
}

static void test_rx_through_console_thread_event_idx(void **state)
{
	rx_through_console_thread(*state, true);
}

/* Guest output one chain at a time, notifying only when asked (EVENT_IDX):
 * every chain is written, across ring wrap-around. */
static void test_tx_trickle_event_idx(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint8_t got;

	fd_init(f, 2, 16, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	for (int i = 0; i < 100; i++) {
		uint64_t gpa = TX_DATA + (uint64_t)(i % 16) * 16;
		uint16_t old = f->q[TXQ].avail_idx;
		uint8_t ch = (uint8_t)(i + 1);

		post_tx(f, &gpa, &ch, 1);
		fd_notify_if_needed(f, TXQ, old, true);
		assert_int_equal(read_exact(r->pipe[0], &got, 1, 2000), 1);
		assert_int_equal(got, ch);
	}
	assert_true(fd_wait_used(f, TXQ, 100, 2000));
}

/* console_stop() is prompt while the sink is full and the guest reads
 * nothing. */
static void test_console_stop_while_sink_full(void **state)
{
	struct rig *r = *state;
	struct stop_rec stops = { 0 };
	struct console c;
	static uint8_t big[VIRTIO_CONSOLE_RX_BUF + 512];
	struct timespec t0, t1;
	int in[2];

	assert_int_equal(pipe(in), 0);
	memset(big, 'z', sizeof(big));
	assert_int_equal(console_start_sink(&c, in[0], virtio_console_sink(r->d), STOPPER(stops)), 0);
	assert_int_equal(write(in[1], big, sizeof(big)), (ssize_t)sizeof(big));
	usleep(50000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	console_stop(&c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
	close(in[0]);
	close(in[1]);
}

/* A transmit storm larger than one wake-up's batch completes. */
static void test_tx_many_chains(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	const int n = 200;
	uint64_t gpa = TX_DATA;
	uint8_t got[200];

	fd_init(f, 2, 256, 0);
	for (int i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)i;

		post_tx(f, &gpa, &ch, 1);
	}
	fd_notify(f, TXQ);
	assert_true(n > VIRTIO_CONSOLE_BATCH);
	assert_int_equal(read_exact(r->pipe[0], got, (size_t)n, 3000), n);
	for (int i = 0; i < n; i++)
		assert_int_equal(got[i], (uint8_t)i);
	assert_true(fd_wait_used(f, TXQ, (uint16_t)n, 2000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, rig_up, rig_down),
		cmocka_unit_test(test_size_from_cfg_and_resize),
		cmocka_unit_test_setup_teardown(test_tx_reaches_pipe, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_full_pipe_then_drain, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_reset_while_blocked, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_reader_gone, rig_up, rig_down),
		cmocka_unit_test(test_tx_discard_and_file),
		cmocka_unit_test_setup_teardown(test_tx_many_chains, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_delivered, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_readable_buffer, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_through_console_thread, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_through_console_thread_event_idx, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_trickle_event_idx, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_console_stop_while_sink_full, rig_up, rig_down),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("virtio-console", tests, NULL, NULL);
}
