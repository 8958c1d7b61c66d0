/* halt.c - adversarial guest: the only vCPU stops with interrupts off.
 *
 * cli is legal at CPL 3 with IOPL 3 (mvm's entry state), hlt is not: the
 * CPU raises #GP, mvm's ring-0 stub reports it, mvm exits 4. A guest that
 * could halt with IF=0 would hang mvm forever; run.sh asserts the report. */
#include "adv.h"

int mvm_main(const struct mvm_bootinfo *bi)
{
	(void)bi;
	mvm_printf("ADV-MARK cli-hlt: RFLAGS 0x%lx, cli then hlt\n", (unsigned long)read_rflags());
	__asm__ volatile("cli");
	mvm_printf("ADV-MARK cli-hlt: cli passed (IOPL 3), RFLAGS 0x%lx\n", (unsigned long)read_rflags());
	for (;;)
		__asm__ volatile("hlt");
	return 1;
}
