/* test_boot_src.c - kernel/initrd image sources: open checks, reads into guest RAM, I/O errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/boot.h"
#include "core/memory.h"
#include "util/log.h"

#define MIB (1ULL << 20)
#define RAM (16 * MIB)
#define DATA_LEN 10000

struct fixture {
	struct gmem m;
	uint8_t data[DATA_LEN];
	char path[64];
	char err[1024];
};

static void sink(enum log_level level, const char *msg, void *ctx)
{
	struct fixture *f = ctx;

	if (level == LOG_ERR)
		snprintf(f->err, sizeof(f->err), "%s", msg);
}

static void write_file(struct fixture *f, const void *buf, size_t len)
{
	int fd = open(f->path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	if (!f || gmem_init(&f->m, RAM))
		return -1;
	for (int i = 0; i < DATA_LEN; i++)
		f->data[i] = (uint8_t)(i * 17 + 11);
	snprintf(f->path, sizeof(f->path), "/tmp/mvm-test-src-XXXXXX");
	fd = mkstemp(f->path);
	if (fd < 0)
		return -1;
	close(fd);
	write_file(f, f->data, DATA_LEN);
	log_set_sink(sink, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_set_sink(NULL, NULL);
	unlink(f->path);
	gmem_free(&f->m);
	free(f);
	return 0;
}

static void expect_err(struct fixture *f, const char *text)
{
	if (!strstr(f->err, text))
		fail_msg("expected error containing \"%s\", got \"%s\"", text, f->err);
}

/* A file and a buffer with the same bytes read the same, into host memory
 * and into guest RAM. */
static void test_file_and_buffer_read_alike(void **state)
{
	struct fixture *f = *state;
	struct boot_src file, buf;
	uint8_t a[3000], b[3000];

	assert_int_equal(boot_src_open(&file, "initrd", f->path, RAM), 0);
	assert_true(file.fd >= 0);
	assert_int_equal(file.len, DATA_LEN);
	boot_src_buf(&buf, "initrd", "mem", f->data, DATA_LEN);

	assert_int_equal(boot_src_read(&file, 1234, a, sizeof(a)), 0);
	assert_int_equal(boot_src_read(&buf, 1234, b, sizeof(b)), 0);
	assert_memory_equal(a, f->data + 1234, sizeof(a));
	assert_memory_equal(b, f->data + 1234, sizeof(b));
	/* Up to the last byte; nothing at all at the end. */
	assert_int_equal(boot_src_read(&file, DATA_LEN - 1, a, 1), 0);
	assert_int_equal(a[0], f->data[DATA_LEN - 1]);
	assert_int_equal(boot_src_read(&file, DATA_LEN, a, 0), 0);

	assert_int_equal(boot_src_to_guest(&f->m, &file, 0, 0x100000, DATA_LEN), 0);
	assert_memory_equal(gmem_ptr(&f->m, 0x100000, DATA_LEN), f->data, DATA_LEN);
	assert_int_equal(boot_src_to_guest(&f->m, &buf, 10, 0x200000, DATA_LEN - 10), 0);
	assert_memory_equal(gmem_ptr(&f->m, 0x200000, DATA_LEN - 10), f->data + 10,
			    DATA_LEN - 10);
	assert_int_equal(boot_src_check_size(&file), 0);
	assert_int_equal(boot_src_check_size(&buf), 0);
	boot_src_close(&file);
	assert_int_equal(file.fd, -1);
	boot_src_close(&file); /* twice is harmless */
}

/* The backstop: a range past the source's end is refused, with overflow. */
static void test_read_past_end(void **state)
{
	struct fixture *f = *state;
	struct boot_src buf;
	uint8_t a[16];

	boot_src_buf(&buf, "kernel", "mem", f->data, DATA_LEN);
	assert_int_equal(boot_src_read(&buf, DATA_LEN - 8, a, 16), -EIO);
	expect_err(f, "kernel mem: 16 bytes at offset 0x2708 run past the end of the file "
		      "(10000 bytes)");
	assert_int_equal(boot_src_read(&buf, UINT64_MAX - 4, a, 16), -EIO);
	assert_int_equal(boot_src_read(&buf, DATA_LEN + 1, a, 0), -EIO);
}

static void test_to_guest_outside_ram(void **state)
{
	struct fixture *f = *state;
	struct boot_src buf;

	boot_src_buf(&buf, "initrd", "mem", f->data, DATA_LEN);
	assert_int_equal(boot_src_to_guest(&f->m, &buf, 0, RAM - 100, DATA_LEN), -EFAULT);
	expect_err(f, "initrd mem: 10000 bytes at 0xffff9c are not all guest RAM");
}

static void test_open_checks(void **state)
{
	struct fixture *f = *state;
	struct boot_src s;

	assert_int_equal(boot_src_open(&s, "kernel", "/nonexistent/mvm-k", RAM), -ENOENT);
	expect_err(f, "kernel /nonexistent/mvm-k: cannot open");
	assert_int_equal(s.fd, -1);
	assert_int_equal(boot_src_open(&s, "initrd", "/tmp", RAM), -EINVAL);
	expect_err(f, "initrd /tmp: not a regular file");
	assert_int_equal(boot_src_open(&s, "initrd", f->path, DATA_LEN - 1), -EINVAL);
	expect_err(f, "is larger than guest RAM");
	write_file(f, "", 0);
	assert_int_equal(boot_src_open(&s, "initrd", f->path, RAM), -EINVAL);
	expect_err(f, ": file is empty");
	assert_int_equal(s.fd, -1);
}

/* The file shrinks after open: the read stops short and names the file;
 * the size check after loading notices growth and shrinkage alike. */
static void test_file_changes_size(void **state)
{
	struct fixture *f = *state;
	struct boot_src s;
	uint8_t a[DATA_LEN];

	assert_int_equal(boot_src_open(&s, "initrd", f->path, RAM), 0);
	write_file(f, f->data, 4000);
	assert_int_equal(boot_src_read(&s, 0, a, 3000), 0);
	assert_int_equal(boot_src_to_guest(&f->m, &s, 0, 0x100000, DATA_LEN), -EIO);
	expect_err(f, "initrd /tmp/mvm-test-src-");
	expect_err(f, ": file shrank while being read (ends at 0xfa0, was 10000 bytes)");
	assert_int_equal(boot_src_check_size(&s), -EIO);
	expect_err(f, ": file changed size while being read (10000 bytes, now 4000)");

	write_file(f, f->data, DATA_LEN);
	assert_int_equal(boot_src_check_size(&s), 0);
	{
		int fd = open(f->path, O_WRONLY | O_APPEND);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x", 1), 1);
		close(fd);
	}
	assert_int_equal(boot_src_check_size(&s), -EIO);
	expect_err(f, "(10000 bytes, now 10001)");
	boot_src_close(&s);
}

static void test_read_error(void **state)
{
	struct fixture *f = *state;
	struct boot_src s = { .what = "kernel", .name = f->path, .len = DATA_LEN };
	uint8_t a[100];

	s.fd = open(f->path, O_WRONLY); /* pread on it fails with EBADF */
	assert_true(s.fd >= 0);
	assert_int_equal(boot_src_read(&s, 200, a, sizeof(a)), -EBADF);
	expect_err(f, ": read of 100 bytes at offset 0xc8 failed: Bad file descriptor");
	boot_src_close(&s);
}

/* boot_load refuses a non-regular initrd before touching the kernel's data. */
static void test_boot_load_initrd_checks(void **state)
{
	struct fixture *f = *state;
	struct boot_cfg cfg = { .kernel_path = f->path, .initrd_path = "/tmp", .cmdline = "" };
	struct boot_entry out;

	assert_int_equal(boot_load(&f->m, &cfg, &out), -EINVAL);
	expect_err(f, "initrd /tmp: not a regular file");
	cfg.initrd_path = NULL;
	assert_int_equal(boot_load(&f->m, &cfg, &out), -EINVAL);
	expect_err(f, ": not a bzImage or ELF vmlinux");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_file_and_buffer_read_alike),
		T(test_read_past_end),
		T(test_to_guest_outside_ram),
		T(test_open_checks),
		T(test_file_changes_size),
		T(test_read_error),
		T(test_boot_load_initrd_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
