/* conv_depthwise.c - depthwise convolution (contract in conv.h): one task per (image, input
 * channel) on a zero-padded copy of its plane (a large plane's forward: of one strip of rows
 * at a time, see dw_strip_rows); the plane kernels are in conv_depthwise_tx.h
 * (this file builds the portable one). */
#define DW_TX_NAME gc_dw_plane_portable
#include "kernels/conv_depthwise_tx.h"
#include "core/core.h"
#include <string.h>

/* One call's operands; a pool item is one (image, channel) plane, or one channel for dw/db.
 * Worker k pads into scratch slot k (at most GC_DW_SLOTS workers). */
typedef struct dw_job {
    const gc_dwconv *p;
    gc_dw_plane_fn run;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw, *db, *ws;
    int64_t plane, hp, wp, rb; /* rb: output rows per strip (dw_strip_rows), 0: whole planes */
    int flat;                  /* gc_dw_flat_avx512 runs the planes */
    int chan8;                 /* gc_dw_chan8_avx2 runs the planes */
} dw_job;

/* Planes per pool item for n planes of `per` output floats each: items of about 32 K floats,
 * their count rounded up to a multiple of the pool's threads so that each thread gets an equal
 * share (960 planes of 7x7 were one item of 668 planes and one of 292); a call of less than 32 K
 * floats in all still splits over the threads if it has at least 8 K, else runs as one item. */
static int64_t dw_grain(const gc_pool *pool, int64_t n, int64_t per) {
    const int64_t t = gc_pool_threads(pool) < GC_DW_SLOTS ? gc_pool_threads(pool) : GC_DW_SLOTS;
    const int64_t total = n * (per > 0 ? per : 1);
    int64_t items = total / 32768;
    if (items < t) items = total >= 8192 ? t : 1;
    else items = (items + t - 1) / t * t;
    if (items > n) items = n;
    return (n + items - 1) / items;
}

/* Floats of one thread's padded plane (gc_dw_plane_fn), -1 on overflow. */
static int64_t plane_floats(const gc_dwconv *p) {
    int64_t hp, wp, n;
    gc_dw_padded_size(p, &hp, &wp);
    if (gc_mul_i64(hp, wp + 1, &n) || n > INT64_MAX - 128) return -1;
    if (dw_chan8(p) && n < dw_chan8_floats(p)) n = dw_chan8_floats(p); /* an AVX2 8-channel plane */
    return (n + 64 + 15) / 16 * 16;
}

size_t gc_dwconv_workspace(const gc_dwconv *p) {
    int64_t n = plane_floats(p);
    if (n < 0 || gc_mul_i64(n, GC_DW_SLOTS, &n)) return SIZE_MAX;
    return (size_t)n;
}

/* dst (hp, wp) = src (H, W) at offset (PH, PW), zeros elsewhere. */
static void pad_plane(const gc_dwconv *p, const float *src, float *dst, int64_t hp, int64_t wp) {
    memset(dst, 0, (size_t)(hp * wp) * sizeof(float));
    for (int64_t h = 0; h < p->H; h++) memcpy(dst + (h + p->PH) * wp + p->PW, src + h * p->W, (size_t)p->W * sizeof(float));
}

/* Output rows [i0, i1) of plane x (H, W) into yo (rows of OW), computed as a plane of its own:
 * the input rows they reach, the top padding only where they start in it (M = 1). Every output
 * gets the same taps in the same order as from the whole plane. */
static void strip(const dw_job *j, const float *x, const float *wo, const float *bo, float *yo, float *xp, int64_t i0,
                  int64_t i1) {
    const gc_dwconv *p = j->p;
    const int64_t r0 = i0 * p->SH - p->PH, a = r0 > 0 ? r0 : 0; /* first row reached, first real row */
    const int64_t end = (i1 - 1) * p->SH - p->PH + (p->KH - 1) * p->DH + 1, b = end < p->H ? end : p->H;
    gc_dwconv q = *p;
    q.N = 1, q.C = 1, q.OH = i1 - i0, q.H = b > a ? b - a : 0, q.PH = a - r0;
    j->run(&q, x + (a < p->H ? a : p->H) * p->W, xp, wo, bo, yo + i0 * p->OW);
}

static void forward_planes(void *arg, int64_t lo, int64_t hi, int worker) {
    const dw_job *j = arg;
    const gc_dwconv *p = j->p;
    const int64_t KK = p->KH * p->KW, OHW = p->OH * p->OW;
    if (j->flat) {
        gc_dw_flat_avx512(p, j->x, j->w, j->bias, j->y, lo, hi);
        return;
    }
    if (j->chan8) {
        gc_dw_chan8_avx2(p, j->x, j->w, j->bias, j->y, lo, hi, j->ws + worker * j->plane);
        return;
    }
    for (int64_t t = lo; t < hi; t++) {
        const int64_t n = t / p->C, c = t % p->C;
        const float *x = j->x + t * p->H * p->W, *wo = j->w + c * p->M * KK, *bo = j->bias ? j->bias + c * p->M : NULL;
        float *yo = j->y + (n * p->C + c) * p->M * OHW, *xp = j->ws + worker * j->plane;
        if (!j->rb) {
            j->run(p, x, xp, wo, bo, yo);
            continue;
        }
        for (int64_t i0 = 0; i0 < p->OH; i0 += j->rb) strip(j, x, wo, bo, yo, xp, i0, i0 + j->rb < p->OH ? i0 + j->rb : p->OH);
    }
}

/* Output rows per strip when a plane runs in strips, else 0: one output per input plane
 * (M = 1) whose padded copy exceeds 8 KB (MobileNetV2's 112x112 and 56x56 planes: 52 KB at
 * 112x112, more than the 32 KB L1, so the copy went to L2 and the taps read it back from there):
 * strips of a multiple of 4 rows (the kernels' row block) whose copies take at most 8 KB. With
 * AVX-512 such 3x3 planes take no copy (gc_dw_direct); 5x5 ones and the other tiers still do. */
static int64_t dw_strip_rows(const gc_dwconv *p) {
    const int64_t budget = 2048; /* floats */
    int64_t hp, wp;
    gc_dw_padded_size(p, &hp, &wp);
    if (p->M != 1 || hp * wp <= budget) return 0;
    const int64_t rows_in = budget / wp, rb = (rows_in - (p->KH - 1) * p->DH - 1) / p->SH + 1;
    return rb >= 8 ? rb / 4 * 4 : 0;
}

void gc_dwconv_forward(gc_pool *pool, gc_gemm_tier tier, const gc_dwconv *p, const float *x, const float *w,
                       const float *bias, float *y, float *ws) {
    const int64_t plane = plane_floats(p), OHW = p->OH * p->OW;
    const gc_gemm_tier t = gc_gemm_resolve(tier);
    const gc_dw_plane_fn run = t == GC_GEMM_AVX512 ? gc_dw_plane_avx512 : t == GC_GEMM_AVX2 ? gc_dw_plane_avx2
                                                                                             : gc_dw_plane_portable;
    dw_job j = {.p = p, .run = run, .x = x, .w = w, .bias = bias, .y = y, .ws = ws, .plane = plane};
    j.rb = (t == GC_GEMM_AVX512 && gc_dw_direct(p)) || (t == GC_GEMM_AVX2 && dw_direct8(p)) ? 0 : dw_strip_rows(p);
    j.flat = t == GC_GEMM_AVX512 && gc_dw_flat(p);
    j.chan8 = t == GC_GEMM_AVX2 && dw_chan8(p);
    int64_t grain = dw_grain(pool, p->N * p->C, p->M * OHW);
    if (j.chan8) { /* items of whole groups of 8 planes, their count a multiple of the threads */
        /* gc_dw_chan8_avx2 takes 8 planes at a time and leaves the 1-7 left over to the row
           kernels: items of 3 planes (32 channels of 112x112, about 32 K floats each) ran all of
           them there. 18 groups (144 channels) in items of 2 were 9 items, 5 and 4 on 2 threads */
        const int64_t th = gc_pool_threads(pool) < GC_DW_SLOTS ? gc_pool_threads(pool) : GC_DW_SLOTS;
        const int64_t groups = (p->N * p->C + 7) / 8;
        int64_t g = dw_grain(pool, groups, 8 * p->M * OHW);
        while (g < groups && (groups + g - 1) / g % th) g++;
        grain = 8 * g;
    }
    gc_pool_for(pool, p->N * p->C, grain, GC_DW_SLOTS, forward_planes, &j);
}

/* dx as the forward of dy with the kernel flipped (stride 1, one output channel per input
 * channel, padding (K-1)D - P >= 0, up to 256 taps): the plane kernel's speed for the input
 * gradient of MobileNet-style layers. 0 when it does not apply. */
static void flipped_planes(void *arg, int64_t lo, int64_t hi, int worker) {
    const dw_job *j = arg;
    const gc_dwconv *q = j->p;   /* the flipped problem: H, W of dy; OH, OW of dx */
    const int64_t KK = q->KH * q->KW;
    for (int64_t i = lo; i < hi; i++) {
        float wf[256]; /* the flipped kernel */
        const float *wo = j->w + (i % q->C) * KK;
        for (int64_t k = 0; k < KK; k++) wf[k] = wo[KK - 1 - k];
        j->run(q, j->dy + i * q->H * q->W, j->ws + worker * j->plane, wf, NULL, j->dx + i * q->OH * q->OW);
    }
}

static int backward_as_forward(gc_pool *pool, gc_gemm_tier tier, const gc_dwconv *p, const float *w, const float *dy,
                               float *dx, float *ws) {
    const int64_t ph = (p->KH - 1) * p->DH - p->PH, pw = (p->KW - 1) * p->DW - p->PW, KK = p->KH * p->KW;
    if (p->SH != 1 || p->SW != 1 || p->M != 1 || ph < 0 || pw < 0 || KK > 256) return 0;
    const gc_dwconv q = {p->N, p->C, p->OH, p->OW, 1, p->H, p->W, p->KH, p->KW, 1, 1, ph, pw, p->DH, p->DW, GC_EPI_NONE, 0, 0};
    const int64_t plane = plane_floats(&q);
    const gc_gemm_tier t = gc_gemm_resolve(tier);
    const gc_dw_plane_fn run = t == GC_GEMM_AVX512 ? gc_dw_plane_avx512 : t == GC_GEMM_AVX2 ? gc_dw_plane_avx2
                                                                                             : gc_dw_plane_portable;
    dw_job j = {.p = &q, .run = run, .w = w, .dy = dy, .dx = dx, .ws = ws, .plane = plane};
    gc_pool_for(pool, p->N * p->C, dw_grain(pool, p->N * p->C, p->H * p->W), GC_DW_SLOTS, flipped_planes, &j);
    return 1;
}

size_t gc_dwconv_workspace_bwd(const gc_dwconv *p) {
    const int64_t ph = (p->KH - 1) * p->DH - p->PH, pw = (p->KW - 1) * p->DW - p->PW;
    const gc_dwconv q = {p->N, p->C, p->OH, p->OW, 1, p->H, p->W, p->KH, p->KW, 1, 1, ph < 0 ? 0 : ph, pw < 0 ? 0 : pw,
                         p->DH, p->DW, GC_EPI_NONE, 0, 0};
    const size_t a = gc_dwconv_workspace(p), b = gc_dwconv_workspace(&q);
    return a > b ? a : b;
}

/* dx planes by scattering dy (strided or multi-output layers). */
static void scatter_planes(void *arg, int64_t lo, int64_t hi, int worker) {
    const dw_job *j = arg;
    const gc_dwconv *p = j->p;
    const int64_t KK = p->KH * p->KW, OHW = p->OH * p->OW, hp = j->hp, wp = j->wp;
    for (int64_t t = lo; t < hi; t++) {
        float *dp = j->ws + worker * j->plane; /* (hp, wp) padded dx */
        const int64_t n = t / p->C, c = t % p->C;
        memset(dp, 0, (size_t)(hp * wp) * sizeof(float));
        for (int64_t m = 0; m < p->M; m++) {
            const int64_t o = c * p->M + m;
            const float *wo = j->w + o * KK, *go = j->dy + (n * p->C * p->M + o) * OHW;
            for (int64_t i = 0; i < p->OH; i++) {
                const float *restrict gr = go + i * p->OW;
                for (int64_t u = 0; u < p->KH; u++)
                    for (int64_t v = 0; v < p->KW; v++) {
                        const float wv = wo[u * p->KW + v];
                        float *restrict dr = dp + (i * p->SH + u * p->DH) * wp + v * p->DW;
                        if (p->SW == 1)
                            for (int64_t jj = 0; jj < p->OW; jj++) dr[jj] += wv * gr[jj];
                        else
                            for (int64_t jj = 0; jj < p->OW; jj++) dr[jj * p->SW] += wv * gr[jj];
                    }
            }
        }
        for (int64_t h = 0; h < p->H; h++)
            memcpy(j->dx + t * p->H * p->W + h * p->W, dp + (h + p->PH) * wp + p->PW, (size_t)p->W * sizeof(float));
    }
}

/* dw and db of channels [lo, hi), summed in double over the batch. */
static void param_grad_channels(void *arg, int64_t lo, int64_t hi, int worker) {
    const dw_job *j = arg;
    const gc_dwconv *p = j->p;
    const int64_t KK = p->KH * p->KW, OHW = p->OH * p->OW, hp = j->hp, wp = j->wp;
    float *dw = j->dw, *db = j->db;
    for (int64_t c = lo; c < hi; c++) {
        float *xp = j->ws + worker * j->plane;
        double sw[64], sb[64]; /* per output channel of the group, KK <= 64 taps at a time */
        for (int64_t m = 0; m < p->M; m++) {
            const int64_t o = c * p->M + m;
            for (int64_t k0 = 0; k0 < KK; k0 += 64) {
                const int64_t kn = KK - k0 < 64 ? KK - k0 : 64;
                for (int64_t k = 0; k < kn; k++) sw[k] = 0;
                sb[0] = 0;
                for (int64_t n = 0; n < p->N; n++) {
                    const float *go = j->dy + (n * p->C * p->M + o) * OHW;
                    if (dw) pad_plane(p, j->x + (n * p->C + c) * p->H * p->W, xp, hp, wp);
                    if (db && k0 == 0)
                        for (int64_t e = 0; e < OHW; e++) sb[0] += go[e];
                    for (int64_t k = 0; dw && k < kn; k++) {
                        const int64_t u = (k0 + k) / p->KW, v = (k0 + k) % p->KW;
                        double s = 0;
                        for (int64_t i = 0; i < p->OH; i++) {
                            const float *xr = xp + (i * p->SH + u * p->DH) * wp + v * p->DW, *gr = go + i * p->OW;
                            for (int64_t jj = 0; jj < p->OW; jj++) s += (double)gr[jj] * xr[jj * p->SW];
                        }
                        sw[k] += s;
                    }
                }
                for (int64_t k = 0; dw && k < kn; k++) dw[o * KK + k0 + k] = (float)sw[k];
                if (db && k0 == 0) db[o] = (float)sb[0];
            }
        }
    }
}

void gc_dwconv_backward(gc_pool *pool, gc_gemm_tier tier, const gc_dwconv *p, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db, float *ws) {
    int64_t hp, wp;
    gc_dw_padded_size(p, &hp, &wp);
    dw_job j = {.p = p, .x = x, .w = w, .dy = dy, .dx = dx, .dw = dw, .db = db, .ws = ws, .plane = plane_floats(p),
                .hp = hp, .wp = wp};
    if (dx && !backward_as_forward(pool, tier, p, w, dy, dx, ws))
        gc_pool_for(pool, p->N * p->C, dw_grain(pool, p->N * p->C, p->M * p->OH * p->OW), GC_DW_SLOTS, scatter_planes, &j);
    if (dw || db) gc_pool_for(pool, p->C, 1, GC_DW_SLOTS, param_grad_channels, &j);
}
