/* pad.c - constant padding of H and W (ONNX Pad, mode "constant", last two axes):
 *   y[n,c,i,j] = x[n,c,i-top,j-left] inside, value elsewhere;  (N, C, top+H+bottom, left+W+right)
 *   dx[n,c,h,w] = dy[n,c,h+top,w+left]                          (backward crops) */
#include "layer.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static gc_status pad_check(const gc_layer *l) {
    const gc_pad_params *p = &l->p.pad;
    const int64_t v[4] = {p->top, p->bottom, p->left, p->right};
    static const char *const names[4] = {"top", "bottom", "left", "right"};
    for (int k = 0; k < 4; k++)
        if (v[k] < 0)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "pad: %s %lld must be >= 0 (no cropping)", names[k], (long long)v[k]);
    if (!isfinite(p->value)) return gc_error(GC_ERR_INVALID_ARGUMENT, "pad: value %g must be finite", (double)p->value);
    return GC_OK;
}

static gc_status pad_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    const gc_pad_params *p = &l->p.pad;
    gc_status st = gc_expect_4d("pad", in);
    if (st) return st;
    int64_t oh, ow;
    *out = *in;
    if (gc_add_i64(in->d[2], p->top, &oh) || gc_add_i64(oh, p->bottom, &oh) || gc_add_i64(in->d[3], p->left, &ow) ||
        gc_add_i64(ow, p->right, &ow) || (out->d[2] = oh, out->d[3] = ow, gc_shape_numel(out) < 0)) {
        char b[96];
        gc_shape_format(b, sizeof b, in);
        return gc_error(GC_ERR_SHAPE, "pad: padding %s by %lld, %lld, %lld, %lld (top, bottom, left, right) overflows",
                        b, (long long)p->top, (long long)p->bottom, (long long)p->left, (long long)p->right);
    }
    return GC_OK;
}

typedef struct pad_job {
    const gc_pad_params *p;
    int64_t H, W, OH, OW;
    const float *src; /* (N, C, H, W) x forward, (N, C, OH, OW) dy backward */
    float *dst;       /* (N, C, OH, OW) y forward, (N, C, H, W) dx backward */
} pad_job;

/* Planes [lo, hi) of the N * C. */
static void pad_forward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const pad_job *job = arg;
    const gc_pad_params *p = job->p;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW;
    const float v = p->value;
    (void)worker;
    for (int64_t q = lo; q < hi; q++) {
        const float *x = job->src + q * H * W; /* (H, W) */
        float *y = job->dst + q * OH * OW;     /* (OH, OW) */
        for (int64_t i = 0; i < OH; i++) {
            float *yr = y + i * OW;
            const int64_t h = i - p->top;
            if (h < 0 || h >= H) {
                for (int64_t j = 0; j < OW; j++) yr[j] = v;
                continue;
            }
            for (int64_t j = 0; j < p->left; j++) yr[j] = v;
            memcpy(yr + p->left, x + h * W, (size_t)W * sizeof(float));
            for (int64_t j = p->left + W; j < OW; j++) yr[j] = v;
        }
    }
}

static void pad_forward(const gc_layer_ctx *c) {
    const int64_t planes = c->in.d[0] * c->in.d[1], OH = c->out.d[2], OW = c->out.d[3];
    pad_job job = {&c->layer->p.pad, c->in.d[2], c->in.d[3], OH, OW, c->x, c->y};
    gc_pool_for(c->pool, planes, gc_grain(planes, (double)OH * OW, GC_SERIAL_UNITS), 0, pad_forward_chunk, &job);
}

/* Planes [lo, hi) of the N * C. */
static void pad_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const pad_job *job = arg;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW, top = job->p->top, left = job->p->left;
    (void)worker;
    for (int64_t q = lo; q < hi; q++)
        for (int64_t h = 0; h < H; h++)
            memcpy(job->dst + (q * H + h) * W, job->src + (q * OH + h + top) * OW + left, (size_t)W * sizeof(float));
}

static void pad_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const int64_t planes = c->in.d[0] * c->in.d[1], H = c->in.d[2], W = c->in.d[3];
    pad_job job = {&c->layer->p.pad, H, W, c->out.d[2], c->out.d[3], c->dy, c->dx};
    gc_pool_for(c->pool, planes, gc_grain(planes, (double)H * W, GC_SERIAL_UNITS), 0, pad_backward_chunk, &job);
}

static const gc_hparam pad_hp[] = {GC_HPI(pad.top, "top"), GC_HPI(pad.bottom, "bottom"), GC_HPI(pad.left, "left"),
                                   GC_HPI(pad.right, "right"), GC_HPF(pad.value, "value")};

const gc_layer_ops gc_pad_ops = {
    .name = "pad",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_POOL, /* passes the map on, channel by channel: the default-layer rule looks through it */
    GC_HPARAMS(pad_hp),
    .check_params = pad_check,
    .param_shapes = gc_layer_no_params,
    .infer = pad_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = pad_forward,
    .backward = pad_backward,
};
