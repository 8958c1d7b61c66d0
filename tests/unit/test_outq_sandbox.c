/* test_outq_sandbox.c - an output queue's writer thread runs under its own
 * seccomp filter (kind outq): in a forked child with --seccomp kill, it drains
 * a pipe that fills and empties and a socket, and stops; the thread shows a
 * filter in /proc; MVM_SECCOMP_TEST=outq ends the child with status 5 and
 * the one report line naming the writer thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/outq.h"
#include "util/sandbox.h"

#define NAME  "mvm-test-out"
#define BYTES (200 * 1024)   /* more than the ring and a pipe hold together */
#define RING  (16 * 1024)

/* The "Seccomp:" mode of this process's thread named NAME: 2 is a filter, -1 no such thread. */
static int writer_seccomp_mode(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int mode = -1;

	if (!d)
		return -1;
	while (mode < 0 && (e = readdir(d))) {
		char path[320], comm[32] = "", line[128];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		comm[strcspn(comm, "\n")] = '\0';
		if (strcmp(comm, NAME))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Seccomp: %d", &mode) == 1)
				break;
		fclose(f);
	}
	closedir(d);
	return mode;
}

/* COM1's room callback raises the THR-empty interrupt on the writer's
 * thread (KVM_IRQ_LINE on the VM fd); here on no fd, through the filter. */
static void room_irq(void *ctx)
{
	(void)ctx;
	ioctl(-1, KVM_IRQ_LINE, NULL);
}

/* The child: push BYTES (waiting for room as a guest waits for THRE) into
 * a queue on out_fd under MODE; exit 0 when all went through the writer. */
static void child(int out_fd, enum sandbox_mode mode)
{
	struct outq_stats st;
	struct outq *q;
	int mode_seen = -1;

	if (sandbox_setup(mode))
		_exit(90);
	if (outq_start(&q, out_fd, RING, NAME, room_irq, NULL))
		_exit(91);
	for (size_t i = 0; i < BYTES; i++) {
		for (int spins = 0; outq_room(q) == 0; spins++) {
			if (spins > 10000)
				_exit(92);   /* 10 s without room: the writer is gone */
			usleep(1000);
		}
		if (!outq_push(q, (uint8_t)(i * 7)))
			_exit(93);
	}
	/* The writer has been draining for a while (the ring filled): it is in. */
	mode_seen = writer_seccomp_mode();
	if (outq_flush(q, 10000))
		_exit(94);
	if (!outq_stop(q, 1000, &st) || st.written != BYTES || st.dropped || st.lost)
		_exit(95);
	_exit(mode_seen == 2 ? 0 : 96);
}

/* Fork the child on one end of a pipe or socket pair; read and check
 * everything at the other end; the child's wait status. stderr into err. */
static int run(bool sock, enum sandbox_mode mode, char *err, size_t errlen)
{
	int io[2], ep[2], status;
	size_t got = 0, bad = 0;
	uint8_t buf[4096];
	pid_t pid;
	ssize_t n;

	assert_int_equal(sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, io) : pipe(io), 0);
	assert_int_equal(pipe(ep), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(io[0]);
		close(ep[0]);
		dup2(ep[1], STDERR_FILENO);
		child(io[1], mode);
	}
	close(io[1]);
	close(ep[1]);
	/* A slow reader first: the pipe and the ring fill, the writer polls. */
	usleep(200000);
	while ((n = read(io[0], buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != (uint8_t)((got + (size_t)i) * 7);
		got += (size_t)n;
	}
	close(io[0]);
	n = read(ep[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(ep[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		assert_int_equal(got, BYTES);
		assert_int_equal(bad, 0);
	}
	return status;
}

static void assert_exit(int status, int code, const char *err)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
		print_error("child status %#x, stderr: %s\n", status, err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), code);
}

static void test_writer_drains_pipe_under_kill(void **state)
{
	char err[1024];

	(void)state;
	unsetenv("MVM_SECCOMP_TEST");
	assert_exit(run(false, SANDBOX_KILL, err, sizeof(err)), 0, err);
}

static void test_writer_drains_socket_under_kill(void **state)
{
	char err[1024];

	(void)state;
	unsetenv("MVM_SECCOMP_TEST");
	assert_exit(run(true, SANDBOX_KILL, err, sizeof(err)), 0, err);
}

/* The hook makes the writer's first syscall after its filter a forbidden
 * one: the process ends with status 5 and the report names the writer. */
static void test_writer_violation_kills(void **state)
{
	char err[1024];
	int status;

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();   /* an ASan build turns kill into log (util/sandbox.h) */
#endif
	setenv("MVM_SECCOMP_TEST", "outq", 1);
	status = run(false, SANDBOX_KILL, err, sizeof(err));
	unsetenv("MVM_SECCOMP_TEST");
	assert_exit(status, SANDBOX_EXIT_STATUS, err);
	assert_non_null(strstr(err, "mvm: seccomp: thread " NAME " (outq filter) made syscall 135 "
				    "(personality), outside its allow-list"));
}

static void test_outq_kind_builds(void **state)
{
	(void)state;
	assert_string_equal(sandbox_kind_name(SANDBOX_OUTQ), "outq");
	assert_true(sandbox_check_kind(SANDBOX_OUTQ, SANDBOX_KILL) > 0);
	/* Smaller than a vCPU's: one ioctl request, no files. */
	assert_true(sandbox_check_kind(SANDBOX_OUTQ, SANDBOX_KILL) <
		    sandbox_check_kind(SANDBOX_VCPU, SANDBOX_KILL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outq_kind_builds),
		cmocka_unit_test(test_writer_drains_pipe_under_kill),
		cmocka_unit_test(test_writer_drains_socket_under_kill),
		cmocka_unit_test(test_writer_violation_kills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
