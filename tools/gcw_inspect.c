/* gcw_inspect.c - print and validate a .gcw model file. */
#include "gradcam.h"
#include "../examples/common/cli.h"
#include "core/core.h"
#include "net/gcw.h"
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: gcw_inspect [--labels] [--no-check-values] FILE.gcw\n"
            "Validates a .gcw model file (docs/format.md) and prints its layer graph\n"
            "(name, kind, inputs, hyper-parameters, other names, and each layer's output shape\n"
            "for the model's input size), tensor table (name, shape, elements, file offset),\n"
            "preprocessing metadata, labels, parameter count and the default Grad-CAM layer,\n"
            "then \"OK\". Every value of every tensor is checked to be finite (no NaN or\n"
            "infinity), and the preprocessing to map every pixel value to a finite float.\n"
            "On a bad file it prints the validation error on stderr and exits with status 1.\n"
            "  --labels           print every class label (default: the first 5)\n"
            "  --no-check-values  skip the scan of the tensors' values (reads the whole file)\n"
            "  --help             this text\n");
}

static void shape_str(char *b, size_t cap, const gc_shape *s) {
    size_t k = 0;
    b[0] = 0;
    for (int i = 0; i < s->ndim && k < cap; i++)
        k += (size_t)snprintf(b + k, cap - k, i ? "x%lld" : "%lld", (long long)s->d[i]);
}

/* The first tensor value that is NaN or infinite: 0 (and a message) if there is one. */
static int check_values(const gc_model *m, const char *qpath) {
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *l = &m->layers[i];
        for (int j = 0; j < l->n_params; j++) {
            const int64_t bad = gc_first_nonfinite(l->param[j], gc_shape_numel(&l->param_shape[j]));
            if (bad >= 0) {
                cli_error("gcw_inspect", "%s: INVALID (%s): %s.%s: element %lld is %s (parameters must be finite)",
                          qpath, gc_status_string(GC_ERR_NUMERIC), l->name, gc_model_param_suffix(l, j),
                          (long long)bad, gc_nonfinite_name(l->param[j][bad]));
                return 0;
            }
        }
    }
    return 1;
}

/* Every pixel value 0..255 preprocesses to a finite float (as gc_image_preprocess computes it). */
static int check_preprocess(const gc_preprocess *p, const char *qpath) {
    const int ts = p->scale == 1.0f / 255.0f;
    for (int c = 0; c < 3; c++)
        for (int px = 0; px <= 255; px += 255) {
            volatile float v = (float)px;
            v = ts ? v / 255.0f : v * p->scale;
            v = (v - p->mean[c]) / p->std[c];
            if (v - v != 0) {
                cli_error("gcw_inspect", "%s: INVALID (%s): the preprocessing turns pixel value %d of channel %d "
                          "into a non-finite value (scale %g, mean %g, std %g)", qpath, gc_status_string(GC_ERR_NUMERIC),
                          px, c, (double)p->scale, (double)p->mean[c], (double)p->std[c]);
                return 0;
            }
        }
    return 1;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int all_labels = 0, values = 1;
    char q[256], qp[256];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(stdout); return 0; }
        if (strcmp(argv[i], "--labels") == 0) all_labels = 1;
        else if (strcmp(argv[i], "--no-check-values") == 0) values = 0;
        else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("gcw_inspect", "unknown option %s (try --help)", cli_q(q, sizeof q, argv[i]));
            return 2;
        } else if (path) {
            cli_error("gcw_inspect", "more than one file given (try --help)");
            return 2;
        } else path = argv[i];
    }
    if (!path) { cli_error("gcw_inspect", "no file given (try --help)"); return 2; }
    cli_q(qp, sizeof qp, path);

    gc_model *m;
    gc_status st = gc_model_open(path, &m);
    if (st) {
        cli_error("gcw_inspect", "%s: INVALID (%s): %s", qp, gc_status_string(st), gc_last_error());
        return 1;
    }
    if ((values && !check_values(m, qp)) || !check_preprocess(gc_model_preprocess(m), qp)) {
        gc_model_free(m);
        return 1;
    }
    printf("%s: %d layers, %lld parameters (%.1f MB)%s\n", qp, m->n_layers, (long long)gc_model_param_count(m),
           (double)gc_model_param_count(m) * 4 / 1e6, values ? ", every value finite" : "");

    /* output shapes for the model's input size (3 channels), when a session can be planned */
    const gc_preprocess *pre = gc_model_preprocess(m);
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = pre->input_height, .width = pre->input_width,
                             .no_fold = 1}; /* shapes only: nothing is run */
    gc_session *s = NULL;
    if (gc_session_create(m, &cfg, &s)) s = NULL;
    printf("\ngraph (output shapes for a 1x3x%dx%d input%s):\n  %-4s %-24s %-19s %-16s %-28s %s\n",
           (int)pre->input_height, (int)pre->input_width, s ? "" : ": the model does not take it", "#", "name",
           "kind", "output", "inputs", "hyper-parameters");
    for (int i = 0; i < m->n_layers; i++) {
        char hp[512], in[512], sh[64] = "-", al[512] = "";
        gc_gcw_format_hparams(&m->layers[i], hp, sizeof hp);
        size_t k = 0;
        in[0] = 0;
        for (int j = 0; j < gc_model_layer_input_count(m, i) && k < sizeof in; j++)
            k += (size_t)snprintf(in + k, sizeof in - k, "%s%s", j ? "," : "", gc_model_layer_input_at(m, i, j));
        k = 0;
        for (int j = 0; j < gc_model_layer_alias_count(m, i) && k < sizeof al; j++)
            k += (size_t)snprintf(al + k, sizeof al - k, "%s%s", j ? ", " : "  (also ", gc_model_layer_alias(m, i, j));
        if (k && k < sizeof al) snprintf(al + k, sizeof al - k, ")");
        gc_tensor t;
        if (s && gc_session_shape(s, m->layers[i].name, &t) == GC_OK) {
            gc_shape gs = {t.ndim, {t.shape[0], t.shape[1], t.shape[2], t.shape[3]}};
            shape_str(sh, sizeof sh, &gs);
        }
        printf("  %-4d %-24s %-19s %-16s %-28s %s%s\n", i, m->layers[i].name, gc_layer_kind_name(m->layers[i].kind), sh,
               in, hp, al);
    }
    gc_session_free(s);

    printf("\ntensors:\n  %-28s %-18s %12s %12s\n", "name", "shape", "elements", "offset");
    int nt = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *l = &m->layers[i];
        for (int j = 0; j < l->n_params; j++, nt++) {
            char name[160], sh[96];
            snprintf(name, sizeof name, "%s.%s", l->name, gc_model_param_suffix(l, j));
            shape_str(sh, sizeof sh, &l->param_shape[j]);
            long long off = (long long)((const char *)l->param[j] - (const char *)m->backing);
            printf("  %-28s %-18s %12lld %12lld\n", name, sh, (long long)gc_shape_numel(&l->param_shape[j]), off);
        }
    }
    printf("  (%d tensors)\n", nt);

    const gc_preprocess *p = gc_model_preprocess(m);
    printf("\npreprocess:\n  input %dx%d, resize shorter side to %d%s, %s, scale %g\n",
           (int)p->input_height, (int)p->input_width, (int)p->resize_shorter,
           p->resize_shorter ? " then centre-crop" : " (0: resize straight to the input)",
           p->order == GC_COLOR_BGR ? "BGR" : "RGB", (double)p->scale);
    printf("  mean %g %g %g, std %g %g %g\n", (double)p->mean[0], (double)p->mean[1], (double)p->mean[2],
           (double)p->std[0], (double)p->std[1], (double)p->std[2]);
    int nl = gc_model_label_count(m);
    const char *dl = gc_model_default_layer(m);
    printf("\ndefault Grad-CAM layer: %s\n", dl ? dl : "none (no spatial layer)");
    printf("\nlabels: %d\n", nl);
    for (int i = 0; i < nl && (all_labels || i < 5); i++) printf("  %d: %s\n", i, cli_q(q, sizeof q, gc_model_label(m, i)));
    if (!all_labels && nl > 5) printf("  ... (--labels prints all)\n");
    printf("\nOK\n");
    gc_model_free(m);
    return 0;
}
