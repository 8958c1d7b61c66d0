/* packet.c - GDB remote protocol framing: the receive state machine, reply framing with
 * escapes and run-length encoding, hex. */
#include "gdb/packet.h"
#include "util/hex.h"

#include <string.h>

enum { RX_IDLE, RX_DATA, RX_CSUM1, RX_CSUM2 };

void gdb_rx_init(struct gdb_rx *rx)
{
	rx->state = RX_IDLE;
	rx->sum = 0;
	rx->csum = 0;
	rx->overflow = false;
	rx->len = 0;
	rx->buf[0] = '\0';
}


/* A '$' always starts a packet afresh, even inside one: the client gave up on the old one. */
static void rx_start(struct gdb_rx *rx)
{
	gdb_rx_init(rx);
	rx->state = RX_DATA;
}

enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t c)
{
	int h;

	switch (rx->state) {
	case RX_IDLE:
		if (c == '$')
			rx_start(rx);
		else if (c == '+')
			return GDB_RX_ACK;
		else if (c == '-')
			return GDB_RX_NAK;
		else if (c == 0x03)
			return GDB_RX_INTERRUPT;
		return GDB_RX_NONE;   /* line noise */
	case RX_DATA:
		if (c == '$') {
			rx_start(rx);
		} else if (c == '#') {
			rx->state = RX_CSUM1;
		} else {
			rx->sum += c;
			if (rx->len < GDB_PACKET_MAX)
				rx->buf[rx->len++] = (char)c;
			else
				rx->overflow = true;
		}
		return GDB_RX_NONE;
	case RX_CSUM1:
		h = hex_digit((char)c);
		if (h < 0) {
			rx->state = RX_IDLE;
			rx->len = 0;
			return GDB_RX_BAD_CSUM;
		}
		rx->csum = (uint8_t)(h << 4);
		rx->state = RX_CSUM2;
		return GDB_RX_NONE;
	default:
		rx->state = RX_IDLE;
		h = hex_digit((char)c);
		rx->buf[rx->len] = '\0';
		if (h < 0 || (uint8_t)(rx->csum | h) != rx->sum) {
			rx->len = 0;
			return GDB_RX_BAD_CSUM;
		}
		if (rx->overflow) {
			rx->len = 0;
			rx->buf[0] = '\0';
			return GDB_RX_OVERSIZE;
		}
		return GDB_RX_PACKET;
	}
}

static bool needs_escape(char c)
{
	return c == '$' || c == '#' || c == '}' || c == '*';
}

/* Repeat counts are sent as count + 29; '#' and '$' (6 and 7 repeats) are not allowed. */
static size_t rle_extra(size_t run)
{
	size_t extra = run - 1;

	if (extra > 97)
		extra = 97;   /* '~' */
	if (extra == 6 || extra == 7)
		extra = 5;
	return extra;
}

int gdb_frame(char *out, size_t cap, const char *payload, size_t len, bool rle)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0, i = 0;
	uint8_t sum = 0;

#define PUT(ch) do { if (n >= cap) return -1; out[n++] = (ch); } while (0)
#define PUTSUM(ch) do { char c_ = (ch); PUT(c_); sum += (uint8_t)c_; } while (0)
	PUT('$');
	while (i < len) {
		char c = payload[i];
		size_t run = 1;

		if (needs_escape(c)) {
			PUTSUM('}');
			PUTSUM((char)(c ^ 0x20));
			i++;
			continue;
		}
		while (rle && i + run < len && payload[i + run] == c)
			run++;
		PUTSUM(c);
		if (run >= 4) {
			size_t extra = rle_extra(run);

			PUTSUM('*');
			PUTSUM((char)(extra + 29));
			i += 1 + extra;
		} else {
			i++;
		}
	}
	PUT('#');
	PUT(hex[sum >> 4]);
	PUT(hex[sum & 0xf]);
#undef PUTSUM
#undef PUT
	return (int)n;
}

int gdb_rle_decode(char *out, size_t cap, const char *in, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '*') {
			int extra;

			if (n == 0 || i + 1 >= len)
				return -1;
			extra = (uint8_t)in[++i] - 29;
			if (extra < 0 || n + (size_t)extra > cap)
				return -1;
			memset(out + n, out[n - 1], (size_t)extra);
			n += (size_t)extra;
			continue;
		}
		if (n >= cap)
			return -1;
		out[n++] = in[i];
	}
	return (int)n;
}

int gdb_unescape(uint8_t *out, size_t cap, const char *in, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)in[i];

		if (c == '}') {
			if (i + 1 >= len)
				return -1;
			c = (uint8_t)in[++i] ^ 0x20;
		}
		if (n >= cap)
			return -1;
		out[n++] = c;
	}
	return (int)n;
}

int gdb_hex_decode(uint8_t *out, const char *hex, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(hex[2 * i]), lo;

		if (hi < 0)
			return -1;
		lo = hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void gdb_hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int gdb_parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int h, n = 0;

	while ((h = hex_digit(*s)) >= 0) {
		if (++n > 16)
			return -1;
		x = x << 4 | (uint64_t)h;
		s++;
	}
	if (!n)
		return -1;
	*v = x;
	*p = s;
	return 0;
}
