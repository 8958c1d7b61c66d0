/* bus.c - sorted, non-overlapping address ranges with binary-search dispatch. */
#include "core/bus.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
}

void bus_free(struct bus *b)
{
	free(b->ranges);
	b->ranges = NULL;
	b->nr_ranges = b->cap = 0;
}

int bus_add(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn,
	    void *opaque, const char *name)
{
	int pos;

	if (len == 0 || !fn || base + len < base)
		return -EINVAL;
	/* First range that starts after base; the one before it must end by base. */
	for (pos = 0; pos < b->nr_ranges && b->ranges[pos].base <= base; pos++)
		;
	if (pos > 0) {
		const struct bus_range *prev = &b->ranges[pos - 1];

		if (prev->base + prev->len > base) {
			log_err("%s bus: %s [%#llx+%#llx) overlaps %s", b->name, name,
				(unsigned long long)base, (unsigned long long)len, prev->name);
			return -EEXIST;
		}
	}
	if (pos < b->nr_ranges && base + len > b->ranges[pos].base) {
		log_err("%s bus: %s [%#llx+%#llx) overlaps %s", b->name, name,
			(unsigned long long)base, (unsigned long long)len, b->ranges[pos].name);
		return -EEXIST;
	}
	if (b->nr_ranges == b->cap) {
		int cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->ranges, cap * sizeof(*r));

		if (!r)
			return err_host(-ENOMEM);
		b->ranges = r;
		b->cap = cap;
	}
	memmove(&b->ranges[pos + 1], &b->ranges[pos],
		(b->nr_ranges - pos) * sizeof(*b->ranges));
	b->ranges[pos] = (struct bus_range){ base, len, fn, opaque, name };
	b->nr_ranges++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr)
{
	int lo = 0, hi = b->nr_ranges - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->ranges[mid];

		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* Count an unclaimed access against its address: find its slot or take a
 * free one (compare-and-swap, so two vCPUs never take one slot for two
 * addresses); a full table counts only in the total. */
static void bus_note_unclaimed(struct bus *b, uint64_t addr, bool is_write)
{
	unsigned long long key = (unsigned long long)addr + 1;

	if (!key)
		return; /* addr UINT64_MAX: cannot be keyed, counted in the total only */
	for (int i = 0; i < BUS_UNCLAIMED_SLOTS; i++) {
		struct bus_unclaimed_slot *s = &b->unclaimed_at[i];
		unsigned long long cur = atomic_load(&s->key);

		if (!cur) {
			unsigned long long zero = 0;

			if (atomic_compare_exchange_strong(&s->key, &zero, key))
				cur = key;
			else
				cur = zero; /* another vCPU took it: which address? */
		}
		if (cur == key) {
			atomic_fetch_add(is_write ? &s->writes : &s->reads, 1);
			return;
		}
	}
}

bool bus_unclaimed_at(const struct bus *b, int i, uint64_t *addr, unsigned long *reads,
		      unsigned long *writes)
{
	unsigned long long key;

	if (i < 0 || i >= BUS_UNCLAIMED_SLOTS)
		return false;
	key = atomic_load(&b->unclaimed_at[i].key);
	if (!key)
		return false;
	*addr = key - 1;
	*reads = atomic_load(&b->unclaimed_at[i].reads);
	*writes = atomic_load(&b->unclaimed_at[i].writes);
	return true;
}

bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write)
{
	const struct bus_range *r = bus_find(b, addr);

	/* An access that starts in a range but runs past its end is unclaimed:
	 * a device never sees bytes beyond what it registered. */
	if (!r || len > r->len - (addr - r->base)) {
		unsigned long n = atomic_fetch_add(&b->unclaimed, 1) + 1;

		bus_note_unclaimed(b, addr, is_write);

		if (!is_write)
			memset(data, 0xff, len);
		if (log_get_level() >= LOG_DEBUG && (n < 64 || (n & (n - 1)) == 0))
			log_debug("%s: unclaimed %s of %u bytes at %#llx (%lu so far)",
				  b->name, is_write ? "write" : "read", len,
				  (unsigned long long)addr, n);
		return false;
	}
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	return true;
}
