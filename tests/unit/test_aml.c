/* test_aml.c - AML encodings checked byte by byte against hand-computed bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "boot/acpi/aml.h"

#define EXPECT_BYTES(b, ...)                                                   \
	do {                                                                   \
		const uint8_t exp_[] = { __VA_ARGS__ };                        \
		assert_int_equal((b)->err, 0);                                 \
		assert_int_equal((b)->len, sizeof(exp_));                      \
		assert_memory_equal((b)->data, exp_, sizeof(exp_));            \
	} while (0)

static void check_pkglen(uint32_t v, int n, const uint8_t *exp)
{
	uint8_t out[4] = { 0 };

	assert_int_equal(aml_pkglen_encode(v, out), n);
	assert_memory_equal(out, exp, (size_t)n);
}

static void test_pkglen_forms(void **state)
{
	(void)state;
	check_pkglen(0, 1, (const uint8_t[]){ 0x00 });
	check_pkglen(63, 1, (const uint8_t[]){ 0x3f });
	/* 64 = 0x040: lead 0x40 | low nibble 0, then bits 4-11 = 0x04 */
	check_pkglen(64, 2, (const uint8_t[]){ 0x40, 0x04 });
	check_pkglen(4095, 2, (const uint8_t[]){ 0x4f, 0xff });
	/* 4096 = 0x1000: nibble 0, 0x00, 0x01 */
	check_pkglen(4096, 3, (const uint8_t[]){ 0x80, 0x00, 0x01 });
	check_pkglen(1048575, 3, (const uint8_t[]){ 0x8f, 0xff, 0xff });
	/* 1048576 = 0x100000 */
	check_pkglen(1048576, 4, (const uint8_t[]){ 0xc0, 0x00, 0x00, 0x01 });
	check_pkglen(0x0fffffff, 4, (const uint8_t[]){ 0xcf, 0xff, 0xff, 0xff });
	/* 0x1234 = nibble 4, then 0x23, 0x01 */
	check_pkglen(0x1234, 3, (const uint8_t[]){ 0x84, 0x23, 0x01 });

	uint8_t out[4];

	assert_int_equal(aml_pkglen_encode(0x10000000, out), -EINVAL);
}

static void check_int(uint64_t v, const uint8_t *exp, size_t n)
{
	uint8_t mem[16];
	struct aml_buf b;

	aml_init(&b, mem, sizeof(mem));
	aml_integer(&b, v);
	assert_int_equal(aml_finish(&b), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(mem, exp, n);
}

static void test_integers(void **state)
{
	(void)state;
	check_int(0, (const uint8_t[]){ 0x00 }, 1);
	check_int(1, (const uint8_t[]){ 0x01 }, 1);
	check_int(2, (const uint8_t[]){ 0x0a, 0x02 }, 2);
	check_int(0xff, (const uint8_t[]){ 0x0a, 0xff }, 2);
	check_int(0x100, (const uint8_t[]){ 0x0b, 0x00, 0x01 }, 3);
	check_int(0xffff, (const uint8_t[]){ 0x0b, 0xff, 0xff }, 3);
	check_int(0x10000, (const uint8_t[]){ 0x0c, 0x00, 0x00, 0x01, 0x00 }, 5);
	check_int(0xffffffff, (const uint8_t[]){ 0x0c, 0xff, 0xff, 0xff, 0xff }, 5);
	check_int(1ULL << 32, (const uint8_t[]){ 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 }, 9);
	check_int(0x0123456789abcdefULL,
		  (const uint8_t[]){ 0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 }, 9);
	check_int(UINT64_MAX, (const uint8_t[]){ 0xff }, 1);
}

static void test_eisaid(void **state)
{
	uint32_t v = 0;
	uint8_t mem[8];
	struct aml_buf b;

	(void)state;
	assert_int_equal(aml_eisaid_encode("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105D041);
	assert_int_equal(aml_eisaid_encode("PNP0B00", &v), 0);
	assert_int_equal(v, 0x000BD041);
	assert_int_equal(aml_eisaid_encode("PNP0A03", &v), 0);
	assert_int_equal(v, 0x030AD041);
	assert_int_equal(aml_eisaid_encode("pnp0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP050", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP050G", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode(NULL, &v), -EINVAL);

	aml_init(&b, mem, sizeof(mem));
	aml_eisaid(&b, "PNP0501");
	EXPECT_BYTES(&b, 0x0c, 0x41, 0xd0, 0x05, 0x01);
}

static void test_strings(void **state)
{
	uint8_t mem[32];
	struct aml_buf b;

	(void)state;
	aml_init(&b, mem, sizeof(mem));
	aml_string(&b, "QEMU0001");
	EXPECT_BYTES(&b, 0x0d, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00);

	aml_init(&b, mem, sizeof(mem));
	aml_string(&b, "");
	EXPECT_BYTES(&b, 0x0d, 0x00);

	aml_init(&b, mem, sizeof(mem));
	aml_string(&b, "\xc3\xa9");
	assert_int_equal(aml_finish(&b), -EINVAL);
}

static void test_names(void **state)
{
	uint8_t mem[64];
	struct aml_buf b;

	(void)state;
	aml_init(&b, mem, sizeof(mem));
	aml_name_string(&b, "_HID");
	EXPECT_BYTES(&b, '_', 'H', 'I', 'D');

	aml_init(&b, mem, sizeof(mem));
	aml_name_string(&b, "\\_SB");
	EXPECT_BYTES(&b, 0x5c, '_', 'S', 'B', '_');

	aml_init(&b, mem, sizeof(mem));
	aml_name_string(&b, "\\_SB.COM1");
	EXPECT_BYTES(&b, 0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1');

	aml_init(&b, mem, sizeof(mem));
	aml_name_string(&b, "^A.B.C");
	EXPECT_BYTES(&b, 0x5e, 0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_',
		     'C', '_', '_', '_');

	aml_init(&b, mem, sizeof(mem));
	aml_name_string(&b, "\\");
	EXPECT_BYTES(&b, 0x5c, 0x00);

	/* Name(_UID, 0x10) */
	aml_init(&b, mem, sizeof(mem));
	aml_name(&b, "_UID");
	aml_integer(&b, 0x10);
	EXPECT_BYTES(&b, 0x08, '_', 'U', 'I', 'D', 0x0a, 0x10);

	static const char *const bad[] = { "", "ABCDE", "1ABC", "a", "A..B", "A.", ".A", "A-B", NULL };

	for (int i = 0; bad[i]; i++) {
		aml_init(&b, mem, sizeof(mem));
		aml_name_string(&b, bad[i]);
		assert_int_equal(aml_finish(&b), -EINVAL);
		assert_int_equal(b.len, 0);
	}
}

static void test_device_method_package(void **state)
{
	uint8_t mem[128];
	struct aml_buf b;

	(void)state;
	/* Device(DEV0) { Method(_STA) { Return (0x0F) } } */
	aml_init(&b, mem, sizeof(mem));
	size_t dev = aml_device_open(&b, "DEV0");
	size_t m = aml_method_open(&b, "_STA", 0, 0);

	aml_return(&b);
	aml_integer(&b, 0x0f);
	aml_close(&b, m);
	aml_close(&b, dev);
	/* method: pkglen(1) + name(4) + flags(1) + A4 0A 0F (3) = 9 bytes;
	 * device: pkglen(1) + name(4) + method op(1) + 9 = 15 */
	EXPECT_BYTES(&b, 0x5b, 0x82, 0x0f, 'D', 'E', 'V', '0',
		     0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f);

	/* Name(\_S5, Package(4) {5, 0, 0, 0}) */
	aml_init(&b, mem, sizeof(mem));
	aml_name(&b, "\\_S5");
	size_t p = aml_package_open(&b, 4);

	aml_integer(&b, 5);
	aml_integer(&b, 0);
	aml_integer(&b, 0);
	aml_integer(&b, 0);
	aml_close(&b, p);
	EXPECT_BYTES(&b, 0x08, 0x5c, '_', 'S', '5', '_',
		     0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00);

	/* Serialized method with 2 args: flags 0x0a */
	aml_init(&b, mem, sizeof(mem));
	m = aml_method_open(&b, "FOO", 2, 1);
	aml_close(&b, m);
	EXPECT_BYTES(&b, 0x14, 0x06, 'F', 'O', 'O', '_', 0x0a);
}

/* Scope contents that push PkgLength over a boundary are shifted right. */
static void test_close_grows_pkglen(void **state)
{
	static uint8_t mem[8192];
	static uint8_t filler[4096];
	struct aml_buf b;

	(void)state;
	memset(filler, 0xa5, sizeof(filler));
	/* Contents of 59..66 bytes straddle the 1-byte form's limit of 63. */
	for (size_t body = 55; body <= 62; body++) {
		aml_init(&b, mem, sizeof(mem));
		size_t s = aml_scope_open(&b, "ABCD");

		aml_bytes(&b, filler, body);
		aml_close(&b, s);
		assert_int_equal(aml_finish(&b), 0);
		size_t content = 4 + body;
		size_t total = content + 1 <= 63 ? content + 1 : content + 2;

		assert_int_equal(b.len, 1 + total);
		assert_int_equal(mem[0], 0x10);
		if (content + 1 <= 63) {
			assert_int_equal(mem[1], content + 1);
			assert_memory_equal(mem + 2, "ABCD", 4);
		} else {
			assert_int_equal(mem[1], 0x40 | ((content + 2) & 0xf));
			assert_int_equal(mem[2], (content + 2) >> 4);
			assert_memory_equal(mem + 3, "ABCD", 4);
		}
		assert_int_equal(mem[b.len - 1], 0xa5);
	}
	/* 4 + 4087 content + 2 = 4093 <= 4095 stays 2-byte; + 4090 -> 3-byte */
	aml_init(&b, mem, sizeof(mem));
	size_t s = aml_scope_open(&b, "ABCD");

	aml_bytes(&b, filler, 4090);
	aml_close(&b, s);
	assert_int_equal(aml_finish(&b), 0);
	assert_int_equal(b.len, 1 + 3 + 4 + 4090);
	assert_int_equal(mem[1], 0x80 | ((4097) & 0xf));
	assert_int_equal(mem[2], (4097 >> 4) & 0xff);
	assert_int_equal(mem[3], 4097 >> 12);
	assert_memory_equal(mem + 4, "ABCD", 4);
}

static void test_buffer(void **state)
{
	uint8_t mem[512];
	uint8_t data[100];
	struct aml_buf b;

	(void)state;
	aml_init(&b, mem, sizeof(mem));
	aml_buffer(&b, "\x01\x02\x03", 3);
	/* 11 pkglen(1+2+3=6) size(0A 03) bytes */
	EXPECT_BYTES(&b, 0x11, 0x06, 0x0a, 0x03, 0x01, 0x02, 0x03);

	memset(data, 0x11, sizeof(data));
	aml_init(&b, mem, sizeof(mem));
	aml_buffer(&b, data, sizeof(data));
	/* content = 2 (0A 64) + 100 = 102, +2 = 104 = 0x68 */
	assert_int_equal(aml_finish(&b), 0);
	assert_int_equal(b.len, 1 + 2 + 2 + 100);
	assert_int_equal(mem[1], 0x48);
	assert_int_equal(mem[2], 0x06);
	assert_int_equal(mem[3], 0x0a);
	assert_int_equal(mem[4], 100);
}

static void test_resource_template(void **state)
{
	uint8_t mem[64];
	struct aml_buf rt;

	(void)state;
	/* IO(Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags() {4} */
	aml_init(&rt, mem, sizeof(mem));
	aml_rt_io(&rt, 0x3f8, 0x3f8, 1, 8);
	aml_rt_irq_noflags(&rt, 4);
	aml_rt_end(&rt);
	/* sum: 47+01+F8+03+F8+03+01+08 = 0x247; +22+10+00 = 0x279; +79 = 0x2F2
	 * -> low byte 0xF2, checksum 0x0E */
	EXPECT_BYTES(&rt, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
		     0x22, 0x10, 0x00, 0x79, 0x0e);

	/* Memory32Fixed(ReadWrite, 0xD0000000, 0x1000)
	 * Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {5} */
	aml_init(&rt, mem, sizeof(mem));
	aml_rt_mem32_fixed(&rt, 1, 0xd0000000, 0x1000);
	aml_rt_ext_irq(&rt, AML_IRQ_CONSUMER | AML_IRQ_EDGE, 5);
	aml_rt_end(&rt);
	assert_int_equal(rt.err, 0);
	const uint8_t head[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0,
				 0x00, 0x10, 0x00, 0x00,
				 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
				 0x79 };

	assert_int_equal(rt.len, sizeof(head) + 1);
	assert_memory_equal(mem, head, sizeof(head));
	uint8_t sum = 0;

	for (size_t i = 0; i < rt.len; i++)
		sum = (uint8_t)(sum + mem[i]);
	assert_int_equal(sum, 0);

	aml_init(&rt, mem, sizeof(mem));
	aml_rt_irq_noflags(&rt, 16);
	assert_int_equal(aml_finish(&rt), -EINVAL);
}

static void test_overflow_is_sticky(void **state)
{
	uint8_t mem[8];
	struct aml_buf b;

	(void)state;
	memset(mem, 0xee, sizeof(mem));
	aml_init(&b, mem, 6);
	aml_string(&b, "TOOLONG");
	assert_int_equal(aml_finish(&b), -ENOSPC);
	assert_int_equal(b.len, 1); /* the prefix fit, the text did not */
	aml_integer(&b, 0);
	assert_int_equal(b.len, 1);
	assert_int_equal(mem[6], 0xee);
	assert_int_equal(mem[7], 0xee);

	/* A close that needs one more PkgLength byte than there is room for. */
	aml_init(&b, mem, 6);
	size_t s = aml_scope_open(&b, "ABCD");

	assert_int_equal(b.len, 5);
	aml_close(&b, s);
	assert_int_equal(aml_finish(&b), 0);
	assert_int_equal(b.len, 6);
	aml_init(&b, mem, 5);
	s = aml_scope_open(&b, "ABCD");
	aml_close(&b, s);
	assert_int_equal(aml_finish(&b), -ENOSPC);
	assert_int_equal(mem[6], 0xee);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkglen_forms),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_device_method_package),
		cmocka_unit_test(test_close_grows_pkglen),
		cmocka_unit_test(test_buffer),
		cmocka_unit_test(test_resource_template),
		cmocka_unit_test(test_overflow_is_sticky),
	};

	return cmocka_run_group_tests_name("aml", tests, NULL, NULL);
}
