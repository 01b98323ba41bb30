/* flatten.c - torch.flatten(x, 1): (N, C, H, W) or (N, C, L) -> (N, C*H*W); (N, F) unchanged.
 * Row-major data is already in that order, so forward and backward copy. */
#include "layer.h"
#include <stdio.h>
#include <string.h>

static gc_status flatten_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    char b[96];
    gc_shape_format(b, sizeof b, in);
    if (in->ndim < 2 || in->ndim > GC_MAX_DIMS)
        return gc_error(GC_ERR_SHAPE, "flatten expects 2-D to 4-D input, got %s", b);
    int64_t f = 1;
    if (in->d[0] < 1) return gc_error(GC_ERR_SHAPE, "flatten: bad input shape %s", b);
    for (int i = 1; i < in->ndim; i++)
        if (in->d[i] < 1 || gc_mul_i64(f, in->d[i], &f))
            return gc_error(GC_ERR_SHAPE, "flatten: bad input shape %s", b);
    *out = (gc_shape){2, {in->d[0], f, 1, 1}};
    return GC_OK;
}

static void flatten_forward(const gc_layer_ctx *c) {
    if (c->y != c->x) memcpy(c->y, c->x, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

static void flatten_backward(const gc_layer_ctx *c) {
    if (c->dx && c->dx != c->dy) memcpy(c->dx, c->dy, (size_t)gc_shape_numel(&c->in) * sizeof(float));
}

const gc_layer_ops gc_flatten_ops = {
    .name = "flatten",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_FLAT,
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = flatten_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = flatten_forward,
    .backward = flatten_backward,
};
