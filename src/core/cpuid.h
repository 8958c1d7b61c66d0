/* cpuid.h - the CPUID a vCPU sees, derived from what KVM supports.
 *
 * Contract: cpuid_build() copies KVM_GET_SUPPORTED_CPUID and fixes what is
 * per-vCPU or per-VM: the APIC ID (leaf 1, 0xB, 0x1F, 0x8000001E), the
 * topology (one socket, nr_cpus cores, one thread each: leaves 1, 4, 0xB,
 * 0x1F, 0x80000001, 0x80000008), and the hypervisor bit. KVM's paravirt
 * leaves (0x40000000: "KVMKVMKVM", 0x40000001: kvm-clock etc.) pass through.
 * Pure: no ioctl, so unit tests feed a made-up table.
 */
#ifndef MVM_CORE_CPUID_H
#define MVM_CORE_CPUID_H

#include <linux/kvm.h>

/* Returns a malloc'd table for vCPU cpu_index (APIC ID == cpu_index), or NULL. */
struct kvm_cpuid2 *cpuid_build(const struct kvm_cpuid2 *supported, int cpu_index, int nr_cpus);

/* Find an entry (NULL if absent); index ignored for leaves without subleaves. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index);

#endif
