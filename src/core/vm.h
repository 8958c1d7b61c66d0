/* vm.h - a virtual machine: its KVM objects, RAM, buses, board and vCPUs.
 *
 * Contract: vm_create() assembles everything from a vm_config in a fixed
 * order (KVM VM, TSS/identity map, irqchip + PIT, RAM slots, board devices,
 * ACPI tables, kernel, vCPUs) and reports the first failure with a message;
 * vm_run() starts the console and one thread per vCPU, blocks until a stop
 * is requested (by the guest, a device, a vCPU error or a signal), brings
 * every vCPU out of KVM_RUN and restores the terminal; it returns the reason.
 * No globals: two VMs can live in one process.
 */
#ifndef MVM_CORE_VM_H
#define MVM_CORE_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "board/board.h"
#include "core/bus.h"
#include "core/kvm.h"
#include "core/memory.h"
#include "core/vm_config.h"
#include "core/vmstop.h"

#define VM_EXIT_REASONS 64 /* covers every KVM_EXIT_* this header knows */

struct vm;

struct vcpu {
	struct vm *vm;
	int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t exits[VM_EXIT_REASONS];  /* per KVM_EXIT_* reason, this vCPU */
};

struct vm {
	struct kvm_sys kvm;
	int fd;                    /* KVM_CREATE_VM */
	struct gmem mem;
	struct bus pio;
	struct bus mmio;
	struct board board;
	struct vcpu *vcpus;
	int nr_vcpus;

	pthread_mutex_t stop_lock;
	enum vm_stop_reason stop_reason;  /* first reason wins */
	atomic_bool stopping;
	int stop_efd;              /* eventfd: wakes vm_run on a stop request */

	/* Benchmark probes (MVM_T0_NS set by bench/launch): CLOCK_MONOTONIC at
	 * the launcher's exec and at vCPU 0's first KVM_RUN. */
	uint64_t bench_t0_ns;
	uint64_t first_run_ns;
};

/* Print the benchmark figures on stderr when MVM_T0_NS was given. */
void vm_report_bench(const struct vm *vm);

/* 0 or -errno; on failure the message has been printed and the exit status
 * to use is in *exit_status (MVM_EXIT_USAGE for bad input, else HOST). */
int vm_create(struct vm *vm, const struct vm_config *cfg, int *exit_status);
enum vm_stop_reason vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Any thread: ask the VM to stop (first reason wins). */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason);

/* vcpu.c */
int vcpu_create(struct vm *vm, struct vcpu *v, int index);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
int vcpu_signal_setup(void);

#endif
