/* test_gdb_packet.c - GDB remote protocol framing: checksums, acks, interrupts, garbage,
 * oversize packets, escaping and run-length encoding, hex parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gdb/packet.h"

/* Feed a string; return the last event that was not NONE (and how many there were). */
static enum gdb_rx_event feed(struct gdb_rx *rx, const char *s, size_t len, int *count)
{
	enum gdb_rx_event last = GDB_RX_NONE, e;

	*count = 0;
	for (size_t i = 0; i < len; i++) {
		e = gdb_rx_feed(rx, (uint8_t)s[i]);
		if (e != GDB_RX_NONE) {
			last = e;
			(*count)++;
		}
	}
	return last;
}

static void test_rx_good_packet(void **st)
{
	struct gdb_rx rx;
	int n;

	(void)st;
	gdb_rx_init(&rx);
	/* "g" sums to 0x67. */
	assert_int_equal(feed(&rx, "$g#67", 5, &n), GDB_RX_PACKET);
	assert_int_equal(n, 1);
	assert_int_equal(rx.len, 1);
	assert_string_equal(rx.buf, "g");
	/* Upper-case checksum digits, and a second packet on the same machine. */
	assert_int_equal(feed(&rx, "$m10,4#2E", 9, &n), GDB_RX_PACKET);
	assert_string_equal(rx.buf, "m10,4");
	/* An empty packet is valid. */
	assert_int_equal(feed(&rx, "$#00", 4, &n), GDB_RX_PACKET);
	assert_int_equal(rx.len, 0);
}

static void test_rx_bad_checksum(void **st)
{
	struct gdb_rx rx;
	int n;

	(void)st;
	gdb_rx_init(&rx);
	assert_int_equal(feed(&rx, "$g#68", 5, &n), GDB_RX_BAD_CSUM);
	assert_int_equal(feed(&rx, "$g#6z", 5, &n), GDB_RX_BAD_CSUM);
	assert_int_equal(feed(&rx, "$g#x7", 5, &n), GDB_RX_BAD_CSUM);
	/* The machine is back at idle: the next good packet arrives whole. */
	assert_int_equal(feed(&rx, "$g#67", 5, &n), GDB_RX_PACKET);
}

static void test_rx_acks_interrupt_noise(void **st)
{
	struct gdb_rx rx;

	(void)st;
	gdb_rx_init(&rx);
	assert_int_equal(gdb_rx_feed(&rx, '+'), GDB_RX_ACK);
	assert_int_equal(gdb_rx_feed(&rx, '-'), GDB_RX_NAK);
	assert_int_equal(gdb_rx_feed(&rx, 0x03), GDB_RX_INTERRUPT);
	for (int c = 0; c < 256; c++)
		if (c != '$' && c != '+' && c != '-' && c != 3)
			assert_int_equal(gdb_rx_feed(&rx, (uint8_t)c), GDB_RX_NONE);
	/* 0x03 inside a packet is data, '$' inside a packet starts a new one. */
	int n;

	assert_int_equal(feed(&rx, "$a\003b#c6", 8, &n), GDB_RX_PACKET);
	assert_int_equal(rx.len, 3);
	assert_int_equal(feed(&rx, "$junk$g#67", 10, &n), GDB_RX_PACKET);
	assert_string_equal(rx.buf, "g");
}

static void test_rx_oversize(void **st)
{
	static char big[GDB_PACKET_MAX + 100];
	struct gdb_rx rx;
	uint8_t sum = 0;
	char tail[8];
	int n;

	(void)st;
	gdb_rx_init(&rx);
	memset(big, 'a', sizeof(big));
	big[0] = '$';
	for (size_t i = 1; i < sizeof(big); i++)
		sum += (uint8_t)big[i];
	assert_int_equal(feed(&rx, big, sizeof(big), &n), GDB_RX_NONE);
	snprintf(tail, sizeof(tail), "#%02x", sum);
	assert_int_equal(feed(&rx, tail, 3, &n), GDB_RX_OVERSIZE);
	assert_int_equal(rx.len, 0);
	/* Exactly GDB_PACKET_MAX bytes still fits. */
	sum = 0;
	for (size_t i = 1; i <= GDB_PACKET_MAX; i++)
		sum += 'a';
	snprintf(tail, sizeof(tail), "#%02x", sum);
	assert_int_equal(feed(&rx, big, GDB_PACKET_MAX + 1, &n), GDB_RX_NONE);
	assert_int_equal(feed(&rx, tail, 3, &n), GDB_RX_PACKET);
	assert_int_equal(rx.len, GDB_PACKET_MAX);
}

/* What a client does with a frame: check the sum, undo RLE. */
static int client_decode(const char *frame, int flen, char *out, size_t cap)
{
	uint8_t sum = 0;
	unsigned got;

	assert_true(flen >= 4);
	assert_int_equal(frame[0], '$');
	assert_int_equal(frame[flen - 3], '#');
	for (int i = 1; i < flen - 3; i++)
		sum += (uint8_t)frame[i];
	assert_int_equal(sscanf(frame + flen - 2, "%2x", &got), 1);
	assert_int_equal(got, sum);
	return gdb_rle_decode(out, cap, frame + 1, (size_t)flen - 4);
}

static void test_frame_escape(void **st)
{
	char frame[64], dec[64];
	uint8_t raw[64];
	int n, d;

	(void)st;
	n = gdb_frame(frame, sizeof(frame), "OK", 2, true);
	assert_int_equal(n, 6);
	assert_memory_equal(frame, "$OK#9a", 6);
	/* '$', '#', '}' and '*' go out as '}' + byte^0x20 and come back the same. */
	n = gdb_frame(frame, sizeof(frame), "a$#}*b", 6, true);
	assert_true(n > 0);
	assert_null(memchr(frame + 1, '$', (size_t)n - 1));
	assert_null(memchr(frame + 1, '#', (size_t)n - 4));
	d = client_decode(frame, n, dec, sizeof(dec));
	assert_int_equal(d, 10);
	assert_int_equal(gdb_unescape(raw, sizeof(raw), dec, (size_t)d), 6);
	assert_memory_equal(raw, "a$#}*b", 6);
	/* Too small a buffer is refused, not overrun. */
	assert_int_equal(gdb_frame(frame, 5, "OK", 2, true), -1);
	/* A trailing '}' is malformed. */
	assert_int_equal(gdb_unescape(raw, sizeof(raw), "ab}", 3), -1);
}

static void test_frame_rle(void **st)
{
	char payload[300], frame[700], dec[400];
	int n, d;

	(void)st;
	/* Runs of every length 1..200 of '0' survive the round trip, and never
	 * produce '#' or '$' as a count. */
	for (int len = 1; len <= 200; len++) {
		memset(payload, '0', (size_t)len);
		payload[len] = 'x';
		n = gdb_frame(frame, sizeof(frame), payload, (size_t)len + 1, true);
		assert_true(n > 0);
		for (int i = 1; i < n - 3; i++)
			assert_true(frame[i] != '#' && frame[i] != '$');
		d = client_decode(frame, n, dec, sizeof(dec));
		assert_int_equal(d, len + 1);
		assert_memory_equal(dec, payload, (size_t)len + 1);
		if (len >= 12)
			assert_true(n < len);   /* it compressed */
	}
	/* Without rle the frame is the payload itself. */
	memset(payload, '0', 20);
	n = gdb_frame(frame, sizeof(frame), payload, 20, false);
	assert_int_equal(n, 24);
}

static void test_hex(void **st)
{
	const char *p;
	uint64_t v;
	uint8_t b[4];
	char out[9];

	(void)st;
	p = "ffffffff81000000,10";
	assert_int_equal(gdb_parse_hex(&p, &v), 0);
	assert_true(v == 0xffffffff81000000ull);
	assert_int_equal(*p, ',');
	p = "12345678123456789";   /* 17 digits: overflow */
	assert_int_equal(gdb_parse_hex(&p, &v), -1);
	p = ",";
	assert_int_equal(gdb_parse_hex(&p, &v), -1);
	assert_int_equal(gdb_hex_decode(b, "deadBEEF", 4), 0);
	assert_memory_equal(b, "\xde\xad\xbe\xef", 4);
	assert_int_equal(gdb_hex_decode(b, "de g", 2), -1);
	gdb_hex_encode(out, b, 4);
	assert_string_equal(out, "deadbeef");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_good_packet),
		cmocka_unit_test(test_rx_bad_checksum),
		cmocka_unit_test(test_rx_acks_interrupt_noise),
		cmocka_unit_test(test_rx_oversize),
		cmocka_unit_test(test_frame_escape),
		cmocka_unit_test(test_frame_rle),
		cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
