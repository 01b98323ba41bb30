/* conv_direct.c - stride-1 direct convolution on the padded input (contract in conv.h):
 * plan, padding, weight packing, the threaded driver and the portable 4x16 micro-kernel.
 *
 * Loops per thread: K block (CB input channels) | NR-pixel panel (its lane map) | MR-row
 * weight panel -> micro-kernel. The taps of one K block of one panel (CB x KH rows of
 * NR + KW floats) stay in L1 while every weight panel passes over them; later K blocks add
 * to the partial sums in y. */
#include "kernels/conv.h"
#include "core/core.h"
#include <string.h>


/* ---------------------------------------------------------------- plan */

#define DC_KC 256                  /* taps per K block (rounded to whole channels) */
#define DC_ROWS_A ((int64_t)1 << 18) /* packed weights up to this many floats: split rows */
#define DC_BAND ((int64_t)1 << 17) /* floats of one padded row band (rows split); wider
                                      images use the shared padded input instead */

/* A tier's kernel with its register block, and its forms on fewer lanes: narrow[v - 1] on v
 * vectors of vl lanes (NULL: none), for the last pixels of a band. */
typedef struct dc_impl { gc_dc_ukernel kernel; int mr, nr; gc_dc_ukernel narrow[2]; int vl; } dc_impl;

/* Every tier's kernel with its register block; [0] portable, [1] AVX2, [2] AVX-512. */
static const dc_impl dc_impls[3] = {
    {gc_dconv_ukernel_portable_4x16, 4, 16, {NULL, NULL}, 16},
    {gc_dconv_ukernel_avx2_4x24, 4, 24, {NULL, NULL}, 24},
    {gc_dconv_ukernel_avx512_8x48, 8, 48, {gc_dconv_ukernel_avx512_8x16, gc_dconv_ukernel_avx512_8x32}, 16},
};

static const dc_impl *dc_impl_of(gc_gemm_tier tier) {
    switch (gc_gemm_resolve(tier == GC_GEMM_REFERENCE ? GC_GEMM_PORTABLE : tier)) {
    case GC_GEMM_AVX512: return &dc_impls[2];
    case GC_GEMM_AVX2: return &dc_impls[1];
    default: return &dc_impls[0];
    }
}

typedef struct dc_plan {
    int64_t Hp, Wp, KK, K;   /* padded input size, taps per channel, taps */
    int64_t CB, KC;          /* input channels and taps per K block */
    int64_t np;              /* MR-row panels of output channels */
    int rows;                /* 1: threads split output rows and pad their own row bands;
                                0: one shared padded input, threads split weight panels */
    int64_t R, cs;           /* output rows per band; channel stride of the padded buffer */
    size_t off, a, src;      /* floats: tap offsets (int64), packed weight panels, padded input(s) */
} dc_plan;

static size_t r16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Rows share their zero columns: a row's right padding is the next row's left padding
 * (stored rows are PW zeros then the W inputs), which every output column still sees when it
 * is at most the row (PW <= DW(KW-1)); fewer computed columns that are never stored. */
static int64_t dc_wp(const gc_dconv *p) { return p->W + (p->PW <= p->DW * (p->KW - 1) ? p->PW : 2 * p->PW); }

/* 0 on success, 1 on overflow. */
static int dc_plan_make(const gc_dconv *p, const dc_impl *im, dc_plan *q) {
    int64_t t, slack, band;
    q->Hp = p->H + 2 * p->PH;
    q->Wp = dc_wp(p);
    q->KK = p->KH * p->KW;
    if (gc_mul_i64(p->Ci, q->KK, &q->K)) return 1;
    q->CB = DC_KC / q->KK < 1 ? 1 : DC_KC / q->KK;
    if (q->CB > p->Ci) q->CB = p->Ci;
    q->KC = q->CB * q->KK;
    q->np = (p->Co + im->mr - 1) / im->mr;
    if (gc_mul_i64(q->np * im->mr, q->K, &t) || t > (int64_t)(SIZE_MAX / 8)) return 1;
    q->a = r16((size_t)(p->flip ? t : im->mr * q->K));   /* flipped: all panels; else the last */
    q->off = r16((size_t)q->KC * 2);
    slack = im->nr + (p->KW - 1) * p->DW;
    const int64_t halo = (p->KH - 1) * p->DH;
    int64_t row_floats;   /* one padded row of every input channel */
    if (gc_mul_i64(p->Ci, q->Wp, &row_floats)) return 1;
    q->rows = t <= DC_ROWS_A && row_floats <= DC_BAND / (halo + 1);   /* bands of >= 1 row fit */
    if (q->rows) {
        q->R = DC_BAND / row_floats - halo;
        if (q->R > p->OH) q->R = p->OH;
        if (gc_mul_i64(q->R + halo, q->Wp, &q->cs) || gc_mul_i64(q->cs, p->Ci, &band) ||
            band > (int64_t)(SIZE_MAX / 8 / GC_DC_SLOTS) - slack)
            return 1;
        q->src = r16((size_t)(band + slack)) * GC_DC_SLOTS;
    } else {
        if (gc_mul_i64(q->Hp, q->Wp, &q->cs) || gc_mul_i64(q->cs, p->Ci, &band) ||
            band > (int64_t)(SIZE_MAX / 8) - slack)
            return 1;
        q->src = r16((size_t)(band + slack));
    }
    return q->off > SIZE_MAX / 4 - q->a - q->src;
}

static size_t ch_workspace(const gc_dconv *p, int what);

/* The largest of every tier's (whatever this CPU runs) and the channel form's: what = 0 the
 * whole workspace, 1 one worker's slot (a row band, or the channel form's padded input), 2 the
 * workspace without the slots. */
static size_t dc_sizes(const gc_dconv *p, int what) {
    size_t s = ch_workspace(p, what);
    for (int i = 0; i < 3; i++) {
        dc_plan q;
        if (dc_plan_make(p, &dc_impls[i], &q)) return what == 1 ? 0 : SIZE_MAX;
        const size_t band = q.rows ? q.src / GC_DC_SLOTS : 0;
        const size_t n = what == 0 ? q.off + q.a + q.src : what == 1 ? band : q.off + q.a + (q.rows ? 0 : q.src);
        if (n > s) s = n;
    }
    return s;
}

size_t gc_dconv_workspace(const gc_dconv *p) { return dc_sizes(p, 0); }
size_t gc_dconv_slot_floats(const gc_dconv *p) { return dc_sizes(p, 1); }
size_t gc_dconv_shared_floats(const gc_dconv *p) { return dc_sizes(p, 2); }

/* ---------------------------------------------------------------- operands */

/* dst[c * cs + r * Wp + j] = padded input row row0 + r of channel c, for c in [c0, c1). */
static void dc_pad(const gc_dconv *p, int64_t Wp, const float *x, int64_t c0, int64_t c1,
                   int64_t row0, int64_t nrow, float *dst, int64_t cs) {
    for (int64_t c = c0; c < c1; c++)
        for (int64_t r = 0; r < nrow; r++) {
            const int64_t ih = row0 + r - p->PH;
            float *d = dst + c * cs + r * Wp;   /* (Wp) */
            if (ih < 0 || ih >= p->H) { memset(d, 0, (size_t)Wp * sizeof(float)); continue; }
            memset(d, 0, (size_t)p->PW * sizeof(float));
            memcpy(d + p->PW, x + (c * p->H + ih) * p->W, (size_t)p->W * sizeof(float));
            memset(d + p->PW + p->W, 0, (size_t)(Wp - p->PW - p->W) * sizeof(float));
        }
}

/* Weight panel ip: ap[k * MR + r] = A[ip*MR + r][k], k = c*KK + t, rows >= Co zero;
 * A[o][c*KK + t] = w[(o*Ci + c)*KK + t], or w[(c*Co + o)*KK + KK-1-t] when flipped. */
static void dc_pack(const gc_dconv *p, const dc_plan *q, int mr, const float *w, int64_t ip,
                    float *ap) {
    const int m = (int)(p->Co - ip * mr < mr ? p->Co - ip * mr : mr);
    for (int r = 0; r < mr; r++) {
        const int64_t o = ip * mr + r;
        if (r >= m) {
            for (int64_t k = 0; k < q->K; k++) ap[k * mr + r] = 0.0f;
        } else if (!p->flip) {
            const float *wo = w + o * q->K;   /* (Ci * KK) */
            for (int64_t k = 0; k < q->K; k++) ap[k * mr + r] = wo[k];
        } else {
            for (int64_t c = 0; c < p->Ci; c++) {
                const float *wc = w + (c * p->Co + o) * q->KK;   /* (KK) */
                for (int64_t t = 0; t < q->KK; t++) ap[(c * q->KK + t) * mr + r] = wc[q->KK - 1 - t];
            }
        }
    }
}

/* Weights of panel ip as the kernel reads them (a[r*rs + k*ks]): rows of w itself when
 * they are whole and not flipped, else packed into ap by dc_pack. */
static int dc_packed(const gc_dconv *p, int mr, int64_t ip) { return p->flip || (ip + 1) * mr > p->Co; }

static float *dc_pack_dst(const gc_dconv *p, const dc_plan *q, int mr, float *ap, int64_t ip) {
    return p->flip ? ap + ip * mr * q->K : ap;
}

static const float *dc_panel(const gc_dconv *p, const dc_plan *q, int mr, const float *w,
                             float *ap, int64_t ip, int64_t *rs, int64_t *ks) {
    if (!dc_packed(p, mr, ip)) { *rs = q->K; *ks = 1; return w + ip * mr * q->K; }
    *rs = 1;
    *ks = mr;
    return dc_pack_dst(p, q, mr, ap, ip);
}

/* Lane map of the panel at flat pixel q0 of a source whose row 0 is output row r0, lanes
 * below flat pixel qe only. */
static void dc_map(const gc_dconv *p, int64_t Wp, int nr, int64_t r0, int64_t q0, int64_t qe,
                   gc_dc_map *m) {
    m->nseg = 0;
    for (int l = 0; l < nr && q0 + l < qe;) {
        const int64_t qq = q0 + l, row = qq / Wp, j = qq % Wp;
        int64_t n = nr - l;
        if (n > Wp - j) n = Wp - j;
        if (n > qe - qq) n = qe - qq;
        if (j < p->OW) {
            const int64_t cnt = n < p->OW - j ? n : p->OW - j;
            m->dst[m->nseg] = (r0 + row) * p->OW + j - l;
            m->mask[m->nseg] = (cnt >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << cnt) - 1)) << l;
            m->nseg++;
        }
        l += (int)n;
    }
}

/* y rows [i0, i1) of weight panels [p0, p1) from the padded source src (row 0 = padded
 * row r0, channel stride q->cs). */
static void dc_tiles(const dc_impl *im, const gc_dconv *p, const dc_plan *q, const float *w,
                     float *ap, const int64_t *off, const float *src, int64_t r0, int64_t i0, int64_t i1,
                     int64_t p0, int64_t p1, const float *bias, float *y) {
    /* flat pixels [qa, qe): rows i0 .. i1 - 1, the last one up to its last output column */
    const int64_t P = p->OH * p->OW, qa = (i0 - r0) * q->Wp, qe = (i1 - r0 - 1) * q->Wp + p->OW;
    const int mr = im->mr, nr = im->nr;
    gc_dc_map map;
    for (int64_t c0 = 0; c0 < p->Ci; c0 += q->CB) {
        const int64_t kc = (p->Ci - c0 < q->CB ? p->Ci - c0 : q->CB) * q->KK;
        const float *sb = src + c0 * q->cs;
        for (int64_t q0 = qa; q0 < qe; q0 += nr) {
            dc_map(p, q->Wp, nr, r0, q0, qe, &map);
            if (!map.nseg) continue;
            const int64_t nv = qe - q0 < nr ? (qe - q0 + im->vl - 1) / im->vl : 0; /* a short panel's vectors */
            const gc_dc_ukernel kern = nv > 0 && nv <= 2 && im->narrow[nv - 1] ? im->narrow[nv - 1] : im->kernel;
            for (int64_t ip = p0; ip < p1; ip++) {
                const int m = (int)(p->Co - ip * mr < mr ? p->Co - ip * mr : mr);
                int64_t rs, ks;
                const float *a = dc_panel(p, q, mr, w, ap, ip, &rs, &ks);
                kern(kc, a + c0 * q->KK * ks, rs, ks, sb + q0, off, y + ip * mr * P, P, &map, m, c0 > 0,
                     bias ? bias + ip * mr : NULL);
            }
        }
    }
}

/* ---------------------------------------------------------------- driver */

typedef struct dc_job {
    const dc_impl *im;
    const gc_dconv *p;
    const dc_plan *q;
    const float *x, *w, *bias;
    float *y, *ap, *src;
    const int64_t *off;
    size_t slot;            /* floats of one worker's row band */
    int64_t rows;           /* output rows per band item */
    int64_t slack, halo;
} dc_job;

/* Packing items [lo, hi): weight panels, then (shared input) channels to pad. */
static void dc_prepare(void *arg, int64_t lo, int64_t hi, int worker) {
    const dc_job *j = arg;
    const gc_dconv *p = j->p;
    const dc_plan *q = j->q;
    (void)worker;
    for (int64_t i = lo; i < hi; i++) {
        if (i < q->np) {
            if (dc_packed(p, j->im->mr, i)) dc_pack(p, q, j->im->mr, j->w, i, dc_pack_dst(p, q, j->im->mr, j->ap, i));
        } else {
            const int64_t c = i - q->np;
            dc_pad(p, q->Wp, j->x, c, c + 1, 0, q->Hp, j->src, q->cs);
            if (c == p->Ci - 1) memset(j->src + p->Ci * q->cs, 0, (size_t)j->slack * sizeof(float));
        }
    }
}

/* Row bands [lo, hi): each padded into the worker's own band buffer, then every panel. */
static void dc_bands(void *arg, int64_t lo, int64_t hi, int worker) {
    const dc_job *j = arg;
    const gc_dconv *p = j->p;
    float *band = j->p->slots.base ? j->p->slots.base + (size_t)worker * j->p->slots.stride
                                   : j->src + (size_t)worker * j->slot;   /* (Ci, rows + halo, Wp) + slack */
    memset(band + p->Ci * j->q->cs, 0, (size_t)j->slack * sizeof(float));
    for (int64_t b = lo; b < hi; b++) {
        const int64_t i0 = b * j->rows, i1 = i0 + j->rows < p->OH ? i0 + j->rows : p->OH;
        dc_pad(p, j->q->Wp, j->x, 0, p->Ci, i0, j->rows + j->halo, band, j->q->cs);
        dc_tiles(j->im, p, j->q, j->w, j->ap, j->off, band, i0, i0, i1, 0, j->q->np, j->bias, j->y);
    }
}

/* Weight panels [lo, hi) over the shared padded input. */
static void dc_panels(void *arg, int64_t lo, int64_t hi, int worker) {
    const dc_job *j = arg;
    (void)worker;
    dc_tiles(j->im, j->p, j->q, j->w, j->ap, j->off, j->src, 0, 0, j->p->OH, lo, hi, j->bias, j->y);
}

/* Threads split output rows into bands (each worker pads its own, at most GC_DC_SLOTS
 * workers; bands of at most q.R rows, and small enough for four per thread) when the
 * packed weights are small, else weight panels over one padded input. Either way every y
 * element sums the same taps in the same order, whoever computes it. */
void gc_dconv_run(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                  const float *bias, float *y, float *ws) {
    const dc_impl *im = dc_impl_of(tier);
    dc_plan q;
    if (dc_plan_make(p, im, &q)) return;   /* cannot happen once the workspace was sized */
    if (q.rows) {   /* bands small enough for four per thread: a smaller channel stride */
        const int T = gc_pool_threads(pool) < GC_DC_SLOTS ? gc_pool_threads(pool) : GC_DC_SLOTS;
        const int64_t few = (p->OH + 4 * T - 1) / (4 * T);
        if (few < q.R) {
            q.R = few;
            q.cs = (q.R + (p->KH - 1) * p->DH) * q.Wp;
        }
    }
    int64_t *off = (int64_t *)(void *)ws;   /* (KC) tap offsets in a K block */
    for (int64_t k = 0; k < q.KC; k++) {
        const int64_t c = k / q.KK, u = k % q.KK / p->KW, v = k % p->KW;
        off[k] = c * q.cs + u * p->DH * q.Wp + v * p->DW;
    }
    dc_job j = {.im = im, .p = p, .q = &q, .x = x, .w = w, .bias = bias, .y = y, .ap = ws + q.off,
                .src = ws + q.off + q.a, .off = off, .slot = q.src / (q.rows ? GC_DC_SLOTS : 1),
                .slack = im->nr + (p->KW - 1) * p->DW, .halo = (p->KH - 1) * p->DH};
    if (q.rows) {
        j.rows = q.R;
        gc_pool_for(pool, q.np, 1, 0, dc_prepare, &j);
        const int slots = p->slots.base && p->slots.n >= 1 && p->slots.n < GC_DC_SLOTS ? p->slots.n : GC_DC_SLOTS;
        gc_pool_for(pool, (p->OH + j.rows - 1) / j.rows, 1, slots, dc_bands, &j);
    } else {
        gc_pool_for(pool, q.np + p->Ci, 4, 0, dc_prepare, &j);
        gc_pool_for(pool, q.np, 1, 0, dc_panels, &j);
    }
}

/* ---------------------------------------------------------------- channel-vectorised form */

#define CH_NP 14 /* pixels of a tile at most (2 x 14 accumulators) */

/* The channel form where the flat 8x48 panels compute at least 4 % more lanes (the image's
 * flat pixels up to its last output, the last panel on 16-lane vectors, channels in rows of 8)
 * than its tiles (channels in 32s). Measured (Zen 4, 2 threads, the same bits either way):
 * AlexNet conv2 (64 -> 192 5x5 at 27 x 27, flat 93 %) 2.19 -> 1.99 ms; 512 -> 512 3x3 at
 * 14 x 14 (88 %) 5.0 -> 4.2 ms; 256 -> 256 at 13 x 13 (88 %) 1.10 -> 0.92 ms; but 64 -> 64 at
 * 56 x 56 (98 %) 1.07 against 1.11 ms, ResNet's stem space to depth (97 %) 1.40 against 1.47. */
static int chan_better(const gc_dconv *p) {
    if (p->flip) return 0;
    if (p->SH > 1 || p->SW > 1) return 1; /* the flat panels run stride 1 only */
    const int64_t qe = (p->OH - 1) * dc_wp(p) + p->OW;
    const double flat = (double)(qe / 48 * 48 + (qe % 48 + 15) / 16 * 16) * (double)((p->Co + 7) / 8 * 8);
    const double chan = (double)p->OH * (double)p->OW * (double)((p->Co + 31) / 32 * 32);
    return chan * 1.04 <= flat;
}

typedef struct ch_plan {
    int64_t Wp, Hp, cs, KK, K, KC, nob, slack; /* padded size, channel stride, taps, K block, 32-channel blocks */
    size_t off, src;                           /* floats: tap offsets (int64), padded input */
} ch_plan;

/* 0 on success, 1 on overflow. */
static int ch_plan_make(const gc_dconv *p, ch_plan *c) {
    int64_t t;
    c->Wp = dc_wp(p);
    c->Hp = p->H + 2 * p->PH;
    c->KK = p->KH * p->KW;
    if (gc_mul_i64(p->Ci, c->KK, &c->K) || gc_mul_i64(c->Hp, c->Wp, &c->cs) || gc_mul_i64(c->cs, p->Ci, &t)) return 1;
    const int64_t cb = DC_KC / c->KK < 1 ? 1 : DC_KC / c->KK; /* conv_direct's K blocks: its bits */
    c->KC = (cb < p->Ci ? cb : p->Ci) * c->KK;
    c->nob = (p->Co + 31) / 32;
    c->slack = CH_NP * (p->SW > 1 ? p->SW : 1) + (p->KW - 1) * p->DW + 16;
    if (t > (int64_t)(SIZE_MAX / 8) - c->slack) return 1;
    c->off = r16((size_t)c->KC * 2);
    c->src = r16((size_t)(t + c->slack));
    return c->off > SIZE_MAX / 4 - c->src;
}

/* what: as dc_sizes (with slots, each worker pads the input into its own). */
static size_t ch_workspace(const gc_dconv *p, int what) {
    ch_plan c;
    if (!chan_better(p)) return 0;
    if (ch_plan_make(p, &c)) return what == 1 ? 0 : SIZE_MAX;
    return what == 0 ? c.off + c.src : what == 1 ? c.src : c.off;
}

/* The tiers with a channel form: AVX-512; AVX2 for strided layers (its stride-1 flat panels of 24
 * lanes waste fewer than chan_better counts for 48; not measured there) of up to 1280 taps. Its
 * tiles of 6 pixels read a block's weights 2-3 times as often as AVX-512's 14, from L2 (Zen 3,
 * one core, against space to depth or im2col + GEMM: ResNet-50's 7x7/2 stem, K 147, 3.99 ->
 * 3.02 ms, layer2.0.conv2, K 1152, 3.31 -> 3.15; layer3.0.conv2, K 2304, 3.12 -> 4.09). */
static int chan_tier(gc_gemm_tier tier, const gc_dconv *p) {
    if (tier == GC_GEMM_REFERENCE) return 0;
    const dc_impl *im = dc_impl_of(tier);
    return im == &dc_impls[2] || (im == &dc_impls[1] && (p->SH > 1 || p->SW > 1) && p->Ci * p->KH * p->KW <= 1280);
}

size_t gc_dconv_chan_floats(gc_gemm_tier tier, const gc_dconv *p) {
    ch_plan c;
    int64_t n;
    if (!chan_tier(tier, p) || !chan_better(p) || ch_plan_make(p, &c) ||
        gc_mul_i64(c.nob * 32, c.K, &n) || n > (int64_t)(SIZE_MAX / 8))
        return 0;
    return r16((size_t)n);
}

/* packed[(ob * K + k) * 32 + r] = w[(ob * 32 + r) * K + k], 0 past Co. */
void gc_dconv_chan_pack(const gc_dconv *p, const float *w, float *packed) {
    const int64_t K = p->Ci * p->KH * p->KW, nob = (p->Co + 31) / 32;
    for (int64_t ob = 0; ob < nob; ob++)
        for (int r = 0; r < 32; r++) {
            const int64_t o = ob * 32 + r;
            float *d = packed + ob * 32 * K + r;
            if (o >= p->Co)
                for (int64_t k = 0; k < K; k++) d[k * 32] = 0.0f;
            else
                for (int64_t k = 0; k < K; k++) d[k * 32] = w[o * K + k];
        }
}

typedef struct ch_job {
    const gc_dconv *p;
    const ch_plan *c;
    const float *x, *packed, *bias;
    float *y, *src;
    const int64_t *off;
    int *padded;   /* with slots: (slots) 1 once worker w padded the input into its slot, element w
                      written by worker w only */
    void (*tile)(int np, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC, int64_t cstride,
                 const float *bias, float *y, int64_t ldy, int m, int64_t sw); /* the tier's */
} ch_job;

/* Input channels [lo, hi) padded into the shared buffer (the last one also zeroes the slack). */
static void ch_pad(void *arg, int64_t lo, int64_t hi, int worker) {
    const ch_job *j = arg;
    (void)worker;
    dc_pad(j->p, j->c->Wp, j->x, lo, hi, 0, j->c->Hp, j->src, j->c->cs);
    if (hi == j->p->Ci) memset(j->src + j->p->Ci * j->c->cs, 0, (size_t)j->c->slack * sizeof(float));
}

/* Items [lo, hi) of the nob * OH (32-channel block, output row), block-major: a worker's
 * share keeps its blocks' weights in L2. Rows in tiles of at most CH_NP pixels. */
static void ch_rows(void *arg, int64_t lo, int64_t hi, int worker) {
    const ch_job *j = arg;
    const gc_dconv *p = j->p;
    const ch_plan *c = j->c;
    const int64_t P = p->OH * p->OW, nt = (p->OW + CH_NP - 1) / CH_NP;
    const float *src = j->src;
    if (j->padded) { /* the worker's own padded copy, made before its first item */
        float *own = p->slots.base + (size_t)worker * p->slots.stride;
        if (!j->padded[worker]) {
            dc_pad(p, c->Wp, j->x, 0, p->Ci, 0, c->Hp, own, c->cs);
            memset(own + p->Ci * c->cs, 0, (size_t)c->slack * sizeof(float));
            j->padded[worker] = 1;
        }
        src = own;
    }
    const int64_t sh = p->SH > 1 ? p->SH : 1, sw = p->SW > 1 ? p->SW : 1;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t ob = it / p->OH, i = it % p->OH;
        const int m = (int)(p->Co - ob * 32 < 32 ? p->Co - ob * 32 : 32);
        float bpad[32]; /* the block's bias, zero past Co (the kernel reads 32) */
        const float *bias = NULL;
        if (j->bias) {
            memset(bpad, 0, sizeof bpad);
            memcpy(bpad, j->bias + ob * 32, (size_t)m * sizeof(float));
            bias = bpad;
        }
        for (int64_t t = 0; t < nt; t++) {
            const int64_t j0 = p->OW * t / nt, j1 = p->OW * (t + 1) / nt;
            j->tile((int)(j1 - j0), j->packed + ob * 32 * c->K, src + i * sh * c->Wp + j0 * sw, j->off,
                                 c->K, c->KC, c->KC / c->KK * c->cs, bias, j->y + ob * 32 * P + i * p->OW + j0, P, m, sw);
        }
    }
}

void gc_dconv_run_packed(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                         const float *packed, const float *bias, float *y, float *ws) {
    ch_plan c;
    if (!packed || !chan_tier(tier, p) || !chan_better(p) || ch_plan_make(p, &c)) {
        gc_dconv_run(pool, tier, p, x, w, bias, y, ws);
        return;
    }
    int64_t *off = (int64_t *)(void *)ws; /* (KC) tap offsets in a K block */
    for (int64_t k = 0; k < c.KC; k++) {
        const int64_t ci = k / c.KK, u = k % c.KK / p->KW, v = k % p->KW;
        off[k] = ci * c.cs + u * p->DH * c.Wp + v * p->DW;
    }
    ch_job j = {p, &c, x, packed, bias, y, ws + c.off, off, NULL,
                dc_impl_of(tier) == &dc_impls[2] ? gc_dconv_chan_avx512 : gc_dconv_chan_avx2};
    if (p->slots.base && p->slots.n >= 1) { /* each worker reads a padded input it wrote itself */
        int padded[GC_POOL_MAX] = {0};
        j.padded = padded;
        gc_pool_for(pool, c.nob * p->OH, 1, p->slots.n, ch_rows, &j);
        return;
    }
    gc_pool_for(pool, p->Ci, 8, 0, ch_pad, &j);
    gc_pool_for(pool, c.nob * p->OH, 1, 0, ch_rows, &j);
}

/* ---------------------------------------------------------------- portable micro-kernel */

typedef float dc_v4 __attribute__((vector_size(16)));

void gc_dconv_ukernel_portable_4x16(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                    float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                    const float *bias) {
    enum { MR = 4, NR = 16 };
    dc_v4 acc[MR][NR / 4];
    float t[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < k; p++, a += ks) {
        dc_v4 bv[NR / 4];
        memcpy(bv, b + off[p], sizeof bv);
        for (int r = 0; r < MR; r++) {
            const float ai = a[r * rs];
            const dc_v4 ar = {ai, ai, ai, ai};
            for (int v = 0; v < NR / 4; v++) acc[r][v] += ar * bv[v];
        }
    }
    memcpy(t, acc, sizeof t);
    for (int s = 0; s < map->nseg; s++)
        for (int l = 0; l < NR; l++)
            if (map->mask[s] >> l & 1)
                for (int r = 0; r < m; r++) {
                    float *yr = y + r * ldy + map->dst[s] + l;
                    *yr = t[r][l] + (load ? *yr : bias ? bias[r] : 0.0f);
                }
}
