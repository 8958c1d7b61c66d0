/* vsockt.c - the vsock test tool of tests/linux (vsock-cases.sh), built static on the host by
 * run.sh: the same binary runs in the guest (AF_VSOCK) and in the test host (mvm's Unix socket).
 *
 * A connection's first line says what the server does with it:
 *   SINK            read to EOF, answer "GOT <bytes> <hash>\n"
 *   SOURCE N SEED   send N bytes of stream SEED, close
 *   HOLD            read nothing, keep the connection open; when it ends anyway (reset,
 *                   both ways shut), print "VSOCKT-HOLD-ENDED" (on the guest's console)
 * Guest:  vsockt serve PORT              serve connections to vsock port PORT (one process each)
 *         vsockt send PORT N SEED        to CID 2 PORT: SINK, N bytes, check the GOT line
 *         vsockt recv PORT N SEED        to CID 2 PORT: SOURCE, check what came
 * Host:   vsockt hserve PATH             serve the guest's connections to PATH (UDS_PORT)
 *         vsockt hsend UDS PORT N SEED   as send, through "CONNECT PORT"
 *         vsockt hrecv UDS PORT N SEED   as recv
 *         vsockt hmany UDS PORT K N      K connections at once, each hsend of N bytes
 *         vsockt hhold UDS PORT SECS     HOLD, then write what the socket takes for SECS seconds
 *         vsockt hgarbage UDS            a line that is not CONNECT; print the answer
 * Each prints one VSOCKT-... line saying how it went (and exits 0 only when it went well).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK (64 * 1024)

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}
#define FNV0 0xcbf29ce484222325ULL

/* The SEED stream: xorshift64, 8 bytes per step, restartable at any multiple of 8. */
static void gen(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = *s;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*s = x;
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One line (without the newline) into buf, byte by byte: what follows is the stream's. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

/* ---- the server side of a connection ---- */

static void serve_one(int fd)
{
	static uint8_t buf[CHUNK];
	char line[128];
	unsigned long long n, seed;

	if (read_line(fd, line, sizeof(line)) < 0)
		_exit(1);
	if (!strcmp(line, "SINK")) {
		uint64_t h = FNV0, total = 0;
		ssize_t r;

		while ((r = read(fd, buf, sizeof(buf))) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				_exit(1);
			h = fnv(h, buf, (size_t)r);
			total += (uint64_t)r;
		}
		dprintf(fd, "GOT %llu %016llx\n", (unsigned long long)total, (unsigned long long)h);
	} else if (sscanf(line, "SOURCE %llu %llu", &n, &seed) == 2) {
		uint64_t s = seed | 1;

		while (n) {
			size_t k = n < CHUNK ? (size_t)n : CHUNK;

			gen(&s, buf, k);
			if (write_all(fd, buf, k))
				_exit(1);
			n -= k;
		}
	} else if (!strcmp(line, "HOLD")) {
		/* No POLLIN: the bytes stay unread; errors and hang-ups still wake us. */
		struct pollfd p = { .fd = fd, .events = 0 };

		while (poll(&p, 1, -1) == 0 || !(p.revents & (POLLERR | POLLHUP)))
			;
		printf("VSOCKT-HOLD-ENDED%s%s\n", p.revents & POLLERR ? " error" : "",
		       p.revents & POLLHUP ? " hangup" : "");
	}
	close(fd);
	_exit(0);
}

static int serve(int lfd)
{
	signal(SIGCHLD, SIG_IGN);   /* no zombies */
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		if (fork() == 0) {
			close(lfd);
			serve_one(fd);
		}
		close(fd);
	}
}

/* ---- the client side ---- */

static int vsock_connect(unsigned port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("VSOCKT-CONNECT-FAIL %s\n", strerror(errno));
		return -1;
	}
	return fd;
}

static int unix_fd(const char *path, int do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -1;
	if (do_listen ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0
		      : connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("VSOCKT-UNIX-FAIL %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Through mvm's socket: CONNECT PORT, then the OK line. */
static int host_connect(const char *uds, unsigned port)
{
	char line[64];
	int fd = unix_fd(uds, 0);

	if (fd < 0)
		return -1;
	dprintf(fd, "CONNECT %u\n", port);
	if (read_line(fd, line, sizeof(line)) < 0 || strncmp(line, "OK ", 3)) {
		printf("VSOCKT-CONNECT-FAIL no OK line\n");
		close(fd);
		return -1;
	}
	return fd;
}

static int do_send(int fd, unsigned long long n, unsigned long long seed, const char *tag)
{
	static uint8_t buf[CHUNK];
	uint64_t s = seed | 1, h = FNV0, total = n;
	unsigned long long got_n, got_h;
	double t0 = now(), t;
	char line[128];

	if (fd < 0)
		return 1;
	dprintf(fd, "SINK\n");
	while (n) {
		size_t k = n < CHUNK ? (size_t)n : CHUNK;

		gen(&s, buf, k);
		h = fnv(h, buf, k);
		if (write_all(fd, buf, k)) {
			printf("VSOCKT-%s-FAIL write: %s\n", tag, strerror(errno));
			return 1;
		}
		n -= k;
	}
	shutdown(fd, SHUT_WR);
	if (read_line(fd, line, sizeof(line)) < 0 ||
	    sscanf(line, "GOT %llu %llx", &got_n, &got_h) != 2) {
		printf("VSOCKT-%s-FAIL no GOT line\n", tag);
		return 1;
	}
	t = now() - t0;
	close(fd);
	if (got_n != total || got_h != h) {
		printf("VSOCKT-%s-FAIL sent %llu bytes hash %016llx, the other side got %llu %016llx\n",
		       tag, (unsigned long long)total, (unsigned long long)h, got_n, got_h);
		return 1;
	}
	printf("VSOCKT-%s-OK %llu bytes in %.2f s (%.1f MiB/s)\n", tag, (unsigned long long)total,
	       t, total / 1048576.0 / (t > 0 ? t : 1e-9));
	return 0;
}

static int do_recv(int fd, unsigned long long n, unsigned long long seed, const char *tag)
{
	static uint8_t buf[CHUNK], want[CHUNK];
	uint64_t s = seed | 1, h = FNV0, hw = FNV0, total = 0, wn = n;
	double t0 = now(), t;
	ssize_t r;

	if (fd < 0)
		return 1;
	dprintf(fd, "SOURCE %llu %llu\n", n, seed);
	while (wn) {   /* the expected hash */
		size_t k = wn < CHUNK ? (size_t)wn : CHUNK;

		gen(&s, want, k);
		hw = fnv(hw, want, k);
		wn -= k;
	}
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			printf("VSOCKT-%s-FAIL read: %s\n", tag, strerror(errno));
			return 1;
		}
		h = fnv(h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	t = now() - t0;
	close(fd);
	if (total != n || h != hw) {
		printf("VSOCKT-%s-FAIL got %llu bytes hash %016llx, want %llu %016llx\n", tag,
		       (unsigned long long)total, (unsigned long long)h, n, (unsigned long long)hw);
		return 1;
	}
	printf("VSOCKT-%s-OK %llu bytes in %.2f s (%.1f MiB/s)\n", tag, (unsigned long long)total,
	       t, total / 1048576.0 / (t > 0 ? t : 1e-9));
	return 0;
}

static int do_many(const char *uds, unsigned port, int k, unsigned long long n)
{
	int ok = 0, st;
	double t0 = now();

	for (int i = 0; i < k; i++) {
		if (fork() == 0) {
			int fd = host_connect(uds, port);

			/* Quiet on success: one line for all. */
			if (!freopen("/dev/null", "w", stdout))
				_exit(1);
			_exit(do_send(fd, n, (unsigned long long)i + 1, "MANY") ? 1 : 0);
		}
	}
	for (int i = 0; i < k; i++)
		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	printf("VSOCKT-MANY-%s %d/%d connections of %llu bytes each checked in %.2f s\n",
	       ok == k ? "OK" : "FAIL", ok, k, n, now() - t0);
	return ok != k;
}

static int do_hold(const char *uds, unsigned port, int secs)
{
	static uint8_t buf[CHUNK];
	unsigned long long total = 0;
	double t0 = now(), last = t0;
	int fd = host_connect(uds, port);

	if (fd < 0)
		return 1;
	dprintf(fd, "HOLD\n");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	memset(buf, 'h', sizeof(buf));
	while (now() - t0 < secs) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w > 0) {
			total += (unsigned long long)w;
			last = now();
		} else {
			usleep(20000);
		}
	}
	/* Keep it open for the caller's measurements: it closes when we exit. */
	printf("VSOCKT-HELD %llu bytes accepted, the last %.1f s before the end\n", total,
	       now() - last);
	fflush(stdout);
	sleep(2);
	close(fd);
	return 0;
}

static int do_garbage(const char *uds)
{
	char line[128];
	int fd = unix_fd(uds, 0);

	if (fd < 0)
		return 1;
	dprintf(fd, "GET / HTTP/1.0\r\n\r\n");
	if (read_line(fd, line, sizeof(line)) < 0) {
		printf("VSOCKT-GARBAGE EOF\n");
		return 0;
	}
	/* Then the connection must end. */
	printf("VSOCKT-GARBAGE %s then %s\n", line, read(fd, line, 1) == 0 ? "EOF" : "more");
	return 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(m, "serve") && argc == 3) {
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
					  .svm_port = (unsigned)atoi(argv[2]) };
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0) {
			printf("VSOCKT-SERVE-FAIL %s\n", strerror(errno));
			return 1;
		}
		printf("VSOCKT-SERVING %s\n", argv[2]);
		return serve(fd);
	}
	if (!strcmp(m, "hserve") && argc == 3) {
		int fd = unix_fd(argv[2], 1);

		return fd < 0 ? 1 : serve(fd);
	}
	if (!strcmp(m, "send") && argc == 5)
		return do_send(vsock_connect((unsigned)atoi(argv[2])), strtoull(argv[3], NULL, 0),
			       strtoull(argv[4], NULL, 0), "SEND");
	if (!strcmp(m, "recv") && argc == 5)
		return do_recv(vsock_connect((unsigned)atoi(argv[2])), strtoull(argv[3], NULL, 0),
			       strtoull(argv[4], NULL, 0), "RECV");
	if (!strcmp(m, "hsend") && argc == 6)
		return do_send(host_connect(argv[2], (unsigned)atoi(argv[3])),
			       strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0), "HSEND");
	if (!strcmp(m, "hrecv") && argc == 6)
		return do_recv(host_connect(argv[2], (unsigned)atoi(argv[3])),
			       strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0), "HRECV");
	if (!strcmp(m, "hmany") && argc == 6)
		return do_many(argv[2], (unsigned)atoi(argv[3]), atoi(argv[4]),
			       strtoull(argv[5], NULL, 0));
	if (!strcmp(m, "hhold") && argc == 5)
		return do_hold(argv[2], (unsigned)atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(m, "hgarbage") && argc == 3)
		return do_garbage(argv[2]);
	fprintf(stderr, "usage: see the comment at the top of tests/linux/guest/vsockt.c\n");
	return 2;
}
