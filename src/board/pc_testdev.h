/* pc_testdev.h - QEMU's pc-testdev: the ports and RAM-like MMIO kvm-unit-tests drive.
 *
 * Contract: pc_testdev_init() then register, with the struct pc_testdev as
 * opaque, pc_testdev_latch_io on [PORT_TESTDEV_LATCH, +4), pc_testdev_flush_io
 * on [PORT_TESTDEV_FLUSH, +4), pc_testdev_irq_io on [PORT_TESTDEV_IRQ, +24)
 * and pc_testdev_iomem_io on the MMIO range [LAYOUT_TESTDEV_IOMEM, +64 KiB):
 *  - latch (0xe0): a 32-bit register; an access of n bytes at offset o
 *    reads or writes bytes o..o+n-1 of it (little-endian).
 *  - flush (0xe4): a 4-byte write of a guest-physical address takes the
 *    4 KiB page holding it away from the guest's mappings and back
 *    (mprotect PROT_NONE, then read-write, as QEMU does), so KVM drops its
 *    translation and the next guest access faults it in again. An address
 *    that is not RAM, or another width, is ignored.
 *  - IRQ lines (0x2000 + n, n < 24): a write of v sets IOAPIC/PIC input
 *    n to level v != 0 (KVM_IRQ_LINE); a wider write is bytewise, as in
 *    QEMU: byte i sets line n + i.
 *  - iomem (0xff000000): 64 KiB that reads back what was written, at any
 *    width, through MMIO exits (kvm-unit-tests' emulator test runs
 *    instructions on it to exercise KVM's instruction emulator).
 * Reads of the flush and IRQ ports return 0.
 *
 * A test device: only with --pc-testdev (vm_config.pc_testdev), never by
 * default. The flush briefly unmaps a page of guest RAM, so mvm refuses
 * --pc-testdev beside a virtio device (whose worker could touch that page
 * in the window); another vCPU touching it then gets KVM_RUN -EFAULT.
 *
 * State: the latch and the 64 KiB iomem (struct pc_testdev_state), which a
 * guest fills with anything; the IRQ lines' levels are the irqchip's (the
 * VM's "kvm" section) and the flush keeps nothing. A snapshot or migration of
 * a VM with --pc-testdev carries them, and its destination needs
 * --pc-testdev too (vmm/config_match.h).
 */
#ifndef MVM_BOARD_PC_TESTDEV_H
#define MVM_BOARD_PC_TESTDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/irq.h"
#include "core/memory.h"

#define PC_TESTDEV_IOMEM_LEN 0x10000
#define PC_TESTDEV_NR_IRQS   24

struct pc_testdev {
	pthread_mutex_t lock;
	uint32_t latch;                      /* under lock */
	uint8_t iomem[PC_TESTDEV_IOMEM_LEN]; /* under lock */
	const struct gmem *mem;
	struct irq_line lines[PC_TESTDEV_NR_IRQS];
	uint64_t flushes;                    /* pages flushed (under lock) */
};

#define PC_TESTDEV_STATE_VERSION 1

/* Guest-visible state: plain data, no hidden padding. */
struct pc_testdev_state {
	uint32_t latch;
	uint32_t pad;                        /* always 0 */
	uint8_t iomem[PC_TESTDEV_IOMEM_LEN];
};

void pc_testdev_init(struct pc_testdev *t, const struct gmem *mem,
		     const struct irq_line lines[PC_TESTDEV_NR_IRQS]);
void pc_testdev_destroy(struct pc_testdev *t);

/* bus_io_fns; opaque is the struct pc_testdev. */
void pc_testdev_latch_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void pc_testdev_flush_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void pc_testdev_irq_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void pc_testdev_iomem_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* With the VM paused. 0. */
int pc_testdev_save(struct pc_testdev *t, struct pc_testdev_state *s);
/* 0, or -EINVAL (logged naming the field; t unchanged) for a non-zero pad:
 * the latch and iomem hold whatever the guest wrote, any value is its own. */
int pc_testdev_restore(struct pc_testdev *t, const struct pc_testdev_state *s);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind pc_testdev_kind;

#endif
