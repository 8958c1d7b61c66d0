/* console_state.c - virtio-console as plain data: the transport, the size
 * and the host input staged for the guest. */
#include "virtio/console.h"
#include "virtio/console_priv.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_console_state) ==
	       sizeof(struct virtio_mmio_state) + 8 + VIRTIO_CONSOLE_RX_BUF,
	       "virtio_console_state has hidden padding");

int virtio_console_save(struct virtio_console *d, struct virtio_console_state *s)
{
	unsigned sz = atomic_load(&d->size);
	size_t first;
	int err;

	memset(s, 0, sizeof(*s));
	if (d->tx_pending) {
		log_err("virtio-console state: guest output waits for the host to read it; save "
			"after it is written");
		return -EBUSY;
	}
	err = virtio_mmio_save(&d->w.t, &s->transport);
	if (err)
		return err;
	s->cols = (uint16_t)(sz & 0xffff);
	s->rows = (uint16_t)(sz >> 16);
	pthread_mutex_lock(&d->rx_lock);
	/* Oldest byte first, so equal input saves equal bytes wherever the
	 * ring's head happened to be. */
	first = VIRTIO_CONSOLE_RX_BUF - d->rx_head;
	if (first > d->rx_len)
		first = d->rx_len;
	memcpy(s->rx_buf, d->rx_buf + d->rx_head, first);
	memcpy(s->rx_buf + first, d->rx_buf, d->rx_len - first);
	s->rx_len = (uint32_t)d->rx_len;
	pthread_mutex_unlock(&d->rx_lock);
	return 0;
}

int virtio_console_restore(struct virtio_console *d, const struct virtio_console_state *s)
{
	int err;

	if (s->rx_len > VIRTIO_CONSOLE_RX_BUF) {
		log_err("virtio-console state: rx_len = %u exceeds the %d-byte staging buffer; "
			"state refused", s->rx_len, VIRTIO_CONSOLE_RX_BUF);
		return -EINVAL;
	}
	for (size_t i = s->rx_len; i < VIRTIO_CONSOLE_RX_BUF; i++) {
		if (s->rx_buf[i]) {
			log_err("virtio-console state: rx_buf has data after rx_len = %u; state refused",
				s->rx_len);
			return -EINVAL;
		}
	}
	atomic_store(&d->size, (unsigned)s->cols | (unsigned)s->rows << 16);
	pthread_mutex_lock(&d->rx_lock);
	memcpy(d->rx_buf, s->rx_buf, s->rx_len);
	d->rx_head = 0;
	d->rx_len = s->rx_len;
	pthread_mutex_unlock(&d->rx_lock);
	err = virtio_mmio_restore(&d->w.t, &s->transport);
	/* Staged input waits for the worker; wake it (a no-op when idle). */
	if (!err && s->rx_len)
		virtio_worker_poke(&d->w, d->rx_efd);
	return err;
}
