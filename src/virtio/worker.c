/* worker.c - a virtio device's worker: attach, eventfd handlers, transport
 * hooks run on the worker, and the two-step teardown. */
#include "virtio/worker.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/log.h"

static const char *worker_name(const struct virtio_worker *w)
{
	return w->ops && w->ops->name ? w->ops->name : w->loop.name ? w->loop.name : "virtio";
}

static const char *worker_sep(const struct virtio_worker *w)
{
	return w->label ? " " : "";
}

static const char *worker_label(const struct virtio_worker *w)
{
	return w->label ? w->label : "";
}

/* ---- the transport's hooks: dev is the worker ---- */

struct worker_call {
	struct virtio_worker *w;
	int rc;
};

static void worker_do_activate(void *arg)
{
	struct worker_call *c = arg;

	c->rc = c->w->ops->activate ? c->w->ops->activate(c->w->dev) : 0;
}

static int worker_activate(void *opaque)
{
	struct worker_call c = { .w = opaque };

	evloop_run_sync(&c.w->loop, worker_do_activate, &c);
	return c.rc;
}

static void worker_do_reset(void *arg)
{
	struct virtio_worker *w = arg;

	if (w->ops->reset)
		w->ops->reset(w->dev);
}

static void worker_reset(void *opaque)
{
	struct virtio_worker *w = opaque;

	evloop_run_sync(&w->loop, worker_do_reset, w);
}

static void worker_config_read(void *opaque, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_worker *w = opaque;

	w->ops->config_read(w->dev, off, data, len);
}

static void worker_config_write(void *opaque, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_worker *w = opaque;

	w->ops->config_write(w->dev, off, data, len);
}

/* ---- eventfds ---- */

static void worker_event(void *opaque, uint32_t events)
{
	struct virtio_worker_fd *f = opaque;
	uint64_t v;

	/* Epoll said readable and only this worker reads it: never blocks,
	 * even on a blocking eventfd. */
	if (read(f->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug_rl("%s%s%s: eventfd read: %s", worker_name(f->w), worker_sep(f->w),
			     worker_label(f->w), strerror(errno));
	f->fn(f->w->dev);
}

static int worker_add(struct virtio_worker *w, int fd, virtio_worker_fn fn)
{
	struct virtio_worker_fd *f;
	int rc;

	if (w->nr_fds == VIRTIO_WORKER_MAX_FDS)
		return -ENOSPC;
	f = &w->fds[w->nr_fds];
	*f = (struct virtio_worker_fd){ .w = w, .fd = fd, .fn = fn };
	rc = evloop_add(&w->loop, fd, EPOLLIN, worker_event, f);
	if (!rc)
		w->nr_fds++;
	return rc;
}

void virtio_worker_poke(struct virtio_worker *w, int fd)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is already non-zero, the handler runs anyway. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug_rl("%s%s%s: self-kick: %s", worker_name(w), worker_sep(w),
			     worker_label(w), strerror(errno));
}

int virtio_worker_pop(struct virtio_worker *w, int queue, struct vq_chain *c)
{
	struct vq *q = virtio_mmio_vq(&w->t, queue);

	for (;;) {
		int rc = vq_pop(q, c);

		if (rc < 0) {
			virtio_mmio_needs_reset(&w->t);
			return rc;
		}
		if (rc > 0)
			return 1;
		/* Kicks on, then look again: the driver may have posted while
		 * they were off and will not kick for that. */
		vq_set_notify(q, true);
		if (!vq_has_avail(q))
			return 0;
		vq_set_notify(q, false);
	}
}

/* ---- lifecycle ---- */

int virtio_worker_init(struct virtio_worker *w, const char *thread, const char *label,
		       void *dev)
{
	int rc = evloop_init(&w->loop, thread);

	if (rc)
		return rc;
	w->dev = dev;
	w->label = label;
	w->loop_ready = true;
	return 0;
}

int virtio_worker_watch(struct virtio_worker *w, int fd, virtio_worker_fn fn)
{
	int rc = worker_add(w, fd, fn);

	if (rc)
		log_err("%s%s%s: cannot watch fd %d on its worker: %s", worker_name(w),
			worker_sep(w), worker_label(w), fd, strerror(-rc));
	return rc;
}

int virtio_worker_attach(struct virtio_worker *w, const struct virtio_env *env,
			 uint64_t base, uint32_t gsi, const struct virtio_dev_ops *ops,
			 const virtio_worker_fn *kicks)
{
	int rc;

	w->ops = ops;
	w->tops = *ops;
	w->tops.activate = worker_activate;
	w->tops.reset = worker_reset;
	w->tops.config_read = ops->config_read ? worker_config_read : NULL;
	w->tops.config_write = ops->config_write ? worker_config_write : NULL;
	rc = virtio_mmio_attach(&w->t, env, base, gsi, &w->tops, w);
	if (rc)
		return rc;
	w->attached = true;
	for (int i = 0; i < ops->nr_queues && !rc; i++)
		rc = worker_add(w, virtio_mmio_kick_fd(&w->t, i), kicks[i]);
	if (!rc)
		rc = evloop_start(&w->loop);
	if (rc)
		log_err("%s%s%s: cannot start its worker: %s", worker_name(w), worker_sep(w),
			worker_label(w), strerror(-rc));
	return rc;
}

void virtio_worker_run(struct virtio_worker *w, virtio_worker_fn fn)
{
	if (w->loop_ready)
		evloop_run_sync(&w->loop, fn, w->dev);
	else
		fn(w->dev);
}

void virtio_worker_quiesce(struct virtio_worker *w)
{
	/* Worker first: the reset the detach performs then runs here
	 * (evloop_run_sync() on a stopped loop), and nothing else touches
	 * the device. */
	if (w->loop_ready)
		evloop_stop(&w->loop);
	if (w->attached)
		virtio_mmio_detach(&w->t);
	w->attached = false;
}

void virtio_worker_release(struct virtio_worker *w)
{
	virtio_worker_quiesce(w);
	if (w->loop_ready)
		evloop_destroy(&w->loop);
	w->loop_ready = false;
	w->nr_fds = 0;
}
