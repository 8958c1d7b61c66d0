/* acpi_pm1.h - legacy ACPI fixed hardware: the PM1a event and control
 * blocks, the PM timer, and S3 sleep (for multiboot kernels).
 *
 * Why: mvm's ACPI is HW-reduced (board/acpi_pm.h) for Linux guests. A
 * multiboot kernel (kvm-unit-tests) instead finds a full FADT, as SeaBIOS
 * gives it under QEMU: a FACS with the firmware waking vector, PM1a event
 * and control blocks and a PM timer; its s3 test sleeps through PM1a_CNT
 * and wakes on the RTC alarm at the waking vector.
 *
 * Contract: acpi_pm1_init() then register acpi_pm1_io for
 * [PORT_ACPI_PM1_EVT, +PORT_ACPI_PM1_LEN) with the struct acpi_pm1 as
 * opaque. Offsets 0-1 PM1_STS (write 1 to clear), 2-3 PM1_EN, 4-5 PM1_CNT,
 * 8-11 PM_TMR (read-only); any other byte reads 0xff and ignores writes.
 * Accesses of any width act per byte.
 *
 * Behaviour: PM1_CNT reads SCI_EN (the FADT has no SMI command port, so
 * ACPI mode is always on) and the SLP_TYP last written; SLP_EN reads 0. A
 * write with SLP_EN and SLP_TYP ACPI_S5_SLP_TYP powers off
 * (VM_STOP_POWEROFF); with ACPI_S3_SLP_TYP it clears WAK_STS and asks the
 * VM to sleep (vm_stopper_request_sleep); any other type is logged once
 * and "wakes" at once (WAK_STS set). acpi_pm1_wake() is how the VM's
 * sleep code (vmm/sleep.c) reports the wake: WAK_STS plus the source's
 * status bit. The PM timer counts at 3.579545 MHz, 24 bits, from
 * CLOCK_MONOTONIC (TMR_VAL_EXT clear); TMR_STS is set when its bit 23
 * changed since the guest's last access of the block; no SCI is ever
 * raised (PM1_EN is kept for the wake decision, not for interrupts).
 *
 * State: PM1_STS, PM1_EN and SLP_TYP. acpi_pm1_restore() refuses status
 * or enable bits the device does not implement and a SLP_TYP above 7.
 */
#ifndef MVM_BOARD_ACPI_PM1_H
#define MVM_BOARD_ACPI_PM1_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/vmstop.h"

#define ACPI_PM1_TMR_STS   0x0001
#define ACPI_PM1_PWRBTN    0x0100
#define ACPI_PM1_RTC       0x0400  /* RTC_STS / RTC_EN */
#define ACPI_PM1_WAK_STS   0x8000
#define ACPI_PM1_SCI_EN    0x0001
#define ACPI_PM1_SLP_TYP(v) (((v) >> 10) & 0x7)
#define ACPI_PM1_SLP_EN    0x2000
#define ACPI_PM_TIMER_HZ   3579545ull

/* Guest-visible state: plain data. */
struct acpi_pm1_regs {
	uint16_t sts;
	uint16_t en;
	uint16_t slp_typ;          /* the SLP_TYP last written, 0-7 */
	uint16_t pad;              /* always 0 */
};

struct acpi_pm1 {
	struct acpi_pm1_regs regs;
	pthread_mutex_t lock;
	struct vm_stopper stop;
	uint64_t (*now_ns)(void);  /* CLOCK_MONOTONIC by default (tests set it) */
	bool sleep_warned;         /* the unsupported-sleep message was printed */
	bool tmr_seen;             /* tmr_epoch holds a sample (not saved: a restored
				    * VM's first access samples afresh) */
	uint64_t tmr_epoch;        /* the PM timer's ticks >> 23 at the last access */
};

#define ACPI_PM1_STATE_VERSION 1

struct acpi_pm1_state {
	struct acpi_pm1_regs regs;
};

void acpi_pm1_init(struct acpi_pm1 *p, struct vm_stopper stop);
void acpi_pm1_destroy(struct acpi_pm1 *p);

/* bus_io_fn for the PORT_ACPI_PM1_LEN ports; opaque is the struct acpi_pm1. */
void acpi_pm1_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* Whether the guest enabled a wake source (an ACPI_PM1_* enable bit). */
bool acpi_pm1_enabled(struct acpi_pm1 *p, uint16_t en_bit);
/* The VM woke from sleep: WAK_STS | sts_bits (e.g. ACPI_PM1_RTC). */
void acpi_pm1_wake(struct acpi_pm1 *p, uint16_t sts_bits);

/* 0. */
int acpi_pm1_save(struct acpi_pm1 *p, struct acpi_pm1_state *s);
/* 0 or -EINVAL (logged, naming the field; p unchanged). */
int acpi_pm1_restore(struct acpi_pm1 *p, const struct acpi_pm1_state *s);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind acpi_pm1_kind;

#endif
