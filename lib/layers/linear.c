/* linear.c - torch.nn.Linear: y = x W^T + b, x (N, I), W (O, I), b (O), y (N, O).
 * Reference loops (the oracle and GC_KERNELS_REFERENCE) and GEMM paths (at batch 1
 * gc_gemm's M == 1 path streams W once). Sessions without parameter gradients run a batch
 * row by row with the batch-1 arithmetic (rows_dot_w up to ROWS_DOT_MAX rows, rows_times_w
 * for the input gradient), reading W once per pass: each row of a batch has the bits of
 * that input run alone (gc_explain_batch), and the classifier's weights are streamed once
 * per batch, not once per image. The AVX-512 tier's forms (linear_avx512.c) do the same
 * arithmetic in wider vectors, more rows and outputs per pass; at batch 1 it too takes the
 * row-wise form, whose four outputs per pass read four rows of W as four memory streams (a
 * stream per thread, as in gc_gemm's dot loop, left most of the memory bandwidth unused). */
#include "layer.h"
#include "layers/linear_rows.h"
#include "kernels/gemm.h"
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* ------------------------------------------------------------ parameters */

static gc_status linear_check(const gc_layer *l) {
    const gc_linear_params *p = &l->p.linear;
    int64_t t;
    if (p->in_features < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "linear: in_features %lld < 1", (long long)p->in_features);
    if (p->out_features < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "linear: out_features %lld < 1", (long long)p->out_features);
    if (gc_mul_i64(p->in_features, p->out_features, &t) || (uint64_t)t > SIZE_MAX / sizeof(float))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "linear: weight size %lld x %lld overflows",
                        (long long)p->out_features, (long long)p->in_features);
    return GC_OK;
}

static int linear_params(const gc_layer *l, gc_shape s[GC_MAX_PARAMS], const char *n[GC_MAX_PARAMS]) {
    const gc_linear_params *p = &l->p.linear;
    s[0] = (gc_shape){2, {p->out_features, p->in_features, 1, 1}};
    n[0] = "weight";
    if (!p->bias) return 1;
    s[1] = (gc_shape){1, {p->out_features, 1, 1, 1}};
    n[1] = "bias";
    return 2;
}

/* ----------------------------------------------------------------- shapes */

static gc_status linear_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    const gc_linear_params *p = &l->p.linear;
    char b[96];
    gc_shape_format(b, sizeof b, in);
    if (in->ndim != 2 || in->d[1] != p->in_features || in->d[0] < 1)
        return gc_error(GC_ERR_SHAPE, "linear expects 2-D input (N, %lld), got %s%s", (long long)p->in_features, b,
                        in->ndim > 2 ? " (add a flatten layer before it)" : "");
    *out = (gc_shape){2, {in->d[0], p->out_features, 1, 1}};
    if (gc_shape_numel(out) < 0) return gc_error(GC_ERR_SHAPE, "linear: output size for input %s overflows", b);
    return GC_OK;
}

static size_t linear_none(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)in; (void)out;
    return 0;
}

/* ---------------------------------------------------------------- forward */

/* Outputs [t0, t1) of the N * O, each one sum in double. */
static void linear_forward_ref_outputs(void *arg, int64_t t0, int64_t t1, int worker) {
    const gc_layer_ctx *c = arg;
    const gc_linear_params *p = &c->layer->p.linear;
    const int64_t I = c->in.d[1], O = c->out.d[1];
    const float *x = c->x;                                     /* (N, I) */
    const float *w = c->layer->param[0];                       /* (O, I) */
    const float *bias = p->bias ? c->layer->param[1] : NULL;   /* (O) */
    float *y = c->y;                                           /* (N, O) */
    (void)worker;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / O, o = t % O;
        const float *xr = x + n * I, *wr = w + o * I;
        double s = bias ? bias[o] : 0.0;
        for (int64_t i = 0; i < I; i++) s += (double)xr[i] * wr[i];
        y[t] = (float)s;
    }
}

static void linear_forward_ref(const gc_layer_ctx *c) {
    const int64_t I = c->in.d[1];
    gc_pool_for(c->pool, c->in.d[0] * c->out.d[1], I >= 4096 ? 1 : 4096 / I, 0, linear_forward_ref_outputs, (void *)c);
}

/* --------------------------------------------------------------- backward */

enum { LINEAR_REF_B = 256 };   /* columns of dx per pool item */

/* dx items [t0, t1): (row n, block of LINEAR_REF_B columns), each column summed over o in order. */
static void linear_backward_ref_dx(void *arg, int64_t t0, int64_t t1, int worker) {
    const gc_layer_ctx *c = arg;
    const int64_t I = c->in.d[1], O = c->out.d[1], B = LINEAR_REF_B, nb = (I + B - 1) / B;
    const float *dy = c->dy;                      /* (N, O) */
    const float *w = c->layer->param[0];          /* (O, I) */
    (void)worker;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / nb, i0 = (t % nb) * B, i1 = i0 + B < I ? i0 + B : I;
        float *restrict dxr = c->dx + n * I;
        for (int64_t i = i0; i < i1; i++) dxr[i] = 0.0f;
        for (int64_t o = 0; o < O; o++) {
            const float g = dy[n * O + o];
            const float *restrict wr = w + o * I;
            for (int64_t i = i0; i < i1; i++) dxr[i] += g * wr[i];
        }
    }
}

/* dW rows and db of outputs [o0, o1), sums over the batch in double. */
static void linear_backward_ref_params(void *arg, int64_t o0, int64_t o1, int worker) {
    const gc_layer_ctx *c = arg;
    const int64_t N = c->in.d[0], I = c->in.d[1], O = c->out.d[1];
    const float *x = c->x, *dy = c->dy;           /* (N, I), (N, O) */
    float *dw = c->dparam[0];                     /* (O, I) or NULL */
    float *db = c->layer->p.linear.bias ? c->dparam[1] : NULL;    /* (O) or NULL */
    (void)worker;
    for (int64_t o = o0; o < o1; o++) {
        if (dw)
            for (int64_t i = 0; i < I; i++) {
                double s = 0;
                for (int64_t n = 0; n < N; n++) s += (double)dy[n * O + o] * x[n * I + i];
                dw[o * I + i] = (float)s;
            }
        if (db) {
            double s = 0;
            for (int64_t n = 0; n < N; n++) s += dy[n * O + o];
            db[o] = (float)s;
        }
    }
}

/* dx = dy W;  dW = dy^T x;  db = sum_n dy */
static void linear_backward_ref(const gc_layer_ctx *c) {
    const int64_t nb = (c->in.d[1] + LINEAR_REF_B - 1) / LINEAR_REF_B;
    if (c->dx) gc_pool_for(c->pool, c->in.d[0] * nb, 1, 0, linear_backward_ref_dx, (void *)c);
    if (c->dparam[0] || (c->layer->p.linear.bias && c->dparam[1]))
        gc_pool_for(c->pool, c->out.d[1], 1, 0, linear_backward_ref_params, (void *)c);
}

/* ------------------------------------------------------------- fast paths */

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }
static size_t rows_table_floats(int64_t O);
typedef float v4f __attribute__((vector_size(16)));
#ifndef ROWS_DOT_MAX
#define ROWS_DOT_MAX 64 /* inference batches up to this take rows_dot_w (the bits of batch 1), larger
                          ones and training sessions the GEMM */
#endif

/* GEMM packing floats for y = x W^T, dx = dy W and dW = dy^T x, max over the packed tiers. */
static size_t linear_workspace(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l;
    const int64_t N = in->d[0], I = in->d[1], O = out->d[1];
    size_t s = 0;
    for (int t = GC_GEMM_PORTABLE; t < GC_GEMM_TIER_COUNT; t++) {
        s = max_size(s, gc_gemm_workspace((gc_gemm_tier)t, N, O, I, 1));
        s = max_size(s, gc_gemm_workspace((gc_gemm_tier)t, N, I, O, 1));
        s = max_size(s, gc_gemm_workspace((gc_gemm_tier)t, O, I, N, 1));
    }
    s = max_size(s, rows_table_floats(O));
    return N > 1 && N <= ROWS_DOT_MAX ? max_size(s, gc_linear_rows_dot_avx512_ws(O)) : s;
}

/* y = x W^T for N rows, each with the arithmetic of gc_gemm's M == 1 path (kernels/gemm.c,
 * dot): per output, four vectors of partial sums over steps of 16 inputs, combined
 * (s0 + s1) + (s2 + s3), then lanes (0 + 1) + (2 + 3), then the remaining products in order.
 * So each row has the bits of a batch-1 forward (test_explain_batch checks it). Threads on
 * disjoint outputs; two rows per pass over a weight row (held in registers for both). */
typedef struct rows_job {
    const float *x, *w;
    float *y, *tab;
    int64_t N, O, I, n0;
    int R;
} rows_job;

static void rows_dot_outputs(void *arg, int64_t lo, int64_t hi, int worker) {
    const rows_job *j = arg;
    const float *x = j->x, *w = j->w;
    const int64_t N = j->N, O = j->O, I = j->I;
    float *y = j->y;
    (void)worker;
    for (int64_t o = lo; o < hi; o++) {
        const float *wr = w + o * I; /* (I) */
        for (int64_t n0 = 0; n0 < N; n0 += 2) {
            const float *x0 = x + n0 * I, *x1 = n0 + 1 < N ? x0 + I : x0; /* (I) each */
            v4f a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            int64_t p = 0;
            for (; p + 16 <= I; p += 16) {
                v4f w0, w1, w2, w3, u;
                memcpy(&w0, wr + p, 16); memcpy(&w1, wr + p + 4, 16);
                memcpy(&w2, wr + p + 8, 16); memcpy(&w3, wr + p + 12, 16);
                memcpy(&u, x0 + p, 16); a0 += u * w0;
                memcpy(&u, x0 + p + 4, 16); a1 += u * w1;
                memcpy(&u, x0 + p + 8, 16); a2 += u * w2;
                memcpy(&u, x0 + p + 12, 16); a3 += u * w3;
                memcpy(&u, x1 + p, 16); b0 += u * w0;
                memcpy(&u, x1 + p + 4, 16); b1 += u * w1;
                memcpy(&u, x1 + p + 8, 16); b2 += u * w2;
                memcpy(&u, x1 + p + 12, 16); b3 += u * w3;
            }
            const v4f sa = (a0 + a1) + (a2 + a3), sb = (b0 + b1) + (b2 + b3);
            float ra = (sa[0] + sa[1]) + (sa[2] + sa[3]), rb = (sb[0] + sb[1]) + (sb[2] + sb[3]);
            for (; p < I; p++) {
                ra += x0[p] * wr[p];
                rb += x1[p] * wr[p];
            }
            y[n0 * O + o] = ra;
            if (n0 + 1 < N) y[(n0 + 1) * O + o] = rb;
        }
    }
}

static void rows_dot_w(gc_pool *pool, const float *x, int64_t N, const float *w, int64_t O, int64_t I, float *y) {
    rows_job j = {.x = x, .w = w, .y = y, .N = N, .O = O, .I = I};
    gc_pool_for(pool, O, 16, 0, rows_dot_outputs, &j);
}

/* The forward of gc_layer_ctx.accurate (portable build; linear_avx512.c has the AVX-512 one). */
#define LINEAR_ACC linear_accurate_portable
#define LINEAR_ACC_LINKAGE static
#include "layers/linear_accurate_tx.h"

static void linear_forward(const gc_layer_ctx *c) {
    if (c->kernels == GC_KERNELS_REFERENCE) { linear_forward_ref(c); return; }
    if (c->accurate) {
        const float *ab = c->layer->p.linear.bias ? c->param[1] : NULL;
        (gc_gemm_resolve((gc_gemm_tier)c->kernels) == GC_GEMM_AVX512 ? gc_linear_accurate_avx512 : linear_accurate_portable)(
            c->pool, c->x, c->in.d[0], c->param[0], ab, c->out.d[1], c->in.d[1], c->y);
        return;
    }
    const gc_linear_params *p = &c->layer->p.linear;
    const int64_t N = c->in.d[0], I = c->in.d[1], O = c->out.d[1];
    const float *w = c->layer->param[0];                       /* (O, I) */
    const float *bias = p->bias ? c->layer->param[1] : NULL;   /* (O) */
    float *y = c->y;                                           /* (N, O) */
    const int avx512 = gc_gemm_resolve((gc_gemm_tier)c->kernels) == GC_GEMM_AVX512;
    if (N <= ROWS_DOT_MAX && !c->param_grads && avx512)
        gc_linear_rows_dot_avx512(c->pool, c->x, N, w, O, I, y, c->ws);
    else if (N > 1 && N <= ROWS_DOT_MAX && !c->param_grads) rows_dot_w(c->pool, c->x, N, w, O, I, y);
    else
        gc_gemm(c->pool, gc_gemm_resolve((gc_gemm_tier)c->kernels), 0, 1, N, O, I, 1.0f, c->x, I, w, I, 0.0f, y, O,
                c->ws);
    if (bias)
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < O; o++) y[n * O + o] += bias[o];
}

/* dx (I) = sum_o dy[o] W[o, :] for one row, and the same for a second row dy1 -> dx1 when
 * dy1 is not NULL (both read each row of W once): threads take column blocks (each column
 * is summed over o in order, so any split gives the same bits, and dx is the same with or
 * without a second row); rows with dy[o] == 0 are skipped: behind a ReLU (and more so for
 * guided backprop or a one-hot output gradient) most are, and this product only streams W. */
typedef struct row_job {
    const float *dy, *dy1, *w;
    int64_t O, I, B;
    float *dx, *dx1;
} row_job;

typedef float v4 __attribute__((vector_size(16)));

/* d[0 .. n) += g[0] w[0][.] + ... + g[m-1] w[m-1][.], each term rounded and added in order. */
static void add_rows(float *restrict d, int64_t n, int m, const float *g, const float *const *w) {
    const int64_t n4 = n & ~(int64_t)3;
    const v4 g0 = {g[0], g[0], g[0], g[0]}, g1 = {g[1], g[1], g[1], g[1]};
    const v4 g2 = {g[2], g[2], g[2], g[2]}, g3 = {g[3], g[3], g[3], g[3]};
    for (int64_t i = 0; i < n4; i += 4) {
        v4 a, x;
        memcpy(&a, d + i, sizeof a);
        memcpy(&x, w[0] + i, sizeof x);
        a += g0 * x;
        if (m > 1) { memcpy(&x, w[1] + i, sizeof x); a += g1 * x; }
        if (m > 2) { memcpy(&x, w[2] + i, sizeof x); a += g2 * x; }
        if (m > 3) { memcpy(&x, w[3] + i, sizeof x); a += g3 * x; }
        memcpy(d + i, &a, sizeof a);
    }
    for (int64_t i = n4; i < n; i++)
        for (int q = 0; q < m; q++) d[i] += g[q] * w[q][i];
}

/* Rows of W four at a time (those where dy or dy1 is nonzero): four memory streams instead of
 * one, the same terms in the same order. */
static void row_times_w_blocks(void *arg, int64_t b0, int64_t b1, int worker) {
    const row_job *j = arg;
    const float *dy = j->dy, *dy1 = j->dy1, *w = j->w;
    const int64_t O = j->O, I = j->I, B = j->B;
    float *dx = j->dx, *dx1 = j->dx1;
    const int rows = dy1 ? 2 : 1;
    (void)worker;
    for (int64_t b = b0; b < b1; b++) {
        const int64_t i0 = b * B, n = I - i0 < B ? I - i0 : B;
        for (int r = 0; r < rows; r++) memset((r ? dx1 : dx) + i0, 0, (size_t)n * sizeof(float));
        for (int64_t o = 0; o < O;) {
            int64_t os[4];
            int k = 0;
            for (; k < 4 && o < O; o++)
                if (dy[o] != 0.0f || (dy1 && dy1[o] != 0.0f)) os[k++] = o;
            for (int r = 0; r < rows; r++) {   /* the second pass over the rows hits the cache */
                const float *gr = r ? dy1 : dy;
                float g[4] = {0, 0, 0, 0};
                const float *wr[4];
                int m = 0;
                for (int q = 0; q < k; q++)
                    if (gr[os[q]] != 0.0f) g[m] = gr[os[q]], wr[m++] = w + os[q] * I + i0;
                if (m) add_rows((r ? dx1 : dx) + i0, n, m, g, wr);
            }
        }
    }
}

static void row_times_w(gc_pool *pool, const float *dy, const float *dy1, const float *w, int64_t O, int64_t I,
                        float *dx, float *dx1) {
    /* four column blocks (two per thread) of 512..8192 columns: each row of W is read
       in long contiguous runs (prefetch- and TLB-friendly), and a block of dx stays in
       cache; the block split does not change any sum */
    int64_t B = ((I + 3) / 4 + 15) & ~(int64_t)15;
    B = B < 512 ? 512 : B > 8192 ? 8192 : B;
    row_job j = {dy, dy1, w, O, I, B, dx, dx1};
    gc_pool_for(pool, (I + B - 1) / B, 1, 0, row_times_w_blocks, &j);
}

/* dx = dy W for N rows (the input gradient without parameter gradients: explanations), each
 * row with the bits row_times_w gives it alone: dx[n, i] is summed over o in order, products
 * rounded and then added (the terms row_times_w skips, g == 0, add +-0 to a sum that is never
 * -0: no change). Eight rows per pass over W: a table of their dy values broadcast to vectors
 * (ws: ROWS x O vectors), threads on disjoint column strips, and per strip, blocks of OB rows
 * of W (in L1 across the strip's four-column chunks) with the eight rows' sums in registers.
 * The split into strips, chunks and blocks changes no sum. */
enum { ROWS = 8, OB = 256, STRIP = 64 };

static size_t rows_table_floats(int64_t O) { return (size_t)(ROWS * 4) * (size_t)O; }

/* Strips [lo, hi) of rows n0 .. n0 + R - 1 of dx. */
static void rows_times_w_strips(void *arg, int64_t lo, int64_t hi, int worker) {
    const rows_job *j = arg;
    const v4f *tab = (const v4f *)(const void *)j->tab; /* (O, ROWS) */
    const float *w = j->w;
    float *dx = j->y;
    const int64_t O = j->O, I = j->I, I4 = I & ~(int64_t)3, n0 = j->n0;
    const int R = j->R;
    (void)worker;
    for (int64_t sb = lo; sb < hi; sb++) {
        const int64_t i0 = sb * STRIP, i1 = i0 + STRIP < I4 ? i0 + STRIP : I4;
        for (int64_t i = i0; i < i1; i += 4)
            for (int r = 0; r < R; r++) memset(dx + (n0 + r) * I + i, 0, 4 * sizeof(float));
        for (int64_t o0 = 0; o0 < O; o0 += OB) {
            const int64_t o1 = o0 + OB < O ? o0 + OB : O;
            for (int64_t i = i0; i < i1; i += 4) {
                v4f a[ROWS];
                for (int r = 0; r < ROWS; r++) {
                    if (r < R) memcpy(&a[r], dx + (n0 + r) * I + i, sizeof a[r]);
                    else a[r] = (v4f){0, 0, 0, 0};
                }
                for (int64_t o = o0; o < o1; o++) {
                    v4f x;
                    memcpy(&x, w + o * I + i, sizeof x);
                    const v4f *t = tab + o * ROWS;
                    a[0] += t[0] * x; a[1] += t[1] * x; a[2] += t[2] * x; a[3] += t[3] * x;
                    a[4] += t[4] * x; a[5] += t[5] * x; a[6] += t[6] * x; a[7] += t[7] * x;
                }
                for (int r = 0; r < R; r++) memcpy(dx + (n0 + r) * I + i, &a[r], sizeof a[r]);
            }
        }
    }
}

static void rows_times_w(gc_pool *pool, const float *dy, int64_t N, const float *w, int64_t O, int64_t I, float *dx,
                         float *ws) {
    v4f *tab = (v4f *)(void *)ws; /* (O, ROWS) */
    const int64_t I4 = I & ~(int64_t)3, ns = (I4 + STRIP - 1) / STRIP;
    rows_job j = {.w = w, .y = dx, .tab = ws, .N = N, .O = O, .I = I};
    for (int64_t n0 = 0; n0 < N; n0 += ROWS) {
        const int R = N - n0 < ROWS ? (int)(N - n0) : ROWS;
        for (int64_t o = 0; o < O; o++)
            for (int r = 0; r < ROWS; r++) {
                const float g = r < R ? dy[(n0 + r) * O + o] : 0.0f;
                tab[o * ROWS + r] = (v4f){g, g, g, g};
            }
        j.n0 = n0;
        j.R = R;
        gc_pool_for(pool, ns, 1, 0, rows_times_w_strips, &j);
        for (int r = 0; r < R; r++) /* the columns after the last multiple of 4, as row_times_w's tail */
            for (int64_t i = I4; i < I; i++) {
                float d = 0.0f;
                for (int64_t o = 0; o < O; o++) {
                    const float g = dy[(n0 + r) * O + o];
                    if (g != 0.0f) d += g * w[o * I + i];
                }
                dx[(n0 + r) * I + i] = d;
            }
    }
}

/* dx = dy W and dx1 = dy1 W in one pass over W (batch 1, not the reference tier). */
static int linear_backward_pair(const gc_layer_ctx *c, const float *dy1, float *dx1) {
    if (c->kernels == GC_KERNELS_REFERENCE || c->in.d[0] != 1 || !c->dx) return 0;
    row_times_w(c->pool, c->dy, dy1, c->layer->param[0], c->out.d[1], c->in.d[1], c->dx, dx1);
    return 1;
}

/* dx = dy W;  dW = dy^T x;  db = sum_n dy */
static void linear_backward(const gc_layer_ctx *c) {
    if (c->kernels == GC_KERNELS_REFERENCE) { linear_backward_ref(c); return; }
    const gc_linear_params *p = &c->layer->p.linear;
    const int64_t N = c->in.d[0], I = c->in.d[1], O = c->out.d[1];
    const gc_gemm_tier tier = gc_gemm_resolve((gc_gemm_tier)c->kernels);
    const float *dy = c->dy;                      /* (N, O) */
    const float *w = c->layer->param[0];          /* (O, I) */
    float *db = p->bias ? c->dparam[1] : NULL;    /* (O) or NULL */
    if (c->dx && N == 1) row_times_w(c->pool, dy, NULL, w, O, I, c->dx, NULL);
    else if (c->dx && !c->param_grads && ROWS_DOT_MAX > 1 && tier == GC_GEMM_AVX512)
        gc_linear_rows_times_w_avx512(c->pool, dy, N, w, O, I, c->dx);
    else if (c->dx && !c->param_grads && ROWS_DOT_MAX > 1) rows_times_w(c->pool, dy, N, w, O, I, c->dx, c->ws);
    else if (c->dx) gc_gemm(c->pool, tier, 0, 0, N, I, O, 1.0f, dy, O, w, I, 0.0f, c->dx, I, c->ws);
    if (c->dparam[0]) gc_gemm(c->pool, tier, 1, 0, O, I, N, 1.0f, dy, O, c->x, I, 0.0f, c->dparam[0], I, c->ws);
    if (db)
        for (int64_t o = 0; o < O; o++) {
            double s = 0;
            for (int64_t n = 0; n < N; n++) s += dy[n * O + o];
            db[o] = (float)s;
        }
}

static const gc_hparam linear_hp[] = {GC_HPI(linear.in_features, "in_features"),
                                       GC_HPI(linear.out_features, "out_features"), GC_HPB(linear.bias, "bias")};

const gc_layer_ops gc_linear_ops = {
    .name = "linear",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_FLAT,
    .backward_reads = GC_READS_X_PARAMS,
    .param_roles = {GC_PARAM_WEIGHT, GC_PARAM_BIAS},
    GC_HPARAMS(linear_hp),
    .check_params = linear_check,
    .param_shapes = linear_params,
    .infer = linear_infer,
    .workspace = linear_workspace,
    .state_bytes = linear_none,
    .forward = linear_forward,
    .backward = linear_backward,
    .backward_pair = linear_backward_pair,
};
