/* avgpool2d.c - torch.nn.AvgPool2d, the reference kernel:
 *   window rows [h0, h1) with h0 = i*s - p, h1 = min(h0 + k, H + p);
 *   y = sum over the window clipped to the image / divisor, where the divisor is
 *   (h1 - h0)(w1 - w0) with count_include_pad, else the number of image cells. */
#include "layer.h"
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Window of output i along one axis: summed cells [*a, *b), divisor extent *ext. */
static void window(int64_t i, int64_t k, int64_t s, int64_t p, int64_t n,
                   int64_t *a, int64_t *b, int64_t *ext) {
    int64_t lo = i * s - p, hi = lo + k;
    if (hi > n + p) hi = n + p;
    *ext = hi - lo;
    *a = lo < 0 ? 0 : lo;
    *b = hi > n ? n : hi;
}

/* ------------------------------------------------------------ parameters */

static gc_status avgpool_check(const gc_layer *l) {
    const gc_pool2d_params *p = &l->p.pool;
    if (p->kernel_h < 1 || p->kernel_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "avgpool2d: kernel %lldx%lld has a size < 1", (long long)p->kernel_h, (long long)p->kernel_w);
    if (p->stride_h < 1 || p->stride_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "avgpool2d: stride %lldx%lld has a value < 1", (long long)p->stride_h, (long long)p->stride_w);
    if (p->pad_h < 0 || p->pad_w < 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "avgpool2d: padding %lldx%lld is negative", (long long)p->pad_h, (long long)p->pad_w);
    if (p->pad_h > p->kernel_h / 2 || p->pad_w > p->kernel_w / 2)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "avgpool2d: padding %lldx%lld exceeds half the kernel %lldx%lld",
                        (long long)p->pad_h, (long long)p->pad_w, (long long)p->kernel_h, (long long)p->kernel_w);
    if (p->dilation_h != 1 || p->dilation_w != 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "avgpool2d: dilation %lldx%lld is not supported (must be 1)",
                        (long long)p->dilation_h, (long long)p->dilation_w);
    return GC_OK;
}

/* ----------------------------------------------------------------- shapes */

static gc_status avgpool_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    const gc_pool2d_params *p = &l->p.pool;
    gc_status st = gc_expect_4d("avgpool2d", in);
    if (st) return st;
    char b[96]; /* the input shape, for messages below */
    gc_shape_format(b, sizeof b, in);
    int64_t oh = gc_pool_out_size(in->d[2], p->kernel_h, p->stride_h, p->pad_h, 1, p->ceil_mode);
    int64_t ow = gc_pool_out_size(in->d[3], p->kernel_w, p->stride_w, p->pad_w, 1, p->ceil_mode);
    if (oh < 1 || ow < 1)
        return gc_error(GC_ERR_SHAPE, "avgpool2d: input %s is too small for kernel %lldx%lld (padding %lldx%lld)",
                        b, (long long)p->kernel_h, (long long)p->kernel_w, (long long)p->pad_h, (long long)p->pad_w);
    *out = (gc_shape){4, {in->d[0], in->d[1], oh, ow}};
    if (gc_shape_numel(out) < 0) return gc_error(GC_ERR_SHAPE, "avgpool2d: output size for input %s overflows", b);
    return GC_OK;
}

/* ---------------------------------------------------------------- forward */

typedef struct avgpool_job {
    const gc_pool2d_params *p;
    int64_t H, W, OH, OW;
    const float *src; /* (N, C, H, W) x forward, (N, C, OH, OW) dy backward */
    float *dst;       /* (N, C, OH, OW) y forward, (N, C, H, W) dx backward */
} avgpool_job;

/* Work per (n, channel) plane: the window sums plus the plane (the backward's memset). */
static double avgpool_cost(const gc_layer_ctx *c) {
    const gc_pool2d_params *p = &c->layer->p.pool;
    return (double)c->out.d[2] * c->out.d[3] * p->kernel_h * p->kernel_w + (double)c->in.d[2] * c->in.d[3];
}

/* Planes [lo, hi) of the N * C. */
static void avgpool_forward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const avgpool_job *job = arg;
    const gc_pool2d_params *p = job->p;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const float *xp = job->src + t * H * W;
        for (int64_t i = 0; i < OH; i++) {
            int64_t h0, h1, eh;
            window(i, p->kernel_h, p->stride_h, p->pad_h, H, &h0, &h1, &eh);
            for (int64_t j = 0; j < OW; j++) {
                int64_t w0, w1, ew;
                window(j, p->kernel_w, p->stride_w, p->pad_w, W, &w0, &w1, &ew);
                float *yo = job->dst + (t * OH + i) * OW + j;
                if (h0 >= h1 || w0 >= w1) { *yo = 0.0f; continue; }
                double s = 0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * W + iw];
                const double div = p->count_include_pad ? (double)eh * (double)ew : (double)((h1 - h0) * (w1 - w0));
                *yo = (float)(s / div);
            }
        }
    }
}

/* A 1x1 window with stride 1 (what an exported adaptive pooling to the input's own size
 * becomes: AlexNet's and VGG's classifier heads): y = (float)(x / 1.0) = x, dx = 0 + dy. */
static int avgpool_identity(const gc_pool2d_params *p) {
    return p->kernel_h == 1 && p->kernel_w == 1 && p->stride_h == 1 && p->stride_w == 1;
}

/* Elements [lo, hi): dst = src + 0 (forward: x; backward: dx with -0 made +0, as the
 * summing loops give). */
static void avgpool_copy(void *arg, int64_t lo, int64_t hi, int worker) {
    const avgpool_job *job = arg;
    (void)worker;
    for (int64_t k = lo; k < hi; k++) job->dst[k] = job->src[k] + 0.0f;
}

static void avgpool_forward(const gc_layer_ctx *c) {
    const int64_t NC = c->in.d[0] * c->in.d[1];
    avgpool_job job = {&c->layer->p.pool, c->in.d[2], c->in.d[3], c->out.d[2], c->out.d[3], c->x, c->y};
    if (avgpool_identity(job.p)) {
        const int64_t n = gc_shape_numel(&c->out);
        gc_pool_for(c->pool, n, gc_grain(n, 2.0, GC_SERIAL_UNITS), 0, avgpool_copy, &job);
        return;
    }
    gc_pool_for(c->pool, NC, gc_grain(NC, avgpool_cost(c), GC_SERIAL_UNITS), 0, avgpool_forward_chunk, &job);
}

/* --------------------------------------------------------------- backward */

/* dx[window] += dy / divisor, planes [lo, hi) of the N * C. */
static void avgpool_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const avgpool_job *job = arg;
    const gc_pool2d_params *p = job->p;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        float *dxp = job->dst + t * H * W;
        memset(dxp, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t i = 0; i < OH; i++) {
            int64_t h0, h1, eh;
            window(i, p->kernel_h, p->stride_h, p->pad_h, H, &h0, &h1, &eh);
            for (int64_t j = 0; j < OW; j++) {
                int64_t w0, w1, ew;
                window(j, p->kernel_w, p->stride_w, p->pad_w, W, &w0, &w1, &ew);
                if (h0 >= h1 || w0 >= w1) continue;
                const double div = p->count_include_pad ? (double)eh * (double)ew : (double)((h1 - h0) * (w1 - w0));
                const float g = (float)(job->src[(t * OH + i) * OW + j] / div);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) dxp[ih * W + iw] += g;
            }
        }
    }
}

static void avgpool_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const int64_t NC = c->in.d[0] * c->in.d[1];
    avgpool_job job = {&c->layer->p.pool, c->in.d[2], c->in.d[3], c->out.d[2], c->out.d[3], c->dy, c->dx};
    if (avgpool_identity(job.p)) {
        const int64_t n = gc_shape_numel(&c->out);
        gc_pool_for(c->pool, n, gc_grain(n, 2.0, GC_SERIAL_UNITS), 0, avgpool_copy, &job);
        return;
    }
    gc_pool_for(c->pool, NC, gc_grain(NC, avgpool_cost(c), GC_SERIAL_UNITS), 0, avgpool_backward_chunk, &job);
}

static const gc_hparam avgpool_hp[] = {  /* the same keys as maxpool2d (dilation must be 1) */
    GC_HPI(pool.kernel_h, "kernel_h"), GC_HPI(pool.kernel_w, "kernel_w"),
    GC_HPI(pool.stride_h, "stride_h"), GC_HPI(pool.stride_w, "stride_w"),
    GC_HPI(pool.pad_h, "pad_h"), GC_HPI(pool.pad_w, "pad_w"),
    GC_HPI(pool.dilation_h, "dilation_h"), GC_HPI(pool.dilation_w, "dilation_w"),
    GC_HPB(pool.ceil_mode, "ceil_mode"), GC_HPB(pool.count_include_pad, "count_include_pad")};

const gc_layer_ops gc_avgpool2d_ops = {
    .name = "avgpool2d",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_POOL,
    GC_HPARAMS(avgpool_hp),
    .check_params = avgpool_check,
    .param_shapes = gc_layer_no_params,
    .infer = avgpool_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};
