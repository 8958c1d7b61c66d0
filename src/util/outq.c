/* outq.c - a bounded byte ring written to an fd by one thread that never blocks on it. */
#include "util/outq.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct outq {
	pthread_mutex_t lock;
	pthread_cond_t wake;       /* the writer: data queued, or stop */
	pthread_cond_t drained;    /* flush waiters: tail moved */
	uint8_t *ring;
	size_t size;
	uint64_t head, tail;       /* bytes ever queued / ever taken off */
	int out_fd;                /* the caller's fd (for messages) */
	int fd;                    /* what the writer writes: out_fd or a private reopen */
	bool fd_owned, use_send, blocking;
	bool failed;               /* a write error: everything is discarded */
	int stop_efd;              /* wakes the writer's poll on stop */
	bool stop, exited, orphaned;
	uint64_t deadline_ns;      /* with stop: give up flushing then */
	pthread_t thread;
	char name[16];             /* the writer thread's name */
	struct outq_stats st;
	void (*room)(void *ctx);
	void *ctx;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pick how to write out_fd without ever blocking the writer (outq.h). */
static int outq_open_fd(struct outq *q, int out_fd)
{
	struct stat st;
	char path[64];
	int flags, fd;

	q->out_fd = q->fd = out_fd;
	if (fstat(out_fd, &st) < 0 || (flags = fcntl(out_fd, F_GETFL)) < 0) {
		int rc = -errno;

		log_err("output fd %d: %s", out_fd, strerror(errno));
		return rc;
	}
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || (flags & O_NONBLOCK))
		return 0;
	if (S_ISSOCK(st.st_mode)) {
		q->use_send = true;
		return 0;
	}
	/* A new open file description: O_NONBLOCK on it leaves the caller's fd
	 * (shared with the user's shell and other writers) as it was. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", out_fd);
	fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		q->fd = fd;
		q->fd_owned = true;
		return 0;
	}
	log_debug("output fd %d: cannot reopen it non-blocking (%s); writing at most %d bytes "
		  "when poll() says there is room", out_fd, strerror(errno), PIPE_BUF);
	q->blocking = true;
	return 0;
}

static ssize_t outq_write(struct outq *q, const uint8_t *buf, size_t len)
{
	if (q->use_send)
		return send(q->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(q->fd, buf, len);
}

/* Wait until the fd takes data, the stop is asked for (stopping false) or
 * the deadline passes (stopping true). True when the fd is ready (room, or
 * an error a write will report). */
static bool outq_wait_writable(struct outq *q, bool stopping, uint64_t deadline_ns)
{
	struct pollfd p[2] = {
		{ .fd = q->fd, .events = POLLOUT },
		{ .fd = q->stop_efd, .events = POLLIN },
	};
	int timeout = -1;

	if (stopping) {
		uint64_t now = now_ns();

		timeout = now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
	}
	if (poll(p, stopping ? 1 : 2, timeout) <= 0)
		return false;
	return p[0].revents != 0;
}

/* Called with the lock held: give up on what is queued. */
static void outq_discard(struct outq *q)
{
	q->st.lost += q->head - q->tail;
	q->tail = q->head;
	pthread_cond_broadcast(&q->drained);
}

/* Take a write's outcome, with the lock held. True when room was made. */
static bool outq_account(struct outq *q, ssize_t n, int err)
{
	if (n > 0) {
		q->tail += (uint64_t)n;
		q->st.written += (uint64_t)n;
		pthread_cond_broadcast(&q->drained);
		return true;
	}
	if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return false;
	if (!q->failed)
		log_warn("output fd %d: write failed: %s; further output is discarded",
			 q->out_fd, n < 0 ? strerror(err) : "nothing written");
	q->failed = true;
	outq_discard(q);
	return true;
}

static void *outq_main(void *arg)
{
	struct outq *q = arg;
	bool orphaned;

	/* Named here, before the filter: the SIGSYS report names the thread.
	 * The creator (the build, on main or the API thread) has no filter
	 * yet, so this thread's list is the only one it runs under. */
	if (q->name[0])
		prctl(PR_SET_NAME, q->name, 0, 0, 0);
	sandbox_enter(SANDBOX_OUTQ);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->stop && q->head == q->tail)
			pthread_cond_wait(&q->wake, &q->lock);
		if (q->head == q->tail)
			break;   /* stopped, all written */
		if (q->stop && now_ns() >= q->deadline_ns)
			break;

		size_t off = (size_t)(q->tail % q->size);
		size_t len = (size_t)(q->head - q->tail);
		bool stopping = q->stop;
		uint64_t deadline = q->deadline_ns;
		ssize_t n = -1;
		int err = EAGAIN;

		if (len > q->size - off)
			len = q->size - off;   /* up to the wrap; the rest next round */
		if (q->blocking && len > PIPE_BUF)
			len = PIPE_BUF;
		/* Producers only append past head: [tail, tail + len) is ours to
		 * read without the lock until tail moves. */
		pthread_mutex_unlock(&q->lock);
		if (!q->blocking || outq_wait_writable(q, stopping, deadline)) {
			n = outq_write(q, q->ring + off, len);
			err = errno;
		}
		if (n < 0 && !q->blocking && (err == EAGAIN || err == EWOULDBLOCK))
			outq_wait_writable(q, stopping, deadline);
		pthread_mutex_lock(&q->lock);
		if (outq_account(q, n, err) && !q->stop && q->room) {
			/* The caller's lock comes before ours: call it unlocked. */
			pthread_mutex_unlock(&q->lock);
			q->room(q->ctx);
			pthread_mutex_lock(&q->lock);
		}
	}
	q->st.unflushed += q->head - q->tail;   /* what the stop deadline left */
	outq_discard(q);
	q->exited = true;
	orphaned = q->orphaned;
	pthread_mutex_unlock(&q->lock);
	if (orphaned) {
		/* outq_stop() gave up waiting for us and left the queue to us. */
		if (q->fd_owned)
			close(q->fd);
		close(q->stop_efd);
		free(q->ring);
		free(q);
	}
	return NULL;
}

int outq_start(struct outq **out, int out_fd, size_t size, const char *name,
	       void (*room)(void *ctx), void *ctx)
{
	struct outq *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (!q || !size || !(q->ring = malloc(size))) {
		free(q);
		log_err("output fd %d: no memory for a %zu-byte output buffer", out_fd, size);
		return -ENOMEM;
	}
	q->size = size;
	q->room = room;
	q->ctx = ctx;
	q->stop_efd = -1;
	if (name)
		snprintf(q->name, sizeof(q->name), "%s", name);
	if ((rc = outq_open_fd(q, out_fd)))
		goto fail;
	q->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->stop_efd < 0) {
		rc = -errno;
		log_err("output fd %d: eventfd: %s", out_fd, strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->wake, &ca);
	pthread_cond_init(&q->drained, &ca);
	pthread_condattr_destroy(&ca);
	/* The thread inherits a full mask: no process signal (SIGINT, a vCPU
	 * kick) is ever delivered to it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&q->thread, NULL, outq_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		log_err("output fd %d: cannot start its writer thread: %s", out_fd, strerror(-rc));
		pthread_cond_destroy(&q->wake);
		pthread_cond_destroy(&q->drained);
		pthread_mutex_destroy(&q->lock);
		goto fail;
	}
	*out = q;
	return 0;
fail:
	if (q->fd_owned)
		close(q->fd);
	if (q->stop_efd >= 0)
		close(q->stop_efd);
	free(q->ring);
	free(q);
	return rc;
}

bool outq_push(struct outq *q, uint8_t byte)
{
	bool ok = true;

	pthread_mutex_lock(&q->lock);
	if (q->failed || q->stop) {
		q->st.lost++;
	} else if (q->head - q->tail >= q->size) {
		q->st.dropped++;
		ok = false;
	} else {
		q->ring[q->head % q->size] = byte;
		if (q->head++ == q->tail)
			pthread_cond_signal(&q->wake);
		q->st.bytes++;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

size_t outq_room(struct outq *q)
{
	size_t room;

	pthread_mutex_lock(&q->lock);
	room = q->failed ? q->size : q->size - (size_t)(q->head - q->tail);
	pthread_mutex_unlock(&q->lock);
	return room;
}

int outq_flush(struct outq *q, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
	struct timespec ts = { .tv_sec = (time_t)(end / 1000000000ull),
			       .tv_nsec = (long)(end % 1000000000ull) };
	uint64_t want;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	want = q->head;
	while (q->tail < want && !q->exited)
		if (pthread_cond_timedwait(&q->drained, &q->lock, &ts) == ETIMEDOUT) {
			rc = q->tail < want ? -ETIMEDOUT : 0;
			break;
		}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void outq_get_stats(struct outq *q, struct outq_stats *st)
{
	pthread_mutex_lock(&q->lock);
	*st = q->st;
	st->queued = q->head - q->tail;
	pthread_mutex_unlock(&q->lock);
}

bool outq_stop(struct outq *q, int timeout_ms, struct outq_stats *st)
{
	struct timespec join_by;
	uint64_t one = 1;
	bool exited;

	if (!q)
		return true;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	q->deadline_ns = now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	if (write(q->stop_efd, &one, sizeof(one)) < 0)
		log_debug("outq: eventfd write: %s", strerror(errno));
	/* The writer keeps the deadline itself; a second more covers a write
	 * that blocked anyway (the blocking fallback). */
	clock_gettime(CLOCK_REALTIME, &join_by);
	join_by.tv_sec += (timeout_ms < 0 ? 0 : timeout_ms / 1000) + 1;
	join_by.tv_nsec += (long)(timeout_ms < 0 ? 0 : timeout_ms % 1000) * 1000000L;
	if (join_by.tv_nsec >= 1000000000L) {
		join_by.tv_sec++;
		join_by.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(q->thread, NULL, &join_by) != 0) {
		pthread_mutex_lock(&q->lock);
		exited = q->exited;
		if (!exited) {
			q->orphaned = true;
			if (st) {
				*st = q->st;
				st->queued = q->head - q->tail;
			}
		}
		pthread_mutex_unlock(&q->lock);
		if (!exited) {
			log_warn("output fd %d: its writer is stuck in a write; leaving it behind",
				 q->out_fd);
			pthread_detach(q->thread);
			return false;
		}
		pthread_join(q->thread, NULL);
	}
	if (st) {
		*st = q->st;
		st->queued = 0;
	}
	if (q->fd_owned)
		close(q->fd);
	close(q->stop_efd);
	pthread_cond_destroy(&q->wake);
	pthread_cond_destroy(&q->drained);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
	return true;
}
