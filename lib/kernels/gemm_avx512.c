/* gemm_avx512.c - AVX-512F micro-kernel 14x32: 28 zmm accumulators, 2 B loads and
 * 14 broadcasts of A per k step. Compiled with -mavx512*; called only after dispatch. */
#include "kernels/gemm.h"
#include "kernels/activation.h" /* GC_EPI_* */

#if defined(__AVX512F__)
/* gc_cpu_detect() reports AVX-512F only: keep the compiler to F (the Makefile also
 * enables VL/DQ/BW for *_avx512.c, which would let it emit e.g. kmovd). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512vl,no-avx512dq,no-avx512bw")
#endif
#include <immintrin.h>

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

/* The kernel, inlined into the plain entry (epi GC_EPI_NONE, folded away) and the one with an
 * epilogue. The epilogue's bits are the activation loops': ReLU max(v, 0) is v > 0 ? v : 0 and
 * clamp max(lo, v) then min(hi, u) are v < lo ? lo : v, u > hi ? hi : u (MAXPS / MINPS return
 * the second operand when either is NaN or both are zeros). R (a constant, m <= R <= 14): the
 * rows computed; the A panel stays 14 wide. */
static inline __attribute__((always_inline)) void kernel_14x32(const int R, int64_t k, const float *a, const float *b,
                                                                const int64_t ldb, float *c, int64_t ldc, float alpha, float beta, int m,
                                                                int n, const float *bias, const float *res, int epi, float lo,
                                                                float hi) {
    enum { MR = 14, NR = 32 };
    /* c<i>0, c<i>1: row i of the (MR, NR) accumulator tile, columns 0-15 and 16-31 */
#define DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
    ROWS(DECL)
#undef DECL
    /* C tile and residual are only touched after the k loop: fetch their lines meanwhile */
#define PREFETCH_C(i)                                                                      \
    if (i < m) {                                                                           \
        _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);                   \
        _mm_prefetch((const char *)(c + (int64_t)i * ldc + NR - 1), _MM_HINT_T0);          \
        if (res) {                                                                         \
            _mm_prefetch((const char *)(res + (int64_t)i * ldc), _MM_HINT_T0);             \
            _mm_prefetch((const char *)(res + (int64_t)i * ldc + NR - 1), _MM_HINT_T0);    \
        }                                                                                  \
    }
    ROWS(PREFETCH_C)
#undef PREFETCH_C
    for (int64_t p = 0; p < k; p++, a += MR, b += ldb) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define STEP(i)                                                                            \
    if (i < R) {                                                                           \
        const __m512 ai = _mm512_set1_ps(a[i]);                                            \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                        \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                        \
    }
        ROWS(STEP)
#undef STEP
    }
    /* C = alpha * acc + beta * C (+ bias[i]) on the m x n corner; beta == 0 never loads C */
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    const __mmask16 k1 = n >= 32 ? (__mmask16)0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : 0;
    const int load_c = beta != 0.0f;
    const __m512 zero = _mm512_setzero_ps(), lov = _mm512_set1_ps(lo), hiv = _mm512_set1_ps(hi);
#define STORE(i)                                                                           \
    if (i < m) {                                                                           \
        float *ci = c + (int64_t)i * ldc;                                                  \
        __m512 r0 = _mm512_mul_ps(va, c##i##0), r1 = _mm512_mul_ps(va, c##i##1);           \
        if (load_c) {                                                                      \
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, ci), r0);                   \
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, ci + 16), r1);              \
        }                                                                                  \
        if (bias) {                                                                        \
            const __m512 bi = _mm512_set1_ps(bias[i]);                                     \
            r0 = _mm512_add_ps(r0, bi);                                                    \
            r1 = _mm512_add_ps(r1, bi);                                                    \
        }                                                                                  \
        if (res) {                                                                         \
            const float *ri = res + (int64_t)i * ldc;                                      \
            r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(k0, ri));                         \
            r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(k1, ri + 16));                    \
        }                                                                                  \
        if (epi == GC_EPI_RELU) {                                                          \
            r0 = _mm512_max_ps(r0, zero);                                                  \
            r1 = _mm512_max_ps(r1, zero);                                                  \
        } else if (epi == GC_EPI_CLAMP) {                                                  \
            r0 = _mm512_min_ps(hiv, _mm512_max_ps(lov, r0));                               \
            r1 = _mm512_min_ps(hiv, _mm512_max_ps(lov, r1));                               \
        }                                                                                  \
        _mm512_mask_storeu_ps(ci, k0, r0);                                                 \
        _mm512_mask_storeu_ps(ci + 16, k1, r1);                                            \
    }
    ROWS(STORE)
#undef STORE
}

void gc_gemm_ukernel_avx512_14x32(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias) {
    kernel_14x32(14, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, NULL, GC_EPI_NONE, 0.0f, 0.0f);
}

/* The packed driver's kernel. A last panel of m < 14 rows (M = 64: 8, M = 128: 2) computes the
 * even number of rows that covers m instead of 14 (each row's chain of multiply-adds unchanged:
 * the same bits); 9 % of the 1x1 work of ResNet-50's 64- and 128-channel layers was padding. */
void gc_gemm_ukernel_avx512_14x32_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                      float alpha, float beta, int m, int n, const float *bias,
                                      const float *res, int epi, float lo, float hi) {
    switch ((m + 1) / 2) {
    case 1: kernel_14x32(2, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi); break;
    case 2: kernel_14x32(4, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi); break;
    case 3: kernel_14x32(6, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi); break;
    case 4: kernel_14x32(8, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi); break;
    case 5: kernel_14x32(10, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi); break;
    case 6: kernel_14x32(12, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi); break;
    default: kernel_14x32(14, k, a, b, 32, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi); break;
    }
}

/* The same on B's rows in place (row p of the 32 columns at b + p * ldb, no packed panel): the
 * by-columns driver's full panels when K is small, where packing cost as much as the multiply-adds.
 * The same multiply-adds in the same order: the same bits. */
void gc_gemm_ukernel_avx512_14x32_ldb(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                                      float alpha, float beta, int m, const float *bias, const float *res, int epi,
                                      float lo, float hi) {
    switch ((m + 1) / 2) {
    case 1: kernel_14x32(2, k, a, b, ldb, c, ldc, alpha, beta, m, 32, bias, res, epi, lo, hi); break;
    case 2: kernel_14x32(4, k, a, b, ldb, c, ldc, alpha, beta, m, 32, bias, res, epi, lo, hi); break;
    case 3: kernel_14x32(6, k, a, b, ldb, c, ldc, alpha, beta, m, 32, bias, res, epi, lo, hi); break;
    case 4: kernel_14x32(8, k, a, b, ldb, c, ldc, alpha, beta, m, 32, bias, res, epi, lo, hi); break;
    case 5: kernel_14x32(10, k, a, b, ldb, c, ldc, alpha, beta, m, 32, bias, res, epi, lo, hi); break;
    case 6: kernel_14x32(12, k, a, b, ldb, c, ldc, alpha, beta, m, 32, bias, res, epi, lo, hi); break;
    default: kernel_14x32(14, k, a, b, ldb, c, ldc, alpha, beta, m, 32, bias, res, epi, lo, hi); break;
    }
}

/* 16x16 for products with few rows (a Winograd convolution of 16 tiles: 16 rows fill one
 * panel where 14-row panels would compute 28): 16 zmm accumulators, 1 B load and 16
 * broadcasts of A per k step, FMA-bound on cores with two loads per cycle. */
#define ROWS16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

void gc_gemm_ukernel_avx512_16x16(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias) {
    enum { MR = 16, NR = 16 };
#define DECL(i) __m512 c##i = _mm512_setzero_ps();
    ROWS16(DECL)
#undef DECL
#define PREFETCH_C(i) if (i < m) _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);
    ROWS16(PREFETCH_C)
#undef PREFETCH_C
    for (int64_t p = 0; p < k; p++, a += MR, b += NR) {
        const __m512 b0 = _mm512_loadu_ps(b);
#define STEP(i) c##i = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), b0, c##i);
        ROWS16(STEP)
#undef STEP
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    const int load_c = beta != 0.0f;
#define STORE(i)                                                                           \
    if (i < m) {                                                                           \
        float *ci = c + (int64_t)i * ldc;                                                  \
        __m512 r0 = _mm512_mul_ps(va, c##i);                                               \
        if (load_c) r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, ci), r0);           \
        if (bias) r0 = _mm512_add_ps(r0, _mm512_set1_ps(bias[i]));                         \
        _mm512_mask_storeu_ps(ci, k0, r0);                                                 \
    }
    ROWS16(STORE)
#undef STORE
}

#else /* built without AVX-512: never dispatched (gc_gemm_tier_available) */
void gc_gemm_ukernel_avx512_14x32(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias) {
    (void)k; (void)a; (void)b; (void)c; (void)ldc; (void)alpha; (void)beta; (void)m; (void)n; (void)bias;
}
void gc_gemm_ukernel_avx512_14x32_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                      float alpha, float beta, int m, int n, const float *bias,
                                      const float *res, int epi, float lo, float hi) {
    (void)k; (void)a; (void)b; (void)c; (void)ldc; (void)alpha; (void)beta; (void)m; (void)n; (void)bias;
    (void)res; (void)epi; (void)lo; (void)hi;
}
void gc_gemm_ukernel_avx512_14x32_ldb(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                                      float alpha, float beta, int m, const float *bias, const float *res, int epi,
                                      float lo, float hi) {
    (void)k; (void)a; (void)b; (void)ldb; (void)c; (void)ldc; (void)alpha; (void)beta; (void)m; (void)bias;
    (void)res; (void)epi; (void)lo; (void)hi;
}
void gc_gemm_ukernel_avx512_16x16(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias) {
    (void)k; (void)a; (void)b; (void)c; (void)ldc; (void)alpha; (void)beta; (void)m; (void)n; (void)bias;
}
#endif
