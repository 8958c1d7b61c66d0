/* pvpanic.h - QEMU's pvpanic ISA port: the guest reports a kernel panic.
 *
 * Contract: pvpanic_init() then register pvpanic_io for
 * [PORT_PVPANIC, +1) with the struct pvpanic as opaque. Reading returns
 * the events supported (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED); a write
 * with PVPANIC_PANICKED asks the VM to stop with VM_STOP_PANIC; a write
 * with PVPANIC_CRASH_LOADED (a kdump kernel will take over) is only logged,
 * so the guest can boot its crash kernel. Linux needs pvpanic in ACPI
 * (QEMU0001) or pvpanic.ioport= to find it.
 *
 * State: the events seen (so a restored guest repeating one is not logged
 * or acted on twice). pvpanic_restore() refuses unknown event bits.
 */
#ifndef MVM_BOARD_PVPANIC_H
#define MVM_BOARD_PVPANIC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/vmstop.h"

#define PVPANIC_PANICKED     0x01
#define PVPANIC_CRASH_LOADED 0x02
#define PVPANIC_SUPPORTED    (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

/* Guest-visible state: the events the guest has reported (sticky). */
struct pvpanic_regs {
	uint8_t events_seen;
};

struct pvpanic {
	struct pvpanic_regs regs; /* written with atomic OR: no lock needed */
	struct vm_stopper stop;
};

#define PVPANIC_STATE_VERSION 1

struct pvpanic_state {
	struct pvpanic_regs regs;
};

/* 0. */
int pvpanic_save(struct pvpanic *p, struct pvpanic_state *s);
/* 0 or -EINVAL (logged, naming the field; p unchanged). */
int pvpanic_restore(struct pvpanic *p, const struct pvpanic_state *s);

void pvpanic_init(struct pvpanic *p, struct vm_stopper stop);
/* Nothing to free today; present so every device has the same lifecycle. */
void pvpanic_destroy(struct pvpanic *p);

/* bus_io_fn for the 1-byte port; opaque is the struct pvpanic. */
void pvpanic_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		bool is_write);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind pvpanic_kind;

#endif
