/* devices.h - the VM's virtio devices, from the config to running workers.
 *
 * Contract: three steps, because ACPI and the command line are written
 * before KVM exists, and user input must fail before KVM is touched:
 *  1. vm_devices_plan() gives every configured device its 4 KiB window
 *     (LAYOUT_VIRTIO_MMIO_BASE + i * 4 KiB) and its GSI, in a fixed order:
 *     disks (the first is vda), network devices, rng, console. Pure.
 *     The plan feeds the DSDT (LNRO0005 entries) and the kernel command
 *     line (virtio_mmio.device=4K@BASE:GSI, for kernels built with
 *     CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; Debian's is not, and ignores it).
 *  2. vm_devices_create() opens every backend (images, tap, slirp) and
 *     checks user input, naming the flag and file in its message.
 *  3. vm_devices_attach() wires each device to the MMIO bus and to KVM
 *     (ioeventfd, irqfd) and starts its worker.
 * vm_devices_destroy() stops every worker and finishes in-flight I/O, so
 * whatever the guest wrote and flushed is on disk when mvm exits.
 */
#ifndef MVM_VIRTIO_DEVICES_H
#define MVM_VIRTIO_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "boot/acpi/acpi.h"
#include "core/memory.h"
#include "core/vm_config.h"
#include "virtio/mmio.h"

#define VM_MAX_VIRTIO_DEVS (VM_MAX_DISKS + VM_MAX_NETS + 2)

struct virtio_blk;
struct virtio_net;
struct virtio_rng;
struct virtio_console;

struct vm_device_slot {
	uint32_t device_id;        /* VIRTIO_ID_* */
	int index;                 /* among devices of its kind */
	uint64_t base;
	uint32_t gsi;
};

struct vm_devices {
	struct vm_device_slot slots[VM_MAX_VIRTIO_DEVS];
	struct acpi_mmio_dev acpi[VM_MAX_VIRTIO_DEVS];
	int nr_slots;
	struct virtio_blk *blk[VM_MAX_DISKS];
	struct virtio_net *net[VM_MAX_NETS];
	struct virtio_rng *rng;
	struct virtio_console *console;
};

/* Step 1. -EINVAL (logged) when there are more devices than GSIs. */
int vm_devices_plan(struct vm_devices *d, const struct vm_config *cfg);
/* Append " virtio_mmio.device=4K@0x...:N" per device to base into buf. 0 or -ENOSPC. */
int vm_devices_cmdline(const struct vm_devices *d, const char *base, char *buf, size_t len);
/* Step 2. 0 or -errno (logged; -ENOENT/-EACCES/-EINVAL/-EBUSY are the user's). */
int vm_devices_create(struct vm_devices *d, const struct vm_config *cfg, const struct gmem *mem);
/* Step 3. */
int vm_devices_attach(struct vm_devices *d, const struct virtio_env *env);
/* Hold / release every device worker (vm_pause(), vm_resume()). */
void vm_devices_pause(struct vm_devices *d);
void vm_devices_resume(struct vm_devices *d);
void vm_devices_destroy(struct vm_devices *d);

#endif
