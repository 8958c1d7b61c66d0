/* user_flows.c - slirp's sockets: epoll mirror, count, cap and loopback filter. */
#include "net/user_flows.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/user_addr.h"

/* ---- the fd table ---- */

static struct uf_fd *fd_slot(struct user_flows *f, int fd)
{
	if (fd < 0)
		return NULL;
	if (fd >= f->nr_fds) {
		int n = f->nr_fds ? f->nr_fds : 64;
		struct uf_fd *p;

		while (n <= fd)
			n *= 2;
		p = realloc(f->fds, (size_t)n * sizeof(*p));
		if (!p)
			return NULL;   /* not watched: slirp's timer still runs it */
		for (int i = f->nr_fds; i < n; i++)
			p[i] = (struct uf_fd){ .pfd_idx = -1, .wpos = -1 };
		f->fds = p;
		f->nr_fds = n;
	}
	return &f->fds[fd];
}

static struct uf_fd *fd_find(const struct user_flows *f, int fd)
{
	return fd >= 0 && fd < f->nr_fds ? &f->fds[fd] : NULL;
}

/* ---- flow records ---- */

static unsigned key_hash(const struct user_flows *f, const struct uf_key *k)
{
	uint64_t h = f->seed ^ k->proto;

	h = (h ^ k->saddr) * 0x9e3779b97f4a7c15ull;
	h = (h ^ k->daddr) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ ((uint64_t)k->sport << 16 | k->dport)) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (unsigned)h & (f->nbuckets - 1);
}

static bool key_eq(const struct uf_key *a, const struct uf_key *b)
{
	return a->proto == b->proto && a->saddr == b->saddr && a->daddr == b->daddr &&
	       a->sport == b->sport && a->dport == b->dport;
}

static struct uf_flow *flow_find(const struct user_flows *f, const struct uf_key *k)
{
	for (struct uf_flow *x = f->buckets[key_hash(f, k)]; x; x = x->hnext)
		if (key_eq(&x->key, k))
			return x;
	return NULL;
}

static void unseen_unlink(struct user_flows *f, struct uf_flow *x)
{
	if (x->uprev)
		x->uprev->unext = x->unext;
	else if (f->unseen_head == x)
		f->unseen_head = x->unext;
	else
		return;   /* not on the list */
	if (x->unext)
		x->unext->uprev = x->uprev;
	else
		f->unseen_tail = x->uprev;
	x->uprev = x->unext = NULL;
}

static struct uf_flow *flow_add(struct user_flows *f, const struct uf_key *k, bool hashed,
				int64_t now_ms)
{
	struct uf_flow *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->key = *k;
	x->fd = -1;
	x->born_ms = now_ms;
	x->hashed = hashed;
	if (hashed) {
		unsigned b = key_hash(f, k);
		x->hnext = f->buckets[b];
		f->buckets[b] = x;
	}
	x->uprev = f->unseen_tail;
	if (f->unseen_tail)
		f->unseen_tail->unext = x;
	else
		f->unseen_head = x;
	f->unseen_tail = x;
	f->nr_flows++;
	return x;
}

static void flow_del(struct user_flows *f, struct uf_flow *x)
{
	if (x->hashed) {
		for (struct uf_flow **p = &f->buckets[key_hash(f, &x->key)]; *p; p = &(*p)->hnext) {
			if (*p == x) {
				*p = x->hnext;
				break;
			}
		}
	}
	unseen_unlink(f, x);
	if (x->fd >= 0) {
		struct uf_fd *s = fd_find(f, x->fd);
		if (s && s->flow == x) {
			s->flow = NULL;
			s->kind = UF_FD_UNKNOWN;
		}
	}
	if (f->pending == x)
		f->pending = NULL;
	f->nr_flows--;
	free(x);
}

static void flow_bind(struct user_flows *f, struct uf_flow *x, int fd, struct uf_fd *s)
{
	unseen_unlink(f, x);
	x->fd = fd;
	s->flow = x;
	s->kind = UF_FD_FLOW;
}

int uf_init(struct user_flows *f, int epfd, unsigned max, bool restricted, bool block_loopback)
{
	memset(f, 0, sizeof(*f));
	f->epfd = epfd;
	f->max = max;
	f->restricted = restricted;
	f->block_loopback = block_loopback;
	f->nbuckets = 64;
	while (f->nbuckets < max)
		f->nbuckets *= 2;
	f->buckets = calloc(f->nbuckets, sizeof(*f->buckets));
	if (!f->buckets)
		return -ENOMEM;
	/* The guest picks the keys: a secret seed keeps it from filling one chain. */
	if (getrandom(&f->seed, sizeof(f->seed), GRND_NONBLOCK) != sizeof(f->seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		f->seed = (uint64_t)ts.tv_nsec * 0x2545f4914f6cdd1dull ^ (uint64_t)getpid();
	}
	return 0;
}

void uf_free(struct user_flows *f)
{
	for (unsigned b = 0; f->buckets && b < f->nbuckets; b++) {
		while (f->buckets[b])
			flow_del(f, f->buckets[b]);
	}
	while (f->unseen_head)
		flow_del(f, f->unseen_head);
	/* Bound unhashed flows (ICMP) hang off the fd table. */
	for (int i = 0; i < f->nr_fds; i++)
		if (f->fds[i].flow)
			flow_del(f, f->fds[i].flow);
	free(f->buckets);
	free(f->fds);
	free(f->watched);
	memset(f, 0, sizeof(*f));
	f->epfd = -1;
}

/* ---- guest frames ---- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32n(const uint8_t *p)   /* as stored: network order */
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static bool hdr_csum_ok(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += rd16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static bool in_user_net(uint32_t a)
{
	return (ntohl(a) & NET_USER_NETMASK) == NET_USER_NETWORK;
}

void uf_allow_udp_source(struct user_flows *f, uint32_t addr, uint16_t port)
{
	if (f->nr_allow < UF_MAX_ALLOW)
		f->allow[f->nr_allow++] = (struct uf_key){ .proto = 17, .saddr = addr, .sport = port };
}

static bool udp_allowed(const struct user_flows *f, uint32_t saddr, const uint8_t *l4)
{
	for (int i = 0; i < f->nr_allow; i++)
		if (f->allow[i].saddr == saddr && f->allow[i].sport == htons(rd16(l4)))
			return true;
	return false;
}

/* Would slirp (and through it the guest) reach the host's loopback? */
static bool to_loopback(const struct user_flows *f, uint8_t proto, uint32_t saddr,
			uint32_t daddr, const uint8_t *l4, size_t l4len)
{
	uint32_t d = ntohl(daddr);

	if ((d >> 24) == 127 || (d >> 24) == 0)
		return true;
	if ((proto != 6 && proto != 17) || !in_user_net(daddr))
		return false;
	/* What answers a hostfwd connection goes to 10.0.2.2 too: TCP only
	 * opens with a bare SYN, and a UDP hostfwd's guest port may answer. */
	if (!l4 || (proto == 6 && (l4len < 14 || (l4[13] & 0x16) != 0x02)) ||
	    (proto == 17 && l4len >= 4 && udp_allowed(f, saddr, l4)))
		return false;
	if (d == NET_USER_DNS_ADDR) {
		/* slirp sends 10.0.2.3 to the host's resolver, often 127.0.0.53:
		 * DNS only. */
		return l4len >= 4 && rd16(l4 + 2) != 53;
	}
	if (d == NET_USER_HOST_ADDR && proto == 17 && l4len >= 4 &&
	    (rd16(l4 + 2) == 67 || rd16(l4 + 2) == 69))
		return false;   /* DHCP and TFTP: answered inside slirp */
	return true;
}

enum uf_verdict uf_admit(struct user_flows *f, const uint8_t *fr, size_t len, int64_t now_ms)
{
	const uint8_t *ip = fr + 14, *l4;
	size_t ihl, tot, l4len;
	uint16_t frag;
	uint8_t proto;
	uint32_t saddr, daddr;
	struct uf_key k = { 0 };
	bool hashed = true;
	struct uf_flow *x;

	f->pending = NULL;
	f->pending_new = false;
	f->in_input = true;
	if (len < 14 + 20 || rd16(fr + 12) != 0x0800)
		return UF_PASS;   /* ARP, IPv6 (off), runts: no socket */
	ihl = (size_t)(ip[0] & 15) * 4;
	tot = rd16(ip + 2);
	/* What slirp's ip_input() drops opens nothing. */
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || tot > len - 14 || !hdr_csum_ok(ip, ihl))
		return UF_PASS;
	proto = ip[9];
	saddr = rd32n(ip + 12);
	daddr = rd32n(ip + 16);
	frag = rd16(ip + 6);
	l4 = ip + ihl;
	l4len = tot - ihl;
	if (frag & 0x1fff) {
		l4 = NULL;   /* a later fragment: no transport header */
		l4len = 0;
	}
	if (f->block_loopback && to_loopback(f, proto, saddr, daddr, l4, l4len)) {
		f->blocked++;
		f->in_input = false;
		return UF_DROP_LOOPBACK;
	}
	if (f->restricted)
		return UF_PASS;   /* slirp opens sockets only for hostfwd then */
	if (!l4) {
		/* It may complete a datagram whose first fragment opened a flow
		 * (counted then), or one that will open a socket now. */
		if (uf_sockets(f) >= f->max)
			goto refuse;
		return UF_PASS;
	}
	k.proto = proto;
	k.saddr = saddr;
	switch (proto) {
	case 17:
		if (l4len < 8)
			return UF_PASS;
		if ((rd16(l4 + 2) == 67 && (ntohl(daddr) == NET_USER_HOST_ADDR || daddr == 0xffffffffu)) ||
		    (rd16(l4 + 2) == 69 && ntohl(daddr) == NET_USER_HOST_ADDR))
			return UF_PASS;   /* DHCP, TFTP: inside slirp */
		k.sport = rd16(l4);   /* slirp's UDP sockets are per guest address:port */
		k.sport = htons(k.sport);
		break;
	case 6:
		/* Only a bare SYN makes slirp connect (tcp_input drops the rest). */
		if (l4len < 20 || (l4[13] & 0x16) != 0x02)
			return UF_PASS;
		k.daddr = daddr;
		k.sport = htons(rd16(l4));
		k.dport = htons(rd16(l4 + 2));
		break;
	case 1:
		/* An echo beyond 10.0.2.2/.3 opens a socket per request. */
		if (l4len < 8 || l4[0] != 8 || ntohl(daddr) == NET_USER_HOST_ADDR ||
		    ntohl(daddr) == NET_USER_DNS_ADDR)
			return UF_PASS;
		hashed = false;
		break;
	default:
		return UF_PASS;
	}
	x = hashed ? flow_find(f, &k) : NULL;
	if (x) {
		if (x->fd < 0)
			f->pending = x;   /* slirp's socket may show itself now */
		return UF_PASS;
	}
	if (uf_sockets(f) >= f->max)
		goto refuse;
	x = flow_add(f, &k, hashed, now_ms);
	if (!x)
		goto refuse;      /* no memory to count it: do not let it open */
	f->pending = x;
	f->pending_new = true;
	return UF_PASS;
refuse:
	f->refused++;
	f->in_input = false;
	return UF_DROP_CAP;
}

void uf_input_end(struct user_flows *f)
{
	struct uf_flow *x = f->pending;

	/* slirp connects TCP inside slirp_input() and says so: no fd, no socket. */
	if (x && f->pending_new && x->key.proto == 6 && x->fd < 0)
		flow_del(f, x);
	/* pending stays for the next uf_sync(): a new datagram socket shows
	 * itself in the fill that follows. */
	f->in_input = false;
}

/* ---- slirp's callbacks ---- */

void uf_register(struct user_flows *f, int fd)
{
	struct uf_fd *s = fd_slot(f, fd);

	if (!s || s->kind != UF_FD_UNKNOWN)
		return;
	if (f->in_input && f->pending && f->pending->fd < 0) {
		flow_bind(f, f->pending, fd, s);
	} else {
		s->kind = UF_FD_OTHER;
		f->nr_other++;
	}
}

void uf_unregister(struct user_flows *f, int fd)
{
	struct uf_fd *s = fd_find(f, fd);

	if (!s)
		return;
	/* slirp closes fd next: drop it now, so a reused number starts clean. */
	if (s->have) {
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
		f->ctl_calls++;
		s->have = 0;
	}
	if (s->wpos >= 0) {
		int last = f->watched[--f->nr_watched];
		f->watched[s->wpos] = last;
		f->fds[last].wpos = s->wpos;
		s->wpos = -1;
	}
	switch (s->kind) {
	case UF_FD_FLOW:
		flow_del(f, s->flow);
		break;
	case UF_FD_OTHER:
	case UF_FD_LISTEN:
		f->nr_other--;
		break;
	default:
		/* Never shown: the socket slirp opened for this very frame
		 * (an ICMP echo or datagram whose sendto failed at once). */
		if (f->in_input && f->pending && f->pending_new && f->pending->fd < 0)
			flow_del(f, f->pending);
		break;
	}
	*s = (struct uf_fd){ .pfd_idx = -1, .wpos = -1 };
}

/* ---- the epoll mirror ---- */

static uint32_t poll_to_epoll(short pe)
{
	return (pe & POLLIN ? EPOLLIN : 0) | (pe & POLLOUT ? EPOLLOUT : 0) |
	       (pe & POLLPRI ? EPOLLPRI : 0);
}

static int sock_type(int fd, int opt)
{
	int v = 0;
	socklen_t l = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, opt, &v, &l) < 0 ? -1 : v;
}

/* A socket slirp names that nobody registered. */
static void classify(struct user_flows *f, int fd, struct uf_fd *s)
{
	int type = sock_type(fd, SO_TYPE);

	/* The datagram socket slirp opened for the frame it was just given. */
	if (type == SOCK_DGRAM && f->pending && f->pending->fd < 0 &&
	    f->pending->key.proto != 6) {
		flow_bind(f, f->pending, fd, s);
		return;
	}
	s->kind = type == SOCK_STREAM && sock_type(fd, SO_ACCEPTCONN) == 1 ? UF_FD_LISTEN
									  : UF_FD_OTHER;
	f->nr_other++;
}

static void watch_ctl(struct user_flows *f, int fd, struct uf_fd *s, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.fd = fd };
	int op = s->have ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	f->ctl_calls++;
	if (epoll_ctl(f->epfd, op, fd, &e) < 0) {
		/* A number slirp closed and reused without telling us. */
		op = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
		f->ctl_calls++;
		if (op < 0 || epoll_ctl(f->epfd, op, fd, &e) < 0) {
			s->have = 0;
			return;
		}
	}
	s->have = ev;
	if (s->wpos < 0) {
		if (f->nr_watched == f->cap_watched) {
			int cap = f->cap_watched ? 2 * f->cap_watched : 64;
			int *w = realloc(f->watched, (size_t)cap * sizeof(*w));
			if (!w) {
				epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
				s->have = 0;
				return;
			}
			f->watched = w;
			f->cap_watched = cap;
		}
		s->wpos = f->nr_watched;
		f->watched[f->nr_watched++] = fd;
	}
}

static uint32_t want_now(const struct user_flows *f, const struct uf_fd *s)
{
	/* At the cap a listener is not watched: slirp accepts nothing more. */
	if (s->kind == UF_FD_LISTEN && uf_sockets(f) >= f->max)
		return 0;
	return s->want;
}

void uf_sync(struct user_flows *f, const struct pollfd *pfds, int n, int64_t now_ms)
{
	/* Forget predicted sockets slirp has surely expired (or never opened). */
	while (f->unseen_head && now_ms - f->unseen_head->born_ms > UF_UNSEEN_TTL_MS)
		flow_del(f, f->unseen_head);

	if (++f->gen == 0)
		f->gen = 1;
	for (int i = 0; i < n; i++) {
		struct uf_fd *s = fd_slot(f, pfds[i].fd);
		if (!s)
			continue;
		if (s->gen != f->gen) {
			s->gen = f->gen;
			s->want = 0;
			s->pfd_idx = i;
		}
		s->want |= poll_to_epoll(pfds[i].events);
		if (s->kind == UF_FD_UNKNOWN)
			classify(f, pfds[i].fd, s);
	}
	/* What slirp no longer names or wants: out of epfd. An fd slirp wants
	 * nothing from is not watched: its HUP would wake us in a loop. */
	for (int j = f->nr_watched - 1; j >= 0; j--) {
		int fd = f->watched[j];
		struct uf_fd *s = &f->fds[fd];
		if (s->gen == f->gen && want_now(f, s))
			continue;
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
		f->ctl_calls++;
		s->have = 0;
		s->wpos = -1;
		if (j != --f->nr_watched) {
			f->watched[j] = f->watched[f->nr_watched];
			f->fds[f->watched[j]].wpos = j;
		}
	}
	/* New or changed interest. */
	for (int i = 0; i < n; i++) {
		struct uf_fd *s = fd_find(f, pfds[i].fd);
		uint32_t w;
		if (!s || s->gen != f->gen)
			continue;
		w = want_now(f, s);
		if (w && w != s->have)
			watch_ctl(f, pfds[i].fd, s, w);
	}
	f->pending = NULL;
	f->pending_new = false;
}

void uf_revents(const struct user_flows *f, struct pollfd *pfds, int n,
		const struct epoll_event *evs, int nev)
{
	for (int i = 0; i < n; i++)
		pfds[i].revents = 0;
	for (int e = 0; e < nev; e++) {
		int fd = evs[e].data.fd;
		const struct uf_fd *s = fd_find(f, fd);
		uint32_t ev = evs[e].events;
		short re;
		if (!s || s->gen != f->gen || s->pfd_idx < 0 || s->pfd_idx >= n ||
		    pfds[s->pfd_idx].fd != fd)
			continue;
		re = (short)((ev & EPOLLIN ? POLLIN : 0) | (ev & EPOLLOUT ? POLLOUT : 0) |
			     (ev & EPOLLPRI ? POLLPRI : 0) | (ev & EPOLLERR ? POLLERR : 0) |
			     (ev & EPOLLHUP ? POLLHUP : 0));
		pfds[s->pfd_idx].revents = re;
	}
}
