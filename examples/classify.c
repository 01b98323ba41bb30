/* classify.c - top-K classes of a .gcw model for preprocessed inputs. */
#include "gradcam.h"
#include "common/cli.h"
#include "common/input.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: classify MODEL.gcw INPUT... [-k K] [--logits-out FILE.npy]\n"
            "Runs the model on each INPUT and prints its top-K classes: rank, class\n"
            "index, label (when the model has labels) and softmax probability.\n"
            "  MODEL.gcw            model file (tools/gcw_convert.py makes one from PyTorch)\n"
            "  INPUT                an image (PNG, JPEG, PPM/PGM), preprocessed as the model\n"
            "                       says, or a float32 .npy of shape (3,H,W) or (1,3,H,W),\n"
            "                       already preprocessed (normalised, NCHW) and used as is\n"
            "  -k K                 number of classes to print per input (1..2^31-1, default 5;\n"
            "                       capped at the number of classes)\n"
            "  --logits-out FILE    write the pre-softmax scores of all inputs as a\n"
            "                       float32 .npy of shape (N, classes)\n"
            "  --help               this text\n");
    cli_preprocess_help(f);
    fprintf(f, "Exit status 0 on success, 1 on any bad model or input (a NaN or infinity in an input,\n"
               "a parameter or the output included), 2 on bad usage.\n");
}

/* One line: "classify: [what: ]<library message>". */
static int die(int code, const char *what, gc_status st) {
    char q[256];
    if (what) cli_error("classify", "%s: %s", cli_q(q, sizeof q, what), st ? gc_last_error() : "failed");
    else cli_error("classify", "%s", st ? gc_last_error() : "failed");
    return code;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *logits_out = NULL;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int n_in = 0;
    long long k = 5;
    cli_preprocess pre_opts;
    cli_preprocess_init(&pre_opts);
    char q[256];
    if (!inputs) return die(1, "out of memory", GC_OK);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int pre = cli_preprocess_option("classify", argc, argv, &i, &pre_opts);
        if (pre < 0) { free(inputs); return 2; }
        if (pre) continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); free(inputs); return 0; }
        if (strcmp(a, "-k") == 0 || strcmp(a, "--logits-out") == 0) {
            if (i + 1 >= argc) { cli_error("classify", "%s needs a value (try --help)", a); free(inputs); return 2; }
            if (a[1] == 'k') {
                if (!cli_parse_long(argv[++i], 1, 2147483647, &k)) {
                    cli_error("classify", "-k takes an integer in 1..2147483647, got \"%s\"", cli_q(q, sizeof q, argv[i]));
                    free(inputs);
                    return 2;
                }
            } else logits_out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            cli_error("classify", "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            free(inputs);
            return 2;
        } else if (!model_path) model_path = a;
        else inputs[n_in++] = a;
    }
    if (!model_path || n_in == 0) {
        cli_error("classify", "need a model and at least one input (try --help)");
        free(inputs);
        return 2;
    }

    gc_model *m = NULL;
    gc_session *s = NULL;
    cli_input in = {0};
    float *logits = NULL; /* (n_in, classes) */
    int64_t classes = 0, sh = 0, sw = 0;
    double *prob = NULL;  /* (classes) */
    int *order = NULL;    /* (classes) */
    int rc = 1;
    gc_status st = gc_model_open(model_path, &m);
    if (st) { rc = die(1, NULL, st); goto done; }
    gc_preprocess pre = cli_preprocess_apply(&pre_opts, gc_model_preprocess(m));

    for (int n = 0; n < n_in; n++) {
        if (!cli_input_load("classify", inputs[n], &in)) goto done;
        int64_t h, w;
        cli_input_size(&in, &pre, &h, &w);
        if (!s || h != sh || w != sw) { /* planned from the shapes, before an image is preprocessed */
            gc_session_free(s);
            s = NULL;
            gc_session_config cfg = {.batch = 1, .channels = 3, .height = h, .width = w, .forward_only = 1};
            if ((st = gc_session_create(m, &cfg, &s))) { die(1, inputs[n], st); goto done; }
            sh = h, sw = w;
        }
        if (in.is_image && !cli_preprocess_check("classify", &pre)) goto done;
        if (!cli_input_prepare("classify", inputs[n], &pre, &in)) goto done;
        gc_tensor y;
        if ((st = gc_session_forward(s, in.x.data)) || (st = gc_session_output(s, &y))) { die(1, inputs[n], st); goto done; }
        cli_input_release(&in);
        int64_t c = y.ndim == 2 && y.shape[0] == 1 ? y.shape[1] : -1;
        if (c < 1 || (classes && c != classes) || c > (1 << 24)) {
            cli_error("classify", "%s: the model output is not a (1, classes) score vector", cli_q(q, sizeof q, inputs[n]));
            goto done;
        }
        if (!classes) {
            classes = c;
            logits = malloc((size_t)n_in * (size_t)c * sizeof *logits);
            prob = malloc((size_t)c * sizeof *prob);
            order = malloc((size_t)c * sizeof *order);
            if (!logits || !prob || !order) { cli_error("classify", "out of memory"); goto done; }
        }
        memcpy(logits + (size_t)n * (size_t)c, y.data, (size_t)c * sizeof *logits);

        /* softmax in double, then a partial selection sort for the top K */
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < c; j++) mx = y.data[j] > mx ? y.data[j] : mx;
        for (int64_t j = 0; j < c; j++) sum += prob[j] = exp((double)y.data[j] - mx);
        for (int64_t j = 0; j < c; j++) prob[j] /= sum, order[j] = (int)j;
        int64_t kk = k < c ? k : c;
        printf("%s:\n", cli_q(q, sizeof q, inputs[n]));
        for (int64_t r = 0; r < kk; r++) {
            int64_t best = r;
            for (int64_t j = r + 1; j < c; j++)
                if (prob[order[j]] > prob[order[best]]) best = j;
            int t = order[r];
            order[r] = order[best];
            order[best] = t;
            const char *label = gc_model_label(m, order[r]);
            char ql[256];
            printf("  %2lld. %5d  %-32s %.6f\n", (long long)(r + 1), order[r], label ? cli_q(ql, sizeof ql, label) : "-",
                   prob[order[r]]);
        }
    }
    if (logits_out) {
        gc_tensor out = {.data = logits, .shape = {n_in, classes, 1, 1}, .ndim = 2, .owns_data = 0};
        if ((st = gc_npy_save(logits_out, &out))) { die(1, NULL, st); goto done; }
    }
    rc = 0;

done:
    cli_input_release(&in);
    gc_session_free(s);
    gc_model_free(m);
    free(logits);
    free(prob);
    free(order);
    free(inputs);
    return rc;
}
