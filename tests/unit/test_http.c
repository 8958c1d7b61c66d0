/* test_http.c - the strict HTTP/1.1 request parser and response writer
 * (src/api/http.c), plus a deterministic mutation corpus run through the
 * fuzz target's invariant checks (tests/fuzz/fuzz_http.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/http.h"
#define FUZZ_HTTP_NO_MAIN
#include "../fuzz/fuzz_http.c"

static struct http_request req;

static int parse(const char *s)
{
	return http_parse_request(s, strlen(s), &req);
}

static void expect_fail(const char *s, int status, const char *why)
{
	int ret = parse(s);

	assert_true(ret < 0 && ret != -EAGAIN);
	assert_int_equal(req.status, status);
	assert_non_null(req.error);
	if (why)
		assert_non_null(strstr(req.error, why));
}

static void test_get_simple(void **st)
{
	const char *s = "GET /machine-config HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

	assert_int_equal(parse(s), 0);
	assert_int_equal(req.method, HTTP_GET);
	assert_true(http_str_eq(req.path, "/machine-config"));
	assert_int_equal(req.minor, 1);
	assert_true(req.keep_alive);
	assert_int_equal(req.consumed, strlen(s));
	assert_int_equal(req.body.len, 0);
	assert_false(req.has_length);
}

static void test_put_with_body(void **st)
{
	const char *s = "PUT /boot-source HTTP/1.1\r\nContent-Type: application/json\r\n"
			"Content-Length: 7\r\n\r\n{\"a\":1}";

	assert_int_equal(parse(s), 0);
	assert_int_equal(req.method, HTTP_PUT);
	assert_int_equal(req.content_length, 7);
	assert_int_equal(req.body.len, 7);
	assert_memory_equal(req.body.p, "{\"a\":1}", 7);
	assert_true(http_str_eq(req.content_type, "application/json"));
}

static void test_methods(void **st)
{
	assert_int_equal(parse("PATCH /vm HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(req.method, HTTP_PATCH);
	assert_int_equal(parse("DELETE /x HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(req.method, HTTP_DELETE);
	assert_int_equal(parse("HEAD / HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(req.method, HTTP_HEAD);
	assert_int_equal(parse("BREW /pot HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(req.method, HTTP_OTHER);
	assert_true(http_str_eq(req.method_str, "BREW"));
}

static void test_query_split(void **st)
{
	assert_int_equal(parse("GET /vm/config?pretty=1 HTTP/1.1\r\n\r\n"), 0);
	assert_true(http_str_eq(req.path, "/vm/config"));
	assert_true(http_str_eq(req.target, "/vm/config?pretty=1"));
}

static void test_incomplete_prefixes(void **st)
{
	const char *s = "PUT /drives/rootfs HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	size_t n = strlen(s);

	/* Every strict prefix asks for more bytes; the whole is one request. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(http_parse_request(s, i, &req), -EAGAIN);
	assert_int_equal(http_parse_request(s, n, &req), 0);
}

static void test_headers_done_flag(void **st)
{
	assert_int_equal(parse("PUT /x HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nab"),
			 -EAGAIN);
	assert_true(req.headers_done);
	assert_true(req.expect_continue);
	assert_int_equal(parse("PUT /x HTTP/1.1\r\nContent-Length: 10\r\n"), -EAGAIN);
	assert_false(req.headers_done);
}

static void test_pipelined(void **st)
{
	const char *s = "GET / HTTP/1.1\r\n\r\nGET /version HTTP/1.1\r\n\r\n";

	assert_int_equal(parse(s), 0);
	assert_true(http_str_eq(req.path, "/"));
	assert_int_equal(http_parse_request(s + req.consumed, strlen(s) - req.consumed, &req), 0);
	assert_true(http_str_eq(req.path, "/version"));
}

static void test_http10_close(void **st)
{
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n"), 0);
	assert_false(req.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
	assert_true(req.keep_alive);
}

static void test_connection_close(void **st)
{
	assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n"), 0);
	assert_false(req.keep_alive);
}

static void test_header_ows_trimmed(void **st)
{
	assert_int_equal(parse("PUT / HTTP/1.1\r\nContent-Length: \t 3 \t\r\n\r\nabc"), 0);
	assert_int_equal(req.content_length, 3);
}

static void test_header_name_case(void **st)
{
	assert_int_equal(parse("PUT / HTTP/1.1\r\ncOnTeNt-LeNgTh: 2\r\n\r\nab"), 0);
	assert_int_equal(req.body.len, 2);
}

static void test_empty_body_zero_length(void **st)
{
	assert_int_equal(parse("PUT /actions HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_true(req.has_length);
	assert_int_equal(req.body.len, 0);
}

static void test_bad_method_lowercase(void **st) { expect_fail("get / HTTP/1.1\r\n\r\n", 400, "request line"); }
static void test_bad_early_garbage(void **st)
{
	/* Refused before the line is complete. */
	expect_fail("\x16\x03\x01\x02", 400, "request line");
}
static void test_bad_no_target(void **st) { expect_fail("GET HTTP/1.1\r\n\r\n", 400, NULL); }
static void test_bad_target_not_slash(void **st) { expect_fail("GET http://x/ HTTP/1.1\r\n\r\n", 400, "'/'"); }
static void test_bad_two_spaces(void **st) { expect_fail("GET  / HTTP/1.1\r\n\r\n", 400, NULL); }
static void test_bad_version(void **st) { expect_fail("GET / HTTP/2.0\r\n\r\n", 505, "HTTP/1"); }
static void test_bad_version_minor(void **st) { expect_fail("GET / HTTP/1.2\r\n\r\n", 505, NULL); }
static void test_bad_version_garbage(void **st) { expect_fail("GET / FTP/1.1\r\n\r\n", 400, NULL); }
static void test_bad_trailing_after_version(void **st) { expect_fail("GET / HTTP/1.1 x\r\n\r\n", 400, NULL); }
static void test_bad_bare_lf(void **st) { expect_fail("GET / HTTP/1.1\nHost: x\n\n", 400, "CRLF"); }
static void test_bad_bare_cr(void **st) { expect_fail("GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", 400, "CRLF"); }
static void test_bad_empty_line_first(void **st) { expect_fail("\r\nGET / HTTP/1.1\r\n\r\n", 400, "empty"); }
static void test_bad_folding(void **st) { expect_fail("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400, "folding"); }
static void test_bad_space_before_colon(void **st) { expect_fail("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "header"); }
static void test_bad_no_colon(void **st) { expect_fail("GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "header"); }
static void test_bad_ctl_in_value(void **st) { expect_fail("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400, "control"); }
static void test_bad_ctl_in_target(void **st) { expect_fail("GET /a\x7f HTTP/1.1\r\n\r\n", 400, "printable"); }
static void test_bad_length_sign(void **st) { expect_fail("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"); }
static void test_bad_length_hex(void **st) { expect_fail("PUT / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "Content-Length"); }
static void test_bad_length_empty(void **st) { expect_fail("PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "Content-Length"); }
static void test_bad_length_conflict(void **st)
{
	expect_fail("PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, "twice");
	/* Repeats that agree are fine (RFC 9110 8.6). */
	assert_int_equal(parse("PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na"), 0);
}
static void test_chunked_refused(void **st)
{
	expect_fail("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, "Transfer-Encoding");
}
static void test_bad_expect(void **st) { expect_fail("PUT / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 400, "Expect"); }

static void test_body_too_large(void **st)
{
	/* Refused from the header alone: no body byte was sent. */
	expect_fail("PUT / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413, "64 KiB");
	expect_fail("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413, NULL);
}

static void test_body_at_limit(void **st)
{
	static char buf[200 + HTTP_MAX_BODY];
	int n = snprintf(buf, sizeof(buf), "PUT / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", HTTP_MAX_BODY);

	memset(buf + n, 'x', HTTP_MAX_BODY);
	assert_int_equal(http_parse_request(buf, (size_t)n + HTTP_MAX_BODY, &req), 0);
	assert_int_equal(req.body.len, HTTP_MAX_BODY);
}

static void test_head_too_large(void **st)
{
	static char buf[HTTP_MAX_HEAD + 64];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");

	while (n + 12 < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-Pad: aaaa\r\n");
	assert_true(http_parse_request(buf, n, &req) < 0);
	assert_int_equal(req.status, 431);
}

static void test_too_many_headers(void **st)
{
	char buf[4096];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");

	for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "A%d: b\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_true(http_parse_request(buf, n, &req) < 0);
	assert_int_equal(req.status, 431);
}

static void test_request_line_too_long(void **st)
{
	static char buf[HTTP_MAX_HEAD + 16];

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', sizeof(buf) - 5);
	assert_true(http_parse_request(buf, sizeof(buf), &req) < 0);
	assert_int_equal(req.status, 414);
}

static void test_target_too_long(void **st)
{
	char buf[HTTP_MAX_TARGET + 64];
	size_t n = 0;

	n += (size_t)snprintf(buf, sizeof(buf), "GET /");
	memset(buf + n, 'a', HTTP_MAX_TARGET);
	n += HTTP_MAX_TARGET;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, " HTTP/1.1\r\n\r\n");
	assert_true(http_parse_request(buf, n, &req) < 0);
	assert_int_equal(req.status, 414);
}

static void test_nul_byte(void **st)
{
	const char s[] = "GET /\0x HTTP/1.1\r\n\r\n";

	assert_true(http_parse_request(s, sizeof(s) - 1, &req) < 0);
	assert_int_equal(req.status, 400);
}

static void test_empty_input(void **st)
{
	assert_int_equal(http_parse_request("", 0, &req), -EAGAIN);
}

static void test_format_204(void **st)
{
	char out[256];
	int n = http_format_response(out, sizeof(out), 204, NULL, NULL, NULL, 0, true);

	assert_true(n > 0);
	out[n] = 0;
	assert_non_null(strstr(out, "HTTP/1.1 204 No Content\r\n"));
	assert_null(strstr(out, "Content-Length"));
	assert_string_equal(out + n - 4, "\r\n\r\n");
}

static void test_format_body(void **st)
{
	char out[256];
	int n = http_format_response(out, sizeof(out), 405, "application/json",
				     "Allow: GET, PUT\r\n", "{\"fault_message\":\"x\"}", 21, false);

	assert_true(n > 0);
	out[n] = 0;
	assert_non_null(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(out, "\r\nAllow: GET, PUT\r\n"));
	assert_non_null(strstr(out, "Content-Length: 21\r\n"));
	assert_non_null(strstr(out, "Connection: close\r\n"));
	assert_string_equal(out + n - 21, "{\"fault_message\":\"x\"}");
	assert_int_equal(http_format_response(out, 40, 400, NULL, NULL, "0123456789", 10, false), -ENOSPC);
}

/* xorshift64: the same corpus on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* 20 000 mutations (byte flips, insertions of parser-significant bytes,
 * deletions, truncations, splices) of valid API requests, each checked
 * by the fuzz target's invariants. */
static void test_fuzz_corpus(void **st)
{
	static const char *const seeds[] = {
		"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"PUT /machine-config HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n"
		"{\"vcpu_count\": 2, \"mem_size_mib\": 1}",
		"PATCH /vm HTTP/1.1\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{\"state\":\"Paused\"}",
		"PUT /actions HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 31\r\n\r\n"
		"{\"action_type\": \"InstanceStart\"}",
		"GET /vm/config?x=1 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	};
	static const char interesting[] = "\r\n :\t0123456789-?/\x00\x7f\xff";
	static char buf[HTTP_MAX_HEAD * 2];
	int bad = 0;

	for (int iter = 0; iter < 20000; iter++) {
		const char *seed = seeds[rnd() % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(seed);
		int muts = 1 + (int)(rnd() % 4);

		memcpy(buf, seed, len);
		for (int m = 0; m < muts; m++) {
			size_t at = len ? rnd() % len : 0;

			switch (rnd() % 6) {
			case 0: buf[at] ^= (char)(1u << (rnd() % 8)); break;
			case 1: buf[at] = interesting[rnd() % (sizeof(interesting) - 1)]; break;
			case 2: /* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = interesting[rnd() % (sizeof(interesting) - 1)];
					len++;
				}
				break;
			case 3: /* delete */
				if (len > 1) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			case 4: len = at; break;  /* truncate */
			default: /* repeat a chunk (long headers, long lines) */
				for (int k = 0, n = (int)(rnd() % 64); k < n && len + 16 < sizeof(buf); k++) {
					memmove(buf + at + 8, buf + at, len - at);
					len += 8;
				}
				break;
			}
		}
		if (fuzz_http_one((const uint8_t *)buf, len))
			bad++;
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_simple),
		cmocka_unit_test(test_put_with_body),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_query_split),
		cmocka_unit_test(test_incomplete_prefixes),
		cmocka_unit_test(test_headers_done_flag),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_http10_close),
		cmocka_unit_test(test_connection_close),
		cmocka_unit_test(test_header_ows_trimmed),
		cmocka_unit_test(test_header_name_case),
		cmocka_unit_test(test_empty_body_zero_length),
		cmocka_unit_test(test_bad_method_lowercase),
		cmocka_unit_test(test_bad_early_garbage),
		cmocka_unit_test(test_bad_no_target),
		cmocka_unit_test(test_bad_target_not_slash),
		cmocka_unit_test(test_bad_two_spaces),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_version_minor),
		cmocka_unit_test(test_bad_version_garbage),
		cmocka_unit_test(test_bad_trailing_after_version),
		cmocka_unit_test(test_bad_bare_lf),
		cmocka_unit_test(test_bad_bare_cr),
		cmocka_unit_test(test_bad_empty_line_first),
		cmocka_unit_test(test_bad_folding),
		cmocka_unit_test(test_bad_space_before_colon),
		cmocka_unit_test(test_bad_no_colon),
		cmocka_unit_test(test_bad_ctl_in_value),
		cmocka_unit_test(test_bad_ctl_in_target),
		cmocka_unit_test(test_bad_length_sign),
		cmocka_unit_test(test_bad_length_hex),
		cmocka_unit_test(test_bad_length_empty),
		cmocka_unit_test(test_bad_length_conflict),
		cmocka_unit_test(test_chunked_refused),
		cmocka_unit_test(test_bad_expect),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_body_at_limit),
		cmocka_unit_test(test_head_too_large),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_request_line_too_long),
		cmocka_unit_test(test_target_too_long),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_format_204),
		cmocka_unit_test(test_format_body),
		cmocka_unit_test(test_fuzz_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
