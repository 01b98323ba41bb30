/* conv_pixels.c - the GEMM for convolutions with few output pixels (contract in conv.h):
 * weight packing into 64-channel panels and the threaded driver. The micro-kernels and the
 * transposed stores are in conv_pixels_avx512.c and conv_pixels_avx2.c. */
#include "kernels/conv.h"
#include "kernels/activation.h" /* GC_EPI_* */
#include "core/core.h"
#include <string.h>


static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* AVX-512: where 7-pixel rows waste fewer lanes than the usual GEMM's 32-pixel columns. AVX2:
 * where they save more than 1/8 of its 16-pixel columns' lanes, the AVX2 kernel (7 x 16 a pass,
 * one column of B a memory operand) being slower per lane than the usual 6 x 16 (Zen 3, one
 * core: ResNet-50's 7x7 layers 0.70-0.95x the time, its 14x14 ones, 196 of 208 lanes used
 * either way, 1.04-1.09x). */
int gc_pxgemm_applies(gc_gemm_tier tier, int64_t P) {
    const gc_gemm_tier t = gc_gemm_resolve(tier);
    if (P > 256) return 0;
    if (t == GC_GEMM_AVX512) return round_up(P, GC_PX_MR) < round_up(P, 32);
    return t == GC_GEMM_AVX2 && 8 * round_up(P, 16) > 9 * round_up(P, GC_PX_MR);
}

/* The tier's micro-kernel and stores (a tier gc_pxgemm_applies accepts). */
typedef void (*px_kernel_fn)(int64_t k, const float *a, int64_t as, const float *b, float *t, int64_t nc, int acc,
                             const char *pf, int64_t npf);
typedef void (*px_store_fn)(const float *t, const float *bias, const float *res, int epi, float lo, float hi, float *y,
                            int64_t P, int64_t n, int64_t nc);
static px_kernel_fn px_kernel_of(gc_gemm_tier t) {
    return gc_gemm_resolve(t) == GC_GEMM_AVX512 ? gc_px_ukernel_avx512 : gc_px_ukernel_avx2;
}
static px_store_fn px_store_of(gc_gemm_tier t) {
    return gc_gemm_resolve(t) == GC_GEMM_AVX512 ? gc_px_store_avx512 : gc_px_store_avx2;
}

size_t gc_pxgemm_packed_floats(int64_t O, int64_t K) {
    int64_t n;
    if (O < 1 || K < 1 || gc_mul_i64(round_up(O, GC_PX_NR), K, &n)) return 0;
    return (size_t)n;
}

/* 64-channel panels of all K rows: channel jo * 64 + j of row k at packed[(jo * K + k) * 64 + j],
 * zero past O. */
void gc_pxgemm_pack(int64_t O, int64_t K, const float *w, float *packed) {
    const int64_t no = round_up(O, GC_PX_NR) / GC_PX_NR;
    for (int64_t jo = 0; jo < no; jo++)
        for (int64_t k = 0; k < K; k++)
            for (int j = 0; j < GC_PX_NR; j++) {
                const int64_t o = jo * GC_PX_NR + j;
                packed[(jo * K + k) * GC_PX_NR + j] = o < O ? w[o * K + k] : 0.0f;
            }
}

size_t gc_pxgemm_workspace(int64_t O, int64_t P, int64_t K) {
    int64_t a;
    (void)O;
    if (gc_mul_i64(round_up(P, GC_PX_MR), K, &a)) return SIZE_MAX;
    return (size_t)a;
}

#ifndef PX_DIRECT
#define PX_DIRECT 1
#endif

typedef struct px_job {
    int64_t O, P, K, np;
    int epi;
    float lo, hi;
    const float *packed, *col, *bias, *res;
    float *y, *a;
    int64_t no, nch;           /* by pixels: channel panels, chunks (one per worker) */
    gc_gemm_pack_b_fn pack_b;  /* writes the pixel panels (nr 7) */
    const void *ctx;
    gc_slots slots;
    px_kernel_fn kernel;
    px_store_fn store;
} px_job;

/* a[(ip * K + k) * 7 + r] = col[k, ip * 7 + r]: pixel panels [lo, hi). */
static void px_pack(void *arg, int64_t lo, int64_t hi, int worker) {
    const px_job *j = arg;
    (void)worker;
    for (int64_t ip = lo; ip < hi; ip++) {
        float *d = j->a + ip * j->K * GC_PX_MR;
        const int64_t p0 = ip * GC_PX_MR, n = j->P - p0 < GC_PX_MR ? j->P - p0 : GC_PX_MR;
        for (int64_t k = 0; k < j->K; k++) {
            const float *s = j->col + k * j->P + p0;
            for (int r = 0; r < GC_PX_MR; r++) d[k * GC_PX_MR + r] = r < n ? s[r] : 0.0f;
        }
    }
}

/* Where pixel panel ip's rows are: row k at base + (ip - ip0) * stride + k * as. */
typedef struct px_src { const float *base; int64_t ip0, stride, as; } px_src;

static const float *px_panel_rows(const px_src *s, int64_t ip) { return s->base + (ip - s->ip0) * s->stride; }

/* K deeper than PX_KC_MAX is summed in equal chunks of at most PX_KC rows, PX_GROUP pixel panels
 * at a time: a chunk of a weight panel (at most 192 KB) stays in L2 over the group's tiles, where a
 * whole panel (ResNet-50's layer4 3x3: 4608 rows, 1.2 MB) would be read from L3 again for every
 * 7 pixels. The tiles' sums continue across chunks in the same order: the same bits. */
#define PX_KC_MAX 1152
#define PX_KC 768
#define PX_GROUP 8

static int64_t px_kc(int64_t K) {
    if (K <= PX_KC_MAX) return K;
    const int64_t n = (K + PX_KC - 1) / PX_KC;
    return (K + n - 1) / n;
}

/* Tile (jo, ip) from t (7 x 64, pixel-major): stored into y with the bias and the epilogue. */
static void px_store(const px_job *j, int64_t jo, int64_t ip, const float *t) {
    const int64_t p0 = ip * GC_PX_MR, n = j->P - p0 < GC_PX_MR ? j->P - p0 : GC_PX_MR;
    const int64_t nc = j->O - jo * GC_PX_NR < GC_PX_NR ? j->O - jo * GC_PX_NR : GC_PX_NR;
    float bs[GC_PX_NR] = {0}; /* the panel's bias, zero past O */
    if (j->bias) memcpy(bs, j->bias + jo * GC_PX_NR, (size_t)nc * sizeof(float));
    const int64_t at = jo * GC_PX_NR * j->P + p0;
    j->store(t, bs, j->res ? j->res + at : NULL, j->epi, j->lo, j->hi, j->y + at, j->P, n, nc);
}

/* The tiles of channel panel jo over pixel panels [ip0, ip1). Along the way the weights this
 * worker multiplies next (next_jo's panel, or the next chunk of this one; next_jo -1: none) are
 * prefetched into L2, spread over the tiles: the weights of a deep layer come from memory, and a
 * panel's first tile would otherwise wait for all of them at once (ResNet-50's 7x7 layers: 7
 * tiles per panel). */
static void px_panel(const px_job *j, int64_t jo, int64_t ip0, int64_t ip1, const px_src *src, int64_t next_jo) {
    float tiles[PX_GROUP][GC_PX_MR * GC_PX_NR]; /* (7, 64) pixel-major each; columns past nc rounded to 16 (8) unset */
    const int64_t K = j->K, kc = px_kc(K), nc = j->O - jo * GC_PX_NR < GC_PX_NR ? j->O - jo * GC_PX_NR : GC_PX_NR;
    const int64_t group = kc == K ? ip1 - ip0 : PX_GROUP; /* one chunk: each tile stored as it is done */
    const float *w = j->packed + jo * K * GC_PX_NR;
    for (int64_t g0 = ip0; g0 < ip1; g0 += group) {
        const int64_t g1 = ip1 - g0 < group ? ip1 : g0 + group;
        for (int64_t pc = 0; pc < K; pc += kc) {
            const int64_t kb = K - pc < kc ? K - pc : kc;
            /* the next weights: this panel's next chunk, its first again for the next group, the next panel's first */
            const float *nx = pc + kb < K ? w + (pc + kb) * GC_PX_NR : g1 < ip1 ? w
                              : next_jo >= 0 ? j->packed + next_jo * K * GC_PX_NR : NULL;
            const int64_t nrows = pc + kb < K ? (K - pc - kb < kc ? K - pc - kb : kc) : kc;
            const int64_t lines = nx ? nrows * (GC_PX_NR * (int64_t)sizeof(float) / 64) : 0;
            const int64_t per = (lines + (g1 - g0) - 1) / (g1 - g0); /* lines each tile prefetches */
            for (int64_t ip = g0; ip < g1; ip++) {
                float *t = tiles[kc == K ? 0 : ip - g0];
                const int64_t first = (ip - g0) * per, npf = lines - first < per ? lines - first : per;
                j->kernel(kb, px_panel_rows(src, ip) + pc * src->as, src->as, w + pc * GC_PX_NR, t, nc, pc > 0,
                                     nx ? (const char *)nx + 64 * first : NULL, npf < 0 ? 0 : npf < kb ? npf : kb);
                if (pc + kb == K) px_store(j, jo, ip, t);
            }
        }
    }
}

/* Tiles [t0, t1) numbered channel panel major (jo * np + ip), panel by panel. */
static void px_run_by_channels(const px_job *j, int64_t t0, int64_t t1, const px_src *src) {
    for (int64_t jo = t0 / j->np; jo * j->np < t1; jo++) {
        const int64_t lo = t0 - jo * j->np > 0 ? t0 - jo * j->np : 0, hi = t1 - jo * j->np < j->np ? t1 - jo * j->np : j->np;
        px_panel(j, jo, lo, hi, src, (jo + 1) * j->np < t1 ? jo + 1 : -1);
    }
}

/* Tiles [lo, hi) of the shared packing, channel panel major. */
static void px_tiles(void *arg, int64_t lo, int64_t hi, int worker) {
    const px_job *j = arg;
    const px_src src = {j->a, 0, j->K * GC_PX_MR, GC_PX_MR};
    (void)worker;
    px_run_by_channels(j, lo, hi, &src);
}

void gc_pxgemm_run(gc_pool *pool, gc_gemm_tier tier, int64_t O, int64_t P, int64_t K, const float *packed,
                   const float *col, const float *bias, const float *res, float *y, float *ws, int epi, float lo,
                   float hi) {
    const int64_t np = round_up(P, GC_PX_MR) / GC_PX_MR, no = round_up(O, GC_PX_NR) / GC_PX_NR;
    px_job j = {O, P, K, np, epi, lo, hi, packed, col, bias, res, y, ws, 0, 0, NULL, NULL, {NULL, 0, 0},
                px_kernel_of(tier), px_store_of(tier)};
    gc_pool_for(pool, np, 1, 0, px_pack, &j);
    gc_pool_for(pool, no * np, 1, 0, px_tiles, &j);
}

/* ---- by pixels: each worker lowers and packs the pixel panels it multiplies, in its slot ---- */

/* At least 4 output channels per pixel (the weights outweigh the input: ResNet-50's 7x7 layers,
 * the 14x14 1x1 expansions to 1024): the workers split the channel panels and each packs every
 * pixel panel, so each streams half the weights; else they split the pixel panels, each packing
 * its own (packing, an im2col, costs more per float than streaming weights: ResNet-50's 14x14
 * layers of 256 and 512 channels were slower split by channels, far placement). Panels a
 * worker's slot holds: all np, or those a run of ceil(no * np / W) tiles (pixel panel major)
 * touches, at most ceil(np / W) + 1. */
static int px_by_channels(int64_t O, int64_t P) { return O / 4 >= P; }

static int64_t px_slot_panels(int64_t O, int64_t P, int workers) {
    const int64_t np = round_up(P, GC_PX_MR) / GC_PX_MR, per = (np + workers - 1) / workers + 1;
    return px_by_channels(O, P) || per > np ? np : per;
}

size_t gc_pxgemm_slot_floats(int64_t O, int64_t P, int64_t K, int workers) {
    int64_t n;
    if (O < 1 || P < 1 || K < 1 || workers < 1 || P > INT64_MAX / 2 ||
        gc_mul_i64(px_slot_panels(O, P, workers) * GC_PX_MR, K, &n) || n > INT64_MAX - 16)
        return SIZE_MAX;
    return (size_t)round_up(n, 16);
}

void gc_px_pack_matrix(const void *ctx, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr, float *dst) {
    const gc_px_matrix *m = ctx;
    for (int64_t jp = 0; jp * nr < nb; jp++) {
        const int64_t n = nb - jp * nr < nr ? nb - jp * nr : nr;
        float *d = dst + jp * kb * nr;
        for (int64_t k = 0; k < kb; k++) {
            const float *s = m->b + (p0 + k) * m->ld + j0 + jp * nr;
            int64_t r = 0;
            for (; r < n; r++) d[k * nr + r] = s[r];
            for (; r < nr; r++) d[k * nr + r] = 0.0f;
        }
    }
}

/* Chunk ch: tiles [t0, t1). By channels: tiles numbered channel panel major (jo * np + ip), every
 * pixel panel packed into the worker's slot. By pixels: numbered pixel panel major (ip * no + jo),
 * the chunk's pixel panels packed, then its tiles run channel panel outer. Either way a weight
 * panel stays over consecutive pixel panels. */
static void px_by_slots(void *arg, int64_t lo, int64_t hi, int worker) {
    const px_job *j = arg;
    float *a = j->slots.base + (size_t)worker * j->slots.stride; /* (panels, K, 7) */
    const int64_t ntiles = j->no * j->np, panel = j->K * GC_PX_MR;
    /* a 1x1 layer's input whose pixels fill the panels: read in place (row k at b + k * P) */
    const gc_px_matrix *mat = j->pack_b == gc_px_pack_matrix ? j->ctx : NULL;
    /* not with AVX2: its kernel reads a pixel panel once per 16 channels, and from the input's
       rows (K lines apart) the panel no longer stays in L1 (ResNet-50's 7x7 1x1 layers on one
       core, Zen 3: 68-69 GFLOP/s in place, 80-84 packed) */
    const int direct = PX_DIRECT && mat && j->P % GC_PX_MR == 0 && j->kernel == gc_px_ukernel_avx512;
    for (int64_t ch = lo; ch < hi; ch++) {
        const int64_t t0 = ch * ntiles / j->nch, t1 = (ch + 1) * ntiles / j->nch;
        if (t0 >= t1) continue;
        if (px_by_channels(j->O, j->P)) {
            const px_src src = direct ? (px_src){mat->b, 0, GC_PX_MR, mat->ld} : (px_src){a, 0, panel, GC_PX_MR};
            if (!direct) j->pack_b(j->ctx, 0, j->K, 0, j->P, GC_PX_MR, a);
            px_run_by_channels(j, t0, t1, &src);
            continue;
        }
        /* by pixels: tiles ip * no + jo, so each channel panel runs over a contiguous range of the
           chunk's pixel panels [ip0, ip1) (the first and last perhaps for only some panels) */
        const int64_t ip0 = t0 / j->no, ip1 = (t1 - 1) / j->no + 1;
        const px_src src = direct ? (px_src){mat->b, 0, GC_PX_MR, mat->ld} : (px_src){a, ip0, panel, GC_PX_MR};
        if (!direct) {
            const int64_t p1 = ip1 * GC_PX_MR < j->P ? ip1 * GC_PX_MR : j->P;
            j->pack_b(j->ctx, 0, j->K, ip0 * GC_PX_MR, p1 - ip0 * GC_PX_MR, GC_PX_MR, a);
        }
        for (int64_t jo = 0; jo < j->no; jo++) {
            const int64_t lo_ip = ip0 + (ip0 * j->no + jo < t0), hi_ip = ip1 - ((ip1 - 1) * j->no + jo >= t1);
            if (lo_ip < hi_ip) px_panel(j, jo, lo_ip, hi_ip, &src, jo + 1 < j->no ? jo + 1 : -1);
        }
    }
}

int gc_pxgemm_run_slots(gc_pool *pool, gc_gemm_tier tier, int64_t O, int64_t P, int64_t K, const float *packed,
                        gc_gemm_pack_b_fn pack_b, const void *ctx, const float *bias, const float *res, float *y,
                        gc_slots slots, int epi, float lo, float hi) {
    const int T = gc_pool_threads(pool);
    const int W = T < slots.n ? T : slots.n;
    if (!pack_b || !slots.base || W < 1 || O < 1 || P < 1 || K < 1) return 0;
    const size_t need = gc_pxgemm_slot_floats(O, P, K, W);
    if (need == SIZE_MAX || slots.stride < need) return 0;
    const int64_t np = round_up(P, GC_PX_MR) / GC_PX_MR, no = round_up(O, GC_PX_NR) / GC_PX_NR;
    px_job j = {O, P, K, np, epi, lo, hi, packed, NULL, bias, res, y, NULL, no, 0, pack_b, ctx, slots,
                px_kernel_of(tier), px_store_of(tier)};
    j.nch = no * np < W ? no * np : W;
    gc_pool_for(pool, j.nch, 1, (int)j.nch, px_by_slots, &j);
    return 1;
}
