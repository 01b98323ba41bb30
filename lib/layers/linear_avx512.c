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
    float *acc; /* (groups, rows, outputs) x 16 partial sums */
    int64_t N, O, I, n0;
    int R;
} rows_job;

static inline void prefetch_l2(const float *p) { __builtin_prefetch(p, 0, 1); }

/* y[n, o] = dot(x_n, W_o) at batch 1, output blocks [lo, hi) of four: each weight row its
 * own memory stream, and the next block's four rows (one contiguous run) requested into L2
 * while this block is summed (MobileNetV2's 1280 x 1000 classifier, 2 threads, Zen 5: 0.127
 * -> 0.074 ms; the hardware prefetcher alone left each block's start waiting for memory). */
static void row_dot_blocks(void *arg, int64_t lo, int64_t hi, int worker) {
    const rows_job *j = arg;
    const float *x = j->x, *w = j->w;
    const int64_t O = j->O, I = j->I;
    float *y = j->y;
    (void)worker;
    for (int64_t ob = lo; ob < hi; ob++) {
        const int64_t o0 = ob * 4;
        const float *wr[4]; /* (I) each; past O: repeats of the last row (not stored) */
        for (int k = 0; k < 4; k++) wr[k] = w + (o0 + k < O ? o0 + k : O - 1) * I;
        const float *wn = o0 + 8 <= O ? w + (o0 + 4) * I : NULL; /* the next block's rows (4 I) */
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
            if (wn)
                for (int k = 0; k < 4; k++) prefetch_l2(wn + 4 * p + 16 * k);
        }
        for (int k = 0; k < 4 && o0 + k < O; k++) {
            float s = reduce16(a[k]);
            for (int64_t q = p; q < I; q++) s += x[q] * wr[k][q];
            y[o0 + k] = s;
        }
    }
}

/* Batches: rows in groups of up to 8 and outputs in groups of KK, with the inputs in blocks of
 * KB whose 16-lane partial sums wait in acc between blocks. A block of x (RR rows x KB, in L2)
 * then serves a whole chunk of output groups while their rows of W stream past it; without
 * the blocks every output group read all of x (800 KB for 8 rows of VGG's fc6) from L3. Each
 * lane still sums its products in order of p and is reduced as at batch 1, so each row keeps
 * the batch-1 bits. */
enum { KB = 2048, GROUPS = 32 };

/* W is read once, in runs of a block's length: each next group's (or next rows') run is
 * requested while this one is summed, into L2 (a run that starts cold waited for memory
 * before the prefetcher caught on: 2x the time at batch 8 on VGG's fc6 and fc7). */
static inline __attribute__((always_inline)) void dot_groups(const rows_job *j, int64_t lo, int64_t hi, const int RR,
                                                             const int KK) {
    const int64_t O = j->O, I = j->I, I16 = I & ~(int64_t)15, n0 = j->n0;
    const int R = j->R;
    const float *xr[8];
    #pragma GCC unroll 8
    for (int r = 0; r < RR; r++) xr[r] = j->x + (n0 + (r < R ? r : R - 1)) * I; /* past R: not stored */
    for (int64_t p0 = 0; p0 < I16; p0 += KB) {
        const int64_t p1 = p0 + KB < I16 ? p0 + KB : I16;
        for (int64_t g = lo; g < hi; g++) {
            const float *wr[8], *wn[8]; /* this group's rows of W, the next group's */
            #pragma GCC unroll 8
            for (int k = 0; k < KK; k++) {
                wr[k] = j->w + (g * KK + k < O ? g * KK + k : O - 1) * I;
                wn[k] = j->w + ((g + 1) * KK + k < O ? (g + 1) * KK + k : O - 1) * I;
            }
            v16 a[8][8];
            float *s = j->acc + g * RR * KK * 16;
            #pragma GCC unroll 8
            for (int r = 0; r < RR; r++)
                #pragma GCC unroll 8
                for (int k = 0; k < KK; k++) {
                    if (p0) memcpy(&a[r][k], s + (r * KK + k) * 16, 64);
                    else a[r][k] = (v16){0};
                }
            for (int64_t p = p0; p < p1; p += 16) {
                v16 wv[8];
                #pragma GCC unroll 8
                for (int k = 0; k < KK; k++) {
                    memcpy(&wv[k], wr[k] + p, 64);
                    prefetch_l2(wn[k] + p);
                }
                #pragma GCC unroll 8
                for (int r = 0; r < RR; r++) {
                    v16 u;
                    memcpy(&u, xr[r] + p, 64);
                    __asm__("" : "+v"(u)); /* one load of x per row, not one per product */
                    #pragma GCC unroll 8
                    for (int k = 0; k < KK; k++) a[r][k] += u * wv[k];
                }
            }
            #pragma GCC unroll 8
            for (int r = 0; r < RR; r++)
                #pragma GCC unroll 8
                for (int k = 0; k < KK; k++) memcpy(s + (r * KK + k) * 16, &a[r][k], 64);
        }
    }
    for (int64_t g = lo; g < hi; g++)
        for (int r = 0; r < R; r++)
            for (int k = 0; k < KK && g * KK + k < O; k++) {
                const int64_t o = g * KK + k;
                v16 t = {0};
                if (I16) memcpy(&t, j->acc + ((g * RR + r) * KK + k) * 16, 64);
                float s = reduce16(t);
                for (int64_t q = I16; q < I; q++) s += xr[r][q] * j->w[o * I + q];
                j->y[(n0 + r) * O + o] = s;
            }
}

static void dot_groups_8x3(void *arg, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    dot_groups(arg, lo, hi, 8, 3);
}
static void dot_groups_4x4(void *arg, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    dot_groups(arg, lo, hi, 4, 4);
}
static void dot_groups_2x8(void *arg, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    dot_groups(arg, lo, hi, 2, 8);
}

size_t gc_linear_rows_dot_avx512_ws(int64_t O) { return (size_t)(O + 8) * 8 * 16; }

void gc_linear_rows_dot_avx512(gc_pool *pool, const float *x, int64_t N, const float *w, int64_t O, int64_t I,
                               float *y, float *ws) {
    rows_job j = {.x = x, .w = w, .y = y, .acc = ws, .N = N, .O = O, .I = I};
    if (N == 1) {
        gc_pool_for(pool, (O + 3) / 4, 4, 0, row_dot_blocks, &j);
        return;
    }
    for (int64_t n0 = 0; n0 < N; n0 += 8) {
        j.n0 = n0;
        j.R = N - n0 < 8 ? (int)(N - n0) : 8;
        if (j.R > 4) gc_pool_for(pool, (O + 2) / 3, GROUPS, 0, dot_groups_8x3, &j);
        else if (j.R > 2) gc_pool_for(pool, (O + 3) / 4, GROUPS, 0, dot_groups_4x4, &j);
        else gc_pool_for(pool, (O + 7) / 8, GROUPS, 0, dot_groups_2x8, &j);
    }
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
            const float *n0 = o + 4 < O4 ? w0 + 4 * I : w0, *n1 = n0 + I, *n2 = n1 + I, *n3 = n2 + I;
            for (int64_t c = 0; c < nv; c++) {
                v16 x0, x1, x2, x3;
                memcpy(&x0, w0 + 16 * c, 64);
                memcpy(&x1, w1 + 16 * c, 64);
                memcpy(&x2, w2 + 16 * c, 64);
                memcpy(&x3, w3 + 16 * c, 64);
                prefetch_l2(n0 + 16 * c);
                prefetch_l2(n1 + 16 * c);
                prefetch_l2(n2 + 16 * c);
                prefetch_l2(n3 + 16 * c);
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

/* The accurate forward (linear_accurate_tx.h), eight double lanes a vector. */
#define LINEAR_ACC gc_linear_accurate_avx512
#define LINEAR_ACC_LINKAGE
#include "layers/linear_accurate_tx.h"
