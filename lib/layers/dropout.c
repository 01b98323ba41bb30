/* dropout.c - torch.nn.Dropout in inference mode: y = x, dx = dy. */
#include "layer.h"
#include <string.h>

static gc_status dropout_check(const gc_layer *l) {
    const float p = l->p.dropout_p;
    if (!(p >= 0.0f && p < 1.0f))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "dropout: p %g is outside [0, 1)", (double)p);
    return GC_OK;
}

static gc_status dropout_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    *out = *in;
    return GC_OK;
}

static void dropout_forward(const gc_layer_ctx *c) {
    if (c->y != c->x) memcpy(c->y, c->x, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

static void dropout_backward(const gc_layer_ctx *c) {
    if (c->dx && c->dx != c->dy) memcpy(c->dx, c->dy, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

static const gc_hparam dropout_hp[] = {GC_HPF(dropout_p, "p")};

const gc_layer_ops gc_dropout_ops = {
    .name = "dropout",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_POOL | GC_TRAIT_SAME_SHAPE,
    GC_HPARAMS(dropout_hp),
    .check_params = dropout_check,
    .param_shapes = gc_layer_no_params,
    .infer = dropout_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
