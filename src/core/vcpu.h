/* vcpu.h - one vCPU: its KVM fd, its kvm_run page and its thread.
 *
 * Contract: vcpu_create() makes the KVM vCPU and gives it CPUID, MSRs, FPU
 * and LAPIC state (cpu.c). vcpu_start() runs it on its own thread in a
 * KVM_RUN loop that dispatches every exit through a table of handlers; an
 * exit without a handler stops the VM with a diagnostic. vcpu_kick() makes
 * the thread leave KVM_RUN (immediate_exit + a signal whose handler does
 * nothing) and is safe to repeat; the thread ends once vm->stopping is set.
 */
#ifndef MVM_CORE_VCPU_H
#define MVM_CORE_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define VCPU_EXIT_REASONS 64 /* covers every KVM_EXIT_* this header knows */

struct vm;
struct exit_trace;

struct vcpu {
	struct vm *vm;
	int index;                 /* also its APIC ID */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t exits[VCPU_EXIT_REASONS];    /* per KVM_EXIT_* reason */
	uint64_t exit_ns[VCPU_EXIT_REASONS];  /* time in mvm's handlers (when timed) */
	bool time_exits;                      /* --stats: time each handler */
	struct exit_trace *trace;             /* --trace-exits: vm->trace, else NULL */
	/* Where the vCPU was when its thread ended (vcpu_where). */
	bool last_valid;
	uint64_t last_rip, last_rflags;
	uint32_t last_mp_state;               /* KVM_MP_STATE_* */
};

/* Name of a KVM_EXIT_* reason ("IO", "MMIO", ...), or NULL. */
const char *vcpu_exit_name(uint32_t reason);

/* Install the kick signal's handler (once per process). */
int vcpu_signal_setup(void);

int vcpu_create(struct vm *vm, struct vcpu *v, int index);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
/* Wait up to timeout_ms for the thread to end: 0 once joined, -ETIMEDOUT. */
int vcpu_join(struct vcpu *v, int timeout_ms);
void vcpu_destroy(struct vcpu *v);
/* "RIP 0x..., interrupts on, halted": where the joined vCPU last was, for a VM
 * stopped from outside (a hung guest killed by its user or a test). */
void vcpu_where(const struct vcpu *v, char *buf, size_t len);

#endif
