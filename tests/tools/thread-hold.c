/* thread-hold.c - keep one thread of another process stopped for a while
 * (tests/linux/api-cases.sh api-pause-stuck: a vCPU thread that cannot park).
 *
 * Usage: thread-hold TID SECONDS. PTRACE_SEIZE + PTRACE_INTERRUPT stop that
 * one thread only (the process's other threads run on); it stays stopped,
 * whatever signals it is sent, until this program detaches after SECONDS
 * (or exits). Prints "held TID" once the thread is stopped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	pid_t tid;
	int secs, st;

	if (argc != 3 || (tid = atoi(argv[1])) <= 0 || (secs = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: thread-hold TID SECONDS\n");
		return 2;
	}
	if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0 || ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
		fprintf(stderr, "thread-hold: ptrace %d: %s\n", tid, strerror(errno));
		return 1;
	}
	if (waitpid(tid, &st, __WALL) < 0 || !WIFSTOPPED(st)) {
		fprintf(stderr, "thread-hold: thread %d did not stop\n", tid);
		return 1;
	}
	printf("held %d\n", tid);
	fflush(stdout);
	/* SIGTERM ends the hold early: the handler only interrupts sleep(), and
	 * the thread is then let go by an explicit detach (a tracer that just
	 * dies can leave a PTRACE_INTERRUPTed thread stopped). */
	signal(SIGTERM, on_term);
	sleep((unsigned)secs);
	if (ptrace(PTRACE_DETACH, tid, 0, 0) < 0)
		fprintf(stderr, "thread-hold: detach %d: %s\n", tid, strerror(errno));
	return 0;
}
