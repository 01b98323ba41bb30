/* activation_avx2.c - the activation kernels of activation_tx.h built with avx2 flags; sigmoid
 * and SiLU by hand, forward and backward (act_sigm_vec, act_sigm_bwd_vec below: 1.5 and 2
 * times as fast as GCC's vectorised loops on Zen 3, the same bits). */
#include <immintrin.h>
#include <stdint.h>

/* e[k] = e^-x[k] for k < V: activation_tx.h's exp_any(-x) operation for operation (multiplies
 * and adds apart, no fused multiply-add; the clamps as max and min with the bound first,
 * which return t for a NaN t as its selects do), so the same bits. Stage by stage over the V
 * vectors: each element's chain of operations is long (about 75 cycles of latency with the
 * division after it, 30 operations) and the out-of-order window holds only a few of them;
 * Zen 3, SiLU forward, one core: 0.79 ns an element from GCC's loop, V 1 0.68, 2 0.64, 4
 * 0.59, 8 0.54 (some constants then live on the stack), 12 0.60, 16 0.65. */
static inline __attribute__((always_inline)) void exp_neg(int V, const __m256 *x, __m256 *e) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.3f), l2e = _mm256_set1_ps(1.44269504f);
    const __m256 magic = _mm256_set1_ps(12582912.0f), ln2a = _mm256_set1_ps(0.693359375f);
    const __m256 ln2b = _mm256_set1_ps(-2.12194440e-4f), one = _mm256_set1_ps(1.0f);
    const __m256 c6 = _mm256_set1_ps(1.38368458e-3f), c5 = _mm256_set1_ps(8.37481581e-3f);
    const __m256 c4 = _mm256_set1_ps(4.16682251e-2f), c3 = _mm256_set1_ps(1.66664198e-1f);
    const __m256 c2 = _mm256_set1_ps(0.499999911f), inf = _mm256_set1_ps(__builtin_inff());
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i bias = _mm256_set1_epi32((int32_t)(127u - 0x4B400000u)); /* k + 127 from big's bits */
    __m256 t0[16], t[16], big[16], r[16];
    for (int k = 0; k < V; k++) t0[k] = _mm256_xor_ps(x[k], sign); /* t = -x */
    for (int k = 0; k < V; k++) t[k] = _mm256_min_ps(hi, _mm256_max_ps(lo, t0[k]));
    for (int k = 0; k < V; k++) big[k] = _mm256_add_ps(_mm256_mul_ps(t[k], l2e), magic);
    for (int k = 0; k < V; k++) {
        const __m256 kf = _mm256_sub_ps(big[k], magic);
        r[k] = _mm256_sub_ps(_mm256_sub_ps(t[k], _mm256_mul_ps(kf, ln2a)), _mm256_mul_ps(kf, ln2b));
    }
    for (int k = 0; k < V; k++) e[k] = _mm256_add_ps(_mm256_mul_ps(c6, r[k]), c5);
    for (int k = 0; k < V; k++) e[k] = _mm256_add_ps(_mm256_mul_ps(e[k], r[k]), c4);
    for (int k = 0; k < V; k++) e[k] = _mm256_add_ps(_mm256_mul_ps(e[k], r[k]), c3);
    for (int k = 0; k < V; k++) e[k] = _mm256_add_ps(_mm256_mul_ps(e[k], r[k]), c2);
    for (int k = 0; k < V; k++) e[k] = _mm256_add_ps(_mm256_mul_ps(e[k], r[k]), one);
    for (int k = 0; k < V; k++) e[k] = _mm256_add_ps(_mm256_mul_ps(e[k], r[k]), one);
    for (int k = 0; k < V; k++) {
        const __m256i s = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(big[k]), bias), 23);
        e[k] = _mm256_mul_ps(e[k], _mm256_castsi256_ps(s));
        e[k] = _mm256_blendv_ps(e[k], inf, _mm256_cmp_ps(t0[k], hi, _CMP_GT_OQ));
    }
}

/* The sigmoid (silu 0) or SiLU (silu 1) of x[0 .. n rounded down to 8) into y, the bits of
 * activation_tx.h's loops (1 / (1 + e^-x), x / (1 + e^-x)). Returns the count done; the
 * caller's loop does the rest. */
static int64_t act_sigm_vec(int silu, const float *x, float *y, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256 xv[8], e[8];
        for (int k = 0; k < 8; k++) xv[k] = _mm256_loadu_ps(x + i + 8 * k);
        exp_neg(8, xv, e);
        for (int k = 0; k < 8; k++)
            _mm256_storeu_ps(y + i + 8 * k, _mm256_div_ps(silu ? xv[k] : one, _mm256_add_ps(one, e[k])));
    }
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i), e;
        exp_neg(1, &xv, &e);
        _mm256_storeu_ps(y + i, _mm256_div_ps(silu ? xv : one, _mm256_add_ps(one, e)));
    }
    return i;
}
#define ACT_SIGM_VEC act_sigm_vec

/* Their backward, the same way: s = 1 / (1 + e^-x); dx = dy (s (1 - s)) (sigmoid), dy (s (1 +
 * x (1 - s))) (SiLU). */
static int64_t act_sigm_bwd_vec(int silu, const float *x, const float *dy, float *dx, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n;) {
        const int V = i + 64 <= n ? 8 : 1;
        __m256 xv[8], e[8];
        if (V == 8) {
            for (int k = 0; k < 8; k++) xv[k] = _mm256_loadu_ps(x + i + 8 * k);
            exp_neg(8, xv, e);
        } else {
            xv[0] = _mm256_loadu_ps(x + i);
            exp_neg(1, xv, e);
        }
        for (int k = 0; k < V; k++) {
            const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e[k])), u = _mm256_sub_ps(one, s);
            const __m256 d = silu ? _mm256_mul_ps(s, _mm256_add_ps(one, _mm256_mul_ps(xv[k], u))) : _mm256_mul_ps(s, u);
            _mm256_storeu_ps(dx + i + 8 * k, _mm256_mul_ps(_mm256_loadu_ps(dy + i + 8 * k), d));
        }
        i += 8 * V;
    }
    return i;
}
#define ACT_SIGM_BWD_VEC act_sigm_bwd_vec

#define ACT_SFX avx2
#include "kernels/activation_tx.h"
