/* test_convert_options.c - tools/gcw_convert.py's preprocessing options
 * (--preset, --input-size, --resize-shorter, --bgr/--rgb, --scale, --mean,
 * --std): every field gc_model_preprocess() reads back equals the values
 * given on the command line; bad values exit 1 with one stderr line naming
 * the option and write nothing; so do sizes past what the tools take,
 * preprocessing that turns a pixel into infinity and an output that is the
 * input or the labels file; a labels file's byte-order mark is dropped. Runs `python3 -S` (no site packages: the
 * converter must need only the standard library; it also starts faster). */
#include "test.h"
#include "common/shell.h"
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIX "tests/data/models/"
#define CKPT "alexnet_small_zip.pth"

static char dir[64], root[PATH_MAX];

/* Converts the small AlexNet to dir/out with `opts`; stdout to out.txt,
 * stderr to err.txt. Returns the exit status. */
static int convert(const char *out, const char *opts) {
    return test_run("cd %s && python3 -S %s/tools/gcw_convert.py %s/" FIX CKPT " %s %s > out.txt 2> err.txt",
               dir, root, root, out, opts);
}

static int file_exists(const char *name) {
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

/* dir/name as a string in buf (size n); "" if unreadable. */
static const char *slurp(const char *name, char *buf, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    if (f) fclose(f);
    buf[got] = 0;
    return buf;
}

/* Opens dir/name and checks every preprocessing field against `want`. */
static void check_pre(const char *name, const gc_preprocess *want) {
    char p[512];
    gc_model *m = NULL;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (gc_model_open(p, &m)) { FAILF("open %s: %s", name, gc_last_error()); return; }
    const gc_preprocess *g = gc_model_preprocess(m);
    if (g->input_height != want->input_height || g->input_width != want->input_width)
        FAILF("%s: input %dx%d, expected %dx%d", name, (int)g->input_height, (int)g->input_width,
              (int)want->input_height, (int)want->input_width);
    if (g->resize_shorter != want->resize_shorter)
        FAILF("%s: resize_shorter %d, expected %d", name, (int)g->resize_shorter, (int)want->resize_shorter);
    if (g->order != want->order) FAILF("%s: colour order %d, expected %d", name, (int)g->order, (int)want->order);
    if (g->scale != want->scale) FAILF("%s: scale %.9g, expected %.9g", name, g->scale, want->scale);
    for (int c = 0; c < 3; c++) {
        if (g->mean[c] != want->mean[c]) FAILF("%s: mean[%d] %.9g, expected %.9g", name, c, g->mean[c], want->mean[c]);
        if (g->std[c] != want->std[c]) FAILF("%s: std[%d] %.9g, expected %.9g", name, c, g->std[c], want->std[c]);
    }
    CHECK(gc_model_label_count(m) == 0 && gc_model_layer_count(m) == 22);
    gc_model_free(m);
}

/* ---------------------------------------------------------------- accepted */

static const gc_preprocess torchvision = {224, 224, 256, GC_COLOR_RGB, (float)(1.0 / 255.0),
                                          {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
static const gc_preprocess caffe = {224, 224, 256, GC_COLOR_BGR, 1.0f, {103.939f, 116.779f, 123.68f}, {1, 1, 1}};

TEST(default_is_torchvision) {
    CHECK(convert("default.gcw", "") == 0);
    check_pre("default.gcw", &torchvision);
    gc_preprocess lib = gc_preprocess_torchvision();
    check_pre("default.gcw", &lib);
    CHECK(convert("tv.gcw", "--preset torchvision") == 0);
    check_pre("tv.gcw", &torchvision);
    CHECK(test_run("cmp -s %s/default.gcw %s/tv.gcw", dir, dir) == 0);
    /* every field spelled out gives the same bytes; 1/255 as a ratio */
    CHECK(convert("tv_explicit.gcw", "--rgb --input-size 224x224 --resize-shorter 256 --scale 1/255 "
                                     "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225") == 0);
    CHECK(test_run("cmp -s %s/default.gcw %s/tv_explicit.gcw", dir, dir) == 0);
}

TEST(caffe_preset_and_overrides) {
    char buf[1024];
    CHECK(convert("caffe.gcw", "--preset caffe") == 0);
    check_pre("caffe.gcw", &caffe);
    CHECK(strstr(slurp("out.txt", buf, sizeof buf), "BGR") != NULL);
    gc_preprocess w = caffe;
    w.input_height = w.input_width = 227;
    w.resize_shorter = 0;
    CHECK(convert("caffe227.gcw", "--preset caffe --input-size 227 --resize-shorter 0") == 0);
    check_pre("caffe227.gcw", &w);
    /* an explicit --mean is taken as given, in the final (BGR) order */
    w = caffe;
    w.mean[0] = 104.0f, w.mean[1] = 117.0f, w.mean[2] = 123.0f;
    CHECK(convert("caffe_mean.gcw", "--preset caffe --mean 104,117,123") == 0);
    check_pre("caffe_mean.gcw", &w);
}

TEST(every_field_overridden) {
    /* values that start with '-' follow their option as a separate word too */
    const gc_preprocess w = {300, 200, 0, GC_COLOR_BGR, 0.5f, {-1.5f, 0.0f, 2000.0f}, {0.5f, -0.25f, 4.0f}};
    CHECK(convert("all.gcw", "--input-size 300x200 --resize-shorter 0 --bgr --scale 0.5 --mean -1.5,0,2e3 "
                             "--std=0.5,-0.25,4") == 0);
    check_pre("all.gcw", &w);
    /* the last of a repeated option wins; upper-case X; the largest sizes gc_image_preprocess takes */
    const gc_preprocess big = {65536, 1, 65536, GC_COLOR_RGB, -3.0f, {1e30f, -1e-30f, 0.1f},
                               {3e38f, 1e-30f, 7.0f}};
    CHECK(convert("big.gcw", "--scale 2 --scale -3 --input-size 65536X1 --resize-shorter 65536 "
                             "--mean 1e30,-1e-30,0.1 --std 3e38,1e-30,7") == 0);
    check_pre("big.gcw", &big);
}

TEST(colour_order_flip_keeps_per_colour_values) {
    /* the preset's mean/std describe colours: flipping the order reverses them */
    gc_preprocess w = torchvision;
    w.order = GC_COLOR_BGR;
    w.mean[0] = 0.406f, w.mean[2] = 0.485f;
    w.std[0] = 0.225f, w.std[2] = 0.229f;
    CHECK(convert("tv_bgr.gcw", "--bgr") == 0);
    check_pre("tv_bgr.gcw", &w);
    w = caffe;
    w.order = GC_COLOR_RGB;
    w.mean[0] = 123.68f, w.mean[2] = 103.939f;
    CHECK(convert("caffe_rgb.gcw", "--preset caffe --rgb") == 0);
    check_pre("caffe_rgb.gcw", &w);
    CHECK(convert("caffe_bgr.gcw", "--preset caffe --bgr") == 0); /* same order: unchanged */
    check_pre("caffe_bgr.gcw", &caffe);
}

/* ---------------------------------------------------------------- refused */

TEST(bad_values_are_refused_before_writing) {
    struct { const char *opts, *option, *value; } bad[] = {
        {"--input-size 0", "--input-size", "0"},
        {"--input-size 2147483648", "--input-size", "2147483648"},
        {"--input-size 100000", "--input-size", "100000"}, /* every tool refuses more than 65536 */
        {"--input-size 224x65537", "--input-size", "224x65537"},
        {"--input-size 99999999999999999999999", "--input-size", "99999999999999999999999"},
        {"--resize-shorter 65537", "--resize-shorter", "65537"},
        {"--max-output-bytes 0", "--max-output-bytes", "0"},
        {"--max-output-bytes 1e9", "--max-output-bytes", "1e9"},
        {"--max-inflate-bytes -1", "--max-inflate-bytes", "-1"},
        {"--input-size 224x2147483648", "--input-size", "224x2147483648"},
        {"--input-size 1x2x3", "--input-size", "1x2x3"},
        {"--input-size abc", "--input-size", "abc"},
        {"--resize-shorter -1", "--resize-shorter", "-1"},
        {"--resize-shorter 2147483648", "--resize-shorter", "2147483648"},
        {"--scale 0", "--scale", "0"},
        {"--scale 1e-50", "--scale", "1e-50"}, /* zero as float32 */
        {"--scale nan", "--scale", "nan"},
        {"--scale 1e39", "--scale", "1e39"}, /* past float32 */
        {"--scale 1/0", "--scale", "1/0"},
        {"--mean 1,2", "--mean", "1,2"},
        {"--mean 1,2,3,4", "--mean", "1,2,3,4"},
        {"--mean 1,,3", "--mean", "1,,3"},
        {"--mean -inf,2,3", "--mean", "-inf,2,3"},
        {"--mean 1,2,1e39", "--mean", "1,2,1e39"},
        {"--std 1,0,1", "--std", "1,0,1"},
        {"--std -0,1,1", "--std", "-0,1,1"},
        {"--std 1,1e-50,1", "--std", "1,1e-50,1"},
        {"--std 1,1,inf", "--std", "1,1,inf"},
        {"--preset tensorflow", "--preset", "tensorflow"},
        {"--bgr --rgb", "--rgb", "--bgr"},
        {"--scale", "--scale", "expected one argument"},
    };
    int n = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < n; i++) {
        char err[2048], *nl;
        int rc = convert("bad.gcw", bad[i].opts);
        slurp("err.txt", err, sizeof err);
        nl = strchr(err, '\n');
        if (rc != 1) FAILF("%s: exit %d, expected 1", bad[i].opts, rc);
        if (strncmp(err, "gcw_convert: error: ", 20) != 0 || !nl || nl[1] != 0)
            FAILF("%s: stderr is not one 'gcw_convert: error:' line: %s", bad[i].opts, err);
        if (!strstr(err, bad[i].option) || !strstr(err, bad[i].value))
            FAILF("%s: message does not name %s and %s: %s", bad[i].opts, bad[i].option, bad[i].value, err);
        if (file_exists("bad.gcw") || file_exists("bad.gcw.tmp")) FAILF("%s: an output file was written", bad[i].opts);
        test_run("rm -f %s/bad.gcw %s/bad.gcw.tmp", dir, dir);
    }
    /* the options are checked before the checkpoint is read */
    CHECK(test_run("cd %s && python3 -S %s/tools/gcw_convert.py /nonexistent.pth bad.gcw --std 0,1,1 2> err.txt",
              dir, root) == 1);
    char err[2048];
    CHECK(strstr(slurp("err.txt", err, sizeof err), "--std") != NULL);
}

/* Values each representable, whose combination turns a pixel into infinity: the network
 * would see inf for every image (issue 14: --std 1e-45 made every tool print a class). */
TEST(preprocessing_that_overflows_is_refused) {
    const char *bad[] = {"--std 1e-45,1,1", "--scale 1e38", "--scale -3e38 --mean 3e38,0,0", "--mean 0,0,3e38 --std 1,1,0.5",
                         "--preset caffe --std 1,1e-40,1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[2048];
        int rc = convert("bad.gcw", bad[i]);
        slurp("err.txt", err, sizeof err);
        if (rc != 1 || !strstr(err, "infinity") || strchr(err, '\n') != err + strlen(err) - 1)
            FAILF("%s: exit %d, expected 1 and one line about infinity: %s", bad[i], rc, err);
        if (file_exists("bad.gcw")) FAILF("%s: an output file was written", bad[i]);
    }
    /* the extremes that stay finite are accepted */
    CHECK(convert("edge.gcw", "--scale 1e36 --std 1,1,1") == 0);
    CHECK(convert("edge2.gcw", "--std 1e-30,1e-30,1e-30") == 0);
}

/* The output may not be the input, the labels file, or a name whose temporary (.tmp) is one
 * of them; the input is left as it was (issue 14: the converter wrote over its own input). */
TEST(output_over_the_input_is_refused) {
    char err[2048];
    CHECK(test_run("cp %s/" FIX CKPT " %s/in.pth && cp %s/" FIX "labels10.txt %s/l.txt && cp %s/in.pth %s/in.gcw.tmp && "
                   "ln -sf in.pth %s/link.gcw", root, dir, root, dir, dir, dir, dir) == 0);
    const char *cmd[] = {"in.pth in.pth", "in.pth ./in.pth", "in.pth link.gcw", "in.gcw.tmp in.gcw",
                         "in.pth l.txt --labels l.txt"};
    const char *want[] = {"is the input", "is the input", "is the input", "which is the input", "is the labels file"};
    for (int i = 0; i < 5; i++) {
        int rc = test_run("cd %s && python3 -S %s/tools/gcw_convert.py %s > out.txt 2> err.txt", dir, root, cmd[i]);
        slurp("err.txt", err, sizeof err);
        if (rc != 1 || !strstr(err, want[i])) FAILF("%s: exit %d, expected 1 and \"%s\": %s", cmd[i], rc, want[i], err);
    }
    CHECK(test_run("cmp -s %s/" FIX CKPT " %s/in.pth && cmp -s %s/in.pth %s/in.gcw.tmp", root, dir, dir, dir) == 0);
    CHECK(test_run("cmp -s %s/" FIX "labels10.txt %s/l.txt", root, dir) == 0);
}

/* A UTF-8 byte-order mark is not part of the first label (issue 14); other labels are kept
 * byte for byte; a labels file that is not UTF-8 is refused. */
TEST(labels_file_byte_order_mark) {
    char p[512];
    snprintf(p, sizeof p, "%s/bom.txt", dir);
    FILE *f = fopen(p, "wb");
    if (!f) { FAILF("cannot write %s", p); return; }
    fputs("\xef\xbb\xbf" "zero\n", f);
    for (int i = 1; i < 9; i++) fprintf(f, "class %d\n", i);
    fputs("caf\xc3\xa9\n", f);
    fclose(f);
    CHECK(convert("bom.gcw", "--labels bom.txt") == 0);
    gc_model *m = NULL;
    snprintf(p, sizeof p, "%s/bom.gcw", dir);
    if (gc_model_open(p, &m)) { FAILF("open bom.gcw: %s", gc_last_error()); return; }
    CHECK(gc_model_label_count(m) == 10);
    CHECK(gc_model_label(m, 0) && strcmp(gc_model_label(m, 0), "zero") == 0);
    CHECK(gc_model_label(m, 9) && strcmp(gc_model_label(m, 9), "caf\xc3\xa9") == 0);
    gc_model_free(m);
    snprintf(p, sizeof p, "%s/latin1.txt", dir);
    f = fopen(p, "wb");
    if (!f) return;
    for (int i = 0; i < 10; i++) fprintf(f, "caf\xe9 %d\n", i);
    fclose(f);
    CHECK(convert("latin1.gcw", "--labels latin1.txt") == 1 && !file_exists("latin1.gcw"));
}

TEST(help_documents_options_and_formula) {
    char out[8192];
    CHECK(test_run("cd %s && python3 -S %s/tools/gcw_convert.py --help > help.txt 2>&1", dir, root) == 0);
    slurp("help.txt", out, sizeof out);
    const char *want[] = {"--preset", "torchvision", "caffe", "--input-size", "--resize-shorter", "--bgr", "--rgb",
                          "--scale", "--mean", "--std", "(p * scale - mean[c]) / std[c]", "103.939,116.779,123.68",
                          "--max-output-bytes", "--max-inflate-bytes", "1..65536"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i])) FAILF("--help does not mention %s", want[i]);
}

int main(void) {
    if (!getcwd(root, sizeof root)) return 1;
    snprintf(dir, sizeof dir, "/tmp/test_convert_options_XXXXXX");
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    if (test_run("python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 6) else 1)'") != 0)
        FAILF("python3 (>= 3.6) is needed to run tools/gcw_convert.py");
    RUN(default_is_torchvision);
    RUN(caffe_preset_and_overrides);
    RUN(every_field_overridden);
    RUN(colour_order_flip_keeps_per_colour_values);
    RUN(bad_values_are_refused_before_writing);
    RUN(preprocessing_that_overflows_is_refused);
    RUN(output_over_the_input_is_refused);
    RUN(labels_file_byte_order_mark);
    RUN(help_documents_options_and_formula);
    test_run("rm -rf %s", dir);
    return test_summary("convert_options");
}
