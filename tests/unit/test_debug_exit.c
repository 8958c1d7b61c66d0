/* test_debug_exit.c - isa-debug-exit: every value at every width -> (v << 1) | 1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "board/debug_exit.h"
#include "core/device.h"
#include "core/vm_config.h"
#include "core/vmstop.h"

struct exit_rec {
	int status;
	int count;
	int stops; /* plain stop requests: must stay 0 */
};

static void rec_exit(void *ctx, int status)
{
	struct exit_rec *r = ctx;

	r->status = status;
	r->count++;
}

static void rec_stop(void *ctx, enum vm_stop_reason reason)
{
	struct exit_rec *r = ctx;

	(void)reason;
	r->stops++;
}

static void test_status_rule(void **state)
{
	static const uint32_t values[] = { 0, 1, 0x7f, 0xff };
	static const uint32_t widths[] = { 1, 2, 4 };

	(void)state;
	for (size_t w = 0; w < 3; w++) {
		for (size_t i = 0; i < 4; i++) {
			struct exit_rec r = { 0 };
			struct debug_exit d;
			uint8_t data[4];
			uint32_t v = values[i];

			debug_exit_init(&d, (struct vm_stopper){ .request = rec_stop, .ctx = &r,
								  .request_exit = rec_exit });
			memcpy(data, &v, 4);
			debug_exit_io(&d, 0, data, widths[w], true);
			assert_int_equal(r.count, 1);
			assert_int_equal(r.stops, 0);
			assert_int_equal(r.status, ((v << 1) | 1) & 0xff);
			debug_exit_destroy(&d);
		}
	}
}

/* Wider values: QEMU uses the written value as is; the process status keeps 8 bits. */
static void test_wide_value_masked(void **state)
{
	struct exit_rec r = { 0 };
	struct debug_exit d;
	uint8_t data[4] = { 0x21, 0x01, 0, 0 }; /* 0x121 */

	(void)state;
	debug_exit_init(&d, (struct vm_stopper){ .ctx = &r, .request_exit = rec_exit });
	debug_exit_io(&d, 0, data, 2, true);
	assert_int_equal(r.status, ((0x121 << 1) | 1) & 0xff); /* 0x43 */
	/* at another offset in the 4-byte range: same rule */
	data[0] = 0x7f;
	debug_exit_io(&d, 3, data, 1, true);
	assert_int_equal(r.status, 0xff);
	assert_int_equal(r.count, 2);
}

static void test_read_is_harmless(void **state)
{
	struct exit_rec r = { 0 };
	struct debug_exit d;
	uint8_t data[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

	(void)state;
	debug_exit_init(&d, (struct vm_stopper){ .ctx = &r, .request_exit = rec_exit });
	debug_exit_io(&d, 0, data, 4, false);
	assert_int_equal(r.count, 0);
	assert_int_equal(data[0] | data[1] | data[2] | data[3], 0);
	/* a stopper without request_exit ignores the write */
	debug_exit_init(&d, (struct vm_stopper){ .ctx = &r });
	debug_exit_io(&d, 0, data, 1, true);
	assert_int_equal(r.count, 0);
}

/* Opt-in: without --debug-exit (vm_config.debug_exit) the registry plans
 * no instance, so port 0xf4 stays unclaimed and a guest's write to it
 * cannot choose mvm's exit status. */
static void test_absent_unless_asked(void **state)
{
	struct vm_config cfg = { 0 };

	(void)state;
	assert_non_null(debug_exit_kind.count);
	assert_int_equal(debug_exit_kind.count(&cfg), 0);
	cfg.debug_exit = true;
	assert_int_equal(debug_exit_kind.count(&cfg), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_rule),
		cmocka_unit_test(test_wide_value_masked),
		cmocka_unit_test(test_read_is_harmless),
		cmocka_unit_test(test_absent_unless_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
