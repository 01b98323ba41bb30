/* test_explain_torch.c - every explainer map against PyTorch autograd
 * (tests/ref/make_explain_fixtures.py) on small torchvision-topology VGG-16
 * and AlexNet checkpoints, converted by tools/gcw_convert.py at test time. */
#include "test.h"
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static int convert(const char *name, char *gcw, size_t cap) {
    char cmd[512];
    snprintf(gcw, cap, "%s/%s.gcw", tmpdir, name);
    snprintf(cmd, sizeof cmd, "python3 tools/gcw_convert.py tests/data/models/%s_zip.pth %s >/dev/null", name, gcw);
    return system(cmd) == 0;
}

static int load(const char *model, const char *what, int cls, gc_tensor *t) {
    char path[256];
    if (cls >= 0) snprintf(path, sizeof path, "tests/data/explain/%s_c%d_%s.npy", model, cls, what);
    else snprintf(path, sizeof path, "tests/data/%s", what);
    gc_status st = gc_npy_load(path, t);
    if (st) FAILF("%s: %s", path, gc_last_error());
    return st == GC_OK;
}

/* max |ours - torch| / max |torch| */
static void compare(const char *model, int cls, const char *what, const gc_tensor *ours, double tol) {
    gc_tensor ref;
    if (!load(model, what, cls, &ref)) return;
    int64_t n = gc_tensor_numel(&ref);
    if (!ours->data || gc_tensor_numel(ours) != n) {
        FAILF("%s c%d %s: %lld values, PyTorch has %lld", model, cls, what, (long long)gc_tensor_numel(ours), (long long)n);
    } else {
        double err = test_rel_err(ours->data, ref.data, n, 1e-30);
        if (getenv("GC_TEST_VERBOSE")) printf("  %-14s c%d %-15s rel err %.2e\n", model, cls, what, err);
        if (!(err <= tol)) FAILF("%s c%d %s: relative error %.3g > %.1g", model, cls, what, err, tol);
    }
    gc_tensor_release(&ref);
}

static void check_model(const char *name, const char *layer) {
    char gcw[128], in[128];
    if (!convert(name, gcw, sizeof gcw)) {
        FAILF("%s: converting with tools/gcw_convert.py failed", name);
        return;
    }
    gc_model *m = NULL;
    gc_session *s = NULL;
    gc_tensor x = {0}, cls = {0};
    CHECK_OK(gc_model_open(gcw, &m));
    snprintf(in, sizeof in, "models/%s_in0.npy", name);
    if (!m || !load(name, in, -1, &x)) goto out;
    snprintf(in, sizeof in, "explain/%s_classes.npy", name);
    if (!load(name, in, -1, &cls)) goto out;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = x.shape[2], .width = x.shape[3]};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    if (!s) goto out;
    CHECK(strcmp(gc_model_default_layer(m), layer) == 0);
    int classes[2] = {(int)cls.data[0], (int)cls.data[1]};
    gc_explain_request req = {.target = GC_TARGET_CLASSES, .classes = classes, .n_classes = 2,
                              .methods = GC_METHOD_ALL_GRADIENT};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x.data, &req, &r));
    if (r.count != 2) goto out;
    CHECK(strcmp(r.layer, layer) == 0);
    /* the first class is the predicted one */
    gc_explain_request top = {.target = GC_TARGET_TOP1};
    gc_explain_result rt;
    for (int t = 0; t < 2; t++) {
        const gc_explanation *e = &r.items[t];
        const double tol = 1e-4;
        compare(name, classes[t], "alpha", &e->alpha, tol);
        compare(name, classes[t], "raw", &e->cam_raw, tol);
        compare(name, classes[t], "cam", &e->cam, tol);
        compare(name, classes[t], "cam_up", &e->cam_up, tol);
        compare(name, classes[t], "counterfactual", &e->counterfactual, tol);
        compare(name, classes[t], "guided", &e->guided, tol);
        compare(name, classes[t], "guided_gradcam", &e->guided_gradcam, tol);
        compare(name, classes[t], "deconvnet", &e->deconvnet, tol);
    }
    CHECK_OK(gc_explain(s, x.data, &top, &rt));
    CHECK(rt.items[0].class_index == classes[0]);
out:
    gc_tensor_release(&x);
    gc_tensor_release(&cls);
    gc_session_free(s);
    gc_model_free(m);
    unlink(gcw);
}

TEST(vgg16_small_matches_pytorch) { check_model("vgg16_small", "features.29"); }
TEST(alexnet_small_matches_pytorch) { check_model("alexnet_small", "features.11"); }

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gc_explain_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(vgg16_small_matches_pytorch);
    RUN(alexnet_small_matches_pytorch);
    rmdir(tmpdir);
    return test_summary("explain_torch");
}
