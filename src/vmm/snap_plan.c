/* snap_plan.c - which device sections a snapshot writes (snap_plan.h). */
#include "vmm/snap_plan.h"
#include "snap/format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int vm_snap_device_section(const struct vm_snap_device *e, char *name, size_t len)
{
	int n;

	if (!memchr(e->kind, 0, sizeof(e->kind)) || len < SNAP_NAME_LEN + 1)
		return -ENAMETOOLONG;
	n = snprintf(name, len, "dev.%s%u", e->kind, e->index);
	return n < 0 || n > (int)SNAP_NAME_LEN ? -ENAMETOOLONG : 0;
}

/* Whether instances of kind carry their state in a snapshot. */
static bool kind_saves(const struct device_kind *kind)
{
	return kind->save && kind->restore && kind->state_size;
}

int vm_snapshot_plan(const struct vm_devices *d, struct vm_snap_device *plan, char *err,
		     size_t errlen)
{
	for (int i = 0; i < d->nr_slots; i++) {
		const struct vm_device *s = &d->slots[i];
		const struct device_kind *kind = s->kind;
		struct vm_snap_device e = {
			.index = (uint32_t)s->index, .gsi = s->gsi, .base = s->base,
		};
		char name[SNAP_NAME_LEN + 1];

		snprintf(e.kind, sizeof(e.kind), "%s", kind->short_name);
		if (strlen(kind->short_name) >= sizeof(e.kind) ||
		    vm_snap_device_section(&e, name, sizeof(name))) {
			snprintf(err, errlen, "%s %d: its section name (dev.%s%d) is longer than "
				 "a state file's %u bytes", kind->name, s->index, kind->short_name,
				 s->index, SNAP_NAME_LEN);
			return -ENAMETOOLONG;
		}
		if (s->dev && kind_saves(kind)) {
			e.state_version = kind->state_version;
			e.state_size = (uint32_t)kind->state_size;
		} else if (s->dev && !kind->stateless) {
			snprintf(err, errlen, "%s %d (%s) keeps guest state this mvm cannot save: "
				 "the VM cannot be snapshotted or migrated", kind->name, s->index,
				 name);
			return -ENOTSUP;
		}
		if (plan)
			plan[i] = e;
	}
	return 0;
}
