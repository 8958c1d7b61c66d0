/* devices.h - the registry: every device kind in one table, every instance in one list.
 *
 * Contract: three steps, because ACPI and the command line are written
 * before KVM exists, and user input must fail before KVM is touched:
 *  1. vm_devices_plan() walks the kinds in table order (the board's legacy
 *     devices, then disks, network devices, rng, console) and gives every
 *     instance the config asks for a slot; a virtio kind's slot gets its 4 KiB window
 *     (LAYOUT_VIRTIO_MMIO_BASE + i * 4 KiB) and its GSI. Pure. The plan feeds
 *     the DSDT (LNRO0005 entries) and the kernel command line
 *     (virtio_mmio.device=4K@BASE:GSI, for kernels built with
 *     CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; Debian's is not, and ignores it).
 *  2. vm_devices_create() creates every instance (kind->create): backends
 *     opened, user input checked, naming the flag and file in its message.
 *  3. vm_devices_attach() wires each to the buses and to KVM and starts it.
 * vm_devices_quiesce()/resume() hold and release every instance (pause);
 * vm_devices_stats() adds each instance's counters under "<short><index>";
 * vm_devices_destroy() stops every worker and finishes in-flight I/O, so
 * whatever the guest wrote and flushed is on disk when mvm exits.
 * Adding a device kind: its own file defines a struct device_kind, and one
 * line in device_kinds[] (devices.c) lists it.
 */
#ifndef MVM_VMM_DEVICES_H
#define MVM_VMM_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "boot/acpi/acpi.h"
#include "core/device.h"
#include "core/memory.h"
#include "core/vm_config.h"

#define VM_MAX_VIRTIO_DEVS (VM_MAX_DISKS + VM_MAX_NETS + 2)
#define VM_MAX_BOARD_DEVS  10
#define VM_MAX_DEVICES (VM_MAX_VIRTIO_DEVS + VM_MAX_BOARD_DEVS)

struct vm_device {
	const struct device_kind *kind;
	int index;                 /* among instances of its kind */
	void *dev;                 /* the instance (kind->create), or NULL */
	uint64_t base;             /* virtio-mmio window (virtio kinds) */
	uint32_t gsi;
	uint32_t device_id;        /* VIRTIO_ID_*; 0: a board device */
};

struct vm_devices {
	struct vm_device slots[VM_MAX_DEVICES];    /* every instance, in plan order */
	int nr_slots;
	struct acpi_mmio_dev acpi[VM_MAX_VIRTIO_DEVS]; /* the virtio windows, for the DSDT */
	int nr_windows;
};

/* Step 1. -EINVAL (logged) when there are more devices than GSIs. */
int vm_devices_plan(struct vm_devices *d, const struct vm_config *cfg);
/* Append " virtio_mmio.device=4K@0x...:N" per device to base into buf. 0 or -ENOSPC. */
int vm_devices_cmdline(const struct vm_devices *d, const char *base, char *buf, size_t len);
/* Step 2. 0 or -errno (logged; -ENOENT/-EACCES/-EINVAL/-EBUSY are the user's). */
int vm_devices_create(struct vm_devices *d, const struct vm_config *cfg,
		      const struct device_env *env);
/* Step 3 (with the same env as step 2). */
int vm_devices_attach(struct vm_devices *d, const struct device_env *env);
/* The index-th instance of kind, or NULL. */
void *vm_devices_find(const struct vm_devices *d, const struct device_kind *kind, int index);
/* Hold / release every instance (vm_pause(), vm_resume()). Quiesce gives
 * each instance timeout_ms: one that cannot stop in time is named in the
 * log and in stuck ("virtio-net net0"; stuck may be NULL, "" on success),
 * the ones already held are released, and -ETIMEDOUT is returned. */
int vm_devices_quiesce(struct vm_devices *d, int timeout_ms, char *stuck, size_t len);
void vm_devices_resume(struct vm_devices *d);
void vm_devices_stats(struct vm_devices *d, struct json_object *out);
void vm_devices_destroy(struct vm_devices *d);

#endif
