/* hyperv.c - KVM's Hyper-V CPUID leaves and SynIC for a vCPU (--cpu-hyperv). */
#include "core/hyperv.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

int hyperv_check(int kvm_fd)
{
	static const struct { int cap; const char *name; } caps[] = {
		{ KVM_CAP_HYPERV, "KVM_CAP_HYPERV" },
		{ KVM_CAP_HYPERV_CPUID, "KVM_CAP_HYPERV_CPUID" },
		{ KVM_CAP_HYPERV_SYNIC2, "KVM_CAP_HYPERV_SYNIC2" },
	};

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			log_err("--cpu-hyperv: this host's KVM lacks %s (Linux 5.0 or newer, "
				"built with Hyper-V emulation, offers it)", caps[i].name);
			return err_usage(-ENOTSUP);
		}
	}
	return 0;
}

static bool in_block(unsigned function, unsigned first)
{
	return function >= first && function - first < HYPERV_KVM_LEAF_OFF;
}

struct kvm_cpuid2 *hyperv_cpuid_merge(const struct kvm_cpuid2 *base, const struct kvm_cpuid2 *hv)
{
	const unsigned moved = HYPERV_LEAF_FIRST + HYPERV_KVM_LEAF_OFF;
	unsigned n = 0;
	struct kvm_cpuid2 *c;

	if (hv->nent > HYPERV_MAX_LEAVES)
		return NULL;
	for (unsigned i = 0; i < base->nent; i++)
		n += !in_block(base->entries[i].function, moved);
	for (unsigned i = 0; i < hv->nent; i++)
		n += in_block(hv->entries[i].function, HYPERV_LEAF_FIRST);
	c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
	if (!c)
		return NULL;
	for (unsigned i = 0; i < base->nent; i++) {
		struct kvm_cpuid_entry2 e = base->entries[i];

		if (in_block(e.function, moved))
			continue;
		if (in_block(e.function, HYPERV_LEAF_FIRST)) {
			/* KVM's signature leaf: EAX is its highest leaf, which moves too. */
			if (e.function == HYPERV_LEAF_FIRST && in_block(e.eax, HYPERV_LEAF_FIRST))
				e.eax += HYPERV_KVM_LEAF_OFF;
			e.function += HYPERV_KVM_LEAF_OFF;
		}
		c->entries[c->nent++] = e;
	}
	for (unsigned i = 0; i < hv->nent; i++)
		if (in_block(hv->entries[i].function, HYPERV_LEAF_FIRST))
			c->entries[c->nent++] = hv->entries[i];
	return c;
}

int hyperv_vcpu_cpuid(int vcpu_fd, struct kvm_cpuid2 **cpuid)
{
	struct kvm_cpuid2 *hv = calloc(1, sizeof(*hv) + HYPERV_MAX_LEAVES * sizeof(hv->entries[0]));
	struct kvm_cpuid2 *merged;
	int err;

	if (!hv)
		return err_host(-ENOMEM);
	hv->nent = HYPERV_MAX_LEAVES;
	if (ioctl(vcpu_fd, KVM_GET_SUPPORTED_HV_CPUID, hv) < 0) {
		err = errno;
		log_err("--cpu-hyperv: KVM_GET_SUPPORTED_HV_CPUID: %s", strerror(err));
		free(hv);
		return -err;
	}
	merged = hyperv_cpuid_merge(*cpuid, hv);
	free(hv);
	if (!merged)
		return err_host(-ENOMEM);
	free(*cpuid);
	*cpuid = merged;
	return 0;
}

int hyperv_vcpu_enable(int vcpu_fd)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HYPERV_SYNIC2 };

	if (ioctl(vcpu_fd, KVM_ENABLE_CAP, &cap) < 0) {
		int err = errno;

		log_err("--cpu-hyperv: enabling the vCPU's SynIC (KVM_CAP_HYPERV_SYNIC2): %s",
			strerror(err));
		return -err;
	}
	return 0;
}
