/* activation.c - element-wise activations other than ReLU, one kind with an op (as ggml's
 * unary op); forward and PyTorch's derivative side by side (a = alpha, b = beta):
 *   sigmoid      y = s(x) = 1 / (1 + e^-x)         dy/dx = s (1 - s)
 *   silu         y = x s(x)                        s (1 + x (1 - s))
 *   hardsigmoid  y = clamp(a x + b, 0, 1)          a strictly between the breakpoints, else 0
 *   hardswish    y = x clamp(a x + b, 0, 1)        0 below, 2 a x + b between them, 1 above
 *   clamp        y = min(max(x, a), b)             1 strictly inside (a, b), else 0
 *   leaky_relu   y = x > 0 ? x : a x               1 or a
 * Backward is the true derivative in every relu_mode (guided rules act at ReLUs only).
 * clamp can be fused into the convolution before it (gc_epilogue GC_EPI_CLAMP): its backward
 * then reads y, which lies strictly inside (a, b) exactly where x does. The other ops are fused
 * (GC_EPI_ACT, applied in place after the convolution's stores) only where the session never
 * runs their backward, which needs x.
 * NaN propagates (as in PyTorch). The loops are kernels/activation_tx.h. */
#include "layer.h"
#include "kernels/activation.h"
#include "kernels/gemm.h"
#include <math.h>
#include <stdio.h>

static const char *const op_names[] = {"sigmoid", "silu", "hardsigmoid", "hardswish", "clamp", "leaky_relu", NULL};
_Static_assert(sizeof op_names / sizeof *op_names == GC_ACT_COUNT + 1, "op names out of step with gc_activation_op");

gc_activation_params gc_activation_defaults(gc_activation_op op) {
    gc_activation_params p = {op, 0.0f, 0.0f};
    if (op == GC_ACT_HARDSIGMOID || op == GC_ACT_HARDSWISH) p.alpha = 1.0f / 6.0f, p.beta = 0.5f;
    if (op == GC_ACT_CLAMP) p.beta = 6.0f;
    if (op == GC_ACT_LEAKY_RELU) p.alpha = 0.01f;
    return p;
}

static gc_status act_check(const gc_layer *l) {
    const gc_activation_params *p = &l->p.act;
    if ((unsigned)p->op >= GC_ACT_COUNT)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "activation: unknown op %d (0..%d)", (int)p->op, GC_ACT_COUNT - 1);
    if (!isfinite(p->alpha) || !isfinite(p->beta))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "activation %s: alpha %g and beta %g must be finite",
                        op_names[p->op], (double)p->alpha, (double)p->beta);
    if (p->op == GC_ACT_CLAMP && !(p->alpha <= p->beta))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "activation clamp: min (alpha) %g above max (beta) %g",
                        (double)p->alpha, (double)p->beta);
    return GC_OK;
}

static gc_status act_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    *out = *in;
    return GC_OK;
}

/* Where a x + b crosses 0 and 1, rounded to float, low first: the derivative's kinks are
 * decided on x, as PyTorch does (x against -3 and 3 for a = 1/6, b = 1/2), not on the
 * rounded a x + b. a = 0: no kinks (the output is constant), *lo > *hi. */
static void breakpoints(float a, float b, float *lo, float *hi) {
    if (a == 0.0f) { *lo = INFINITY; *hi = -INFINITY; return; }
    const float z = (float)(-(double)b / a), o = (float)((1.0 - b) / a);
    *lo = z < o ? z : o;
    *hi = z < o ? o : z;
}

/* Work goes in chunks of whole blocks of ACT_BLOCK elements, each through the kernel of the
 * session's tier (every build of kernels/activation_tx.h gives the same bits). */
#define ACT_BLOCK ((int64_t)1 << 14)

/* Sigmoid and SiLU cost about 8 copies an element (e^x and a division), so they split over the
 * threads from 8 K elements on, in blocks of 2 K: EfficientNet's 7x7 layers (56 K elements) ran
 * on one thread; the other ops run whole blocks, serial below 64 K elements. */
static int64_t act_grain(int64_t n, gc_activation_op op) {
    const int costly = op == GC_ACT_SIGMOID || op == GC_ACT_SILU;
    const int64_t blk = costly ? ACT_BLOCK / 8 : ACT_BLOCK;
    return gc_grain((n + blk - 1) / blk, (double)blk * (costly ? 8.0 : 1.0), GC_SERIAL_UNITS) * blk;
}

typedef struct act_fwd_job {
    gc_gemm_tier tier;
    gc_activation_params p;
    const float *x; /* (n) */
    float *y;       /* (n) */
} act_fwd_job;

static void act_forward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const act_fwd_job *job = arg;
    const int op = (int)job->p.op;
    const float a = job->p.alpha, b = job->p.beta, *x = job->x + lo;
    float *y = job->y + lo;
    (void)worker;
    if (job->tier == GC_GEMM_AVX512) gc_act_forward_avx512(op, a, b, x, y, hi - lo);
    else if (job->tier == GC_GEMM_AVX2) gc_act_forward_avx2(op, a, b, x, y, hi - lo);
    else gc_act_forward_portable(op, a, b, x, y, hi - lo);
}

static void act_forward(const gc_layer_ctx *c) {
    const int64_t n = gc_shape_numel(&c->in);
    act_fwd_job job = {gc_gemm_resolve((gc_gemm_tier)c->kernels), c->layer->p.act, c->x, c->y};
    gc_pool_for(c->pool, n, act_grain(n, job.p.op), 0, act_forward_chunk, &job);
}

typedef struct act_bwd_job {
    gc_gemm_tier tier;
    gc_activation_params p;
    float lo, hi;            /* hardsigmoid / hardswish kinks */
    const float *x, *dy;     /* (n) each; x is y for a fused clamp */
    float *dx;               /* (n) */
    int from_y;              /* clamp fused into its producer: x holds y */
} act_bwd_job;

static void act_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const act_bwd_job *job = arg;
    const int op = (int)job->p.op;
    const float a = job->p.alpha, b = job->p.beta;
    (void)worker;
    if (job->from_y) {
        if (job->tier == GC_GEMM_AVX512) gc_act_backward_y_avx512(a, b, job->x + lo, job->dy + lo, job->dx + lo, hi - lo);
        else if (job->tier == GC_GEMM_AVX2) gc_act_backward_y_avx2(a, b, job->x + lo, job->dy + lo, job->dx + lo, hi - lo);
        else gc_act_backward_y_portable(a, b, job->x + lo, job->dy + lo, job->dx + lo, hi - lo);
    } else if (job->tier == GC_GEMM_AVX512)
        gc_act_backward_avx512(op, a, b, job->lo, job->hi, job->x + lo, job->dy + lo, job->dx + lo, hi - lo);
    else if (job->tier == GC_GEMM_AVX2)
        gc_act_backward_avx2(op, a, b, job->lo, job->hi, job->x + lo, job->dy + lo, job->dx + lo, hi - lo);
    else
        gc_act_backward_portable(op, a, b, job->lo, job->hi, job->x + lo, job->dy + lo, job->dx + lo, hi - lo);
}

static void act_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const int64_t n = gc_shape_numel(&c->in);
    act_bwd_job job = {gc_gemm_resolve((gc_gemm_tier)c->kernels), c->layer->p.act, 0, 0, c->fused ? c->y : c->x,
                       c->dy, c->dx, c->fused};
    breakpoints(job.p.alpha, job.p.beta, &job.lo, &job.hi);
    gc_pool_for(c->pool, n, act_grain(n, job.p.op), 0, act_backward_chunk, &job);
}

/* clamp as its producer's store; the other ops' values only (their backward needs x). */
static int act_epilogue(const gc_layer *l, gc_epilogue *e) {
    if (l->p.act.op == GC_ACT_CLAMP) {
        *e = (gc_epilogue){GC_EPI_CLAMP, l->p.act.alpha, l->p.act.beta, NULL, 0};
        return GC_FUSE_ANY;
    }
    *e = (gc_epilogue){GC_EPI_ACT, l->p.act.alpha, l->p.act.beta, NULL, (int)l->p.act.op};
    return GC_FUSE_FORWARD;
}

static const gc_hparam act_hp[] = {GC_HPE(act.op, "op", op_names), GC_HPF(act.alpha, "alpha"), GC_HPF(act.beta, "beta")};

const gc_layer_ops gc_activation_ops = {
    .name = "activation",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_ACTIVATION | GC_TRAIT_SAME_SHAPE,
    .backward_reads = GC_READS_X,
    GC_HPARAMS(act_hp),
    .check_params = act_check,
    .param_shapes = gc_layer_no_params,
    .infer = act_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = act_forward,
    .backward = act_backward,
    .epilogue = act_epilogue,
};
