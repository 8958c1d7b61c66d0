/* profile.c - the target of the --profile cases (tests/integration): for ms=N milliseconds (default
 * 1000) of the host's time it alternates prof_hot, which does three units of work, and prof_cold,
 * which does one, so a sampling profile must find about three of every four samples in prof_hot.
 * It then prints how many rounds it ran and exits 0. */
#include "mvm_guest.h"

#define UNIT 20000   /* additions per unit of work: a round stays well under a millisecond */

volatile uint64_t prof_sink;

/* Separate functions, not inlined, each with its own loop: a sample's RIP names one of them. */
__attribute__((noinline)) void prof_hot(void)
{
	for (uint64_t i = 0; i < 3 * UNIT; i++)
		prof_sink += i;
}

__attribute__((noinline)) void prof_cold(void)
{
	for (uint64_t i = 0; i < UNIT; i++)
		prof_sink += i;
}

int mvm_main(const struct mvm_bootinfo *bi)
{
	uint64_t ms = mvm_cmdline_u64(bi, "ms", 1000), rounds = 0;
	uint64_t end = mvm_time_mono_ns() + ms * 1000000ull;

	/* The clock is a hypercall, an exit: asked once per 64 rounds, so the samples fall in the
	 * two functions and not in the exits. */
	do {
		prof_hot();
		prof_cold();
		rounds++;
	} while ((rounds & 63) || mvm_time_mono_ns() < end);
	mvm_printf("profile guest: %lu rounds\n", (unsigned long)rounds);
	mvm_exit(0);
}
