/* server.c - the API thread: epoll over a Unix listening socket and its connections. */
#include "api/server.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define API_IN_MAX   (HTTP_MAX_HEAD + HTTP_MAX_BODY)
/* Room for one response on top of the backlog bound (the largest body is
 * GET /vm/config or the stats snapshot; anything past this is a 500). */
#define API_RESP_MAX (128 * 1024)

struct api_conn {
	int fd;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	uint64_t last_ns;          /* last progress either way */
	uint32_t events;           /* what epoll watches now */
	bool close_after;          /* close once out is sent (no more requests read) */
	bool sent_continue;        /* 100 Continue sent for the request in progress */
	bool draining;             /* answered and shut down for writing: discarding input */
	size_t drained;            /* bytes discarded so far */
};

/* A client still sending a refused body gets its answer before the close:
 * after the response, the write side is shut and what still comes is read
 * and dropped, up to this many bytes or the idle timeout (a lingering
 * close; closing at once would make its next write fail before it reads). */
#define API_DRAIN_MAX (1024 * 1024)

static uint64_t api_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void api_conn_free(struct api_server *s, int slot)
{
	struct api_conn *c = s->conns[slot];

	if (!c)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	s->conns[slot] = NULL;
}

static void api_conn_watch(struct api_server *s, struct api_conn *c)
{
	size_t backlog = c->out_len - c->out_off;
	uint32_t want = 0;
	struct epoll_event ev;

	/* Read only while responses can still be queued: a client that sends
	 * requests but never reads its answers stops being read. */
	if (!c->close_after && backlog < API_OUT_MAX)
		want |= EPOLLIN | EPOLLRDHUP;
	if (backlog)
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	ev.events = want;
	ev.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = want;
}

/* Append bytes to the connection's output; the bound is API_OUT_MAX plus
 * one response, checked by the caller before it processes a request. */
static int api_conn_queue(struct api_conn *c, const char *data, size_t len)
{
	size_t cap = API_OUT_MAX + API_RESP_MAX;

	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > cap && c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len > cap)
		return -ENOSPC;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static char *api_fault_json(const char *msg)
{
	json_object *o = json_object_new_object();
	char *s = NULL;

	if (!o)
		return NULL;
	json_object_object_add(o, "fault_message", json_object_new_string(msg));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* Format the response straight into the connection's output. */
static void api_respond(struct api_conn *c, const struct api_response *r, bool keep_alive)
{
	size_t cap = API_OUT_MAX + API_RESP_MAX, blen = r->body ? strlen(r->body) : 0;
	int n;

	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	n = http_format_response(c->out + c->out_len, cap - c->out_len, r->status,
				 "application/json", r->extra, r->body, blen, keep_alive);
	if (n < 0) {
		static const char big[] = "{\"fault_message\": \"response too large\"}";

		keep_alive = false;
		n = http_format_response(c->out + c->out_len, cap - c->out_len, 500,
					 "application/json", NULL, big, sizeof(big) - 1, false);
	}
	if (n > 0)
		c->out_len += (size_t)n;
	if (!keep_alive || n < 0)
		c->close_after = true;
}

/* A request the parser refused: answer with its status and close. */
static void api_respond_error(struct api_conn *c, int status, const char *why)
{
	struct api_response r = { .status = status, .body = api_fault_json(why) };

	api_respond(c, &r, false);
	free(r.body);
	c->in_len = 0;
}

/* Answer every complete request in the input, in order, while the
 * backlog allows. */
static void api_conn_process(struct api_server *s, struct api_conn *c)
{
	while (!c->close_after && c->out_len - c->out_off < API_OUT_MAX) {
		struct http_request req;
		int ret = http_parse_request(c->in, c->in_len, &req);

		if (ret == -EAGAIN) {
			if (req.headers_done && req.expect_continue && !c->sent_continue) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

				api_conn_queue(c, cont, sizeof(cont) - 1);
				c->sent_continue = true;
			}
			return;
		}
		if (ret < 0) {
			log_debug("api: refused a request: %d %s", req.status, req.error);
			api_respond_error(c, req.status, req.error);
			s->served++;
			return;
		}
		struct api_response r = { .status = 500 };

		api_route(s->vmm, &req, &r);
		api_respond(c, &r, req.keep_alive);
		free(r.body);
		s->served++;
		c->sent_continue = false;
		memmove(c->in, c->in + req.consumed, c->in_len - req.consumed);
		c->in_len -= req.consumed;
	}
}

static void api_conn_flush(struct api_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				/* The client went away: drop what it would not read. */
				c->out_off = c->out_len;
				c->close_after = true;
			}
			return;
		}
		c->out_off += (size_t)n;
		c->last_ns = api_now_ns();
	}
	c->out_off = c->out_len = 0;
}

/* false: close the connection now. */
/* Lingering close: false once the client closed, or sent too much. */
static bool api_conn_drain(struct api_conn *c)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		c->drained += (size_t)n;
		c->last_ns = api_now_ns();
		if (c->drained > API_DRAIN_MAX)
			return false;
	}
}

static bool api_conn_event(struct api_server *s, struct api_conn *c, uint32_t events)
{
	bool peer_done = false;

	if (c->draining)
		return api_conn_drain(c);

	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		while (!c->close_after && c->in_len < API_IN_MAX) {
			ssize_t n = recv(c->fd, c->in + c->in_len, API_IN_MAX - c->in_len, MSG_DONTWAIT);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN)
					peer_done = true;
				break;
			}
			if (n == 0) {
				peer_done = true;
				break;
			}
			c->in_len += (size_t)n;
			c->last_ns = api_now_ns();
		}
	}
	api_conn_process(s, c);
	if (peer_done)
		c->close_after = true;    /* answer what came, then close */
	api_conn_flush(c);
	if (c->close_after && c->out_off == c->out_len) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };

		if (peer_done || shutdown(c->fd, SHUT_WR) < 0 ||
		    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return false;
		c->events = ev.events;
		c->draining = true;
		c->last_ns = api_now_ns();
		return api_conn_drain(c);
	}
	api_conn_watch(s, c);
	return true;
}

/* accept() failed with the connection still queued (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM): the level-triggered listener would wake the thread at
 * once, forever. Stop watching it for API_ACCEPT_BACKOFF_MS, then retry;
 * say so at most once per API_ACCEPT_LOG_MS. */
static void api_accept_backoff(struct api_server *s, int err)
{
	uint64_t now = api_now_ns();
	struct epoll_event ev = { .events = 0, .data.ptr = &s->listen_fd };

	s->accept_failures++;
	if (!s->accept_logged_ns || now - s->accept_logged_ns >= API_ACCEPT_LOG_MS * 1000000ULL) {
		log_warn("api: accept on %s: %s; new connections wait %d ms at a time "
			 "(%llu failures so far)", s->path, strerror(err), API_ACCEPT_BACKOFF_MS,
			 (unsigned long long)s->accept_failures);
		s->accept_logged_ns = now;
	}
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->listen_fd, &ev) == 0)
		s->accept_resume_ns = now + API_ACCEPT_BACKOFF_MS * 1000000ULL;
}

/* After the back-off: watch the listener again (pending connections wake
 * the thread at once). */
static void api_accept_resume(struct api_server *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->listen_fd };

	if (!s->accept_resume_ns || api_now_ns() < s->accept_resume_ns)
		return;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->listen_fd, &ev) == 0)
		s->accept_resume_ns = 0;
}

static void api_accept(struct api_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int slot = -1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				api_accept_backoff(s, errno);
			return;
		}
		for (int i = 0; i < API_MAX_CONNS; i++)
			if (!s->conns[i]) {
				slot = i;
				break;
			}
		/* Full: the connection idle the longest gives way if it has been
		 * idle a second, so silent clients cannot keep others out. */
		if (slot < 0) {
			uint64_t now = api_now_ns(), oldest = UINT64_MAX;
			int victim = -1;

			for (int i = 0; i < API_MAX_CONNS; i++)
				if (s->conns[i]->last_ns < oldest) {
					oldest = s->conns[i]->last_ns;
					victim = i;
				}
			if (victim >= 0 && now - oldest >= 1000000000ULL) {
				log_debug("api: all %d connections in use; closing the one idle longest",
					  API_MAX_CONNS);
				api_conn_free(s, victim);
				slot = victim;
			}
		}
		if (slot < 0) {
			static const char busy[] =
				"HTTP/1.1 503 Service Unavailable\r\nServer: mvm\r\nContent-Type: application/json\r\n"
				"Content-Length: 47\r\nConnection: close\r\n\r\n"
				"{\"fault_message\": \"too many open connections\"}";

			/* Best effort: the socket buffer of a new connection takes it. */
			(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		struct api_conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

		if (c) {
			c->in = malloc(API_IN_MAX);
			c->out = malloc(API_OUT_MAX + API_RESP_MAX);
		}
		if (!c || !c->in || !c->out) {
			if (c) {
				free(c->in);
				free(c->out);
			}
			free(c);
			close(fd);
			log_warn("api: out of memory for a connection");
			continue;
		}
		c->fd = fd;
		c->events = ev.events;
		c->last_ns = api_now_ns();
		ev.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->in);
			free(c->out);
			free(c);
			close(fd);
			continue;
		}
		s->conns[slot] = c;
	}
}

static void api_sweep_idle(struct api_server *s)
{
	uint64_t now = api_now_ns(), limit = (uint64_t)s->idle_ms * 1000000ULL;

	for (int i = 0; i < API_MAX_CONNS; i++)
		if (s->conns[i] && now - s->conns[i]->last_ns > limit) {
			log_debug("api: closing a connection idle for %d ms", s->idle_ms);
			api_conn_free(s, i);
		}
}

static void *api_thread(void *arg)
{
	struct api_server *s = arg;
	struct epoll_event evs[API_MAX_CONNS + 2];
	int tick = s->idle_ms / 4 > 0 && s->idle_ms / 4 < 1000 ? s->idle_ms / 4 : 1000;

	pthread_setname_np(pthread_self(), "mvm-api");
	while (!atomic_load(&s->stopping)) {
		/* Once the VM is built (here by InstanceStart, or before this thread). */
		if (s->vmm->started)
			sandbox_enter(SANDBOX_API);
		int n = epoll_wait(s->epfd, evs, API_MAX_CONNS + 2,
				   s->accept_resume_ns ? API_ACCEPT_BACKOFF_MS : tick);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("api: epoll_wait: %s; the API stops answering", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !atomic_load(&s->stopping); i++) {
			void *p = evs[i].data.ptr;

			if (p == &s->listen_fd) {
				api_accept(s);
			} else if (p != &s->wake_fd) {
				struct api_conn *c = p;

				if (!api_conn_event(s, c, evs[i].events))
					for (int j = 0; j < API_MAX_CONNS; j++)
						if (s->conns[j] == c)
							api_conn_free(s, j);
			}
		}
		api_sweep_idle(s);
		api_accept_resume(s);
	}
	return NULL;
}

/* A socket file at path: replace it when nobody listens there. */
static int api_check_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;   /* bind() says whether its folder is there */
		/* A file where a folder should be, a folder the user cannot
		 * search, a loop of links: the path the user gave. */
		log_err("--api-sock %s: %s", path, strerror(errno));
		return err_usage(-errno);
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_err("--api-sock %s: the file exists and is not a socket; remove it or pick "
			"another path", path);
		return err_usage(-EEXIST);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("--api-sock %s: socket: %s", path, strerror(errno));
		return err_host(-errno);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (ret == 0) {
		log_err("--api-sock %s: another process is serving this socket", path);
		return err_usage(-EADDRINUSE);
	}
	if (errno != ECONNREFUSED) {
		log_err("--api-sock %s: cannot tell whether the socket is in use: %s", path,
			strerror(errno));
		return -errno;
	}
	log_debug("api: replacing the stale socket %s", path);
	return unlink(path) < 0 ? -errno : 0;
}

/* Record which file bind() made, so close unlinks PATH only while it still
 * names it; refuse a file that is not a socket or that others may open (the
 * path was swapped, or the kernel ignored the socket's mode). */
static int api_note_socket(struct api_server *s, const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		log_err("--api-sock %s: the socket file vanished after bind: %s", path,
			strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 077)) {
		log_err("--api-sock %s: after bind the path is %s with mode %04o, not our socket "
			"with mode 0600; is another process changing that directory?", path,
			S_ISSOCK(st.st_mode) ? "a socket" : "not a socket",
			(unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	return 0;
}

/* At exit: unlink PATH only if it is still the socket bind() made; a file
 * put there since (another mvm's socket, anything) is not ours to remove. */
static void api_unlink_socket(struct api_server *s)
{
	struct stat st;

	if (lstat(s->path, &st) < 0)
		return;
	if (!S_ISSOCK(st.st_mode) || st.st_dev != s->sock_dev || st.st_ino != s->sock_ino) {
		log_debug("api: %s is no longer the socket mvm made; left in place", s->path);
		return;
	}
	unlink(s->path);
}

int api_server_open(struct api_server *s, const char *path, struct api_vmm *vmm)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	memset(s, 0, sizeof(*s));
	s->listen_fd = s->epfd = s->wake_fd = -1;
	s->vmm = vmm;
	s->idle_ms = API_IDLE_MS;
	if (getenv("MVM_API_IDLE_MS"))
		s->idle_ms = atoi(getenv("MVM_API_IDLE_MS")) > 0 ? atoi(getenv("MVM_API_IDLE_MS"))
								 : API_IDLE_MS;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("--api-sock %s: path longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return err_usage(-ENAMETOOLONG);
	}
	if ((ret = api_check_stale(path)))
		return ret;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* Owner only, from the moment the file exists: Linux creates a Unix
	 * socket's file with the socket inode's mode (less the umask), so
	 * fchmod before bind sets it with no window and no second lookup of a
	 * path someone else could swap (a chmod by path after bind follows
	 * whatever is there by then). */
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || fchmod(s->listen_fd, 0600) < 0) {
		ret = err_host(-errno);
		log_err("--api-sock %s: %s", path, strerror(-ret));
		goto fail;
	}
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* A refused bind is the path the user gave: its folder missing,
		 * read-only or not theirs to write, a file taken meanwhile. */
		ret = err_usage(-errno);
		log_err("--api-sock %s: %s", path, strerror(-ret));
		goto fail;
	}
	if ((ret = api_note_socket(s, path)))
		goto fail;
	if (listen(s->listen_fd, 64) < 0) {
		ret = -errno;
		log_err("--api-sock %s: %s", path, strerror(-ret));
		goto fail;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->epfd < 0 || s->wake_fd < 0) {
		ret = -errno;
		log_err("api: %s", strerror(-ret));
		goto fail;
	}
	ev.data.ptr = &s->listen_fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		goto fail_errno;
	ev.data.ptr = &s->wake_fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake_fd, &ev) < 0)
		goto fail_errno;
	return 0;
fail_errno:
	ret = -errno;
	log_err("api: epoll_ctl: %s", strerror(-ret));
fail:
	api_server_close(s);
	return ret;
}

int api_server_start(struct api_server *s)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	sigdelset(&all, SIGSYS);   /* a seccomp violation reaches util/sandbox.c's handler */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&s->thread, NULL, api_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		log_err("api: cannot start the API thread: %s", strerror(err));
		return -err;
	}
	s->running = true;
	return 0;
}

void api_server_close(struct api_server *s)
{
	uint64_t one = 1;

	atomic_store(&s->stopping, true);
	if (s->running) {
		(void)!write(s->wake_fd, &one, sizeof(one));
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	for (int i = 0; i < API_MAX_CONNS; i++)
		api_conn_free(s, i);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path[0])
		api_unlink_socket(s);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	s->listen_fd = s->epfd = s->wake_fd = -1;
	s->path[0] = 0;
}
