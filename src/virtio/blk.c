/* blk.c - virtio-blk over a raw image: request validation, io_uring I/O on
 * the device's worker, and a synchronous fallback when io_uring is missing. */
#include "virtio/blk.h"
#include "virtio/blk_priv.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "util/upath.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct virtio_blk_config) == 72, "virtio 1.2 5.2.4 layout");

/* ---- the pure request parser ---- */

/* Copy len bytes starting skip bytes into iov[0..n) to dst; bytes copied. */
static size_t blk_gather(const struct iovec *iov, int n, size_t skip, void *dst, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t take = l - skip;
		if (take > len - done)
			take = len - done;
		memcpy((uint8_t *)dst + done, (uint8_t *)iov[i].iov_base + skip, take);
		done += take;
		skip = 0;
	}
	return done;
}

/* req->data = the bytes of iov[0..n) after skip, trimmed by trim at the end. */
static void blk_slice(struct virtio_blk_req *req, const struct iovec *iov, int n,
		      size_t skip, size_t trim)
{
	size_t total = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	size_t want = total - skip - trim;   /* callers ensure skip + trim <= total */
	req->nr_data = 0;
	/* A chain can name more than 4 GiB (one buffer repeated): saturate so
	 * the size check below refuses it instead of seeing a wrapped length. */
	req->data_len = want > UINT32_MAX ? UINT32_MAX : (uint32_t)want;
	for (int i = 0; i < n && want; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t take = l - skip;
		if (take > want)
			take = want;
		req->data[req->nr_data].iov_base = (uint8_t *)iov[i].iov_base + skip;
		req->data[req->nr_data].iov_len = take;
		req->nr_data++;
		want -= take;
		skip = 0;
	}
}

static bool blk_range_ok(uint64_t sector, uint64_t nr, uint64_t capacity)
{
	return sector <= capacity && nr <= capacity - sector;
}

int virtio_blk_req_parse(const struct vq_chain *c, uint64_t capacity, bool ro,
			 struct virtio_blk_req *req)
{
	const struct iovec *out = c->iov, *in = c->iov + c->nr_out;
	uint8_t hdr[BLK_HDR_LEN], seg[BLK_SEG_LEN];
	int last = -1;

	memset(req, 0, offsetof(struct virtio_blk_req, data));
	/* The status byte is the last writable byte, wherever it falls. */
	for (int i = c->nr_in - 1; i >= 0; i--) {
		if (in[i].iov_len) {
			last = i;
			break;
		}
	}
	if (last < 0 || c->out_len < BLK_HDR_LEN)
		return -EINVAL;
	req->status = (uint8_t *)in[last].iov_base + in[last].iov_len - 1;
	/* Copy the header once: the guest may change it under us. */
	blk_gather(out, c->nr_out, 0, hdr, sizeof(hdr));
	memcpy(&req->type, hdr, 4);
	memcpy(&req->sector, hdr + 8, 8);

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		if (c->out_len != BLK_HDR_LEN)
			return VIRTIO_BLK_S_IOERR;      /* data in the wrong direction */
		blk_slice(req, in, last + 1, 0, 1);
		break;
	case VIRTIO_BLK_T_OUT:
		if (ro || c->in_len != 1)
			return VIRTIO_BLK_S_IOERR;
		blk_slice(req, out, c->nr_out, BLK_HDR_LEN, 0);
		break;
	case VIRTIO_BLK_T_FLUSH:
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		blk_slice(req, in, last + 1, 0, 1);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		uint32_t nr32;

		/* max_*_seg is 1: exactly one 16-byte segment. */
		if (ro || c->out_len != BLK_HDR_LEN + BLK_SEG_LEN)
			return VIRTIO_BLK_S_IOERR;
		blk_gather(out, c->nr_out, BLK_HDR_LEN, seg, sizeof(seg));
		memcpy(&req->sector, seg, 8);
		memcpy(&nr32, seg + 8, 4);
		memcpy(&req->flags, seg + 12, 4);
		req->nr_sectors = nr32;
		if (req->flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (req->type == VIRTIO_BLK_T_DISCARD && req->flags)
			return VIRTIO_BLK_S_UNSUPP;
		if (nr32 > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
		    !blk_range_ok(req->sector, req->nr_sectors, capacity))
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
	/* IN and OUT: whole sectors, at least one, at most what seg_max and
	 * size_max allow, inside the disk. */
	if (req->data_len == 0 || req->data_len % VIRTIO_BLK_SECTOR ||
	    req->data_len > VIRTIO_BLK_REQ_MAX_BYTES)
		return VIRTIO_BLK_S_IOERR;
	req->nr_sectors = req->data_len / VIRTIO_BLK_SECTOR;
	if (!blk_range_ok(req->sector, req->nr_sectors, capacity))
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

/* ---- request execution (worker thread only) ---- */

static void blk_iov_advance(struct blk_slot *s, size_t n)
{
	while (n && s->iov_idx < s->nr_iov) {
		struct iovec *v = &s->iov[s->iov_idx];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		s->iov_idx++;
	}
}

/* Give the chain back; after a reset nothing reaches the guest. */
static void blk_complete(struct virtio_blk *d, struct blk_slot *s, uint8_t status)
{
	if (d->active) {
		*s->status = status;
		vq_push(virtio_mmio_vq(&d->w.t, 0), s->head, s->used_len);
		d->pushed = true;
	}
	d->free_list[d->nr_free++] = (uint16_t)(s - d->slots);
	d->inflight--;
}

/* Result res of one host operation on s. true: run s again (the rest of a
 * short transfer, or the write-zeroes fallback); false: s is complete. */
static bool blk_finish_op(struct virtio_blk *d, struct blk_slot *s, int res)
{
	uint8_t st = VIRTIO_BLK_S_OK;

	switch (s->op) {
	case BLK_OP_RW_IN:
	case BLK_OP_RW_OUT:
		if (res > 0 && (uint32_t)res < s->remaining && d->active) {
			s->off += (uint32_t)res;
			s->remaining -= (uint32_t)res;
			blk_iov_advance(s, (uint32_t)res);
			return true;
		}
		if (res <= 0 || (uint32_t)res != s->remaining)
			st = VIRTIO_BLK_S_IOERR;
		break;
	case BLK_OP_FLUSH:
		if (res < 0)
			st = VIRTIO_BLK_S_IOERR;
		break;
	case BLK_OP_FALLOC:
		if (res == -EOPNOTSUPP && s->wz && (s->fa_mode & FALLOC_FL_ZERO_RANGE) && d->active) {
			/* tmpfs and some block devices: a punched hole reads as zeros. */
			s->fa_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
			return true;
		}
		if (res == -EOPNOTSUPP && !s->wz)
			break;              /* discard is only a hint */
		if (res < 0)
			st = VIRTIO_BLK_S_IOERR;
		break;
	}
	if (st != VIRTIO_BLK_S_OK && !d->ioerr_logged) {
		d->ioerr_logged = true;
		log_warn_rl("virtio-blk %s: host I/O error (%s); the guest sees an I/O error",
			    d->path, res < 0 ? strerror(-res) : "short transfer");
	}
	blk_complete(d, s, st);
	return false;
}

static int blk_exec_sync(struct virtio_blk *d, struct blk_slot *s)
{
	ssize_t r;

	switch (s->op) {
	case BLK_OP_RW_IN:
		r = preadv(d->fd, s->iov + s->iov_idx, s->nr_iov - s->iov_idx, (off_t)s->off);
		break;
	case BLK_OP_RW_OUT:
		r = pwritev(d->fd, s->iov + s->iov_idx, s->nr_iov - s->iov_idx, (off_t)s->off);
		break;
	case BLK_OP_FLUSH:
		r = fdatasync(d->fd);
		break;
	default:
		r = fallocate(d->fd, s->fa_mode, (off_t)s->off, (off_t)s->fa_len);
		break;
	}
	return r < 0 ? -errno : (int)r;
}

/* Queue s on the ring. false when no entry is free (cannot happen while
 * inflight <= BLK_DEPTH, but the guest must not be able to prove that). */
static bool blk_queue_sqe(struct virtio_blk *d, struct blk_slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

	if (!sqe) {
		io_uring_submit(&d->ring);
		d->to_submit = 0;
		sqe = io_uring_get_sqe(&d->ring);
		if (!sqe)
			return false;
	}
	switch (s->op) {
	case BLK_OP_RW_IN:
		io_uring_prep_readv(sqe, d->fd, s->iov + s->iov_idx,
				    (unsigned)(s->nr_iov - s->iov_idx), s->off);
		break;
	case BLK_OP_RW_OUT:
		io_uring_prep_writev(sqe, d->fd, s->iov + s->iov_idx,
				     (unsigned)(s->nr_iov - s->iov_idx), s->off);
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_FALLOC:
		io_uring_prep_fallocate(sqe, d->fd, s->fa_mode, (off_t)s->off, (off_t)s->fa_len);
		break;
	}
	io_uring_sqe_set_data(sqe, s);
	d->to_submit++;
	return true;
}

static void blk_run(struct virtio_blk *d, struct blk_slot *s)
{
	if (!d->have_uring) {
		while (blk_finish_op(d, s, blk_exec_sync(d, s)))
			;
		return;
	}
	if (!blk_queue_sqe(d, s))
		blk_finish_op(d, s, -EAGAIN);
}

static void blk_flush_submissions(struct virtio_blk *d)
{
	while (d->have_uring && d->to_submit) {
		int r = io_uring_submit(&d->ring);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0)
			log_warn_rl("virtio-blk %s: io_uring submit: %s", d->path, strerror(-r));
		d->to_submit = 0;
	}
}

/* Start one popped chain: complete it at once or hand it to a slot.
 * false: the rate limiter holds it (nothing done; the caller gives it back
 * to the ring and the limiter's timer brings us back). */
static bool blk_start(struct virtio_blk *d, const struct vq_chain *c)
{
	struct virtio_blk_req *r = &d->req;
	struct vq *q = virtio_mmio_vq(&d->w.t, 0);
	int st = virtio_blk_req_parse(c, d->capacity, d->ro, r);
	uint64_t bytes;

	/* Firecracker's accounting: every valid request is an op, reads and
	 * writes also their bytes; a refused request costs nothing. */
	if (st == VIRTIO_BLK_S_OK) {
		bytes = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT ? r->data_len : 0;
		if (!virtio_limiter_can(&d->lim, bytes))
			return false;
		virtio_limiter_spend(&d->lim, bytes);
	}

	if (st < 0) {
		log_debug_rl("virtio-blk %s: request without a 16-byte header or a status byte; "
			     "device needs reset", d->path);
		vq_push(q, c->head, 0);
		d->pushed = true;
		d->failed = true;
		virtio_mmio_needs_reset(&d->w.t);
		return true;
	}
	if (st == VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_GET_ID) {
		uint32_t n = r->data_len < VIRTIO_BLK_ID_BYTES ? r->data_len : VIRTIO_BLK_ID_BYTES;
		uint32_t done = 0;

		for (int i = 0; i < r->nr_data && done < n; i++) {
			size_t take = r->data[i].iov_len < n - done ? r->data[i].iov_len : n - done;

			memcpy(r->data[i].iov_base, d->id + done, take);
			done += (uint32_t)take;
		}
		*r->status = VIRTIO_BLK_S_OK;
		vq_push(q, c->head, n + 1);
		d->pushed = true;
		return true;
	}
	if (st != VIRTIO_BLK_S_OK ||
	    ((r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) &&
	     r->nr_sectors == 0)) {
		*r->status = (uint8_t)st;
		vq_push(q, c->head, r->type == VIRTIO_BLK_T_IN && st == VIRTIO_BLK_S_OK ?
			r->data_len + 1 : 1);
		d->pushed = true;
		return true;
	}

	struct blk_slot *s = &d->slots[d->free_list[--d->nr_free]];

	d->inflight++;
	memset(s, 0, offsetof(struct blk_slot, iov));
	s->head = c->head;
	s->status = r->status;
	s->used_len = 1;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		s->op = r->type == VIRTIO_BLK_T_IN ? BLK_OP_RW_IN : BLK_OP_RW_OUT;
		if (r->type == VIRTIO_BLK_T_IN)
			s->used_len = r->data_len + 1;
		s->off = r->sector * VIRTIO_BLK_SECTOR;
		s->remaining = r->data_len;
		s->nr_iov = r->nr_data;
		memcpy(s->iov, r->data, sizeof(r->data[0]) * (size_t)r->nr_data);
		break;
	case VIRTIO_BLK_T_FLUSH:
		s->op = BLK_OP_FLUSH;
		break;
	default:
		s->op = BLK_OP_FALLOC;
		s->wz = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
		s->off = r->sector * VIRTIO_BLK_SECTOR;
		s->fa_len = r->nr_sectors * VIRTIO_BLK_SECTOR;
		s->fa_mode = FALLOC_FL_KEEP_SIZE |
			(s->wz && !(r->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ?
			 FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE);
		break;
	}
	blk_run(d, s);
	return true;
}

void blk_signal(struct virtio_blk *d)
{
	if (d->pushed && d->active) {
		d->pushed = false;
		if (vq_needs_interrupt(virtio_mmio_vq(&d->w.t, 0)))
			virtio_mmio_signal_used(&d->w.t);
	}
}

/* Take what the driver made available, while there is a free slot. */
static void blk_process(void *dev)
{
	struct virtio_blk *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, 0);
	bool held = false;

	if (!d->active || d->failed || !vq_enabled(q))
		return;
	for (;;) {
		vq_set_notify(q, false);
		while (d->nr_free && !d->failed) {
			int r = vq_pop(q, &d->chain);

			if (r == 0)
				break;
			if (r < 0) {
				d->failed = true;
				virtio_mmio_needs_reset(&d->w.t);
				break;
			}
			if (!blk_start(d, &d->chain)) {
				q->last_avail--;   /* not taken: the next pop gives it again */
				held = true;
				break;
			}
		}
		/* Full, or rate limited: leave notifications off; a completion
		 * or the limiter's timer resumes us. */
		if (!d->nr_free || d->failed || held)
			break;
		vq_set_notify(q, true);
		if (!vq_has_avail(q))
			break;
	}
	blk_flush_submissions(d);
	blk_signal(d);
}

static void blk_handle_cqe(struct virtio_blk *d, struct io_uring_cqe *cqe)
{
	struct blk_slot *s = io_uring_cqe_get_data(cqe);
	int res = cqe->res;

	io_uring_cqe_seen(&d->ring, cqe);
	if (s && blk_finish_op(d, s, res) && !blk_queue_sqe(d, s))
		blk_finish_op(d, s, -EAGAIN);
}

static void blk_reap(struct virtio_blk *d)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&d->ring, &cqe) == 0)
		blk_handle_cqe(d, cqe);
	blk_flush_submissions(d);
}

/* Wait for every request in flight, until deadline_ns (CLOCK_MONOTONIC;
 * 0: no deadline). 0, or -ETIMEDOUT with requests still in flight. */
static int blk_drain_until(struct virtio_blk *d, uint64_t deadline_ns)
{
	while (d->have_uring && d->inflight) {
		struct io_uring_cqe *cqe;
		struct timespec now;
		int r;

		blk_flush_submissions(d);
		if (!deadline_ns) {
			r = io_uring_wait_cqe(&d->ring, &cqe);
		} else {
			clock_gettime(CLOCK_MONOTONIC, &now);
			uint64_t t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;

			if (t >= deadline_ns)
				return -ETIMEDOUT;
			struct __kernel_timespec left = {
				.tv_sec = (long long)((deadline_ns - t) / 1000000000ull),
				.tv_nsec = (long long)((deadline_ns - t) % 1000000000ull),
			};
			r = io_uring_wait_cqe_timeout(&d->ring, &cqe, &left);
			if (r == -ETIME)
				continue;   /* the deadline check above ends it */
		}
		if (r == -EINTR)
			continue;
		if (r < 0) {
			log_err_rl("virtio-blk %s: waiting for I/O in flight: %s", d->path, strerror(-r));
			return r;
		}
		blk_handle_cqe(d, cqe);
	}
	return 0;
}

/* Wait for every request in flight (reset, teardown). */
void blk_drain(struct virtio_blk *d)
{
	blk_drain_until(d, 0);
}

/* io_uring's completion eventfd was written. */
static void blk_ring_event(void *dev)
{
	struct virtio_blk *d = dev;

	blk_reap(d);
	blk_signal(d);
	blk_process(d);
}

/* ---- transport hooks (activate and reset run on the worker: worker.h) ---- */

static int blk_activate(void *dev)
{
	struct virtio_blk *d = dev;

	d->active = true;
	d->failed = false;
	d->pushed = false;
	blk_process(d);
	return 0;
}

static void blk_reset(void *dev)
{
	struct virtio_blk *d = dev;

	d->active = false;
	blk_drain(d);
	d->failed = false;
	d->pushed = false;
}

static void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *d = dev;

	memcpy(data, (const uint8_t *)&d->config + off, len);
}

/* ---- lifecycle ---- */

int blk_open_image(const char *path, bool ro, const char *flag, bool lock, int *fd_out,
		   uint64_t *capacity, char *err, size_t errlen)
{
	char uerr[UPATH_ERR_MAX];
	struct upath_file f;
	int e;

	*fd_out = -1;
	e = upath_open(path, ro ? O_RDONLY : O_RDWR, UPATH_REG | UPATH_BLK, flag, &f, uerr,
		       sizeof(uerr));
	if (!ro && (e == -EACCES || e == -EROFS || e == -EPERM)) {
		snprintf(err, errlen, "disk image %s: %s; %s", path, uerr, strcmp(flag, "--disk") ?
			 "set is_read_only to use it read-only" : "add ,ro to use it read-only");
		return -EACCES;
	}
	if (e) {
		snprintf(err, errlen, "disk image %s: %s", path, uerr);
		return e;
	}
	if (lock && flock(f.fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		e = errno;
		close(f.fd);
		if (e == EWOULDBLOCK) {
			snprintf(err, errlen, "disk image '%s' is locked by another process (another "
				 "VM using it?); %s", path, ro ? "it is open for writing there" :
				 "share it only read-only (,ro) everywhere");
			return err_host(-EBUSY);   /* the image is fine; another process holds it */
		}
		snprintf(err, errlen, "cannot lock disk image '%s': %s", path, strerror(e));
		return err_host(-e);
	}
	*fd_out = f.fd;
	*capacity = f.size / VIRTIO_BLK_SECTOR;
	if (f.size % VIRTIO_BLK_SECTOR)
		log_debug("disk image '%s': size %llu is not a multiple of 512; the last %llu bytes "
			  "are not visible to the guest", path, (unsigned long long)f.size,
			  (unsigned long long)(f.size % VIRTIO_BLK_SECTOR));
	return 0;
}

static int blk_open(struct virtio_blk *d, const struct virtio_blk_cfg *cfg)
{
	char err[UPATH_ERR_MAX + 256];
	int e = blk_open_image(cfg->path, cfg->read_only, cfg->flag ? cfg->flag : "--disk",
			       !cfg->defer_lock, &d->fd, &d->capacity, err, sizeof(err));

	if (e)
		log_err("%s", err);
	return e;
}

static void blk_init_uring(struct virtio_blk *d)
{
	int r = io_uring_queue_init(BLK_DEPTH, &d->ring, 0);

	if (r < 0) {
		log_debug("virtio-blk %s: io_uring unavailable (%s); synchronous I/O on the worker",
			  d->path, strerror(-r));
		return;
	}
	d->ring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->ring_efd < 0 || (r = io_uring_register_eventfd(&d->ring, d->ring_efd)) < 0) {
		log_debug("virtio-blk %s: io_uring eventfd unavailable; synchronous I/O on the worker",
			  d->path);
		if (d->ring_efd >= 0)
			close(d->ring_efd);
		d->ring_efd = -1;
		io_uring_queue_exit(&d->ring);
		return;
	}
	d->have_uring = true;
}

static void blk_set_id(struct virtio_blk *d, const struct virtio_blk_cfg *cfg)
{
	const char *id = cfg->id;

	if (!id) {
		id = strrchr(cfg->path, '/');
		id = id && id[1] ? id + 1 : cfg->path;
	}
	/* Zero-padded; exactly 20 bytes carries no NUL (spec 5.2.6). */
	memcpy(d->id, id, strnlen(id, sizeof(d->id)));
}

static void blk_fill_config(struct virtio_blk *d)
{
	struct virtio_blk_config *c = &d->config;
	uint64_t f = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) |
		     VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);

	_Static_assert(VIRTIO_BLK_SEG_MAX == VQ_CHAIN_MAX - 2, "header and status take two segments");
	memset(c, 0, sizeof(*c));
	c->capacity = d->capacity;
	c->seg_max = VIRTIO_BLK_SEG_MAX;
	c->size_max = VIRTIO_BLK_SIZE_MAX;
	c->blk_size = VIRTIO_BLK_SECTOR;
	c->num_queues = 1;
	if (d->ro) {
		f |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	} else {
		f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
		c->max_discard_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
		c->max_discard_seg = 1;
		c->discard_sector_alignment = VIRTIO_BLK_DISCARD_ALIGN;
		c->max_write_zeroes_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
		c->max_write_zeroes_seg = 1;
		c->write_zeroes_may_unmap = 1;
	}
	d->ops = (struct virtio_dev_ops){
		.name = "virtio-blk",
		.device_id = VIRTIO_ID_BLOCK,
		.features = f,
		.nr_queues = 1,
		.queue_max = VIRTIO_BLK_QUEUE_MAX,
		.config_size = sizeof(*c),
		.config_read = blk_config_read,
		.config_write = NULL,
		.activate = blk_activate,
		.reset = blk_reset,
	};
}

int virtio_blk_create(struct virtio_blk **out, const struct virtio_blk_cfg *cfg,
		      const struct gmem *mem)
{
	struct virtio_blk *d;
	int r;

	*out = NULL;
	if (!cfg || !cfg->path || !*cfg->path) {
		log_err("virtio-blk: no disk image path given");
		return -EINVAL;
	}
	if (cfg->id && strlen(cfg->id) > VIRTIO_BLK_ID_BYTES) {
		log_err("disk image '%s': id '%s' is longer than %d bytes", cfg->path, cfg->id,
			VIRTIO_BLK_ID_BYTES);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_host(-ENOMEM);
	d->fd = -1;
	d->ring_efd = -1;
	d->lim.tfd = -1;
	d->swap_fd = -1;
	d->mem = mem;
	d->ro = cfg->read_only;
	d->path = strdup(cfg->path);
	d->slots = calloc(BLK_DEPTH, sizeof(*d->slots));
	if (!d->path || !d->slots) {
		r = err_host(-ENOMEM);
		goto fail;
	}
	for (unsigned i = 0; i < BLK_DEPTH; i++)
		d->free_list[i] = (uint16_t)(BLK_DEPTH - 1 - i);
	d->nr_free = BLK_DEPTH;
	r = blk_open(d, cfg);
	if (r < 0)
		goto fail;
	blk_set_id(d, cfg);
	blk_fill_config(d);
	blk_init_uring(d);
	if ((r = virtio_limiter_init(&d->lim, cfg->rate_limiter)))
		goto fail;
	*out = d;
	return 0;
fail:
	virtio_blk_destroy(d);
	return r;
}

static const virtio_worker_fn blk_kicks[] = { blk_process };

int virtio_blk_attach(struct virtio_blk *d, const struct virtio_env *env,
		      uint64_t base, uint32_t gsi)
{
	int r;

	r = virtio_worker_init(&d->w, "mvm-blk", d->path, d);
	if (r < 0) {
		log_err("virtio-blk %s: cannot create its worker: %s", d->path, strerror(-r));
		return r;
	}
	d->w.loop.sandbox = SANDBOX_BLK;
	if (d->have_uring && (r = virtio_worker_watch(&d->w, d->ring_efd, blk_ring_event)))
		return r;
	if ((r = virtio_limiter_watch(&d->lim, &d->w, blk_process)))
		return r;
	return virtio_worker_attach(&d->w, env, base, gsi, &d->ops, blk_kicks);
}

struct evloop *virtio_blk_loop(struct virtio_blk *d)
{
	return d ? &d->w.loop : NULL;
}

void virtio_blk_destroy(struct virtio_blk *d)
{
	if (!d)
		return;
	/* Worker stopped and transport detached (its reset ran here): what
	 * is still in flight completes before the file is closed. */
	virtio_worker_quiesce(&d->w);
	d->active = false;
	blk_drain(d);
	virtio_worker_release(&d->w);
	if (d->have_uring)
		io_uring_queue_exit(&d->ring);
	if (d->ring_efd >= 0)
		close(d->ring_efd);
	if (d->fd >= 0)
		close(d->fd);
	virtio_limiter_close(&d->lim);
	free(d->slots);
	free(d->path);
	free(d);
}

uint64_t virtio_blk_capacity(const struct virtio_blk *d)
{
	return d->capacity;
}

struct virtio_mmio *virtio_blk_transport(struct virtio_blk *d)
{
	return &d->w.t;
}

int virtio_blk_lock(struct virtio_blk *d, bool lock)
{
	int op = !lock ? LOCK_UN : (d->ro ? LOCK_SH : LOCK_EX) | LOCK_NB;

	if (flock(d->fd, op) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

int virtio_blk_sync(struct virtio_blk *d)
{
	return d->ro || fdatasync(d->fd) == 0 ? 0 : -errno;
}

const char *virtio_blk_path(const struct virtio_blk *d)
{
	return d->path;
}

bool virtio_blk_uses_io_uring(const struct virtio_blk *d)
{
	return d->have_uring;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int blk_kind_count(const struct vm_config *cfg)
{
	return cfg->nr_disks;
}

static int blk_kind_create(void **dev, const struct vm_config *cfg, int index,
			   const struct device_env *env)
{
	const struct vm_disk_cfg *disk = &cfg->disks[index];
	struct virtio_blk_cfg bc = { .path = disk->path, .read_only = disk->read_only, .id = disk->id,
				     .defer_lock = cfg->disk_locks_deferred,
				     .rate_limiter = &disk->rate_limiter };
	char flag[96];

	/* From a config file or the API: name the field, not a flag never given. */
	if (disk->drive_id) {
		snprintf(flag, sizeof(flag), "path_on_host of drive '%s'", disk->drive_id);
		bc.flag = flag;
	}

	return virtio_blk_create((struct virtio_blk **)dev, &bc, env->mem);
}

static int blk_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct virtio_env venv = virtio_env_of(env);

	return virtio_blk_attach(dev, &venv, base, gsi);
}

/* On the parked worker: every request in flight completes, its status and
 * used entry are pushed and the guest is signalled, by the deadline; then
 * nothing of this device touches guest memory until resume. */
static void blk_quiesce_drain(void *dev)
{
	struct virtio_blk *d = dev;

	d->drain_ret = blk_drain_until(d, d->drain_deadline_ns);
	blk_signal(d);
}

static int blk_kind_quiesce(void *dev, int timeout_ms)
{
	struct virtio_blk *d = dev;
	struct timespec now;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d->drain_deadline_ns = timeout_ms < 0 ? 0 :
		(uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec +
		(uint64_t)timeout_ms * 1000000ull;
	if ((ret = evloop_pause_timed(&d->w.loop, timeout_ms)))
		return ret;
	virtio_worker_run(&d->w, blk_quiesce_drain);
	if (d->drain_ret)
		evloop_resume(&d->w.loop);   /* the caller gives up on this pause */
	return d->drain_ret;
}

static void blk_kind_resume(void *dev)
{
	evloop_resume(virtio_blk_loop(dev));
}

static int blk_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct virtio_blk_state) ? virtio_blk_save(dev, state) : -EINVAL;
}

static int blk_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct virtio_blk_state) ? virtio_blk_restore(dev, state) : -EINVAL;
}

static void blk_kind_destroy(void *dev)
{
	virtio_blk_destroy(dev);
}

const struct device_kind virtio_blk_kind = {
	.name = "virtio-blk",
	.short_name = "blk",
	.virtio_id = VIRTIO_ID_BLOCK,
	.count = blk_kind_count,
	.create = blk_kind_create,
	.attach = blk_kind_attach,
	.quiesce = blk_kind_quiesce,
	.resume = blk_kind_resume,
	.state_size = sizeof(struct virtio_blk_state),
	.state_version = VIRTIO_BLK_STATE_VERSION,
	.save = blk_kind_save,
	.restore = blk_kind_restore,
	.destroy = blk_kind_destroy,
};
