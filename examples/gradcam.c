/* gradcam.c - Grad-CAM, guided backprop and Guided Grad-CAM maps of a .gcw
 * model for each input, written as .npy files, PNG figures and a JSON summary. */
#include "gradcam.h"
#include "common/input.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: gradcam MODEL.gcw INPUT... [-c CLASS]... [-k K] [-l LAYER] [--counterfactual] [-o OUTDIR]\n"
        "Explains the model's decision on each INPUT with Grad-CAM, guided backpropagation\n"
        "and Guided Grad-CAM, and writes for each input stem and target class C into OUTDIR:\n"
        "  <stem>_c<C>_gradcam.npy          Grad-CAM ReLU map at the layer's resolution (h,w)\n"
        "  <stem>_c<C>_gradcam_up.npy       the same map resized to the input (H,W), not normalised\n"
        "  <stem>_c<C>_guided.npy           guided backpropagation (3,H,W)\n"
        "  <stem>_c<C>_guided_gradcam.npy   Guided Grad-CAM = guided * gradcam_up (3,H,W)\n"
        "  <stem>_c<C>_counterfactual.npy   with --counterfactual: ReLU(sum -alpha A) (h,w)\n"
        "  <stem>.json                      top-5 predictions, target logits and probabilities\n"
        "and for image inputs the pictures:\n"
        "  <stem>_c<C>_figure.png           original | Grad-CAM overlay with its localisation box |\n"
        "                                   guided backprop | Guided Grad-CAM, with label and score\n"
        "  <stem>_c<C>_counterfactual.png   with --counterfactual: that map over the original\n"
        "Options:\n"
        "  INPUT            an image (PNG, JPEG, PPM/PGM), preprocessed as the model says, or a\n"
        "                   float32 .npy (3,H,W) or (1,3,H,W), already preprocessed (no figures)\n"
        "  -c CLASS         explain class index CLASS (repeatable; default: the top-1 class)\n"
        "  -k K             explain the top K predicted classes (1..64; instead of -c)\n"
        "  -l LAYER         target layer name or alias (default: the spatial output that feeds\n"
        "                   the global pooling, after its activation: features.29 for VGG-16,\n"
        "                   layer4 for a ResNet; tools/gcw_inspect prints it)\n"
        "  --counterfactual also write the counterfactual map\n"
        "  -o OUTDIR        output folder, created if missing (default: .)\n"
        "  -q               no progress line (shown on a terminal for several inputs)\n"
        "  --help           this text\n");
    cli_preprocess_help(f);
    fprintf(f, "Exit status 0 on success, 1 on a bad model, input or output, 2 on bad usage.\n");
}

typedef struct options {
    const char  *model, *layer, *outdir;
    const char **inputs;
    int          n_inputs, classes[GC_EXPLAIN_MAX_TARGETS], n_classes, top_k, counterfactual, quiet;
    cli_preprocess pre;
} options;

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

/* 0 ok, 2 usage error (message printed), -1 --help */
static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->outdir = ".";
    cli_preprocess_init(&o->pre);
    o->inputs = calloc((size_t)argc, sizeof *o->inputs);
    if (!o->inputs) return 2;
    for (int i = 1; i < argc; i++) {
        int pre = cli_preprocess_option("gradcam", argc, argv, &i, &o->pre);
        if (pre < 0) return 2;
        if (pre) continue;
        const char *a = argv[i];
        int has_value = !strcmp(a, "-c") || !strcmp(a, "-k") || !strcmp(a, "-l") || !strcmp(a, "-o");
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (has_value && i + 1 >= argc) {
            fprintf(stderr, "gradcam: %s needs a value (try --help)\n", a);
            return 2;
        }
        if (!strcmp(a, "-c")) {
            if (o->n_classes == GC_EXPLAIN_MAX_TARGETS || !parse_int(argv[++i], 0, 1 << 30, &o->classes[o->n_classes])) {
                fprintf(stderr, "gradcam: -c takes a class index >= 0 (at most %d of them), got \"%s\"\n",
                        GC_EXPLAIN_MAX_TARGETS, argv[i]);
                return 2;
            }
            o->n_classes++;
        } else if (!strcmp(a, "-k")) {
            if (!parse_int(argv[++i], 1, GC_EXPLAIN_MAX_TARGETS, &o->top_k)) {
                fprintf(stderr, "gradcam: -k takes an integer in 1..%d, got \"%s\"\n", GC_EXPLAIN_MAX_TARGETS, argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "-l")) o->layer = argv[++i];
        else if (!strcmp(a, "-o")) o->outdir = argv[++i];
        else if (!strcmp(a, "--counterfactual")) o->counterfactual = 1;
        else if (!strcmp(a, "-q")) o->quiet = 1;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "gradcam: unknown option %s (try --help)\n", a);
            return 2;
        } else if (!o->model) o->model = a;
        else o->inputs[o->n_inputs++] = a;
    }
    if (!o->model || !o->n_inputs) {
        fprintf(stderr, "gradcam: need a model and at least one input (try --help)\n");
        return 2;
    }
    if (o->n_classes && o->top_k) {
        fprintf(stderr, "gradcam: give either -c or -k, not both\n");
        return 2;
    }
    return 0;
}

static void json_string(FILE *f, const char *s) {
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int save_map(const options *o, const char *stem, int cls, const char *what, const gc_tensor *t) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_c%d_%s.npy", o->outdir, stem, cls, what);
    if (gc_npy_save(path, t)) {
        fprintf(stderr, "gradcam: %s\n", gc_last_error());
        return 0;
    }
    return 1;
}

static int save_png(const options *o, const char *stem, int cls, const char *what, gc_image *img) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_c%d_%s.png", o->outdir, stem, cls, what);
    gc_status st = gc_image_save_png(img, path);
    gc_image_release(img);
    if (st) fprintf(stderr, "gradcam: %s\n", gc_last_error());
    return st == GC_OK;
}

/* The side-by-side figure, and the counterfactual map over the original. */
static int save_figures(const options *o, const char *stem, const gc_model *m, const gc_preprocess *pre,
                        const cli_input *in, const gc_explanation *e) {
    gc_figure_opts fo = gc_figure_defaults();
    fo.label = gc_model_label(m, e->class_index);
    fo.order = pre->order;
    gc_image fig;
    if (gc_render_figure(&in->image, &in->info, e, &fo, &fig)) {
        fprintf(stderr, "gradcam: figure: %s\n", gc_last_error());
        return 0;
    }
    if (!save_png(o, stem, e->class_index, "figure", &fig)) return 0;
    if (!o->counterfactual) return 1;
    gc_overlay_opts ov = gc_overlay_defaults();
    gc_image cf;
    if (gc_render_overlay(&in->image, e->counterfactual.data, (int32_t)e->counterfactual.shape[0],
                          (int32_t)e->counterfactual.shape[1], &in->info, &ov, &cf, NULL)) {
        fprintf(stderr, "gradcam: counterfactual overlay: %s\n", gc_last_error());
        return 0;
    }
    return save_png(o, stem, e->class_index, "counterfactual", &cf);
}

static int write_json(const options *o, const char *input, const char *stem, const gc_model *m,
                      const gc_explain_result *r) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", o->outdir, stem);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "gradcam: %s: %s\n", path, strerror(errno));
        return 0;
    }
    int64_t n = r->logits.shape[0];
    int top[5], kk = n < 5 ? (int)n : 5;
    for (int j = 0; j < kk; j++) {
        top[j] = -1;
        for (int64_t c = 0; c < n; c++) {
            int taken = 0;
            for (int t = 0; t < j; t++) taken |= top[t] == c;
            if (!taken && (top[j] < 0 || r->logits.data[c] > r->logits.data[top[j]])) top[j] = (int)c;
        }
    }
    fprintf(f, "{\n  \"input\": ");
    json_string(f, input);
    fprintf(f, ",\n  \"layer\": ");
    json_string(f, r->layer);
    fprintf(f, ",\n  \"top5\": [");
    for (int j = 0; j < kk; j++) {
        fprintf(f, "%s\n    {\"class\": %d, \"label\": ", j ? "," : "", top[j]);
        json_string(f, gc_model_label(m, top[j]));
        fprintf(f, ", \"logit\": %.9g, \"probability\": %.9g}", r->logits.data[top[j]], r->probabilities.data[top[j]]);
    }
    fprintf(f, "\n  ],\n  \"targets\": [");
    for (int t = 0; t < r->count; t++) {
        const gc_explanation *e = &r->items[t];
        fprintf(f, "%s\n    {\"class\": %d, \"label\": ", t ? "," : "", e->class_index);
        json_string(f, gc_model_label(m, e->class_index));
        fprintf(f, ", \"logit\": %.9g, \"probability\": %.9g}", e->score, e->probability);
    }
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f)) {
        fprintf(stderr, "gradcam: %s: write failed\n", path);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        if (rc < 0) usage(stdout);
        free(o.inputs);
        return rc < 0 ? 0 : 2;
    }
    rc = 1;
    gc_model *m = NULL;
    gc_session *s = NULL;
    cli_input in = {0};
    int64_t sh = 0, sw = 0;
    if (mkdir(o.outdir, 0777) && errno != EEXIST) {
        fprintf(stderr, "gradcam: cannot create %s: %s\n", o.outdir, strerror(errno));
        goto done;
    }
    if (gc_model_open(o.model, &m)) {
        fprintf(stderr, "gradcam: %s\n", gc_last_error());
        goto done;
    }
    gc_preprocess pre = cli_preprocess_apply(&o.pre, gc_model_preprocess(m));
    gc_explain_request req = {.target = GC_TARGET_TOP1, .layer = o.layer,
                              .methods = GC_METHOD_GUIDED_GRADCAM | (o.counterfactual ? GC_METHOD_COUNTERFACTUAL : 0)};
    if (o.top_k) req.target = GC_TARGET_TOPK, req.top_k = o.top_k;
    if (o.n_classes) req.target = GC_TARGET_CLASSES, req.classes = o.classes, req.n_classes = o.n_classes;

    /* a progress line on a terminal when there are several inputs; the
       predictions always go to stdout */
    int progress = !o.quiet && o.n_inputs > 1 && isatty(2);
    for (int n = 0; n < o.n_inputs; n++) {
        if (progress) fprintf(stderr, "\rgradcam: %d/%d %s\033[K", n + 1, o.n_inputs, o.inputs[n]);
        if (!cli_input_load("gradcam", o.inputs[n], &pre, &in)) goto done;
        const gc_tensor x = in.x;
        if (!s || x.shape[2] != sh || x.shape[3] != sw) {
            gc_session_free(s);
            s = NULL;
            const char *keep[] = {o.layer, NULL}; /* the target layer's output must stay readable */
            gc_session_config cfg = {.batch = 1, .channels = 3, .height = x.shape[2], .width = x.shape[3],
                                     .keep = keep};
            if (gc_session_create(m, &cfg, &s)) {
                fprintf(stderr, "%sgradcam: %s: %s\n", progress ? "\n" : "", o.inputs[n], gc_last_error());
                goto done;
            }
            sh = x.shape[2], sw = x.shape[3];
        }
        gc_explain_result r;
        if (gc_explain(s, x.data, &req, &r)) {
            fprintf(stderr, "%sgradcam: %s: %s\n", progress ? "\n" : "", o.inputs[n], gc_last_error());
            goto done;
        }
        char stem[1024];
        cli_stem(o.inputs[n], stem, sizeof stem);
        for (int t = 0; t < r.count; t++) {
            const gc_explanation *e = &r.items[t];
            if (!save_map(&o, stem, e->class_index, "gradcam", &e->cam) ||
                !save_map(&o, stem, e->class_index, "gradcam_up", &e->cam_up) ||
                !save_map(&o, stem, e->class_index, "guided", &e->guided) ||
                !save_map(&o, stem, e->class_index, "guided_gradcam", &e->guided_gradcam) ||
                (o.counterfactual && !save_map(&o, stem, e->class_index, "counterfactual", &e->counterfactual)) ||
                (in.is_image && !save_figures(&o, stem, m, &pre, &in, e)))
                goto done;
        }
        cli_input_release(&in);
        if (!write_json(&o, o.inputs[n], stem, m, &r)) goto done;
        if (progress) fprintf(stderr, "\r\033[K");
        for (int t = 0; t < r.count; t++) {
            const char *label = gc_model_label(m, r.items[t].class_index);
            printf("%s: class %d%s%s%s  logit %.4f  p %.4f\n", o.inputs[n], r.items[t].class_index,
                   label ? " (" : "", label ? label : "", label ? ")" : "", r.items[t].score, r.items[t].probability);
        }
        fflush(stdout);
    }
    rc = 0;
done:
    cli_input_release(&in);
    gc_session_free(s);
    gc_model_free(m);
    free(o.inputs);
    return rc;
}
