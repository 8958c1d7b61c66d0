/* test_virtio_net.c - virtio-net through the mmio transport with a fake
 * backend: tx header handling, drops, EAGAIN hold, rx across merged
 * buffers, rx backlog until a kick, offloads; and a real tap when root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "net/backend.h"
#include "net/tap.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/net.h"
#include "virtio_fake_driver.h"

static void quiet(enum log_level l, const char *m, void *c) { }

/* ---- a fake backend: records what it is sent, injects what we say ---- */

#define FB_MAX 32

struct fake_be {
	struct net_backend be;
	pthread_mutex_t lock;
	uint8_t *sent[FB_MAX];
	size_t sent_len[FB_MAX];
	int nsent;
	bool full;          /* send returns -EAGAIN */
	bool paused;
	unsigned offload;
	int offload_calls;
	bool closed;
};

static int fb_start(struct net_backend *be, struct evloop *l) { return 0; }
static void fb_stop(struct net_backend *be) { }

static int fb_send(struct net_backend *be, const struct iovec *iov, int n)
{
	struct fake_be *f = (struct fake_be *)be;
	size_t len = 0;
	int r = 0;

	pthread_mutex_lock(&f->lock);
	if (f->full) {
		r = -EAGAIN;
	} else if (f->nsent < FB_MAX) {
		for (int i = 0; i < n; i++)
			len += iov[i].iov_len;
		uint8_t *p = malloc(len), *q = p;
		for (int i = 0; i < n; i++) {
			memcpy(q, iov[i].iov_base, iov[i].iov_len);
			q += iov[i].iov_len;
		}
		f->sent[f->nsent] = p;
		f->sent_len[f->nsent++] = len;
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

static void fb_pause(struct net_backend *be, bool p)
{
	struct fake_be *f = (struct fake_be *)be;

	__atomic_store_n(&f->paused, p, __ATOMIC_SEQ_CST);
}

static int fb_offload(struct net_backend *be, unsigned o)
{
	struct fake_be *f = (struct fake_be *)be;

	f->offload = o;
	f->offload_calls++;
	return 0;
}

static void fb_close(struct net_backend *be)
{
	struct fake_be *f = (struct fake_be *)be;

	f->closed = true;   /* freed by the rig, which still reads it */
}

static const struct net_backend_ops fb_ops = {
	.start = fb_start, .stop = fb_stop, .send = fb_send,
	.set_rx_paused = fb_pause, .set_offload = fb_offload, .close = fb_close,
};

struct inject {
	struct fake_be *f;
	const uint8_t *p;
	size_t len;
};

static void do_inject(void *arg)
{
	struct inject *i = arg;

	i->f->be.rx(i->f->be.opaque, i->p, i->len);
}

static void fb_inject(struct fake_be *f, const uint8_t *p, size_t len)
{
	struct inject i = { f, p, len };

	evloop_run_sync(f->be.loop, do_inject, &i);
}

static void do_writable(void *arg)
{
	struct fake_be *f = arg;

	f->be.writable(f->be.opaque);
}

static int fb_count(struct fake_be *f)
{
	pthread_mutex_lock(&f->lock);
	int n = f->nsent;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* ---- rig ---- */

struct rig {
	struct fake_driver f;
	struct virtio_net *d;
	struct fake_be fb;
};

static const uint8_t the_mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };

static struct rig *rig_new(bool vnet_hdr)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(fd_setup(&r->f), 0);
	pthread_mutex_init(&r->fb.lock, NULL);
	r->fb.be.ops = &fb_ops;
	r->fb.be.name = "fake";
	r->fb.be.vnet_hdr = vnet_hdr;
	r->fb.be.offload_caps = vnet_hdr ? NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 |
					   NET_OFFLOAD_ECN : 0;
	assert_int_equal(virtio_net_create_with(&r->d, &r->fb.be, the_mac, &r->f.mem), 0);
	assert_int_equal(virtio_net_attach(r->d, &r->f.env, FD_MMIO_BASE, 5), 0);
	r->f.t = virtio_net_transport(r->d);
	return r;
}

static int rig_user(void **state)
{
	*state = rig_new(false);
	return 0;
}

static int rig_tap(void **state)
{
	*state = rig_new(true);
	return 0;
}

static int rig_down(void **state)
{
	struct rig *r = *state;

	virtio_net_destroy(r->d);
	assert_true(r->fb.closed);
	for (int i = 0; i < r->fb.nsent; i++)
		free(r->fb.sent[i]);
	fd_teardown(&r->f);
	free(r);
	return 0;
}

static uint64_t dev_features(struct fake_driver *f)
{
	fd_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t v = fd_rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	fd_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return v | (uint64_t)fd_rd(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

#define B(x) VIRTIO_BIT(VIRTIO_NET_F_##x)
#define BASE_F (B(MAC) | B(STATUS) | B(MRG_RXBUF))
#define OFFLOAD_F (B(CSUM) | B(GUEST_CSUM) | B(HOST_TSO4) | B(HOST_TSO6) | B(GUEST_TSO4) | \
		   B(GUEST_TSO6) | B(HOST_ECN) | B(GUEST_ECN))

static void up(struct rig *r, uint64_t features)
{
	uint32_t st = fd_init(&r->f, 2, 64, features);
	assert_int_equal(st & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET),
			 VIRTIO_STATUS_DRIVER_OK);
}

/* A frame of len bytes: broadcast ethernet header then a counting pattern. */
static void make_frame(uint8_t *p, size_t len, uint8_t seed)
{
	memset(p, 0xff, 6);
	memcpy(p + 6, the_mac, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	for (size_t i = 14; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* Put hdr + frame in guest memory at gpa as one readable descriptor pair. */
static uint16_t tx_add(struct rig *r, uint64_t gpa, const struct net_vnet_hdr *h,
		       const uint8_t *frame, size_t len)
{
	struct fd_seg segs[2] = {
		{ gpa, NET_VNET_HDR_LEN, false },
		{ gpa + 0x100, (uint32_t)len, false },
	};
	memcpy(fd_host(&r->f, gpa, NET_VNET_HDR_LEN), h, NET_VNET_HDR_LEN);
	memcpy(fd_host(&r->f, gpa + 0x100, len), frame, len);
	return fd_add_chain(&r->f, VIRTIO_NET_TXQ, segs, 2);
}

/* ---- tests ---- */

static void test_identity_user(void **state)
{
	struct rig *r = *state;
	struct virtio_net_config c;
	uint64_t f = dev_features(&r->f);

	assert_int_equal(fd_rd(&r->f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	assert_int_equal(f & BASE_F, BASE_F);
	assert_int_equal(f & OFFLOAD_F, 0);   /* slirp needs whole frames */
	assert_int_equal(f & B(MTU), 0);
	for (uint32_t i = 0; i < sizeof(c); i += 2)   /* 16-bit reads, as Linux does */
		virtio_mmio_io(r->f.t, VIRTIO_MMIO_CONFIG + i, (uint8_t *)&c + i, 2, false);
	assert_memory_equal(c.mac, the_mac, 6);
	assert_int_equal(c.status, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(c.max_virtqueue_pairs, 1);
	fd_wr(&r->f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(fd_rd(&r->f, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
}

static void test_identity_tap_offloads(void **state)
{
	struct rig *r = *state;
	uint64_t f = dev_features(&r->f);

	assert_int_equal(f & (BASE_F | OFFLOAD_F), BASE_F | OFFLOAD_F);
	up(r, BASE_F | B(GUEST_CSUM) | B(GUEST_TSO4) | B(CSUM) | B(HOST_TSO4));
	assert_int_equal(r->fb.offload, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
	/* Reset turns them off again. */
	fd_wr(&r->f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(r->fb.offload, 0);
}

static void test_tx_user_strips_header(void **state)
{
	struct rig *r = *state;
	struct net_vnet_hdr h = { 0 };
	uint8_t frame[300];

	up(r, BASE_F);
	make_frame(frame, sizeof(frame), 1);
	uint16_t head = tx_add(r, FD_DATA_BASE, &h, frame, sizeof(frame));
	fd_notify(&r->f, VIRTIO_NET_TXQ);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_TXQ, 1, 2000));
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_TXQ, 0).id, head);
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_TXQ, 0).len, 0);
	assert_int_equal(fb_count(&r->fb), 1);
	assert_int_equal(r->fb.sent_len[0], sizeof(frame));
	assert_memory_equal(r->fb.sent[0], frame, sizeof(frame));
	assert_true(fd_irq_raised(&r->f));

	struct virtio_net_stats s;
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.tx_frames, 1);
	assert_int_equal(s.tx_bytes, sizeof(frame));
	assert_int_equal(s.tx_dropped, 0);
}

static void test_tx_tap_keeps_header(void **state)
{
	struct rig *r = *state;
	struct net_vnet_hdr h = { .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16 };
	uint8_t frame[100];

	up(r, BASE_F | B(CSUM));
	make_frame(frame, sizeof(frame), 2);
	tx_add(r, FD_DATA_BASE, &h, frame, sizeof(frame));
	fd_notify(&r->f, VIRTIO_NET_TXQ);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_TXQ, 1, 2000));
	assert_int_equal(fb_count(&r->fb), 1);
	assert_int_equal(r->fb.sent_len[0], NET_VNET_HDR_LEN + sizeof(frame));
	assert_memory_equal(r->fb.sent[0], &h, NET_VNET_HDR_LEN);
	assert_memory_equal(r->fb.sent[0] + NET_VNET_HDR_LEN, frame, sizeof(frame));
}

static void test_tx_drops(void **state)
{
	struct rig *r = *state;
	struct net_vnet_hdr h = { 0 }, csum = { .flags = NET_HDR_F_NEEDS_CSUM };
	uint8_t frame[200];
	struct virtio_net_stats s;

	up(r, BASE_F);
	make_frame(frame, sizeof(frame), 3);
	/* 1: shorter than a header. */
	struct fd_seg shorty = { FD_DATA_BASE, 8, false };
	fd_add_chain(&r->f, VIRTIO_NET_TXQ, &shorty, 1);
	/* 2: header and 10 bytes: no ethernet header. */
	tx_add(r, FD_DATA_BASE + 0x1000, &h, frame, 10);
	/* 3: more than 65550 bytes after the header. */
	struct fd_seg big[2] = { { FD_DATA_BASE + 0x2000, NET_VNET_HDR_LEN, false },
				 { FD_DATA_BASE + 0x10000, NET_FRAME_MAX + 1, false } };
	memset(fd_host(&r->f, FD_DATA_BASE + 0x2000, NET_VNET_HDR_LEN), 0, NET_VNET_HDR_LEN);
	fd_add_chain(&r->f, VIRTIO_NET_TXQ, big, 2);
	/* 4: a writable descriptor in a tx chain. */
	struct fd_seg wr[2] = { { FD_DATA_BASE + 0x3000, 100, false },
				{ FD_DATA_BASE + 0x3100, 100, true } };
	fd_add_chain(&r->f, VIRTIO_NET_TXQ, wr, 2);
	/* 5: asks for a checksum offload the user backend never offered. */
	tx_add(r, FD_DATA_BASE + 0x4000, &csum, frame, sizeof(frame));
	/* 6: a good one: the queue still works. */
	tx_add(r, FD_DATA_BASE + 0x5000, &h, frame, sizeof(frame));
	fd_notify(&r->f, VIRTIO_NET_TXQ);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_TXQ, 6, 2000));
	for (uint16_t i = 0; i < 6; i++)
		assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_TXQ, i).len, 0);
	assert_int_equal(fb_count(&r->fb), 1);
	assert_int_equal(r->fb.sent_len[0], sizeof(frame));
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.tx_dropped, 5);
	assert_int_equal(s.tx_frames, 1);
	assert_int_equal(fd_rd(&r->f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_tx_eagain_holds(void **state)
{
	struct rig *r = *state;
	struct net_vnet_hdr h = { 0 };
	uint8_t frame[64];

	up(r, BASE_F);
	make_frame(frame, sizeof(frame), 4);
	r->fb.full = true;
	tx_add(r, FD_DATA_BASE, &h, frame, sizeof(frame));
	tx_add(r, FD_DATA_BASE + 0x1000, &h, frame, sizeof(frame));
	fd_notify(&r->f, VIRTIO_NET_TXQ);
	usleep(50 * 1000);
	assert_int_equal(fd_used_idx(&r->f, VIRTIO_NET_TXQ), 0);
	assert_int_equal(fb_count(&r->fb), 0);
	/* A kick while the backend is full changes nothing. */
	fd_notify(&r->f, VIRTIO_NET_TXQ);
	usleep(20 * 1000);
	assert_int_equal(fd_used_idx(&r->f, VIRTIO_NET_TXQ), 0);
	pthread_mutex_lock(&r->fb.lock);
	r->fb.full = false;
	pthread_mutex_unlock(&r->fb.lock);
	evloop_run_sync(r->fb.be.loop, do_writable, &r->fb);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_TXQ, 2, 2000));
	assert_int_equal(fb_count(&r->fb), 2);
}

static void test_rx_merged_buffers(void **state)
{
	struct rig *r = *state;
	uint8_t frame[600];
	struct net_vnet_hdr h;

	up(r, BASE_F);
	struct fd_seg b1 = { FD_DATA_BASE, NET_VNET_HDR_LEN + 100, true };
	struct fd_seg b2 = { FD_DATA_BASE + 0x1000, 1000, true };
	uint16_t h1 = fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b1, 1);
	uint16_t h2 = fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b2, 1);
	fd_notify(&r->f, VIRTIO_NET_RXQ);
	make_frame(frame, sizeof(frame), 5);
	fb_inject(&r->fb, frame, sizeof(frame));
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_RXQ, 2, 2000));
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_RXQ, 0).id, h1);
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_RXQ, 0).len, NET_VNET_HDR_LEN + 100);
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_RXQ, 1).id, h2);
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_RXQ, 1).len, 500);
	memcpy(&h, fd_host(&r->f, FD_DATA_BASE, NET_VNET_HDR_LEN), sizeof(h));
	assert_int_equal(h.num_buffers, 2);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.gso_type, NET_HDR_GSO_NONE);
	assert_memory_equal(fd_host(&r->f, FD_DATA_BASE + NET_VNET_HDR_LEN, 100), frame, 100);
	assert_memory_equal(fd_host(&r->f, FD_DATA_BASE + 0x1000, 500), frame + 100, 500);
	assert_true(fd_irq_raised(&r->f));
}

static void test_rx_waits_for_buffers(void **state)
{
	struct rig *r = *state;
	uint8_t f1[80], f2[90];
	struct net_vnet_hdr h;
	struct virtio_net_stats s;

	up(r, BASE_F);
	make_frame(f1, sizeof(f1), 6);
	make_frame(f2, sizeof(f2), 7);
	fb_inject(&r->fb, f1, sizeof(f1));
	fb_inject(&r->fb, f2, sizeof(f2));
	assert_true(__atomic_load_n(&r->fb.paused, __ATOMIC_SEQ_CST));
	assert_int_equal(fd_used_idx(&r->f, VIRTIO_NET_RXQ), 0);
	/* One buffer, then a kick: the first frame, in order; still paused. */
	struct fd_seg b1 = { FD_DATA_BASE, 2048, true };
	fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b1, 1);
	fd_notify(&r->f, VIRTIO_NET_RXQ);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_RXQ, 1, 2000));
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_RXQ, 0).len, NET_VNET_HDR_LEN + sizeof(f1));
	assert_memory_equal(fd_host(&r->f, FD_DATA_BASE + NET_VNET_HDR_LEN, sizeof(f1)), f1, sizeof(f1));
	memcpy(&h, fd_host(&r->f, FD_DATA_BASE, NET_VNET_HDR_LEN), sizeof(h));
	assert_int_equal(h.num_buffers, 1);
	assert_true(__atomic_load_n(&r->fb.paused, __ATOMIC_SEQ_CST));
	/* Another: the second frame, and the backend is read again. */
	struct fd_seg b2 = { FD_DATA_BASE + 0x1000, 2048, true };
	fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b2, 1);
	fd_notify(&r->f, VIRTIO_NET_RXQ);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_RXQ, 2, 2000));
	assert_memory_equal(fd_host(&r->f, FD_DATA_BASE + 0x1000 + NET_VNET_HDR_LEN, sizeof(f2)), f2,
			    sizeof(f2));
	for (int i = 0; i < 100 && __atomic_load_n(&r->fb.paused, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_false(__atomic_load_n(&r->fb.paused, __ATOMIC_SEQ_CST));
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.rx_frames, 2);
	assert_int_equal(s.rx_dropped, 0);
}

/* With EVENT_IDX the driver kicks only past avail_event: a device short of
 * buffers must move it to what it has taken, or the kick never comes. */
static void test_rx_event_idx_rearm(void **state)
{
	struct rig *r = *state;
	uint8_t f[80];
	volatile uint16_t *avail_event;

	up(r, BASE_F | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	avail_event = (volatile uint16_t *)&fd_used(&r->f, VIRTIO_NET_RXQ)->ring[r->f.q[0].size];
	make_frame(f, sizeof(f), 13);
	for (int i = 0; i < 3; i++) {
		struct fd_seg b = { FD_DATA_BASE + 0x1000 * (uint64_t)i, 2048, true };
		fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b, 1);
	}
	fd_notify(&r->f, VIRTIO_NET_RXQ);
	for (int i = 0; i < 4; i++)
		fb_inject(&r->fb, f, sizeof(f));
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_RXQ, 3, 2000));
	assert_int_equal(*avail_event, 3);
	assert_true(__atomic_load_n(&r->fb.paused, __ATOMIC_SEQ_CST));
}

static void test_rx_backlog_bounded(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	struct virtio_net_stats s;

	up(r, BASE_F);
	make_frame(f, sizeof(f), 8);
	for (int i = 0; i < VIRTIO_NET_PENDING_MAX + 10; i++)
		fb_inject(&r->fb, f, sizeof(f));
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.rx_dropped, 10);
	/* Frames that are no ethernet frames are dropped too. */
	fb_inject(&r->fb, f, 13);
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.rx_dropped, 11);
	/* Reset drops the backlog; destroy then frees nothing twice (ASan). */
	fd_wr(&r->f, VIRTIO_MMIO_STATUS, 0);
}

static void test_rx_too_big_without_mrg(void **state)
{
	struct rig *r = *state;
	uint8_t f[600];
	struct virtio_net_stats s;

	up(r, B(MAC) | B(STATUS));   /* no MRG_RXBUF: one buffer per frame */
	struct fd_seg small = { FD_DATA_BASE, 200, true };
	fd_add_chain(&r->f, VIRTIO_NET_RXQ, &small, 1);
	fd_notify(&r->f, VIRTIO_NET_RXQ);
	make_frame(f, sizeof(f), 9);
	fb_inject(&r->fb, f, sizeof(f));
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.rx_dropped, 1);
	/* The buffer was not consumed: a small frame still lands in it. */
	fb_inject(&r->fb, f, 100);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_RXQ, 1, 2000));
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_RXQ, 0).len, NET_VNET_HDR_LEN + 100);
}

static void test_rx_tap_header_sanitized(void **state)
{
	struct rig *r = *state;
	uint8_t buf[NET_VNET_HDR_LEN + 100];
	struct net_vnet_hdr h = { .flags = NET_HDR_F_DATA_VALID, .num_buffers = 7 }, got;

	up(r, BASE_F);   /* GUEST_CSUM not accepted: flags must read 0 */
	memcpy(buf, &h, sizeof(h));
	make_frame(buf + NET_VNET_HDR_LEN, 100, 10);
	struct fd_seg b = { FD_DATA_BASE, 2048, true };
	fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b, 1);
	fd_notify(&r->f, VIRTIO_NET_RXQ);
	fb_inject(&r->fb, buf, sizeof(buf));
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_RXQ, 1, 2000));
	assert_int_equal(fd_used_elem(&r->f, VIRTIO_NET_RXQ, 0).len, sizeof(buf));
	memcpy(&got, fd_host(&r->f, FD_DATA_BASE, sizeof(got)), sizeof(got));
	assert_int_equal(got.flags, 0);
	assert_int_equal(got.num_buffers, 1);
}

static void test_rx_bad_buffer_needs_reset(void **state)
{
	struct rig *r = *state;
	uint8_t f[100];

	up(r, BASE_F);
	log_set_sink(quiet, NULL);
	struct fd_seg tiny = { FD_DATA_BASE, 4, true };   /* cannot hold a header */
	fd_add_chain(&r->f, VIRTIO_NET_RXQ, &tiny, 1);
	make_frame(f, sizeof(f), 11);
	fb_inject(&r->fb, f, sizeof(f));
	assert_true(fd_rd(&r->f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	log_set_sink(NULL, NULL);
}

/* The whole path with the real libslirp backend: an ARP request for the
 * gateway goes out through tx, its reply comes back through rx. */
static void test_user_arp_end_to_end(void **state)
{
	struct fake_driver f;
	struct virtio_net *d;
	struct virtio_net_cfg cfg;
	struct net_vnet_hdr h = { 0 };
	uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
			    0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1,
			    0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 10, 0, 2, 15,
			    0, 0, 0, 0, 0, 0, 10, 0, 2, 2 };

	assert_int_equal(fd_setup(&f), 0);
	assert_int_equal(virtio_net_parse("user,mac=02:aa:bb:cc:dd:ee", &cfg), 0);
	assert_int_equal(virtio_net_create(&d, &cfg, &f.mem), 0);
	assert_int_equal(virtio_net_attach(d, &f.env, FD_MMIO_BASE, 5), 0);
	f.t = virtio_net_transport(d);
	assert_int_equal(dev_features(&f) & OFFLOAD_F, 0);
	assert_int_equal(fd_init(&f, 2, 64, BASE_F) & VIRTIO_STATUS_NEEDS_RESET, 0);
	struct fd_seg b = { FD_DATA_BASE + 0x8000, 2048, true };
	fd_add_chain(&f, VIRTIO_NET_RXQ, &b, 1);
	fd_notify(&f, VIRTIO_NET_RXQ);
	struct fd_seg segs[2] = { { FD_DATA_BASE, NET_VNET_HDR_LEN, false },
				  { FD_DATA_BASE + 0x100, sizeof(arp), false } };
	memcpy(fd_host(&f, FD_DATA_BASE, NET_VNET_HDR_LEN), &h, NET_VNET_HDR_LEN);
	memcpy(fd_host(&f, FD_DATA_BASE + 0x100, sizeof(arp)), arp, sizeof(arp));
	fd_add_chain(&f, VIRTIO_NET_TXQ, segs, 2);
	fd_notify(&f, VIRTIO_NET_TXQ);
	assert_true(fd_wait_used(&f, VIRTIO_NET_TXQ, 1, 2000));
	assert_true(fd_wait_used(&f, VIRTIO_NET_RXQ, 1, 2000));
	const uint8_t *rx = fd_host(&f, FD_DATA_BASE + 0x8000, 2048);
	assert_true(fd_used_elem(&f, VIRTIO_NET_RXQ, 0).len >= NET_VNET_HDR_LEN + 42);
	rx += NET_VNET_HDR_LEN;
	assert_memory_equal(rx, arp + 6, 6);           /* to us */
	assert_int_equal(rx[12] << 8 | rx[13], 0x0806);
	assert_int_equal(rx[21], 2);                   /* ARP reply */
	assert_memory_equal(rx + 28, arp + 38, 4);     /* from 10.0.2.2 */
	virtio_net_destroy(d);
	fd_teardown(&f);
}

/* ---- a real tap (root and /dev/net/tun only) ---- */

static bool tap_possible(void)
{
	return geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
}

/* The frame the test waits for, and how often it arrived. The kernel sends
 * frames of its own out of an interface that comes up (IPv6 router
 * solicitations, MLD reports, at random delays), so "the last frame" may be
 * one of those: the callback compares each frame as it comes instead. */
struct tap_rx {
	pthread_mutex_t lock;
	uint8_t want[2048];
	size_t want_len;
	int matched;
	int others;
};

static void tap_rx_cb(void *opaque, const uint8_t *f, size_t len)
{
	struct tap_rx *t = opaque;

	pthread_mutex_lock(&t->lock);
	/* The header tun puts in front is not the test's business here. */
	if (t->want_len && len == NET_VNET_HDR_LEN + t->want_len &&
	    !memcmp(f + NET_VNET_HDR_LEN, t->want, t->want_len))
		t->matched++;
	else
		t->others++;
	pthread_mutex_unlock(&t->lock);
}

struct tap_send { struct net_backend *be; struct iovec iov[2]; int r; };
static void do_tap_send(void *a)
{
	struct tap_send *s = a;
	s->r = net_backend_send(s->be, s->iov, 2);
}
static void do_unpause(void *a) { net_backend_set_rx_paused(a, false); }

static void test_tap_real(void **state)
{
	struct net_backend *be;
	/* static: a failed assert leaves the loop thread running, and it must
	 * not go on reading a stack frame the next test reuses */
	static struct evloop loop;
	char name[IFNAMSIZ];
	struct ifreq ifr;
	static struct tap_rx trx = { .lock = PTHREAD_MUTEX_INITIALIZER };
	uint8_t frame[100], buf[2048];
	struct net_vnet_hdr h = { 0 };

	if (!tap_possible()) {
		print_message("skipped: needs root and /dev/net/tun\n");
		skip();
	}
	snprintf(name, sizeof(name), "mvmt%d", (int)(getpid() % 100000));
	assert_int_equal(net_tap_open(&be, name), 0);
	assert_true(be->vnet_hdr);
	assert_int_equal(net_backend_set_offload(be, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4), 0);
	assert_int_equal(net_backend_set_offload(be, 0), 0);

	/* Bring it up and watch it with a packet socket. */
	int ps = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
	assert_true(ps >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(ps, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(ps, SIOCSIFFLAGS, &ifr), 0);
	assert_int_equal(ioctl(ps, SIOCGIFINDEX, &ifr), 0);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifr.ifr_ifindex };
	assert_int_equal(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	assert_int_equal(evloop_init(&loop, "test-tap"), 0);
	assert_int_equal(net_backend_start(be, &loop, tap_rx_cb, NULL, &trx), 0);
	assert_int_equal(evloop_start(&loop), 0);
	evloop_run_sync(&loop, do_unpause, be);

	/* Device -> host: a frame written to the tap shows up on the interface. */
	make_frame(frame, sizeof(frame), 12);
	frame[12] = 0x88;   /* a local experimental ethertype: the stack ignores it */
	frame[13] = 0xb5;
	struct tap_send s = { be, { { &h, sizeof(h) }, { frame, sizeof(frame) } }, -1 };
	evloop_run_sync(&loop, do_tap_send, &s);
	assert_int_equal(s.r, 0);
	bool seen = false;
	for (int i = 0; i < 5000 && !seen; i++) {   /* up to 5 s: ASan on a loaded machine */
		ssize_t n = recv(ps, buf, sizeof(buf), 0);
		if (n == (ssize_t)sizeof(frame) && !memcmp(buf, frame, sizeof(frame)))
			seen = true;
		else if (n < 0)
			usleep(1000);
	}
	assert_true(seen);

	/* Host -> device: a frame sent on the interface reaches rx() with a header. */
	frame[14] = 0x5a;
	pthread_mutex_lock(&trx.lock);
	memcpy(trx.want, frame, sizeof(frame));
	trx.want_len = sizeof(frame);
	pthread_mutex_unlock(&trx.lock);
	assert_int_equal(send(ps, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	seen = false;
	for (int i = 0; i < 5000 && !seen; i++) {   /* up to 5 s: ASan on a loaded machine */
		pthread_mutex_lock(&trx.lock);
		seen = trx.matched > 0;
		pthread_mutex_unlock(&trx.lock);
		if (!seen)
			usleep(1000);
	}
	assert_true(seen);

	evloop_stop(&loop);
	net_backend_close(be);
	evloop_destroy(&loop);
	close(ps);
}

static void test_tap_errors(void **state)
{
	struct net_backend *be;
	struct virtio_net_cfg cfg;

	log_set_sink(quiet, NULL);
	assert_int_equal(net_tap_open(&be, ""), -EINVAL);
	assert_null(be);
	log_set_sink(NULL, NULL);
	/* Through the device's create path with a parsed config. */
	assert_int_equal(virtio_net_parse("tap=mvmtapx,mac=02:00:00:00:00:09", &cfg), 0);
	assert_int_equal(cfg.net.kind, NET_TAP);
	if (!tap_possible()) {
		struct virtio_net *d;
		log_set_sink(quiet, NULL);
		assert_true(virtio_net_create(&d, &cfg, NULL) < 0);
		assert_null(d);
		log_set_sink(NULL, NULL);
	}
}

/* tx_rate_limiter: ops 1 per 200 ms. Of three frames one goes at once, the others are held
 * (none dropped) and go at the refill rate. */
static void test_tx_rate_limited(void **state)
{
	struct rig *r = *state;
	struct rlim_update tx = { .has_ops = true, .cfg = { .ops = { 1, 0, 200 } } };
	struct net_vnet_hdr h = { 0 };
	struct virtio_net_stats s;
	uint8_t frame[64];

	up(r, BASE_F);
	virtio_net_set_rate_limiters(r->d, NULL, &tx);
	make_frame(frame, sizeof(frame), 9);
	for (int i = 0; i < 3; i++)
		tx_add(r, FD_DATA_BASE + 0x1000 * (uint64_t)i, &h, frame, sizeof(frame));
	fd_notify(&r->f, VIRTIO_NET_TXQ);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_TXQ, 1, 2000));
	usleep(80 * 1000);
	assert_int_equal(fb_count(&r->fb), 1);
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_TXQ, 3, 2000));
	assert_int_equal(fb_count(&r->fb), 3);
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.tx_frames, 3);
	assert_int_equal(s.tx_dropped, 0);
}

/* rx_rate_limiter: 100 bytes per 100 ms. A second 80-byte frame waits (the backend is not
 * read meanwhile) and is delivered once the bucket refilled, not dropped. */
static void test_rx_rate_limited(void **state)
{
	struct rig *r = *state;
	struct rlim_update rx = { .has_bandwidth = true, .cfg = { .bandwidth = { 100, 0, 100 } } };
	struct virtio_net_stats s;
	uint8_t f1[80], f2[80];

	up(r, BASE_F);
	virtio_net_set_rate_limiters(r->d, &rx, NULL);
	struct fd_seg b1 = { FD_DATA_BASE, 2048, true };
	struct fd_seg b2 = { FD_DATA_BASE + 0x1000, 2048, true };
	fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b1, 1);
	fd_add_chain(&r->f, VIRTIO_NET_RXQ, &b2, 1);
	fd_notify(&r->f, VIRTIO_NET_RXQ);
	make_frame(f1, sizeof(f1), 1);
	make_frame(f2, sizeof(f2), 2);
	fb_inject(&r->fb, f1, sizeof(f1));
	fb_inject(&r->fb, f2, sizeof(f2));
	assert_int_equal(fd_used_idx(&r->f, VIRTIO_NET_RXQ), 1);
	assert_true(__atomic_load_n(&r->fb.paused, __ATOMIC_SEQ_CST));
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_RXQ, 2, 2000));
	assert_memory_equal(fd_host(&r->f, FD_DATA_BASE + 0x1000 + NET_VNET_HDR_LEN, sizeof(f2)), f2,
			    sizeof(f2));
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.rx_frames, 2);
	assert_int_equal(s.rx_dropped, 0);
}

/* A tx stream through a bandwidth limit (1.5 MB/s) with kicks while frames are held and the
 * limit changed halfway: every frame goes out, in order, none dropped, the rate followed. */
static void test_tx_rate_limited_stream(void **state)
{
	struct rig *r = *state;
	struct rlim_update tx = { .has_bandwidth = true,
				  .cfg = { .bandwidth = { 15000, 0, 10 } } };
	struct rlim_update tx2 = { .has_bandwidth = true,
				   .cfg = { .bandwidth = { 30000, 0, 10 } } };
	struct net_vnet_hdr h = { 0 };
	struct virtio_net_stats s;
	struct timespec t0, t1;
	uint8_t frame[1000];
	const int n = 300;
	long ms;

	up(r, BASE_F);
	virtio_net_set_rate_limiters(r->d, NULL, &tx);
	make_frame(frame, sizeof(frame), 3);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		/* At most 24 chains (48 of 64 descriptors) outstanding. */
		while ((uint16_t)(i - fd_used_idx(&r->f, VIRTIO_NET_TXQ)) >= 24)
			usleep(200);
		tx_add(r, FD_DATA_BASE + 0x1000 * (uint64_t)(i % 32), &h, frame, sizeof(frame));
		fd_notify(&r->f, VIRTIO_NET_TXQ);
		if (i == n / 2)
			virtio_net_set_rate_limiters(r->d, NULL, &tx2);
	}
	assert_true(fd_wait_used(&r->f, VIRTIO_NET_TXQ, (uint16_t)n, 5000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	/* 150 kB at 1.5 MB/s (less the first bucket) + 150 kB at 3 MB/s: ~140 ms at least. */
	assert_true(ms >= 100);
	virtio_net_get_stats(r->d, &s);
	assert_int_equal(s.tx_frames, n);
	assert_int_equal(s.tx_dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_user, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_identity_tap_offloads, rig_tap, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_user_strips_header, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_tap_keeps_header, rig_tap, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_drops, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_eagain_holds, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_merged_buffers, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_event_idx_rearm, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_backlog_bounded, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_too_big_without_mrg, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_tap_header_sanitized, rig_tap, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_bad_buffer_needs_reset, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_rate_limited, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_rx_rate_limited, rig_user, rig_down),
		cmocka_unit_test_setup_teardown(test_tx_rate_limited_stream, rig_user, rig_down),
		cmocka_unit_test(test_user_arp_end_to_end),
		cmocka_unit_test(test_tap_real),
		cmocka_unit_test(test_tap_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
