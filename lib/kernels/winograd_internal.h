/* winograd_internal.h - shared by winograd.c and the per-ISA transform files
 * (winograd_tx.h compiled three times: portable, AVX2, AVX-512). */
#ifndef GC_KERNELS_WINOGRAD_INTERNAL_H
#define GC_KERNELS_WINOGRAD_INTERNAL_H

#include "kernels/conv.h"
#include "core/core.h"
#include <string.h>

#define WG_SLOTS 4                 /* scratch slots = most threads running the GEMMs */
#define WG_AB ((int64_t)3 << 20)   /* floats of V^T per tile chunk (12 MB) */
#define WG_TC 224                  /* tiles per chunk at most (M^T of a thread <= 1 MB) */
#define WG_OCH 32                  /* output channels per chunk (a multiple of every NR and of 16) */
#define WG_CB 128                  /* input channels per block (the GEMMs' k) */
#define WG_SKEW 16                 /* floats between the 36 xi slices, so their rows (often 4 KB
                                      multiples apart) do not share cache sets */
#define WG_AT ((int64_t)1 << 20)   /* floats of a thread's own V^T in the by-tiles schedule (4 MB) */
#define WG_BY_TILES_C 128          /* by tiles beyond this many input channels with the weights */
                                   /* transformed once per call (uall): repeated per chunk they */
                                   /* cost more than they save */
#define WG_BY_TILES_CHUNKS 4       /* ... and when the batch's tiles make at least this many chunks */
#define WG_AR ((size_t)3 << 19)    /* floats of V^T up to which each thread transforms its own copy (6 MB) */

/* ---------------------------------------------------------------- blocking */

/* Schedule: the 36 products are computed transposed, M^T = V^T U^T, by the GEMM micro-kernel on
 * operands the transforms write in its packed layouts. Per chunk of Tc tiles: V^T (36, Tc/MR
 * panels, C, MR) once, by all threads; then each thread takes chunks of WG_OCH output channels
 * and, per block of WG_CB input channels, transforms that block of weights into U^T (36,
 * WG_OCH/NR panels, cb, NR) in its L2 and accumulates M^T (36, Tc, WG_OCH); then the chunk's
 * output transform; two pool loops per tile chunk. Where a call has several tile chunks, every
 * U^T block is transformed once, before the first (uall), instead of once per chunk.
 *
 * By tiles (at least WG_BY_TILES_CHUNKS chunks: large images, and VGG's conv3 and conv4 at
 * batch 8): each thread takes whole tile chunks and runs all three stages on them with its own
 * V^T, one pool loop per call; beyond WG_BY_TILES_C input channels with the kept U^T (uall),
 * else transforming each U^T block in its slot as it goes (cheap for few channels). The
 * threads' shares are then bands of image rows, which the next layer reads back from the same
 * core, instead of V^T written by all threads and read by all (a cache-line transfer per 16
 * floats when the two cores do not share a cache). The products are the same arithmetic, so
 * both schedules give the same bits.
 *
 * Replicated (otherwise, when V^T is at most WG_AR floats: VGG's conv3_1, conv4 and conv5 at
 * batch 1; conv3_2 with its 7.8 MB of V^T lost more to the repeated transform than it saved):
 * the output-channel split above, but each thread transforms the tile chunk's whole input into
 * its own V^T before its first output chunk, instead of reading the half the other threads
 * wrote, once per output chunk, from their caches. The input transform is a small part of the
 * work there (the weights' transforms and products grow with the output channels). One pool
 * loop per tile chunk. */
typedef struct wg_plan {
    int64_t TH, TW, T;   /* tile rows, tile columns per image, tiles in the batch */
    int64_t Tc;          /* tiles per chunk (by tiles: of the largest chunk) */
    int64_t np, nt;      /* by tiles: panels of the micro-kernel's mr tiles, chunks (wg_chunk) */
    int by_tiles;        /* the by-tiles schedule */
    int replicated;      /* else the replicated-V^T schedule */
    size_t v, u, m;      /* floats of V^T (per slot by tiles), one U^T block, one M^T (multiples of 16) */
    size_t uall;         /* floats of every U^T block, transformed once per call instead of once per
                            tile chunk (0: none): several chunks, by tiles with more than
                            WG_BY_TILES_C input channels or not by tiles */
} wg_plan;

static inline int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

static inline size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Workers whose slots the session gave (1 without: the slots carved from ws). */
static inline int64_t wg_workers(const gc_winograd *p) { return p->slots.base && p->slots.n > 1 ? p->slots.n : 1; }

/* 0 on success, 1 on overflow or an empty problem. mr: the rows of the micro-kernel's panels
 * (by tiles, a chunk is whole panels but for the batch's last tiles). */
static inline int wg_plan_make(const gc_winograd *p, int mr, wg_plan *q) {
    int64_t t, v;
    if (p->N <= 0 || p->C <= 0 || p->O <= 0 || p->OH <= 0 || p->OW <= 0 || mr < 1 || mr > 16) return 1;
    q->TH = (p->OH + 3) / 4;
    q->TW = (p->OW + 3) / 4;
    if (gc_mul_i64(q->TH, q->TW, &t) || gc_mul_i64(t, p->N, &q->T)) return 1;
    const int64_t ta = p->C > WG_AB ? 0 : WG_AB / (36 * p->C);   /* tiles whose V^T fits WG_AB */
    q->Tc = clamp64(ta < WG_TC ? ta : WG_TC, 16, q->T);
    const int64_t at = p->C > WG_AT ? 0 : WG_AT / (36 * p->C);   /* tiles whose V^T fits WG_AT */
    const int64_t tt = clamp64(at < WG_TC ? at : WG_TC, 16, q->T);
    q->nt = (q->T - 1) / tt + 1;
    q->np = (q->T + mr - 1) / mr;
    q->by_tiles = q->nt >= WG_BY_TILES_CHUNKS; /* beyond WG_BY_TILES_C channels with the weights kept (uall) */
    /* With the weights transformed once (p->U) and several workers, by tiles also when the tiles
     * make one chunk (batch 1), if each worker gets 2 panels or more: each transforms only its
     * share of the input, where the replicated schedule had every worker transform all of it, and
     * writes whole output rows, which the next layer (split by pixels) reads from its own core
     * (ResNet-50's layer1 and layer2 3x3, 196 and 49 tiles: 0.39 -> 0.27 and 0.31-0.38 -> 0.23 ms
     * on 2 threads far apart). Only where the replicated V^T holds: the sizes, planned without U
     * and the slots (replicated then), bound this plan's (a share's V^T and M^T are smaller). */
    int64_t vr;
    if (!q->by_tiles && p->U && wg_workers(p) > 1 && q->np >= 2 * wg_workers(p) &&
        !gc_mul_i64(36 * (q->T + 16), p->C, &vr) && (size_t)vr + 36 * WG_SKEW <= WG_AR)
        q->by_tiles = 1;
    if (q->by_tiles) {
        /* Chunks of whole panels, at most tt tiles, in equal shares of the workers (grain
         * q->nt / nw, so each worker takes one run of chunks): VGG-16's conv4 at batch 8 (28
         * panels of 14 tiles, 56 tiles a chunk at most) ran 7 chunks of 4 panels on 2 threads,
         * one idle for an eighth of the call; now each worker runs 4 chunks, 14 panels. More
         * workers only shrink the chunks, so a plan made without the slots (the sizes) bounds
         * the run's. */
        const int64_t nw = wg_workers(p), tp = tt / mr > 0 ? tt / mr : 1;
        q->nt = nw * ((q->np + nw * tp - 1) / (nw * tp));
        if (q->nt > q->np) q->nt = q->np;
        q->Tc = (q->np + q->nt - 1) / q->nt * mr;
    }
    /* rows padded to whole panels (by tiles: Tc is), mr <= 16 */
    if (gc_mul_i64(36 * (q->Tc + (q->by_tiles ? 0 : 16)), p->C, &v) || v > (int64_t)(SIZE_MAX / 8)) return 1;
    q->v = round16((size_t)v + 36 * WG_SKEW);
    q->u = round16((size_t)(36 * (WG_OCH * (p->C < WG_CB ? p->C : WG_CB) + WG_SKEW)));
    q->m = round16((size_t)(36 * (q->Tc * WG_OCH + WG_SKEW)));
    q->replicated = !q->by_tiles && q->v <= WG_AR;
    q->uall = 0;
    if (q->by_tiles ? p->C > WG_BY_TILES_C : q->T > q->Tc) {
        const int64_t blocks = ((p->O + WG_OCH - 1) / WG_OCH) * ((p->C + WG_CB - 1) / WG_CB);
        if (blocks > (int64_t)(SIZE_MAX / 8 / q->u)) return 1;
        q->uall = (size_t)blocks * q->u;
    }
    return 0;
}

/* By tiles: chunk ci's first tile and tile count (panels ci * np / nt up to the next chunk's). */
static inline void wg_chunk(const wg_plan *q, int mr, int64_t ci, int64_t *t0, int64_t *tc) {
    const int64_t a = ci * q->np / q->nt * mr, b = (ci + 1) * q->np / q->nt * mr;
    *t0 = a;
    *tc = (b < q->T ? b : q->T) - a;
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

/* The transforms of one ISA (winograd_tx.h):
 *   input    V^T (36, ceil(tc/mr), C, mr) for tiles [t0, t0 + tc): items [lo, hi) of its
 *            C * seg_count(q, t0, tc) items (channel c of a 16-tile segment each);
 *   weights  U^T (36, WG_OCH/nr, cb, nr) for output channels [o0, o0 + WG_OCH) (zero past O)
 *            and input channels [c0, c0 + cb);
 *   output   y[:, o0 : o0 + WG_OCH] (up to O) of tiles [t0, t0 + tc) from M^T (36, tc, WG_OCH)
 *            plus bias.
 * The xi slices are WG_SKEW floats further apart than their size (wg_xs*). */
typedef struct gc_wg_tx {
    void (*input)(const gc_winograd *p, const wg_plan *q, const float *x, int64_t t0, int64_t tc, int mr,
                  float *A, int64_t lo, int64_t hi);
    void (*weights)(const gc_winograd *p, const float *w, int64_t o0, int64_t c0, int64_t cb, int nr, float *B);
    void (*output)(const gc_winograd *p, const wg_plan *q, const float *Mt, int64_t o0, int64_t t0, int64_t tc,
                   const float *bias, float *y);
} gc_wg_tx;

/* Floats from one xi slice to the next in V^T, a U^T block and M^T. */
static inline int64_t wg_xsa(int64_t tc, int mr, int64_t C) { return (tc + mr - 1) / mr * mr * C + WG_SKEW; }
static inline int64_t wg_xsb(int64_t cb) { return WG_OCH * cb + WG_SKEW; }
static inline int64_t wg_xsm(int64_t tc) { return tc * WG_OCH + WG_SKEW; }

extern const gc_wg_tx gc_wg_tx_portable, gc_wg_tx_avx2, gc_wg_tx_avx512;

/* AVX2 4x16 micro-kernel for the products of few tiles (winograd_avx2.c; gc_gemm_ukernel's
 * contract, the bits of gc_gemm_ukernel_avx2_6x16). */
void gc_wg_ukernel_avx2_4x16(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta,
                             int m, int n, const float *bias);
/* ... and its 6x16 (gemm_avx2.c's, fetching B ahead). */
void gc_wg_ukernel_avx2_6x16(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta,
                             int m, int n, const float *bias);

#endif
