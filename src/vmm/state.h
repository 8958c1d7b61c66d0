/* state.h - a paused VM's KVM state read out: every vCPU on its own thread, then the VM's.
 *
 * Contract: vm_state_read() wants a VM paused by vm_pause() (-EBUSY
 * otherwise). It runs vcpu_state_save() on every vCPU's own thread through
 * vm_vcpus_call() (each vCPU has already settled: an I/O exit's instruction
 * completed before it parked) and then vm_state_save() for the irqchip, PIT
 * and kvm-clock. vcpus[] has vm->nr_vcpus entries. 0 or -errno, logged
 * naming the vCPU. This is what snapshot and migration serialize; the API's
 * GET /mvm/vcpus shows a summary of it.
 */
#ifndef MVM_VMM_STATE_H
#define MVM_VMM_STATE_H

#include "core/vcpu_state.h"
#include "core/vm_state.h"
#include "vmm/vm.h"

int vm_state_read(struct vm *vm, struct vcpu_state *vcpus, struct vm_kvm_state *kvm_state);

/* Ask KVM now what a state read needs (MSR list, XSAVE size), which
 * vm_state_read() otherwise asks on its first call: a migration calls this
 * before its pre-copy, so the asking is not part of its downtime. 0 or -errno. */
int vm_state_prepare(struct vm *vm);

/* The JSON summary of a paused VM's vCPUs (RIP, RSP, RFLAGS, CR0/3/4, EFER,
 * MP state, MSR and CPUID counts, XSAVE size) as a malloc'd string; NULL
 * with *err set (-EBUSY: not paused, marked the caller's, util/err.h). */
char *vm_state_vcpus_json(struct vm *vm, int *err);

#endif
