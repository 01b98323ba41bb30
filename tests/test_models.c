/* test_models.c - tools/gcw_convert.py on the PyTorch fixtures (legacy and zip
 * torch.save, safetensors), our forward pass against PyTorch's logits, the
 * converter's refusals (hostile pickles, truncated files), examples/classify.
 * Runs python3 (standard library only) through system(). */
#include "test.h"
#include "common/shell.h"
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIX "tests/data/models/"

static char dir[64], root[PATH_MAX];

static int convert(const char *in, const char *out, const char *extra) {
    return test_run("cd %s && python3 %s/tools/gcw_convert.py %s/" FIX "%s %s %s > convert.log 2>&1", dir, root, root, in, out,
               extra ? extra : "");
}

static int file_exists(const char *name) {
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

static int log_has(const char *needle) {
    char p[512], buf[4096] = {0};
    snprintf(p, sizeof p, "%s/convert.log", dir);
    FILE *f = fopen(p, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static int same_files(const char *a, const char *b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = 0;
        if (x == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Writes the first `keep` bytes of fixture `in` to dir/out. */
static void truncate_copy(const char *in, const char *out, double keep) {
    char p[512];
    snprintf(p, sizeof p, FIX "%s", in);
    FILE *f = fopen(p, "rb");
    if (!f) { FAILF("cannot open %s", p); return; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/%s", dir, out);
    f = fopen(p, "wb");
    if (f) { fwrite(b, 1, (size_t)(got * keep), f); fclose(f); }
    free(b);
}

/* Our logits for the fixture's two inputs ((1,3,H,W) and (3,H,W)) as one
 * batch of 2, relative error against PyTorch's (float64) logits. */
static double model_error(const char *gcw, const char *base) {
    char p[512];
    gc_model *m = NULL;
    gc_tensor in0, in1, ref;
    snprintf(p, sizeof p, "%s/%s", dir, gcw);
    if (gc_model_open(p, &m)) { FAILF("open %s: %s", gcw, gc_last_error()); return 1e9; }
    snprintf(p, sizeof p, FIX "%s_in0.npy", base);
    CHECK_OK(gc_npy_load(p, &in0));
    snprintf(p, sizeof p, FIX "%s_in1.npy", base);
    CHECK_OK(gc_npy_load(p, &in1));
    snprintf(p, sizeof p, FIX "%s_logits.npy", base);
    CHECK_OK(gc_npy_load(p, &ref));
    double err = 1e9;
    if (in0.data && in1.data && ref.data && in0.ndim == 4 && in1.ndim == 3 && ref.ndim == 2) {
        int64_t n = gc_tensor_numel(&in1);
        float *x = malloc((size_t)(2 * n) * sizeof *x);
        memcpy(x, in0.data, (size_t)n * sizeof *x);
        memcpy(x + n, in1.data, (size_t)n * sizeof *x);
        gc_session_config cfg = {.batch = 2, .channels = 3, .height = in1.shape[1], .width = in1.shape[2]};
        gc_session *s = NULL;
        gc_tensor y;
        CHECK_OK(gc_session_create(m, &cfg, &s));
        if (s && !gc_session_forward(s, x) && !gc_session_output(s, &y) && gc_tensor_numel(&y) == gc_tensor_numel(&ref))
            err = test_rel_err(y.data, ref.data, gc_tensor_numel(&ref), 1e-6);
        gc_session_free(s);
        free(x);
    }
    gc_tensor_release(&in0);
    gc_tensor_release(&in1);
    gc_tensor_release(&ref);
    gc_model_free(m);
    return err;
}

/* ---------------------------------------------------------------- conversions */

TEST(converts_all_serializations_identically) {
    CHECK(convert("vgg16_small_legacy.pth", "vgg_legacy.gcw", NULL) == 0);
    CHECK(convert("vgg16_small_zip.pth", "vgg_zip.gcw", NULL) == 0);
    CHECK(convert("vgg16_small.safetensors", "vgg_st.gcw", NULL) == 0);
    CHECK(log_has("vgg16, 40 layers"));
    CHECK(same_files("vgg_legacy.gcw", "vgg_zip.gcw") && same_files("vgg_legacy.gcw", "vgg_st.gcw"));
    CHECK(convert("alexnet_small_legacy.pth", "alex_legacy.gcw", NULL) == 0);
    CHECK(convert("alexnet_small_zip.pth", "alex_zip.gcw", NULL) == 0);
    CHECK(convert("alexnet_small.safetensors", "alex_st.gcw", "--arch alexnet") == 0);
    CHECK(log_has("alexnet, 22 layers"));
    CHECK(same_files("alex_legacy.gcw", "alex_zip.gcw") && same_files("alex_legacy.gcw", "alex_st.gcw"));
    CHECK(convert("vgg11bn_small_zip.pth", "vgg11bn.gcw", NULL) == 0);
    CHECK(log_has("vgg11_bn"));
}

TEST(logits_match_pytorch) {
    double e;
    CHECK((e = model_error("vgg_legacy.gcw", "vgg16_small")) <= 1e-4);
    printf("  vgg16_small   rel. error %.2e\n", e);
    CHECK((e = model_error("alex_zip.gcw", "alexnet_small")) <= 1e-4);
    printf("  alexnet_small rel. error %.2e\n", e);
    CHECK((e = model_error("vgg11bn.gcw", "vgg11bn_small")) <= 1e-4);
    printf("  vgg11bn_small rel. error %.2e\n", e);
}

TEST(graph_names_and_labels) {
    char extra[2 * PATH_MAX];
    snprintf(extra, sizeof extra, "--labels %s/" FIX "labels10.txt", root);
    CHECK(convert("vgg16_small_zip.pth", "vgg_lab.gcw", extra) == 0);
    char p[512];
    gc_model *m = NULL;
    snprintf(p, sizeof p, "%s/vgg_lab.gcw", dir);
    CHECK_OK(gc_model_open(p, &m));
    if (!m) return;
    CHECK(gc_model_label_count(m) == 10 && strcmp(gc_model_label(m, 3), "class 3 name") == 0);
    CHECK(gc_model_find_layer(m, "features.29") == 29 && gc_model_layer_kind(m, 29) == GC_LAYER_RELU);
    CHECK(gc_model_layer_kind(m, 30) == GC_LAYER_MAXPOOL2D);
    CHECK(strcmp(gc_model_layer_name(m, 31), "avgpool") == 0 && strcmp(gc_model_layer_name(m, 32), "flatten") == 0);
    CHECK(strcmp(gc_model_layer_name(m, 39), "classifier.6") == 0);
    const gc_preprocess *pp = gc_model_preprocess(m);
    CHECK(pp->input_height == 224 && pp->resize_shorter == 256 && pp->order == GC_COLOR_RGB);
    gc_tensor w;
    CHECK_OK(gc_model_param(m, "features.28.weight", &w));
    CHECK(w.ndim == 4 && w.shape[0] == 16 && w.shape[1] == 16 && w.shape[2] == 3);
    gc_model_free(m);
    snprintf(extra, sizeof extra, "--labels %s/" FIX "vgg16_small_logits.npy", root);
    CHECK(convert("vgg16_small_zip.pth", "bad.gcw", extra) == 1); /* not 10 text lines */
}

/* ---------------------------------------------------------------- refusals */

TEST(hostile_pickles_are_refused_without_running) {
    CHECK(convert("hostile_legacy.pth", "h1.gcw", NULL) == 1);
    CHECK(log_has("refusing") && log_has("system"));
    CHECK(convert("hostile_zip.pth", "h2.gcw", NULL) == 1);
    CHECK(log_has("refusing") && log_has("eval"));
    CHECK(!file_exists("gcw_pwned_marker"));
    CHECK(!file_exists("h1.gcw") && !file_exists("h2.gcw"));
}

TEST(truncated_and_wrong_inputs_are_refused) {
    const char *names[3] = {"alexnet_small_legacy.pth", "alexnet_small_zip.pth", "alexnet_small.safetensors"};
    const double keep[3] = {0.5, 0.999, 0.02};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) {
            char out[64], abs_in[3 * PATH_MAX];
            snprintf(out, sizeof out, "trunc%d%d.x", i, k);
            truncate_copy(names[i], out, keep[k]);
            snprintf(abs_in, sizeof abs_in, "cd %s && python3 %s/tools/gcw_convert.py %s t.gcw > convert.log 2>&1",
                     dir, root, out);
            int rc = test_run("%s", abs_in);
            if (rc != 1 || !log_has("gcw_convert: error:")) FAILF("%s cut to %.1f%%: exit %d", names[i], keep[k] * 100, rc);
            if (log_has("Traceback")) FAILF("%s cut to %.1f%%: Python traceback", names[i], keep[k] * 100);
        }
    struct { const char *file, *msg; } bad[] = {
        {"bad_build.pth", "set the state"},        {"bad_huge.pth", "limit"},
        {"bad_short.pth", "400 bytes, 4000 expected"}, {"bad_view.pth", "view reaches element 15"},
        {"bad_lie.safetensors", "data_offsets"},
    };
    for (int i = 0; i < 5; i++) {
        int rc = convert(bad[i].file, "x.gcw", NULL);
        if (rc != 1 || !log_has(bad[i].msg)) FAILF("%s: exit %d, expected 1 and \"%s\"", bad[i].file, rc, bad[i].msg);
    }
    CHECK(convert("alexnet_small_zip.pth", "x.gcw", "--arch resnet50") == 1 && log_has("supported"));
    CHECK(convert("alexnet_small_zip.pth", "x.gcw", "--arch vgg16") == 1 && log_has("expected"));
    CHECK(convert("labels10.txt", "x.gcw", NULL) == 1 && log_has("error"));
    CHECK(convert("nonexistent.pth", "x.gcw", NULL) == 1 && log_has("error"));
    CHECK(!file_exists("x.gcw") && !file_exists("t.gcw"));
}

/* ---------------------------------------------------------------- classify */

TEST(classify_cli) {
    char p[512];
    CHECK(test_run("examples/classify %s/vgg_lab.gcw " FIX "vgg16_small_in0.npy " FIX "vgg16_small_in1.npy -k 3 "
              "--logits-out %s/l.npy > %s/out.txt", dir, dir, dir) == 0);
    gc_tensor a, r;
    snprintf(p, sizeof p, "%s/l.npy", dir);
    CHECK_OK(gc_npy_load(p, &a));
    CHECK_OK(gc_npy_load(FIX "vgg16_small_logits.npy", &r));
    CHECK(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 10);
    if (a.data && r.data && gc_tensor_numel(&a) == 20) CHECK(test_rel_err(a.data, r.data, 20, 1e-6) <= 1e-4);
    /* the top class printed first is the argmax of PyTorch's logits */
    int best = 0;
    for (int j = 1; r.data && j < 10; j++) best = r.data[j] > r.data[best] ? j : best;
    char line[256] = {0}, want[64];
    snprintf(p, sizeof p, "%s/out.txt", dir);
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(line, sizeof line, f) || !fgets(line, sizeof line, f)) line[0] = 0;
        fclose(f);
    }
    snprintf(want, sizeof want, "class %d name", best);
    CHECK(strstr(line, want) != NULL);
    gc_tensor_release(&a);
    gc_tensor_release(&r);
    CHECK(test_run("examples/classify --help > /dev/null") == 0);
    CHECK(test_run("examples/classify %s/vgg_lab.gcw /nonexistent.npy 2> /dev/null", dir) == 1);
    CHECK(test_run("examples/classify %s/vgg_lab.gcw " FIX "vgg16_small_logits.npy 2> /dev/null", dir) == 1);
    CHECK(test_run("examples/classify " FIX "vgg16_small_in0.npy " FIX "vgg16_small_in0.npy 2> /dev/null") == 1);
    CHECK(test_run("examples/classify %s/vgg_lab.gcw " FIX "vgg16_small_in0.npy -k 0 2> /dev/null", dir) == 2);
    CHECK(test_run("examples/classify %s/vgg_lab.gcw 2> /dev/null", dir) == 2);
}

int main(void) {
    if (!getcwd(root, sizeof root)) return 1;
    snprintf(dir, sizeof dir, "/tmp/test_models_XXXXXX");
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    if (test_run("python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 6) else 1)'") != 0)
        FAILF("python3 (>= 3.6) is needed to run tools/gcw_convert.py");
    RUN(converts_all_serializations_identically);
    RUN(logits_match_pytorch);
    RUN(graph_names_and_labels);
    RUN(hostile_pickles_are_refused_without_running);
    RUN(truncated_and_wrong_inputs_are_refused);
    RUN(classify_cli);
    test_run("rm -rf %s", dir);
    return test_summary("models");
}
