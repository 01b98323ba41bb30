/* activation_tx.h - the activation kernels of activation.h, included once per instruction set
 * with ACT_SFX naming the build (portable, avx2, avx512). Each op is its own branch-free loop,
 * so the compiler vectorises it at the file's ISA; the C is the same, and so are the bits
 * (the AVX2 build's sigmoid and SiLU by hand, operation for operation: ACT_SIGM_VEC and
 * ACT_SIGM_BWD_VEC). */
#include "gradcam.h"
#include "kernels/activation.h"
#include <math.h>
#include <string.h>

#define ACT_CAT2(a, b) a##b
#define ACT_CAT(a, b) ACT_CAT2(a, b)

/* e^t for any float t (NaN stays NaN). t = k ln2 + r with k = round(t / ln2) and |r| <= ln2/2:
 * adding 1.5 * 2^23 rounds to an integer and leaves k in the low mantissa bits (no float-to-int
 * conversion, which would keep the loop scalar); ln2 in two parts, so k ln2 is exact enough;
 * e^r by a degree-6 polynomial (fitted to e^r's relative error on that interval: below 2e-8 with
 * the float coefficients); 2^k from the bits. t is first clamped to [-87.3, 88.3], where k + 127
 * stays in 1..254: below, e^t is under 1.2e-38 and comes out as e^-87.3 (an absolute error below
 * 1.2e-38); above, +inf (e^t is above 2.2e38, within a factor 1.5 of overflowing). */
static inline float exp_any(float t) {
    const float t0 = t;
    t = t < -87.3f ? -87.3f : t;
    t = t > 88.3f ? 88.3f : t;
    const float big = t * 1.44269504f + 12582912.0f, kf = big - 12582912.0f;
    uint32_t kb;
    memcpy(&kb, &big, sizeof kb);
    const float r = (t - kf * 0.693359375f) - kf * -2.12194440e-4f;
    float p = 1.38368458e-3f;
    p = p * r + 8.37481581e-3f;
    p = p * r + 4.16682251e-2f;
    p = p * r + 1.66664198e-1f;
    p = p * r + 0.499999911f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = (kb - 0x4B400000u + 127u) << 23; /* k + 127 in 1..254 (any bits for NaN) */
    float s;
    memcpy(&s, &bits, sizeof s);
    return t0 > 88.3f ? (float)INFINITY : p * s;
}

/* 1 / (1 + e^-x): 0 at -inf (e^-x = +inf), 1 at +inf, NaN for NaN. */
static inline float sigm(float x) { return 1.0f / (1.0f + exp_any(-x)); }

/* A build may do a prefix of the sigmoid (0) and SiLU (1) loops by hand, with the same bits:
 * ACT_SIGM_VEC(silu, x, y, n) and ACT_SIGM_BWD_VEC(silu, x, dy, dx, n) return how many
 * elements they did (activation_avx2.c). */
#ifndef ACT_SIGM_VEC
#define ACT_SIGM_VEC(silu, x, y, n) ((void)(x), (void)(y), (void)(n), (int64_t)0)
#endif
#ifndef ACT_SIGM_BWD_VEC
#define ACT_SIGM_BWD_VEC(silu, x, dy, dx, n) ((void)(x), (void)(dy), (void)(dx), (void)(n), (int64_t)0)
#endif

/* y = op(x), element by element: x and y are the same array or do not overlap. */
static inline void act_loop(int op, float a, float b, const float *x, float *y, int64_t n) {
    switch (op) {
    case GC_ACT_SIGMOID:
        for (int64_t i = ACT_SIGM_VEC(0, x, y, n); i < n; i++) y[i] = sigm(x[i]);
        break;
    case GC_ACT_SILU: /* x / (1 + e^-x): one rounding less than x sigm(x); -inf gives NaN, as x sigm(x) */
        for (int64_t i = ACT_SIGM_VEC(1, x, y, n); i < n; i++) y[i] = x[i] / (1.0f + exp_any(-x[i]));
        break;
    case GC_ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float u = a * x[i] + b;
            u = u < 0.0f ? 0.0f : u;
            y[i] = u > 1.0f ? 1.0f : u;
        }
        break;
    case GC_ACT_HARDSWISH:
        for (int64_t i = 0; i < n; i++) {
            float u = a * x[i] + b;
            u = u < 0.0f ? 0.0f : u;
            u = u > 1.0f ? 1.0f : u;
            y[i] = x[i] * u;
        }
        break;
    case GC_ACT_CLAMP:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < a ? a : x[i];
            y[i] = v > b ? b : v;
        }
        break;
    default:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : a * x[i];
        break;
    }
}

void ACT_CAT(gc_act_forward_, ACT_SFX)(int op, float a, float b, const float *restrict x, float *restrict y,
                                        int64_t n) {
    act_loop(op, a, b, x, y, n);
}

void ACT_CAT(gc_epi_act_, ACT_SFX)(int op, float a, float b, float *restrict y, int64_t n) {
    act_loop(op, a, b, y, y, n);
}

void ACT_CAT(gc_epi_clamp_, ACT_SFX)(float lo, float hi, float *restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = y[i] < lo ? lo : y[i];
        y[i] = v > hi ? hi : v;
    }
}

void ACT_CAT(gc_act_backward_y_, ACT_SFX)(float a, float b, const float *restrict y, const float *restrict dy,
                                           float *restrict dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (y[i] > a && y[i] < b ? 1.0f : 0.0f);
}

void ACT_CAT(gc_act_backward_, ACT_SFX)(int op, float a, float b, float lo, float hi, const float *restrict x,
                                         const float *restrict dy, float *restrict dx, int64_t n) {
    switch (op) {
    case GC_ACT_SIGMOID:
        for (int64_t i = ACT_SIGM_BWD_VEC(0, x, dy, dx, n); i < n; i++) {
            const float s = sigm(x[i]);
            dx[i] = dy[i] * (s * (1.0f - s));
        }
        break;
    case GC_ACT_SILU:
        for (int64_t i = ACT_SIGM_BWD_VEC(1, x, dy, dx, n); i < n; i++) {
            const float s = sigm(x[i]);
            dx[i] = dy[i] * (s * (1.0f + x[i] * (1.0f - s)));
        }
        break;
    case GC_ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > lo && x[i] < hi ? a : 0.0f);
        break;
    case GC_ACT_HARDSWISH: /* the side where a x + b > 1 has slope 1 */
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            const float outer = a * v + b > 0.0f ? 1.0f : 0.0f;
            dx[i] = dy[i] * (v >= lo && v <= hi ? 2.0f * a * v + b : outer);
        }
        break;
    case GC_ACT_CLAMP:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > a && x[i] < b ? 1.0f : 0.0f);
        break;
    default:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : a);
        break;
    }
}
