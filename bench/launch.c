/* launch.c - exec a command with MVM_T0_NS set to CLOCK_MONOTONIC now, so
 * mvm can report exec -> first KVM_RUN; prints wall time to a marker line.
 *
 * usage: launch MARKER TIMEOUT_S -- cmd args...
 * Runs cmd with its stdout on a pipe, copies it to our stdout, and when a
 * line contains MARKER prints "launch: marker_ms=<ms since exec>" on stderr.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int pfd[2], status = 0;
	char env[64], buf[4096], line[8192];
	size_t used = 0;
	int found = 0;
	unsigned long long t0;
	pid_t pid;

	if (argc < 5 || strcmp(argv[3], "--")) {
		fprintf(stderr, "usage: launch MARKER TIMEOUT_S -- cmd args...\n");
		return 2;
	}
	if (pipe(pfd))
		return 1;
	t0 = now_ns();
	snprintf(env, sizeof(env), "%llu", t0);
	setenv("MVM_T0_NS", env, 1);
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		alarm(atoi(argv[2]));
		execvp(argv[4], argv + 4);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], buf, sizeof(buf));

		if (n <= 0)
			break;
		fwrite(buf, 1, n, stdout);
		for (ssize_t i = 0; i < n && !found; i++) {
			if (buf[i] == '\n' || used == sizeof(line) - 1) {
				line[used] = 0;
				if (strstr(line, argv[1])) {
					found = 1;
					fprintf(stderr, "launch: marker_ms=%.1f\n", (now_ns() - t0) / 1e6);
				}
				used = 0;
			} else {
				line[used++] = buf[i];
			}
		}
	}
	waitpid(pid, &status, 0);
	if (!found)
		fprintf(stderr, "launch: marker not seen\n");
	return found ? (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) : 124;
}
