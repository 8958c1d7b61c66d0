/* balloon_state.c - virtio-balloon as plain data: the transport, the
 * target, the driver's actual and the statistics interval. */
#include "virtio/balloon.h"
#include "virtio/balloon_priv.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_balloon_state) == sizeof(struct virtio_mmio_state) + 16,
	       "virtio_balloon_state has hidden padding");

int virtio_balloon_save(struct virtio_balloon *d, struct virtio_balloon_state *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	if ((err = virtio_mmio_save(&d->w.t, &s->transport)))
		return err;
	/* The held statistics buffer goes back to "not taken": the restored
	 * device takes it again (it is always the last one taken). */
	if (d->stats_held)
		s->transport.vq[VIRTIO_BALLOON_STATSQ].last_avail--;
	s->num_pages = __atomic_load_n(&d->num_pages, __ATOMIC_ACQUIRE);
	s->actual = __atomic_load_n(&d->actual, __ATOMIC_ACQUIRE);
	s->stats_polling_interval_s = __atomic_load_n(&d->interval_s, __ATOMIC_ACQUIRE);
	return 0;
}

int virtio_balloon_restore(struct virtio_balloon *d, const struct virtio_balloon_state *s)
{
	static const uint8_t zero[sizeof(s->pad)];
	int err;

	if (memcmp(s->pad, zero, sizeof(zero))) {
		log_err("virtio-balloon state: pad is not zero; state refused");
		return -EINVAL;
	}
	if (s->num_pages > d->max_mib * VIRTIO_BALLOON_PAGES_PER_MIB) {
		log_err("virtio-balloon state: num_pages %u is more than guest RAM (%u MiB); "
			"state refused", s->num_pages, d->max_mib);
		return -EINVAL;
	}
	if (!s->stats_polling_interval_s != !d->stats_on) {
		log_err("virtio-balloon state: stats_polling_interval_s %u, but statistics are %s "
			"in the configuration; state refused", s->stats_polling_interval_s,
			d->stats_on ? "on" : "off");
		return -EINVAL;
	}
	__atomic_store_n(&d->num_pages, s->num_pages, __ATOMIC_RELEASE);
	__atomic_store_n(&d->interval_s, s->stats_polling_interval_s, __ATOMIC_RELEASE);
	if ((err = virtio_mmio_restore(&d->w.t, &s->transport)))
		return err;
	/* After the transport: its reset clears actual. */
	__atomic_store_n(&d->actual, s->actual, __ATOMIC_RELEASE);
	return 0;
}
