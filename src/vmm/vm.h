/* vm.h - a virtual machine: its KVM objects, RAM, buses, platform, devices and vCPUs.
 *
 * Contract: vm_create() (builder.c) assembles everything from a vm_config in
 * a fixed order (guest RAM, device plan, ACPI tables, kernel: all user input
 * first; then the KVM VM, TSS/identity map, irqchip + PIT, RAM slots, board,
 * devices, platform ports, vCPUs) and reports the first failure with a
 * message and the class of the error (vm_error_class). vm_run() (vm.c)
 * starts the console and one thread per vCPU, blocks until a stop is
 * requested (by the guest, a device, a vCPU error or a signal), brings every
 * vCPU out of KVM_RUN and restores the terminal; it returns the reason.
 * src/vmm/ is the only code that knows every module: core/ below it knows
 * KVM, memory, buses, IRQs and vCPUs; devices, loaders, the platforms and
 * observability each see only their narrow view. No globals: two VMs can
 * live in one process.
 */
#ifndef MVM_VMM_VM_H
#define MVM_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "board/console.h"
#include "core/bus.h"
#include "core/coalesce.h"
#include "core/device.h"
#include "core/kvm.h"
#include "core/memory.h"
#include "core/vcpu.h"
#include "core/vm_config.h"
#include "core/vmstop.h"
#include "obs/source.h"
#include "platform/platform.h"
#include "vmm/sleep_state.h"

struct vm_devices;
struct exit_trace;
struct vm_migration;
struct vm_gdb;

struct vm {
	struct kvm_sys kvm;
	int fd;                    /* KVM_CREATE_VM */
	struct gmem mem;
	struct bus pio;
	struct bus mmio;
	struct coalesce coalesce;   /* KVM's coalesced I/O ring (COM1 output) */
	struct platform platform;  /* Linux board or tiny guest (platform/platform.h) */
	struct device_env denv;    /* what every device is created and attached with */
	struct vm_devices *devices; /* every device instance, board and virtio (vmm/devices.h) */
	/* The host console: stdin feeds COM1, or the virtio console when there is one. */
	struct console console;
	struct console_sink console_sink;
	bool console_started;
	struct vcpu_host vcpu_host; /* what every vCPU may reach */
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
	atomic_uint throttle_pct;  /* vmm/throttle.h: each vCPU's share of time asleep */
	int nr_parked;
	/* What missed the last pause's deadline ("vCPU 0", "virtio-net net0",
	 * several joined by ", "); "" when it did not fail that way. */
	char pause_stuck[128];
	/* vm_vcpus_call(): the function each parked vCPU runs once per call_seq. */
	void (*call_fn)(struct vcpu *v, void *arg);
	void *call_arg;
	uint64_t call_seq;
	int nr_called;

	/* Benchmark probes: CLOCK_MONOTONIC at the launcher's exec and at
	 * vCPU 0's first KVM_RUN (0 when not benchmarking). */
	uint64_t bench_t0_ns;
	uint64_t first_run_ns;
	/* A migration's destination: CLOCK_MONOTONIC when it sent GO (0: none). */
	uint64_t handover_ns;
	/* vm_vcpus_start_held(): the vCPU threads run already (vcpus_early) and
	 * wait on pause_cond while vcpus_held, until vm_run lets them go. */
	bool vcpus_early, vcpus_held;

	/* Dirty tracking (machine-config track_dirty_pages): the memslots log
	 * the vCPUs' writes, gmem the devices'. snap_base_id: the snapshot a
	 * Diff snapshot would be relative to (the last one taken or the one
	 * restored from; 0: none yet, a Diff is refused). */
	bool track_dirty;
	uint64_t snap_base_id;
	/* A migration turned on KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: reading the
	 * log no longer re-protects pages; vm_clear_dirty_log() does, chunk by
	 * chunk, just before they are copied (vmm/migrate.c). */
	bool dirty_manual;
	/* --cpu-hyperv: KVM's SynIC and synthetic timers, whose state mvm does
	 * not save: snapshot and migration refuse the VM. */
	bool hyperv;
	/* KVM's offer for vCPU state saves (state.c), probed on first use. */
	struct vcpu_state_host *state_host;

	/* Observability: what obs/ may read (--metrics lives in obs.metrics),
	 * and --trace-exits (obs/exit_trace.h). */
	struct obs_source obs;
	struct exit_trace *trace;    /* NULL: not tracing */
	struct profile *profile;     /* --profile; NULL: not sampling */
	struct vm_migration *migration; /* the last outgoing migration (vmm/migrate.h); NULL: none */
	void (*migration_cleanup)(struct vm *vm); /* vm_destroy: stop and free it */
	struct vm_gdb *gdb;          /* --gdb (vmm/gdb.h); NULL: no debugger */
	struct vm_sleep sleep;       /* ACPI S3 (vmm/sleep.h) */
	const struct vm_sleep_ops *sleep_ops; /* its entry points for vm.c; NULL: none */
};

/* ACPI S3's entry points (vmm/sleep.h) that vm.c calls: vm_run's loop
 * (service: how long it may wait, -1 for no deadline), vm_pause (pause:
 * vm_sleep_pause), vm_resume (resume: vm_sleep_resume), snapshot and
 * migration (is_asleep), teardown (destroy). Through pointers because
 * sleep.c includes this header. */
struct vm_sleep_ops {
	int (*service)(struct vm *vm);
	bool (*is_asleep)(struct vm *vm);
	int (*pause)(struct vm *vm, bool *settle);
	int (*resume)(struct vm *vm);
	void (*destroy)(struct vm *vm);
};

/* 0 or -errno; on failure the message has been printed and the exit status
 * to use is in *exit_status (vm_error_class: MVM_EXIT_USAGE for the user's
 * input, MVM_EXIT_HOST for the host's failures). */
int vm_create(struct vm *vm, const struct vm_config *cfg, int *exit_status);
enum vm_stop_reason vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Before vm_run, on the thread that will call it: start the vCPU threads
 * now, held before their first KVM_RUN until vm_run (or vm_destroy) lets
 * them go, so a migration's destination does not create them and load
 * their seccomp filter after the hand-over. 0 or -errno. */
int vm_vcpus_start_held(struct vm *vm);

/* Any thread: ask the VM to stop (first reason wins). */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason);

/* Any thread but a vCPU's, while vm_run runs: vm_pause() returns once
 * every vCPU is out of KVM_RUN and parked, and every device is quiesced
 * (kicks and host input wait in their eventfds and sockets); vm_resume()
 * lets both continue. Both are idempotent. 0, or -ESHUTDOWN when the VM is
 * stopping. The console input thread is not held: a byte typed during a
 * pause waits in the UART's FIFO. */
/* A vCPU that has not parked after VM_PAUSE_TIMEOUT_MS (or
 * $MVM_PAUSE_TIMEOUT_MS), or a device that cannot stop by then, is named
 * in a message and the pause is undone: -ETIMEDOUT. vm_pause_stuck() then
 * copies who into buf ("vCPU 0", "virtio-net net0"; several joined by
 * ", ") and returns its length; 0 ("" in buf) when the last pause did not
 * time out. */
#define VM_PAUSE_TIMEOUT_MS 5000
int vm_pause(struct vm *vm);
size_t vm_pause_stuck(struct vm *vm, char *buf, size_t len);
int vm_resume(struct vm *vm);
/* vm_pause() in two steps, for an ACPI S3 sleep (vmm/sleep.c): mark the VM
 * paused (any thread, a vCPU's too: it parks before its next KVM_RUN),
 * then, on a thread that is not a vCPU's, wait for every vCPU to park and
 * quiesce the devices (the timeout of vm_pause, which undoes the pause). */
bool vm_pause_mark(struct vm *vm);  /* false: it was paused already */
int vm_pause_settle(struct vm *vm);
/* vm_resume() without the sleep check: the S3 wake's own resume. */
int vm_unpause(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/* On a paused VM: run fn(v, arg) on every vCPU's own thread (KVM's vCPU
 * state is read and written there), and return when all have. 0, -EBUSY
 * when the VM is not paused, -ESHUTDOWN when it is stopping. Calls from
 * several threads run one after the other. */
int vm_vcpus_call(struct vm *vm, void (*fn)(struct vcpu *v, void *arg), void *arg);
/* Press Ctrl-Alt-Del on the i8042 keyboard (the API's SendCtrlAltDel). */
int vm_send_ctrl_alt_del(struct vm *vm);

/* vm.c, for the builder: the vCPUs' view of this VM. */
void vm_fill_vcpu_host(struct vm *vm);

#endif
