/* test_state_virtio.c - virtqueue and virtio-mmio transport state: a fake
 * driver brings a queue up and gets requests served, the transport is saved,
 * restored into a fresh one (same guest RAM) and saved again byte for byte,
 * the driver's next request completes on the restored queue, and every
 * corrupted field is refused with a message naming it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/log.h"
#include "virtio_fake_driver.h"

#define QMAX  16
#define QSIZE 8
#define FEAT_OFFERED VIRTIO_BIT(5)

static char logbuf[8192];

static void capture(enum log_level l, const char *m, void *c)
{
	size_t n = strlen(logbuf);

	(void)l;
	(void)c;
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", m);
}

#define assert_refused(call, err, field) do {				\
	logbuf[0] = 0;							\
	assert_int_equal((call), (err));				\
	assert_non_null(strstr(logbuf, field));				\
} while (0)

/* ---- a device the test drives by hand: it serves queue 0 on demand ---- */

struct dev {
	int activates, resets;
};

static int dev_activate(void *p)
{
	((struct dev *)p)->activates++;
	return 0;
}

static void dev_reset(void *p)
{
	((struct dev *)p)->resets++;
}

static const struct virtio_dev_ops dev_ops = {
	.name = "fake",
	.device_id = VIRTIO_ID_RNG,
	.features = FEAT_OFFERED,
	.nr_queues = 2,
	.queue_max = QMAX,
	.activate = dev_activate,
	.reset = dev_reset,
};

struct rig {
	struct fake_driver f;
	struct virtio_mmio t1, t2;
	struct dev d1, d2;
	struct virtio_env env2;   /* same RAM, no bus: t2 is reached directly */
};

static int rig_up(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(fd_setup(&r->f), 0);
	assert_int_equal(virtio_mmio_attach(&r->t1, &r->f.env, FD_MMIO_BASE, 5, &dev_ops, &r->d1), 0);
	r->env2 = r->f.env;
	r->env2.mmio = NULL;
	assert_int_equal(virtio_mmio_attach(&r->t2, &r->env2, FD_MMIO_BASE, 5, &dev_ops, &r->d2), 0);
	r->f.t = &r->t1;
	logbuf[0] = 0;
	log_set_sink(capture, NULL);
	*state = r;
	return 0;
}

static int rig_down(void **state)
{
	struct rig *r = *state;

	log_set_sink(NULL, NULL);
	virtio_mmio_detach(&r->t1);
	virtio_mmio_detach(&r->t2);
	fd_teardown(&r->f);
	free(r);
	return 0;
}

/* The device side: take every available chain of queue 0, answer each with
 * its out_len as the used length. Returns how many. */
static int serve(struct virtio_mmio *t)
{
	struct vq *q = virtio_mmio_vq(t, 0);
	static struct vq_chain c;
	int n = 0;

	while (vq_pop(q, &c) == 1) {
		vq_push(q, c.head, c.out_len + 1);
		n++;
	}
	if (n && vq_needs_interrupt(q))
		virtio_mmio_signal_used(t);
	return n;
}

static void submit(struct fake_driver *f, uint32_t len)
{
	struct fd_seg s[] = { { FD_DATA_BASE, len, false }, { FD_DATA_BASE + 0x1000, 16, true } };

	fd_add_chain(f, 0, s, 2);
}

/* The driver brings both queues up with EVENT_IDX; three requests are
 * served; the config generation moved; an interrupt is pending. */
static void busy(struct rig *r)
{
	struct fake_driver *f = &r->f;

	assert_int_equal(fd_init(f, 2, QSIZE, VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | FEAT_OFFERED) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	for (uint32_t i = 0; i < 3; i++)
		submit(f, 10 + i);
	assert_int_equal(serve(&r->t1), 3);
	virtio_mmio_config_changed(&r->t1);
	fd_wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);   /* left selecting queue 1 */
	fd_wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(r->d1.activates, 1);
}

static void test_transport_roundtrip(void **state)
{
	struct rig *r = *state;
	struct fake_driver *f = &r->f;
	struct virtio_mmio_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct virtq_used_elem e;

	busy(r);
	assert_int_equal(virtio_mmio_save(&r->t1, s1), 0);
	assert_int_equal(s1->vq[0].size, QSIZE);
	assert_int_equal(s1->vq[0].last_avail, 3);
	assert_int_equal(s1->vq[0].used_idx, 3);
	assert_int_equal(s1->vq[0].event_idx, 1);
	assert_int_equal(s1->regs.queue_sel, 1);
	assert_int_equal(s1->regs.config_generation, 1);
	assert_true(s1->regs.interrupt_status & VIRTIO_MMIO_INT_CONFIG);

	assert_int_equal(virtio_mmio_restore(&r->t2, s1), 0);
	assert_int_equal(r->d2.activates, 1);     /* DRIVER_OK activated the device */
	assert_true(fd_irq_raised(&(struct fake_driver){ .t = &r->t2 }));  /* pending irq re-sent */
	assert_int_equal(virtio_mmio_save(&r->t2, s2), 0);
	assert_memory_equal(s1, s2, sizeof(*s1));

	/* The driver now talks to the restored transport: registers read back... */
	f->t = &r->t2;
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_STATUS), s1->regs.status);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_QUEUE_READY), 1);   /* queue 1 selected */
	assert_int_equal(fd_rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1);   /* VERSION_1, word 1 */
	/* ...and one more request completes where the ring left off. */
	submit(f, 40);
	assert_int_equal(serve(&r->t2), 1);
	assert_int_equal(fd_used_idx(f, 0), 4);
	e = fd_used_elem(f, 0, 3);
	assert_int_equal(e.len, 41);
	free(s1);
	free(s2);
}

/* An in-flight chain (popped, not yet used) survives in the indexes: the
 * restored device does not take it again, and it may still complete. */
static void test_vq_inflight(void **state)
{
	struct rig *r = *state;
	struct virtio_mmio_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct vq_chain *c = calloc(1, sizeof(*c));

	busy(r);
	submit(&r->f, 50);
	assert_int_equal(vq_pop(virtio_mmio_vq(&r->t1, 0), c), 1);
	assert_int_equal(virtio_mmio_save(&r->t1, s1), 0);
	assert_int_equal((uint16_t)(s1->vq[0].last_avail - s1->vq[0].used_idx), 1);
	assert_int_equal(virtio_mmio_restore(&r->t2, s1), 0);
	assert_int_equal(virtio_mmio_save(&r->t2, s2), 0);
	assert_memory_equal(s1, s2, sizeof(*s1));
	assert_int_equal(vq_has_avail(virtio_mmio_vq(&r->t2, 0)), false);
	vq_push(virtio_mmio_vq(&r->t2, 0), c->head, 7);
	assert_int_equal(fd_used_idx(&r->f, 0), 4);
	free(c);
	free(s1);
	free(s2);
}

/* Each corrupted field: refused, message names it, t2 stays reset. */
static void test_transport_refused(void **state)
{
	struct rig *r = *state;
	struct virtio_mmio_state *good = calloc(1, sizeof(*good)), *bad = calloc(1, sizeof(*bad));
	const uint32_t ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;

	busy(r);
	assert_int_equal(virtio_mmio_save(&r->t1, good), 0);

#define BAD(stmt, err, field) do { memcpy(bad, good, sizeof(*bad)); stmt; \
	assert_refused(virtio_mmio_restore(&r->t2, bad), err, field); \
	assert_int_equal(r->t2.regs.status, 0); \
	assert_false(vq_enabled(virtio_mmio_vq(&r->t2, 0))); } while (0)
	BAD(bad->regs.status |= 0x10, -EINVAL, "status");
	BAD(bad->regs.status = ok & ~VIRTIO_STATUS_FEATURES_OK, -EINVAL, "status");
	BAD(bad->regs.status = VIRTIO_STATUS_DRIVER, -EINVAL, "status");
	BAD(bad->regs.device_features |= VIRTIO_BIT(6), -EINVAL, "device_features");
	BAD(bad->regs.driver_features |= VIRTIO_BIT(7), -EINVAL, "driver_features");
	BAD(bad->regs.driver_features &= ~VIRTIO_BIT(VIRTIO_F_VERSION_1), -EINVAL, "driver_features");
	BAD(bad->regs.status = 0; memset(bad->regs.queues, 0, sizeof(bad->regs.queues));
	    memset(bad->vq, 0, sizeof(bad->vq)), -EINVAL, "driver_features");
	BAD(bad->regs.interrupt_status |= 4, -EINVAL, "interrupt_status");
	BAD(bad->regs.queues[0].ready = 2, -EINVAL, "queues[0].ready");
	BAD(bad->regs.queues[1].pad[2] = 1, -EINVAL, "queues[1].pad");
	BAD(bad->regs.queues[0].num = bad->vq[0].size = 6, -EINVAL, "queues[0].num");
	BAD(bad->regs.queues[0].num = bad->vq[0].size = 2 * QMAX, -EINVAL, "queues[0].num");
	BAD(bad->regs.queues[2].num = 4, -EINVAL, "queues[2]");
	BAD(bad->vq[3].size = 4, -EINVAL, "queues[3]");
	BAD(bad->regs.queues[1].ready = 0, -EINVAL, "vq[1].size");
	BAD(bad->vq[0].size = 4, -EINVAL, "vq[0].size");
	BAD(bad->vq[0].used_gpa += 0x100, -EINVAL, "vq[0].size");
	BAD(bad->vq[0].event_idx = 0, -EINVAL, "vq[0].event_idx");
	BAD(bad->vq[0].indirect = 1, -EINVAL, "vq[0].indirect");
	/* A ready queue needs FEATURES_OK, as QueueReady does. */
	BAD(bad->regs.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, -EINVAL,
	    "queues[0].ready");
	/* Ring addresses go through vq_enable(): outside RAM, or misaligned. */
	BAD(bad->regs.queues[0].desc = bad->vq[0].desc_gpa = FD_MEM_SIZE - 16, -EINVAL,
	    "ring addresses");
	BAD(bad->regs.queues[0].device = bad->vq[0].used_gpa = 0xfffffffffffff000ULL, -EINVAL,
	    "ring addresses");
	BAD(bad->regs.queues[0].driver = bad->vq[0].avail_gpa = FD_RING_BASE + 0x4001, -EINVAL,
	    "ring addresses");
	/* The vq's own fields. */
	BAD(bad->vq[0].last_avail = (uint16_t)(bad->vq[0].used_idx + QSIZE + 1), -EINVAL,
	    "last_avail");
	BAD(bad->vq[0].broken = 2, -EINVAL, "broken");
	BAD(bad->vq[0].signalled_used_valid = 0, -EINVAL, "signalled_used");
	BAD(bad->vq[0].pad[1] = 1, -EINVAL, "pad");
#undef BAD
	assert_int_equal(r->d2.activates, 0);

	/* Not attached: nothing to restore into. */
	{
		struct virtio_mmio *loose = calloc(1, sizeof(*loose));

		assert_refused(virtio_mmio_restore(loose, good), -EINVAL, "not attached");
		assert_refused(virtio_mmio_save(loose, bad), -EINVAL, "not attached");
		free(loose);
	}
	/* Only into a fresh device: t1 is in use. */
	assert_refused(virtio_mmio_restore(&r->t1, good), -EBUSY, "in use");
	free(good);
	free(bad);
}

/* A queue on its own: round trip and the vq's checks, without a transport. */
static void test_vq_alone(void **state)
{
	struct rig *r = *state;
	struct vq a, b;
	struct vq_state s1, s2, bad;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(vq_enable(&a, &r->f.mem, 4, FD_RING_BASE, FD_RING_BASE + 0x4000,
				   FD_RING_BASE + 0x8000, false, true), 0);
	a.last_avail = 0xfffe;
	a.used_idx = 0xfffd;
	a.signalled_used = 0xfffd;
	a.signalled_used_valid = true;
	assert_int_equal(vq_save(&a, &s1), 0);
	assert_int_equal(vq_restore(&b, &r->f.mem, &s1), 0);
	assert_int_equal(vq_save(&b, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	assert_true(b.indirect);

	/* A disabled queue saves as zeros and restores disabled. */
	vq_disable(&a);
	assert_int_equal(vq_save(&a, &s2), 0);
	memset(&bad, 0, sizeof(bad));
	assert_memory_equal(&s2, &bad, sizeof(bad));
	assert_int_equal(vq_restore(&b, &r->f.mem, &s2), 0);
	assert_false(vq_enabled(&b));

	bad = s1;
	bad.size = 3;
	bad.last_avail = bad.used_idx;
	assert_refused(vq_restore(&b, &r->f.mem, &bad), -EINVAL, "size 3");
	assert_false(vq_enabled(&b));
	bad = s1;
	bad.size = 0;
	assert_refused(vq_restore(&b, &r->f.mem, &bad), -EINVAL, "size");
	bad = s1;
	bad.event_idx = 2;
	assert_refused(vq_restore(&b, &r->f.mem, &bad), -EINVAL, "event_idx");
	bad = s1;
	bad.indirect = 7;
	assert_refused(vq_restore(&b, &r->f.mem, &bad), -EINVAL, "indirect");
	bad = s1;
	bad.signalled_used_valid = 2;
	assert_refused(vq_restore(&b, &r->f.mem, &bad), -EINVAL, "signalled_used_valid");
	bad = s1;
	bad.desc_gpa = FD_RING_BASE + 8;
	assert_refused(vq_restore(&b, &r->f.mem, &bad), -EINVAL, "ring addresses");
}

#define T(f) cmocka_unit_test_setup_teardown(f, rig_up, rig_down)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_transport_roundtrip),
		T(test_vq_inflight),
		T(test_transport_refused),
		T(test_vq_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
