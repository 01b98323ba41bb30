/* train_fashion - trains the VGG-style network of examples/common/fashion.h on Fashion-MNIST
 * (60,000 training images, Debian package dataset-fashion-mnist) with SGD + momentum, a cosine
 * learning rate and shift/flip augmentation, reports the accuracy on the 10,000 test images
 * and saves a .gcw with the class names. Deterministic for a seed (any thread count).
 *
 *   OMP_NUM_THREADS=2 ./examples/train_fashion --out weights/fashion.gcw
 *   ./examples/train_fashion --samples examples/data/fashion   # the demo's test images
 */
#include "gradcam.h"
#include "common/cli.h"
#include "common/fashion.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "train_fashion"

static void usage(FILE *f) {
    fprintf(f, "usage: train_fashion [--data DIR] [--out FILE] [--epochs N] [--seed S] [--width C] [--batch N]\n"
               "                     [--lr X] [--wd X] [--shift N] [--flip 0|1] [--subset N] [--test-subset N]\n"
               "                     [--eval-every N] [--quiet] | --samples DIR\n"
               "Trains a VGG-style CNN (6 conv layers of C, C, 2C, 2C, 4C, 4C channels, global average\n"
               "pooling, one linear layer) on Fashion-MNIST and saves a .gcw.\n"
               "defaults: --data " FASHION_DIR " --out fashion.gcw --epochs 12 --seed 1 --width 24\n"
               "          --batch 64 --lr 0.05 --wd 5e-4 --shift 1 --flip 1 --eval-every 1\n"
               "--subset N / --test-subset N: the first N training / test images only (0: all).\n"
               "--samples DIR: write a dozen test images as PNG (the first of each class and two\n"
               "          more) and DIR/fashion.csv (image,class,x0,y0,x1,y1), no training.\n"
               "ranges: --epochs 1..1000, --width 1..256, --batch 1..4096, --shift 0..8,\n"
               "        --subset, --test-subset 0..60000, --eval-every 0..1000 (test accuracy every N\n"
               "        epochs; 0: only the final one), --seed 0..2^64-1, --lr > 0 and <= 10, --wd 0..1.\n"
               "The same options give the same .gcw, bit for bit, for any OMP_NUM_THREADS.\n");
}

static int write_samples(const char *data, const char *dir) {
    fashion_set t;
    char q[256], path[4096];
    if (!fashion_load(PROG, data, 0, &t)) return 1;
    int rc = 1, picked = 0;
    int64_t pick[12];
    int seen[FASHION_CLASSES] = {0};
    for (int64_t i = 0; i < t.n && picked < FASHION_CLASSES; i++)
        if (!seen[t.labels[i]]) { seen[t.labels[i]] = 1; pick[picked++] = i; }
    pick[picked++] = 10; /* two more: the 11th and 12th test images of their classes */
    pick[picked++] = 11;
    snprintf(path, sizeof path, "%s/fashion.csv", dir);
    FILE *csv = fopen(path, "w");
    if (!csv) { cli_error(PROG, "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno)); goto done; }
    fprintf(csv, "image,class,x0,y0,x1,y1\n");
    for (int k = 0; k < picked; k++) {
        int64_t i = pick[k];
        gc_image img;
        if (gc_image_alloc(&img, FASHION_SIDE, FASHION_SIDE, 1, 8)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
        memcpy(img.data, t.pixels + i * FASHION_SIDE * FASHION_SIDE, FASHION_SIDE * FASHION_SIDE);
        char name[128], cls[32];
        int c = t.labels[i], j = 0;
        for (const char *p = fashion_class_names[c]; *p && j < 31; p++) /* file-name safe */
            cls[j++] = (*p == '/' || *p == ' ') ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        cls[j] = 0;
        snprintf(name, sizeof name, "fashion%05lld_%s.png", (long long)i, cls);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        gc_status st = gc_image_save_png(&img, path);
        gc_box b = {FASHION_SIDE, FASHION_SIDE, -1, -1, 0};
        const uint8_t *px = img.data;
        for (int r = 0; r < FASHION_SIDE; r++)
            for (int x = 0; x < FASHION_SIDE; x++)
                if (px[r * FASHION_SIDE + x]) {
                    if (x < b.x0) b.x0 = x;
                    if (x > b.x1) b.x1 = x;
                    if (r < b.y0) b.y0 = r;
                    if (r > b.y1) b.y1 = r;
                }
        gc_image_release(&img);
        if (st) { cli_error(PROG, "%s", gc_last_error()); goto done; }
        fprintf(csv, "%s,%d,%d,%d,%d,%d\n", name, c, b.x0, b.y0, b.x1, b.y1);
        printf("wrote %s (%s)\n", cli_q(q, sizeof q, path), fashion_class_names[c]);
    }
    rc = 0;
done:
    if (csv && (ferror(csv) | fclose(csv)) && !rc) { cli_error(PROG, "fashion.csv: write failed"); rc = 1; }
    fashion_release(&t);
    return rc;
}

int main(int argc, char **argv) {
    fashion_train_opts o = {.epochs = 12, .batch = 64, .width = 24, .shift = 1, .flip = 1, .eval_every = 1,
                            .lr = 0.05f, .weight_decay = 5e-4f, .seed = 1};
    const char *data = FASHION_DIR, *out = "fashion.gcw", *samples = NULL;
    int test_subset = 0;
    char q[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--quiet")) { o.quiet = 1; continue; }
        int sub = 0, ok;
        struct { const char *name; int *dst, lo, hi; } ints[] = {
            {"--epochs", &o.epochs, 1, 1000}, {"--width", &o.width, 1, 256}, {"--batch", &o.batch, 1, 4096},
            {"--shift", &o.shift, 0, 8}, {"--flip", &o.flip, 0, 1}, {"--subset", &sub, 0, 60000},
            {"--test-subset", &test_subset, 0, 60000}, {"--eval-every", &o.eval_every, 0, 1000}};
        int k = 0, n_ints = (int)(sizeof ints / sizeof ints[0]);
        while (k < n_ints && strcmp(a, ints[k].name)) k++;
        int known = k < n_ints || !strcmp(a, "--seed") || !strcmp(a, "--out") || !strcmp(a, "--lr") ||
                    !strcmp(a, "--wd") || !strcmp(a, "--data") || !strcmp(a, "--samples");
        if (!known) { cli_error(PROG, "unknown option %s (try --help)", cli_q(q, sizeof q, a)); return 2; }
        if (!v) { cli_error(PROG, "%s needs a value (try --help)", a); return 2; }
        i++;
        if (k < n_ints) ok = cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].dst);
        else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &o.seed);
        else if (!strcmp(a, "--lr")) ok = cli_parse_float(v, 0, 1e-9, 10, &o.lr);
        else if (!strcmp(a, "--wd")) ok = cli_parse_float(v, 0, 0, 1, &o.weight_decay);
        else { ok = 1; if (!strcmp(a, "--out")) out = v; else if (!strcmp(a, "--data")) data = v; else samples = v; }
        if (!ok) { cli_error(PROG, "bad value \"%s\" for %s (try --help)", cli_q(q, sizeof q, v), a); return 2; }
        if (!strcmp(a, "--subset")) o.subset = sub;
    }
    if (samples) return write_samples(data, samples);
    /* the output's folder must be writable before a long run */
    {
        char dir[4096];
        const char *slash = strrchr(out, '/');
        size_t n = slash ? (size_t)(slash - out) : 0;
        if (n >= sizeof dir) n = sizeof dir - 1;
        memcpy(dir, out, n);
        dir[n] = 0;
        if (access(slash ? (n ? dir : "/") : ".", W_OK | X_OK)) {
            cli_error(PROG, "cannot write %s: %s", cli_q(q, sizeof q, out), strerror(errno));
            return 1;
        }
    }
    fashion_set tr, te;
    if (!fashion_load(PROG, data, 1, &tr)) return 1;
    if (!fashion_load(PROG, data, 0, &te)) { fashion_release(&tr); return 1; }
    if (test_subset > 0 && test_subset < te.n) te.n = test_subset;
    o.test = &te;
    gc_model *m = NULL;
    int rc = 1;
    double acc = 0;
    if (fashion_train(PROG, &tr, &o, &m) && fashion_accuracy(PROG, m, &te, 0, NULL, NULL, &acc)) {
        printf("test accuracy %.2f%% on %lld images\n", 100 * acc, (long long)te.n);
        if (gc_model_save(m, out)) cli_error(PROG, "%s", gc_last_error());
        else { printf("saved %s\n", cli_q(q, sizeof q, out)); rc = 0; }
    }
    gc_model_free(m);
    fashion_release(&tr);
    fashion_release(&te);
    return rc;
}
