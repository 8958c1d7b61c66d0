/* test_memory.c - guest RAM layout and the checked door gmem_ptr(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/memory.h"
#include "snap/memfile.h"

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

/* 32 MiB of guest RAM in 4 KiB host pages, and the pagemap to ask; skipped
 * where /proc/self/pagemap cannot be opened (mvm then reads every page). A
 * host with THP "always" would back a touched 2 MiB range whole, making the
 * neighbours of a write present too: the test wants exact pages. */
static int untouched_setup(struct gmem *m)
{
	int fd;

	assert_int_equal(gmem_init(m, 32ULL << 20), 0);
	assert_int_equal(madvise(m->base, m->ram_size, MADV_NOHUGEPAGE), 0);
	fd = gmem_pagemap_open();
	if (fd < 0) {
		gmem_free(m);
		print_message("/proc/self/pagemap: %s\n", strerror(-fd));
		skip();
	}
	return fd;
}

static bool bit(const uint64_t *bits, uint64_t i)
{
	return bits[i / 64] & (1ull << (i % 64));
}

/* Written pages are not untouched; never-touched and discarded ones are. A
 * page only read maps the shared zero page: present, so not untouched
 * either (the migration reads it and finds zeros: correct, only slower). */
static void test_untouched(void **state)
{
	struct gmem m;
	uint64_t bits[8192 / 64];
	int fd = untouched_setup(&m), n = 0;

	/* Pages 1001, 1064 and 1099 written, 1030 read, 1050 written and
	 * given back (a balloon's page). */
	m.base[1001 * GMEM_PAGE_SIZE] = 1;
	m.base[1064 * GMEM_PAGE_SIZE + 17] = 2;
	m.base[1099 * GMEM_PAGE_SIZE + GMEM_PAGE_SIZE - 1] = 3;
	assert_int_equal(*(volatile uint8_t *)(m.base + 1030 * GMEM_PAGE_SIZE), 0);
	memset(m.base + 1050 * GMEM_PAGE_SIZE, 0xa5, GMEM_PAGE_SIZE);
	assert_int_equal(gmem_discard(&m, 1050 * GMEM_PAGE_SIZE, GMEM_PAGE_SIZE), 0);

	/* A range that starts and ends mid-word: bit i is page 1000 + i, and
	 * the bits past n are cleared too. */
	memset(bits, 0xff, sizeof(bits));
	assert_int_equal(gmem_untouched(&m, fd, 1000, 100, bits), 0);
	for (int i = 0; i < 100; i++) {
		bool used = i == 1 || i == 30 || i == 64 || i == 99;

		assert_int_equal(bit(bits, i), !used);
	}
	assert_true(bit(bits, 50));                      /* discarded */
	assert_int_equal(bits[1] >> 36, 0);              /* bits 100..127 */
	assert_int_equal(bits[2], ~0ull);                /* past (n+63)/64 words: not written */

	/* All of RAM, in one call (several preads): only those four are used. */
	assert_int_equal(gmem_untouched(&m, fd, 0, 8192, bits), 0);
	for (int i = 0; i < 8192; i++)
		n += bit(bits, i);
	assert_int_equal(n, 8192 - 4);
	assert_false(bit(bits, 1001) || bit(bits, 1030) || bit(bits, 1064) || bit(bits, 1099));

	/* The range is checked; a bad fd is the pread's error. */
	assert_int_equal(gmem_untouched(&m, fd, 0, 0, bits), -EINVAL);
	assert_int_equal(gmem_untouched(&m, fd, 8192, 1, bits), -EINVAL);
	assert_int_equal(gmem_untouched(&m, fd, 8000, 193, bits), -EINVAL);
	assert_int_equal(gmem_untouched(&m, fd, UINT64_MAX, 2, bits), -EINVAL);
	assert_int_equal(gmem_untouched(&m, -1, 0, 64, bits), -EBADF);
	close(fd);
	gmem_free(&m);
}

/* A snapshot's memory file mapped over guest RAM (as a restore does): its
 * pages are not present until touched, yet they hold the file's data, so
 * once file_mapped is set gmem_untouched() refuses to answer for any page. */
static void test_untouched_off_over_a_file(void **state)
{
	char path[] = "/tmp/mvm-test-memfile-XXXXXX", err[256] = "";
	uint8_t page[GMEM_PAGE_SIZE];
	uint64_t bits[1];
	struct gmem m;
	int fd = untouched_setup(&m), file;

	file = mkstemp(path);
	assert_true(file >= 0);
	unlink(path);
	memset(page, 0x42, sizeof(page));
	assert_int_equal(pwrite(file, page, sizeof(page), 0), (ssize_t)sizeof(page));
	assert_int_equal(gmem_untouched(&m, fd, 0, 64, bits), 0);   /* anonymous: it answers */
	m.file_mapped = true;   /* what the restore does before snap_mem_map() */
	assert_int_equal(snap_mem_map(file, 0, m.base, GMEM_PAGE_SIZE, err, sizeof(err)), 0);
	close(file);
	assert_int_equal(gmem_untouched(&m, fd, 0, 64, bits), -ENOTSUP);
	assert_int_equal(gmem_untouched(&m, fd, 4096, 64, bits), -ENOTSUP);  /* anywhere */
	/* Why: page 0 was never touched in this process, yet it is not zeros. */
	assert_int_equal(m.base[0], 0x42);
	close(fd);
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
		cmocka_unit_test(test_untouched),
		cmocka_unit_test(test_untouched_off_over_a_file),
	};
	return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
