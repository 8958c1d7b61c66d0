/* e820.h - the guest's physical memory map, shared by the bzImage and PVH loaders.
 *
 * Contract: e820_build() describes the RAM of a gmem as the guest must see
 * it: [0, LAYOUT_EBDA_START) RAM, [LAYOUT_EBDA_START, 0xa0000) reserved (the
 * EBDA), [LAYOUT_ACPI_START, LAYOUT_ACPI_END) reserved (the RSDP and ACPI
 * tables live there, so the guest must not reuse that RAM), then
 * [LAYOUT_HIMEM_START, end of region 0) RAM and region 1 (at 4 GiB) RAM when
 * present. 0xa0000-0xdffff (legacy VGA/ROM window) and the 32-bit MMIO hole
 * are left out: they are not RAM. Entries come sorted and never overlap.
 * The e820 type numbers are also the PVH hvm_memmap_table_entry types.
 */
#ifndef MVM_BOOT_E820_H
#define MVM_BOOT_E820_H

#include <stdint.h>

#include "core/memory.h"

#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2

/* Most entries e820_build() ever produces; callers size their arrays by it. */
#define E820_MAX_ENTRIES   8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fill out[0..max) with the map of m. Returns the entry count, or -ENOSPC
 * when max is too small, or -EINVAL when m has no RAM region at 0. */
int e820_build(const struct gmem *m, struct e820_entry *out, int max);

#endif
