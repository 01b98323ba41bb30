/* test_train.c - softmax cross-entropy (hand values, finite differences,
 * stability), SGD steps against hand computation, refusals, and a small
 * net and a small conv net learning separable toy problems. */
#include "test.h"

/* ------------------------------------------------------------------ loss */

TEST(loss_hand_values) {
    /* row 0: log(e^1 + e^2 + e^3) - 3; row 1: log 3 (uniform logits) */
    const float z[6] = {1, 2, 3, 0, 0, 0};
    const int y[2] = {2, 0};
    float loss, g[6];
    CHECK_OK(gc_loss_softmax_xent(z, 2, 3, y, &loss, g));
    CHECK_NEAR(loss, (0.40760596444438013 + 1.0986122886681098) / 2, 1e-6);
    /* grad = (softmax - onehot) / 2 */
    double s = exp(1.0) + exp(2.0) + exp(3.0);
    CHECK_NEAR(g[0], exp(1.0) / s / 2, 1e-7);
    CHECK_NEAR(g[2], (exp(3.0) / s - 1) / 2, 1e-7);
    CHECK_NEAR(g[3], (1.0 / 3 - 1) / 2, 1e-7);
    CHECK_NEAR(g[4], 1.0 / 6, 1e-7);
    /* each row of the gradient sums to zero */
    CHECK_NEAR(g[0] + g[1] + g[2], 0, 1e-7);
    /* loss only, grad only */
    float l2;
    CHECK_OK(gc_loss_softmax_xent(z, 2, 3, y, &l2, NULL));
    CHECK(l2 == loss);
    float g2[6];
    CHECK_OK(gc_loss_softmax_xent(z, 2, 3, y, NULL, g2));
    CHECK(memcmp(g, g2, sizeof g) == 0);
}

TEST(loss_grad_finite_differences) {
    enum { N = 3, K = 5 };
    float z[N * K], g[N * K];
    const int y[N] = {4, 0, 2};
    for (int i = 0; i < N * K; i++) z[i] = (float)((i * 7919) % 23) / 7.0f - 1.5f;
    float loss;
    CHECK_OK(gc_loss_softmax_xent(z, N, K, y, &loss, g));
    const float eps = 1e-2f;
    for (int i = 0; i < N * K; i++) {
        float zp[N * K], zm[N * K], lp, lm;
        memcpy(zp, z, sizeof z);
        memcpy(zm, z, sizeof z);
        zp[i] += eps;
        zm[i] -= eps;
        CHECK_OK(gc_loss_softmax_xent(zp, N, K, y, &lp, NULL));
        CHECK_OK(gc_loss_softmax_xent(zm, N, K, y, &lm, NULL));
        CHECK_NEAR(g[i], ((double)lp - lm) / (2 * eps), 2e-4);
    }
}

TEST(loss_stable_and_aliasing) {
    /* huge logits: log(1 + e) - 1 whatever the common offset */
    float z[2] = {1000, 1001}, g[2];
    const int y[1] = {0};
    float loss;
    CHECK_OK(gc_loss_softmax_xent(z, 1, 2, y, &loss, g));
    CHECK_NEAR(loss, 1.3132616875182228, 1e-6);
    float w[2] = {-1000, -999};
    float l2;
    CHECK_OK(gc_loss_softmax_xent(w, 1, 2, y, &l2, w)); /* grad aliases logits */
    CHECK_NEAR(l2, 1.3132616875182228, 1e-6);
    CHECK_NEAR(w[0], g[0], 1e-7);
    CHECK_NEAR(w[1], g[1], 1e-7);
    CHECK(isfinite(g[0]) && isfinite(g[1]));
}

TEST(loss_refusals) {
    float z[4] = {0}, loss;
    int bad[2] = {0, 2}, neg[2] = {-1, 0};
    CHECK_FAILS(gc_loss_softmax_xent(z, 2, 2, bad, &loss, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_loss_softmax_xent(z, 2, 2, neg, &loss, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_loss_softmax_xent(NULL, 2, 2, neg, &loss, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_loss_softmax_xent(z, 0, 2, neg, &loss, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_loss_softmax_xent(z, 2, 0, neg, &loss, NULL), GC_ERR_INVALID_ARGUMENT);
}

/* ------------------------------------------------------------------- SGD */

/* y = w . x + b with w = (0.5, -1), b = 0.25; x = (2, 3); dy = 1 gives
 * g_w = (2, 3), g_b = 1 at every step. */
static gc_model *one_linear(void) {
    gc_model *m = NULL;
    const float w[2] = {0.5f, -1.0f}, b[1] = {0.25f};
    gc_linear_params lp = {2, 1, 1};
    if (gc_model_create(&m) || gc_model_add_flatten(m, "flatten", NULL) ||
        gc_model_add_linear(m, "fc", NULL, &lp, w, b)) {
        gc_model_free(m);
        return NULL;
    }
    return m;
}

static int linear_step(gc_session *s, gc_sgd *o) {
    const float x[2] = {2, 3}, dy[1] = {1};
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
    return gc_session_forward(s, x) || gc_session_backward(s, dy, &bo) || gc_sgd_step(o, s);
}

TEST(sgd_two_steps_by_hand) {
    gc_model *m = one_linear();
    CHECK(m != NULL);
    if (!m) return;
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 2, .height = 1, .width = 1, .param_grads = 1};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_sgd *o = NULL;
    gc_sgd_params p = {0.1f, 0.9f, 0.01f, 0};
    CHECK_OK(gc_sgd_create(m, &p, &o));
    gc_tensor w, b;
    CHECK_OK(gc_model_param(m, "fc.weight", &w));
    CHECK_OK(gc_model_param(m, "fc.bias", &b));
    /* step 1: d = g + 0.01 w = (2.005, 2.99), 1.0025; v = d; w -= 0.1 v */
    CHECK(linear_step(s, o) == 0);
    CHECK_NEAR(w.data[0], 0.2995, 1e-6);
    CHECK_NEAR(w.data[1], -1.299, 1e-6);
    CHECK_NEAR(b.data[0], 0.14975, 1e-6);
    /* step 2: v = 0.9 v + (g + 0.01 w) = (3.807495, 5.67801), 1.9037475 */
    CHECK(linear_step(s, o) == 0);
    CHECK_NEAR(w.data[0], -0.0812495, 1e-6);
    CHECK_NEAR(w.data[1], -1.866801, 1e-6);
    CHECK_NEAR(b.data[0], -0.04062475, 1e-6);
    gc_sgd_free(o);
    gc_session_free(s);
    gc_model_free(m);
}

TEST(sgd_no_bias_decay_and_lr) {
    gc_model *m = one_linear();
    if (!m) { CHECK(m != NULL); return; }
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 2, .height = 1, .width = 1, .param_grads = 1};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_sgd *o = NULL;
    gc_sgd_params p = {0.5f, 0.0f, 0.1f, 1};
    CHECK_OK(gc_sgd_create(m, &p, &o));
    CHECK_OK(gc_sgd_set_lr(o, 0.1f));
    CHECK_FAILS(gc_sgd_set_lr(o, 0.0f), GC_ERR_INVALID_ARGUMENT);
    gc_tensor w, b;
    CHECK_OK(gc_model_param(m, "fc.weight", &w));
    CHECK_OK(gc_model_param(m, "fc.bias", &b));
    CHECK(linear_step(s, o) == 0);
    /* no momentum: w -= 0.1 (g + 0.1 w); bias without decay: b -= 0.1 g */
    CHECK_NEAR(w.data[0], 0.5 - 0.1 * (2 + 0.05), 1e-6);
    CHECK_NEAR(w.data[1], -1 - 0.1 * (3 - 0.1), 1e-6);
    CHECK_NEAR(b.data[0], 0.25 - 0.1, 1e-6);
    gc_sgd_free(o);
    gc_session_free(s);
    gc_model_free(m);
}

TEST(sgd_refusals) {
    gc_model *m = one_linear(), *m2 = one_linear(), *mapped = NULL;
    if (!m || !m2) { CHECK(0); gc_model_free(m); gc_model_free(m2); return; }
    gc_sgd *o = NULL;
    gc_sgd_params p = {0.1f, 0.9f, 0.0f, 0};
    gc_sgd_params bad = p;
    bad.momentum = 1.0f;
    CHECK_FAILS(gc_sgd_create(m, &bad, &o), GC_ERR_INVALID_ARGUMENT);
    CHECK(o == NULL);
    bad = p;
    bad.lr = -1;
    CHECK_FAILS(gc_sgd_create(m, &bad, &o), GC_ERR_INVALID_ARGUMENT);
    bad = p;
    bad.weight_decay = -0.5f;
    CHECK_FAILS(gc_sgd_create(m, &bad, &o), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_sgd_create(NULL, &p, &o), GC_ERR_INVALID_ARGUMENT);

    /* a model opened from a file is read-only */
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(gc_model_save_memory(m, &buf, &len));
    CHECK_OK(gc_model_open_memory(buf, len, &mapped));
    gc_model_buffer_free(buf);
    CHECK_FAILS(gc_sgd_create(mapped, &p, &o), GC_ERR_STATE);
    gc_model_free(mapped);

    CHECK_OK(gc_sgd_create(m, &p, &o));
    gc_session *s = NULL, *s2 = NULL, *nograd = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 2, .height = 1, .width = 1, .param_grads = 1};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    CHECK_OK(gc_session_create(m2, &cfg, &s2));
    cfg.param_grads = 0;
    CHECK_OK(gc_session_create(m, &cfg, &nograd));
    const float x[2] = {2, 3};
    CHECK_OK(gc_session_forward(s, x));
    /* forward without backward: no gradients yet, nothing changes */
    CHECK_FAILS(gc_sgd_step(o, s), GC_ERR_STATE);
    CHECK_FAILS(gc_sgd_step(o, s2), GC_ERR_INVALID_ARGUMENT);
    CHECK_OK(gc_session_forward(nograd, x));
    CHECK_FAILS(gc_sgd_step(o, nograd), GC_ERR_STATE);
    const float dy[1] = {1};
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
    CHECK_OK(gc_session_backward(s, dy, &bo)); /* without parameter gradients */
    CHECK_FAILS(gc_sgd_step(o, s), GC_ERR_STATE);
    gc_tensor w;
    CHECK_OK(gc_model_param(m, "fc.weight", &w));
    CHECK(w.data[0] == 0.5f && w.data[1] == -1.0f);
    CHECK_FAILS(gc_sgd_step(NULL, s), GC_ERR_INVALID_ARGUMENT);
    gc_sgd_free(NULL);
    gc_sgd_free(o);
    gc_session_free(s);
    gc_session_free(s2);
    gc_session_free(nograd);
    gc_model_free(m);
    gc_model_free(m2);
}

/* -------------------------------------------------------------- learning */

/* Trains with batch B for steps; x_of(step, i, x) fills sample i of a batch
 * and returns its label. Returns the final mean loss of a fresh batch. */
typedef int (*sample_fn)(uint64_t k, float *x);

static float train(gc_model *m, const gc_session_config *cfg0, sample_fn f, int steps, float lr,
                   float *acc_out) {
    gc_session_config cfg = *cfg0;
    cfg.param_grads = 1;
    gc_session *s = NULL;
    gc_sgd *o = NULL;
    gc_sgd_params p = {lr, 0.9f, 1e-4f, 0};
    const int64_t B = cfg.batch, D = cfg.channels * cfg.height * cfg.width;
    float *x = malloc((size_t)(B * D) * sizeof(float)), *g = malloc(64 * sizeof(float));
    int labels[64];
    float loss = NAN;
    if (!x || !g || B > 32 || gc_session_create(m, &cfg, &s) || gc_sgd_create(m, &p, &o)) goto done;
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
    gc_tensor y;
    for (int t = 0; t <= steps; t++) {
        for (int64_t i = 0; i < B; i++) labels[i] = f((uint64_t)t * (uint64_t)B + (uint64_t)i, x + i * D);
        if (gc_session_forward(s, x) || gc_session_output(s, &y) ||
            gc_loss_softmax_xent(y.data, B, y.shape[1], labels, &loss, g))
            goto done;
        if (t == steps) break; /* last batch: evaluation only */
        if (gc_session_backward(s, g, &bo) || gc_sgd_step(o, s)) { loss = NAN; goto done; }
    }
    int right = 0;
    for (int64_t i = 0; i < B; i++) {
        int best = 0;
        for (int k = 1; k < y.shape[1]; k++) if (y.data[i * y.shape[1] + k] > y.data[i * y.shape[1] + best]) best = k;
        right += best == labels[i];
    }
    *acc_out = (float)right / (float)B;
done:
    free(x);
    free(g);
    gc_sgd_free(o);
    gc_session_free(s);
    return loss;
}

/* points in [-1,1]^2, class 1 when x0 + 0.5 x1 > 0.1 (margin 0.1 enforced) */
static int toy_points(uint64_t k, float *x) {
    uint64_t h = k * 0x9E3779B97F4A7C15ull + 12345;
    for (;;) {
        h ^= h >> 31; h *= 0xBF58476D1CE4E5B9ull; h ^= h >> 29;
        x[0] = (float)((h >> 11) & 0xffff) / 32768.0f - 1.0f;
        x[1] = (float)((h >> 35) & 0xffff) / 32768.0f - 1.0f;
        float d = x[0] + 0.5f * x[1] - 0.1f;
        if (fabsf(d) > 0.1f) return d > 0;
    }
}

TEST(mlp_learns_separable_points) {
    gc_model *m = NULL;
    gc_linear_params l1 = {2, 16, 1}, l2 = {16, 2, 1};
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc1", NULL, &l1, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "relu", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc2", NULL, &l2, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 7));
    gc_session_config cfg = {.batch = 32, .channels = 2, .height = 1, .width = 1};
    float acc = 0, loss = train(m, &cfg, toy_points, 300, 0.1f, &acc);
    CHECK(loss < 0.1f);
    CHECK(acc >= 0.97f);
    if (!(loss < 0.1f)) FAILF("final loss %g", loss);

    /* determinism: the same seed and data give bit-identical weights */
    gc_model *m2 = NULL;
    CHECK_OK(gc_model_create(&m2));
    CHECK_OK(gc_model_add_flatten(m2, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m2, "fc1", NULL, &l1, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m2, "relu", NULL));
    CHECK_OK(gc_model_add_linear(m2, "fc2", NULL, &l2, NULL, NULL));
    CHECK_OK(gc_model_init_random(m2, 7));
    float acc2 = 0, loss2 = train(m2, &cfg, toy_points, 300, 0.1f, &acc2);
    CHECK(loss2 == loss);
    gc_tensor a, b;
    CHECK_OK(gc_model_param(m, "fc1.weight", &a));
    CHECK_OK(gc_model_param(m2, "fc1.weight", &b));
    CHECK(memcmp(a.data, b.data, 32 * sizeof(float)) == 0);
    gc_model_free(m);
    gc_model_free(m2);
}

/* 8x8 images: a horizontal (class 0) or vertical (class 1) bar at a random
 * place on weak noise */
static int toy_bars(uint64_t k, float *x) {
    uint64_t h = k * 0x9E3779B97F4A7C15ull + 99;
    int label = (int)(k & 1);
    h ^= h >> 31; h *= 0xBF58476D1CE4E5B9ull; h ^= h >> 29;
    int pos = (int)(h % 6) + 1, start = (int)((h >> 8) % 4);
    for (int i = 0; i < 64; i++) {
        h ^= h >> 31; h *= 0xBF58476D1CE4E5B9ull; h ^= h >> 29;
        x[i] = (float)(h & 0xff) / 255.0f * 0.2f;
    }
    for (int t = start; t < start + 4; t++) x[label ? t * 8 + pos : pos * 8 + t] += 1.0f;
    return label;
}

TEST(convnet_learns_bars) {
    gc_model *m = NULL;
    gc_conv2d_params cp = gc_conv2d_defaults(1, 4, 3);
    cp.pad_h = cp.pad_w = 1;
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params fc = {4, 2, 1};
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "features.0", NULL, &cp, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "features.1", NULL));
    CHECK_OK(gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "classifier.0", NULL, &fc, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 3));
    gc_session_config cfg = {.batch = 16, .channels = 1, .height = 8, .width = 8};
    float acc = 0, loss = train(m, &cfg, toy_bars, 400, 0.2f, &acc);
    if (!(loss < 0.15f) || !(acc >= 0.95f)) FAILF("final loss %g, accuracy %g", loss, acc);
    gc_model_free(m);
}

int main(void) {
    RUN(loss_hand_values);
    RUN(loss_grad_finite_differences);
    RUN(loss_stable_and_aliasing);
    RUN(loss_refusals);
    RUN(sgd_two_steps_by_hand);
    RUN(sgd_no_bias_decay_and_lr);
    RUN(sgd_refusals);
    RUN(mlp_learns_separable_points);
    RUN(convnet_learns_bars);
    return test_summary("train");
}
