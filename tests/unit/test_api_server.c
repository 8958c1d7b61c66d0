/* test_api_server.c - the API socket's file (mode, unlinked only while ours) and accept() out of fds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/server.h"
#include "util/log.h"

struct fixture {
	char dir[64];
	char path[96];
	struct vm_config cfg;
	struct api_vmm vmm;
	struct api_server srv;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/mvm-test-api-XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
	f->vmm.cfg = &f->cfg;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	api_server_close(&f->srv);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Owner only from the start, whatever the umask. */
static void test_socket_mode(void **state)
{
	struct fixture *f = *state;
	mode_t old = umask(0);
	struct stat st;

	assert_int_equal(api_server_open(&f->srv, f->path, &f->vmm), 0);
	umask(old);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	api_server_close(&f->srv);
	assert_int_equal(access(f->path, F_OK), -1);   /* ours: removed */
}

/* Another socket (another mvm) took the path meanwhile: close leaves it. */
static void test_unlink_only_ours(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int other;

	assert_int_equal(api_server_open(&f->srv, f->path, &f->vmm), 0);
	assert_int_equal(unlink(f->path), 0);
	other = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(bind(other, (struct sockaddr *)&sa, sizeof(sa)), 0);
	api_server_close(&f->srv);
	assert_int_equal(access(f->path, F_OK), 0);
	close(other);
	unlink(f->path);

	/* Nor a plain file put there. */
	assert_int_equal(api_server_open(&f->srv, f->path, &f->vmm), 0);
	assert_int_equal(unlink(f->path), 0);
	close(open(f->path, O_WRONLY | O_CREAT, 0600));
	api_server_close(&f->srv);
	assert_int_equal(access(f->path, F_OK), 0);
}

static atomic_int accept_lines;

static void count_accept(enum log_level level, const char *msg, void *ctx)
{
	if (strstr(msg, "accept"))
		atomic_fetch_add(&accept_lines, 1);
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* accept() fails with EMFILE while a client waits: the API thread must not
 * spin on its level-triggered listener nor log each failure, and must answer
 * once fds are free again. */
static void test_accept_emfile(void **state)
{
	struct fixture *f = *state;
	static const char req[] = "GET /version HTTP/1.1\r\nHost: x\r\n\r\n";
	struct rlimit old, low;
	int fills[256], nr = 0, client;
	char buf[512] = "";
	struct pollfd pfd;
	double cpu0, cpu;
	ssize_t n;

	assert_int_equal(api_server_open(&f->srv, f->path, &f->vmm), 0);
	assert_int_equal(api_server_start(&f->srv), 0);
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(client >= 0);

	/* Fill the fd table under a low limit. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nr < 256) {
		int fd = dup(0);

		if (fd < 0)
			break;
		fills[nr++] = fd;
	}
	assert_int_equal(errno, EMFILE);

	atomic_store(&accept_lines, 0);
	log_set_sink(count_accept, NULL);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
		assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	cpu0 = cpu_seconds();
	usleep(1000 * 1000);
	cpu = cpu_seconds() - cpu0;
	log_set_sink(NULL, NULL);
	print_message("accept failures logged in 1 s: %d; CPU %.3f s\n",
		      atomic_load(&accept_lines), cpu);
	assert_true(atomic_load(&accept_lines) >= 1);
	assert_true(atomic_load(&accept_lines) <= 2);
	assert_true(cpu < 0.3);
	assert_true(f->srv.accept_failures <= 20);    /* ~10 retries/s */

	/* Fds free again: the waiting client is served. */
	while (nr)
		close(fills[--nr]);
	setrlimit(RLIMIT_NOFILE, &old);
	assert_int_equal(send(client, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	pfd = (struct pollfd){ .fd = client, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	n = recv(client, buf, sizeof(buf) - 1, 0);
	assert_true(n > 12);
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	close(client);

	/* And new connections too. */
	client = connect_to(f->path);
	assert_true(client >= 0);
	close(client);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_only_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_emfile, setup, teardown),
	};

	return cmocka_run_group_tests_name("api_server", tests, NULL, NULL);
}
