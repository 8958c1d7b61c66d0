/* test_ctl_snapshot.c - `mvm ctl snapshot DIR` against a fake API server: the calls it makes,
 * the progress it prints while a long save writes its temporary memory file, none for a short
 * save, and the summary line after.
 *
 * The server (a thread on a Unix socket) answers Connection: close requests as mvm's API does:
 * GET / says Running, PATCH /vm says 204, PUT /snapshot/create writes "memory.tmp-test" in the
 * snapshot's directory in steps (as snap/memfile.c does before its rename) for save_ms, then
 * renames it to "memory", writes "vmstate" and answers 204. ctl's stdout goes to a file (not a
 * terminal: a progress line every 2 s of the save, none for a save under a second). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/ctl.h"

static char tmp[64], sock_path[100], snap_dir[128], out_path[128];
static int listen_fd = -1;
static pthread_t server;
static int save_ms;                 /* how long the fake save takes */
static char calls[8][64];           /* "METHOD PATH" of each request, in order */
static int nr_calls;

/* One request: its request line into calls[], its body (up to Content-Length) into body. */
static int read_request(int fd, char *line, size_t llen, char *body, size_t blen)
{
	char buf[8192] = "";
	size_t len = 0;
	char *end = NULL;
	long clen = 0;

	while (!(end = strstr(buf, "\r\n\r\n"))) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
	}
	char *cl = strcasestr(buf, "Content-Length:");

	if (cl && cl < end)
		clen = strtol(cl + 15, NULL, 10);
	size_t have = len - (size_t)(end + 4 - buf);

	while ((long)have < clen) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (n <= 0)
			return -1;
		len += (size_t)n;
		have += (size_t)n;
		buf[len] = '\0';
	}
	snprintf(body, blen, "%.*s", (int)clen, end + 4);
	char *sp = strchr(buf, ' '), *sp2 = sp ? strchr(sp + 1, ' ') : NULL;

	snprintf(line, llen, "%.*s", sp2 ? (int)(sp2 - buf) : 0, buf);
	return 0;
}

static void answer(int fd, int status, const char *json)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", status, status == 200 ? "OK" : "No Content",
			 json ? strlen(json) : 0);

	(void)!write(fd, head, (size_t)n);
	if (json)
		(void)!write(fd, json, strlen(json));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The save: 1 MiB written every 250 ms into the temporary file, then the final names. */
static void fake_save(void)
{
	char tmpf[256], mem[256], state[256];
	static char mib[1 << 20];
	uint64_t end = now_ms() + (uint64_t)save_ms;
	int fd;

	memset(mib, 0x5a, sizeof(mib));
	snprintf(tmpf, sizeof(tmpf), "%s/memory.tmp-test", snap_dir);
	snprintf(mem, sizeof(mem), "%s/memory", snap_dir);
	snprintf(state, sizeof(state), "%s/vmstate", snap_dir);
	fd = open(tmpf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	do {
		assert_int_equal(write(fd, mib, sizeof(mib)), (ssize_t)sizeof(mib));
		fsync(fd);
		usleep(250000 < save_ms * 1000 ? 250000 : (useconds_t)save_ms * 1000);
	} while (now_ms() < end);
	close(fd);
	assert_int_equal(rename(tmpf, mem), 0);
	fd = open(state, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	(void)!write(fd, "state", 5);
	close(fd);
}

static void *server_thread(void *arg)
{
	(void)arg;
	for (;;) {
		char line[64], body[4096];
		int fd = accept(listen_fd, NULL, NULL);

		if (fd < 0)
			return NULL;
		if (read_request(fd, line, sizeof(line), body, sizeof(body))) {
			close(fd);
			continue;
		}
		if (nr_calls < 8)
			snprintf(calls[nr_calls++], sizeof(calls[0]), "%s", line);
		if (!strcmp(line, "GET /"))
			answer(fd, 200, "{\"id\": \"t\", \"state\": \"Running\"}");
		else if (!strcmp(line, "PUT /snapshot/create")) {
			assert_non_null(strstr(body, "\"snapshot_type\": \"Full\""));
			fake_save();
			answer(fd, 204, NULL);
		} else
			answer(fd, 204, NULL);
		close(fd);
	}
}

static int setup(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/mvm-test-ctl.XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", tmp);
	snprintf(snap_dir, sizeof(snap_dir), "%s/snap", tmp);
	snprintf(out_path, sizeof(out_path), "%s/out.txt", tmp);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(listen_fd >= 0);
	assert_int_equal(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(listen_fd, 8), 0);
	nr_calls = 0;
	assert_int_equal(pthread_create(&server, NULL, server_thread, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	shutdown(listen_fd, SHUT_RDWR);
	close(listen_fd);
	pthread_join(server, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	(void)!system(cmd);
	return 0;
}

/* Run `mvm ctl --api-sock S snapshot DIR` with stdout into out_path; its text (malloc'd). */
static char *run_ctl(int *rc)
{
	char *argv[] = { "ctl", "--api-sock", sock_path, "snapshot", snap_dir, NULL };
	int saved = dup(STDOUT_FILENO), fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char *text = calloc(1, 65536);
	FILE *f;

	assert_true(saved >= 0 && fd >= 0);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	*rc = ctl_main(5, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	f = fopen(out_path, "r");
	assert_non_null(f);
	(void)!fread(text, 1, 65535, f);
	fclose(f);
	return text;
}

/* A 4.6 s save: a progress line every 2 s (at 2 and 4 s), the MiB written so far growing, then
 * the summary; the VM paused around the save and resumed after. */
static void test_long_save_progress(void **state)
{
	unsigned long mib[8], n = 0;
	double secs[8];
	int rc;
	char *text, *p;

	(void)state;
	save_ms = 4600;
	text = run_ctl(&rc);
	printf("%s", text);
	assert_int_equal(rc, 0);
	for (p = text; (p = strstr(p, "saving guest memory: ")) && n < 8; p++) {
		assert_int_equal(sscanf(p, "saving guest memory: %lu MiB written, %lf s", &mib[n], &secs[n]), 2);
		n++;
	}
	assert_true(n >= 2);
	assert_true(secs[0] >= 2.0);
	assert_true(secs[1] - secs[0] >= 2.0);
	assert_true(mib[0] >= 1);
	assert_true(mib[n - 1] > mib[0]);
	/* The summary names the renamed file: at least what the last progress line counted. */
	unsigned long final_mib = 0;

	p = strstr(text, "Full snapshot ");
	assert_non_null(p);
	p = strstr(p, ", memory ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, ", memory %lu MiB", &final_mib), 1);
	assert_true(final_mib >= mib[n - 1]);
	assert_int_equal(nr_calls, 4);
	assert_string_equal(calls[0], "GET /");
	assert_string_equal(calls[1], "PATCH /vm");
	assert_string_equal(calls[2], "PUT /snapshot/create");
	assert_string_equal(calls[3], "PATCH /vm");
	free(text);
}

/* A save of a fifth of a second shows only its result. */
static void test_short_save_quiet(void **state)
{
	int rc;
	char *text;

	(void)state;
	save_ms = 200;
	text = run_ctl(&rc);
	assert_int_equal(rc, 0);
	assert_null(strstr(text, "saving guest memory"));
	assert_non_null(strstr(text, "Full snapshot "));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_long_save_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_save_quiet, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
