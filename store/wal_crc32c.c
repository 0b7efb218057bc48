/*
 * store/wal_crc32c.c - CRC-32C (Castagnoli), the checksum of every WAL
 * batch.
 *
 * CRC-32C rather than zlib's CRC-32 because x86-64 computes it in hardware
 * (SSE4.2 `crc32`), and because its error detection for the record lengths
 * a log sees is better. The result matches RFC 3720 (iSCSI) and LevelDB's
 * crc32c: crc32c("123456789") == 0xe3069283.
 *
 * Two implementations, chosen once at first use: the SSE4.2 instruction,
 * eight bytes per step, when the CPU has it; otherwise slicing-by-8 over
 * eight 256-entry tables built at first use (portable C). Both take and
 * return the finalised value, so calls chain: crc(crc(0, a), b) == crc(0, ab).
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "store/wal_internal.h"

#define POLY 0x82f63b78u /* CRC-32C, reflected */

static uint32_t table[8][256];
static bool use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void crc__init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xff];
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc__sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		/* Slicing-by-8 reads the word little-endian. */
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		                     (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
		              (uint32_t)p[7] << 24;
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][hi & 0xff] ^
		      table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc__hw(uint32_t crc, const uint8_t *p,
                                                          size_t len)
{
	uint64_t c = crc;
	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t word;
		memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t wal__crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, crc__init);
	crc = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
	if (use_hw)
		return ~crc__hw(crc, buf, len);
#endif
	return ~crc__sw(crc, buf, len);
}

uint32_t wal__crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, crc__init);
	return ~crc__sw(~crc, buf, len);
}
