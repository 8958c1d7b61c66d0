/* blk_update.c - a running virtio-blk's PATCH: its rate limiter, its image. */
#include "virtio/blk.h"
#include "virtio/blk_priv.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void blk_do_set_limiter(void *dev)
{
	struct virtio_blk *d = dev;

	virtio_limiter_update(&d->lim, &d->lim_update);
	/* A lifted limit serves what waits in the ring at the loop's next
	 * turn (on a paused VM: at resume, never while paused). */
	virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, 0));
}

void virtio_blk_set_rate_limiter(struct virtio_blk *d, const struct rlim_update *u)
{
	d->lim_update = *u;   /* read on the worker, after run_sync's hand-over */
	virtio_worker_run(&d->w, blk_do_set_limiter);
}

/* On the worker: nothing else runs here, so once the requests in flight
 * have completed (and been pushed) the queue is quiet; the new image then
 * serves every request popped from here on. */
static void blk_do_swap(void *dev)
{
	struct virtio_blk *d = dev;
	int old_fd = d->fd;
	char *old_path = d->path;
	bool resized = d->capacity != d->swap_capacity;

	blk_drain(d);
	blk_signal(d);
	d->fd = d->swap_fd;
	d->path = d->swap_path;
	d->w.label = d->path;
	d->capacity = d->swap_capacity;
	d->config.capacity = d->swap_capacity;
	d->swap_fd = old_fd;
	d->swap_path = old_path;
	/* As Firecracker: the guest learns the new size from a config-change
	 * interrupt (Linux's virtblk_config_changed re-reads capacity). */
	if (d->active && resized)
		virtio_mmio_config_changed(&d->w.t);
	virtio_worker_poke(&d->w, virtio_mmio_kick_fd(&d->w.t, 0));
}

int virtio_blk_swap_image(struct virtio_blk *d, const char *path, char *err, size_t errlen)
{
	int ret;

	if (!(d->swap_path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = blk_open_image(path, d->ro, "path_on_host", true, &d->swap_fd, &d->swap_capacity, err,
			     errlen);
	if (ret) {
		free(d->swap_path);
		d->swap_path = NULL;
		return ret;
	}
	virtio_worker_run(&d->w, blk_do_swap);
	/* The old image and name came back: nothing of the worker uses them now. */
	close(d->swap_fd);
	free(d->swap_path);
	d->swap_fd = -1;
	d->swap_path = NULL;
	log_info("virtio-blk: now serving %s (%llu sectors)", d->path,
		 (unsigned long long)d->capacity);
	return 0;
}
