/* vcpu.c - one thread per vCPU running KVM_RUN and dispatching each exit
 * through a table of handlers, like the kernel's svm_exit_handlers[]. */
#include "core/vcpu.h"
#include "core/cpu.h"
#include "core/kvm.h"
#include "core/memory.h"
#include "core/bus.h"
#include "core/coalesce.h"
#include "util/bench_probe.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The signal that kicks a vCPU out of KVM_RUN; its handler does nothing. */
#define VCPU_KICK_SIGNAL SIGUSR1

enum exit_action { EXIT_CONTINUE = 0, EXIT_STOP = 1 };
typedef enum exit_action (*exit_handler_fn)(struct vcpu *v);

static void kick_handler(int sig) { (void)sig; }

int vcpu_signal_setup(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	/* No SA_RESTART: KVM_RUN must return EINTR. */
	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) ? -errno : 0;
}

static enum exit_action vcpu_fail(struct vcpu *v, enum vm_stop_reason reason,
				  const char *what)
{
	/* "of N": the harness tells a 2-vCPU guest's triple fault (a known
	 * fault of its emulated test host) from a 1-vCPU one by this line. */
	log_err("vCPU %d of %d: %s; register state:", v->index, v->host->nr_vcpus, what);
	cpu_dump_state(stderr, v->fd, v->host->mem);
	vm_stopper_request(&v->host->stopper, reason);
	return EXIT_STOP;
}

static enum exit_action handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* KVM hands over string I/O (REP INS/OUTS) as count back-to-back items
	 * inside the shared page; data_offset and size come from KVM, not the guest. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		bus_access(v->host->pio, run->io.port, data, run->io.size, is_write);
	return EXIT_CONTINUE;
}

static enum exit_action handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return EXIT_CONTINUE;
	bus_access(v->host->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
	return EXIT_CONTINUE;
}

static enum exit_action handle_intr(struct vcpu *v)
{
	return EXIT_CONTINUE; /* a kick or a stray signal; the loop checks stopping */
}

static enum exit_action handle_hlt(struct vcpu *v)
{
	/* With the in-kernel LAPIC, HLT is handled by KVM and never exits. If it
	 * does, nothing can wake this vCPU: stop instead of spinning. */
	return vcpu_fail(v, VM_STOP_INTERNAL_ERROR, "HLT exited to user space");
}

static enum exit_action handle_shutdown(struct vcpu *v)
{
	if (v->host->triple_fault)
		v->host->triple_fault(v->host->ctx, v);
	return vcpu_fail(v, VM_STOP_TRIPLE_FAULT,
			 "guest triple fault (KVM_EXIT_SHUTDOWN): the CPU would reset");
}

static enum exit_action handle_fail_entry(struct vcpu *v)
{
	char what[128];

	snprintf(what, sizeof(what), "KVM could not enter the guest (hardware reason %#llx)",
		 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
	return vcpu_fail(v, VM_STOP_INTERNAL_ERROR, what);
}

static enum exit_action handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[512];
	int n;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		n = snprintf(what, sizeof(what),
			     "the host's KVM could not emulate a guest instruction");
		if (kvm_is_pvm_backed())
			snprintf(what + n, sizeof(what) - n,
				 " (this host's /dev/kvm is kvm_pvm: it has no VT-x/AMD-V and runs guest "
				 "kernel code in KVM's instruction emulator, which lacks instructions "
				 "stock kernels use; run Linux guests on a VT-x/AMD-V host or inside "
				 "the test host VM: scripts/boot.sh)");
	} else {
		n = snprintf(what, sizeof(what), "KVM internal error, suberror %u",
			     run->internal.suberror);
		for (uint32_t i = 0; i < run->internal.ndata && i < 16 && n < (int)sizeof(what) - 24; i++)
			n += snprintf(what + n, sizeof(what) - n, " %#llx",
				      (unsigned long long)run->internal.data[i]);
	}
	return vcpu_fail(v, VM_STOP_INTERNAL_ERROR, what);
}

static enum exit_action handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_stopper_request(&v->host->stopper, VM_STOP_POWEROFF);
		return EXIT_STOP;
	case KVM_SYSTEM_EVENT_RESET:
		vm_stopper_request(&v->host->stopper, VM_STOP_RESET);
		return EXIT_STOP;
	case KVM_SYSTEM_EVENT_CRASH:
		vm_stopper_request(&v->host->stopper, VM_STOP_PANIC);
		return EXIT_STOP;
	default:
		log_warn_rl("vCPU %d: ignoring system event %u", v->index, v->run->system_event.type);
		return EXIT_CONTINUE;
	}
}

static enum exit_action handle_unknown(struct vcpu *v);

/* A breakpoint, watchpoint or single step of the debugger (the builder's hook). */
static enum exit_action handle_debug(struct vcpu *v)
{
	if (!v->host->debug_exit)
		return handle_unknown(v);
	v->host->debug_exit(v->host->ctx, v);
	return EXIT_CONTINUE;
}

/* Hyper-V's status codes (TLFS) for the hypercalls KVM hands to user space. */
#define HV_STATUS_INVALID_HYPERCALL_CODE 0x2
#define HV_STATUS_INVALID_CONNECTION_ID  0x12
#define HVCALL_POST_MESSAGE              0x5c
#define HVCALL_SIGNAL_EVENT              0x5d

/* --cpu-hyperv (core/hyperv.h): what KVM's Hyper-V emulation leaves to the VMM. */
static enum exit_action handle_hyperv(struct vcpu *v)
{
	struct kvm_hyperv_exit *hv = &v->run->hyperv;
	uint16_t code;

	switch (hv->type) {
	case KVM_EXIT_HYPERV_SYNIC:
	case KVM_EXIT_HYPERV_SYNDBG:
		/* KVM has taken the MSR write; mvm has no VMBus or debugger to tell. */
		return EXIT_CONTINUE;
	case KVM_EXIT_HYPERV_HCALL:
		/* Messages and events to a connection: mvm has none (QEMU's answer
		 * without a hyperv-testdev); anything else is not a hypercall here. */
		code = hv->u.hcall.input & 0xffff;
		hv->u.hcall.result = code == HVCALL_POST_MESSAGE || code == HVCALL_SIGNAL_EVENT
				     ? HV_STATUS_INVALID_CONNECTION_ID
				     : HV_STATUS_INVALID_HYPERCALL_CODE;
		log_debug_rl("vCPU %d: Hyper-V hypercall %#x refused", v->index, code);
		return EXIT_CONTINUE;
	default: {
		char what[96];

		snprintf(what, sizeof(what), "unknown KVM_EXIT_HYPERV type %u", hv->type);
		return vcpu_fail(v, VM_STOP_INTERNAL_ERROR, what);
	}
	}
}

static const exit_handler_fn exit_handlers[VCPU_EXIT_REASONS] = {
	[KVM_EXIT_DEBUG]          = handle_debug,
	[KVM_EXIT_IO]             = handle_io,
	[KVM_EXIT_MMIO]           = handle_mmio,
	[KVM_EXIT_INTR]           = handle_intr,
	[KVM_EXIT_HLT]            = handle_hlt,
	[KVM_EXIT_SHUTDOWN]       = handle_shutdown,
	[KVM_EXIT_FAIL_ENTRY]     = handle_fail_entry,
	[KVM_EXIT_INTERNAL_ERROR] = handle_internal_error,
	[KVM_EXIT_SYSTEM_EVENT]   = handle_system_event,
	[KVM_EXIT_HYPERV]         = handle_hyperv,
};

static const char *const exit_names[VCPU_EXIT_REASONS] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO", [KVM_EXIT_HYPERCALL] = "HYPERCALL", [KVM_EXIT_DEBUG] = "DEBUG",
	[KVM_EXIT_HLT] = "HLT", [KVM_EXIT_MMIO] = "MMIO",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN", [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY", [KVM_EXIT_INTR] = "INTR",
	[KVM_EXIT_SET_TPR] = "SET_TPR", [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	[KVM_EXIT_NMI] = "NMI", [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT", [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
	[KVM_EXIT_X86_RDMSR] = "X86_RDMSR", [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
	[KVM_EXIT_HYPERV] = "HYPERV",
};

const char *vcpu_exit_name(uint32_t reason)
{
	return reason < VCPU_EXIT_REASONS ? exit_names[reason] : NULL;
}

static enum exit_action handle_unknown(struct vcpu *v)
{
	char what[96];

	snprintf(what, sizeof(what), "unhandled exit reason %u", v->run->exit_reason);
	return vcpu_fail(v, VM_STOP_INTERNAL_ERROR, what);
}

/* On the vCPU's own thread, out of KVM_RUN: its registers for vcpu_where. */
static void vcpu_note_where(struct vcpu *v)
{
	struct kvm_regs regs;
	struct kvm_mp_state mp;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) || ioctl(v->fd, KVM_GET_MP_STATE, &mp))
		return;
	v->last_rip = regs.rip;
	v->last_rflags = regs.rflags;
	v->last_mp_state = mp.mp_state;
	v->last_valid = true;
}

void vcpu_where(const struct vcpu *v, char *buf, size_t len)
{
	static const char *const mp_names[] = {
		[KVM_MP_STATE_RUNNABLE] = "running", [KVM_MP_STATE_UNINITIALIZED] = "not started",
		[KVM_MP_STATE_INIT_RECEIVED] = "INIT received", [KVM_MP_STATE_HALTED] = "halted",
		[KVM_MP_STATE_SIPI_RECEIVED] = "SIPI received",
	};
	const char *mp = v->last_mp_state < sizeof(mp_names) / sizeof(mp_names[0]) &&
			 mp_names[v->last_mp_state] ? mp_names[v->last_mp_state] : "other state";

	if (!v->last_valid) {
		snprintf(buf, len, "state unknown");
		return;
	}
	snprintf(buf, len, "RIP %#llx, RFLAGS %#llx (interrupts %s), %s",
		 (unsigned long long)v->last_rip, (unsigned long long)v->last_rflags,
		 v->last_rflags & 0x200 ? "on" : "off", mp);
}

/* Before parking: KVM completes an I/O or MMIO exit's instruction (an IN's
 * value into RAX, RIP past it) only on the next KVM_RUN, so enter once with
 * immediate_exit set: KVM finishes it and returns EINTR at once. Then the
 * vCPU's registers are the guest's own, as a state save must see them. */
static void vcpu_settle(struct vcpu *v)
{
	uint32_t last = v->run->exit_reason;

	if (last != KVM_EXIT_IO && last != KVM_EXIT_MMIO)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(v->fd, KVM_RUN, 0) == 0)
		log_debug_rl("vCPU %d: KVM_RUN with immediate_exit returned an exit (%u)", v->index,
			     v->run->exit_reason);
}

/* After a kick while throttled: sleep pct/(100-pct) slices, in steps of at
 * most 2 ms so that a pause or a stop is never held up longer than that. */
static void vcpu_throttle_sleep(struct vcpu *v)
{
	const struct vcpu_host *h = v->host;
	unsigned pct = h->throttle_pct ? atomic_load(h->throttle_pct) : 0;

	if (!pct)
		return;
	if (pct > VCPU_THROTTLE_MAX_PCT)
		pct = VCPU_THROTTLE_MAX_PCT;
	uint64_t left = VCPU_THROTTLE_SLICE_NS * pct / (100 - pct);

	while (left && !atomic_load(h->stopping) && !atomic_load(h->paused)) {
		uint64_t step = left < 2000000 ? left : 2000000;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step };

		nanosleep(&ts, NULL);
		left -= step;
	}
	v->throttled_ns += VCPU_THROTTLE_SLICE_NS * pct / (100 - pct) - left;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	const struct vcpu_host *h = v->host;
	sigset_t set;
	char name[16];

	snprintf(name, sizeof(name), "mvm-vcpu%d", v->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	sandbox_enter(SANDBOX_VCPU);
	if (h->hold)
		h->hold(h->ctx, v);

	bool first = v->index == 0;

	while (!atomic_load(h->stopping)) {
		/* vm_pause(): set paused, then kick; park here until resumed. */
		if (atomic_load(h->paused)) {
			vcpu_settle(v);
			if (h->coalesce)
				coalesce_drain(h->coalesce);
			h->park(h->ctx, v);
			continue;
		}
		if (first) {   /* at the first KVM_RUN itself, after any park */
			first = false;
			if (h->first_run_ns)
				*h->first_run_ns = bench_probe_now_ns();
			if (h->first_run)
				h->first_run(h->ctx, v);
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->exits[KVM_EXIT_INTR]++;
				/* A kick: the flags it was for are checked at the top
				 * of the loop, after this, so clearing cannot lose one
				 * (pause and stop set theirs before kicking). Nor does
				 * a pause that gave up on this vCPU leave it bouncing
				 * off immediate_exit (test_vcpu_kick). */
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				if (atomic_exchange(&v->sample_wanted, false) && h->on_sample)
					h->on_sample(h->ctx, v);
				vcpu_throttle_sleep(v);
				continue;
			}
			log_err("vCPU %d: KVM_RUN failed: %s", v->index, strerror(errno));
			vm_stopper_request(&h->stopper, VM_STOP_HOST_ERROR);
			break;
		}
		/* Queued writes first: a device sees its accesses in guest order. */
		if (h->coalesce)
			coalesce_drain(h->coalesce);
		uint32_t reason = v->run->exit_reason;
		exit_handler_fn fn = reason < VCPU_EXIT_REASONS ? exit_handlers[reason] : NULL;

		enum exit_action action;

		if (!v->time_exits) {
			action = (fn ? fn : handle_unknown)(v);
		} else {
			uint64_t t = bench_probe_now_ns();

			action = (fn ? fn : handle_unknown)(v);
			if (reason < VCPU_EXIT_REASONS)
				v->exit_ns[reason] += bench_probe_now_ns() - t;
		}
		if (reason < VCPU_EXIT_REASONS)
			v->exits[reason]++;
		/* --trace-exits (obs/exit_trace.h): off, this is the one test. */
		if (__builtin_expect(h->on_exit != NULL, 0))
			h->on_exit(h->ctx, v);
		if (action == EXIT_STOP)
			break;
	}
	if (h->coalesce)
		coalesce_drain(h->coalesce);
	vcpu_note_where(v);
	return NULL;
}

int vcpu_create(const struct vcpu_host *host, struct vcpu *v, int index)
{
	memset(v, 0, sizeof(*v));
	v->host = host;
	v->index = index;
	v->fd = ioctl(host->vm_fd, KVM_CREATE_VCPU, index);
	if (v->fd < 0) {
		int err = errno;

		v->fd = -1;
		log_err("KVM_CREATE_VCPU %d: %s", index, strerror(err));
		return -err;
	}
	v->run = mmap(NULL, host->run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		int err = errno;

		v->run = NULL;
		log_err("mmap of vCPU %d's kvm_run: %s", index, strerror(err));
		return -err;
	}
	return cpu_init(v->fd, host->supported, index, host->nr_vcpus, host->hyperv,
			&v->cpuid_seen);
}

int vcpu_start(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret) {
		log_err("starting vCPU %d thread: %s", v->index, strerror(ret));
		return -ret;
	}
	v->started = true;
	return 0;
}

/* Make the vCPU leave KVM_RUN now, or never enter it again. */
void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

bool vcpu_request_sample(struct vcpu *v)
{
	if (!v->started)
		return false;
	bool pending = atomic_exchange(&v->sample_wanted, true);

	vcpu_kick(v);
	return pending;
}

int vcpu_join(struct vcpu *v, int timeout_ms)
{
	struct timespec deadline;

	if (!v->started)
		return 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(v->thread, NULL, &deadline))
		return -ETIMEDOUT;
	v->started = false;
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->host->run_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	free(v->cpuid_seen);
	v->cpuid_seen = NULL;
	v->run = NULL;
	v->fd = -1;
}
