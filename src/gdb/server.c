/* server.c - the gdb stub's socket and thread: accept one client, frame packets, halt and
 * resume the VM through its ops, drop a client that misbehaves. */
#include "gdb/server.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int open_tcp(struct gdb_server *s, const char *hostport, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	const char *colon = strrchr(hostport, ':');
	char host[64];
	int fd, one = 1, rc;
	char *end;
	long port;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		snprintf(err, errlen, "expected tcp:HOST:PORT");
		return err_usage(-EINVAL);
	}
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535) {
		snprintf(err, errlen, "port '%s': expected 1 to 65535", colon + 1);
		return err_usage(-EINVAL);
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {   /* [::1] */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	rc = getaddrinfo(host[0] ? host : "127.0.0.1", colon + 1, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "host '%s': expected a numeric address such as 127.0.0.1 "
			 "(%s)", host, gai_strerror(rc));
		return err_usage(-EINVAL);
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    err_bind_listen(fd, ai->ai_addr, ai->ai_addrlen)) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", hostport, strerror(errno));
		err_host(rc);   /* after err_bind_listen's own mark, which wins */
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	s->listen_fd = fd;
	return 0;
}

static int open_unix(struct gdb_server *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path must be 1 to %zu bytes", sizeof(sa.sun_path) - 1);
		return err_usage(-EINVAL);
	}
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return err_usage(-EEXIST);
		}
		unlink(path);   /* a stale socket of an earlier run */
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || err_bind_listen(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		err_host(rc);   /* after err_bind_listen's own mark, which wins */
		if (fd >= 0)
			close(fd);
		return rc;
	}
	s->listen_fd = fd;
	snprintf(s->unix_path, sizeof(s->unix_path), "%s", path);
	return 0;
}

int gdb_server_open(struct gdb_server *s, const char *addr, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = s->conn_fd = s->quit_fd = s->event_fd = -1;
	if (!strncmp(addr, "tcp:", 4))
		return open_tcp(s, addr + 4, err, errlen);
	if (!strncmp(addr, "unix:", 5))
		return open_unix(s, addr + 5, err, errlen);
	snprintf(err, errlen, "'%s': expected tcp:HOST:PORT or unix:PATH", addr);
	return err_usage(-EINVAL);
}

/* ---- the connection ----------------------------------------------------------------------- */

static int send_all(struct gdb_server *s, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(s->conn_fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;   /* gone, or not reading for GDB_SEND_TIMEOUT_S */
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_reply(struct gdb_server *s, const char *payload, size_t len)
{
	s->frame_len = gdb_frame(s->frame, sizeof(s->frame), payload, len, true);
	if (s->frame_len < 0) {
		s->frame_len = 0;
		return -1;
	}
	s->naks = 0;
	return send_all(s, s->frame, (size_t)s->frame_len);
}

static void drop_client(struct gdb_server *s, const char *why)
{
	if (s->conn_fd < 0)
		return;
	log_info("gdb: client %s; its breakpoints are removed and the VM runs on", why);
	close(s->conn_fd);
	s->conn_fd = -1;
	/* Restore the patched bytes with the VM stopped, then let it run. */
	if (!s->stopped && s->ops->halt(s->t, GDB_STOP_INTERRUPT, &(struct gdb_stop_info){ 0 }))
		return;   /* stopping */
	gdb_stub_clear(&s->stub);
	s->ops->release(s->t);
	s->stopped = false;
}

/* The VM stopped (debug exit or interrupt): tell the client, unless the stop was the guest's. */
static int report_stop(struct gdb_server *s, const struct gdb_stop_info *st)
{
	if (!gdb_stub_stopped(&s->stub, st)) {
		s->stopped = false;   /* the stub handed the guest its own #BP and resumed */
		return 0;
	}
	s->stopped = true;
	return send_reply(s, s->stub.reply, s->stub.reply_len);
}

static int halt_and_report(struct gdb_server *s, enum gdb_stop_why why)
{
	struct gdb_stop_info st;

	if (s->ops->halt(s->t, why, &st))
		return 0;   /* the VM is stopping: the quit fd follows */
	if (s->conn_fd < 0) {
		/* A debug exit left over from a client that is gone. */
		s->stopped = true;
		gdb_stub_clear(&s->stub);
		s->ops->release(s->t);
		s->stopped = false;
		return 0;
	}
	return report_stop(s, &st);
}

static int on_packet(struct gdb_server *s)
{
	enum gdb_result r;

	if (!s->stub.no_ack && send_all(s, "+", 1))
		return -1;
	if (!s->stopped)
		return 0;   /* all-stop: a client sends nothing but ^C while the VM runs */
	r = gdb_stub_handle(&s->stub, s->rx.buf, s->rx.len);
	switch (r) {
	case GDB_REPLY:
		return send_reply(s, s->stub.reply, s->stub.reply_len);
	case GDB_RESUMED:
		s->stopped = false;
		return 0;
	case GDB_DETACHED:
		send_reply(s, s->stub.reply, s->stub.reply_len);
		drop_client(s, "detached");
		return 0;
	case GDB_KILLED:
	default:
		s->stopped = false;   /* the VM is stopping: nothing to release */
		close(s->conn_fd);
		s->conn_fd = -1;
		return 0;
	}
}

static int on_bytes(struct gdb_server *s, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n && s->conn_fd >= 0; i++) {
		switch (gdb_rx_feed(&s->rx, buf[i])) {
		case GDB_RX_PACKET:
			if (on_packet(s))
				return -1;
			break;
		case GDB_RX_BAD_CSUM:
			if (!s->stub.no_ack && send_all(s, "-", 1))
				return -1;
			break;
		case GDB_RX_OVERSIZE:
			log_warn_rl("gdb: a packet longer than %d bytes, refused", GDB_PACKET_MAX);
			if ((!s->stub.no_ack && send_all(s, "+", 1)) ||
			    (s->stopped && send_reply(s, "E16", 3)))
				return -1;
			break;
		case GDB_RX_NAK:
			if (++s->naks > GDB_MAX_NAKS)
				return -1;
			if (s->frame_len && send_all(s, s->frame, (size_t)s->frame_len))
				return -1;
			break;
		case GDB_RX_INTERRUPT:
			if (!s->stopped && halt_and_report(s, GDB_STOP_INTERRUPT))
				return -1;
			break;
		default:
			break;
		}
	}
	return 0;
}

static void on_accept(struct gdb_server *s)
{
	struct timeval tv = { .tv_sec = GDB_SEND_TIMEOUT_S };
	int one = 1, fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	struct gdb_stop_info st;

	if (fd < 0)
		return;
	if (s->conn_fd >= 0) {
		close(fd);   /* one debugger at a time */
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* fails on unix: fine */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	s->conn_fd = fd;
	gdb_rx_init(&s->rx);
	s->frame_len = 0;
	s->stub.no_ack = false;
	s->stub.g_cpu = s->stub.c_cpu = 0;
	log_info("gdb: client connected");
	/* The client's first question is '?': the VM must be stopped to answer it. */
	if (!s->stopped) {
		if (s->ops->halt(s->t, GDB_STOP_START, &st))
			return;
		s->stopped = true;
		if (!gdb_stub_stopped(&s->stub, &st))
			s->stopped = false;   /* a guest's int3: ask again on the next event */
	}
}

static void *server_thread(void *arg)
{
	struct gdb_server *s = arg;
	uint8_t buf[4096];

	pthread_setname_np(pthread_self(), "mvm-gdb");
	sandbox_enter(SANDBOX_GDB);
	for (;;) {
		struct pollfd p[4] = {
			{ .fd = s->quit_fd, .events = POLLIN },
			{ .fd = s->event_fd, .events = POLLIN },
			{ .fd = s->listen_fd, .events = POLLIN },
			{ .fd = s->conn_fd, .events = POLLIN },   /* -1: ignored */
		};
		uint64_t v;

		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("gdb: poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN) {
			(void)!read(s->event_fd, &v, sizeof(v));
			if (!s->stopped && halt_and_report(s, GDB_STOP_INTERRUPT))
				drop_client(s, "stopped reading");
		}
		if (p[2].revents & POLLIN)
			on_accept(s);   /* a second client is turned away there */
		if (!p[3].revents || s->conn_fd < 0 || p[3].fd != s->conn_fd)
			continue;
		ssize_t n = recv(s->conn_fd, buf, sizeof(buf), 0);

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			drop_client(s, "disconnected");
		else if (on_bytes(s, buf, (size_t)n))
			drop_client(s, "left or misbehaved");
	}
	if (s->conn_fd >= 0) {
		char w[8];
		int len = snprintf(w, sizeof(w), "W%02x", s->exit_status & 0xff);

		send_reply(s, w, (size_t)len);
		close(s->conn_fd);
		s->conn_fd = -1;
	}
	return NULL;
}

int gdb_server_start(struct gdb_server *s, const struct gdb_target_ops *tops,
		     const struct gdb_server_ops *sops, void *t, int nr_cpus, int event_fd,
		     bool start_stopped)
{
	int ret;

	s->ops = sops;
	s->t = t;
	s->event_fd = event_fd;
	s->stopped = start_stopped;
	gdb_stub_init(&s->stub, tops, t, nr_cpus);
	gdb_rx_init(&s->rx);
	s->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (s->quit_fd < 0)
		return -errno;
	ret = pthread_create(&s->thread, NULL, server_thread, s);
	if (ret)
		return -ret;
	s->started = true;
	return 0;
}

void gdb_server_stop(struct gdb_server *s, int exit_status)
{
	uint64_t one = 1;

	if (s->started) {
		s->exit_status = exit_status;
		(void)!write(s->quit_fd, &one, sizeof(one));
		pthread_join(s->thread, NULL);
		s->started = false;
	}
	if (s->conn_fd >= 0)
		close(s->conn_fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->quit_fd >= 0)
		close(s->quit_fd);
	if (s->unix_path[0])
		unlink(s->unix_path);
	s->conn_fd = s->listen_fd = s->quit_fd = -1;
	s->unix_path[0] = '\0';
}
