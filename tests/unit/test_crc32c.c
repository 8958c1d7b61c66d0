/* test_crc32c.c - CRC-32C: the standard check value, chaining, and the SSE4.2 path against the
 * table at every length and alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/crc32c.h"

static void test_check_value(void **state)
{
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c_portable(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
	/* 32 zero bytes (RFC 3720, B.4): 0x8a9136aa */
	uint8_t z[32] = { 0 };

	assert_int_equal(crc32c(0, z, sizeof(z)), 0x8a9136aau);
}

static void test_chaining(void **state)
{
	const char *s = "the migration stream checksums every byte";
	size_t n = strlen(s);

	for (size_t cut = 0; cut <= n; cut++)
		assert_int_equal(crc32c(crc32c(0, s, cut), s + cut, n - cut), crc32c(0, s, n));
}

static void test_fast_path_matches_table(void **state)
{
	static uint8_t buf[4096 + 16];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 7));
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 80; len++)
			assert_int_equal(crc32c(7, buf + off, len), crc32c_portable(7, buf + off, len));
	assert_int_equal(crc32c(0, buf + 3, 4096), crc32c_portable(0, buf + 3, 4096));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_fast_path_matches_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
