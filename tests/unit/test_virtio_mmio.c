/* test_virtio_mmio.c - the virtio-mmio transport driven register by register
 * with a fake device: negotiation rules, queue setup checks, reset, kicks,
 * interrupts, config space and hostile offsets and widths. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/bus.h"
#include "core/memory.h"
#include "util/log.h"
#include "virtio/mmio.h"

#define BASE       0xd0000000ULL
#define QMAX       16
#define FAKE_FEAT  VIRTIO_BIT(5)
#define RAM        (16ULL << 20)
#define DESC(q)    (0x100000ULL + (q) * 0x10000)
#define AVAIL(q)   (DESC(q) + 0x1000)
#define USED(q)    (DESC(q) + 0x2000)

struct fake {
	uint8_t config[16];
	int activates, resets;
	int activate_ret;
	int config_writes;
	uint32_t last_write_off, last_write_len;
	uint8_t last_write[8];
	bool ev_idx_at_activate;
};

static void fake_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fake *f = dev;

	assert_true(off + len <= sizeof(f->config));
	memcpy(data, f->config + off, len);
}

static void fake_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct fake *f = dev;

	assert_true(off + len <= sizeof(f->config));
	f->config_writes++;
	f->last_write_off = off;
	f->last_write_len = len;
	memcpy(f->last_write, data, len);
	memcpy(f->config + off, data, len);
}

static struct virtio_mmio *fake_t;   /* for activate to look at the queues */

static int fake_activate(void *dev)
{
	struct fake *f = dev;

	f->activates++;
	f->ev_idx_at_activate = virtio_mmio_vq(fake_t, 0)->event_idx;
	return f->activate_ret;
}

static void fake_reset(void *dev)
{
	((struct fake *)dev)->resets++;
}

static const struct virtio_dev_ops fake_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features = FAKE_FEAT,
	.nr_queues = 2,
	.queue_max = QMAX,
	.config_size = 16,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
};

struct ctx {
	struct gmem mem;
	struct virtio_mmio t;
	struct fake f;
	char log[4096];
	int lines;
};

static void capture(enum log_level l, const char *m, void *c)
{
	struct ctx *x = c;
	size_t n = strlen(x->log);

	x->lines++;
	snprintf(x->log + n, sizeof(x->log) - n, "%s\n", m);
}

static int setup(void **state)
{
	struct ctx *x = calloc(1, sizeof(*x));
	struct virtio_env env;

	assert_non_null(x);
	assert_int_equal(gmem_init(&x->mem, RAM), 0);
	for (int i = 0; i < 16; i++)
		x->f.config[i] = 0x10 + i;
	memset(&env, 0, sizeof(env));
	env.mem = &x->mem;
	fake_t = &x->t;
	log_set_level(LOG_DEBUG);
	log_set_sink(capture, x);
	log_rl_reset();
	assert_int_equal(virtio_mmio_attach(&x->t, &env, BASE, 5, &fake_ops, &x->f), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *x = *state;

	virtio_mmio_detach(&x->t);
	gmem_free(&x->mem);
	log_set_sink(NULL, NULL);
	log_set_level(LOG_INFO);
	free(x);
	return 0;
}

static uint32_t rd(struct ctx *x, uint64_t off)
{
	uint32_t v;

	memset(&v, 0xee, sizeof(v));
	virtio_mmio_io(&x->t, off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(struct ctx *x, uint64_t off, uint32_t v)
{
	virtio_mmio_io(&x->t, off, (uint8_t *)&v, 4, true);
}

static uint32_t status(struct ctx *x)
{
	return rd(x, VIRTIO_MMIO_STATUS);
}

static void write_features(struct ctx *x, uint64_t f)
{
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK (as a Linux driver does). */
static void negotiate(struct ctx *x, uint64_t f)
{
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(x, f);
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(struct ctx *x, uint32_t q, uint32_t num,
			uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(x, VIRTIO_MMIO_QUEUE_SEL, q);
	wr(x, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(x, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(x, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(x, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	wr(x, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	wr(x, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	wr(x, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	wr(x, VIRTIO_MMIO_QUEUE_READY, 1);
}

#define STD_FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | FAKE_FEAT)

static void full_init(struct ctx *x, uint64_t f)
{
	negotiate(x, f);
	assert_true(status(x) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(x, 0, 8, DESC(0), AVAIL(0), USED(0));
	setup_queue(x, 1, QMAX, DESC(1), AVAIL(1), USED(1));
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_DRIVER_OK);
}

static bool fd_readable(int fd, uint64_t *val)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, 0) != 1)
		return false;
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	if (val)
		*val = v;
	return true;
}

/* ---- identification and features ---- */

static void test_ids(void **state)
{
	struct ctx *x = *state;

	assert_int_equal(rd(x, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_memory_equal((uint32_t[]){ rd(x, 0) }, "virt", 4);
	assert_int_equal(rd(x, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(x, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	assert_int_equal(rd(x, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_MVM_VENDOR);
	assert_int_equal(status(x), 0);
	assert_int_equal(rd(x, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_NUM_MAX), QMAX);
	assert_int_equal(rd(x, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(rd(x, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	wr(x, VIRTIO_MMIO_SHM_SEL, 3);
	assert_int_equal(rd(x, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
}

static void test_device_features_sel(void **state)
{
	struct ctx *x = *state;
	uint64_t want = FAKE_FEAT | VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

	wr(x, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(x, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)want);
	wr(x, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(x, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)(want >> 32));
	wr(x, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(x, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr(x, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	assert_int_equal(rd(x, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	assert_true(x->t.regs.device_features == want);
}

static void test_happy_path(void **state)
{
	struct ctx *x = *state;

	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(status(x), VIRTIO_STATUS_ACKNOWLEDGE);
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	assert_int_equal(status(x), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(status(x), 0xb & ~0);
	assert_true(virtio_mmio_has_feature(&x->t, VIRTIO_F_EVENT_IDX));
	assert_true(virtio_mmio_has_feature(&x->t, VIRTIO_F_VERSION_1));
	assert_true(virtio_mmio_has_feature(&x->t, 5));
	assert_false(virtio_mmio_has_feature(&x->t, VIRTIO_F_INDIRECT_DESC));
	assert_false(virtio_mmio_has_feature(&x->t, 200));

	for (uint32_t q = 0; q < 2; q++) {
		wr(x, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_NUM_MAX), QMAX);
		assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 0);
		setup_queue(x, q, 8, DESC(q), AVAIL(q), USED(q));
		assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 1);
		assert_true(vq_enabled(virtio_mmio_vq(&x->t, q)));
		assert_int_equal(virtio_mmio_vq(&x->t, q)->size, 8);
		assert_true(virtio_mmio_vq(&x->t, q)->event_idx);
		assert_false(virtio_mmio_vq(&x->t, q)->indirect);
	}
	assert_int_equal(x->f.activates, 0);
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(status(x), 0xf);
	assert_int_equal(x->f.activates, 1);
	assert_true(x->f.ev_idx_at_activate);
	/* Writing DRIVER_OK again does not activate twice. */
	wr(x, VIRTIO_MMIO_STATUS, 0xf);
	assert_int_equal(x->f.activates, 1);
	assert_int_equal(x->f.resets, 0);
	/* The rings resolved to guest RAM. */
	assert_ptr_equal((void *)virtio_mmio_vq(&x->t, 1)->desc, gmem_ptr(&x->mem, DESC(1), 1));
}

static void test_indirect_negotiated(void **state)
{
	struct ctx *x = *state;

	full_init(x, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	assert_int_equal(status(x), 0xf);
	assert_false(virtio_mmio_vq(&x->t, 0)->event_idx);
	assert_true(virtio_mmio_vq(&x->t, 0)->indirect);
	assert_false(x->f.ev_idx_at_activate);
}

static void test_features_ok_needs_version_1(void **state)
{
	struct ctx *x = *state;

	negotiate(x, FAKE_FEAT | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	assert_int_equal(status(x), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	assert_non_null(strstr(x->log, "VERSION_1"));
	/* Fixing the features makes the next attempt succeed. */
	write_features(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(x) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_features_ok_refuses_unoffered(void **state)
{
	struct ctx *x = *state;

	negotiate(x, STD_FEATURES | VIRTIO_BIT(3));
	assert_false(status(x) & VIRTIO_STATUS_FEATURES_OK);
	assert_non_null(strstr(x->log, "unoffered"));
	negotiate(x, STD_FEATURES | VIRTIO_BIT(40));
	assert_false(status(x) & VIRTIO_STATUS_FEATURES_OK);
	/* Words past the second carry no bits: writes there are ignored. */
	write_features(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(x) & VIRTIO_STATUS_FEATURES_OK);
	assert_true(x->t.regs.driver_features == STD_FEATURES);
}

static void test_features_locked_outside_negotiation(void **state)
{
	struct ctx *x = *state;

	/* Before DRIVER: ignored. */
	write_features(x, STD_FEATURES);
	assert_true(x->t.regs.driver_features == 0);
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	write_features(x, STD_FEATURES);
	assert_true(x->t.regs.driver_features == 0);
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(x) & VIRTIO_STATUS_FEATURES_OK);
	/* After FEATURES_OK: the sel and the value are both ignored. */
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(x, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	assert_int_equal(x->t.regs.driver_features_sel, 1);
	write_features(x, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	assert_true(x->t.regs.driver_features == STD_FEATURES);
	assert_true(virtio_mmio_has_feature(&x->t, VIRTIO_F_EVENT_IDX));
	/* DriverFeatures is write-only. */
	assert_int_equal(rd(x, VIRTIO_MMIO_DRIVER_FEATURES), 0);
}

/* ---- status rules ---- */

static void test_status_order(void **state)
{
	struct ctx *x = *state;

	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER);          /* no ACK */
	assert_int_equal(status(x), 0);
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(status(x), VIRTIO_STATUS_ACKNOWLEDGE);  /* FEATURES_OK skipped DRIVER */
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_STATUS, 0x3 | VIRTIO_STATUS_DRIVER_OK); /* no FEATURES_OK */
	assert_int_equal(status(x), 0x3);
	assert_int_equal(x->f.activates, 0);
	/* Several stages in one write, in order, are fine. */
	wr(x, VIRTIO_MMIO_STATUS, 0xf);
	assert_int_equal(status(x), 0xf);
	assert_int_equal(x->f.activates, 1);
	/* The device's NEEDS_RESET bit cannot be set by the driver. */
	wr(x, VIRTIO_MMIO_STATUS, 0xf | VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(status(x), 0xf);
}

static void test_status_clearing_ignored(void **state)
{
	struct ctx *x = *state;

	wr(x, VIRTIO_MMIO_STATUS, 0x3);
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(status(x), 0x3);
	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FAILED);
	assert_int_equal(status(x), 0x3);
	assert_int_equal(x->f.resets, 0);
}

static void test_failed_any_time(void **state)
{
	struct ctx *x = *state;

	wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
	assert_int_equal(status(x), VIRTIO_STATUS_FAILED);
	wr(x, VIRTIO_MMIO_STATUS, 0);
	negotiate(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_FAILED);
	assert_int_equal(status(x), 0xb | VIRTIO_STATUS_FAILED);
}

/* ---- queue setup ---- */

static void test_queue_size_not_power_of_two(void **state)
{
	struct ctx *x = *state;

	negotiate(x, STD_FEATURES);
	setup_queue(x, 0, 6, DESC(0), AVAIL(0), USED(0));
	assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(vq_enabled(virtio_mmio_vq(&x->t, 0)));
	assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(x->log, "virtio-blk@0xd0000000: queue 0 size 6"));
	/* The driver carries on: DRIVER_OK does not activate a broken device. */
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(x->f.activates, 0);
	assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_queue_size_too_large(void **state)
{
	struct ctx *x = *state;

	negotiate(x, STD_FEATURES);
	setup_queue(x, 1, QMAX * 2, DESC(1), AVAIL(1), USED(1));
	assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
	wr(x, VIRTIO_MMIO_STATUS, 0);
	/* A size that would truncate to a valid uint16_t is still refused. */
	negotiate(x, STD_FEATURES);
	setup_queue(x, 1, 0x10008, DESC(1), AVAIL(1), USED(1));
	assert_false(vq_enabled(virtio_mmio_vq(&x->t, 1)));
	assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
	wr(x, VIRTIO_MMIO_STATUS, 0);
	negotiate(x, STD_FEATURES);
	setup_queue(x, 1, 0, DESC(1), AVAIL(1), USED(1));
	assert_false(vq_enabled(virtio_mmio_vq(&x->t, 1)));
	assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_ring_outside_ram(void **state)
{
	struct ctx *x = *state;
	static const uint64_t bad[][3] = {
		{ RAM, AVAIL(0), USED(0) },
		{ DESC(0), RAM - 4, USED(0) },
		{ DESC(0), AVAIL(0), 0xfffffffffffff000ULL },
		{ DESC(0), AVAIL(0), 0xc0000000ULL },   /* the MMIO hole */
		{ DESC(0) + 8, AVAIL(0), USED(0) },    /* misaligned table */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		x->log[0] = 0;
		negotiate(x, STD_FEATURES);
		setup_queue(x, 0, 8, bad[i][0], bad[i][1], bad[i][2]);
		assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 0);
		assert_false(vq_enabled(virtio_mmio_vq(&x->t, 0)));
		assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
		assert_non_null(strstr(x->log,
			"virtio-blk@0xd0000000: queue 0 ring address outside guest RAM"));
		wr(x, VIRTIO_MMIO_STATUS, 0);
		assert_int_equal(status(x), 0);
	}
}

static void test_ring_writes_ignored_after_ready(void **state)
{
	struct ctx *x = *state;

	negotiate(x, STD_FEATURES);
	setup_queue(x, 0, 8, DESC(0), AVAIL(0), USED(0));
	wr(x, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	wr(x, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 1);
	wr(x, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x6000);
	wr(x, VIRTIO_MMIO_QUEUE_NUM, 4);
	assert_true(x->t.regs.queues[0].desc == DESC(0));
	assert_true(x->t.regs.queues[0].driver == AVAIL(0));
	assert_true(x->t.regs.queues[0].device == USED(0));
	assert_int_equal(x->t.regs.queues[0].num, 8);
	/* Queue 1 is not ready, but DRIVER_OK locks it too. */
	wr(x, VIRTIO_MMIO_STATUS, status(x) | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(x->f.activates, 1);
	wr(x, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(x, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	wr(x, VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(x, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_true(x->t.regs.queues[1].desc == 0);
	assert_int_equal(x->t.regs.queues[1].num, 0);
	assert_false(x->t.regs.queues[1].ready);
	/* Nor can a live queue be pulled from under the device. */
	wr(x, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(x, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_true(vq_enabled(virtio_mmio_vq(&x->t, 0)));
}

static void test_queue_ready_zero_disables(void **state)
{
	struct ctx *x = *state;

	negotiate(x, STD_FEATURES);
	setup_queue(x, 0, 8, DESC(0), AVAIL(0), USED(0));
	wr(x, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(vq_enabled(virtio_mmio_vq(&x->t, 0)));
	/* Now writable again. */
	wr(x, VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(x, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(virtio_mmio_vq(&x->t, 0)->size, 4);
}

static void test_queue_ready_before_features_ok(void **state)
{
	struct ctx *x = *state;

	wr(x, VIRTIO_MMIO_STATUS, 0x3);
	setup_queue(x, 0, 8, DESC(0), AVAIL(0), USED(0));
	assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(vq_enabled(virtio_mmio_vq(&x->t, 0)));
}

static void test_queue_sel_out_of_range(void **state)
{
	struct ctx *x = *state;
	uint32_t sels[] = { 2, 7, 8, 100, 0xffffffff };

	negotiate(x, STD_FEATURES);
	for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		setup_queue(x, sels[i], 8, DESC(0), AVAIL(0), USED(0));
		assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
		assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_READY), 0);
	}
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		assert_false(x->t.regs.queues[q].ready);
		assert_int_equal(x->t.regs.queues[q].num, 0);
		assert_true(x->t.regs.queues[q].desc == 0);
	}
	assert_false(status(x) & VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- reset ---- */

static void assert_all_clear(struct ctx *x)
{
	assert_int_equal(status(x), 0);
	assert_true(x->t.regs.driver_features == 0);
	assert_int_equal(x->t.regs.device_features_sel, 0);
	assert_int_equal(x->t.regs.driver_features_sel, 0);
	assert_int_equal(x->t.regs.queue_sel, 0);
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		assert_false(x->t.regs.queues[q].ready);
		assert_int_equal(x->t.regs.queues[q].num, 0);
		assert_true(x->t.regs.queues[q].desc == 0 && x->t.regs.queues[q].driver == 0 &&
			    x->t.regs.queues[q].device == 0);
		assert_false(vq_enabled(virtio_mmio_vq(&x->t, q)));
	}
}

static void test_reset_mid_setup(void **state)
{
	struct ctx *x = *state;

	negotiate(x, STD_FEATURES);
	setup_queue(x, 0, 8, DESC(0), AVAIL(0), USED(0));
	wr(x, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(x, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(x, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr(x, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(x->f.resets, 1);
	assert_int_equal(x->f.activates, 0);
	assert_all_clear(x);
	/* Reset at the very start also calls the device. */
	wr(x, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(x->f.resets, 2);
}

static void test_reset_after_driver_ok(void **state)
{
	struct ctx *x = *state;
	uint64_t v;

	full_init(x, STD_FEATURES);
	assert_int_equal(x->f.activates, 1);
	virtio_mmio_config_changed(&x->t);
	virtio_mmio_signal_used(&x->t);
	wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 1);   /* a kick left pending */
	wr(x, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(x->f.resets, 1);
	assert_all_clear(x);
	/* The generation is not reset, and the stale kick is gone. */
	assert_int_equal(rd(x, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_false(fd_readable(virtio_mmio_kick_fd(&x->t, 1), &v));
	/* A new driver can bring the device up again. */
	full_init(x, STD_FEATURES);
	assert_int_equal(status(x), 0xf);
	assert_int_equal(x->f.activates, 2);
	assert_true(vq_enabled(virtio_mmio_vq(&x->t, 1)));
}

static void test_reset_clears_needs_reset(void **state)
{
	struct ctx *x = *state;

	full_init(x, STD_FEATURES);
	virtio_mmio_needs_reset(&x->t);
	assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
	wr(x, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(status(x), 0);
}

/* ---- activation ---- */

static void test_activate_failure_needs_reset(void **state)
{
	struct ctx *x = *state;

	x->f.activate_ret = -ENOMEM;
	full_init(x, STD_FEATURES);
	assert_int_equal(x->f.activates, 1);
	assert_true(status(x) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_true(fd_readable(x->t.call_fd, NULL));
}

/* ---- kicks and interrupts ---- */

static void test_queue_notify_kicks(void **state)
{
	struct ctx *x = *state;
	uint64_t v;

	full_init(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_true(fd_readable(virtio_mmio_kick_fd(&x->t, 0), &v));
	assert_int_equal(v, 1);
	assert_false(fd_readable(virtio_mmio_kick_fd(&x->t, 1), &v));
	wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_true(fd_readable(virtio_mmio_kick_fd(&x->t, 1), &v));
	assert_int_equal(v, 2);
	/* QueueNotify is write-only. */
	assert_int_equal(rd(x, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
}

static void test_queue_notify_out_of_range(void **state)
{
	struct ctx *x = *state;

	full_init(x, STD_FEATURES);
	wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 8);
	wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	assert_false(fd_readable(virtio_mmio_kick_fd(&x->t, 0), NULL));
	assert_false(fd_readable(virtio_mmio_kick_fd(&x->t, 1), NULL));
	assert_int_equal(virtio_mmio_kick_fd(&x->t, 2), -1);
}

/* Every message a driver can cause is rate limited, even with --debug: a
 * guest repeating bad accesses 2,000 times each leaves a few lines per
 * kind of mistake, not one line per access. */
static void test_guest_mistakes_log_bounded(void **state)
{
	struct ctx *x = *state;
	uint8_t b = 0;

	for (int i = 0; i < 2000; i++) {
		wr(x, VIRTIO_MMIO_STATUS, 0);
		negotiate(x, 0);                                  /* no VERSION_1 */
		wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
		wr(x, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER_OK); /* out of order */
		wr(x, VIRTIO_MMIO_MAGIC_VALUE, 1);                /* read-only */
		wr(x, VIRTIO_MMIO_QUEUE_SEL, 9);
		wr(x, VIRTIO_MMIO_QUEUE_NUM, 8);                  /* QueueSel out of range */
		wr(x, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
		virtio_mmio_io(&x->t, VIRTIO_MMIO_STATUS, &b, 1, true); /* 1-byte register access */
	}
	print_message("2000 rounds of driver mistakes: %d log lines\n", x->lines);
	assert_true(x->lines > 0);
	assert_true(x->lines < 100);   /* 8 kinds of mistake, a burst of 10 each at most */
}

static void test_interrupt_status_ack(void **state)
{
	struct ctx *x = *state;
	uint64_t v;

	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	virtio_mmio_signal_used(&x->t);
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_true(fd_readable(x->t.call_fd, &v));
	assert_int_equal(v, 1);
	virtio_mmio_config_changed(&x->t);
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	assert_int_equal(rd(x, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_true(fd_readable(x->t.call_fd, NULL));
	wr(x, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(x, VIRTIO_MMIO_INTERRUPT_ACK, 0xfffffffc);   /* unknown bits: nothing */
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(x, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* InterruptStatus is read-only. */
	wr(x, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	virtio_mmio_config_changed(&x->t);
	assert_int_equal(rd(x, VIRTIO_MMIO_CONFIG_GENERATION), 2);
}

struct nr_arg {
	struct virtio_mmio *t;
};

static void *needs_reset_thread(void *opaque)
{
	struct nr_arg *a = opaque;

	virtio_mmio_needs_reset(a->t);
	virtio_mmio_signal_used(a->t);
	virtio_mmio_config_changed(a->t);
	(void)virtio_mmio_has_feature(a->t, VIRTIO_F_EVENT_IDX);
	return NULL;
}

/* The worker calls these while a vCPU may hold t->lock (waiting on that
 * very worker in ops->reset): they must never take the lock. */
static void test_worker_calls_do_not_lock(void **state)
{
	struct ctx *x = *state;
	struct nr_arg a = { .t = &x->t };
	struct timespec ts;
	pthread_t th;

	full_init(x, STD_FEATURES);
	pthread_mutex_lock(&x->t.lock);
	assert_int_equal(pthread_create(&th, NULL, needs_reset_thread, &a), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	assert_int_equal(pthread_timedjoin_np(th, NULL, &ts), 0);
	pthread_mutex_unlock(&x->t.lock);
	assert_int_equal(status(x), 0xf | VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(x, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	assert_true(fd_readable(x->t.call_fd, NULL));
	/* The driver echoing NEEDS_RESET back with its bits changes nothing. */
	wr(x, VIRTIO_MMIO_STATUS, status(x));
	assert_int_equal(status(x), 0xf | VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- config space ---- */

static void test_config_reads(void **state)
{
	struct ctx *x = *state;
	uint8_t b = 0xaa;
	uint16_t h = 0xaaaa;
	uint32_t w = 0xaaaaaaaa;
	uint64_t q = 0xaaaaaaaaaaaaaaaaULL;

	virtio_mmio_io(&x->t, 0x100, &b, 1, false);
	assert_int_equal(b, 0x10);
	virtio_mmio_io(&x->t, 0x10f, &b, 1, false);
	assert_int_equal(b, 0x1f);
	virtio_mmio_io(&x->t, 0x102, (uint8_t *)&h, 2, false);
	assert_int_equal(h, 0x1312);
	virtio_mmio_io(&x->t, 0x104, (uint8_t *)&w, 4, false);
	assert_int_equal(w, 0x17161514);
	virtio_mmio_io(&x->t, 0x108, (uint8_t *)&q, 8, false);
	assert_true(q == 0x1f1e1d1c1b1a1918ULL);
	/* Unaligned is fine in config space. */
	virtio_mmio_io(&x->t, 0x101, (uint8_t *)&w, 4, false);
	assert_int_equal(w, 0x14131211);
	/* Straddling the end: the tail reads zero. */
	virtio_mmio_io(&x->t, 0x10c, (uint8_t *)&q, 8, false);
	assert_true(q == 0x1f1e1d1cULL);
	/* Past the end: zero. */
	w = 0xaaaaaaaa;
	virtio_mmio_io(&x->t, 0x110, (uint8_t *)&w, 4, false);
	assert_int_equal(w, 0);
	q = ~0ULL;
	virtio_mmio_io(&x->t, 0xff8, (uint8_t *)&q, 8, false);
	assert_true(q == 0);
}

static void test_config_writes(void **state)
{
	struct ctx *x = *state;
	uint32_t w = 0xdeadbeef;
	uint64_t q = 0x0102030405060708ULL;
	uint8_t b = 0x77;

	virtio_mmio_io(&x->t, 0x104, (uint8_t *)&w, 4, true);
	assert_int_equal(x->f.config_writes, 1);
	assert_int_equal(x->f.last_write_off, 4);
	assert_int_equal(x->f.last_write_len, 4);
	assert_memory_equal(x->f.config + 4, &w, 4);
	virtio_mmio_io(&x->t, 0x108, (uint8_t *)&q, 8, true);
	assert_int_equal(x->f.config_writes, 2);
	virtio_mmio_io(&x->t, 0x10f, &b, 1, true);
	assert_int_equal(x->f.config_writes, 3);
	assert_int_equal(x->f.config[15], 0x77);
	/* Past the end or straddling it: not passed on. */
	virtio_mmio_io(&x->t, 0x10c, (uint8_t *)&q, 8, true);
	virtio_mmio_io(&x->t, 0x110, (uint8_t *)&w, 4, true);
	virtio_mmio_io(&x->t, 0xffc, (uint8_t *)&w, 4, true);
	assert_int_equal(x->f.config_writes, 3);
}

static void test_config_read_only_device(void **state)
{
	struct ctx *x = *state;
	struct virtio_dev_ops ro = fake_ops;
	struct virtio_env env = { .mem = &x->mem };
	uint32_t w = 0x12345678;

	virtio_mmio_detach(&x->t);
	ro.config_write = NULL;
	assert_int_equal(virtio_mmio_attach(&x->t, &env, BASE, 5, &ro, &x->f), 0);
	virtio_mmio_io(&x->t, 0x100, (uint8_t *)&w, 4, true);
	w = 0;
	virtio_mmio_io(&x->t, 0x100, (uint8_t *)&w, 4, false);
	assert_int_equal(w, 0x13121110);
	virtio_mmio_detach(&x->t);
	/* And one with no config space at all. */
	ro.config_size = 0;
	ro.config_read = NULL;
	assert_int_equal(virtio_mmio_attach(&x->t, &env, BASE, 5, &ro, &x->f), 0);
	w = 0xffffffff;
	virtio_mmio_io(&x->t, 0x100, (uint8_t *)&w, 4, false);
	assert_int_equal(w, 0);
	virtio_mmio_io(&x->t, 0x100, (uint8_t *)&w, 4, true);
	/* ro lives on this stack: leave the fixture attached to fake_ops. */
	virtio_mmio_detach(&x->t);
	assert_int_equal(virtio_mmio_attach(&x->t, &env, BASE, 5, &fake_ops, &x->f), 0);
}

/* ---- hostile widths and offsets ---- */

static void test_register_widths(void **state)
{
	struct ctx *x = *state;
	uint8_t b = 0xff;
	uint16_t h = 0xffff;
	uint64_t q = ~0ULL;
	uint32_t w = 0xffffffff;

	virtio_mmio_io(&x->t, VIRTIO_MMIO_MAGIC_VALUE, &b, 1, false);
	assert_int_equal(b, 0);
	virtio_mmio_io(&x->t, VIRTIO_MMIO_MAGIC_VALUE, (uint8_t *)&h, 2, false);
	assert_int_equal(h, 0);
	virtio_mmio_io(&x->t, VIRTIO_MMIO_MAGIC_VALUE, (uint8_t *)&q, 8, false);
	assert_true(q == 0);
	virtio_mmio_io(&x->t, VIRTIO_MMIO_MAGIC_VALUE + 2, (uint8_t *)&w, 4, false);
	assert_int_equal(w, 0);   /* misaligned */
	b = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_io(&x->t, VIRTIO_MMIO_STATUS, &b, 1, true);
	h = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_io(&x->t, VIRTIO_MMIO_STATUS, (uint8_t *)&h, 2, true);
	q = VIRTIO_STATUS_ACKNOWLEDGE;
	virtio_mmio_io(&x->t, VIRTIO_MMIO_STATUS, (uint8_t *)&q, 8, true);
	assert_int_equal(status(x), 0);
	assert_int_equal(x->f.resets, 0);
	/* An odd length is refused before any byte is touched. */
	uint8_t buf[3] = { 1, 2, 3 };
	virtio_mmio_io(&x->t, VIRTIO_MMIO_MAGIC_VALUE, buf, 3, false);
	assert_int_equal(buf[0], 1);
	virtio_mmio_io(&x->t, 0x100, buf, 0, false);
	assert_int_equal(buf[0], 1);
	assert_non_null(strstr(x->log, "registers are 32-bit"));
}

static void test_offsets_beyond_config(void **state)
{
	struct ctx *x = *state;
	uint32_t w;

	full_init(x, STD_FEATURES);
	for (uint64_t off = 0x110; off < 0x1000; off += 4) {
		w = 0xffffffff;
		virtio_mmio_io(&x->t, off, (uint8_t *)&w, 4, true);
		virtio_mmio_io(&x->t, off, (uint8_t *)&w, 4, false);
		assert_int_equal(w, 0);
	}
	/* Past the window (only reachable by calling directly) and at the edge. */
	uint64_t edge[] = { 0xffe, 0xfff, 0x1000, 0x12345678, UINT64_MAX - 3, UINT64_MAX };
	for (unsigned i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		uint64_t q = ~0ULL;

		virtio_mmio_io(&x->t, edge[i], (uint8_t *)&q, 8, false);
		assert_true(q == 0);
		virtio_mmio_io(&x->t, edge[i], (uint8_t *)&q, 8, true);
	}
	assert_int_equal(x->f.config_writes, 0);
	assert_int_equal(status(x), 0xf);
}

static void test_sweep_every_offset_and_width(void **state)
{
	struct ctx *x = *state;
	static const uint32_t widths[] = { 1, 2, 4, 8 };

	full_init(x, STD_FEATURES);
	for (uint64_t off = 0; off < 0x1010; off++) {
		for (unsigned i = 0; i < 4; i++) {
			uint8_t buf[8];

			memset(buf, 0xcc, sizeof(buf));
			virtio_mmio_io(&x->t, off, buf, widths[i], false);
		}
	}
	/* Register reads hold no surprises after the sweep. */
	assert_int_equal(rd(x, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(status(x), 0xf);
	/* Writes of junk everywhere: never fatal; the transport may end up in
	 * any state, so finish with a reset and a fresh bring-up. */
	for (uint64_t off = 0; off < 0x1010; off++) {
		for (unsigned i = 0; i < 4; i++) {
			uint8_t buf[8];

			memset(buf, (int)(off * 7 + i), sizeof(buf));
			virtio_mmio_io(&x->t, off, buf, widths[i], true);
		}
	}
	wr(x, VIRTIO_MMIO_STATUS, 0);
	assert_all_clear(x);
	full_init(x, STD_FEATURES);
	assert_int_equal(status(x), 0xf);
}

/* ---- attach and detach ---- */

struct env_rec {
	int ioeventfds, irqfds;
	uint64_t io_addr[8];
	uint32_t io_match[8];
	int io_fd[8];
	uint32_t gsi;
	int call_fd;
	int io_ret, irq_ret;
};

static int rec_ioeventfd(void *ctx, uint64_t addr, uint32_t datamatch, int fd)
{
	struct env_rec *r = ctx;

	if (r->ioeventfds < 8) {
		r->io_addr[r->ioeventfds] = addr;
		r->io_match[r->ioeventfds] = datamatch;
		r->io_fd[r->ioeventfds] = fd;
	}
	r->ioeventfds++;
	return r->io_ret;
}

static int rec_irqfd(void *ctx, uint32_t gsi, int fd)
{
	struct env_rec *r = ctx;

	r->irqfds++;
	r->gsi = gsi;
	r->call_fd = fd;
	return r->irq_ret;
}

static void test_attach_wires_env(void **state)
{
	struct ctx *x = *state;
	struct env_rec r = { 0 };
	struct bus bus;
	struct virtio_env env = {
		.mem = &x->mem, .mmio = &bus, .ioeventfd = rec_ioeventfd,
		.irqfd = rec_irqfd, .ctx = &r,
	};
	uint32_t w = 0;

	virtio_mmio_detach(&x->t);
	bus_init(&bus, "mmio");
	assert_int_equal(virtio_mmio_attach(&x->t, &env, BASE, 7, &fake_ops, &x->f), 0);
	assert_int_equal(r.irqfds, 1);
	assert_int_equal(r.gsi, 7);
	assert_int_equal(r.call_fd, x->t.call_fd);
	assert_int_equal(r.ioeventfds, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(r.io_addr[i] == BASE + VIRTIO_MMIO_QUEUE_NOTIFY);
		assert_int_equal(r.io_match[i], i);
		assert_int_equal(r.io_fd[i], virtio_mmio_kick_fd(&x->t, i));
	}
	/* The window is on the bus, 4 KiB long. */
	assert_true(bus_access(&bus, BASE + VIRTIO_MMIO_MAGIC_VALUE, (uint8_t *)&w, 4, false));
	assert_int_equal(w, VIRTIO_MMIO_MAGIC);
	assert_true(bus_access(&bus, BASE + 0xffc, (uint8_t *)&w, 4, false));
	assert_false(bus_access(&bus, BASE + 0x1000, (uint8_t *)&w, 4, false));
	/* A second device on the same window is refused. */
	struct virtio_mmio t2;
	assert_int_equal(virtio_mmio_attach(&t2, &env, BASE, 8, &fake_ops, &x->f), -EEXIST);
	virtio_mmio_detach(&t2);
	virtio_mmio_detach(&x->t);
	bus_free(&bus);
	virtio_mmio_attach(&x->t, &(struct virtio_env){ .mem = &x->mem }, BASE, 5, &fake_ops, &x->f);
}

static void test_attach_env_failures(void **state)
{
	struct ctx *x = *state;
	struct env_rec r = { .io_ret = -ENOSYS };
	struct virtio_env env = {
		.mem = &x->mem, .ioeventfd = rec_ioeventfd, .irqfd = rec_irqfd, .ctx = &r,
	};
	struct virtio_mmio t;

	/* No ioeventfd: a debug note, and QueueNotify still kicks. */
	assert_int_equal(virtio_mmio_attach(&t, &env, BASE, 5, &fake_ops, &x->f), 0);
	assert_non_null(strstr(x->log, "no ioeventfd for queue 0"));
	uint32_t v = 1;
	virtio_mmio_io(&t, VIRTIO_MMIO_QUEUE_NOTIFY, (uint8_t *)&v, 4, true);
	assert_true(fd_readable(virtio_mmio_kick_fd(&t, 1), NULL));
	virtio_mmio_detach(&t);
	/* No irqfd: an error. */
	r.io_ret = 0;
	r.irq_ret = -EINVAL;
	assert_int_equal(virtio_mmio_attach(&t, &env, BASE, 5, &fake_ops, &x->f), -EINVAL);
	assert_non_null(strstr(x->log, "GSI 5"));
	assert_false(t.attached);
	assert_int_equal(t.call_fd, -1);
	virtio_mmio_detach(&t);
	/* A NULL env works too (no RAM: queues can never be enabled). */
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, &fake_ops, &x->f), 0);
	virtio_mmio_detach(&t);
}

static void test_attach_rejects_bad_ops(void **state)
{
	struct ctx *x = *state;
	struct virtio_mmio t;
	struct virtio_dev_ops o;

	o = fake_ops; o.nr_queues = 0;
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, &o, &x->f), -EINVAL);
	o = fake_ops; o.nr_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, &o, &x->f), -EINVAL);
	o = fake_ops; o.queue_max = 0;
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, &o, &x->f), -EINVAL);
	o = fake_ops; o.queue_max = 24;
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, &o, &x->f), -EINVAL);
	o = fake_ops; o.queue_max = VQ_MAX_SIZE * 2;
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, &o, &x->f), -EINVAL);
	o = fake_ops; o.config_size = 0xf01;
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, &o, &x->f), -EINVAL);
	assert_int_equal(virtio_mmio_attach(&t, NULL, BASE, 5, NULL, &x->f), -EINVAL);
	virtio_mmio_detach(&t);
}

static void test_detach_safe(void **state)
{
	struct ctx *x = *state;
	struct virtio_mmio t;

	memset(&t, 0, sizeof(t));
	virtio_mmio_detach(&t);
	virtio_mmio_detach(NULL);
	/* Detach resets the device, and a second detach is a no-op. */
	full_init(x, STD_FEATURES);
	virtio_mmio_detach(&x->t);
	assert_int_equal(x->f.resets, 1);
	assert_false(x->t.attached);
	virtio_mmio_detach(&x->t);
	assert_int_equal(x->f.resets, 1);
	/* Accesses after detach are harmless zeros. */
	assert_int_equal(rd(x, VIRTIO_MMIO_MAGIC_VALUE), 0);
	virtio_mmio_attach(&x->t, &(struct virtio_env){ .mem = &x->mem }, BASE, 5, &fake_ops, &x->f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ids),
		T(test_device_features_sel),
		T(test_happy_path),
		T(test_indirect_negotiated),
		T(test_features_ok_needs_version_1),
		T(test_features_ok_refuses_unoffered),
		T(test_features_locked_outside_negotiation),
		T(test_status_order),
		T(test_status_clearing_ignored),
		T(test_failed_any_time),
		T(test_queue_size_not_power_of_two),
		T(test_queue_size_too_large),
		T(test_ring_outside_ram),
		T(test_ring_writes_ignored_after_ready),
		T(test_queue_ready_zero_disables),
		T(test_queue_ready_before_features_ok),
		T(test_queue_sel_out_of_range),
		T(test_reset_mid_setup),
		T(test_reset_after_driver_ok),
		T(test_reset_clears_needs_reset),
		T(test_activate_failure_needs_reset),
		T(test_queue_notify_kicks),
		T(test_queue_notify_out_of_range),
		T(test_guest_mistakes_log_bounded),
		T(test_interrupt_status_ack),
		T(test_worker_calls_do_not_lock),
		T(test_config_reads),
		T(test_config_writes),
		T(test_config_read_only_device),
		T(test_register_widths),
		T(test_offsets_beyond_config),
		T(test_sweep_every_offset_and_width),
		T(test_attach_wires_env),
		T(test_attach_env_failures),
		T(test_attach_rejects_bad_ops),
		T(test_detach_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
