/* vmstop.h - why a VM stops, and how a device asks it to.
 *
 * Contract: any thread (a vCPU in a device callback, the console thread)
 * may call vm_stopper_request(); the first reason recorded wins, every vCPU
 * leaves KVM_RUN, and mvm exits with the status that reason maps to.
 * vm_stopper_request_exit() stops with VM_STOP_GUEST_EXIT and a status
 * chosen by the guest (the debug-exit port); it too loses to an earlier
 * reason, and the VM keeps that status (struct vm guest_exit_status).
 * vm_stopper_request_sleep() does not stop the VM: it puts it to sleep
 * (ACPI S3) until a wake event.
 */
#ifndef MVM_CORE_VMSTOP_H
#define MVM_CORE_VMSTOP_H

#include "util/err.h"

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_POWEROFF,       /* ACPI S5 */
	VM_STOP_RESET,          /* i8042 0xfe, ACPI reset register, KVM_SYSTEM_EVENT_RESET */
	VM_STOP_USER,           /* Ctrl-A x, SIGINT/SIGTERM */
	VM_STOP_PANIC,          /* guest reported a panic (pvpanic) */
	VM_STOP_TRIPLE_FAULT,   /* KVM_EXIT_SHUTDOWN */
	VM_STOP_INTERNAL_ERROR, /* KVM internal error, failed entry, unknown exit */
	VM_STOP_HOST_ERROR,     /* mvm itself failed (I/O, memory) */
	VM_STOP_GUEST_EXIT,     /* guest wrote the debug-exit port: its own status */
	VM_STOP_MIGRATED,       /* the guest moved to another mvm (vmm/migrate.h) */
};

/* mvm's exit status for each outcome (documented in the README). */
#define MVM_EXIT_OK        0  /* guest powered off or rebooted, or user quit */
/* A failure's exit status comes from its class (util/err.h): err_exit_status(). */
#define MVM_EXIT_HOST      ERR_EXIT_HOST  /* 1: mvm or the host failed (no /dev/kvm, ...) */
#define MVM_EXIT_USAGE     ERR_EXIT_USAGE /* 2: bad flag or unusable input file */
#define MVM_EXIT_PANIC     3  /* guest panic */
#define MVM_EXIT_CRASH     4  /* triple fault or KVM internal error */

struct vm_stopper {
	void (*request)(void *ctx, enum vm_stop_reason reason);
	void *ctx;
	/* VM_STOP_GUEST_EXIT with status 0..255; last, so the existing
	 * { request, ctx } initializers keep working (NULL: ignored). */
	void (*request_exit)(void *ctx, int status);
	/* The guest asked for ACPI sleep state 3 (board/acpi_pm1.h): the VM
	 * pauses until a wake event (vmm/sleep.h). NULL: ignored. */
	void (*request_sleep)(void *ctx, int state);
};

static inline void vm_stopper_request(const struct vm_stopper *s, enum vm_stop_reason r)
{
	if (s && s->request)
		s->request(s->ctx, r);
}

static inline void vm_stopper_request_exit(const struct vm_stopper *s, int status)
{
	if (s && s->request_exit)
		s->request_exit(s->ctx, status);
}

static inline void vm_stopper_request_sleep(const struct vm_stopper *s, int state)
{
	if (s && s->request_sleep)
		s->request_sleep(s->ctx, state);
}

const char *vm_stop_reason_name(enum vm_stop_reason r);
/* The status for r; VM_STOP_GUEST_EXIT's status is the guest's, kept by
 * the VM (vm.guest_exit_status), so here it maps to MVM_EXIT_HOST. */
int vm_stop_exit_status(enum vm_stop_reason r);

#endif
