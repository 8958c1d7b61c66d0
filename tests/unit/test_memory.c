/* test_memory.c - guest RAM layout and the checked door gmem_ptr(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/layout.h"
#include "core/memory.h"

static void test_small_ram_is_one_region(void **state)
{
	struct gmem m;

	assert_int_equal(gmem_init(&m, 256ULL << 20), 0);
	assert_int_equal(m.nr_regions, 1);
	assert_int_equal(m.regions[0].gpa, 0);
	assert_int_equal(m.regions[0].size, 256ULL << 20);
	assert_int_equal(gmem_low_end(&m), 256ULL << 20);
	gmem_free(&m);
}

static void test_ram_up_to_hole_is_one_region(void **state)
{
	struct gmem m;

	assert_int_equal(gmem_init(&m, LAYOUT_MMIO_HOLE_START), 0);
	assert_int_equal(m.nr_regions, 1);
	assert_null(gmem_ptr(&m, LAYOUT_MMIO_HOLE_START, 1));
	assert_non_null(gmem_ptr(&m, LAYOUT_MMIO_HOLE_START - 1, 1));
	gmem_free(&m);
}

static void test_4g_splits_around_hole(void **state)
{
	struct gmem m;
	uint64_t above = (4ULL << 30) - LAYOUT_MMIO_HOLE_START;

	assert_int_equal(gmem_init(&m, 4ULL << 30), 0);
	assert_int_equal(m.nr_regions, 2);
	assert_int_equal(m.regions[0].size, LAYOUT_MMIO_HOLE_START);
	assert_int_equal(m.regions[1].gpa, LAYOUT_HIGH_RAM_START);
	assert_int_equal(m.regions[1].size, above);
	/* Host memory is contiguous: the high region follows the low one. */
	assert_ptr_equal(m.regions[1].host, m.regions[0].host + LAYOUT_MMIO_HOLE_START);
	assert_null(gmem_ptr(&m, LAYOUT_IOAPIC, 4));
	assert_null(gmem_ptr(&m, LAYOUT_MMIO_HOLE_START, 1));
	assert_non_null(gmem_ptr(&m, LAYOUT_HIGH_RAM_START, 4096));
	assert_non_null(gmem_ptr(&m, LAYOUT_HIGH_RAM_START + above - 1, 1));
	assert_null(gmem_ptr(&m, LAYOUT_HIGH_RAM_START + above, 1));
	/* A range crossing from low RAM into the hole is refused whole. */
	assert_null(gmem_ptr(&m, LAYOUT_MMIO_HOLE_START - 8, 16));
	gmem_free(&m);
}

static void test_ptr_bounds_and_overflow(void **state)
{
	struct gmem m;
	uint64_t size = 32ULL << 20;

	assert_int_equal(gmem_init(&m, size), 0);
	assert_ptr_equal(gmem_ptr(&m, 0, size), m.base);
	assert_null(gmem_ptr(&m, 0, size + 1));
	assert_null(gmem_ptr(&m, size - 4, 8));
	assert_null(gmem_ptr(&m, size, 0));          /* len 0 still must be inside */
	assert_null(gmem_ptr(&m, 16, UINT64_MAX));   /* gpa + len wraps */
	assert_null(gmem_ptr(&m, UINT64_MAX, 2));
	assert_null(gmem_ptr(&m, UINT64_MAX - 4096, 8192));
	assert_non_null(gmem_ptr(&m, size - 1, 1));
	gmem_free(&m);
}

static void test_read_write_roundtrip(void **state)
{
	struct gmem m;
	uint32_t v = 0xdeadbeef, r = 0;

	assert_int_equal(gmem_init(&m, 16ULL << 20), 0);
	assert_int_equal(gmem_write(&m, 0x1000, &v, sizeof(v)), 0);
	assert_int_equal(gmem_read(&m, 0x1000, &r, sizeof(r)), 0);
	assert_int_equal(r, v);
	assert_int_equal(gmem_write(&m, (16ULL << 20) - 2, &v, sizeof(v)), -EFAULT);
	gmem_free(&m);
}

static void test_bad_sizes_refused(void **state)
{
	struct gmem m;

	assert_int_equal(gmem_init(&m, 1ULL << 20), -EINVAL);
	assert_int_equal(gmem_init(&m, (64ULL << 20) + 1), -EINVAL);
}

/* Every VMA of guest RAM carries VmFlags "dd" (MADV_DONTDUMP): a core
 * dump of mvm holds no guest memory. */
static void test_ram_not_in_core_dumps(void **state)
{
	struct gmem m;
	FILE *f;
	char line[512];
	unsigned long lo, hi, start, end;
	bool in = false;
	int vmas = 0, dd = 0;

	assert_int_equal(gmem_init(&m, 32ULL << 20), 0);
	start = (unsigned long)m.base;
	end = start + m.ram_size;
	f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = lo < end && hi > start;
			vmas += in;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			dd += strstr(line, " dd") != NULL;
		}
	}
	fclose(f);
	gmem_free(&m);
	assert_true(vmas >= 1);
	assert_int_equal(dd, vmas);
}

/* A migration's zero runs: pages a RAM record wrote read zero afterwards,
 * pages never written are not touched (still not resident: no fault, and
 * no MADV_DONTNEED that would split a huge page around them). */
static void test_zero_written(void **state)
{
	struct gmem m;
	uint64_t written[16] = { 0 };  /* one bit per page: 1024 pages */
	unsigned char vec[200];

	assert_int_equal(gmem_init(&m, 16ULL << 20), 0);
	/* Pages 3, 64 and 130 were filled by RAM records. */
	for (int p = 0; p < 200; p++)
		if (p == 3 || p == 64 || p == 130) {
			memset(m.base + p * GMEM_PAGE_SIZE, 0xa5, GMEM_PAGE_SIZE);
			written[p / 64] |= 1ull << (p % 64);
		}
	gmem_zero_written(&m, written, 0, 200);
	for (int p = 0; p < 200; p++) {
		const uint8_t *pg = m.base + p * GMEM_PAGE_SIZE;

		if (p == 3 || p == 64 || p == 130)
			assert_true(pg[0] == 0 && pg[GMEM_PAGE_SIZE - 1] == 0 &&
				    !memcmp(pg, pg + 1, GMEM_PAGE_SIZE - 1));
	}
	/* Nothing else was faulted in (a host with THP "always" backs a touched
	 * 2 MiB range whole, so look only outside the ranges around pages
	 * 3, 64 and 130: pages 0-511 share one 2 MiB range; use a second one). */
	gmem_zero_written(&m, written, 512, 200);
	assert_int_equal(mincore(m.base + 512 * GMEM_PAGE_SIZE, 200 * GMEM_PAGE_SIZE, vec), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(vec[i] & 1, 0);
	/* A range starting mid-word and ending mid-word clears only its own pages. */
	memset(m.base + 3 * GMEM_PAGE_SIZE, 0x5a, GMEM_PAGE_SIZE);
	memset(m.base + 64 * GMEM_PAGE_SIZE, 0x5a, GMEM_PAGE_SIZE);
	gmem_zero_written(&m, written, 4, 60);   /* pages 4..63 */
	assert_int_equal(m.base[3 * GMEM_PAGE_SIZE], 0x5a);
	assert_int_equal(m.base[64 * GMEM_PAGE_SIZE], 0x5a);
	gmem_zero_written(&m, written, 64, 1);
	assert_int_equal(m.base[64 * GMEM_PAGE_SIZE], 0);
	assert_int_equal(m.base[3 * GMEM_PAGE_SIZE], 0x5a);
	gmem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_ram_is_one_region),
		cmocka_unit_test(test_ram_up_to_hole_is_one_region),
		cmocka_unit_test(test_4g_splits_around_hole),
		cmocka_unit_test(test_ptr_bounds_and_overflow),
		cmocka_unit_test(test_read_write_roundtrip),
		cmocka_unit_test(test_bad_sizes_refused),
		cmocka_unit_test(test_ram_not_in_core_dumps),
		cmocka_unit_test(test_zero_written),
	};
	return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
