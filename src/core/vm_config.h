/* vm_config.h - everything the user asks of a VM, filled by the CLI (and
 * later the config file and API), read by vm_create(). */
#ifndef MVM_CORE_VM_CONFIG_H
#define MVM_CORE_VM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define VM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"
#define VM_DEFAULT_MEM     (256ULL << 20)
#define VM_MIN_MEM         (16ULL << 20) /* == GMEM_MIN_SIZE */
#define VM_MAX_MEM         (1ULL << 40)  /* 1 TiB: far past any host we target */
#define VM_MAX_CPUS        255           /* MADT xAPIC IDs are 8 bits; 0xff is broadcast */
#define VM_MAX_DISKS       8
#define VM_MAX_NETS        4

struct vm_disk_cfg {
	const char *path;
	bool read_only;
	const char *id;            /* virtio-blk GET_ID string; NULL: derived from the file */
};

enum vm_console {
	VM_CONSOLE_SERIAL = 0,     /* stdin feeds COM1 (ttyS0) */
	VM_CONSOLE_VIRTIO,         /* stdin feeds virtio-console (hvc0); COM1 still prints */
};

struct vm_config {
	const char *kernel_path;
	const char *initrd_path;   /* NULL: none */
	const char *cmdline;       /* NULL: VM_DEFAULT_CMDLINE */
	int nr_cpus;
	uint64_t mem_size;
	const char *kvm_path;      /* NULL: /dev/kvm */
	uint64_t bench_t0_ns;      /* benchmark launcher's CLOCK_MONOTONIC at exec; 0: off */
	bool stats;                /* --stats: time exits, print the table at exit */
	struct vm_disk_cfg disks[VM_MAX_DISKS];  /* --disk, in order: the first is vda */
	int nr_disks;
	const char *nets[VM_MAX_NETS]; /* --net values, checked by virtio_net_parse() */
	int nr_nets;
	bool rng;                  /* --rng */
	enum vm_console console;   /* --console serial|virtio */
};

#endif
