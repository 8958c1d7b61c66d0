/* test_snap_stream.c - the migration stream: round trip, the checks (XXH64) computed
 * independently, truncation at every byte, bit flips, another version (a real version-2 header),
 * records out of order, runs past RAM, SYNC answered where it may stand and refused elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "snap/format.h"
#include "snap/stream.h"

#define PAGES 8u

/* A stream in memory. */
struct sbuf {
	uint8_t *p;
	size_t len, cap, pos;
};

static void put(struct sbuf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_rec(struct sbuf *b, uint32_t type, uint64_t a0, uint64_t a1, const void *pl,
		    uint32_t len)
{
	uint8_t h[SNAP_STREAM_REC_SIZE];

	snap_stream_put_rec(h, type, a0, a1, pl, len);
	put(b, h, sizeof(h));
	if (len)
		put(b, pl, len);
}

static int mem_read(void *ctx, void *buf, size_t len)
{
	struct sbuf *b = ctx;

	if (b->len - b->pos < len)
		return -EPIPE;
	memcpy(buf, b->p + b->pos, len);
	b->pos += len;
	return 0;
}

/* What the destination got. */
struct dst {
	uint8_t ram[PAGES * SNAP_STREAM_PAGE];
	char config[64];
	uint64_t ram_size;
	uint64_t board;
	uint8_t *state;
	size_t state_len;
	int nzero;
	uint64_t syncs[4];
	int nsync;
	int sync_ret;     /* what d_sync answers (a failed answer ends the stream) */
};

static int d_config(void *ctx, const char *json, size_t len, uint64_t ram_size, uint64_t board,
		    char *err, size_t errlen)
{
	struct dst *d = ctx;

	if (ram_size != sizeof(d->ram)) {
		snprintf(err, errlen, "RAM size %llu", (unsigned long long)ram_size);
		return -EINVAL;
	}
	snprintf(d->config, sizeof(d->config), "%.*s", (int)len, json);
	d->ram_size = ram_size;
	d->board = board;
	return 0;
}

static void *d_ram(void *ctx, uint64_t first, uint64_t n)
{
	struct dst *d = ctx;

	return d->ram + first * SNAP_STREAM_PAGE;
}

static void d_zero(void *ctx, uint64_t first, uint64_t n)
{
	struct dst *d = ctx;

	memset(d->ram + first * SNAP_STREAM_PAGE, 0, n * SNAP_STREAM_PAGE);
	d->nzero += (int)n;
}

static int d_state(void *ctx, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct dst *d = ctx;

	free(d->state);
	d->state = buf;
	d->state_len = len;
	return 0;
}

static int d_sync(void *ctx, uint64_t seq, char *err, size_t errlen)
{
	struct dst *d = ctx;

	if (d->nsync < 4)
		d->syncs[d->nsync] = seq;
	d->nsync++;
	if (d->sync_ret)
		snprintf(err, errlen, "answering SYNC failed");
	return d->sync_ret;
}

static int receive(struct sbuf *b, struct dst *d, char *err, size_t errlen)
{
	struct snap_stream_sink s = {
		.ctx = d, .max_pages = PAGES, .config = d_config, .ram = d_ram, .zero = d_zero,
		.state = d_state, .sync = d_sync,
	};

	memset(d, 0xee, sizeof(d->ram));
	d->state = NULL;
	d->nzero = 0;
	d->nsync = 0;
	d->sync_ret = 0;
	b->pos = 0;
	return snap_stream_receive(mem_read, b, &s, err, errlen);
}

static uint8_t src_ram[PAGES * SNAP_STREAM_PAGE];
static uint8_t state_blob[200];

/* A stream the source would send: config, pages 0-3 data, 4-7 zero, SYNC 7, page 2 again,
 * SYNC 8, state, end. */
static void build(struct sbuf *b)
{
	uint8_t h[SNAP_STREAM_HDR_SIZE];
	const char cfg[] = "{\"machine-config\":{}}";

	for (size_t i = 0; i < 4 * SNAP_STREAM_PAGE; i++)
		src_ram[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(state_blob); i++)
		state_blob[i] = (uint8_t)(i ^ 0x5a);
	memset(b, 0, sizeof(*b));
	snap_stream_put_header(h);
	put(b, h, sizeof(h));
	put_rec(b, SNAP_REC_CONFIG, sizeof(src_ram), SNAP_STREAM_BOARD_FW_CFG, cfg, sizeof(cfg) - 1);
	put_rec(b, SNAP_REC_RAM, 0, 4, src_ram, 4 * SNAP_STREAM_PAGE);
	put_rec(b, SNAP_REC_ZERO, 4, 4, NULL, 0);
	put_rec(b, SNAP_REC_SYNC, 7, 0, NULL, 0);
	src_ram[2 * SNAP_STREAM_PAGE + 5] ^= 0xff;   /* dirtied, sent again */
	put_rec(b, SNAP_REC_RAM, 2, 1, src_ram + 2 * SNAP_STREAM_PAGE, SNAP_STREAM_PAGE);
	put_rec(b, SNAP_REC_SYNC, 8, 0, NULL, 0);
	put_rec(b, SNAP_REC_STATE, 0, 0, state_blob, sizeof(state_blob));
	put_rec(b, SNAP_REC_END, 0, 0, NULL, 0);
}

static void test_round_trip(void **unused)
{
	struct sbuf b;
	struct dst d;
	char err[256] = "";

	build(&b);
	assert_int_equal(receive(&b, &d, err, sizeof(err)), 0);
	assert_memory_equal(d.ram, src_ram, sizeof(src_ram));
	assert_string_equal(d.config, "{\"machine-config\":{}}");
	assert_int_equal(d.board, SNAP_STREAM_BOARD_FW_CFG);
	assert_int_equal(d.nzero, 4);
	assert_int_equal(d.nsync, 2);
	assert_int_equal(d.syncs[0], 7);
	assert_int_equal(d.syncs[1], 8);
	assert_int_equal(d.state_len, sizeof(state_blob));
	assert_memory_equal(d.state, state_blob, sizeof(state_blob));
	assert_int_equal(b.pos, b.len);
	free(d.state);
	free(b.p);
}

/* CONFIG's arg1: both known board bits pass, any other is refused by name. */
static void test_config_board_bits(void **unused)
{
	uint8_t h[SNAP_STREAM_HDR_SIZE];
	char err[256];
	struct sbuf b;
	struct dst d;

	for (int pass = 0; pass < 2; pass++) {
		uint64_t board = pass ? SNAP_STREAM_BOARD_LEGACY_PM << 1 : SNAP_STREAM_BOARD_KNOWN;

		memset(&b, 0, sizeof(b));
		snap_stream_put_header(h);
		put(&b, h, sizeof(h));
		put_rec(&b, SNAP_REC_CONFIG, PAGES * SNAP_STREAM_PAGE, board, "{}", 2);
		put_rec(&b, SNAP_REC_STATE, 0, 0, state_blob, sizeof(state_blob));
		put_rec(&b, SNAP_REC_END, 0, 0, NULL, 0);
		err[0] = 0;
		d.board = 0;
		if (!pass) {
			assert_int_equal(receive(&b, &d, err, sizeof(err)), 0);
			assert_int_equal(d.board, SNAP_STREAM_BOARD_FW_CFG | SNAP_STREAM_BOARD_LEGACY_PM);
			free(d.state);
		} else {
			assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
			assert_non_null(strstr(err, "unknown board devices"));
		}
		free(b.p);
	}
}

static void test_truncated_everywhere(void **unused)
{
	struct sbuf b;
	struct dst d;
	char err[256];

	build(&b);
	size_t full = b.len;

	for (size_t cut = 0; cut < full; cut++) {
		b.len = cut;
		err[0] = 0;
		assert_int_not_equal(receive(&b, &d, err, sizeof(err)), 0);
		assert_non_null(strstr(err, "ended after"));
		free(d.state);
	}
	free(b.p);
}

/* Every bit flip is refused: a stream accepted after a flip would load wrong RAM or state. */
static void test_every_bit_flip_refused(void **unused)
{
	struct sbuf b;
	struct dst d;
	char err[256];

	build(&b);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b.p[i] ^= (uint8_t)(1u << bit);
			err[0] = 0;
			int ret = receive(&b, &d, err, sizeof(err));

			if (!ret)
				fail_msg("a flip of bit %d of byte %zu was accepted", bit, i);
			assert_true(err[0]);
			free(d.state);
			b.p[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(b.p);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The format, computed here from libxxhash, not through stream.c: the header's check is the low
 * 32 bits of XXH64(first 12 bytes, seed 0); a record's is XXH64(payload, len, XXH64(first 24
 * bytes, seed 0)), a little-endian u64 at offset 24. */
static void test_checks_are_xxh64(void **unused)
{
	uint8_t h[SNAP_STREAM_HDR_SIZE], rec[SNAP_STREAM_REC_SIZE];
	const char pl[] = "payload bytes";
	uint32_t hc;

	snap_stream_put_header(h);
	assert_memory_equal(h, "MVMMIGR\0\5\0\0\0", 12);
	hc = (uint32_t)XXH64(h, 12, 0);
	assert_int_equal(h[12] | h[13] << 8 | h[14] << 16 | (uint32_t)h[15] << 24, hc);

	snap_stream_put_rec(rec, SNAP_REC_ERROR, 0x1122334455667788ull, 42, pl, sizeof(pl));
	assert_int_equal(rec[0], SNAP_REC_ERROR);
	assert_int_equal(rec[4], sizeof(pl));
	assert_int_equal(le64(rec + 8), 0x1122334455667788ull);
	assert_int_equal(le64(rec + 16), 42);
	assert_int_equal(le64(rec + 24), XXH64(pl, sizeof(pl), XXH64(rec, 24, 0)));
	snap_stream_put_rec(rec, SNAP_REC_END, 0, 0, NULL, 0);
	assert_int_equal(le64(rec + 24), XXH64(NULL, 0, XXH64(rec, 24, 0)));
}

/* A flipped payload bit, a flipped header bit, a flipped check bit: each refused as a checksum
 * mismatch, by snap_stream_check_ok() and by the whole receiver. */
static void test_flips_fail_the_check(void **unused)
{
	uint8_t rec[SNAP_STREAM_REC_SIZE];
	uint8_t page[SNAP_STREAM_PAGE];
	char err[256];
	struct snap_rec r;
	struct sbuf b;
	struct dst d;

	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 13);
	snap_stream_put_rec(rec, SNAP_REC_RAM, 1, 1, page, sizeof(page));
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), 0);
	assert_true(snap_stream_check_ok(rec, &r, page));
	page[4095] ^= 0x80;                                   /* payload */
	assert_false(snap_stream_check_ok(rec, &r, page));
	page[4095] ^= 0x80;
	rec[8] ^= 0x02;                                       /* arg0: page 3, still in RAM */
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), 0);
	assert_false(snap_stream_check_ok(rec, &r, page));
	rec[8] ^= 0x02;
	rec[31] ^= 0x40;                                      /* the check's top byte */
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), 0);
	assert_false(snap_stream_check_ok(rec, &r, page));
	rec[31] ^= 0x40;
	/* A record without payload is checked by snap_stream_parse() itself. */
	snap_stream_put_rec(rec, SNAP_REC_ZERO, 4, 2, NULL, 0);
	rec[16] ^= 0x01;                                      /* arg1: 3 pages */
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "checksum mismatch"));

	/* Through the receiver: the second RAM record's last payload byte, then its arg0. */
	build(&b);
	/* Back from the end: END, STATE, SYNC 8, then the run. */
	size_t second_ram = b.len - SNAP_STREAM_REC_SIZE - (SNAP_STREAM_REC_SIZE + sizeof(state_blob)) -
			    SNAP_STREAM_REC_SIZE - (SNAP_STREAM_REC_SIZE + SNAP_STREAM_PAGE);
	assert_int_equal(le64(b.p + second_ram + 8), 2);
	b.p[second_ram + SNAP_STREAM_REC_SIZE + SNAP_STREAM_PAGE - 1] ^= 1;
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "RAM pages 2+1: checksum mismatch"));
	free(d.state);
	b.p[second_ram + SNAP_STREAM_REC_SIZE + SNAP_STREAM_PAGE - 1] ^= 1;
	b.p[second_ram + 8] ^= 1;
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "RAM pages 3+1: checksum mismatch"));
	free(d.state);
	b.p[second_ram + 8] ^= 1;
	/* The STATE record's payload. */
	b.p[b.len - SNAP_STREAM_REC_SIZE - 1] ^= 4;
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "STATE record: checksum mismatch"));
	free(d.state);
	b.p[b.len - SNAP_STREAM_REC_SIZE - 1] ^= 4;
	/* The stream header's check. */
	b.p[13] ^= 1;
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "header is corrupted (checksum mismatch)"));
	free(d.state);
	b.p[13] ^= 1;
	assert_int_equal(receive(&b, &d, err, sizeof(err)), 0);
	free(d.state);
	free(b.p);
}

static void test_bad_version_and_garbage(void **unused)
{
	/* What a version-2 mvm sends: its check is CRC-32C, not XXH64. */
	static const uint8_t v2[SNAP_STREAM_HDR_SIZE] = {
		0x4d, 0x56, 0x4d, 0x4d, 0x49, 0x47, 0x52, 0x00, 0x02, 0x00, 0x00, 0x00,
		0x4d, 0x71, 0x25, 0x6a,
	};
	uint8_t h[SNAP_STREAM_HDR_SIZE];
	char err[256];
	struct sbuf b;
	struct dst d;

	snap_stream_put_header(h);
	assert_int_equal(snap_stream_check_header(h, err, sizeof(err)), 0);
	assert_int_equal(snap_stream_check_header(v2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "migration stream version 2; this mvm reads version 5"));
	/* The same through the receiver, with a version-2 stream behind the header. */
	memset(&b, 0, sizeof(b));
	put(&b, v2, sizeof(v2));
	put_rec(&b, SNAP_REC_CONFIG, PAGES * SNAP_STREAM_PAGE, 0, "{}", 2);
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version 2; this mvm reads version 5"));
	free(b.p);
	/* Version 3 (no SYNC), 4 (no board bits) and a later version, each with a right XXH64
	 * check: refused for their version too. */
	static const struct { uint8_t v; const char *msg; } others[] = {
		{ 4, "version 4; this mvm reads version 5" },
		{ 3, "version 3; this mvm reads version 5" },
		{ 6, "version 6; this mvm reads version 5" },
	};
	for (size_t k = 0; k < sizeof(others) / sizeof(others[0]); k++) {
		uint32_t c;

		h[8] = others[k].v;
		c = (uint32_t)XXH64(h, 12, 0);
		for (int i = 0; i < 4; i++)
			h[12 + i] = (uint8_t)(c >> (8 * i));
		assert_int_equal(snap_stream_check_header(h, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, others[k].msg));
	}
	memcpy(h, "GET / HT", 8);
	assert_int_equal(snap_stream_check_header(h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an mvm migration stream"));

	/* Garbage of every length up to 100 bytes. */
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 100; i++) {
		uint8_t c = (uint8_t)(i * 37 + 11);

		put(&b, &c, 1);
		assert_int_not_equal(receive(&b, &d, err, sizeof(err)), 0);
	}
	free(b.p);
}

static void test_order_and_bounds(void **unused)
{
	uint8_t h[SNAP_STREAM_HDR_SIZE];
	uint8_t page[SNAP_STREAM_PAGE] = { 1 };
	char err[256];
	struct snap_rec r;
	struct sbuf b;
	struct dst d;

	/* RAM before CONFIG. */
	memset(&b, 0, sizeof(b));
	snap_stream_put_header(h);
	put(&b, h, sizeof(h));
	put_rec(&b, SNAP_REC_RAM, 0, 1, page, sizeof(page));
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out of order"));
	/* END before STATE. */
	b.len = sizeof(h);
	put_rec(&b, SNAP_REC_CONFIG, PAGES * SNAP_STREAM_PAGE, 0, "{}", 2);
	put_rec(&b, SNAP_REC_END, 0, 0, NULL, 0);
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out of order"));
	/* A run past the RAM, and one ending exactly at it. */
	uint8_t rec[SNAP_STREAM_REC_SIZE];

	snap_stream_put_rec(rec, SNAP_REC_ZERO, PAGES - 1, 2, NULL, 0);
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "past the end"));
	snap_stream_put_rec(rec, SNAP_REC_ZERO, UINT64_MAX, 2, NULL, 0);
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), -EINVAL);
	snap_stream_put_rec(rec, SNAP_REC_ZERO, PAGES - 2, 2, NULL, 0);
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), 0);
	/* A RAM run whose length is not its page count. */
	snap_stream_put_rec(rec, SNAP_REC_RAM, 0, 2, page, sizeof(page));
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), -EINVAL);
	/* Too many pages in one run; a state past SNAP_MAX_FILE; an unknown type. */
	snap_stream_put_rec(rec, SNAP_REC_ZERO, 0, SNAP_STREAM_MAX_RUN + 1, NULL, 0);
	assert_int_equal(snap_stream_parse(rec, UINT64_MAX, &r, err, sizeof(err)), -EINVAL);
	snap_stream_put_rec(rec, SNAP_REC_STATE, 0, 0, NULL, 0);
	rec[4] = 0xff, rec[5] = 0xff, rec[6] = 0xff, rec[7] = 0x7f;
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), -EINVAL);
	snap_stream_put_rec(rec, 77, 0, 0, NULL, 0);
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown record type"));
	free(b.p);
}

/* SYNC stands between CONFIG and STATE only; SYNCED goes the other way and never in the
 * stream; a SYNC the sink cannot answer ends the stream; a sink without sync() reads it. */
static void test_sync_where_it_may_stand(void **unused)
{
	uint8_t h[SNAP_STREAM_HDR_SIZE];
	char err[256];
	struct sbuf b;
	struct dst d;

	memset(&b, 0, sizeof(b));
	snap_stream_put_header(h);
	put(&b, h, sizeof(h));
	put_rec(&b, SNAP_REC_SYNC, 1, 0, NULL, 0);
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a SYNC record is out of order"));
	assert_int_equal(d.nsync, 0);
	b.len = sizeof(h);
	put_rec(&b, SNAP_REC_CONFIG, PAGES * SNAP_STREAM_PAGE, 0, "{}", 2);
	put_rec(&b, SNAP_REC_SYNCED, 1, 0, NULL, 0);
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a SYNCED record is out of order"));
	b.len = sizeof(h);
	put_rec(&b, SNAP_REC_CONFIG, PAGES * SNAP_STREAM_PAGE, 0, "{}", 2);
	put_rec(&b, SNAP_REC_STATE, 0, 0, state_blob, sizeof(state_blob));
	put_rec(&b, SNAP_REC_SYNC, 2, 0, NULL, 0);
	assert_int_equal(receive(&b, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a SYNC record is out of order"));
	free(d.state);
	/* A payload on a SYNC is refused by the record check. */
	uint8_t rec[SNAP_STREAM_REC_SIZE];
	struct snap_rec r;

	snap_stream_put_rec(rec, SNAP_REC_SYNC, 1, 0, "x", 1);
	assert_int_equal(snap_stream_parse(rec, PAGES, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unexpected payload"));
	/* The sink's failure to answer is the stream's. */
	free(b.p);
	build(&b);
	{
		struct snap_stream_sink s = {
			.ctx = &d, .max_pages = PAGES, .config = d_config, .ram = d_ram,
			.zero = d_zero, .state = d_state, .sync = d_sync,
		};

		d.state = NULL;
		d.nsync = 0;
		d.sync_ret = -EPIPE;
		assert_int_equal(snap_stream_receive(mem_read, &b, &s, err, sizeof(err)), -EPIPE);
		assert_int_equal(d.nsync, 1);
		assert_non_null(strstr(err, "answering SYNC failed"));
		/* Without sync(): read and passed. */
		b.pos = 0;
		s.sync = NULL;
		assert_int_equal(snap_stream_receive(mem_read, &b, &s, err, sizeof(err)), 0);
		assert_int_equal(d.state_len, sizeof(state_blob));
		free(d.state);
	}
	free(b.p);
}

static void test_is_zero(void **unused)
{
	static uint64_t page[SNAP_STREAM_PAGE / 8];

	assert_true(snap_stream_is_zero(page, sizeof(page)));
	page[511] = 1;
	assert_false(snap_stream_is_zero(page, sizeof(page)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_config_board_bits),
		cmocka_unit_test(test_checks_are_xxh64),
		cmocka_unit_test(test_flips_fail_the_check),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_every_bit_flip_refused),
		cmocka_unit_test(test_bad_version_and_garbage),
		cmocka_unit_test(test_order_and_bounds),
		cmocka_unit_test(test_sync_where_it_may_stand),
		cmocka_unit_test(test_is_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
