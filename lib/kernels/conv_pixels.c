/* conv_pixels.c - the GEMM for convolutions with few output pixels (contract in conv.h):
 * weight packing into 64-channel panels, the threaded driver and the transposed stores. The
 * micro-kernel is in conv_pixels_avx512.c. */
#include "kernels/conv.h"
#include "core/core.h"
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
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
    if (gc_mul_i64(round_up(P, GC_PX_MR) + GC_PX_SLOTS * GC_PX_MR, K, &a)) return SIZE_MAX;
    return (size_t)a;
}

/* The (pixel panel, channel panel) tiles in pixel-major order are split into one contiguous
 * range per thread: a thread packs the pixel panels its tiles read into its own slots (a panel
 * at the boundary of two ranges is packed by both) and writes its tiles' outputs, so no panel
 * one core writes is read by another and no barrier is needed (issue 13). */
void gc_pxgemm_run(int64_t O, int64_t P, int64_t K, const float *packed, const float *col, const float *bias,
                   float *y, float *ws) {
    const int64_t np = round_up(P, GC_PX_MR) / GC_PX_MR, no = round_up(O, GC_PX_NR) / GC_PX_NR, nt = np * no;
    float *a = ws; /* (np + GC_PX_SLOTS, K, 7): thread t packs pixel panel ip into slot ip + t */
#ifdef _OPENMP
    const int T = omp_get_max_threads() < GC_PX_SLOTS ? omp_get_max_threads() : GC_PX_SLOTS;
#endif
    GC_OMP(omp parallel num_threads(T) if (nt > 1))
    {
        int t = 0, T1 = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), T1 = omp_get_num_threads();
#endif
        int64_t packed_ip = -1;
        for (int64_t tile = nt * t / T1; tile < nt * (t + 1) / T1; tile++) {
            const int64_t ip = tile / no, jo = tile % no, p0 = ip * GC_PX_MR, n = P - p0 < GC_PX_MR ? P - p0 : GC_PX_MR;
            float *ap = a + (ip + t) * K * GC_PX_MR; /* (K, 7) */
            if (ip != packed_ip) { /* ap[k * 7 + r] = col[k, p0 + r] */
                for (int64_t k = 0; k < K; k++) {
                    const float *s = col + k * P + p0;
                    for (int r = 0; r < GC_PX_MR; r++) ap[k * GC_PX_MR + r] = r < n ? s[r] : 0.0f;
                }
                packed_ip = ip;
            }
            float tb[GC_PX_MR * GC_PX_NR]; /* (7, 64) the tile, pixel-major */
            gc_px_ukernel_avx512_7x64(K, ap, packed + jo * K * GC_PX_NR, tb);
            for (int j = 0; j < GC_PX_NR && jo * GC_PX_NR + j < O; j++) {
                const int64_t o = jo * GC_PX_NR + j;
                const float b = bias ? bias[o] : 0.0f;
                float *yo = y + o * P + p0;
                for (int r = 0; r < n; r++) yo[r] = tb[r * GC_PX_NR + j] + b;
            }
        }
    }
}
