/* test_pause_quiesce.c - a quiesced device no longer touches guest memory: what
 * it had in flight completed and was pushed before quiesce returned (the
 * device kind's quiesce, which vm_pause() calls for every device). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/device.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/blk.h"
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
		cmocka_unit_test(test_parked_loop_serves_sync),
		cmocka_unit_test(test_pause_timed_gives_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
