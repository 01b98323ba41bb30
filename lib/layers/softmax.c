/* softmax.c - torch.nn.Softmax(dim=1), over C at each (n, pixel):
 *   y_c = exp(x_c - max) / sum_c' exp(x_c' - max);   dx_c = y_c (dy_c - sum_c' dy_c' y_c'). */
#include "layer.h"
#include <math.h>
#include <stdio.h>

static gc_status softmax_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    char b[96];
    gc_shape_format(b, sizeof b, in);
    if (in->ndim < 2 || in->ndim > GC_MAX_DIMS)
        return gc_error(GC_ERR_SHAPE, "softmax expects 2-D to 4-D input (over dim 1), got %s", b);
    for (int i = 0; i < in->ndim; i++)
        if (in->d[i] < 1) return gc_error(GC_ERR_SHAPE, "softmax: bad input shape %s", b);
    *out = *in;
    return GC_OK;
}

/* Rows: (N, C, S) with S = product of the dims after C; element (n, c, s) at (n*C + c)*S + s. */
static int64_t inner_size(const gc_shape *s) {
    int64_t k = 1;
    for (int i = 2; i < s->ndim; i++) k *= s->d[i];
    return k;
}

typedef struct softmax_job {
    int64_t C, S;
    const float *x, *dy; /* (N, C, S): x forward, dy backward */
    float *y;            /* (N, C, S): written forward, read backward */
    float *dx;           /* (N, C, S) backward */
} softmax_job;

/* A row of C elements with stride S costs about 2 exp (~16 units each) per element forward. */
#define SOFTMAX_EXP_UNITS 32

/* Rows t = n S + s in [lo, hi) of the N * S. */
static void softmax_forward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const softmax_job *job = arg;
    const int64_t C = job->C, S = job->S;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const float *xr = job->x + (t / S) * C * S + t % S;
        float *yr = job->y + (t / S) * C * S + t % S;
        float m = xr[0];
        for (int64_t k = 1; k < C; k++)
            if (xr[k * S] > m) m = xr[k * S];
        double sum = 0;
        for (int64_t k = 0; k < C; k++) sum += exp((double)xr[k * S] - m);
        for (int64_t k = 0; k < C; k++) yr[k * S] = (float)(exp((double)xr[k * S] - m) / sum);
    }
}

static void softmax_forward(const gc_layer_ctx *c) {
    const int64_t N = c->in.d[0], C = c->in.d[1], S = inner_size(&c->in);
    softmax_job job = {C, S, c->x, NULL, c->y, NULL};
    gc_pool_for(c->pool, N * S, gc_grain(N * S, (double)SOFTMAX_EXP_UNITS * C, 0), 0, softmax_forward_chunk, &job);
}

/* Rows t = n S + s in [lo, hi) of the N * S. */
static void softmax_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const softmax_job *job = arg;
    const int64_t C = job->C, S = job->S;
    const float *y = job->y, *dy = job->dy;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const int64_t base = (t / S) * C * S + t % S;
        double dot = 0;
        for (int64_t k = 0; k < C; k++) dot += (double)dy[base + k * S] * y[base + k * S];
        for (int64_t k = 0; k < C; k++) job->dx[base + k * S] = (float)(y[base + k * S] * (dy[base + k * S] - dot));
    }
}

static void softmax_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const int64_t N = c->in.d[0], C = c->in.d[1], S = inner_size(&c->in);
    softmax_job job = {C, S, NULL, c->dy, c->y, c->dx};
    gc_pool_for(c->pool, N * S, gc_grain(N * S, 3.0 * C, 0), 0, softmax_backward_chunk, &job);
}

const gc_layer_ops gc_softmax_ops = {
    .name = "softmax",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_SAME_SHAPE,
    .backward_reads = GC_READS_Y,
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = softmax_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = softmax_forward,
    .backward = softmax_backward,
};
