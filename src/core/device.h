/* device.h - the one interface every device kind implements, and what it is given.
 *
 * Contract: a device kind is a const struct device_kind in the device's own
 * file; the builder's registry (vmm/devices.c) lists every kind in one table
 * and walks it in order. For each kind, count() says how many instances the
 * config asks for (no count(): exactly one, as for the board's devices); each instance is then create()d (host resources opened
 * and user input checked, before KVM exists; board devices take their
 * interrupt line and stopper here), attach()ed (bus ranges,
 * ioeventfds, irqfds, worker started), and at the end destroy()ed, which
 * stops its worker and completes its in-flight I/O. quiesce() returns once
 * the instance no longer touches guest memory and holds its guest-visible
 * work, or -ETIMEDOUT (with nothing held) when it cannot within timeout_ms;
 * resume() undoes it. stats() adds the instance's counters to a JSON
 * object (NULL: it keeps none). save()/restore() move the instance's
 * guest-visible state to and from a plain struct (snapshot, migration); a
 * kind without them must say stateless (it keeps no guest-visible state),
 * or a VM holding one of its instances cannot be snapshotted or migrated
 * (vmm/snap_plan.h refuses it by name: its state is never silently left
 * out). Optional hooks may be NULL; devices never see each other or struct vm.
 */
#ifndef MVM_CORE_DEVICE_H
#define MVM_CORE_DEVICE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/irq.h"
#include "core/memory.h"
#include "core/vm_config.h"
#include "core/vmstop.h"

struct json_object;

/* What an instance is created and attached with: the VM's buses, RAM, its
 * interrupt lines, KVM's eventfd wiring, and how to stop the VM. Built
 * before KVM exists; the callbacks are only called once the VM is attached. */
struct device_env {
	const struct gmem *mem;
	struct bus *pio;
	struct bus *mmio;
	/* KVM_IRQ_LINE: the level of an ISA interrupt line (board devices). */
	void (*irq_set)(void *ctx, uint32_t gsi, int level);
	struct vm_stopper stopper;
	const atomic_bool *stopping;   /* the VM's stop flag (lets blocked output give up) */
	int console_out_fd;            /* where guest console output goes (stdout) */
	/* KVM_IOEVENTFD: addr, 4 bytes, datamatch. 0 or -errno. */
	int (*ioeventfd)(void *ctx, uint64_t addr, uint32_t datamatch, int fd);
	/* KVM_IRQFD: fd raises an edge on gsi. 0 or -errno. */
	int (*irqfd)(void *ctx, uint32_t gsi, int fd);
	/* KVM_(UN)REGISTER_COALESCED_MMIO on ports: KVM queues the guest's
	 * writes to [port, port + len) instead of exiting (on), or exits
	 * again (off); mvm delivers queued writes, in order, before any other
	 * exit is handled. 0, -ENOTSUP (not offered: keep the exits) or
	 * -errno. NULL: not offered. */
	int (*coalesce_pio)(void *ctx, uint64_t port, uint32_t len, bool on);
	void *ctx;
};

struct device_kind {
	const char *name;        /* "virtio-blk": messages and metrics */
	const char *short_name;  /* "blk": metrics keys blk0, blk1, ... */
	uint32_t virtio_id;      /* VIRTIO_ID_*: gets a virtio-mmio window and a GSI */
	int (*count)(const struct vm_config *cfg);
	int (*create)(void **dev, const struct vm_config *cfg, int index, const struct device_env *env);
	int (*attach)(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi);
	int (*quiesce)(void *dev, int timeout_ms);   /* 0, or -ETIMEDOUT (undone) */
	void (*resume)(void *dev);
	void (*stats)(void *dev, struct json_object *out);
	/* The instance's guest-visible state as plain data (state_size bytes,
	 * layout version state_version); the device must be quiesced. restore
	 * re-checks everything a guest could have put there. 0 or -errno;
	 * -EINVAL when len is not state_size. Both NULL: only with stateless. */
	bool stateless;
	size_t state_size;
	uint32_t state_version;
	int (*save)(void *dev, void *state, size_t len);
	int (*restore)(void *dev, const void *state, size_t len);
	void (*destroy)(void *dev);
};

/* An interrupt line of this VM (board devices). */
static inline struct irq_line device_irq_line(const struct device_env *env, uint32_t gsi)
{
	return (struct irq_line){ .set = env->irq_set, .ctx = env->ctx, .gsi = gsi };
}

/* Claim [base, base + len) on the port bus; a refusal is logged naming the device. */
int device_claim_ports(const struct device_env *env, uint64_t base, uint64_t len,
		       bus_io_fn fn, void *opaque, const char *name);

#endif
