/* vsock_proto.c - virtio-vsock header checks and the CONNECT line parser. */
#include "virtio/vsock_proto.h"

#include <errno.h>
#include <string.h>

int vsock_hdr_check(const struct vsock_hdr *h, uint64_t guest_cid, size_t payload,
		    const char **why)
{
	*why = NULL;
	if (h->src_cid != guest_cid) {
		*why = "src_cid is not the guest's CID";
		return VSOCK_BAD_DROP;
	}
	if (h->dst_cid != VSOCK_HOST_CID) {
		*why = "dst_cid is not the host (2)";
		return VSOCK_BAD_DROP;
	}
	if (h->len > payload) {
		*why = "len is past the end of the buffer";
		return VSOCK_BAD_DROP;
	}
	if (h->len > VSOCK_MAX_PAYLOAD) {
		*why = "len is over 64 KiB";
		return VSOCK_BAD_DROP;
	}
	if (h->type != VSOCK_TYPE_STREAM) {
		*why = "type is not STREAM";
		return VSOCK_BAD_RST;
	}
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST) {
		*why = "op is unknown";
		return VSOCK_BAD_RST;
	}
	if (h->len && h->op != VSOCK_OP_RW) {
		*why = "payload on a packet other than RW";
		return VSOCK_BAD_RST;
	}
	if (h->op == VSOCK_OP_SHUTDOWN ? (h->flags & ~3u) != 0 : h->flags != 0) {
		*why = "flags are not valid for the op";
		return VSOCK_BAD_RST;
	}
	return 0;
}

int vsock_connect_parse(const char *buf, size_t len, uint32_t *port, size_t *used)
{
	static const char word[] = "CONNECT ";
	const size_t wl = sizeof(word) - 1;
	const char *nl;
	uint64_t v = 0;
	size_t i;

	/* Refuse garbage as soon as its first bytes show it. */
	if (memcmp(buf, word, len < wl ? len : wl))
		return -EINVAL;
	nl = memchr(buf, '\n', len > VSOCK_LINE_MAX ? VSOCK_LINE_MAX : len);
	if (!nl)
		return len >= VSOCK_LINE_MAX ? -EINVAL : 0;
	if ((size_t)(nl - buf) <= wl)
		return -EINVAL;   /* "CONNECT \n": no port */
	for (i = wl; buf + i < nl; i++) {
		if (buf[i] == '\r' && buf + i + 1 == nl)
			break;    /* tolerate a CRLF client */
		if (buf[i] < '0' || buf[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (i == wl)
		return -EINVAL;
	*port = (uint32_t)v;
	*used = (size_t)(nl - buf) + 1;
	return 1;
}
