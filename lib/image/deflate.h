/* deflate.h - internal: checksums, inflate (RFC 1951 raw / RFC 1950 zlib)
 * and deflate, shared by the PNG codec. Output buffers are gc_alloc'ed and
 * released with gc_free. */
#ifndef GC_IMAGE_DEFLATE_H
#define GC_IMAGE_DEFLATE_H

#include "core/core.h"
#include <stddef.h>
#include <stdint.h>

/* CRC-32 (ISO 3309 / PNG), running: start with crc = 0. */
uint32_t gc_crc32(uint32_t crc, const uint8_t *p, size_t n);
/* Adler-32 (RFC 1950), running: start with adler = 1. */
uint32_t gc_adler32(uint32_t adler, const uint8_t *p, size_t n);

/* RFC 1951 length codes 257..285 and distance codes 0..29: base values and
 * extra bits (defined in inflate.c). */
extern const uint16_t gc_deflate_len_base[29];
extern const uint8_t  gc_deflate_len_extra[29];
extern const uint16_t gc_deflate_dist_base[30];
extern const uint8_t  gc_deflate_dist_extra[30];

/* Inflates a raw deflate stream. At most max_out bytes are produced: a
 * stream that would inflate to more fails with GC_ERR_LIMIT (bomb guard).
 * *consumed (may be NULL) receives the input bytes used up to the end of the
 * final block (byte aligned). size_hint (may be 0) sizes the first output
 * allocation. Corrupt or truncated streams fail with GC_ERR_FORMAT. On
 * failure *out is NULL. */
gc_status gc_inflate_raw(const uint8_t *in, size_t in_len, size_t max_out, size_t size_hint,
                         uint8_t **out, size_t *out_len, size_t *consumed);

/* Same for a zlib stream: checks the header (deflate, no preset dictionary)
 * and the Adler-32 of the output. */
gc_status gc_inflate_zlib(const uint8_t *in, size_t in_len, size_t max_out, size_t size_hint,
                          uint8_t **out, size_t *out_len);

/* Same for one gzip member (RFC 1952): header fields skipped (FHCRC
 * checked), CRC-32 and ISIZE of the output checked; bytes after the member
 * are GC_ERR_FORMAT. */
gc_status gc_inflate_gzip(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out, size_t *out_len);

/* Compresses n bytes. level 0 = stored blocks only, 1..9 = LZ77 with hash
 * chains (longer searches, lazy matching from 4; each level's search limits
 * are those zlib documents for it) + fixed/dynamic Huffman blocks, whichever
 * of dynamic, fixed and stored is smallest per block. */
gc_status gc_deflate_raw(const uint8_t *in, size_t n, int level, uint8_t **out, size_t *out_len);
/* Same with the zlib header and Adler-32 trailer. */
gc_status gc_deflate_zlib(const uint8_t *in, size_t n, int level, uint8_t **out, size_t *out_len);

#endif
