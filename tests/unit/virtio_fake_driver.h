/* virtio_fake_driver.h - a virtio driver in a test: brings a device up
 * through virtio_mmio_io() and crafts split rings in a gmem, the way a
 * guest kernel would. Static helpers for the device tests. */
#ifndef MVM_TESTS_VIRTIO_FAKE_DRIVER_H
#define MVM_TESTS_VIRTIO_FAKE_DRIVER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/memory.h"
#include "virtio/mmio.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"

#define FD_MEM_SIZE   (16ULL << 20)
#define FD_RING_BASE  0x100000ULL   /* queue i at FD_RING_BASE + i * 0x10000 */
#define FD_DATA_BASE  0x200000ULL   /* buffers for the tests */
#define FD_MMIO_BASE  0xd0000000ULL
#define FD_MAX_Q      4

struct fd_seg {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

struct fd_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;
	uint16_t next_desc;
};

struct fake_driver {
	struct gmem mem;
	struct bus bus;
	struct virtio_env env;
	struct virtio_mmio *t;
	struct fd_queue q[FD_MAX_Q];
};

static inline uint32_t fd_rd(struct fake_driver *f, uint64_t off)
{
	uint32_t v = 0;

	virtio_mmio_io(f->t, off, (uint8_t *)&v, 4, false);
	return v;
}

static inline void fd_wr(struct fake_driver *f, uint64_t off, uint32_t v)
{
	virtio_mmio_io(f->t, off, (uint8_t *)&v, 4, true);
}

static inline void *fd_host(struct fake_driver *f, uint64_t gpa, uint64_t len)
{
	return gmem_ptr(&f->mem, gpa, len);
}

/* Guest RAM and an MMIO bus; the device attaches to f->env. */
static inline int fd_setup(struct fake_driver *f)
{
	memset(f, 0, sizeof(*f));
	if (gmem_init(&f->mem, FD_MEM_SIZE))
		return -1;
	bus_init(&f->bus, "mmio");
	f->env.mem = &f->mem;
	f->env.mmio = &f->bus;
	return 0;
}

static inline void fd_teardown(struct fake_driver *f)
{
	bus_free(&f->bus);
	gmem_free(&f->mem);
}

/* The driver's side of initialization (spec 3.1.1) with nr queues of size
 * qsize; features: driver bits to accept (VERSION_1 is added). Returns
 * the final status register. */
static inline uint32_t fd_init(struct fake_driver *f, int nr, uint16_t qsize,
			       uint64_t features)
{
	uint32_t st;

	features |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	fd_wr(f, VIRTIO_MMIO_STATUS, 0);
	fd_wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	fd_wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fd_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	fd_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	fd_wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fd_wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	fd_wr(f, VIRTIO_MMIO_STATUS, st);
	for (int i = 0; i < nr && i < FD_MAX_Q; i++) {
		struct fd_queue *q = &f->q[i];
		uint64_t base = FD_RING_BASE + (uint64_t)i * 0x10000;

		q->size = qsize;
		q->desc = base;
		q->avail = base + 0x4000;
		q->used = base + 0x8000;
		q->avail_idx = 0;
		q->next_desc = 0;
		memset(fd_host(f, base, 0x10000), 0, 0x10000);
		fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, (uint32_t)i);
		fd_wr(f, VIRTIO_MMIO_QUEUE_NUM, qsize);
		fd_wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
		fd_wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		fd_wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
		fd_wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
		fd_wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
		fd_wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
		fd_wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	fd_wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	return fd_rd(f, VIRTIO_MMIO_STATUS);
}

static inline volatile struct virtq_avail *fd_avail(struct fake_driver *f, int qi)
{
	return fd_host(f, f->q[qi].avail, 4 + 2 * f->q[qi].size + 2);
}

static inline volatile struct virtq_used *fd_used(struct fake_driver *f, int qi)
{
	return fd_host(f, f->q[qi].used, 4 + 8 * f->q[qi].size + 2);
}

/* Write a chain into the descriptor table and make it available (without
 * notifying). Returns its head. */
static inline uint16_t fd_add_chain(struct fake_driver *f, int qi,
				    const struct fd_seg *segs, int n)
{
	struct fd_queue *q = &f->q[qi];
	volatile struct virtq_desc *desc = fd_host(f, q->desc, 16ULL * q->size);
	volatile struct virtq_avail *av = fd_avail(f, qi);
	uint16_t head = q->next_desc;

	for (int i = 0; i < n; i++) {
		uint16_t d = (uint16_t)(q->next_desc % q->size);
		uint16_t next = (uint16_t)((d + 1) % q->size);

		desc[d].addr = segs[i].gpa;
		desc[d].len = segs[i].len;
		desc[d].flags = (uint16_t)((segs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		desc[d].next = next;
		q->next_desc = next;
	}
	av->ring[q->avail_idx % q->size] = head;
	q->avail_idx++;
	__atomic_store_n(&av->idx, q->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static inline void fd_notify(struct fake_driver *f, int qi)
{
	fd_wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, (uint32_t)qi);
}

/* Notify only when the device asked for it, as a real driver does:
 * avail_event with EVENT_IDX (event_idx true), else the used ring's
 * NO_NOTIFY flag. old: the avail index at the last notification decision. */
static inline bool fd_notify_if_needed(struct fake_driver *f, int qi, uint16_t old,
				       bool event_idx)
{
	volatile struct virtq_used *u = fd_used(f, qi);
	uint16_t now = f->q[qi].avail_idx;
	bool kick;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (event_idx) {
		volatile uint16_t *avail_event = (volatile uint16_t *)&u->ring[f->q[qi].size];

		kick = vq_need_event(*avail_event, now, old);
	} else {
		kick = !(u->flags & VIRTQ_USED_F_NO_NOTIFY);
	}
	if (kick)
		fd_notify(f, qi);
	return kick;
}

static inline uint16_t fd_used_idx(struct fake_driver *f, int qi)
{
	return __atomic_load_n(&fd_used(f, qi)->idx, __ATOMIC_ACQUIRE);
}

/* Wait (up to ms) until the used index reaches want; true when it did. */
static inline bool fd_wait_used(struct fake_driver *f, int qi, uint16_t want, int ms)
{
	for (int i = 0; i < ms * 10; i++) {
		if ((uint16_t)(fd_used_idx(f, qi) - want) < 0x8000)
			return true;
		usleep(100);
	}
	return false;
}

static inline struct virtq_used_elem fd_used_elem(struct fake_driver *f, int qi, uint16_t i)
{
	volatile struct virtq_used *u = fd_used(f, qi);
	struct virtq_used_elem e = { u->ring[i % f->q[qi].size].id,
				     u->ring[i % f->q[qi].size].len };

	return e;
}

/* Did the device raise its interrupt (the irqfd eventfd)? Clears it. */
static inline bool fd_irq_raised(struct fake_driver *f)
{
	struct pollfd p = { .fd = f->t->call_fd, .events = POLLIN };
	uint64_t v;

	if (f->t->call_fd < 0 || poll(&p, 1, 0) != 1)
		return false;
	return read(f->t->call_fd, &v, sizeof(v)) == sizeof(v);
}

/* FNV-1a over all of guest RAM: equal sums across a pause mean no device
 * wrote guest memory meanwhile. */
static inline uint64_t fd_ram_checksum(struct fake_driver *f)
{
	const volatile uint64_t *p = fd_host(f, 0, FD_MEM_SIZE);
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < FD_MEM_SIZE / 8; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

#endif
