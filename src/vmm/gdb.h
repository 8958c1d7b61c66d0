/* gdb.h - the gdb stub on a built VM (--gdb, --gdb-wait): the KVM side of gdb/.
 *
 * Contract: vm_gdb_start() listens on addr and starts the stub's thread,
 * after vm_create() and before the seccomp filter of the main thread and
 * vm_run(); with wait, the vCPUs park before their first instruction until
 * the client continues. It installs the vCPUs' KVM_EXIT_DEBUG hook: the
 * vCPU records why it stopped, wakes the stub and waits for the pause the
 * stub then makes (vm_pause: every vCPU stops when one does). Registers are
 * read and written, and KVM_SET_GUEST_DEBUG set, on each vCPU's own thread
 * (vm_vcpus_call); guest RAM through gmem. vm_gdb_stop() (after vm_run)
 * tells the client the exit status and frees everything. 0 or -errno,
 * with a message naming --gdb and mvm's exit status in *exit_status: 2
 * when the address is the user's to fix (malformed, or its bind refused:
 * the port taken, an address not this host's), 1 for the host's failures.
 */
#ifndef MVM_VMM_GDB_H
#define MVM_VMM_GDB_H

#include <stdbool.h>

struct vm;

int vm_gdb_start(struct vm *vm, const char *addr, bool wait, int *exit_status);
void vm_gdb_stop(struct vm *vm, int exit_status);

#endif
