/* test_gradcam_batch.c - examples/gradcam over a data set (docs/cluster.md): folders named
 * by relative path, list files, refused name collisions, shards that together are the whole
 * run, an interrupted run (SIGINT, SIGKILL) resumed to exactly the uninterrupted outputs and
 * manifest, --layercam-fuse against the fusion formula computed here from gc_explain's
 * Layer-CAM maps, and the gallery in headless Chromium (skipped, saying so, without it). */
#include "test.h"
#include "common/shell.h"
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64], root[1024]; /* the scratch folder; the repository (the current folder) */
static const char *model = "weights/shapes.gcw";
enum { N_IMG = 20 };
/* every run: Grad-CAM only (smaller figures: a fast test), no progress bar */
#define RUN_OPTS "-q --method gradcam"

/* ---------------------------------------------------------------- helpers */

static int write_shape_png(const char *path, uint64_t index) {
    enum { S = 64 };
    static float rgb[3 * S * S];
    gc_shapes_info info;
    if (gc_shapes_generate(7, index, 1, S, S, rgb, NULL, &info)) return 0;
    uint8_t px[S * S * 3];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S * S; i++) px[i * 3 + c] = (uint8_t)lrintf(rgb[c * S * S + i] * 255.0f);
    gc_image img = {S, S, 3, 8, px};
    return gc_image_save_png(&img, path) == GC_OK;
}

/* The file's lines (newline-terminated ones; *partial: a last one without), with the
 * manifest's timing values cut out; NULL-terminated array, free with free_lines. */
static char **read_lines(const char *path, int *n, int *partial) {
    size_t len = 0;
    char *buf = (char *)test_read_file(path, &len);
    *n = 0;
    if (partial) *partial = 0;
    if (!buf) return NULL;
    char **v = calloc(len + 2, sizeof *v);
    char *p = buf;
    while (p < buf + len) {
        char *e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) {
            if (partial) *partial = 1;
            break;
        }
        *e = 0;
        char *t = strstr(p, ", \"timing\": {");
        if (t) strcpy(t, "}");
        v[(*n)++] = strdup(p);
        p = e + 1;
    }
    free(buf);
    return v;
}

static void free_lines(char **v) {
    for (int i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

/* Runs examples/gradcam with args (NULL-terminated) from the repository root, stdout and
 * stderr to dir/log; returns its pid. */
static pid_t spawn(char *const *args) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        char log[128];
        snprintf(log, sizeof log, "%s/log", dir);
        if (!freopen(log, "a", stdout) || !freopen(log, "a", stderr)) _exit(127);
        execv("examples/gradcam", args);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Every line of the manifest is complete JSON: python3 when there is one, else a
 * newline-terminated line of balanced braces and brackets outside strings. */
static int manifest_is_json(const char *path) {
    if (!test_run("python3 -c 'import sys' > /dev/null 2>&1"))
        return test_run("python3 -c \"import json, sys\n"
                        "d = open(sys.argv[1], 'rb').read()\n"
                        "assert d.endswith(b'\\n')\n"
                        "[json.loads(l) for l in d.split(b'\\n')[:-1]]\" %s", path) == 0;
    size_t n;
    char *b = (char *)test_read_file(path, &n);
    int ok = b && n && b[n - 1] == '\n', depth = 0, str = 0;
    for (size_t i = 0; ok && i < n; i++) {
        char c = b[i];
        if (str) {
            if (c == '\\') i++;
            else if (c == '"') str = 0;
        } else if (c == '"') str = 1;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') ok = --depth >= 0;
        else if (c == '\n') ok = depth == 0;
    }
    free(b);
    return ok && !str;
}

/* ---------------------------------------------------------------- fixtures */

/* dir/data: N_IMG shape images in nested folders, two of them called x.png in different
 * folders, and one file that is not an image (an error record, and the run goes on). */
static int fixtures(void) {
    char p[256];
    const char *sub[] = {"a", "a/deep", "b", "c"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "mkdir -p %s/data/%s", dir, sub[i]);
        if (test_run("%s", p)) return 0;
    }
    for (int i = 0; i < N_IMG - 3; i++) {
        snprintf(p, sizeof p, "%s/data/%s/img%02d.png", dir, sub[i % 4], i);
        if (!write_shape_png(p, (uint64_t)i)) return 0;
    }
    snprintf(p, sizeof p, "%s/data/a/x.png", dir);
    if (!write_shape_png(p, 100)) return 0;
    snprintf(p, sizeof p, "%s/data/b/x.png", dir);
    if (!write_shape_png(p, 101)) return 0;
    snprintf(p, sizeof p, "%s/data/c/broken.PNG", dir);
    FILE *f = fopen(p, "w");
    if (!f) return 0;
    fputs("not a PNG file\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/data/c/notes.txt", dir); /* not an image name: not an input */
    f = fopen(p, "w");
    if (!f) return 0;
    fputs("ignored\n", f);
    fclose(f);
    return 1;
}

/* ---------------------------------------------------------------- tests */

TEST(folder_names_and_manifest) {
    int rc = test_run("examples/gradcam %s %s/data " RUN_OPTS " -o %s/ref > %s/ref.out 2> %s/ref.err", model, dir, dir, dir, dir);
    CHECK(rc == 1); /* the broken file fails, the rest is written */
    char p[256];
    int n;
    snprintf(p, sizeof p, "%s/ref/manifest.jsonl", dir);
    char **l = read_lines(p, &n, NULL);
    CHECK(l && n == N_IMG + 1);
    if (!l || n != N_IMG + 1) { free_lines(l); return; }
    CHECK(strstr(l[0], "\"inputs\": 20, \"shard\": [0, 1]}") != NULL);
    /* bytewise order of the relative names: a/deep/... < a/img.. < a/x.png < b/... < c/... */
    CHECK(!strncmp(l[1], "{\"index\": 0, \"input\": \"a/deep/img01.png\"", 40));
    int a_x = 0, b_x = 0, broken = 0, last = -1, ordered = 1;
    for (int i = 1; i < n; i++) {
        int k = -1;
        sscanf(l[i], "{\"index\": %d", &k);
        ordered &= k == last + 1;
        last = k;
        a_x |= strstr(l[i], "\"input\": \"a/x.png\"") && strstr(l[i], "\"a/x_c");
        b_x |= strstr(l[i], "\"input\": \"b/x.png\"") && strstr(l[i], "\"b/x_c");
        broken |= strstr(l[i], "\"input\": \"c/broken.PNG\", \"error\": ") != NULL;
    }
    CHECK(ordered && a_x && b_x && broken);
    CHECK(test_run("ls %s/ref/a/x_c*_figure.png %s/ref/b/x_c*_figure.png %s/ref/a/deep/img01_c*_figure.png "
                   "%s/ref/index.html > /dev/null", dir, dir, dir, dir) == 0);
    CHECK(test_run("grep -q 'broken.PNG' %s/ref.err", dir) == 0);
    CHECK(test_run("ls -A %s/ref | grep -q '^\\.'", dir) != 0); /* no temporary file left */
    free_lines(l);
}

TEST(lists_and_collisions) {
    /* a list on standard input: files named by their path as written, folders as folders */
    int rc = test_run("cd %s && printf 'data/a/x.png\\n\\n./data/b/x.png\\ndata/a/deep\\n' | %s/examples/gradcam "
                      "%s/%s --list - " RUN_OPTS " -o lst > lst.out 2>&1", dir, root, root, model);
    CHECK(rc == 0);
    char p[256];
    int n;
    snprintf(p, sizeof p, "%s/lst/manifest.jsonl", dir);
    char **l = read_lines(p, &n, NULL);
    CHECK(l && n >= 4);
    if (l && n >= 4) {
        CHECK(strstr(l[1], "\"input\": \"data/a/x.png\"") != NULL);
        CHECK(strstr(l[2], "\"input\": \"data/b/x.png\"") != NULL);
        CHECK(strstr(l[3], "\"input\": \"img01.png\"") != NULL); /* relative to the listed folder */
    }
    free_lines(l);
    CHECK(test_run("ls %s/lst/data/a/x_c*_figure.png %s/lst/data/b/x_c*_figure.png > /dev/null", dir, dir) == 0);
    /* the same name twice: refused, naming both, before anything is written */
    rc = test_run("examples/gradcam %s %s/data/a/x.png %s/data/b/x.png " RUN_OPTS " -o %s/coll > %s/coll.err 2>&1", model, dir,
                  dir, dir, dir);
    CHECK(rc == 2);
    CHECK(test_run("grep -q 'a/x.png and .*b/x.png would both be written as x_' %s/coll.err", dir) == 0);
    struct stat st;
    snprintf(p, sizeof p, "%s/coll", dir);
    CHECK(stat(p, &st) != 0);
    /* x.png and x.jpg of one folder would write the same files too */
    test_run("cp %s/data/a/x.png %s/data/a/x.jpg", dir, dir);
    CHECK(test_run("examples/gradcam %s %s/data " RUN_OPTS " -o %s/coll > /dev/null 2>&1", model, dir, dir) == 2);
    CHECK(stat(p, &st) != 0);
    test_run("rm %s/data/a/x.jpg", dir);
    /* bad option values */
    CHECK(test_run("examples/gradcam %s %s/data --shard 3/3 -o %s/coll > /dev/null 2>&1", model, dir, dir) == 2);
    CHECK(test_run("examples/gradcam %s %s/data --layercam-fuse features.4 -o %s/coll > /dev/null 2>&1", model, dir, dir) == 2);
    CHECK(test_run("examples/gradcam %s --list %s/missing.txt -o %s/coll > /dev/null 2>&1", model, dir, dir) == 2);
}

TEST(shards_make_the_whole_run) {
    char p[256];
    int n, ns[3];
    snprintf(p, sizeof p, "%s/ref/manifest.jsonl", dir);
    char **ref = read_lines(p, &n, NULL), **sh[3];
    for (int i = 0; i < 3; i++) {
        test_run("examples/gradcam %s %s/data " RUN_OPTS " --shard %d/3 -o %s/sh > /dev/null 2>&1", model, dir, i, dir);
        snprintf(p, sizeof p, "%s/sh/manifest.shard-%d-of-3.jsonl", dir, i);
        sh[i] = read_lines(p, &ns[i], NULL);
    }
    CHECK(ref && sh[0] && sh[1] && sh[2] && ns[0] + ns[1] + ns[2] - 3 == n - 1);
    /* record k of the one-process run is line 1 + k / 3 of shard k mod 3, equal */
    for (int k = 0; ref && k + 1 < n; k++) {
        char **s = sh[k % 3];
        int line = 1 + k / 3;
        if (!s || line >= ns[k % 3] || strcmp(s[line], ref[k + 1])) {
            FAILF("record %d: shard %d differs from the one-process run", k, k % 3);
            break;
        }
    }
    CHECK(sh[1] && strstr(sh[1][0], "\"shard\": [1, 3]}") != NULL);
    CHECK(test_run("ls %s/sh/index.shard-2-of-3.html > /dev/null", dir) == 0);
    /* every figure and map equal, no file more or less (but the run files) */
    CHECK(test_run("diff -r -x 'manifest*' -x 'index*' %s/ref %s/sh > /dev/null", dir, dir) == 0);
    /* tools/gcmerge (python3) joins the shards into the one-process manifest */
    if (!test_run("python3 -c 'import sys' > /dev/null 2>&1")) {
        CHECK(test_run("tools/gcmerge -o %s/sh %s/sh/manifest.shard-*-of-3.jsonl > /dev/null 2>&1", dir, dir) == 0);
        int nm;
        snprintf(p, sizeof p, "%s/sh/manifest.jsonl", dir);
        char **mg = read_lines(p, &nm, NULL);
        int same = mg && nm == n;
        for (int i = 0; same && i < n; i++) same = !strcmp(mg[i], ref[i]);
        CHECK(same);
        free_lines(mg);
    } else printf("  gcmerge part skipped: no python3\n");
    for (int i = 0; i < 3; i++) free_lines(sh[i]);
    free_lines(ref);
}

/* A progress bar (done/total, rate, ETA) on a terminal (a pty from script(1), skipped without
 * it), nothing on stderr otherwise. */
TEST(progress_bar_only_on_a_terminal) {
    CHECK(test_run("examples/gradcam %s %s/data --method gradcam -o %s/pb > /dev/null 2> %s/pb.err", model, dir, dir,
                   dir) == 1);
    CHECK(test_run("grep -q ETA %s/pb.err", dir) != 0);
    if (test_run("command -v script > /dev/null 2>&1")) {
        printf("  terminal part skipped: no script(1)\n");
        return;
    }
    CHECK(test_run("script -qec 'examples/gradcam %s %s/data --method gradcam -o %s/pb > /dev/null' /dev/null "
                   "> %s/pb.tty 2>&1", model, dir, dir, dir) == 1);
    CHECK(test_run("grep -q '\\[##########----------\\] 10/20  [0-9.]*/s  ETA [0-9]*:[0-9][0-9]' %s/pb.tty", dir) == 0);
}

/* The same files and records whatever the batch (--batch 1: one gc_explain per input) and
 * with the decoding and writing on two threads; a non-finite input in the middle of a batch
 * fails alone (gc_explain_batch fails as a whole; each input is then tried alone) and the
 * others of its batch are explained. */
static int same_manifest(const char *a, const char *b) {
    int na, nb;
    char **la = read_lines(a, &na, NULL), **lb = read_lines(b, &nb, NULL);
    int same = la && lb && na == nb;
    for (int i = 0; same && i < na; i++) same = !strcmp(la[i], lb[i]);
    free_lines(la);
    free_lines(lb);
    return same;
}

TEST(batches_give_the_single_call_results) {
    char p[256], q[256];
    snprintf(q, sizeof q, "%s/ref/manifest.jsonl", dir);
    const char *runs[][2] = {{"1", "b1"}, {"3", "b3"}, {"20", "b20"}};
    for (int r = 0; r < 3; r++) {
        /* two threads: the decoding and writing run in parallel (ThreadSanitizer sees them) */
        int rc = test_run("OMP_NUM_THREADS=2 examples/gradcam %s %s/data " RUN_OPTS " --batch %s -o %s/%s > %s/%s.out "
                          "2> %s/%s.err", model, dir, runs[r][0], dir, runs[r][1], dir, runs[r][1], dir, runs[r][1]);
        CHECK(rc == 1);
        snprintf(p, sizeof p, "%s/%s/manifest.jsonl", dir, runs[r][1]);
        if (!same_manifest(p, q)) FAILF("--batch %s: the manifest differs from the default batch's", runs[r][0]);
        if (test_run("diff -r -x manifest.jsonl %s/ref %s/%s > /dev/null 2>&1", dir, dir, runs[r][1]))
            FAILF("--batch %s: outputs differ from the default batch's", runs[r][0]);
        CHECK(test_run("grep -q 'broken.PNG' %s/%s.err", dir, runs[r][1]) == 0);
        CHECK(test_run("cmp -s %s/%s.out %s/ref.out", dir, runs[r][1], dir) == 0); /* predictions, in order */
    }
    CHECK(test_run("examples/gradcam %s %s/data --batch 0 -o %s/b0 > /dev/null 2>&1", model, dir, dir) == 2);
    CHECK(test_run("examples/gradcam %s %s/data --batch 65 -o %s/b0 > /dev/null 2>&1", model, dir, dir) == 2);

    /* five arrays, the third with a NaN: one batch of 5, and one by one */
    enum { S = 64 };
    const int64_t shape[4] = {1, 3, S, S};
    char files[5][96];
    for (int i = 0; i < 5; i++) {
        gc_tensor t = {0};
        gc_shapes_info info;
        snprintf(files[i], sizeof files[i], "%s/arr%d.npy", dir, i);
        int ok = gc_tensor_alloc(&t, 4, shape) == GC_OK &&
                 gc_shapes_generate(7, 200 + (uint64_t)i, 1, S, S, t.data, NULL, &info) == GC_OK;
        if (ok && i == 2) t.data[1234] = NAN;
        ok = ok && gc_npy_save(files[i], &t) == GC_OK;
        gc_tensor_release(&t);
        if (!ok) { FAILF("cannot write %s: %s", files[i], gc_last_error()); return; }
    }
    const char *bs[2] = {"5", "1"};
    for (int r = 0; r < 2; r++) {
        int rc = test_run("OMP_NUM_THREADS=2 examples/gradcam %s %s %s %s %s %s " RUN_OPTS " --batch %s -o %s/nan%s "
                          "> /dev/null 2> %s/nan%s.err", model, files[0], files[1], files[2], files[3], files[4], bs[r],
                          dir, bs[r], dir, bs[r]);
        CHECK(rc == 1);
        CHECK(test_run("grep -q 'arr2.npy.*NaN' %s/nan%s.err", dir, bs[r]) == 0);
        CHECK(test_run("grep -c . %s/nan%s.err | grep -qx 1", dir, bs[r]) == 0); /* only that one failed */
    }
    snprintf(p, sizeof p, "%s/nan5/manifest.jsonl", dir);
    snprintf(q, sizeof q, "%s/nan1/manifest.jsonl", dir);
    int n;
    char **l = read_lines(p, &n, NULL);
    CHECK(l && n == 6 && strstr(l[3], "\"input\": \"arr2.npy\", \"error\": ") && strstr(l[3], "NaN") &&
          strstr(l[4], "\"files\": ["));
    free_lines(l);
    CHECK(same_manifest(p, q));
    CHECK(test_run("diff -r -x manifest.jsonl %s/nan5 %s/nan1 > /dev/null 2>&1", dir, dir) == 0);

    /* an input of another size after a batch: a new session, which this one (4x4, too small
       for the network's pooling) cannot have; the run stops, freeing everything once */
    const int64_t tiny_shape[3] = {3, 4, 4};
    gc_tensor tiny = {0};
    snprintf(p, sizeof p, "%s/tiny.npy", dir);
    CHECK(gc_tensor_alloc(&tiny, 3, tiny_shape) == GC_OK);
    if (tiny.data) memset(tiny.data, 0, 48 * sizeof *tiny.data);
    CHECK(tiny.data && gc_npy_save(p, &tiny) == GC_OK);
    gc_tensor_release(&tiny);
    CHECK(test_run("examples/gradcam %s %s %s %s -q --method gradcam -o %s/tiny > /dev/null 2> %s/tiny.err", model,
                   files[0], files[1], p, dir, dir) == 1);
    CHECK(test_run("grep -q 'tiny.npy: .*too small' %s/tiny.err", dir) == 0);
}

/* One interrupted run (sig after `after` manifest records plus delay_ms) with --batch b1,
 * then --resume with --batch b2: the outputs and manifest equal the uninterrupted run's
 * (the default batch, 8). */
static void interrupt_and_resume(int sig, int after, int delay_ms, const char *out, const char *b1, const char *b2) {
    char o[128], mp[192], p[256];
    snprintf(o, sizeof o, "%s/%s", dir, out);
    snprintf(mp, sizeof mp, "%s/manifest.jsonl", o);
    snprintf(p, sizeof p, "%s/data", dir);
    char *args[] = {"examples/gradcam", (char *)model, p, "-q", "--method", "gradcam", "--batch", (char *)b1, "-o", o, NULL};
    pid_t pid = spawn(args);
    for (int t = 0; t < 60000 && count_lines(mp) < 1 + after; t++) sleep_ms(1);
    sleep_ms(delay_ms);
    kill(pid, sig);
    int rc = wait_status(pid), n, partial;
    char **l = read_lines(mp, &n, &partial);
    printf("  %s after %d records (+%d ms): exit %d, %d lines%s kept\n", sig == SIGINT ? "SIGINT" : "SIGKILL", after,
           delay_ms, rc, n, partial ? " and a partial one" : "");
    free_lines(l);
    if (sig == SIGINT) {
        CHECK(rc == 130 || rc == 1); /* 1: the run ended before the signal (a slow machine) */
        CHECK(!partial && manifest_is_json(mp));
        CHECK(test_run("find %s -name '.*' | grep -q .", o) != 0); /* no temporary file left */
    }
    CHECK(n < N_IMG + 1 || rc == 1);
    char *args2[] = {"examples/gradcam", (char *)model, p, "-q", "--method", "gradcam", "--resume", "--batch", (char *)b2,
                     "-o", o, NULL};
    rc = wait_status(spawn(args2));
    CHECK(rc == 1); /* the broken input */
    CHECK(manifest_is_json(mp));
    int nr;
    snprintf(p, sizeof p, "%s/ref/manifest.jsonl", dir);
    char **ref = read_lines(p, &nr, NULL), **got = read_lines(mp, &n, NULL);
    int same = ref && got && n == nr;
    for (int i = 0; same && i < n; i++) same = !strcmp(ref[i], got[i]);
    if (!same) FAILF("%s: the resumed manifest differs from the uninterrupted one", out);
    free_lines(ref);
    free_lines(got);
    /* every file equal (the gallery too: it leaves out the timing), none more or less */
    if (test_run("diff -r -x manifest.jsonl %s/ref %s > %s/diff.txt 2>&1", dir, o, dir))
        FAILF("%s: outputs differ from the uninterrupted run (%s/diff.txt)", out, dir);
}

TEST(interrupted_runs_resume_to_the_same_result) {
    interrupt_and_resume(SIGINT, 5, 0, "int", "8", "8");
    interrupt_and_resume(SIGKILL, 8, 0, "kill1", "8", "8");
    interrupt_and_resume(SIGKILL, 12, 7, "kill2", "8", "8");
    interrupt_and_resume(SIGKILL, 4, 3, "kill3", "3", "1"); /* other batches, other cuts */
    interrupt_and_resume(SIGINT, 2, 0, "int2", "1", "5");
    /* --resume of a complete run does nothing more; of another run's manifest: refused */
    CHECK(test_run("examples/gradcam %s %s/data " RUN_OPTS " --resume -o %s/int > %s/again.out 2>&1", model, dir, dir, dir) == 1);
    CHECK(test_run("grep -q 'already done' %s/again.out", dir) != 0); /* -q */
    CHECK(test_run("examples/gradcam %s %s/data " RUN_OPTS " -k 2 --resume -o %s/int > %s/other.err 2>&1", model, dir, dir, dir) == 1);
    CHECK(test_run("grep -q 'not the manifest of this run' %s/other.err", dir) == 0);
}

/* The fused map against the formula computed here: out = max over layers of tanh(2 M / max M)
 * (all but the deepest layer) or M / max M (the deepest), from each layer's layercam_up. */
TEST(layercam_fuse_matches_the_formula) {
    const char *layers[] = {"features.4", "features.7", "features.10"};
    char img[192], out[192], npy[256];
    snprintf(img, sizeof img, "%s/data/a/x.png", dir);
    snprintf(out, sizeof out, "%s/fuse", dir);
    int rc = test_run("examples/gradcam %s %s -c 3 --method layercam --layercam-fuse %s,%s,%s -q -o %s > /dev/null 2>&1",
                      model, img, layers[0], layers[1], layers[2], out);
    CHECK(rc == 0);
    snprintf(npy, sizeof npy, "%s/x_c3_layercam_fused.npy", out);
    gc_tensor got = {0};
    CHECK_OK(gc_npy_load(npy, &got));
    CHECK(test_run("ls %s/x_c3_layercam_fused.png > /dev/null", out) == 0);
    gc_model *m = NULL;
    gc_image im = {0};
    gc_tensor x = {0};
    gc_session *s = NULL;
    CHECK_OK(gc_model_open(model, &m));
    CHECK_OK(gc_image_load(img, NULL, &im));
    if (!m || !im.data || !got.data) goto done;
    CHECK_OK(gc_image_preprocess(&im, gc_model_preprocess(m), &x, NULL));
    const int64_t H = x.shape[2], W = x.shape[3], P = H * W;
    CHECK(got.ndim == 2 && got.shape[0] == H && got.shape[1] == W);
    const char *keep[] = {layers[0], layers[1], layers[2], NULL};
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W, .keep = keep};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    if (!s || got.ndim != 2) goto done;
    float *want = calloc((size_t)P, sizeof *want);
    for (int l = 0; l < 3; l++) {
        int cls = 3;
        gc_explain_request rq = {.target = GC_TARGET_CLASSES, .classes = &cls, .n_classes = 1, .layer = layers[l],
                                 .methods = GC_METHOD_LAYERCAM};
        gc_explain_result r;
        CHECK_OK(gc_explain(s, x.data, &rq, &r));
        const gc_tensor *up = gc_explanation_map(&r.items[0], "layercam_up");
        CHECK(up && gc_tensor_numel(up) == P);
        if (!up) break;
        double mx = 0;
        for (int64_t i = 0; i < P; i++) mx = up->data[i] > mx ? up->data[i] : mx;
        for (int64_t i = 0; i < P && mx > 0; i++) {
            double v = up->data[i] / mx;
            if (l < 2) v = tanh(2.0 * v);
            if (v > want[i]) want[i] = (float)v;
        }
    }
    double err = test_rel_err(got.data, want, P, 1e-6);
    printf("  fused Layer-CAM (3 layers): max relative error %.2g against the formula\n", err);
    CHECK(err <= 1e-6);
    free(want);
done:
    gc_tensor_release(&got);
    gc_tensor_release(&x);
    gc_image_release(&im);
    gc_session_free(s);
    gc_model_free(m);
}

/* The gallery opened by headless Chromium from file://: the filter (index.html#class=L
 * shows exactly the inputs predicted L) in the DOM after its script ran, and a screenshot
 * that shows the figures (many saturated pixels; the page itself is only grey and one green). */
TEST(gallery_in_chromium) {
    const char *chromium = NULL;
    if (!test_run("command -v chromium > /dev/null 2>&1")) chromium = "chromium";
    else if (!test_run("command -v chromium-browser > /dev/null 2>&1")) chromium = "chromium-browser";
    if (!chromium) {
        printf("  gallery test skipped: no chromium (Debian: apt-get install chromium)\n");
        return;
    }
    char p[256];
    int n;
    snprintf(p, sizeof p, "%s/ref/manifest.jsonl", dir);
    char **l = read_lines(p, &n, NULL);
    if (!l || n < 2) { FAILF("no manifest"); free_lines(l); return; }
    /* the first input's predicted class and how many inputs share it */
    char label[64] = "";
    const char *q = strstr(l[1], "\"predictions\": [{\"class\": ");
    const char *lb = q ? strstr(q, "\"label\": \"") : NULL;
    if (lb) sscanf(lb + 10, "%63[^\"]", label);
    char key[128];
    snprintf(key, sizeof key, "\"label\": \"%s\"", label);
    int want = 0;
    for (int i = 1; i < n; i++) {
        const char *pr = strstr(l[i], "\"predictions\": [{");
        const char *k = pr ? strstr(pr, "\"label\": \"") : NULL;
        want += k && !strncmp(k, key, strlen(key));
    }
    free_lines(l);
    CHECK(label[0] && want > 0);
    const char *flags = "--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run "
                        "--disable-dev-shm-usage --user-data-dir=%s/chromium-profile";
    char fl[256];
    snprintf(fl, sizeof fl, flags, dir);
    int rc = test_run("HOME=%s timeout 120 %s %s --dump-dom 'file://%s/ref/index.html#class=%s' > %s/dom.html 2> /dev/null",
                      dir, chromium, fl, dir, label, dir);
    CHECK(rc == 0);
    size_t len;
    char *raw = (char *)test_read_file(strcat(strcpy(p, dir), "/dom.html"), &len), *dom = raw ? calloc(len + 1, 1) : NULL;
    if (dom) memcpy(dom, raw, len); /* a C string: test_read_file's buffer is not terminated */
    free(raw);
    int shown = 0, hidden = 0;
    for (const char *c = dom; c && (c = strstr(c, "<section class=\"card\"")); c++) {
        const char *e = strchr(c, '>'), *h6 = strstr(c, "hidden");
        int h = e && h6 && h6 < e;
        hidden += h, shown += !h;
    }
    printf("  gallery #class=%s: %d shown, %d hidden (manifest: %d)\n", label, shown, hidden, want);
    CHECK(shown == want && shown + hidden == N_IMG);
    free(dom);
    rc = test_run("HOME=%s timeout 120 %s %s --window-size=1000,900 --screenshot=%s/shot.png 'file://%s/ref/index.html' "
                  "> /dev/null 2>&1", dir, chromium, fl, dir, dir);
    CHECK(rc == 0);
    gc_image shot = {0};
    snprintf(p, sizeof p, "%s/shot.png", dir);
    CHECK_OK(gc_image_load(p, NULL, &shot));
    if (!shot.data) return;
    CHECK(shot.width == 1000 && shot.height == 900 && shot.bit_depth == 8 && shot.channels >= 3);
    long colour = 0, dark = 0;
    const uint8_t *px = shot.data;
    for (long i = 0; i < (long)shot.width * shot.height; i++) {
        const uint8_t *c = px + i * shot.channels;
        int mx = c[0] > c[1] ? (c[0] > c[2] ? c[0] : c[2]) : (c[1] > c[2] ? c[1] : c[2]);
        int mn = c[0] < c[1] ? (c[0] < c[2] ? c[0] : c[2]) : (c[1] < c[2] ? c[1] : c[2]);
        colour += mx - mn > 96 && !(c[0] == 0x33 && c[1] == 0xaa && c[2] == 0x77);
        dark += mx < 64;
    }
    printf("  screenshot %dx%d: %ld saturated pixels (figures), %ld dark (text)\n", shot.width, shot.height, colour, dark);
    CHECK(colour > 20000 && dark > 500);
    gc_image_release(&shot);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/gc_batch_XXXXXX");
    setenv("OMP_NUM_THREADS", "1", 1); /* tiny images: threads only cost here */
    if (!mkdtemp(dir) || !getcwd(root, sizeof root)) { fprintf(stderr, "mkdtemp or getcwd failed\n"); return 1; }
    if (!fixtures()) FAILF("cannot write the fixtures: %s", gc_last_error());
    else {
        RUN(folder_names_and_manifest);
        RUN(lists_and_collisions);
        RUN(shards_make_the_whole_run);
        RUN(progress_bar_only_on_a_terminal);
        RUN(batches_give_the_single_call_results);
        RUN(interrupted_runs_resume_to_the_same_result);
        RUN(layercam_fuse_matches_the_formula);
        RUN(gallery_in_chromium);
    }
    if (!test_failed) test_run("rm -rf %s", dir);
    else printf("gradcam_batch: files left in %s\n", dir);
    return test_summary("gradcam_batch");
}
