/* explain_maps.c - every map gc_explain returns, written as .npy, for the development-time
 * exactness checks (tests/ref/check_exactness.py builds and runs it; it is not part of make).
 *
 *   explain_maps MODEL.gcw INPUT.npy OUTDIR LAYER [--no-winograd] [--no-fold] [--reference]
 *                CLASS...
 *
 * For each class C: OUTDIR/c<C>_{alpha,raw,cam,cam_up,counterfactual,guided,guided_gradcam,
 * deconvnet}.npy, from one gc_explain call (GC_TARGET_CLASSES, every gradient method) on a
 * batch-1 session planned with the given options (the default path otherwise). */
#include "gradcam.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int save(const char *dir, int c, const char *what, const gc_tensor *t) {
    char path[1024];
    snprintf(path, sizeof path, "%s/c%d_%s.npy", dir, c, what);
    if (!t->data) return 0;
    if (gc_npy_save(path, t)) {
        fprintf(stderr, "explain_maps: %s: %s\n", path, gc_last_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: explain_maps MODEL.gcw INPUT.npy OUTDIR LAYER [--no-winograd] [--no-fold] "
                        "[--reference] CLASS...\n");
        return 2;
    }
    gc_session_config cfg = {.batch = 1};
    int classes[GC_EXPLAIN_MAX_TARGETS], n = 0;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--no-winograd")) cfg.no_winograd = 1;
        else if (!strcmp(argv[i], "--no-fold")) cfg.no_fold = 1;
        else if (!strcmp(argv[i], "--reference")) cfg.kernels = GC_KERNELS_REFERENCE;
        else if (n < GC_EXPLAIN_MAX_TARGETS) classes[n++] = atoi(argv[i]);
    }
    gc_model *m = NULL;
    gc_session *s = NULL;
    gc_tensor x = {0};
    int rc = 1;
    if (gc_model_open(argv[1], &m) || gc_npy_load(argv[2], &x)) goto fail;
    const char *keep[] = {argv[4], NULL};
    cfg.channels = x.shape[x.ndim - 3];
    cfg.height = x.shape[x.ndim - 2];
    cfg.width = x.shape[x.ndim - 1];
    cfg.keep = keep;
    if (gc_session_create(m, &cfg, &s)) goto fail;
    gc_explain_request req = {.target = GC_TARGET_CLASSES, .classes = classes, .n_classes = n,
                              .methods = GC_METHOD_ALL_GRADIENT, .layer = argv[4]};
    gc_explain_result r;
    if (gc_explain(s, x.data, &req, &r)) goto fail;
    rc = 0;
    for (int t = 0; t < r.count; t++) {
        const gc_explanation *e = &r.items[t];
        rc |= save(argv[3], classes[t], "alpha", &e->alpha) | save(argv[3], classes[t], "raw", &e->cam_raw) |
              save(argv[3], classes[t], "cam", &e->cam) | save(argv[3], classes[t], "cam_up", &e->cam_up) |
              save(argv[3], classes[t], "counterfactual", &e->counterfactual) |
              save(argv[3], classes[t], "guided", &e->guided) |
              save(argv[3], classes[t], "guided_gradcam", &e->guided_gradcam) |
              save(argv[3], classes[t], "deconvnet", &e->deconvnet);
    }
    goto done;
fail:
    fprintf(stderr, "explain_maps: %s\n", gc_last_error());
done:
    gc_tensor_release(&x);
    gc_session_free(s);
    gc_model_free(m);
    return rc;
}
