/* layer.h - the interface every layer kind implements (internal).
 *
 * Each lib/layers/<kind>.c keeps, side by side, its hyper-parameter checks,
 * shape inference, parameter shapes, workspace/state sizes, forward and
 * backward, and exports one `const gc_layer_ops gc_<kind>_ops`. registry.c
 * lists them in one table indexed by gc_layer_kind.
 *
 * Conventions
 *   - Activations are float32, row-major; images NCHW, vectors (N, F).
 *   - forward/backward cannot fail: everything that can go wrong is checked
 *     by check_params (when the layer is added) and infer (when a session is
 *     planned). They never allocate: scratch comes in ctx->ws (sized by
 *     workspace()), per-session memory kept from forward to backward in
 *     ctx->state (sized by state_bytes()).
 *   - backward overwrites ctx->dx when it is non-NULL, and overwrites each
 *     ctx->dparam[i] that is non-NULL (sums over the batch). It may read x,
 *     y, dy and state.
 */
#ifndef GC_LAYER_H
#define GC_LAYER_H

#include "core/core.h"

#define GC_NAME_MAX 64
#define GC_MAX_PARAMS 4

typedef struct gc_shape {
    int     ndim;             /* 1..GC_MAX_DIMS */
    int64_t d[GC_MAX_DIMS];   /* NCHW or (N, F); entries past ndim are 1 */
} gc_shape;

int64_t gc_shape_numel(const gc_shape *s); /* product, -1 on overflow */
/* "1x4x9x9" into b (for error messages). */
void gc_shape_format(char *b, size_t cap, const gc_shape *s);

typedef union gc_layer_params {
    gc_conv2d_params          conv;
    gc_pool2d_params          pool;   /* maxpool2d, avgpool2d */
    gc_adaptive_pool2d_params apool;
    gc_linear_params          linear;
    gc_lrn_params             lrn;
    gc_batchnorm2d_params     bn;
    float                     dropout_p;
} gc_layer_params;

/* A layer as the model stores it. */
typedef struct gc_layer {
    char            name[GC_NAME_MAX];
    gc_layer_kind   kind;
    int             input;                  /* producing layer index, -1 = network input */
    gc_layer_params p;
    int             n_params;               /* from ops->param_shapes */
    float          *param[GC_MAX_PARAMS];   /* weight, bias, ... (model memory) */
    gc_shape        param_shape[GC_MAX_PARAMS];
} gc_layer;

/* Everything one forward or backward call of one layer sees. */
typedef struct gc_layer_ctx {
    const gc_layer *layer;
    gc_shape        in, out;    /* shapes of x and y */
    const float    *x;          /* input activation (in) */
    float          *y;          /* output activation (out) */
    void           *state;      /* state_bytes() bytes, kept forward -> backward */
    float          *ws;         /* workspace() floats of scratch */
    /* backward only */
    const float    *dy;                     /* d loss / d y (out) */
    float          *dx;                     /* d loss / d x (in), NULL: not needed */
    float          *dparam[GC_MAX_PARAMS];  /* d loss / d param[i], NULL: not needed */
    gc_relu_mode    relu_mode;
    gc_kernels      kernels;                /* tier for forward and backward */
    int             no_winograd;            /* convolutions: never Winograd */
} gc_layer_ctx;

/* What a kind's backward reads besides dy, weights and its state (the
 * session keeps those buffers alive; all others may be reused once the
 * forward pass is past them). */
enum {
    GC_READS_X        = 1, /* the input, always          */
    GC_READS_Y        = 2, /* the output, always         */
    GC_READS_X_PARAMS = 4  /* the input, for parameter gradients only */
};

typedef struct gc_layer_ops {
    const char *name; /* "conv2d", ... as gc_layer_kind_name */
    unsigned    backward_reads; /* GC_READS_* */
    /* Validates hyper-parameters in l->p (GC_ERR_INVALID_ARGUMENT naming the
     * bad field). Called when the layer is added to a model. */
    gc_status (*check_params)(const gc_layer *l);
    /* Number of parameter tensors (<= GC_MAX_PARAMS), their shapes and name
     * suffixes ("weight", "bias", "running_mean", "running_var"). Returns n. */
    int (*param_shapes)(const gc_layer *l, gc_shape shapes[GC_MAX_PARAMS],
                        const char *suffixes[GC_MAX_PARAMS]);
    /* Output shape for input shape, or GC_ERR_SHAPE with a message saying
     * what was expected and what was given. */
    gc_status (*infer)(const gc_layer *l, const gc_shape *in, gc_shape *out);
    /* Floats of scratch needed by forward and backward (max of the two). */
    size_t (*workspace)(const gc_layer *l, const gc_shape *in, const gc_shape *out);
    /* Bytes of state kept from forward to backward (e.g. max-pool argmax). */
    size_t (*state_bytes)(const gc_layer *l, const gc_shape *in, const gc_shape *out);
    void (*forward)(const gc_layer_ctx *c);
    void (*backward)(const gc_layer_ctx *c);
} gc_layer_ops;

/* The indices j in [*lo, *hi) of 0..n_out-1 whose input position
 * off + j * step lies inside 0..n_in-1: output columns whose tap stays in
 * the (unpadded) image, or the taps of a window starting at off. */
static inline void gc_valid_range(int64_t off, int64_t step, int64_t n_in, int64_t n_out, int64_t *lo, int64_t *hi) {
    int64_t a = off < 0 ? (-off - 1) / step + 1 : 0;
    int64_t b = n_in - 1 - off >= 0 ? (n_in - 1 - off) / step + 1 : 0;
    if (b > n_out) b = n_out;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* PyTorch's pooling_output_shape: outputs of a window of k taps, dilation
 * d, stride s over n inputs padded by p on both sides (ceil mode drops a
 * last window that would start in the right padding); -1 on overflow. */
int64_t gc_pool_out_size(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode);

/* GC_OK for a 4-D input with every dimension >= 1, else GC_ERR_SHAPE naming
 * the kind and the shape given. */
gc_status gc_expect_4d(const char *kind, const gc_shape *in);

/* Shared ops for kinds without parameters, checks, scratch or state. */
gc_status gc_layer_no_check(const gc_layer *l);
int       gc_layer_no_params(const gc_layer *l, gc_shape shapes[GC_MAX_PARAMS], const char *suffixes[GC_MAX_PARAMS]);
size_t    gc_layer_no_bytes(const gc_layer *l, const gc_shape *in, const gc_shape *out);

/* The ops of a kind; NULL if out of range. */
const gc_layer_ops *gc_layer_ops_of(gc_layer_kind kind);

extern const gc_layer_ops gc_conv2d_ops, gc_relu_ops, gc_maxpool2d_ops, gc_avgpool2d_ops,
    gc_adaptive_avgpool2d_ops, gc_linear_ops, gc_dropout_ops, gc_flatten_ops, gc_softmax_ops,
    gc_lrn_ops, gc_batchnorm2d_ops;

/* Linear layers at batch 1 (not the reference tier): c->dx = c->dy W and dx1 = dy1 W with
 * one pass over W, each bit-identical to the layer's backward. Returns 0 (nothing done) when
 * that does not apply. For explainers that need two input gradients of the same layer. */
int gc_linear_dx_pair(const gc_layer_ctx *c, const float *dy1, float *dx1);

#endif
