/* console.c - virtio-console: transmitq to a non-blocking host writer,
 * staged host input into receiveq. */
#include "virtio/console.h"
#include "virtio/console_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"

/* ---- guest -> host ---- */

static void tx_disarm(struct virtio_console *d)
{
	if (d->tx_armed)
		evloop_del(&d->w.loop, d->wfd);
	d->tx_armed = false;
}

static void tx_writable(void *opaque, uint32_t events);

/* Wait for the writer; false when it cannot be waited for. */
static bool tx_arm(struct virtio_console *d)
{
	int rc;

	if (d->tx_armed)
		return true;
	rc = evloop_add(&d->w.loop, d->wfd, EPOLLOUT, tx_writable, d);
	if (rc) {
		log_warn_rl("virtio-console: cannot wait for output fd %d: %s; guest "
			    "output is discarded", d->out_fd, strerror(-rc));
		d->out_failed = true;
		return false;
	}
	d->tx_armed = true;
	return true;
}

static void tx_fail(struct virtio_console *d, const char *why)
{
	if (!d->out_failed)
		log_warn_rl("virtio-console: writing guest output to fd %d failed: %s; "
			    "further output is discarded", d->out_fd, why);
	d->out_failed = true;
}

/* Write what is left of tx_chain's readable part. 1: all of it written (or
 * dropped after an error); 0: the writer would block. */
static int tx_flush(struct virtio_console *d)
{
	struct vq_chain *c = &d->tx_chain;

	for (;;) {
		struct iovec iov[VQ_CHAIN_MAX];
		unsigned n = 0;
		ssize_t w;

		/* Skip what is done, empty segments included. */
		while (d->tx_seg < c->nr_out && d->tx_off >= c->iov[d->tx_seg].iov_len) {
			d->tx_seg++;
			d->tx_off = 0;
		}
		if (d->tx_seg >= c->nr_out || d->wfd < 0 || d->out_failed)
			return 1;
		for (unsigned i = d->tx_seg; i < c->nr_out; i++) {
			size_t off = i == d->tx_seg ? d->tx_off : 0;

			iov[n].iov_base = (uint8_t *)c->iov[i].iov_base + off;
			iov[n].iov_len = c->iov[i].iov_len - off;
			n++;
		}
		if (d->use_send) {
			struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };

			w = sendmsg(d->wfd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			w = writev(d->wfd, iov, (int)n);
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			tx_fail(d, strerror(errno));
			return 1;
		}
		if (w == 0) {
			tx_fail(d, "nothing written");
			return 1;
		}
		/* Advance (segment, offset) by w bytes. */
		while (w > 0) {
			size_t left = c->iov[d->tx_seg].iov_len - d->tx_off;

			if ((size_t)w < left) {
				d->tx_off += (size_t)w;
				w = 0;
			} else {
				w -= (ssize_t)left;
				d->tx_seg++;
				d->tx_off = 0;
			}
		}
	}
}

/* A chain held when its state was saved: the host has its first n bytes. */
static void tx_skip_written(struct virtio_console *d, size_t n)
{
	const struct vq_chain *c = &d->tx_chain;

	while (d->tx_seg < c->nr_out && n >= c->iov[d->tx_seg].iov_len) {
		n -= c->iov[d->tx_seg].iov_len;
		d->tx_seg++;
	}
	d->tx_off = d->tx_seg < c->nr_out ? n : 0;
}

static void tx_serve(void *dev)
{
	struct virtio_console *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, TXQ);
	bool pushed = false;
	int served = 0;

	if (!d->active || !vq_enabled(q))
		return;
	if (d->tx_pending) {
		if (!tx_flush(d) && tx_arm(d))
			return;
		vq_push(q, d->tx_chain.head, 0);
		d->tx_pending = false;
		pushed = true;
		served++;
	}
	tx_disarm(d);
	vq_set_notify(q, false);
	for (;;) {
		if (served >= VIRTIO_CONSOLE_BATCH) {
			virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, TXQ));
			break;
		}
		if (virtio_worker_pop(&d->w, TXQ, &d->tx_chain) <= 0)
			break;
		d->tx_seg = 0;
		d->tx_off = 0;
		if (d->tx_skip) {
			tx_skip_written(d, d->tx_skip);
			d->tx_skip = 0;
		}
		if (!tx_flush(d) && tx_arm(d)) {
			/* Keep the chain, take no more until the writer drains;
			 * kicks stay off meanwhile, EPOLLOUT brings us back. */
			d->tx_pending = true;
			break;
		}
		vq_push(q, d->tx_chain.head, 0);
		pushed = true;
		served++;
	}
	if (pushed && vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
}

static void tx_writable(void *opaque, uint32_t events)
{
	tx_serve(opaque);
}

/* ---- host -> guest ---- */

size_t virtio_console_receive(struct virtio_console *d, const uint8_t *buf,
			      size_t len)
{
	size_t n, tail, first;

	pthread_mutex_lock(&d->rx_lock);
	n = VIRTIO_CONSOLE_RX_BUF - d->rx_len;
	if (n > len)
		n = len;
	tail = (d->rx_head + d->rx_len) % VIRTIO_CONSOLE_RX_BUF;
	first = VIRTIO_CONSOLE_RX_BUF - tail;
	if (first > n)
		first = n;
	memcpy(d->rx_buf + tail, buf, first);
	memcpy(d->rx_buf, buf + first, n - first);
	d->rx_len += n;
	pthread_mutex_unlock(&d->rx_lock);
	if (n)
		virtio_worker_poke(&d->w, d->rx_efd);
	return n;
}

int virtio_console_wait_rx_room(struct virtio_console *d, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms > 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&d->rx_lock);
	while (d->rx_len == VIRTIO_CONSOLE_RX_BUF) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&d->rx_room, &d->rx_lock);
			continue;
		}
		if (pthread_cond_timedwait(&d->rx_room, &d->rx_lock, &until) == ETIMEDOUT) {
			if (d->rx_len == VIRTIO_CONSOLE_RX_BUF)
				rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&d->rx_lock);
	return rc;
}

/* Move staged bytes into c's writable part; returns the count. */
static uint32_t rx_copy(struct virtio_console *d, const struct vq_chain *c)
{
	uint32_t n = 0;

	pthread_mutex_lock(&d->rx_lock);
	for (unsigned i = c->nr_out; i < (unsigned)c->nr_out + c->nr_in && d->rx_len; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t room = c->iov[i].iov_len;

		while (room && d->rx_len) {
			size_t k = VIRTIO_CONSOLE_RX_BUF - d->rx_head;

			if (k > d->rx_len)
				k = d->rx_len;
			if (k > room)
				k = room;
			memcpy(p, d->rx_buf + d->rx_head, k);
			d->rx_head = (d->rx_head + k) % VIRTIO_CONSOLE_RX_BUF;
			d->rx_len -= k;
			p += k;
			room -= k;
			n += (uint32_t)k;
		}
	}
	if (n)
		pthread_cond_broadcast(&d->rx_room);
	pthread_mutex_unlock(&d->rx_lock);
	return n;
}

static bool rx_staged(struct virtio_console *d)
{
	bool any;

	pthread_mutex_lock(&d->rx_lock);
	any = d->rx_len != 0;
	pthread_mutex_unlock(&d->rx_lock);
	return any;
}

static void rx_serve(void *dev)
{
	struct virtio_console *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, RXQ);
	bool pushed = false;
	int served = 0;

	if (!d->active || !vq_enabled(q))
		return;
	/* Kicks stay on for this queue: a guest posting buffers is what ends
	 * a wait for them. */
	while (rx_staged(d)) {
		uint32_t n = 0;
		int rc;

		if (served >= VIRTIO_CONSOLE_BATCH) {
			virtio_worker_poke(&d->w, d->rx_efd);
			break;
		}
		rc = vq_pop(q, &d->rx_chain);
		if (rc < 0) {
			virtio_mmio_needs_reset(&d->w.t);
			break;
		}
		if (rc == 0) {
			vq_set_notify(q, true);
			if (!vq_has_avail(q))
				break;
			continue;
		}
		if (d->rx_chain.nr_out) {
			if (!d->warned_rx_readable)
				log_debug_rl("virtio-console: receive buffer with device-readable "
					     "segments; returned empty");
			d->warned_rx_readable = true;
		} else {
			n = rx_copy(d, &d->rx_chain);
		}
		vq_push(q, d->rx_chain.head, n);
		pushed = true;
		served++;
	}
	if (pushed && vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
}

static size_t sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	return virtio_console_receive(ctx, buf, len);
}

static int sink_wait_room(void *ctx, int timeout_ms)
{
	return virtio_console_wait_rx_room(ctx, timeout_ms);
}

struct console_sink virtio_console_sink(struct virtio_console *d)
{
	return (struct console_sink){
		.write = sink_write,
		.wait_room = sink_wait_room,
		.ctx = d,
	};
}

/* ---- transport glue ---- */

/* On the worker (worker.h), as is reset. */
static int con_activate(void *dev)
{
	struct virtio_console *d = dev;

	d->active = true;
	rx_serve(d);
	tx_serve(d);
	return 0;
}

static void con_reset(void *dev)
{
	struct virtio_console *d = dev;

	d->active = false;
	d->tx_pending = false;   /* its queue is going away */
	d->tx_skip = 0;
	tx_disarm(d);
}

static void con_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_console *d = dev;
	unsigned sz = atomic_load(&d->size);
	struct virtio_console_config cfg = {
		.cols = (uint16_t)(sz & 0xffff),
		.rows = (uint16_t)(sz >> 16),
	};

	if (off > sizeof(cfg) || len > sizeof(cfg) - off) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (uint8_t *)&cfg + off, len);
}

static void con_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	/* emerg_wr without EMERG_WRITE negotiated: ignored. */
}

static const struct virtio_dev_ops con_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.features = VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE),
	.nr_queues = 2,
	.queue_max = VIRTIO_CONSOLE_QUEUE_MAX,
	.config_size = sizeof(struct virtio_console_config),
	.config_read = con_config_read,
	.config_write = con_config_write,
	.activate = con_activate,
	.reset = con_reset,
};

static const virtio_worker_fn con_kicks[] = { [RXQ] = rx_serve, [TXQ] = tx_serve };

/* A writer on out_fd that never blocks the worker (see console.h). */
static int open_writer(struct virtio_console *d, int out_fd)
{
	struct stat st;
	char path[64];
	int flags, fd;

	if (out_fd < 0)
		return 0;
	if (fstat(out_fd, &st) < 0) {
		int rc = -errno;

		log_err("virtio-console: output fd %d: %s", out_fd, strerror(errno));
		return rc;
	}
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		d->wfd = out_fd;
		return 0;
	}
	if (S_ISSOCK(st.st_mode)) {
		d->wfd = out_fd;
		d->use_send = true;
		return 0;
	}
	flags = fcntl(out_fd, F_GETFL);
	if (flags < 0) {
		int rc = -errno;

		log_err("virtio-console: output fd %d: %s", out_fd, strerror(errno));
		return rc;
	}
	if (flags & O_NONBLOCK) {
		d->wfd = out_fd;
		return 0;
	}
	/* A new open file description: O_NONBLOCK on it does not change the
	 * caller's stdout (shared with the UART and the user's shell). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", out_fd);
	fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		d->wfd = fd;
		d->wfd_owned = true;
		return 0;
	}
	log_debug("virtio-console: cannot reopen fd %d (%s); making it non-blocking",
		  out_fd, strerror(errno));
	if (fcntl(out_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int rc = -errno;

		log_err("virtio-console: output fd %d: cannot make it non-blocking: %s",
			out_fd, strerror(errno));
		return rc;
	}
	d->restore_flags = flags;
	d->wfd = out_fd;
	return 0;
}

static void initial_size(struct virtio_console *d, const struct virtio_console_cfg *cfg)
{
	unsigned cols = VIRTIO_CONSOLE_DEFAULT_COLS, rows = VIRTIO_CONSOLE_DEFAULT_ROWS;
	struct winsize ws;

	if (cfg->out_fd >= 0 && isatty(cfg->out_fd) &&
	    ioctl(cfg->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	if (cfg->cols)
		cols = cfg->cols;
	if (cfg->rows)
		rows = cfg->rows;
	atomic_init(&d->size, cols | rows << 16);
}

int virtio_console_create(struct virtio_console **out,
			  const struct virtio_console_cfg *cfg,
			  const struct gmem *mem)
{
	struct virtio_console *d;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("virtio-console: out of memory");
		return err_host(-ENOMEM);
	}
	d->out_fd = cfg->out_fd;
	d->wfd = -1;
	d->restore_flags = -1;
	d->rx_efd = -1;
	pthread_mutex_init(&d->rx_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->rx_room, &ca);
	pthread_condattr_destroy(&ca);
	initial_size(d, cfg);

	d->rx_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->rx_efd < 0) {
		rc = -errno;
		log_err("virtio-console: eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = open_writer(d, cfg->out_fd);
	if (rc)
		goto fail;
	rc = virtio_worker_init(&d->w, "mvm-console", NULL, d);
	if (rc)
		goto fail;
	*out = d;
	return 0;
fail:
	virtio_console_destroy(d);
	return rc;
}

int virtio_console_attach(struct virtio_console *d, const struct virtio_env *env,
			  uint64_t base, uint32_t gsi)
{
	/* Staged host input is served like an rx kick. */
	int rc = virtio_worker_watch(&d->w, d->rx_efd, rx_serve);

	return rc ? rc : virtio_worker_attach(&d->w, env, base, gsi, &con_ops, con_kicks);
}

struct evloop *virtio_console_loop(struct virtio_console *d)
{
	return d ? &d->w.loop : NULL;
}

void virtio_console_destroy(struct virtio_console *d)
{
	if (!d)
		return;
	virtio_worker_release(&d->w);   /* worker stopped before the detach's reset */
	if (d->wfd_owned)
		close(d->wfd);
	if (d->restore_flags >= 0)
		fcntl(d->out_fd, F_SETFL, d->restore_flags);
	if (d->rx_efd >= 0)
		close(d->rx_efd);
	pthread_cond_destroy(&d->rx_room);
	pthread_mutex_destroy(&d->rx_lock);
	free(d);
}

void virtio_console_resize(struct virtio_console *d, uint16_t cols, uint16_t rows)
{
	atomic_store(&d->size, (unsigned)cols | (unsigned)rows << 16);
	if (d->w.attached)
		virtio_mmio_config_changed(&d->w.t);
}

struct virtio_mmio *virtio_console_transport(struct virtio_console *d)
{
	return &d->w.t;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int console_kind_count(const struct vm_config *cfg)
{
	return cfg->console == VM_CONSOLE_VIRTIO ? 1 : 0;
}

static int console_kind_create(void **dev, const struct vm_config *cfg, int index,
			   const struct device_env *env)
{
	struct virtio_console_cfg cc = { .out_fd = env->console_out_fd };

	return virtio_console_create((struct virtio_console **)dev, &cc, env->mem);
}

static int console_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct virtio_env venv = virtio_env_of(env);

	return virtio_console_attach(dev, &venv, base, gsi);
}

/* On the held worker: one non-blocking attempt to finish what the device
 * holds, before quiesce returns (console.h). */
static void con_quiesce_flush(void *dev)
{
	struct virtio_console *d = dev;
	struct vq *q = virtio_mmio_vq(&d->w.t, TXQ);

	if (!d->active)
		return;
	rx_serve(d);
	if (!d->tx_pending || !vq_enabled(q) || !tx_flush(d))
		return;
	vq_push(q, d->tx_chain.head, 0);
	d->tx_pending = false;
	tx_disarm(d);
	if (vq_needs_interrupt(q))
		virtio_mmio_signal_used(&d->w.t);
	/* Kicks were off while it was held: the chains behind it wait for
	 * this poke, served on resume. */
	virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, TXQ));
}

static int console_kind_quiesce(void *dev, int timeout_ms)
{
	struct virtio_console *d = dev;
	int ret = evloop_pause_timed(virtio_console_loop(d), timeout_ms);

	if (!ret && d->w.attached)
		virtio_worker_run(&d->w, con_quiesce_flush);
	return ret;
}

static void console_kind_resume(void *dev)
{
	evloop_resume(virtio_console_loop(dev));
}

static int console_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct virtio_console_state) ? virtio_console_save(dev, state) : -EINVAL;
}

static int console_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct virtio_console_state) ? virtio_console_restore(dev, state) : -EINVAL;
}

static void console_kind_destroy(void *dev)
{
	virtio_console_destroy(dev);
}

const struct device_kind virtio_console_kind = {
	.name = "virtio-console",
	.short_name = "console",
	.virtio_id = VIRTIO_ID_CONSOLE,
	.count = console_kind_count,
	.create = console_kind_create,
	.attach = console_kind_attach,
	.quiesce = console_kind_quiesce,
	.resume = console_kind_resume,
	.state_size = sizeof(struct virtio_console_state),
	.state_version = VIRTIO_CONSOLE_STATE_VERSION,
	.save = console_kind_save,
	.restore = console_kind_restore,
	.destroy = console_kind_destroy,
};
