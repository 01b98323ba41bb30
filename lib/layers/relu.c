/* relu.c - y = max(x, 0); backward by gc_relu_mode:
 *   normal     dx = dy * [x > 0]
 *   guided     dx = dy * [x > 0] * [dy > 0]   (Springenberg et al.)
 *   deconvnet  dx = dy * [dy > 0]             (Zeiler & Fergus)
 * Forward keeps [x > 0] as one bit per element in the state, so backward
 * needs neither x nor y (they can be freed after the forward pass). */
#include "layer.h"

static gc_status relu_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    *out = *in;
    return GC_OK;
}

/* one uint64_t of mask bits per 64 elements */
static size_t relu_state(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)out;
    return (size_t)((gc_shape_numel(in) + 63) / 64) * sizeof(uint64_t);
}

static void relu_forward(const gc_layer_ctx *c) {
    const int64_t n = gc_shape_numel(&c->in), words = (n + 63) / 64;
    const float *x = c->x; /* (n) */
    float *y = c->y;       /* (n) */
    uint64_t *mask = c->state; /* (words) bit i: x[i] > 0 */
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t w = 0; w < words; w++) {
        const int64_t lo = w * 64, hi = lo + 64 < n ? lo + 64 : n;
        uint64_t bits = 0;
        for (int64_t i = lo; i < hi; i++) {
            const int pos = x[i] > 0.0f;
            y[i] = pos ? x[i] : 0.0f;
            bits |= (uint64_t)pos << (i - lo);
        }
        mask[w] = bits;
    }
}

static void relu_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const int64_t n = gc_shape_numel(&c->in), words = (n + 63) / 64;
    const uint64_t *mask = c->state; /* (words) */
    const float *dy = c->dy;         /* (n) */
    float *dx = c->dx;               /* (n) */
    const gc_relu_mode mode = c->relu_mode;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t w = 0; w < words; w++) {
        const int64_t lo = w * 64, hi = lo + 64 < n ? lo + 64 : n;
        const uint64_t bits = mask[w];
        for (int64_t i = lo; i < hi; i++) {
            const int pos = (int)((bits >> (i - lo)) & 1u);
            const float g = dy[i];
            const int pass = mode == GC_RELU_DECONVNET ? g > 0.0f
                           : mode == GC_RELU_GUIDED    ? pos && g > 0.0f
                                                       : pos;
            dx[i] = pass ? g : 0.0f;
        }
    }
}

const gc_layer_ops gc_relu_ops = {
    .name = "relu",
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = relu_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = relu_state,
    .forward = relu_forward,
    .backward = relu_backward,
};
