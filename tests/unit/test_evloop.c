/* test_evloop.c - the worker event loop: callbacks, deletion from inside a
 * callback, run_sync on the loop thread, prompt stop, signal mask. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/evloop.h"
#include "util/log.h"

static void quiet(enum log_level l, const char *m, void *c) { }

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll an int written by the loop thread until it reaches want (2 s cap). */
static bool wait_for(int *v, int want)
{
	uint64_t end = now_ms() + 2000;

	while (__atomic_load_n(v, __ATOMIC_SEQ_CST) < want) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static void kick(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

struct cb {
	struct evloop *l;
	int fd;
	int other_fd;        /* for the delete-another case */
	int calls;
	uint32_t events;
	pthread_t thread;
	bool del_self, del_other, stop_self;
	sigset_t mask;
};

static void cb_fn(void *opaque, uint32_t events)
{
	struct cb *c = opaque;

	drain(c->fd);
	c->events = events;
	c->thread = pthread_self();
	pthread_sigmask(SIG_SETMASK, NULL, &c->mask);
	if (c->del_self)
		assert_int_equal(evloop_del(c->l, c->fd), 0);
	if (c->del_other) {
		assert_int_equal(evloop_del(c->l, c->other_fd), 0);
		close(c->other_fd);
	}
	if (c->stop_self)
		evloop_stop(c->l);
	__atomic_add_fetch(&c->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_callback_fires(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_start(&l), 0);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	kick(c.fd);
	assert_true(wait_for(&c.calls, 1));
	assert_true(c.events & EPOLLIN);
	assert_false(pthread_equal(c.thread, pthread_self()));
	kick(c.fd);
	assert_true(wait_for(&c.calls, 2));
	evloop_destroy(&l);
	close(c.fd);
}

/* evloop_pause(): no callback while paused, the pending event is served on resume. */
static void test_pause_holds_callbacks(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };

	assert_int_equal(evloop_init(&l, "test-pause"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_start(&l), 0);
	for (int round = 0; round < 20; round++) {
		evloop_pause(&l);
		evloop_pause(&l);                /* idempotent */
		kick(c.fd);
		usleep(round ? 1000 : 100000);
		assert_int_equal(__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST), round);
		evloop_resume(&l);
		assert_true(wait_for(&c.calls, round + 1));
	}
	evloop_destroy(&l);
	close(c.fd);
}

/* A paused loop still stops (teardown during a pause). */
static void test_stop_while_paused(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };
	uint64_t t0;

	assert_int_equal(evloop_init(&l, "test-pause-stop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_start(&l), 0);
	evloop_pause(&l);
	kick(c.fd);
	t0 = now_ms();
	evloop_destroy(&l);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(c.calls, 0);
	close(c.fd);
}

static void test_add_before_start(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	kick(c.fd);
	usleep(20000);
	assert_int_equal(c.calls, 0);   /* nothing runs before start */
	assert_int_equal(evloop_start(&l), 0);
	assert_true(wait_for(&c.calls, 1));
	evloop_destroy(&l);
	close(c.fd);
}

static void test_worker_blocks_signals(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };
	sigset_t before, after;

	pthread_sigmask(SIG_SETMASK, NULL, &before);
	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_start(&l), 0);
	/* The caller's own mask is restored. */
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	assert_int_equal(sigismember(&after, SIGUSR1), sigismember(&before, SIGUSR1));
	assert_int_equal(sigismember(&after, SIGINT), sigismember(&before, SIGINT));
	kick(c.fd);
	assert_true(wait_for(&c.calls, 1));
	assert_true(sigismember(&c.mask, SIGINT));
	assert_true(sigismember(&c.mask, SIGTERM));
	assert_true(sigismember(&c.mask, SIGUSR1));
	assert_true(sigismember(&c.mask, SIGRTMIN));
	evloop_destroy(&l);
	close(c.fd);
}

static void test_del_self_inside_callback(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l, .del_self = true };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_start(&l), 0);
	kick(c.fd);
	assert_true(wait_for(&c.calls, 1));
	kick(c.fd);
	usleep(30000);
	assert_int_equal(c.calls, 1);
	/* The fd can be registered again afterwards. */
	c.del_self = false;
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_true(wait_for(&c.calls, 2));
	evloop_destroy(&l);
	close(c.fd);
}

/* Both fds are ready in one batch; whichever runs first deletes (and
 * closes) the other, so the second must never run (ASan checks the entry
 * is not freed under the batch). */
static void test_del_other_inside_callback(void **state)
{
	struct evloop l;
	struct cb a = { .l = &l, .del_other = true }, b = { .l = &l, .del_other = true };
	int i;

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	for (i = 0; i < 20; i++) {
		a.fd = b.other_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		b.fd = a.other_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		a.calls = b.calls = 0;
		assert_int_equal(evloop_add(&l, a.fd, EPOLLIN, cb_fn, &a), 0);
		assert_int_equal(evloop_add(&l, b.fd, EPOLLIN, cb_fn, &b), 0);
		kick(a.fd);
		kick(b.fd);
		/* Started after both are ready: they land in one batch. */
		assert_int_equal(evloop_start(&l), 0);
		uint64_t end = now_ms() + 2000;
		while (__atomic_load_n(&a.calls, __ATOMIC_SEQ_CST) +
		       __atomic_load_n(&b.calls, __ATOMIC_SEQ_CST) < 1 && now_ms() < end)
			usleep(1000);
		usleep(5000);
		evloop_stop(&l);
		assert_int_equal(a.calls + b.calls, 1);
		/* The survivor is still registered: delete and close it. */
		if (a.calls) {
			assert_int_equal(evloop_del(&l, a.fd), 0);
			close(a.fd);
		} else {
			assert_int_equal(evloop_del(&l, b.fd), 0);
			close(b.fd);
		}
	}
	evloop_destroy(&l);
}

struct sync_arg {
	pthread_t ran_on;
	int runs;
};

static void sync_fn(void *opaque)
{
	struct sync_arg *s = opaque;

	s->ran_on = pthread_self();
	__atomic_add_fetch(&s->runs, 1, __ATOMIC_SEQ_CST);
}

static void test_run_sync_on_loop_thread(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };
	struct sync_arg s = { 0 };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_start(&l), 0);
	kick(c.fd);
	assert_true(wait_for(&c.calls, 1));
	evloop_run_sync(&l, sync_fn, &s);
	assert_int_equal(s.runs, 1);
	assert_true(pthread_equal(s.ran_on, c.thread));
	assert_false(pthread_equal(s.ran_on, pthread_self()));
	evloop_destroy(&l);
	close(c.fd);
}

static void test_run_sync_not_started(void **state)
{
	struct evloop l;
	struct sync_arg s = { 0 };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	evloop_run_sync(&l, sync_fn, &s);
	assert_int_equal(s.runs, 1);
	assert_true(pthread_equal(s.ran_on, pthread_self()));
	/* And after a stop, too. */
	assert_int_equal(evloop_start(&l), 0);
	evloop_stop(&l);
	evloop_run_sync(&l, sync_fn, &s);
	assert_int_equal(s.runs, 2);
	assert_true(pthread_equal(s.ran_on, pthread_self()));
	evloop_destroy(&l);
}

struct nested {
	struct evloop *l;
	int fd;
	struct sync_arg s;
	int calls;
};

static void nested_cb(void *opaque, uint32_t events)
{
	struct nested *n = opaque;

	drain(n->fd);
	/* From the loop thread itself: must run directly, not deadlock. */
	evloop_run_sync(n->l, sync_fn, &n->s);
	__atomic_add_fetch(&n->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_run_sync_from_callback(void **state)
{
	struct evloop l;
	struct nested n = { .l = &l };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	n.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, n.fd, EPOLLIN, nested_cb, &n), 0);
	assert_int_equal(evloop_start(&l), 0);
	kick(n.fd);
	assert_true(wait_for(&n.calls, 1));
	assert_int_equal(n.s.runs, 1);
	evloop_destroy(&l);
	close(n.fd);
}

struct racer {
	struct evloop *l;
	struct sync_arg s;
};

static void *racer_thread(void *opaque)
{
	struct racer *r = opaque;

	for (int i = 0; i < 200; i++)
		evloop_run_sync(r->l, sync_fn, &r->s);
	return NULL;
}

static void test_run_sync_many_threads(void **state)
{
	struct evloop l;
	struct racer r[4];
	pthread_t t[4];
	int i;

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	assert_int_equal(evloop_start(&l), 0);
	for (i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].l = &l;
		assert_int_equal(pthread_create(&t[i], NULL, racer_thread, &r[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].s.runs, 200);
		assert_false(pthread_equal(r[i].s.ran_on, t[i]));
	}
	evloop_destroy(&l);
}

static void test_stop_is_prompt(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };
	uint64_t t0;

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_start(&l), 0);
	usleep(10000);                  /* let it sleep in epoll_wait */
	t0 = now_ms();
	evloop_stop(&l);
	assert_true(now_ms() - t0 < 500);
	kick(c.fd);
	usleep(20000);
	assert_int_equal(c.calls, 0);   /* no callback after stop */
	evloop_stop(&l);                /* twice is harmless */
	/* It can run again. */
	assert_int_equal(evloop_start(&l), 0);
	assert_true(wait_for(&c.calls, 1));
	evloop_destroy(&l);
	close(c.fd);
}

static void test_stop_from_callback(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l, .stop_self = true };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_start(&l), 0);
	kick(c.fd);
	assert_true(wait_for(&c.calls, 1));
	kick(c.fd);
	usleep(20000);
	assert_int_equal(c.calls, 1);
	evloop_destroy(&l);             /* joins the thread that ended itself */
	close(c.fd);
}

static void test_start_stop_destroy_empty(void **state)
{
	struct evloop l;

	for (int i = 0; i < 10; i++) {
		assert_int_equal(evloop_init(&l, "a-rather-long-worker-name"), 0);
		assert_int_equal(evloop_start(&l), 0);
		assert_int_equal(evloop_start(&l), -EBUSY);
		evloop_stop(&l);
		evloop_destroy(&l);
	}
	/* Destroy without start, and without stop. */
	assert_int_equal(evloop_init(&l, "x"), 0);
	evloop_destroy(&l);
	assert_int_equal(evloop_init(&l, "x"), 0);
	assert_int_equal(evloop_start(&l), 0);
	evloop_destroy(&l);
}

static void test_destroy_zeroed_and_twice(void **state)
{
	struct evloop l;

	memset(&l, 0, sizeof(l));
	evloop_destroy(&l);
	evloop_stop(&l);
	assert_int_equal(evloop_init(&l, NULL), 0);
	evloop_destroy(&l);
	evloop_destroy(&l);
}

static void test_add_mod_del_errors(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };
	FILE *f;

	log_set_sink(quiet, NULL);
	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, -1, EPOLLIN, cb_fn, &c), -EINVAL);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, NULL, &c), -EINVAL);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), -EEXIST);
	assert_int_equal(evloop_del(&l, 12345), -ENOENT);
	assert_int_equal(evloop_mod(&l, 12345, EPOLLIN), -ENOENT);
	/* A regular file cannot be watched by epoll: the error comes back
	 * and nothing is left registered. */
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(evloop_add(&l, fileno(f), EPOLLIN, cb_fn, &c), -EPERM);
	assert_int_equal(evloop_del(&l, fileno(f)), -ENOENT);
	fclose(f);
	assert_int_equal(evloop_del(&l, c.fd), 0);
	assert_int_equal(evloop_del(&l, c.fd), -ENOENT);
	evloop_destroy(&l);
	close(c.fd);
	log_set_sink(NULL, NULL);
}

static void test_mod_masks_events(void **state)
{
	struct evloop l;
	struct cb c = { .l = &l };

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_add(&l, c.fd, EPOLLIN, cb_fn, &c), 0);
	assert_int_equal(evloop_mod(&l, c.fd, 0), 0);
	assert_int_equal(evloop_start(&l), 0);
	kick(c.fd);
	usleep(20000);
	assert_int_equal(c.calls, 0);
	assert_int_equal(evloop_mod(&l, c.fd, EPOLLIN), 0);
	assert_true(wait_for(&c.calls, 1));
	evloop_destroy(&l);
	close(c.fd);
}

/* Entries deleted from another thread while the loop runs are freed by the
 * loop or by destroy (ASan's leak check would notice otherwise). */
static void test_del_from_other_thread_while_running(void **state)
{
	struct evloop l;
	struct cb c[8];
	int i;

	assert_int_equal(evloop_init(&l, "test-loop"), 0);
	assert_int_equal(evloop_start(&l), 0);
	for (i = 0; i < 8; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].l = &l;
		c[i].fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_int_equal(evloop_add(&l, c[i].fd, EPOLLIN, cb_fn, &c[i]), 0);
		kick(c[i].fd);
	}
	for (i = 0; i < 8; i++)
		assert_true(wait_for(&c[i].calls, 1));
	for (i = 0; i < 8; i += 2)
		assert_int_equal(evloop_del(&l, c[i].fd), 0);
	for (i = 0; i < 8; i++)
		kick(c[i].fd);
	for (i = 1; i < 8; i += 2)
		assert_true(wait_for(&c[i].calls, 2));
	for (i = 0; i < 8; i += 2)
		assert_int_equal(c[i].calls, 1);
	evloop_destroy(&l);
	for (i = 0; i < 8; i++)
		close(c[i].fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callback_fires),
		cmocka_unit_test(test_add_before_start),
		cmocka_unit_test(test_pause_holds_callbacks),
		cmocka_unit_test(test_stop_while_paused),
		cmocka_unit_test(test_worker_blocks_signals),
		cmocka_unit_test(test_del_self_inside_callback),
		cmocka_unit_test(test_del_other_inside_callback),
		cmocka_unit_test(test_run_sync_on_loop_thread),
		cmocka_unit_test(test_run_sync_not_started),
		cmocka_unit_test(test_run_sync_from_callback),
		cmocka_unit_test(test_run_sync_many_threads),
		cmocka_unit_test(test_stop_is_prompt),
		cmocka_unit_test(test_stop_from_callback),
		cmocka_unit_test(test_start_stop_destroy_empty),
		cmocka_unit_test(test_destroy_zeroed_and_twice),
		cmocka_unit_test(test_add_mod_del_errors),
		cmocka_unit_test(test_mod_masks_events),
		cmocka_unit_test(test_del_from_other_thread_while_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
