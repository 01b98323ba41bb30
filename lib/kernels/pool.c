/* pool.c - vectorisable pooling kernels. */
#include "kernels/pool.h"
#include <string.h>

/* take = v > best or v is NaN (NaN always takes over) */
#define TAKE(v, best) (((v) > (best)) | ((v) != (v)))

void gc_maxpool2x2s2_row_portable(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    const float *r1 = r0 + W;
    for (int64_t j = 0; j < n; j++) {
        const float cand[3] = {r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
        float best = r0[2 * j];
        int t = 0;
        for (int k = 0; k < 3; k++) {
            const int take = TAKE(cand[k], best);
            best = take ? cand[k] : best;
            t = take ? k + 1 : t;
        }
        y[j] = best;
        tap[j] = (uint8_t)t;
    }
}

void gc_maxpool3x3s2_row_portable(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    enum { B = 16 }; /* windows per block: the tap loops below run over them (vectorised) */
    for (int64_t j0 = 0; j0 < n; j0 += B) {
        const int64_t nb = n - j0 < B ? n - j0 : B;
        float best[B];
        int32_t t[B];
        for (int64_t j = 0; j < nb; j++) best[j] = r0[2 * (j0 + j)], t[j] = 0;
        for (int k = 1; k < 9; k++) {
            const float *r = r0 + (k / 3) * W + k % 3 + 2 * j0;
            for (int64_t j = 0; j < nb; j++) {
                const float x = r[2 * j];
                const int take = TAKE(x, best[j]);
                best[j] = take ? x : best[j];
                t[j] = take ? k : t[j];
            }
        }
        for (int64_t j = 0; j < nb; j++) y[j0 + j] = best[j], tap[j0 + j] = (uint8_t)t[j];
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
