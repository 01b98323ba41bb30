/* relu_avx512.c - ReLU with bit masks, 16 lanes: compare-to-mask and
 * masked moves (AVX-512F). */
#include "kernels/relu_simd.h"
#include "gradcam.h"
#include <immintrin.h>

void gc_relu_forward_avx512(const float *x, float *y, uint64_t *mask, int64_t lo, int64_t hi) {
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t w = lo; w < hi; w += 64) {
        uint64_t bits = 0;
        for (int64_t i = w; i < w + 64 && i < hi; i += 16) {
            int64_t left = hi - i;
            __mmask16 valid = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512 v = _mm512_maskz_loadu_ps(valid, x + i);
            __mmask16 pos = _mm512_mask_cmp_ps_mask(valid, v, zero, _CMP_GT_OQ);
            _mm512_mask_storeu_ps(y + i, valid, _mm512_maskz_mov_ps(pos, v));
            bits |= (uint64_t)pos << (i - w);
        }
        mask[w / 64] = bits;
    }
}

void gc_relu_backward_avx512(const uint64_t *mask, const float *dy, float *dx, int64_t lo, int64_t hi, int mode) {
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t w = lo; w < hi; w += 64) {
        const uint64_t bits = mask[w / 64];
        for (int64_t i = w; i < w + 64 && i < hi; i += 16) {
            int64_t left = hi - i;
            __mmask16 valid = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512 g = _mm512_maskz_loadu_ps(valid, dy + i);
            __mmask16 pos = (__mmask16)(bits >> (i - w)), pass;
            if (mode == GC_RELU_NORMAL) pass = pos;
            else {
                __mmask16 up = _mm512_cmp_ps_mask(g, zero, _CMP_GT_OQ);
                pass = mode == GC_RELU_GUIDED ? (__mmask16)(pos & up) : up;
            }
            _mm512_mask_storeu_ps(dx + i, valid, _mm512_maskz_mov_ps(pass, g));
        }
    }
}

void gc_relu_mask_avx512(const float *y, uint64_t *mask, int64_t lo, int64_t hi) {
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t w = lo; w < hi; w += 64) {
        uint64_t bits = 0;
        for (int64_t i = w; i < w + 64 && i < hi; i += 16) {
            int64_t left = hi - i;
            __mmask16 valid = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512 v = _mm512_maskz_loadu_ps(valid, y + i);
            bits |= (uint64_t)_mm512_mask_cmp_ps_mask(valid, v, zero, _CMP_GT_OQ) << (i - w);
        }
        mask[w / 64] = bits;
    }
}
