/* fw_cfg.h - QEMU's firmware configuration device, legacy port interface (x86).
 *
 * Contract: fw_cfg_init() fills the items from the machine (vCPUs, RAM);
 * register fw_cfg_io for [PORT_FW_CFG, +PORT_FW_CFG_LEN) with the struct
 * fw_cfg as opaque. The protocol (QEMU's docs/specs/fw_cfg.rst, x86 I/O
 * ports):
 *  - a 2-byte write to the selector port 0x510 (little-endian) selects an
 *    item and sets the data offset to 0. Bit 14 (write mode) is ignored
 *    in the lookup, as QEMU does; bit 15 (architecture-specific items) is
 *    part of the key, and mvm has none. A key naming no item selects
 *    nothing: its reads return 0.
 *  - each 1-byte read of the data port 0x511 returns the next byte of the
 *    item and advances the offset; past the end of the item it returns 0
 *    (the offset stops there: reading forever never wraps).
 *  - everything else is ignored and reads 0: writes to the data port (QEMU
 *    ignores them since 2.4), 1-byte writes to the selector (QEMU treats
 *    them as data writes), 2-byte reads, and reads of the selector. An
 *    access wider than the 2 ports never reaches the device (the bus
 *    refuses it: reads all-ones).
 * Items: SIGNATURE "QEMU", ID 1 (the traditional interface only: no DMA at
 * 0x514), RAM_SIZE (u64, the whole of guest RAM), NB_CPUS and MAX_CPUS
 * (u16, both the VM's vCPU count), FILE_DIR (an empty directory: a count of
 * 0, big-endian). kvm-unit-tests reads NB_CPUS at start (its vCPU count)
 * and RAM_SIZE in a few tests.
 *
 * Present only when the VM boots a multiboot kernel (vm_config.fw_cfg, set
 * by the builder): kvm-unit-tests' kernels are multiboot, and a Linux
 * guest on mvm's board has no use for it.
 *
 * State: the selected key and the data offset (struct fw_cfg_state); the
 * items are the machine's, rebuilt from the config on restore. Accesses
 * from several vCPUs are serialized by a lock.
 */
#ifndef MVM_BOARD_FW_CFG_H
#define MVM_BOARD_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FW_CFG_SIGNATURE  0x0000
#define FW_CFG_ID         0x0001
#define FW_CFG_RAM_SIZE   0x0003
#define FW_CFG_NB_CPUS    0x0005
#define FW_CFG_MAX_CPUS   0x000f
#define FW_CFG_FILE_DIR   0x0019
#define FW_CFG_INVALID    0xffff   /* no item selected */

#define FW_CFG_ID_TRADITIONAL 0x1  /* ID bit 0: the port interface; bit 1 (DMA) clear */

#define FW_CFG_NR_ITEMS   6
#define FW_CFG_ITEM_MAX   8        /* the longest item, in bytes */

struct fw_cfg_item {
	uint16_t key;
	uint8_t len;
	uint8_t data[FW_CFG_ITEM_MAX];
};

/* Guest-visible state. */
struct fw_cfg_regs {
	uint16_t key;      /* selected key, FW_CFG_INVALID for none */
	uint16_t pad;      /* always 0 */
	uint32_t offset;   /* next byte of the item the data port returns */
};

struct fw_cfg {
	struct fw_cfg_item items[FW_CFG_NR_ITEMS];
	pthread_mutex_t lock;
	struct fw_cfg_regs regs;   /* under lock */
	uint64_t ignored;          /* accesses the protocol ignores (under lock) */
};

#define FW_CFG_STATE_VERSION 1

struct fw_cfg_state {
	struct fw_cfg_regs regs;
};

void fw_cfg_init(struct fw_cfg *f, int nr_cpus, uint64_t ram_size);
void fw_cfg_destroy(struct fw_cfg *f);

/* bus_io_fn; opaque is the struct fw_cfg. */
void fw_cfg_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

void fw_cfg_save(struct fw_cfg *f, struct fw_cfg_state *s);
/* -EINVAL (logged; f unchanged) when the offset is past the end of the
 * selected item (a key naming no item must have offset 0), the key names no
 * item, or pad is not zero. */
int fw_cfg_restore(struct fw_cfg *f, const struct fw_cfg_state *s);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind fw_cfg_kind;

#endif
