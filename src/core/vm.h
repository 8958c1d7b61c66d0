/* vm.h - a virtual machine: its KVM objects, RAM, buses, board and vCPUs.
 *
 * Contract: vm_create() assembles everything from a vm_config in a fixed
 * order (guest RAM, ACPI tables, kernel: all user input first; then the KVM
 * VM, TSS/identity map, irqchip + PIT, RAM slots, board devices, vCPUs) and
 * reports the first failure with a message; vm_run() starts the console and
 * one thread per vCPU, blocks until a stop is requested (by the guest, a
 * device, a vCPU error or a signal), brings every vCPU out of KVM_RUN and
 * restores the terminal; it returns the reason. vm.c is the one file that
 * knows every module; devices and loaders never see struct vm. No globals:
 * two VMs can live in one process.
 */
#ifndef MVM_CORE_VM_H
#define MVM_CORE_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/kvm.h"
#include "core/memory.h"
#include "core/vcpu.h"
#include "core/vm_config.h"
#include "core/vmstop.h"

struct board;
struct vm_devices;
struct hcall;
struct hcall_net;
struct metrics;
struct exit_trace;

struct vm {
	struct kvm_sys kvm;
	int fd;                    /* KVM_CREATE_VM */
	struct gmem mem;
	struct bus pio;
	struct bus mmio;
	struct board *board;       /* the devices (board/board.h) */
	struct vm_devices *devices; /* virtio devices (virtio/devices.h) */
	struct hcall *hcall;       /* tiny-guest hypercalls (hcall/hcall.h); NULL for Linux */
	struct hcall_net *hcall_net; /* a tiny guest's first --net, from before KVM until vm_create_hcall */
	struct vcpu *vcpus;
	int nr_vcpus;

	pthread_mutex_t stop_lock;
	enum vm_stop_reason stop_reason;  /* first reason wins */
	int guest_exit_status;     /* exit status when stop_reason is VM_STOP_GUEST_EXIT */
	atomic_bool stopping;
	int stop_efd;              /* eventfd: wakes vm_run on a stop request */

	/* Pause (vm_pause/vm_resume): vCPUs park on pause_cond between two
	 * KVM_RUN calls; nr_parked counts them. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool paused;
	int nr_parked;

	/* Benchmark probes: CLOCK_MONOTONIC at the launcher's exec and at
	 * vCPU 0's first KVM_RUN (0 when not benchmarking). */
	uint64_t bench_t0_ns;
	uint64_t first_run_ns;

	/* Observability: --metrics (core/metrics.h), --trace-exits (core/exit_trace.h). */
	struct metrics *metrics;     /* NULL: no --metrics */
	struct exit_trace *trace;    /* NULL: not tracing; each vCPU holds a copy */
	uint64_t run_start_ns;       /* CLOCK_MONOTONIC when vm_run started the vCPUs */
};

/* 0 or -errno; on failure the message has been printed and the exit status
 * to use is in *exit_status (MVM_EXIT_USAGE for bad input, else HOST). */
int vm_create(struct vm *vm, const struct vm_config *cfg, int *exit_status);
enum vm_stop_reason vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Any thread: ask the VM to stop (first reason wins). */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason);

/* Any thread but a vCPU's, while vm_run runs: vm_pause() returns once
 * every vCPU is out of KVM_RUN and parked, and the virtio workers hold
 * their guest-visible work (kicks and host input wait in their eventfds
 * and sockets); vm_resume() lets both continue. Both are idempotent.
 * 0, or -ESHUTDOWN when the VM is stopping. The console input thread is
 * not held: a byte typed during a pause waits in the UART's FIFO. */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/* Press Ctrl-Alt-Del on the i8042 keyboard (the API's SendCtrlAltDel). */
int vm_send_ctrl_alt_del(struct vm *vm);
/* vcpu.c: park the calling vCPU while the VM is paused. */
void vm_vcpu_park(struct vm *vm, struct vcpu *v);

#endif
