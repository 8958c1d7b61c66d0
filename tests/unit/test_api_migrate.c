/* test_api_migrate.c - PUT /mvm/migrate bodies and migration URIs: accepted and refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/migrate.h"
#include "vmm/vm.h"

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

static int tune(const char *body, struct vm_migrate_tune *t, char *err, size_t errlen)
{
	return fc_parse_migrate_tune(body, strlen(body), t, err, errlen);
}

/* PATCH /mvm/migrate: only the fields given are set; at least one. */
static void test_tune_bodies(void **unused)
{
	struct vm_migrate_tune t;
	char err[256] = "";

	assert_int_equal(tune("{\"bandwidth_mbps\": 5}", &t, err, sizeof(err)), 0);
	assert_true(t.has_bandwidth);
	assert_int_equal(t.bandwidth, 5000000ull);
	assert_false(t.has_downtime);
	assert_false(t.has_auto_converge);
	assert_int_equal(tune("{\"max_downtime_ms\": 300, \"auto_converge\": false, "
			      "\"bandwidth_mbps\": 0}", &t, err, sizeof(err)), 0);
	assert_true(t.has_downtime && t.has_auto_converge && t.has_bandwidth);
	assert_int_equal(t.max_downtime_ms, 300);
	assert_false(t.auto_converge);
	assert_int_equal(t.bandwidth, 0);

	assert_int_not_equal(tune("{}", &t, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "at least one of"));
	assert_int_not_equal(tune("{\"uri\": \"tcp:h:1\"}", &t, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "uri"));
	assert_int_not_equal(tune("{\"max_downtime_ms\": 0}", &t, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "max_downtime_ms"));
	assert_int_not_equal(tune("{\"bandwidth_mbps\": 1000001}", &t, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "bandwidth_mbps"));
	assert_int_not_equal(tune("{\"auto_converge\": \"yes\"}", &t, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "auto_converge"));
}

/* A VM that never started a migration has nothing to tune. */
static void test_tune_without_migration(void **unused)
{
	static struct vm vm;
	struct vm_migrate_tune t = { .has_bandwidth = true, .bandwidth = 1000000 };
	char err[256] = "";

	assert_int_equal(vm_migrate_tune(&vm, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no migration"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_tune_bodies),
		cmocka_unit_test(test_tune_without_migration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
