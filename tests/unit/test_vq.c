/* test_vq.c - the split virtqueue against hostile rings crafted in guest RAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/layout.h"
#include "core/memory.h"
#include "util/log.h"
#include "virtio/queue.h"

/* Guest-physical layout used by every test (16 MiB of RAM). */
#define RAM      (16ULL << 20)
#define DESC     0x10000ULL
#define AVAIL    0x20000ULL
#define USED     0x30000ULL
#define IND      0x40000ULL   /* indirect tables */
#define IND2     0x48000ULL
#define BUF      0x100000ULL  /* data buffers */

struct fx {
	struct gmem m;
	struct vq q;
	struct vq_chain c;
	char msg[1024];      /* last warning logged */
	int nmsg;
};

static void sink(enum log_level level, const char *msg, void *ctx)
{
	struct fx *f = ctx;

	snprintf(f->msg, sizeof(f->msg), "%s", msg);
	f->nmsg++;
}

static int fx_setup_size(void **state, uint64_t ram)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || gmem_init(&f->m, ram))
		return -1;
	log_set_sink(sink, f);
	log_rl_reset();      /* each test sees its first warnings, whatever ran before */
	*state = f;
	return 0;
}

static int setup(void **state) { return fx_setup_size(state, RAM); }

/* 4.5 GiB: low RAM ends at the MMIO hole and RAM continues at 4 GiB. The
 * mapping is lazy, so only the pages the test touches cost anything. */
static int setup_big(void **state) { return fx_setup_size(state, (9ULL << 30) / 2); }

static int teardown(void **state)
{
	struct fx *f = *state;

	log_set_sink(NULL, NULL);
	gmem_free(&f->m);
	free(f);
	return 0;
}

static void put_desc(struct fx *f, uint64_t table, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	assert_int_equal(gmem_write(&f->m, table + 16ULL * i, &d, sizeof(d)), 0);
}

static uint16_t *avail_idx(struct fx *f) { return gmem_ptr(&f->m, AVAIL + 2, 2); }
static uint16_t *avail_flags(struct fx *f) { return gmem_ptr(&f->m, AVAIL, 2); }
static uint16_t *used_idx(struct fx *f) { return gmem_ptr(&f->m, USED + 2, 2); }
static uint16_t *used_flags(struct fx *f) { return gmem_ptr(&f->m, USED, 2); }

static uint16_t *used_event(struct fx *f, uint16_t size)
{
	return gmem_ptr(&f->m, AVAIL + 4 + 2ULL * size, 2);
}

static uint16_t *avail_event(struct fx *f, uint16_t size)
{
	return gmem_ptr(&f->m, USED + 4 + 8ULL * size, 2);
}

/* Publish head as the next avail entry, as a driver would. */
static void avail_add(struct fx *f, uint16_t head)
{
	uint16_t idx = *avail_idx(f);
	uint16_t *slot = gmem_ptr(&f->m, AVAIL + 4 + 2ULL * (idx & (f->q.size - 1)), 2);

	*slot = head;
	*avail_idx(f) = idx + 1;
}

static void enable(struct fx *f, uint16_t size, bool event_idx, bool indirect)
{
	assert_int_equal(vq_enable(&f->q, &f->m, size, DESC, AVAIL, USED, event_idx, indirect), 0);
}

static void *host(struct fx *f, uint64_t gpa) { return gmem_ptr(&f->m, gpa, 1); }

/* One pop that must fail with -EIO and a warning containing text. */
static void expect_eio(struct fx *f, const char *text)
{
	f->msg[0] = 0;
	assert_int_equal(vq_pop(&f->q, &f->c), -EIO);
	assert_true(f->q.broken);
	assert_non_null(strstr(f->msg, text));
}

/* ---- vq_enable ---- */

static void test_enable_ok(void **state)
{
	struct fx *f = *state;

	enable(f, 256, true, true);
	assert_true(vq_enabled(&f->q));
	assert_int_equal(f->q.size, 256);
	assert_ptr_equal(f->q.desc, host(f, DESC));
	assert_ptr_equal(f->q.avail, host(f, AVAIL));
	assert_ptr_equal(f->q.used, host(f, USED));
	assert_ptr_equal(f->q.used_event, used_event(f, 256));
	assert_ptr_equal(f->q.avail_event, avail_event(f, 256));
	assert_int_equal(f->q.last_avail, 0);
	assert_false(f->q.signalled_used_valid);
	assert_false(f->q.broken);
	vq_disable(&f->q);
	assert_false(vq_enabled(&f->q));
	assert_int_equal(vq_pop(&f->q, &f->c), 0);
	assert_false(vq_has_avail(&f->q));
	/* Size 1 and VQ_MAX_SIZE are the bounds that are allowed. */
	enable(f, 1, false, false);
	enable(f, VQ_MAX_SIZE, false, false);
}

static void test_enable_bad_size(void **state)
{
	struct fx *f = *state;
	static const uint16_t bad[] = { 0, 3, 6, 100, 1023, VQ_MAX_SIZE * 2, 0x8000, 0xffff };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vq_enable(&f->q, &f->m, bad[i], DESC, AVAIL, USED, false, false), -EINVAL);
		assert_false(vq_enabled(&f->q));
	}
}

static void test_enable_misaligned(void **state)
{
	struct fx *f = *state;

	assert_int_equal(vq_enable(&f->q, &f->m, 16, DESC + 8, AVAIL, USED, false, false), -EINVAL);
	assert_int_equal(vq_enable(&f->q, &f->m, 16, DESC + 1, AVAIL, USED, false, false), -EINVAL);
	assert_int_equal(vq_enable(&f->q, &f->m, 16, DESC, AVAIL + 1, USED, false, false), -EINVAL);
	assert_int_equal(vq_enable(&f->q, &f->m, 16, DESC, AVAIL, USED + 2, false, false), -EINVAL);
	/* The smallest alignments each ring needs are fine. */
	assert_int_equal(vq_enable(&f->q, &f->m, 16, DESC + 16, AVAIL + 2, USED + 4, false, false), 0);
}

static void test_enable_rings_outside_ram(void **state)
{
	struct fx *f = *state;
	uint16_t n = 256;

	/* Each ring straddling the end of RAM, event word included. */
	assert_int_equal(vq_enable(&f->q, &f->m, n, RAM - 16ULL * n + 16, AVAIL, USED, false, false), -EINVAL);
	assert_int_equal(vq_enable(&f->q, &f->m, n, DESC, RAM - (4 + 2ULL * n), USED, false, false), -EINVAL);
	assert_int_equal(vq_enable(&f->q, &f->m, n, DESC, AVAIL, RAM - (4 + 8ULL * n), false, false), -EINVAL);
	/* Wholly outside RAM, and near the top of the address space. */
	assert_int_equal(vq_enable(&f->q, &f->m, n, RAM, AVAIL, USED, false, false), -EINVAL);
	assert_int_equal(vq_enable(&f->q, &f->m, n, DESC, LAYOUT_MMIO_HOLE_START, USED, false, false), -EINVAL);
	assert_int_equal(vq_enable(&f->q, &f->m, n, DESC, AVAIL, 0xfffffffffffffff0ULL, false, false), -EINVAL);
	assert_false(vq_enabled(&f->q));
	/* Ending exactly at the end of RAM is fine (rings may overlap: that
	 * is the driver's problem, not a safety one). The used ring cannot end
	 * there 4-aligned, so it ends 2 bytes short. */
	assert_int_equal(vq_enable(&f->q, &f->m, n, RAM - 16ULL * n, RAM - (6 + 2ULL * n),
				   RAM - (6 + 8ULL * n) - 2, false, false), 0);
}

/* ---- vq_pop: good chains ---- */

static void test_pop_empty(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, &f->c), 0);
	assert_false(f->q.broken);
}

static void test_direct_out_in(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	put_desc(f, DESC, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 7);
	put_desc(f, DESC, 7, BUF + 0x1000, 512, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + 0x2000, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 3);
	assert_true(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.nr_out, 2);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 528);
	assert_int_equal(f->c.in_len, 101);
	assert_ptr_equal(f->c.iov[0].iov_base, host(f, BUF));
	assert_int_equal(f->c.iov[0].iov_len, 16);
	assert_ptr_equal(f->c.iov[1].iov_base, host(f, BUF + 0x1000));
	assert_int_equal(f->c.iov[1].iov_len, 512);
	assert_ptr_equal(f->c.iov[2].iov_base, host(f, BUF + 0x2000));
	assert_int_equal(f->c.iov[2].iov_len, 100);
	assert_ptr_equal(f->c.iov[3].iov_base, host(f, BUF + 0x3000));
	assert_int_equal(f->c.iov[3].iov_len, 1);
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, &f->c), 0);
}

static void test_indirect_chain(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, true);
	/* Table of 4 entries, chain visits 0 -> 2 -> 1 -> 3. */
	put_desc(f, IND, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, IND, 2, BUF + 0x1000, 4096, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, IND, 1, BUF + 0x2000, 4096, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	put_desc(f, IND, 3, BUF + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	/* WRITE on the indirect descriptor itself is ignored. */
	put_desc(f, DESC, 5, IND, 4 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 5);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 5);
	assert_int_equal(f->c.nr_out, 2);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 4112);
	assert_int_equal(f->c.in_len, 4097);
	assert_ptr_equal(f->c.iov[1].iov_base, host(f, BUF + 0x1000));
	assert_ptr_equal(f->c.iov[3].iov_base, host(f, BUF + 0x3000));
}

static void test_direct_then_indirect(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, true);
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, IND, 0, BUF + 0x1000, 8, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 1);
	assert_ptr_equal(f->c.iov[1].iov_base, host(f, BUF + 0x1000));
}

static void test_zero_length(void **state)
{
	struct fx *f = *state;

	/* Zero-length descriptors give an iovec of length 0 (still a segment,
	 * its address still has to be RAM). */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, BUF, 0, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + 0x1000, 0, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 1);
	assert_int_equal(f->c.out_len, 0);
	assert_int_equal(f->c.in_len, 0);
	assert_int_equal(f->c.iov[0].iov_len, 0);
	assert_ptr_equal(f->c.iov[0].iov_base, host(f, BUF));
	assert_int_equal(f->c.iov[1].iov_len, 0);

	/* A zero-length descriptor outside RAM is still refused. */
	put_desc(f, DESC, 2, RAM, 0, 0, 0);
	avail_add(f, 2);
	expect_eio(f, "not in guest RAM");
}

static void test_chain_max_segments(void **state)
{
	struct fx *f = *state;
	unsigned int i;

	/* Exactly VQ_CHAIN_MAX segments is accepted ... */
	enable(f, VQ_MAX_SIZE, false, false);
	for (i = 0; i < VQ_CHAIN_MAX; i++)
		put_desc(f, DESC, i, BUF + i, 1, i + 1 < VQ_CHAIN_MAX ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail_add(f, 0);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_out, VQ_CHAIN_MAX);
	assert_int_equal(f->c.out_len, VQ_CHAIN_MAX);

	/* ... one more is not, even with no loop. */
	for (i = 0; i <= VQ_CHAIN_MAX; i++)
		put_desc(f, DESC, i, BUF + i, 1, i < VQ_CHAIN_MAX ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail_add(f, 0);
	expect_eio(f, "more segments");
}

static void test_indirect_max_segments(void **state)
{
	struct fx *f = *state;
	unsigned int n = VQ_CHAIN_MAX + 1, i;

	enable(f, 16, false, true);
	for (i = 0; i < n; i++)
		put_desc(f, IND, i, BUF, 1, i + 1 < n ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	put_desc(f, DESC, 0, IND, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "more segments");
}

/* ---- vq_pop: malformed chains ---- */

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	put_desc(f, IND, 0, BUF, 16, 0, 0);
	put_desc(f, DESC, 0, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "VIRTIO_F_INDIRECT_DESC");
}

static void test_direct_loop(void **state)
{
	struct fx *f = *state;
	struct timespec t0, t1;

	/* 0 -> 1 -> 0 in the biggest queue, and a self loop: both must end
	 * in -EIO straight away. */
	enable(f, VQ_MAX_SIZE, false, false);
	put_desc(f, DESC, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF, 1, VIRTQ_DESC_F_NEXT, 0);
	avail_add(f, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(vq_pop(&f->q, &f->c), -EIO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_true(f->q.broken);

	/* Zero-length descriptors loop just the same in a tiny queue. */
	enable(f, 4, false, false);
	put_desc(f, DESC, 2, BUF, 0, VIRTQ_DESC_F_NEXT, 2);
	avail_add(f, 2);
	expect_eio(f, "loops");
}

static void test_indirect_loop(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, true);
	put_desc(f, IND, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, IND, 1, BUF, 1, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, IND, 2, BUF, 1, VIRTQ_DESC_F_NEXT, 0);
	put_desc(f, DESC, 0, IND, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "loops");
}

static void test_indirect_next_out_of_table(void **state)
{
	struct fx *f = *state;

	/* next = 2 is inside the queue but outside the 2-entry table. */
	enable(f, 16, false, true);
	put_desc(f, IND, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, IND, 1, BUF, 1, 0, 0);
	put_desc(f, IND, 2, BUF, 1, 0, 0);
	put_desc(f, DESC, 0, IND, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "index out of range");
}

static void test_nested_indirect(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, true);
	put_desc(f, IND2, 0, BUF, 1, 0, 0);
	put_desc(f, IND, 0, IND2, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, DESC, 0, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "inside an indirect table");
}

static void test_indirect_with_next(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, true);
	put_desc(f, IND, 0, BUF, 1, 0, 0);
	put_desc(f, DESC, 0, IND, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF, 1, 0, 0);
	avail_add(f, 0);
	expect_eio(f, "both INDIRECT and NEXT");
}

static void test_indirect_bad_table(void **state)
{
	struct fx *f = *state;

	/* Table straddling the end of RAM. */
	enable(f, 16, false, true);
	put_desc(f, DESC, 0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "indirect table is not in guest RAM");

	/* Table past RAM, and one whose end wraps the address space. */
	enable(f, 16, false, true);
	put_desc(f, DESC, 0, RAM + 4096, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "indirect table is not in guest RAM");
	enable(f, 16, false, true);
	put_desc(f, DESC, 0, 0xfffffffffffffff0ULL, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "indirect table is not in guest RAM");

	/* Length zero or not a multiple of 16. */
	enable(f, 16, false, true);
	put_desc(f, DESC, 0, IND, 0, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "multiple of 16");
	enable(f, 16, false, true);
	put_desc(f, DESC, 0, IND, 24, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "multiple of 16");
}

static void test_buffer_past_ram(void **state)
{
	struct fx *f = *state;

	/* Starting at the end of RAM. */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, RAM, 1, 0, 0);
	avail_add(f, 0);
	expect_eio(f, "not in guest RAM");

	/* Straddling the end of RAM by one byte (the last byte alone is fine). */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, RAM - 1, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, RAM - 4096, 4097, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	expect_eio(f, "not in guest RAM");
}

static void test_len_overflow(void **state)
{
	struct fx *f = *state;

	/* addr + len wraps past 2^64 back into low "RAM". */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, 0xffffffffffff0000ULL, 0x20000, 0, 0);
	avail_add(f, 0);
	expect_eio(f, "not in guest RAM");

	enable(f, 16, false, false);
	put_desc(f, DESC, 0, UINT64_MAX, 2, 0, 0);
	avail_add(f, 0);
	expect_eio(f, "not in guest RAM");
}

static void test_write_before_read(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF, 16, VIRTQ_DESC_F_NEXT, 3);
	put_desc(f, DESC, 3, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	expect_eio(f, "readable descriptor after a writable one");
	assert_int_equal(f->c.nr_out + f->c.nr_in, 0);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 16);
	avail_add(f, 0);
	expect_eio(f, "index out of range");
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	put_desc(f, DESC, 0, BUF, 16, 0, 0);
	avail_add(f, 16);
	avail_add(f, 0);
	expect_eio(f, "head index out of range");
	/* The bad entry was consumed; the queue stays broken. */
	assert_int_equal(f->q.last_avail, 1);
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, &f->c), -EIO);
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	put_desc(f, DESC, 0, BUF, 16, 0, 0);
	*avail_idx(f) = 16;       /* exactly a full ring: fine */
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	enable(f, 16, false, false);
	*avail_idx(f) = 17;
	expect_eio(f, "avail index runs ahead");
	/* Behind what we consumed reads as a huge jump too. */
	enable(f, 16, false, false);
	f->q.last_avail = 5;
	*avail_idx(f) = 4;
	expect_eio(f, "avail index runs ahead");
}

static void test_broken_refuses(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 99);
	put_desc(f, DESC, 1, BUF, 16, 0, 0);
	avail_add(f, 0);
	avail_add(f, 1);
	expect_eio(f, "index out of range");
	assert_int_equal(f->nmsg, 1);
	/* A good chain is waiting, but the queue refuses until re-enabled,
	 * and says so only once. */
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, &f->c), -EIO);
	assert_int_equal(vq_pop(&f->q, &f->c), -EIO);
	assert_int_equal(f->nmsg, 1);
	assert_int_equal(f->q.last_avail, 1);
	/* After the reset the driver fixed its table; the avail ring is
	 * consumed from entry 0 again. */
	put_desc(f, DESC, 0, BUF, 16, 0, 0);
	enable(f, 16, false, false);
	assert_false(f->q.broken);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 0);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 1);
}

/* ---- two RAM regions around the MMIO hole ---- */

static void test_mmio_hole(void **state)
{
	struct fx *f = *state;
	uint64_t low_end = gmem_low_end(&f->m);

	assert_int_equal(low_end, LAYOUT_MMIO_HOLE_START);
	/* In high RAM: fine. */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, LAYOUT_HIGH_RAM_START, 4096, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, low_end - 4096, 4096, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_ptr_equal(f->c.iov[0].iov_base, gmem_ptr(&f->m, LAYOUT_HIGH_RAM_START, 1));

	/* In the hole (the IOAPIC page). */
	put_desc(f, DESC, 2, LAYOUT_IOAPIC, 16, 0, 0);
	avail_add(f, 2);
	expect_eio(f, "not in guest RAM");

	/* Spanning the end of low RAM: the host mapping is contiguous there,
	 * so only the per-region check stops this. */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, low_end - 16, 32, 0, 0);
	avail_add(f, 0);
	expect_eio(f, "not in guest RAM");

	/* Spanning the whole hole into high RAM. */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, low_end - 16, (uint32_t)(LAYOUT_HIGH_RAM_START - low_end + 32), 0, 0);
	avail_add(f, 0);
	expect_eio(f, "not in guest RAM");

	/* Indirect table in the hole. */
	enable(f, 16, false, true);
	put_desc(f, DESC, 0, LAYOUT_MMIO_HOLE_START, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	expect_eio(f, "indirect table is not in guest RAM");
}

static void test_total_len_overflow(void **state)
{
	struct fx *f = *state;
	uint32_t big = 0xc0000000u;   /* 3 GiB: the whole low region */

	/* Each length fits and each buffer is RAM, but the sum does not fit. */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, 0, big, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, 0, big, 0, 0);
	avail_add(f, 0);
	expect_eio(f, "readable length overflows");

	enable(f, 16, false, false);
	put_desc(f, DESC, 0, 0, big, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, 0, big, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	expect_eio(f, "writable length overflows");

	/* One big out and one big in are both fine: sums are separate. */
	enable(f, 16, false, false);
	put_desc(f, DESC, 0, 0, big, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, 0, big, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.out_len, big);
	assert_int_equal(f->c.in_len, big);
}

/* ---- used ring and index wrap ---- */

static void test_used_push(void **state)
{
	struct fx *f = *state;
	struct virtq_used_elem e;

	enable(f, 16, false, false);
	vq_push(&f->q, 7, 1234);
	vq_push(&f->q, 3, 0);
	assert_int_equal(*used_idx(f), 2);
	assert_int_equal(gmem_read(&f->m, USED + 4, &e, sizeof(e)), 0);
	assert_int_equal(e.id, 7);
	assert_int_equal(e.len, 1234);
	assert_int_equal(gmem_read(&f->m, USED + 12, &e, sizeof(e)), 0);
	assert_int_equal(e.id, 3);
	assert_int_equal(e.len, 0);
}

static void test_wrap_65535(void **state)
{
	struct fx *f = *state;
	struct virtq_used_elem e;
	uint16_t start = 65534;

	enable(f, 4, false, false);
	/* As if 65534 chains had gone round already. */
	f->q.last_avail = start;
	f->q.used_idx = start;
	*avail_idx(f) = start;
	*used_idx(f) = start;
	for (uint16_t i = 0; i < 4; i++)
		put_desc(f, DESC, i, BUF + 0x1000ULL * i, 8, 0, 0);
	for (uint16_t i = 0; i < 4; i++)
		avail_add(f, 3 - i);   /* slots 2, 3, 0, 1 of the ring */
	assert_int_equal(*avail_idx(f), 2);
	for (uint16_t i = 0; i < 4; i++) {
		assert_true(vq_has_avail(&f->q));
		assert_int_equal(vq_pop(&f->q, &f->c), 1);
		assert_int_equal(f->c.head, 3 - i);
		assert_ptr_equal(f->c.iov[0].iov_base, host(f, BUF + 0x1000ULL * (3 - i)));
		vq_push(&f->q, f->c.head, i + 100);
	}
	assert_int_equal(vq_pop(&f->q, &f->c), 0);
	assert_int_equal(f->q.last_avail, 2);
	assert_int_equal(*used_idx(f), 2);
	/* used slots (65534..65537) & 3 = 2, 3, 0, 1. */
	assert_int_equal(gmem_read(&f->m, USED + 4 + 8 * 2, &e, sizeof(e)), 0);
	assert_int_equal(e.id, 3);
	assert_int_equal(e.len, 100);
	assert_int_equal(gmem_read(&f->m, USED + 4 + 8 * 1, &e, sizeof(e)), 0);
	assert_int_equal(e.id, 0);
	assert_int_equal(e.len, 103);
}

/* ---- notification suppression ---- */

static void test_need_event_table(void **state)
{
	static const struct { uint16_t event, new_idx, old; bool want; } t[] = {
		{ 0, 1, 0, true },          /* the entry at event was just used */
		{ 1, 1, 0, false },         /* driver wants to hear after entry 1 */
		{ 1, 2, 0, true },
		{ 5, 10, 0, true },
		{ 9, 10, 0, true },
		{ 10, 10, 0, false },
		{ 4, 10, 5, false },        /* event behind the batch: already told */
		{ 5, 10, 5, true },
		{ 3, 3, 3, false },         /* nothing new */
		{ 65535, 0, 65534, true },  /* across the wrap */
		{ 65534, 1, 65535, false },
		{ 0, 2, 65535, true },
		{ 1, 2, 65535, true },
		{ 2, 2, 65535, false },
		{ 65535, 65535, 65535, false },
		{ 100, 50, 40, false },     /* event far ahead */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (vq_need_event(t[i].event, t[i].new_idx, t[i].old) != t[i].want)
			fail_msg("case %zu: event %u new %u old %u want %d", i,
				 t[i].event, t[i].new_idx, t[i].old, t[i].want);
	}
}

static void test_interrupt_event_idx(void **state)
{
	struct fx *f = *state;

	enable(f, 16, true, false);
	/* The first interrupt is always sent. */
	vq_push(&f->q, 0, 0);
	*used_event(f, 16) = 100;
	assert_true(vq_needs_interrupt(&f->q));
	assert_true(f->q.signalled_used_valid);
	assert_int_equal(f->q.signalled_used, 1);

	/* used_event = 1: the driver wants to hear once entry 1 is used. */
	*used_event(f, 16) = 1;
	vq_push(&f->q, 1, 0);
	assert_true(vq_needs_interrupt(&f->q));
	assert_int_equal(f->q.signalled_used, 2);

	/* used_event still 1, behind the new batch: no interrupt. */
	vq_push(&f->q, 2, 0);
	vq_push(&f->q, 3, 0);
	assert_false(vq_needs_interrupt(&f->q));
	assert_int_equal(f->q.signalled_used, 4);

	/* used_event ahead of the batch: no interrupt yet ... */
	*used_event(f, 16) = 6;
	vq_push(&f->q, 4, 0);
	vq_push(&f->q, 5, 0);
	assert_false(vq_needs_interrupt(&f->q));
	/* ... until used passes it. */
	vq_push(&f->q, 6, 0);
	assert_true(vq_needs_interrupt(&f->q));
	/* Nothing new since the last check: no interrupt. */
	assert_false(vq_needs_interrupt(&f->q));
	/* NO_INTERRUPT flag is ignored under EVENT_IDX. */
	*avail_flags(f) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	*used_event(f, 16) = 7;
	vq_push(&f->q, 7, 0);
	assert_true(vq_needs_interrupt(&f->q));
}

static void test_interrupt_event_idx_wrap(void **state)
{
	struct fx *f = *state;

	enable(f, 8, true, false);
	f->q.used_idx = 65534;
	f->q.signalled_used = 65534;
	f->q.signalled_used_valid = true;
	*used_event(f, 8) = 65535;
	vq_push(&f->q, 0, 0);
	assert_false(vq_needs_interrupt(&f->q));   /* used 65535: entry 65535 not yet */
	vq_push(&f->q, 1, 0);
	assert_int_equal(f->q.used_idx, 0);
	assert_true(vq_needs_interrupt(&f->q));
	assert_int_equal(f->q.signalled_used, 0);
}

static void test_interrupt_flag(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	vq_push(&f->q, 0, 0);
	assert_true(vq_needs_interrupt(&f->q));
	*avail_flags(f) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	vq_push(&f->q, 1, 0);
	assert_false(vq_needs_interrupt(&f->q));
	/* used_event means nothing without EVENT_IDX. */
	*used_event(f, 16) = 2;
	vq_push(&f->q, 2, 0);
	assert_false(vq_needs_interrupt(&f->q));
	*avail_flags(f) = 0;
	assert_true(vq_needs_interrupt(&f->q));
	vq_disable(&f->q);
	assert_false(vq_needs_interrupt(&f->q));
}

static void test_set_notify_flags(void **state)
{
	struct fx *f = *state;

	enable(f, 16, false, false);
	*avail_event(f, 16) = 0x1234;
	*used_flags(f) = 0;
	vq_set_notify(&f->q, false);
	assert_int_equal(*used_flags(f), VIRTQ_USED_F_NO_NOTIFY);
	vq_set_notify(&f->q, false);
	assert_int_equal(*used_flags(f), VIRTQ_USED_F_NO_NOTIFY);
	vq_set_notify(&f->q, true);
	assert_int_equal(*used_flags(f), 0);
	assert_int_equal(*avail_event(f, 16), 0x1234);   /* untouched */
}

static void test_set_notify_event_idx(void **state)
{
	struct fx *f = *state;

	enable(f, 16, true, false);
	put_desc(f, DESC, 0, BUF, 1, 0, 0);
	avail_add(f, 0);
	avail_add(f, 0);
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	vq_set_notify(&f->q, true);
	assert_int_equal(*avail_event(f, 16), 1);
	assert_int_equal(*used_flags(f), 0);
	/* The race check after enabling: one chain is still waiting. */
	assert_true(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, &f->c), 1);
	/* Disabling leaves avail_event and flags alone. */
	vq_set_notify(&f->q, false);
	assert_int_equal(*avail_event(f, 16), 1);
	assert_int_equal(*used_flags(f), 0);
	vq_set_notify(&f->q, true);
	assert_int_equal(*avail_event(f, 16), 2);
	assert_false(vq_has_avail(&f->q));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TB(fn) cmocka_unit_test_setup_teardown(fn, setup_big, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_enable_ok),
		T(test_enable_bad_size),
		T(test_enable_misaligned),
		T(test_enable_rings_outside_ram),
		T(test_pop_empty),
		T(test_direct_out_in),
		T(test_indirect_chain),
		T(test_direct_then_indirect),
		T(test_zero_length),
		T(test_chain_max_segments),
		T(test_indirect_max_segments),
		T(test_indirect_not_negotiated),
		T(test_direct_loop),
		T(test_indirect_loop),
		T(test_indirect_next_out_of_table),
		T(test_nested_indirect),
		T(test_indirect_with_next),
		T(test_indirect_bad_table),
		T(test_buffer_past_ram),
		T(test_len_overflow),
		T(test_write_before_read),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_avail_idx_jump),
		T(test_broken_refuses),
		TB(test_mmio_hole),
		TB(test_total_len_overflow),
		T(test_used_push),
		T(test_wrap_65535),
		T(test_need_event_table),
		T(test_interrupt_event_idx),
		T(test_interrupt_event_idx_wrap),
		T(test_interrupt_flag),
		T(test_set_notify_flags),
		T(test_set_notify_event_idx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
