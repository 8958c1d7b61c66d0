/* fuzz_vq.c - libFuzzer target for the split virtqueue walk (src/virtio/queue.c).
 *
 * The fuzzer's bytes are the descriptor table, the avail ring and a payload
 * area (indirect tables) in a guarded guest RAM (fuzz_common.h has the
 * layout). Every avail entry is popped and compared with a walk written
 * apart from queue.c from the rules in queue.h: the same result (chain or
 * -EIO), the same head, the same segments (guest address, length,
 * direction) in order, and every iovec inside guest RAM. After an -EIO the
 * queue stays broken. Each chain is pushed back; used->idx and the used
 * element must say what was pushed, and vq_needs_interrupt() must follow
 * NO_INTERRUPT / used_event as the spec says.
 *
 * Run: build/fuzz/fuzz_vq tests/fuzz/corpus/vq   (tests/fuzz/run.sh runs all targets)
 */
#include <errno.h>
#include <stdint.h>

#include "fuzz_common.h"

static struct fz_vq v;
static struct vq_chain chain;
static struct fz_expect want;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	volatile struct virtq_used *used;
	uint16_t pops;
	bool broken = false;

	if (!v.m.base) {
		fz_logs_off();
		fz_gmem_init(&v.m, FZ_VQ_RAM);
	}
	fz_vq_build(&v, &in);
	FZ_CHECK(v.ok);
	used = (volatile struct virtq_used *)(v.m.base + FZ_VQ_USED);

	/* Pop everything published, then once more: the ring must read empty. */
	pops = v.published <= v.size ? v.published : 1;
	for (uint16_t k = 0; k <= pops; k++) {
		int r = vq_pop(&v.q, &chain);

		if (broken) {
			FZ_CHECK(r == -EIO && v.q.broken);
			break;
		}
		if (k == pops) {
			FZ_CHECK(r == 0 && !vq_has_avail(&v.q));
			break;
		}
		fz_ref_pop(&v, k, &want);
		FZ_CHECK(r == want.ret);
		if (r < 0) {
			FZ_CHECK(v.q.broken && !vq_has_avail(&v.q));
			broken = true;
			continue;
		}
		fz_check_chain(&v, &want, &chain);

		/* Give it back: used->idx moves by one, the element is ours. */
		uint16_t before = used->idx;
		uint32_t len = chain.in_len;
		bool intr;

		vq_push(&v.q, chain.head, len);
		FZ_CHECK(used->idx == (uint16_t)(before + 1));
		FZ_CHECK(used->ring[before & (v.size - 1)].id == chain.head &&
			 used->ring[before & (v.size - 1)].len == len);
		intr = vq_needs_interrupt(&v.q);
		if (!(v.flags & FZ_VQ_F_EVENT_IDX))
			FZ_CHECK(intr == !(v.flags & FZ_VQ_F_NO_INTR));
		else if (k > 0)   /* the first call always signals */
			FZ_CHECK(intr == vq_need_event(*(uint16_t *)(v.m.base + FZ_VQ_AVAIL + 4 + 2ULL * v.size),
						      (uint16_t)(before + 1), before));
	}
	fz_vq_clear(&v);
	return 0;
}
