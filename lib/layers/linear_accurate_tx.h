/* linear_accurate_tx.h - the linear layer's accurate forward (gc_layer_ctx.accurate), compiled
 * in linear.c (portable) and linear_avx512.c (AVX-512: the conversions and double products
 * eight lanes a vector, so fc6 of VGG-16 streams W at memory speed instead of waiting on the
 * portable build's two-lane arithmetic); included, not a header of its own. The includer
 * defines LINEAR_ACC (the function's name) and LINEAR_ACC_LINKAGE. Each output is one double
 * sum of exact products (a float times a float is exact in double) and the bias, rounded once;
 * the same operations in the same order in both builds (no contraction), so the same bits. */
#include <string.h>

#ifndef LINEAR_ACC_CAT
#define LINEAR_ACC_CAT2(a, b) a##b
#define LINEAR_ACC_CAT(a, b) LINEAR_ACC_CAT2(a, b)
#endif

typedef double lacc_v8d __attribute__((vector_size(64)));
typedef float lacc_v8f __attribute__((vector_size(32)));

typedef struct lacc_job {
    const float *x, *w, *bias;
    float *y;
    int64_t N, O, I;
} lacc_job;

/* Blocks [b0, b1) of four outputs, every row of the batch: four rows of W, four memory streams. */
static void LINEAR_ACC_CAT(LINEAR_ACC, _blocks)(void *arg, int64_t b0, int64_t b1, int worker) {
    const lacc_job *j = arg;
    const int64_t N = j->N, I = j->I, O = j->O, I8 = I & ~(int64_t)7;
    (void)worker;
    for (int64_t b = b0; b < b1; b++) {
        const float *wr[4];
        for (int k = 0; k < 4; k++) wr[k] = j->w + (4 * b + k < O ? 4 * b + k : O - 1) * I;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = j->x + n * I;
            lacc_v8d a[4];
            memset(a, 0, sizeof a);
            for (int64_t i = 0; i < I8; i += 8) {
                lacc_v8f xf;
                memcpy(&xf, xr + i, 32);
                const lacc_v8d xd = __builtin_convertvector(xf, lacc_v8d);
                for (int k = 0; k < 4; k++) {
                    lacc_v8f wf;
                    memcpy(&wf, wr[k] + i, 32);
                    a[k] += xd * __builtin_convertvector(wf, lacc_v8d);
                }
            }
            for (int k = 0; k < 4 && 4 * b + k < O; k++) {
                double s = j->bias ? (double)j->bias[4 * b + k] : 0.0;
                for (int l = 0; l < 8; l++) s += a[k][l];
                for (int64_t i = I8; i < I; i++) s += (double)xr[i] * wr[k][i];
                j->y[n * O + 4 * b + k] = (float)s;
            }
        }
    }
}

/* y (N, O) = x (N, I) W^T (+ bias), W: O x I. */
LINEAR_ACC_LINKAGE void LINEAR_ACC(gc_pool *pool, const float *x, int64_t N, const float *w, const float *bias, int64_t O,
                                   int64_t I, float *y) {
    lacc_job j = {x, w, bias, y, N, O, I};
    gc_pool_for(pool, (O + 3) / 4, 4, 0, LINEAR_ACC_CAT(LINEAR_ACC, _blocks), &j);
}
