/* mmio.h - the virtio-mmio transport, version 2 (virtio 1.2 spec 4.2).
 *
 * Contract: a device embeds a struct virtio_mmio and fills a
 * virtio_dev_ops; virtio_mmio_attach() claims its 4 KiB window on the MMIO
 * bus, creates one kick eventfd per queue and the interrupt eventfd, and
 * asks the environment to wire them to KVM (ioeventfd on QueueNotify with
 * the queue index as datamatch; irqfd on the device's GSI). A QueueNotify
 * write that still reaches mvm (no ioeventfd) is turned into a write of the
 * same kick eventfd, so the device sees one path either way. The device's
 * worker waits on virtio_mmio_kick_fd(); the vCPU thread never does device
 * work.
 *
 * Registers are served from vCPU threads under t->lock. The transport
 * enforces the driver's side of the protocol: features are accepted only
 * while DRIVER is set and FEATURES_OK is not; FEATURES_OK is refused (reads
 * back clear) unless VERSION_1 is accepted and no unoffered bit is set;
 * queue registers are writable only before DRIVER_OK with the queue not
 * ready; QueueReady=1 runs vq_enable() checks (a bad size or address sets
 * DEVICE_NEEDS_RESET instead of enabling); writing 0 to Status resets the
 * device at any time (ops->reset runs first, then every register and queue
 * is cleared). DRIVER_OK calls ops->activate(); a failure there sets
 * NEEDS_RESET. Config space accesses past config_size read as zero and are
 * ignored on write; config_generation changes whenever the device calls
 * virtio_mmio_config_changed(). Bad offsets, widths (registers are 32-bit
 * only) and values are ignored and logged at debug level, never fatal.
 */
#ifndef MVM_VIRTIO_MMIO_H
#define MVM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/memory.h"
#include "mvm/virtio_mmio.h"
#include "virtio/queue.h"

#define VIRTIO_MMIO_MAX_QUEUES 8

/* What the device tells the transport. dev is the device's own pointer. */
struct virtio_dev_ops {
	const char *name;           /* "virtio-blk", for messages */
	uint32_t device_id;         /* VIRTIO_ID_* */
	uint64_t features;          /* device-specific bits offered; the transport
	                             * adds VERSION_1, EVENT_IDX and INDIRECT_DESC */
	int nr_queues;              /* 1..VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max;         /* QueueNumMax for every queue, <= VQ_MAX_SIZE */
	uint32_t config_size;       /* bytes of device config space (<= 0xf00) */
	/* Config space: off + len <= config_size is guaranteed by the transport. */
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len); /* NULL: read-only */
	/* DRIVER_OK: enabled queues are ready in t->queues[i].vq; start serving
	 * them (from the worker). 0 or -errno (sets NEEDS_RESET). */
	int (*activate)(void *dev);
	/* Reset (Status=0) or teardown: stop touching every queue and drop
	 * in-flight work before returning; called with t->lock held. */
	void (*reset)(void *dev);
};

/* How the transport reaches KVM (vm.c provides it; tests may leave it NULL). */
struct virtio_env {
	const struct gmem *mem;
	struct bus *mmio;
	/* KVM_IOEVENTFD: addr, 4 bytes, datamatch. 0 or -errno (then the bus path is used). */
	int (*ioeventfd)(void *ctx, uint64_t addr, uint32_t datamatch, int fd);
	/* KVM_IRQFD: fd raises an edge on gsi. 0 or -errno (fatal: no interrupts). */
	int (*irqfd)(void *ctx, uint32_t gsi, int fd);
	void *ctx;
};

/* Bump when struct virtio_mmio_state changes meaning. */
#define VIRTIO_MMIO_STATE_VERSION 1

/* One queue's registers, as the driver wrote them. */
struct virtio_mmio_queue_regs {
	uint64_t desc, driver, device;  /* ring addresses */
	uint16_t num;               /* QueueNum */
	uint8_t ready;              /* QueueReady: 0 or 1 */
	uint8_t pad[5];             /* always 0 */
};

/* Guest-visible registers: plain data, no pointers (snapshots). status,
 * config_generation and interrupt_status are also changed by the device's
 * worker without t->lock: always through __atomic builtins. */
struct virtio_mmio_regs {
	uint64_t device_features;   /* ops->features | transport bits */
	uint64_t driver_features;   /* what the driver accepted */
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t config_generation;
	uint32_t interrupt_status;
	struct virtio_mmio_queue_regs queues[VIRTIO_MMIO_MAX_QUEUES];
};

/* The whole transport as plain data: registers plus each queue. */
struct virtio_mmio_state {
	struct virtio_mmio_regs regs;
	struct vq_state vq[VIRTIO_MMIO_MAX_QUEUES];
};

struct virtio_mmio_queue {
	struct vq vq;               /* host view of the rings (not state) */
	int kick_fd;                /* eventfd: driver notified this queue */
};

struct virtio_mmio {
	struct virtio_mmio_regs regs;
	/* Host resources and wiring. */
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *dev;
	const struct gmem *mem;
	uint64_t base;
	uint32_t gsi;
	int call_fd;                /* eventfd behind the irqfd */
	bool attached;
	struct virtio_mmio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
};

/* Claim [base, base+4K) on env->mmio, wire kicks and the interrupt. 0 or
 * -errno with a message naming the device. */
int virtio_mmio_attach(struct virtio_mmio *t, const struct virtio_env *env,
		       uint64_t base, uint32_t gsi,
		       const struct virtio_dev_ops *ops, void *dev);
void virtio_mmio_detach(struct virtio_mmio *t);  /* resets the device, closes fds */

/* bus_io_fn for the window (registered by attach; exposed for tests). */
void virtio_mmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* From the device (any thread; none of these take t->lock, so a worker may
 * call them while a vCPU holding the lock waits for that worker): */
bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned bit);
void virtio_mmio_signal_used(struct virtio_mmio *t);   /* used-buffer interrupt */
void virtio_mmio_config_changed(struct virtio_mmio *t); /* bump generation + interrupt */
void virtio_mmio_needs_reset(struct virtio_mmio *t);   /* driver broke the rules */

/* Snapshot support (mmio_state.c). save: with the device quiet (VM paused);
 * copies the registers and every queue; 0 or -EINVAL (not attached).
 * restore: into an attached transport fresh from attach or reset, before
 * the VM runs. Everything is checked first, as the guest's own writes
 * would be: status bits and their order, device_features equal to what
 * this device offers, driver_features a subset with VERSION_1 once
 * FEATURES_OK, interrupt bits, queue registers (zero beyond nr_queues;
 * a ready queue only after FEATURES_OK, with a power-of-two size up to
 * queue_max and the vq state agreeing with the registers and features);
 * ready queues then go through vq_restore() (vq_enable()'s ring checks).
 * With DRIVER_OK (and not NEEDS_RESET) ops->activate runs last, as on the
 * driver's DRIVER_OK; a pending interrupt_status re-signals the irqfd so
 * an interrupt cannot be lost across the move. 0, or -EINVAL/-EBUSY/the
 * activate error, logged naming the field; on failure the transport is
 * reset. */
int virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s);
int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s);
/* For mmio_state.c: Status=0 with t->lock held; the interrupt path. */
void virtio_mmio_reset_locked(struct virtio_mmio *t);
void virtio_mmio_interrupt(struct virtio_mmio *t, uint32_t why);

static inline struct vq *virtio_mmio_vq(struct virtio_mmio *t, int i)
{
	return &t->queues[i].vq;
}
static inline int virtio_mmio_kick_fd(const struct virtio_mmio *t, int i)
{
	return t->queues[i].kick_fd;
}

#endif
