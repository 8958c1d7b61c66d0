/* fuzz_http.c - libFuzzer target for the HTTP request parser (src/api/http.c).
 *
 * Build: clang -std=gnu11 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer,address,undefined \
 *            tests/fuzz/fuzz_http.c src/api/http.c -o build/fuzz_http
 * Run:   build/fuzz_http -max_len=80000 tests/fuzz/corpus-http   (corpus optional)
 * The unit tests include this file with FUZZ_HTTP_NO_MAIN and drive fuzz_http_one() over a
 * deterministic corpus of mutated requests, so the same invariants run in every `make unit`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"

static int fuzz_http_within(const char *buf, size_t len, struct http_str s)
{
	return s.len == 0 || (s.p >= buf && s.len <= len && s.p - buf <= (long)(len - s.len));
}

/* Parse one buffer (an exact-size heap copy, so a read past it is caught
 * by ASan) and check what the parser promises. Returns 0, or the number of
 * the broken invariant. */
static int fuzz_http_one(const uint8_t *data, size_t size)
{
	struct http_request req;
	char *buf = malloc(size ? size : 1);
	int ret, bad = 0;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	ret = http_parse_request(buf, size, &req);
	if (ret == 0) {
		if (req.consumed > size || req.consumed != req.head_len + req.content_length)
			bad = 1;
		else if (!fuzz_http_within(buf, size, req.body) || !fuzz_http_within(buf, size, req.path) ||
			 !fuzz_http_within(buf, size, req.target) || req.body.len != req.content_length)
			bad = 2;
		else if (req.path.len == 0 || req.path.p[0] != '/' || req.head_len > HTTP_MAX_HEAD ||
			 req.content_length > HTTP_MAX_BODY)
			bad = 3;
		else if (req.minor != 0 && req.minor != 1)
			bad = 4;
	} else if (ret == -EAGAIN) {
		if (size >= HTTP_MAX_HEAD + HTTP_MAX_BODY)
			bad = 5;     /* more than the largest request: must be decided */
	} else {
		if (!req.error || (req.status != 400 && req.status != 413 && req.status != 414 &&
				   req.status != 431 && req.status != 501 && req.status != 505))
			bad = 6;
	}
	free(buf);
	return bad;
}

#ifndef FUZZ_HTTP_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_http_one(data, size))
		abort();
	return 0;
}
#endif
