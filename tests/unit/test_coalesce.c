/* test_coalesce.c - KVM's coalesced I/O ring drained onto the buses, and
 * COM1 asking for its THR writes to be coalesced only while that is safe. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "board/uart8250.h"
#include "core/bus.h"
#include "core/coalesce.h"
#include "util/log.h"

#define MAX 8

/* A ring as KVM lays it out, in ordinary memory. */
struct fake_ring {
	struct kvm_coalesced_mmio_ring r;
	struct kvm_coalesced_mmio e[MAX];
};

/* What the guest would have written: KVM's side of the ring. */
static void push(struct fake_ring *f, uint64_t addr, const void *data, uint32_t len, bool pio)
{
	struct kvm_coalesced_mmio *e = &f->e[f->r.last];

	memset(e, 0, sizeof(*e));
	e->phys_addr = addr;
	e->len = len;
	e->pio = pio;
	memcpy(e->data, data, len < sizeof(e->data) ? len : sizeof(e->data));
	f->r.last = (f->r.last + 1) % MAX;
}

struct log_rec {
	char seen[64];
	int n;
};

static void rec_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct log_rec *r = opaque;

	assert_true(is_write);
	for (uint32_t i = 0; i < len && r->n < (int)sizeof(r->seen) - 1; i++)
		r->seen[r->n++] = (char)data[i];
}

static void quiet(enum log_level l, const char *m, void *c) { }

/* Every queued write reaches its bus, oldest first, across the ring's end. */
static void test_drain_in_order(void **state)
{
	struct fake_ring f = { 0 };
	struct bus pio, mmio;
	struct coalesce c;
	struct log_rec port = { 0 }, mem = { 0 };

	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	assert_int_equal(bus_add(&pio, 0x3f8, 1, rec_io, &port, "port"), 0);
	assert_int_equal(bus_add(&mmio, 0xd0000000, 0x100, rec_io, &mem, "mem"), 0);
	coalesce_init(&c, -1, &pio, &mmio);
	assert_int_equal(coalesce_drain(&c), 0);   /* no ring yet */
	f.r.first = f.r.last = MAX - 2;            /* start near the end: it wraps */
	coalesce_attach_mem(&c, &f.r, MAX);
	assert_int_equal(coalesce_drain(&c), 0);
	push(&f, 0x3f8, "a", 1, true);
	push(&f, 0xd0000010, "M", 1, false);
	push(&f, 0x3f8, "b", 1, true);
	push(&f, 0x3f8, "c", 1, true);
	assert_int_equal(coalesce_drain(&c), 4);
	assert_string_equal(port.seen, "abc");
	assert_string_equal(mem.seen, "M");
	assert_int_equal(f.r.first, f.r.last);
	assert_int_equal(atomic_load(&c.drained), 4);
	assert_int_equal(coalesce_drain(&c), 0);
	/* Not offered without KVM: a device keeps its exits. */
	assert_int_equal(coalesce_pio(&c, 0x3f8, 1, true), -ENOTSUP);
	coalesce_destroy(&c);
	bus_free(&pio);
	bus_free(&mmio);
}

/* The main thread's next drain: soon for COALESCE_LINGER_MS after a drain that found writes
 * (a guest that writes every 10 ms and never exits) or after the vCPUs resumed, at the idle
 * period after that. */
static void test_next_wait(void **state)
{
	struct coalesce c;

	(void)state;
	coalesce_init(&c, -1, NULL, NULL);
	assert_int_equal(coalesce_next_wait_ms(&c, 0, 1000), COALESCE_IDLE_MS);
	assert_int_equal(coalesce_next_wait_ms(&c, 3, 1000), COALESCE_BUSY_MS);
	/* Empty drains within the linger stay busy: the next line is 10 ms away. */
	assert_int_equal(coalesce_next_wait_ms(&c, 0, 1010), COALESCE_BUSY_MS);
	assert_int_equal(coalesce_next_wait_ms(&c, 0, 1000 + COALESCE_LINGER_MS - 1),
			 COALESCE_BUSY_MS);
	assert_int_equal(coalesce_next_wait_ms(&c, 0, 1000 + COALESCE_LINGER_MS), COALESCE_IDLE_MS);
	/* A resume counts as a write. */
	coalesce_expect_writes(&c, 5000);
	assert_int_equal(coalesce_next_wait_ms(&c, 0, 5001), COALESCE_BUSY_MS);
	assert_int_equal(coalesce_next_wait_ms(&c, 0, 5000 + COALESCE_LINGER_MS), COALESCE_IDLE_MS);
	assert_true(COALESCE_BUSY_MS < COALESCE_IDLE_MS);
	coalesce_destroy(&c);
}

/* A length KVM never writes is skipped and counted; indices outside the
 * ring drop its contents instead of reading past it. */
static void test_drain_refuses_bad_entries(void **state)
{
	struct fake_ring f = { 0 };
	struct bus pio, mmio;
	struct coalesce c;
	struct log_rec port = { 0 };

	log_set_sink(quiet, NULL);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	assert_int_equal(bus_add(&pio, 0x3f8, 1, rec_io, &port, "port"), 0);
	coalesce_init(&c, -1, &pio, &mmio);
	coalesce_attach_mem(&c, &f.r, MAX);
	push(&f, 0x3f8, "x", 1, true);
	f.e[f.r.last].len = 0;
	f.r.last = (f.r.last + 1) % MAX;           /* an entry of length 0 */
	push(&f, 0x3f8, "y", 1, true);
	f.e[f.r.last].len = 9;
	f.r.last = (f.r.last + 1) % MAX;           /* longer than its data */
	push(&f, 0x3f8, "z", 1, true);
	assert_int_equal(coalesce_drain(&c), 3);
	assert_string_equal(port.seen, "xyz");
	assert_int_equal(atomic_load(&c.bad), 2);
	f.r.last = MAX + 3;
	assert_int_equal(coalesce_drain(&c), 0);
	assert_int_equal(f.r.first, 0);
	assert_int_equal(atomic_load(&c.bad), 3);
	assert_string_equal(port.seen, "xyz");
	coalesce_destroy(&c);
	bus_free(&pio);
	bus_free(&mmio);
	log_set_sink(NULL, NULL);
}

/* ---- COM1 ---- */

enum { THR = 0, IER = 1, LCR = 3, MCR = 4, LSR = 5 };

struct zone_rec {
	int on, calls;
	uint64_t port;
	uint32_t len;
	int refuse;          /* answer the next request with this */
};

static int zone_fn(void *ctx, uint64_t port, uint32_t len, bool on)
{
	struct zone_rec *z = ctx;

	z->calls++;
	if (z->refuse)
		return z->refuse;
	z->port = port;
	z->len = len;
	z->on = on;
	return 0;
}

static void irq_nop(void *ctx, uint32_t gsi, int level) { }

static void wr(struct bus *b, uint64_t port, uint8_t v)
{
	bus_access(b, port, &v, 1, true);
}

static uint8_t rd(struct bus *b, uint64_t port)
{
	uint8_t v = 0;

	bus_access(b, port, &v, 1, false);
	return v;
}

/* THR writes are coalesced only while IER is 0 and not in loopback: then no
 * interrupt depends on them (and tty output, RDI on, never moves the zone). */
static void test_uart_coalesces_only_when_safe(void **state)
{
	struct uart8250 u;
	struct zone_rec z = { 0 };
	struct bus pio;

	bus_init(&pio, "pio");
	uart8250_init(&u, (struct irq_line){ irq_nop, NULL, 4 }, -1);
	assert_int_equal(bus_add(&pio, 0x3f8, 8, uart8250_io, &u, "com1"), 0);
	uart8250_set_coalesce(&u, 0x3f8, zone_fn, &z);
	assert_int_equal(z.on, 1);                 /* power-on: IER 0 */
	assert_int_equal(z.port, 0x3f8);
	assert_int_equal(z.len, 1);                /* THR only: LSR and RBR reads exit */
	wr(&pio, 0x3f8 + IER, 0x02);               /* THRI on: its interrupt needs the exit */
	assert_int_equal(z.on, 0);
	wr(&pio, 0x3f8 + IER, 0x05);               /* tty idle: RDI + RLSI */
	assert_int_equal(z.on, 0);
	int calls = z.calls;

	wr(&pio, 0x3f8 + IER, 0x07);               /* tty output: THRI toggles, zone stays */
	wr(&pio, 0x3f8 + IER, 0x05);
	wr(&pio, 0x3f8 + LCR, 0x03);
	assert_int_equal(z.calls, calls);
	wr(&pio, 0x3f8 + IER, 0x00);               /* console write */
	assert_int_equal(z.on, 1);
	wr(&pio, 0x3f8 + MCR, 0x10);               /* loopback: THR feeds RX */
	assert_int_equal(z.on, 0);
	wr(&pio, 0x3f8 + MCR, 0x0b);
	assert_int_equal(z.on, 1);
	/* KVM refuses: the UART keeps its exits and stops asking. */
	wr(&pio, 0x3f8 + IER, 0x03);
	assert_int_equal(z.on, 0);
	z.refuse = -ENOTSUP;
	wr(&pio, 0x3f8 + IER, 0x00);
	assert_int_equal(z.on, 0);
	calls = z.calls;
	wr(&pio, 0x3f8 + IER, 0x02);
	wr(&pio, 0x3f8 + IER, 0x00);
	assert_int_equal(z.calls, calls);
	/* Offered again, then withdrawn (the builder found no ring): the zone goes. */
	z.refuse = 0;
	uart8250_set_coalesce(&u, 0x3f8, zone_fn, &z);
	assert_int_equal(z.on, 1);
	uart8250_set_coalesce(&u, 0x3f8, NULL, NULL);
	assert_int_equal(z.on, 0);
	calls = z.calls;
	wr(&pio, 0x3f8 + IER, 0x02);
	wr(&pio, 0x3f8 + IER, 0x00);
	assert_int_equal(z.calls, calls);
	uart8250_destroy(&u);
	bus_free(&pio);
}

/* End to end: bytes KVM queued reach the output, in order, before a later
 * exit (here LSR, then an IER write) is handled; LSR then tells the truth. */
static void test_uart_coalesced_output_in_order(void **state)
{
	struct fake_ring f = { 0 };
	struct uart8250 u;
	struct zone_rec z = { 0 };
	struct bus pio, mmio;
	struct coalesce c;
	int out[2];
	char buf[16] = { 0 };

	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	uart8250_init(&u, (struct irq_line){ irq_nop, NULL, 4 }, out[1]);
	assert_int_equal(uart8250_start_output(&u), 0);
	assert_int_equal(bus_add(&pio, 0x3f8, 8, uart8250_io, &u, "com1"), 0);
	uart8250_set_coalesce(&u, 0x3f8, zone_fn, &z);
	coalesce_init(&c, -1, &pio, &mmio);
	coalesce_attach_mem(&c, &f.r, MAX);
	push(&f, 0x3f8, "o", 1, true);
	push(&f, 0x3f8, "k", 1, true);
	/* The vCPU's next exit (an LSR read): the ring first, then the read. */
	coalesce_drain(&c);
	assert_true(rd(&pio, 0x3f8 + LSR) & 0x60);
	wr(&pio, 0x3f8 + THR, '!');               /* an exit (THRI on, say): after them */
	assert_int_equal(uart8250_flush(&u, 1000), 0);
	assert_int_equal(read(out[0], buf, sizeof(buf) - 1), 3);
	assert_string_equal(buf, "ok!");
	uart8250_destroy(&u);
	coalesce_destroy(&c);
	bus_free(&pio);
	bus_free(&mmio);
	close(out[0]);
	close(out[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drain_in_order),
		cmocka_unit_test(test_next_wait),
		cmocka_unit_test(test_drain_refuses_bad_entries),
		cmocka_unit_test(test_uart_coalesces_only_when_safe),
		cmocka_unit_test(test_uart_coalesced_output_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
