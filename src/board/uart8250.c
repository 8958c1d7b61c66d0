/* uart8250.c - 16550A UART register model; transmit goes through a bounded output queue. */
#include "board/uart8250.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"
#include "util/outq.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Register offsets (DLAB = 0 unless noted). */
enum {
	REG_RBR_THR_DLL = 0,
	REG_IER_DLM     = 1,
	REG_IIR_FCR     = 2,
	REG_LCR         = 3,
	REG_MCR         = 4,
	REG_LSR         = 5,
	REG_MSR         = 6,
	REG_SCR         = 7,
};

#define IER_RDI   0x01 /* received data available */
#define IER_THRI  0x02 /* THR empty */
#define IER_RLSI  0x04 /* receiver line status */
#define IER_MSI   0x08 /* modem status */

#define IIR_NO_INT     0x01
#define IIR_MSI        0x00
#define IIR_THRI       0x02
#define IIR_RDI        0x04
#define IIR_RLSI       0x06
#define IIR_RX_TIMEOUT 0x0c
#define IIR_FIFO_BITS  0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_BI   0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRS 0x1e

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

void uart8250_init(struct uart8250 *u, struct irq_line irq, int out_fd)
{
	pthread_condattr_t ca;

	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	/* Timed waits on the monotonic clock: wall-clock jumps don't matter. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->rx_room, &ca);
	pthread_condattr_destroy(&ca);
	u->irq = irq;
	u->out_fd = out_fd;
	/* Power-on state: DTR/RTS/OUT2 as a BIOS would leave them. */
	u->regs.mcr = MCR_OUT2 | MCR_RTS | MCR_DTR;
	u->regs.lcr = 0x03; /* 8N1 */
	u->regs.dll = 0x0c; /* 9600 baud, for the curious */
}

static bool tx_thre(struct uart8250 *u);
static void update_irq(struct uart8250 *u);

/* The writer made room (its thread, no lock held): a transmitter the guest
 * saw busy is empty again, and its THR-empty interrupt fires. */
static void uart_tx_room(void *ctx)
{
	struct uart8250 *u = ctx;

	pthread_mutex_lock(&u->lock);
	if (u->tx_waiting && tx_thre(u)) {
		u->tx_waiting = false;
		u->regs.thr_ipending = 1;
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
}

int uart8250_start_output(struct uart8250 *u)
{
	if (u->out_fd < 0 || u->tx)
		return 0;
	return outq_start(&u->tx, u->out_fd, UART8250_TX_RING, "mvm-com1-out", uart_tx_room, u);
}

int uart8250_flush(struct uart8250 *u, int timeout_ms)
{
	return u->tx ? outq_flush(u->tx, timeout_ms) : 0;
}

void uart8250_get_stats(struct uart8250 *u, struct uart8250_stats *st)
{
	struct outq_stats q = { 0 };

	if (u->tx)
		outq_get_stats(u->tx, &q);
	*st = (struct uart8250_stats){ .tx_bytes = q.bytes, .tx_written = q.written,
				       .tx_dropped = q.dropped, .tx_lost = q.lost,
				       .tx_queued = q.queued };
}

void uart8250_destroy(struct uart8250 *u)
{
	struct outq_stats st = { 0 };

	/* No room() call starts once the stop is asked for: u may go after. */
	outq_stop(u->tx, UART8250_EXIT_FLUSH_MS, &st);
	u->tx = NULL;
	if (st.unflushed)
		log_warn("COM1: %llu bytes of guest output not written within %d ms at exit "
			 "(nobody reading mvm's output?); dropped", (unsigned long long)st.unflushed,
			 UART8250_EXIT_FLUSH_MS);
	pthread_cond_destroy(&u->rx_room);
	pthread_mutex_destroy(&u->lock);
}

static unsigned rx_capacity(const struct uart8250_regs *r)
{
	return (r->fcr & FCR_ENABLE) ? UART8250_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart8250_regs *r)
{
	static const unsigned level[4] = { 1, 4, 8, 14 };

	return (r->fcr & FCR_ENABLE) ? level[r->fcr >> 6] : 1;
}

/* Modem status lines: in loopback they mirror the MCR outputs; otherwise
 * the "cable" is always connected (CTS, DSR, DCD), as QEMU reports. */
static uint8_t msr_lines(uint8_t mcr)
{
	uint8_t v = 0;

	if (!(mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (mcr & MCR_RTS)
		v |= MSR_CTS;
	if (mcr & MCR_DTR)
		v |= MSR_DSR;
	if (mcr & MCR_OUT1)
		v |= MSR_RI;
	if (mcr & MCR_OUT2)
		v |= MSR_DCD;
	return v;
}

/* THR empty: a FIFO's worth of room in the output queue (Linux writes up
 * to 16 bytes per THRE it sees). Loopback and discarded output never fill. */
static bool tx_thre(struct uart8250 *u)
{
	return (u->regs.mcr & MCR_LOOP) || !u->tx || outq_room(u->tx) >= UART8250_FIFO_SIZE;
}

static uint8_t lsr_value(struct uart8250 *u)
{
	const struct uart8250_regs *r = &u->regs;

	return (tx_thre(u) ? LSR_THRE | LSR_TEMT : 0) | r->lsr_errors | (r->rx_count ? LSR_DR : 0);
}

/* Highest-priority enabled pending interrupt, as the IIR ID bits. */
static uint8_t iir_id(const struct uart8250_regs *r)
{
	if ((r->ier & IER_RLSI) && (r->lsr_errors & LSR_ERRS))
		return IIR_RLSI;
	if ((r->ier & IER_RDI) && r->rx_count)
		return r->rx_count >= rx_trigger(r) ? IIR_RDI : IIR_RX_TIMEOUT;
	if ((r->ier & IER_THRI) && r->thr_ipending)
		return IIR_THRI;
	if ((r->ier & IER_MSI) && (r->msr_delta & 0x0f))
		return IIR_MSI;
	return IIR_NO_INT;
}

/* Called with the lock held after every state change, so level reports
 * from the console thread and vCPUs reach the irqchip in order. */
static void update_irq(struct uart8250 *u)
{
	uint8_t level = iir_id(&u->regs) != IIR_NO_INT;

	if (level != u->regs.irq_level) {
		u->regs.irq_level = level;
		irq_line_set(&u->irq, level);
	}
}

static bool rx_push(struct uart8250_regs *r, uint8_t byte)
{
	if (r->rx_count >= rx_capacity(r))
		return false;
	r->rx_fifo[(r->rx_head + r->rx_count) % UART8250_FIFO_SIZE] = byte;
	r->rx_count++;
	return true;
}

static uint8_t rx_pop(struct uart8250_regs *r)
{
	uint8_t byte;

	if (!r->rx_count)
		return 0;
	/* Masked: a restored snapshot's indices are not trusted. */
	byte = r->rx_fifo[r->rx_head % UART8250_FIFO_SIZE];
	r->rx_head = (r->rx_head + 1) % UART8250_FIFO_SIZE;
	r->rx_count--;
	return byte;
}

static void rx_clear(struct uart8250_regs *r)
{
	r->rx_head = 0;
	r->rx_count = 0;
}

/* Queue a byte for the writer; a full queue drops it (counted) - a driver
 * that ignores THRE loses output, never the vCPU's time. No fd: discarded. */
static void transmit(struct uart8250 *u, uint8_t byte)
{
	if (u->tx)
		outq_push(u->tx, byte);
}

/* After a THR write or ETBEI rising: the THR-empty interrupt is armed now
 * when the queue has room, else when the writer makes it. */
static void arm_thre(struct uart8250 *u)
{
	bool thre = tx_thre(u);

	u->regs.thr_ipending = thre ? 1 : 0;
	u->tx_waiting = !thre;
}

static void set_mcr(struct uart8250_regs *r, uint8_t val)
{
	uint8_t old = msr_lines(r->mcr), now;

	r->mcr = val & 0x1f;
	now = msr_lines(r->mcr);
	if ((old ^ now) & MSR_CTS)
		r->msr_delta |= MSR_DCTS;
	if ((old ^ now) & MSR_DSR)
		r->msr_delta |= MSR_DDSR;
	if ((old ^ now) & MSR_DCD)
		r->msr_delta |= MSR_DDCD;
	if ((old & MSR_RI) && !(now & MSR_RI))
		r->msr_delta |= MSR_TERI;
}

static void write_reg(struct uart8250 *u, unsigned reg, uint8_t val)
{
	struct uart8250_regs *r = &u->regs;
	bool dlab = r->lcr & LCR_DLAB;

	switch (reg) {
	case REG_RBR_THR_DLL:
		if (dlab) {
			r->dll = val;
			break;
		}
		if (r->mcr & MCR_LOOP) {
			if (!rx_push(r, val))
				r->lsr_errors |= LSR_OE;
		} else {
			transmit(u, val);
		}
		/* The byte left THR at once: THR is empty again unless the
		 * output queue is (nearly) full. */
		arm_thre(u);
		break;
	case REG_IER_DLM:
		if (dlab) {
			r->dlm = val;
			break;
		}
		val &= 0x0f;
		/* A rising ETBEI with THR empty raises THRE even if an IIR read
		 * consumed it before; Linux's startup THRE test relies on it. */
		if ((val ^ r->ier) & IER_THRI) {
			if (val & IER_THRI) {
				arm_thre(u);
			} else {
				r->thr_ipending = 0;
				u->tx_waiting = false;
			}
		}
		r->ier = val;
		break;
	case REG_IIR_FCR:
		/* Toggling FIFO enable resets both FIFOs, as on the chip. */
		if ((val ^ r->fcr) & FCR_ENABLE)
			val |= FCR_CLEAR_RX | FCR_CLEAR_TX;
		if (val & FCR_CLEAR_RX)
			rx_clear(r);
		r->fcr = val & 0xc1;
		break;
	case REG_LCR:
		r->lcr = val;
		break;
	case REG_MCR:
		set_mcr(r, val);
		break;
	case REG_LSR:
	case REG_MSR:
		break; /* read-only (factory test writes ignored) */
	case REG_SCR:
		r->scr = val;
		break;
	}
}

static uint8_t read_reg(struct uart8250 *u, unsigned reg)
{
	struct uart8250_regs *r = &u->regs;
	bool dlab = r->lcr & LCR_DLAB;
	uint8_t v, id;

	switch (reg) {
	case REG_RBR_THR_DLL:
		return dlab ? r->dll : rx_pop(r);
	case REG_IER_DLM:
		return dlab ? r->dlm : r->ier;
	case REG_IIR_FCR:
		id = iir_id(r);
		/* Reading IIR acknowledges THRE only when it is what we report. */
		if (id == IIR_THRI)
			r->thr_ipending = 0;
		return id | ((r->fcr & FCR_ENABLE) ? IIR_FIFO_BITS : 0);
	case REG_LCR:
		return r->lcr;
	case REG_MCR:
		return r->mcr;
	case REG_LSR:
		v = lsr_value(u);
		r->lsr_errors = 0;
		return v;
	case REG_MSR:
		v = msr_lines(r->mcr) | r->msr_delta;
		r->msr_delta = 0;
		return v;
	case REG_SCR:
		return r->scr;
	}
	return 0xff;
}

/* Queue THR writes in KVM only while one cannot change the interrupt line:
 * every interrupt off (IER 0: Linux's console writes, and the port before
 * it is opened) and no loopback. Not on THRI alone: Linux's tty output
 * turns THRI on and off around every burst, and each change of a KVM zone
 * waits for an SRCU grace period. */
static void update_coalesce(struct uart8250 *u)
{
	bool want = u->coalesce && !u->regs.ier && !(u->regs.mcr & MCR_LOOP);

	if (want == u->coalescing)
		return;
	if (u->coalesce(u->coalesce_ctx, u->coalesce_port, 1, want)) {
		/* Refused: keep the exits, and stop asking. */
		if (want)
			u->coalesce = NULL;
		else
			log_warn_rl("COM1: KVM kept queuing THR writes after IER or loopback was set");
		return;
	}
	u->coalescing = want;
}

void uart8250_set_coalesce(struct uart8250 *u, uint64_t port,
			   int (*fn)(void *ctx, uint64_t port, uint32_t len, bool on), void *ctx)
{
	pthread_mutex_lock(&u->lock);
	if (u->coalescing && u->coalesce)
		u->coalesce(u->coalesce_ctx, u->coalesce_port, 1, false);
	u->coalescing = false;
	u->coalesce = fn;
	u->coalesce_ctx = ctx;
	u->coalesce_port = port;
	if (fn)
		update_coalesce(u);
	pthread_mutex_unlock(&u->lock);
}

void uart8250_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		 bool is_write)
{
	struct uart8250 *u = opaque;
	uint32_t i;

	pthread_mutex_lock(&u->lock);
	/* An 8-bit device on a wider access: one byte per consecutive port. */
	for (i = 0; i < len; i++) {
		uint64_t reg = off + i;

		if (reg < off || reg >= UART8250_NR_REGS) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			write_reg(u, (unsigned)reg, data[i]);
		else
			data[i] = read_reg(u, (unsigned)reg);
	}
	update_irq(u);
	if (is_write && u->coalesce)
		update_coalesce(u);
	/* Reads drain the FIFO; FCR/MCR writes change capacity or loopback. */
	pthread_cond_broadcast(&u->rx_room);
	pthread_mutex_unlock(&u->lock);
}

static bool has_room(const struct uart8250_regs *r)
{
	return !(r->mcr & MCR_LOOP) && r->rx_count < rx_capacity(r);
}

size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/* In loopback the receiver is disconnected from the outside world. */
	while (n < len && has_room(&u->regs) && rx_push(&u->regs, buf[n]))
		n++;
	if (n)
		update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

int uart8250_wait_rx_room(struct uart8250 *u, int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&u->lock);
	while (!has_room(&u->regs)) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&u->rx_room, &u->lock);
		} else if (pthread_cond_timedwait(&u->rx_room, &u->lock,
						  &deadline) == ETIMEDOUT) {
			rc = has_room(&u->regs) ? 0 : -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&u->lock);
	return rc;
}

/* ---- state ---- */

static int uart_refuse(const char *field, unsigned val, const char *why)
{
	log_err("uart8250 state: %s = %#x %s; state refused", field, val, why);
	return -EINVAL;
}

int uart8250_save(struct uart8250 *u, struct uart8250_state *s)
{
	/* The vCPUs are paused: give what the guest wrote a moment to reach
	 * stdout, so a restored or migrated guest's output follows it. What an
	 * unread stdout holds back stays with this process (written later, or
	 * counted at exit); waiting longer would stall the snapshot on it. */
	if (u->tx && uart8250_flush(u, UART8250_SAVE_FLUSH_MS))
		log_debug("COM1: output still queued at the state save (stdout not read within "
			  "%d ms); it is written by this process, not the restored one",
			  UART8250_SAVE_FLUSH_MS);
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&u->lock);
	memcpy(&s->regs, &u->regs, sizeof(s->regs));
	/* A restored UART starts with an empty output queue: the transmitter
	 * the guest waits for has emptied, so its interrupt is armed (what
	 * the writer would do on making room). */
	if (u->tx_waiting) {
		s->regs.thr_ipending = 1;
		s->regs.irq_level = iir_id(&s->regs) != IIR_NO_INT;
	}
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static int uart_check(const struct uart8250_regs *r)
{
	if (r->rx_head >= UART8250_FIFO_SIZE)
		return uart_refuse("rx_head", r->rx_head, "is past the FIFO");
	if (r->rx_count > rx_capacity(r))
		return uart_refuse("rx_count", r->rx_count, "exceeds the FIFO capacity FCR selects");
	if (r->ier & ~0x0f)
		return uart_refuse("ier", r->ier, "has reserved bits");
	if (r->mcr & ~0x1f)
		return uart_refuse("mcr", r->mcr, "has reserved bits");
	if (r->fcr & ~0xc1)
		return uart_refuse("fcr", r->fcr, "has bits FCR does not keep");
	if (r->lsr_errors & ~LSR_ERRS)
		return uart_refuse("lsr_errors", r->lsr_errors, "has non-error bits");
	if (r->msr_delta & ~0x0f)
		return uart_refuse("msr_delta", r->msr_delta, "has non-delta bits");
	if (r->thr_ipending > 1)
		return uart_refuse("thr_ipending", r->thr_ipending, "is not 0 or 1");
	if (r->irq_level != (iir_id(r) != IIR_NO_INT))
		return uart_refuse("irq_level", r->irq_level, "disagrees with the pending interrupts");
	return 0;
}

int uart8250_restore(struct uart8250 *u, const struct uart8250_state *s)
{
	int err = uart_check(&s->regs);

	if (err)
		return err;
	pthread_mutex_lock(&u->lock);
	memcpy(&u->regs, &s->regs, sizeof(u->regs));
	/* The line follows the registers (a restored irqchip already agrees). */
	irq_line_set(&u->irq, u->regs.irq_level);
	if (u->coalesce)
		update_coalesce(u);
	pthread_cond_broadcast(&u->rx_room);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */


static int uart8250_kind_create(void **dev, const struct vm_config *cfg, int index,
			     const struct device_env *env)
{
	struct uart8250 *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	uart8250_init(k, device_irq_line(env, IRQ_COM1), env->console_out_fd);
	*dev = k;
	return 0;
}

static int uart8250_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct uart8250 *k = dev;
	int ret = uart8250_start_output(k);

	if (!ret)
		ret = device_claim_ports(env, PORT_COM1, 8, uart8250_io, k, "COM1 16550A");
	if (!ret && env->coalesce_pio)
		uart8250_set_coalesce(k, PORT_COM1, env->coalesce_pio, env->ctx);
	return ret;
}

static void uart8250_kind_stats(void *dev, struct json_object *out)
{
	struct uart8250_stats st;

	uart8250_get_stats(dev, &st);

	const struct { const char *key; uint64_t v; } counters[] = {
		{ "tx_bytes", st.tx_bytes }, { "tx_written", st.tx_written },
		{ "tx_dropped", st.tx_dropped }, { "tx_lost", st.tx_lost },
		{ "tx_queued", st.tx_queued },
	};

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		json_object_object_add(out, counters[i].key, json_object_new_uint64(counters[i].v));
}

static int uart8250_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct uart8250_state) ? uart8250_save(dev, state) : -EINVAL;
}

static int uart8250_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct uart8250_state) ? uart8250_restore(dev, state) : -EINVAL;
}

static void uart8250_kind_destroy(void *dev)
{
	struct uart8250 *k = dev;

	uart8250_destroy(k);
	free(k);
}

const struct device_kind uart8250_kind = {
	.name = "COM1 16550A",
	.short_name = "com",
	.create = uart8250_kind_create,
	.attach = uart8250_kind_attach,
	.stats = uart8250_kind_stats,
	.state_size = sizeof(struct uart8250_state),
	.state_version = UART8250_STATE_VERSION,
	.save = uart8250_kind_save,
	.restore = uart8250_kind_restore,
	.destroy = uart8250_kind_destroy,
};
