/* test_builder.c - vm_create's exit status comes from the class the failing
 * code recorded (util/err.h), for failures that happen before KVM exists. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/vmstop.h"
#include "util/err.h"
#include "util/log.h"
#include "vmm/vm.h"

static char logbuf[4096];

static void capture(enum log_level l, const char *m, void *c)
{
	size_t n = strlen(logbuf);

	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", m);
}

static char kernel_path[] = "/tmp/mvm-builder-kernel-XXXXXX";

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* A Multiboot v1 a.out-kludge kernel (the smallest thing mvm boots): 8 KiB
 * loaded at 1 MiB, the header at its start, entry 0x100 in. */
static int make_kernel(void **state)
{
	static uint8_t img[0x2000];
	const uint32_t magic = 0x1BADB002u, flags = 1u << 16, load = 0x100000;
	int fd = mkstemp(kernel_path);

	assert_true(fd >= 0);
	put32(img, magic);
	put32(img + 4, flags);
	put32(img + 8, -(magic + flags));
	put32(img + 12, load);              /* header_addr */
	put32(img + 16, load);              /* load_addr */
	put32(img + 20, load + sizeof(img)); /* load_end_addr */
	put32(img + 24, load + sizeof(img)); /* bss_end_addr */
	put32(img + 28, load + 0x100);      /* entry_addr */
	assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	close(fd);
	return 0;
}

static int remove_kernel(void **state)
{
	unlink(kernel_path);
	return 0;
}

/* That kernel, 64 MiB, one vCPU, and a /dev/kvm that is not there. */
static void base_cfg(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kernel_path = kernel_path;
	cfg->nr_cpus = 1;
	cfg->mem_size = 64ull << 20;
	cfg->kvm_path = "/nonexistent/kvm";
}

static int create(const struct vm_config *cfg)
{
	struct vm vm;
	int status = -1;

	logbuf[0] = 0;
	log_set_sink(capture, NULL);
	assert_int_not_equal(vm_create(&vm, cfg, &status), 0);
	log_set_sink(NULL, NULL);
	vm_destroy(&vm);
	return status;
}

static void test_err_first_class_wins(void **state)
{
	err_reset();
	assert_int_equal(err_class(), ERR_UNSET);
	assert_int_equal(err_class_or(ERR_HOST), ERR_HOST);
	assert_int_equal(err_usage(-EINVAL), -EINVAL);
	assert_int_equal(err_host(-ENOMEM), -ENOMEM);   /* an outer caller cannot overwrite */
	assert_int_equal(err_class(), ERR_USAGE);
	err_reset();
	err_host(-EBUSY);
	assert_int_equal(err_class_or(ERR_USAGE), ERR_HOST);
}

static void test_bad_cpus_is_usage(void **state)
{
	struct vm_config cfg;

	base_cfg(&cfg);
	cfg.nr_cpus = 0;
	assert_int_equal(create(&cfg), MVM_EXIT_USAGE);
	assert_non_null(strstr(logbuf, "--cpus 0"));
}

static void test_bad_mem_is_usage(void **state)
{
	struct vm_config cfg;

	base_cfg(&cfg);
	cfg.mem_size = 4096;
	assert_int_equal(create(&cfg), MVM_EXIT_USAGE);
	assert_non_null(strstr(logbuf, "--mem"));
}

static void test_missing_kernel_is_usage(void **state)
{
	struct vm_config cfg;

	base_cfg(&cfg);
	cfg.kernel_path = "/nonexistent/vmlinuz";
	assert_int_equal(create(&cfg), MVM_EXIT_USAGE);
	assert_non_null(strstr(logbuf, "/nonexistent/vmlinuz"));
}

static void test_missing_disk_is_usage(void **state)
{
	struct vm_config cfg;

	base_cfg(&cfg);
	cfg.disks[0].path = "/nonexistent/disk.img";
	cfg.nr_disks = 1;
	assert_int_equal(create(&cfg), MVM_EXIT_USAGE);
	assert_non_null(strstr(logbuf, "/nonexistent/disk.img"));
}

/* An image another process holds is the host's state, not a bad flag
 * (it used to come out as "bad usage" from its -EBUSY). */
static void test_locked_disk_is_host(void **state)
{
	char path[] = "/tmp/mvm-builder-XXXXXX";
	int fd = mkstemp(path);
	struct vm_config cfg;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);   /* another "process": another open file */
	base_cfg(&cfg);
	cfg.disks[0].path = path;
	cfg.nr_disks = 1;
	assert_int_equal(create(&cfg), MVM_EXIT_HOST);
	assert_non_null(strstr(logbuf, "locked by another process"));
	close(fd);
	unlink(path);
}

/* Every input good, no KVM: the host's. */
static void test_no_kvm_is_host(void **state)
{
	struct vm_config cfg;

	base_cfg(&cfg);
	assert_int_equal(create(&cfg), MVM_EXIT_HOST);
	assert_non_null(strstr(logbuf, "/nonexistent/kvm"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_first_class_wins),
		cmocka_unit_test(test_bad_cpus_is_usage),
		cmocka_unit_test(test_bad_mem_is_usage),
		cmocka_unit_test(test_missing_kernel_is_usage),
		cmocka_unit_test(test_missing_disk_is_usage),
		cmocka_unit_test(test_locked_disk_is_host),
		cmocka_unit_test(test_no_kvm_is_host),
	};

	return cmocka_run_group_tests(tests, make_kernel, remove_kernel);
}
