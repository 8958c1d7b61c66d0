/* coalesce.h - KVM's coalesced I/O ring: guest writes KVM queues instead of exiting.
 *
 * Contract: the builder calls coalesce_init() once the VM exists (with the
 * VM fd; no ring yet) and coalesce_attach_ring() once vCPU 0's kvm_run area
 * is mapped (the ring is the page KVM_CAP_COALESCED_MMIO names, shared by
 * every vCPU). Devices ask through coalesce_pio() for writes to a port
 * range to be queued (on) or to exit again (off); it returns -ENOTSUP when
 * KVM lacks KVM_CAP_COALESCED_PIO, and the device then simply keeps its
 * exits. coalesce_drain() hands every queued write, oldest first, to the
 * port or MMIO bus as an ordinary write, so a device sees the same accesses
 * in the same order as without coalescing, only later. It must run before
 * any other access reaches a device that coalesces: each vCPU drains after
 * every exit, before its handler, and before it parks (pause, snapshot,
 * migration) or ends; the VM's main thread drains every COALESCE_IDLE_MS,
 * so a guest that wrote and then went idle (HLT never exits to mvm) has its
 * output delivered, and every COALESCE_BUSY_MS for COALESCE_LINGER_MS after
 * a drain found writes or the vCPUs started or resumed
 * (coalesce_next_wait_ms()): a guest that writes without ever exiting (a
 * loop with interrupts off, a tiny guest ticking every 10 ms) had each line
 * up to 20 ms late. A mutex serializes drainers; the check for an empty
 * ring is lock-free. Entries are checked (length 1..8, index within the
 * ring) although only KVM writes the ring.
 */
#ifndef MVM_CORE_COALESCE_H
#define MVM_CORE_COALESCE_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define COALESCE_IDLE_MS 20
#define COALESCE_BUSY_MS 1
#define COALESCE_LINGER_MS 100

struct bus;

struct coalesce {
	int vm_fd;                          /* < 0: no KVM (unit tests) */
	bool pio_ok;                        /* KVM_CAP_COALESCED_PIO */
	struct kvm_coalesced_mmio_ring *ring; /* NULL until attached */
	uint32_t max;                       /* entries in the ring */
	struct bus *pio, *mmio;
	pthread_mutex_t lock;
	atomic_ulong drained;               /* writes delivered from the ring */
	atomic_ulong bad;                   /* entries refused (bad length) */
	atomic_ullong busy_until_ms;        /* drain every COALESCE_BUSY_MS until then */
};

/* Ask KVM (vm_fd, may be < 0) what it supports. 0 or -errno. */
int coalesce_init(struct coalesce *c, int vm_fd, struct bus *pio, struct bus *mmio);
/* The ring inside vCPU 0's mapping: run_area of run_size bytes. KVM's page
 * offset comes from KVM_CHECK_EXTENSION; a ring past the mapping is
 * refused (-EINVAL). On failure the caller has every device turn its
 * coalescing off (zones registered already would fill a ring nobody
 * drains), then clears pio_ok. */
int coalesce_attach_ring(struct coalesce *c, void *run_area, size_t run_size);
/* For tests: a ring of max entries in ordinary memory. */
void coalesce_attach_mem(struct coalesce *c, struct kvm_coalesced_mmio_ring *ring, uint32_t max);
/* Queue (on) or stop queuing (off) writes to [port, port + len). 0,
 * -ENOTSUP (no coalesced PIO) or -errno from KVM. Writes queued before an
 * "off" stay in the ring until the next drain. */
int coalesce_pio(struct coalesce *c, uint64_t port, uint32_t len, bool on);
/* Deliver every queued write; returns how many. */
unsigned coalesce_drain(struct coalesce *c);
/* How long the main thread waits before its next drain, at now_ms (any
 * monotonic clock in ms), after one that delivered drained writes:
 * COALESCE_BUSY_MS until COALESCE_LINGER_MS after the last drain that found
 * writes (or the last coalesce_expect_writes()), COALESCE_IDLE_MS after. */
int coalesce_next_wait_ms(struct coalesce *c, unsigned drained, uint64_t now_ms);
/* The vCPUs start or resume: output may come at once (a migrated guest's
 * next line), so drain soon for COALESCE_LINGER_MS from now_ms. */
void coalesce_expect_writes(struct coalesce *c, uint64_t now_ms);
void coalesce_destroy(struct coalesce *c);

#endif
