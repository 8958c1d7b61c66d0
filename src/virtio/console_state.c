/* console_state.c - virtio-console as plain data: the transport, the size
 * and the host input staged for the guest. */
#include "virtio/console.h"
#include "virtio/console_priv.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_console_state) ==
	       sizeof(struct virtio_mmio_state) + 16 + VIRTIO_CONSOLE_RX_BUF,
	       "virtio_console_state has hidden padding");

/* Bytes of the held transmit chain the writer has taken. */
static uint32_t tx_written(const struct virtio_console *d)
{
	size_t n = d->tx_off;

	for (unsigned i = 0; i < d->tx_seg && i < d->tx_chain.nr_out; i++)
		n += d->tx_chain.iov[i].iov_len;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int virtio_console_save(struct virtio_console *d, struct virtio_console_state *s)
{
	unsigned sz = atomic_load(&d->size);
	size_t first;
	int err;

	memset(s, 0, sizeof(*s));
	err = virtio_mmio_save(&d->w.t, &s->transport);
	if (err)
		return err;
	/* Output held for a stalled writer: saved as not taken yet, with what
	 * the host has of it, so the restored device writes only the rest. It
	 * is always the last chain taken (none is popped while one is held). */
	if (d->tx_pending) {
		s->transport.vq[TXQ].last_avail--;
		s->tx_done = tx_written(d);
		log_info("virtio-console state: guest output waits for the host to read it (%u of "
			 "%u bytes written); the state holds the rest", s->tx_done,
			 d->tx_chain.out_len);
	}
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
	if (s->pad) {
		log_err("virtio-console state: pad is not zero; state refused");
		return -EINVAL;
	}
	if (s->tx_done && !(s->transport.regs.status & VIRTIO_STATUS_DRIVER_OK)) {
		log_err("virtio-console state: tx_done = %u, but the driver has not started the "
			"device (status %#x); state refused", s->tx_done, s->transport.regs.status);
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
	/* Read by the worker when it pops the held chain again (the transport's
	 * activate below hands over to it). */
	d->tx_skip = s->tx_done;
	err = virtio_mmio_restore(&d->w.t, &s->transport);
	if (err)
		d->tx_skip = 0;
	/* Staged input waits for the worker; wake it (a no-op when idle). */
	if (!err && s->rx_len)
		virtio_worker_poke(&d->w, d->rx_efd);
	return err;
}
