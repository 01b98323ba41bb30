/* relu.c - y = max(x, 0); backward by gc_relu_mode:
 *   normal     dx = dy * [x > 0]
 *   guided     dx = dy * [x > 0] * [dy > 0]   (Springenberg et al.)
 *   deconvnet  dx = dy * [dy > 0]             (Zeiler & Fergus) */
#include "layer.h"

static gc_status relu_check(const gc_layer *l) { (void)l; return GC_OK; }

static int relu_params(const gc_layer *l, gc_shape s[GC_MAX_PARAMS], const char *n[GC_MAX_PARAMS]) {
    (void)l; (void)s; (void)n;
    return 0;
}

static gc_status relu_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    *out = *in;
    return GC_OK;
}

static size_t relu_none(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)in; (void)out;
    return 0;
}

static void relu_forward(const gc_layer_ctx *c) {
    int64_t n = gc_shape_numel(&c->in);
    const float *x = c->x; /* (n) */
    float *y = c->y;       /* (n) */
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    int64_t n = gc_shape_numel(&c->in);
    const float *x = c->x, *dy = c->dy; /* (n) */
    float *dx = c->dx;                   /* (n) */
    switch (c->relu_mode) {
    case GC_RELU_GUIDED:
        for (int64_t i = 0; i < n; i++) dx[i] = (x[i] > 0.0f && dy[i] > 0.0f) ? dy[i] : 0.0f;
        break;
    case GC_RELU_DECONVNET:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] > 0.0f ? dy[i] : 0.0f;
        break;
    default:
        for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    }
}

const gc_layer_ops gc_relu_ops = {
    .name = "relu",
    .check_params = relu_check,
    .param_shapes = relu_params,
    .infer = relu_infer,
    .workspace = relu_none,
    .state_bytes = relu_none,
    .forward = relu_forward,
    .backward = relu_backward,
};
