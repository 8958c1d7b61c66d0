/* uart8250.h - a 16550A serial port (COM1) as Linux's 8250 driver expects.
 *
 * Contract: the builder calls uart8250_init() with the interrupt line and an
 * output fd, uart8250_start_output() (the device kind's attach), then
 * registers uart8250_io() (opaque = the struct uart8250) for
 * [PORT_COM1, PORT_COM1 + UART8250_NR_REGS). vCPU threads call uart8250_io()
 * concurrently; the console thread calls uart8250_receive() and
 * uart8250_wait_rx_room(); the output thread calls back when it made room.
 * Everything the guest can see lives in struct uart8250_regs (plain data,
 * for snapshots) and in how full the output queue is; a mutex guards the
 * registers (lock order: the UART's lock, then the queue's).
 *
 * Behaviour: a THR write never blocks the vCPU: the byte goes into a
 * UART8250_TX_RING-byte queue (util/outq.h) that one thread, mvm-com1-out,
 * writes to out_fd in order without ever blocking on it (it touches no
 * guest memory, so a pause leaves it running). LSR THRE/TEMT are derived
 * from the queue, not stored: set while it has room for a FIFO's worth
 * (UART8250_FIFO_SIZE bytes), clear while it is fuller - the line is busy
 * and the guest's driver waits, polling THRE or for the THR-empty interrupt,
 * which fires when the writer makes room again (IER THRI set). A byte
 * written while the queue is full (a driver ignoring THRE) is dropped and
 * counted (tx_dropped in stats). In loopback, with no output fd, or after a
 * write error (logged once; output discarded, counted as lost) THRE/TEMT
 * read set. uart8250_destroy() flushes for at most UART8250_EXIT_FLUSH_MS,
 * then drops the rest with a count in the log. (mvm must ignore SIGPIPE;
 * the writer uses MSG_NOSIGNAL only on sockets.) The interrupt output is "an enabled interrupt
 * is pending", reported with irq_line_set() on every change; OUT2 does not
 * gate it (as in QEMU). With FIFOs enabled the RX FIFO holds
 * UART8250_FIFO_SIZE bytes, otherwise one. The character-timeout interrupt
 * (IIR 0xCC) fires at once when the FIFO holds fewer bytes than the trigger
 * level, so the guest never waits for input it could read. In loopback (MCR
 * bit 4) transmitted bytes go to the RX FIFO and host input is held back.
 * Accesses of any width are split into byte accesses at consecutive
 * offsets; offsets past the 8 registers read 0xff and ignore writes.
 *
 * Coalesced output: with uart8250_set_coalesce() given (the builder's
 * device_env.coalesce_pio), one-byte writes to THR (port base + 0) are
 * queued by KVM without an exit whenever they cannot change the interrupt
 * line: IER 0 and not in loopback (Linux's console write runs with IER 0,
 * so a printk costs one exit per byte, its LSR poll, instead of two; its
 * tty output keeps RDI on and is not coalesced, so its THRI toggling never
 * changes the zone, which costs KVM an SRCU grace period). The UART asks
 * again when IER or MCR changes that, under its lock, on the vCPU that
 * wrote it; mvm delivers the queued
 * bytes in order before any other exit's handler runs, so LSR, IIR and
 * loopback see every byte written before them. KVM without coalesced PIO:
 * every write exits, as before.
 *
 * State: uart8250_save() first waits up to UART8250_SAVE_FLUSH_MS for the
 * output queue to drain (the caller has paused the vCPUs), then copies the
 * registers (FIFO contents included) under the lock; queued output is not
 * state: what an unread stdout still holds is written by this process. A
 * restored UART's queue is empty, so a transmitter the guest saw busy is saved as having emptied
 * (THR-empty interrupt armed, irq_level to match). uart8250_restore() checks every field a guest could not
 * have produced (FIFO index and count within the capacity FCR selects,
 * reserved bits of IER/MCR/FCR/LSR/MSR, flags 0/1, irq_level equal to what
 * the registers imply), logs the field it refuses (-EINVAL), else installs
 * the registers and reports the interrupt level on the line. Host
 * resources (out_fd, the output queue and its thread, the console thread's
 * terminal) are not state.
 */
#ifndef MVM_BOARD_UART8250_H
#define MVM_BOARD_UART8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/irq.h"

#define UART8250_NR_REGS   8
#define UART8250_FIFO_SIZE 16
#define UART8250_TX_RING   (64 * 1024)   /* output queued for the writer thread */
#define UART8250_EXIT_FLUSH_MS 1000      /* how long destroy waits for it */
#define UART8250_SAVE_FLUSH_MS 100       /* how long a state save waits for it */

struct outq;

/* Guest-visible state: plain data, no pointers. */
struct uart8250_regs {
	uint8_t rx_fifo[UART8250_FIFO_SIZE];
	uint8_t rx_head;        /* index of the oldest byte */
	uint8_t rx_count;       /* bytes in rx_fifo */
	uint8_t ier;            /* low 4 bits only */
	uint8_t fcr;            /* last FCR write (FIFO enable, trigger level) */
	uint8_t lcr;
	uint8_t mcr;            /* low 5 bits only */
	uint8_t lsr_errors;     /* sticky LSR error bits (overrun), cleared on read */
	uint8_t msr_delta;      /* MSR bits 0-3, cleared on MSR read */
	uint8_t scr;
	uint8_t dll, dlm;       /* divisor latch: stored, has no effect */
	uint8_t thr_ipending;   /* THR-empty interrupt armed */
	uint8_t irq_level;      /* level last reported on the interrupt line */
};

struct uart8250 {
	struct uart8250_regs regs;
	/* Host resources. */
	pthread_mutex_t lock;
	pthread_cond_t rx_room;  /* signalled when the guest may have made room */
	struct irq_line irq;
	int out_fd;              /* < 0: output discarded */
	struct outq *tx;         /* NULL until started, or with no out_fd */
	bool tx_waiting;         /* THRE read clear: arm THRI when room comes */
	/* THR writes queued by KVM instead of exiting (core/coalesce.h), asked
	 * for while they cannot raise an interrupt: THRI off, no loopback. */
	int (*coalesce)(void *ctx, uint64_t port, uint32_t len, bool on);
	void *coalesce_ctx;
	uint64_t coalesce_port;
	bool coalescing;         /* KVM queues THR writes now */
};

struct uart8250_stats {
	uint64_t tx_bytes;       /* queued for output */
	uint64_t tx_written;     /* written to the output fd */
	uint64_t tx_dropped;     /* written by the guest while the queue was full */
	uint64_t tx_lost;        /* queued but never written (write error, exit deadline) */
	uint64_t tx_queued;      /* in the queue now */
};

#define UART8250_STATE_VERSION 1

struct uart8250_state {
	struct uart8250_regs regs;
};

/* 0. */
int uart8250_save(struct uart8250 *u, struct uart8250_state *s);
/* 0 or -EINVAL (logged, naming the field; u unchanged). */
int uart8250_restore(struct uart8250 *u, const struct uart8250_state *s);

void uart8250_init(struct uart8250 *u, struct irq_line irq, int out_fd);
/* Start the output queue and its writer thread (no out_fd: nothing to do).
 * Until then transmitted bytes are discarded. 0 or -errno (logged). */
int uart8250_start_output(struct uart8250 *u);
/* Wait until everything transmitted so far is written: 0 or -ETIMEDOUT. */
int uart8250_flush(struct uart8250 *u, int timeout_ms);
void uart8250_get_stats(struct uart8250 *u, struct uart8250_stats *st);
/* Stops the writer (flushing for at most UART8250_EXIT_FLUSH_MS). */
void uart8250_destroy(struct uart8250 *u);

/* Offer KVM's coalescing of THR writes (NULL fn: none); takes effect at once
 * when the registers allow it. Called before the vCPUs run or on restore. */
void uart8250_set_coalesce(struct uart8250 *u, uint64_t port,
			   int (*fn)(void *ctx, uint64_t port, uint32_t len, bool on), void *ctx);

/* bus_io_fn for the 8 registers; opaque is the struct uart8250. */
void uart8250_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		 bool is_write);

/* Host -> guest bytes. Returns how many fit (0 while in loopback). */
size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t len);

/* Wait until uart8250_receive() would accept at least one byte.
 * 0 when there is room, -ETIMEDOUT after timeout_ms (< 0: wait forever). */
int uart8250_wait_rx_room(struct uart8250 *u, int timeout_ms);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind uart8250_kind;

#endif
