/* conv_accurate_wino.c - the accurate convolution of 3x3 stride-1 layers by Winograd's
 * F(4x4, 3x3) with every transform, product and sum in double: 36 multiplies per 4x4 outputs
 * and channel instead of the direct sum's 144, so a quarter of the arithmetic.
 *
 * Why it is as accurate as the direct double sum (conv_accurate.c): the transforms' and the
 * products' rounding errors are double's, about 1e-16 of the terms' magnitudes (times the
 * transforms' small growth), some 1e8 times below a float's half ulp; the sum then differs
 * from the exact one only where that lies within ~1e-14 of a float rounding boundary, as the
 * direct double sum does (tests/test_conv_fast.c checks every output within one ulp of the
 * reference loops). The float Winograd's error (5e-6 relative) is what made guided backprop
 * pick other max-pool winners than exact arithmetic; in double it is gone.
 *
 * Schedule, per image: the tiles in chunks (V (36, C, ld) and M (36, Kp, ld) together at most
 * AW_VM doubles). Per chunk: the input transform V; then each thread takes a range of groups of
 * AW_GO output channels (aw_groups): per block of ACC_WROW input channels the groups' weights
 * are transformed (U: 36 x AW_GO x ACC_WROW doubles each) and the 36 products M[xi] (+)=
 * U[xi] V[xi] run by the accurate tile kernel, a 1x1 convolution over the tiles; then the
 * groups' output transforms, from the core that summed their rows. Where groups are fewer than
 * AW_ITEMS, items are (group, share of the tiles) instead, and the outputs a loop of their own.
 * Each M row is summed in a fixed order, whatever thread runs it. */
#include "kernels/conv_accurate_internal.h"
#include "core/core.h"
#include <string.h>

#define AW_TX_NAME gc_aw_tx_portable
#include "kernels/conv_accurate_wino_tx.h"

#define AW_VM ((int64_t)3 << 20)  /* doubles of V and M per chunk at most (24 MB) */
#define AW_GO 32                  /* output channels per item (a multiple of every MR) */
#define AW_TB 96                  /* tiles per block of the products (a multiple of every NR) */
#define AW_SLOTS 4                /* threads running the products at most (scratch slots) */
#define AW_ITEMS 4                /* items the products are cut into at least, where tiles allow */
#define AW_UW ((int64_t)3 << 19)  /* by tiles: doubles of the whole U at most (12 MB) */
#define AW_BT 24                  /* by tiles: tiles per chunk */

/* 3x3, stride 1 (the gc_dconv problem), dilation 1, not flipped, with channels enough for
 * the transforms to pay and tiles enough for the weights' transforms to (measured per layer). */
int gc_awino_applies(const gc_dconv *p) {
    if (p->KH != 3 || p->KW != 3 || p->DH != 1 || p->DW != 1 || p->flip || p->Ci < 8 || p->Co < 8) return 0;
    if (p->OH < 4 || p->OW < 4 || p->OH > INT32_MAX || p->OW > INT32_MAX || p->Ci > INT32_MAX || p->Co > INT32_MAX)
        return 0;
    return ((p->OH + 3) / 4) * ((p->OW + 3) / 4) >= 9;
}

static int aw_geom_of(const gc_dconv *p, acc_tier tt, aw_geom *g) {
    g->p = p;
    g->mr = tt.mr;
    g->nr = tt.nr;
    g->TH = (p->OH + 3) / 4;
    g->TW = (p->OW + 3) / 4;
    g->panels = (p->Co + g->mr - 1) / g->mr;
    g->Kp = g->panels * g->mr;
    if (gc_mul_i64(g->TH, g->TW, &g->T)) return 0;
    const int64_t cblocks = (p->Ci + ACC_WROW - 1) / ACC_WROW;
    g->by_tiles = p->Ci <= AW_UW && cblocks * 36 * g->Kp * ACC_WROW <= AW_UW && g->T >= 4 * AW_BT;
    if (g->by_tiles) {
        g->tc_max = g->ld = AW_BT;
        return 1;
    }
    int64_t tc = AW_VM / (36 * (p->Ci + g->Kp)) / 24 * 24; /* ld: a multiple of every NR and of 8 */
    if (tc < 24) tc = 24;
    if (tc >= g->TW) { /* equal chunks of whole tile rows (segments never straddle two chunks) */
        const int64_t chunks = (g->TH + tc / g->TW - 1) / (tc / g->TW);
        g->tc_max = (g->TH + chunks - 1) / chunks * g->TW;
    } else {           /* rows wider than a chunk: equal chunks */
        const int64_t chunks = (g->T + tc - 1) / tc;
        g->tc_max = (g->T + chunks - 1) / chunks;
    }
    g->ld = (g->tc_max + 23) / 24 * 24;
    return 1;
}

#define AW_SLOT (36 * AW_GO * ACC_WROW) /* doubles of one group's U (a block of ACC_WROW channels) */

/* Doubles of V and M (by tiles: per slot) and of the U region (by tiles: the whole U; else a
 * group's U for every group, or AW_SLOTS slots, whichever is more). */
static int aw_sizes(const aw_geom *g, int64_t *v, int64_t *m, int64_t *u) {
    const int64_t C = g->p->Ci, groups = (g->Kp + AW_GO - 1) / AW_GO;
    *u = g->by_tiles ? (C + ACC_WROW - 1) / ACC_WROW * 36 * g->Kp * ACC_WROW
                     : (groups > AW_SLOTS ? groups : AW_SLOTS) * (int64_t)AW_SLOT;
    return !gc_mul_i64(36 * C, g->ld, v) && !gc_mul_i64(36 * g->Kp, g->ld, m);
}

/* Doubles of the whole workspace. */
static int aw_total(const aw_geom *g, int64_t *t) {
    int64_t v, m, u;
    if (!aw_sizes(g, &v, &m, &u) || gc_add_i64(v, m, t)) return 0;
    if (g->by_tiles && gc_mul_i64(*t, AW_SLOTS, t)) return 0;
    return !gc_add_i64(*t, u + ACC_WROW + 32, t);
}

/* With the session's slots (gc_dconv.slots, n workers): by tiles, each slot holds a worker's
 * (V, M) and the workspace the whole U; else, where every chunk's products are one range of
 * output groups per worker, each worker transforms the chunk's whole input into its own V
 * (the input transform is a few per cent of the products) and keeps its groups' U and M in
 * its slot, so no line of V, M or U is written by one core and read by the other; with fewer
 * groups than AW_ITEMS the carved layout (aw_products) stays. Doubles of one slot, and of the
 * workspace, the most any tier needs; 0 on overflow. */
static int64_t aw_grain(const aw_geom *g, int workers) {
    const int64_t groups = (g->Kp + AW_GO - 1) / AW_GO, n = workers < 1 ? 1 : workers;
    return (groups + n - 1) / n;
}

static int64_t aw_own_slot(const aw_geom *g, int workers, int64_t nv, int64_t nm) {
    if (g->by_tiles) return nv + nm;
    const int64_t gr = aw_grain(g, workers), groups = (g->Kp + AW_GO - 1) / AW_GO;
    if (groups < AW_ITEMS) return 0;
    int64_t m, u, t;
    if (gc_mul_i64(36 * gr * AW_GO, g->ld, &m) || gc_mul_i64(gr, AW_SLOT, &u) || gc_add_i64(nv, m, &t) ||
        gc_add_i64(t, u, &t))
        return -1;
    return t;
}

static size_t aw_slot_sizes(const gc_dconv *p, int workers, int shared) {
    static const gc_gemm_tier tiers[] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};
    size_t most = 0;
    for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
        aw_geom g;
        int64_t nv, nm, nu, t;
        if (!aw_geom_of(p, acc_tier_of(tiers[i]), &g) || !aw_sizes(&g, &nv, &nm, &nu)) return shared ? SIZE_MAX : 0;
        const int64_t own = aw_own_slot(&g, workers, nv, nm);
        if (own < 0) return shared ? SIZE_MAX : 0;
        if (shared) {
            if (!own && !aw_total(&g, &t)) return SIZE_MAX; /* the carved layout */
            t = own ? (g.by_tiles ? nu : 0) + ACC_WROW + 32 : t;
        } else
            t = own;
        if ((uint64_t)t > SIZE_MAX / 4) return shared ? SIZE_MAX : 0;
        const size_t f = 2 * (size_t)t + (own ? 16 : 0); /* doubles in floats, room to align (aw_total's own) */
        if (f > most) most = f;
    }
    return most;
}

size_t gc_awino_slot_floats(const gc_dconv *p, int workers) { return aw_slot_sizes(p, workers, 0); }
size_t gc_awino_shared_floats(const gc_dconv *p) { return aw_slot_sizes(p, GC_POOL_MAX, 1); }

size_t gc_awino_workspace(const gc_dconv *p) {
    static const gc_gemm_tier tiers[] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};
    size_t most = 0;
    for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
        aw_geom g;
        int64_t t;
        if (!aw_geom_of(p, acc_tier_of(tiers[i]), &g) || !aw_total(&g, &t) || (uint64_t)t > SIZE_MAX / 2)
            return SIZE_MAX;
        if (2 * (size_t)t > most) most = 2 * (size_t)t; /* doubles in floats, room to align */
    }
    return most;
}

typedef struct aw_job {
    const aw_geom *g;
    const aw_tx *tx;
    acc_sums_fn *sums;
    const float *x, *w, *bias;
    float *y;
    double *V, *M, *U; /* U: slots of nu doubles (aw_products, aw_tile_chunks) or per group (aw_groups) */
    int64_t nu;
    const int64_t *off;
    int64_t t0, tc, ts; /* chunk; tile shares per output group */
    int64_t grain;      /* aw_groups_own: output groups per item */
    int64_t *vready;    /* aw_groups_own: (slots) chunk + 1 whose V worker w's slot holds, element w
                           written by worker w only */
} aw_job;

static void aw_input_items(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    (void)worker;
    j->tx->input(j->g, j->x, j->t0, j->tc, j->V, lo, hi);
}

/* The products of np panels for one xi over one block of cb input channels: rows k*mr .. of m
 * (ld apart) (+)= u's rows (ACC_WROW apart) times v's block, tiles [q_lo, q_hi) a vector of NR
 * at a time (the last ones narrower). */
static void aw_panels(const aw_job *j, int64_t cb, const double *v, const double *u, int64_t np, int64_t q_lo,
                      int64_t q_hi, double *m, int acc) {
    const aw_geom *g = j->g;
    for (int64_t k = 0; k < np; k++)
        for (int64_t q0 = q_lo; q0 < q_hi; q0 += g->nr)
            j->sums(cb, v, u + k * g->mr * ACC_WROW, j->off, q0, (int)(q_hi - q0 < g->nr ? q_hi - q0 : g->nr), g->mr,
                    m + k * g->mr * g->ld, g->ld, acc);
}

/* Output groups [lo, hi) over all the chunk's tiles (one call per thread): per block of input
 * channels, the groups' weights, then per xi every group's products, so each thread reads each
 * block of V once (with the vCPUs far apart, reading V's other half once per group made the
 * deep layers 1.5x slower); then the groups' outputs. V the chunk's, their U from u (one
 * AW_SLOT each) and their M rows from m (36 blocks of mrows rows, group lo's first). */
static void aw_groups_in(const aw_job *j, int64_t lo, int64_t hi, const double *V, double *u, double *m,
                         int64_t mrows) {
    const aw_geom *g = j->g;
    const int64_t C = g->p->Ci, ld = g->ld;
    for (int64_t c0 = 0; c0 < C; c0 += ACC_WROW) {
        const int64_t cb = C - c0 < ACC_WROW ? C - c0 : ACC_WROW;
        for (int64_t gi = lo; gi < hi; gi++) {
            const int64_t o0 = gi * AW_GO, rows = g->Kp - o0 < AW_GO ? g->Kp - o0 : AW_GO;
            j->tx->weights(g, j->w, o0, rows / g->mr, c0, cb, u + (gi - lo) * AW_SLOT, 0, rows * ((cb + 7) / 8));
        }
        for (int xi = 0; xi < 36; xi++) {
            const double *v = V + (xi * C + c0) * ld;
            for (int64_t gi = lo; gi < hi; gi++) {
                const int64_t o0 = gi * AW_GO, rows = g->Kp - o0 < AW_GO ? g->Kp - o0 : AW_GO;
                aw_panels(j, cb, v, u + (gi - lo) * AW_SLOT + xi * rows * ACC_WROW, rows / g->mr, 0, j->tc,
                          m + (xi * mrows + o0 - lo * AW_GO) * ld, c0 > 0);
            }
        }
    }
    for (int64_t gi = lo; gi < hi; gi++) {
        const int64_t o0 = gi * AW_GO, og = g->p->Co - o0 < AW_GO ? g->p->Co - o0 : AW_GO;
        j->tx->output(g, m + (o0 - lo * AW_GO) * ld, mrows, o0, og, j->t0, j->tc, j->bias, j->y, 0,
                      og * aw_seg_count(g, j->t0, j->tc));
    }
}

static void aw_groups(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    (void)worker;
    aw_groups_in(j, lo, hi, j->V, j->U + lo * AW_SLOT, j->M + lo * AW_GO * j->g->ld, j->g->Kp);
}

/* aw_groups in worker w's slot (gc_dconv.slots): the chunk's whole V, transformed by the worker
 * itself once per chunk, then its range of groups with their U and M in the slot. The same
 * sums in the same order as aw_groups. */
static void aw_groups_own(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    const aw_geom *g = j->g;
    double *V = (double *)(void *)(((uintptr_t)(g->p->slots.base + (size_t)worker * g->p->slots.stride) + 63) &
                                   ~(uintptr_t)63);
    double *M = V + j->nu, *U = M + 36 * j->grain * AW_GO * g->ld;
    if (j->vready[worker] != j->t0 + 1) {
        j->tx->input(g, j->x, j->t0, j->tc, V, 0, g->p->Ci * aw_seg_count(g, j->t0, j->tc));
        j->vready[worker] = j->t0 + 1;
    }
    aw_groups_in(j, lo, hi, V, U, M, (hi - lo) * AW_GO);
}

/* Items (group of AW_GO output channels, share of the tile blocks), when groups are too few
 * for the threads: each in the worker's U slot; the outputs by a loop of their own. */
static void aw_products(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    const aw_geom *g = j->g;
    const int64_t C = g->p->Ci, ld = g->ld, nb = (j->tc + AW_TB - 1) / AW_TB;
    double *U = j->U + worker * j->nu;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t o0 = it / j->ts * AW_GO, rows = g->Kp - o0 < AW_GO ? g->Kp - o0 : AW_GO, np = rows / g->mr;
        const int64_t s = it % j->ts, b_lo = nb * s / j->ts, b_hi = nb * (s + 1) / j->ts;
        for (int64_t c0 = 0; c0 < C; c0 += ACC_WROW) {
            const int64_t cb = C - c0 < ACC_WROW ? C - c0 : ACC_WROW;
            j->tx->weights(g, j->w, o0, np, c0, cb, U, 0, rows * ((cb + 7) / 8));
            for (int xi = 0; xi < 36; xi++) {
                const double *v = j->V + (xi * C + c0) * ld, *u = U + xi * rows * ACC_WROW;
                double *m = j->M + (xi * g->Kp + o0) * ld;
                for (int64_t b = b_lo; b < b_hi; b++) /* blocks of AW_TB tiles: V's block stays in L2 over the panels */
                    aw_panels(j, cb, v, u, np, b * AW_TB, (b + 1) * AW_TB < j->tc ? (b + 1) * AW_TB : j->tc, m, c0 > 0);
            }
        }
    }
}

static void aw_output_items(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    (void)worker;
    j->tx->output(j->g, j->M, j->g->Kp, 0, j->g->p->Co, j->t0, j->tc, j->bias, j->y, lo, hi);
}

/* By tiles: the whole U, items (block of ACC_WROW input channels, weights item). */
static void aw_weight_items(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    const aw_geom *g = j->g;
    const int64_t C = g->p->Ci, per = g->Kp * (ACC_WROW / 8);
    (void)worker;
    for (int64_t it = lo; it < hi;) { /* runs of items within one channel block */
        const int64_t b = it / per, c0 = b * ACC_WROW, cb = C - c0 < ACC_WROW ? C - c0 : ACC_WROW;
        const int64_t a = it % per, e = hi - b * per < per ? hi - b * per : per, n = g->Kp * ((cb + 7) / 8);
        if (a < n) j->tx->weights(g, j->w, 0, g->panels, c0, cb, j->U + b * 36 * g->Kp * ACC_WROW, a, e < n ? e : n);
        it = b * per + e;
    }
}

/* By tiles: chunks [lo, hi) of AW_BT tiles, each through the three stages in the worker's slot
 * V (a carved one, or own: the session's). */
static void aw_tile_chunks_in(const aw_job *j, int64_t lo, int64_t hi, double *V) {
    const aw_geom *g = j->g;
    const int64_t C = g->p->Ci, Co = g->p->Co, ld = g->ld;
    double *M = V + 36 * C * ld; /* slot: V, M */
    for (int64_t ci = lo; ci < hi; ci++) {
        const int64_t t0 = ci * AW_BT, tc = g->T - t0 < AW_BT ? g->T - t0 : AW_BT, ns = aw_seg_count(g, t0, tc);
        j->tx->input(g, j->x, t0, tc, V, 0, C * ns);
        for (int64_t c0 = 0; c0 < C; c0 += ACC_WROW) {
            const int64_t cb = C - c0 < ACC_WROW ? C - c0 : ACC_WROW;
            const double *ub = j->U + c0 / ACC_WROW * 36 * g->Kp * ACC_WROW;
            for (int xi = 0; xi < 36; xi++)
                aw_panels(j, cb, V + (xi * C + c0) * ld, ub + xi * g->Kp * ACC_WROW, g->panels, 0, tc,
                          M + xi * g->Kp * ld, c0 > 0);
        }
        j->tx->output(g, M, g->Kp, 0, Co, t0, tc, j->bias, j->y, 0, Co * ns);
    }
}

static void aw_tile_chunks(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    aw_tile_chunks_in(j, lo, hi, j->V + worker * j->nu);
}

static void aw_tile_chunks_own(void *arg, int64_t lo, int64_t hi, int worker) {
    const aw_job *j = arg;
    const gc_dconv *p = j->g->p;
    aw_tile_chunks_in(j, lo, hi, (double *)(void *)(((uintptr_t)(p->slots.base + (size_t)worker * p->slots.stride) + 63) &
                                                    ~(uintptr_t)63));
}

void gc_awino_run(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                  const float *bias, float *y, float *ws) {
    aw_geom g;
    int64_t nv, nm, nu;
    if (!aw_geom_of(p, acc_tier_of(tier), &g) || !aw_sizes(&g, &nv, &nm, &nu)) return; /* sized: cannot happen */
    const int own = p->slots.base && p->slots.n >= 1 && aw_own_slot(&g, p->slots.n, nv, nm) > 0;
    double *V = (double *)(void *)(((uintptr_t)ws + 63) & ~(uintptr_t)63), *M = V + nv, *U = M + nm;
    if (own) /* the workspace: by tiles the whole U, then the offsets; else only the offsets */
        U = V, V = M = NULL, nu = g.by_tiles ? nu : 0;
    else if (g.by_tiles) /* per slot (V, M), then the whole U */
        U = V + AW_SLOTS * (nv + nm), M = NULL;
    int64_t *off = (int64_t *)(void *)(U + nu);
    for (int64_t c = 0; c < ACC_WROW; c++) off[c] = c * g.ld;
    aw_job j = {&g, tier == GC_GEMM_AVX512 ? &gc_aw_tx_avx512 : tier == GC_GEMM_AVX2 ? &gc_aw_tx_avx2 : &gc_aw_tx_portable,
                tier == GC_GEMM_AVX512 ? gc_aconv_sums_avx512 : tier == GC_GEMM_AVX2 ? gc_aconv_sums_avx2
                                                                                     : gc_aconv_sums_portable,
                x, w, bias, y, V, M, U, AW_SLOT, off, 0, 0, 1, 0, NULL};
    if (g.by_tiles) {
        j.nu = nv + nm; /* the slots' stride */
        gc_pool_for(pool, (p->Ci + ACC_WROW - 1) / ACC_WROW * g.Kp * (ACC_WROW / 8), 16, 0, aw_weight_items, &j);
        gc_pool_for(pool, (g.T + AW_BT - 1) / AW_BT, 1, own && p->slots.n < AW_SLOTS ? p->slots.n : AW_SLOTS,
                    own ? aw_tile_chunks_own : aw_tile_chunks, &j);
        return;
    }
    const int64_t groups = (g.Kp + AW_GO - 1) / AW_GO;
    if (own) { /* one range of groups per worker, V, U and M in its slot */
        int64_t vready[GC_POOL_MAX] = {0};
        j.nu = nv, j.grain = aw_grain(&g, p->slots.n), j.vready = vready;
        for (int64_t t0 = 0; t0 < g.T; t0 += g.tc_max) {
            j.t0 = t0;
            j.tc = g.T - t0 < g.tc_max ? g.T - t0 : g.tc_max;
            gc_pool_for(pool, groups, j.grain, p->slots.n, aw_groups_own, &j);
        }
        return;
    }
    for (int64_t t0 = 0; t0 < g.T; t0 += g.tc_max) {
        j.t0 = t0;
        j.tc = g.T - t0 < g.tc_max ? g.T - t0 : g.tc_max;
        const int64_t ns = aw_seg_count(&g, t0, j.tc);
        gc_pool_for(pool, p->Ci * ns, 8, 0, aw_input_items, &j);
        const int64_t nb = (j.tc + AW_TB - 1) / AW_TB, want = (AW_ITEMS + groups - 1) / groups;
        j.ts = want < nb ? want : nb;
        if (j.ts == 1) { /* one range of groups per thread */
            const int64_t nt = pool ? gc_pool_threads(pool) : 1;
            gc_pool_for(pool, groups, (groups + nt - 1) / nt, 0, aw_groups, &j);
        } else {
            gc_pool_for(pool, groups * j.ts, 1, AW_SLOTS, aw_products, &j);
            gc_pool_for(pool, p->Co * ns, 8, 0, aw_output_items, &j);
        }
    }
}
