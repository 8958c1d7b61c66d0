/* throttle.c - a thread that kicks every vCPU once per slice so that each sleeps its share. */
#include "vmm/throttle.h"
#include "core/vcpu.h"
#include "util/nap.h"
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>

static void *throttle_thread(void *arg)
{
	struct vm_throttle *t = arg;
	struct vm *vm = t->vm;

	pthread_setname_np(pthread_self(), "mvm-throttle");
	while (!atomic_load(&t->stop)) {
		unsigned pct = atomic_load(&vm->throttle_pct);
		/* One run slice, then the vCPU's own sleep: the next kick lands
		 * one slice after the vCPU woke up. */
		uint64_t period = pct ? VCPU_THROTTLE_SLICE_NS * 100 / (100 - pct) : VCPU_THROTTLE_SLICE_NS;

		nap_unless(&t->stop, period, 5000000);
		if (atomic_load(&t->stop) || atomic_load(&vm->stopping))
			break;
		if (!pct || atomic_load(&vm->paused))
			continue;
		for (int i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
	}
	return NULL;
}

int vm_throttle_set(struct vm_throttle *t, struct vm *vm, unsigned pct)
{
	if (pct > VCPU_THROTTLE_MAX_PCT)
		pct = VCPU_THROTTLE_MAX_PCT;
	if (!pct) {
		vm_throttle_stop(t);
		return 0;
	}
	atomic_store(&vm->throttle_pct, pct);
	if (t->running)
		return 0;
	t->vm = vm;
	atomic_store(&t->stop, false);
	int ret = pthread_create(&t->thread, NULL, throttle_thread, t);

	if (ret) {
		atomic_store(&vm->throttle_pct, 0);
		return -ret;
	}
	t->running = true;
	return 0;
}

void vm_throttle_stop(struct vm_throttle *t)
{
	if (!t->running)
		return;
	atomic_store(&t->stop, true);
	pthread_join(t->thread, NULL);
	t->running = false;
	atomic_store(&t->vm->throttle_pct, 0);
}
