/* console_priv.h - the live virtio-console device, shared by console.c and
 * console_state.c.
 *
 * Contract: private to src/virtio/console*.c. rx_buf/rx_head/rx_len are
 * guarded by rx_lock; the worker-owned fields belong to the device's worker
 * once the loop runs (another thread reads them only with it held or
 * stopped).
 */
#ifndef MVM_VIRTIO_CONSOLE_PRIV_H
#define MVM_VIRTIO_CONSOLE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/console.h"
#include "virtio/worker.h"

#define RXQ 0
#define TXQ 1

struct virtio_console {
	struct virtio_worker w;   /* transport + worker */
	atomic_uint size;         /* cols | rows << 16 */

	/* The writer: wfd is out_fd itself or our own non-blocking reopen. */
	int out_fd;
	int wfd;                  /* < 0: output discarded */
	bool wfd_owned;           /* close wfd at destroy */
	bool use_send;            /* a socket: send(MSG_DONTWAIT) */
	int restore_flags;        /* >= 0: put these file flags back on out_fd */

	/* Staged host input; the console thread writes, the worker reads. */
	pthread_mutex_t rx_lock;
	pthread_cond_t rx_room;
	uint8_t rx_buf[VIRTIO_CONSOLE_RX_BUF];
	size_t rx_head, rx_len;
	int rx_efd;               /* eventfd: input was staged */

	/* Worker-owned. */
	bool active;              /* DRIVER_OK seen, no reset since */
	bool tx_pending;          /* tx_chain is waiting for the writer */
	bool tx_armed;            /* wfd registered for EPOLLOUT */
	bool out_failed;          /* a write error was logged; discarding */
	bool warned_rx_readable;
	unsigned tx_seg;          /* first unwritten segment of tx_chain */
	size_t tx_off;            /* bytes of it already written */
	uint32_t tx_skip;         /* restored: bytes of the next chain popped written already */
	struct vq_chain tx_chain;
	struct vq_chain rx_chain;
};

#endif
