/* conv_pixels.c - the GEMM for convolutions with few output pixels (contract in conv.h):
 * weight packing into 64-channel panels, the threaded driver and the transposed stores. The
 * micro-kernel is in conv_pixels_avx512.c. */
#include "kernels/conv.h"
#include "core/core.h"
#include <string.h>

#ifdef _OPENMP
#define GC_OMP(x) _Pragma(#x)
#else
#define GC_OMP(x)
#endif

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

void gc_pxgemm_run(int64_t O, int64_t P, int64_t K, const float *packed, const float *col, const float *bias,
                   float *y, float *ws) {
    const int64_t np = round_up(P, GC_PX_MR) / GC_PX_MR, no = round_up(O, GC_PX_NR) / GC_PX_NR;
    float *a = ws; /* (np, K, 7) pixel panels of col */
    GC_OMP(omp parallel)
    {
        /* a[(ip * K + k) * 7 + r] = col[k, ip * 7 + r] */
        GC_OMP(omp for schedule(static))
        for (int64_t ip = 0; ip < np; ip++) {
            float *d = a + ip * K * GC_PX_MR;
            const int64_t p0 = ip * GC_PX_MR, n = P - p0 < GC_PX_MR ? P - p0 : GC_PX_MR;
            for (int64_t k = 0; k < K; k++) {
                const float *s = col + k * P + p0;
                for (int r = 0; r < GC_PX_MR; r++) d[k * GC_PX_MR + r] = r < n ? s[r] : 0.0f;
            }
        }
        /* tiles, channel panel outer: a thread's consecutive tiles share one weight panel */
        GC_OMP(omp for schedule(static) collapse(2))
        for (int64_t jo = 0; jo < no; jo++)
            for (int64_t ip = 0; ip < np; ip++) {
                float t[GC_PX_MR * GC_PX_NR]; /* (7, 64) the tile, pixel-major */
                gc_px_ukernel_avx512_7x64(K, a + ip * K * GC_PX_MR, packed + jo * K * GC_PX_NR, t);
                const int64_t p0 = ip * GC_PX_MR, n = P - p0 < GC_PX_MR ? P - p0 : GC_PX_MR;
                for (int j = 0; j < GC_PX_NR && jo * GC_PX_NR + j < O; j++) {
                    const int64_t o = jo * GC_PX_NR + j;
                    const float b = bias ? bias[o] : 0.0f;
                    float *yo = y + o * P + p0;
                    for (int r = 0; r < n; r++) yo[r] = t[r * GC_PX_NR + j] + b;
                }
            }
    }
}
