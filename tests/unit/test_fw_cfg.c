/* test_fw_cfg.c - fw_cfg's legacy port protocol: items, hostile widths, reads past the end, unknown keys, state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "board/fw_cfg.h"
#include "core/device.h"
#include "core/layout.h"
#include "core/vm_config.h"

#define SEL  0   /* port offsets: 0x510 selector, 0x511 data */
#define DATA 1

static void sel(struct fw_cfg *f, uint16_t key)
{
	uint8_t d[2] = { (uint8_t)key, (uint8_t)(key >> 8) };

	fw_cfg_io(f, SEL, d, 2, true);
}

static uint8_t rd8(struct fw_cfg *f)
{
	uint8_t d = 0xaa;

	fw_cfg_io(f, DATA, &d, 1, false);
	return d;
}

/* n bytes, little-endian, as kvm-unit-tests' fwcfg_get_u() reads them. */
static uint64_t get(struct fw_cfg *f, uint16_t key, int n)
{
	uint64_t v = 0;

	sel(f, key);
	for (int i = 0; i < n; i++)
		v |= (uint64_t)rd8(f) << (8 * i);
	return v;
}

static void test_items(void **state)
{
	struct fw_cfg f;
	char sig[5] = { 0 };

	(void)state;
	fw_cfg_init(&f, 3, 300ULL << 20);
	sel(&f, FW_CFG_SIGNATURE);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)rd8(&f);
	assert_string_equal(sig, "QEMU");
	assert_int_equal(get(&f, FW_CFG_ID, 4), 1);          /* no DMA */
	assert_int_equal(get(&f, FW_CFG_NB_CPUS, 2), 3);
	assert_int_equal(get(&f, FW_CFG_MAX_CPUS, 2), 3);
	assert_int_equal(get(&f, FW_CFG_RAM_SIZE, 8), 300ULL << 20);
	assert_int_equal(get(&f, FW_CFG_FILE_DIR, 4), 0);    /* empty directory */
	/* RAM past 4 GiB: all eight bytes count. */
	fw_cfg_destroy(&f);
	fw_cfg_init(&f, 255, 5ULL << 30);
	assert_int_equal(get(&f, FW_CFG_RAM_SIZE, 8), 5ULL << 30);
	assert_int_equal(get(&f, FW_CFG_NB_CPUS, 2), 255);
	/* Bit 14 (write mode) does not change the item read, as in QEMU. */
	assert_int_equal(get(&f, 0x4000 | FW_CFG_NB_CPUS, 2), 255);
	fw_cfg_destroy(&f);
}

/* Past the end of an item: zeroes, for ever, and the offset never wraps. */
static void test_past_end(void **state)
{
	struct fw_cfg f;

	(void)state;
	fw_cfg_init(&f, 2, 64ULL << 20);
	sel(&f, FW_CFG_NB_CPUS);
	assert_int_equal(rd8(&f), 2);
	assert_int_equal(rd8(&f), 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(rd8(&f), 0);
	assert_int_equal(f.regs.offset, 2);
	/* Selecting again starts over. */
	sel(&f, FW_CFG_NB_CPUS);
	assert_int_equal(rd8(&f), 2);
	fw_cfg_destroy(&f);
}

/* Keys naming no item (arch-local 0x8000 ones, 0xffff, MAX_RAM 0x11 which
 * kvm-unit-tests reads and takes 0 as "no limit"): every read is 0. */
static void test_unknown_keys(void **state)
{
	static const uint16_t keys[] = { 0x0002, 0x0011, 0x0018, 0x0020, 0x8000,
					 0x8005, 0xc005, 0xffff, 0x7fff };
	struct fw_cfg f;

	(void)state;
	fw_cfg_init(&f, 4, 64ULL << 20);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(get(&f, keys[i], 8), 0);
		assert_int_equal(f.regs.key, FW_CFG_INVALID);
	}
	/* A valid selection after an invalid one works. */
	assert_int_equal(get(&f, FW_CFG_NB_CPUS, 2), 4);
	fw_cfg_destroy(&f);
}

/* Widths the protocol does not define change nothing and read 0. */
static void test_odd_widths(void **state)
{
	struct fw_cfg f;
	uint8_t d[8];

	(void)state;
	fw_cfg_init(&f, 6, 64ULL << 20);
	sel(&f, FW_CFG_NB_CPUS);
	/* A 1-byte write to the selector (QEMU: a data write) does not select. */
	d[0] = FW_CFG_SIGNATURE;
	fw_cfg_io(&f, SEL, d, 1, true);
	assert_int_equal(f.regs.key, FW_CFG_NB_CPUS);
	/* Writes to the data port, 1 or 2 bytes, neither select nor change data. */
	d[0] = FW_CFG_RAM_SIZE;
	d[1] = 0;
	fw_cfg_io(&f, DATA, d, 2, true);
	fw_cfg_io(&f, DATA, d, 1, true);
	assert_int_equal(f.regs.key, FW_CFG_NB_CPUS);
	assert_int_equal(f.regs.offset, 0);
	/* 2-byte reads of the data port and any read of the selector: 0, no advance. */
	memset(d, 0xaa, sizeof(d));
	fw_cfg_io(&f, SEL, d, 2, false);
	assert_int_equal(d[0] | d[1], 0);
	memset(d, 0xaa, sizeof(d));
	fw_cfg_io(&f, SEL, d, 1, false);
	assert_int_equal(d[0], 0);
	memset(d, 0xaa, sizeof(d));
	fw_cfg_io(&f, DATA, d, 1, false);
	assert_int_equal(d[0], 6);               /* the data port still at offset 0 */
	assert_int_equal(f.ignored, 5);
	fw_cfg_destroy(&f);
}

/* The registry's device on the port bus: a 4-byte access at 0x510 is
 * wider than the two ports and never reaches the device. */
static void test_on_bus(void **state)
{
	struct vm_config cfg = { .nr_cpus = 2, .mem_size = 128ULL << 20, .fw_cfg = true };
	struct bus pio;
	struct device_env env = { .pio = &pio };
	void *dev = NULL;
	uint8_t d[4] = { FW_CFG_NB_CPUS, 0, 0, 0 };

	(void)state;
	bus_init(&pio, "pio");
	assert_int_equal(fw_cfg_kind.count(&cfg), 1);
	assert_int_equal(fw_cfg_kind.create(&dev, &cfg, 0, &env), 0);
	assert_int_equal(fw_cfg_kind.attach(dev, &env, 0, 0), 0);
	assert_false(bus_access(&pio, PORT_FW_CFG, d, 4, true));
	assert_true(bus_access(&pio, PORT_FW_CFG, d, 2, true));
	assert_true(bus_access(&pio, PORT_FW_CFG + 1, d, 1, false));
	assert_int_equal(d[0], 2);
	assert_false(bus_access(&pio, PORT_FW_CFG + 1, d, 2, false));
	assert_int_equal(d[0] & d[1], 0xff);
	fw_cfg_kind.destroy(dev);
	bus_free(&pio);
	cfg.fw_cfg = false;
	assert_int_equal(fw_cfg_kind.count(&cfg), 0);
}

static void test_state(void **state)
{
	struct fw_cfg f, g;
	struct fw_cfg_state s;

	(void)state;
	fw_cfg_init(&f, 2, 64ULL << 20);
	fw_cfg_init(&g, 2, 64ULL << 20);
	sel(&f, FW_CFG_SIGNATURE);
	assert_int_equal(rd8(&f), 'Q');
	fw_cfg_save(&f, &s);
	assert_int_equal(fw_cfg_restore(&g, &s), 0);
	assert_int_equal(rd8(&g), 'E');
	/* Refused: an offset past the item, a key naming no item. */
	s.regs.offset = 5;
	assert_int_equal(fw_cfg_restore(&g, &s), -EINVAL);
	s.regs = (struct fw_cfg_regs){ .key = 0x0002, .offset = 0 };
	assert_int_equal(fw_cfg_restore(&g, &s), -EINVAL);
	s.regs = (struct fw_cfg_regs){ .key = FW_CFG_INVALID, .offset = 1 };
	assert_int_equal(fw_cfg_restore(&g, &s), -EINVAL);
	s.regs = (struct fw_cfg_regs){ .key = FW_CFG_INVALID, .offset = 0 };
	assert_int_equal(fw_cfg_restore(&g, &s), 0);
	assert_int_equal(rd8(&g), 0);
	assert_int_equal(fw_cfg_kind.state_size, sizeof(struct fw_cfg_state));
	fw_cfg_destroy(&f);
	fw_cfg_destroy(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_past_end),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_odd_widths),
		cmocka_unit_test(test_on_bus),
		cmocka_unit_test(test_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
