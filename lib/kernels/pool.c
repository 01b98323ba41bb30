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
