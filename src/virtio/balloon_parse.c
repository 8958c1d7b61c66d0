/* balloon_parse.c - what a balloon driver sends, checked: PFN lists into
 * runs of guest RAM given back, statistics reports into values. No device
 * state and no threads: the device and the fuzz target call these. */
#include "virtio/balloon.h"

#include <string.h>

#include "util/log.h"

size_t balloon_gather(const struct iovec *iov, unsigned n, void *buf, size_t cap)
{
	uint8_t *out = buf;
	size_t got = 0;

	for (unsigned i = 0; i < n && got < cap; i++) {
		size_t take = iov[i].iov_len < cap - got ? iov[i].iov_len : cap - got;

		memcpy(out + got, iov[i].iov_base, take);
		got += take;
	}
	return got;
}

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t balloon_pfn_runs(const struct gmem *m, const void *pfns, size_t n,
			struct balloon_run *runs, uint32_t *bad)
{
	const uint8_t *p = pfns;
	uint8_t *prev_end = NULL;   /* host address just past the last run */
	size_t nr = 0;

	for (size_t i = 0; i < n; i++) {
		/* A u32 PFN shifted into a u64 cannot overflow (< 2^44). */
		uint64_t gpa = (uint64_t)le32_at(p + 4 * i) << 12;
		uint8_t *host = gmem_ptr(m, gpa, GMEM_PAGE_SIZE);

		if (!host) {
			(*bad)++;
			continue;
		}
		/* Same region and the next page both in guest and host terms:
		 * the run stays one gmem_discard() range. */
		if (nr && host == prev_end && gpa == runs[nr - 1].gpa + runs[nr - 1].len) {
			runs[nr - 1].len += GMEM_PAGE_SIZE;
		} else {
			runs[nr].gpa = gpa;
			runs[nr].len = GMEM_PAGE_SIZE;
			nr++;
		}
		prev_end = host + GMEM_PAGE_SIZE;
	}
	return nr;
}

/* Firecracker's BalloonStats field names, by Linux's VIRTIO_BALLOON_S_* tag. */
static const char *const stat_names[VIRTIO_BALLOON_S_NR] = {
	"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory", "total_memory",
	"available_memory", "disk_caches", "hugetlb_allocations", "hugetlb_failures",
	"oom_kill", "alloc_stall", "async_scan", "direct_scan", "async_reclaim",
	"direct_reclaim",
};

const char *balloon_stat_name(unsigned t)
{
	return t < VIRTIO_BALLOON_S_NR ? stat_names[t] : NULL;
}

void balloon_stats_parse(const void *buf, size_t len, struct balloon_stats *s)
{
	const uint8_t *p = buf;
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i + VIRTIO_BALLOON_STAT_SIZE <= len; i += VIRTIO_BALLOON_STAT_SIZE) {
		unsigned tag = (unsigned)p[i] | (unsigned)p[i + 1] << 8;
		uint64_t v = (uint64_t)le32_at(p + i + 2) | (uint64_t)le32_at(p + i + 6) << 32;

		if (tag >= VIRTIO_BALLOON_S_NR) {
			s->unknown++;
			continue;
		}
		s->present |= 1u << tag;
		s->val[tag] = v;
	}
	s->partial = (uint32_t)(len - i);
}

void balloon_chain_pages(const struct gmem *m, const struct vq_chain *c, bool inflate,
			 uint8_t *pfn_buf, struct balloon_run *runs,
			 struct balloon_chain_result *r)
{
	size_t got = balloon_gather(c->iov, c->nr_out, pfn_buf, VIRTIO_BALLOON_PFN_MAX * 4);

	memset(r, 0, sizeof(*r));
	r->pfns = (uint32_t)(got / 4);
	r->ignored = (c->out_len - (uint32_t)got) / 4;
	r->runs = (uint32_t)balloon_pfn_runs(m, pfn_buf, r->pfns, runs, &r->bad);
	for (uint32_t i = 0; i < r->runs; i++) {
		int rc = inflate ? gmem_discard(m, runs[i].gpa, runs[i].len) : 0;

		if (rc) {
			r->discard_errors++;
			log_warn_rl("virtio-balloon: giving back %llu KiB at %#llx failed: %s",
				    (unsigned long long)(runs[i].len >> 10),
				    (unsigned long long)runs[i].gpa, strerror(-rc));
			continue;
		}
		/* The pages now read as zeros: a Diff snapshot or a migration
		 * round must send them again. */
		if (inflate)
			gmem_mark_dirty(m, runs[i].gpa, runs[i].len);
		r->pages += runs[i].len / GMEM_PAGE_SIZE;
	}
}

uint32_t balloon_chain_stats(const struct vq_chain *c, uint8_t *buf, struct balloon_stats *s)
{
	size_t got = balloon_gather(c->iov, c->nr_out, buf, VIRTIO_BALLOON_STATS_MAX_BYTES);

	balloon_stats_parse(buf, got, s);
	return c->out_len - (uint32_t)got;
}

void balloon_chain_report(const struct gmem *m, const struct vq_chain *c, uint64_t *pages,
			  uint32_t *errors)
{
	*pages = 0;
	*errors = 0;
	for (unsigned i = 0; i < (unsigned)c->nr_out + c->nr_in; i++) {
		uint64_t n = 0;

		if (gmem_discard_host(m, c->iov[i].iov_base, c->iov[i].iov_len, &n))
			(*errors)++;
		*pages += n;
	}
}
