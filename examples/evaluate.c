/* evaluate - measures how well explanations localise and how faithful they
 * are, the way the Grad-CAM paper (sec. 4) and RISE do, with a model and a
 * labelled image set:
 *   - the synthetic shapes test set (default: --n one-object images and
 *     --n2 two-object images of seed --seed, at the model's input size), or
 *   - --csv FILE: rows "image,class,x0,y0,x1,y1" (class an index or label,
 *     inclusive box in original-image pixels, image paths relative to FILE).
 * For every image it runs the methods of --methods (default Grad-CAM and guided
 * backprop; all: every gc_explain method) for the true class (and the predicted
 * one when they differ), one gc_explain per method (timed), and scores each
 * method's map at the input (a C x H x W map as the max over channels of
 * |value|) next to the centre baseline (a centred Gaussian, sigma = 1/4 of the
 * shorter side) and a seeded random map. Writes <out>/report.json and prints a
 * table (with --methods: a row per method).
 *
 *   ./examples/evaluate --model weights/shapes.gcw --n 300 --n2 100 --out eval-out
 *   ./examples/evaluate --model weights/shapes.gcw --methods all --out eval-out
 */
#include "gradcam.h"
#include "common/cli.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Every failure returns its status up to main, which prints it once and frees everything. */
#define TRY(call) do { gc_status st_ = (call); if (st_ != GC_OK) return st_; } while (0)

/* The maps scored: the methods asked for, then the two baselines (set once in main). */
#define MAXM 40
static int NM, NMETH; /* maps, methods among them */
static const gc_method_info *minfo[MAXM];
static const char *mkey[MAXM], *mtitle[MAXM];

typedef struct { double sum, sq; long n; } acc;
static void add(acc *a, double v) { a->sum += v; a->sq += v * v; a->n++; }
static double mean(const acc *a) { return a->n ? a->sum / (double)a->n : NAN; }
static double sem(const acc *a) { /* standard error of the mean */
    if (a->n < 2) return NAN;
    double m = mean(a), var = (a->sq - (double)a->n * m * m) / (double)(a->n - 1);
    return sqrt(var > 0 ? var : 0) / sqrt((double)a->n);
}

typedef struct {
    acc pointing[MAXM], pointing2[MAXM], loc_err[MAXM], iou[MAXM], rank[MAXM], del[MAXM], ins[MAXM], secs[MAXM];
    acc accuracy;
} results;

typedef struct {
    const char *model_path, *csv, *out, *methods;
    int n, n2, occ_images, curve_images, patch, stride, steps, quiet;
    uint64_t seed;
    int input_h, input_w; /* --input-size; 0: the model's */
} options;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void progress(const options *o, int done, int total, double t0) {
    if (o->quiet) return;
    char bar[31];
    int w = 30, fill = total ? done * w / total : w;
    double el = now() - t0, eta = done ? el / done * (total - done) : 0;
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    cli_progress("evaluate", "[%s] %d/%d images  %.0f s elapsed, %.0f s left", bar, done, total, el, eta);
    if (done == total) cli_progress_end();
    fflush(stderr);
}

/* ----------------------------------------------------------------- maps */

/* Saliency of a C x H x W gradient: max over channels of |g|. */
static void saliency(const gc_tensor *g, float *out) {
    int64_t C = g->shape[0], P = g->shape[1] * g->shape[2];
    for (int64_t i = 0; i < P; i++) {
        float m = 0;
        for (int64_t c = 0; c < C; c++) m = fmaxf(m, fabsf(g->data[c * P + i]));
        out[i] = m;
    }
}

/* Box blur (radius r, twice) of a C x H x W image: RISE's insertion start. */
static void blur(const float *src, int C, int H, int W, int r, float *dst, float *tmp) {
    memcpy(dst, src, (size_t)C * H * W * sizeof(float));
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < C; c++) {
            float *p = dst + (size_t)c * H * W;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double s = 0; int n = 0;
                    for (int d = -r; d <= r; d++) if (x + d >= 0 && x + d < W) { s += p[y * W + x + d]; n++; }
                    tmp[y * W + x] = (float)(s / n);
                }
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double s = 0; int n = 0;
                    for (int d = -r; d <= r; d++) if (y + d >= 0 && y + d < H) { s += tmp[(y + d) * W + x]; n++; }
                    p[y * W + x] = (float)(s / n);
                }
        }
}

/* ------------------------------------------------------------ one image */

typedef struct {
    gc_model *m;
    gc_session *ex, *run;   /* explain (batch 1), occlusion/curves (batch steps + 1) */
    int C, H, W, classes;
    float *maps[MAXM], *occ, *curve, *base, *tmp, *cam_pred; /* maps: (2, H, W) a map per target */
} context;

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

/* Every method on x for rq's targets (at most 2), one timed gc_explain each; target j's map
 * of method k into cx->maps[k] + j H W, then the baselines (random seeds rseed + j). The
 * predicted class into *pred. */
static gc_status run_methods(context *cx, results *r, const float *x, gc_explain_request rq, uint64_t rseed, int *pred) {
    const int64_t P = (int64_t)cx->H * cx->W;
    gc_explain_result res;
    for (int k = 0; k < NMETH; k++) {
        rq.methods = minfo[k]->bit;
        double t0 = now();
        TRY(gc_explain(cx->ex, x, &rq, &res));
        add(&r->secs[k], now() - t0);
        if (k == 0) *pred = argmax(res.logits.data, cx->classes);
        for (int j = 0; j < res.count && j < 2; j++) {
            const gc_tensor *t = gc_explanation_map(&res.items[j], minfo[k]->map);
            if (!t) return GC_ERR_STATE; /* cannot happen: every method fills its map */
            if (t->ndim == 3) saliency(t, cx->maps[k] + j * P);
            else memcpy(cx->maps[k] + j * P, t->data, (size_t)P * sizeof(float));
        }
    }
    for (int j = 0; j < 2; j++) {
        TRY(gc_eval_center_map(cx->H, cx->W, 0.25, cx->maps[NMETH] + j * P));
        TRY(gc_eval_random_map(cx->H, cx->W, rseed + (uint64_t)j, cx->maps[NMETH + 1] + j * P));
    }
    return GC_OK;
}

/* One object of class gt in box on input x (normalised, C x H x W). */
static gc_status eval_single(context *cx, const options *o, results *r, const float *x, int gt, const gc_box *box,
                             int index) {
    const int H = cx->H, W = cx->W;
    const double tol = gc_eval_pointing_tolerance(H, W);
    gc_explain_request rq = {.target = GC_TARGET_CLASS, .class_index = gt};
    int pred;
    TRY(run_methods(cx, r, x, rq, (uint64_t)index + 1, &pred));
    add(&r->accuracy, pred == gt);
    for (int k = 0; k < NM; k++) {
        int hit;
        TRY(gc_eval_pointing(cx->maps[k], H, W, box, tol, &hit));
        add(&r->pointing[k], hit);
    }
    /* faithfulness for the true class */
    if (index < o->occ_images) {
        gc_occlusion_params op = {o->patch, o->stride, 0.0f, 0};
        TRY(gc_eval_occlusion(cx->run, x, gt, &op, cx->occ));
        for (int k = 0; k < NM; k++) {
            double rho;
            TRY(gc_eval_spearman(cx->maps[k], cx->occ, (int64_t)H * W, &rho));
            add(&r->rank[k], rho);
        }
    }
    if (index < o->curve_images) {
        blur(x, cx->C, H, W, 4, cx->base, cx->tmp);
        for (int k = 0; k < NM; k++) {
            double a;
            TRY(gc_eval_curve(cx->run, GC_EVAL_DELETION, x, NULL, cx->maps[k], gt, o->steps, cx->curve, &a));
            add(&r->del[k], a);
            TRY(gc_eval_curve(cx->run, GC_EVAL_INSERTION, x, cx->base, cx->maps[k], gt, o->steps, cx->curve, &a));
            add(&r->ins[k], a);
        }
    }
    /* top-1 localisation: the predicted class's map, correct class and IoU >= 0.5 */
    if (pred != gt) {
        rq.class_index = pred;
        TRY(run_methods(cx, r, x, rq, (uint64_t)index + 1, &pred));
    }
    for (int k = 0; k < NM; k++) {
        double iou;
        int ok;
        TRY(gc_eval_localization(cx->maps[k], H, W, box, 1, &iou, &ok));
        add(&r->iou[k], iou);
        add(&r->loc_err[k], !(ok && pred == gt));
    }
    return GC_OK;
}

/* Two objects: each class's maps against its own box. */
static gc_status eval_pair(context *cx, results *r, const float *x, const gc_shapes_info *in, int index) {
    const double tol = gc_eval_pointing_tolerance(cx->H, cx->W);
    int cls[2] = {in->label[0], in->label[1]};
    gc_explain_request rq = {.target = GC_TARGET_CLASSES, .classes = cls, .n_classes = 2};
    int pred;
    TRY(run_methods(cx, r, x, rq, (uint64_t)index * 2 + 1000001, &pred));
    for (int j = 0; j < 2; j++) {
        for (int k = 0; k < NM; k++) {
            int hit;
            TRY(gc_eval_pointing(cx->maps[k] + (size_t)j * cx->H * cx->W, cx->H, cx->W, &in->box[j], tol, &hit));
            add(&r->pointing2[k], hit);
        }
    }
    return GC_OK;
}

/* ------------------------------------------------------------ CSV input */

typedef struct { char path[1024]; int cls; gc_box box; } csv_row;

/* The rows of file into *rows_out (free()); their count, or -1 after printing why. */
static int read_csv(const char *file, const gc_model *m, csv_row **rows_out) {
    char q[256], qc[256];
    *rows_out = NULL;
    FILE *f = fopen(file, "r");
    if (!f) { cli_error("evaluate", "cannot open %s: %s", cli_q(q, sizeof q, file), strerror(errno)); return -1; }
    char dir[1024] = "";
    const char *slash = strrchr(file, '/');
    if (slash && (size_t)(slash - file) < sizeof dir - 1) { memcpy(dir, file, (size_t)(slash - file + 1)); dir[slash - file + 1] = 0; }
    csv_row *rows = NULL;
    int n = 0, cap = 0, line_no = 0;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line_no++;
        char name[1024], cls[256], tail = '\n';
        int x0, y0, x1, y1;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
            cli_error("evaluate", "%s:%d: line longer than %d bytes", cli_q(q, sizeof q, file), line_no, (int)sizeof line - 2);
            goto fail;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (line[0] == '#' || line[0] == 0 || !strncmp(line, "image,", 6)) continue;
        if (sscanf(line, "%1023[^,],%255[^,],%d,%d,%d,%d%c", name, cls, &x0, &y0, &x1, &y1, &tail) != 6 ||
            x0 > x1 || y0 > y1) {
            cli_error("evaluate", "%s:%d: expected image,class,x0,y0,x1,y1 (x0 <= x1, y0 <= y1), got \"%s\"",
                      cli_q(q, sizeof q, file), line_no, cli_q(qc, 128, line));
            goto fail;
        }
        int c = -1;
        if (!cli_parse_int(cls, 0, gc_model_label_count(m) - 1, &c)) c = -1;
        for (int k = 0; c < 0 && k < gc_model_label_count(m); k++) if (!strcmp(gc_model_label(m, k), cls)) c = k;
        if (c < 0) {
            cli_error("evaluate", "%s:%d: unknown class \"%s\"", cli_q(q, sizeof q, file), line_no, cli_q(qc, sizeof qc, cls));
            goto fail;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            csv_row *grown = realloc(rows, (size_t)cap * sizeof *rows);
            if (!grown) { cli_error("evaluate", "out of memory"); goto fail; }
            rows = grown;
        }
        snprintf(rows[n].path, sizeof rows[n].path, "%s%s", name[0] == '/' ? "" : dir, name);
        rows[n].cls = c;
        rows[n].box = (gc_box){x0, y0, x1, y1, 0};
        n++;
    }
    fclose(f);
    *rows_out = rows;
    return n;
fail:
    fclose(f);
    free(rows);
    return -1;
}

/* Maps an original-image box into network-input pixels through the crop. */
static gc_box box_to_input(const gc_box *b, const gc_preprocess_info *in, int H, int W) {
    double sx = W / in->width, sy = H / in->height;
    gc_box o;
    o.x0 = (int32_t)floor((b->x0 - in->x) * sx);
    o.x1 = (int32_t)ceil((b->x1 + 1 - in->x) * sx) - 1;
    o.y0 = (int32_t)floor((b->y0 - in->y) * sy);
    o.y1 = (int32_t)ceil((b->y1 + 1 - in->y) * sy) - 1;
    o.x0 = o.x0 < 0 ? 0 : o.x0; o.y0 = o.y0 < 0 ? 0 : o.y0;
    o.x1 = o.x1 > W - 1 ? W - 1 : o.x1; o.y1 = o.y1 > H - 1 ? H - 1 : o.y1;
    o.area = 0;
    return o;
}

/* --------------------------------------------------------------- report */

static void json_num(FILE *f, const char *key, double v, int last) {
    if (isnan(v)) fprintf(f, "  \"%s\": null%s\n", key, last ? "" : ",");
    else fprintf(f, "  \"%s\": %.4f%s\n", key, v, last ? "" : ",");
}

static int write_report(const options *o, const results *r, const char *path, double secs, double tol) {
    char q[256];
    FILE *f = fopen(path, "w");
    if (!f) { cli_error("evaluate", "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno)); return 0; }
    char k[128];
    fprintf(f, "{\n  \"model\": ");
    cli_json_string(f, o->model_path);
    fprintf(f, ",\n  \"data\": ");
    cli_json_string(f, o->csv ? o->csv : "synthetic shapes");
    fprintf(f, ",\n");
    fprintf(f, "  \"images\": %ld,\n  \"two_object_images\": %ld,\n", r->accuracy.n, r->pointing2[0].n / 2);
    fprintf(f, "  \"occlusion_images\": %ld,\n  \"curve_images\": %ld,\n", r->rank[0].n, r->del[0].n);
    fprintf(f, "  \"pointing_tolerance_px\": %.3f,\n  \"occlusion_patch\": %d,\n  \"occlusion_stride\": %d,\n"
               "  \"curve_steps\": %d,\n  \"seconds\": %.1f,\n",
            tol, o->patch, o->stride, o->steps, secs);
    json_num(f, "accuracy_top1", mean(&r->accuracy), 0);
    for (int m = 0; m < NM; m++) {
        snprintf(k, sizeof k, "pointing_game_%s", mkey[m]); json_num(f, k, mean(&r->pointing[m]), 0);
        snprintf(k, sizeof k, "pointing_game_%s_two_objects", mkey[m]); json_num(f, k, mean(&r->pointing2[m]), 0);
        snprintf(k, sizeof k, "loc_error_%s_top1", mkey[m]); json_num(f, k, mean(&r->loc_err[m]), 0);
        snprintf(k, sizeof k, "mean_iou_%s", mkey[m]); json_num(f, k, mean(&r->iou[m]), 0);
        snprintf(k, sizeof k, "rank_correlation_%s_occlusion", mkey[m]); json_num(f, k, mean(&r->rank[m]), 0);
        snprintf(k, sizeof k, "rank_correlation_%s_occlusion_sem", mkey[m]); json_num(f, k, sem(&r->rank[m]), 0);
        snprintf(k, sizeof k, "deletion_auc_%s", mkey[m]); json_num(f, k, mean(&r->del[m]), 0);
        snprintf(k, sizeof k, "insertion_auc_%s", mkey[m]); json_num(f, k, mean(&r->ins[m]), 0);
        snprintf(k, sizeof k, "seconds_per_explain_%s", mkey[m]); json_num(f, k, mean(&r->secs[m]), m == NM - 1);
    }
    fprintf(f, "}\n");
    if (ferror(f) | fclose(f)) { cli_error("evaluate", "%s: write failed", cli_q(q, sizeof q, path)); return 0; }
    return 1;
}

static void row(const char *name, const acc *a, int pct, int with_sem) {
    printf("%-34s", name);
    for (int m = 0; m < NM; m++) {
        double v = mean(&a[m]);
        if (isnan(v)) printf(" %12s", "-");
        else if (with_sem) printf("   %5.3f+-%.3f", v, sem(&a[m]));
        else if (pct) printf(" %11.1f%%", 100 * v);
        else printf(" %12.3f", v);
    }
    printf("\n");
}

static void print_table(const results *r) {
    printf("\n%-34s", "measure");
    for (int m = 0; m < NM; m++) printf(" %12s", mtitle[m]);
    printf("\n");
    row("pointing game (higher is better)", r->pointing, 1, 0);
    row("  two-object images, per class", r->pointing2, 1, 0);
    row("top-1 loc. error (lower is better)", r->loc_err, 1, 0);
    row("  mean IoU of the 15% box", r->iou, 0, 0);
    row("rank corr. with occlusion", r->rank, 0, 1);
    row("deletion AUC (lower is better)", r->del, 0, 0);
    row("insertion AUC (higher is better)", r->ins, 0, 0);
    printf("classification accuracy %.1f%% on %ld images\n", 100 * mean(&r->accuracy), r->accuracy.n);
}

/* --methods: a row per map scored */
static void print_methods_table(const results *r) {
    printf("\n%-22s %9s %9s %9s %9s %14s %9s %9s %10s\n", "method", "pointing", "2-object", "loc.err", "mean IoU",
           "occl. rank", "deletion", "insertion", "ms/explain");
    printf("%-22s %9s %9s %9s %9s %14s %9s %9s %10s\n", "", "(higher)", "(higher)", "(lower)", "(higher)", "corr. (higher)",
           "(lower)", "(higher)", "");
    for (int m = 0; m < NM; m++) {
        const double v[4] = {mean(&r->pointing[m]), mean(&r->pointing2[m]), mean(&r->loc_err[m]), mean(&r->iou[m])};
        printf("%-22s", mtitle[m]);
        for (int i = 0; i < 4; i++) {
            if (isnan(v[i])) printf(" %9s", "-");
            else if (i < 3) printf(" %8.1f%%", 100 * v[i]);
            else printf(" %9.3f", v[i]);
        }
        if (isnan(mean(&r->rank[m]))) printf(" %14s", "-");
        else printf("   %5.3f+-%.3f", mean(&r->rank[m]), sem(&r->rank[m]));
        printf(" %9.3f %9.3f", mean(&r->del[m]), mean(&r->ins[m]));
        if (m < NMETH) printf(" %10.2f\n", 1e3 * mean(&r->secs[m]));
        else printf(" %10s\n", "-");
    }
    printf("classification accuracy %.1f%% on %ld images\n", 100 * mean(&r->accuracy), r->accuracy.n);
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f) {
    fprintf(f,
            "usage: evaluate [--model FILE] [--csv FILE] [--n N] [--n2 N] [--seed S] [--out DIR]\n"
            "                [--occlusion-images N] [--curve-images N] [--patch P] [--stride S]\n"
            "                [--steps N] [--methods LIST|all] [--input-size N|HxW] [--quiet]\n"
            "Pointing game, top-1 localisation error, rank correlation with occlusion maps and\n"
            "deletion/insertion AUCs for Grad-CAM, guided backprop and centre/random baselines,\n"
            "or with --methods for the gc_explain methods named (comma-separated, or all; CAM\n"
            "only for a GAP + linear head), one row each, with the time of one gc_explain call.\n"
            "defaults: --model weights/shapes.gcw --n 300 --n2 100 --seed 20260 --out eval-out\n"
            "          --occlusion-images 100 --curve-images 100 --patch 12 --stride 4 --steps 16\n"
            "ranges:   --n, --n2, --occlusion-images, --curve-images 0..1000000; --patch, --stride\n"
            "          1..4096; --steps 1..1024; --seed 0..2^64-1 (whole decimal numbers)\n"
            "--input-size: the network input (crop) size instead of the model's, e.g. 112 for\n"
            "          the 112 x 112 cluttered Fashion-MNIST canvases of a 28 x 28-trained model.\n"
            "The model needs class labels. Exit status 0 on success, 1 on a bad model, input or\n"
            "output, 2 on bad usage.\n");
}

/* An integer option's value, whole and in range; 0 after printing why. */
static int int_opt(const char *opt, const char *v, int lo, int hi, int *out) {
    char q[128];
    if (cli_parse_int(v, lo, hi, out)) return 1;
    cli_error("evaluate", "%s takes an integer in %d..%d, got \"%s\"", opt, lo, hi, cli_q(q, sizeof q, v));
    return 0;
}

/* 0: parsed, 2: usage error (printed), -1: --help */
static int parse_args(int argc, char **argv, options *o) {
    char q[128];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        int ok = 1, known = 1;
        if (!strcmp(a, "--model")) o->model_path = v;
        else if (!strcmp(a, "--csv")) o->csv = v;
        else if (!strcmp(a, "--methods")) o->methods = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--n")) ok = v && int_opt(a, v, 0, 1000000, &o->n);
        else if (!strcmp(a, "--n2")) ok = v && int_opt(a, v, 0, 1000000, &o->n2);
        else if (!strcmp(a, "--seed")) {
            ok = v && cli_parse_u64(v, &o->seed);
            if (v && !ok) cli_error("evaluate", "--seed takes an integer in 0..2^64-1, got \"%s\"", cli_q(q, sizeof q, v));
        } else if (!strcmp(a, "--occlusion-images")) ok = v && int_opt(a, v, 0, 1000000, &o->occ_images);
        else if (!strcmp(a, "--curve-images")) ok = v && int_opt(a, v, 0, 1000000, &o->curve_images);
        else if (!strcmp(a, "--patch")) ok = v && int_opt(a, v, 1, 4096, &o->patch);
        else if (!strcmp(a, "--stride")) ok = v && int_opt(a, v, 1, 4096, &o->stride);
        else if (!strcmp(a, "--steps")) ok = v && int_opt(a, v, 1, 1024, &o->steps);
        else if (!strcmp(a, "--input-size")) {
            char *x = v ? strchr(v, 'x') : NULL, hs[32];
            ok = v && strlen(v) < sizeof hs;
            if (ok && x) { memcpy(hs, v, (size_t)(x - v)); hs[x - v] = 0; }
            ok = ok && (x ? cli_parse_int(hs, 1, 4096, &o->input_h) && cli_parse_int(x + 1, 1, 4096, &o->input_w)
                          : cli_parse_int(v, 1, 4096, &o->input_h));
            if (ok && !x) o->input_w = o->input_h;
            if (v && !ok) cli_error("evaluate", "--input-size takes N or HxW, each 1..4096, got \"%s\"", cli_q(q, sizeof q, v));
        }
        else known = 0;
        if (!known) {
            cli_error("evaluate", "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            return 2;
        }
        if (!v) {
            cli_error("evaluate", "%s needs a value (try --help)", a);
            return 2;
        }
        if (!ok) return 2;
        i++;
    }
    return 0;
}

/* The whole evaluation; every failure is printed here or by the caller and returns 1. */
static int run(const options *o, context *cx, results *r, float *x) {
    char q[256];
    gc_preprocess pre_in = *gc_model_preprocess(cx->m); /* with --input-size as the crop */
    pre_in.input_height = cx->H;
    pre_in.input_width = cx->W;
    const gc_preprocess *pre = &pre_in;
    size_t P = (size_t)cx->H * cx->W;
    gc_status st = GC_OK;
    double t0 = now();
    if (o->csv) {
        csv_row *rows = NULL;
        int n = read_csv(o->csv, cx->m, &rows);
        if (n < 0) return 1;
        for (int i = 0; i < n && !st; i++) {
            gc_image img = {0};
            gc_tensor t = {0};
            gc_preprocess_info info;
            if (!(st = gc_image_load(rows[i].path, NULL, &img)) && !(st = gc_image_preprocess(&img, pre, &t, &info))) {
                gc_box b = box_to_input(&rows[i].box, &info, cx->H, cx->W);
                st = eval_single(cx, o, r, t.data, rows[i].cls, &b, i);
            }
            if (st) cli_error("evaluate", "%s: %s", cli_q(q, sizeof q, rows[i].path), gc_last_error());
            gc_tensor_release(&t);
            gc_image_release(&img);
            if (!st) progress(o, i + 1, n, t0);
        }
        free(rows);
    } else {
        gc_shapes_info in;
        int total = o->n + o->n2;
        for (int i = 0; i < total && !st; i++) {
            int two = i >= o->n;
            if ((st = gc_shapes_generate(o->seed, (uint64_t)(two ? i - o->n : i), two ? 2 : 1, cx->H, cx->W, x, NULL, &in)))
                break;
            for (int c = 0; c < 3; c++) /* the model's normalisation of 8-bit values k/255 */
                for (size_t p = 0; p < P; p++)
                    x[c * P + p] = (x[c * P + p] * 255.0f * pre->scale - pre->mean[c]) / pre->std[c];
            st = two ? eval_pair(cx, r, x, &in, i - o->n) : eval_single(cx, o, r, x, in.label[0], &in.box[0], i);
            if (st) cli_error("evaluate", "synthetic image %d: %s", i, gc_last_error());
            else progress(o, i + 1, total, t0);
        }
    }
    if (st) return 1;
    double secs = now() - t0;
    char path[1200];
    snprintf(path, sizeof path, "%s/report.json", o->out);
    if (!write_report(o, r, path, secs, gc_eval_pointing_tolerance(cx->H, cx->W))) return 1;
    if (o->methods) print_methods_table(r);
    else print_table(r);
    printf("pointing tolerance %.2f px; occlusion %dx%d stride %d on %ld images; %d-step curves on %ld images\n",
           gc_eval_pointing_tolerance(cx->H, cx->W), o->patch, o->patch, o->stride, r->rank[0].n, o->steps, r->del[0].n);
    printf("wrote %s (%.1f s)\n", cli_q(q, sizeof q, path), secs);
    return 0;
}

int main(int argc, char **argv) {
    options o = {"weights/shapes.gcw", NULL, "eval-out", NULL, 300, 100, 100, 100, 12, 4, 16, 0, 20260, 0, 0};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        if (rc < 0) usage(stdout);
        return rc < 0 ? 0 : 2;
    }
    unsigned bits = GC_METHOD_GRADCAM | GC_METHOD_GUIDED_BACKPROP;
    if (o.methods && gc_method_parse(o.methods, &bits)) {
        cli_error("evaluate", "--methods: %s", gc_last_error());
        return 2;
    }
    for (int i = 0; i < gc_method_count() && NM < MAXM - 2; i++) {
        const gc_method_info *mi = gc_method_at(i);
        if (!(mi->bit & bits)) continue;
        minfo[NM] = mi;
        mkey[NM] = mi->name;
        mtitle[NM++] = o.methods ? mi->title : mi->bit == GC_METHOD_GUIDED_BACKPROP ? "Guided BP" : mi->title;
    }
    NMETH = NM;
    mkey[NM] = "center_baseline", mtitle[NM++] = "centre";
    mkey[NM] = "random_baseline", mtitle[NM++] = "random";
    rc = 1;
    char q[256];
    context cx = {0};
    float *x = NULL;
    static results r;
    /* the report's folder first: a long evaluation must not end in an unwritable place */
    if (!cli_make_outdir("evaluate", o.out)) goto done;
    if (access(o.out, W_OK | X_OK)) {
        cli_error("evaluate", "cannot write into %s: %s", cli_q(q, sizeof q, o.out), strerror(errno));
        goto done;
    }
    if (gc_model_open(o.model_path, &cx.m)) { cli_error("evaluate", "%s", gc_last_error()); goto done; }
    const gc_preprocess *pre = gc_model_preprocess(cx.m);
    cx.C = 3; cx.H = o.input_h ? o.input_h : pre->input_height; cx.W = o.input_w ? o.input_w : pre->input_width;
    cx.classes = gc_model_label_count(cx.m);
    if (cx.classes < 2) {
        cli_error("evaluate", "%s: the model has no class labels (evaluate names classes by label)",
                  cli_q(q, sizeof q, o.model_path));
        goto done;
    }
    gc_session_config ec = {.batch = 1, .channels = cx.C, .height = cx.H, .width = cx.W};
    gc_session_config rcfg = ec;
    rcfg.batch = o.steps + 1 < 64 ? o.steps + 1 : 64;
    if (gc_session_create(cx.m, &ec, &cx.ex) || gc_session_create(cx.m, &rcfg, &cx.run)) {
        cli_error("evaluate", "%s: %s", cli_q(q, sizeof q, o.model_path), gc_last_error());
        goto done;
    }
    size_t P = (size_t)cx.H * cx.W;
    for (int k = 0; k < NM; k++) cx.maps[k] = malloc(2 * P * sizeof(float));
    cx.occ = malloc(P * sizeof(float));
    cx.curve = malloc((size_t)(o.steps + 1) * sizeof(float));
    cx.base = malloc(3 * P * sizeof(float));
    cx.tmp = malloc(P * sizeof(float));
    x = malloc(3 * P * sizeof(float));
    int have = cx.occ && cx.curve && cx.base && cx.tmp && x;
    for (int k = 0; k < NM; k++) have = have && cx.maps[k];
    if (!have) { cli_error("evaluate", "out of memory"); goto done; }
    rc = run(&o, &cx, &r, x);
done:
    gc_session_free(cx.ex);
    gc_session_free(cx.run);
    gc_model_free(cx.m);
    for (int k = 0; k < NM; k++) free(cx.maps[k]);
    free(cx.occ); free(cx.curve); free(cx.base); free(cx.tmp); free(x);
    return rc;
}
