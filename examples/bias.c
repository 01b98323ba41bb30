/* bias - the Grad-CAM paper's dataset-bias experiment (sec. 6.3, the nurse/doctor case) in
 * Fashion-MNIST: a spurious cue, a small bright square in the top-left corner, is painted on
 * every training image of one class (--class, default Shirt) and on no other: the biased model.
 * The balanced model sees the same cue on half of the images of every class, so it carries no
 * information. Both are trained the same way (fresh, seeded, a few epochs of the small network).
 * Then, on the 10,000 test images:
 *   - accuracy with the cue as in training (on the class), with no cue, and with the cue on
 *     every image (and moved to the bottom-right corner), and how often each model then answers
 *     the cue's class;
 *   - Grad-CAM for the cue's class on that class's test images with the cue: the share of the
 *     map's mass on the cue (its 4 x 4 square and 2 pixels around) and on the object.
 * Figures: test images with the cue, Grad-CAM of both models side by side.
 *
 *   ./examples/bias --out eval-out/bias
 */
#include "gradcam.h"
#include "common/cli.h"
#include "common/fashion.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROG "bias"

enum { S = FASHION_SIDE, CUE = 4 };

typedef enum { CUE_NONE, CUE_ON_CLASS, CUE_HALF, CUE_ALL, CUE_ALL_MOVED } cue_mode;

typedef struct cue_ctx { cue_mode mode; int cls; uint64_t seed; } cue_ctx;

/* The cue's top-left corner: (1, 1), or (23, 23) when moved. */
static void paint(float *x, int moved) {
    const int o = moved ? S - 1 - CUE : 1;
    for (int c = 0; c < 3; c++)
        for (int r = o; r < o + CUE; r++)
            for (int k = o; k < o + CUE; k++) x[(c * S + r) * S + k] = 1.0f / FASHION_STD; /* pixel 255 */
}

static void hook(void *vctx, float *x, const int *y, int n, uint64_t step) {
    const cue_ctx *c = vctx;
    for (int i = 0; i < n; i++) {
        uint64_t st = c->seed ^ (step * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xD1B54A32D192ED03ull);
        int on = c->mode == CUE_ON_CLASS ? y[i] == c->cls
               : c->mode == CUE_HALF     ? (int)(fashion_mix(&st) >> 63)
               : c->mode == CUE_ALL || c->mode == CUE_ALL_MOVED;
        if (on) paint(x + (size_t)i * 3 * S * S, c->mode == CUE_ALL_MOVED);
    }
}

static void usage(FILE *f) {
    fprintf(f, "usage: bias [--data DIR] [--out DIR] [--class K] [--epochs N] [--width C] [--seed S]\n"
               "            [--figures N] [--quiet]\n"
               "Trains a biased and a balanced model (the cue: a 4x4 white square at the top-left\n"
               "corner) and compares their accuracy and Grad-CAM. Writes DIR/report.json and figures.\n"
               "defaults: --data " FASHION_DIR " --out bias --class 6 (Shirt) --epochs 3\n"
               "          --width 8 --seed 7 --figures 6\n"
               "ranges: --class 0..9, --epochs 1..100, --width 1..64, --figures 0..50.\n");
}

/* Share of map (S x S) mass in [x0, x1] x [y0, y1]. */
static double mass(const float *map, int x0, int y0, int x1, int y1) {
    double in = 0, all = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            all += map[y * S + x];
            if (x >= x0 && x <= x1 && y >= y0 && y <= y1) in += map[y * S + x];
        }
    return all > 0 ? in / all : 0;
}

int main(int argc, char **argv) {
    const char *data = FASHION_DIR, *out = "bias";
    int cls = 6, epochs = 3, width = 8, figures = 6, quiet = 0;
    uint64_t seed = 7;
    char q[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        struct { const char *name; int *dst, lo, hi; } ints[] = {
            {"--class", &cls, 0, 9}, {"--epochs", &epochs, 1, 100}, {"--width", &width, 1, 64},
            {"--figures", &figures, 0, 50}};
        int k = 0, ok = 1;
        while (k < 4 && strcmp(a, ints[k].name)) k++;
        if (k == 4 && strcmp(a, "--seed") && strcmp(a, "--data") && strcmp(a, "--out")) {
            cli_error(PROG, "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            return 2;
        }
        if (!v) { cli_error(PROG, "%s needs a value (try --help)", a); return 2; }
        i++;
        if (k < 4) ok = cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].dst);
        else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &seed);
        else if (!strcmp(a, "--data")) data = v;
        else out = v;
        if (!ok) { cli_error(PROG, "bad value \"%s\" for %s (try --help)", cli_q(q, sizeof q, v), a); return 2; }
    }
    if (!cli_make_outdir(PROG, out)) return 1;
    fashion_set tr = {0}, te = {0};
    gc_model *mod[2] = {NULL, NULL};
    gc_session *ses[2] = {NULL, NULL};
    int rc = 1;
    if (!fashion_load(PROG, data, 1, &tr) || !fashion_load(PROG, data, 0, &te)) goto done;
    static const char *const mname[2] = {"biased", "balanced"};
    cue_ctx train_ctx[2] = {{CUE_ON_CLASS, cls, seed}, {CUE_HALF, cls, seed}};
    for (int k = 0; k < 2; k++) {
        fashion_train_opts o = {.epochs = epochs, .batch = 64, .width = width, .shift = 2, .flip = 1,
                                .quiet = quiet, .eval_every = 0, .lr = 0.05f, .weight_decay = 5e-4f,
                                .seed = seed, .hook = hook, .hook_ctx = &train_ctx[k]};
        if (!quiet) printf("training the %s model (cue on %s)\n", mname[k],
                           k ? "half of every class's images" : fashion_class_names[cls]);
        if (!fashion_train(PROG, &tr, &o, &mod[k])) goto done;
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = S, .width = S};
        if (gc_session_create(mod[k], &cfg, &ses[k])) { cli_error(PROG, "%s", gc_last_error()); goto done; }
    }
    /* accuracy under each test condition, and how often the cue's class is answered */
    static const char *const cond[4] = {"cue on the class (as trained)", "no cue", "cue on every image",
                                        "cue on every image, moved"};
    const cue_mode cm[4] = {CUE_ON_CLASS, CUE_NONE, CUE_ALL, CUE_ALL_MOVED};
    double accv[2][4], cls_acc[2][4], said[2][4];
    enum { B = 100 };
    static float xb[B * 3 * S * S];
    int yb[B];
    int64_t idx[B];
    for (int k = 0; k < 2; k++) {
        gc_session *bs = NULL;
        gc_session_config cfg = {.batch = B, .channels = 3, .height = S, .width = S};
        if (gc_session_create(mod[k], &cfg, &bs)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
        for (int c = 0; c < 4; c++) {
            cue_ctx ctx = {cm[c], cls, seed};
            long right = 0, cr = 0, cn = 0, other = 0, other_said = 0;
            for (int64_t i = 0; i < te.n; i += B) {
                for (int j = 0; j < B; j++) idx[j] = i + j < te.n ? i + j : 0;
                fashion_batch(&te, idx, B, 0, 0, 0, 0, xb, yb);
                hook(&ctx, xb, yb, B, (uint64_t)i);
                gc_tensor y;
                if (gc_session_forward(bs, xb) || gc_session_output(bs, &y)) {
                    cli_error(PROG, "%s", gc_last_error());
                    gc_session_free(bs);
                    goto done;
                }
                for (int j = 0; j < B && i + j < te.n; j++) {
                    int p = 0;
                    for (int t = 1; t < FASHION_CLASSES; t++) if (y.data[j * FASHION_CLASSES + t] > y.data[j * FASHION_CLASSES + p]) p = t;
                    right += p == yb[j];
                    if (yb[j] == cls) { cn++; cr += p == cls; }
                    else { other++; other_said += p == cls; }
                }
            }
            accv[k][c] = (double)right / (double)te.n;
            cls_acc[k][c] = cn ? (double)cr / (double)cn : NAN;
            said[k][c] = other ? (double)other_said / (double)other : NAN;
        }
        gc_session_free(bs);
    }
    /* Grad-CAM for the cue's class on its test images with the cue */
    double m_cue[2] = {0, 0}, m_obj[2] = {0, 0};
    long n_cam = 0;
    int figs = 0;
    static float x1[3 * S * S], cams[2][S * S];
    for (int64_t i = 0; i < te.n; i++) {
        if (te.labels[i] != cls) continue;
        int y1;
        fashion_batch(&te, &i, 1, 0, 0, 0, 0, x1, &y1);
        paint(x1, 0);
        int pred[2];
        for (int k = 0; k < 2; k++) {
            gc_explain_request rq = {.target = GC_TARGET_CLASS, .class_index = cls, .methods = GC_METHOD_GRADCAM};
            gc_explain_result r;
            if (gc_explain(ses[k], x1, &rq, &r)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
            memcpy(cams[k], r.items[0].cam_up.data, sizeof cams[k]);
            pred[k] = 0;
            for (int t = 1; t < FASHION_CLASSES; t++) if (r.logits.data[t] > r.logits.data[pred[k]]) pred[k] = t;
            /* the cue and 2 pixels around it; the object: everything else */
            double mc = mass(cams[k], 0, 0, CUE + 2, CUE + 2);
            m_cue[k] += mc;
            m_obj[k] += 1 - mc;
        }
        n_cam++;
        if (figs < figures) {
            gc_image pan[3] = {{0}};
            gc_overlay_opts oo = gc_overlay_defaults();
            char t1[64], t2[64], cap[160], path[4096];
            int ok = !fashion_input_image(x1, S, S, &pan[0]) &&
                     !gc_render_overlay(&pan[0], cams[0], S, S, NULL, &oo, &pan[1], NULL) &&
                     !gc_render_overlay(&pan[0], cams[1], S, S, NULL, &oo, &pan[2], NULL);
            snprintf(t1, sizeof t1, "biased: %s", fashion_class_names[pred[0]]);
            snprintf(t2, sizeof t2, "balanced: %s", fashion_class_names[pred[1]]);
            const char *titles[3] = {"with cue", t1, t2};
            snprintf(cap, sizeof cap, "test %lld, Grad-CAM for %s", (long long)i, fashion_class_names[cls]);
            snprintf(path, sizeof path, "%s/bias%05lld.png", out, (long long)i);
            if (!ok) cli_error(PROG, "%s", gc_last_error());
            else ok = fashion_figure(PROG, pan, titles, 3, 168, cap, path);
            for (int k = 0; k < 3; k++) gc_image_release(&pan[k]);
            if (!ok) goto done;
            figs++;
        }
    }
    printf("\nbias: the cue is a 4x4 white square at (1,1); biased model: cue on every %s training image\n",
           fashion_class_names[cls]);
    printf("%-34s %24s %24s\n", "test condition", "biased: acc / cls / says", "balanced: acc / cls / says");
    for (int c = 0; c < 4; c++)
        printf("%-34s %8.1f%% %6.1f%% %6.1f%% %8.1f%% %6.1f%% %6.1f%%\n", cond[c], 100 * accv[0][c], 100 * cls_acc[0][c],
               100 * said[0][c], 100 * accv[1][c], 100 * cls_acc[1][c], 100 * said[1][c]);
    printf("(acc: all 10,000; cls: accuracy on the %s images; says: share of the other images called %s)\n",
           fashion_class_names[cls], fashion_class_names[cls]);
    printf("Grad-CAM for %s on its %ld test images with the cue: mass on the cue %.3f (biased) vs %.3f "
           "(balanced), ratio %.1f\n", fashion_class_names[cls], n_cam, m_cue[0] / n_cam, m_cue[1] / n_cam,
           m_cue[1] > 0 ? m_cue[0] / m_cue[1] : INFINITY);
    char path[4096];
    snprintf(path, sizeof path, "%s/report.json", out);
    FILE *f = fopen(path, "w");
    if (!f) { cli_error(PROG, "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno)); goto done; }
    fprintf(f, "{\n  \"class\": %d,\n  \"epochs\": %d,\n  \"width\": %d,\n  \"seed\": %llu,\n", cls, epochs, width,
            (unsigned long long)seed);
    static const char *const ckey[4] = {"cue_on_class", "no_cue", "cue_everywhere", "cue_everywhere_moved"};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "  \"%s\": {\n", mname[k]);
        for (int c = 0; c < 4; c++)
            fprintf(f, "    \"accuracy_%s\": %.4f,\n    \"class_accuracy_%s\": %.4f,\n    \"others_called_class_%s\": %.4f,\n",
                    ckey[c], accv[k][c], ckey[c], cls_acc[k][c], ckey[c], said[k][c]);
        fprintf(f, "    \"gradcam_mass_on_cue\": %.4f,\n    \"gradcam_mass_on_object\": %.4f\n  },\n", m_cue[k] / n_cam,
                m_obj[k] / n_cam);
    }
    fprintf(f, "  \"cue_mass_ratio_biased_over_balanced\": %.3f,\n  \"images\": %ld\n}\n",
            m_cue[1] > 0 ? m_cue[0] / m_cue[1] : 0.0, n_cam);
    if (ferror(f) | fclose(f)) { cli_error(PROG, "%s: write failed", cli_q(q, sizeof q, path)); goto done; }
    printf("wrote %s and %d figures\n", cli_q(q, sizeof q, path), figs);
    rc = 0;
done:
    for (int k = 0; k < 2; k++) { gc_session_free(ses[k]); gc_model_free(mod[k]); }
    fashion_release(&tr);
    fashion_release(&te);
    return rc;
}
