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
        if (mask) mask[w / 64] = bits;
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

void gc_relu_backward_tiles_avx512(const uint16_t *tiles, const float *dy, float *dx, int64_t p0, int64_t p1,
                                   int64_t H, int64_t W, int mode) {
    const __m512 zero = _mm512_setzero_ps();
    const int64_t TW = (W + 3) / 4, TH = (H + 3) / 4;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t y = 0; y < H; y++) {
            const uint16_t *tr = tiles + (p * TH + y / 4) * TW;
            const int sh = 4 * (int)(y % 4);
            const int64_t o = (p * H + y) * W;
            for (int64_t x = 0; x < W; x += 16) {
                const int64_t left = W - x;
                const __mmask16 valid = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                unsigned b = 0; /* this row's nibble of the four tiles under x .. x + 15 */
                for (int64_t k = 0; k < 4 && 4 * k < left; k++) b |= (unsigned)((tr[x / 4 + k] >> sh) & 0xF) << (4 * k);
                const __m512 g = _mm512_maskz_loadu_ps(valid, dy + o + x);
                __mmask16 pass = (__mmask16)(b & valid);
                if (mode != GC_RELU_NORMAL) {
                    const __mmask16 up = _mm512_cmp_ps_mask(g, zero, _CMP_GT_OQ);
                    pass = mode == GC_RELU_GUIDED ? (__mmask16)(pass & up) : up;
                }
                _mm512_mask_storeu_ps(dx + o + x, valid, _mm512_maskz_mov_ps(pass, g));
            }
        }
}
