/* evloop.h - an epoll event loop on its own thread: each device's worker.
 *
 * Contract: evloop_init() makes the loop; evloop_add() registers an fd with
 * a callback (before or after start; callbacks run on the loop thread,
 * one at a time, in no promised order); evloop_start() starts the thread
 * with every signal blocked (so a process signal never lands on a worker and
 * the vCPU kick signal never interrupts one); evloop_stop() wakes the loop,
 * waits for the running callback to return and joins: afterwards no callback
 * runs. evloop_run_sync() runs fn on the loop thread and waits for it
 * (how another thread touches state the worker owns: reset, teardown). The
 * loop sleeps in epoll_wait with no timeout: an idle device costs no CPU.
 */
#ifndef MVM_UTIL_EVLOOP_H
#define MVM_UTIL_EVLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop_entry;

struct evloop {
	const char *name;          /* thread name (<= 15 chars shown), messages */
	int epfd;
	int wake_fd;               /* eventfd: stop and run_sync requests */
	pthread_t thread;
	bool started;
	bool stopping;
	pthread_mutex_t lock;      /* entries list, sync requests */
	pthread_cond_t sync_done;
	struct evloop_entry *entries;
	void (*sync_fn)(void *);   /* pending evloop_run_sync() request */
	void *sync_arg;
	uint64_t sync_seq, sync_done_seq;
	bool paused;               /* evloop_pause(): hold callbacks */
	bool parked;               /* the loop thread is waiting in a pause */
	int sandbox;               /* enum sandbox_kind of the thread (SANDBOX_DEVICE;
	                              set by the device or backend before start) */
};

int evloop_init(struct evloop *l, const char *name);
/* events: EPOLLIN/EPOLLOUT/... (level-triggered unless EPOLLET is given). */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque);
int evloop_mod(struct evloop *l, int fd, uint32_t events);
int evloop_del(struct evloop *l, int fd);
int evloop_start(struct evloop *l);
/* Run fn(arg) on the loop thread and wait; runs it directly when the loop
 * is not started or when called from the loop thread itself. */
void evloop_run_sync(struct evloop *l, void (*fn)(void *), void *arg);
/* Hold every callback (the VM is paused): returns once the loop thread
 * waits between two batches, so no callback runs until evloop_resume().
 * Events that arrive meanwhile stay pending in their fds (level-triggered),
 * nothing is read or lost. evloop_stop() ends a pause. Not from a callback. */
void evloop_pause(struct evloop *l);
/* The same, giving up after timeout_ms (< 0: never): -ETIMEDOUT when the
 * loop thread is still inside a callback then, and the pause is undone. */
int evloop_pause_timed(struct evloop *l, int timeout_ms);
void evloop_resume(struct evloop *l);
void evloop_stop(struct evloop *l);
void evloop_destroy(struct evloop *l);   /* stops first if needed */

#endif
