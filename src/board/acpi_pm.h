/* acpi_pm.h - HW-reduced ACPI sleep control/status and reset registers.
 *
 * Contract: acpi_pm_init() then register acpi_pm_io for
 * [PORT_ACPI_SLEEP_CTL, +PORT_ACPI_PM_LEN) with the struct acpi_pm as
 * opaque; the FADT points SLEEP_CONTROL_REG, SLEEP_STATUS_REG and
 * RESET_REG at those three 1-byte ports (offsets 0, 1, 2).
 *
 * Behaviour: SLEEP_CTL with SLP_EN and SLP_TYP == ACPI_S5_SLP_TYP asks
 * for VM_STOP_POWEROFF. Other sleep types are logged and not entered: the
 * VM "wakes" at once (WAK_STS set), so a guest polling WAK_STS after
 * an S1/S3 attempt continues instead of spinning forever. SLEEP_STS is
 * write-1-to-clear and otherwise reads 0. RESET with ACPI_RESET_VALUE asks
 * for VM_STOP_RESET. Wider accesses act per byte on consecutive registers.
 *
 * State: SLEEP_STS. acpi_pm_restore() refuses bits other than WAK_STS
 * (the only one the device ever sets). Whether the sleep warning was
 * printed is this process's log, not guest state.
 */
#ifndef MVM_BOARD_ACPI_PM_H
#define MVM_BOARD_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/vmstop.h"

#define ACPI_PM_SLP_EN       0x20
#define ACPI_PM_SLP_TYP(v)   (((v) >> 2) & 0x7)
#define ACPI_PM_WAK_STS      0x80

/* Guest-visible state: plain data. */
struct acpi_pm_regs {
	uint8_t sleep_sts;
};

struct acpi_pm {
	struct acpi_pm_regs regs;
	pthread_mutex_t lock;
	struct vm_stopper stop;
	bool sleep_warned;      /* the unsupported-sleep message was printed */
};

#define ACPI_PM_STATE_VERSION 1

struct acpi_pm_state {
	struct acpi_pm_regs regs;
};

/* 0. */
int acpi_pm_save(struct acpi_pm *p, struct acpi_pm_state *s);
/* 0 or -EINVAL (logged, naming the field; p unchanged). */
int acpi_pm_restore(struct acpi_pm *p, const struct acpi_pm_state *s);

void acpi_pm_init(struct acpi_pm *p, struct vm_stopper stop);
void acpi_pm_destroy(struct acpi_pm *p);

/* bus_io_fn for the PORT_ACPI_PM_LEN-byte range; opaque is the struct acpi_pm. */
void acpi_pm_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		bool is_write);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind acpi_pm_kind;

#endif
