/* test_snap_memfile.c - memory files: sparse full saves, diff saves, merge, MAP_PRIVATE load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "snap/memfile.h"

#define PAGES 256
#define RAM   ((size_t)PAGES * SNAP_PAGE)

struct fixture {
	char dir[64];
	uint8_t *ram;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_snap_mem.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	fx->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fx->ram == MAP_FAILED)
		return -1;
	/* Pages 1, 7, 8 and 200 hold data; the rest is zero. */
	memset(fx->ram + 1 * SNAP_PAGE, 0x11, SNAP_PAGE);
	memset(fx->ram + 7 * SNAP_PAGE + 100, 0x77, 10);
	memset(fx->ram + 8 * SNAP_PAGE, 0x88, SNAP_PAGE);
	fx->ram[200 * SNAP_PAGE + SNAP_PAGE - 1] = 0xc8;   /* only the last byte */
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	munmap(fx->ram, RAM);
	if (system(cmd))
		return -1;
	free(fx);
	return 0;
}

static void path_in(struct fixture *fx, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", fx->dir, name);
}

static uint8_t *slurp(const char *path, size_t len)
{
	uint8_t *b = malloc(len);
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, len, 0), (ssize_t)len);
	close(fd);
	return b;
}

/* The data extents of PATH as a page bitmap (SEEK_DATA/SEEK_HOLE). */
static void data_pages(const char *path, size_t size, uint8_t *is_data)
{
	int fd = open(path, O_RDONLY);
	off_t pos = 0;

	assert_true(fd >= 0);
	memset(is_data, 0, size / SNAP_PAGE);
	while ((size_t)pos < size) {
		off_t d = lseek(fd, pos, SEEK_DATA), h;

		if (d < 0)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		for (off_t p = d; p < h; p += SNAP_PAGE)
			is_data[p / SNAP_PAGE] = 1;
		pos = h;
	}
	close(fd);
}

static void test_full_save_is_sparse(void **state)
{
	struct fixture *fx = *state;
	struct snap_mem_region r = { .host = fx->ram, .len = RAM, .file_off = 0 };
	struct snap_mem_stats st = { 0 };
	uint8_t is_data[PAGES];
	char path[128], err[256];
	struct stat sb;
	uint8_t *b;

	path_in(fx, path, sizeof(path), "full");
	assert_int_equal(snap_mem_save(path, RAM, &r, 1, &st, err, sizeof(err)), 0);
	assert_int_equal(st.pages_written, 4);
	assert_int_equal(st.pages_skipped, PAGES - 4);
	assert_int_equal(st.bytes_written, 4 * SNAP_PAGE);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, RAM);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* Really sparse: the blocks hold the four pages, not a megabyte of zeros. */
	assert_true((uint64_t)sb.st_blocks * 512 <= 4 * SNAP_PAGE + SNAP_PAGE);
	data_pages(path, RAM, is_data);
	for (int p = 0; p < PAGES; p++)
		assert_int_equal(is_data[p], p == 1 || p == 7 || p == 8 || p == 200);
	b = slurp(path, RAM);
	assert_memory_equal(b, fx->ram, RAM);
	free(b);
}

static void test_regions_placed_and_checked(void **state)
{
	struct fixture *fx = *state;
	struct snap_mem_region r[2] = {
		{ .host = fx->ram, .len = 16 * SNAP_PAGE, .file_off = 0 },
		{ .host = fx->ram + 192 * SNAP_PAGE, .len = 64 * SNAP_PAGE, .file_off = 32 * SNAP_PAGE },
	};
	char path[128], err[256];
	uint8_t *b;

	path_in(fx, path, sizeof(path), "two");
	assert_int_equal(snap_mem_save(path, 96 * SNAP_PAGE, r, 2, NULL, err, sizeof(err)), 0);
	b = slurp(path, 96 * SNAP_PAGE);
	assert_memory_equal(b, fx->ram, 16 * SNAP_PAGE);
	assert_memory_equal(b + 32 * SNAP_PAGE, fx->ram + 192 * SNAP_PAGE, 64 * SNAP_PAGE);
	assert_int_equal(b[(32 + 8) * SNAP_PAGE + SNAP_PAGE - 1], 0xc8);
	free(b);

	unlink(path);
	assert_int_equal(snap_mem_save(path, 95 * SNAP_PAGE, r, 2, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "region 1"));
	assert_non_null(strstr(err, "ends past"));
	r[1].file_off = 8 * SNAP_PAGE;
	assert_int_equal(snap_mem_save(path, 96 * SNAP_PAGE, r, 2, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "overlap"));
	r[1].file_off = 100;
	assert_int_equal(snap_mem_save(path, 96 * SNAP_PAGE, r, 2, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not page-aligned"));
	assert_int_equal(access(path, F_OK), -1);
}

static void test_diff_writes_only_dirty_pages(void **state)
{
	struct fixture *fx = *state;
	uint64_t dirty[PAGES / 64] = { 0 };
	struct snap_mem_region r = { .host = fx->ram, .len = RAM, .dirty = dirty };
	struct snap_mem_stats st = { 0 };
	uint8_t is_data[PAGES];
	char path[128], err[256];
	struct stat sb;

	/* Page 1 has data, page 5 is zero but dirty: both must be in the diff. */
	dirty[0] = (1ull << 1) | (1ull << 5);
	dirty[3] = 1ull << (200 - 192);
	path_in(fx, path, sizeof(path), "diff");
	assert_int_equal(snap_mem_save(path, RAM, &r, 1, &st, err, sizeof(err)), 0);
	assert_int_equal(st.pages_written, 3);
	assert_int_equal(st.pages_skipped, PAGES - 3);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, RAM);      /* the full file's size */
	data_pages(path, RAM, is_data);
	for (int p = 0; p < PAGES; p++)
		assert_int_equal(is_data[p], p == 1 || p == 5 || p == 200);
}

static void test_merge_equals_full_save(void **state)
{
	struct fixture *fx = *state;
	uint64_t dirty[PAGES / 64] = { 0 };
	struct snap_mem_region full = { .host = fx->ram, .len = RAM };
	struct snap_mem_region diff = { .host = fx->ram, .len = RAM, .dirty = dirty };
	struct snap_mem_stats st = { 0 };
	char base[128], dpath[128], later[128], err[256];
	uint8_t *a, *b;

	path_in(fx, base, sizeof(base), "base");
	path_in(fx, dpath, sizeof(dpath), "diff");
	path_in(fx, later, sizeof(later), "later");
	assert_int_equal(snap_mem_save(base, RAM, &full, 1, NULL, err, sizeof(err)), 0);
	/* The guest runs: page 1 becomes zero, 8 changes, 50 and 255 get data. */
	memset(fx->ram + 1 * SNAP_PAGE, 0, SNAP_PAGE);
	memset(fx->ram + 8 * SNAP_PAGE + 17, 0x42, 99);
	fx->ram[50 * SNAP_PAGE] = 0x50;
	memset(fx->ram + 255 * SNAP_PAGE, 0xff, SNAP_PAGE);
	dirty[0] = (1ull << 1) | (1ull << 8) | (1ull << 50);
	dirty[3] = 1ull << 63;
	assert_int_equal(snap_mem_save(dpath, RAM, &diff, 1, NULL, err, sizeof(err)), 0);
	assert_int_equal(snap_mem_save(later, RAM, &full, 1, NULL, err, sizeof(err)), 0);

	assert_int_equal(snap_mem_merge(base, dpath, &st, err, sizeof(err)), 0);
	assert_int_equal(st.pages_written, 4);
	assert_int_equal(st.bytes_written, 4 * SNAP_PAGE);
	a = slurp(base, RAM);
	b = slurp(later, RAM);
	assert_memory_equal(a, b, RAM);
	assert_memory_equal(a, fx->ram, RAM);
	free(a);
	free(b);

	/* Refused: different sizes, the same file twice, a missing diff. */
	assert_int_equal(truncate(later, RAM + SNAP_PAGE), 0);
	assert_int_equal(snap_mem_merge(base, later, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sizes differ"));
	assert_int_equal(snap_mem_merge(base, base, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the same file"));
	path_in(fx, later, sizeof(later), "none");
	assert_int_equal(snap_mem_merge(base, later, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, later));
}

static void test_map_private_load(void **state)
{
	struct fixture *fx = *state;
	struct snap_mem_region r = { .host = fx->ram, .len = RAM };
	char path[128], err[256];
	uint8_t *guest, *b;
	int fd;

	path_in(fx, path, sizeof(path), "mem");
	assert_int_equal(snap_mem_save(path, RAM, &r, 1, NULL, err, sizeof(err)), 0);

	/* The new process's guest RAM: an anonymous mapping with other contents. */
	guest = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(guest != MAP_FAILED);
	memset(guest, 0xee, RAM);

	assert_int_equal(snap_mem_open(path, RAM + SNAP_PAGE, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "1048576 bytes, the snapshot's guest memory is 1052672 bytes"));
	fd = snap_mem_open(path, RAM, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(snap_mem_map(fd, 0, guest, RAM + SNAP_PAGE, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "run past"));
	assert_int_equal(snap_mem_map(fd, 0, guest, RAM, err, sizeof(err)), 0);
	close(fd);          /* the mapping keeps the file */

	assert_memory_equal(guest, fx->ram, RAM);   /* holes read as zero */
	memset(guest + 8 * SNAP_PAGE, 0x99, SNAP_PAGE);
	guest[3 * SNAP_PAGE] = 1;
	b = slurp(path, RAM);
	assert_memory_equal(b, fx->ram, RAM);       /* the file did not change */
	free(b);
	munmap(guest, RAM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_save_is_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regions_placed_and_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_writes_only_dirty_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_equals_full_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_private_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
