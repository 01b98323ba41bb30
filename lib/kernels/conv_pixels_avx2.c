/* conv_pixels_avx2.c - AVX2+FMA micro-kernel of the few-pixels GEMM (contract in conv.h): the
 * 7 x 64 tile in passes of 7 pixels x 16 channels (14 ymm accumulators, one column of B in a
 * register, the other a memory operand, and the broadcast fill the 16 registers), and the
 * transposed stores. Compiled with -mavx2 -mfma; called only after dispatch (gc_pxgemm_applies).
 * Each column's sum is the same chain of fused multiply-adds as the AVX-512 kernel's: the same
 * bits on either tier. */
#include "kernels/conv.h"
#include "kernels/activation.h" /* GC_EPI_* */

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6)

/* Columns [0, 8 W) of the tile (W = 1 or 2) from b's columns at the same offsets (rows 64 floats
 * apart); pf/npf: the prefetches of gc_px_ukernel_avx2, done in the first pass only. */
static inline __attribute__((always_inline)) void pass(int64_t k, const float *a, int64_t as, const float *b,
                                                       float *t, const int W, int acc, const char *pf, int64_t npf) {
#define DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = c##i##0;
    ROWS(DECL)
#undef DECL
    if (acc) {
#define LOAD(i)                                                                            \
    c##i##0 = _mm256_loadu_ps(t + i * GC_PX_NR);                                           \
    if (W > 1) c##i##1 = _mm256_loadu_ps(t + i * GC_PX_NR + 8);
        ROWS(LOAD)
#undef LOAD
    }
    for (int64_t p = 0; p < k; p++, a += as, b += GC_PX_NR) {
        if (p < npf) _mm_prefetch(pf + 64 * p, _MM_HINT_T1);
        const __m256 b0 = _mm256_loadu_ps(b);
        /* the second column as a memory operand of each row's multiply-add (its address hidden
           per row, else GCC keeps it in a register and spills an accumulator) */
#define STEP(i)                                                                            \
    {                                                                                      \
        const __m256 ai = _mm256_broadcast_ss(a + i);                                      \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                        \
        if (W > 1) {                                                                       \
            const float *b1 = b + 8;                                                       \
            __asm__ volatile("" : "+r"(b1));                                               \
            c##i##1 = _mm256_fmadd_ps(ai, _mm256_loadu_ps(b1), c##i##1);                   \
        }                                                                                  \
    }
        ROWS(STEP)
#undef STEP
    }
#define STORE(i)                                                                           \
    _mm256_storeu_ps(t + i * GC_PX_NR, c##i##0);                                           \
    if (W > 1) _mm256_storeu_ps(t + i * GC_PX_NR + 8, c##i##1);
    ROWS(STORE)
#undef STORE
}

void gc_px_ukernel_avx2(int64_t k, const float *a, int64_t as, const float *b, float *t, int64_t nc, int acc,
                        const char *pf, int64_t npf) {
    for (int64_t c = 0; c < nc; c += 16, pf = NULL, npf = 0) {
        if (nc - c > 8) pass(k, a, as, b + c, t + c, 2, acc, pf, npf);
        else pass(k, a, as, b + c, t + c, 1, acc, pf, npf);
    }
}

/* The first n (<= 8) lanes of v to y: plain moves for n = 7 (a masked store is slow on AMD). */
static inline void store_n(float *y, __m256 v, int64_t n) {
    if (n == 7) {
        const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
        _mm_storeu_ps(y, lo);
        _mm_storel_pi((__m64 *)(void *)(y + 4), hi);
        _mm_store_ss(y + 6, _mm_movehl_ps(hi, hi));
        return;
    }
    float buf[8];
    _mm256_storeu_ps(buf, v);
    for (int64_t r = 0; r < n; r++) y[r] = buf[r];
}

static inline __m256 load_n(const float *x, int64_t n) {
    if (n == 7) {
        const __m128 two = _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(const void *)(x + 4));
        const __m128 hi = _mm_movelh_ps(two, _mm_load_ss(x + 6));
        return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(x)), hi, 1);
    }
    float buf[8] = {0};
    for (int64_t r = 0; r < n; r++) buf[r] = x[r];
    return _mm256_loadu_ps(buf);
}

/* As gc_px_store_avx512: per 8 channels the 7 pixel rows (and a zero eighth) transposed in
 * registers, each channel's pixels stored together; the epilogue's bits are the activation
 * loop's (MAXPS / MINPS return the second operand when either is NaN). */
void gc_px_store_avx2(const float *t, const float *bias, const float *res, int epi, float lo, float hi, float *y,
                      int64_t P, int64_t n, int64_t nc) {
    const __m256 zero = _mm256_setzero_ps(), lov = _mm256_set1_ps(lo), hiv = _mm256_set1_ps(hi);
    for (int64_t q = 0; q * 8 < nc; q++) {
        const __m256 b = _mm256_loadu_ps(bias + 8 * q);
        __m256 v[8];
        for (int r = 0; r < 7; r++) {
            __m256 x = _mm256_add_ps(_mm256_loadu_ps(t + r * GC_PX_NR + 8 * q), b);
            if (!res && epi == GC_EPI_RELU) x = _mm256_max_ps(x, zero); /* with res: after it, below */
            else if (!res && epi == GC_EPI_CLAMP) x = _mm256_min_ps(hiv, _mm256_max_ps(lov, x));
            v[r] = x;
        }
        v[7] = zero;
        __m256 u[8], s[8], w[8];
        for (int r = 0; r < 8; r += 2) {
            u[r] = _mm256_unpacklo_ps(v[r], v[r + 1]);
            u[r + 1] = _mm256_unpackhi_ps(v[r], v[r + 1]);
        }
        for (int h = 0; h < 2; h++) { /* per 128-bit half: s[4h + k] column k (of 4) of rows 4h..4h+3 */
            s[4 * h + 0] = _mm256_shuffle_ps(u[4 * h], u[4 * h + 2], 0x44);
            s[4 * h + 1] = _mm256_shuffle_ps(u[4 * h], u[4 * h + 2], 0xEE);
            s[4 * h + 2] = _mm256_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0x44);
            s[4 * h + 3] = _mm256_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0xEE);
        }
        for (int k = 0; k < 4; k++) { /* channel k: low halves; channel 4 + k: high halves */
            w[k] = _mm256_permute2f128_ps(s[k], s[4 + k], 0x20);
            w[4 + k] = _mm256_permute2f128_ps(s[k], s[4 + k], 0x31);
        }
        for (int c = 0; c < 8; c++) {
            const int64_t ch = 8 * q + c;
            if (ch >= nc) break;
            __m256 x = w[c];
            if (res) {
                x = _mm256_add_ps(x, load_n(res + ch * P, n));
                if (epi == GC_EPI_RELU) x = _mm256_max_ps(x, zero);
                else if (epi == GC_EPI_CLAMP) x = _mm256_min_ps(hiv, _mm256_max_ps(lov, x));
            }
            store_n(y + ch * P, x, n);
        }
    }
}

#else /* built without AVX2: never dispatched (gc_pxgemm_applies) */
void gc_px_ukernel_avx2(int64_t k, const float *a, int64_t as, const float *b, float *t, int64_t nc, int acc,
                        const char *pf, int64_t npf) {
    (void)k; (void)a; (void)as; (void)b; (void)t; (void)nc; (void)acc; (void)pf; (void)npf;
}
void gc_px_store_avx2(const float *t, const float *bias, const float *res, int epi, float lo, float hi, float *y,
                      int64_t P, int64_t n, int64_t nc) {
    (void)t; (void)bias; (void)res; (void)epi; (void)lo; (void)hi; (void)y; (void)P; (void)n; (void)nc;
}
#endif
