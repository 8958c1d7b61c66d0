/* test_virtio_worker.c - the shared device worker with a toy two-queue
 * device: kicks and watched eventfds reach their handlers drained and on
 * the worker, activate/reset run there, pop re-arms kicks, teardown order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "virtio/worker.h"
#include "virtio_fake_driver.h"

struct toy {
	struct virtio_worker w;
	pthread_t main;
	atomic_bool on_main;          /* some worker-side hook ran on the main thread */
	atomic_int activations, resets, kicks[2], watched;
	atomic_bool reset_on_main;    /* the last reset ran on the main thread */
	atomic_bool kick_undrained;   /* a handler found its eventfd still readable */
	int activate_rc;
	int efd;
	int pokes_left;               /* watched handler pokes itself this often */
	int pop_rc;
	struct vq_chain chain;
	uint8_t config[8];
};

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void note_thread(struct toy *d)
{
	if (pthread_equal(pthread_self(), d->main))
		d->on_main = true;
}

static void toy_serve(struct toy *d, int qi)
{
	struct vq *q = virtio_mmio_vq(&d->w.t, qi);

	note_thread(d);
	if (readable(virtio_mmio_kick_fd(&d->w.t, qi)))
		d->kick_undrained = true;
	d->kicks[qi]++;
	vq_set_notify(q, false);
	while (virtio_worker_pop(&d->w, qi, &d->chain) > 0)
		vq_push(q, d->chain.head, 0);
	virtio_mmio_signal_used(&d->w.t);
}

static void toy_kick0(void *dev) { toy_serve(dev, 0); }
static void toy_kick1(void *dev) { toy_serve(dev, 1); }

static void toy_watched(void *dev)
{
	struct toy *d = dev;

	note_thread(d);
	if (readable(d->efd))
		d->kick_undrained = true;
	d->watched++;
	if (d->pokes_left-- > 0)
		virtio_worker_poke(&d->w, d->efd);
}

static int toy_activate(void *dev)
{
	struct toy *d = dev;

	note_thread(d);
	d->activations++;
	return d->activate_rc;
}

static void toy_reset(void *dev)
{
	struct toy *d = dev;

	d->reset_on_main = pthread_equal(pthread_self(), d->main);
	d->resets++;
}

static void toy_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct toy *d = dev;

	memcpy(data, d->config + off, len);
}

static const struct virtio_dev_ops toy_ops = {
	.name = "virtio-toy",
	.device_id = 42,
	.nr_queues = 2,
	.queue_max = 16,
	.config_size = sizeof(((struct toy *)0)->config),
	.config_read = toy_config_read,
	.activate = toy_activate,
	.reset = toy_reset,
};

static const virtio_worker_fn toy_kicks[] = { toy_kick0, toy_kick1 };

struct rig {
	struct fake_driver f;
	struct toy d;
};

static int rig_up(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(fd_setup(&r->f), 0);
	r->d.main = pthread_self();
	r->d.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(r->d.efd >= 0);
	memcpy(r->d.config, "toycfg!", 8);
	assert_int_equal(virtio_worker_init(&r->d.w, "mvm-toy", "unit", &r->d), 0);
	assert_int_equal(virtio_worker_watch(&r->d.w, r->d.efd, toy_watched), 0);
	assert_int_equal(virtio_worker_attach(&r->d.w, &r->f.env, FD_MMIO_BASE, 5, &toy_ops,
					      toy_kicks), 0);
	r->f.t = &r->d.w.t;
	*state = r;
	return 0;
}

static int rig_down(void **state)
{
	struct rig *r = *state;

	virtio_worker_release(&r->d.w);
	close(r->d.efd);
	fd_teardown(&r->f);
	free(r);
	return 0;
}

static bool wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 20000 && *v < want; i++)
		usleep(100);
	return *v >= want;
}

static void test_kicks_reach_their_queue(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct fd_seg seg = { FD_DATA_BASE, 64, true };

	assert_true(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(r->d.activations, 1);
	fd_add_chain(f, 1, &seg, 1);
	fd_add_chain(f, 1, &seg, 1);
	fd_notify(f, 1);
	assert_true(fd_wait_used(f, 1, 2, 2000));
	assert_int_equal(r->d.kicks[1], 1);
	assert_int_equal(r->d.kicks[0], 0);
	fd_add_chain(f, 0, &seg, 1);
	fd_notify(f, 0);
	assert_true(fd_wait_used(f, 0, 1, 2000));
	assert_true(wait_for(&r->d.kicks[0], 1));
	assert_false(r->d.kick_undrained);
	assert_false(r->d.on_main);
	/* Ring empty again: kicks are back on for the driver. */
	assert_false(fd_used(f, 1)->flags & VIRTQ_USED_F_NO_NOTIFY);
}

static void test_activate_and_reset_on_worker(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;

	assert_true(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_DRIVER_OK);
	assert_false(r->d.on_main);
	fd_wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_true(r->d.resets >= 1);
	assert_false(r->d.reset_on_main);
	/* A failed activate is the transport's NEEDS_RESET. */
	r->d.activate_rc = -EIO;
	assert_true(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(r->d.activations, 2);
}

static void test_config_passes_through(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	uint32_t v = fd_rd(f, VIRTIO_MMIO_CONFIG);

	assert_memory_equal(&v, "toyc", 4);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_CONFIG + 8), 0);   /* past config_size */
}

static void test_watch_and_poke(void **state)
{
	struct rig *r = *state;

	r->d.pokes_left = 3;
	virtio_worker_poke(&r->d.w, r->d.efd);
	assert_true(wait_for(&r->d.watched, 4));
	usleep(20000);
	assert_int_equal(r->d.watched, 4);   /* each poke ran it once more, then it stopped */
	assert_false(r->d.kick_undrained);
	assert_false(r->d.on_main);
}

static void do_pops(void *dev)
{
	struct toy *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, 0);

	vq_set_notify(q, false);
	d->pop_rc = virtio_worker_pop(&d->w, 0, &d->chain);
}

static void test_pop_rearms_and_flags_broken_rings(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct fd_seg seg = { FD_DATA_BASE, 64, true };
	volatile struct virtq_desc *desc;
	uint16_t head;

	assert_true(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_DRIVER_OK);
	/* Empty: 0 with kicks on. */
	virtio_worker_run(&r->d.w, do_pops);
	assert_int_equal(r->d.pop_rc, 0);
	assert_false(fd_used(f, 0)->flags & VIRTQ_USED_F_NO_NOTIFY);
	/* A chain that points outside guest RAM: -EIO and NEEDS_RESET. */
	head = fd_add_chain(f, 0, &seg, 1);
	desc = fd_host(f, f->q[0].desc, 16ULL * f->q[0].size);
	desc[head].addr = FD_MEM_SIZE + 0x1000;
	virtio_worker_run(&r->d.w, do_pops);
	assert_int_equal(r->d.pop_rc, -EIO);
	assert_true(fd_rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_quiesce_then_release(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	int resets;

	assert_true(fd_init(f, 2, 16, 0) & VIRTIO_STATUS_DRIVER_OK);
	resets = r->d.resets;
	virtio_worker_quiesce(&r->d.w);
	/* The detach's reset ran here, the worker being stopped first. */
	assert_true(r->d.resets > resets);
	assert_true(r->d.reset_on_main);
	assert_false(r->d.w.attached);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0);   /* window gone */
	resets = r->d.resets;
	virtio_worker_quiesce(&r->d.w);
	assert_int_equal(r->d.resets, resets);
	virtio_worker_release(&r->d.w);
	virtio_worker_release(&r->d.w);   /* rig_down releases once more */
}

static void test_release_unfinished(void **state)
{
	struct virtio_worker w;

	memset(&w, 0, sizeof(w));
	virtio_worker_release(&w);   /* never initialised */
	assert_int_equal(virtio_worker_init(&w, "mvm-toy", NULL, NULL), 0);
	virtio_worker_quiesce(&w);   /* initialised, never attached */
	virtio_worker_release(&w);
	virtio_worker_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kicks_reach_their_queue, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_activate_and_reset_on_worker, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_config_passes_through, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_watch_and_poke, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_pop_rearms_and_flags_broken_rings, rig_up,
						rig_down),
		cmocka_unit_test_setup_teardown(test_quiesce_then_release, rig_up, rig_down),
		cmocka_unit_test(test_release_unfinished),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
