/* user.c - the libslirp net backend, polled from the owner's epoll event loop. */
#include "net/user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util/evloop.h"
#include "util/log.h"
#include "util/sandbox.h"

struct user_timer {
	struct user_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;          /* -1: not armed */
};

/* One fd slirp asked us to watch, as registered in the private epoll. */
struct user_watch {
	int fd;
	uint32_t events;
};

struct user {
	struct net_backend be;
	Slirp *slirp;
	int epfd;                   /* private epoll mirroring slirp's poll set */
	int timer_fd;
	bool started;
	struct pollfd *pfds;        /* filled by slirp_pollfds_fill */
	int nr_pfds, cap_pfds;
	struct user_watch *watch;   /* what epfd holds now */
	int nr_watch, cap_watch;
	struct user_timer *timers;
	uint8_t frame[NET_FRAME_MAX];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- callbacks from libslirp (all on the loop thread, or during open) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user *u = opaque;

	if (u->started && u->be.rx)
		u->be.rx(u->be.opaque, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	/* Guest-triggered: debug level, or a guest could flood the log. */
	log_debug("net user: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return now_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct user *u = opaque;
	struct user_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct user *u = opaque;

	for (struct user_timer **p = &u->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct user_timer *t = timer;

	if (t)
		t->expire_ms = expire_ms < 0 ? 0 : expire_ms;
	/* The timerfd is re-armed when control returns from slirp. */
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	/* Nothing: the next slirp_pollfds_fill() names it with its events. */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	struct user *u = opaque;

	/* slirp closes fd next; drop it now so a reused number starts clean. */
	for (int i = 0; i < u->nr_watch; i++) {
		if (u->watch[i].fd == fd) {
			epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
			u->watch[i] = u->watch[--u->nr_watch];
			return;
		}
	}
}

static void cb_notify(void *opaque)
{
	/* Always on our thread, inside a slirp call we re-fill after anyway. */
}

static const SlirpCb user_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct user *u = opaque;
	short pe = 0;

	if (u->nr_pfds == u->cap_pfds) {
		int cap = u->cap_pfds ? 2 * u->cap_pfds : 16;
		struct pollfd *p = realloc(u->pfds, (size_t)cap * sizeof(*p));
		if (!p)
			return -1;   /* slirp then skips this socket for one round */
		u->pfds = p;
		u->cap_pfds = cap;
	}
	if (events & SLIRP_POLL_IN)
		pe |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		pe |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		pe |= POLLPRI;
	u->pfds[u->nr_pfds] = (struct pollfd){ .fd = fd, .events = pe };
	return u->nr_pfds++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct user *u = opaque;
	int ev = 0;
	short re;

	if (idx < 0 || idx >= u->nr_pfds)
		return 0;
	re = u->pfds[idx].revents;
	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & (POLLERR | POLLNVAL))
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* ---- keeping the private epoll and the timerfd in step with slirp ---- */

static uint32_t poll_to_epoll(short pe)
{
	return (pe & POLLIN ? EPOLLIN : 0) | (pe & POLLOUT ? EPOLLOUT : 0) |
	       (pe & POLLPRI ? EPOLLPRI : 0);
}

static void watch_set(struct user *u, int fd, uint32_t events, bool known)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (known) {
		if (epoll_ctl(u->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
			epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev);
	} else {
		if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
			epoll_ctl(u->epfd, EPOLL_CTL_MOD, fd, &ev);
	}
}

/* Make epfd watch exactly the pfds with non-zero interest. An fd slirp
 * wants nothing from is not watched: its HUP would wake us in a loop. */
static void user_sync_watch(struct user *u)
{
	struct user_watch *nw;
	int n = 0;

	nw = malloc((size_t)(u->nr_pfds ? u->nr_pfds : 1) * sizeof(*nw));
	if (!nw)
		return;    /* keep the old set; the timer still brings us back */
	for (int i = 0; i < u->nr_pfds; i++) {
		uint32_t ev = poll_to_epoll(u->pfds[i].events);
		int j;
		if (!ev)
			continue;
		for (j = 0; j < n && nw[j].fd != u->pfds[i].fd; j++)
			;
		if (j == n)
			nw[n++] = (struct user_watch){ .fd = u->pfds[i].fd, .events = ev };
		else
			nw[j].events |= ev;
	}
	for (int i = 0; i < u->nr_watch; i++) {
		int j;
		for (j = 0; j < n && nw[j].fd != u->watch[i].fd; j++)
			;
		if (j == n)
			epoll_ctl(u->epfd, EPOLL_CTL_DEL, u->watch[i].fd, NULL);
	}
	for (int j = 0; j < n; j++) {
		int i;
		for (i = 0; i < u->nr_watch && u->watch[i].fd != nw[j].fd; i++)
			;
		if (i == u->nr_watch)
			watch_set(u, nw[j].fd, nw[j].events, false);
		else if (u->watch[i].events != nw[j].events)
			watch_set(u, nw[j].fd, nw[j].events, true);
	}
	free(u->watch);
	u->watch = nw;
	u->nr_watch = n;
	u->cap_watch = u->nr_pfds;
}

static void user_arm_timer(struct user *u, uint32_t timeout_ms)
{
	int64_t now_ms = now_ns() / 1000000;
	int64_t deadline = timeout_ms == UINT32_MAX ? -1 : now_ms + timeout_ms;
	struct itimerspec its = { 0 };

	for (struct user_timer *t = u->timers; t; t = t->next)
		if (t->expire_ms >= 0 && (deadline < 0 || t->expire_ms < deadline))
			deadline = t->expire_ms;
	if (deadline >= 0) {
		int64_t ms = deadline - now_ms;
		if (ms < 1)
			ms = 1;   /* 0 would disarm */
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000;
	}
	timerfd_settime(u->timer_fd, 0, &its, NULL);
}

/* After any call into slirp: ask it what to watch and when to wake. */
static void user_refill(struct user *u)
{
	uint32_t timeout = UINT32_MAX;

	if (!u->started)
		return;
	u->nr_pfds = 0;
	slirp_pollfds_fill(u->slirp, &timeout, cb_add_poll, u);
	user_sync_watch(u);
	user_arm_timer(u, timeout);
}

static void user_fire_timers(struct user *u)
{
	int64_t now_ms = now_ns() / 1000000;
	struct user_timer *t;

again:
	for (t = u->timers; t; t = t->next) {
		if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
			t->expire_ms = -1;
			/* The handler may free or re-arm timers: rescan after it. */
			slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
			goto again;
		}
	}
}

static void user_run(struct user *u)
{
	int r;

	do
		r = poll(u->pfds, (nfds_t)u->nr_pfds, 0);
	while (r < 0 && errno == EINTR);
	slirp_pollfds_poll(u->slirp, r < 0, cb_get_revents, u);
	user_fire_timers(u);
	user_refill(u);
}

static void user_io_ready(void *opaque, uint32_t events)
{
	struct user *u = opaque;
	struct epoll_event evs[16];

	/* Refresh the private epoll's ready list (level-triggered: one call
	 * is enough, and looping would never end); poll() tells slirp the rest. */
	epoll_wait(u->epfd, evs, 16, 0);
	user_run(u);
}

static void user_timer_ready(void *opaque, uint32_t events)
{
	struct user *u = opaque;
	uint64_t n;

	if (read(u->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("net user: timerfd read: %s", strerror(errno));
	user_run(u);
}

/* ---- backend ops ---- */

static int user_start(struct net_backend *be, struct evloop *loop)
{
	struct user *u = (struct user *)be;
	int r;

	loop->sandbox = SANDBOX_NET_USER;
	r = evloop_add(loop, u->epfd, EPOLLIN, user_io_ready, u);
	if (r == 0) {
		r = evloop_add(loop, u->timer_fd, EPOLLIN, user_timer_ready, u);
		if (r)
			evloop_del(loop, u->epfd);
	}
	if (r) {
		log_err("net user: cannot watch slirp's fds: %s", strerror(-r));
		return r;
	}
	u->started = true;
	user_refill(u);
	return 0;
}

static void user_stop(struct net_backend *be)
{
	struct user *u = (struct user *)be;
	struct itimerspec off = { 0 };

	if (!u->started)
		return;
	evloop_del(be->loop, u->epfd);
	evloop_del(be->loop, u->timer_fd);
	timerfd_settime(u->timer_fd, 0, &off, NULL);
	u->started = false;
}

static int user_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct user *u = (struct user *)be;
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > sizeof(u->frame) - len)
			return -EMSGSIZE;
		memcpy(u->frame + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (len < NET_FRAME_MIN)
		return -EINVAL;
	slirp_input(u->slirp, u->frame, (int)len);
	user_refill(u);
	return 0;
}

static void user_set_rx_paused(struct net_backend *be, bool paused)
{
}

static void user_close(struct net_backend *be)
{
	struct user *u = (struct user *)be;

	if (u->slirp)
		slirp_cleanup(u->slirp);   /* frees its timers through cb_timer_free */
	while (u->timers) {
		struct user_timer *t = u->timers;
		u->timers = t->next;
		free(t);
	}
	if (u->epfd >= 0)
		close(u->epfd);
	if (u->timer_fd >= 0)
		close(u->timer_fd);
	free(u->pfds);
	free(u->watch);
	free(u);
}

static const struct net_backend_ops user_ops = {
	.start = user_start,
	.stop = user_stop,
	.send = user_send,
	.set_rx_paused = user_set_rx_paused,
	.set_offload = NULL,
	.close = user_close,
};

static const char *fwd_str(const struct net_hostfwd *f, char *buf, size_t len)
{
	char h[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &f->host_addr, h, sizeof(h));
	inet_ntop(AF_INET, &f->guest_addr, g, sizeof(g));
	snprintf(buf, len, "%s:%s:%u-%s:%u", f->udp ? "udp" : "tcp", h, f->host_port, g,
		 f->guest_port);
	return buf;
}

int net_user_open(struct net_backend **out, const struct net_cfg *cfg)
{
	SlirpConfig sc = { 0 };
	struct user *u;
	int r;

	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->be.ops = &user_ops;
	u->be.name = "user";
	u->be.vnet_hdr = false;
	u->timer_fd = -1;
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (u->epfd < 0) {
		r = -errno;
		log_err("net user: epoll_create1: %s", strerror(-r));
		goto fail;
	}
	u->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (u->timer_fd < 0) {
		r = -errno;
		log_err("net user: timerfd_create: %s", strerror(-r));
		goto fail;
	}

	sc.version = 4;
	sc.restricted = 0;
	sc.in_enabled = true;
	sc.vnetwork.s_addr = htonl(NET_USER_NETWORK);
	sc.vnetmask.s_addr = htonl(NET_USER_NETMASK);
	sc.vhost.s_addr = htonl(NET_USER_HOST_ADDR);
	sc.in6_enabled = false;
	sc.vdhcp_start.s_addr = htonl(NET_USER_GUEST_ADDR);
	sc.vnameserver.s_addr = htonl(NET_USER_DNS_ADDR);
	sc.if_mtu = 0;   /* libslirp's default, 1500 */
	sc.if_mru = 0;
	sc.disable_host_loopback = false;
	sc.enable_emu = false;
	u->slirp = slirp_new(&sc, &user_callbacks, u);
	if (!u->slirp) {
		log_err("net user: libslirp refused its configuration");
		r = -EINVAL;
		goto fail;
	}

	for (int i = 0; i < cfg->nr_hostfwd; i++) {
		const struct net_hostfwd *f = &cfg->hostfwd[i];
		struct in_addr h = { .s_addr = f->host_addr }, g = { .s_addr = f->guest_addr };
		char s[80];
		errno = 0;
		if (slirp_add_hostfwd(u->slirp, f->udp, h, f->host_port, g, f->guest_port) < 0) {
			r = errno == EACCES ? -EACCES : -EADDRINUSE;
			log_err("net user: hostfwd=%s: cannot listen on the host port (%s: in use, or an address not on this host)",
				fwd_str(f, s, sizeof(s)), errno ? strerror(errno) : "failed");
			goto fail;
		}
	}
	*out = &u->be;
	return 0;
fail:
	user_close(&u->be);
	return r;
}
