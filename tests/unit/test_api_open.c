/* test_api_open.c - api_open()'s exit status for a bad --api-sock path: the user's (2) when
 * the path is theirs to fix (missing directory, a file that is not a socket, a live socket,
 * a path too long), marked where server.c finds it (util/err.h), not guessed from errno. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/api.h"
#include "core/vmstop.h"
#include "util/log.h"
#include "vmm/vm.h"

static void quiet(enum log_level l, const char *m, void *c)
{
	(void)l; (void)m; (void)c;
}

static int open_status(const char *path)
{
	static struct vm vm;
	struct vm_config cfg = { .nr_cpus = 1 };
	struct api api;
	int status = -1;

	if (api_open(&api, path, &cfg, &vm, false, NULL, &status) == 0) {
		api_close(&api);
		return 0;
	}
	api_close(&api);
	return status;
}

static void test_bad_paths(void **state)
{
	char dir[] = "/tmp/mvm-test-apiopen-XXXXXX", p[256], longp[200];
	struct vm vm;
	struct vm_config cfg = { .nr_cpus = 1 };
	struct api live;
	int status;
	FILE *f;

	(void)state;
	log_set_sink(quiet, NULL);
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/missing/x.sock", dir);
	assert_int_equal(open_status(p), MVM_EXIT_USAGE);
	snprintf(p, sizeof(p), "%s/file", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(open_status(p), MVM_EXIT_USAGE);
	unlink(p);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(open_status(longp), MVM_EXIT_USAGE);
	/* A socket another server is serving. */
	snprintf(p, sizeof(p), "%s/live.sock", dir);
	assert_int_equal(api_open(&live, p, &cfg, &vm, false, NULL, &status), 0);
	assert_int_equal(open_status(p), MVM_EXIT_USAGE);
	api_close(&live);
	/* Its stale file is replaced: that open succeeds. */
	assert_int_equal(open_status(p), 0);
	unlink(p);
	rmdir(dir);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
