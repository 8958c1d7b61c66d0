/* coalesce.c - KVM's coalesced I/O ring, drained onto the buses in order. */
#include "core/coalesce.h"
#include "core/bus.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int coalesce_init(struct coalesce *c, int vm_fd, struct bus *pio, struct bus *mmio)
{
	memset(c, 0, sizeof(*c));
	c->vm_fd = vm_fd;
	c->pio = pio;
	c->mmio = mmio;
	pthread_mutex_init(&c->lock, NULL);
	if (vm_fd >= 0)
		c->pio_ok = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) > 0;
	return 0;
}

int coalesce_attach_ring(struct coalesce *c, void *run_area, size_t run_size)
{
	long page = sysconf(_SC_PAGESIZE);
	int off;

	if (c->vm_fd < 0 || !run_area)
		return -EINVAL;
	off = ioctl(c->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (off <= 0)
		return -ENOTSUP;
	if (page <= 0 || (size_t)(off + 1) * (size_t)page > run_size) {
		log_warn("KVM's coalesced I/O ring (page %d) lies outside the vCPU mapping "
			 "(%zu bytes); serial output is not coalesced", off, run_size);
		return -EINVAL;
	}
	coalesce_attach_mem(c, (void *)((char *)run_area + (size_t)off * (size_t)page),
			    (uint32_t)(((size_t)page - sizeof(struct kvm_coalesced_mmio_ring)) /
				       sizeof(struct kvm_coalesced_mmio)));
	return 0;
}

void coalesce_attach_mem(struct coalesce *c, struct kvm_coalesced_mmio_ring *ring, uint32_t max)
{
	pthread_mutex_lock(&c->lock);
	c->ring = ring;
	c->max = max;
	pthread_mutex_unlock(&c->lock);
}

int coalesce_pio(struct coalesce *c, uint64_t port, uint32_t len, bool on)
{
	struct kvm_coalesced_mmio_zone z = { .addr = port, .size = len, .pio = 1 };

	if (!c || !c->pio_ok || c->vm_fd < 0)
		return -ENOTSUP;
	if (ioctl(c->vm_fd, on ? KVM_REGISTER_COALESCED_MMIO : KVM_UNREGISTER_COALESCED_MMIO, &z))
		return -errno;
	return 0;
}

void coalesce_expect_writes(struct coalesce *c, uint64_t now_ms)
{
	atomic_store(&c->busy_until_ms, now_ms + COALESCE_LINGER_MS);
}

int coalesce_next_wait_ms(struct coalesce *c, unsigned drained, uint64_t now_ms)
{
	if (drained)
		coalesce_expect_writes(c, now_ms);
	return now_ms < atomic_load(&c->busy_until_ms) ? COALESCE_BUSY_MS : COALESCE_IDLE_MS;
}

unsigned coalesce_drain(struct coalesce *c)
{
	struct kvm_coalesced_mmio_ring *r = c->ring;
	uint32_t first, last;
	unsigned n = 0;

	/* Lock-free look first: almost every exit finds the ring empty. */
	if (!r || __atomic_load_n(&r->first, __ATOMIC_RELAXED) ==
		  __atomic_load_n(&r->last, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&c->lock);
	/* Up to what was queued when we looked: writes queued while we drain
	 * came after the exit that called us (and the loop stays bounded). */
	first = __atomic_load_n(&r->first, __ATOMIC_RELAXED);
	last = __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
	if (first >= c->max || last >= c->max) {
		/* Not KVM's ring any more: drop what is there rather than loop. */
		log_warn_rl("coalesced I/O ring indices out of range (first %u, last %u, max %u); "
			    "its entries are dropped", first, last, c->max);
		atomic_fetch_add(&c->bad, 1);
		__atomic_store_n(&r->first, last < c->max ? last : 0, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	while (first != last) {
		struct kvm_coalesced_mmio e;

		memcpy(&e, &r->coalesced_mmio[first], sizeof(e));
		if (e.len == 0 || e.len > sizeof(e.data)) {
			atomic_fetch_add(&c->bad, 1);
		} else {
			bus_access(e.pio ? c->pio : c->mmio, e.phys_addr, e.data, e.len, true);
			n++;
		}
		/* Freed only once delivered: a drainer that finds the ring empty
		 * knows every earlier write has reached its device. */
		first = (first + 1) % c->max;
		__atomic_store_n(&r->first, first, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->lock);
	if (n)
		atomic_fetch_add(&c->drained, n);
	return n;
}

void coalesce_destroy(struct coalesce *c)
{
	pthread_mutex_destroy(&c->lock);
}
