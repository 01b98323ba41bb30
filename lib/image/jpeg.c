/* jpeg.c - JPEG decoder written from ITU-T T.81 (baseline and progressive
 * Huffman, 8-bit, gray or YCbCr/RGB), JFIF colour conversion, libjpeg-style
 * "fancy" chroma upsampling and EXIF orientation. */
#include "core/core.h"
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Constants and state                                                       */
/* ------------------------------------------------------------------------ */

#define JPG_FAST 9        /* bits resolved by the Huffman lookup table */
#define JPG_MAX_SCANS 256 /* bounds work on files of EOB runs (real files use < 20) */

/* zig-zag index -> natural (row-major) index, T.81 Figure A.6 */
static const uint8_t jpg_zz[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

typedef struct jpg_huff {
    uint16_t fast[1 << JPG_FAST]; /* (length << 8) | symbol for short codes, 0 = slow path */
    int32_t  maxcode[17];         /* largest code of each length, -1 if none */
    int32_t  valoff[17];          /* symbol index = code + valoff[length] */
    uint8_t  vals[256];           /* symbols in code order */
    int      defined;
} jpg_huff;

typedef struct jpg_comp {
    int      id, h, v, tq;
    int      cw, ch;      /* component size in samples: ceil(X*h/hmax), ceil(Y*v/vmax) */
    int      bw, bh;      /* blocks per row / column of the MCU-padded plane */
    uint8_t *plane;       /* (bh*8, bw*8) reconstructed samples */
    int16_t *coef;        /* progressive only: (bh*bw, 64) quantised coefficients, natural order */
    uint16_t q[64];       /* quantisation table latched at the component's first scan, natural order */
    int      q_latched;
    int8_t   sa_bit[64];  /* progressive: lowest bit coded so far per coefficient, -1 = none */
    int      pred;        /* DC predictor */
    int      td, ta;      /* tables of the current scan */
} jpg_comp;

typedef struct jpg_bits {
    const uint8_t *p, *end; /* next entropy byte, end of buffer */
    uint64_t buf;           /* left-aligned bit buffer */
    int      nbits;         /* valid bits in buf */
    int      marker;        /* marker code met in the data (0 = none) */
    int64_t  fake;          /* zero bytes fed past a marker or the buffer end */
} jpg_bits;

typedef struct jpg_dec {
    const uint8_t *b;
    size_t         len;
    jpg_huff       dc[4], ac[4];
    uint16_t       qt[4][64]; /* natural order */
    int            qt_def[4];
    int            restart;   /* DRI interval in MCUs, 0 = none */
    int            frame, progressive, X, Y, nc, hmax, vmax, mcux, mcuy;
    jpg_comp       comp[4];
    int            jfif, adobe, adobe_transform, orientation, scans;
    float          idct[64];  /* idct[x*8+u] = C(u)/2 cos((2x+1)u pi/16) */
} jpg_dec;

static int jpg_u16(const uint8_t *p) { return (p[0] << 8) | p[1]; }

static int jpg_clamp16(int v) { return v < -32768 ? -32768 : v > 32767 ? 32767 : v; }

static uint8_t jpg_clamp8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* ------------------------------------------------------------------------ */
/* Huffman tables (T.81 Annex C, F.2.2.3)                                    */
/* ------------------------------------------------------------------------ */

static gc_status jpg_huff_build(jpg_huff *t, const uint8_t counts[16], const uint8_t *vals, int n, int is_dc) {
    memset(t, 0, sizeof *t);
    memcpy(t->vals, vals, (size_t)n);
    if (is_dc)
        for (int i = 0; i < n; i++)
            if (vals[i] > 15) return gc_error(GC_ERR_FORMAT, "jpeg: DC Huffman symbol %d > 15", vals[i]);
    int32_t code = 0;
    int     k = 0;
    for (int l = 1; l <= 16; l++) {
        t->valoff[l] = k - code;
        for (int i = 0; i < counts[l - 1]; i++, k++, code++) {
            if (code >= (1 << l)) return gc_error(GC_ERR_FORMAT, "jpeg: Huffman code lengths do not form a prefix code");
            if (l <= JPG_FAST) {
                int shift = JPG_FAST - l;
                for (int j = 0; j < (1 << shift); j++)
                    t->fast[(code << shift) | j] = (uint16_t)((l << 8) | vals[k]);
            }
        }
        t->maxcode[l] = counts[l - 1] ? code - 1 : -1;
        code <<= 1;
    }
    t->defined = 1;
    return GC_OK;
}

/* ------------------------------------------------------------------------ */
/* Entropy-coded bit reader (F.2.2.5: byte stuffing, markers stop the data)  */
/* ------------------------------------------------------------------------ */

static void jpg_fill(jpg_bits *br) {
    while (br->nbits <= 56) {
        uint32_t c = 0;
        if (!br->marker && br->p < br->end) {
            c = *br->p;
            if (c == 0xFF) {
                if (br->p + 1 < br->end && br->p[1] == 0) br->p += 2;
                else { br->marker = br->p + 1 < br->end ? br->p[1] : 0x100; c = 0; br->fake++; }
            } else br->p++;
        } else br->fake++;
        br->buf |= (uint64_t)c << (56 - br->nbits);
        br->nbits += 8;
    }
}

/* 1 when the decoder consumed bits that were not in the data. */
static int jpg_overran(const jpg_bits *br) { return br->fake * 8 > br->nbits; }

static int jpg_getbits(jpg_bits *br, int n) { /* n in 1..16 */
    if (br->nbits < n) jpg_fill(br);
    int v = (int)(br->buf >> (64 - n));
    br->buf <<= n;
    br->nbits -= n;
    return v;
}

static int jpg_extend(int v, int s) { return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v; }

static int jpg_receive_extend(jpg_bits *br, int s) { return s ? jpg_extend(jpg_getbits(br, s), s) : 0; }

/* Returns the symbol, or -1 for a code that is not in the table. */
static int jpg_decode(jpg_bits *br, const jpg_huff *t) {
    if (br->nbits < 16) jpg_fill(br);
    uint16_t f = t->fast[br->buf >> (64 - JPG_FAST)];
    if (f) {
        br->buf <<= f >> 8;
        br->nbits -= f >> 8;
        return f & 255;
    }
    int32_t code16 = (int32_t)(br->buf >> 48);
    for (int l = JPG_FAST + 1; l <= 16; l++) {
        int32_t c = code16 >> (16 - l);
        if (c <= t->maxcode[l]) {
            br->buf <<= l;
            br->nbits -= l;
            return t->vals[c + t->valoff[l]];
        }
    }
    return -1;
}

/* At a restart boundary: drop buffered bits, find the next marker and
 * consume it if it is RSTn (any n: resynchronises after damage). */
static void jpg_restart(jpg_bits *br) {
    br->buf = 0;
    br->nbits = 0;
    br->fake = 0;
    br->marker = 0;
    const uint8_t *p = br->p;
    while (p + 1 < br->end && !(p[0] == 0xFF && p[1] != 0 && p[1] != 0xFF)) p++;
    if (p + 1 < br->end) {
        if (p[1] >= 0xD0 && p[1] <= 0xD7) p += 2;
        else br->marker = p[1];
    } else {
        p = br->end;
    }
    br->p = p;
}

/* ------------------------------------------------------------------------ */
/* Inverse DCT (A.3.3), separable float, rounded like libjpeg's DESCALE      */
/* ------------------------------------------------------------------------ */

static void jpg_idct_init(float *m) {
    for (int x = 0; x < 8; x++)
        for (int u = 0; u < 8; u++)
            m[x * 8 + u] = (float)((u ? 1.0 : sqrt(0.5)) * 0.5 * cos((2 * x + 1) * u * 3.14159265358979323846 / 16));
}

/* blk: 64 dequantised coefficients, natural order -> 8x8 samples at out. */
static void jpg_idct_put(const float *m, const int32_t *blk, uint8_t *out, size_t stride) {
    int ac = 0;
    for (int i = 1; i < 64; i++) ac |= blk[i];
    if (!ac) {
        float  fv = (float)blk[0] * 0.125f + 128.5f;
        uint8_t v = fv <= 0 ? 0 : fv >= 255 ? 255 : (uint8_t)fv;
        for (int y = 0; y < 8; y++) memset(out + y * stride, v, 8);
        return;
    }
    float t[64]; /* (v, x): rows transformed */
    for (int v = 0; v < 8; v++) {
        const int32_t *r = blk + v * 8;
        float         *o = t + v * 8;
        if (!(r[1] | r[2] | r[3] | r[4] | r[5] | r[6] | r[7])) {
            float dc = (float)r[0] * m[0];
            for (int x = 0; x < 8; x++) o[x] = dc;
            continue;
        }
        for (int x = 0; x < 8; x++) {
            const float *mx = m + x * 8;
            float        s = 0;
            for (int u = 0; u < 8; u++) s += mx[u] * (float)r[u];
            o[x] = s;
        }
    }
    for (int y = 0; y < 8; y++) {
        const float *my = m + y * 8;
        uint8_t     *o = out + y * stride;
        for (int x = 0; x < 8; x++) {
            float s = 128.5f;
            for (int v = 0; v < 8; v++) s += my[v] * t[v * 8 + x];
            o[x] = s <= 0 ? 0 : s >= 255 ? 255 : (uint8_t)s;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Block decoding: sequential (F.2.2) and progressive (G.1.2)                */
/* ------------------------------------------------------------------------ */

/* Sequential block into blk (dequantised, natural order). 0 ok, -1 bad data. */
static int jpg_block_seq(jpg_bits *br, const jpg_huff *dc, const jpg_huff *ac, jpg_comp *c, int32_t *blk) {
    memset(blk, 0, 64 * sizeof *blk);
    int t = jpg_decode(br, dc);
    if (t < 0) return -1;
    c->pred = jpg_clamp16(c->pred + jpg_receive_extend(br, t));
    blk[0] = c->pred * c->q[0];
    for (int k = 1; k < 64;) {
        int rs = jpg_decode(br, ac);
        if (rs < 0) return -1;
        int r = rs >> 4, s = rs & 15;
        if (s) {
            k += r;
            if (k > 63) return -1;
            int z = jpg_zz[k++];
            blk[z] = jpg_receive_extend(br, s) * c->q[z];
        } else if (r == 15) {
            k += 16;
        } else {
            break;
        }
    }
    return 0;
}

static int jpg_dc_first(jpg_bits *br, const jpg_huff *dc, jpg_comp *c, int16_t *co, int al) {
    int t = jpg_decode(br, dc);
    if (t < 0) return -1;
    c->pred = jpg_clamp16(c->pred + jpg_receive_extend(br, t));
    co[0] = (int16_t)jpg_clamp16(c->pred * (1 << al));
    return 0;
}

static int jpg_ac_first(jpg_bits *br, const jpg_huff *ac, int16_t *co, int ss, int se, int al, int *eobrun) {
    if (*eobrun) { (*eobrun)--; return 0; }
    for (int k = ss; k <= se;) {
        int rs = jpg_decode(br, ac);
        if (rs < 0) return -1;
        int r = rs >> 4, s = rs & 15;
        if (s) {
            k += r;
            if (k > se) return -1;
            co[jpg_zz[k++]] = (int16_t)jpg_clamp16(jpg_receive_extend(br, s) * (1 << al));
        } else if (r == 15) {
            k += 16;
        } else {
            *eobrun = (1 << r) - 1;
            if (r) *eobrun += jpg_getbits(br, r);
            break;
        }
    }
    return 0;
}

/* Correction bit for an already non-zero coefficient (G.1.2.3). */
static void jpg_refine(jpg_bits *br, int16_t *coef, int p1) {
    if (jpg_getbits(br, 1) && (*coef & p1) == 0)
        *coef = (int16_t)jpg_clamp16(*coef + (*coef >= 0 ? p1 : -p1));
}

static int jpg_ac_refine(jpg_bits *br, const jpg_huff *ac, int16_t *co, int ss, int se, int al, int *eobrun) {
    int p1 = 1 << al, k = ss;
    if (*eobrun == 0) {
        for (; k <= se; k++) {
            int rs = jpg_decode(br, ac);
            if (rs < 0) return -1;
            int r = rs >> 4, s = rs & 15, val = 0;
            if (s) {
                if (s != 1) return -1;
                val = jpg_getbits(br, 1) ? p1 : -p1;
            } else if (r != 15) {
                *eobrun = 1 << r;
                if (r) *eobrun += jpg_getbits(br, r);
                break;
            }
            /* skip r zero-history coefficients, refining non-zero ones on the way */
            for (; k <= se; k++) {
                int16_t *cp = &co[jpg_zz[k]];
                if (*cp) jpg_refine(br, cp, p1);
                else if (--r < 0) break;
            }
            if (val) {
                if (k > se) return -1;
                co[jpg_zz[k]] = (int16_t)val;
            }
        }
    }
    if (*eobrun > 0) {
        for (; k <= se; k++) {
            int16_t *cp = &co[jpg_zz[k]];
            if (*cp) jpg_refine(br, cp, p1);
        }
        (*eobrun)--;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Scan decoding                                                             */
/* ------------------------------------------------------------------------ */

/* Decodes the entropy-coded data that starts at *pos; *pos is left at (or
 * before) the marker that ends it. */
static gc_status jpg_scan(jpg_dec *d, jpg_comp **sc, int ns, int ss, int se, int ah, int al, size_t *pos) {
    jpg_bits br = {d->b + *pos, d->b + d->len, 0, 0, 0, 0};
    int      mx_n = d->mcux, my_n = d->mcuy;
    if (ns == 1) {
        mx_n = (sc[0]->cw + 7) / 8;
        my_n = (sc[0]->ch + 7) / 8;
    }
    for (int i = 0; i < ns; i++) sc[i]->pred = 0;
    int     eobrun = 0, bad = 0;
    int64_t mcu = 0;
    int32_t blk[64]; /* dequantised coefficients of one sequential block */
    for (int my = 0; my < my_n && !bad; my++) {
        for (int mx = 0; mx < mx_n && !bad; mx++, mcu++) {
            if (d->restart && mcu > 0 && mcu % d->restart == 0) {
                if (jpg_overran(&br)) return gc_error(GC_ERR_FORMAT, "jpeg: entropy-coded data ends early (restart interval before MCU %lld)", (long long)mcu);
                jpg_restart(&br);
                for (int i = 0; i < ns; i++) sc[i]->pred = 0;
                eobrun = 0;
            }
            if (jpg_overran(&br)) /* refuse now rather than decode zeros to the end */
                return gc_error(GC_ERR_FORMAT, "jpeg: entropy-coded data of scan %d ends early (MCU %lld)", d->scans, (long long)mcu);
            for (int i = 0; i < ns && !bad; i++) {
                jpg_comp *c = sc[i];
                int       nh = ns == 1 ? 1 : c->h, nv = ns == 1 ? 1 : c->v;
                for (int by = 0; by < nv && !bad; by++) {
                    for (int bx = 0; bx < nh && !bad; bx++) {
                        int col = ns == 1 ? mx : mx * c->h + bx, row = ns == 1 ? my : my * c->v + by;
                        if (!d->progressive) {
                            bad = jpg_block_seq(&br, &d->dc[c->td], &d->ac[c->ta], c, blk);
                            if (!bad)
                                jpg_idct_put(d->idct, blk, c->plane + (size_t)row * 8 * c->bw * 8 + (size_t)col * 8, (size_t)c->bw * 8);
                            continue;
                        }
                        int16_t *co = c->coef + ((size_t)row * c->bw + col) * 64;
                        if (ss == 0) {
                            if (ah == 0) bad = jpg_dc_first(&br, &d->dc[c->td], c, co, al);
                            else if (jpg_getbits(&br, 1)) co[0] = (int16_t)(co[0] | (1 << al));
                        } else if (ah == 0) {
                            bad = jpg_ac_first(&br, &d->ac[c->ta], co, ss, se, al, &eobrun);
                        } else {
                            bad = jpg_ac_refine(&br, &d->ac[c->ta], co, ss, se, al, &eobrun);
                        }
                    }
                }
            }
        }
    }
    if (bad) return gc_error(GC_ERR_FORMAT, "jpeg: corrupt entropy-coded data in scan %d (MCU %lld)", d->scans, (long long)mcu);
    if (jpg_overran(&br)) return gc_error(GC_ERR_FORMAT, "jpeg: entropy-coded data of scan %d ends early", d->scans);
    *pos = (size_t)(br.p - d->b);
    return GC_OK;
}

/* ------------------------------------------------------------------------ */
/* Marker segments (B.2, B.3)                                                */
/* ------------------------------------------------------------------------ */

static gc_status jpg_dqt(jpg_dec *d, const uint8_t *p, size_t n) {
    while (n > 0) {
        int pq = p[0] >> 4, tq = p[0] & 15;
        if (pq > 1 || tq > 3) return gc_error(GC_ERR_FORMAT, "jpeg: DQT precision %d / table %d invalid", pq, tq);
        size_t need = 1 + 64 * (size_t)(pq + 1);
        if (n < need) return gc_error(GC_ERR_FORMAT, "jpeg: DQT segment too short");
        for (int k = 0; k < 64; k++) d->qt[tq][jpg_zz[k]] = (uint16_t)(pq ? jpg_u16(p + 1 + 2 * k) : p[1 + k]);
        d->qt_def[tq] = 1;
        p += need;
        n -= need;
    }
    return GC_OK;
}

static gc_status jpg_dht(jpg_dec *d, const uint8_t *p, size_t n) {
    while (n > 0) {
        if (n < 17) return gc_error(GC_ERR_FORMAT, "jpeg: DHT segment too short");
        int tc = p[0] >> 4, th = p[0] & 15, total = 0;
        if (tc > 1 || th > 3) return gc_error(GC_ERR_FORMAT, "jpeg: DHT class %d / table %d invalid", tc, th);
        for (int i = 0; i < 16; i++) total += p[1 + i];
        if (total > 256 || n < 17 + (size_t)total) return gc_error(GC_ERR_FORMAT, "jpeg: DHT table with %d codes does not fit its segment", total);
        gc_status st = jpg_huff_build(tc ? &d->ac[th] : &d->dc[th], p + 1, p + 17, total, tc == 0);
        if (st) return st;
        p += 17 + total;
        n -= 17 + (size_t)total;
    }
    return GC_OK;
}

/* EXIF APP1: TIFF header, IFD0, tag 0x0112 (orientation). Any problem: ignored. */
static void jpg_exif(jpg_dec *d, const uint8_t *p, size_t n) {
    if (n < 14 || memcmp(p, "Exif\0\0", 6) != 0) return;
    p += 6;
    n -= 6;
    int le;
    if (p[0] == 'I' && p[1] == 'I' && p[2] == 42 && p[3] == 0) le = 1;
    else if (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && p[3] == 42) le = 0;
    else return;
#define EX16(q) (le ? (uint32_t)((q)[0] | ((q)[1] << 8)) : (uint32_t)(((q)[0] << 8) | (q)[1]))
#define EX32(q) (le ? (EX16(q) | (EX16((q) + 2) << 16)) : ((EX16(q) << 16) | EX16((q) + 2)))
    uint32_t ifd = EX32(p + 4);
    if (ifd > n || n - ifd < 2) return;
    uint32_t cnt = EX16(p + ifd);
    if ((n - ifd - 2) / 12 < cnt) return;
    for (uint32_t i = 0; i < cnt; i++) {
        const uint8_t *e = p + ifd + 2 + 12 * i;
        if (EX16(e) == 0x0112 && EX16(e + 2) == 3 && EX32(e + 4) == 1) {
            uint32_t o = EX16(e + 8);
            if (o >= 1 && o <= 8) d->orientation = (int)o;
            return;
        }
    }
#undef EX16
#undef EX32
}

static gc_status jpg_sof(jpg_dec *d, const uint8_t *p, size_t n, const gc_image_limits *lim) {
    if (d->frame) return gc_error(GC_ERR_FORMAT, "jpeg: more than one frame header");
    if (n < 6) return gc_error(GC_ERR_FORMAT, "jpeg: SOF segment too short");
    int prec = p[0];
    d->Y = jpg_u16(p + 1);
    d->X = jpg_u16(p + 3);
    d->nc = p[5];
    if (prec == 12 || prec == 16) return gc_error(GC_ERR_UNSUPPORTED, "jpeg: %d-bit JPEG is not supported (8-bit only)", prec);
    if (prec != 8) return gc_error(GC_ERR_FORMAT, "jpeg: sample precision %d invalid", prec);
    if (n != 6 + 3 * (size_t)d->nc) return gc_error(GC_ERR_FORMAT, "jpeg: SOF length does not match %d components", d->nc);
    if (d->nc == 4) return gc_error(GC_ERR_UNSUPPORTED, "jpeg: 4-component (CMYK/YCCK) JPEG is not supported");
    if (d->nc != 1 && d->nc != 3) return gc_error(GC_ERR_UNSUPPORTED, "jpeg: %d components not supported (1 or 3)", d->nc);
    if (d->Y == 0) return gc_error(GC_ERR_UNSUPPORTED, "jpeg: height defined by DNL is not supported");
    if (d->X == 0) return gc_error(GC_ERR_FORMAT, "jpeg: image width is 0");
    int64_t px = (int64_t)d->X * d->Y;
    if (d->X > lim->max_dimension || d->Y > lim->max_dimension || px > lim->max_pixels)
        return gc_error(GC_ERR_LIMIT, "jpeg: %dx%d image exceeds limits (%d per side, %lld pixels)", d->X, d->Y,
                        (int)lim->max_dimension, (long long)lim->max_pixels);
    d->hmax = d->vmax = 1;
    for (int i = 0; i < d->nc; i++) {
        jpg_comp *c = &d->comp[i];
        c->id = p[6 + 3 * i];
        c->h = p[7 + 3 * i] >> 4;
        c->v = p[7 + 3 * i] & 15;
        c->tq = p[8 + 3 * i];
        if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4 || c->tq > 3)
            return gc_error(GC_ERR_FORMAT, "jpeg: component %d has sampling %dx%d / table %d", c->id, c->h, c->v, c->tq);
        for (int j = 0; j < i; j++)
            if (d->comp[j].id == c->id) return gc_error(GC_ERR_FORMAT, "jpeg: duplicate component id %d", c->id);
        if (c->h > d->hmax) d->hmax = c->h;
        if (c->v > d->vmax) d->vmax = c->v;
    }
    d->mcux = (d->X + 8 * d->hmax - 1) / (8 * d->hmax);
    d->mcuy = (d->Y + 8 * d->vmax - 1) / (8 * d->vmax);
    /* Every block costs at least one entropy-coded bit (its first DC code),
     * so the bytes after this header bound the real size: a tiny file
     * claiming a huge frame is refused before anything is allocated. */
    uint64_t min_bits = 0;
    for (int i = 0; i < d->nc; i++) {
        const jpg_comp *c = &d->comp[i];
        uint64_t cw = ((uint64_t)d->X * (uint64_t)c->h + (uint64_t)d->hmax - 1) / (uint64_t)d->hmax;
        uint64_t ch = ((uint64_t)d->Y * (uint64_t)c->v + (uint64_t)d->vmax - 1) / (uint64_t)d->vmax;
        min_bits += ((cw + 7) / 8) * ((ch + 7) / 8);
    }
    size_t after = d->len - (size_t)(p - d->b) - n;
    if ((uint64_t)after * 8 < min_bits)
        return gc_error(GC_ERR_FORMAT, "jpeg: %dx%d image needs at least %llu bytes of coded data, the file has %zu left",
                        d->X, d->Y, (unsigned long long)((min_bits + 7) / 8), after);
    for (int i = 0; i < d->nc; i++) {
        jpg_comp *c = &d->comp[i];
        c->cw = (d->X * c->h + d->hmax - 1) / d->hmax;
        c->ch = (d->Y * c->v + d->vmax - 1) / d->vmax;
        c->bw = d->mcux * c->h;
        c->bh = d->mcuy * c->v;
        size_t blocks, bytes;
        if (gc_mul_size((size_t)c->bw, (size_t)c->bh, &blocks) || gc_mul_size(blocks, 64, &bytes))
            return gc_error(GC_ERR_OUT_OF_MEMORY, "jpeg: plane size overflows");
        c->plane = gc_alloc(bytes);
        if (!c->plane) return GC_ERR_OUT_OF_MEMORY;
        memset(c->plane, 128, bytes);
        if (d->progressive) {
            c->coef = gc_calloc(bytes, sizeof(int16_t));
            if (!c->coef) return GC_ERR_OUT_OF_MEMORY;
        }
        memset(c->sa_bit, -1, sizeof c->sa_bit);
    }
    d->frame = 1;
    return GC_OK;
}

/* SOS header: validates it, then decodes the scan's entropy data. */
static gc_status jpg_sos(jpg_dec *d, const uint8_t *p, size_t n, size_t *pos) {
    if (!d->frame) return gc_error(GC_ERR_FORMAT, "jpeg: SOS before SOF");
    if (n < 1) return gc_error(GC_ERR_FORMAT, "jpeg: SOS segment too short");
    int ns = p[0];
    if (ns < 1 || ns > 4 || n != 4 + 2 * (size_t)ns) return gc_error(GC_ERR_FORMAT, "jpeg: SOS with %d components has length %zu", ns, n);
    jpg_comp *sc[4];
    int       blocks = 0;
    for (int i = 0; i < ns; i++) {
        int id = p[1 + 2 * i], j;
        for (j = 0; j < d->nc && d->comp[j].id != id; j++) {}
        if (j == d->nc) return gc_error(GC_ERR_FORMAT, "jpeg: scan names unknown component id %d", id);
        for (int k = 0; k < i; k++)
            if (sc[k] == &d->comp[j]) return gc_error(GC_ERR_FORMAT, "jpeg: scan names component %d twice", id);
        sc[i] = &d->comp[j];
        sc[i]->td = p[2 + 2 * i] >> 4;
        sc[i]->ta = p[2 + 2 * i] & 15;
        if (sc[i]->td > 3 || sc[i]->ta > 3) return gc_error(GC_ERR_FORMAT, "jpeg: scan Huffman table index > 3");
        blocks += sc[i]->h * sc[i]->v;
    }
    if (ns > 1 && blocks > 10) return gc_error(GC_ERR_FORMAT, "jpeg: interleaved MCU has %d blocks (max 10)", blocks);
    int ss = p[1 + 2 * ns], se = p[2 + 2 * ns], ah = p[3 + 2 * ns] >> 4, al = p[3 + 2 * ns] & 15;
    if (d->progressive) {
        if (ss > se || se > 63 || (ss == 0 && se != 0) || (ss > 0 && ns != 1) || al > 13 || (ah && al != ah - 1))
            return gc_error(GC_ERR_FORMAT, "jpeg: invalid progressive scan parameters Ss=%d Se=%d Ah=%d Al=%d", ss, se, ah, al);
        for (int i = 0; i < ns; i++) {
            jpg_comp *c = sc[i];
            if (ss > 0 && c->sa_bit[0] < 0) return gc_error(GC_ERR_FORMAT, "jpeg: AC scan of component %d before its DC scan", c->id);
            for (int k = ss; k <= se; k++) {
                if (c->sa_bit[k] != (ah ? ah : -1))
                    return gc_error(GC_ERR_FORMAT, "jpeg: scan Ah=%d does not follow coefficient %d's previous scan", ah, k);
                c->sa_bit[k] = (int8_t)al;
            }
        }
    } else {
        ss = 0;
        se = 63;
        ah = al = 0;
    }
    for (int i = 0; i < ns; i++) {
        jpg_comp *c = sc[i];
        if (!c->q_latched) {
            if (!d->qt_def[c->tq]) return gc_error(GC_ERR_FORMAT, "jpeg: quantisation table %d used but not defined", c->tq);
            memcpy(c->q, d->qt[c->tq], sizeof c->q);
            c->q_latched = 1;
        }
        int need_dc = ss == 0 && ah == 0, need_ac = !d->progressive || ss > 0;
        if (need_dc && !d->dc[c->td].defined) return gc_error(GC_ERR_FORMAT, "jpeg: DC Huffman table %d used but not defined", c->td);
        if (need_ac && !d->ac[c->ta].defined) return gc_error(GC_ERR_FORMAT, "jpeg: AC Huffman table %d used but not defined", c->ta);
    }
    if (++d->scans > JPG_MAX_SCANS) return gc_error(GC_ERR_FORMAT, "jpeg: more than %d scans", JPG_MAX_SCANS);
    return jpg_scan(d, sc, ns, ss, se, ah, al, pos);
}

/* ------------------------------------------------------------------------ */
/* Output: upsampling (libjpeg "fancy" triangle filter for 2x), colour       */
/* ------------------------------------------------------------------------ */

/* Component c's samples for output row y, upsampled to width X, into out. */
static void jpg_upsample_row(const jpg_dec *d, const jpg_comp *c, int y, int *colsum, uint8_t *out) {
    int            fx = d->hmax / c->h, fy = d->vmax / c->v, cw = c->cw, X = d->X;
    size_t         stride = (size_t)c->bw * 8;
    int            exact = fx * c->h == d->hmax && fy * c->v == d->vmax;
    int            fancy_h = exact && fx == 2 && cw > 2, fancy_v = exact && fy == 2 && (fx == 1 || fancy_h);
    if (fx == 1 && fy == 1 && exact) {
        memcpy(out, c->plane + (size_t)y * stride, (size_t)X);
        return;
    }
    if (fancy_v) {
        int            r = y / 2, far = (y & 1) ? r + 1 : r - 1;
        if (far < 0) far = 0;
        if (far > c->ch - 1) far = c->ch - 1;
        const uint8_t *a = c->plane + (size_t)r * stride, *b = c->plane + (size_t)far * stride;
        if (fx == 1) { /* h1v2: (3 near + far + 1 or 2) / 4 */
            int bias = (y & 1) ? 2 : 1;
            for (int x = 0; x < X; x++) out[x] = (uint8_t)((3 * a[x] + b[x] + bias) >> 2);
            return;
        }
        for (int i = 0; i < cw; i++) colsum[i] = 3 * a[i] + b[i];
        for (int x = 0; x < X; x++) { /* h2v2: (3 this + neighbour + 8 or 7) / 16 */
            int i = x >> 1, nb = (x & 1) ? (i + 1 < cw ? i + 1 : i) : (i > 0 ? i - 1 : 0);
            out[x] = (uint8_t)((3 * colsum[i] + colsum[nb] + ((x & 1) ? 7 : 8)) >> 4);
        }
        return;
    }
    int            r = exact ? y / fy : (int)((int64_t)y * c->v / d->vmax);
    const uint8_t *a = c->plane + (size_t)r * stride;
    if (fancy_h && fy == 1) { /* h2v1: (3 this + neighbour + 1 or 2) / 4 */
        for (int x = 0; x < X; x++) {
            int i = x >> 1, nb = (x & 1) ? (i + 1 < cw ? i + 1 : i) : (i > 0 ? i - 1 : 0);
            out[x] = (uint8_t)((3 * a[i] + a[nb] + ((x & 1) ? 2 : 1)) >> 2);
        }
        return;
    }
    for (int x = 0; x < X; x++) out[x] = a[exact ? x / fx : (int)((int64_t)x * c->h / d->hmax)];
}

/* Colour conversion and EXIF orientation into out (allocated here). */
static gc_status jpg_output(jpg_dec *d, gc_image *out) {
    int    X = d->X, Y = d->Y, nch = d->nc == 1 ? 1 : 3, o = d->orientation ? d->orientation : 1;
    int    W2 = o >= 5 ? Y : X, H2 = o >= 5 ? X : Y;
    int    rgb = d->nc == 3 && ((d->adobe && d->adobe_transform == 0) ||
                                (!d->adobe && !d->jfif && d->comp[0].id == 'R' && d->comp[1].id == 'G' && d->comp[2].id == 'B'));
    size_t npx = (size_t)X * (size_t)Y, bytes;
    if (gc_mul_size(npx, (size_t)nch, &bytes)) return gc_error(GC_ERR_OUT_OF_MEMORY, "jpeg: image size overflows");
    uint8_t *img = gc_alloc(bytes);
    uint8_t *rows = gc_alloc_array((size_t)X, 8); /* 3 upsampled rows of X bytes, then colsum: X ints at 4X */
    if (!img || !rows) {
        gc_free(img);
        gc_free(rows);
        return GC_ERR_OUT_OF_MEMORY;
    }
    uint8_t *r0 = rows, *r1 = rows + X, *r2 = rows + 2 * (size_t)X;
    int     *colsum = (int *)(void *)(rows + 4 * (size_t)X); /* int-aligned: 4X bytes in */
    for (int y = 0; y < Y; y++) {
        jpg_upsample_row(d, &d->comp[0], y, colsum, r0);
        if (nch == 3) {
            jpg_upsample_row(d, &d->comp[1], y, colsum, r1);
            jpg_upsample_row(d, &d->comp[2], y, colsum, r2);
        }
        for (int x = 0; x < X; x++) {
            int xo, yo;
            switch (o) {
            case 2: xo = X - 1 - x, yo = y; break;
            case 3: xo = X - 1 - x, yo = Y - 1 - y; break;
            case 4: xo = x, yo = Y - 1 - y; break;
            case 5: xo = y, yo = x; break;
            case 6: xo = Y - 1 - y, yo = x; break;
            case 7: xo = Y - 1 - y, yo = X - 1 - x; break;
            case 8: xo = y, yo = X - 1 - x; break;
            default: xo = x, yo = y; break;
            }
            uint8_t *px = img + ((size_t)yo * W2 + xo) * nch;
            if (nch == 1) {
                px[0] = r0[x];
            } else if (rgb) {
                px[0] = r0[x], px[1] = r1[x], px[2] = r2[x];
            } else { /* JFIF: R = Y + 1.402 Cr', G = Y - 0.34414 Cb' - 0.71414 Cr', B = Y + 1.772 Cb' (16.16 fixed point) */
                int yy = r0[x], cb = r1[x] - 128, cr = r2[x] - 128;
                px[0] = jpg_clamp8(yy + ((91881 * cr + 32768) >> 16));
                px[1] = jpg_clamp8(yy + ((-22554 * cb - 46802 * cr + 32768) >> 16));
                px[2] = jpg_clamp8(yy + ((116130 * cb + 32768) >> 16));
            }
        }
    }
    gc_free(rows);
    out->width = W2;
    out->height = H2;
    out->channels = nch;
    out->bit_depth = 8;
    out->data = img;
    return GC_OK;
}

/* Progressive: dequantise and inverse-transform every stored block. */
static void jpg_finish_progressive(jpg_dec *d) {
    int32_t blk[64];
    for (int i = 0; i < d->nc; i++) {
        jpg_comp *c = &d->comp[i];
        size_t    stride = (size_t)c->bw * 8;
        for (int by = 0; by < c->bh; by++)
            for (int bx = 0; bx < c->bw; bx++) {
                const int16_t *co = c->coef + ((size_t)by * c->bw + bx) * 64;
                for (int k = 0; k < 64; k++) blk[k] = co[k] * c->q[k];
                jpg_idct_put(d->idct, blk, c->plane + (size_t)by * 8 * stride + (size_t)bx * 8, stride);
            }
    }
}

/* ------------------------------------------------------------------------ */
/* Marker loop                                                               */
/* ------------------------------------------------------------------------ */

/* Next marker at or after *pos (skips fill bytes, stuffed zeros and stray
 * RSTn); returns its code and leaves *pos after it, or -1 at the end. */
static int jpg_next_marker(const uint8_t *b, size_t len, size_t *pos) {
    size_t p = *pos;
    for (;;) {
        while (p < len && b[p] != 0xFF) p++;
        while (p < len && b[p] == 0xFF) p++;
        if (p >= len) return -1;
        int m = b[p++];
        if (m == 0 || (m >= 0xD0 && m <= 0xD7)) continue;
        *pos = p;
        return m;
    }
}

static gc_status jpg_run(jpg_dec *d, const gc_image_limits *lim, gc_image *out) {
    const uint8_t *b = d->b;
    size_t         len = d->len, pos = 2;
    if (len < 2 || b[0] != 0xFF || b[1] != 0xD8) return gc_error(GC_ERR_FORMAT, "jpeg: missing SOI marker");
    for (;;) {
        int m = jpg_next_marker(b, len, &pos);
        if (m < 0) return gc_error(GC_ERR_FORMAT, "jpeg: truncated (no EOI marker after %d scans)", d->scans);
        if (m == 0xD9) break;
        if (m == 0x01) continue;
        if (m == 0xD8) return gc_error(GC_ERR_FORMAT, "jpeg: unexpected SOI marker");
        if (len - pos < 2) return gc_error(GC_ERR_FORMAT, "jpeg: truncated marker segment 0x%02X", m);
        size_t seg = (size_t)jpg_u16(b + pos);
        if (seg < 2 || seg > len - pos) return gc_error(GC_ERR_FORMAT, "jpeg: marker segment 0x%02X of length %zu does not fit", m, seg);
        const uint8_t *p = b + pos + 2;
        size_t         n = seg - 2;
        pos += seg;
        gc_status st = GC_OK;
        switch (m) {
        case 0xC0: case 0xC1: case 0xC2:
            d->progressive = m == 0xC2;
            st = jpg_sof(d, p, n, lim);
            break;
        case 0xC3:
            return gc_error(GC_ERR_UNSUPPORTED, "jpeg: lossless JPEG is not supported");
        case 0xC5: case 0xC6: case 0xC7: case 0xDE: case 0xDF:
            return gc_error(GC_ERR_UNSUPPORTED, "jpeg: hierarchical JPEG is not supported");
        case 0xC9: case 0xCA: case 0xCB: case 0xCD: case 0xCE: case 0xCF: case 0xCC:
            return gc_error(GC_ERR_UNSUPPORTED, "jpeg: arithmetic-coded JPEG is not supported");
        case 0xC4: st = jpg_dht(d, p, n); break;
        case 0xDB: st = jpg_dqt(d, p, n); break;
        case 0xDD:
            if (n != 2) return gc_error(GC_ERR_FORMAT, "jpeg: DRI segment length %zu", n);
            d->restart = jpg_u16(p);
            break;
        case 0xDA: st = jpg_sos(d, p, n, &pos); break;
        case 0xDC: return gc_error(GC_ERR_UNSUPPORTED, "jpeg: DNL marker is not supported");
        case 0xE0:
            if (n >= 5 && memcmp(p, "JFIF\0", 5) == 0) d->jfif = 1;
            break;
        case 0xE1:
            if (!d->orientation) jpg_exif(d, p, n);
            break;
        case 0xEE:
            if (n >= 12 && memcmp(p, "Adobe", 5) == 0) d->adobe = 1, d->adobe_transform = p[11];
            break;
        default: break; /* APPn, COM, JPGn: skipped */
        }
        if (st) return st;
    }
    if (!d->frame) return gc_error(GC_ERR_FORMAT, "jpeg: no frame header before EOI");
    if (!d->scans) return gc_error(GC_ERR_FORMAT, "jpeg: no scan before EOI");
    if (d->progressive) jpg_finish_progressive(d);
    return jpg_output(d, out);
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                               */
/* ------------------------------------------------------------------------ */

gc_status gc_image_decode_jpeg(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!buf || !out) return gc_error(GC_ERR_INVALID_ARGUMENT, "jpeg: NULL argument");
    gc_image_limits lim = limits ? *limits : gc_image_limits_default();
    jpg_dec *d = gc_calloc(1, sizeof *d);
    if (!d) return GC_ERR_OUT_OF_MEMORY;
    d->b = buf;
    d->len = len;
    jpg_idct_init(d->idct);
    gc_status st = jpg_run(d, &lim, out);
    for (int i = 0; i < 4; i++) {
        gc_free(d->comp[i].plane);
        gc_free(d->comp[i].coef);
    }
    gc_free(d);
    return st;
}
