/* train_shapes - trains a small VGG-style network on the synthetic shapes
 * dataset (gc_shapes_generate) with SGD + momentum and saves it as a .gcw
 * with class labels and preprocessing metadata. Deterministic for a seed.
 *
 *   ./examples/train_shapes --epochs 6 --seed 1 --out weights/shapes.gcw
 *
 * Network (torchvision-like names), input 3 x 64 x 64:
 *   features.0  conv 3->16 3x3 pad 1, .1 ReLU, .2 max-pool 2   -> 16 x 32 x 32
 *   features.3  conv 16->32,          .4 ReLU, .5 max-pool 2   -> 32 x 16 x 16
 *   features.6  conv 32->64,          .7 ReLU, .8 max-pool 2   -> 64 x 8 x 8
 *   features.9  conv 64->64,          .10 ReLU (Grad-CAM layer) -> 64 x 8 x 8
 *   avgpool     adaptive average pool to 1 x 1, flatten
 *   classifier.0 linear 64->6 (--hidden 0, the default), or
 *   classifier.0 linear 64->H, .1 ReLU, .2 linear H->6 (--hidden H)
 * Every epoch trains on train-size fresh images (indices epoch * train-size
 * + i of the training seed) and tests on test-size images of another seed. */
#include "gradcam.h"
#include "common/cli.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A library failure, printed as one line; returns 1 (functions below return 0 or 1 and leave
 * freeing to main, so that every exit path frees everything). */
static int lib_fail(gc_status st) {
    cli_error("train_shapes", "%s: %s", gc_status_string(st), gc_last_error());
    return 1;
}
#define TRY(call) do { gc_status st_ = (call); if (st_ != GC_OK) return lib_fail(st_); } while (0)

enum { S = 64, C = 3, K = GC_SHAPES_CLASSES };
static const float MEAN = 0.5f, STD = 0.25f;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f) {
    fprintf(f, "usage: train_shapes [--epochs N] [--seed S] [--out FILE] [--train-size N] [--test-size N]\n"
               "                    [--batch N] [--lr X] [--pairs-every N] [--hidden N] [--quiet]\n"
               "                    [--samples DIR]\n"
               "Trains a small VGG-style CNN on the synthetic shapes dataset (%d classes, %dx%d RGB)\n"
               "with SGD (momentum 0.9, weight decay 5e-4, cosine learning rate) and saves a .gcw.\n"
               "defaults: --epochs 8 --seed 1 --out shapes.gcw --train-size 9600 --test-size 1200\n"
               "          --batch 32 --lr 0.1 --pairs-every 4 --hidden 0\n"
               "--hidden N: a hidden fully connected layer of N units in the head (0: none,\n"
               "               global average pooling straight into the 6-way linear layer).\n"
               "--pairs-every N: every Nth training image shows two objects, learnt with the\n"
               "               soft target 1/2, 1/2 (0: none).\n"
               "--samples DIR: only write 6 one-object and 3 two-object test images (PNG) and\n"
               "               DIR/shapes.csv (image,class,x0,y0,x1,y1), no training.\n"
               "ranges: --epochs 1..100000, --train-size and --test-size 1..100000000 (train-size\n"
               "        >= batch), --batch 1..4096, --hidden 0..4096, --pairs-every 0..1000000,\n"
               "        --seed 0..2^64-1 (whole decimal numbers), --lr > 0 and < 1e30.\n"
               "The folder of --out must be writable (checked before training).\n", K, S, S);
}

/* Deterministic uniform in [-b, b) (splitmix64). */
static float uniform_pm(uint64_t *state, float b) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((float)(z >> 40) / 16777216.0f * 2.0f - 1.0f) * b;
}

/* He (Kaiming) uniform init, bound sqrt(6 / fan_in), zero biases: PyTorch's
 * default (bound 1/sqrt(fan_in)) is too small to start a 6-layer ReLU net
 * without batch norm quickly. The output layer keeps 1/sqrt(fan_in). */
static float *he_init(uint64_t *state, int64_t n, int64_t fan_in, int last) {
    float *w = malloc((size_t)n * sizeof(float));
    float b = last ? 1.0f / sqrtf((float)fan_in) : sqrtf(6.0f / (float)fan_in);
    for (int64_t i = 0; w && i < n; i++) w[i] = uniform_pm(state, b);
    return w;
}

static gc_status build(gc_model **out, uint64_t seed, int hidden) {
    gc_model *m;
    gc_status st = gc_model_create(&m);
    if (st) return st;
    uint64_t rs = seed * 0x2545F4914F6CDD1Dull + 1;
    static const int chans[5] = {3, 16, 32, 64, 64};
    char name[32];
    int idx = 0;
    gc_pool2d_params pool = gc_pool2d_defaults(2);
    for (int b = 0; b < 4 && !st; b++) {
        gc_conv2d_params cp = gc_conv2d_defaults(chans[b], chans[b + 1], 3);
        cp.pad_h = cp.pad_w = 1;
        snprintf(name, sizeof name, "features.%d", idx++);
        float *w = he_init(&rs, (int64_t)chans[b + 1] * chans[b] * 9, chans[b] * 9, 0);
        if (!w) st = GC_ERR_OUT_OF_MEMORY;
        if (!st) st = gc_model_add_conv2d(m, name, NULL, &cp, w, NULL);
        free(w);
        if (st) break;
        snprintf(name, sizeof name, "features.%d", idx++);
        if ((st = gc_model_add_relu(m, name, NULL))) break;
        if (b < 3) {
            snprintf(name, sizeof name, "features.%d", idx++);
            st = gc_model_add_maxpool2d(m, name, NULL, &pool);
        }
    }
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params fc1 = {64, hidden, 1}, fc2 = {hidden ? hidden : 64, K, 1};
    float *w1 = hidden ? he_init(&rs, 64 * (int64_t)hidden, 64, 0) : NULL;
    float *w2 = he_init(&rs, fc2.in_features * K, fc2.in_features, 1);
    if ((hidden && !w1) || !w2) st = GC_ERR_OUT_OF_MEMORY;
    if (!st) st = gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap);
    if (!st) st = gc_model_add_flatten(m, "flatten", NULL);
    if (!st && hidden) st = gc_model_add_linear(m, "classifier.0", NULL, &fc1, w1, NULL);
    if (!st && hidden) st = gc_model_add_relu(m, "classifier.1", NULL);
    if (!st) st = gc_model_add_linear(m, hidden ? "classifier.2" : "classifier.0", NULL, &fc2, w2, NULL);
    free(w1);
    free(w2);
    const char *labels[K];
    for (int k = 0; k < K; k++) labels[k] = gc_shapes_class_name(k);
    if (!st) st = gc_model_set_labels(m, K, labels);
    gc_preprocess pre = {S, S, 0, GC_COLOR_RGB, 1.0f / 255.0f, {MEAN, MEAN, MEAN}, {STD, STD, STD}};
    if (!st) st = gc_model_set_preprocess(m, &pre);
    if (st) { gc_model_free(m); return st; }
    *out = m;
    return GC_OK;
}

/* Fills a batch (n x 3 x S x S, normalised) with images first..first+n-1;
 * image i shows two objects when pairs_every > 0 and i % pairs_every == 0
 * (labels: a[i] and b[i]), else one (a[i] == b[i]). */
static gc_status fill(uint64_t seed, uint64_t first, int n, int pairs_every, float *x, int *a, int *b) {
    gc_shapes_info info;
    for (int i = 0; i < n; i++) {
        float *xi = x + (size_t)i * C * S * S;
        uint64_t idx = first + (uint64_t)i;
        int two = pairs_every > 0 && idx % (uint64_t)pairs_every == 0;
        gc_status st = gc_shapes_generate(seed, idx, two ? 2 : 1, S, S, xi, NULL, &info);
        if (st) return st;
        for (int k = 0; k < C * S * S; k++) xi[k] = (xi[k] - MEAN) / STD;
        a[i] = info.label[0];
        b[i] = two ? info.label[1] : info.label[0];
    }
    return GC_OK;
}

/* Writes 6 one-object images (one of each class) and 3 two-object images of
 * the test seed as PNG into dir, with shapes.csv (image,class,x0,y0,x1,y1). */
static int write_samples(const char *dir, uint64_t seed, FILE **csv) {
    static float x[C * S * S];
    gc_image img = {0};
    gc_shapes_info in;
    char path[1024], q[256];
    snprintf(path, sizeof path, "%s/shapes.csv", dir);
    if (!(*csv = fopen(path, "w"))) {
        cli_error("train_shapes", "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno));
        return 1;
    }
    fprintf(*csv, "image,class,x0,y0,x1,y1\n");
    for (int i = 0; i < 9; i++) {
        int two = i >= 6, idx = two ? i - 6 : i;
        TRY(gc_shapes_generate(seed, (uint64_t)idx, two ? 2 : 1, S, S, x, NULL, &in));
        TRY(gc_image_alloc(&img, S, S, 3, 8));
        uint8_t *px = img.data;
        for (int p = 0; p < S * S; p++)
            for (int c = 0; c < 3; c++) px[p * 3 + c] = (uint8_t)(x[c * S * S + p] * 255.0f + 0.5f);
        char name[128];
        if (two) snprintf(name, sizeof name, "pair%d_%s_%s.png", idx, gc_shapes_class_name(in.label[0]),
                          gc_shapes_class_name(in.label[1]));
        else snprintf(name, sizeof name, "shape%d_%s.png", idx, gc_shapes_class_name(in.label[0]));
        snprintf(path, sizeof path, "%s/%s", dir, name);
        gc_status st = gc_image_save_png(&img, path);
        gc_image_release(&img);
        if (st) return lib_fail(st);
        for (int k = 0; k < in.n_objects; k++)
            fprintf(*csv, "%s,%s,%d,%d,%d,%d\n", name, gc_shapes_class_name(in.label[k]), in.box[k].x0,
                    in.box[k].y0, in.box[k].x1, in.box[k].y1);
        printf("wrote %s\n", cli_q(q, sizeof q, path));
    }
    FILE *f = *csv;
    *csv = NULL;
    if (ferror(f) | fclose(f)) {
        cli_error("train_shapes", "%s/shapes.csv: write failed", cli_q(q, sizeof q, dir));
        return 1;
    }
    return 0;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

typedef struct options {
    int epochs, train_size, test_size, batch, quiet, pairs_every, hidden;
    uint64_t seed;
    float lr0;
    const char *out, *samples;
} options;

/* 0: parsed, 2: usage error (printed), -1: --help */
static int parse_args(int argc, char **argv, options *o) {
    char q[128];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        struct { const char *name; int *dst, lo, hi; } ints[] = {
            {"--epochs", &o->epochs, 1, 100000}, {"--train-size", &o->train_size, 1, 100000000},
            {"--test-size", &o->test_size, 1, 100000000}, {"--batch", &o->batch, 1, 4096},
            {"--pairs-every", &o->pairs_every, 0, 1000000}, {"--hidden", &o->hidden, 0, 4096}};
        int k = 0, n_ints = (int)(sizeof ints / sizeof ints[0]);
        while (k < n_ints && strcmp(a, ints[k].name)) k++;
        int known = k < n_ints || !strcmp(a, "--seed") || !strcmp(a, "--out") || !strcmp(a, "--lr") ||
                    !strcmp(a, "--samples");
        if (!known) { cli_error("train_shapes", "unknown option %s (try --help)", cli_q(q, sizeof q, a)); return 2; }
        if (!v) { cli_error("train_shapes", "%s needs a value (try --help)", a); return 2; }
        i++;
        if (k < n_ints) {
            if (!cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].dst)) {
                cli_error("train_shapes", "%s takes an integer in %d..%d, got \"%s\"", a, ints[k].lo, ints[k].hi,
                          cli_q(q, sizeof q, v));
                return 2;
            }
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_u64(v, &o->seed)) {
                cli_error("train_shapes", "--seed takes an integer in 0..2^64-1, got \"%s\"", cli_q(q, sizeof q, v));
                return 2;
            }
        } else if (!strcmp(a, "--lr")) { /* gc_sgd's rule: 0 < lr < 1e30 */
            if (!cli_parse_float(v, 0, 0, 1e30, &o->lr0) || !(o->lr0 > 0) || !(o->lr0 < 1e30f)) {
                cli_error("train_shapes", "--lr takes a number > 0 and < 1e30, got \"%s\"", cli_q(q, sizeof q, v));
                return 2;
            }
        } else if (!strcmp(a, "--out")) o->out = v;
        else o->samples = v;
    }
    if (o->train_size < o->batch) {
        cli_error("train_shapes", "--train-size %d is smaller than --batch %d", o->train_size, o->batch);
        return 2;
    }
    if ((int64_t)(o->train_size / o->batch) * o->epochs > INT_MAX) {
        cli_error("train_shapes", "%d epochs of %d steps are too many (at most %d steps)", o->epochs,
                  o->train_size / o->batch, INT_MAX);
        return 2;
    }
    return 0;
}

/* The model can be saved at out: its folder exists and is writable and out is not a folder.
 * Checked before training, so that a long run does not end in an unwritable place. */
static int check_out(const char *out) {
    char dir[4096], q[256];
    struct stat sb;
    const char *slash = strrchr(out, '/');
    if (slash && (size_t)(slash - out) < sizeof dir) {
        memcpy(dir, out, (size_t)(slash - out));
        dir[slash - out] = 0;
        if (!dir[0]) strcpy(dir, "/");
    } else {
        strcpy(dir, ".");
    }
    if (access(dir, W_OK | X_OK)) {
        cli_error("train_shapes", "cannot write %s: %s", cli_q(q, sizeof q, out), strerror(errno));
        return 0;
    }
    if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        cli_error("train_shapes", "cannot write %s: it is a folder", cli_q(q, sizeof q, out));
        return 0;
    }
    return 1;
}

/* What a training run holds; main frees it on every path. */
typedef struct run_state {
    gc_model   *m;
    gc_session *s;
    gc_sgd     *opt;
    float      *x, *g, *g2; /* (batch, C, S, S), (batch, K), (batch, K) */
    int        *labels, *labels2; /* (batch) */
} run_state;

static int train(const options *o, run_state *r) {
    const int batch = o->batch, epochs = o->epochs, train_size = o->train_size, test_size = o->test_size,
              pairs_every = o->pairs_every, quiet = o->quiet;
    const float lr0 = o->lr0;
    const uint64_t seed = o->seed, train_seed = seed, test_seed = seed + 1000003;
    TRY(build(&r->m, seed, o->hidden));
    gc_session_config cfg = {.batch = batch, .channels = C, .height = S, .width = S, .param_grads = 1};
    TRY(gc_session_create(r->m, &cfg, &r->s));
    gc_sgd_params sp = {lr0, 0.9f, 5e-4f, 0};
    TRY(gc_sgd_create(r->m, &sp, &r->opt));
    gc_session *s = r->s;
    float *x = r->x = malloc((size_t)batch * C * S * S * sizeof(float)), *g = r->g = malloc((size_t)batch * K * sizeof(float));
    float *g2 = r->g2 = malloc((size_t)batch * K * sizeof(float));
    int *labels = r->labels = malloc((size_t)batch * sizeof(int)), *labels2 = r->labels2 = malloc((size_t)batch * sizeof(int));
    if (!x || !g || !g2 || !labels || !labels2) { cli_error("train_shapes", "out of memory"); return 1; }
    printf("train_shapes: %lld parameters, batch %d, %d train images/epoch (1 in %d with two objects), "
           "%d test images, seed %llu\n", (long long)gc_model_param_count(r->m), batch, train_size, pairs_every,
           test_size, (unsigned long long)seed);

    const int steps_per_epoch = train_size / batch, total = steps_per_epoch * epochs;
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
    gc_tensor y;
    double t_all = now();
    float test_acc = 0;
    for (int e = 0; e < epochs; e++) {
        double t0 = now(), loss_sum = 0;
        int right = 0;
        for (int it = 0; it < steps_per_epoch; it++) {
            int step = e * steps_per_epoch + it;
            /* cosine schedule with a short linear warm-up */
            float lr = lr0 * 0.5f * (1.0f + cosf(3.14159265f * (float)step / (float)total));
            if (step < steps_per_epoch / 2) lr *= (float)(step + 1) / (float)(steps_per_epoch / 2);
            TRY(gc_sgd_set_lr(r->opt, lr > 1e-6f ? lr : 1e-6f));
            TRY(fill(train_seed, (uint64_t)step * (uint64_t)batch, batch, pairs_every, x, labels, labels2));
            TRY(gc_session_forward(s, x));
            TRY(gc_session_output(s, &y));
            for (int i = 0; i < batch; i++) {
                int p = argmax(y.data + i * K, K);
                right += p == labels[i] || p == labels2[i];
            }
            /* soft target (1/2, 1/2) on pairs: the mean of the two losses and gradients */
            float loss, loss2;
            TRY(gc_loss_softmax_xent(y.data, batch, K, labels, &loss, g));
            TRY(gc_loss_softmax_xent(y.data, batch, K, labels2, &loss2, g2));
            for (int i = 0; i < batch * K; i++) g[i] = 0.5f * (g[i] + g2[i]);
            loss_sum += 0.5 * ((double)loss + loss2);
            TRY(gc_session_backward(s, g, &bo));
            TRY(gc_sgd_step(r->opt, s));
            if (!quiet && (it % 16 == 15 || it == steps_per_epoch - 1)) {
                cli_progress("train_shapes", "epoch %d: step %d/%d, loss %.4f", e + 1, it + 1, steps_per_epoch,
                             loss_sum / (it + 1));
                fflush(stderr);
            }
        }
        double t_train = now() - t0;
        /* test accuracy (last partial batch: only its first images count) */
        int test_right = 0;
        for (int i = 0; i < test_size; i += batch) {
            int n = test_size - i < batch ? test_size - i : batch;
            TRY(fill(test_seed, (uint64_t)i, batch, 0, x, labels, labels2));
            TRY(gc_session_forward(s, x));
            TRY(gc_session_output(s, &y));
            for (int j = 0; j < n; j++) test_right += argmax(y.data + j * K, K) == labels[j];
        }
        test_acc = (float)test_right / (float)test_size;
        cli_progress_end();
        printf("epoch %d/%d: loss %.4f, train acc %.2f%%, test acc %.2f%%  (%.1f s train, %.1f s test)\n", e + 1,
               epochs, loss_sum / steps_per_epoch, 100.0 * right / (steps_per_epoch * batch), 100.0 * test_acc,
               t_train, now() - t0 - t_train);
        fflush(stdout);
    }
    printf("total %.1f s; final test accuracy %.2f%%\n", now() - t_all, 100.0 * test_acc);
    TRY(gc_model_save(r->m, o->out));
    char q[256];
    printf("saved %s\n", cli_q(q, sizeof q, o->out));
    return 0;
}

int main(int argc, char **argv) {
    options o = {8, 9600, 1200, 32, 0, 4, 0, 1, 0.1f, "shapes.gcw", NULL};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        if (rc < 0) usage(stdout);
        return rc < 0 ? 0 : 2;
    }
    if (o.samples) {
        FILE *csv = NULL;
        rc = write_samples(o.samples, o.seed + 1000003, &csv);
        if (csv) fclose(csv);
        return rc;
    }
    if (!check_out(o.out)) return 1;
    run_state r = {0};
    rc = train(&o, &r);
    gc_session_free(r.s);
    gc_sgd_free(r.opt);
    gc_model_free(r.m);
    free(r.x);
    free(r.g);
    free(r.g2);
    free(r.labels);
    free(r.labels2);
    return rc;
}
