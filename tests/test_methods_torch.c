/* test_methods_torch.c - the methods beyond the paper's six against PyTorch float64
 * (tests/ref/make_methods_fixtures.py, formulas in tests/ref/methods_ref.py) on a small
 * VGG-11-layout network and the committed reduced ResNet-18, both converted by
 * tools/gcw_convert.py at test time, on the default and the reference kernels: every layer
 * map (Grad-CAM++, XGrad-CAM, HiResCAM, element-wise, Layer-CAM, Score-CAM, Ablation-CAM,
 * Eigen-CAM, Eigen-Grad-CAM; weights, signed and ReLU maps) at each target for the top and
 * the bottom class, and the input maps (saliency, input x gradient, Integrated Gradients with
 * its completeness delta and gap, SmoothGrad and VarGrad with our generator's noise fed to
 * PyTorch, occlusion) for the top class: max|ours - torch| / max|torch| <= 1e-4 (the IG delta,
 * a small difference, relative to the gap). */
#include "test.h"
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static int convert(const char *src, const char *name, char *gcw, size_t cap) {
    char cmd[512];
    snprintf(gcw, cap, "%s/%s.gcw", tmpdir, name);
    snprintf(cmd, sizeof cmd, "python3 tools/gcw_convert.py %s %s >/dev/null", src, gcw);
    return system(cmd) == 0;
}

/* Compares every map of e that has a fixture <prefix>_<map>.npy; returns how many. */
static int compare_maps(const char *prefix, const gc_explanation *e, double gap, const char *path_name) {
    int n = 0;
    for (int i = 0; i < e->n_maps; i++) {
        char path[512];
        snprintf(path, sizeof path, "tests/data/methods/%s_%s.npy", prefix, e->maps[i].name);
        if (access(path, R_OK) != 0) continue;
        gc_tensor ref;
        if (gc_npy_load(path, &ref)) {
            FAILF("%s: %s", path, gc_last_error());
            continue;
        }
        const gc_tensor *t = &e->maps[i].t;
        int64_t m = gc_tensor_numel(&ref);
        if (gc_tensor_numel(t) != m) {
            FAILF("%s: %lld values, PyTorch has %lld", path, (long long)gc_tensor_numel(t), (long long)m);
        } else {
            double d = 0, s = 0;
            for (int64_t j = 0; j < m; j++) {
                d = fmax(d, fabs((double)t->data[j] - ref.data[j]));
                s = fmax(s, fabs((double)ref.data[j]));
            }
            if (strstr(e->maps[i].name, "_delta")) s = fabs(gap);
            double err = s > 0 ? d / s : d;
            if (getenv("GC_TEST_VERBOSE")) printf("  %-9s %-40s rel err %.2e\n", path_name, prefix, err), printf("    %s\n", e->maps[i].name);
            if (!(err <= 1e-4)) FAILF("%s (%s kernels): relative error %.3g > 1e-4", path, path_name, err);
        }
        gc_tensor_release(&ref);
        n++;
    }
    return n;
}

static void check(const char *src, const char *name, const char *input, const char *const *layers, int n_layers,
                  int expect) {
    char gcw[128];
    if (!convert(src, name, gcw, sizeof gcw)) {
        FAILF("%s: converting with tools/gcw_convert.py failed", src);
        return;
    }
    gc_model *m = NULL;
    gc_tensor x = {0};
    CHECK_OK(gc_model_open(gcw, &m));
    CHECK_OK(gc_npy_load(input, &x));
    for (int path = 0; m && x.data && path < 2; path++) {
        gc_session *s = NULL;
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = x.shape[2], .width = x.shape[3],
                                 .keep = (const char *const *)layers,
                                 .kernels = path ? GC_KERNELS_REFERENCE : GC_KERNELS_AUTO};
        CHECK_OK(gc_session_create(m, &cfg, &s));
        if (!s) break;
        gc_method_params p = gc_method_params_defaults();
        p.ig_steps = 16;
        p.noise_samples = 4;
        p.noise_sigma = 0.15f;
        p.noise_seed = 7;
        int compared = 0, classes[2];
        gc_explain_request top = {.target = GC_TARGET_TOP1};
        gc_explain_result r;
        CHECK_OK(gc_explain(s, x.data, &top, &r));
        classes[0] = r.items[0].class_index;
        int lo = 0;
        for (int j = 1; j < r.logits.shape[0]; j++) if (r.logits.data[j] < r.logits.data[lo]) lo = j;
        classes[1] = lo;
        for (int l = 0; l < n_layers; l++) {
            unsigned bits = GC_METHOD_ALL & ~(GC_METHOD_ALL_GRADIENT | GC_METHOD_CAM);
            if (l > 0) bits &= ~(GC_METHOD_SALIENCY | GC_METHOD_INPUT_X_GRADIENT | GC_METHOD_INTEGRATED_GRADIENTS |
                                 GC_METHOD_SMOOTHGRAD | GC_METHOD_OCCLUSION);
            gc_explain_request req = {.target = GC_TARGET_CLASSES, .classes = classes, .n_classes = 2,
                                      .layer = layers[l], .methods = bits, .params = &p};
            CHECK_OK(gc_explain(s, x.data, &req, &r));
            if (r.count != 2) break;
            for (int t = 0; t < 2; t++) {
                char prefix[160];
                snprintf(prefix, sizeof prefix, "%s_%s_c%d", name, layers[l], classes[t]);
                compared += compare_maps(prefix, &r.items[t], 0, path ? "reference" : "default");
                const gc_tensor *gap = gc_explanation_map(&r.items[t], "integrated_gradients_gap");
                snprintf(prefix, sizeof prefix, "%s_c%d", name, classes[t]);
                if (l == 0) compared += compare_maps(prefix, &r.items[t], gap ? gap->data[0] : 0, path ? "reference" : "default");
            }
        }
        if (compared != expect) FAILF("%s: %d maps compared, the oracle has %d", name, compared, expect);
        gc_session_free(s);
    }
    gc_tensor_release(&x);
    gc_model_free(m);
    unlink(gcw);
}

TEST(small_vgg_matches_pytorch) {
    const char *layers[] = {"features.14", "features.9", NULL};
    check("tests/data/methods/methods_vgg_zip.pth", "methods_vgg", "tests/data/methods/methods_vgg_in0.npy", layers, 2, 88);
}

TEST(resnet18_small_matches_pytorch) {
    const char *layers[] = {"layer4", "layer3.0", NULL};
    check("tests/data/resnet/resnet18_small_zip.pth", "resnet18_small", "tests/data/resnet/resnet18_small_in0.npy",
          layers, 2, 88);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gc_methods_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(small_vgg_matches_pytorch);
    RUN(resnet18_small_matches_pytorch);
    rmdir(tmpdir);
    return test_summary("methods_torch");
}
