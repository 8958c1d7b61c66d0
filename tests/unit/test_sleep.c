/* test_sleep.c - ACPI S3 sleep (vmm/sleep.c) against vm.c's pause machinery,
 * with fake vCPU threads that park as vcpu.c's loop does (no /dev/kvm): two
 * vCPUs asking for sleep at once, a sleep that lands under someone else's
 * pause, a pause of a sleeping VM that cannot settle, and vm_vcpus_call()
 * from two threads at once (the S3 wake meeting a state read). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/bench_probe.h"
#include "util/log.h"
#include "vmm/sleep.h"
#include "vmm/vm.h"

struct fake {
	struct vm vm;
	pthread_t threads[4];
	int nr_threads;
	atomic_int second_sleeper;   /* this vCPU index asks for sleep too, before it parks */
};

/* vcpu.c's loop, reduced: park while paused, else "run" in 1 ms slices. */
static void *fake_vcpu(void *arg)
{
	struct vcpu *v = arg;
	struct fake *f = (struct fake *)v->host->ctx;
	struct vm *vm = &f->vm;

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->paused)) {
			if (atomic_load(&f->second_sleeper) == v->index) {
				/* As a vCPU whose SLP_EN write was in flight when the
				 * first sleep marked the pause: vm_run is settling. */
				atomic_store(&f->second_sleeper, -1);
				usleep(50 * 1000);
				vm_sleep_request(vm, 3);
			}
			vm->vcpu_host.park(vm->vcpu_host.ctx, v);
			continue;
		}
		usleep(1000);
	}
	return NULL;
}

static struct fake *fake_new(int nr_vcpus, bool threads)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct vm *vm = &f->vm;

	assert_non_null(f);
	vm->fd = -1;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(vm->stop_efd >= 0);
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm_sleep_init(&vm->sleep);
	vm->sleep_ops = &vm_sleep_ops;
	vm->nr_vcpus = nr_vcpus;
	vm->vcpus = calloc((size_t)nr_vcpus, sizeof(*vm->vcpus));
	assert_non_null(vm->vcpus);
	vm_fill_vcpu_host(vm);
	atomic_store(&f->second_sleeper, -1);
	for (int i = 0; i < nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->index = i;
		v->fd = -1;
		v->host = &vm->vcpu_host;
		v->run = calloc(1, sizeof(*v->run));
		assert_non_null(v->run);
		/* v->started stays false: vcpu_kick is a no-op, the fake parks on its own. */
		if (threads)
			assert_int_equal(pthread_create(&f->threads[f->nr_threads++], NULL,
							fake_vcpu, v), 0);
	}
	return f;
}

static void fake_free(struct fake *f)
{
	struct vm *vm = &f->vm;

	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < f->nr_threads; i++)
		pthread_join(f->threads[i], NULL);
	for (int i = 0; i < vm->nr_vcpus; i++)
		free(vm->vcpus[i].run);
	free(vm->vcpus);
	close(vm->stop_efd);
	vm_sleep_destroy(&vm->sleep);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->stop_lock);
	free(f);
}

static bool wait_parked(struct vm *vm, int ms)
{
	for (int i = 0; i < ms; i++) {
		pthread_mutex_lock(&vm->pause_lock);
		bool all = vm->nr_parked == vm->nr_vcpus;
		pthread_mutex_unlock(&vm->pause_lock);
		if (all)
			return true;
		usleep(1000);
	}
	return false;
}

/* Two vCPUs write SLP_EN at once: the second's request must not wait for
 * sleep.lock, which vm_run's thread holds while the pause settles (and the
 * settle waits for that very vCPU): the VM sleeps, without the timeout. */
static void test_two_vcpus_sleep_at_once(void **state)
{
	struct fake *f = fake_new(2, true);
	struct vm *vm = &f->vm;
	uint64_t t0;

	setenv("MVM_PAUSE_TIMEOUT_MS", "2000", 1);
	atomic_store(&f->second_sleeper, 1);
	vm_sleep_request(vm, 3);               /* vCPU 0's write, in effect */
	t0 = bench_probe_now_ns();
	assert_int_equal(vm_sleep_service(vm), -1);   /* settles; no wake source */
	assert_true(bench_probe_now_ns() - t0 < 1000000000ull);
	assert_true(vm_sleep_is_asleep(vm));
	assert_true(vm->sleep.settled);
	assert_true(vm_is_paused(vm));
	assert_int_equal(atomic_load(&f->second_sleeper), -1);   /* it did ask */
	/* The power button: no FACS in this fake, so the wake reboots. */
	assert_int_equal(vm_resume(vm), 0);
	assert_false(vm_sleep_is_asleep(vm));
	assert_int_equal(vm->stop_reason, VM_STOP_RESET);
	unsetenv("MVM_PAUSE_TIMEOUT_MS");
	fake_free(f);
}

/* A sleep asked for while someone else holds the VM paused (a snapshot, a
 * migration's stop-and-copy, the debugger) is held: the alarm must not
 * resume the VM under that pause. The pause's own resume lets it sleep on
 * (no power button), and the alarm then wakes it. */
static void test_sleep_under_pause_is_held(void **state)
{
	struct fake *f = fake_new(2, true);
	struct vm *vm = &f->vm;

	assert_int_equal(vm_pause(vm), 0);
	assert_true(wait_parked(vm, 2000));
	vm_sleep_request(vm, 3);               /* an SLP_EN write that was in flight */
	assert_true(vm_sleep_is_asleep(vm));
	assert_int_equal(vm_sleep_service(vm), -1);
	assert_true(vm->sleep.held);
	/* The alarm's time has come: still asleep, still paused, nothing stops. */
	pthread_mutex_lock(&vm->sleep.lock);
	vm->sleep.wake_ns = 1;
	pthread_mutex_unlock(&vm->sleep.lock);
	assert_int_equal(vm_sleep_service(vm), -1);
	assert_true(vm_sleep_is_asleep(vm));
	assert_true(vm_is_paused(vm));
	assert_false(atomic_load(&vm->stopping));
	/* A second pause of the sleeping VM succeeds; the resume ends the
	 * hold but not the sleep. */
	assert_int_equal(vm_pause(vm), 0);
	assert_int_equal(vm_resume(vm), 0);
	assert_true(vm_sleep_is_asleep(vm));
	assert_false(vm->sleep.held);
	assert_false(atomic_load(&vm->stopping));
	/* The alarm (already due) wakes it: no waking vector here, a reset. */
	assert_int_equal(vm_sleep_service(vm), -1);
	assert_false(vm_sleep_is_asleep(vm));
	assert_int_equal(vm->stop_reason, VM_STOP_RESET);
	fake_free(f);
}

/* vm_pause() of a sleeping VM whose vCPUs cannot park (one is held where
 * kicks cannot reach it) fails as any pause does, and the VM is not left
 * half-paused: it used to report success on a running guest. */
static void test_pause_of_unsettled_sleep_fails(void **state)
{
	struct fake *f = fake_new(1, false);   /* no thread: vCPU 0 never parks */
	struct vm *vm = &f->vm;

	setenv("MVM_PAUSE_TIMEOUT_MS", "100", 1);
	vm_sleep_request(vm, 3);
	assert_int_equal(vm_pause(vm), -ETIMEDOUT);
	assert_false(vm_is_paused(vm));
	assert_false(vm_sleep_is_asleep(vm));
	unsetenv("MVM_PAUSE_TIMEOUT_MS");
	fake_free(f);
}

/* vm_vcpus_call() from two threads at once: each call's function runs once
 * on every vCPU (the second used to overwrite the first's, which then
 * returned with its function run on none or some of them). */
static atomic_int ran_a, ran_b;

static void fn_a(struct vcpu *v, void *arg)
{
	usleep(30 * 1000);
	atomic_fetch_add(&ran_a, 1);
}

static void fn_b(struct vcpu *v, void *arg)
{
	usleep(30 * 1000);
	atomic_fetch_add(&ran_b, 1);
}

static void *call_b(void *arg)
{
	return (void *)(intptr_t)vm_vcpus_call(arg, fn_b, NULL);
}

static void test_vcpus_call_serialized(void **state)
{
	struct fake *f = fake_new(3, true);
	struct vm *vm = &f->vm;
	pthread_t t;
	void *ret_b;
	int ret_a;

	assert_int_equal(vm_pause(vm), 0);
	assert_true(wait_parked(vm, 2000));
	atomic_store(&ran_a, 0);
	atomic_store(&ran_b, 0);
	alarm(20);   /* a lost wake-up would hang: die loudly instead */
	assert_int_equal(pthread_create(&t, NULL, call_b, vm), 0);
	usleep(10 * 1000);                     /* b's functions are running */
	ret_a = vm_vcpus_call(vm, fn_a, NULL);
	assert_int_equal(pthread_join(t, &ret_b), 0);
	alarm(0);
	assert_int_equal(ret_a, 0);
	assert_int_equal((int)(intptr_t)ret_b, 0);
	assert_int_equal(atomic_load(&ran_a), 3);
	assert_int_equal(atomic_load(&ran_b), 3);
	assert_int_equal(vm_resume(vm), 0);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_vcpus_sleep_at_once),
		cmocka_unit_test(test_sleep_under_pause_is_held),
		cmocka_unit_test(test_pause_of_unsettled_sleep_fails),
		cmocka_unit_test(test_vcpus_call_serialized),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
