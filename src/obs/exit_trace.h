/* exit_trace.h - `--trace-exits`: one stderr line per vCPU exit, rate limited.
 *
 * Contract: exit_trace_create() makes one tracer per VM, shared by its vCPUs
 * (a mutex guards the bucket; it is taken only when tracing is on: with
 * tracing off the vCPU loop tests one NULL pointer). exit_trace_log() is
 * called by a vCPU after its handler ran (so an IN's data is the answer the
 * guest got) and writes one line with a single write(2): "mvm: exit vcpuN
 * REASON ..." with the port or address, size, direction and data. A token
 * bucket (default 1000 lines/s, burst 1000; MVM_TRACE_EXITS_RATE=N sets both)
 * bounds the lines a guest can cause; dropped exits are counted and reported
 * as "mvm: N exits not traced" at most once per second, and by
 * exit_trace_finish() at the end. The clock is a parameter for tests.
 */
#ifndef MVM_OBS_EXIT_TRACE_H
#define MVM_OBS_EXIT_TRACE_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

#include "util/ratelimit.h"

#define EXIT_TRACE_RATE 1000       /* lines per second and burst, per VM */

struct exit_trace {
	pthread_mutex_t lock;
	struct ratelimit bucket;
	uint64_t dropped;          /* since the last "not traced" line */
	uint64_t last_report_ns;
	uint64_t traced, dropped_total;
	int out_fd;                /* STDERR_FILENO; a pipe in tests */
};

/* rate 0: EXIT_TRACE_RATE or $MVM_TRACE_EXITS_RATE. */
int exit_trace_init(struct exit_trace *t, uint64_t rate, int out_fd, uint64_t now_ns);
void exit_trace_log(struct exit_trace *t, int vcpu, const struct kvm_run *run, uint64_t now_ns);
/* Report the exits dropped since the last report. */
void exit_trace_finish(struct exit_trace *t);
void exit_trace_destroy(struct exit_trace *t);

/* Format the line for one exit (no rate limit, no "mvm: " prefix); its length. */
int exit_trace_format(char *buf, size_t len, int vcpu, const struct kvm_run *run);

#endif
