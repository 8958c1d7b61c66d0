/* vsock_conn.c - virtio-vsock connections: the host's Unix sockets, the
 * per-connection state machine and its flow control (vsock.h has the rules). */
#include "virtio/vsock_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define VSOCK_FIRST_HOST_PORT (1u << 30)

size_t vsock_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len)
{
	uint8_t *o = dst;
	size_t done = 0;

	for (int i = 0; i < c->nr_out && done < len; i++) {
		size_t l = c->iov[i].iov_len, n;

		if (off >= l) {
			off -= l;
			continue;
		}
		n = l - off < len - done ? l - off : len - done;
		memcpy(o + done, (const uint8_t *)c->iov[i].iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vsock_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len)
{
	const uint8_t *s = src;
	size_t done = 0;

	for (int i = c->nr_out; i < c->nr_out + c->nr_in && done < len; i++) {
		size_t l = c->iov[i].iov_len, n;

		if (off >= l) {
			off -= l;
			continue;
		}
		n = l - off < len - done ? l - off : len - done;
		memcpy((uint8_t *)c->iov[i].iov_base + off, s + done, n);
		done += n;
		off = 0;
	}
	return done;
}

/* iov[] = the part [off, off+len) of c's segments first..first+count; the entries used. */
static int chain_slice(const struct vq_chain *c, int first, int count, size_t off, size_t len,
		       struct iovec *iov)
{
	int n = 0;

	for (int i = first; i < first + count && len; i++) {
		size_t l = c->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		iov[n].iov_base = (uint8_t *)c->iov[i].iov_base + off;
		iov[n].iov_len = l - off < len ? l - off : len;
		len -= iov[n].iov_len;
		off = 0;
		n++;
	}
	return n;
}

/* ---- the table ---- */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Ticks while a host client waits for its connection (a fifth of the
 * handshake time, at most 1 s), none otherwise. */
static void timer_arm(struct virtio_vsock *d, bool on)
{
	struct itimerspec it = { 0 };
	uint32_t tick_ms = d->handshake_ms / 5;

	if (d->timer_armed == on || d->timer_fd < 0)
		return;
	if (tick_ms > 1000)
		tick_ms = 1000;
	if (tick_ms == 0)
		tick_ms = 1;
	if (on) {
		it.it_value.tv_sec = it.it_interval.tv_sec = tick_ms / 1000;
		it.it_value.tv_nsec = it.it_interval.tv_nsec = (long)(tick_ms % 1000) * 1000000;
	}
	if (!timerfd_settime(d->timer_fd, 0, &it, NULL))
		d->timer_armed = on;
}

/* A handshake ended: a client waiting in the backlog may come in. */
static void listener_resume(struct virtio_vsock *d)
{
	if (d->listen_paused && d->nr_handshakes < VSOCK_MAX_HANDSHAKES &&
	    !evloop_mod(&d->w.loop, d->listen_fd, EPOLLIN))
		d->listen_paused = false;
}

static void conn_ready(void *opaque, uint32_t events);

static uint32_t conn_credit(const struct vsock_conn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	return inflight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - inflight;
}

static bool conn_wants_data(const struct vsock_conn *c)
{
	return c->state == VSC_ESTABLISHED && c->readable && !c->host_eof &&
	       !(c->peer_shutdown & VSOCK_SHUTDOWN_RCV) && conn_credit(c) > 0;
}

static void conn_unregister(struct vsock_conn *c)
{
	if (c->registered)
		evloop_del(&c->d->w.loop, c->fd);
	c->registered = false;
	c->events = 0;
}

static void conn_close_fd(struct vsock_conn *c)
{
	conn_unregister(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->buf_len = c->buf_head = 0;
}

static void conn_free(struct vsock_conn *c)
{
	struct virtio_vsock *d = c->d;

	conn_close_fd(c);
	if (c->state == VSC_HANDSHAKE)
		d->nr_handshakes--;
	d->conns[c->slot] = NULL;
	d->nr_conns--;
	free(c);
	listener_resume(d);
}

/* The connection is over from the host's side: close the host socket and
 * owe the guest an RST (nothing at all when the guest never heard of it). */
static void conn_reset(struct vsock_conn *c)
{
	if (c->state == VSC_HANDSHAKE || (c->state == VSC_REQUEST && (c->pending & VSC_P_REQUEST))) {
		conn_free(c);
		return;
	}
	conn_close_fd(c);
	c->state = VSC_CLOSING;
	c->pending = VSC_P_RST;
}

/* Register the epoll interest the state calls for. */
static void conn_rearm(struct vsock_conn *c)
{
	uint32_t ev = 0;

	if (c->fd < 0 || c->hup)
		return;
	if (c->state == VSC_HANDSHAKE)
		ev = EPOLLIN;
	if (c->state == VSC_ESTABLISHED) {
		if (!c->readable && !c->host_eof && !(c->peer_shutdown & VSOCK_SHUTDOWN_RCV) &&
		    conn_credit(c) > 0)
			ev |= EPOLLIN;
		if (c->buf_len)
			ev |= EPOLLOUT;
	}
	if (!c->registered) {
		int rc = evloop_add(&c->d->w.loop, c->fd, ev, conn_ready, c);

		if (rc) {
			log_warn_rl("virtio-vsock: cannot watch a connection's socket: %s; "
				    "it is reset", strerror(-rc));
			conn_reset(c);
			return;
		}
		c->registered = true;
		c->events = ev;
	} else if (ev != c->events && !evloop_mod(&c->d->w.loop, c->fd, ev)) {
		c->events = ev;
	}
}

static struct vsock_conn *conn_new(struct virtio_vsock *d, int fd, enum vsock_conn_state st)
{
	struct vsock_conn *c;
	int slot;

	if (d->nr_conns >= VSOCK_MAX_CONNS)
		return NULL;
	for (slot = 0; slot < VSOCK_MAX_CONNS && d->conns[slot]; slot++)
		;
	if (slot == VSOCK_MAX_CONNS || !(c = calloc(1, sizeof(*c))))
		return NULL;
	c->d = d;
	c->slot = slot;
	c->fd = fd;
	c->state = st;
	c->since_ms = now_ms();
	d->conns[slot] = c;
	d->nr_conns++;
	if (st == VSC_HANDSHAKE)
		d->nr_handshakes++;
	return c;
}

static struct vsock_conn *conn_find(struct virtio_vsock *d, uint32_t local, uint32_t peer)
{
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = d->conns[i];

		if (c && c->state != VSC_HANDSHAKE && c->local_port == local && c->peer_port == peer)
			return c;
	}
	return NULL;
}

static bool port_in_use(struct virtio_vsock *d, uint32_t port)
{
	for (int i = 0; i < VSOCK_MAX_CONNS; i++)
		if (d->conns[i] && d->conns[i]->state != VSC_HANDSHAKE &&
		    d->conns[i]->local_port == port)
			return true;
	return false;
}

static uint32_t alloc_host_port(struct virtio_vsock *d)
{
	uint32_t p;

	do {
		p = d->next_port++;
		if (d->next_port < VSOCK_FIRST_HOST_PORT)
			d->next_port = VSOCK_FIRST_HOST_PORT;
	} while (p < VSOCK_FIRST_HOST_PORT || port_in_use(d, p));
	return p;
}

void vsock_conns_drop_all(struct virtio_vsock *d)
{
	for (int i = 0; i < VSOCK_MAX_CONNS; i++)
		if (d->conns[i])
			conn_free(d->conns[i]);
	d->rst_head = d->rst_len = 0;
	d->rx_cursor = 0;
}

/* ---- guest -> host bytes ---- */

/* Ask for a CREDIT_UPDATE when the guest believes less than half its window is free. */
static void conn_maybe_credit(struct vsock_conn *c)
{
	uint32_t free_told = VSOCK_BUF_ALLOC - (c->rx_cnt - c->fwd_told);

	if (c->fwd_cnt != c->fwd_told && free_told < VSOCK_BUF_ALLOC / 2)
		c->pending |= VSC_P_CREDIT;
}

/* 0 on progress or EAGAIN (bytes sent in *sent), -errno when the socket is broken. */
static int sock_send(int fd, struct iovec *iov, int n, size_t *sent)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t w;

	*sent = 0;
	if (!n)
		return 0;
	do
		w = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	*sent = (size_t)w;
	return 0;
}

/* After the buffer drained: carry out what the guest's SHUTDOWN asked. */
static void conn_after_shutdown(struct vsock_conn *c)
{
	if (c->buf_len || c->state != VSC_ESTABLISHED)
		return;
	if ((c->peer_shutdown & VSOCK_SHUTDOWN_SEND) && !c->shut_wr && c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr = true;
	}
	/* Both directions closed by the guest: it waits for our RST (Linux
	 * closes the socket on it; otherwise after its close timeout). */
	if (c->peer_shutdown == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
		conn_reset(c);
}

/* Write the buffered bytes; false when the connection was reset. */
static bool conn_flush(struct vsock_conn *c)
{
	while (c->buf_len) {
		struct iovec iov[2];
		uint32_t first = VSOCK_BUF_ALLOC - c->buf_head;
		size_t sent;
		int n = 1;

		if (first > c->buf_len)
			first = c->buf_len;
		iov[0] = (struct iovec){ c->buf + c->buf_head, first };
		if (first < c->buf_len)
			iov[n++] = (struct iovec){ c->buf, c->buf_len - first };
		if (sock_send(c->fd, iov, n, &sent)) {
			conn_reset(c);
			return false;
		}
		if (!sent)
			break;
		c->buf_head = (uint32_t)((c->buf_head + sent) % VSOCK_BUF_ALLOC);
		c->buf_len -= (uint32_t)sent;
		c->fwd_cnt += (uint32_t)sent;
	}
	if (!c->buf_len) {
		c->buf_head = 0;
		conn_after_shutdown(c);
	}
	if (c->state == VSC_ESTABLISHED)
		conn_maybe_credit(c);
	return c->state == VSC_ESTABLISHED;
}

static void conn_guest_rw(struct vsock_conn *c, const struct vsock_hdr *h,
			  const struct vq_chain *ch, uint32_t off)
{
	uint32_t len = h->len, done = 0;
	struct iovec iov[VQ_CHAIN_MAX];

	if (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) {
		log_debug_rl("virtio-vsock: guest port %u sent data after its SHUTDOWN; reset",
			     c->peer_port);
		conn_reset(c);
		return;
	}
	if (len > VSOCK_BUF_ALLOC - (c->rx_cnt - c->fwd_cnt)) {
		log_debug_rl("virtio-vsock: guest port %u sent past its credit; reset", c->peer_port);
		c->d->n_bad_pkts++;
		conn_reset(c);
		return;
	}
	if (!len)
		return;
	c->rx_cnt += len;
	if (!c->buf_len) {
		int n = chain_slice(ch, 0, ch->nr_out, off, len, iov);
		size_t sent;

		if (sock_send(c->fd, iov, n, &sent)) {
			conn_reset(c);
			return;
		}
		done = (uint32_t)sent;
		c->fwd_cnt += done;
	}
	if (done < len) {
		uint32_t tail, first;

		if (!c->buf && !(c->buf = malloc(VSOCK_BUF_ALLOC))) {
			log_warn_rl("virtio-vsock: out of memory for a connection's buffer; reset");
			conn_reset(c);
			return;
		}
		/* Fits: the credit check above bounds rx_cnt - fwd_cnt. */
		tail = (c->buf_head + c->buf_len) % VSOCK_BUF_ALLOC;
		first = VSOCK_BUF_ALLOC - tail;
		if (first > len - done)
			first = len - done;
		vsock_chain_read(ch, off + done, c->buf + tail, first);
		vsock_chain_read(ch, off + done + first, c->buf, len - done - first);
		c->buf_len += len - done;
		if (!conn_flush(c))
			return;
	}
	conn_maybe_credit(c);
}

/* ---- packets from the guest ---- */

void vsock_stray_rst(struct virtio_vsock *d, const struct vsock_hdr *h)
{
	if (h->op == VSOCK_OP_RST)
		return;   /* never answer an RST */
	if (d->rst_len == VSOCK_RST_QUEUE) {
		d->n_rst_dropped++;
		return;
	}
	d->rst[(d->rst_head + d->rst_len) % VSOCK_RST_QUEUE] =
		(struct vsock_stray_rst){ .src_port = h->dst_port, .dst_port = h->src_port };
	d->rst_len++;
}

/* A guest REQUEST to the host's port h->dst_port: connect to "<uds_path>_<port>". */
static void guest_connect(struct virtio_vsock *d, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	int fd;

	if (d->nr_conns >= VSOCK_MAX_CONNS) {
		d->n_refused++;
		log_warn_rl("virtio-vsock: %d connections open; the guest's connect to port %u "
			    "is refused", VSOCK_MAX_CONNS, h->dst_port);
		vsock_stray_rst(d, h);
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", d->uds_path, h->dst_port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug_rl("virtio-vsock: guest connect to %s: %s", sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		vsock_stray_rst(d, h);
		return;
	}
	c = conn_new(d, fd, VSC_ESTABLISHED);
	if (!c) {
		close(fd);
		vsock_stray_rst(d, h);
		return;
	}
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = VSC_P_RESPONSE;
	conn_rearm(c);
}

/* The guest answered our REQUEST: tell the host client, start the stream. */
static void conn_established(struct vsock_conn *c)
{
	char ok[32];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);

	c->state = VSC_ESTABLISHED;
	/* A fresh socket's send buffer always holds these few bytes. */
	if (send(c->fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
		conn_reset(c);
		return;
	}
	c->readable = true;   /* the client may have written after its CONNECT line */
}

void vsock_guest_pkt(struct virtio_vsock *d, const struct vsock_hdr *h,
		     const struct vq_chain *ch, uint32_t off)
{
	struct vsock_conn *c = conn_find(d, h->dst_port, h->src_port);
	int slot;

	if (!c) {
		if (h->op == VSOCK_OP_REQUEST)
			guest_connect(d, h);
		else
			vsock_stray_rst(d, h);
		return;
	}
	if (c->state == VSC_CLOSING)
		return;   /* an RST is on its way */
	slot = c->slot;   /* c may be freed below: test d->conns[slot] */
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (h->op == VSOCK_OP_RST) {
		conn_free(c);
		return;
	}
	if (c->state == VSC_REQUEST) {
		if (h->op == VSOCK_OP_RESPONSE && !(c->pending & VSC_P_REQUEST))
			conn_established(c);
		else
			conn_reset(c);
	} else {
		switch (h->op) {
		case VSOCK_OP_RW:
			conn_guest_rw(c, h, ch, off);
			break;
		case VSOCK_OP_CREDIT_UPDATE:
			break;
		case VSOCK_OP_CREDIT_REQUEST:
			c->pending |= VSC_P_CREDIT;
			break;
		case VSOCK_OP_SHUTDOWN:
			c->peer_shutdown |= h->flags;
			conn_after_shutdown(c);
			break;
		default:   /* REQUEST or RESPONSE on a connected pair */
			conn_reset(c);
			break;
		}
	}
	if (d->conns[slot] == c)
		conn_rearm(c);
}

/* ---- the host's sockets ---- */

static void handshake_fail(struct vsock_conn *c, const char *why, bool garbage)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "ERR %s\n", why);

	if (garbage)
		c->d->n_garbage++;
	log_debug_rl("virtio-vsock: a host client's first line: %s; closed", why);
	if (send(c->fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)0;   /* the client is gone: nothing to tell */
	/* Closing with unread bytes would reset the client before it reads
	 * the line: take what it already sent (a little, never waiting). */
	for (int i = 0; i < 4; i++)
		if (recv(c->fd, line, sizeof(line), MSG_DONTWAIT) <= 0)
			break;
	conn_free(c);
}

/* Read the CONNECT line one byte at a time: nothing past its newline is
 * taken (those bytes are the stream's). */
static void handshake_read(struct vsock_conn *c)
{
	struct virtio_vsock *d = c->d;
	uint32_t port;
	size_t used;

	for (;;) {
		ssize_t r;
		int rc;

		if (c->line_len == VSOCK_LINE_MAX) {
			handshake_fail(c, "expected CONNECT <port>", true);
			return;
		}
		r = read(c->fd, c->line + c->line_len, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			conn_free(c);   /* gone before a whole line */
			return;
		}
		c->line_len++;
		rc = vsock_connect_parse(c->line, c->line_len, &port, &used);
		if (rc < 0) {
			handshake_fail(c, "expected CONNECT <port>", true);
			return;
		}
		if (rc > 0)
			break;
	}
	d->nr_handshakes--;
	listener_resume(d);
	c->state = VSC_REQUEST;
	c->since_ms = now_ms();
	c->host_initiated = true;
	c->peer_port = port;
	c->local_port = alloc_host_port(d);
	c->pending = VSC_P_REQUEST;
	conn_rearm(c);
	vsock_rx_kick(d);
}

static void conn_ready(void *opaque, uint32_t events)
{
	struct vsock_conn *c = opaque;
	struct virtio_vsock *d = c->d;
	const int slot = c->slot;

	if (c->state == VSC_HANDSHAKE) {
		if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN))
			conn_free(c);
		else
			handshake_read(c);
		return;
	}
	/* conn_reset() may free c (a REQUEST the guest never saw): test d->conns[slot]. */
	if (events & EPOLLERR) {
		conn_reset(c);
	} else {
		if (events & EPOLLHUP) {
			/* Both ways closed: what is left to read is read, then EOF. */
			conn_unregister(c);
			c->hup = true;
			c->readable = true;
			if (c->buf_len || c->state == VSC_REQUEST)
				conn_reset(c);   /* bytes it will never take, or a client gone */
		}
		if (d->conns[slot] == c && c->state == VSC_ESTABLISHED) {
			if (events & EPOLLOUT)
				conn_flush(c);
			if (events & EPOLLIN)
				c->readable = true;
		}
		if (d->conns[slot] == c)
			conn_rearm(c);
	}
	vsock_rx_kick(d);
}

void vsock_listener_ready(void *opaque, uint32_t events)
{
	struct virtio_vsock *d = opaque;

	for (int i = 0; i < 16; i++) {
		struct vsock_conn *c = NULL;
		int fd;

		if (d->nr_handshakes >= VSOCK_MAX_HANDSHAKES) {
			/* Let them wait in the backlog until a line is read or times out. */
			if (!evloop_mod(&d->w.loop, d->listen_fd, 0))
				d->listen_paused = true;
			return;
		}
		fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn_rl("virtio-vsock: accept on %s: %s", d->uds_path,
					    strerror(errno));
			return;
		}
		if (d->active)
			c = conn_new(d, fd, VSC_HANDSHAKE);
		if (!c) {
			const char *why = d->active ? "ERR too many connections\n"
						    : "ERR the guest's vsock driver is not ready\n";

			d->n_refused++;
			if (!d->active)
				log_debug_rl("virtio-vsock: host client refused: the guest's driver "
					     "is not ready");
			else
				log_warn_rl("virtio-vsock: host client refused: %d connections open",
					    d->nr_conns);
			if (send(fd, why, strlen(why), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				(void)0;
			close(fd);
			continue;
		}
		conn_rearm(c);
		timer_arm(d, true);
	}
}

/* Host clients that wait too long: for their own CONNECT line, or for the guest's answer. */
void vsock_timer_tick(void *opaque, uint32_t events)
{
	struct virtio_vsock *d = opaque;
	uint64_t t = now_ms(), ticks;
	bool waiting = false;

	if (read(d->timer_fd, &ticks, sizeof(ticks)) < 0)
		(void)0;   /* EAGAIN: a tick already taken */
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = d->conns[i];

		if (!c || (c->state != VSC_HANDSHAKE && c->state != VSC_REQUEST))
			continue;
		if (t - c->since_ms < d->handshake_ms) {
			waiting = true;
		} else if (c->state == VSC_HANDSHAKE) {
			handshake_fail(c, "timeout: no CONNECT line", false);
		} else {
			log_debug_rl("virtio-vsock: the guest did not answer a connection to its "
				     "port %u; the client is closed", c->peer_port);
			if (send(c->fd, "ERR timeout\n", 12, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				(void)0;
			conn_reset(c);
		}
	}
	if (!waiting)
		timer_arm(d, false);
	vsock_rx_kick(d);
}

/* ---- packets to the guest ---- */

/* The control packet c owes the guest first, or 0: an RST ends everything,
 * the handshake comes before data, SHUTDOWN after the last data. */
static uint16_t conn_control_op(const struct vsock_conn *c)
{
	static const struct { unsigned bit; uint16_t op; } order[] = {
		{ VSC_P_RST, VSOCK_OP_RST }, { VSC_P_REQUEST, VSOCK_OP_REQUEST },
		{ VSC_P_RESPONSE, VSOCK_OP_RESPONSE }, { VSC_P_SHUTDOWN, VSOCK_OP_SHUTDOWN },
		{ VSC_P_CREDIT, VSOCK_OP_CREDIT_UPDATE },
	};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (c->pending & order[i].bit)
			return order[i].op;
	return 0;
}

int vsock_rx_next(struct virtio_vsock *d, struct vsock_rx_pick *pk)
{
	memset(pk, 0, sizeof(*pk));
	if (d->rst_len) {
		pk->op = VSOCK_OP_RST;
		pk->src_port = d->rst[d->rst_head].src_port;
		pk->dst_port = d->rst[d->rst_head].dst_port;
		return 1;
	}
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		int slot = (d->rx_cursor + i) % VSOCK_MAX_CONNS;
		struct vsock_conn *c = d->conns[slot];

		if (!c || c->state == VSC_HANDSHAKE)
			continue;
		pk->c = c;
		pk->src_port = c->local_port;
		pk->dst_port = c->peer_port;
		if (conn_wants_data(c) && !(c->pending & (VSC_P_RST | VSC_P_REQUEST | VSC_P_RESPONSE))) {
			char b;
			ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

			if (r == 1) {
				pk->op = VSOCK_OP_RW;
			} else if (r == 0) {
				c->host_eof = true;
				c->pending |= VSC_P_SHUTDOWN;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				c->readable = false;
				conn_rearm(c);
			} else {
				conn_reset(c);
				if (d->conns[slot] != c)
					continue;
			}
		}
		if (!pk->op)
			pk->op = conn_control_op(c);
		if (!pk->op)
			continue;
		if (pk->op == VSOCK_OP_SHUTDOWN)
			pk->flags = VSOCK_SHUTDOWN_SEND;   /* the host socket's EOF */
		d->rx_cursor = (slot + 1) % VSOCK_MAX_CONNS;
		return 1;
	}
	memset(pk, 0, sizeof(*pk));
	return 0;
}

/* The payload of an RW: read the host socket into c's writable part after
 * the header. Bytes read; 0 at EOF or when nothing came; -1 when broken. */
static ssize_t conn_read_into(struct vsock_conn *c, const struct vq_chain *ch)
{
	struct iovec iov[VQ_CHAIN_MAX];
	size_t room = ch->in_len - VSOCK_HDR_LEN, want = conn_credit(c);
	ssize_t r;
	int n;

	if (want > room)
		want = room;
	if (want > VSOCK_MAX_PAYLOAD)
		want = VSOCK_MAX_PAYLOAD;
	n = chain_slice(ch, ch->nr_out, ch->nr_in, VSOCK_HDR_LEN, want, iov);
	do
		r = readv(c->fd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return r < 0 ? -1 : r;
}

uint32_t vsock_rx_emit(struct virtio_vsock *d, const struct vsock_rx_pick *pk,
		       const struct vq_chain *ch)
{
	struct vsock_conn *c = pk->c;
	struct vsock_hdr h = {
		.src_cid = VSOCK_HOST_CID, .dst_cid = d->cid,
		.src_port = pk->src_port, .dst_port = pk->dst_port,
		.type = VSOCK_TYPE_STREAM, .op = pk->op, .flags = pk->flags,
		.buf_alloc = VSOCK_BUF_ALLOC,
	};

	if (!c) {
		d->rst_head = (d->rst_head + 1) % VSOCK_RST_QUEUE;
		d->rst_len--;
		vsock_chain_write(ch, 0, &h, sizeof(h));
		return VSOCK_HDR_LEN;
	}
	switch (pk->op) {
	case VSOCK_OP_RW: {
		ssize_t r = conn_read_into(c, ch);

		if (r > 0) {
			h.len = (uint32_t)r;
			c->tx_cnt += (uint32_t)r;
		} else if (r == 0) {
			c->readable = false;   /* nothing after all: a credit update instead */
			h.op = VSOCK_OP_CREDIT_UPDATE;
		} else {
			conn_reset(c);
			h.op = VSOCK_OP_RST;
		}
		break;
	}
	case VSOCK_OP_SHUTDOWN:
		c->pending &= ~VSC_P_SHUTDOWN;
		break;
	case VSOCK_OP_REQUEST:
		c->pending &= ~VSC_P_REQUEST;
		break;
	case VSOCK_OP_RESPONSE:
		c->pending &= ~VSC_P_RESPONSE;
		break;
	default:
		break;
	}
	/* Every packet carries fwd_cnt: no separate update owed. */
	h.fwd_cnt = c->fwd_cnt;
	c->fwd_told = c->fwd_cnt;
	c->pending &= ~VSC_P_CREDIT;
	vsock_chain_write(ch, 0, &h, sizeof(h));
	if (h.op == VSOCK_OP_RST)
		conn_free(c);
	else
		conn_rearm(c);
	return VSOCK_HDR_LEN + h.len;
}
