/* blk.h - virtio-blk: a raw disk image (file or block device) as a virtio
 * block device (virtio 1.2 spec 5.2).
 *
 * Contract: virtio_blk_create() opens the image (read-write, or read-only
 * with cfg->read_only), refuses directories and anything that is neither a
 * regular file nor a block device, and takes an flock (exclusive for
 * read-write, shared for read-only) so two VMs cannot write one image; its
 * messages name the file. The guest sees size/512 sectors (a partial last
 * sector is invisible). One request queue of up to 256 entries; all request
 * work runs on the device's worker thread: reads and writes go to the image
 * through io_uring (synchronous preadv/pwritev on the worker when io_uring
 * is unavailable), completions come back through io_uring's eventfd on the
 * same worker. FLUSH completes only after fdatasync finished. A guest reset
 * waits for every request in flight before returning, so no completion
 * writes guest memory afterwards; destroy likewise finishes in-flight I/O.
 * Guest requests are hostile: every malformed one ends in a status byte
 * (IOERR/UNSUPP) or, when it has no room for one, in NEEDS_RESET.
 *
 * virtio_blk_req_parse() is the pure request validator, exposed for tests.
 *
 * State (blk_state.c): struct virtio_blk_state is the transport (registers
 * and queue) plus what the guest learnt of the disk: capacity, read-only
 * (these two fix the whole config space) and the GET_ID serial. Save with
 * the VM paused: -EBUSY while requests are in flight (pause drains them
 * first). Restore into a device freshly created (same image) and attached,
 * before the VM runs: a capacity or read-only flag other than the opened
 * image's is refused (another disk), the serial is taken as saved, then
 * the transport goes through virtio_mmio_restore(). The image's contents,
 * the fd, io_uring and the worker are host resources, not state.
 */
#ifndef MVM_VIRTIO_BLK_H
#define MVM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/memory.h"
#include "util/tbucket.h"
#include "virtio/mmio.h"
#include "virtio/queue.h"

/* Feature bits (spec 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (spec 5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

#define VIRTIO_BLK_SECTOR     512
#define VIRTIO_BLK_ID_BYTES   20
#define VIRTIO_BLK_QUEUE_MAX  256
#define VIRTIO_BLK_MAX_DISCARD_SECTORS 0x400000u  /* 2 GiB per request */
/* What one read or write may move: seg_max segments of at most size_max
 * bytes, offered to the driver (Linux sizes its requests by them) and
 * enforced (a larger request fails with IOERR). Bounds what a guest can
 * keep in flight, and so how long a reset or a pause waits: 128 requests
 * of ~4 MiB, where one request used to be able to ask for 2 GiB. */
#define VIRTIO_BLK_SEG_MAX        254u
#define VIRTIO_BLK_SIZE_MAX       (16u << 10)
#define VIRTIO_BLK_REQ_MAX_BYTES  (VIRTIO_BLK_SEG_MAX * VIRTIO_BLK_SIZE_MAX)
#define VIRTIO_BLK_DISCARD_ALIGN       8u         /* sectors: 4 KiB */

/* Device config space (spec 5.2.4), little-endian like the host. */
struct virtio_blk_config {
	uint64_t capacity;            /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	uint32_t max_secure_erase_sectors;
	uint32_t max_secure_erase_seg;
	uint32_t secure_erase_sector_alignment;
} __attribute__((packed));

struct virtio_blk_cfg {
	const char *path;
	bool read_only;
	const char *id;   /* GET_ID string, <= 20 bytes; NULL: the file's basename */
	const char *flag; /* what named path, for messages (create only); NULL: --disk */
	bool defer_lock;  /* open without the flock: virtio_blk_lock() takes it later
			   * (a migration's destination, once the source let go) */
	const struct rlim_cfg *rate_limiter;  /* NULL: none */
};

struct virtio_blk;

/* Open and check the image. 0, or -ENOENT/-EACCES/-EINVAL/-EBUSY (locked)
 * with a message naming the file, or another -errno. */
int virtio_blk_create(struct virtio_blk **out, const struct virtio_blk_cfg *cfg,
		      const struct gmem *mem);
/* Claim the MMIO window and start the worker. 0 or -errno (logged). */
int virtio_blk_attach(struct virtio_blk *d, const struct virtio_env *env,
		      uint64_t base, uint32_t gsi);
/* NULL-safe: stop the worker, detach (the reset runs here and waits for
 * in-flight I/O), close. */
struct evloop;
void virtio_blk_destroy(struct virtio_blk *d);
/* The device's worker loop (vm_pause() holds it); NULL for NULL. */
struct evloop *virtio_blk_loop(struct virtio_blk *d);

uint64_t virtio_blk_capacity(const struct virtio_blk *d);
/* The embedded transport (tests drive virtio_mmio_io() through it). */
struct virtio_mmio *virtio_blk_transport(struct virtio_blk *d);
/* Migration hand-over: take (LOCK_NB: -EBUSY when another process holds
 * it) or drop the image's flock; fdatasync a writable image. 0 or -errno. */
int virtio_blk_lock(struct virtio_blk *d, bool lock);
int virtio_blk_sync(struct virtio_blk *d);
const char *virtio_blk_path(const struct virtio_blk *d);
/* Whether requests go through io_uring (false: the synchronous fallback). */
bool virtio_blk_uses_io_uring(const struct virtio_blk *d);
/* PATCH /drives: replace the limiter's buckets the update names, on the
 * worker; requests held by the old limit are served again at once. */
void virtio_blk_set_rate_limiter(struct virtio_blk *d, const struct rlim_update *u);
/* PATCH /drives path_on_host: open path as at create (same checks, same
 * read-only mode, its flock), then on the worker wait for the requests in
 * flight, swap the image in, update the capacity and, when it changed and
 * the driver is up, raise a config-change interrupt. The old image is
 * closed (its lock goes with it). 0 or -errno with err written; on failure
 * the old image stays. From the API thread (not the worker). */
int virtio_blk_swap_image(struct virtio_blk *d, const char *path, char *err, size_t errlen);

#define VIRTIO_BLK_STATE_VERSION 1

struct virtio_blk_state {
	struct virtio_mmio_state transport;
	uint64_t capacity;               /* sectors */
	uint8_t read_only;               /* 0 or 1 */
	uint8_t pad[3];                  /* always 0 */
	char id[VIRTIO_BLK_ID_BYTES];    /* GET_ID serial, zero-padded */
};

/* 0, -EBUSY (requests in flight) or -EINVAL (not attached); logged. */
int virtio_blk_save(struct virtio_blk *d, struct virtio_blk_state *s);
/* 0, or -EINVAL/-EBUSY/-errno logged naming the refused field; on failure
 * the device is left reset. */
int virtio_blk_restore(struct virtio_blk *d, const struct virtio_blk_state *s);

/* One validated request. data[] is the payload: for IN and GET_ID the
 * writable bytes before the status byte, for OUT the readable bytes after
 * the 16-byte header. For DISCARD/WRITE_ZEROES the one segment is decoded
 * into sector/nr_sectors/flags. */
struct virtio_blk_req {
	uint32_t type;
	uint64_t sector;          /* first sector (segment's for DISCARD/WZ) */
	uint64_t nr_sectors;      /* IN/OUT: data_len / 512; DISCARD/WZ: segment's */
	uint32_t flags;           /* DISCARD/WZ segment flags */
	uint8_t *status;          /* the last writable byte */
	uint32_t data_len;
	int nr_data;
	struct iovec data[VQ_CHAIN_MAX];
};

/* Validate chain c against a disk of capacity sectors. Returns
 * VIRTIO_BLK_S_OK (do the I/O described by *req), VIRTIO_BLK_S_IOERR or
 * VIRTIO_BLK_S_UNSUPP (write that to *req->status and complete), or
 * -EINVAL when the request cannot be completed at all (header shorter than
 * 16 bytes or no writable status byte; req->status is NULL). Pure: reads
 * only guest memory through c's iovecs, writes only *req. */
int virtio_blk_req_parse(const struct vq_chain *c, uint64_t capacity, bool ro,
			 struct virtio_blk_req *req);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind virtio_blk_kind;

#endif
