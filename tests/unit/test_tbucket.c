/* test_tbucket.c - the device rate limiters' token buckets on a fake clock: refill rate,
 * size cap, one_time_burst, oversized requests, both buckets together, updates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/tbucket.h"

#define MS 1000000ull
#define SEC (1000 * MS)
#define T0 (5 * SEC)   /* a fake clock that does not start at 0 */

static struct tbucket_cfg tb(uint64_t size, uint64_t burst, uint64_t refill_ms)
{
	return (struct tbucket_cfg){ .size = size, .one_time_burst = burst,
				     .refill_time_ms = refill_ms };
}

/* Size 0 or refill_time 0 is no bucket at all, as in Firecracker. */
static void test_off(void **st)
{
	struct tbucket_cfg c = tb(0, 0, 100), d = tb(100, 0, 0);
	struct tbucket b;

	(void)st;
	tbucket_init(&b, &c, T0);
	assert_false(b.on);
	assert_int_equal(tbucket_wait(&b, UINT64_MAX, T0), 0);
	tbucket_init(&b, &d, T0);
	assert_false(b.on);
	assert_int_equal(tbucket_wait(&b, 1000, T0), 0);
}

/* Starts full; empty, it refills size tokens per refill_time, exactly. */
static void test_refill_rate(void **st)
{
	struct tbucket_cfg c = tb(1000, 0, 100);   /* 10,000 tokens/s */
	struct tbucket b;
	uint64_t passed = 0, t = T0;

	(void)st;
	tbucket_init(&b, &c, T0);
	assert_int_equal(tbucket_wait(&b, 1000, T0), 0);
	tbucket_take(&b, 1000, T0);
	/* One token takes 100 us: the wait for 1 says so, and 10 need 1 ms. */
	assert_int_equal(tbucket_wait(&b, 1, T0), 100000);
	assert_int_equal(tbucket_wait(&b, 10, T0), 1000000);
	assert_int_not_equal(tbucket_wait(&b, 1, T0 + 99999), 0);
	assert_int_equal(tbucket_wait(&b, 1, T0 + 100000), 0);
	/* From there (1 token), take 7 whenever allowed for 1 s, stepping 3 us:
	 * 10,001 tokens came, no drift by rounding. */
	for (t = T0 + 100000; t <= T0 + 100000 + SEC; t += 3000)
		if (tbucket_wait(&b, 7, t) == 0) {
			tbucket_take(&b, 7, t);
			passed += 7;
		}
	assert_in_range(passed, 10001 - 7, 10001);
}

/* Never more than size tokens, however long it idles. */
static void test_size_cap(void **st)
{
	struct tbucket_cfg c = tb(500, 0, 1000);
	struct tbucket b;

	(void)st;
	tbucket_init(&b, &c, T0);
	tbucket_take(&b, 500, T0);
	assert_int_equal(tbucket_wait(&b, 500, T0 + 3600 * SEC), 0);
	assert_int_equal(b.budget, 500);
	tbucket_take(&b, 500, T0 + 3600 * SEC);
	assert_int_not_equal(tbucket_wait(&b, 1, T0 + 3600 * SEC), 0);
}

/* one_time_burst is spent first and never comes back. */
static void test_one_time_burst(void **st)
{
	struct tbucket_cfg c = tb(100, 1000, 1000);
	struct tbucket b;

	(void)st;
	tbucket_init(&b, &c, T0);
	assert_int_equal(tbucket_wait(&b, 1100, T0), 0);   /* burst + full bucket */
	tbucket_take(&b, 1050, T0);
	assert_int_equal(b.burst, 0);
	assert_int_equal(b.budget, 50);
	assert_int_not_equal(tbucket_wait(&b, 51, T0), 0);
	tbucket_take(&b, 50, T0);
	/* Ten seconds later: the bucket is full again, the burst is not. */
	assert_int_equal(tbucket_wait(&b, 100, T0 + 10 * SEC), 0);
	assert_int_equal(b.budget, 100);
	assert_int_equal(b.burst, 0);
	tbucket_take(&b, 100, T0 + 10 * SEC);
	assert_int_not_equal(tbucket_wait(&b, 1, T0 + 10 * SEC), 0);
}

/* A request larger than the bucket passes when the bucket is full, and the
 * excess is owed: the next one waits for the debt, keeping the long-run rate. */
static void test_oversized(void **st)
{
	struct tbucket_cfg c = tb(1000, 0, 100);   /* 10,000 tokens/s */
	struct tbucket b;

	(void)st;
	tbucket_init(&b, &c, T0);
	tbucket_take(&b, 1, T0);
	assert_int_not_equal(tbucket_wait(&b, 5000, T0), 0);   /* not full */
	assert_int_equal(tbucket_wait(&b, 5000, T0 + 100000), 0);
	tbucket_take(&b, 5000, T0 + 100000);
	assert_int_equal(b.debt, 4000);
	/* 4000 owed + 1 token = 4001 tokens: 400.1 ms. */
	assert_int_equal(tbucket_wait(&b, 1, T0 + 100000), 400100000);
	assert_int_not_equal(tbucket_wait(&b, 1, T0 + 100000 + 400099999), 0);
	assert_int_equal(tbucket_wait(&b, 1, T0 + 100000 + 400100000), 0);
}

/* A clock that goes backwards refills nothing (and breaks nothing). */
static void test_clock_back(void **st)
{
	struct tbucket_cfg c = tb(100, 0, 100);
	struct tbucket b;

	(void)st;
	tbucket_init(&b, &c, T0);
	tbucket_take(&b, 100, T0);
	assert_int_not_equal(tbucket_wait(&b, 1, T0 - SEC), 0);
	assert_int_equal(b.budget, 0);
	assert_int_equal(tbucket_wait(&b, 100, T0 + 100 * MS), 0);
}

/* Absurd configurations give bounded waits, no overflow. */
static void test_extremes(void **st)
{
	struct tbucket_cfg c = tb(UINT64_MAX, 0, UINT64_MAX), d = tb(1, 0, UINT64_MAX);
	struct tbucket b;

	(void)st;
	tbucket_init(&b, &c, T0);
	tbucket_take(&b, UINT64_MAX, T0);
	assert_int_equal(tbucket_wait(&b, UINT64_MAX, T0 + 1), RLIM_WAIT_MAX_NS);
	tbucket_init(&b, &d, T0);
	tbucket_take(&b, UINT64_MAX, T0);   /* oversized: a huge debt */
	assert_int_equal(tbucket_wait(&b, 1, UINT64_MAX), RLIM_WAIT_MAX_NS);
}

/* Both buckets: nothing is spent unless both allow; the wait is the longer. */
static void test_rlim_both(void **st)
{
	struct rlim_cfg c = { .bandwidth = tb(1000, 0, 1000), .ops = tb(2, 0, 1000) };
	struct rlim rl;

	(void)st;
	rlim_init(&rl, &c, T0);
	assert_int_equal(rlim_try(&rl, 400, T0), 0);
	assert_int_equal(rlim_try(&rl, 400, T0), 0);
	/* Ops empty (500 ms per op), bandwidth holds 200. */
	assert_int_equal(rlim_try(&rl, 100, T0), 500 * MS);
	assert_int_equal(rl.bw.budget, 200);
	/* Bandwidth short: 300 more bytes take 300 ms, ops wait 500. */
	assert_int_equal(rlim_wait(&rl, 500, T0), 500 * MS);
	assert_int_equal(rlim_try(&rl, 500, T0 + 500 * MS), 0);
	assert_int_equal(rl.bw.budget, 200);
}

/* A PATCH replaces the buckets it names with full ones, keeps the others,
 * and size 0 turns a bucket off. */
static void test_rlim_update(void **st)
{
	struct rlim_cfg c = { .bandwidth = tb(1000, 0, 1000), .ops = tb(10, 0, 1000) };
	struct rlim_update u = { .has_ops = true, .cfg = { .ops = tb(100, 5, 1000) } };
	struct rlim_update off = { .has_bandwidth = true };
	struct rlim rl;

	(void)st;
	rlim_init(&rl, &c, T0);
	rlim_take(&rl, 1000, T0);
	assert_true(rlim_on(&rl));
	rlim_update(&rl, &u, T0);
	assert_int_equal(rl.ops.size, 100);
	assert_int_equal(rl.ops.budget, 100);
	assert_int_equal(rl.ops.burst, 5);
	assert_int_equal(rl.bw.budget, 0);   /* untouched */
	assert_int_not_equal(rlim_wait(&rl, 1, T0), 0);
	rlim_update(&rl, &off, T0);
	assert_false(rl.bw.on);
	assert_int_equal(rlim_wait(&rl, 1 << 30, T0), 0);
	assert_true(rlim_on(&rl));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_refill_rate),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_one_time_burst),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_clock_back),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_rlim_both),
		cmocka_unit_test(test_rlim_update),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
