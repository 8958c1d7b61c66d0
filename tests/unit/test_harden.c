/* test_harden.c - the process is not dumpable unless --dumpable asked for it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/harden.h"

/* In a child, so the test process keeps its own flag: exit status is
 * harden_process()'s result (0) + 10 * PR_GET_DUMPABLE after it. */
static int dumpable_after(bool dumpable)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int ret = harden_process(dumpable);

		_exit(ret ? 99 : 10 * prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_not_dumpable_by_default(void **state)
{
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	assert_int_equal(dumpable_after(false), 0);
}

static void test_dumpable_when_asked(void **state)
{
	assert_int_equal(dumpable_after(true), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_dumpable_by_default),
		cmocka_unit_test(test_dumpable_when_asked),
	};

	return cmocka_run_group_tests_name("harden", tests, NULL, NULL);
}
