/* test_onnx.c - the ONNX importer on reduced-width copies of the zoo of docs/onnx.md
 * (ResNet-18, MobileNetV2, MobileNetV3-Small, EfficientNet-B0, DenseNet-121, SqueezeNet 1.1,
 * ShuffleNetV2, GoogLeNet, RegNetY, MNASNet: torchvision's modules with few channels and
 * random weights, exported by torch.onnx.export at opsets 13 and 17, tests/ref/onnx_zoo.py
 * --small). Each file is converted by tools/gcw_convert.py at test time (python3, standard
 * library only, through system()); then on the default path and on the reference kernels:
 * the default layer is the one the oracle names, the logits of a batch of two copies of the
 * input are within 1e-4 of PyTorch float64, and Grad-CAM's channel weights and map at the
 * default layer (and guided backprop where stored) are within max(2 x PyTorch float32's
 * error, 1e-4) of float64 (<model>_oracle.json). Two more files (OpsNet) cover the operators
 * and forms the zoo does not use, at opsets 10 and 17: normalisation by constants, Pad before a
 * convolution, pooling with padding and ceil_mode, Clip, a channel split, a dilated grouped
 * convolution, hardswish, SiLU, MatMul + Add. The input is generated here as in onnx_zoo.py
 * (lcg_input): every value exact in float32. Also: layer names and aliases, and other ONNX
 * forms of the same networks (tests/onnx_forms.py). */
#include "test.h"
#include "common/shell.h"
#include <stdlib.h>
#include <unistd.h>

#define FIX "tests/data/onnx/"

static char tmpdir[64];

/* ---------------------------------------------------------------- fixtures */

typedef struct oracle {
    char   *json;
    int     cls;
    int64_t shape[4];
    uint64_t seed;
    char    layer[128];
} oracle;

static const char *json_value(const char *json, const char *key) {
    char k[96];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(json, k);
    return p ? p + strlen(k) : NULL;
}

static int oracle_load(const char *model, oracle *o) {
    char path[256];
    size_t n;
    snprintf(path, sizeof path, FIX "%s_small_oracle.json", model);
    uint8_t *b = test_read_file(path, &n);
    if (!b) {
        FAILF("%s: cannot read", path);
        return 0;
    }
    o->json = realloc(b, n + 1);
    o->json[n] = 0;
    const char *c = json_value(o->json, "class"), *in = json_value(o->json, "input"),
               *s = json_value(o->json, "seed"), *l = json_value(o->json, "default_layer");
    long long d[4];
    if (!c || !in || !s || !l || sscanf(c, " %d", &o->cls) != 1 ||
        sscanf(strchr(in, '[') + 1, " %lld , %lld , %lld , %lld", &d[0], &d[1], &d[2], &d[3]) != 4 ||
        sscanf(s, " %llu", (unsigned long long *)&o->seed) != 1 || sscanf(l, " \"%127[^\"]\"", o->layer) != 1) {
        FAILF("%s: class, input, seed or default_layer missing", path);
        return 0;
    }
    for (int i = 0; i < 4; i++) o->shape[i] = d[i];
    return 1;
}

/* PyTorch float32's error on `key` ("logits", "alpha", "cam", "guided"); -1 if absent. */
static double f32_error(const oracle *o, const char *key) {
    const char *p = json_value(o->json, "f32_error");
    const char *v = p ? json_value(p, key) : NULL;
    return v ? strtod(v, NULL) : -1;
}

/* onnx_zoo.py's lcg_input: a 64-bit LCG, values k / 512 - 2 for k = (state >> 40) % 2049. */
static float *lcg_input(int64_t n, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof *x);
    uint64_t s = seed;
    for (int64_t i = 0; x && i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)((s >> 40) % 2049) / 512.0 - 2.0);
    }
    return x;
}

static int load(const char *model, const char *what, gc_tensor *t) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s_small_%s.npy", model, what);
    if (access(path, R_OK) != 0) return 0;
    gc_status st = gc_npy_load(path, t);
    if (st) FAILF("%s: %s", path, gc_last_error());
    return st == GC_OK;
}

static gc_model *convert(const char *model) {
    char out[128];
    snprintf(out, sizeof out, "%s/%s.gcw", tmpdir, model);
    if (test_run("python3 tools/gcw_convert.py " FIX "%s_small.onnx %s > %s/convert.log 2>&1", model, out, tmpdir)) {
        test_run("cat %s/convert.log >&2", tmpdir);
        FAILF("%s: tools/gcw_convert.py failed", model);
        return NULL;
    }
    gc_model *m = NULL;
    CHECK_OK(gc_model_open(out, &m));
    return m;
}

/* ---------------------------------------------------------------- checks */

static void compare(const char *what, const oracle *o, const char *key, const gc_tensor *ours, const gc_tensor *ref) {
    const double e32 = strcmp(key, "logits") ? f32_error(o, key) : 0;
    const double tol = 2 * e32 > 1e-4 ? 2 * e32 : 1e-4;
    const int64_t n = gc_tensor_numel(ref);
    if (e32 < 0) {
        FAILF("%s: no float32 error for %s in the oracle", what, key);
        return;
    }
    if (!ours->data || gc_tensor_numel(ours) != n) {
        FAILF("%s %s: %lld values, PyTorch has %lld", what, key, (long long)gc_tensor_numel(ours), (long long)n);
        return;
    }
    const double err = test_rel_err(ours->data, ref->data, n, 1e-30);
    if (getenv("GC_TEST_VERBOSE")) printf("  %-40s %-7s %.2e (limit %.1e)\n", what, key, err, tol);
    if (!(err <= tol)) FAILF("%s %s: relative error %.3g > %.3g", what, key, err, tol);
}

static void check_model(const char *model) {
    oracle o = {0};
    if (!oracle_load(model, &o)) {
        free(o.json);
        return;
    }
    gc_model *m = convert(model);
    const int64_t img = o.shape[1] * o.shape[2] * o.shape[3];
    float *x = lcg_input(img, o.seed), *x2 = malloc((size_t)(2 * img) * sizeof(float));
    gc_tensor logits = {0}, alpha = {0}, cam = {0}, guided = {0};
    int ok = m && x && x2 && load(model, "logits", &logits) && load(model, "alpha", &alpha) && load(model, "cam", &cam);
    int has_guided = ok && load(model, "guided", &guided);
    if (ok) {
        const char *dl = gc_model_default_layer(m);
        if (!dl || strcmp(dl, o.layer) != 0) FAILF("%s: default layer %s, expected %s", model, dl ? dl : "(none)", o.layer);
        memcpy(x2, x, (size_t)img * sizeof(float));
        memcpy(x2 + img, x, (size_t)img * sizeof(float));
        static const gc_kernels tiers[2] = {GC_KERNELS_AUTO, GC_KERNELS_REFERENCE};
        for (int k = 0; k < 2; k++) {
            char what[128];
            snprintf(what, sizeof what, "%s (%s)", model, k ? "reference" : "default");
            /* logits at batch 2: what the converter folded must not depend on the batch */
            gc_session *s = NULL;
            gc_session_config cfg = {.batch = 2, .channels = o.shape[1], .height = o.shape[2], .width = o.shape[3],
                                     .kernels = tiers[k]};
            CHECK_OK(gc_session_create(m, &cfg, &s));
            gc_tensor y;
            if (s && gc_session_forward(s, x2) == GC_OK && gc_session_output(s, &y) == GC_OK) {
                const int64_t c = gc_tensor_numel(&logits);
                CHECK(gc_tensor_numel(&y) == 2 * c);
                for (int b = 0; b < 2 && gc_tensor_numel(&y) == 2 * c; b++) {
                    gc_tensor row = {y.data + b * c, {c, 1, 1, 1}, 1, 0};
                    compare(what, &o, "logits", &row, &logits);
                }
            }
            gc_session_free(s);
            /* Grad-CAM (and guided backprop) of the oracle's class at the default layer */
            cfg.batch = 1;
            s = NULL;
            CHECK_OK(gc_session_create(m, &cfg, &s));
            gc_explain_request req = {.target = GC_TARGET_CLASS, .class_index = o.cls,
                                      .methods = GC_METHOD_GRADCAM | (has_guided ? GC_METHOD_GUIDED_BACKPROP : 0)};
            gc_explain_result r;
            if (s && gc_explain(s, x, &req, &r) == GC_OK && r.count == 1) {
                CHECK(strcmp(r.layer, o.layer) == 0);
                compare(what, &o, "alpha", &r.items[0].alpha, &alpha);
                compare(what, &o, "cam", &r.items[0].cam, &cam);
                if (has_guided) compare(what, &o, "guided", &r.items[0].guided, &guided);
            } else {
                FAILF("%s: gc_explain: %s", what, gc_last_error());
            }
            gc_session_free(s);
        }
    }
    gc_model_free(m);
    gc_tensor_release(&logits);
    gc_tensor_release(&alpha);
    gc_tensor_release(&cam);
    gc_tensor_release(&guided);
    free(x);
    free(x2);
    free(o.json);
}

TEST(resnet18_small_matches_pytorch) { check_model("resnet18"); }
TEST(mobilenet_v2_small_matches_pytorch) { check_model("mobilenet_v2"); }
TEST(mobilenet_v3_small_small_matches_pytorch) { check_model("mobilenet_v3_small"); }
TEST(efficientnet_b0_small_matches_pytorch) { check_model("efficientnet_b0"); }
TEST(densenet121_small_matches_pytorch) { check_model("densenet121"); }
TEST(squeezenet1_1_small_matches_pytorch) { check_model("squeezenet1_1"); }
TEST(shufflenet_v2_small_matches_pytorch) { check_model("shufflenet_v2_x1_0"); }
TEST(googlenet_small_matches_pytorch) { check_model("googlenet"); }
TEST(regnet_y_small_matches_pytorch) { check_model("regnet_y_400mf"); }
TEST(mnasnet_small_matches_pytorch) { check_model("mnasnet1_0"); }
/* the operators the zoo does not use (onnx_zoo.py's OpsNet), at opsets 10 and 17 */
TEST(opsnet_opset10_matches_pytorch) { check_model("opsnet10"); }
TEST(opsnet_opset17_matches_pytorch) { check_model("opsnet17"); }

/* Layers are named after the ONNX nodes; module paths (from torch.onnx's scoped node names)
 * name the last layer inside each module, as torchvision's module outputs. */
TEST(names_and_aliases) {
    char path[128];
    snprintf(path, sizeof path, "%s/resnet18.gcw", tmpdir);
    gc_model *m = NULL;
    if (access(path, R_OK) != 0 || gc_model_open(path, &m) != GC_OK) {
        FAILF("%s: not converted", path);
        return;
    }
    static const char *same[][2] = {
        {"/layer4/layer4.0/relu_1/Relu", "layer4.0"},
        {"/layer4/layer4.0/relu_1/Relu", "layer4.0.relu_1"},
        {"/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"},
        {"/layer2/layer2.0/downsample/downsample.0/Conv", "layer2.0.downsample"},
        {"/maxpool/MaxPool", "maxpool"},
        {"/fc/Gemm", "fc"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int a = gc_model_find_layer(m, same[i][0]), b = gc_model_find_layer(m, same[i][1]);
        if (a < 0 || a != b) FAILF("%s is layer %d, %s is layer %d", same[i][0], a, same[i][1], b);
    }
    int l4 = gc_model_find_layer(m, "layer4");
    CHECK(l4 >= 0 && l4 == gc_model_find_layer(m, "/layer4/layer4.0/relu_1/Relu"));
    CHECK(gc_model_find_layer(m, "layer4.0.bn1") < 0); /* folded into the convolution by the exporter */
    gc_model_free(m);
}

/* Forms no exporter at hand writes, against ones checked above (tests/onnx_forms.py): external
 * data, a named batch dimension, opset 18's ReduceMean/Pad/Split and older Pad/Split/Clip give
 * byte-identical .gcw files. */
TEST(other_forms_convert_alike) {
    int rc = test_run("python3 tests/onnx_forms.py --workdir %s/forms > %s/forms.log 2>&1", tmpdir, tmpdir);
    if (rc != 0 || getenv("GC_TEST_VERBOSE")) test_run("cat %s/forms.log", tmpdir);
    CHECK(rc == 0);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gc_onnx_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(resnet18_small_matches_pytorch);
    RUN(mobilenet_v2_small_matches_pytorch);
    RUN(mobilenet_v3_small_small_matches_pytorch);
    RUN(efficientnet_b0_small_matches_pytorch);
    RUN(densenet121_small_matches_pytorch);
    RUN(squeezenet1_1_small_matches_pytorch);
    RUN(shufflenet_v2_small_matches_pytorch);
    RUN(googlenet_small_matches_pytorch);
    RUN(regnet_y_small_matches_pytorch);
    RUN(mnasnet_small_matches_pytorch);
    RUN(opsnet_opset10_matches_pytorch);
    RUN(opsnet_opset17_matches_pytorch);
    RUN(names_and_aliases);
    RUN(other_forms_convert_alike);
    test_run("rm -rf %s", tmpdir);
    return test_summary("onnx");
}
