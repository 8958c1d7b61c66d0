/* debug_exit.h - QEMU's isa-debug-exit port: a test guest ends mvm with a status.
 *
 * Contract: debug_exit_init() then register debug_exit_io for
 * [PORT_DEBUG_EXIT, +PORT_DEBUG_EXIT_LEN) with the struct debug_exit as
 * opaque. A write of value v at any width and offset (little-endian, as
 * written) asks the VM to end with process exit status ((v << 1) | 1) &
 * 0xff -- QEMU's rule, so kvm-unit-tests' exit codes mean the same under
 * mvm. The status is odd, so it never reads as a clean 0. Reads return 0.
 *
 * Present only when the config asks (vm_config.debug_exit, --debug-exit):
 * otherwise port 0xf4 is unclaimed and a guest cannot choose mvm's status.
 *
 * State: none. Every write acts at once and reads are constant, so there
 * is nothing to save or restore (no debug_exit_state exists on purpose).
 */
#ifndef MVM_BOARD_DEBUG_EXIT_H
#define MVM_BOARD_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/vmstop.h"

struct debug_exit {
	struct vm_stopper stop; /* no guest-visible state */
};

void debug_exit_init(struct debug_exit *d, struct vm_stopper stop);
void debug_exit_destroy(struct debug_exit *d);

/* bus_io_fn; opaque is the struct debug_exit. */
void debug_exit_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind debug_exit_kind;

#endif
