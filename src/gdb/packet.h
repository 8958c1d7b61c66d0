/* packet.h - the GDB remote serial protocol's framing: pure byte handling, no I/O.
 *
 * Contract: gdb_rx_feed() takes the client's bytes one at a time and says
 * when a whole packet ($payload#cs) arrived, with a good or bad checksum, or
 * an ack, a nak or an interrupt (0x03 outside a packet); anything else
 * outside a packet is dropped. A payload longer than GDB_PACKET_MAX is never
 * stored: its bytes are counted into the checksum and dropped, and the
 * packet ends as GDB_RX_OVERSIZE. gdb_frame() builds "$...#cs" for a reply,
 * escaping '$', '#', '}' and '*' and run-length encoding repeats;
 * gdb_unescape() undoes the escaping of a binary payload (X packets). Hex
 * helpers refuse anything that is not hex. Nothing here allocates.
 */
#ifndef MVM_GDB_PACKET_H
#define MVM_GDB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GDB_PACKET_MAX 4096      /* the PacketSize mvm announces: its largest payload */
#define GDB_FRAME_MAX  (2 * GDB_PACKET_MAX + 8)  /* a reply framed, every byte escaped */

enum gdb_rx_event {
	GDB_RX_NONE = 0,     /* keep feeding */
	GDB_RX_PACKET,       /* rx->buf[0..len) holds a payload with a good checksum */
	GDB_RX_BAD_CSUM,     /* a packet whose checksum did not match (or was not hex) */
	GDB_RX_OVERSIZE,     /* a packet longer than GDB_PACKET_MAX, dropped */
	GDB_RX_ACK,          /* '+' */
	GDB_RX_NAK,          /* '-': send the last reply again */
	GDB_RX_INTERRUPT,    /* 0x03 outside a packet: stop the target */
};

struct gdb_rx {
	int state;
	uint8_t sum;         /* running sum of the payload's bytes */
	uint8_t csum;        /* the checksum as sent */
	bool overflow;
	size_t len;
	char buf[GDB_PACKET_MAX + 1];   /* NUL-terminated for the parsers' convenience */
};

void gdb_rx_init(struct gdb_rx *rx);
enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t c);

/* "$" payload "#" checksum into out; rle: compress runs. Returns the frame's
 * length, or -1 when it does not fit in cap. */
int gdb_frame(char *out, size_t cap, const char *payload, size_t len, bool rle);
/* Expand a framed payload's run-length encoding (what a client does): the
 * decoded length, or -1 on a malformed run or when it does not fit. */
int gdb_rle_decode(char *out, size_t cap, const char *in, size_t len);
/* Undo '}' escapes: the decoded length, or -1 (a trailing '}', or no room). */
int gdb_unescape(uint8_t *out, size_t cap, const char *in, size_t len);

/* len bytes from 2*len hex digits: 0, or -1 on a non-hex digit. */
int gdb_hex_decode(uint8_t *out, const char *hex, size_t len);
/* 2*len hex digits (lower case) and a NUL into out. */
void gdb_hex_encode(char *out, const uint8_t *in, size_t len);
/* A hex number of 1 to 16 digits at *p; *p moves past it. 0 or -1. */
int gdb_parse_hex(const char **p, uint64_t *v);

#endif
