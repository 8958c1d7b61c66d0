/* vcpu.h - one vCPU: its KVM fd, its kvm_run page and its thread.
 *
 * Contract: vcpu_create() makes the KVM vCPU and gives it CPUID, MSRs, FPU
 * and LAPIC state (cpu.c). vcpu_start() runs it on its own thread in a
 * KVM_RUN loop that dispatches every exit through a table of handlers; an
 * exit without a handler stops the VM with a diagnostic. vcpu_kick() makes
 * the thread leave KVM_RUN (immediate_exit + a signal whose handler does
 * nothing) and is safe to repeat; the thread ends once *host->stopping is set.
 * A vCPU sees only its struct vcpu_host: the two buses, guest memory, the
 * stop and pause flags and a few callbacks the builder fills in. It never
 * sees struct vm, so core/ depends on nothing above it.
 */
#ifndef MVM_CORE_VCPU_H
#define MVM_CORE_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/vmstop.h"

#define VCPU_EXIT_REASONS 64 /* covers every KVM_EXIT_* this header knows */
#define VCPU_THROTTLE_SLICE_NS 10000000ull /* run time between two throttle sleeps */
#define VCPU_THROTTLE_MAX_PCT  99

struct bus;
struct coalesce;
struct gmem;
struct vcpu;

/* What a vCPU may reach, given by the builder (one per VM, shared). */
struct vcpu_host {
	int vm_fd;
	size_t run_mmap_size;              /* KVM_GET_VCPU_MMAP_SIZE */
	const struct kvm_cpuid2 *supported; /* KVM_GET_SUPPORTED_CPUID */
	int nr_vcpus;
	bool hyperv;                       /* --cpu-hyperv: KVM's Hyper-V leaves and SynIC */
	struct bus *pio;
	struct bus *mmio;
	/* Writes KVM queued instead of exiting: drained after every exit,
	 * before its handler, and before parking or ending. NULL: none. */
	struct coalesce *coalesce;
	const struct gmem *mem;
	const atomic_bool *stopping;       /* leave the loop */
	const atomic_bool *paused;         /* call park() between two KVM_RUNs */
	/* Throttling (a migration's auto-converge): 0..99, the share of time
	 * the vCPU sleeps; the throttler kicks it every VCPU_THROTTLE_SLICE_NS
	 * of run time and it sleeps pct/(100-pct) slices. NULL: never. */
	const atomic_uint *throttle_pct;
	struct vm_stopper stopper;         /* ask the VM to stop */
	/* Park the calling vCPU until the VM is resumed or stopping. */
	void (*park)(void *ctx, struct vcpu *v);
	/* Optional: after a triple fault, describe what the platform knows
	 * (the tiny guest checks mvm's tables). NULL: nothing to add. */
	void (*triple_fault)(void *ctx, struct vcpu *v);
	/* Optional: KVM_EXIT_DEBUG (guest debugging is on: --gdb); returns
	 * once the vCPU may go on (it parks if the VM is now paused). NULL:
	 * such an exit is unexpected and stops the VM. */
	void (*debug_exit)(void *ctx, struct vcpu *v);
	/* Optional: called after every exit's handler (--trace-exits). */
	void (*on_exit)(void *ctx, struct vcpu *v);
	/* Optional: on the vCPU's thread, out of KVM_RUN after vcpu_request_sample()
	 * (--profile): record where the guest is. */
	void (*on_sample)(void *ctx, struct vcpu *v);
	/* Optional: vCPU 0 is about to enter KVM_RUN for the first time. */
	void (*first_run)(void *ctx, struct vcpu *v);
	/* Optional: on the vCPU's thread, once, before its loop: threads
	 * started early (a migration's destination) wait there until the VM
	 * runs or stops. NULL: none. */
	void (*hold)(void *ctx, struct vcpu *v);
	void *ctx;
	uint64_t *first_run_ns;            /* set at vCPU 0's first KVM_RUN; NULL: not asked */
};

struct vcpu {
	const struct vcpu_host *host;
	int index;                 /* also its APIC ID */
	int fd;
	struct kvm_run *run;
	struct kvm_cpuid2 *cpuid_seen;        /* what KVM reports back once set (cpu_init) */
	pthread_t thread;
	bool started;
	bool parked;                          /* in host->park(), under the VM's pause lock */
	uint64_t call_seq;                    /* the last vm_vcpus_call() this vCPU ran */
	uint64_t exits[VCPU_EXIT_REASONS];    /* per KVM_EXIT_* reason */
	uint64_t exit_ns[VCPU_EXIT_REASONS];  /* time in mvm's handlers (when timed) */
	bool time_exits;                      /* --stats: time each handler */
	uint64_t throttled_ns;                /* slept while throttled (vcpu_host.throttle_pct) */
	atomic_bool sample_wanted;            /* vcpu_request_sample() waits for on_sample */
	/* Where the vCPU was when its thread ended (vcpu_where). */
	bool last_valid;
	uint64_t last_rip, last_rflags;
	uint32_t last_mp_state;               /* KVM_MP_STATE_* */
};

/* Name of a KVM_EXIT_* reason ("IO", "MMIO", ...), or NULL. */
const char *vcpu_exit_name(uint32_t reason);

/* Install the kick signal's handler (once per process). */
int vcpu_signal_setup(void);

int vcpu_create(const struct vcpu_host *host, struct vcpu *v, int index);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
/* Ask the vCPU to call host->on_sample once it is out of KVM_RUN, and kick it
 * out. True when the previous request had not been served yet. */
bool vcpu_request_sample(struct vcpu *v);
/* Wait up to timeout_ms for the thread to end: 0 once joined, -ETIMEDOUT. */
int vcpu_join(struct vcpu *v, int timeout_ms);
void vcpu_destroy(struct vcpu *v);
/* "RIP 0x..., interrupts on, halted": where the joined vCPU last was, for a VM
 * stopped from outside (a hung guest killed by its user or a test). */
void vcpu_where(const struct vcpu *v, char *buf, size_t len);

#endif
