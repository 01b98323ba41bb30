/* constant.c - a layer with no input whose output is its parameter:
 *   y = value                 (shape d0 x .. x d[ndim-1], the same for every batch)
 *   d value = dy              (only when asked: the value is not a trained parameter)
 * ONNX initializers read by Add/Mul/Sub/Div and normalisation constants inside a graph;
 * broadcasting in those kinds lines the value up with (N, ...) tensors. */
#include "layer.h"
#include <string.h>

static gc_status constant_check(const gc_layer *l) {
    const gc_constant_params *p = &l->p.constant;
    if (p->ndim < 1 || p->ndim > GC_MAX_DIMS)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "constant: ndim %lld is outside 1..%d", (long long)p->ndim,
                        GC_MAX_DIMS);
    for (int k = 0; k < GC_MAX_DIMS; k++) {
        if (k < p->ndim && p->d[k] < 1)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "constant: d%d = %lld must be >= 1", k, (long long)p->d[k]);
        if (k >= p->ndim && p->d[k] != 1)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "constant: d%d = %lld must be 1 (past ndim %lld)", k,
                            (long long)p->d[k], (long long)p->ndim);
    }
    gc_shape s = {(int)p->ndim, {p->d[0], p->d[1], p->d[2], p->d[3]}};
    if (gc_shape_numel(&s) < 0) return gc_error(GC_ERR_INVALID_ARGUMENT, "constant: its size d0 x .. x d3 overflows");
    return GC_OK;
}

static int constant_params(const gc_layer *l, gc_shape shapes[GC_MAX_PARAMS], const char *suffixes[GC_MAX_PARAMS]) {
    const gc_constant_params *p = &l->p.constant;
    shapes[0] = (gc_shape){(int)p->ndim, {p->d[0], p->d[1], p->d[2], p->d[3]}};
    suffixes[0] = "value";
    return 1;
}

static gc_status constant_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)in; /* no inputs */
    const char *suffix[GC_MAX_PARAMS];
    gc_shape shapes[GC_MAX_PARAMS];
    constant_params(l, shapes, suffix);
    *out = shapes[0];
    return GC_OK;
}

static void constant_forward(const gc_layer_ctx *c) {
    memcpy(c->y, c->param[0], (size_t)gc_shape_numel(&c->out) * sizeof(float));
}

static void constant_backward(const gc_layer_ctx *c) {
    if (c->dparam[0]) memcpy(c->dparam[0], c->dy, (size_t)gc_shape_numel(&c->out) * sizeof(float));
}

static const gc_hparam constant_hp[] = {GC_HPI(constant.ndim, "ndim"), GC_HPI(constant.d[0], "d0"),
                                        GC_HPI(constant.d[1], "d1"), GC_HPI(constant.d[2], "d2"),
                                        GC_HPI(constant.d[3], "d3")};

const gc_layer_ops gc_constant_ops = {
    .name = "constant",
    .min_inputs = 0, .max_inputs = 0,
    .param_roles = {0}, /* a model constant: not trained, not initialised, default 0 */
    GC_HPARAMS(constant_hp),
    .check_params = constant_check,
    .param_shapes = constant_params,
    .infer = constant_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = constant_forward,
    .backward = constant_backward,
};
