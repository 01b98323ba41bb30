/* identity.c - ONNX Identity: y = x, dx = dy. */
#include "layer.h"
#include <string.h>

static gc_status identity_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    *out = *in;
    return GC_OK;
}

static void identity_forward(const gc_layer_ctx *c) {
    if (c->y != c->x) memcpy(c->y, c->x, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

static void identity_backward(const gc_layer_ctx *c) {
    if (c->dx && c->dx != c->dy) memcpy(c->dx, c->dy, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

const gc_layer_ops gc_identity_ops = {
    .name = "identity",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_POOL | GC_TRAIT_SAME_SHAPE, /* the default-layer rule looks through it, as through dropout */
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = identity_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = identity_forward,
    .backward = identity_backward,
};
