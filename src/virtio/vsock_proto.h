/* vsock_proto.h - virtio-vsock's wire format (virtio 1.2 spec 5.10) and the
 * two parsers of untrusted input: a packet header from the guest and the
 * CONNECT line of a host client (Firecracker's hybrid Unix-socket protocol).
 *
 * Contract: pure functions, no I/O, no allocation. vsock_hdr_check() takes a
 * header copied out of a guest tx chain and the number of payload bytes that
 * chain really holds after it, and says whether the packet may be acted on:
 * 0 (fine), VSOCK_BAD_DROP (the packet names a CID that is not this guest's
 * or not the host's, or lies about its length: dropped, nobody to answer),
 * VSOCK_BAD_RST (well-addressed but unusable: an unknown op or socket type,
 * payload outside RW, flags outside SHUTDOWN: the spec's answer is RST).
 * *why names the refused field for the log. vsock_connect_parse() reads one
 * "CONNECT <port>\n" line (decimal, 0..4294967295, no sign, no spaces
 * inside the number, at most VSOCK_LINE_MAX bytes with the newline).
 */
#ifndef MVM_VIRTIO_VSOCK_PROTO_H
#define MVM_VIRTIO_VSOCK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define VIRTIO_ID_VSOCK 19

#define VSOCK_HOST_CID   2u     /* the host, as the guest addresses it */
#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV  1u  /* the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2u  /* the sender will send no more */

#define VSOCK_EVENT_TRANSPORT_RESET 0

/* Largest payload in one packet either way (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PAYLOAD (64u * 1024)

/* Every field little-endian (x86 is). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_LEN 44
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_LEN, "virtio 1.2 5.10.6");

#define VSOCK_BAD_DROP 1
#define VSOCK_BAD_RST  2

/* Is h (from the guest whose CID is guest_cid, payload bytes after it in
 * its chain) a packet to act on? 0, VSOCK_BAD_DROP or VSOCK_BAD_RST; *why
 * names the field. */
int vsock_hdr_check(const struct vsock_hdr *h, uint64_t guest_cid, size_t payload,
		    const char **why);

/* "CONNECT 1234\n" is 13 bytes; room for the largest port and a little slack. */
#define VSOCK_LINE_MAX 32

/* buf[0..len) holds what a host client sent so far. 1: a whole line, the
 * port in *port and its length (newline included) in *used; 0: no newline
 * yet and still room for one; -EINVAL: not a CONNECT line (or too long). */
int vsock_connect_parse(const char *buf, size_t len, uint32_t *port, size_t *used);

#endif
