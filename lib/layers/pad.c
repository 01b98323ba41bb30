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

static void pad_forward(const gc_layer_ctx *c) {
    const gc_pad_params *p = &c->layer->p.pad;
    const int64_t planes = c->in.d[0] * c->in.d[1], H = c->in.d[2], W = c->in.d[3], OH = c->out.d[2],
                  OW = c->out.d[3];
    const float v = p->value;
#pragma omp parallel for schedule(static) if (planes * OH * OW > 65536)
    for (int64_t q = 0; q < planes; q++) {
        const float *x = c->x + q * H * W; /* (H, W) */
        float *y = c->y + q * OH * OW;     /* (OH, OW) */
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

static void pad_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const gc_pad_params *p = &c->layer->p.pad;
    const int64_t planes = c->in.d[0] * c->in.d[1], H = c->in.d[2], W = c->in.d[3], OH = c->out.d[2],
                  OW = c->out.d[3];
#pragma omp parallel for schedule(static) if (planes * H * W > 65536)
    for (int64_t q = 0; q < planes; q++)
        for (int64_t h = 0; h < H; h++)
            memcpy(c->dx + (q * H + h) * W, c->dy + (q * OH + h + p->top) * OW + p->left, (size_t)W * sizeof(float));
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
