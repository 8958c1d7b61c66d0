/* test_fc_config.c - Firecracker JSON config <-> vm_config: every field,
 * every error class with its text, root ordering, apply functions, round trip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/fc_config.h"
#include "api/fc_resources.h"
#include "util/log.h"

static char err[FC_ERR_MAX];
static char last_log[512];

static void capture(enum log_level l, const char *m, void *c)
{
	snprintf(last_log, sizeof(last_log), "%s", m);
}

static int setup(void **state)
{
	err[0] = last_log[0] = 0;
	log_set_sink(capture, NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_sink(NULL, NULL);
	return 0;
}

static int parse(struct vm_config *cfg, const char *text)
{
	fc_config_defaults(cfg);
	err[0] = 0;
	return fc_config_parse(text, strlen(text), cfg, err, sizeof(err));
}

/* The document must be refused with exactly this message. */
static void refused(const char *text, const char *msg)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, text), -EINVAL);
	if (strcmp(err, msg))
		fail_msg("for %s\n  got  '%s'\n  want '%s'", text, err, msg);
	vm_config_release(&cfg);
}

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/k\"}"

static const char full[] =
	"{\n"
	"  \"boot-source\": {\"kernel_image_path\": \"/img/vmlinuz\", \"initrd_path\": \"/img/initrd\",\n"
	"                  \"boot_args\": \"console=ttyS0 mvmtest=poweroff\"},\n"
	"  \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 512, \"smt\": false,\n"
	"                     \"track_dirty_pages\": false, \"cpu_template\": \"None\", \"huge_pages\": \"None\"},\n"
	"  \"drives\": [\n"
	"    {\"drive_id\": \"data\", \"path_on_host\": \"/img/data.raw\", \"is_root_device\": false,\n"
	"     \"cache_type\": \"Writeback\", \"io_engine\": \"Async\", \"rate_limiter\": {}},\n"
	"    {\"drive_id\": \"rootfs\", \"path_on_host\": \"/img/root.ext4\", \"is_root_device\": true,\n"
	"     \"is_read_only\": true, \"partuuid\": null}\n"
	"  ],\n"
	"  \"network-interfaces\": [\n"
	"    {\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"06:00:ac:10:00:02\"},\n"
	"    {\"iface_id\": \"eth1\", \"mvm_user\": {\"hostfwd\": [\"tcp::8080-:80\", \"udp::5353-:53\"]}}\n"
	"  ],\n"
	"  \"entropy\": {},\n"
	"  \"logger\": {\"log_path\": \"/tmp/fc.log\", \"level\": \"debug\", \"show_level\": true,\n"
	"             \"show_log_origin\": false},\n"
	"  \"metrics\": {\"metrics_path\": \"/tmp/metrics.fifo\"},\n"
	"  \"vsock\": null,\n"
	"  \"mvm-console\": \"virtio\",\n"
	"  \"mvm-debug-exit\": true,\n"
	"  \"mvm-pc-testdev\": true\n"
	"}\n";

static void test_full_config(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, full), 0);
	assert_string_equal(cfg.kernel_path, "/img/vmlinuz");
	assert_string_equal(cfg.initrd_path, "/img/initrd");
	assert_string_equal(cfg.cmdline, "console=ttyS0 mvmtest=poweroff");
	assert_int_equal(cfg.nr_cpus, 2);
	assert_int_equal(cfg.mem_size, 512ULL << 20);
	assert_false(cfg.track_dirty_pages);
	/* The root device comes first whatever the file's order. */
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].drive_id, "rootfs");
	assert_string_equal(cfg.disks[0].path, "/img/root.ext4");
	assert_true(cfg.disks[0].is_root);
	assert_true(cfg.disks[0].read_only);
	assert_null(cfg.disks[0].partuuid);
	assert_null(cfg.disks[0].id);
	assert_string_equal(cfg.disks[1].drive_id, "data");
	assert_false(cfg.disks[1].read_only);
	/* cache_type and io_engine are kept as given, for GET /vm/config. */
	assert_string_equal(fc_cache_types[cfg.disks[1].fc_cache], "Writeback");
	assert_string_equal(fc_io_engines[cfg.disks[1].fc_engine], "Async");
	assert_string_equal(fc_io_engines[cfg.disks[0].fc_engine], "Sync");
	assert_string_equal(fc_cache_types[cfg.disks[0].fc_cache], "Unsafe");
	assert_int_equal(cfg.nr_nets, 2);
	assert_string_equal(cfg.net_ids[0], "eth0");
	assert_string_equal(cfg.nets[0], "tap=tap0,mac=06:00:ac:10:00:02");
	assert_string_equal(cfg.net_ids[1], "eth1");
	assert_string_equal(cfg.nets[1], "user,hostfwd=tcp::8080-:80,hostfwd=udp::5353-:53");
	assert_true(cfg.rng);
	assert_string_equal(cfg.log_path, "/tmp/fc.log");
	assert_true(cfg.log_level_set);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_true(cfg.log_show_level);
	assert_false(cfg.log_show_origin);
	assert_string_equal(cfg.metrics_path, "/tmp/metrics.fifo");
	assert_int_equal(cfg.console, VM_CONSOLE_VIRTIO);
	assert_true(cfg.debug_exit);
	assert_true(cfg.pc_testdev);
	vm_config_release(&cfg);
	assert_null(cfg.kernel_path);
	assert_int_equal(cfg.nr_disks, 0);
	assert_null(cfg.nets[0]);
	assert_int_equal(cfg.owned, 0);
}

static void test_minimal_defaults(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "{" BOOT "}"), 0);
	assert_string_equal(cfg.kernel_path, "/k");
	assert_null(cfg.initrd_path);
	assert_false(cfg.debug_exit);   /* the guest cannot pick mvm's status unless asked */
	assert_null(cfg.cmdline);
	assert_int_equal(cfg.nr_cpus, 1);
	assert_int_equal(cfg.mem_size, 128ULL << 20);   /* Firecracker's default */
	assert_int_equal(cfg.nr_disks, 0);
	assert_int_equal(cfg.nr_nets, 0);
	assert_false(cfg.rng);
	assert_false(cfg.log_level_set);
	assert_int_equal(cfg.console, VM_CONSOLE_SERIAL);
	vm_config_release(&cfg);
}

static void test_not_json(void **state)
{
	refused("", "config: empty (expected a JSON object)");
	refused(" \n\t", "config: empty (expected a JSON object)");
	refused("[1, 2]", "config: expected a JSON object, got array");
	refused("\"boot-source\"", "config: expected a JSON object, got string");
	refused("{\"boot-source\": {", "config: not valid JSON at byte 17: unexpected end of input");
	refused("{" BOOT "} x", "config: not valid JSON at byte 45: unexpected character");
	refused("{" BOOT ",}", "config: not valid JSON at byte 44: unexpected character");
	/* json-c's leniencies, refused: single quotes, NaN, raw control bytes. */
	refused("{'a': 1}", "config: not valid JSON at byte 1: unexpected character");
	refused("{\"a\": NaN}", "config: not valid JSON at byte 6: unexpected character");
	refused("{\"a\": \"x\ty\"}", "config: not valid JSON at byte 8: unexpected character");
	/* Deeper than any schema object: refused by the depth bound. */
	refused("{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}",
		"config: not valid JSON at byte 12: nesting too deep");
}

static void test_nul_and_utf8(void **state)
{
	struct vm_config cfg;
	static const char nul[] = "{\"boot-source\": {\"kernel_image_path\": \"/k\"}}\0";
	static const char bad_utf8[] = "{\"boot-source\": {\"kernel_image_path\": \"/\xff\"}}";

	fc_config_defaults(&cfg);
	assert_int_equal(fc_config_parse(nul, sizeof(nul) - 1, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "config: contains a NUL byte");
	assert_int_equal(fc_config_parse(bad_utf8, strlen(bad_utf8), &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not valid JSON"));
	vm_config_release(&cfg);
}

static void test_unknown_fields(void **state)
{
	refused("{" BOOT ", \"boot-sauce\": {}}", "boot-sauce: unknown field");
	refused("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"initrd\": \"/i\"}}",
		"boot-source.initrd: unknown field");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": false}, {\"drive_id\": \"b\", \"path_on_hots\": \"/b\", "
		"\"is_root_device\": false}]}", "drives[1].path_on_hots: unknown field");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"mvm_user\": "
		"{\"hostfw\": []}}]}", "network-interfaces[0].mvm_user.hostfw: unknown field");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64, "
		"\"vcpus\": 2}}", "machine-config.vcpus: unknown field");
}

/* A key or value echoed in a message keeps the message one line: control
 * characters (JSON escapes such as \n or \u001b) come out as '?'. Found by
 * tests/fuzz/fuzz_config (corpus/config/crash-newline-in-key). */
static void test_message_one_line(void **state)
{
	refused("{" BOOT ", \"drives\": [{\"io_\\ngine\": 1}]}", "drives[0].io_?gine: unknown field");
	refused("{" BOOT ", \"x\\u001b[2J\\r\": 1}", "x?[2J?: unknown field");
}

static void test_wrong_types(void **state)
{
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": \"2\", \"mem_size_mib\": 64}}",
		"machine-config.vcpu_count: expected an integer, got string");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2.0, \"mem_size_mib\": 64}}",
		"machine-config.vcpu_count: expected an integer, got number");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64, "
		"\"smt\": 0}}", "machine-config.smt: expected a boolean, got integer");
	refused("{\"boot-source\": {\"kernel_image_path\": 7}}",
		"boot-source.kernel_image_path: expected a string, got integer");
	refused("{\"boot-source\": []}", "boot-source: expected an object, got array");
	refused("{" BOOT ", \"drives\": {}}", "drives: expected an array, got object");
	refused("{" BOOT ", \"drives\": [\"/a\"]}", "drives[0]: expected an object, got string");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": \"yes\"}]}",
		"drives[0].is_root_device: expected a boolean, got string");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"mvm_user\": "
		"{\"hostfwd\": [80]}}]}",
		"network-interfaces[0].mvm_user.hostfwd[0]: expected a string, got integer");
	refused("{" BOOT ", \"mvm-console\": true}", "mvm-console: expected a string, got boolean");
	refused("{" BOOT ", \"mvm-debug-exit\": 1}",
		"mvm-debug-exit: expected a boolean, got integer");
	refused("{" BOOT ", \"mvm-pc-testdev\": \"yes\"}",
		"mvm-pc-testdev: expected a boolean, got string");
}

static void test_missing_required(void **state)
{
	refused("{}", "boot-source: required");
	refused("{\"boot-source\": null}", "boot-source: required");
	refused("{\"boot-source\": {}}", "boot-source.kernel_image_path: required");
	refused("{\"boot-source\": {\"kernel_image_path\": null}}",
		"boot-source.kernel_image_path: required");
	refused("{\"boot-source\": {\"kernel_image_path\": \"\"}}",
		"boot-source.kernel_image_path: must not be empty");
	refused("{" BOOT ", \"machine-config\": {\"mem_size_mib\": 64}}",
		"machine-config.vcpu_count: required");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1}}",
		"machine-config.mem_size_mib: required");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"is_root_device\": false}]}",
		"drives[0].path_on_host: required");
	refused("{" BOOT ", \"drives\": [{\"path_on_host\": \"/a\", \"is_root_device\": false}]}",
		"drives[0].drive_id: required");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\"}]}",
		"drives[0].is_root_device: required");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\"}]}",
		"network-interfaces[0].host_dev_name: required (or mvm_user for user networking)");
	refused("{" BOOT ", \"metrics\": {}}", "metrics.metrics_path: required");
}

static void test_ranges(void **state)
{
	struct vm_config cfg;

	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 64}}",
		"machine-config.vcpu_count: 0 is out of range (1 to 255)");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 256, \"mem_size_mib\": 64}}",
		"machine-config.vcpu_count: 256 is out of range (1 to 255)");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 8}}",
		"machine-config.mem_size_mib: 8 is out of range (16 to 1048576)");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": -1}}",
		"machine-config.mem_size_mib: -1 is out of range (16 to 1048576)");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, "
		"\"mem_size_mib\": 18446744073709551615}}",
		"machine-config.mem_size_mib: 18446744073709551615 is out of range (16 to 1048576)");
	/* Past Firecracker's 32, up to what mvm's MADT allows. */
	assert_int_equal(parse(&cfg, "{" BOOT ", \"machine-config\": {\"vcpu_count\": 255, "
			       "\"mem_size_mib\": 1048576}}"), 0);
	assert_int_equal(cfg.nr_cpus, 255);
	assert_int_equal(cfg.mem_size, 1ULL << 40);
	vm_config_release(&cfg);
}

static void test_unsupported_features(void **state)
{
	struct vm_config cfg;

	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64, "
		"\"smt\": true}}", "machine-config.smt: true is not supported (mvm gives each vCPU "
		"its own core; set false or leave it out)");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64, "
		"\"cpu_template\": \"T2\"}}", "machine-config.cpu_template: 'T2' is not supported "
		"(mvm passes the host's CPUID through; use \"None\")");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64, "
		"\"cpu_template\": \"Z9\"}}", "machine-config.cpu_template: 'Z9' is not one of "
		"None, C3, T2, T2S, T2CL, T2A, V1N1");
	refused("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64, "
		"\"huge_pages\": \"2M\"}}", "machine-config.huge_pages: '2M' is not supported "
		"(mvm backs guest RAM with 4K pages; use \"None\")");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": false, \"rate_limiter\": {\"ops\": {\"size\": 1}}}]}",
		"drives[0].rate_limiter.ops.refill_time: required");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"socket\": \"/s\", "
		"\"is_root_device\": false}]}", "drives[0].socket: vhost-user block devices are not "
		"supported by mvm (give path_on_host)");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": false, \"cache_type\": \"Fast\"}]}",
		"drives[0].cache_type: 'Fast' is not one of Unsafe, Writeback");
	refused("{" BOOT ", \"pmem\": [{\"id\": \"p\", \"path_on_host\": \"/p\"}]}",
		"pmem: not supported by mvm");
	/* An empty list describes no device; null is no device either. */
	assert_int_equal(parse(&cfg, "{" BOOT ", \"pmem\": [], \"network-interfaces\": [], "
			       "\"drives\": [], \"vsock\": null, \"balloon\": null, \"cpu-config\": null, "
			       "\"mmds-config\": null, \"memory-hotplug\": null, \"serial\": null}"), 0);
	assert_int_equal(cfg.nr_disks, 0);
	assert_int_equal(cfg.nr_nets, 0);
	vm_config_release(&cfg);
	/* track_dirty_pages is taken (Diff snapshots), without a warning now. */
	assert_int_equal(parse(&cfg, "{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, "
			       "\"mem_size_mib\": 64, \"track_dirty_pages\": true}}"), 0);
	assert_true(cfg.track_dirty_pages);
	assert_null(strstr(last_log, "track_dirty_pages"));
	vm_config_release(&cfg);
}

static void test_ids_and_duplicates(void **state)
{
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a b\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": false}]}",
		"drives[0].drive_id: 'a b' may only hold letters, digits and '_'");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": false}, {\"drive_id\": \"a\", \"path_on_host\": \"/b\", "
		"\"is_root_device\": false}]}", "drives[1].drive_id: 'a' is given twice");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": true}, {\"drive_id\": \"b\", \"path_on_host\": \"/b\", "
		"\"is_root_device\": true}]}", "drives[1].is_root_device: drive 'a' is already the "
		"root device (only one may be)");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": "
		"\"tap0\"}, {\"iface_id\": \"m\", \"host_dev_name\": \"tap0\"}]}",
		"network-interfaces[1].host_dev_name: 'tap0' is already used by another interface");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": "
		"\"tap0\", \"mvm_user\": {}}]}", "network-interfaces[0]: give host_dev_name (a TAP "
		"device) or mvm_user (user networking), not both");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": "
		"\"tap0\", \"guest_mac\": \"01:00:00:00:00:01\"}]}",
		"network-interfaces[0].guest_mac: '01:00:00:00:00:01' is a multicast address "
		"(first byte odd)");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": "
		"\"tap0\", \"guest_mac\": \"06:00:00:00:00\"}]}",
		"network-interfaces[0].guest_mac: '06:00:00:00:00' is not a MAC address "
		"(xx:xx:xx:xx:xx:xx)");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": "
		"\"tap0,mac=x\"}]}", "network-interfaces[0].host_dev_name: 'tap0,mac=x' is not a "
		"network interface name (1 to 15 characters, no ',', '/', ':' or spaces)");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"mvm_user\": "
		"{\"hostfwd\": [\"tcp:8080:80\"]}}]}", "network-interfaces[0].mvm_user.hostfwd[0]: "
		"'tcp:8080:80' is not a forwarding rule "
		"(tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)");
	refused("{" BOOT ", \"drives\": [{\"drive_id\": \"r\", \"path_on_host\": \"/a\", "
		"\"is_root_device\": true, \"partuuid\": \"ab init=/bin/sh\"}]}",
		"drives[0].partuuid: 'ab init=/bin/sh' is not a partition UUID");
}

static void test_limits(void **state)
{
	char doc[4096];
	size_t n;

	n = (size_t)snprintf(doc, sizeof(doc), "{" BOOT ", \"drives\": [");
	for (int i = 0; i <= VM_MAX_DISKS; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s{\"drive_id\": \"d%d\", "
				      "\"path_on_host\": \"/d\", \"is_root_device\": false}",
				      i ? ", " : "", i);
	snprintf(doc + n, sizeof(doc) - n, "]}");
	refused(doc, "drives[8]: at most 8 drives");
	n = (size_t)snprintf(doc, sizeof(doc), "{" BOOT ", \"network-interfaces\": [");
	for (int i = 0; i <= VM_MAX_NETS; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s{\"iface_id\": \"n%d\", "
				      "\"mvm_user\": {}}", i ? ", " : "", i);
	snprintf(doc + n, sizeof(doc) - n, "]}");
	refused(doc, "network-interfaces[4]: at most 4 network interfaces");
}

static void test_root_cmdline(void **state)
{
	struct vm_config cfg;

	/* rw root, boot_args given: root= appended. */
	assert_int_equal(parse(&cfg, "{\"boot-source\": {\"kernel_image_path\": \"/k\", "
			       "\"boot_args\": \"console=ttyS0\"}, \"drives\": ["
			       "{\"drive_id\": \"d\", \"path_on_host\": \"/d\", \"is_root_device\": false},"
			       "{\"drive_id\": \"r\", \"path_on_host\": \"/r\", \"is_root_device\": true}]}"), 0);
	assert_string_equal(cfg.disks[0].drive_id, "r");
	assert_int_equal(fc_config_finalize(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.cmdline, "console=ttyS0 root=/dev/vda rw");
	/* Idempotent. */
	assert_int_equal(fc_config_finalize(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.cmdline, "console=ttyS0 root=/dev/vda rw");
	vm_config_release(&cfg);

	/* No boot_args: mvm's default line, ro and PARTUUID. */
	assert_int_equal(parse(&cfg, "{" BOOT ", \"drives\": [{\"drive_id\": \"r\", "
			       "\"path_on_host\": \"/r\", \"is_root_device\": true, \"is_read_only\": true, "
			       "\"partuuid\": \"0eb1b3c5-01\"}]}"), 0);
	assert_int_equal(fc_config_finalize(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.cmdline, VM_DEFAULT_CMDLINE " root=PARTUUID=0eb1b3c5-01 ro");
	vm_config_release(&cfg);

	/* boot_args naming a root: left alone; "noroot=" is not a root. */
	assert_int_equal(parse(&cfg, "{\"boot-source\": {\"kernel_image_path\": \"/k\", "
			       "\"boot_args\": \"root=/dev/vdb\"}, \"drives\": [{\"drive_id\": \"r\", "
			       "\"path_on_host\": \"/r\", \"is_root_device\": true}]}"), 0);
	assert_int_equal(fc_config_finalize(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.cmdline, "root=/dev/vdb");
	vm_config_release(&cfg);
	assert_int_equal(parse(&cfg, "{\"boot-source\": {\"kernel_image_path\": \"/k\", "
			       "\"boot_args\": \"noroot=1\"}, \"drives\": [{\"drive_id\": \"r\", "
			       "\"path_on_host\": \"/r\", \"is_root_device\": true}]}"), 0);
	assert_int_equal(fc_config_finalize(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.cmdline, "noroot=1 root=/dev/vda rw");
	vm_config_release(&cfg);

	/* No root drive: nothing appended. */
	assert_int_equal(parse(&cfg, "{" BOOT ", \"drives\": [{\"drive_id\": \"d\", "
			       "\"path_on_host\": \"/d\", \"is_root_device\": false}]}"), 0);
	assert_int_equal(fc_config_finalize(&cfg, err, sizeof(err)), 0);
	assert_null(cfg.cmdline);
	vm_config_release(&cfg);
}

static void put(struct vm_config *cfg, int (*fn)(struct vm_config *, const char *, size_t,
						 char *, size_t), const char *body, int want)
{
	err[0] = 0;
	assert_int_equal(fn(cfg, body, strlen(body), err, sizeof(err)), want);
}

static int put_drive(struct vm_config *cfg, const char *id, const char *body)
{
	err[0] = 0;
	return fc_apply_drive(cfg, id, body, strlen(body), err, sizeof(err));
}

static int put_net(struct vm_config *cfg, const char *id, const char *body)
{
	err[0] = 0;
	return fc_apply_network_interface(cfg, id, body, strlen(body), err, sizeof(err));
}

static void test_apply_machine_boot(void **state)
{
	struct vm_config cfg;

	fc_config_defaults(&cfg);
	put(&cfg, fc_apply_machine_config, "{\"vcpu_count\": 4, \"mem_size_mib\": 1024}", 0);
	assert_int_equal(cfg.nr_cpus, 4);
	assert_int_equal(cfg.mem_size, 1024ULL << 20);
	/* Errors name fields relative to the body, and leave cfg alone. */
	put(&cfg, fc_apply_machine_config, "{\"vcpu_count\": 2}", -EINVAL);
	assert_string_equal(err, "mem_size_mib: required");
	put(&cfg, fc_apply_machine_config, "{\"vcpu_count\": 2, \"mem_size_mib\": 64, \"smt\": true}",
	    -EINVAL);
	assert_int_equal(cfg.nr_cpus, 4);
	assert_int_equal(cfg.mem_size, 1024ULL << 20);
	put(&cfg, fc_patch_machine_config, "{\"vcpu_count\": 2}", 0);
	assert_int_equal(cfg.nr_cpus, 2);
	assert_int_equal(cfg.mem_size, 1024ULL << 20);
	put(&cfg, fc_apply_machine_config, "{\"vcpu_count\": 2, \"mem_size_mib\": 64", -EINVAL);
	assert_string_equal(err, "body: not valid JSON at byte 36: unexpected end of input");
	put(&cfg, fc_apply_machine_config, "[]", -EINVAL);
	assert_string_equal(err, "body: expected a JSON object, got array");

	put(&cfg, fc_apply_boot_source, "{\"kernel_image_path\": \"/a\", \"boot_args\": \"x=1\"}", 0);
	put(&cfg, fc_apply_boot_source, "{\"kernel_image_path\": \"/b\", \"initrd_path\": \"/i\"}", 0);
	/* PUT replaces the whole resource: boot_args is gone. */
	assert_string_equal(cfg.kernel_path, "/b");
	assert_string_equal(cfg.initrd_path, "/i");
	assert_null(cfg.cmdline);
	put(&cfg, fc_apply_boot_source, "{\"kernel_image_path\": \"/c\", \"x\": 1}", -EINVAL);
	assert_string_equal(err, "x: unknown field");
	assert_string_equal(cfg.kernel_path, "/b");

	put(&cfg, fc_apply_entropy, "{}", 0);
	assert_true(cfg.rng);
	put(&cfg, fc_apply_metrics, "{\"metrics_path\": \"/m\"}", 0);
	put(&cfg, fc_apply_metrics, "{\"metrics_path\": \"/m2\"}", 0);
	assert_string_equal(cfg.metrics_path, "/m2");
	put(&cfg, fc_apply_logger, "{\"level\": \"Trace\"}", 0);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	put(&cfg, fc_apply_logger, "{\"level\": \"Loud\"}", -EINVAL);
	assert_string_equal(err, "level: 'Loud' is not one of Error, Warning, Info, Debug, Trace, Off");
	vm_config_release(&cfg);
}

static void test_apply_drive(void **state)
{
	struct vm_config cfg;

	fc_config_defaults(&cfg);
	assert_int_equal(put_drive(&cfg, "data", "{\"drive_id\": \"data\", \"path_on_host\": \"/d1\", "
				   "\"is_root_device\": false}"), 0);
	assert_int_equal(put_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": "
				   "\"/r\", \"is_root_device\": true}"), 0);
	assert_int_equal(put_drive(&cfg, "logs", "{\"drive_id\": \"logs\", \"path_on_host\": \"/l\", "
				   "\"is_root_device\": false}"), 0);
	assert_int_equal(cfg.nr_disks, 3);
	assert_string_equal(cfg.disks[0].drive_id, "rootfs");
	assert_string_equal(cfg.disks[1].drive_id, "data");
	assert_string_equal(cfg.disks[2].drive_id, "logs");
	/* Same id replaces, in place. */
	assert_int_equal(put_drive(&cfg, "data", "{\"drive_id\": \"data\", \"path_on_host\": \"/d2\", "
				   "\"is_root_device\": false, \"is_read_only\": true}"), 0);
	assert_int_equal(cfg.nr_disks, 3);
	assert_string_equal(cfg.disks[1].path, "/d2");
	assert_true(cfg.disks[1].read_only);
	/* The path's id must be the body's. */
	assert_int_equal(put_drive(&cfg, "data", "{\"drive_id\": \"other\", \"path_on_host\": "
				   "\"/x\", \"is_root_device\": false}"), -EINVAL);
	assert_string_equal(err, "drive_id: 'other' does not match the id 'data' in the path");
	/* A second root is refused; the root itself may be replaced. */
	assert_int_equal(put_drive(&cfg, "logs", "{\"drive_id\": \"logs\", \"path_on_host\": \"/l\", "
				   "\"is_root_device\": true}"), -EINVAL);
	assert_string_equal(err, "is_root_device: drive 'rootfs' is already the root device "
			    "(only one may be)");
	assert_int_equal(put_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": "
				   "\"/r2\", \"is_root_device\": true}"), 0);
	assert_string_equal(cfg.disks[0].path, "/r2");
	/* The root stops being root: it moves to the end, and another may be root. */
	assert_int_equal(put_drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": "
				   "\"/r2\", \"is_root_device\": false}"), 0);
	assert_string_equal(cfg.disks[0].drive_id, "data");
	assert_string_equal(cfg.disks[2].drive_id, "rootfs");
	assert_int_equal(put_drive(&cfg, "logs", "{\"drive_id\": \"logs\", \"path_on_host\": \"/l\", "
				   "\"is_root_device\": true}"), 0);
	assert_string_equal(cfg.disks[0].drive_id, "logs");
	assert_string_equal(cfg.disks[1].drive_id, "data");
	assert_string_equal(cfg.disks[2].drive_id, "rootfs");
	assert_int_equal(cfg.nr_disks, 3);
	assert_int_equal(put_drive(&cfg, "", "{}"), -EINVAL);
	assert_string_equal(err, "the path needs an id");
	vm_config_release(&cfg);
}

static void test_apply_net(void **state)
{
	struct vm_config cfg;

	fc_config_defaults(&cfg);
	assert_int_equal(put_net(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": "
				 "\"tap7\"}"), 0);
	assert_int_equal(put_net(&cfg, "eth1", "{\"iface_id\": \"eth1\", \"mvm_user\": {}}"), 0);
	assert_int_equal(put_net(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": "
				 "\"tap8\", \"guest_mac\": \"02:00:00:00:00:08\"}"), 0);
	assert_int_equal(cfg.nr_nets, 2);
	assert_string_equal(cfg.nets[0], "tap=tap8,mac=02:00:00:00:00:08");
	assert_string_equal(cfg.nets[1], "user");
	assert_int_equal(put_net(&cfg, "eth2", "{\"iface_id\": \"eth0\", \"mvm_user\": {}}"),
			 -EINVAL);
	assert_string_equal(err, "iface_id: 'eth0' does not match the id 'eth2' in the path");
	assert_int_equal(put_net(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
				 "\"tap8\"}"), -EINVAL);
	assert_string_equal(err, "host_dev_name: 'tap8' is already used by another interface");
	assert_int_equal(put_net(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
				 "\"tap9\", \"rx_rate_limiter\": null, \"tx_rate_limiter\": {}}"), 0);
	assert_int_equal(cfg.nr_nets, 3);
	/* A guest MAC already in use, in any case, is refused; the same interface may keep it. */
	assert_int_equal(put_net(&cfg, "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": "
				 "\"tap10\", \"guest_mac\": \"02:00:00:00:00:08\"}"), -EINVAL);
	assert_string_equal(err, "guest_mac: '02:00:00:00:00:08' is already the MAC of interface "
			    "'eth0'");
	assert_int_equal(put_net(&cfg, "eth3", "{\"iface_id\": \"eth3\", \"mvm_user\": {}, "
				 "\"guest_mac\": \"02:00:00:00:00:0A\"}"), 0);
	assert_int_equal(put_net(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
				 "\"tap9\", \"guest_mac\": \"02:00:00:00:00:0a\"}"), -EINVAL);
	assert_string_equal(err, "guest_mac: '02:00:00:00:00:0a' is already the MAC of interface "
			    "'eth3'");
	assert_int_equal(put_net(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": "
				 "\"tap8\", \"guest_mac\": \"02:00:00:00:00:08\"}"), 0);
	assert_int_equal(cfg.nr_nets, 4);
	vm_config_release(&cfg);
}

/* Firecracker's newer metrics fields: emit_id and string-valued properties, kept for the
 * metrics lines and GET /vm/config. */
static void test_metrics_fields(void **state)
{
	struct vm_config cfg;
	char *json;

	assert_int_equal(parse(&cfg, "{" BOOT ", \"metrics\": {\"metrics_path\": \"/m\", "
			       "\"emit_id\": true, \"properties\": {\"a\": \"1\", \"b/c\": \"x y\"}}}"), 0);
	assert_true(cfg.metrics_emit_id);
	assert_string_equal(cfg.metrics_properties, "{\"a\":\"1\",\"b/c\":\"x y\"}");
	assert_non_null(json = fc_config_to_json(&cfg));
	assert_non_null(strstr(json, "\"emit_id\": true"));
	assert_non_null(strstr(json, "\"b/c\": \"x y\""));
	vm_config_release(&cfg);
	assert_null(cfg.metrics_properties);
	assert_int_equal(parse(&cfg, json), 0);
	assert_true(cfg.metrics_emit_id);
	assert_string_equal(cfg.metrics_properties, "{\"a\":\"1\",\"b/c\":\"x y\"}");
	vm_config_release(&cfg);
	free(json);
	refused("{" BOOT ", \"metrics\": {\"metrics_path\": \"/m\", \"properties\": {\"a\": 1}}}",
		"metrics.properties.a: expected a string, got integer");
	refused("{" BOOT ", \"metrics\": {\"metrics_path\": \"/m\", \"properties\": []}}",
		"metrics.properties: expected an object, got array");
	refused("{" BOOT ", \"metrics\": {\"metrics_path\": \"/m\", \"emit_id\": 1}}",
		"metrics.emit_id: expected a boolean, got integer");
}

/* Parse, emit, parse again: the same vm_config. */
static void same_config(const struct vm_config *a, const struct vm_config *b)
{
	assert_string_equal(a->kernel_path, b->kernel_path);
	if (a->initrd_path || b->initrd_path)
		assert_string_equal(a->initrd_path, b->initrd_path);
	if (a->cmdline || b->cmdline)
		assert_string_equal(a->cmdline, b->cmdline);
	assert_int_equal(a->nr_cpus, b->nr_cpus);
	assert_int_equal(a->mem_size, b->mem_size);
	assert_int_equal(a->track_dirty_pages, b->track_dirty_pages);
	assert_int_equal(a->nr_disks, b->nr_disks);
	for (int i = 0; i < a->nr_disks; i++) {
		assert_string_equal(a->disks[i].path, b->disks[i].path);
		assert_string_equal(a->disks[i].drive_id, b->disks[i].drive_id);
		assert_int_equal(a->disks[i].read_only, b->disks[i].read_only);
		assert_int_equal(a->disks[i].is_root, b->disks[i].is_root);
		assert_int_equal(a->disks[i].fc_cache, b->disks[i].fc_cache);
		assert_int_equal(a->disks[i].fc_engine, b->disks[i].fc_engine);
		if (a->disks[i].partuuid || b->disks[i].partuuid)
			assert_string_equal(a->disks[i].partuuid, b->disks[i].partuuid);
	}
	assert_int_equal(a->nr_nets, b->nr_nets);
	for (int i = 0; i < a->nr_nets; i++) {
		assert_string_equal(a->nets[i], b->nets[i]);
		assert_string_equal(a->net_ids[i], b->net_ids[i]);
	}
	assert_int_equal(a->rng, b->rng);
	assert_int_equal(a->console, b->console);
	assert_int_equal(a->debug_exit, b->debug_exit);
	if (a->log_path || b->log_path)
		assert_string_equal(a->log_path, b->log_path);
	assert_int_equal(a->log_level_set, b->log_level_set);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->log_show_level, b->log_show_level);
	assert_int_equal(a->log_show_origin, b->log_show_origin);
	if (a->metrics_path || b->metrics_path)
		assert_string_equal(a->metrics_path, b->metrics_path);
	assert_int_equal(a->balloon.enabled, b->balloon.enabled);
	assert_int_equal(a->balloon.amount_mib, b->balloon.amount_mib);
	assert_int_equal(a->balloon.deflate_on_oom, b->balloon.deflate_on_oom);
	assert_int_equal(a->balloon.stats_polling_interval_s, b->balloon.stats_polling_interval_s);
	assert_int_equal(a->balloon.free_page_reporting, b->balloon.free_page_reporting);
	assert_int_equal(a->vsock_cid, b->vsock_cid);
	if (a->vsock_uds || b->vsock_uds)
		assert_string_equal(a->vsock_uds, b->vsock_uds);
	if (a->vsock_id || b->vsock_id)
		assert_string_equal(a->vsock_id, b->vsock_id);
}

static void round_trip(const char *doc)
{
	struct vm_config a, b;
	char *json;

	assert_int_equal(parse(&a, doc), 0);
	assert_int_equal(fc_config_finalize(&a, err, sizeof(err)), 0);
	json = fc_config_to_json(&a);
	assert_non_null(json);
	if (parse(&b, json))
		fail_msg("re-parse failed: %s\n%s", err, json);
	assert_int_equal(fc_config_finalize(&b, err, sizeof(err)), 0);
	same_config(&a, &b);
	free(json);
	vm_config_release(&a);
	vm_config_release(&b);
}

/* The API's PUT checks files at once, as Firecracker: a kernel, initrd or drive that does
 * not open is refused with the field and the path; metrics are set once; an empty PATCH of
 * machine-config is refused. */
static void test_put_checks(void **state)
{
	char dir[] = "/tmp/mvm-fcput-XXXXXX", file[64], ro[64], body[512];
	struct vm_config cfg;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/k", dir);
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	assert_true((fd = open(file, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	assert_true((fd = open(ro, O_CREAT | O_WRONLY, 0400)) >= 0);
	close(fd);
	fc_config_defaults(&cfg);

	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s/none\"}", dir);
	assert_int_equal(fc_put_boot_source(&cfg, body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "kernel_image_path: "));
	assert_non_null(strstr(err, "/none: cannot open: No such file or directory"));
	assert_null(cfg.kernel_path);
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\"}", dir);
	assert_int_equal(fc_put_boot_source(&cfg, body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file (a directory)"));
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s/i\"}",
		 file, dir);
	assert_int_equal(fc_put_boot_source(&cfg, body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "initrd_path: "));
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\"}",
		 file, file);
	assert_int_equal(fc_put_boot_source(&cfg, body, strlen(body), err, sizeof(err)), 0);
	assert_string_equal(cfg.kernel_path, file);
	/* The schema's own errors still come first for a field of the wrong type. */
	snprintf(body, sizeof(body), "{\"kernel_image_path\": 1}");
	assert_int_equal(fc_put_boot_source(&cfg, body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "kernel_image_path: expected a string, got integer");

	snprintf(body, sizeof(body), "{\"drive_id\": \"d\", \"path_on_host\": \"%s/none\", "
		 "\"is_root_device\": false}", dir);
	assert_int_equal(fc_put_drive(&cfg, "d", body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "path_on_host: "));
	assert_int_equal(cfg.nr_disks, 0);
	/* A file only readable is a read-only drive's, not a read-write one's (unless root,
	 * which opens anything). */
	if (geteuid() != 0) {
		snprintf(body, sizeof(body), "{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
			 "\"is_root_device\": false}", ro);
		assert_int_equal(fc_put_drive(&cfg, "d", body, strlen(body), err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "cannot open for writing: Permission denied"));
	}
	snprintf(body, sizeof(body), "{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": false, \"is_read_only\": true}", ro);
	assert_int_equal(fc_put_drive(&cfg, "d", body, strlen(body), err, sizeof(err)), 0);
	assert_int_equal(cfg.nr_disks, 1);

	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s/none/m\"}", dir);
	assert_int_equal(fc_put_metrics(&cfg, body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/none/m: cannot open it for writing: No such file or directory"));
	assert_null(cfg.metrics_path);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s/m\"}", dir);
	assert_int_equal(fc_put_metrics(&cfg, body, strlen(body), err, sizeof(err)), 0);
	assert_int_equal(fc_put_metrics(&cfg, body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "already initialized"));

	assert_int_equal(fc_patch_machine_config(&cfg, "{}", 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Empty PATCH request"));
	vm_config_release(&cfg);
	unlink(file);
	unlink(ro);
	snprintf(file, sizeof(file), "%s/m", dir);
	unlink(file);              /* created by the PUT, as Firecracker creates it */
	rmdir(dir);
}

static void test_round_trip(void **state)
{
	round_trip(full);
	round_trip("{" BOOT "}");
	round_trip("{" BOOT ", \"drives\": [{\"drive_id\": \"r\", \"path_on_host\": \"/r\", "
		   "\"is_root_device\": true, \"partuuid\": \"abcd-02\"}], \"logger\": {\"level\": "
		   "\"Warning\"}, \"network-interfaces\": [{\"iface_id\": \"u\", \"mvm_user\": {}}]}");
	round_trip("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"u\", \"mvm_user\": "
		   "{\"restrict\": true, \"host_loopback\": false, \"max_flows\": 256, "
		   "\"hostfwd\": [\"tcp::2222-:22\"]}}]}");
	round_trip("{" BOOT ", \"vsock\": {\"vsock_id\": \"vs\", \"guest_cid\": 52, "
		   "\"uds_path\": \"/run/v.sock\"}}");
}

/* Firecracker's vsock: guest_cid and uds_path, vsock_id accepted. */
static void test_vsock(void **state)
{
	struct vm_config cfg;
	const char *body;
	char *json;

	assert_int_equal(parse(&cfg, "{" BOOT ", \"vsock\": {\"guest_cid\": 3, "
			 "\"uds_path\": \"/v.sock\"}}"), 0);
	assert_int_equal(cfg.vsock_cid, 3);
	assert_string_equal(cfg.vsock_uds, "/v.sock");
	assert_null(cfg.vsock_id);
	json = fc_config_to_json(&cfg);
	assert_non_null(strstr(json, "\"guest_cid\": 3"));
	free(json);
	/* PUT /vsock replaces it. */
	body = "{\"vsock_id\": \"v1\", \"guest_cid\": 7, \"uds_path\": \"/w\"}";
	assert_int_equal(fc_apply_vsock(&cfg, body, strlen(body), err, sizeof(err)), 0);
	assert_int_equal(cfg.vsock_cid, 7);
	assert_string_equal(cfg.vsock_uds, "/w");
	assert_string_equal(cfg.vsock_id, "v1");
	body = "{\"guest_cid\": 2, \"uds_path\": \"/w\"}";
	assert_int_equal(fc_apply_vsock(&cfg, body, strlen(body), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "guest_cid: 2 is out of range (3 to 4294967294)");
	assert_int_equal(cfg.vsock_cid, 7);   /* unchanged */
	vm_config_release(&cfg);
	refused("{" BOOT ", \"vsock\": {\"uds_path\": \"/v\"}}", "vsock.guest_cid: required");
	refused("{" BOOT ", \"vsock\": {\"guest_cid\": 3}}", "vsock.uds_path: required");
	refused("{" BOOT ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"\"}}",
		"vsock.uds_path: must not be empty");
	refused("{" BOOT ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/v\", \"x\": 1}}",
		"vsock.x: unknown field");
	refused("{" BOOT ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": "
		"\"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
		"vsock.uds_path: longer than 96 bytes (a Unix socket path with room for _<port>)");
}

/* mvm_user's safety options become --net user options. */
static void test_user_net_options(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"u\", "
			       "\"mvm_user\": {\"restrict\": true, \"host_loopback\": false, "
			       "\"max_flows\": 256, \"hostfwd\": [\"tcp::2222-:22\"]}}]}"), 0);
	assert_string_equal(cfg.nets[0], "user,restrict=on,host-loopback=off,max-flows=256,"
			    "hostfwd=tcp::2222-:22");
	vm_config_release(&cfg);
	assert_int_equal(parse(&cfg, "{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"u\", "
			       "\"mvm_user\": {\"restrict\": false, \"host_loopback\": true}}]}"), 0);
	assert_string_equal(cfg.nets[0], "user");
	vm_config_release(&cfg);
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"mvm_user\": "
		"{\"restrict\": \"on\"}}]}",
		"network-interfaces[0].mvm_user.restrict: expected a boolean, got string");
	refused("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", \"mvm_user\": "
		"{\"max_flows\": 8}}]}",
		"network-interfaces[0].mvm_user.max_flows: 8 is out of range (32 to 65536)");
}

static void test_to_json_shape(void **state)
{
	struct vm_config cfg;
	char *json;

	assert_int_equal(parse(&cfg, full), 0);
	json = fc_machine_config_to_json(&cfg);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"vcpu_count\": 2"));
	assert_non_null(strstr(json, "\"mem_size_mib\": 512"));
	assert_non_null(strstr(json, "\"smt\": false"));
	free(json);
	json = fc_config_to_json(&cfg);
	assert_non_null(strstr(json, "\"boot-source\""));
	assert_non_null(strstr(json, "\"kernel_image_path\": \"/img/vmlinuz\""));
	assert_non_null(strstr(json, "\"host_dev_name\": \"tap0\""));
	assert_non_null(strstr(json, "\"hostfwd\""));
	assert_non_null(strstr(json, "\"mvm-console\": \"virtio\""));
	assert_non_null(strstr(json, "\"mvm-debug-exit\": true"));
	assert_non_null(strstr(json, "\"mvm-pc-testdev\": true"));
	/* Every key of Firecracker's FullVmConfiguration is there. */
	assert_non_null(strstr(json, "\"pmem\": [\n  ]"));
	assert_non_null(strstr(json, "\"mmds-config\": null"));
	assert_non_null(strstr(json, "\"cpu-config\": null"));
	assert_non_null(strstr(json, "\"memory-hotplug\": null"));
	free(json);
	vm_config_release(&cfg);

	/* A CLI-made config (no ids, argv strings) emits generated ids. */
	{
		struct vm_config c;
		char *p = strdup("/x.img");

		fc_config_defaults(&c);
		c.kernel_path = "/k";
		c.disks[0].path = p;
		c.nr_disks = 1;
		c.nets[0] = "user,hostfwd=tcp::2222-:22";
		c.nr_nets = 1;
		json = fc_config_to_json(&c);
		assert_non_null(strstr(json, "\"drive_id\": \"disk0\""));
		assert_non_null(strstr(json, "\"iface_id\": \"net0\""));
		assert_non_null(strstr(json, "\"tcp::2222-:22\""));
		free(json);
		vm_config_release(&c); /* frees the disk path only: argv strings are not owned */
	}
}

/* Firecracker's balloon: its fields, its errors, GET /vm/config and back. */
static void test_balloon(void **state)
{
	struct vm_config cfg;
	char *json;

	assert_int_equal(parse(&cfg, "{" BOOT ", \"balloon\": {\"amount_mib\": 64, "
			       "\"deflate_on_oom\": true, \"stats_polling_interval_s\": 5}}"), 0);
	assert_true(cfg.balloon.enabled);
	assert_int_equal(cfg.balloon.amount_mib, 64);
	assert_true(cfg.balloon.deflate_on_oom);
	assert_int_equal(cfg.balloon.stats_polling_interval_s, 5);
	json = fc_config_to_json(&cfg);
	assert_non_null(strstr(json, "\"balloon\": {"));
	assert_non_null(strstr(json, "\"amount_mib\": 64"));
	assert_non_null(strstr(json, "\"deflate_on_oom\": true"));
	assert_non_null(strstr(json, "\"stats_polling_interval_s\": 5"));
	free(json);
	vm_config_release(&cfg);
	assert_int_equal(parse(&cfg, "{" BOOT ", \"balloon\": null}"), 0);
	assert_false(cfg.balloon.enabled);
	json = fc_config_to_json(&cfg);
	assert_non_null(strstr(json, "\"balloon\": null"));
	free(json);
	vm_config_release(&cfg);
	round_trip("{" BOOT ", \"balloon\": {\"amount_mib\": 0, \"deflate_on_oom\": false, "
		   "\"free_page_hinting\": false, \"free_page_reporting\": false}}");
	round_trip("{" BOOT ", \"balloon\": {\"amount_mib\": 8, \"deflate_on_oom\": false, "
		   "\"free_page_reporting\": true}}");
	refused("{" BOOT ", \"balloon\": {}}", "balloon.amount_mib: required");
	refused("{" BOOT ", \"balloon\": {\"amount_mib\": 1}}", "balloon.deflate_on_oom: required");
	refused("{" BOOT ", \"balloon\": {\"amount_mib\": -1, \"deflate_on_oom\": true}}",
		"balloon.amount_mib: -1 is out of range (0 to 4294967295)");
	refused("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": true, "
		"\"stats_polling_interval_s\": 65536}}",
		"balloon.stats_polling_interval_s: 65536 is out of range (0 to 65535)");
	refused("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": true, "
		"\"free_page_hinting\": true}}", "balloon.free_page_hinting: true is not "
		"supported by mvm (set false or leave it out)");
	refused("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": 1}}",
		"balloon.deflate_on_oom: expected a boolean, got integer");
	refused("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": true, "
		"\"target\": 1}}", "balloon.target: unknown field");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_fc_config_XXXXXX";
	struct vm_config cfg;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, full, strlen(full)), (ssize_t)strlen(full));
	close(fd);
	fc_config_defaults(&cfg);
	assert_int_equal(fc_config_load(path, &cfg, err, sizeof(err)), 0);
	/* load finalizes: root=/dev/vda ro appended. */
	assert_string_equal(cfg.cmdline, "console=ttyS0 mvmtest=poweroff root=/dev/vda ro");
	vm_config_release(&cfg);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "{\"boot-source\": {\"kernel_image_path\": 1}}", 41), 41);
	close(fd);
	fc_config_defaults(&cfg);
	assert_int_equal(fc_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	{
		char want[128];

		snprintf(want, sizeof(want), "%s: boot-source.kernel_image_path: expected a string, "
			 "got integer", path);
		assert_string_equal(err, want);
		fd = open(path, O_WRONLY | O_TRUNC);
		close(fd);
		assert_int_equal(fc_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "%s: empty (expected a JSON object)", path);
		assert_string_equal(err, want);
	}
	vm_config_release(&cfg);
	unlink(path);
	assert_int_equal(fc_config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open: No such file or directory"));
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_fc_config: loading a FIFO or directory blocked\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(3);
}

/* A FIFO with no writer as --config-file used to block mvm in open()
 * forever (SIGTERM then did nothing); it and a directory are refused at
 * once, by type. The alarm turns a regression into a failure, not a hang. */
static void test_load_not_a_file(void **state)
{
	char dir[] = "/tmp/test_fc_config_XXXXXX", fifo[64], want[160];
	struct vm_config cfg;

	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(5);
	fc_config_defaults(&cfg);
	assert_int_equal(fc_config_load(fifo, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file (a FIFO); --config-file takes a "
		 "regular file", fifo);
	assert_string_equal(err, want);
	assert_int_equal(fc_config_load(dir, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file (a directory)"));
	assert_int_equal(fc_config_load("/dev/null", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "(a character device)"));
	alarm(0);
	vm_config_release(&cfg);
	unlink(fifo);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_and_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_and_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_cmdline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_machine_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_drive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vsock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_net_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_to_json_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_not_a_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
