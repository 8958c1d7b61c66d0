/* ratelimit.c - token bucket in integer token-nanoseconds. */
#include "util/ratelimit.h"

#define RATELIMIT_TOKEN 1000000000ull
#define RATELIMIT_MAX   (1ull << 24)  /* rate and burst bound: cap stays far below 2^64 */

static uint64_t ratelimit_clamp(uint64_t v)
{
	return v < 1 ? 1 : v > RATELIMIT_MAX ? RATELIMIT_MAX : v;
}

void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	rl->rate = ratelimit_clamp(rate);
	rl->cap = ratelimit_clamp(burst) * RATELIMIT_TOKEN;
	rl->credit = rl->cap;
	rl->last_ns = now_ns;
}

bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns)
{
	if (now_ns > rl->last_ns) {
		uint64_t elapsed = now_ns - rl->last_ns;
		uint64_t room = rl->cap - rl->credit;

		/* Bound elapsed first: elapsed * rate must not overflow. */
		if (elapsed >= room / rl->rate + 1)
			rl->credit = rl->cap;
		else
			rl->credit += elapsed * rl->rate;
		rl->last_ns = now_ns;
	}
	if (rl->credit < RATELIMIT_TOKEN)
		return false;
	rl->credit -= RATELIMIT_TOKEN;
	return true;
}
