/* activation.h - element-wise activation kernels (internal): sigmoid, SiLU, hardsigmoid,
 * hardswish, clamp and leaky ReLU over [0, n), written branch-free so the compiler vectorises
 * them; one source (activation_tx.h) built portable, with AVX2 and with AVX-512 flags. The
 * exponential is our own (Taylor polynomial after a Cody-Waite reduction, within 2 ulp); no
 * fused multiply-adds, so every build gives the same bits. NaN propagates (PyTorch's rule).
 * op is a gc_activation_op; a, b its alpha and beta; lo, hi the hardsigmoid/hardswish kinks
 * on x (activation.c's breakpoints). */
#ifndef GC_KERNELS_ACTIVATION_H
#define GC_KERNELS_ACTIVATION_H

#include <stdint.h>

#define GC_ACT_KERNELS(sfx)                                                                        \
    void gc_act_forward_##sfx(int op, float a, float b, const float *x, float *y, int64_t n);    \
    void gc_act_backward_##sfx(int op, float a, float b, float lo, float hi, const float *x,     \
                               const float *dy, float *dx, int64_t n);
GC_ACT_KERNELS(portable)
GC_ACT_KERNELS(avx2)
GC_ACT_KERNELS(avx512)
#undef GC_ACT_KERNELS

#endif
