/* tbucket.h - Firecracker-style I/O rate limiters: a `bandwidth` and an `ops`
 * token bucket, each {size, one_time_burst, refill_time}.
 *
 * Contract: pure; the caller passes the time (CLOCK_MONOTONIC ns, or a fake
 * clock in tests). A bucket holds at most `size` tokens and refills from
 * empty to full in `refill_time_ms`, continuously (the remainder of a
 * partial token is carried, so no rate drifts by rounding); it starts full.
 * `one_time_burst` is extra credit spent first and never refilled. A bucket
 * with size 0 or refill_time 0 is off (no limit), as in Firecracker.
 *
 * rlim_wait() says whether `bytes` (bandwidth) and one op may pass now: 0,
 * or the ns until they can; rlim_take() then spends them. A request larger
 * than `size` passes once the bucket is full, and the excess is owed: the
 * bucket refills the debt before it holds tokens again (the long-run rate
 * stays size per refill_time, whatever the request sizes). Nothing is
 * spent when either bucket says wait, so a device can keep the request and
 * retry it. Times going backwards refill nothing. Not thread-safe: a
 * device's worker owns its limiters.
 */
#ifndef MVM_UTIL_TBUCKET_H
#define MVM_UTIL_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* One bucket as configured (Firecracker's TokenBucket JSON). */
struct tbucket_cfg {
	uint64_t size;             /* tokens (bytes or ops); 0: off */
	uint64_t one_time_burst;   /* extra tokens at start, not refilled */
	uint64_t refill_time_ms;   /* empty -> full; 0: off */
};

/* A rate limiter as configured (Firecracker's RateLimiter JSON). */
struct rlim_cfg {
	struct tbucket_cfg bandwidth;
	struct tbucket_cfg ops;
};

/* A PATCH of a limiter: a bucket left out stays as it is. */
struct rlim_update {
	bool has_bandwidth, has_ops;
	struct rlim_cfg cfg;
};

struct tbucket {
	bool on;
	uint64_t size, burst, refill_ns;
	uint64_t budget;           /* tokens available, <= size */
	uint64_t debt;             /* tokens owed by an oversized request */
	uint64_t frac;             /* partial token: units of 1/refill_ns token (< refill_ns) */
	uint64_t last_ns;
};

struct rlim {
	struct tbucket bw, ops;
};

/* The longest wait rlim_wait() reports (an absurd refill time is capped). */
#define RLIM_WAIT_MAX_NS (3600ull * 1000000000ull)

static inline bool tbucket_cfg_on(const struct tbucket_cfg *c)
{
	return c->size && c->refill_time_ms;
}

static inline bool rlim_cfg_on(const struct rlim_cfg *c)
{
	return tbucket_cfg_on(&c->bandwidth) || tbucket_cfg_on(&c->ops);
}

/* A bucket from its config, full, at now_ns. */
void tbucket_init(struct tbucket *b, const struct tbucket_cfg *c, uint64_t now_ns);
/* 0 when n tokens may be taken at now_ns, else the ns until they may. */
uint64_t tbucket_wait(struct tbucket *b, uint64_t n, uint64_t now_ns);
/* Spend n tokens (one_time_burst first); call after tbucket_wait() said 0. */
void tbucket_take(struct tbucket *b, uint64_t n, uint64_t now_ns);

void rlim_init(struct rlim *rl, const struct rlim_cfg *c, uint64_t now_ns);
/* Replace the buckets the update names with fresh (full) ones; the others
 * keep their state. */
void rlim_update(struct rlim *rl, const struct rlim_update *u, uint64_t now_ns);
static inline bool rlim_on(const struct rlim *rl)
{
	return rl->bw.on || rl->ops.on;
}
/* 0, or the ns until `bytes` and one op may pass (the longer of the two). */
uint64_t rlim_wait(struct rlim *rl, uint64_t bytes, uint64_t now_ns);
void rlim_take(struct rlim *rl, uint64_t bytes, uint64_t now_ns);
/* rlim_wait(), and rlim_take() when it is 0. */
uint64_t rlim_try(struct rlim *rl, uint64_t bytes, uint64_t now_ns);

/* CLOCK_MONOTONIC in ns. */
uint64_t rlim_now_ns(void);

#endif
