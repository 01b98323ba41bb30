/* gcw_inspect.c - print and validate a .gcw model file. */
#include "gradcam.h"
#include "net/gcw.h"
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: gcw_inspect [--labels] FILE.gcw\n"
            "Validates a .gcw model file (docs/format.md) and prints its layer graph\n"
            "(name, kind, input, hyper-parameters), tensor table (name, shape, elements,\n"
            "file offset), preprocessing metadata, labels and parameter count, then \"OK\".\n"
            "On a bad file it prints the validation error and exits with status 1.\n"
            "  --labels   print every class label (default: the first 5)\n"
            "  --help     this text\n");
}

static void shape_str(char *b, size_t cap, const gc_shape *s) {
    size_t k = 0;
    b[0] = 0;
    for (int i = 0; i < s->ndim && k < cap; i++)
        k += (size_t)snprintf(b + k, cap - k, i ? "x%lld" : "%lld", (long long)s->d[i]);
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int all_labels = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(stdout); return 0; }
        if (strcmp(argv[i], "--labels") == 0) all_labels = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "gcw_inspect: unknown option %s (try --help)\n", argv[i]);
            return 2;
        } else if (path) {
            fprintf(stderr, "gcw_inspect: more than one file given (try --help)\n");
            return 2;
        } else path = argv[i];
    }
    if (!path) { usage(stderr); return 2; }

    gc_model *m;
    gc_status st = gc_model_open(path, &m);
    if (st) {
        printf("%s: INVALID (%s): %s\n", path, gc_status_string(st), gc_last_error());
        return 1;
    }
    printf("%s: %d layers, %lld parameters (%.1f MB)\n", path, m->n_layers, (long long)gc_model_param_count(m),
           (double)gc_model_param_count(m) * 4 / 1e6);

    printf("\ngraph:\n  %-4s %-20s %-19s %-20s %s\n", "#", "name", "kind", "input", "hyper-parameters");
    for (int i = 0; i < m->n_layers; i++) {
        char hp[512];
        gc_gcw_format_hparams(&m->layers[i], hp, sizeof hp);
        printf("  %-4d %-20s %-19s %-20s %s\n", i, m->layers[i].name, gc_layer_kind_name(m->layers[i].kind),
               gc_model_layer_input(m, i), hp);
    }

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
    printf("\nlabels: %d\n", nl);
    for (int i = 0; i < nl && (all_labels || i < 5); i++) printf("  %d: %s\n", i, gc_model_label(m, i));
    if (!all_labels && nl > 5) printf("  ... (--labels prints all)\n");
    printf("\nOK\n");
    gc_model_free(m);
    return 0;
}
