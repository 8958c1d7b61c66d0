/* kvm.c - opening /dev/kvm and checking the API and capabilities mvm needs. */
#include "core/kvm.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const struct kvm_cap_info kvm_caps[] = {
	{ KVM_CAP_USER_MEMORY,           "KVM_CAP_USER_MEMORY",           "guest RAM", true },
	{ KVM_CAP_SET_TSS_ADDR,          "KVM_CAP_SET_TSS_ADDR",          "x86 TSS placement", true },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR", "x86 identity map placement", true },
	{ KVM_CAP_IRQCHIP,               "KVM_CAP_IRQCHIP",               "in-kernel PIC/IOAPIC/LAPIC", true },
	{ KVM_CAP_PIT2,                  "KVM_CAP_PIT2",                  "in-kernel PIT", true },
	{ KVM_CAP_EXT_CPUID,             "KVM_CAP_EXT_CPUID",             "CPUID setup", true },
	{ KVM_CAP_IMMEDIATE_EXIT,        "KVM_CAP_IMMEDIATE_EXIT",        "stopping vCPUs cleanly", true },
	{ KVM_CAP_MP_STATE,              "KVM_CAP_MP_STATE",              "SMP bring-up", true },
	{ KVM_CAP_IOEVENTFD,             "KVM_CAP_IOEVENTFD",             "virtio queue kicks without a VM exit to mvm", false },
	{ KVM_CAP_IRQFD,                 "KVM_CAP_IRQFD",                 "virtio interrupts from device worker threads", false },
	{ KVM_CAP_BINARY_STATS_FD,       "KVM_CAP_BINARY_STATS_FD",       "reading KVM's own VM and vCPU statistics", false },
};

const struct kvm_cap_info *kvm_cap_table(size_t *n)
{
	*n = sizeof(kvm_caps) / sizeof(kvm_caps[0]);
	return kvm_caps;
}

bool kvm_is_pvm_backed(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0 &&
	       access("/sys/module/kvm_intel", F_OK) != 0 &&
	       access("/sys/module/kvm_amd", F_OK) != 0;
}

static int kvm_open_fd(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	int err = errno;

	if (err == ENOENT)
		log_err("%s does not exist: load the KVM module (modprobe kvm_intel or kvm_amd) "
			"and enable virtualization (VT-x/AMD-V) in the firmware", path);
	else if (err == EACCES || err == EPERM)
		log_err("%s: permission denied: add yourself to the 'kvm' group "
			"(sudo usermod -aG kvm $USER, then log in again) or run as root", path);
	else if (err == ENODEV || err == ENXIO)
		log_err("%s: no KVM device behind this node (the kvm module is not bound; "
			"is this machine itself a VM without nested virtualization?)", path);
	else
		log_err("cannot open %s: %s", path, strerror(err));
	return -err;
}

static int kvm_load_supported_cpuid(struct kvm_sys *k)
{
	for (int nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return err_host(-ENOMEM);
		c->nent = nent;
		if (ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			k->supported = c;
			return 0;
		}
		int err = errno;

		free(c);
		if (err != E2BIG) {
			log_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(err));
			return -err;
		}
	}
	return -E2BIG;
}

/* KVM emulates the LAPIC's TSC-deadline timer, but before Linux 6.13 its
 * supported CPUID did not say so (it is a capability instead). Guests
 * without the bit fall back to a calibrated one-shot timer. */
static void kvm_add_tsc_deadline(struct kvm_sys *k)
{
	if (ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) <= 0)
		return;
	for (unsigned i = 0; i < k->supported->nent; i++)
		if (k->supported->entries[i].function == 1)
			k->supported->entries[i].ecx |= 1u << 24;
}

int kvm_open(struct kvm_sys *k, const char *path)
{
	int ret, version;

	memset(k, 0, sizeof(*k));
	k->fd = kvm_open_fd(path);
	if (k->fd < 0)
		return k->fd;

	version = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_err("%s speaks KVM API version %d, mvm needs %d", path, version, KVM_API_VERSION);
		ret = -ENOTSUP;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(kvm_caps) / sizeof(kvm_caps[0]); i++) {
		if (kvm_caps[i].required &&
		    ioctl(k->fd, KVM_CHECK_EXTENSION, kvm_caps[i].cap) <= 0) {
			log_err("host KVM lacks %s (needed for %s); a newer host kernel is required",
				kvm_caps[i].name, kvm_caps[i].why);
			ret = -ENOTSUP;
			goto fail;
		}
	}
	k->run_mmap_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_mmap_size < (int)sizeof(struct kvm_run)) {
		log_err("KVM_GET_VCPU_MMAP_SIZE returned %d", k->run_mmap_size);
		ret = -ENOTSUP;
		goto fail;
	}
	k->max_vcpus = ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4; /* the API documents 4 when neither cap answers */
	ret = kvm_load_supported_cpuid(k);
	if (ret)
		goto fail;
	kvm_add_tsc_deadline(k);
	return 0;
fail:
	kvm_close(k);
	return ret;
}

void kvm_close(struct kvm_sys *k)
{
	if (k->fd >= 0)
		close(k->fd);
	free(k->supported);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}
