/* pool_avx512.c - max-pool row kernels, 16 windows a vector (AVX-512F): the stride-2 columns
 * of two loaded vectors by one two-source permute, take = (x > best) | (x unordered), the
 * winner by masked moves, the taps stored as bytes. Loads past the needed columns are
 * masked off, so nothing outside the rows is read. */
#include "kernels/pool.h"
#include <immintrin.h>

static inline __mmask16 first(int64_t k) { /* lanes [0, k) */
    return k >= 16 ? (__mmask16)0xffff : k <= 0 ? (__mmask16)0 : (__mmask16)((1u << k) - 1);
}

/* Taps x at number k: the windows where x takes over get x and k. */
#define STEP(x, k)                                                                                     \
    do {                                                                                               \
        const __m512 x_ = (x);                                                                         \
        const __mmask16 m_ = _mm512_cmp_ps_mask(x_, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(x_, x_, _CMP_UNORD_Q); \
        best = _mm512_mask_mov_ps(best, m_, x_);                                                       \
        t = _mm512_mask_mov_epi32(t, m_, _mm512_set1_epi32(k));                                        \
    } while (0)

void gc_maxpool2x2s2_row_avx512(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        const int64_t c = 2 * (n - j0); /* columns from 2 j0 that the windows read */
        const __mmask16 ma = first(c), mb = first(c - 16);
        const float *p = r0 + 2 * j0;
        const __m512 a0 = _mm512_maskz_loadu_ps(ma, p), b0 = _mm512_maskz_loadu_ps(mb, p + 16);
        const __m512 a1 = _mm512_maskz_loadu_ps(ma, p + W), b1 = _mm512_maskz_loadu_ps(mb, p + W + 16);
        __m512 best = _mm512_permutex2var_ps(a0, ev, b0);
        __m512i t = _mm512_setzero_si512();
        STEP(_mm512_permutex2var_ps(a0, od, b0), 1);
        STEP(_mm512_permutex2var_ps(a1, ev, b1), 2);
        STEP(_mm512_permutex2var_ps(a1, od, b1), 3);
        const __mmask16 mo = first(n - j0);
        _mm512_mask_storeu_ps(y + j0, mo, best);
        _mm512_mask_cvtepi32_storeu_epi8(tap + j0, mo, t);
    }
}

void gc_maxpool3x3s2_row_avx512(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        const int64_t c = 2 * (n - j0) + 1; /* columns from 2 j0 that the windows read */
        const __mmask16 ma = first(c), mb = first(c - 16), mc = first(c - 2), md = first(c - 18);
        __m512 best = _mm512_setzero_ps();
        __m512i t = _mm512_setzero_si512();
        for (int u = 0; u < 3; u++) {
            const float *p = r0 + u * W + 2 * j0;
            const __m512 a = _mm512_maskz_loadu_ps(ma, p), b = _mm512_maskz_loadu_ps(mb, p + 16);
            const __m512 a2 = _mm512_maskz_loadu_ps(mc, p + 2), b2 = _mm512_maskz_loadu_ps(md, p + 18);
            const __m512 x0 = _mm512_permutex2var_ps(a, ev, b);
            if (u == 0) best = x0;
            else STEP(x0, 3 * u);
            STEP(_mm512_permutex2var_ps(a, od, b), 3 * u + 1);
            STEP(_mm512_permutex2var_ps(a2, ev, b2), 3 * u + 2);
        }
        const __mmask16 mo = first(n - j0);
        _mm512_mask_storeu_ps(y + j0, mo, best);
        _mm512_mask_cvtepi32_storeu_epi8(tap + j0, mo, t);
    }
}

void gc_sum4_f64_avx512(const float *x, int64_t ld, int64_t n, double s[4]) {
    __m512d a[4]; /* lane k of row r: gc_sum_f64's sum k */
    for (int r = 0; r < 4; r++) a[r] = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int r = 0; r < 4; r++) a[r] = _mm512_add_pd(a[r], _mm512_cvtps_pd(_mm256_loadu_ps(x + r * ld + i)));
    for (int r = 0; r < 4; r++) {
        double t[8];
        _mm512_storeu_pd(t, a[r]);
        for (int64_t j = i, k = 0; j < n; j++, k++) t[k] += x[r * ld + j];
        s[r] = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    }
}
