/* failures - the Grad-CAM paper's failure-mode analysis (sec. 6.1) on Fashion-MNIST: the test
 * images the model gets wrong, each explained for the predicted and for the true class
 * (Grad-CAM and Guided Grad-CAM), as a gallery, with the most frequent confusions.
 *
 *   ./examples/failures --model weights/fashion.gcw --out eval-out/failures
 *
 * Writes DIR/gallery.png (the --n most confident mistakes, one row each: image | Grad-CAM of
 * the predicted class | Guided Grad-CAM of it | Grad-CAM of the true class | Guided Grad-CAM
 * of it) and DIR/failures.csv (every mistake: index, true, predicted, probability). */
#include "gradcam.h"
#include "common/cli.h"
#include "common/fashion.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROG "failures"

enum { S = FASHION_SIDE, P = S * S, COLS = 5 };

typedef struct miss { int64_t index; int truth, pred; float prob; } miss;

static int by_prob(const void *a, const void *b) {
    const miss *x = a, *y = b;
    if (x->prob != y->prob) return x->prob > y->prob ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void usage(FILE *f) {
    fprintf(f, "usage: failures [--model FILE] [--data DIR] [--out DIR] [--n N]\n"
               "Explains the model's mistakes on the Fashion-MNIST test set for the predicted and the\n"
               "true class. defaults: --model weights/fashion.gcw --data " FASHION_DIR "\n"
               "          --out failures --n 12 (rows of the gallery, 1..100)\n");
}

int main(int argc, char **argv) {
    const char *model = "weights/fashion.gcw", *data = FASHION_DIR, *out = "failures";
    int n = 12;
    char q[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (strcmp(a, "--model") && strcmp(a, "--data") && strcmp(a, "--out") && strcmp(a, "--n")) {
            cli_error(PROG, "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            return 2;
        }
        if (!v) { cli_error(PROG, "%s needs a value (try --help)", a); return 2; }
        i++;
        if (!strcmp(a, "--n")) {
            if (!cli_parse_int(v, 1, 100, &n)) { cli_error(PROG, "--n takes 1..100, got \"%s\"", cli_q(q, sizeof q, v)); return 2; }
        } else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else out = v;
    }
    if (!cli_make_outdir(PROG, out)) return 1;
    gc_model *m = NULL;
    gc_session *bs = NULL, *s = NULL;
    fashion_set te = {0};
    miss *ms = NULL;
    gc_image *pan = NULL;
    char (*titles)[48] = NULL;
    const char **tp = NULL;
    int rc = 1, nm = 0, conf[FASHION_CLASSES][FASHION_CLASSES] = {{0}};
    enum { B = 100 };
    static float xb[B * 3 * P];
    int yb[B];
    int64_t idx[B];
    if (gc_model_open(model, &m)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
    gc_session_config bc = {.batch = B, .channels = 3, .height = S, .width = S}, ec = bc;
    ec.batch = 1;
    if (gc_session_create(m, &bc, &bs) || gc_session_create(m, &ec, &s)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
    if (!fashion_load(PROG, data, 0, &te)) goto done;
    if (!(ms = malloc((size_t)te.n * sizeof *ms))) { cli_error(PROG, "out of memory"); goto done; }
    for (int64_t i = 0; i < te.n; i += B) {
        for (int j = 0; j < B; j++) idx[j] = i + j < te.n ? i + j : 0;
        fashion_batch(&te, idx, B, 0, 0, 0, 0, xb, yb);
        gc_tensor y;
        if (gc_session_forward(bs, xb) || gc_session_output(bs, &y)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
        for (int j = 0; j < B && i + j < te.n; j++) {
            const float *l = y.data + j * FASHION_CLASSES;
            int p = 0;
            for (int t = 1; t < FASHION_CLASSES; t++) if (l[t] > l[p]) p = t;
            double z = 0;
            for (int t = 0; t < FASHION_CLASSES; t++) z += exp((double)l[t] - l[p]);
            conf[yb[j]][p]++;
            if (p != yb[j]) ms[nm++] = (miss){i + j, yb[j], p, (float)(1.0 / z)};
        }
    }
    qsort(ms, (size_t)nm, sizeof *ms, by_prob);
    printf("failures: %d of %lld test images wrong (accuracy %.2f%%)\n", nm, (long long)te.n,
           100.0 * (double)(te.n - nm) / (double)te.n);
    /* the most frequent confusions */
    for (int r = 0; r < 5; r++) {
        int bt = 0, bp = 0, bn = -1;
        for (int t = 0; t < FASHION_CLASSES; t++)
            for (int p = 0; p < FASHION_CLASSES; p++)
                if (t != p && conf[t][p] > bn) { bn = conf[t][p]; bt = t; bp = p; }
        printf("  %-12s called %-12s %4d times\n", fashion_class_names[bt], fashion_class_names[bp], bn);
        conf[bt][bp] = -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/failures.csv", out);
    FILE *f = fopen(path, "w");
    if (!f) { cli_error(PROG, "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno)); goto done; }
    fprintf(f, "index,true,predicted,probability\n");
    for (int k = 0; k < nm; k++)
        fprintf(f, "%lld,%s,%s,%.4f\n", (long long)ms[k].index, fashion_class_names[ms[k].truth],
                fashion_class_names[ms[k].pred], (double)ms[k].prob);
    if (ferror(f) | fclose(f)) { cli_error(PROG, "%s: write failed", cli_q(q, sizeof q, path)); goto done; }
    int rows = n < nm ? n : nm;
    pan = calloc((size_t)rows * COLS, sizeof *pan);
    titles = calloc((size_t)rows * COLS, sizeof *titles);
    tp = calloc((size_t)rows * COLS, sizeof *tp);
    if (!pan || !titles || !tp) { cli_error(PROG, "out of memory"); goto done; }
    for (int r = 0; r < rows; r++) {
        float x1[3 * P];
        int y1, cls[2] = {ms[r].pred, ms[r].truth};
        fashion_batch(&te, &ms[r].index, 1, 0, 0, 0, 0, x1, &y1);
        gc_explain_request rq = {.target = GC_TARGET_CLASSES, .classes = cls, .n_classes = 2,
                                 .methods = GC_METHOD_GUIDED_GRADCAM};
        gc_explain_result res;
        gc_image *row = pan + r * COLS;
        gc_overlay_opts oo = gc_overlay_defaults();
        int ok = !gc_explain(s, x1, &rq, &res) && !fashion_input_image(x1, S, S, &row[0]);
        for (int k = 0; ok && k < 2; k++) {
            const gc_explanation *e = &res.items[k];
            static float gg[3 * P];
            float mx = 0;
            for (int p = 0; p < P; p++) mx = fmaxf(mx, e->cam_up.data[p]);
            for (int c = 0; c < 3; c++) /* guided backprop x Grad-CAM scaled to [0, 1] (the figure's rule) */
                for (int p = 0; p < P; p++) gg[c * P + p] = e->guided.data[c * P + p] * (mx > 0 ? e->cam_up.data[p] / mx : 0);
            ok = !gc_render_overlay(&row[0], e->cam_up.data, S, S, NULL, &oo, &row[1 + 2 * k], NULL) &&
                 !gc_render_gradient(gg, 3, S, S, GC_COLOR_RGB, &row[2 + 2 * k]);
        }
        if (!ok) { cli_error(PROG, "test image %lld: %s", (long long)ms[r].index, gc_last_error()); goto done; }
        snprintf(titles[r * COLS], 48, "#%lld %s", (long long)ms[r].index, fashion_class_names[ms[r].truth]);
        snprintf(titles[r * COLS + 1], 48, "said %s %.0f%%", fashion_class_names[ms[r].pred], 100.0 * ms[r].prob);
        snprintf(titles[r * COLS + 2], 48, "guided, said");
        snprintf(titles[r * COLS + 3], 48, "true %s", fashion_class_names[ms[r].truth]);
        snprintf(titles[r * COLS + 4], 48, "guided, true");
    }
    for (int k = 0; k < rows * COLS; k++) tp[k] = titles[k];
    snprintf(path, sizeof path, "%s/gallery.png", out);
    if (rows > 0) {
        if (!fashion_grid(PROG, pan, tp, rows, COLS, 112,
                          "the most confident mistakes: Grad-CAM and Guided Grad-CAM for the predicted and the true class",
                          path))
            goto done;
        printf("wrote %s (%d rows) and failures.csv\n", cli_q(q, sizeof q, path), rows);
    }
    rc = 0;
done:
    for (int k = 0; pan && k < n * COLS && k < nm * COLS; k++) gc_image_release(&pan[k]);
    free(pan);
    free(titles);
    free(tp);
    free(ms);
    gc_session_free(bs);
    gc_session_free(s);
    gc_model_free(m);
    fashion_release(&te);
    return rc;
}
