/* tbucket.c - token buckets for device rate limiters, in exact integer math. */
#include "util/tbucket.h"

#include <time.h>

#define NS_PER_MS 1000000ull

typedef unsigned __int128 u128;

void tbucket_init(struct tbucket *b, const struct tbucket_cfg *c, uint64_t now_ns)
{
	*b = (struct tbucket){ .last_ns = now_ns };
	if (!tbucket_cfg_on(c))
		return;
	b->on = true;
	b->size = c->size;
	b->burst = c->one_time_burst;
	/* Past ~584 years the refill time is the same as "never": cap it. */
	b->refill_ns = c->refill_time_ms > UINT64_MAX / NS_PER_MS ? UINT64_MAX
								 : c->refill_time_ms * NS_PER_MS;
	b->budget = b->size;
}

/* Add what refilled since last_ns: first the debt is paid, then the budget,
 * up to size. The sub-token remainder is carried in frac. */
static void tbucket_refill(struct tbucket *b, uint64_t now_ns)
{
	u128 acc, tokens;

	if (now_ns <= b->last_ns)
		return;   /* same instant, or a clock that went back: nothing */
	acc = (u128)(now_ns - b->last_ns) * b->size + b->frac;
	b->last_ns = now_ns;
	if (b->budget == b->size && !b->debt) {
		b->frac = 0;
		return;
	}
	tokens = acc / b->refill_ns;
	b->frac = (uint64_t)(acc % b->refill_ns);
	if (tokens < b->debt) {
		b->debt -= (uint64_t)tokens;
		return;
	}
	tokens -= b->debt;
	b->debt = 0;
	if (tokens >= b->size - b->budget) {
		b->budget = b->size;
		b->frac = 0;
	} else {
		b->budget += (uint64_t)tokens;
	}
}

uint64_t tbucket_wait(struct tbucket *b, uint64_t n, uint64_t now_ns)
{
	u128 need, ns;

	if (!b->on)
		return 0;
	tbucket_refill(b, now_ns);
	if (n <= b->burst)
		return 0;
	n -= b->burst;
	if (!b->debt && (n <= b->budget || b->budget == b->size))
		return 0;   /* fits, or is larger than the bucket and the bucket is full */
	/* Tokens still missing, then the time they take at size per refill_ns. */
	need = (u128)b->debt + (n < b->size ? n : b->size) - b->budget;
	if (need > ((u128)RLIM_WAIT_MAX_NS * b->size + b->frac) / b->refill_ns)
		return RLIM_WAIT_MAX_NS;   /* also keeps need * refill_ns in range */
	ns = (need * b->refill_ns - b->frac + b->size - 1) / b->size;
	if (ns == 0)
		ns = 1;
	return ns > RLIM_WAIT_MAX_NS ? RLIM_WAIT_MAX_NS : (uint64_t)ns;
}

void tbucket_take(struct tbucket *b, uint64_t n, uint64_t now_ns)
{
	if (!b->on)
		return;
	tbucket_refill(b, now_ns);
	if (n <= b->burst) {
		b->burst -= n;
		return;
	}
	n -= b->burst;
	b->burst = 0;
	if (n <= b->budget) {
		b->budget -= n;
		return;
	}
	n -= b->budget;
	b->budget = 0;
	b->debt = n > UINT64_MAX - b->debt ? UINT64_MAX : b->debt + n;
}

void rlim_init(struct rlim *rl, const struct rlim_cfg *c, uint64_t now_ns)
{
	tbucket_init(&rl->bw, &c->bandwidth, now_ns);
	tbucket_init(&rl->ops, &c->ops, now_ns);
}

void rlim_update(struct rlim *rl, const struct rlim_update *u, uint64_t now_ns)
{
	if (u->has_bandwidth)
		tbucket_init(&rl->bw, &u->cfg.bandwidth, now_ns);
	if (u->has_ops)
		tbucket_init(&rl->ops, &u->cfg.ops, now_ns);
}

uint64_t rlim_wait(struct rlim *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t a = tbucket_wait(&rl->bw, bytes, now_ns);
	uint64_t b = tbucket_wait(&rl->ops, 1, now_ns);

	return a > b ? a : b;
}

void rlim_take(struct rlim *rl, uint64_t bytes, uint64_t now_ns)
{
	tbucket_take(&rl->bw, bytes, now_ns);
	tbucket_take(&rl->ops, 1, now_ns);
}

uint64_t rlim_try(struct rlim *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t w = rlim_wait(rl, bytes, now_ns);

	if (!w)
		rlim_take(rl, bytes, now_ns);
	return w;
}

uint64_t rlim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
