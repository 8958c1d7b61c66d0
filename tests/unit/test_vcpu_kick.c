/* test_vcpu_kick.c - the vCPU loop against a fake KVM_RUN: a pause that gave
 * up (a vCPU thread held where kicks cannot reach it) must leave that vCPU
 * running its guest once it is let go, not spinning on immediate_exit.
 *
 * ioctl() comes from fake_ioctl.h: KVM_RUN on the fake fd runs the model
 * below (fake_ioctl); every other fd goes to the kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/vcpu.h"
#include "fake_ioctl.h"

static atomic_ulong entries;    /* KVM_RUN calls that ran the guest */
static atomic_ulong bounced;    /* KVM_RUN calls refused by immediate_exit */
static atomic_bool stuck;       /* the next guest run is held, deaf to kicks */
static atomic_bool in_stuck;
static struct kvm_run *fake_run;

static int fake_ioctl(unsigned long req, void *arg)
{
	(void)arg;
	if (req != KVM_RUN) {
		errno = ENOTTY;   /* vcpu_note_where's KVM_GET_REGS: "state unknown" */
		return -1;
	}
	if (__atomic_load_n(&fake_run->immediate_exit, __ATOMIC_SEQ_CST)) {
		atomic_fetch_add(&bounced, 1);
		errno = EINTR;
		return -1;
	}
	atomic_fetch_add(&entries, 1);
	if (atomic_load(&stuck)) {
		/* As a thread stopped by a tracer: signals wait until it is let go. */
		atomic_store(&in_stuck, true);
		while (atomic_load(&stuck))
			usleep(1000);
		atomic_store(&in_stuck, false);
		errno = EINTR;
		return -1;
	}
	/* The guest runs until a signal (the kick) or the 2 ms slice ends. */
	usleep(2000);
	errno = EINTR;
	return -1;
}

static atomic_bool stopping, paused, parked;

/* vm.c's park, reduced: wait out the pause, then clear the kick's mark. */
static void fake_park(void *ctx, struct vcpu *v)
{
	(void)ctx;
	atomic_store(&parked, true);
	while (atomic_load(&paused) && !atomic_load(&stopping))
		usleep(1000);
	atomic_store(&parked, false);
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static atomic_uint throttle_pct;

static struct vcpu_host host = {
	.stopping = &stopping, .paused = &paused, .park = fake_park, .nr_vcpus = 1,
	.throttle_pct = &throttle_pct,
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool wait_until(atomic_ulong *counter, unsigned long at_least, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (atomic_load(counter) >= at_least)
			return true;
		usleep(1000);
	}
	return atomic_load(counter) >= at_least;
}

static bool wait_flag(atomic_bool *flag, bool want, int ms)
{
	for (int i = 0; i < ms && atomic_load(flag) != want; i++)
		usleep(1000);
	return atomic_load(flag) == want;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(vcpu_signal_setup(), 0);
	fake_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(fake_fd >= 0);
	fake_run = calloc(1, sizeof(*fake_run));
	assert_non_null(fake_run);
	atomic_store(&entries, 0);
	atomic_store(&bounced, 0);
	atomic_store(&stuck, false);
	atomic_store(&stopping, false);
	atomic_store(&paused, false);
	atomic_store(&throttle_pct, 0);
	return 0;
}

static struct vcpu the_vcpu;   /* static: a failed assert leaves no thread on a dead stack */

static void stop(struct vcpu *v)
{
	atomic_store(&stuck, false);
	atomic_store(&stopping, true);
	vcpu_kick(v);
	assert_int_equal(vcpu_join(v, 2000), 0);
}

static int teardown(void **state)
{
	(void)state;
	if (the_vcpu.started)
		stop(&the_vcpu);
	close(fake_fd);
	fake_fd = -1;
	free(fake_run);
	return 0;
}

static void start(struct vcpu *v)
{
	memset(v, 0, sizeof(*v));
	v->host = &host;
	v->fd = fake_fd;
	v->run = fake_run;
	assert_int_equal(vcpu_start(v), 0);
	assert_true(wait_until(&entries, 1, 2000));
}

/* vm_pause() kicks a held vCPU every 50 ms, gives up and clears paused;
 * once the vCPU is let go it runs its guest again (before the fix it
 * bounced off immediate_exit forever, and the guest lost vCPU 0). */
static void test_given_up_pause_leaves_vcpu_running(void **state)
{
	struct vcpu *v = &the_vcpu;
	unsigned long e0, b0;

	(void)state;
	start(v);
	atomic_store(&stuck, true);
	assert_true(wait_flag(&in_stuck, true, 2000));
	atomic_store(&paused, true);
	for (int i = 0; i < 4; i++) {
		vcpu_kick(v);
		usleep(10000);
	}
	atomic_store(&paused, false);   /* the pause's deadline passed */
	assert_false(atomic_load(&parked));
	e0 = atomic_load(&entries);
	b0 = atomic_load(&bounced);
	atomic_store(&stuck, false);
	assert_true(wait_until(&entries, e0 + 20, 2000));
	/* At most the one KVM_RUN that found the stale mark. */
	assert_true(atomic_load(&bounced) - b0 <= 1);
	stop(v);
}

/* The ordinary pause still parks the vCPU, and resume lets it run. */
static void test_pause_parks_and_resume_runs(void **state)
{
	struct vcpu *v = &the_vcpu;
	unsigned long e0;

	(void)state;
	start(v);
	atomic_store(&paused, true);
	vcpu_kick(v);
	assert_true(wait_flag(&parked, true, 2000));
	e0 = atomic_load(&entries);
	usleep(20000);
	assert_int_equal(atomic_load(&entries), e0);   /* parked: no guest time */
	atomic_store(&paused, false);
	assert_true(wait_until(&entries, e0 + 5, 2000));
	stop(v);
}

/* A stop kick is never lost: the thread ends although paused is false. */
static void test_stop_kick_ends_thread(void **state)
{
	struct vcpu *v = &the_vcpu;

	(void)state;
	start(v);
	stop(v);
	assert_false(atomic_load(&parked));
}

/* Throttled (a migration's auto-converge): after each return from KVM_RUN
 * the vCPU sleeps pct/(100-pct) of a 10 ms slice; unthrottled, never. (The
 * fake KVM_RUN returns every 2 ms, so each return is a throttle point.) */
static void test_throttle_sleeps_its_share(void **state)
{
	struct vcpu *v = &the_vcpu;
	unsigned long e0;

	(void)state;
	start(v);
	usleep(50000);
	assert_int_equal(v->throttled_ns, 0);
	atomic_store(&throttle_pct, 50);   /* 10 ms asleep per return */
	e0 = atomic_load(&entries);
	usleep(200000);
	atomic_store(&throttle_pct, 0);
	/* ~200 ms: at most ~17 runs of 2 ms + 10 ms asleep (unthrottled: ~100). */
	assert_true(atomic_load(&entries) - e0 <= 25);
	assert_true(v->throttled_ns >= 100000000ull);
	stop(v);
}

/* A throttle sleep (990 ms at 99 %) holds up neither a pause nor a stop
 * more than its 2 ms steps. */
static void test_throttle_never_delays_pause_or_stop(void **state)
{
	struct vcpu *v = &the_vcpu;
	uint64_t t;

	(void)state;
	start(v);
	atomic_store(&throttle_pct, 99);
	usleep(30000);                      /* inside a 990 ms sleep now */
	t = now_ms();
	atomic_store(&paused, true);
	vcpu_kick(v);
	assert_true(wait_flag(&parked, true, 2000));
	assert_true(now_ms() - t < 100);
	atomic_store(&paused, false);
	assert_true(wait_flag(&parked, false, 2000));
	usleep(30000);
	t = now_ms();
	stop(v);
	assert_true(now_ms() - t < 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_given_up_pause_leaves_vcpu_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_parks_and_resume_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_kick_ends_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle_sleeps_its_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle_never_delays_pause_or_stop, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
