/* linear_avx512.c - linear.c's row-wise batch paths in 16-lane vectors (AVX-512 tier): the
 * same operations on the same values in the same order for every element, so the same bits
 * as linear.c's portable forms (and as a batch-1 pass), with more rows and outputs per pass.
 * Products are rounded before they are added (ISO C: no contraction into FMA). */
#include "layers/linear_rows.h"
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));

/* One dot's 16 partial sums (lanes 4q + j: gemm.c's s_q[j]) reduced as dot() reduces them. */
static float reduce16(v16 a) {
    float s[4];
    for (int j = 0; j < 4; j++) s[j] = (a[j] + a[4 + j]) + (a[8 + j] + a[12 + j]);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

typedef struct rows_job {
    const float *x, *w, *g[8];
    float *y;
    int64_t N, O, I, n0;
    int R;
} rows_job;

/* y[n, o] = dot(x_n, W_o) for output blocks [lo, hi) of four: four rows by four outputs per
 * pass (16 independent sums). */
static void rows_dot_blocks(void *arg, int64_t lo, int64_t hi, int worker) {
    const rows_job *j = arg;
    const float *x = j->x, *w = j->w;
    const int64_t N = j->N, O = j->O, I = j->I;
    float *y = j->y;
    (void)worker;
    for (int64_t ob = lo; ob < hi; ob++) {
        const int64_t o0 = ob * 4;
        const float *wr[4]; /* (I) each; past O: repeats of the last row (not stored) */
        for (int k = 0; k < 4; k++) wr[k] = w + (o0 + k < O ? o0 + k : O - 1) * I;
        if (N == 1) { /* one row: four outputs per pass, each weight row its own memory stream */
            v16 a[4];
            memset(a, 0, sizeof a);
            int64_t p = 0;
            for (; p + 16 <= I; p += 16) {
                v16 wv, u;
                memcpy(&u, x + p, 64);
                for (int k = 0; k < 4; k++) {
                    memcpy(&wv, wr[k] + p, 64);
                    a[k] += u * wv;
                }
            }
            for (int k = 0; k < 4 && o0 + k < O; k++) {
                float s = reduce16(a[k]);
                for (int64_t q = p; q < I; q++) s += x[q] * wr[k][q];
                y[o0 + k] = s;
            }
            continue;
        }
        for (int64_t n0 = 0; n0 < N; n0 += 4) {
            const float *xr[4];
            for (int r = 0; r < 4; r++) xr[r] = x + (n0 + r < N ? n0 + r : N - 1) * I;
            v16 a[4][4];
            memset(a, 0, sizeof a);
            int64_t p = 0;
            for (; p + 16 <= I; p += 16) {
                v16 wv[4], u;
                for (int k = 0; k < 4; k++) memcpy(&wv[k], wr[k] + p, 64);
                for (int r = 0; r < 4; r++) {
                    memcpy(&u, xr[r] + p, 64);
                    a[r][0] += u * wv[0];
                    a[r][1] += u * wv[1];
                    a[r][2] += u * wv[2];
                    a[r][3] += u * wv[3];
                }
            }
            for (int r = 0; r < 4 && n0 + r < N; r++)
                for (int k = 0; k < 4 && o0 + k < O; k++) {
                    float s = reduce16(a[r][k]);
                    for (int64_t q = p; q < I; q++) s += xr[r][q] * wr[k][q];
                    y[(n0 + r) * O + o0 + k] = s;
                }
        }
    }
}

void gc_linear_rows_dot_avx512(gc_pool *pool, const float *x, int64_t N, const float *w, int64_t O, int64_t I,
                               float *y) {
    rows_job j = {.x = x, .w = w, .y = y, .N = N, .O = O, .I = I};
    gc_pool_for(pool, (O + 3) / 4, 4, 0, rows_dot_blocks, &j);
}

/* Column blocks [lo, hi) of CB columns of rows n0 .. n0 + 7 of dx (past R: scratch rows):
 * their sums stay in acc (8 x CB floats, L1) while W's rows stream through four at a time,
 * each row's block read once as one contiguous run (reading 32 columns of every row in turn,
 * one cache-line pair per 100 KB row, used a third of the memory bandwidth). */
enum { CB = 512 };
static void rows_times_w_blocks(void *arg, int64_t lo, int64_t hi, int worker) {
    const rows_job *j = arg;
    const float *w = j->w;
    const int64_t O = j->O, I = j->I, n0 = j->n0, O4 = O & ~(int64_t)3;
    (void)worker;
    for (int64_t cb = lo; cb < hi; cb++) {
        const int64_t i0 = cb * CB, nv = ((I & ~(int64_t)15) - i0 < CB ? (I & ~(int64_t)15) - i0 : CB) / 16;
        v16 acc[8][CB / 16];
        memset(acc, 0, sizeof acc);
        int64_t o = 0;
        for (; o < O4; o += 4) {
            const float *w0 = w + o * I + i0, *w1 = w0 + I, *w2 = w1 + I, *w3 = w2 + I;
            for (int64_t c = 0; c < nv; c++) {
                v16 x0, x1, x2, x3;
                memcpy(&x0, w0 + 16 * c, 64);
                memcpy(&x1, w1 + 16 * c, 64);
                memcpy(&x2, w2 + 16 * c, 64);
                memcpy(&x3, w3 + 16 * c, 64);
                for (int r = 0; r < 8; r++) {
                    const float *g = j->g[r] + o;
                    v16 a = acc[r][c];
                    a += g[0] * x0;
                    a += g[1] * x1;
                    a += g[2] * x2;
                    a += g[3] * x3;
                    acc[r][c] = a;
                }
            }
        }
        for (; o < O; o++) {
            const float *w0 = w + o * I + i0;
            for (int64_t c = 0; c < nv; c++) {
                v16 x0;
                memcpy(&x0, w0 + 16 * c, 64);
                for (int r = 0; r < 8; r++) acc[r][c] += j->g[r][o] * x0;
            }
        }
        for (int r = 0; r < j->R; r++) memcpy(j->y + (n0 + r) * I + i0, acc[r], (size_t)nv * 64);
    }
}

/* dx[n, :] = sum_o dy[n, o] W[o, :] in order of o: eight rows by CB columns per pass. */
void gc_linear_rows_times_w_avx512(gc_pool *pool, const float *dy, int64_t N, const float *w, int64_t O, int64_t I,
                                   float *dx) {
    const int64_t I16 = I & ~(int64_t)15, nc = (I16 + CB - 1) / CB;
    rows_job j = {.w = w, .y = dx, .N = N, .O = O, .I = I};
    for (int64_t n0 = 0; n0 < N; n0 += 8) {
        const int R = N - n0 < 8 ? (int)(N - n0) : 8;
        for (int r = 0; r < 8; r++) j.g[r] = dy + (n0 + (r < R ? r : R - 1)) * O; /* past N: the last row again */
        j.n0 = n0;
        j.R = R;
        gc_pool_for(pool, nc, 1, 0, rows_times_w_blocks, &j);
        for (int r = 0; r < R; r++) /* the last I mod 16 columns, one at a time */
            for (int64_t i = I16; i < I; i++) {
                float d = 0.0f;
                for (int64_t o = 0; o < O; o++)
                    if (j.g[r][o] != 0.0f) d += j.g[r][o] * w[o * I + i];
                dx[(n0 + r) * I + i] = d;
            }
    }
}
