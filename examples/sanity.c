/* sanity - the model-randomisation sanity check of Adebayo et al. (2018), cascading form
 * (gc_sanity_cascade): the model's parameterised layers are re-initialised from the output
 * down, one more at each step, and each method's map is compared with the trained model's
 * by Spearman rank correlation and SSIM. Averages over --n synthetic shapes images (the
 * held-out set of examples/evaluate), prints both tables, writes <out>/sanity.json and
 * <out>/sanity.png (the maps of the first image: a row per method, a column per step).
 *
 *   ./examples/sanity --model weights/shapes.gcw --methods all --n 10 --out eval-out/sanity
 */
#include "gradcam.h"
#include "common/cli.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *model, *methods, *out;
    int n, cell;
    uint64_t seed, init_seed;
} options;

static void usage(FILE *f) {
    fprintf(f, "usage: sanity [--model FILE] [--methods LIST|all] [--n N] [--seed S] [--init-seed S] [--cell PX]\n"
               "              [--out DIR]\n"
               "Cascading model randomisation (Adebayo et al. 2018): the layers with weights are\n"
               "re-initialised from the output down, one more per step, and every method's map is\n"
               "compared with the trained model's (Spearman rank correlation, SSIM), averaged over N\n"
               "synthetic shapes images (one object, seed S, the model's input size). Writes\n"
               "DIR/sanity.json and DIR/sanity.png (the first image's maps: a row per method, a\n"
               "column per step, each map PX pixels square).\n"
               "defaults: --model weights/shapes.gcw --methods all --n 10 --seed 20260 --init-seed 1\n"
               "          --cell 96 --out eval-out\n"
               "Exit status 0 on success, 1 on a bad model or output, 2 on bad usage.\n");
}

static int parse_args(int argc, char **argv, options *o) {
    char q[128];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (!v) {
            cli_error("sanity", "%s needs a value or is unknown (try --help)", cli_q(q, sizeof q, a));
            return 2;
        }
        int ok = 1;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--methods")) o->methods = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--n")) ok = cli_parse_int(v, 1, 100000, &o->n);
        else if (!strcmp(a, "--cell")) ok = cli_parse_int(v, 16, 1024, &o->cell);
        else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &o->seed);
        else if (!strcmp(a, "--init-seed")) ok = cli_parse_u64(v, &o->init_seed);
        else {
            cli_error("sanity", "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            return 2;
        }
        if (!ok) {
            cli_error("sanity", "%s: bad value \"%s\" (try --help)", a, cli_q(q, sizeof q, v));
            return 2;
        }
        i++;
    }
    return 0;
}

/* ---------------------------------------------------------------- figure */

static void blit(gc_image *dst, const gc_image *src, int x, int y) {
    uint8_t *d = dst->data;
    const uint8_t *s = src->data;
    for (int r = 0; r < src->height; r++)
        if (y + r >= 0 && y + r < dst->height)
            for (int c = 0; c < src->width; c++)
                if (x + c >= 0 && x + c < dst->width)
                    memcpy(d + ((size_t)(y + r) * dst->width + x + c) * 3, s + ((size_t)r * src->width + c) * 3, 3);
}

/* A row per method, a column per step: each map over the image (jet, min-max scaled). */
static gc_status figure(const gc_sanity_result *r, const gc_image *img, int cell, const char *path) {
    const int M = 4, label_w = 150, head_h = 2 * GC_FONT_HEIGHT + 10;
    const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    gc_image fig = {0}, ov = {0}, sc = {0};
    gc_status st = gc_image_alloc(&fig, label_w + r->steps * (cell + M), head_h + r->n_methods * (cell + M), 3, 8);
    if (st) return st;
    uint8_t *px = fig.data;
    for (size_t i = 0; i < (size_t)fig.width * fig.height; i++) memcpy(px + 3 * i, white, 3);
    for (int s = 0; s < r->steps; s++) {
        const int x = label_w + s * (cell + M);
        const char *name = s ? r->layers[s] : "trained";
        char t[200];
        snprintf(t, sizeof t, "%.*s", (cell + M) / 6 - 1 < 199 ? (cell + M) / 6 - 1 : 199, name);
        gc_image_draw_text(&fig, x, 2, s ? (cell >= 96 ? "re-init down to" : "down to") : "", 1, black);
        gc_image_draw_text(&fig, x, GC_FONT_HEIGHT + 5, t, 1, black);
    }
    gc_overlay_opts oo = gc_overlay_defaults();
    oo.draw_box = 0, oo.alpha = 0.7f;
    for (int k = 0; k < r->n_methods && !st; k++) {
        const int y = head_h + k * (cell + M);
        gc_image_draw_text(&fig, 2, y + cell / 2 - 4, r->methods[k]->title, 1, black);
        for (int s = 0; s < r->steps && !st; s++) {
            const float *map = r->maps + ((size_t)s * r->n_methods + k) * (size_t)r->height * r->width;
            if (!(st = gc_render_overlay(img, map, r->height, r->width, NULL, &oo, &ov, NULL)) &&
                !(st = gc_image_resize(&ov, cell, cell, &sc)))
                blit(&fig, &sc, label_w + s * (cell + M), y);
            gc_image_release(&ov);
            gc_image_release(&sc);
        }
    }
    if (!st) st = gc_image_save_png(&fig, path);
    gc_image_release(&fig);
    return st;
}

/* ---------------------------------------------------------------- main */

static void table(const char *title, const double *v, const gc_sanity_result *r, int n) {
    printf("\n%s (mean over %d images; 1 = the trained model's map)\n%-22s", title, n, "method");
    for (int s = 0; s < r->steps; s++) printf(" %12.12s", s ? r->layers[s] : "trained");
    printf("\n");
    for (int k = 0; k < r->n_methods; k++) {
        printf("%-22s", r->methods[k]->title);
        for (int s = 0; s < r->steps; s++) printf(" %12.3f", v[s * r->n_methods + k] / n);
        printf("\n");
    }
}

int main(int argc, char **argv) {
    options o = {"weights/shapes.gcw", "all", "eval-out", 10, 96, 20260, 1};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        if (rc < 0) usage(stdout);
        return rc < 0 ? 0 : 2;
    }
    rc = 1;
    char q[256], path[1200];
    unsigned bits;
    gc_model *m = NULL;
    float *x = NULL;
    double *sp = NULL, *ss = NULL;
    gc_sanity_result r = {0};
    gc_image img = {0};
    FILE *f = NULL;
    if (gc_method_parse(o.methods, &bits)) {
        cli_error("sanity", "--methods: %s", gc_last_error());
        return 2;
    }
    if (!cli_make_outdir("sanity", o.out)) goto done;
    if (gc_model_open(o.model, &m)) {
        cli_error("sanity", "%s", gc_last_error());
        goto done;
    }
    const gc_preprocess *pre = gc_model_preprocess(m);
    const int H = pre->input_height, W = pre->input_width;
    const size_t P = (size_t)H * W;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = H, .width = W};
    gc_explain_request req = {.target = GC_TARGET_TOP1, .methods = bits};
    if (!(x = malloc(3 * P * sizeof(float)))) goto oom;
    for (int i = 0; i < o.n; i++) {
        gc_shapes_info in;
        if (gc_shapes_generate(o.seed, (uint64_t)i, 1, H, W, x, NULL, &in)) goto fail;
        if (i == 0) { /* the figure's background: the image as 8 bits */
            if (gc_image_alloc(&img, W, H, 3, 8)) goto fail;
            for (size_t p = 0; p < P; p++)
                for (int c = 0; c < 3; c++) ((uint8_t *)img.data)[p * 3 + c] = (uint8_t)lrintf(x[c * P + p] * 255.0f);
        }
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < P; p++) x[c * P + p] = (x[c * P + p] * 255.0f * pre->scale - pre->mean[c]) / pre->std[c];
        gc_sanity_result_free(&r);
        if (gc_sanity_cascade(m, &cfg, x, &req, o.init_seed, &r)) goto fail;
        const size_t n = (size_t)r.steps * r.n_methods;
        if (!sp && (!(sp = calloc(n, sizeof *sp)) || !(ss = calloc(n, sizeof *ss)))) goto oom;
        for (size_t j = 0; j < n; j++) sp[j] += r.spearman[j], ss[j] += r.ssim[j];
        if (i == 0) {
            snprintf(path, sizeof path, "%s/sanity.png", o.out);
            if (figure(&r, &img, o.cell, path)) goto fail;
        }
        if (i == 0 && r.n_methods > 0 && o.n > 1) fprintf(stderr, "sanity: %d images ...\n", o.n);
    }
    table("Spearman rank correlation with the trained model's map", sp, &r, o.n);
    table("SSIM with the trained model's map", ss, &r, o.n);
    snprintf(path, sizeof path, "%s/sanity.json", o.out);
    if (!(f = fopen(path, "w"))) {
        cli_error("sanity", "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno));
        goto done;
    }
    fprintf(f, "{\n  \"model\": ");
    cli_json_string(f, o.model);
    fprintf(f, ",\n  \"images\": %d,\n  \"seed\": %llu,\n  \"init_seed\": %llu,\n  \"steps\": [", o.n,
            (unsigned long long)o.seed, (unsigned long long)o.init_seed);
    for (int s = 0; s < r.steps; s++) {
        fprintf(f, "%s", s ? ", " : "");
        if (s) cli_json_string(f, r.layers[s]);
        else fprintf(f, "\"trained\"");
    }
    fprintf(f, "],\n  \"methods\": {");
    for (int k = 0; k < r.n_methods; k++) {
        fprintf(f, "%s\n    \"%s\": {\"spearman\": [", k ? "," : "", r.methods[k]->name);
        for (int s = 0; s < r.steps; s++) fprintf(f, "%s%.4f", s ? ", " : "", sp[s * r.n_methods + k] / o.n);
        fprintf(f, "], \"ssim\": [");
        for (int s = 0; s < r.steps; s++) fprintf(f, "%s%.4f", s ? ", " : "", ss[s * r.n_methods + k] / o.n);
        fprintf(f, "]}");
    }
    fprintf(f, "\n  }\n}\n");
    if (ferror(f) | fclose(f)) {
        f = NULL;
        cli_error("sanity", "%s: write failed", cli_q(q, sizeof q, path));
        goto done;
    }
    f = NULL;
    printf("wrote %s and %s/sanity.png\n", cli_q(q, sizeof q, path), o.out);
    rc = 0;
    goto done;
oom:
    cli_error("sanity", "out of memory");
    goto done;
fail:
    cli_error("sanity", "%s", gc_last_error());
done:
    if (f) fclose(f);
    gc_sanity_result_free(&r);
    gc_image_release(&img);
    gc_model_free(m);
    free(x);
    free(sp);
    free(ss);
    return rc;
}
