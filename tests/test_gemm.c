/* test_gemm.c - every available GEMM tier against the reference at awkward sizes,
 * all transposes, strided operands, alpha/beta cases, NaN-filled C with beta == 0,
 * prepacked A with a row bias and an epilogue in the stores (the bits of a separate pass),
 * the by-columns driver with per-worker packing (the bits of the shared one), its packing
 * function form with the convolution's lowered matrix packed directly (gc_im2col_pack), the AVX-512
 * kernel's short last panels (the bits of the full one),
 * and bit-identical results for 1, 2 and 3 pool threads. */
#include "test.h"
#include "core/core.h"
#include "kernels/gemm.h"
#include "kernels/conv.h"
#include <float.h>
#include <stdint.h>

static const float SENTINEL = 12345.0f;

static gc_gemm_tier tiers[GC_GEMM_TIER_COUNT];
static gc_pool *pool; /* the threads of every call (2; the thread test also uses 1 and 3) */
static int ntiers;

static void fill(gc_rng *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 2.0f * gc_rng_uniform(r) - 1.0f;
}

/* Operands of one case: op(A) M x K, op(B) K x N, C M x N, each with `pad` extra
 * floats per row (strided); C's row gap holds SENTINEL. */
typedef struct gemm_case {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0; /* C0: initial C (NaN inside when beta == 0) */
} gemm_case;

static void case_make(gemm_case *g, gc_rng *r, int ta, int tb, int64_t M, int64_t N, int64_t K,
                      int pad, float alpha, float beta) {
    g->ta = ta; g->tb = tb; g->M = M; g->N = N; g->K = K;
    g->alpha = alpha; g->beta = beta;
    g->lda = (ta ? M : K) + pad;
    g->ldb = (tb ? K : N) + pad;
    g->ldc = N + pad;
    int64_t na = (ta ? K : M) * g->lda, nb = (tb ? N : K) * g->ldb, nc = M * g->ldc;
    g->A = malloc((size_t)na * sizeof(float));
    g->B = malloc((size_t)nb * sizeof(float));
    g->C0 = malloc((size_t)nc * sizeof(float));
    fill(r, g->A, na);
    fill(r, g->B, nb);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < g->ldc; j++)
            g->C0[i * g->ldc + j] = j >= N ? SENTINEL : beta == 0.0f ? NAN : 2.0f * gc_rng_uniform(r) - 1.0f;
}

static void case_free(gemm_case *g) { free(g->A); free(g->B); free(g->C0); }

/* Runs `tier` into a fresh copy of C0 (workspace malloc'ed at exactly the asked size,
 * so ASan sees any overrun). Returns C (caller frees). */
static float *case_run_on(gc_pool *pl, const gemm_case *g, gc_gemm_tier tier) {
    size_t nc = (size_t)(g->M * g->ldc);
    float *C = malloc(nc * sizeof(float));
    memcpy(C, g->C0, nc * sizeof(float));
    size_t ws = gc_gemm_workspace(tier, g->M, g->N, g->K, 2);
    float *w = ws ? malloc(ws * sizeof(float)) : NULL;
    gc_gemm(pl, tier, g->ta, g->tb, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta,
            C, g->ldc, w);
    free(w);
    return C;
}

static float *case_run(const gemm_case *g, gc_gemm_tier tier) { return case_run_on(pool, g, tier); }

/* |C - Cref| <= (K + 4) eps (|alpha| sum_p |a_ip||b_pj| + |beta c0_ij|) per element;
 * row gaps keep SENTINEL. Returns 1 if all good, reporting the first failure. */
static int case_check(const gemm_case *g, gc_gemm_tier tier, const float *C, const float *R) {
    for (int64_t i = 0; i < g->M; i++) {
        for (int64_t j = 0; j < g->ldc; j++) {
            float c = C[i * g->ldc + j], r = R[i * g->ldc + j];
            if (j >= g->N) {
                if (c != SENTINEL) { FAILF("%s: row gap written at (%lld,%lld)", gc_gemm_tier_name(tier), (long long)i, (long long)j); return 0; }
                continue;
            }
            double s = 0;
            for (int64_t p = 0; p < g->K; p++) {
                double a = g->ta ? g->A[p * g->lda + i] : g->A[i * g->lda + p];
                double b = g->tb ? g->B[j * g->ldb + p] : g->B[p * g->ldb + j];
                s += fabs(a * b);
            }
            double scale = fabs(g->alpha) * s + (g->beta != 0.0f ? fabs(g->beta * g->C0[i * g->ldc + j]) : 0.0);
            double tol = (g->K + 4) * (double)FLT_EPSILON * scale + 1e-30;
            if (!(fabs((double)c - (double)r) <= tol)) {
                FAILF("%s ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g: C(%lld,%lld) = %g, ref %g, tol %g",
                      gc_gemm_tier_name(tier), g->ta, g->tb, (long long)g->M, (long long)g->N,
                      (long long)g->K, g->alpha, g->beta, (long long)i, (long long)j, c, r, tol);
                return 0;
            }
        }
    }
    return 1;
}

/* Every available non-reference tier against the reference on one case. */
static int compare_tiers(gc_rng *r, int ta, int tb, int64_t M, int64_t N, int64_t K, int pad,
                         float alpha, float beta) {
    gemm_case g;
    case_make(&g, r, ta, tb, M, N, K, pad, alpha, beta);
    float *R = case_run(&g, GC_GEMM_REFERENCE);
    int ok = 1;
    for (int t = 0; t < ntiers && ok; t++) {
        float *C = case_run(&g, tiers[t]);
        ok = case_check(&g, tiers[t], C, R);
        free(C);
    }
    free(R);
    case_free(&g);
    return ok;
}

static const float ALPHAS[] = {1.0f, -0.7f, 1.3f, 0.5f, 1.0f, 2.0f};
static const float BETAS[]  = {0.0f, 0.0f, 1.0f, 0.5f, 0.5f, 1.0f};

/* ---- the oracle itself on a hand-computed case ---- */

TEST(reference_hand_computed) {
    /* op(A) = [1 2 3; 4 5 6], op(B) = [1 0; -1 2; 0.5 1]
     * op(A) op(B) = [1-2+1.5, 4+3; 4-5+3, 10+6] = [0.5 7; 2 16] */
    const float A[6] = {1, 2, 3, 4, 5, 6}, At[6] = {1, 4, 2, 5, 3, 6};
    const float B[6] = {1, 0, -1, 2, 0.5f, 1}, Bt[6] = {1, -1, 0.5f, 0, 2, 1};
    const float want[4] = {0.5f, 7, 2, 16};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float C[4] = {NAN, NAN, NAN, NAN};
            gc_gemm_ref(ta, tb, 2, 2, 3, 1.0f, ta ? At : A, ta ? 2 : 3, tb ? Bt : B, tb ? 3 : 2,
                        0.0f, C, 2);
            for (int i = 0; i < 4; i++) CHECK(C[i] == want[i]);
            float D[4] = {1, 1, 1, 1};
            gc_gemm_ref(ta, tb, 2, 2, 3, 2.0f, ta ? At : A, ta ? 2 : 3, tb ? Bt : B, tb ? 3 : 2,
                        0.5f, D, 2);
            for (int i = 0; i < 4; i++) CHECK(D[i] == 2 * want[i] + 0.5f);
        }
}

/* ---- dispatch ---- */

TEST(tier_dispatch) {
    gc_gemm_tier best = gc_gemm_best_tier();
    CHECK(best == GC_GEMM_PORTABLE || best == GC_GEMM_AVX2 || best == GC_GEMM_AVX512);
    CHECK(gc_gemm_tier_available(best));
    CHECK(gc_gemm_tier_available(GC_GEMM_REFERENCE) && gc_gemm_tier_available(GC_GEMM_PORTABLE));
    CHECK(!gc_gemm_tier_available((gc_gemm_tier)99));
    CHECK(gc_gemm_resolve(GC_GEMM_AUTO) == best);
    CHECK(gc_gemm_resolve((gc_gemm_tier)-3) == best);
    CHECK(gc_gemm_resolve(GC_GEMM_REFERENCE) == GC_GEMM_REFERENCE);
    gc_cpu_features f = gc_cpu_detect();
    CHECK(gc_gemm_tier_available(GC_GEMM_AVX512) == (f.avx512f && f.avx2 && f.fma));
    CHECK(gc_gemm_tier_available(GC_GEMM_AVX2) == (f.avx2 && f.fma));
    for (int t = 0; t < GC_GEMM_TIER_COUNT; t++)
        CHECK(gc_gemm_tier_from_name(gc_gemm_tier_name((gc_gemm_tier)t)) == t);
    CHECK(strcmp(gc_gemm_tier_name((gc_gemm_tier)42), "unknown") == 0);
    CHECK(gc_gemm_tier_from_name("avx9000") == -1 && gc_gemm_tier_from_name(NULL) == -1);
    CHECK(gc_gemm_workspace(GC_GEMM_REFERENCE, 100, 100, 100, 1) == 0);
    CHECK(gc_gemm_workspace(GC_GEMM_AUTO, 0, 100, 100, 1) == 0);
    gc_gemm_blocking b = gc_gemm_blocks(GC_GEMM_AUTO);
    CHECK(b.mr > 0 && b.nr > 0 && b.mc % b.mr == 0 && b.nc % b.nr == 0 && b.kc > 0);
    /* bounded by the cache blocks even for huge sizes */
    size_t w = gc_gemm_workspace(GC_GEMM_AUTO, INT64_MAX, INT64_MAX, INT64_MAX, 2);
    CHECK(w > 0 && w <= 2 * ((size_t)(4 * b.mc + b.nc) * (size_t)b.kc + 32));
}

/* ---- numerics ---- */

TEST(small_sizes_all_combinations) {
    static const int64_t S[] = {1, 2, 3, 7, 13, 17, 31, 33};
    const int ns = (int)(sizeof S / sizeof S[0]);
    gc_rng r;
    gc_rng_seed(&r, 1);
    int idx = 0, fails = 0;
    for (int mi = 0; mi < ns; mi++)
        for (int ni = 0; ni < ns; ni++)
            for (int ki = 0; ki < ns; ki++, idx++) {
                int ta = idx & 1, tb = (idx >> 1) & 1, pad = (idx % 3) ? 3 : 0;
                int ab = idx % 6;
                if (!compare_tiers(&r, ta, tb, S[mi], S[ni], S[ki], pad, ALPHAS[ab], BETAS[ab]) && ++fails > 3)
                    return;
            }
}

TEST(large_awkward_sizes) {
    /* 257 > KC (two K blocks), 257 > MC for some tiers, 700 > every MC, 4100 > NC,
     * 1400 > 4 MC (several A chunks per K block) */
    static const int64_t cases[][3] = {
        {65, 127, 257}, {257, 65, 127}, {127, 257, 65}, {257, 257, 1}, {1, 257, 257},
        {257, 1, 257}, {127, 127, 127}, {257, 257, 257}, {700, 33, 300}, {3, 4100, 5},
        {31, 65, 520}, {1, 2100, 9}, {1, 300, 1001}, {1400, 20, 300},
    };
    gc_rng r;
    gc_rng_seed(&r, 2);
    int idx = 0, fails = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < 4; t++, idx++) {
            int ab = idx % 6, pad = (idx & 1) ? 5 : 0;
            if (!compare_tiers(&r, t & 1, t >> 1, cases[c][0], cases[c][1], cases[c][2], pad,
                               ALPHAS[ab], BETAS[ab]) && ++fails > 3)
                return;
        }
}

TEST(k_zero_and_alpha_zero_scale_c) {
    for (int t = 0; t < ntiers + 1; t++) {
        gc_gemm_tier tier = t < ntiers ? tiers[t] : GC_GEMM_REFERENCE;
        float A[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, B[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
        float C[4] = {1, 2, 3, 4}, W[4096];
        gc_gemm(pool, tier, 0, 0, 2, 2, 0, 1.0f, A, 3, B, 2, 0.5f, C, 2, W);
        CHECK(C[0] == 0.5f && C[1] == 1.0f && C[2] == 1.5f && C[3] == 2.0f);
        gc_gemm(pool, tier, 0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 2.0f, C, 2, W);
        CHECK(C[0] == 1.0f && C[1] == 2.0f && C[2] == 3.0f && C[3] == 4.0f);
        float D[4] = {NAN, NAN, NAN, NAN};
        gc_gemm(pool, tier, 1, 1, 2, 2, 0, 1.0f, A, 2, B, 3, 0.0f, D, 2, W);
        CHECK(D[0] == 0.0f && D[1] == 0.0f && D[2] == 0.0f && D[3] == 0.0f);
        gc_gemm(pool, tier, 0, 0, 0, 2, 3, 1.0f, A, 3, B, 2, 0.0f, D, 2, W); /* M = 0: no-op */
        gc_gemm(pool, tier, 0, 0, 2, 0, 3, 1.0f, A, 3, B, 2, 0.0f, D, 2, W);
        CHECK(D[0] == 0.0f && D[3] == 0.0f);
    }
}

/* ---- prepacked A ---- */

TEST(prepacked_a_matches) {
    /* M, N, K, trans_a, trans_b: K > KC, M > MC, edges, M == 1 row-vector paths */
    static const int64_t cases[][5] = {{37, 29, 300, 0, 0}, {700, 45, 513, 1, 0},
                                       {13, 70, 7, 0, 1},   {130, 33, 260, 1, 1},
                                       {1, 100, 300, 1, 0}, {1, 100, 300, 1, 1},
                                       {1400, 40, 300, 0, 0}};
    gc_rng r;
    gc_rng_seed(&r, 4);
    for (int t = -1; t < ntiers; t++) {
        gc_gemm_tier tier = t < 0 ? GC_GEMM_REFERENCE : tiers[t];
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            gemm_case g;
            case_make(&g, &r, (int)cases[c][3], (int)cases[c][4], cases[c][0], cases[c][1],
                      cases[c][2], 2, 1.1f, c & 1 ? 0.5f : 0.0f);
            size_t np = gc_gemm_pack_a_size(tier, g.M, g.K);
            CHECK(np >= (size_t)(g.M * g.K));
            float *pa = malloc(np * sizeof(float));
            gc_gemm_pack_a(tier, g.ta, g.M, g.K, g.A, g.lda, pa);
            size_t nc = (size_t)(g.M * g.ldc), ws = gc_gemm_workspace(tier, g.M, g.N, g.K, 2);
            float *C = malloc(nc * sizeof(float)), *w = ws ? malloc(ws * sizeof(float)) : NULL;
            memcpy(C, g.C0, nc * sizeof(float));
            gc_gemm_prepacked(pool, tier, g.M, g.N, g.K, g.alpha, pa, g.tb, g.B, g.ldb, g.beta, C, g.ldc, w, NULL);
            float *R = case_run(&g, GC_GEMM_REFERENCE), *U = case_run(&g, tier);
            case_check(&g, tier, C, R);
            if (g.M > 1 && memcmp(C, U, nc * sizeof(float)) != 0)
                FAILF("%s: prepacked differs from gc_gemm (case %zu)", gc_gemm_tier_name(tier), c);
            /* a row bias in the stores rounds as a separate pass over C would, bit for bit */
            float *bias = malloc((size_t)g.M * sizeof(float));
            for (int64_t i = 0; i < g.M; i++) bias[i] = 2.0f * gc_rng_uniform(&r) - 1.0f;
            for (int64_t i = 0; i < g.M; i++)
                for (int64_t j = 0; j < g.N; j++) C[i * g.ldc + j] += bias[i];
            memcpy(U, C, nc * sizeof(float));
            memcpy(C, g.C0, nc * sizeof(float));
            gc_gemm_prepacked(pool, tier, g.M, g.N, g.K, g.alpha, pa, g.tb, g.B, g.ldb, g.beta, C, g.ldc, w, bias);
            if (memcmp(C, U, nc * sizeof(float)) != 0)
                FAILF("%s: prepacked with a row bias differs from gc_gemm + bias (case %zu)", gc_gemm_tier_name(tier), c);
            free(bias); free(pa); free(C); free(w); free(R); free(U);
            case_free(&g);
        }
    }
    CHECK(gc_gemm_pack_a_size(GC_GEMM_AUTO, 0, 5) == 0);
    CHECK(gc_gemm_pack_a_size(GC_GEMM_AUTO, INT64_MAX, 2) == 0);
}

/* ---- an epilogue in the stores ---- */

/* The separate pass the epilogue stands for (the activation layers' comparisons). */
static void epi_pass(int epi, float lo, float hi, float *C, int64_t M, int64_t N, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float *v = &C[i * ldc + j];
            if (epi == 1) *v = *v > 0.0f ? *v : 0.0f; /* GC_EPI_RELU */
            else if (epi == 2) {                       /* GC_EPI_CLAMP */
                const float u = *v < lo ? lo : *v;
                *v = u > hi ? hi : u;
            }
        }
}

/* gc_gemm_prepacked_epi against gc_gemm_prepacked followed by the separate pass, bit for bit:
 * ReLU and two clamps, with and without a row bias, on every tier and path (K > KC, edges, the
 * M == 1 row vector, K == 0, alpha == 0), with outputs that are NaN (a NaN column of B), +-inf
 * and -0 (alpha < 0 times a zero row of A). */
TEST(prepacked_epilogue_bits) {
    /* M, N, K, trans_b, alpha */
    static const float cases[][5] = {{37, 29, 300, 0, 1.1f}, {100, 70, 600, 0, -1.0f}, {13, 70, 7, 1, -0.8f},
                                     {1, 100, 300, 0, 1.0f}, {1, 100, 300, 1, -1.0f}, {20, 30, 0, 0, 1.0f},
                                     {20, 30, 50, 0, 0.0f},  {350, 40, 96, 0, 1.0f}};
    static const float epis[][3] = {{1, 0, 0}, {2, 0.0f, 6.0f}, {2, -0.25f, 0.125f}, {0, 0, 0}};
    gc_rng r;
    gc_rng_seed(&r, 5);
    int fails = 0;
    for (int t = -1; t < ntiers; t++) {
        gc_gemm_tier tier = t < 0 ? GC_GEMM_REFERENCE : tiers[t];
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            gemm_case g;
            const int64_t M = (int64_t)cases[c][0], N = (int64_t)cases[c][1], K = (int64_t)cases[c][2];
            case_make(&g, &r, 0, (int)cases[c][3], M, N, K > 0 ? K : 1, 3, cases[c][4], c & 1 ? 0.5f : 0.0f);
            g.K = K;
            for (int64_t p = 0; p < K; p++) {
                if (M > 2) g.A[2 * g.lda + p] = 0.0f;                           /* row 2: +-0 */
                for (int64_t i = 0; i < M; i++) g.A[i * g.lda + p] *= 8.0f; /* past the clamps */
                g.B[g.tb ? 3 * g.ldb + p : p * g.ldb + 3] = NAN;                /* column 3 NaN */
            }
            if (K > 0) g.B[g.tb ? 5 * g.ldb : 5] = INFINITY; /* column 5 +-inf (NaN on row 2) */
            const size_t np = gc_gemm_pack_a_size(tier, M, K > 0 ? K : 1), nc = (size_t)(M * g.ldc);
            const size_t ws = gc_gemm_workspace(tier, M, N, K, 2);
            float *pa = malloc(np * sizeof(float)), *w = ws ? malloc(ws * sizeof(float)) : NULL;
            float *C = malloc(nc * sizeof(float)), *U = malloc(nc * sizeof(float));
            float *bias = malloc((size_t)M * sizeof(float)), *res = malloc(nc * sizeof(float));
            gc_gemm_pack_a(tier, 0, M, K > 0 ? K : 1, g.A, g.lda, pa);
            for (int64_t i = 0; i < M; i++) bias[i] = 2.0f * gc_rng_uniform(&r) - 1.0f;
            for (size_t i = 0; i < nc; i++) res[i] = 8.0f * gc_rng_uniform(&r) - 4.0f; /* moves values past 0 */
            if (M > 1) res[g.ldc + 1] = NAN, res[g.ldc + 2] = -0.0f;
            for (int e = 0; e < 4; e++)
                for (int b = 0; b < 4; b++) { /* bit 0: bias, bit 1: a residual (a fused residual add) */
                    const int epi = (int)epis[e][0];
                    const float lo = epis[e][1], hi = epis[e][2];
                    const float *rs = b & 2 ? res : NULL;
                    memcpy(U, g.C0, nc * sizeof(float));
                    gc_gemm_prepacked(pool, tier, M, N, K, g.alpha, pa, g.tb, g.B, g.ldb, g.beta, U, g.ldc, w,
                                      b & 1 ? bias : NULL);
                    for (int64_t i = 0; rs && i < M; i++) /* the add layer's pass */
                        for (int64_t j = 0; j < N; j++) U[i * g.ldc + j] = U[i * g.ldc + j] + rs[i * g.ldc + j];
                    epi_pass(epi, lo, hi, U, M, N, g.ldc);
                    memcpy(C, g.C0, nc * sizeof(float));
                    gc_gemm_prepacked_epi(pool, tier, M, N, K, g.alpha, pa, g.tb, g.B, g.ldb, g.beta, C, g.ldc, w,
                                          b & 1 ? bias : NULL, rs, epi, lo, hi);
                    if (memcmp(C, U, nc * sizeof(float)) != 0 && fails++ < 4)
                        FAILF("%s: M=%lld N=%lld K=%lld epi %d [%g, %g] bias %d residual %d: the epilogue in the "
                              "stores differs from the separate passes", gc_gemm_tier_name(tier), (long long)M,
                              (long long)N, (long long)K, epi, lo, hi, b & 1, b >> 1);
                }
            /* the case has the special values the comparisons treat differently */
            if (M > 2 && K > 0 && g.alpha < 0 && !g.beta) {
                memcpy(C, g.C0, nc * sizeof(float));
                gc_gemm_prepacked(pool, tier, M, N, K, g.alpha, pa, g.tb, g.B, g.ldb, g.beta, C, g.ldc, w, NULL);
                CHECK(C[2 * g.ldc] == 0.0f && signbit(C[2 * g.ldc]) && isnan(C[3]) && isinf(C[5]));
                gc_gemm_prepacked_epi(pool, tier, M, N, K, g.alpha, pa, g.tb, g.B, g.ldb, g.beta, C, g.ldc, w, NULL,
                                      NULL, 1, 0.0f, 0.0f);
                CHECK(C[2 * g.ldc] == 0.0f && !signbit(C[2 * g.ldc]) && C[3] == 0.0f);
            }
            free(pa); free(w); free(C); free(U); free(bias); free(res);
            case_free(&g);
        }
    }
}

/* ---- by columns, each worker packing its own B (gc_gemm_prepacked_cols) ---- */

/* gc_gemm_prepacked_cols against gc_gemm_prepacked_epi bit for bit, on every tier, with 1, 2 and 3
 * threads and 1 to 3 slots (allocated at exactly the asked size, so ASan sees an overrun), strided
 * B and C, beta 0 (NaN C) and 0.5, with and without bias and epilogue; ResNet-50's 1x1 shapes
 * (K 64..512, N 784 and 3136 pixels), MobileNetV2's (K 16..256; up to GEMM_DIRECT_K, 1024, full panels
 * are read from B in place, a last partial one packed) and awkward ones (N < NR, one panel, K > KC, K
 * past the in-place limit, M < MR; chunks that end inside a panel's row blocks); every
 * thread and slot count without bias or epilogue, the options with 2 threads and 2 slots; without
 * slots it takes the other path. Also against the reference within the rounding bound (the
 * smaller cases). */
TEST(prepacked_cols_bits) {
    /* M, N, K */
    static const int64_t cases[][3] = {{64, 3136, 64}, {256, 784, 512}, {37, 100, 300}, {13, 29, 7},
                                       {100, 33, 513}, {2, 1000, 40}, {130, 1000, 300},
                                       /* K <= KC: full panels read from B in place (MobileNetV2's 1x1) */
                                       {144, 3136, 24}, {24, 3136, 144}, {32, 784, 192}, {96, 200, 16},
                                       {20, 1024, 256}, {48, 300, 1030},
                                       /* chunks split inside a panel's row blocks (ResNet-50's 14x14 1x1: 13 panels) */
                                       {256, 196, 1024}, {50, 196, 64}};
    static const float epis[][3] = {{0, 0, 0}, {1, 0, 0}, {2, 0.0f, 6.0f}};
    gc_pool *pool1 = NULL, *pool3 = NULL;
    CHECK_OK(gc_pool_create(1, &pool1));
    CHECK_OK(gc_pool_create(3, &pool3));
    gc_pool *pools[3] = {pool1, pool, pool3};
    gc_rng r;
    gc_rng_seed(&r, 11);
    int fails = 0;
    for (int t = 0; t < ntiers; t++) {
        const gc_gemm_tier tier = tiers[t];
        const size_t sf = gc_gemm_cols_slot_floats(tier);
        CHECK(sf >= (size_t)gc_gemm_blocks(tier).kc * (size_t)gc_gemm_blocks(tier).nr);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const int64_t M = cases[c][0], N = cases[c][1], K = cases[c][2];
            gemm_case g;
            case_make(&g, &r, 0, 0, M, N, K, c & 1 ? 5 : 0, 1.0f, c % 3 == 2 ? 0.5f : 0.0f);
            const size_t np = gc_gemm_pack_a_size(tier, M, K), nc = (size_t)(M * g.ldc);
            const size_t ws = gc_gemm_workspace(tier, M, N, K, 2);
            float *pa = malloc(np * sizeof(float)), *w = malloc((ws ? ws : 1) * sizeof(float));
            float *C = malloc(nc * sizeof(float)), *U = malloc(nc * sizeof(float));
            float *bias = malloc((size_t)M * sizeof(float)), *sl = malloc(3 * sf * sizeof(float));
            float *res = malloc(nc * sizeof(float));
            gc_gemm_pack_a(tier, 0, M, K, g.A, g.lda, pa);
            for (int64_t i = 0; i < M; i++) bias[i] = 2.0f * gc_rng_uniform(&r) - 1.0f;
            for (size_t i = 0; i < nc; i++) res[i] = 2.0f * gc_rng_uniform(&r) - 1.0f;
            for (int e = 0; e < 3; e++)
                for (int b = 0; b < 3; b++) { /* 1: bias, 2: bias and a residual */
                    const int epi = (int)epis[e][0];
                    const float lo = epis[e][1], hi = epis[e][2];
                    const float *rs = b == 2 ? res : NULL;
                    memcpy(U, g.C0, nc * sizeof(float));
                    gc_gemm_prepacked_epi(pool, tier, M, N, K, g.alpha, pa, 0, g.B, g.ldb, g.beta, U, g.ldc, w,
                                          b ? bias : NULL, rs, epi, lo, hi);
                    for (int th = 0; th < 3; th++)
                        for (int ns = 0; ns <= 3; ns++) {
                            if ((e || b) && !(th == 1 && ns == 2)) continue; /* the options on 2 threads, 2 slots */
                            /* slots n = ns at the end of the block (ns == 0: no slots) */
                            gc_slots s = {ns ? sl + (3 - ns) * sf : NULL, sf, ns};
                            memcpy(C, g.C0, nc * sizeof(float));
                            gc_gemm_prepacked_cols(pools[th], tier, M, N, K, g.alpha, pa, g.B, g.ldb, g.beta, C,
                                                   g.ldc, w, s, b ? bias : NULL, rs, epi, lo, hi);
                            if (memcmp(C, U, nc * sizeof(float)) != 0 && fails++ < 4)
                                FAILF("%s: M=%lld N=%lld K=%lld epi %d bias/residual %d, %d threads, %d slots: by "
                                      "columns differs from gc_gemm_prepacked_epi", gc_gemm_tier_name(tier),
                                      (long long)M, (long long)N, (long long)K, epi, b, th + 1, ns);
                        }
                }
            if (M * N * K <= 20000000) { /* and the values: against the reference within the rounding bound */
                float *R = case_run(&g, GC_GEMM_REFERENCE);
                gc_slots s = {sl, sf, 2};
                memcpy(C, g.C0, nc * sizeof(float));
                gc_gemm_prepacked_cols(pool, tier, M, N, K, g.alpha, pa, g.B, g.ldb, g.beta, C, g.ldc, w, s, NULL,
                                       NULL, 0, 0.0f, 0.0f);
                CHECK(case_check(&g, tier, C, R));
                free(R);
            }
            free(pa); free(w); free(C); free(U); free(bias); free(sl); free(res);
            case_free(&g);
        }
    }
    gc_pool_free(pool1);
    gc_pool_free(pool3);
}

/* ---- by columns with a packing function: the lowered convolution matrix ---- */

typedef struct mat_src { const float *B; int64_t ldb; } mat_src;

/* The packing function of a plain matrix (the layout gc_gemm_pack_b_fn promises). */
static void pack_matrix(const void *ctx, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr, float *dst) {
    const mat_src *m = ctx;
    for (int64_t jp = 0; jp * nr < nb; jp++)
        for (int64_t p = 0; p < kb; p++)
            for (int jj = 0; jj < nr; jj++) {
                const int64_t j = jp * nr + jj;
                dst[(jp * kb + p) * nr + jj] = j < nb ? m->B[(p0 + p) * m->ldb + j0 + j] : 0.0f;
            }
}

/* gc_im2col_pack writes exactly gc_im2col_tile's values in the panel layout (strided, padded,
 * dilated, 1x1 stride 2, 7x7 stride 2, 17x17; chunks that start and end inside output rows and
 * panels, row blocks past the first; panels of 7, 16 and 32 pixels); and gc_gemm_prepacked_cols_fn multiplies what its packing function
 * writes with the bits of gc_gemm_prepacked_epi, or declines without slots. */
TEST(prepacked_cols_packing_function) {
    static const gc_conv_geom geoms[] = {
        {128, 56, 56, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1}, {5, 13, 11, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1},
        {3, 23, 21, 9, 8, 7, 7, 2, 2, 3, 3, 1, 1},     {6, 9, 10, 5, 5, 1, 1, 2, 2, 0, 0, 1, 1},
        {4, 12, 12, 8, 10, 3, 2, 1, 1, 0, 1, 2, 2},    {2, 20, 20, 4, 4, 17, 17, 1, 1, 0, 0, 1, 1}};
    static const int64_t chunks[][4] = {{0, 1, 0, 1}, {0, 9, 3, 29}, {1, 5, 30, 40}, {2, 256, 31, 64}};
    gc_rng r;
    gc_rng_seed(&r, 23);
    int fails = 0;
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++) {
        const gc_conv_geom *g = &geoms[gi];
        const int64_t K = g->C * g->KH * g->KW, P = g->OH * g->OW, nx = g->C * g->H * g->W;
        float *x = malloc((size_t)nx * sizeof(float)), *col = malloc((size_t)(K * P) * sizeof(float));
        float *want = malloc((size_t)(K * (P + 32)) * sizeof(float)), *got = malloc((size_t)(K * (P + 32)) * sizeof(float));
        fill(&r, x, nx);
        gc_im2col_tile(pool, g, x, 0, P, col, P);
        const gc_im2col_src src = {g, x};
        const mat_src ms = {col, P};
        for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++)
            for (int nr = 7; nr <= 32; nr = nr == 7 ? 16 : nr + 16) { /* 7: the few-pixels GEMM's panels */
                const int64_t p0 = chunks[ci][0] % K, j0 = chunks[ci][2] % P;
                int64_t kb = chunks[ci][1], nb = chunks[ci][3];
                if (kb > K - p0) kb = K - p0;
                if (nb > P - j0) nb = P - j0;
                const size_t n = (size_t)(((nb + nr - 1) / nr) * nr * kb);
                pack_matrix(&ms, p0, kb, j0, nb, nr, want);
                for (size_t i = 0; i < n; i++) got[i] = NAN;
                gc_im2col_pack(&src, p0, kb, j0, nb, nr, got);
                if (memcmp(got, want, n * sizeof(float)) != 0 && fails++ < 4)
                    FAILF("geometry %zu: gc_im2col_pack rows %lld+%lld pixels %lld+%lld nr %d differs from "
                          "gc_im2col_tile", gi, (long long)p0, (long long)kb, (long long)j0, (long long)nb, nr);
            }
        /* the whole product through the packing function, against the materialised matrix */
        for (int t = 0; t < ntiers; t++) {
            const gc_gemm_tier tier = tiers[t];
            const int64_t M = 19 + 7 * (int64_t)gi;
            const size_t sf = gc_gemm_cols_slot_floats(tier), np = gc_gemm_pack_a_size(tier, M, K);
            const size_t ws = gc_gemm_workspace(tier, M, P, K, 2);
            float *A = malloc((size_t)(M * K) * sizeof(float)), *pa = malloc(np * sizeof(float));
            float *w = malloc((ws ? ws : 1) * sizeof(float)), *sl = malloc(2 * sf * sizeof(float));
            float *C = malloc((size_t)(M * P) * sizeof(float)), *U = malloc((size_t)(M * P) * sizeof(float));
            float *bias = malloc((size_t)M * sizeof(float)), *res = malloc((size_t)(M * P) * sizeof(float));
            fill(&r, A, M * K);
            fill(&r, bias, M);
            fill(&r, res, M * P);
            gc_gemm_pack_a(tier, 0, M, K, A, K, pa);
            for (int rs = 0; rs < 2; rs++) { /* without and with a residual */
                for (int64_t i = 0; i < M * P; i++) C[i] = U[i] = NAN;
                gc_gemm_prepacked_epi(pool, tier, M, P, K, 1.0f, pa, 0, col, P, 0.0f, U, P, w, bias, rs ? res : NULL,
                                      1, 0.0f, 0.0f);
                CHECK(gc_gemm_prepacked_cols_fn(pool, tier, M, P, K, 1.0f, pa, gc_im2col_pack, &src, 0.0f, C, P,
                                                (gc_slots){sl, sf, 2}, bias, rs ? res : NULL, 1, 0.0f, 0.0f));
                if (memcmp(C, U, (size_t)(M * P) * sizeof(float)) != 0 && fails++ < 4)
                    FAILF("%s, geometry %zu, residual %d: the product through gc_im2col_pack differs from the one on "
                          "the im2col matrix", gc_gemm_tier_name(tier), gi, rs);
            }
            CHECK(!gc_gemm_prepacked_cols_fn(pool, tier, M, P, K, 1.0f, pa, gc_im2col_pack, &src, 0.0f, C, P,
                                             (gc_slots){0}, bias, NULL, 1, 0.0f, 0.0f));
            free(A); free(pa); free(w); free(sl); free(C); free(U); free(bias); free(res);
        }
        free(x); free(col); free(want); free(got);
    }
}

/* ---- micro-kernel edge panels ---- */

/* The AVX-512 driver kernel (_epi) computes only the rows of a last panel of m < 14 rows: the same
 * bits as the full 14-row kernel on the zero-padded panel, for every m, partial widths, beta 0
 * (C NaN: never read) and 0.5, with and without bias, K of 0, 1 and past a cache block, and with
 * the ReLU epilogue as the separate pass. */
TEST(avx512_edge_rows_bits) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX512)) { printf("  (no AVX-512 on this CPU: skipped)\n"); return; }
    enum { MR = 14, NR = 32, LDC = 40 };
    static const int64_t ks[] = {0, 1, 37, 300};
    gc_rng r;
    gc_rng_seed(&r, 17);
    int fails = 0;
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        const int64_t k = ks[ki];
        float *a = malloc((size_t)(k + 1) * MR * sizeof(float)), *b = malloc((size_t)(k + 1) * NR * sizeof(float));
        float C[MR * LDC], U[MR * LDC], C0[MR * LDC], bias[MR];
        fill(&r, b, k * NR);
        fill(&r, bias, MR);
        for (int m = 1; m <= MR; m++)
            for (int n = 1; n <= NR; n += n < 16 ? 15 : 8) /* 1, 16, 24, 32 */
                for (int v = 0; v < 4; v++) {
                    const float beta = v & 1 ? 0.5f : 0.0f;
                    const float *bi = v & 2 ? bias : NULL;
                    fill(&r, a, k * MR);
                    for (int64_t p = 0; p < k; p++) /* the panel's padding rows are zero */
                        for (int i = m; i < MR; i++) a[p * MR + i] = 0.0f;
                    for (int i = 0; i < MR * LDC; i++) C0[i] = beta == 0.0f ? NAN : 2.0f * gc_rng_uniform(&r) - 1.0f;
                    memcpy(U, C0, sizeof U);
                    gc_gemm_ukernel_avx512_14x32(k, a, b, U, LDC, 1.0f, beta, m, n, bi);
                    memcpy(C, C0, sizeof C);
                    gc_gemm_ukernel_avx512_14x32_epi(k, a, b, C, LDC, 1.0f, beta, m, n, bi, NULL, 0, 0.0f, 0.0f);
                    if (memcmp(C, U, sizeof C) != 0 && fails++ < 4)
                        FAILF("k=%lld m=%d n=%d beta %g bias %d: the %d-row panel differs from the full kernel's",
                              (long long)k, m, n, beta, bi != NULL, m);
                    epi_pass(1, 0.0f, 0.0f, U, m, n, LDC);
                    memcpy(C, C0, sizeof C);
                    gc_gemm_ukernel_avx512_14x32_epi(k, a, b, C, LDC, 1.0f, beta, m, n, bi, NULL, 1, 0.0f, 0.0f);
                    if (memcmp(C, U, sizeof C) != 0 && fails++ < 4)
                        FAILF("k=%lld m=%d n=%d beta %g bias %d: the %d-row panel's ReLU differs from the pass",
                              (long long)k, m, n, beta, bi != NULL, m);
                }
        free(a);
        free(b);
    }
}

/* ---- threads ---- */

TEST(one_two_three_threads_bit_identical) {
    /* M, N, K, trans_a, trans_b; M == 1 takes the unpacked row-vector paths */
    static const int64_t cases[][5] = {{257, 300, 300, 0, 0}, {700, 200, 513, 1, 0},
                                       {64, 3136, 27, 0, 1}, {1, 2100, 600, 0, 0},
                                       {1, 2100, 600, 0, 1}, {1, 2100, 600, 1, 1},
                                       {1500, 70, 520, 1, 1}};
    gc_pool *pool3 = NULL;
    CHECK_OK(gc_pool_create(3, &pool3));
    gc_rng r;
    gc_rng_seed(&r, 3);
    for (int t = 0; t < ntiers; t++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            gemm_case g;
            case_make(&g, &r, (int)cases[c][3], (int)cases[c][4], cases[c][0], cases[c][1],
                      cases[c][2], 1, 0.9f, c & 1 ? 0.5f : 0.0f);
            float *C1 = case_run_on(NULL, &g, tiers[t]);
            float *C2 = case_run_on(pool, &g, tiers[t]);
            float *C3 = case_run_on(pool3, &g, tiers[t]);
            if (memcmp(C1, C2, (size_t)(g.M * g.ldc) * sizeof(float)) != 0 ||
                memcmp(C1, C3, (size_t)(g.M * g.ldc) * sizeof(float)) != 0)
                FAILF("%s: 1, 2 and 3 threads differ at M=%lld N=%lld K=%lld", gc_gemm_tier_name(tiers[t]),
                      (long long)g.M, (long long)g.N, (long long)g.K);
            free(C1);
            free(C2);
            free(C3);
            case_free(&g);
        }
    gc_pool_free(pool3);
}

int main(void) {
    if (gc_pool_create(2, &pool)) { fprintf(stderr, "cannot start the thread pool: %s\n", gc_last_error()); return 1; }
    for (int t = GC_GEMM_PORTABLE; t < GC_GEMM_TIER_COUNT; t++)
        if (gc_gemm_tier_available((gc_gemm_tier)t)) tiers[ntiers++] = (gc_gemm_tier)t;
    printf("gemm tiers tested:");
    for (int t = 0; t < ntiers; t++) printf(" %s", gc_gemm_tier_name(tiers[t]));
    printf(" (vs reference)\n");
    RUN(reference_hand_computed);
    RUN(tier_dispatch);
    RUN(small_sizes_all_combinations);
    RUN(large_awkward_sizes);
    RUN(k_zero_and_alpha_zero_scale_c);
    RUN(prepacked_a_matches);
    RUN(prepacked_epilogue_bits);
    RUN(prepacked_cols_bits);
    RUN(prepacked_cols_packing_function);
    RUN(avx512_edge_rows_bits);
    RUN(one_two_three_threads_bit_identical);
    gc_pool_free(pool);
    return test_summary("gemm");
}
