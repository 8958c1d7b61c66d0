/* hyperv.h - KVM's Hyper-V enlightenments for a vCPU (--cpu-hyperv).
 *
 * Contract: off unless the user asks. hyperv_check() says whether this host's
 * KVM can offer them (KVM_CAP_HYPERV_CPUID and KVM_CAP_HYPERV_SYNIC2) and
 * names what is missing. hyperv_vcpu_cpuid() asks KVM, on a vCPU fd, which
 * Hyper-V CPUID leaves it emulates (KVM_GET_SUPPORTED_HV_CPUID) and merges
 * them into a vCPU's table with hyperv_cpuid_merge(); hyperv_vcpu_enable()
 * turns on the vCPU's SynIC (KVM_ENABLE_CAP KVM_CAP_HYPERV_SYNIC2: its MSRs,
 * and the synthetic timers that post to it). This is QEMU's
 * `-cpu ...,hv_passthrough`: every leaf as KVM offers it, so Hyper-V's
 * signature ("Linux KVM Hv", interface "Hv#1") sits at 0x40000000 and KVM's
 * own paravirt leaves ("KVMKVMKVM", kvm-clock) move up to 0x40000100, where
 * Linux and KVM both look for them. Guest writes to the SynIC MSRs and
 * Hyper-V hypercalls KVM does not handle come out as KVM_EXIT_HYPERV
 * (core/vcpu.c). mvm saves none of this state: snapshot and migration refuse
 * such a VM (vmm/). All functions return 0 / a table, or -errno / NULL, and
 * log what failed.
 */
#ifndef MVM_CORE_HYPERV_H
#define MVM_CORE_HYPERV_H

#include <linux/kvm.h>

#define HYPERV_LEAF_FIRST   0x40000000u /* Hyper-V's leaves: 0x40000000..0x400000ff */
#define HYPERV_KVM_LEAF_OFF 0x100u      /* where KVM's own leaves move */
#define HYPERV_MAX_LEAVES   64          /* KVM offers 10 to 12 */

int hyperv_check(int kvm_fd);

/* A malloc'd copy of base with KVM's leaves at 0x40000000..0x400000ff moved
 * up by 0x100 (the signature leaf's maximum with them) and hv's leaves in
 * that range added; leaves base had at 0x40000100..0x400001ff are dropped.
 * NULL when hv holds more than HYPERV_MAX_LEAVES or memory runs out. Pure. */
struct kvm_cpuid2 *hyperv_cpuid_merge(const struct kvm_cpuid2 *base, const struct kvm_cpuid2 *hv);

/* *cpuid (malloc'd) is replaced by its merge with KVM's Hyper-V leaves. */
int hyperv_vcpu_cpuid(int vcpu_fd, struct kvm_cpuid2 **cpuid);
int hyperv_vcpu_enable(int vcpu_fd);

#endif
