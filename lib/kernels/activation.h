/* activation.h - element-wise activation kernels (internal): sigmoid, SiLU, hardsigmoid,
 * hardswish, clamp and leaky ReLU over [0, n), written branch-free so the compiler vectorises
 * them; one source (activation_tx.h) built portable, with AVX2 and with AVX-512 flags. The
 * exponential is our own (a degree-6 polynomial after a Cody-Waite reduction; sigmoid and SiLU
 * within 3 ulp of double precision, test_layers); no
 * fused multiply-adds, so every build gives the same bits. NaN propagates (PyTorch's rule).
 * op is a gc_activation_op; a, b its alpha and beta; lo, hi the hardsigmoid/hardswish kinks
 * on x (activation.c's breakpoints).
 * gc_epi_clamp: a fused clamp (gc_epilogue GC_EPI_CLAMP) in place; gc_epi_act: any op in place
 * (GC_EPI_ACT), the bits of gc_act_forward.
 * gc_act_backward_y: clamp's backward from y instead of x (the same bits: y lies strictly
 * inside (a, b) exactly where x does). */
#ifndef GC_KERNELS_ACTIVATION_H
#define GC_KERNELS_ACTIVATION_H

#include <stdint.h>

/* An element-wise map a layer applies to its output as it stores it: the activation that
 * reads only that output, fused into it by the session planner (layers/layer.h's
 * GC_TRAIT_EPILOGUE kinds). Each op gives the bits of the activation layer it stands for:
 *   GC_EPI_RELU   y = v > 0 ? v : 0, and the bits [v > 0] into mask (the ReLU's state): mask[0]
 *                 says how the words after it hold them, GC_EPI_BITS_FLAT: bit i of mask[1 + i / 64]
 *                 is element i; GC_EPI_BITS_TILES (Winograd's output transform writes them as it
 *                 stores): the uint16_t at (plane * TH + ty) * TW + tx from mask + 1, plane = image
 *                 * channels + channel, TH, TW the 4x4 tiles down and across, has in bit 4 i + j
 *                 output (4 ty + i, 4 tx + j)
 *   GC_EPI_CLAMP  u = v < lo ? lo : v; y = u > hi ? hi : u  (activation clamp; NaN stays)
 *   GC_EPI_ACT    the activation layer's op act with alpha lo and beta hi (gc_act_forward's
 *                 bits); no kernel applies it as it stores: gc_epilogue_run's pass after them
 * A GC_EPI_RELU with mask NULL writes no bits (a session that never runs the ReLU's backward). */
enum { GC_EPI_NONE, GC_EPI_RELU, GC_EPI_CLAMP, GC_EPI_ACT };
enum { GC_EPI_BITS_FLAT, GC_EPI_BITS_TILES };
typedef struct gc_epilogue {
    int       op;     /* GC_EPI_* */
    float     lo, hi; /* GC_EPI_CLAMP's bounds; GC_EPI_ACT's alpha and beta */
    uint64_t *mask;   /* GC_EPI_RELU: the layout word, then the mask bits; or NULL */
    int       act;    /* GC_EPI_ACT: the gc_activation_op */
} gc_epilogue;

#define GC_ACT_KERNELS(sfx)                                                                        \
    void gc_act_forward_##sfx(int op, float a, float b, const float *x, float *y, int64_t n);    \
    void gc_act_backward_##sfx(int op, float a, float b, float lo, float hi, const float *x,     \
                               const float *dy, float *dx, int64_t n);                         \
    void gc_epi_clamp_##sfx(float lo, float hi, float *y, int64_t n);                            \
    void gc_epi_act_##sfx(int op, float a, float b, float *y, int64_t n);                        \
    void gc_act_backward_y_##sfx(float a, float b, const float *y, const float *dy, float *dx,    \
                                 int64_t n);
GC_ACT_KERNELS(portable)
GC_ACT_KERNELS(avx2)
GC_ACT_KERNELS(avx512)
#undef GC_ACT_KERNELS

#endif
