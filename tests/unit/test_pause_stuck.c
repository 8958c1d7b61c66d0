/* test_pause_stuck.c - a pause that misses its deadline names who did not
 * stop (vm_pause_stuck): a vCPU that never parks, a device whose quiesce
 * times out; the pause is undone either way and the devices already held
 * are given back. Fake vCPU threads park as vcpu.c's loop does (no KVM). */
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
#include <unistd.h>
#include <cmocka.h>

#include "core/device.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

struct fake {
	struct vm vm;
	struct vm_devices devs;
	pthread_t thread;
	bool has_thread;
};

/* vcpu.c's loop, reduced: park while paused, else "run" in 1 ms slices. */
static void *fake_vcpu(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->host->ctx;

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->paused)) {
			vm->vcpu_host.park(vm->vcpu_host.ctx, v);
			continue;
		}
		usleep(1000);
	}
	return NULL;
}

/* nr_vcpus vCPUs; only vCPU 0 gets a thread when threaded (the others never park). */
static struct fake *fake_new(int nr_vcpus, bool threaded)
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
	vm->nr_vcpus = nr_vcpus;
	vm->vcpus = calloc((size_t)nr_vcpus, sizeof(*vm->vcpus));
	assert_non_null(vm->vcpus);
	vm_fill_vcpu_host(vm);
	for (int i = 0; i < nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->index = i;
		v->fd = -1;
		v->host = &vm->vcpu_host;
		v->run = calloc(1, sizeof(*v->run));
		assert_non_null(v->run);
	}
	if (threaded) {
		assert_int_equal(pthread_create(&f->thread, NULL, fake_vcpu, &vm->vcpus[0]), 0);
		f->has_thread = true;
	}
	setenv("MVM_PAUSE_TIMEOUT_MS", "100", 1);
	return f;
}

static void fake_free(struct fake *f)
{
	struct vm *vm = &f->vm;

	unsetenv("MVM_PAUSE_TIMEOUT_MS");
	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	if (f->has_thread)
		pthread_join(f->thread, NULL);
	for (int i = 0; i < vm->nr_vcpus; i++)
		free(vm->vcpus[i].run);
	free(vm->vcpus);
	close(vm->stop_efd);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->stop_lock);
	free(f);
}

/* Device kinds whose instances count their quiesces and resumes; the
 * "stuck" kind's quiesce times out. */
struct fake_dev {
	int quiesced, resumed;
};

static int dev_quiesce(void *dev, int timeout_ms)
{
	((struct fake_dev *)dev)->quiesced++;
	return 0;
}

static int dev_quiesce_stuck(void *dev, int timeout_ms)
{
	return -ETIMEDOUT;
}

static void dev_resume(void *dev)
{
	((struct fake_dev *)dev)->resumed++;
}

static const struct device_kind good_kind = {
	.name = "virtio-good", .short_name = "good",
	.quiesce = dev_quiesce, .resume = dev_resume,
};

static const struct device_kind stuck_kind = {
	.name = "virtio-net", .short_name = "net",
	.quiesce = dev_quiesce_stuck, .resume = dev_resume,
};

static void add_dev(struct vm_devices *d, const struct device_kind *kind, int index, void *dev)
{
	d->slots[d->nr_slots++] = (struct vm_device){ .kind = kind, .index = index, .dev = dev };
}

/* vCPU 1 has no thread: it never parks; the log line and the name say so,
 * and the VM is not left paused. */
static void test_stuck_vcpu_named(void **state)
{
	struct fake *f = fake_new(2, true);
	char who[128];

	assert_int_equal(vm_pause(&f->vm), -ETIMEDOUT);
	assert_false(vm_is_paused(&f->vm));
	assert_int_equal(vm_pause_stuck(&f->vm, who, sizeof(who)), strlen("vCPU 1"));
	assert_string_equal(who, "vCPU 1");
	fake_free(f);
}

/* Two vCPUs that never park: both named. */
static void test_two_stuck_vcpus_named(void **state)
{
	struct fake *f = fake_new(2, false);
	char who[128];

	assert_int_equal(vm_pause(&f->vm), -ETIMEDOUT);
	vm_pause_stuck(&f->vm, who, sizeof(who));
	assert_string_equal(who, "vCPU 0, vCPU 1");
	fake_free(f);
}

/* Every vCPU parks, the second device cannot stop: it is named as
 * "<kind> <short><index>", the first device is given back, the VM runs on;
 * a later pause that succeeds clears the name. */
static void test_stuck_device_named(void **state)
{
	struct fake *f = fake_new(1, true);
	struct fake_dev good = { 0 }, net = { 0 };
	char who[128];

	add_dev(&f->devs, &good_kind, 0, &good);
	add_dev(&f->devs, &stuck_kind, 1, &net);
	f->vm.devices = &f->devs;
	assert_int_equal(vm_pause(&f->vm), -ETIMEDOUT);
	assert_false(vm_is_paused(&f->vm));
	vm_pause_stuck(&f->vm, who, sizeof(who));
	assert_string_equal(who, "virtio-net net1");
	assert_int_equal(good.quiesced, 1);
	assert_int_equal(good.resumed, 1);
	assert_int_equal(net.resumed, 0);

	f->devs.nr_slots = 1;   /* without the stuck one */
	assert_int_equal(vm_pause(&f->vm), 0);
	assert_true(vm_is_paused(&f->vm));
	assert_int_equal(vm_pause_stuck(&f->vm, who, sizeof(who)), 0);
	assert_string_equal(who, "");
	assert_int_equal(vm_resume(&f->vm), 0);
	f->vm.devices = NULL;
	fake_free(f);
}

/* vm_devices_quiesce alone: the name of the one that timed out, "" on success. */
static void test_devices_quiesce_names(void **state)
{
	struct vm_devices d = { .nr_slots = 0 };
	struct fake_dev a = { 0 }, b = { 0 };
	char who[64] = "junk";

	add_dev(&d, &good_kind, 0, &a);
	assert_int_equal(vm_devices_quiesce(&d, 100, who, sizeof(who)), 0);
	assert_string_equal(who, "");
	vm_devices_resume(&d);
	add_dev(&d, &stuck_kind, 0, &b);
	assert_int_equal(vm_devices_quiesce(&d, 100, who, sizeof(who)), -ETIMEDOUT);
	assert_string_equal(who, "virtio-net net0");
	assert_int_equal(a.resumed, 2);
	assert_int_equal(vm_devices_quiesce(&d, 100, NULL, 0), -ETIMEDOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stuck_vcpu_named),
		cmocka_unit_test(test_two_stuck_vcpus_named),
		cmocka_unit_test(test_stuck_device_named),
		cmocka_unit_test(test_devices_quiesce_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
