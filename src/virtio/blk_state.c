/* blk_state.c - virtio-blk as plain data: save the transport and what the
 * guest knows of the disk; restore it onto the same image, checked. */
#include "virtio/blk.h"
#include "virtio/blk_priv.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_blk_state) == sizeof(struct virtio_mmio_state) + 32,
	       "virtio_blk_state has hidden padding");

int virtio_blk_save(struct virtio_blk *d, struct virtio_blk_state *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	/* A request in flight owns a popped chain and guest buffers that a
	 * snapshot cannot carry: the caller drains (pauses) first. */
	if (d->inflight) {
		log_err("virtio-blk %s state: %u requests in flight; save after they complete",
			d->path, d->inflight);
		return -EBUSY;
	}
	err = virtio_mmio_save(&d->w.t, &s->transport);
	if (err)
		return err;
	s->capacity = d->capacity;
	s->read_only = d->ro;
	memcpy(s->id, d->id, sizeof(s->id));
	return 0;
}

int virtio_blk_restore(struct virtio_blk *d, const struct virtio_blk_state *s)
{
	static const uint8_t zero[sizeof(s->pad)];

	if (memcmp(s->pad, zero, sizeof(zero))) {
		log_err("virtio-blk %s state: pad is not zero; state refused", d->path);
		return -EINVAL;
	}
	if (s->read_only > 1 || s->read_only != d->ro) {
		log_err("virtio-blk %s state: read_only = %u but the image is opened %s; state refused",
			d->path, s->read_only, d->ro ? "read-only" : "read-write");
		return -EINVAL;
	}
	/* The guest sized its disk from capacity: another size is another disk. */
	if (s->capacity != d->capacity) {
		log_err("virtio-blk %s state: capacity = %llu sectors but the image has %llu; "
			"state refused", d->path, (unsigned long long)s->capacity,
			(unsigned long long)d->capacity);
		return -EINVAL;
	}
	memcpy(d->id, s->id, sizeof(d->id));
	return virtio_mmio_restore(&d->w.t, &s->transport);
}
