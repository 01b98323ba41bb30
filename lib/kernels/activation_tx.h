/* activation_tx.h - the activation kernels of activation.h, included once per instruction set
 * with ACT_SFX naming the build (portable, avx2, avx512). Each op is its own branch-free loop,
 * so the compiler vectorises it at the file's ISA; the C is the same, and so are the bits. */
#include "gradcam.h"
#include "kernels/activation.h"
#include <string.h>

#define ACT_CAT2(a, b) a##b
#define ACT_CAT(a, b) ACT_CAT2(a, b)

/* e^x for x <= 0 (NaN stays NaN); 0 below -87.3, where e^x leaves the normal floats (an
 * absolute error below 1.2e-38, and sigmoid(-1000) is 0 as it should be). x = k ln2 + r with
 * k = round(x / ln2) and |r| <= ln2/2: adding 1.5 * 2^23 rounds to an integer and leaves k in
 * the low mantissa bits (no float-to-int conversion, which would keep the loop scalar); ln2 in
 * two parts, so k ln2 is exact enough; e^r by its Taylor polynomial to r^7 (remainder below
 * 6e-9 relative); 2^k from the bits. */
static inline float exp_nonpos(float x) {
    const float x0 = x;
    x = x < -87.3f ? -87.3f : x;
    const float big = x * 1.44269504f + 12582912.0f, kf = big - 12582912.0f;
    uint32_t kb;
    memcpy(&kb, &big, sizeof kb);
    const float r = (x - kf * 0.693359375f) - kf * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = (kb - 0x4B400000u + 127u) << 23; /* k + 127 in 1..127 (any bits for NaN) */
    float s;
    memcpy(&s, &bits, sizeof s);
    return x0 < -87.3f ? 0.0f : p * s;
}

/* 1 / (1 + e^-x) from e^-|x| (never overflows): s for x >= 0, e s below. */
static inline float sigm(float x) {
    const float ax = x < 0.0f ? -x : x;
    const float e = exp_nonpos(-ax), s = 1.0f / (1.0f + e);
    return x < 0.0f ? e * s : s; /* NaN: s is NaN */
}

/* y = op(x), element by element: x and y are the same array or do not overlap. */
static inline void act_loop(int op, float a, float b, const float *x, float *y, int64_t n) {
    switch (op) {
    case GC_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = sigm(x[i]);
        break;
    case GC_ACT_SILU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * sigm(x[i]);
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
        for (int64_t i = 0; i < n; i++) {
            const float s = sigm(x[i]);
            dx[i] = dy[i] * (s * (1.0f - s));
        }
        break;
    case GC_ACT_SILU:
        for (int64_t i = 0; i < n; i++) {
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
