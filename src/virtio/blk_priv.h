/* blk_priv.h - the live virtio-blk device, shared by blk.c and blk_state.c.
 *
 * Contract: private to src/virtio/blk*.c. Everything after "Worker-owned"
 * belongs to the device's worker once the loop runs; another thread reads
 * it only with the worker held (VM paused) or stopped.
 */
#ifndef MVM_VIRTIO_BLK_PRIV_H
#define MVM_VIRTIO_BLK_PRIV_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/blk.h"
#include "virtio/limiter.h"
#include "virtio/worker.h"

#define BLK_HDR_LEN  16   /* le32 type, le32 reserved, le64 sector */
#define BLK_SEG_LEN  16   /* discard/write-zeroes segment: le64, le32, le32 */
#define BLK_DEPTH    128  /* io_uring entries = requests in flight at most */

enum blk_op { BLK_OP_RW_IN, BLK_OP_RW_OUT, BLK_OP_FLUSH, BLK_OP_FALLOC };

/* One request in flight: it holds its chain's head until completion. */
struct blk_slot {
	enum blk_op op;
	uint16_t head;
	uint8_t *status;
	uint32_t used_len;       /* bytes written to the guest, status included */
	uint64_t off;            /* file offset of the next byte to transfer */
	uint32_t remaining;      /* bytes still to transfer */
	int fa_mode;
	uint64_t fa_len;
	bool wz;                 /* WRITE_ZEROES: may fall back to punching */
	int nr_iov, iov_idx;
	struct iovec iov[VQ_CHAIN_MAX];
};

struct virtio_blk {
	struct virtio_worker w;  /* transport + worker */
	struct virtio_dev_ops ops;
	const struct gmem *mem;
	char *path;
	int fd;
	bool ro;
	char id[VIRTIO_BLK_ID_BYTES];
	uint64_t capacity;
	struct virtio_blk_config config;

	bool have_uring;
	struct io_uring ring;
	int ring_efd;

	/* Worker-owned from here on. */
	bool active;             /* DRIVER_OK seen, no reset since */
	bool failed;             /* asked for NEEDS_RESET; stop popping */
	bool pushed;             /* used entries added since the last signal */
	bool ioerr_logged;
	unsigned to_submit;
	unsigned inflight;
	uint64_t drain_deadline_ns;   /* quiesce: CLOCK_MONOTONIC; 0: none (worker only) */
	int drain_ret;                /* quiesce's drain: 0 or -ETIMEDOUT */
	unsigned nr_free;
	struct blk_slot *slots;
	uint16_t free_list[BLK_DEPTH];
	struct vq_chain chain;
	struct virtio_blk_req req;
	struct virtio_limiter lim;    /* rate_limiter: requests wait in the ring */
	struct rlim_update lim_update; /* virtio_blk_set_rate_limiter() -> the worker */
	int swap_fd;                  /* virtio_blk_swap_image() -> the worker: the new */
	uint64_t swap_capacity;       /* image, then the old fd back */
	char *swap_path;
};

/* blk.c's worker-side steps, for blk_update.c (on the worker only). */
void blk_drain(struct virtio_blk *d);   /* wait for every request in flight */
void blk_signal(struct virtio_blk *d);
/* Open and check an image as at create (types, access, flock when lock):
 * 0 with *fd_out and *capacity (sectors), or -errno with err written.
 * flag names where path came from ("--disk" words the read-only hint so). */
int blk_open_image(const char *path, bool ro, const char *flag, bool lock, int *fd_out,
		   uint64_t *capacity, char *err, size_t errlen);

#endif
