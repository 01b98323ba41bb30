/* gradcam.c - Grad-CAM, guided backprop, Guided Grad-CAM and the other methods' maps of a
 * .gcw model for each input of a data set (files, folders, list files), written as .npy
 * files, PNG figures and JSON, with a JSON Lines manifest appended as it goes (docs/cluster.md)
 * and an HTML gallery. Each input's files appear all together or not at all: everything is
 * computed and rendered first, written under temporary names, then renamed; its manifest line
 * follows, so a rerun with --resume skips exactly the inputs that are complete. Consecutive
 * inputs of one size are explained together (gc_explain_batch, --batch); the decoding and the
 * writing of a batch's inputs run on the session's threads, one whole input per thread. */
#include "gradcam.h"
#include "common/batch.h"
#include "common/cli.h"
#include "common/input.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_FUSE = 16, MAX_BATCH = 64, DEFAULT_BATCH = 8, MAX_WORKERS = 64 };

static void usage(FILE *f) {
    fprintf(f,
        "usage: gradcam MODEL.gcw INPUT... [--list FILE]... [-c CLASS]... [-k K] [-l LAYER]\n"
        "               [--counterfactual] [--method NAME[,NAME...]|all] [--layercam-fuse L1,L2,...]\n"
        "               [-o OUTDIR] [--shard I/N] [--resume] [--batch N] [-q]\n"
        "Explains the model's decision on each input with Grad-CAM, guided backpropagation\n"
        "and Guided Grad-CAM, and writes for each input NAME (its path relative to where it was\n"
        "found, without extension) and target class C into OUTDIR:\n"
        "  NAME_c<C>_gradcam.npy          Grad-CAM ReLU map at the layer's resolution (h,w)\n"
        "  NAME_c<C>_gradcam_up.npy       the same map resized to the input (H,W), not normalised\n"
        "  NAME_c<C>_guided.npy           guided backpropagation (3,H,W)\n"
        "  NAME_c<C>_guided_gradcam.npy   Guided Grad-CAM = guided * gradcam_up (3,H,W)\n"
        "  NAME_c<C>_counterfactual.npy   with --counterfactual: ReLU(sum -alpha A) (h,w)\n"
        "  NAME.json                      top-5 predictions, target logits and probabilities\n"
        "and for image inputs the pictures:\n"
        "  NAME_c<C>_figure.png           original | Grad-CAM overlay with its localisation box |\n"
        "                                 guided backprop | Guided Grad-CAM, with label and score\n"
        "  NAME_c<C>_counterfactual.png   with --counterfactual: that map over the original\n"
        "An input's files are written all together (temporary names, then renamed) or not at all.\n"
        "For the whole run OUTDIR also gets (docs/cluster.md has the formats):\n"
        "  manifest.jsonl   JSON Lines: a header, then per input its index, name, layer, top\n"
        "                   max(5,K) predictions, targets, files written and timing (or its error),\n"
        "                   appended and flushed input by input\n"
        "  index.html       a gallery: per input its figures, top predictions and scores,\n"
        "                   filterable by predicted class (index.html#class=LABEL selects one);\n"
        "                   self-contained, opens from the file system\n"
        "A shard I of N writes manifest.shard-I-of-N.jsonl and index.shard-I-of-N.html instead;\n"
        "tools/gcmerge joins the shard manifests into the one-machine manifest.jsonl.\n"
        "Inputs, in the order given:\n"
        "  INPUT            an image (PNG, JPEG, PPM/PGM), preprocessed as the model says, or a\n"
        "                   float32 .npy (3,H,W) or (1,3,H,W), already preprocessed (no figures);\n"
        "                   named by its base name. Or a folder: every .png .jpg .jpeg .ppm .pgm\n"
        "                   below it (any case; links to folders not followed, OUTDIR left out),\n"
        "                   in bytewise order of their path relative to the folder, which names\n"
        "                   them (a/b/x.png writes OUTDIR/a/b/x_c3_figure.png)\n"
        "  --list FILE      the paths in FILE, one per line (- reads standard input; empty lines\n"
        "                   ignored), relative to the current folder: a folder as above, a file\n"
        "                   named by its path as written (without ./), or by its base name when\n"
        "                   that path is absolute or has a .. part\n"
        "                   Two inputs that would write the same names are refused before\n"
        "                   anything runs. Input k (0-based) belongs to shard k mod N.\n"
        "Options:\n"
        "  -c CLASS         explain class index CLASS (repeatable; default: the top-1 class)\n"
        "  -k K             explain the top K predicted classes (1..64; instead of -c)\n"
        "  -l LAYER         target layer name or alias (default: the spatial output that feeds\n"
        "                   the global pooling, after its activation: features.29 for VGG-16,\n"
        "                   layer4 for a ResNet; tools/gcw_inspect prints it)\n"
        "  --counterfactual also write the counterfactual map\n"
        "  --method LIST    the methods to run instead (comma-separated names, or all): every map\n"
        "                   of each is written as NAME_c<C>_<map>.npy and NAME_c<C>_figure.png\n"
        "                   has the original and one panel per method (docs/explainers.md). all\n"
        "                   leaves out CAM when the layer is not followed by a GAP + linear head\n"
        "                   and Ablation-CAM at the network output. Names:\n");
    for (int i = 0; i < gc_method_count(); i++)
        fprintf(f, "%s%s%s", i % 5 ? " " : "                     ", gc_method_at(i)->name,
                i + 1 == gc_method_count() ? "\n" : i % 5 == 4 ? ",\n" : ",");
    fprintf(f,
        "  --layercam-fuse L1,L2,...\n"
        "                   also Layer-CAM at each of these layers (2..%d, shallow to deep),\n"
        "                   fused as Jiang et al. sec. 3.3 (gc_layercam_fuse, gamma 2: every layer\n"
        "                   but the last scaled by tanh): NAME_c<C>_layercam_fused.npy (H,W), in\n"
        "                   [0,1], and for images NAME_c<C>_layercam_fused.png, that map over the\n"
        "                   original\n"
        "  -o OUTDIR        output folder, created if missing (default: .)\n"
        "  --shard I/N      explain only the inputs whose index k has k mod N = I (0 <= I < N)\n"
        "  --resume         keep the inputs the manifest already lists with all their files,\n"
        "                   from the first one on (the manifest must be of the same run: model,\n"
        "                   methods, -k, input count and shard); the rest is explained again\n"
        "  --batch N        explain up to N consecutive inputs of one network input size\n"
        "                   together (gc_explain_batch: the same maps as one by one; 1..%d,\n"
        "                   default %d; 1: one gc_explain per input). The inputs of a batch are\n"
        "                   decoded, and their outputs drawn and written, on the session's\n"
        "                   threads (one input per thread at a time); records in input order\n"
        "  -q               no progress bar (shown on a terminal for several inputs: done/total,\n"
        "                   inputs per second, time left)\n"
        "  --help           this text\n", MAX_FUSE, MAX_BATCH, DEFAULT_BATCH);
    cli_preprocess_help(f);
    fprintf(f, "The model must output a (1, classes) score vector. A NaN or infinity in an input, a\n"
               "parameter, the output or a map is an error naming where it first appears.\n"
               "An input that fails (unreadable, not finite, a figure that cannot be drawn) is\n"
               "reported, gets an \"error\" line in the manifest, and the run goes on. SIGINT or\n"
               "SIGTERM stops after the batch being explained is discarded; rerun with --resume.\n"
               "Exit status 0 on success, 1 when the model, an input or an output failed, 2 on bad\n"
               "usage, 128 + the signal's number when interrupted.\n");
}

typedef struct options {
    const char  *model, *layer, *outdir;
    const char **inputs;   /* (n_inputs) arguments and --list files, in order */
    char        *is_list;  /* (n_inputs) 1: a --list file */
    int          n_inputs, classes[GC_EXPLAIN_MAX_TARGETS], n_classes, top_k, counterfactual, quiet;
    int          resume, shard_i, shard_n;
    int          batch;    /* --batch */
    unsigned     methods;  /* --method bits, 0: the default maps */
    int          all;      /* --method all */
    char        *fuse_buf; /* --layercam-fuse names, split in place */
    const char  *fuse[MAX_FUSE];
    int          n_fuse;
    cli_preprocess pre;
} options;

static int parse_shard(const char *s, int *i, int *n) {
    const char *slash = strchr(s, '/');
    char a[32];
    if (!slash || (size_t)(slash - s) >= sizeof a) return 0;
    memcpy(a, s, (size_t)(slash - s));
    a[slash - s] = 0;
    return cli_parse_int(a, 0, 1 << 30, i) && cli_parse_int(slash + 1, 1, 1 << 30, n) && *i < *n;
}

static int parse_fuse(const char *v, options *o) {
    free(o->fuse_buf);
    o->fuse_buf = malloc(strlen(v) + 1);
    if (!o->fuse_buf) return 0;
    strcpy(o->fuse_buf, v);
    o->n_fuse = 0;
    for (char *p = o->fuse_buf;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        if (!*p || o->n_fuse == MAX_FUSE) return 0;
        o->fuse[o->n_fuse++] = p;
        if (!c) break;
        p = c + 1;
    }
    return o->n_fuse >= 2;
}

/* 0 ok, 2 usage error (message printed), -1 --help */
static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->outdir = ".";
    o->shard_n = 1;
    o->batch = DEFAULT_BATCH;
    cli_preprocess_init(&o->pre);
    o->inputs = calloc((size_t)argc, sizeof *o->inputs);
    o->is_list = calloc((size_t)argc, 1);
    if (!o->inputs || !o->is_list) return 2;
    char q[128];
    for (int i = 1; i < argc; i++) {
        int pre = cli_preprocess_option("gradcam", argc, argv, &i, &o->pre);
        if (pre < 0) return 2;
        if (pre) continue;
        const char *a = argv[i];
        int has_value = !strcmp(a, "-c") || !strcmp(a, "-k") || !strcmp(a, "-l") || !strcmp(a, "-o") ||
                        !strcmp(a, "--method") || !strcmp(a, "--list") || !strcmp(a, "--shard") ||
                        !strcmp(a, "--layercam-fuse") || !strcmp(a, "--batch");
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
        } else if (!strcmp(a, "--list")) {
            o->is_list[o->n_inputs] = 1;
            o->inputs[o->n_inputs++] = argv[++i];
        } else if (!strcmp(a, "--shard")) {
            if (!parse_shard(argv[++i], &o->shard_i, &o->shard_n)) {
                cli_error("gradcam", "--shard takes I/N with 0 <= I < N, got \"%s\"", cli_q(q, sizeof q, argv[i]));
                return 2;
            }
        } else if (!strcmp(a, "--layercam-fuse")) {
            if (!parse_fuse(argv[++i], o)) {
                cli_error("gradcam", "--layercam-fuse takes 2..%d layer names separated by commas, got \"%s\"",
                          MAX_FUSE, cli_q(q, sizeof q, argv[i]));
                return 2;
            }
        } else if (!strcmp(a, "--batch")) {
            if (!cli_parse_int(argv[++i], 1, MAX_BATCH, &o->batch)) {
                cli_error("gradcam", "--batch takes an integer in 1..%d, got \"%s\"", MAX_BATCH, cli_q(q, sizeof q, argv[i]));
                return 2;
            }
        } else if (!strcmp(a, "--resume")) o->resume = 1;
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

/* --layercam-fuse's maps of one input: per target the fused (H, W) map and its overlay. */
typedef struct fused {
    int       n;                             /* targets (0: not asked) */
    gc_tensor map[GC_EXPLAIN_MAX_TARGETS];   /* (H, W) each, owned */
    gc_image  img[GC_EXPLAIN_MAX_TARGETS];   /* image inputs: the overlay */
} fused;

/* The files of one input, written under temporary names and renamed together at the end. */
typedef struct staged {
    char (*tmp)[4096], (*fin)[4096]; /* (n) */
    int n, cap;
} staged;

/* A temporary path for dir/name in *tmp (registered, so it is removed or renamed); 0 on failure.
 * The temporary name is .<base name>.tmp beside the final one: the same in every run, so a
 * file a killed run left behind is overwritten and renamed (or removed) when the input is
 * explained again. */
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
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    snprintf(sg->fin[sg->n], sizeof sg->fin[0], "%s/%s", dir, name);
    snprintf(sg->tmp[sg->n], sizeof sg->tmp[0], "%s/%.*s.%s.tmp", dir, (int)(base - name), name, base);
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
    return 1; /* sg->n kept: the caller lists sg->fin, then sets it to 0 */
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

/* The methods of bits in table order (at most 64); their count. */
static int method_list(unsigned bits, const gc_method_info **list) {
    int n = 0;
    for (int i = 0; i < gc_method_count() && n < 64; i++)
        if (gc_method_at(i)->bit & bits) list[n++] = gc_method_at(i);
    return n;
}

/* The side-by-side figure and the counterfactual overlay of each target, rendered before
 * anything is written (a figure the renderer refuses, e.g. of a 300:1 image, fails the input
 * as a whole). figs and cfs: (r->count) each, released by the caller. */
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
                       const gc_image *cfs, const fused *fu) {
    for (int t = 0; t < r->count; t++) {
        const gc_explanation *e = &r->items[t];
        if (fu->n && (!save_map(sg, o, input, stem, e->class_index, "layercam_fused", &fu->map[t]) ||
                      (in->is_image && !save_png(sg, o, input, stem, e->class_index, "layercam_fused", &fu->img[t]))))
            goto fail;
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

/* The session's output must be a (batch, classes) score vector: a model whose output is
 * spatial would be explained as if each of its values were a class. */
static int check_output(const gc_model *m, const gc_session *s, int batch, const char *model) {
    gc_tensor y;
    const char *last = gc_model_layer_name(m, gc_model_layer_count(m) - 1);
    if (gc_session_shape(s, last, &y)) return 1; /* cannot happen: the output is always planned */
    if (y.ndim == 2 && y.shape[0] == batch && y.shape[1] >= 1) return 1;
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

static void fused_release(fused *fu) {
    for (int t = 0; t < GC_EXPLAIN_MAX_TARGETS; t++) {
        gc_tensor_release(&fu->map[t]);
        gc_image_release(&fu->img[t]);
    }
    fu->n = 0;
}

/* ---------------------------------------------------------------- Layer-CAM fusion */

/* Layer-CAM at each --layercam-fuse layer for r's targets (on sf, a second session, so r's
 * maps stay valid), fused per target by gc_layercam_fuse; the overlays for image inputs. */
static int fuse_input(gc_session *sf, const options *o, const char *input, const cli_input *in,
                      const gc_explain_result *r, int64_t h, int64_t w, fused *fu) {
    char q[256];
    int cls[GC_EXPLAIN_MAX_TARGETS], ok = 0;
    for (int t = 0; t < r->count; t++) cls[t] = r->items[t].class_index;
    const int64_t np = h * w, shape[2] = {h, w};
    float *buf = malloc((size_t)(o->n_fuse * r->count) * (size_t)np * sizeof *buf); /* (layer, target, h, w) */
    if (!buf) { cli_error("gradcam", "%s: out of memory", cli_q(q, sizeof q, input)); return 0; }
    for (int l = 0; l < o->n_fuse; l++) {
        gc_explain_request rq = {.target = GC_TARGET_CLASSES, .classes = cls, .n_classes = r->count,
                                 .layer = o->fuse[l], .methods = GC_METHOD_LAYERCAM};
        gc_explain_result rf;
        if (gc_explain(sf, in->x.data, &rq, &rf)) {
            cli_error("gradcam", "%s: --layercam-fuse at %s: %s", cli_q(q, sizeof q, input), o->fuse[l], gc_last_error());
            goto done;
        }
        for (int t = 0; t < r->count; t++) {
            const gc_tensor *up = gc_explanation_map(&rf.items[t], "layercam_up");
            if (!up || gc_tensor_numel(up) != np) {
                cli_error("gradcam", "%s: --layercam-fuse at %s: no %lldx%lld layercam_up map", cli_q(q, sizeof q, input),
                          o->fuse[l], (long long)h, (long long)w);
                goto done;
            }
            memcpy(buf + ((size_t)l * (size_t)r->count + (size_t)t) * (size_t)np, up->data, (size_t)np * sizeof *buf);
        }
    }
    fu->n = r->count;
    for (int t = 0; t < r->count; t++) {
        const float *maps[MAX_FUSE];
        int scale[MAX_FUSE];
        for (int l = 0; l < o->n_fuse; l++) {
            maps[l] = buf + ((size_t)l * (size_t)r->count + (size_t)t) * (size_t)np;
            scale[l] = l + 1 < o->n_fuse; /* the shallow layers: all but the deepest */
        }
        if (gc_tensor_alloc(&fu->map[t], 2, shape) ||
            gc_layercam_fuse(maps, scale, o->n_fuse, np, 2.0f, fu->map[t].data)) {
            cli_error("gradcam", "%s: --layercam-fuse: %s", cli_q(q, sizeof q, input), gc_last_error());
            goto done;
        }
        gc_overlay_opts ov = gc_overlay_defaults();
        if (in->is_image && gc_render_overlay(&in->image, fu->map[t].data, (int32_t)h, (int32_t)w, &in->info, &ov,
                                              &fu->img[t], NULL)) {
            cli_error("gradcam", "%s: fused Layer-CAM overlay of class %d: %s", cli_q(q, sizeof q, input), cls[t],
                      gc_last_error());
            goto done;
        }
    }
    ok = 1;
done:
    free(buf);
    if (!ok) fused_release(fu);
    return ok;
}

/* ---------------------------------------------------------------- manifest */

/* Lines of the manifest kept in memory for the gallery (without their timing). */
typedef struct lines {
    char **v;  /* (n) */
    int    n, cap;
} lines;

static int lines_push(lines *ls, const char *s, size_t len) {
    if (ls->n == ls->cap) {
        int cap = ls->cap ? 2 * ls->cap : 64;
        char **v = realloc(ls->v, (size_t)cap * sizeof *v);
        if (!v) return 0;
        ls->v = v, ls->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return 0;
    memcpy(c, s, len);
    c[len] = 0;
    ls->v[ls->n++] = c;
    return 1;
}

/* A record line for the gallery: the line without its timing (the last key), so two runs'
 * galleries are equal. A quote outside a JSON string is never escaped, so the key's text
 * cannot occur inside a string. */
static int lines_push_record(lines *ls, const char *line) {
    const char *t = strstr(line, ", \"timing\": {");
    if (!t) return lines_push(ls, line, strlen(line));
    size_t k = (size_t)(t - line);
    char *c = malloc(k + 2);
    if (!c) return 0;
    memcpy(c, line, k);
    c[k] = '}', c[k + 1] = 0;
    int ok = lines_push(ls, c, k + 1);
    free(c);
    return ok;
}

static void lines_free(lines *ls) {
    for (int i = 0; i < ls->n; i++) free(ls->v[i]);
    free(ls->v);
}

static char *header_line(const options *o, const char *methods, int top_k, int total) {
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f) return NULL;
    fputs("{\"manifest\": \"libgradcam\", \"version\": 1, \"model\": ", f);
    cli_json_ascii(f, o->model);
    fputs(", \"methods\": ", f);
    cli_json_ascii(f, methods);
    fprintf(f, ", \"top_k\": %d, \"eval_steps\": 0, \"inputs\": %d, \"shard\": [%d, %d]}", top_k, total, o->shard_i,
            o->shard_n);
    return fclose(f) ? (free(s), NULL) : s;
}

static void json_seconds(FILE *f, const char *key, double s) {
    fprintf(f, "%s\"%s\": ", strcmp(key, "decode_s") ? ", " : "", key);
    cli_json_number(f, round(s * 1e6) / 1e6);
}

/* The manifest record of an explained input (files: sg's staged names, relative to outdir)
 * or, with r NULL, of a failed one (error: the message). */
static char *record_line(int index, const cli_item *it, const gc_model *m, const gc_explain_result *r, int top_k,
                         const staged *sg, size_t off, const char *error, const double tm[4]) {
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f) return NULL;
    fprintf(f, "{\"index\": %d, \"input\": ", index);
    cli_json_ascii(f, it->name);
    if (!r) {
        fputs(", \"error\": ", f);
        cli_json_ascii(f, error);
        fputc('}', f);
        return fclose(f) ? (free(s), NULL) : s;
    }
    fputs(", \"layer\": ", f);
    cli_json_ascii(f, r->layer);
    fputs(", \"predictions\": [", f);
    /* the top max(5, K) classes by logit, the lower class first on ties */
    const int64_t nc = r->logits.shape[0];
    const float *y = r->logits.data;
    int kk = top_k > 5 ? top_k : 5, prev = -1;
    if (kk > nc) kk = (int)nc;
    for (int j = 0; j < kk; j++) {
        int best = -1;
        for (int64_t c = 0; c < nc; c++) {
            int after = prev < 0 || y[c] < y[prev] || (y[c] == y[prev] && c > prev);
            if (after && (best < 0 || y[c] > y[best])) best = (int)c;
        }
        prev = best;
        char lab[32];
        const char *label = gc_model_label(m, best);
        if (!label) snprintf(lab, sizeof lab, "class %d", best), label = lab;
        fprintf(f, "%s{\"class\": %d, \"label\": ", j ? ", " : "", best);
        cli_json_ascii(f, label);
        fputs(", \"logit\": ", f);
        cli_json_number(f, y[best]);
        fputs(", \"probability\": ", f);
        cli_json_number(f, r->probabilities.data[best]);
        fputc('}', f);
    }
    fputs("], \"targets\": [", f);
    for (int t = 0; t < r->count; t++) fprintf(f, "%s%d", t ? ", " : "", r->items[t].class_index);
    fputs("], \"files\": [", f);
    for (int i = 0; i < sg->n; i++) {
        if (i) fputs(", ", f);
        cli_json_ascii(f, sg->fin[i] + off);
    }
    fputs("], \"timing\": {", f);
    json_seconds(f, "decode_s", tm[0]);
    json_seconds(f, "explain_s", tm[1]);
    json_seconds(f, "write_s", tm[2]);
    json_seconds(f, "eval_s", 0);
    json_seconds(f, "total_s", tm[3]);
    fputs("}}", f);
    return fclose(f) ? (free(s), NULL) : s;
}

/* --resume: keeps the manifest's records of this shard's inputs from the first on, in order,
 * while each is whole (newline-terminated), names the expected input and either failed or
 * has every file it lists in outdir; the file is cut after the last one kept. Returns how
 * many were kept (their lines in ls), -1 on failure (printed). A missing manifest keeps 0. */
static int resume_manifest(const char *path, const char *header, const char *outdir, const cli_items *items,
                           const int *order, int n_order, FILE **out, lines *ls) {
    char q[256];
    FILE *f = fopen(path, "r+");
    if (!f && errno == ENOENT) return 0;
    if (!f) {
        cli_error("gradcam", "--resume: cannot open %s: %s", cli_q(q, sizeof q, path), strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long keep_at = -1;
    int kept = 0, ok = 1;
    char name[4096], file[8192];
    if ((len = getline(&line, &cap, f)) < 0 || line[len - 1] != '\n' || (size_t)len - 1 != strlen(header) ||
        memcmp(line, header, (size_t)len - 1)) {
        cli_error("gradcam", "--resume: %s is not the manifest of this run (its first line is not %s); remove it or "
                  "run without --resume", cli_q(q, sizeof q, path), header);
        ok = 0;
    }
    if (ok) keep_at = ftell(f);
    while (ok && kept < n_order && (len = getline(&line, &cap, f)) > 0 && line[len - 1] == '\n') {
        line[len - 1] = 0;
        const cli_item *it = &items->v[order[kept]];
        char pre[48];
        int np = snprintf(pre, sizeof pre, "{\"index\": %d, \"input\": ", order[kept]);
        const char *p = line + np;
        if (strncmp(line, pre, (size_t)np) || !cli_json_parse_string(&p, name, sizeof name) || strcmp(name, it->name))
            break;
        int whole = 1;
        if (strncmp(p, ", \"error\": ", 11)) {
            const char *fl = strstr(p, ", \"files\": [");
            whole = fl != NULL;
            for (p = fl ? fl + 12 : p; whole && *p != ']';) {
                struct stat st;
                size_t ol = (size_t)snprintf(file, sizeof file, "%s/", outdir);
                whole = cli_json_parse_string(&p, file + ol, sizeof file - ol) && !stat(file, &st) && S_ISREG(st.st_mode);
                if (whole && !strncmp(p, ", ", 2)) p += 2;
                else if (whole && *p != ']') whole = 0;
            }
        }
        if (!whole) break;
        if (!lines_push_record(ls, line)) {
            cli_error("gradcam", "out of memory");
            ok = 0;
            break;
        }
        kept++;
        keep_at = ftell(f);
    }
    free(line);
    if (ok && (fflush(f) || ftruncate(fileno(f), keep_at) || fseek(f, keep_at, SEEK_SET))) {
        cli_error("gradcam", "--resume: cannot cut %s: %s", cli_q(q, sizeof q, path), strerror(errno));
        ok = 0;
    }
    if (!ok) {
        fclose(f);
        return -1;
    }
    *out = f;
    return kept;
}

/* ---------------------------------------------------------------- gallery */

/* JSON text inside a <script> element: '<' as \u003c (it only occurs inside strings), so no
 * label or file name can close the element. */
static void script_json(FILE *f, const char *s) {
    for (; *s; s++)
        if (*s == '<') fputs("\\u003c", f);
        else fputc(*s, f);
}

static const char gallery_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>gradcam gallery</title>\n"
    "<style>\n"
    "body{font:14px/1.4 sans-serif;margin:16px;background:#f4f4f4;color:#222}\n"
    "header{display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}\n"
    "h1{font-size:18px;margin:0}\n"
    "#list{display:flex;flex-wrap:wrap;gap:12px;margin-top:12px}\n"
    ".card{background:#fff;border:1px solid #ccc;border-radius:4px;padding:8px;max-width:100%;box-sizing:border-box}\n"
    ".card h2{font-size:14px;margin:0 0 6px;word-break:break-all}\n"
    ".card img{max-width:100%;height:auto;display:block;margin:4px 0}\n"
    "table{border-collapse:collapse}td{padding:1px 10px 1px 0}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".bar{display:inline-block;height:8px;background:#3a7}\n"
    ".err{color:#b00}\n"
    "</style>\n</head>\n<body>\n"
    "<header><h1 id=\"title\"></h1><label>Predicted class <select id=\"cls\"></select></label>"
    "<span id=\"count\"></span></header>\n<main id=\"list\"></main>\n<script>\n";

static const char gallery_tail[] =
    "];\n"
    "(function () {\n"
    "  function el(t, c, x) { var e = document.createElement(t); if (c) e.className = c;\n"
    "    if (x != null) e.textContent = x; return e; }\n"
    "  function url(p) { return p.split('/').map(encodeURIComponent).join('/'); }\n"
    "  function top(r) { return r.error ? '(failed)' : r.predictions[0].label; }\n"
    "  document.getElementById('title').textContent = 'gradcam: ' + RUN.model + ' (' + RUN.methods + '), ' +\n"
    "    (RUN.shard[1] > 1 ? 'shard ' + RUN.shard[0] + ' of ' + RUN.shard[1] + ', ' : '') + R.length + ' inputs';\n"
    "  var sel = document.getElementById('cls'), list = document.getElementById('list'),\n"
    "      count = document.getElementById('count'), counts = {};\n"
    "  R.forEach(function (r) { var k = top(r); counts[k] = (counts[k] || 0) + 1; });\n"
    "  sel.appendChild(new Option('all (' + R.length + ')', ''));\n"
    "  Object.keys(counts).sort().forEach(function (k) { sel.appendChild(new Option(k + ' (' + counts[k] + ')', k)); });\n"
    "  var cards = R.map(function (r, n) {\n"
    "    var c = el('section', 'card'); c.dataset.cls = top(r); c.appendChild(el('h2', null, r.input));\n"
    "    if (r.error) { c.appendChild(el('p', 'err', r.error)); return c; }\n"
    "    r.files.forEach(function (f) {\n"
    "      if (!/_(figure|layercam_fused)\\.png$/.test(f)) return;\n"
    "      var i = el('img'); if (n >= 24) i.loading = 'lazy'; i.src = url(f); i.alt = f; c.appendChild(i); });\n"
    "    var t = el('table');\n"
    "    r.predictions.forEach(function (p) {\n"
    "      var tr = el('tr'); tr.appendChild(el('td', null, p.class + ' ' + p.label));\n"
    "      tr.appendChild(el('td', 'n', p.probability.toFixed(4)));\n"
    "      tr.appendChild(el('td', 'n', 'logit ' + p.logit.toFixed(3)));\n"
    "      var b = el('td'), s = el('span', 'bar'); s.style.width = Math.round(100 * p.probability) + 'px';\n"
    "      b.appendChild(s); tr.appendChild(b); t.appendChild(tr); });\n"
    "    c.appendChild(t); return c; });\n"
    "  cards.forEach(function (c) { list.appendChild(c); });\n"
    "  function apply() {\n"
    "    var v = sel.value, n = 0;\n"
    "    cards.forEach(function (c) { var on = !v || c.dataset.cls === v; c.hidden = !on; n += on ? 1 : 0; });\n"
    "    count.textContent = n + ' of ' + R.length + ' shown';\n"
    "    try { history.replaceState(null, '', v ? '#class=' + encodeURIComponent(v) : location.pathname); } catch (e) {}\n"
    "  }\n"
    "  sel.onchange = apply;\n"
    "  var m = /^#class=(.*)$/.exec(location.hash);\n"
    "  if (m) { var v = decodeURIComponent(m[1]); if (counts[v]) sel.value = v; }\n"
    "  apply();\n"
    "})();\n"
    "</script>\n</body>\n</html>\n";

/* OUTDIR/name: the header and record lines as data, the page built by inline script; written
 * through a temporary name. 0 on failure (printed). */
static int write_gallery(const char *outdir, const char *name, const char *header, const lines *ls) {
    char path[4096], tmp[4200], q[256];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", outdir, name);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cli_error("gradcam", "%s: %s", cli_q(q, sizeof q, tmp), strerror(errno));
        return 0;
    }
    fputs(gallery_head, f);
    fputs("var RUN = ", f);
    script_json(f, header);
    fputs(";\nvar R = [\n", f);
    for (int i = 0; i < ls->n; i++) {
        script_json(f, ls->v[i]);
        fputs(i + 1 < ls->n ? ",\n" : "\n", f);
    }
    fputs(gallery_tail, f);
    if (ferror(f) | fclose(f) || rename(tmp, path)) {
        cli_error("gradcam", "cannot write %s", cli_q(q, sizeof q, path));
        unlink(tmp);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- batches */

/* One input on its way through a batch: decoded and preprocessed, explained together with
 * the others of its network input size, then drawn and written; each step of an input runs
 * on one thread, and its messages wait in log until its record is written. */
typedef struct slot {
    int               n;           /* its place in the shard's order */
    int               loaded, ok;  /* decoded; still on its way (0: failed, with a message) */
    int               fatal;       /* an output could not be written: the run stops */
    int64_t           h, w;        /* network input size */
    cli_input         in;
    gc_explain_result r;           /* views into the session's buffers, valid for this batch */
    fused             fu;
    gc_image          figs[GC_EXPLAIN_MAX_TARGETS], cfs[GC_EXPLAIN_MAX_TARGETS];
    staged            sg;
    double            tm[3];       /* seconds: decode, explain (the batch's time / its size), write */
    char              log[8192];   /* its messages ("gradcam: ...\n"), printed in input order */
    char              error[2048]; /* the last one, for its manifest record */
} slot;

static void slot_release(slot *sl) {
    release_images(sl->figs, GC_EXPLAIN_MAX_TARGETS);
    release_images(sl->cfs, GC_EXPLAIN_MAX_TARGETS);
    fused_release(&sl->fu);
    staged_free(&sl->sg);
    cli_input_release(&sl->in);
    memset(sl, 0, sizeof *sl);
}

/* What every step of an input reads (never written while workers run). */
typedef struct run_ctx {
    const options            *o;
    const cli_items          *items;
    const int                *order;
    const gc_model           *m;
    const gc_preprocess      *pre;
    const gc_explain_request *req;
} run_ctx;

static const cli_item *slot_item(const slot *sl, const run_ctx *c) { return &c->items->v[c->order[sl->n]]; }

static void slot_failed(slot *sl) {
    sl->ok = 0;
    snprintf(sl->error, sizeof sl->error, "%s", cli_last_message());
}

static void step_load(slot *sl, const run_ctx *c) {
    const double t0 = cli_now();
    sl->loaded = cli_input_load("gradcam", slot_item(sl, c)->path, &sl->in);
    if (sl->loaded) cli_input_size(&sl->in, c->pre, &sl->h, &sl->w);
    else slot_failed(sl);
    sl->tm[0] = cli_now() - t0;
}

static void step_prepare(slot *sl, const run_ctx *c) {
    const double t0 = cli_now();
    sl->ok = cli_input_prepare("gradcam", slot_item(sl, c)->path, c->pre, &sl->in);
    if (!sl->ok) slot_failed(sl);
    sl->tm[0] += cli_now() - t0;
}

/* The figures, then every file staged and renamed together. */
static void step_write(slot *sl, const run_ctx *c) {
    const double t0 = cli_now();
    const cli_item *it = slot_item(sl, c);
    const options *o = c->o;
    char q[256];
    if (sl->in.is_image && !render_all(o, it->path, c->m, c->pre, &sl->in, &sl->r, c->req->methods, sl->figs, sl->cfs))
        slot_failed(sl);
    else if (!cli_mkdirs(o->outdir, it->stem)) {
        cli_error("gradcam", "%s: cannot create its folder in %s: %s", cli_q(q, sizeof q, it->path), o->outdir,
                  strerror(errno));
        sl->fatal = 1;
    } else if (!write_input(&sl->sg, o, it->path, it->stem, c->m, &sl->in, &sl->r, c->req->methods, sl->figs, sl->cfs,
                            &sl->fu))
        sl->fatal = 1;
    sl->tm[2] = cli_now() - t0;
}

/* One step for n inputs on up to `threads` threads (this one included), each taking the
 * next input not yet taken; their messages go to the inputs' logs. */
typedef struct jobs {
    slot         **v;  /* (n) */
    int            n;
    atomic_int     next;
    void         (*step)(slot *, const run_ctx *);
    const run_ctx *c;
} jobs;

static void *jobs_worker(void *p) {
    jobs *j = p;
    for (int i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        slot *sl = j->v[i];
        const size_t k = strlen(sl->log);
        cli_error_capture(sl->log + k, sizeof sl->log - k);
        j->step(sl, j->c);
        cli_error_capture(NULL, 0);
    }
    return NULL;
}

static void run_jobs(slot **v, int n, void (*step)(slot *, const run_ctx *), const run_ctx *c, int threads) {
    jobs j = {.v = v, .n = n, .step = step, .c = c};
    atomic_init(&j.next, 0);
    pthread_t t[MAX_WORKERS];
    int started = 0;
    if (threads > 1 && n > 1) { /* SIGINT and SIGTERM stay with this thread */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        for (int i = 1; i < threads && i < n && started < MAX_WORKERS; i++)
            if (!pthread_create(&t[started], NULL, jobs_worker, &j)) started++; /* else fewer threads */
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    jobs_worker(&j);
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
}

/* gc_explain_batch of k inputs (gc_explain on a batch-1 session); with --method all, the
 * methods this model or layer cannot have are left out, once for the run. */
static gc_status explain_n(gc_session *s, int batch, const float *x, int k, gc_explain_request *req, int all,
                           gc_explain_result *res) {
    for (;;) {
        gc_status st = batch == 1 ? gc_explain(s, x, req, res) : gc_explain_batch(s, x, k, req, res);
        if (st == GC_ERR_UNSUPPORTED && all && (req->methods & GC_METHOD_CAM) && strstr(gc_last_error(), "CAM needs")) {
            cli_progress_end();
            fprintf(stderr, "gradcam: note: CAM left out (%s)\n", gc_last_error());
            req->methods &= ~(unsigned)GC_METHOD_CAM;
            continue;
        }
        if (st == GC_ERR_INVALID_ARGUMENT && all && (req->methods & GC_METHOD_ABLATIONCAM) &&
            strstr(gc_last_error(), "Ablation-CAM")) {
            cli_progress_end();
            fprintf(stderr, "gradcam: note: Ablation-CAM left out (%s)\n", gc_last_error());
            req->methods &= ~(unsigned)GC_METHOD_ABLATIONCAM;
            continue;
        }
        return st;
    }
}

/* The message of a failed step run on this thread, into the input's log. */
static void slot_explain_error(slot *sl, const run_ctx *c, const char *what) {
    char q[256];
    const size_t k = strlen(sl->log);
    cli_error_capture(sl->log + k, sizeof sl->log - k);
    cli_error("gradcam", "%s: %s%s", cli_q(q, sizeof q, slot_item(sl, c)->path), what, gc_last_error());
    cli_error_capture(NULL, 0);
    slot_failed(sl);
}

/* Explains the k inputs of v (one shape, preprocessed) on s, whose batch holds them: one
 * batch, or, when it fails (a failure in any image fails gc_explain_batch), each input alone
 * to find the failing ones and the others together again. The results into each v[i]->r;
 * each input's explain time is the batch's time divided by k. xb: room for s's batch. */
static void explain_group(gc_session *s, int batch, float *xb, slot **v, int k, gc_explain_request *req,
                          const run_ctx *c, gc_explain_result *res) {
    const double t0 = cli_now();
    const int k0 = k;
    const size_t chw = (size_t)gc_tensor_numel(&v[0]->in.x);
    for (int i = 0; i < k; i++) memcpy(xb + (size_t)i * chw, v[i]->in.x.data, chw * sizeof *xb);
    gc_status st = explain_n(s, batch, xb, k, req, c->o->all, res);
    if (st && k > 1) {
        int kk = 0;
        for (int i = 0; i < k; i++)
            if (explain_n(s, batch, v[i]->in.x.data, 1, req, c->o->all, res)) slot_explain_error(v[i], c, "");
            else v[kk++] = v[i];
        k = kk;
        for (int i = 0; i < k; i++) memcpy(xb + (size_t)i * chw, v[i]->in.x.data, chw * sizeof *xb);
        st = k ? explain_n(s, batch, xb, k, req, c->o->all, res) : GC_OK;
        if (st)
            for (int i = 0; i < k; i++) slot_explain_error(v[i], c, "in a batch: ");
    } else if (st)
        slot_explain_error(v[0], c, "");
    const double each = (cli_now() - t0) / k0;
    for (int i = 0; i < k0; i++) v[i]->tm[1] = each;
    if (!st)
        for (int i = 0; i < k; i++) v[i]->r = res[i];
}

/* ---------------------------------------------------------------- main */

static volatile sig_atomic_t stop_signal; /* SIGINT or SIGTERM received */

static void on_signal(int sig) { stop_signal = sig; }

static char *method_names(unsigned bits) {
    const gc_method_info *list[64];
    const int n = method_list(bits, list);
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(list[i]->name) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strcat(s, ",");
        strcat(s, list[i]->name);
    }
    return s;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        if (rc < 0) usage(stdout);
        free(o.inputs), free(o.is_list), free(o.fuse_buf);
        return rc < 0 ? 0 : 2;
    }
    rc = 1;
    gc_model *m = NULL;
    gc_session *s = NULL, *sf = NULL;
    cli_items items = {0};
    lines done = {0};
    FILE *mf = NULL;
    char *header = NULL, *methods = NULL, *rec = NULL;
    int *order = NULL, failed = 0, have = 0;
    slot *sl = NULL;               /* (o.batch) decoded inputs waiting, sl[0..have) in order */
    slot **pv = NULL;              /* (o.batch) the inputs of one step */
    gc_explain_result *res = NULL; /* (o.batch) */
    float *xb = NULL;              /* (s_batch, 3, sh, sw) the batch's network input */
    int64_t sh = 0, sw = 0;
    int s_batch = 0;
    char q[256];

    /* the inputs, named; every name checked before anything runs */
    for (int i = 0; i < o.n_inputs; i++)
        if (!(o.is_list[i] ? cli_items_add_list : cli_items_add)("gradcam", &items, o.inputs[i], o.outdir)) {
            rc = 2;
            goto done;
        }
    if (!items.n) {
        cli_error("gradcam", "no inputs: the folders given hold no .png .jpg .jpeg .ppm .pgm file");
        rc = 2;
        goto done;
    }
    if (!cli_items_check_names("gradcam", &items)) {
        rc = 2;
        goto done;
    }
    int n_order = 0; /* this shard's inputs, in order */
    if (!(order = malloc((size_t)items.n * sizeof *order))) goto done;
    for (int k = 0; k < items.n; k++)
        if (k % o.shard_n == o.shard_i) order[n_order++] = k;
    if (!(sl = calloc((size_t)o.batch, sizeof *sl)) || !(pv = calloc((size_t)o.batch, sizeof *pv)) ||
        !(res = calloc((size_t)o.batch, sizeof *res))) {
        cli_error("gradcam", "out of memory");
        goto done;
    }

    if (!cli_make_outdir("gradcam", o.outdir)) goto done;
    if (gc_model_open(o.model, &m)) {
        cli_error("gradcam", "%s", gc_last_error());
        goto done;
    }
    if (o.layer && strcmp(o.layer, "input") != 0 && gc_model_find_layer(m, o.layer) < 0) {
        char q2[256];
        cli_error("gradcam", "%s has no layer named %s (gcw_inspect lists them)", cli_q(q, sizeof q, o.model),
                  cli_q(q2, sizeof q2, o.layer));
        goto done;
    }
    gc_preprocess pre = cli_preprocess_apply(&o.pre, gc_model_preprocess(m));
    gc_explain_request req = {.target = GC_TARGET_TOP1, .layer = o.layer,
                              .methods = GC_METHOD_GUIDED_GRADCAM | (o.counterfactual ? GC_METHOD_COUNTERFACTUAL : 0)};
    if (o.methods) req.methods = o.methods | (o.counterfactual ? GC_METHOD_COUNTERFACTUAL : 0);
    if (o.top_k) req.target = GC_TARGET_TOPK, req.top_k = o.top_k;
    if (o.n_classes) req.target = GC_TARGET_CLASSES, req.classes = o.classes, req.n_classes = o.n_classes;
    const int top_k = o.top_k ? o.top_k : o.n_classes ? o.n_classes : 1;
    /* methods whose gradients stop at the target layer: the sessions keep nothing for a backward
       pass below it (gc_session_config.backward_floor), as PyTorch's no_grad below the target */
    const unsigned to_input = GC_METHOD_GUIDED_BACKPROP | GC_METHOD_GUIDED_GRADCAM | GC_METHOD_DECONVNET |
                              GC_METHOD_SALIENCY | GC_METHOD_INPUT_X_GRADIENT | GC_METHOD_INTEGRATED_GRADIENTS |
                              GC_METHOD_SMOOTHGRAD;
    const char *floor_layer = req.methods & to_input || (o.layer && !strcmp(o.layer, "input")) ? NULL
                            : o.layer ? o.layer : gc_model_default_layer(m);

    /* the manifest: a new one, or with --resume the same run's, cut after its last complete input */
    char mname[96], gname[96], mpath[4200];
    if (o.shard_n == 1) snprintf(mname, sizeof mname, "manifest.jsonl"), snprintf(gname, sizeof gname, "index.html");
    else
        snprintf(mname, sizeof mname, "manifest.shard-%d-of-%d.jsonl", o.shard_i, o.shard_n),
            snprintf(gname, sizeof gname, "index.shard-%d-of-%d.html", o.shard_i, o.shard_n);
    snprintf(mpath, sizeof mpath, "%s/%s", o.outdir, mname);
    if (!(methods = method_names(req.methods)) || !(header = header_line(&o, methods, top_k, items.n))) {
        cli_error("gradcam", "out of memory");
        goto done;
    }
    int start = 0;
    if (o.resume && (start = resume_manifest(mpath, header, o.outdir, &items, order, n_order, &mf, &done)) < 0) goto done;
    for (int i = 0; i < done.n; i++) failed += strstr(done.v[i], "\", \"error\": ") != NULL; /* kept failures */
    if (o.resume && !o.quiet) fprintf(stderr, "gradcam: --resume: %d of %d inputs already done\n", start, n_order);
    if (!mf) {
        if (!(mf = fopen(mpath, "w")) || fprintf(mf, "%s\n", header) < 0 || fflush(mf)) {
            cli_error("gradcam", "cannot write %s: %s", cli_q(q, sizeof q, mpath), strerror(errno));
            goto done;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second signal acts at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* a progress bar on a terminal when there are several inputs; the predictions always go
       to stdout */
    const int progress = !o.quiet && n_order > 1 && isatty(2);
    const size_t off = strlen(o.outdir) + 1;
    const int threads = gc_default_threads();
    const run_ctx ctx = {&o, &items, order, m, &pre, &req};
    int next = start, pre_checked = 0;
    cli_bar bar;
    cli_bar_start(&bar, n_order);
    bar.done = start;
    /* a batch at a time: decode and preprocess the inputs (on the threads), explain those of
       the first one's network input size together, draw and write their files (on the
       threads), then their records in input order; inputs of another size wait for the next */
    while ((have || next < n_order) && !stop_signal) {
        int np = 0;
        if (progress) cli_bar_show("gradcam", &bar, items.v[order[have ? sl[0].n : next]].name);
        while (have < o.batch && next < n_order) {
            sl[have].n = next++;
            pv[np++] = &sl[have++];
        }
        run_jobs(pv, np, step_load, &ctx, threads);
        int g = 0, first = -1; /* the batch: sl[0..g) */
        for (; g < have; g++) {
            if (!sl[g].loaded) continue;
            if (first < 0) first = g;
            else if (sl[g].h != sl[first].h || sl[g].w != sl[first].w) break;
        }
        if (first >= 0 && (!s || sl[first].h != sh || sl[first].w != sw)) {
            /* planned from the shapes, before an image is preprocessed; a batch never holds more
               than the inputs left */
            const int64_t h = sl[first].h, w = sl[first].w;
            const int left = n_order - sl[0].n, batch = left < o.batch ? left : o.batch;
            gc_session_free(s);
            gc_session_free(sf);
            s = sf = NULL;
            free(xb);
            xb = NULL;
            const char *keep[] = {o.layer, NULL}; /* the target layer's output must stay readable */
            gc_session_config cfg = {.batch = batch, .channels = 3, .height = h, .width = w, .keep = keep,
                                     .backward_floor = floor_layer};
            const char *fkeep[MAX_FUSE + 1] = {0};
            for (int l = 0; l < o.n_fuse; l++) fkeep[l] = o.fuse[l];
            gc_session_config fcfg = cfg;
            fcfg.batch = 1, fcfg.keep = fkeep, fcfg.backward_floor = NULL;
            if (gc_session_create(m, &cfg, &s) || (o.n_fuse && gc_session_create(m, &fcfg, &sf))) {
                cli_error("gradcam", "%s: %s", cli_q(q, sizeof q, items.v[order[sl[first].n]].path), gc_last_error());
                goto done; /* the model's, not the input's fault */
            }
            if (!check_output(m, s, batch, o.model)) goto done;
            if (!(xb = malloc((size_t)batch * 3 * (size_t)h * (size_t)w * sizeof *xb))) {
                cli_error("gradcam", "out of memory");
                goto done;
            }
            sh = h, sw = w, s_batch = batch;
        }
        np = 0;
        int image = 0;
        for (int i = 0; i < g; i++)
            if (sl[i].loaded) pv[np++] = &sl[i], image |= sl[i].in.is_image;
        if (image && !pre_checked) {
            if (!cli_preprocess_check("gradcam", &pre)) goto done;
            pre_checked = 1;
        }
        run_jobs(pv, np, step_prepare, &ctx, threads);
        np = 0;
        for (int i = 0; i < g; i++)
            if (sl[i].ok) pv[np++] = &sl[i];
        if (np) explain_group(s, s_batch, xb, pv, np, &req, &ctx, res);
        np = 0;
        for (int i = 0; i < g; i++)
            if (sl[i].ok) pv[np++] = &sl[i];
        for (int i = 0; i < np && o.n_fuse; i++) {
            const double t0 = cli_now();
            const size_t k = strlen(pv[i]->log);
            cli_error_capture(pv[i]->log + k, sizeof pv[i]->log - k);
            if (!fuse_input(sf, &o, items.v[order[pv[i]->n]].path, &pv[i]->in, &pv[i]->r, sh, sw, &pv[i]->fu))
                slot_failed(pv[i]);
            cli_error_capture(NULL, 0);
            pv[i]->tm[1] += cli_now() - t0;
        }
        if (stop_signal) break; /* before anything of this batch is written */
        np = 0;
        for (int i = 0; i < g; i++)
            if (sl[i].ok) pv[np++] = &sl[i];
        run_jobs(pv, np, step_write, &ctx, threads);
        for (int i = 0; i < g; i++) {
            slot *x = &sl[i];
            const cli_item *it = &items.v[order[x->n]];
            cli_error_print(x->log);
            if (x->fatal) goto done;
            const double tm[4] = {x->tm[0], x->tm[1], x->tm[2], x->tm[0] + x->tm[1] + x->tm[2]};
            rec = record_line(order[x->n], it, m, x->ok ? &x->r : NULL, top_k, &x->sg, off, x->error, tm);
            x->sg.n = 0;
            if (!rec || fprintf(mf, "%s\n", rec) < 0 || fflush(mf) || !lines_push_record(&done, rec)) {
                cli_error("gradcam", "cannot write %s: %s", cli_q(q, sizeof q, mpath), strerror(errno));
                goto done;
            }
            free(rec);
            rec = NULL;
            bar.done++, bar.computed++;
            if (!x->ok) failed++;
            else {
                cli_progress_end();
                for (int t = 0; t < x->r.count; t++) {
                    const gc_explanation *e = &x->r.items[t];
                    const char *label = gc_model_label(m, e->class_index);
                    char ql[256];
                    printf("%s: class %d%s%s%s  logit %.4f  p %.4f\n", cli_q(q, sizeof q, it->path), e->class_index,
                           label ? " (" : "", label ? cli_q(ql, sizeof ql, label) : "", label ? ")" : "", e->score,
                           e->probability);
                }
                fflush(stdout);
            }
            if (progress && i + 1 < g) cli_bar_show("gradcam", &bar, items.v[order[sl[i + 1].n]].name);
            slot_release(x);
        }
        memmove(sl, sl + g, (size_t)(have - g) * sizeof *sl); /* the waiting ones first */
        memset(sl + (have - g), 0, (size_t)g * sizeof *sl);
        have -= g;
    }
    cli_progress_end();
    if (!write_gallery(o.outdir, gname, header, &done)) goto done;
    if (stop_signal) {
        cli_error("gradcam", "interrupted (signal %d) after %d of %d inputs; the rest with --resume",
                  (int)stop_signal, done.n, n_order);
        rc = 128 + stop_signal;
        goto done;
    }
    rc = failed ? 1 : 0;
done:
    for (int i = 0; sl && i < o.batch; i++) slot_release(&sl[i]);
    if (mf && fclose(mf) && !rc) {
        cli_error("gradcam", "cannot write %s", cli_q(q, sizeof q, mpath));
        rc = 1;
    }
    free(sl);
    free(pv);
    free(res);
    free(xb);
    free(rec);
    free(header);
    free(methods);
    free(order);
    lines_free(&done);
    cli_items_free(&items);
    gc_session_free(s);
    gc_session_free(sf);
    gc_model_free(m);
    free(o.inputs), free(o.is_list), free(o.fuse_buf);
    return rc;
}
