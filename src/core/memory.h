/* memory.h - guest RAM and the one checked door to it.
 *
 * Contract: guest RAM is one anonymous host mapping, presented to the guest
 * as up to two regions: [0, min(ram, MMIO hole)) and, when RAM reaches the
 * 32-bit MMIO hole, the rest at 4 GiB. gmem_ptr() is the only function that
 * turns a guest-physical address into a host pointer: it returns NULL unless
 * all of [gpa, gpa+len) lies inside one region, with overflow checked.
 * Nothing else in mvm does arithmetic on guest addresses. The mapping is
 * MADV_DONTDUMP: guest RAM never lands in a core dump of mvm. Needs no KVM,
 * so unit tests build a gmem directly.
 *
 * Anonymous or not: gmem_init() maps anonymous memory, where a page the
 * process never populated reads as zeros. A snapshot's restore maps its
 * memory file MAP_PRIVATE over the RAM (snap_mem_map); there a page not yet
 * faulted in reads the file's data. Whoever maps a file over guest RAM sets
 * file_mapped first, and it stays set for the life of the gmem: the mapping
 * is then not treated as anonymous anywhere (gmem_untouched() refuses).
 */
#ifndef MVM_CORE_MEMORY_H
#define MVM_CORE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 2
#define GMEM_MIN_SIZE    (16ULL << 20)
#define GMEM_ALIGN       (2ULL << 20) /* host mapping aligned like a huge page */

struct gmem_region {
	uint64_t gpa;   /* guest-physical start */
	uint64_t size;  /* bytes */
	uint8_t *host;  /* host address of gpa */
};

struct gmem {
	uint64_t ram_size;                 /* total bytes of RAM */
	uint8_t *base;                     /* the one host mapping */
	struct gmem_region regions[GMEM_MAX_REGIONS];
	int nr_regions;
	/* Pages mvm's own threads wrote (virtio buffers, used rings): KVM's
	 * dirty log sees only the vCPUs' writes. One bit per 4 KiB page of the
	 * host mapping (bit i: base + i * 4 KiB); NULL when not tracking. */
	uint64_t *dirty;
	/* Part of the mapping is a file's (see the contract above): "never
	 * populated" no longer means "reads as zeros". */
	bool file_mapped;
};

/* Map ram_size bytes (a multiple of 4 KiB, >= GMEM_MIN_SIZE). 0 or -errno. */
int gmem_init(struct gmem *m, uint64_t ram_size);
void gmem_free(struct gmem *m);

/* Host pointer to [gpa, gpa+len) or NULL when any byte is not RAM. len 0 is
 * treated as 1 so a pointer is never returned for an address outside RAM. */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

/* Copy in/out of guest RAM; -EFAULT when the range is not all RAM. */
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, uint64_t len);
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, uint64_t len);

/* [host, host+len) of guest RAM is about to be written whole (a kernel or
 * initrd): back its 2 MiB-aligned interior with huge pages. Fewer page
 * faults at start-up, and no RSS that the copy would not touch anyway;
 * the rest of guest RAM follows the host's THP policy. */
void gmem_advise_filled(void *host, uint64_t len);

/* Dirty tracking of mvm's own writes (Diff snapshots). gmem_dirty_enable()
 * allocates the bitmap (0 or -ENOMEM); gmem_mark_dirty() is called by any
 * thread before or as it writes [gpa, gpa+len) (a range gmem_ptr() took;
 * anything else is ignored), lock-free; gmem_dirty_take() ORs the marks
 * into out (one bit per page of the mapping, gmem_dirty_words() words) and
 * clears them. */
int gmem_dirty_enable(struct gmem *m);
void gmem_mark_dirty(const struct gmem *m, uint64_t gpa, uint64_t len);
size_t gmem_dirty_words(const struct gmem *m);
void gmem_dirty_take(struct gmem *m, uint64_t *out);

/* Give [gpa, gpa+len) back to the host (a balloon's inflated pages):
 * madvise(MADV_DONTNEED), so the pages leave mvm's RSS and read as zeros
 * (as the memory file's contents after a restore, whose mapping is
 * private) when the guest touches them again. gpa and len must be 4 KiB
 * aligned and the whole range inside one RAM region, checked as
 * gmem_ptr() does. 0, -EINVAL (unaligned or len 0), -EFAULT (not all RAM)
 * or the -errno of madvise. */
#define GMEM_PAGE_SIZE 4096ULL
int gmem_discard(const struct gmem *m, uint64_t gpa, uint64_t len);
/* The same for a host range a device got from gmem_ptr() (a virtqueue
 * buffer): only its whole 4 KiB pages are given back; *pages (may be NULL)
 * gets how many. 0 (also when no whole page is in it), -EFAULT when the
 * range is not all guest RAM, or the -errno of madvise. */
int gmem_discard_host(const struct gmem *m, const void *host, uint64_t len, uint64_t *pages);

/* Make pages [first, first+n) of the mapping (page indexes from m->base)
 * read as zeros, for a migration's destination filling fresh RAM: a page
 * whose bit in written is clear was never touched and already reads zero
 * (anonymous memory), so it is left alone: not faulted in, and a huge page
 * around it is not split as MADV_DONTNEED would (a guest whose RAM ends up
 * in 4 KiB host pages runs slower: every TLB miss walks deeper). A page
 * whose bit is set is cleared with memset. The caller bounds the range. */
void gmem_zero_written(const struct gmem *m, const uint64_t *written, uint64_t first, uint64_t n);

/* Which pages of guest RAM were never populated, for a migration's first
 * pass: it sends them as zeros without reading them (a read would fault in
 * the shared zero page, and copying and checking them costs as much as a
 * page of data). gmem_pagemap_open() opens /proc/self/pagemap: the fd or
 * -errno (no /proc in a jail; -EACCES for a user that is not root once
 * harden_process() made mvm non-dumpable: the file becomes root's). The
 * caller keeps and closes it. gmem_untouched() reads the entries of pages
 * [first, first+n) of the mapping (page indexes from m->base; the host's
 * pages are 4 KiB, as on x86) and sets bit i of bits (n bits, (n+63)/64
 * words, all written) when page first+i is neither present nor swapped
 * out: the kernel never gave it memory, or MADV_DONTNEED took it back
 * (gmem_discard), so it reads as zeros. A page in the shared zero page (read
 * but never written) is present, so not reported. 0; -ENOTSUP when
 * m->file_mapped; -EINVAL for a range outside RAM or n == 0; -errno of
 * pread, -EIO for a short read. What it says is true when the kernel
 * answered: a write a moment later changes it, so the caller must see
 * later writes some other way (a migration: the dirty log, turned on
 * before it asks). */
int gmem_pagemap_open(void);
int gmem_untouched(const struct gmem *m, int pagemap_fd, uint64_t first, uint64_t n,
		   uint64_t *bits);

/* End (exclusive) of the RAM region below 4 GiB. */
uint64_t gmem_low_end(const struct gmem *m);

#endif
