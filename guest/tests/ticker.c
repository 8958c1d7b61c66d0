/* ticker.c - the target of snapshot-tiny (tests/linux/snapshot-cases.sh): prints "ticker: tick i"
 * every ms=N milliseconds (default 100) of the host's clock for i = 1..ticks=N (default 50),
 * then "ticker: done, sum S" and exits 0. The count and the sum live in guest RAM, so a restored
 * guest goes on from where its snapshot stopped; the next tick is timed from the last one, so a
 * guest restored after a long time does not catch up in a burst. */
#include "mvm_guest.h"

static volatile uint64_t ticker_count, ticker_sum;

int mvm_main(const struct mvm_bootinfo *bi)
{
	uint64_t ticks = mvm_cmdline_u64(bi, "ticks", 50), ms = mvm_cmdline_u64(bi, "ms", 100);
	uint64_t next = mvm_time_mono_ns() + ms * 1000000ull;

	while (ticker_count < ticks) {
		while (mvm_time_mono_ns() < next)
			;
		ticker_count++;
		ticker_sum += ticker_count;
		mvm_printf("ticker: tick %lu\n", (unsigned long)ticker_count);
		next = mvm_time_mono_ns() + ms * 1000000ull;
	}
	mvm_printf("ticker: done, sum %lu\n", (unsigned long)ticker_sum);
	mvm_exit(0);
}
