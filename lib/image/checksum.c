/* checksum.c - CRC-32 (reflected, poly 0xEDB88320) and Adler-32. */
#include "deflate.h"

/* ---- CRC-32: 256-entry table generated at compile time ---------------- */
#define C1(c) (((c) & 1) ? 0xEDB88320u ^ ((c) >> 1) : ((c) >> 1))
#define C8(c) C1(C1(C1(C1(C1(C1(C1(C1((uint32_t)(c)))))))))
#define R4(n) C8(n), C8(n + 1), C8(n + 2), C8(n + 3)
#define R16(n) R4(n), R4(n + 4), R4(n + 8), R4(n + 12)
#define R64(n) R16(n), R16(n + 16), R16(n + 32), R16(n + 48)
static const uint32_t crc_table[256] = { R64(0), R64(64), R64(128), R64(192) };

uint32_t gc_crc32(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- Adler-32: s1 = 1 + sum bytes, s2 = sum s1, both mod 65521 -------- */
uint32_t gc_adler32(uint32_t adler, const uint8_t *p, size_t n) {
    uint32_t s1 = adler & 0xFFFF, s2 = adler >> 16;
    while (n > 0) {
        size_t k = n < 5552 ? n : 5552; /* largest run without 32-bit overflow */
        n -= k;
        while (k--) { s1 += *p++; s2 += s1; }
        s1 %= 65521; s2 %= 65521;
    }
    return (s2 << 16) | s1;
}
