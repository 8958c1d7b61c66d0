/* nap.h - sleep for a period in short steps, ending early once a stop flag is set: a thread that
 * wakes once per period (the throttler, the profiler) must not make a stop wait a whole one. */
#ifndef MVM_UTIL_NAP_H
#define MVM_UTIL_NAP_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* Sleep ns nanoseconds in steps of at most step_ns, or until *stop is seen set between two. */
static inline void nap_unless(const atomic_bool *stop, uint64_t ns, uint64_t step_ns)
{
	for (uint64_t left = ns; left && !atomic_load(stop);) {
		uint64_t step = left < step_ns ? left : step_ns;
		struct timespec ts = { .tv_sec = (time_t)(step / 1000000000ull),
				       .tv_nsec = (long)(step % 1000000000ull) };

		nanosleep(&ts, NULL);
		left -= step;
	}
}

#endif
