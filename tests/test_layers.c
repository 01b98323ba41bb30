/* test_layers.c - every layer kind through its gc_layer_ops: forward against the naive
 * references in tests/common/layer_ref.c, backward against central finite differences,
 * hand-worked ReLU rules and activation kinks, NumPy broadcasting of add/mul/sub/div, the
 * input-less constant, padding, channel shuffle, parameter shapes, and refused
 * hyper-parameters, shapes and numbers of inputs. */
#include "test.h"
#include "common/layer_ref.h"
#include "common/layer_slots.h"
#include "core/core.h"
#include "layers/layer.h"
#include "kernels/activation.h"
#include "kernels/gemm.h"
#include "net/model.h"

static gc_rng rng;

/* The threads lt_ctx hands the layers (main: a pool of 3, so that the larger cases below split
 * their loops across threads; NULL: the caller's thread). */
static gc_pool *lt_pool;

static float urand(float lo, float hi) { return lo + (hi - lo) * gc_rng_uniform(&rng); }

#define SH4(a, b, c, d) ((gc_shape){4, {(a), (b), (c), (d)}})
#define SH3(a, b, c) ((gc_shape){3, {(a), (b), (c), 1}})
#define SH2(a, b) ((gc_shape){2, {(a), (b), 1, 1}})

/* ------------------------------------------------------------------ a layer under test */

#define LT_MAX_IN 4 /* inputs of a layer under test */

typedef struct lt {
    gc_layer l;
    const gc_layer_ops *ops;
    gc_shape in, out;                /* in = ins[0] */
    int64_t nin, nout, np[GC_MAX_PARAMS];
    int n_in;                        /* inputs the layer reads */
    gc_shape ins[LT_MAX_IN];
    int64_t nins[LT_MAX_IN];         /* nin = nins[0] */
    int ngrad;                       /* params that get gradients (batch-norm: 2) */
    const char *suffix[GC_MAX_PARAMS];
    float *x, *y, *dy, *dx, *ws;     /* (in), (out), (out), (in), workspace; x = xs[0], dx = dxs[0] */
    float *xs[LT_MAX_IN], *dxs[LT_MAX_IN]; /* (ins[k]) each */
    void *state;
    float *dp[GC_MAX_PARAMS];        /* parameter gradients */
    gc_slots slots;                  /* the workers' slots, as a session gives them */
} lt;

static void lt_free(lt *t) {
    free(t->y); free(t->dy); free(t->ws); free(t->state); free(t->slots.base);
    for (int k = 0; k < t->n_in; k++) { free(t->xs[k]); free(t->dxs[k]); }
    for (int i = 0; i < GC_MAX_PARAMS; i++) { free(t->l.param[i]); free(t->dp[i]); }
    memset(t, 0, sizeof *t);
}

/* Checks params, makes random params and inputs in [-1, 1], infers, sizes buffers; the
 * layer reads n inputs of shapes ins[] (n 0: a constant; ins may be NULL). */
static gc_status lt_make_n(lt *t, gc_layer_kind kind, gc_layer_params p, int n, const gc_shape *ins) {
    memset(t, 0, sizeof *t);
    snprintf(t->l.name, GC_NAME_MAX, "test");
    t->l.kind = kind;
    static int net_input[LT_MAX_IN] = {-1, -1, -1, -1};
    t->l.inputs = net_input;
    t->l.n_inputs = n;
    t->l.p = p;
    t->ops = gc_layer_ops_of(kind);
    gc_status st = t->ops->check_params(&t->l);
    if (st) return st;
    t->l.n_params = t->ops->param_shapes(&t->l, t->l.param_shape, t->suffix);
    t->ngrad = kind == GC_LAYER_BATCHNORM2D ? 2 : t->l.n_params;
    for (int i = 0; i < t->l.n_params; i++) {
        t->np[i] = gc_shape_numel(&t->l.param_shape[i]);
        t->l.param[i] = malloc((size_t)t->np[i] * sizeof(float));
        t->dp[i] = malloc((size_t)t->np[i] * sizeof(float));
        for (int64_t k = 0; k < t->np[i]; k++) t->l.param[i][k] = urand(-1, 1);
    }
    if (kind == GC_LAYER_BATCHNORM2D)
        for (int64_t k = 0; k < t->np[3]; k++) t->l.param[3][k] = urand(0.5f, 1.5f);
    if (n) t->in = ins[0];
    st = t->ops->infer(&t->l, ins, &t->out);
    if (st) return st;
    t->n_in = n;
    for (int k = 0; k < n; k++) {
        t->ins[k] = ins[k];
        t->nins[k] = gc_shape_numel(&ins[k]);
        t->xs[k] = malloc((size_t)t->nins[k] * sizeof(float));
        t->dxs[k] = malloc((size_t)t->nins[k] * sizeof(float));
        for (int64_t e = 0; e < t->nins[k]; e++) t->xs[k][e] = urand(-1, 1);
    }
    t->nin = t->nins[0];
    t->x = t->xs[0];
    t->dx = t->dxs[0];
    t->nout = gc_shape_numel(&t->out);
    t->y = malloc((size_t)t->nout * sizeof(float));
    t->dy = malloc((size_t)t->nout * sizeof(float));
    t->ws = malloc(t->ops->workspace(&t->l, t->ins, &t->out) * sizeof(float) + 1);
    if (!test_layer_slots(t->ops, &t->l, t->ins, &t->out, &t->slots)) return GC_ERR_OUT_OF_MEMORY;
    t->state = malloc(t->ops->state_bytes(&t->l, t->ins, &t->out) + 1);
    return GC_OK;
}

static gc_status lt_make(lt *t, gc_layer_kind kind, gc_layer_params p, gc_shape in) {
    return lt_make_n(t, kind, p, 1, &in);
}

static gc_layer_ctx lt_ctx(lt *t, gc_relu_mode mode) {
    gc_layer_ctx c;
    memset(&c, 0, sizeof c);
    c.layer = &t->l;
    c.in = t->in;
    c.out = t->out;
    c.x = t->x;
    c.n_in = t->n_in;
    c.ins = t->ins;
    c.xs = (const float *const *)t->xs;
    c.dxs = t->dxs;
    c.param = (const float *const *)t->l.param;
    c.y = t->y;
    c.state = t->state;
    c.ws = t->ws;
    c.slots = t->slots;
    c.dy = t->dy;
    c.dx = t->dx;
    for (int i = 0; i < t->ngrad; i++) c.dparam[i] = t->dp[i];
    c.relu_mode = mode;
    c.pool = lt_pool;
    return c;
}

/* Forward into y pre-filled with NaN, so reading y before writing it shows. */
static void lt_forward(lt *t) {
    for (int64_t k = 0; k < t->nout; k++) t->y[k] = NAN;
    gc_layer_ctx c = lt_ctx(t, GC_RELU_NORMAL);
    t->ops->forward(&c);
}

/* Backward into buffers pre-filled with NaN, so accumulating instead of overwriting shows. */
static void lt_backward(lt *t) {
    for (int i = 0; i < t->n_in; i++)
        for (int64_t k = 0; k < t->nins[i]; k++) t->dxs[i][k] = NAN;
    for (int i = 0; i < t->ngrad; i++)
        for (int64_t k = 0; k < t->np[i]; k++) t->dp[i][k] = NAN;
    gc_layer_ctx c = lt_ctx(t, GC_RELU_NORMAL);
    t->ops->backward(&c);
}

/* ------------------------------------------------------------------ checks */

/* Forward output against a reference of the same shape. */
static double fwd_err(lt *t, const float *ref) {
    lt_forward(t);
    return test_rel_err(t->y, ref, t->nout, 1e-3);
}

/* L = sum(r * y) in double, r = t->dy. */
static double lt_loss(lt *t) {
    lt_forward(t);
    double s = 0;
    for (int64_t k = 0; k < t->nout; k++) s += (double)t->dy[k] * t->y[k];
    return s;
}

/* Central differences of L w.r.t. v[0..n) (all entries, or 120 sampled) against g. */
static double fd_err(lt *t, float *v, int64_t n, const float *g, float eps) {
    enum { MAXS = 120 };
    float num[MAXS], ana[MAXS];
    int64_t m = n < MAXS ? n : MAXS;
    for (int64_t k = 0; k < m; k++) {
        int64_t i = n <= MAXS ? k : (int64_t)(gc_rng_next(&rng) % (uint64_t)n);
        float keep = v[i];
        v[i] = keep + eps;
        double lp = lt_loss(t);
        v[i] = keep - eps;
        double lm = lt_loss(t);
        v[i] = keep;
        num[k] = (float)((lp - lm) / (2.0 * eps));
        ana[k] = g[i];
    }
    return test_rel_err(ana, num, m, 1e-2);
}

static int all_finite(const float *v, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(v[k])) return 0;
    return 1;
}

/* Every gradient entry is written (buffers start as NaN); then central differences for every
 * input and every parameter that has a gradient, tolerance 1e-2 relative. */
#define CHECK_GRADS(t, eps)                                                                  \
    do {                                                                                     \
        for (int64_t k_ = 0; k_ < (t)->nout; k_++) (t)->dy[k_] = urand(-1, 1);               \
        lt_forward(t);                                                                       \
        lt_backward(t);                                                                      \
        for (int j_ = 0; j_ < (t)->n_in; j_++)                                               \
            if (!all_finite((t)->dxs[j_], (t)->nins[j_]))                                    \
                FAILF("%s: dx of input %d not fully written", (t)->ops->name, j_);           \
        for (int i_ = 0; i_ < (t)->ngrad; i_++)                                              \
            if (!all_finite((t)->dp[i_], (t)->np[i_]))                                       \
                FAILF("%s: d%s not fully written", (t)->ops->name, (t)->suffix[i_]);         \
        for (int j_ = 0; j_ < (t)->n_in; j_++) {                                             \
            float *gx_ = malloc((size_t)(t)->nins[j_] * sizeof(float));                     \
            memcpy(gx_, (t)->dxs[j_], (size_t)(t)->nins[j_] * sizeof(float));                \
            double ex_ = fd_err((t), (t)->xs[j_], (t)->nins[j_], gx_, (eps));               \
            if (!(ex_ < 1e-2)) FAILF("%s: dx of input %d relative error %g", (t)->ops->name, j_, ex_); \
            free(gx_);                                                                       \
        }                                                                                    \
        for (int i_ = 0; i_ < (t)->ngrad; i_++) {                                            \
            float *gp_ = malloc((size_t)(t)->np[i_] * sizeof(float));                       \
            memcpy(gp_, (t)->dp[i_], (size_t)(t)->np[i_] * sizeof(float));                   \
            double ep_ = fd_err((t), (t)->l.param[i_], (t)->np[i_], gp_, (eps));            \
            if (!(ep_ < 1e-2)) FAILF("%s: d%s relative error %g", (t)->ops->name, (t)->suffix[i_], ep_); \
            free(gp_);                                                                       \
        }                                                                                    \
    } while (0)

static int same_shape(const gc_shape *a, const gc_shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

/* Fills x with a shuffled arithmetic sequence start, start + step, ... (distinct values). */
static void distinct_fill(float *x, int64_t n, float start, float step) {
    for (int64_t k = 0; k < n; k++) x[k] = start + step * (float)k;
    for (int64_t k = n - 1; k > 0; k--) {
        int64_t j = (int64_t)(gc_rng_next(&rng) % (uint64_t)(k + 1));
        float s = x[k]; x[k] = x[j]; x[j] = s;
    }
}

/* ------------------------------------------------------------------ conv2d */

static gc_conv2d_params conv_p(int64_t c, int64_t o, int64_t kh, int64_t kw, int64_t s, int64_t pad,
                               int64_t d, int64_t g, int bias) {
    gc_conv2d_params p = {c, o, kh, kw, s, s, pad, pad, d, d, g, bias};
    return p;
}

static void conv_case(gc_conv2d_params cp, int64_t N, int64_t H, int64_t W, int grads) {
    lt t;
    gc_layer_params p = {.conv = cp};
    gc_status st = lt_make(&t, GC_LAYER_CONV2D, p, SH4(N, cp.in_channels, H, W));
    if (st) {
        FAILF("conv2d %lldx%lldx%lldx%lld: %s", (long long)N, (long long)cp.in_channels, (long long)H,
              (long long)W, gc_last_error());
        lt_free(&t);
        return;
    }
    int64_t OH = ref_conv_out(H, cp.kernel_h, cp.stride_h, cp.pad_h, cp.dilation_h);
    int64_t OW = ref_conv_out(W, cp.kernel_w, cp.stride_w, cp.pad_w, cp.dilation_w);
    gc_shape want = SH4(N, cp.out_channels, OH, OW);
    CHECK(same_shape(&t.out, &want));
    if (same_shape(&t.out, &want)) {
        float *ref = malloc((size_t)t.nout * sizeof(float));
        ref_conv2d(&cp, N, H, W, t.x, t.l.param[0], cp.bias ? t.l.param[1] : NULL, ref);
        double e = fwd_err(&t, ref);
        if (!(e < 1e-5)) FAILF("conv2d forward relative error %g (c%lld o%lld k%lldx%lld s%lld p%lld d%lld g%lld)", e,
                               (long long)cp.in_channels, (long long)cp.out_channels, (long long)cp.kernel_h,
                               (long long)cp.kernel_w, (long long)cp.stride_h, (long long)cp.pad_h,
                               (long long)cp.dilation_h, (long long)cp.groups);
        free(ref);
        if (grads) CHECK_GRADS(&t, 1e-2f);
    }
    lt_free(&t);
}

TEST(conv2d_forward_and_gradients) {
    conv_case(conv_p(3, 5, 3, 3, 1, 1, 1, 1, 1), 2, 9, 11, 1);     /* odd sizes, padding */
    conv_case(conv_p(5, 7, 3, 2, 2, 1, 1, 1, 1), 2, 10, 9, 1);     /* stride 2, 3x2 kernel */
    conv_case(conv_p(4, 6, 3, 3, 1, 2, 2, 1, 1), 2, 11, 13, 1);    /* dilation 2 */
    conv_case(conv_p(6, 4, 3, 3, 2, 1, 1, 2, 1), 2, 9, 8, 1);      /* groups 2 */
    conv_case(conv_p(7, 7, 3, 3, 1, 1, 2, 7, 1), 2, 9, 9, 1);      /* depthwise, dilation 2 */
    conv_case(conv_p(3, 6, 5, 5, 3, 2, 1, 3, 1), 2, 13, 12, 1);    /* depthwise x2, stride 3 */
    conv_case(conv_p(5, 3, 3, 3, 2, 0, 1, 1, 0), 2, 7, 7, 1);      /* no bias */
    conv_case(conv_p(5, 3, 1, 1, 2, 0, 1, 1, 1), 2, 6, 5, 1);      /* 1x1 stride 2 */
    conv_case(conv_p(2, 3, 4, 4, 1, 3, 1, 1, 1), 1, 3, 2, 1);      /* kernel larger than the image */
    conv_case(conv_p(16, 24, 3, 3, 1, 1, 1, 1, 1), 2, 15, 15, 1);  /* wider, sampled gradients */
    {
        gc_conv2d_params cp = conv_p(4, 6, 3, 5, 1, 0, 1, 2, 1);   /* unequal stride/pad/dilation per axis */
        cp.stride_w = 2; cp.pad_h = 1; cp.pad_w = 2; cp.dilation_h = 2;
        conv_case(cp, 2, 10, 11, 1);
    }
}

/* Only the requested gradients are written (NULL pointers are skipped). */
TEST(conv2d_backward_partial) {
    lt t;
    gc_layer_params p = {.conv = conv_p(3, 4, 3, 3, 1, 1, 1, 1, 1)};
    CHECK_OK(lt_make(&t, GC_LAYER_CONV2D, p, SH4(2, 3, 6, 5)));
    for (int64_t k = 0; k < t.nout; k++) t.dy[k] = urand(-1, 1);
    lt_forward(&t);
    lt_backward(&t);
    float *full_dw = malloc((size_t)t.np[0] * sizeof(float)), full_db[4];
    memcpy(full_dw, t.dp[0], (size_t)t.np[0] * sizeof(float));
    memcpy(full_db, t.dp[1], sizeof full_db);
    gc_layer_ctx c = lt_ctx(&t, GC_RELU_NORMAL);
    c.dx = NULL;
    c.dparam[0] = NULL;
    for (int k = 0; k < 4; k++) t.dp[1][k] = NAN;
    t.ops->backward(&c);
    CHECK(memcmp(full_db, t.dp[1], sizeof full_db) == 0);
    c.dparam[0] = t.dp[0];
    c.dparam[1] = NULL;
    for (int64_t k = 0; k < t.np[0]; k++) t.dp[0][k] = NAN;
    t.ops->backward(&c);
    CHECK(memcmp(full_dw, t.dp[0], (size_t)t.np[0] * sizeof(float)) == 0);
    free(full_dw);
    lt_free(&t);
}

/* ------------------------------------------------------------------ pooling */

static gc_pool2d_params pool_p(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                               int64_t d, int ceil_mode, int cip) {
    gc_pool2d_params p = {kh, kw, sh, sw, ph, pw, d, d, ceil_mode, cip};
    return p;
}

static void maxpool_case(gc_pool2d_params pp, int64_t N, int64_t C, int64_t H, int64_t W) {
    lt t;
    gc_layer_params p = {.pool = pp};
    gc_status st = lt_make(&t, GC_LAYER_MAXPOOL2D, p, SH4(N, C, H, W));
    if (st) { FAILF("maxpool2d: %s", gc_last_error()); lt_free(&t); return; }
    int64_t OH = ref_pool_out(H, pp.kernel_h, pp.stride_h, pp.pad_h, pp.dilation_h, pp.ceil_mode);
    int64_t OW = ref_pool_out(W, pp.kernel_w, pp.stride_w, pp.pad_w, pp.dilation_w, pp.ceil_mode);
    gc_shape want = SH4(N, C, OH, OW);
    if (!same_shape(&t.out, &want)) {
        FAILF("maxpool2d on %lldx%lld: output %lldx%lld, expected %lldx%lld", (long long)H, (long long)W,
              (long long)t.out.d[2], (long long)t.out.d[3], (long long)OH, (long long)OW);
        lt_free(&t);
        return;
    }
    /* distinct values 0.05 apart, mostly negative so -inf padding differs from zero padding */
    distinct_fill(t.x, t.nin, -0.05f * (float)t.nin + 1.0f, 0.05f);
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_maxpool2d(&pp, N, C, H, W, t.x, ref);
    CHECK(fwd_err(&t, ref) == 0.0);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

TEST(maxpool2d_forward_and_gradients) {
    maxpool_case(pool_p(3, 3, 2, 2, 1, 1, 1, 0, 0), 2, 3, 9, 11);  /* AlexNet-like with padding */
    maxpool_case(pool_p(3, 3, 2, 2, 0, 0, 1, 1, 0), 2, 5, 10, 7);  /* ceil mode overhang */
    maxpool_case(pool_p(2, 2, 2, 2, 0, 0, 1, 1, 0), 2, 3, 7, 7);   /* ceil 7 -> 4 */
    maxpool_case(pool_p(2, 2, 2, 2, 1, 1, 1, 1, 0), 1, 3, 5, 5);   /* ceil: last window dropped */
    maxpool_case(pool_p(3, 3, 1, 1, 1, 1, 2, 0, 0), 2, 3, 9, 8);   /* dilation 2 */
    maxpool_case(pool_p(3, 2, 2, 1, 1, 0, 1, 1, 0), 2, 7, 8, 5);   /* non-square, ceil */
    maxpool_case(pool_p(2, 2, 2, 2, 0, 0, 1, 0, 0), 2, 5, 8, 6);   /* VGG 2x2/2 */
    maxpool_case(pool_p(3, 3, 3, 3, 1, 1, 2, 1, 0), 1, 2, 10, 9);  /* dilation + ceil + pad */
    maxpool_case(pool_p(3, 3, 2, 2, 1, 1, 1, 0, 0), 2, 16, 33, 33); /* threaded path (row kernel) */
    maxpool_case(pool_p(2, 2, 2, 2, 0, 0, 1, 0, 0), 2, 16, 32, 33); /* threaded path, 2x2 */
    maxpool_case(pool_p(15, 17, 2, 2, 7, 7, 1, 0, 0), 1, 3, 20, 21); /* 255 taps: the largest kept as bytes */
    maxpool_case(pool_p(16, 16, 3, 3, 8, 8, 1, 1, 0), 1, 3, 20, 21);  /* 256 taps: plane indices */
    maxpool_case(pool_p(7, 7, 1, 1, 3, 3, 2, 0, 0), 1, 2, 9, 10);     /* dilated taps as bytes */
}

/* Ties: the first maximum in scan order gets the gradient. */
TEST(maxpool2d_ties_first_wins) {
    lt t;
    gc_layer_params p = {.pool = pool_p(2, 2, 2, 2, 0, 0, 1, 0, 0)};
    CHECK_OK(lt_make(&t, GC_LAYER_MAXPOOL2D, p, SH4(1, 1, 2, 4)));
    /* windows: [1 3 / 3 2] -> max 3 at (0,1);  [5 5 / 5 5] -> max 5 at (0,2) */
    float x[8] = {1, 3, 5, 5, 3, 2, 5, 5};
    memcpy(t.x, x, sizeof x);
    lt_forward(&t);
    CHECK(t.y[0] == 3 && t.y[1] == 5);
    t.dy[0] = 10; t.dy[1] = 20;
    lt_backward(&t);
    float want[8] = {0, 10, 20, 0, 0, 0, 0, 0};
    CHECK(memcmp(t.dx, want, sizeof want) == 0);
    lt_free(&t);
}

/* A NaN in the window wins, as in PyTorch; the gradient goes to it. */
TEST(maxpool2d_nan_propagates) {
    lt t;
    gc_layer_params p = {.pool = pool_p(2, 2, 2, 2, 0, 0, 1, 0, 0)};
    CHECK_OK(lt_make(&t, GC_LAYER_MAXPOOL2D, p, SH4(1, 1, 2, 2)));
    float x[4] = {1, 7, NAN, 2};
    memcpy(t.x, x, sizeof x);
    lt_forward(&t);
    CHECK(isnan(t.y[0]));
    t.dy[0] = 3;
    lt_backward(&t);
    CHECK(t.dx[0] == 0 && t.dx[1] == 0 && t.dx[2] == 3 && t.dx[3] == 0);
    lt_free(&t);
}

/* Without its state (a session that never runs the layer's backward), max-pool finds the same
 * bits on every tier as the reference tier's scan with taps: inputs from a few values with
 * ties of +0 and -0, NaNs of other signs and payloads, and infinities, so a kernel that folds
 * the taps in another order, keeps the last of equal zeros or the first NaN shows. Shapes:
 * ResNet's 3x3/2 pad 1 on widths around the 16-window blocks, VGG's 2x2/2, and others. */
static void maxpool_values_case(gc_pool2d_params pp, int64_t N, int64_t C, int64_t H, int64_t W) {
    lt t;
    gc_layer_params p = {.pool = pp};
    gc_status st = lt_make(&t, GC_LAYER_MAXPOOL2D, p, SH4(N, C, H, W));
    if (st) { FAILF("maxpool2d: %s", gc_last_error()); lt_free(&t); return; }
    float *ref = malloc((size_t)t.nout * sizeof(float));
    for (int fill = 0; fill < 3; fill++) {
        if (fill < 2) { /* few values, many ties of zeros; or random values with a few zeros and NaNs */
            const uint32_t nan_bits[4] = {0x7fc00000u, 0xffc00000u, 0x7fc00123u, 0xff800001u};
            for (int64_t k = 0; k < t.nin; k++) {
                const uint32_t r = (uint32_t)(gc_rng_uniform(&rng) * 1000.0);
                float v = r < 300 ? 0.0f : r < 600 ? -0.0f : r < 750 ? -1.0f : r < 850 ? 1.0f : r < 900 ? -INFINITY : 0.5f;
                if (fill == 1) v = r < 10 ? 0.0f : r < 20 ? -0.0f : urand(-1, 1);
                if (r >= 985) memcpy(&v, &nan_bits[r % 4], sizeof v); /* 1.5% NaNs: some windows, not most */
                t.x[k] = v;
            }
        } else /* rising values: every window's maximum is its last tap inside, the bottom right */
            distinct_fill(t.x, t.nin, -0.05f * (float)t.nin + 1.0f, 0.05f);
        gc_layer_ctx c = lt_ctx(&t, GC_RELU_NORMAL);
        c.kernels = GC_KERNELS_REFERENCE;
        t.ops->forward(&c);
        memcpy(ref, t.y, (size_t)t.nout * sizeof(float));
        static const gc_kernels tiers[] = {GC_KERNELS_REFERENCE, GC_KERNELS_PORTABLE, GC_KERNELS_AVX2, GC_KERNELS_AVX512};
        for (int k = 0; k < 4; k++)
            for (int stated = 0; stated < 2; stated++) {
                for (int64_t e = 0; e < t.nout; e++) t.y[e] = 42.0f;
                c = lt_ctx(&t, GC_RELU_NORMAL);
                c.kernels = tiers[k];
                if (!stated) c.state = NULL;
                t.ops->forward(&c);
                if (memcmp(ref, t.y, (size_t)t.nout * sizeof(float)) != 0)
                    FAILF("maxpool2d %lldx%lld/%lld pad %lld on %lldx%lld, tier %d %s: other bits than the reference",
                          (long long)pp.kernel_h, (long long)pp.kernel_w, (long long)pp.stride_w, (long long)pp.pad_w,
                          (long long)H, (long long)W, (int)tiers[k], stated ? "with taps" : "without state");
            }
    }
    free(ref);
    lt_free(&t);
}

TEST(maxpool2d_values_only_same_bits) {
    for (int64_t w = 1; w <= 40; w++) {
        maxpool_values_case(pool_p(3, 3, 2, 2, 1, 1, 1, 0, 0), 1, 2, 5 + w % 4, w);      /* ResNet's */
        maxpool_values_case(pool_p(3, 3, 2, 2, 0, 0, 1, w % 2, 0), 1, 2, 4 + w % 3, w + 2); /* AlexNet's */
        maxpool_values_case(pool_p(2, 2, 2, 2, w % 2, w % 2, 1, 0, 0), 1, 2, 2 + w % 5, w + 1); /* VGG's */
    }
    for (int64_t w = 62; w <= 98; w += 3) /* 2x2 on rows of 32 outputs or more (the values kernel) */
        maxpool_values_case(pool_p(2, 2, 2, 2, w % 2, w % 2, 1, w % 3 == 0, 0), 1, 2, 3 + w % 4, w);
    maxpool_values_case(pool_p(3, 3, 2, 2, 1, 1, 1, 0, 0), 2, 5, 112, 112);   /* ResNet-50's plane */
    maxpool_values_case(pool_p(3, 3, 2, 2, 1, 1, 1, 1, 0), 1, 2, 5, 531);     /* long rows, ceil */
    maxpool_values_case(pool_p(3, 3, 2, 2, 0, 0, 1, 0, 0), 1, 2, 5, 530);
    maxpool_values_case(pool_p(3, 2, 2, 1, 1, 0, 1, 1, 0), 2, 7, 8, 5);       /* non-square, ceil */
    maxpool_values_case(pool_p(3, 3, 1, 2, 1, 1, 1, 0, 0), 1, 3, 9, 37);      /* stride 1x2 */
    maxpool_values_case(pool_p(3, 3, 3, 2, 1, 1, 1, 1, 0), 1, 3, 10, 35);     /* stride 3x2, ceil */
    maxpool_values_case(pool_p(3, 3, 3, 3, 1, 1, 2, 1, 0), 1, 2, 10, 9);      /* dilation + ceil + pad */
    maxpool_values_case(pool_p(17, 3, 2, 2, 8, 1, 1, 0, 0), 1, 2, 40, 41);    /* 17 window rows: two calls */
    maxpool_values_case(pool_p(16, 16, 3, 3, 8, 8, 1, 1, 0), 1, 3, 20, 21);   /* 256 taps */
}

static void avgpool_case(gc_pool2d_params pp, int64_t N, int64_t C, int64_t H, int64_t W) {
    lt t;
    gc_layer_params p = {.pool = pp};
    gc_status st = lt_make(&t, GC_LAYER_AVGPOOL2D, p, SH4(N, C, H, W));
    if (st) { FAILF("avgpool2d: %s", gc_last_error()); lt_free(&t); return; }
    int64_t OH = ref_pool_out(H, pp.kernel_h, pp.stride_h, pp.pad_h, 1, pp.ceil_mode);
    int64_t OW = ref_pool_out(W, pp.kernel_w, pp.stride_w, pp.pad_w, 1, pp.ceil_mode);
    gc_shape want = SH4(N, C, OH, OW);
    if (!same_shape(&t.out, &want)) {
        FAILF("avgpool2d on %lldx%lld: output %lldx%lld, expected %lldx%lld", (long long)H, (long long)W,
              (long long)t.out.d[2], (long long)t.out.d[3], (long long)OH, (long long)OW);
        lt_free(&t);
        return;
    }
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_avgpool2d(&pp, N, C, H, W, t.x, ref);
    double e = fwd_err(&t, ref);
    if (!(e < 1e-6)) FAILF("avgpool2d k%lld s%lld p%lld ceil %d cip %d: forward error %g", (long long)pp.kernel_h,
                           (long long)pp.stride_h, (long long)pp.pad_h, pp.ceil_mode, pp.count_include_pad, e);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

TEST(avgpool2d_forward_and_gradients) {
    for (int cip = 0; cip < 2; cip++) {
        avgpool_case(pool_p(3, 3, 2, 2, 1, 1, 1, 0, cip), 2, 3, 9, 11);
        avgpool_case(pool_p(3, 3, 2, 2, 1, 1, 1, 1, cip), 2, 3, 8, 8);   /* ceil: window past H + pad */
        avgpool_case(pool_p(2, 2, 3, 3, 0, 0, 1, 1, cip), 2, 5, 7, 7);   /* stride > kernel, ceil */
        avgpool_case(pool_p(3, 2, 2, 1, 1, 1, 1, 1, cip), 2, 7, 6, 5);   /* non-square */
        avgpool_case(pool_p(2, 2, 2, 2, 1, 1, 1, 1, cip), 1, 3, 5, 5);   /* ceil: last window dropped */
        avgpool_case(pool_p(5, 5, 2, 2, 2, 2, 1, 1, cip), 1, 2, 6, 7);
        avgpool_case(pool_p(3, 3, 2, 2, 1, 1, 1, 0, cip), 2, 16, 33, 33); /* threaded path */
    }
}

/* A hand-worked case: 1x1x3x3 input 1..9, kernel 2, stride 2, ceil mode, padding 1. */
TEST(avgpool2d_divisor_by_hand) {
    for (int cip = 0; cip < 2; cip++) {
        lt t;
        gc_layer_params p = {.pool = pool_p(2, 2, 2, 2, 1, 1, 1, 1, cip)};
        CHECK_OK(lt_make(&t, GC_LAYER_AVGPOOL2D, p, SH4(1, 1, 3, 3)));
        /* out = ceil((3 + 2 - 2) / 2) + 1 = 3, last start 2*2 = 4 >= 3 + 1 -> 2 outputs per axis.
         * windows rows {-1,0}, {1,2}; every window holds 4 cells of the padded grid. */
        CHECK(t.out.d[2] == 2 && t.out.d[3] == 2);
        for (int k = 0; k < 9; k++) t.x[k] = (float)(k + 1);
        lt_forward(&t);
        /* real cells: {1}, {2,3}, {4,7}, {5,6,8,9} */
        float inc[4] = {1 / 4.f, 5 / 4.f, 11 / 4.f, 28 / 4.f}, exc[4] = {1, 5 / 2.f, 11 / 2.f, 7};
        for (int k = 0; k < 4; k++) CHECK_NEAR(t.y[k], cip ? inc[k] : exc[k], 1e-6);
        lt_free(&t);
    }
}

static void apool_case(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    lt t;
    gc_layer_params p = {.apool = {OH, OW}};
    gc_status st = lt_make(&t, GC_LAYER_ADAPTIVE_AVGPOOL2D, p, SH4(N, C, H, W));
    if (st) { FAILF("adaptive_avgpool2d: %s", gc_last_error()); lt_free(&t); return; }
    gc_shape want = SH4(N, C, OH, OW);
    CHECK(same_shape(&t.out, &want));
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_adaptive_avgpool2d(N, C, H, W, OH, OW, t.x, ref);
    double e = fwd_err(&t, ref);
    if (!(e < 1e-6)) FAILF("adaptive %lldx%lld -> %lldx%lld: forward error %g", (long long)H, (long long)W,
                           (long long)OH, (long long)OW, e);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

/* Windows of one cell (avgpool 1x1/1, adaptive pooling to the input's size) give what the
 * summing loops give, bit for bit: (float)((0.0 + x) / 1.0), so -0 becomes +0; dx likewise. */
TEST(pool_one_cell_windows) {
    for (int kind = 0; kind < 2; kind++) {
        lt t;
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        if (kind == 0) p.pool = pool_p(1, 1, 1, 1, 0, 0, 1, kind, 0);
        else p.apool = (gc_adaptive_pool2d_params){5, 7};
        CHECK_OK(lt_make(&t, kind ? GC_LAYER_ADAPTIVE_AVGPOOL2D : GC_LAYER_AVGPOOL2D, p, SH4(2, 3, 5, 7)));
        const float special[] = {-0.0f, 0.0f, NAN, -INFINITY, 1e-40f, -1e-40f, 3.25f, -7.5f};
        for (int64_t k = 0; k < t.nin; k++) t.x[k] = special[k % 8];
        for (int64_t k = 0; k < t.nout; k++) t.dy[k] = special[(k + 3) % 8];
        lt_forward(&t);
        lt_backward(&t);
        int bad = 0;
        for (int64_t k = 0; k < t.nin; k++) {
            const float y = (float)((0.0 + (double)t.x[k]) / 1.0), d = 0.0f + (float)((double)t.dy[k] / 1.0);
            bad += memcmp(&y, &t.y[k], 4) != 0 || memcmp(&d, &t.dx[k], 4) != 0;
        }
        if (bad) FAILF("%s: %d of %lld elements differ from the summing loops' bits", kind ? "adaptive" : "avgpool 1x1",
                       bad, (long long)t.nin);
        lt_free(&t);
    }
}

TEST(adaptive_avgpool2d_forward_and_gradients) {
    apool_case(2, 3, 7, 7, 3, 3);
    apool_case(2, 3, 5, 5, 7, 7);
    apool_case(2, 5, 9, 6, 4, 5);
    apool_case(1, 3, 8, 8, 1, 1);
    apool_case(2, 2, 6, 7, 6, 7);
    apool_case(1, 2, 13, 10, 7, 7);
    apool_case(2, 16, 48, 48, 1, 1); /* threaded paths: global pooling and windows */
    apool_case(2, 16, 33, 33, 7, 7);
}

/* Global pooling's backward: every dx element is 0 + dy / (H W) rounded to float, the bits of
 * the windowed loop (-0 gives +0), on planes of odd sizes and over the threads. */
TEST(adaptive_avgpool2d_global_backward_bits) {
    const int64_t hw[][2] = {{1, 1}, {7, 7}, {13, 10}, {3, 17}, {56, 56}};
    for (size_t s = 0; s < sizeof hw / sizeof *hw; s++) {
        lt t;
        gc_layer_params p = {.apool = {1, 1}};
        CHECK_OK(lt_make(&t, GC_LAYER_ADAPTIVE_AVGPOOL2D, p, SH4(2, 5, hw[s][0], hw[s][1])));
        for (int64_t k = 0; k < t.nout; k++) t.dy[k] = k % 4 == 1 ? -0.0f : urand(-3, 3);
        lt_forward(&t);
        lt_backward(&t);
        int bad = 0;
        for (int64_t k = 0; k < t.nin; k++) {
            const float want = 0.0f + (float)(t.dy[k / (hw[s][0] * hw[s][1])] / ((double)hw[s][0] * hw[s][1]));
            bad += memcmp(&want, &t.dx[k], sizeof want) != 0;
        }
        if (bad) FAILF("global pooling backward on %lldx%lld: %d elements differ", (long long)hw[s][0], (long long)hw[s][1], bad);
        lt_free(&t);
    }
}

/* 7 -> 3: windows [0,3) [2,5) [4,7), overlapping at 2 and 4. */
TEST(adaptive_avgpool2d_windows_by_hand) {
    lt t;
    gc_layer_params p = {.apool = {1, 3}};
    CHECK_OK(lt_make(&t, GC_LAYER_ADAPTIVE_AVGPOOL2D, p, SH4(1, 1, 1, 7)));
    for (int k = 0; k < 7; k++) t.x[k] = (float)k;
    lt_forward(&t);
    CHECK_NEAR(t.y[0], 1.0, 1e-6);
    CHECK_NEAR(t.y[1], 3.0, 1e-6);
    CHECK_NEAR(t.y[2], 5.0, 1e-6);
    lt_free(&t);
}

/* ------------------------------------------------------------------ linear, dropout, flatten */

static void linear_case(int64_t N, int64_t I, int64_t O, int bias) {
    lt t;
    gc_layer_params p = {.linear = {I, O, bias}};
    gc_status st = lt_make(&t, GC_LAYER_LINEAR, p, SH2(N, I));
    if (st) { FAILF("linear: %s", gc_last_error()); lt_free(&t); return; }
    gc_shape want = SH2(N, O);
    CHECK(same_shape(&t.out, &want));
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_linear(N, I, O, t.x, t.l.param[0], bias ? t.l.param[1] : NULL, ref);
    CHECK(fwd_err(&t, ref) < 1e-6);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

TEST(linear_forward_and_gradients) {
    linear_case(2, 13, 7, 1);
    linear_case(3, 5, 11, 0);
    linear_case(1, 600, 9, 1);  /* more than one dx column block */
    linear_case(2, 1, 1, 1);
}

TEST(dropout_and_flatten_are_copies) {
    lt t;
    gc_layer_params p = {.dropout_p = 0.5f};
    CHECK_OK(lt_make(&t, GC_LAYER_DROPOUT, p, SH4(2, 3, 4, 5)));
    CHECK(same_shape(&t.out, &t.in));
    lt_forward(&t);
    CHECK(memcmp(t.x, t.y, (size_t)t.nin * sizeof(float)) == 0);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);

    gc_shape ins[3] = {SH4(2, 3, 4, 5), SH3(2, 6, 7), SH2(3, 8)};
    int64_t feats[3] = {60, 42, 8};
    for (int i = 0; i < 3; i++) {
        memset(&p, 0, sizeof p);
        CHECK_OK(lt_make(&t, GC_LAYER_FLATTEN, p, ins[i]));
        gc_shape want = SH2(ins[i].d[0], feats[i]);
        CHECK(same_shape(&t.out, &want));
        lt_forward(&t);
        CHECK(memcmp(t.x, t.y, (size_t)t.nin * sizeof(float)) == 0);
        CHECK_GRADS(&t, 1e-2f);
        lt_free(&t);
    }
}

/* ------------------------------------------------------------------ softmax, LRN, batch-norm */

TEST(softmax_forward_and_gradients) {
    gc_shape ins[4] = {SH2(2, 7), SH4(2, 5, 3, 3), SH3(2, 5, 4), SH4(2, 8, 40, 40) /* threaded path */};
    for (int i = 0; i < 4; i++) {
        lt t;
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        CHECK_OK(lt_make(&t, GC_LAYER_SOFTMAX, p, ins[i]));
        CHECK(same_shape(&t.out, &ins[i]));
        for (int64_t k = 0; k < t.nin; k++) t.x[k] = urand(-2, 2);
        int64_t S = t.nin / (ins[i].d[0] * ins[i].d[1]);
        float *ref = malloc((size_t)t.nout * sizeof(float));
        ref_softmax(ins[i].d[0], ins[i].d[1], S, t.x, ref);
        CHECK(fwd_err(&t, ref) < 1e-6);
        free(ref);
        CHECK_GRADS(&t, 1e-2f);
        lt_free(&t);
    }
}

/* Large logits: subtracting the max keeps it finite. */
TEST(softmax_is_stable) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    CHECK_OK(lt_make(&t, GC_LAYER_SOFTMAX, p, SH2(1, 3)));
    t.x[0] = 1000; t.x[1] = 1000; t.x[2] = -1000;
    lt_forward(&t);
    CHECK_NEAR(t.y[0], 0.5, 1e-7);
    CHECK_NEAR(t.y[1], 0.5, 1e-7);
    CHECK(t.y[2] == 0.0f);
    lt_free(&t);
}

static void lrn_case(gc_lrn_params lp, gc_shape in) {
    lt t;
    gc_layer_params p = {.lrn = lp};
    gc_status st = lt_make(&t, GC_LAYER_LRN, p, in);
    if (st) { FAILF("lrn: %s", gc_last_error()); lt_free(&t); return; }
    CHECK(same_shape(&t.out, &in));
    for (int64_t k = 0; k < t.nin; k++) t.x[k] = urand(-2, 2);
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_lrn(&lp, in.d[0], in.d[1], t.nin / (in.d[0] * in.d[1]), t.x, ref);
    double e = fwd_err(&t, ref);
    if (!(e < 1e-6)) FAILF("lrn size %lld: forward error %g", (long long)lp.size, e);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

TEST(lrn_forward_and_gradients) {
    lrn_case((gc_lrn_params){5, 0.5f, 0.75f, 2.0f}, SH4(2, 7, 3, 4));
    lrn_case((gc_lrn_params){4, 1.0f, 0.75f, 1.0f}, SH4(2, 5, 3, 3)); /* even size */
    lrn_case((gc_lrn_params){3, 0.3f, 0.5f, 1.5f}, SH3(2, 6, 5));
    lrn_case((gc_lrn_params){9, 0.8f, 1.2f, 1.0f}, SH4(1, 5, 2, 3)); /* window wider than C */
    lrn_case((gc_lrn_params){1, 0.4f, 0.75f, 1.0f}, SH4(2, 3, 2, 2));
    lrn_case((gc_lrn_params){5, 1e-4f, 0.75f, 2.0f}, SH4(1, 8, 3, 3)); /* AlexNet constants */
    lrn_case((gc_lrn_params){5, 0.5f, 0.75f, 2.0f}, SH4(2, 16, 24, 24)); /* threaded path */
}

/* size 2, alpha 2, beta 1, k 1, channels (1, 2, 3) at one pixel:
 * window of c is {c-1, c}: s = 1 + (sum of squares) -> 2, 6, 14; y = x / s. */
TEST(lrn_by_hand) {
    lt t;
    gc_layer_params p = {.lrn = {2, 2.0f, 1.0f, 1.0f}};
    CHECK_OK(lt_make(&t, GC_LAYER_LRN, p, SH4(1, 3, 1, 1)));
    t.x[0] = 1; t.x[1] = 2; t.x[2] = 3;
    lt_forward(&t);
    CHECK_NEAR(t.y[0], 1.0 / 2, 1e-7);
    CHECK_NEAR(t.y[1], 2.0 / 6, 1e-7);
    CHECK_NEAR(t.y[2], 3.0 / 14, 1e-7);
    lt_free(&t);
}

TEST(batchnorm2d_forward_and_gradients) {
    const gc_shape ins[2] = {SH4(2, 5, 4, 3), SH4(2, 32, 32, 32) /* threaded path */};
    for (int i = 0; i < 2; i++) {
        lt t;
        const int64_t C = ins[i].d[1];
        gc_layer_params p = {.bn = {C, 1e-5f}};
        CHECK_OK(lt_make(&t, GC_LAYER_BATCHNORM2D, p, ins[i]));
        CHECK(same_shape(&t.out, &t.in));
        float *ref = malloc((size_t)t.nout * sizeof(float));
        ref_batchnorm2d(ins[i].d[0], C, ins[i].d[2] * ins[i].d[3], 1e-5f, t.l.param[0], t.l.param[1], t.l.param[2],
                        t.l.param[3], t.x, ref);
        CHECK(fwd_err(&t, ref) < 1e-6);
        free(ref);
        CHECK_GRADS(&t, 1e-2f);
        lt_free(&t);
    }
}

/* ------------------------------------------------------------------ ReLU */

TEST(relu_rules_by_hand) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    CHECK_OK(lt_make(&t, GC_LAYER_RELU, p, SH4(1, 1, 2, 3)));
    float x[6] = {-1, 2, 3, -4, 0, 5}, dy[6] = {1, -2, 3, 4, 5, 0};
    memcpy(t.x, x, sizeof x);
    memcpy(t.dy, dy, sizeof dy);
    lt_forward(&t);
    float y[6] = {0, 2, 3, 0, 0, 5};
    CHECK(memcmp(t.y, y, sizeof y) == 0);
    /* normal: dy where x > 0; guided: also dy > 0; deconvnet: dy where dy > 0 */
    float want[3][6] = {{0, -2, 3, 0, 0, 0}, {0, 0, 3, 0, 0, 0}, {1, 0, 3, 4, 5, 0}};
    gc_relu_mode modes[3] = {GC_RELU_NORMAL, GC_RELU_GUIDED, GC_RELU_DECONVNET};
    for (int m = 0; m < 3; m++) {
        for (int k = 0; k < 6; k++) t.dx[k] = NAN;
        gc_layer_ctx c = lt_ctx(&t, modes[m]);
        t.ops->backward(&c);
        for (int k = 0; k < 6; k++)
            if (t.dx[k] != want[m][k]) FAILF("mode %d dx[%d] = %g, want %g", m, k, t.dx[k], want[m][k]);
    }
    lt_free(&t);
}

TEST(relu_gradient) {
    const gc_shape ins[2] = {SH4(2, 3, 4, 5), SH4(2, 16, 47, 47) /* threaded path, a partial last mask word */};
    for (int i = 0; i < 2; i++) {
        lt t;
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        CHECK_OK(lt_make(&t, GC_LAYER_RELU, p, ins[i]));
        for (int64_t k = 0; k < t.nin; k++) t.x[k] = (k % 2 ? 1.0f : -1.0f) * urand(0.05f, 1.0f); /* |x| > 2 eps */
        lt_forward(&t);
        for (int64_t k = 0; k < t.nin; k++)
            if (t.y[k] != (t.x[k] > 0 ? t.x[k] : 0.0f)) {
                FAILF("relu of %lld: y[%lld] = %g for x %g", (long long)t.nin, (long long)k, t.y[k], t.x[k]);
                break;
            }
        CHECK_GRADS(&t, 1e-2f);
        lt_free(&t);
    }
}

/* ------------------------------------------------------------------ add, mul (broadcasting) */

static int same_dims(const gc_shape *s, int nd, const int64_t *d) {
    if (s->ndim != nd) return 0;
    for (int i = 0; i < nd; i++)
        if (s->d[i] != d[i]) return 0;
    return 1;
}

/* Backward with only input k's gradient asked for (the other dxs entry NULL) writes the same
 * bits as the full backward and touches nothing else. */
static void check_partial_grads(lt *t) {
    for (int64_t e = 0; e < t->nout; e++) t->dy[e] = urand(-1, 1);
    lt_forward(t);
    lt_backward(t);
    float *full[LT_MAX_IN];
    for (int k = 0; k < t->n_in; k++) {
        full[k] = malloc((size_t)t->nins[k] * sizeof(float));
        memcpy(full[k], t->dxs[k], (size_t)t->nins[k] * sizeof(float));
    }
    for (int k = 0; k < t->n_in; k++) {
        float *only[LT_MAX_IN] = {NULL};
        only[k] = t->dxs[k];
        for (int j = 0; j < t->n_in; j++)
            for (int64_t e = 0; e < t->nins[j]; e++) t->dxs[j][e] = NAN;
        gc_layer_ctx c = lt_ctx(t, GC_RELU_NORMAL);
        c.dxs = only;
        c.dx = only[0];
        t->ops->backward(&c);
        if (memcmp(full[k], t->dxs[k], (size_t)t->nins[k] * sizeof(float)) != 0)
            FAILF("%s: gradient of input %d alone differs from the full backward", t->ops->name, k);
        for (int j = 0; j < t->n_in; j++)
            if (j != k && !isnan(t->dxs[j][0])) FAILF("%s: gradient of input %d written, not asked for", t->ops->name, j);
    }
    for (int k = 0; k < t->n_in; k++) free(full[k]);
}

static void binary_case(gc_layer_kind kind, gc_shape a, gc_shape b) {
    const char *what = gc_layer_kind_name(kind);
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    gc_shape ins[2] = {a, b};
    char sa[64], sb[64];
    gc_shape_format(sa, sizeof sa, &a);
    gc_shape_format(sb, sizeof sb, &b);
    gc_status st = lt_make_n(&t, kind, p, 2, ins);
    if (st) { FAILF("%s %s, %s: %s", what, sa, sb, gc_last_error()); lt_free(&t); return; }
    int64_t want[8];
    int nd = ref_broadcast_shape(a.ndim, a.d, b.ndim, b.d, want);
    if (!same_dims(&t.out, nd, want)) {
        FAILF("%s %s, %s: wrong output shape", what, sa, sb);
        lt_free(&t);
        return;
    }
    if (kind == GC_LAYER_DIV) /* divisors in +-[0.5, 1.5]: finite differences stay sharp */
        for (int64_t e = 0; e < t.nins[1]; e++) t.xs[1][e] = (e % 2 ? -1.0f : 1.0f) * urand(0.5f, 1.5f);
    /* one rounding of an exact sum, difference or product of two floats, or of their quotient
     * (double's 53 bits make its rounding to float innocuous): the same bits as the reference */
    const int op = kind == GC_LAYER_MUL ? REF_MUL : kind == GC_LAYER_SUB ? REF_SUB : kind == GC_LAYER_DIV ? REF_DIV : REF_ADD;
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_binary(op, a.ndim, a.d, t.xs[0], b.ndim, b.d, t.xs[1], ref);
    lt_forward(&t);
    if (memcmp(t.y, ref, (size_t)t.nout * sizeof(float)) != 0) FAILF("%s %s, %s: forward differs", what, sa, sb);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    check_partial_grads(&t);
    lt_free(&t);
}

TEST(binary_broadcast_forward_and_gradients) {
    const gc_layer_kind kinds[4] = {GC_LAYER_ADD, GC_LAYER_MUL, GC_LAYER_SUB, GC_LAYER_DIV};
    const gc_shape v6 = {1, {6, 1, 1, 1}}, v5 = {1, {5, 1, 1, 1}};
    const gc_shape pairs[][2] = {
        {SH4(2, 3, 5, 7), SH4(2, 3, 5, 7)},     /* same shape */
        {SH4(2, 3, 5, 7), SH4(2, 3, 1, 1)},     /* squeeze-excitation gate */
        {SH4(2, 3, 1, 1), SH4(2, 3, 5, 7)},     /* the gate first */
        {SH4(2, 3, 5, 7), SH3(3, 1, 1)},        /* fewer dimensions: per-channel */
        {SH4(1, 3, 1, 7), SH4(2, 1, 5, 1)},     /* both broadcast */
        {SH4(2, 1, 5, 1), SH4(1, 3, 1, 7)},
        {SH4(2, 3, 5, 7), SH4(1, 1, 1, 1)},     /* a scalar tensor */
        {SH2(4, 6), SH2(1, 6)},                 /* 2-D */
        {SH2(4, 1), SH2(1, 6)},
        {SH2(4, 6), v6},                        /* 2-D with 1-D */
        {v5, SH2(3, 1)},                        /* 1-D with 2-D: (3, 5) */
        {v6, SH2(1, 6)},                        /* nothing broadcast, ranks differ */
        {SH4(2, 16, 48, 48), SH4(2, 16, 48, 48)}, /* large enough for the threaded paths */
        {SH4(2, 16, 48, 48), SH4(2, 16, 1, 1)},
        {SH4(2, 1, 48, 1), SH4(1, 16, 1, 48)},
    };
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) binary_case(kinds[k], pairs[i][0], pairs[i][1]);
}

/* The joins' input gradients against sums in long double over the broadcast index space, in
 * index order: an input of the output's shape gets its one term with the bits of the double
 * formula rounded to float (the float operation: double's rounding is innocuous); a broadcast
 * one, the sum of its terms, within 1e-12 of the sum of their magnitudes plus half an ulp of
 * float (double sums in another order, then rounded once). */
static void binary_grad_case(gc_layer_kind kind, gc_shape a, gc_shape b) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    gc_shape ins[2] = {a, b};
    if (lt_make_n(&t, kind, p, 2, ins)) { FAILF("%s: %s", gc_layer_kind_name(kind), gc_last_error()); lt_free(&t); return; }
    if (kind == GC_LAYER_DIV)
        for (int64_t e = 0; e < t.nins[1]; e++) t.xs[1][e] = (e % 2 ? -1.0f : 1.0f) * urand(0.5f, 1.5f);
    for (int64_t e = 0; e < t.nout; e++) t.dy[e] = e % 13 == 5 ? -0.0f : urand(-1, 1);
    lt_forward(&t);
    lt_backward(&t);
    int64_t o[4], d[2][4], st[2][4];
    for (int q = 0; q < 4; q++) o[q] = q < 4 - t.out.ndim ? 1 : t.out.d[q - (4 - t.out.ndim)];
    for (int k = 0; k < 2; k++) {
        int64_t s1 = 1;
        for (int q = 3; q >= 0; q--) {
            d[k][q] = q < 4 - ins[k].ndim ? 1 : ins[k].d[q - (4 - ins[k].ndim)];
            st[k][q] = d[k][q] == 1 ? 0 : s1;
            s1 *= d[k][q];
        }
    }
    for (int k = 0; k < 2; k++) {
        long double *sum = calloc((size_t)t.nins[k], sizeof *sum), *mag = calloc((size_t)t.nins[k], sizeof *mag);
        int64_t *cnt = calloc((size_t)t.nins[k], sizeof *cnt);
        double *one = calloc((size_t)t.nins[k], sizeof *one);
        int64_t e = 0;
        for (int64_t i0 = 0; i0 < o[0]; i0++)
            for (int64_t i1 = 0; i1 < o[1]; i1++)
                for (int64_t i2 = 0; i2 < o[2]; i2++)
                    for (int64_t i3 = 0; i3 < o[3]; i3++, e++) {
                        const int64_t ia = i0 * st[0][0] + i1 * st[0][1] + i2 * st[0][2] + i3 * st[0][3];
                        const int64_t ib = i0 * st[1][0] + i1 * st[1][1] + i2 * st[1][2] + i3 * st[1][3];
                        const double g = t.dy[e], av = t.xs[0][ia], bv = t.xs[1][ib];
                        double term = g; /* add; sub's first input */
                        if (kind == GC_LAYER_SUB && k == 1) term = -g;
                        if (kind == GC_LAYER_MUL) term = k ? g * av : g * bv;
                        if (kind == GC_LAYER_DIV) term = k ? -g * av / (bv * bv) : g / bv;
                        const int64_t ik = k ? ib : ia;
                        sum[ik] += term, mag[ik] += fabs(term), cnt[ik]++, one[ik] = term;
                    }
        for (int64_t i = 0; i < t.nins[k]; i++) {
            const float got = t.dxs[k][i];
            if (cnt[i] == 1) {
                const float want = (float)one[i];
                if (memcmp(&got, &want, sizeof got))
                    FAILF("%s input %d element %lld: %.9g, not the formula's %.9g", gc_layer_kind_name(kind), k,
                          (long long)i, got, want);
                continue;
            }
            const float w = (float)sum[i];
            const double tol = 1e-12 * (double)mag[i] + 0.5 * ((double)nextafterf(fabsf(w), INFINITY) - fabsf(w));
            if (!(fabs((double)got - (double)sum[i]) <= tol))
                FAILF("%s input %d element %lld (%lld terms): %.9g, sum %.12Lg", gc_layer_kind_name(kind), k,
                      (long long)i, (long long)cnt[i], got, sum[i]);
        }
        free(sum); free(mag); free(cnt); free(one);
    }
    lt_free(&t);
}

TEST(binary_gradients_exact) {
    const gc_layer_kind kinds[4] = {GC_LAYER_ADD, GC_LAYER_MUL, GC_LAYER_SUB, GC_LAYER_DIV};
    const gc_shape pairs[][2] = {
        {SH4(2, 3, 5, 7), SH4(2, 3, 5, 7)},   {SH4(2, 3, 5, 7), SH4(2, 3, 1, 1)}, {SH4(2, 3, 1, 1), SH4(2, 3, 5, 7)},
        {SH4(2, 3, 5, 7), SH3(3, 1, 1)},      {SH4(1, 3, 1, 7), SH4(2, 1, 5, 1)}, {SH4(2, 3, 5, 7), SH4(1, 1, 1, 1)},
        {SH4(2, 3, 5, 7), SH4(2, 3, 5, 1)},   {SH4(2, 3, 5, 7), SH4(1, 3, 5, 7)}, {SH4(2, 5, 3, 3), SH4(2, 5, 1, 3)},
        {SH4(1, 4, 67, 67), SH4(1, 4, 1, 1)}, {SH2(4, 6), SH2(1, 6)},             {SH2(4, 1), SH2(1, 6)},
        {SH4(2, 16, 48, 48), SH4(2, 16, 1, 1)}};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            binary_grad_case(kinds[k], pairs[i][0], pairs[i][1]);
            binary_grad_case(kinds[k], pairs[i][1], pairs[i][0]);
        }
}

/* A hand-worked broadcast: a (2, 1) = [[1], [2]], b (3) = [10, 20, 30]. */
TEST(add_mul_by_hand) {
    for (int k = 0; k < 2; k++) {
        lt t;
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        gc_shape ins[2] = {SH2(2, 1), {1, {3, 1, 1, 1}}};
        CHECK_OK(lt_make_n(&t, k ? GC_LAYER_MUL : GC_LAYER_ADD, p, 2, ins));
        gc_shape want = SH2(2, 3);
        CHECK(same_shape(&t.out, &want));
        t.xs[0][0] = 1; t.xs[0][1] = 2;
        t.xs[1][0] = 10; t.xs[1][1] = 20; t.xs[1][2] = 30;
        lt_forward(&t);
        const float sum[6] = {11, 21, 31, 12, 22, 32}, prod[6] = {10, 20, 30, 20, 40, 60};
        CHECK(memcmp(t.y, k ? prod : sum, sizeof sum) == 0);
        /* dy = [[1, 2, 3], [4, 5, 6]]: add: da = row sums (6, 15), db = column sums (5, 7, 9);
         * mul: da = sum_j dy b_j = (140, 320), db = sum_i dy a_i = (9, 12, 15) */
        for (int e = 0; e < 6; e++) t.dy[e] = (float)(e + 1);
        lt_backward(&t);
        const float da[2][2] = {{6, 15}, {140, 320}}, db[2][3] = {{5, 7, 9}, {9, 12, 15}};
        CHECK(memcmp(t.dxs[0], da[k], sizeof da[k]) == 0);
        CHECK(memcmp(t.dxs[1], db[k], sizeof db[k]) == 0);
        lt_free(&t);
    }
}

/* The same broadcast for sub and div: a (2, 1) = [[1], [2]], b (3) = [10, 20, 30],
 * dy = [[1, 2, 3], [4, 5, 6]]. sub: da = row sums (6, 15), db = -column sums (-5, -7, -9);
 * div: da_i = sum_j dy_ij / b_j = (0.3, 0.85), db_j = -sum_i dy_ij a_i / b_j^2
 * = (-9/100, -12/400, -15/900). */
TEST(sub_div_by_hand) {
    for (int k = 0; k < 2; k++) {
        lt t;
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        gc_shape ins[2] = {SH2(2, 1), {1, {3, 1, 1, 1}}};
        CHECK_OK(lt_make_n(&t, k ? GC_LAYER_DIV : GC_LAYER_SUB, p, 2, ins));
        gc_shape want = SH2(2, 3);
        CHECK(same_shape(&t.out, &want));
        t.xs[0][0] = 1; t.xs[0][1] = 2;
        t.xs[1][0] = 10; t.xs[1][1] = 20; t.xs[1][2] = 30;
        lt_forward(&t);
        const double diff[6] = {-9, -19, -29, -8, -18, -28}, quot[6] = {0.1, 0.05, 1 / 30.0, 0.2, 0.1, 1 / 15.0};
        for (int e = 0; e < 6; e++) CHECK_NEAR(t.y[e], k ? quot[e] : diff[e], 1e-7);
        for (int e = 0; e < 6; e++) t.dy[e] = (float)(e + 1);
        lt_backward(&t);
        const double da[2][2] = {{6, 15}, {0.3, 0.85}}, db[2][3] = {{-5, -7, -9}, {-0.09, -0.03, -1 / 60.0}};
        for (int e = 0; e < 2; e++) CHECK_NEAR(t.dxs[0][e], da[k][e], 1e-6);
        for (int e = 0; e < 3; e++) CHECK_NEAR(t.dxs[1][e], db[k][e], 1e-7);
        lt_free(&t);
    }
}

/* Dividing by zero is IEEE division, not an error: +-inf and NaN, forward and backward. */
TEST(div_by_zero_gives_inf_and_nan) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    gc_shape ins[2] = {SH2(1, 3), SH2(1, 3)};
    CHECK_OK(lt_make_n(&t, GC_LAYER_DIV, p, 2, ins));
    const float a[3] = {1, -2, 0};
    memcpy(t.xs[0], a, sizeof a);
    for (int e = 0; e < 3; e++) t.xs[1][e] = 0.0f, t.dy[e] = 1.0f;
    lt_forward(&t);
    CHECK(isinf(t.y[0]) && t.y[0] > 0 && isinf(t.y[1]) && t.y[1] < 0 && isnan(t.y[2]));
    lt_backward(&t);
    CHECK(isinf(t.dxs[0][0]) && isinf(t.dxs[0][1]) && isinf(t.dxs[0][2]));   /* dy / 0 */
    CHECK(isinf(t.dxs[1][0]) && t.dxs[1][0] < 0 && isinf(t.dxs[1][1]) && t.dxs[1][1] > 0 && isnan(t.dxs[1][2]));
    lt_free(&t);
}

/* ------------------------------------------------------------------ concat */

static void concat_case(int n, const gc_shape *ins) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.concat.axis = 1;
    gc_status st = lt_make_n(&t, GC_LAYER_CONCAT, p, n, ins);
    if (st) { FAILF("concat of %d: %s", n, gc_last_error()); lt_free(&t); return; }
    gc_shape want = ins[0];
    int64_t c[LT_MAX_IN], S = t.nins[0] / (ins[0].d[0] * ins[0].d[1]);
    want.d[1] = 0;
    for (int k = 0; k < n; k++) want.d[1] += c[k] = ins[k].d[1];
    CHECK(same_shape(&t.out, &want));
    if (same_shape(&t.out, &want)) {
        float *ref = malloc((size_t)t.nout * sizeof(float));
        ref_concat(n, ins[0].d[0], c, S, (const float *const *)t.xs, ref);
        CHECK(fwd_err(&t, ref) == 0.0);
        free(ref);
        CHECK_GRADS(&t, 1e-2f);
        check_partial_grads(&t);
    }
    lt_free(&t);
}

TEST(concat_forward_and_gradients) {
    const gc_shape three[3] = {SH4(2, 3, 5, 4), SH4(2, 1, 5, 4), SH4(2, 4, 5, 4)};
    const gc_shape flat[2] = {SH2(3, 2), SH2(3, 5)};
    const gc_shape one[1] = {SH4(2, 3, 4, 4)};
    const gc_shape rank3[2] = {SH3(2, 3, 7), SH3(2, 2, 7)};
    const gc_shape four[4] = {SH4(1, 2, 3, 3), SH4(1, 1, 3, 3), SH4(1, 2, 3, 3), SH4(1, 5, 3, 3)};
    const gc_shape big[2] = {SH4(2, 16, 48, 48), SH4(2, 8, 48, 48)}; /* threaded path */
    concat_case(3, three);
    concat_case(2, flat);
    concat_case(1, one);
    concat_case(2, rank3);
    concat_case(4, four);
    concat_case(2, big);
}

/* ------------------------------------------------------------------ activation */

/* Kinks of the op: where its derivative jumps. */
static int act_kinks(const gc_activation_params *a, float *k) {
    switch (a->op) {
    case GC_ACT_HARDSIGMOID:
    case GC_ACT_HARDSWISH:
        if (a->alpha == 0) return 0;
        k[0] = -a->beta / a->alpha;
        k[1] = (1.0f - a->beta) / a->alpha;
        return 2;
    case GC_ACT_CLAMP: k[0] = a->alpha; k[1] = a->beta; return 2;
    case GC_ACT_LEAKY_RELU: k[0] = 0; return 1;
    default: return 0;
    }
}

static const char *act_name(gc_activation_op op) {
    static const char *names[GC_ACT_COUNT] = {"sigmoid", "silu", "hardsigmoid", "hardswish", "clamp", "leaky_relu"};
    return (unsigned)op < GC_ACT_COUNT ? names[op] : "?";
}

/* Inputs in [-8, 8] at least 0.05 from every kink (finite differences use eps 1e-2):
 * forward and every entry of backward against the double reference, central differences,
 * and the same bits in every ReLU mode (the rules act at ReLU layers only). */
static void act_case(gc_activation_params a, gc_shape in) {
    lt t;
    gc_layer_params p = {.act = a};
    gc_status st = lt_make(&t, GC_LAYER_ACTIVATION, p, in);
    if (st) { FAILF("activation %s: %s", act_name(a.op), gc_last_error()); lt_free(&t); return; }
    CHECK(same_shape(&t.out, &in));
    float kink[2];
    int nk = act_kinks(&a, kink);
    for (int64_t e = 0; e < t.nin; e++) {
        float v;
        int near;
        do {
            v = urand(-8, 8);
            near = 0;
            for (int q = 0; q < nk; q++) near |= fabsf(v - kink[q]) < 0.05f;
        } while (near);
        t.x[e] = v;
    }
    float *ref = malloc((size_t)t.nout * sizeof(float));
    for (int64_t e = 0; e < t.nin; e++) ref[e] = (float)ref_activation(&a, t.x[e]);
    double fe = fwd_err(&t, ref);
    if (!(fe < 1e-6)) FAILF("activation %s (%g, %g): forward error %g", act_name(a.op), a.alpha, a.beta, fe);
    for (int64_t e = 0; e < t.nout; e++) t.dy[e] = urand(-1, 1);
    lt_backward(&t);
    for (int64_t e = 0; e < t.nin; e++) ref[e] = (float)(t.dy[e] * ref_activation_grad(&a, t.x[e]));
    double be = test_rel_err(t.dx, ref, t.nin, 1e-3);
    if (!(be < 1e-5)) FAILF("activation %s (%g, %g): backward error %g", act_name(a.op), a.alpha, a.beta, be);
    float *normal = malloc((size_t)t.nin * sizeof(float));
    memcpy(normal, t.dx, (size_t)t.nin * sizeof(float));
    for (int mode = GC_RELU_GUIDED; mode <= GC_RELU_DECONVNET; mode++) {
        for (int64_t e = 0; e < t.nin; e++) t.dx[e] = NAN;
        gc_layer_ctx c = lt_ctx(&t, (gc_relu_mode)mode);
        t.ops->backward(&c);
        if (memcmp(normal, t.dx, (size_t)t.nin * sizeof(float)) != 0)
            FAILF("activation %s: relu mode %d changes its gradient", act_name(a.op), mode);
    }
    free(normal);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

static gc_activation_params act_p(gc_activation_op op, float alpha, float beta) {
    gc_activation_params a = {op, alpha, beta};
    return a;
}

TEST(activation_forward_and_gradients) {
    const gc_activation_params ps[] = {
        gc_activation_defaults(GC_ACT_SIGMOID), gc_activation_defaults(GC_ACT_SILU),
        gc_activation_defaults(GC_ACT_HARDSIGMOID), act_p(GC_ACT_HARDSIGMOID, 0.3f, 0.4f),
        act_p(GC_ACT_HARDSIGMOID, -0.25f, 0.5f), gc_activation_defaults(GC_ACT_HARDSWISH),
        act_p(GC_ACT_HARDSWISH, 0.25f, 0.5f), gc_activation_defaults(GC_ACT_CLAMP),
        act_p(GC_ACT_CLAMP, -0.5f, 0.7f), act_p(GC_ACT_CLAMP, 1.0f, 1.0f),
        gc_activation_defaults(GC_ACT_LEAKY_RELU), act_p(GC_ACT_LEAKY_RELU, 0.2f, 0.0f),
        act_p(GC_ACT_LEAKY_RELU, -0.3f, 0.0f)};
    const gc_shape shapes[] = {SH4(2, 3, 5, 7), SH2(3, 11), {1, {13, 1, 1, 1}}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        for (size_t j = 0; j < sizeof shapes / sizeof shapes[0]; j++) act_case(ps[i], shapes[j]);
    act_case(gc_activation_defaults(GC_ACT_SILU), SH4(2, 16, 47, 47)); /* threaded path */
    act_case(gc_activation_defaults(GC_ACT_HARDSWISH), SH4(2, 16, 47, 47));
    /* large enough for the threaded path */
    act_case(gc_activation_defaults(GC_ACT_SILU), SH4(2, 16, 48, 48));
    act_case(gc_activation_defaults(GC_ACT_HARDSWISH), SH4(2, 16, 48, 48));
}

TEST(activation_defaults_are_pytorchs) {
    gc_activation_params a = gc_activation_defaults(GC_ACT_HARDSIGMOID);
    CHECK(a.op == GC_ACT_HARDSIGMOID && a.alpha == 1.0f / 6.0f && a.beta == 0.5f);
    a = gc_activation_defaults(GC_ACT_HARDSWISH);
    CHECK(a.op == GC_ACT_HARDSWISH && a.alpha == 1.0f / 6.0f && a.beta == 0.5f);
    a = gc_activation_defaults(GC_ACT_CLAMP);
    CHECK(a.alpha == 0.0f && a.beta == 6.0f);
    a = gc_activation_defaults(GC_ACT_LEAKY_RELU);
    CHECK(a.alpha == 0.01f);
    a = gc_activation_defaults(GC_ACT_SILU);
    CHECK(a.op == GC_ACT_SILU && a.alpha == 0.0f && a.beta == 0.0f);
}

/* Values and derivatives at and around the kinks, worked by hand with PyTorch's rules
 * (hardtanh: 1 strictly inside; hardsigmoid: alpha strictly inside; hardswish: 0 below -3,
 * x/3 + 1/2 on [-3, 3], 1 above; leaky ReLU: alpha at 0), in every ReLU mode, dy = -2. */
TEST(activation_kinks_by_hand) {
    struct { gc_activation_params a; float x[5], y[5], d[5]; } cases[] = {
        {gc_activation_defaults(GC_ACT_CLAMP), {-1, 0, 3, 6, 7}, {0, 0, 3, 6, 6}, {0, 0, 1, 0, 0}},
        {act_p(GC_ACT_CLAMP, -0.5f, 0.5f), {-0.75f, -0.5f, 0.25f, 0.5f, 2}, {-0.5f, -0.5f, 0.25f, 0.5f, 0.5f},
         {0, 0, 1, 0, 0}},
        {gc_activation_defaults(GC_ACT_LEAKY_RELU), {-2, 0, 2, -100, 0.5f}, {-0.02f, 0, 2, -1, 0.5f},
         {0.01f, 0.01f, 1, 0.01f, 1}},
        {gc_activation_defaults(GC_ACT_HARDSIGMOID), {-4, -3, 0, 3, 4}, {0, 0, 0.5f, 1, 1},
         {0, 0, 1.0f / 6.0f, 0, 0}},
        {gc_activation_defaults(GC_ACT_HARDSWISH), {-4, -3, 0, 3, 4}, {0, 0, 0, 3, 4}, {0, -0.5f, 0.5f, 1.5f, 1}},
        /* one float step inside and outside -3 and 3: the kink is decided on x, as PyTorch does,
           not on the rounded x / 6 + 1/2 */
        {gc_activation_defaults(GC_ACT_HARDSIGMOID), {-3.0000002f, -2.9999998f, 0, 2.9999998f, 3.0000002f},
         {0, 2.9802322e-08f, 0.5f, 1, 1}, {0, 1.0f / 6.0f, 1.0f / 6.0f, 1.0f / 6.0f, 0}},
        {gc_activation_defaults(GC_ACT_HARDSWISH), {-3.0000002f, -2.9999998f, 0, 2.9999998f, 3.0000002f},
         {0, -8.9406967e-08f, 0, 2.9999998f, 3.0000002f}, {0, -0.49999994f, 0.5f, 1.4999999f, 1}},
        {gc_activation_defaults(GC_ACT_SIGMOID), {0, 0, 0, 0, 0}, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f},
         {0.25f, 0.25f, 0.25f, 0.25f, 0.25f}},
        {gc_activation_defaults(GC_ACT_SILU), {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lt t;
        gc_layer_params p = {.act = cases[i].a};
        CHECK_OK(lt_make(&t, GC_LAYER_ACTIVATION, p, SH2(1, 5)));
        memcpy(t.x, cases[i].x, sizeof cases[i].x);
        lt_forward(&t);
        for (int e = 0; e < 5; e++) {
            if (!(fabs(t.y[e] - cases[i].y[e]) <= 1e-6 * (1 + fabs(cases[i].y[e]))))
                FAILF("%s(%g) = %g, want %g", act_name(cases[i].a.op), cases[i].x[e], t.y[e], cases[i].y[e]);
            t.dy[e] = -2.0f;
        }
        for (int mode = 0; mode < 3; mode++) {
            for (int e = 0; e < 5; e++) t.dx[e] = NAN;
            gc_layer_ctx c = lt_ctx(&t, (gc_relu_mode)mode);
            t.ops->backward(&c);
            for (int e = 0; e < 5; e++)
                if (!(fabs(t.dx[e] - -2.0f * cases[i].d[e]) <= 1e-6))
                    FAILF("%s'(%g) in mode %d: dx %g, want %g", act_name(cases[i].a.op), cases[i].x[e], mode,
                          t.dx[e], -2.0 * cases[i].d[e]);
        }
        lt_free(&t);
    }
}

/* Saturated sigmoid and SiLU stay finite (no inf - inf or 0 * inf). */
TEST(activation_extremes_are_finite) {
    const gc_activation_op ops[2] = {GC_ACT_SIGMOID, GC_ACT_SILU};
    for (int i = 0; i < 2; i++) {
        lt t;
        gc_layer_params p = {.act = gc_activation_defaults(ops[i])};
        CHECK_OK(lt_make(&t, GC_LAYER_ACTIVATION, p, SH2(1, 4)));
        const float x[4] = {-1000, -90, 90, 1000};
        memcpy(t.x, x, sizeof x);
        for (int e = 0; e < 4; e++) t.dy[e] = 1;
        lt_forward(&t);
        lt_backward(&t);
        CHECK(all_finite(t.y, 4) && all_finite(t.dx, 4));
        CHECK(t.y[0] == 0.0f && (ops[i] == GC_ACT_SIGMOID ? t.y[3] == 1.0f : t.y[3] == 1000.0f));
        CHECK(t.dx[0] == 0.0f && t.dx[3] == (ops[i] == GC_ACT_SILU ? 1.0f : 0.0f)); /* s'(x) -> 0, silu' -> 1 */
        lt_free(&t);
    }
}

/* ------------------------------------------------------------------ constant */

/* No input; the output is the value, whatever the batch; its gradient is dy. */
static void constant_case(int ndim, const int64_t *d) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.constant.ndim = ndim;
    for (int k = 0; k < 4; k++) p.constant.d[k] = k < ndim ? d[k] : 1;
    gc_status st = lt_make_n(&t, GC_LAYER_CONSTANT, p, 0, NULL);
    if (st) { FAILF("constant of %d dimensions: %s", ndim, gc_last_error()); lt_free(&t); return; }
    CHECK(t.l.n_params == 1 && strcmp(t.suffix[0], "value") == 0);
    CHECK(same_dims(&t.out, ndim, d) && same_dims(&t.l.param_shape[0], ndim, d));
    CHECK(t.nout == t.np[0]);
    lt_forward(&t);
    CHECK(memcmp(t.y, t.l.param[0], (size_t)t.nout * sizeof(float)) == 0);
    CHECK_GRADS(&t, 1e-2f); /* the value's gradient (a session never asks: not trained) */
    for (int64_t e = 0; e < t.nout; e++) CHECK(t.dp[0][e] == t.dy[e]);
    lt_free(&t);
}

TEST(constant_forward_and_gradient) {
    const int64_t v7[1] = {7}, c3[3] = {3, 1, 1}, m4[4] = {1, 3, 1, 1}, full[4] = {2, 5, 3, 4}, big[2] = {300, 301};
    constant_case(1, v7);
    constant_case(3, c3);
    constant_case(4, m4);
    constant_case(4, full);
    constant_case(2, big);
    const gc_layer_ops *ops = gc_layer_ops_of(GC_LAYER_CONSTANT);
    CHECK(ops->min_inputs == 0 && ops->max_inputs == 0);
    CHECK(ops->param_roles[0] == 0); /* not trained, not initialised, default 0 */
}

/* Built through the public API: the value is copied (NULL: zeros), initialisation leaves it
 * alone, and it reads no input. */
TEST(constant_in_a_model) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    const int64_t sh[4] = {1, 3, 1, 1};
    const float mean[3] = {0.5f, -1.0f, 2.0f};
    CHECK_OK(gc_model_add_constant(m, "mean", 4, sh, mean));
    CHECK_OK(gc_model_add_constant(m, "zeros", 2, sh + 1, NULL));
    CHECK_OK(gc_model_init_random(m, 3));
    gc_tensor v;
    CHECK_OK(gc_model_param(m, "mean.value", &v));
    CHECK(v.ndim == 4 && v.shape[1] == 3 && v.shape[0] == 1 && v.data && memcmp(v.data, mean, sizeof mean) == 0);
    CHECK_OK(gc_model_param(m, "zeros.value", &v));
    CHECK(v.ndim == 2 && v.shape[0] == 3 && v.shape[1] == 1 && v.data && v.data[0] == 0 && v.data[2] == 0);
    CHECK(gc_model_layer_input_count(m, 0) == 0 && gc_model_layer_input(m, 0) == NULL);
    CHECK(gc_model_param_count(m) == 6);
    gc_model_free(m);
}

/* ------------------------------------------------------------------ pad */

static void pad_case(gc_pad_params pp, gc_shape in) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.pad = pp;
    gc_status st = lt_make(&t, GC_LAYER_PAD, p, in);
    if (st) { FAILF("pad: %s", gc_last_error()); lt_free(&t); return; }
    gc_shape want = SH4(in.d[0], in.d[1], pp.top + in.d[2] + pp.bottom, pp.left + in.d[3] + pp.right);
    if (!same_shape(&t.out, &want)) { FAILF("pad %lld %lld %lld %lld: wrong output shape", (long long)pp.top,
                                            (long long)pp.bottom, (long long)pp.left, (long long)pp.right);
        lt_free(&t); return; }
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_pad(in.d[0], in.d[1], in.d[2], in.d[3], pp.top, pp.bottom, pp.left, pp.right, pp.value, t.x, ref);
    lt_forward(&t);
    if (memcmp(t.y, ref, (size_t)t.nout * sizeof(float)) != 0)
        FAILF("pad %lld %lld %lld %lld value %g: forward differs", (long long)pp.top, (long long)pp.bottom,
              (long long)pp.left, (long long)pp.right, pp.value);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

TEST(pad_forward_and_gradients) {
    pad_case((gc_pad_params){1, 1, 1, 1, 0.0f}, SH4(2, 3, 5, 7));       /* symmetric */
    pad_case((gc_pad_params){0, 2, 3, 0, -1.5f}, SH4(2, 3, 5, 7));      /* asymmetric, a value */
    pad_case((gc_pad_params){0, 0, 0, 0, 9.0f}, SH4(1, 2, 3, 3));       /* nothing */
    pad_case((gc_pad_params){4, 5, 6, 7, 0.25f}, SH4(1, 2, 1, 1));      /* wider than the image */
    pad_case((gc_pad_params){0, 1, 0, 1, 0.0f}, SH4(3, 1, 4, 2));       /* TF "SAME" style: bottom/right */
    pad_case((gc_pad_params){2, 0, 0, 0, -2.0f}, SH4(2, 3, 3, 6));      /* top only */
    pad_case((gc_pad_params){1, 2, 2, 1, 0.5f}, SH4(2, 16, 48, 48));    /* threaded path */
}

/* ------------------------------------------------------------------ channel shuffle */

static void shuffle_case(int64_t g, gc_shape in) {
    lt t;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.shuffle_groups = g;
    gc_status st = lt_make(&t, GC_LAYER_CHANNEL_SHUFFLE, p, in);
    if (st) { FAILF("channel_shuffle %lld: %s", (long long)g, gc_last_error()); lt_free(&t); return; }
    CHECK(same_shape(&t.out, &in));
    float *ref = malloc((size_t)t.nout * sizeof(float));
    ref_channel_shuffle(in.d[0], in.d[1], t.nin / (in.d[0] * in.d[1]), g, t.x, ref);
    lt_forward(&t);
    if (memcmp(t.y, ref, (size_t)t.nout * sizeof(float)) != 0)
        FAILF("channel_shuffle groups %lld of %lld channels: forward differs", (long long)g, (long long)in.d[1]);
    free(ref);
    CHECK_GRADS(&t, 1e-2f);
    lt_free(&t);
}

TEST(channel_shuffle_forward_and_gradients) {
    shuffle_case(2, SH4(2, 6, 3, 5));
    shuffle_case(3, SH4(2, 6, 3, 5));
    shuffle_case(4, SH4(1, 24, 2, 3));
    shuffle_case(1, SH4(2, 5, 2, 2));    /* one group: the identity */
    shuffle_case(7, SH4(2, 7, 3, 1));    /* a group per channel: the identity */
    shuffle_case(3, SH3(2, 12, 5));
    shuffle_case(2, SH2(3, 10));
    shuffle_case(4, SH4(2, 32, 33, 33)); /* threaded path */
}

/* C = 6: groups 2 reads channels 0 3 1 4 2 5, groups 3 reads 0 2 4 1 3 5; the gradient goes
 * back where each channel came from. */
TEST(channel_shuffle_by_hand) {
    const int64_t gs[2] = {2, 3};
    const int order[2][6] = {{0, 3, 1, 4, 2, 5}, {0, 2, 4, 1, 3, 5}};
    for (int k = 0; k < 2; k++) {
        lt t;
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        p.shuffle_groups = gs[k];
        CHECK_OK(lt_make(&t, GC_LAYER_CHANNEL_SHUFFLE, p, SH4(1, 6, 1, 2)));
        for (int e = 0; e < 12; e++) t.x[e] = (float)e;
        lt_forward(&t);
        for (int c = 0; c < 6; c++) {
            CHECK(t.y[2 * c] == (float)(2 * order[k][c]) && t.y[2 * c + 1] == (float)(2 * order[k][c] + 1));
            t.dy[2 * c] = (float)(10 * c);
            t.dy[2 * c + 1] = (float)(10 * c + 1);
        }
        lt_backward(&t);
        for (int c = 0; c < 6; c++) CHECK(t.dx[2 * order[k][c]] == (float)(10 * c));
        lt_free(&t);
    }
}

/* ------------------------------------------------------------------ identity */

TEST(identity_is_a_copy) {
    const gc_shape shapes[3] = {SH4(2, 3, 4, 5), SH2(3, 7), {1, {9, 1, 1, 1}}};
    for (int i = 0; i < 3; i++) {
        lt t;
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        CHECK_OK(lt_make(&t, GC_LAYER_IDENTITY, p, shapes[i]));
        CHECK(same_shape(&t.out, &shapes[i]));
        lt_forward(&t);
        CHECK(memcmp(t.x, t.y, (size_t)t.nin * sizeof(float)) == 0);
        CHECK_GRADS(&t, 1e-2f);
        lt_free(&t);
    }
    CHECK(gc_layer_ops_of(GC_LAYER_IDENTITY)->traits == (GC_TRAIT_SAME_SHAPE | GC_TRAIT_POOL));
    CHECK(gc_layer_ops_of(GC_LAYER_PAD)->traits == GC_TRAIT_POOL);
    CHECK(gc_layer_ops_of(GC_LAYER_CHANNEL_SHUFFLE)->traits == 0);
    CHECK(gc_layer_ops_of(GC_LAYER_SUB)->traits == 0 && gc_layer_ops_of(GC_LAYER_DIV)->traits == 0);
}

/* ------------------------------------------------------------------ parameter shapes */

TEST(param_shapes_and_names) {
    gc_layer l;
    gc_shape s[GC_MAX_PARAMS];
    const char *n[GC_MAX_PARAMS];
    memset(&l, 0, sizeof l);
    l.p.conv = conv_p(6, 8, 3, 5, 1, 0, 1, 2, 1);
    CHECK(gc_conv2d_ops.param_shapes(&l, s, n) == 2);
    gc_shape w = SH4(8, 3, 3, 5), b = {1, {8, 1, 1, 1}};
    CHECK(same_shape(&s[0], &w) && same_shape(&s[1], &b));
    CHECK(strcmp(n[0], "weight") == 0 && strcmp(n[1], "bias") == 0);
    l.p.conv.bias = 0;
    CHECK(gc_conv2d_ops.param_shapes(&l, s, n) == 1);

    l.p.linear = (gc_linear_params){13, 7, 1};
    CHECK(gc_linear_ops.param_shapes(&l, s, n) == 2);
    gc_shape lw = SH2(7, 13), lb = {1, {7, 1, 1, 1}};
    CHECK(same_shape(&s[0], &lw) && same_shape(&s[1], &lb));
    l.p.linear.bias = 0;
    CHECK(gc_linear_ops.param_shapes(&l, s, n) == 1);

    l.p.bn = (gc_batchnorm2d_params){5, 1e-5f};
    CHECK(gc_batchnorm2d_ops.param_shapes(&l, s, n) == 4);
    const char *bn_names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        gc_shape c = {1, {5, 1, 1, 1}};
        CHECK(same_shape(&s[i], &c) && strcmp(n[i], bn_names[i]) == 0);
    }
    memset(&l.p, 0, sizeof l.p);
    l.p.constant = (gc_constant_params){3, {2, 1, 4, 1}};
    CHECK(gc_constant_ops.param_shapes(&l, s, n) == 1);
    gc_shape cv = SH3(2, 1, 4);
    CHECK(same_shape(&s[0], &cv) && strcmp(n[0], "value") == 0);
    gc_layer_kind none[] = {GC_LAYER_RELU, GC_LAYER_MAXPOOL2D, GC_LAYER_AVGPOOL2D, GC_LAYER_ADAPTIVE_AVGPOOL2D,
                            GC_LAYER_DROPOUT, GC_LAYER_FLATTEN, GC_LAYER_SOFTMAX, GC_LAYER_LRN, GC_LAYER_SUB,
                            GC_LAYER_DIV, GC_LAYER_PAD, GC_LAYER_CHANNEL_SHUFFLE, GC_LAYER_IDENTITY};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        CHECK(gc_layer_ops_of(none[i])->param_shapes(&l, s, n) == 0);
    for (int k = 0; k < GC_LAYER_KIND_COUNT; k++)
        CHECK(strcmp(gc_layer_ops_of((gc_layer_kind)k)->name, gc_layer_kind_name((gc_layer_kind)k)) == 0);
}

/* ------------------------------------------------------------------ refusals */

static gc_status try_check(gc_layer_kind kind, gc_layer_params p) {
    gc_layer l;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    l.p = p;
    return gc_layer_ops_of(kind)->check_params(&l);
}

/* check_params must accept p; then infer on `in`. */
static gc_status try_infer(gc_layer_kind kind, gc_layer_params p, gc_shape in) {
    gc_layer l;
    gc_shape out;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    l.p = p;
    gc_status st = gc_layer_ops_of(kind)->check_params(&l);
    if (st) return GC_ERR_UNSUPPORTED; /* never expected: makes the CHECK fail */
    return gc_layer_ops_of(kind)->infer(&l, &in, &out);
}

#define CONV(...) ((gc_layer_params){.conv = conv_p(__VA_ARGS__)})
#define POOL(...) ((gc_layer_params){.pool = pool_p(__VA_ARGS__)})

TEST(bad_hyper_parameters) {
    const gc_status A = GC_ERR_INVALID_ARGUMENT;
    gc_layer_params p;
    /* conv2d */
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(0, 4, 3, 3, 1, 0, 1, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(4, 0, 3, 3, 1, 0, 1, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(4, 4, 0, 3, 1, 0, 1, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(4, 4, 3, 3, 0, 0, 1, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(4, 4, 3, 3, 1, -1, 1, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(4, 4, 3, 3, 1, 0, 0, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(4, 4, 3, 3, 1, 0, 1, 0, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(8, 6, 3, 3, 1, 0, 1, 3, 1)), A);
    CHECK(strcmp(gc_last_error(), "conv2d: groups 3 does not divide in_channels 8") == 0);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(6, 8, 3, 3, 1, 0, 1, 3, 1)), A);
    CHECK(strstr(gc_last_error(), "out_channels") != NULL);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(1 << 20, 1 << 20, 1 << 20, 1 << 20, 1, 0, 1, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(1, 1, 3, 3, 1, INT64_MAX / 2 + 1, 1, 1, 1)), A);
    CHECK_FAILS(try_check(GC_LAYER_CONV2D, CONV(1, 1, 3, 3, 1, 0, INT64_MAX / 2, 1, 1)), A);
    CHECK_OK(try_check(GC_LAYER_CONV2D, CONV(6, 9, 3, 3, 1, 0, 1, 3, 1)));
    /* pooling */
    gc_layer_kind pools[2] = {GC_LAYER_MAXPOOL2D, GC_LAYER_AVGPOOL2D};
    for (int i = 0; i < 2; i++) {
        CHECK_FAILS(try_check(pools[i], POOL(0, 2, 2, 2, 0, 0, 1, 0, 1)), A);
        CHECK_FAILS(try_check(pools[i], POOL(2, 2, 0, 2, 0, 0, 1, 0, 1)), A);
        CHECK_FAILS(try_check(pools[i], POOL(2, 2, 2, 2, -1, 0, 1, 0, 1)), A);
        CHECK_FAILS(try_check(pools[i], POOL(3, 3, 2, 2, 2, 1, 1, 0, 1)), A);  /* pad > kernel / 2 */
        CHECK(strstr(gc_last_error(), "padding") != NULL);
        CHECK_FAILS(try_check(pools[i], POOL(2, 2, 2, 2, 0, 0, 0, 0, 1)), A);
        CHECK_OK(try_check(pools[i], POOL(3, 3, 2, 2, 1, 1, 1, 1, 0)));
    }
    CHECK_FAILS(try_check(GC_LAYER_AVGPOOL2D, POOL(3, 3, 1, 1, 0, 0, 2, 0, 1)), A);
    CHECK(strstr(gc_last_error(), "dilation") != NULL);
    CHECK_OK(try_check(GC_LAYER_MAXPOOL2D, POOL(3, 3, 1, 1, 0, 0, 2, 0, 1)));
    CHECK_FAILS(try_check(GC_LAYER_MAXPOOL2D, POOL(3, 3, 1, 1, 0, 0, INT64_MAX / 2, 0, 1)), A);
    /* adaptive */
    memset(&p, 0, sizeof p);
    p.apool = (gc_adaptive_pool2d_params){0, 3};
    CHECK_FAILS(try_check(GC_LAYER_ADAPTIVE_AVGPOOL2D, p), A);
    p.apool = (gc_adaptive_pool2d_params){3, -1};
    CHECK_FAILS(try_check(GC_LAYER_ADAPTIVE_AVGPOOL2D, p), A);
    /* linear */
    p.linear = (gc_linear_params){0, 4, 1};
    CHECK_FAILS(try_check(GC_LAYER_LINEAR, p), A);
    p.linear = (gc_linear_params){4, 0, 1};
    CHECK_FAILS(try_check(GC_LAYER_LINEAR, p), A);
    p.linear = (gc_linear_params){INT64_MAX / 2, INT64_MAX / 2, 1};
    CHECK_FAILS(try_check(GC_LAYER_LINEAR, p), A);
    /* dropout */
    float bad_p[4] = {-0.1f, 1.0f, 1.5f, NAN};
    for (int i = 0; i < 4; i++) {
        memset(&p, 0, sizeof p);
        p.dropout_p = bad_p[i];
        CHECK_FAILS(try_check(GC_LAYER_DROPOUT, p), A);
    }
    p.dropout_p = 0.0f;
    CHECK_OK(try_check(GC_LAYER_DROPOUT, p));
    /* lrn */
    gc_lrn_params bad_lrn[5] = {{0, 1e-4f, 0.75f, 1}, {5, -1, 0.75f, 1}, {5, 1e-4f, INFINITY, 1},
                                {5, 1e-4f, 0.75f, 0}, {5, NAN, 0.75f, 1}};
    for (int i = 0; i < 5; i++) {
        memset(&p, 0, sizeof p);
        p.lrn = bad_lrn[i];
        CHECK_FAILS(try_check(GC_LAYER_LRN, p), A);
    }
    /* batchnorm2d */
    memset(&p, 0, sizeof p);
    p.bn = (gc_batchnorm2d_params){0, 1e-5f};
    CHECK_FAILS(try_check(GC_LAYER_BATCHNORM2D, p), A);
    p.bn = (gc_batchnorm2d_params){4, -1e-5f};
    CHECK_FAILS(try_check(GC_LAYER_BATCHNORM2D, p), A);
    p.bn = (gc_batchnorm2d_params){4, NAN};
    CHECK_FAILS(try_check(GC_LAYER_BATCHNORM2D, p), A);
}

TEST(bad_input_shapes) {
    const gc_status S = GC_ERR_SHAPE;
    gc_layer_params p;
    /* conv2d: channels, rank, too small */
    CHECK_FAILS(try_infer(GC_LAYER_CONV2D, CONV(8, 4, 3, 3, 1, 0, 1, 1, 1), SH4(1, 4, 9, 9)), S);
    CHECK(strcmp(gc_last_error(), "conv2d expects 4-D input with 8 channels, got 1x4x9x9") == 0);
    CHECK_FAILS(try_infer(GC_LAYER_CONV2D, CONV(8, 4, 3, 3, 1, 0, 1, 1, 1), SH2(1, 8)), S);
    CHECK_FAILS(try_infer(GC_LAYER_CONV2D, CONV(3, 4, 5, 5, 1, 0, 1, 1, 1), SH4(1, 3, 4, 9)), S);
    CHECK_FAILS(try_infer(GC_LAYER_CONV2D, CONV(3, 4, 3, 3, 1, 0, 3, 1, 1), SH4(1, 3, 6, 6)), S); /* dilated 7 > 6 */
    CHECK_FAILS(try_infer(GC_LAYER_CONV2D, CONV(3, 4, 3, 3, 1, INT64_MAX / 4, 1, 1, 1), SH4(1, 3, INT64_MAX / 4, 1)), S);
    CHECK_OK(try_infer(GC_LAYER_CONV2D, CONV(3, 4, 3, 3, 1, 0, 3, 1, 1), SH4(1, 3, 7, 7)));
    /* pooling */
    gc_layer_kind pools[2] = {GC_LAYER_MAXPOOL2D, GC_LAYER_AVGPOOL2D};
    for (int i = 0; i < 2; i++) {
        CHECK_FAILS(try_infer(pools[i], POOL(3, 3, 2, 2, 0, 0, 1, 0, 1), SH4(1, 3, 2, 9)), S);
        CHECK_FAILS(try_infer(pools[i], POOL(2, 2, 2, 2, 0, 0, 1, 0, 1), SH2(2, 8)), S);
        CHECK_FAILS(try_infer(pools[i], POOL(2, 2, 2, 2, 0, 0, 1, 0, 1), SH3(2, 8, 8)), S);
    }
    /* adaptive */
    memset(&p, 0, sizeof p);
    p.apool = (gc_adaptive_pool2d_params){7, 7};
    CHECK_FAILS(try_infer(GC_LAYER_ADAPTIVE_AVGPOOL2D, p, SH2(1, 49)), S);
    /* linear: 4-D input suggests flatten */
    p.linear = (gc_linear_params){48, 10, 1};
    CHECK_FAILS(try_infer(GC_LAYER_LINEAR, p, SH4(1, 3, 4, 4)), S);
    CHECK(strstr(gc_last_error(), "flatten") != NULL);
    CHECK_FAILS(try_infer(GC_LAYER_LINEAR, p, SH2(1, 47)), S);
    CHECK_OK(try_infer(GC_LAYER_LINEAR, p, SH2(2, 48)));
    /* flatten, softmax, lrn: rank */
    memset(&p, 0, sizeof p);
    gc_shape v = {1, {5, 1, 1, 1}};
    CHECK_FAILS(try_infer(GC_LAYER_FLATTEN, p, v), S);
    CHECK_FAILS(try_infer(GC_LAYER_SOFTMAX, p, v), S);
    p.lrn = (gc_lrn_params){5, 1e-4f, 0.75f, 2};
    CHECK_FAILS(try_infer(GC_LAYER_LRN, p, SH2(1, 5)), S);
    CHECK_FAILS(try_infer(GC_LAYER_LRN, p, SH4(1, 5, 0, 3)), S);
    memset(&p, 0, sizeof p);
    CHECK_FAILS(try_infer(GC_LAYER_SOFTMAX, p, SH3(1, 5, 0)), S);
    CHECK_FAILS(try_infer(GC_LAYER_FLATTEN, p, SH3(0, 5, 2)), S);
    /* batchnorm2d: channels and rank */
    memset(&p, 0, sizeof p);
    p.bn = (gc_batchnorm2d_params){4, 1e-5f};
    CHECK_FAILS(try_infer(GC_LAYER_BATCHNORM2D, p, SH4(1, 3, 2, 2)), S);
    CHECK_FAILS(try_infer(GC_LAYER_BATCHNORM2D, p, SH2(1, 4)), S);
    CHECK_OK(try_infer(GC_LAYER_BATCHNORM2D, p, SH4(2, 4, 1, 1)));
}

/* ------------------------------------------------------------------ graph kinds: refusals */

/* check_params must accept p; then infer on n inputs. */
static gc_status try_infer_n(gc_layer_kind kind, gc_layer_params p, int n, const gc_shape *in) {
    static int net_input[LT_MAX_IN] = {-1, -1, -1, -1};
    gc_layer l;
    gc_shape out;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    l.p = p;
    l.n_inputs = n;
    l.inputs = net_input;
    if (gc_layer_ops_of(kind)->check_params(&l)) return GC_ERR_UNSUPPORTED; /* makes the CHECK fail */
    return gc_layer_ops_of(kind)->infer(&l, in, &out);
}

TEST(graph_kinds_bad_hyper_parameters) {
    const gc_status A = GC_ERR_INVALID_ARGUMENT;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.act = act_p(GC_ACT_COUNT, 0, 0);
    CHECK_FAILS(try_check(GC_LAYER_ACTIVATION, p), A);
    CHECK(strstr(gc_last_error(), "op") != NULL);
    p.act = act_p((gc_activation_op)-1, 0, 0);
    CHECK_FAILS(try_check(GC_LAYER_ACTIVATION, p), A);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int op = 0; op < GC_ACT_COUNT; op++) {
        for (int i = 0; i < 3; i++) {
            p.act = gc_activation_defaults((gc_activation_op)op);
            p.act.alpha = bad[i];
            CHECK_FAILS(try_check(GC_LAYER_ACTIVATION, p), A);
            p.act = gc_activation_defaults((gc_activation_op)op);
            p.act.beta = bad[i];
            CHECK_FAILS(try_check(GC_LAYER_ACTIVATION, p), A);
        }
        p.act = gc_activation_defaults((gc_activation_op)op);
        CHECK_OK(try_check(GC_LAYER_ACTIVATION, p));
    }
    p.act = act_p(GC_ACT_CLAMP, 2.0f, 1.0f); /* min above max */
    CHECK_FAILS(try_check(GC_LAYER_ACTIVATION, p), A);
    CHECK(strstr(gc_last_error(), "clamp") != NULL);
    p.act = act_p(GC_ACT_CLAMP, 1.0f, 1.0f);
    CHECK_OK(try_check(GC_LAYER_ACTIVATION, p));
    p.act = act_p(GC_ACT_HARDSIGMOID, 2.0f, 1.0f); /* no order between slope and offset */
    CHECK_OK(try_check(GC_LAYER_ACTIVATION, p));
    const int64_t axes[4] = {0, 2, 3, -1};
    for (int i = 0; i < 4; i++) {
        memset(&p, 0, sizeof p);
        p.concat.axis = axes[i];
        CHECK_FAILS(try_check(GC_LAYER_CONCAT, p), A);
        CHECK(strstr(gc_last_error(), "axis") != NULL);
    }
    p.concat.axis = 1;
    CHECK_OK(try_check(GC_LAYER_CONCAT, p));
    /* constant: ndim, each dimension, 1 past ndim, the size */
    const gc_constant_params bad_const[] = {{0, {1, 1, 1, 1}}, {5, {1, 1, 1, 1}}, {-1, {1, 1, 1, 1}},
                                            {2, {3, 0, 1, 1}}, {1, {-4, 1, 1, 1}}, {2, {3, 4, 2, 1}},
                                            {3, {2, 2, 2, 0}}, {4, {INT64_MAX / 2, 4, 1, 1}}};
    const char *const bad_const_field[] = {"ndim", "ndim", "ndim", "d1", "d0", "d2", "d3", "overflows"};
    for (size_t i = 0; i < sizeof bad_const / sizeof bad_const[0]; i++) {
        memset(&p, 0, sizeof p);
        p.constant = bad_const[i];
        CHECK_FAILS(try_check(GC_LAYER_CONSTANT, p), A);
        if (!strstr(gc_last_error(), bad_const_field[i]))
            FAILF("constant case %zu: \"%s\" does not name %s", i, gc_last_error(), bad_const_field[i]);
    }
    p.constant = (gc_constant_params){2, {3, 4, 1, 1}};
    CHECK_OK(try_check(GC_LAYER_CONSTANT, p));
    /* pad: every amount >= 0, a finite value */
    const char *const sides[4] = {"top", "bottom", "left", "right"};
    for (int i = 0; i < 4; i++) {
        memset(&p, 0, sizeof p);
        int64_t *amount[4] = {&p.pad.top, &p.pad.bottom, &p.pad.left, &p.pad.right};
        *amount[i] = -1;
        CHECK_FAILS(try_check(GC_LAYER_PAD, p), A);
        CHECK(strstr(gc_last_error(), sides[i]) != NULL);
    }
    for (int i = 0; i < 3; i++) {
        memset(&p, 0, sizeof p);
        p.pad = (gc_pad_params){1, 1, 1, 1, bad[i]};
        CHECK_FAILS(try_check(GC_LAYER_PAD, p), A);
        CHECK(strstr(gc_last_error(), "value") != NULL);
    }
    p.pad = (gc_pad_params){0, 3, 0, 2, -3.4028235e38f};
    CHECK_OK(try_check(GC_LAYER_PAD, p));
    /* channel_shuffle: groups >= 1 */
    const int64_t bad_groups[3] = {0, -2, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        memset(&p, 0, sizeof p);
        p.shuffle_groups = bad_groups[i];
        CHECK_FAILS(try_check(GC_LAYER_CHANNEL_SHUFFLE, p), A);
        CHECK(strstr(gc_last_error(), "groups") != NULL);
    }
}

TEST(graph_kinds_bad_shapes) {
    const gc_status S = GC_ERR_SHAPE;
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    const gc_shape v5 = {1, {5, 1, 1, 1}}, v4 = {1, {4, 1, 1, 1}};
    const gc_shape bad[][2] = {
        {SH4(2, 3, 4, 5), SH4(2, 3, 4, 6)}, /* last dimension */
        {SH4(4, 3, 1, 1), SH4(2, 3, 1, 1)}, /* batch */
        {SH4(2, 3, 4, 5), SH3(2, 4, 5)},    /* channels against fewer dimensions */
        {SH2(2, 3), SH2(3, 2)},
        {v5, v4},
        {SH4(2, 3, 4, 5), SH4(2, 3, 0, 5)}, /* an empty dimension */
    };
    const gc_layer_kind joins[4] = {GC_LAYER_ADD, GC_LAYER_MUL, GC_LAYER_SUB, GC_LAYER_DIV};
    for (int kind = 0; kind < 4; kind++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            CHECK_FAILS(try_infer_n(joins[kind], p, 2, bad[i]), S);
            CHECK(strstr(gc_last_error(), "broadcast") != NULL &&
                  strstr(gc_last_error(), gc_layer_kind_name(joins[kind])) != NULL);
        }
    const gc_shape ok[2] = {SH4(2, 3, 4, 5), SH2(4, 1)};
    CHECK_OK(try_infer_n(GC_LAYER_ADD, p, 2, ok));
    p.concat.axis = 1;
    const gc_shape cat_bad[][2] = {
        {SH4(2, 3, 4, 4), SH4(2, 3, 4, 5)}, /* spatial size */
        {SH4(2, 3, 4, 4), SH4(2, 3, 5, 4)},
        {SH4(2, 3, 4, 4), SH4(3, 3, 4, 4)}, /* batch */
        {SH4(2, 3, 4, 4), SH3(2, 3, 16)},   /* rank */
        {v5, v5},                           /* no channel dimension */
        {SH4(2, 3, 4, 4), SH4(2, 0, 4, 4)}, /* empty */
    };
    for (size_t i = 0; i < sizeof cat_bad / sizeof cat_bad[0]; i++) {
        CHECK_FAILS(try_infer_n(GC_LAYER_CONCAT, p, 2, cat_bad[i]), S);
        CHECK(strstr(gc_last_error(), "concat") != NULL);
    }
    const gc_shape three[3] = {SH4(1, 2, 3, 3), SH4(1, 1, 3, 3), SH4(1, 2, 3, 2)};
    CHECK_FAILS(try_infer_n(GC_LAYER_CONCAT, p, 3, three), S);
    CHECK(strstr(gc_last_error(), "input 2") != NULL);
    CHECK_OK(try_infer_n(GC_LAYER_CONCAT, p, 2, three));
    /* pad: 4-D only; sizes that overflow */
    memset(&p, 0, sizeof p);
    p.pad = (gc_pad_params){1, 1, 1, 1, 0.0f};
    const gc_shape pad_bad[3] = {SH3(2, 3, 4), SH2(2, 3), SH4(2, 3, 0, 4)};
    for (int i = 0; i < 3; i++) {
        CHECK_FAILS(try_infer_n(GC_LAYER_PAD, p, 1, &pad_bad[i]), S);
        CHECK(strstr(gc_last_error(), "pad") != NULL);
    }
    p.pad = (gc_pad_params){INT64_MAX - 2, 1, 0, 0, 0.0f};
    const gc_shape small = SH4(1, 1, 2, 2);
    CHECK_FAILS(try_infer_n(GC_LAYER_PAD, p, 1, &small), S);
    CHECK(strstr(gc_last_error(), "overflows") != NULL);
    p.pad = (gc_pad_params){0, 0, INT64_MAX / 4, INT64_MAX / 4, 0.0f};
    CHECK_FAILS(try_infer_n(GC_LAYER_PAD, p, 1, &small), S);
    /* channel_shuffle: the groups divide the channels; a channel dimension */
    memset(&p, 0, sizeof p);
    p.shuffle_groups = 4;
    const gc_shape cs_bad[2] = {SH4(2, 6, 3, 3), v4};
    for (int i = 0; i < 2; i++) {
        CHECK_FAILS(try_infer_n(GC_LAYER_CHANNEL_SHUFFLE, p, 1, &cs_bad[i]), S);
        CHECK(strstr(gc_last_error(), "channel_shuffle") != NULL);
    }
    CHECK(strstr(gc_last_error(), "(N, C, ...)") != NULL);
    CHECK_FAILS(try_infer_n(GC_LAYER_CHANNEL_SHUFFLE, p, 1, &cs_bad[0]), S);
    CHECK(strcmp(gc_last_error(), "channel_shuffle: groups 4 does not divide the 6 channels of 2x6x3x3") == 0);
    const gc_shape cs_ok = SH4(2, 8, 3, 3);
    CHECK_OK(try_infer_n(GC_LAYER_CHANNEL_SHUFFLE, p, 1, &cs_ok));
}

/* The number of inputs is checked when a layer is added, through the generic entry point
 * (lib/net/model.h) and the public builders; a refused layer leaves the model unchanged. */
TEST(arity_refused_when_adding) {
    const gc_status A = GC_ERR_INVALID_ARGUMENT;
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    CHECK_OK(gc_model_add_relu(m, "r", NULL));
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    const char *in3[3] = {"r", "r", "input"};
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_ADD, "a3", in3, 3, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "add takes 2 inputs, 3 given") != NULL);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_ADD, "a1", in3, 1, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "a1") != NULL);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_MUL, "m3", in3, 3, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "mul takes 2 inputs") != NULL);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_MUL, "m0", in3, 0, &p, NULL, 0, 0), A);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_RELU, "r2", in3, 2, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "relu takes 1 input, 2 given") != NULL);
    p.act = gc_activation_defaults(GC_ACT_SILU);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_ACTIVATION, "act2", in3, 2, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "activation takes 1 input") != NULL);
    memset(&p, 0, sizeof p);
    p.concat.axis = 1;
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_CONCAT, "c0", in3, 0, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "concat takes 1..1024 inputs, 0 given") != NULL);
    CHECK_FAILS(gc_model_add_concat(m, "c0", 0, in3), A);
    CHECK_FAILS(gc_model_add_concat(m, "cm", -1, in3), A);
    CHECK_FAILS(gc_model_add_concat(m, "cn", 2, NULL), A);
    const char **many = malloc(1025 * sizeof *many);
    for (int k = 0; k < 1025; k++) many[k] = "r";
    CHECK_FAILS(gc_model_add_concat(m, "c1025", 1025, many), A);
    CHECK(strstr(gc_last_error(), "1025 given") != NULL);
    /* the new kinds: constant reads none, sub/div two, pad/channel_shuffle/identity one */
    memset(&p, 0, sizeof p);
    p.constant = (gc_constant_params){1, {3, 1, 1, 1}};
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_CONSTANT, "k1", in3, 1, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "constant takes 0 inputs, 1 given") != NULL);
    memset(&p, 0, sizeof p);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_SUB, "s3", in3, 3, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "sub takes 2 inputs, 3 given") != NULL);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_DIV, "d1", in3, 1, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "div takes 2 inputs, 1 given") != NULL);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_IDENTITY, "i0", NULL, 0, &p, NULL, 0, 0), A);
    CHECK(strstr(gc_last_error(), "identity takes 1 input, 0 given") != NULL);
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_PAD, "p2", in3, 2, &p, NULL, 0, 0), A);
    p.shuffle_groups = 1;
    CHECK_FAILS(gc_model_add_layer(m, GC_LAYER_CHANNEL_SHUFFLE, "c2", in3, 2, &p, NULL, 0, 0), A);
    /* the builders check their hyper-parameters */
    const int64_t shape[4] = {1, 3, 1, 1}, bad_shape[2] = {3, 0};
    CHECK_FAILS(gc_model_add_constant(m, "k", 0, shape, NULL), A);
    CHECK(strstr(gc_last_error(), "ndim") != NULL);
    CHECK_FAILS(gc_model_add_constant(m, "k", 5, shape, NULL), A);
    CHECK_FAILS(gc_model_add_constant(m, "k", 2, bad_shape, NULL), A);
    CHECK(strstr(gc_last_error(), "k: constant: d1") != NULL);
    CHECK_FAILS(gc_model_add_constant(m, "k", 2, NULL, NULL), A);
    gc_pad_params pad = {0, -1, 0, 0, 0.0f};
    CHECK_FAILS(gc_model_add_pad(m, "pd", NULL, &pad), A);
    CHECK(strstr(gc_last_error(), "pd: pad: bottom -1") != NULL);
    CHECK_FAILS(gc_model_add_pad(m, "pd", NULL, NULL), A);
    CHECK_FAILS(gc_model_add_channel_shuffle(m, "cs", NULL, 0), A);
    CHECK(strstr(gc_last_error(), "cs: channel_shuffle: groups 0") != NULL);
    /* a refused layer is not added; unknown inputs and bad hyper-parameters also refused */
    CHECK(gc_model_layer_count(m) == 1);
    CHECK_FAILS(gc_model_add_add(m, "bad", "r", "nowhere"), GC_ERR_NOT_FOUND);
    CHECK(strstr(gc_last_error(), "nowhere") != NULL);
    gc_activation_params bad = act_p(GC_ACT_CLAMP, 3, 2);
    CHECK_FAILS(gc_model_add_activation(m, "clamp", NULL, &bad), A);
    CHECK(strstr(gc_last_error(), "clamp") != NULL);
    CHECK_FAILS(gc_model_add_activation(m, "noparams", NULL, NULL), A);
    CHECK(gc_model_layer_count(m) == 1);
    /* accepted: 1024 inputs, one input, NULL for the layer just before, no input */
    CHECK_OK(gc_model_add_concat(m, "c1024", 1024, many));
    CHECK_OK(gc_model_add_concat(m, "c1", 1, in3));
    CHECK_OK(gc_model_add_add(m, "a", "r", "input"));
    CHECK_OK(gc_model_add_mul(m, "sq", NULL, NULL));
    CHECK(gc_model_layer_count(m) == 5);
    CHECK_OK(gc_model_add_constant(m, "k", 4, shape, NULL));
    CHECK_OK(gc_model_add_sub(m, "s", "sq", "k"));
    CHECK_OK(gc_model_add_div(m, "d", NULL, "k"));
    CHECK_OK(gc_model_add_pad(m, "pd", NULL, &(gc_pad_params){1, 0, 0, 2, 0.0f}));
    CHECK_OK(gc_model_add_channel_shuffle(m, "cs", NULL, 1));
    CHECK_OK(gc_model_add_identity(m, "id", NULL));
    CHECK(gc_model_layer_count(m) == 11);
    CHECK(gc_model_layer_input_count(m, 5) == 0 && gc_model_layer_input_at(m, 5, 0) == NULL);
    CHECK(strcmp(gc_model_layer_input_at(m, 6, 1), "k") == 0 && strcmp(gc_model_layer_input_at(m, 7, 0), "s") == 0);
    CHECK(strcmp(gc_model_layer_input_at(m, 10, 0), "cs") == 0);
    CHECK(gc_model_layer_input_count(m, 1) == 1024 && strcmp(gc_model_layer_input_at(m, 1, 1023), "r") == 0);
    CHECK(gc_model_layer_input_count(m, 3) == 2);
    CHECK(strcmp(gc_model_layer_input_at(m, 3, 0), "r") == 0 && strcmp(gc_model_layer_input_at(m, 3, 1), "input") == 0);
    CHECK(gc_model_layer_input_at(m, 3, 2) == NULL && gc_model_layer_input_at(m, 3, -1) == NULL);
    CHECK(strcmp(gc_model_layer_input_at(m, 4, 0), "a") == 0 && strcmp(gc_model_layer_input_at(m, 4, 1), "a") == 0);
    free(many);
    gc_model_free(m);
}

/* ------------------------------------------------------------------ threads */

/* Forward then backward of t on pool p (NULL: the caller's thread); returns y, the state, every
 * input gradient and every parameter gradient one after the other (malloc'd, *len bytes). */
static unsigned char *lt_run_on(lt *t, gc_pool *p, size_t *len) {
    gc_pool *keep = lt_pool;
    lt_pool = p;
    lt_forward(t);
    lt_backward(t);
    lt_pool = keep;
    const size_t state = t->ops->state_bytes(&t->l, t->ins, &t->out);
    size_t n = (size_t)t->nout * sizeof(float) + state;
    for (int k = 0; k < t->n_in; k++) n += (size_t)t->nins[k] * sizeof(float);
    for (int i = 0; i < t->ngrad; i++) n += (size_t)t->np[i] * sizeof(float);
    unsigned char *out = malloc(n), *o = out;
    memcpy(o, t->y, (size_t)t->nout * sizeof(float));
    o += (size_t)t->nout * sizeof(float);
    memcpy(o, t->state, state);
    o += state;
    for (int k = 0; k < t->n_in; k++, o += (size_t)t->nins[k - 1] * sizeof(float))
        memcpy(o, t->dxs[k], (size_t)t->nins[k] * sizeof(float));
    for (int i = 0; i < t->ngrad; i++, o += (size_t)t->np[i - 1] * sizeof(float))
        memcpy(o, t->dp[i], (size_t)t->np[i] * sizeof(float));
    *len = n;
    return out;
}

/* y, state and gradients of a layer (inputs ins[0..n)) have the same bits on the caller's
 * thread and on pools of 1, 2 and 3 threads, and every output is written (the buffers start
 * as NaN); the sizes make each of the layer's loops split into several chunks. */
static void threads_case(const char *what, gc_layer_kind kind, gc_layer_params p, int n, const gc_shape *ins) {
    lt t;
    gc_status st = lt_make_n(&t, kind, p, n, ins);
    if (st) { FAILF("%s: %s", what, gc_last_error()); lt_free(&t); return; }
    if (kind == GC_LAYER_DIV) /* divisors away from 0 */
        for (int64_t e = 0; e < t.nins[1]; e++) t.xs[1][e] = (e % 2 ? -1.0f : 1.0f) * urand(0.5f, 1.5f);
    for (int64_t k = 0; k < t.nout; k++) t.dy[k] = urand(-1, 1);
    size_t len0, len;
    unsigned char *ref = lt_run_on(&t, NULL, &len0);
    if (!all_finite(t.y, t.nout)) FAILF("%s: y not fully written", what);
    for (int k = 0; k < t.n_in; k++)
        if (!all_finite(t.dxs[k], t.nins[k])) FAILF("%s: dx of input %d not fully written", what, k);
    for (int i = 0; i < t.ngrad; i++)
        if (!all_finite(t.dp[i], t.np[i])) FAILF("%s: d%s not fully written", what, t.suffix[i]);
    for (int threads = 1; threads <= 3; threads++) {
        gc_pool *pool = NULL;
        CHECK_OK(gc_pool_create(threads, &pool));
        unsigned char *out = lt_run_on(&t, pool, &len);
        if (len != len0 || memcmp(ref, out, len) != 0)
            FAILF("%s: %d thread(s) give other bits than the caller's thread alone", what, threads);
        free(out);
        gc_pool_free(pool);
    }
    free(ref);
    lt_free(&t);
}

TEST(results_do_not_depend_on_threads) {
    const gc_shape big = SH4(2, 16, 47, 47), gate = SH4(2, 16, 1, 1), planes = SH4(2, 16, 33, 33);
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.conv = conv_p(6, 10, 3, 3, 1, 1, 1, 2, 1);
    threads_case("conv2d", GC_LAYER_CONV2D, p, 1, (gc_shape[]){SH4(2, 6, 12, 12)});
    memset(&p, 0, sizeof p);
    threads_case("relu", GC_LAYER_RELU, p, 1, &big);
    p.act = gc_activation_defaults(GC_ACT_SILU);
    threads_case("silu", GC_LAYER_ACTIVATION, p, 1, &big);
    p.pool = pool_p(3, 3, 2, 2, 1, 1, 1, 0, 0);
    threads_case("maxpool2d 3x3/2", GC_LAYER_MAXPOOL2D, p, 1, &planes);
    p.pool = pool_p(3, 3, 1, 1, 1, 1, 2, 1, 0);
    threads_case("maxpool2d dilated", GC_LAYER_MAXPOOL2D, p, 1, &planes);
    p.pool = pool_p(3, 3, 2, 2, 1, 1, 1, 1, 1);
    threads_case("avgpool2d", GC_LAYER_AVGPOOL2D, p, 1, &planes);
    p.apool = (gc_adaptive_pool2d_params){1, 1};
    threads_case("adaptive_avgpool2d global", GC_LAYER_ADAPTIVE_AVGPOOL2D, p, 1, &big);
    p.apool = (gc_adaptive_pool2d_params){7, 7};
    threads_case("adaptive_avgpool2d 7x7", GC_LAYER_ADAPTIVE_AVGPOOL2D, p, 1, &planes);
    memset(&p, 0, sizeof p);
    threads_case("softmax", GC_LAYER_SOFTMAX, p, 1, (gc_shape[]){SH4(2, 8, 40, 40)});
    p.lrn = (gc_lrn_params){5, 0.5f, 0.75f, 2.0f};
    threads_case("lrn", GC_LAYER_LRN, p, 1, (gc_shape[]){SH4(2, 16, 24, 24)});
    p.bn = (gc_batchnorm2d_params){32, 1e-5f};
    threads_case("batchnorm2d", GC_LAYER_BATCHNORM2D, p, 1, (gc_shape[]){SH4(2, 32, 32, 32)});
    p.pad = (gc_pad_params){1, 2, 2, 1, 0.5f};
    threads_case("pad", GC_LAYER_PAD, p, 1, &big);
    memset(&p, 0, sizeof p);
    p.shuffle_groups = 4;
    threads_case("channel_shuffle", GC_LAYER_CHANNEL_SHUFFLE, p, 1, (gc_shape[]){SH4(2, 32, 33, 33)});
    memset(&p, 0, sizeof p);
    p.concat.axis = 1;
    threads_case("concat", GC_LAYER_CONCAT, p, 2, (gc_shape[]){SH4(2, 16, 48, 48), SH4(2, 8, 48, 48)});
    memset(&p, 0, sizeof p);
    threads_case("add", GC_LAYER_ADD, p, 2, (gc_shape[]){big, big});
    threads_case("mul gate", GC_LAYER_MUL, p, 2, (gc_shape[]){big, gate});
    threads_case("div gate first", GC_LAYER_DIV, p, 2, (gc_shape[]){big, gate});
    threads_case("sub both broadcast", GC_LAYER_SUB, p, 2, (gc_shape[]){SH4(2, 1, 48, 1), SH4(1, 16, 1, 48)});
}

/* Sigmoid and SiLU against double precision over every 256th float in [-120, 120] and the
 * infinities and NaN: within 3 ulp where the value is at least 1e-36 (below, an absolute error
 * under 1e-36); the portable, AVX2 and AVX-512 builds give the same bits (those this CPU runs). */
TEST(activation_sigmoid_silu_accuracy) {
    enum { BLOCK = 1 << 16 };
    static float x[BLOCK], y[3][BLOCK];
    const gc_gemm_tier tiers[3] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};
    int runs[3];
    for (int k = 0; k < 3; k++) runs[k] = gc_gemm_resolve(tiers[k]) == tiers[k];
    double worst[2] = {0, 0}, tiny[2] = {0, 0};
    int64_t checked = 0, differ = 0;
    for (int op = 0; op < 2; op++) {
        uint32_t bits = 0;
        for (int done = 0; !done;) {
            int n = 0;
            for (; n < BLOCK - 3 && !done; bits += 256) {
                float f;
                memcpy(&f, &bits, sizeof f);
                if (fabsf(f) <= 120.0f) x[n++] = f;
                done = bits >= 0xFFFFFF00u;
            }
            if (done) x[n++] = INFINITY, x[n++] = -INFINITY, x[n++] = NAN;
            gc_act_forward_portable(op, 0, 0, x, y[0], n);
            if (runs[1]) gc_act_forward_avx2(op, 0, 0, x, y[1], n);
            if (runs[2]) gc_act_forward_avx512(op, 0, 0, x, y[2], n);
            for (int k = 1; k < 3; k++)
                if (runs[k] && memcmp(y[0], y[k], (size_t)n * sizeof(float)) != 0) differ++;
            for (int i = 0; i < n; i++) {
                const double s = 1.0 / (1.0 + exp(-(double)x[i]));
                double want = op == GC_ACT_SIGMOID ? s : (double)x[i] * s;
                if (op == GC_ACT_SILU && x[i] == -INFINITY) want = NAN; /* -inf * 0, as PyTorch */
                const float got = y[0][i];
                checked++;
                if (isnan(want) || isinf(want)) {
                    if (!(isnan(want) ? isnan(got) : got == (float)want)) worst[op] = INFINITY;
                    continue;
                }
                if (fabs(want) < 1e-36) {
                    const double e = fabs((double)got - want);
                    if (!(e <= tiny[op])) tiny[op] = e;
                    continue;
                }
                const float w = fabsf((float)want);
                const double ulp = (double)nextafterf(w, INFINITY) - (double)w, e = fabs((double)got - want) / ulp;
                if (!(e <= worst[op])) worst[op] = e;
            }
        }
    }
    if (!(worst[0] <= 3.0 && worst[1] <= 3.0 && tiny[0] < 1e-36 && tiny[1] < 1e-36))
        FAILF("sigmoid %.2f ulp (%g below 1e-36), silu %.2f ulp (%g)", worst[0], tiny[0], worst[1], tiny[1]);
    CHECK(differ == 0 && checked > 1000000);
}

/* Every op's AVX2 forward and backward (sigmoid and SiLU written by hand, 64 elements a step,
 * then 8, then one by one) and in-place epilogue give the portable loops' bits at every length
 * 0..200 and
 * misaligned starts, on awkward values (signed zeros, infinities, NaNs, the exponential's clamp
 * bounds, huge and tiny magnitudes). */
TEST(activation_avx2_same_bits_every_length) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX2)) return;
    enum { N = 203 };
    static float x[N + 3], y[2][N + 3];
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 87.3f, -87.3f, 88.3f, -88.3f,
                             88.30001f, -88.30001f, 1e-40f, -1e-40f, 1e30f, -1e30f};
    for (int i = 0; i < N + 3; i++) {
        const uint32_t r = (uint32_t)(gc_rng_uniform(&rng) * 64.0);
        x[i] = r < 16 ? special[r] : r < 24 ? urand(-100, 100) : urand(-8, 8);
    }
    int differ = 0, cases = 0;
    for (int op = 0; op < GC_ACT_COUNT; op++) {
        const gc_activation_params p = gc_activation_defaults((gc_activation_op)op);
        for (int off = 0; off < 3; off++)
            for (int n = 0; n <= 200; n++) {
                gc_act_forward_portable(op, p.alpha, p.beta, x + off, y[0], n);
                gc_act_forward_avx2(op, p.alpha, p.beta, x + off, y[1] + off, n);
                differ += memcmp(y[0], y[1] + off, (size_t)n * sizeof(float)) != 0;
                memcpy(y[1] + off, x + off, (size_t)n * sizeof(float));
                gc_epi_act_avx2(op, p.alpha, p.beta, y[1] + off, n);
                differ += memcmp(y[0], y[1] + off, (size_t)n * sizeof(float)) != 0;
                /* backward, dy the values from the other end; a NaN's sign is not kept (the portable
                   build's own vector body and scalar tail give NaNs of either sign) */
                gc_act_backward_portable(op, p.alpha, p.beta, -3.0f, 3.0f, x + off, x + N - n, y[0], n);
                gc_act_backward_avx2(op, p.alpha, p.beta, -3.0f, 3.0f, x + off, x + N - n, y[1] + off, n);
                for (int i = 0; i < n; i++)
                    if (memcmp(&y[0][i], &y[1][off + i], sizeof(float)) && !(isnan(y[0][i]) && isnan(y[1][off + i]))) {
                        differ++;
                        break;
                    }
                cases += 3;
            }
    }
    if (differ) FAILF("%d of %d AVX2 activation runs differ from the portable bits", differ, cases);
}

int main(void) {
    gc_rng_seed(&rng, 20260521);
    if (gc_pool_create(3, &lt_pool) != GC_OK) {
        printf("cannot start the test's threads: %s\n", gc_last_error());
        return 1;
    }
    RUN(conv2d_forward_and_gradients);
    RUN(conv2d_backward_partial);
    RUN(maxpool2d_forward_and_gradients);
    RUN(maxpool2d_ties_first_wins);
    RUN(maxpool2d_nan_propagates);
    RUN(maxpool2d_values_only_same_bits);
    RUN(activation_avx2_same_bits_every_length);
    RUN(avgpool2d_forward_and_gradients);
    RUN(avgpool2d_divisor_by_hand);
    RUN(pool_one_cell_windows);
    RUN(adaptive_avgpool2d_forward_and_gradients);
    RUN(adaptive_avgpool2d_global_backward_bits);
    RUN(adaptive_avgpool2d_windows_by_hand);
    RUN(linear_forward_and_gradients);
    RUN(dropout_and_flatten_are_copies);
    RUN(softmax_forward_and_gradients);
    RUN(softmax_is_stable);
    RUN(lrn_forward_and_gradients);
    RUN(lrn_by_hand);
    RUN(batchnorm2d_forward_and_gradients);
    RUN(relu_rules_by_hand);
    RUN(relu_gradient);
    RUN(binary_broadcast_forward_and_gradients);
    RUN(binary_gradients_exact);
    RUN(add_mul_by_hand);
    RUN(sub_div_by_hand);
    RUN(div_by_zero_gives_inf_and_nan);
    RUN(concat_forward_and_gradients);
    RUN(activation_forward_and_gradients);
    RUN(activation_defaults_are_pytorchs);
    RUN(activation_kinks_by_hand);
    RUN(activation_extremes_are_finite);
    RUN(activation_sigmoid_silu_accuracy);
    RUN(constant_forward_and_gradient);
    RUN(constant_in_a_model);
    RUN(pad_forward_and_gradients);
    RUN(channel_shuffle_forward_and_gradients);
    RUN(channel_shuffle_by_hand);
    RUN(identity_is_a_copy);
    RUN(param_shapes_and_names);
    RUN(bad_hyper_parameters);
    RUN(bad_input_shapes);
    RUN(graph_kinds_bad_hyper_parameters);
    RUN(graph_kinds_bad_shapes);
    RUN(arity_refused_when_adding);
    RUN(results_do_not_depend_on_threads);
    gc_pool_free(lt_pool);
    return test_summary("layers");
}
