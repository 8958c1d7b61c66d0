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
#include <stddef.h>

struct kvm_sys {
	int fd;                          /* /dev/kvm */
	int run_mmap_size;               /* KVM_GET_VCPU_MMAP_SIZE */
	int max_vcpus;                   /* KVM_CAP_MAX_VCPUS (or NR_VCPUS) */
	struct kvm_cpuid2 *supported;    /* KVM_GET_SUPPORTED_CPUID, malloc'd */
};

/* Every capability mvm asks of KVM. kvm_open() refuses a KVM lacking a
 * required one; `mvm check` reports them all (the others as warnings). */
struct kvm_cap_info {
	int cap;                         /* KVM_CAP_* */
	const char *name;                /* "KVM_CAP_IRQCHIP" */
	const char *why;                 /* what mvm uses it for */
	bool required;
};

/* The table above, *n set to its length. */
const struct kvm_cap_info *kvm_cap_table(size_t *n);

int kvm_open(struct kvm_sys *k, const char *path);
void kvm_close(struct kvm_sys *k);

/* True when /sys/module/kvm_pvm exists and neither kvm_intel nor kvm_amd is
 * loaded: guest kernel mode is emulated, stock Linux kernels cannot boot. */
bool kvm_is_pvm_backed(void);

#endif
