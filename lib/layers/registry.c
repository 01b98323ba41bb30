/* registry.c - the table of layer kinds. */
#include "layer.h"
#include <stdio.h>

static const gc_layer_ops *const kinds[GC_LAYER_KIND_COUNT] = {
    [GC_LAYER_CONV2D]             = &gc_conv2d_ops,
    [GC_LAYER_RELU]               = &gc_relu_ops,
    [GC_LAYER_MAXPOOL2D]          = &gc_maxpool2d_ops,
    [GC_LAYER_AVGPOOL2D]          = &gc_avgpool2d_ops,
    [GC_LAYER_ADAPTIVE_AVGPOOL2D] = &gc_adaptive_avgpool2d_ops,
    [GC_LAYER_LINEAR]             = &gc_linear_ops,
    [GC_LAYER_DROPOUT]            = &gc_dropout_ops,
    [GC_LAYER_FLATTEN]            = &gc_flatten_ops,
    [GC_LAYER_SOFTMAX]            = &gc_softmax_ops,
    [GC_LAYER_LRN]                = &gc_lrn_ops,
    [GC_LAYER_BATCHNORM2D]        = &gc_batchnorm2d_ops,
    [GC_LAYER_ADD]                = &gc_add_ops,
    [GC_LAYER_MUL]                = &gc_mul_ops,
    [GC_LAYER_CONCAT]             = &gc_concat_ops,
    [GC_LAYER_ACTIVATION]         = &gc_activation_ops,
    [GC_LAYER_SUB]                = &gc_sub_ops,
    [GC_LAYER_DIV]                = &gc_div_ops,
    [GC_LAYER_PAD]                = &gc_pad_ops,
    [GC_LAYER_CHANNEL_SHUFFLE]    = &gc_channel_shuffle_ops,
    [GC_LAYER_IDENTITY]           = &gc_identity_ops,
    [GC_LAYER_CONSTANT]           = &gc_constant_ops,
};
_Static_assert(GC_LAYER_KIND_COUNT == 21, "layer table out of step with gc_layer_kind");

const gc_layer_ops *gc_layer_ops_of(gc_layer_kind kind) {
    if ((unsigned)kind >= GC_LAYER_KIND_COUNT) return NULL;
    return kinds[kind];
}

const char *gc_layer_kind_name(gc_layer_kind kind) {
    const gc_layer_ops *ops = gc_layer_ops_of(kind);
    return ops ? ops->name : "?";
}

int64_t gc_shape_numel(const gc_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        if (gc_mul_i64(n, s->d[i], &n)) return -1;
    return n;
}

void gc_shape_format(char *b, size_t cap, const gc_shape *s) {
    size_t k = 0;
    b[0] = 0;
    for (int i = 0; i < s->ndim && k < cap; i++)
        k += (size_t)snprintf(b + k, cap - k, i ? "x%lld" : "%lld", (long long)s->d[i]);
}

gc_status gc_layer_no_check(const gc_layer *l) {
    (void)l;
    return GC_OK;
}

int gc_layer_no_params(const gc_layer *l, gc_shape shapes[GC_MAX_PARAMS], const char *suffixes[GC_MAX_PARAMS]) {
    (void)l; (void)shapes; (void)suffixes;
    return 0;
}

size_t gc_layer_no_bytes(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)in; (void)out;
    return 0;
}

gc_status gc_expect_4d(const char *kind, const gc_shape *in) {
    if (in->ndim == 4 && in->d[0] >= 1 && in->d[1] >= 1 && in->d[2] >= 1 && in->d[3] >= 1) return GC_OK;
    char b[96];
    gc_shape_format(b, sizeof b, in);
    return gc_error(GC_ERR_SHAPE, "%s expects 4-D input, got %s", kind, b);
}

int64_t gc_pool_out_size(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
    int64_t num;
    if (gc_add_i64(n, 2 * p, &num) || (ceil_mode && gc_add_i64(num, s - 1, &num))) return -1;
    num -= d * (k - 1) + 1;
    int64_t o = (num >= 0 ? num / s : -((-num - 1) / s + 1)) + 1;
    if (ceil_mode && (o - 1) * s >= n + p) o--;
    return o;
}
