/* dropout.c - torch.nn.Dropout in inference mode: y = x, dx = dy. */
#include "layer.h"
#include <string.h>

static gc_status dropout_check(const gc_layer *l) {
    const float p = l->p.dropout_p;
    if (!(p >= 0.0f && p < 1.0f))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "dropout: p %g is outside [0, 1)", (double)p);
    return GC_OK;
}

static int dropout_params(const gc_layer *l, gc_shape s[GC_MAX_PARAMS], const char *n[GC_MAX_PARAMS]) {
    (void)l; (void)s; (void)n;
    return 0;
}

static gc_status dropout_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    *out = *in;
    return GC_OK;
}

static size_t dropout_none(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)in; (void)out;
    return 0;
}

static void dropout_forward(const gc_layer_ctx *c) {
    if (c->y != c->x) memcpy(c->y, c->x, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

static void dropout_backward(const gc_layer_ctx *c) {
    if (c->dx && c->dx != c->dy) memcpy(c->dx, c->dy, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

const gc_layer_ops gc_dropout_ops = {
    .name = "dropout",
    .check_params = dropout_check,
    .param_shapes = dropout_params,
    .infer = dropout_infer,
    .workspace = dropout_none,
    .state_bytes = dropout_none,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
