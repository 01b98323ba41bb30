/* test_evaluate.c - IoU, localisation, pointing game, Spearman (hand values
 * and a naive rank oracle), occlusion (brute-force drops of a linear toy
 * model), deletion/insertion curves (hand values), baseline maps, refusals. */
#include "test.h"

/* ---------------------------------------------------------------- boxes */

TEST(iou_known_boxes) {
    gc_box a = {0, 0, 9, 9, 0}, b = {5, 5, 14, 14, 0}, c = {20, 20, 25, 25, 0}, d = {0, 0, 4, 4, 0};
    CHECK_NEAR(gc_box_iou(&a, &a), 1.0, 1e-12);
    CHECK_NEAR(gc_box_iou(&a, &b), 25.0 / 175.0, 1e-12);
    CHECK_NEAR(gc_box_iou(&b, &a), 25.0 / 175.0, 1e-12);
    CHECK_NEAR(gc_box_iou(&a, &c), 0.0, 1e-12);
    CHECK_NEAR(gc_box_iou(&a, &d), 25.0 / 100.0, 1e-12);
    gc_box e = {10, 0, 19, 9, 0}; /* touching edge, no shared pixel */
    CHECK_NEAR(gc_box_iou(&a, &e), 0.0, 1e-12);
    gc_box f = {9, 0, 18, 9, 0};  /* one shared column */
    CHECK_NEAR(gc_box_iou(&a, &f), 10.0 / 190.0, 1e-12);
}

enum { H = 32, W = 40 };

/* A map with a big block (rows 8..17, cols 20..29) of 1, a small block of
 * 0.9 (rows 25..27, cols 2..4) and faint noise under 15%. */
static void two_blocks(float *m) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float v = (float)((x * 7 + y * 13) % 10) * 0.01f;
            if (y >= 8 && y <= 17 && x >= 20 && x <= 29) v = 1.0f;
            if (y >= 25 && y <= 27 && x >= 2 && x <= 4) v = 0.9f;
            m[y * W + x] = v;
        }
}

TEST(localization_largest_component) {
    static float m[H * W];
    two_blocks(m);
    gc_box gt = {20, 8, 29, 17, 100}, other = {2, 25, 4, 27, 9}, shifted = {25, 8, 34, 17, 0};
    double iou = -1;
    int ok = -1;
    CHECK_OK(gc_eval_localization(m, H, W, &gt, 1, &iou, &ok));
    CHECK_NEAR(iou, 1.0, 1e-12);
    CHECK(ok == 1);
    CHECK_OK(gc_eval_localization(m, H, W, &other, 1, &iou, &ok));
    CHECK_NEAR(iou, 0.0, 1e-12);
    CHECK(ok == 0);
    /* shifted by 5 columns: 50 / 150 */
    CHECK_OK(gc_eval_localization(m, H, W, &shifted, 1, &iou, &ok));
    CHECK_NEAR(iou, 50.0 / 150.0, 1e-12);
    CHECK(ok == 0);
    /* best over several boxes */
    gc_box both[2] = {other, gt};
    CHECK_OK(gc_eval_localization(m, H, W, both, 2, &iou, &ok));
    CHECK_NEAR(iou, 1.0, 1e-12);
    /* a map with nothing positive: no box */
    static float z[H * W];
    memset(z, 0, sizeof z);
    CHECK_OK(gc_eval_localization(z, H, W, &gt, 1, &iou, &ok));
    CHECK(iou == 0 && ok == 0);
    CHECK_FAILS(gc_eval_localization(m, H, W, NULL, 1, &iou, &ok), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_eval_localization(NULL, H, W, &gt, 1, &iou, &ok), GC_ERR_INVALID_ARGUMENT);
}

TEST(pointing_game) {
    CHECK_NEAR(gc_eval_pointing_tolerance(224, 300), 15.0, 1e-12);
    CHECK_NEAR(gc_eval_pointing_tolerance(64, 64), 15.0 * 64 / 224, 1e-12);
    static float m[H * W];
    gc_box box = {10, 10, 19, 19, 0};
    int hit = -1;
    memset(m, 0, sizeof m);
    m[15 * W + 12] = 1; /* inside */
    CHECK_OK(gc_eval_pointing(m, H, W, &box, 0, &hit));
    CHECK(hit == 1);
    m[15 * W + 12] = 0;
    m[15 * W + 22] = 1; /* 3 columns right of the box */
    CHECK_OK(gc_eval_pointing(m, H, W, &box, 0, &hit));
    CHECK(hit == 0);
    CHECK_OK(gc_eval_pointing(m, H, W, &box, 2.9, &hit));
    CHECK(hit == 0);
    CHECK_OK(gc_eval_pointing(m, H, W, &box, 3.0, &hit));
    CHECK(hit == 1);
    m[2 * W + 2] = 2; /* a higher peak elsewhere wins */
    CHECK_OK(gc_eval_pointing(m, H, W, &box, 3.0, &hit));
    CHECK(hit == 0);
    m[2 * W + 2] = NAN;
    CHECK_OK(gc_eval_pointing(m, H, W, &box, 100, &hit));
    CHECK(hit == 0);
    CHECK_FAILS(gc_eval_pointing(m, H, W, &box, -1, &hit), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_eval_pointing(m, 0, W, &box, 1, &hit), GC_ERR_INVALID_ARGUMENT);
}

/* -------------------------------------------------------------- Spearman */

/* Naive oracle: rank = #less + (#equal + 1) / 2, then Pearson. */
static double naive_spearman(const float *a, const float *b, int n) {
    double *ra = malloc((size_t)n * sizeof(double)), *rb = malloc((size_t)n * sizeof(double));
    for (int i = 0; i < n; i++) {
        int la = 0, ea = 0, lb = 0, eb = 0;
        for (int j = 0; j < n; j++) {
            la += a[j] < a[i]; ea += a[j] == a[i];
            lb += b[j] < b[i]; eb += b[j] == b[i];
        }
        ra[i] = la + (ea + 1) / 2.0;
        rb[i] = lb + (eb + 1) / 2.0;
    }
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) { ma += ra[i] / n; mb += rb[i] / n; }
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb); saa += (ra[i] - ma) * (ra[i] - ma); sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    free(ra);
    free(rb);
    return sab / sqrt(saa * sbb);
}

TEST(spearman) {
    enum { N = 300 };
    static float a[N], b[N], c[N];
    for (int i = 0; i < N; i++) {
        a[i] = sinf((float)i * 0.37f) * 3 + (float)i * 0.001f;
        b[i] = a[i] * a[i] * a[i] + 5; /* monotone increasing */
        c[i] = -2 * a[i];              /* decreasing */
    }
    double rho = 0;
    CHECK_OK(gc_eval_spearman(a, b, N, &rho));
    CHECK_NEAR(rho, 1.0, 1e-12);
    CHECK_OK(gc_eval_spearman(a, c, N, &rho));
    CHECK_NEAR(rho, -1.0, 1e-12);
    /* ties by hand: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5) */
    const float t1[4] = {1, 2, 2, 3}, t2[4] = {10, 20, 30, 40};
    CHECK_OK(gc_eval_spearman(t1, t2, 4, &rho));
    CHECK_NEAR(rho, 4.5 / sqrt(22.5), 1e-12);
    /* many ties against the naive oracle */
    for (int i = 0; i < N; i++) {
        a[i] = (float)((i * 37) % 11);
        b[i] = (float)((i * 53) % 7) + (float)((i * 37) % 11) * 0.5f;
    }
    CHECK_OK(gc_eval_spearman(a, b, N, &rho));
    CHECK_NEAR(rho, naive_spearman(a, b, N), 1e-9);
    /* constant map: 0 */
    for (int i = 0; i < N; i++) c[i] = 1;
    CHECK_OK(gc_eval_spearman(a, c, N, &rho));
    CHECK(rho == 0);
    c[3] = NAN;
    CHECK_FAILS(gc_eval_spearman(a, c, N, &rho), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_eval_spearman(a, b, 1, &rho), GC_ERR_INVALID_ARGUMENT);
}

/* ------------------------------------------------ session-based measures */

enum { S = 8, P = S * S };

/* logit0 = sum_p w[p] x[p] (one channel, 8x8), logit1 = 0 */
static gc_model *linear_toy(const float *w) {
    gc_model *m = NULL;
    float wt[2 * P] = {0};
    memcpy(wt, w, P * sizeof(float));
    gc_linear_params lp = {P, 2, 0};
    if (gc_model_create(&m) || gc_model_add_flatten(m, "flatten", NULL) ||
        gc_model_add_linear(m, "fc", NULL, &lp, wt, NULL)) {
        gc_model_free(m);
        return NULL;
    }
    return m;
}

TEST(occlusion_linear_toy) {
    float w[P], x[P], map[P];
    for (int i = 0; i < P; i++) {
        w[i] = (i / S >= 2 && i / S <= 3 && i % S >= 4 && i % S <= 5) ? 1.0f : (float)(i % 3) * 0.1f;
        x[i] = 1.0f + (float)(i % 5) * 0.25f;
    }
    gc_model *m = linear_toy(w);
    CHECK(m != NULL);
    if (!m) return;
    for (int batch = 1; batch <= 3; batch += 2)
        for (int patch = 2; patch <= 3; patch++) {
            gc_session *s = NULL;
            gc_session_config cfg = {.batch = batch, .channels = 1, .height = S, .width = S};
            CHECK_OK(gc_session_create(m, &cfg, &s));
            gc_occlusion_params op = {patch, 2, 0.5f, 0};
            CHECK_OK(gc_eval_occlusion(s, x, 0, &op, map));
            /* oracle: positions 0, 2, 4, 6 (patch 2) or 0, 2, 4, 5 (patch 3, flush);
             * drop = sum over the patch of w * (x - fill); map = mean over covering patches */
            int pos[4] = {0, 2, 4, patch == 2 ? 6 : 5};
            double maxerr = 0;
            for (int py = 0; py < S; py++)
                for (int px = 0; px < S; px++) {
                    double sum = 0;
                    int cnt = 0;
                    for (int a = 0; a < 4; a++)
                        for (int b = 0; b < 4; b++) {
                            int y0 = pos[a], x0 = pos[b];
                            if (py < y0 || py >= y0 + patch || px < x0 || px >= x0 + patch) continue;
                            double d = 0;
                            for (int y = y0; y < y0 + patch; y++)
                                for (int xx = x0; xx < x0 + patch; xx++) d += w[y * S + xx] * (x[y * S + xx] - 0.5);
                            sum += d;
                            cnt++;
                        }
                    double e = fabs(map[py * S + px] - sum / cnt);
                    if (e > maxerr) maxerr = e;
                }
            if (maxerr > 1e-4) FAILF("batch %d patch %d: max error %g", batch, patch, maxerr);
            /* probability scores: drops of softmax(z)[0], peak on the heavy block */
            op.use_probability = 1;
            CHECK_OK(gc_eval_occlusion(s, x, 0, &op, map));
            int best = 0;
            for (int i = 1; i < P; i++) if (map[i] > map[best]) best = i;
            CHECK(best / S >= 1 && best / S <= 4 && best % S >= 3 && best % S <= 6);
            gc_session_free(s);
        }
    gc_model_free(m);
}

TEST(deletion_insertion_hand_values) {
    /* w = 1 on 4 pixels (rows 2..3, cols 4..5), 0 elsewhere; x = 1; baseline 0 */
    float w[P], x[P], rev[P], curve[P + 1];
    for (int i = 0; i < P; i++) {
        w[i] = (i / S >= 2 && i / S <= 3 && i % S >= 4 && i % S <= 5) ? 1.0f : 0.0f;
        rev[i] = -w[i];
        x[i] = 1.0f;
    }
    gc_model *m = linear_toy(w);
    if (!m) { CHECK(m != NULL); return; }
    const double s4 = 1.0 / (1.0 + exp(-4.0)); /* softmax([4, 0])[0] */
    for (int batch = 1; batch <= 4; batch += 3) {
        gc_session *s = NULL;
        gc_session_config cfg = {.batch = batch, .channels = 1, .height = S, .width = S};
        CHECK_OK(gc_session_create(m, &cfg, &s));
        double auc_good = 0, auc_bad = 0;
        /* deletion, perfect map: the 4 pixels go in the first step (16 steps of 4) */
        CHECK_OK(gc_eval_curve(s, GC_EVAL_DELETION, x, NULL, w, 0, 16, curve, &auc_good));
        CHECK_NEAR(curve[0], s4, 1e-6);
        for (int k = 1; k <= 16; k++) CHECK_NEAR(curve[k], 0.5, 1e-6);
        CHECK_NEAR(auc_good, ((s4 + 0.5) / 2 + 15 * 0.5) / 16, 1e-6);
        /* reversed map: they go last */
        CHECK_OK(gc_eval_curve(s, GC_EVAL_DELETION, x, NULL, rev, 0, 16, curve, &auc_bad));
        for (int k = 0; k < 16; k++) CHECK_NEAR(curve[k], s4, 1e-6);
        CHECK_NEAR(curve[16], 0.5, 1e-6);
        CHECK_NEAR(auc_bad, (15 * s4 + (s4 + 0.5) / 2) / 16, 1e-6);
        CHECK(auc_good < auc_bad);
        /* insertion: the opposite */
        CHECK_OK(gc_eval_curve(s, GC_EVAL_INSERTION, x, NULL, w, 0, 16, curve, &auc_good));
        CHECK_NEAR(curve[0], 0.5, 1e-6);
        CHECK_NEAR(curve[1], s4, 1e-6);
        CHECK_NEAR(curve[16], s4, 1e-6);
        CHECK_OK(gc_eval_curve(s, GC_EVAL_INSERTION, x, NULL, rev, 0, 16, curve, &auc_bad));
        CHECK(auc_good > auc_bad);
        /* a baseline image: deleting towards 0.5 leaves logit 2 */
        float half[P];
        for (int i = 0; i < P; i++) half[i] = 0.5f;
        CHECK_OK(gc_eval_curve(s, GC_EVAL_DELETION, x, half, w, 0, 64, curve, NULL));
        CHECK_NEAR(curve[1], 1.0 / (1.0 + exp(-3.5)), 1e-6); /* one of four pixels halved */
        CHECK_NEAR(curve[64], 1.0 / (1.0 + exp(-2.0)), 1e-6);
        CHECK_FAILS(gc_eval_curve(s, GC_EVAL_DELETION, x, NULL, w, 0, 0, curve, NULL), GC_ERR_INVALID_ARGUMENT);
        CHECK_FAILS(gc_eval_curve(s, GC_EVAL_DELETION, x, NULL, w, 0, 65, curve, NULL), GC_ERR_INVALID_ARGUMENT);
        CHECK_FAILS(gc_eval_curve(s, GC_EVAL_DELETION, x, NULL, w, 2, 8, curve, NULL), GC_ERR_INVALID_ARGUMENT);
        CHECK_FAILS(gc_eval_curve(s, (gc_eval_curve_kind)7, x, NULL, w, 0, 8, curve, NULL), GC_ERR_INVALID_ARGUMENT);
        gc_occlusion_params bad = {9, 1, 0, 0};
        CHECK_FAILS(gc_eval_occlusion(s, x, 0, &bad, curve), GC_ERR_INVALID_ARGUMENT);
        bad.patch = 2; bad.stride = 0;
        CHECK_FAILS(gc_eval_occlusion(s, x, 0, &bad, curve), GC_ERR_INVALID_ARGUMENT);
        gc_session_free(s);
    }
    /* a session that starts after a layer is refused */
    gc_session *part = NULL;
    gc_session_config pc = {.batch = 1, .channels = 1, .height = S, .width = S, .input_layer = "flatten"};
    CHECK_OK(gc_session_create(m, &pc, &part));
    CHECK_FAILS(gc_eval_curve(part, GC_EVAL_DELETION, x, NULL, w, 0, 8, curve, NULL), GC_ERR_INVALID_ARGUMENT);
    gc_session_free(part);
    gc_model_free(m);
}

/* ------------------------------------------------------------- baselines */

TEST(baseline_maps) {
    static float m[33 * 21], r1[H * W], r2[H * W];
    CHECK_OK(gc_eval_center_map(33, 21, 0.25, m));
    CHECK_NEAR(m[16 * 21 + 10], 1.0, 1e-7);              /* centre pixel (odd sizes) */
    double sg = 0.25 * 21;                                  /* sigma in pixels */
    CHECK_NEAR(m[16 * 21 + 0], exp(-100.0 / (2 * sg * sg)), 1e-6);
    CHECK(m[0] == m[32 * 21 + 20]);                         /* symmetric */
    CHECK(m[0] < m[16 * 21 + 0]);
    static float e[H * W];
    CHECK_OK(gc_eval_center_map(H, W, 0.25, e));            /* even: peak shared by 4 pixels */
    CHECK(e[15 * W + 19] == e[16 * W + 20] && e[15 * W + 19] < 1.0f);
    gc_box mid = {19, 15, 20, 16, 0};
    int hit = 0;
    CHECK_OK(gc_eval_pointing(e, H, W, &mid, 0, &hit));
    CHECK(hit);
    CHECK_OK(gc_eval_random_map(H, W, 5, r1));
    CHECK_OK(gc_eval_random_map(H, W, 5, r2));
    CHECK(memcmp(r1, r2, sizeof r1) == 0);
    int in_range = 1;
    double mean = 0;
    for (int i = 0; i < H * W; i++) { in_range &= r1[i] >= 0 && r1[i] < 1; mean += r1[i] / (H * W); }
    CHECK(in_range);
    CHECK_NEAR(mean, 0.5, 0.03);
    CHECK_OK(gc_eval_random_map(H, W, 6, r2));
    CHECK(memcmp(r1, r2, sizeof r1) != 0);
    CHECK_FAILS(gc_eval_center_map(H, W, 0, m), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_eval_random_map(0, W, 1, m), GC_ERR_INVALID_ARGUMENT);
}

int main(void) {
    RUN(iou_known_boxes);
    RUN(localization_largest_component);
    RUN(pointing_game);
    RUN(spearman);
    RUN(occlusion_linear_toy);
    RUN(deletion_insertion_hand_values);
    RUN(baseline_maps);
    return test_summary("evaluate");
}
