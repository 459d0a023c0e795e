/*
 * CRC32C (Castagnoli), the checksum of ring headers and records. Uses the
 * CPU's instruction where there is one (SSE4.2, ARMv8 CRC), else tables.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

static uint32_t table[8][256];

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
			              table[0][table[t - 1][i] & 0xff];
}

/* Slicing-by-8 in software. */
static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		n--;
	}
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		      table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		      table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		      table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = crc;

	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		n -= 8;
	}
	crc = (uint32_t)c;
	while (n--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

static bool have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#elif defined(__aarch64__)
/*
 * The CRC instructions are optional in ARMv8.0, so only this function is
 * built for them, and only called when the kernel says the CPU has them.
 * No one spelling works for both compilers: GCC wants "+crc" and its own
 * builtins; clang 14 wants "crc" (it reads "+crc" as "++crc") and the
 * __builtin_arm_ ones, and its <arm_acle.h> hides __crc32cd unless the
 * whole file is built for +crc.
 */
#if defined(__clang__)
#define CRC_TARGET __attribute__((target("crc")))
#define crc32c_u64(crc, v) __builtin_arm_crc32cd(crc, v)
#define crc32c_u8(crc, b) __builtin_arm_crc32cb(crc, b)
#else
#define CRC_TARGET __attribute__((target("+crc")))
#define crc32c_u64(crc, v) __builtin_aarch64_crc32cx(crc, v)
#define crc32c_u8(crc, b) __builtin_aarch64_crc32cb(crc, b)
#endif

CRC_TARGET static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		crc = crc32c_u64(crc, v);
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = crc32c_u8(crc, *p++);
	return crc;
}

static bool have_hw(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}
#else
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	return crc_sw(crc, p, n);
}

static bool have_hw(void)
{
	return false;
}
#endif

static uint32_t (*impl)(uint32_t, const uint8_t *, size_t);

__attribute__((constructor)) static void crc_init(void)
{
	table_init();
	impl = have_hw() ? crc_hw : crc_sw;
}

uint32_t mring__crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~impl(~crc, buf, len);
}
