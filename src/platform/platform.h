/* platform.h - what a VM boots: a kernel on the Linux board, or a tiny ring-3 guest.
 *
 * Contract: the builder asks platform_select() once, before the device plan:
 * it probes the kernel (boot_probe: the files opened once, the format read
 * from their headers; a missing or unusable file fails here) and picks the
 * first platform whose probe() takes that image. Then the chosen
 * platform's steps, in order:
 *   keep_devices()  which of the user's devices the platform keeps for
 *                   itself (a tiny guest's first --net and --disk belong to
 *                   its hypercalls): the rest go to the device registry
 *   open()          host resources the platform itself needs (before KVM,
 *                   so bad input fails the same way on every host)
 *   load()          the kernel, initrd and the CPU tables into guest RAM,
 *                   and how the boot vCPU enters (struct cpu_entry)
 *   attach()        after the KVM VM and its buses exist: the platform's
 *                   own ports (hypercalls); the devices' windows are given
 *   triple_fault()  optional: what the platform can tell after a triple fault
 *   destroy()       NULL-safe on a partly built platform
 * A restored VM (platform_select_named) skips load(): its RAM, boot information included,
 * is the snapshot's, so attach() must not write guest RAM then (p->restored).
 * Platforms know boot/, hcall/ and core/, never struct vm: adding one
 * touches its own file and one line of the table in platform.c.
 */
#ifndef MVM_PLATFORM_PLATFORM_H
#define MVM_PLATFORM_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"
#include "core/bus.h"
#include "core/cpu.h"
#include "core/memory.h"
#include "core/vm_config.h"
#include "core/vmstop.h"

/* One planned virtio-mmio window, as a platform may need to describe it. */
struct platform_dev {
	uint64_t base;
	uint64_t size;
	uint32_t gsi;
	uint32_t device_id;
};

struct platform_load {
	const struct vm_config *cfg;
	const char *cmdline;     /* with the devices' entries appended */
	uint64_t rsdp_gpa;       /* ACPI tables already in RAM */
};

struct platform_attach {
	struct bus *pio;
	struct vm_stopper stopper;
	const struct platform_dev *devs;
	int nr_devs;
	const char *disk_path;   /* the first --disk, or NULL */
	bool disk_read_only;
};

struct platform;

struct platform_ops {
	const char *name;
	/* Whether this platform boots the probed kernel; the last entry says yes. */
	bool (*probe)(const struct boot_image *img);
	void (*keep_devices)(const struct vm_config *cfg, struct vm_config *dev_cfg);
	int (*open)(struct platform *p, const struct vm_config *cfg);
	int (*load)(struct platform *p, const struct platform_load *l, struct cpu_entry *entry);
	int (*attach)(struct platform *p, const struct platform_attach *a);
	void (*triple_fault)(struct platform *p, int vcpu_index);
	void (*destroy)(struct platform *p);
};

struct platform {
	const struct platform_ops *ops;
	struct gmem *mem;
	void *priv;              /* the platform's own state */
	uint64_t boot_info;      /* gpa the loader put its boot information at */
	struct boot_image image; /* the probed kernel and initrd, open until loaded */
	bool image_open;
	bool restored;           /* from a snapshot: no load(), RAM is the snapshot's */
};

/* Probe cfg's kernel and choose its platform (Linux boots what no other
 * claims). 0, or boot_probe's -errno (logged, naming the file). */
int platform_select(struct platform *p, const struct vm_config *cfg, struct gmem *mem);
/* A restored VM's platform, by its ops name, without a kernel: 0 or -ENOENT.
 * Its load() is never called (guest RAM comes from the snapshot). */
int platform_select_named(struct platform *p, const char *name, struct gmem *mem);
/* Whether name is a platform this mvm has (a snapshot's machine section names one). */
bool platform_known(const char *name);
/* For a platform's load(): the probed image into guest RAM, from the files
 * probe opened (no second open or detection); closes them. */
int platform_load_image(struct platform *p, const struct platform_load *l, struct boot_entry *be);
void platform_destroy(struct platform *p);

extern const struct platform_ops platform_linux_ops;
extern const struct platform_ops platform_tiny_ops;

#endif
