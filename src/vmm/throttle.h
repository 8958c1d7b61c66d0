/* throttle.h - slow a running VM's vCPUs down to a share of their time.
 *
 * A live migration that cannot keep up with the guest's dirty rate (its
 * auto-converge, as QEMU's) makes each vCPU sleep pct/(100-pct) slices of
 * VCPU_THROTTLE_SLICE_NS after every slice it runs: the throttler's thread
 * kicks every vCPU out of KVM_RUN once per run slice plus sleep, and the
 * vCPU (core/vcpu.c) sleeps in steps short enough that a pause or a stop
 * is never held up. The share lives in vm->throttle_pct, which the vCPUs
 * read through their vcpu_host; nothing else in the VM changes.
 *
 * Owned by one caller at a time (the migration thread); any thread but a
 * vCPU's may call these. */
#ifndef MVM_VMM_THROTTLE_H
#define MVM_VMM_THROTTLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct vm;

struct vm_throttle {
	struct vm *vm;
	pthread_t thread;
	bool running;
	atomic_bool stop;
};

/* Set the share (0..VCPU_THROTTLE_MAX_PCT; more is clamped; 0 stops the
 * thread and lets the vCPUs run free). 0, or -errno when the thread could
 * not start (the vCPUs then run unthrottled). */
int vm_throttle_set(struct vm_throttle *t, struct vm *vm, unsigned pct);
/* The same as vm_throttle_set(t, vm, 0); safe on a zeroed, never-set one. */
void vm_throttle_stop(struct vm_throttle *t);

#endif
