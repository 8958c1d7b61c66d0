/* test_balloon.c - virtio-balloon: PFN checks and runs, gmem_discard(), the
 * statistics parser, and the device through the mmio transport with a fake
 * driver (bogus PFNs, oversized chains, statistics, target, state). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio_fake_driver.h"

/* ---- balloon_pfn_runs ---- */

static size_t runs_of(const struct gmem *m, const void *pfns, size_t n,
		      struct balloon_run *runs, uint32_t *bad)
{
	*bad = 0;
	return balloon_pfn_runs(m, pfns, n, runs, bad);
}

static void test_pfn_runs_one_region(void **state)
{
	struct gmem m;
	/* 16 MiB: PFNs 0 .. 0xfff are RAM. */
	const uint32_t pfns[] = { 0x10, 0x11, 0x12, 0x20, 0x1000, 0xffffffff, 0xfff, 0x13 };
	struct balloon_run runs[8];
	uint32_t bad;
	size_t n;

	assert_int_equal(gmem_init(&m, 16ULL << 20), 0);
	n = runs_of(&m, pfns, 8, runs, &bad);
	assert_int_equal(bad, 2);       /* 0x1000 is one past RAM; 0xffffffff far past */
	assert_int_equal(n, 4);
	assert_int_equal(runs[0].gpa, 0x10000);
	assert_int_equal(runs[0].len, 3 * 4096);
	assert_int_equal(runs[1].gpa, 0x20000);
	assert_int_equal(runs[1].len, 4096);
	assert_int_equal(runs[2].gpa, 0xfff000);   /* the last page is RAM */
	assert_int_equal(runs[2].len, 4096);
	/* 0x13 follows 0x12, but not the run before it: a run of its own. */
	assert_int_equal(runs[3].gpa, 0x13000);
	gmem_free(&m);
}

/* The MMIO hole between 3 GiB and 4 GiB is never RAM; the page before it
 * and the first page above 4 GiB are, and are not one run. */
static void test_pfn_runs_hole(void **state)
{
	struct gmem m;
	uint32_t hole = (uint32_t)(LAYOUT_MMIO_HOLE_START >> 12);
	uint32_t high = (uint32_t)(LAYOUT_HIGH_RAM_START >> 12);
	/* 3 GiB + 8 MiB: 8 MiB above 4 GiB (2048 pages). */
	const uint32_t pfns[] = { hole - 1, hole, hole + 100, high - 1, high, high + 2047,
				  high + 2048 };
	struct balloon_run runs[8];
	uint32_t bad;
	size_t n;

	assert_int_equal(gmem_init(&m, LAYOUT_MMIO_HOLE_START + (8ULL << 20)), 0);
	assert_int_equal(m.nr_regions, 2);
	n = runs_of(&m, pfns, 7, runs, &bad);
	assert_int_equal(bad, 4);       /* hole, hole + 100, high - 1 (in the hole), past the end */
	assert_int_equal(n, 3);
	assert_int_equal(runs[0].gpa, LAYOUT_MMIO_HOLE_START - 4096);
	assert_int_equal(runs[1].gpa, LAYOUT_HIGH_RAM_START);
	assert_int_equal(runs[1].len, 4096);
	assert_int_equal(runs[2].gpa, LAYOUT_HIGH_RAM_START + 2047 * 4096ULL);
	gmem_free(&m);
}

/* Unaligned PFN bytes (as gathered from a chain) are read little-endian. */
static void test_pfn_runs_unaligned(void **state)
{
	struct gmem m;
	uint8_t buf[1 + 8] = { 0, 0x05, 0, 0, 0, 0x06, 0, 0, 0 };
	struct balloon_run runs[2];
	uint32_t bad;

	assert_int_equal(gmem_init(&m, 16ULL << 20), 0);
	assert_int_equal(runs_of(&m, buf + 1, 2, runs, &bad), 1);
	assert_int_equal(bad, 0);
	assert_int_equal(runs[0].gpa, 0x5000);
	assert_int_equal(runs[0].len, 2 * 4096);
	gmem_free(&m);
}

/* ---- gmem_discard ---- */

static void test_discard(void **state)
{
	struct gmem m;
	uint8_t *p;

	assert_int_equal(gmem_init(&m, LAYOUT_MMIO_HOLE_START + (8ULL << 20)), 0);
	p = gmem_ptr(&m, 0x10000, 3 * 4096);
	memset(p, 0xaa, 3 * 4096);
	assert_int_equal(gmem_discard(&m, 0x11000, 4096), 0);
	assert_int_equal(p[4096], 0);          /* given back: reads zero */
	assert_int_equal(p[2 * 4096 - 1], 0);
	assert_int_equal(p[4095], 0xaa);       /* neighbours kept */
	assert_int_equal(p[2 * 4096], 0xaa);
	assert_int_equal(gmem_discard(&m, 0x11001, 4096), -EINVAL);
	assert_int_equal(gmem_discard(&m, 0x11000, 100), -EINVAL);
	assert_int_equal(gmem_discard(&m, 0x11000, 0), -EINVAL);
	assert_int_equal(gmem_discard(&m, LAYOUT_MMIO_HOLE_START, 4096), -EFAULT);
	assert_int_equal(gmem_discard(&m, LAYOUT_MMIO_HOLE_START - 4096, 8192), -EFAULT);
	assert_int_equal(gmem_discard(&m, LAYOUT_HIGH_RAM_START + (8ULL << 20), 4096), -EFAULT);
	assert_int_equal(gmem_discard(&m, ~0ULL & ~4095ULL, 4096), -EFAULT);
	assert_int_equal(gmem_discard(&m, LAYOUT_HIGH_RAM_START, 8ULL << 20), 0);
	gmem_free(&m);
}

static void test_discard_host(void **state)
{
	struct gmem m;
	uint8_t *p;
	uint64_t pages = 99;

	assert_int_equal(gmem_init(&m, LAYOUT_MMIO_HOLE_START + (8ULL << 20)), 0);
	p = gmem_ptr(&m, 0x10000, 4 * 4096);
	memset(p, 0xaa, 4 * 4096);
	/* Only the whole pages inside: [0x10800, 0x13800) gives back 0x11000..0x13000. */
	assert_int_equal(gmem_discard_host(&m, p + 0x800, 3 * 4096, &pages), 0);
	assert_int_equal(pages, 2);
	assert_int_equal(p[0x7ff], 0xaa);
	assert_int_equal(p[0x800], 0xaa);
	assert_int_equal(p[0xfff], 0xaa);
	assert_int_equal(p[0x1000], 0);
	assert_int_equal(p[0x2fff], 0);
	assert_int_equal(p[0x3000], 0xaa);
	assert_int_equal(gmem_discard_host(&m, p + 0x800, 100, &pages), 0);   /* no whole page */
	assert_int_equal(pages, 0);
	assert_int_equal(gmem_discard_host(&m, &pages, 4096, &pages), -EFAULT);  /* not RAM */
	p = gmem_ptr(&m, LAYOUT_MMIO_HOLE_START - 4096, 4096);
	assert_int_equal(gmem_discard_host(&m, p, 8192, NULL), -EFAULT);   /* runs past region 0 */
	p = gmem_ptr(&m, LAYOUT_HIGH_RAM_START, 4096);
	assert_int_equal(gmem_discard_host(&m, p, 8ULL << 20, &pages), 0);
	assert_int_equal(pages, 2048);
	gmem_free(&m);
}

/* ---- statistics ---- */

static size_t put_stat(uint8_t *p, uint16_t tag, uint64_t v)
{
	p[0] = (uint8_t)tag;
	p[1] = (uint8_t)(tag >> 8);
	for (int i = 0; i < 8; i++)
		p[2 + i] = (uint8_t)(v >> (8 * i));
	return VIRTIO_BALLOON_STAT_SIZE;
}

static void test_stats_parse(void **state)
{
	uint8_t buf[128];
	struct balloon_stats s;
	size_t n = 0;

	n += put_stat(buf + n, 4, 1);                       /* free_memory, overwritten below */
	n += put_stat(buf + n, 5, 0x123456789abcdefULL);    /* total_memory */
	n += put_stat(buf + n, 99, 7);                      /* unknown */
	n += put_stat(buf + n, 0xffff, 7);                  /* unknown */
	n += put_stat(buf + n, 4, 4096);
	n += put_stat(buf + n, 15, 3);                      /* direct_reclaim: the last known */
	n += put_stat(buf + n, 16, 3);                      /* one past: unknown */
	buf[n++] = 1;                                       /* a partial entry */
	buf[n++] = 2;
	balloon_stats_parse(buf, n, &s);
	assert_int_equal(s.present, (1u << 4) | (1u << 5) | (1u << 15));
	assert_int_equal(s.val[4], 4096);
	assert_int_equal(s.val[5], 0x123456789abcdefULL);
	assert_int_equal(s.val[15], 3);
	assert_int_equal(s.unknown, 3);
	assert_int_equal(s.partial, 2);
	balloon_stats_parse(buf, 0, &s);
	assert_int_equal(s.present, 0);
	assert_int_equal(s.partial, 0);
	balloon_stats_parse(buf, 9, &s);
	assert_int_equal(s.present, 0);
	assert_int_equal(s.partial, 9);
	assert_string_equal(balloon_stat_name(4), "free_memory");
	assert_string_equal(balloon_stat_name(6), "available_memory");
	assert_string_equal(balloon_stat_name(15), "direct_reclaim");
	assert_null(balloon_stat_name(16));
}

static void test_gather(void **state)
{
	uint8_t a[3] = { 1, 2, 3 }, b[2] = { 4, 5 }, c[4] = { 6, 7, 8, 9 }, out[8];
	struct iovec iov[3] = { { a, 3 }, { b, 2 }, { c, 4 } };

	memset(out, 0, sizeof(out));
	assert_int_equal(balloon_gather(iov, 3, out, 6), 6);
	assert_memory_equal(out, ((uint8_t[]){ 1, 2, 3, 4, 5, 6, 0, 0 }), 8);
	assert_int_equal(balloon_gather(iov, 3, out, 8), 8);
	assert_int_equal(balloon_gather(iov, 0, out, 8), 0);
}

/* ---- the device ---- */

#define PFN_AREA  0x400000ULL      /* PFN arrays for the tests */
#define PAGE_AREA 0x800000ULL      /* pages the tests inflate */

struct rig {
	struct fake_driver f;
	struct virtio_balloon *d;
	struct virtio_balloon_cfg cfg;
};

/* base: a second device in one test takes the next window (the bus keeps
 * the first one's range). */
static void rig_attach(struct rig *r, uint64_t base)
{
	assert_int_equal(virtio_balloon_create(&r->d, &r->cfg, &r->f.mem), 0);
	assert_int_equal(virtio_balloon_attach(r->d, &r->f.env, base, 5), 0);
	r->f.t = virtio_balloon_transport(r->d);
}

static int rig_up_cfg2(void **state, uint16_t interval, bool report)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(fd_setup(&r->f), 0);
	r->cfg = (struct virtio_balloon_cfg){ .amount_mib = 0, .deflate_on_oom = true,
					      .stats_polling_interval_s = interval,
					      .free_page_reporting = report };
	rig_attach(r, FD_MMIO_BASE);
	*state = r;
	return 0;
}

static int rig_up_cfg(void **state, uint16_t interval)
{
	return rig_up_cfg2(state, interval, false);
}

static int rig_up_report(void **state)
{
	return rig_up_cfg2(state, 0, true);
}

static int rig_up_stats_report(void **state)
{
	return rig_up_cfg2(state, 3600, true);
}

static int rig_up(void **state)
{
	return rig_up_cfg(state, 0);
}

static int rig_up_stats(void **state)
{
	/* An hour: the timer never fires in a test; interval changes do. */
	return rig_up_cfg(state, 3600);
}

static int rig_down(void **state)
{
	struct rig *r = *state;

	virtio_balloon_destroy(r->d);
	fd_teardown(&r->f);
	free(r);
	return 0;
}

static uint64_t features_offered(struct fake_driver *f)
{
	uint64_t lo, hi;

	fd_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = fd_rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	fd_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = fd_rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	return lo | hi << 32;
}

static void test_identity(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint64_t feat = features_offered(f);

	assert_int_equal(fd_rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
	assert_true(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_false(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ));
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BALLOON_QUEUE_MAX);
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);    /* no statistics: no statsq */
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}

static void test_identity_stats(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;

	assert_true(features_offered(f) & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ));
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BALLOON_QUEUE_MAX);
}

/* Free page reporting: reportingq comes after statsq when there is one (as
 * Linux numbers the queues it uses); each reported buffer's whole pages go
 * back to the host. */
static void report_one(struct rig *r, int qi, uint64_t features)
{
	struct fake_driver *f = &r->f;
	uint8_t *p = fd_host(f, PAGE_AREA, 4 * 4096);
	struct fd_seg seg = { PAGE_AREA + 0x800, 3 * 4096, true };
	struct virtio_balloon_info i;

	assert_true(features_offered(f) & VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING));
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, (uint32_t)qi);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BALLOON_QUEUE_MAX);
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, (uint32_t)qi + 1);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(fd_init(f, qi + 1, 64, features | VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	memset(p, 0xaa, 4 * 4096);
	fd_add_chain(f, qi, &seg, 1);
	fd_notify(f, qi);
	assert_true(fd_wait_used(f, qi, 1, 2000));
	assert_int_equal(p[0xfff], 0xaa);
	assert_int_equal(p[0x1000], 0);
	assert_int_equal(p[0x2fff], 0);
	assert_int_equal(p[0x3000], 0xaa);
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.reported_pages, 2);
	assert_int_equal(i.inflated_pages, 0);
}

static void test_report(void **state)
{
	report_one(*state, 2, 0);
}

static void test_report_after_stats(void **state)
{
	report_one(*state, 3, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ));
}

static uint32_t *pfn_array(struct fake_driver *f, size_t n)
{
	return fd_host(f, PFN_AREA, n * 4);
}

/* Good pages go back (read zero), bogus PFNs are counted and skipped, the
 * chain comes back, the device keeps working. */
static void test_inflate(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint8_t *pages = fd_host(f, PAGE_AREA, 4 * 4096);
	uint32_t *pfns = pfn_array(f, 8);
	struct virtio_balloon_info i;
	struct fd_seg seg = { PFN_AREA, 8 * 4, false };

	assert_int_equal(fd_init(f, 2, 64, VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	memset(pages, 0xaa, 4 * 4096);
	for (int k = 0; k < 4; k++)
		pfns[k] = (uint32_t)(PAGE_AREA >> 12) + (uint32_t)k;
	pfns[4] = 0xffffffff;                                   /* far past RAM */
	pfns[5] = (uint32_t)(FD_MEM_SIZE >> 12);                /* one past RAM */
	pfns[6] = (uint32_t)(LAYOUT_MMIO_HOLE_START >> 12);     /* the hole */
	pfns[7] = (uint32_t)(FD_MMIO_BASE >> 12);               /* a device window */
	fd_add_chain(f, VIRTIO_BALLOON_INFLATEQ, &seg, 1);
	fd_notify(f, VIRTIO_BALLOON_INFLATEQ);
	assert_true(fd_wait_used(f, VIRTIO_BALLOON_INFLATEQ, 1, 2000));
	assert_int_equal(fd_used_elem(f, VIRTIO_BALLOON_INFLATEQ, 0).len, 0);
	for (int k = 0; k < 4 * 4096; k += 512)
		assert_int_equal(pages[k], 0);
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.inflated_pages, 4);
	assert_int_equal(i.bad_pfns, 4);
	assert_false(fd_rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);

	/* Deflate: the chain comes back, nothing else happens. */
	fd_add_chain(f, VIRTIO_BALLOON_DEFLATEQ, &seg, 1);
	fd_notify(f, VIRTIO_BALLOON_DEFLATEQ);
	assert_true(fd_wait_used(f, VIRTIO_BALLOON_DEFLATEQ, 1, 2000));
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.deflated_pages, 4);
}

/* A PFN split across two descriptors, and a chain far longer than the
 * per-chain bound: read up to the bound, the rest counted, chain returned. */
static void test_inflate_split_and_huge(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint8_t *raw = fd_host(f, PFN_AREA, 8);
	uint32_t pfn = (uint32_t)(PAGE_AREA >> 12);
	uint32_t n_huge = VIRTIO_BALLOON_PFN_MAX * 4;
	uint32_t *huge = fd_host(f, PFN_AREA + 0x1000, n_huge * 4);
	struct fd_seg split[2] = { { PFN_AREA, 3, false }, { PFN_AREA + 3, 1, false } };
	struct fd_seg big = { PFN_AREA + 0x1000, n_huge * 4, false };
	struct virtio_balloon_info i;

	assert_int_equal(fd_init(f, 2, 64, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	memcpy(raw, &pfn, 4);
	memset(fd_host(f, PAGE_AREA, 4096), 0x55, 4096);
	fd_add_chain(f, VIRTIO_BALLOON_INFLATEQ, split, 2);
	fd_notify(f, VIRTIO_BALLOON_INFLATEQ);
	assert_true(fd_wait_used(f, VIRTIO_BALLOON_INFLATEQ, 1, 2000));
	assert_int_equal(*(uint8_t *)fd_host(f, PAGE_AREA, 1), 0);

	for (uint32_t k = 0; k < n_huge; k++)
		huge[k] = pfn;          /* the same page again and again */
	fd_add_chain(f, VIRTIO_BALLOON_INFLATEQ, &big, 1);
	fd_notify(f, VIRTIO_BALLOON_INFLATEQ);
	assert_true(fd_wait_used(f, VIRTIO_BALLOON_INFLATEQ, 2, 5000));
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.ignored_pfns, n_huge - VIRTIO_BALLOON_PFN_MAX);
	assert_int_equal(i.inflated_pages, 1 + VIRTIO_BALLOON_PFN_MAX);
}

static uint32_t cfg_rd(struct fake_driver *f, uint32_t off)
{
	return fd_rd(f, VIRTIO_MMIO_CONFIG + off);
}

static void test_target_and_actual(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct virtio_balloon_info i;
	uint32_t gen;
	uint8_t b = 0x12;

	assert_int_equal(virtio_balloon_set_target(r->d, 2), 0);   /* before the driver */
	assert_false(fd_irq_raised(f));
	assert_int_equal(fd_init(f, 2, 64, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(cfg_rd(f, 0), 2 * 256);
	(void)fd_irq_raised(f);
	gen = fd_rd(f, VIRTIO_MMIO_CONFIG_GENERATION);
	assert_int_equal(virtio_balloon_set_target(r->d, 16), 0);  /* all of RAM */
	assert_int_equal(cfg_rd(f, 0), 16 * 256);
	assert_true(fd_irq_raised(f));
	assert_true(fd_rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_not_equal(fd_rd(f, VIRTIO_MMIO_CONFIG_GENERATION), gen);
	assert_int_equal(virtio_balloon_set_target(r->d, 17), -EINVAL);
	assert_int_equal(virtio_balloon_set_target(r->d, UINT32_MAX), -EINVAL);
	assert_int_equal(cfg_rd(f, 0), 16 * 256);

	/* The driver writes actual; its writes to num_pages are ignored. */
	fd_wr(f, VIRTIO_MMIO_CONFIG + 4, 300);
	fd_wr(f, VIRTIO_MMIO_CONFIG + 0, 7);
	virtio_mmio_io(f->t, VIRTIO_MMIO_CONFIG + 5, &b, 1, true);   /* a byte of actual */
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.target_pages, 16 * 256);
	assert_int_equal(i.actual_pages, 0x122c);                    /* 300 = 0x12c, byte 1 = 0x12 */
	assert_int_equal(cfg_rd(f, 4), 0x122c);
	/* A reset forgets the driver's actual, not the host's target. */
	fd_wr(f, VIRTIO_MMIO_STATUS, 0);
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.actual_pages, 0);
	assert_int_equal(i.target_pages, 16 * 256);
}

static size_t stats_report(struct fake_driver *f, uint64_t gpa, uint64_t free_bytes)
{
	uint8_t *p = fd_host(f, gpa, 64);
	size_t n = 0;

	n += put_stat(p + n, 4, free_bytes);
	n += put_stat(p + n, 5, 16ULL << 20);
	n += put_stat(p + n, 1234, 1);
	return n;
}

static void test_stats(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct virtio_balloon_info i;
	struct fd_seg seg = { PFN_AREA, 0, false };

	seg.len = (uint32_t)stats_report(f, PFN_AREA, 1000 * 4096);
	/* Linux posts its first report before DRIVER_OK. */
	assert_int_equal(fd_init(f, 3, 64, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	fd_add_chain(f, VIRTIO_BALLOON_STATSQ, &seg, 1);
	fd_notify(f, VIRTIO_BALLOON_STATSQ);
	for (int k = 0; k < 2000; k++) {
		virtio_balloon_info(r->d, &i);
		if (i.stats_valid)
			break;
		usleep(1000);
	}
	assert_true(i.stats_valid);
	assert_int_equal(i.stats.present, (1u << 4) | (1u << 5));
	assert_int_equal(i.stats.val[4], 1000 * 4096);
	assert_int_equal(i.stats.unknown, 1);
	assert_int_equal(fd_used_idx(f, VIRTIO_BALLOON_STATSQ), 0);  /* held */

	/* An interval change asks for statistics at once: the buffer comes back. */
	assert_int_equal(virtio_balloon_set_stats_interval(r->d, 0), -EPERM);
	assert_int_equal(virtio_balloon_set_stats_interval(r->d, 1800), 0);
	assert_true(fd_wait_used(f, VIRTIO_BALLOON_STATSQ, 1, 2000));
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.stats_polling_interval_s, 1800);

	/* The driver reposts; a second buffer returns the held one at once. */
	stats_report(f, PFN_AREA, 5);
	fd_add_chain(f, VIRTIO_BALLOON_STATSQ, &seg, 1);
	fd_add_chain(f, VIRTIO_BALLOON_STATSQ, &seg, 1);
	fd_notify(f, VIRTIO_BALLOON_STATSQ);
	assert_true(fd_wait_used(f, VIRTIO_BALLOON_STATSQ, 2, 2000));
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.stats.val[4], 5);
	assert_int_equal(fd_used_idx(f, VIRTIO_BALLOON_STATSQ), 2);
}

static void test_stats_off(void **state)
{
	struct rig *r = *state;

	assert_int_equal(virtio_balloon_set_stats_interval(r->d, 5), -EPERM);
	assert_int_equal(virtio_balloon_set_stats_interval(r->d, 0), 0);
}

static void test_create_refuses_too_big(void **state)
{
	struct gmem m;
	struct virtio_balloon *d = (void *)1;
	struct virtio_balloon_cfg c = { .amount_mib = 17 };

	assert_int_equal(gmem_init(&m, 16ULL << 20), 0);
	assert_int_not_equal(virtio_balloon_create(&d, &c, &m), 0);
	assert_null(d);
	gmem_free(&m);
}

/* Save with a held statistics buffer, restore into a new device: target,
 * actual and interval come back, and the buffer is taken again (an
 * interval change returns it). Bad states are refused. */
static void test_state_roundtrip(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct virtio_balloon_state s, bad;
	struct virtio_balloon_info i;
	struct fd_seg seg = { PFN_AREA, 0, false };

	seg.len = (uint32_t)stats_report(f, PFN_AREA, 77);
	assert_int_equal(fd_init(f, 3, 64, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	fd_add_chain(f, VIRTIO_BALLOON_STATSQ, &seg, 1);
	fd_notify(f, VIRTIO_BALLOON_STATSQ);
	for (int k = 0; k < 2000; k++) {
		virtio_balloon_info(r->d, &i);
		if (i.stats_valid)
			break;
		usleep(1000);
	}
	assert_true(i.stats_valid);
	assert_int_equal(virtio_balloon_set_target(r->d, 3), 0);
	fd_wr(f, VIRTIO_MMIO_CONFIG + 4, 42);
	assert_int_equal(virtio_balloon_save(r->d, &s), 0);
	assert_int_equal(s.num_pages, 3 * 256);
	assert_int_equal(s.actual, 42);
	assert_int_equal(s.stats_polling_interval_s, 3600);
	assert_int_equal(s.transport.vq[VIRTIO_BALLOON_STATSQ].last_avail, 0);  /* not taken */

	virtio_balloon_destroy(r->d);
	rig_attach(r, FD_MMIO_BASE + 0x1000);
	bad = s;
	bad.pad[0] = 1;
	assert_int_equal(virtio_balloon_restore(r->d, &bad), -EINVAL);
	bad = s;
	bad.num_pages = 17 * 256;
	assert_int_equal(virtio_balloon_restore(r->d, &bad), -EINVAL);
	bad = s;
	bad.stats_polling_interval_s = 0;
	assert_int_equal(virtio_balloon_restore(r->d, &bad), -EINVAL);
	assert_int_equal(virtio_balloon_restore(r->d, &s), 0);
	virtio_balloon_info(r->d, &i);
	assert_int_equal(i.target_pages, 3 * 256);
	assert_int_equal(i.actual_pages, 42);
	assert_true(i.stats_valid);
	assert_int_equal(i.stats.val[4], 77);
	assert_int_equal(virtio_balloon_set_stats_interval(r->d, 10), 0);
	assert_true(fd_wait_used(f, VIRTIO_BALLOON_STATSQ, 1, 2000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pfn_runs_one_region),
		cmocka_unit_test(test_pfn_runs_hole),
		cmocka_unit_test(test_pfn_runs_unaligned),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_discard_host),
		cmocka_unit_test(test_stats_parse),
		cmocka_unit_test(test_gather),
		cmocka_unit_test(test_create_refuses_too_big),
		cmocka_unit_test_setup_teardown(test_identity, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_identity_stats, rig_up_stats, rig_down),
		cmocka_unit_test_setup_teardown(test_inflate, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_inflate_split_and_huge, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_target_and_actual, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_stats, rig_up_stats, rig_down),
		cmocka_unit_test_setup_teardown(test_stats_off, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_state_roundtrip, rig_up_stats, rig_down),
		cmocka_unit_test_setup_teardown(test_report, rig_up_report, rig_down),
		cmocka_unit_test_setup_teardown(test_report_after_stats, rig_up_stats_report, rig_down),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
