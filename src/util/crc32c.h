/* crc32c.h - CRC-32C (Castagnoli), the checksum of the migration stream's records.
 *
 * Contract: crc32c(0, buf, len) is the standard CRC-32C of buf (initial and final value
 * inverted inside: crc32c(0, "123456789", 9) == 0xe3069283); crc32c(crc32c(0, a, n), b, m)
 * is the CRC of a followed by b. Why this CRC and not zlib's CRC-32: x86-64 computes it with
 * one instruction per 8 bytes (SSE4.2 `crc32`), several times faster than zlib's table code, and
 * the migration stream checksums every byte of guest RAM it sends. A CPU without SSE4.2 gets
 * the same values from a table (slower, same stream). Pure; no state.
 */
#ifndef MVM_UTIL_CRC32C_H
#define MVM_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The table path alone, whatever the CPU (tests compare the two). */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
