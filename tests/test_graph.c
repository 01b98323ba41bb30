/* test_graph.c - whole networks that are graphs, built with the public API: a finite-difference
 * check of a DAG (fan-out of the input, residual and downsample blocks, concat, a
 * squeeze-excitation gate, SiLU/hardswish, a layer reading one tensor twice), batch-norm folding
 * against the unfolded network, the lean plan against keep_all, aliases everywhere a layer name
 * is taken, .gcw round trips (version 2 written, version 1 read), the default layer, Grad-CAM =
 * CAM on a ResNet head, top-K inside a residual block, batches and thread counts; the kinds an
 * ONNX graph needs: constants (in-graph normalisation, in sessions that start inside the
 * graph), pad + conv against padded convolution, a ShuffleNet unit, their .gcw round trip. */
#include "test.h"
#include "common/layer_ref.h"
#include "core/core.h"
#include "net/gcw.h"
#include "net/session.h"

/* ------------------------------------------------------------------ helpers */

static void fill(float *x, int64_t n, gc_rng *r, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (2.0f * gc_rng_uniform(r) - 1.0f) * scale;
}

static float *dup_floats(const float *p, int64_t n) {
    float *d = malloc((size_t)n * sizeof(float));
    memcpy(d, p, (size_t)n * sizeof(float));
    return d;
}

static gc_status conv(gc_model *m, const char *name, const char *in, int64_t ci, int64_t co, int64_t k,
                      int64_t stride, int bias) {
    gc_conv2d_params p = gc_conv2d_defaults(ci, co, k);
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = k / 2;
    p.bias = bias;
    return gc_model_add_conv2d(m, name, in, &p, NULL, NULL);
}

/* Batch-norm with running statistics and affine parameters away from the identity. */
static gc_status bn(gc_model *m, const char *name, const char *in, int64_t c, gc_rng *r) {
    float g[64], b[64], mu[64], var[64];
    for (int64_t i = 0; i < c && i < 64; i++) {
        g[i] = 0.6f + 0.8f * gc_rng_uniform(r);
        b[i] = 0.4f * gc_rng_uniform(r) - 0.2f;
        mu[i] = 0.4f * gc_rng_uniform(r) - 0.2f;
        var[i] = 0.5f + gc_rng_uniform(r);
    }
    gc_batchnorm2d_params p = {c, 1e-5f};
    return gc_model_add_batchnorm2d(m, name, in, &p, g, b, mu, var);
}

static gc_status act(gc_model *m, const char *name, const char *in, gc_activation_op op) {
    gc_activation_params p = gc_activation_defaults(op);
    return gc_model_add_activation(m, name, in, &p);
}

static gc_status gap(gc_model *m, const char *name, const char *in) {
    gc_adaptive_pool2d_params p = {1, 1};
    return gc_model_add_adaptive_avgpool2d(m, name, in, &p);
}

static gc_model *built(gc_model *m, gc_status st, const char *what) {
    if (st) {
        fprintf(stderr, "%s: %s\n", what, gc_last_error());
        gc_model_free(m);
        return NULL;
    }
    return m;
}

/* The DAG under test, on (N, 3, H, W); w scales the widths:
 *   stem: conv3x3 (3->4w) bn relu                      side: conv1x1 (3->2w) of the input too
 *   b1:   conv bn relu conv bn, + stem (identity), relu
 *   b2:   conv3x3 s2 (->6w) bn hardswish conv bn, + conv1x1 s2 bn of b1 (downsample), relu
 *   side: avgpool 3 s2 p1, SiLU; sq = side * side (one tensor read twice)
 *   cat = concat(b2, side, sq)                          (10w channels)
 *   se:   gap, conv1x1 (->3w), relu, conv1x1 (->10w), sigmoid; gated = cat * gate
 *   dup = concat(gated, gated)  (read twice); gap, flatten, linear (20w -> 5) */
static int smooth_relu; /* test switch: ReLUs of dag_net become SiLU */
static gc_status relu(gc_model *m, const char *name, const char *in) {
    return smooth_relu ? act(m, name, in, GC_ACT_SILU) : gc_model_add_relu(m, name, in);
}

static gc_model *dag_net(uint64_t seed, int64_t w) {
    gc_model *m = NULL;
    gc_rng r;
    gc_rng_seed(&r, seed + 1000);
    gc_status st = gc_model_create(&m);
    const char *cat3[3] = {"b2.relu", "side.act", "side.sq"}, *cat2[2] = {"se.mul", "se.mul"};
    gc_linear_params fc = {20 * w, 5, 1};
    if (!st) st = conv(m, "stem.conv", "input", 3, 4 * w, 3, 1, 1);
    if (!st) st = bn(m, "stem.bn", NULL, 4 * w, &r);
    if (!st) st = relu(m, "stem.relu", NULL);
    if (!st) st = conv(m, "side.conv", "input", 3, 2 * w, 1, 1, 1);
    if (!st) st = conv(m, "b1.conv1", "stem.relu", 4 * w, 4 * w, 3, 1, 0);
    if (!st) st = bn(m, "b1.bn1", NULL, 4 * w, &r);
    if (!st) st = relu(m, "b1.relu1", NULL);
    if (!st) st = conv(m, "b1.conv2", NULL, 4 * w, 4 * w, 3, 1, 0);
    if (!st) st = bn(m, "b1.bn2", NULL, 4 * w, &r);
    if (!st) st = gc_model_add_add(m, "b1.add", NULL, "stem.relu");
    if (!st) st = relu(m, "b1.relu", NULL);
    if (!st) st = conv(m, "b2.conv1", NULL, 4 * w, 6 * w, 3, 2, 0);
    if (!st) st = bn(m, "b2.bn1", NULL, 6 * w, &r);
    if (!st) st = act(m, "b2.act1", NULL, GC_ACT_HARDSWISH);
    if (!st) st = conv(m, "b2.conv2", NULL, 6 * w, 6 * w, 3, 1, 0);
    if (!st) st = bn(m, "b2.bn2", NULL, 6 * w, &r);
    if (!st) st = conv(m, "b2.down.conv", "b1.relu", 4 * w, 6 * w, 1, 2, 0);
    if (!st) st = bn(m, "b2.down.bn", NULL, 6 * w, &r);
    if (!st) st = gc_model_add_add(m, "b2.add", "b2.bn2", "b2.down.bn");
    if (!st) st = relu(m, "b2.relu", NULL);
    gc_pool2d_params ap = gc_pool2d_defaults(3);
    ap.stride_h = ap.stride_w = 2;
    ap.pad_h = ap.pad_w = 1;
    if (!st) st = gc_model_add_avgpool2d(m, "side.pool", "side.conv", &ap);
    if (!st) st = act(m, "side.act", NULL, GC_ACT_SILU);
    if (!st) st = gc_model_add_mul(m, "side.sq", "side.act", "side.act");
    if (!st) st = gc_model_add_concat(m, "cat", 3, cat3);
    if (!st) st = gap(m, "se.pool", NULL);
    if (!st) st = conv(m, "se.fc1", NULL, 10 * w, 3 * w, 1, 1, 1);
    if (!st) st = relu(m, "se.relu", NULL);
    if (!st) st = conv(m, "se.fc2", NULL, 3 * w, 10 * w, 1, 1, 1);
    if (!st) st = act(m, "se.gate", NULL, GC_ACT_SIGMOID);
    if (!st) st = gc_model_add_mul(m, "se.mul", "cat", "se.gate");
    if (!st) st = gc_model_add_concat(m, "dup", 2, cat2);
    if (!st) st = gap(m, "gap", NULL);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st) st = gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL);
    if (!st) st = gc_model_init_random(m, seed);
    return built(m, st, "dag_net");
}

/* One BasicBlock "<b>" on `in` (ci -> co channels, stride); its final ReLU gets the aliases. */
static gc_status block(gc_model *m, const char *b, const char *in, int64_t ci, int64_t co, int64_t stride,
                       gc_rng *r) {
    char n[16][64];
    const char *suffix[] = {"conv1", "bn1", "relu", "conv2", "bn2", "downsample.0", "downsample.1", "add", "relu_1"};
    for (int i = 0; i < 9; i++) snprintf(n[i], sizeof n[i], "%s.%s", b, suffix[i]);
    gc_status st = conv(m, n[0], in, ci, co, 3, stride, 0);
    if (!st) st = bn(m, n[1], NULL, co, r);
    if (!st) st = gc_model_add_relu(m, n[2], NULL);
    if (!st) st = conv(m, n[3], NULL, co, co, 3, 1, 0);
    if (!st) st = bn(m, n[4], NULL, co, r);
    const char *identity = in;
    if (!st && (stride != 1 || ci != co)) {
        st = conv(m, n[5], in, ci, co, 1, stride, 0);
        if (!st) st = bn(m, n[6], NULL, co, r);
        identity = n[6];
    }
    if (!st) st = gc_model_add_add(m, n[7], n[4], identity);
    if (!st) st = gc_model_add_relu(m, n[8], NULL);
    if (!st) st = gc_model_add_alias(m, b, n[8]);
    return st;
}

/* A small torchvision-style ResNet on (N, 3, H, W): conv1 bn1 relu, layer1 (one block, 8
 * channels), layer2 (two blocks, 12 channels, the first with stride 2 and a downsample),
 * avgpool (1x1), flatten, fc (12 -> classes). Stage outputs are aliased "layer1", "layer2". */
static gc_model *resnet_like(uint64_t seed, int classes) {
    gc_model *m = NULL;
    gc_rng r;
    gc_rng_seed(&r, seed + 2000);
    gc_linear_params fc = {12, classes, 1};
    gc_status st = gc_model_create(&m);
    if (!st) st = conv(m, "conv1", NULL, 3, 8, 3, 1, 0);
    if (!st) st = bn(m, "bn1", NULL, 8, &r);
    if (!st) st = gc_model_add_relu(m, "relu", NULL);
    if (!st) st = block(m, "layer1.0", "relu", 8, 8, 1, &r);
    if (!st) st = gc_model_add_alias(m, "layer1", "layer1.0");
    if (!st) st = block(m, "layer2.0", "layer1", 8, 12, 2, &r);
    if (!st) st = block(m, "layer2.1", "layer2.0", 12, 12, 1, &r);
    if (!st) st = gc_model_add_alias(m, "layer2", "layer2.1");
    if (!st) st = gap(m, "avgpool", NULL);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st) st = gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL);
    if (!st) st = gc_model_init_random(m, seed);
    return built(m, st, "resnet_like");
}

static gc_session *session(const gc_model *m, gc_session_config cfg) {
    gc_session *s = NULL;
    gc_status st = gc_session_create(m, &cfg, &s);
    if (st) FAILF("gc_session_create: %s: %s", gc_status_string(st), gc_last_error());
    return s;
}

/* L = sum(r * y) in double. */
static double loss(gc_session *s, const float *x, const float *r) {
    gc_tensor y;
    if (gc_session_forward(s, x) || gc_session_output(s, &y)) return NAN;
    double l = 0;
    for (int64_t i = 0; i < gc_tensor_numel(&y); i++) l += (double)r[i] * y.data[i];
    return l;
}

/* The trainable parameter tensors of m ("<layer>.weight", "<layer>.bias"): names into
 * names[] (static storage), views into t[]; returns how many. */
#define MAX_P 80
static int trainable(const gc_model *m, char names[][80], gc_tensor *t) {
    int n = 0;
    for (int i = 0; i < gc_model_layer_count(m) && n < MAX_P; i++)
        for (int k = 0; k < 2 && n < MAX_P; k++) {
            snprintf(names[n], 80, "%s.%s", gc_model_layer_name(m, i), k ? "bias" : "weight");
            if (gc_model_param(m, names[n], &t[n]) == GC_OK) n++;
        }
    gc_clear_error();
    return n;
}

static int64_t numel_out(const gc_session *s) {
    gc_tensor y;
    return gc_session_output(s, &y) ? -1 : gc_tensor_numel(&y);
}

/* ------------------------------------------------------------------ gradients of the whole DAG */

/* Directional derivatives (L(t + e v) - L(t - e v)) / 2e against grad . v, along one random
 * direction over the input and every trainable parameter at once (part -1), along the input
 * alone (part -2) and, with per_tensor, along each parameter tensor alone (so an error in one
 * small tensor cannot hide). |analytic - numeric| must stay within rel |numeric| + abs. */
static void dag_fd_check(int smooth, float eps, double rel, double abs_tol, int per_tensor) {
    smooth_relu = smooth;
    gc_model *m = dag_net(3, 1);
    smooth_relu = 0;
    if (!m) { CHECK(0); return; }
    gc_session_config cfg = {.batch = 2, .channels = 3, .height = 9, .width = 8, .param_grads = 1};
    gc_session *s = session(m, cfg);
    if (!s) { gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 11);
    const int64_t nx = 2 * 3 * 9 * 8;
    float *x = malloc(nx * sizeof(float)), *vx = malloc(nx * sizeof(float)), *xp = malloc(nx * sizeof(float));
    fill(x, nx, &rng, 1.0f);
    fill(vx, nx, &rng, 1.0f);
    CHECK_OK(gc_session_forward(s, x));
    gc_tensor y;
    CHECK_OK(gc_session_output(s, &y));
    CHECK(y.ndim == 2 && y.shape[0] == 2 && y.shape[1] == 5);
    float r[10];
    fill(r, 10, &rng, 1.0f);
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
    CHECK_OK(gc_session_backward(s, r, &bo));

    static char names[MAX_P][80];
    gc_tensor pt[MAX_P];
    const int np = trainable(m, names, pt);
    CHECK(np == 13 + 12 + 2); /* 9 convs (4 with a bias), 6 batch-norms, the linear layer */
    double an_x = 0, an_p[MAX_P] = {0}, an_all;
    gc_tensor gx;
    CHECK_OK(gc_session_gradient(s, "input", &gx));
    for (int64_t i = 0; i < nx; i++) an_x += (double)gx.data[i] * vx[i];
    float *v[MAX_P], *orig[MAX_P];
    for (int k = 0; k < np; k++) {
        gc_tensor gp;
        const int64_t n = gc_tensor_numel(&pt[k]);
        v[k] = malloc((size_t)n * sizeof(float));
        orig[k] = dup_floats(pt[k].data, n);
        fill(v[k], n, &rng, 0.2f);
        if (gc_session_param_grad(s, names[k], &gp)) { FAILF("no gradient of %s", names[k]); continue; }
        for (int64_t i = 0; i < n; i++) an_p[k] += (double)gp.data[i] * v[k][i];
    }
    an_all = an_x;
    for (int k = 0; k < np; k++) an_all += an_p[k];

    for (int part = -2; part < (per_tensor ? np : 0); part++) {
        double lp[2];
        for (int side = 0; side < 2; side++) {
            const float e = side ? -eps : eps;
            for (int64_t i = 0; i < nx; i++) xp[i] = x[i] + (part < 0 ? e * vx[i] : 0.0f);
            for (int k = 0; k < np; k++)
                for (int64_t i = 0; i < gc_tensor_numel(&pt[k]); i++)
                    pt[k].data[i] = orig[k][i] + (part == -1 || part == k ? e * v[k][i] : 0.0f);
            lp[side] = loss(s, xp, r);
        }
        const double numeric = (lp[0] - lp[1]) / (2.0 * eps);
        const double analytic = part == -1 ? an_all : part == -2 ? an_x : an_p[part];
        const char *what = part == -1 ? "all" : part == -2 ? "input" : names[part];
        if (!(fabs(analytic - numeric) <= rel * fabs(numeric) + abs_tol))
            FAILF("%s network, along %s: analytic %g, numeric %g", smooth ? "smooth" : "ReLU", what, analytic, numeric);
        if (getenv("GC_TEST_VERBOSE")) printf("  %-22s analytic %12.6g numeric %12.6g\n", what, analytic, numeric);
    }
    for (int k = 0; k < np; k++) {
        memcpy(pt[k].data, orig[k], (size_t)gc_tensor_numel(&pt[k]) * sizeof(float));
        free(v[k]);
        free(orig[k]);
    }
    CHECK(fabs(an_x) > 1e-4 && fabs(an_all) > 1e-2);
    free(x); free(vx); free(xp);
    gc_session_free(s);
    gc_model_free(m);
}

/* The DAG as built (ReLUs): kinks crossed by the perturbation limit the agreement to about a
 * percent (as in test_net), so the joint and input directions only. */
TEST(dag_gradient_along_random_direction) { dag_fd_check(0, 1e-3f, 1e-2, 1e-3, 0); }

/* The same graph with SiLU for every ReLU: smooth except hardswish's far kinks, so finite
 * differences are sharp and every parameter tensor is checked on its own. */
TEST(smooth_dag_gradient_per_tensor) { dag_fd_check(1, 1e-2f, 2e-3, 4e-6, 1); }

/* Layers that read one tensor twice, on a network small enough to know the answer:
 * y = concat(x * x, x) summed with weights r: dL/dx = 2 x r_sq + r_id; mul(x, x) of the
 * network input itself: dL/dx = 2 x r. */
TEST(same_tensor_read_twice) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    const char *both[2] = {"sq", "input"};
    CHECK_OK(gc_model_add_mul(m, "sq", "input", "input"));
    CHECK_OK(gc_model_add_concat(m, "cat", 2, both));
    gc_session_config cfg = {.batch = 2, .channels = 3, .height = 2, .width = 3};
    for (int keep_all = 0; keep_all < 2; keep_all++) {
        cfg.keep_all = keep_all;
        gc_session *s = session(m, cfg);
        if (!s) break;
        gc_rng rng;
        gc_rng_seed(&rng, 5);
        float x[36], r[72];
        fill(x, 36, &rng, 1.0f);
        fill(r, 72, &rng, 1.0f);
        CHECK_OK(gc_session_forward(s, x));
        gc_tensor y, g;
        CHECK_OK(gc_session_output(s, &y));
        CHECK(y.ndim == 4 && y.shape[0] == 2 && y.shape[1] == 6);
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
        CHECK_OK(gc_session_backward(s, r, &bo));
        CHECK_OK(gc_session_gradient(s, "input", &g));
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 18; i++) {
                const float xv = x[n * 18 + i], rs = r[n * 36 + i], ri = r[n * 36 + 18 + i];
                CHECK(y.data[n * 36 + i] == xv * xv && y.data[n * 36 + 18 + i] == xv);
                CHECK_NEAR(g.data[n * 18 + i], 2.0 * xv * rs + ri, 1e-6);
            }
        gc_session_free(s);
    }
    gc_model_free(m);
}

/* One tensor read by a concat 300 times: each reader's gradient is accumulated. */
TEST(concat_of_many_copies) {
    enum { COPIES = 300 };
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    if (!m) return;
    const char *ins[COPIES];
    for (int k = 0; k < COPIES; k++) ins[k] = "act";
    CHECK_OK(act(m, "act", NULL, GC_ACT_LEAKY_RELU));
    CHECK_OK(gc_model_add_concat(m, "cat", COPIES, ins));
    gc_session_config cfg = {.batch = 2, .channels = 2, .height = 3, .width = 2};
    gc_session *s = session(m, cfg);
    if (s) {
        float x[24], *r = malloc(2 * COPIES * 12 * sizeof(float));
        gc_rng rng;
        gc_rng_seed(&rng, 4);
        fill(x, 24, &rng, 1.0f);
        fill(r, 2 * COPIES * 12, &rng, 1.0f);
        gc_tensor y, g;
        CHECK_OK(gc_session_forward(s, x));
        CHECK_OK(gc_session_output(s, &y));
        CHECK(y.shape[1] == 2 * COPIES && y.shape[2] == 3);
        gc_backward_opts bo = {NULL, GC_RELU_GUIDED, 0};
        CHECK_OK(gc_session_backward(s, r, &bo));
        CHECK_OK(gc_session_gradient(s, "input", &g));
        for (int n = 0; n < 2 && g.data; n++)
            for (int i = 0; i < 12; i++) {
                double want = 0;
                for (int k = 0; k < COPIES; k++) want += r[(n * COPIES + k) * 12 + i];
                want *= x[n * 12 + i] > 0 ? 1.0 : 0.01;
                CHECK_NEAR(g.data[n * 12 + i], want, 1e-4 * (1 + fabs(want)));
            }
        free(r);
    }
    gc_session_free(s);
    gc_model_free(m);
}

/* Branches that do not fit are refused when the session is planned, naming the layer. */
TEST(mismatched_branches_are_refused) {
    for (int kind = 0; kind < 3; kind++) {
        gc_model *m = NULL;
        const char *two[2] = {"a", "b"};
        gc_status st = gc_model_create(&m);
        if (!st) st = conv(m, "a", "input", 3, 4, 3, 1, 1);
        if (!st) st = conv(m, "b", "input", 3, kind == 2 ? 2 : 6, 3, 2, 1); /* half the size */
        if (!st) st = kind == 0 ? gc_model_add_add(m, "join", "a", "b")
                    : kind == 1 ? gc_model_add_mul(m, "join", "a", "b")
                                : gc_model_add_concat(m, "join", 2, two);
        m = built(m, st, "mismatched branches");
        if (!m) { CHECK(0); continue; }
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = 8, .width = 8};
        gc_session *s = NULL;
        CHECK_FAILS(gc_session_create(m, &cfg, &s), GC_ERR_SHAPE);
        CHECK(s == NULL && strstr(gc_last_error(), "join") != NULL);
        gc_model_free(m);
    }
}

/* ------------------------------------------------------------------ folding */

static float *forward_copy(gc_session *s, const float *x) {
    gc_tensor y;
    if (gc_session_forward(s, x) || gc_session_output(s, &y)) return NULL;
    return dup_floats(y.data, gc_tensor_numel(&y));
}

static float *input_grad_copy(gc_session *s, const float *r, const char *stop, gc_relu_mode mode) {
    gc_backward_opts bo = {stop, mode, 0};
    gc_tensor g;
    if (gc_session_backward(s, r, &bo) || gc_session_gradient(s, stop ? stop : "input", &g)) return NULL;
    return dup_floats(g.data, gc_tensor_numel(&g));
}

/* Folded and unfolded sessions agree on outputs and on gradients (normal, guided; to the input
 * and to a layer with two readers), to float rounding. */
static void check_fold_agrees(const gc_model *m, const float *x, const float *r, const char *what) {
    gc_session_config cfg = {.batch = 2, .channels = 3, .height = 11, .width = 10};
    gc_session *fold = session(m, cfg);
    cfg.no_fold = 1;
    gc_session *plain = session(m, cfg);
    if (fold && plain) {
        float *yf = forward_copy(fold, x), *yp = forward_copy(plain, x);
        CHECK(yf && yp);
        if (yf && yp) {
            const double e = test_rel_err(yf, yp, 10, 1e-6);
            if (!(e < 1e-5)) FAILF("%s: folded output relative error %g", what, e);
        }
        const char *stops[2] = {NULL, "b1.relu"};
        const int64_t n_at[2] = {2 * 3 * 11 * 10, 2 * 4 * 11 * 10};
        for (int mode = GC_RELU_NORMAL; mode <= GC_RELU_GUIDED; mode++)
            for (int k = 0; k < 2; k++) {
                float *gf = input_grad_copy(fold, r, stops[k], (gc_relu_mode)mode);
                float *gp = input_grad_copy(plain, r, stops[k], (gc_relu_mode)mode);
                CHECK(gf && gp);
                if (gf && gp) {
                    const double e = test_rel_err(gf, gp, n_at[k], 1e-6);
                    if (!(e < 1e-5))
                        FAILF("%s: gradient at %s, mode %d: relative error %g", what, stops[k] ? stops[k] : "input",
                              mode, e);
                }
                free(gf);
                free(gp);
            }
        free(yf);
        free(yp);
    }
    gc_session_free(fold);
    gc_session_free(plain);
}

TEST(fold_matches_no_fold) {
    gc_model *m = dag_net(5, 1);
    if (!m) { CHECK(0); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 6);
    float x[2 * 3 * 11 * 10], r[10];
    fill(x, 2 * 3 * 11 * 10, &rng, 1.0f);
    fill(r, 10, &rng, 1.0f);
    check_fold_agrees(m, x, r, "dag");

    /* the folded convolution has no output of its own unless kept */
    gc_session_config cfg = {.batch = 2, .channels = 3, .height = 11, .width = 10};
    gc_session *fold = session(m, cfg);
    const char *keep[] = {"stem.conv", NULL};
    cfg.keep = keep;
    gc_session *kept = session(m, cfg);
    cfg.keep = NULL;
    cfg.keep_all = 1;
    gc_session *all = session(m, cfg);
    if (fold && kept && all) {
        gc_tensor t, ta;
        CHECK_OK(gc_session_forward(fold, x));
        CHECK_FAILS(gc_session_activation(fold, "stem.conv", &t), GC_ERR_STATE);
        CHECK(strstr(gc_last_error(), "fold") != NULL);
        CHECK_FAILS(gc_session_activation(fold, "b2.down.conv", &t), GC_ERR_STATE);
        CHECK(strstr(gc_last_error(), "fold") != NULL);
        gc_backward_opts to_conv = {"b1.conv2", GC_RELU_NORMAL, 0};
        CHECK_FAILS(gc_session_backward(fold, r, &to_conv), GC_ERR_STATE);
        CHECK(strstr(gc_last_error(), "fold") != NULL && strstr(gc_last_error(), "b1.conv2") != NULL);
        CHECK_OK(gc_session_shape(fold, "stem.conv", &t)); /* planned shapes stay known */
        CHECK(t.ndim == 4 && t.shape[1] == 4 && t.shape[2] == 11);
        /* the batch-norm itself is materialised and a valid stop */
        gc_backward_opts to_bn = {"b1.bn2", GC_RELU_NORMAL, 0};
        CHECK_OK(gc_session_backward(fold, r, &to_bn));
        CHECK_OK(gc_session_gradient(fold, "b1.bn2", &t));
        /* kept: readable, equal to the unfolded value; a valid stop */
        CHECK_OK(gc_session_forward(kept, x));
        CHECK_OK(gc_session_forward(all, x));
        CHECK_OK(gc_session_activation(kept, "stem.conv", &t));
        CHECK_OK(gc_session_activation(all, "stem.conv", &ta));
        if (t.data && ta.data) CHECK(test_rel_err(t.data, ta.data, gc_tensor_numel(&ta), 1e-6) < 1e-6);
        gc_backward_opts to_stem = {"stem.conv", GC_RELU_GUIDED, 0};
        CHECK_OK(gc_session_backward(kept, r, &to_stem));
        CHECK_OK(gc_session_backward(all, r, &to_stem));
        CHECK_OK(gc_session_gradient(kept, "stem.conv", &t));
        CHECK_OK(gc_session_gradient(all, "stem.conv", &ta));
        if (t.data && ta.data) CHECK(test_rel_err(t.data, ta.data, gc_tensor_numel(&ta), 1e-6) < 1e-5);
        CHECK_FAILS(gc_session_activation(kept, "b1.conv1", &t), GC_ERR_STATE); /* still folded */
        CHECK(strstr(gc_last_error(), "fold") != NULL);
    }
    gc_session_free(fold);
    gc_session_free(kept);
    gc_session_free(all);

    /* new weights: a folded session made before them refreshes its folded copies */
    cfg = (gc_session_config){.batch = 2, .channels = 3, .height = 11, .width = 10};
    fold = session(m, cfg);
    float *y0 = fold ? forward_copy(fold, x) : NULL;
    CHECK_OK(gc_model_init_random(m, 77));
    cfg.no_fold = 1;
    gc_session *fresh = session(m, cfg);
    if (fold && fresh && y0) {
        float *y1 = forward_copy(fold, x), *yr = forward_copy(fresh, x);
        CHECK(y1 && yr);
        if (y1 && yr) {
            CHECK(test_rel_err(y1, yr, 10, 1e-6) < 1e-5);
            CHECK(test_rel_err(y0, yr, 10, 1e-6) > 1e-3);
            float *gf = input_grad_copy(fold, r, NULL, GC_RELU_NORMAL), *gr = input_grad_copy(fresh, r, NULL, GC_RELU_NORMAL);
            CHECK(gf && gr && test_rel_err(gf, gr, 2 * 3 * 11 * 10, 1e-6) < 1e-5);
            free(gf);
            free(gr);
        }
        free(y1);
        free(yr);
    }
    free(y0);
    gc_session_free(fold);
    gc_session_free(fresh);
    gc_model_free(m);
}

/* An SGD step changes batch-norm parameters under a folded inference session: its next
 * forward uses the new values. */
TEST(fold_refreshes_after_sgd_step) {
    gc_model *m = dag_net(9, 1);
    if (!m) { CHECK(0); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 10);
    float x[2 * 3 * 11 * 10];
    fill(x, 2 * 3 * 11 * 10, &rng, 1.0f);
    gc_session_config cfg = {.batch = 2, .channels = 3, .height = 11, .width = 10};
    gc_session *infer = session(m, cfg);
    cfg.param_grads = 1;
    gc_session *train = session(m, cfg);
    gc_sgd *opt = NULL;
    gc_sgd_params sp = {0.5f, 0.0f, 0.0f, 0};
    CHECK_OK(gc_sgd_create(m, &sp, &opt));
    if (infer && train && opt) {
        float *y0 = forward_copy(infer, x);
        gc_tensor y;
        float grad[10];
        int labels[2] = {1, 3};
        CHECK_OK(gc_session_forward(train, x));
        CHECK_OK(gc_session_output(train, &y));
        CHECK_OK(gc_loss_softmax_xent(y.data, 2, 5, labels, NULL, grad));
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
        CHECK_OK(gc_session_backward(train, grad, &bo));
        gc_tensor bw;
        CHECK_OK(gc_model_param(m, "b1.bn2.weight", &bw));
        const float before = bw.data[0];
        CHECK_OK(gc_sgd_step(opt, train));
        CHECK(bw.data[0] != before);
        cfg.param_grads = 0;
        cfg.no_fold = 1;
        gc_session *fresh = session(m, cfg);
        float *y1 = forward_copy(infer, x), *yr = fresh ? forward_copy(fresh, x) : NULL;
        CHECK(y0 && y1 && yr);
        if (y0 && y1 && yr) {
            CHECK(test_rel_err(y1, yr, 10, 1e-6) < 1e-5);
            CHECK(test_rel_err(y0, yr, 10, 1e-6) > 1e-4);
        }
        free(y0);
        free(y1);
        free(yr);
        gc_session_free(fresh);
    }
    gc_sgd_free(opt);
    gc_session_free(infer);
    gc_session_free(train);
    gc_model_free(m);
}

/* ------------------------------------------------------------------ lean plan */

/* Lifetime-shared buffers (fan-out gradients accumulated, activations freed after their last
 * reader) give the bits of keep_all on the DAG, in less memory, for passes to the input, to a
 * layer read by two layers and to a concat, in two modes, with parameter gradients. */
TEST(lean_plan_matches_keep_all_on_dag) {
    gc_model *m = dag_net(21, 1);
    if (!m) { CHECK(0); return; }
    static char names[MAX_P][80];
    gc_tensor pt[MAX_P];
    const int np = trainable(m, names, pt);
    gc_rng rng;
    gc_rng_seed(&rng, 3);
    float x[2 * 3 * 13 * 12], r[10];
    fill(x, 2 * 3 * 13 * 12, &rng, 1.0f);
    fill(r, 10, &rng, 1.0f);
    for (int pg = 0; pg < 2; pg++) {
        gc_session_config cl = {.batch = 2, .channels = 3, .height = 13, .width = 12, .param_grads = pg, .no_fold = 1};
        gc_session_config ca = cl;
        ca.keep_all = 1;
        gc_session *ss[2] = {session(m, cl), session(m, ca)};
        if (!ss[0] || !ss[1]) { gc_session_free(ss[0]); gc_session_free(ss[1]); break; }
        CHECK(gc_session_memory(ss[0]) < gc_session_memory(ss[1]));
        const char *stops[3] = {"b1.relu", "cat", NULL};
        const gc_relu_mode modes[3] = {GC_RELU_NORMAL, GC_RELU_GUIDED, GC_RELU_GUIDED};
        float *got[2][4] = {{NULL}};
        int64_t len[4];
        for (int k = 0; k < 2; k++) {
            gc_tensor t;
            CHECK_OK(gc_session_forward(ss[k], x));
            CHECK_OK(gc_session_output(ss[k], &t));
            got[k][0] = dup_floats(t.data, len[0] = gc_tensor_numel(&t));
            for (int p = 0; p < 3; p++) {
                gc_backward_opts bo = {stops[p], modes[p], pg && !stops[p]};
                CHECK_OK(gc_session_backward(ss[k], r, &bo));
                CHECK_OK(gc_session_gradient(ss[k], stops[p] ? stops[p] : "input", &t));
                got[k][p + 1] = t.data ? dup_floats(t.data, len[p + 1] = gc_tensor_numel(&t)) : NULL;
            }
        }
        for (int p = 0; p < 4; p++)
            if (!got[0][p] || !got[1][p] || memcmp(got[0][p], got[1][p], (size_t)len[p] * sizeof(float)) != 0)
                FAILF("param_grads %d: result %d differs between the lean plan and keep_all", pg, p);
        for (int k = 0; k < 2; k++)
            for (int p = 0; p < 4; p++) free(got[k][p]);
        for (int i = 0; pg && i < np; i++) {
            gc_tensor a, b;
            CHECK_OK(gc_session_param_grad(ss[0], names[i], &a));
            CHECK_OK(gc_session_param_grad(ss[1], names[i], &b));
            if (a.data && b.data && memcmp(a.data, b.data, (size_t)gc_tensor_numel(&a) * sizeof(float)) != 0)
                FAILF("gradient of %s differs between the lean plan and keep_all", names[i]);
        }
        gc_tensor t;
        CHECK_FAILS(gc_session_gradient(ss[0], "b1.relu", &t), GC_ERR_STATE);
        CHECK_OK(gc_session_gradient(ss[1], "b1.relu", &t));
        CHECK_OK(gc_session_gradient(ss[1], "side.act", &t));
        CHECK_FAILS(gc_session_activation(ss[0], "b1.bn2", &t), GC_ERR_STATE);
        CHECK_OK(gc_session_activation(ss[1], "b1.bn2", &t));
        CHECK_OK(gc_session_activation(ss[0], "dup", &t)); /* the default layer is always kept */
        gc_session_free(ss[0]);
        gc_session_free(ss[1]);
    }
    gc_model_free(m);
}

/* ------------------------------------------------------------------ aliases */

TEST(aliases_name_layers_everywhere) {
    gc_model *m = resnet_like(1, 7);
    if (!m) { CHECK(0); return; }
    const int last = gc_model_find_layer(m, "layer2.1.relu_1"), l1 = gc_model_find_layer(m, "layer1.0.relu_1");
    CHECK(last >= 0 && gc_model_find_layer(m, "layer2") == last && gc_model_find_layer(m, "layer2.1") == last);
    CHECK(l1 >= 0 && gc_model_find_layer(m, "layer1") == l1 && gc_model_find_layer(m, "layer1.0") == l1);
    CHECK(gc_model_layer_alias_count(m, last) == 2);
    CHECK(strcmp(gc_model_layer_alias(m, last, 0), "layer2.1") == 0 && strcmp(gc_model_layer_alias(m, last, 1), "layer2") == 0);
    CHECK(gc_model_layer_alias(m, last, 2) == NULL && gc_model_layer_alias(m, last, -1) == NULL);
    CHECK(gc_model_layer_alias_count(m, 0) == 0);
    /* inputs given by alias are stored as the layer they name */
    const int ds = gc_model_find_layer(m, "layer2.0.downsample.0");
    CHECK(ds >= 0 && strcmp(gc_model_layer_input(m, ds), "layer1.0.relu_1") == 0);
    const int add = gc_model_find_layer(m, "layer2.1.add");
    CHECK(add >= 0 && strcmp(gc_model_layer_input_at(m, add, 1), "layer2.0.relu_1") == 0);

    gc_rng rng;
    gc_rng_seed(&rng, 2);
    float x[3 * 13 * 11], dy[7] = {0, 0, 1, 0, 0, -1, 0};
    fill(x, 3 * 13 * 11, &rng, 1.0f);
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 13, .width = 11, .no_fold = 1};
    const char *keep[] = {"layer1", NULL};
    gc_session *plain = session(m, cfg);
    cfg.keep = keep;
    gc_session *kept = session(m, cfg);
    cfg.keep = NULL;
    cfg.keep_all = 1;
    gc_session *all = session(m, cfg);
    if (plain && kept && all) {
        gc_tensor a, b, c;
        CHECK_OK(gc_session_forward(plain, x));
        CHECK_OK(gc_session_forward(kept, x));
        CHECK_OK(gc_session_forward(all, x));
        CHECK_FAILS(gc_session_activation(plain, "layer1", &a), GC_ERR_STATE);
        CHECK_OK(gc_session_activation(kept, "layer1", &a));            /* kept by alias */
        CHECK_OK(gc_session_activation(kept, "layer1.0.relu_1", &b));
        CHECK_OK(gc_session_activation(all, "layer1.0", &c));
        CHECK(a.data == b.data && a.data && c.data);
        if (a.data && c.data) CHECK(memcmp(a.data, c.data, (size_t)gc_tensor_numel(&c) * sizeof(float)) == 0);
        CHECK_OK(gc_session_activation(plain, "layer2", &a));           /* the default layer, by alias */
        /* stop_layer by alias */
        gc_backward_opts to_l1 = {"layer1", GC_RELU_NORMAL, 0}, full = {NULL, GC_RELU_NORMAL, 0};
        CHECK_OK(gc_session_backward(plain, dy, &to_l1));
        CHECK_OK(gc_session_gradient(plain, "layer1", &a));
        CHECK_OK(gc_session_gradient(plain, "layer1.0.relu_1", &b));
        CHECK(a.data == b.data);
        CHECK_OK(gc_session_backward(all, dy, &full));
        CHECK_OK(gc_session_gradient(all, "layer1.0", &c));
        if (a.data && c.data) CHECK(memcmp(a.data, c.data, (size_t)gc_tensor_numel(&c) * sizeof(float)) == 0);
        /* input_layer by alias: the layers after layer2.0, fed its output */
        gc_session_config hc = {.batch = 1, .channels = 3, .height = 13, .width = 11, .no_fold = 1,
                                .input_layer = "layer2.0"};
        gc_session *head = session(m, hc);
        if (head) {
            gc_tensor y, yh;
            CHECK_OK(gc_session_activation(all, "layer2.0.relu_1", &a));
            CHECK_OK(gc_session_forward(head, a.data));
            CHECK_OK(gc_session_output(head, &yh));
            CHECK_OK(gc_session_output(all, &y));
            CHECK(test_rel_err(yh.data, y.data, 7, 1e-6) < 1e-6);
            CHECK_OK(gc_session_shape(head, "layer2.0", &a)); /* its own input, by alias */
            CHECK(a.shape[1] == 12);
            gc_session_free(head);
        }
    }
    /* gc_explain's layer by alias gives the maps of the layer it names */
    gc_session_config ec = {.batch = 1, .channels = 3, .height = 13, .width = 11, .keep = keep};
    gc_session *es = session(m, ec);
    if (es) {
        gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = 4, .layer = "layer1"};
        gc_explain_result res;
        CHECK_OK(gc_explain(es, x, &req, &res));
        float alpha[8], cam[13 * 11];
        if (res.count == 1 && res.items[0].alpha.data && res.items[0].cam.data) {
            CHECK(res.items[0].alpha.shape[0] == 8 && gc_tensor_numel(&res.items[0].cam) == 13 * 11);
            memcpy(alpha, res.items[0].alpha.data, sizeof alpha);
            memcpy(cam, res.items[0].cam.data, sizeof cam);
            req.layer = "layer1.0.relu_1";
            CHECK_OK(gc_explain(es, x, &req, &res));
            CHECK(memcmp(alpha, res.items[0].alpha.data, sizeof alpha) == 0);
            CHECK(memcmp(cam, res.items[0].cam.data, sizeof cam) == 0);
        } else {
            CHECK(0);
        }
        req.layer = NULL;
        CHECK_OK(gc_explain(es, x, &req, &res));
        CHECK(res.layer && strcmp(res.layer, "layer2") == 0);
        gc_session_free(es);
    }
    gc_session_free(plain);
    gc_session_free(kept);
    gc_session_free(all);
    gc_model_free(m);
}

TEST(bad_aliases_are_refused) {
    gc_model *m = resnet_like(2, 3);
    if (!m) { CHECK(0); return; }
    const int n_layers = gc_model_layer_count(m);
    const gc_status A = GC_ERR_INVALID_ARGUMENT;
    CHECK_FAILS(gc_model_add_alias(m, "layer2", "fc"), A);          /* an alias already */
    CHECK(strstr(gc_last_error(), "layer2") != NULL);
    CHECK_FAILS(gc_model_add_alias(m, "avgpool", "fc"), A);         /* a layer name */
    CHECK_FAILS(gc_model_add_alias(m, "fc", "fc"), A);
    CHECK_FAILS(gc_model_add_alias(m, "input", "fc"), A);           /* reserved */
    CHECK_FAILS(gc_model_add_alias(m, "two words", "fc"), A);
    CHECK_FAILS(gc_model_add_alias(m, "", "fc"), A);
    char longname[80];
    memset(longname, 'a', 64);
    longname[64] = 0;
    CHECK_FAILS(gc_model_add_alias(m, longname, "fc"), A);
    longname[63] = 0;
    CHECK_OK(gc_model_add_alias(m, longname, "fc"));                /* 63 bytes fit */
    CHECK_FAILS(gc_model_add_alias(m, "head", "nowhere"), GC_ERR_NOT_FOUND);
    CHECK_FAILS(gc_model_add_alias(m, NULL, "fc"), A);
    CHECK_FAILS(gc_model_add_alias(m, "head", NULL), A);
    CHECK_FAILS(gc_model_add_alias(NULL, "head", "fc"), A);
    CHECK_FAILS(gc_model_add_relu(m, "layer1", NULL), A);           /* a layer named like an alias */
    CHECK(gc_model_layer_count(m) == n_layers);
    /* an alias of an alias names the same layer */
    CHECK_OK(gc_model_add_alias(m, "stage2", "layer2"));
    CHECK(gc_model_find_layer(m, "stage2") == gc_model_find_layer(m, "layer2.1.relu_1"));
    /* at most 16 per layer */
    const int fc = gc_model_find_layer(m, "fc");
    for (int k = gc_model_layer_alias_count(m, fc); k < 16; k++) {
        char name[32];
        snprintf(name, sizeof name, "head%d", k);
        CHECK_OK(gc_model_add_alias(m, name, "fc"));
    }
    CHECK(gc_model_layer_alias_count(m, fc) == 16);
    CHECK_FAILS(gc_model_add_alias(m, "one_too_many", "fc"), GC_ERR_LIMIT);
    CHECK(gc_model_find_layer(m, "one_too_many") == -1);
    /* unknown names in sessions and explanations */
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 9, .width = 9};
    const char *keep[] = {"layer3", NULL};
    gc_session *s = NULL;
    cfg.keep = keep;
    CHECK_FAILS(gc_session_create(m, &cfg, &s), GC_ERR_NOT_FOUND);
    cfg.keep = NULL;
    cfg.input_layer = "layer3";
    CHECK_FAILS(gc_session_create(m, &cfg, &s), GC_ERR_NOT_FOUND);
    gc_model_free(m);
}

/* ------------------------------------------------------------------ model files */

static void check_same_graph(const gc_model *a, const gc_model *b) {
    CHECK(gc_model_layer_count(a) == gc_model_layer_count(b));
    for (int i = 0; i < gc_model_layer_count(a) && i < gc_model_layer_count(b); i++) {
        if (strcmp(gc_model_layer_name(a, i), gc_model_layer_name(b, i)) != 0 ||
            gc_model_layer_kind(a, i) != gc_model_layer_kind(b, i) ||
            gc_model_layer_input_count(a, i) != gc_model_layer_input_count(b, i) ||
            gc_model_layer_alias_count(a, i) != gc_model_layer_alias_count(b, i)) {
            FAILF("layer %d (%s) differs", i, gc_model_layer_name(a, i));
            continue;
        }
        for (int k = 0; k < gc_model_layer_input_count(a, i); k++)
            if (strcmp(gc_model_layer_input_at(a, i, k), gc_model_layer_input_at(b, i, k)) != 0)
                FAILF("layer %s: input %d differs", gc_model_layer_name(a, i), k);
        for (int k = 0; k < gc_model_layer_alias_count(a, i); k++)
            if (strcmp(gc_model_layer_alias(a, i, k), gc_model_layer_alias(b, i, k)) != 0)
                FAILF("layer %s: alias %d differs", gc_model_layer_name(a, i), k);
    }
    const char *da = gc_model_default_layer(a), *db = gc_model_default_layer(b);
    CHECK(da && db && strcmp(da, db) == 0);
    CHECK(gc_model_param_count(a) == gc_model_param_count(b));
}

/* Same outputs, bit for bit, from two models on one input. */
static void check_same_outputs(const gc_model *a, const gc_model *b, gc_session_config cfg, uint64_t seed) {
    gc_session *sa = session(a, cfg), *sb = session(b, cfg);
    if (sa && sb) {
        const int64_t n = cfg.batch * cfg.channels * cfg.height * cfg.width;
        float *x = malloc((size_t)n * sizeof(float));
        gc_rng rng;
        gc_rng_seed(&rng, seed);
        fill(x, n, &rng, 1.0f);
        float *ya = forward_copy(sa, x), *yb = forward_copy(sb, x);
        const int64_t ny = numel_out(sa);
        CHECK(ya && yb && ny > 0 && ny == numel_out(sb));
        if (ya && yb && ny > 0) CHECK(memcmp(ya, yb, (size_t)ny * sizeof(float)) == 0);
        free(x);
        free(ya);
        free(yb);
    }
    gc_session_free(sa);
    gc_session_free(sb);
}

static uint32_t le32_at(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

TEST(gcw_round_trip_keeps_inputs_and_aliases) {
    gc_model *models[2] = {resnet_like(3, 5), dag_net(4, 1)};
    for (int i = 0; i < 2; i++) {
        gc_model *m = models[i], *r = NULL;
        if (!m) { CHECK(0); continue; }
        CHECK_OK(gc_model_add_alias(m, "logits", "fc"));
        void *buf = NULL;
        size_t len = 0;
        CHECK_OK(gc_model_save_memory(m, &buf, &len));
        if (!buf) { gc_model_free(m); continue; }
        CHECK(len > 12 && le32_at((const uint8_t *)buf + 8) == 2);
        CHECK_OK(gc_model_open_memory(buf, len, &r));
        gc_model_buffer_free(buf);
        if (r) {
            check_same_graph(m, r);
            CHECK(gc_model_find_layer(r, "logits") == gc_model_layer_count(r) - 1);
            gc_session_config cfg = {.batch = 2, .channels = 3, .height = 10, .width = 9};
            check_same_outputs(m, r, cfg, 7);
            gc_tensor a, b;
            const char *pn = i ? "b2.down.bn.running_var" : "layer2.0.downsample.1.running_mean";
            CHECK_OK(gc_model_param(m, pn, &a));
            CHECK_OK(gc_model_param(r, pn, &b));
            if (a.data && b.data) CHECK(memcmp(a.data, b.data, (size_t)gc_tensor_numel(&a) * sizeof(float)) == 0);
        }
        gc_model_free(r);
        gc_model_free(m);
    }
}

/* weights/shapes.gcw is a version-1 file: it opens, is written as version 2, reopens with the
 * same graph, labels, preprocessing and outputs. */
TEST(version1_file_still_opens) {
    size_t n = 0;
    uint8_t *file = test_read_file("weights/shapes.gcw", &n);
    if (!file) { FAILF("cannot read weights/shapes.gcw (run from the repository root)"); return; }
    CHECK(n > 12 && memcmp(file, "\x89GCW\r\n\x1a\n", 8) == 0 && le32_at(file + 8) == 1);
    free(file);
    gc_model *v1 = NULL, *v2 = NULL;
    CHECK_OK(gc_model_open("weights/shapes.gcw", &v1));
    if (!v1) return;
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(gc_model_save_memory(v1, &buf, &len));
    if (buf) {
        CHECK(le32_at((const uint8_t *)buf + 8) == 2);
        CHECK_OK(gc_model_open_memory(buf, len, &v2));
        gc_model_buffer_free(buf);
    }
    if (v2) {
        check_same_graph(v1, v2);
        CHECK(gc_model_label_count(v1) == gc_model_label_count(v2) && gc_model_label_count(v1) == 6);
        for (int i = 0; i < gc_model_label_count(v1); i++) CHECK(strcmp(gc_model_label(v1, i), gc_model_label(v2, i)) == 0);
        const gc_preprocess *p1 = gc_model_preprocess(v1), *p2 = gc_model_preprocess(v2);
        CHECK(memcmp(p1, p2, sizeof *p1) == 0);
        gc_session_config cfg = {.batch = 2, .channels = 3, .height = p1->input_height, .width = p1->input_width};
        check_same_outputs(v1, v2, cfg, 8);
        /* and a version-2 save of the reopened model is byte-identical to the first */
        void *b1 = NULL, *b2 = NULL;
        size_t l1 = 0, l2 = 0;
        CHECK_OK(gc_model_save_memory(v1, &b1, &l1));
        CHECK_OK(gc_model_save_memory(v2, &b2, &l2));
        CHECK(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0);
        gc_model_buffer_free(b1);
        gc_model_buffer_free(b2);
    }
    gc_model_free(v1);
    gc_model_free(v2);
}

/* ------------------------------------------------------------------ default layer */

TEST(default_layer_feeds_the_global_pooling) {
    gc_model *m = resnet_like(4, 5);
    if (m) CHECK(gc_model_default_layer(m) && strcmp(gc_model_default_layer(m), "layer2") == 0);
    gc_model_free(m);
    m = dag_net(1, 1);
    if (m) CHECK(gc_model_default_layer(m) && strcmp(gc_model_default_layer(m), "dup") == 0);
    gc_model_free(m);

    /* VGG-like chains: the last ReLU before the pooling that feeds the flatten, looked
     * through max pool, adaptive average pool and dropout */
    for (int variant = 0; variant < 2; variant++) {
        gc_model *v = NULL;
        gc_pool2d_params mp = gc_pool2d_defaults(2);
        gc_adaptive_pool2d_params ap = {2, 2};
        gc_linear_params fc = {variant ? 40 : 90, 3, 1};
        gc_status st = gc_model_create(&v);
        if (!st) st = conv(v, "features.0", NULL, 3, 6, 3, 1, 1);
        if (!st) st = gc_model_add_relu(v, "features.1", NULL);
        if (!st) st = conv(v, "features.2", NULL, 6, 10, 3, 1, 1);
        if (!st) st = gc_model_add_relu(v, "features.3", NULL);
        if (!st) st = gc_model_add_maxpool2d(v, "features.4", NULL, &mp);
        if (!st && variant) st = gc_model_add_adaptive_avgpool2d(v, "avgpool", NULL, &ap);
        if (!st && variant) st = gc_model_add_dropout(v, "drop", NULL, 0.5f);
        if (!st) st = gc_model_add_flatten(v, "flatten", NULL);
        if (!st) st = gc_model_add_linear(v, "classifier", NULL, &fc, NULL, NULL);
        v = built(v, st, "vgg chain");
        if (v) CHECK(gc_model_default_layer(v) && strcmp(gc_model_default_layer(v), "features.3") == 0);
        /* fully convolutional (no flat layer): the last spatial activation */
        if (v) {
            gc_model *f = NULL;
            CHECK_OK(gc_model_create(&f));
            CHECK_OK(conv(f, "c0", NULL, 3, 4, 3, 1, 1));
            CHECK_OK(act(f, "a0", NULL, GC_ACT_HARDSWISH));
            CHECK_OK(conv(f, "c1", NULL, 4, 2, 1, 1, 1));
            CHECK(gc_model_default_layer(f) && strcmp(gc_model_default_layer(f), "a0") == 0);
            gc_model_free(f);
        }
        gc_model_free(v);
    }
}

/* ------------------------------------------------------------------ explanations on a ResNet */

/* Grad-CAM with summed gradients equals CAM on a GAP + linear head (docs/explainers.md), at
 * the default layer (the last block's output, named by its alias). */
TEST(gradcam_equals_cam_on_resnet) {
    gc_model *m = resnet_like(5, 7);
    if (!m) { CHECK(0); return; }
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 15, .width = 13};
    gc_session *s = session(m, cfg);
    if (!s) { gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 8);
    float x[3 * 15 * 13];
    fill(x, 3 * 15 * 13, &rng, 1.0f);
    gc_tensor w;
    CHECK_OK(gc_model_param(m, "fc.weight", &w));
    for (int c = 0; c < 7; c++) {
        gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = c,
                                  .methods = GC_METHOD_GRADCAM | GC_METHOD_CAM, .alpha_sum = 1};
        gc_explain_result res;
        CHECK_OK(gc_explain(s, x, &req, &res));
        if (res.count != 1 || !res.items[0].cam_zhou.data || !res.items[0].cam_raw.data) { CHECK(0); break; }
        const gc_explanation *e = &res.items[0];
        CHECK(strcmp(res.layer, "layer2") == 0);
        const int64_t hw = gc_tensor_numel(&e->cam_raw);
        CHECK(hw == 8 * 7 && gc_tensor_numel(&e->cam_zhou) == hw);
        const double err = test_rel_err(e->cam_raw.data, e->cam_zhou.data, hw, 1e-6);
        if (!(err < 1e-5)) FAILF("class %d: Grad-CAM (sum) vs CAM relative error %g", c, err);
        for (int k = 0; k < 12; k++) CHECK_NEAR(e->alpha.data[k], w.data[c * 12 + k], 1e-5);
        req.alpha_sum = 0; /* the mean: CAM / Z */
        CHECK_OK(gc_explain(s, x, &req, &res));
        e = &res.items[0];
        for (int64_t i = 0; i < hw; i++)
            CHECK_NEAR(e->cam_raw.data[i] * hw, e->cam_zhou.data[i], 1e-4 * (fabs(e->cam_zhou.data[i]) + 1e-3));
    }
    gc_session_free(s);
    gc_model_free(m);
}

/* Top-K at layers inside residual blocks (the layers after them also read the block's input,
 * which does not depend on the target; in layer2.0 that input is a folded downsample) equals K
 * single-class runs; so at a stage output. */
TEST(top_k_inside_residual_block) {
    gc_model *m = resnet_like(6, 7);
    if (!m) { CHECK(0); return; }
    const char *layers[3] = {"layer2.1.relu", "layer2.0.relu", "layer1"}, *keep[4] = {layers[0], layers[1], layers[2], NULL};
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 13, .width = 11, .keep = keep};
    gc_session *s = session(m, cfg);
    if (!s) { gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 9);
    float x[3 * 13 * 11];
    fill(x, 3 * 13 * 11, &rng, 1.0f);
    enum { K = 3, MAXHW = 13 * 11 };
    for (int li = 0; li < 3; li++) {
        gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = K, .layer = layers[li],
                                  .methods = GC_METHOD_GRADCAM | GC_METHOD_COUNTERFACTUAL};
        gc_explain_result res;
        CHECK_OK(gc_explain(s, x, &req, &res));
        if (res.count != K) { FAILF("%s: %d targets", layers[li], res.count); continue; }
        int cls[K];
        int64_t C = res.items[0].alpha.shape[0], hw = gc_tensor_numel(&res.items[0].cam);
        float alpha[K][12], raw[K][MAXHW], cf[K][MAXHW], up[K][MAXHW];
        CHECK(C <= 12 && hw <= MAXHW && gc_tensor_numel(&res.items[0].cam_up) == MAXHW);
        if (C > 12 || hw > MAXHW) continue;
        for (int t = 0; t < K; t++) {
            const gc_explanation *e = &res.items[t];
            cls[t] = e->class_index;
            memcpy(alpha[t], e->alpha.data, (size_t)C * sizeof(float));
            memcpy(raw[t], e->cam_raw.data, (size_t)hw * sizeof(float));
            memcpy(cf[t], e->counterfactual.data, (size_t)hw * sizeof(float));
            memcpy(up[t], e->cam_up.data, MAXHW * sizeof(float));
            if (t) CHECK(e->score <= res.items[t - 1].score);
        }
        for (int t = 0; t < K; t++) {
            gc_explain_request one = req;
            one.target = GC_TARGET_CLASS;
            one.class_index = cls[t];
            CHECK_OK(gc_explain(s, x, &one, &res));
            if (res.count != 1) continue;
            const gc_explanation *e = &res.items[0];
            const double ea = test_rel_err(alpha[t], e->alpha.data, C, 1e-6),
                         er = test_rel_err(raw[t], e->cam_raw.data, hw, 1e-6),
                         ec = test_rel_err(cf[t], e->counterfactual.data, hw, 1e-6),
                         eu = test_rel_err(up[t], e->cam_up.data, MAXHW, 1e-6);
            if (!(ea < 1e-5 && er < 1e-5 && ec < 1e-5 && eu < 1e-5))
                FAILF("%s, class %d: top-K vs single run: alpha %g, cam_raw %g, counterfactual %g, cam_up %g",
                      layers[li], cls[t], ea, er, ec, eu);
        }
    }
    /* the public session cannot start there: the add also reads the other branch */
    gc_session *h = NULL;
    gc_session_config hc = cfg;
    hc.input_layer = "layer2.1.relu";
    CHECK_FAILS(gc_session_create(m, &hc, &h), GC_ERR_UNSUPPORTED);
    CHECK(strstr(gc_last_error(), "layer2.1.relu") != NULL);
    hc.input_layer = "layer2.0.bn2";
    CHECK_FAILS(gc_session_create(m, &hc, &h), GC_ERR_UNSUPPORTED);
    hc.input_layer = "layer2.0";
    CHECK_OK(gc_session_create(m, &hc, &h));
    gc_session_free(h);
    gc_session_free(s);
    gc_model_free(m);
}

/* Guided Grad-CAM at the stage output (a chain after it: Grad-CAM's and guided backprop's
 * passes through the head run together) and inside the last block (no chain: they run apart)
 * gives the bits of the methods asked for one at a time; the guided map is the input gradient
 * of the class score with guided ReLUs. */
TEST(guided_gradcam_on_resnet_equals_separate_runs) {
    gc_model *m = resnet_like(8, 6);
    if (!m) { CHECK(0); return; }
    const char *keep[] = {"layer2.1.relu", NULL};
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 12, .width = 11, .keep = keep};
    gc_session *s = session(m, cfg);
    if (!s) { gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 14);
    enum { HW = 12 * 11, NX = 3 * HW };
    float x[NX];
    fill(x, NX, &rng, 1.0f);
    const char *layers[2] = {"layer2", "layer2.1.relu"};
    for (int li = 0; li < 2; li++) {
        const int cls = 2 + li;
        gc_explain_request both = {.target = GC_TARGET_CLASS, .class_index = cls, .layer = layers[li],
                                   .methods = GC_METHOD_GUIDED_GRADCAM};
        gc_explain_result r;
        float alpha[12], up[HW], guided[NX], gg[NX];
        CHECK_OK(gc_explain(s, x, &both, &r));
        if (r.count != 1 || !r.items[0].guided.data || !r.items[0].guided_gradcam.data) { CHECK(0); continue; }
        CHECK(r.items[0].alpha.shape[0] == 12);
        memcpy(alpha, r.items[0].alpha.data, sizeof alpha);
        memcpy(up, r.items[0].cam_up.data, sizeof up);
        memcpy(guided, r.items[0].guided.data, sizeof guided);
        memcpy(gg, r.items[0].guided_gradcam.data, sizeof gg);
        gc_explain_request one = both;
        one.methods = GC_METHOD_GRADCAM;
        CHECK_OK(gc_explain(s, x, &one, &r));
        /* the request with guided backprop ran the accurate forward, this one the fast one */
        CHECK(memcmp(alpha, r.items[0].alpha.data, sizeof alpha) == 0);
        CHECK(test_rel_err(up, r.items[0].cam_up.data, HW, 1e-6) <= 1e-5);
        one.methods = GC_METHOD_GUIDED_BACKPROP;
        CHECK_OK(gc_explain(s, x, &one, &r));
        CHECK(memcmp(guided, r.items[0].guided.data, sizeof guided) == 0);
        int ok = 1, nonzero = 0;
        for (int i = 0; i < NX; i++) ok &= gg[i] == guided[i] * up[i % HW], nonzero |= guided[i] != 0.0f;
        CHECK(ok && nonzero);
        /* guided backprop by hand: the session's own backward, guided, of the one-hot score */
        float onehot[6] = {0};
        onehot[cls] = 1.0f;
        gc_backward_opts bo = {NULL, GC_RELU_GUIDED, 0};
        gc_tensor g;
        CHECK_OK(gc_session_forward(s, x));
        CHECK_OK(gc_session_backward(s, onehot, &bo));
        CHECK_OK(gc_session_gradient(s, "input", &g));
        if (g.data) CHECK(memcmp(guided, g.data, sizeof guided) == 0);
    }
    gc_session_free(s);
    gc_model_free(m);
}

/* The head session behind top-K, directly: fed by a batch-1 forward, its K copies give the
 * full network's output, and its batched backward each copy's gradient. */
TEST(head_session_fed_during_forward) {
    gc_model *m = resnet_like(7, 5);
    if (!m) { CHECK(0); return; }
    const char *keep[] = {"layer2.0.relu", NULL};
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 12, .width = 10, .keep = keep};
    gc_session_config hc = {.batch = 2, .channels = 3, .height = 12, .width = 10, .input_layer = "layer2.0.relu"};
    gc_session *s = session(m, cfg), *head = NULL;
    CHECK_OK(gc_session_create_head(m, &hc, &head));
    gc_model *other = resnet_like(7, 5);
    gc_session *foreign = NULL, *batch4 = NULL;
    if (other) CHECK_OK(gc_session_create_head(other, &hc, &foreign));
    cfg.batch = 4; /* a whole-network batch that does not divide the head's 2 */
    batch4 = session(m, cfg);
    if (s && head && foreign && batch4) {
        gc_rng rng;
        gc_rng_seed(&rng, 12);
        float x[2 * 3 * 12 * 10];
        fill(x, 2 * 3 * 12 * 10, &rng, 1.0f);
        CHECK_FAILS(gc_session_forward_feeding(s, x, foreign), GC_ERR_INVALID_ARGUMENT);
        CHECK_FAILS(gc_session_forward_feeding(batch4, x, head), GC_ERR_INVALID_ARGUMENT);
        CHECK_OK(gc_session_forward_feeding(s, x, head));
        gc_tensor A, y, yh, g, gh;
        CHECK_OK(gc_session_activation(s, "layer2.0.relu", &A));
        CHECK_OK(gc_session_output(s, &y));
        const int64_t na = gc_tensor_numel(&A);
        float *a2 = malloc(2 * (size_t)na * sizeof(float));
        if (A.data) {
            memcpy(a2, A.data, (size_t)na * sizeof(float));
            memcpy(a2 + na, A.data, (size_t)na * sizeof(float));
        }
        float *y1 = dup_floats(y.data, 5);
        CHECK_OK(gc_session_forward(head, a2));
        CHECK_OK(gc_session_output(head, &yh));
        CHECK(yh.shape[0] == 2 && yh.shape[1] == 5);
        for (int k = 0; k < 2; k++) CHECK(test_rel_err(yh.data + 5 * k, y1, 5, 1e-6) < 1e-5);
        float dy2[10] = {0}, dy[5];
        dy2[1] = 1.0f;
        dy2[5 + 3] = 1.0f;
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0}, to_t = {"layer2.0.relu", GC_RELU_NORMAL, 0};
        CHECK_OK(gc_session_backward(head, dy2, &bo));
        CHECK_OK(gc_session_gradient(head, "input", &gh));
        for (int k = 0; k < 2 && gh.data; k++) {
            memcpy(dy, dy2 + 5 * k, sizeof dy);
            CHECK_OK(gc_session_backward(s, dy, &to_t));
            CHECK_OK(gc_session_gradient(s, "layer2.0.relu", &g));
            if (g.data) CHECK(test_rel_err(gh.data + k * na, g.data, na, 1e-9) < 1e-5);
        }
        free(a2);
        free(y1);
    }
    gc_session_free(batch4);
    gc_session_free(foreign);
    gc_session_free(head);
    gc_session_free(s);
    gc_model_free(other);
    gc_model_free(m);
}

/* A layer after the target reads the network input itself, which a head session cannot be
 * fed: top-K there is refused (whatever the order of that layer's inputs) instead of reading
 * a shape that does not exist; a single target still works. */
TEST(top_k_refused_when_head_reads_network_input) {
    for (int order = 0; order < 2; order++) {
        gc_model *m = NULL;
        gc_linear_params fc = {9, 4, 1};
        const char *ins[2][3] = {{"input", "side", "r"}, {"side", "input", "r"}};
        gc_status st = gc_model_create(&m);
        if (!st) st = conv(m, "a", "input", 3, 3, 1, 1, 1);
        if (!st) st = gc_model_add_relu(m, "r", NULL);
        if (!st) st = conv(m, "side", "input", 3, 3, 1, 1, 1);
        if (!st) st = gc_model_add_concat(m, "cat", 3, ins[order]);
        if (!st) st = gap(m, "gap", NULL);
        if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
        if (!st) st = gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL);
        if (!st) st = gc_model_init_random(m, 3);
        m = built(m, st, "input-reading head");
        if (!m) { CHECK(0); continue; }
        const char *keep[] = {"r", NULL};
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = 6, .width = 5, .keep = keep};
        gc_session *s = session(m, cfg), *h = NULL;
        gc_session_config hc = cfg;
        hc.batch = 2;
        hc.input_layer = "r";
        CHECK_FAILS(gc_session_create_head(m, &hc, &h), GC_ERR_UNSUPPORTED);
        CHECK(strstr(gc_last_error(), "network input") != NULL);
        gc_session_free(h);
        if (s) {
            float x[3 * 6 * 5];
            gc_rng rng;
            gc_rng_seed(&rng, 1);
            fill(x, 90, &rng, 1.0f);
            gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 2, .layer = "r"};
            gc_explain_result res;
            CHECK_FAILS(gc_explain(s, x, &req, &res), GC_ERR_UNSUPPORTED);
            req.target = GC_TARGET_CLASS;
            req.class_index = 1;
            CHECK_OK(gc_explain(s, x, &req, &res));
        }
        gc_session_free(s);
        gc_model_free(m);
    }
}

/* ------------------------------------------------------------------ constants, pad, channel shuffle */

static const float norm_mean[3] = {0.485f, -0.25f, 0.125f}, norm_std[3] = {0.229f, 1.5f, 0.5f};

/* (x - mean) / std with mean (1, 3, 1, 1) and std (3, 1, 1) constants, then conv3x3 (3 -> 4,
 * padding 1) and a ReLU; the constants come first (so a version-1 header fails on them). */
static gc_status add_normalisation(gc_model *m) {
    const int64_t m4[4] = {1, 3, 1, 1}, s3[3] = {3, 1, 1};
    gc_status st = gc_model_add_constant(m, "mean", 4, m4, norm_mean);
    if (!st) st = gc_model_add_constant(m, "std", 3, s3, norm_std);
    if (!st) st = gc_model_add_sub(m, "center", "input", "mean");
    if (!st) st = gc_model_add_div(m, "norm", "center", "std");
    return st;
}

/* The normalised input by hand: the float operations sub and div perform. */
static void normalise(const float *x, int64_t N, int64_t S, float *xn) {
    for (int64_t n = 0; n < N; n++)
        for (int c = 0; c < 3; c++)
            for (int64_t k = 0; k < S; k++) {
                const int64_t i = (n * 3 + c) * S + k;
                xn[i] = (x[i] - norm_mean[c]) / norm_std[c];
            }
}

/* Normalisation inside the graph before a convolution: the convolution's output bits on the
 * input normalised by hand; the input gradient is the convolution's input gradient divided by
 * std (the same bits); the gradients of the constants' values (the constants as stop layers) are
 * -sum g / std and -sum g (x - mean) / std^2 per channel; the constants get no parameter gradient
 * and keep their values through gc_model_init_random; the weights' gradients match. */
TEST(normalisation_inside_the_graph) {
    gc_model *a = NULL, *b = NULL;
    gc_status st = gc_model_create(&a);
    if (!st) st = add_normalisation(a);
    if (!st) st = conv(a, "conv", NULL, 3, 4, 3, 1, 1);
    if (!st) st = gc_model_add_relu(a, "relu", NULL);
    if (!st) st = gc_model_init_random(a, 21);
    a = built(a, st, "normalised net");
    gc_tensor w, bias, v;
    if (a && !gc_model_param(a, "conv.weight", &w) && !gc_model_param(a, "conv.bias", &bias)) {
        gc_conv2d_params cp = gc_conv2d_defaults(3, 4, 3);
        cp.pad_h = cp.pad_w = 1;
        st = gc_model_create(&b);
        if (!st) st = gc_model_add_conv2d(b, "conv", "input", &cp, w.data, bias.data);
        if (!st) st = gc_model_add_relu(b, "relu", NULL);
        b = built(b, st, "plain conv");
    }
    if (!a || !b) { CHECK(0); gc_model_free(a); gc_model_free(b); return; }
    CHECK_OK(gc_model_param(a, "mean.value", &v));
    CHECK(v.data && memcmp(v.data, norm_mean, sizeof norm_mean) == 0); /* not initialised */
    enum { N = 2, H = 7, W = 6, S = H * W, NX = N * 3 * S, NY = N * 4 * S };
    gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W, .param_grads = 1};
    gc_session *sa = session(a, cfg), *sb = session(b, cfg);
    if (sa && sb) {
        gc_rng rng;
        gc_rng_seed(&rng, 22);
        float x[NX], xn[NX], dy[NY];
        fill(x, NX, &rng, 1.0f);
        fill(dy, NY, &rng, 1.0f);
        normalise(x, N, S, xn);
        float *ya = forward_copy(sa, x), *yb = forward_copy(sb, xn);
        CHECK(ya && yb && memcmp(ya, yb, sizeof(float) * NY) == 0);
        free(ya);
        free(yb);
        gc_backward_opts all = {NULL, GC_RELU_NORMAL, 1};
        gc_tensor ga, gb, pa, pb;
        CHECK_OK(gc_session_backward(sb, dy, &all));
        CHECK_OK(gc_session_gradient(sb, "input", &gb));
        CHECK_OK(gc_session_param_grad(sb, "conv.weight", &pb));
        float *g_norm = gb.data ? dup_floats(gb.data, NX) : NULL; /* d L / d (normalised input) */
        CHECK_OK(gc_session_backward(sa, dy, &all));
        CHECK_OK(gc_session_gradient(sa, "input", &ga));
        CHECK_OK(gc_session_param_grad(sa, "conv.weight", &pa));
        if (pa.data && pb.data) CHECK(memcmp(pa.data, pb.data, (size_t)gc_tensor_numel(&pa) * sizeof(float)) == 0);
        CHECK_FAILS(gc_session_param_grad(sa, "mean.value", &v), GC_ERR_STATE);
        CHECK_FAILS(gc_session_param_grad(sa, "std.value", &v), GC_ERR_STATE);
        if (ga.data && g_norm) {
            int same = 1;
            for (int64_t i = 0; i < NX; i++) same &= ga.data[i] == (float)((double)g_norm[i] / norm_std[i / S % 3]);
            CHECK(same);
        }
        double want_mean[3] = {0}, want_std[3] = {0};
        for (int64_t i = 0; g_norm && i < NX; i++) {
            const int c = (int)(i / S % 3);
            const double centred = (double)(x[i] - norm_mean[c]);
            want_mean[c] -= g_norm[i] / norm_std[c];
            want_std[c] -= g_norm[i] * centred / ((double)norm_std[c] * norm_std[c]);
        }
        gc_backward_opts to_mean = {"mean", GC_RELU_NORMAL, 0}, to_std = {"std", GC_RELU_GUIDED, 0};
        gc_tensor gm, gs;
        CHECK_OK(gc_session_backward(sa, dy, &to_mean));
        CHECK_OK(gc_session_gradient(sa, "mean", &gm));
        if (gm.data) {
            CHECK(gm.ndim == 4 && gm.shape[1] == 3);
            for (int c = 0; c < 3; c++) CHECK_NEAR(gm.data[c], want_mean[c], 1e-5 * (1 + fabs(want_mean[c])));
        }
        CHECK_FAILS(gc_session_gradient(sa, "input", &ga), GC_ERR_STATE); /* the pass stopped at mean */
        CHECK_OK(gc_session_backward(sa, dy, &to_std)); /* the layers after norm are conv and ReLU: */
        CHECK_OK(gc_session_gradient(sa, "std", &gs));  /* a guided pass gives another gradient */
        if (gs.data) CHECK(gs.ndim == 3 && gs.shape[0] == 3);
        gc_backward_opts to_std_n = {"std", GC_RELU_NORMAL, 0};
        CHECK_OK(gc_session_backward(sa, dy, &to_std_n));
        CHECK_OK(gc_session_gradient(sa, "std", &gs));
        for (int c = 0; gs.data && c < 3; c++) CHECK_NEAR(gs.data[c], want_std[c], 1e-5 * (1 + fabs(want_std[c])));
        free(g_norm);
    }
    gc_session_free(sa);
    gc_session_free(sb);
    gc_model_free(a);
    gc_model_free(b);
}

/* A network with constants after the layer where a session starts: normalisation, conv, ReLU,
 * + shift (a (1, 4, 1, 1) constant), * sigmoid(gate_raw) (a (4, 1, 1) constant through a layer
 * that reads only it), global pooling, linear. */
static gc_model *const_head_net(uint64_t seed) {
    gc_model *m = NULL;
    const int64_t c4[4] = {1, 4, 1, 1};
    const float shift[4] = {0.5f, -0.5f, 0.25f, 1.0f}, gate[4] = {2.0f, -1.0f, 0.0f, 0.5f};
    gc_linear_params fc = {4, 3, 1};
    gc_status st = gc_model_create(&m);
    if (!st) st = add_normalisation(m);
    if (!st) st = conv(m, "conv", NULL, 3, 4, 3, 1, 1);
    if (!st) st = gc_model_add_relu(m, "relu", NULL);
    if (!st) st = gc_model_add_constant(m, "shift", 4, c4, shift);
    if (!st) st = gc_model_add_add(m, "shifted", "relu", "shift");
    if (!st) st = gc_model_add_constant(m, "gate_raw", 3, c4 + 1, gate);
    if (!st) st = act(m, "gate", NULL, GC_ACT_SIGMOID);
    if (!st) st = gc_model_add_mul(m, "gated", "shifted", "gate");
    if (!st) st = gap(m, "gap", NULL);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st) st = gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL);
    if (!st) st = gc_model_init_random(m, seed);
    return built(m, st, "const_head_net");
}

/* Sessions that start inside the graph run the constants their layers read (also one added
 * before the input layer, and a layer that reads only a constant) and leave the others idle:
 * fed the full network's activation (two copies), they give its output, and their input
 * gradient is the full network's gradient at that layer. Top-K there equals single runs. */
TEST(constants_in_sessions_that_start_inside) {
    gc_model *m = const_head_net(31);
    if (!m) { CHECK(0); return; }
    enum { H = 6, W = 5 };
    const char *roots[2] = {"relu", "center"};
    const char *keep[] = {"relu", "center", NULL};
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W, .keep = keep};
    gc_session *s = session(m, cfg);
    gc_rng rng;
    gc_rng_seed(&rng, 32);
    float x[3 * H * W];
    fill(x, 3 * H * W, &rng, 1.0f);
    for (int r = 0; s && r < 2; r++) {
        gc_session_config hc = {.batch = 2, .channels = 3, .height = H, .width = W, .input_layer = roots[r]};
        gc_session *h = session(m, hc);
        if (!h) continue;
        gc_tensor t, y, yh, gh, g;
        CHECK_OK(gc_session_shape(h, "gate", &t));    /* runs: read by gated */
        CHECK_OK(gc_session_shape(h, "shift", &t));
        CHECK_FAILS(gc_session_shape(h, "mean", &t), GC_ERR_NOT_FOUND); /* idle: nothing here reads it */
        CHECK(strstr(gc_last_error(), "does not run") != NULL);
        if (r == 1) CHECK_OK(gc_session_shape(h, "std", &t)); /* added before center, read by norm */
        else CHECK_FAILS(gc_session_shape(h, "std", &t), GC_ERR_NOT_FOUND);
        CHECK_OK(gc_session_forward(s, x));
        CHECK_OK(gc_session_activation(s, roots[r], &t));
        CHECK_OK(gc_session_output(s, &y));
        const int64_t na = gc_tensor_numel(&t);
        float *a2 = malloc(2 * (size_t)na * sizeof(float)), y1[3];
        memcpy(a2, t.data, (size_t)na * sizeof(float));
        memcpy(a2 + na, t.data, (size_t)na * sizeof(float));
        memcpy(y1, y.data, sizeof y1);
        CHECK_OK(gc_session_forward(h, a2));
        CHECK_OK(gc_session_output(h, &yh));
        for (int k = 0; k < 2 && yh.data; k++) CHECK(test_rel_err(yh.data + 3 * k, y1, 3, 1e-6) < 1e-5);
        const float dy2[6] = {1, -2, 0.5f, -1, 0.25f, 3};
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0}, to_root = {roots[r], GC_RELU_NORMAL, 0};
        CHECK_OK(gc_session_backward(h, dy2, &bo));
        CHECK_OK(gc_session_gradient(h, "input", &gh));
        for (int k = 0; k < 2 && gh.data; k++) {
            CHECK_OK(gc_session_backward(s, dy2 + 3 * k, &to_root));
            CHECK_OK(gc_session_gradient(s, roots[r], &g));
            if (g.data) CHECK(test_rel_err(gh.data + k * na, g.data, na, 1e-6) < 1e-5);
        }
        free(a2);
        gc_session_free(h);
    }
    /* top-K at relu (the explainer's head session reads shift and gate) equals single runs */
    gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 2, .layer = "relu"};
    gc_explain_result res;
    float raw[2][H * W];
    int cls[2] = {-1, -1};
    if (s) CHECK_OK(gc_explain(s, x, &req, &res));
    for (int k = 0; s && k < 2 && res.count == 2; k++) {
        cls[k] = res.items[k].class_index;
        memcpy(raw[k], res.items[k].cam_raw.data, sizeof raw[k]);
    }
    for (int k = 0; s && k < 2 && cls[k] >= 0; k++) {
        gc_explain_request one = {.target = GC_TARGET_CLASS, .class_index = cls[k], .layer = "relu"};
        CHECK_OK(gc_explain(s, x, &one, &res));
        if (res.count == 1) CHECK(test_rel_err(raw[k], res.items[0].cam_raw.data, H * W, 1e-6) < 1e-5);
    }
    CHECK(cls[0] >= 0 && cls[1] >= 0);
    /* a session may start at a constant (its input is then the value), but gated also reads
     * shifted, which depends on the network input */
    gc_session_config kc = {.batch = 1, .channels = 3, .height = H, .width = W, .input_layer = "gate_raw"};
    gc_session *ks = NULL;
    CHECK_FAILS(gc_session_create(m, &kc, &ks), GC_ERR_UNSUPPORTED);
    CHECK(strstr(gc_last_error(), "gated also reads an earlier layer") != NULL);
    gc_session_free(s);
    gc_model_free(m);
}

/* pad + unpadded conv: the same as the conv with symmetric padding (output, input gradient,
 * weight and bias gradients), at two sizes; asymmetric pads + a strided conv against the
 * reference convolution of the input padded by hand. */
TEST(pad_then_conv_equals_padded_conv) {
    const int64_t ks[2] = {3, 5}, ps[2] = {1, 2}, strides[2] = {1, 2};
    for (int v = 0; v < 2; v++) {
        gc_conv2d_params cp = gc_conv2d_defaults(3, 5, ks[v]);
        cp.stride_h = cp.stride_w = strides[v];
        gc_model *a = NULL, *b = NULL;
        gc_pad_params pp = {ps[v], ps[v], ps[v], ps[v], 0.0f};
        gc_status st = gc_model_create(&a);
        if (!st) st = gc_model_add_pad(a, "pad", "input", &pp);
        if (!st) st = gc_model_add_conv2d(a, "conv", NULL, &cp, NULL, NULL);
        if (!st) st = gc_model_init_random(a, 40 + (uint64_t)v);
        a = built(a, st, "pad + conv");
        gc_tensor w, bias;
        if (a && !gc_model_param(a, "conv.weight", &w) && !gc_model_param(a, "conv.bias", &bias)) {
            cp.pad_h = cp.pad_w = ps[v];
            st = gc_model_create(&b);
            if (!st) st = gc_model_add_conv2d(b, "conv", "input", &cp, w.data, bias.data);
            b = built(b, st, "padded conv");
        }
        if (!a || !b) { CHECK(0); gc_model_free(a); gc_model_free(b); continue; }
        gc_session_config cfg = {.batch = 2, .channels = 3, .height = 9, .width = 8, .param_grads = 1};
        gc_session *sa = session(a, cfg), *sb = session(b, cfg);
        if (sa && sb) {
            const int64_t nx = 2 * 3 * 9 * 8;
            gc_rng rng;
            gc_rng_seed(&rng, 41);
            float *x = malloc((size_t)nx * sizeof(float));
            fill(x, nx, &rng, 1.0f);
            float *ya = forward_copy(sa, x), *yb = forward_copy(sb, x);
            const int64_t n_out = numel_out(sb);
            CHECK(ya && yb && n_out > 0 && n_out == numel_out(sa));
            if (ya && yb && n_out > 0) CHECK(test_rel_err(ya, yb, n_out, 1e-6) < 1e-5);
            float *dy = malloc((size_t)n_out * sizeof(float));
            fill(dy, n_out, &rng, 1.0f);
            gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
            const char *names[3] = {"input", "conv.weight", "conv.bias"};
            float *got[3] = {NULL, NULL, NULL};
            CHECK_OK(gc_session_backward(sa, dy, &bo));
            for (int k = 0; k < 3; k++) {
                gc_tensor t;
                if (!(k ? gc_session_param_grad(sa, names[k], &t) : gc_session_gradient(sa, names[k], &t)))
                    got[k] = dup_floats(t.data, gc_tensor_numel(&t));
            }
            CHECK_OK(gc_session_backward(sb, dy, &bo));
            for (int k = 0; k < 3; k++) {
                gc_tensor t;
                if ((k ? gc_session_param_grad(sb, names[k], &t) : gc_session_gradient(sb, names[k], &t)) || !got[k]) {
                    FAILF("pad + conv %d: no gradient of %s", v, names[k]);
                    continue;
                }
                const double e = test_rel_err(got[k], t.data, gc_tensor_numel(&t), 1e-6);
                if (!(e < 1e-5)) FAILF("pad + conv %d: gradient of %s relative error %g", v, names[k], e);
            }
            for (int k = 0; k < 3; k++) free(got[k]);
            free(dy);
            free(x);
            free(ya);
            free(yb);
        }
        gc_session_free(sa);
        gc_session_free(sb);
        gc_model_free(a);
        gc_model_free(b);
    }

    /* asymmetric: top 1, bottom 2, left 0, right 3, then conv 3x3 stride 2, no padding */
    gc_model *m = NULL;
    gc_pad_params pp = {1, 2, 0, 3, 0.0f};
    gc_conv2d_params cp = gc_conv2d_defaults(2, 3, 3);
    cp.stride_h = cp.stride_w = 2;
    gc_status st = gc_model_create(&m);
    if (!st) st = gc_model_add_pad(m, "pad", "input", &pp);
    if (!st) st = gc_model_add_conv2d(m, "conv", NULL, &cp, NULL, NULL);
    if (!st) st = gc_model_init_random(m, 43);
    m = built(m, st, "asymmetric pad + conv");
    gc_session_config cfg = {.batch = 2, .channels = 2, .height = 7, .width = 6};
    gc_session *s = m ? session(m, cfg) : NULL;
    gc_tensor w, bias;
    if (s && !gc_model_param(m, "conv.weight", &w) && !gc_model_param(m, "conv.bias", &bias)) {
        enum { NX = 2 * 2 * 7 * 6, PH = 10, PW = 9, NP = 2 * 2 * PH * PW };
        const int64_t OH = ref_conv_out(PH, 3, 2, 0, 1), OW = ref_conv_out(PW, 3, 2, 0, 1);
        float x[NX], xp[NP], *ref = malloc((size_t)(2 * 3 * OH * OW) * sizeof(float));
        gc_rng rng;
        gc_rng_seed(&rng, 44);
        fill(x, NX, &rng, 1.0f);
        ref_pad(2, 2, 7, 6, 1, 2, 0, 3, 0.0f, x, xp);
        ref_conv2d(&cp, 2, PH, PW, xp, w.data, bias.data, ref);
        float *y = forward_copy(s, x);
        CHECK(y && numel_out(s) == 2 * 3 * OH * OW);
        if (y && numel_out(s) == 2 * 3 * OH * OW) CHECK(test_rel_err(y, ref, 2 * 3 * OH * OW, 1e-6) < 1e-5);
        free(y);
        free(ref);
    }
    gc_session_free(s);
    gc_model_free(m);

    /* max pooling: pad with -FLT_MAX + an unpadded pool = the pool's own padding, bit for bit */
    gc_model *pa = NULL, *pb = NULL;
    gc_pool2d_params mp = gc_pool2d_defaults(3);
    mp.stride_h = mp.stride_w = 2;
    gc_pad_params neg = {1, 1, 1, 1, -3.4028235e38f};
    st = gc_model_create(&pa);
    if (!st) st = gc_model_add_pad(pa, "pad", "input", &neg);
    if (!st) st = gc_model_add_maxpool2d(pa, "pool", NULL, &mp);
    pa = built(pa, st, "pad + max pool");
    mp.pad_h = mp.pad_w = 1;
    st = gc_model_create(&pb);
    if (!st) st = gc_model_add_maxpool2d(pb, "pool", "input", &mp);
    pb = built(pb, st, "padded max pool");
    cfg = (gc_session_config){.batch = 2, .channels = 3, .height = 9, .width = 8};
    gc_session *qa = pa ? session(pa, cfg) : NULL, *qb = pb ? session(pb, cfg) : NULL;
    if (qa && qb) {
        enum { NX = 2 * 3 * 9 * 8 };
        float x[NX];
        gc_rng rng;
        gc_rng_seed(&rng, 45);
        fill(x, NX, &rng, 1.0f);
        float *ya = forward_copy(qa, x), *yb = forward_copy(qb, x);
        const int64_t n_out = numel_out(qb);
        CHECK(ya && yb && n_out == 2 * 3 * 5 * 4 && numel_out(qa) == n_out);
        if (ya && yb && n_out == numel_out(qa)) {
            CHECK(memcmp(ya, yb, (size_t)n_out * sizeof(float)) == 0);
            float *ga = input_grad_copy(qa, ya, NULL, GC_RELU_NORMAL), *gb = input_grad_copy(qb, ya, NULL, GC_RELU_NORMAL);
            CHECK(ga && gb && memcmp(ga, gb, sizeof x) == 0);
            free(ga);
            free(gb);
        }
        free(ya);
        free(yb);
    }
    gc_session_free(qa);
    gc_session_free(qb);
    gc_model_free(pa);
    gc_model_free(pb);
}

/* A ShuffleNet v1 unit on (N, 8, H, W): grouped 1x1 conv (2 groups) bn SiLU, channel shuffle (2
 * groups), depthwise 3x3 bn, grouped 1x1 conv bn, + the input, SiLU; global pooling and a
 * linear layer. */
static gc_model *shuffle_net(uint64_t seed) {
    gc_model *m = NULL;
    gc_rng r;
    gc_rng_seed(&r, seed + 3000);
    gc_conv2d_params g1 = gc_conv2d_defaults(8, 8, 1), dw = gc_conv2d_defaults(8, 8, 3);
    g1.groups = 2;
    g1.bias = 0;
    dw.groups = 8;
    dw.pad_h = dw.pad_w = 1;
    dw.bias = 0;
    gc_linear_params fc = {8, 5, 1};
    gc_status st = gc_model_create(&m);
    if (!st) st = gc_model_add_conv2d(m, "pw1", "input", &g1, NULL, NULL);
    if (!st) st = bn(m, "bn1", NULL, 8, &r);
    if (!st) st = act(m, "act1", NULL, GC_ACT_SILU);
    if (!st) st = gc_model_add_channel_shuffle(m, "shuffle", NULL, 2);
    if (!st) st = gc_model_add_conv2d(m, "dw", NULL, &dw, NULL, NULL);
    if (!st) st = bn(m, "bn2", NULL, 8, &r);
    if (!st) st = gc_model_add_conv2d(m, "pw2", NULL, &g1, NULL, NULL);
    if (!st) st = bn(m, "bn3", NULL, 8, &r);
    if (!st) st = gc_model_add_add(m, "add", "bn3", "input");
    if (!st) st = act(m, "act2", NULL, GC_ACT_SILU);
    if (!st) st = gap(m, "gap", NULL);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st) st = gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL);
    if (!st) st = gc_model_init_random(m, seed);
    return built(m, st, "shuffle_net");
}

/* The unit's shuffle output is the Reshape/Transpose reference of its input; directional
 * derivatives along the input and along every trainable parameter (batch-norm affine ones
 * included) match central differences; shuffles by 2 and by 4 groups of 8 channels undo each
 * other (output and gradient, bit for bit). */
TEST(shufflenet_unit) {
    gc_model *m = shuffle_net(51);
    if (!m) { CHECK(0); return; }
    enum { N = 2, H = 7, W = 6, NX = N * 8 * H * W };
    gc_session_config cfg = {.batch = N, .channels = 8, .height = H, .width = W, .keep_all = 1, .param_grads = 1};
    gc_session *s = session(m, cfg);
    gc_rng rng;
    gc_rng_seed(&rng, 52);
    float x[NX], vx[NX], xp[NX], ref[NX], r[N * 5];
    fill(x, NX, &rng, 1.0f);
    fill(vx, NX, &rng, 1.0f);
    fill(r, N * 5, &rng, 1.0f);
    if (s) {
        gc_tensor a, b, gx;
        CHECK_OK(gc_session_forward(s, x));
        CHECK_OK(gc_session_activation(s, "act1", &a));
        CHECK_OK(gc_session_activation(s, "shuffle", &b));
        if (a.data && b.data) {
            ref_channel_shuffle(N, 8, H * W, 2, a.data, ref);
            CHECK(memcmp(ref, b.data, sizeof ref) == 0);
        }
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
        CHECK_OK(gc_session_backward(s, r, &bo));
        CHECK_OK(gc_session_gradient(s, "input", &gx));
        static char names[MAX_P][80];
        gc_tensor pt[MAX_P];
        const int np = trainable(m, names, pt);
        CHECK(np == 3 + 6 + 2); /* three convs without bias, three batch-norms, the linear layer */
        /* every analytic directional derivative first: each forward below clears the gradients */
        double an[MAX_P + 1] = {0};
        float *v[MAX_P], *orig[MAX_P];
        for (int64_t i = 0; gx.data && i < NX; i++) an[0] += (double)gx.data[i] * vx[i];
        for (int k = 0; k < np; k++) {
            gc_tensor gp;
            const int64_t n = gc_tensor_numel(&pt[k]);
            v[k] = malloc((size_t)n * sizeof(float));
            orig[k] = dup_floats(pt[k].data, n);
            fill(v[k], n, &rng, 0.2f);
            if (gc_session_param_grad(s, names[k], &gp)) { FAILF("no gradient of %s", names[k]); continue; }
            for (int64_t i = 0; i < n; i++) an[k + 1] += (double)gp.data[i] * v[k][i];
        }
        const float eps = 1e-2f;
        for (int part = -1; part < np; part++) {
            double lp[2];
            for (int side = 0; side < 2; side++) {
                const float e = side ? -eps : eps;
                for (int64_t i = 0; i < NX; i++) xp[i] = x[i] + (part < 0 ? e * vx[i] : 0.0f);
                for (int64_t i = 0; part >= 0 && i < gc_tensor_numel(&pt[part]); i++)
                    pt[part].data[i] = orig[part][i] + e * v[part][i];
                lp[side] = loss(s, xp, r);
            }
            if (part >= 0) memcpy(pt[part].data, orig[part], (size_t)gc_tensor_numel(&pt[part]) * sizeof(float));
            const double numeric = (lp[0] - lp[1]) / (2.0 * eps), analytic = an[part + 1];
            if (!(fabs(analytic - numeric) <= 2e-3 * fabs(numeric) + 4e-6))
                FAILF("shuffle unit, along %s: analytic %g, numeric %g", part < 0 ? "input" : names[part], analytic,
                      numeric);
            if (getenv("GC_TEST_VERBOSE")) printf("  %-12s analytic %12.6g numeric %12.6g\n", part < 0 ? "input" : names[part], analytic, numeric);
            CHECK(fabs(analytic) > 1e-5);
        }
        for (int k = 0; k < np; k++) {
            free(v[k]);
            free(orig[k]);
        }
    }
    gc_session_free(s);
    gc_model_free(m);

    /* shuffle by 2 then by 4 (= 8 / 2): the identity */
    gc_model *u = NULL;
    gc_status st = gc_model_create(&u);
    if (!st) st = gc_model_add_channel_shuffle(u, "s2", "input", 2);
    if (!st) st = gc_model_add_channel_shuffle(u, "s4", NULL, 4);
    if (!st) st = gc_model_add_identity(u, "id", NULL);
    u = built(u, st, "shuffle twice");
    cfg = (gc_session_config){.batch = N, .channels = 8, .height = H, .width = W};
    gc_session *us = u ? session(u, cfg) : NULL;
    if (us) {
        float *y = forward_copy(us, x), *g = input_grad_copy(us, vx, NULL, GC_RELU_NORMAL);
        CHECK(y && memcmp(y, x, sizeof x) == 0);
        CHECK(g && memcmp(g, vx, sizeof vx) == 0);
        free(y);
        free(g);
    }
    gc_session_free(us);
    gc_model_free(u);
}

/* Pad and identity are looked through for the default layer, as pooling and dropout are. */
TEST(default_layer_looks_through_pad_and_identity) {
    gc_model *m = NULL;
    gc_pool2d_params mp = gc_pool2d_defaults(2);
    gc_pad_params pp = {0, 1, 0, 1, -3.4028235e38f};
    gc_linear_params fc = {4 * 4 * 4, 3, 1};
    gc_status st = gc_model_create(&m);
    if (!st) st = conv(m, "conv", NULL, 3, 4, 3, 1, 1);
    if (!st) st = gc_model_add_relu(m, "relu", NULL);
    if (!st) st = gc_model_add_identity(m, "id", NULL);
    if (!st) st = gc_model_add_pad(m, "pad", NULL, &pp);
    if (!st) st = gc_model_add_maxpool2d(m, "pool", NULL, &mp);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st) st = gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL);
    m = built(m, st, "pad + identity head");
    if (m) CHECK(gc_model_default_layer(m) && strcmp(gc_model_default_layer(m), "relu") == 0);
    gc_model_free(m);
}

/* A model holding every kind added for ONNX graphs. */
static gc_model *onnx_kinds_net(uint64_t seed) {
    gc_model *m = NULL;
    gc_pad_params pp = {1, 0, 2, 1, 0.25f};
    gc_conv2d_params cp = gc_conv2d_defaults(3, 6, 3);
    gc_linear_params fc = {6, 4, 1};
    gc_status st = gc_model_create(&m);
    if (!st) st = add_normalisation(m);
    if (!st) st = gc_model_add_pad(m, "pad", NULL, &pp);
    if (!st) st = gc_model_add_conv2d(m, "conv", NULL, &cp, NULL, NULL);
    if (!st) st = gc_model_add_channel_shuffle(m, "shuffle", NULL, 3);
    if (!st) st = gc_model_add_identity(m, "id", NULL);
    if (!st) st = gc_model_add_relu(m, "relu", NULL);
    if (!st) st = gap(m, "gap", NULL);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st) st = gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL);
    if (!st) st = gc_model_init_random(m, seed);
    return built(m, st, "onnx kinds");
}

/* Offset of the first occurrence of the n bytes of pat in buf (len bytes), or -1. */
static long find_bytes(const uint8_t *buf, size_t len, const void *pat, size_t n) {
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, pat, n) == 0) return (long)i;
    return -1;
}

static uint64_t le64_at(const uint8_t *p) { return le32_at(p) | (uint64_t)le32_at(p + 4) << 32; }

/* Every new kind survives gc_model_save_memory / gc_model_open_memory: graph, hyper-parameters,
 * the constants' values, outputs bit for bit, and a second save byte for byte. Refused: a
 * constant record with an input, a constant in a version-1 file, a negative pad. */
TEST(gcw_round_trip_of_onnx_kinds) {
    gc_model *m = onnx_kinds_net(61), *r = NULL;
    if (!m) { CHECK(0); return; }
    void *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    CHECK_OK(gc_model_save_memory(m, &buf, &len));
    if (!buf) { gc_model_free(m); return; }
    CHECK_OK(gc_model_open_memory(buf, len, &r));
    if (r) {
        check_same_graph(m, r);
        for (int i = 0; i < gc_model_layer_count(m); i++) {
            char ha[256], hb[256];
            gc_gcw_format_hparams(&m->layers[i], ha, sizeof ha);
            gc_gcw_format_hparams(&r->layers[i], hb, sizeof hb);
            if (strcmp(ha, hb) != 0) FAILF("%s: hyper-parameters %s, reopened %s", m->layers[i].name, ha, hb);
        }
        char h[256];
        gc_gcw_format_hparams(&r->layers[gc_model_find_layer(r, "pad")], h, sizeof h);
        CHECK(strcmp(h, "top=1 bottom=0 left=2 right=1 value=0.25") == 0);
        gc_gcw_format_hparams(&r->layers[gc_model_find_layer(r, "std")], h, sizeof h);
        CHECK(strcmp(h, "ndim=3 d0=3 d1=1 d2=1 d3=1") == 0);
        gc_gcw_format_hparams(&r->layers[gc_model_find_layer(r, "shuffle")], h, sizeof h);
        CHECK(strcmp(h, "groups=3") == 0);
        gc_tensor a, b;
        CHECK_OK(gc_model_param(r, "mean.value", &a));
        CHECK(a.ndim == 4 && a.shape[1] == 3 && a.data && memcmp(a.data, norm_mean, sizeof norm_mean) == 0);
        CHECK_OK(gc_model_param(m, "std.value", &a));
        CHECK_OK(gc_model_param(r, "std.value", &b));
        CHECK(b.ndim == 3 && a.data && b.data && memcmp(a.data, b.data, sizeof norm_std) == 0);
        gc_session_config cfg = {.batch = 2, .channels = 3, .height = 9, .width = 7};
        check_same_outputs(m, r, cfg, 62);
        CHECK_OK(gc_model_save_memory(r, &buf2, &len2));
        CHECK(buf2 && len2 == len && memcmp(buf, buf2, len) == 0);
        gc_model_buffer_free(buf2);
    }
    gc_model_free(r);
    r = NULL;

    uint8_t *f = buf;
    const size_t graph = (size_t)le64_at(f + 32);
    /* the first record: str "constant", str "mean", u32 n_inputs = 0 */
    CHECK(graph + 20 + 4 <= len && memcmp(f + graph + 4, "constant", 8) == 0 && le32_at(f + graph + 20) == 0);
    f[graph + 20] = 1;
    CHECK_FAILS(gc_model_open_memory(buf, len, &r), GC_ERR_FORMAT);
    CHECK(r == NULL && strstr(gc_last_error(), "mean: 1 inputs; constant takes 0..0") != NULL);
    f[graph + 20] = 0;
    f[8] = 1; /* version 1: one input per record */
    CHECK_FAILS(gc_model_open_memory(buf, len, &r), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "constant takes 0..0 inputs; version 1 records have one") != NULL);
    f[8] = 2;
    const long top = find_bytes(f, len, "\x03\0\0\0top\0\0\0\0", 11); /* key, type 0 (integer) */
    CHECK(top > 0);
    if (top > 0) {
        memset(f + top + 11, 0xff, 8); /* i64 -1 */
        CHECK_FAILS(gc_model_open_memory(buf, len, &r), GC_ERR_FORMAT);
        CHECK(strstr(gc_last_error(), "pad: top -1 must be >= 0") != NULL);
        memset(f + top + 11, 0, 8);
        f[top + 11] = 1;
    }
    CHECK_OK(gc_model_open_memory(buf, len, &r));
    gc_model_free(r);
    gc_model_buffer_free(buf);
    gc_model_free(m);
}

/* ------------------------------------------------------------------ batches and threads */

typedef struct pass_out {
    float *y, *gx, *gp[MAX_P];
} pass_out;

static void pass_free(pass_out *p, int np) {
    free(p->y);
    free(p->gx);
    for (int k = 0; k < np; k++) free(p->gp[k]);
}

/* Forward, then backward of r to the input (with parameter gradients when the session has
 * them); copies of the output, the input gradient and the parameter gradients. */
static pass_out run_pass(gc_session *s, const float *x, const float *r, char names[][80], int np, int pg) {
    pass_out p;
    memset(&p, 0, sizeof p);
    gc_tensor y, g;
    if (gc_session_forward(s, x) || gc_session_output(s, &y)) return p;
    p.y = dup_floats(y.data, gc_tensor_numel(&y));
    gc_backward_opts bo = {NULL, GC_RELU_GUIDED, pg};
    if (gc_session_backward(s, r, &bo) || gc_session_gradient(s, "input", &g)) return p;
    p.gx = dup_floats(g.data, gc_tensor_numel(&g));
    for (int k = 0; pg && k < np; k++)
        if (!gc_session_param_grad(s, names[k], &g)) p.gp[k] = dup_floats(g.data, gc_tensor_numel(&g));
    return p;
}

/* Batch 3 gives each image the result of batch 1 (the gate broadcasts per image), and every
 * result has the same bits with 1, 2 and 3 threads, folded or not, with parameter gradients. */
TEST(dag_batches_and_thread_counts) {
    gc_model *m = dag_net(11, 4); /* wide enough for the threaded element-wise paths */
    if (!m) { CHECK(0); return; }
    enum { B = 3, H = 48, W = 48, PER = 3 * H * W };
    static char names[MAX_P][80];
    gc_tensor pt[MAX_P];
    const int np = trainable(m, names, pt);
    float *x = malloc(B * PER * sizeof(float)), r[B * 5];
    gc_rng rng;
    gc_rng_seed(&rng, 13);
    fill(x, B * PER, &rng, 1.0f);
    fill(r, B * 5, &rng, 1.0f);
    gc_session_config c3 = {.batch = B, .channels = 3, .height = H, .width = W};
    gc_session_config c1 = c3;
    c1.batch = 1;
    gc_session *s3 = session(m, c3), *s1 = session(m, c1);
    if (s3 && s1) {
        pass_out all = run_pass(s3, x, r, names, np, 0);
        for (int b = 0; b < B && all.y && all.gx; b++) {
            pass_out one = run_pass(s1, x + b * PER, r + 5 * b, names, np, 0);
            CHECK(one.y && one.gx);
            if (one.y) CHECK(test_rel_err(all.y + 5 * b, one.y, 5, 1e-6) < 1e-5);
            if (one.gx) CHECK(test_rel_err(all.gx + b * PER, one.gx, PER, 1e-9) < 1e-5);
            pass_free(&one, np);
        }
        pass_free(&all, np);
    }
    gc_session_free(s3);
    gc_session_free(s1);
    for (int variant = 0; variant < 2; variant++) {
        pass_out p[3];
        memset(p, 0, sizeof p);
        for (int t = 0; t < 3; t++) {
            gc_session_config c = c3;
            c.param_grads = variant; /* variant 0 folds, 1 has parameter gradients */
            c.threads = t + 1;
            gc_session *s = session(m, c);
            if (s) p[t] = run_pass(s, x, r, names, np, variant);
            gc_session_free(s);
        }
        for (int t = 1; t < 3; t++) {
            if (!(p[0].y && p[t].y && memcmp(p[0].y, p[t].y, B * 5 * sizeof(float)) == 0))
                FAILF("output differs between 1 and %d threads (variant %d)", t + 1, variant);
            if (!(p[0].gx && p[t].gx && memcmp(p[0].gx, p[t].gx, B * PER * sizeof(float)) == 0))
                FAILF("input gradient differs between 1 and %d threads (variant %d)", t + 1, variant);
            for (int k = 0; variant && k < np; k++)
                if (!p[0].gp[k] || !p[t].gp[k] ||
                    memcmp(p[0].gp[k], p[t].gp[k], (size_t)gc_tensor_numel(&pt[k]) * sizeof(float)) != 0)
                    FAILF("gradient of %s differs between 1 and %d threads", names[k], t + 1);
        }
        for (int t = 0; t < 3; t++) pass_free(&p[t], np);
    }
    free(x);
    gc_model_free(m);
}

int main(void) {
    RUN(dag_gradient_along_random_direction);
    RUN(smooth_dag_gradient_per_tensor);
    RUN(same_tensor_read_twice);
    RUN(concat_of_many_copies);
    RUN(mismatched_branches_are_refused);
    RUN(fold_matches_no_fold);
    RUN(fold_refreshes_after_sgd_step);
    RUN(lean_plan_matches_keep_all_on_dag);
    RUN(aliases_name_layers_everywhere);
    RUN(bad_aliases_are_refused);
    RUN(gcw_round_trip_keeps_inputs_and_aliases);
    RUN(version1_file_still_opens);
    RUN(default_layer_feeds_the_global_pooling);
    RUN(gradcam_equals_cam_on_resnet);
    RUN(top_k_inside_residual_block);
    RUN(guided_gradcam_on_resnet_equals_separate_runs);
    RUN(head_session_fed_during_forward);
    RUN(top_k_refused_when_head_reads_network_input);
    RUN(dag_batches_and_thread_counts);
    RUN(normalisation_inside_the_graph);
    RUN(constants_in_sessions_that_start_inside);
    RUN(pad_then_conv_equals_padded_conv);
    RUN(shufflenet_unit);
    RUN(default_layer_looks_through_pad_and_identity);
    RUN(gcw_round_trip_of_onnx_kinds);
    return test_summary("graph");
}
