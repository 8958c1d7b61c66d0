/* api_route.h - drive one API route without a socket: the request is written
 * as HTTP, parsed by http_parse_request() and handed to api_route(), as the
 * server does. Include after cmocka.h. */
#ifndef MVM_TESTS_API_ROUTE_H
#define MVM_TESTS_API_ROUTE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/server.h"

/* METHOD PATH with BODY ("" for none): the status, and the response body
 * (a fault_message, say) in out. */
static inline int route(struct api_vmm *a, const char *method, const char *path,
			const char *body, char *out, size_t len)
{
	char buf[1024];
	struct http_request req;
	struct api_response r = { 0 };
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
			 "\r\n%s", method, path, strlen(body), body);

	assert_true(n > 0 && (size_t)n < sizeof(buf));
	assert_int_equal(http_parse_request(buf, (size_t)n, &req), 0);
	api_route(a, &req, &r);
	snprintf(out, len, "%s", r.body ? r.body : "");
	free(r.body);
	return r.status;
}

#endif
