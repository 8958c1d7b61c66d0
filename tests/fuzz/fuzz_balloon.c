/* fuzz_balloon.c - libFuzzer target for the virtio-balloon queues: the
 * chains a hostile driver posts on inflateq, deflateq and statsq, popped by
 * the real walk and handled by the device's own per-chain code
 * (balloon_chain_pages, balloon_chain_stats in src/virtio/balloon_parse.c).
 *
 * Input: one byte (bit 0: the chains are statistics, else PFN lists; bit 1:
 * deflate instead of inflate; bit 2, over the others: free page reports), then a virtqueue as fuzz_common.h lays it
 * out (its payload holds the PFN arrays and statistics). Checked, for
 * every chain, against what balloon.h promises:
 *  - PFNs read = min(readable bytes, VIRTIO_BALLOON_PFN_MAX * 4) / 4, and
 *    the rest of the readable bytes are counted as ignored PFNs;
 *  - every run is page aligned, non-empty, inside guest RAM; runs + bad
 *    never exceed the PFNs read, and the pages of the runs plus bad equal
 *    them; a run is never followed by one that continues it;
 *  - inflate: every run was given back (gmem_discard() never fails on
 *    RAM) and reads as zeros; deflate: guest RAM is unchanged;
 *  - free page reports: every segment is accepted (vq_pop gives RAM), at
 *    most its whole pages are counted, and those pages read as zeros;
 *  - statistics: only known tags are present, unknown + entries =
 *    readable bytes / 10 up to the bound, partial = the rest modulo 10;
 *    guest RAM is unchanged.
 * Guest RAM is 1 MiB between guard pages, so a PFN check that let one
 * page past RAM through faults at once.
 *
 * Run: build/fuzz/fuzz_balloon tests/fuzz/corpus/balloon
 */
#include <errno.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "virtio/balloon.h"

static struct fz_vq v;
static struct vq_chain chain;
static uint8_t pfn_buf[VIRTIO_BALLOON_PFN_MAX * 4];
static struct balloon_run runs[VIRTIO_BALLOON_PFN_MAX];
static uint8_t stats_buf[VIRTIO_BALLOON_STATS_MAX_BYTES];
static uint8_t before[FZ_VQ_RAM];

static void check_pages(bool inflate)
{
	struct balloon_chain_result r;
	uint64_t pages = 0;
	uint32_t want = chain.out_len < sizeof(pfn_buf) ? chain.out_len : (uint32_t)sizeof(pfn_buf);

	balloon_chain_pages(&v.m, &chain, inflate, pfn_buf, runs, &r);
	FZ_CHECK(r.pfns == want / 4);
	FZ_CHECK(r.ignored == (chain.out_len - want) / 4);
	FZ_CHECK(r.runs + r.bad <= r.pfns);
	FZ_CHECK(r.discard_errors == 0);
	for (uint32_t i = 0; i < r.runs; i++) {
		const uint8_t *p;

		FZ_CHECK(runs[i].len && !(runs[i].gpa % FZ_PAGE) && !(runs[i].len % FZ_PAGE));
		p = gmem_ptr(&v.m, runs[i].gpa, runs[i].len);
		FZ_CHECK(p && fz_in_ram(&v.m, p, runs[i].len));
		FZ_CHECK(i == 0 || runs[i].gpa != runs[i - 1].gpa + runs[i - 1].len);
		pages += runs[i].len / FZ_PAGE;
	}
	FZ_CHECK(pages + r.bad == r.pfns);
	if (inflate) {
		FZ_CHECK(r.pages == pages);
		/* Later runs may repeat a page an earlier one gave back and the
		 * guest RAM is not written in between: all still zero. */
		for (uint32_t i = 0; i < r.runs; i++) {
			const uint8_t *p = gmem_ptr(&v.m, runs[i].gpa, runs[i].len);

			for (uint64_t k = 0; k < runs[i].len; k += 509)
				FZ_CHECK(p[k] == 0);
		}
	} else {
		FZ_CHECK(r.pages == pages);
	}
}

static void check_stats(void)
{
	struct balloon_stats s;
	uint32_t want = chain.out_len < sizeof(stats_buf) ? chain.out_len
							  : (uint32_t)sizeof(stats_buf);
	uint32_t past, known = 0;

	past = balloon_chain_stats(&chain, stats_buf, &s);
	FZ_CHECK(past == chain.out_len - want);
	FZ_CHECK((s.present >> VIRTIO_BALLOON_S_NR) == 0);
	for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
		known += (s.present >> t) & 1;
	FZ_CHECK(s.partial == want % VIRTIO_BALLOON_STAT_SIZE);
	FZ_CHECK(known + s.unknown <= want / VIRTIO_BALLOON_STAT_SIZE);
}

static void check_report(void)
{
	uint64_t pages, most = 0;
	uint32_t errors;

	balloon_chain_report(&v.m, &chain, &pages, &errors);
	FZ_CHECK(errors == 0);
	for (unsigned i = 0; i < (unsigned)chain.nr_out + chain.nr_in; i++) {
		uintptr_t a = (uintptr_t)chain.iov[i].iov_base, e = a + chain.iov[i].iov_len;
		uintptr_t first = (a + FZ_PAGE - 1) & ~(uintptr_t)(FZ_PAGE - 1);
		uintptr_t end = e & ~(uintptr_t)(FZ_PAGE - 1);

		if (end > first) {
			most += (end - first) / FZ_PAGE;
			for (uintptr_t p = first; p < end; p += 509)
				FZ_CHECK(*(const uint8_t *)p == 0);
		}
	}
	FZ_CHECK(pages == most);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	uint8_t mode;

	if (!v.m.base) {
		fz_logs_off();
		fz_gmem_init(&v.m, FZ_VQ_RAM);
	}
	mode = fz_u8(&in);
	fz_vq_build(&v, &in);
	FZ_CHECK(v.ok);
	/* Deflate and statistics write nothing to guest RAM; the walk writes
	 * only the used ring, which nothing here pushes to. */
	if ((mode & 3) && !(mode & 4))
		memcpy(before, v.m.base, FZ_VQ_RAM);
	for (int k = 0; k < v.size; k++) {
		if (vq_pop(&v.q, &chain) != 1)
			break;
		if (mode & 4)
			check_report();
		else if (mode & 1)
			check_stats();
		else
			check_pages(!(mode & 2));
	}
	if ((mode & 3) && !(mode & 4))
		FZ_CHECK(memcmp(before, v.m.base, FZ_VQ_RAM) == 0);
	/* Inflated pages may be the rings themselves: start the next input
	 * from a clean RAM. Written over, not dropped (fz_gmem_zero): the
	 * pages stay mapped, so the next input's copy of RAM takes no page
	 * faults (they were two thirds of this target's time). */
	vq_disable(&v.q);
	memset(v.m.base, 0, FZ_VQ_RAM);
	return 0;
}
