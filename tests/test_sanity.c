/* test_sanity.c - gc_eval_ssim against numpy values (tests/ref/ssim_ref.py, written from
 * Wang et al. with scikit-image's defaults), gc_sanity_cascade (every weighted layer
 * re-initialised once, from the top; the caller's model untouched; the last step independent
 * of the trained weights) and gc_render_methods' layout. */
#include "test.h"
#include "core/core.h"

/* ssim_ref.py's maps */
static void ref_maps(int h, int w, float *a, float *b, float *c) {
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            a[i * w + j] = (float)(sin(0.7 * i + 0.3 * j) + 0.1 * i);
            b[i * w + j] = (float)(cos(0.5 * i - 0.4 * j) * (1 + 0.05 * j));
            c[i * w + j] = (i + j) % 3 == 0 ? 1.0f : 0.0f;
        }
}

TEST(ssim_matches_numpy) {
    static const struct { int h, w; double ab, ac, bc; } ref[] = {
        {9, 11, 0.080943859138, 0.002739092526, 0.001996325951},
        {5, 4, 0.001532154096, -0.049702736020, 0.011223273518},
    };
    float a[99], b[99], c[99];
    for (int k = 0; k < 2; k++) {
        const int h = ref[k].h, w = ref[k].w;
        double v;
        ref_maps(h, w, a, b, c);
        CHECK_OK(gc_eval_ssim(a, b, h, w, &v));
        CHECK_NEAR(v, ref[k].ab, 1e-6);
        CHECK_OK(gc_eval_ssim(a, c, h, w, &v));
        CHECK_NEAR(v, ref[k].ac, 1e-6);
        CHECK_OK(gc_eval_ssim(b, c, h, w, &v));
        CHECK_NEAR(v, ref[k].bc, 1e-6);
        CHECK_OK(gc_eval_ssim(a, a, h, w, &v));
        CHECK_NEAR(v, 1.0, 1e-12);
    }
    for (int i = 0; i < 99; i++) b[i] = 3 * a[i] + 1; /* scale-free */
    double v;
    CHECK_OK(gc_eval_ssim(a, b, 9, 11, &v));
    CHECK_NEAR(v, 1.0, 1e-6);
    a[5] = NAN;
    CHECK_FAILS(gc_eval_ssim(a, b, 9, 11, &v), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_eval_ssim(b, b, 0, 11, &v), GC_ERR_INVALID_ARGUMENT);
}

/* conv(3->6) relu conv(6->8) relu | GAP flatten linear(8->4); weights from seed */
static gc_model *small_net(uint64_t seed) {
    gc_model *m = NULL;
    gc_conv2d_params c1 = gc_conv2d_defaults(3, 6, 3), c2 = gc_conv2d_defaults(6, 8, 3);
    c1.pad_h = c1.pad_w = c2.pad_h = c2.pad_w = 1;
    gc_adaptive_pool2d_params gp = {1, 1};
    gc_linear_params lp = {8, 4, 1};
    if (gc_model_create(&m) || gc_model_add_conv2d(m, "conv1", NULL, &c1, NULL, NULL) ||
        gc_model_add_relu(m, "relu1", NULL) || gc_model_add_conv2d(m, "conv2", NULL, &c2, NULL, NULL) ||
        gc_model_add_relu(m, "relu2", NULL) || gc_model_add_adaptive_avgpool2d(m, "gap", NULL, &gp) ||
        gc_model_add_flatten(m, "flat", NULL) || gc_model_add_linear(m, "fc", NULL, &lp, NULL, NULL) ||
        gc_model_init_random(m, seed)) {
        gc_model_free(m);
        return NULL;
    }
    return m;
}

TEST(cascade) {
    gc_model *m1 = small_net(3), *m2 = small_net(4);
    if (!m1 || !m2) { CHECK(0); gc_model_free(m1); gc_model_free(m2); return; }
    const int H = 12, W = 10;
    float x[3 * 12 * 10];
    gc_rng r;
    gc_rng_seed(&r, 9);
    for (int i = 0; i < 3 * H * W; i++) x[i] = gc_rng_normal(&r);
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    gc_method_params p = gc_method_params_defaults();
    p.ig_steps = 4, p.noise_samples = 3, p.batch = 4;
    gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = 2, .params = &p,
                              .methods = GC_METHOD_GRADCAM | GC_METHOD_GUIDED_BACKPROP | GC_METHOD_SALIENCY |
                                         GC_METHOD_SCORECAM};
    gc_sanity_result a = {0}, b = {0};
    gc_tensor fc_before, fc_after;
    CHECK_OK(gc_model_param(m1, "fc.weight", &fc_before));
    float w0 = fc_before.data[0];
    CHECK_OK(gc_sanity_cascade(m1, &cfg, x, &req, 77, &a));
    CHECK_OK(gc_sanity_cascade(m2, &cfg, x, &req, 77, &b));
    CHECK_OK(gc_model_param(m1, "fc.weight", &fc_after));
    CHECK(fc_after.data[0] == w0); /* the caller's model is untouched */
    CHECK(a.steps == 4 && a.n_methods == 4 && a.height == H && a.width == W && a.class_index == 2);
    CHECK(a.layers[0] == NULL && !strcmp(a.layers[1], "fc") && !strcmp(a.layers[2], "conv2") &&
          !strcmp(a.layers[3], "conv1"));
    CHECK(a.methods[0]->bit == GC_METHOD_GRADCAM && a.methods[1]->bit == GC_METHOD_GUIDED_BACKPROP &&
          a.methods[2]->bit == GC_METHOD_SALIENCY && a.methods[3]->bit == GC_METHOD_SCORECAM);
    for (int k = 0; k < a.n_methods; k++) {
        CHECK_NEAR(a.spearman[k], 1.0, 0);
        CHECK_NEAR(a.ssim[k], 1.0, 1e-12);
    }
    /* every weighted layer re-initialised: the last step no longer depends on the trained
       weights (two different models give the same maps), the first did */
    const size_t plane = (size_t)a.n_methods * H * W, last = (size_t)(a.steps - 1) * plane;
    CHECK(memcmp(a.maps + last, b.maps + last, plane * sizeof(float)) == 0);
    CHECK(memcmp(a.maps, b.maps, plane * sizeof(float)) != 0);
    /* the maps of step 0 are the trained model's own */
    gc_session *s = NULL;
    gc_explain_result er;
    CHECK_OK(gc_session_create(m1, &cfg, &s));
    CHECK_OK(gc_explain(s, x, &req, &er));
    if (s) CHECK(memcmp(a.maps, er.items[0].cam_up.data, (size_t)H * W * sizeof(float)) == 0);
    /* its Spearman and SSIM entries are the library's measures of those maps */
    double rho, ss;
    CHECK_OK(gc_eval_spearman(a.maps, a.maps + last, H * W, &rho));
    CHECK_OK(gc_eval_ssim(a.maps, a.maps + last, H, W, &ss));
    CHECK_NEAR(a.spearman[(a.steps - 1) * a.n_methods], rho, 0);
    CHECK_NEAR(a.ssim[(a.steps - 1) * a.n_methods], ss, 1e-12);
    /* bad requests (into b again: its results go first) */
    gc_sanity_result_free(&b);
    gc_explain_request two = req;
    two.target = GC_TARGET_TOPK, two.top_k = 2;
    CHECK_FAILS(gc_sanity_cascade(m1, &cfg, x, &two, 1, &b), GC_ERR_INVALID_ARGUMENT);
    CHECK(b.maps == NULL);
    CHECK_FAILS(gc_sanity_cascade(m1, &cfg, NULL, &req, 1, &b), GC_ERR_INVALID_ARGUMENT);
    gc_session_free(s);
    gc_sanity_result_free(&a);
    gc_sanity_result_free(&b);
    gc_sanity_result_free(NULL);
    gc_model_free(m1);
    gc_model_free(m2);
}

TEST(render_methods_layout) {
    gc_model *m = small_net(5);
    if (!m) { CHECK(0); return; }
    const int H = 16, W = 16;
    float x[3 * 16 * 16];
    for (int i = 0; i < 3 * H * W; i++) x[i] = (float)sin(0.37 * i);
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_explain_request req = {.target = GC_TARGET_TOP1, .methods = GC_METHOD_GRADCAM | GC_METHOD_SALIENCY};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x, &req, &r));
    gc_image img = {0}, fig = {0};
    CHECK_OK(gc_image_alloc(&img, W, H, 3, 8));
    if (img.data) memset(img.data, 90, (size_t)W * H * 3);
    const gc_method_info *list[8];
    const char *names[8] = {"gradcam", "saliency", "hirescam", "gradcam", "saliency", "gradcam", "saliency", "gradcam"};
    for (int k = 0; k < 8; k++) list[k] = gc_method_find(names[k]);
    gc_figure_opts fo = gc_figure_defaults();
    fo.panel_height = 32;
    CHECK_OK(gc_render_methods(&img, NULL, &r.items[0], list, 3, &fo, &fig));
    const int title = GC_FONT_HEIGHT + 8, cap = (GC_FONT_HEIGHT + 1) * 2 + 10;
    CHECK(fig.width == 6 + 4 * (32 + 6) && fig.height == title + 32 + cap);
    gc_image_release(&fig);
    /* 8 methods: two rows of up to 6 after the original */
    CHECK_OK(gc_render_methods(&img, NULL, &r.items[0], list, 8, &fo, &fig));
    CHECK(fig.width == 6 + 7 * (32 + 6) && fig.height == 2 * (title + 32) + cap);
    gc_image_release(&fig);
    CHECK_FAILS(gc_render_methods(&img, NULL, &r.items[0], list, 0, &fo, &fig), GC_ERR_INVALID_ARGUMENT);
    list[1] = NULL;
    CHECK_FAILS(gc_render_methods(&img, NULL, &r.items[0], list, 3, &fo, &fig), GC_ERR_INVALID_ARGUMENT);
    gc_image_release(&img);
    gc_session_free(s);
    gc_model_free(m);
}

int main(void) {
    RUN(ssim_matches_numpy);
    RUN(cascade);
    RUN(render_methods_layout);
    return test_summary("sanity");
}
