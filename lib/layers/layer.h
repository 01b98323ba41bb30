/* layer.h - the interface every layer kind implements (internal).
 *
 * Each lib/layers/<kind>.c keeps, side by side, its hyper-parameters (checks
 * and .gcw keys), shape inference, parameter shapes and roles, workspace/state
 * sizes, forward and backward, and exports one `const gc_layer_ops
 * gc_<kind>_ops`. registry.c lists them in one table indexed by
 * gc_layer_kind. Everything the planner, the model file, the trainer or the
 * explainers need to know about a kind is in its entry, never in a test of
 * the kind elsewhere.
 *
 * Conventions
 *   - Activations are float32, row-major; images NCHW, vectors (N, F).
 *   - forward/backward cannot fail: everything that can go wrong is checked
 *     by check_params (when the layer is added) and infer (when a session is
 *     planned). They never allocate: scratch comes in ctx->ws (sized by
 *     workspace()), per-session memory kept from forward to backward in
 *     ctx->state (sized by state_bytes()).
 *   - A layer reads n_in inputs (ins[k], xs[k]); x / in / dx are input 0's,
 *     which is all single-input kinds look at. A constant reads none (n_in 0:
 *     x, in and dx are then unset).
 *   - backward overwrites ctx->dxs[k] (dx for input 0) when it is non-NULL,
 *     and overwrites each ctx->dparam[i] that is non-NULL (sums over the
 *     batch). It may read xs, y, dy and state. Two dxs entries never alias.
 */
#ifndef GC_LAYER_H
#define GC_LAYER_H

#include "core/core.h"
#include "core/pool.h"
#include "kernels/activation.h" /* gc_epilogue */
#include <stddef.h>

#define GC_NAME_MAX 64
#define GC_MAX_PARAMS 4
#define GC_MAX_INPUTS 1024  /* inputs of one layer (a DenseNet concat reads dozens) */
#define GC_MAX_ALIASES 16   /* extra names of one layer's output */
#define GC_MAX_SLOTS 4      /* workers with a slot of their own (gc_layer_ctx.slots): the most
                               any kind's slotted kernels run on (Winograd's) */

typedef struct gc_shape {
    int     ndim;             /* 1..GC_MAX_DIMS */
    int64_t d[GC_MAX_DIMS];   /* NCHW or (N, F); entries past ndim are 1 */
} gc_shape;

int64_t gc_shape_numel(const gc_shape *s); /* product, -1 on overflow */
/* "1x4x9x9" into b (for error messages). */
void gc_shape_format(char *b, size_t cap, const gc_shape *s);

/* A constant's output shape (.gcw keys ndim, d0..d3): ndim 1..GC_MAX_DIMS, d[k] >= 1,
 * entries past ndim 1. */
typedef struct gc_constant_params {
    int64_t ndim, d[GC_MAX_DIMS];
} gc_constant_params;

typedef union gc_layer_params {
    gc_conv2d_params          conv;
    gc_pool2d_params          pool;   /* maxpool2d, avgpool2d */
    gc_adaptive_pool2d_params apool;
    gc_linear_params          linear;
    gc_lrn_params             lrn;
    gc_batchnorm2d_params     bn;
    gc_activation_params      act;
    gc_concat_params          concat;
    gc_constant_params        constant;
    gc_pad_params             pad;
    int64_t                   shuffle_groups; /* channel_shuffle */
    float                     dropout_p;
} gc_layer_params;

/* A layer as the model stores it. */
typedef struct gc_layer {
    char            name[GC_NAME_MAX];
    gc_layer_kind   kind;
    int             spatial;                /* output is (N, C, H, W)-like: no GC_TRAIT_FLAT
                                               layer on any path from the input (derived) */
    int             n_inputs;               /* >= 0 (0: a constant) */
    int            *inputs;                 /* (n_inputs) producing layer indices, -1 = network
                                               input; model memory */
    gc_layer_params p;
    int             n_params;               /* from ops->param_shapes */
    float          *param[GC_MAX_PARAMS];   /* weight, bias, ... (model memory) */
    gc_shape        param_shape[GC_MAX_PARAMS];
} gc_layer;

/* Everything one forward or backward call of one layer sees. */
typedef struct gc_layer_ctx {
    const gc_layer *layer;
    gc_shape        in, out;    /* shapes of x (input 0) and y */
    const float    *x;          /* input 0's activation (in) */
    float          *y;          /* output activation (out) */
    int             n_in;       /* inputs: layer->n_inputs */
    const gc_shape *ins;        /* (n_in) their shapes */
    const float *const *xs;     /* (n_in) their activations */
    const float *const *param;  /* the parameters to use: layer->param, or a session's
                                   folded copy (GC_TRAIT_CHANNEL_LINEAR kinds) */
    gc_epilogue     epi;        /* forward: applied to y as it is stored (GC_TRAIT_EPILOGUE
                                   kinds; op GC_EPI_NONE: nothing) */
    const float    *res;        /* forward: NULL, or a residual of y's shape added to y before
                                   epi (GC_TRAIT_RESIDUAL kinds: the add after it, fused) */
    int             fused;      /* the layer's own forward was fused into its producer's
                                   store (it has an epilogue): backward reads y for x (a
                                   ReLU: its state as the epilogue wrote it, layout word first) */
    const float    *prep;       /* prepared_floats() floats made by prepare() from param
                                   when the session was planned, or NULL */
    void           *state;      /* state_bytes() bytes, kept forward -> backward */
    float          *ws;         /* workspace() floats of scratch */
    gc_slots        slots;      /* the workers' own scratch, at the same addresses for every
                                   layer (core/pool.h): slot_floats() floats each at least,
                                   set by the session for kinds with slot_floats */
    /* backward only */
    const float    *dy;                     /* d loss / d y (out) */
    float          *dx;                     /* d loss / d input 0 (in), NULL: not needed */
    float *const   *dxs;                    /* (n_in) d loss / d input k, NULL entries: not needed */
    float          *dparam[GC_MAX_PARAMS];  /* d loss / d param[i], NULL: not needed */
    gc_relu_mode    relu_mode;
    gc_kernels      kernels;                /* tier for forward and backward */
    int             no_winograd;            /* convolutions: never Winograd */
    int             accurate;               /* forward: convolutions and linear layers sum each
                                               output in double and round it once (the switch-
                                               following explanations: gc_session_set_accurate) */
    int             param_grads;            /* the session is planned for parameter gradients
                                               (training): linear layers take the GEMM at any batch */
    int             forward_only;           /* the session never runs this layer's backward (it lies
                                               below the session's backward floor): forward keeps no
                                               state (ctx->state NULL, a fused ReLU's mask NULL) and
                                               prepare() may keep what only forward needs */
    gc_pool        *pool;                   /* the session's threads (NULL: run on the caller's) */
} gc_layer_ctx;

/* What a kind's backward reads besides dy, weights and its state (the
 * session keeps those buffers alive; all others may be reused once the
 * forward pass is past them). */
enum {
    GC_READS_X        = 1, /* the input, always          */
    GC_READS_Y        = 2, /* the output, always         */
    GC_READS_X_PARAMS = 4  /* the input, for parameter gradients only */
};

/* What a kind is, for the code that plans, trains and explains (traits). */
enum {
    GC_TRAIT_FLAT           = 1,  /* output is (N, F) whatever the input: flatten, linear */
    GC_TRAIT_ACTIVATION     = 2,  /* element-wise activation: the default Grad-CAM layer
                                     is the last one before the global pooling */
    GC_TRAIT_POOL           = 4,  /* pools or passes a spatial map without mixing channels
                                     (pooling, dropout): the default-layer rule looks
                                     through it for the activation before it */
    GC_TRAIT_SAME_SHAPE     = 8,  /* output shape = the (single) input's shape */
    GC_TRAIT_CHANNEL_LINEAR = 16, /* output channel o is linear in param[0] row o plus
                                     param[1][o] (conv2d): a channel-affine consumer
                                     can be folded into it */
    GC_TRAIT_EPILOGUE       = 32, /* forward applies ctx->epi to its output (conv2d, add):
                                     an activation with an epilogue can be fused into it */
    GC_TRAIT_RESIDUAL       = 64, /* forward adds ctx->res to its output before ctx->epi
                                     (conv2d): the residual add after it can be fused into it */
    GC_TRAIT_SUM            = 128, /* y = x0 + x1, and with same shapes the bits of adding them
                                     in a store; backward reads neither (add): can be fused into
                                     a GC_TRAIT_RESIDUAL producer of one input */
    GC_TRAIT_STATE_OPTIONAL = 256 /* forward runs without its state (ctx->state NULL): a session
                                     that never runs the layer's backward allocates none (relu) */
};

/* What gc_layer_ops.epilogue allows. */
enum { GC_FUSE_ANY = 1, GC_FUSE_FORWARD = 2 };

/* Roles of a parameter slot. */
enum {
    GC_PARAM_TRAINED  = 1,  /* gets a gradient; SGD updates it */
    GC_PARAM_INIT     = 2,  /* gc_model_init_random: uniform +-1/sqrt(fan_in of slot 0) */
    GC_PARAM_ONE      = 4,  /* default value 1 (else 0) */
    GC_PARAM_BIASLIKE = 8,  /* exempt from weight decay under no_bias_decay */
    GC_PARAM_WEIGHT   = GC_PARAM_TRAINED | GC_PARAM_INIT,
    GC_PARAM_BIAS     = GC_PARAM_TRAINED | GC_PARAM_INIT | GC_PARAM_BIASLIKE
};

/* A hyper-parameter as the .gcw file stores it: its key, type and place in
 * gc_layer_params (docs/format.md lists them per kind). */
enum { GC_HP_I64, GC_HP_BOOL, GC_HP_F32, GC_HP_ENUM };
typedef struct gc_hparam {
    const char *key;
    int         type;    /* GC_HP_*: int64_t, int (0/1), float, int (enum, named below) */
    size_t      off;     /* offsetof(gc_layer_params, ...) */
    const char *const *names; /* GC_HP_ENUM: value names, NULL-terminated (for printing) */
} gc_hparam;
#define GC_HPI(f, k) {k, GC_HP_I64, offsetof(gc_layer_params, f), NULL}
#define GC_HPB(f, k) {k, GC_HP_BOOL, offsetof(gc_layer_params, f), NULL}
#define GC_HPF(f, k) {k, GC_HP_F32, offsetof(gc_layer_params, f), NULL}
#define GC_HPE(f, k, names) {k, GC_HP_ENUM, offsetof(gc_layer_params, f), names}
#define GC_HPARAMS(a) .hparams = (a), .n_hparams = (int)(sizeof(a) / sizeof((a)[0]))

typedef struct gc_layer_ops {
    const char *name; /* "conv2d", ... as gc_layer_kind_name */
    int         min_inputs, max_inputs;    /* how many inputs a layer of this kind reads */
    unsigned    traits;                    /* GC_TRAIT_* */
    unsigned    backward_reads;            /* GC_READS_* (for every input) */
    unsigned    param_roles[GC_MAX_PARAMS];/* GC_PARAM_* of each parameter slot */
    const gc_hparam *hparams;              /* the .gcw keys */
    int         n_hparams;
    /* Validates hyper-parameters in l->p (GC_ERR_INVALID_ARGUMENT naming the
     * bad field). Called when the layer is added to a model. */
    gc_status (*check_params)(const gc_layer *l);
    /* Number of parameter tensors (<= GC_MAX_PARAMS), their shapes and name
     * suffixes ("weight", "bias", "running_mean", "running_var"). Returns n. */
    int (*param_shapes)(const gc_layer *l, gc_shape shapes[GC_MAX_PARAMS],
                        const char *suffixes[GC_MAX_PARAMS]);
    /* Output shape for the input shapes in[0 .. l->n_inputs), or GC_ERR_SHAPE
     * with a message saying what was expected and what was given. */
    gc_status (*infer)(const gc_layer *l, const gc_shape *in, gc_shape *out);
    /* Floats of scratch needed by forward and backward (max of the two). */
    size_t (*workspace)(const gc_layer *l, const gc_shape *in, const gc_shape *out);
    /* Optional. Floats of scratch each of `workers` workers keeps to itself (ctx->slots, whose
     * n is workers), besides workspace(), which then counts only what the workers share. */
    size_t (*slot_floats)(const gc_layer *l, const gc_shape *in, const gc_shape *out, int workers);
    /* Bytes of state kept from forward to backward (e.g. max-pool argmax). */
    size_t (*state_bytes)(const gc_layer *l, const gc_shape *in, const gc_shape *out);
    void (*forward)(const gc_layer_ctx *c);
    void (*backward)(const gc_layer_ctx *c);
    /* Optional. Parameters prepared once per session (packed, transformed) for the ctx's
     * shapes, tier and no_winograd: how many floats (0: none) and filling them from
     * c->param. Forward and backward then find them in c->prep (and must also work
     * without them: c->prep NULL). */
    size_t (*prepared_floats)(const gc_layer_ctx *c);
    void (*prepare)(const gc_layer_ctx *c, float *prep);
    /* Optional. A second input gradient in the same pass: dx1 = backward of dy1
     * with the same forward state, both bit-identical to backward's, reading
     * the parameters once (batch-1 linear layers). Returns 0 when it does not
     * apply (the caller then runs backward twice). */
    int (*backward_pair)(const gc_layer_ctx *c, const float *dy1, float *dx1);
    /* Optional. The layer is y = scale[c] x + shift[c] per channel c (inference
     * batch-norm): fills scale and shift (l's channel count) for folding into a
     * GC_TRAIT_CHANNEL_LINEAR producer. */
    void (*channel_affine)(const gc_layer *l, double *scale, double *shift);
    /* Optional. The layer is an element-wise map of its one input that a GC_TRAIT_EPILOGUE
     * producer can apply as it stores, with the same bits and the same state as forward
     * (the planner points a GC_EPI_RELU mask at the layer's state): fills *e and returns
     * GC_FUSE_ANY when its backward works with y where it reads x (ctx->fused: the planner
     * keeps y instead), GC_FUSE_FORWARD when only the values can be fused (the backward
     * needs x: fused only where the session never runs it), 0 when l cannot be fused. */
    int (*epilogue)(const gc_layer *l, gc_epilogue *e);
} gc_layer_ops;

/* Applies e to y[0 .. n) in place on the pool's threads with the tier's kernels (the bits of
 * the activation layer e stands for, its mask included); stored: the values already went
 * through e as they were stored, only a ReLU's mask is left to write. Nothing for
 * GC_EPI_NONE. */
void gc_epilogue_run(gc_pool *pool, int tier, const gc_epilogue *e, float *y, int64_t n, int stored);
/* y[i] += res[i] over [0, n), then e (values and mask) in the same pass: the residual add of a
 * GC_TRAIT_RESIDUAL path that could not add it as it stored. */
void gc_epilogue_run_res(gc_pool *pool, int tier, const gc_epilogue *e, float *y, const float *res, int64_t n);

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

/* Items per gc_pool_for chunk for a loop over n items of `cost` units each (a unit: about one
 * float read and one written; a double, so that estimates never overflow): at least
 * GC_CHUNK_UNITS units a chunk (64 KB of floats, a few microseconds), and the whole loop as one
 * chunk, run inline, when it costs at most `serial` units (GC_SERIAL_UNITS: too little to be
 * worth waking the threads; 0: always split). */
#define GC_CHUNK_UNITS  16384.0
#define GC_SERIAL_UNITS 65536.0
static inline int64_t gc_grain(int64_t n, double cost, double serial) {
    if (!(cost >= 1.0)) cost = 1.0;
    if ((double)n * cost <= serial) return n > 1 ? n : 1;
    return cost >= GC_CHUNK_UNITS ? 1 : (int64_t)(GC_CHUNK_UNITS / cost + 0.999);
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

/* The NumPy broadcast of the shapes in[0..n) (aligned at the last dimension,
 * each pair equal or one of them 1) in *out; GC_ERR_SHAPE naming `kind` and
 * the shapes when they do not broadcast. */
gc_status gc_broadcast_shape(const char *kind, const gc_shape *in, int n, gc_shape *out);

extern const gc_layer_ops gc_conv2d_ops, gc_relu_ops, gc_maxpool2d_ops, gc_avgpool2d_ops,
    gc_adaptive_avgpool2d_ops, gc_linear_ops, gc_dropout_ops, gc_flatten_ops, gc_softmax_ops,
    gc_lrn_ops, gc_batchnorm2d_ops, gc_add_ops, gc_mul_ops, gc_concat_ops, gc_activation_ops, gc_sub_ops,
    gc_div_ops, gc_pad_ops, gc_channel_shuffle_ops, gc_identity_ops, gc_constant_ops;

#endif
