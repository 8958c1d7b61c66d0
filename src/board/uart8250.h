/* uart8250.h - a 16550A serial port (COM1) as Linux's 8250 driver expects.
 *
 * Contract: the builder calls uart8250_init() with the interrupt line and an
 * output fd, then registers uart8250_io() (opaque = the struct uart8250) for
 * [PORT_COM1, PORT_COM1 + UART8250_NR_REGS). vCPU threads call uart8250_io()
 * concurrently; the console thread calls uart8250_receive() and
 * uart8250_wait_rx_room(). Everything the guest can see lives in
 * struct uart8250_regs (plain data, for snapshots); a mutex guards it.
 *
 * Behaviour: transmit is immediate (THR is written to out_fd and is empty
 * again before the access returns; a failed write drops the byte), so LSR
 * THRE/TEMT always read set. (mvm must ignore SIGPIPE, or a closed output
 * pipe kills the process instead of failing the write.) The interrupt output is "an enabled interrupt
 * is pending", reported with irq_line_set() on every change; OUT2 does not
 * gate it (as in QEMU). With FIFOs enabled the RX FIFO holds
 * UART8250_FIFO_SIZE bytes, otherwise one. The character-timeout interrupt
 * (IIR 0xCC) fires at once when the FIFO holds fewer bytes than the trigger
 * level, so the guest never waits for input it could read. In loopback (MCR
 * bit 4) transmitted bytes go to the RX FIFO and host input is held back.
 * Accesses of any width are split into byte accesses at consecutive
 * offsets; offsets past the 8 registers read 0xff and ignore writes.
 *
 * State: uart8250_save() copies the registers (FIFO contents included)
 * under the lock; uart8250_restore() checks every field a guest could not
 * have produced (FIFO index and count within the capacity FCR selects,
 * reserved bits of IER/MCR/FCR/LSR/MSR, flags 0/1, irq_level equal to what
 * the registers imply), logs the field it refuses (-EINVAL), else installs
 * the registers and reports the interrupt level on the line. Host
 * resources (out_fd, the console thread's terminal) are not state.
 */
#ifndef MVM_BOARD_UART8250_H
#define MVM_BOARD_UART8250_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/irq.h"

#define UART8250_NR_REGS   8
#define UART8250_FIFO_SIZE 16

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
	bool out_failed;         /* a write failure was already logged */
	/* Set when the VM stops: a transmit blocked on a full output pipe is
	 * interrupted by the vCPU kick and then drops its byte. NULL: never. */
	const atomic_bool *stopping;
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
void uart8250_destroy(struct uart8250 *u);
/* Let a VM stop interrupt output that the host is not reading. */
void uart8250_set_stop_flag(struct uart8250 *u, const atomic_bool *stopping);

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
