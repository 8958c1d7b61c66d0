/* test_check.c - `mvm check`: crafted host facts judged into PASS/INFO/WARN/FAIL lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "check/check.h"
#include "core/kvm.h"

static struct check_report report;

/* The capability table kvm_open() uses, every entry answered `value`. */
static void fill_caps(struct check_facts *f, int value)
{
	size_t n;
	const struct kvm_cap_info *tab = kvm_cap_table(&n);

	assert_true(n <= CHECK_MAX_CAPS);
	for (size_t i = 0; i < n; i++)
		f->caps[i] = (struct check_cap){ .name = tab[i].name, .why = tab[i].why,
						 .required = tab[i].required, .value = value };
	f->nr_caps = n;
}

static void set_cap(struct check_facts *f, const char *name, int value)
{
	for (size_t i = 0; i < f->nr_caps; i++)
		if (!strcmp(f->caps[i].name, name)) {
			f->caps[i].value = value;
			return;
		}
	fail_msg("no capability %s in kvm_cap_table()", name);
}

/* A working /dev/kvm, crw-rw---- root:kvm, API 12, every capability. */
static void working_node(struct check_facts *f)
{
	f->kvm_path = "/dev/kvm";
	f->is_chr = true;
	f->mode = S_IFCHR | 0660;
	strcpy(f->owner, "root");
	strcpy(f->group, "kvm");
	f->api_version = 12;
	f->max_vcpus = 1024;
	strcpy(f->misc_dev, "10:232");
	fill_caps(f, 1);
}

static void amd_host(struct check_facts *f)
{
	memset(f, 0, sizeof(*f));
	strcpy(f->vendor, "AuthenticAMD");
	strcpy(f->model, "AMD EPYC 7713 64-Core Processor");
	f->svm = true;
	f->fw_msr = (struct check_msr){ .state = CHECK_MSR_OK, .value = 0 };
	f->kvm.loaded = true;
	strcpy(f->kvm.halt_poll_ns, "200000");
	f->kvm_amd.loaded = true;
	strcpy(f->kvm_amd.tdp, "1");
	strcpy(f->kvm_amd.nested, "1");
	strcpy(f->kvm_amd.apicv, "0");
	working_node(f);
}

static void intel_host(struct check_facts *f)
{
	memset(f, 0, sizeof(*f));
	strcpy(f->vendor, "GenuineIntel");
	strcpy(f->model, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
	f->vmx = true;
	f->fw_msr = (struct check_msr){ .state = CHECK_MSR_OK, .value = 0x5 };
	f->kvm.loaded = true;
	strcpy(f->kvm.halt_poll_ns, "200000");
	f->kvm_intel.loaded = true;
	strcpy(f->kvm_intel.tdp, "Y");
	strcpy(f->kvm_intel.nested, "Y");
	strcpy(f->kvm_intel.apicv, "Y");
	working_node(f);
}

/* This development machine: an AMD CPU without SVM inside bhyve, kvm and
 * kvm_pvm loaded, and no /dev/kvm at all. */
static void pvm_host_without_node(struct check_facts *f)
{
	memset(f, 0, sizeof(*f));
	strcpy(f->vendor, "AuthenticAMD");
	strcpy(f->model, "AMD EPYC");
	f->hypervisor = true;
	strcpy(f->hv_vendor, "bhyve bhyve ");
	f->kvm.loaded = true;
	strcpy(f->kvm.halt_poll_ns, "200000");
	f->kvm_pvm.loaded = true;
	f->kvm_path = "/dev/kvm";
	f->stat_err = ENOENT;
}

static const struct check_line *line(const char *item)
{
	for (size_t i = 0; i < report.n; i++)
		if (!strcmp(report.lines[i].item, item))
			return &report.lines[i];
	return NULL;
}

/* The line for item exists, has this level, and its text (and fix, when
 * given) contain the strings. */
static void expect(const char *item, enum check_level level, const char *text, const char *fix)
{
	const struct check_line *l = line(item);

	if (!l)
		fail_msg("no line for '%s'", item);
	if (l->level != level)
		fail_msg("'%s' is %s, expected %s: %s", item, check_level_name(l->level),
			 check_level_name(level), l->text);
	if (text && !strstr(l->text, text))
		fail_msg("'%s' text \"%s\" lacks \"%s\"", item, l->text, text);
	if (fix && !strstr(l->fix, fix))
		fail_msg("'%s' fix \"%s\" lacks \"%s\"", item, l->fix, fix);
	if (level == CHECK_FAIL && !l->fix[0])
		fail_msg("'%s' FAILs without a fix", item);
}

static void expect_none(const char *item)
{
	if (line(item))
		fail_msg("unexpected line '%s': %s", item, line(item)->text);
}

static void test_pvm_host_without_dev_kvm(void **state)
{
	struct check_facts f;

	pvm_host_without_node(&f);
	check_judge(&f, &report);
	expect("CPU", CHECK_INFO, "AuthenticAMD, AMD EPYC", NULL);
	expect("virtualization", CHECK_WARN, "no VMX or SVM", NULL);
	expect("hypervisor", CHECK_INFO, "running nested inside bhyve", NULL);
	expect_none("firmware (AMD-V)");
	expect("kvm", CHECK_PASS, "halt_poll_ns=200000", NULL);
	expect("kvm_pvm", CHECK_WARN, "/dev/kvm is missing", NULL);
	expect("kvm_pvm", CHECK_WARN, "guest ring 3 runs natively without I/O privilege, guest kernel mode is emulated", NULL);
	expect("/dev/kvm", CHECK_FAIL, "does not exist, although kvm_pvm is loaded", "tests/testhost/run.sh");
	expect_none("kvm_amd");          /* no SVM, not loaded: nothing to say */
	expect_none("KVM API version");
	assert_true(check_failed(&report));
	assert_false(report.linux_guests);
	assert_false(report.tiny_guests);
}

static void test_pvm_host_with_dev_kvm(void **state)
{
	struct check_facts f;

	pvm_host_without_node(&f);
	f.stat_err = 0;
	working_node(&f);
	check_judge(&f, &report);
	expect("kvm_pvm", CHECK_INFO, "/dev/kvm is backed by kvm_pvm (PVM: shadow paging without VMX/SVM)", NULL);
	expect("/dev/kvm", CHECK_PASS, "opened read-write", NULL);
	assert_false(check_failed(&report));
	assert_false(report.linux_guests);
	/* PVM grants guest ring 3 no I/O privilege: tiny guests' hypercalls fault. */
	assert_false(report.tiny_guests);
	expect("kvm_pvm", CHECK_INFO, "ring-3 tiny guests fault on their first port I/O", NULL);
}

static void test_amd_svm_npt(void **state)
{
	struct check_facts f;

	amd_host(&f);
	check_judge(&f, &report);
	expect("virtualization", CHECK_PASS, "SVM (AMD-V)", NULL);
	expect("hypervisor", CHECK_INFO, "none", NULL);
	expect("firmware (AMD-V)", CHECK_PASS, "SVMDIS clear", NULL);
	expect("kvm_amd", CHECK_PASS, "npt=1 nested=1 avic=0 (NPT nested paging)", NULL);
	expect_none("kvm_intel");
	expect_none("kvm_pvm");
	expect("/dev/kvm", CHECK_PASS, "crw-rw---- root:kvm, opened read-write", NULL);
	expect("KVM API version", CHECK_PASS, "12", NULL);
	expect("KVM_CAP_USER_MEMORY", CHECK_PASS, "present", NULL);
	expect("KVM_CAP_IRQFD", CHECK_PASS, "present", NULL);
	expect("max vCPUs", CHECK_INFO, "1024", NULL);
	for (size_t i = 0; i < report.n; i++)
		assert_true(report.lines[i].level == CHECK_PASS || report.lines[i].level == CHECK_INFO);
	assert_false(check_failed(&report));
	assert_true(report.linux_guests);
	assert_true(report.tiny_guests);
}

static void test_amd_svm_disabled_by_firmware(void **state)
{
	struct check_facts f;

	amd_host(&f);
	f.fw_msr.value = 0x18;           /* SVMDIS | LOCK */
	f.kvm_amd.loaded = false;
	f.stat_err = ENOENT;
	f.misc_dev[0] = '\0';
	check_judge(&f, &report);
	expect("firmware (AMD-V)", CHECK_FAIL, "SVMDIS set, locked", "enable SVM");
	expect("kvm_amd", CHECK_FAIL, "not loaded", "modprobe kvm_amd");
	expect("/dev/kvm", CHECK_FAIL, "kvm is loaded but no vendor module", "modprobe kvm_amd");
	assert_true(check_failed(&report));
	assert_false(report.linux_guests);
}

static void test_intel_vmx_disabled_by_firmware(void **state)
{
	struct check_facts f;

	intel_host(&f);
	f.fw_msr.value = 0x1;            /* locked, VMX outside SMX clear */
	f.kvm_intel.loaded = false;
	f.stat_err = ENOENT;
	f.misc_dev[0] = '\0';
	check_judge(&f, &report);
	expect("virtualization", CHECK_PASS, "VMX (Intel VT-x)", NULL);
	expect("firmware (VT-x)", CHECK_FAIL, "IA32_FEATURE_CONTROL=0x1: locked, VMX outside SMX off",
	       "enable VT-x (\"Intel Virtualization Technology\") in the firmware setup");
	expect("kvm_intel", CHECK_FAIL, "not loaded", "modprobe kvm_intel");
	expect_none("kvm_amd");
	assert_true(check_failed(&report));
	assert_false(report.linux_guests);
	assert_false(report.tiny_guests);
}

static void test_intel_feature_control_states(void **state)
{
	struct check_facts f;

	intel_host(&f);
	check_judge(&f, &report);
	expect("firmware (VT-x)", CHECK_PASS, "IA32_FEATURE_CONTROL=0x5", NULL);
	expect("kvm_intel", CHECK_PASS, "ept=Y nested=Y enable_apicv=Y (EPT nested paging)", NULL);
	assert_true(report.linux_guests);

	f.fw_msr.value = 0;              /* unlocked: the kernel sets it at boot */
	check_judge(&f, &report);
	expect("firmware (VT-x)", CHECK_INFO, "not locked", NULL);
	assert_false(check_failed(&report));
}

static void test_msr_unknown(void **state)
{
	struct check_facts f;

	amd_host(&f);
	f.fw_msr = (struct check_msr){ .state = CHECK_MSR_NO_DEVICE, .err = ENOENT };
	check_judge(&f, &report);
	/* kvm_amd refuses to load when firmware disabled SVM: proof enough. */
	expect("firmware (AMD-V)", CHECK_INFO,
	       "unknown (no /dev/cpu/0/msr; modprobe msr); but kvm_amd loaded, so it is on", NULL);
	assert_false(check_failed(&report));

	f.kvm_amd.loaded = false;
	check_judge(&f, &report);
	expect("firmware (AMD-V)", CHECK_WARN, "unknown (no /dev/cpu/0/msr; modprobe msr)", NULL);

	intel_host(&f);
	f.fw_msr = (struct check_msr){ .state = CHECK_MSR_ERROR, .err = EACCES };
	check_judge(&f, &report);
	expect("firmware (VT-x)", CHECK_INFO, "Permission denied; needs root); but kvm_intel loaded, so it is on", NULL);
}

static void test_dev_kvm_eacces(void **state)
{
	struct check_facts f;

	amd_host(&f);
	f.open_err = EACCES;
	check_judge(&f, &report);
	expect("/dev/kvm", CHECK_FAIL, "crw-rw---- root:kvm: cannot open read-write: Permission denied",
	       "add yourself to group kvm");
	expect_none("KVM API version");   /* nothing to ask an unopened device */
	assert_true(check_failed(&report));
	assert_false(report.linux_guests);
	assert_false(report.tiny_guests);
}

static void test_dev_kvm_not_char_device(void **state)
{
	struct check_facts f;

	amd_host(&f);
	f.is_chr = false;
	f.mode = S_IFREG | 0644;
	check_judge(&f, &report);
	expect("/dev/kvm", CHECK_FAIL, "is not a character device (-rw-r--r--", "mknod");
}

static void test_node_missing_but_registered(void **state)
{
	struct check_facts f;

	amd_host(&f);
	f.stat_err = ENOENT;
	check_judge(&f, &report);
	expect("/dev/kvm", CHECK_FAIL, "does not exist", "mknod -m 660 /dev/kvm c 10 232");
}

static void test_missing_required_capability(void **state)
{
	struct check_facts f;

	amd_host(&f);
	set_cap(&f, "KVM_CAP_IMMEDIATE_EXIT", 0);
	check_judge(&f, &report);
	expect("KVM_CAP_IMMEDIATE_EXIT", CHECK_FAIL, "missing: mvm needs it for stopping vCPUs",
	       "newer host kernel");
	expect("KVM_CAP_USER_MEMORY", CHECK_PASS, NULL, NULL);
	assert_true(check_failed(&report));
	assert_false(report.linux_guests);
	assert_false(report.tiny_guests);
}

static void test_missing_optional_capability_warns(void **state)
{
	struct check_facts f;

	amd_host(&f);
	set_cap(&f, "KVM_CAP_IRQFD", 0);
	set_cap(&f, "KVM_CAP_BINARY_STATS_FD", -1);
	set_cap(&f, "KVM_CAP_IOEVENTFD", 0);
	check_judge(&f, &report);
	expect("KVM_CAP_IRQFD", CHECK_WARN, "missing", NULL);
	expect("KVM_CAP_BINARY_STATS_FD", CHECK_WARN, "missing", NULL);
	expect("KVM_CAP_IOEVENTFD", CHECK_WARN, "missing", NULL);
	assert_false(check_failed(&report));
	assert_true(report.linux_guests);
}

static void test_api_version(void **state)
{
	struct check_facts f;

	amd_host(&f);
	f.api_version = 11;
	check_judge(&f, &report);
	expect("KVM API version", CHECK_FAIL, "11, mvm needs 12", NULL);
	assert_false(report.tiny_guests);
}

static void test_no_extension(void **state)
{
	struct check_facts f;

	amd_host(&f);
	f.svm = false;
	f.fw_msr.state = CHECK_MSR_NOT_READ;
	f.kvm_amd.loaded = false;
	f.stat_err = ENOENT;
	check_judge(&f, &report);
	expect("virtualization", CHECK_FAIL, "no VMX or SVM", "enable VT-x/AMD-V in the firmware");
	expect_none("firmware (AMD-V)");
	expect_none("kvm_amd");

	f.hypervisor = true;
	strcpy(f.hv_vendor, "KVMKVMKVM");
	check_judge(&f, &report);
	expect("virtualization", CHECK_FAIL, "no VMX or SVM", "without nested virtualization");
	expect("hypervisor", CHECK_INFO, "running nested inside KVM", NULL);

	strcpy(f.hv_vendor, "SomethingNew");
	check_judge(&f, &report);
	expect("hypervisor", CHECK_INFO, "running nested inside \"SomethingNew\"", NULL);
}

static void test_npt_off_warns(void **state)
{
	struct check_facts f;

	amd_host(&f);
	strcpy(f.kvm_amd.tdp, "0");
	check_judge(&f, &report);
	expect("kvm_amd", CHECK_WARN, "npt=0", "modprobe kvm_amd npt=1");
	assert_false(check_failed(&report));
}

static void test_no_kvm_module(void **state)
{
	struct check_facts f;

	intel_host(&f);
	f.kvm.loaded = false;
	f.kvm_intel.loaded = false;
	f.stat_err = ENOENT;
	f.misc_dev[0] = '\0';
	check_judge(&f, &report);
	expect("kvm", CHECK_FAIL, "not loaded", "modprobe kvm_intel");
	expect("/dev/kvm", CHECK_FAIL, "no KVM module loaded", "modprobe kvm_intel");
}

static char *print_report(bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	check_print(out, &report, color);
	fclose(out);
	return buf;
}

static void test_print_aligned_with_fix(void **state)
{
	struct check_facts f;
	char *text;

	amd_host(&f);
	f.open_err = EACCES;
	check_judge(&f, &report);
	text = print_report(false);
	/* Items padded to the longest one (KVM_CAP_... are not printed here:
	 * the device was not opened), fixes indented under the text column. */
	assert_non_null(strstr(text, "PASS  kvm_amd           loaded"));
	assert_non_null(strstr(text, "FAIL  /dev/kvm          /dev/kvm crw-rw---- root:kvm"));
	assert_non_null(strstr(text, "\n                        fix: add yourself to group kvm"));
	assert_non_null(strstr(text, "\nmvm can run: Linux guests: no; tiny ring-3 guests: no\n"));
	assert_null(strstr(text, "\033["));
	free(text);

	text = print_report(true);
	assert_non_null(strstr(text, "\033[31mFAIL\033[0m"));
	free(text);
}

/* The subcommand on this machine, pointed at a path that cannot exist. */
static void test_main_nonexistent_path(void **state)
{
	char *argv[] = { "check", "--kvm", "/nonexistent/kvm", NULL };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(check_main(3, argv, out), 1);
	fclose(out);
	if (!strstr(buf, "FAIL  /dev/kvm") || !strstr(buf, "/nonexistent/kvm does not exist"))
		fail_msg("no FAIL for the missing device in:\n%s", buf);
	assert_non_null(strstr(buf, "tiny ring-3 guests: no"));
	free(buf);
}

static void test_main_usage(void **state)
{
	char *bad[] = { "check", "--bogus", NULL };
	char *noval[] = { "check", "--kvm", NULL };
	char *extra[] = { "check", "extra", NULL };
	FILE *out = fopen("/dev/null", "w");

	assert_non_null(out);
	assert_int_equal(check_main(2, bad, out), 2);
	assert_int_equal(check_main(2, noval, out), 2);
	assert_int_equal(check_main(2, extra, out), 2);
	fclose(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pvm_host_without_dev_kvm),
		cmocka_unit_test(test_pvm_host_with_dev_kvm),
		cmocka_unit_test(test_amd_svm_npt),
		cmocka_unit_test(test_amd_svm_disabled_by_firmware),
		cmocka_unit_test(test_intel_vmx_disabled_by_firmware),
		cmocka_unit_test(test_intel_feature_control_states),
		cmocka_unit_test(test_msr_unknown),
		cmocka_unit_test(test_dev_kvm_eacces),
		cmocka_unit_test(test_dev_kvm_not_char_device),
		cmocka_unit_test(test_node_missing_but_registered),
		cmocka_unit_test(test_missing_required_capability),
		cmocka_unit_test(test_missing_optional_capability_warns),
		cmocka_unit_test(test_api_version),
		cmocka_unit_test(test_no_extension),
		cmocka_unit_test(test_npt_off_warns),
		cmocka_unit_test(test_no_kvm_module),
		cmocka_unit_test(test_print_aligned_with_fix),
		cmocka_unit_test(test_main_nonexistent_path),
		cmocka_unit_test(test_main_usage),
	};
	return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
