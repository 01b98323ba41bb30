/* activation_avx2.c - the activation kernels of activation_tx.h built with avx2 flags; sigmoid
 * and SiLU forward by hand (act_sigm_vec below, 1.5 times as fast as GCC's vectorised loop on
 * Zen 3, the same bits). */
#include <immintrin.h>
#include <stdint.h>

/* The sigmoid (silu 0) or SiLU (silu 1) of x[0 .. n rounded down to 8) into y: activation_tx.h's
 * exp_any, sigm and SiLU loop operation for operation (multiplies and adds apart, no fused
 * multiply-add; the clamps as max and min with the bound first, which return t for a NaN
 * t as the selects do), so the same bits. Returns the count done; the caller's loop does the
 * rest. */
static int64_t act_sigm_vec(int silu, const float *x, float *y, int64_t n) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.3f), l2e = _mm256_set1_ps(1.44269504f);
    const __m256 magic = _mm256_set1_ps(12582912.0f), ln2a = _mm256_set1_ps(0.693359375f);
    const __m256 ln2b = _mm256_set1_ps(-2.12194440e-4f), one = _mm256_set1_ps(1.0f);
    const __m256 c6 = _mm256_set1_ps(1.38368458e-3f), c5 = _mm256_set1_ps(8.37481581e-3f);
    const __m256 c4 = _mm256_set1_ps(4.16682251e-2f), c3 = _mm256_set1_ps(1.66664198e-1f);
    const __m256 c2 = _mm256_set1_ps(0.499999911f), inf = _mm256_set1_ps(__builtin_inff());
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i bias = _mm256_set1_epi32((int32_t)(127u - 0x4B400000u));
    int64_t i = 0;
    /* V vectors a step, stage by stage: each element's chain of operations is long (about 75
       cycles of latency, 30 operations), and the out-of-order window holds only a few of them;
       Zen 3, SiLU, one core: 0.79 ns an element from GCC's loop, V 1 0.68, 2 0.64, 4 0.59,
       8 0.54 (some constants then live on the stack), 12 0.60, 16 0.65 */
    enum { V = 8 };
    for (; i + 8 * V <= n; i += 8 * V) {
        __m256 xv[V], t0[V], t[V], big[V], kf[V], r[V], p[V];
        for (int k = 0; k < V; k++) xv[k] = _mm256_loadu_ps(x + i + 8 * k);
        for (int k = 0; k < V; k++) t0[k] = _mm256_xor_ps(xv[k], sign); /* t = -x */
        for (int k = 0; k < V; k++) t[k] = _mm256_min_ps(hi, _mm256_max_ps(lo, t0[k]));
        for (int k = 0; k < V; k++) big[k] = _mm256_add_ps(_mm256_mul_ps(t[k], l2e), magic);
        for (int k = 0; k < V; k++) kf[k] = _mm256_sub_ps(big[k], magic);
        for (int k = 0; k < V; k++)
            r[k] = _mm256_sub_ps(_mm256_sub_ps(t[k], _mm256_mul_ps(kf[k], ln2a)), _mm256_mul_ps(kf[k], ln2b));
        for (int k = 0; k < V; k++) p[k] = _mm256_add_ps(_mm256_mul_ps(c6, r[k]), c5);
        for (int k = 0; k < V; k++) p[k] = _mm256_add_ps(_mm256_mul_ps(p[k], r[k]), c4);
        for (int k = 0; k < V; k++) p[k] = _mm256_add_ps(_mm256_mul_ps(p[k], r[k]), c3);
        for (int k = 0; k < V; k++) p[k] = _mm256_add_ps(_mm256_mul_ps(p[k], r[k]), c2);
        for (int k = 0; k < V; k++) p[k] = _mm256_add_ps(_mm256_mul_ps(p[k], r[k]), one);
        for (int k = 0; k < V; k++) p[k] = _mm256_add_ps(_mm256_mul_ps(p[k], r[k]), one);
        for (int k = 0; k < V; k++) {
            const __m256i e2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(big[k]), bias), 23);
            p[k] = _mm256_mul_ps(p[k], _mm256_castsi256_ps(e2));
            p[k] = _mm256_blendv_ps(p[k], inf, _mm256_cmp_ps(t0[k], hi, _CMP_GT_OQ));
        }
        for (int k = 0; k < V; k++)
            _mm256_storeu_ps(y + i + 8 * k, _mm256_div_ps(silu ? xv[k] : one, _mm256_add_ps(one, p[k])));
    }
#define ACT_SIGM8(X, Y)                                                                                 \
    do {                                                                                                \
        const __m256 x_ = (X), t0_ = _mm256_xor_ps(x_, sign); /* t = -x */                              \
        const __m256 t_ = _mm256_min_ps(hi, _mm256_max_ps(lo, t0_));                                   \
        const __m256 big_ = _mm256_add_ps(_mm256_mul_ps(t_, l2e), magic);                               \
        const __m256 kf_ = _mm256_sub_ps(big_, magic);                                                  \
        const __m256 r_ = _mm256_sub_ps(_mm256_sub_ps(t_, _mm256_mul_ps(kf_, ln2a)), _mm256_mul_ps(kf_, ln2b)); \
        __m256 p_ = _mm256_add_ps(_mm256_mul_ps(c6, r_), c5);                                           \
        p_ = _mm256_add_ps(_mm256_mul_ps(p_, r_), c4);                                                  \
        p_ = _mm256_add_ps(_mm256_mul_ps(p_, r_), c3);                                                  \
        p_ = _mm256_add_ps(_mm256_mul_ps(p_, r_), c2);                                                  \
        p_ = _mm256_add_ps(_mm256_mul_ps(p_, r_), one);                                                 \
        p_ = _mm256_add_ps(_mm256_mul_ps(p_, r_), one);                                                 \
        const __m256i k_ = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(big_), bias), 23);     \
        __m256 e_ = _mm256_mul_ps(p_, _mm256_castsi256_ps(k_));                                         \
        e_ = _mm256_blendv_ps(e_, inf, _mm256_cmp_ps(t0_, hi, _CMP_GT_OQ));                              \
        (Y) = _mm256_div_ps(silu ? x_ : one, _mm256_add_ps(one, e_));                                   \
    } while (0)
    for (; i + 8 <= n; i += 8) {
        __m256 y0;
        ACT_SIGM8(_mm256_loadu_ps(x + i), y0);
        _mm256_storeu_ps(y + i, y0);
    }
#undef ACT_SIGM8
    return i;
}
#define ACT_SIGM_VEC act_sigm_vec

#define ACT_SFX avx2
#include "kernels/activation_tx.h"
