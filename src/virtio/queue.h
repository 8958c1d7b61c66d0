/* queue.h - the split virtqueue every mvm device uses (virtio 1.2 spec 2.7).
 *
 * Contract: the transport calls vq_enable() when the driver sets QueueReady
 * with the ring addresses it wrote; vq_enable() checks size (power of two,
 * 1..VQ_MAX_SIZE) and that the descriptor table (16-byte aligned), the
 * avail ring (2) and the used ring (4), event words included, each lie
 * whole inside guest RAM, and resolves them to host pointers once (guest
 * RAM never moves). After that one thread at a time (the device's worker)
 * calls vq_pop()/vq_push()/vq_needs_interrupt(); the transport calls
 * vq_disable() only after the device has stopped using the queue.
 *
 * vq_pop() turns the next available chain into host iovecs: every
 * descriptor's [addr, addr+len) goes through gmem_ptr(), so nothing outside
 * guest RAM (and nothing across the MMIO hole) is ever reachable; indirect
 * tables are followed only when VIRTIO_F_INDIRECT_DESC was negotiated, only
 * one level deep, and must themselves lie in RAM with len a non-zero
 * multiple of 16; chains are bounded (VQ_CHAIN_MAX segments and at most
 * size descriptors visited per table), so a loop ends in -EIO, not a hang;
 * device-readable segments must all come before device-writable ones. An
 * avail index that runs more than size ahead of what was consumed is -EIO.
 * On -EIO the device should call virtio_mmio_needs_reset(): the driver broke
 * the rules and the queue is not used again until reset.
 *
 * Memory ordering: vq_pop() reads avail->idx with acquire semantics before
 * the ring entries; vq_push() writes the used element, then a release
 * store of used->idx; vq_needs_interrupt() has a full fence before it reads
 * the driver's flags/used_event (the spec's "device must not miss" rule).
 *
 * State (snapshots): vq_save() copies what the device remembers about a
 * queue -- the ring addresses the driver gave, the negotiated ring
 * features and the device's indexes -- into a plain struct vq_state (no
 * host pointers: they are recomputed). vq_restore() goes through
 * vq_enable(), the same checks as a driver's QueueReady, so a bad size or
 * ring address in a state file is refused as a bad guest write would be;
 * it also refuses more chains in flight (last_avail - used_idx) than the
 * queue holds and flag bytes other than 0/1, logging the field it refused.
 */
#ifndef MVM_VIRTIO_QUEUE_H
#define MVM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/memory.h"
#include "virtio/virtio.h"

#define VQ_MAX_SIZE  1024  /* largest queue any mvm device offers */
#define VQ_CHAIN_MAX 256   /* segments in one chain (blk seg_max = this - 2) */

struct vq_chain {
	uint16_t head;         /* id to give back to vq_push() */
	uint16_t nr_out;       /* iov[0 .. nr_out): device-readable */
	uint16_t nr_in;        /* iov[nr_out .. nr_out+nr_in): device-writable */
	uint32_t out_len;      /* sum of readable lengths (fits: checked) */
	uint32_t in_len;       /* sum of writable lengths */
	struct iovec iov[VQ_CHAIN_MAX];
};

struct vq {
	const struct gmem *mem;
	uint16_t size;          /* 0 when disabled */
	uint64_t desc_gpa, avail_gpa, used_gpa;  /* as the driver gave them (for vq_save) */
	bool event_idx;         /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;          /* VIRTIO_F_INDIRECT_DESC negotiated */
	volatile struct virtq_desc *desc;
	volatile struct virtq_avail *avail;
	volatile struct virtq_used *used;
	volatile uint16_t *used_event;   /* in the avail ring, after ring[size] */
	volatile uint16_t *avail_event;  /* in the used ring, after ring[size] */
	uint16_t last_avail;    /* next avail entry to take */
	uint16_t used_idx;      /* our shadow of used->idx */
	uint16_t signalled_used;     /* used_idx at the last interrupt */
	bool signalled_used_valid;   /* false until the first interrupt */
	bool broken;            /* a -EIO was returned; pop refuses until re-enabled */
};

/* 0, or -EINVAL (bad size, alignment or an address range not in RAM). */
int vq_enable(struct vq *q, const struct gmem *mem, uint16_t size,
	      uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	      bool event_idx, bool indirect);
void vq_disable(struct vq *q);
bool vq_enabled(const struct vq *q);

/* 1: *c holds the next chain; 0: nothing available; -EIO: malformed
 * (the avail entry is consumed and the queue marked broken). */
int vq_pop(struct vq *q, struct vq_chain *c);

/* Return a chain to the driver; len = bytes the device wrote into its
 * writable part (clamped to in_len is the caller's job). */
void vq_push(struct vq *q, uint16_t head, uint32_t len);

/* After a batch of vq_push(): must the driver be interrupted? Honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX. */
bool vq_needs_interrupt(struct vq *q);

/* Ask (true) or tell the driver not to (false) notify on new buffers:
 * VIRTQ_USED_F_NO_NOTIFY, or avail_event = last_avail with EVENT_IDX.
 * After enabling, the caller re-checks vq_has_avail() to close the race. */
void vq_set_notify(struct vq *q, bool enable);

/* Are there chains the device has not taken yet? (acquire read) */
bool vq_has_avail(const struct vq *q);

/* Bump when struct vq_state changes meaning; a snapshot section carries it. */
#define VQ_STATE_VERSION 1

/* A queue as plain data; size 0 is a disabled queue (everything else 0). */
struct vq_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size;
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used;
	uint8_t event_idx;            /* 0 or 1 */
	uint8_t indirect;             /* 0 or 1 */
	uint8_t signalled_used_valid; /* 0 or 1 */
	uint8_t broken;               /* 0 or 1 */
	uint8_t pad[4];               /* always 0: states compare bytewise */
};

/* 0 (s fully written, padding zeroed). */
int vq_save(const struct vq *q, struct vq_state *s);
/* 0, or -EINVAL with a message naming the refused field (q left disabled). */
int vq_restore(struct vq *q, const struct gmem *mem, const struct vq_state *s);

/* The spec's vring_need_event(): did the index move past event since old? */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

#endif
