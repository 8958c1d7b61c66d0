/* ratelimit.h - a token bucket: at most `rate` events per second, bursts of `burst`.
 *
 * Contract: the caller passes the time (CLOCK_MONOTONIC ns, or a fake clock
 * in tests), so the math is pure and testable. Credit is kept in integer
 * units: one token is `token` units (1e9 for ratelimit_init, the period for
 * ratelimit_init_period) and `rate` units are refilled per ns, so no
 * rounding drifts; a time that goes backwards refills nothing. Not
 * thread-safe: callers sharing a bucket hold their own lock.
 */
#ifndef MVM_UTIL_RATELIMIT_H
#define MVM_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint64_t rate;             /* units refilled per ns */
	uint64_t token;            /* units per token */
	uint64_t cap;              /* burst * token */
	uint64_t credit;           /* units available */
	uint64_t last_ns;
};

/* Start full: the first `burst` events pass at once. rate and burst are clamped to >= 1. */
void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Slower than one per second: one event per period_ns (1 ns .. 1 hour), bursts
 * of `burst` (1 .. 4096). Starts full. */
void ratelimit_init_period(struct ratelimit *rl, uint64_t period_ns, uint64_t burst,
			   uint64_t now_ns);
/* True (and one token spent) when an event may pass at now_ns. */
bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns);

#endif
