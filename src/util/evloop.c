/* evloop.c - an epoll event loop on its own thread (a device's worker). */
#include "util/evloop.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVLOOP_BATCH 32

/* One registered fd. A deleted entry is only marked dead while the loop
 * runs: the current epoll batch may still hold its pointer, so the loop
 * thread frees dead entries once the batch is over. */
struct evloop_entry {
	int fd;
	bool dead;
	evloop_fn fn;
	void *opaque;
	struct evloop_entry *next;
};

static struct evloop_entry *evloop_find(struct evloop *l, int fd)
{
	struct evloop_entry *e;

	for (e = l->entries; e; e = e->next)
		if (e->fd == fd && !e->dead)
			return e;
	return NULL;
}

/* Unlink and free dead entries; lock held, no batch in progress. */
static void evloop_sweep(struct evloop *l)
{
	struct evloop_entry **pp = &l->entries, *e;

	while ((e = *pp)) {
		if (e->dead) {
			*pp = e->next;
			free(e);
		} else {
			pp = &e->next;
		}
	}
}

static void evloop_wake(struct evloop *l)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the loop will wake. */
	if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("%s: cannot wake the event loop: %s", l->name, strerror(errno));
}

int evloop_init(struct evloop *l, const char *name)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int err;

	memset(l, 0, sizeof(*l));
	l->sandbox = SANDBOX_DEVICE;
	l->epfd = -1;
	l->wake_fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		err = -errno;
		log_err("%s: epoll_create1: %s", name ? name : "evloop", strerror(errno));
		goto fail;
	}
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd < 0) {
		err = -errno;
		log_err("%s: eventfd: %s", name ? name : "evloop", strerror(errno));
		goto fail;
	}
	/* data.ptr NULL marks the wake fd; every other fd has its entry. */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0) {
		err = -errno;
		log_err("%s: epoll_ctl: %s", name ? name : "evloop", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->sync_done, NULL);
	/* name doubles as the "initialized" mark that makes destroy safe on a
	 * zeroed or failed loop. */
	l->name = name ? name : "evloop";
	return 0;
fail:
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	if (l->epfd >= 0)
		close(l->epfd);
	memset(l, 0, sizeof(*l));
	l->epfd = -1;
	l->wake_fd = -1;
	return err_host(err);   /* out of fds or memory: the host's */
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct evloop_entry *e;
	int err = 0;

	if (fd < 0 || !fn)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return err_host(-ENOMEM);
	e->fd = fd;
	e->fn = fn;
	e->opaque = opaque;
	ev.data.ptr = e;
	pthread_mutex_lock(&l->lock);
	if (evloop_find(l, fd)) {
		err = -EEXIST;
	} else if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
	} else {
		e->next = l->entries;
		l->entries = e;
	}
	pthread_mutex_unlock(&l->lock);
	if (err) {
		log_debug("%s: cannot watch fd %d: %s", l->name, fd, strerror(-err));
		free(e);
		err_host(err);
	}
	return err;
}

int evloop_mod(struct evloop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	struct evloop_entry *e;
	int err = 0;

	pthread_mutex_lock(&l->lock);
	e = evloop_find(l, fd);
	if (!e) {
		err = -ENOENT;
	} else {
		ev.data.ptr = e;
		if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			err = -errno;
	}
	pthread_mutex_unlock(&l->lock);
	return err;
}

int evloop_del(struct evloop *l, int fd)
{
	struct evloop_entry *e;
	int err = 0;

	pthread_mutex_lock(&l->lock);
	e = evloop_find(l, fd);
	if (!e) {
		err = -ENOENT;
	} else {
		/* The fd may already be closed (then epoll dropped it itself). */
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		e->dead = true;
		if (!l->started)
			evloop_sweep(l);
	}
	pthread_mutex_unlock(&l->lock);
	return err;
}

/* Serve a pending evloop_run_sync() request; called on the loop thread. */
static void evloop_serve_sync(struct evloop *l)
{
	void (*fn)(void *);
	void *arg;
	uint64_t seq;

	pthread_mutex_lock(&l->lock);
	fn = l->sync_fn;
	arg = l->sync_arg;
	seq = l->sync_seq;
	pthread_mutex_unlock(&l->lock);
	if (!fn || seq == l->sync_done_seq)
		return;
	fn(arg);
	pthread_mutex_lock(&l->lock);
	l->sync_done_seq = seq;
	l->sync_fn = NULL;
	l->sync_arg = NULL;
	pthread_cond_broadcast(&l->sync_done);
	pthread_mutex_unlock(&l->lock);
}

static bool evloop_stopping(struct evloop *l)
{
	bool s;

	pthread_mutex_lock(&l->lock);
	s = l->stopping;
	pthread_mutex_unlock(&l->lock);
	return s;
}

/* Wait here while paused (loop thread). sync_done doubles as the pause
 * condition: pause, resume and stop all broadcast it. */
static void evloop_park(struct evloop *l)
{
	pthread_mutex_lock(&l->lock);
	while (l->paused && !l->stopping) {
		if (!l->parked) {
			l->parked = true;
			pthread_cond_broadcast(&l->sync_done);
		}
		/* A parked loop still serves run_sync (a paused VM's device
		 * counters, its quiesce step): on this thread, as always, while
		 * kicks and host input wait in their fds. */
		if (l->sync_fn && l->sync_seq != l->sync_done_seq) {
			pthread_mutex_unlock(&l->lock);
			evloop_serve_sync(l);
			pthread_mutex_lock(&l->lock);
			continue;
		}
		pthread_cond_wait(&l->sync_done, &l->lock);
	}
	l->parked = false;
	pthread_mutex_unlock(&l->lock);
}

int evloop_pause_timed(struct evloop *l, int timeout_ms)
{
	struct timespec until;
	int ret = 0;

	if (!l->name)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);   /* sync_done's clock */
	if (timeout_ms >= 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&l->lock);
	l->paused = true;
	if (!l->started || pthread_equal(pthread_self(), l->thread)) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	evloop_wake(l);
	while (l->started && !l->stopping && !l->parked) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&l->sync_done, &l->lock);
		} else if (pthread_cond_timedwait(&l->sync_done, &l->lock, &until) == ETIMEDOUT &&
			   !l->parked) {
			/* A callback that does not return: undo, so the loop runs on
			 * instead of parking later behind the caller's back. */
			l->paused = false;
			pthread_cond_broadcast(&l->sync_done);
			ret = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

void evloop_pause(struct evloop *l)
{
	evloop_pause_timed(l, -1);
}

void evloop_resume(struct evloop *l)
{
	if (!l->name)
		return;
	pthread_mutex_lock(&l->lock);
	l->paused = false;
	pthread_cond_broadcast(&l->sync_done);
	pthread_mutex_unlock(&l->lock);
}

static void *evloop_thread(void *arg)
{
	struct evloop *l = arg;
	struct epoll_event evs[EVLOOP_BATCH];
	char tname[16];

	/* Set here too: pthread_create() may store the id only after we run,
	 * and run_sync() from a callback compares against it. */
	pthread_mutex_lock(&l->lock);
	l->thread = pthread_self();
	pthread_mutex_unlock(&l->lock);
	/* Named here, before its filter: a report or an audit line names it. */
	snprintf(tname, sizeof(tname), "%s", l->name);
	pthread_setname_np(pthread_self(), tname);
	sandbox_enter(l->sandbox);
	while (!evloop_stopping(l)) {
		int n = epoll_wait(l->epfd, evs, EVLOOP_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("%s: epoll_wait: %s; the device stops serving requests",
				l->name, strerror(errno));
			break;
		}
		evloop_park(l);
		for (int i = 0; i < n; i++) {
			struct evloop_entry *e = evs[i].data.ptr;
			evloop_fn fn = NULL;
			void *opaque = NULL;
			bool stop;

			if (!e) {
				uint64_t v;

				if (read(l->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("%s: wake fd read: %s", l->name, strerror(errno));
				evloop_serve_sync(l);
				continue;
			}
			pthread_mutex_lock(&l->lock);
			stop = l->stopping;
			if (!e->dead) {
				fn = e->fn;
				opaque = e->opaque;
			}
			pthread_mutex_unlock(&l->lock);
			if (stop)
				break;
			if (fn)
				fn(opaque, evs[i].events);
		}
		/* No pointer from this batch is live any more. */
		pthread_mutex_lock(&l->lock);
		evloop_sweep(l);
		pthread_mutex_unlock(&l->lock);
	}
	/* A request posted before stopping was set must still be answered
	 * here (run_sync refuses to post once stopping is set). */
	evloop_serve_sync(l);
	return NULL;
}

int evloop_start(struct evloop *l)
{
	sigset_t all, old;
	pthread_t tid;
	int err;

	if (l->started)
		return -EBUSY;
	pthread_mutex_lock(&l->lock);
	l->stopping = false;
	l->started = true;
	pthread_mutex_unlock(&l->lock);
	/* The thread inherits the creator's mask: block everything around
	 * pthread_create so no signal is ever delivered to a worker. */
	sigfillset(&all);
	sigdelset(&all, SIGSYS);   /* but a seccomp violation reaches util/sandbox.c's handler */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&tid, NULL, evloop_thread, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err) {
		pthread_mutex_lock(&l->lock);
		l->thread = tid;
		pthread_mutex_unlock(&l->lock);
	}
	if (err) {
		pthread_mutex_lock(&l->lock);
		l->started = false;
		pthread_mutex_unlock(&l->lock);
		log_err("%s: cannot start the worker thread: %s", l->name, strerror(err));
		return -err;
	}
	return 0;
}

void evloop_run_sync(struct evloop *l, void (*fn)(void *), void *arg)
{
	uint64_t seq;

	pthread_mutex_lock(&l->lock);
	/* Wait for the slot, or for a stopping loop to finish. */
	while (l->started && !pthread_equal(pthread_self(), l->thread) &&
	       (l->stopping || l->sync_fn))
		pthread_cond_wait(&l->sync_done, &l->lock);
	if (!l->started || pthread_equal(pthread_self(), l->thread)) {
		pthread_mutex_unlock(&l->lock);
		fn(arg);
		return;
	}
	l->sync_fn = fn;
	l->sync_arg = arg;
	seq = ++l->sync_seq;
	evloop_wake(l);
	pthread_cond_broadcast(&l->sync_done);   /* a parked loop waits on this */
	while (l->sync_done_seq < seq)
		pthread_cond_wait(&l->sync_done, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

void evloop_stop(struct evloop *l)
{
	if (!l->name)
		return;
	pthread_mutex_lock(&l->lock);
	if (!l->started || l->stopping) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	l->stopping = true;
	pthread_cond_broadcast(&l->sync_done);  /* ends a pause */
	pthread_mutex_unlock(&l->lock);
	evloop_wake(l);
	if (pthread_equal(pthread_self(), l->thread)) {
		/* From a callback: the loop ends after it; destroy() joins. */
		return;
	}
	pthread_join(l->thread, NULL);
	pthread_mutex_lock(&l->lock);
	l->started = false;
	evloop_sweep(l);
	/* Wake run_sync callers that waited for the stop to finish. */
	pthread_cond_broadcast(&l->sync_done);
	pthread_mutex_unlock(&l->lock);
}

void evloop_destroy(struct evloop *l)
{
	struct evloop_entry *e, *next;

	if (!l->name)
		return;
	evloop_stop(l);
	if (l->started && !pthread_equal(pthread_self(), l->thread)) {
		/* stop() was called from the loop's own callback earlier. */
		pthread_join(l->thread, NULL);
		l->started = false;
	}
	for (e = l->entries; e; e = next) {
		next = e->next;
		free(e);
	}
	l->entries = NULL;
	close(l->wake_fd);
	close(l->epfd);
	pthread_cond_destroy(&l->sync_done);
	pthread_mutex_destroy(&l->lock);
	memset(l, 0, sizeof(*l));
	l->epfd = -1;
	l->wake_fd = -1;
}
