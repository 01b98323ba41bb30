/* pnm.c - Netpbm graymaps and pixmaps: P2/P5 (gray), P3/P6 (RGB), plain
 * and raw, maxval 1..65535, read and written. */
#include "image_internal.h"
#include <stdio.h>
#include <string.h>

typedef struct pnm_reader { const uint8_t *p; size_t n, pos; } pnm_reader;

static int is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Skips whitespace and '#' comments (to the end of the line). */
static void skip_ws(pnm_reader *r) {
    while (r->pos < r->n) {
        if (is_ws(r->p[r->pos])) r->pos++;
        else if (r->p[r->pos] == '#') { while (r->pos < r->n && r->p[r->pos] != '\n' && r->p[r->pos] != '\r') r->pos++; }
        else break;
    }
}

/* Reads an unsigned decimal <= maxv; 0 on success. */
static gc_status read_uint(pnm_reader *r, uint32_t maxv, uint32_t *v, const char *what) {
    skip_ws(r);
    if (r->pos >= r->n) return gc_error(GC_ERR_FORMAT, "pnm: truncated before %s", what);
    if (r->p[r->pos] < '0' || r->p[r->pos] > '9') return gc_error(GC_ERR_FORMAT, "pnm: %s is not a number", what);
    uint64_t x = 0;
    while (r->pos < r->n && r->p[r->pos] >= '0' && r->p[r->pos] <= '9') {
        x = x * 10 + (uint64_t)(r->p[r->pos++] - '0');
        if (x > maxv) return gc_error(GC_ERR_FORMAT, "pnm: %s exceeds %u", what, maxv);
    }
    if (r->pos < r->n && !is_ws(r->p[r->pos]) && r->p[r->pos] != '#')
        return gc_error(GC_ERR_FORMAT, "pnm: junk after %s", what);
    *v = (uint32_t)x;
    return GC_OK;
}

/* ---- Decoder ------------------------------------------------------------------ */
gc_status gc_image_decode_pnm(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!buf || !out) return gc_error(GC_ERR_INVALID_ARGUMENT, "pnm: NULL argument");
    pnm_reader r = {buf, len, 2};
    if (len < 2 || r.p[0] != 'P') return gc_error(GC_ERR_FORMAT, "pnm: missing P2/P3/P5/P6 magic");
    int kind = r.p[1] - '0';
    if (kind == 1 || kind == 4 || kind == 7) return gc_error(GC_ERR_UNSUPPORTED, "pnm: P%d (bitmap/PAM) is not supported", kind);
    if (kind != 2 && kind != 3 && kind != 5 && kind != 6) {
        char q[8];
        return gc_error(GC_ERR_FORMAT, "pnm: unknown magic P%s", gc_quote(q, sizeof q, r.p + 1, 1));
    }
    if (len < 3 || !is_ws(r.p[2])) return gc_error(GC_ERR_FORMAT, "pnm: no whitespace after the magic number");
    uint32_t w, h, maxval;
    gc_status st;
    if ((st = read_uint(&r, 0x7FFFFFFF, &w, "width")) || (st = read_uint(&r, 0x7FFFFFFF, &h, "height")) ||
        (st = read_uint(&r, 65535, &maxval, "maxval")))
        return st;
    if (maxval == 0) return gc_error(GC_ERR_FORMAT, "pnm: maxval 0");
    if ((st = gc_image_check_size(limits, w, h, "pnm"))) return st;
    int ch = (kind == 3 || kind == 6) ? 3 : 1, wide = maxval > 255;
    size_t ns = (size_t)w * (size_t)h * (size_t)ch; /* samples; fits: limits checked */
    int raw = kind >= 5;
    if (raw) {
        if (r.pos >= r.n || !is_ws(r.p[r.pos])) return gc_error(GC_ERR_FORMAT, "pnm: no whitespace after maxval");
        r.pos++; /* the single whitespace byte after maxval */
        size_t need;
        if (gc_mul_size(ns, wide ? 2 : 1, &need) || r.n - r.pos < need)
            return gc_error(GC_ERR_FORMAT, "pnm: raster is truncated (%zu of %zu bytes)", r.n - r.pos, ns * (wide ? 2 : 1));
    } else if (r.n - r.pos < ns) { /* each plain sample needs at least a digit */
        return gc_error(GC_ERR_FORMAT, "pnm: raster is truncated");
    }
    if ((st = gc_image_alloc(out, (int32_t)w, (int32_t)h, ch, wide ? 16 : 8))) return st;
    uint32_t full = wide ? 65535 : 255;
    for (size_t i = 0; i < ns; i++) {
        uint32_t v;
        if (raw) {
            v = wide ? (uint32_t)r.p[r.pos] << 8 | r.p[r.pos + 1] : r.p[r.pos];
            r.pos += wide ? 2 : 1;
            if (v > maxval) { st = gc_error(GC_ERR_FORMAT, "pnm: sample %u exceeds maxval %u", v, maxval); break; }
        } else if ((st = read_uint(&r, maxval, &v, "sample"))) {
            break;
        }
        if (maxval != full) v = (v * full + maxval / 2) / maxval; /* scale to full range, round half up */
        if (wide) ((uint16_t *)out->data)[i] = (uint16_t)v;
        else ((uint8_t *)out->data)[i] = (uint8_t)v;
    }
    if (st) gc_image_release(out);
    return st;
}

/* ---- Encoder -------------------------------------------------------------------- */
gc_status gc_image_encode_pnm(const gc_image *img, uint8_t **out, size_t *out_len) {
    if (!out || !out_len) return gc_error(GC_ERR_INVALID_ARGUMENT, "pnm: NULL output");
    *out = NULL; *out_len = 0;
    gc_status st = gc_image_check(img, "pnm");
    if (st) return st;
    if (img->channels != 1 && img->channels != 3)
        return gc_error(GC_ERR_UNSUPPORTED, "pnm: %d channels (PGM takes 1, PPM 3)", img->channels);
    char head[64];
    int hn = snprintf(head, sizeof head, "P%c\n%d %d\n%d\n", img->channels == 1 ? '5' : '6',
                      (int)img->width, (int)img->height, img->bit_depth == 16 ? 65535 : 255);
    size_t ns = (size_t)img->width * (size_t)img->height * (size_t)img->channels, bytes, total;
    if (gc_mul_size(ns, (size_t)img->bit_depth / 8, &bytes) || gc_add_size(bytes, (size_t)hn, &total))
        return gc_error(GC_ERR_OUT_OF_MEMORY, "pnm: size overflows");
    uint8_t *o = gc_alloc(total);
    if (!o) return GC_ERR_OUT_OF_MEMORY;
    memcpy(o, head, (size_t)hn);
    if (img->bit_depth == 8) memcpy(o + hn, img->data, bytes);
    else {
        const uint16_t *s = img->data;
        for (size_t i = 0; i < ns; i++) { o[hn + 2 * i] = (uint8_t)(s[i] >> 8); o[hn + 2 * i + 1] = (uint8_t)s[i]; }
    }
    *out = o; *out_len = total;
    return GC_OK;
}

gc_status gc_image_save_pnm(const gc_image *img, const char *path) {
    return gc_image_save_encoded(img, path, "pnm", gc_image_encode_pnm);
}
