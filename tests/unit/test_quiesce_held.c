/* test_quiesce_held.c - what a device holds when the VM pauses: quiesce
 * makes one non-blocking attempt to finish it (console output a stalled
 * stdout now takes, a tx frame the backend now takes, rx frames for which
 * the guest has now posted buffers), pushes what it finished before
 * returning, and then leaves guest RAM alone; the chains behind a held one
 * are served after resume. Each case holds the worker first (as a pause
 * that lands between the host becoming ready and the worker seeing it). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/device.h"
#include "util/evloop.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio_fake_driver.h"

#define TXQ 1

static size_t read_within(int fd, uint8_t *buf, size_t len, int ms)
{
	size_t got = 0;

	for (int i = 0; i < ms && got < len; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1) != 1)
			continue;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Guest RAM stays the same for 200 ms, and the used index of qi with it. */
static void assert_ram_still(struct fake_driver *f, int qi)
{
	uint64_t c1 = fd_ram_checksum(f);
	uint16_t used = fd_used_idx(f, qi);

	usleep(200 * 1000);
	assert_true(fd_ram_checksum(f) == c1);
	assert_int_equal(fd_used_idx(f, qi), used);
}

/* ---- console: output held by a full pipe ---- */

static void test_console_held_output_flushed(void **state)
{
	struct fake_driver *f = calloc(1, sizeof(*f));
	struct virtio_console *d;
	struct fd_seg s1 = { FD_DATA_BASE, 3000, false }, s2 = { FD_DATA_BASE + 0x1000, 100, false };
	uint8_t junk[4096], got[3100];
	size_t filled = 0;
	uint16_t old;
	int p[2], nb;

	assert_non_null(f);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	memset(junk, 'J', sizeof(junk));
	while ((nb = (int)write(p[1], junk, sizeof(junk))) > 0)
		filled += (size_t)nb;
	fcntl(p[1], F_SETFL, 0);
	struct virtio_console_cfg cfg = { .out_fd = p[1] };

	assert_int_equal(fd_setup(f), 0);
	assert_int_equal(virtio_console_create(&d, &cfg, &f->mem), 0);
	assert_int_equal(virtio_console_attach(d, &f->env, FD_MMIO_BASE, 6), 0);
	f->t = virtio_console_transport(d);
	assert_int_equal(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	memset(fd_host(f, s1.gpa, s1.len), 'a', s1.len);
	memset(fd_host(f, s2.gpa, s2.len), 'b', s2.len);
	fd_add_chain(f, TXQ, &s1, 1);
	fd_notify(f, TXQ);
	usleep(100 * 1000);
	assert_int_equal(fd_used_idx(f, TXQ), 0);   /* held: stdout is stalled */
	/* The next chain, posted while the device asked for no kicks. */
	old = f->q[TXQ].avail_idx;
	fd_add_chain(f, TXQ, &s2, 1);
	assert_false(fd_notify_if_needed(f, TXQ, old, false));

	/* The worker is held; then the host reads everything. */
	evloop_pause(virtio_console_loop(d));
	while (filled) {
		ssize_t n = read(p[0], junk, filled < sizeof(junk) ? filled : sizeof(junk));

		assert_true(n > 0);
		filled -= (size_t)n;
	}
	assert_int_equal(virtio_console_kind.quiesce(d, 1000), 0);
	/* Written and pushed before quiesce returned. */
	assert_int_equal(fd_used_idx(f, TXQ), 1);
	assert_int_equal(read_within(p[0], got, sizeof(got), 1000), 3000);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(got[i], 'a');
	assert_ram_still(f, TXQ);

	/* The chain behind it goes on resume, with no kick from the guest. */
	virtio_console_kind.resume(d);
	assert_true(fd_wait_used(f, TXQ, 2, 2000));
	assert_int_equal(read_within(p[0], got, 100, 1000), 100);
	assert_int_equal(got[99], 'b');

	virtio_console_destroy(d);
	close(p[0]);
	close(p[1]);
	fd_teardown(f);
	free(f);
}

/* Still stalled at quiesce: the chain stays held (the state carries it,
 * test_state_devices), and nothing is written to guest RAM. */
static void test_console_still_stalled_held(void **state)
{
	struct fake_driver *f = calloc(1, sizeof(*f));
	struct virtio_console *d;
	struct fd_seg s1 = { FD_DATA_BASE, 3000, false };
	uint8_t junk[4096];
	int p[2];

	assert_non_null(f);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	memset(junk, 'J', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	fcntl(p[1], F_SETFL, 0);
	struct virtio_console_cfg cfg = { .out_fd = p[1] };

	assert_int_equal(fd_setup(f), 0);
	assert_int_equal(virtio_console_create(&d, &cfg, &f->mem), 0);
	assert_int_equal(virtio_console_attach(d, &f->env, FD_MMIO_BASE, 6), 0);
	f->t = virtio_console_transport(d);
	assert_int_equal(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fd_add_chain(f, TXQ, &s1, 1);
	fd_notify(f, TXQ);
	usleep(100 * 1000);
	assert_int_equal(virtio_console_kind.quiesce(d, 1000), 0);
	assert_int_equal(fd_used_idx(f, TXQ), 0);
	assert_ram_still(f, TXQ);
	virtio_console_kind.resume(d);
	virtio_console_destroy(d);
	close(p[0]);
	close(p[1]);
	fd_teardown(f);
	free(f);
}

/* ---- net, over a backend that can be full and can deliver frames ---- */

struct fake_be {
	struct net_backend be;
	pthread_mutex_t lock;
	int nsent;
	bool full;
};

static int fb_start(struct net_backend *be, struct evloop *l) { return 0; }
static void fb_stop(struct net_backend *be) { }
static void fb_pause(struct net_backend *be, bool p) { }
static void fb_close(struct net_backend *be) { }

static int fb_send(struct net_backend *be, const struct iovec *iov, int n)
{
	struct fake_be *f = (struct fake_be *)be;
	int r = 0;

	pthread_mutex_lock(&f->lock);
	if (f->full)
		r = -EAGAIN;
	else
		f->nsent++;
	pthread_mutex_unlock(&f->lock);
	return r;
}

static const struct net_backend_ops fb_ops = {
	.start = fb_start, .stop = fb_stop, .send = fb_send,
	.set_rx_paused = fb_pause, .close = fb_close,
};

static void fb_set_full(struct fake_be *f, bool full)
{
	pthread_mutex_lock(&f->lock);
	f->full = full;
	pthread_mutex_unlock(&f->lock);
}

static int fb_count(struct fake_be *f)
{
	pthread_mutex_lock(&f->lock);
	int n = f->nsent;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x11 };

#define NET_FEAT (VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) | \
		  VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

struct net_rig {
	struct fake_driver f;
	struct fake_be be;
	struct virtio_net *d;
};

static struct net_rig *net_rig_up(void)
{
	struct net_rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	pthread_mutex_init(&r->be.lock, NULL);
	r->be.be.ops = &fb_ops;
	r->be.be.name = "fake";
	assert_int_equal(fd_setup(&r->f), 0);
	assert_int_equal(virtio_net_create_with(&r->d, &r->be.be, mac, &r->f.mem), 0);
	assert_int_equal(virtio_net_attach(r->d, &r->f.env, FD_MMIO_BASE, 5), 0);
	r->f.t = virtio_net_transport(r->d);
	assert_int_equal(fd_init(&r->f, 2, 16, NET_FEAT) & VIRTIO_STATUS_NEEDS_RESET, 0);
	return r;
}

static void net_rig_down(struct net_rig *r)
{
	virtio_net_destroy(r->d);
	fd_teardown(&r->f);
	pthread_mutex_destroy(&r->be.lock);
	free(r);
}

/* One tx chain at gpa: a zero header and a 60-byte frame. */
static void net_tx_post(struct fake_driver *f, uint64_t gpa)
{
	struct fd_seg s = { gpa, NET_VNET_HDR_LEN + 60, false };

	memset(fd_host(f, gpa, s.len), 0, s.len);
	fd_add_chain(f, VIRTIO_NET_TXQ, &s, 1);
}

/* A tx frame the backend would not take: taken at quiesce once it can. */
static void test_net_held_tx_sent(void **state)
{
	struct net_rig *r = net_rig_up();
	struct fake_driver *f = &r->f;
	uint16_t old;

	fb_set_full(&r->be, true);
	net_tx_post(f, FD_DATA_BASE);
	fd_notify(f, VIRTIO_NET_TXQ);
	usleep(50 * 1000);
	assert_int_equal(fd_used_idx(f, VIRTIO_NET_TXQ), 0);
	old = f->q[VIRTIO_NET_TXQ].avail_idx;
	net_tx_post(f, FD_DATA_BASE + 0x1000);
	assert_false(fd_notify_if_needed(f, VIRTIO_NET_TXQ, old, true));

	evloop_pause(virtio_net_loop(r->d));
	fb_set_full(&r->be, false);
	assert_int_equal(virtio_net_kind.quiesce(r->d, 1000), 0);
	assert_int_equal(fd_used_idx(f, VIRTIO_NET_TXQ), 1);
	assert_int_equal(fb_count(&r->be), 1);
	assert_ram_still(f, VIRTIO_NET_TXQ);
	assert_int_equal(fb_count(&r->be), 1);

	virtio_net_kind.resume(r->d);
	assert_true(fd_wait_used(f, VIRTIO_NET_TXQ, 2, 2000));
	assert_int_equal(fb_count(&r->be), 2);
	net_rig_down(r);
}

/* Frames from the backend into the device, on its worker (as a backend's
 * callback runs). */
struct rx_inject {
	struct net_backend *be;
	int n;
};

static void rx_inject_fn(void *arg)
{
	struct rx_inject *in = arg;
	uint8_t frame[64];

	for (int i = 0; i < in->n; i++) {
		memset(frame, 0x40 + i, sizeof(frame));
		in->be->rx(in->be->opaque, frame, sizeof(frame));
	}
}

/* rx frames waiting for buffers the guest has posted (its kick not yet
 * served): delivered at quiesce; none left to drop in a snapshot. */
static void test_net_pending_rx_delivered(void **state)
{
	struct net_rig *r = net_rig_up();
	struct fake_driver *f = &r->f;
	struct rx_inject in = { &r->be.be, 2 };

	evloop_run_sync(virtio_net_loop(r->d), rx_inject_fn, &in);
	assert_int_equal(fd_used_idx(f, 0), 0);   /* no rx buffers: both wait */

	evloop_pause(virtio_net_loop(r->d));
	for (int i = 0; i < 2; i++) {
		struct fd_seg s = { FD_DATA_BASE + 0x10000 + (uint64_t)i * 0x1000, 2048, true };

		fd_add_chain(f, 0, &s, 1);
	}
	fd_notify(f, 0);   /* waits in the kick eventfd: the worker is held */
	assert_int_equal(virtio_net_kind.quiesce(r->d, 1000), 0);
	assert_int_equal(fd_used_idx(f, 0), 2);
	assert_int_equal(fd_used_elem(f, 0, 0).len, NET_VNET_HDR_LEN + 64);
	assert_int_equal(*(uint8_t *)fd_host(f, FD_DATA_BASE + 0x11000 + NET_VNET_HDR_LEN, 1),
			 0x41);
	assert_ram_still(f, 0);
	virtio_net_kind.resume(r->d);
	net_rig_down(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console_held_output_flushed),
		cmocka_unit_test(test_console_still_stalled_held),
		cmocka_unit_test(test_net_held_tx_sent),
		cmocka_unit_test(test_net_pending_rx_delivered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
