/* stream.h - the live-migration stream: a header, then typed, checksummed records.
 *
 * Contract: this module knows bytes, nothing of KVM, sockets or devices; the
 * caller moves the bytes (vmm/migrate.c over a socket, unit tests in
 * memory). Every integer is little-endian.
 *
 *   header   16 bytes: magic "MVMMIGR\0", u32 version (SNAP_STREAM_VERSION),
 *            u32 check: the low 32 bits of XXH64 (seed 0) of the first 12 bytes
 *   record   32 bytes: u32 type, u32 payload length, u64 arg0, u64 arg1,
 *            u64 check: XXH64 of the payload (empty or not) seeded with
 *            XXH64 (seed 0) of the record's first 24 bytes, so it covers
 *            header and payload; then the payload (no padding)
 * XXH64 is libxxhash's (Debian's libxxhash-dev), the same function on
 * every machine, little-endian in the stream like every other integer.
 *
 * Version 5: CONFIG's arg1 names the board devices a multiboot kernel's VM
 * has beside the configuration's (fw_cfg, the ACPI PM1 blocks and S3): the
 * destination builds its VM when CONFIG arrives, long before the state, and
 * cannot tell them from the JSON (before, such a VM was refused at the end:
 * "the snapshot has 7 devices; its configuration gives 5"). Version 4: SYNC and SYNCED, so the source knows when the destination has
 * read everything it sent (a RAM pass leaves megabytes in the sockets'
 * buffers; without the barrier they were read after the pause, inside the
 * downtime). Version 3: XXH64 instead of version 2's CRC-32C. Natively both cost about
 * the same (92 MiB: CRC-32C 10 ms, XXH64 10 ms), but in the test host's
 * QEMU TCG emulation, where the benchmarks run, CRC-32C took 750 ms per
 * 92 MiB on each side and XXH64 33 ms (XXH3_64 310 ms, XXH32 75 ms): most of
 * the gap between mvm's and QEMU's total migration time there. Version 2
 * had replaced version 1's zlib CRC-32, which cost the source about as much
 * CPU per byte of RAM as everything else it does to send it.
 *
 * Records, source to destination:
 *   CONFIG  payload: the VM's configuration (Firecracker JSON), arg0 = the
 *           guest's RAM size in bytes, arg1 = SNAP_STREAM_BOARD_* bits (others
 *           refused); first, exactly once
 *   RAM     arg0 = first page (4 KiB pages of the RAM mapping), arg1 = page
 *           count (1..SNAP_STREAM_MAX_RUN); payload: the pages
 *   ZERO    arg0, arg1 as RAM; no payload: the pages are all zero
 *   SYNC    arg0 = a number; the destination answers SYNCED with it once it
 *           has read every record before it; after CONFIG, before STATE
 *   STATE   payload: a state file (snap/format.h) held in memory, the same
 *           sections a snapshot's vmstate has; exactly once, after the RAM
 *   END     nothing more follows
 *   RELEASED  the source closed its disks (hand-over, see vmm/migrate.h)
 * and destination to source:
 *   SYNCED  arg0 = the SYNC's number
 *   READY   everything is loaded; the destination waits for RELEASED
 *   GO      the destination took the disks and runs the guest
 *   ERROR   payload: a message (at most SNAP_STREAM_MAX_MSG bytes)
 *
 * snap_stream_check_header() and snap_stream_parse() refuse, with one line
 * in err: another magic (not a migration stream), another version (checked
 * before the header's check, whose algorithm is the version's), a checksum
 * mismatch, an unknown type, a payload length a type does not allow (a RAM
 * run whose length is not count * 4 KiB, a ZERO run with a payload, a
 * state over SNAP_MAX_FILE...), a page run past the RAM (max_pages). A
 * record with a payload has its check verified by snap_stream_check_ok()
 * after the caller read the payload where it belongs (guest RAM for a RAM
 * run); snap_stream_parse() verifies it for a record without one.
 */
#ifndef MVM_SNAP_STREAM_H
#define MVM_SNAP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_STREAM_MAGIC      "MVMMIGR"       /* 8 bytes with its NUL */
#define SNAP_STREAM_VERSION    5u
#define SNAP_STREAM_HDR_SIZE   16u
#define SNAP_STREAM_REC_SIZE   32u
#define SNAP_STREAM_PAGE       4096u
#define SNAP_STREAM_MAX_RUN    256u            /* pages in one RAM record: 1 MiB */
#define SNAP_STREAM_MAX_CONFIG (64u << 10)
#define SNAP_STREAM_MAX_MSG    1024u

/* CONFIG's arg1: board devices the builder adds for a multiboot kernel. */
#define SNAP_STREAM_BOARD_FW_CFG    1u   /* QEMU's fw_cfg ports (board/fw_cfg.h) */
#define SNAP_STREAM_BOARD_LEGACY_PM 2u   /* ACPI PM1 blocks and S3 (board/acpi_pm1.h) */
#define SNAP_STREAM_BOARD_KNOWN     3u

enum snap_rec_type {
	SNAP_REC_CONFIG = 1,
	SNAP_REC_RAM,
	SNAP_REC_ZERO,
	SNAP_REC_STATE,
	SNAP_REC_END,
	SNAP_REC_RELEASED,
	SNAP_REC_READY,
	SNAP_REC_GO,
	SNAP_REC_ERROR,
	SNAP_REC_SYNC,
	SNAP_REC_SYNCED,
	SNAP_REC_MAX_TYPE = SNAP_REC_SYNCED,
};

struct snap_rec {
	uint32_t type;
	uint32_t len;       /* payload bytes */
	uint64_t arg0, arg1;
	uint64_t check;     /* XXH64 over the header's first 24 bytes and the payload */
};

/* The record type's name ("RAM", ...) or "unknown". */
const char *snap_rec_name(uint32_t type);

void snap_stream_put_header(uint8_t out[SNAP_STREAM_HDR_SIZE]);
/* 0, or -EINVAL with err saying what is wrong (the peer is not mvm, or another version). */
int snap_stream_check_header(const uint8_t in[SNAP_STREAM_HDR_SIZE], char *err, size_t errlen);

/* Fill out (32 bytes) for a record of type with LEN payload bytes at
 * PAYLOAD (NULL when len is 0). */
void snap_stream_put_rec(uint8_t out[SNAP_STREAM_REC_SIZE], uint32_t type, uint64_t arg0,
			 uint64_t arg1, const void *payload, uint32_t len);

/* Decode and check a record header. max_pages: pages of RAM the
 * destination has (RAM/ZERO runs must lie inside). 0 or -EINVAL with err. */
int snap_stream_parse(const uint8_t in[SNAP_STREAM_REC_SIZE], uint64_t max_pages,
		      struct snap_rec *r, char *err, size_t errlen);

/* Does the record's check match its header and this payload (r->len bytes)? */
bool snap_stream_check_ok(const uint8_t hdr[SNAP_STREAM_REC_SIZE], const struct snap_rec *r,
			  const void *payload);

/* Whether a page is all zero (len a multiple of 8). */
bool snap_stream_is_zero(const void *p, size_t len);

/* The destination's side of the stream, over any byte source. read()
 * fills exactly len bytes (0) or fails (-errno; -EPIPE for a stream that
 * ended). The sink takes the records as they come:
 *   config(): first, once, with CONFIG's arg1 as board; it sets max_pages (RAM runs are checked
 *             against it) and makes the RAM ram() points into
 *   ram():    where the RUN of npages pages goes (the payload is read
 *             there, then its check verified); zero(): those pages are zero
 *   state():  the state file's bytes (malloc'd; the sink owns them)
 *   sync():   a SYNC's number, to be answered (NULL: SYNC is read and passed)
 * snap_stream_receive() returns 0 after END, having seen the header, one
 * CONFIG, any RAM/ZERO runs and SYNCs, one STATE, in that order; otherwise -EINVAL
 * (the stream broke a rule, err says which, at which byte: marked the
 * input's, util/err.h), a read's error (err: "the stream ended after N
 * bytes"; marked the host's: the transport), or a sink's error. */
struct snap_stream_sink {
	void *ctx;
	uint64_t max_pages;
	int (*config)(void *ctx, const char *json, size_t len, uint64_t ram_size,
		      uint64_t board, char *err, size_t errlen);
	void *(*ram)(void *ctx, uint64_t first_page, uint64_t npages);
	void (*zero)(void *ctx, uint64_t first_page, uint64_t npages);
	int (*state)(void *ctx, uint8_t *buf, size_t len, char *err, size_t errlen);
	int (*sync)(void *ctx, uint64_t seq, char *err, size_t errlen);
	uint64_t bytes;          /* read so far */
};
typedef int (*snap_stream_read_fn)(void *ctx, void *buf, size_t len);
int snap_stream_receive(snap_stream_read_fn read, void *rctx, struct snap_stream_sink *s,
			char *err, size_t errlen);

#endif
