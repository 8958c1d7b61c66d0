/* probe.c - gathering the host facts `mvm check` judges: CPUID, MSRs, modules, /dev/kvm. */
#include "check/check.h"
#include "core/kvm.h"

#include <cpuid.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MSR_IA32_FEATURE_CONTROL 0x3a
#define MSR_AMD_VM_CR            0xc0010114

static void probe_regs_str(char *dst, const uint32_t *regs, int n)
{
	memcpy(dst, regs, 4 * n);
	dst[4 * n] = '\0';
}

/* Brand strings are padded with spaces on either side. */
static void probe_trim(char *s)
{
	size_t len = strlen(s), start = 0;

	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	while (s[start] && isspace((unsigned char)s[start]))
		start++;
	memmove(s, s + start, len - start + 1);
}

static void probe_cpu(struct check_facts *f)
{
	unsigned a, b, c, d, max_ext;
	uint32_t regs[12];

	__cpuid(0, a, b, c, d);
	regs[0] = b, regs[1] = d, regs[2] = c;
	probe_regs_str(f->vendor, regs, 3);
	__cpuid(1, a, b, c, d);
	f->vmx = c & (1u << 5);
	f->hypervisor = c & (1u << 31);

	__cpuid(0x80000000, max_ext, b, c, d);
	if (max_ext >= 0x80000001) {
		__cpuid(0x80000001, a, b, c, d);
		f->svm = c & (1u << 2);
	}
	if (max_ext >= 0x80000004) {
		for (unsigned i = 0; i < 3; i++)
			__cpuid(0x80000002 + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2],
				regs[4 * i + 3]);
		probe_regs_str(f->model, regs, 12);
		probe_trim(f->model);
	}
	/* Leaf 0x40000000 is only meaningful when a hypervisor says it is there. */
	if (f->hypervisor) {
		__cpuid(0x40000000, a, b, c, d);
		regs[0] = b, regs[1] = c, regs[2] = d;
		probe_regs_str(f->hv_vendor, regs, 3);
	}
}

static void probe_msr(struct check_msr *m, uint32_t index)
{
	int fd = open("/dev/cpu/0/msr", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		m->err = errno;
		m->state = m->err == ENOENT || m->err == ENXIO || m->err == ENODEV
				   ? CHECK_MSR_NO_DEVICE : CHECK_MSR_ERROR;
		return;
	}
	ssize_t n = pread(fd, &m->value, sizeof(m->value), index);

	if (n == (ssize_t)sizeof(m->value)) {
		m->state = CHECK_MSR_OK;
	} else {
		m->state = CHECK_MSR_ERROR;
		m->err = n < 0 ? errno : EIO;
	}
	close(fd);
}

/* Read a sysfs file's first line into buf ("" when it cannot be read). */
static void probe_read_line(const char *path, char *buf, size_t size)
{
	FILE *fp = fopen(path, "re");

	buf[0] = '\0';
	if (!fp)
		return;
	if (!fgets(buf, (int)size, fp))
		buf[0] = '\0';
	fclose(fp);
	probe_trim(buf);
}

static void probe_param(const char *module, const char *param, char *buf, size_t size)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, param);
	probe_read_line(path, buf, size);
}

static void probe_module(struct check_module *m, const char *name, const char *tdp,
			 const char *apicv)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	m->loaded = access(path, F_OK) == 0;
	if (!m->loaded)
		return;
	if (tdp)
		probe_param(name, tdp, m->tdp, sizeof(m->tdp));
	if (apicv)
		probe_param(name, apicv, m->apicv, sizeof(m->apicv));
	probe_param(name, "nested", m->nested, sizeof(m->nested));
}

static void probe_node(struct check_facts *f)
{
	struct stat st;

	if (stat(f->kvm_path, &st)) {
		f->stat_err = errno;
		return;
	}
	f->is_chr = S_ISCHR(st.st_mode);
	f->mode = st.st_mode;
	f->uid = st.st_uid;
	f->gid = st.st_gid;

	struct passwd *pw = getpwuid(st.st_uid);
	struct group *gr = getgrgid(st.st_gid);

	if (pw)
		snprintf(f->owner, sizeof(f->owner), "%s", pw->pw_name);
	else
		snprintf(f->owner, sizeof(f->owner), "%u", (unsigned)st.st_uid);
	if (gr)
		snprintf(f->group, sizeof(f->group), "%s", gr->gr_name);
	else
		snprintf(f->group, sizeof(f->group), "%u", (unsigned)st.st_gid);
}

static void probe_kvm_api(struct check_facts *f)
{
	size_t n;
	const struct kvm_cap_info *tab = kvm_cap_table(&n);
	int fd;

	/* A regular file or a directory would "open" but answer no ioctl. */
	if (f->stat_err || !f->is_chr)
		return;
	fd = open(f->kvm_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		f->open_err = errno;
		return;
	}
	f->api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
	for (size_t i = 0; i < n && i < CHECK_MAX_CAPS; i++) {
		f->caps[i] = (struct check_cap){ .name = tab[i].name, .why = tab[i].why,
						 .required = tab[i].required,
						 .value = ioctl(fd, KVM_CHECK_EXTENSION, tab[i].cap) };
		f->nr_caps = i + 1;
	}
	f->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (f->max_vcpus <= 0)
		f->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (f->max_vcpus < 0)
		f->max_vcpus = 0;
	close(fd);
}

void check_probe(struct check_facts *f, const char *kvm_path)
{
	memset(f, 0, sizeof(*f));
	f->kvm_path = kvm_path;
	probe_cpu(f);
	/* The MSR that says whether firmware locked the extension off belongs
	 * to the vendor whose extension CPUID offers (VMX: Intel and the VIA/
	 * Zhaoxin parts; SVM: AMD and Hygon), and only matters then. */
	if (f->vmx)
		probe_msr(&f->fw_msr, MSR_IA32_FEATURE_CONTROL);
	else if (f->svm)
		probe_msr(&f->fw_msr, MSR_AMD_VM_CR);

	probe_module(&f->kvm, "kvm", NULL, NULL);
	if (f->kvm.loaded)
		probe_param("kvm", "halt_poll_ns", f->kvm.halt_poll_ns, sizeof(f->kvm.halt_poll_ns));
	probe_module(&f->kvm_intel, "kvm_intel", "ept", "enable_apicv");
	probe_module(&f->kvm_amd, "kvm_amd", "npt", "avic");
	probe_module(&f->kvm_pvm, "kvm_pvm", NULL, NULL);
	probe_read_line("/sys/class/misc/kvm/dev", f->misc_dev, sizeof(f->misc_dev));

	probe_node(f);
	probe_kvm_api(f);
}
