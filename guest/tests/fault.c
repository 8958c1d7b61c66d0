/* fault.c - a guest that faults on purpose: mvm must report it and exit 4.
 * Command line fault=null (default) reads address 0; fault=sys writes mvm's
 * supervisor-only GDT page; fault=ud executes ud2; fault=gp executes hlt. */
#include "mvm_guest.h"

int mvm_main(const struct mvm_bootinfo *bi)
{
	char kind[16] = "null";

	mvm_cmdline_get(bi, "fault", kind, sizeof(kind));
	mvm_printf("fault guest: about to fault (%s)\n", kind);
	if (!strcmp(kind, "sys"))
		*(volatile uint64_t *)0x41000 = 0;   /* LAYOUT_R3_GDT */
	else if (!strcmp(kind, "ud"))
		__asm__ volatile("ud2");
	else if (!strcmp(kind, "gp"))
		__asm__ volatile("hlt");
	else
		(void)*(volatile uint64_t *)0;
	mvm_printf("fault guest: still running, which is wrong\n");
	return 99;
}
