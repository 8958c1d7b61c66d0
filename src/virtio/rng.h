/* rng.h - virtio-rng: the host's getrandom() as the guest's entropy source
 * (virtio 1.2 spec 5.4).
 *
 * Contract: one request queue (queue_max 256), no feature bits, no config
 * space. Each chain the driver posts is filled from getrandom(2) (flags 0,
 * so the host's urandom pool once initialised) across all its writable
 * segments, at most VIRTIO_RNG_MAX_REQ bytes per chain, and returned with
 * the byte count written. A chain with any device-readable segment breaks
 * the spec ("the driver MUST NOT place device-readable buffers into the
 * queue"); it is returned with used length 0 and nothing written, so a
 * confused driver sees no entropy but keeps a working queue. A malformed chain (vq_pop() -EIO) sets NEEDS_RESET.
 *
 * All queue work runs on the device's worker. One wake-up serves at most
 * VIRTIO_RNG_BATCH chains, then the worker goes back to its loop and kicks
 * itself if more are waiting, so a guest that keeps the queue full gets its
 * entropy but cannot keep the worker from stop and reset requests.
 *
 * State: only the transport (registers and the queue): the device has no
 * config space and keeps no chain between wake-ups. Save with the VM
 * paused; restore into a device freshly attached, before the VM runs,
 * through virtio_mmio_restore()'s checks.
 */
#ifndef MVM_VIRTIO_RNG_H
#define MVM_VIRTIO_RNG_H

#include <stdint.h>

#include "core/memory.h"
#include "util/tbucket.h"
#include "virtio/mmio.h"

#define VIRTIO_RNG_QUEUE_MAX 256
#define VIRTIO_RNG_MAX_REQ   (64u * 1024)  /* bytes filled per chain */
#define VIRTIO_RNG_BATCH     64            /* chains per worker wake-up */

struct virtio_rng_cfg {
	const struct rlim_cfg *rate_limiter;   /* NULL: none; bandwidth counts bytes given */
};

struct virtio_rng;

#define VIRTIO_RNG_STATE_VERSION 1

struct virtio_rng_state {
	struct virtio_mmio_state transport;
};

/* 0 or -EINVAL (not attached). */
int virtio_rng_save(struct virtio_rng *d, struct virtio_rng_state *s);
/* 0, or -errno logged naming the refused field (device left reset). */
int virtio_rng_restore(struct virtio_rng *d, const struct virtio_rng_state *s);

/* 0 or -errno (logged). cfg may be NULL. */
int virtio_rng_create(struct virtio_rng **out, const struct virtio_rng_cfg *cfg,
		      const struct gmem *mem);
/* Claim the MMIO window and start the worker. 0 or -errno (logged). */
int virtio_rng_attach(struct virtio_rng *d, const struct virtio_env *env,
		      uint64_t base, uint32_t gsi);
/* NULL-safe: stop the worker, detach (the reset runs here), free. */
struct evloop;
void virtio_rng_destroy(struct virtio_rng *d);
/* The device's worker loop (vm_pause() holds it); NULL for NULL. */
struct evloop *virtio_rng_loop(struct virtio_rng *d);

/* The embedded transport (tests drive virtio_mmio_io() through it). */
struct virtio_mmio *virtio_rng_transport(struct virtio_rng *d);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind virtio_rng_kind;

#endif
