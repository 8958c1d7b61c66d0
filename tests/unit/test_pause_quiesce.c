/* test_pause_quiesce.c - a quiesced device no longer touches guest memory: what
 * it had in flight completed and was pushed before quiesce returned (the
 * device kind's quiesce, which vm_pause() calls for every device), for each
 * device that writes guest memory from a host thread: blk, rng, vsock here,
 * console and net in test_quiesce_held. Guest RAM is checksummed after
 * quiesce and again after a wait, with host I/O still arriving: equal. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/device.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#include "virtio/vsock_proto.h"
#include "virtio_fake_driver.h"

#define IMAGE_BYTES (64ULL << 20)

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static void flush_req(struct fake_driver *f)
{
	struct blk_hdr *h = fd_host(f, FD_DATA_BASE, sizeof(*h));
	struct fd_seg segs[] = {
		{ FD_DATA_BASE, sizeof(*h), false },
		{ FD_DATA_BASE + 0x100, 1, true },
	};

	*h = (struct blk_hdr){ .type = VIRTIO_BLK_T_FLUSH };
	*(uint8_t *)fd_host(f, FD_DATA_BASE + 0x100, 1) = 0xff;
	fd_add_chain(f, 0, segs, 2);
	fd_notify(f, 0);
}

/* The device wrote avail_event (EVENT_IDX) once it had taken the chain. */
static bool wait_taken(struct fake_driver *f, uint16_t qsize, uint16_t n, int ms)
{
	volatile uint16_t *avail_event = fd_host(f, f->q[0].used + 4 + 8ULL * qsize, 2);

	for (int i = 0; i < ms; i++) {
		if (*avail_event >= n)
			return true;
		usleep(1000);
	}
	return false;
}

/* A FLUSH behind 64 MiB of dirty page cache is still in the kernel when
 * quiesce is asked for: quiesce waits for it, pushes its status and used
 * entry, and afterwards guest RAM does not change. */
static void test_blk_quiesce_drains(void **state)
{
	struct fake_driver *f = calloc(1, sizeof(*f));
	char path[] = "/var/tmp/mvm-quiesce-XXXXXX";
	int fd = mkstemp(path);
	struct virtio_blk_cfg cfg = { .path = path, .id = "q" };
	struct virtio_blk *d;
	char *junk = malloc(1 << 20);
	uint64_t c1, c2;
	uint16_t used1;

	assert_non_null(f);
	assert_non_null(junk);
	assert_true(fd >= 0);
	assert_int_equal(fd_setup(f), 0);
	memset(junk, 0xa5, 1 << 20);
	for (uint64_t off = 0; off < IMAGE_BYTES; off += 1 << 20)
		assert_int_equal(pwrite(fd, junk, 1 << 20, (off_t)off), 1 << 20);
	assert_int_equal(virtio_blk_create(&d, &cfg, &f->mem), 0);
	assert_int_equal(virtio_blk_attach(d, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_blk_transport(d);
	assert_int_equal(fd_init(f, 1, 16, VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
				 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* More dirty data, so the FLUSH has something to wait for. */
	for (uint64_t off = 0; off < IMAGE_BYTES; off += 1 << 20)
		assert_int_equal(pwrite(fd, junk, 1 << 20, (off_t)off), 1 << 20);

	flush_req(f);
	assert_true(wait_taken(f, 16, 1, 5000));
	assert_int_equal(virtio_blk_kind.quiesce(d, 10000), 0);
	c1 = fd_ram_checksum(f);
	used1 = fd_used_idx(f, 0);
	/* Completed and pushed before quiesce returned. */
	assert_int_equal(used1, 1);
	assert_int_equal(*(uint8_t *)fd_host(f, FD_DATA_BASE + 0x100, 1), VIRTIO_BLK_S_OK);
	usleep(300 * 1000);
	c2 = fd_ram_checksum(f);
	assert_true(c1 == c2);
	assert_int_equal(fd_used_idx(f, 0), used1);

	/* Work the guest offers while quiesced waits, and runs after resume. */
	flush_req(f);
	usleep(100 * 1000);
	assert_int_equal(fd_used_idx(f, 0), 1);
	virtio_blk_kind.resume(d);
	assert_true(fd_wait_used(f, 0, 2, 5000));

	virtio_blk_destroy(d);
	close(fd);
	unlink(path);
	free(junk);
	fd_teardown(f);
	free(f);
}

/* Every used entry below the used index names a chain the test posted and
 * carries the length the device filled: pushed whole, not half. */
static void assert_used_complete(struct fake_driver *f, int qi, uint16_t n, uint32_t len)
{
	for (uint16_t i = 0; i < n; i++) {
		struct virtq_used_elem e = fd_used_elem(f, qi, i);

		assert_true(e.id < f->q[qi].size);
		assert_int_equal(e.len, len);
	}
}

/* Guest RAM and the used index of qi stay the same for 300 ms. */
static void assert_ram_still(struct fake_driver *f, int qi)
{
	uint64_t c1 = fd_ram_checksum(f);
	uint16_t used = fd_used_idx(f, qi);

	usleep(300 * 1000);
	assert_true(fd_ram_checksum(f) == c1);
	assert_int_equal(fd_used_idx(f, qi), used);
}

/* ---- rng: a full queue of requests, served in batches ---- */

#define RNG_CHAINS 256
#define RNG_LEN    16384

static void test_rng_quiesce(void **state)
{
	struct fake_driver *f = calloc(1, sizeof(*f));
	struct virtio_rng *d;
	uint16_t used;

	assert_non_null(f);
	assert_int_equal(fd_setup(f), 0);
	assert_int_equal(virtio_rng_create(&d, NULL, &f->mem), 0);
	assert_int_equal(virtio_rng_attach(d, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_rng_transport(d);
	assert_int_equal(fd_init(f, 1, RNG_CHAINS, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	for (int i = 0; i < RNG_CHAINS; i++) {
		struct fd_seg s = { FD_DATA_BASE + (uint64_t)i * RNG_LEN, RNG_LEN, true };

		fd_add_chain(f, 0, &s, 1);
	}
	fd_notify(f, 0);   /* the worker is at it, 64 chains a wake-up */
	assert_true(fd_wait_used(f, 0, 1, 2000));
	assert_int_equal(virtio_rng_kind.quiesce(d, 5000), 0);
	used = fd_used_idx(f, 0);
	assert_used_complete(f, 0, used, RNG_LEN);
	assert_ram_still(f, 0);
	/* Resumed, it serves the rest without another kick. */
	virtio_rng_kind.resume(d);
	assert_true(fd_wait_used(f, 0, RNG_CHAINS, 5000));
	assert_used_complete(f, 0, RNG_CHAINS, RNG_LEN);
	virtio_rng_destroy(d);
	fd_teardown(f);
	free(f);
}

/* ---- vsock: a host client streaming to the guest across the pause ---- */

#define VS_CID   42
#define VS_QSIZE 64
#define VS_RX_LEN (VSOCK_HDR_LEN + 4096)
#define VS_RX_GPA(i) (FD_DATA_BASE + (uint64_t)(i) * 0x2000)
#define VS_TX_GPA (FD_DATA_BASE + 0x200000)
#define VS_CHUNKS 30

struct vs_writer {
	int fd;
	atomic_int sent;
};

/* 64 bytes every 20 ms: data keeps arriving while the VM is paused. */
static void *vs_write(void *arg)
{
	struct vs_writer *w = arg;
	char chunk[64];

	memset(chunk, 'v', sizeof(chunk));
	for (int i = 0; i < VS_CHUNKS; i++) {
		if (write(w->fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			break;
		atomic_fetch_add(&w->sent, 1);
		usleep(20 * 1000);
	}
	return NULL;
}

/* The client's CONNECT, the device's REQUEST in rx, the guest's RESPONSE
 * in tx, the device's "OK" to the client. */
static int vs_connect(struct fake_driver *f, const char *uds, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_hdr h, resp;
	struct fd_seg tx = { VS_TX_GPA, VSOCK_HDR_LEN, false };
	char line[32];
	size_t got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(dprintf(fd, "CONNECT %u\n", port) > 0);
	assert_true(fd_wait_used(f, 0, 1, 2000));
	memcpy(&h, fd_host(f, VS_RX_GPA(fd_used_elem(f, 0, 0).id), sizeof(h)), sizeof(h));
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	resp = (struct vsock_hdr){ .src_cid = VS_CID, .dst_cid = VSOCK_HOST_CID,
				   .src_port = port, .dst_port = h.src_port,
				   .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RESPONSE,
				   .buf_alloc = 256 * 1024 };
	memcpy(fd_host(f, VS_TX_GPA, VSOCK_HDR_LEN), &resp, VSOCK_HDR_LEN);
	fd_add_chain(f, 1, &tx, 1);
	fd_notify(f, 1);
	assert_true(fd_wait_used(f, 1, 1, 2000));
	while (got < 4 || line[got - 1] != '\n') {
		ssize_t n = read(fd, line + got, 1);

		assert_int_equal(n, 1);
		got++;
		assert_true(got < sizeof(line));
	}
	assert_memory_equal(line, "OK ", 3);
	return fd;
}

static void test_vsock_quiesce(void **state)
{
	struct fake_driver *f = calloc(1, sizeof(*f));
	char dir[] = "/tmp/mvm-pq-XXXXXX", uds[108];
	struct virtio_vsock_cfg cfg = { .guest_cid = VS_CID, .handshake_ms = 2000 };
	struct vs_writer w = { .fd = -1 };
	struct virtio_vsock *d;
	pthread_t t;
	uint16_t used;

	assert_non_null(f);
	assert_non_null(mkdtemp(dir));
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	cfg.uds_path = uds;
	assert_int_equal(fd_setup(f), 0);
	assert_int_equal(virtio_vsock_create(&d, &cfg, &f->mem), 0);
	assert_int_equal(virtio_vsock_attach(d, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_vsock_transport(d);
	assert_int_equal(fd_init(f, 3, VS_QSIZE, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	for (int i = 0; i < VS_QSIZE - 1; i++) {
		struct fd_seg s = { VS_RX_GPA(i), VS_RX_LEN, true };

		fd_add_chain(f, 0, &s, 1);
	}
	fd_notify(f, 0);
	w.fd = vs_connect(f, uds, 1234);
	atomic_init(&w.sent, 0);
	assert_int_equal(pthread_create(&t, NULL, vs_write, &w), 0);
	assert_true(fd_wait_used(f, 0, 3, 2000));   /* the REQUEST and two data packets */

	assert_int_equal(virtio_vsock_kind.quiesce(d, 5000), 0);
	used = fd_used_idx(f, 0);
	/* Each packet pushed whole: its header says what its used length says. */
	for (uint16_t i = 0; i < used; i++) {
		struct virtq_used_elem e = fd_used_elem(f, 0, i);
		const struct vsock_hdr *h = fd_host(f, VS_RX_GPA(e.id), VSOCK_HDR_LEN);

		assert_int_equal(e.len, VSOCK_HDR_LEN + h->len);
	}
	assert_ram_still(f, 0);
	assert_true(atomic_load(&w.sent) < VS_CHUNKS);   /* it was writing meanwhile */
	virtio_vsock_kind.resume(d);
	/* What arrived during the pause reaches the guest now. */
	assert_true(fd_wait_used(f, 0, (uint16_t)(used + 1), 2000));
	pthread_join(t, NULL);
	close(w.fd);
	virtio_vsock_destroy(d);
	fd_teardown(f);
	rmdir(dir);
	free(f);
}

/* A quiesced device's worker still answers run_sync (a paused VM's
 * counters): it used to wait for a resume that the caller held. */
static void sync_fn(void *arg)
{
	*(int *)arg = 42;
}

static void test_parked_loop_serves_sync(void **state)
{
	struct evloop l;
	int v = 0;

	assert_int_equal(evloop_init(&l, "test"), 0);
	assert_int_equal(evloop_start(&l), 0);
	evloop_pause(&l);
	alarm(10);   /* the old deadlock would hang here: die loudly instead */
	evloop_run_sync(&l, sync_fn, &v);
	alarm(0);
	assert_int_equal(v, 42);
	evloop_resume(&l);
	evloop_stop(&l);
	evloop_destroy(&l);
}

/* A worker stuck in a callback cannot park: the timed pause gives up,
 * undoes itself, and the loop carries on once the callback returns. */
static int blocker_fd = -1;
static volatile int blocker_runs;

static void blocker(void *opaque, uint32_t events)
{
	uint64_t v;

	(void)!read(blocker_fd, &v, sizeof(v));
	blocker_runs++;
	if (blocker_runs == 1)
		sleep(1);
}

static void test_pause_timed_gives_up(void **state)
{
	struct evloop l;
	struct timespec t0, t1;
	uint64_t one = 1;
	int v = 0;

	blocker_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(blocker_fd >= 0);
	assert_int_equal(evloop_init(&l, "test"), 0);
	assert_int_equal(evloop_add(&l, blocker_fd, EPOLLIN, blocker, NULL), 0);
	assert_int_equal(evloop_start(&l), 0);
	assert_int_equal(write(blocker_fd, &one, 8), 8);
	usleep(100 * 1000);            /* the callback is in its sleep */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(evloop_pause_timed(&l, 200), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 800);
	/* Not left paused: the next event is served after the sleep ends. */
	assert_int_equal(write(blocker_fd, &one, 8), 8);
	for (int i = 0; i < 300 && blocker_runs < 2; i++)
		usleep(10 * 1000);
	assert_int_equal(blocker_runs, 2);
	/* And an ordinary timed pause of an idle loop succeeds. */
	assert_int_equal(evloop_pause_timed(&l, 1000), 0);
	evloop_run_sync(&l, sync_fn, &v);
	assert_int_equal(v, 42);
	evloop_resume(&l);
	evloop_stop(&l);
	evloop_destroy(&l);
	close(blocker_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_quiesce_drains),
		cmocka_unit_test(test_rng_quiesce),
		cmocka_unit_test(test_vsock_quiesce),
		cmocka_unit_test(test_parked_loop_serves_sync),
		cmocka_unit_test(test_pause_timed_gives_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
