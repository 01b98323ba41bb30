/* gcbench - times forward, Grad-CAM, guided backprop, Guided Grad-CAM and
 * top-5 Grad-CAM on VGG-16 / AlexNet / ResNet-18 / ResNet-50 (built in memory with random weights,
 * or a .gcw file), after measuring the machine's FMA peak; per-conv-layer
 * GFLOP/s and peak resident memory. `make bench` runs it. */
#include "gradcam.h"
#include "core/core.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <pthread.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: gcbench [--model vgg16|alexnet|resnet18|resnet50|FILE.gcw]... [--batch N]... [--task NAME]...\n"
        "               [--threads N] [--reps N] [--size S] [--json] [--no-layers] [--no-winograd] [--singles]\n"
        "               [--kernels auto|avx512|avx2|portable|reference]\n"
        "Times whole tasks (median of --reps runs after one warm-up) and reports GFLOP/s\n"
        "counted at direct-convolution FLOPs and the fraction of the measured FMA peak.\n"
        "  --model M    vgg16 (default), alexnet, resnet18, resnet50 (torchvision topologies,\n"
        "               random weights, no file needed) or a .gcw file; repeatable\n"
        "  --batch N    batch size(s) (default 1 and 8); explain tasks at batch N are one\n"
        "               gc_explain_batch of N images on a batch-N session; times are per batch\n"
        "  --singles    explain tasks at batch N run N gc_explain calls on a batch-1 session instead\n"
        "  --task T     forward, gradcam, guided, guided_gradcam, top5 (default all)\n"
        "  --threads N  threads of the sessions (default: gc_default_threads())\n"
        "  --reps N     timed runs per task (default 5)\n"
        "  --size S     input height and width (default 224)\n"
        "  --json       one JSON object per line instead of tables\n"
        "  --no-layers  skip the per-conv-layer table\n"
        "  --no-fuse    activations run as layers of their own (gc_session_config.no_fuse)\n"
        "  --full-sessions  every task on sessions planned for backward to the input; by\n"
        "               default forward runs on a forward_only session and gradcam and top5\n"
        "               on one with backward_floor at the Grad-CAM layer (what each needs)\n"
        "  --no-winograd  3x3 convolutions run direct (gc_session_config.no_winograd):\n"
        "               measures the direct-convolution path\n"
        "  --kernels K  auto (default), avx512, avx2, portable or reference\n"
        "               (gc_session_config.kernels; %% of peak is of the AVX2 peak for avx2)\n");
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------- FMA peak */

/* 12 independent FMA chains per thread (covers FMA latency x 2 pipes),
 * written out so the accumulators stay in registers. */
#define FMA12(fma, a, m, c)                                                                    \
    a##0 = fma(a##0, m, c), a##1 = fma(a##1, m, c), a##2 = fma(a##2, m, c), a##3 = fma(a##3, m, c), \
    a##4 = fma(a##4, m, c), a##5 = fma(a##5, m, c), a##6 = fma(a##6, m, c), a##7 = fma(a##7, m, c), \
    a##8 = fma(a##8, m, c), a##9 = fma(a##9, m, c), a##10 = fma(a##10, m, c), a##11 = fma(a##11, m, c)
#define SUM12(a) (a##0 + a##1 + a##2 + a##3 + a##4 + a##5 + a##6 + a##7 + a##8 + a##9 + a##10 + a##11)

__attribute__((target("avx512f"))) static double fma_avx512(long iters) {
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    /* distinct starting values, or the compiler merges identical chains */
#define S5(k) _mm512_set1_ps(1.0f + (float)(k) / 16)
    __m512 a0 = S5(0), a1 = S5(1), a2 = S5(2), a3 = S5(3), a4 = S5(4), a5 = S5(5), a6 = S5(6), a7 = S5(7),
           a8 = S5(8), a9 = S5(9), a10 = S5(10), a11 = S5(11);
    for (long it = 0; it < iters; it++) FMA12(_mm512_fmadd_ps, a, m, c);
    return _mm512_reduce_add_ps(SUM12(a));
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long iters) {
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define S2(k) _mm256_set1_ps(1.0f + (float)(k) / 16)
    __m256 a0 = S2(0), a1 = S2(1), a2 = S2(2), a3 = S2(3), a4 = S2(4), a5 = S2(5), a6 = S2(6), a7 = S2(7),
           a8 = S2(8), a9 = S2(9), a10 = S2(10), a11 = S2(11);
    for (long it = 0; it < iters; it++) FMA12(_mm256_fmadd_ps, a, m, c);
    float t[8];
    _mm256_storeu_ps(t, SUM12(a));
    return t[0];
}

static double thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of FMAs on `threads` threads (2 flops per lane per FMA) with the
 * widest vectors of `isa` (512: AVX-512, 256: AVX2). Each thread's time is
 * its own CPU time, so preemption by other processes on a shared machine
 * does not lower the figure; best of 5. */
typedef struct peak_thread { int bits; long iters; double seconds, sink; } peak_thread;

static void *peak_run(void *a) {
    peak_thread *t = a;
    double t0 = thread_cpu_seconds();
    t->sink = t->bits == 512 ? fma_avx512(t->iters) : fma_avx2(t->iters);
    t->seconds = thread_cpu_seconds() - t0;
    return NULL;
}

static double fma_peak(int threads, int bits) {
    gc_cpu_features f = gc_cpu_detect();
    if ((bits == 512 && !f.avx512f) || (bits == 256 && !f.avx2)) return 0;
    if (threads > 64) threads = 64;
    const long iters = 10000000;
    const int lanes = bits / 32;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        peak_thread pt[64];
        pthread_t th[64];
        for (int i = 0; i < threads; i++) pt[i] = (peak_thread){bits, iters, 0, 0};
        for (int i = 1; i < threads; i++)
            if (pthread_create(&th[i], NULL, peak_run, &pt[i])) return 0;
        peak_run(&pt[0]);
        double slowest = pt[0].seconds;
        for (int i = 1; i < threads; i++) {
            pthread_join(th[i], NULL);
            if (pt[i].seconds > slowest) slowest = pt[i].seconds;
        }
        double g = 2.0 * lanes * 12 * (double)iters * threads / slowest * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

/* ---------------------------------------------------------------- models */

#define TRY(x) do { if ((x) != GC_OK) goto fail; } while (0)

static gc_model *build_vgg16(void) {
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    gc_model *m = NULL;
    char name[32];
    int idx = 0, c = 3;
    TRY(gc_model_create(&m));
    for (size_t i = 0; i < sizeof cfg / sizeof *cfg; i++) {
        if (!cfg[i]) {
            gc_pool2d_params p = gc_pool2d_defaults(2);
            snprintf(name, sizeof name, "features.%d", idx++);
            TRY(gc_model_add_maxpool2d(m, name, NULL, &p));
            continue;
        }
        gc_conv2d_params cp = gc_conv2d_defaults(c, cfg[i], 3);
        cp.pad_h = cp.pad_w = 1;
        snprintf(name, sizeof name, "features.%d", idx++);
        TRY(gc_model_add_conv2d(m, name, NULL, &cp, NULL, NULL));
        snprintf(name, sizeof name, "features.%d", idx++);
        TRY(gc_model_add_relu(m, name, NULL));
        c = cfg[i];
    }
    gc_adaptive_pool2d_params ap = {7, 7};
    gc_linear_params f0 = {512 * 49, 4096, 1}, f1 = {4096, 4096, 1}, f2 = {4096, 1000, 1};
    TRY(gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap));
    TRY(gc_model_add_flatten(m, "flatten", NULL));
    TRY(gc_model_add_linear(m, "classifier.0", NULL, &f0, NULL, NULL));
    TRY(gc_model_add_relu(m, "classifier.1", NULL));
    TRY(gc_model_add_dropout(m, "classifier.2", NULL, 0.5f));
    TRY(gc_model_add_linear(m, "classifier.3", NULL, &f1, NULL, NULL));
    TRY(gc_model_add_relu(m, "classifier.4", NULL));
    TRY(gc_model_add_dropout(m, "classifier.5", NULL, 0.5f));
    TRY(gc_model_add_linear(m, "classifier.6", NULL, &f2, NULL, NULL));
    TRY(gc_model_init_random(m, 1));
    return m;
fail:
    fprintf(stderr, "gcbench: building vgg16: %s\n", gc_last_error());
    gc_model_free(m);
    return NULL;
}

static gc_model *build_alexnet(void) {
    gc_model *m = NULL;
    gc_conv2d_params c0 = gc_conv2d_defaults(3, 64, 11), c3 = gc_conv2d_defaults(64, 192, 5),
                     c6 = gc_conv2d_defaults(192, 384, 3), c8 = gc_conv2d_defaults(384, 256, 3),
                     c10 = gc_conv2d_defaults(256, 256, 3);
    c0.stride_h = c0.stride_w = 4, c0.pad_h = c0.pad_w = 2;
    c3.pad_h = c3.pad_w = 2;
    c6.pad_h = c6.pad_w = c8.pad_h = c8.pad_w = c10.pad_h = c10.pad_w = 1;
    gc_pool2d_params p = gc_pool2d_defaults(3);
    p.stride_h = p.stride_w = 2;
    gc_adaptive_pool2d_params ap = {6, 6};
    gc_linear_params f1 = {256 * 36, 4096, 1}, f4 = {4096, 4096, 1}, f6 = {4096, 1000, 1};
    TRY(gc_model_create(&m));
    TRY(gc_model_add_conv2d(m, "features.0", NULL, &c0, NULL, NULL));
    TRY(gc_model_add_relu(m, "features.1", NULL));
    TRY(gc_model_add_maxpool2d(m, "features.2", NULL, &p));
    TRY(gc_model_add_conv2d(m, "features.3", NULL, &c3, NULL, NULL));
    TRY(gc_model_add_relu(m, "features.4", NULL));
    TRY(gc_model_add_maxpool2d(m, "features.5", NULL, &p));
    TRY(gc_model_add_conv2d(m, "features.6", NULL, &c6, NULL, NULL));
    TRY(gc_model_add_relu(m, "features.7", NULL));
    TRY(gc_model_add_conv2d(m, "features.8", NULL, &c8, NULL, NULL));
    TRY(gc_model_add_relu(m, "features.9", NULL));
    TRY(gc_model_add_conv2d(m, "features.10", NULL, &c10, NULL, NULL));
    TRY(gc_model_add_relu(m, "features.11", NULL));
    TRY(gc_model_add_maxpool2d(m, "features.12", NULL, &p));
    TRY(gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap));
    TRY(gc_model_add_flatten(m, "flatten", NULL));
    TRY(gc_model_add_dropout(m, "classifier.0", NULL, 0.5f));
    TRY(gc_model_add_linear(m, "classifier.1", NULL, &f1, NULL, NULL));
    TRY(gc_model_add_relu(m, "classifier.2", NULL));
    TRY(gc_model_add_dropout(m, "classifier.3", NULL, 0.5f));
    TRY(gc_model_add_linear(m, "classifier.4", NULL, &f4, NULL, NULL));
    TRY(gc_model_add_relu(m, "classifier.5", NULL));
    TRY(gc_model_add_linear(m, "classifier.6", NULL, &f6, NULL, NULL));
    TRY(gc_model_init_random(m, 1));
    return m;
fail:
    fprintf(stderr, "gcbench: building alexnet: %s\n", gc_last_error());
    gc_model_free(m);
    return NULL;
}

/* torchvision ResNet-18 (basic blocks) or ResNet-50 (bottlenecks), torchvision's layer names
 * (docs/format.md): random weights, batch-norm running variance 1/3 (PyTorch's default
 * initialisation leaves each convolution's output with a third of its input's variance, so
 * activations keep their scale through the depth), small random shifts. */
static gc_model *build_resnet(int bottleneck) {
    static const int blocks18[4] = {2, 2, 2, 2}, blocks50[4] = {3, 4, 6, 3};
    const int *blocks = bottleneck ? blocks50 : blocks18, expansion = bottleneck ? 4 : 1;
    gc_model *m = NULL;
    char name[64], in[64], a[64], b[64];
    TRY(gc_model_create(&m));
    gc_conv2d_params stem = gc_conv2d_defaults(3, 64, 7);
    stem.stride_h = stem.stride_w = 2, stem.pad_h = stem.pad_w = 3, stem.bias = 0;
    gc_batchnorm2d_params bn = {64, 1e-5f};
    gc_pool2d_params mp = gc_pool2d_defaults(3);
    mp.stride_h = mp.stride_w = 2, mp.pad_h = mp.pad_w = 1;
    TRY(gc_model_add_conv2d(m, "conv1", "input", &stem, NULL, NULL));
    TRY(gc_model_add_batchnorm2d(m, "bn1", NULL, &bn, NULL, NULL, NULL, NULL));
    TRY(gc_model_add_relu(m, "relu", NULL));
    TRY(gc_model_add_maxpool2d(m, "maxpool", NULL, &mp));
    snprintf(in, sizeof in, "maxpool");
    int c = 64;
    for (int L = 0; L < 4; L++)
        for (int B = 0; B < blocks[L]; B++) {
            const int width = 64 << L, out = width * expansion, stride = L > 0 && B == 0 ? 2 : 1;
            const int n_conv = bottleneck ? 3 : 2;
            snprintf(a, sizeof a, "%s", in);
            for (int k = 1; k <= n_conv; k++) {
                const int k3 = bottleneck ? k == 2 : 1, co = k == n_conv ? out : width;
                gc_conv2d_params cp = gc_conv2d_defaults(k == 1 ? c : width, co, k3 ? 3 : 1);
                cp.bias = 0;
                if (k3) cp.pad_h = cp.pad_w = 1;
                if ((bottleneck && k == 2) || (!bottleneck && k == 1)) cp.stride_h = cp.stride_w = stride;
                snprintf(name, sizeof name, "layer%d.%d.conv%d", L + 1, B, k);
                TRY(gc_model_add_conv2d(m, name, a, &cp, NULL, NULL));
                bn.num_features = co;
                snprintf(name, sizeof name, "layer%d.%d.bn%d", L + 1, B, k);
                TRY(gc_model_add_batchnorm2d(m, name, NULL, &bn, NULL, NULL, NULL, NULL));
                snprintf(a, sizeof a, "%s", name);
                if (k == n_conv) break;
                snprintf(name, sizeof name, k == 1 ? "layer%d.%d.relu" : "layer%d.%d.relu_%d", L + 1, B, k - 1);
                TRY(gc_model_add_relu(m, name, NULL));
                snprintf(a, sizeof a, "%s", name);
            }
            snprintf(b, sizeof b, "%s", in);
            if (stride != 1 || c != out) {
                gc_conv2d_params dp = gc_conv2d_defaults(c, out, 1);
                dp.bias = 0, dp.stride_h = dp.stride_w = stride;
                snprintf(name, sizeof name, "layer%d.%d.downsample.0", L + 1, B);
                TRY(gc_model_add_conv2d(m, name, in, &dp, NULL, NULL));
                snprintf(name, sizeof name, "layer%d.%d.downsample.1", L + 1, B);
                TRY(gc_model_add_batchnorm2d(m, name, NULL, &bn, NULL, NULL, NULL, NULL));
                snprintf(b, sizeof b, "%s", name);
            }
            snprintf(name, sizeof name, "layer%d.%d.add", L + 1, B);
            TRY(gc_model_add_add(m, name, a, b));
            snprintf(in, sizeof in, "layer%d.%d.relu_%d", L + 1, B, n_conv - 1);
            TRY(gc_model_add_relu(m, in, NULL));
            snprintf(name, sizeof name, "layer%d.%d", L + 1, B);
            TRY(gc_model_add_alias(m, name, in));
            snprintf(name, sizeof name, "layer%d", L + 1);
            if (B == blocks[L] - 1) TRY(gc_model_add_alias(m, name, in));
            c = out;
        }
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params fc = {c, 1000, 1};
    TRY(gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap));
    TRY(gc_model_add_flatten(m, "flatten", NULL));
    TRY(gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL));
    TRY(gc_model_init_random(m, 1));
    gc_rng r;
    gc_rng_seed(&r, 2);
    for (int i = 0; i < gc_model_layer_count(m); i++) {
        if (gc_model_layer_kind(m, i) != GC_LAYER_BATCHNORM2D) continue;
        gc_tensor t;
        snprintf(name, sizeof name, "%s.running_var", gc_model_layer_name(m, i));
        TRY(gc_model_param(m, name, &t));
        for (int64_t k = 0; k < t.shape[0]; k++) t.data[k] = 1.0f / 3;
        snprintf(name, sizeof name, "%s.bias", gc_model_layer_name(m, i));
        TRY(gc_model_param(m, name, &t));
        for (int64_t k = 0; k < t.shape[0]; k++) t.data[k] = 0.1f * (gc_rng_uniform(&r) - 0.5f);
    }
    return m;
fail:
    fprintf(stderr, "gcbench: building resnet: %s\n", gc_last_error());
    gc_model_free(m);
    return NULL;
}

/* ---------------------------------------------------------------- FLOPs */

/* Multiply-adds of layer i for one sample (conv at direct-convolution count,
 * linear), from the session's activation shapes. */
static double layer_macs(const gc_model *m, const gc_session *s, int i) {
    gc_layer_kind k = gc_model_layer_kind(m, i);
    if (k != GC_LAYER_CONV2D && k != GC_LAYER_LINEAR) return 0;
    gc_tensor y, w;
    char wn[96];
    snprintf(wn, sizeof wn, "%s.weight", gc_model_layer_name(m, i));
    if (gc_session_shape(s, gc_model_layer_name(m, i), &y) || gc_model_param(m, wn, &w)) return 0;
    double per_out = 1, outputs = 1; /* MACs per output element, output elements per sample */
    for (int d = 1; d < w.ndim; d++) per_out *= (double)w.shape[d];
    for (int d = 1; d < y.ndim; d++) outputs *= (double)y.shape[d];
    return per_out * outputs;
}

typedef struct { double forward, head; } flops;

static flops count_flops(const gc_model *m, const gc_session *s, const char *layer) {
    flops f = {0, 0};
    int li = gc_model_find_layer(m, layer);
    for (int i = 0; i < gc_model_layer_count(m); i++) {
        double macs = 2 * layer_macs(m, s, i);
        f.forward += macs;
        if (i > li) f.head += macs;
    }
    return f;
}

/* ---------------------------------------------------------------- tasks */

enum { T_FORWARD, T_GRADCAM, T_GUIDED, T_GUIDED_GRADCAM, T_TOP5, T_COUNT };
static const char *task_names[T_COUNT] = {"forward", "gradcam", "guided", "guided_gradcam", "top5"};

/* What a task's session is planned for: backward anywhere (guided backprop), backward only
 * down to the Grad-CAM layer (gc_session_config.backward_floor), or none (forward_only). */
enum { SCOPE_FULL, SCOPE_FLOOR, SCOPE_FORWARD, SCOPES };

typedef struct {
    const gc_model *m;
    gc_session_config cfg[2];    /* batch N, batch 1 (--singles) */
    gc_session *s[2][SCOPES];    /* made on first use */
    int full_sessions;           /* every task on the SCOPE_FULL sessions */
    const float *x;              /* (N, 3, S, S) */
    int64_t n, size;
    int singles;                 /* explain tasks: N gc_explain calls, not one gc_explain_batch */
    gc_explain_result *res;      /* (n) */
} bench_ctx;

/* The session of batch N (one 0) or 1 for a task's scope; NULL on failure (gc_last_error). */
static gc_session *session_for(bench_ctx *b, int one, int task) {
    const int scope = b->full_sessions ? SCOPE_FULL
                    : task == T_FORWARD ? SCOPE_FORWARD
                    : task == T_GRADCAM || task == T_TOP5 ? SCOPE_FLOOR : SCOPE_FULL;
    if (!b->s[one][scope]) {
        gc_session_config c = b->cfg[one];
        if (scope == SCOPE_FLOOR) c.backward_floor = gc_model_default_layer(b->m);
        c.forward_only = scope == SCOPE_FORWARD;
        if (gc_session_create(b->m, &c, &b->s[one][scope])) return NULL;
    }
    return b->s[one][scope];
}

static void free_sessions(bench_ctx *b) {
    for (int one = 0; one < 2; one++)
        for (int k = 0; k < SCOPES; k++) gc_session_free(b->s[one][k]), b->s[one][k] = NULL;
}

static int run_task(bench_ctx *b, int task) {
    gc_session *s = session_for(b, task != T_FORWARD && b->singles, task);
    if (!s) return 0;
    if (task == T_FORWARD) return gc_session_forward(s, b->x) == GC_OK;
    static const unsigned methods[T_COUNT] = {0, GC_METHOD_GRADCAM, GC_METHOD_GUIDED_BACKPROP,
                                              GC_METHOD_GUIDED_GRADCAM, GC_METHOD_GRADCAM};
    gc_explain_request req = {.target = task == T_TOP5 ? GC_TARGET_TOPK : GC_TARGET_TOP1, .top_k = 5,
                              .methods = methods[task]};
    gc_explain_result r;
    int64_t per = 3 * b->size * b->size;
    if (!b->singles) return gc_explain_batch(s, b->x, (int)b->n, &req, b->res) == GC_OK;
    for (int64_t i = 0; i < b->n; i++)
        if (gc_explain(s, b->x + i * per, &req, &r) != GC_OK) return 0;
    return 1;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv) {
    const char *models[8];
    int no_wino = 0, singles = 0, no_fuse = 0, full_sessions = 0;
    gc_kernels kernels = GC_KERNELS_AUTO;
    static const char *kernel_names[] = {"auto", "reference", "portable", "avx2", "avx512"};
    int n_models = 0, batches[8], n_batches = 0, tasks[T_COUNT], n_tasks = 0, threads = 0, reps = 5, json = 0,
        layers = 1, size = 224;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-layers")) layers = 0;
        else if (!strcmp(a, "--no-winograd")) no_wino = 1;
        else if (!strcmp(a, "--no-fuse")) no_fuse = 1;
        else if (!strcmp(a, "--singles")) singles = 1;
        else if (!strcmp(a, "--full-sessions")) full_sessions = 1;
        else if (!strcmp(a, "--kernels") && val) {
            const char *k = argv[++i];
            int t = 0;
            while (t < 5 && strcmp(k, kernel_names[t])) t++;
            if (t == 5) { fprintf(stderr, "gcbench: unknown kernels %s (try --help)\n", k); return 2; }
            kernels = (gc_kernels)t;
        }
        else if (!strcmp(a, "--model") && val && n_models < 8) models[n_models++] = argv[++i];
        else if (!strcmp(a, "--batch") && val && n_batches < 8 && (batches[n_batches] = atoi(argv[++i])) > 0) n_batches++;
        else if (!strcmp(a, "--threads") && val && (threads = atoi(argv[++i])) > 0) {}
        else if (!strcmp(a, "--reps") && val && (reps = atoi(argv[++i])) > 0) {}
        else if (!strcmp(a, "--size") && val && (size = atoi(argv[++i])) >= 32) {}
        else if (!strcmp(a, "--task") && val && n_tasks < T_COUNT) {
            const char *t = argv[++i];
            int k = 0;
            while (k < T_COUNT && strcmp(t, task_names[k])) k++;
            if (k == T_COUNT) { fprintf(stderr, "gcbench: unknown task %s (try --help)\n", t); return 2; }
            tasks[n_tasks++] = k;
        } else { fprintf(stderr, "gcbench: bad argument %s (try --help)\n", a); return 2; }
    }
    if (!n_models) models[n_models++] = "vgg16";
    if (!n_batches) batches[n_batches++] = 1, batches[n_batches++] = 8;
    if (!n_tasks) for (int k = 0; k < T_COUNT; k++) tasks[n_tasks++] = k;
    if (!threads) threads = gc_default_threads();
    double peak512 = fma_peak(threads, 512), peak256 = fma_peak(threads, 256);
    /* what the fastest kernels can reach; the AVX2 peak for --kernels avx2 */
    double peak = kernels == GC_KERNELS_AVX2 ? peak256 : peak512 > peak256 ? peak512 : peak256;
    const char *isa = peak512 >= peak256 && peak512 > 0 ? "avx512" : "avx2";
    if (json)
        printf("{\"task\": \"fma_peak\", \"threads\": %d, \"isa\": \"%s\", \"gflops\": %.1f, \"avx512_gflops\": %.1f, "
               "\"avx2_gflops\": %.1f}\n", threads, isa, peak, peak512, peak256);
    else
        printf("FMA peak on %d thread%s (CPU time): AVX-512 %.1f GFLOP/s, AVX2 %.1f GFLOP/s; %% of peak below is of %.1f\n",
               threads, threads > 1 ? "s" : "", peak512, peak256, peak);

    int rc = 0;
    for (int mi = 0; mi < n_models; mi++) {
        gc_model *m = NULL;
        double t_open = now();
        if (!strcmp(models[mi], "vgg16")) m = build_vgg16();
        else if (!strcmp(models[mi], "alexnet")) m = build_alexnet();
        else if (!strcmp(models[mi], "resnet18")) m = build_resnet(0);
        else if (!strcmp(models[mi], "resnet50")) m = build_resnet(1);
        else if (gc_model_open(models[mi], &m)) {
            fprintf(stderr, "gcbench: %s\n", gc_last_error());
            return 1;
        }
        if (!m) return 1;
        t_open = now() - t_open;
        const char *layer = gc_model_default_layer(m);
        if (!json) printf("\n%s: %lld parameters, ready in %.3f s, Grad-CAM layer %s, convolution %s\n", models[mi],
                          (long long)gc_model_param_count(m), t_open, layer ? layer : "-",
                          no_wino ? "direct (--no-winograd)" : "Winograd where it pays");
        if (!json) printf("kernels: %s%s\n", kernel_names[kernels],
                          kernels == GC_KERNELS_AUTO ? " (the best this CPU runs)" : "");
        for (int bi = 0; bi < n_batches; bi++) {
            int64_t n = batches[bi];
            gc_session_config cb = {.batch = n, .channels = 3, .height = size, .width = size, .no_winograd = no_wino,
                                    .kernels = kernels, .threads = threads, .no_fuse = no_fuse};
            gc_session_config c1 = {.batch = 1, .channels = 3, .height = size, .width = size, .no_winograd = no_wino,
                                    .kernels = kernels, .threads = threads, .no_fuse = no_fuse};
            bench_ctx b = {m, {cb, c1}, {{NULL}}, full_sessions, NULL, n, size, singles,
                           calloc((size_t)n, sizeof(gc_explain_result))};
            float *x = gc_alloc_array((size_t)(n * 3 * size * size), sizeof(float));
            gc_session *one_s = x && b.res ? session_for(&b, 1, T_GUIDED) : NULL; /* the shapes, the FLOP counts */
            gc_session *fwd_s = one_s ? session_for(&b, 0, T_FORWARD) : NULL;  /* the per-layer table */
            if (!fwd_s) {
                fprintf(stderr, "gcbench: %s\n", gc_last_error());
                return 1;
            }
            gc_rng r;
            gc_rng_seed(&r, 3);
            for (int64_t i = 0; i < n * 3 * size * size; i++) x[i] = gc_rng_normal(&r);
            b.x = x;
            gc_session_forward(one_s, x);
            flops f = count_flops(m, one_s, layer ? layer : "");
            double task_flops[T_COUNT] = {f.forward, f.forward + f.head, 2 * f.forward, 2 * f.forward + f.head,
                                          f.forward + 10 * f.head};
            if (!json) printf("  batch %lld%s (session arena %.1f MB)\n  %-16s %10s %10s %10s %9s %8s\n", (long long)n,
                              n > 1 ? singles ? " (explain tasks: per batch of single-image explanations)"
                                              : " (explain tasks: per gc_explain_batch of the batch)" : "",
                              gc_session_memory(fwd_s) / 1048576.0, "task",
                              "median s", "min s", "max s", "GFLOP/s", "peak %");
            for (int ti = 0; ti < n_tasks; ti++) {
                int t = tasks[ti];
                double *times = calloc((size_t)reps, sizeof *times);
                int ok = times && run_task(&b, t); /* warm-up */
                for (int k = 0; ok && k < reps; k++) {
                    double t0 = now();
                    ok = run_task(&b, t);
                    times[k] = now() - t0;
                }
                if (!ok) {
                    fprintf(stderr, "gcbench: %s %s: %s\n", models[mi], task_names[t], gc_last_error());
                    free(times);
                    rc = 1;
                    continue;
                }
                qsort(times, (size_t)reps, sizeof *times, cmp_double);
                double med = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
                double gf = task_flops[t] * (double)n / med * 1e-9;
                if (json)
                    printf("{\"model\": \"%s\", \"task\": \"%s\", \"batch\": %lld, \"threads\": %d, \"size\": %d, "
                           "\"winograd\": %d, \"kernels\": \"%s\", \"singles\": %d, \"reps\": %d, \"median_s\": %.6f, \"min_s\": %.6f, "
                           "\"max_s\": %.6f, "
                           "\"gflops\": %.2f, \"peak_fraction\": %.4f, \"peak_rss_mb\": %.1f}\n",
                           models[mi], task_names[t], (long long)n, threads, size, !no_wino, kernel_names[kernels],
                           t != T_FORWARD && singles, reps, med,
                           times[0],
                           times[reps - 1], gf, peak > 0 ? gf / peak : 0, peak_rss_kb() / 1024.0);
                else
                    printf("  %-16s %10.4f %10.4f %10.4f %9.1f %7.1f%%\n", task_names[t], med, times[0],
                           times[reps - 1], gf, peak > 0 ? 100 * gf / peak : 0);
                free(times);
            }
            if (layers && bi == 0) {
                /* per conv layer, from a profiled forward of the batch session */
                gc_session_set_profiling(fwd_s, 1);
                double total = 0, conv_flops = 0, conv_t = 0;
                double *best = calloc((size_t)gc_model_layer_count(m), sizeof *best);
                for (int k = 0; best && k < reps; k++) {
                    gc_session_forward(fwd_s, x);
                    for (int i = 0; i < gc_model_layer_count(m); i++) {
                        double s = gc_session_layer_seconds(fwd_s, i, 0);
                        if (k == 0 || s < best[i]) best[i] = s;
                    }
                }
                if (!json) printf("  conv layers (batch %lld forward, best of %d)\n  %-14s %9s %9s %9s %8s\n",
                                  (long long)n, reps, "layer", "GFLOP", "ms", "GFLOP/s", "peak %");
                for (int i = 0; best && i < gc_model_layer_count(m); i++) {
                    total += best[i];
                    if (gc_model_layer_kind(m, i) != GC_LAYER_CONV2D) continue;
                    double lf = 2 * layer_macs(m, one_s, i) * (double)n, gf = lf / best[i] * 1e-9;
                    conv_flops += lf;
                    conv_t += best[i];
                    if (json)
                        printf("{\"model\": \"%s\", \"task\": \"conv_layer\", \"layer\": \"%s\", \"batch\": %lld, "
                               "\"threads\": %d, \"winograd\": %d, \"median_s\": %.6f, \"gflops\": %.2f, "
                               "\"peak_fraction\": %.4f}\n",
                               models[mi], gc_model_layer_name(m, i), (long long)n, threads, !no_wino, best[i], gf,
                               peak > 0 ? gf / peak : 0);
                    else
                        printf("  %-14s %9.3f %9.2f %9.1f %7.1f%%\n", gc_model_layer_name(m, i), lf * 1e-9,
                               best[i] * 1e3, gf, peak > 0 ? 100 * gf / peak : 0);
                }
                if (json && conv_t > 0)
                    printf("{\"model\": \"%s\", \"task\": \"conv_total\", \"batch\": %lld, \"threads\": %d, "
                           "\"winograd\": %d, \"median_s\": %.6f, \"gflops\": %.2f, \"peak_fraction\": %.4f}\n",
                           models[mi], (long long)n, threads, !no_wino, conv_t, conv_flops / conv_t * 1e-9,
                           peak > 0 ? conv_flops / conv_t * 1e-9 / peak : 0);
                if (!json && conv_t > 0)
                    printf("  %-14s %9.3f %9.2f %9.1f %7.1f%%   (all layers: %.2f ms)\n", "conv total",
                           conv_flops * 1e-9, conv_t * 1e3, conv_flops / conv_t * 1e-9,
                           peak > 0 ? 100 * conv_flops / conv_t * 1e-9 / peak : 0, total * 1e3);
                free(best);
                gc_session_set_profiling(fwd_s, 0);
            }
            free_sessions(&b);
            free(b.res);
            gc_free(x);
        }
        gc_model_free(m);
    }
    if (json) printf("{\"task\": \"peak_rss\", \"peak_rss_mb\": %.1f}\n", peak_rss_kb() / 1024.0);
    else printf("\npeak resident memory: %.1f MB\n", peak_rss_kb() / 1024.0);
    return rc;
}
