/* test_bus.c - range registration rules, lookup and unclaimed accesses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/bus.h"
#include "util/log.h"

struct rec {
	uint64_t offset;
	uint32_t len;
	bool is_write;
	int calls;
};

static void rec_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rec *r = opaque;

	r->offset = offset;
	r->len = len;
	r->is_write = is_write;
	r->calls++;
	if (!is_write)
		memset(data, 0x5a, len);
}

static void quiet(enum log_level l, const char *m, void *c) { }

static void test_add_rejects_bad_ranges(void **state)
{
	struct bus b;
	struct rec r = { 0 };

	log_set_sink(quiet, NULL);
	bus_init(&b, "test");
	assert_int_equal(bus_add(&b, 0x100, 0, rec_io, &r, "empty"), -EINVAL);
	assert_int_equal(bus_add(&b, UINT64_MAX - 1, 4, rec_io, &r, "wraps"), -EINVAL);
	assert_int_equal(bus_add(&b, 0x100, 8, NULL, &r, "nofn"), -EINVAL);
	assert_int_equal(bus_add(&b, 0x100, 8, rec_io, &r, "a"), 0);
	assert_int_equal(bus_add(&b, 0x104, 8, rec_io, &r, "overlap-end"), -EEXIST);
	assert_int_equal(bus_add(&b, 0xfc, 8, rec_io, &r, "overlap-start"), -EEXIST);
	assert_int_equal(bus_add(&b, 0x0, 0x1000, rec_io, &r, "covers"), -EEXIST);
	assert_int_equal(bus_add(&b, 0x102, 2, rec_io, &r, "inside"), -EEXIST);
	assert_int_equal(bus_add(&b, 0x108, 8, rec_io, &r, "adjacent"), 0);
	assert_int_equal(bus_add(&b, 0xf8, 8, rec_io, &r, "adjacent-below"), 0);
	assert_int_equal(b.nr_ranges, 3);
	bus_free(&b);
	log_set_sink(NULL, NULL);
}

static void test_lookup_many_ranges(void **state)
{
	struct bus b;
	struct rec r[200];

	memset(r, 0, sizeof(r));
	bus_init(&b, "test");
	/* Added in scrambled order; lookup must find each by any byte. */
	for (int i = 0; i < 200; i++) {
		int k = (i * 73) % 200;

		assert_int_equal(bus_add(&b, 0x1000 + k * 0x10, 0x8, rec_io, &r[k], "dev"), 0);
	}
	for (int k = 0; k < 200; k++) {
		const struct bus_range *br = bus_find(&b, 0x1000 + k * 0x10 + 7);

		assert_non_null(br);
		assert_ptr_equal(br->opaque, &r[k]);
		assert_null(bus_find(&b, 0x1000 + k * 0x10 + 8)); /* the gap */
	}
	assert_null(bus_find(&b, 0xfff));
	bus_free(&b);
}

static void test_access_dispatches_offset(void **state)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t data[4] = { 1, 2, 3, 4 };

	bus_init(&b, "test");
	assert_int_equal(bus_add(&b, 0x3f8, 8, rec_io, &r, "uart"), 0);
	assert_true(bus_access(&b, 0x3fd, data, 1, false));
	assert_int_equal(r.offset, 5);
	assert_int_equal(data[0], 0x5a);
	assert_true(bus_access(&b, 0x3f8, data, 4, true));
	assert_int_equal(r.offset, 0);
	assert_true(r.is_write);
	bus_free(&b);
}

static void test_unclaimed_reads_all_ones(void **state)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t data[4] = { 0 };

	bus_init(&b, "test");
	assert_int_equal(bus_add(&b, 0x3f8, 8, rec_io, &r, "uart"), 0);
	assert_false(bus_access(&b, 0x80, data, 4, false));
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_false(bus_access(&b, 0x80, data, 2, true));
	/* Straddling the end of a range: the device never sees it. */
	assert_false(bus_access(&b, 0x3fe, data, 4, false));
	assert_int_equal(r.calls, 0);
	assert_int_equal(atomic_load(&b.unclaimed), 3);
	bus_free(&b);
}

/* Each unclaimed address is counted on its own, reads apart from writes, until
 * the table is full; later addresses count in the total only. */
static void test_unclaimed_per_address(void **state)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t d[4] = { 0 };
	uint64_t addr;
	unsigned long rd, wr;
	int used = 0;

	log_set_sink(quiet, NULL);
	bus_init(&b, "test");
	assert_int_equal(bus_add(&b, 0x3f8, 8, rec_io, &r, "com1"), 0);
	bus_access(&b, 0x2f9, d, 1, false);
	bus_access(&b, 0x2f9, d, 1, false);
	bus_access(&b, 0x2f9, d, 1, true);
	bus_access(&b, 0xcf8, d, 4, true);
	bus_access(&b, 0x3f8, d, 1, true); /* claimed: not in the table */
	assert_true(bus_unclaimed_at(&b, 0, &addr, &rd, &wr));
	assert_int_equal(addr, 0x2f9);
	assert_int_equal(rd, 2);
	assert_int_equal(wr, 1);
	assert_true(bus_unclaimed_at(&b, 1, &addr, &rd, &wr));
	assert_int_equal(addr, 0xcf8);
	assert_int_equal(rd, 0);
	assert_int_equal(wr, 1);
	assert_false(bus_unclaimed_at(&b, 2, &addr, &rd, &wr));
	assert_false(bus_unclaimed_at(&b, -1, &addr, &rd, &wr));
	assert_false(bus_unclaimed_at(&b, BUS_UNCLAIMED_SLOTS, &addr, &rd, &wr));
	/* Address 0 is a key like any other; UINT64_MAX only counts in the total. */
	bus_access(&b, 0, d, 1, false);
	bus_access(&b, UINT64_MAX, d, 1, false);
	for (uint64_t a = 0x1000; a < 0x1000 + 2 * BUS_UNCLAIMED_SLOTS; a++)
		bus_access(&b, a, d, 1, false);
	for (int i = 0; i < BUS_UNCLAIMED_SLOTS; i++)
		used += bus_unclaimed_at(&b, i, &addr, &rd, &wr);
	assert_int_equal(used, BUS_UNCLAIMED_SLOTS);
	assert_true(bus_unclaimed_at(&b, 2, &addr, &rd, &wr));
	assert_int_equal(addr, 0);
	assert_true(bus_unclaimed_at(&b, 3, &addr, &rd, &wr));
	assert_int_equal(addr, 0x1000);
	assert_int_equal(atomic_load(&b.unclaimed), 4 + 2 + 2 * BUS_UNCLAIMED_SLOTS);
	assert_int_equal(r.calls, 1);
	bus_free(&b);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_rejects_bad_ranges),
		cmocka_unit_test(test_lookup_many_ranges),
		cmocka_unit_test(test_access_dispatches_offset),
		cmocka_unit_test(test_unclaimed_reads_all_ones),
		cmocka_unit_test(test_unclaimed_per_address),
	};
	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
