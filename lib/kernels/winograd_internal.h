/* winograd_internal.h - shared by winograd.c and the per-ISA transform files
 * (winograd_tx.h compiled three times: portable, AVX2, AVX-512). */
#ifndef GC_KERNELS_WINOGRAD_INTERNAL_H
#define GC_KERNELS_WINOGRAD_INTERNAL_H

#include "kernels/conv.h"
#include "core/core.h"
#include <string.h>

#define WG_SLOTS 4                 /* scratch slots = most threads running Winograd GEMMs */
#define WG_FUSE_OC 4096            /* O*C up to this: fused blocks (below) */
#define WG_FB ((int64_t)1 << 19)   /* floats of V + M per fused block (2 MB) */
#define WG_AB ((int64_t)3 << 20)   /* packed schedule: floats of V^T per tile chunk (12 MB) */
#define WG_OCH 32                  /* packed schedule: output channels per chunk (a multiple of every NR and of 16) */
#define WG_CB 128                  /* packed schedule: input channels per block (the GEMMs' k) */
#define WG_SKEW 16                 /* packed schedule: floats between the 36 xi slices, so their rows
                                      (often 4 KB multiples apart) do not share cache sets */

/* ---------------------------------------------------------------- blocking */

/* Two schedules:
 *   fused    (O*C <= WG_FUSE_OC, where the transforms dominate) U once, then each thread
 *            takes blocks of Tc tiles and runs input transform, 36 GEMMs and output transform
 *            with its own V and M that stay in its L2 cache; no barrier between stages.
 *   packed   (large filters) the 36 products are computed transposed, M^T = V^T U^T, with the
 *            GEMM micro-kernel on operands the transforms write in its packed layouts: per
 *            chunk of Tc tiles, V^T (36, Tc/MR panels, C, MR) once (shared); then each thread
 *            takes chunks of WG_OCH output channels and, per block of WG_CB input channels,
 *            transforms that block of weights into U^T (36, WG_OCH/NR panels, cb, NR) in its
 *            L2 and accumulates M^T (36, Tc, WG_OCH); then the chunk's output transform.
 *            U is never materialised whole; one barrier per tile chunk. */
typedef struct wg_plan {
    int64_t TH, TW, T;   /* tile rows, tile columns per image, tiles in the batch */
    int64_t Tc, Oc;      /* tiles and output channels per chunk (fused: block, O; packed: -, WG_OCH) */
    int fused;
    size_t v, u, m, g;   /* fused: floats of V, U, M, GEMM workspace; packed: V^T, U^T block, M^T (each a multiple of 16) */
    size_t pa;           /* fused: floats of one of the 36 U slices packed for the GEMM */
} wg_plan;

static inline int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

static inline size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* 0 on success, 1 on overflow. */
static inline int wg_plan_make(const gc_winograd *p, wg_plan *q) {
    int64_t t, v, u, m;
    q->TH = (p->OH + 3) / 4;
    q->TW = (p->OW + 3) / 4;
    if (gc_mul_i64(q->TH, q->TW, &t) || gc_mul_i64(t, p->N, &q->T)) return 1;
    q->fused = p->O * p->C <= WG_FUSE_OC;
    q->g = q->pa = 0;
    if (!q->fused) {   /* V^T rows padded to a multiple of MR <= 16 */
        q->Oc = WG_OCH;
        q->Tc = clamp64(WG_AB / (36 * p->C), 16, q->T);
        if (gc_mul_i64(36 * (q->Tc + 16), p->C, &v) || v > (int64_t)(SIZE_MAX / 8)) return 1;
        q->v = round16((size_t)v + 36 * WG_SKEW);
        q->u = round16((size_t)(36 * (WG_CB * WG_OCH + WG_SKEW)));
        q->m = round16((size_t)(36 * (q->Tc * WG_OCH + WG_SKEW)));
        return 0;
    }
    /* fused: blocks of a multiple of 32 tiles (the AVX-512 GEMM's column panel) */
    q->Oc = p->O;
    q->Tc = clamp64(WG_FB / (36 * (p->C + p->O)) / 32 * 32, 32, q->T);
    if (gc_mul_i64(36 * q->Tc, p->C, &v) || gc_mul_i64(36 * q->Oc, p->C, &u) ||
        gc_mul_i64(36 * q->Oc, q->Tc, &m) || v > (int64_t)(SIZE_MAX / 8) || u > (int64_t)(SIZE_MAX / 8))
        return 1;
    q->v = round16((size_t)v + 36 * WG_SKEW);
    q->u = round16((size_t)u);
    q->m = round16((size_t)m + 36 * WG_SKEW);
    for (int tier = GC_GEMM_PORTABLE; tier < GC_GEMM_TIER_COUNT; tier++) {
        size_t s = gc_gemm_workspace((gc_gemm_tier)tier, q->Oc, q->Tc, p->C, 1);
        if (s > q->g) q->g = s;
        s = gc_gemm_pack_a_size((gc_gemm_tier)tier, p->O, p->C);
        if (s > q->pa) q->pa = s;
    }
    q->g = round16(q->g);
    q->pa = round16(q->pa);
    return 0;
}

/* Segments: strips (n, ty) meeting tile chunk [t0, t0 + tc), cut into 16-tile pieces. */
typedef struct wg_seg { int64_t n, ty, tx, tl; int cnt; } wg_seg;

static inline int seg_of(const wg_plan *q, int64_t t0, int64_t tc, int64_t idx, wg_seg *s) {
    const int64_t ps = (q->TW + 15) / 16, strip = t0 / q->TW + idx / ps, base = strip * q->TW;
    const int64_t a = (t0 > base ? t0 - base : 0), b = (t0 + tc < base + q->TW ? t0 + tc - base : q->TW);
    const int64_t tx = (idx % ps) * 16;
    if (tx + 16 <= a || tx >= b) return 0;
    s->tx = tx < a ? a : tx;
    s->cnt = (int)((tx + 16 < b ? tx + 16 : b) - s->tx);
    s->n = strip / q->TH;
    s->ty = strip % q->TH;
    s->tl = base + s->tx - t0;
    return 1;
}

static inline int64_t seg_count(const wg_plan *q, int64_t t0, int64_t tc) {
    return ((t0 + tc - 1) / q->TW - t0 / q->TW + 1) * ((q->TW + 15) / 16);
}

/* The transforms of one ISA (winograd_tx.h).
 * fused:  U (36, oc, C) for output channels [o0, o0 + oc); V (36, C, tc) for tiles
 *         [t0, t0 + tc); y[:, o0 : o0 + oc] of those tiles from M (36, oc, tc) plus bias;
 *         the xi slices of V and M WG_SKEW floats further apart than their size.
 * packed: V^T (36, ceil(tc/mr), C, mr) for tiles [t0, t0 + tc) (an orphaned omp for: call it
 *         from every thread of a parallel region); U^T (36, WG_OCH/nr, cb, nr) for output
 *         channels [o0, o0 + WG_OCH) (zero past O) and input channels [c0, c0 + cb);
 *         y[:, o0 : o0 + WG_OCH] (up to O) of tiles [t0, t0 + tc) from M^T (36, tc, WG_OCH).
 *         The xi slices are WG_SKEW floats further apart than their size (wg_xs*). */
typedef struct gc_wg_tx {
    void (*weights)(const gc_winograd *p, const float *w, int64_t o0, int64_t oc, float *U);
    void (*input)(const gc_winograd *p, const wg_plan *q, const float *x, int64_t t0, int64_t tc, float *V);
    void (*output)(const gc_winograd *p, const wg_plan *q, const float *M, int64_t o0, int64_t oc,
                   int64_t t0, int64_t tc, const float *bias, float *y);
    void (*input_t)(const gc_winograd *p, const wg_plan *q, const float *x, int64_t t0, int64_t tc, int mr,
                    float *A);
    void (*weights_t)(const gc_winograd *p, const float *w, int64_t o0, int64_t c0, int64_t cb, int nr, float *B);
    void (*output_t)(const gc_winograd *p, const wg_plan *q, const float *Mt, int64_t o0, int64_t t0, int64_t tc,
                     const float *bias, float *y);
} gc_wg_tx;

/* Floats from one xi slice to the next in the packed schedule's V^T, U^T block and M^T. */
static inline int64_t wg_xsa(int64_t tc, int mr, int64_t C) { return (tc + mr - 1) / mr * mr * C + WG_SKEW; }
static inline int64_t wg_xsb(int64_t cb) { return WG_OCH * cb + WG_SKEW; }
static inline int64_t wg_xsm(int64_t tc) { return tc * WG_OCH + WG_SKEW; }

extern const gc_wg_tx gc_wg_tx_portable, gc_wg_tx_avx2, gc_wg_tx_avx512;

#endif
