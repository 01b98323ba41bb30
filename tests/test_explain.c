/* test_explain.c - gc_explain against independent oracles: finite
 * differences for alpha, hand-computed bilinear values, CAM equivalence,
 * batched top-K vs single runs, sharing one model between threads. */
#include "test.h"
#include "core/core.h"
#include "explain/maps.h"
#include <pthread.h>

static void fill(float *x, int64_t n, gc_rng *r, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (2.0f * gc_rng_uniform(r) - 1.0f) * scale;
}

/* A reduced VGG-like net: conv relu conv relu maxpool conv relu | pool flatten fc relu dropout fc */
static gc_model *vgg_like(uint64_t seed, int classes) {
    gc_model *m = NULL;
    gc_conv2d_params c0 = gc_conv2d_defaults(3, 6, 3), c1 = gc_conv2d_defaults(6, 8, 3), c2 = gc_conv2d_defaults(8, 10, 3);
    c0.pad_h = c0.pad_w = c1.pad_h = c1.pad_w = c2.pad_h = c2.pad_w = 1;
    gc_pool2d_params mp = gc_pool2d_defaults(2);
    gc_adaptive_pool2d_params ap = {3, 3};
    gc_linear_params f0 = {90, 16, 1}, f1 = {16, classes, 1};
    if (gc_model_create(&m) || gc_model_add_conv2d(m, "features.0", NULL, &c0, NULL, NULL) ||
        gc_model_add_relu(m, "features.1", NULL) || gc_model_add_conv2d(m, "features.2", NULL, &c1, NULL, NULL) ||
        gc_model_add_relu(m, "features.3", NULL) || gc_model_add_maxpool2d(m, "features.4", NULL, &mp) ||
        gc_model_add_conv2d(m, "features.5", NULL, &c2, NULL, NULL) || gc_model_add_relu(m, "features.6", NULL) ||
        gc_model_add_maxpool2d(m, "features.7", NULL, &mp) ||
        gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap) || gc_model_add_flatten(m, "flatten", NULL) ||
        gc_model_add_linear(m, "classifier.0", NULL, &f0, NULL, NULL) || gc_model_add_relu(m, "classifier.1", NULL) ||
        gc_model_add_dropout(m, "classifier.2", NULL, 0.5f) ||
        gc_model_add_linear(m, "classifier.3", NULL, &f1, NULL, NULL) || gc_model_init_random(m, seed)) {
        fprintf(stderr, "vgg_like: %s\n", gc_last_error());
        gc_model_free(m);
        return NULL;
    }
    return m;
}

static gc_session *session_for(const gc_model *m, int64_t h, int64_t w) {
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = h, .width = w};
    if (gc_session_create(m, &cfg, &s)) fprintf(stderr, "session: %s\n", gc_last_error());
    return s;
}

TEST(default_layer_is_last_spatial_relu) {
    gc_model *m = vgg_like(1, 5);
    if (!m) { CHECK(0); return; }
    CHECK(strcmp(gc_model_default_layer(m), "features.6") == 0);
    gc_model_free(m);
    gc_model *e = NULL;
    gc_linear_params f = {4, 2, 1};
    CHECK_OK(gc_model_create(&e));
    CHECK(gc_model_default_layer(e) == NULL);
    CHECK_OK(gc_model_add_flatten(e, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(e, "fc", NULL, &f, NULL, NULL));
    CHECK(gc_model_default_layer(e) == NULL);
    gc_model_free(e);
}

/* Hand-computed PyTorch values: F.interpolate([[1,2],[3,4]], size=4,
 * mode='bilinear', align_corners=False). */
TEST(bilinear_half_pixel_matches_hand_values) {
    const float src[4] = {1, 2, 3, 4};
    const float expect[16] = {1.00f, 1.25f, 1.75f, 2.00f, 1.50f, 1.75f, 2.25f, 2.50f,
                              2.50f, 2.75f, 3.25f, 3.50f, 3.00f, 3.25f, 3.75f, 4.00f};
    float dst[16];
    gc_map_resize_bilinear(src, 2, 2, dst, 4, 4);
    for (int i = 0; i < 16; i++) CHECK_NEAR(dst[i], expect[i], 1e-6);
    /* 3 -> 2 (downscale): src x = (d + .5) * 1.5 - .5 = 0.25, 1.75 */
    const float row[3] = {0, 10, 20};
    float out[2];
    gc_map_resize_bilinear(row, 1, 3, out, 1, 2);
    CHECK_NEAR(out[0], 2.5, 1e-6);
    CHECK_NEAR(out[1], 17.5, 1e-6);
    float n[3];
    gc_map_normalize_minmax(row, 3, n);
    CHECK(n[0] == 0.0f && n[1] == 0.5f && n[2] == 1.0f);
    float flat[3] = {2, 2, 2};
    gc_map_normalize_minmax(flat, 3, n);
    CHECK(n[0] == 0.0f && n[2] == 0.0f);
}

/* alpha_k = mean_ij d y^c / d A_ij^k = (1/Z) d y^c(A + e 1_k) / d e: checked by
 * central differences through a session that starts after the target layer. */
TEST(alpha_matches_finite_differences) {
    gc_model *m = vgg_like(2, 5);
    if (!m) { CHECK(0); return; }
    gc_session *s = session_for(m, 12, 14);
    gc_session *head = NULL;
    gc_session_config hc = {.batch = 1, .channels = 3, .height = 12, .width = 14, .input_layer = "features.6"};
    CHECK_OK(gc_session_create(m, &hc, &head));
    if (!s || !head) goto out;
    gc_rng rng;
    gc_rng_seed(&rng, 5);
    float x[3 * 12 * 14];
    fill(x, 3 * 12 * 14, &rng, 1.0f);
    gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = 3, .methods = GC_METHOD_GRADCAM};
    gc_explain_result res;
    CHECK_OK(gc_explain(s, x, &req, &res));
    if (res.count != 1) { CHECK(res.count == 1); goto out; }
    const gc_explanation *e = &res.items[0];
    CHECK(strcmp(res.layer, "features.6") == 0);
    CHECK(e->alpha.shape[0] == 10 && e->cam.shape[0] == 6 && e->cam.shape[1] == 7);
    CHECK(e->cam_up.shape[0] == 12 && e->cam_up.shape[1] == 14);
    CHECK(e->class_index == 3 && e->score == res.logits.data[3]);
    gc_tensor A;
    CHECK_OK(gc_session_activation(s, "features.6", &A));
    int64_t hw = 42, n = 10 * hw;
    float *a = gc_alloc_array((size_t)n, 4);
    const float eps = 1e-3f;
    double worst = 0, mag = 0;
    for (int k = 0; k < 10; k++) {
        double yy[2];
        for (int side = 0; side < 2; side++) {
            memcpy(a, A.data, (size_t)n * 4);
            for (int64_t i = 0; i < hw; i++) a[k * hw + i] += side ? -eps : eps;
            gc_tensor y;
            CHECK_OK(gc_session_forward(head, a));
            CHECK_OK(gc_session_output(head, &y));
            yy[side] = y.data[3];
        }
        double fd = (yy[0] - yy[1]) / (2.0 * eps) / (double)hw;
        worst = fmax(worst, fabs(fd - e->alpha.data[k]));
        mag = fmax(mag, fabs(fd));
    }
    CHECK(mag > 0);
    if (!(worst <= 1e-2 * mag + 1e-6)) FAILF("alpha vs finite differences: worst %g, magnitude %g", worst, mag);
    if (getenv("GC_TEST_VERBOSE")) printf("alpha fd: worst %g of %g\n", worst, mag);
    /* maps follow from alpha and A */
    for (int64_t i = 0; i < hw; i++) {
        double acc = 0;
        for (int k = 0; k < 10; k++) acc += (double)e->alpha.data[k] * A.data[k * hw + i];
        CHECK_NEAR(e->cam_raw.data[i], acc, 1e-5 * (fabs(acc) + 1e-3));
        CHECK(e->cam.data[i] == fmaxf(e->cam_raw.data[i], 0.0f));
    }
    CHECK(e->counterfactual.data == NULL && e->guided.data == NULL);
    /* sum = mean * Z */
    gc_explain_request sum = req;
    sum.alpha_sum = 1;
    float mean0 = e->alpha.data[0];
    CHECK_OK(gc_explain(s, x, &sum, &res));
    CHECK_NEAR(res.items[0].alpha.data[0], mean0 * hw, 1e-5 * fabs(mean0 * hw) + 1e-7);
    gc_free(a);
out:
    gc_session_free(head);
    gc_session_free(s);
    gc_model_free(m);
}

/* Counterfactual = ReLU(-raw), Guided Grad-CAM = guided * cam_up, guided and
 * deconvnet equal the session's own backward with those rules. */
TEST(derived_maps_are_consistent) {
    gc_model *m = vgg_like(3, 4);
    gc_session *s = m ? session_for(m, 16, 16) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 6);
    float x[3 * 256];
    fill(x, 3 * 256, &rng, 1.0f);
    gc_explain_request req = {.target = GC_TARGET_TOP1, .methods = GC_METHOD_ALL_GRADIENT};
    gc_explain_result res;
    CHECK_OK(gc_explain(s, x, &req, &res));
    const gc_explanation *e = &res.items[0];
    int best = 0;
    for (int c = 1; c < 4; c++) if (res.logits.data[c] > res.logits.data[best]) best = c;
    CHECK(e->class_index == best);
    double psum = 0;
    for (int c = 0; c < 4; c++) psum += res.probabilities.data[c];
    CHECK_NEAR(psum, 1.0, 1e-6);
    CHECK(e->probability == res.probabilities.data[best]);
    for (int64_t i = 0; i < 16; i++) CHECK(e->counterfactual.data[i] == fmaxf(-e->cam_raw.data[i], 0.0f));
    CHECK(e->guided.ndim == 3 && e->guided.shape[0] == 3 && e->guided.shape[1] == 16);
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < 256; i++)
            CHECK(e->guided_gradcam.data[c * 256 + i] == e->guided.data[c * 256 + i] * e->cam_up.data[i]);
    float mn = 1, mx = 0;
    for (int64_t i = 0; i < 256; i++) { mn = fminf(mn, e->cam_norm.data[i]); mx = fmaxf(mx, e->cam_norm.data[i]); }
    CHECK(mn == 0.0f && (mx == 1.0f || mx == 0.0f));
    /* guided and deconvnet: the session's backward with those ReLU rules */
    float onehot[4] = {0};
    onehot[best] = 1;
    gc_tensor g;
    int modes[2] = {GC_RELU_GUIDED, GC_RELU_DECONVNET};
    const gc_tensor *maps[2] = {&e->guided, &e->deconvnet};
    for (int k = 0; k < 2; k++) {
        gc_backward_opts bo = {NULL, (gc_relu_mode)modes[k], 0};
        CHECK_OK(gc_session_backward(s, onehot, &bo));
        CHECK_OK(gc_session_gradient(s, "input", &g));
        CHECK(memcmp(g.data, maps[k]->data, 3 * 256 * 4) == 0);
    }
    /* guided backprop never passes a negative gradient through a ReLU, so it
     * differs from the plain gradient */
    gc_backward_opts plain = {NULL, GC_RELU_NORMAL, 0};
    CHECK_OK(gc_session_backward(s, onehot, &plain));
    CHECK_OK(gc_session_gradient(s, "input", &g));
    CHECK(memcmp(g.data, e->guided.data, 3 * 256 * 4) != 0);
    gc_session_free(s);
    gc_model_free(m);
}

/* Top-K from one batched head backward equals K separate class requests. */
TEST(top_k_equals_single_runs) {
    gc_model *m = vgg_like(4, 7);
    gc_session *s = m ? session_for(m, 13, 13) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 7);
    float x[3 * 169];
    fill(x, 3 * 169, &rng, 1.0f);
    gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 4,
                              .methods = GC_METHOD_GRADCAM | GC_METHOD_GUIDED_GRADCAM};
    gc_explain_result res;
    CHECK_OK(gc_explain(s, x, &req, &res));
    CHECK(res.count == 4);
    if (res.count != 4) goto out;
    int classes[4];
    float alpha[4][10], up[4][169], gg[4][3 * 169];
    for (int t = 0; t < 4; t++) {
        classes[t] = res.items[t].class_index;
        memcpy(alpha[t], res.items[t].alpha.data, sizeof alpha[t]);
        memcpy(up[t], res.items[t].cam_up.data, sizeof up[t]);
        memcpy(gg[t], res.items[t].guided_gradcam.data, sizeof gg[t]);
        if (t) CHECK(res.items[t].score <= res.items[t - 1].score);
    }
    for (int t = 0; t < 4; t++) {
        gc_explain_request one = req;
        one.target = GC_TARGET_CLASS;
        one.class_index = classes[t];
        CHECK_OK(gc_explain(s, x, &one, &res));
        CHECK(test_rel_err(alpha[t], res.items[0].alpha.data, 10, 1e-6) < 1e-5);
        CHECK(test_rel_err(up[t], res.items[0].cam_up.data, 169, 1e-6) < 1e-5);
        CHECK(test_rel_err(gg[t], res.items[0].guided_gradcam.data, 3 * 169, 1e-9) < 1e-5);
    }
    /* an explicit class list (reversed) gives the same maps in its order */
    int list[4] = {classes[3], classes[2], classes[1], classes[0]};
    gc_explain_request lr = {.target = GC_TARGET_CLASSES, .classes = list, .n_classes = 4,
                             .methods = GC_METHOD_GUIDED_GRADCAM};
    CHECK_OK(gc_explain(s, x, &lr, &res));
    CHECK(res.count == 4);
    for (int t = 0; t < 4 && res.count == 4; t++) {
        CHECK(res.items[t].class_index == list[t]);
        CHECK(test_rel_err(up[3 - t], res.items[t].cam_up.data, 169, 1e-6) < 1e-5);
    }
    /* a caller gradient equal to a one-hot gives that class's maps */
    float og[7] = {0};
    og[classes[1]] = 1.0f;
    gc_explain_request grad = {.target = GC_TARGET_GRADIENT, .output_grad = og};
    CHECK_OK(gc_explain(s, x, &grad, &res));
    CHECK(res.items[0].class_index == -1 && isnan(res.items[0].probability));
    CHECK(test_rel_err(alpha[1], res.items[0].alpha.data, 10, 1e-6) < 1e-6);
out:
    gc_session_free(s);
    gc_model_free(m);
}

/* Guided Grad-CAM runs Grad-CAM's and guided backprop's passes through the classifier head
 * together (one read of each linear layer's weights); every map must have the same bits as
 * the two methods asked for one at a time, for the fast and the reference kernels. */
TEST(guided_gradcam_equals_separate_runs) {
    gc_model *m = vgg_like(9, 7);
    if (!m) { CHECK(0); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 12);
    float x[3 * 15 * 14];
    fill(x, 3 * 15 * 14, &rng, 1.0f);
    int seen = 0;   /* bit 0: a non-zero guided map, bit 1: a non-zero alpha (not vacuous) */
    for (int kernels = 0; kernels < 2; kernels++) {
        gc_session *s = NULL;
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = 15, .width = 14,
                                 .kernels = kernels ? GC_KERNELS_REFERENCE : GC_KERNELS_AUTO};
        CHECK_OK(gc_session_create(m, &cfg, &s));
        if (!s) continue;
        for (int cls = 0; cls < 7; cls += 3) {
            gc_explain_request both = {.target = GC_TARGET_CLASS, .class_index = cls, .methods = GC_METHOD_GUIDED_GRADCAM};
            gc_explain_result r;
            float alpha[10], cam[7 * 7], up[15 * 14], guided[3 * 15 * 14], gg[3 * 15 * 14];
            CHECK_OK(gc_explain(s, x, &both, &r));
            memcpy(alpha, r.items[0].alpha.data, sizeof alpha);
            memcpy(cam, r.items[0].cam.data, sizeof(float) * (size_t)gc_tensor_numel(&r.items[0].cam));
            memcpy(up, r.items[0].cam_up.data, sizeof up);
            memcpy(guided, r.items[0].guided.data, sizeof guided);
            memcpy(gg, r.items[0].guided_gradcam.data, sizeof gg);
            for (int i = 0; i < 3 * 15 * 14; i++) seen |= guided[i] != 0.0f;
            for (int i = 0; i < 10; i++) seen |= (alpha[i] != 0.0f) << 1;
            gc_explain_request one = both;
            one.methods = GC_METHOD_GRADCAM;
            CHECK_OK(gc_explain(s, x, &one, &r));
            /* the request with guided backprop ran the accurate forward (every sum in double),
               this one the fast one: A differs by the fast path's rounding */
            CHECK(memcmp(alpha, r.items[0].alpha.data, sizeof alpha) == 0);
            CHECK(test_rel_err(cam, r.items[0].cam.data, gc_tensor_numel(&r.items[0].cam), 1e-6) <= 1e-5);
            CHECK(test_rel_err(up, r.items[0].cam_up.data, 15 * 14, 1e-6) <= 1e-5);
            one.methods = GC_METHOD_GUIDED_BACKPROP;
            CHECK_OK(gc_explain(s, x, &one, &r));
            CHECK(memcmp(guided, r.items[0].guided.data, sizeof guided) == 0);
            for (int i = 0; i < 3 * 15 * 14; i++)
                if (gg[i] != guided[i] * up[i % (15 * 14)]) { CHECK(gg[i] == guided[i] * up[i % (15 * 14)]); break; }
        }
        gc_session_free(s);
    }
    CHECK(seen == 3);
    gc_model_free(m);
}

/* Seed report section 2.1: with global average pooling + linear, Grad-CAM's
 * alpha is the class weight / Z, so the summed-alpha map equals CAM. */
TEST(gradcam_equals_cam_on_gap_linear) {
    gc_model *m = NULL;
    gc_conv2d_params c0 = gc_conv2d_defaults(3, 5, 3), c1 = gc_conv2d_defaults(5, 6, 3);
    c1.stride_h = c1.stride_w = 2;
    gc_adaptive_pool2d_params gap = {1, 1};
    gc_linear_params fc = {6, 4, 1};
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "features.0", NULL, &c0, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "features.1", NULL));
    CHECK_OK(gc_model_add_conv2d(m, "features.2", NULL, &c1, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "features.3", NULL));
    CHECK_OK(gc_model_add_adaptive_avgpool2d(m, "gap", NULL, &gap));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 12));
    gc_session *s = session_for(m, 17, 15);
    if (!s) { CHECK(0); gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 8);
    float x[3 * 17 * 15];
    fill(x, 3 * 17 * 15, &rng, 1.0f);
    for (int c = 0; c < 4; c++) {
        gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = c,
                                  .methods = GC_METHOD_GRADCAM | GC_METHOD_CAM, .alpha_sum = 1};
        gc_explain_result res;
        CHECK_OK(gc_explain(s, x, &req, &res));
        const gc_explanation *e = &res.items[0];
        int64_t hw = e->cam_raw.shape[0] * e->cam_raw.shape[1];
        CHECK(hw == 7 * 6);
        CHECK(test_rel_err(e->cam_raw.data, e->cam_zhou.data, hw, 1e-6) < 1e-5);
        gc_tensor w;
        CHECK_OK(gc_model_param(m, "fc.weight", &w));
        for (int k = 0; k < 6; k++) CHECK_NEAR(e->alpha.data[k], w.data[c * 6 + k], 1e-5);
        req.alpha_sum = 0; /* mean: CAM / Z */
        CHECK_OK(gc_explain(s, x, &req, &res));
        e = &res.items[0];
        for (int64_t i = 0; i < hw; i++) CHECK_NEAR(e->cam_raw.data[i] * hw, e->cam_zhou.data[i], 1e-4 * (fabs(e->cam_zhou.data[i]) + 1e-3));
    }
    /* CAM refused where the head is not GAP + linear */
    gc_model *v = vgg_like(1, 3);
    gc_session *vs = v ? session_for(v, 8, 8) : NULL;
    if (vs) {
        gc_explain_request req = {.methods = GC_METHOD_CAM};
        gc_explain_result res;
        CHECK_FAILS(gc_explain(vs, x, &req, &res), GC_ERR_UNSUPPORTED);
    }
    gc_session_free(vs);
    gc_model_free(v);
    gc_session_free(s);
    gc_model_free(m);
}

TEST(bad_requests_are_refused) {
    gc_model *m = vgg_like(5, 5);
    gc_session *s = m ? session_for(m, 8, 8) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    float x[3 * 64] = {0};
    gc_explain_result res;
    gc_explain_request r = {.target = GC_TARGET_CLASS, .class_index = 5};
    CHECK_FAILS(gc_explain(s, x, &r, &res), GC_ERR_INVALID_ARGUMENT);
    r.class_index = -1;
    CHECK_FAILS(gc_explain(s, x, &r, &res), GC_ERR_INVALID_ARGUMENT);
    gc_explain_request k = {.target = GC_TARGET_TOPK, .top_k = 6};
    CHECK_FAILS(gc_explain(s, x, &k, &res), GC_ERR_INVALID_ARGUMENT);
    k.top_k = 0;
    CHECK_FAILS(gc_explain(s, x, &k, &res), GC_ERR_INVALID_ARGUMENT);
    int bad_list[2] = {1, 5};
    gc_explain_request cl = {.target = GC_TARGET_CLASSES, .classes = bad_list, .n_classes = 2};
    CHECK_FAILS(gc_explain(s, x, &cl, &res), GC_ERR_INVALID_ARGUMENT);
    cl.n_classes = 0;
    CHECK_FAILS(gc_explain(s, x, &cl, &res), GC_ERR_INVALID_ARGUMENT);
    cl.classes = NULL;
    cl.n_classes = 1;
    CHECK_FAILS(gc_explain(s, x, &cl, &res), GC_ERR_INVALID_ARGUMENT);
    gc_explain_request l = {.layer = "features.99"};
    CHECK_FAILS(gc_explain(s, x, &l, &res), GC_ERR_NOT_FOUND);
    l.layer = "classifier.0";
    CHECK_FAILS(gc_explain(s, x, &l, &res), GC_ERR_SHAPE);
    gc_explain_request g = {.target = GC_TARGET_GRADIENT};
    CHECK_FAILS(gc_explain(s, x, &g, &res), GC_ERR_INVALID_ARGUMENT);
    gc_explain_request bits = {.methods = 1u << 20};
    CHECK_FAILS(gc_explain(s, x, &bits, &res), GC_ERR_INVALID_ARGUMENT);
    gc_explain_request kind = {.target = (gc_target_kind)9};
    CHECK_FAILS(gc_explain(s, x, &kind, &res), GC_ERR_INVALID_ARGUMENT);
    gc_explain_request ok = {0};
    CHECK_FAILS(gc_explain(NULL, x, &ok, &res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain(s, NULL, &ok, &res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain(s, x, NULL, &res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain(s, x, &ok, NULL), GC_ERR_INVALID_ARGUMENT);
    /* batch 2 sessions are refused */
    gc_session *b2 = NULL;
    gc_session_config c2 = {.batch = 2, .channels = 3, .height = 8, .width = 8};
    CHECK_OK(gc_session_create(m, &c2, &b2));
    CHECK_FAILS(gc_explain(b2, x, &ok, &res), GC_ERR_SHAPE);
    gc_session_free(b2);
    /* and a good request still works afterwards */
    CHECK_OK(gc_explain(s, x, &ok, &res));
    gc_session_free(s);
    gc_model_free(m);
}

/* ---- threads: one model, a session per thread, results bit-identical */

typedef struct { const gc_model *m; const float *x; float *out; int ok; } job;
#define TH_N (3 * 16 * 16)

static void *worker(void *p) {
    job *j = p;
    gc_session *s = session_for(j->m, 16, 16);
    j->ok = 0;
    if (!s) return NULL;
    for (int rep = 0; rep < 3; rep++) {
        gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 2, .methods = GC_METHOD_GUIDED_GRADCAM};
        gc_explain_result res;
        if (gc_explain(s, j->x, &req, &res)) { gc_session_free(s); return NULL; }
        memcpy(j->out, res.items[1].guided_gradcam.data, TH_N * 4);
        memcpy(j->out + TH_N, res.items[0].cam_up.data, 256 * 4);
    }
    gc_session_free(s);
    j->ok = 1;
    return NULL;
}

TEST(threads_share_one_model) {
    gc_model *m = vgg_like(6, 5);
    if (!m) { CHECK(0); return; }
    enum { T = 4 };
    static float xs[T][TH_N], ref[T][TH_N + 256], got[T][TH_N + 256];
    gc_rng rng;
    gc_rng_seed(&rng, 9);
    for (int t = 0; t < T; t++) fill(xs[t], TH_N, &rng, 1.0f);
    job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (job){m, xs[t], ref[t], 0};
        worker(&jobs[t]);
        CHECK(jobs[t].ok);
    }
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (job){m, xs[t], got[t], 0};
        CHECK(pthread_create(&th[t], NULL, worker, &jobs[t]) == 0);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        CHECK(jobs[t].ok);
        CHECK(memcmp(ref[t], got[t], sizeof ref[t]) == 0);
    }
    gc_model_free(m);
}

/* Explaining never modifies the model's weights. */
TEST(model_is_not_modified) {
    gc_model *m = vgg_like(7, 5);
    gc_session *s = m ? session_for(m, 10, 10) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    gc_tensor w;
    CHECK_OK(gc_model_param(m, "classifier.3.weight", &w));
    float before[80];
    memcpy(before, w.data, sizeof before);
    float x[300];
    gc_rng rng;
    gc_rng_seed(&rng, 1);
    fill(x, 300, &rng, 1);
    gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 3, .methods = GC_METHOD_ALL_GRADIENT};
    gc_explain_result res;
    CHECK_OK(gc_explain(s, x, &req, &res));
    CHECK(memcmp(before, w.data, sizeof before) == 0);
    gc_session_free(s);
    gc_model_free(m);
}

int main(void) {
    RUN(default_layer_is_last_spatial_relu);
    RUN(bilinear_half_pixel_matches_hand_values);
    RUN(alpha_matches_finite_differences);
    RUN(derived_maps_are_consistent);
    RUN(top_k_equals_single_runs);
    RUN(guided_gradcam_equals_separate_runs);
    RUN(gradcam_equals_cam_on_gap_linear);
    RUN(bad_requests_are_refused);
    RUN(threads_share_one_model);
    RUN(model_is_not_modified);
    return test_summary("explain");
}
