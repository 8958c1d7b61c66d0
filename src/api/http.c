/* http.c - strict HTTP/1.1 request parsing over a byte buffer; responses. */
#include "api/http.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool http_str_ieq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);

	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = s.p[i], b = lit[i];

		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return false;
	}
	return true;
}

bool http_str_eq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static int http_fail(struct http_request *req, int status, const char *why)
{
	req->status = status;
	req->error = why;
	switch (status) {
	case 413: case 414: case 431: return -E2BIG;
	case 501: case 505: return -ENOTSUP;
	default: return -EINVAL;
	}
}

/* RFC 9110 tchar: what a header name may hold. */
static bool http_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Find "\r\n" in [p, end): the index of '\r', or -1. A bare '\n' or a
 * '\r' not followed by '\n' is reported as -2 (strict line ends). */
static long http_line_end(const char *p, const char *end)
{
	for (const char *q = p; q < end; q++) {
		if (*q == '\n')
			return -2;
		if (*q == '\r') {
			if (q + 1 == end)
				return -1;
			return q[1] == '\n' ? q - p : -2;
		}
	}
	return -1;
}

static enum http_method http_method_of(struct http_str m)
{
	static const struct { const char *name; enum http_method m; } tbl[] = {
		{ "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "PUT", HTTP_PUT },
		{ "PATCH", HTTP_PATCH }, { "POST", HTTP_POST }, { "DELETE", HTTP_DELETE },
	};

	for (size_t i = 0; i < sizeof(tbl) / sizeof(tbl[0]); i++)
		if (http_str_eq(m, tbl[i].name))
			return tbl[i].m;
	return HTTP_OTHER;
}

static int http_parse_request_line(const char *p, size_t len, struct http_request *req)
{
	const char *end = p + len, *q = p, *sp;

	while (q < end && *q >= 'A' && *q <= 'Z')
		q++;
	if (q == p || q - p > 16 || q == end || *q != ' ')
		return http_fail(req, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.x");
	req->method_str = (struct http_str){ p, (size_t)(q - p) };
	req->method = http_method_of(req->method_str);
	q++;
	sp = memchr(q, ' ', (size_t)(end - q));
	if (!sp)
		return http_fail(req, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.x");
	if (sp - q > HTTP_MAX_TARGET)
		return http_fail(req, 414, "request target too long");
	if (sp == q || *q != '/')
		return http_fail(req, 400, "request target must be a path starting with '/'");
	for (const char *t = q; t < sp; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return http_fail(req, 400, "request target holds a byte that is not printable ASCII");
	req->target = (struct http_str){ q, (size_t)(sp - q) };
	const char *qm = memchr(q, '?', (size_t)(sp - q));

	req->path = (struct http_str){ q, (size_t)((qm ? qm : sp) - q) };
	q = sp + 1;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, then the line ends. */
	if (end - q != 8 || memcmp(q, "HTTP/", 5) || q[5] < '0' || q[5] > '9' || q[6] != '.' ||
	    q[7] < '0' || q[7] > '9')
		return http_fail(req, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.x");
	if (q[5] != '1' || (q[7] != '0' && q[7] != '1'))
		return http_fail(req, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
	req->minor = q[7] - '0';
	req->keep_alive = req->minor == 1;
	return 0;
}

/* Does a comma-separated header value hold token (case-insensitive)? */
static bool http_list_has(struct http_str v, const char *token)
{
	size_t i = 0;

	while (i < v.len) {
		size_t s, e;

		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
			i++;
		s = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		e = i;
		while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
			e--;
		if (e > s && http_str_ieq((struct http_str){ v.p + s, e - s }, token))
			return true;
	}
	return false;
}

static int http_parse_length(struct http_str v, struct http_request *req)
{
	size_t n = 0;

	if (v.len == 0)
		return http_fail(req, 400, "Content-Length is empty");
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return http_fail(req, 400, "Content-Length is not a decimal number");
		/* Anything past the body limit is refused; stop counting before overflow. */
		if (n <= HTTP_MAX_BODY)
			n = n * 10 + (size_t)(v.p[i] - '0');
	}
	if (req->has_length && n != req->content_length)
		return http_fail(req, 400, "Content-Length given twice with different values");
	req->has_length = true;
	req->content_length = n;
	return 0;
}

static int http_header(struct http_str name, struct http_str value, struct http_request *req)
{
	if (http_str_ieq(name, "content-length"))
		return http_parse_length(value, req);
	if (http_str_ieq(name, "transfer-encoding"))
		return http_fail(req, 501, "Transfer-Encoding is not supported: send a Content-Length");
	if (http_str_ieq(name, "connection")) {
		if (http_list_has(value, "close"))
			req->keep_alive = false;
		else if (http_list_has(value, "keep-alive"))
			req->keep_alive = true;
	} else if (http_str_ieq(name, "expect")) {
		if (!http_str_ieq(value, "100-continue"))
			return http_fail(req, 400, "unsupported Expect header");
		req->expect_continue = true;
	} else if (http_str_ieq(name, "content-type")) {
		req->content_type = value;
	}
	return 0;
}

static int http_parse_header_line(const char *p, size_t len, struct http_request *req)
{
	const char *end = p + len, *colon = p;
	struct http_str name, value;

	if (*p == ' ' || *p == '\t')
		return http_fail(req, 400, "obsolete header line folding is not accepted");
	while (colon < end && http_tchar((unsigned char)*colon))
		colon++;
	if (colon == p || colon == end || *colon != ':')
		return http_fail(req, 400, "malformed header line: expected NAME: VALUE");
	name = (struct http_str){ p, (size_t)(colon - p) };
	const char *v = colon + 1, *ve = end;

	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	for (const char *c = v; c < ve; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			return http_fail(req, 400, "header value holds a control byte");
	value = (struct http_str){ v, (size_t)(ve - v) };
	return http_header(name, value, req);
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	size_t pos = 0, limit = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
	int nr_headers = 0, ret;

	memset(req, 0, sizeof(*req));
	if (len == 0)
		return -EAGAIN;
	for (;;) {
		long n = http_line_end(buf + pos, buf + limit);

		if (n == -2)
			return http_fail(req, 400, "line ends must be CRLF");
		if (n == -1) {
			if (len >= HTTP_MAX_HEAD)
				return pos == 0 ? http_fail(req, 414, "request line too long")
						: http_fail(req, 431, "request header block larger than 8 KiB");
			/* A request line can be checked before it is complete: refuse
			 * garbage at once instead of waiting for 8 KiB of it. */
			if (pos == 0) {
				size_t i = 0;

				while (i < limit && buf[i] >= 'A' && buf[i] <= 'Z')
					i++;
				if (i < limit && (i == 0 || buf[i] != ' '))
					return http_fail(req, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.x");
			}
			return -EAGAIN;
		}
		if (pos == 0) {
			if (n == 0)
				return http_fail(req, 400, "empty request line");
			if ((ret = http_parse_request_line(buf, (size_t)n, req)))
				return ret;
		} else if (n == 0) {
			pos += 2;
			break;
		} else {
			if (++nr_headers > HTTP_MAX_HEADERS)
				return http_fail(req, 431, "more than 64 request headers");
			if ((ret = http_parse_header_line(buf + pos, (size_t)n, req)))
				return ret;
		}
		pos += (size_t)n + 2;
	}
	req->head_len = pos;
	req->headers_done = true;
	if (req->content_length > HTTP_MAX_BODY)
		return http_fail(req, 413, "request body larger than 64 KiB");
	if (len - pos < req->content_length)
		return -EAGAIN;
	req->body = (struct http_str){ buf + pos, req->content_length };
	req->consumed = pos + req->content_length;
	return 0;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int http_format_response(char *out, size_t cap, int status, const char *content_type,
			 const char *extra, const char *body, size_t body_len, bool keep_alive)
{
	int n;

	if (!extra)
		extra = "";
	if (body_len)
		n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nServer: mvm\r\n%sContent-Type: %s\r\n"
			     "Content-Length: %zu\r\nConnection: %s\r\n\r\n", status,
			     http_reason(status), extra, content_type ? content_type : "application/json",
			     body_len, keep_alive ? "keep-alive" : "close");
	else
		n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nServer: mvm\r\n%s%s\r\n\r\n", status,
			     http_reason(status), extra,
			     /* 204 and 1xx carry no Content-Length (RFC 9110 8.6). */
			     status == 204 ? (keep_alive ? "Connection: keep-alive" : "Connection: close")
					   : (keep_alive ? "Content-Length: 0\r\nConnection: keep-alive"
							 : "Content-Length: 0\r\nConnection: close"));
	if (n < 0 || (size_t)n >= cap || cap - (size_t)n < body_len)
		return -ENOSPC;
	if (body_len)
		memcpy(out + n, body, body_len);
	return n + (int)body_len;
}
