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
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "net/user_flows.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "util/slirp_lib.h"

struct user_timer {
	struct user_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;          /* -1: not armed */
};

struct user {
	struct net_backend be;
	const struct slirp_lib *sl; /* libslirp, loaded on first use (util/slirp_lib.h) */
	Slirp *slirp;
	int epfd;                   /* private epoll mirroring slirp's poll set */
	int timer_fd;
	bool started;
	struct pollfd *pfds;        /* filled by slirp_pollfds_fill */
	int nr_pfds, cap_pfds;
	struct user_flows flows;    /* what epfd holds; slirp's sockets counted */
	int64_t refused_logged_ms;  /* when the cap was last reported */
	uint64_t refused_logged;
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
	struct user *u = opaque;

	/* Counted now; watched once the next fill names it with its events. */
	uf_register(&u->flows, fd);
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	struct user *u = opaque;

	uf_unregister(&u->flows, fd);
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
	u->sl->pollfds_fill(u->slirp, &timeout, cb_add_poll, u);
	uf_sync(&u->flows, u->pfds, u->nr_pfds, now_ns() / 1000000);
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
			u->sl->handle_timer(u->slirp, t->id, t->cb_opaque);
			goto again;
		}
	}
}

/* evs: what the private epoll reported (the fds of the last fill). */
static void user_run(struct user *u, const struct epoll_event *evs, int nev)
{
	uf_revents(&u->flows, u->pfds, u->nr_pfds, evs, nev);
	u->sl->pollfds_poll(u->slirp, 0, cb_get_revents, u);
	user_fire_timers(u);
	user_refill(u);
}

#define USER_EVENTS_PER_RUN 64

static void user_io_ready(void *opaque, uint32_t events)
{
	struct user *u = opaque;
	struct epoll_event evs[USER_EVENTS_PER_RUN];
	int n;

	/* Level-triggered: what does not fit now is reported on the next
	 * round, so one round's work stays bounded. */
	do
		n = epoll_wait(u->epfd, evs, USER_EVENTS_PER_RUN, 0);
	while (n < 0 && errno == EINTR);
	user_run(u, evs, n < 0 ? 0 : n);
}

static void user_timer_ready(void *opaque, uint32_t events)
{
	struct user *u = opaque;
	uint64_t n;

	if (read(u->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("net user: timerfd read: %s", strerror(errno));
	user_run(u, NULL, 0);
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

/* Guest-triggered: at most one line per 10 s, with the counts since. */
static void user_report_refused(struct user *u)
{
	int64_t now_ms = now_ns() / 1000000;
	uint64_t total = u->flows.refused + u->flows.blocked;

	if (u->refused_logged && now_ms - u->refused_logged_ms < 10000)
		return;
	log_warn("net user: %llu guest frames dropped so far: %llu at the cap of %u host sockets "
		 "(max-flows), %llu toward the host's loopback (host-loopback=off)",
		 (unsigned long long)(total - u->refused_logged), (unsigned long long)u->flows.refused,
		 u->flows.max, (unsigned long long)u->flows.blocked);
	u->refused_logged = total;
	u->refused_logged_ms = now_ms;
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
	if (uf_admit(&u->flows, u->frame, len, now_ns() / 1000000) != UF_PASS) {
		user_report_refused(u);
		return 0;   /* dropped, as a NIC drops what the wire cannot take */
	}
	u->sl->input(u->slirp, u->frame, (int)len);
	uf_input_end(&u->flows);
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
		u->sl->cleanup(u->slirp);   /* frees its timers through cb_timer_free */
	while (u->timers) {
		struct user_timer *t = u->timers;
		u->timers = t->next;
		free(t);
	}
	uf_free(&u->flows);
	if (u->epfd >= 0)
		close(u->epfd);
	if (u->timer_fd >= 0)
		close(u->timer_fd);
	free(u->pfds);
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

/* slirp's sockets are this process's fds: make room for max of them beside
 * mvm's own, within the hard limit (the soft one is often 1024). */
static void user_fd_room(unsigned max)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return;
	want = rl.rlim_cur + max;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)max + 256)
		log_warn("net user: max-flows=%u, but this process may open only %llu files: "
			 "slirp may run out of them before its cap (raise the limit, or lower max-flows)",
			 max, (unsigned long long)rl.rlim_cur);
}

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
	const struct slirp_lib *sl;
	char why[256];
	struct user *u;
	unsigned max;
	int r;

	*out = NULL;
	if (!(sl = slirp_lib_load(why, sizeof(why)))) {
		log_err("net user: %s", why);
		return err_host(-ENOENT);
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->sl = sl;
	u->be.ops = &user_ops;
	u->be.name = "user";
	u->be.vnet_hdr = false;
	u->timer_fd = -1;
	u->flows.epfd = -1;
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
	max = cfg->max_flows ? cfg->max_flows : NET_USER_FLOWS_DEFAULT;
	r = uf_init(&u->flows, u->epfd, max, cfg->restrict_on, cfg->no_host_loopback);
	if (r) {
		log_err("net user: no memory for the flow table of %u entries", max);
		goto fail;
	}
	user_fd_room(max);

	sc.version = 4;
	sc.restricted = cfg->restrict_on;
	sc.in_enabled = true;
	sc.vnetwork.s_addr = htonl(NET_USER_NETWORK);
	sc.vnetmask.s_addr = htonl(NET_USER_NETMASK);
	sc.vhost.s_addr = htonl(NET_USER_HOST_ADDR);
	sc.in6_enabled = false;
	sc.vdhcp_start.s_addr = htonl(NET_USER_GUEST_ADDR);
	sc.vnameserver.s_addr = htonl(NET_USER_DNS_ADDR);
	sc.if_mtu = 0;   /* libslirp's default, 1500 */
	sc.if_mru = 0;
	/* With it, slirp sends 10.0.2.x to that literal address rather than to
	 * 127.0.0.1; user_flows.c refuses such frames before slirp sees them. */
	sc.disable_host_loopback = cfg->no_host_loopback;
	sc.enable_emu = false;
	u->slirp = u->sl->new_(&sc, &user_callbacks, u);
	if (!u->slirp) {
		log_err("net user: libslirp refused its configuration");
		r = -EINVAL;
		goto fail;
	}

	for (int i = 0; i < cfg->nr_hostfwd; i++) {
		const struct net_hostfwd *f = &cfg->hostfwd[i];
		if (f->udp)
			uf_allow_udp_source(&u->flows, f->guest_addr, htons(f->guest_port));
		struct in_addr h = { .s_addr = f->host_addr }, g = { .s_addr = f->guest_addr };
		char s[80];
		errno = 0;
		if (u->sl->add_hostfwd(u->slirp, f->udp, h, f->host_port, g, f->guest_port) < 0) {
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
