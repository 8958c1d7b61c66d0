/* adv.h - helpers shared by the adversarial guests: verdicts, device bring-up, blk requests.
 *
 * Contract: a guest checks with ADV_CHECK(cond, fmt, ...) (a failure prints
 * "ADV-FAIL: ..." and is counted, the guest goes on) and ends with
 * adv_finish(name), which prints "ADV-PASS name" when nothing failed and
 * returns the exit status (0 pass, 1 fail) for mvm_main to return. Waits are
 * bounded by ADV_TIMEOUT_NS of mvm's monotonic clock (a hung device fails a
 * check, it does not hang the guest). Queue memory is the guest's own .bss.
 */
#ifndef ADV_H
#define ADV_H

#include "mvm_guest.h"

#define ADV_TIMEOUT_NS (10ULL * 1000000000ULL)
#define ADV_QSIZE 16

#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4
#define VIRTIO_F_INDIRECT_DESC 28

#define BLK_T_IN  0
#define BLK_T_OUT 1
#define BLK_S_OK    0
#define BLK_S_IOERR 1

extern int adv_failures;
void adv_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define ADV_CHECK(c, ...) do { if (!(c)) adv_fail(__VA_ARGS__); } while (0)
int adv_finish(const char *name);

/* One device with up to two queues of ADV_QSIZE entries. */
struct adv_dev {
	uint64_t base;
	uint32_t id;
	int nq;
	struct mvm_virtq q[2];
};

/* The window of device id in bi; fails the guest (exit 1) when absent. */
uint64_t adv_need(const struct mvm_bootinfo *bi, uint32_t id);
/* Reset, negotiate (features | VERSION_1), set up nq queues of size ADV_QSIZE,
 * DRIVER_OK. 0, or -1 with a failure recorded. */
int adv_up(struct adv_dev *d, uint64_t base, uint32_t id, uint64_t features, int nq);
uint32_t adv_status(const struct adv_dev *d);
/* Wait for NEEDS_RESET: 0 when it came, -1 after the timeout. */
int adv_wait_needs_reset(const struct adv_dev *d);
/* Status = 0; checks it reads back 0 and queue 0 is no longer ready. */
void adv_reset(const struct adv_dev *d);
/* Publish head on queue qi without the SDK's bookkeeping of used entries. */
void adv_submit(struct adv_dev *d, int qi, uint16_t head);

/* A blk request in descriptors first..first+2 (header R, data, status W)
 * with the data descriptor's flags data_flags; submits and waits. Returns
 * 0 with *status set, or -1 on timeout (no used entry). */
int adv_blk_rw(struct adv_dev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len,
	       uint16_t data_flags, uint8_t *status);
/* After an attack on the device: reset, bring it up again and prove it
 * works (blk: read sector 0 and compare with the block hypercall; rng:
 * 64 random bytes; net: one tx frame completes; console: a line out).
 * Checks are recorded; returns 0 when usable. */
int adv_usable(struct adv_dev *d, uint64_t features);

/* Scratch memory: 1 MiB, page aligned, in the guest's .bss. */
extern uint8_t adv_scratch[1 << 20];

#endif
