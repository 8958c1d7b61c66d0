/* ratelimit.c - token bucket in integer units (a token is `token` units). */
#include "util/ratelimit.h"

#define RATELIMIT_TOKEN 1000000000ull
#define RATELIMIT_MAX   (1ull << 24)  /* rate and burst bound: cap stays far below 2^64 */
#define RATELIMIT_PERIOD_MAX (3600ull * RATELIMIT_TOKEN)
#define RATELIMIT_PERIOD_BURST_MAX 4096ull  /* 4096 * 3.6e12 < 2^64 */

static uint64_t ratelimit_clamp(uint64_t v, uint64_t max)
{
	return v < 1 ? 1 : v > max ? max : v;
}

void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	rl->rate = ratelimit_clamp(rate, RATELIMIT_MAX);
	rl->token = RATELIMIT_TOKEN;
	rl->cap = ratelimit_clamp(burst, RATELIMIT_MAX) * rl->token;
	rl->credit = rl->cap;
	rl->last_ns = now_ns;
}

void ratelimit_init_period(struct ratelimit *rl, uint64_t period_ns, uint64_t burst,
			   uint64_t now_ns)
{
	rl->rate = 1;
	rl->token = ratelimit_clamp(period_ns, RATELIMIT_PERIOD_MAX);
	rl->cap = ratelimit_clamp(burst, RATELIMIT_PERIOD_BURST_MAX) * rl->token;
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
	if (rl->credit < rl->token)
		return false;
	rl->credit -= rl->token;
	return true;
}
