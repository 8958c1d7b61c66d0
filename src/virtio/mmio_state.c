/* mmio_state.c - the virtio-mmio transport as plain data: save its registers
 * and queues, restore them through the checks a driver's writes go through. */
#include "virtio/mmio.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* No implicit padding: equal states are equal bytes (the tests memcmp them). */
_Static_assert(sizeof(struct vq_state) == 40, "vq_state has hidden padding");
_Static_assert(sizeof(struct virtio_mmio_queue_regs) == 32, "queue regs have hidden padding");
_Static_assert(sizeof(struct virtio_mmio_regs) == 40 + 32 * VIRTIO_MMIO_MAX_QUEUES,
	       "transport regs have hidden padding");
_Static_assert(sizeof(struct virtio_mmio_state) ==
	       sizeof(struct virtio_mmio_regs) + 40 * VIRTIO_MMIO_MAX_QUEUES,
	       "transport state has hidden padding");

#define MMIO_STATUS_KNOWN (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
			   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK | \
			   VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)
#define MMIO_INT_KNOWN (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)

static const char *st_name(const struct virtio_mmio *t)
{
	return t->ops && t->ops->name ? t->ops->name : "virtio";
}

static int st_refuse(const struct virtio_mmio *t, const char *field, int idx,
		     unsigned long long val, const char *why)
{
	char name[48];

	if (idx >= 0)
		snprintf(name, sizeof(name), field, idx);
	else
		snprintf(name, sizeof(name), "%s", field);
	log_err("%s@0x%llx state: %s = %#llx %s; state refused", st_name(t),
		(unsigned long long)t->base, name, val, why);
	return -EINVAL;
}

int virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s)
{
	memset(s, 0, sizeof(*s));
	if (!t->attached) {
		log_err("%s state: the transport is not attached; nothing to save", st_name(t));
		return -EINVAL;
	}
	pthread_mutex_lock(&t->lock);
	memcpy(&s->regs, &t->regs, sizeof(s->regs));
	/* The worker may write these without the lock. */
	s->regs.status = __atomic_load_n(&t->regs.status, __ATOMIC_SEQ_CST);
	s->regs.interrupt_status = __atomic_load_n(&t->regs.interrupt_status, __ATOMIC_SEQ_CST);
	s->regs.config_generation = __atomic_load_n(&t->regs.config_generation, __ATOMIC_SEQ_CST);
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		vq_save(&t->queues[i].vq, &s->vq[i]);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* The status byte a driver could have reached: known bits, stages in order,
 * features consistent with it. */
static int st_check_status(const struct virtio_mmio *t, const struct virtio_mmio_regs *r)
{
	uint32_t st = r->status;

	if (st & ~MMIO_STATUS_KNOWN)
		return st_refuse(t, "status", -1, st, "has unknown bits");
	if (((st & VIRTIO_STATUS_DRIVER) && !(st & VIRTIO_STATUS_ACKNOWLEDGE)) ||
	    ((st & VIRTIO_STATUS_FEATURES_OK) && !(st & VIRTIO_STATUS_DRIVER)) ||
	    ((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_FEATURES_OK)))
		return st_refuse(t, "status", -1, st, "sets a stage before the one it needs");
	if (r->device_features != t->regs.device_features)
		return st_refuse(t, "device_features", -1, r->device_features,
				 "is not what this device offers");
	if (r->driver_features & ~r->device_features)
		return st_refuse(t, "driver_features", -1, r->driver_features,
				 "has bits the device does not offer");
	if (r->driver_features && !(st & VIRTIO_STATUS_DRIVER))
		return st_refuse(t, "driver_features", -1, r->driver_features,
				 "is set without DRIVER status");
	if ((st & VIRTIO_STATUS_FEATURES_OK) &&
	    !(r->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return st_refuse(t, "driver_features", -1, r->driver_features,
				 "lacks VERSION_1 under FEATURES_OK");
	if (r->interrupt_status & ~MMIO_INT_KNOWN)
		return st_refuse(t, "interrupt_status", -1, r->interrupt_status,
				 "has unknown bits");
	return 0;
}

static bool st_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Queue i's registers against its vq state and the negotiated features. */
static int st_check_queue(const struct virtio_mmio *t, const struct virtio_mmio_state *s, int i)
{
	const struct virtio_mmio_queue_regs *q = &s->regs.queues[i];
	const struct vq_state *v = &s->vq[i];
	uint64_t f = s->regs.driver_features;
	uint16_t max = t->ops->queue_max;

	if (!st_zero(q->pad, sizeof(q->pad)))
		return st_refuse(t, "queues[%d].pad", i, 1, "is not zero");
	if (i >= t->ops->nr_queues) {
		if (!st_zero(q, sizeof(*q)) || v->size)
			return st_refuse(t, "queues[%d]", i, i, "is set but the device has fewer queues");
		return 0;
	}
	if (q->ready > 1)
		return st_refuse(t, "queues[%d].ready", i, q->ready, "is not 0 or 1");
	if (!q->ready) {
		if (v->size)
			return st_refuse(t, "vq[%d].size", i, v->size, "is set for a queue not ready");
		return 0;
	}
	if (!(s->regs.status & VIRTIO_STATUS_FEATURES_OK))
		return st_refuse(t, "queues[%d].ready", i, q->ready, "is set before FEATURES_OK");
	if (q->num == 0 || q->num > max || (q->num & (q->num - 1)))
		return st_refuse(t, "queues[%d].num", i, q->num,
				 "is not a power of two up to the queue maximum");
	if (v->size != q->num || v->desc_gpa != q->desc || v->avail_gpa != q->driver ||
	    v->used_gpa != q->device)
		return st_refuse(t, "vq[%d].size", i, v->size,
				 "or its ring addresses differ from the queue registers");
	if (v->event_idx != !!(f & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)))
		return st_refuse(t, "vq[%d].event_idx", i, v->event_idx,
				 "is not what the driver negotiated");
	if (v->indirect != !!(f & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)))
		return st_refuse(t, "vq[%d].indirect", i, v->indirect,
				 "is not what the driver negotiated");
	return 0;
}

/* Registers and queues in; activate as DRIVER_OK would. Lock held. */
static int st_apply(struct virtio_mmio *t, const struct virtio_mmio_state *s)
{
	uint32_t st = s->regs.status;
	int err;

	memcpy(&t->regs, &s->regs, sizeof(t->regs));
	for (int i = 0; i < t->ops->nr_queues; i++) {
		if (!s->regs.queues[i].ready)
			continue;
		/* vq_enable()'s checks: ring addresses must lie in this VM's RAM. */
		err = vq_restore(&t->queues[i].vq, t->mem, &s->vq[i]);
		if (err) {
			log_err("%s@0x%llx state: queue %d refused", st_name(t),
				(unsigned long long)t->base, i);
			return err;
		}
	}
	if ((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_NEEDS_RESET) &&
	    t->ops->activate) {
		err = t->ops->activate(t->dev);
		if (err) {
			log_err("%s@0x%llx state: the device did not activate: %s", st_name(t),
				(unsigned long long)t->base, strerror(-err));
			return err;
		}
	}
	return 0;
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s)
{
	int err;

	if (!t->attached) {
		log_err("%s state: the transport is not attached; cannot restore", st_name(t));
		return -EINVAL;
	}
	err = st_check_status(t, &s->regs);
	for (int i = 0; !err && i < VIRTIO_MMIO_MAX_QUEUES; i++)
		err = st_check_queue(t, s, i);
	if (err)
		return err;
	pthread_mutex_lock(&t->lock);
	if (__atomic_load_n(&t->regs.status, __ATOMIC_SEQ_CST) != 0) {
		pthread_mutex_unlock(&t->lock);
		log_err("%s@0x%llx state: the device is in use (status %#x); restore only into a "
			"device fresh from attach or reset", st_name(t), (unsigned long long)t->base,
			t->regs.status);
		return -EBUSY;
	}
	err = st_apply(t, s);
	if (err)
		virtio_mmio_reset_locked(t);
	else if (s->regs.interrupt_status)
		/* The irqchip may or may not hold the edge: one more is harmless
		 * (the driver reads InterruptStatus), one lost could hang it. */
		virtio_mmio_interrupt(t, 0);
	pthread_mutex_unlock(&t->lock);
	return err;
}
