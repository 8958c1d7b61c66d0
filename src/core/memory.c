/* memory.c - guest RAM mapping and checked guest-physical access. */
#include "core/memory.h"
#include "core/layout.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int gmem_init(struct gmem *m, uint64_t ram_size)
{
	uint64_t low;
	void *p;

	memset(m, 0, sizeof(*m));
	if (ram_size < GMEM_MIN_SIZE || (ram_size & 0xfff))
		return err_usage(-EINVAL);
	/* NORESERVE: a guest's RAM is touched lazily; refusing a 4 GiB VM on a
	 * host with 3 GiB free would be wrong for a mostly idle guest. */
	/* Over-map and trim so the host address is 2 MiB aligned like the
	 * guest-physical one: then a host huge page can back a guest one. */
	p = mmap(NULL, ram_size + GMEM_ALIGN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return err_host(-errno);
	uintptr_t start = (uintptr_t)p, aligned = (start + GMEM_ALIGN - 1) & ~(GMEM_ALIGN - 1);

	if (aligned > start)
		munmap(p, aligned - start);
	if (aligned + ram_size < start + ram_size + GMEM_ALIGN)
		munmap((void *)(aligned + ram_size), start + ram_size + GMEM_ALIGN - (aligned + ram_size));
	m->base = (uint8_t *)aligned;
	m->ram_size = ram_size;
	/* A core dump of mvm must not carry the guest's memory (its keys, its
	 * users' data): keep RAM out of it even when --dumpable allows dumps. */
	if (madvise(m->base, ram_size, MADV_DONTDUMP) < 0)
		log_warn("guest RAM may appear in core dumps: madvise(MADV_DONTDUMP): %s",
			 strerror(errno));

	low = ram_size < LAYOUT_MMIO_HOLE_START ? ram_size : LAYOUT_MMIO_HOLE_START;
	m->regions[0] = (struct gmem_region){ .gpa = 0, .size = low, .host = m->base };
	m->nr_regions = 1;
	if (ram_size > low) {
		m->regions[1] = (struct gmem_region){
			.gpa = LAYOUT_HIGH_RAM_START, .size = ram_size - low, .host = m->base + low };
		m->nr_regions = 2;
	}
	return 0;
}

void gmem_free(struct gmem *m)
{
	free(m->dirty);
	if (m->base)
		munmap(m->base, m->ram_size);
	memset(m, 0, sizeof(*m));
}

void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->regions[i];

		/* Written so nothing can overflow: gpa - r->gpa only after gpa >= r->gpa. */
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = gmem_ptr(m, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src = gmem_ptr(m, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gmem_discard(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	void *host;

	if (len == 0 || (gpa | len) & (GMEM_PAGE_SIZE - 1))
		return -EINVAL;
	host = gmem_ptr(m, gpa, len);
	if (!host)
		return -EFAULT;
	if (madvise(host, len, MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

int gmem_discard_host(const struct gmem *m, const void *host, uint64_t len, uint64_t *pages)
{
	uintptr_t h = (uintptr_t)host;

	if (pages)
		*pages = 0;
	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->regions[i];
		uintptr_t start = (uintptr_t)r->host;
		uint64_t off, first, end;
		int rc;

		if (h < start || h - start >= r->size)
			continue;
		off = h - start;
		if (len > r->size - off)
			return -EFAULT;
		/* The whole pages inside [off, off + len): region starts are
		 * page aligned, so offsets and gpas agree on alignment. */
		first = (off + GMEM_PAGE_SIZE - 1) & ~(GMEM_PAGE_SIZE - 1);
		end = (off + len) & ~(GMEM_PAGE_SIZE - 1);
		if (end <= first)
			return 0;
		if ((rc = gmem_discard(m, r->gpa + first, end - first)))
			return rc;
		gmem_mark_dirty(m, r->gpa + first, end - first);
		if (pages)
			*pages = (end - first) / GMEM_PAGE_SIZE;
		return 0;
	}
	return -EFAULT;
}

void gmem_advise_filled(void *host, uint64_t len)
{
	uintptr_t start = ((uintptr_t)host + GMEM_ALIGN - 1) & ~(GMEM_ALIGN - 1);
	uintptr_t end = ((uintptr_t)host + len) & ~(GMEM_ALIGN - 1);

	if (end > start)
		madvise((void *)start, end - start, MADV_HUGEPAGE); /* advice only: ignore failure */
}

void gmem_zero_written(const struct gmem *m, const uint64_t *written, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++) {
		if (!written[p / 64]) {
			p |= 63;   /* a whole word of untouched pages */
			continue;
		}
		if (written[p / 64] & (1ull << (p % 64)))
			memset(m->base + p * GMEM_PAGE_SIZE, 0, GMEM_PAGE_SIZE);
	}
}

int gmem_pagemap_open(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* /proc/self/pagemap: one 64-bit entry per page of the address space
 * (Documentation/admin-guide/mm/pagemap.rst). */
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_BATCH   512   /* entries per pread: 4 KiB on the stack */

int gmem_untouched(const struct gmem *m, int pagemap_fd, uint64_t first, uint64_t n,
		   uint64_t *bits)
{
	uint64_t ent[PAGEMAP_BATCH];
	uint64_t pages = m->ram_size / GMEM_PAGE_SIZE;
	off_t at = (off_t)((uintptr_t)m->base / GMEM_PAGE_SIZE + first) * 8;

	if (m->file_mapped)
		return -ENOTSUP;
	if (n == 0 || first >= pages || n > pages - first)
		return -EINVAL;
	memset(bits, 0, (size_t)((n + 63) / 64) * sizeof(uint64_t));
	for (uint64_t done = 0; done < n;) {
		size_t want = n - done < PAGEMAP_BATCH ? (size_t)(n - done) : PAGEMAP_BATCH;
		ssize_t got = pread(pagemap_fd, ent, want * 8, at + (off_t)(done * 8));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got < 8)
			return -EIO;
		for (size_t i = 0; i < (size_t)got / 8; i++, done++)
			if (!(ent[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)))
				bits[done / 64] |= 1ull << (done % 64);
	}
	return 0;
}

uint64_t gmem_low_end(const struct gmem *m)
{
	return m->nr_regions ? m->regions[0].size : 0;
}

size_t gmem_dirty_words(const struct gmem *m)
{
	return (size_t)((m->ram_size / 4096 + 63) / 64);
}

int gmem_dirty_enable(struct gmem *m)
{
	if (m->dirty)
		return 0;
	m->dirty = calloc(gmem_dirty_words(m), sizeof(uint64_t));
	return m->dirty ? 0 : err_host(-ENOMEM);
}

void gmem_mark_dirty(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	if (!m->dirty)
		return;
	if (len == 0)
		len = 1;
	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->regions[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size || len > r->size - (gpa - r->gpa))
			continue;
		uint64_t off = (uint64_t)(r->host - m->base) + (gpa - r->gpa);
		uint64_t first = off / 4096, last = (off + len - 1) / 4096;

		for (uint64_t p = first; p <= last; p++)
			__atomic_fetch_or(&m->dirty[p / 64], 1ull << (p % 64), __ATOMIC_RELAXED);
		return;
	}
}

void gmem_dirty_take(struct gmem *m, uint64_t *out)
{
	if (!m->dirty)
		return;
	for (size_t i = 0; i < gmem_dirty_words(m); i++)
		out[i] |= __atomic_exchange_n(&m->dirty[i], 0, __ATOMIC_ACQ_REL);
}
