/* test_api_migrate.c - PUT /mvm/migrate bodies and migration URIs: accepted and refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/migrate.h"

static int parse(const char *body, struct vm_migrate_params *p, char *err, size_t errlen)
{
	return fc_parse_migrate(body, strlen(body), p, err, errlen);
}

static void test_accepted(void **unused)
{
	struct vm_migrate_params p;
	char err[256] = "";

	assert_int_equal(parse("{\"uri\": \"tcp:127.0.0.1:4444\"}", &p, err, sizeof(err)), 0);
	assert_string_equal(p.uri, "tcp:127.0.0.1:4444");
	assert_int_equal(p.max_downtime_ms, VM_MIGRATE_DEFAULT_DOWNTIME_MS);
	assert_int_equal(p.bandwidth, 0);
	assert_false(p.auto_converge);
	assert_int_equal(parse("{\"uri\": \"unix:/run/m.sock\", \"max_downtime_ms\": 5, "
			       "\"bandwidth_mbps\": 100, \"auto_converge\": true}", &p, err,
			       sizeof(err)), 0);
	assert_int_equal(p.max_downtime_ms, 5);
	assert_int_equal(p.bandwidth, 100000000ull);
	assert_true(p.auto_converge);
	assert_int_equal(parse("{\"uri\": \"tcp:[::1]:80\"}", &p, err, sizeof(err)), 0);
}

static void refused(const char *body, const char *want)
{
	struct vm_migrate_params p;
	char err[256] = "";

	assert_int_not_equal(parse(body, &p, err, sizeof(err)), 0);
	if (!strstr(err, want))
		fail_msg("%s: message '%s' does not name '%s'", body, err, want);
}

static void test_refused(void **unused)
{
	refused("{}", "uri");
	refused("{\"uri\": \"\"}", "uri");
	refused("{\"uri\": \"http://x\"}", "expected tcp:HOST:PORT or unix:PATH");
	refused("{\"uri\": \"tcp:host\"}", "tcp:HOST:PORT");
	refused("{\"uri\": \"tcp:host:port\"}", "not a number");
	refused("{\"uri\": \"tcp:host:70000\"}", "out of range");
	refused("{\"uri\": \"tcp::80\"}", "tcp:HOST:PORT");
	refused("{\"uri\": \"unix:\"}", "path");
	refused("{\"uri\": \"tcp:h:1\", \"max_downtime_ms\": 0}", "max_downtime_ms");
	refused("{\"uri\": \"tcp:h:1\", \"bandwidth_mbps\": -1}", "bandwidth_mbps");
	refused("{\"uri\": \"tcp:h:1\", \"speed\": 1}", "speed");
	refused("{\"uri\": 5}", "uri");
	refused("{\"uri\": \"tcp:h:1\", \"auto_converge\": 1}", "auto_converge");
	refused("[1]", "body");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
