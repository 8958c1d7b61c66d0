/* http.h - a small strict HTTP/1.1 request parser and response writer.
 *
 * Contract: http_parse_request() looks at the bytes a client has sent so
 * far (buf, len) and either finds one complete request at the start (0,
 * req->consumed bytes, pointers into buf), asks for more bytes (-EAGAIN;
 * req->headers_done tells whether the header block is complete, so a
 * server can answer "Expect: 100-continue"), or refuses it (-EINVAL,
 * -E2BIG, -ENOTSUP) with req->status (400, 413, 414, 431, 501, 505) and a
 * one-line reason in req->error. It never reads past buf + len, never
 * allocates, and keeps no state between calls: the caller re-parses from
 * the start when more bytes arrive (requests are small and bounded).
 *
 * Strict means: CRLF line ends only, no leading empty lines, no obsolete
 * line folding, no whitespace before a header's colon, no control bytes,
 * a method made of upper-case letters, an origin-form target (starts with
 * '/', printable ASCII, at most HTTP_MAX_TARGET bytes), HTTP/1.0 or
 * HTTP/1.1 only, one Content-Length made of digits (repeats must agree),
 * no Transfer-Encoding at all (501: the API's bodies are small and have a
 * length), at most HTTP_MAX_HEADERS headers in HTTP_MAX_HEAD bytes (431)
 * and a body of at most HTTP_MAX_BODY bytes (413, decided from the header
 * alone, before any of the body is read).
 */
#ifndef MVM_API_HTTP_H
#define MVM_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEAD    8192          /* request line + headers + blank line */
#define HTTP_MAX_BODY    (64 * 1024)
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_TARGET  1024

enum http_method {
	HTTP_OTHER = 0, HTTP_GET, HTTP_HEAD, HTTP_PUT, HTTP_PATCH, HTTP_POST, HTTP_DELETE,
};

/* A string that points into the parsed buffer (not NUL-terminated). */
struct http_str {
	const char *p;
	size_t len;
};

struct http_request {
	enum http_method method;
	struct http_str method_str;
	struct http_str target;     /* path and query as sent */
	struct http_str path;       /* target without "?query" */
	int minor;                  /* HTTP/1.minor */
	bool keep_alive;            /* from the version and Connection: */
	bool has_length;            /* a Content-Length header was present */
	bool expect_continue;       /* Expect: 100-continue */
	bool headers_done;          /* the header block ends within buf */
	size_t head_len;            /* bytes of request line + headers + CRLF */
	size_t content_length;
	struct http_str body;
	size_t consumed;            /* head_len + content_length, when complete */
	struct http_str content_type;
	int status;                 /* on error: the status to answer with */
	const char *error;          /* on error: why, for the fault message */
};

int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* Case-insensitive comparison of s with the NUL-terminated lit. */
bool http_str_ieq(struct http_str s, const char *lit);
/* Exact comparison. */
bool http_str_eq(struct http_str s, const char *lit);

/* "OK", "No Content", ... ("Unknown" for a status this module never sends). */
const char *http_reason(int status);

/* Write a status line, Server/Content-Length/Content-Type/Connection
 * headers, the extra header lines (each ending in CRLF; NULL: none) and
 * body into out (cap bytes). Returns the length, or -ENOSPC when it does
 * not fit. body may be NULL when body_len is 0; content_type is used only
 * when there is a body. */
int http_format_response(char *out, size_t cap, int status, const char *content_type,
			 const char *extra, const char *body, size_t body_len, bool keep_alive);

#endif
