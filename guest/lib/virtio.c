/* virtio.c - a minimal virtio-mmio driver core for tiny guests: handshake, split queues, polling. */
#include "mvm_guest.h"

#define VQ_ALIGN 4096

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* desc table, then avail (6 + 2n), then used (page aligned, 6 + 8n). */
uint64_t mvm_virtq_mem_size(uint16_t size)
{
	uint64_t avail_end = 16ULL * size + 6 + 2ULL * size;

	return align_up(avail_end, VQ_ALIGN) + align_up(6 + 8ULL * size, VQ_ALIGN);
}

uint64_t mvm_virtio_find(const struct mvm_bootinfo *bi, uint32_t device_id)
{
	for (uint32_t i = 0; i < bi->nr_devices && i < MVM_BOOTINFO_MAX_DEVS; i++)
		if (bi->devices[i].device_id == device_id)
			return bi->devices[i].base;
	return 0;
}

int mvm_virtio_init(uint64_t base, uint64_t want)
{
	uint64_t have;

	if (mmio_read32(base + VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
	    mmio_read32(base + VIRTIO_MMIO_VERSION) != 2)
		return -1;
	mmio_write32(base + VIRTIO_MMIO_STATUS, 0);
	mmio_write32(base + VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_write32(base + VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_write32(base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	have = mmio_read32(base + VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_write32(base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	have |= (uint64_t)mmio_read32(base + VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	want = (want | (1ULL << VIRTIO_F_VERSION_1)) & have;
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
	mmio_write32(base + VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		     VIRTIO_STATUS_FEATURES_OK);
	if (!(mmio_read32(base + VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return -1;
	return 0;
}

int mvm_virtq_setup(struct mvm_virtq *q, uint64_t base, uint16_t index, uint16_t size, void *mem)
{
	uint64_t m = (uintptr_t)mem, used;

	mmio_write32(base + VIRTIO_MMIO_QUEUE_SEL, index);
	if (mmio_read32(base + VIRTIO_MMIO_QUEUE_READY) ||
	    size == 0 || size > mmio_read32(base + VIRTIO_MMIO_QUEUE_NUM_MAX))
		return -1;
	memset(mem, 0, mvm_virtq_mem_size(size));
	used = m + align_up(16ULL * size + 6 + 2ULL * size, VQ_ALIGN);
	*q = (struct mvm_virtq){
		.base = base, .index = index, .size = size,
		.desc = mem, .avail = (volatile uint16_t *)(uintptr_t)(m + 16ULL * size),
		.used = (volatile uint8_t *)(uintptr_t)used,
	};
	mmio_write32(base + VIRTIO_MMIO_QUEUE_NUM, size);
	mmio_write32(base + VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)m);
	mmio_write32(base + VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(m >> 32));
	mmio_write32(base + VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)q->avail);
	mmio_write32(base + VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((uintptr_t)q->avail >> 32));
	mmio_write32(base + VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	mmio_write32(base + VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	mmio_write32(base + VIRTIO_MMIO_QUEUE_READY, 1);
	return 0;
}

void mvm_virtio_driver_ok(uint64_t base)
{
	mmio_write32(base + VIRTIO_MMIO_STATUS, mmio_read32(base + VIRTIO_MMIO_STATUS) |
		     VIRTIO_STATUS_DRIVER_OK);
}

void mvm_virtq_submit(struct mvm_virtq *q, uint16_t head)
{
	q->avail[2 + (q->next_avail % q->size)] = head;
	mb();
	q->avail[1] = ++q->next_avail;
	mb();
	mmio_write32(q->base + VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

int mvm_virtq_wait_used(struct mvm_virtq *q, uint32_t *id, uint32_t *len, uint64_t timeout_ns)
{
	uint64_t deadline = mvm_time_mono_ns() + timeout_ns;

	for (;;) {
		uint16_t idx = *(volatile uint16_t *)(q->used + 2);

		if (idx != q->last_used) {
			const volatile struct virtq_used_elem *e = (const volatile void *)
				(q->used + 4 + 8 * (q->last_used % q->size));

			mb();
			*id = e->id;
			*len = e->len;
			q->last_used++;
			return 0;
		}
		if (mvm_time_mono_ns() > deadline)
			return -1;
		cpu_relax();
	}
}
