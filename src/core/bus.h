/* bus.h - port-I/O and MMIO address ranges claimed by devices.
 *
 * Contract: devices claim [base, base+len) with a callback before the vCPUs
 * start; the bus refuses empty, overflowing or overlapping ranges. After
 * that the range table is read-only, so vCPU threads look it up without a
 * lock (binary search over a sorted array). An access nobody claims reads
 * as all-ones, is otherwise ignored and counted, never fatal; the first
 * BUS_UNCLAIMED_SLOTS distinct addresses so hit are also counted each (a
 * lock-free table: --stats names the ports and addresses a guest probes,
 * later ones only add to the total). Callbacks get the offset inside their
 * range and serialize their own state.
 */
#ifndef MVM_CORE_BUS_H
#define MVM_CORE_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* data holds len bytes (1, 2, 4 or 8): filled on a read, consumed on a write. */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data,
			  uint32_t len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

#define BUS_UNCLAIMED_SLOTS 24

/* One address nobody claims: key = address + 1 (0: a free slot). */
struct bus_unclaimed_slot {
	atomic_ullong key;
	atomic_ulong reads, writes;
};

struct bus {
	const char *name;           /* "pio" or "mmio", for messages */
	struct bus_range *ranges;   /* sorted by base, non-overlapping */
	int nr_ranges;
	int cap;
	atomic_ulong unclaimed;     /* accesses that hit no range */
	struct bus_unclaimed_slot unclaimed_at[BUS_UNCLAIMED_SLOTS];
};

void bus_init(struct bus *b, const char *name);
void bus_free(struct bus *b);

/* 0, -EINVAL (empty/overflow), -EEXIST (overlap) or -ENOMEM. */
int bus_add(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn,
	    void *opaque, const char *name);

/* The range holding addr, or NULL. */
const struct bus_range *bus_find(const struct bus *b, uint64_t addr);

/* Run the access; returns false (and fills reads with 0xff) when unclaimed. */
bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write);

/* The i-th address of the unclaimed table (0 <= i < BUS_UNCLAIMED_SLOTS):
 * false when the slot is free; else its address and read/write counts. */
bool bus_unclaimed_at(const struct bus *b, int i, uint64_t *addr, unsigned long *reads,
		      unsigned long *writes);

#endif
