/* test_fuse.c - activations fused into the convolution before them (gc_session_config.no_fuse
 * off, the default) against the same sessions with every activation run as a layer: the same
 * bits for outputs, input gradients in every ReLU rule, gradients at inner layers, Grad-CAM,
 * guided backprop, deconvnet and the other explain maps, parameter gradients, head sessions
 * that start in the middle, batches and thread counts; and what must not fuse (a convolution
 * read by two layers, an output that is kept, the session input, the reference kernels,
 * keep_all) or cannot (hardswish reads x). The network covers every convolution path the
 * planner can fuse into: direct, Winograd, strided im2col, 1x1, depthwise, after a folded
 * batch-norm or not, ReLU and clamp, and a residual add (a ResNet block's ReLU); residual adds
 * fused into the convolution that computes one of their inputs (the 1x1 GEMM and the few-pixels
 * GEMM add it as they store, Winograd after it stores; with and without a ReLU after the add,
 * a batch-norm folded in); and the packed GEMM's epilogue at MobileNet-like sizes. */
#include "test.h"
#include "core/core.h"
#include "net/session.h" /* gc_session_set_accurate */

/* ------------------------------------------------------------------ the network */

enum { N = 2, H = 34, W = 33, CLASSES = 5 };

static gc_status conv(gc_model *m, const char *name, const char *in, int64_t ci, int64_t co, int64_t k,
                      int64_t stride, int64_t groups, int bias) {
    gc_conv2d_params p = gc_conv2d_defaults(ci, co, k);
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = k / 2;
    p.groups = groups;
    p.bias = bias;
    return gc_model_add_conv2d(m, name, in, &p, NULL, NULL);
}

static gc_status bn(gc_model *m, const char *name, const char *in, int64_t c, gc_rng *r) {
    float g[16], b[16], mu[16], var[16];
    for (int64_t i = 0; i < c; i++) {
        g[i] = 0.6f + 0.8f * gc_rng_uniform(r);
        b[i] = 0.4f * gc_rng_uniform(r) - 0.2f;
        mu[i] = 0.4f * gc_rng_uniform(r) - 0.2f;
        var[i] = 0.5f + gc_rng_uniform(r);
    }
    gc_batchnorm2d_params p = {c, 1e-5f};
    return gc_model_add_batchnorm2d(m, name, in, &p, g, b, mu, var);
}

static gc_status act(gc_model *m, const char *name, const char *in, gc_activation_op op, float lo, float hi) {
    gc_activation_params p = gc_activation_defaults(op);
    if (op == GC_ACT_CLAMP) p.alpha = lo, p.beta = hi;
    return gc_model_add_activation(m, name, in, &p);
}

/* (N, 3, 34, 33) ->
 *   c1 conv 3x3 3->8 (direct), r1 relu
 *   c2 conv 3x3 8->8 (Winograd), b2 batch-norm (folded), r2 relu
 *   c2b conv 3x3 8->8 (Winograd), k2b clamp(-0.03, 0.02)
 *   c3 conv 3x3 s2 8->8 (im2col), k3 clamp(0, 6)                      17x17
 *   c4 conv 1x1 8->8, r4 relu, s4 = c4 + r4 (c4 read twice: not fused), rs4 relu (fused into the add)
 *   c4b conv 1x1 8->8, j4 = c4b + rs4 (fused into c4b's GEMM), rj4 relu (fused after it)
 *   c5 conv 3x3 depthwise, b5 batch-norm, k5 clamp(-0.25, 0.5)
 *   c5b conv 1x1 8->8 (GEMM on the input), r5b relu
 *   c5c conv 3x3 depthwise, r5c relu (in the depthwise kernel's stores)
 *   c5d conv 3x3 8->8 (Winograd), b5d batch-norm (folded), j5 = r5c + b5d (fused into c5d after
 *     it stores; no activation)
 *   c6 conv 3x3 8->6, r6 relu (c6 is kept in some sessions)
 *   c7 conv 5x5 s2 6->6, h7 hardswish (reads x: not fused)               9x9
 *   c8 conv 3x3 6->6 (the few-pixels GEMM with AVX-512), r8 relu
 *   c8b conv 1x1 6->6 (the same), j8 = c8b + r8 (fused into its stores), rj8 relu
 *   gap, flatten, fc 6->5 */
static gc_model *fuse_net(uint64_t seed) {
    gc_model *m = NULL;
    gc_rng r;
    gc_rng_seed(&r, seed);
    gc_status st = gc_model_create(&m);
    if (st) return NULL;
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params lp = {6, CLASSES, 1};
    if ((st = conv(m, "c1", NULL, 3, 8, 3, 1, 1, 1)) || (st = gc_model_add_relu(m, "r1", "c1")) ||
        (st = conv(m, "c2", "r1", 8, 8, 3, 1, 1, 0)) || (st = bn(m, "b2", "c2", 8, &r)) ||
        (st = gc_model_add_relu(m, "r2", "b2")) || (st = conv(m, "c2b", "r2", 8, 8, 3, 1, 1, 1)) ||
        (st = act(m, "k2b", "c2b", GC_ACT_CLAMP, -0.03f, 0.02f)) || (st = conv(m, "c3", "k2b", 8, 8, 3, 2, 1, 1)) ||
        (st = act(m, "k3", "c3", GC_ACT_CLAMP, 0.0f, 6.0f)) || (st = conv(m, "c4", "k3", 8, 8, 1, 1, 1, 1)) ||
        (st = gc_model_add_relu(m, "r4", "c4")) || (st = gc_model_add_add(m, "s4", "c4", "r4")) ||
        (st = gc_model_add_relu(m, "rs4", "s4")) || (st = conv(m, "c4b", "rs4", 8, 8, 1, 1, 1, 1)) ||
        (st = gc_model_add_add(m, "j4", "c4b", "rs4")) || (st = gc_model_add_relu(m, "rj4", "j4")) ||
        (st = conv(m, "c5", "rj4", 8, 8, 3, 1, 8, 1)) || (st = bn(m, "b5", "c5", 8, &r)) ||
        (st = act(m, "k5", "b5", GC_ACT_CLAMP, -0.25f, 0.5f)) || (st = conv(m, "c5b", "k5", 8, 8, 1, 1, 1, 0)) ||
        (st = gc_model_add_relu(m, "r5b", "c5b")) || (st = conv(m, "c5c", "r5b", 8, 8, 3, 1, 8, 1)) ||
        (st = gc_model_add_relu(m, "r5c", "c5c")) || (st = conv(m, "c5d", "r5c", 8, 8, 3, 1, 1, 0)) ||
        (st = bn(m, "b5d", "c5d", 8, &r)) || (st = gc_model_add_add(m, "j5", "r5c", "b5d")) ||
        (st = conv(m, "c6", "j5", 8, 6, 3, 1, 1, 1)) ||
        (st = gc_model_add_relu(m, "r6", "c6")) || (st = conv(m, "c7", "r6", 6, 6, 5, 2, 1, 1)) ||
        (st = act(m, "h7", "c7", GC_ACT_HARDSWISH, 0, 0)) || (st = conv(m, "c8", "h7", 6, 6, 3, 1, 1, 1)) ||
        (st = gc_model_add_relu(m, "r8", "c8")) || (st = conv(m, "c8b", "r8", 6, 6, 1, 1, 1, 1)) ||
        (st = gc_model_add_add(m, "j8", "c8b", "r8")) || (st = gc_model_add_relu(m, "rj8", "j8")) ||
        (st = gc_model_add_adaptive_avgpool2d(m, "gap", "rj8", &ap)) ||
        (st = gc_model_add_flatten(m, "flat", "gap")) || (st = gc_model_add_linear(m, "fc", "flat", &lp, NULL, NULL)) ||
        (st = gc_model_init_random(m, seed))) {
        fprintf(stderr, "fuse_net: %s\n", gc_last_error());
        gc_model_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------------ helpers */

static gc_session *session(const gc_model *m, gc_session_config cfg) {
    gc_session *s = NULL;
    if (gc_session_create(m, &cfg, &s)) {
        fprintf(stderr, "session: %s\n", gc_last_error());
        return NULL;
    }
    return s;
}

static void fill(float *x, int64_t n, gc_rng *r, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (2.0f * gc_rng_uniform(r) - 1.0f) * scale;
}

/* A batch of inputs (scale: their range) and an output gradient, from seed. */
static void random_inputs(uint64_t seed, float scale, float *x, float *r) {
    gc_rng rng;
    gc_rng_seed(&rng, seed);
    fill(x, N * 3 * H * W, &rng, scale);
    fill(r, N * CLASSES, &rng, 1.0f);
}

static int same(const gc_tensor *a, const gc_tensor *b) {
    const int64_t n = gc_tensor_numel(a);
    return a->data && b->data && n == gc_tensor_numel(b) && memcmp(a->data, b->data, (size_t)n * sizeof(float)) == 0;
}

/* 1 if layer `name` is fused in s (its output not materialised, the message says so); s has
 * run a forward pass. */
static int is_fused(const gc_session *s, const char *name) {
    gc_tensor t;
    return gc_session_activation(s, name, &t) == GC_ERR_STATE && strstr(gc_last_error(), "as it is stored") != NULL;
}

/* Forward both, compare outputs; then backward from r (output-shaped) to each stop in each mode
 * and compare the gradient at the stop bit for bit. */
static void compare_sessions(gc_session *a, gc_session *b, const float *x, const float *r, const char *const *stops,
                             int n_stops, int param_grads, const char *what) {
    gc_tensor ya, yb;
    CHECK_OK(gc_session_forward(a, x));
    CHECK_OK(gc_session_forward(b, x));
    CHECK_OK(gc_session_output(a, &ya));
    CHECK_OK(gc_session_output(b, &yb));
    if (!same(&ya, &yb)) FAILF("%s: outputs differ", what);
    for (int mode = GC_RELU_NORMAL; mode <= GC_RELU_DECONVNET; mode++)
        for (int k = 0; k < n_stops; k++) {
            gc_backward_opts bo = {stops[k], (gc_relu_mode)mode, param_grads && !stops[k]};
            gc_tensor ga, gb;
            CHECK_OK(gc_session_backward(a, r, &bo));
            CHECK_OK(gc_session_gradient(a, stops[k] ? stops[k] : "input", &ga));
            CHECK_OK(gc_session_backward(b, r, &bo));
            CHECK_OK(gc_session_gradient(b, stops[k] ? stops[k] : "input", &gb));
            if (!same(&ga, &gb))
                FAILF("%s: gradient at %s, relu mode %d differs", what, stops[k] ? stops[k] : "input", mode);
        }
}

/* ------------------------------------------------------------------ tests */

/* Outputs and gradients (to the input and to inner layers, a fused producer among them) in
 * every ReLU rule, at batch 2, on 1 and 3 threads, every tier this CPU runs, with the fast
 * and the accurate forward. */
TEST(fused_equals_unfused) {
    gc_model *m = fuse_net(11);
    if (!m) { CHECK(0); return; }
    static float x[N * 3 * H * W];
    float r[N * CLASSES];
    random_inputs(12, 1.5f, x, r);
    const char *stops[] = {NULL, "r2", "c3", "s4", "c6"}; /* c3 and c6 are fused producers */
    const gc_kernels tiers[] = {GC_KERNELS_AUTO, GC_KERNELS_PORTABLE, GC_KERNELS_AVX2};
    for (int ti = 0; ti < 3; ti++)
        for (int th = 1; th <= 3; th += 2) {
            gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W, .kernels = tiers[ti],
                                     .threads = th};
            gc_session *fused = session(m, cfg);
            cfg.no_fuse = 1;
            cfg.threads = 4 - th;
            gc_session *plain = session(m, cfg);
            if (!fused || !plain) { CHECK(0); gc_session_free(fused); gc_session_free(plain); break; }
            char what[64];
            snprintf(what, sizeof what, "tier %d, %d threads", (int)tiers[ti], th);
            CHECK_OK(gc_session_forward(fused, x));
            CHECK_OK(gc_session_forward(plain, x));
            CHECK(is_fused(fused, "c1") && is_fused(fused, "b2") && is_fused(fused, "c2b") && is_fused(fused, "c3") &&
                  is_fused(fused, "b5") && is_fused(fused, "c5b") && is_fused(fused, "c5c") && is_fused(fused, "c6") &&
                  is_fused(fused, "c8") && is_fused(fused, "s4"));
            CHECK(!is_fused(fused, "c4") && !is_fused(fused, "c7") && !is_fused(plain, "c1") && !is_fused(plain, "c3") &&
                  !is_fused(plain, "s4"));
            compare_sessions(fused, plain, x, r, stops, 5, 0, what);
            gc_session_set_accurate(fused, 1);
            gc_session_set_accurate(plain, 1);
            strcat(what, ", accurate");
            compare_sessions(fused, plain, x, r, stops, 1, 0, what);
            gc_session_free(fused);
            gc_session_free(plain);
        }
    gc_model_free(m);
}

/* Training sessions fuse too: the same parameter gradients, to the bit. */
TEST(fused_parameter_gradients) {
    gc_model *m = fuse_net(21);
    if (!m) { CHECK(0); return; }
    static float x[N * 3 * H * W];
    float r[N * CLASSES];
    random_inputs(22, 1.0f, x, r);
    gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W, .param_grads = 1};
    gc_session *fused = session(m, cfg);
    cfg.no_fuse = 1;
    gc_session *plain = session(m, cfg);
    if (fused && plain) {
        const char *stops[] = {NULL};
        compare_sessions(fused, plain, x, r, stops, 1, 1, "param_grads");
        CHECK(is_fused(fused, "c1") && is_fused(fused, "c3"));
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
        CHECK_OK(gc_session_backward(fused, r, &bo));
        CHECK_OK(gc_session_backward(plain, r, &bo));
        const char *params[] = {"c1.weight", "c1.bias", "c2.weight", "b2.weight", "b2.bias", "c3.weight",
                                "c5.weight", "b5.bias", "c6.weight", "c7.bias", "fc.weight"};
        for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
            gc_tensor a, b;
            CHECK_OK(gc_session_param_grad(fused, params[i], &a));
            CHECK_OK(gc_session_param_grad(plain, params[i], &b));
            if (!same(&a, &b)) FAILF("gradient of %s differs", params[i]);
        }
    }
    gc_session_free(fused);
    gc_session_free(plain);
    gc_model_free(m);
}

/* gc_explain's maps (Grad-CAM at the default layer and at an inner one, counterfactual, guided
 * backprop, Guided Grad-CAM, deconvnet, saliency: the input methods run the accurate forward),
 * top-2, the same bits. */
TEST(fused_explain_maps) {
    gc_model *m = fuse_net(31);
    if (!m) { CHECK(0); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 32);
    static float x[3 * H * W];
    fill(x, 3 * H * W, &rng, 1.0f);
    const char *keep[] = {"r2", NULL};
    const char *layers[] = {NULL, "r2"};
    for (int li = 0; li < 2; li++) {
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W, .keep = keep};
        gc_session *fused = session(m, cfg);
        cfg.no_fuse = 1;
        gc_session *plain = session(m, cfg);
        if (!fused || !plain) { CHECK(0); gc_session_free(fused); gc_session_free(plain); break; }
        gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 2, .layer = layers[li],
                                  .methods = GC_METHOD_GRADCAM | GC_METHOD_COUNTERFACTUAL | GC_METHOD_GUIDED_BACKPROP |
                                             GC_METHOD_GUIDED_GRADCAM | GC_METHOD_DECONVNET | GC_METHOD_SALIENCY};
        gc_explain_result ra, rb;
        CHECK_OK(gc_explain(fused, x, &req, &ra));
        CHECK_OK(gc_explain(plain, x, &req, &rb));
        CHECK(ra.count == 2 && rb.count == 2);
        CHECK(is_fused(fused, "b2")); /* kept r2 is the fused activation's output: fine */
        for (int t = 0; t < ra.count && t < rb.count; t++) {
            const gc_explanation *a = &ra.items[t], *b = &rb.items[t];
            CHECK(a->class_index == b->class_index && a->n_maps == b->n_maps && a->n_maps >= 8);
            for (int k = 0; k < a->n_maps && k < b->n_maps; k++)
                if (strcmp(a->maps[k].name, b->maps[k].name) != 0 || !same(&a->maps[k].t, &b->maps[k].t))
                    FAILF("layer %s, target %d: map %s differs", layers[li] ? layers[li] : "default", t, a->maps[k].name);
        }
        gc_session_free(fused);
        gc_session_free(plain);
    }
    gc_model_free(m);
}

/* What must not fuse: a kept pre-activation output (readable, equal to the unfused session's),
 * a convolution read twice, anything with keep_all or the reference kernels; a session that
 * starts at a convolution's output (its ReLU reads the session input) or inside the network
 * fuses what lies after. */
TEST(what_does_not_fuse) {
    gc_model *m = fuse_net(41);
    if (!m) { CHECK(0); return; }
    static float x[N * 3 * H * W];
    float r[N * CLASSES];
    random_inputs(42, 1.0f, x, r);
    const char *keep[] = {"c6", NULL};
    gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W, .keep = keep};
    gc_session *kept = session(m, cfg);
    cfg.no_fuse = 1;
    gc_session *plain = session(m, cfg);
    cfg.no_fuse = 0;
    cfg.keep = NULL;
    cfg.keep_all = 1;
    gc_session *all = session(m, cfg);
    cfg.keep_all = 0;
    cfg.kernels = GC_KERNELS_REFERENCE;
    gc_session *ref = session(m, cfg);
    if (kept && plain && all && ref) {
        const char *stops[] = {NULL, "c6"};
        compare_sessions(kept, plain, x, r, stops, 2, 0, "c6 kept");
        CHECK(!is_fused(kept, "c6") && is_fused(kept, "c1") && is_fused(kept, "c3"));
        CHECK(is_fused(kept, "c4b") && is_fused(kept, "j4") && is_fused(kept, "b5d") && is_fused(kept, "c8b") &&
              is_fused(kept, "j8") && !is_fused(plain, "c4b") && !is_fused(plain, "j4"));
        gc_tensor a, b;
        CHECK_OK(gc_session_activation(kept, "c6", &a));
        CHECK_OK(gc_session_activation(plain, "c6", &b));
        CHECK(same(&a, &b));
        gc_tensor t;
        CHECK_FAILS(gc_session_activation(kept, "c4", &t), GC_ERR_STATE); /* read twice: not fused, not kept */
        CHECK(strstr(gc_last_error(), "not kept") != NULL);
        CHECK_OK(gc_session_forward(all, x));
        CHECK_OK(gc_session_activation(all, "c1", &t));
        CHECK_OK(gc_session_activation(all, "c3", &t));
        CHECK_OK(gc_session_forward(ref, x));
        CHECK(!is_fused(ref, "c1") && !is_fused(ref, "c3"));
        CHECK_FAILS(gc_session_activation(kept, "c3", &t), GC_ERR_STATE);
        CHECK(strstr(gc_last_error(), "c3") != NULL && strstr(gc_last_error(), "k3") != NULL &&
              strstr(gc_last_error(), "keep") != NULL);
    }
    gc_session_free(kept);
    gc_session_free(plain);
    gc_session_free(all);
    gc_session_free(ref);

    /* head sessions: fed the full session's c1 (r1 reads the session input: not fused), and
     * starting at r2 (c3 with k3 and the rest fused) */
    const char *roots[] = {"c1", "r2"};
    const char *keep_roots[] = {"c1", "r2", NULL};
    cfg = (gc_session_config){.batch = N, .channels = 3, .height = H, .width = W, .keep = keep_roots, .no_fuse = 1};
    gc_session *full = session(m, cfg);
    for (int k = 0; full && k < 2; k++) {
        gc_tensor in;
        CHECK_OK(gc_session_forward(full, x));
        CHECK_OK(gc_session_activation(full, roots[k], &in));
        if (!in.data) break;
        float *hx = malloc((size_t)gc_tensor_numel(&in) * sizeof(float));
        memcpy(hx, in.data, (size_t)gc_tensor_numel(&in) * sizeof(float));
        gc_session_config hc = {.batch = N, .channels = 3, .height = H, .width = W, .input_layer = roots[k]};
        gc_session *hf = session(m, hc);
        hc.no_fuse = 1;
        gc_session *hp = session(m, hc);
        if (hf && hp) {
            const char *stops[] = {NULL, "c3"};
            compare_sessions(hf, hp, hx, r, stops, 2, 0, roots[k]);
            CHECK(is_fused(hf, "c3") && is_fused(hf, "c6") && !is_fused(hp, "c3"));
            if (k == 0) CHECK(is_fused(hf, "b2")); /* c2 folds into b2, which r2 fuses */
            gc_tensor yh, yf;
            CHECK_OK(gc_session_output(hf, &yh));
            CHECK_OK(gc_session_forward(full, x));
            CHECK_OK(gc_session_output(full, &yf));
            CHECK(test_rel_err(yh.data, yf.data, N * CLASSES, 1e-6) < 1e-5); /* folded vs not: float rounding */
        }
        gc_session_free(hf);
        gc_session_free(hp);
        free(hx);
    }
    gc_session_free(full);
    gc_model_free(m);
}

/* Winograd's schedules with the ReLU bits written as tiles by several threads at once: by tiles
 * (few channels, a large image: each thread a band of rows of every plane) and by output
 * channels (64 channels of an odd-sized 29 x 29 plane: two 32-channel chunks side by side). */
TEST(winograd_schedules_write_their_own_bits) {
    const int64_t shapes[2][3] = {{8, 8, 120}, {8, 64, 29}}; /* C, O, size */
    for (int k = 0; k < 2; k++) {
        const int64_t C = shapes[k][0], O = shapes[k][1], S = shapes[k][2];
        gc_model *m = NULL;
        gc_adaptive_pool2d_params ap = {1, 1};
        gc_linear_params lp = {O, 3, 1};
        gc_status st = gc_model_create(&m);
        if (st || (st = conv(m, "c", NULL, C, O, 3, 1, 1, 1)) || (st = gc_model_add_relu(m, "r", "c")) ||
            (st = gc_model_add_adaptive_avgpool2d(m, "gap", "r", &ap)) || (st = gc_model_add_flatten(m, "flat", "gap")) ||
            (st = gc_model_add_linear(m, "fc", "flat", &lp, NULL, NULL)) || (st = gc_model_init_random(m, 61 + k))) {
            CHECK(0);
            gc_model_free(m);
            return;
        }
        const int64_t n_in = 2 * C * S * S;
        float *x = malloc((size_t)n_in * sizeof(float)), r[6];
        gc_rng rng;
        gc_rng_seed(&rng, 62);
        fill(x, n_in, &rng, 1.0f);
        fill(r, 6, &rng, 1.0f);
        gc_session_config cfg = {.batch = 2, .channels = C, .height = S, .width = S, .threads = 3};
        gc_session *fused = session(m, cfg);
        cfg.no_fuse = 1;
        gc_session *plain = session(m, cfg);
        if (fused && plain) {
            const char *stops[] = {NULL};
            compare_sessions(fused, plain, x, r, stops, 1, 0, k ? "by output channels" : "by tiles");
            CHECK(is_fused(fused, "c"));
        }
        gc_session_free(fused);
        gc_session_free(plain);
        free(x);
        gc_model_free(m);
    }
}

/* The packed GEMM's epilogue at MobileNet-like sizes: (2, 32, 56, 56) -> p1 1x1 32->96 (the
 * input itself times the prepacked weights; 96 rows, not a multiple of any tier's register
 * block), k1 clamp(0, 6) -> p2 3x3 stride 2 96->40 (im2col, K = 864: four K blocks, the
 * activation on the last one's stores only), r2 ReLU -> p3 1x1 40->24 without bias (28 x 28),
 * k3 clamp(-0.25, 0.125) -> gap, fc. Fused and unfused sessions give the same bits on every
 * tier and 1 or 2 threads; the clamps' bounds are reached (checked on the unfused session's
 * outputs), so a store that skipped them would differ. */
TEST(gemm_epilogue_in_the_stores) {
    enum { B = 2, C0 = 32, S = 56 };
    gc_model *m = NULL;
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params lp = {24, CLASSES, 1};
    gc_status st = gc_model_create(&m);
    if (st || (st = conv(m, "p1", NULL, C0, 96, 1, 1, 1, 1)) || (st = act(m, "k1", "p1", GC_ACT_CLAMP, 0.0f, 6.0f)) ||
        (st = conv(m, "p2", "k1", 96, 40, 3, 2, 1, 1)) || (st = gc_model_add_relu(m, "r2", "p2")) ||
        (st = conv(m, "p3", "r2", 40, 24, 1, 1, 1, 0)) || (st = act(m, "k3", "p3", GC_ACT_CLAMP, -0.25f, 0.125f)) ||
        (st = gc_model_add_adaptive_avgpool2d(m, "gap", "k3", &ap)) || (st = gc_model_add_flatten(m, "flat", "gap")) ||
        (st = gc_model_add_linear(m, "fc", "flat", &lp, NULL, NULL)) || (st = gc_model_init_random(m, 71))) {
        fprintf(stderr, "gemm_epilogue_in_the_stores: %s\n", gc_last_error());
        CHECK(0);
        gc_model_free(m);
        return;
    }
    const int64_t n_in = (int64_t)B * C0 * S * S;
    float *x = malloc((size_t)n_in * sizeof(float)), r[B * CLASSES];
    gc_rng rng;
    gc_rng_seed(&rng, 72);
    fill(x, n_in, &rng, 6.0f);
    fill(r, B * CLASSES, &rng, 1.0f);
    const char *keep[] = {"p1", "p3", NULL};
    const gc_kernels tiers[] = {GC_KERNELS_AUTO, GC_KERNELS_PORTABLE, GC_KERNELS_AVX2};
    for (int ti = 0; ti < 3; ti++) {
        const int th = 1 + ti % 2;
        gc_session_config cfg = {.batch = B, .channels = C0, .height = S, .width = S, .kernels = tiers[ti], .threads = th};
        gc_session *fused = session(m, cfg);
        cfg.no_fuse = 1;
        cfg.keep = keep;
        cfg.threads = 3 - th;
        gc_session *plain = session(m, cfg);
        if (fused && plain) {
            char what[64];
            snprintf(what, sizeof what, "GEMM epilogue, tier %d, %d threads", (int)tiers[ti], th);
            const char *stops[] = {NULL, "k1"};
            compare_sessions(fused, plain, x, r, stops, 2, 0, what);
            CHECK(is_fused(fused, "p1") && is_fused(fused, "p2") && is_fused(fused, "p3"));
            gc_tensor y1, y3;
            CHECK_OK(gc_session_forward(plain, x));
            CHECK_OK(gc_session_activation(plain, "p1", &y1));
            CHECK_OK(gc_session_activation(plain, "p3", &y3));
            int64_t lo1 = 0, hi1 = 0, lo3 = 0, hi3 = 0;
            for (int64_t i = 0; y1.data && i < gc_tensor_numel(&y1); i++) lo1 += y1.data[i] < 0.0f, hi1 += y1.data[i] > 6.0f;
            for (int64_t i = 0; y3.data && i < gc_tensor_numel(&y3); i++)
                lo3 += y3.data[i] < -0.25f, hi3 += y3.data[i] > 0.125f;
            if (!(lo1 > 100 && hi1 > 100 && lo3 > 100 && hi3 > 100))
                FAILF("%s: the clamps' bounds are not reached often enough (%lld, %lld, %lld, %lld)", what, (long long)lo1,
                      (long long)hi1, (long long)lo3, (long long)hi3);
        } else {
            CHECK(0);
        }
        gc_session_free(fused);
        gc_session_free(plain);
    }
    free(x);
    gc_model_free(m);
}

/* gap, flatten and a 2 -> 2 linear layer (weights fw, no bias) after layer `in`. */
static void two_class_head(gc_model *m, const char *in, const float *fw) {
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params lp = {2, 2, 0};
    CHECK_OK(gc_model_add_adaptive_avgpool2d(m, "gap", in, &ap));
    CHECK_OK(gc_model_add_flatten(m, "flat", "gap"));
    CHECK_OK(gc_model_add_linear(m, "fc", "flat", &lp, fw, NULL));
}

/* A non-finite output of a fused convolution is named as in an unfused session: the convolution
 * (the checking pass that finds it runs the activation after the check). */
TEST(nonfinite_names_the_convolution) {
    static float w[2 * 3 * 9], fw[4] = {1, 0, 0, 1}, x[3 * H * W];
    for (int i = 0; i < 2 * 3 * 9; i++) w[i] = i < 27 ? 3e38f : 0.1f; /* channel 0 overflows */
    for (int64_t i = 0; i < 3 * H * W; i++) x[i] = 0.5f;
    gc_model *m = NULL;
    gc_conv2d_params cp = gc_conv2d_defaults(3, 2, 3);
    cp.pad_h = cp.pad_w = 1;
    cp.bias = 0;
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "c1", NULL, &cp, w, NULL));
    CHECK_OK(gc_model_add_relu(m, "r1", "c1"));
    two_class_head(m, "r1", fw);
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    gc_session *s = session(m, cfg);
    if (s) {
        CHECK_FAILS(gc_session_forward(s, x), GC_ERR_NUMERIC);
        CHECK(strstr(gc_last_error(), "the output of layer c1 (conv2d) is not finite") != NULL);
        gc_tensor t;
        CHECK_FAILS(gc_session_output(s, &t), GC_ERR_STATE);
    }
    gc_session_free(s);
    gc_model_free(m);
}

/* A residual add fused into the convolution before it ("computed with c2" says it was): a
 * non-finite convolution output is named as the convolution's, a sum that overflows from finite
 * inputs as the add's (as unfused). */
TEST(nonfinite_names_the_fused_add) {
    static float w1[2 * 3], x[3 * H * W];
    for (int i = 0; i < 6; i++) w1[i] = 2e38f / 3.0f; /* r1 = 0.5 * 3 * w = 1e38 */
    for (int64_t i = 0; i < 3 * H * W; i++) x[i] = 0.5f;
    const float fw[4] = {1, 0, 0, 1};
    const float w2[2][4] = {{3.0f, 0, 0, 3.0f},   /* c2 = 3e38, the sum 4e38 overflows: the add */
                            {1e30f, 0, 0, 1e30f}}; /* c2 overflows: the convolution */
    const char *names[2] = {"the output of layer j (add, computed with c2) is not finite",
                            "the output of layer c2 (conv2d) is not finite"};
    for (int k = 0; k < 2; k++) {
        gc_model *m = NULL;
        gc_conv2d_params c1 = gc_conv2d_defaults(3, 2, 1), c2 = gc_conv2d_defaults(2, 2, 1);
        c1.bias = c2.bias = 0;
        CHECK_OK(gc_model_create(&m));
        CHECK_OK(gc_model_add_conv2d(m, "c1", NULL, &c1, w1, NULL));
        CHECK_OK(gc_model_add_relu(m, "r1", "c1"));
        CHECK_OK(gc_model_add_conv2d(m, "c2", "r1", &c2, w2[k], NULL));
        CHECK_OK(gc_model_add_add(m, "j", "c2", "r1"));
        CHECK_OK(gc_model_add_relu(m, "rj", "j"));
        two_class_head(m, "rj", fw);
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
        gc_session *s = session(m, cfg);
        if (s) {
            CHECK_FAILS(gc_session_forward(s, x), GC_ERR_NUMERIC);
            if (!strstr(gc_last_error(), names[k])) FAILF("case %d: %s", k, gc_last_error());
        }
        gc_session_free(s);
        gc_model_free(m);
    }
}

/* ------------------------------------------------------------------ backward floors */

/* conv -> sigmoid-family activations on every fusable path (direct, Winograd after a folded
 * batch-norm, a residual add fused into the 1x1 GEMM, depthwise, strided im2col):
 *   c1 3x3 3->8, s1 silu; c2 3x3 8->8, b2 batch-norm, s2 silu; c3 1x1 8->8, j3 = c3 + s2,
 *   g3 sigmoid; c4 3x3 depthwise, h4 hardswish; c5 3x3 s2 8->8, q5 hardsigmoid; gap, fc 8->5 */
static gc_model *act_net(uint64_t seed) {
    gc_model *m = NULL;
    gc_rng r;
    gc_rng_seed(&r, seed);
    if (gc_model_create(&m)) return NULL;
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params lp = {8, CLASSES, 1};
    gc_status st;
    if ((st = conv(m, "c1", NULL, 3, 8, 3, 1, 1, 1)) || (st = act(m, "s1", "c1", GC_ACT_SILU, 0, 0)) ||
        (st = conv(m, "c2", "s1", 8, 8, 3, 1, 1, 0)) || (st = bn(m, "b2", "c2", 8, &r)) ||
        (st = act(m, "s2", "b2", GC_ACT_SILU, 0, 0)) || (st = conv(m, "c3", "s2", 8, 8, 1, 1, 1, 1)) ||
        (st = gc_model_add_add(m, "j3", "c3", "s2")) || (st = act(m, "g3", "j3", GC_ACT_SIGMOID, 0, 0)) ||
        (st = conv(m, "c4", "g3", 8, 8, 3, 1, 8, 1)) || (st = act(m, "h4", "c4", GC_ACT_HARDSWISH, 0, 0)) ||
        (st = conv(m, "c5", "h4", 8, 8, 3, 2, 1, 1)) || (st = act(m, "q5", "c5", GC_ACT_HARDSIGMOID, 0, 0)) ||
        (st = gc_model_add_adaptive_avgpool2d(m, "gap", "q5", &ap)) || (st = gc_model_add_flatten(m, "flat", "gap")) ||
        (st = gc_model_add_linear(m, "fc", "flat", &lp, NULL, NULL)) || (st = gc_model_init_random(m, seed))) {
        fprintf(stderr, "act_net: %s\n", gc_last_error());
        gc_model_free(m);
        return NULL;
    }
    return m;
}

/* A forward-only session computes the bits of a full one with less memory: no ReLU masks, the
 * activations whose backward reads x fused into their producers (their values only), buffers
 * reused; every backward call is refused. Both networks, every tier this CPU runs, 1 and 3
 * threads. */
TEST(forward_only_equals_full) {
    gc_model *nets[2] = {fuse_net(41), act_net(42)};
    const char *fused_only_here[2][5] = {{"c7"}, {"c1", "b2", "j3", "c4", "c5"}}; /* fused forward only */
    static float x[N * 3 * H * W];
    float r[N * CLASSES];
    random_inputs(43, 1.5f, x, r);
    const gc_kernels tiers[] = {GC_KERNELS_AUTO, GC_KERNELS_PORTABLE, GC_KERNELS_AVX2};
    for (int k = 0; k < 2; k++) {
        if (!nets[k]) { CHECK(0); continue; }
        for (int ti = 0; ti < 3; ti++)
            for (int th = 1; th <= 3; th += 2) {
                gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W, .kernels = tiers[ti],
                                         .threads = th};
                gc_session *full = session(nets[k], cfg);
                cfg.forward_only = 1;
                gc_session *fwd = session(nets[k], cfg);
                if (!full || !fwd) { CHECK(0); gc_session_free(full); gc_session_free(fwd); continue; }
                gc_tensor ya, yb;
                CHECK_OK(gc_session_forward(full, x));
                CHECK_OK(gc_session_forward(fwd, x));
                CHECK_OK(gc_session_output(full, &ya));
                CHECK_OK(gc_session_output(fwd, &yb));
                if (!same(&ya, &yb)) FAILF("net %d, tier %d, %d threads: outputs differ", k, (int)tiers[ti], th);
                for (int i = 0; i < 5 && fused_only_here[k][i]; i++)
                    if (!is_fused(fwd, fused_only_here[k][i]) || is_fused(full, fused_only_here[k][i]))
                        FAILF("net %d: %s is fused in the forward-only session only", k, fused_only_here[k][i]);
                CHECK(gc_session_memory(fwd) < gc_session_memory(full));
                gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
                CHECK_FAILS(gc_session_backward(fwd, r, &bo), GC_ERR_STATE);
                CHECK(strstr(gc_last_error(), "forward only") != NULL);
                bo.stop_layer = "flat";
                CHECK_FAILS(gc_session_backward(fwd, r, &bo), GC_ERR_STATE);
                gc_session_free(full);
                gc_session_free(fwd);
            }
    }
    gc_model_free(nets[0]);
    gc_model_free(nets[1]);
}

/* A session with a backward floor: the same outputs, and the same gradients at the floor and at
 * layers after it in every ReLU rule, as a full session; a stop below the floor refused, naming
 * it; its Grad-CAM and counterfactual maps the full session's bits, guided backprop refused; an
 * unknown floor refused; a floor before a head session's input sets none. */
TEST(backward_floor) {
    gc_model *m = fuse_net(51);
    if (!m) { CHECK(0); return; }
    static float x[N * 3 * H * W];
    float r[N * CLASSES];
    random_inputs(52, 1.5f, x, r);
    gc_session_config cfg = {.batch = N, .channels = 3, .height = H, .width = W};
    gc_session *full = session(m, cfg);
    cfg.backward_floor = "h7";
    gc_session *floor = session(m, cfg);
    if (full && floor) {
        const char *stops[] = {"h7", "c8", "rj8"};
        compare_sessions(floor, full, x, r, stops, 3, 0, "floor h7");
        CHECK(is_fused(floor, "c7") && !is_fused(full, "c7")); /* the floor's hardswish: its backward never runs */
        CHECK(gc_session_memory(floor) < gc_session_memory(full));
        const char *below[] = {NULL, "r2", "r6"};
        for (int k = 0; k < 3; k++) {
            gc_backward_opts bo = {below[k], GC_RELU_NORMAL, 0};
            CHECK_FAILS(gc_session_backward(floor, r, &bo), GC_ERR_STATE);
            if (!strstr(gc_last_error(), "backward_floor h7")) FAILF("stop %s: %s", below[k] ? below[k] : "input", gc_last_error());
        }
    }
    gc_session_free(full);
    gc_session_free(floor);

    /* the explainer's maps at the floor */
    cfg.batch = 1;
    cfg.backward_floor = NULL;
    full = session(m, cfg);
    cfg.backward_floor = gc_model_default_layer(m);
    floor = session(m, cfg);
    if (full && floor) {
        gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 2,
                                  .methods = GC_METHOD_GRADCAM | GC_METHOD_COUNTERFACTUAL};
        gc_explain_result ra, rb;
        CHECK_OK(gc_explain(floor, x, &req, &ra));
        CHECK_OK(gc_explain(full, x, &req, &rb));
        CHECK(ra.count == 2 && rb.count == 2);
        for (int t = 0; t < ra.count && t < rb.count; t++) {
            const gc_explanation *a = &ra.items[t], *b = &rb.items[t];
            CHECK(a->class_index == b->class_index && a->n_maps == b->n_maps && a->n_maps >= 2);
            for (int k = 0; k < a->n_maps && k < b->n_maps; k++)
                if (strcmp(a->maps[k].name, b->maps[k].name) != 0 || !same(&a->maps[k].t, &b->maps[k].t))
                    FAILF("target %d: map %s differs", t, a->maps[k].name);
        }
        req.methods = GC_METHOD_GUIDED_BACKPROP;
        CHECK_FAILS(gc_explain(floor, x, &req, &ra), GC_ERR_STATE);
    }
    gc_session_free(full);
    gc_session_free(floor);

    gc_session *s = NULL;
    cfg.backward_floor = "no_such_layer";
    CHECK_FAILS(gc_session_create(m, &cfg, &s), GC_ERR_NOT_FOUND);
    CHECK(s == NULL && strstr(gc_last_error(), "backward_floor") != NULL);
    cfg.backward_floor = "r2"; /* before the head session's input: no floor */
    cfg.input_layer = "r6";
    gc_session *head = session(m, cfg);
    if (head) {
        float g[CLASSES] = {1, -1, 0.5f, 0, 2};
        gc_backward_opts bo = {NULL, GC_RELU_GUIDED, 0};
        CHECK_OK(gc_session_forward(head, x));
        CHECK_OK(gc_session_backward(head, g, &bo));
    }
    gc_session_free(head);
    gc_model_free(m);
}

int main(void) {
    RUN(fused_equals_unfused);
    RUN(fused_parameter_gradients);
    RUN(fused_explain_maps);
    RUN(what_does_not_fuse);
    RUN(winograd_schedules_write_their_own_bits);
    RUN(gemm_epilogue_in_the_stores);
    RUN(nonfinite_names_the_convolution);
    RUN(nonfinite_names_the_fused_add);
    RUN(forward_only_equals_full);
    RUN(backward_floor);
    return test_summary("fuse");
}
