/* console.h - virtio-console: one port (hvc0 in Linux), guest output to a
 * host fd, host console input to the guest (virtio 1.2 spec 5.3).
 *
 * Contract: two queues, receiveq (0, host -> guest) and transmitq (1,
 * guest -> host), up to 256 entries each; no MULTIPORT, no EMERG_WRITE.
 * VIRTIO_CONSOLE_F_SIZE is offered: cols/rows come from cfg, else from the
 * terminal on cfg->out_fd, else 80x25; virtio_console_resize() changes them
 * later (config-change interrupt).
 *
 * Guest -> host: every transmitq chain's readable bytes are written to
 * out_fd, in order, from the device's worker, without ever blocking it:
 * the worker writes through a non-blocking open file description of its
 * own (a fresh open of /proc/self/fd/N for a pipe or terminal, so stdout
 * itself stays blocking for the UART and for the user's shell;
 * MSG_DONTWAIT for a socket; regular files never block). When the write
 * would block, the worker keeps that one chain, waits for EPOLLOUT on its
 * loop and takes no further chains until it is written, so a host that
 * stops reading stalls the guest's output instead of losing it or growing
 * a buffer. A write error other than EAGAIN (reader gone) is logged once,
 * and from then on output is discarded so the guest never hangs on it.
 * Writable segments of a transmit chain are ignored; it is returned with
 * used length 0.
 *
 * Host -> guest: the host console thread hands input to
 * virtio_console_receive() (through virtio_console_sink()), which stages it
 * in a VIRTIO_CONSOLE_RX_BUF-byte buffer and wakes the worker; the worker
 * moves staged bytes into the receive buffers the guest posted, one chain
 * returned per fill. With no guest buffers the staging buffer fills up and
 * virtio_console_wait_rx_room() blocks the console thread until the guest
 * posts buffers and the worker drains it: nothing is dropped, nothing
 * spins. Staged input survives a device reset (the next driver gets it). A
 * receive chain with device-readable segments breaks the spec; it is
 * returned with used length 0 and nothing written.
 *
 * Each worker wake-up handles at most VIRTIO_CONSOLE_BATCH chains per queue,
 * then kicks itself if more wait. A malformed chain (vq_pop() -EIO) sets
 * NEEDS_RESET. Order at teardown: stop the host console thread (board_stop)
 * before virtio_console_destroy(); bytes of a transmit chain still waiting
 * for a full pipe when the device is reset or destroyed are dropped.
 *
 * Quiesce (the device kind's, on a pause) holds the worker, then makes one
 * non-blocking attempt to finish what it holds: the rest of a transmit
 * chain stalled on the writer (written and pushed if the host now takes
 * it; the chains behind it are served on resume) and staged input for
 * buffers the guest has posted.
 *
 * State (console_state.c): the transport (registers, both queues), the
 * size in the config space, the staged host input (it was taken from the
 * host's console already: dropping it would lose keystrokes) and a
 * transmit chain still held for a stalled writer: saved as not yet taken
 * (transmitq's last_avail one back) with tx_done, the bytes of it the host
 * has already, so the restored device takes it again and writes only the
 * rest. Save with the VM paused. Restore into a device freshly created and
 * attached, before the VM runs; refused (logged, naming the field): rx_len
 * beyond the staging buffer, bytes after rx_len, non-zero padding, tx_done
 * on a device the driver has not started; then the transport is restored.
 * The output fd and its writer are host resources, not state.
 */
#ifndef MVM_VIRTIO_CONSOLE_H
#define MVM_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "board/console.h"   /* struct console_sink */
#include "core/memory.h"
#include "virtio/mmio.h"

#define VIRTIO_CONSOLE_F_SIZE       0   /* feature bit: cols/rows valid */
#define VIRTIO_CONSOLE_QUEUE_MAX    256
#define VIRTIO_CONSOLE_RX_BUF       4096 /* staged host input, bytes */
#define VIRTIO_CONSOLE_BATCH        64   /* chains per queue per wake-up */
#define VIRTIO_CONSOLE_DEFAULT_COLS 80
#define VIRTIO_CONSOLE_DEFAULT_ROWS 25

/* Device config space (spec 5.3.4), little-endian like the host. */
struct virtio_console_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;   /* only with MULTIPORT: 0 here */
	uint32_t emerg_wr;       /* only with EMERG_WRITE: reads 0, writes ignored */
} __attribute__((packed));

struct virtio_console_cfg {
	int out_fd;        /* guest output (stdout); < 0 discards; not closed */
	uint16_t cols;     /* 0: from out_fd's terminal, else 80 */
	uint16_t rows;     /* 0: from out_fd's terminal, else 25 */
};

struct virtio_console;

#define VIRTIO_CONSOLE_STATE_VERSION 2   /* 2: tx_done */

struct virtio_console_state {
	struct virtio_mmio_state transport;
	uint16_t cols, rows;                  /* config space */
	uint32_t rx_len;                      /* staged input bytes in rx_buf */
	/* A transmit chain held for the host (saved as not yet taken): how
	 * many of its bytes the host has already; 0: none held. */
	uint32_t tx_done;
	uint32_t pad;                         /* zero */
	uint8_t rx_buf[VIRTIO_CONSOLE_RX_BUF];   /* oldest first; zero after rx_len */
};

/* 0, or -EINVAL (not attached). */
int virtio_console_save(struct virtio_console *d, struct virtio_console_state *s);
/* 0, or -EINVAL/-EBUSY/-errno logged naming the refused field; on failure
 * the device is left reset. */
int virtio_console_restore(struct virtio_console *d, const struct virtio_console_state *s);

/* 0 or -errno (logged: names the output fd). */
int virtio_console_create(struct virtio_console **out,
			  const struct virtio_console_cfg *cfg,
			  const struct gmem *mem);
/* Claim the MMIO window and start the worker. 0 or -errno (logged). */
int virtio_console_attach(struct virtio_console *d, const struct virtio_env *env,
			  uint64_t base, uint32_t gsi);
/* NULL-safe: stop the worker, detach (resets the device), close, free. */
struct evloop;
void virtio_console_destroy(struct virtio_console *d);
/* The device's worker loop (vm_pause() holds it); NULL for NULL. */
struct evloop *virtio_console_loop(struct virtio_console *d);

/* Host input -> guest. From one thread (the console's): takes what fits in
 * the staging buffer and returns that count. */
size_t virtio_console_receive(struct virtio_console *d, const uint8_t *buf,
			      size_t len);
/* 0 once receive() would take a byte; -ETIMEDOUT after timeout_ms (< 0:
 * wait for ever). */
int virtio_console_wait_rx_room(struct virtio_console *d, int timeout_ms);
/* The two calls above as a console_sink for console_start_sink() or
 * board_set_console_sink(). */
struct console_sink virtio_console_sink(struct virtio_console *d);

/* New terminal size (e.g. on SIGWINCH; any thread): config-change
 * interrupt. */
void virtio_console_resize(struct virtio_console *d, uint16_t cols, uint16_t rows);

/* The embedded transport (tests drive virtio_mmio_io() through it). */
struct virtio_mmio *virtio_console_transport(struct virtio_console *d);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind virtio_console_kind;

#endif
