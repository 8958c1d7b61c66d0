/* user_flows.h - what the slirp backend knows of libslirp's host sockets:
 * the epoll mirror of slirp's poll set, the count of its sockets, and the
 * cap on the flows a guest may open (--net user,max-flows=N).
 *
 * Contract:
 *  - Watch (uf_sync): after every slirp_pollfds_fill(), the pollfd array
 *    it produced is mirrored into the caller's epoll fd. State is kept per
 *    fd number, so one sync costs O(n) plain work (as the fill itself) and
 *    makes epoll_ctl calls only for fds whose interest changed, appeared or
 *    went away: O(changes) system calls, never O(n^2) searching.
 *    uf_revents() turns what epoll_wait() reported into the revents of
 *    the last synced array, so no poll() over every socket is needed.
 *  - Counting: libslirp 4.7 tells of TCP sockets it connects (register_poll_fd)
 *    and of every socket it closes (unregister_poll_fd), but not of UDP and
 *    ICMP sockets it opens. So a guest frame is classified BEFORE
 *    slirp_input() (uf_admit): a UDP datagram from a source address:port
 *    slirp has no socket for, a TCP SYN for a new 4-tuple and an ICMP echo
 *    leaving the 10.0.2.0/24 network each make slirp open one socket. The
 *    flow is counted at once and tied to its fd when slirp registers it or
 *    names a new datagram fd in the next fill. A predicted socket slirp never
 *    shows (its first sendto failed: slirp keeps it, unpolled, 240 s) stays
 *    counted for 250 s. Sockets that are no guest flow's (hostfwd listeners,
 *    accepted hostfwd connections) are counted when first named.
 *  - Cap: when the count reaches max, a frame that would open a socket is
 *    refused (uf_admit returns UF_DROP; the caller drops it, as a full NIC
 *    would) and hostfwd listeners are not watched, so slirp accepts no new
 *    host connection. Flows that exist keep working. libslirp has no call
 *    that closes one of its sockets, so evicting the oldest flow is not
 *    possible: room comes back as slirp closes sockets (UDP idle 240 s,
 *    DNS 10 s after its answer, TCP at close).
 *  - Host loopback (block_loopback): frames to 127.0.0.0/8 and 0.0.0.0/8,
 *    and TCP SYNs and UDP to any 10.0.2.0/24 alias (slirp maps them to
 *    127.0.0.1) except DNS on port 53 of 10.0.2.3, are refused. hostfwd
 *    keeps working: TCP that is no bare SYN opens nothing and passes, and
 *    UDP from a guest address:port given to uf_allow_udp_source() (a UDP
 *    hostfwd's target, answering the host) passes.
 *  - One thread (the backend's loop); nothing locks. Bounded: at most max
 *    flow records; the fd table grows to the highest fd number seen.
 */
#ifndef MVM_NET_USER_FLOWS_H
#define MVM_NET_USER_FLOWS_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

/* A predicted socket slirp never showed is forgotten this long after its
 * frame: slirp's own UDP/ICMP expiry (SO_EXPIRE, 240 s) plus a margin. */
#define UF_UNSEEN_TTL_MS 250000

struct uf_key {
	uint8_t proto;             /* 6 TCP, 17 UDP, 1 ICMP */
	uint32_t saddr, daddr;     /* network order; daddr 0 for UDP */
	uint16_t sport, dport;     /* network order; 0 where not part of the key */
};

struct uf_flow {
	struct uf_key key;
	int fd;                    /* -1 until slirp's socket is seen */
	int64_t born_ms;
	bool hashed;               /* ICMP echoes are not: each one is new */
	struct uf_flow *hnext;     /* hash chain */
	struct uf_flow *uprev, *unext;   /* unseen list, oldest first */
};

enum uf_fd_kind { UF_FD_UNKNOWN, UF_FD_FLOW, UF_FD_OTHER, UF_FD_LISTEN };

struct uf_fd {
	uint32_t want, have;       /* epoll events wanted by the last fill; in epfd */
	uint32_t gen;              /* the sync that last saw it in the fill */
	int pfd_idx;               /* its index in that fill */
	int wpos;                  /* its place in watched[], -1 when not watched */
	struct uf_flow *flow;
	uint8_t kind;              /* enum uf_fd_kind */
};

#define UF_MAX_ALLOW 16

struct user_flows {
	int epfd;
	unsigned max;
	bool restricted;           /* slirp opens no socket for the guest */
	bool block_loopback;
	unsigned nr_flows, nr_other;
	struct uf_fd *fds;
	int nr_fds;
	int *watched;
	int nr_watched, cap_watched;
	uint32_t gen;
	struct uf_flow **buckets;
	unsigned nbuckets;         /* a power of two */
	uint64_t seed;
	struct uf_flow *unseen_head, *unseen_tail;
	struct uf_flow *pending;   /* the flow the frame now in slirp_input() is for */
	bool pending_new;
	bool in_input;
	uint64_t refused;          /* frames refused at the cap */
	uint64_t blocked;          /* frames refused by block_loopback */
	uint64_t ctl_calls;        /* epoll_ctl calls made (for tests) */
	struct uf_key allow[UF_MAX_ALLOW];   /* UDP hostfwd targets (block_loopback) */
	int nr_allow;
};

enum uf_verdict { UF_PASS, UF_DROP_CAP, UF_DROP_LOOPBACK };

int uf_init(struct user_flows *f, int epfd, unsigned max, bool restricted, bool block_loopback);
void uf_free(struct user_flows *f);
/* A UDP hostfwd's guest address and port (network order): its answers to
 * 10.0.2.2 pass block_loopback. */
void uf_allow_udp_source(struct user_flows *f, uint32_t addr, uint16_t port);

/* Before slirp_input(frame): UF_PASS (then call uf_input_end() right after
 * it, and uf_sync() after the fill that follows) or why the frame must be
 * dropped. */
enum uf_verdict uf_admit(struct user_flows *f, const uint8_t *frame, size_t len, int64_t now_ms);
void uf_input_end(struct user_flows *f);

/* From libslirp's register_poll_fd / unregister_poll_fd callbacks. */
void uf_register(struct user_flows *f, int fd);
void uf_unregister(struct user_flows *f, int fd);

/* After slirp_pollfds_fill(): make epfd watch what pfds asks for. */
void uf_sync(struct user_flows *f, const struct pollfd *pfds, int n, int64_t now_ms);

/* Set pfds[].revents (the array of the last uf_sync) from epoll_wait()'s events. */
void uf_revents(const struct user_flows *f, struct pollfd *pfds, int n,
		const struct epoll_event *evs, int nev);

/* slirp's host sockets as counted: guest flows + listeners and accepted connections. */
static inline unsigned uf_sockets(const struct user_flows *f)
{
	return f->nr_flows + f->nr_other;
}

#endif
