/* test_vsock.c - virtio-vsock: the header and CONNECT parsers, then the
 * device through the mmio transport with a fake driver in fake guest
 * memory and real Unix sockets on the host side. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/device.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/vsock.h"
#include "virtio/vsock_proto.h"
#include "virtio_fake_driver.h"

#define CID    42
#define QSIZE  64
#define RXQ    0
#define TXQ    1
#define EVQ    2
#define NR_RX  32
#define RX_LEN (VSOCK_HDR_LEN + 4096)
#define RX_GPA(i) (FD_DATA_BASE + (uint64_t)(i) * 0x2000)
#define TX_GPA    (FD_DATA_BASE + 0x200000)
#define EV_GPA    (FD_DATA_BASE + 0x300000)

/* ---- the parsers ---- */

static struct vsock_hdr gh(uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = CID, .dst_cid = VSOCK_HOST_CID,
				   .src_port = src_port, .dst_port = dst_port, .len = len,
				   .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 256 * 1024 };
}

static void test_hdr_check(void **state)
{
	struct vsock_hdr h = gh(1, 2, VSOCK_OP_RW, 10);
	const char *why;

	assert_int_equal(vsock_hdr_check(&h, CID, 10, &why), 0);
	assert_int_equal(vsock_hdr_check(&h, CID, 9, &why), VSOCK_BAD_DROP);
	assert_non_null(strstr(why, "len"));
	h.src_cid = CID + 1;
	assert_int_equal(vsock_hdr_check(&h, CID, 10, &why), VSOCK_BAD_DROP);
	assert_non_null(strstr(why, "src_cid"));
	h = gh(1, 2, VSOCK_OP_RW, 10);
	h.dst_cid = 3;
	assert_int_equal(vsock_hdr_check(&h, CID, 10, &why), VSOCK_BAD_DROP);
	assert_non_null(strstr(why, "dst_cid"));
	h = gh(1, 2, VSOCK_OP_RW, VSOCK_MAX_PAYLOAD + 1);
	assert_int_equal(vsock_hdr_check(&h, CID, 1 << 20, &why), VSOCK_BAD_DROP);
	h = gh(1, 2, VSOCK_OP_RW, 0);
	h.type = 2;   /* SEQPACKET: not negotiated */
	assert_int_equal(vsock_hdr_check(&h, CID, 0, &why), VSOCK_BAD_RST);
	assert_non_null(strstr(why, "type"));
	h = gh(1, 2, 0, 0);
	assert_int_equal(vsock_hdr_check(&h, CID, 0, &why), VSOCK_BAD_RST);
	h = gh(1, 2, 8, 0);
	assert_int_equal(vsock_hdr_check(&h, CID, 0, &why), VSOCK_BAD_RST);
	h = gh(1, 2, VSOCK_OP_REQUEST, 4);
	assert_int_equal(vsock_hdr_check(&h, CID, 4, &why), VSOCK_BAD_RST);
	assert_non_null(strstr(why, "payload"));
	h = gh(1, 2, VSOCK_OP_SHUTDOWN, 0);
	h.flags = 3;
	assert_int_equal(vsock_hdr_check(&h, CID, 0, &why), 0);
	h.flags = 4;
	assert_int_equal(vsock_hdr_check(&h, CID, 0, &why), VSOCK_BAD_RST);
	h = gh(1, 2, VSOCK_OP_RW, 0);
	h.flags = 1;
	assert_int_equal(vsock_hdr_check(&h, CID, 0, &why), VSOCK_BAD_RST);
}

static int parse(const char *s, uint32_t *port, size_t *used)
{
	return vsock_connect_parse(s, strlen(s), port, used);
}

static void test_connect_parse(void **state)
{
	uint32_t port = 0;
	size_t used = 0;

	assert_int_equal(parse("CONNECT 1234\n", &port, &used), 1);
	assert_int_equal(port, 1234);
	assert_int_equal(used, 13);
	assert_int_equal(parse("CONNECT 4294967295\nextra", &port, &used), 1);
	assert_int_equal(port, 4294967295u);
	assert_int_equal(used, 19);
	assert_int_equal(parse("CONNECT 7\r\n", &port, &used), 1);
	assert_int_equal(port, 7);
	/* Still coming. */
	assert_int_equal(parse("", &port, &used), 0);
	assert_int_equal(parse("CONN", &port, &used), 0);
	assert_int_equal(parse("CONNECT 12", &port, &used), 0);
	/* Garbage, as early as it shows. */
	assert_int_equal(parse("GET / HTTP/1.1\r\n", &port, &used), -EINVAL);
	assert_int_equal(parse("X", &port, &used), -EINVAL);
	assert_int_equal(parse("connect 1\n", &port, &used), -EINVAL);
	assert_int_equal(parse("CONNECT \n", &port, &used), -EINVAL);
	assert_int_equal(parse("CONNECT -1\n", &port, &used), -EINVAL);
	assert_int_equal(parse("CONNECT 1 2\n", &port, &used), -EINVAL);
	assert_int_equal(parse("CONNECT 4294967296\n", &port, &used), -EINVAL);
	assert_int_equal(parse("CONNECT 0x10\n", &port, &used), -EINVAL);
	assert_int_equal(parse("CONNECT 000000000000000000000000", &port, &used), -EINVAL);
}

/* ---- the device ---- */

struct rig {
	struct fake_driver f;
	struct virtio_vsock *d;
	char dir[64];
	char uds[108];
	uint64_t rx_gpa[QSIZE];    /* rx chain head -> its buffer */
	uint16_t rx_seen, tx_done;
	int rx_next_buf;
};

static void post_rx(struct rig *r, uint64_t gpa)
{
	struct fd_seg s = { gpa, RX_LEN, true };
	uint16_t head = fd_add_chain(&r->f, RXQ, &s, 1);

	r->rx_gpa[head % QSIZE] = gpa;
}

static int rig_up(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	/* 1 s, not 5: the two timeout tests wait for it (the others finish well within). */
	struct virtio_vsock_cfg cfg = { .guest_cid = CID, .handshake_ms = 1000 };

	assert_non_null(r);
	strcpy(r->dir, "/tmp/mvm-vsock-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->uds, sizeof(r->uds), "%s/v.sock", r->dir);
	cfg.uds_path = r->uds;
	assert_int_equal(fd_setup(&r->f), 0);
	assert_int_equal(virtio_vsock_create(&r->d, &cfg, &r->f.mem), 0);
	assert_int_equal(virtio_vsock_attach(r->d, &r->f.env, FD_MMIO_BASE, 5), 0);
	r->f.t = virtio_vsock_transport(r->d);
	assert_int_equal(fd_init(&r->f, 3, QSIZE, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	for (int i = 0; i < NR_RX; i++)
		post_rx(r, RX_GPA(i));
	fd_notify(&r->f, RXQ);
	*state = r;
	return 0;
}

static int rig_down(void **state)
{
	struct rig *r = *state;
	char path[160];

	virtio_vsock_destroy(r->d);
	fd_teardown(&r->f);
	/* The listener is gone with the device. */
	assert_int_equal(access(r->uds, F_OK), -1);
	for (int p = 0; p < 10000; p++) {
		snprintf(path, sizeof(path), "%s_%d", r->uds, p);
		unlink(path);
	}
	rmdir(r->dir);
	free(r);
	return 0;
}

/* The next packet the device put in rx (payload into buf, up to cap). */
static bool get_rx(struct rig *r, struct vsock_hdr *h, void *buf, size_t cap, int ms)
{
	struct virtq_used_elem e;
	uint64_t gpa;
	uint8_t *p;

	if (!fd_wait_used(&r->f, RXQ, (uint16_t)(r->rx_seen + 1), ms))
		return false;
	e = fd_used_elem(&r->f, RXQ, r->rx_seen++);
	gpa = r->rx_gpa[e.id % QSIZE];
	p = fd_host(&r->f, gpa, RX_LEN);
	assert_true(e.len >= VSOCK_HDR_LEN && e.len <= RX_LEN);
	memcpy(h, p, sizeof(*h));
	assert_int_equal(e.len, VSOCK_HDR_LEN + h->len);
	if (buf)
		memcpy(buf, p + VSOCK_HDR_LEN, h->len < cap ? h->len : cap);
	post_rx(r, gpa);
	fd_notify(&r->f, RXQ);
	return true;
}

static void no_rx(struct rig *r, int ms)
{
	usleep((useconds_t)ms * 1000);
	assert_int_equal(fd_used_idx(&r->f, RXQ), r->rx_seen);
}

/* One guest packet: the header and its payload in two descriptors, as Linux does. */
static void send_tx(struct rig *r, struct vsock_hdr h, const void *data, uint32_t len)
{
	struct fd_seg s[2] = { { TX_GPA, VSOCK_HDR_LEN, false }, { TX_GPA + 0x1000, len, false } };

	memcpy(fd_host(&r->f, TX_GPA, VSOCK_HDR_LEN), &h, VSOCK_HDR_LEN);
	if (len)
		memcpy(fd_host(&r->f, TX_GPA + 0x1000, len), data, len);
	fd_add_chain(&r->f, TXQ, s, len ? 2 : 1);
	fd_notify(&r->f, TXQ);
	assert_true(fd_wait_used(&r->f, TXQ, ++r->tx_done, 2000));
}

static int client(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 8 };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int listener(struct rig *r, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char path[160];

	snprintf(path, sizeof(path), "%s_%u", r->uds, port);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* Host client -> CONNECT port -> guest answers; returns the client fd and the host port. */
static int host_connect(struct rig *r, uint32_t port, uint32_t *host_port)
{
	char line[32], want[32];
	struct vsock_hdr h;
	int fd = client(r->uds);

	assert_true(dprintf(fd, "CONNECT %u\n", port) > 0);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(h.dst_cid, CID);
	assert_int_equal(h.dst_port, port);
	assert_true(h.src_port >= (1u << 30));
	assert_int_equal(h.type, VSOCK_TYPE_STREAM);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	*host_port = h.src_port;
	send_tx(r, gh(port, h.src_port, VSOCK_OP_RESPONSE, 0), NULL, 0);
	snprintf(want, sizeof(want), "OK %u\n", h.src_port);
	read_exact(fd, line, strlen(want));
	line[strlen(want)] = '\0';
	assert_string_equal(line, want);
	return fd;
}

static void test_identity(void **state)
{
	struct rig *r = *state;
	uint32_t lo, hi;

	assert_int_equal(fd_rd(&r->f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	lo = fd_rd(&r->f, VIRTIO_MMIO_CONFIG);
	hi = fd_rd(&r->f, VIRTIO_MMIO_CONFIG + 4);
	assert_int_equal(lo, CID);
	assert_int_equal(hi, 0);
	fd_wr(&r->f, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(fd_rd(&r->f, VIRTIO_MMIO_QUEUE_NUM_MAX), VSOCK_QUEUE_MAX);
	fd_wr(&r->f, VIRTIO_MMIO_QUEUE_SEL, 3);
	assert_int_equal(fd_rd(&r->f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}

static void test_host_to_guest(void **state)
{
	struct rig *r = *state;
	char buf[64];
	struct vsock_hdr h;
	uint32_t hp;
	int fd = host_connect(r, 1234, &hp);

	assert_int_equal(write(fd, "hello", 5), 5);
	assert_true(get_rx(r, &h, buf, sizeof(buf), 2000));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 5);
	assert_int_equal(h.src_port, hp);
	assert_int_equal(h.dst_port, 1234);
	assert_memory_equal(buf, "hello", 5);
	send_tx(r, gh(1234, hp, VSOCK_OP_RW, 5), "world", 5);
	read_exact(fd, buf, 5);
	assert_memory_equal(buf, "world", 5);
	/* The client closes its sending side: the guest hears SHUTDOWN(SEND). */
	shutdown(fd, SHUT_WR);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	/* The guest closes: SHUTDOWN both ways, answered by RST; the client sees EOF. */
	{
		struct vsock_hdr s = gh(1234, hp, VSOCK_OP_SHUTDOWN, 0);

		s.flags = 3;
		send_tx(r, s, NULL, 0);
	}
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(read(fd, buf, 1), 0);
	close(fd);
	assert_int_equal(virtio_vsock_nr_conns(r->d), 0);
}

static void test_guest_to_host(void **state)
{
	struct rig *r = *state;
	int lfd = listener(r, 5000), cfd;
	struct vsock_hdr h;
	char buf[16];

	send_tx(r, gh(777, 5000, VSOCK_OP_REQUEST, 0), NULL, 0);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_port, 5000);
	assert_int_equal(h.dst_port, 777);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	send_tx(r, gh(777, 5000, VSOCK_OP_RW, 4), "ping", 4);
	read_exact(cfd, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(cfd, "pong", 4), 4);
	assert_true(get_rx(r, &h, buf, sizeof(buf), 2000));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_memory_equal(buf, "pong", 4);
	/* The guest resets: the host side sees EOF. */
	send_tx(r, gh(777, 5000, VSOCK_OP_RST, 0), NULL, 0);
	assert_int_equal(read(cfd, buf, 1), 0);
	close(cfd);
	close(lfd);
}

static void test_guest_connect_nobody_listens(void **state)
{
	struct rig *r = *state;
	struct vsock_hdr h;

	send_tx(r, gh(900, 6000, VSOCK_OP_REQUEST, 0), NULL, 0);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.src_port, 6000);
	assert_int_equal(h.dst_port, 900);
	assert_int_equal(virtio_vsock_nr_conns(r->d), 0);
}

/* The counters --metrics shows as vsock0. */
static void stats_has(struct virtio_vsock *d, const char *key, int64_t want)
{
	struct json_object *o = json_object_new_object(), *v;

	virtio_vsock_kind.stats(d, o);
	assert_true(json_object_object_get_ex(o, key, &v));
	if (json_object_get_int64(v) != want)
		fail_msg("%s: %lld, want %lld", key, (long long)json_object_get_int64(v),
			 (long long)want);
	json_object_put(o);
}

/* Garbage instead of CONNECT: that client gets ERR and EOF, another one works. */
static void test_garbage_connect_line(void **state)
{
	struct rig *r = *state;
	int good, bad = client(r->uds);
	char buf[64] = "";
	ssize_t n;
	uint32_t hp;

	assert_int_equal(write(bad, "GET / HTTP/1.0\r\n", 16), 16);
	n = read(bad, buf, sizeof(buf) - 1);
	assert_true(n > 4);
	assert_memory_equal(buf, "ERR ", 4);
	assert_int_equal(read(bad, buf, 1), 0);
	close(bad);
	/* Too long without a newline. */
	bad = client(r->uds);
	assert_int_equal(write(bad, "CONNECT 0000000000000000000000000000000", 39), 39);
	n = read(bad, buf, sizeof(buf) - 1);
	assert_true(n > 4);
	assert_memory_equal(buf, "ERR ", 4);
	close(bad);
	no_rx(r, 50);
	stats_has(r->d, "bad_connect_lines", 2);
	good = host_connect(r, 80, &hp);
	stats_has(r->d, "connections", 1);
	close(good);
}

/* The guest's credit bounds what mvm reads from the host socket. */
static void test_host_to_guest_credit(void **state)
{
	struct rig *r = *state;
	static char big[8192];
	struct vsock_hdr h, u;
	uint32_t hp, got = 0;
	int fd = host_connect(r, 55, &hp);

	/* The guest says: a 1000-byte buffer. */
	u = gh(55, hp, VSOCK_OP_CREDIT_UPDATE, 0);
	u.buf_alloc = 1000;
	send_tx(r, u, NULL, 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	while (got < 1000) {
		assert_true(get_rx(r, &h, NULL, 0, 2000));
		assert_int_equal(h.op, VSOCK_OP_RW);
		got += h.len;
	}
	assert_int_equal(got, 1000);
	no_rx(r, 100);
	/* It consumed 600: 600 more may come. */
	u.fwd_cnt = 600;
	send_tx(r, u, NULL, 0);
	while (got < 1600) {
		assert_true(get_rx(r, &h, NULL, 0, 2000));
		assert_int_equal(h.op, VSOCK_OP_RW);
		got += h.len;
	}
	assert_int_equal(got, 1600);
	no_rx(r, 100);
	close(fd);
}

/* A guest that sends past the credit mvm gave it is reset. */
static void test_guest_past_credit(void **state)
{
	struct rig *r = *state;
	int lfd = listener(r, 5001), cfd;
	static char chunk[60000];
	struct vsock_hdr h;
	uint32_t sent = 0;

	send_tx(r, gh(778, 5001, VSOCK_OP_REQUEST, 0), NULL, 0);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	cfd = accept(lfd, NULL, NULL);   /* never read: the socket buffer fills */
	memset(chunk, 'y', sizeof(chunk));
	for (int i = 0; i < 200 && sent < (8u << 20); i++) {
		send_tx(r, gh(778, 5001, VSOCK_OP_RW, sizeof(chunk)), chunk, sizeof(chunk));
		sent += sizeof(chunk);
		if (fd_used_idx(&r->f, RXQ) != r->rx_seen) {
			assert_true(get_rx(r, &h, NULL, 0, 100));
			if (h.op == VSOCK_OP_RST)
				break;
			assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
		}
	}
	assert_int_equal(h.op, VSOCK_OP_RST);
	/* Bounded: mvm took no more than the socket's buffer plus buf_alloc. */
	assert_true(sent < (4u << 20));
	close(cfd);
	close(lfd);
}

static void test_bad_packets(void **state)
{
	struct rig *r = *state;
	struct vsock_hdr h = gh(1, 2, VSOCK_OP_REQUEST, 0);

	/* Another CID, or not to the host: dropped without a word. */
	h.src_cid = 3;
	send_tx(r, h, NULL, 0);
	h = gh(1, 2, VSOCK_OP_REQUEST, 0);
	h.dst_cid = CID;
	send_tx(r, h, NULL, 0);
	/* len past the buffer. */
	h = gh(1, 2, VSOCK_OP_RW, 100);
	send_tx(r, h, "abc", 3);
	no_rx(r, 50);
	/* Unknown type: RST. */
	h = gh(1, 2, VSOCK_OP_REQUEST, 0);
	h.type = 2;
	send_tx(r, h, NULL, 0);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RST);
	/* A packet of no connection: RST; an RST of none: nothing. */
	send_tx(r, gh(5, 6, VSOCK_OP_RW, 0), NULL, 0);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RST);
	send_tx(r, gh(5, 6, VSOCK_OP_RST, 0), NULL, 0);
	no_rx(r, 50);
	/* A header split over a short chain: dropped. */
	{
		struct fd_seg s = { TX_GPA, 20, false };

		fd_add_chain(&r->f, TXQ, &s, 1);
		fd_notify(&r->f, TXQ);
		assert_true(fd_wait_used(&r->f, TXQ, ++r->tx_done, 2000));
	}
	no_rx(r, 50);
	assert_int_equal(fd_rd(&r->f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

/* Many connections at once, each with its own bytes. */
static void test_many_connections(void **state)
{
	struct rig *r = *state;
	enum { N = 40 };
	int fds[N];
	uint32_t hp[N];
	struct vsock_hdr h;
	char buf[16];

	for (int i = 0; i < N; i++)
		fds[i] = host_connect(r, 100 + (uint32_t)i, &hp[i]);
	for (int i = 0; i < N; i++)
		assert_int_equal(write(fds[i], &i, sizeof(i)), sizeof(i));
	for (int i = 0; i < N; i++) {
		int v;

		assert_true(get_rx(r, &h, &v, sizeof(v), 2000));
		assert_int_equal(h.op, VSOCK_OP_RW);
		assert_int_equal(h.len, sizeof(v));
		assert_int_equal(h.dst_port, 100 + (uint32_t)v);
		assert_int_equal(h.src_port, hp[v]);
	}
	for (int i = 0; i < N; i++) {
		send_tx(r, gh(100 + (uint32_t)i, hp[i], VSOCK_OP_RW, 4), "abcd", 4);
		read_exact(fds[i], buf, 4);
		close(fds[i]);
	}
}

/* At VSOCK_MAX_HANDSHAKES clients still silent, the next one waits in the
 * backlog; silent clients are closed after the handshake time, and then it
 * comes in and works. */
static void test_handshake_cap_and_timeout(void **state)
{
	struct rig *r = *state;
	int fds[VSOCK_MAX_HANDSHAKES];
	int late = -1;
	char buf[64];
	ssize_t n;
	uint32_t hp;
	struct vsock_hdr h;

	for (int i = 0; i < VSOCK_MAX_HANDSHAKES; i++)
		fds[i] = client(r->uds);
	late = client(r->uds);   /* connect() succeeds: the backlog holds it */
	assert_true(dprintf(late, "CONNECT 77\n") > 0);
	usleep(200 * 1000);
	assert_int_equal(virtio_vsock_nr_conns(r->d), VSOCK_MAX_HANDSHAKES);
	no_rx(r, 10);
	/* The silent ones time out with a word. */
	n = read(fds[0], buf, sizeof(buf) - 1);
	assert_true(n > 4);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "ERR timeout"));
	for (int i = 0; i < VSOCK_MAX_HANDSHAKES; i++)
		close(fds[i]);
	/* The late one was let in and its CONNECT reached the guest. */
	assert_true(get_rx(r, &h, NULL, 0, 3000));
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 77);
	hp = h.src_port;
	send_tx(r, gh(77, hp, VSOCK_OP_RESPONSE, 0), NULL, 0);
	n = read(late, buf, sizeof(buf) - 1);
	assert_true(n > 3);
	assert_memory_equal(buf, "OK ", 3);
	close(late);
}

/* A guest that never answers a REQUEST: the client is told and closed, the guest gets RST. */
static void test_guest_never_answers(void **state)
{
	struct rig *r = *state;
	struct vsock_hdr h;
	char buf[32];
	ssize_t n;
	int fd = client(r->uds);
	struct timeval tv = { .tv_sec = 8 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_true(dprintf(fd, "CONNECT 8\n") > 0);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	n = read(fd, buf, sizeof(buf));
	assert_true(n > 0);
	assert_memory_equal(buf, "ERR timeout", 11);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RST);
	close(fd);
	assert_int_equal(virtio_vsock_nr_conns(r->d), 0);
}

/* A client that leaves while its REQUEST still waits for an rx buffer: the
 * connection is dropped without a word to the guest (it never heard of
 * it), and nothing touches it afterwards (the fuzzer's use-after-free). */
static void test_client_gone_before_request(void **state)
{
	struct rig *r = *state;
	struct vsock_hdr h;
	uint32_t hp;
	int fd;

	/* A driver with no rx buffers yet. */
	fd_wr(&r->f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(fd_init(&r->f, 3, QSIZE, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	r->rx_seen = r->tx_done = 0;
	fd = client(r->uds);
	assert_true(dprintf(fd, "CONNECT 31\n") > 0);
	usleep(100 * 1000);
	assert_int_equal(virtio_vsock_nr_conns(r->d), 1);
	close(fd);
	usleep(100 * 1000);
	assert_int_equal(virtio_vsock_nr_conns(r->d), 0);
	for (int i = 0; i < NR_RX; i++)
		post_rx(r, RX_GPA(i));
	fd_notify(&r->f, RXQ);
	no_rx(r, 50);
	fd = host_connect(r, 32, &hp);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_true(get_rx(r, &h, NULL, 0, 2000));
	assert_int_equal(h.op, VSOCK_OP_RW);
	close(fd);
}

/* After a restore the guest hears TRANSPORT_RESET; connections are gone. */
static void test_restore_transport_reset(void **state)
{
	struct rig *r = *state;
	struct virtio_vsock_state s;
	struct fd_seg ev = { EV_GPA, 8, true };
	struct virtq_used_elem e;
	uint32_t hp;
	char c;
	int fd = host_connect(r, 9, &hp);

	fd_add_chain(&r->f, EVQ, &ev, 1);
	fd_notify(&r->f, EVQ);
	memset(fd_host(&r->f, EV_GPA, 8), 0xff, 8);
	no_rx(r, 20);
	assert_int_equal(fd_used_idx(&r->f, EVQ), 0);   /* nothing to say yet */
	evloop_pause(virtio_vsock_loop(r->d));
	assert_int_equal(virtio_vsock_save(r->d, &s), 0);
	evloop_resume(virtio_vsock_loop(r->d));
	assert_int_equal(s.guest_cid, CID);
	/* A reset (what a fresh device is), then the state back. */
	fd_wr(&r->f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(read(fd, &c, 1), 0);
	close(fd);
	assert_int_equal(virtio_vsock_restore(r->d, &s), 0);
	assert_true(fd_wait_used(&r->f, EVQ, 1, 2000));
	e = fd_used_elem(&r->f, EVQ, 0);
	assert_int_equal(e.len, 4);
	assert_int_equal(*(uint32_t *)fd_host(&r->f, EV_GPA, 4), VSOCK_EVENT_TRANSPORT_RESET);
	/* A different CID is refused. */
	fd_wr(&r->f, VIRTIO_MMIO_STATUS, 0);
	s.guest_cid = CID + 1;
	assert_int_equal(virtio_vsock_restore(r->d, &s), -EINVAL);
}

/* Before DRIVER_OK (or after a reset) a host client is told and closed. */
static void test_client_before_driver(void **state)
{
	struct rig *r = *state;
	char buf[64] = "";
	ssize_t n;
	int fd;

	fd_wr(&r->f, VIRTIO_MMIO_STATUS, 0);
	fd = client(r->uds);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "ERR the guest's vsock driver is not ready"));
	assert_int_equal(read(fd, buf, 1), 0);
	close(fd);
}

static void test_create_checks(void **state)
{
	struct virtio_vsock *d = NULL;
	struct virtio_vsock_cfg cfg = { .guest_cid = 2, .uds_path = "/tmp/x" };
	struct gmem mem;
	char longp[120];
	char dir[] = "/tmp/mvm-vsock-XXXXXX", path[80];

	assert_int_equal(gmem_init(&mem, 16 << 20), 0);
	assert_int_equal(virtio_vsock_create(&d, &cfg, &mem), -EINVAL);
	cfg.guest_cid = 0xffffffffULL;
	assert_int_equal(virtio_vsock_create(&d, &cfg, &mem), -EINVAL);
	cfg.guest_cid = 3;
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	cfg.uds_path = longp;
	assert_int_equal(virtio_vsock_create(&d, &cfg, &mem), -EINVAL);
	/* An existing path is refused, not replaced. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	fclose(fopen(path, "w"));
	cfg.uds_path = path;
	assert_int_equal(virtio_vsock_create(&d, &cfg, &mem), -EADDRINUSE);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	/* A live socket there is refused; a stale one (its process gone) replaced. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(s, 1), 0);
		assert_int_equal(virtio_vsock_create(&d, &cfg, &mem), -EADDRINUSE);
		close(s);
		assert_int_equal(access(path, F_OK), 0);
		assert_int_equal(virtio_vsock_create(&d, &cfg, &mem), 0);
		virtio_vsock_destroy(d);
		d = NULL;
		assert_int_equal(access(path, F_OK), -1);
	}
	rmdir(dir);
	assert_null(d);
	gmem_free(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_check),
		cmocka_unit_test(test_connect_parse),
		cmocka_unit_test(test_create_checks),
		cmocka_unit_test_setup_teardown(test_identity, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_host_to_guest, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_guest_to_host, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_guest_connect_nobody_listens, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_garbage_connect_line, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_host_to_guest_credit, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_guest_past_credit, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_bad_packets, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_many_connections, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_handshake_cap_and_timeout, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_guest_never_answers, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_client_gone_before_request, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_client_before_driver, rig_up, rig_down),
		cmocka_unit_test_setup_teardown(test_restore_transport_reset, rig_up, rig_down),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests_name("virtio-vsock", tests, NULL, NULL);
}
