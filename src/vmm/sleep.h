/* sleep.h - ACPI S3 sleep and wake of a VM whose board has the legacy PM1
 * blocks (a multiboot kernel: board/acpi_pm1.h).
 *
 * Life of a sleep: the guest writes SLP_EN with SLP_TYP 3 to PM1a_CNT; on
 * that vCPU's thread vm_sleep_request() marks the VM paused (so that vCPU
 * parks before it runs another guest instruction, as a CPU stops at the
 * write) and wakes vm_run's loop, which calls vm_sleep_service(): it
 * finishes the pause (every vCPU parked, devices quiesced) and computes
 * the wake time from the RTC alarm, if the guest enabled it (RTC_EN in
 * PM1_EN and AIE in register B). When that time comes, or when the user
 * resumes the VM (vm_resume(): the power button), the VM wakes: WAK_STS
 * (and RTC_STS for the alarm; no PWRBTN_STS, since the FADT has no
 * fixed-feature power button) in PM1_STS, IRQF|AF in RTC register C for
 * the alarm, every vCPU reset (core/cpu.h cpu_wake_reset: vCPU 0 in real
 * mode at the FACS's firmware waking vector), the PIC as a BIOS's resume
 * path programs it, and the VM resumed. RAM and devices keep their state.
 * A FACS waking vector of 0 means there is nothing to resume: the VM
 * reboots (VM_STOP_RESET), as a firmware boots afresh. A user's pause
 * while asleep holds the VM asleep (the alarm no longer wakes it; resume
 * does), and so does a pause under way when the guest asks to sleep. Snapshots and migrations of a sleeping VM are refused
 * (vm_sleep_is_asleep). A stop request ends a sleeping VM as any other.
 */
#ifndef MVM_VMM_SLEEP_H
#define MVM_VMM_SLEEP_H

#include <stdbool.h>

#include "vmm/sleep_state.h"
#include "vmm/vm.h"


void vm_sleep_init(struct vm_sleep *s);
void vm_sleep_destroy(struct vm_sleep *s);

/* The PM1 device's vm_stopper request_sleep (a vCPU thread). */
void vm_sleep_request(struct vm *vm, int state);
/* vm_run's thread, on every wake of its loop: enter the sleep, or wake on
 * the alarm. Returns how long its poll may wait (ms) before the next
 * call is due: -1 for no deadline. */
int vm_sleep_service(struct vm *vm);
/* vm_pause()'s first step, under sleep.lock so that a sleep request falls
 * wholly before it or wholly after it: a sleeping VM is held asleep until
 * a resume (0, or -errno when it could not be paused: the guest runs on);
 * otherwise the VM is marked paused and *settle says whether this call
 * marked it (the caller then runs vm_pause_settle) or it was paused
 * already. A sleep asked for while the VM is paused is held from the start:
 * the RTC alarm never resumes a VM under a pause that is not its own (a
 * snapshot, a migration, the debugger, the user). */
int vm_sleep_pause(struct vm *vm, bool *settle);
/* vm_resume(): wake a sleeping VM (the power button), or resume a paused
 * one (vm_unpause), under sleep.lock; a sleep that began under the pause
 * being ended sleeps on instead (the alarm wakes it). 0 or -errno. */
int vm_sleep_resume(struct vm *vm);
bool vm_sleep_is_asleep(struct vm *vm);

/* The above, for vm.c (struct vm.sleep_ops; the builder sets it). */
extern const struct vm_sleep_ops vm_sleep_ops;

#endif
