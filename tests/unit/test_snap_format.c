/* test_snap_format.c - the snapshot state file: round trip, and every malformed file refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "snap/format.h"
#define FUZZ_SNAP_NO_MAIN
#include "../fuzz/fuzz_snap.c"

struct fixture {
	char dir[64];
	char path[128];
	uint8_t *buf;        /* the committed file's bytes */
	size_t len;
};

static const uint8_t payload_dev[100] = { 1, 2, 3, 4, 5, [50] = 0xaa, [99] = 0x55 };
static const char payload_cpu[] = "vcpu0";                        /* 6 bytes: padded */
static const uint8_t payload_cfg[16] = { 0xde, 0xad, 0xbe, 0xef };

static const struct snap_header_info info = {
	.flags = SNAP_F_DIFF,
	.mvm_version = "0.1.0-test",
	.cpu_vendor = "AuthenticAMD",
};

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc(n ? n : 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, n, f), n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void spit(const char *path, const void *b, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct snap_writer w;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_snap_fmt.XXXXXX");
	if (!fx || !mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/state", fx->dir);
	if (snap_writer_open(&w, fx->path, &info) ||
	    snap_write_section(&w, "cpu", 3, payload_cpu, sizeof(payload_cpu)) ||
	    snap_write_section(&w, "devices", 1, payload_dev, sizeof(payload_dev)) ||
	    snap_write_section(&w, "empty", 7, NULL, 0) ||
	    snap_write_section(&w, "config.machine.x", 2, payload_cfg, sizeof(payload_cfg)) ||
	    snap_writer_commit(&w))
		return -1;
	fx->buf = slurp(fx->path, &fx->len);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd))
		return -1;
	free(fx->buf);
	free(fx);
	return 0;
}

/* Recompute the end marker's CRC after a test edited a section header: the
 * file then passes the checksums and reaches the check under test. */
static void fix_table_crc(uint8_t *b, size_t len)
{
	size_t off = SNAP_HEADER_SIZE, end = len - SNAP_END_SIZE;
	uLong crc = crc32(0, b, SNAP_HEADER_SIZE);

	while (off + SNAP_SECTION_HDR <= end) {
		uint64_t l;

		memcpy(&l, b + off + 24, 8);
		crc = crc32(crc, b + off, SNAP_SECTION_HDR);
		if (l > end - off)
			break;
		off += SNAP_SECTION_HDR + l + (SNAP_ALIGN - l % SNAP_ALIGN) % SNAP_ALIGN;
	}
	crc = crc32(crc, b + end, 28);
	b[end + 28] = (uint8_t)crc;
	b[end + 29] = (uint8_t)(crc >> 8);
	b[end + 30] = (uint8_t)(crc >> 16);
	b[end + 31] = (uint8_t)(crc >> 24);
}

static int parse(const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct snap_reader r;
	int ret = snap_reader_parse(&r, b, len, "x.snap", err, errlen);

	if (!ret)
		snap_reader_close(&r);
	return ret;
}

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct snap_reader r;
	const void *data;
	uint32_t ver;
	size_t len;
	char err[256];
	struct stat st;
	DIR *d;
	struct dirent *e;
	int files = 0;

	assert_int_equal(snap_reader_open(&r, fx->path, err, sizeof(err)), 0);
	assert_int_equal(r.hdr.format_version, SNAP_FORMAT_VERSION);
	assert_int_equal(r.hdr.flags, SNAP_F_DIFF);
	assert_string_equal(r.hdr.mvm_version, "0.1.0-test");
	assert_string_equal(r.hdr.cpu_vendor, "AuthenticAMD");
	assert_int_equal(r.nsec, 4);

	assert_int_equal(snap_find(&r, "devices", &ver, &data, &len), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(len, sizeof(payload_dev));
	assert_memory_equal(data, payload_dev, len);
	assert_int_equal((uintptr_t)data % SNAP_ALIGN, (uintptr_t)r.buf % SNAP_ALIGN);
	assert_int_equal(snap_find(&r, "cpu", &ver, &data, &len), 0);
	assert_int_equal(ver, 3);
	assert_string_equal(data, "vcpu0");
	assert_int_equal(snap_find(&r, "config.machine.x", &ver, &data, &len), 0);
	assert_int_equal(ver, 2);
	assert_memory_equal(data, payload_cfg, 16);
	assert_int_equal(snap_find(&r, "nope", &ver, &data, &len), -ENOENT);

	/* The one section nobody asked for is named. */
	assert_non_null(snap_reader_unclaimed(&r));
	assert_string_equal(snap_reader_unclaimed(&r)->name, "empty");
	assert_int_equal(snap_find(&r, "empty", &ver, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(ver, 7);
	assert_null(snap_reader_unclaimed(&r));
	snap_reader_close(&r);

	/* 0600, and no temporary file left beside it. */
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	d = opendir(fx->dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			files++;
	closedir(d);
	assert_int_equal(files, 1);
}

static void test_truncated_everywhere(void **state)
{
	struct fixture *fx = *state;
	char err[256], path[160];
	struct snap_reader r;

	for (size_t n = 0; n < fx->len; n++) {
		err[0] = 0;
		assert_int_not_equal(parse(fx->buf, n, err, sizeof(err)), 0);
		assert_non_null(strstr(err, "snapshot x.snap: "));
	}
	/* Through a file, the message names it and says what is wrong. */
	snprintf(path, sizeof(path), "%s/cut", fx->dir);
	spit(path, fx->buf, fx->len - 1);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "truncated"));
	spit(path, fx->buf, 40);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
}

static void test_every_flipped_byte_refused(void **state)
{
	struct fixture *fx = *state;
	uint8_t *b = malloc(fx->len);
	char err[256];

	assert_non_null(b);
	for (size_t i = 0; i < fx->len; i++) {
		memcpy(b, fx->buf, fx->len);
		b[i] ^= (uint8_t)(1u << (i % 8));
		err[0] = 0;
		if (parse(b, fx->len, err, sizeof(err)) == 0)
			fail_msg("a flipped bit at byte %zu was accepted", i);
		assert_true(err[0]);
	}
	free(b);
}

static void test_flipped_payload_names_section(void **state)
{
	struct fixture *fx = *state;
	static const char *const names[] = { "cpu", "devices", "config.machine.x" };
	uint8_t *b = malloc(fx->len);
	char err[256], want[64];

	assert_non_null(b);
	for (size_t k = 0; k < 3; k++) {
		struct snap_reader r;
		const void *data;
		size_t len, off;

		assert_int_equal(snap_reader_parse(&r, fx->buf, fx->len, "x.snap", NULL, 0), 0);
		assert_int_equal(snap_find(&r, names[k], NULL, &data, &len), 0);
		off = (size_t)((const uint8_t *)data - fx->buf);
		snap_reader_close(&r);
		snprintf(want, sizeof(want), "section '%s'", names[k]);
		for (size_t i = 0; i < len; i++) {
			memcpy(b, fx->buf, fx->len);
			b[off + i] ^= 0x10;
			assert_int_equal(parse(b, fx->len, err, sizeof(err)), -EBADMSG);
			assert_non_null(strstr(err, want));
			assert_non_null(strstr(err, "checksum mismatch"));
		}
	}
	free(b);
}

/* Byte offset of the section header of NAME in the fixture. */
static size_t section_at(struct fixture *fx, const char *name)
{
	struct snap_reader r;
	size_t off = 0;

	assert_int_equal(snap_reader_parse(&r, fx->buf, fx->len, "x", NULL, 0), 0);
	for (uint32_t i = 0; i < r.nsec; i++)
		if (!strcmp(r.sec[i].name, name))
			off = (size_t)r.sec[i].offset;
	snap_reader_close(&r);
	assert_int_not_equal(off, 0);
	return off;
}

static void test_duplicate_section_refused(void **state)
{
	struct fixture *fx = *state;
	uint8_t *b = malloc(fx->len);
	size_t at = section_at(fx, "empty");
	struct snap_writer w;
	char err[256];

	/* Rename "empty" to "cpu" and make the table CRC right: only the name check is left. */
	memcpy(b, fx->buf, fx->len);
	memset(b + at, 0, SNAP_NAME_LEN);
	memcpy(b + at, "cpu", 3);
	fix_table_crc(b, fx->len);
	assert_int_equal(parse(b, fx->len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section 'cpu'"));
	assert_non_null(strstr(err, "duplicate section"));
	free(b);

	/* The writer never writes one; its file is gone. */
	snprintf(err, sizeof(err), "%s/dup", fx->dir);
	assert_int_equal(snap_writer_open(&w, err, &info), 0);
	assert_int_equal(snap_write_section(&w, "a", 1, "x", 1), 0);
	assert_int_equal(snap_write_section(&w, "a", 1, "y", 1), -EEXIST);
	assert_non_null(strstr(snap_writer_msg(&w), "written twice"));
	assert_int_equal(snap_write_section(&w, "b", 1, "y", 1), -EEXIST);
	assert_int_equal(snap_writer_commit(&w), -EEXIST);
	assert_int_equal(access(err, F_OK), -1);
}

static void test_format_version_mismatch(void **state)
{
	struct fixture *fx = *state;
	uint8_t *b = malloc(fx->len);
	char err[256];

	memcpy(b, fx->buf, fx->len);
	b[8] = 2;
	assert_int_equal(parse(b, fx->len, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "snapshot x.snap: format version 2; this mvm reads version 1 only");
	/* An unknown header flag: a later format's meaning this reader cannot honour. */
	memcpy(b, fx->buf, fx->len);
	b[12] |= 0x80;
	fix_table_crc(b, fx->len);
	assert_int_equal(parse(b, fx->len, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "unknown header flags 0x80"));
	/* Not a snapshot at all. */
	memcpy(b, fx->buf, fx->len);
	b[0] = 'X';
	assert_int_equal(parse(b, fx->len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad magic"));
	free(b);
}

static void test_huge_length_refused(void **state)
{
	struct fixture *fx = *state;
	static const uint64_t lens[] = { UINT64_MAX, UINT64_MAX - 31, 1ull << 63, 1ull << 32, 4096 };
	uint8_t *b = malloc(fx->len);
	size_t at = section_at(fx, "devices");
	char err[256];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(b, fx->buf, fx->len);
		memcpy(b + at + 24, &lens[i], 8);      /* little-endian host */
		fix_table_crc(b, fx->len);
		assert_int_equal(parse(b, fx->len, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "section 'devices'"));
		assert_non_null(strstr(err, "runs past the end"));
	}
	/* The end marker's section count is bounded too. */
	memcpy(b, fx->buf, fx->len);
	memset(b + fx->len - SNAP_END_SIZE + 8, 0xff, 4);
	fix_table_crc(b, fx->len);
	assert_int_equal(parse(b, fx->len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "claims 4294967295 sections"));
	free(b);
}

static void test_too_large_and_missing_files(void **state)
{
	struct fixture *fx = *state;
	struct snap_reader r;
	char err[256], path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/big", fx->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SNAP_MAX_FILE + 1), 0);
	close(fd);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than the 64 MiB"));
	snap_reader_close(&r);    /* safe after a failed open */

	snprintf(path, sizeof(path), "%s/none", fx->dir);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	snap_reader_close(&r);
}

static void test_writer_abort_and_bad_input(void **state)
{
	struct fixture *fx = *state;
	struct snap_header_info bad = info;
	struct snap_writer w;
	char path[160];
	static uint8_t big[1024];

	snprintf(path, sizeof(path), "%s/aborted", fx->dir);
	assert_int_equal(snap_writer_open(&w, path, &info), 0);
	assert_int_equal(snap_write_section(&w, "a", 1, big, sizeof(big)), 0);
	snap_writer_abort(&w);
	assert_int_equal(access(path, F_OK), -1);

	/* Names: empty, too long, a byte outside the set. */
	assert_false(snap_name_valid(""));
	assert_false(snap_name_valid("abcdefghijklmnopq"));
	assert_false(snap_name_valid("a b"));
	assert_true(snap_name_valid("abcdefghijklmnop"));
	assert_int_equal(snap_writer_open(&w, path, &info), 0);
	assert_int_equal(snap_write_section(&w, "a/b", 1, big, 1), -EINVAL);
	assert_non_null(strstr(snap_writer_msg(&w), "invalid section name"));
	snap_writer_abort(&w);

	/* A section that would take the file past the limit is refused before it is written. */
	assert_int_equal(snap_writer_open(&w, path, &info), 0);
	assert_int_equal(snap_write_section(&w, "a", 1, big, SNAP_MAX_FILE), -EFBIG);
	assert_int_equal(snap_writer_commit(&w), -EFBIG);
	assert_int_equal(access(path, F_OK), -1);

	bad.flags = 0x100;
	assert_int_equal(snap_writer_open(&w, path, &bad), -EINVAL);
	assert_non_null(strstr(snap_writer_msg(&w), "unknown header flags 0x100"));
	snap_writer_abort(&w);
	assert_int_equal(snap_writer_open(&w, "/nonexistent-dir/x", &info), -ENOENT);
	assert_string_equal(snap_writer_msg(&w),
			    "snapshot /nonexistent-dir/x: cannot create a file beside it: No such file or directory");
	assert_int_equal(snap_write_section(&w, "a", 1, "x", 1), -ENOENT);
	assert_int_equal(snap_writer_commit(&w), -ENOENT);
	bad = info;
	bad.mvm_version = "0123456789012345678901234567890123456789";
	assert_int_equal(snap_writer_open(&w, path, &bad), -EINVAL);
	snap_writer_abort(&w);
	assert_int_equal(access(path, F_OK), -1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* 20 000 mutations (bit flips, interesting bytes, little-endian 32/64-bit
 * values, truncations, chunk copies) of a real state file, each checked by
 * the fuzz target's invariants with and without its CRCs made right. */
static void test_fuzz_corpus(void **state)
{
	struct fixture *fx = *state;
	static const uint64_t vals[] = { 0, 1, 7, 8, 31, 32, 0xffffffff, 1ull << 32, UINT64_MAX,
					 UINT64_MAX - 7, SNAP_MAX_FILE, SNAP_MAX_SECTIONS + 1 };
	uint8_t *b = malloc(fx->len);
	int bad = 0;

	assert_non_null(b);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = fx->len;
		int muts = 1 + (int)(rnd() % 3);

		memcpy(b, fx->buf, len);
		for (int m = 0; m < muts; m++) {
			size_t at = rnd() % len;

			switch (rnd() % 5) {
			case 0: b[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
			case 1: b[at] = (uint8_t[]){ 0, 1, 0x7f, 0x80, 0xff, '.', ' ' }[rnd() % 7]; break;
			case 2: { /* a boundary value in a length, count or version field */
				uint64_t v = vals[rnd() % (sizeof(vals) / sizeof(vals[0]))];
				size_t n = rnd() % 2 ? 8 : 4;

				at &= ~(size_t)3;
				if (at + n <= len)
					memcpy(b + at, &v, n);
				break;
			}
			case 3: len = at ? at : len; break;
			default: { /* copy a section header's worth from elsewhere */
				size_t from = rnd() % len;
				size_t n = SNAP_SECTION_HDR;

				if (from + n <= len && at + n <= len)
					memmove(b + at, b + from, n);
				break;
			}
			}
		}
		if (fuzz_snap_one(b, len))
			bad++;
	}
	free(b);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_flipped_byte_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_payload_names_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_section_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_version_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_length_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large_and_missing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_abort_and_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_corpus, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
