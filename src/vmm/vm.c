/* vm.c - a built VM's life: run, pause and resume, stop, teardown (assembly: builder.c). */
#include "vmm/vm.h"
#include "board/i8042.h"
#include "obs/exit_trace.h"
#include "obs/metrics.h"
#include "obs/profile.h"
#include "util/bench_probe.h"
#include "util/log.h"
#include "vmm/devices.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_STOP_NONE)
		vm->stop_reason = reason;
	pthread_mutex_unlock(&vm->stop_lock);
	atomic_store(&vm->stopping, true);
	/* A failed write means the counter is already non-zero: vm_run wakes either way. */
	(void)!write(vm->stop_efd, &one, sizeof(one));
}

/* ---- the vCPUs' view ------------------------------------------------------------------------ */

static void vm_vcpu_park(void *ctx, struct vcpu *v)
{
	struct vm *vm = ctx;

	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	v->parked = true;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->paused) && !atomic_load(&vm->stopping)) {
		/* vm_vcpus_call(): run the caller's function here, on this
		 * vCPU's own thread, as KVM wants for reading its state. */
		if (v->call_seq != vm->call_seq) {
			void (*fn)(struct vcpu *, void *) = vm->call_fn;
			void *arg = vm->call_arg;

			pthread_mutex_unlock(&vm->pause_lock);
			if (fn)
				fn(v, arg);
			pthread_mutex_lock(&vm->pause_lock);
			v->call_seq = vm->call_seq;
			vm->nr_called++;
			pthread_cond_broadcast(&vm->pause_cond);
			continue;
		}
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	}
	vm->nr_parked--;
	v->parked = false;
	/* A vm_vcpus_call() waiting on this vCPU learns that it left for a stop
	 * (vm_request_stop does not signal pause_cond, and the S3 wake calls
	 * from vm_run's own thread, whose vm_stop_vcpus would). */
	pthread_cond_broadcast(&vm->pause_cond);
	/* The pause kick left immediate_exit set; a stop kick after this point
	 * sets it again, and stopping is checked before the next KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void vm_vcpu_triple_fault(void *ctx, struct vcpu *v)
{
	struct vm *vm = ctx;

	if (vm->platform.ops && vm->platform.ops->triple_fault)
		vm->platform.ops->triple_fault(&vm->platform, v->index);
}

/* A migration's destination: how long after GO the guest's first vCPU runs
 * (the part of the downtime after the hand-over that is mvm's). */
static void vm_vcpu_first_run(void *ctx, struct vcpu *v)
{
	struct vm *vm = ctx;

	if (vm->handover_ns)
		log_info("migration: vCPU 0 runs %.1f ms after the hand-over",
			 (bench_probe_now_ns() - vm->handover_ns) / 1e6);
}

/* vm_vcpus_start_held(): wait here until vm_run lets the vCPUs go. */
static void vm_vcpu_hold(void *ctx, struct vcpu *v)
{
	struct vm *vm = ctx;

	pthread_mutex_lock(&vm->pause_lock);
	while (vm->vcpus_held && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_fill_vcpu_host(struct vm *vm)
{
	vm->vcpu_host = (struct vcpu_host){
		.vm_fd = vm->fd, .run_mmap_size = (size_t)vm->kvm.run_mmap_size,
		.supported = vm->kvm.supported, .nr_vcpus = vm->nr_vcpus, .hyperv = vm->hyperv,
		.pio = &vm->pio, .mmio = &vm->mmio, .coalesce = &vm->coalesce, .mem = &vm->mem,
		.stopping = &vm->stopping, .paused = &vm->paused, .throttle_pct = &vm->throttle_pct,
		.stopper = vm->denv.stopper,
		.park = vm_vcpu_park, .triple_fault = vm_vcpu_triple_fault,
		.first_run = vm_vcpu_first_run, .hold = vm_vcpu_hold,
		.ctx = vm, .first_run_ns = vm->bench_t0_ns ? &vm->first_run_ns : NULL,
	};
}

/* The console thread: host stdin into the sink the builder chose. */
static int vm_console_start(struct vm *vm)
{
	int ret;

	if (!vm->console_sink.write)
		return 0;
	ret = console_start_sink(&vm->console, STDIN_FILENO, vm->console_sink, vm->denv.stopper);
	if (ret) {
		log_err("starting the console: %s", strerror(-ret));
		return ret;
	}
	vm->console_started = true;
	return 0;
}

static uint64_t vm_now_ms(void)
{
	return bench_probe_now_ns() / 1000000u;
}

/* Wait for a stop request or a terminating signal. */
static void vm_wait_for_stop(struct vm *vm, int sig_fd)
{
	struct pollfd fds[2] = {
		{ .fd = vm->stop_efd, .events = POLLIN },
		{ .fd = sig_fd, .events = POLLIN },
	};

	while (!atomic_load(&vm->stopping)) {
		/* A guest that wrote to a coalescing port and went idle makes no
		 * exit that would drain it: deliver its output from here, soon
		 * again while the drain finds writes. */
		unsigned drained = coalesce_drain(&vm->coalesce);
		int wait_ms = vm->coalesce.ring && vm->coalesce.pio_ok
			      ? coalesce_next_wait_ms(&vm->coalesce, drained, vm_now_ms()) : -1;
		/* ACPI S3 (vmm/sleep.h): enter a sleep asked for, wake on the alarm. */
		int sleep_ms = vm->sleep_ops ? vm->sleep_ops->service(vm) : -1;

		/* vm_sleep_service drained stop_efd: a stop asked for since the
		 * loop's test may have been in it, and poll would not see it. */
		if (atomic_load(&vm->stopping))
			break;
		if (sleep_ms >= 0 && (wait_ms < 0 || sleep_ms < wait_ms))
			wait_ms = sleep_ms;
		if (poll(fds, 2, wait_ms) < 0 && errno != EINTR) {
			log_err("waiting for the VM: poll: %s", strerror(errno));
			vm_request_stop(vm, VM_STOP_HOST_ERROR);
			break;
		}
		/* Woken without a stop (a resume: vm_unpause): take the count, or
		 * poll would return at once from here on. */
		if ((fds[0].revents & POLLIN) && !atomic_load(&vm->stopping)) {
			uint64_t n;

			(void)!read(vm->stop_efd, &n, sizeof(n));
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				log_info("received %s, stopping the VM", strsignal(si.ssi_signo));
				vm_request_stop(vm, VM_STOP_USER);
			}
		}
	}
}

/* Kick until every vCPU thread has left: a vCPU can be inside a blocking
 * host call that a kick turns into EINTR, and a kick that lands just before
 * such a call is lost. (COM1 output no longer blocks: it is queued.) */
static void vm_stop_vcpus(struct vm *vm)
{
	/* Parked vCPUs wait for this to see stopping. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		vcpu_kick(&vm->vcpus[i]);
		while (vcpu_join(&vm->vcpus[i], 100) == -ETIMEDOUT)
			vcpu_kick(&vm->vcpus[i]);
	}
}

/* The signals vm_run takes through its signalfd: blocked on every thread
 * it starts (they inherit the mask), so none of them takes one instead. */
static void vm_run_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

int vm_vcpus_start_held(struct vm *vm)
{
	sigset_t block, old;
	int ret = 0;

	if ((ret = vcpu_signal_setup()))   /* a kick before vm_run must not kill mvm */
		return ret;
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_held = true;
	pthread_mutex_unlock(&vm->pause_lock);
	vm_run_signals(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (int i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_start(&vm->vcpus[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	vm->vcpus_early = true;   /* those started are joined by vm_run or vm_destroy */
	return ret;
}

enum vm_stop_reason vm_run(struct vm *vm)
{
	sigset_t block;
	int sig_fd;

	/* Every thread started from here inherits this mask: termination signals
	 * arrive only through the signalfd, the kick signal only on vCPU threads.
	 * The mask stays after the run: a SIGTERM arriving during teardown must
	 * not kill mvm before it reports why the VM stopped. */
	vm_run_signals(&block);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	sigdelset(&block, SIGUSR1);
	sig_fd = signalfd(-1, &block, SFD_CLOEXEC);
	if (sig_fd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return VM_STOP_HOST_ERROR;
	}

	if (vcpu_signal_setup()) {
		vm_request_stop(vm, VM_STOP_HOST_ERROR);
	} else {
		vm->obs.run_start_ns = bench_probe_now_ns();
		if (vm->bench_t0_ns && vm->obs.run_start_ns > vm->bench_t0_ns)
			log_debug("starting the vCPUs %.2f ms after exec",
				  (vm->obs.run_start_ns - vm->bench_t0_ns) / 1e6);
		if (vm->handover_ns)
			log_info("migration: starting the vCPUs %.1f ms after the hand-over",
				 (vm->obs.run_start_ns - vm->handover_ns) / 1e6);
		coalesce_expect_writes(&vm->coalesce, vm_now_ms());
		/* Held threads go first: a migrated guest waits for nothing else
		 * (the console and metrics threads start beside it). */
		if (vm->vcpus_early) {
			pthread_mutex_lock(&vm->pause_lock);
			vm->vcpus_held = false;
			pthread_cond_broadcast(&vm->pause_cond);
			pthread_mutex_unlock(&vm->pause_lock);
		}
		if (vm_console_start(vm) || metrics_start(vm->obs.metrics))
			vm_request_stop(vm, VM_STOP_HOST_ERROR);
		for (int i = 0; !vm->vcpus_early && !atomic_load(&vm->stopping) &&
				i < vm->nr_vcpus; i++) {
			if (vcpu_start(&vm->vcpus[i])) {
				vm_request_stop(vm, VM_STOP_HOST_ERROR);
				break;
			}
		}
		/* After the vCPUs started and (below) stopped before they are joined: the
		 * sampler kicks their threads, which must exist while it runs. */
		if (!atomic_load(&vm->stopping) &&
		    profile_start(vm->profile, vm->vcpus, vm->nr_vcpus, &vm->paused,
				  vm->obs.run_start_ns))
			vm_request_stop(vm, VM_STOP_HOST_ERROR);
	}
	vm_wait_for_stop(vm, sig_fd);
	profile_stop(vm->profile);
	vm_stop_vcpus(vm);
	coalesce_drain(&vm->coalesce);
	/* Stopped from outside: say where the guest was (a hung guest's last word). */
	if (vm->stop_reason == VM_STOP_USER) {
		char where[128];

		for (int i = 0; i < vm->nr_vcpus; i++) {
			vcpu_where(&vm->vcpus[i], where, sizeof(where));
			log_info("vCPU %d was at %s", i, where);
		}
	}
	/* The last metrics line and trace report hold the final counts. */
	metrics_stop(vm->obs.metrics);
	if (vm->trace)
		exit_trace_finish(vm->trace);
	if (vm->console_started)
		console_stop(&vm->console);
	vm->console_started = false;
	close(sig_fd);
	log_debug("accesses nobody claimed: %lu port I/O, %lu MMIO",
		  atomic_load(&vm->pio.unclaimed), atomic_load(&vm->mmio.unclaimed));
	return vm->stop_reason;
}

void vm_destroy(struct vm *vm)
{
	/* A migration thread reads RAM and pauses the VM: it goes before anything
	 * (vmm/migrate.h sets the hook; vm.c does not include it). */
	if (vm->migration_cleanup)
		vm->migration_cleanup(vm);
	/* vCPU threads started held by a VM that never ran (a destination
	 * whose migration failed): let them go and join them. */
	if (vm->vcpus_early && vm->vcpus) {
		atomic_store(&vm->stopping, true);
		vm_stop_vcpus(vm);
	}
	/* The console thread writes into a device: it goes first. */
	if (vm->console_started)
		console_stop(&vm->console);
	vm->console_started = false;
	metrics_destroy(vm->obs.metrics);   /* its thread reads the vCPUs and devices */
	vm->obs.metrics = NULL;
	profile_destroy(vm->profile);   /* its thread kicks the vCPUs */
	vm->profile = NULL;
	if (vm->trace)
		exit_trace_destroy(vm->trace);
	free(vm->trace);
	vm->trace = NULL;
	/* The ring lives in vCPU 0's mapping: what is left goes out first. */
	coalesce_drain(&vm->coalesce);
	coalesce_attach_mem(&vm->coalesce, NULL, 0);
	for (int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	/* Workers stop and in-flight disk I/O completes before guest RAM goes. */
	if (vm->devices)
		vm_devices_destroy(vm->devices);
	free(vm->devices);
	vm->devices = NULL;
	platform_destroy(&vm->platform);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	coalesce_destroy(&vm->coalesce);
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	kvm_close(&vm->kvm);
	free(vm->state_host);
	vm->state_host = NULL;
	gmem_free(&vm->mem);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
	if (vm->sleep_ops)
		vm->sleep_ops->destroy(vm);
}

/* ---- pause and resume ---------------------------------------------------------------------- */

int vm_send_ctrl_alt_del(struct vm *vm)
{
	struct i8042 *k = vm_devices_find(vm->devices, &i8042_kind, 0);

	return k ? i8042_send_ctrl_alt_del(k) : -ENODEV;
}

bool vm_is_paused(struct vm *vm)
{
	return atomic_load(&vm->paused);
}

/* How long vm_pause() waits for every vCPU to park (MVM_PAUSE_TIMEOUT_MS). */
static long vm_pause_timeout_ms(void)
{
	const char *env = getenv("MVM_PAUSE_TIMEOUT_MS");
	char *end;
	long v;

	if (env && *env) {
		v = strtol(env, &end, 10);
		if (!*end && v > 0)
			return v;
	}
	return VM_PAUSE_TIMEOUT_MS;
}

/* Take a pause back (a vCPU or device missed the deadline): the parked vCPUs run on. */
static void vm_unpause_locked(struct vm *vm)
{
	atomic_store(&vm->paused, false);
	pthread_cond_broadcast(&vm->pause_cond);
}

bool vm_pause_mark(struct vm *vm)
{
	bool was;

	pthread_mutex_lock(&vm->pause_lock);
	was = atomic_exchange(&vm->paused, true);
	/* A vCPU held in the debugger's exit hook (vmm/gdb.c) waits for this. */
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return !was;
}

int vm_pause(struct vm *vm)
{
	bool settle;
	/* A sleeping guest is paused already: the user's pause keeps it asleep
	 * (vmm/sleep.h). Otherwise marked here, unless paused already. */
	int ret = vm->sleep_ops ? vm->sleep_ops->pause(vm, &settle)
				: ((settle = vm_pause_mark(vm)), 0);

	if (ret || !settle)
		return ret;
	return vm_pause_settle(vm);
}

size_t vm_pause_stuck(struct vm *vm, char *buf, size_t len)
{
	int n;

	if (!len)
		return 0;
	pthread_mutex_lock(&vm->pause_lock);
	n = snprintf(buf, len, "%s", vm->pause_stuck);
	pthread_mutex_unlock(&vm->pause_lock);
	return n < 0 ? 0 : strlen(buf);
}

/* Under pause_lock: add who to the names of what did not stop. */
static void vm_pause_stuck_add(struct vm *vm, const char *who)
{
	size_t used = strlen(vm->pause_stuck);

	snprintf(vm->pause_stuck + used, sizeof(vm->pause_stuck) - used, "%s%s",
		 used ? ", " : "", who);
}

int vm_pause_settle(struct vm *vm)
{
	struct timespec until;
	long timeout_ms = vm_pause_timeout_ms();
	uint64_t deadline = bench_probe_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char who[sizeof(vm->pause_stuck)];

	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_stuck[0] = '\0';
	/* A vCPU can sit in a device's blocking host call where one kick is
	 * lost (see vm_stop_vcpus): kick again every 50 ms until all park. */
	while (vm->nr_parked < vm->nr_vcpus && !atomic_load(&vm->stopping)) {
		if (bench_probe_now_ns() >= deadline) {
			/* Say who is stuck, and give the parked ones back: a pause
			 * that half happened must not stay. */
			for (int i = 0; i < vm->nr_vcpus; i++) {
				if (vm->vcpus[i].parked)
					continue;
				log_err("pause: vCPU %d did not stop within %ld ms (its thread "
					"is blocked in a host call or not running)", i, timeout_ms);
				snprintf(who, sizeof(who), "vCPU %d", i);
				vm_pause_stuck_add(vm, who);
			}
			vm_unpause_locked(vm);
			pthread_mutex_unlock(&vm->pause_lock);
			return -ETIMEDOUT;
		}
		for (int i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until);
	}
	pthread_mutex_unlock(&vm->pause_lock);
	/* The vCPUs are out of KVM_RUN: now every device finishes what it has
	 * in flight and holds the rest (vmm/devices.h), by the same deadline. */
	if (vm->devices) {
		uint64_t now = bench_probe_now_ns();
		int left_ms = now < deadline ? (int)((deadline - now) / 1000000ull) : 0;

		if (left_ms < 1000)
			left_ms = 1000;   /* the vCPUs may have used it all; the devices get a second */
		int ret = vm_devices_quiesce(vm->devices, left_ms, who, sizeof(who));

		if (ret) {
			pthread_mutex_lock(&vm->pause_lock);
			vm_pause_stuck_add(vm, who[0] ? who : "a device");
			vm_unpause_locked(vm);
			pthread_mutex_unlock(&vm->pause_lock);
			return ret;
		}
	}
	return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
}

int vm_vcpus_call(struct vm *vm, void (*fn)(struct vcpu *v, void *arg), void *arg)
{
	int ret = 0;

	pthread_mutex_lock(&vm->pause_lock);
	/* One call at a time: the vCPUs serve a single call_fn, and callers can
	 * meet (an S3 wake on vm_run's thread, a state read from the API or the
	 * debugger). */
	while (vm->call_fn && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	if (vm->call_fn || !atomic_load(&vm->paused) || vm->nr_parked < vm->nr_vcpus) {
		pthread_mutex_unlock(&vm->pause_lock);
		return atomic_load(&vm->stopping) ? -ESHUTDOWN : -EBUSY;
	}
	vm->call_fn = fn;
	vm->call_arg = arg;
	vm->nr_called = 0;
	vm->call_seq++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (vm->nr_called < vm->nr_vcpus && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	if (vm->nr_called < vm->nr_vcpus)
		ret = -ESHUTDOWN;
	vm->call_fn = NULL;
	vm->call_arg = NULL;
	pthread_cond_broadcast(&vm->pause_cond);   /* a caller waiting its turn */
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

int vm_resume(struct vm *vm)
{
	/* Resuming a sleeping guest wakes it, as its power button would. */
	return vm->sleep_ops ? vm->sleep_ops->resume(vm) : vm_unpause(vm);
}

int vm_unpause(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (!atomic_load(&vm->paused)) {
		pthread_mutex_unlock(&vm->pause_lock);
		return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
	}
	/* Devices first: a vCPU's first kick after the pause finds its worker running. */
	if (vm->devices)
		vm_devices_resume(vm->devices);
	atomic_store(&vm->paused, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	/* A guest that writes without exiting has its next line drained by
	 * the main thread: wake it to drain soon (vm_wait_for_stop). */
	coalesce_expect_writes(&vm->coalesce, vm_now_ms());
	(void)!write(vm->stop_efd, &(uint64_t){ 1 }, sizeof(uint64_t));
	return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
}
