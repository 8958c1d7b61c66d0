/* fuzz_common.h - what the libFuzzer targets over mvm's modules share: a
 * guest RAM fenced by inaccessible guard pages, the "is this host pointer
 * guest RAM" check every contract needs, a byte reader, and a virtqueue
 * built from the fuzzer's bytes.
 *
 * Guest RAM here is one region at gpa 0 of a chosen size, mapped with a
 * PROT_NONE page on each side: any access just outside RAM faults at once
 * (libFuzzer reports the SEGV and keeps the input), where a plain gmem
 * would silently reach whatever mapping comes next. The struct gmem is the
 * one core/memory.h defines, so gmem_ptr() and every module use it as is.
 */
#ifndef MVM_TESTS_FUZZ_COMMON_H
#define MVM_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/memory.h"
#include "util/log.h"
#include "virtio/queue.h"

#define FZ_PAGE 4096ULL

/* A broken invariant: say which, then abort so libFuzzer keeps the input. */
#define FZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz contract broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static void fz_quiet(enum log_level level, const char *msg, void *ctx) { }

/* Logs off: a target prints only what libFuzzer says. FZ_LOG=1 in the
 * environment keeps mvm's messages (to see why a seed is refused). */
static inline void fz_logs_off(void)
{
	if (!getenv("FZ_LOG"))
		log_set_sink(fz_quiet, NULL);
}

/* Guest RAM of size bytes (a multiple of 4 KiB) between two guard pages. */
static inline void fz_gmem_init(struct gmem *m, uint64_t size)
{
	uint8_t *p = mmap(NULL, size + 2 * FZ_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	FZ_CHECK(p != MAP_FAILED);
	FZ_CHECK(mprotect(p + FZ_PAGE, size, PROT_READ | PROT_WRITE) == 0);
	memset(m, 0, sizeof(*m));
	m->ram_size = size;
	m->base = p + FZ_PAGE;
	m->regions[0] = (struct gmem_region){ .gpa = 0, .size = size, .host = m->base };
	m->nr_regions = 1;
}

/* Give RAM back to zeroes (the kernel drops the pages: cheap). */
static inline void fz_gmem_zero(struct gmem *m)
{
	FZ_CHECK(madvise(m->base, m->ram_size, MADV_DONTNEED) == 0);
}

/* Is [p, p+len) inside guest RAM? (len 0: p itself must be RAM.) */
static inline bool fz_in_ram(const struct gmem *m, const void *p, uint64_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)m->base;

	if (a < b || a - b >= m->ram_size)
		return false;
	return len <= m->ram_size - (a - b);
}

/* The gpa of a host pointer that fz_in_ram() accepted. */
static inline uint64_t fz_gpa(const struct gmem *m, const void *p)
{
	return (uint64_t)((const uint8_t *)p - m->base);
}

/* ---- reading the fuzzer's bytes: past the end everything is 0 ---- */

struct fz_in {
	const uint8_t *p;
	size_t len, off;
};

static inline uint8_t fz_u8(struct fz_in *in)
{
	return in->off < in->len ? in->p[in->off++] : 0;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	return (uint16_t)(fz_u8(in) | fz_u8(in) << 8);
}

static inline uint32_t fz_u32(struct fz_in *in)
{
	return (uint32_t)fz_u16(in) | (uint32_t)fz_u16(in) << 16;
}

static inline uint64_t fz_u64(struct fz_in *in)
{
	return (uint64_t)fz_u32(in) | (uint64_t)fz_u32(in) << 32;
}

/* Copy up to n bytes into dst, zero the rest of dst[0..n). */
static inline void fz_bytes(struct fz_in *in, void *dst, size_t n)
{
	size_t have = in->len - in->off < n ? in->len - in->off : n;

	memcpy(dst, in->p + in->off, have);
	memset((uint8_t *)dst + have, 0, n - have);
	in->off += have;
}

/* ---- a virtqueue whose rings are the fuzzer's bytes ----
 *
 * Guest layout (FZ_VQ_RAM bytes of RAM): the descriptor table, avail ring
 * and used ring at fixed addresses, and a 64 KiB "payload" area that ends
 * exactly at the end of RAM (indirect tables, request headers, frames).
 * Input: an 8-byte header, then the descriptor table (16 * size bytes),
 * the avail ring entries plus used_event (2 * size + 2), then the payload.
 * Header: size = 1 << (b0 % 11); b1 flags (FZ_VQ_F_*); the index the
 * queue starts at (b2..3, through vq_restore, so index wrap is reachable);
 * how many chains the driver publishes (b4..5, raw: may run ahead).
 * With FZ_VQ_F_FOLD, every descriptor's address (in the table and in the
 * payload read as descriptors) is folded into the payload area and its
 * length below 8 KiB, so most buffers are RAM and many cross its end;
 * without it addresses are taken raw (the fuzzer finds the edges). */
#define FZ_VQ_RAM      (1ULL << 20)
#define FZ_VQ_DESC     0x10000ULL
#define FZ_VQ_AVAIL    0x14000ULL
#define FZ_VQ_USED     0x18000ULL
#define FZ_VQ_PAYLOAD  (FZ_VQ_RAM - 0x10000ULL)
#define FZ_VQ_HDR      8

#define FZ_VQ_F_EVENT_IDX  0x01
#define FZ_VQ_F_INDIRECT   0x02
#define FZ_VQ_F_FOLD       0x04
#define FZ_VQ_F_NO_INTR    0x08

struct fz_vq {
	struct gmem m;
	struct vq q;
	uint16_t size, start, published;
	uint8_t flags;
	int ok;                /* vq_restore accepted the queue */
};

static inline void fz_fold_descs(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 16 <= n; i += 16) {
		struct virtq_desc d;

		memcpy(&d, p + i, sizeof(d));
		d.addr = FZ_VQ_PAYLOAD + d.addr % 0x10000;
		d.len %= 0x2000;
		memcpy(p + i, &d, sizeof(d));
	}
}

/* Build the rings from in (RAM must be zero outside what we write: the
 * caller zeroes it between inputs) and enable the queue. */
static inline void fz_vq_build(struct fz_vq *v, struct fz_in *in)
{
	uint8_t *ram = v->m.base;
	uint16_t *avail;
	struct vq_state st;

	v->size = (uint16_t)(1u << (fz_u8(in) % 11));
	v->flags = fz_u8(in);
	v->start = fz_u16(in);
	v->published = fz_u16(in);
	fz_u16(in);   /* reserved */

	fz_bytes(in, ram + FZ_VQ_DESC, 16ULL * v->size);
	avail = (uint16_t *)(ram + FZ_VQ_AVAIL);
	fz_bytes(in, avail + 2, 2ULL * v->size + 2);
	fz_bytes(in, ram + FZ_VQ_PAYLOAD, 0x10000);
	if (v->flags & FZ_VQ_F_FOLD) {
		fz_fold_descs(ram + FZ_VQ_DESC, 16ULL * v->size);
		fz_fold_descs(ram + FZ_VQ_PAYLOAD, 0x10000);
	}
	avail[0] = v->flags & FZ_VQ_F_NO_INTR ? VIRTQ_AVAIL_F_NO_INTERRUPT : 0;
	avail[1] = (uint16_t)(v->start + v->published);
	*(uint16_t *)(ram + FZ_VQ_USED + 2) = v->start;

	memset(&st, 0, sizeof(st));
	st.desc_gpa = FZ_VQ_DESC;
	st.avail_gpa = FZ_VQ_AVAIL;
	st.used_gpa = FZ_VQ_USED;
	st.size = v->size;
	st.last_avail = st.used_idx = v->start;
	st.event_idx = !!(v->flags & FZ_VQ_F_EVENT_IDX);
	st.indirect = !!(v->flags & FZ_VQ_F_INDIRECT);
	v->ok = vq_restore(&v->q, &v->m, &st) == 0;
}

/* Zero what fz_vq_build wrote (rings and payload). */
static inline void fz_vq_clear(struct fz_vq *v)
{
	vq_disable(&v->q);
	memset(v->m.base + FZ_VQ_DESC, 0, 0x10000);
	memset(v->m.base + FZ_VQ_PAYLOAD, 0, 0x10000);
}

/* What the rules in virtio/queue.h say a pop must give, computed apart from
 * queue.c by a plain walk over guest RAM. */
struct fz_seg {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

struct fz_expect {
	int ret;                 /* 1 or -EIO */
	uint16_t head;
	int n;
	struct fz_seg seg[VQ_CHAIN_MAX];
};

static inline bool fz_gpa_ok(uint64_t gpa, uint64_t len, uint64_t ram)
{
	if (len == 0)
		len = 1;
	return gpa < ram && len <= ram - gpa;
}

/* One table of nr entries at host address t, from index first; ind: this is
 * an indirect table. 0 or -EIO. */
static inline int fz_ref_table(const struct fz_vq *v, struct fz_expect *e, uint64_t *out_len,
			       uint64_t *in_len, const uint8_t *t, uint32_t nr, uint32_t first, bool ind)
{
	uint32_t idx = first;

	for (uint32_t visits = 1;; visits++) {
		struct virtq_desc d;

		if (idx >= nr || visits > nr)
			return -EIO;
		memcpy(&d, t + 16ULL * idx, sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (ind || !(v->flags & FZ_VQ_F_INDIRECT) || (d.flags & VIRTQ_DESC_F_NEXT) ||
			    d.len == 0 || d.len % 16 || !fz_gpa_ok(d.addr, d.len, v->m.ram_size))
				return -EIO;
			return fz_ref_table(v, e, out_len, in_len, v->m.base + d.addr, d.len / 16, 0, true);
		}
		if (e->n >= VQ_CHAIN_MAX || !fz_gpa_ok(d.addr, d.len, v->m.ram_size))
			return -EIO;
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			*in_len += d.len;
			if (*in_len > UINT32_MAX)
				return -EIO;
		} else {
			if (e->n && e->seg[e->n - 1].writable)
				return -EIO;
			*out_len += d.len;
			if (*out_len > UINT32_MAX)
				return -EIO;
		}
		e->seg[e->n++] = (struct fz_seg){ d.addr, d.len, !!(d.flags & VIRTQ_DESC_F_WRITE) };
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

/* The expected result of popping avail entry number k (counting from start). */
static inline void fz_ref_pop(const struct fz_vq *v, uint16_t k, struct fz_expect *e)
{
	const uint16_t *ring = (const uint16_t *)(v->m.base + FZ_VQ_AVAIL + 4);
	uint64_t out_len = 0, in_len = 0;

	e->n = 0;
	e->head = ring[(uint16_t)(v->start + k) & (v->size - 1)];
	if (v->published > v->size || e->head >= v->size) {
		e->ret = -EIO;
		return;
	}
	e->ret = fz_ref_table(v, e, &out_len, &in_len, v->m.base + FZ_VQ_DESC, v->size, e->head,
			      false) ? -EIO : 1;
}

/* Check a chain vq_pop() gave against the walk; abort on any difference. */
static inline void fz_check_chain(const struct fz_vq *v, const struct fz_expect *e,
				  const struct vq_chain *c)
{
	uint64_t out = 0, in = 0;

	FZ_CHECK(c->head == e->head && c->head < v->size);
	FZ_CHECK(c->nr_out + c->nr_in == e->n && e->n >= 1 && e->n <= VQ_CHAIN_MAX);
	for (int i = 0; i < e->n; i++) {
		const struct iovec *io = &c->iov[i];

		/* The one promise everything else rests on. */
		FZ_CHECK(fz_in_ram(&v->m, io->iov_base, io->iov_len ? io->iov_len : 1));
		FZ_CHECK(fz_gpa(&v->m, io->iov_base) == e->seg[i].gpa && io->iov_len == e->seg[i].len);
		FZ_CHECK(e->seg[i].writable == (i >= c->nr_out));
		if (i < c->nr_out)
			out += io->iov_len;
		else
			in += io->iov_len;
	}
	FZ_CHECK(out == c->out_len && in == c->in_len);
}

#endif
