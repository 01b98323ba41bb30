/* inflate.c - RFC 1951 decoder with two-level Huffman lookup tables, and
 * the RFC 1950 zlib wrapper. */
#include "deflate.h"
#include <string.h>

/* ---- Huffman decode tables ----------------------------------------------
 * Entry (uint32): bits 0-7 = bits to consume, bits 8-15 = kind, bits 16-31 =
 * symbol (kind SYM) or subtable offset (kind LINK | sub-bits). The primary
 * table is indexed by the next ROOT bits (LSB first); longer codes continue
 * in a subtable indexed by the following sub-bits. */
#define ROOT 10
#define K_SYM 0x00
#define K_LINK 0x40
#define K_BAD 0x80
#define TABLE_MAX (1024 + 288 * 32) /* root + at most one 32-entry subtable per symbol */
#define E_BAD ((uint32_t)K_BAD << 8)

typedef struct huff { uint32_t t[TABLE_MAX]; } huff;

static uint32_t rev_bits(uint32_t c, int n) {
    uint32_t r = 0;
    for (int i = 0; i < n; i++) { r = (r << 1) | (c & 1); c >>= 1; }
    return r;
}

/* Builds a table from code lengths len[0..n-1] (0 = unused, max 15).
 * Over-subscribed sets are refused; incomplete ones leave K_BAD holes. */
static gc_status huff_build(huff *h, const uint8_t *len, int n, const char *what) {
    int count[16] = {0}, next[16], maxlen = 0;
    for (int s = 0; s < n; s++) { count[len[s]]++; if (len[s] > maxlen) maxlen = len[s]; }
    count[0] = 0;
    int left = 1;
    for (int l = 1; l < 16; l++) {
        left <<= 1; left -= count[l];
        if (left < 0) return gc_error(GC_ERR_FORMAT, "deflate: over-subscribed %s code", what);
    }
    for (int i = 0; i < (1 << ROOT); i++) h->t[i] = E_BAD;
    int code = 0;
    next[0] = 0;
    for (int l = 1; l < 16; l++) { code = (code + count[l - 1]) << 1; next[l] = code; }
    /* sub-bits needed under each root prefix: max length among its codes */
    uint8_t subbits[1 << ROOT];
    memset(subbits, 0, sizeof subbits);
    int nx[16];
    memcpy(nx, next, sizeof nx);
    for (int s = 0; s < n; s++) {
        int l = len[s];
        if (l <= ROOT) continue;
        uint32_t r = rev_bits((uint32_t)nx[l]++, l), p = r & ((1u << ROOT) - 1);
        if (l - ROOT > subbits[p]) subbits[p] = (uint8_t)(l - ROOT);
    }
    uint32_t used = 1u << ROOT;
    for (int p = 0; p < (1 << ROOT); p++) {
        if (!subbits[p]) continue;
        uint32_t sz = 1u << subbits[p];
        h->t[p] = ((uint32_t)used << 16) | ((uint32_t)(K_LINK | subbits[p]) << 8) | ROOT;
        for (uint32_t i = 0; i < sz; i++) h->t[used + i] = E_BAD;
        used += sz;
    }
    for (int s = 0; s < n; s++) {
        int l = len[s];
        if (!l) continue;
        uint32_t r = rev_bits((uint32_t)next[l]++, l);
        if (l <= ROOT) {
            for (uint32_t i = r; i < (1u << ROOT); i += 1u << l)
                h->t[i] = ((uint32_t)s << 16) | (uint32_t)l;
        } else {
            uint32_t link = h->t[r & ((1u << ROOT) - 1)], base = link >> 16;
            int sb = (int)((link >> 8) & 0x3F), rest = l - ROOT;
            for (uint32_t i = r >> ROOT; i < (1u << sb); i += 1u << rest)
                h->t[base + i] = ((uint32_t)s << 16) | (uint32_t)rest;
        }
    }
    return GC_OK;
}

/* ---- Bit reader and output --------------------------------------------- */
typedef struct inflater {
    const uint8_t *in;
    size_t len, pos;
    uint64_t bb; /* bit buffer, next bit in bit 0 */
    int bc;      /* valid bits in bb */
    uint8_t *out;
    size_t n, cap, max;
    huff lit, dist;
} inflater;

static inline void refill(inflater *z) {
    while (z->bc <= 56 && z->pos < z->len) { z->bb |= (uint64_t)z->in[z->pos++] << z->bc; z->bc += 8; }
}

static inline int getbits(inflater *z, int n, uint32_t *v) {
    if (z->bc < n) { refill(z); if (z->bc < n) return 0; }
    *v = (uint32_t)(z->bb & ((1u << n) - 1));
    z->bb >>= n; z->bc -= n;
    return 1;
}

/* Decodes one symbol; -1 on truncation or an invalid code. */
static inline int decode(inflater *z, const huff *h) {
    if (z->bc < 15) refill(z);
    uint32_t e = h->t[z->bb & ((1u << ROOT) - 1)];
    if ((e >> 8) & K_LINK) {
        if (z->bc < ROOT) return -1;
        int sb = (int)((e >> 8) & 0x3F);
        uint32_t idx = (uint32_t)(z->bb >> ROOT) & ((1u << sb) - 1);
        e = h->t[(e >> 16) + idx];
        if ((e >> 8) & K_BAD) return -1;
        int nb = ROOT + (int)(e & 0xFF);
        if (nb > z->bc) return -1;
        z->bb >>= nb; z->bc -= nb;
        return (int)(e >> 16);
    }
    if ((e >> 8) & K_BAD) return -1;
    int nb = (int)(e & 0xFF);
    if (nb > z->bc) return -1;
    z->bb >>= nb; z->bc -= nb;
    return (int)(e >> 16);
}

/* Makes room for `need` more output bytes, doubling up to the limit. */
static gc_status grow(inflater *z, size_t need) {
    size_t want;
    if (gc_add_size(z->n, need, &want) || want > z->max)
        return gc_error(GC_ERR_LIMIT, "deflate: output exceeds the limit of %zu bytes", z->max);
    if (want <= z->cap) return GC_OK;
    size_t cap = z->cap ? z->cap : 4096;
    while (cap < want) cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > z->max) cap = z->max;
    uint8_t *p = gc_alloc(cap);
    if (!p) return GC_ERR_OUT_OF_MEMORY;
    if (z->n) memcpy(p, z->out, z->n);
    gc_free(z->out);
    z->out = p; z->cap = cap;
    return GC_OK;
}

/* ---- Blocks ------------------------------------------------------------- */
/* RFC 1951 3.2.5: base values and extra bits of length and distance codes
 * (shared with deflate.c through deflate.h). */
const uint16_t gc_deflate_len_base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                          35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
const uint8_t gc_deflate_len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                          2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
const uint16_t gc_deflate_dist_base[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
                                           193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                                           4097, 6145, 8193, 12289, 16385, 24577};
const uint8_t gc_deflate_dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                           6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static gc_status truncated(void) { return gc_error(GC_ERR_FORMAT, "deflate: stream is truncated"); }

static gc_status block_stored(inflater *z) {
    z->bb >>= z->bc & 7; z->bc -= z->bc & 7; /* to a byte boundary */
    z->pos -= (size_t)(z->bc / 8);            /* hand whole buffered bytes back */
    z->bb = 0; z->bc = 0;
    if (z->len - z->pos < 4) return truncated();
    const uint8_t *p = z->in + z->pos;
    unsigned ln = p[0] | (unsigned)p[1] << 8, nln = p[2] | (unsigned)p[3] << 8;
    if (ln != (~nln & 0xFFFF)) return gc_error(GC_ERR_FORMAT, "deflate: stored block length check fails");
    z->pos += 4;
    if (z->len - z->pos < ln) return truncated();
    gc_status st = grow(z, ln);
    if (st) return st;
    if (ln) memcpy(z->out + z->n, z->in + z->pos, ln);
    z->n += ln; z->pos += ln;
    return GC_OK;
}

static gc_status block_codes(inflater *z) {
    for (;;) {
        int sym = decode(z, &z->lit);
        if (sym < 0) return z->pos >= z->len ? truncated() : gc_error(GC_ERR_FORMAT, "deflate: invalid literal/length code");
        if (sym < 256) {
            if (z->n == z->cap) { gc_status st = grow(z, 1); if (st) return st; }
            z->out[z->n++] = (uint8_t)sym;
            continue;
        }
        if (sym == 256) return GC_OK;
        sym -= 257;
        if (sym >= 29) return gc_error(GC_ERR_FORMAT, "deflate: invalid length symbol %d", sym + 257);
        uint32_t e = 0, de = 0;
        if (!getbits(z, gc_deflate_len_extra[sym], &e)) return truncated();
        size_t length = gc_deflate_len_base[sym] + e;
        int ds = decode(z, &z->dist);
        if (ds < 0) return z->pos >= z->len ? truncated() : gc_error(GC_ERR_FORMAT, "deflate: invalid distance code");
        if (ds >= 30) return gc_error(GC_ERR_FORMAT, "deflate: invalid distance symbol %d", ds);
        if (!getbits(z, gc_deflate_dist_extra[ds], &de)) return truncated();
        size_t d = gc_deflate_dist_base[ds] + de;
        if (d > z->n) return gc_error(GC_ERR_FORMAT, "deflate: distance %zu reaches before the start", d);
        if (z->cap - z->n < length) { gc_status st = grow(z, length); if (st) return st; }
        uint8_t *o = z->out + z->n;
        const uint8_t *s = o - d;
        if (d >= length) memcpy(o, s, length);
        else for (size_t i = 0; i < length; i++) o[i] = s[i]; /* overlapping run */
        z->n += length;
    }
}

static void fixed_tables(inflater *z) {
    uint8_t l[288];
    memset(l, 8, 144); memset(l + 144, 9, 112); memset(l + 256, 7, 24); memset(l + 280, 8, 8);
    huff_build(&z->lit, l, 288, "fixed");
    memset(l, 5, 30);
    huff_build(&z->dist, l, 30, "fixed");
}

static gc_status dynamic_tables(inflater *z) {
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    uint32_t hlit, hdist, hclen, v;
    if (!getbits(z, 5, &hlit) || !getbits(z, 5, &hdist) || !getbits(z, 4, &hclen)) return truncated();
    hlit += 257; hdist += 1; hclen += 4;
    if (hlit > 286 || hdist > 30) return gc_error(GC_ERR_FORMAT, "deflate: too many codes (%u, %u)", hlit, hdist);
    uint8_t cl[19] = {0}, lens[286 + 30];
    for (uint32_t i = 0; i < hclen; i++) {
        if (!getbits(z, 3, &v)) return truncated();
        cl[order[i]] = (uint8_t)v;
    }
    gc_status st = huff_build(&z->lit, cl, 19, "code-length");
    if (st) return st;
    uint32_t n = 0, total = hlit + hdist;
    while (n < total) {
        int sym = decode(z, &z->lit);
        if (sym < 0) return z->pos >= z->len ? truncated() : gc_error(GC_ERR_FORMAT, "deflate: invalid code-length code");
        if (sym < 16) { lens[n++] = (uint8_t)sym; continue; }
        uint32_t rep; uint8_t val = 0;
        if (sym == 16) {
            if (n == 0) return gc_error(GC_ERR_FORMAT, "deflate: repeat with no previous length");
            val = lens[n - 1];
            if (!getbits(z, 2, &rep)) return truncated();
            rep += 3;
        } else if (sym == 17) {
            if (!getbits(z, 3, &rep)) return truncated();
            rep += 3;
        } else {
            if (!getbits(z, 7, &rep)) return truncated();
            rep += 11;
        }
        if (n + rep > total) return gc_error(GC_ERR_FORMAT, "deflate: code lengths overrun");
        while (rep--) lens[n++] = val;
    }
    if (!lens[256]) return gc_error(GC_ERR_FORMAT, "deflate: no end-of-block code");
    if ((st = huff_build(&z->lit, lens, (int)hlit, "literal/length"))) return st;
    return huff_build(&z->dist, lens + hlit, (int)hdist, "distance");
}

/* ---- Entry points --------------------------------------------------------- */
gc_status gc_inflate_raw(const uint8_t *in, size_t in_len, size_t max_out, size_t size_hint,
                         uint8_t **out, size_t *out_len, size_t *consumed) {
    if (!out || !out_len || (!in && in_len)) return gc_error(GC_ERR_INVALID_ARGUMENT, "inflate: NULL argument");
    *out = NULL; *out_len = 0;
    inflater *z = gc_alloc(sizeof *z);
    if (!z) return GC_ERR_OUT_OF_MEMORY;
    z->in = in; z->len = in_len; z->pos = 0; z->bb = 0; z->bc = 0;
    z->out = NULL; z->n = 0; z->cap = 0; z->max = max_out;
    gc_status st = grow(z, size_hint && size_hint <= max_out ? size_hint : 0);
    uint32_t last = 0, type;
    while (!st && !last) {
        if (!getbits(z, 1, &last) || !getbits(z, 2, &type)) { st = truncated(); break; }
        if (type == 0) st = block_stored(z);
        else if (type == 1) { fixed_tables(z); st = block_codes(z); }
        else if (type == 2) { st = dynamic_tables(z); if (!st) st = block_codes(z); }
        else st = gc_error(GC_ERR_FORMAT, "deflate: invalid block type 3");
    }
    if (st) { gc_free(z->out); gc_free(z); return st; }
    if (!z->out && !(z->out = gc_alloc(1))) { gc_free(z); return GC_ERR_OUT_OF_MEMORY; }
    if (consumed) *consumed = z->pos - (size_t)(z->bc / 8);
    *out = z->out; *out_len = z->n;
    gc_free(z);
    return GC_OK;
}

gc_status gc_inflate_zlib(const uint8_t *in, size_t in_len, size_t max_out, size_t size_hint,
                          uint8_t **out, size_t *out_len) {
    if (!out || !out_len || (!in && in_len)) return gc_error(GC_ERR_INVALID_ARGUMENT, "inflate: NULL argument");
    *out = NULL; *out_len = 0;
    if (in_len < 2) return gc_error(GC_ERR_FORMAT, "zlib: stream is truncated");
    if ((in[0] & 15) != 8 || (in[0] >> 4) > 7) return gc_error(GC_ERR_FORMAT, "zlib: not a deflate stream (CMF 0x%02x)", in[0]);
    if (((unsigned)in[0] << 8 | in[1]) % 31) return gc_error(GC_ERR_FORMAT, "zlib: header check fails");
    if (in[1] & 0x20) return gc_error(GC_ERR_UNSUPPORTED, "zlib: preset dictionary");
    size_t used;
    gc_status st = gc_inflate_raw(in + 2, in_len - 2, max_out, size_hint, out, out_len, &used);
    if (st) return st;
    const uint8_t *t = in + 2 + used;
    if (in_len - 2 - used < 4) st = gc_error(GC_ERR_FORMAT, "zlib: Adler-32 trailer is truncated");
    else if (gc_adler32(1, *out, *out_len) != ((uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3]))
        st = gc_error(GC_ERR_FORMAT, "zlib: Adler-32 mismatch");
    if (st) { gc_free(*out); *out = NULL; *out_len = 0; }
    return st;
}

/* RFC 1952: one gzip member (header with optional FEXTRA, FNAME, FCOMMENT,
 * FHCRC fields), its deflate data, CRC-32 and ISIZE checked. */
gc_status gc_inflate_gzip(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out, size_t *out_len) {
    if (!out || !out_len || (!in && in_len)) return gc_error(GC_ERR_INVALID_ARGUMENT, "inflate: NULL argument");
    *out = NULL; *out_len = 0;
    if (in_len < 18) return gc_error(GC_ERR_FORMAT, "gzip: truncated (%zu bytes, a member has at least 18)", in_len);
    if (in[0] != 0x1f || in[1] != 0x8b) return gc_error(GC_ERR_FORMAT, "gzip: bad magic (not a gzip file)");
    if (in[2] != 8) return gc_error(GC_ERR_UNSUPPORTED, "gzip: compression method %d (only 8, deflate)", in[2]);
    uint8_t flg = in[3];
    if (flg & 0xE0) return gc_error(GC_ERR_FORMAT, "gzip: reserved flag bits set (0x%02x)", flg);
    size_t p = 10;
    if (flg & 4) { /* FEXTRA: XLEN, then XLEN bytes */
        if (in_len - p < 2) return gc_error(GC_ERR_FORMAT, "gzip: header is truncated (extra field)");
        size_t xlen = (size_t)in[p] | (size_t)in[p + 1] << 8;
        p += 2;
        if (in_len - p < xlen) return gc_error(GC_ERR_FORMAT, "gzip: header is truncated (extra field)");
        p += xlen;
    }
    for (int f = 8; f <= 16; f <<= 1) { /* FNAME, FCOMMENT: zero-terminated */
        if (!(flg & f)) continue;
        const uint8_t *z = memchr(in + p, 0, in_len - p);
        if (!z) return gc_error(GC_ERR_FORMAT, "gzip: header is truncated (%s)", f == 8 ? "file name" : "comment");
        p = (size_t)(z - in) + 1;
    }
    if (flg & 2) { /* FHCRC: low 16 bits of the header's CRC-32 */
        if (in_len - p < 2) return gc_error(GC_ERR_FORMAT, "gzip: header is truncated (header CRC)");
        uint32_t want = (uint32_t)in[p] | (uint32_t)in[p + 1] << 8;
        if ((gc_crc32(0, in, p) & 0xFFFF) != want) return gc_error(GC_ERR_FORMAT, "gzip: header CRC mismatch");
        p += 2;
    }
    size_t used = 0;
    gc_status st = gc_inflate_raw(in + p, in_len - p, max_out, 0, out, out_len, &used);
    if (st) return gc_error_prefix(st, "gzip");
    p += used;
    const char *why = NULL;
    if (in_len - p < 8) why = "gzip: truncated (CRC-32 and size trailer missing)";
    else {
        const uint8_t *t = in + p;
        uint32_t crc = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        uint32_t isize = (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
        if (gc_crc32(0, *out, *out_len) != crc) why = "gzip: CRC-32 mismatch (corrupt data)";
        else if ((uint32_t)*out_len != isize) why = "gzip: size in the trailer differs from the data's";
        else if (in_len - p > 8) why = "gzip: data after the first member (concatenated members are not supported)";
    }
    if (why) {
        gc_free(*out);
        *out = NULL; *out_len = 0;
        return gc_error(GC_ERR_FORMAT, "%s", why);
    }
    return GC_OK;
}
