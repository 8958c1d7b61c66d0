/* test_fc_ratelimit.c - Firecracker's rate limiters in the config file and the API:
 * every bucket field parsed, bad buckets refused with the field named, GET /vm/config
 * shows them as configured (and parses back the same), PATCH /drives and
 * PATCH /network-interfaces bodies (unknown id, bad body, partial updates). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "api/fc_config.h"
#include "api/fc_patch.h"
#include "api/http.h"
#include "api/server.h"
#include "api_route.h"
#include "util/log.h"

static char err[FC_ERR_MAX + 256];

static void quiet(enum log_level l, const char *m, void *c)
{
}

static int setup(void **state)
{
	err[0] = 0;
	log_set_sink(quiet, NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_sink(NULL, NULL);
	return 0;
}

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/k\"}"
#define DRIVE(rl) "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/a\", " \
	"\"is_root_device\": true" rl "}"
#define NET(rl) "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"" rl "}"

static int parse(struct vm_config *cfg, const char *text)
{
	fc_config_defaults(cfg);
	err[0] = 0;
	return fc_config_parse(text, strlen(text), cfg, err, sizeof(err));
}

static void assert_bucket(const struct tbucket_cfg *b, uint64_t size, uint64_t burst,
			  uint64_t refill)
{
	assert_int_equal(b->size, size);
	assert_int_equal(b->one_time_burst, burst);
	assert_int_equal(b->refill_time_ms, refill);
}

/* Every limiter of the schema lands in its device's config. */
static void test_parse_all(void **st)
{
	struct vm_config cfg;
	const char *doc = "{" BOOT ", \"drives\": [" DRIVE(", \"rate_limiter\": {\"bandwidth\": "
		"{\"size\": 1048576, \"one_time_burst\": 4096, \"refill_time\": 100}, "
		"\"ops\": {\"size\": 50, \"refill_time\": 1000}}") "], "
		"\"network-interfaces\": [" NET(", \"rx_rate_limiter\": {\"bandwidth\": {\"size\": "
		"1000, \"refill_time\": 10}}, \"tx_rate_limiter\": {\"ops\": {\"size\": 7, "
		"\"refill_time\": 70}}") "], "
		"\"entropy\": {\"rate_limiter\": {\"bandwidth\": {\"size\": 64, \"refill_time\": 1000}}}}";

	assert_int_equal(parse(&cfg, doc), 0);
	assert_bucket(&cfg.disks[0].rate_limiter.bandwidth, 1048576, 4096, 100);
	assert_bucket(&cfg.disks[0].rate_limiter.ops, 50, 0, 1000);
	assert_bucket(&cfg.net_rx_rl[0].bandwidth, 1000, 0, 10);
	assert_false(tbucket_cfg_on(&cfg.net_rx_rl[0].ops));
	assert_bucket(&cfg.net_tx_rl[0].ops, 7, 0, 70);
	assert_false(tbucket_cfg_on(&cfg.net_tx_rl[0].bandwidth));
	assert_true(cfg.rng);
	assert_bucket(&cfg.rng_rl.bandwidth, 64, 0, 1000);
	vm_config_release(&cfg);
}

/* GET /vm/config shows the limiters as configured, and parses back the same. */
static void test_emit_roundtrip(void **st)
{
	struct vm_config a, b;
	const char *doc = "{" BOOT ", \"drives\": [" DRIVE(", \"rate_limiter\": {\"bandwidth\": "
		"{\"size\": 5000, \"one_time_burst\": 10, \"refill_time\": 100}}") "], "
		"\"network-interfaces\": [" NET(", \"tx_rate_limiter\": {\"ops\": {\"size\": 3, "
		"\"refill_time\": 30}}") "], \"entropy\": {}}";
	char *json;

	assert_int_equal(parse(&a, doc), 0);
	json = fc_config_to_json(&a);
	assert_non_null(json);
	/* Compare without the pretty-printer's white space. */
	char *flat = strdup(json), *w = flat;

	for (const char *r = json; *r; r++)
		if (*r != ' ' && *r != '\n')
			*w++ = *r;
	*w = 0;
	assert_non_null(strstr(flat, "\"rate_limiter\":{\"bandwidth\":{\"size\":5000,"
			       "\"one_time_burst\":10,\"refill_time\":100}}"));
	assert_non_null(strstr(flat, "\"tx_rate_limiter\":{\"ops\":{\"size\":3,"
			       "\"one_time_burst\":0,\"refill_time\":30}}"));
	assert_null(strstr(flat, "rx_rate_limiter"));   /* none configured */
	free(flat);
	assert_int_equal(parse(&b, json), 0);
	assert_memory_equal(&a.disks[0].rate_limiter, &b.disks[0].rate_limiter,
			    sizeof(struct rlim_cfg));
	assert_memory_equal(&a.net_tx_rl[0], &b.net_tx_rl[0], sizeof(struct rlim_cfg));
	assert_memory_equal(&a.rng_rl, &b.rng_rl, sizeof(struct rlim_cfg));
	free(json);
	vm_config_release(&a);
	vm_config_release(&b);
}

static void refused(const char *text, const char *msg)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, text), -EINVAL);
	if (strcmp(err, msg))
		fail_msg("for %s\n  got  '%s'\n  want '%s'", text, err, msg);
	vm_config_release(&cfg);
}

static void test_bad_buckets(void **st)
{
	refused("{" BOOT ", \"drives\": [" DRIVE(", \"rate_limiter\": {\"bandwidth\": "
		"{\"size\": -1, \"refill_time\": 100}}") "]}",
		"drives[0].rate_limiter.bandwidth.size: -1 is out of range (0 to "
		"9223372036854775807)");
	refused("{" BOOT ", \"drives\": [" DRIVE(", \"rate_limiter\": {\"bandwidth\": "
		"{\"size\": 1, \"refill_time\": \"fast\"}}") "]}",
		"drives[0].rate_limiter.bandwidth.refill_time: expected an integer, got string");
	refused("{" BOOT ", \"drives\": [" DRIVE(", \"rate_limiter\": {\"iops\": {}}") "]}",
		"drives[0].rate_limiter.iops: unknown field");
	refused("{" BOOT ", \"drives\": [" DRIVE(", \"rate_limiter\": {\"ops\": {\"size\": 1, "
		"\"refill_time\": 1, \"burst\": 2}}") "]}",
		"drives[0].rate_limiter.ops.burst: unknown field");
	refused("{" BOOT ", \"network-interfaces\": [" NET(", \"rx_rate_limiter\": 5") "]}",
		"network-interfaces[0].rx_rate_limiter: expected an object, got integer");
	refused("{" BOOT ", \"entropy\": {\"rate_limiter\": {\"ops\": []}}}",
		"entropy.rate_limiter.ops: expected an object, got array");
}

static void started_cfg(struct vm_config *cfg)
{
	assert_int_equal(parse(cfg, "{" BOOT ", \"drives\": [" DRIVE(", \"rate_limiter\": "
			       "{\"ops\": {\"size\": 10, \"refill_time\": 100}}") "], "
			       "\"network-interfaces\": [" NET("") "]}"), 0);
}

static int patch_drive(struct vm_config *cfg, const char *id, const char *body,
		       struct fc_drive_patch *p)
{
	struct json_object *doc = NULL;
	int ret;

	err[0] = 0;
	ret = fc_parse_drive_patch(cfg, id, body, strlen(body), &doc, p, err, sizeof(err));
	if (!ret)
		assert_int_equal(fc_commit_drive_patch(cfg, p), 0);
	json_object_put(doc);
	return ret;
}

static int patch_net(struct vm_config *cfg, const char *id, const char *body,
		     struct fc_net_patch *p)
{
	struct json_object *doc = NULL;
	int ret;

	err[0] = 0;
	ret = fc_parse_net_patch(cfg, id, body, strlen(body), &doc, p, err, sizeof(err));
	if (!ret)
		fc_commit_net_patch(cfg, p);
	json_object_put(doc);
	return ret;
}

/* PATCH /drives: a bucket given replaces the configured one, one left out stays;
 * size 0 turns a bucket off; path_on_host is taken; the rest is refused. */
static void test_patch_drive(void **st)
{
	struct vm_config cfg;
	struct fc_drive_patch p;

	started_cfg(&cfg);
	assert_int_equal(patch_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", \"rate_limiter\": "
				     "{\"bandwidth\": {\"size\": 100, \"refill_time\": 10}}}", &p), 0);
	assert_int_equal(p.index, 0);
	assert_null(p.path);
	assert_true(p.rl.has_bandwidth);
	assert_false(p.rl.has_ops);
	assert_bucket(&cfg.disks[0].rate_limiter.bandwidth, 100, 0, 10);
	assert_bucket(&cfg.disks[0].rate_limiter.ops, 10, 0, 100);   /* kept */
	assert_int_equal(patch_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", \"rate_limiter\": "
				     "{\"ops\": {\"size\": 0, \"refill_time\": 0}}}", &p), 0);
	assert_false(tbucket_cfg_on(&cfg.disks[0].rate_limiter.ops));
	assert_int_equal(patch_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", "
				     "\"path_on_host\": \"/b\"}", &p), 0);
	assert_string_equal(cfg.disks[0].path, "/b");
	assert_false(p.rl.has_bandwidth || p.rl.has_ops);

	assert_int_equal(patch_drive(&cfg, "data", "{\"drive_id\": \"data\"}", &p), -EINVAL);
	assert_string_equal(err, "drive_id: no drive 'data' (drives are added with PUT "
			    "/drives/data before InstanceStart)");
	assert_int_equal(patch_drive(&cfg, "rootfs", "{\"drive_id\": \"other\"}", &p), -EINVAL);
	assert_string_equal(err, "drive_id: 'other' does not match the id 'rootfs' in the path");
	assert_int_equal(patch_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", "
				     "\"is_read_only\": true}", &p), -EINVAL);
	assert_string_equal(err, "is_read_only: unknown field");
	assert_int_equal(patch_drive(&cfg, "rootfs", "{\"path_on_host\": \"/c\"}", &p), -EINVAL);
	assert_string_equal(err, "drive_id: required");
	assert_int_equal(patch_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", "
				     "\"path_on_host\": \"\"}", &p), -EINVAL);
	assert_string_equal(err, "path_on_host: must not be empty");
	assert_int_equal(patch_drive(&cfg, "rootfs", "[1]", &p), -EINVAL);
	assert_string_equal(cfg.disks[0].path, "/b");   /* nothing refused was stored */
	vm_config_release(&cfg);
}

static void test_patch_net(void **st)
{
	struct vm_config cfg;
	struct fc_net_patch p;

	started_cfg(&cfg);
	assert_int_equal(patch_net(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"tx_rate_limiter\": "
				   "{\"bandwidth\": {\"size\": 125000, \"refill_time\": 100}}}", &p), 0);
	assert_int_equal(p.index, 0);
	assert_true(p.tx.has_bandwidth);
	assert_false(p.rx.has_bandwidth || p.rx.has_ops);
	assert_bucket(&cfg.net_tx_rl[0].bandwidth, 125000, 0, 100);
	assert_false(rlim_cfg_on(&cfg.net_rx_rl[0]));
	assert_int_equal(patch_net(&cfg, "eth1", "{\"iface_id\": \"eth1\"}", &p), -EINVAL);
	assert_string_equal(err, "iface_id: no network interface 'eth1' (interfaces are added "
			    "with PUT /network-interfaces/eth1 before InstanceStart)");
	assert_int_equal(patch_net(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"guest_mac\": "
				   "\"02:00:00:00:00:01\"}", &p), -EINVAL);
	assert_string_equal(err, "guest_mac: unknown field");
	assert_int_equal(patch_net(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": "
				   "{\"ops\": {\"size\": 1}}}", &p), -EINVAL);
	assert_string_equal(err, "rx_rate_limiter.ops.refill_time: required");
	vm_config_release(&cfg);
}

/* The routes: PATCH before InstanceStart is refused as Firecracker refuses it; after it,
 * an unknown id or a bad body is a 400 with a fault_message, before the VM is touched. */
static void test_patch_routes(void **st)
{
	struct vm_config cfg;
	struct api_vmm a = { .cfg = &cfg };
	char fault[512];

	started_cfg(&cfg);
	assert_int_equal(route(&a, "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\"}", fault,
			       sizeof(fault)), 400);
	assert_non_null(strstr(fault, "not supported before starting the microVM"));
	assert_int_equal(route(&a, "PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\"}",
			       fault, sizeof(fault)), 400);
	assert_non_null(strstr(fault, "not supported before starting the microVM"));
	a.started = true;   /* no VM behind it: every request below must stop before it */
	assert_int_equal(route(&a, "PATCH", "/drives/data", "{\"drive_id\": \"data\"}", fault,
			       sizeof(fault)), 400);
	assert_non_null(strstr(fault, "\"fault_message\":\"drive_id: no drive 'data'"));
	assert_int_equal(route(&a, "PATCH", "/drives/rootfs", "{\"drive_id\": 1}", fault,
			       sizeof(fault)), 400);
	assert_non_null(strstr(fault, "drive_id: expected a string"));
	assert_int_equal(route(&a, "PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", "
			       "\"tx_rate_limiter\": {\"bandwidth\": {\"size\": -5, "
			       "\"refill_time\": 1}}}", fault, sizeof(fault)), 400);
	assert_non_null(strstr(fault, "tx_rate_limiter.bandwidth.size"));
	assert_int_equal(route(&a, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			       "\"path_on_host\": \"/x\", \"is_root_device\": true}", fault,
			       sizeof(fault)), 400);
	assert_non_null(strstr(fault, "not supported after starting the microVM"));
	vm_config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emit_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_drive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_routes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
