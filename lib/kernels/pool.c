/* pool.c - vectorisable pooling kernels. */
#include "kernels/pool.h"
#include <string.h>

static inline uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void gc_maxpool2x2_row(const float *r0, int64_t W, int64_t base, int64_t n, float *y, int64_t *arg) {
    const float *r1 = r0 + W;
    for (int64_t j = 0; j < n; j++) {
        const float cand[3] = {r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
        const int64_t off[3] = {1, W, W + 1};
        float best = r0[2 * j];
        int64_t bi = base + 2 * j;
        for (int k = 0; k < 3; k++) {
            /* take = v > best or v is NaN, as an all-ones mask */
            const float v = cand[k];
            const uint32_t m = -(uint32_t)((v > best) | (v != v));
            best = float_of(bits_of(best) ^ ((bits_of(best) ^ bits_of(v)) & m));
            bi ^= (bi ^ (base + 2 * j + off[k])) & (int64_t)(int32_t)m;
        }
        y[j] = best;
        arg[j] = bi;
    }
}

void gc_maxpool3x3s2_row(const float *r0, int64_t W, int64_t base, int64_t n, float *y, int64_t *arg) {
    enum { B = 16 }; /* windows per block: the tap loops below run over them (vectorised) */
    for (int64_t j0 = 0; j0 < n; j0 += B) {
        const int64_t nb = n - j0 < B ? n - j0 : B;
        float best[B];
        int32_t tap[B]; /* winning tap u * 3 + v */
        for (int64_t j = 0; j < nb; j++) best[j] = r0[2 * (j0 + j)], tap[j] = 0;
        for (int k = 1; k < 9; k++) {
            const float *r = r0 + (k / 3) * W + k % 3 + 2 * j0;
            for (int64_t j = 0; j < nb; j++) {
                const float x = r[2 * j];
                const int take = (x > best[j]) | (x != x);
                best[j] = take ? x : best[j];
                tap[j] = take ? k : tap[j];
            }
        }
        for (int64_t j = 0; j < nb; j++) {
            y[j0 + j] = best[j];
            arg[j0 + j] = base + (tap[j] / 3) * W + tap[j] % 3 + 2 * (j0 + j);
        }
    }
}

double gc_sum_f64(const float *x, int64_t n) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += x[i + k];
    for (int k = 0; i < n; i++, k++) s[k] += x[i];
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}
