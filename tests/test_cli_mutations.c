/* test_cli_mutations.c - mutated JPEG/PNG/PPM/.gcw/.npy files through the
 * example programs imgconv, classify and gradcam: each run either works
 * (status 0) or exits with status 1 and exactly one line on stderr; never a
 * signal, a sanitizer report, a hang (10 s timeout) or usage status 2.
 *
 * Mutations (seeded, reproducible): bit flips, random bytes, byte runs
 * inserted or deleted, truncation, and header field edits (32/64-bit fields
 * near the start set to 0, 1, 0x7fffffff, 0xffffffff, ...). Seeds are the
 * committed image fixtures and a tiny model (.gcw) and input (.npy) written
 * here. Under `make SANITIZE=1 test` the programs are ASan/UBSan builds and
 * LeakSanitizer checks every exit path (a report makes stderr multi-line).
 * GC_CLI_MUTATIONS=N sets the runs per program/format pair (default 24;
 * tests/ref/mutate_cli.sh runs thousands). */
#include "test.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static int n_runs = 24;

/* ---------------------------------------------------------------- files */

typedef struct { uint8_t *d; size_t n; } blob;

static blob read_file(const char *path) {
    blob b = {0, 0};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.d = malloc(n > 0 ? (size_t)n : 1);
    b.n = b.d && n > 0 ? fread(b.d, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

/* ---------------------------------------------------------------- mutations */

static uint64_t rng_state;
static uint32_t rnd(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}
static size_t rndn(size_t n) { return n ? rnd() % n : 0; }

/* A mutated copy of src in a new buffer (*len bytes); header fields are
 * edited within the first `header` bytes. */
static uint8_t *mutate(const blob *src, size_t header, size_t *len) {
    size_t cap = src->n + 4096, n = src->n;
    uint8_t *b = malloc(cap);
    memcpy(b, src->d, n);
    int edits = 1 + (int)rndn(4);
    for (int e = 0; e < edits && n > 0; e++) {
        size_t i = rndn(n);
        switch (rndn(7)) {
        case 0: b[i] ^= (uint8_t)(1u << rndn(8)); break;                      /* bit flip */
        case 1: b[i] = (uint8_t)rnd(); break;                                 /* random byte */
        case 2: {                                                              /* insert a run */
            size_t k = 1 + rndn(64);
            if (n + k > cap) break;
            memmove(b + i + k, b + i, n - i);
            for (size_t j = 0; j < k; j++) b[i + j] = (uint8_t)rnd();
            n += k;
            break;
        }
        case 3: {                                                              /* delete a run */
            size_t k = 1 + rndn(64);
            if (k > n - i) k = n - i;
            memmove(b + i, b + i + k, n - i - k);
            n -= k;
            break;
        }
        case 4: n = rndn(n); e = edits; break;                                 /* truncate */
        default: {                                                             /* header field */
            static const uint64_t v[] = {0, 1, 2, 0x7f, 0xff, 0xffff, 0x7fffffff, 0x80000000u, 0xffffffffu,
                                         0x10000, 0x7fffffffffffffffull, 0xffffffffffffffffull, 65500};
            size_t h = header < n ? header : n, w = rndn(2) ? 4 : 8;
            if (h < w) break;
            size_t at = rndn(h - w + 1);
            if (rndn(2)) at &= ~(w - 1);
            uint64_t x = v[rndn(sizeof v / sizeof v[0])];
            if (rndn(2)) { /* big-endian for JPEG/PNG, little for .gcw/.npy */
                for (size_t j = 0; j < w; j++) b[at + j] = (uint8_t)(x >> (8 * (w - 1 - j)));
            } else {
                for (size_t j = 0; j < w; j++) b[at + j] = (uint8_t)(x >> (8 * j));
            }
        }
        }
    }
    *len = n;
    return b;
}

/* ---------------------------------------------------------------- running */

/* Runs argv with stdout discarded and stderr into dir/err.txt; kills it after
 * 10 s. Returns the wait status, or -1 on a timeout. */
static int run_prog(char *const argv[], double *secs) {
    char errp[128];
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open("/dev/null", O_WRONLY), e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o >= 0) dup2(o, 1);
        if (e >= 0) dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0) return -2;
    int st = 0;
    for (int ms = 0;; ms += 5) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (ms >= 10000) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            st = -1;
            break;
        }
        struct timespec d = {0, 5000000};
        nanosleep(&d, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return st;
}

typedef struct { int runs, worked, refused, bad; double slowest; } tally;

/* One run; returns 1 if it behaved (status 0, or status 1 with one line). */
static int check_run(char *const argv[], const char *what, tally *t) {
    double secs = 0;
    int st = run_prog(argv, &secs);
    char errp[128];
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    blob e = read_file(errp);
    int lines = 0, ends_nl = e.n && e.d[e.n - 1] == '\n';
    for (size_t i = 0; i < e.n; i++) lines += e.d[i] == '\n';
    int san = 0;
    if (e.d) {
        e.d = realloc(e.d, e.n + 1);
        e.d[e.n] = 0;
        san = strstr((char *)e.d, "Sanitizer") || strstr((char *)e.d, "runtime error");
    }
    t->runs++;
    if (secs > t->slowest) t->slowest = secs;
    const char *why = NULL;
    if (st == -1) why = "timeout (10 s)";
    else if (st < 0) why = "fork failed";
    else if (WIFSIGNALED(st)) why = "killed by a signal";
    else if (san) why = "sanitizer report";
    else if (WEXITSTATUS(st) == 0) t->worked++;
    else if (WEXITSTATUS(st) != 1) why = "exit status not 0 or 1";
    else if (lines != 1 || !ends_nl || e.n < 4) why = "stderr is not exactly one line";
    else t->refused++;
    if (why) {
        t->bad++;
        FAILF("%s: %s (status %d), stderr: %.300s", what, why, st, e.d ? (char *)e.d : "");
    }
    free(e.d);
    return why == NULL;
}

/* ---------------------------------------------------------------- seeds */

static const char *images[] = {
    "tests/data/jpeg/a_420_q95.jpg", "tests/data/jpeg/a_prog420_q95.jpg", "tests/data/jpeg/a_progrst_q75.jpg",
    "tests/data/jpeg/a_rst1_q75.jpg", "tests/data/jpeg/a_gray_q95.jpg", "tests/data/jpeg/c_420_17x3.jpg",
    "tests/data/jpeg/a_411_q95.jpg", "tests/data/png/g1.png", "tests/data/png/f_rgb8.png",
    "tests/data/png/f_i_rgba16.png", "tests/data/png/ga16.png", "tests/data/png/g8_trns.png",
    "tests/data/png/i_g1.png", "tests/data/pnm/p2_300.pgm", "tests/data/pnm/p3_1.ppm",
    "tests/fuzz/corpus/pnm/p6_65535.ppm", "tests/fuzz/corpus/pnm/p5_1000.pgm", "tests/fuzz/corpus/png/p2.png",
};
#define N_IMAGES (int)(sizeof images / sizeof images[0])

/* A tiny classifier (3x16x16 -> 5 classes, labelled) as dir/m.gcw and an
 * input for it as dir/x.npy. */
static int make_model(void) {
    gc_model *m = NULL;
    gc_conv2d_params cp = gc_conv2d_defaults(3, 4, 3);
    cp.pad_h = cp.pad_w = 1;
    gc_adaptive_pool2d_params ap = {2, 2};
    gc_linear_params lp = {16, 5, 1};
    gc_preprocess pp = gc_preprocess_torchvision();
    pp.input_height = pp.input_width = 16;
    pp.resize_shorter = 18;
    const char *labels[5] = {"zero", "one", "two", "three", "four"};
    char p[128];
    int ok = !gc_model_create(&m) && !gc_model_add_conv2d(m, "features.0", NULL, &cp, NULL, NULL) &&
             !gc_model_add_relu(m, "features.1", NULL) && !gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap) &&
             !gc_model_add_flatten(m, "flatten", NULL) && !gc_model_add_linear(m, "fc", NULL, &lp, NULL, NULL) &&
             !gc_model_init_random(m, 7) && !gc_model_set_preprocess(m, &pp) && !gc_model_set_labels(m, 5, labels);
    snprintf(p, sizeof p, "%s/m.gcw", dir);
    ok = ok && !gc_model_save(m, p);
    gc_model_free(m);
    gc_tensor x;
    int64_t shape[3] = {3, 16, 16};
    if (ok && !gc_tensor_alloc(&x, 3, shape)) {
        for (int i = 0; i < 3 * 16 * 16; i++) x.data[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        snprintf(p, sizeof p, "%s/x.npy", dir);
        ok = !gc_npy_save(p, &x);
        gc_tensor_release(&x);
    } else {
        ok = 0;
    }
    return ok;
}

/* ---------------------------------------------------------------- tests */

static void report(const char *what, const tally *t) {
    printf("  %-28s %5d runs: %5d worked, %5d refused with one line, %d bad (slowest %.2f s)\n", what, t->runs,
           t->worked, t->refused, t->bad, t->slowest);
}

TEST(unmutated_seeds_work) {
    char mp[128], xp[128], op[128];
    snprintf(mp, sizeof mp, "%s/m.gcw", dir);
    snprintf(xp, sizeof xp, "%s/x.npy", dir);
    snprintf(op, sizeof op, "%s/o.png", dir);
    tally t = {0};
    for (int i = 0; i < N_IMAGES; i++) {
        char *a[] = {"examples/imgconv", (char *)images[i], op, NULL};
        char *c[] = {"examples/classify", mp, (char *)images[i], NULL};
        check_run(a, images[i], &t);
        check_run(c, images[i], &t);
    }
    char *c[] = {"examples/classify", mp, xp, "-k", "2", NULL};
    char *g[] = {"examples/gradcam", mp, xp, (char *)images[0], "-q", "-o", dir, NULL};
    check_run(c, "classify x.npy", &t);
    check_run(g, "gradcam", &t);
    CHECK(t.worked == t.runs); /* the seeds themselves must work: the mutations start from valid files */
    report("seeds (unmutated)", &t);
}

TEST(mutated_images_through_imgconv_and_classify) {
    char mp[128], in[128], out[128];
    snprintf(mp, sizeof mp, "%s/m.gcw", dir);
    const char *outs[3] = {"o.png", "o.ppm", "o.pgm"};
    tally ti = {0}, tc = {0}, tg = {0};
    for (int r = 0; r < n_runs * 3; r++) {
        int k = (int)rndn(N_IMAGES);
        blob src = read_file(images[k]);
        if (!src.d) { FAILF("cannot read %s", images[k]); continue; }
        size_t n;
        uint8_t *b = mutate(&src, 64, &n);
        const char *ext = strrchr(images[k], '.');
        snprintf(in, sizeof in, "%s/img%s", dir, ext);
        write_file(in, b, n);
        snprintf(out, sizeof out, "%s/%s", dir, outs[r % 3]);
        char what[256];
        snprintf(what, sizeof what, "run %d: mutated %s", r, images[k]);
        char *a[] = {"examples/imgconv", in, out, NULL};
        char *c[] = {"examples/classify", mp, in, "-k", "3", NULL};
        char *g[] = {"examples/gradcam", mp, in, "-q", "-o", dir, NULL};
        check_run(a, what, &ti);
        check_run(c, what, &tc);
        if (r % 6 == 0) check_run(g, what, &tg);
        free(b);
        free(src.d);
    }
    report("imgconv  <- images", &ti);
    report("classify <- images", &tc);
    report("gradcam  <- images", &tg);
}

TEST(mutated_models_and_arrays_through_classify_and_gradcam) {
    char mp[128], xp[128], in[128], what[128];
    snprintf(mp, sizeof mp, "%s/m.gcw", dir);
    snprintf(xp, sizeof xp, "%s/x.npy", dir);
    blob model = read_file(mp), arr = read_file(xp);
    if (!model.d || !arr.d) { FAILF("seed model or input missing"); free(model.d); free(arr.d); return; }
    tally tm = {0}, tn = {0}, tg = {0};
    for (int r = 0; r < n_runs * 2; r++) {
        size_t n;
        /* .gcw: header, graph and directory fields live in the first ~1 KB */
        uint8_t *b = mutate(&model, rndn(3) ? 128 : 1024, &n);
        snprintf(in, sizeof in, "%s/mm.gcw", dir);
        write_file(in, b, n);
        free(b);
        snprintf(what, sizeof what, "run %d: mutated .gcw", r);
        char *c[] = {"examples/classify", in, xp, NULL};
        char *g[] = {"examples/gradcam", in, xp, "-q", "-o", dir, NULL};
        check_run(c, what, &tm);
        if (r % 4 == 0) check_run(g, what, &tg);
        b = mutate(&arr, 128, &n);
        snprintf(in, sizeof in, "%s/xx.npy", dir);
        write_file(in, b, n);
        free(b);
        snprintf(what, sizeof what, "run %d: mutated .npy", r);
        char *c2[] = {"examples/classify", mp, in, NULL};
        check_run(c2, what, &tn);
    }
    free(model.d);
    free(arr.d);
    report("classify <- .gcw", &tm);
    report("gradcam  <- .gcw", &tg);
    report("classify <- .npy", &tn);
}

int main(void) {
    const char *e = getenv("GC_CLI_MUTATIONS");
    if (e && atoi(e) > 0) n_runs = atoi(e);
    const char *s = getenv("GC_CLI_SEED");
    rng_state = s ? strtoull(s, NULL, 10) : 8;
    snprintf(dir, sizeof dir, "/tmp/test_cli_mutations_XXXXXX");
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    if (!make_model()) {
        FAILF("cannot write the seed model: %s", gc_last_error());
    } else {
        RUN(unmutated_seeds_work);
        RUN(mutated_images_through_imgconv_and_classify);
        RUN(mutated_models_and_arrays_through_classify_and_gradcam);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary("cli_mutations");
}
