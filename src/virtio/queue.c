/* queue.c - the split virtqueue: checked ring setup, chain walking into host
 * iovecs, used-ring updates and notification suppression (virtio 1.2, 2.7). */
#include "virtio/queue.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

/* Byte offsets inside the rings (spec 2.7.6, 2.7.8). The host pointers are
 * resolved once in vq_enable(); these offsets only index host memory that
 * gmem_ptr() already vouched for, never guest addresses. */
#define VQ_AVAIL_IDX_OFF 2
#define VQ_USED_IDX_OFF  2

/* The ring sizes checked at enable time, event words included. */
static uint64_t vq_desc_bytes(uint16_t size)  { return 16ULL * size; }
static uint64_t vq_avail_bytes(uint16_t size) { return 6ULL + 2ULL * size; }
static uint64_t vq_used_bytes(uint16_t size)  { return 6ULL + 8ULL * size; }

/* The idx words are 2-byte aligned (vq_enable() checked the ring bases and
 * the host mapping keeps guest alignment), so the atomics are well defined;
 * going through a byte offset avoids taking the address of a packed member. */
static uint16_t *vq_avail_idx_ptr(const struct vq *q)
{
	return (uint16_t *)((uint8_t *)q->avail + VQ_AVAIL_IDX_OFF);
}

static uint16_t *vq_used_idx_ptr(const struct vq *q)
{
	return (uint16_t *)((uint8_t *)q->used + VQ_USED_IDX_OFF);
}

static uint16_t vq_load_avail_idx(const struct vq *q)
{
	return __atomic_load_n(vq_avail_idx_ptr(q), __ATOMIC_ACQUIRE);
}

int vq_enable(struct vq *q, const struct gmem *mem, uint16_t size,
	      uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	      bool event_idx, bool indirect)
{
	void *desc, *avail, *used;

	memset(q, 0, sizeof(*q));
	if (size == 0 || size > VQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	/* Alignment from spec 2.7 (table 16, avail 2, used 4). */
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return -EINVAL;
	desc = gmem_ptr(mem, desc_gpa, vq_desc_bytes(size));
	avail = gmem_ptr(mem, avail_gpa, vq_avail_bytes(size));
	used = gmem_ptr(mem, used_gpa, vq_used_bytes(size));
	if (!desc || !avail || !used)
		return -EINVAL;

	q->mem = mem;
	q->size = size;
	q->desc_gpa = desc_gpa;
	q->avail_gpa = avail_gpa;
	q->used_gpa = used_gpa;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	/* used_event follows avail->ring[size], avail_event used->ring[size]. */
	q->used_event = (volatile uint16_t *)((uint8_t *)avail + 4 + 2ULL * size);
	q->avail_event = (volatile uint16_t *)((uint8_t *)used + 4 + 8ULL * size);
	/* The driver zeroed the rings before QueueReady; our shadows start
	 * there too, and no interrupt has been sent yet. */
	return 0;
}

void vq_disable(struct vq *q)
{
	memset(q, 0, sizeof(*q));
}

bool vq_enabled(const struct vq *q)
{
	return q->size != 0;
}

/* State of one chain walk: the iovecs filled so far and the running sums. */
struct vq_walk {
	struct vq *q;
	struct vq_chain *c;
	uint64_t out_len, in_len;
	const char *why;     /* for the one warning a broken queue prints */
	uint64_t why_val;
};

static int vq_walk_fail(struct vq_walk *w, const char *why, uint64_t val)
{
	w->why = why;
	w->why_val = val;
	return -EIO;
}

/* Copy one descriptor out of guest memory: every check below runs on this
 * copy, so a driver rewriting the table concurrently cannot slip a new
 * address or length past them. */
static void vq_read_desc(const volatile struct virtq_desc *src, struct virtq_desc *d)
{
	d->addr = src->addr;
	d->len = src->len;
	d->flags = src->flags;
	d->next = src->next;
}

/* Append the buffer of a plain (non-indirect) descriptor to the chain. A
 * zero-length descriptor yields an iovec of length 0 whose address must
 * still be RAM (gmem_ptr treats len 0 as 1): devices then never see a host
 * pointer outside guest memory, and every descriptor counts as a segment,
 * which is what bounds any walk to VQ_CHAIN_MAX steps. */
static int vq_add_segment(struct vq_walk *w, const struct virtq_desc *d)
{
	struct vq_chain *c = w->c;
	unsigned int n = (unsigned int)c->nr_out + c->nr_in;
	void *p;

	if (n >= VQ_CHAIN_MAX)
		return vq_walk_fail(w, "chain has more segments than the limit", VQ_CHAIN_MAX);
	/* gmem_ptr() checks addr + len for overflow and for one region. */
	p = gmem_ptr(w->q->mem, d->addr, d->len);
	if (!p)
		return vq_walk_fail(w, "buffer is not in guest RAM at address", d->addr);
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		/* The device may write it: a Diff snapshot must carry it. */
		gmem_mark_dirty(w->q->mem, d->addr, d->len);
		w->in_len += d->len;
		if (w->in_len > UINT32_MAX)
			return vq_walk_fail(w, "writable length overflows 32 bits", w->in_len);
		c->nr_in++;
	} else {
		if (c->nr_in)
			return vq_walk_fail(w, "readable descriptor after a writable one, index", n);
		w->out_len += d->len;
		if (w->out_len > UINT32_MAX)
			return vq_walk_fail(w, "readable length overflows 32 bits", w->out_len);
		c->nr_out++;
	}
	c->iov[n].iov_base = p;
	c->iov[n].iov_len = d->len;
	return 0;
}

/* Walk a descriptor table of nr entries from index first. The direct table
 * (in_indirect false) may end in one indirect descriptor, whose table is
 * walked the same way. A table is visited at most nr times: a chain that
 * would revisit an entry is a loop and fails. */
static int vq_walk_table(struct vq_walk *w, const volatile struct virtq_desc *table,
			 uint32_t nr, uint16_t first, bool in_indirect)
{
	uint32_t idx = first, visits = 0;
	struct virtq_desc d;
	int r;

	for (;;) {
		if (idx >= nr)
			return vq_walk_fail(w, "descriptor index out of range", idx);
		if (++visits > nr)
			return vq_walk_fail(w, "descriptor chain loops, table entries", nr);
		vq_read_desc(&table[idx], &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			const volatile struct virtq_desc *sub;

			if (in_indirect)
				return vq_walk_fail(w, "indirect descriptor inside an indirect table, index", idx);
			if (!w->q->indirect)
				return vq_walk_fail(w, "indirect descriptor without VIRTIO_F_INDIRECT_DESC, index", idx);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return vq_walk_fail(w, "descriptor has both INDIRECT and NEXT, index", idx);
			if (d.len == 0 || d.len % sizeof(struct virtq_desc))
				return vq_walk_fail(w, "indirect table length is not a non-zero multiple of 16", d.len);
			sub = gmem_ptr(w->q->mem, d.addr, d.len);
			if (!sub)
				return vq_walk_fail(w, "indirect table is not in guest RAM at address", d.addr);
			/* WRITE on the indirect descriptor itself is ignored (spec 2.7.5.3.2). */
			return vq_walk_table(w, sub, d.len / sizeof(struct virtq_desc), 0, true);
		}
		r = vq_add_segment(w, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

/* Mark the queue broken and say why once: further pops fail silently until
 * the driver resets the device. */
static int vq_break(struct vq *q, struct vq_chain *c, const char *why, uint64_t val)
{
	q->broken = true;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	log_warn_rl("virtqueue: driver error, %s %llu (%#llx); queue stopped until device reset",
		    why, (unsigned long long)val, (unsigned long long)val);
	return -EIO;
}

int vq_pop(struct vq *q, struct vq_chain *c)
{
	struct vq_walk w = { .q = q, .c = c };
	uint16_t avail_idx, pending, head;
	int r;

	if (!q->size)
		return 0;
	if (q->broken)
		return -EIO;
	/* Acquire: the ring entries below are read after the idx that
	 * published them. */
	avail_idx = vq_load_avail_idx(q);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return vq_break(q, c, "avail index runs ahead of the queue by", pending);

	head = q->avail->ring[q->last_avail & (q->size - 1)];
	q->last_avail++;

	c->head = head;
	c->nr_out = c->nr_in = 0;
	if (head >= q->size)
		return vq_break(q, c, "avail ring head index out of range", head);
	r = vq_walk_table(&w, q->desc, q->size, head, false);
	if (r)
		return vq_break(q, c, w.why, w.why_val);
	c->out_len = (uint32_t)w.out_len;
	c->in_len = (uint32_t)w.in_len;
	return 1;
}

void vq_push(struct vq *q, uint16_t head, uint32_t len)
{
	volatile struct virtq_used_elem *e;

	if (!q->size)
		return;
	gmem_mark_dirty(q->mem, q->used_gpa, vq_used_bytes(q->size));
	e = &q->used->ring[q->used_idx & (q->size - 1)];
	e->id = head;
	e->len = len;
	q->used_idx++;
	/* Release: the element is visible before the idx that publishes it. */
	__atomic_store_n(vq_used_idx_ptr(q), q->used_idx, __ATOMIC_RELEASE);
}

bool vq_needs_interrupt(struct vq *q)
{
	uint16_t old, new_idx;
	bool valid;

	if (!q->size)
		return false;
	/* Full fence: our used->idx store must be ordered before we read the
	 * driver's flags/used_event, or both sides can miss each other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(q->avail->flags & VIRTQ_AVAIL_F_NO_INTERRUPT);

	/* Each call covers the used entries added since the previous call:
	 * interrupt when the driver's used_event lies in (old, new]. */
	valid = q->signalled_used_valid;
	old = q->signalled_used;
	new_idx = q->used_idx;
	q->signalled_used = new_idx;
	q->signalled_used_valid = true;
	if (!valid)
		return true;
	return vq_need_event(*q->used_event, new_idx, old);
}

void vq_set_notify(struct vq *q, bool enable)
{
	if (!q->size)
		return;
	gmem_mark_dirty(q->mem, q->used_gpa, vq_used_bytes(q->size));
	if (q->event_idx) {
		/* The driver ignores the NO_NOTIFY flag under EVENT_IDX. To
		 * disable we leave avail_event where it is: the driver kicks at
		 * most once more, when avail->idx passes the old value. */
		if (enable)
			*q->avail_event = q->last_avail;
	} else if (enable) {
		q->used->flags = q->used->flags & ~VIRTQ_USED_F_NO_NOTIFY;
	} else {
		q->used->flags = q->used->flags | VIRTQ_USED_F_NO_NOTIFY;
	}
	/* Make the request visible before the caller re-reads avail->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool vq_has_avail(const struct vq *q)
{
	if (!q->size || q->broken)
		return false;
	return vq_load_avail_idx(q) != q->last_avail;
}

int vq_save(const struct vq *q, struct vq_state *s)
{
	memset(s, 0, sizeof(*s));
	if (!q->size)
		return 0;
	s->desc_gpa = q->desc_gpa;
	s->avail_gpa = q->avail_gpa;
	s->used_gpa = q->used_gpa;
	s->size = q->size;
	s->last_avail = q->last_avail;
	s->used_idx = q->used_idx;
	s->signalled_used = q->signalled_used;
	s->event_idx = q->event_idx;
	s->indirect = q->indirect;
	s->signalled_used_valid = q->signalled_used_valid;
	s->broken = q->broken;
	return 0;
}

static int vq_refuse(const char *field, unsigned long long val)
{
	log_err("virtqueue state: %s = %llu (%#llx) is not valid; state refused", field, val, val);
	return -EINVAL;
}

int vq_restore(struct vq *q, const struct gmem *mem, const struct vq_state *s)
{
	static const uint8_t zero[sizeof(s->pad)];
	int r;

	vq_disable(q);
	if (memcmp(s->pad, zero, sizeof(zero)))
		return vq_refuse("pad", 1);
	if (s->event_idx > 1)
		return vq_refuse("event_idx", s->event_idx);
	if (s->indirect > 1)
		return vq_refuse("indirect", s->indirect);
	if (s->broken > 1)
		return vq_refuse("broken", s->broken);
	if (s->signalled_used_valid > 1)
		return vq_refuse("signalled_used_valid", s->signalled_used_valid);
	if (!s->signalled_used_valid && s->signalled_used)
		return vq_refuse("signalled_used (without signalled_used_valid)", s->signalled_used);
	if (!s->size) {
		/* A disabled queue remembers nothing: anything else is corrupt. */
		if (s->desc_gpa || s->avail_gpa || s->used_gpa || s->last_avail || s->used_idx ||
		    s->event_idx || s->indirect || s->broken || s->signalled_used_valid)
			return vq_refuse("size (0, but other fields are set)", 0);
		return 0;
	}
	/* In flight: taken from avail, not yet returned in used. */
	if ((uint16_t)(s->last_avail - s->used_idx) > s->size)
		return vq_refuse("last_avail (more chains in flight than the queue size)",
				 s->last_avail);
	/* The checks a driver's QueueReady goes through. */
	r = vq_enable(q, mem, s->size, s->desc_gpa, s->avail_gpa, s->used_gpa,
		      s->event_idx, s->indirect);
	if (r) {
		log_err("virtqueue state: size %u or ring addresses desc %#llx avail %#llx used %#llx "
			"are not a valid queue in guest RAM; state refused", s->size,
			(unsigned long long)s->desc_gpa, (unsigned long long)s->avail_gpa,
			(unsigned long long)s->used_gpa);
		return r;
	}
	q->last_avail = s->last_avail;
	q->used_idx = s->used_idx;
	q->signalled_used = s->signalled_used;
	q->signalled_used_valid = s->signalled_used_valid;
	q->broken = s->broken;
	return 0;
}
