/* test_conv_fast.c - the fast convolution and linear paths (im2col + GEMM, 1x1 GEMM,
 * Winograd F(4x4,3x3), GEMM linear) against the reference loops of the same layer
 * (ctx.kernels = GC_KERNELS_REFERENCE), for every tier this CPU runs: forward, input
 * gradient, weight and bias gradients at awkward sizes; 1 vs 2 threads bit for bit;
 * a whole network with fast kernels against the reference kernels.
 *
 * Tolerances are relative to the size of the sums: |fast - ref| <= tol * S where
 * S = max over outputs of sum |terms| is bounded by (terms per output) * max|a| * max|b|
 * (inputs and weights uniform in [-1, 1], so S <= number of terms). GEMM paths: 1e-6
 * (float accumulation vs the reference's double; measured <= 1e-7). Winograd F(4,3):
 * 5e-6 (the transforms scale intermediate values by up to ~100 and cancel; measured
 * <= 5e-7, GC_TEST_VERBOSE=1 prints every error). */
#include "test.h"
#include "core/core.h"
#include "kernels/conv.h"
#include "kernels/winograd_internal.h"
#include "layers/layer.h"
#include "common/layer_slots.h"

static gc_rng rng;

static void fill(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * gc_rng_uniform(&rng) - 1.0f;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* ------------------------------------------------------------------ a layer under test */

typedef struct lt {
    gc_layer l;
    const gc_layer_ops *ops;
    gc_shape in, out;
    int64_t nin, nout, np[2];
    float *x, *dy;
    float *y[2], *dx[2], *dw[2], *db[2];   /* [0] reference, [1] fast */
    float *ws;
    gc_slots slots;   /* the workers' slots, as a session gives them (gc_layer_ctx.slots) */
} lt;

static void lt_free(lt *t) {
    free(t->x); free(t->dy); free(t->ws); free(t->slots.base);
    for (int i = 0; i < 2; i++) {
        free(t->y[i]); free(t->dx[i]); free(t->dw[i]); free(t->db[i]);
        free(t->l.param[i]);
    }
}

static int lt_make(lt *t, gc_layer_kind kind, gc_layer_params p, gc_shape in) {
    const char *suf[GC_MAX_PARAMS];
    memset(t, 0, sizeof *t);
    t->l.kind = kind;
    static int net_input = -1;
    t->l.inputs = &net_input;
    t->l.n_inputs = 1;
    t->l.p = p;
    t->ops = gc_layer_ops_of(kind);
    if (t->ops->check_params(&t->l) != GC_OK) return 0;
    t->l.n_params = t->ops->param_shapes(&t->l, t->l.param_shape, suf);
    for (int i = 0; i < t->l.n_params; i++) {
        t->np[i] = gc_shape_numel(&t->l.param_shape[i]);
        t->l.param[i] = malloc((size_t)t->np[i] * sizeof(float));
        fill(t->l.param[i], t->np[i]);
    }
    t->in = in;
    if (t->ops->infer(&t->l, &in, &t->out) != GC_OK) return 0;
    t->nin = gc_shape_numel(&t->in);
    t->nout = gc_shape_numel(&t->out);
    t->x = malloc((size_t)t->nin * sizeof(float));
    t->dy = malloc((size_t)t->nout * sizeof(float));
    fill(t->x, t->nin);
    fill(t->dy, t->nout);
    for (int i = 0; i < 2; i++) {
        t->y[i] = malloc((size_t)t->nout * sizeof(float));
        t->dx[i] = malloc((size_t)t->nin * sizeof(float));
        t->dw[i] = malloc((size_t)(t->np[0] ? t->np[0] : 1) * sizeof(float));
        t->db[i] = malloc((size_t)(t->np[1] ? t->np[1] : 1) * sizeof(float));
    }
    size_t ws = t->ops->workspace(&t->l, &t->in, &t->out);
    t->ws = gc_alloc_array(ws + 1, sizeof(float));
    if (!test_layer_slots(t->ops, &t->l, &t->in, &t->out, &t->slots)) return 0;
    return t->ws != NULL;
}

/* Forward and full backward into slot i (outputs pre-filled with NaN: they must be
 * overwritten, never read). */
static gc_pool *lt_pool; /* the threads lt_run gives the layer (2, or what a test sets) */
static int lt_accurate;  /* gc_layer_ctx.accurate for lt_run */

static void lt_run(lt *t, int i, gc_kernels k, int do_dw) {
    gc_layer_ctx c;
    for (int64_t j = 0; j < t->nout; j++) t->y[i][j] = NAN;
    for (int64_t j = 0; j < t->nin; j++) t->dx[i][j] = NAN;
    for (int64_t j = 0; j < t->np[0]; j++) t->dw[i][j] = NAN;
    for (int64_t j = 0; j < t->np[1]; j++) t->db[i][j] = NAN;
    memset(&c, 0, sizeof c);
    c.layer = &t->l;
    c.in = t->in;
    c.out = t->out;
    c.x = t->x;
    c.param = (const float *const *)t->l.param;
    c.y = t->y[i];
    c.ws = t->ws;
    c.slots = t->slots;
    c.kernels = k;
    c.accurate = lt_accurate;
    c.pool = lt_pool;
    t->ops->forward(&c);
    c.dy = t->dy;
    c.dx = t->dx[i];
    c.dparam[0] = do_dw ? t->dw[i] : NULL;
    c.dparam[1] = t->l.n_params > 1 ? t->db[i] : NULL;
    t->ops->backward(&c);
}

static const gc_kernels tiers[] = {GC_KERNELS_PORTABLE, GC_KERNELS_AVX2, GC_KERNELS_AVX512};

/* Tier k against the reference; terms per output: forward kf, dx kx, dw kw, db kb. */
static void compare(lt *t, gc_kernels k, const char *what, double tol_y, double tol_dx, int64_t kf,
                    int64_t kx, int64_t kw, int64_t kb, int do_dw) {
    lt_run(t, 1, k, do_dw);
    double ey = max_abs_diff(t->y[1], t->y[0], t->nout) / (double)(kf + 1);
    double ex = max_abs_diff(t->dx[1], t->dx[0], t->nin) / (double)kx;
    double ew = do_dw ? max_abs_diff(t->dw[1], t->dw[0], t->np[0]) / (double)kw : 0;
    double eb = t->l.n_params > 1 ? max_abs_diff(t->db[1], t->db[0], t->np[1]) / (double)kb : 0;
    if (getenv("GC_TEST_VERBOSE"))
        printf("  %-34s %-8s y %.1e dx %.1e dw %.1e db %.1e\n", what, gc_gemm_tier_name((gc_gemm_tier)k), ey, ex, ew, eb);
    if (!(ey <= tol_y)) FAILF("%s %s: forward error %g > %g", what, gc_gemm_tier_name((gc_gemm_tier)k), ey, tol_y);
    if (!(ex <= tol_dx)) FAILF("%s %s: dx error %g > %g", what, gc_gemm_tier_name((gc_gemm_tier)k), ex, tol_dx);
    if (!(ew <= 1e-6)) FAILF("%s %s: dw error %g", what, gc_gemm_tier_name((gc_gemm_tier)k), ew);
    if (!(eb <= 1e-6)) FAILF("%s %s: db error %g", what, gc_gemm_tier_name((gc_gemm_tier)k), eb);
}

/* ------------------------------------------------------------------ convolution cases */

typedef struct cc {
    int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, g;
    int bias;
} cc;

/* 4x4 output tiles in the batch (conv2d.c's wino_ok counts the same). */
static int64_t wino_tiles(const cc *k) {
    return k->n * ((k->h + 2 * k->ph - 2 + 3) / 4) * ((k->w + 2 * k->pw - 2 + 3) / 4);
}

/* Winograd on some tier (4 to 8 tiles with 512 x 512 filters and more: the AVX2 forward only). */
static int is_wino(const cc *k) {
    return k->kh == 3 && k->kw == 3 && k->sh == 1 && k->sw == 1 && k->dh == 1 && k->dw == 1 && k->g == 1 &&
           k->c >= 8 && k->o >= 8 && (wino_tiles(k) >= 9 || (wino_tiles(k) >= 4 && k->c * k->o >= 262144)) &&
           (wino_tiles(k) >= 64 || k->c * k->o >= 16384);
}

/* all_tiers: every available tier, else the best only; do_dw: also weight gradients. */
/* The layer parameters of case k. */
static gc_layer_params conv_params(const cc *k) {
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.conv = (gc_conv2d_params){k->c, k->o, k->kh, k->kw, k->sh, k->sw, k->ph, k->pw, k->dh, k->dw, k->g, k->bias};
    return p;
}

static void conv_case(const cc *k, int all_tiers, int do_dw) {
    const gc_layer_params p = conv_params(k);
    lt t;
    char what[96];
    snprintf(what, sizeof what, "%lldx%lldx%lldx%lld o%lld k%lldx%lld s%lld p%lld d%lld g%lld",
             (long long)k->n, (long long)k->c, (long long)k->h, (long long)k->w, (long long)k->o, (long long)k->kh,
             (long long)k->kw, (long long)k->sh, (long long)k->ph, (long long)k->dh, (long long)k->g);
    if (!lt_make(&t, GC_LAYER_CONV2D, p, (gc_shape){4, {k->n, k->c, k->h, k->w}})) {
        FAILF("%s: cannot make the layer: %s", what, gc_last_error());
        lt_free(&t);
        return;
    }
    lt_run(&t, 0, GC_KERNELS_REFERENCE, do_dw);
    const int64_t cg = k->c / k->g, og = k->o / k->g;
    const int64_t kf = cg * k->kh * k->kw, kx = og * k->kh * k->kw, kw = k->n * t.out.d[2] * t.out.d[3];
    const int wino = is_wino(k), few = wino_tiles(k) < 9;   /* few tiles: the forward only */
    const double ty = wino ? 5e-6 : 1e-6, tx = wino && !few && k->ph <= 2 && k->pw <= 2 ? 5e-6 : 1e-6;
    for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
        if (!gc_gemm_tier_available((gc_gemm_tier)tiers[i])) continue;
        if (!all_tiers && tiers[i] != (gc_kernels)gc_gemm_best_tier()) continue;
        compare(&t, tiers[i], what, ty, tx, kf, kx, kw, kw, do_dw);
    }
    lt_free(&t);
}

/*            n   c   h   w   o  kh kw sh sw ph pw dh dw  g bias */
static const cc cases[] = {
    {2, 3, 13, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      /* 3x3 with 3 channels: im2col */
    {1, 17, 11, 9, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* Winograd, borders (11, 9 not 4k) */
    {2, 16, 10, 7, 9, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},      /* Winograd, no padding, batch 2 */
    {1, 9, 7, 13, 12, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0},      /* Winograd, pad 2 */
    {1, 8, 6, 5, 8, 3, 3, 1, 1, 3, 1, 1, 1, 1, 1},        /* Winograd forward, pad 3: im2col dx */
    {1, 10, 3, 3, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      /* Winograd, one partial tile */
    {2, 5, 15, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     /* stride 2 */
    {1, 6, 14, 12, 7, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1},      /* dilation 2 */
    {2, 6, 9, 11, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},      /* groups 2 */
    {1, 8, 10, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, 1},       /* depthwise */
    {2, 24, 29, 31, 24, 3, 3, 2, 2, 1, 1, 1, 1, 24, 1},   /* depthwise stride 2 (MobileNet) */
    {1, 16, 15, 14, 16, 5, 5, 1, 1, 2, 2, 1, 1, 16, 0},   /* depthwise 5x5 (EfficientNet) */
    {1, 8, 17, 13, 24, 3, 3, 2, 1, 1, 0, 2, 1, 8, 1},     /* depth multiplier 3, dilation 2x1, stride 2x1 */
    {1, 12, 9, 9, 12, 7, 7, 1, 1, 3, 3, 1, 1, 12, 1},     /* depthwise 7x7 */
    {1, 6, 4, 5, 6, 3, 3, 2, 2, 2, 2, 1, 1, 6, 1},        /* depthwise, padding = kernel - 1, stride 2 */
    {1, 4, 9, 9, 8, 3, 3, 2, 1, 1, 0, 1, 1, 4, 1},        /* depth multiplier 2, stride 2x1 */
    {1, 5, 37, 70, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 1},      /* depthwise 3x3: 4-row blocks + 1, 32-column steps + 6 */
    {2, 6, 67, 66, 6, 3, 3, 2, 2, 1, 1, 1, 1, 6, 1},      /* depthwise 3x3 s2, split columns: OW 33 (1 left) */
    {1, 4, 21, 41, 4, 3, 3, 2, 2, 0, 0, 1, 1, 4, 1},      /* depthwise 3x3 s2, no padding, odd width */
    {1, 4, 12, 38, 4, 3, 3, 2, 2, 2, 2, 1, 1, 4, 0},      /* depthwise 3x3 s2, even padding */
    {1, 4, 30, 35, 4, 5, 5, 2, 2, 2, 2, 1, 1, 4, 0},      /* depthwise 5x5 s2 (EfficientNet), OW 18 */
    {1, 3, 23, 46, 3, 5, 5, 1, 1, 2, 2, 1, 1, 3, 1},      /* depthwise 5x5 s1, OW 46 */
    {2, 33, 7, 9, 17, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},      /* 1x1: GEMM on the input */
    {1, 12, 8, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 3, 0},       /* 1x1 groups 3 */
    {1, 7, 9, 8, 5, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1},        /* 1x1 stride 2 pad 1 */
    {1, 5, 17, 19, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},      /* 5x5 */
    {1, 3, 35, 37, 8, 11, 11, 4, 4, 2, 2, 1, 1, 1, 1},    /* AlexNet conv1 shape, small: space to depth */
    {2, 3, 29, 31, 10, 7, 7, 2, 2, 3, 3, 1, 1, 1, 1},     /* ResNet stem 7x7/2: space to depth */
    {1, 4, 19, 23, 6, 7, 5, 2, 1, 2, 1, 1, 1, 1, 0},      /* 7x5 kernel, stride 2x1: space to depth */
    {1, 2, 21, 22, 5, 4, 4, 4, 4, 0, 0, 1, 1, 1, 1},      /* 4x4/4 patches, sizes not multiples of 4 */
    {2, 3, 9, 10, 4, 2, 3, 2, 1, 0, 1, 1, 2, 1, 1},       /* 2x3 kernel, mixed stride/dilation */
    {1, 4, 5, 5, 3, 3, 3, 1, 1, 4, 4, 1, 1, 1, 1},        /* padding larger than the kernel */
    {1, 130, 6, 5, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* 3x3 s1, few tiles, big filters: im2col */
    {1, 512, 6, 5, 512, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* 4 partial tiles, 512 x 512: Winograd on AVX2 */
    {1, 130, 23, 22, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* Winograd: 36 tiles, C = 128 + 2, O = 4 * 32 + 2 */
    {2, 64, 17, 19, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* Winograd: 50 tiles over two images, O = 2 * 32 */
    {3, 24, 11, 9, 200, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* Winograd, batch 3: 27 tiles, C = 16 + 8, O = 6 * 32 + 8 */
    {1, 40, 14, 15, 103, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0},   /* Winograd, no padding, no bias, odd O */
    {1, 128, 14, 14, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* Winograd, 16 tiles (ResNet layer3): 16-row panels */
    {2, 128, 12, 18, 136, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},  /* Winograd, 30 tiles: two 16-row panels, one partial */
    {3, 8, 60, 58, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* Winograd by tiles: 675 tiles in 4 chunks of 169, */
                                                          /* chunks start mid-row and mid-image; O = 32 + 8 */
};

TEST(conv_all_tiers_vs_reference) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_case(&cases[i], 1, 1);
}

/* K = 576 rows: the column tile holds 1820 of 2304 pixels, so the second tile starts
 * mid-row; dilation 2 keeps it off the Winograd path. */
TEST(conv_im2col_several_tiles) {
    const cc k = {1, 64, 48, 48, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1};
    conv_case(&k, 0, 1);
}

/* C = 2048: Winograd takes 42 of the 50 tiles per chunk (V^T of a chunk
 * <= 12 MB), so the second chunk starts mid-image; 9 output channels of a 32-channel chunk. */
TEST(winograd_several_chunks) {
    const cc k = {2, 2048, 20, 20, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    conv_case(&k, 0, 0);
}

/* The cases above marked "by tiles" take that schedule (winograd_internal.h), forward and
 * input gradient; VGG-16's first two blocks do at batch 1, its conv4 layers replicate V^T,
 * conv3_2 shares it; the thread-count test covers all three. */
TEST(winograd_schedules) {
    wg_plan q;
    const gc_winograd f = {3, 8, 60, 58, 40, 60, 58, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL}, b = {3, 40, 60, 58, 8, 60, 58, 1, 1, 1, 0, 0, 0, NULL, {0}, NULL};
    CHECK(!wg_plan_make(&f, 14, &q) && q.by_tiles && q.nt == 4 && q.np == 49 && q.Tc == 13 * 14);
    CHECK(!wg_plan_make(&b, 14, &q) && q.by_tiles && q.nt == 4);
    const gc_winograd conv1_2 = {1, 64, 224, 224, 64, 224, 224, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL}, conv2_2 = {1, 128, 112, 112, 128, 112, 112, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    const gc_winograd conv4_2 = {1, 512, 28, 28, 512, 28, 28, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    CHECK(!wg_plan_make(&conv1_2, 14, &q) && q.by_tiles);
    CHECK(!wg_plan_make(&conv2_2, 14, &q) && q.by_tiles);
    CHECK(!wg_plan_make(&conv4_2, 14, &q) && !q.by_tiles && q.replicated);
    const gc_winograd conv3_2 = {1, 256, 56, 56, 256, 56, 56, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL}, five = {1, 40, 30, 30, 136, 30, 30, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    CHECK(!wg_plan_make(&conv3_2, 14, &q) && !q.by_tiles && !q.replicated);
    CHECK(!wg_plan_make(&five, 14, &q) && !q.by_tiles && q.replicated);
    const gc_winograd shared = {1, 256, 52, 52, 40, 52, 52, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    CHECK(!wg_plan_make(&shared, 14, &q) && !q.by_tiles && !q.replicated);
}

/* By tiles, the chunks are whole panels of the micro-kernel's rows, at most the V^T budget's
 * tiles, in equal shares of the workers: VGG-16's conv4_2 at batch 8 (392 tiles, 56 a chunk at
 * most: 7 chunks left one of two workers idle for an eighth of the call) runs 8 chunks of 3 or
 * 4 panels of 14, 14 panels a worker; the chunks cover the tiles once, in order. */
TEST(winograd_chunks_per_worker) {
    float slot;
    gc_winograd c = {8, 512, 28, 28, 512, 28, 28, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    wg_plan q;
    CHECK(!wg_plan_make(&c, 14, &q) && q.by_tiles && q.nt == 7 && q.Tc == 56);
    const size_t v1 = q.v;
    const struct { int nw, mr; int64_t nt; } k[] = {{2, 14, 8}, {4, 14, 8}, {3, 6, 9}, {3, 16, 9}};
    for (int i = 0; i < 4; i++) {
        c.slots = (gc_slots){&slot, 0, k[i].nw};
        if (wg_plan_make(&c, k[i].mr, &q) || !q.by_tiles || q.nt != k[i].nt || q.v > v1 || q.Tc > 56 + 15) {
            FAILF("%d workers, mr %d: %lld chunks of %lld tiles", k[i].nw, k[i].mr, (long long)q.nt, (long long)q.Tc);
            continue;
        }
        const int64_t per = q.nt / k[i].nw;
        int64_t next = 0;
        for (int64_t ci = 0; ci < q.nt; ci++) {
            int64_t t0, tc;
            wg_chunk(&q, k[i].mr, ci, &t0, &tc);
            CHECK(t0 == next && t0 % k[i].mr == 0 && tc > 0 && tc <= q.Tc && (t0 + tc == q.T || tc % k[i].mr == 0));
            if (ci % per == 0) { /* a worker's share: the same panels within one */
                int64_t e, ec;
                wg_chunk(&q, k[i].mr, ci + per - 1, &e, &ec);
                const int64_t panels = (e + ec - t0 + k[i].mr - 1) / k[i].mr;
                CHECK(panels >= q.np / k[i].nw && panels <= (q.np + k[i].nw - 1) / k[i].nw);
            }
            next = t0 + tc;
        }
        CHECK(next == q.T);
    }
}

/* The workers' slots a session gives (one block, the same addresses for every layer) hold
 * what the slots carved from the workspace held: the same bits, for each schedule (by tiles,
 * replicated V^T, shared V^T), forward and flipped, with as many slots as threads and more. */
static void winograd_slots_case(const gc_winograd *p0, const char *what) {
    gc_winograd p = *p0;
    const int64_t nx = p.N * p.C * p.H * p.W, ny = p.N * p.O * p.OH * p.OW, nw = p.O * p.C * 9;
    float *x = gc_alloc_array((size_t)nx, sizeof(float)), *w = gc_alloc_array((size_t)nw, sizeof(float));
    float *b = gc_alloc_array((size_t)p.O, sizeof(float));
    float *y0 = gc_alloc_array((size_t)ny, sizeof(float)), *y1 = gc_alloc_array((size_t)ny, sizeof(float));
    const size_t wc = gc_winograd_workspace(&p), sh = gc_winograd_shared_floats(&p);
    const size_t stride = (gc_winograd_slot_floats(&p) + 15) & ~(size_t)15;
    float *ws = gc_alloc_array(wc + 1, sizeof(float)), *slots = gc_alloc_array(stride * 4 + 1, sizeof(float));
    if (!x || !w || !b || !y0 || !y1 || !ws || !slots || wc == SIZE_MAX || sh == SIZE_MAX || !stride) {
        FAILF("%s: cannot set up", what);
    } else {
        fill(x, nx), fill(w, nw), fill(b, p.O);
        for (int n = 2; n <= 4; n += 2) {
            for (int64_t i = 0; i < ny; i++) y0[i] = y1[i] = NAN;
            p.slots = (gc_slots){0};
            gc_winograd_run(lt_pool, GC_GEMM_AVX512, &p, x, w, b, y0, ws);
            p.slots = (gc_slots){slots, stride, n};
            gc_winograd_run(lt_pool, GC_GEMM_AVX512, &p, x, w, b, y1, ws); /* ws: only sh floats read */
            if (memcmp(y0, y1, (size_t)ny * sizeof(float)))
                FAILF("%s, %d slots: outputs differ from the carved slots'", what, n);
        }
        CHECK(sh < wc);
    }
    free(x), free(w), free(b), free(y0), free(y1), free(ws), free(slots);
}

TEST(winograd_session_slots) {
    const gc_winograd tiles = {3, 8, 60, 58, 40, 60, 58, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    const gc_winograd tiles_flip = {3, 40, 60, 58, 8, 60, 58, 1, 1, 1, 0, 0, 0, NULL, {0}, NULL};
    const gc_winograd replicated = {1, 40, 30, 30, 136, 30, 30, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    const gc_winograd shared = {1, 256, 52, 52, 40, 52, 52, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    const gc_winograd kept = {4, 256, 40, 40, 72, 40, 40, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};     /* by tiles, U^T kept */
    const gc_winograd chunks = {3, 2048, 14, 14, 40, 14, 14, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL}; /* shared, U^T kept */
    const gc_winograd rounds = {6, 256, 36, 36, 40, 36, 36, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};  /* by tiles: 5 chunks, 6 or 8 with slots */
    wg_plan q;
    CHECK(!wg_plan_make(&kept, 14, &q) && q.by_tiles && q.uall);
    CHECK(!wg_plan_make(&chunks, 14, &q) && !q.by_tiles && q.uall && q.T > q.Tc);
    CHECK(!wg_plan_make(&tiles, 14, &q) && q.by_tiles && !q.uall);
    CHECK(!wg_plan_make(&replicated, 14, &q) && !q.by_tiles && q.replicated);
    CHECK(!wg_plan_make(&shared, 14, &q) && !q.by_tiles && !q.replicated);
    winograd_slots_case(&tiles, "by tiles");
    winograd_slots_case(&tiles_flip, "by tiles, flipped");
    winograd_slots_case(&replicated, "replicated");
    winograd_slots_case(&shared, "shared V^T");
    winograd_slots_case(&kept, "by tiles, U^T kept");
    winograd_slots_case(&chunks, "shared V^T, two chunks, U^T kept");
    CHECK(!wg_plan_make(&rounds, 14, &q) && q.by_tiles && q.nt == 5);
    winograd_slots_case(&rounds, "by tiles, the workers' shares of chunks");
}

/* Weights transformed once (gc_winograd_weights, a session's prepare) give the bits of the
 * weights transformed in the call, for every tier this CPU runs and each schedule: C not a
 * multiple of WG_CB, O not a multiple of WG_OCH, few tiles (AVX-512: the 16x16 kernel), by
 * tiles with and without U^T kept, replicated and shared V^T, several tile chunks, flipped;
 * with the smaller scratch the call then needs (allocated to the float, so the sanitizers see
 * an overrun) and the session's slots. */
static void winograd_prepared_case(const gc_winograd *p0, const char *what) {
    const gc_gemm_tier tiers[3] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};
    gc_winograd p = *p0;
    const int64_t nx = p.N * p.C * p.H * p.W, ny = p.N * p.O * p.OH * p.OW, nw = p.O * p.C * 9;
    float *x = gc_alloc_array((size_t)nx, sizeof(float)), *w = gc_alloc_array((size_t)nw, sizeof(float));
    float *b = gc_alloc_array((size_t)p.O, sizeof(float));
    float *y0 = gc_alloc_array((size_t)ny, sizeof(float)), *y1 = gc_alloc_array((size_t)ny, sizeof(float));
    const size_t wc = gc_winograd_workspace(&p), stride = (gc_winograd_slot_floats(&p) + 15) & ~(size_t)15;
    float *ws = gc_alloc_array(wc, sizeof(float)), *slots = gc_alloc_array(stride * 2, sizeof(float));
    if (!x || !w || !b || !y0 || !y1 || !ws || !slots || wc == SIZE_MAX) {
        FAILF("%s: cannot set up", what);
        goto done;
    }
    fill(x, nx), fill(w, nw), fill(b, p.O);
    for (int t = 0; t < 3; t++) {
        if (!gc_gemm_tier_available(tiers[t])) continue;
        const size_t nu = gc_winograd_weights_floats(tiers[t], &p);
        float *U = gc_alloc_array(nu, sizeof(float));
        gc_winograd pu = p;
        pu.U = U;
        const size_t wu = gc_winograd_workspace(&pu);
        float *wsu = gc_alloc_array(wu, sizeof(float));
        if (!nu || !U || !wsu || wu > wc) {
            FAILF("%s, tier %d: %zu floats of U^T, scratch %zu of %zu", what, t, nu, wu, wc);
        } else {
            for (size_t i = 0; i < nu; i++) U[i] = NAN;          /* every float read is written */
            gc_winograd_weights(lt_pool, tiers[t], &pu, w, U);
            for (int s = 0; s < 2; s++) {
                pu.slots = p.slots = s ? (gc_slots){slots, stride, 2} : (gc_slots){0};
                for (int64_t i = 0; i < ny; i++) y0[i] = y1[i] = NAN;
                gc_winograd_run(lt_pool, tiers[t], &p, x, w, b, y0, ws);
                gc_winograd_run(lt_pool, tiers[t], &pu, x, NULL, b, y1, wsu);
                if (memcmp(y0, y1, (size_t)ny * sizeof(float)))
                    FAILF("%s, tier %d%s: outputs differ with the weights transformed once", what, t, s ? ", slots" : "");
            }
            p.slots = (gc_slots){0};
        }
        free(U), free(wsu);
    }
done:
    free(x), free(w), free(b), free(y0), free(y1), free(ws), free(slots);
}

TEST(winograd_prepared_weights) {
    const gc_winograd cases[] = {
        {1, 200, 20, 20, 40, 20, 20, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},      /* C, O not whole blocks */
        {1, 64, 16, 16, 72, 16, 16, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},       /* few tiles: 16 */
        {1, 256, 14, 14, 256, 14, 14, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},     /* ResNet-50's layer3 */
        {3, 8, 60, 58, 40, 60, 58, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},        /* by tiles */
        {3, 40, 60, 58, 8, 60, 58, 1, 1, 1, 0, 0, 0, NULL, {0}, NULL},        /* by tiles, flipped */
        {4, 256, 40, 40, 72, 40, 40, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},      /* by tiles, U^T kept */
        {1, 64, 56, 56, 64, 56, 56, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},       /* one chunk, by tiles with U and slots */
        {1, 128, 28, 28, 128, 28, 28, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},     /* the same, 49 tiles (ResNet-50's layer2) */
        {1, 40, 30, 30, 136, 30, 30, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},      /* replicated */
        {1, 256, 52, 52, 40, 52, 52, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},      /* shared V^T */
        {3, 2048, 14, 14, 40, 14, 14, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},     /* shared, two chunks, U^T kept */
        {1, 136, 7, 7, 40, 7, 7, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},         /* 4 tiles (AVX2: the 4x16 kernel) */
        {1, 24, 10, 9, 40, 10, 9, 1, 1, 1, 0, 0, 0, NULL, {0}, NULL},        /* 9 tiles, flipped */
    };
    wg_plan q;
    CHECK(!wg_plan_make(&cases[3], 14, &q) && q.by_tiles && !q.uall);
    CHECK(!wg_plan_make(&cases[5], 14, &q) && q.by_tiles && q.uall);
    CHECK(!wg_plan_make(&cases[8], 14, &q) && !q.by_tiles && q.replicated);
    CHECK(!wg_plan_make(&cases[9], 14, &q) && !q.by_tiles && !q.replicated);
    CHECK(!wg_plan_make(&cases[10], 14, &q) && q.uall && q.T > q.Tc);
    for (int i = 6; i <= 9; i++) { /* one chunk: replicated, by tiles with U and two workers' slots where the replicated V^T holds */
        float dummy = 0.0f;
        gc_winograd pu = cases[i];
        CHECK(!wg_plan_make(&pu, 14, &q) && !q.by_tiles);
        pu.U = &dummy;
        pu.slots = (gc_slots){&dummy, 1, 2};
        CHECK(!wg_plan_make(&pu, 14, &q) && q.by_tiles == (i <= 8) && (i > 8 || q.nt == 2));
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        winograd_prepared_case(&cases[i], what);
    }
}

/* The layer: a Winograd forward in a layer whose backward never runs (forward_only) reads the
 * weights its prepare() transformed, with the same bits as a forward that transforms them (and
 * with a fused ReLU and its bits); a layer whose backward runs keeps no transformed weights
 * (their memory; conv2d.c). ResNet-50's layer3 and layer1 shapes, every tier. */
TEST(winograd_prepared_layer) {
    const cc ks[] = {{1, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0}, {1, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},
                     {1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0}, {2, 64, 56, 56, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        const cc *k = &ks[i];
        const gc_layer_params p = conv_params(k);
        lt t;
        if (!is_wino(k) || !lt_make(&t, GC_LAYER_CONV2D, p, (gc_shape){4, {k->n, k->c, k->h, k->w}})) {
            FAILF("case %zu: cannot make the layer", i);
            lt_free(&t);
            continue;
        }
        uint64_t *bits[2];
        const int64_t tiles = k->n * k->o * ((t.out.d[2] + 3) / 4) * ((t.out.d[3] + 3) / 4);
        const size_t nbits = (size_t)(1 + (tiles + 3) / 4);   /* the layout word, a uint16 per tile */
        bits[0] = calloc(nbits, sizeof(uint64_t)), bits[1] = calloc(nbits, sizeof(uint64_t));
        for (size_t ti = 0; ti < sizeof tiers / sizeof tiers[0] && bits[0] && bits[1]; ti++) {
            if (!gc_gemm_tier_available((gc_gemm_tier)tiers[ti])) continue;
            gc_layer_ctx c;
            memset(&c, 0, sizeof c);
            c.layer = &t.l, c.in = t.in, c.out = t.out, c.x = t.x, c.param = (const float *const *)t.l.param;
            c.ws = t.ws, c.slots = t.slots, c.kernels = tiers[ti], c.pool = lt_pool;
            CHECK(t.ops->prepared_floats(&c) == 0);                  /* backward runs: nothing kept */
            c.forward_only = 1;
            const size_t nu = t.ops->prepared_floats(&c);
            float *prep = gc_alloc_array(nu ? nu : 1, sizeof(float));
            if (!nu || !prep) {
                FAILF("case %zu, %s: %zu prepared floats", i, gc_gemm_tier_name((gc_gemm_tier)tiers[ti]), nu);
                free(prep);
                continue;
            }
            t.ops->prepare(&c, prep);
            for (int relu = 0; relu < 2; relu++)
                for (int j = 0; j < 2; j++) {
                    for (int64_t e = 0; e < t.nout; e++) t.y[j][e] = NAN;
                    memset(bits[j], 0, nbits * sizeof(uint64_t));
                    c.prep = j ? prep : NULL;
                    c.y = t.y[j];
                    c.epi = (gc_epilogue){0};
                    if (relu) c.epi.op = GC_EPI_RELU, c.epi.mask = bits[j];
                    t.ops->forward(&c);
                }
            if (memcmp(t.y[0], t.y[1], (size_t)t.nout * sizeof(float)) || memcmp(bits[0], bits[1], nbits * sizeof(uint64_t)))
                FAILF("case %zu, %s: the prepared weights change the forward", i, gc_gemm_tier_name((gc_gemm_tier)tiers[ti]));
            free(prep);
        }
        free(bits[0]), free(bits[1]);
        lt_free(&t);
    }
}



/* The AVX2 Winograd kernels (winograd_avx2.c: the 4x16 of few-tile products and the 6x16 that
 * fetches U^T ahead) give the bits of the tier's 6x16 GEMM kernel on the same rows: every row
 * count, full and ragged columns, beta 0 and 1, with and without bias, k not a multiple of
 * anything. */
TEST(winograd_avx2_kernels_same_bits) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX2)) return;
    enum { K = 37, LDC = 40 };
    float a4[K * 4], a6[K * 6], b[K * 16], bias[6], c0[6 * LDC], c1[6 * LDC], c2[6 * LDC], cinit[6 * LDC];
    fill(a6, K * 6), fill(b, K * 16), fill(bias, 6), fill(cinit, 6 * LDC);
    for (int p = 0; p < K; p++)
        for (int i = 0; i < 4; i++) a4[p * 4 + i] = a6[p * 6 + i];
    for (int m = 1; m <= 6; m++)
        for (int n = 1; n <= 16; n += (n == 1 ? 6 : n == 7 ? 9 : 1))   /* 1, 7, 16 */
            for (int v = 0; v < 4; v++) {
                const float beta = v & 1 ? 1.0f : 0.0f;
                const float *bi = v & 2 ? bias : NULL;
                memcpy(c0, cinit, sizeof c0), memcpy(c1, cinit, sizeof c1), memcpy(c2, cinit, sizeof c2);
                gc_gemm_ukernel_avx2_6x16(K, a6, b, c0, LDC, 1.0f, beta, m, n, bi);
                gc_wg_ukernel_avx2_6x16(K, a6, b, c1, LDC, 1.0f, beta, m, n, bi);
                if (memcmp(c0, c1, sizeof c0)) FAILF("6x16, m %d, n %d, beta %g%s: outputs differ", m, n, beta, bi ? ", bias" : "");
                if (m > 4) continue;
                gc_wg_ukernel_avx2_4x16(K, a4, b, c2, LDC, 1.0f, beta, m, n, bi);   /* rows m.. not stored */
                if (memcmp(c0, c2, sizeof c0)) FAILF("4x16, m %d, n %d, beta %g%s: outputs differ", m, n, beta, bi ? ", bias" : "");
            }
}
/* The AVX2 build's own transforms (winograd_avx2.c: 8 lanes of __m256, not winograd_tx.h's
 * 16-lane GNU vectors) write the bits of the portable ones: V^T for tile chunks starting
 * mid-row and ending mid-panel, for the AVX2 kernel's 6-row panels and 16-row ones, at borders
 * (padding 0, 1, 2; widths with 1 to 17 tile columns, whole 68-float windows inside the row);
 * U^T, plain and flipped; the outputs with each fused activation (and a ReLU's bits), O not a
 * multiple of 8. Every float the portable ones leave is left (NaN both). */
static void wg_tx_avx2_case(const gc_winograd *p0, int mr, const char *what) {
    gc_winograd p = *p0;
    wg_plan q;
    if (wg_plan_make(&p, mr, &q)) {
        FAILF("%s: no plan", what);
        return;
    }
    const int64_t nx = p.N * p.C * p.H * p.W, ny = p.N * p.O * p.OH * p.OW, nw = p.O * p.C * 9;
    const int64_t TT = q.TH * q.TW, nbits = p.N * p.O * TT;
    const int64_t chunks[3][2] = {{0, q.T}, {q.T / 3, q.T - q.T / 3 - (q.T > 4 ? 1 : 0)}, {q.T - 1, 1}};
    const int64_t cb = p.C < WG_CB ? p.C : WG_CB;
    const size_t na = (size_t)(36 * wg_xsa(q.T, mr, p.C)), nm = (size_t)(36 * wg_xsm(q.T)), nu = (size_t)(36 * wg_xsb(cb));
    float *x = malloc((size_t)nx * sizeof(float)), *w = malloc((size_t)nw * sizeof(float)), *b = malloc((size_t)p.O * sizeof(float));
    float *a0 = malloc(na * sizeof(float)), *a1 = malloc(na * sizeof(float)), *m = malloc(nm * sizeof(float));
    float *u0 = malloc(nu * sizeof(float)), *u1 = malloc(nu * sizeof(float));
    float *y0 = malloc((size_t)ny * sizeof(float)), *y1 = malloc((size_t)ny * sizeof(float));
    uint16_t *bits0 = calloc((size_t)nbits, sizeof(uint16_t)), *bits1 = calloc((size_t)nbits, sizeof(uint16_t));
    if (!x || !w || !b || !a0 || !a1 || !m || !u0 || !u1 || !y0 || !y1 || !bits0 || !bits1) {
        FAILF("%s: out of memory", what);
        goto done;
    }
    fill(x, nx), fill(w, nw), fill(b, p.O);
    for (int k = 0; k < 3; k++) {
        const int64_t t0 = chunks[k][0], tc = chunks[k][1], items = p.C * seg_count(&q, t0, tc);
        for (size_t i = 0; i < na; i++) a0[i] = a1[i] = NAN;
        gc_wg_tx_portable.input(&p, &q, x, t0, tc, mr, a0, 0, items);
        gc_wg_tx_avx2.input(&p, &q, x, t0, tc, mr, a1, 0, items / 2);   /* two item ranges */
        gc_wg_tx_avx2.input(&p, &q, x, t0, tc, mr, a1, items / 2, items);
        if (memcmp(a0, a1, na * sizeof(float))) FAILF("%s, tiles [%lld, +%lld): V^T differs", what, (long long)t0, (long long)tc);
        fill(m, (int64_t)nm);
        for (int epi = 0; epi < 3; epi++) {
            p.epi = epi == 0 ? 0 : epi == 1 ? GC_EPI_RELU : GC_EPI_CLAMP;
            p.epi_lo = -0.5f, p.epi_hi = 0.75f;
            p.epi_bits = NULL;
            for (int s = 0; s < 2; s++) {
                for (int64_t i = 0; i < ny; i++) y0[i] = y1[i] = NAN;
                memset(bits0, 0xA5, (size_t)nbits * sizeof(uint16_t)), memset(bits1, 0xA5, (size_t)nbits * sizeof(uint16_t));
                for (int64_t o0 = 0; o0 < p.O; o0 += WG_OCH) {
                    p.epi_bits = epi == 1 ? bits0 : NULL;
                    gc_wg_tx_portable.output(&p, &q, m, o0, t0, tc, s ? NULL : b, y0);
                    p.epi_bits = epi == 1 ? bits1 : NULL;
                    gc_wg_tx_avx2.output(&p, &q, m, o0, t0, tc, s ? NULL : b, y1);
                }
                if (memcmp(y0, y1, (size_t)ny * sizeof(float)) || memcmp(bits0, bits1, (size_t)nbits * sizeof(uint16_t)))
                    FAILF("%s, tiles [%lld, +%lld), epi %d%s: outputs differ", what, (long long)t0, (long long)tc, p.epi, s ? ", no bias" : "");
            }
        }
        p.epi = 0, p.epi_bits = NULL;
    }
    for (int nr = 8; nr <= 16; nr += 8)
        for (int64_t o0 = 0; o0 < p.O; o0 += WG_OCH)
            for (int64_t c0 = 0; c0 < p.C; c0 += WG_CB) {
                const int64_t cn = p.C - c0 < WG_CB ? p.C - c0 : WG_CB;
                for (size_t i = 0; i < nu; i++) u0[i] = u1[i] = NAN;
                gc_wg_tx_portable.weights(&p, w, o0, c0, cn, nr, u0);
                gc_wg_tx_avx2.weights(&p, w, o0, c0, cn, nr, u1);
                if (memcmp(u0, u1, nu * sizeof(float))) FAILF("%s, nr %d, o0 %lld, c0 %lld: U^T differs", what, nr, (long long)o0, (long long)c0);
            }
done:
    free(x), free(w), free(b), free(a0), free(a1), free(m), free(u0), free(u1), free(y0), free(y1), free(bits0), free(bits1);
}

TEST(winograd_avx2_transforms) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX2)) return;   /* its transforms need the instructions */
    const gc_winograd ps[] = {
        {1, 5, 56, 56, 40, 56, 56, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},    /* 14 tile columns: halves of 8 and 6 */
        {2, 3, 11, 9, 33, 11, 9, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},      /* partial tiles, batch 2 */
        {1, 4, 70, 70, 12, 68, 68, 0, 0, 0, 0, 0, 0, NULL, {0}, NULL},    /* 17 columns: windows inside the row */
        {1, 3, 13, 7, 19, 15, 9, 2, 2, 0, 0, 0, 0, NULL, {0}, NULL},      /* padding 2 */
        {1, 20, 7, 7, 24, 7, 7, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},       /* 2 x 2 tiles */
        {1, 136, 14, 14, 9, 14, 14, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL},   /* C = 128 + 8: two input blocks */
        {2, 9, 30, 33, 17, 30, 33, 1, 1, 1, 0, 0, 0, NULL, {0}, NULL},    /* flipped */
        {1, 40, 9, 9, 33, 9, 9, 1, 1, 1, 0, 0, 0, NULL, {0}, NULL},       /* flipped, 16 channels at a time */
    };
    const int mrs[3] = {6, 16, 5};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        for (int k = 0; k < 3; k++) {
            char what[48];
            snprintf(what, sizeof what, "case %zu, mr %d", i, mrs[k]);
            wg_tx_avx2_case(&ps[i], mrs[k], what);
        }
}

/* The scratch does not grow with the batch once a tile chunk is full (VGG conv4_2 shape:
 * 12 MB of V^T at most, every U^T block once there are several tile chunks (36 x 512 x 512
 * floats and their skew, 38 MB) and four thread slots; at batch 1, one chunk: four slots of
 * replicated V^T and no kept U^T), and absurd sizes report overflow. */
TEST(winograd_workspace_bounded) {
    gc_winograd p = {1, 512, 28, 28, 512, 28, 28, 1, 1, 0, 0, 0, 0, NULL, {0}, NULL};
    const size_t w1 = gc_winograd_workspace(&p);
    p.N = 8;
    const size_t w8 = gc_winograd_workspace(&p);
    p.N = 4096;
    CHECK(gc_winograd_workspace(&p) == w8);
    CHECK(w1 < ((size_t)6 << 20) && w8 < ((size_t)15 << 20) && w8 > ((size_t)9 << 20));
    p.flip = 1;
    CHECK(gc_winograd_workspace(&p) == w8);
    p.C = (int64_t)1 << 60;
    CHECK(gc_winograd_workspace(&p) == SIZE_MAX);
    p.C = 512;
    p.N = INT64_MAX / 2;
    CHECK(gc_winograd_workspace(&p) == SIZE_MAX);
}

/* ------------------------------------------------------------------ linear */

static void linear_case(int64_t n, int64_t in, int64_t out, int bias) {
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.linear = (gc_linear_params){in, out, bias};
    lt t;
    char what[64];
    snprintf(what, sizeof what, "linear %lldx%lld -> %lld", (long long)n, (long long)in, (long long)out);
    if (!lt_make(&t, GC_LAYER_LINEAR, p, (gc_shape){2, {n, in, 1, 1}})) {
        FAILF("%s: cannot make the layer: %s", what, gc_last_error());
        lt_free(&t);
        return;
    }
    for (int64_t o = 0; o < t.nout; o += 3) t.dy[o] = 0.0f;   /* rows the batch-1 dx path skips */
    lt_run(&t, 0, GC_KERNELS_REFERENCE, 1);
    for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++)
        if (gc_gemm_tier_available((gc_gemm_tier)tiers[i])) compare(&t, tiers[i], what, 1e-6, 1e-6, in, out, n, n, 1);
    lt_free(&t);
}

TEST(linear_all_tiers_vs_reference) {
    linear_case(1, 1000, 37, 1);
    linear_case(1, 1030, 9, 1);   /* 3 column blocks of 512, the last one 6 wide */
    linear_case(1, 9001, 40, 1);  /* 4 blocks of 2256 columns, the last one 2233 wide */
    linear_case(1, 40000, 12, 0); /* blocks of 8192, the last one 7232 wide */
    linear_case(1, 3, 5, 0);
    linear_case(2, 77, 129, 1);
    linear_case(8, 513, 33, 1);
    linear_case(5, 17, 1, 1);
}

/* Without parameter gradients (explanations) each row of a batch has the bits of that row run
 * alone: the row-wise paths' output groups, row groups and input blocks (2048) must not change
 * any sum. */
static void linear_rows_case(int64_t n, int64_t in, int64_t out) {
    gc_layer_params p;
    memset(&p, 0, sizeof p);
    p.linear = (gc_linear_params){in, out, 1};
    lt b, s;
    if (!lt_make(&b, GC_LAYER_LINEAR, p, (gc_shape){2, {n, in, 1, 1}}) ||
        !lt_make(&s, GC_LAYER_LINEAR, p, (gc_shape){2, {1, in, 1, 1}})) {
        FAILF("linear rows %lld x %lld -> %lld: cannot make the layer", (long long)n, (long long)in, (long long)out);
        lt_free(&b);
        lt_free(&s);
        return;
    }
    for (int64_t o = 0; o < b.nout; o += 3) b.dy[o] = 0.0f;
    for (int i = 0; i < 2; i++) memcpy(s.l.param[i], b.l.param[i], (size_t)b.np[i] * sizeof(float));
    lt_run(&b, 1, GC_KERNELS_AUTO, 0);
    for (int64_t r = 0; r < n; r++) {
        memcpy(s.x, b.x + r * in, (size_t)in * sizeof(float));
        memcpy(s.dy, b.dy + r * out, (size_t)out * sizeof(float));
        lt_run(&s, 1, GC_KERNELS_AUTO, 0);
        if (memcmp(s.y[1], b.y[1] + r * out, (size_t)out * sizeof(float)) ||
            memcmp(s.dx[1], b.dx[1] + r * in, (size_t)in * sizeof(float)))
            FAILF("linear rows %lld x %lld -> %lld: row %lld differs from the row run alone", (long long)n,
                  (long long)in, (long long)out, (long long)r);
    }
    lt_run(&b, 0, GC_KERNELS_REFERENCE, 0);
    if (!(max_abs_diff(b.y[1], b.y[0], b.nout) / (double)(in + 1) <= 1e-6))
        FAILF("linear rows %lld x %lld -> %lld: forward off the reference", (long long)n, (long long)in, (long long)out);
    lt_free(&b);
    lt_free(&s);
}

TEST(linear_batch_rows_keep_batch1_bits) {
    linear_rows_case(2, 77, 13);      /* 2 rows: groups of 8 outputs, the last one short */
    linear_rows_case(3, 2100, 10);    /* 3 rows, two input blocks and a 4-column tail */
    linear_rows_case(8, 4113, 29);    /* 8 rows, three blocks, 29 = 9 groups of 3 + 2 */
    linear_rows_case(9, 40, 5);       /* a second row group of one row */
    linear_rows_case(13, 4096, 64);   /* 8 + 5 rows */
    linear_rows_case(5, 7, 3);        /* fewer inputs than a vector */
}

/* ------------------------------------------------------------------ threads */

/* The fast paths give the same bits on 1, 2 and 3 threads. */
TEST(same_bits_for_any_thread_count) {
    const cc ks[] = {{1, 16, 21, 19, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
                     {2, 6, 15, 13, 10, 3, 3, 2, 2, 1, 1, 1, 1, 2, 1},
                     {1, 40, 30, 30, 136, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* Winograd: 5 output chunks */
                     {3, 8, 60, 58, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      /* Winograd by tiles */
                     {1, 256, 52, 52, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* Winograd, shared V^T */
                     {1, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},     /* AVX2: Winograd, 4 tiles, 4x16 kernel */
                     {2, 12, 37, 29, 12, 3, 3, 1, 1, 1, 1, 1, 1, 12, 1},    /* depthwise 3x3 s1 */
                     {1, 8, 117, 114, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8, 1}};    /* depthwise 3x3 s2 in strips */
    gc_pool *saved = lt_pool, *pools[3] = {NULL, NULL, NULL};
    for (int n = 0; n < 3; n++) CHECK_OK(gc_pool_create(n + 1, &pools[n]));
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        const cc *k = &ks[i];
        const gc_layer_params p = conv_params(k);
        lt t;
        if (!lt_make(&t, GC_LAYER_CONV2D, p, (gc_shape){4, {k->n, k->c, k->h, k->w}})) {
            FAILF("cannot make the layer");
            lt_free(&t);
            continue;
        }
        lt_pool = pools[0];
        lt_run(&t, 0, GC_KERNELS_AUTO, 1);
        for (int n = 1; n < 3; n++) {
            lt_pool = pools[n];
            lt_run(&t, 1, GC_KERNELS_AUTO, 1);
            CHECK(memcmp(t.y[0], t.y[1], (size_t)t.nout * sizeof(float)) == 0);
            CHECK(memcmp(t.dx[0], t.dx[1], (size_t)t.nin * sizeof(float)) == 0);
            CHECK(memcmp(t.dw[0], t.dw[1], (size_t)t.np[0] * sizeof(float)) == 0);
            CHECK(memcmp(t.db[0], t.db[1], (size_t)t.np[1] * sizeof(float)) == 0);
        }
        lt_free(&t);
    }
    lt_pool = saved;
    for (int n = 0; n < 3; n++) gc_pool_free(pools[n]);
}

/* A depthwise plane whose padded copy exceeds 8 KB runs in strips of rows: the same bits as
 * the plane kernel on the whole plane, for each tier, at both strides and kernel sizes, with
 * padding past the kernel (strips starting in it) and a generic (dilated) kernel. */
TEST(depthwise_strips_same_bits_as_whole_planes) {
    /*                  N  C   H    W   M  OH OW KH KW SH SW PH PW DH DW */
    const gc_dwconv ps[] = {{1, 3, 112, 112, 1, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, GC_EPI_NONE, 0, 0},
                            {2, 2, 113, 111, 1, 57, 56, 3, 3, 2, 2, 1, 1, 1, 1, GC_EPI_CLAMP, 0.0f, 6.0f},
                            {1, 2, 57, 61, 1, 29, 31, 5, 5, 2, 2, 2, 2, 1, 1, GC_EPI_RELU, 0, 0},
                            {1, 2, 60, 63, 1, 60, 63, 5, 5, 1, 1, 2, 2, 1, 1, GC_EPI_NONE, 0, 0},
                            {1, 2, 70, 50, 1, 76, 50, 3, 3, 1, 1, 4, 1, 1, 1, GC_EPI_NONE, 0, 0},
                            {1, 2, 80, 47, 1, 38, 47, 3, 3, 2, 1, 0, 2, 2, 2, GC_EPI_NONE, 0, 0}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        const gc_dwconv *p = &ps[i];
        const int64_t nx = p->N * p->C * p->H * p->W, ny = p->N * p->C * p->OH * p->OW, nw = p->C * p->KH * p->KW;
        const size_t wsn = gc_dwconv_workspace(p);
        float *x = gc_alloc_array((size_t)nx, sizeof(float)), *w = gc_alloc_array((size_t)nw, sizeof(float));
        float *b = gc_alloc_array((size_t)p->C, sizeof(float)), *y0 = gc_alloc_array((size_t)ny, sizeof(float));
        float *y1 = gc_alloc_array((size_t)ny, sizeof(float)), *ws = gc_alloc_array(wsn, sizeof(float));
        if (!x || !w || !b || !y0 || !y1 || !ws) {
            FAILF("case %zu: cannot set up", i);
        } else {
            int64_t hp, wp;
            gc_dw_padded_size(p, &hp, &wp);
            CHECK(hp * wp > 2048); /* a plane that runs in strips */
            fill(x, nx), fill(w, nw), fill(b, p->C);
            const gc_gemm_tier ts[] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};
            const gc_dw_plane_fn fs[] = {gc_dw_plane_portable, gc_dw_plane_avx2, gc_dw_plane_avx512};
            for (int k = 0; k < 3; k++) {
                if (!gc_gemm_tier_available(ts[k])) continue;
                for (int64_t e = 0; e < ny; e++) y0[e] = y1[e] = NAN;
                gc_dwconv_forward(lt_pool, ts[k], p, x, w, b, y0, ws);
                for (int64_t t = 0; t < p->N * p->C; t++) /* whole planes, one at a time */
                    fs[k](p, x + t * p->H * p->W, ws, w + t % p->C * p->KH * p->KW, b + t % p->C,
                          y1 + t * p->OH * p->OW);
                if (memcmp(y0, y1, (size_t)ny * sizeof(float)))
                    FAILF("case %zu, tier %d: strips differ from whole planes", i, k);
            }
        }
        free(x), free(w), free(b), free(y0), free(y1), free(ws);
    }
}

/* ------------------------------------------------------------------ whole network */

/* A small VGG-like net with fast kernels against the reference kernels, within 1e-3.
 * kinks = 1: conv/ReLU/max-pool/linear; only the logits are compared (the forward is
 * continuous; gradients are not: a pre-activation within rounding of 0 may take the other
 * side of a ReLU mask or max-pool argmax, which moves a gradient far more than 1e-3).
 * kinks = 0: the same net with average pooling and no ReLU (piecewise nothing): logits,
 * input gradient and parameter gradients. */
static void network_case(int kinks) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    gc_conv2d_params c1 = {3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, c2 = {16, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
                     c3 = {24, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, c4 = {32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
    gc_pool2d_params mp = gc_pool2d_defaults(2);
    gc_rng_seed(&rng, 60 + (uint64_t)kinks);
    gc_linear_params l1 = {32 * 5 * 5, 40, 1}, l2 = {40, 10, 1};
    CHECK_OK(gc_model_add_conv2d(m, "c1", NULL, &c1, NULL, NULL));
    if (kinks) CHECK_OK(gc_model_add_relu(m, "r1", NULL));
    CHECK_OK(gc_model_add_conv2d(m, "c2", NULL, &c2, NULL, NULL));
    if (kinks) CHECK_OK(gc_model_add_relu(m, "r2", NULL));
    CHECK_OK(kinks ? gc_model_add_maxpool2d(m, "p1", NULL, &mp) : gc_model_add_avgpool2d(m, "p1", NULL, &mp));
    CHECK_OK(gc_model_add_conv2d(m, "c3", NULL, &c3, NULL, NULL));
    if (kinks) CHECK_OK(gc_model_add_relu(m, "r3", NULL));
    CHECK_OK(gc_model_add_conv2d(m, "c4", NULL, &c4, NULL, NULL));
    if (kinks) CHECK_OK(gc_model_add_relu(m, "r4", NULL));
    CHECK_OK(gc_model_add_flatten(m, "f", NULL));
    CHECK_OK(gc_model_add_linear(m, "l1", NULL, &l1, NULL, NULL));
    if (kinks) CHECK_OK(gc_model_add_relu(m, "r5", NULL));
    CHECK_OK(gc_model_add_linear(m, "l2", NULL, &l2, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 7));
    const int64_t N = 2, numel = N * 3 * 19 * 19;
    float *in = malloc((size_t)numel * sizeof(float)), *gout = malloc(N * 10 * sizeof(float));
    fill(in, numel);
    fill(gout, N * 10);
    const char *pn[] = {"c1.weight", "c2.weight", "c3.weight", "c4.bias", "l1.weight", "l2.bias"};
    gc_session *s[2] = {NULL, NULL};
    gc_tensor out[2], gin[2], pg[2][6];
    for (int i = 0; i < 2; i++) {
        gc_session_config cfg = {N, 3, 19, 19, 1, NULL, 0, i ? GC_KERNELS_AUTO : GC_KERNELS_REFERENCE, NULL, 1, 0, 0, 0, 0, NULL, 0};
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
        CHECK_OK(gc_session_create(m, &cfg, &s[i]));
        if (!s[i]) goto done;
        CHECK_OK(gc_session_forward(s[i], in));
        CHECK_OK(gc_session_output(s[i], &out[i]));
        CHECK_OK(gc_session_backward(s[i], gout, &bo));
        CHECK_OK(gc_session_gradient(s[i], "input", &gin[i]));
        for (int j = 0; j < 6; j++) CHECK_OK(gc_session_param_grad(s[i], pn[j], &pg[i][j]));
    }
    double e = test_rel_err(out[1].data, out[0].data, N * 10, 1e-6);
    CHECK(e <= 1e-3);
    if (getenv("GC_TEST_VERBOSE")) printf("  network (kinks %d) input gradient rel. error %.2e\n", kinks, test_rel_err(gin[1].data, gin[0].data, numel, 1e-6));
    if (!kinks) CHECK(test_rel_err(gin[1].data, gin[0].data, numel, 1e-6) <= 1e-3);
    for (int j = 0; !kinks && j < 6; j++) {
        int64_t n = 1;
        for (int d = 0; d < pg[0][j].ndim; d++) n *= pg[0][j].shape[d];
        double ep = test_rel_err(pg[1][j].data, pg[0][j].data, n, 1e-6);
        if (!(ep <= 1e-3)) FAILF("%s: rel. error %g", pn[j], ep);
    }
    if (getenv("GC_TEST_VERBOSE")) printf("  network (kinks %d) logits rel. error %.2e\n", kinks, e);
done:
    gc_session_free(s[0]);
    gc_session_free(s[1]);
    free(in);
    free(gout);
    gc_model_free(m);
}

/* y of depthwise problem p the plain way: per output, b + w[u,v] x (x = 0 in the padding) for
 * u, then v, in order, a product then a sum each (the library's kernels promise these bits),
 * then the epilogue's formula. */
static void dw_oracle(const gc_dwconv *p, const float *x, const float *wt, const float *b, float *y) {
    for (int64_t n = 0; n < p->N; n++)
        for (int64_t o = 0; o < p->C * p->M; o++) {
            const float *xc = x + (n * p->C + o / p->M) * p->H * p->W, *wo = wt + o * p->KH * p->KW;
            float *yo = y + (n * p->C * p->M + o) * p->OH * p->OW;
            for (int64_t i = 0; i < p->OH; i++)
                for (int64_t j = 0; j < p->OW; j++) {
                    float a = b[o];
                    for (int64_t u = 0; u < p->KH; u++)
                        for (int64_t v = 0; v < p->KW; v++) {
                            const int64_t h = i * p->SH - p->PH + u * p->DH, c = j * p->SW - p->PW + v * p->DW;
                            const float xv = h >= 0 && h < p->H && c >= 0 && c < p->W ? xc[h * p->W + c] : 0.0f;
                            const float t = wo[u * p->KW + v] * xv;
                            a = a + t;
                        }
                    if (p->epi == GC_EPI_RELU) a = a > 0 ? a : 0;
                    if (p->epi == GC_EPI_CLAMP) a = a < p->epi_lo ? p->epi_lo : a, a = a > p->epi_hi ? p->epi_hi : a;
                    yo[i * p->OW + j] = a;
                }
        }
}

/* Runs depthwise problem p (random input, weights and bias) on the portable tier and on tier t
 * (and, oracle set, the plain loops of dw_oracle): 1 when the outputs have the same bits, 0
 * when they differ, -1 when it cannot be set up. */
static int dw_same_bits_as_portable(const gc_dwconv *p, gc_gemm_tier t, int oracle) {
    const int64_t nx = p->N * p->C * p->H * p->W, ny = p->N * p->C * p->M * p->OH * p->OW;
    const int64_t nw = p->C * p->M * p->KH * p->KW, nb = p->C * p->M;
    float *x = gc_alloc_array((size_t)nx, sizeof(float)), *wt = gc_alloc_array((size_t)nw, sizeof(float));
    float *b = gc_alloc_array((size_t)nb, sizeof(float)), *y0 = gc_alloc_array((size_t)ny, sizeof(float));
    float *y1 = gc_alloc_array((size_t)ny, sizeof(float)), *y2 = gc_alloc_array((size_t)ny, sizeof(float));
    float *ws = gc_alloc_array(gc_dwconv_workspace(p), sizeof(float));
    int same = -1;
    if (x && wt && b && y0 && y1 && y2 && ws) {
        fill(x, nx), fill(wt, nw), fill(b, nb);
        for (int64_t k = 0; k < ny; k++) y0[k] = y1[k] = y2[k] = NAN;
        gc_dwconv_forward(lt_pool, GC_GEMM_PORTABLE, p, x, wt, b, y0, ws);
        gc_dwconv_forward(lt_pool, t, p, x, wt, b, y1, ws);
        same = !memcmp(y0, y1, (size_t)ny * sizeof(float));
        if (oracle) {
            dw_oracle(p, x, wt, b, y2);
            same = same && !memcmp(y0, y2, (size_t)ny * sizeof(float));
        }
    }
    free(x), free(wt), free(b), free(y0), free(y1), free(y2), free(ws);
    return same;
}

static int dw_avx512_same_bits_as_portable(const gc_dwconv *p) {
    return dw_same_bits_as_portable(p, GC_GEMM_AVX512, 0);
}

/* The AVX2 depthwise kernel against the portable tier (4-lane vectors, padded planes) and the
 * plain loops, same bits: 3x3 and 5x5 at strides 1 and 2 (MobileNetV2's and EfficientNet-B0's
 * layers), widths around multiples of 8 and 24 (a block row: 3 vectors) and MobileNet's 7, 14,
 * 28, 56, 112, heights 1 to 4 rows past a multiple of 4, padding 0 to K - 1 (columns and rows
 * wholly outside), one to three output planes per input plane, each epilogue. The taps come
 * straight from the plane (dw_direct8: plain loads inside, masked ones at the edges); planes
 * with one output plane each run 8 channels at a time (dw_chan8; those of more than 1024 padded
 * pixels in strips of rows), here 22 small planes (two groups of 8, the second across the two
 * images, and 6 left to the row kernels) or 9 large ones (a group and one left). */
TEST(depthwise_avx2_same_bits_as_portable) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX2)) return;
    static const int64_t ws_[] = {1, 2, 5, 7, 8, 9, 14, 15, 16, 17, 23, 24, 25, 28, 31, 33, 47, 49, 56, 112, 113};
    static const int64_t hs[] = {1, 3, 4, 5, 7, 14, 17, 56, 112};
    int64_t cases = 0;
    for (int64_t k = 3; k <= 5; k += 2)
        for (int64_t s = 1; s <= 2; s++)
            for (size_t a = 0; a < sizeof hs / sizeof hs[0]; a++)
                for (size_t c = 0; c < sizeof ws_ / sizeof ws_[0]; c++) {
                    const int64_t h = hs[a], w = ws_[c], pad = (h + w + s) % k; /* 0 to K - 1 */
                    if (h + 2 * pad < k || w + 2 * pad < k) continue;
                    if (h * w > 3000 && (w + h + k) % 3) continue; /* big planes: a third of them */
                    const int64_t oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
                    const int m = (int)((h * 3 + w + k) % 5 == 0 ? 3 : (h + w) % 4 == 0 ? 2 : 1);
                    const int e = (int)((h * 7 + w + s + k) % 3);
                    const int64_t n = h * w <= 1100 ? 2 : 1, ch = h * w <= 1100 ? 11 : 9; /* 22 or 9 planes */
                    const gc_dwconv p = {n, ch, h, w, m, oh, ow, k, k, s, s, pad, pad, 1, 1,
                                         e == 0 ? GC_EPI_NONE : e == 1 ? GC_EPI_RELU : GC_EPI_CLAMP, -0.25f, 0.5f};
                    const int same = dw_same_bits_as_portable(&p, GC_GEMM_AVX2, 1);
                    cases++;
                    if (same < 0) FAILF("cannot set up");
                    else if (!same)
                        FAILF("%lldx%lld k%lld s%lld p%lld m%d e%d: AVX2 differs from portable or plain loops",
                              (long long)h, (long long)w, (long long)k, (long long)s, (long long)pad, m, e);
                }
    CHECK(cases > 500);
}

/* The AVX-512 depthwise kernel reads 3x3 taps straight from the input plane (no padded copy,
 * gc_dw_direct): the same bits as the portable tier's padded planes, for every plane size from
 * 1x1 up to 113x113 (the planes of over 1024 pixels prefetch rows ahead), both strides, padding
 * 0 to 3 (rows and columns wholly outside), two output planes per input plane and each
 * epilogue; rows too long for it (1100 > GC_DW_DIRECT_W) take the padded copy on both tiers. */
TEST(depthwise_direct_same_bits_as_padded) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX512)) return;
    int64_t cases = 0, direct = 0;
    for (int64_t s = 1; s <= 2; s++)
        for (int64_t h = 1; h <= 113; h += h < 9 ? 1 : h < 36 ? 9 : 77)
            for (int64_t w = 1; w <= 1100; w += w < 18 ? 1 : w < 70 ? 13 : w < 113 ? 43 : 987)
                for (int64_t pad = 0; pad <= 3; pad++) {
                    const int64_t oh = (h + 2 * pad - 3) / s + 1, ow = (w + 2 * pad - 3) / s + 1;
                    if (h + 2 * pad < 3 || w + 2 * pad < 3) continue;
                    const int m = (int)((h + w + pad) % 2) + 1, e = (int)((h * 7 + w + s) % 3);
                    const gc_dwconv p = {1, 2, h, w, m, oh, ow, 3, 3, s, s, pad, pad, 1, 1,
                                         e == 0 ? GC_EPI_NONE : e == 1 ? GC_EPI_RELU : GC_EPI_CLAMP, -0.25f, 0.5f};
                    const int same = dw_avx512_same_bits_as_portable(&p);
                    if (same < 0) {
                        FAILF("cannot set up");
                    } else {
                        cases++, direct += gc_dw_direct(&p);
                        if (!same)
                            FAILF("%lldx%lld s%lld p%lld m%d e%d: direct differs from padded", (long long)h,
                                  (long long)w, (long long)s, (long long)pad, m, e);
                    }
                }
    CHECK(direct > 0 && direct < cases);
}

/* The AVX-512 depthwise kernel runs small "same" planes at stride 1 as flat arrays (gc_dw_flat):
 * the same bits as the portable tier's padded planes, 3x3 and 5x5, every plane from 1x1 to
 * 16x16 and long thin ones up to GC_DW_FLAT_PX pixels (and just past it: the row kernels), two
 * images, one or two output planes per input plane, each epilogue. */
TEST(depthwise_flat_same_bits_as_padded) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX512)) return;
    static const int64_t extra[][2] = {{1, 256}, {256, 1}, {3, 85}, {85, 3}, {2, 128}, {17, 15}, {16, 17}, {1, 257}};
    int64_t cases = 0, flat = 0;
    for (int64_t k = 3; k <= 5; k += 2)
        for (int64_t e = 0; e < 16 * 16 + 8; e++) {
            const int64_t h = e < 256 ? e / 16 + 1 : extra[e - 256][0], w = e < 256 ? e % 16 + 1 : extra[e - 256][1];
            const int m = (int)((h + w + k) % 2) + 1, ep = (int)((h * 7 + w + k) % 3);
            const gc_dwconv p = {2, 3, h, w, m, h, w, k, k, 1, 1, (k - 1) / 2, (k - 1) / 2, 1, 1,
                                 ep == 0 ? GC_EPI_NONE : ep == 1 ? GC_EPI_RELU : GC_EPI_CLAMP, -0.25f, 0.5f};
            const int same = dw_avx512_same_bits_as_portable(&p);
            if (same < 0) {
                FAILF("cannot set up");
            } else {
                cases++, flat += gc_dw_flat(&p);
                if (!same)
                    FAILF("%lldx%lld k%lld m%d e%d: flat differs from padded", (long long)h, (long long)w, (long long)k,
                          m, ep);
            }
        }
    CHECK(flat > 0 && flat < cases);
}

/* The few-pixels GEMM (AVX2 and AVX-512, where the CPU has them) against a double-precision product, at awkward sizes:
 * pixel counts around multiples of 7, channel counts around multiples of 64 (last panels of 1-16,
 * 17-32, 33-48 and 49-63 channels: each width of kernel), K across blocks and summed in chunks
 * (over 1152 rows: more than 8 pixel panels a chunk, fewer pixel panels than tiles' prefetch lines). With a residual and
 * an epilogue: the bits of the product, the add and the activation as separate passes. */
TEST(few_pixels_gemm_vs_reference) {
    static const gc_gemm_tier px_tiers[] = {GC_GEMM_AVX2, GC_GEMM_AVX512};
    for (size_t ti = 0; ti < 2; ti++) {
    const gc_gemm_tier tier = px_tiers[ti];
    if (!gc_gemm_tier_available(tier) || !gc_pxgemm_applies(tier, 49)) continue; /* not on this CPU */
    static const int64_t cases[][3] = {{49, 512, 2048}, {196, 256, 1024}, {1, 1, 1}, {6, 65, 513}, {8, 130, 1100},
                                       {50, 64, 7}, {110, 127, 600}, {196, 80, 480}, {23, 90, 70}, {49, 112, 300},
                                       {120, 70, 1153}, {13, 17, 4700}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t P = cases[i][0], O = cases[i][1], K = cases[i][2];
        float *w = malloc((size_t)(O * K) * sizeof(float)), *col = malloc((size_t)(K * P) * sizeof(float));
        float *b = malloc((size_t)O * sizeof(float)), *y = malloc((size_t)(O * P) * sizeof(float));
        float *ref = malloc((size_t)(O * P) * sizeof(float));
        float *pk = gc_alloc_array(gc_pxgemm_packed_floats(O, K), sizeof(float));
        float *ws = gc_alloc_array(gc_pxgemm_workspace(O, P, K), sizeof(float));
        fill(w, O * K);
        fill(col, K * P);
        fill(b, O);
        for (int64_t o = 0; o < O; o++)
            for (int64_t p = 0; p < P; p++) {
                double s = b[o];
                for (int64_t k = 0; k < K; k++) s += (double)w[o * K + k] * col[k * P + p];
                ref[o * P + p] = (float)s;
            }
        gc_pxgemm_pack(O, K, w, pk);
        for (int64_t e = 0; e < O * P; e++) y[e] = NAN;
        gc_pxgemm_run(lt_pool, tier, O, P, K, pk, col, b, NULL, y, ws, 0, 0.0f, 0.0f);
        const double err = test_rel_err(y, ref, O * P, 1e-3);
        if (!(err <= 1e-5)) FAILF("few-pixels GEMM %s P %lld O %lld K %lld: relative error %g", gc_gemm_tier_name(tier),
                                  (long long)P, (long long)O, (long long)K, err);
        if (tier == GC_GEMM_AVX512 && gc_gemm_tier_available(GC_GEMM_AVX2)) { /* the same chains on both tiers */
            float *y3 = malloc((size_t)(O * P) * sizeof(float));
            gc_pxgemm_run(lt_pool, GC_GEMM_AVX2, O, P, K, pk, col, b, NULL, y3, ws, 0, 0.0f, 0.0f);
            if (memcmp(y, y3, (size_t)(O * P) * sizeof(float)))
                FAILF("few-pixels GEMM P %lld O %lld K %lld: AVX2 and AVX-512 bits differ", (long long)P, (long long)O,
                      (long long)K);
            free(y3);
        }
        float *res = malloc((size_t)(O * P) * sizeof(float)), *y2 = malloc((size_t)(O * P) * sizeof(float));
        fill(res, O * P);
        for (int epi = GC_EPI_NONE; epi <= GC_EPI_CLAMP; epi++) {
            for (int64_t e = 0; e < O * P; e++) { /* the separate passes over y, the product above */
                const float s = y[e] + res[e], u = s < -0.5f ? -0.5f : s;
                ref[e] = epi == GC_EPI_RELU ? (s > 0.0f ? s : 0.0f) : epi == GC_EPI_CLAMP ? (u > 0.5f ? 0.5f : u) : s;
                y2[e] = NAN;
            }
            gc_pxgemm_run(lt_pool, tier, O, P, K, pk, col, b, res, y2, ws, epi, -0.5f, 0.5f);
            if (memcmp(y2, ref, (size_t)(O * P) * sizeof(float)) != 0)
                FAILF("few-pixels GEMM %s P %lld O %lld K %lld with a residual, epilogue %d: differs from the separate "
                      "passes", gc_gemm_tier_name(tier), (long long)P, (long long)O, (long long)K, epi);
        }
        free(res); free(y2);
        free(w); free(col); free(b); free(y); free(ref);
        gc_free(pk);
        gc_free(ws);
    }
    }
}

/* The few-pixels GEMM with each worker packing its pixel panels in its slot (by channels when
 * O >= 4 P, else by pixels) writes gc_pxgemm_run's bits, for 1-3 threads and 1-3 slots
 * (allocated at exactly the asked size, so ASan sees an overrun), from a matrix and from a
 * strided, padded convolution's input (gc_im2col_pack), with bias, a residual and epilogues (a matrix whose
 * pixels fill the 7-pixel panels is read in place, not packed: MobileNetV2's 14x14 and 7x7 1x1 shapes); it declines
 * slots one float too small. */
TEST(few_pixels_gemm_slots_same_bits) {
    static const gc_gemm_tier px_tiers[] = {GC_GEMM_AVX2, GC_GEMM_AVX512};
    for (size_t ti = 0; ti < 2; ti++) {
    const gc_gemm_tier tier = px_tiers[ti];
    if (!gc_gemm_tier_available(tier) || !gc_pxgemm_applies(tier, 49)) continue; /* not on this CPU */
    gc_pool *pools[3] = {NULL, NULL, NULL};
    for (int t = 0; t < 3; t++) CHECK_OK(gc_pool_create(t + 1, &pools[t]));
    /* P, O, K (matrix source), or with C > 0 a 3x3 stride-2 pad-1 convolution of C x H x H */
    static const int64_t cases[][4] = {{49, 512, 300, 0}, {196, 256, 200, 0}, {196, 1024, 64, 0}, {23, 90, 70, 0},
                                       {6, 65, 513, 0}, {110, 127, 60, 0}, {8, 130, 50, 0}, {1, 1, 3, 0},
                                       {64, 70, 45, 5}, {64, 300, 45, 5}, {49, 200, 63, 7},
                                       /* MobileNetV2's 1x1 layers (P a multiple of 7: pixels read in place) */
                                       {49, 160, 960, 0}, {49, 960, 160, 0}, {196, 64, 384, 0}, {196, 96, 576, 0},
                                       {14, 40, 16, 0},
                                       /* K summed in chunks (over 1152 rows), by channels and by pixels */
                                       {49, 200, 2400, 0}, {196, 130, 1500, 0}, {49, 300, 150, 7}, {64, 70, 150, 5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !test_cur_failed; i++) {
        int64_t P = cases[i][0], O = cases[i][1], K = cases[i][2];
        const int64_t C = cases[i][3], H = C ? (cases[i][0] == 49 ? 13 : 15) : 0;
        const gc_conv_geom g = {C, H, H, (H + 1) / 2, (H + 1) / 2, 3, 3, 2, 2, 1, 1, 1, 1};
        if (C) P = g.OH * g.OW, K = C * 9;
        float *w = malloc((size_t)(O * K) * sizeof(float)), *x = malloc((size_t)(K * P + C * H * H) * sizeof(float));
        float *col = malloc((size_t)(K * P) * sizeof(float)), *b = malloc((size_t)O * sizeof(float));
        float *y0 = malloc((size_t)(O * P) * sizeof(float)), *y1 = malloc((size_t)(O * P) * sizeof(float));
        float *r = malloc((size_t)(O * P) * sizeof(float));
        float *pk = gc_alloc_array(gc_pxgemm_packed_floats(O, K), sizeof(float));
        float *ws = gc_alloc_array(gc_pxgemm_workspace(O, P, K), sizeof(float));
        fill(w, O * K);
        fill(r, O * P);
        fill(x, K * P + C * H * H);
        fill(b, O);
        gc_pxgemm_pack(O, K, w, pk);
        if (C) gc_im2col_tile(NULL, &g, x, 0, P, col, P);
        else memcpy(col, x, (size_t)(K * P) * sizeof(float));
        const gc_im2col_src src = {&g, x};
        const gc_px_matrix mat = {x, P};
        for (int e = 0; e < 3; e++) {
            const float *bias = e == 1 ? NULL : b;
            const int epi = e == 0 ? GC_EPI_NONE : e == 1 ? GC_EPI_RELU : GC_EPI_CLAMP;
            const float *res = e == 2 ? r : NULL; /* a residual on the clamp's runs */
            gc_pxgemm_run(pools[1], tier, O, P, K, pk, col, bias, res, y0, ws, epi, -0.1f, 0.2f);
            for (int th = 1; th <= 3; th++)
                for (int ns = 1; ns <= 3; ns++) {
                    const int W = th < ns ? th : ns;
                    const size_t sf = gc_pxgemm_slot_floats(O, P, K, W);
                    float *sl = gc_alloc_array(sf * (size_t)ns, sizeof(float));
                    for (int64_t q = 0; q < O * P; q++) y1[q] = NAN;
                    const int ran = gc_pxgemm_run_slots(pools[th - 1], tier, O, P, K, pk, C ? gc_im2col_pack : gc_px_pack_matrix,
                                                        C ? (const void *)&src : (const void *)&mat, bias, res, y1,
                                                        (gc_slots){sl, sf, ns}, epi, -0.1f, 0.2f);
                    if (!ran || memcmp(y0, y1, (size_t)(O * P) * sizeof(float)))
                        FAILF("few-pixels GEMM by slots P %lld O %lld K %lld conv %d epi %d, %d threads, %d slots: %s",
                              (long long)P, (long long)O, (long long)K, C > 0, epi, th, ns,
                              ran ? "not the bits of the shared packing" : "declined");
                    gc_free(sl);
                }
        }
        if (gc_pxgemm_run_slots(pools[1], tier, O, P, K, pk, gc_px_pack_matrix, &mat, b, NULL, y1,
                                (gc_slots){ws, gc_pxgemm_slot_floats(O, P, K, 2) - 1, 2}, 0, 0.0f, 0.0f))
            FAILF("few-pixels GEMM by slots P %lld O %lld K %lld: ran with slots too small", (long long)P, (long long)O,
                  (long long)K);
        free(w); free(x); free(col); free(b); free(y0); free(y1); free(r);
        gc_free(pk);
        gc_free(ws);
    }
    for (int t = 0; t < 3; t++) gc_pool_free(pools[t]);
    }
}

TEST(network_fast_vs_reference) {
    network_case(1);
    network_case(0);
}

/* Weights packed once per session (convolutions whose forward is a GEMM: 1x1, strided,
 * grouped, a 5x5 stride-2 stem, with and without bias; a Winograd 3x3's transformed weights in
 * a forward-only session, same bits as the default session's) match packing them every call (a
 * session planned with param_grads reads the weights live): the same bits where both run the
 * same GEMM (as at 111x123, no layer with few pixels, on the portable tier: with AVX2 and
 * AVX-512 the ungrouped strided layers run the direct convolution's channel form instead,
 * chan_strided_ok), within 1e-6 where the few-pixels GEMM or the channel form sums in another
 * order; within 1e-5 of the reference kernels. */
TEST(prepared_weights_same_bits) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    gc_conv2d_params stem = {3, 16, 5, 5, 2, 2, 2, 2, 1, 1, 1, 0}, pw = {16, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
                     s2 = {40, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, gr = {24, 24, 3, 3, 1, 1, 2, 2, 2, 2, 4, 1},
                     ds = {24, 32, 1, 1, 2, 2, 0, 0, 1, 1, 2, 0}, wg = {40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_OK(gc_model_add_conv2d(m, "stem", NULL, &stem, NULL, NULL));
    CHECK_OK(gc_model_add_conv2d(m, "pw", NULL, &pw, NULL, NULL));
    CHECK_OK(gc_model_add_conv2d(m, "wg", NULL, &wg, NULL, NULL));   /* Winograd at 111x123 (224 tiles) */
    CHECK_OK(gc_model_add_conv2d(m, "s2", NULL, &s2, NULL, NULL));
    CHECK_OK(gc_model_add_conv2d(m, "gr", NULL, &gr, NULL, NULL));
    CHECK_OK(gc_model_add_conv2d(m, "ds", NULL, &ds, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 9));
    static const int64_t sizes[2][2] = {{37, 41}, {111, 123}};
    for (int z = 0; z < 2; z++) {
        const int64_t N = 2, H = sizes[z][0], W = sizes[z][1], numel = N * 3 * H * W;
        float *in = malloc((size_t)numel * sizeof(float));
        fill(in, numel);
        gc_session *s[8] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        gc_tensor out[8];
        const int avx2 = gc_gemm_tier_available(GC_GEMM_AVX2);
        for (int i = 0; i < 8; i++) { /* 4, 5: AVX2, 6, 7: portable, each default and with param_grads */
            if ((i == 4 || i == 5) && !avx2) continue;
            gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W, .param_grads = i % 2 && i != 3,
                                     .kernels = i == 2 ? GC_KERNELS_REFERENCE : i >= 6 ? GC_KERNELS_PORTABLE
                                              : i >= 4 ? GC_KERNELS_AVX2 : GC_KERNELS_AUTO,
                                     .forward_only = i == 3};
            CHECK_OK(gc_session_create(m, &cfg, &s[i]));
            if (!s[i]) goto next;
            CHECK_OK(gc_session_forward(s[i], in));
            CHECK_OK(gc_session_output(s[i], &out[i]));
        }
        const int64_t n = gc_tensor_numel(&out[0]);
        if (z == 1) CHECK(n > 0 && memcmp(out[6].data, out[7].data, (size_t)n * sizeof(float)) == 0);
        if (avx2) CHECK(test_rel_err(out[4].data, out[5].data, n, 1e-6) <= 1e-6);
        CHECK(test_rel_err(out[0].data, out[1].data, n, 1e-6) <= 1e-6);
        CHECK(test_rel_err(out[0].data, out[2].data, n, 1e-6) <= 1e-5);
        CHECK(n > 0 && memcmp(out[0].data, out[3].data, (size_t)n * sizeof(float)) == 0);   /* wg's U^T kept */
    next:
        for (int i = 0; i < 8; i++) gc_session_free(s[i]);
        free(in);
    }
    gc_model_free(m);
}

/* Strided layers whose forward runs space to depth (AlexNet's 11x11/4 conv1, a 7x7/2 stem) in a
 * session, which cuts their kernels once (prepared weights; with AVX-512 and AVX2, the direct
 * convolution's channel form at the layer's stride instead, weights packed once; the portable
 * tier keeps space to depth): within 1e-5 of the reference kernels and of the GEMM a training
 * session runs, the same bits on 1, 2 and 3 threads. */
TEST(space_to_depth_in_sessions) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    gc_conv2d_params c1 = {3, 24, 11, 11, 4, 4, 2, 2, 1, 1, 1, 1}, c2 = {24, 20, 7, 7, 2, 2, 3, 3, 1, 1, 1, 0};
    CHECK_OK(gc_model_add_conv2d(m, "c1", NULL, &c1, NULL, NULL));
    CHECK_OK(gc_model_add_conv2d(m, "c2", NULL, &c2, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 5));
    const int64_t N = 2, H = 99, W = 103, numel = N * 3 * H * W;
    float *in = malloc((size_t)numel * sizeof(float));
    fill(in, numel);
    gc_session *s[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    gc_tensor out[7];
    const int avx2 = gc_gemm_tier_available(GC_GEMM_AVX2);
    for (int i = 0; i < 7; i++) {
        if (i == 5 && !avx2) continue;
        gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W, .param_grads = i == 1,
                                 .kernels = i == 2 ? GC_KERNELS_REFERENCE : i == 5 ? GC_KERNELS_AVX2
                                          : i == 6 ? GC_KERNELS_PORTABLE : GC_KERNELS_AUTO,
                                 .threads = i >= 3 && i < 5 ? i - 2 : 0};
        CHECK_OK(gc_session_create(m, &cfg, &s[i]));
        if (!s[i]) goto done;
        CHECK_OK(gc_session_forward(s[i], in));
        CHECK_OK(gc_session_output(s[i], &out[i]));
    }
    const int64_t n = gc_tensor_numel(&out[0]);
    CHECK(test_rel_err(out[0].data, out[1].data, n, 1e-6) <= 1e-5);
    CHECK(test_rel_err(out[0].data, out[2].data, n, 1e-6) <= 1e-5);
    CHECK(memcmp(out[0].data, out[3].data, (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(out[0].data, out[4].data, (size_t)n * sizeof(float)) == 0);
    if (avx2) CHECK(test_rel_err(out[5].data, out[2].data, n, 1e-6) <= 1e-5);
    CHECK(test_rel_err(out[6].data, out[2].data, n, 1e-6) <= 1e-5); /* space to depth */
done:
    for (int i = 0; i < 7; i++) gc_session_free(s[i]);
    free(in);
    gc_model_free(m);
}

/* Strided layers whose kernel space to depth would cut into too many zero taps (3x3/2, 5x5/2,
 * 3x2 at stride 2x1) run, with AVX-512 in sessions without parameter gradients, the direct
 * convolution's channel form at their stride (chan_strided_ok; outputs of more than 256 pixels,
 * so not the few-pixels GEMM; a last channel block of 8, bias and none, a ReLU and a clamp fused
 * into the layers before them): within 1e-5 of the reference kernels and of the GEMM a training
 * session runs, the same bits on 1, 2 and 3 threads and as the activations run as layers of
 * their own (no_fuse). */
TEST(strided_channel_form_in_sessions) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    gc_conv2d_params c1 = {5, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, c2 = {40, 33, 5, 5, 2, 2, 2, 2, 1, 1, 1, 0},
                     c3 = {33, 24, 3, 2, 2, 1, 1, 0, 1, 1, 1, 1};
    CHECK_OK(gc_model_add_conv2d(m, "c1", NULL, &c1, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "r1", NULL));
    CHECK_OK(gc_model_add_conv2d(m, "c2", NULL, &c2, NULL, NULL));
    const gc_activation_params r6 = {GC_ACT_CLAMP, 0.0f, 0.5f};
    CHECK_OK(gc_model_add_activation(m, "r2", NULL, &r6));
    CHECK_OK(gc_model_add_conv2d(m, "c3", NULL, &c3, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 7));
    const int64_t N = 2, H = 90, W = 91, numel = N * 5 * H * W;
    float *in = malloc((size_t)numel * sizeof(float));
    fill(in, numel);
    gc_session *s[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    gc_tensor out[6];
    for (int i = 0; i < 6; i++) {
        gc_session_config cfg = {.batch = N, .channels = 5, .height = H, .width = W, .param_grads = i == 1,
                                 .kernels = i == 2 ? GC_KERNELS_REFERENCE : GC_KERNELS_AUTO,
                                 .threads = i == 3 || i == 4 ? i - 2 : 3, .no_fuse = i == 5};
        CHECK_OK(gc_session_create(m, &cfg, &s[i]));
        if (!s[i]) goto done;
        CHECK_OK(gc_session_forward(s[i], in));
        CHECK_OK(gc_session_output(s[i], &out[i]));
    }
    const int64_t n = gc_tensor_numel(&out[0]);
    CHECK(n == N * 24 * 12 * 22); /* c1: 45 x 46 pixels, c2: 23 x 23, c3: 12 x 22 */
    CHECK(test_rel_err(out[0].data, out[1].data, n, 1e-6) <= 1e-5);
    CHECK(test_rel_err(out[0].data, out[2].data, n, 1e-6) <= 1e-5);
    CHECK(memcmp(out[0].data, out[3].data, (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(out[0].data, out[4].data, (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(out[0].data, out[5].data, (size_t)n * sizeof(float)) == 0);
done:
    for (int i = 0; i < 6; i++) gc_session_free(s[i]);
    free(in);
    gc_model_free(m);
}

/* The accurate forward (double sums of exact products, rounded once) against the reference
 * loops, which compute the same sums in another order: every output within one float ulp
 * (they differ only where a sum lies within double rounding of a float's rounding boundary),
 * on every tier, for 3x3 (Winograd in double, conv_accurate_wino.c), other stride-1, 1x1,
 * dilated, grouped, depthwise and strided layers (space to depth whatever its zero taps, or the
 * reference loops) and for linear layers. */
static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* The accurate Winograd with the session's slots (each worker's own V, M and U; by tiles its V
 * and M) gives the carved layout's bits: by tiles, tile chunks with a range of groups per
 * worker, and few groups (carved either way); 2 and 4 slots. */
TEST(accurate_winograd_session_slots) {
    /* C, H, W, O, whether the workers get slots */
    static const int64_t shapes[][5] = {{8, 347, 346, 9, 1}, {8, 64, 63, 352, 1}, {256, 20, 22, 200, 1}, {449, 40, 39, 96, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t C = shapes[i][0], H = shapes[i][1], W = shapes[i][2], O = shapes[i][3];
        gc_dconv p = {C, H, W, O, H, W, 3, 3, 1, 1, 1, 1, 0, 1, 1, {0}};
        const int64_t nx = C * H * W, ny = O * H * W, nw = O * C * 9;
        float *x = gc_alloc_array((size_t)nx, sizeof(float)), *w = gc_alloc_array((size_t)nw, sizeof(float));
        float *b = gc_alloc_array((size_t)O, sizeof(float)), *y0 = gc_alloc_array((size_t)ny, sizeof(float));
        float *y1 = gc_alloc_array((size_t)ny, sizeof(float));
        const size_t wc = gc_aconv_workspace(&p), sh = gc_aconv_shared_floats(&p);
        float *ws = gc_alloc_array(wc + 1, sizeof(float));
        if (!x || !w || !b || !y0 || !y1 || !ws || wc == SIZE_MAX || sh == SIZE_MAX || sh > wc) {
            FAILF("accurate slots case %zu: cannot set up", i);
        } else {
            fill(x, nx), fill(w, nw), fill(b, O);
            const gc_gemm_tier tier = gc_gemm_best_tier(); /* the slot layouts are the tiers' own */
            gc_aconv_run(lt_pool, tier, &p, x, w, b, y0, ws);
            for (int n = 2; n <= 4; n += 2) {
                const size_t st = (gc_aconv_slot_floats(&p, n) + 15) & ~(size_t)15;
                if ((st > 0) != (shapes[i][4] != 0))
                    FAILF("accurate slots case %zu: slot of %zu floats", i, st);
                float *sl = gc_alloc_array(st * (size_t)n + 1, sizeof(float));
                p.slots = (gc_slots){st ? sl : NULL, st, n};
                for (int64_t e = 0; e < ny; e++) y1[e] = NAN;
                gc_aconv_run(lt_pool, tier, &p, x, w, b, y1, ws);
                if (memcmp(y0, y1, (size_t)ny * sizeof(float))) FAILF("accurate slots case %zu, %d slots: bits differ", i, n);
                p.slots = (gc_slots){0};
                gc_free(sl);
            }
        }
        gc_free(x), gc_free(w), gc_free(b), gc_free(y0), gc_free(y1), gc_free(ws);
    }
}

TEST(accurate_forward_rounds_once) {
    static const cc acc[] = {
        {1, 17, 11, 9, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      /* 3x3: Winograd in double, edge tiles */
        {2, 64, 17, 19, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* 64 channels, batch 2 */
        {1, 512, 12, 13, 67, 3, 3, 1, 1, 1, 0, 1, 1, 1, 0},    /* Winograd: output channels in 2 groups */
        {1, 8, 347, 346, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* Winograd by tiles: chunks cut tile rows */
        {1, 128, 40, 41, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* Winograd by tiles: 2 channel blocks */
        {1, 8, 64, 63, 352, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* Winograd: tiles in 2 chunks */
        {1, 449, 40, 39, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* Winograd: few output groups share tiles */
        {1, 9, 9, 9, 10, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},        /* too few tiles: direct */
        {1, 33, 7, 9, 17, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},       /* 1x1 */
        {1, 6, 14, 12, 7, 3, 3, 1, 1, 2, 2, 2, 2, 1, 0},       /* dilation 2 */
        {2, 6, 9, 11, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},       /* groups 2 */
        {1, 8, 10, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, 1},        /* depthwise */
        {1, 3, 35, 37, 8, 11, 11, 4, 4, 2, 2, 1, 1, 1, 1},     /* 11x11/4 */
        {2, 5, 15, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},      /* 3x3/2: 78 % zero taps */
        {1, 7, 9, 8, 5, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1},         /* 1x1/2 with padding */
        {1, 8, 17, 13, 24, 3, 3, 2, 1, 1, 0, 2, 1, 8, 1},      /* grouped, strided, dilated */
    };
    for (size_t i = 0; i < sizeof acc / sizeof acc[0]; i++) {
        const cc *k = &acc[i];
        const gc_layer_params p = conv_params(k);
        lt t;
        if (!lt_make(&t, GC_LAYER_CONV2D, p, (gc_shape){4, {k->n, k->c, k->h, k->w}})) {
            FAILF("accurate case %zu: cannot make the layer", i);
            lt_free(&t);
            continue;
        }
        lt_run(&t, 0, GC_KERNELS_REFERENCE, 0);
        for (size_t ti = 0; ti < sizeof tiers / sizeof tiers[0]; ti++) {
            if (!gc_gemm_tier_available((gc_gemm_tier)tiers[ti])) continue;
            lt_accurate = 1;
            lt_run(&t, 1, tiers[ti], 0);
            lt_accurate = 0;
            int64_t worst = 0;
            for (int64_t e = 0; e < t.nout; e++) {
                const int64_t u = ulps(t.y[0][e], t.y[1][e]);
                if (u > worst) worst = u;
            }
            if (worst > 1) FAILF("accurate case %zu (%s): %lld ulps from the reference", i,
                                 gc_gemm_tier_name((gc_gemm_tier)tiers[ti]), (long long)worst);
        }
        lt_free(&t);
    }
    static const int64_t lin[][3] = {{1, 25, 7}, {5, 1000, 9}, {3, 8, 4}};
    for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++) {
        gc_layer_params p;
        memset(&p, 0, sizeof p);
        p.linear = (gc_linear_params){lin[i][1], lin[i][2], 1};
        lt t;
        if (!lt_make(&t, GC_LAYER_LINEAR, p, (gc_shape){2, {lin[i][0], lin[i][1], 1, 1}})) {
            FAILF("accurate linear %zu: cannot make the layer", i);
            lt_free(&t);
            continue;
        }
        lt_run(&t, 0, GC_KERNELS_REFERENCE, 0);
        for (size_t ti = 0; ti < sizeof tiers / sizeof tiers[0]; ti++) { /* portable and AVX-512 builds */
            if (!gc_gemm_tier_available((gc_gemm_tier)tiers[ti])) continue;
            lt_accurate = 1;
            lt_run(&t, 1, tiers[ti], 0);
            lt_accurate = 0;
            for (int64_t e = 0; e < t.nout; e++)
                if (ulps(t.y[0][e], t.y[1][e]) > 1) {
                    FAILF("accurate linear %zu (%s): output %lld %g vs reference %g", i,
                          gc_gemm_tier_name((gc_gemm_tier)tiers[ti]), (long long)e, t.y[1][e], t.y[0][e]);
                    break;
                }
        }
        lt_free(&t);
    }
}

int main(void) {
    gc_rng_seed(&rng, 6);
    if (gc_pool_create(2, &lt_pool)) { fprintf(stderr, "cannot start the thread pool: %s\n", gc_last_error()); return 1; }
    RUN(conv_all_tiers_vs_reference);
    RUN(conv_im2col_several_tiles);
    RUN(winograd_several_chunks);
    RUN(winograd_workspace_bounded);
    RUN(winograd_schedules);
    RUN(winograd_chunks_per_worker);
    RUN(winograd_session_slots);
    RUN(winograd_prepared_weights);
    RUN(winograd_prepared_layer);
    RUN(winograd_avx2_transforms);
    RUN(winograd_avx2_kernels_same_bits);
    RUN(accurate_winograd_session_slots);
    RUN(linear_all_tiers_vs_reference);
    RUN(linear_batch_rows_keep_batch1_bits);
    RUN(same_bits_for_any_thread_count);
    RUN(depthwise_strips_same_bits_as_whole_planes);
    RUN(depthwise_direct_same_bits_as_padded);
    RUN(depthwise_flat_same_bits_as_padded);
    RUN(depthwise_avx2_same_bits_as_portable);
    RUN(few_pixels_gemm_vs_reference);
    RUN(few_pixels_gemm_slots_same_bits);
    RUN(network_fast_vs_reference);
    RUN(prepared_weights_same_bits);
    RUN(space_to_depth_in_sessions);
    RUN(strided_channel_form_in_sessions);
    RUN(accurate_forward_rounds_once);
    gc_pool_free(lt_pool);
    return test_summary("conv_fast");
}
