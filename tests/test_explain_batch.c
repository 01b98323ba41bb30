/* test_explain_batch.c - gc_explain_batch: N images explained in one call give, image by
 * image, bit for bit what N gc_explain calls on a batch-1 session give (the single call is the
 * reference; its own maps are checked against PyTorch in test_explain_torch, test_methods_torch
 * and test_resnet): every map of every method and target, the targets, scores and logits, on
 * the shipped shapes model and on the reduced ResNet-18 fixture (converted at test time by
 * tools/gcw_convert.py; skipped without python3), at the default layer and inside a residual
 * block (where the layers after the target read the block's other branch). Then the error
 * paths: bad n, a batch larger than the session's, a bad request, a non-finite image. */
#include "test.h"
#include "common/shell.h"
#include "core/core.h"
#include <unistd.h>

static char tmpdir[64];

static gc_model *shapes_model(void) {
    gc_model *m = NULL;
    if (gc_model_open("weights/shapes.gcw", &m)) fprintf(stderr, "shapes.gcw: %s\n", gc_last_error());
    return m;
}

/* n synthetic images (each with 1..3 objects), normalised as the model says: (n, 3, H, W) */
static float *shapes_inputs(const gc_model *m, int n, int H, int W) {
    const gc_preprocess *pre = gc_model_preprocess(m);
    float *x = malloc(sizeof(float) * 3 * (size_t)(n * H * W));
    for (int i = 0; x && i < n; i++) {
        gc_shapes_info in;
        float *xi = x + (size_t)i * 3 * H * W;
        gc_shapes_generate(777 + 31 * (uint64_t)i, 1 + i % 3, 2, H, W, xi, NULL, &in);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < H * W; p++) xi[c * H * W + p] = (xi[c * H * W + p] * 255.0f * pre->scale - pre->mean[c]) / pre->std[c];
    }
    return x;
}

/* Largest |a - b| over max |b| (0 for an all-zero b equal to a). */
static double rel_diff(const gc_tensor *a, const gc_tensor *b) {
    const int64_t n = gc_tensor_numel(b);
    double d = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a->data[i] - b->data[i]));
        mx = fmax(mx, fabs((double)b->data[i]));
    }
    return mx > 0 ? d / mx : d;
}

/* Counters over one comparison: maps compared, bit-identical, worst relative difference. */
typedef struct { int maps, identical; double worst; char worst_name[64]; } tally;

/* res (from the batch) against ref (a single call): the same targets, and every map the
 * single call made is in res with the same shape and the same bits (the largest difference
 * relative to the map's largest magnitude is reported when not). */
static int same_bits(const gc_tensor *a, const gc_tensor *b) {
    return memcmp(a->data, b->data, (size_t)gc_tensor_numel(b) * sizeof(float)) == 0;
}

static void compare(const char *what, int img, const gc_explain_result *res, const gc_explain_result *ref, tally *ty) {
    if (res->count != ref->count || strcmp(res->layer, ref->layer) != 0) {
        FAILF("%s image %d: %d targets at %s, single call %d at %s", what, img, res->count, res->layer, ref->count, ref->layer);
        return;
    }
    if (!same_bits(&res->logits, &ref->logits) || !same_bits(&res->probabilities, &ref->probabilities))
        FAILF("%s image %d: logits or probabilities differ (%g relative)", what, img, rel_diff(&res->logits, &ref->logits));
    for (int t = 0; t < ref->count; t++) {
        const gc_explanation *e = &res->items[t], *r = &ref->items[t];
        if (e->class_index != r->class_index) {
            FAILF("%s image %d target %d: class %d, single call %d", what, img, t, e->class_index, r->class_index);
            continue;
        }
        if (e->score != r->score || memcmp(&e->probability, &r->probability, sizeof(float)) != 0)
            FAILF("%s image %d target %d: score %.9g, single call %.9g", what, img, t, (double)e->score, (double)r->score);
        if (e->n_maps != r->n_maps) FAILF("%s image %d target %d: %d maps, single call %d", what, img, t, e->n_maps, r->n_maps);
        for (int i = 0; i < r->n_maps; i++) {
            const gc_map *rm = &r->maps[i];
            const gc_tensor *em = gc_explanation_map(e, rm->name);
            if (!em) { FAILF("%s image %d target %d: no map %s", what, img, t, rm->name); continue; }
            if (gc_tensor_numel(em) != gc_tensor_numel(&rm->t) || em->ndim != rm->t.ndim) {
                FAILF("%s image %d target %d: map %s has another shape", what, img, t, rm->name);
                continue;
            }
            const double d = rel_diff(em, &rm->t);
            ty->maps++;
            const int same = same_bits(em, &rm->t);
            ty->identical += same;
            if (d > ty->worst) {
                ty->worst = d;
                snprintf(ty->worst_name, sizeof ty->worst_name, "%s", rm->name);
            }
            if (!same) FAILF("%s image %d target %d: map %s differs (by %g relative)", what, img, t, rm->name, d);
        }
        /* the legacy fields point at the same data as their named maps */
        if (r->cam_up.data && (!e->cam_up.data || !same_bits(&e->cam_up, &r->cam_up)))
            FAILF("%s image %d target %d: cam_up field", what, img, t);
        if (r->guided.data && (!e->guided.data || !same_bits(&e->guided, &r->guided)))
            FAILF("%s image %d target %d: guided field", what, img, t);
    }
}

/* Copies of every map of a single call (the next call on its session overwrites them). */
typedef struct { gc_explain_result r; gc_explanation items[8]; gc_map maps[8][96]; float *data; } saved;

static int save(const gc_explain_result *r, saved *o) {
    size_t total = 2 * (size_t)gc_tensor_numel(&r->logits);
    for (int t = 0; t < r->count; t++)
        for (int i = 0; i < r->items[t].n_maps; i++) total += (size_t)gc_tensor_numel(&r->items[t].maps[i].t);
    if (r->count > 8 || !(o->data = malloc(total * sizeof(float)))) return 0;
    float *p = o->data;
    o->r = *r;
#define COPY(dst, src)                                                                        \
    do {                                                                                      \
        (dst) = (src);                                                                        \
        memcpy(p, (src).data, (size_t)gc_tensor_numel(&(src)) * sizeof(float));              \
        (dst).data = p;                                                                       \
        p += gc_tensor_numel(&(src));                                                         \
    } while (0)
    COPY(o->r.logits, r->logits);
    COPY(o->r.probabilities, r->probabilities);
    for (int t = 0; t < r->count; t++) {
        gc_explanation *e = &o->items[t];
        *e = r->items[t];
        if (e->n_maps > 96) return 0;
        for (int i = 0; i < e->n_maps; i++) {
            o->maps[t][i] = r->items[t].maps[i];
            COPY(o->maps[t][i].t, r->items[t].maps[i].t);
        }
        e->maps = o->maps[t];
        const gc_tensor *cu = gc_explanation_map(e, "gradcam_up"), *gb = gc_explanation_map(e, "guided_backprop");
        e->cam_up = cu ? *cu : (gc_tensor){0};
        e->guided = gb ? *gb : (gc_tensor){0};
    }
#undef COPY
    o->r.items = o->items;
    return 1;
}

/* gc_explain_batch of n images on a batch-B session against n gc_explain calls (kernel tier k). */
static void check_batch_k(const char *what, const gc_model *m, const float *x, int n, int B, int H, int W,
                          const gc_explain_request *req, gc_kernels k, tally *ty) {
    gc_session *one = NULL, *bs = NULL;
    gc_session_config c1 = {.batch = 1, .channels = 3, .height = H, .width = W, .kernels = k};
    gc_session_config cb = c1;
    cb.batch = B;
    const char *keep[2] = {req->layer, NULL};
    if (req->layer) c1.keep = cb.keep = keep;
    CHECK_OK(gc_session_create(m, &c1, &one));
    CHECK_OK(gc_session_create(m, &cb, &bs));
    gc_explain_result res[8];
    saved ref[8];
    memset(ref, 0, sizeof ref);
    int ok = one && bs && n <= 8;
    for (int i = 0; ok && i < n; i++) {
        gc_explain_result r;
        gc_status st = gc_explain(one, x + (size_t)i * 3 * H * W, req, &r);
        if (st) { FAILF("%s: gc_explain image %d: %s", what, i, gc_last_error()); ok = 0; }
        else if (!save(&r, &ref[i])) { FAILF("%s: cannot save image %d's maps", what, i); ok = 0; }
    }
    if (ok) {
        gc_status st = gc_explain_batch(bs, x, n, req, res);
        if (st) FAILF("%s: gc_explain_batch: %s", what, gc_last_error());
        for (int i = 0; !st && i < n; i++) compare(what, i, &res[i], &ref[i].r, ty);
    }
    for (int i = 0; i < 8; i++) free(ref[i].data);
    gc_session_free(one);
    gc_session_free(bs);
}

#define check_batch(what, m, x, n, B, H, W, req, ty) check_batch_k(what, m, x, n, B, H, W, req, GC_KERNELS_AUTO, ty)

static void report(const char *what, const tally *ty) {
    fprintf(stderr, "  %s: %d maps, %d bit-identical, worst %.3g relative (%s)\n", what, ty->maps, ty->identical,
            ty->worst, ty->worst_name[0] ? ty->worst_name : "-");
}

/* ---------------------------------------------------------------- shapes model */

TEST(shapes_batch_equals_single_calls) {
    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width;
    float *x = shapes_inputs(m, 5, H, W);
    gc_method_params p = gc_method_params_defaults();
    p.batch = 6;
    p.ig_steps = 5;
    p.noise_samples = 3;
    const unsigned grad = GC_METHOD_ALL_GRADIENT | GC_METHOD_GRADCAM_PP | GC_METHOD_XGRADCAM | GC_METHOD_HIRESCAM |
                          GC_METHOD_GRADCAM_ELEMENTWISE | GC_METHOD_LAYERCAM | GC_METHOD_EIGENCAM |
                          GC_METHOD_EIGEN_GRADCAM | GC_METHOD_SALIENCY | GC_METHOD_INPUT_X_GRADIENT;
    tally ty = {0};
    /* the gradient methods: one target (the head pass shared with guided backprop), top-2 (the
     * head session at batch B x 2), listed classes; 4 images on batch 4, 3 images on batch 4 */
    gc_explain_request r1 = {.methods = grad};
    gc_explain_request r2 = {.target = GC_TARGET_TOPK, .top_k = 2, .methods = grad};
    const int cls[3] = {4, 0, 2};
    gc_explain_request r3 = {.target = GC_TARGET_CLASSES, .classes = cls, .n_classes = 3,
                             .methods = GC_METHOD_GRADCAM | GC_METHOD_DECONVNET, .alpha_sum = 1};
    check_batch("shapes top-1", m, x, 4, 4, H, W, &r1, &ty);
    check_batch("shapes top-2", m, x, 4, 4, H, W, &r2, &ty);
    check_batch("shapes top-1, 3 of batch 4", m, x + 3 * H * W, 3, 4, H, W, &r1, &ty);
    check_batch("shapes classes", m, x, 5, 5, H, W, &r3, &ty);
    /* a caller gradient (the same for every image) */
    float g[6] = {0.5f, -1, 0, 2, 0, 0.25f};
    gc_tensor y;
    gc_session *probe = NULL;
    gc_session_config pc = {.batch = 1, .channels = 3, .height = H, .width = W};
    CHECK_OK(gc_session_create(m, &pc, &probe));
    if (probe && !gc_session_shape(probe, gc_model_layer_name(m, gc_model_layer_count(m) - 1), &y) && y.shape[1] == 6) {
        gc_explain_request r4 = {.target = GC_TARGET_GRADIENT, .output_grad = g, .methods = GC_METHOD_GUIDED_GRADCAM};
        check_batch("shapes caller gradient", m, x, 2, 3, H, W, &r4, &ty);
    } else {
        FAILF("shapes.gcw: expected 6 classes");
    }
    gc_session_free(probe);
    /* the methods that run their own batches, image by image */
    p.occlusion_patch = p.occlusion_stride = 16;
    gc_explain_request r5 = {.methods = GC_METHOD_SCORECAM | GC_METHOD_ABLATIONCAM | GC_METHOD_INTEGRATED_GRADIENTS |
                                        GC_METHOD_SMOOTHGRAD | GC_METHOD_OCCLUSION, .params = &p};
    check_batch("shapes batched methods", m, x, 2, 3, H, W, &r5, &ty);
    /* the other kernel tiers (a batch's rows have their single bits on each) */
    static const gc_kernels tiers[3] = {GC_KERNELS_REFERENCE, GC_KERNELS_PORTABLE, GC_KERNELS_AVX2};
    static const char *const tier_names[3] = {"shapes top-2 (reference kernels)", "shapes top-2 (portable kernels)",
                                              "shapes top-2 (AVX2 kernels)"};
    gc_explain_request rt = {.target = GC_TARGET_TOPK, .top_k = 2,
                             .methods = GC_METHOD_GUIDED_GRADCAM | GC_METHOD_DECONVNET | GC_METHOD_LAYERCAM};
    for (int k = 0; k < 3; k++) check_batch_k(tier_names[k], m, x, 2, 3, H, W, &rt, tiers[k], &ty);
    report("shapes", &ty);
    CHECK(ty.maps > 200);
    free(x);
    gc_model_free(m);
}

/* A batch session reused with fewer images, then more: nothing stale from the last call. */
TEST(session_reused_across_batch_sizes) {
    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width, n_in = 3 * H * W;
    float *x = shapes_inputs(m, 4, H, W);
    gc_session *bs = NULL, *one = NULL;
    gc_session_config cb = {.batch = 4, .channels = 3, .height = H, .width = W}, c1 = cb;
    c1.batch = 1;
    CHECK_OK(gc_session_create(m, &cb, &bs));
    CHECK_OK(gc_session_create(m, &c1, &one));
    gc_explain_request req = {.target = GC_TARGET_TOPK, .top_k = 2, .methods = GC_METHOD_GUIDED_GRADCAM};
    gc_explain_result res[4], r;
    static const int order[3] = {4, 1, 3};
    for (int k = 0; bs && one && k < 3; k++) {
        const int n = order[k];
        CHECK_OK(gc_explain_batch(bs, x + (size_t)(4 - n) * n_in, n, &req, res));
        for (int i = 0; i < n; i++) {
            CHECK_OK(gc_explain(one, x + (size_t)(4 - n + i) * n_in, &req, &r));
            for (int t = 0; t < 2; t++) {
                CHECK(res[i].items[t].class_index == r.items[t].class_index);
                CHECK(rel_diff(&res[i].items[t].guided_gradcam, &r.items[t].guided_gradcam) <= 0);
                CHECK(rel_diff(&res[i].items[t].cam, &r.items[t].cam) <= 0);
            }
        }
    }
    gc_session_free(bs);
    gc_session_free(one);
    free(x);
    gc_model_free(m);
}

/* ---------------------------------------------------------------- ResNet fixture */

TEST(resnet_batch_equals_single_calls) {
    if (test_run("command -v python3 > /dev/null 2>&1") != 0) {
        fprintf(stderr, "  (skipped: no python3 to convert the ResNet fixture)\n");
        return;
    }
    if (test_run("python3 tools/gcw_convert.py tests/data/resnet/resnet18_small_zip.pth %s/r18.gcw > %s/convert.log 2>&1",
                 tmpdir, tmpdir) != 0) {
        FAILF("tools/gcw_convert.py failed on resnet18_small_zip.pth (%s/convert.log)", tmpdir);
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/r18.gcw", tmpdir);
    gc_model *m = NULL;
    CHECK_OK(gc_model_open(path, &m));
    if (!m) return;
    const int H = 64, W = 64;
    float *x = malloc(sizeof(float) * 3 * 3 * H * W);
    gc_rng rng;
    gc_rng_seed(&rng, 5);
    for (int i = 0; i < 3 * 3 * H * W; i++) x[i] = gc_rng_normal(&rng);
    gc_method_params p = gc_method_params_defaults();
    p.batch = 5;
    tally ty = {0};
    const unsigned grad = GC_METHOD_ALL_GRADIENT | GC_METHOD_CAM | GC_METHOD_LAYERCAM | GC_METHOD_GRADCAM_PP;
    gc_explain_request r1 = {.methods = grad};
    gc_explain_request r2 = {.target = GC_TARGET_TOPK, .top_k = 2, .methods = grad & ~GC_METHOD_CAM};
    /* inside a residual block: the layers after layer3.0.conv1 read the block's shortcut */
    gc_explain_request r3 = {.target = GC_TARGET_TOPK, .top_k = 2, .layer = "layer3.0.relu",
                             .methods = GC_METHOD_GRADCAM | GC_METHOD_GUIDED_BACKPROP | GC_METHOD_ABLATIONCAM, .params = &p};
    gc_explain_request r4 = {.layer = "layer3.0.relu", .methods = GC_METHOD_GUIDED_GRADCAM | GC_METHOD_ABLATIONCAM,
                             .params = &p};
    check_batch("resnet18 layer4 top-1", m, x, 3, 3, H, W, &r1, &ty);
    check_batch("resnet18 layer4 top-2", m, x, 3, 4, H, W, &r2, &ty);
    check_batch("resnet18 layer3.0.relu top-2", m, x, 3, 3, H, W, &r3, &ty);
    check_batch("resnet18 layer3.0.relu top-1", m, x, 2, 3, H, W, &r4, &ty);
    report("resnet18_small", &ty);
    CHECK(ty.maps > 50);
    free(x);
    gc_model_free(m);
}

/* ---------------------------------------------------------------- the linear layers */

/* Forward and input gradient of linear layers at batch N equal N batch-1 passes bit for bit,
 * at sizes that are no multiple of the vector widths or the row and output blocks, on every
 * kernel tier; a training session (param_grads) is only checked to be close (its GEMM). */
TEST(linear_rows_have_their_batch1_bits) {
    const int I = 1013, O = 37, N = 11;
    gc_model *m = NULL;
    gc_linear_params f0 = {I, O, 1}, f1 = {O, 5, 0};
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc0", NULL, &f0, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "relu", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc1", NULL, &f1, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 9));
    float *x = malloc(sizeof(float) * N * I), *dy = malloc(sizeof(float) * N * 5);
    gc_rng rng;
    gc_rng_seed(&rng, 4);
    for (int i = 0; i < N * I; i++) x[i] = gc_rng_normal(&rng);
    for (int i = 0; i < N * 5; i++) dy[i] = i % 3 ? gc_rng_normal(&rng) : 0.0f;
    static const gc_kernels tiers[4] = {GC_KERNELS_AUTO, GC_KERNELS_AVX2, GC_KERNELS_PORTABLE, GC_KERNELS_REFERENCE};
    for (int k = 0; k < 4; k++)
        for (int train = 0; train < 2; train++) {
            gc_session *one = NULL, *bs = NULL;
            gc_session_config c1 = {.batch = 1, .channels = I, .height = 1, .width = 1, .kernels = tiers[k],
                                    .param_grads = train, .keep_all = 1};
            gc_session_config cb = c1;
            cb.batch = N;
            CHECK_OK(gc_session_create(m, &c1, &one));
            CHECK_OK(gc_session_create(m, &cb, &bs));
            if (!one || !bs) { gc_session_free(one); gc_session_free(bs); continue; }
            gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
            gc_tensor yb, gb, y1, g1;
            CHECK_OK(gc_session_forward(bs, x));
            CHECK_OK(gc_session_backward(bs, dy, &bo));
            CHECK_OK(gc_session_activation(bs, "fc0", &yb));
            CHECK_OK(gc_session_gradient(bs, "input", &gb));
            int same_y = 1, same_g = 1;
            double worst = 0;
            for (int n = 0; n < N; n++) {
                CHECK_OK(gc_session_forward(one, x + n * I));
                CHECK_OK(gc_session_backward(one, dy + n * 5, &bo));
                CHECK_OK(gc_session_activation(one, "fc0", &y1));
                CHECK_OK(gc_session_gradient(one, "input", &g1));
                same_y &= memcmp(y1.data, yb.data + n * O, sizeof(float) * O) == 0;
                same_g &= memcmp(g1.data, gb.data + n * I, sizeof(float) * I) == 0;
                for (int i = 0; i < O; i++) worst = fmax(worst, fabs((double)y1.data[i] - yb.data[n * O + i]));
                for (int i = 0; i < I; i++) worst = fmax(worst, fabs((double)g1.data[i] - gb.data[n * I + i]));
            }
            if (!train && (!same_y || !same_g))
                FAILF("tier %d: batch rows differ from batch 1 (forward %s, input gradient %s; by %g)", (int)tiers[k],
                      same_y ? "same" : "differs", same_g ? "same" : "differs", worst);
            if (train && !(worst < 1e-4)) FAILF("tier %d, training session: batch rows %g from batch 1", (int)tiers[k], worst);
            gc_session_free(one);
            gc_session_free(bs);
        }
    free(x);
    free(dy);
    gc_model_free(m);
}

/* ---------------------------------------------------------------- errors */

TEST(errors) {
    gc_model *m = shapes_model();
    if (!m) { CHECK(0); return; }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width, n_in = 3 * H * W;
    float *x = shapes_inputs(m, 3, H, W);
    gc_session *bs = NULL, *head = NULL;
    gc_session_config cb = {.batch = 3, .channels = 3, .height = H, .width = W};
    CHECK_OK(gc_session_create(m, &cb, &bs));
    if (!bs) { free(x); gc_model_free(m); return; }
    gc_explain_request ok = {0};
    gc_explain_result res[4];
    CHECK_FAILS(gc_explain_batch(bs, x, 0, &ok, res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain_batch(bs, x, -2, &ok, res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain_batch(bs, x, 4, &ok, res), GC_ERR_SHAPE);
    CHECK(strstr(gc_last_error(), "batch 3") != NULL);
    CHECK_FAILS(gc_explain_batch(NULL, x, 1, &ok, res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain_batch(bs, NULL, 1, &ok, res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain_batch(bs, x, 1, NULL, res), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_explain_batch(bs, x, 1, &ok, NULL), GC_ERR_INVALID_ARGUMENT);
    /* gc_explain keeps wanting batch 1, and says where to go */
    CHECK_FAILS(gc_explain(bs, x, &ok, res), GC_ERR_SHAPE);
    CHECK(strstr(gc_last_error(), "gc_explain_batch") != NULL);
    /* a session that starts inside the network */
    gc_session_config hc = cb;
    hc.input_layer = "features.0";
    if (!gc_session_create(m, &hc, &head)) {
        CHECK_FAILS(gc_explain_batch(head, x, 1, &ok, res), GC_ERR_INVALID_ARGUMENT);
        gc_session_free(head);
    }
    /* a bad request fails before anything runs, and leaves no results */
    gc_explain_request bad = {.target = GC_TARGET_CLASS, .class_index = 99};
    res[0].count = 7;
    CHECK_FAILS(gc_explain_batch(bs, x, 2, &bad, res), GC_ERR_INVALID_ARGUMENT);
    CHECK(res[0].count == 0 && res[1].items == NULL);
    gc_explain_request topk = {.target = GC_TARGET_TOPK, .top_k = 0};
    CHECK_FAILS(gc_explain_batch(bs, x, 2, &topk, res), GC_ERR_INVALID_ARGUMENT);
    /* a NaN in the second image: named with its image index */
    x[n_in + 5] = NAN;
    CHECK_FAILS(gc_explain_batch(bs, x, 3, &ok, res), GC_ERR_NUMERIC);
    CHECK(strstr(gc_last_error(), "(n 1, c 0, y 0, x 5)") != NULL);
    CHECK(res[0].count == 0);
    x[n_in + 5] = 0;
    /* and good calls work afterwards */
    CHECK_OK(gc_explain_batch(bs, x, 3, &ok, res));
    CHECK(res[2].count == 1 && res[2].items[0].cam_up.data != NULL);
    CHECK_OK(gc_explain_batch(bs, x, 1, &ok, res));
    gc_session_free(bs);
    free(x);
    gc_model_free(m);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gc_batch_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(shapes_batch_equals_single_calls);
    RUN(session_reused_across_batch_sizes);
    RUN(resnet_batch_equals_single_calls);
    RUN(linear_rows_have_their_batch1_bits);
    RUN(errors);
    test_run("rm -rf %s", tmpdir);
    return test_summary("explain_batch");
}
