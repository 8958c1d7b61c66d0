/* iobench.c - tiny disk and TCP throughput probe for bench/blk.sh and bench/net.sh (guest and host).
 *
 * usage: iobench seq-write PATH MIB           write MIB MiB in 1 MiB blocks, fdatasync, MB/s
 *        iobench seq-read PATH MIB            read MIB MiB in 1 MiB blocks, MB/s
 *        iobench rand-read PATH SECONDS [QD]  4 KiB random reads for SECONDS, IOPS; QD threads
 *                                             each with one read in flight (default 1: depth 1)
 *        iobench tcp-sink PORT                accept one connection, count bytes to EOF, MB/s
 *        iobench tcp-source ADDR PORT MIB     connect (numeric IPv4), send MIB MiB, shut down, wait for EOF
 * Prints exactly one result line on stdout,
 *   iobench: TEST VALUE UNIT [key=value]...
 * (MB = 10^6 bytes), and tcp-sink first prints "iobench: listening PORT" once it accepts.
 * Disk tests open PATH with O_DIRECT and 4 KiB-aligned buffers; where the file system refuses
 * O_DIRECT (tmpfs, ramfs) they fall back to buffered I/O and say direct=0 on the result line.
 * seq-write times the writes AND the closing fdatasync. Errors go to stderr as
 * "iobench: error: ..." with exit status 1. Built static (gcc -O2 -static) so the same binary
 * runs in the guest's busybox initramfs and in the test host VM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define SMALL 4096u
#define NETBUF (256u << 10)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what, const char *arg)
{
	fprintf(stderr, "iobench: error: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
	return 1;
}

static long parse_pos(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "iobench: error: %s '%s': expected a whole number > 0\n", what, s);
		return -1;
	}
	return v;
}

/* Open with O_DIRECT; on EINVAL (file system without direct I/O) retry buffered. */
static int open_disk(const char *path, int flags, int *direct)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0644);

	*direct = 1;
	if (fd < 0 && errno == EINVAL) {
		*direct = 0;
		fd = open(path, flags | O_CLOEXEC, 0644);
	}
	return fd;
}

static void *aligned(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, SMALL, n))
		return NULL;
	return p;
}

static int seq_write(const char *path, long mib)
{
	int direct, fd = open_disk(path, O_WRONLY | O_CREAT, &direct);
	unsigned char *buf = aligned(BLOCK);
	double t0, t;

	if (fd < 0)
		return fail("open", path);
	if (!buf)
		return fail("posix_memalign", NULL);
	/* A non-zero, non-repeating-page pattern, so nothing downstream can shortcut zero pages. */
	for (size_t i = 0; i < BLOCK; i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 12) * 7 + 1);
	t0 = now_s();
	for (long i = 0; i < mib; i++) {
		ssize_t n = pwrite(fd, buf, BLOCK, (off_t)i * BLOCK);

		if (n != (ssize_t)BLOCK) {
			if (n >= 0)
				errno = EIO;
			return fail("write", path);
		}
	}
	if (fdatasync(fd))
		return fail("fdatasync", path);
	t = now_s() - t0;
	printf("iobench: seq-write %.2f MB/s direct=%d mib=%ld secs=%.3f\n",
	       mib * (double)BLOCK / 1e6 / t, direct, mib, t);
	close(fd);
	free(buf);
	return 0;
}

static int seq_read(const char *path, long mib)
{
	int direct, fd = open_disk(path, O_RDONLY, &direct);
	unsigned char *buf = aligned(BLOCK);
	double t0, t;

	if (fd < 0)
		return fail("open", path);
	if (!buf)
		return fail("posix_memalign", NULL);
	t0 = now_s();
	for (long i = 0; i < mib; i++) {
		ssize_t n = pread(fd, buf, BLOCK, (off_t)i * BLOCK);

		if (n != (ssize_t)BLOCK) {
			if (n >= 0) {
				fprintf(stderr, "iobench: error: %s is shorter than %ld MiB\n", path, mib);
				return 1;
			}
			return fail("read", path);
		}
	}
	t = now_s() - t0;
	printf("iobench: seq-read %.2f MB/s direct=%d mib=%ld secs=%.3f\n",
	       mib * (double)BLOCK / 1e6 / t, direct, mib, t);
	close(fd);
	free(buf);
	return 0;
}

struct rr {
	int fd;
	uint64_t blocks;  /* 4 KiB blocks in the device or file */
	double until;
	uint64_t seed;
	uint64_t done;
	int err;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *rr_worker(void *arg)
{
	struct rr *r = arg;
	void *buf = aligned(SMALL);

	if (!buf) {
		r->err = ENOMEM;
		return NULL;
	}
	for (;;) {
		/* Check the clock every 16 reads: cheap, and fine-grained enough at any IOPS seen here. */
		for (int k = 0; k < 16; k++) {
			off_t off = (off_t)(xorshift(&r->seed) % r->blocks) * SMALL;

			if (pread(r->fd, buf, SMALL, off) != (ssize_t)SMALL) {
				r->err = errno ? errno : EIO;
				free(buf);
				return NULL;
			}
			r->done++;
		}
		if (now_s() >= r->until)
			break;
	}
	free(buf);
	return NULL;
}

static int rand_read(const char *path, long secs, long qd)
{
	int direct, fd = open_disk(path, O_RDONLY, &direct);
	struct rr *r = calloc(qd, sizeof(*r));
	pthread_t *th = calloc(qd, sizeof(*th));
	uint64_t size = 0, total = 0;
	struct stat st;
	double t0, t;

	if (fd < 0)
		return fail("open", path);
	if (!r || !th)
		return fail("calloc", NULL);
	if (fstat(fd, &st))
		return fail("stat", path);
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size))
			return fail("BLKGETSIZE64", path);
	} else {
		size = st.st_size;
	}
	if (size < SMALL) {
		fprintf(stderr, "iobench: error: %s is smaller than 4 KiB\n", path);
		return 1;
	}
	t0 = now_s();
	for (long i = 0; i < qd; i++) {
		r[i] = (struct rr){ .fd = fd, .blocks = size / SMALL, .until = t0 + secs,
				    .seed = 0x9e3779b97f4a7c15ull * (i + 1) };
		if ((errno = pthread_create(&th[i], NULL, rr_worker, &r[i])))
			return fail("pthread_create", NULL);
	}
	for (long i = 0; i < qd; i++) {
		pthread_join(th[i], NULL);
		if (r[i].err) {
			errno = r[i].err;
			return fail("read", path);
		}
		total += r[i].done;
	}
	t = now_s() - t0;
	printf("iobench: rand-read %.0f IOPS direct=%d qd=%ld reads=%llu secs=%.3f\n",
	       total / t, direct, qd, (unsigned long long)total, t);
	close(fd);
	free(r);
	free(th);
	return 0;
}

static int tcp_sink(const char *portstr)
{
	long port = parse_pos(portstr, "port");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, ls, cs;
	char *buf = malloc(NETBUF);
	unsigned long long total = 0;
	double t0, t;

	if (port < 0 || port > 65535)
		return 1;
	if (!buf)
		return fail("malloc", NULL);
	a.sin_port = htons((uint16_t)port);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		return fail("socket", NULL);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1))
		return fail("bind/listen port", portstr);
	printf("iobench: listening %ld\n", port);
	fflush(stdout);
	cs = accept(ls, NULL, NULL);
	if (cs < 0)
		return fail("accept", NULL);
	t0 = now_s();
	for (;;) {
		ssize_t n = read(cs, buf, NETBUF);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("read", NULL);
		}
		total += n;
	}
	t = now_s() - t0;
	printf("iobench: tcp-sink %.2f MB/s bytes=%llu secs=%.3f\n", total / 1e6 / t, total, t);
	close(cs);
	close(ls);
	free(buf);
	return 0;
}

static int tcp_source(const char *host, const char *portstr, long mib)
{
	long port = parse_pos(portstr, "port");
	struct sockaddr_in a = { .sin_family = AF_INET };
	char *buf = malloc(NETBUF);
	unsigned long long total = (unsigned long long)mib << 20, sent = 0;
	double t0, t;
	int s;

	if (port < 0 || port > 65535)
		return 1;
	if (!buf)
		return fail("malloc", NULL);
	memset(buf, 0x5a, NETBUF);
	/* A numeric address only: name lookup would drag glibc's NSS into a static binary. */
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "iobench: error: %s: expected a numeric IPv4 address\n", host);
		return 1;
	}
	a.sin_port = htons((uint16_t)port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket", NULL);
	t0 = now_s();
	if (connect(s, (struct sockaddr *)&a, sizeof(a)))
		return fail("connect", host);
	while (sent < total) {
		size_t want = total - sent < NETBUF ? total - sent : NETBUF;
		ssize_t n = write(s, buf, want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("write", host);
		}
		sent += n;
	}
	/* The peer closes after it has read everything: wait for that, so the figure is end to end. */
	shutdown(s, SHUT_WR);
	while (read(s, buf, NETBUF) > 0)
		;
	t = now_s() - t0;
	printf("iobench: tcp-source %.2f MB/s bytes=%llu secs=%.3f\n", sent / 1e6 / t, sent, t);
	close(s);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	long a, b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "seq-write")) {
		return (a = parse_pos(argv[3], "MiB")) < 0 ? 1 : seq_write(argv[2], a);
	} else if (argc == 4 && !strcmp(argv[1], "seq-read")) {
		return (a = parse_pos(argv[3], "MiB")) < 0 ? 1 : seq_read(argv[2], a);
	} else if ((argc == 4 || argc == 5) && !strcmp(argv[1], "rand-read")) {
		a = parse_pos(argv[3], "seconds");
		b = argc == 5 ? parse_pos(argv[4], "queue depth") : 1;
		return a < 0 || b < 0 || b > 256 ? 1 : rand_read(argv[2], a, b);
	} else if (argc == 3 && !strcmp(argv[1], "tcp-sink")) {
		return tcp_sink(argv[2]);
	} else if (argc == 5 && !strcmp(argv[1], "tcp-source")) {
		return (a = parse_pos(argv[4], "MiB")) < 0 ? 1 : tcp_source(argv[2], argv[3], a);
	}
	fprintf(stderr, "usage: iobench seq-write|seq-read PATH MIB\n"
			"       iobench rand-read PATH SECONDS [QD]\n"
			"       iobench tcp-sink PORT\n"
			"       iobench tcp-source HOST PORT MIB\n");
	return 2;
}
