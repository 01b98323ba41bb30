/* gemm_bench.c - GFLOP/s of each GEMM tier on conv-like shapes.
 *
 *   tools/gemm_bench [--threads N] [--tier NAME] [--reps N] [--trans-b] [--prepack]
 *                    [--cpu] [--shape MxNxK]...
 *
 * Default shapes are VGG-16 conv layers as im2col GEMMs (M = out channels,
 * N = H*W, K = in channels * 9) plus a fully connected layer. The tier may also
 * come from the environment variable GC_GEMM_TIER. Each measurement is the best
 * of --reps runs (default 3) after one warm-up. --trans-b stores B as N x K (the
 * layout of a linear layer's weight), otherwise B is K x N. --prepack packs A once
 * before timing (gc_gemm_pack_a + gc_gemm_prepacked, as for constant weights). --cpu
 * times by process CPU time: steadier with one thread on a shared machine (with N
 * threads it counts every thread's time, waiting included). */
#include "core/core.h"
#include "kernels/gemm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int use_cpu_time; /* --cpu: process CPU time instead of wall time */

static double now_s(void) {
    struct timespec t;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(void) {
    fprintf(stderr, "usage: gemm_bench [--threads N] [--tier auto|reference|portable|avx2|avx512]\n"
                    "                  [--reps N] [--trans-b] [--prepack] [--cpu] [--shape MxNxK]...\n");
}

/* Best-of-reps GFLOP/s of one tier on one shape (A not transposed, beta = 0). */
static double bench(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, int tb, int prepack,
                    int reps, int nthreads) {
    float *A = gc_alloc_array((size_t)(M * K), sizeof(float));
    float *B = gc_alloc_array((size_t)(K * N), sizeof(float));
    float *C = gc_alloc_array((size_t)(M * N), sizeof(float));
    size_t wsz = gc_gemm_workspace(tier, M, N, K, nthreads);
    float *W = gc_alloc_array(wsz ? wsz : 1, sizeof(float));
    size_t psz = prepack ? gc_gemm_pack_a_size(tier, M, K) : 1;
    float *P = gc_alloc_array(psz ? psz : 1, sizeof(float));
    if (!A || !B || !C || !W || !P) {
        gc_free(A); gc_free(B); gc_free(C); gc_free(W); gc_free(P);
        return -1;
    }
    gc_rng r;
    gc_rng_seed(&r, 42);
    for (int64_t i = 0; i < M * K; i++) A[i] = gc_rng_uniform(&r) - 0.5f;
    for (int64_t i = 0; i < K * N; i++) B[i] = gc_rng_uniform(&r) - 0.5f;
    if (prepack) gc_gemm_pack_a(tier, 0, M, K, A, K, P);
    double best = 1e30;
    for (int rep = 0; rep <= reps; rep++) {
        double t0 = now_s();
        if (prepack)
            gc_gemm_prepacked(pool, tier, M, N, K, 1.0f, P, tb, B, tb ? K : N, 0.0f, C, N, W, NULL);
        else
            gc_gemm(pool, tier, 0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 0.0f, C, N, W);
        double t = now_s() - t0;
        if (rep > 0 && t < best) best = t; /* rep 0 warms up */
    }
    gc_free(A); gc_free(B); gc_free(C); gc_free(W); gc_free(P);
    return 2.0 * (double)M * (double)N * (double)K / best * 1e-9;
}

int main(int argc, char **argv) {
    int64_t shapes[16][3];
    int nshapes = 0, reps = 3, nthreads = 1, tier = -2, tb = 0, prepack = 0;
    const char *env = getenv("GC_GEMM_TIER");
    if (env && (tier = gc_gemm_tier_from_name(env)) < 0) {
        fprintf(stderr, "gemm_bench: unknown GC_GEMM_TIER '%s'\n", env);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads") && v) { nthreads = atoi(v); i++; }
        else if (!strcmp(a, "--reps") && v) { reps = atoi(v); i++; }
        else if (!strcmp(a, "--trans-b")) tb = 1;
        else if (!strcmp(a, "--prepack")) prepack = 1;
        else if (!strcmp(a, "--cpu")) use_cpu_time = 1;
        else if (!strcmp(a, "--tier") && v) {
            if ((tier = gc_gemm_tier_from_name(v)) < 0) { usage(); return 2; }
            i++;
        } else if (!strcmp(a, "--shape") && v && nshapes < 16) {
            long long m, n, k;
            if (sscanf(v, "%lldx%lldx%lld", &m, &n, &k) != 3 || m < 1 || n < 1 || k < 1 ||
                m * n > (1LL << 28) || m * k > (1LL << 28) || n * k > (1LL << 28)) {
                usage();
                return 2;
            }
            shapes[nshapes][0] = m; shapes[nshapes][1] = n; shapes[nshapes][2] = k;
            nshapes++; i++;
        } else { usage(); return 2; }
    }
    if (nthreads < 1 || reps < 1) { usage(); return 2; }
    if (!nshapes) {
        static const int64_t def[][3] = {
            {64, 50176, 27},    /* conv1_1 224x224 */
            {128, 12544, 576},  /* conv2_1 112x112 */
            {256, 3136, 1152},  /* conv3_1 56x56 */
            {256, 3136, 2304},  /* conv3_2 56x56 */
            {512, 784, 2304},   /* conv4_1 28x28 */
            {512, 784, 4608},   /* conv4_2 28x28 */
            {512, 3136, 4608},  /* stress: 512 x 56*56 x 512*9 */
            {512, 196, 4608},   /* conv5_x 14x14 */
            {1, 4096, 25088},   /* fc6, batch 1 (GEMV-like) */
        };
        nshapes = (int)(sizeof def / sizeof def[0]);
        memcpy(shapes, def, sizeof def);
    }
    gc_pool *pool = NULL;
    if (gc_pool_create(nthreads, &pool)) {
        fprintf(stderr, "gemm_bench: %s\n", gc_last_error());
        return 1;
    }
    int first = tier == GC_GEMM_REFERENCE ? GC_GEMM_REFERENCE : GC_GEMM_PORTABLE; /* reference only on request */
    printf("threads %d, B %s, A %s, best tier %s\n", nthreads, tb ? "N x K" : "K x N",
           prepack ? "prepacked" : "packed per call",
           gc_gemm_tier_name(gc_gemm_best_tier()));
    printf("%-22s", "M x N x K");
    for (int t = first; t < GC_GEMM_TIER_COUNT; t++)
        if (gc_gemm_tier_available((gc_gemm_tier)t) && (tier < 0 || (int)gc_gemm_resolve((gc_gemm_tier)tier) == t))
            printf(" %10s", gc_gemm_tier_name((gc_gemm_tier)t));
    printf("   (GFLOP/s)\n");
    for (int s = 0; s < nshapes; s++) {
        char name[64];
        snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)shapes[s][0],
                 (long long)shapes[s][1], (long long)shapes[s][2]);
        printf("%-22s", name);
        for (int t = first; t < GC_GEMM_TIER_COUNT; t++) {
            if (!gc_gemm_tier_available((gc_gemm_tier)t)) continue;
            if (tier >= 0 && (int)gc_gemm_resolve((gc_gemm_tier)tier) != t) continue;
            printf(" %10.1f", bench(pool, (gc_gemm_tier)t, shapes[s][0], shapes[s][1], shapes[s][2], tb, prepack, reps,
                                      nthreads));
            fflush(stdout);
        }
        printf("\n");
    }
    gc_pool_free(pool);
    return 0;
}
