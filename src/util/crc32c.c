/* crc32c.c - CRC-32C: SSE4.2's crc32 instruction where the CPU has it, a table otherwise. */
#include "util/crc32c.h"

#include <stdbool.h>
#include <string.h>

#define CRC32C_POLY 0x82f63b78u   /* Castagnoli, bit-reversed */

static uint32_t table[256];
static bool table_ready;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		table[i] = c;
	}
	__atomic_store_n(&table_ready, true, __ATOMIC_RELEASE);
}

static uint32_t crc32c_table(uint32_t c, const uint8_t *p, size_t len)
{
	if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
		table_init();   /* idempotent: two threads may both fill it, with equal values */
	while (len--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t c, const uint8_t *p, size_t len)
{
	uint64_t c64 = c;

	for (; len && ((uintptr_t)p & 7); len--)
		c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
	}
	for (; len; len--)
		c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
	return (uint32_t)c64;
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_sse42(c, buf, len);
#endif
	return ~crc32c_table(c, buf, len);
}

uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_table(~crc, buf, len);
}
