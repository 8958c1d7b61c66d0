/* kvm.h - the host's /dev/kvm: open it, check its API and capabilities.
 *
 * Contract: kvm_open() succeeds only when every capability mvm relies on is
 * present; otherwise it prints one message naming what is missing and how to
 * fix it, and returns -errno. kvm_backend_note() tells whether the KVM is
 * PVM-backed (no VT-x/AMD-V), which changes what guests can run.
 */
#ifndef MVM_CORE_KVM_H
#define MVM_CORE_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>

struct kvm_sys {
	int fd;                          /* /dev/kvm */
	int run_mmap_size;               /* KVM_GET_VCPU_MMAP_SIZE */
	int max_vcpus;                   /* KVM_CAP_MAX_VCPUS (or NR_VCPUS) */
	struct kvm_cpuid2 *supported;    /* KVM_GET_SUPPORTED_CPUID, malloc'd */
};

int kvm_open(struct kvm_sys *k, const char *path);
void kvm_close(struct kvm_sys *k);

/* True when /sys/module/kvm_pvm exists and neither kvm_intel nor kvm_amd is
 * loaded: guest kernel mode is emulated, stock Linux kernels cannot boot. */
bool kvm_is_pvm_backed(void);

#endif
