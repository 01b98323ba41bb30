/* gradcam.c - Grad-CAM, guided backprop and Guided Grad-CAM maps of a .gcw
 * model for each input, written as .npy files, PNG figures and a JSON summary.
 * Each input's files appear all together or not at all: everything is
 * computed and rendered first, written under temporary names, then renamed. */
#include "gradcam.h"
#include "common/cli.h"
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
        "usage: gradcam MODEL.gcw INPUT... [-c CLASS]... [-k K] [-l LAYER] [--counterfactual]\n"
        "               [--method NAME[,NAME...]|all] [-o OUTDIR]\n"
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
        "An input's files are written all together or not at all.\n"
        "Options:\n"
        "  INPUT            an image (PNG, JPEG, PPM/PGM), preprocessed as the model says, or a\n"
        "                   float32 .npy (3,H,W) or (1,3,H,W), already preprocessed (no figures)\n"
        "  -c CLASS         explain class index CLASS (repeatable; default: the top-1 class)\n"
        "  -k K             explain the top K predicted classes (1..64; instead of -c)\n"
        "  -l LAYER         target layer name or alias (default: the spatial output that feeds\n"
        "                   the global pooling, after its activation: features.29 for VGG-16,\n"
        "                   layer4 for a ResNet; tools/gcw_inspect prints it)\n"
        "  --counterfactual also write the counterfactual map\n"
        "  --method LIST    the methods to run instead (comma-separated names, or all): every map\n"
        "                   of each is written as <stem>_c<C>_<map>.npy and <stem>_c<C>_figure.png\n"
        "                   has the original and one panel per method (docs/explainers.md). all\n"
        "                   leaves out CAM when the layer is not followed by a GAP + linear head\n"
        "                   and Ablation-CAM at the network output. Names:\n");
    for (int i = 0; i < gc_method_count(); i++)
        fprintf(f, "%s%s%s", i % 5 ? " " : "                     ", gc_method_at(i)->name,
                i + 1 == gc_method_count() ? "\n" : i % 5 == 4 ? ",\n" : ",");
    fprintf(f,
        "  -o OUTDIR        output folder, created if missing (default: .)\n"
        "  -q               no progress line (shown on a terminal for several inputs)\n"
        "  --help           this text\n");
    cli_preprocess_help(f);
    fprintf(f, "The model must output a (1, classes) score vector. A NaN or infinity in an input, a\n"
               "parameter, the output or a map is an error naming where it first appears.\n"
               "Exit status 0 on success, 1 on a bad model, input or output, 2 on bad usage.\n");
}

typedef struct options {
    const char  *model, *layer, *outdir;
    const char **inputs;
    int          n_inputs, classes[GC_EXPLAIN_MAX_TARGETS], n_classes, top_k, counterfactual, quiet;
    unsigned     methods;  /* --method bits, 0: the default maps */
    int          all;      /* --method all */
    cli_preprocess pre;
} options;

/* 0 ok, 2 usage error (message printed), -1 --help */
static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->outdir = ".";
    cli_preprocess_init(&o->pre);
    o->inputs = calloc((size_t)argc, sizeof *o->inputs);
    if (!o->inputs) return 2;
    char q[128];
    for (int i = 1; i < argc; i++) {
        int pre = cli_preprocess_option("gradcam", argc, argv, &i, &o->pre);
        if (pre < 0) return 2;
        if (pre) continue;
        const char *a = argv[i];
        int has_value = !strcmp(a, "-c") || !strcmp(a, "-k") || !strcmp(a, "-l") || !strcmp(a, "-o") ||
                        !strcmp(a, "--method");
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (has_value && i + 1 >= argc) {
            cli_error("gradcam", "%s needs a value (try --help)", a);
            return 2;
        }
        if (!strcmp(a, "-c")) {
            if (o->n_classes == GC_EXPLAIN_MAX_TARGETS ||
                !cli_parse_int(argv[++i], 0, 1 << 30, &o->classes[o->n_classes])) {
                cli_error("gradcam", "-c takes a class index >= 0 (at most %d of them), got \"%s\"",
                          GC_EXPLAIN_MAX_TARGETS, cli_q(q, sizeof q, argv[i]));
                return 2;
            }
            o->n_classes++;
        } else if (!strcmp(a, "-k")) {
            if (!cli_parse_int(argv[++i], 1, GC_EXPLAIN_MAX_TARGETS, &o->top_k)) {
                cli_error("gradcam", "-k takes an integer in 1..%d, got \"%s\"", GC_EXPLAIN_MAX_TARGETS,
                          cli_q(q, sizeof q, argv[i]));
                return 2;
            }
        } else if (!strcmp(a, "-l")) o->layer = argv[++i];
        else if (!strcmp(a, "-o")) o->outdir = argv[++i];
        else if (!strcmp(a, "--counterfactual")) o->counterfactual = 1;
        else if (!strcmp(a, "--method")) {
            if (gc_method_parse(argv[++i], &o->methods)) {
                cli_error("gradcam", "--method: %s", gc_last_error());
                return 2;
            }
            o->all = o->methods == GC_METHOD_ALL;
        }
        else if (!strcmp(a, "-q")) o->quiet = 1;
        else if (a[0] == '-' && a[1]) {
            cli_error("gradcam", "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            return 2;
        } else if (!o->model) o->model = a;
        else o->inputs[o->n_inputs++] = a;
    }
    if (!o->model || !o->n_inputs) {
        cli_error("gradcam", "need a model and at least one input (try --help)");
        return 2;
    }
    if (o->n_classes && o->top_k) {
        cli_error("gradcam", "give either -c or -k, not both");
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- one input's files */

/* The files of one input, written under temporary names and renamed together at the end. */
typedef struct staged {
    char (*tmp)[4096], (*fin)[4096]; /* (n) */
    int n, cap;
} staged;

/* A temporary path for dir/name in *tmp (registered, so it is removed or renamed); 0 on failure. */
static int stage(staged *sg, const char *dir, const char *name, const char **tmp) {
    if (sg->n == sg->cap) {
        int cap = sg->cap ? 2 * sg->cap : 16;
        char (*t)[4096] = realloc(sg->tmp, (size_t)cap * sizeof *t);
        if (t) sg->tmp = t;
        char (*f)[4096] = t ? realloc(sg->fin, (size_t)cap * sizeof *f) : NULL;
        if (f) sg->fin = f;
        if (!t || !f) return 0;
        sg->cap = cap;
    }
    snprintf(sg->fin[sg->n], sizeof sg->fin[0], "%s/%s", dir, name);
    snprintf(sg->tmp[sg->n], sizeof sg->tmp[0], "%s/.%s.%ld.tmp", dir, name, (long)getpid());
    *tmp = sg->tmp[sg->n++];
    return 1;
}

/* Removes what was staged (after a failure). */
static void unstage(staged *sg) {
    for (int i = 0; i < sg->n; i++) unlink(sg->tmp[i]);
    sg->n = 0;
}

/* Renames every staged file to its final name; 0 (and the rest removed) on failure. */
static int commit(staged *sg, const char *input) {
    char q[256], qf[256];
    for (int i = 0; i < sg->n; i++)
        if (rename(sg->tmp[i], sg->fin[i])) {
            cli_error("gradcam", "%s: cannot rename to %s: %s", cli_q(q, sizeof q, input),
                      cli_q(qf, sizeof qf, sg->fin[i]), strerror(errno));
            for (int j = i; j < sg->n; j++) unlink(sg->tmp[j]);
            sg->n = 0;
            return 0;
        }
    sg->n = 0;
    return 1;
}

static void staged_free(staged *sg) {
    unstage(sg);
    free(sg->tmp);
    free(sg->fin);
}

static int save_map(staged *sg, const options *o, const char *input, const char *stem, int cls, const char *what,
                    const gc_tensor *t) {
    char name[1100], q[256];
    const char *tmp;
    snprintf(name, sizeof name, "%s_c%d_%s.npy", stem, cls, what);
    if (!stage(sg, o->outdir, name, &tmp)) { cli_error("gradcam", "out of memory"); return 0; }
    if (gc_npy_save(tmp, t)) {
        cli_error("gradcam", "%s: %s", cli_q(q, sizeof q, input), gc_last_error());
        return 0;
    }
    return 1;
}

static int save_png(staged *sg, const options *o, const char *input, const char *stem, int cls, const char *what,
                    const gc_image *img) {
    char name[1100], q[256];
    const char *tmp;
    snprintf(name, sizeof name, "%s_c%d_%s.png", stem, cls, what);
    if (!stage(sg, o->outdir, name, &tmp)) { cli_error("gradcam", "out of memory"); return 0; }
    if (gc_image_save_png(img, tmp)) {
        cli_error("gradcam", "%s: %s", cli_q(q, sizeof q, input), gc_last_error());
        return 0;
    }
    return 1;
}

/* The side-by-side figure and the counterfactual overlay of each target, rendered before
 * anything is written (a figure the renderer refuses, e.g. of a 300:1 image, fails the input
 * as a whole). figs and cfs: (r->count) each, released by the caller. */
/* The methods of bits in table order (at most 64); their count. */
static int method_list(unsigned bits, const gc_method_info **list) {
    int n = 0;
    for (int i = 0; i < gc_method_count() && n < 64; i++)
        if (gc_method_at(i)->bit & bits) list[n++] = gc_method_at(i);
    return n;
}

static int render_all(const options *o, const char *input, const gc_model *m, const gc_preprocess *pre,
                      const cli_input *in, const gc_explain_result *r, unsigned bits, gc_image *figs, gc_image *cfs) {
    char q[256];
    const gc_method_info *list[64];
    const int nm = method_list(bits, list);
    for (int t = 0; t < r->count; t++) {
        const gc_explanation *e = &r->items[t];
        gc_figure_opts fo = gc_figure_defaults();
        fo.label = gc_model_label(m, e->class_index);
        fo.order = pre->order;
        if (o->methods) {
            if (gc_render_methods(&in->image, &in->info, e, list, nm, &fo, &figs[t])) {
                cli_error("gradcam", "%s: figure of class %d: %s", cli_q(q, sizeof q, input), e->class_index,
                          gc_last_error());
                return 0;
            }
            continue;
        }
        if (gc_render_figure(&in->image, &in->info, e, &fo, &figs[t])) {
            cli_error("gradcam", "%s: figure of class %d: %s", cli_q(q, sizeof q, input), e->class_index, gc_last_error());
            return 0;
        }
        if (!o->counterfactual) continue;
        gc_overlay_opts ov = gc_overlay_defaults();
        if (gc_render_overlay(&in->image, e->counterfactual.data, (int32_t)e->counterfactual.shape[0],
                              (int32_t)e->counterfactual.shape[1], &in->info, &ov, &cfs[t], NULL)) {
            cli_error("gradcam", "%s: counterfactual overlay of class %d: %s", cli_q(q, sizeof q, input), e->class_index,
                      gc_last_error());
            return 0;
        }
    }
    return 1;
}

static int write_json(staged *sg, const options *o, const char *input, const char *stem, const gc_model *m,
                      const gc_explain_result *r) {
    char name[1100], q[256];
    const char *tmp;
    snprintf(name, sizeof name, "%s.json", stem);
    if (!stage(sg, o->outdir, name, &tmp)) { cli_error("gradcam", "out of memory"); return 0; }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cli_error("gradcam", "%s: %s: %s", cli_q(q, sizeof q, input), cli_q(name, sizeof name, tmp), strerror(errno));
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
    cli_json_string(f, input);
    fprintf(f, ",\n  \"layer\": ");
    cli_json_string(f, r->layer);
    fprintf(f, ",\n  \"top5\": [");
    for (int j = 0; j < kk; j++) {
        fprintf(f, "%s\n    {\"class\": %d, \"label\": ", j ? "," : "", top[j]);
        cli_json_string(f, gc_model_label(m, top[j]));
        fprintf(f, ", \"logit\": %.9g, \"probability\": %.9g}", r->logits.data[top[j]], r->probabilities.data[top[j]]);
    }
    fprintf(f, "\n  ],\n  \"targets\": [");
    for (int t = 0; t < r->count; t++) {
        const gc_explanation *e = &r->items[t];
        fprintf(f, "%s\n    {\"class\": %d, \"label\": ", t ? "," : "", e->class_index);
        cli_json_string(f, gc_model_label(m, e->class_index));
        fprintf(f, ", \"logit\": %.9g, \"probability\": %.9g}", e->score, e->probability);
    }
    fprintf(f, "\n  ]\n}\n");
    if (ferror(f) | fclose(f)) {
        cli_error("gradcam", "%s: %s: write failed", cli_q(q, sizeof q, input), cli_q(name, sizeof name, tmp));
        return 0;
    }
    return 1;
}

/* Every file of one explained input, staged; then all renamed. 0 on failure (nothing left behind). */
static int write_input(staged *sg, const options *o, const char *input, const char *stem, const gc_model *m,
                       const cli_input *in, const gc_explain_result *r, unsigned bits, const gc_image *figs,
                       const gc_image *cfs) {
    for (int t = 0; t < r->count; t++) {
        const gc_explanation *e = &r->items[t];
        if (o->methods) { /* every map of the methods asked for, and the figure */
            for (int i = 0; i < e->n_maps; i++)
                if ((e->maps[i].method & bits) &&
                    !save_map(sg, o, input, stem, e->class_index, e->maps[i].name, &e->maps[i].t))
                    goto fail;
            if (in->is_image && !save_png(sg, o, input, stem, e->class_index, "figure", &figs[t])) goto fail;
            continue;
        }
        if (!save_map(sg, o, input, stem, e->class_index, "gradcam", &e->cam) ||
            !save_map(sg, o, input, stem, e->class_index, "gradcam_up", &e->cam_up) ||
            !save_map(sg, o, input, stem, e->class_index, "guided", &e->guided) ||
            !save_map(sg, o, input, stem, e->class_index, "guided_gradcam", &e->guided_gradcam) ||
            (o->counterfactual && !save_map(sg, o, input, stem, e->class_index, "counterfactual", &e->counterfactual)) ||
            (in->is_image && !save_png(sg, o, input, stem, e->class_index, "figure", &figs[t])) ||
            (in->is_image && o->counterfactual && !save_png(sg, o, input, stem, e->class_index, "counterfactual", &cfs[t])))
            goto fail;
    }
    if (!write_json(sg, o, input, stem, m, r)) goto fail;
    return commit(sg, input);
fail:
    unstage(sg);
    return 0;
}

/* The session's output must be a (1, classes) score vector: a model whose output is spatial
 * would be explained as if each of its values were a class. */
static int check_output(const gc_model *m, const gc_session *s, const char *model) {
    gc_tensor y;
    const char *last = gc_model_layer_name(m, gc_model_layer_count(m) - 1);
    if (gc_session_shape(s, last, &y)) return 1; /* cannot happen: the output is always planned */
    if (y.ndim == 2 && y.shape[0] == 1 && y.shape[1] >= 1) return 1;
    char sh[96], q[256];
    size_t k = (size_t)snprintf(sh, sizeof sh, "%lld", (long long)y.shape[0]);
    for (int i = 1; i < y.ndim && k < sizeof sh; i++) k += (size_t)snprintf(sh + k, sizeof sh - k, "x%lld", (long long)y.shape[i]);
    cli_error("gradcam", "%s: the network output (layer %s) is %s, not a (1, classes) score vector; gradcam explains "
              "classifiers", cli_q(q, sizeof q, model), last, sh);
    return 0;
}

static void release_images(gc_image *v, int n) {
    for (int i = 0; v && i < n; i++) gc_image_release(&v[i]);
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
    staged sg = {0};
    gc_image figs[GC_EXPLAIN_MAX_TARGETS] = {{0}}, cfs[GC_EXPLAIN_MAX_TARGETS] = {{0}};
    int64_t sh = 0, sw = 0;
    char q[256];
    if (mkdir(o.outdir, 0777) && errno != EEXIST) {
        cli_error("gradcam", "cannot create %s: %s", cli_q(q, sizeof q, o.outdir), strerror(errno));
        goto done;
    }
    if (gc_model_open(o.model, &m)) {
        cli_error("gradcam", "%s", gc_last_error());
        goto done;
    }
    gc_preprocess pre = cli_preprocess_apply(&o.pre, gc_model_preprocess(m));
    gc_explain_request req = {.target = GC_TARGET_TOP1, .layer = o.layer,
                              .methods = GC_METHOD_GUIDED_GRADCAM | (o.counterfactual ? GC_METHOD_COUNTERFACTUAL : 0)};
    if (o.methods) req.methods = o.methods | (o.counterfactual ? GC_METHOD_COUNTERFACTUAL : 0);
    if (o.top_k) req.target = GC_TARGET_TOPK, req.top_k = o.top_k;
    if (o.n_classes) req.target = GC_TARGET_CLASSES, req.classes = o.classes, req.n_classes = o.n_classes;

    /* a progress line on a terminal when there are several inputs; the
       predictions always go to stdout */
    int progress = !o.quiet && o.n_inputs > 1 && isatty(2);
    for (int n = 0; n < o.n_inputs; n++) {
        const char *input = o.inputs[n];
        if (progress) cli_progress("gradcam", "%d/%d %s", n + 1, o.n_inputs, cli_q(q, sizeof q, input));
        if (!cli_input_load("gradcam", input, &in)) goto done;
        int64_t h, w;
        cli_input_size(&in, &pre, &h, &w);
        if (!s || h != sh || w != sw) { /* planned from the shapes, before an image is preprocessed */
            gc_session_free(s);
            s = NULL;
            const char *keep[] = {o.layer, NULL}; /* the target layer's output must stay readable */
            gc_session_config cfg = {.batch = 1, .channels = 3, .height = h, .width = w, .keep = keep};
            if (gc_session_create(m, &cfg, &s)) {
                cli_error("gradcam", "%s: %s", cli_q(q, sizeof q, input), gc_last_error());
                goto done;
            }
            if (!check_output(m, s, o.model)) goto done;
            sh = h, sw = w;
        }
        if (in.is_image && !cli_preprocess_check("gradcam", &pre)) goto done;
        if (!cli_input_prepare("gradcam", input, &pre, &in)) goto done;
        gc_explain_result r;
        gc_status st = gc_explain(s, in.x.data, &req, &r);
        /* --method all: the methods this model or layer cannot have are left out, once */
        if (st == GC_ERR_UNSUPPORTED && o.all && (req.methods & GC_METHOD_CAM) && strstr(gc_last_error(), "CAM needs")) {
            fprintf(stderr, "gradcam: note: CAM left out (%s)\n", gc_last_error());
            req.methods &= ~(unsigned)GC_METHOD_CAM;
            st = gc_explain(s, in.x.data, &req, &r);
        }
        if (st == GC_ERR_INVALID_ARGUMENT && o.all && (req.methods & GC_METHOD_ABLATIONCAM) &&
            strstr(gc_last_error(), "Ablation-CAM")) {
            fprintf(stderr, "gradcam: note: Ablation-CAM left out (%s)\n", gc_last_error());
            req.methods &= ~(unsigned)GC_METHOD_ABLATIONCAM;
            st = gc_explain(s, in.x.data, &req, &r);
        }
        if (st) {
            cli_error("gradcam", "%s: %s", cli_q(q, sizeof q, input), gc_last_error());
            goto done;
        }
        char stem[1024];
        cli_stem(input, stem, sizeof stem);
        if ((in.is_image && !render_all(&o, input, m, &pre, &in, &r, req.methods, figs, cfs)) ||
            !write_input(&sg, &o, input, stem, m, &in, &r, req.methods, figs, cfs))
            goto done;
        release_images(figs, GC_EXPLAIN_MAX_TARGETS);
        release_images(cfs, GC_EXPLAIN_MAX_TARGETS);
        cli_input_release(&in);
        cli_progress_end();
        for (int t = 0; t < r.count; t++) {
            const char *label = gc_model_label(m, r.items[t].class_index);
            char ql[256];
            printf("%s: class %d%s%s%s  logit %.4f  p %.4f\n", cli_q(q, sizeof q, input), r.items[t].class_index,
                   label ? " (" : "", label ? cli_q(ql, sizeof ql, label) : "", label ? ")" : "", r.items[t].score,
                   r.items[t].probability);
        }
        fflush(stdout);
    }
    rc = 0;
done:
    release_images(figs, GC_EXPLAIN_MAX_TARGETS);
    release_images(cfs, GC_EXPLAIN_MAX_TARGETS);
    staged_free(&sg);
    cli_input_release(&in);
    gc_session_free(s);
    gc_model_free(m);
    free(o.inputs);
    return rc;
}
