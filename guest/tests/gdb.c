/* gdb.c - the target of the scripted gdb sessions (tests/linux/gdb-cases.sh): a function to
 * break on and step through, a counter to watch and to change from the debugger, a constant
 * to read; spin=1 on its command line: a loop that never ends. It prints what it ended with, so the session's writes show in its output. */
#include "mvm_guest.h"

volatile uint64_t gdb_counter;
const uint64_t gdb_magic = 0x6762642d6d766dull;   /* "mvm-gdb" */

__attribute__((noinline)) uint64_t gdb_add(uint64_t x)
{
	gdb_counter += x;
	return gdb_counter * 3;
}

int mvm_main(const struct mvm_bootinfo *bi)
{
	uint64_t sum = 0;

	/* spin=1: run until stopped, a tick line every 2^22 additions (a VM that must keep
	 * running after a debugger leaves). */
	if (mvm_cmdline_u64(bi, "spin", 0)) {
		for (;;) {
			gdb_add(1);
			if (!(gdb_counter & ((1u << 22) - 1)))
				mvm_printf("gdb guest: tick %lu\n", (unsigned long)(gdb_counter >> 22));
		}
	}
	for (uint64_t i = 1; i <= 5; i++)
		sum += gdb_add(i);
	mvm_printf("gdb guest: counter %lu sum %lu magic %lx\n", (unsigned long)gdb_counter,
		   (unsigned long)sum, (unsigned long)gdb_magic);
	mvm_exit(0);
}
