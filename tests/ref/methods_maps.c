/* methods_maps.c - every map of every gc_explain method written as .npy, for the
 * development-time oracles (tests/ref/make_methods_fixtures.py, check_methods_full.py build
 * and run it against lib/libgradcam.a; it is not part of make).
 *
 *   methods_maps MODEL.gcw INPUT.npy OUTDIR LAYER METHODS [--reference] [--no-winograd] [--batch N]
 *                [--ig-steps N] [--samples N] [--sigma S] [--seed S] [--base NAME] CLASS...
 *   methods_maps --noise SEED COUNT OUT.npy
 *
 * The first form writes OUTDIR/c<C>_<map>.npy for every map of every target (one gc_explain,
 * GC_TARGET_CLASSES) and OUTDIR/seconds.txt (the gc_explain call's wall time). The second
 * writes COUNT values of gc_rng_normal seeded with SEED: the noise SmoothGrad draws. */
#include "gradcam.h"
#include "core/core.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--noise")) {
        gc_rng r;
        gc_rng_seed(&r, strtoull(argv[2], NULL, 10));
        int64_t n = atoll(argv[3]);
        gc_tensor t;
        if (gc_tensor_alloc(&t, 1, (int64_t[]){n})) return 1;
        for (int64_t i = 0; i < n; i++) t.data[i] = gc_rng_normal(&r);
        int rc = gc_npy_save(argv[4], &t) != GC_OK;
        gc_tensor_release(&t);
        return rc;
    }
    if (argc < 7) {
        fprintf(stderr, "usage: methods_maps MODEL.gcw INPUT.npy OUTDIR LAYER METHODS [options] CLASS...\n"
                        "       methods_maps --noise SEED COUNT OUT.npy\n");
        return 2;
    }
    gc_session_config cfg = {.batch = 1};
    gc_method_params p = gc_method_params_defaults();
    int classes[GC_EXPLAIN_MAX_TARGETS], n = 0;
    unsigned bits;
    if (gc_method_parse(argv[5], &bits)) {
        fprintf(stderr, "methods_maps: %s\n", gc_last_error());
        return 2;
    }
    for (int i = 6; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(argv[i], "--reference")) cfg.kernels = GC_KERNELS_REFERENCE;
        else if (!strcmp(argv[i], "--no-winograd")) cfg.no_winograd = 1;
        else if (!strcmp(argv[i], "--batch")) p.batch = atoi(v), i++;
        else if (!strcmp(argv[i], "--ig-steps")) p.ig_steps = atoi(v), i++;
        else if (!strcmp(argv[i], "--samples")) p.noise_samples = atoi(v), i++;
        else if (!strcmp(argv[i], "--sigma")) p.noise_sigma = (float)atof(v), i++;
        else if (!strcmp(argv[i], "--seed")) p.noise_seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--base")) p.noise_base = gc_method_find(v) ? gc_method_find(v)->bit : 0, i++;
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
    gc_explain_request req = {.target = GC_TARGET_CLASSES, .classes = classes, .n_classes = n, .methods = bits,
                              .layer = argv[4], .params = &p};
    gc_explain_result r;
    double t0 = now();
    if (gc_explain(s, x.data, &req, &r)) goto fail;
    double secs = now() - t0;
    rc = 0;
    char path[1200];
    for (int t = 0; t < r.count; t++)
        for (int i = 0; i < r.items[t].n_maps; i++) {
            snprintf(path, sizeof path, "%s/c%d_%s.npy", argv[3], classes[t], r.items[t].maps[i].name);
            if (gc_npy_save(path, &r.items[t].maps[i].t)) goto fail;
        }
    snprintf(path, sizeof path, "%s/seconds.txt", argv[3]);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%.6f\n", secs);
        fclose(f);
    }
    goto done;
fail:
    fprintf(stderr, "methods_maps: %s\n", gc_last_error());
    rc = 1;
done:
    gc_tensor_release(&x);
    gc_session_free(s);
    gc_model_free(m);
    return rc;
}
