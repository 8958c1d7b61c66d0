/* vmstop.h - why a VM stops, and how a device asks it to.
 *
 * Contract: any thread (a vCPU in a device callback, the console thread)
 * may call vm_stopper_request(); the first reason recorded wins, every vCPU
 * leaves KVM_RUN, and mvm exits with the status that reason maps to.
 */
#ifndef MVM_CORE_VMSTOP_H
#define MVM_CORE_VMSTOP_H

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_POWEROFF,       /* ACPI S5 */
	VM_STOP_RESET,          /* i8042 0xfe, ACPI reset register, KVM_SYSTEM_EVENT_RESET */
	VM_STOP_USER,           /* Ctrl-A x, SIGINT/SIGTERM */
	VM_STOP_PANIC,          /* guest reported a panic (pvpanic) */
	VM_STOP_TRIPLE_FAULT,   /* KVM_EXIT_SHUTDOWN */
	VM_STOP_INTERNAL_ERROR, /* KVM internal error, failed entry, unknown exit */
	VM_STOP_HOST_ERROR,     /* mvm itself failed (I/O, memory) */
};

/* mvm's exit status for each outcome (documented in the README). */
#define MVM_EXIT_OK        0  /* guest powered off or rebooted, or user quit */
#define MVM_EXIT_HOST      1  /* mvm or the host failed (no /dev/kvm, ...) */
#define MVM_EXIT_USAGE     2  /* bad flag or unusable input file */
#define MVM_EXIT_PANIC     3  /* guest panic */
#define MVM_EXIT_CRASH     4  /* triple fault or KVM internal error */

struct vm_stopper {
	void (*request)(void *ctx, enum vm_stop_reason reason);
	void *ctx;
};

static inline void vm_stopper_request(const struct vm_stopper *s, enum vm_stop_reason r)
{
	if (s && s->request)
		s->request(s->ctx, r);
}

const char *vm_stop_reason_name(enum vm_stop_reason r);
int vm_stop_exit_status(enum vm_stop_reason r);

#endif
