/* sleep.c - ACPI S3: put a VM to sleep on the guest's request, wake it on its RTC alarm or a resume. */
#include "vmm/sleep.h"
#include "board/acpi_pm1.h"
#include "board/rtc.h"
#include "boot/acpi/acpi.h"
#include "core/cpu.h"
#include "core/vm_state.h"
#include "util/bench_probe.h"
#include "util/log.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

void vm_sleep_init(struct vm_sleep *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void vm_sleep_destroy(struct vm_sleep *s)
{
	pthread_mutex_destroy(&s->lock);
}

/* Under sleep.lock; atomic so that vm_sleep_request may peek without it. */
static void set_asleep(struct vm_sleep *s, bool on)
{
	__atomic_store_n(&s->asleep, on, __ATOMIC_RELEASE);
}

bool vm_sleep_is_asleep(struct vm *vm)
{
	bool asleep;

	pthread_mutex_lock(&vm->sleep.lock);
	asleep = vm->sleep.asleep;
	pthread_mutex_unlock(&vm->sleep.lock);
	return asleep;
}

void vm_sleep_request(struct vm *vm, int state)
{
	uint64_t one = 1;

	if (state != 3)
		return;
	/* Never wait for sleep.lock behind a settle: it is held across
	 * vm_pause_settle, which waits for this very vCPU to park (two vCPUs
	 * writing SLP_EN at once stalled the pause to its timeout and undid the
	 * sleep). A sleep under way is this vCPU's too; the lock is otherwise
	 * held only briefly while the VM is awake. */
	while (pthread_mutex_trylock(&vm->sleep.lock)) {
		if (__atomic_load_n(&vm->sleep.asleep, __ATOMIC_ACQUIRE))
			goto kick;
		sched_yield();
	}
	if (!vm->sleep.asleep) {
		set_asleep(&vm->sleep, true);
		vm->sleep.settled = false;
		/* Paused already (vm_sleep_pause marks under this lock): someone
		 * else's pause, which the alarm must not end. */
		vm->sleep.held = vm->sleep.under_pause = atomic_load(&vm->paused);
		vm->sleep.wake_ns = 0;
		vm->sleep.since_ns = bench_probe_now_ns();
		/* This vCPU parks before its next KVM_RUN: the guest runs no
		 * instruction after the sleep write. */
		vm_pause_mark(vm);
	}
	pthread_mutex_unlock(&vm->sleep.lock);
kick:
	/* vm_run's loop takes it from here (a failed write: it is awake already). */
	(void)!write(vm->stop_efd, &one, sizeof(one));
}

/* When the RTC alarm rings, on CLOCK_MONOTONIC; 0 when no wake is enabled. */
static uint64_t alarm_wake_ns(struct vm *vm)
{
	struct acpi_pm1 *pm1 = vm_devices_find(vm->devices, &acpi_pm1_kind, 0);
	struct rtc *rtc = vm_devices_find(vm->devices, &rtc_kind, 0);
	uint64_t at, now_real, asleep_for, mono = bench_probe_now_ns();

	if (!pm1 || !rtc || !acpi_pm1_enabled(pm1, ACPI_PM1_RTC))
		return 0;
	now_real = rtc->now_ns();   /* the RTC's own clock (host UTC) */
	/* From the moment of the guest's sleep write, not of the settle: a
	 * settle that crosses the alarm's second must not sleep a day. */
	asleep_for = mono > vm->sleep.since_ns ? mono - vm->sleep.since_ns : 0;
	if (rtc_alarm_next(rtc, now_real > asleep_for ? now_real - asleep_for : 0, &at))
		return 0;
	return mono + (at > now_real ? at - now_real : 0);
}

/* Under sleep.lock: every vCPU parked and the devices quiesced. */
static int settle_locked(struct vm *vm)
{
	int ret;

	if (vm->sleep.settled)
		return 0;
	ret = vm_pause_settle(vm);
	if (ret) {
		/* vm_pause_settle took the pause back: the guest runs on past its
		 * sleep write, as after a sleep type mvm does not implement (a
		 * stop needs no word: the VM is ending). */
		if (ret != -ESHUTDOWN)
			log_err("ACPI S3: the VM could not be paused (%s); the guest runs on",
				strerror(-ret));
		set_asleep(&vm->sleep, false);
		return ret;
	}
	vm->sleep.settled = true;
	vm->sleep.wake_ns = alarm_wake_ns(vm);
	if (vm->sleep.wake_ns)
		log_info("guest entered ACPI S3 sleep; its RTC alarm wakes it in %.3f s",
			 (double)(vm->sleep.wake_ns - bench_probe_now_ns()) / 1e9);
	else
		log_info("guest entered ACPI S3 sleep with no wake source enabled (RTC_EN and "
			 "the RTC's AIE); resuming the VM wakes it (mvm ctl resume)");
	return 0;
}

struct wake_call {
	uint32_t vector;
	int err;          /* the first vCPU's failure */
};

static void wake_vcpu(struct vcpu *v, void *arg)
{
	struct wake_call *w = arg;
	int ret = cpu_wake_reset(v->fd, v->index, w->vector);

	if (ret)
		__atomic_compare_exchange_n(&w->err, &(int){ 0 }, ret, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
}

/* Under sleep.lock, settled: wake the VM; sts is PM1_STS's wake source bit. */
static int wake_locked(struct vm *vm, uint16_t sts, const char *why)
{
	struct acpi_pm1 *pm1 = vm_devices_find(vm->devices, &acpi_pm1_kind, 0);
	struct rtc *rtc = vm_devices_find(vm->devices, &rtc_kind, 0);
	const uint8_t *facs = gmem_ptr(&vm->mem, ACPI_FACS_GPA, 64);
	struct wake_call w = { 0 };
	int ret;

	if (sts == ACPI_PM1_RTC && rtc)
		rtc_alarm_ring(rtc);
	if (pm1)
		acpi_pm1_wake(pm1, sts);
	if (facs)
		memcpy(&w.vector, facs + ACPI_FACS_WAKING_VECTOR, sizeof(w.vector));
	set_asleep(&vm->sleep, false);
	if (!w.vector) {
		log_info("guest woke from ACPI S3 (%s) with no waking vector in its FACS: "
			 "rebooting, as a firmware would", why);
		vm_request_stop(vm, VM_STOP_RESET);
		return 0;
	}
	if (w.vector > 0xfffff) {
		log_err("ACPI S3 wake: the FACS waking vector %#x is above 1 MiB (a real-mode "
			"address is needed); stopping the VM", w.vector);
		vm_request_stop(vm, VM_STOP_TRIPLE_FAULT);
		return -EINVAL;
	}
	ret = vm_vcpus_call(vm, wake_vcpu, &w);
	if (!ret)
		ret = w.err;
	if (!ret)
		ret = vm_state_pic_bios(vm->fd);
	if (ret) {
		log_err("ACPI S3 wake: resetting the vCPUs failed (%s); stopping the VM",
			strerror(-ret));
		vm_request_stop(vm, VM_STOP_HOST_ERROR);
		return ret;
	}
	log_info("guest woke from ACPI S3 (%s) after %.3f s, at waking vector %#x", why,
		 (double)(bench_probe_now_ns() - vm->sleep.since_ns) / 1e9, w.vector);
	return vm_unpause(vm);
}

int vm_sleep_service(struct vm *vm)
{
	int wait_ms = -1;
	uint64_t drain;

	/* A sleep request wrote the stop eventfd: take its count, or poll
	 * would return at once forever (a stop sets vm->stopping, which the
	 * loop checks, so nothing is lost). */
	(void)!read(vm->stop_efd, &drain, sizeof(drain));
	pthread_mutex_lock(&vm->sleep.lock);
	if (vm->sleep.asleep && !vm->sleep.settled)
		settle_locked(vm);
	if (vm->sleep.asleep && vm->sleep.settled && !vm->sleep.held && vm->sleep.wake_ns) {
		uint64_t now = bench_probe_now_ns();

		if (now >= vm->sleep.wake_ns)
			wake_locked(vm, ACPI_PM1_RTC, "RTC alarm");
		else
			wait_ms = (int)((vm->sleep.wake_ns - now + 999999) / 1000000);
	}
	pthread_mutex_unlock(&vm->sleep.lock);
	return wait_ms;
}

int vm_sleep_resume(struct vm *vm)
{
	int ret;

	pthread_mutex_lock(&vm->sleep.lock);
	if (vm->sleep.asleep && vm->sleep.under_pause) {
		/* The guest went to sleep under this pause (a stats read, a
		 * snapshot, the debugger): ending the pause is no power button.
		 * It sleeps on, and vm_run's loop arms the alarm. */
		uint64_t one = 1;

		vm->sleep.held = vm->sleep.under_pause = false;
		(void)!write(vm->stop_efd, &one, sizeof(one));
		ret = atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
	} else if (vm->sleep.asleep) {
		if (!(ret = settle_locked(vm)))
			ret = wake_locked(vm, 0, "resumed by the user");
	} else {
		ret = vm_unpause(vm);
	}
	pthread_mutex_unlock(&vm->sleep.lock);
	return ret;
}

int vm_sleep_pause(struct vm *vm, bool *settle)
{
	int ret = 0;

	*settle = false;
	pthread_mutex_lock(&vm->sleep.lock);
	if (vm->sleep.asleep) {
		/* Paused already: keep it asleep until a resume. */
		if (!(ret = settle_locked(vm))) {
			vm->sleep.held = true;
			ret = atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
		}
	} else {
		/* Settling waits for the vCPUs: not under this lock (a vCPU
		 * asking for sleep takes it). */
		*settle = vm_pause_mark(vm);
	}
	pthread_mutex_unlock(&vm->sleep.lock);
	return ret;
}

static void sleep_destroy(struct vm *vm)
{
	vm_sleep_destroy(&vm->sleep);
}

const struct vm_sleep_ops vm_sleep_ops = {
	.service = vm_sleep_service,
	.is_asleep = vm_sleep_is_asleep,
	.pause = vm_sleep_pause,
	.resume = vm_sleep_resume,
	.destroy = sleep_destroy,
};
