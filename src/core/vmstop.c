/* vmstop.c - names and exit statuses of the ways a VM ends. */
#include "core/vmstop.h"

const char *vm_stop_reason_name(enum vm_stop_reason r)
{
	switch (r) {
	case VM_STOP_NONE:           return "running";
	case VM_STOP_POWEROFF:       return "guest powered off";
	case VM_STOP_RESET:          return "guest rebooted";
	case VM_STOP_USER:           return "stopped by user";
	case VM_STOP_PANIC:          return "guest panicked";
	case VM_STOP_TRIPLE_FAULT:   return "guest triple fault";
	case VM_STOP_INTERNAL_ERROR: return "KVM internal error";
	case VM_STOP_HOST_ERROR:     return "host error";
	case VM_STOP_GUEST_EXIT:     return "guest exited with its own status (debug-exit port or exit hypercall)";
	case VM_STOP_MIGRATED:       return "migrated";
	}
	return "unknown";
}

int vm_stop_exit_status(enum vm_stop_reason r)
{
	switch (r) {
	case VM_STOP_NONE:
	case VM_STOP_POWEROFF:
	case VM_STOP_RESET:
	case VM_STOP_USER:
	case VM_STOP_MIGRATED:
		return MVM_EXIT_OK;
	case VM_STOP_PANIC:
		return MVM_EXIT_PANIC;
	case VM_STOP_TRIPLE_FAULT:
	case VM_STOP_INTERNAL_ERROR:
		return MVM_EXIT_CRASH;
	case VM_STOP_HOST_ERROR:
	case VM_STOP_GUEST_EXIT: /* the caller uses the guest's status instead */
		return MVM_EXIT_HOST;
	}
	return MVM_EXIT_HOST;
}
