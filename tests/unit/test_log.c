/* test_log.c - logger.log_path: messages go to a file, with or without levels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static void read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, len - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void test_log_file(void **state)
{
	char path[] = "/tmp/mvm-test-log-XXXXXX", buf[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_set_file(path, false), 0);
	log_err("disk %s is gone", "a.img");
	log_debug("not shown at the default level");
	assert_int_equal(log_set_file(path, true), 0);
	log_warn("second line");
	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "mvm: disk a.img is gone\nmvm: WARN: second line\n");
	assert_true(log_set_file("/nonexistent-dir/x.log", false) < 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_log_file) };

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
