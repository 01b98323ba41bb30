/* test_methods.c - the method table of gc_explain: every method runs and fills its named
 * maps, names parse, and properties that follow from the definitions (Integrated Gradients'
 * completeness, SmoothGrad without noise is the gradient, a Score-CAM and an Ablation-CAM
 * weight recomputed by hand). The PyTorch oracles are in test_methods_torch.c. */
#include "test.h"
#include "core/core.h"

static gc_model *shapes_model(void) {
    gc_model *m = NULL;
    if (gc_model_open("weights/shapes.gcw", &m)) fprintf(stderr, "shapes.gcw: %s\n", gc_last_error());
    return m;
}

/* A synthetic two-object image, normalised as the model says. */
static void shapes_input(const gc_model *m, float *x, int H, int W) {
    gc_shapes_info in;
    const gc_preprocess *pre = gc_model_preprocess(m);
    gc_shapes_generate(20260, 3, 2, H, W, x, NULL, &in);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < H * W; i++) x[c * H * W + i] = (x[c * H * W + i] * 255.0f * pre->scale - pre->mean[c]) / pre->std[c];
}

TEST(table_and_names) {
    CHECK(gc_method_count() == 21);
    unsigned all = 0;
    for (int i = 0; i < gc_method_count(); i++) {
        const gc_method_info *mi = gc_method_at(i);
        CHECK(gc_method_find(mi->name) == mi);
        all |= mi->bit;
    }
    CHECK(all == GC_METHOD_ALL);
    CHECK(gc_method_at(-1) == NULL && gc_method_at(gc_method_count()) == NULL && gc_method_find("nope") == NULL);
    unsigned b;
    CHECK_OK(gc_method_parse("gradcam,scorecam,vargrad", &b));
    CHECK(b == (GC_METHOD_GRADCAM | GC_METHOD_SCORECAM | GC_METHOD_SMOOTHGRAD));
    CHECK_OK(gc_method_parse("all", &b));
    CHECK(b == GC_METHOD_ALL);
    CHECK_FAILS(gc_method_parse("gradcam,,cam", &b), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_method_parse("gradcam,bogus", &b), GC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(gc_last_error(), "bogus") != NULL);
}

TEST(every_method_fills_its_maps) {
    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width;
    float *x = malloc(sizeof(float) * 3 * H * W);
    shapes_input(m, x, H, W);
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_method_params p = gc_method_params_defaults();
    p.batch = 8;
    p.ig_steps = 8;
    p.noise_samples = 5;
    gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 2, .methods = GC_METHOD_ALL & ~GC_METHOD_CAM, .params = &p};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x, &req, &r));
    for (int t = 0; s && t < r.count; t++) {
        const gc_explanation *e = &r.items[t];
        for (int i = 0; i < gc_method_count(); i++) {
            const gc_method_info *mi = gc_method_at(i);
            if (mi->bit == GC_METHOD_CAM) continue;
            const gc_tensor *mt = gc_explanation_map(e, mi->map);
            if (!mt) { FAILF("%s: no map %s", mi->name, mi->map); continue; }
            CHECK(mt->shape[mt->ndim - 1] == W && mt->shape[mt->ndim - 2] == H);
            CHECK(gc_first_nonfinite(mt->data, gc_tensor_numel(mt)) < 0);
            double mx = 0;
            for (int64_t j = 0; j < gc_tensor_numel(mt); j++) mx = fmax(mx, fabs(mt->data[j]));
            if (!(mx > 0)) FAILF("%s: map %s is all zero", mi->name, mi->map);
        }
        /* the legacy fields are the same views as the named maps */
        CHECK(gc_explanation_map(e, "gradcam_up")->data == e->cam_up.data);
        CHECK(gc_explanation_map(e, "guided_backprop")->data == e->guided.data);
        CHECK(gc_explanation_map(e, "counterfactual")->data == e->counterfactual.data);
        CHECK(gc_explanation_map(e, "nope") == NULL);
    }
    /* a second call, fewer methods: the same buffers, correct counts */
    gc_explain_request one = {.target = GC_TARGET_TOP1, .methods = GC_METHOD_HIRESCAM, .params = &p};
    CHECK_OK(gc_explain(s, x, &one, &r));
    CHECK(r.count == 1 && r.items[0].n_maps == 3 && r.items[0].cam.data == NULL);
    gc_session_free(s);
    gc_model_free(m);
    free(x);
}

/* IG's completeness: sum of attributions = s(x) - s(x'), up to the quadrature error, which
 * shrinks with the steps; SmoothGrad with sigma 0 is the gradient, VarGrad 0. */
TEST(integrated_gradients_and_smoothgrad_properties) {
    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width, n = 3 * H * W;
    float *x = malloc(sizeof(float) * n);
    shapes_input(m, x, H, W);
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_method_params p = gc_method_params_defaults();
    p.batch = 16;
    double err[2];
    for (int j = 0; j < 2; j++) {
        p.ig_steps = j ? 128 : 4;
        gc_explain_request req = {.methods = GC_METHOD_INTEGRATED_GRADIENTS, .params = &p};
        gc_explain_result r;
        CHECK_OK(gc_explain(s, x, &req, &r));
        const gc_tensor *d = gc_explanation_map(&r.items[0], "integrated_gradients_delta");
        const gc_tensor *g = gc_explanation_map(&r.items[0], "integrated_gradients_gap");
        const gc_tensor *a = gc_explanation_map(&r.items[0], "integrated_gradients");
        double sum = 0;
        for (int i = 0; i < n; i++) sum += a->data[i];
        CHECK_NEAR(sum - g->data[0], d->data[0], 1e-4 * fabs(g->data[0]) + 1e-5);
        err[j] = fabs(d->data[0] / g->data[0]);
    }
    if (!(err[1] < 0.02 && err[1] < err[0])) FAILF("IG completeness error %g (4 steps) -> %g (128 steps)", err[0], err[1]);
    p.noise_sigma = 0;
    p.noise_samples = 3;
    gc_explain_request req = {.methods = GC_METHOD_SMOOTHGRAD | GC_METHOD_SALIENCY, .params = &p};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x, &req, &r));
    const gc_tensor *sg = gc_explanation_map(&r.items[0], "smoothgrad"), *sal = gc_explanation_map(&r.items[0], "saliency");
    const gc_tensor *vg = gc_explanation_map(&r.items[0], "vargrad");
    double mx = 0, d = 0, v = 0;
    for (int i = 0; i < n; i++) {
        mx = fmax(mx, fabs(sal->data[i]));
        d = fmax(d, fabs(sal->data[i] - sg->data[i]));
        v = fmax(v, fabs(vg->data[i]));
    }
    if (!(d <= 1e-5 * mx && v <= 1e-8 * mx * mx)) FAILF("sigma 0: |smoothgrad - saliency| %g, vargrad %g (max %g)", d, v, mx);
    gc_session_free(s);
    gc_model_free(m);
    free(x);
}

/* Score-CAM's weight of channel k of a (C, h, w) for class cls by hand: the mask (PyTorch
 * bilinear, align_corners=False, min-max in double), the masked input x (3, H, W) through
 * the batch-1 session s, the class probability; 0 for a constant channel. */
static double scorecam_weight_by_hand(gc_session *s, const float *x, const float *a, int64_t k, int64_t h, int64_t w,
                                      int H, int W, int cls) {
    const int HW = H * W;
    float *up = malloc(sizeof(float) * HW), *xm = malloc(sizeof(float) * 3 * HW);
    double lo = INFINITY, hi = -INFINITY, expect = 0;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) {
            double sy = (y + 0.5) * h / H - 0.5, sx = (xx + 0.5) * w / W - 0.5;
            sy = sy < 0 ? 0 : sy; sx = sx < 0 ? 0 : sx;
            int y0 = (int)sy, x0 = (int)sx, y1 = y0 + 1 < h ? y0 + 1 : (int)h - 1, x1 = x0 + 1 < w ? x0 + 1 : (int)w - 1;
            double ty = sy - y0, tx = sx - x0;
            const float *q = a + k * h * w;
            double v = (q[y0 * w + x0] * (1 - tx) + q[y0 * w + x1] * tx) * (1 - ty) +
                       (q[y1 * w + x0] * (1 - tx) + q[y1 * w + x1] * tx) * ty;
            up[y * W + xx] = (float)v;
            lo = fmin(lo, v); hi = fmax(hi, v);
        }
    gc_tensor y;
    if (hi > lo) {
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < HW; i++) xm[c * HW + i] = x[c * HW + i] * (float)((up[i] - lo) / (hi - lo));
        if (gc_session_forward(s, xm) || gc_session_output(s, &y)) {
            FAILF("scorecam_weight_by_hand: %s", gc_last_error());
        } else {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < y.shape[1]; j++) mx = fmax(mx, y.data[j]);
            for (int64_t j = 0; j < y.shape[1]; j++) sum += exp(y.data[j] - mx);
            expect = exp(y.data[cls] - mx) / sum;
        }
    }
    free(up); free(xm);
    return expect;
}

/* One Score-CAM weight and one Ablation-CAM weight recomputed with plain sessions. */
TEST(score_and_ablation_weights_by_hand) {
    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width;
    float *x = malloc(sizeof(float) * 3 * H * W);
    shapes_input(m, x, H, W);
    gc_session *s = NULL, *hd = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_method_params p = gc_method_params_defaults();
    p.batch = 7; /* not a divisor of the channel count */
    gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = 2,
                              .methods = GC_METHOD_SCORECAM | GC_METHOD_ABLATIONCAM, .params = &p};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x, &req, &r));
    const gc_tensor *sw = gc_explanation_map(&r.items[0], "scorecam_weights");
    const gc_tensor *aw = gc_explanation_map(&r.items[0], "ablationcam_weights");
    const char *layer = r.layer;
    gc_tensor A;
    float score = r.items[0].score;
    CHECK_OK(gc_session_forward(s, x));
    CHECK_OK(gc_session_activation(s, layer, &A));
    const int64_t C = A.shape[1], h = A.shape[2], w = A.shape[3];
    float *a = malloc(sizeof(float) * C * h * w);
    memcpy(a, A.data, sizeof(float) * C * h * w);
    int checked = 0;
    gc_session_config hc = cfg;
    hc.input_layer = layer;
    CHECK_OK(gc_session_create(m, &hc, &hd));
    for (int64_t k = 0; k < C && hd; k += 5) {
        const double expect = scorecam_weight_by_hand(s, x, a, k, h, w, H, W, 2);
        CHECK_NEAR(sw->data[k], expect, 1e-5);
        /* Ablation-CAM: channel k zeroed, the layers after the target */
        float *ab = malloc(sizeof(float) * C * h * w);
        memcpy(ab, a, sizeof(float) * C * h * w);
        memset(ab + k * h * w, 0, sizeof(float) * h * w);
        gc_tensor y;
        CHECK_OK(gc_session_forward(hd, ab));
        CHECK_OK(gc_session_output(hd, &y));
        CHECK_NEAR(aw->data[k], (score - y.data[2]) / score, 1e-5 * fmax(1, fabs(aw->data[k])));
        free(ab);
        checked++;
    }
    CHECK(checked > 3);
    gc_session_free(hd);
    gc_session_free(s);
    gc_model_free(m);
    free(x); free(a);
}

/* Score-CAM runs a mask once when channels share it bit for bit (two equal filters) and
 * gives both the same weight; a dead channel weighs 0; every weight as by hand. */
TEST(scorecam_equal_masks) {
    gc_model *m = NULL;
    gc_conv2d_params cp = gc_conv2d_defaults(3, 4, 3);
    cp.pad_h = cp.pad_w = 1;
    gc_adaptive_pool2d_params ap = {2, 2};
    gc_linear_params lp = {16, 5, 1};
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "conv", NULL, &cp, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "relu", NULL));
    CHECK_OK(gc_model_add_adaptive_avgpool2d(m, "pool", NULL, &ap));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc", NULL, &lp, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 5));
    gc_tensor wt, bs;
    CHECK_OK(gc_model_param(m, "conv.weight", &wt));
    CHECK_OK(gc_model_param(m, "conv.bias", &bs));
    memcpy(wt.data + 2 * 27, wt.data, 27 * sizeof(float)); /* filter 2 = filter 0 */
    bs.data[2] = bs.data[0];
    memset(wt.data + 3 * 27, 0, 27 * sizeof(float)); /* filter 3: dead after the ReLU */
    bs.data[3] = -1;
    enum { H = 12, W = 12 };
    float x[3 * H * W];
    gc_rng r;
    gc_rng_seed(&r, 3);
    for (int i = 0; i < 3 * H * W; i++) x[i] = gc_rng_normal(&r);
    gc_session *s = NULL;
    const char *keep[] = {"relu", NULL};
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W, .keep = keep};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_method_params p = gc_method_params_defaults();
    p.batch = 2;
    int cls[2] = {1, 4};
    gc_explain_request req = {.target = GC_TARGET_CLASSES, .classes = cls, .n_classes = 2,
                              .methods = GC_METHOD_SCORECAM, .layer = "relu", .params = &p};
    gc_explain_result res;
    CHECK_OK(gc_explain(s, x, &req, &res));
    float a[4 * H * W], wts[2][4];
    for (int t = 0; t < 2 && s; t++)
        memcpy(wts[t], gc_explanation_map(&res.items[t], "scorecam_weights")->data, sizeof wts[t]);
    gc_tensor A;
    CHECK_OK(gc_session_forward(s, x));
    CHECK_OK(gc_session_activation(s, "relu", &A));
    memcpy(a, A.data, sizeof a);
    CHECK(memcmp(a, a + 2 * H * W, H * W * sizeof(float)) == 0);
    for (int t = 0; t < 2; t++) {
        CHECK(wts[t][2] == wts[t][0] && wts[t][0] > 0);
        CHECK(wts[t][3] == 0);
        for (int k = 0; k < 4; k++)
            CHECK_NEAR(wts[t][k], scorecam_weight_by_hand(s, x, a, k, H, W, H, W, cls[t]), 1e-6);
    }
    gc_session_free(s);
    gc_model_free(m);
}

TEST(bad_parameters_refused) {
    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width;
    float *x = calloc((size_t)3 * H * W, sizeof(float));
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_explain_result r;
    gc_method_params p = gc_method_params_defaults();
    p.batch = -1;
    gc_explain_request req = {.methods = GC_METHOD_SCORECAM, .params = &p};
    CHECK_FAILS(gc_explain(s, x, &req, &r), GC_ERR_INVALID_ARGUMENT);
    p = gc_method_params_defaults();
    p.noise_base = GC_METHOD_SCORECAM;
    req.methods = GC_METHOD_SMOOTHGRAD;
    CHECK_FAILS(gc_explain(s, x, &req, &r), GC_ERR_INVALID_ARGUMENT);
    p = gc_method_params_defaults();
    p.noise_sigma = NAN;
    CHECK_FAILS(gc_explain(s, x, &req, &r), GC_ERR_INVALID_ARGUMENT);
    float g[6] = {1, 0, 0, 0, 0, 0};
    gc_explain_request gr = {.target = GC_TARGET_GRADIENT, .output_grad = g, .methods = GC_METHOD_SCORECAM};
    CHECK_FAILS(gc_explain(s, x, &gr, &r), GC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(gc_last_error(), "Score-CAM") != NULL);
    gr.methods = GC_METHOD_OCCLUSION;
    CHECK_FAILS(gc_explain(s, x, &gr, &r), GC_ERR_INVALID_ARGUMENT);
    gr.methods = GC_METHOD_HIRESCAM | GC_METHOD_INTEGRATED_GRADIENTS | GC_METHOD_ABLATIONCAM | GC_METHOD_EIGENCAM;
    CHECK_OK(gc_explain(s, x, &gr, &r));
    gc_session_free(s);
    gc_model_free(m);
    free(x);
}

/* Layer-CAM's fusion: hand values, then the maps of two layers of the shapes model */
TEST(layercam_fusion) {
    const float a[4] = {0, 1, 2, 4}, b[4] = {3, 0, 3, 1.5f}, z[4] = {0, -1, 0, 0};
    const float *maps[3] = {a, b, z};
    const int scale[3] = {1, 0, 1};
    float out[4];
    CHECK_OK(gc_layercam_fuse(maps, scale, 3, 4, 2.0f, out));
    const double want[4] = {1.0, tanh(0.5), 1.0, tanh(2.0)}; /* max(tanh(2 a / 4), b / 3) */
    for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], want[i], 1e-6);
    CHECK_OK(gc_layercam_fuse(maps, NULL, 1, 4, 2.0f, out)); /* unscaled: a / max a */
    CHECK_NEAR(out[1], 0.25, 0);
    CHECK_FAILS(gc_layercam_fuse(maps, scale, 0, 4, 2.0f, out), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_layercam_fuse(maps, scale, 2, 4, 0.0f, out), GC_ERR_INVALID_ARGUMENT);
    const float bad[4] = {0, NAN, 0, 0};
    const float *badm[1] = {bad};
    CHECK_FAILS(gc_layercam_fuse(badm, NULL, 1, 4, 2.0f, out), GC_ERR_INVALID_ARGUMENT);

    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const int H = 64, W = 64;
    float *x = malloc(sizeof(float) * 3 * H * W), *up[2] = {malloc(sizeof(float) * H * W), malloc(sizeof(float) * H * W)};
    float *fused = malloc(sizeof(float) * H * W);
    shapes_input(m, x, H, W);
    const char *keep[] = {"features.7", NULL}, *layers[2] = {"features.7", "features.10"};
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W, .keep = keep};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    for (int l = 0; s && l < 2; l++) {
        gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = 2, .layer = layers[l],
                                  .methods = GC_METHOD_LAYERCAM};
        gc_explain_result r;
        CHECK_OK(gc_explain(s, x, &req, &r));
        const gc_tensor *t = gc_explanation_map(&r.items[0], "layercam_up");
        if (t) memcpy(up[l], t->data, sizeof(float) * H * W);
    }
    const int shallow[2] = {1, 0};
    CHECK_OK(gc_layercam_fuse((const float *const *)up, shallow, 2, H * W, 2.0f, fused));
    double mx = 0, mx0 = 0, mx1 = 0;
    for (int i = 0; i < H * W; i++) mx0 = fmax(mx0, up[0][i]), mx1 = fmax(mx1, up[1][i]);
    for (int i = 0; s && i < H * W; i++) {
        const double w = fmax(tanh(2.0 * up[0][i] / mx0), up[1][i] / mx1);
        if (fabs(fused[i] - w) > 1e-6) { FAILF("pixel %d: %g, expected %g", i, fused[i], w); break; }
        mx = fmax(mx, fused[i]);
    }
    CHECK_NEAR(mx, 1.0, 1e-6);
    gc_session_free(s);
    gc_model_free(m);
    free(x), free(up[0]), free(up[1]), free(fused);
}

int main(void) {
    RUN(table_and_names);
    RUN(layercam_fusion);
    RUN(every_method_fills_its_maps);
    RUN(integrated_gradients_and_smoothgrad_properties);
    RUN(score_and_ablation_weights_by_hand);
    RUN(scorecam_equal_masks);
    RUN(bad_parameters_refused);
    return test_summary("methods");
}
