/* adversarial - the Grad-CAM paper's adversarial-noise experiment (sec. 6.2) on cluttered
 * Fashion-MNIST: an iterative gradient-sign attack (Kurakin et al.'s targeted I-FGSM) with the
 * engine's input gradients makes the model predict a chosen wrong class; Grad-CAM for the true
 * class and for the adversarial class on the attacked canvas, and the pointing game before and
 * after. Canvases are those of examples/cluttered_fashion (same seed and parameters), so the
 * boxes are known.
 *
 *   ./examples/adversarial --model weights/fashion.gcw --n 200 --out eval-out/adversarial
 *
 * The attack, in pixel units (the canvas is grey, values in [0, 1]; the perturbation is the
 * same in the three input channels, so the attacked canvas is a grey image too):
 *   x_0 = x;  x_{t+1} = clip_[0,1] clip_[x-eps, x+eps] (x_t - a sign(sum_c d CE(f(x_t), target) / d x_t,c))
 * with a = eps / 8, at most --steps steps, stopping when the target class is predicted; eps
 * grows through 1, 2, 4, 8, 16, 32 (/255) until the attack succeeds. */
#include "gradcam.h"
#include "common/cli.h"
#include "common/fashion.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROG "adversarial"

static void usage(FILE *f) {
    fprintf(f, "usage: adversarial [--model FILE] [--data DIR] [--out DIR] [--n N] [--steps N] [--seed S]\n"
               "                   [--figures N]\n"
               "Targeted iterative gradient-sign attack on cluttered Fashion-MNIST canvases (112 x 112,\n"
               "8 fragments of 10 x 10, seed 18: examples/cluttered_fashion's defaults); Grad-CAM for the\n"
               "true and the adversarial class; pointing game before and after. Writes DIR/report.json\n"
               "and figures DIR/adv<i>.png.\n"
               "defaults: --model weights/fashion.gcw --data " FASHION_DIR " --out adversarial\n"
               "          --n 200 --steps 40 --seed 18 --figures 6\n"
               "ranges: --n 1..10000, --steps 1..1000, --figures 0..100.\n");
}

typedef struct { double sum; long n; } acc;
static void add(acc *a, double v) { a->sum += v; a->n++; }
static double mean(const acc *a) { return a->n ? a->sum / (double)a->n : NAN; }

static int argmax10(const float *v) {
    int b = 0;
    for (int i = 1; i < FASHION_CLASSES; i++) if (v[i] > v[b]) b = i;
    return b;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Grad-CAM (cam_up) of class c on x into map; *pred the predicted class. */
static gc_status gradcam(gc_session *s, const float *x, int c, float *map, int P, int *pred) {
    gc_explain_request rq = {.target = GC_TARGET_CLASS, .class_index = c, .methods = GC_METHOD_GRADCAM};
    gc_explain_result r;
    gc_status st = gc_explain(s, x, &rq, &r);
    if (st) return st;
    memcpy(map, r.items[0].cam_up.data, (size_t)P * sizeof(float));
    if (pred) *pred = argmax10(r.logits.data);
    return GC_OK;
}

/* Share of the map's mass inside the box. */
static double mass_in(const float *map, int W, int H, const gc_box *b) {
    double in = 0, all = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double v = map[y * W + x];
            all += v;
            if (x >= b->x0 && x <= b->x1 && y >= b->y0 && y <= b->y1) in += v;
        }
    return all > 0 ? in / all : 0;
}

/* The attack on x (3 x H x W, normalised) towards target; x_adv receives the result, *success
 * is 1 with *eps_used (pixel units) and *steps_used when some eps made the model say target.
 * grad1 (H x W) is scratch. Returns the engine's status. */
static gc_status attack(gc_session *s, const float *x, int target, int H, int W, int max_steps, float *x_adv,
                        float *grad1, int *success, float *eps_used, int *steps_used) {
    static const int eps255[6] = {1, 2, 4, 8, 16, 32};
    const int P = H * W;
    const float to_in = 1.0f / FASHION_STD; /* pixel units -> input units */
    gc_tensor y, g;
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
    float dlog[FASHION_CLASSES];
    *success = 0;
    for (int e = 0; e < 6 && !*success; e++) {
        float eps = (float)eps255[e] / 255.0f, a = eps / 8.0f;
        memcpy(x_adv, x, (size_t)3 * P * sizeof(float));
        for (int t = 0; t <= max_steps; t++) {
            gc_status st = gc_session_forward(s, x_adv);
            if (!st) st = gc_session_output(s, &y);
            if (st) return st;
            if (argmax10(y.data) == target) {
                *success = 1;
                *eps_used = eps;
                *steps_used = t;
                break;
            }
            if (t == max_steps) break;
            if ((st = gc_loss_softmax_xent(y.data, 1, FASHION_CLASSES, &target, NULL, dlog)) ||
                (st = gc_session_backward(s, dlog, &bo)) || (st = gc_session_gradient(s, "input", &g)))
                return st;
            for (int i = 0; i < P; i++) grad1[i] = g.data[i] + g.data[P + i] + g.data[2 * P + i];
            for (int i = 0; i < P; i++) {
                float step = grad1[i] > 0 ? -a : grad1[i] < 0 ? a : 0.0f;
                float px = x_adv[i] * FASHION_STD + step, px0 = x[i] * FASHION_STD; /* pixel units */
                px = fminf(fmaxf(px, px0 - eps), px0 + eps);
                px = fminf(fmaxf(px, 0.0f), 1.0f);
                x_adv[i] = x_adv[P + i] = x_adv[2 * P + i] = px * to_in;
            }
        }
    }
    return GC_OK;
}

int main(int argc, char **argv) {
    const char *model = "weights/fashion.gcw", *data = FASHION_DIR, *out = "adversarial";
    int n = 200, steps = 40, figures = 6;
    uint64_t seed = 18;
    char q[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        int *dst = !strcmp(a, "--n") ? &n : !strcmp(a, "--steps") ? &steps : !strcmp(a, "--figures") ? &figures : NULL;
        int hi = dst == &n ? 10000 : dst == &steps ? 1000 : 100, lo = dst == &figures ? 0 : 1, ok = 1;
        if (!dst && strcmp(a, "--model") && strcmp(a, "--data") && strcmp(a, "--out") && strcmp(a, "--seed")) {
            cli_error(PROG, "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            return 2;
        }
        if (!v) { cli_error(PROG, "%s needs a value (try --help)", a); return 2; }
        i++;
        if (dst) ok = cli_parse_int(v, lo, hi, dst);
        else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &seed);
        else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else out = v;
        if (!ok) { cli_error(PROG, "bad value \"%s\" for %s (try --help)", cli_q(q, sizeof q, v), a); return 2; }
    }
    if (!cli_make_outdir(PROG, out)) return 1;
    enum { H = 112, W = 112, P = H * W };
    clutter_params cp = {112, 8, 10};
    gc_model *m = NULL;
    gc_session *s = NULL;
    fashion_set te = {0};
    static uint8_t canvas[P];
    static float x[3 * P], xa[3 * P], g1[P], cam_o[P], cam_a[P], cam_t[P];
    double *eps_list = malloc((size_t)n * sizeof(double));
    int rc = 1;
    if (!eps_list) { cli_error(PROG, "out of memory"); return 1; }
    if (gc_model_open(model, &m)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    if (gc_session_create(m, &cfg, &s)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
    if (!fashion_load(PROG, data, 0, &te)) goto done;
    const double tol = gc_eval_pointing_tolerance(H, W);
    acc correct = {0}, success = {0}, pt_before = {0}, pt_after = {0}, pt_adv = {0}, mass_before = {0},
        mass_after = {0}, mass_adv = {0}, l2 = {0}, linf = {0}, st_used = {0};
    int n_eps = 0, figs = 0;
    uint64_t rs = seed ^ 0xADu;
    for (int i = 0; i < n; i++) {
        gc_box b;
        clutter_canvas(&te, &cp, seed, (uint64_t)i, i, canvas, &b);
        for (int p = 0; p < P; p++) {
            volatile float v = (float)canvas[p];
            v = v / 255.0f;
            x[p] = x[P + p] = x[2 * P + p] = v / FASHION_STD;
        }
        int truth = te.labels[i], pred, target = (truth + 1 + (int)(fashion_mix(&rs) % 9)) % FASHION_CLASSES;
        gc_status st = gradcam(s, x, truth, cam_o, P, &pred);
        if (st) { cli_error(PROG, "canvas %d: %s", i, gc_last_error()); goto done; }
        add(&correct, pred == truth);
        if (pred != truth) continue; /* attack only what the model gets right */
        int hit, ok = 0, used = 0;
        float eps = 0;
        if ((st = gc_eval_pointing(cam_o, H, W, &b, tol, &hit)) ||
            (st = attack(s, x, target, H, W, steps, xa, g1, &ok, &eps, &used))) {
            cli_error(PROG, "canvas %d: %s", i, gc_last_error());
            goto done;
        }
        add(&success, ok);
        if (!ok) continue;
        int hit_a, hit_t, pa;
        if ((st = gradcam(s, xa, truth, cam_t, P, &pa)) || (st = gradcam(s, xa, target, cam_a, P, NULL)) ||
            (st = gc_eval_pointing(cam_t, H, W, &b, tol, &hit_t)) || (st = gc_eval_pointing(cam_a, H, W, &b, tol, &hit_a))) {
            cli_error(PROG, "canvas %d: %s", i, gc_last_error());
            goto done;
        }
        add(&pt_before, hit);
        add(&pt_after, hit_t);
        add(&pt_adv, hit_a);
        add(&mass_before, mass_in(cam_o, W, H, &b));
        add(&mass_after, mass_in(cam_t, W, H, &b));
        add(&mass_adv, mass_in(cam_a, W, H, &b));
        double s2 = 0, mx = 0;
        for (int p = 0; p < P; p++) {
            double d = (double)(xa[p] - x[p]) * FASHION_STD;
            s2 += d * d;
            if (fabs(d) > mx) mx = fabs(d);
        }
        add(&l2, sqrt(s2));
        add(&linf, mx * 255);
        add(&st_used, used);
        eps_list[n_eps++] = eps * 255;
        if (figs < figures) {
            gc_image pan[6] = {{0}};
            static float diff[P];
            char path[4096], t4[64], t5[64], t6[64], cap[256];
            for (int p = 0; p < P; p++) diff[p] = 0.5f / FASHION_STD + (xa[p] - x[p]) * 8.0f; /* x8 around grey */
            gc_overlay_opts oo = gc_overlay_defaults();
            int fok = !fashion_input_image(x, H, W, &pan[0]) && !fashion_input_image(xa, H, W, &pan[1]) &&
                      !fashion_input_image(diff, H, W, &pan[2]);
            fok = fok && !gc_render_overlay(&pan[0], cam_o, H, W, NULL, &oo, &pan[3], NULL) &&
                  !gc_render_overlay(&pan[1], cam_t, H, W, NULL, &oo, &pan[4], NULL) &&
                  !gc_render_overlay(&pan[1], cam_a, H, W, NULL, &oo, &pan[5], NULL);
            snprintf(t4, sizeof t4, "Grad-CAM %s", fashion_class_names[truth]);
            snprintf(t5, sizeof t5, "attacked: %s", fashion_class_names[truth]);
            snprintf(t6, sizeof t6, "attacked: %s", fashion_class_names[target]);
            const char *titles[6] = {"original", "attacked", "noise x8", t4, t5, t6};
            snprintf(cap, sizeof cap, "test item %d: %s -> %s, eps %d/255, %d steps", i, fashion_class_names[truth],
                     fashion_class_names[target], (int)lroundf(eps * 255), used);
            snprintf(path, sizeof path, "%s/adv%05d.png", out, i);
            if (!fok) cli_error(PROG, "%s", gc_last_error());
            else fok = fashion_figure(PROG, pan, titles, 6, 168, cap, path);
            for (int k = 0; k < 6; k++) gc_image_release(&pan[k]);
            if (!fok) goto done;
            figs++;
        }
    }
    qsort(eps_list, (size_t)n_eps, sizeof(double), cmp_double);
    double eps_med = n_eps ? eps_list[n_eps / 2] : NAN;
    printf("adversarial: %d canvases, accuracy %.1f%%; attack success %.1f%% of %ld correctly classified "
           "(median eps %.0f/255, mean L-inf %.1f/255, mean L2 %.3f, mean %.1f steps)\n",
           n, 100 * mean(&correct), 100 * mean(&success), success.n, eps_med, mean(&linf), mean(&l2), mean(&st_used));
    printf("%-44s %10s %10s\n", "on the successfully attacked canvases", "pointing", "mass in box");
    printf("%-44s %9.1f%% %10.3f\n", "Grad-CAM true class, original", 100 * mean(&pt_before), mean(&mass_before));
    printf("%-44s %9.1f%% %10.3f\n", "Grad-CAM true class, attacked", 100 * mean(&pt_after), mean(&mass_after));
    printf("%-44s %9.1f%% %10.3f\n", "Grad-CAM adversarial class, attacked", 100 * mean(&pt_adv), mean(&mass_adv));
    char path[4096];
    snprintf(path, sizeof path, "%s/report.json", out);
    FILE *f = fopen(path, "w");
    if (!f) { cli_error(PROG, "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno)); goto done; }
    const char *keys[] = {"accuracy", "success_rate", "eps_median_255", "linf_mean_255", "l2_mean", "steps_mean",
                          "pointing_true_original", "pointing_true_attacked", "pointing_adversarial_attacked",
                          "mass_in_box_true_original", "mass_in_box_true_attacked", "mass_in_box_adversarial_attacked"};
    double vals[] = {mean(&correct), mean(&success), eps_med, mean(&linf), mean(&l2), mean(&st_used), mean(&pt_before),
                     mean(&pt_after), mean(&pt_adv), mean(&mass_before), mean(&mass_after), mean(&mass_adv)};
    fprintf(f, "{\n  \"canvases\": %d,\n  \"attacked\": %ld,\n  \"max_steps\": %d", n, success.n, steps);
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        if (isnan(vals[k])) fprintf(f, ",\n  \"%s\": null", keys[k]);
        else fprintf(f, ",\n  \"%s\": %.4f", keys[k], vals[k]);
    }
    fprintf(f, "\n}\n");
    if (ferror(f) | fclose(f)) { cli_error(PROG, "%s: write failed", cli_q(q, sizeof q, path)); goto done; }
    printf("wrote %s and %d figures\n", cli_q(q, sizeof q, path), figs);
    rc = 0;
done:
    gc_session_free(s);
    gc_model_free(m);
    fashion_release(&te);
    free(eps_list);
    return rc;
}
