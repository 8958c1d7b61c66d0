/* test_cli.c - `mvm run` flag parsing and size suffixes. */
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

#include "cli/cli.h"
#include "util/log.h"

static char last_err[1024];

static void capture(enum log_level l, const char *m, void *c)
{
	snprintf(last_err, sizeof(last_err), "%s", m);
}

static int parse(struct vm_config *cfg, int argc, const char **argv)
{
	last_err[0] = 0;
	return cli_parse_run(argc, (char **)argv, cfg);
}

static void test_sizes(void **state)
{
	uint64_t v;

	assert_int_equal(cli_parse_size("256M", &v), 0); assert_int_equal(v, 256ULL << 20);
	assert_int_equal(cli_parse_size("4G", &v), 0);   assert_int_equal(v, 4ULL << 30);
	assert_int_equal(cli_parse_size("4g", &v), 0);   assert_int_equal(v, 4ULL << 30);
	assert_int_equal(cli_parse_size("1024K", &v), 0); assert_int_equal(v, 1ULL << 20);
	assert_int_equal(cli_parse_size("512", &v), 0);  assert_int_equal(v, 512ULL << 20);
	assert_int_equal(cli_parse_size("2GiB", &v), 0); assert_int_equal(v, 2ULL << 30);
	assert_int_equal(cli_parse_size("", &v), -EINVAL);
	assert_int_equal(cli_parse_size("-1G", &v), -EINVAL);
	assert_int_equal(cli_parse_size("12Q", &v), -EINVAL);
	assert_int_equal(cli_parse_size("G", &v), -EINVAL);
	assert_int_equal(cli_parse_size("1GG", &v), -EINVAL);
	assert_int_equal(cli_parse_size("99999999999999999999G", &v), -EINVAL);
	assert_int_equal(cli_parse_size("17179869184G", &v), -EINVAL); /* 2^64 bytes */
}

static void test_defaults(void **state)
{
	struct vm_config cfg;
	const char *argv[] = { "run", "--kernel", "bz", NULL };

	assert_int_equal(parse(&cfg, 3, argv), 0);
	assert_string_equal(cfg.kernel_path, "bz");
	assert_int_equal(cfg.nr_cpus, 1);
	assert_int_equal(cfg.mem_size, 256ULL << 20);
	assert_null(cfg.initrd_path);
	assert_null(cfg.cmdline);
	/* No isa-debug-exit unless asked: the guest cannot pick mvm's exit status. */
	assert_false(cfg.debug_exit);
}

/* Firecracker's 128 MiB for a VM described in its terms only; mvm's 256 MiB otherwise. */
static void test_firecracker_defaults(void **state)
{
	char path[] = "/tmp/mvm-cli-XXXXXX";
	const char *api[] = { "run", "--api-sock", "/tmp/x.sock", NULL };
	const char *api_flags[] = { "run", "--api-sock", "/tmp/x.sock", "--kernel", "bz", NULL };
	const char *file[] = { "run", "--config-file", path, NULL };
	struct vm_config cfg;
	FILE *f;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("{\"boot-source\": {\"kernel_image_path\": \"bz\"}}", f);
	fclose(f);
	assert_int_equal(parse(&cfg, 3, api), 0);
	assert_int_equal(cfg.mem_size, 128ULL << 20);
	vm_config_release(&cfg);
	assert_int_equal(parse(&cfg, 5, api_flags), 0);
	assert_int_equal(cfg.mem_size, 256ULL << 20);
	vm_config_release(&cfg);
	assert_int_equal(parse(&cfg, 3, file), 0);
	assert_int_equal(cfg.mem_size, 128ULL << 20);
	assert_int_equal(cfg.nr_cpus, 1);
	vm_config_release(&cfg);
	unlink(path);
}

static void test_debug_exit_flag(void **state)
{
	struct vm_config cfg;
	const char *on[] = { "run", "--kernel", "bz", "--debug-exit", NULL };
	const char *with_file[] = { "run", "--config-file", "/nonexistent.json", "--debug-exit",
				    NULL };

	assert_int_equal(parse(&cfg, 4, on), 0);
	assert_true(cfg.debug_exit);
	cli_free_run(&cfg);
	/* It describes the VM: a config file says it ("mvm-debug-exit"). */
	log_set_sink(capture, NULL);
	assert_int_equal(parse(&cfg, 4, with_file), -EINVAL);
	assert_non_null(strstr(last_err, "--config-file cannot be combined with --debug-exit"));
	cli_free_run(&cfg);
	log_set_sink(NULL, NULL);
}

/* --cpu-hyperv: off by default, on when asked, and it describes the VM. */
static void test_cpu_hyperv_flag(void **state)
{
	struct vm_config cfg;
	const char *off[] = { "run", "--kernel", "bz", NULL };
	const char *on[] = { "run", "--kernel", "bz", "--cpu-hyperv", NULL };
	const char *with_file[] = { "run", "--config-file", "/nonexistent.json", "--cpu-hyperv",
				    NULL };

	assert_int_equal(parse(&cfg, 3, off), 0);
	assert_false(cfg.cpu_hyperv);
	cli_free_run(&cfg);
	assert_int_equal(parse(&cfg, 4, on), 0);
	assert_true(cfg.cpu_hyperv);
	cli_free_run(&cfg);
	log_set_sink(capture, NULL);
	assert_int_equal(parse(&cfg, 4, with_file), -EINVAL);
	assert_non_null(strstr(last_err, "--config-file cannot be combined with --cpu-hyperv"));
	cli_free_run(&cfg);
	log_set_sink(NULL, NULL);
}

static void test_gdb_flags(void **state)
{
	struct vm_config cfg;
	const char *on[] = { "run", "--kernel", "bz", "--gdb", "tcp:127.0.0.1:1234", "--gdb-wait",
			     NULL };
	const char *wait_alone[] = { "run", "--kernel", "bz", "--gdb-wait", NULL };

	assert_int_equal(parse(&cfg, 6, on), 0);
	assert_string_equal(cfg.gdb, "tcp:127.0.0.1:1234");
	assert_true(cfg.gdb_wait);
	cli_free_run(&cfg);
	log_set_sink(capture, NULL);
	assert_int_equal(parse(&cfg, 4, wait_alone), -EINVAL);
	assert_non_null(strstr(last_err, "--gdb-wait goes with --gdb"));
	cli_free_run(&cfg);
	log_set_sink(NULL, NULL);
}

static void test_all_flags(void **state)
{
	struct vm_config cfg;
	const char *argv[] = { "run", "--kernel", "bz", "--initrd", "rd", "--cmdline", "quiet",
			       "--cpus", "2", "--mem", "4G", NULL };

	assert_int_equal(parse(&cfg, 11, argv), 0);
	assert_string_equal(cfg.initrd_path, "rd");
	assert_string_equal(cfg.cmdline, "quiet");
	assert_int_equal(cfg.nr_cpus, 2);
	assert_int_equal(cfg.mem_size, 4ULL << 30);
}

static void test_errors_name_the_flag(void **state)
{
	struct vm_config cfg;
	const char *no_kernel[] = { "run", "--cpus", "2", NULL };
	const char *bad_cpus[] = { "run", "--kernel", "bz", "--cpus", "0", NULL };
	const char *many_cpus[] = { "run", "--kernel", "bz", "--cpus", "256", NULL };
	const char *bad_mem[] = { "run", "--kernel", "bz", "--mem", "lots", NULL };
	const char *tiny_mem[] = { "run", "--kernel", "bz", "--mem", "1M", NULL };
	const char *odd_mem[] = { "run", "--kernel", "bz", "--mem", "16385K", NULL };
	const char *unknown[] = { "run", "--kernel", "bz", "--frobnicate", NULL };
	const char *missing[] = { "run", "--kernel", NULL };
	const char *extra[] = { "run", "--kernel", "bz", "stray", NULL };

	log_set_sink(capture, NULL);
	/* No --kernel is fine: mvm boots its built-in hello demo. */
	assert_int_equal(parse(&cfg, 3, no_kernel), 0);
	assert_null(cfg.kernel_path);
	assert_int_equal(parse(&cfg, 5, bad_cpus), -EINVAL);
	assert_non_null(strstr(last_err, "--cpus '0'"));
	assert_int_equal(parse(&cfg, 5, many_cpus), -EINVAL);
	assert_non_null(strstr(last_err, "--cpus '256'"));
	assert_int_equal(parse(&cfg, 5, bad_mem), -EINVAL);
	assert_non_null(strstr(last_err, "--mem 'lots'"));
	assert_int_equal(parse(&cfg, 5, tiny_mem), -EINVAL);
	assert_non_null(strstr(last_err, "between 16M"));
	assert_int_equal(parse(&cfg, 5, odd_mem), -EINVAL);
	assert_non_null(strstr(last_err, "multiple of 4K"));
	assert_int_equal(parse(&cfg, 4, unknown), -EINVAL);
	assert_non_null(strstr(last_err, "--frobnicate"));
	assert_int_equal(parse(&cfg, 2, missing), -EINVAL);
	assert_non_null(strstr(last_err, "--kernel needs a value"));
	assert_int_equal(parse(&cfg, 4, extra), -EINVAL);
	assert_non_null(strstr(last_err, "stray"));
	log_set_sink(NULL, NULL);
}

static void test_disk_values(void **state)
{
	struct vm_disk_cfg d;

	log_set_sink(capture, NULL);
	assert_int_equal(cli_parse_disk("a.img", &d), 0);
	assert_string_equal(d.path, "a.img");
	assert_false(d.read_only);
	assert_null(d.id);
	free((char *)d.path);

	assert_int_equal(cli_parse_disk("/x/b.img,ro,id=root", &d), 0);
	assert_string_equal(d.path, "/x/b.img");
	assert_true(d.read_only);
	assert_string_equal(d.id, "root");
	free((char *)d.path);
	free((char *)d.id);

	assert_int_equal(cli_parse_disk("c.img,ro,rw", &d), 0);
	assert_false(d.read_only);
	free((char *)d.path);

	assert_int_equal(cli_parse_disk(",ro", &d), -EINVAL);
	assert_non_null(strstr(last_err, "FILE"));
	assert_int_equal(cli_parse_disk("d.img,rox", &d), -EINVAL);
	assert_non_null(strstr(last_err, "unknown option 'rox'"));
	assert_int_equal(cli_parse_disk("d.img,id=", &d), -EINVAL);
	assert_int_equal(cli_parse_disk("d.img,", &d), -EINVAL);
	assert_int_equal(cli_parse_disk("d.img,id=abcdefghijklmnopqrstu", &d), -EINVAL);
	assert_non_null(strstr(last_err, "20 characters"));
	log_set_sink(NULL, NULL);
}

static void test_device_flags(void **state)
{
	struct vm_config cfg;
	const char *argv[] = { "run", "--kernel", "bz", "--disk", "a.img", "--disk", "b.img,ro",
			       "--net", "user", "--rng", "--console", "virtio", NULL };
	const char *bad_console[] = { "run", "--kernel", "bz", "--console", "hdmi", NULL };
	const char *too_many[] = { "run", "--kernel", "bz", "--disk", "1", "--disk", "2",
				   "--disk", "3", "--disk", "4", "--disk", "5", "--disk", "6",
				   "--disk", "7", "--disk", "8", "--disk", "9", NULL };

	assert_int_equal(parse(&cfg, 12, argv), 0);
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].path, "a.img");
	assert_true(cfg.disks[1].read_only);
	assert_int_equal(cfg.nr_nets, 1);
	assert_string_equal(cfg.nets[0], "user");
	assert_true(cfg.rng);
	assert_int_equal(cfg.console, VM_CONSOLE_VIRTIO);
	cli_free_run(&cfg);

	log_set_sink(capture, NULL);
	assert_int_equal(parse(&cfg, 5, bad_console), -EINVAL);
	assert_non_null(strstr(last_err, "--console 'hdmi'"));
	cli_free_run(&cfg);
	assert_int_equal(parse(&cfg, 21, too_many), -EINVAL);
	assert_non_null(strstr(last_err, "at most 8 disks"));
	assert_int_equal(cfg.nr_disks, 8);
	cli_free_run(&cfg);
	log_set_sink(NULL, NULL);
}

static void test_vsock_flag(void **state)
{
	struct vm_config cfg;
	const char *ok[] = { "run", "--kernel", "bz", "--vsock", "cid=52,uds=/tmp/v.sock", NULL };
	const char *bad[][2] = {
		{ "cid=2,uds=/v", "cid must be a number from 3" },
		{ "cid=4294967295,uds=/v", "cid must be a number from 3" },
		{ "cid=x,uds=/v", "cid must be a number from 3" },
		{ "cid=5", "expected cid=N,uds=PATH (both)" },
		{ "uds=/v", "expected cid=N,uds=PATH (both)" },
		{ "cid=5,uds=/v,port=3", "unknown option 'port=3'" },
	};

	assert_int_equal(parse(&cfg, 5, ok), 0);
	assert_int_equal(cfg.vsock_cid, 52);
	assert_string_equal(cfg.vsock_uds, "/tmp/v.sock");
	cli_free_run(&cfg);
	log_set_sink(capture, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = { "run", "--kernel", "bz", "--vsock", bad[i][0], NULL };

		assert_int_equal(parse(&cfg, 5, argv), -EINVAL);
		if (!strstr(last_err, bad[i][1]) || !strstr(last_err, "--vsock"))
			fail_msg("--vsock %s: got '%s'", bad[i][0], last_err);
		cli_free_run(&cfg);
	}
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_firecracker_defaults),
		cmocka_unit_test(test_debug_exit_flag),
		cmocka_unit_test(test_cpu_hyperv_flag),
		cmocka_unit_test(test_gdb_flags),
		cmocka_unit_test(test_all_flags),
		cmocka_unit_test(test_errors_name_the_flag),
		cmocka_unit_test(test_disk_values),
		cmocka_unit_test(test_device_flags),
		cmocka_unit_test(test_vsock_flag),
	};
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
