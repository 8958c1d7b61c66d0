/* sleep_state.h - what a VM holds of an ACPI S3 sleep (vmm/sleep.h runs it).
 *
 * Why a header of its own: struct vm embeds this state, and vm.c must not
 * include vmm/sleep.h (sleep.c includes vmm/vm.h: the modules would include
 * each other); vm.c reaches the sleep code through struct vm_sleep_ops.
 */
#ifndef MVM_VMM_SLEEP_STATE_H
#define MVM_VMM_SLEEP_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm_sleep {
	pthread_mutex_t lock;
	bool asleep;       /* the guest asked for S3 and has not woken yet (written under
			    * lock with __atomic stores: vm_sleep_request peeks at it) */
	bool settled;      /* every vCPU parked and the devices quiesced */
	bool under_pause;  /* it began while the VM was paused by someone else */
	bool held;         /* the user paused the sleeping VM: no wake on the alarm */
	uint64_t wake_ns;  /* CLOCK_MONOTONIC when the RTC alarm wakes it; 0: never */
	uint64_t since_ns; /* CLOCK_MONOTONIC when it fell asleep (the log's figure) */
};

#endif
