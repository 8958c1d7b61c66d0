/* test_slirp_lib.c - libslirp loaded on demand (util/slirp_lib.c): every function found, one
 * load for the process, and a working instance made through the loaded functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "util/slirp_lib.h"

static void test_every_function_found(void **state)
{
	char why[256] = "";
	const struct slirp_lib *l = slirp_lib_load(why, sizeof(why));

	assert_non_null(l);
	assert_string_equal(why, "");
	assert_non_null(l->new_);
	assert_non_null(l->cleanup);
	assert_non_null(l->input);
	assert_non_null(l->pollfds_fill);
	assert_non_null(l->pollfds_poll);
	assert_non_null(l->add_hostfwd);
	assert_non_null(l->handle_timer);
	/* Loaded once: the same table again, also without a message buffer. */
	assert_ptr_equal(slirp_lib_load(NULL, 0), l);
}

/* Nothing is called back by slirp_new itself; the table only has to be valid. */
static int64_t clock_ns(void *opaque) { return 0; }
static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque) { return NULL; }
static void timer_free(void *timer, void *opaque) {}
static void timer_mod(void *timer, int64_t expire_time, void *opaque) {}
static void notify(void *opaque) {}
static ssize_t send_packet(const void *buf, size_t len, void *opaque) { return (ssize_t)len; }
static void guest_error(const char *msg, void *opaque) {}
static void register_poll_fd(int fd, void *opaque) {}
static void unregister_poll_fd(int fd, void *opaque) {}

static void test_instance_through_the_table(void **state)
{
	const struct slirp_lib *l = slirp_lib_load(NULL, 0);
	SlirpCb cb = {
		.send_packet = send_packet, .guest_error = guest_error, .clock_get_ns = clock_ns,
		.timer_free = timer_free, .timer_mod = timer_mod,
		.register_poll_fd = register_poll_fd, .unregister_poll_fd = unregister_poll_fd,
		.notify = notify, .timer_new_opaque = timer_new_opaque,
	};
	SlirpConfig sc = { 0 };
	Slirp *s;

	assert_non_null(l);
	sc.version = 4;
	sc.in_enabled = true;
	sc.vnetwork.s_addr = htonl(0x0a000200);
	sc.vnetmask.s_addr = htonl(0xffffff00);
	sc.vhost.s_addr = htonl(0x0a000202);
	sc.vdhcp_start.s_addr = htonl(0x0a00020f);
	sc.vnameserver.s_addr = htonl(0x0a000203);
	s = l->new_(&sc, &cb, NULL);
	assert_non_null(s);
	l->cleanup(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_function_found),
		cmocka_unit_test(test_instance_through_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
