/* test_resnet.c - reduced-width torchvision ResNet-18, ResNet-50 and ResNeXt-50 with random
 * weights and batch-norm statistics (tests/ref/make_resnet_fixtures.py), converted by
 * tools/gcw_convert.py at test time: every serialization gives the same file, logits match
 * PyTorch's float64 ones, and every explainer map at the block output layer4 and at an inner
 * layer is within max(2 x PyTorch float32's error, 1e-4) of PyTorch float64 (the errors are in
 * <model>_oracle.json), on the default path (batch-norm folded, fast kernels) and on the
 * reference kernels. Runs python3 (standard library only) through system(). */
#include "test.h"
#include "common/shell.h"
#include <stdlib.h>
#include <unistd.h>

#define FIX "tests/data/resnet/"

static char tmpdir[64];

/* ---------------------------------------------------------------- fixtures */

static int convert(const char *file, const char *out) {
    return test_run("python3 tools/gcw_convert.py " FIX "%s %s/%s > %s/convert.log 2>&1", file, tmpdir, out,
                    tmpdir) == 0;
}

static int same_files(const char *a, const char *b) {
    char pa[256], pb[256];
    size_t na = 0, nb = 0;
    snprintf(pa, sizeof pa, "%s/%s", tmpdir, a);
    snprintf(pb, sizeof pb, "%s/%s", tmpdir, b);
    uint8_t *x = test_read_file(pa, &na), *y = test_read_file(pb, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int load(const char *name, gc_tensor *t) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s", name);
    gc_status st = gc_npy_load(path, t);
    if (st) FAILF("%s: %s", path, gc_last_error());
    return st == GC_OK;
}

/* The oracle file: PyTorch float32's error on each map, and the two classes explained. */
typedef struct oracle { char *json; int classes[2]; } oracle;

static int oracle_load(const char *model, oracle *o) {
    char path[256];
    size_t n;
    snprintf(path, sizeof path, FIX "%s_oracle.json", model);
    uint8_t *b = test_read_file(path, &n);
    if (!b) { FAILF("%s: cannot read", path); return 0; }
    o->json = realloc(b, n + 1);
    o->json[n] = 0;
    const char *c = strstr(o->json, "\"classes\"");
    if (!c || sscanf(strchr(c, '[') + 1, " %d , %d", &o->classes[0], &o->classes[1]) != 2) {
        FAILF("%s: no \"classes\"", path);
        return 0;
    }
    return 1;
}

/* PyTorch float32's error on map `key` (e.g. "layer4_c6_cam"), -1 if absent. */
static double f32_error(const oracle *o, const char *key) {
    char k[160];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(o->json, k);
    return p ? strtod(p + strlen(k), NULL) : -1;
}

/* ours against the float64 oracle within max(2 x float32's error, 1e-4). */
static void compare(const char *what, const oracle *o, const char *key, const gc_tensor *ours, const gc_tensor *ref) {
    const double e32 = f32_error(o, key), tol = 2 * e32 > 1e-4 ? 2 * e32 : 1e-4;
    const int64_t n = gc_tensor_numel(ref);
    if (e32 < 0) { FAILF("%s: no float32 error for %s in the oracle", what, key); return; }
    if (!ours->data || gc_tensor_numel(ours) != n) {
        FAILF("%s %s: %lld values, PyTorch has %lld", what, key, (long long)gc_tensor_numel(ours), (long long)n);
        return;
    }
    const double err = test_rel_err(ours->data, ref->data, n, 1e-30);
    if (getenv("GC_TEST_VERBOSE")) printf("  %-28s %-32s %.2e (limit %.1e)\n", what, key, err, tol);
    if (!(err <= tol)) FAILF("%s %s: relative error %.3g > %.3g", what, key, err, tol);
}

static void compare_file(const char *what, const oracle *o, const char *model, const char *key,
                         const gc_tensor *ours) {
    char name[200];
    gc_tensor ref = {0};
    snprintf(name, sizeof name, "%s_%s.npy", model, key);
    if (load(name, &ref)) compare(what, o, key, ours, &ref);
    gc_tensor_release(&ref);
}

/* ---------------------------------------------------------------- checks */

/* Logits of both inputs at batch 2 against PyTorch float64. */
static void check_logits(const char *what, gc_model *m, const char *model, gc_kernels k) {
    char name[128];
    gc_tensor x0 = {0}, x1 = {0}, ref = {0};
    gc_session *s = NULL;
    snprintf(name, sizeof name, "%s_in0.npy", model);
    int ok = load(name, &x0);
    snprintf(name, sizeof name, "%s_in1.npy", model);
    ok = ok && load(name, &x1);
    snprintf(name, sizeof name, "%s_logits.npy", model);
    ok = ok && load(name, &ref);
    if (ok) {
        const int64_t img = gc_tensor_numel(&x1), classes = gc_tensor_numel(&ref) / 2;
        gc_session_config cfg = {.batch = 2, .channels = 3, .height = x0.shape[2], .width = x0.shape[3], .kernels = k};
        float *x = malloc((size_t)(2 * img) * sizeof(float));
        memcpy(x, x0.data, (size_t)img * sizeof(float));
        memcpy(x + img, x1.data, (size_t)img * sizeof(float));
        CHECK_OK(gc_session_create(m, &cfg, &s));
        gc_tensor y;
        if (s && gc_session_forward(s, x) == GC_OK && gc_session_output(s, &y) == GC_OK) {
            CHECK(gc_tensor_numel(&y) == 2 * classes);
            double err = test_rel_err(y.data, ref.data, 2 * classes, 1e-30);
            if (getenv("GC_TEST_VERBOSE")) printf("  %-28s logits %.2e\n", what, err);
            if (!(err <= 1e-4)) FAILF("%s: logits relative error %.3g > 1e-4", what, err);
        }
        free(x);
    }
    gc_session_free(s);
    gc_tensor_release(&x0);
    gc_tensor_release(&x1);
    gc_tensor_release(&ref);
}

/* Every gradient method for both oracle classes at `layer`. */
static void check_maps(const char *what, gc_model *m, const char *model, const oracle *o, const char *layer,
                       gc_kernels k) {
    char name[128], key[160];
    gc_tensor x = {0};
    gc_session *s = NULL;
    snprintf(name, sizeof name, "%s_in0.npy", model);
    if (!load(name, &x)) return;
    const char *keep[] = {layer, NULL};
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = x.shape[2], .width = x.shape[3], .kernels = k,
                             .keep = keep};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_explain_request req = {.target = GC_TARGET_CLASSES, .classes = o->classes, .n_classes = 2,
                              .methods = GC_METHOD_ALL_GRADIENT, .layer = layer};
    gc_explain_result r;
    if (s && gc_explain(s, x.data, &req, &r) == GC_OK && r.count == 2) {
        for (int t = 0; t < 2; t++) {
            const gc_explanation *e = &r.items[t];
            static const char *maps[] = {"alpha", "raw", "cam", "cam_up", "counterfactual"};
            const gc_tensor *ours[] = {&e->alpha, &e->cam_raw, &e->cam, &e->cam_up, &e->counterfactual};
            for (int i = 0; i < 5; i++) {
                snprintf(key, sizeof key, "%s_c%d_%s", layer, o->classes[t], maps[i]);
                compare_file(what, o, model, key, ours[i]);
            }
            snprintf(key, sizeof key, "c%d_guided", o->classes[t]);
            compare_file(what, o, model, key, &e->guided);
            snprintf(key, sizeof key, "c%d_deconvnet", o->classes[t]);
            compare_file(what, o, model, key, &e->deconvnet);
            /* Guided Grad-CAM's oracle: PyTorch's guided map times its cam_up (per channel) */
            gc_tensor g = {0}, up = {0};
            snprintf(name, sizeof name, "%s_c%d_guided.npy", model, o->classes[t]);
            int ok = load(name, &g);
            snprintf(name, sizeof name, "%s_%s_c%d_cam_up.npy", model, layer, o->classes[t]);
            if (ok && load(name, &up)) {
                const int64_t hw = gc_tensor_numel(&up), c = gc_tensor_numel(&g) / hw;
                for (int64_t ch = 0; ch < c; ch++)
                    for (int64_t i = 0; i < hw; i++) g.data[ch * hw + i] *= up.data[i];
                snprintf(key, sizeof key, "%s_c%d_guided_gradcam", layer, o->classes[t]);
                compare(what, o, key, &e->guided_gradcam, &g);
            }
            gc_tensor_release(&g);
            gc_tensor_release(&up);
        }
    } else {
        FAILF("%s: gc_explain at %s: %s", what, layer, gc_last_error());
    }
    gc_session_free(s);
    gc_tensor_release(&x);
}

/* Converts every serialization of `model` (the zip first), checks they agree, and runs the checks. */
static void check_model(const char *model, const char *inner, const char *const *other_files) {
    oracle o = {0};
    char zip[96], gcw[96], path[256];
    snprintf(zip, sizeof zip, "%s_zip.pth", model);
    snprintf(gcw, sizeof gcw, "%s.gcw", model);
    if (!oracle_load(model, &o)) return;
    if (!convert(zip, gcw)) {
        FAILF("%s: tools/gcw_convert.py failed", zip);
        free(o.json);
        return;
    }
    for (int i = 0; other_files && other_files[i]; i++) {
        CHECK(convert(other_files[i], "other.gcw"));
        if (!same_files(gcw, "other.gcw")) FAILF("%s and %s convert to different files", zip, other_files[i]);
    }
    gc_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s", tmpdir, gcw);
    CHECK_OK(gc_model_open(path, &m));
    if (m) {
        const char *dl = gc_model_default_layer(m);
        if (!dl || strcmp(dl, "layer4") != 0) FAILF("%s: default layer %s, expected layer4", model, dl ? dl : "(none)");
        static const gc_kernels tiers[2] = {GC_KERNELS_AUTO, GC_KERNELS_REFERENCE};
        for (int k = 0; k < 2; k++) {
            char what[96];
            snprintf(what, sizeof what, "%s (%s)", model, k ? "reference" : "default");
            check_logits(what, m, model, tiers[k]);
            check_maps(what, m, model, &o, "layer4", tiers[k]);
            check_maps(what, m, model, &o, inner, tiers[k]);
        }
    }
    gc_model_free(m);
    free(o.json);
}

TEST(resnet18_small_matches_pytorch) {
    const char *other[] = {"resnet18_small_legacy.pth", NULL};
    check_model("resnet18_small", "layer3.0", other);
}

TEST(resnet50_small_matches_pytorch) {
    const char *other[] = {"resnet50_small.safetensors", NULL};
    check_model("resnet50_small", "layer2.1", other);
}

TEST(resnext50_small_matches_pytorch) { check_model("resnext50_small", "layer3.1.relu_1", NULL); }

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gc_resnet_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(resnet18_small_matches_pytorch);
    RUN(resnet50_small_matches_pytorch);
    RUN(resnext50_small_matches_pytorch);
    test_run("rm -rf %s", tmpdir);
    return test_summary("resnet");
}
