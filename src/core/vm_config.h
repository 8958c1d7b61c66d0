/* vm_config.h - everything the user asks of a VM, filled by the CLI, the
 * config file or the API (api/fc_config.h), read by vm_create().
 *
 * Ownership: kernel_path, initrd_path, cmdline and nets[i] may point into
 * argv (the CLI) or be heap copies; a set bit in `owned` (VM_OWN_*) says
 * which, and vm_config_set_string() keeps the bit right. Every other string
 * (disks[].path/id/drive_id/partuuid, net_ids[], log_path, metrics_path,
 * metrics_properties) is
 * always a heap copy or NULL. vm_config_release() frees what cfg owns. */
#ifndef MVM_CORE_VM_CONFIG_H
#define MVM_CORE_VM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "util/tbucket.h"

#define VM_DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=1 pci=off 8250.nr_uarts=1 " \
	"i8042.noaux i8042.nomux i8042.dumbkbd cryptomgr.notests"
#define VM_DEFAULT_MEM     (256ULL << 20)
#define VM_MIN_MEM         (16ULL << 20) /* == GMEM_MIN_SIZE */
#define VM_MAX_MEM         (1ULL << 40)  /* 1 TiB: far past any host we target */
#define VM_MAX_CPUS        255           /* MADT xAPIC IDs are 8 bits; 0xff is broadcast */
#define VM_MAX_DISKS       8
#define VM_MAX_NETS        4

struct vm_disk_cfg {
	const char *path;
	bool read_only;
	unsigned char fc_cache;    /* Firecracker's cache_type, io_engine as given (api/, 0: its */
	unsigned char fc_engine;   /* defaults): reported back; mvm's I/O is the same for all */
	const char *id;            /* virtio-blk GET_ID string; NULL: derived from the file */
	const char *drive_id;      /* Firecracker's drive_id (config file/API); NULL: CLI */
	bool is_root;              /* Firecracker's is_root_device: always disks[0] */
	const char *partuuid;      /* root=PARTUUID=... instead of root=/dev/vda; NULL: none */
	struct rlim_cfg rate_limiter; /* rate_limiter (config file/API); zero: none */
};

/* Firecracker's "balloon" (virtio-balloon): the host's target and options. */
struct vm_balloon_cfg {
	bool enabled;              /* a balloon device exists */
	bool deflate_on_oom;       /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	uint16_t stats_polling_interval_s; /* 0: no statistics queue */
	bool free_page_reporting;  /* offer VIRTIO_BALLOON_F_REPORTING */
	uint32_t amount_mib;       /* target size; <= mem_size once the VM runs */
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
	uint64_t vsock_cid;        /* --vsock cid=, "vsock".guest_cid */
	const char *vsock_uds;     /* --vsock uds=, "vsock".uds_path (heap); NULL: no vsock */
	const char *vsock_id;      /* Firecracker's vsock_id (heap); NULL: none given */
	enum vm_console console;   /* --console serial|virtio */
	const char *net_ids[VM_MAX_NETS]; /* Firecracker's iface_id per nets[i]; NULL: CLI */
	struct rlim_cfg net_rx_rl[VM_MAX_NETS]; /* rx_rate_limiter, tx_rate_limiter per nets[i] */
	struct rlim_cfg net_tx_rl[VM_MAX_NETS];
	struct rlim_cfg rng_rl;    /* entropy.rate_limiter */
	bool track_dirty_pages;    /* machine-config: KVM's dirty log + mvm's own (Diff snapshots) */
	const char *log_path;      /* logger.log_path; NULL: stderr */
	bool log_level_set;        /* logger.level was given: log_level is an enum log_level */
	int log_level;
	bool log_show_level;       /* logger.show_level, show_log_origin: recorded */
	bool log_show_origin;
	const char *metrics_path;  /* metrics.metrics_path; NULL: no metrics file */
	bool metrics_emit_id;      /* metrics.emit_id: each line carries "id" */
	const char *metrics_properties; /* metrics.properties as JSON object text; NULL: none */
	uint64_t metrics_interval_ms; /* between metrics lines; 0: $MVM_METRICS_INTERVAL_MS or 60 s */
	bool trace_exits;          /* --trace-exits: one stderr line per exit, rate limited */
	const char *profile_path;  /* --profile PATH (argv's): sample the vCPUs; NULL: off */
	unsigned profile_hz;       /* --profile ...,hz=N: samples per second per vCPU */
	bool debug_exit;           /* --debug-exit: QEMU's isa-debug-exit port; off: the guest
				    * cannot choose mvm's exit status */
	bool fw_cfg;               /* QEMU's fw_cfg ports: set by the builder for a multiboot
				    * kernel (board/fw_cfg.h), never by the user */
	bool legacy_pm;            /* legacy ACPI PM1 blocks, PM timer, FACS and S3: set by
				    * the builder for a multiboot kernel (board/acpi_pm1.h) */
	bool pc_testdev;           /* --pc-testdev: QEMU's pc-testdev (board/pc_testdev.h) */
	bool cpu_hyperv;           /* --cpu-hyperv: KVM's Hyper-V CPUID leaves and SynIC
				    * (core/hyperv.h); such a VM cannot be saved or migrated */
	bool dumpable;             /* --dumpable: keep core dumps and same-user ptrace */
	const char *gdb;           /* --gdb tcp:HOST:PORT|unix:PATH (argv); NULL: no gdb stub */
	bool gdb_wait;             /* --gdb-wait: hold the vCPUs until the client continues */
	int seccomp;               /* --seccomp: enum sandbox_mode (0: kill) */
	const char *api_sock;      /* --api-sock PATH (argv): configure and start through the API */
	const char *config_file;   /* --config-file FILE (argv), or NULL; with --api-sock: start at once */
	const char *restore_dir;   /* --restore DIR (argv): the VM comes from DIR's snapshot */
	const char *restore_drives[VM_MAX_DISKS]; /* --override-drive ID=PATH (argv), with --restore */
	int nr_restore_drives;
	const char *restore_nets[VM_MAX_NETS];   /* --override-net ID=TAP (argv), with --restore */
	int nr_restore_nets;
	const char *incoming;      /* --incoming URI (argv): the VM comes from a migration stream */
	bool vm_described;         /* flags or a --config-file describe the VM (--incoming: the
				    * stream must fit them; otherwise it brings its own) */
	bool disk_locks_deferred;  /* disks opened without their flock (vmm/migrate.h takes them) */
	struct vm_balloon_cfg balloon; /* "balloon" / PUT /balloon; PATCH updates the target */
	unsigned owned;            /* VM_OWN_* bits: which argv-or-heap strings are heap */
};

#define VM_OWN_KERNEL  (1u << 0)
#define VM_OWN_INITRD  (1u << 1)
#define VM_OWN_CMDLINE (1u << 2)
#define VM_OWN_NET(i)  (1u << (8 + (i)))

/* *field = a heap copy of value (NULL clears it), freeing the old string if
 * cfg owned it. own_bit: the field's VM_OWN_* bit, 0 for always-heap fields.
 * 0 or -ENOMEM (the field is then unchanged). */
int vm_config_set_string(struct vm_config *cfg, const char **field, unsigned own_bit,
			 const char *value);
/* Same, taking over copy (a heap string or NULL): cannot fail. */
void vm_config_put_string(struct vm_config *cfg, const char **field, unsigned own_bit,
			  char *copy);
/* Free every string cfg owns and clear those fields; cfg stays usable. */
void vm_config_release(struct vm_config *cfg);

#endif
