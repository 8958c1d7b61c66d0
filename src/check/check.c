/* check.c - `mvm check`: judging host facts into PASS/INFO/WARN/FAIL lines, and printing them. */
#include "check/check.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FEATURE_CONTROL_LOCK     (1ull << 0)
#define FEATURE_CONTROL_VMX_OUT  (1ull << 2)   /* VMX outside SMX */
#define VM_CR_LOCK               (1ull << 3)
#define VM_CR_SVMDIS             (1ull << 4)

#define PVM_MEANING "/dev/kvm is backed by kvm_pvm (PVM: shadow paging without VMX/SVM): " \
	"guest ring 3 runs natively without I/O privilege, guest kernel mode is emulated; stock " \
	"Linux kernels will not boot, and mvm's ring-3 tiny guests fault on their first port " \
	"I/O (their hypercalls): use the test host VM (tests/testhost/)"

const char *check_level_name(enum check_level l)
{
	switch (l) {
	case CHECK_PASS: return "PASS";
	case CHECK_INFO: return "INFO";
	case CHECK_WARN: return "WARN";
	case CHECK_FAIL: return "FAIL";
	}
	return "????";
}

/* Append a line; fix may be NULL. Lines past CHECK_MAX_LINES are dropped
 * (the judge emits far fewer; the bound only keeps a bug from overflowing). */
static struct check_line *add(struct check_report *r, enum check_level level, const char *item,
			      const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static struct check_line *add(struct check_report *r, enum check_level level, const char *item,
			      const char *fix, const char *fmt, ...)
{
	struct check_line *l;
	va_list ap;

	if (r->n == CHECK_MAX_LINES)
		return NULL;
	l = &r->lines[r->n++];
	memset(l, 0, sizeof(*l));
	l->level = level;
	snprintf(l->item, sizeof(l->item), "%s", item);
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	if (fix)
		snprintf(l->fix, sizeof(l->fix), "%s", fix);
	return l;
}

/* Module parameters read "Y"/"N" or "1"/"0"; absent is neither. */
static bool param_on(const char *v)
{
	return !strcmp(v, "Y") || !strcmp(v, "y") || !strcmp(v, "1");
}

static bool param_off(const char *v)
{
	return !strcmp(v, "N") || !strcmp(v, "n") || !strcmp(v, "0");
}

static const char *hv_name(const char *sig)
{
	static const struct { const char *sig, *name; } known[] = {
		{ "KVMKVMKVM",    "KVM" },        { "TCGTCGTCGTCG", "QEMU TCG" },
		{ "Microsoft Hv", "Hyper-V" },    { "VMwareVMware", "VMware" },
		{ "XenVMMXenVMM", "Xen" },        { "VBoxVBoxVBox", "VirtualBox" },
		{ " lrpepyh  vr", "Parallels" },  { "bhyve bhyve ", "bhyve" },
		{ "ACRNACRNACRN", "ACRN" },       { "QNXQVMBSQG",   "QNX" },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(sig, known[i].sig))
			return known[i].name;
	return NULL;
}

static void judge_cpu(const struct check_facts *f, struct check_report *r)
{
	add(r, CHECK_INFO, "CPU", NULL, "%s, %s", f->vendor[0] ? f->vendor : "unknown vendor",
	    f->model[0] ? f->model : "no model name");
	if (f->vmx)
		add(r, CHECK_PASS, "virtualization", NULL, "VMX (Intel VT-x) in CPUID");
	else if (f->svm)
		add(r, CHECK_PASS, "virtualization", NULL, "SVM (AMD-V) in CPUID");
	else if (f->kvm_pvm.loaded)
		add(r, CHECK_WARN, "virtualization", NULL,
		    "no VMX or SVM in CPUID: only kvm_pvm can provide KVM here");
	else
		add(r, CHECK_FAIL, "virtualization",
		    f->hypervisor ? "this is a VM without nested virtualization: enable it in the outer "
				    "hypervisor (e.g. QEMU -cpu host, kvm_intel/kvm_amd nested=1 there)"
				  : "enable VT-x/AMD-V in the firmware setup (a CPU without it cannot run KVM)",
		    "no VMX or SVM in CPUID");

	if (!f->hypervisor) {
		add(r, CHECK_INFO, "hypervisor", NULL, "none (CPUID hypervisor bit clear)");
	} else {
		const char *name = hv_name(f->hv_vendor);

		if (name)
			add(r, CHECK_INFO, "hypervisor", NULL, "running nested inside %s (\"%s\")", name,
			    f->hv_vendor);
		else
			add(r, CHECK_INFO, "hypervisor", NULL, "running nested inside \"%s\"", f->hv_vendor);
	}
}

static void judge_firmware(const struct check_facts *f, struct check_report *r)
{
	const struct check_msr *m = &f->fw_msr;
	bool intel = f->vmx;
	const char *item = intel ? "firmware (VT-x)" : "firmware (AMD-V)";
	const char *msr = intel ? "IA32_FEATURE_CONTROL" : "VM_CR";
	unsigned long long v = m->value;
	/* A loaded vendor module proves firmware left the extension on. */
	bool module = intel ? f->kvm_intel.loaded : f->kvm_amd.loaded;
	const char *mod_name = intel ? "kvm_intel" : "kvm_amd";
	enum check_level unknown = module ? CHECK_INFO : CHECK_WARN;

	if (!f->vmx && !f->svm)
		return;
	switch (m->state) {
	case CHECK_MSR_NOT_READ:
		return;
	case CHECK_MSR_NO_DEVICE:
		add(r, unknown, item, NULL, "unknown (no /dev/cpu/0/msr; modprobe msr)%s%s%s",
		    module ? "; but " : "", module ? mod_name : "", module ? " loaded, so it is on" : "");
		return;
	case CHECK_MSR_ERROR:
		add(r, unknown, item, NULL, "unknown (reading %s from /dev/cpu/0/msr: %s%s)%s%s%s", msr,
		    strerror(m->err), m->err == EACCES || m->err == EPERM ? "; needs root" : "",
		    module ? "; but " : "", module ? mod_name : "", module ? " loaded, so it is on" : "");
		return;
	case CHECK_MSR_OK:
		break;
	}
	if (intel) {
		if ((v & FEATURE_CONTROL_LOCK) && !(v & FEATURE_CONTROL_VMX_OUT))
			add(r, CHECK_FAIL, item,
			    "enable VT-x (\"Intel Virtualization Technology\") in the firmware setup, then power-cycle",
			    "disabled by firmware (IA32_FEATURE_CONTROL=%#llx: locked, VMX outside SMX off)", v);
		else if (v & FEATURE_CONTROL_LOCK)
			add(r, CHECK_PASS, item, NULL,
			    "enabled (IA32_FEATURE_CONTROL=%#llx: locked, VMX outside SMX on)", v);
		else
			add(r, CHECK_INFO, item, NULL,
			    "IA32_FEATURE_CONTROL=%#llx not locked: the kernel enables VMX itself", v);
	} else if (v & VM_CR_SVMDIS) {
		add(r, CHECK_FAIL, item,
		    "enable SVM (\"SVM Mode\", AMD-V) in the firmware setup, then power-cycle",
		    "disabled by firmware (VM_CR=%#llx: SVMDIS set%s)", v, v & VM_CR_LOCK ? ", locked" : "");
	} else {
		add(r, CHECK_PASS, item, NULL, "enabled (VM_CR=%#llx: SVMDIS clear)", v);
	}
}

static void judge_vendor_module(const struct check_facts *f, struct check_report *r, bool intel)
{
	const struct check_module *m = intel ? &f->kvm_intel : &f->kvm_amd;
	const char *name = intel ? "kvm_intel" : "kvm_amd";
	const char *tdp = intel ? "ept" : "npt", *apicv = intel ? "enable_apicv" : "avic";
	char params[160];

	if (!(intel ? f->vmx : f->svm) && !m->loaded)
		return;
	if (!m->loaded) {
		char fix[96];

		snprintf(fix, sizeof(fix), "modprobe %s", name);
		/* Where PVM already provides /dev/kvm, the vendor module is an
		 * upgrade (Linux guests), not a requirement. */
		add(r, f->kvm_pvm.loaded ? CHECK_WARN : CHECK_FAIL, name, fix, "not loaded");
		return;
	}
	snprintf(params, sizeof(params), "%s=%s nested=%s %s=%s", tdp, m->tdp[0] ? m->tdp : "?",
		 m->nested[0] ? m->nested : "?", apicv, m->apicv[0] ? m->apicv : "?");
	if (param_off(m->tdp)) {
		char fix[96];

		snprintf(fix, sizeof(fix), "modprobe -r %s && modprobe %s %s=1", name, name, tdp);
		add(r, CHECK_WARN, name, fix, "loaded, %s: no nested paging, guests use slow shadow paging",
		    params);
	} else {
		add(r, CHECK_PASS, name, NULL, "loaded, %s%s", params,
		    param_on(m->tdp) ? (intel ? " (EPT nested paging)" : " (NPT nested paging)") : "");
	}
}

static void judge_modules(const struct check_facts *f, struct check_report *r)
{
	if (f->kvm.loaded)
		add(r, CHECK_PASS, "kvm", NULL, "loaded, halt_poll_ns=%s",
		    f->kvm.halt_poll_ns[0] ? f->kvm.halt_poll_ns : "?");
	else
		add(r, CHECK_FAIL, "kvm",
		    f->svm ? "modprobe kvm_amd (it loads kvm)"
			   : "modprobe kvm_intel (it loads kvm); on AMD: modprobe kvm_amd",
		    "not loaded (no /sys/module/kvm)");
	judge_vendor_module(f, r, true);
	judge_vendor_module(f, r, false);
	if (!f->kvm_pvm.loaded)
		return;
	if (f->stat_err == ENOENT && !f->misc_dev[0])
		add(r, CHECK_WARN, "kvm_pvm", NULL,
		    "loaded, but %s is missing and KVM registered no device (no /sys/class/misc/kvm); "
		    "where it works, %s", f->kvm_path, PVM_MEANING);
	else
		add(r, CHECK_INFO, "kvm_pvm", NULL, "loaded: %s", PVM_MEANING);
}

/* Why the node is missing, and what to do, from what the kernel registered. */
static void judge_missing_node(const struct check_facts *f, struct check_report *r)
{
	char fix[240];
	const char *why;

	if (f->misc_dev[0]) {
		unsigned major = 10, minor = 232;

		sscanf(f->misc_dev, "%u:%u", &major, &minor);
		snprintf(fix, sizeof(fix),
			 "the kernel registered KVM as char device %s but no node exists (udev normally "
			 "makes it): mknod -m 660 %s c %u %u && chgrp kvm %s",
			 f->misc_dev, f->kvm_path, major, minor, f->kvm_path);
		why = "";
	} else if (f->kvm_pvm.loaded) {
		snprintf(fix, sizeof(fix),
			 "KVM registered no device here (a sandbox or container may hide it): run mvm "
			 "where /dev/kvm exists, or inside the test host VM (tests/testhost/run.sh)");
		why = ", although kvm_pvm is loaded (no /sys/class/misc/kvm)";
	} else if (f->kvm.loaded) {
		snprintf(fix, sizeof(fix), "load the vendor module: modprobe %s",
			 f->svm ? "kvm_amd" : "kvm_intel");
		why = " (kvm is loaded but no vendor module registered the device)";
	} else {
		snprintf(fix, sizeof(fix), "load KVM: modprobe %s; and enable VT-x/AMD-V in the firmware",
			 f->svm ? "kvm_amd" : "kvm_intel");
		why = " (no KVM module loaded)";
	}
	add(r, CHECK_FAIL, "/dev/kvm", fix, "%s does not exist%s", f->kvm_path, why);
}

static void mode_string(mode_t m, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";

	out[0] = S_ISCHR(m) ? 'c' : S_ISDIR(m) ? 'd' : S_ISREG(m) ? '-' : '?';
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (0400 >> i)) ? rwx[i] : '-';
	out[10] = '\0';
}

/* Returns true when the device works: open, API 12, every required cap. */
static bool judge_device(const struct check_facts *f, struct check_report *r)
{
	bool ok = true;
	char mode[11];

	if (f->stat_err == ENOENT) {
		judge_missing_node(f, r);
		return false;
	}
	if (f->stat_err) {
		add(r, CHECK_FAIL, "/dev/kvm", "check the path given to --kvm", "%s: %s", f->kvm_path,
		    strerror(f->stat_err));
		return false;
	}
	mode_string(f->mode, mode);
	if (!f->is_chr) {
		add(r, CHECK_FAIL, "/dev/kvm", "remove it and let udev recreate it, or: mknod -m 660 /dev/kvm c 10 232",
		    "%s is not a character device (%s %s:%s)", f->kvm_path, mode, f->owner, f->group);
		return false;
	}
	if (f->open_err == EACCES || f->open_err == EPERM) {
		char fix[160];

		snprintf(fix, sizeof(fix), "add yourself to group %s: sudo usermod -aG %s $USER, then log in "
			 "again (or run as root)", f->group, f->group);
		add(r, CHECK_FAIL, "/dev/kvm", fix, "%s %s %s:%s: cannot open read-write: %s", f->kvm_path,
		    mode, f->owner, f->group, strerror(f->open_err));
		return false;
	}
	if (f->open_err) {
		bool nodev = f->open_err == ENXIO || f->open_err == ENODEV;

		add(r, CHECK_FAIL, "/dev/kvm",
		    nodev ? "no KVM behind this node: load kvm_intel or kvm_amd (modprobe)" : NULL,
		    "%s %s %s:%s: cannot open read-write: %s", f->kvm_path, mode, f->owner, f->group,
		    strerror(f->open_err));
		return false;
	}
	add(r, CHECK_PASS, "/dev/kvm", NULL, "%s %s %s:%s, opened read-write", f->kvm_path, mode,
	    f->owner, f->group);

	if (f->api_version == 12) {
		add(r, CHECK_PASS, "KVM API version", NULL, "12");
	} else {
		add(r, CHECK_FAIL, "KVM API version", "use a Linux host kernel with the stable KVM API (2.6.22 or later)",
		    "%d, mvm needs 12", f->api_version);
		ok = false;
	}
	for (size_t i = 0; i < f->nr_caps; i++) {
		const struct check_cap *c = &f->caps[i];

		if (c->value > 0)
			add(r, CHECK_PASS, c->name, NULL, "present: %s", c->why);
		else if (c->required)
			add(r, CHECK_FAIL, c->name, "a newer host kernel is required",
			    "missing: mvm needs it for %s", c->why);
		else
			add(r, CHECK_WARN, c->name, NULL, "missing: no %s", c->why);
		if (c->value <= 0 && c->required)
			ok = false;
	}
	if (f->max_vcpus > 0)
		add(r, CHECK_INFO, "max vCPUs", NULL, "%d", f->max_vcpus);
	else
		add(r, CHECK_INFO, "max vCPUs", NULL, "KVM does not say (the API promises 4)");
	return ok;
}

void check_judge(const struct check_facts *f, struct check_report *r)
{
	bool dev_ok;

	memset(r, 0, sizeof(*r));
	judge_cpu(f, r);
	judge_firmware(f, r);
	judge_modules(f, r);
	dev_ok = judge_device(f, r);
	/* A working device backed by a VMX/SVM module; kvm_pvm alone emulates
	 * guest kernel mode, which a stock kernel does not survive, and runs
	 * guest ring 3 as host user mode, where IOPL 3 is never granted: a tiny
	 * guest's OUT hypercalls #GP (seen: hello's first OUT, RFLAGS IOPL 0). */
	r->linux_guests = dev_ok && (f->kvm_intel.loaded || f->kvm_amd.loaded);
	r->tiny_guests = r->linux_guests;
}

bool check_failed(const struct check_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->lines[i].level == CHECK_FAIL)
			return true;
	return false;
}

void check_print(FILE *out, const struct check_report *r, bool color)
{
	static const char *const colors[] = {
		[CHECK_PASS] = "\033[32m", [CHECK_INFO] = "", [CHECK_WARN] = "\033[33m",
		[CHECK_FAIL] = "\033[31m",
	};
	int width = 0;

	for (size_t i = 0; i < r->n; i++)
		if ((int)strlen(r->lines[i].item) > width)
			width = (int)strlen(r->lines[i].item);
	for (size_t i = 0; i < r->n; i++) {
		const struct check_line *l = &r->lines[i];
		bool paint = color && colors[l->level][0];

		fprintf(out, "%s%s%s  %-*s  %s\n", paint ? colors[l->level] : "",
			check_level_name(l->level), paint ? "\033[0m" : "", width, l->item, l->text);
		if (l->fix[0])
			fprintf(out, "%*s  fix: %s\n", 4 + 2 + width, "", l->fix);
	}
	fprintf(out, "\nmvm can run: Linux guests: %s; tiny ring-3 guests: %s\n",
		r->linux_guests ? "yes" : "no", r->tiny_guests ? "yes" : "no");
}

int check_main(int argc, char **argv, FILE *out)
{
	static const struct option opts[] = {
		{ "kvm",  required_argument, NULL, 'k' },
		{ "help", no_argument,       NULL, 'h' },
		{ 0 },
	};
	const char *path = "/dev/kvm";
	struct check_facts facts;
	struct check_report *report;
	int c, status;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			path = optarg;
			break;
		case 'h':
			fprintf(out, "usage: mvm check [--kvm PATH]\n\n"
				"Diagnose whether this host can run mvm: CPU virtualization extensions,\n"
				"firmware, KVM modules, the KVM device and its capabilities.\n"
				"  --kvm PATH   examine PATH instead of /dev/kvm\n"
				"Exit status: 0 when no check failed, 1 otherwise.\n");
			return 0;
		case ':':
			fprintf(stderr, "mvm check: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "mvm check: unknown option '%s' (usage: mvm check [--kvm PATH])\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mvm check: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	/* ~30 KiB of lines: off the stack. */
	report = malloc(sizeof(*report));
	if (!report) {
		fprintf(stderr, "mvm check: out of memory\n");
		return 1;
	}
	check_probe(&facts, path);
	check_judge(&facts, report);
	check_print(out, report, isatty(fileno(out)));
	status = check_failed(report) ? 1 : 0;
	free(report);
	return status;
}
