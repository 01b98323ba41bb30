/* relu_simd.h - vector ReLU kernels with the [x > 0] mask as bits (internal).
 *
 * Element i's bit is bit (i % 64) of mask[i / 64]. Each kernel handles
 * elements [lo, hi) with lo a multiple of 64 and writes whole mask words, so
 * callers split work on 64-element boundaries (threads never share a word).
 * Results are bit-identical to the scalar loops in lib/layers/relu.c:
 *   forward   y = x > 0 ? x : 0 (NaN -> 0), bit = [x > 0] (mask NULL: the values only)
 *   backward  normal dy*[bit], guided dy*[bit]*[dy > 0], deconvnet dy*[dy > 0],
 *             a "pass" copies dy's bits (NaN passes), a block gives +0. */
#ifndef GC_KERNELS_RELU_SIMD_H
#define GC_KERNELS_RELU_SIMD_H

#include <stdint.h>

void gc_relu_forward_avx512(const float *x, float *y, uint64_t *mask, int64_t lo, int64_t hi);
void gc_relu_backward_avx512(const uint64_t *mask, const float *dy, float *dx, int64_t lo, int64_t hi, int mode);
void gc_relu_forward_avx2(const float *x, float *y, uint64_t *mask, int64_t lo, int64_t hi);
void gc_relu_backward_avx2(const uint64_t *mask, const float *dy, float *dx, int64_t lo, int64_t hi, int mode);
/* The bits alone, of a y that already went through the ReLU (a fused one, applied as stored). */
void gc_relu_mask_avx512(const float *y, uint64_t *mask, int64_t lo, int64_t hi);
void gc_relu_mask_avx2(const float *y, uint64_t *mask, int64_t lo, int64_t hi);
/* Backward with the bits as 4x4 tiles (kernels/activation.h's GC_EPI_BITS_TILES): planes [p0, p1)
 * of H x W. */
void gc_relu_backward_tiles_avx512(const uint16_t *tiles, const float *dy, float *dx, int64_t p0, int64_t p1,
                                   int64_t H, int64_t W, int mode);
void gc_relu_backward_tiles_avx2(const uint16_t *tiles, const float *dy, float *dx, int64_t p0, int64_t p1,
                                 int64_t H, int64_t W, int mode);

#endif
