/* fuzz_stream.c - libFuzzer target for the migration stream reader (src/snap/stream.c).
 *
 * Build: make BUILD=build-x fuzz (clang -fsanitize=fuzzer,address,undefined)
 * Run:   build-x/fuzz/fuzz_stream -max_len=65536
 * The input is a whole stream: snap_stream_receive() reads it through a sink with 64 pages of
 * RAM. The stream header and every record header are given a right check (XXH64, stream.h)
 * first, walking the records as far as their lengths allow, so the fuzzer gets past the
 * checksums to the version, order, bound and length checks.
 * Seeds: tests/fuzz/corpus/stream/ was written by the real writer (snap_stream_put_header,
 * snap_stream_put_rec): `make BUILD=build-x fuzz-stream-seeds` builds this file with
 * -DFUZZ_STREAM_GEN_SEEDS (a plain program) and runs it on the folder; rerun it after a
 * format change.
 * Invariants: no crash, no read or write outside the buffers, every RAM or ZERO run handed to
 * the sink comes after CONFIG and lies inside its max_pages (set by config() as vmm/migrate.c
 * does), a SYNC is answered only between CONFIG and STATE, and an accepted stream had a CONFIG
 * and a STATE (the sink saw both).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "snap/stream.h"

#define FZ_PAGES 64u

#ifndef FUZZ_STREAM_GEN_SEEDS

struct fz {
	const uint8_t *p;
	size_t len, pos;
	uint8_t ram[FZ_PAGES * SNAP_STREAM_PAGE];
	int configs, states, syncs;
	struct snap_stream_sink *sink;
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

static int fz_config(void *ctx, const char *json, size_t len, uint64_t ram, uint64_t board,
		     char *e, size_t el)
{
	struct fz *f = ctx;

	f->configs++;
	if (board & ~(uint64_t)SNAP_STREAM_BOARD_KNOWN)
		abort();   /* the reader let an unknown board bit through */
	if (ram != sizeof(f->ram))
		return -EINVAL;
	f->sink->max_pages = FZ_PAGES;   /* as vmm/migrate.c's sink: RAM runs are bounded by it */
	return 0;
}

static void *fz_ram(void *ctx, uint64_t first, uint64_t n)
{
	struct fz *f = ctx;

	if (!f->configs || first > FZ_PAGES || n > FZ_PAGES - first)
		abort();   /* the reader let a run past max_pages (or before CONFIG) through */
	return f->ram + first * SNAP_STREAM_PAGE;
}

static void fz_zero(void *ctx, uint64_t first, uint64_t n)
{
	struct fz *f = ctx;

	if (!f->configs || first > FZ_PAGES || n > FZ_PAGES - first)
		abort();
	memset(f->ram + first * SNAP_STREAM_PAGE, 0, n * SNAP_STREAM_PAGE);
}

static int fz_state(void *ctx, uint8_t *buf, size_t len, char *e, size_t el)
{
	struct fz *f = ctx;

	f->states++;
	free(buf);
	return 0;
}

static int fz_sync(void *ctx, uint64_t seq, char *e, size_t el)
{
	struct fz *f = ctx;

	if (!f->configs || f->states)
		abort();   /* a SYNC outside CONFIG..STATE was answered */
	f->syncs++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One static state, cleared per input: a 256 KiB calloc per input is
	 * an mmap, page faults and an munmap under ASan (half this target's time). */
	static struct fz fz;
	struct fz *f = &fz;
	uint8_t *b = malloc(size ? size : 1);
	struct snap_stream_sink s = { .ctx = f, .config = fz_config, .ram = fz_ram, .zero = fz_zero,
				      .state = fz_state, .sync = fz_sync };
	char err[512];

	if (!b)
		abort();
	memset(f, 0, sizeof(*f));
	f->sink = &s;
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
	return 0;
}
#else
/* A stream in memory, written by the real writer. */
struct gen {
	uint8_t buf[4 * SNAP_STREAM_PAGE];
	size_t len;
};

static void gen_put(struct gen *g, const void *p, size_t n)
{
	if (n > sizeof(g->buf) - g->len)
		abort();
	memcpy(g->buf + g->len, p, n);
	g->len += n;
}

static void gen_rec(struct gen *g, uint32_t type, uint64_t a0, uint64_t a1, const void *pl,
		    uint32_t len)
{
	uint8_t h[SNAP_STREAM_REC_SIZE];

	snap_stream_put_rec(h, type, a0, a1, pl, len);
	gen_put(g, h, sizeof(h));
	if (len)
		gen_put(g, pl, len);
}

static void gen_start(struct gen *g)
{
	static const char cfg[] = "{\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":1}}";
	uint8_t h[SNAP_STREAM_HDR_SIZE];

	g->len = 0;
	snap_stream_put_header(h);
	gen_put(g, h, sizeof(h));
	gen_rec(g, SNAP_REC_CONFIG, FZ_PAGES * SNAP_STREAM_PAGE, 0, cfg, sizeof(cfg) - 1);
}

static int gen_write(const char *dir, const char *name, const struct gen *g)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(g->buf, 1, g->len, f) != g->len || fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}

/* Write the seed corpus into DIR: streams as the source sends them (one page runs keep them
 * small), and a few the destination refuses past the header (order, bounds, lengths). */
static int fuzz_stream_gen_seeds(const char *dir)
{
	static uint8_t page[SNAP_STREAM_PAGE], state[96];
	struct gen *g = calloc(1, sizeof(*g));
	int ret = 0;

	if (!g)
		return 1;
	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(state); i++)
		state[i] = (uint8_t)(i ^ 0x5a);

	gen_start(g);             /* CONFIG, RAM, ZERO, SYNC, STATE, END: accepted */
	gen_rec(g, SNAP_REC_RAM, 0, 1, page, sizeof(page));
	gen_rec(g, SNAP_REC_ZERO, 1, 63, NULL, 0);
	gen_rec(g, SNAP_REC_SYNC, 0, 0, NULL, 0);
	gen_rec(g, SNAP_REC_STATE, 0, 0, state, sizeof(state));
	gen_rec(g, SNAP_REC_END, 0, 0, NULL, 0);
	ret |= gen_write(dir, "full", g);

	gen_start(g);             /* only zero pages, the same page twice */
	gen_rec(g, SNAP_REC_ZERO, 0, 32, NULL, 0);
	gen_rec(g, SNAP_REC_ZERO, 32, 32, NULL, 0);
	gen_rec(g, SNAP_REC_ZERO, 5, 1, NULL, 0);
	gen_rec(g, SNAP_REC_STATE, 0, 0, state, sizeof(state));
	gen_rec(g, SNAP_REC_END, 0, 0, NULL, 0);
	ret |= gen_write(dir, "zero-runs", g);

	gen_start(g);             /* a run past the RAM */
	gen_rec(g, SNAP_REC_ZERO, FZ_PAGES - 1, 2, NULL, 0);
	ret |= gen_write(dir, "run-past-ram", g);

	gen_start(g);             /* END before STATE */
	gen_rec(g, SNAP_REC_END, 0, 0, NULL, 0);
	ret |= gen_write(dir, "end-before-state", g);

	gen_start(g);             /* a destination-to-source record in the source's stream */
	gen_rec(g, SNAP_REC_ERROR, 0, 0, "no", 2);
	ret |= gen_write(dir, "error-record", g);

	gen_start(g);             /* a SYNC after the state */
	gen_rec(g, SNAP_REC_STATE, 0, 0, state, sizeof(state));
	gen_rec(g, SNAP_REC_SYNC, 1, 0, NULL, 0);
	ret |= gen_write(dir, "sync-after-state", g);

	gen_start(g);             /* a RAM run whose length is not its page count */
	gen_rec(g, SNAP_REC_RAM, 0, 2, page, sizeof(page));
	ret |= gen_write(dir, "ram-short", g);
	free(g);
	return ret;
}

int main(int argc, char **argv)
{
	return argc == 2 ? fuzz_stream_gen_seeds(argv[1]) : 2;
}
#endif
