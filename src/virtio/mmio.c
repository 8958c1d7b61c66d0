/* mmio.c - the virtio-mmio transport, version 2: registers, feature and
 * status negotiation, queue setup, kick and interrupt eventfds. */
#include "virtio/mmio.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MMIO_WINDOW 0x1000u
#define MMIO_DRIVER_STATUS_BITS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
				 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK | \
				 VIRTIO_STATUS_FAILED)

/* Status, the generation and interrupt_status are also written by the
 * device's worker without t->lock (needs_reset, config_changed), so every
 * access to status and config_generation goes through these atomics. */
static uint32_t mmio_status(const struct virtio_mmio *t)
{
	return __atomic_load_n(&t->regs.status, __ATOMIC_SEQ_CST);
}

static void mmio_status_or(struct virtio_mmio *t, uint32_t bits)
{
	__atomic_fetch_or(&t->regs.status, bits, __ATOMIC_SEQ_CST);
}

static const char *mmio_name(const struct virtio_mmio *t)
{
	return t->ops && t->ops->name ? t->ops->name : "virtio";
}

static void mmio_eventfd_signal(int fd)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, the reader will wake anyway. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug_rl("virtio-mmio: eventfd write: %s", strerror(errno));
}

void virtio_mmio_interrupt(struct virtio_mmio *t, uint32_t why)
{
	__atomic_fetch_or(&t->regs.interrupt_status, why, __ATOMIC_SEQ_CST);
	mmio_eventfd_signal(t->call_fd);
}

bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned bit)
{
	return bit < 64 && (t->regs.driver_features & VIRTIO_BIT(bit));
}

void virtio_mmio_signal_used(struct virtio_mmio *t)
{
	virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	__atomic_add_fetch(&t->regs.config_generation, 1, __ATOMIC_SEQ_CST);
	virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t)
{
	mmio_status_or(t, VIRTIO_STATUS_NEEDS_RESET);
	virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
}

/* The selected queue's registers, or NULL: the one place queue_sel is
 * bounded. */
static struct virtio_mmio_queue_regs *mmio_cur_queue(struct virtio_mmio *t)
{
	if (t->regs.queue_sel >= (uint32_t)t->ops->nr_queues)
		return NULL;
	return &t->regs.queues[t->regs.queue_sel];
}

/* The live queue behind the selected registers (q from mmio_cur_queue). */
static struct vq *mmio_cur_vq(struct virtio_mmio *t)
{
	return &t->queues[t->regs.queue_sel].vq;
}

static void mmio_drain(int fd)
{
	uint64_t v;

	if (fd >= 0 && read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug_rl("virtio-mmio: eventfd read: %s", strerror(errno));
}

/* Status=0 (or teardown): the device lets go of its queues first, then every
 * register goes back to its reset value. Lock held. */
void virtio_mmio_reset_locked(struct virtio_mmio *t)
{
	if (t->ops->reset)
		t->ops->reset(t->dev);
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		struct virtio_mmio_queue *q = &t->queues[i];

		vq_disable(&q->vq);
		memset(&t->regs.queues[i], 0, sizeof(t->regs.queues[i]));
		/* A stale kick must not reach the next driver's queues. */
		mmio_drain(q->kick_fd);
	}
	t->regs.driver_features = 0;
	t->regs.device_features_sel = 0;
	t->regs.driver_features_sel = 0;
	t->regs.queue_sel = 0;
	__atomic_store_n(&t->regs.interrupt_status, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&t->regs.status, 0, __ATOMIC_SEQ_CST);
}

static bool mmio_features_ok(struct virtio_mmio *t)
{
	uint64_t unoffered = t->regs.driver_features & ~t->regs.device_features;

	if (!(t->regs.driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		log_debug_rl("%s@0x%llx: FEATURES_OK refused: the driver did not accept VERSION_1 (legacy drivers are not supported)",
			     mmio_name(t), (unsigned long long)t->base);
		return false;
	}
	if (unoffered) {
		log_debug_rl("%s@0x%llx: FEATURES_OK refused: the driver accepted unoffered features 0x%llx",
			     mmio_name(t), (unsigned long long)t->base, (unsigned long long)unoffered);
		return false;
	}
	return true;
}

static void mmio_driver_ok(struct virtio_mmio *t)
{
	int err;

	mmio_status_or(t, VIRTIO_STATUS_DRIVER_OK);
	if (mmio_status(t) & VIRTIO_STATUS_NEEDS_RESET) {
		/* A queue was refused earlier: the device stays inert. */
		log_debug_rl("%s@0x%llx: DRIVER_OK while the device needs a reset; not activated",
			     mmio_name(t), (unsigned long long)t->base);
		return;
	}
	err = t->ops->activate ? t->ops->activate(t->dev) : 0;
	if (err) {
		log_debug_rl("%s@0x%llx: activation failed: %s",
			     mmio_name(t), (unsigned long long)t->base, strerror(-err));
		virtio_mmio_needs_reset(t);
	}
}

/* Bits are added one stage at a time (spec 3.1.1); FAILED may come at any
 * time; a write that clears a bit other than by writing 0 is ignored. */
static void mmio_write_status(struct virtio_mmio *t, uint32_t v)
{
	static const uint32_t order[] = {
		VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DRIVER,
		VIRTIO_STATUS_FEATURES_OK, VIRTIO_STATUS_DRIVER_OK,
	};
	uint32_t cur = mmio_status(t);
	/* NEEDS_RESET is the device's bit: the driver echoing it (or not)
	 * changes nothing. */
	uint32_t want = v & ~VIRTIO_STATUS_NEEDS_RESET;
	uint32_t have = cur & ~VIRTIO_STATUS_NEEDS_RESET;

	if (v == 0) {
		virtio_mmio_reset_locked(t);
		return;
	}
	if (have & ~want) {
		log_debug_rl("%s@0x%llx: status 0x%x would clear bits of 0x%x; ignored",
			     mmio_name(t), (unsigned long long)t->base, v, cur);
		return;
	}
	if ((want & VIRTIO_STATUS_FAILED) && !(have & VIRTIO_STATUS_FAILED))
		mmio_status_or(t, VIRTIO_STATUS_FAILED);
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		uint32_t bit = order[i];

		if (!(want & bit) || (mmio_status(t) & bit))
			continue;
		if (i > 0 && !(mmio_status(t) & order[i - 1])) {
			log_debug_rl("%s@0x%llx: status bit 0x%x set out of order; ignored",
				     mmio_name(t), (unsigned long long)t->base, bit);
			return;
		}
		if (bit == VIRTIO_STATUS_FEATURES_OK) {
			if (!mmio_features_ok(t))
				return;   /* reads back clear: the driver gives up */
			mmio_status_or(t, bit);
		} else if (bit == VIRTIO_STATUS_DRIVER_OK) {
			mmio_driver_ok(t);
		} else {
			mmio_status_or(t, bit);
		}
	}
	if (want & ~MMIO_DRIVER_STATUS_BITS)
		log_debug_rl("%s@0x%llx: unknown status bits in 0x%x ignored",
			     mmio_name(t), (unsigned long long)t->base, v);
}

static void mmio_queue_ready(struct virtio_mmio *t, struct virtio_mmio_queue_regs *q, uint32_t v)
{
	struct vq *vq = mmio_cur_vq(t);
	uint16_t max = t->ops->queue_max;
	int err;

	if (!v) {
		vq_disable(vq);
		q->ready = 0;
		return;
	}
	if (q->ready)
		return;
	if (!(mmio_status(t) & VIRTIO_STATUS_FEATURES_OK)) {
		log_debug_rl("%s@0x%llx: queue %u made ready before FEATURES_OK; ignored",
			     mmio_name(t), (unsigned long long)t->base, t->regs.queue_sel);
		return;
	}
	if (q->num == 0 || q->num > max || (q->num & (q->num - 1))) {
		log_debug_rl("%s@0x%llx: queue %u size %u is not a power of two up to %u",
			     mmio_name(t), (unsigned long long)t->base, t->regs.queue_sel, q->num, max);
		mmio_status_or(t, VIRTIO_STATUS_NEEDS_RESET);
		return;
	}
	err = vq_enable(vq, t->mem, q->num, q->desc, q->driver, q->device,
			virtio_mmio_has_feature(t, VIRTIO_F_EVENT_IDX),
			virtio_mmio_has_feature(t, VIRTIO_F_INDIRECT_DESC));
	if (err) {
		log_debug_rl("%s@0x%llx: queue %u ring address outside guest RAM",
			     mmio_name(t), (unsigned long long)t->base, t->regs.queue_sel);
		mmio_status_or(t, VIRTIO_STATUS_NEEDS_RESET);
		return;
	}
	q->ready = 1;
}

static void mmio_set_half(uint64_t *reg, bool high, uint32_t v)
{
	if (high)
		*reg = (*reg & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*reg = (*reg & ~0xffffffffULL) | v;
}

/* The queue registers: writable only before DRIVER_OK, queue not ready. */
static void mmio_write_queue(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtio_mmio_queue_regs *q = mmio_cur_queue(t);

	if (!q) {
		log_debug_rl("%s@0x%llx: queue register 0x%llx written with QueueSel %u out of range; ignored",
			     mmio_name(t), (unsigned long long)t->base, (unsigned long long)off, t->regs.queue_sel);
		return;
	}
	if (mmio_status(t) & VIRTIO_STATUS_DRIVER_OK) {
		log_debug_rl("%s@0x%llx: queue register 0x%llx written after DRIVER_OK; ignored",
			     mmio_name(t), (unsigned long long)t->base, (unsigned long long)off);
		return;
	}
	if (off == VIRTIO_MMIO_QUEUE_READY) {
		mmio_queue_ready(t, q, v);
		return;
	}
	if (q->ready) {
		log_debug_rl("%s@0x%llx: queue %u register 0x%llx written while ready; ignored",
			     mmio_name(t), (unsigned long long)t->base, t->regs.queue_sel, (unsigned long long)off);
		return;
	}
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		/* Out of uint16_t range can never be valid: keep 0 so
		 * QueueReady refuses it instead of a truncated size. */
		q->num = v > 0xffff ? 0 : (uint16_t)v;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		mmio_set_half(&q->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		mmio_set_half(&q->driver, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		mmio_set_half(&q->device, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	}
}

static void mmio_write_driver_features(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	uint32_t st = mmio_status(t);

	if (!(st & VIRTIO_STATUS_DRIVER) || (st & VIRTIO_STATUS_FEATURES_OK)) {
		log_debug_rl("%s@0x%llx: driver features written outside negotiation (status 0x%x); ignored",
			     mmio_name(t), (unsigned long long)t->base, st);
		return;
	}
	if (off == VIRTIO_MMIO_DRIVER_FEATURES_SEL) {
		t->regs.driver_features_sel = v;
	} else if (t->regs.driver_features_sel <= 1) {
		mmio_set_half(&t->regs.driver_features, t->regs.driver_features_sel == 1, v);
	} else if (v) {
		/* No feature bit above 63 exists or was offered. */
		log_debug_rl("%s@0x%llx: driver features word %u = 0x%x; no such bits, ignored",
			     mmio_name(t), (unsigned long long)t->base, t->regs.driver_features_sel, v);
	}
}

static uint32_t mmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_mmio_queue_regs *q;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_MVM_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->regs.device_features_sel > 1)
			return 0;
		return (uint32_t)(t->regs.device_features >> (32 * t->regs.device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return mmio_cur_queue(t) ? t->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		q = mmio_cur_queue(t);
		return q && q->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return __atomic_load_n(&t->regs.interrupt_status, __ATOMIC_SEQ_CST);
	case VIRTIO_MMIO_STATUS:
		return mmio_status(t);
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffffu;   /* length -1: no shared memory region */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return __atomic_load_n(&t->regs.config_generation, __ATOMIC_SEQ_CST);
	default:
		/* Write-only registers and holes read as zero. */
		log_debug_rl("%s@0x%llx: read of write-only or unknown register 0x%llx",
			     mmio_name(t), (unsigned long long)t->base, (unsigned long long)off);
		return 0;
	}
}

static void mmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->regs.device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		mmio_write_driver_features(t, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->regs.queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_READY:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		mmio_write_queue(t, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (v < (uint32_t)t->ops->nr_queues)
			mmio_eventfd_signal(t->queues[v].kick_fd);
		else
			log_debug_rl("%s@0x%llx: notify of queue %u out of range; ignored",
				     mmio_name(t), (unsigned long long)t->base, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		__atomic_fetch_and(&t->regs.interrupt_status, ~v, __ATOMIC_SEQ_CST);
		break;
	case VIRTIO_MMIO_STATUS:
		mmio_write_status(t, v);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		break;   /* no regions: every selection reads length -1 */
	default:
		log_debug_rl("%s@0x%llx: write 0x%x to read-only or unknown register 0x%llx ignored",
			     mmio_name(t), (unsigned long long)t->base, v, (unsigned long long)off);
		break;
	}
}

/* Config space: the in-range part goes to the device, the rest reads 0. */
static void mmio_config(struct virtio_mmio *t, uint64_t off, uint8_t *data,
			uint32_t len, bool is_write)
{
	uint32_t size = t->ops->config_size;
	uint32_t n;

	if (!is_write)
		memset(data, 0, len);
	if (off >= size)
		return;
	n = size - off < len ? (uint32_t)(size - off) : len;
	if (!is_write) {
		if (t->ops->config_read)
			t->ops->config_read(t->dev, (uint32_t)off, data, n);
	} else if (n != len) {
		log_debug_rl("%s@0x%llx: config write at 0x%llx runs past the %u-byte space; ignored",
			     mmio_name(t), (unsigned long long)t->base, (unsigned long long)off, size);
	} else if (t->ops->config_write) {
		t->ops->config_write(t->dev, (uint32_t)off, data, len);
	}
}

void virtio_mmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	if (len != 1 && len != 2 && len != 4 && len != 8) {
		log_debug_rl("%s@0x%llx: %u-byte access at 0x%llx ignored",
			     mmio_name(t), (unsigned long long)t->base, len, (unsigned long long)off);
		return;   /* cannot fill a buffer of unknown size safely */
	}
	if (!is_write)
		memset(data, 0, len);
	if (!t->attached || off >= MMIO_WINDOW || len > MMIO_WINDOW - off)
		return;
	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		mmio_config(t, off - VIRTIO_MMIO_CONFIG, data, len, is_write);
	} else if (len != 4 || (off & 3)) {
		log_debug_rl("%s@0x%llx: %u-byte %s of register 0x%llx ignored (registers are 32-bit)",
			     mmio_name(t), (unsigned long long)t->base, len,
			     is_write ? "write" : "read", (unsigned long long)off);
	} else if (is_write) {
		memcpy(&v, data, 4);
		mmio_write_reg(t, off, v);
	} else {
		v = mmio_read_reg(t, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

static void mmio_close_fds(struct virtio_mmio *t)
{
	for (int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		if (t->queues[i].kick_fd >= 0)
			close(t->queues[i].kick_fd);
		t->queues[i].kick_fd = -1;
	}
	if (t->call_fd >= 0)
		close(t->call_fd);
	t->call_fd = -1;
}

static int mmio_check_ops(const struct virtio_dev_ops *ops, uint64_t base)
{
	const char *name = ops && ops->name ? ops->name : "virtio";

	if (!ops || ops->nr_queues < 1 || ops->nr_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    ops->queue_max == 0 || ops->queue_max > VQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)) ||
	    ops->config_size > MMIO_WINDOW - VIRTIO_MMIO_CONFIG ||
	    (ops->config_size && !ops->config_read)) {
		log_err("%s@0x%llx: invalid device description (queues, queue size or config space)",
			name, (unsigned long long)base);
		return -EINVAL;
	}
	return 0;
}

int virtio_mmio_attach(struct virtio_mmio *t, const struct virtio_env *env,
		       uint64_t base, uint32_t gsi,
		       const struct virtio_dev_ops *ops, void *dev)
{
	int err, i;

	/* Zeroed first, so detach() after a failed attach is a no-op. */
	memset(t, 0, sizeof(*t));
	t->call_fd = -1;
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		t->queues[i].kick_fd = -1;
	err = mmio_check_ops(ops, base);
	if (err)
		return err;
	t->ops = ops;
	t->dev = dev;
	t->mem = env ? env->mem : NULL;
	t->base = base;
	t->gsi = gsi;
	t->regs.device_features = ops->features | VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			     VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

	t->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->call_fd < 0)
		goto fail_errno;
	for (i = 0; i < ops->nr_queues; i++) {
		t->queues[i].kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (t->queues[i].kick_fd < 0)
			goto fail_errno;
	}
	if (env && env->irqfd) {
		err = env->irqfd(env->ctx, gsi, t->call_fd);
		if (err) {
			log_err("%s@0x%llx: cannot wire its interrupt to GSI %u: %s",
				ops->name, (unsigned long long)base, gsi, strerror(-err));
			goto fail;
		}
	}
	if (env && env->ioeventfd) {
		for (i = 0; i < ops->nr_queues; i++) {
			err = env->ioeventfd(env->ctx, base + VIRTIO_MMIO_QUEUE_NOTIFY,
					     (uint32_t)i, t->queues[i].kick_fd);
			if (err)   /* the bus path still turns notifies into kicks */
				log_debug("%s@0x%llx: no ioeventfd for queue %d (%s); notifies go through mvm",
					  ops->name, (unsigned long long)base, i, strerror(-err));
		}
	}
	pthread_mutex_init(&t->lock, NULL);
	/* Last: the bus has no removal, so nothing may fail after this. */
	if (env && env->mmio) {
		err = bus_add(env->mmio, base, MMIO_WINDOW, virtio_mmio_io, t, ops->name);
		if (err) {
			log_err("%s@0x%llx: cannot claim its MMIO window: %s",
				ops->name, (unsigned long long)base, strerror(-err));
			pthread_mutex_destroy(&t->lock);
			goto fail;
		}
	}
	t->attached = true;
	return 0;

fail_errno:
	err = -errno;
	log_err("%s@0x%llx: eventfd: %s", ops->name, (unsigned long long)base, strerror(errno));
fail:
	mmio_close_fds(t);
	return err;
}

void virtio_mmio_detach(struct virtio_mmio *t)
{
	if (!t || !t->attached)
		return;
	pthread_mutex_lock(&t->lock);
	virtio_mmio_reset_locked(t);
	t->attached = false;
	pthread_mutex_unlock(&t->lock);
	mmio_close_fds(t);
	pthread_mutex_destroy(&t->lock);
}
