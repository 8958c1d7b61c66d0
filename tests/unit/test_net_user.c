/* test_net_user.c - the --net parser, MAC generation, and the libslirp
 * backend driven through a real event loop: ARP, DHCP, hostfwd, idle CPU. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/backend.h"
#include "net/user.h"
#include "net/user_flows.h"
#include "util/evloop.h"
#include "util/log.h"

/* ---- captured log ---- */

static char last_err[512];

static void sink(enum log_level l, const char *m, void *c)
{
	if (l == LOG_ERR)
		snprintf(last_err, sizeof(last_err), "%s", m);
}

static int parse(const char *arg, struct net_cfg *cfg)
{
	last_err[0] = '\0';
	return net_cfg_parse(arg, cfg);
}

static void expect_bad(const char *arg, const char *needle)
{
	struct net_cfg cfg;

	assert_int_equal(parse(arg, &cfg), -EINVAL);
	if (!strstr(last_err, needle)) {
		print_error("'%s': message '%s' lacks '%s'\n", arg, last_err, needle);
		fail();
	}
}

static bool mac_is_local_unicast(const uint8_t *m)
{
	return (m[0] & 0x01) == 0 && (m[0] & 0x02) == 2;
}

/* ---- parser ---- */

static void test_parse_tap(void **state)
{
	struct net_cfg cfg;

	assert_int_equal(parse("tap=mvmtap0", &cfg), 0);
	assert_int_equal(cfg.kind, NET_TAP);
	assert_string_equal(cfg.ifname, "mvmtap0");
	assert_false(cfg.mac_set);
	assert_true(mac_is_local_unicast(cfg.mac));
	assert_int_equal(cfg.nr_hostfwd, 0);
}

static void test_parse_tap_mac(void **state)
{
	struct net_cfg cfg;
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xCD, 0x0f };

	assert_int_equal(parse("tap=t0,mac=52:54:00:ab:CD:0f", &cfg), 0);
	assert_true(cfg.mac_set);
	assert_memory_equal(cfg.mac, want, 6);
	/* 15 characters is the longest name Linux allows. */
	assert_int_equal(parse("tap=abcdefghijklmno", &cfg), 0);
	assert_string_equal(cfg.ifname, "abcdefghijklmno");
}

static void test_parse_user(void **state)
{
	struct net_cfg cfg;

	assert_int_equal(parse("user", &cfg), 0);
	assert_int_equal(cfg.kind, NET_USER);
	assert_int_equal(cfg.nr_hostfwd, 0);
	assert_true(mac_is_local_unicast(cfg.mac));
}

static void test_parse_hostfwd(void **state)
{
	struct net_cfg cfg;

	assert_int_equal(parse("user,mac=02:00:00:00:00:01,hostfwd=tcp::2222-:22,"
			       "hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-10.0.2.16:53",
			       &cfg), 0);
	assert_int_equal(cfg.kind, NET_USER);
	assert_true(cfg.mac_set);
	assert_int_equal(cfg.nr_hostfwd, 3);
	/* Empty host address: loopback only (safer than QEMU's any-address). */
	assert_false(cfg.hostfwd[0].udp);
	assert_int_equal(cfg.hostfwd[0].host_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(cfg.hostfwd[0].host_port, 2222);
	assert_int_equal(cfg.hostfwd[0].guest_addr, htonl(NET_USER_GUEST_ADDR));
	assert_int_equal(cfg.hostfwd[0].guest_port, 22);
	assert_int_equal(cfg.hostfwd[1].host_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(cfg.hostfwd[1].host_port, 8080);
	assert_int_equal(cfg.hostfwd[1].guest_port, 80);
	assert_true(cfg.hostfwd[2].udp);
	assert_int_equal(cfg.hostfwd[2].host_addr, htonl(INADDR_ANY));
	assert_int_equal(cfg.hostfwd[2].guest_addr, htonl(0x0a000210));
	assert_int_equal(cfg.hostfwd[2].guest_port, 53);
}

static void test_parse_hostfwd_limit(void **state)
{
	struct net_cfg cfg;
	char arg[2048];
	int n = snprintf(arg, sizeof(arg), "user");

	for (int i = 0; i < NET_MAX_HOSTFWD; i++)
		n += snprintf(arg + n, sizeof(arg) - (size_t)n, ",hostfwd=tcp::%d-:%d", 10000 + i, 80);
	assert_int_equal(parse(arg, &cfg), 0);
	assert_int_equal(cfg.nr_hostfwd, NET_MAX_HOSTFWD);
	snprintf(arg + n, sizeof(arg) - (size_t)n, ",hostfwd=tcp::9999-:80");
	assert_int_equal(parse(arg, &cfg), -EINVAL);
	assert_non_null(strstr(last_err, "at most 16 hostfwd"));
}

static void test_parse_user_safety(void **state)
{
	struct net_cfg cfg;

	assert_int_equal(parse("user", &cfg), 0);
	assert_false(cfg.restrict_on);
	assert_false(cfg.no_host_loopback);
	assert_int_equal(cfg.max_flows, 0);
	assert_int_equal(parse("user,restrict=on,host-loopback=off,max-flows=64,hostfwd=tcp::2222-:22",
			       &cfg), 0);
	assert_true(cfg.restrict_on);
	assert_true(cfg.no_host_loopback);
	assert_int_equal(cfg.max_flows, 64);
	assert_int_equal(cfg.nr_hostfwd, 1);
	assert_int_equal(parse("user,restrict=off,host-loopback=on,max-flows=65536", &cfg), 0);
	assert_false(cfg.restrict_on);
	assert_false(cfg.no_host_loopback);
	assert_int_equal(cfg.max_flows, 65536);
	expect_bad("user,restrict=yes", "restrict 'yes' is not on or off");
	expect_bad("user,host-loopback=", "host-loopback '' is not on or off");
	expect_bad("user,max-flows=31", "max-flows '31' is not a number in 32..65536");
	expect_bad("user,max-flows=65537", "max-flows '65537'");
	expect_bad("user,max-flows=99999999999", "max-flows '99999999999'");
	expect_bad("user,max-flows=1k", "max-flows '1k'");
	expect_bad("tap=t0,restrict=on", "option 'restrict=on' is unknown");
	expect_bad("user,nope=1", "max-flows=N");
}

static void test_parse_bad(void **state)
{
	expect_bad("", "empty value");
	expect_bad("tap", "needs an interface name");
	expect_bad("tap=", "tap interface name ''");
	expect_bad("tap=abcdefghijklmnop", "1-15 characters");
	expect_bad("tap=a/b", "'a/b'");
	expect_bad("tap=..", "'..'");
	expect_bad("bridge=br0", "backend 'bridge=br0' is unknown");
	expect_bad("usr", "backend 'usr' is unknown");
	expect_bad("user,foo=1", "option 'foo=1' is unknown");
	expect_bad("user,", "option '' is unknown");
	expect_bad("tap=t0,mac=52:54:00:12:34", "mac '52:54:00:12:34'");
	expect_bad("tap=t0,mac=52-54-00-12-34-56", "is not xx:xx:xx:xx:xx:xx");
	expect_bad("tap=t0,mac=52:54:00:12:34:5g", "mac '52:54:00:12:34:5g'");
	expect_bad("tap=t0,mac=01:00:5e:00:00:01", "multicast");
	expect_bad("tap=t0,mac=00:00:00:00:00:00", "not a usable address");
	expect_bad("tap=t0,mac=02:00:00:00:00:01,mac=02:00:00:00:00:02", "mac given twice");
	expect_bad("tap=t0,hostfwd=tcp::22-:22", "only with user networking");
	expect_bad("user,hostfwd=sctp::22-:22", "protocol 'sctp'");
	expect_bad("user,hostfwd=22-22", "has no protocol");
	expect_bad("user,hostfwd=tcp::2222:22", "has no '-'");
	expect_bad("user,hostfwd=tcp::0-:22", "host port '0'");
	expect_bad("user,hostfwd=tcp::65536-:22", "host port '65536'");
	expect_bad("user,hostfwd=tcp::22x-:22", "host port '22x'");
	expect_bad("user,hostfwd=tcp::2222-:", "guest port ''");
	expect_bad("user,hostfwd=tcp::2222-22", "guest side '22'");
	expect_bad("user,hostfwd=tcp:300.1.1.1:2222-:22", "host address '300.1.1.1'");
	expect_bad("user,hostfwd=tcp::2222-10.0.2:22", "guest address '10.0.2'");
	expect_bad("user,hostfwd=tcp::2222-:22,hostfwd=tcp::2222-:23", "host port 2222 is forwarded twice");
}

/* ---- MAC generation ---- */

static void test_random_mac(void **state)
{
	uint8_t a[6], b[6];
	int same = 0;

	for (int i = 0; i < 200; i++) {
		net_random_mac(a);
		net_random_mac(b);
		assert_true(mac_is_local_unicast(a));
		assert_true(mac_is_local_unicast(b));
		same += !memcmp(a, b, 6);
	}
	assert_true(same < 2);
}

/* ---- the libslirp backend ---- */

#define MAX_FRAMES 64

struct rxlog {
	pthread_mutex_t lock;
	uint8_t frames[MAX_FRAMES][1600];
	size_t len[MAX_FRAMES];
	int n;
};

static void rx_record(void *opaque, const uint8_t *frame, size_t len)
{
	struct rxlog *r = opaque;

	pthread_mutex_lock(&r->lock);
	if (r->n < MAX_FRAMES && len <= sizeof(r->frames[0])) {
		memcpy(r->frames[r->n], frame, len);
		r->len[r->n] = len;
		r->n++;
	}
	pthread_mutex_unlock(&r->lock);
}

static const uint8_t guest_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct send_req {
	struct net_backend *be;
	const uint8_t *frame;
	size_t len;
	int r;
};

static double send_cpu_s;   /* the loop thread's CPU time in net_backend_send() */

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void do_send(void *arg)
{
	struct send_req *s = arg;
	struct iovec iov = { (void *)s->frame, s->len };
	double c0 = thread_cpu_s();

	s->r = net_backend_send(s->be, &iov, 1);
	send_cpu_s += thread_cpu_s() - c0;
}

static int send_frame(struct evloop *l, struct net_backend *be, const uint8_t *f, size_t len)
{
	struct send_req s = { be, f, len, -1 };

	evloop_run_sync(l, do_send, &s);
	return s.r;
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static size_t build_arp(uint8_t *f, uint16_t op, const uint8_t *dst_mac, const uint8_t *tha,
			uint32_t spa, uint32_t tpa)
{
	memset(f, 0, 60);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, guest_mac, 6);
	put16(f + 28, (uint16_t)(spa >> 16));
	put16(f + 30, (uint16_t)spa);
	memcpy(f + 32, tha, 6);
	put16(f + 38, (uint16_t)(tpa >> 16));
	put16(f + 40, (uint16_t)tpa);
	return 60;
}

static size_t build_dhcp_discover(uint8_t *f)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8;
	size_t blen = 240 + 4, ulen = 8 + blen, iplen = 20 + ulen;

	memset(f, 0, 14 + iplen);
	memcpy(f, bcast, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)iplen);
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);              /* 0.0.0.0 -> 255.255.255.255 */
	put16(ip + 10, ip_csum(ip, 20));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)ulen);        /* checksum 0: none */
	b[0] = 1;                              /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	b[4] = 0x12; b[5] = 0x34; b[6] = 0x56; b[7] = 0x78;  /* xid */
	memcpy(b + 28, guest_mac, 6);
	b[236] = 99; b[237] = 130; b[238] = 83; b[239] = 99;  /* magic cookie */
	b[240] = 53; b[241] = 1; b[242] = 1;   /* DHCPDISCOVER */
	b[243] = 255;
	return 14 + iplen;
}

/* Wait up to ms for a frame matching pred; copies it to out. Answers ARP
 * requests for the guest's address on the way (slirp asks before it
 * sends to 10.0.2.15). */
typedef bool (*frame_pred)(const uint8_t *f, size_t len, const void *arg);

static bool wait_frame(struct rxlog *r, struct evloop *l, struct net_backend *be, frame_pred pred,
		       const void *arg, int ms, uint8_t *out, size_t *out_len)
{
	int seen = 0;

	for (int t = 0; t < ms; t++) {
		pthread_mutex_lock(&r->lock);
		while (seen < r->n) {
			const uint8_t *f = r->frames[seen];
			size_t len = r->len[seen];
			seen++;
			if (len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 1 &&
			    get32(f + 38) == NET_USER_GUEST_ADDR) {
				uint8_t reply[60];
				build_arp(reply, 2, f + 6, f + 22, NET_USER_GUEST_ADDR, get32(f + 28));
				pthread_mutex_unlock(&r->lock);
				send_frame(l, be, reply, sizeof(reply));
				pthread_mutex_lock(&r->lock);
				continue;
			}
			if (pred(f, len, arg)) {
				memcpy(out, f, len);
				*out_len = len;
				pthread_mutex_unlock(&r->lock);
				return true;
			}
		}
		pthread_mutex_unlock(&r->lock);
		usleep(1000);
	}
	return false;
}

static bool is_arp_reply_from_host(const uint8_t *f, size_t len, const void *arg)
{
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
	       get32(f + 28) == NET_USER_HOST_ADDR && !memcmp(f, guest_mac, 6);
}

static bool is_dhcp_offer(const uint8_t *f, size_t len, const void *arg)
{
	const uint8_t *ip = f + 14, *udp, *b;

	if (len < 14 + 20 + 8 + 240 || get16(f + 12) != 0x0800 || ip[9] != 17)
		return false;
	udp = ip + (ip[0] & 15) * 4;
	b = udp + 8;
	if (get16(udp) != 67 || get16(udp + 2) != 68 || b[0] != 2)
		return false;
	/* option 53 (message type) = 2 (OFFER) */
	for (const uint8_t *o = b + 240; o + 2 < f + len && *o != 255; o += 2 + o[1])
		if (o[0] == 53)
			return o[2] == 2;
	return false;
}

static bool is_syn_to(const uint8_t *f, size_t len, const void *arg)
{
	uint16_t port = *(const uint16_t *)arg;
	const uint8_t *ip = f + 14, *tcp;

	if (len < 14 + 20 + 20 || get16(f + 12) != 0x0800 || ip[9] != 6)
		return false;
	tcp = ip + (ip[0] & 15) * 4;
	return get32(ip + 16) == NET_USER_GUEST_ADDR && get16(tcp + 2) == port &&
	       (tcp[13] & 0x12) == 0x02;
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	return ntohs(a.sin_port);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_user_backend(void **state)
{
	struct net_cfg cfg;
	struct net_backend *be;
	struct evloop loop;
	static struct rxlog r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	uint8_t f[1600], got[1600];
	size_t len, got_len;
	uint16_t hport = free_port(), gport = 8022;
	char arg[128];

	snprintf(arg, sizeof(arg), "user,hostfwd=tcp::%u-:%u", hport, gport);
	assert_int_equal(net_cfg_parse(arg, &cfg), 0);
	assert_int_equal(net_backend_open(&be, &cfg), 0);
	assert_false(be->vnet_hdr);
	assert_int_equal(evloop_init(&loop, "test-slirp"), 0);
	assert_int_equal(net_backend_start(be, &loop, rx_record, NULL, &r), 0);
	assert_int_equal(evloop_start(&loop), 0);

	/* ARP: who has 10.0.2.2? The gateway answers (slirp's 52:55:0a:00:02:02). */
	len = build_arp(f, 1, bcast, (const uint8_t[6]){ 0 }, NET_USER_GUEST_ADDR, NET_USER_HOST_ADDR);
	assert_int_equal(send_frame(&loop, be, f, len), 0);
	assert_true(wait_frame(&r, &loop, be, is_arp_reply_from_host, NULL, 2000, got, &got_len));
	assert_int_equal(got[6], 0x52);
	assert_int_equal(got[7], 0x55);

	/* DHCP: DISCOVER gets an OFFER of 10.0.2.15. */
	len = build_dhcp_discover(f);
	assert_int_equal(send_frame(&loop, be, f, len), 0);
	assert_true(wait_frame(&r, &loop, be, is_dhcp_offer, NULL, 2000, got, &got_len));
	assert_int_equal(get32(got + 14 + 20 + 8 + 16), NET_USER_GUEST_ADDR);   /* yiaddr */
	assert_true(!memcmp(got, guest_mac, 6) || !memcmp(got, bcast, 6));
	assert_memory_equal(got + 14 + 20 + 8 + 28, guest_mac, 6);             /* chaddr */

	/* hostfwd: a host connection becomes a SYN toward 10.0.2.15:gport. */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(hport),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_true(s >= 0);
	int cr = connect(s, (struct sockaddr *)&a, sizeof(a));
	assert_true(cr == 0 || errno == EINPROGRESS);
	assert_true(wait_frame(&r, &loop, be, is_syn_to, &gport, 3000, got, &got_len));
	close(s);

	/* Idle: the worker sleeps (slirp wakes it about once a second). */
	usleep(300 * 1000);
	double c0 = cpu_s();
	usleep(1500 * 1000);
	double used = cpu_s() - c0;
	print_message("user backend idle CPU: %.2f ms over 1.5 s\n", used * 1000);
	assert_true(used < 0.05);

	/* Frames that are not frames. */
	assert_int_equal(send_frame(&loop, be, f, 10), -EINVAL);

	evloop_stop(&loop);
	net_backend_stop(be);
	net_backend_close(be);
	evloop_destroy(&loop);
}


/* An IPv4 frame from the guest: PROTO from saddr to daddr (host order), l4 as given. */
static size_t build_ip(uint8_t *f, uint8_t proto, uint32_t saddr, uint32_t daddr,
		       const uint8_t *l4, size_t l4len)
{
	uint8_t *ip = f + 14;

	memset(f, 0, 14 + 20);
	memcpy(f, (const uint8_t[6]){ 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 }, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4len));
	ip[8] = 64;
	ip[9] = proto;
	put16(ip + 12, (uint16_t)(saddr >> 16));
	put16(ip + 14, (uint16_t)saddr);
	put16(ip + 16, (uint16_t)(daddr >> 16));
	put16(ip + 18, (uint16_t)daddr);
	put16(ip + 10, ip_csum(ip, 20));
	memcpy(ip + 20, l4, l4len);
	return 14 + 20 + l4len;
}

/* UDP (checksum 0: none) from the guest's sport to daddr:dport. */
static size_t build_udp(uint8_t *f, uint16_t sport, uint32_t daddr, uint16_t dport)
{
	uint8_t u[8 + 4] = { 0 };

	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, sizeof(u));
	memcpy(u + 8, "mvm!", 4);
	return build_ip(f, 17, NET_USER_GUEST_ADDR, daddr, u, sizeof(u));
}

static size_t build_tcp(uint8_t *f, uint16_t sport, uint32_t daddr, uint16_t dport, uint8_t flags)
{
	uint8_t t[20] = { 0 };

	put16(t, sport);
	put16(t + 2, dport);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	return build_ip(f, 6, NET_USER_GUEST_ADDR, daddr, t, sizeof(t));
}

/* A TCP segment with its checksum, from the guest's sport to daddr:dport. */
static size_t build_tcp_seg(uint8_t *f, uint16_t sport, uint32_t daddr, uint16_t dport,
			    uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
	uint8_t t[20 + 64] = { 0 }, ph[12 + sizeof(t)];
	size_t dlen = data ? strlen(data) : 0, n;

	put16(t, sport);
	put16(t + 2, dport);
	put16(t + 4, (uint16_t)(seq >> 16));
	put16(t + 6, (uint16_t)seq);
	put16(t + 8, (uint16_t)(ack >> 16));
	put16(t + 10, (uint16_t)ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	memcpy(t + 20, data ? data : "", dlen);
	n = 20 + dlen;
	put16(ph, (uint16_t)(NET_USER_GUEST_ADDR >> 16));
	put16(ph + 2, (uint16_t)NET_USER_GUEST_ADDR);
	put16(ph + 4, (uint16_t)(daddr >> 16));
	put16(ph + 6, (uint16_t)daddr);
	ph[8] = 0;
	ph[9] = 6;
	put16(ph + 10, (uint16_t)n);
	memcpy(ph + 12, t, n);
	if (n & 1)
		ph[12 + n] = 0;
	put16(t + 16, ip_csum(ph, 12 + n + (n & 1)));
	return build_ip(f, 6, NET_USER_GUEST_ADDR, daddr, t, n);
}

static size_t build_ping(uint8_t *f, uint32_t daddr)
{
	uint8_t e[8] = { 8, 0, 0, 0, 0x12, 0x34, 0, 1 };

	put16(e + 2, ip_csum(e, sizeof(e)));
	return build_ip(f, 1, NET_USER_GUEST_ADDR, daddr, e, sizeof(e));
}

/* ---- user_flows.c alone: admission, counting, the epoll mirror ---- */

static void test_flows_admit(void **state)
{
	struct user_flows fl;
	uint8_t f[128];
	size_t n;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	assert_true(ep >= 0);
	assert_int_equal(uf_init(&fl, ep, 32, false, false), 0);
	/* A new UDP source port opens a flow; the same port again does not. */
	n = build_udp(f, 5000, 0x08080808, 53);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	uf_sync(&fl, NULL, 0, 0);
	assert_int_equal(uf_sockets(&fl), 1);
	n = build_udp(f, 5000, 0x01010101, 123);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	assert_int_equal(uf_sockets(&fl), 1);
	/* DHCP, ARP and TCP that is not a bare SYN open nothing. */
	n = build_udp(f, 68, 0xffffffff, 67);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	n = build_arp(f, 1, bcast, (const uint8_t[6]){ 0 }, NET_USER_GUEST_ADDR, NET_USER_HOST_ADDR);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	n = build_tcp(f, 40000, 0x01020304, 80, 0x10);   /* ACK */
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	assert_int_equal(uf_sockets(&fl), 1);
	/* A SYN slirp did not connect (no register_poll_fd) is no flow. */
	n = build_tcp(f, 40000, 0x01020304, 80, 0x02);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	assert_int_equal(uf_sockets(&fl), 0 + 1);
	/* One it did connect is, until slirp closes it. */
	int tfd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_register(&fl, tfd);
	uf_input_end(&fl);
	assert_int_equal(uf_sockets(&fl), 2);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);   /* retransmitted SYN */
	uf_input_end(&fl);
	assert_int_equal(uf_sockets(&fl), 2);
	uf_unregister(&fl, tfd);
	assert_int_equal(uf_sockets(&fl), 1);
	close(tfd);
	/* ICMP echo: one socket each beyond the gateway, none to it. */
	n = build_ping(f, NET_USER_HOST_ADDR);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	assert_int_equal(uf_sockets(&fl), 1);
	n = build_ping(f, 0x01010101);
	assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
	uf_input_end(&fl);
	uf_sync(&fl, NULL, 0, 0);
	assert_int_equal(uf_sockets(&fl), 2);
	/* Fill to the cap: the next new flow is refused, known ones pass. */
	for (uint16_t p = 6000; uf_sockets(&fl) < 32; p++) {
		n = build_udp(f, p, 0x08080808, 53);
		assert_int_equal(uf_admit(&fl, f, n, 1000), UF_PASS);
		uf_input_end(&fl);
	}
	n = build_udp(f, 7777, 0x08080808, 53);
	assert_int_equal(uf_admit(&fl, f, n, 1000), UF_DROP_CAP);
	n = build_tcp(f, 40001, 0x01020304, 80, 0x02);
	assert_int_equal(uf_admit(&fl, f, n, 1000), UF_DROP_CAP);
	n = build_ping(f, 0x01010101);
	assert_int_equal(uf_admit(&fl, f, n, 1000), UF_DROP_CAP);
	assert_int_equal(fl.refused, 3);
	n = build_udp(f, 5000, 0x08080808, 53);
	assert_int_equal(uf_admit(&fl, f, n, 1000), UF_PASS);
	uf_input_end(&fl);
	n = build_udp(f, 68, 0xffffffff, 67);
	assert_int_equal(uf_admit(&fl, f, n, 1000), UF_PASS);
	uf_input_end(&fl);
	/* Predicted sockets slirp never showed are forgotten after its expiry. */
	uf_sync(&fl, NULL, 0, 1000 + UF_UNSEEN_TTL_MS + 1);
	assert_int_equal(uf_sockets(&fl), 0);
	n = build_udp(f, 7777, 0x08080808, 53);
	assert_int_equal(uf_admit(&fl, f, n, 1000), UF_PASS);
	uf_input_end(&fl);
	uf_free(&fl);

	/* restrict=on: slirp opens nothing for the guest, so nothing counts. */
	assert_int_equal(uf_init(&fl, ep, 32, true, false), 0);
	for (uint16_t p = 1000; p < 1100; p++) {
		n = build_udp(f, p, 0x08080808, 53);
		assert_int_equal(uf_admit(&fl, f, n, 0), UF_PASS);
		uf_input_end(&fl);
	}
	assert_int_equal(uf_sockets(&fl), 0);
	uf_free(&fl);
	close(ep);
}

static void test_flows_loopback(void **state)
{
	struct user_flows fl;
	uint8_t f[128];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	assert_int_equal(uf_init(&fl, ep, 64, false, true), 0);
#define ADMIT(len) ({ enum uf_verdict v_ = uf_admit(&fl, f, (len), 0); uf_input_end(&fl); v_; })
	assert_int_equal(ADMIT(build_tcp(f, 40000, NET_USER_HOST_ADDR, 22, 0x02)), UF_DROP_LOOPBACK);
	assert_int_equal(ADMIT(build_udp(f, 5000, NET_USER_HOST_ADDR, 9)), UF_DROP_LOOPBACK);
	assert_int_equal(ADMIT(build_tcp(f, 40000, 0x0a000263, 22, 0x02)), UF_DROP_LOOPBACK);
	assert_int_equal(ADMIT(build_tcp(f, 40000, 0x7f000001, 22, 0x02)), UF_DROP_LOOPBACK);
	assert_int_equal(ADMIT(build_udp(f, 5000, 0x7f000035, 53)), UF_DROP_LOOPBACK);
	assert_int_equal(ADMIT(build_tcp(f, 40000, 0x00000000, 22, 0x02)), UF_DROP_LOOPBACK);
	assert_int_equal(ADMIT(build_tcp(f, 40000, NET_USER_DNS_ADDR, 22, 0x02)), UF_DROP_LOOPBACK);
	assert_int_equal(fl.blocked, 7);
	/* DNS, DHCP, pinging the gateway and the world stay open. */
	assert_int_equal(ADMIT(build_udp(f, 5000, NET_USER_DNS_ADDR, 53)), UF_PASS);
	assert_int_equal(ADMIT(build_tcp(f, 40000, NET_USER_DNS_ADDR, 53, 0x02)), UF_PASS);
	assert_int_equal(ADMIT(build_udp(f, 68, NET_USER_HOST_ADDR, 67)), UF_PASS);
	assert_int_equal(ADMIT(build_ping(f, NET_USER_HOST_ADDR)), UF_PASS);
	assert_int_equal(ADMIT(build_tcp(f, 40000, 0x5db8d822, 443, 0x02)), UF_PASS);
	/* Answers on hostfwd connections (their peer is 10.0.2.2) pass. */
	assert_int_equal(ADMIT(build_tcp(f, 80, NET_USER_HOST_ADDR, 41000, 0x12)), UF_PASS);
	assert_int_equal(ADMIT(build_tcp(f, 80, NET_USER_HOST_ADDR, 41000, 0x10)), UF_PASS);
	assert_int_equal(ADMIT(build_udp(f, 53, NET_USER_HOST_ADDR, 41000)), UF_DROP_LOOPBACK);
	uf_allow_udp_source(&fl, htonl(NET_USER_GUEST_ADDR), htons(53));
	assert_int_equal(ADMIT(build_udp(f, 53, NET_USER_HOST_ADDR, 41000)), UF_PASS);
	assert_int_equal(ADMIT(build_udp(f, 54, NET_USER_HOST_ADDR, 41000)), UF_DROP_LOOPBACK);
#undef ADMIT
	uf_free(&fl);
	close(ep);
}

/* How many fds epfd watches, from the kernel's own account. */
static int epoll_watch_count(int ep)
{
	char path[64], line[256];
	int n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		n += !strncmp(line, "tfd:", 4);
	fclose(fp);
	return n;
}

static void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#define SYNC_N 3000

/* The mirror makes epoll_ctl calls only for what changed, and a sync of
 * thousands of fds takes microseconds, not the tens of ms of a search. */
static void test_flows_sync_incremental(void **state)
{
	static struct pollfd pfds[SYNC_N];
	struct user_flows fl;
	int ep = epoll_create1(EPOLL_CLOEXEC), n = 0;
	uint64_t calls;
	struct timespec t0, t1;

	raise_nofile(SYNC_N + 200);
	assert_int_equal(uf_init(&fl, ep, 65536, false, false), 0);
	for (; n < SYNC_N; n++) {
		int fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			break;
		pfds[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	assert_true(n >= 1000);
	uf_sync(&fl, pfds, n, 0);
	assert_int_equal(fl.ctl_calls, (uint64_t)n);
	assert_int_equal(epoll_watch_count(ep), n);
	/* Nothing changed: no system call. */
	calls = fl.ctl_calls;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < 100; r++)
		uf_sync(&fl, pfds, n, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(fl.ctl_calls, calls);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / 100;
	print_message("uf_sync of %d fds: %.1f us\n", n, us);
	assert_true(us < 5000);
	/* One more event wanted, one fd gone, one wanting nothing: 3 calls. */
	pfds[10].events = POLLIN | POLLOUT;
	pfds[20] = pfds[--n];
	pfds[30].events = 0;
	uf_sync(&fl, pfds, n, 0);
	assert_int_equal(fl.ctl_calls, calls + 3);
	assert_int_equal(epoll_watch_count(ep), n - 1);
	/* slirp closing one (unregister first) takes it out at once. */
	uf_unregister(&fl, pfds[40].fd);
	assert_int_equal(epoll_watch_count(ep), n - 2);
	/* revents land on the index of the last fill. */
	uint64_t one = 1;
	assert_int_equal(write(pfds[50].fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	struct epoll_event evs[8];
	int nev = epoll_wait(ep, evs, 8, 0);
	assert_int_equal(nev, 2);   /* 50 readable; 10, now asking for POLLOUT, writable */
	uf_revents(&fl, pfds, n, evs, nev);
	for (int i = 0; i < n; i++)
		assert_int_equal(pfds[i].revents, i == 50 ? POLLIN : i == 10 ? POLLOUT : 0);
	uf_free(&fl);
	for (int i = 0; i < n; i++)
		close(pfds[i].fd);
	close(pfds[n].fd);   /* the one moved out at 20 */
	close(ep);
}

/* ---- the cap through libslirp ---- */

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 70000; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	}
	return n;
}

struct udp_host {
	int s;
	uint16_t port;
};

static void udp_host_open(struct udp_host *h)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct timeval tv = { 0, 300 * 1000 };

	h->s = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(h->s >= 0);
	assert_int_equal(bind(h->s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(h->s, (struct sockaddr *)&a, &al), 0);
	setsockopt(h->s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	h->port = ntohs(a.sin_port);
}

/* Did a datagram reach the host socket (within 300 ms)? */
static int udp_host_got(struct udp_host *h)
{
	char buf[64];

	return recv(h->s, buf, sizeof(buf), 0) > 0;
}

static void start_user(const char *arg, struct net_backend **be, struct evloop *loop, void *r)
{
	struct net_cfg cfg;

	assert_int_equal(net_cfg_parse(arg, &cfg), 0);
	assert_int_equal(net_backend_open(be, &cfg), 0);
	assert_int_equal(evloop_init(loop, "test-slirp"), 0);
	assert_int_equal(net_backend_start(*be, loop, rx_record, NULL, r), 0);
	assert_int_equal(evloop_start(loop), 0);
}

static void stop_user(struct net_backend *be, struct evloop *loop)
{
	evloop_stop(loop);
	net_backend_stop(be);
	net_backend_close(be);
	evloop_destroy(loop);
}

/* A guest sending from 300 source ports makes slirp open at most max-flows
 * sockets; a flow it already has keeps working at the cap. */
static void test_user_flow_cap(void **state)
{
	static struct rxlog r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct net_backend *be;
	struct evloop loop;
	struct udp_host h;
	uint8_t f[128];
	int base, before, after;

	udp_host_open(&h);
	base = count_fds();
	start_user("user,max-flows=64", &be, &loop, &r);
	before = count_fds();
	assert_int_equal(send_frame(&loop, be, f, build_udp(f, 20000, NET_USER_HOST_ADDR, h.port)), 0);
	assert_true(udp_host_got(&h));
	for (int i = 1; i < 300; i++)
		assert_int_equal(send_frame(&loop, be, f,
					    build_udp(f, (uint16_t)(20000 + i), NET_USER_HOST_ADDR, 9)), 0);
	after = count_fds();
	print_message("fds: %d before, %d after 300 guest UDP flows (max-flows=64)\n", before, after);
	assert_true(after - before <= 64);
	assert_true(after - before >= 60);
	/* At the cap: the known flow still reaches the host, a new one does not. */
	assert_int_equal(send_frame(&loop, be, f, build_udp(f, 20000, NET_USER_HOST_ADDR, h.port)), 0);
	assert_true(udp_host_got(&h));
	assert_int_equal(send_frame(&loop, be, f, build_udp(f, 30000, NET_USER_HOST_ADDR, h.port)), 0);
	assert_false(udp_host_got(&h));
	stop_user(be, &loop);
	assert_int_equal(count_fds(), base);   /* every socket closed with it */
	close(h.s);
}

#define MANY_FLOWS 4000

/* At ~4000 open flows a guest frame still costs little of the worker's time
 * (the whole-set search made it ~40 ms). */
static void test_user_many_flows(void **state)
{
	static struct rxlog r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct net_backend *be;
	struct evloop loop;
	uint8_t f[128];
	struct timespec t0, t1;
	int base, open_fds;
	char arg[64];

	raise_nofile(MANY_FLOWS + 400);
	base = count_fds();
	snprintf(arg, sizeof(arg), "user,max-flows=%d", MANY_FLOWS + 100);
	start_user(arg, &be, &loop, &r);
	for (int i = 0; i < MANY_FLOWS - 200; i++)
		send_frame(&loop, be, f, build_udp(f, (uint16_t)(10000 + i), NET_USER_HOST_ADDR, 9));
	send_cpu_s = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = MANY_FLOWS - 200; i < MANY_FLOWS; i++)
		send_frame(&loop, be, f, build_udp(f, (uint16_t)(10000 + i), NET_USER_HOST_ADDR, 9));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	open_fds = count_fds() - base;
	double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / 200;
	double cpu_ms = send_cpu_s * 1e3 / 200;
	print_message("%d fds open for %d guest UDP flows; a new flow's frame costs the worker "
		      "%.3f ms CPU (%.3f ms wall, with the thread hand-off)\n", open_fds, MANY_FLOWS,
		      cpu_ms, ms);
	assert_true(open_fds >= MANY_FLOWS);
	assert_true(cpu_ms < 2.0);
	/* A frame of a flow that exists. */
	send_cpu_s = 0;
	for (int i = 0; i < 200; i++)
		send_frame(&loop, be, f, build_udp(f, 10000, NET_USER_HOST_ADDR, 9));
	print_message("a known flow's frame: %.3f ms CPU\n", send_cpu_s * 1e3 / 200);
	assert_true(send_cpu_s * 1e3 / 200 < 2.0);
	stop_user(be, &loop);
}

/* restrict=on: a guest datagram to the host's loopback service goes nowhere,
 * hostfwd still brings host connections in. host-loopback=off: 10.0.2.2
 * no longer leads to 127.0.0.1. */
static void test_user_restrict(void **state)
{
	static struct rxlog r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct net_backend *be;
	struct evloop loop;
	struct udp_host h;
	uint8_t f[128], got[1600];
	size_t got_len;
	uint16_t hport = free_port(), gport = 8022;
	char arg[128];

	udp_host_open(&h);
	snprintf(arg, sizeof(arg), "user,restrict=on,hostfwd=tcp::%u-:%u", hport, gport);
	start_user(arg, &be, &loop, &r);
	assert_int_equal(send_frame(&loop, be, f, build_udp(f, 20000, NET_USER_HOST_ADDR, h.port)), 0);
	assert_false(udp_host_got(&h));
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(hport),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int cr = connect(s, (struct sockaddr *)&a, sizeof(a));
	assert_true(cr == 0 || errno == EINPROGRESS);
	assert_true(wait_frame(&r, &loop, be, is_syn_to, &gport, 3000, got, &got_len));
	close(s);
	stop_user(be, &loop);

	hport = free_port();
	r.n = 0;   /* the loop that filled it is gone */
	snprintf(arg, sizeof(arg), "user,host-loopback=off,hostfwd=tcp::%u-:%u", hport, gport);
	start_user(arg, &be, &loop, &r);
	assert_int_equal(send_frame(&loop, be, f, build_udp(f, 20000, NET_USER_HOST_ADDR, h.port)), 0);
	assert_false(udp_host_got(&h));
	assert_int_equal(send_frame(&loop, be, f, build_udp(f, 20001, 0x0a000263, h.port)), 0);
	assert_false(udp_host_got(&h));
	/* hostfwd still works both ways: the guest answers 10.0.2.2. */
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	a.sin_port = htons(hport);
	cr = connect(s, (struct sockaddr *)&a, sizeof(a));
	assert_true(cr == 0 || errno == EINPROGRESS);
	assert_true(wait_frame(&r, &loop, be, is_syn_to, &gport, 3000, got, &got_len));
	const uint8_t *syn = got + 14 + (got[14] & 15) * 4;
	uint16_t peer = get16(syn);
	uint32_t their = get32(syn + 4) + 1;
	assert_int_equal(send_frame(&loop, be, f, build_tcp_seg(f, gport, NET_USER_HOST_ADDR, peer,
								 0x12, 1000, their, NULL)), 0);
	assert_int_equal(send_frame(&loop, be, f, build_tcp_seg(f, gport, NET_USER_HOST_ADDR, peer,
								 0x18, 1001, their, "hi")), 0);
	char buf[8] = "";
	for (int i = 0; i < 200 && recv(s, buf, sizeof(buf), 0) <= 0; i++)
		usleep(10 * 1000);

	assert_memory_equal(buf, "hi", 2);
	close(s);
	stop_user(be, &loop);

	/* The QEMU-compatible default: it does. */
	start_user("user", &be, &loop, &r);
	assert_int_equal(send_frame(&loop, be, f, build_udp(f, 20000, NET_USER_HOST_ADDR, h.port)), 0);
	assert_true(udp_host_got(&h));
	stop_user(be, &loop);
	close(h.s);
}

static void test_user_hostfwd_in_use(void **state)
{
	struct net_cfg cfg;
	struct net_backend *be;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	char arg[128];

	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	snprintf(arg, sizeof(arg), "user,hostfwd=tcp:127.0.0.1:%u-:22", ntohs(a.sin_port));
	assert_int_equal(net_cfg_parse(arg, &cfg), 0);
	last_err[0] = '\0';
	assert_true(net_backend_open(&be, &cfg) < 0);
	assert_null(be);
	assert_non_null(strstr(last_err, "hostfwd=tcp:127.0.0.1:"));
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_tap),
		cmocka_unit_test(test_parse_tap_mac),
		cmocka_unit_test(test_parse_user),
		cmocka_unit_test(test_parse_hostfwd),
		cmocka_unit_test(test_parse_hostfwd_limit),
		cmocka_unit_test(test_parse_user_safety),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_random_mac),
		cmocka_unit_test(test_user_backend),
		cmocka_unit_test(test_user_hostfwd_in_use),
		cmocka_unit_test(test_flows_admit),
		cmocka_unit_test(test_flows_loopback),
		cmocka_unit_test(test_flows_sync_incremental),
		cmocka_unit_test(test_user_flow_cap),
		cmocka_unit_test(test_user_many_flows),
		cmocka_unit_test(test_user_restrict),
	};

	log_set_sink(sink, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
