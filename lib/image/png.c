/* png.c - PNG decoder (all colour types and depths, PLTE, tRNS, Adam7,
 * CRC-checked chunks) and encoder (per-row filter choice, zlib level 6). */
#include "image_internal.h"
#include "deflate.h"
#include <string.h>

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* ---- Decoder state --------------------------------------------------------- */
typedef struct png_info {
    uint32_t w, h;
    int depth, ctype, interlace;
    int spp;                 /* samples per pixel in the file */
    uint8_t pal[256][4];     /* RGBA; entries past npal are opaque black */
    int npal;
    int has_trns;
    uint16_t key[3];         /* tRNS colour key for types 0 and 2 */
} png_info;

static const int adam7[7][4] = { /* x0, y0, dx, dy */
    {0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};

static gc_status read_ihdr(png_info *pi, const uint8_t *d, uint32_t n, const gc_image_limits *lim) {
    if (n != 13) return gc_error(GC_ERR_FORMAT, "png: IHDR has length %u, not 13", n);
    pi->w = be32(d); pi->h = be32(d + 4);
    pi->depth = d[8]; pi->ctype = d[9]; pi->interlace = d[12];
    if (pi->w == 0 || pi->h == 0 || pi->w > 0x7FFFFFFFu || pi->h > 0x7FFFFFFFu)
        return gc_error(GC_ERR_FORMAT, "png: invalid size %u x %u", pi->w, pi->h);
    int dp = pi->depth, ok;
    switch (pi->ctype) {
    case 0: ok = dp == 1 || dp == 2 || dp == 4 || dp == 8 || dp == 16; pi->spp = 1; break;
    case 3: ok = dp == 1 || dp == 2 || dp == 4 || dp == 8; pi->spp = 1; break;
    case 2: case 4: case 6: ok = dp == 8 || dp == 16; pi->spp = pi->ctype == 2 ? 3 : pi->ctype == 4 ? 2 : 4; break;
    default: return gc_error(GC_ERR_FORMAT, "png: invalid colour type %d", pi->ctype);
    }
    if (!ok) return gc_error(GC_ERR_FORMAT, "png: bit depth %d is invalid for colour type %d", dp, pi->ctype);
    if (d[10] != 0) return gc_error(GC_ERR_FORMAT, "png: unknown compression method %d", d[10]);
    if (d[11] != 0) return gc_error(GC_ERR_FORMAT, "png: unknown filter method %d", d[11]);
    if (pi->interlace > 1) return gc_error(GC_ERR_FORMAT, "png: unknown interlace method %d", pi->interlace);
    return gc_image_check_size(lim, pi->w, pi->h, "png");
}

/* tRNS is ancillary: a malformed one is ignored, as libpng does. */
static void read_trns(png_info *pi, const uint8_t *d, uint32_t n) {
    if (pi->ctype == 3) {
        if (n == 0 || n > (uint32_t)pi->npal) return;
        for (uint32_t i = 0; i < n; i++) pi->pal[i][3] = d[i];
        pi->has_trns = 1;
    } else if ((pi->ctype == 0 && n == 2) || (pi->ctype == 2 && n == 6)) {
        unsigned mask = (1u << pi->depth) - 1; /* below 16 bits only the low bits count (libpng) */
        for (uint32_t c = 0; c < n / 2; c++) pi->key[c] = (uint16_t)((d[2 * c] << 8 | d[2 * c + 1]) & mask);
        pi->has_trns = 1;
    }
}

/* ---- Filters ------------------------------------------------------------------- */
static inline uint8_t paeth(int a, int b, int c) {
    int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* Undoes filter f on row (n bytes) given the previous row (NULL: zeros). */
static gc_status unfilter(uint8_t *row, const uint8_t *prev, size_t n, size_t bpp, int f) {
    switch (f) {
    case 0: break;
    case 1: for (size_t i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + row[i - bpp]); break;
    case 2: if (prev) for (size_t i = 0; i < n; i++) row[i] = (uint8_t)(row[i] + prev[i]); break;
    case 3:
        for (size_t i = 0; i < n; i++) {
            int a = i >= bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0;
            row[i] = (uint8_t)(row[i] + ((a + b) >> 1));
        }
        break;
    case 4:
        for (size_t i = 0; i < n; i++) {
            int a = i >= bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0, c = prev && i >= bpp ? prev[i - bpp] : 0;
            row[i] = (uint8_t)(row[i] + paeth(a, b, c));
        }
        break;
    default: return gc_error(GC_ERR_FORMAT, "png: invalid filter type %d", f);
    }
    return GC_OK;
}

/* ---- Pixel expansion ---------------------------------------------------------------- */
/* Writes the pw pixels of one unfiltered row to the image, at x = x0 + i*dx of line y. */
static void emit_row(const png_info *pi, const uint8_t *row, uint32_t pw, uint32_t x0, uint32_t dx,
                     uint32_t y, gc_image *img) {
    int oc = img->channels, d = pi->depth;
    size_t base = ((size_t)y * img->width + x0) * (size_t)oc, step = (size_t)dx * (size_t)oc;
    if (d == 16) {
        uint16_t *o = (uint16_t *)img->data + base; /* (h, w, oc) */
        int s = pi->spp;
        for (uint32_t i = 0; i < pw; i++, o += step) {
            const uint8_t *p = row + (size_t)i * 2 * (size_t)s;
            for (int c = 0; c < s; c++) o[c] = (uint16_t)(p[2 * c] << 8 | p[2 * c + 1]);
            if (pi->has_trns) {
                int key = 1;
                for (int c = 0; c < s; c++) key &= o[c] == pi->key[c];
                o[s] = key ? 0 : 65535;
            }
        }
        return;
    }
    uint8_t *o = (uint8_t *)img->data + base; /* (h, w, oc) */
    if (d == 8 && pi->ctype != 3 && !pi->has_trns) {
        size_t s = (size_t)pi->spp;
        if (dx == 1) { memcpy(o, row, (size_t)pw * s); return; }
        for (uint32_t i = 0; i < pw; i++, o += step) memcpy(o, row + i * s, s);
        return;
    }
    if (d == 8 && pi->ctype == 2) { /* RGB with colour key */
        for (uint32_t i = 0; i < pw; i++, o += step) {
            const uint8_t *p = row + 3 * (size_t)i;
            o[0] = p[0]; o[1] = p[1]; o[2] = p[2];
            o[3] = p[0] == pi->key[0] && p[1] == pi->key[1] && p[2] == pi->key[2] ? 0 : 255;
        }
        return;
    }
    /* one sample per pixel: gray (any depth) or palette index */
    unsigned maxv = (1u << d) - 1;
    for (uint32_t i = 0; i < pw; i++, o += step) {
        size_t bit = (size_t)i * (size_t)d;
        unsigned v = d == 8 ? row[i] : (row[bit >> 3] >> (8 - d - (int)(bit & 7))) & maxv;
        if (pi->ctype == 3) {
            memcpy(o, pi->pal[v], (size_t)oc);
        } else {
            o[0] = (uint8_t)(v * 255 / maxv);
            if (pi->has_trns) o[1] = v == pi->key[0] ? 0 : 255;
        }
    }
}

/* ---- Decoder --------------------------------------------------------------------------- */
static gc_status png_decode(const uint8_t *p, size_t len, const gc_image_limits *lim, gc_image *out,
                            png_info *pi, uint8_t **idat, uint8_t **raw) {
    if (len < 8 || memcmp(p, png_sig, 8)) return gc_error(GC_ERR_FORMAT, "png: missing PNG signature");
    size_t pos = 8, idat_total = 0, idat_first = 0;
    int have_ihdr = 0, have_plte = 0, idat_state = 0; /* 0 none yet, 1 in IDAT run, 2 after */
    memset(pi, 0, sizeof *pi);
    for (int i = 0; i < 256; i++) pi->pal[i][3] = 255;
    /* pass 1: walk and check every chunk */
    for (;;) {
        if (len - pos < 12) return gc_error(GC_ERR_FORMAT, "png: truncated (no IEND chunk)");
        uint32_t n = be32(p + pos);
        const uint8_t *type = p + pos + 4, *data = p + pos + 8;
        if (n > 0x7FFFFFFFu || len - pos - 12 < n) return gc_error(GC_ERR_FORMAT, "png: chunk of %u bytes is truncated", n);
        for (int i = 0; i < 4; i++)
            if (!((type[i] >= 'A' && type[i] <= 'Z') || (type[i] >= 'a' && type[i] <= 'z')))
                return gc_error(GC_ERR_FORMAT, "png: invalid chunk type at offset %zu", pos);
        if (gc_crc32(0, type, (size_t)n + 4) != be32(data + n))
            return gc_error(GC_ERR_FORMAT, "png: CRC mismatch in chunk %.4s", (const char *)type);
        int is_idat = !memcmp(type, "IDAT", 4);
        if (!have_ihdr && memcmp(type, "IHDR", 4)) return gc_error(GC_ERR_FORMAT, "png: first chunk is %.4s, not IHDR", (const char *)type);
        if (idat_state == 1 && !is_idat) idat_state = 2;
        if (!memcmp(type, "IHDR", 4)) {
            if (have_ihdr) return gc_error(GC_ERR_FORMAT, "png: second IHDR");
            gc_status st = read_ihdr(pi, data, n, lim);
            if (st) return st;
            have_ihdr = 1;
        } else if (!memcmp(type, "PLTE", 4)) {
            if (have_plte || idat_state) return gc_error(GC_ERR_FORMAT, "png: misplaced PLTE");
            if (pi->ctype == 0 || pi->ctype == 4) return gc_error(GC_ERR_FORMAT, "png: PLTE in a grayscale image");
            if (n == 0 || n % 3 || n > 768) return gc_error(GC_ERR_FORMAT, "png: PLTE of %u bytes", n);
            pi->npal = (int)(n / 3);
            for (int i = 0; i < pi->npal; i++) memcpy(pi->pal[i], data + 3 * i, 3);
            have_plte = 1;
        } else if (is_idat) {
            if (idat_state == 2) return gc_error(GC_ERR_FORMAT, "png: IDAT chunks are not consecutive");
            if (pi->ctype == 3 && !have_plte) return gc_error(GC_ERR_FORMAT, "png: palette image without PLTE");
            if (idat_state == 0) idat_first = pos;
            idat_state = 1;
            idat_total += n; /* bounded by len */
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        } else if (!memcmp(type, "tRNS", 4)) {
            if (!idat_state && !pi->has_trns) read_trns(pi, data, n);
        } else if (!(type[0] & 0x20)) {
            return gc_error(GC_ERR_UNSUPPORTED, "png: unknown critical chunk %.4s", (const char *)type);
        }
        pos += 12 + (size_t)n;
    }
    if (!idat_state) return gc_error(GC_ERR_FORMAT, "png: no IDAT chunk");
    /* pass 2: concatenate the IDAT payloads */
    *idat = gc_alloc(idat_total);
    if (!*idat) return GC_ERR_OUT_OF_MEMORY;
    size_t k = 0;
    for (pos = idat_first; !memcmp(p + pos + 4, "IDAT", 4);) {
        uint32_t n = be32(p + pos);
        memcpy(*idat + k, p + pos + 8, n);
        k += n; pos += 12 + (size_t)n;
    }
    /* expected filtered size: every (pass, row) has a filter byte + packed samples */
    size_t bits = (size_t)pi->spp * (size_t)pi->depth, bpp = bits < 8 ? 1 : bits / 8, total = 0;
    int npass = pi->interlace ? 7 : 1;
    uint32_t pw[7], ph[7];
    size_t rb[7];
    for (int s = 0; s < npass; s++) {
        uint32_t x0 = pi->interlace ? (uint32_t)adam7[s][0] : 0, y0 = pi->interlace ? (uint32_t)adam7[s][1] : 0;
        uint32_t dx = pi->interlace ? (uint32_t)adam7[s][2] : 1, dy = pi->interlace ? (uint32_t)adam7[s][3] : 1;
        pw[s] = pi->w > x0 ? (pi->w - x0 + dx - 1) / dx : 0;
        ph[s] = pi->h > y0 ? (pi->h - y0 + dy - 1) / dy : 0;
        rb[s] = ((size_t)pw[s] * bits + 7) / 8;
        size_t t;
        if (!pw[s] || !ph[s]) continue;
        if (gc_mul_size(rb[s] + 1, ph[s], &t) || gc_add_size(total, t, &total))
            return gc_error(GC_ERR_LIMIT, "png: image data size overflows");
    }
    /* deflate expands at most 1032:1, so a tiny IDAT cannot fill a huge image:
       refuse before allocating for it */
    if (idat_total < 2 || (total - 2) / 1032 > idat_total)
        return gc_error(GC_ERR_FORMAT, "png: %zu bytes of IDAT cannot hold %zu bytes of image data", idat_total, total);
    size_t got;
    gc_status st = gc_inflate_zlib(*idat, idat_total, total, total, raw, &got);
    if (st == GC_ERR_LIMIT) return gc_error(GC_ERR_FORMAT, "png: image data is longer than the %zu bytes expected", total);
    if (st) return gc_error_prefix(st, "png");
    if (got != total) return gc_error(GC_ERR_FORMAT, "png: image data is truncated (%zu of %zu bytes)", got, total);
    /* output layout */
    int oc = pi->ctype == 3 ? (pi->has_trns ? 4 : 3) : pi->spp + (pi->has_trns ? 1 : 0);
    if ((st = gc_image_alloc(out, (int32_t)pi->w, (int32_t)pi->h, oc, pi->depth == 16 ? 16 : 8))) return st;
    uint8_t *r = *raw;
    for (int s = 0; s < npass; s++) {
        if (!pw[s] || !ph[s]) continue;
        const uint8_t *prev = NULL;
        for (uint32_t y = 0; y < ph[s]; y++) {
            uint8_t *row = r + 1;
            if ((st = unfilter(row, prev, rb[s], bpp, r[0]))) return st;
            uint32_t iy = pi->interlace ? (uint32_t)adam7[s][1] + y * (uint32_t)adam7[s][3] : y;
            emit_row(pi, row, pw[s], pi->interlace ? (uint32_t)adam7[s][0] : 0, pi->interlace ? (uint32_t)adam7[s][2] : 1, iy, out);
            prev = row;
            r += rb[s] + 1;
        }
    }
    return GC_OK;
}

gc_status gc_image_decode_png(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!buf || !out) return gc_error(GC_ERR_INVALID_ARGUMENT, "png: NULL argument");
    png_info *pi = gc_alloc(sizeof *pi);
    if (!pi) return GC_ERR_OUT_OF_MEMORY;
    uint8_t *idat = NULL, *raw = NULL;
    gc_status st = png_decode(buf, len, limits, out, pi, &idat, &raw);
    gc_free(idat); gc_free(raw); gc_free(pi);
    if (st) gc_image_release(out);
    return st;
}

/* ---- Encoder ------------------------------------------------------------------------------ */
static void put_chunk(uint8_t *o, size_t *pos, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t *c = o + *pos;
    put_be32(c, n);
    memcpy(c + 4, type, 4);
    if (n) memcpy(c + 8, data, n);
    put_be32(c + 8 + n, gc_crc32(0, c + 4, (size_t)n + 4));
    *pos += 12 + (size_t)n;
}

#define IDAT_MAX (1u << 20) /* bytes per IDAT chunk */

gc_status gc_image_encode_png(const gc_image *img, uint8_t **out, size_t *out_len) {
    if (!out || !out_len) return gc_error(GC_ERR_INVALID_ARGUMENT, "png: NULL output");
    *out = NULL; *out_len = 0;
    gc_status st = gc_image_check(img, "png");
    if (st) return st;
    static const uint8_t ctype[5] = {0, 0, 4, 2, 6};
    size_t bpp = (size_t)img->channels * (size_t)(img->bit_depth / 8), rowb, raw_n;
    if (gc_mul_size((size_t)img->width, bpp, &rowb) || gc_mul_size(rowb + 1, (size_t)img->height, &raw_n))
        return gc_error(GC_ERR_OUT_OF_MEMORY, "png: image size overflows");
    uint8_t *raw = gc_alloc(raw_n), *work = gc_alloc_array(rowb, 7); /* work: cur, prev, 5 candidates */
    if (!raw || !work) { gc_free(raw); gc_free(work); return GC_ERR_OUT_OF_MEMORY; }
    uint8_t *cur = work, *prev = work + rowb, *cand = work + 2 * rowb;
    memset(prev, 0, rowb);
    for (int32_t y = 0; y < img->height; y++) {
        /* the row in file order (16-bit big-endian) */
        size_t nsamp = (size_t)img->width * (size_t)img->channels;
        if (img->bit_depth == 8) memcpy(cur, (const uint8_t *)img->data + (size_t)y * rowb, rowb);
        else {
            const uint16_t *s = (const uint16_t *)img->data + (size_t)y * nsamp;
            for (size_t i = 0; i < nsamp; i++) { cur[2 * i] = (uint8_t)(s[i] >> 8); cur[2 * i + 1] = (uint8_t)s[i]; }
        }
        /* try all five filters, keep the minimum sum of |signed residual| */
        const uint8_t *up = prev; /* zeros on the first row */
        uint8_t *c0 = cand, *c1 = cand + rowb, *c2 = cand + 2 * rowb, *c3 = cand + 3 * rowb, *c4 = cand + 4 * rowb;
        for (size_t i = 0; i < bpp; i++) {
            c0[i] = cur[i]; c1[i] = cur[i]; c2[i] = (uint8_t)(cur[i] - up[i]);
            c3[i] = (uint8_t)(cur[i] - (up[i] >> 1)); c4[i] = (uint8_t)(cur[i] - up[i]);
        }
        for (size_t i = bpp; i < rowb; i++) {
            int a = cur[i - bpp], b = up[i], cc = up[i - bpp];
            c0[i] = cur[i];
            c1[i] = (uint8_t)(cur[i] - a);
            c2[i] = (uint8_t)(cur[i] - b);
            c3[i] = (uint8_t)(cur[i] - ((a + b) >> 1));
            c4[i] = (uint8_t)(cur[i] - paeth(a, b, cc));
        }
        uint64_t best_sum = UINT64_MAX;
        int best = 0;
        for (int f = 0; f < 5; f++) {
            const uint8_t *c = cand + (size_t)f * rowb;
            uint64_t sum = 0;
            for (size_t i = 0; i < rowb; i++) sum += c[i] < 128 ? c[i] : 256 - c[i];
            if (sum < best_sum) { best_sum = sum; best = f; }
        }
        uint8_t *r = raw + (size_t)y * (rowb + 1);
        r[0] = (uint8_t)best;
        memcpy(r + 1, cand + (size_t)best * rowb, rowb);
        uint8_t *t = prev; prev = cur; cur = t;
    }
    gc_free(work);
    uint8_t *z;
    size_t zn;
    st = gc_deflate_zlib(raw, raw_n, 6, &z, &zn);
    gc_free(raw);
    if (st) return st;
    size_t nchunks = zn / IDAT_MAX + 1, total;
    if (gc_add_size(zn, 8 + 25 + 12 + 12 * nchunks, &total)) { gc_free(z); return gc_error(GC_ERR_OUT_OF_MEMORY, "png: size overflows"); }
    uint8_t *o = gc_alloc(total);
    if (!o) { gc_free(z); return GC_ERR_OUT_OF_MEMORY; }
    size_t pos = 8;
    memcpy(o, png_sig, 8);
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)img->width); put_be32(ihdr + 4, (uint32_t)img->height);
    ihdr[8] = (uint8_t)img->bit_depth; ihdr[9] = ctype[img->channels]; ihdr[10] = ihdr[11] = ihdr[12] = 0;
    put_chunk(o, &pos, "IHDR", ihdr, 13);
    for (size_t k = 0; k < zn || k == 0; k += IDAT_MAX) {
        size_t m = zn - k < IDAT_MAX ? zn - k : IDAT_MAX;
        put_chunk(o, &pos, "IDAT", z + k, (uint32_t)m);
        if (m < IDAT_MAX) break;
    }
    put_chunk(o, &pos, "IEND", NULL, 0);
    gc_free(z);
    *out = o; *out_len = pos;
    return GC_OK;
}

gc_status gc_image_save_png(const gc_image *img, const char *path) {
    return gc_image_save_encoded(img, path, "png", gc_image_encode_png);
}
