/* test_exit_trace.c - the token bucket with a fake clock, and --trace-exits
 * lines (format, rate limit, "N exits not traced" once a second) into a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "obs/exit_trace.h"
#include "util/ratelimit.h"

#define SEC 1000000000ull
#define MS  1000000ull

static void test_bucket_burst_then_rate(void **state)
{
	struct ratelimit rl;
	int passed = 0;

	ratelimit_init(&rl, 1000, 1000, 5 * SEC);
	for (int i = 0; i < 1500; i++)
		passed += ratelimit_take(&rl, 5 * SEC);
	assert_int_equal(passed, 1000);          /* the burst, then nothing */
	assert_false(ratelimit_take(&rl, 5 * SEC + MS - 1));
	assert_true(ratelimit_take(&rl, 5 * SEC + MS));   /* 1 ms = 1 token at 1000/s */
	assert_false(ratelimit_take(&rl, 5 * SEC + MS));
	/* 10 s idle refills to the burst, not past it. */
	passed = 0;
	for (int i = 0; i < 3000; i++)
		passed += ratelimit_take(&rl, 15 * SEC);
	assert_int_equal(passed, 1000);
}

static void test_bucket_steady_rate(void **state)
{
	struct ratelimit rl;
	int passed = 0;

	/* A caller trying every 100 us for 10 s at 1000/s, burst 1000: 1000 + 10 * 1000. */
	ratelimit_init(&rl, 1000, 1000, 0);
	for (uint64_t t = 0; t <= 10 * SEC; t += 100000)
		passed += ratelimit_take(&rl, t);
	assert_int_equal(passed, 11000);
}

/* Slower than 1/s: 10 at once, then one per 5 s; a huge idle time refills
 * to the burst; out-of-range periods and bursts are clamped, not overflowed. */
static void test_bucket_period(void **state)
{
	struct ratelimit rl;
	int passed = 0;

	ratelimit_init_period(&rl, 5 * SEC, 10, 100 * SEC);
	for (int i = 0; i < 2000; i++)
		passed += ratelimit_take(&rl, 100 * SEC);
	assert_int_equal(passed, 10);
	assert_false(ratelimit_take(&rl, 105 * SEC - 1));
	assert_true(ratelimit_take(&rl, 105 * SEC));
	assert_false(ratelimit_take(&rl, 109 * SEC));
	passed = 0;
	for (int i = 0; i < 100; i++)
		passed += ratelimit_take(&rl, UINT64_MAX);
	assert_int_equal(passed, 10);
	ratelimit_init_period(&rl, UINT64_MAX, UINT64_MAX, 0);   /* 1 hour, 4096 */
	passed = 0;
	for (int i = 0; i < 5000; i++)
		passed += ratelimit_take(&rl, 0);
	assert_int_equal(passed, 4096);
	assert_false(ratelimit_take(&rl, 3600 * SEC - 1));
	assert_true(ratelimit_take(&rl, 3600 * SEC));
}

static void test_bucket_fractions(void **state)
{
	struct ratelimit rl;

	/* 3/s: a token every 333,333,333.3 ns; integer credit must not round up early. */
	ratelimit_init(&rl, 3, 1, 0);
	assert_true(ratelimit_take(&rl, 0));
	assert_false(ratelimit_take(&rl, 333333333));
	assert_true(ratelimit_take(&rl, 333333334));
	/* Credit past the burst is not kept: the bucket was full at 333333334
	 * (cap 1 token), so the next token needs a whole 333333334 ns more. */
	assert_false(ratelimit_take(&rl, 666666667));
	assert_true(ratelimit_take(&rl, 666666668));
}

static void test_bucket_clock_edges(void **state)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 10, 2, 100 * SEC);
	assert_true(ratelimit_take(&rl, 100 * SEC));
	assert_true(ratelimit_take(&rl, 100 * SEC));
	/* A clock that goes backwards refills nothing and does not wrap. */
	assert_false(ratelimit_take(&rl, 1));
	assert_false(ratelimit_take(&rl, 100 * SEC));
	/* A huge jump does not overflow: the bucket is merely full. */
	assert_true(ratelimit_take(&rl, UINT64_MAX));
	assert_true(ratelimit_take(&rl, UINT64_MAX));
	assert_false(ratelimit_take(&rl, UINT64_MAX));
	/* Zero rate and burst are clamped to 1. */
	ratelimit_init(&rl, 0, 0, 0);
	assert_true(ratelimit_take(&rl, 0));
	assert_false(ratelimit_take(&rl, 0));
	assert_true(ratelimit_take(&rl, SEC));
}

/* A kvm_run with the PIO data page after it, as KVM maps it. */
static struct kvm_run *new_run(void)
{
	struct kvm_run *run = aligned_alloc(4096, 8192);

	memset(run, 0, 8192);
	return run;
}

static void set_io(struct kvm_run *run, int dir, uint16_t port, uint8_t size, uint32_t count,
		   const void *data)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = dir;
	run->io.port = port;
	run->io.size = size;
	run->io.count = count;
	run->io.data_offset = 4096;
	memcpy((uint8_t *)run + 4096, data, (size_t)size * count);
}

static void test_format(void **state)
{
	struct kvm_run *run = new_run();
	char buf[256];
	uint32_t words[6] = { 1, 2, 3, 4, 5, 6 };

	set_io(run, KVM_EXIT_IO_OUT, 0x3f8, 1, 1, "H");
	exit_trace_format(buf, sizeof(buf), 0, run);
	assert_string_equal(buf, "exit vcpu0 IO out port 0x03f8 size 1 data 0x48");

	set_io(run, KVM_EXIT_IO_IN, 0x60, 2, 1, "\x34\x12");
	exit_trace_format(buf, sizeof(buf), 3, run);
	assert_string_equal(buf, "exit vcpu3 IO in port 0x0060 size 2 data 0x1234");

	set_io(run, KVM_EXIT_IO_IN, 0x1f0, 4, 6, words);   /* REP INSD */
	exit_trace_format(buf, sizeof(buf), 1, run);
	assert_string_equal(buf, "exit vcpu1 IO in port 0x01f0 size 4 count 6 data 0x00000001 "
			    "0x00000002 0x00000003 0x00000004 ...");

	memset(run, 0, 4096);
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = 0xd0000050;
	run->mmio.len = 4;
	run->mmio.is_write = 1;
	memcpy(run->mmio.data, "\x01\x00\x00\x00", 4);
	exit_trace_format(buf, sizeof(buf), 0, run);
	assert_string_equal(buf, "exit vcpu0 MMIO write 0xd0000050 size 4 data 0x00000001");
	run->mmio.len = 200;           /* lengths are KVM's, but never read past data[8] */
	run->mmio.is_write = 0;
	exit_trace_format(buf, sizeof(buf), 0, run);
	assert_string_equal(buf, "exit vcpu0 MMIO read 0xd0000050 size 200 data 0x0000000000000001");

	run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
	run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	exit_trace_format(buf, sizeof(buf), 0, run);
	assert_string_equal(buf, "exit vcpu0 SYSTEM_EVENT type 1");

	run->exit_reason = 200;
	exit_trace_format(buf, sizeof(buf), 7, run);
	assert_string_equal(buf, "exit vcpu7 reason 200");

	/* A small buffer truncates, never overflows. */
	set_io(run, KVM_EXIT_IO_IN, 0x1f0, 4, 6, words);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(exit_trace_format(buf, 20, 1, run), 19);
	assert_int_equal(strlen(buf), 19);
	assert_int_equal(buf[20], 'Z');
	free(run);
}

static int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_rate_limited_lines(void **state)
{
	struct exit_trace t;
	struct kvm_run *run = new_run();
	char out[65536];
	int p[2];
	ssize_t n;

	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(exit_trace_init(&t, 5, p[1], 10 * SEC), 0);
	set_io(run, KVM_EXIT_IO_OUT, 0x80, 1, 1, "\x5a");
	for (int i = 0; i < 20; i++)
		exit_trace_log(&t, 0, run, 10 * SEC);         /* 5 pass, 15 dropped */
	exit_trace_log(&t, 1, run, 10 * SEC + SEC / 2);  /* half a second: 2.5 tokens */
	exit_trace_log(&t, 1, run, 11 * SEC);            /* a second: the drop report first */
	exit_trace_finish(&t);                           /* nothing left to report */
	n = read(p[0], out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	assert_int_equal(count_lines(out, "mvm: exit vcpu0 IO out port 0x0080 size 1 data 0x5a\r\n"), 5);
	assert_int_equal(count_lines(out, "mvm: exit vcpu1 IO"), 2);
	assert_int_equal(count_lines(out, "not traced"), 1);
	assert_non_null(strstr(out, "mvm: 15 exits not traced (over 5 lines/s)\r\nmvm: exit vcpu1"));
	assert_int_equal(t.traced, 7);
	assert_int_equal(t.dropped_total, 15);

	/* Drops at the end of a run are reported by exit_trace_finish(). */
	for (int i = 0; i < 30; i++)
		exit_trace_log(&t, 2, run, 11 * SEC + 1);
	exit_trace_finish(&t);
	n = read(p[0], out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	/* 2.5 + 2.5 tokens came in the last second, 2 were spent: 3 pass, 27 drop. */
	assert_non_null(strstr(out, "mvm: 27 exits not traced"));
	assert_int_equal(count_lines(out, "mvm: exit vcpu2"), 3);
	exit_trace_destroy(&t);
	close(p[0]);
	close(p[1]);
	free(run);
}

static void test_rate_from_env(void **state)
{
	struct exit_trace t;

	setenv("MVM_TRACE_EXITS_RATE", "42", 1);
	assert_int_equal(exit_trace_init(&t, 0, 2, 0), 0);
	assert_int_equal(t.bucket.rate, 42);
	exit_trace_destroy(&t);
	setenv("MVM_TRACE_EXITS_RATE", "fast", 1);
	assert_int_equal(exit_trace_init(&t, 0, 2, 0), -EINVAL);
	setenv("MVM_TRACE_EXITS_RATE", "0", 1);
	assert_int_equal(exit_trace_init(&t, 0, 2, 0), -EINVAL);
	unsetenv("MVM_TRACE_EXITS_RATE");
	assert_int_equal(exit_trace_init(&t, 0, 2, 0), 0);
	assert_int_equal(t.bucket.rate, EXIT_TRACE_RATE);
	exit_trace_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_burst_then_rate),
		cmocka_unit_test(test_bucket_steady_rate),
		cmocka_unit_test(test_bucket_fractions),
		cmocka_unit_test(test_bucket_period),
		cmocka_unit_test(test_bucket_clock_edges),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_rate_limited_lines),
		cmocka_unit_test(test_rate_from_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
