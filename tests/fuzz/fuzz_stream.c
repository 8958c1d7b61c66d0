/* fuzz_stream.c - libFuzzer target for the migration stream reader (src/snap/stream.c).
 *
 * Build: make BUILD=build-x fuzz (clang -fsanitize=fuzzer,address,undefined)
 * Run:   build-x/fuzz/fuzz_stream -max_len=65536
 * The input is a whole stream: snap_stream_receive() reads it through a sink with 64 pages of
 * RAM. The stream header and every record header are given a right check (XXH64, stream.h)
 * first, walking the records as far as their lengths allow, so the fuzzer gets past the
 * checksums to the version, order, bound and length checks.
 * Invariants: no crash, no read or write outside the buffers, and an accepted stream had a
 * CONFIG and a STATE (the sink saw both).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "snap/stream.h"

#define FZ_PAGES 64u

struct fz {
	const uint8_t *p;
	size_t len, pos;
	uint8_t ram[FZ_PAGES * SNAP_STREAM_PAGE];
	int configs, states;
};

static int fz_read(void *ctx, void *buf, size_t len)
{
	struct fz *f = ctx;

	if (f->len - f->pos < len)
		return -EPIPE;
	memcpy(buf, f->p + f->pos, len);
	f->pos += len;
	return 0;
}

static int fz_config(void *ctx, const char *json, size_t len, uint64_t ram, char *e, size_t el)
{
	struct fz *f = ctx;

	f->configs++;
	return ram == sizeof(f->ram) ? 0 : -EINVAL;
}

static void *fz_ram(void *ctx, uint64_t first, uint64_t n)
{
	struct fz *f = ctx;

	return first + n <= FZ_PAGES ? f->ram + first * SNAP_STREAM_PAGE : NULL;
}

static void fz_zero(void *ctx, uint64_t first, uint64_t n)
{
	struct fz *f = ctx;

	if (first + n <= FZ_PAGES)
		memset(f->ram + first * SNAP_STREAM_PAGE, 0, n * SNAP_STREAM_PAGE);
}

static int fz_state(void *ctx, uint8_t *buf, size_t len, char *e, size_t el)
{
	struct fz *f = ctx;

	f->states++;
	free(buf);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *f = calloc(1, sizeof(*f));
	uint8_t *b = malloc(size ? size : 1);
	struct snap_stream_sink s = { .ctx = f, .config = fz_config, .ram = fz_ram, .zero = fz_zero,
				      .state = fz_state };
	char err[512];

	if (!f || !b)
		abort();
	memcpy(b, data, size);
	/* Right checks in the header and every record header (payload included) it can walk. */
	if (size >= SNAP_STREAM_HDR_SIZE) {
		uint32_t c = (uint32_t)XXH64(b, 12, 0);

		for (int i = 0; i < 4; i++)
			b[12 + i] = (uint8_t)(c >> (8 * i));
	}
	for (size_t off = SNAP_STREAM_HDR_SIZE; off + SNAP_STREAM_REC_SIZE <= size;) {
		uint32_t len = (uint32_t)b[off + 4] | (uint32_t)b[off + 5] << 8 |
			       (uint32_t)b[off + 6] << 16 | (uint32_t)b[off + 7] << 24;
		size_t avail = size - off - SNAP_STREAM_REC_SIZE;
		uint64_t c = XXH64(b + off, 24, 0);

		/* A payload the input cuts short keeps a check of the header alone (refused anyway). */
		if (len <= avail)
			c = XXH64(b + off + SNAP_STREAM_REC_SIZE, len, c);
		for (int i = 0; i < 8; i++)
			b[off + 24 + i] = (uint8_t)(c >> (8 * i));
		if (len > avail)
			break;
		off += SNAP_STREAM_REC_SIZE + len;
	}
	f->p = b;
	f->len = size;
	if (snap_stream_receive(fz_read, f, &s, err, sizeof(err)) == 0 &&
	    (f->configs != 1 || f->states != 1))
		abort();
	free(b);
	free(f);
	return 0;
}
