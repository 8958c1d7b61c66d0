/* test_sandbox.c - every thread kind's seccomp filter builds, and a forked child under one
 * survives the syscalls its list allows and dies with status 5 and a named report on others. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "util/sandbox.h"

enum probe {
	P_ALLOWED,        /* write, clock_gettime, an RW mmap/mprotect/munmap, futex-free exit */
	P_EXECVE,
	P_MMAP_EXEC,
	P_MPROTECT_EXEC,
	P_SOCKET_UNIX,
	P_SOCKET_INET,
	P_IOCTL_TUN,      /* TUNSETIFF: no thread has it after the build */
	P_IOCTL_KVM_RUN,
	P_IOCTL_IRQCHIP,  /* KVM_GET_IRQCHIP: an S3 wake's PIC, on whichever thread resumes */
	P_NONE,           /* only the filter (and the MVM_SECCOMP_TEST hook) */
};

/* Run PROBE in a child under KIND's filter in MODE: its wait status; its stderr in err. */
static int run_child(enum sandbox_kind kind, enum sandbox_mode mode, enum probe probe,
		     char *err, size_t errlen)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct timespec ts;
		void *p;

		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		if (sandbox_setup(mode))
			_exit(90);
		sandbox_enter(kind);
		switch (probe) {
		case P_ALLOWED:
			clock_gettime(CLOCK_MONOTONIC, &ts);
			if (write(STDERR_FILENO, "alive\n", 6) != 6)
				_exit(91);
			p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) || munmap(p, 8192))
				_exit(92);
			break;
		case P_EXECVE: {
			char *argv[] = { "/bin/true", NULL };

			execve("/bin/true", argv, NULL);
			_exit(93);
		}
		case P_MMAP_EXEC:
			mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			break;
		case P_MPROTECT_EXEC:
			p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			mprotect(p, 4096, PROT_READ | PROT_EXEC);
			break;
		case P_SOCKET_UNIX:
			socket(AF_UNIX, SOCK_STREAM, 0);
			break;
		case P_SOCKET_INET:
			if (socket(AF_INET, SOCK_DGRAM, 0) < 0)
				_exit(94);
			break;
		case P_IOCTL_TUN:
			ioctl(STDERR_FILENO, TUNSETIFF, NULL);
			break;
		case P_IOCTL_KVM_RUN:
			ioctl(-1, KVM_RUN, 0);   /* EBADF, but through the filter */
			break;
		case P_IOCTL_IRQCHIP:
			ioctl(-1, KVM_GET_IRQCHIP, NULL);
			break;
		case P_NONE:
			break;
		}
		_exit(0);
	}
	close(fds[1]);
	n = 0;
	for (;;) {
		ssize_t r = read(fds[0], err + n, errlen - 1 - (size_t)n);

		if (r <= 0)
			break;
		n += r;
	}
	err[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* An ASan build turns kill into log (src/util/sandbox.h): the kill tests skip there. */
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_ASAN() skip()
#else
#define SKIP_UNDER_ASAN() do { } while (0)
#endif

static void assert_exit(int status, int code)
{
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), code);
}

static void test_every_kind_builds(void **state)
{
	int vcpu = sandbox_check_kind(SANDBOX_VCPU, SANDBOX_KILL);

	for (int k = 0; k < SANDBOX_KINDS; k++) {
		int n = sandbox_check_kind(k, SANDBOX_KILL);

		assert_true(n > 10);
		assert_int_equal(sandbox_check_kind(k, SANDBOX_LOG), n);
		assert_string_not_equal(sandbox_kind_name(k), "?");
	}
	/* main holds what the threads it starts need. */
	assert_true(sandbox_check_kind(SANDBOX_MAIN, SANDBOX_KILL) > vcpu);
	assert_int_equal(sandbox_check_kind(SANDBOX_KINDS, SANDBOX_KILL), -EINVAL);
	assert_int_equal(sandbox_check_kind(SANDBOX_VCPU, SANDBOX_OFF), -EINVAL);
}

static void test_parse_mode(void **state)
{
	enum sandbox_mode m;

	assert_int_equal(sandbox_parse_mode("off", &m), 0);
	assert_int_equal(m, SANDBOX_OFF);
	assert_int_equal(sandbox_parse_mode("log", &m), 0);
	assert_int_equal(m, SANDBOX_LOG);
	assert_int_equal(sandbox_parse_mode("kill", &m), 0);
	assert_int_equal(m, SANDBOX_KILL);
	assert_int_equal(sandbox_parse_mode("strict", &m), -EINVAL);
	assert_int_equal(sandbox_parse_mode("", &m), -EINVAL);
}

static void test_vcpu_allowed_survive(void **state)
{
	char err[512];

	assert_exit(run_child(SANDBOX_VCPU, SANDBOX_KILL, P_ALLOWED, err, sizeof(err)), 0);
	assert_string_equal(err, "alive\n");
	assert_exit(run_child(SANDBOX_VCPU, SANDBOX_KILL, P_IOCTL_KVM_RUN, err, sizeof(err)), 0);
}

/* Every thread that can resume the VM (vm_resume) may wake one from ACPI S3,
 * whose wake sets the PIC through KVM_GET/SET_IRQCHIP: the gdb stub's
 * continue too (it used to be killed). */
static void test_resumers_may_wake(void **state)
{
	static const enum sandbox_kind kinds[] = { SANDBOX_API, SANDBOX_MAIN, SANDBOX_GDB };
	char err[512];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_exit(run_child(kinds[i], SANDBOX_KILL, P_IOCTL_IRQCHIP, err, sizeof(err)), 0);
}

static void test_vcpu_execve_killed(void **state)
{
	char err[512];

	SKIP_UNDER_ASAN();
	assert_exit(run_child(SANDBOX_VCPU, SANDBOX_KILL, P_EXECVE, err, sizeof(err)),
		    SANDBOX_EXIT_STATUS);
	assert_non_null(strstr(err, "mvm: seccomp: thread "));
	assert_non_null(strstr(err, "(vcpu filter) made syscall 59 (execve)"));
	assert_non_null(strstr(err, "exiting with status 5\n"));
	/* ONE line. */
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
}

/* Each kind is compiled once (sandbox_prepare or its first thread) and loaded by every thread
 * of the kind: a second vCPU thread, whose filter comes from the cached program, is filtered
 * as the first was. */
static void *vcpu_thread(void *arg)
{
	sandbox_enter(SANDBOX_VCPU);
	if (arg) {
		char *argv[] = { "/bin/true", NULL };

		execve("/bin/true", argv, NULL);
		_exit(93);
	}
	if (write(STDERR_FILENO, "first\n", 6) != 6)
		_exit(91);
	return NULL;
}

/* Fork; the child runs BODY with its stderr in err; the child's wait status. */
static int run_forked(void (*body)(void), char *err, size_t errlen)
{
	int fds[2], status;
	ssize_t n = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		body();
		_exit(0);
	}
	close(fds[1]);
	for (ssize_t r; (r = read(fds[0], err + n, errlen - 1 - (size_t)n)) > 0;)
		n += r;
	err[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* A vCPU thread filtered from the compiled program, then a second one that execve()s. */
static void two_vcpu_threads(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, vcpu_thread, NULL) || pthread_join(t, NULL))
		_exit(94);
	if (pthread_create(&t, NULL, vcpu_thread, (void *)1) || pthread_join(t, NULL))
		_exit(95);
}

static void compiled_once_child(void)
{
	if (sandbox_setup(SANDBOX_KILL) || sandbox_prepare(SANDBOX_VCPU) ||
	    sandbox_prepare(SANDBOX_VCPU))
		_exit(90);
	two_vcpu_threads();
}

static void test_compiled_once_loaded_twice(void **state)
{
	char err[512];

	SKIP_UNDER_ASAN();
	assert_exit(run_forked(compiled_once_child, err, sizeof(err)), SANDBOX_EXIT_STATUS);
	assert_non_null(strstr(err, "first\n"));
	assert_non_null(strstr(err, "(vcpu filter) made syscall 59 (execve)"));
}

/* Compiled on the mvm-seccomp thread while another thread enters the same kind: that thread
 * waits for the program (or compiles it itself) and is filtered. */
static void prepare_async_child(void)
{
	static const enum sandbox_kind kinds[] = { SANDBOX_VCPU, SANDBOX_MAIN };
	pthread_t t;

	if (sandbox_setup(SANDBOX_KILL) || sandbox_prepare_async(kinds, 2))
		_exit(90);
	if (pthread_create(&t, NULL, vcpu_thread, (void *)1) || pthread_join(t, NULL))
		_exit(95);
}

static void test_prepare_async(void **state)
{
	char err[512];

	SKIP_UNDER_ASAN();
	assert_exit(run_forked(prepare_async_child, err, sizeof(err)), SANDBOX_EXIT_STATUS);
	assert_non_null(strstr(err, "(vcpu filter) made syscall 59 (execve)"));
}

static void test_exec_memory_killed(void **state)
{
	char err[512];

	SKIP_UNDER_ASAN();
	for (int k = 0; k < SANDBOX_KINDS; k++) {
		assert_exit(run_child(k, SANDBOX_KILL, P_MMAP_EXEC, err, sizeof(err)),
			    SANDBOX_EXIT_STATUS);
		assert_non_null(strstr(err, "(mmap)"));
		assert_exit(run_child(k, SANDBOX_KILL, P_MPROTECT_EXEC, err, sizeof(err)),
			    SANDBOX_EXIT_STATUS);
		assert_non_null(strstr(err, "(mprotect)"));
	}
}

static void test_socket_families(void **state)
{
	char err[512];

	SKIP_UNDER_ASAN();
	assert_exit(run_child(SANDBOX_NET_USER, SANDBOX_KILL, P_SOCKET_INET, err, sizeof(err)), 0);
	assert_exit(run_child(SANDBOX_NET_USER, SANDBOX_KILL, P_SOCKET_UNIX, err, sizeof(err)),
		    SANDBOX_EXIT_STATUS);
	assert_non_null(strstr(err, "(socket)"));
	/* The API thread starts live migration's thread, which connects out. */
	assert_exit(run_child(SANDBOX_API, SANDBOX_KILL, P_SOCKET_INET, err, sizeof(err)), 0);
	assert_exit(run_child(SANDBOX_VCPU, SANDBOX_KILL, P_SOCKET_INET, err, sizeof(err)),
		    SANDBOX_EXIT_STATUS);
}

static void test_ioctl_numbers(void **state)
{
	char err[512];

	SKIP_UNDER_ASAN();
	for (int k = 0; k < SANDBOX_KINDS; k++) {
		assert_exit(run_child(k, SANDBOX_KILL, P_IOCTL_TUN, err, sizeof(err)),
			    SANDBOX_EXIT_STATUS);
		assert_non_null(strstr(err, "(ioctl)"));
	}
	/* KVM_RUN only where vCPUs run (main: the vCPU threads inherit its filter). */
	assert_exit(run_child(SANDBOX_BLK, SANDBOX_KILL, P_IOCTL_KVM_RUN, err, sizeof(err)),
		    SANDBOX_EXIT_STATUS);
	assert_exit(run_child(SANDBOX_API, SANDBOX_KILL, P_IOCTL_KVM_RUN, err, sizeof(err)),
		    SANDBOX_EXIT_STATUS);
}

static void test_log_and_off_let_it_run(void **state)
{
	char err[512];

	assert_exit(run_child(SANDBOX_VCPU, SANDBOX_LOG, P_SOCKET_INET, err, sizeof(err)), 0);
	assert_exit(run_child(SANDBOX_VCPU, SANDBOX_OFF, P_SOCKET_INET, err, sizeof(err)), 0);
}

/* MVM_SECCOMP_TEST=KIND: that kind's first thread makes a forbidden call once. */
static void test_hook(void **state)
{
	char err[1024];

	SKIP_UNDER_ASAN();
	setenv("MVM_SECCOMP_TEST", "blk", 1);
	assert_exit(run_child(SANDBOX_VCPU, SANDBOX_KILL, P_NONE, err, sizeof(err)), 0);
	assert_exit(run_child(SANDBOX_BLK, SANDBOX_KILL, P_NONE, err, sizeof(err)),
		    SANDBOX_EXIT_STATUS);
	assert_non_null(strstr(err, "(blk filter) made syscall 135 (personality)"));
	assert_exit(run_child(SANDBOX_BLK, SANDBOX_OFF, P_NONE, err, sizeof(err)), 0);
	unsetenv("MVM_SECCOMP_TEST");
	assert_exit(run_child(SANDBOX_BLK, SANDBOX_KILL, P_NONE, err, sizeof(err)), 0);
}

/* The README's seccomp table gives each kind's syscall count: it must be the
 * count the filter really allows (the table is how users audit the lists).
 * Rows read "| `thread` ... (KIND) | N |" or "| ... (KIND, more) | N |". */
static void test_readme_counts(void **state)
{
	FILE *f = fopen("README.md", "r");
	char line[4096];
	int rows = 0;

	if (!f)
		f = fopen("../README.md", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *cell_end = line[0] == '|' ? strchr(line + 1, '|') : NULL;
		char *open = NULL, kind[32];
		size_t n;

		if (!cell_end)
			continue;
		/* The kind is in the first cell's last parentheses. */
		for (char *p = line + 1; p < cell_end; p++)
			if (*p == '(')
				open = p + 1;
		if (!open)
			continue;
		n = strcspn(open, ",)");
		if (n == 0 || n >= sizeof(kind))
			continue;
		memcpy(kind, open, n);
		kind[n] = '\0';
		for (int k = 0; k < SANDBOX_KINDS; k++) {
			int count;

			if (strcmp(kind, sandbox_kind_name(k)))
				continue;
			count = atoi(cell_end + 1);
			if (count != sandbox_check_kind(k, SANDBOX_KILL))
				fail_msg("README: %s allows %d syscalls, the filter %d", kind, count,
					 sandbox_check_kind(k, SANDBOX_KILL));
			rows++;
		}
	}
	fclose(f);
	assert_int_equal(rows, SANDBOX_KINDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind_builds),
		cmocka_unit_test(test_parse_mode),
		cmocka_unit_test(test_vcpu_allowed_survive),
		cmocka_unit_test(test_vcpu_execve_killed),
		cmocka_unit_test(test_compiled_once_loaded_twice),
		cmocka_unit_test(test_prepare_async),
		cmocka_unit_test(test_exec_memory_killed),
		cmocka_unit_test(test_socket_families),
		cmocka_unit_test(test_ioctl_numbers),
		cmocka_unit_test(test_resumers_may_wake),
		cmocka_unit_test(test_log_and_off_let_it_run),
		cmocka_unit_test(test_hook),
		cmocka_unit_test(test_readme_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
