/* devices.c - the device registry: the table of kinds, planning, creating,
 * attaching, quiescing and tearing down every instance. */
#include "vmm/devices.h"
#include "board/acpi_pm.h"
#include "board/acpi_pm1.h"
#include "board/debug_exit.h"
#include "board/fw_cfg.h"
#include "board/i8042.h"
#include "board/pc_testdev.h"
#include "board/pvpanic.h"
#include "board/rtc.h"
#include "board/uart8250.h"
#include "core/layout.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* Every device kind, in plan order: the board's legacy devices on their
 * fixed ports, then the virtio devices, each on the next window and GSI
 * (the first disk is vda). */
static const struct device_kind *const device_kinds[] = {
	&i8042_kind,
	&rtc_kind,
	&debug_exit_kind,        /* only with --debug-exit */
	&fw_cfg_kind,            /* only for a multiboot kernel */
	&pc_testdev_kind,        /* only with --pc-testdev */
	&uart8250_kind,
	&pvpanic_kind,
	&acpi_pm_kind,
	&acpi_pm1_kind,          /* only for a multiboot kernel */
	&virtio_blk_kind,
	&virtio_net_kind,
	&virtio_rng_kind,
	&virtio_console_kind,
	&virtio_balloon_kind,
	&virtio_vsock_kind,
};

/* IOAPIC pins nothing else on the board uses (COM1 4, RTC 8, SCI 9; 0-2
 * timer/keyboard/cascade; 3 and 13 left for a COM2/FPU a guest may assume). */
/* How many instances of kind the config asks for (no count(): exactly one). */
static int devices_count(const struct device_kind *kind, const struct vm_config *cfg)
{
	return kind->count ? kind->count(cfg) : 1;
}

static const uint32_t devices_gsis[] = { 5, 6, 7, 10, 11, 12, 14, 15,
					 16, 17, 18, 19, 20, 21, 22, 23 };

static void devices_add_slot(struct vm_devices *d, const struct device_kind *kind, int index)
{
	struct vm_device *s = &d->slots[d->nr_slots++];

	s->kind = kind;
	s->device_id = kind->virtio_id;
	s->index = index;
	if (!kind->virtio_id)
		return;   /* a board device: fixed ports, its own IRQ */
	s->base = LAYOUT_VIRTIO_MMIO_BASE + (uint64_t)d->nr_windows * LAYOUT_VIRTIO_MMIO_SIZE;
	s->gsi = devices_gsis[d->nr_windows];
	d->acpi[d->nr_windows] = (struct acpi_mmio_dev){
		.hid = "LNRO0005", .uid = (uint32_t)d->nr_windows, .base = s->base,
		.size = LAYOUT_VIRTIO_MMIO_SIZE, .gsi = s->gsi,
	};
	d->nr_windows++;
}

int vm_devices_plan(struct vm_devices *d, const struct vm_config *cfg)
{
	int windows = 0, total = 0;

	memset(d, 0, sizeof(*d));
	_Static_assert(VM_MAX_VIRTIO_DEVS <= (int)(sizeof(devices_gsis) / sizeof(devices_gsis[0])),
		       "every possible device needs a GSI");
	for (size_t k = 0; k < sizeof(device_kinds) / sizeof(device_kinds[0]); k++) {
		int n = devices_count(device_kinds[k], cfg);

		total += n;
		if (device_kinds[k]->virtio_id)
			windows += n;
	}
	if (windows > VM_MAX_VIRTIO_DEVS || total > VM_MAX_DEVICES ||
	    cfg->nr_disks > VM_MAX_DISKS || cfg->nr_nets > VM_MAX_NETS) {
		log_err("too many devices: %d (at most %d disks and %d network devices)", windows,
			VM_MAX_DISKS, VM_MAX_NETS);
		return -EINVAL;
	}
	for (size_t k = 0; k < sizeof(device_kinds) / sizeof(device_kinds[0]); k++)
		for (int i = 0; i < devices_count(device_kinds[k], cfg); i++)
			devices_add_slot(d, device_kinds[k], i);
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
		if (!d->slots[i].device_id)
			continue;
		n = snprintf(buf + used, len - used, " virtio_mmio.device=4K@0x%llx:%u",
			     (unsigned long long)d->slots[i].base, d->slots[i].gsi);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return 0;
}

int vm_devices_create(struct vm_devices *d, const struct vm_config *cfg,
		      const struct device_env *env)
{
	int ret;

	for (int i = 0; i < d->nr_slots; i++) {
		struct vm_device *s = &d->slots[i];

		if ((ret = s->kind->create(&s->dev, cfg, s->index, env)))
			return ret;
	}
	return 0;
}

int vm_devices_attach(struct vm_devices *d, const struct device_env *env)
{
	int ret;

	for (int i = 0; i < d->nr_slots; i++) {
		struct vm_device *s = &d->slots[i];

		if ((ret = s->kind->attach(s->dev, env, s->base, s->gsi)))
			return ret;
	}
	return 0;
}

void *vm_devices_find(const struct vm_devices *d, const struct device_kind *kind, int index)
{
	for (int i = 0; d && i < d->nr_slots; i++)
		if (d->slots[i].kind == kind && d->slots[i].index == index)
			return d->slots[i].dev;
	return NULL;
}

int vm_devices_quiesce(struct vm_devices *d, int timeout_ms, char *stuck, size_t len)
{
	if (stuck && len)
		stuck[0] = '\0';
	for (int i = 0; i < d->nr_slots; i++) {
		const struct vm_device *s = &d->slots[i];
		char who[64];
		int ret;

		if (!s->dev || !s->kind->quiesce)
			continue;
		if ((ret = s->kind->quiesce(s->dev, timeout_ms))) {
			snprintf(who, sizeof(who), "%s %s%d", s->kind->name, s->kind->short_name,
				 s->index);
			log_err("pause: %s did not stop within %d ms", who, timeout_ms);
			if (stuck && len)
				snprintf(stuck, len, "%s", who);
			/* Give back the ones already held: the pause is off. */
			while (--i >= 0)
				if (d->slots[i].dev && d->slots[i].kind->resume)
					d->slots[i].kind->resume(d->slots[i].dev);
			return ret;
		}
	}
	return 0;
}

void vm_devices_resume(struct vm_devices *d)
{
	for (int i = 0; i < d->nr_slots; i++)
		if (d->slots[i].dev && d->slots[i].kind->resume)
			d->slots[i].kind->resume(d->slots[i].dev);
}

void vm_devices_stats(struct vm_devices *d, struct json_object *out)
{
	for (int i = 0; d && i < d->nr_slots; i++) {
		const struct vm_device *s = &d->slots[i];
		struct json_object *o;
		char key[32];

		if (!s->dev || !s->kind->stats)
			continue;
		o = json_object_new_object();
		s->kind->stats(s->dev, o);
		snprintf(key, sizeof(key), "%s%d", s->kind->short_name, s->index);
		json_object_object_add(out, key, o);
	}
}

void vm_devices_destroy(struct vm_devices *d)
{
	for (int i = 0; i < d->nr_slots; i++) {
		struct vm_device *s = &d->slots[i];

		if (s->dev)
			s->kind->destroy(s->dev);
		s->dev = NULL;
	}
}
