/* pool_avx2.c - max-pool row kernels, 8 windows a vector (AVX2): the stride-2 columns of two
 * loaded vectors by a shuffle and a lane permute, take = (x > best) | (x unordered), the
 * winner by blends. Loads past the needed columns are masked off (maskload), so nothing
 * outside the rows is read. */
#include "kernels/pool.h"
#include <immintrin.h>

static inline __m256i first(int64_t k) { /* lanes [0, k) all ones */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t kk = k >= 8 ? 8 : k <= 0 ? 0 : (int32_t)k;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(kk), lane);
}

static inline __m256 evens(__m256 a, __m256 b) { /* a0 a2 a4 a6 b0 b2 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
}
static inline __m256 odds(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

#define STEP(x, k)                                                                                     \
    do {                                                                                               \
        const __m256 x_ = (x);                                                                         \
        const __m256 m_ = _mm256_or_ps(_mm256_cmp_ps(x_, best, _CMP_GT_OQ), _mm256_cmp_ps(x_, x_, _CMP_UNORD_Q)); \
        best = _mm256_blendv_ps(best, x_, m_);                                                         \
        t = _mm256_blendv_ps(t, _mm256_castsi256_ps(_mm256_set1_epi32(k)), m_);                        \
    } while (0)

static inline void put(float *y, uint8_t *tap, int64_t nb, __m256 best, __m256 t) {
    int32_t tv[8];
    _mm256_maskstore_ps(y, first(nb), best);
    _mm256_storeu_si256((__m256i *)tv, _mm256_castps_si256(t));
    for (int64_t j = 0; j < nb && j < 8; j++) tap[j] = (uint8_t)tv[j];
}

void gc_maxpool2x2s2_row_avx2(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    for (int64_t j0 = 0; j0 < n; j0 += 8) {
        const int64_t c = 2 * (n - j0); /* columns from 2 j0 that the windows read */
        const __m256i ma = first(c), mb = first(c - 8);
        const float *p = r0 + 2 * j0;
        const __m256 a0 = _mm256_maskload_ps(p, ma), b0 = _mm256_maskload_ps(p + 8, mb);
        const __m256 a1 = _mm256_maskload_ps(p + W, ma), b1 = _mm256_maskload_ps(p + W + 8, mb);
        __m256 best = evens(a0, b0), t = _mm256_setzero_ps();
        STEP(odds(a0, b0), 1);
        STEP(evens(a1, b1), 2);
        STEP(odds(a1, b1), 3);
        put(y + j0, tap + j0, n - j0, best, t);
    }
}

void gc_maxpool3x3s2_row_avx2(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    for (int64_t j0 = 0; j0 < n; j0 += 8) {
        const int64_t c = 2 * (n - j0) + 1; /* columns from 2 j0 that the windows read */
        const __m256i ma = first(c), mb = first(c - 8), mc = first(c - 2), md = first(c - 10);
        __m256 best = _mm256_setzero_ps(), t = _mm256_setzero_ps();
        for (int u = 0; u < 3; u++) {
            const float *p = r0 + u * W + 2 * j0;
            const __m256 a = _mm256_maskload_ps(p, ma), b = _mm256_maskload_ps(p + 8, mb);
            const __m256 a2 = _mm256_maskload_ps(p + 2, mc), b2 = _mm256_maskload_ps(p + 10, md);
            const __m256 x0 = evens(a, b);
            if (u == 0) best = x0;
            else STEP(x0, 3 * u);
            STEP(odds(a, b), 3 * u + 1);
            STEP(evens(a2, b2), 3 * u + 2);
        }
        put(y + j0, tap + j0, n - j0, best, t);
    }
}
