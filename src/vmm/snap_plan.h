/* snap_plan.h - which device sections a snapshot writes: one pure decision over the registry.
 *
 * Contract: vm_snapshot_plan() walks every slot of a VM's device registry
 * (vmm/devices.h) in plan order and fills one struct vm_snap_device per slot,
 * the "devices" section: kind, index, window, GSI and, when the slot's state
 * is written, that state's layout version and size (a section named by
 * vm_snap_device_section(), "dev.<short_name><index>", holds it). Per slot:
 *  - an instance whose kind has save, restore and a state_size: a section;
 *  - no instance (dev NULL), whatever the kind: no section (nothing to lose);
 *  - an instance of a stateless kind (core/device.h): no section;
 *  - an instance of any other kind (no save or restore, or no state_size):
 *    the VM cannot be saved: -ENOTSUP, err naming the device and its
 *    section ("pc-testdev 0 (dev.pc_testdev0)"). A device's state is never
 *    silently left out of a snapshot or a migration.
 * A section name that would not fit the state file's 16 bytes is refused
 * the same way (-ENAMETOOLONG): a cut name could meet another device's.
 * Pure: it reads d and the kinds' tables only (no device is called, no
 * KVM), so a save and a migration can ask before they change anything, and
 * a unit test can build d by hand.
 */
#ifndef MVM_VMM_SNAP_PLAN_H
#define MVM_VMM_SNAP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/devices.h"

/* "devices": one entry per instance, in plan order. */
struct vm_snap_device {
	char kind[16];            /* device_kind short_name, NUL-padded */
	uint32_t index;
	uint32_t gsi;
	uint64_t base;
	uint32_t state_version;   /* 0 with state_size 0: no section for this slot */
	uint32_t state_size;
};
#define VM_SNAP_DEVICES_VERSION 1

/* plan: d->nr_slots entries (NULL: only decide). 0, or -ENOTSUP /
 * -ENAMETOOLONG with the first device that cannot be saved named in err;
 * plan is then incomplete. */
int vm_snapshot_plan(const struct vm_devices *d, struct vm_snap_device *plan, char *err,
		     size_t errlen);

/* The section name of e's state into name (len bytes, at least
 * SNAP_NAME_LEN + 1). 0, or -ENAMETOOLONG when it does not fit a section
 * name (or e->kind has no NUL). */
int vm_snap_device_section(const struct vm_snap_device *e, char *name, size_t len);

#endif
