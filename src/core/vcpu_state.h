/* vcpu_state.h - one x86 vCPU's KVM state read out as plain data, and written back.
 *
 * Contract: struct vcpu_state holds no pointers and no host resources: fixed
 * arrays with counts, zeroed before it is filled, so two saves of the same
 * vCPU compare byte for byte and the struct can be written to a file as is.
 * VCPU_STATE_VERSION changes whenever its layout does.
 *
 * vcpu_state_host_probe() asks KVM once, on the main thread, what this host
 * offers (sregs2, the XSAVE size, the MSRs worth saving). vcpu_state_save()
 * and vcpu_state_restore() take a vCPU fd whose vCPU is NOT inside KVM_RUN
 * (paused: out of the run loop) and are meant to run on that vCPU's own
 * thread. Before a save, a vCPU that left KVM_RUN for an I/O or MMIO exit must
 * have re-entered KVM_RUN once with immediate_exit set: KVM finishes such an
 * instruction only on the next KVM_RUN, and the state read before that is not
 * the guest's (the test in tests/kvm/state_roundtrip.c does this).
 *
 * vcpu_state_restore() wants a freshly created vCPU (KVM_CREATE_VCPU, no
 * KVM_RUN yet, no cpu_init() needed) of a VM that already has its in-kernel
 * irqchip, and writes in the order KVM needs: CPUID, TSC frequency, special
 * registers (APIC base), registers, XSAVE, XCRs, LAPIC, MSRs (TSC first,
 * TSC_DEADLINE last), events, MP state, debug registers. The guest's TSC
 * continues from the saved value (time away from KVM is not counted, as for a
 * pause); where KVM takes the TSC write for a vCPU sync and keeps its own
 * value (Linux < 6.8, a guest in its first second), the restore sets the TSC
 * offset itself (KVM_VCPU_TSC_OFFSET). It validates the
 * whole struct before the first ioctl (vcpu_state_check()): a state file is
 * untrusted. All functions return 0 or -errno and log what failed.
 */
#ifndef MVM_CORE_VCPU_STATE_H
#define MVM_CORE_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#define VCPU_STATE_VERSION     1
#define VCPU_STATE_MAX_MSRS    512   /* KVM's list is ~100-200 on current hosts */
#define VCPU_STATE_MAX_CPUID   256   /* KVM_MAX_CPUID_ENTRIES */
#define VCPU_STATE_XSAVE_MIN   4096  /* struct kvm_xsave without dynamic features */
#define VCPU_STATE_XSAVE_MAX   16384 /* AMX tiles included, ~11 KiB */

/* How far a restored TSC may sit from its saved value before the restore
 * corrects KVM: the vCPUs of one VM, saved one after the other, are put back
 * on one TSC offset by KVM, so each lands within the save-to-save skew. */
#define VCPU_STATE_TSC_SLACK_MS 5

#define VCPU_STATE_F_SREGS2    0x1u  /* sregs2 is valid, else sregs */
#define VCPU_STATE_F_ALL       VCPU_STATE_F_SREGS2

/* The MSR numbers vcpu_state.c names (also used by tests). */
#define VCPU_MSR_IA32_TSC          0x00000010u
#define VCPU_MSR_IA32_TSC_ADJUST   0x0000003bu
#define VCPU_MSR_IA32_APIC_BASE    0x0000001bu
#define VCPU_MSR_IA32_TSC_DEADLINE 0x000006e0u
#define VCPU_MSR_LSTAR             0xc0000082u
#define VCPU_MSR_KERNEL_GS_BASE    0xc0000102u
#define VCPU_MSR_HYPERV_FIRST      0x40000000u /* Hyper-V's range: mvm offers no */
#define VCPU_MSR_HYPERV_LAST       0x400000ffu /* Hyper-V interface, never saved */

struct vcpu_state {
	uint32_t version;       /* VCPU_STATE_VERSION */
	uint32_t flags;         /* VCPU_STATE_F_* */
	uint32_t tsc_khz;       /* KVM_GET_TSC_KHZ; 0: unknown, not restored */
	uint32_t nmsrs;         /* used entries of msrs[] */
	uint32_t nmsrs_refused; /* candidates KVM_GET_MSRS refused (information only) */
	uint32_t cpuid_nent;    /* used entries of cpuid[] */
	uint32_t xsave_size;    /* bytes of xsave[] KVM filled */
	uint32_t pad0;
	struct kvm_regs regs;
	union {
		struct kvm_sregs sregs;
		struct kvm_sregs2 sregs2;
	};
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
	struct kvm_cpuid_entry2 cpuid[VCPU_STATE_MAX_CPUID];
	uint32_t xsave[VCPU_STATE_XSAVE_MAX / 4]; /* struct kvm_xsave's region */
};

/* What this host's KVM offers, asked once (vcpu_state_host_probe). */
struct vcpu_state_host {
	int has_sregs2;         /* KVM_CAP_SREGS2 */
	int has_xsave2;         /* KVM_CAP_XSAVE2: xsave_size may exceed 4 KiB */
	uint32_t xsave_size;    /* bytes KVM_GET_XSAVE(2) writes */
	uint32_t nmsrs;         /* msr_index[]: what vcpu_state_save asks for */
	uint32_t msr_index[VCPU_STATE_MAX_MSRS];
};

/* kvm_fd: /dev/kvm (KVM_GET_MSR_INDEX_LIST); vm_fd: any VM of this process,
 * or -1 (the XSAVE size is then asked of /dev/kvm). */
int vcpu_state_host_probe(int kvm_fd, int vm_fd, struct vcpu_state_host *host);

int vcpu_state_save(int vcpu_fd, const struct vcpu_state_host *host, struct vcpu_state *s);
int vcpu_state_restore(int vcpu_fd, const struct vcpu_state *s);

/* 0 when every count, size and flag of s is in bounds, else -EINVAL with a
 * message naming the field. No KVM. */
int vcpu_state_check(const struct vcpu_state *s);

/* Pure helpers, exposed for tests. */

/* The MSRs to ask for: KVM's list plus vcpu_state.c's own must-haves, sorted,
 * without duplicates or Hyper-V MSRs. Number written to out, or -E2BIG when
 * more than max. */
int vcpu_state_msr_candidates(const uint32_t *kvm_list, uint32_t n, uint32_t *out, uint32_t max);

/* in[0..n) reordered into out for KVM_SET_MSRS: IA32_TSC first (a deadline is
 * a TSC value, and KVM takes the TSC write as the vCPU's new offset), then the
 * rest in their order, IA32_TSC_DEADLINE last. */
void vcpu_state_msr_restore_order(const struct kvm_msr_entry *in, uint32_t n,
				  struct kvm_msr_entry *out);

/* The saved value of MSR index: 0, or -ENOENT when it was not saved. */
int vcpu_state_msr_get(const struct vcpu_state *s, uint32_t index, uint64_t *value);

#endif
