/* device.h - the one interface every device kind implements, and what it is given.
 *
 * Contract: a device kind is a const struct device_kind in the device's own
 * file; the builder's registry (vmm/devices.c) lists every kind in one table
 * and walks it in order. For each kind, count() says how many instances the
 * config asks for; each instance is then create()d (host resources opened
 * and user input checked, before KVM exists), attach()ed (bus ranges,
 * ioeventfds, irqfds, worker started), and at the end destroy()ed, which
 * stops its worker and completes its in-flight I/O. quiesce() returns once
 * the instance no longer touches guest memory and holds its guest-visible
 * work; resume() undoes it. stats() adds the instance's counters to a JSON
 * object (NULL: it keeps none). save()/restore() are the state hooks
 * snapshot and migration will use (NULL until a kind has them). Optional
 * hooks may be NULL; devices never see each other or struct vm.
 */
#ifndef MVM_CORE_DEVICE_H
#define MVM_CORE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/memory.h"
#include "core/vm_config.h"

struct json_object;

/* What an instance is attached with: the VM's buses, RAM and KVM's eventfd wiring. */
struct device_env {
	const struct gmem *mem;
	struct bus *pio;
	struct bus *mmio;
	/* KVM_IOEVENTFD: addr, 4 bytes, datamatch. 0 or -errno. */
	int (*ioeventfd)(void *ctx, uint64_t addr, uint32_t datamatch, int fd);
	/* KVM_IRQFD: fd raises an edge on gsi. 0 or -errno. */
	int (*irqfd)(void *ctx, uint32_t gsi, int fd);
	void *ctx;
};

struct device_kind {
	const char *name;        /* "virtio-blk": messages and metrics */
	const char *short_name;  /* "blk": metrics keys blk0, blk1, ... */
	uint32_t virtio_id;      /* VIRTIO_ID_*: gets a virtio-mmio window and a GSI */
	int (*count)(const struct vm_config *cfg);
	int (*create)(void **dev, const struct vm_config *cfg, int index, const struct gmem *mem);
	int (*attach)(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi);
	void (*quiesce)(void *dev);
	void (*resume)(void *dev);
	void (*stats)(void *dev, struct json_object *out);
	int (*save)(void *dev, void *state, size_t len);
	int (*restore)(void *dev, const void *state, size_t len);
	void (*destroy)(void *dev);
};

#endif
