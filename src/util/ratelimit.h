/* ratelimit.h - a token bucket: at most `rate` events per second, bursts of `burst`.
 *
 * Contract: the caller passes the time (CLOCK_MONOTONIC ns, or a fake clock
 * in tests), so the math is pure and testable. Credit is kept in integer
 * token-nanoseconds (one token = 1e9 units, refilled at `rate` units per ns),
 * so no rounding drifts; a time that goes backwards refills nothing. Not
 * thread-safe: callers sharing a bucket hold their own lock.
 */
#ifndef MVM_UTIL_RATELIMIT_H
#define MVM_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint64_t rate;             /* tokens per second, >= 1 */
	uint64_t cap;              /* burst * 1e9 */
	uint64_t credit;           /* token-nanoseconds available */
	uint64_t last_ns;
};

/* Start full: the first `burst` events pass at once. rate and burst are clamped to >= 1. */
void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* True (and one token spent) when an event may pass at now_ns. */
bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns);

#endif
