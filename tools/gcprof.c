/* gcprof - where a model's time goes, layer by layer: the fastest of --reps forward (and
 * backward) passes per layer (gc_session_set_profiling), summed per layer kind. The per-layer
 * minimum is steadier than a whole-pass timing on a shared machine, so it is the figure to
 * compare kernels by; whole tasks are gcbench's. */
#include "gradcam.h"
#include "../examples/common/cli.h"
#include "kernels/gemm.h"
#include "net/session.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "gcprof";

static void usage(FILE *f) {
    fprintf(f,
            "usage: gcprof MODEL.gcw [--threads N] [--reps N] [--size S] [--batch N] [--channels N]\n"
            "              [--backward none|normal|guided|deconvnet] [--layers] [--no-winograd] [--no-fuse] [--accurate]\n"
            "              [--kernels auto|avx512|avx2|portable|reference]\n"
            "Runs --reps passes (after one warm-up) on a fixed pseudo-random input and prints,\n"
            "per layer kind, the sum over its layers of each layer's fastest time.\n"
            "  --threads N   threads of the session (default: gc_default_threads())\n"
            "  --reps N      timed passes (default 15)\n"
            "  --size S      input height and width (default 224)\n"
            "  --batch N     images per pass (default 1)\n"
            "  --channels N  input channels (default 3)\n"
            "  --backward R  also time a backward pass from the first output unit with ReLU\n"
            "                rule R (default none: forward only, on a session planned forward\n"
            "                only, gc_session_config.forward_only)\n"
            "  --full-session  forward only, but on a session planned for backward too\n"
            "  --layers      also print every layer: name, kind, forward and backward ms\n"
            "  --no-winograd 3x3 convolutions run direct\n"
            "  --no-fuse     activations run as layers of their own (gc_session_config.no_fuse)\n"
            "  --accurate    forward passes sum in double (what guided backprop, deconvnet and the\n"
            "                input-gradient methods of gc_explain run)\n"
            "  --kernels K   gc_session_config.kernels (default auto)\n");
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int threads = 0, reps = 15, size = 224, batch = 1, C = 3, layers = 0, no_wino = 0, bwd = -1;
    gc_kernels kernels = GC_KERNELS_AUTO;
    int accurate = 0, no_fuse = 0, full_session = 0;
    char q[128];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--layers")) {
            layers = 1;
        } else if (!strcmp(a, "--no-winograd")) {
            no_wino = 1;
        } else if (!strcmp(a, "--accurate")) {
            accurate = 1;
        } else if (!strcmp(a, "--no-fuse")) {
            no_fuse = 1;
        } else if (!strcmp(a, "--full-session")) {
            full_session = 1;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "--reps") || !strcmp(a, "--size") || !strcmp(a, "--batch") ||
                   !strcmp(a, "--channels")) {
            int *dst = a[2] == 't' ? &threads : a[2] == 'r' ? &reps : a[2] == 's' ? &size : a[2] == 'b' ? &batch : &C;
            if (!v || !cli_parse_int(v, 1, a[2] == 's' ? 8192 : a[2] == 'r' ? 100000 : 4096, dst)) {
                cli_error(prog, "%s needs a positive whole number in range, got %s", a, cli_q(q, sizeof q, v));
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--backward")) {
            if (!v) {
                cli_error(prog, "--backward needs none, normal, guided or deconvnet");
                return 2;
            }
            bwd = !strcmp(v, "none") ? -1 : !strcmp(v, "normal") ? GC_RELU_NORMAL : !strcmp(v, "guided") ? GC_RELU_GUIDED
                : !strcmp(v, "deconvnet") ? GC_RELU_DECONVNET : -2;
            if (bwd == -2) {
                cli_error(prog, "--backward: unknown rule %s (none, normal, guided, deconvnet)", cli_q(q, sizeof q, v));
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--kernels")) {
            int k = 0; /* gc_kernels and the GEMM tiers share their order and names */
            while (v && k <= GC_KERNELS_AVX512 && strcmp(v, gc_gemm_tier_name((gc_gemm_tier)k))) k++;
            kernels = v && k <= GC_KERNELS_AVX512 ? (gc_kernels)k : (gc_kernels)-1;
            if ((int)kernels < 0) {
                cli_error(prog, "--kernels needs auto, avx512, avx2, portable or reference, got %s", cli_q(q, sizeof q, v));
                return 2;
            }
            i++;
        } else if (a[0] == '-' && a[1]) {
            cli_error(prog, "unknown option %s (see --help)", cli_q(q, sizeof q, a));
            return 2;
        } else if (!path) {
            path = a;
        } else {
            cli_error(prog, "one model only; %s is a second (see --help)", cli_q(q, sizeof q, a));
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    gc_model *m = NULL;
    gc_session *s = NULL;
    float *x = NULL, *dy = NULL;
    double *best = NULL;
    int rc = 1;
    if (gc_model_open(path, &m)) goto fail;
    gc_session_config c = {.batch = batch, .channels = C, .height = size, .width = size, .kernels = kernels,
                           .no_winograd = no_wino, .threads = threads,
                           .no_fuse = no_fuse, .forward_only = bwd < 0 && !full_session};
    if (gc_session_create(m, &c, &s)) goto fail;
    gc_tensor out;
    if (gc_session_shape(s, gc_model_layer_name(m, gc_model_layer_count(m) - 1), &out)) goto fail;
    int64_t nout = 1, nx = (int64_t)batch * C * size * size;
    for (int k = 0; k < out.ndim; k++) nout *= out.shape[k];
    const int n = gc_model_layer_count(m);
    x = malloc((size_t)nx * sizeof *x);
    dy = calloc((size_t)nout, sizeof *dy);
    best = malloc((size_t)n * 2 * sizeof *best);
    if (!x || !dy || !best) {
        cli_error(prog, "out of memory");
        goto done;
    }
    uint32_t r = 12345u;
    for (int64_t i = 0; i < nx; i++) r = r * 1664525u + 1013904223u, x[i] = (float)(r >> 8) / 8388608.0f - 1.0f;
    dy[0] = 1.0f;
    const gc_backward_opts bo = {NULL, bwd < 0 ? GC_RELU_NORMAL : (gc_relu_mode)bwd, 0};
    gc_session_set_profiling(s, 1);
    gc_session_set_accurate(s, accurate);
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        if (gc_session_forward(s, x) || (bwd >= 0 && gc_session_backward(s, dy, &bo))) goto fail;
        for (int i = 0; rep >= 0 && i < n; i++)
            for (int b = 0; b < 2; b++) {
                const double t = gc_session_layer_seconds(s, i, b);
                if (rep == 0 || t < best[2 * i + b]) best[2 * i + b] = t;
            }
    }
    double kind[GC_LAYER_KIND_COUNT][2] = {{0}}, total[2] = {0};
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 2; b++) kind[gc_model_layer_kind(m, i)][b] += best[2 * i + b], total[b] += best[2 * i + b];
    printf("%s: batch %d, %dx%d, %d passes, fastest per layer (ms)\n", path, batch, size, size, reps);
    printf("%-22s %10s %10s\n", "kind", "forward", "backward");
    for (int k = 0; k < GC_LAYER_KIND_COUNT; k++)
        if (kind[k][0] > 0 || kind[k][1] > 0)
            printf("%-22s %10.3f %10.3f\n", gc_layer_kind_name((gc_layer_kind)k), kind[k][0] * 1e3, kind[k][1] * 1e3);
    printf("%-22s %10.3f %10.3f\n", "total", total[0] * 1e3, total[1] * 1e3);
    if (layers) {
        printf("\n%-48s %-20s %10s %10s\n", "layer", "kind", "forward", "backward");
        for (int i = 0; i < n; i++)
            printf("%-48s %-20s %10.3f %10.3f\n", cli_q(q, sizeof q, gc_model_layer_name(m, i)),
                   gc_layer_kind_name(gc_model_layer_kind(m, i)), best[2 * i] * 1e3, best[2 * i + 1] * 1e3);
    }
    rc = 0;
    goto done;
fail:
    cli_error(prog, "%s", gc_last_error());
done:
    gc_session_free(s);
    gc_model_free(m);
    free(x);
    free(dy);
    free(best);
    return rc;
}
