/* fuzz_blk.c - libFuzzer target for virtio-blk request validation
 * (virtio_blk_req_parse in src/virtio/blk.c), on chains from the real walk.
 *
 * Input: 9 bytes of disk (capacity in sectors: le64; read-only: bit 0 of
 * the next byte), then a virtqueue as fuzz_common.h lays it out (its
 * payload holds the request headers, discard segments and data). Every
 * chain popped is parsed and what blk.h promises is checked:
 *  - the result is OK, IOERR, UNSUPP, or -EINVAL exactly when the chain has
 *    no writable byte or fewer than 16 readable ones;
 *  - the status byte is the last byte of the last non-empty writable
 *    buffer (so inside guest RAM);
 *  - OK for IN/OUT: whole sectors, at least one, at most
 *    VIRTIO_BLK_REQ_MAX_BYTES, inside the disk; data[] is exactly the
 *    readable bytes after the header (OUT, and only when the disk is
 *    writable) or the writable bytes before the status byte (IN), each
 *    piece inside guest RAM;
 *  - OK for DISCARD/WRITE_ZEROES: writable disk, one 16-byte segment, a
 *    range inside the disk of at most VIRTIO_BLK_MAX_DISCARD_SECTORS;
 *  - the parser is pure: guest RAM is the same afterwards.
 *
 * Run: build/fuzz/fuzz_blk tests/fuzz/corpus/blk
 */
#include <errno.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "virtio/blk.h"

static struct fz_vq v;
static struct vq_chain chain;
static struct virtio_blk_req req;
static uint8_t before[0x10000];

/* Is [p, p+len) inside one of iov[0..n)? */
static bool within(const struct iovec *iov, int n, const void *p, size_t len)
{
	for (int i = 0; i < n; i++) {
		const uint8_t *b = iov[i].iov_base;

		if ((const uint8_t *)p >= b && (size_t)((const uint8_t *)p - b) <= iov[i].iov_len &&
		    len <= iov[i].iov_len - (size_t)((const uint8_t *)p - b))
			return true;
	}
	return false;
}

static void check(uint64_t cap, bool ro, int r)
{
	const struct iovec *in = chain.iov + chain.nr_out;
	uint32_t hdr_type;
	int last = -1;
	uint64_t sum = 0;

	for (int i = chain.nr_in - 1; i >= 0 && last < 0; i--)
		if (in[i].iov_len)
			last = i;
	if (last < 0 || chain.out_len < 16) {
		FZ_CHECK(r == -EINVAL && req.status == NULL);
		return;
	}
	FZ_CHECK(r == VIRTIO_BLK_S_OK || r == VIRTIO_BLK_S_IOERR || r == VIRTIO_BLK_S_UNSUPP);
	FZ_CHECK(req.status == (uint8_t *)in[last].iov_base + in[last].iov_len - 1);
	FZ_CHECK(fz_in_ram(&v.m, req.status, 1));
	/* The type as the guest wrote it (the first 4 readable bytes). */
	{
		uint8_t h[4];
		size_t got = 0;

		for (int i = 0; i < chain.nr_out && got < 4; i++)
			for (size_t j = 0; j < chain.iov[i].iov_len && got < 4; j++)
				h[got++] = ((uint8_t *)chain.iov[i].iov_base)[j];
		memcpy(&hdr_type, h, 4);
	}
	FZ_CHECK(req.type == hdr_type);
	if (r != VIRTIO_BLK_S_OK)
		return;

	switch (req.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		FZ_CHECK(req.data_len > 0 && req.data_len % VIRTIO_BLK_SECTOR == 0 &&
			 req.data_len <= VIRTIO_BLK_REQ_MAX_BYTES);
		FZ_CHECK(req.nr_sectors * VIRTIO_BLK_SECTOR == req.data_len);
		FZ_CHECK(req.sector <= cap && req.nr_sectors <= cap - req.sector);
		FZ_CHECK(req.nr_data >= 1 && req.nr_data <= VQ_CHAIN_MAX);
		for (int i = 0; i < req.nr_data; i++) {
			FZ_CHECK(fz_in_ram(&v.m, req.data[i].iov_base, req.data[i].iov_len));
			if (req.type == VIRTIO_BLK_T_OUT)
				FZ_CHECK(within(chain.iov, chain.nr_out, req.data[i].iov_base, req.data[i].iov_len));
			else
				FZ_CHECK(within(in, chain.nr_in, req.data[i].iov_base, req.data[i].iov_len));
			sum += req.data[i].iov_len;
		}
		FZ_CHECK(sum == req.data_len);
		if (req.type == VIRTIO_BLK_T_OUT)
			FZ_CHECK(!ro && chain.in_len == 1 && req.data_len == chain.out_len - 16);
		else    /* everything writable but the status byte (a guest may alias them: its loss) */
			FZ_CHECK(chain.out_len == 16 && req.data_len == chain.in_len - 1);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		FZ_CHECK(!ro && chain.out_len == 32);
		FZ_CHECK(req.nr_sectors <= VIRTIO_BLK_MAX_DISCARD_SECTORS);
		FZ_CHECK(req.sector <= cap && req.nr_sectors <= cap - req.sector);
		FZ_CHECK((req.flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) == 0);
		FZ_CHECK(req.type == VIRTIO_BLK_T_WRITE_ZEROES || req.flags == 0);
		break;
	case VIRTIO_BLK_T_FLUSH:
		break;
	case VIRTIO_BLK_T_GET_ID:
		for (int i = 0; i < req.nr_data; i++)
			FZ_CHECK(within(in, chain.nr_in, req.data[i].iov_base, req.data[i].iov_len));
		break;
	default:
		FZ_CHECK(!"OK for an unknown request type");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	uint64_t cap;
	bool ro;

	if (!v.m.base) {
		fz_logs_off();
		fz_gmem_init(&v.m, FZ_VQ_RAM);
	}
	cap = fz_u64(&in);
	ro = fz_u8(&in) & 1;
	fz_vq_build(&v, &in);
	FZ_CHECK(v.ok);
	for (int k = 0; k < v.size; k++) {
		if (vq_pop(&v.q, &chain) != 1)
			break;
		memcpy(before, v.m.base + FZ_VQ_PAYLOAD, sizeof(before));
		check(cap, ro, virtio_blk_req_parse(&chain, cap, ro, &req));
		FZ_CHECK(memcmp(before, v.m.base + FZ_VQ_PAYLOAD, sizeof(before)) == 0);
	}
	fz_vq_clear(&v);
	return 0;
}
