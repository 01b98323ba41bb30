/* conv_accurate.c - stride-1 convolution with every output one double sum of exact products,
 * rounded to float once (the reference loops' accuracy at a kernel's speed). Explanations
 * whose maps follow the forward pass's switches (ReLU signs, max-pool winners) below the
 * target layer need it: a random VGG-16 has dozens of max-pool windows whose two largest
 * values lie within 1e-5 of each other (relative to the layer's largest), so the 4e-7 to
 * 5e-6 relative error of a float sum (direct or Winograd) picks other winners than exact
 * arithmetic does, and the input gradient changes by percents. The input is copied into
 * double with its zero border and the weights are packed as doubles; tiles of MR channels by
 * NR flat pixels (conv_accurate_tx.h) are summed over all taps in registers. */
#include "kernels/conv_accurate_internal.h"
#include "core/core.h"
#include <string.h>

#define ACC_TILE gc_aconv_tile_portable
#define ACC_SUMS gc_aconv_sums_portable
#define ACC_VL 2
#define ACC_MR 4
#define ACC_VEC acc_vec_portable
#include "kernels/conv_accurate_tx.h"
#undef ACC_VL
#undef ACC_MR


/* Padded geometry for tiles of mr x nr: Hp x Wp planes, flat pixels 0 .. OH * Wp in tiles of
 * nr; the copy has room for the last tile's lanes past the last row. */
typedef struct acc_geom {
    int64_t Hp, Wp, K, panels, tiles, plane, xd_len;
    int mr, nr;
} acc_geom;

static int acc_geom_of(const gc_dconv *p, acc_tier tt, acc_geom *g) {
    g->mr = tt.mr;
    g->nr = tt.nr;
    g->Hp = p->H + 2 * p->PH;
    g->Wp = p->W + 2 * p->PW;
    int64_t t;
    if (gc_mul_i64(g->Hp, g->Wp, &g->plane) || gc_mul_i64(p->Ci, g->plane, &t)) return 0;
    g->xd_len = t + ACC_NR_MAX + g->Wp + 16;
    if (gc_mul_i64(p->Ci * p->KH, p->KW, &g->K)) return 0;
    g->panels = (p->Co + g->mr - 1) / g->mr;
    g->tiles = (p->OH * g->Wp + g->nr - 1) / g->nr;
    return 1;
}

size_t gc_aconv_slot_floats(const gc_dconv *p, int workers) {
    return gc_awino_applies(p) ? gc_awino_slot_floats(p, workers) : 0;
}

size_t gc_aconv_shared_floats(const gc_dconv *p) {
    return gc_awino_applies(p) ? gc_awino_shared_floats(p) : gc_aconv_workspace(p);
}

/* The most any tier needs (the widest panels). */
size_t gc_aconv_workspace(const gc_dconv *p) {
    if (gc_awino_applies(p)) return gc_awino_workspace(p);
    acc_geom g;
    int64_t w, t;
    if (!acc_geom_of(p, (acc_tier){ACC_MR_MAX, ACC_NR_MAX}, &g) || gc_mul_i64(g.panels * ACC_MR_MAX, g.K, &w) ||
        gc_add_i64(g.xd_len, w, &t) || gc_add_i64(t, g.K, &t) || (uint64_t)t > SIZE_MAX / 2 - 64)
        return SIZE_MAX;
    return 2 * (size_t)t + 64; /* doubles (and the int64 offsets) in floats, room to align */
}

typedef struct acc_job {
    const gc_dconv *p;
    const acc_geom *g;
    const float *x, *bias;
    float *y;
    double *xd, *wp;
    int64_t *off;
    acc_tile_fn *tile; /* the tier's */
} acc_job;

/* Planes [c0, c1) of the padded double copy. */
static void acc_pad_planes(void *arg, int64_t c0, int64_t c1, int worker) {
    const acc_job *j = arg;
    const gc_dconv *p = j->p;
    (void)worker;
    for (int64_t c = c0; c < c1; c++) {
        double *d = j->xd + c * j->g->plane;
        memset(d, 0, (size_t)j->g->plane * sizeof(double));
        for (int64_t i = 0; i < p->H; i++) {
            const float *s = j->x + (c * p->H + i) * p->W;
            double *r = d + (i + p->PH) * j->g->Wp + p->PW;
            for (int64_t k = 0; k < p->W; k++) r[k] = s[k];
        }
    }
}

/* Items [t0, t1) = (chunk of CT pixel tiles, panel), panels inner: a chunk's input rows (all
 * channels) stay in L2 while the panels pass over them, each panel's weights in L2 for the
 * chunk's tiles (panel-major order streamed the whole input from L3 once per panel: half the
 * speed on VGG's layers). */
enum { CT = 16 };
static void acc_tiles(void *arg, int64_t t0, int64_t t1, int worker) {
    const acc_job *j = arg;
    const gc_dconv *p = j->p;
    const acc_geom *g = j->g;
    (void)worker;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t chunk = t / g->panels, panel = t % g->panels, o0 = panel * g->mr;
        const int m = p->Co - o0 < g->mr ? (int)(p->Co - o0) : g->mr;
        const double *wp = j->wp + panel * g->K * g->mr;
        for (int64_t tile = chunk * CT; tile < (chunk + 1) * CT && tile < g->tiles; tile++)
            j->tile(g->K, j->xd, wp, j->off, tile * g->nr, m, g->Wp, p->OH, p->OW, j->bias, j->y, o0);
    }
}

void gc_aconv_run(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                  const float *bias, float *y, float *ws) {
    tier = gc_gemm_resolve(tier); /* a tier this CPU lacks runs as the best it has */
    if (gc_awino_applies(p)) {
        gc_awino_run(pool, tier, p, x, w, bias, y, ws);
        return;
    }
    acc_geom g;
    if (!acc_geom_of(p, acc_tier_of(tier), &g)) return; /* the layer's workspace check already refused it */
    double *xd = (double *)(void *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    double *wp = xd + g.xd_len;
    int64_t *off = (int64_t *)(void *)(wp + g.panels * g.mr * g.K);
    for (int64_t c = 0, t = 0; c < p->Ci; c++)
        for (int64_t u = 0; u < p->KH; u++)
            for (int64_t v = 0; v < p->KW; v++) off[t++] = c * g.plane + u * p->DH * g.Wp + v * p->DW;
    for (int64_t pn = 0; pn < g.panels; pn++) /* (Co, Ci*KH*KW) -> panels of K x MR */
        for (int64_t t = 0; t < g.K; t++)
            for (int r = 0; r < g.mr; r++) {
                const int64_t o = pn * g.mr + r;
                wp[(pn * g.K + t) * g.mr + r] = o < p->Co ? (double)w[o * g.K + t] : 0.0;
            }
    memset(xd + p->Ci * g.plane, 0, (size_t)(g.xd_len - p->Ci * g.plane) * sizeof(double));
    acc_job j = {p, &g, x, bias, y, xd, wp, off,
                 tier == GC_GEMM_AVX512 ? gc_aconv_tile_avx512 : tier == GC_GEMM_AVX2 ? gc_aconv_tile_avx2
                                                                                        : gc_aconv_tile_portable};
    gc_pool_for(pool, p->Ci, 1, 0, acc_pad_planes, &j);
    gc_pool_for(pool, (g.tiles + CT - 1) / CT * g.panels, 1, 0, acc_tiles, &j);
}
