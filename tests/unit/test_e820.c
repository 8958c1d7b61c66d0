/* test_e820.c - the guest memory map for small, hole-sized and above-4-GiB RAM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "boot/e820.h"
#include "core/layout.h"
#include "core/memory.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static void expect_entry(const struct e820_entry *e, uint64_t addr, uint64_t size,
			 uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

static void expect_low(const struct e820_entry *e, uint64_t low_end)
{
	expect_entry(&e[0], 0, LAYOUT_EBDA_START, E820_TYPE_RAM);
	expect_entry(&e[1], LAYOUT_EBDA_START, 0xa0000 - LAYOUT_EBDA_START, E820_TYPE_RESERVED);
	expect_entry(&e[2], LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START,
		     E820_TYPE_RESERVED);
	expect_entry(&e[3], LAYOUT_HIMEM_START, low_end - LAYOUT_HIMEM_START, E820_TYPE_RAM);
}

static void test_256m(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct gmem m;

	assert_int_equal(gmem_init(&m, 256 * MIB), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX_ENTRIES), 4);
	expect_low(e, 256 * MIB);
	gmem_free(&m);
}

static void test_3g_exactly_hole_start(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct gmem m;

	assert_int_equal(gmem_init(&m, 3 * GIB), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX_ENTRIES), 4);
	expect_low(e, LAYOUT_MMIO_HOLE_START);
	gmem_free(&m);
}

static void test_4g_splits_at_hole(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct gmem m;

	assert_int_equal(gmem_init(&m, 4 * GIB), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX_ENTRIES), 5);
	expect_low(e, LAYOUT_MMIO_HOLE_START);
	expect_entry(&e[4], LAYOUT_HIGH_RAM_START, 1 * GIB, E820_TYPE_RAM);
	gmem_free(&m);
}

static void test_too_small_array(void **state)
{
	struct e820_entry e[3];
	struct gmem m;

	assert_int_equal(gmem_init(&m, 256 * MIB), 0);
	assert_int_equal(e820_build(&m, e, 3), -ENOSPC);
	gmem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_256m),
		cmocka_unit_test(test_3g_exactly_hole_start),
		cmocka_unit_test(test_4g_splits_at_hole),
		cmocka_unit_test(test_too_small_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
