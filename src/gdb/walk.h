/* walk.h - guest-virtual to guest-physical translation by walking the guest's own page tables.
 *
 * Contract: gdb_walk() translates one linear address the way the CPU would
 * for the given CR0/CR3/CR4/EFER: paging off (the address is physical),
 * 32-bit paging (4 MiB pages with CR4.PSE, PSE-36 high bits), PAE, and
 * 4-level or 5-level (CR4.LA57) long mode with 1 GiB and 2 MiB pages. Every
 * table entry is read through the caller's read_phys, which must refuse an
 * address that is not guest RAM; a non-present entry, a non-canonical
 * address or a failed read is -EFAULT. Access rights are not checked: a
 * debugger reads what the kernel could. *room gets the bytes left in the
 * page (or large page) from the address on, so a caller crossing pages
 * walks again. Pure: no KVM, no state.
 */
#ifndef MVM_GDB_WALK_H
#define MVM_GDB_WALK_H

#include <stddef.h>
#include <stdint.h>

struct gdb_paging {
	uint64_t cr0, cr3, cr4, efer;
};

typedef int (*gdb_read_phys_fn)(void *ctx, uint64_t gpa, void *buf, size_t len);

int gdb_walk(const struct gdb_paging *pg, uint64_t va, gdb_read_phys_fn read_phys, void *ctx,
	     uint64_t *pa, uint64_t *room);

#endif
