/* check.h - `mvm check`: can this host run mvm, and if not, what to fix.
 *
 * Contract: diagnosis is two steps kept apart so the judging can be tested
 * on any machine. check_probe() gathers facts about the host (CPUID, the
 * firmware-control MSR, KVM modules and their parameters, the KVM device
 * node and its capabilities) into a plain struct check_facts and never
 * judges. check_judge() is pure: it turns facts into report lines, each
 * PASS, INFO, WARN or FAIL, every FAIL with a fix. check_main() is the
 * subcommand: probe, judge, print; exit status 0 when no line FAILed, 1
 * otherwise, 2 for bad usage. Nothing here loads modules or needs root.
 */
#ifndef MVM_CHECK_CHECK_H
#define MVM_CHECK_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CHECK_MAX_CAPS 24
#define CHECK_MAX_LINES 64

/* A model-specific register read through /dev/cpu/0/msr. */
enum check_msr_state {
	CHECK_MSR_NOT_READ,      /* not applicable (other vendor, no extension) */
	CHECK_MSR_OK,            /* value holds it */
	CHECK_MSR_NO_DEVICE,     /* no /dev/cpu/0/msr: the msr module is not loaded */
	CHECK_MSR_ERROR,         /* open or pread failed with err */
};

struct check_msr {
	enum check_msr_state state;
	int err;                 /* positive errno for CHECK_MSR_ERROR */
	uint64_t value;
};

/* One kernel module: /sys/module/<name> and a few of its parameters,
 * as their files read (trimmed), "" when the parameter does not exist. */
struct check_module {
	bool loaded;
	char tdp[16];            /* kvm_amd npt, kvm_intel ept */
	char nested[16];
	char apicv[16];          /* kvm_amd avic, kvm_intel enable_apicv */
	char halt_poll_ns[24];   /* kvm only */
};

struct check_cap {
	const char *name;        /* "KVM_CAP_IRQCHIP" */
	const char *why;
	bool required;           /* FAIL when missing; otherwise WARN */
	int value;               /* KVM_CHECK_EXTENSION answer; <= 0 is absent */
};

struct check_facts {
	/* CPU */
	char vendor[13];         /* CPUID 0: "GenuineIntel", "AuthenticAMD" */
	char model[49];          /* CPUID 0x80000002..4, trimmed */
	bool vmx;                /* CPUID 1 ECX bit 5 */
	bool svm;                /* CPUID 0x80000001 ECX bit 2 */
	bool hypervisor;         /* CPUID 1 ECX bit 31 */
	char hv_vendor[13];      /* CPUID 0x40000000 when hypervisor */
	/* firmware: IA32_FEATURE_CONTROL (0x3a) when vmx, else VM_CR
	 * (0xc0010114) when svm, else not read */
	struct check_msr fw_msr;

	/* modules */
	struct check_module kvm, kvm_intel, kvm_amd, kvm_pvm;
	char misc_dev[16];       /* /sys/class/misc/kvm/dev ("10:232"), "" if none */

	/* the device node */
	const char *kvm_path;
	int stat_err;            /* 0 when stat() worked, else positive errno */
	bool is_chr;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char owner[32], group[32];
	int open_err;            /* 0 when O_RDWR open worked, else positive errno */
	int api_version;         /* KVM_GET_API_VERSION, valid when open_err == 0 */
	int max_vcpus;           /* KVM_CAP_MAX_VCPUS, else NR_VCPUS, else 0 */
	struct check_cap caps[CHECK_MAX_CAPS];
	size_t nr_caps;
};

enum check_level { CHECK_PASS, CHECK_INFO, CHECK_WARN, CHECK_FAIL };

struct check_line {
	enum check_level level;
	char item[32];
	char text[400];
	char fix[240];           /* "" unless there is something to do */
};

struct check_report {
	struct check_line lines[CHECK_MAX_LINES];
	size_t n;
	bool linux_guests;       /* VMX/SVM-backed KVM that works */
	bool tiny_guests;        /* any working KVM device */
};

/* Fill *f from this host; kvm_path is the device to examine (kept, not
 * copied). Never fails: what cannot be read is recorded as such. */
void check_probe(struct check_facts *f, const char *kvm_path);

/* Pure: facts -> report (ends with the "mvm can run" summary line). */
void check_judge(const struct check_facts *f, struct check_report *r);

/* True when some line is a FAIL. */
bool check_failed(const struct check_report *r);

void check_print(FILE *out, const struct check_report *r, bool color);

const char *check_level_name(enum check_level l);

/* `mvm check [--kvm PATH]`; argv[0] is "check". Returns the exit status. */
int check_main(int argc, char **argv, FILE *out);

#endif
