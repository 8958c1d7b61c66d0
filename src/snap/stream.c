/* stream.c - the migration stream's header and records: encode, decode, check (stream.h). */
#include "snap/stream.h"
#include "snap/format.h"
#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define R_TYPE  0
#define R_LEN   4
#define R_ARG0  8
#define R_ARG1  16
#define R_CHECK 24

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* A record's check: XXH64 of its first 24 header bytes (seed 0), whose value seeds XXH64 of
 * the payload (also for an empty payload). Chained one-shot calls rather than the streaming API
 * (XXH64_reset/update/digest): a stack-allocated XXH64_state_t needs XXH_STATIC_LINKING_ONLY,
 * whose struct layout xxhash.h says may change between versions and must not be used with the
 * shared library we link; XXH64_createState() would be a malloc per record. The seed carries
 * all 64 bits of the header's hash, so a change in either part changes the check. */
static uint64_t rec_check(const uint8_t *hdr, const void *payload, size_t len)
{
	return XXH64(payload, len, XXH64(hdr, R_CHECK, 0));
}

/* The stream header's check: the low 32 bits of XXH64 (seed 0) of its first 12 bytes. */
static uint32_t hdr_check(const uint8_t *hdr)
{
	return (uint32_t)XXH64(hdr, 12, 0);
}

const char *snap_rec_name(uint32_t type)
{
	static const char *const names[] = {
		[SNAP_REC_CONFIG] = "CONFIG", [SNAP_REC_RAM] = "RAM", [SNAP_REC_ZERO] = "ZERO",
		[SNAP_REC_STATE] = "STATE", [SNAP_REC_END] = "END", [SNAP_REC_RELEASED] = "RELEASED",
		[SNAP_REC_READY] = "READY", [SNAP_REC_GO] = "GO", [SNAP_REC_ERROR] = "ERROR",
		[SNAP_REC_SYNC] = "SYNC", [SNAP_REC_SYNCED] = "SYNCED",
	};

	return type >= 1 && type <= SNAP_REC_MAX_TYPE ? names[type] : "unknown";
}

void snap_stream_put_header(uint8_t out[SNAP_STREAM_HDR_SIZE])
{
	memset(out, 0, SNAP_STREAM_HDR_SIZE);
	memcpy(out, SNAP_STREAM_MAGIC, 8);
	put32(out + 8, SNAP_STREAM_VERSION);
	put32(out + 12, hdr_check(out));
}

int snap_stream_check_header(const uint8_t in[SNAP_STREAM_HDR_SIZE], char *err, size_t errlen)
{
	uint32_t version = get32(in + 8);

	if (memcmp(in, SNAP_STREAM_MAGIC, 8)) {
		snprintf(err, errlen, "not an mvm migration stream (no %s header)", SNAP_STREAM_MAGIC);
		return -EINVAL;
	}
	/* The version first: how the check is computed is the version's (version 2 had a
	 * CRC-32C there), so another version's header fails the check without being corrupted. */
	if (version != SNAP_STREAM_VERSION) {
		snprintf(err, errlen, "migration stream version %u; this mvm reads version %u "
			 "(migrate between mvm versions that share a stream version)", version,
			 SNAP_STREAM_VERSION);
		return -EINVAL;
	}
	if (get32(in + 12) != hdr_check(in)) {
		snprintf(err, errlen, "the stream's header is corrupted (checksum mismatch)");
		return -EINVAL;
	}
	return 0;
}

void snap_stream_put_rec(uint8_t out[SNAP_STREAM_REC_SIZE], uint32_t type, uint64_t arg0,
			 uint64_t arg1, const void *payload, uint32_t len)
{
	memset(out, 0, SNAP_STREAM_REC_SIZE);
	put32(out + R_TYPE, type);
	put32(out + R_LEN, len);
	put64(out + R_ARG0, arg0);
	put64(out + R_ARG1, arg1);
	put64(out + R_CHECK, rec_check(out, payload, len));
}

static int bad(char *err, size_t errlen, const struct snap_rec *r, const char *what)
{
	snprintf(err, errlen, "migration stream: %s record (type %u, %u bytes): %s",
		 snap_rec_name(r->type), r->type, r->len, what);
	return -EINVAL;
}

int snap_stream_parse(const uint8_t in[SNAP_STREAM_REC_SIZE], uint64_t max_pages,
		      struct snap_rec *r, char *err, size_t errlen)
{
	r->type = get32(in + R_TYPE);
	r->len = get32(in + R_LEN);
	r->arg0 = get64(in + R_ARG0);
	r->arg1 = get64(in + R_ARG1);
	r->check = get64(in + R_CHECK);
	if (r->type < 1 || r->type > SNAP_REC_MAX_TYPE)
		return bad(err, errlen, r, "unknown record type (garbage, or a newer mvm)");
	switch (r->type) {
	case SNAP_REC_RAM:
	case SNAP_REC_ZERO:
		if (r->arg1 < 1 || r->arg1 > SNAP_STREAM_MAX_RUN)
			return bad(err, errlen, r, "page count out of range");
		if (r->arg0 > max_pages || r->arg1 > max_pages - r->arg0)
			return bad(err, errlen, r, "pages past the end of guest RAM");
		if (r->len != (r->type == SNAP_REC_RAM ? r->arg1 * SNAP_STREAM_PAGE : 0))
			return bad(err, errlen, r, "payload length does not match the page count");
		break;
	case SNAP_REC_CONFIG:
		if (r->len < 2 || r->len > SNAP_STREAM_MAX_CONFIG)
			return bad(err, errlen, r, "configuration size out of range");
		if (!r->arg0 || r->arg0 % SNAP_STREAM_PAGE || r->arg0 > (1ull << 46))
			return bad(err, errlen, r, "RAM size out of range");
		if (r->arg1 & ~(uint64_t)SNAP_STREAM_BOARD_KNOWN)
			return bad(err, errlen, r, "unknown board devices");
		break;
	case SNAP_REC_STATE:
		if (r->len < 64 || r->len > SNAP_MAX_FILE)
			return bad(err, errlen, r, "state size out of range");
		break;
	case SNAP_REC_ERROR:
		if (r->len > SNAP_STREAM_MAX_MSG)
			return bad(err, errlen, r, "message too long");
		break;
	default:
		if (r->len)
			return bad(err, errlen, r, "unexpected payload");
		break;
	}
	if (r->len == 0 && r->check != rec_check(in, NULL, 0))
		return bad(err, errlen, r, "checksum mismatch (the stream is corrupted)");
	return 0;
}

bool snap_stream_check_ok(const uint8_t hdr[SNAP_STREAM_REC_SIZE], const struct snap_rec *r,
			  const void *payload)
{
	return rec_check(hdr, payload, r->len) == r->check;
}

bool snap_stream_is_zero(const void *p, size_t len)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

static int rd(snap_stream_read_fn read, void *rctx, struct snap_stream_sink *s, void *buf,
	      size_t len, char *err, size_t errlen)
{
	int ret = read(rctx, buf, len);

	if (ret) {
		if (ret == -EPIPE)
			snprintf(err, errlen, "the migration stream ended after %llu bytes (truncated: "
				 "the source stopped or the connection broke)",
				 (unsigned long long)s->bytes);
		else
			snprintf(err, errlen, "reading the migration stream after %llu bytes: %s",
				 (unsigned long long)s->bytes, strerror(-ret));
		/* The transport's (the peer closed early, a timeout), not the
		 * stream's content: the host's. */
		return err_host(ret);
	}
	s->bytes += len;
	return 0;
}

int snap_stream_receive(snap_stream_read_fn read, void *rctx, struct snap_stream_sink *s,
			char *err, size_t errlen)
{
	uint8_t h[SNAP_STREAM_REC_SIZE];
	bool have_config = false, have_state = false;
	struct snap_rec r;
	int ret;

	s->bytes = 0;
	if ((ret = rd(read, rctx, s, h, SNAP_STREAM_HDR_SIZE, err, errlen)))
		return ret;
	if ((ret = snap_stream_check_header(h, err, errlen)))
		return err_usage(ret);
	for (;;) {
		uint64_t at = s->bytes;
		uint8_t *buf = NULL;
		void *dst;

		if ((ret = rd(read, rctx, s, h, sizeof(h), err, errlen)))
			return ret;
		if ((ret = snap_stream_parse(h, s->max_pages, &r, err, errlen)))
			goto bad_at;
		/* The order the source keeps: CONFIG, RAM and ZERO runs with SYNCs
		 * between them, STATE, END. */
		bool pages = r.type == SNAP_REC_RAM || r.type == SNAP_REC_ZERO ||
			     r.type == SNAP_REC_SYNC;

		if ((r.type == SNAP_REC_CONFIG) == have_config ||
		    ((pages || r.type == SNAP_REC_STATE) && have_state) ||
		    (r.type == SNAP_REC_END && !have_state) ||
		    (r.type != SNAP_REC_CONFIG && !pages && r.type != SNAP_REC_STATE &&
		     r.type != SNAP_REC_END)) {
			snprintf(err, errlen, "migration stream: a %s record is out of order",
				 snap_rec_name(r.type));
			ret = -EINVAL;
			goto bad_at;
		}
		switch (r.type) {
		case SNAP_REC_ZERO:
			s->zero(s->ctx, r.arg0, r.arg1);
			continue;
		case SNAP_REC_RAM:
			if (!(dst = s->ram(s->ctx, r.arg0, r.arg1))) {
				snprintf(err, errlen, "migration stream: RAM pages %llu+%llu have no "
					 "place", (unsigned long long)r.arg0, (unsigned long long)r.arg1);
				ret = -EINVAL;
				goto bad_at;
			}
			if ((ret = rd(read, rctx, s, dst, r.len, err, errlen)))
				return ret;
			if (!snap_stream_check_ok(h, &r, dst)) {
				snprintf(err, errlen, "migration stream: RAM pages %llu+%llu: checksum "
					 "mismatch (the stream is corrupted)",
					 (unsigned long long)r.arg0, (unsigned long long)r.arg1);
				ret = -EINVAL;
				goto bad_at;
			}
			continue;
		case SNAP_REC_SYNC:
			if (s->sync && (ret = s->sync(s->ctx, r.arg0, err, errlen)))
				return ret;
			continue;
		case SNAP_REC_END:
			return 0;
		default:
			break;
		}
		/* CONFIG and STATE: read whole, check, hand over. */
		if (!(buf = malloc(r.len + 1))) {
			snprintf(err, errlen, "out of memory for a %u-byte %s record", r.len,
				 snap_rec_name(r.type));
			return err_host(-ENOMEM);
		}
		if ((ret = rd(read, rctx, s, buf, r.len, err, errlen))) {
			free(buf);
			return ret;
		}
		if (!snap_stream_check_ok(h, &r, buf)) {
			free(buf);
			snprintf(err, errlen, "migration stream: %s record: checksum mismatch (the "
				 "stream is corrupted)", snap_rec_name(r.type));
			ret = -EINVAL;
			goto bad_at;
		}
		buf[r.len] = 0;
		if (r.type == SNAP_REC_CONFIG) {
			have_config = true;
			ret = s->config(s->ctx, (const char *)buf, r.len, r.arg0, r.arg1, err, errlen);
			free(buf);
		} else {
			have_state = true;
			ret = s->state(s->ctx, buf, r.len, err, errlen);
		}
		if (ret)
			return ret;
		continue;
bad_at:
		{
			size_t n = strlen(err);

			snprintf(err + n, errlen > n ? errlen - n : 0, " (record at byte %llu)",
				 (unsigned long long)at);
		}
		return err_usage(ret);   /* the stream broke a rule: its content's */
	}
}
