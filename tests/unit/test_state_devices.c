/* test_state_devices.c - virtio-rng, -blk, -console and -net state with real
 * workers: drive device A through the fake driver, pause it, save; restore
 * into a fresh device B over the same guest RAM, save again (byte-identical);
 * then the driver's next request completes on B. Device fields a state file
 * could corrupt are refused with a message naming them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/evloop.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio_fake_driver.h"

static char logbuf[8192];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture(enum log_level l, const char *m, void *c)
{
	(void)l;
	(void)c;
	pthread_mutex_lock(&log_lock);
	size_t n = strlen(logbuf);
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", m);
	pthread_mutex_unlock(&log_lock);
}

#define assert_refused(call, err, field) do {				\
	logbuf[0] = 0;							\
	assert_int_equal((call), (err));				\
	assert_non_null(strstr(logbuf, field));				\
} while (0)

/* Device B is reached by calling its transport directly: no second bus
 * window is needed (and the bus has no removal for A's). */
static struct virtio_env env_nobus(struct fake_driver *f)
{
	struct virtio_env e = f->env;

	e.mmio = NULL;
	return e;
}

static int setup(void **state)
{
	struct fake_driver *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fd_setup(f), 0);
	logbuf[0] = 0;
	log_set_sink(capture, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake_driver *f = *state;

	log_set_sink(NULL, NULL);
	fd_teardown(f);
	free(f);
	return 0;
}

/* ---- rng ---- */

static void test_rng(void **state)
{
	struct fake_driver *f = *state;
	struct virtio_env e2 = env_nobus(f);
	struct virtio_rng *a, *b;
	struct virtio_rng_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct fd_seg seg = { FD_DATA_BASE, 32, true };

	assert_int_equal(virtio_rng_create(&a, NULL, &f->mem), 0);
	assert_int_equal(virtio_rng_attach(a, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_rng_transport(a);
	assert_int_equal(fd_init(f, 1, 16, VIRTIO_BIT(VIRTIO_F_EVENT_IDX)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	fd_add_chain(f, 0, &seg, 1);
	fd_add_chain(f, 0, &seg, 1);
	fd_notify(f, 0);
	assert_true(fd_wait_used(f, 0, 2, 2000));

	evloop_pause(virtio_rng_loop(a));
	assert_int_equal(virtio_rng_save(a, s1), 0);
	evloop_resume(virtio_rng_loop(a));
	assert_int_equal(s1->transport.vq[0].used_idx, 2);

	assert_int_equal(virtio_rng_create(&b, NULL, &f->mem), 0);
	assert_int_equal(virtio_rng_attach(b, &e2, FD_MMIO_BASE, 5), 0);
	assert_int_equal(virtio_rng_restore(b, s1), 0);
	evloop_pause(virtio_rng_loop(b));
	assert_int_equal(virtio_rng_save(b, s2), 0);
	evloop_resume(virtio_rng_loop(b));
	assert_memory_equal(s1, s2, sizeof(*s1));
	/* Restoring over a live device is refused. */
	assert_refused(virtio_rng_restore(b, s1), -EBUSY, "in use");

	/* The driver moves to B: its next request is filled. */
	f->t = virtio_rng_transport(b);
	fd_add_chain(f, 0, &seg, 1);
	fd_notify(f, 0);
	assert_true(fd_wait_used(f, 0, 3, 2000));
	assert_int_equal(fd_used_elem(f, 0, 2).len, 32);
	virtio_rng_destroy(a);
	virtio_rng_destroy(b);
	free(s1);
	free(s2);
}

/* ---- blk ---- */

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

/* header, payload (readable for OUT, writable for IN), status byte. */
static void blk_req(struct fake_driver *f, uint32_t type, uint64_t sector, uint64_t buf,
		    uint32_t len)
{
	struct blk_hdr *h = fd_host(f, FD_DATA_BASE, sizeof(*h));
	struct fd_seg segs[] = {
		{ FD_DATA_BASE, sizeof(*h), false },
		{ buf, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID },
		{ FD_DATA_BASE + 0x100, 1, true },
	};

	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	*(uint8_t *)fd_host(f, FD_DATA_BASE + 0x100, 1) = 0xff;
	fd_add_chain(f, 0, segs, 3);
	fd_notify(f, 0);
}

static void test_blk(void **state)
{
	struct fake_driver *f = *state;
	struct virtio_env e2 = env_nobus(f);
	char path[] = "/tmp/mvm-state-blk-XXXXXX";
	int fd = mkstemp(path);
	struct virtio_blk_cfg cfg = { .path = path, .id = "disk-a" };
	struct virtio_blk *a, *b;
	struct virtio_blk_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct virtio_blk_state *bad = calloc(1, sizeof(*bad));
	uint8_t *data = fd_host(f, FD_DATA_BASE + 0x1000, 512);
	uint8_t *back = fd_host(f, FD_DATA_BASE + 0x2000, 512);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * 512), 0);
	close(fd);
	assert_int_equal(virtio_blk_create(&a, &cfg, &f->mem), 0);
	assert_int_equal(virtio_blk_attach(a, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_blk_transport(a);
	assert_int_equal(fd_init(f, 1, 16, VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
				 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) & VIRTIO_STATUS_NEEDS_RESET, 0);
	memset(data, 0x5a, 512);
	blk_req(f, VIRTIO_BLK_T_OUT, 3, FD_DATA_BASE + 0x1000, 512);
	assert_true(fd_wait_used(f, 0, 1, 2000));

	evloop_pause(virtio_blk_loop(a));
	assert_int_equal(virtio_blk_save(a, s1), 0);
	evloop_resume(virtio_blk_loop(a));
	assert_int_equal(s1->capacity, 64);
	assert_memory_equal(s1->id, "disk-a", 6);
	/* The image is locked by A (as by the VM that saved it): let go first. */
	virtio_blk_destroy(a);

	cfg.id = "disk-b";
	assert_int_equal(virtio_blk_create(&b, &cfg, &f->mem), 0);
	assert_int_equal(virtio_blk_attach(b, &e2, FD_MMIO_BASE, 5), 0);
	memcpy(bad, s1, sizeof(*bad));
	bad->capacity = 65;
	assert_refused(virtio_blk_restore(b, bad), -EINVAL, "capacity");
	memcpy(bad, s1, sizeof(*bad));
	bad->read_only = 1;
	assert_refused(virtio_blk_restore(b, bad), -EINVAL, "read_only");
	memcpy(bad, s1, sizeof(*bad));
	bad->pad[0] = 1;
	assert_refused(virtio_blk_restore(b, bad), -EINVAL, "pad");
	memcpy(bad, s1, sizeof(*bad));
	bad->transport.regs.driver_features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	assert_refused(virtio_blk_restore(b, bad), -EINVAL, "driver_features");

	assert_int_equal(virtio_blk_restore(b, s1), 0);
	evloop_pause(virtio_blk_loop(b));
	assert_int_equal(virtio_blk_save(b, s2), 0);
	evloop_resume(virtio_blk_loop(b));
	assert_memory_equal(s1, s2, sizeof(*s1));

	/* B reads back what A wrote, and reports A's serial. */
	f->t = virtio_blk_transport(b);
	memset(back, 0, 512);
	blk_req(f, VIRTIO_BLK_T_IN, 3, FD_DATA_BASE + 0x2000, 512);
	assert_true(fd_wait_used(f, 0, 2, 2000));
	assert_int_equal(*(uint8_t *)fd_host(f, FD_DATA_BASE + 0x100, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(back, data, 512);
	blk_req(f, VIRTIO_BLK_T_GET_ID, 0, FD_DATA_BASE + 0x2000, VIRTIO_BLK_ID_BYTES);
	assert_true(fd_wait_used(f, 0, 3, 2000));
	assert_memory_equal(back, "disk-a", 7);
	virtio_blk_destroy(b);
	unlink(path);
	free(s1);
	free(s2);
	free(bad);
}

/* ---- console ---- */

static void test_console(void **state)
{
	struct fake_driver *f = *state;
	struct virtio_env e2 = env_nobus(f);
	int pa[2], pb[2];
	struct virtio_console *a, *b;
	struct virtio_console_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct virtio_console_state *bad = calloc(1, sizeof(*bad));
	struct fd_seg out = { FD_DATA_BASE, 3, false }, in = { FD_DATA_BASE + 0x1000, 64, true };
	char got[8] = { 0 };
	uint16_t cols = 0;

	assert_int_equal(pipe2(pa, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pb, O_CLOEXEC), 0);
	struct virtio_console_cfg ca = { .out_fd = pa[1], .cols = 132, .rows = 43 };
	struct virtio_console_cfg cb = { .out_fd = pb[1], .cols = 80, .rows = 25 };

	assert_int_equal(virtio_console_create(&a, &ca, &f->mem), 0);
	assert_int_equal(virtio_console_attach(a, &f->env, FD_MMIO_BASE, 6), 0);
	f->t = virtio_console_transport(a);
	assert_int_equal(fd_init(f, 2, 16, VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	memcpy(fd_host(f, FD_DATA_BASE, 3), "out", 3);
	fd_add_chain(f, 1, &out, 1);
	fd_notify(f, 1);
	assert_true(fd_wait_used(f, 1, 1, 2000));
	assert_int_equal(read(pa[0], got, 3), 3);
	assert_memory_equal(got, "out", 3);
	/* Host input with no guest buffer posted: it waits in the staging buffer. */
	assert_int_equal(virtio_console_receive(a, (const uint8_t *)"hello", 5), 5);

	evloop_pause(virtio_console_loop(a));
	assert_int_equal(virtio_console_save(a, s1), 0);
	evloop_resume(virtio_console_loop(a));
	assert_int_equal(s1->rx_len, 5);
	assert_int_equal(s1->cols, 132);

	assert_int_equal(virtio_console_create(&b, &cb, &f->mem), 0);
	assert_int_equal(virtio_console_attach(b, &e2, FD_MMIO_BASE, 6), 0);
	memcpy(bad, s1, sizeof(*bad));
	bad->rx_len = VIRTIO_CONSOLE_RX_BUF + 1;
	assert_refused(virtio_console_restore(b, bad), -EINVAL, "rx_len");
	memcpy(bad, s1, sizeof(*bad));
	bad->rx_buf[100] = 'x';
	assert_refused(virtio_console_restore(b, bad), -EINVAL, "rx_buf");

	assert_int_equal(virtio_console_restore(b, s1), 0);
	evloop_pause(virtio_console_loop(b));
	assert_int_equal(virtio_console_save(b, s2), 0);
	evloop_resume(virtio_console_loop(b));
	assert_memory_equal(s1, s2, sizeof(*s1));

	/* B shows A's size and hands the staged input to the first buffer. */
	f->t = virtio_console_transport(b);
	virtio_mmio_io(f->t, VIRTIO_MMIO_CONFIG, (uint8_t *)&cols, 2, false);
	assert_int_equal(cols, 132);
	fd_add_chain(f, 0, &in, 1);
	fd_notify(f, 0);
	assert_true(fd_wait_used(f, 0, 1, 2000));
	assert_int_equal(fd_used_elem(f, 0, 0).len, 5);
	assert_memory_equal(fd_host(f, FD_DATA_BASE + 0x1000, 5), "hello", 5);
	virtio_console_destroy(a);
	virtio_console_destroy(b);
	for (int i = 0; i < 2; i++) {
		close(pa[i]);
		close(pb[i]);
	}
	free(s1);
	free(s2);
	free(bad);
}

/* Read exactly len bytes from fd within ms milliseconds; the count read. */
static size_t read_within(int fd, char *buf, size_t len, int ms)
{
	size_t got = 0;

	for (int i = 0; i < ms && got < len; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 1) != 1)
			continue;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Guest output stuck on a full pipe, half written: the save carries it
 * (the chain as not yet taken, and how much of it the host has), so a
 * stalled console no longer fails a snapshot with -EBUSY; the restored
 * device writes exactly the rest. tx_done on a device the driver has not
 * started is refused by name. */
static void test_console_busy(void **state)
{
	struct fake_driver *f = *state;
	struct virtio_env e2 = env_nobus(f);
	int p[2], pb[2], nb;
	struct virtio_console *a, *b;
	struct virtio_console_state *s1 = calloc(1, sizeof(*s1)), *bad = calloc(1, sizeof(*bad));
	struct fd_seg out = { FD_DATA_BASE, 8192, false };
	char junk[4096], *rest = malloc(8192);
	size_t filled = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pb, O_CLOEXEC), 0);
	/* Four pages, all junk, then one read: room for half the chain. */
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 16384) >= 16384);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	memset(junk, 'J', sizeof(junk));
	while ((nb = (int)write(p[1], junk, sizeof(junk))) > 0)
		filled += (size_t)nb;
	fcntl(p[1], F_SETFL, 0);
	assert_int_equal(read(p[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	filled -= sizeof(junk);
	struct virtio_console_cfg cfg = { .out_fd = p[1] }, cfgb = { .out_fd = pb[1] };

	assert_int_equal(virtio_console_create(&a, &cfg, &f->mem), 0);
	assert_int_equal(virtio_console_attach(a, &f->env, FD_MMIO_BASE, 6), 0);
	f->t = virtio_console_transport(a);
	assert_int_equal(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	for (uint32_t i = 0; i < out.len; i++)
		*(char *)fd_host(f, FD_DATA_BASE + i, 1) = (char)('a' + i % 26);
	fd_add_chain(f, 1, &out, 1);
	fd_notify(f, 1);
	usleep(100 * 1000);
	assert_int_equal(fd_used_idx(f, 1), 0);

	evloop_pause(virtio_console_loop(a));
	assert_int_equal(virtio_console_save(a, s1), 0);
	assert_int_equal(s1->transport.vq[1].last_avail, 0);   /* not taken, as far as B knows */
	assert_int_equal(s1->transport.vq[1].used_idx, 0);
	assert_int_equal(s1->tx_done, 4096);

	assert_int_equal(virtio_console_create(&b, &cfgb, &f->mem), 0);
	assert_int_equal(virtio_console_attach(b, &e2, FD_MMIO_BASE, 6), 0);
	memcpy(bad, s1, sizeof(*bad));
	bad->pad = 1;
	assert_refused(virtio_console_restore(b, bad), -EINVAL, "pad");
	memcpy(bad, s1, sizeof(*bad));
	bad->transport.regs.status = 0;
	assert_refused(virtio_console_restore(b, bad), -EINVAL, "tx_done");
	/* B writes the second half, and only that, and returns the chain. */
	assert_int_equal(virtio_console_restore(b, s1), 0);
	assert_int_equal(read_within(pb[0], rest, 8192, 2000), 4096);
	assert_memory_equal(rest, (char *)fd_host(f, FD_DATA_BASE + 4096, 4096), 4096);
	f->t = virtio_console_transport(b);
	assert_true(fd_wait_used(f, 1, 1, 2000));
	/* And A's output is the junk and the first half. */
	while (filled) {
		ssize_t n = read(p[0], junk, sizeof(junk));

		assert_true(n > 0);
		filled -= (size_t)n;
	}
	assert_int_equal(read_within(p[0], rest, 8192, 200), 4096);
	assert_memory_equal(rest, (char *)fd_host(f, FD_DATA_BASE, 4096), 4096);
	virtio_console_destroy(a);
	virtio_console_destroy(b);
	for (int i = 0; i < 2; i++) {
		close(p[i]);
		close(pb[i]);
	}
	free(rest);
	free(s1);
	free(bad);
}

/* ---- net, over a backend that records frames and offloads ---- */

struct fake_be {
	struct net_backend be;
	pthread_mutex_t lock;
	int nsent;
	bool full;
	unsigned offload;
	int offload_calls;
};

static int fb_start(struct net_backend *be, struct evloop *l) { (void)be; (void)l; return 0; }
static void fb_stop(struct net_backend *be) { (void)be; }
static void fb_pause(struct net_backend *be, bool p) { (void)be; (void)p; }
static void fb_close(struct net_backend *be) { (void)be; }

static int fb_send(struct net_backend *be, const struct iovec *iov, int n)
{
	struct fake_be *f = (struct fake_be *)be;
	int r = 0;

	(void)iov;
	(void)n;
	pthread_mutex_lock(&f->lock);
	if (f->full)
		r = -EAGAIN;
	else
		f->nsent++;
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int fb_offload(struct net_backend *be, unsigned o)
{
	struct fake_be *f = (struct fake_be *)be;

	f->offload = o;
	f->offload_calls++;
	return 0;
}

static const struct net_backend_ops fb_ops = {
	.start = fb_start, .stop = fb_stop, .send = fb_send,
	.set_rx_paused = fb_pause, .set_offload = fb_offload, .close = fb_close,
};

static int fb_count(struct fake_be *f)
{
	pthread_mutex_lock(&f->lock);
	int n = f->nsent;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void fb_init(struct fake_be *f, bool vnet_hdr)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->be.ops = &fb_ops;
	f->be.name = "fake";
	f->be.vnet_hdr = vnet_hdr;
	f->be.offload_caps = vnet_hdr ? NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 : 0;
}

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0xaa };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0xbb };

#define NET_FEAT (VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) | \
		  VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | \
		  VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

/* One tx chain: a zero vnet header and a 60-byte frame. */
static void net_tx(struct fake_driver *f)
{
	struct fd_seg s = { FD_DATA_BASE, NET_VNET_HDR_LEN + 60, false };

	memset(fd_host(f, FD_DATA_BASE, s.len), 0, s.len);
	fd_add_chain(f, VIRTIO_NET_TXQ, &s, 1);
	fd_notify(f, VIRTIO_NET_TXQ);
}

static void test_net(void **state)
{
	struct fake_driver *f = *state;
	struct virtio_env e2 = env_nobus(f);
	struct fake_be *fa = calloc(1, sizeof(*fa)), *fb = calloc(1, sizeof(*fb));
	struct fake_be *fc = calloc(1, sizeof(*fc)), *fd4 = calloc(1, sizeof(*fd4));
	struct virtio_net *a, *b, *c, *d4;
	struct virtio_net_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct virtio_net_state *bad = calloc(1, sizeof(*bad));
	uint8_t mac[6];

	fb_init(fa, true);
	fb_init(fb, true);
	fb_init(fc, false);   /* user networking: no offloads offered */
	assert_int_equal(virtio_net_create_with(&a, &fa->be, mac_a, &f->mem), 0);
	assert_int_equal(virtio_net_attach(a, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_net_transport(a);
	assert_int_equal(fd_init(f, 2, 16, NET_FEAT) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(fa->offload, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
	net_tx(f);
	assert_true(fd_wait_used(f, VIRTIO_NET_TXQ, 1, 2000));
	/* The backend fills up: the next frame is held by the device. */
	pthread_mutex_lock(&fa->lock);
	fa->full = true;
	pthread_mutex_unlock(&fa->lock);
	net_tx(f);
	usleep(50 * 1000);
	assert_int_equal(fd_used_idx(f, VIRTIO_NET_TXQ), 1);

	evloop_pause(virtio_net_loop(a));
	assert_int_equal(virtio_net_save(a, s1), 0);
	evloop_resume(virtio_net_loop(a));
	/* The held chain is saved as not taken yet. */
	assert_int_equal(s1->transport.vq[VIRTIO_NET_TXQ].last_avail, 1);
	assert_int_equal(s1->transport.vq[VIRTIO_NET_TXQ].used_idx, 1);
	assert_memory_equal(s1->config.mac, mac_a, 6);

	assert_int_equal(virtio_net_create_with(&b, &fb->be, mac_b, &f->mem), 0);
	assert_int_equal(virtio_net_attach(b, &e2, FD_MMIO_BASE, 5), 0);
	memcpy(bad, s1, sizeof(*bad));
	bad->config.mac[0] = 0x03;
	assert_refused(virtio_net_restore(b, bad), -EINVAL, "config.mac");
	memcpy(bad, s1, sizeof(*bad));
	bad->config.status = 0;
	assert_refused(virtio_net_restore(b, bad), -EINVAL, "config.status");
	memcpy(bad, s1, sizeof(*bad));
	bad->config.max_virtqueue_pairs = 2;
	assert_refused(virtio_net_restore(b, bad), -EINVAL, "config.max_virtqueue_pairs");
	memcpy(bad, s1, sizeof(*bad));
	bad->pad[5] = 1;
	assert_refused(virtio_net_restore(b, bad), -EINVAL, "pad");
	assert_int_equal(fb->offload_calls, 0);

	/* The same state onto a backend without offloads: another device. */
	assert_int_equal(virtio_net_create_with(&c, &fc->be, mac_a, &f->mem), 0);
	assert_int_equal(virtio_net_attach(c, &e2, FD_MMIO_BASE + 0x1000, 6), 0);
	assert_refused(virtio_net_restore(c, s1), -EINVAL, "device_features");

	/* B: offloads re-applied, the held frame sent, A's MAC shown. */
	assert_int_equal(virtio_net_restore(b, s1), 0);
	assert_int_equal(fb->offload, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
	f->t = virtio_net_transport(b);
	assert_true(fd_wait_used(f, VIRTIO_NET_TXQ, 2, 2000));
	assert_int_equal(fb_count(fb), 1);
	for (int i = 0; i < 6; i++)   /* config accesses are 1, 2, 4 or 8 bytes */
		virtio_mmio_io(f->t, VIRTIO_MMIO_CONFIG + i, &mac[i], 1, false);
	assert_memory_equal(mac, mac_a, 6);

	/* With nothing held, save -> restore -> save is byte-identical. */
	evloop_pause(virtio_net_loop(b));
	assert_int_equal(virtio_net_save(b, s2), 0);
	evloop_resume(virtio_net_loop(b));
	fb_init(fd4, true);
	assert_int_equal(virtio_net_create_with(&d4, &fd4->be, mac_b, &f->mem), 0);
	assert_int_equal(virtio_net_attach(d4, &e2, FD_MMIO_BASE + 0x2000, 7), 0);
	assert_int_equal(virtio_net_restore(d4, s2), 0);
	evloop_pause(virtio_net_loop(d4));
	assert_int_equal(virtio_net_save(d4, s1), 0);
	evloop_resume(virtio_net_loop(d4));
	assert_memory_equal(s1, s2, sizeof(*s1));
	/* And it sends the driver's next frame. */
	f->t = virtio_net_transport(d4);
	net_tx(f);
	assert_true(fd_wait_used(f, VIRTIO_NET_TXQ, 3, 2000));
	assert_int_equal(fb_count(fd4), 1);

	virtio_net_destroy(a);
	virtio_net_destroy(b);
	virtio_net_destroy(c);
	virtio_net_destroy(d4);
	free(fd4);
	free(fa);
	free(fb);
	free(fc);
	free(s1);
	free(s2);
	free(bad);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rng),
		T(test_blk),
		T(test_console),
		T(test_console_busy),
		T(test_net),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
