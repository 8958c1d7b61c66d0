/* test_exit_class.c - a failure's class goes from where it happens to mvm's exit status (or
 * the API's status), never guessed from errno (util/err.h): --gdb and --incoming whose bind is
 * refused exit 2, an incoming stream the peer closes early exits 1 and one that breaks the
 * format 2, --api-sock through a regular file exits 2 and a refused socket() 1, mvm jail's
 * refusals are the user's and its out of memory the host's, and an API fault is 400 or 500 by
 * the class of what failed. No KVM needed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/migrate.h"
#include "api/server.h"
#include "api_route.h"
#include "core/vmstop.h"
#include "jail/jail.h"
#include "snap/stream.h"
#include "util/err.h"
#include "util/log.h"
#include "vmm/gdb.h"
#include "vmm/vm.h"

/* strdup of this one string fails once (then it is cleared): the out-of-memory paths of
 * mvm's own code, which calls strdup through this definition. */
static const char *strdup_fail_on;

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (strdup_fail_on && !strcmp(s, strdup_fail_on)) {
		strdup_fail_on = NULL;
		return NULL;
	}
	p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static void quiet(enum log_level l, const char *m, void *c)
{
	(void)l; (void)m; (void)c;
}

static int setup(void **state)
{
	log_set_sink(quiet, NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_sink(NULL, NULL);
	return 0;
}

/* A TCP listener on 127.0.0.1 on a port the kernel picks: the busy port. */
static int busy_port(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Leave room for exactly `spare` more fds: the (spare+1)-th open fails with EMFILE. */
static void fd_limit(struct rlimit *old, int spare)
{
	struct rlimit lim;
	int lowest = dup(0);

	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, old), 0);
	lim = *old;
	lim.rlim_cur = (rlim_t)(lowest + spare);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
}

/* ---- --gdb -------------------------------------------------------------------------------- */

static int gdb_status(const char *addr)
{
	static struct vm vm;
	int status = -1;

	memset(&vm, 0, sizeof(vm));
	vm.nr_vcpus = 1;
	assert_int_not_equal(vm_gdb_start(&vm, addr, false, &status), 0);
	return status;
}

static void test_gdb(void **state)
{
	char addr[160], dir[] = "/tmp/mvm-test-exitclass-XXXXXX";
	struct rlimit old;
	int port, fd = busy_port(&port);

	/* The port another process listens on: the address the user gave. */
	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%d", port);
	assert_int_equal(gdb_status(addr), MVM_EXIT_USAGE);
	/* An address that is not this host's (TEST-NET-1): bind refuses it. */
	snprintf(addr, sizeof(addr), "tcp:192.0.2.1:%d", port);
	assert_int_equal(gdb_status(addr), MVM_EXIT_USAGE);
	close(fd);
	/* A socket in a folder that is not there; a malformed address. */
	assert_non_null(mkdtemp(dir));
	snprintf(addr, sizeof(addr), "unix:%s/missing/gdb.sock", dir);
	assert_int_equal(gdb_status(addr), MVM_EXIT_USAGE);
	assert_int_equal(gdb_status("tcp:127.0.0.1:99999"), MVM_EXIT_USAGE);
	assert_int_equal(gdb_status("udp:1234"), MVM_EXIT_USAGE);
	/* socket() refused (no fd left after the stub's eventfd): the host's. */
	snprintf(addr, sizeof(addr), "unix:%s/gdb.sock", dir);
	fd_limit(&old, 1);
	port = gdb_status(addr);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(port, MVM_EXIT_HOST);
	rmdir(dir);
}

/* ---- --incoming --------------------------------------------------------------------------- */

struct dest {
	struct vm vm;
	struct vm_config cfg;
	char uri[160];
	int ret, status;
};

static void *dest_thread(void *arg)
{
	struct dest *d = arg;

	d->ret = api_migrate_incoming(&d->vm, &d->cfg, d->uri, NULL, &d->status);
	return NULL;
}

static void test_incoming_busy_port(void **state)
{
	static struct dest d;
	int port, fd = busy_port(&port);

	memset(&d, 0, sizeof(d));
	snprintf(d.uri, sizeof(d.uri), "tcp:127.0.0.1:%d", port);
	dest_thread(&d);
	close(fd);
	assert_int_equal(d.ret, -EADDRINUSE);
	assert_int_equal(d.status, MVM_EXIT_USAGE);
	/* A URI that is not one: the user's too. */
	snprintf(d.uri, sizeof(d.uri), "tcp:127.0.0.1:port");
	dest_thread(&d);
	assert_int_equal(d.ret, -EINVAL);
	assert_int_equal(d.status, MVM_EXIT_USAGE);
}

/* The destination waits on a Unix socket; the test is the source: it sends `len` bytes of
 * `bytes` and closes. The destination's exit status. */
static int incoming_after(const void *bytes, size_t len, int *ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/mvm-test-exitclass-XXXXXX", path[sizeof(sa.sun_path)];
	static struct dest d;
	pthread_t t;
	int fd = -1;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mig.sock", dir);
	memset(&d, 0, sizeof(d));
	snprintf(d.uri, sizeof(d.uri), "unix:%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(pthread_create(&t, NULL, dest_thread, &d), 0);
	for (int i = 0; i < 500 && fd < 0; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(send(fd, bytes, len, 0), (ssize_t)len);
	close(fd);
	pthread_join(t, NULL);
	rmdir(dir);
	*ret = d.ret;
	return d.status;
}

static void test_incoming_peer_closes(void **state)
{
	uint8_t hdr[SNAP_STREAM_HDR_SIZE];
	int ret;

	/* The source connects and goes: the transport's, not the user's input. */
	assert_int_equal(incoming_after(NULL, 0, &ret), MVM_EXIT_HOST);
	assert_int_equal(ret, -EPIPE);
	/* A good header, then nothing: the stream ended early. */
	snap_stream_put_header(hdr);
	assert_int_equal(incoming_after(hdr, sizeof(hdr), &ret), MVM_EXIT_HOST);
	assert_int_equal(ret, -EPIPE);
	/* A header that is not mvm's: the stream's content, the input's. */
	memset(hdr, 'x', sizeof(hdr));
	assert_int_equal(incoming_after(hdr, sizeof(hdr), &ret), MVM_EXIT_USAGE);
	assert_int_not_equal(ret, -EPIPE);
}

/* ---- --api-sock --------------------------------------------------------------------------- */

static int api_open_status(const char *path)
{
	static struct vm vm;
	struct vm_config cfg = { .nr_cpus = 1 };
	struct api api;
	int status = -1;

	if (api_open(&api, path, &cfg, &vm, false, NULL, &status) == 0)
		status = 0;
	api_close(&api);
	return status;
}

static void test_api_sock(void **state)
{
	char dir[] = "/tmp/mvm-test-exitclass-XXXXXX", file[128], p[160];
	struct rlimit old;
	int status;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/file", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	/* A regular file where the path needs a folder (ENOTDIR at its lookup). */
	snprintf(p, sizeof(p), "%s/x.sock", file);
	assert_int_equal(api_open_status(p), MVM_EXIT_USAGE);
	/* A folder that is not there. */
	snprintf(p, sizeof(p), "%s/missing/x.sock", dir);
	assert_int_equal(api_open_status(p), MVM_EXIT_USAGE);
	/* socket() refused (one fd left, for api_open's eventfd): the host's. */
	snprintf(p, sizeof(p), "%s/x.sock", dir);
	fd_limit(&old, 1);
	status = api_open_status(p);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(status, MVM_EXIT_HOST);
	unlink(p);
	unlink(file);
	rmdir(dir);
}

/* ---- mvm jail ----------------------------------------------------------------------------- */

static void test_jail(void **state)
{
	static const char *refused[] = { "--kernel", "/k", "--frobnicate" };
	static const char *good[] = { "--kernel", "/boot/k-oom" };
	char err[JAIL_ERR_MAX];
	struct jail_plan plan;

	/* A flag mvm jail does not know: the user's, whatever the step's default. */
	jail_plan_init(&plan, NULL);
	err_reset();
	assert_int_equal(jail_plan_run(&plan, 3, (char **)refused, err, sizeof(err)), -EINVAL);
	assert_int_equal(err_exit_status(ERR_HOST), MVM_JAIL_EXIT_USAGE);
	jail_plan_free(&plan);
	/* No memory for a path of the plan: the host's (it was -EINVAL, the user's, once). */
	jail_plan_init(&plan, NULL);
	err_reset();
	strdup_fail_on = "/boot/k-oom";
	assert_int_equal(jail_plan_run(&plan, 2, (char **)good, err, sizeof(err)), -ENOMEM);
	assert_null(strdup_fail_on);
	assert_string_equal(err, "out of memory");
	assert_int_equal(err_exit_status(ERR_USAGE), MVM_JAIL_EXIT_HOST);
	jail_plan_free(&plan);
	/* ...and for the rewritten words. */
	jail_plan_init(&plan, NULL);
	err_reset();
	strdup_fail_on = "mvm";
	assert_int_equal(jail_plan_run(&plan, 2, (char **)good, err, sizeof(err)), -ENOMEM);
	assert_int_equal(err_exit_status(ERR_USAGE), MVM_JAIL_EXIT_HOST);
	jail_plan_free(&plan);
	/* A config file that is not JSON: the user's. */
	jail_plan_init(&plan, NULL);
	err_reset();
	{
		char *out = NULL;

		assert_int_equal(jail_plan_config(&plan, "[1", &out, err, sizeof(err)), -EINVAL);
		assert_null(out);
	}
	assert_int_equal(err_exit_status(ERR_HOST), MVM_JAIL_EXIT_USAGE);
	jail_plan_free(&plan);
}

/* ---- the API ------------------------------------------------------------------------------ */

static void test_api_fault_status(void **state)
{
	static struct vm vm;
	struct vm_config cfg = { .nr_cpus = 1 };
	struct api_vmm a = { .cfg = &cfg };
	char kernel[] = "/tmp/mvm-test-exitclass-kernel-XXXXXX", body[128], out[1024];
	int fd = mkstemp(kernel);

	assert_true(fd >= 0);
	close(fd);
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\"}", kernel);
	/* A body the user got wrong: 400. */
	assert_int_equal(route(&a, "PUT", "/boot-source", "{\"kernel_image_path\": 7}", out,
			       sizeof(out)), 400);
	/* The host out of memory while taking a good one: 500, by the class fc_* marked. */
	strdup_fail_on = kernel;
	assert_int_equal(route(&a, "PUT", "/boot-source", body, out, sizeof(out)), 500);
	assert_null(strdup_fail_on);
	/* The class is the request's own: the same request again succeeds. */
	assert_int_equal(route(&a, "PUT", "/boot-source", body, out, sizeof(out)), 204);
	unlink(kernel);
	/* The vCPUs of a running VM: the caller must pause it (marked theirs), 400. */
	memset(&vm, 0, sizeof(vm));
	vm.nr_vcpus = 1;
	a.vm = &vm;
	a.started = true;
	assert_int_equal(route(&a, "GET", "/mvm/vcpus", "", out, sizeof(out)), 400);
	assert_non_null(strstr(out, "must be paused"));
	vm_config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gdb),
		cmocka_unit_test(test_incoming_busy_port),
		cmocka_unit_test(test_incoming_peer_closes),
		cmocka_unit_test(test_api_sock),
		cmocka_unit_test(test_jail),
		cmocka_unit_test(test_api_fault_status),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
