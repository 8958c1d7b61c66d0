/* migrate.c - live migration, pre-copy: the source's thread and the destination (migrate.h). */
#include "vmm/migrate.h"
#include "vmm/throttle.h"
#include "board/acpi_pm1.h"
#include "board/fw_cfg.h"
#include "core/vcpu.h"
#include "snap/stream.h"
#include "util/bench_probe.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "virtio/blk.h"
#include "vmm/devices.h"
#include "vmm/snapshot.h"
#include "vmm/state.h"
#include "vmm/vm.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PAGE SNAP_STREAM_PAGE

struct vm_migration {
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;       /* guards st, and p's limits (vm_migrate_tune) */
	struct vm_migrate_status st;
	struct vm_migrate_params p;
	uint64_t bw_t0_ns, bw_base; /* the bandwidth counts bytes past bw_base since bw_t0_ns */
	char *config_json;
	struct vm *vm;
	int fd;                     /* the connection; -1 */
	atomic_bool cancel;
	uint64_t t0_ns;
	/* Someone follows GET /mvm/migrate: the source waits (a little) for it
	 * to see "completed" before it stops. */
	bool polled, seen_end;
	pthread_cond_t seen;
	/* The run being built: up to SNAP_STREAM_MAX_RUN pages. */
	uint8_t *run;
	uint64_t run_first, run_n;
	bool run_zero;
	/* Records waiting to go out together (OUT_CAP bytes): a guest's RAM
	 * alternates zero and data runs, and two sends per record (a 32-byte
	 * header, then its payload) were tens of thousands of syscalls for a
	 * 256 MiB guest. send_pages() leaves it empty. */
	uint8_t *out;
	size_t out_len;
	struct vm_throttle throttle;  /* auto-converge: the vCPUs' share asleep */
	/* /proc/self/pagemap in the first round (pagemap_open); -1 when the
	 * kernel is not asked. untouched: pages it sent as zeros unread. */
	int pagemap_fd;
	uint64_t untouched;
};

static int mfail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int mfail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static uint64_t now_ns(void)
{
	return bench_probe_now_ns();
}

/* ---- sockets ------------------------------------------------------------------------------- */

/* "tcp:HOST:PORT" (HOST may be [v6]) or "unix:PATH" into its parts. */
static int uri_split(const char *uri, bool *is_unix, char *host, size_t hlen, char *port,
		     size_t plen, char *err, size_t errlen)
{
	if (!uri || strlen(uri) >= VM_MIGRATE_URI_MAX)
		return mfail(err, errlen, err_usage(-EINVAL), "migration URI missing or too long");
	if (!strncmp(uri, "unix:", 5)) {
		*is_unix = true;
		if (!uri[5] || strlen(uri + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return mfail(err, errlen, err_usage(-EINVAL), "%s: the socket path is empty or too long",
				     uri);
		snprintf(host, hlen, "%s", uri + 5);
		return 0;
	}
	*is_unix = false;
	if (strncmp(uri, "tcp:", 4))
		return mfail(err, errlen, err_usage(-EINVAL), "%s: expected tcp:HOST:PORT or unix:PATH", uri);
	const char *h = uri + 4, *colon = strrchr(h, ':');
	size_t n;

	if (!colon || colon == h || !colon[1])
		return mfail(err, errlen, err_usage(-EINVAL), "%s: expected tcp:HOST:PORT", uri);
	n = (size_t)(colon - h);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n >= hlen || strlen(colon + 1) >= plen)
		return mfail(err, errlen, err_usage(-EINVAL), "%s: host or port too long", uri);
	memcpy(host, h, n);
	host[n] = 0;
	snprintf(port, plen, "%s", colon + 1);
	for (const char *c = port; *c; c++)
		if (*c < '0' || *c > '9')
			return mfail(err, errlen, err_usage(-EINVAL), "%s: port '%s' is not a number", uri, port);
	if (atoi(port) < 1 || atoi(port) > 65535)
		return mfail(err, errlen, err_usage(-EINVAL), "%s: port %s out of range", uri, port);
	return 0;
}

int vm_migrate_uri_check(const char *uri, char *err, size_t errlen)
{
	char host[VM_MIGRATE_URI_MAX], port[16];
	bool is_unix;

	return uri_split(uri, &is_unix, host, sizeof(host), port, sizeof(port), err, errlen);
}

/* Connect (listen=false) or listen (true) on uri. The fd or -errno with err;
 * for a listener, the class recorded (util/err.h): a malformed URI or a
 * refused bind the user's, the rest the host's. */
static int uri_socket(const char *uri, bool listen_on, char *err, size_t errlen)
{
	char host[VM_MIGRATE_URI_MAX], port[16];
	bool is_unix;
	int fd, ret;

	if ((ret = uri_split(uri, &is_unix, host, sizeof(host), port, sizeof(port), err, errlen)))
		return ret;
	if (is_unix) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		memcpy(sa.sun_path, host, strnlen(host, sizeof(sa.sun_path) - 1));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return mfail(err, errlen, err_host(-errno), "socket: %s", strerror(errno));
		if (listen_on ? err_bind_listen(fd, (struct sockaddr *)&sa, sizeof(sa))
			      : connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			ret = -errno;
			close(fd);
			return mfail(err, errlen, ret, "%s %s: %s", listen_on ? "listening on" :
				     "connecting to", uri, strerror(-ret));
		}
		return fd;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = listen_on ? AI_PASSIVE : 0 }, *res, *ai;
	int gai = getaddrinfo(host, port, &hints, &res);
	/* Whether the last address's bind was refused: its class is recorded
	 * after the loop (the first recorded would win). */
	bool refused = false;

	if (gai)
		return mfail(err, errlen, err_usage(-EINVAL), "%s: %s", uri, gai_strerror(gai));
	ret = -ENOENT;
	fd = -1;
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			refused = false;
			continue;
		}
		if (!listen_on) {
			if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
				break;
		} else {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			refused = bind(fd, ai->ai_addr, ai->ai_addrlen) != 0;
			if (!refused && !listen(fd, 1))
				break;
		}
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (listen_on && refused)
			err_usage(ret);
		else if (listen_on)
			err_host(ret);
		return mfail(err, errlen, ret, "%s %s: %s", listen_on ? "listening on" :
			     "connecting to", uri, strerror(-ret));
	}
	return fd;
}

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* TCP_NODELAY on a migration connection: its small records (SYNC, END,
 * READY, RELEASED, GO) follow bulk data or answer it, and Nagle held each
 * behind the peer's delayed ACK: in the test host "destination loading"
 * was 48-78 ms for a destination that loaded the state in 5-30 ms. The
 * bulk goes out in large writes anyway (send_run_rec's buffer). A Unix
 * socket has no Nagle, and refuses the option: nothing to do. */
static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* more: MSG_MORE, a record's header whose payload follows at once (one
 * segment for both, not a 32-byte one first). */
static int write_full_flags(int fd, const void *buf, size_t len, bool more)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	return write_full_flags(fd, buf, len, false);
}

/* One recv(): at least one byte into buf (*got), -EPIPE at the end of the
 * stream, -ETIMEDOUT when SO_RCVTIMEO passed. */
static int recv_some(int fd, void *buf, size_t len, size_t *got)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -EPIPE;
		*got = (size_t)n;
		return 0;
	}
}

/* snap_stream_read_fn: exactly len bytes, -EPIPE at the end of the stream. */
static int read_full(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	uint8_t *p = buf;
	size_t got;
	int ret;

	while (len) {
		if ((ret = recv_some(fd, p, len, &got)))
			return ret;
		p += got;
		len -= got;
	}
	return 0;
}

/* The destination reads the stream through a buffer: a ZERO record, or a
 * RAM record's header, is 32 bytes, and one recv() each made the receiving
 * side the slower one (an idle guest's first round alternates short zero
 * and data runs). A read at least IN_BUF_CAP long (a RAM run of 64 pages
 * or more) goes straight to its place in guest RAM after what is buffered.
 * The source sends nothing after END until the destination speaks, so the
 * buffer is empty when snap_stream_receive() returns (checked). */
#define IN_BUF_CAP (256u << 10)

struct in_reader {
	int fd;
	uint8_t *buf;
	size_t pos, len;
};

/* snap_stream_read_fn over an in_reader: exactly len bytes, -EPIPE at the end. */
static int read_buffered(void *ctx, void *dst, size_t len)
{
	struct in_reader *r = ctx;
	uint8_t *p = dst;
	size_t got;
	int ret;

	while (len) {
		if (r->pos < r->len) {
			size_t k = r->len - r->pos < len ? r->len - r->pos : len;

			memcpy(p, r->buf + r->pos, k);
			r->pos += k;
			p += k;
			len -= k;
		} else if (len >= IN_BUF_CAP) {
			if ((ret = recv_some(r->fd, p, len, &got)))
				return ret;
			p += got;
			len -= got;
		} else {
			r->pos = r->len = 0;
			if ((ret = recv_some(r->fd, r->buf, IN_BUF_CAP, &got)))
				return ret;
			r->len = got;
		}
	}
	return 0;
}

/* CONFIG's arg1: the board devices the destination cannot tell from the
 * configuration (the builder adds them for a multiboot kernel). */
static uint64_t stream_board(const struct vm *vm)
{
	uint64_t b = 0;

	if (vm_devices_find(vm->devices, &fw_cfg_kind, 0))
		b |= SNAP_STREAM_BOARD_FW_CFG;
	if (vm_devices_find(vm->devices, &acpi_pm1_kind, 0))
		b |= SNAP_STREAM_BOARD_LEGACY_PM;
	return b;
}

static int send_rec(int fd, uint32_t type, uint64_t a0, uint64_t a1, const void *pl, uint32_t len)
{
	uint8_t h[SNAP_STREAM_REC_SIZE];
	int ret;

	snap_stream_put_rec(h, type, a0, a1, pl, len);
	if ((ret = write_full_flags(fd, h, sizeof(h), len > 0)))
		return ret;
	return len ? write_full(fd, pl, len) : 0;
}

/* One control record (READY, RELEASED, GO, ERROR) from the peer, within ms. */
static int recv_ctl(int fd, int ms, struct snap_rec *r, char *msg, size_t msglen, char *err,
		    size_t errlen)
{
	uint8_t h[SNAP_STREAM_REC_SIZE];
	char buf[SNAP_STREAM_MAX_MSG + 1];
	int ret;

	set_timeouts(fd, ms);
	if ((ret = read_full(&fd, h, sizeof(h))))
		return mfail(err, errlen, ret, "%s", ret == -EPIPE ? "the connection was closed" :
			     ret == -ETIMEDOUT ? "no answer in time" : strerror(-ret));
	if ((ret = snap_stream_parse(h, 0, r, err, errlen)))
		return ret;
	if (r->len && (ret = read_full(&fd, buf, r->len)))
		return mfail(err, errlen, ret, "the connection broke inside a message");
	if (!snap_stream_check_ok(h, r, buf))
		return mfail(err, errlen, -EINVAL, "a corrupted %s message", snap_rec_name(r->type));
	buf[r->len] = 0;
	if (msg)
		snprintf(msg, msglen, "%s", buf);
	return 0;
}

/* The destination closed the connection while we sent: did it say why
 * (an ERROR, say a configuration that does not match its own) before it
 * closed? Its message waits in our receive queue. */
static bool peer_refused(int fd, char *msg, size_t msglen)
{
	char err[128];
	struct snap_rec r;

	return fd >= 0 && !recv_ctl(fd, 1000, &r, msg, msglen, err, sizeof(err)) &&
	       r.type == SNAP_REC_ERROR;
}

/* ---- the source: dirty logging ------------------------------------------------------------- */

static int set_slot_logging(struct vm *vm, bool on)
{
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct gmem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)i, .guest_phys_addr = r->gpa, .memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
			.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		};

		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	return 0;
}

/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (Linux 5.3), turned on before the
 * memslots log: KVM_GET_DIRTY_LOG then only reads the log, and send_pages()
 * write-protects each chunk again (KVM_CLEAR_DIRTY_LOG) just before copying
 * it: KVM's MMU lock is held for a chunk at a time rather than for all of
 * RAM at every round, and a page written between the read and its copy is
 * not sent twice. With KVM_DIRTY_LOG_INITIALLY_SET (5.7) turning logging on
 * protects nothing at all: every page starts dirty and huge pages are split
 * only as the first pass reaches them. Without the capability, the log is
 * read and re-protected whole, as before. */
static void set_manual_protect(struct vm *vm, bool on)
{
	int offer = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };

	if (on == vm->dirty_manual || offer <= 0 || !(offer & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		return;
	if (on)
		cap.args[0] = (uint64_t)offer & (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
						 KVM_DIRTY_LOG_INITIALLY_SET);
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0) {
		log_debug("migration: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 %s: %s", on ? "on" : "off",
			  strerror(errno));
		return;
	}
	vm->dirty_manual = on;
	if (on)
		log_info("migration: dirty log cleared chunk by chunk as pages are sent "
			 "(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2%s)", cap.args[0] & KVM_DIRTY_LOG_INITIALLY_SET ?
			 ", initially set" : "");
}

static void st_update(struct vm_migration *m, void (*fn)(struct vm_migrate_status *, void *),
		      void *arg)
{
	pthread_mutex_lock(&m->lock);
	fn(&m->st, arg);
	pthread_mutex_unlock(&m->lock);
}

static void set_phase_fn(struct vm_migrate_status *st, void *arg)
{
	st->phase = arg;
}

static void set_phase(struct vm_migration *m, const char *phase)
{
	st_update(m, set_phase_fn, (void *)phase);
}

/* ---- the source: sending pages ------------------------------------------------------------- */

#define OUT_CAP (64u << 10)

static int out_flush(struct vm_migration *m)
{
	int ret = m->out_len ? write_full(m->fd, m->out, m->out_len) : 0;

	m->out_len = 0;
	return ret;
}

/* A RAM or ZERO record through the buffer: its header and a payload that
 * fits are copied in; a larger payload goes out after the buffer, as is. */
static int send_run_rec(struct vm_migration *m, uint32_t type, uint64_t a0, uint64_t a1,
			const void *pl, uint32_t len)
{
	int ret;

	if (m->out_len + SNAP_STREAM_REC_SIZE + len > OUT_CAP && (ret = out_flush(m)))
		return ret;
	snap_stream_put_rec(m->out + m->out_len, type, a0, a1, pl, len);
	m->out_len += SNAP_STREAM_REC_SIZE;
	if (!len)
		return 0;
	if (m->out_len + len <= OUT_CAP) {
		memcpy(m->out + m->out_len, pl, len);
		m->out_len += len;
		return 0;
	}
	if ((ret = out_flush(m)))
		return ret;
	return write_full(m->fd, pl, len);
}

static void add_sent_fn(struct vm_migrate_status *st, void *arg)
{
	const uint64_t *v = arg;

	st->bytes_sent += v[0];
	st->pages_sent += v[1];
	st->zero_pages += v[2];
}

/* The limits now (vm_migrate_tune may change them between two looks). */
static struct vm_migrate_params limits(struct vm_migration *m)
{
	struct vm_migrate_params p;

	pthread_mutex_lock(&m->lock);
	p = m->p;
	pthread_mutex_unlock(&m->lock);
	return p;
}

/* Keep to the bandwidth: sleep while ahead of bytes/s since it was set. */
static void throttle(struct vm_migration *m, uint64_t total)
{
	uint64_t bw, t0, base;

	pthread_mutex_lock(&m->lock);
	bw = m->p.bandwidth;
	t0 = m->bw_t0_ns;
	base = m->bw_base;
	pthread_mutex_unlock(&m->lock);
	if (!bw || total <= base)
		return;
	uint64_t due_ns = (uint64_t)((double)(total - base) / (double)bw * 1e9);
	uint64_t el = now_ns() - t0;

	if (due_ns > el) {
		uint64_t d = due_ns - el;
		struct timespec ts = { .tv_sec = (time_t)(d / 1000000000ull),
				       .tv_nsec = (long)(d % 1000000000ull) };

		nanosleep(&ts, NULL);
	}
}

static int flush_run(struct vm_migration *m)
{
	uint64_t v[3] = { SNAP_STREAM_REC_SIZE, 0, 0 };
	uint64_t total;
	int ret;

	if (!m->run_n)
		return 0;
	if (m->run_zero) {
		ret = send_run_rec(m, SNAP_REC_ZERO, m->run_first, m->run_n, NULL, 0);
		v[2] = m->run_n;
	} else {
		ret = send_run_rec(m, SNAP_REC_RAM, m->run_first, m->run_n, m->run,
				   (uint32_t)(m->run_n * PAGE));
		v[0] += m->run_n * PAGE;
		v[1] = m->run_n;
	}
	m->run_n = 0;
	if (ret)
		return ret;
	st_update(m, add_sent_fn, v);
	pthread_mutex_lock(&m->lock);
	total = m->st.bytes_sent;
	pthread_mutex_unlock(&m->lock);
	throttle(m, total);
	return atomic_load(&m->cancel) ? -ECANCELED : 0;
}

/* Page p of the RAM mapping into the run: copied first, so a vCPU writing
 * it meanwhile cannot make the checksum lie (the page stays dirty and goes again). */
static int send_page(struct vm_migration *m, uint64_t p)
{
	const uint8_t *src = m->vm->mem.base + p * PAGE;
	bool zero;
	int ret;

	if (m->run_n && (m->run_first + m->run_n != p || m->run_n == SNAP_STREAM_MAX_RUN))
		if ((ret = flush_run(m)))
			return ret;
	uint8_t *dst = m->run + (m->run_n ? m->run_n : 0) * PAGE;

	memcpy(dst, src, PAGE);
	zero = snap_stream_is_zero(dst, PAGE);
	if (m->run_n && zero != m->run_zero) {
		uint8_t keep[PAGE];

		memcpy(keep, dst, PAGE);
		if ((ret = flush_run(m)))
			return ret;
		memcpy(m->run, keep, PAGE);
	}
	if (!m->run_n) {
		m->run_first = p;
		m->run_zero = zero;
	}
	m->run_n++;
	return 0;
}

/* Page p, never populated (gmem_untouched): into a ZERO run, unread. */
static int send_untouched(struct vm_migration *m, uint64_t p)
{
	int ret;

	if (m->run_n && (!m->run_zero || m->run_first + m->run_n != p ||
			 m->run_n == SNAP_STREAM_MAX_RUN) && (ret = flush_run(m)))
		return ret;
	if (!m->run_n) {
		m->run_first = p;
		m->run_zero = true;
	}
	m->run_n++;
	m->untouched++;
	return 0;
}

/* Pages re-protected at a time with the manual dirty log: 4 MiB. */
#define CLEAR_CHUNK 1024

/* The first round asks the kernel which pages were never populated and
 * sends those as zeros without reading them: copying and checking a page
 * costs the same whether it holds data or not, and most of an idle guest's
 * RAM was never touched. Not over a snapshot's memory file (a page not
 * faulted in holds the file's data), nor without /proc/self/pagemap: then
 * every page is read, as before. The fd lives for the first round only. */
static void pagemap_open(struct vm_migration *m)
{
	int fd;

	m->pagemap_fd = -1;
	m->untouched = 0;
	if (m->vm->mem.file_mapped) {
		log_info("migration: guest RAM is a snapshot's memory file (pages hold data before "
			 "they are touched): every page is read");
		return;
	}
	fd = gmem_pagemap_open();
	if (fd < 0) {
		log_info("migration: /proc/self/pagemap: %s%s; every page is read", strerror(-fd),
			 fd == -EACCES ? " (mvm is not dumpable, and only root may open it then)" : "");
		return;
	}
	m->pagemap_fd = fd;
}

static void pagemap_close(struct vm_migration *m)
{
	if (m->pagemap_fd >= 0)
		close(m->pagemap_fd);
	m->pagemap_fd = -1;
}

/* untouched[] (CLEAR_CHUNK bits) for pages [c, c+n) when the kernel can
 * tell; false otherwise (and the kernel is not asked again). Correct only
 * because dirty logging is on and this chunk's log was cleared before the
 * question: a vCPU that writes one of these pages after the answer leaves
 * it in KVM's log, a device thread in gmem's dirty bitmap (marked before
 * it writes), so the page goes again in a later round. */
static bool chunk_untouched(struct vm_migration *m, uint64_t c, uint64_t n, uint64_t *untouched)
{
	int ret;

	if (m->pagemap_fd < 0)
		return false;
	if (!(ret = gmem_untouched(&m->vm->mem, m->pagemap_fd, c, n, untouched)))
		return true;
	log_info("migration: reading /proc/self/pagemap: %s; every page is read from here",
		 strerror(-ret));
	pagemap_close(m);
	return false;
}

/* Every page whose bit is set (all pages when bitmap is NULL), a chunk at a
 * time; with vm->dirty_manual each chunk's bits are cleared from KVM's log
 * (its pages write-protected again) just before the chunk is copied. */
static int send_pages(struct vm_migration *m, const uint64_t *bitmap)
{
	static const uint64_t all[CLEAR_CHUNK / 64] = { [0 ... CLEAR_CHUNK / 64 - 1] = ~0ull };
	uint64_t pages = m->vm->mem.ram_size / PAGE, untouched[CLEAR_CHUNK / 64];
	int ret;

	for (uint64_t c = 0; c < pages; c += CLEAR_CHUNK) {
		uint64_t end = c + CLEAR_CHUNK < pages ? c + CLEAR_CHUNK : pages;
		const uint64_t *bits = bitmap ? bitmap + c / 64 : all;
		bool any = !bitmap;

		for (uint64_t w = 0; !any && w < (end - c + 63) / 64; w++)
			any = bits[w] != 0;
		if (!any)
			continue;
		if (m->vm->dirty_manual && (ret = vm_clear_dirty_log(m->vm, bits, c, end - c))) {
			log_err("migration: KVM_CLEAR_DIRTY_LOG (pages %llu+%llu): %s",
				(unsigned long long)c, (unsigned long long)(end - c), strerror(-ret));
			return ret;
		}
		/* Asked only now: logging is on, and with the manual log this
		 * chunk was cleared just above (why it matters: chunk_untouched). */
		bool skip = !bitmap && chunk_untouched(m, c, end - c, untouched);

		for (uint64_t p = c; p < end; p++) {
			if (bitmap && !(bitmap[p / 64] & (1ull << (p % 64)))) {
				if (!bitmap[p / 64])
					p |= 63;
				continue;
			}
			if (skip && untouched[(p - c) / 64] & (1ull << ((p - c) % 64)))
				ret = send_untouched(m, p);
			else
				ret = send_page(m, p);
			if (ret)
				return ret;
		}
	}
	if ((ret = flush_run(m)))
		return ret;
	return out_flush(m);
}

/* Wait until the destination has read everything sent so far (SYNC, then
 * its SYNCED). A pass over RAM ends with megabytes still in the two sockets'
 * buffers; read after the pause, they were most of the downtime (in the
 * test host: 15-50 ms of "destination loading" for a state of 40 KB). Here
 * the guest still runs meanwhile, and the pages it dirties are counted in
 * the round that follows. Every send_pages() leaves the buffer empty. */
static int sync_dest(struct vm_migration *m, uint64_t seq, char *err, size_t errlen)
{
	char msg[SNAP_STREAM_MAX_MSG + 1];
	struct snap_rec r;
	int ret;

	if ((ret = send_rec(m->fd, SNAP_REC_SYNC, seq, 0, NULL, 0)))
		return mfail(err, errlen, ret, "sending to %s: %s", m->p.uri, strerror(-ret));
	if ((ret = recv_ctl(m->fd, VM_MIGRATE_IO_TIMEOUT_MS, &r, msg, sizeof(msg), err, errlen))) {
		char e2[512];

		snprintf(e2, sizeof(e2), "%s", err);
		return mfail(err, errlen, ret, "waiting for the destination to catch up: %s", e2);
	}
	if (r.type != SNAP_REC_SYNCED || r.arg0 != seq)
		return mfail(err, errlen, -EPROTO, "the destination %s: %s",
			     r.type == SNAP_REC_ERROR ? "refused the VM" : "answered out of turn",
			     r.type == SNAP_REC_ERROR ? msg : snap_rec_name(r.type));
	return 0;
}

static uint64_t count_bits(const uint64_t *b, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(b[i]);
	return n;
}

struct round_info {
	int round;
	uint64_t dirty, dirty_per_s, rate;
	double expected_ms;
	unsigned throttle_pct;
};

static void set_round_fn(struct vm_migrate_status *st, void *arg)
{
	const struct round_info *ri = arg;

	st->round = ri->round;
	st->remaining_bytes = ri->dirty * PAGE;
	st->dirty_pages_per_s = ri->dirty_per_s;
	st->rate = ri->rate;
	st->expected_downtime_ms = ri->expected_ms;
	st->throttle_pct = ri->throttle_pct;
}

/* Auto-converge, as QEMU's: from the third round on, a guest that dirtied
 * more than half as many bytes as were sent in the round is slowed down:
 * its vCPUs sleep 20 % of their time, 10 points more each such round. */
#define THROTTLE_FIRST_PCT 20
#define THROTTLE_STEP_PCT  10

static void auto_converge(struct vm_migration *m, struct round_info *ri, bool on)
{
	if (!on && ri->throttle_pct) {
		/* Turned off while the guest was throttled (vm_migrate_tune). */
		if (vm_throttle_set(&m->throttle, m->vm, 0) == 0) {
			log_info("migration: auto-converge off: the vCPUs run at full speed again");
			ri->throttle_pct = 0;
		}
		return;
	}
	if (!on || ri->round < 2 || ri->dirty_per_s * PAGE <= ri->rate / 2 ||
	    ri->throttle_pct >= VCPU_THROTTLE_MAX_PCT)
		return;
	unsigned pct = ri->throttle_pct ? ri->throttle_pct + THROTTLE_STEP_PCT : THROTTLE_FIRST_PCT;

	if (pct > VCPU_THROTTLE_MAX_PCT)
		pct = VCPU_THROTTLE_MAX_PCT;
	int ret = vm_throttle_set(&m->throttle, m->vm, pct);

	if (ret) {
		log_warn("migration: cannot throttle the vCPUs: %s", strerror(-ret));
		return;
	}
	log_info("migration: the guest dirties %.1f MB/s, over half the %.1f MB/s sent: its "
		 "vCPUs now sleep %u %% of their time", ri->dirty_per_s * (double)PAGE / 1e6,
		 ri->rate / 1e6, pct);
	ri->throttle_pct = pct;
}

/* ---- the source: hand-over ----------------------------------------------------------------- */

/* Every disk: fdatasync and unlock (on=false), or lock again (on=true).
 * Returns how many writable disks there are, or -errno. */
static int disks_handover(struct vm *vm, bool release)
{
	int n = 0;

	for (int i = 0;; i++) {
		struct virtio_blk *d = vm_devices_find(vm->devices, &virtio_blk_kind, i);
		int ret;

		if (!d)
			break;
		if (release) {
			if ((ret = virtio_blk_sync(d)))
				log_err("migration: fdatasync %s: %s", virtio_blk_path(d), strerror(-ret));
			virtio_blk_lock(d, false);
		} else if ((ret = virtio_blk_lock(d, true))) {
			return ret;
		}
		n++;
	}
	return n;
}

static void set_untouched_fn(struct vm_migrate_status *st, void *arg)
{
	st->untouched_pages = *(const uint64_t *)arg;
}

static void finish_fn(struct vm_migrate_status *st, void *arg)
{
	const struct vm_migrate_status *f = arg;

	st->state = f->state;
	st->phase = f->phase;
	st->downtime_ms = f->downtime_ms;
	st->total_ms = f->total_ms;
	if (f->error[0])
		snprintf(st->error, sizeof(st->error), "%s", f->error);
}

/* The state built on a thread of its own while the migration thread sends
 * the last pages: the two need nothing of each other once the VM is paused
 * (the devices are quiesced, so saving them writes no page), and each part
 * waits on something else (the vCPU threads' KVM reads, the socket). */
struct state_build {
	struct vm *vm;
	const char *config_json;
	uint8_t *blob;
	size_t len;
	uint64_t ns;            /* how long the build took */
	char err[512];
	int ret;
};

static void *state_build_thread(void *arg)
{
	struct state_build *b = arg;
	uint64_t t0 = now_ns();

	b->ret = vm_snapshot_state_blob(b->vm, b->config_json, &b->blob, &b->len, b->err,
					sizeof(b->err));
	b->ns = now_ns() - t0;
	return NULL;
}

/* Starts the build beside the caller; when no thread can be made,
 * *on_thread is false and state_build_join builds it on the caller's. */
static void state_build_start(struct state_build *b, pthread_t *t, bool *on_thread)
{
	*on_thread = pthread_create(t, NULL, state_build_thread, b) == 0;
}

static void state_build_join(struct state_build *b, pthread_t t, bool on_thread)
{
	if (on_thread)
		pthread_join(t, NULL);
	else
		state_build_thread(b);
}

/* Why vm_pause() failed, for a message: who missed the deadline, when it was that. */
static const char *pause_failure(struct vm *vm, int ret, char *buf, size_t len)
{
	char who[128];

	if (ret == -ETIMEDOUT && vm_pause_stuck(vm, who, sizeof(who))) {
		snprintf(buf, len, "%s did not stop in time (the VM keeps running)", who);
		return buf;
	}
	return strerror(-ret);
}

static void *migrate_thread(void *arg)
{
	struct vm_migration *m = arg;
	struct vm *vm = m->vm;
	struct vm_migrate_status fin = { .state = VM_MIGRATE_FAILED, .phase = "failed" };
	size_t words = gmem_dirty_words(&vm->mem);
	uint64_t *bitmap = calloc(words, sizeof(uint64_t));
	bool was_paused = vm_is_paused(vm), paused_by_us = false, logging_on = false;
	bool released = false, refused = false;
	uint64_t t_pause = 0, t_paused = 0, t_pages = 0, t_sent = 0, t_ready = 0;
	struct state_build build = { .vm = vm, .config_json = m->config_json };
	pthread_t build_thread;
	bool building = false, build_on_thread = false;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	char err[512] = "", msg[SNAP_STREAM_MAX_MSG + 1], who[192];
	struct snap_rec r;
	uint8_t hdr[SNAP_STREAM_HDR_SIZE];
	int ret, n_disks;

	m->run = malloc((size_t)SNAP_STREAM_MAX_RUN * PAGE);
	m->out = malloc(OUT_CAP);
	if (!bitmap || !m->run || !m->out) {
		ret = mfail(err, sizeof(err), -ENOMEM, "out of memory");
		goto fail;
	}
	set_phase(m, "connecting");
	ret = uri_socket(m->p.uri, false, err, sizeof(err));
	if (ret < 0)
		goto fail;
	pthread_mutex_lock(&m->lock);
	m->fd = ret;
	pthread_mutex_unlock(&m->lock);
	set_timeouts(m->fd, VM_MIGRATE_IO_TIMEOUT_MS);
	set_nodelay(m->fd);
	snap_stream_put_header(hdr);
	if ((ret = write_full(m->fd, hdr, sizeof(hdr))) ||
	    (ret = send_rec(m->fd, SNAP_REC_CONFIG, vm->mem.ram_size, stream_board(vm),
			    m->config_json, (uint32_t)strlen(m->config_json)))) {
		mfail(err, sizeof(err), ret, "sending to %s: %s", m->p.uri, strerror(-ret));
		goto fail;
	}

	/* Dirty logging from here; what the guest writes while RAM goes out is sent again. */
	if (!was_paused && (ret = vm_pause(vm))) {
		mfail(err, sizeof(err), ret, "pausing the VM to turn on dirty logging: %s",
		      pause_failure(vm, ret, who, sizeof(who)));
		goto fail;
	}
	if (!vm->track_dirty)
		set_manual_protect(vm, true);
	if (!vm->track_dirty && (ret = set_slot_logging(vm, true))) {
		mfail(err, sizeof(err), ret, "KVM_MEM_LOG_DIRTY_PAGES: %s", strerror(-ret));
		set_slot_logging(vm, false);
		set_manual_protect(vm, false);
		if (!was_paused)
			vm_resume(vm);
		goto fail;
	}
	logging_on = true;
	if (!vm->mem.dirty && (ret = gmem_dirty_enable(&vm->mem))) {
		mfail(err, sizeof(err), ret, "out of memory for the dirty bitmap");
		if (!was_paused)
			vm_resume(vm);
		goto fail;
	}
	vm->snap_base_id = 0;     /* the dirty log is ours now: the next Diff needs a Full first */
	ret = vm_take_dirty_log(vm, bitmap, err, sizeof(err));   /* start a fresh log */
	if (!was_paused)
		vm_resume(vm);
	if (ret)
		goto fail;

	set_phase(m, "precopy");
	uint64_t t_round = now_ns(), sent0 = 0;
	struct round_info ri = { 0 };

	/* Dirty logging is on (above): the pagemap may be asked from here. */
	pagemap_open(m);
	ret = send_pages(m, NULL);
	pagemap_close(m);
	if (ret)
		goto io_fail;
	if ((ret = sync_dest(m, 0, err, sizeof(err))))
		goto fail;
	if (m->untouched) {
		st_update(m, set_untouched_fn, &m->untouched);
		log_info("migration: round 0: %llu pages never touched, sent as zeros unread",
			 (unsigned long long)m->untouched);
	}
	for (;;) {
		uint64_t t = now_ns(), sent;
		double secs = (t - t_round) / 1e9;

		pthread_mutex_lock(&m->lock);
		sent = m->st.bytes_sent;
		pthread_mutex_unlock(&m->lock);
		memset(bitmap, 0, words * sizeof(uint64_t));
		if ((ret = vm_take_dirty_log(vm, bitmap, err, sizeof(err))))
			goto fail;
		ri.dirty = count_bits(bitmap, words);
		if (secs > 0) {
			ri.rate = (uint64_t)((sent - sent0) / secs);
			ri.dirty_per_s = (uint64_t)(ri.dirty / secs);
		}
		ri.expected_ms = ri.rate ? ri.dirty * (double)PAGE / (double)ri.rate * 1e3 : 0;
		st_update(m, set_round_fn, &ri);
		log_info("migration: round %d: %llu KiB sent at %.0f MB/s, %llu pages dirty "
			 "(%llu/s), expected downtime %.1f ms", ri.round,
			 (unsigned long long)((sent - sent0) >> 10), ri.rate / 1e6,
			 (unsigned long long)ri.dirty, (unsigned long long)ri.dirty_per_s,
			 ri.expected_ms);
		struct vm_migrate_params lim = limits(m);

		if (ri.expected_ms <= lim.max_downtime_ms)
			break;
		if (ri.round + 1 >= VM_MIGRATE_MAX_ROUNDS) {
			pthread_mutex_lock(&m->lock);
			m->st.round_limit = true;
			pthread_mutex_unlock(&m->lock);
			log_info("migration: still %llu pages dirty after %d rounds (the guest dirties "
				 "memory about as fast as it is sent): stopping it now, the downtime "
				 "will be about %.0f ms; %s", (unsigned long long)ri.dirty,
				 VM_MIGRATE_MAX_ROUNDS, ri.expected_ms, lim.auto_converge ?
				 "raise --max-downtime or --bandwidth" : "--auto-converge slows the "
				 "guest down until it converges");
			break;
		}
		auto_converge(m, &ri, lim.auto_converge);
		ri.round++;
		t_round = t;
		sent0 = sent;
		if ((ret = send_pages(m, bitmap)))
			goto io_fail;
		if ((ret = sync_dest(m, (uint64_t)ri.round, err, sizeof(err))))
			goto fail;
	}

	/* Stop and copy. */
	set_phase(m, "stop-and-copy");
	log_info("migration: pausing the VM for the last %llu pages and its state",
		 (unsigned long long)ri.dirty);
	t_pause = now_ns();
	if (!was_paused) {
		if ((ret = vm_pause(vm))) {
			mfail(err, sizeof(err), ret, "pausing the VM: %s",
			      pause_failure(vm, ret, who, sizeof(who)));
			goto fail;
		}
		paused_by_us = true;
	}
	vm_throttle_stop(&m->throttle);   /* paused now: the vCPUs run free after a resume */
	t_paused = now_ns();
	/* The state is built beside the last pages (in the test host: 3-16 ms
	 * of KVM reads and 4-7 ms of sections, against 7-24 ms of pages). */
	state_build_start(&build, &build_thread, &build_on_thread);
	building = true;
	if ((ret = vm_take_dirty_log(vm, bitmap, err, sizeof(err))))
		goto fail;
	if ((ret = send_pages(m, bitmap)))
		goto io_fail;
	t_pages = now_ns();
	state_build_join(&build, build_thread, build_on_thread);
	building = false;
	blob = build.blob;
	blob_len = build.len;
	if ((ret = build.ret)) {
		snprintf(err, sizeof(err), "%s", build.err);
		goto fail;
	}
	if ((ret = send_rec(m->fd, SNAP_REC_STATE, 0, 0, blob, (uint32_t)blob_len)) ||
	    (ret = send_rec(m->fd, SNAP_REC_END, 0, 0, NULL, 0)))
		goto io_fail;
	t_sent = now_ns();
	pthread_mutex_lock(&m->lock);
	m->st.bytes_sent += blob_len + 2 * SNAP_STREAM_REC_SIZE;
	m->st.remaining_bytes = 0;
	pthread_mutex_unlock(&m->lock);

	/* Hand-over. */
	set_phase(m, "handover");
	if ((ret = recv_ctl(m->fd, VM_MIGRATE_READY_TIMEOUT_MS, &r, msg, sizeof(msg), err,
			    sizeof(err)))) {
		char e2[sizeof(err)];

		memcpy(e2, err, sizeof(e2));
		snprintf(err, sizeof(err), "waiting for the destination to load the VM: %.400s", e2);
		goto fail;
	}
	if (r.type != SNAP_REC_READY) {
		ret = mfail(err, sizeof(err), -EPROTO, "the destination refused the VM: %s",
			    r.type == SNAP_REC_ERROR ? msg : snap_rec_name(r.type));
		goto fail;
	}
	t_ready = now_ns();
	disks_handover(vm, true);
	released = true;
	if ((ret = send_rec(m->fd, SNAP_REC_RELEASED, 0, 0, NULL, 0)) ||
	    (ret = recv_ctl(m->fd, VM_MIGRATE_IO_TIMEOUT_MS, &r, msg, sizeof(msg), err,
			    sizeof(err)))) {
		mfail(err, sizeof(err), ret, "the destination did not confirm the hand-over: %s",
		      ret == -EPIPE ? "the connection was closed" : strerror(-ret));
		goto fail;
	}
	if (r.type != SNAP_REC_GO) {
		refused = r.type == SNAP_REC_ERROR;   /* it said so: it will not run the guest */
		ret = mfail(err, sizeof(err), -EPROTO, "the destination could not take over: %s",
			    r.type == SNAP_REC_ERROR ? msg : snap_rec_name(r.type));
		goto fail;
	}
	fin.state = VM_MIGRATE_COMPLETED;
	fin.phase = "completed";
	fin.downtime_ms = (now_ns() - t_pause) / 1e6;
	fin.total_ms = (now_ns() - m->t0_ns) / 1e6;
	st_update(m, finish_fn, &fin);
	pthread_mutex_lock(&m->lock);
	log_info("migrated to %s: %d rounds, %llu bytes sent (%llu pages, %llu zero), downtime "
		 "%.1f ms, total %.0f ms", m->p.uri, m->st.round + 1,
		 (unsigned long long)m->st.bytes_sent, (unsigned long long)m->st.pages_sent,
		 (unsigned long long)m->st.zero_pages, fin.downtime_ms, fin.total_ms);
	pthread_mutex_unlock(&m->lock);
	/* Where the downtime went, for bench/migrate.sh and docs/performance.md. */
	log_info("migration: downtime: pause %.1f ms, last pages %.1f ms, state built and sent "
		 "%.1f ms (%zu bytes; built in %.1f ms beside the last pages), destination loading "
		 "%.1f ms, hand-over %.1f ms", (t_paused - t_pause) / 1e6, (t_pages - t_paused) / 1e6,
		 (t_sent - t_pages) / 1e6, blob_len, build.ns / 1e6, (t_ready - t_sent) / 1e6,
		 (now_ns() - t_ready) / 1e6);
	shutdown(m->fd, SHUT_RDWR);   /* closed after the join: cleanup may still shut it */
	free(blob);
	free(bitmap);
	/* The guest runs on the destination already; give a follower (mvm ctl
	 * migrate) up to half a second to read the outcome before mvm exits. */
	pthread_mutex_lock(&m->lock);
	if (m->polled) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 500 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!m->seen_end && !atomic_load(&m->cancel) &&
		       pthread_cond_timedwait(&m->seen, &m->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&m->lock);
	vm_request_stop(vm, VM_STOP_MIGRATED);
	return NULL;

io_fail:
	if (ret == -ECANCELED)
		mfail(err, sizeof(err), ret, "cancelled (the VM is stopping)");
	else if ((ret == -EPIPE || ret == -ECONNRESET) && peer_refused(m->fd, msg, sizeof(msg)))
		mfail(err, sizeof(err), ret, "the destination refused the VM: %s", msg);
	else
		mfail(err, sizeof(err), ret, "sending to %s: %s", m->p.uri,
		      ret == -EPIPE || ret == -ECONNRESET ? "the destination closed the connection"
							   : strerror(-ret));
fail:
	if (building) {   /* it reads the paused VM: done before a resume */
		state_build_join(&build, build_thread, build_on_thread);
		free(build.blob);
	}
	vm_throttle_stop(&m->throttle);
	if (m->fd >= 0) {
		/* Tell the destination why, if it still listens; it exits on its own otherwise. */
		send_rec(m->fd, SNAP_REC_ERROR, 0, 0, err, (uint32_t)strnlen(err, sizeof(err)));
		shutdown(m->fd, SHUT_RDWR);
	}
	/* After RELEASED the destination may run the guest: the locks tell (a
	 * lock it holds is one the source cannot take back), and without a
	 * disk or an explicit refusal the source cannot know, so it stops. */
	if (released && (n_disks = disks_handover(vm, false)) <= 0 && !(n_disks == 0 && refused)) {
		snprintf(fin.error, sizeof(fin.error), "%.300s; %s, so it may be running the guest: this "
			 "VM stops (handed over, unconfirmed)", err, n_disks < 0 ?
			 "the destination holds the disk images" : "no disk lock tells whether "
			 "the destination took over");
		log_err("migration to %s: %s", m->p.uri, fin.error);
		st_update(m, finish_fn, &fin);
		vm_request_stop(vm, VM_STOP_HOST_ERROR);
		goto out;
	}
	if (logging_on && !vm->track_dirty) {
		set_slot_logging(vm, false);
		set_manual_protect(vm, false);
	}
	if (paused_by_us)
		vm_resume(vm);
	fin.total_ms = (now_ns() - m->t0_ns) / 1e6;
	snprintf(fin.error, sizeof(fin.error), "%s", err);
	st_update(m, finish_fn, &fin);
	log_err("migration to %s failed: %s; the VM %s here", m->p.uri, err,
		was_paused ? "stays paused" : "keeps running");
out:
	free(blob);
	free(bitmap);
	return NULL;
}

/* ---- the source: API ----------------------------------------------------------------------- */

int vm_migrate_start(struct vm *vm, const char *config_json, const struct vm_migrate_params *p,
		     char *err, size_t errlen)
{
	struct vm_migration *m = vm->migration;
	int ret;

	if ((ret = vm_migrate_uri_check(p->uri, err, errlen)))
		return ret;
	/* The stream does not name the platform (its destination builds the Linux board):
	 * a tiny guest is saved and restored with a snapshot instead. */
	if (strcmp(vm->platform.ops->name, "linux"))
		return mfail(err, errlen, -EINVAL, "a %s guest cannot migrate (only the Linux "
			     "board's; a snapshot saves and restores it)", vm->platform.ops->name);
	if (vm->hyperv)
		return mfail(err, errlen, -ENOTSUP, "the VM runs with --cpu-hyperv: mvm does not "
			     "save KVM's Hyper-V SynIC and synthetic timer state, so it cannot "
			     "migrate");
	if (vm->sleep_ops && vm->sleep_ops->is_asleep(vm))
		return mfail(err, errlen, -EBUSY, "the guest is in ACPI S3 sleep: mvm does not "
			     "migrate a sleeping VM (resume it to wake it first)");
	/* Refused now, not after the RAM has been copied: the state would be. */
	if ((ret = vm_snapshot_plan(vm->devices, NULL, err, errlen)))
		return ret;
	if (atomic_load(&vm->stopping))
		return mfail(err, errlen, -EINVAL, "the VM is stopping");
	if (m) {
		pthread_mutex_lock(&m->lock);
		bool busy = m->st.state == VM_MIGRATE_ACTIVE || m->st.state == VM_MIGRATE_COMPLETED;

		pthread_mutex_unlock(&m->lock);
		if (busy)
			return mfail(err, errlen, -EBUSY, "a migration is %s", m->st.state ==
				     VM_MIGRATE_ACTIVE ? "already running" : "done: this VM is gone");
		pthread_join(m->thread, NULL);
		m->thread_started = false;
		if (m->fd >= 0)
			close(m->fd);
		free(m->config_json);
		free(m->run);
		m->run = NULL;
		free(m->out);
		m->out = NULL;
		m->out_len = 0;
	} else {
		if (!(m = calloc(1, sizeof(*m))))
			return mfail(err, errlen, -ENOMEM, "out of memory");
		pthread_mutex_init(&m->lock, NULL);
		pthread_cond_init(&m->seen, NULL);
		vm->migration = m;
		vm->migration_cleanup = vm_migrate_cleanup;
	}
	pthread_mutex_lock(&m->lock);
	memset(&m->st, 0, sizeof(m->st));
	m->st.state = VM_MIGRATE_ACTIVE;
	m->st.phase = "starting";
	pthread_mutex_unlock(&m->lock);
	m->p = *p;
	if (!m->p.max_downtime_ms)
		m->p.max_downtime_ms = VM_MIGRATE_DEFAULT_DOWNTIME_MS;
	m->vm = vm;
	m->fd = -1;
	m->pagemap_fd = -1;
	m->run_n = 0;
	m->polled = m->seen_end = false;
	atomic_store(&m->cancel, false);
	m->t0_ns = now_ns();
	m->bw_t0_ns = m->t0_ns;
	m->bw_base = 0;
	m->config_json = strdup(config_json);
	if (!m->config_json) {
		m->st.state = VM_MIGRATE_FAILED;
		return mfail(err, errlen, -ENOMEM, "out of memory");
	}
	/* What reading the vCPUs needs from KVM, asked now rather than in the
	 * downtime (a snapshot before it may have asked already). */
	if ((ret = vm_state_prepare(vm))) {
		m->st.state = VM_MIGRATE_FAILED;
		return mfail(err, errlen, ret, "asking KVM what a vCPU's state holds: %s",
			     strerror(-ret));
	}
	sigset_t all, old;

	/* The thread takes no signals (they go to mvm's signalfd), but SIGSYS:
	 * a seccomp violation must reach the handler that names it. */
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&m->thread, NULL, migrate_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		m->st.state = VM_MIGRATE_FAILED;
		return mfail(err, errlen, -ret, "cannot start the migration thread: %s",
			     strerror(ret));
	}
	m->thread_started = true;
	log_info("migration to %s started (max downtime %u ms, bandwidth %s)", p->uri,
		 m->p.max_downtime_ms, p->bandwidth ? "limited" : "unlimited");
	return 0;
}

void vm_migrate_get_status(struct vm *vm, struct vm_migrate_status *st)
{
	struct vm_migration *m = vm->migration;

	memset(st, 0, sizeof(*st));
	st->phase = "none";
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	*st = m->st;
	st->max_downtime_ms = m->p.max_downtime_ms;
	st->bandwidth = m->p.bandwidth;
	st->auto_converge = m->p.auto_converge;
	if (st->state == VM_MIGRATE_ACTIVE)
		st->total_ms = (now_ns() - m->t0_ns) / 1e6;
	m->polled = true;
	if (st->state == VM_MIGRATE_COMPLETED) {
		m->seen_end = true;
		pthread_cond_broadcast(&m->seen);
	}
	pthread_mutex_unlock(&m->lock);
}

int vm_migrate_tune(struct vm *vm, const struct vm_migrate_tune *t, char *err, size_t errlen)
{
	struct vm_migration *m = vm->migration;
	int ret = 0;

	if (!m)
		return mfail(err, errlen, -EINVAL, "no migration has been started");
	pthread_mutex_lock(&m->lock);
	if (m->st.state != VM_MIGRATE_ACTIVE) {
		ret = mfail(err, errlen, -EINVAL, "no migration is running (the last one %s)",
			    m->st.state == VM_MIGRATE_COMPLETED ? "completed" : "failed");
	} else if (strcmp(m->st.phase, "starting") && strcmp(m->st.phase, "connecting") &&
		   strcmp(m->st.phase, "precopy")) {
		ret = mfail(err, errlen, -EINVAL, "the migration is past its pre-copy phase (%s)",
			    m->st.phase);
	} else {
		if (t->has_downtime)
			m->p.max_downtime_ms = t->max_downtime_ms;
		if (t->has_auto_converge)
			m->p.auto_converge = t->auto_converge;
		if (t->has_bandwidth) {
			m->p.bandwidth = t->bandwidth;
			m->bw_t0_ns = now_ns();
			m->bw_base = m->st.bytes_sent;
		}
	}
	struct vm_migrate_params now = m->p;

	pthread_mutex_unlock(&m->lock);
	if (ret)
		return ret;
	if (now.bandwidth)
		log_info("migration: now max downtime %u ms, bandwidth %.1f MB/s, auto-converge %s",
			 now.max_downtime_ms, now.bandwidth / 1e6, now.auto_converge ? "on" : "off");
	else
		log_info("migration: now max downtime %u ms, bandwidth unlimited, auto-converge %s",
			 now.max_downtime_ms, now.auto_converge ? "on" : "off");
	return 0;
}

void vm_migrate_cleanup(struct vm *vm)
{
	struct vm_migration *m = vm->migration;

	if (!m)
		return;
	if (m->thread_started) {
		atomic_store(&m->cancel, true);
		pthread_mutex_lock(&m->lock);
		int fd = m->fd;

		pthread_cond_broadcast(&m->seen);
		pthread_mutex_unlock(&m->lock);
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);   /* a blocked send or recv returns */
		pthread_join(m->thread, NULL);
	}
	if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->seen);
	free(m->config_json);
	free(m->run);
	free(m->out);
	free(m);
	vm->migration = NULL;
}

/* ---- the destination ----------------------------------------------------------------------- */

struct incoming {
	struct snap_stream_sink *sink;
	struct vm *vm;
	struct vm_config *cfg;
	vm_migrate_parse_fn parse;
	void *parse_ctx;
	struct gmem ram;
	uint64_t *written;        /* pages a RAM record filled (gmem_zero_written) */
	uint8_t *state;
	size_t state_len;
	bool built;               /* the VM exists (its RAM is vm->mem) */
	int build_status;         /* vm_create_restored's exit status on failure */
	int fd;                   /* the connection: SYNCs are answered on it */
};

static int in_config(void *ctx, const char *json, size_t len, uint64_t ram_size, uint64_t board,
		     char *err, size_t errlen)
{
	struct incoming *in = ctx;
	char perr[500];
	int ret;

	/* A configuration that does not parse, or does not match the flags,
	 * is the input's (a failure inside that is the host's, out of memory
	 * say, is marked there, and the first mark wins). */
	if ((ret = in->parse(in->parse_ctx, json, len, in->cfg, perr, sizeof(perr))))
		return mfail(err, errlen, err_usage(ret), "%s", perr);
	if (ram_size != in->cfg->mem_size)
		return mfail(err, errlen, err_usage(-EINVAL), "the stream's RAM size (%llu MiB) is not its "
			     "configuration's (%llu MiB)", (unsigned long long)(ram_size >> 20),
			     (unsigned long long)(in->cfg->mem_size >> 20));
	if ((ret = gmem_init(&in->ram, ram_size)))
		return mfail(err, errlen, err_host(ret), "%llu MiB: cannot map guest RAM: %s",
			     (unsigned long long)(ram_size >> 20), strerror(-ret));
	if (!(in->written = calloc(gmem_dirty_words(&in->ram), sizeof(uint64_t))))
		return mfail(err, errlen, err_host(-ENOMEM), "out of memory for the received-pages "
			     "bitmap");
	/* The whole VM now, while the pages come: only its state waits for the
	 * end, so building it is not part of the downtime. Disks are opened
	 * without their locks (the source holds them until the hand-over). */
	struct vm_restore rs = {
		.ram = &in->ram,
		.fw_cfg = board & SNAP_STREAM_BOARD_FW_CFG,
		.legacy_pm = board & SNAP_STREAM_BOARD_LEGACY_PM,
	};

	in->cfg->disk_locks_deferred = true;
	if ((ret = vm_create_restored(in->vm, in->cfg, &rs, &in->build_status))) {
		vm_destroy(in->vm);
		return mfail(err, errlen, ret, "building the VM of the stream's configuration: %s "
			     "(mvm's log says more)", strerror(-ret));
	}
	in->built = true;
	in->sink->max_pages = ram_size / PAGE;
	/* The vCPU threads too, held before their first KVM_RUN: after GO they
	 * only need letting go (creating each and loading its filter took the
	 * test host 4-8 ms after GO). */
	if ((ret = vm_vcpus_start_held(in->vm)))
		return mfail(err, errlen, err_host(ret), "starting the vCPU threads: %s",
			     strerror(-ret));
	/* What the build and the threads recorded on the way to success is
	 * spent: a failure of the stream from here on records its own. */
	err_reset();
	return 0;
}

/* The sink bounds first + n by the RAM's pages (max_pages). */
static void *in_ram(void *ctx, uint64_t first, uint64_t n)
{
	struct incoming *in = ctx;

	for (uint64_t p = first; p < first + n; p++)
		in->written[p / 64] |= 1ull << (p % 64);
	return in->vm->mem.base + first * PAGE;
}

/* Zero runs: most of a guest's RAM in the first pass, and pages the guest
 * freed later. Only pages a RAM record wrote need clearing; the others were
 * never touched and stay unmapped, so the host can still back them, and
 * the pages around them, with huge pages (gmem_zero_written). */
static void in_zero(void *ctx, uint64_t first, uint64_t n)
{
	struct incoming *in = ctx;

	gmem_zero_written(&in->vm->mem, in->written, first, n);
}

static int in_state(void *ctx, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct incoming *in = ctx;

	in->state = buf;
	in->state_len = len;
	return 0;
}

/* Everything the source sent before this SYNC has been read: say so. */
static int in_sync(void *ctx, uint64_t seq, char *err, size_t errlen)
{
	struct incoming *in = ctx;
	int ret = send_rec(in->fd, SNAP_REC_SYNCED, seq, 0, NULL, 0);

	if (ret)
		snprintf(err, errlen, "answering the source's SYNC: %s", strerror(-ret));
	return ret ? err_host(ret) : 0;   /* the connection's, not the stream's content */
}

static int in_fail(int fd, int ret, const char *msg, size_t cap)
{
	size_t n = strnlen(msg, cap);

	if (fd >= 0)
		send_rec(fd, SNAP_REC_ERROR, 0, 0, msg,
			 (uint32_t)(n < SNAP_STREAM_MAX_MSG ? n : SNAP_STREAM_MAX_MSG));
	return ret;
}

static int accept_one(const char *uri, char *err, size_t errlen)
{
	int lfd = uri_socket(uri, true, err, errlen), fd;

	if (lfd < 0)
		return lfd;
	log_info("migration: waiting for the stream on %s", uri);
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		fd = mfail(err, errlen, err_host(-errno), "accept on %s: %s", uri, strerror(errno));
	else
		set_nodelay(fd);
	close(lfd);
	if (!strncmp(uri, "unix:", 5))
		unlink(uri + 5);
	return fd;
}

int vm_migrate_incoming(struct vm *vm, struct vm_config *cfg, const char *uri,
			vm_migrate_parse_fn parse, void *ctx, int *exit_status)
{
	struct incoming in = { .vm = vm, .cfg = cfg, .parse = parse, .parse_ctx = ctx };
	struct snap_stream_sink sink = {
		.ctx = &in, .config = in_config, .ram = in_ram, .zero = in_zero, .state = in_state,
		.sync = in_sync,
	};
	struct vm_snapshot snap = { 0 };
	struct in_reader rd = { .fd = -1 };
	char err[600] = "", msg[SNAP_STREAM_MAX_MSG + 1];
	struct snap_rec r;
	uint64_t t0, t_end, t_opened, t_loaded;
	int fd, ret, n;

	*exit_status = MVM_EXIT_USAGE;
	/* The filters the path after GO loads (the main thread's, then each
	 * vCPU's), compiled while nothing waits: in the test host compiling one
	 * took 3-36 ms, loading a compiled one about 1 ms. A failure here is
	 * sandbox_enter's to report. */
	sandbox_prepare(SANDBOX_MAIN);
	sandbox_prepare(SANDBOX_VCPU);
	/* Each failure below records its class where it happens (util/err.h):
	 * the user's (2) for a malformed URI, a refused bind, a stream that
	 * does not fit this destination's flags or breaks the format; the
	 * host's (1) for the transport (the peer closing early, a timeout), no
	 * memory, a refused socket() or listen(). Unmarked: the stream's. */
	err_reset();
	fd = accept_one(uri, err, sizeof(err));
	if (fd < 0) {
		*exit_status = err_exit_status(ERR_HOST);
		log_err("--incoming %s: %s", uri, err);
		return fd;
	}
	set_timeouts(fd, VM_MIGRATE_IO_TIMEOUT_MS);
	in.fd = fd;
	/* The configuration comes first: config() maps RAM of its size and sets
	 * the sink's bound; the pages go straight into it as they come. */
	in.sink = &sink;
	rd.fd = fd;
	if (!(rd.buf = malloc(IN_BUF_CAP))) {
		ret = err_host(-ENOMEM);
		snprintf(err, sizeof(err), "out of memory for the stream's receive buffer");
		goto fail;
	}
	t0 = now_ns();
	ret = snap_stream_receive(read_buffered, &rd, &sink, err, sizeof(err));
	if (!ret && rd.pos != rd.len) {
		ret = err_usage(-EPROTO);
		snprintf(err, sizeof(err), "migration stream: %zu bytes after END before the "
			 "destination was ready (not an mvm source?)", rd.len - rd.pos);
	}
	free(rd.buf);
	rd.buf = NULL;
	if (ret && !in.built && in.build_status) {
		*exit_status = in.build_status;
		goto fail_status;
	}
	if (ret)
		goto fail;
	t_end = now_ns();
	if ((ret = vm_snapshot_open_buf(&snap, in.state, in.state_len, "migration state", err,
					sizeof(err))))
		goto fail;
	t_opened = now_ns();
	if ((ret = vm_restore_into(vm, &snap, exit_status))) {
		snprintf(err, sizeof(err), "the stream's state does not fit its VM: %s (mvm's log "
			 "says more)", strerror(-ret));
		goto fail_status;
	}
	t_loaded = now_ns();
	log_info("migration: %llu MiB received in %.0f ms; state loaded in %.1f ms (checked "
		 "%.1f ms, put into KVM and the devices %.1f ms)",
		 (unsigned long long)(sink.bytes >> 20), (t_end - t0) / 1e6,
		 (t_loaded - t_end) / 1e6, (t_opened - t_end) / 1e6, (t_loaded - t_opened) / 1e6);
	if ((ret = send_rec(fd, SNAP_REC_READY, 0, 0, NULL, 0)) ||
	    (ret = recv_ctl(fd, VM_MIGRATE_IO_TIMEOUT_MS, &r, msg, sizeof(msg), err, sizeof(err)))) {
		mfail(err, sizeof(err), ret, "the source did not release the disks: %s",
		      ret == -EPIPE ? "the connection was closed" : strerror(-ret));
		*exit_status = MVM_EXIT_HOST;
		goto fail_status;
	}
	if (r.type != SNAP_REC_RELEASED) {
		ret = mfail(err, sizeof(err), -EPROTO, "the source gave up: %s",
			    r.type == SNAP_REC_ERROR ? msg : snap_rec_name(r.type));
		*exit_status = MVM_EXIT_HOST;
		goto fail_status;
	}
	/* The source has closed its disks; a lock still held is someone else's. */
	for (int tries = 0; (n = disks_handover(vm, false)) == -EBUSY && tries < 20; tries++)
		usleep(50 * 1000);
	if (n < 0) {
		ret = n;
		mfail(err, sizeof(err), ret, "cannot lock the disk images after the hand-over: %s "
		      "(another process holds one?)", strerror(-ret));
		*exit_status = MVM_EXIT_HOST;
		goto fail_status;
	}
	if ((ret = send_rec(fd, SNAP_REC_GO, 0, 0, NULL, 0))) {
		/* The source cannot know: it re-locks; whoever gets the locks runs. */
		disks_handover(vm, true);
		mfail(err, sizeof(err), ret, "sending GO: %s", strerror(-ret));
		*exit_status = MVM_EXIT_HOST;
		goto fail_status;
	}
	vm->handover_ns = bench_probe_now_ns();
	close(fd);
	vm_snapshot_close(&snap);
	free(in.state);
	free(in.written);
	log_info("migration: the guest runs here (%.0f ms after the stream began)",
		 (now_ns() - t0) / 1e6);
	return 0;

fail:
	*exit_status = err_exit_status(ERR_USAGE);
fail_status:
	log_err("--incoming %s: %s", uri, err);
	in_fail(fd, ret, err, sizeof(err));
	close(fd);
	if (in.built)
		vm_destroy(vm);
	vm_snapshot_close(&snap);
	free(in.state);
	free(in.written);
	gmem_free(&in.ram);   /* when the VM never took it */
	return ret ? ret : -EINVAL;
}
