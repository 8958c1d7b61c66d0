/* devices.c - planning, creating, attaching and tearing down the virtio devices. */
#include "virtio/devices.h"
#include "core/layout.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* IOAPIC pins nothing else on the board uses (COM1 4, RTC 8, SCI 9; 0-2
 * timer/keyboard/cascade; 3 and 13 left for a COM2/FPU a guest may assume). */
static const uint32_t devices_gsis[] = { 5, 6, 7, 10, 11, 12, 14, 15,
					 16, 17, 18, 19, 20, 21, 22, 23 };

static void devices_add_slot(struct vm_devices *d, uint32_t device_id, int index)
{
	struct vm_device_slot *s = &d->slots[d->nr_slots];

	s->device_id = device_id;
	s->index = index;
	s->base = LAYOUT_VIRTIO_MMIO_BASE + (uint64_t)d->nr_slots * LAYOUT_VIRTIO_MMIO_SIZE;
	s->gsi = devices_gsis[d->nr_slots];
	d->acpi[d->nr_slots] = (struct acpi_mmio_dev){
		.hid = "LNRO0005", .uid = (uint32_t)d->nr_slots, .base = s->base,
		.size = LAYOUT_VIRTIO_MMIO_SIZE, .gsi = s->gsi,
	};
	d->nr_slots++;
}

int vm_devices_plan(struct vm_devices *d, const struct vm_config *cfg)
{
	int total = cfg->nr_disks + cfg->nr_nets + cfg->rng + (cfg->console == VM_CONSOLE_VIRTIO);

	memset(d, 0, sizeof(*d));
	_Static_assert(VM_MAX_VIRTIO_DEVS <= (int)(sizeof(devices_gsis) / sizeof(devices_gsis[0])),
		       "every possible device needs a GSI");
	if (total > VM_MAX_VIRTIO_DEVS || cfg->nr_disks > VM_MAX_DISKS || cfg->nr_nets > VM_MAX_NETS) {
		log_err("too many devices: %d (at most %d disks and %d network devices)", total,
			VM_MAX_DISKS, VM_MAX_NETS);
		return -EINVAL;
	}
	for (int i = 0; i < cfg->nr_disks; i++)
		devices_add_slot(d, VIRTIO_ID_BLOCK, i);
	for (int i = 0; i < cfg->nr_nets; i++)
		devices_add_slot(d, VIRTIO_ID_NET, i);
	if (cfg->rng)
		devices_add_slot(d, VIRTIO_ID_RNG, 0);
	if (cfg->console == VM_CONSOLE_VIRTIO)
		devices_add_slot(d, VIRTIO_ID_CONSOLE, 0);
	return 0;
}

int vm_devices_cmdline(const struct vm_devices *d, const char *base, char *buf, size_t len)
{
	size_t used;
	int n;

	n = snprintf(buf, len, "%s", base);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	used = (size_t)n;
	for (int i = 0; i < d->nr_slots; i++) {
		n = snprintf(buf + used, len - used, " virtio_mmio.device=4K@0x%llx:%u",
			     (unsigned long long)d->slots[i].base, d->slots[i].gsi);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return 0;
}

int vm_devices_create(struct vm_devices *d, const struct vm_config *cfg, const struct gmem *mem)
{
	int ret;

	for (int i = 0; i < cfg->nr_disks; i++) {
		const struct vm_disk_cfg *disk = &cfg->disks[i];
		struct virtio_blk_cfg bc = {
			.path = disk->path, .read_only = disk->read_only, .id = disk->id,
		};

		if ((ret = virtio_blk_create(&d->blk[i], &bc, mem)))
			return ret;
	}
	for (int i = 0; i < cfg->nr_nets; i++) {
		struct virtio_net_cfg nc;

		if ((ret = virtio_net_parse(cfg->nets[i], &nc)))
			return ret;
		if ((ret = virtio_net_create(&d->net[i], &nc, mem)))
			return ret;
	}
	if (cfg->rng) {
		struct virtio_rng_cfg rc = { 0 };

		if ((ret = virtio_rng_create(&d->rng, &rc, mem)))
			return ret;
	}
	if (cfg->console == VM_CONSOLE_VIRTIO) {
		struct virtio_console_cfg cc = { .out_fd = STDOUT_FILENO };

		if ((ret = virtio_console_create(&d->console, &cc, mem)))
			return ret;
	}
	return 0;
}

int vm_devices_attach(struct vm_devices *d, const struct virtio_env *env)
{
	int ret = 0;

	for (int i = 0; i < d->nr_slots && !ret; i++) {
		const struct vm_device_slot *s = &d->slots[i];

		switch (s->device_id) {
		case VIRTIO_ID_BLOCK:
			ret = virtio_blk_attach(d->blk[s->index], env, s->base, s->gsi);
			break;
		case VIRTIO_ID_NET:
			ret = virtio_net_attach(d->net[s->index], env, s->base, s->gsi);
			break;
		case VIRTIO_ID_RNG:
			ret = virtio_rng_attach(d->rng, env, s->base, s->gsi);
			break;
		case VIRTIO_ID_CONSOLE:
			ret = virtio_console_attach(d->console, env, s->base, s->gsi);
			break;
		}
	}
	return ret;
}

/* Every worker loop of d, in plan order; NULL entries skipped by the callers. */
static void vm_devices_each_loop(struct vm_devices *d, void (*fn)(struct evloop *))
{
	struct evloop *l;

	for (int i = 0; i < VM_MAX_DISKS; i++)
		if ((l = virtio_blk_loop(d->blk[i])))
			fn(l);
	for (int i = 0; i < VM_MAX_NETS; i++)
		if ((l = virtio_net_loop(d->net[i])))
			fn(l);
	if ((l = virtio_rng_loop(d->rng)))
		fn(l);
	if ((l = virtio_console_loop(d->console)))
		fn(l);
}

void vm_devices_pause(struct vm_devices *d)
{
	vm_devices_each_loop(d, evloop_pause);
}

void vm_devices_resume(struct vm_devices *d)
{
	vm_devices_each_loop(d, evloop_resume);
}

void vm_devices_destroy(struct vm_devices *d)
{
	for (int i = 0; i < VM_MAX_DISKS; i++) {
		virtio_blk_destroy(d->blk[i]);
		d->blk[i] = NULL;
	}
	for (int i = 0; i < VM_MAX_NETS; i++) {
		virtio_net_destroy(d->net[i]);
		d->net[i] = NULL;
	}
	virtio_rng_destroy(d->rng);
	d->rng = NULL;
	virtio_console_destroy(d->console);
	d->console = NULL;
}
