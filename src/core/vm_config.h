/* vm_config.h - everything the user asks of a VM, filled by the CLI (and
 * later the config file and API), read by vm_create(). */
#ifndef MVM_CORE_VM_CONFIG_H
#define MVM_CORE_VM_CONFIG_H

#include <stdint.h>

#define VM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"

struct vm_config {
	const char *kernel_path;
	const char *initrd_path;   /* NULL: none */
	const char *cmdline;       /* NULL: VM_DEFAULT_CMDLINE */
	int nr_cpus;
	uint64_t mem_size;
	const char *kvm_path;      /* NULL: /dev/kvm */
};

#endif
