/* test_net.c - models and sessions: whole-network gradient check, backward
 * to a named layer, ReLU modes through a network, bad calls. */
#include "test.h"
#include "core/core.h"

/* conv(3->6, 3x3, pad 1) relu maxpool(3, s2, ceil) conv(6->4, 3x3, s2, groups 2)
 * batchnorm lrn relu avgpool-adaptive(3x2) flatten linear(24->5) dropout */
static gc_model *small_net(uint64_t seed) {
    gc_model *m = NULL;
    if (gc_model_create(&m)) return NULL;
    gc_conv2d_params c0 = gc_conv2d_defaults(3, 6, 3);
    c0.pad_h = c0.pad_w = 1;
    gc_pool2d_params p = gc_pool2d_defaults(3);
    p.stride_h = p.stride_w = 2;
    p.ceil_mode = 1;
    gc_conv2d_params c1 = gc_conv2d_defaults(6, 4, 3);
    c1.stride_h = c1.stride_w = 2;
    c1.pad_h = c1.pad_w = 1;
    c1.groups = 2;
    gc_batchnorm2d_params bn = {4, 1e-5f};
    float gamma[4] = {1.2f, 0.8f, -0.5f, 1.0f}, beta[4] = {0.1f, -0.2f, 0.3f, 0.0f};
    float mean[4] = {0.05f, -0.1f, 0.2f, 0.0f}, var[4] = {0.5f, 1.5f, 0.9f, 2.0f};
    gc_lrn_params lrn = {3, 1e-2f, 0.75f, 1.0f};
    gc_adaptive_pool2d_params ap = {3, 2};
    gc_linear_params fc = {4 * 3 * 2, 5, 1};
    int ok = !gc_model_add_conv2d(m, "features.0", NULL, &c0, NULL, NULL) &&
             !gc_model_add_relu(m, "features.1", NULL) &&
             !gc_model_add_maxpool2d(m, "features.2", NULL, &p) &&
             !gc_model_add_conv2d(m, "features.3", NULL, &c1, NULL, NULL) &&
             !gc_model_add_batchnorm2d(m, "features.4", NULL, &bn, gamma, beta, mean, var) &&
             !gc_model_add_lrn(m, "features.5", NULL, &lrn) &&
             !gc_model_add_relu(m, "features.6", NULL) &&
             !gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap) &&
             !gc_model_add_flatten(m, "flatten", NULL) &&
             !gc_model_add_linear(m, "classifier.0", NULL, &fc, NULL, NULL) &&
             !gc_model_add_dropout(m, "classifier.1", NULL, 0.5f) &&
             !gc_model_init_random(m, seed);
    if (!ok) {
        fprintf(stderr, "small_net: %s\n", gc_last_error());
        gc_model_free(m);
        return NULL;
    }
    return m;
}

static void fill(float *x, int64_t n, gc_rng *r, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (2.0f * gc_rng_uniform(r) - 1.0f) * scale;
}

/* L = sum(r * y) in double. */
static double loss(gc_session *s, const float *x, const float *r) {
    gc_tensor y;
    if (gc_session_forward(s, x) || gc_session_output(s, &y)) return NAN;
    double l = 0;
    for (int64_t i = 0; i < gc_tensor_numel(&y); i++) l += (double)r[i] * y.data[i];
    return l;
}

static const char *param_names[] = {"features.0.weight", "features.0.bias", "features.3.weight",
                                    "features.3.bias", "features.4.weight", "features.4.bias",
                                    "classifier.0.weight", "classifier.0.bias"};
#define N_PARAMS (int)(sizeof param_names / sizeof *param_names)

/* Directional derivative along a random direction over the input and every
 * trainable parameter: (L(t + e v) - L(t - e v)) / 2e against grad . v. */
TEST(whole_network_gradient_along_random_direction) {
    gc_model *m = small_net(3);
    CHECK(m != NULL);
    if (!m) return;
    gc_session_config cfg = {.batch = 2, .channels = 3, .height = 13, .width = 11, .param_grads = 1};
    gc_session *s = NULL;
    CHECK_OK(gc_session_create(m, &cfg, &s));
    if (!s) { gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 11);
    int64_t nx = 2 * 3 * 13 * 11;
    float *x = gc_alloc_array((size_t)nx, 4), *vx = gc_alloc_array((size_t)nx, 4), *xp = gc_alloc_array((size_t)nx, 4);
    fill(x, nx, &rng, 1.0f);
    fill(vx, nx, &rng, 1.0f);
    gc_tensor y;
    CHECK_OK(gc_session_forward(s, x));
    CHECK_OK(gc_session_output(s, &y));
    CHECK(y.ndim == 2 && y.shape[0] == 2 && y.shape[1] == 5);
    float r[10];
    fill(r, 10, &rng, 1.0f);

    /* analytic: grad . v */
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
    CHECK_OK(gc_session_backward(s, r, &bo));
    gc_tensor gx;
    CHECK_OK(gc_session_gradient(s, "input", &gx));
    double analytic = 0;
    for (int64_t i = 0; i < nx; i++) analytic += (double)gx.data[i] * vx[i];
    float *v[N_PARAMS], *orig[N_PARAMS];
    gc_tensor pt[N_PARAMS];
    for (int k = 0; k < N_PARAMS; k++) {
        gc_tensor gp;
        CHECK_OK(gc_model_param(m, param_names[k], &pt[k]));
        CHECK_OK(gc_session_param_grad(s, param_names[k], &gp));
        int64_t n = gc_tensor_numel(&pt[k]);
        v[k] = gc_alloc_array((size_t)n, 4);
        orig[k] = gc_alloc_array((size_t)n, 4);
        fill(v[k], n, &rng, 0.2f);
        memcpy(orig[k], pt[k].data, (size_t)n * 4);
        for (int64_t i = 0; i < n; i++) analytic += (double)gp.data[i] * v[k][i];
    }

    /* numeric: central difference */
    double lp[2];
    const float eps = 1e-3f;
    for (int side = 0; side < 2; side++) {
        float e = side ? -eps : eps;
        for (int64_t i = 0; i < nx; i++) xp[i] = x[i] + e * vx[i];
        for (int k = 0; k < N_PARAMS; k++)
            for (int64_t i = 0; i < gc_tensor_numel(&pt[k]); i++) pt[k].data[i] = orig[k][i] + e * v[k][i];
        lp[side] = loss(s, xp, r);
    }
    double numeric = (lp[0] - lp[1]) / (2.0 * eps);
    CHECK_NEAR(analytic, numeric, 1e-2 * fabs(numeric) + 1e-3);
    for (int k = 0; k < N_PARAMS; k++) {
        gc_free(v[k]);
        gc_free(orig[k]);
    }
    gc_free(x); gc_free(vx); gc_free(xp);
    gc_session_free(s);
    gc_model_free(m);
}

/* Stopping at a layer gives the same gradient there as a full pass, and
 * nothing below it. */
TEST(backward_stops_at_named_layer) {
    gc_model *m = small_net(5);
    if (!m) { CHECK(m != NULL); return; }
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 16, .width = 16, .keep_all = 1};
    gc_session *s = NULL;
    CHECK_OK(gc_session_create(m, &cfg, &s));
    if (!s) { gc_model_free(m); return; }
    gc_rng rng;
    gc_rng_seed(&rng, 2);
    float x[3 * 16 * 16], r[5] = {0, 0, 1, 0, 0};
    fill(x, 3 * 16 * 16, &rng, 1.0f);
    CHECK_OK(gc_session_forward(s, x));
    gc_backward_opts full = {NULL, GC_RELU_NORMAL, 0}, part = {"features.6", GC_RELU_NORMAL, 0};
    CHECK_OK(gc_session_backward(s, r, &full));
    gc_tensor g;
    CHECK_OK(gc_session_gradient(s, "features.6", &g));
    int64_t n = gc_tensor_numel(&g);
    float *ref = gc_alloc_array((size_t)n, 4);
    memcpy(ref, g.data, (size_t)n * 4);
    double mag = 0;
    for (int64_t i = 0; i < n; i++) mag += fabs(ref[i]);
    CHECK(mag > 0);
    CHECK_OK(gc_session_backward(s, r, &part));
    CHECK_OK(gc_session_gradient(s, "features.6", &g));
    CHECK(memcmp(ref, g.data, (size_t)n * 4) == 0);
    CHECK_OK(gc_session_gradient(s, "classifier.0", &g));
    CHECK_FAILS(gc_session_gradient(s, "features.5", &g), GC_ERR_STATE);
    CHECK_FAILS(gc_session_gradient(s, "input", &g), GC_ERR_STATE);
    CHECK_FAILS(gc_session_param_grad(s, "features.0.weight", &g), GC_ERR_STATE);
    /* stopping at the output itself leaves the given gradient */
    gc_backward_opts at_out = {"classifier.1", GC_RELU_NORMAL, 0};
    CHECK_OK(gc_session_backward(s, r, &at_out));
    CHECK_OK(gc_session_gradient(s, "classifier.1", &g));
    CHECK(g.data[2] == 1.0f && g.data[0] == 0.0f);
    /* profiling records per-layer times of both passes when on */
    gc_session_set_profiling(s, 1);
    CHECK_OK(gc_session_forward(s, x));
    CHECK_OK(gc_session_backward(s, r, &part));
    CHECK(gc_session_layer_seconds(s, 0, 0) > 0 && gc_session_layer_seconds(s, 9, 1) > 0);
    CHECK(gc_session_layer_seconds(s, 0, 1) == 0); /* below the stop layer */
    CHECK(gc_session_layer_seconds(s, 99, 0) == -1 && gc_session_layer_seconds(NULL, 0, 0) == -1);
    gc_session_set_profiling(s, 0);
    CHECK_OK(gc_session_forward(s, x));
    CHECK(gc_session_layer_seconds(s, 0, 0) == 0);
    gc_free(ref);
    gc_session_free(s);
    gc_model_free(m);
}

/* A two-ReLU network where every rule gives a different, hand-computed answer:
 * x -> relu a -> ... with y = relu(x). The gradient at the input under each
 * mode follows the table in gradcam.h. */
TEST(relu_modes_through_network) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_relu(m, "r", NULL));
    gc_session_config cfg = {.batch = 1, .channels = 1, .height = 1, .width = 4};
    gc_session *s = NULL;
    CHECK_OK(gc_session_create(m, &cfg, &s));
    if (!s) { gc_model_free(m); return; }
    float x[4] = {1.0f, 2.0f, -1.0f, -2.0f}, dy[4] = {0.5f, -0.5f, 0.25f, -0.25f};
    const float expect[3][4] = {
        {0.5f, -0.5f, 0.0f, 0.0f},  /* normal: dy where x > 0 */
        {0.5f, 0.0f, 0.0f, 0.0f},   /* guided: dy where x > 0 and dy > 0 */
        {0.5f, 0.0f, 0.25f, 0.0f},  /* deconvnet: dy where dy > 0 */
    };
    CHECK_OK(gc_session_forward(s, x));
    gc_tensor y, g;
    CHECK_OK(gc_session_output(s, &y));
    CHECK(y.data[0] == 1.0f && y.data[1] == 2.0f && y.data[2] == 0.0f && y.data[3] == 0.0f);
    for (int mode = 0; mode < 3; mode++) {
        gc_backward_opts bo = {NULL, (gc_relu_mode)mode, 0};
        CHECK_OK(gc_session_backward(s, dy, &bo));
        CHECK_OK(gc_session_gradient(s, "input", &g));
        for (int i = 0; i < 4; i++)
            if (g.data[i] != expect[mode][i]) FAILF("mode %d element %d: %g, expected %g", mode, i, g.data[i], expect[mode][i]);
    }
    gc_session_free(s);
    gc_model_free(m);
}

/* A layer that does not lead to the output (a dead branch) is skipped. */
TEST(dead_branch_is_ignored) {
    gc_model *m = NULL;
    CHECK_OK(gc_model_create(&m));
    gc_conv2d_params c = gc_conv2d_defaults(2, 3, 1);
    CHECK_OK(gc_model_add_conv2d(m, "conv", NULL, &c, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "side", "conv"));
    CHECK_OK(gc_model_add_relu(m, "main", "conv"));
    CHECK_OK(gc_model_init_random(m, 9));
    CHECK(strcmp(gc_model_layer_input(m, 2), "conv") == 0);
    CHECK(strcmp(gc_model_layer_input(m, 0), "input") == 0);
    gc_session_config cfg = {.batch = 1, .channels = 2, .height = 3, .width = 3, .keep_all = 1};
    gc_session *s = NULL;
    CHECK_OK(gc_session_create(m, &cfg, &s));
    if (!s) { gc_model_free(m); return; }
    float x[18], dy[27];
    for (int i = 0; i < 18; i++) x[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < 27; i++) dy[i] = 1.0f;
    CHECK_OK(gc_session_forward(s, x));
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
    CHECK_OK(gc_session_backward(s, dy, &bo));
    gc_tensor g;
    CHECK_OK(gc_session_gradient(s, "conv", &g));
    CHECK_FAILS(gc_session_gradient(s, "side", &g), GC_ERR_STATE);
    gc_session_free(s);
    gc_model_free(m);
}

TEST(bad_calls_are_refused) {
    gc_model *m = small_net(1);
    if (!m) { CHECK(m != NULL); return; }
    gc_session *s = NULL;
    gc_session_config wrong_c = {.batch = 1, .channels = 4, .height = 16, .width = 16};
    gc_session_config tiny = {.batch = 1, .channels = 3, .height = 1, .width = 1};
    gc_session_config zero = {.batch = 0, .channels = 3, .height = 8, .width = 8};
    CHECK_FAILS(gc_session_create(m, &wrong_c, &s), GC_ERR_SHAPE);
    CHECK(strstr(gc_last_error(), "features.0") != NULL);
    CHECK_FAILS(gc_session_create(m, &tiny, &s), GC_ERR_SHAPE);
    CHECK_FAILS(gc_session_create(m, &zero, &s), GC_ERR_SHAPE);
    gc_session_config small = {.batch = 1, .channels = 3, .height = 16, .width = 16, .max_bytes = 1000};
    CHECK_FAILS(gc_session_create(m, &small, &s), GC_ERR_LIMIT);
    CHECK(strstr(gc_last_error(), "max_bytes") != NULL);
    gc_session_config huge = {.batch = 1 << 20, .channels = 3, .height = 4096, .width = 4096};
    CHECK_FAILS(gc_session_create(m, &huge, &s), GC_ERR_LIMIT);
    CHECK_FAILS(gc_session_create(NULL, &wrong_c, &s), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_session_create(m, NULL, &s), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_session_create(m, &wrong_c, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);

    /* building */
    gc_conv2d_params c = gc_conv2d_defaults(3, 4, 3);
    CHECK_FAILS(gc_model_add_conv2d(m, "features.0", NULL, &c, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_add_conv2d(m, "input", NULL, &c, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_add_conv2d(m, "has space", NULL, &c, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_add_conv2d(m, "", NULL, &c, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_add_conv2d(m, "x", "nowhere", &c, NULL, NULL), GC_ERR_NOT_FOUND);
    CHECK_FAILS(gc_model_add_conv2d(m, "x", NULL, NULL, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_add_relu(NULL, "x", NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_add_relu(m, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    gc_tensor t;
    CHECK_FAILS(gc_model_param(m, "features.1.weight", &t), GC_ERR_NOT_FOUND);
    CHECK_FAILS(gc_model_param(m, "nothing", &t), GC_ERR_NOT_FOUND);
    CHECK_OK(gc_model_param(m, "features.3.weight", &t));
    CHECK(t.ndim == 4 && t.shape[0] == 4 && t.shape[1] == 3 && t.shape[2] == 3 && t.shape[3] == 3);
    CHECK(gc_model_find_layer(m, "avgpool") == 7 && gc_model_find_layer(m, "zzz") == -1);
    CHECK(gc_model_layer_name(m, 99) == NULL && gc_model_layer_kind(m, -1) == GC_LAYER_KIND_COUNT);

    /* labels must match the output */
    const char *two[2] = {"a", "b"};
    CHECK_OK(gc_model_set_labels(m, 2, two));
    const char *keep[] = {"features.2", NULL};
    gc_session_config ok = {.batch = 1, .channels = 3, .height = 16, .width = 16, .keep = keep};
    CHECK_FAILS(gc_session_create(m, &ok, &s), GC_ERR_SHAPE);
    CHECK_OK(gc_model_set_labels(m, 0, NULL));
    const char *bad[1] = {"line\nbreak"};
    CHECK_FAILS(gc_model_set_labels(m, 1, bad), GC_ERR_INVALID_ARGUMENT);

    /* session calls */
    CHECK_OK(gc_session_create(m, &ok, &s));
    if (s) {
        float x[3 * 16 * 16] = {0}, dy[5] = {1, 0, 0, 0, 0};
        gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
        CHECK_FAILS(gc_session_backward(s, dy, &bo), GC_ERR_STATE);
        CHECK_FAILS(gc_session_output(s, &t), GC_ERR_STATE);
        CHECK_FAILS(gc_session_forward(s, NULL), GC_ERR_INVALID_ARGUMENT);
        CHECK_OK(gc_session_forward(s, x));
        CHECK_FAILS(gc_session_backward(s, NULL, &bo), GC_ERR_INVALID_ARGUMENT);
        CHECK_FAILS(gc_session_backward(s, dy, NULL), GC_ERR_INVALID_ARGUMENT);
        gc_backward_opts unknown = {"features.99", GC_RELU_NORMAL, 0};
        CHECK_FAILS(gc_session_backward(s, dy, &unknown), GC_ERR_NOT_FOUND);
        CHECK(strstr(gc_last_error(), "features.99") != NULL);
        gc_backward_opts badmode = {NULL, (gc_relu_mode)7, 0};
        CHECK_FAILS(gc_session_backward(s, dy, &badmode), GC_ERR_INVALID_ARGUMENT);
        gc_backward_opts pg = {NULL, GC_RELU_NORMAL, 1};
        CHECK_FAILS(gc_session_backward(s, dy, &pg), GC_ERR_STATE);
        CHECK_FAILS(gc_session_activation(s, "nope", &t), GC_ERR_NOT_FOUND);
        CHECK_FAILS(gc_session_activation(s, NULL, &t), GC_ERR_INVALID_ARGUMENT);
        CHECK_FAILS(gc_session_gradient(s, "nope", &t), GC_ERR_NOT_FOUND);
        CHECK_FAILS(gc_session_param_grad(s, "nope.weight", &t), GC_ERR_NOT_FOUND);
        CHECK_OK(gc_session_activation(s, "features.2", &t));
        CHECK(t.shape[1] == 6 && t.shape[2] == 8 && t.shape[3] == 8); /* ceil((16-3)/2)+1 = 8 */
        CHECK_FAILS(gc_session_activation(s, "features.3", &t), GC_ERR_STATE); /* not kept */
        CHECK_OK(gc_session_activation(s, "features.6", &t));                  /* default Grad-CAM layer */
        CHECK_OK(gc_session_shape(s, "features.3", &t));
        CHECK(t.data == NULL && t.ndim == 4 && t.shape[1] == 4 && t.shape[2] == 4);
        CHECK_FAILS(gc_session_shape(s, "nope", &t), GC_ERR_NOT_FOUND);
        CHECK(gc_session_memory(s) > 0);
        gc_session_free(s);
    }
    gc_session_free(NULL);
    gc_model_free(NULL);
    gc_model_free(m);
}

TEST(init_random_is_deterministic_and_bounded) {
    gc_model *a = small_net(42), *b = small_net(42), *c = small_net(43);
    if (!a || !b || !c) { CHECK(0); goto out; }
    gc_tensor ta, tb, tc;
    CHECK_OK(gc_model_param(a, "classifier.0.weight", &ta));
    CHECK_OK(gc_model_param(b, "classifier.0.weight", &tb));
    CHECK_OK(gc_model_param(c, "classifier.0.weight", &tc));
    CHECK(memcmp(ta.data, tb.data, 24 * 5 * 4) == 0);
    CHECK(memcmp(ta.data, tc.data, 24 * 5 * 4) != 0);
    float bound = 1.0f / sqrtf(24.0f), mx = 0;
    for (int i = 0; i < 120; i++) mx = fmaxf(mx, fabsf(ta.data[i]));
    CHECK(mx <= bound && mx > 0.8f * bound);
    CHECK(gc_model_param_count(a) == 6 * 3 * 9 + 6 + 4 * 3 * 9 + 4 + 4 * 4 + 120 + 5);
out:
    gc_model_free(a); gc_model_free(b); gc_model_free(c);
}

/* A session that starts after a named layer, fed with that layer's output at
 * batch 3, reproduces the full network's output and gradient for each copy. */
TEST(session_from_input_layer) {
    gc_model *m = small_net(8);
    if (!m) { CHECK(m != NULL); return; }
    gc_session_config full_cfg = {.batch = 1, .channels = 3, .height = 15, .width = 15};
    gc_session_config head_cfg = {.batch = 3, .channels = 3, .height = 15, .width = 15,
                                  .input_layer = "features.6"};
    gc_session *full = NULL, *head = NULL;
    CHECK_OK(gc_session_create(m, &full_cfg, &full));
    CHECK_OK(gc_session_create(m, &head_cfg, &head));
    if (!full || !head) goto out;
    gc_rng rng;
    gc_rng_seed(&rng, 4);
    float x[3 * 15 * 15];
    fill(x, 3 * 15 * 15, &rng, 1.0f);
    CHECK_OK(gc_session_forward(full, x));
    gc_tensor a, y, yh, g, gh;
    CHECK_OK(gc_session_activation(full, "features.6", &a));
    int64_t na = gc_tensor_numel(&a);
    float *a3 = gc_alloc_array(3 * (size_t)na, 4);
    for (int k = 0; k < 3; k++) memcpy(a3 + k * na, a.data, (size_t)na * 4);
    CHECK_OK(gc_session_forward(head, a3));
    CHECK_OK(gc_session_output(full, &y));
    CHECK_OK(gc_session_output(head, &yh));
    CHECK(yh.shape[0] == 3 && yh.shape[1] == 5);
    /* batch 3 and batch 1 may take different kernel paths: equal to float precision */
    for (int k = 0; k < 3; k++) CHECK(test_rel_err(yh.data + 5 * k, y.data, 5, 1e-6) < 1e-5);
    /* three one-hot targets in one backward; each equals its own full pass */
    float dy3[15] = {0}, dy[5];
    for (int k = 0; k < 3; k++) dy3[5 * k + k] = 1.0f;
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
    CHECK_OK(gc_session_backward(head, dy3, &bo));
    CHECK_OK(gc_session_gradient(head, "input", &gh));
    gc_tensor same;
    CHECK_OK(gc_session_gradient(head, "features.6", &same));
    CHECK(same.data == gh.data);
    gc_backward_opts to6 = {"features.6", GC_RELU_NORMAL, 0};
    for (int k = 0; k < 3; k++) {
        memset(dy, 0, sizeof dy);
        dy[k] = 1.0f;
        CHECK_OK(gc_session_backward(full, dy, &to6));
        CHECK_OK(gc_session_gradient(full, "features.6", &g));
        CHECK(test_rel_err(gh.data + k * na, g.data, na, 1e-9) < 1e-5);
    }
    CHECK_FAILS(gc_session_activation(head, "features.0", &g), GC_ERR_NOT_FOUND);
    gc_session_config bad = head_cfg;
    gc_session *s2 = NULL;
    bad.input_layer = "nope";
    CHECK_FAILS(gc_session_create(m, &bad, &s2), GC_ERR_NOT_FOUND);
    bad.input_layer = "classifier.1";
    CHECK_FAILS(gc_session_create(m, &bad, &s2), GC_ERR_INVALID_ARGUMENT);
    gc_free(a3);
out:
    gc_session_free(full);
    gc_session_free(head);
    gc_model_free(m);
}

/* Lifetime-shared buffers give bit-identical results to keep_all (batch-norm run as
 * written: keep_all never folds it), use less memory, and keep only what the contract
 * promises. */
TEST(lean_plan_matches_keep_all) {
    gc_model *m = small_net(21);
    if (!m) { CHECK(0); return; }
    gc_session *lean = NULL, *all = NULL;
    for (int pg = 0; pg < 2; pg++) {
        gc_session_config cl = {.batch = 2, .channels = 3, .height = 19, .width = 17, .param_grads = pg,
                                .no_fold = 1};
        gc_session_config ca = cl;
        ca.keep_all = 1;
        CHECK_OK(gc_session_create(m, &cl, &lean));
        CHECK_OK(gc_session_create(m, &ca, &all));
        if (!lean || !all) break;
        CHECK(gc_session_memory(lean) < gc_session_memory(all));
        gc_rng rng;
        gc_rng_seed(&rng, 3);
        float x[2 * 3 * 19 * 17], r[10];
        fill(x, 2 * 3 * 19 * 17, &rng, 1.0f);
        fill(r, 10, &rng, 1.0f);
        gc_session *ss[2] = {lean, all};
        gc_tensor out[2], gin[2], g6[2], pw[2];
        for (int k = 0; k < 2; k++) {
            CHECK_OK(gc_session_forward(ss[k], x));
            CHECK_OK(gc_session_output(ss[k], &out[k]));
            /* two passes per forward, as the explainers do */
            gc_backward_opts to6 = {"features.6", GC_RELU_NORMAL, 0};
            CHECK_OK(gc_session_backward(ss[k], r, &to6));
            CHECK_OK(gc_session_gradient(ss[k], "features.6", &g6[k]));
            float *keep6 = gc_alloc_array((size_t)gc_tensor_numel(&g6[k]), 4);
            memcpy(keep6, g6[k].data, (size_t)gc_tensor_numel(&g6[k]) * 4);
            g6[k].data = keep6;
            gc_backward_opts full = {NULL, GC_RELU_GUIDED, pg};
            CHECK_OK(gc_session_backward(ss[k], r, &full));
            CHECK_OK(gc_session_gradient(ss[k], "input", &gin[k]));
            if (pg) CHECK_OK(gc_session_param_grad(ss[k], "features.3.weight", &pw[k]));
        }
        CHECK(memcmp(out[0].data, out[1].data, 10 * 4) == 0);
        CHECK(memcmp(g6[0].data, g6[1].data, (size_t)gc_tensor_numel(&g6[0]) * 4) == 0);
        CHECK(memcmp(gin[0].data, gin[1].data, (size_t)gc_tensor_numel(&gin[0]) * 4) == 0);
        if (pg) CHECK(memcmp(pw[0].data, pw[1].data, (size_t)gc_tensor_numel(&pw[0]) * 4) == 0);
        gc_free(g6[0].data);
        gc_free(g6[1].data);
        gc_tensor t;
        CHECK_FAILS(gc_session_gradient(lean, "features.6", &t), GC_ERR_STATE);
        CHECK_OK(gc_session_gradient(all, "features.6", &t));
        CHECK_FAILS(gc_session_activation(lean, "features.0", &t), GC_ERR_STATE);
        CHECK_OK(gc_session_activation(all, "features.0", &t));
        gc_session_free(lean);
        gc_session_free(all);
        lean = all = NULL;
    }
    gc_session_free(lean);
    gc_session_free(all);
    gc_model_free(m);
}

int main(void) {
    RUN(whole_network_gradient_along_random_direction);
    RUN(backward_stops_at_named_layer);
    RUN(relu_modes_through_network);
    RUN(dead_branch_is_ignored);
    RUN(bad_calls_are_refused);
    RUN(init_random_is_deterministic_and_bounded);
    RUN(session_from_input_layer);
    RUN(lean_plan_matches_keep_all);
    return test_summary("net");
}
