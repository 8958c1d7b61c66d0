/* test_log.c - logger.log_path (levels, file mode, links refused) and rate-limited messages. */
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
#include <sys/stat.h>
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

/* A log file mvm creates is its own: 0600 whatever the umask. */
static void test_log_file_mode(void **state)
{
	char dir[] = "/tmp/mvm-test-logdir-XXXXXX", path[64];
	struct stat st;
	mode_t old = umask(0);

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/new.log", dir);
	assert_int_equal(log_set_file(path, false), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	unlink(path);
	rmdir(dir);
}

/* A link planted at the log path is refused, and its target is untouched. */
static void test_log_file_symlink(void **state)
{
	char dir[] = "/tmp/mvm-test-logdir-XXXXXX", link[64], target[64], buf[64];
	int ret;

	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/mvm.log", dir);
	snprintf(target, sizeof(target), "%s/victim", dir);
	assert_int_equal(symlink(target, link), 0);   /* dangling: O_CREAT would make it */
	ret = log_set_file(link, false);
	assert_int_equal(ret, -ELOOP);
	assert_non_null(strstr(log_file_strerror(ret), "symbolic link"));
	assert_int_equal(access(target, F_OK), -1);
	/* An existing target is not appended to either. */
	close(open(target, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(log_set_file(link, false), -ELOOP);
	log_err("must not reach the victim");
	read_file(target, buf, sizeof(buf));
	assert_string_equal(buf, "");
	unlink(link);
	unlink(target);
	rmdir(dir);
}

struct lines {
	int n;
	char last[256];
	char prev[256];
};

static void count_sink(enum log_level level, const char *msg, void *ctx)
{
	struct lines *l = ctx;

	l->n++;
	snprintf(l->prev, sizeof(l->prev), "%s", l->last);
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

static void guest_caused(int i)
{
	log_warn_rl("device: driver error %d", i);
}

/* One call site: a burst, then silence, then one message per period with
 * the count of what was dropped before it. */
static void test_log_ratelimited(void **state)
{
	struct lines l = { 0 };

	log_set_file("/dev/null", false);   /* undo the earlier tests' files */
	log_set_sink(count_sink, &l);
	log_rl_set_clock(fake_clock);
	fake_now = 1000000000ull;
	log_rl_reset();
	for (int i = 0; i < 2000; i++)
		guest_caused(i);
	assert_int_equal(l.n, LOG_RL_BURST);
	assert_string_equal(l.last, "device: driver error 9");
	/* Another site has its own budget. */
	log_warn_rl("other site");
	assert_int_equal(l.n, LOG_RL_BURST + 1);
	/* One period later: one message passes, after the count of the dropped. */
	fake_now += LOG_RL_PERIOD_S * 1000000000ull;
	guest_caused(2000);
	guest_caused(2001);
	assert_int_equal(l.n, LOG_RL_BURST + 3);
	assert_string_equal(l.prev, "(1990 similar messages suppressed)");
	assert_string_equal(l.last, "device: driver error 2000");
	/* A level that hides the message spends no budget. */
	log_rl_reset();
	l.n = 0;
	for (int i = 0; i < 100; i++)
		log_debug_rl("hidden %d", i);
	log_set_level(LOG_DEBUG);
	for (int i = 0; i < 100; i++)
		log_debug_rl("hidden %d", i);
	log_set_level(LOG_INFO);
	assert_int_equal(l.n, LOG_RL_BURST);
	log_rl_set_clock(NULL);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_file),
		cmocka_unit_test(test_log_file_mode),
		cmocka_unit_test(test_log_file_symlink),
		cmocka_unit_test(test_log_ratelimited),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
