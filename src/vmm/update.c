/* update.c - PATCH /drives and PATCH /network-interfaces on a running VM. */
#include "vmm/update.h"
#include "vmm/devices.h"
#include "vmm/vm.h"
#include "virtio/blk.h"
#include "virtio/net.h"

#include <errno.h>
#include <stdio.h>

/* The device instance index of cfg's entry: the platform may keep some
 * for itself (a tiny guest's first interface), shifting the rest. */
static int update_dev_index(const struct vm *vm, const struct vm_config *cfg, bool net,
			    int index)
{
	struct vm_config dev_cfg = *cfg;   /* shallow: only its arrays are moved */

	if (vm->platform.ops && vm->platform.ops->keep_devices)
		vm->platform.ops->keep_devices(cfg, &dev_cfg);
	if (!net)
		return index < dev_cfg.nr_disks ? index : -1;
	for (int i = 0; i < dev_cfg.nr_nets; i++)
		if (dev_cfg.net_ids[i] == cfg->net_ids[index])
			return i;
	return -1;
}

int vm_drive_update(struct vm *vm, const struct vm_config *cfg, int index, const char *path,
		    const struct rlim_update *rl, char *err, size_t errlen)
{
	int i = update_dev_index(vm, cfg, false, index);
	struct virtio_blk *d = i < 0 ? NULL : vm_devices_find(vm->devices, &virtio_blk_kind, i);
	int ret;

	if (!d) {
		snprintf(err, errlen, "drive %d is not a virtio-blk device of this VM", index);
		return -ENODEV;
	}
	if (path && (ret = virtio_blk_swap_image(d, path, err, errlen)))
		return ret;
	if (rl)
		virtio_blk_set_rate_limiter(d, rl);
	return 0;
}

int vm_net_update(struct vm *vm, const struct vm_config *cfg, int index,
		  const struct rlim_update *rx, const struct rlim_update *tx,
		  char *err, size_t errlen)
{
	int i = update_dev_index(vm, cfg, true, index);
	struct virtio_net *d = i < 0 ? NULL : vm_devices_find(vm->devices, &virtio_net_kind, i);

	if (!d) {
		snprintf(err, errlen, "interface '%s' is not a virtio-net device of this VM "
			 "(a tiny guest keeps its first interface for hypercalls)",
			 cfg->net_ids[index] ? cfg->net_ids[index] : "?");
		return -ENODEV;
	}
	virtio_net_set_rate_limiters(d, rx, tx);
	return 0;
}
