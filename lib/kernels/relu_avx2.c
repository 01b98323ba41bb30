/* relu_avx2.c - ReLU with bit masks, 8 lanes: compare + movemask forward,
 * bits expanded to lane masks backward (AVX2). */
#include "kernels/relu_simd.h"
#include "gradcam.h"
#include <immintrin.h>

/* Lane j all-ones where bit j of b is set. */
static inline __m256 lanes_of(unsigned b) {
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i v = _mm256_and_si256(_mm256_set1_epi32((int)b), sel);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(v, sel));
}

void gc_relu_forward_avx2(const float *x, float *y, uint64_t *mask, int64_t lo, int64_t hi) {
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t w = lo; w < hi; w += 64) {
        uint64_t bits = 0;
        int64_t i = w, end = w + 64 < hi ? w + 64 : hi;
        for (; i + 8 <= end; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), m = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
            _mm256_storeu_ps(y + i, _mm256_and_ps(v, m));
            bits |= (uint64_t)(unsigned)_mm256_movemask_ps(m) << (i - w);
        }
        for (; i < end; i++) {
            int pos = x[i] > 0.0f;
            y[i] = pos ? x[i] : 0.0f;
            bits |= (uint64_t)pos << (i - w);
        }
        if (mask) mask[w / 64] = bits;
    }
}

void gc_relu_backward_avx2(const uint64_t *mask, const float *dy, float *dx, int64_t lo, int64_t hi, int mode) {
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t w = lo; w < hi; w += 64) {
        const uint64_t bits = mask[w / 64];
        int64_t i = w, end = w + 64 < hi ? w + 64 : hi;
        for (; i + 8 <= end; i += 8) {
            __m256 g = _mm256_loadu_ps(dy + i), pass = lanes_of((unsigned)(bits >> (i - w)) & 0xffu);
            if (mode != GC_RELU_NORMAL) {
                __m256 up = _mm256_cmp_ps(g, zero, _CMP_GT_OQ);
                pass = mode == GC_RELU_GUIDED ? _mm256_and_ps(pass, up) : up;
            }
            _mm256_storeu_ps(dx + i, _mm256_and_ps(g, pass));
        }
        for (; i < end; i++) {
            int pos = (int)((bits >> (i - w)) & 1u), up = dy[i] > 0.0f;
            int pass = mode == GC_RELU_NORMAL ? pos : mode == GC_RELU_GUIDED ? pos && up : up;
            dx[i] = pass ? dy[i] : 0.0f;
        }
    }
}

void gc_relu_mask_avx2(const float *y, uint64_t *mask, int64_t lo, int64_t hi) {
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t w = lo; w < hi; w += 64) {
        uint64_t bits = 0;
        int64_t i = w, end = w + 64 < hi ? w + 64 : hi;
        for (; i + 8 <= end; i += 8)
            bits |= (uint64_t)(unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(y + i), zero, _CMP_GT_OQ)) << (i - w);
        for (; i < end; i++) bits |= (uint64_t)(y[i] > 0.0f) << (i - w);
        mask[w / 64] = bits;
    }
}

void gc_relu_backward_tiles_avx2(const uint16_t *tiles, const float *dy, float *dx, int64_t p0, int64_t p1,
                                 int64_t H, int64_t W, int mode) {
    const __m256 zero = _mm256_setzero_ps();
    const int64_t TW = (W + 3) / 4, TH = (H + 3) / 4;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t y = 0; y < H; y++) {
            const uint16_t *tr = tiles + (p * TH + y / 4) * TW;
            const int sh = 4 * (int)(y % 4);
            const int64_t o = (p * H + y) * W;
            int64_t x = 0;
            for (; x + 8 <= W; x += 8) { /* this row's nibbles of the two tiles under x .. x + 7 */
                const unsigned b = ((unsigned)(tr[x / 4] >> sh) & 0xFu) | ((unsigned)(tr[x / 4 + 1] >> sh) & 0xFu) << 4;
                __m256 g = _mm256_loadu_ps(dy + o + x), pass = lanes_of(b);
                if (mode != GC_RELU_NORMAL) {
                    __m256 up = _mm256_cmp_ps(g, zero, _CMP_GT_OQ);
                    pass = mode == GC_RELU_GUIDED ? _mm256_and_ps(pass, up) : up;
                }
                _mm256_storeu_ps(dx + o + x, _mm256_and_ps(g, pass));
            }
            for (; x < W; x++) {
                int pos = (tr[x / 4] >> (sh + x % 4)) & 1, up = dy[o + x] > 0.0f;
                int pass = mode == GC_RELU_NORMAL ? pos : mode == GC_RELU_GUIDED ? pos && up : up;
                dx[o + x] = pass ? dy[o + x] : 0.0f;
            }
        }
}
