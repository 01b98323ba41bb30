/* conv_accurate_internal.h - shared by conv_accurate.c, conv_accurate_wino.c and the per-ISA
 * files (conv_accurate_avx2.c, conv_accurate_avx512.c), which compile conv_accurate_tx.h (the
 * tile kernels) and conv_accurate_wino_tx.h (Winograd's transforms in double) with their flags. */
#ifndef GC_KERNELS_CONV_ACCURATE_INTERNAL_H
#define GC_KERNELS_CONV_ACCURATE_INTERNAL_H

#include "kernels/conv.h"

/* Each tier's tile: MR output channels by NR = 3 vectors of flat pixels (or Winograd tiles). */
typedef struct acc_tier {
    int mr, nr;
} acc_tier;
static inline acc_tier acc_tier_of(gc_gemm_tier t) {
    return t == GC_GEMM_AVX512 ? (acc_tier){8, 24} : t == GC_GEMM_AVX2 ? (acc_tier){4, 12} : (acc_tier){4, 6};
}
enum { ACC_MR_MAX = 8, ACC_NR_MAX = 24 };

/* Output rows o0 .. o0 + m - 1 of a tile: the sums over the K taps t of w(t, r) *
 * xd[q0 + off[t] + l], lanes l < NR. acc_tile_fn: w(t, r) = wp[t*MR + r]; adds bias and rounds
 * into y (flat pixel q = i*Wp + j stored when i < OH and j < OW). acc_sums_fn: w(t, r) =
 * wp[r*ACC_WROW + t] (K <= ACC_WROW), lanes l < n (n <= NR) rounded up to whole vectors; stores
 * the double sums of row r at s + r*lds + q0, or adds them to what is there (acc != 0). */
#define ACC_WROW 64
typedef void acc_tile_fn(int64_t K, const double *xd, const double *wp, const int64_t *off, int64_t q0, int m,
                         int64_t Wp, int64_t OH, int64_t OW, const float *bias, float *y, int64_t o0);
typedef void acc_sums_fn(int64_t K, const double *xd, const double *wp, const int64_t *off, int64_t q0, int n, int m,
                         double *s, int64_t lds, int acc);
acc_tile_fn gc_aconv_tile_portable, gc_aconv_tile_avx2, gc_aconv_tile_avx512;
acc_sums_fn gc_aconv_sums_portable, gc_aconv_sums_avx2, gc_aconv_sums_avx512;

/* ---- Winograd F(4x4, 3x3) in double (conv_accurate_wino.c) ----
 * Tiles t = ty*TW + tx of one image; a chunk of them [t0, t0 + tc) at a time, lanes padded to
 * ld (a multiple of 24: every tier's NR and 8). */
typedef struct aw_geom {
    const gc_dconv *p;
    int64_t TH, TW, T;      /* tile rows and columns, tiles */
    int64_t tc_max, ld;     /* tiles per chunk at most; lanes of a V or M row */
    int64_t panels, Kp;     /* panels of mr output channels; their rows (Kp = panels * mr) */
    int by_tiles;           /* the by-tiles schedule (conv_accurate_wino.c) */
    int mr, nr;
} aw_geom;

/* Segments of a chunk [t0, t0 + tc): its tile rows cut every 8 tiles (tiles tx = 8s .. 8s + 7
 * of row ty), in tile order; the first tile's lane in the chunk is tl. aw_seg_of: 0 for the
 * pieces of the aw_seg_count that lie outside the chunk. */
typedef struct aw_seg {
    int64_t ty, tx, tl;
    int cnt;
} aw_seg;
static inline int64_t aw_seg_count(const aw_geom *g, int64_t t0, int64_t tc) {
    return ((t0 + tc - 1) / g->TW - t0 / g->TW + 1) * ((g->TW + 7) / 8);
}
static inline int aw_seg_of(const aw_geom *g, int64_t t0, int64_t tc, int64_t k, aw_seg *s) {
    const int64_t ps = (g->TW + 7) / 8, row = t0 / g->TW + k / ps, base = row * g->TW, tx = (k % ps) * 8;
    const int64_t a = t0 > base ? t0 - base : 0, b = t0 + tc < base + g->TW ? t0 + tc - base : g->TW;
    if (tx + 8 <= a || tx >= b) return 0;
    s->tx = tx < a ? a : tx;
    s->cnt = (int)((tx + 8 < b ? tx + 8 : b) - s->tx);
    s->ty = row;
    s->tl = base + s->tx - t0;
    return 1;
}

/* The transforms of one ISA (conv_accurate_wino_tx.h), a segment (up to 8 tiles, the lanes)
 * at a time:
 *   input    V (36, C, ld): items (c, segment k) of C * aw_seg_count, lanes tl .. tl + cnt - 1
 *            of channel c's rows (then zero up to a multiple of 8 past tc);
 *   weights  U (36, np * mr, ACC_WROW) of np panels' output channels from o0 (zero past Co)
 *            and input channels [c0, c0 + cb), cb <= ACC_WROW: items (output channel, block
 *            of 8 input channels) of np * mr * ceil(cb / 8);
 *   output   y channel o0 + r (r < og) of tiles [t0, t0 + tc) from M (36, rows, ld), row r,
 *            plus bias, rounded once: items (r, segment k) of og * aw_seg_count. */
typedef struct aw_tx {
    void (*input)(const aw_geom *g, const float *x, int64_t t0, int64_t tc, double *V, int64_t lo, int64_t hi);
    void (*weights)(const aw_geom *g, const float *w, int64_t o0, int64_t np, int64_t c0, int64_t cb, double *U,
                    int64_t lo, int64_t hi);
    void (*output)(const aw_geom *g, const double *M, int64_t rows, int64_t o0, int64_t og, int64_t t0, int64_t tc,
                   const float *bias, float *y, int64_t lo, int64_t hi);
} aw_tx;
extern const aw_tx gc_aw_tx_portable, gc_aw_tx_avx2, gc_aw_tx_avx512;

/* Whether gc_aconv_run takes the Winograd path for p, and its workspace in floats (SIZE_MAX on
 * overflow; the most any tier needs). */
int gc_awino_applies(const gc_dconv *p);
size_t gc_awino_workspace(const gc_dconv *p);
/* With p->slots (n workers): floats of one worker's slot (0: the carved layout, or overflow) and
 * of the workspace then (SIZE_MAX on overflow). */
size_t gc_awino_slot_floats(const gc_dconv *p, int workers);
size_t gc_awino_shared_floats(const gc_dconv *p);
void gc_awino_run(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                  const float *bias, float *y, float *ws);

#endif
