/* update.h - changes to a running VM's devices: Firecracker's PATCH /drives
 * and PATCH /network-interfaces.
 *
 * Contract: called on the API thread of a started VM; cfg is the
 * configuration the VM was built from (the caller updates it only on
 * success). index is the disk's or interface's position in cfg. Each call
 * runs the change on the device's worker and returns 0, or -errno with one
 * line in err: -ENODEV when the device is not a virtio device of this VM
 * (a tiny guest keeps its first interface for hypercalls), the image's
 * errors for a new path (as at start: the same checks and lock).
 */
#ifndef MVM_VMM_UPDATE_H
#define MVM_VMM_UPDATE_H

#include <stddef.h>

#include "core/vm_config.h"
#include "util/tbucket.h"

struct vm;

/* path: a new image (NULL: keep it); rl: the limiter's buckets to replace. */
int vm_drive_update(struct vm *vm, const struct vm_config *cfg, int index, const char *path,
		    const struct rlim_update *rl, char *err, size_t errlen);
int vm_net_update(struct vm *vm, const struct vm_config *cfg, int index,
		  const struct rlim_update *rx, const struct rlim_update *tx,
		  char *err, size_t errlen);

#endif
