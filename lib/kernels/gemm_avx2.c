/* gemm_avx2.c - AVX2+FMA micro-kernel 6x16: 12 ymm accumulators, 2 B loads and
 * 6 broadcasts of A per k step. Compiled with -mavx2 -mfma; called only after dispatch. */
#include "kernels/gemm.h"
#include "kernels/activation.h" /* GC_EPI_* */

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* The kernel, inlined into the plain entry (epi GC_EPI_NONE, folded away) and the one with an
 * epilogue (gemm_avx512.c's bits: MAXPS / MINPS return the second operand on NaN or zeros). */
static inline __attribute__((always_inline)) void kernel_6x16(int64_t k, const float *a, const float *b,
                                                               const int64_t ldb, float *c, int64_t ldc, float alpha,
                                                               float beta, int m, int n,
                                                               const float *bias, const float *res, int epi, float lo,
                                                               float hi) {
    enum { MR = 6, NR = 16 };
    /* c<i>0, c<i>1: row i of the (MR, NR) accumulator tile, columns 0-7 and 8-15 */
#define DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
    ROWS(DECL)
#undef DECL
    /* C tile is only touched after the k loop: fetch its lines meanwhile */
#define PREFETCH_C(i)                                                                      \
    if (i < m) {                                                                           \
        _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);                   \
        _mm_prefetch((const char *)(c + (int64_t)i * ldc + NR - 1), _MM_HINT_T0);          \
    }
    ROWS(PREFETCH_C)
#undef PREFETCH_C
    for (int64_t p = 0; p < k; p++, a += MR, b += ldb) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#define STEP(i)                                                                            \
    {                                                                                      \
        const __m256 ai = _mm256_broadcast_ss(a + i);                                      \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                        \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                                        \
    }
        ROWS(STEP)
#undef STEP
    }
    /* C = alpha * acc + beta * C (+ bias[i]) on the m x n corner; beta == 0 never loads C */
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
    const __m256i k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), iota);
    const int load_c = beta != 0.0f, full = n == NR; /* masked moves only at a ragged edge: they are slow on AMD */
    const __m256 zero = _mm256_setzero_ps(), lov = _mm256_set1_ps(lo), hiv = _mm256_set1_ps(hi);
#define STORE(i)                                                                           \
    if (i < m) {                                                                           \
        float *ci = c + (int64_t)i * ldc;                                                  \
        __m256 r0 = _mm256_mul_ps(va, c##i##0), r1 = _mm256_mul_ps(va, c##i##1);           \
        if (load_c) {                                                                      \
            r0 = _mm256_fmadd_ps(vb, full ? _mm256_loadu_ps(ci) : _mm256_maskload_ps(ci, k0), r0); \
            r1 = _mm256_fmadd_ps(vb, full ? _mm256_loadu_ps(ci + 8) : _mm256_maskload_ps(ci + 8, k1), r1); \
        }                                                                                  \
        if (bias) {                                                                        \
            const __m256 bi = _mm256_set1_ps(bias[i]);                                     \
            r0 = _mm256_add_ps(r0, bi);                                                    \
            r1 = _mm256_add_ps(r1, bi);                                                    \
        }                                                                                  \
        if (res) {                                                                         \
            const float *ri = res + (int64_t)i * ldc;                                      \
            r0 = _mm256_add_ps(r0, full ? _mm256_loadu_ps(ri) : _mm256_maskload_ps(ri, k0)); \
            r1 = _mm256_add_ps(r1, full ? _mm256_loadu_ps(ri + 8) : _mm256_maskload_ps(ri + 8, k1)); \
        }                                                                                  \
        if (epi == GC_EPI_RELU) {                                                          \
            r0 = _mm256_max_ps(r0, zero);                                                  \
            r1 = _mm256_max_ps(r1, zero);                                                  \
        } else if (epi == GC_EPI_CLAMP) {                                                  \
            r0 = _mm256_min_ps(hiv, _mm256_max_ps(lov, r0));                               \
            r1 = _mm256_min_ps(hiv, _mm256_max_ps(lov, r1));                               \
        }                                                                                  \
        if (full) {                                                                        \
            _mm256_storeu_ps(ci, r0);                                                      \
            _mm256_storeu_ps(ci + 8, r1);                                                  \
        } else {                                                                           \
            _mm256_maskstore_ps(ci, k0, r0);                                               \
            _mm256_maskstore_ps(ci + 8, k1, r1);                                           \
        }                                                                                  \
    }
    ROWS(STORE)
#undef STORE
}

void gc_gemm_ukernel_avx2_6x16(int64_t k, const float *a, const float *b, float *c,
                               int64_t ldc, float alpha, float beta, int m, int n, const float *bias) {
    kernel_6x16(k, a, b, 16, c, ldc, alpha, beta, m, n, bias, NULL, GC_EPI_NONE, 0.0f, 0.0f);
}

void gc_gemm_ukernel_avx2_6x16_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                   float alpha, float beta, int m, int n, const float *bias,
                                   const float *res, int epi, float lo, float hi) {
    kernel_6x16(k, a, b, 16, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi);
}

/* The same on B's rows in place (row p of the 16 columns at b + p * ldb, no packed panel): the
 * by-columns driver's full panels when K is small enough, where packing B cost a quarter of a
 * 1x1 layer's time. The same multiply-adds in the same order: the same bits. */
void gc_gemm_ukernel_avx2_6x16_ldb(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                                   float alpha, float beta, int m, const float *bias, const float *res, int epi,
                                   float lo, float hi) {
    kernel_6x16(k, a, b, ldb, c, ldc, alpha, beta, m, 16, bias, res, epi, lo, hi);
}

#else /* built without AVX2: never dispatched (gc_gemm_tier_available) */
void gc_gemm_ukernel_avx2_6x16(int64_t k, const float *a, const float *b, float *c,
                               int64_t ldc, float alpha, float beta, int m, int n, const float *bias) {
    (void)k; (void)a; (void)b; (void)c; (void)ldc; (void)alpha; (void)beta; (void)m; (void)n; (void)bias;
}
void gc_gemm_ukernel_avx2_6x16_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                   float alpha, float beta, int m, int n, const float *bias,
                                   const float *res, int epi, float lo, float hi) {
    (void)k; (void)a; (void)b; (void)c; (void)ldc; (void)alpha; (void)beta; (void)m; (void)n; (void)bias;
    (void)res; (void)epi; (void)lo; (void)hi;
}
void gc_gemm_ukernel_avx2_6x16_ldb(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                                   float alpha, float beta, int m, const float *bias, const float *res, int epi,
                                   float lo, float hi) {
    (void)k; (void)a; (void)b; (void)ldb; (void)c; (void)ldc; (void)alpha; (void)beta; (void)m; (void)bias;
    (void)res; (void)epi; (void)lo; (void)hi;
}
#endif
