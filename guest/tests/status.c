/* status.c - exits with status=N from the command line (default 42). */
#include "mvm_guest.h"

int mvm_main(const struct mvm_bootinfo *bi)
{
	uint64_t status = mvm_cmdline_u64(bi, "status", 42);

	MVM_ASSERT(bi->magic == MVM_BOOTINFO_MAGIC);
	mvm_printf("status guest: exiting with %lu\n", (unsigned long)status);
	mvm_exit((int)status);
}
