/* test_pc_testdev.c - pc-testdev: latch widths, page flush, IRQ lines, iomem, refusal beside virtio. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "board/pc_testdev.h"
#include "core/bus.h"
#include "core/device.h"
#include "core/layout.h"
#include "core/memory.h"
#include "core/vm_config.h"

#define RAM (16ULL << 20)

struct irq_rec { int n; uint32_t gsi; int level; };

static void rec_irq(void *ctx, uint32_t gsi, int level)
{
	struct irq_rec *r = ctx;

	r->n++;
	r->gsi = gsi;
	r->level = level;
}

static void test_latch(void **state)
{
	struct irq_line lines[PC_TESTDEV_NR_IRQS] = { { 0 } };
	struct pc_testdev *t = malloc(sizeof(*t));
	uint8_t d[4] = { 0x11, 0x22, 0x33, 0x44 };
	uint32_t v = 0;

	(void)state;
	assert_non_null(t);
	pc_testdev_init(t, NULL, lines);
	pc_testdev_latch_io(t, 0, d, 4, true);
	pc_testdev_latch_io(t, 0, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x44332211);
	d[0] = 0xaa;
	pc_testdev_latch_io(t, 2, d, 1, true);              /* byte 2 only */
	pc_testdev_latch_io(t, 0, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x44aa2211);
	v = 0;
	pc_testdev_latch_io(t, 1, (uint8_t *)&v, 2, false); /* bytes 1..2 */
	assert_int_equal(v, 0xaa22);
	/* Past the 4 bytes (a direct call; the bus never does this): ignored, reads 0. */
	v = 0xffffffff;
	pc_testdev_latch_io(t, 3, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0);
	pc_testdev_latch_io(t, 3, d, 4, true);
	pc_testdev_latch_io(t, 0, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x44aa2211);
	pc_testdev_destroy(t);
	free(t);
}

static void test_flush_irq_iomem(void **state)
{
	struct irq_rec rec = { 0 };
	struct irq_line lines[PC_TESTDEV_NR_IRQS];
	struct pc_testdev *t = malloc(sizeof(*t));
	struct gmem m;
	uint32_t gpa = 0x123456;
	uint8_t *p, d[8], one = 1, zero = 0;

	(void)state;
	assert_non_null(t);
	assert_int_equal(gmem_init(&m, RAM), 0);
	for (uint32_t i = 0; i < PC_TESTDEV_NR_IRQS; i++)
		lines[i] = (struct irq_line){ .set = rec_irq, .ctx = &rec, .gsi = i };
	pc_testdev_init(t, &m, lines);
	/* The flushed page keeps its contents and stays writable. */
	p = gmem_ptr(&m, 0x123000, 4096);
	memset(p, 0x5a, 4096);
	pc_testdev_flush_io(t, 0, (uint8_t *)&gpa, 4, true);
	assert_int_equal(t->flushes, 1);
	assert_int_equal(p[0x456], 0x5a);
	p[0] = 1;
	/* Not RAM, a 2-byte write: ignored. */
	gpa = 0xfee00000;
	pc_testdev_flush_io(t, 0, (uint8_t *)&gpa, 4, true);
	pc_testdev_flush_io(t, 0, (uint8_t *)&gpa, 2, true);
	assert_int_equal(t->flushes, 1);
	/* IRQ lines: 1-byte writes set the level of line n. */
	pc_testdev_irq_io(t, 0x0e, &one, 1, true);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.gsi, 0x0e);
	assert_int_equal(rec.level, 1);
	pc_testdev_irq_io(t, 0x0e, &zero, 1, true);
	assert_int_equal(rec.level, 0);
	pc_testdev_irq_io(t, 23, (uint8_t[]){ 7 }, 1, true);
	assert_int_equal(rec.gsi, 23);
	assert_int_equal(rec.level, 1);
	pc_testdev_irq_io(t, 24, &one, 1, true);             /* no such line */
	assert_int_equal(rec.n, 3);
	/* realmode.flat's outl $1 to 0x200b: line 11 up, 12-14 down, bytewise. */
	memcpy(d, "\x01\x00\x00\x00", 4);
	pc_testdev_irq_io(t, 11, d, 4, true);
	assert_int_equal(rec.n, 7);
	assert_int_equal(rec.gsi, 14);
	assert_int_equal(rec.level, 0);
	/* A direct call running past line 23 stops there. */
	pc_testdev_irq_io(t, 22, d, 4, true);
	assert_int_equal(rec.n, 9);
	assert_int_equal(rec.gsi, 23);
	/* iomem reads back what was written, at every width and up to its end. */
	memcpy(d, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	pc_testdev_iomem_io(t, PC_TESTDEV_IOMEM_LEN - 8, d, 8, true);
	memset(d, 0, 8);
	pc_testdev_iomem_io(t, PC_TESTDEV_IOMEM_LEN - 6, d, 2, false);
	assert_int_equal(d[0], 3);
	assert_int_equal(d[1], 4);
	pc_testdev_iomem_io(t, PC_TESTDEV_IOMEM_LEN - 4, d, 8, false);  /* past the end: 0 */
	assert_int_equal(d[0] | d[7], 0);
	pc_testdev_destroy(t);
	free(t);
	gmem_free(&m);
}

/* Opt-in; refused beside a virtio device; claims its ports and MMIO. */
static void test_kind(void **state)
{
	struct vm_config cfg = { .nr_cpus = 1, .mem_size = RAM };
	struct bus pio, mmio;
	struct gmem m;
	struct device_env env = { .pio = &pio, .mmio = &mmio, .mem = &m };
	void *dev = NULL;
	uint32_t v = 0xdeadbeef, r = 0;

	(void)state;
	assert_int_equal(pc_testdev_kind.count(&cfg), 0);
	cfg.pc_testdev = true;
	assert_int_equal(pc_testdev_kind.count(&cfg), 1);
	cfg.rng = true;
	assert_int_equal(pc_testdev_kind.create(&dev, &cfg, 0, &env), -EINVAL);
	cfg.rng = false;
	cfg.nr_disks = 1;
	assert_int_equal(pc_testdev_kind.create(&dev, &cfg, 0, &env), -EINVAL);
	cfg.nr_disks = 0;
	assert_int_equal(gmem_init(&m, RAM), 0);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	assert_int_equal(pc_testdev_kind.create(&dev, &cfg, 0, &env), 0);
	assert_int_equal(pc_testdev_kind.attach(dev, &env, 0, 0), 0);
	assert_true(bus_access(&pio, PORT_TESTDEV_LATCH, (uint8_t *)&v, 4, true));
	assert_true(bus_access(&pio, PORT_TESTDEV_LATCH, (uint8_t *)&r, 4, false));
	assert_int_equal(r, 0xdeadbeef);
	assert_true(bus_access(&mmio, LAYOUT_TESTDEV_IOMEM + 0x100, (uint8_t *)&v, 4, true));
	r = 0;
	assert_true(bus_access(&mmio, LAYOUT_TESTDEV_IOMEM + 0x100, (uint8_t *)&r, 4, false));
	assert_int_equal(r, 0xdeadbeef);
	assert_false(bus_access(&mmio, LAYOUT_TESTDEV_IOMEM + 0x10000, (uint8_t *)&r, 4, false));
	assert_true(bus_access(&pio, PORT_TESTDEV_IRQ + 23, (uint8_t *)&r, 1, false));
	assert_false(bus_access(&pio, PORT_TESTDEV_IRQ + 24, (uint8_t *)&r, 1, false));
	pc_testdev_kind.destroy(dev);
	bus_free(&pio);
	bus_free(&mmio);
	gmem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latch),
		cmocka_unit_test(test_flush_irq_iomem),
		cmocka_unit_test(test_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
