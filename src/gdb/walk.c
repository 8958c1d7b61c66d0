/* walk.c - the x86 page-table walk for a debugger: 32-bit, PAE, 4- and 5-level paging. */
#include "gdb/walk.h"

#include <errno.h>

#define CR0_PG    (1ull << 31)
#define CR4_PSE   (1ull << 4)
#define CR4_PAE   (1ull << 5)
#define CR4_LA57  (1ull << 12)
#define EFER_LMA  (1ull << 10)
#define PTE_P     1ull
#define PTE_PS    (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull   /* bits 12..51 of a PAE/long-mode entry */

static int read_entry(gdb_read_phys_fn rd, void *ctx, uint64_t gpa, unsigned size, uint64_t *e)
{
	uint32_t e32;

	if (size == 4) {
		if (rd(ctx, gpa, &e32, 4))
			return -EFAULT;
		*e = e32;
		return 0;
	}
	return rd(ctx, gpa, e, 8) ? -EFAULT : 0;
}

static void done(uint64_t base, uint64_t page_size, uint64_t va, uint64_t *pa, uint64_t *room)
{
	uint64_t off = va & (page_size - 1);

	*pa = base + off;
	*room = page_size - off;
}

/* PAE and long mode: 8-byte entries, 9 bits per level, large pages at the PDPT (1 GiB,
 * long mode only) and the PD (2 MiB). levels counts from the top table down to the PT. */
static int walk_64(uint64_t table, int levels, uint64_t va, gdb_read_phys_fn rd, void *ctx,
		   uint64_t *pa, uint64_t *room)
{
	for (int level = levels; level >= 1; level--) {
		unsigned shift = 12 + 9 * (unsigned)(level - 1);
		uint64_t e;

		if (read_entry(rd, ctx, table + ((va >> shift) & 511) * 8, 8, &e) || !(e & PTE_P))
			return -EFAULT;
		if (level == 1 || ((level == 2 || (level == 3 && levels >= 4)) && (e & PTE_PS))) {
			uint64_t size = 1ull << shift;

			done(e & ADDR_MASK & ~(size - 1), size, va, pa, room);
			return 0;
		}
		table = e & ADDR_MASK;
	}
	return -EFAULT;
}

static int walk_pae(const struct gdb_paging *pg, uint64_t va, gdb_read_phys_fn rd, void *ctx,
		    uint64_t *pa, uint64_t *room)
{
	uint64_t pdpte;

	va &= 0xffffffffull;
	if (read_entry(rd, ctx, (pg->cr3 & 0xffffffe0ull) + (va >> 30) * 8, 8, &pdpte) ||
	    !(pdpte & PTE_P))
		return -EFAULT;
	return walk_64(pdpte & ADDR_MASK, 2, va, rd, ctx, pa, room);
}

static int walk_32(const struct gdb_paging *pg, uint64_t va, gdb_read_phys_fn rd, void *ctx,
		   uint64_t *pa, uint64_t *room)
{
	uint64_t pde, pte;

	va &= 0xffffffffull;
	if (read_entry(rd, ctx, (pg->cr3 & 0xfffff000ull) + (va >> 22) * 4, 4, &pde) ||
	    !(pde & PTE_P))
		return -EFAULT;
	if ((pg->cr4 & CR4_PSE) && (pde & PTE_PS)) {
		/* PSE-36: bits 13..20 of the entry are bits 32..39 of the page. */
		uint64_t base = (pde & 0xffc00000ull) | ((pde & 0x1fe000ull) << 19);

		done(base, 1ull << 22, va, pa, room);
		return 0;
	}
	if (read_entry(rd, ctx, (pde & 0xfffff000ull) + ((va >> 12) & 1023) * 4, 4, &pte) ||
	    !(pte & PTE_P))
		return -EFAULT;
	done(pte & 0xfffff000ull, 4096, va, pa, room);
	return 0;
}

int gdb_walk(const struct gdb_paging *pg, uint64_t va, gdb_read_phys_fn read_phys, void *ctx,
	     uint64_t *pa, uint64_t *room)
{
	if (!(pg->cr0 & CR0_PG)) {
		done(va & ~0xfffull, 4096, va, pa, room);
		return 0;
	}
	if (pg->efer & EFER_LMA) {
		int levels = pg->cr4 & CR4_LA57 ? 5 : 4;
		unsigned bits = levels == 5 ? 57 : 48;
		/* Canonical: bits 63..bits-1 all equal. */
		int64_t top = (int64_t)va >> (bits - 1);

		if (top != 0 && top != -1)
			return -EFAULT;
		return walk_64(pg->cr3 & ADDR_MASK, levels, va, read_phys, ctx, pa, room);
	}
	if (pg->cr4 & CR4_PAE)
		return walk_pae(pg, va, read_phys, ctx, pa, room);
	return walk_32(pg, va, read_phys, ctx, pa, room);
}
