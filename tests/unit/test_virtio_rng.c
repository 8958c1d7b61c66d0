/* test_virtio_rng.c - virtio-rng through the mmio transport: crafted request
 * chains in fake guest memory, filled from getrandom() by the worker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/rng.h"
#include "virtio_fake_driver.h"

struct rig {
	struct fake_driver f;
	struct virtio_rng *d;
};

static int rig_up(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(fd_setup(&r->f), 0);
	assert_int_equal(virtio_rng_create(&r->d, NULL, &r->f.mem), 0);
	assert_int_equal(virtio_rng_attach(r->d, &r->f.env, FD_MMIO_BASE, 5), 0);
	r->f.t = virtio_rng_transport(r->d);
	*state = r;
	return 0;
}

static int rig_down(void **state)
{
	struct rig *r = *state;

	virtio_rng_destroy(r->d);
	fd_teardown(&r->f);
	free(r);
	return 0;
}

static size_t count_zero(const uint8_t *p, size_t n)
{
	size_t z = 0;

	for (size_t i = 0; i < n; i++)
		z += p[i] == 0;
	return z;
}

static void test_identity(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;

	assert_int_equal(fd_rd(f, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	fd_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	/* No device-specific bits: only transport bits (>= 28) may be set. */
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_DEVICE_FEATURES) & 0x0fffffff, 0);
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_RNG_QUEUE_MAX);
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(fd_init(f, 1, 64, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_true(fd_rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

/* Two writable segments: both filled, used length the total. */
static void test_two_writable_segments(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint8_t *a = fd_host(f, FD_DATA_BASE, 100), *b = fd_host(f, FD_DATA_BASE + 0x1000, 300);
	struct fd_seg segs[] = {
		{ FD_DATA_BASE, 100, true },
		{ FD_DATA_BASE + 0x1000, 300, true },
	};
	struct virtq_used_elem e;
	uint16_t head;

	fd_init(f, 1, 64, 0);
	memset(a, 0, 100);
	memset(b, 0, 400);   /* 100 bytes past the segment stay untouched */
	head = fd_add_chain(f, 0, segs, 2);
	fd_notify(f, 0);
	assert_true(fd_wait_used(f, 0, 1, 2000));
	e = fd_used_elem(f, 0, 0);
	assert_int_equal(e.id, head);
	assert_int_equal(e.len, 400);
	/* Random bytes: a zero in ~1/256 of them, never most of them. */
	assert_true(count_zero(a, 100) < 20);
	assert_true(count_zero(b, 300) < 40);
	assert_int_equal(count_zero(b + 300, 100), 100);
	assert_true(fd_irq_raised(f));
}

/* Device-readable buffers break the spec: used length 0, nothing written. */
static void test_readable_chain_gets_nothing(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint8_t *a = fd_host(f, FD_DATA_BASE, 0x3000);
	struct fd_seg ro[] = { { FD_DATA_BASE, 64, false } };
	struct fd_seg mixed[] = {
		{ FD_DATA_BASE + 0x1000, 16, false },
		{ FD_DATA_BASE + 0x2000, 64, true },
	};
	struct fd_seg good[] = { { FD_DATA_BASE + 0x2800, 32, true } };

	fd_init(f, 1, 64, 0);
	memset(a, 0xa5, 0x3000);
	fd_add_chain(f, 0, ro, 1);
	fd_add_chain(f, 0, mixed, 2);
	fd_add_chain(f, 0, good, 1);
	fd_notify(f, 0);
	assert_true(fd_wait_used(f, 0, 3, 2000));
	assert_int_equal(fd_used_elem(f, 0, 0).len, 0);
	assert_int_equal(fd_used_elem(f, 0, 1).len, 0);
	assert_int_equal(fd_used_elem(f, 0, 2).len, 32);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(a[i], 0xa5);
		assert_int_equal(a[0x2000 + i], 0xa5);
	}
	/* The queue still works. */
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

/* More chains than one wake-up serves: all completed from one kick. */
static void test_many_chains_one_kick(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	const int n = 250;

	fd_init(f, 1, 256, 0);
	for (int i = 0; i < n; i++) {
		struct fd_seg s = { FD_DATA_BASE + (uint64_t)i * 64, (uint32_t)(1 + i % 64), true };

		fd_add_chain(f, 0, &s, 1);
	}
	fd_notify(f, 0);
	assert_true(n > VIRTIO_RNG_BATCH);
	assert_true(fd_wait_used(f, 0, (uint16_t)n, 5000));
	for (int i = 0; i < n; i++) {
		struct virtq_used_elem e = fd_used_elem(f, 0, (uint16_t)i);

		assert_int_equal(e.id, i);
		assert_int_equal(e.len, 1 + i % 64);
	}
	usleep(20000);
	assert_int_equal(fd_used_idx(f, 0), n);
}

/* One chain asks for more than VIRTIO_RNG_MAX_REQ: it gets exactly that. */
static void test_request_bounded(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct fd_seg segs[] = {
		{ FD_DATA_BASE, 60 * 1024, true },
		{ FD_DATA_BASE + 0x100000, 60 * 1024, true },
	};
	uint8_t *b = fd_host(f, FD_DATA_BASE + 0x100000, 60 * 1024);

	fd_init(f, 1, 64, 0);
	memset(b, 0, 60 * 1024);
	fd_add_chain(f, 0, segs, 2);
	fd_notify(f, 0);
	assert_true(fd_wait_used(f, 0, 1, 2000));
	assert_int_equal(fd_used_elem(f, 0, 0).len, VIRTIO_RNG_MAX_REQ);
	/* The second segment got the remaining 4 KiB, then nothing. */
	assert_true(count_zero(b, 4096) < 100);
	assert_int_equal(count_zero(b + 4096, 4096), 4096);
}

/* Reset while a batch is in flight: after the reset returns nothing more is
 * written to the used ring; the device then comes back up and serves. */
static void test_reset_midway(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint16_t after;

	fd_init(f, 1, 256, 0);
	for (int i = 0; i < 256; i++) {
		struct fd_seg s = { FD_DATA_BASE + (uint64_t)i * 0x1000, 0x1000, true };

		fd_add_chain(f, 0, &s, 1);
	}
	fd_notify(f, 0);
	fd_wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_STATUS), 0);
	after = fd_used_idx(f, 0);
	usleep(50000);
	assert_int_equal(fd_used_idx(f, 0), after);

	/* Fresh start. */
	{
		struct fd_seg s = { FD_DATA_BASE, 16, true };

		assert_int_equal(fd_init(f, 1, 16, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
		fd_add_chain(f, 0, &s, 1);
		fd_notify(f, 0);
		assert_true(fd_wait_used(f, 0, 1, 2000));
		assert_int_equal(fd_used_elem(f, 0, 0).len, 16);
	}
}

/* A descriptor loop is the driver's fault: NEEDS_RESET, not a hang. */
static void test_malformed_chain_needs_reset(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	volatile struct virtq_desc *desc;
	volatile struct virtq_avail *av;

	fd_init(f, 1, 16, 0);
	desc = fd_host(f, f->q[0].desc, 16 * 16);
	av = fd_avail(f, 0);
	desc[0] = (struct virtq_desc){ FD_DATA_BASE, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 };
	desc[1] = (struct virtq_desc){ FD_DATA_BASE, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0 };
	av->ring[0] = 0;
	__atomic_store_n(&av->idx, 1, __ATOMIC_RELEASE);
	fd_notify(f, 0);
	for (int i = 0; i < 2000 && !(fd_rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(fd_rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static atomic_int log_lines;

static void count_lines(enum log_level level, const char *msg, void *ctx)
{
	atomic_fetch_add(&log_lines, 1);
}

/* A guest that breaks its queue and resets the device, 2,000 times through
 * the real transport and worker: mvm's log gets a few lines, not 2,000
 * (each break used to log a warning). Also with --debug, where the
 * transport says more. */
static void break_and_reset(struct fake_driver *f, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		volatile struct virtq_avail *av;

		assert_int_equal(fd_init(f, 1, 16, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
		av = fd_avail(f, 0);
		av->ring[0] = 99;                /* head past the queue size: a driver error */
		__atomic_store_n(&av->idx, 1, __ATOMIC_RELEASE);
		fd_notify(f, 0);
		for (int j = 0; j < 200000 && !(fd_rd(f, VIRTIO_MMIO_STATUS) &
						 VIRTIO_STATUS_NEEDS_RESET); j++)
			usleep(10);
		assert_true(fd_rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	}
}

static void test_broken_queue_log_bounded(void **state)
{
	struct rig *r = *state;
	int info, debug;

	log_rl_reset();
	atomic_store(&log_lines, 0);
	log_set_sink(count_lines, NULL);
	break_and_reset(&r->f, 2000);
	info = atomic_load(&log_lines);
	log_set_level(LOG_DEBUG);
	log_rl_reset();
	atomic_store(&log_lines, 0);
	break_and_reset(&r->f, 2000);
	log_set_level(LOG_INFO);
	debug = atomic_load(&log_lines);
	log_set_sink(NULL, NULL);
	print_message("2000 breaks and resets: %d log lines (%d with --debug)\n", info, debug);
	assert_true(info >= 1);
	assert_true(info < 30);
	assert_true(debug < 60);
}

/* Buffers posted before DRIVER_OK are served at activation (no kick). */
static void test_posted_before_driver_ok(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct fd_seg s = { FD_DATA_BASE, 8, true };
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

	fd_init(f, 1, 16, 0);
	/* Reinitialize by hand, making a buffer available before DRIVER_OK. */
	fd_wr(f, VIRTIO_MMIO_STATUS, 0);
	fd_wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fd_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fd_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	fd_wr(f, VIRTIO_MMIO_STATUS, st);
	memset(fd_host(f, FD_RING_BASE, 0x10000), 0, 0x10000);
	f->q[0].avail_idx = 0;
	f->q[0].next_desc = 0;
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	fd_wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
	fd_wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)f->q[0].desc);
	fd_wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)f->q[0].avail);
	fd_wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)f->q[0].used);
	fd_wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	fd_add_chain(f, 0, &s, 1);
	fd_wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	assert_true(fd_wait_used(f, 0, 1, 2000));
	assert_int_equal(fd_used_elem(f, 0, 0).len, 8);
}

/* One request at a time, the driver notifying only when the device asks
 * (EVENT_IDX, then the NO_NOTIFY flag): the device must keep asking, past
 * ring wrap-around, or a request would wait for ever. */
static void trickle(struct fake_driver *f, bool event_idx)
{
	fd_init(f, 1, 16, event_idx ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0);
	for (int i = 0; i < 100; i++) {
		struct fd_seg s = { FD_DATA_BASE + (uint64_t)(i % 16) * 64, 64, true };
		uint16_t old = f->q[0].avail_idx;

		fd_add_chain(f, 0, &s, 1);
		fd_notify_if_needed(f, 0, old, event_idx);
		assert_true(fd_wait_used(f, 0, (uint16_t)(i + 1), 2000));
		assert_int_equal(fd_used_elem(f, 0, (uint16_t)i).len, 64);
	}
}

static void test_trickle_event_idx(void **state)
{
	struct rig *r = *state;

	trickle(&r->f, true);
}

static void test_trickle_no_notify_flag(void **state)
{
	struct rig *r = *state;

	trickle(&r->f, false);
}

/* Destroy with work outstanding; NULL is fine. */
static void test_destroy_busy_and_null(void **state)
{
	struct fake_driver f;
	struct virtio_rng *d;

	virtio_rng_destroy(NULL);
	assert_int_equal(fd_setup(&f), 0);
	assert_int_equal(virtio_rng_create(&d, NULL, &f.mem), 0);
	assert_int_equal(virtio_rng_attach(d, &f.env, FD_MMIO_BASE, 5), 0);
	f.t = virtio_rng_transport(d);
	fd_init(&f, 1, 256, 0);
	for (int i = 0; i < 256; i++) {
		struct fd_seg s = { FD_DATA_BASE + (uint64_t)i * 0x1000, 0x1000, true };

		fd_add_chain(&f, 0, &s, 1);
	}
	fd_notify(&f, 0);
	virtio_rng_destroy(d);
	fd_teardown(&f);
}

/* entropy.rate_limiter: 64 bytes per 250 ms. Four 32-byte requests: two served at once,
 * the other two wait in the ring (not dropped, not spun on) and come at the refill rate. */
static void test_rate_limited(void **state)
{
	struct rlim_cfg rl = { .bandwidth = { .size = 64, .refill_time_ms = 250 } };
	struct virtio_rng_cfg cfg = { .rate_limiter = &rl };
	struct fake_driver f;
	struct virtio_rng *d;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(fd_setup(&f), 0);
	assert_int_equal(virtio_rng_create(&d, &cfg, &f.mem), 0);
	assert_int_equal(virtio_rng_attach(d, &f.env, FD_MMIO_BASE, 5), 0);
	f.t = virtio_rng_transport(d);
	assert_int_equal(fd_init(&f, 1, 64, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 4; i++) {
		struct fd_seg s = { FD_DATA_BASE + 0x1000 * (uint64_t)i, 32, true };

		fd_add_chain(&f, 0, &s, 1);
	}
	fd_notify(&f, 0);
	assert_true(fd_wait_used(&f, 0, 2, 2000));
	usleep(50 * 1000);
	assert_int_equal(fd_used_idx(&f, 0), 2);
	assert_true(fd_wait_used(&f, 0, 4, 2000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* 64 more bytes take 250 ms. */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 200);
	for (int i = 0; i < 4; i++)
		assert_int_equal(fd_used_elem(&f, 0, i).len, 32);
	virtio_rng_destroy(d);
	fd_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_two_writable_segments, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_readable_chain_gets_nothing, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_many_chains_one_kick, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_request_bounded, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_reset_midway, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_malformed_chain_needs_reset, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_broken_queue_log_bounded, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_posted_before_driver_ok, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_trickle_event_idx, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_trickle_no_notify_flag, rig_up, rig_down),
		cmocka_unit_test(test_destroy_busy_and_null),
		cmocka_unit_test(test_rate_limited),
	};
	return cmocka_run_group_tests_name("virtio-rng", tests, NULL, NULL);
}
