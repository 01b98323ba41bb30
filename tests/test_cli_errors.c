/* test_cli_errors.c - the error paths of every example program and of
 * gcw_inspect, run from copies linked with LeakSanitizer (Makefile: $(B)/lsan/,
 * gcc's -fsanitize=leak; AddressSanitizer's own under SANITIZE=1): each bad
 * invocation exits with its documented status and exactly one line on
 * stderr - a leak report would add lines and change the status - naming
 * what was wrong, with no raw control bytes, and leaves no partial output.
 * Also the issue 14 findings that only a whole program shows: non-finite
 * inputs, parameters and outputs, strict numbers, --scale A/B, plans refused
 * from the shapes before an image is preprocessed, spatial model outputs,
 * all-or-nothing gradcam outputs, valid JSON from invalid UTF-8 labels,
 * output folders checked before the work. Models, arrays and images are
 * written here. */
#define _DEFAULT_SOURCE /* wait4 */
#include "test.h"
#include "common/shell.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef GC_LEAK_CHECK
#define GC_LEAK_CHECK 0
#endif

static char dir[64], bin[512];

/* ---------------------------------------------------------------- fixtures */

typedef struct {
    int   labels, spatial, big_input, bad_utf8;
    float nan_at, conv_w, fc_w, std0; /* nan_at > 0: a NaN in conv weight 3; *_w != 0: every weight */
} model_kind;

/* A classifier 3x16x16 -> 5 (conv 3->4 3x3 pad 1, relu, adaptive pool 2x2, flatten, linear), or
 * with spatial set only the conv and relu, saved as dir/name. */
static int write_model(const char *name, model_kind k) {
    gc_model *m = NULL;
    gc_conv2d_params cp = gc_conv2d_defaults(3, 4, 3);
    cp.pad_h = cp.pad_w = 1;
    gc_adaptive_pool2d_params ap = {2, 2};
    gc_linear_params lp = {16, 5, 1};
    gc_preprocess pp = gc_preprocess_torchvision();
    pp.input_height = pp.input_width = k.big_input ? 16384 : 16;
    pp.resize_shorter = k.big_input ? 16384 : 18;
    if (k.std0 != 0) pp.std[0] = k.std0;
    const char *plain[5] = {"zero", "one", "two", "three", "four"};
    const char *bad[5] = {"caf\xe9", "\xc2\x9b[31mred", "ok \xe2\x82\xac", "\xed\xa0\x80surrogate", "\xf0\x9f\x98\x80 \xc0\xaf"};
    int ok = !gc_model_create(&m) && !gc_model_add_conv2d(m, "features.0", NULL, &cp, NULL, NULL) &&
             !gc_model_add_relu(m, "features.1", NULL);
    if (ok && !k.spatial)
        ok = !gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap) && !gc_model_add_flatten(m, "flatten", NULL) &&
             !gc_model_add_linear(m, "fc", NULL, &lp, NULL, NULL);
    ok = ok && !gc_model_init_random(m, 7);
    gc_tensor w;
    if (ok && k.conv_w != 0 && !gc_model_param(m, "features.0.weight", &w))
        for (int i = 0; i < 108; i++) w.data[i] = k.conv_w;
    if (ok && k.fc_w != 0 && !gc_model_param(m, "fc.weight", &w))
        for (int i = 0; i < 80; i++) w.data[i] = k.fc_w;
    if (ok && k.nan_at > 0 && !gc_model_param(m, "features.0.weight", &w)) w.data[3] = NAN;
    ok = ok && !gc_model_set_preprocess(m, &pp);
    if (ok && k.labels && !k.spatial) ok = !gc_model_set_labels(m, 5, k.bad_utf8 ? bad : plain);
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ok = ok && !gc_model_save(m, p);
    if (!ok) fprintf(stderr, "write_model %s: %s\n", name, gc_last_error());
    gc_model_free(m);
    return ok;
}

/* dir/name: a float32 array of shape (3, 16, 16) (or 2-D (16, 16) with flat) filled with v,
 * element 300 set to v300. */
static int write_npy(const char *name, float v, float v300, int flat) {
    gc_tensor t;
    int64_t shape[3] = {3, 16, 16};
    if (flat) shape[0] = 16;
    if (gc_tensor_alloc(&t, flat ? 2 : 3, shape)) return 0;
    for (int64_t i = 0; i < gc_tensor_numel(&t); i++) t.data[i] = v;
    if (!flat) t.data[300] = v300;
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int ok = !gc_npy_save(p, &t);
    gc_tensor_release(&t);
    return ok;
}

static int write_bytes(const char *name, const void *b, size_t n) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) return 0;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* A w x h binary PPM of a smooth pattern. */
static int write_ppm(const char *name, int w, int h) {
    size_t n = (size_t)w * h * 3;
    char head[64];
    int k = snprintf(head, sizeof head, "P6\n%d %d\n255\n", w, h);
    uint8_t *b = malloc((size_t)k + n);
    if (!b) return 0;
    memcpy(b, head, (size_t)k);
    for (size_t i = 0; i < n; i++) b[k + i] = (uint8_t)((i * 37) % 251);
    int ok = write_bytes(name, b, (size_t)k + n);
    free(b);
    return ok;
}

static int fixtures(void) {
    const model_kind plain = {.labels = 1};
    model_kind k;
    int ok = write_model("ok.gcw", plain);
    k = plain, k.labels = 0, ok = ok && write_model("nolabels.gcw", k);
    k = plain, k.nan_at = 1, ok = ok && write_model("nan.gcw", k);
    k = plain, k.spatial = 1, ok = ok && write_model("spatial.gcw", k);
    k = plain, k.big_input = 1, ok = ok && write_model("big.gcw", k);
    k = plain, k.bad_utf8 = 1, ok = ok && write_model("utf8.gcw", k);
    k = plain, k.std0 = 1e-45f, ok = ok && write_model("std.gcw", k);
    k = plain, k.conv_w = 1e38f, ok = ok && write_model("overflow.gcw", k);       /* 27 x 1e38 x |x|: inf */
    k = plain, k.conv_w = 1e20f, k.fc_w = 1e25f, ok = ok && write_model("backward.gcw", k);
    ok = ok && write_npy("x.npy", 0.5f, 0.5f, 0) && write_npy("nan.npy", NAN, NAN, 0) &&
         write_npy("inf.npy", INFINITY, INFINITY, 0) && write_npy("one_nan.npy", 0.5f, NAN, 0) &&
         write_npy("flat.npy", 1, 1, 1) && write_npy("tiny.npy", 1e-30f, 1e-30f, 0);
    /* a .npy header that carries terminal escape sequences and a newline */
    const char head[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), '\n\x1b[2J\x1b[31mred': 1}";
    uint8_t npy[256];
    size_t hn = sizeof head - 1;
    memcpy(npy, "\x93NUMPY\x01\x00", 8);
    npy[8] = (uint8_t)hn, npy[9] = 0;
    memcpy(npy + 10, head, hn);
    memset(npy + 10 + hn, 0, 12);
    ok = ok && write_bytes("escape.npy", npy, 10 + hn + 12);
    ok = ok && write_ppm("img.ppm", 20, 16) && write_ppm("wide.ppm", 700, 2);
    const char csv_bad[] = "image,class,x0,y0,x1,y1\nimg.ppm,one,1,2\n";
    const char csv_class[] = "img.ppm,\x1b[31mnine,0,0,3,3\n";
    ok = ok && write_bytes("bad.csv", csv_bad, sizeof csv_bad - 1) && write_bytes("class.csv", csv_class, sizeof csv_class - 1);
    char p[256];
    snprintf(p, sizeof p, "%s/adir", dir);
    ok = ok && mkdir(p, 0700) == 0;
    snprintf(p, sizeof p, "%s/out", dir);
    ok = ok && mkdir(p, 0700) == 0;
    return ok;
}

/* ---------------------------------------------------------------- running */

typedef struct {
    int    status;        /* exit status, or -1 killed (signal or timeout) */
    double secs;
    long   peak_kb;       /* peak resident set of the run */
    char   err[8192], out[8192];
} run_result;

static void slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
}

/* Runs bin/<argv[0]> with argv (in dir), stdout and stderr captured, killed after 60 s. */
static void run(char *const argv[], run_result *r) {
    char prog[768], eo[128], oo[128];
    snprintf(prog, sizeof prog, "%s/%s", bin, argv[0]);
    snprintf(eo, sizeof eo, "%s/stderr.txt", dir);
    snprintf(oo, sizeof oo, "%s/stdout.txt", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(oo, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(eo, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o >= 0) dup2(o, 1);
        if (e >= 0) dup2(e, 2);
        if (chdir(dir) != 0) _exit(126);
        execv(prog, argv);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (int ms = 0;; ms += 5) {
        if (wait4(pid, &st, WNOHANG, &ru) == pid) break;
        if (ms >= 60000) {
            kill(pid, SIGKILL);
            wait4(pid, &st, 0, &ru);
            break;
        }
        struct timespec d = {0, 5000000};
        nanosleep(&d, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r->peak_kb = ru.ru_maxrss;
    slurp(eo, r->err, sizeof r->err);
    slurp(oo, r->out, sizeof r->out);
}

static int n_runs;

/* Runs argv and checks: exit status `status`; for 1 and 2 exactly one stderr line, no
 * sanitizer report, only printable bytes; stderr holds each of the `needles` (NULL-ended). */
static void expect(int status, const char *const *needles, char *const argv[], run_result *r) {
    run(argv, r);
    n_runs++;
    char cmd[512] = "";
    for (int i = 0; argv[i]; i++) {
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 2);
        strcat(cmd, " ");
    }
    int lines = 0, printable = 1;
    for (const char *p = r->err; *p; p++) {
        lines += *p == '\n';
        if (*p != '\n' && ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)) printable = 0;
    }
    if (strstr(r->err, "Sanitizer") || strstr(r->err, "runtime error"))
        FAILF("%s: sanitizer report:\n%.3000s", cmd, r->err);
    else if (r->status != status) FAILF("%s: exit %d, expected %d; stderr: %.500s", cmd, r->status, status, r->err);
    else if (status && lines != 1) FAILF("%s: %d stderr lines, expected 1: %.500s", cmd, lines, r->err);
    else if (!printable) FAILF("%s: raw control or non-ASCII bytes on stderr", cmd);
    for (int i = 0; needles && needles[i]; i++)
        if (!strstr(r->err, needles[i])) FAILF("%s: stderr lacks \"%s\": %.500s", cmd, needles[i], r->err);
}

#define N(...) ((const char *const[]){__VA_ARGS__, NULL})
#define A(...) ((char *const[]){__VA_ARGS__, NULL})

/* Files in dir/sub (hidden ones included), "." and ".." excepted. */
/* The files in dir/sub, but for examples/gradcam's run files (manifest.jsonl, index.html). */
static int count_files(const char *sub, int *hidden) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *d = opendir(p);
    int n = 0;
    if (hidden) *hidden = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "manifest.jsonl") ||
            !strcmp(e->d_name, "index.html"))
            continue;
        n++;
        if (hidden && e->d_name[0] == '.') ++*hidden;
    }
    if (d) closedir(d);
    return n;
}

static void empty_dir(const char *sub) {
    test_run("rm -rf %s/%s && mkdir %s/%s", dir, sub, dir, sub);
}

/* ---------------------------------------------------------------- tests */

TEST(classify_errors) {
    run_result r;
    expect(1, N("cannot open"), A("examples/classify", "missing.gcw", "x.npy"), &r);
    expect(1, N("not a regular file"), A("examples/classify", "adir", "x.npy"), &r);
    expect(1, N("not a regular file"), A("examples/classify", "ok.gcw", "adir"), &r);
    CHECK(!strstr(r.err, "9223372036854775807")); /* a directory's "size" */
    expect(1, N("missing.png"), A("examples/classify", "ok.gcw", "missing.png"), &r);
    expect(1, N("input shape 16x16"), A("examples/classify", "ok.gcw", "flat.npy"), &r);
    expect(1, N("\\x0a\\x1b[2J\\x1b[31mred"), A("examples/classify", "ok.gcw", "escape.npy"), &r);
    /* non-finite inputs, parameters, outputs */
    expect(1, N("nan.npy", "input element 0 (n 0, c 0, y 0, x 0) is NaN"), A("examples/classify", "ok.gcw", "nan.npy"), &r);
    expect(1, N("inf.npy", "is inf"), A("examples/classify", "ok.gcw", "inf.npy"), &r);
    expect(1, N("one_nan.npy", "input element 300 (n 0, c 1, y 2, x 12) is NaN"),
           A("examples/classify", "ok.gcw", "one_nan.npy"), &r);
    expect(1, N("features.0.weight: element 3 is NaN"), A("examples/classify", "nan.gcw", "x.npy"), &r);
    expect(1, N("the output of layer features.0 (conv2d) is not finite"),
           A("examples/classify", "overflow.gcw", "x.npy"), &r);
    expect(1, N("pixel value 255 of channel 0 into infinity"),
           A("examples/classify", "ok.gcw", "img.ppm", "--scale", "1e38"), &r);
    expect(1, N("into infinity"), A("examples/classify", "std.gcw", "img.ppm"), &r); /* the model's own std 1e-45 */
    /* strict numbers; the A/B the help cites */
    expect(0, NULL, A("examples/classify", "ok.gcw", "img.ppm", "--scale", "1/255", "-k", "2"), &r);
    expect(2, N("-k takes"), A("examples/classify", "ok.gcw", "x.npy", "-k", "3x"), &r);
    expect(2, N("-k takes"), A("examples/classify", "ok.gcw", "x.npy", "-k", "1e9"), &r);
    expect(2, N("--scale"), A("examples/classify", "ok.gcw", "img.ppm", "--scale", "1/0"), &r);
    expect(2, N("--mean"), A("examples/classify", "ok.gcw", "img.ppm", "--mean", "1,2,nan"), &r);
    expect(2, N("--crop"), A("examples/classify", "ok.gcw", "img.ppm", "--crop", "16x16x"), &r);
    expect(2, N("unknown option -\\x1b[31m"), A("examples/classify", "ok.gcw", "x.npy", "-\x1b[31m"), &r);
    /* a 5 KB model declaring a 16384 x 16384 input: refused from the shapes, before the
       image is preprocessed (it held 3.9 GB for 7 s) */
    expect(1, N("max_bytes"), A("examples/classify", "big.gcw", "img.ppm"), &r);
    CHECK(r.secs < 5 && r.peak_kb < 200 * 1024);
    printf("  16384x16384 model: refused in %.2f s, peak %ld MB\n", r.secs, r.peak_kb / 1024);
    expect(1, N("cannot create"), A("examples/classify", "ok.gcw", "x.npy", "--logits-out", "adir/no/x.npy"), &r);
    /* the normal path, under the same leak checker */
    expect(0, NULL, A("examples/classify", "ok.gcw", "x.npy", "img.ppm", "--logits-out", "out/l.npy"), &r);
    CHECK(strstr(r.out, "one") != NULL);
    expect(0, NULL, A("examples/classify", "utf8.gcw", "x.npy"), &r);
    int printable = 1;
    for (const char *p = r.out; *p; p++) printable &= *p == '\n' || (*p >= 0x20 && *p < 0x7f);
    CHECK(printable); /* labels from the file are quoted on the terminal */
    empty_dir("out");
}

TEST(gradcam_errors_and_all_or_nothing) {
    run_result r;
    int hidden;
    expect(1, N("cannot create"), A("examples/gradcam", "ok.gcw", "x.npy", "-o", "adir/a/b"), &r);
    expect(2, N("-c takes"), A("examples/gradcam", "ok.gcw", "x.npy", "-c", "abc"), &r);
    expect(2, N("-k takes"), A("examples/gradcam", "ok.gcw", "x.npy", "-k", "65"), &r);
    expect(2, N("unknown method \"bogus\""), A("examples/gradcam", "ok.gcw", "x.npy", "--method", "gradcam,bogus"), &r);
    /* --method all: every map of every method and one figure, CAM left out with a note (no GAP head) */
    expect(0, N("CAM left out"), A("examples/gradcam", "ok.gcw", "img.ppm", "--method", "all", "-o", "out"), &r);
    CHECK(count_files("out", NULL) > 40);
    CHECK(test_run("ls %s/out/img_c*_figure.png > /dev/null", dir) == 0);
    empty_dir("out");
    /* a spatial output is not taken for 4 x 16 x 16 = 1024 "classes" (issue 14): refused
       before anything is written, with or without -k */
    expect(1, N("not a (1, classes) score vector"), A("examples/gradcam", "spatial.gcw", "img.ppm", "-k", "1", "-o", "out"), &r);
    expect(1, N("not a (1, classes) score vector"), A("examples/gradcam", "spatial.gcw", "x.npy", "-k", "2", "-o", "out"), &r);
    CHECK(count_files("out", NULL) == 0);
    expect(1, N("nan.npy", "is NaN"), A("examples/gradcam", "ok.gcw", "nan.npy", "-o", "out"), &r);
    expect(1, N("features.0.weight"), A("examples/gradcam", "nan.gcw", "img.ppm", "-o", "out"), &r);
    /* the forward is finite, guided backprop is not: named by layer */
    expect(1, N("tiny.npy", "guided backpropagation", "backward pass of layer features.0"),
           A("examples/gradcam", "backward.gcw", "tiny.npy", "-o", "out"), &r);
    CHECK(count_files("out", NULL) == 0);
    /* an image 350 times wider than high: its figure cannot be rendered; that input writes
       nothing (not its maps before the figure fails), the one before it writes everything */
    expect(1, N("wide.ppm", "figure"), A("examples/gradcam", "ok.gcw", "img.ppm", "wide.ppm", "--counterfactual", "-q",
                                         "-o", "out"), &r);
    int n = count_files("out", &hidden);
    if (n != 8 || hidden) FAILF("out/ holds %d files (%d hidden), expected img's 8 and nothing else", n, hidden);
    CHECK(test_run("ls %s/out | grep -q wide", dir) != 0);
    /* the run went on after it: its manifest says why it failed */
    CHECK(test_run("grep -q '^{\"index\": 1, \"input\": \"wide.ppm\", \"error\": .*figure' %s/out/manifest.jsonl", dir) == 0);
    empty_dir("out");
    /* an unwritable output folder: nothing half-written either */
    expect(0, NULL, A("examples/gradcam", "ok.gcw", "x.npy", "-o", "out"), &r);
    CHECK(count_files("out", &hidden) == 5 && hidden == 0);
    empty_dir("out");
    /* labels that are not valid UTF-8 still give valid JSON */
    expect(0, NULL, A("examples/gradcam", "utf8.gcw", "x.npy", "-k", "5", "-o", "out"), &r);
    CHECK(test_run("python3 -c \"import json, sys; d = json.load(open(sys.argv[1], encoding='utf-8', errors='strict')); "
                   "sys.exit(0 if len(d['targets']) == 5 and '\\ufffd' in ''.join(t['label'] for t in d['targets']) "
                   "else 1)\" %s/out/x.json", dir) == 0);
    empty_dir("out");
}

TEST(evaluate_errors) {
    run_result r;
    expect(1, N("no class labels"), A("examples/evaluate", "--model", "nolabels.gcw", "--out", "out", "--quiet"), &r);
    expect(2, N("--n takes"), A("examples/evaluate", "--model", "ok.gcw", "--n", "1e9"), &r); /* atoi gave 1 */
    expect(2, N("--n takes"), A("examples/evaluate", "--model", "ok.gcw", "--n", "-1"), &r);
    expect(2, N("--seed takes"), A("examples/evaluate", "--model", "ok.gcw", "--seed", "-1"), &r);
    expect(2, N("--steps takes"), A("examples/evaluate", "--model", "ok.gcw", "--steps", "0x10"), &r);
    expect(2, N("needs a value"), A("examples/evaluate", "--model"), &r);
    expect(2, N("unknown option"), A("examples/evaluate", "--bogus", "1"), &r);
    expect(1, N("cannot create"), A("examples/evaluate", "--model", "ok.gcw", "--out", "adir/a/b"), &r);
    expect(1, N("cannot open"), A("examples/evaluate", "--model", "ok.gcw", "--csv", "missing.csv", "--out", "out"), &r);
    expect(1, N("bad.csv:2: expected"), A("examples/evaluate", "--model", "ok.gcw", "--csv", "bad.csv", "--out", "out"), &r);
    expect(1, N("unknown class \"\\x1b[31mnine\""),
           A("examples/evaluate", "--model", "ok.gcw", "--csv", "class.csv", "--out", "out"), &r);
    expect(1, N("is NaN"), A("examples/evaluate", "--model", "nan.gcw", "--out", "out", "--quiet"), &r);
    CHECK(count_files("out", NULL) == 0);
}

TEST(train_shapes_errors) {
    run_result r;
    const char *lr_rule = "--lr takes a number > 0 and < 1e30";
    expect(2, N(lr_rule), A("examples/train_shapes", "--lr", "1e30", "--out", "out/m.gcw"), &r); /* was 38 MB leaked */
    expect(2, N(lr_rule), A("examples/train_shapes", "--lr", "nan"), &r);
    expect(2, N(lr_rule), A("examples/train_shapes", "--lr", "-1"), &r);
    expect(2, N(lr_rule), A("examples/train_shapes", "--lr", "0.1x"), &r);
    expect(2, N("--epochs takes"), A("examples/train_shapes", "--epochs", "1x"), &r);
    expect(2, N("--batch takes"), A("examples/train_shapes", "--batch", "1e9"), &r);
    expect(2, N("--seed takes"), A("examples/train_shapes", "--seed", "-5"), &r);
    expect(2, N("smaller than --batch"), A("examples/train_shapes", "--train-size", "8", "--batch", "16"), &r);
    /* an unwritable output is found before training, not after it (was 250 KB leaked) */
    expect(1, N("cannot write adir/no/m.gcw"), A("examples/train_shapes", "--out", "adir/no/m.gcw"), &r);
    CHECK(r.secs < 5);
    expect(1, N("it is a folder"), A("examples/train_shapes", "--out", "adir"), &r);
    expect(1, N("cannot write"), A("examples/train_shapes", "--samples", "adir/no"), &r);
    /* a learning rate that diverges: the forward pass names the first non-finite layer */
    expect(1, N("GC_ERR_NUMERIC", "not finite"), A("examples/train_shapes", "--lr", "1e25", "--epochs", "2", "--train-size",
                                                   "64", "--batch", "32", "--test-size", "1", "--quiet", "--out",
                                                   "out/m.gcw"), &r);
    CHECK(count_files("out", NULL) == 0);
}

TEST(other_programs) {
    run_result r;
    expect(1, N("missing.png"), A("examples/imgconv", "missing.png", "out/a.png"), &r);
    expect(1, N("output extension"), A("examples/imgconv", "img.ppm", "out/a.\x1b[31m"), &r);
    expect(1, N("not a regular file"), A("examples/imgconv", "adir", "out/a.png"), &r);
    expect(1, N("adir/no/a.png"), A("examples/imgconv", "img.ppm", "adir/no/a.png"), &r);
    expect(0, NULL, A("examples/imgconv", "img.ppm", "out/a.png"), &r);
    /* gcw_inspect: every error on stderr (it printed them on stdout), stdout empty */
    expect(1, N("features.0.weight: element 3 is NaN"), A("tools/gcw_inspect", "nan.gcw"), &r);
    CHECK(r.out[0] == 0);
    expect(1, N("cannot open"), A("tools/gcw_inspect", "missing.gcw"), &r);
    CHECK(r.out[0] == 0);
    expect(1, N("not a regular file"), A("tools/gcw_inspect", "adir"), &r);
    expect(1, N("non-finite"), A("tools/gcw_inspect", "std.gcw"), &r);
    expect(2, N("unknown option"), A("tools/gcw_inspect", "--bogus", "ok.gcw"), &r);
    expect(0, NULL, A("tools/gcw_inspect", "ok.gcw"), &r);
    CHECK(strstr(r.out, "every value finite") != NULL);
    expect(0, NULL, A("examples/tiny_net"), &r);
    empty_dir("out");
    expect(2, N("unknown method"), A("examples/sanity", "--methods", "gradcam,bogus"), &r);
    expect(2, N("--n: bad value"), A("examples/sanity", "--n", "0"), &r);
    expect(1, N("cannot open"), A("examples/sanity", "--model", "missing.gcw", "--out", "out"), &r);
    expect(0, NULL, A("examples/sanity", "--model", "ok.gcw", "--methods", "gradcam,saliency", "--n", "1", "--out", "out"), &r);
    CHECK(count_files("out", NULL) == 2);
    empty_dir("out");
}

int main(int argc, char **argv) {
    (void)argc;
    /* argv[0] is build/<config>/tests/test_cli_errors: the programs are in build/<config>/lsan/ */
    char self[256];
    snprintf(self, sizeof self, "%s", argv[0]);
    char *t = strstr(self, "/tests/test_cli_errors");
    if (!t || !getcwd(bin, sizeof bin - sizeof self - 8)) { fprintf(stderr, "cannot locate the programs from %s\n", argv[0]); return 1; }
    *t = 0;
    size_t k = strlen(bin);
    snprintf(bin + k, sizeof bin - k, "/%s/lsan", self);
    snprintf(dir, sizeof dir, "/tmp/test_cli_errors_XXXXXX");
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    printf("  programs in %s, %s\n", bin, GC_LEAK_CHECK ? "linked with LeakSanitizer" : "without a leak checker (this build cannot have one)");
    if (!fixtures()) {
        FAILF("cannot write the fixtures: %s", gc_last_error());
    } else {
        RUN(classify_errors);
        RUN(gradcam_errors_and_all_or_nothing);
        RUN(evaluate_errors);
        RUN(train_shapes_errors);
        RUN(other_programs);
        printf("  %d runs\n", n_runs);
    }
    test_run("rm -rf %s", dir);
    return test_summary("cli_errors");
}
