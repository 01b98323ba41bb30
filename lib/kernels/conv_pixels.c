/* conv_pixels.c - the GEMM for convolutions with few output pixels (contract in conv.h):
 * weight packing into 64-channel panels, the threaded driver and the transposed stores. The
 * micro-kernel is in conv_pixels_avx512.c. */
#include "kernels/conv.h"
#include "kernels/activation.h" /* GC_EPI_* */
#include "core/core.h"
#include <string.h>


static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

int gc_pxgemm_applies(gc_gemm_tier tier, int64_t P) {
    return gc_gemm_resolve(tier) == GC_GEMM_AVX512 && P <= 256 &&
           round_up(P, GC_PX_MR) < round_up(P, 32);
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

typedef struct px_job {
    int64_t O, P, K, np;
    int epi;
    float lo, hi;
    const float *packed, *col, *bias, *res;
    float *y, *a;
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

/* Tiles [lo, hi), channel panel outer: consecutive tiles share one weight panel. */
static void px_tiles(void *arg, int64_t lo, int64_t hi, int worker) {
    const px_job *j = arg;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const int64_t jo = t / j->np, ip = t % j->np;
        float tile[GC_PX_MR * GC_PX_NR]; /* (7, 64) pixel-major; columns past nc rounded to 16 unset */
        const int64_t p0 = ip * GC_PX_MR, n = j->P - p0 < GC_PX_MR ? j->P - p0 : GC_PX_MR;
        const int64_t nc = j->O - jo * GC_PX_NR < GC_PX_NR ? j->O - jo * GC_PX_NR : GC_PX_NR;
        if (nc == GC_PX_NR)
            gc_px_ukernel_avx512_7x64(j->K, j->a + ip * j->K * GC_PX_MR, j->packed + jo * j->K * GC_PX_NR, tile);
        else /* a last panel of fewer channels (80 = 64 + 16): only its 16-column groups */
            gc_px_ukernel_avx512_7xn(j->K, j->a + ip * j->K * GC_PX_MR, j->packed + jo * j->K * GC_PX_NR, tile, nc);
        float bs[GC_PX_NR] = {0}; /* the panel's bias, zero past O */
        if (j->bias) memcpy(bs, j->bias + jo * GC_PX_NR, (size_t)nc * sizeof(float));
        const int64_t at = jo * GC_PX_NR * j->P + p0;
        gc_px_store_avx512(tile, bs, j->res ? j->res + at : NULL, j->epi, j->lo, j->hi, j->y + at, j->P, n, nc);
    }
}

void gc_pxgemm_run(gc_pool *pool, int64_t O, int64_t P, int64_t K, const float *packed, const float *col,
                   const float *bias, const float *res, float *y, float *ws, int epi, float lo, float hi) {
    const int64_t np = round_up(P, GC_PX_MR) / GC_PX_MR, no = round_up(O, GC_PX_NR) / GC_PX_NR;
    px_job j = {O, P, K, np, epi, lo, hi, packed, col, bias, res, y, ws};
    gc_pool_for(pool, np, 1, 0, px_pack, &j);
    gc_pool_for(pool, no * np, 1, 0, px_tiles, &j);
}
