/* libFuzzer harness: differential test of the convolution paths. The input bytes choose one
 * conv2d layer (groups, channels, kernel, stride, padding, dilation, bias, image size, batch)
 * and a kernel tier with or without Winograd; the layer runs forward and backward (input and
 * parameter gradients) with that tier and with GC_KERNELS_REFERENCE, and any difference
 * beyond the documented error bound aborts. Shapes the library refuses are skipped. The fast
 * session runs on the default threads (its work split between them is under test); the
 * reference session on one: the oracle's results do not depend on the count, and its two
 * threads in instrumented loops bounced the coverage counters between the cores (72 inputs in
 * 20 s in a CI run with the vCPUs far apart; the Makefile's fuzz rules leave its loops out of
 * the coverage instrumentation too). */
#include "gradcam.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Uniform in [-1, 1) from a 64-bit LCG (self-contained: same bits on every build). */
static float next_uniform(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static double max_abs(const float *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* |fast - ref| <= 1e-5 * bound everywhere (bound: terms per output x max |a| x max |b|, which
 * covers Winograd's ~5e-7 per term with room), else abort naming what differed. */
static void compare(const char *what, const float *fast, const float *ref, int64_t n, double bound) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)fast[i] - ref[i]) <= 1e-5 * bound + 1e-6)) {
            fprintf(stderr, "fuzz_conv: %s[%lld]: fast %g, reference %g (bound %g)\n", what, (long long)i,
                    fast[i], ref[i], bound);
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t b[20] = {0};
    memcpy(b, data, size < sizeof b ? size : sizeof b);
    const int64_t g = 1 + b[0] % 3, cg = 1 + b[1] % 10, og = 1 + b[2] % 10;
    gc_conv2d_params p = gc_conv2d_defaults(g * cg, g * og, 1 + b[3] % 5);
    p.kernel_w = 1 + b[4] % 5;
    p.stride_h = 1 + b[5] % 3;
    p.stride_w = 1 + b[6] % 3;
    p.pad_h = b[7] % 4;
    p.pad_w = b[8] % 4;
    p.dilation_h = 1 + b[9] % 3;
    p.dilation_w = 1 + b[10] % 3;
    p.groups = g;
    p.bias = b[15] & 1;
    const int64_t H = 1 + b[11] % 24, W = 1 + b[12] % 24, N = 1 + b[13] % 2;
    static const gc_kernels tiers[4] = {GC_KERNELS_AUTO, GC_KERNELS_PORTABLE, GC_KERNELS_AVX2, GC_KERNELS_AVX512};
    uint64_t seed = (uint64_t)b[16] | (uint64_t)b[17] << 8 | (uint64_t)b[18] << 16 | (uint64_t)b[19] << 24;

    gc_model *m = NULL;
    gc_session *s[2] = {NULL, NULL};   /* [0] reference, [1] fast */
    float *x = NULL, *gy = NULL;
    if (gc_model_create(&m) || gc_model_add_conv2d(m, "c", NULL, &p, NULL, NULL) || gc_model_init_random(m, seed))
        goto done;
    for (int i = 0; i < 2; i++) {
        gc_session_config cfg = {.batch = N, .channels = g * cg, .height = H, .width = W, .param_grads = 1,
                                 .max_bytes = (size_t)256 << 20, .threads = i ? 0 : 1, /* see above */
                                 .kernels = i ? tiers[b[14] % 4] : GC_KERNELS_REFERENCE,
                                 .no_winograd = i && (b[15] & 2)};
        if (gc_session_create(m, &cfg, &s[i])) goto done;   /* e.g. an output smaller than 1 */
    }
    gc_tensor y[2], dx[2], dw[2], db[2], wt;
    const int64_t nx = N * g * cg * H * W;
    if (!(x = malloc((size_t)nx * sizeof(float)))) goto done;
    for (int64_t i = 0; i < nx; i++) x[i] = next_uniform(&seed);
    for (int i = 0; i < 2; i++)
        if (gc_session_forward(s[i], x) || gc_session_activation(s[i], "c", &y[i])) abort();
    const int64_t ny = gc_tensor_numel(&y[0]);
    if (!(gy = malloc((size_t)ny * sizeof(float)))) goto done;
    for (int64_t i = 0; i < ny; i++) gy[i] = next_uniform(&seed);
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 1};
    for (int i = 0; i < 2; i++)
        if (gc_session_backward(s[i], gy, &bo) || gc_session_gradient(s[i], "input", &dx[i]) ||
            gc_session_param_grad(s[i], "c.weight", &dw[i]) ||
            (p.bias && gc_session_param_grad(s[i], "c.bias", &db[i])))
            abort();
    if (gc_model_param(m, "c.weight", &wt)) abort();
    const double mw = max_abs(wt.data, gc_tensor_numel(&wt)) + 1e-30, kk = (double)(p.kernel_h * p.kernel_w);
    const double pixels = (double)(N * y[0].shape[2] * y[0].shape[3]);
    compare("forward", y[1].data, y[0].data, ny, cg * kk * mw + 1);
    compare("input gradient", dx[1].data, dx[0].data, nx, og * kk * mw);
    compare("weight gradient", dw[1].data, dw[0].data, gc_tensor_numel(&wt), pixels);
    if (p.bias) compare("bias gradient", db[1].data, db[0].data, g * og, pixels);
done:
    free(x);
    free(gy);
    gc_session_free(s[0]);
    gc_session_free(s[1]);
    gc_model_free(m);
    return 0;
}
