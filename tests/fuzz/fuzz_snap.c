/* fuzz_snap.c - libFuzzer target for the snapshot state file reader (src/snap/format.c).
 *
 * Build: make BUILD=build-x fuzz   (clang -fsanitize=fuzzer,address,undefined; see the Makefile)
 * Run:   build-x/fuzz/fuzz_snap -max_len=4096 tests/fuzz/corpus/snap   (copy the corpus first
 *        to keep what the run finds out of the tree)
 * Seeds: tests/fuzz/corpus/snap/ was written by the writer: `make BUILD=build-x fuzz-snap-seeds`
 *        builds this file with -DFUZZ_SNAP_GEN_SEEDS (a plain program) and runs it on the folder.
 * The unit tests include this file with FUZZ_SNAP_NO_MAIN and drive fuzz_snap_one() over
 * mutations of a real state file (tests/unit/test_snap_format.c), so the same invariants run
 * in every `make unit`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snap/format.h"

static void fuzz_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Make every CRC in BUF right, walking the sections as far as their lengths
 * allow: random mutations almost never pass a CRC, and this lets the fuzzer
 * reach the checks behind them (names, duplicates, lengths, padding, counts). */
static void fuzz_snap_fix_crcs(uint8_t *b, size_t size)
{
	size_t off = SNAP_HEADER_SIZE, end;
	uLong crc;

	if (size < SNAP_HEADER_SIZE + SNAP_END_SIZE)
		return;
	end = size - SNAP_END_SIZE;
	crc = crc32(0, b, SNAP_HEADER_SIZE);
	while (end - off >= SNAP_SECTION_HDR) {
		uint64_t len = 0;

		for (int i = 7; i >= 0; i--)
			len = len << 8 | b[off + 24 + i];
		if (len <= end - off - SNAP_SECTION_HDR)
			fuzz_put32(b + off + 20, (uint32_t)crc32(0, b + off + SNAP_SECTION_HDR, (uInt)len));
		crc = crc32(crc, b + off, SNAP_SECTION_HDR);
		if (len > end - off - SNAP_SECTION_HDR)
			break;
		len += (SNAP_ALIGN - len % SNAP_ALIGN) % SNAP_ALIGN;
		if (len > end - off - SNAP_SECTION_HDR)
			break;
		off += SNAP_SECTION_HDR + len;
	}
	crc = crc32(crc, b + end, 28);
	fuzz_put32(b + end + 28, (uint32_t)crc);
}

/* Parse one buffer (an exact-size heap copy, so a read past it is caught by
 * ASan) and check what the reader promises. With FIX_CRCS, the CRCs are
 * made right first. Returns 0, or the number of the broken invariant. */
static int fuzz_snap_parse(const uint8_t *data, size_t size, int fix_crcs)
{
	struct snap_reader r;
	char err[256];
	uint8_t *buf = malloc(size ? size : 1);
	int ret, bad = 0;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (fix_crcs)
		fuzz_snap_fix_crcs(buf, size);
	err[0] = 0;
	ret = snap_reader_parse(&r, buf, size, "fuzz", err, sizeof(err));
	if (ret) {
		/* Refused: with a message naming the file, and an errno. */
		if (ret > 0 || strncmp(err, "snapshot fuzz: ", 15))
			bad = 1;
		free(buf);
		return bad;
	}
	if (r.hdr.format_version != SNAP_FORMAT_VERSION || (r.hdr.flags & ~SNAP_F_KNOWN) ||
	    !memchr(r.hdr.mvm_version, 0, sizeof(r.hdr.mvm_version)) || r.hdr.cpu_vendor[SNAP_VENDOR_LEN])
		bad = 2;
	if (r.nsec > SNAP_MAX_SECTIONS || size < SNAP_HEADER_SIZE + SNAP_END_SIZE + r.nsec * SNAP_SECTION_HDR)
		bad = 3;
	for (uint32_t i = 0; i < r.nsec && !bad; i++) {
		const struct snap_section *s = &r.sec[i];
		const void *p;
		size_t len;
		uint32_t ver;

		/* Inside the buffer, after the header, before the end marker. */
		if (s->data < buf + SNAP_HEADER_SIZE || s->len > size ||
		    (size_t)(s->data - buf) > size - SNAP_END_SIZE - s->len)
			bad = 4;
		else if (!snap_name_valid(s->name))
			bad = 5;
		else if (snap_find(&r, s->name, &ver, &p, &len) || p != s->data || len != s->len ||
			 ver != s->version)
			bad = 6;     /* also catches a duplicate name: find returns the first */
	}
	if (!bad && snap_reader_unclaimed(&r))
		bad = 7;
	snap_reader_close(&r);
	free(buf);
	return bad;
}

/* Each input twice: as it is, and with its CRCs made right. */
__attribute__((unused)) static int fuzz_snap_one(const uint8_t *data, size_t size)
{
	int bad = fuzz_snap_parse(data, size, 0);

	return bad ? bad : fuzz_snap_parse(data, size, 1);
}

#ifdef FUZZ_SNAP_GEN_SEEDS
/* Write the seed corpus into DIR: an empty state file and a small one with
 * sections of the shapes mvm writes (a padded payload, an empty one, a
 * 16-byte name). */
static int fuzz_snap_gen_seeds(const char *dir)
{
	static const struct snap_header_info info = {
		.flags = 0, .mvm_version = "0.1.0", .cpu_vendor = "AuthenticAMD",
	};
	static const uint8_t cpu[13] = "rip=0xfff0,cr";
	static const uint8_t dev[24] = { 1, 0, 0, 0, 2, 0, 0, 0, 0xff };
	struct snap_writer w;
	char path[512];

	snprintf(path, sizeof(path), "%s/empty", dir);
	if (snap_writer_open(&w, path, &info) || snap_writer_commit(&w))
		goto fail;
	snprintf(path, sizeof(path), "%s/small", dir);
	if (snap_writer_open(&w, path, &info) || snap_write_section(&w, "vcpu.0", 1, cpu, sizeof(cpu)) ||
	    snap_write_section(&w, "devices", 2, dev, sizeof(dev)) ||
	    snap_write_section(&w, "none", 1, NULL, 0) ||
	    snap_write_section(&w, "0123456789abcdef", 1, "x", 1) || snap_writer_commit(&w))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "%s\n", snap_writer_msg(&w));
	return 1;
}

int main(int argc, char **argv)
{
	return argc == 2 ? fuzz_snap_gen_seeds(argv[1]) : 2;
}
#elif !defined(FUZZ_SNAP_NO_MAIN)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_snap_one(data, size))
		abort();
	return 0;
}
#endif
