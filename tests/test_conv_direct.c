/* test_conv_direct.c - the stride-1 direct convolution kernel (gc_dconv_run, conv_direct*.c)
 * against naive loops written here from the definition, for every tier this CPU runs:
 * odd channel counts (not multiples of MR or of the K block), images narrower than a
 * micro-panel, dilation, asymmetric padding, padding beyond the kernel's reach, both
 * schedules (rows split for small filters, weight panels split for large ones), the flipped
 * form used for input gradients, and the same bits for 1, 2 and 3 threads; the
 * channel-vectorised form gives gc_dconv_run's bits. Outputs start as NaN: every one must be
 * written. Tolerance: |fast - ref| <= 1e-6 x terms per output (inputs and weights in [-1, 1];
 * float accumulation against the reference's double). */
#include "test.h"
#include "core/core.h"
#include "kernels/conv.h"
#include "gradcam.h"

static gc_rng rng;

static void fill(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * gc_rng_uniform(&rng) - 1.0f;
}

/* y[o, i, j] = b[o] + sum_{c,u,v} W(o, c, u, v) x[c, i - PH + u*DH, j - PW + v*DW], with
 * W = w[o, c, u, v], or w[c, o, KH-1-u, KW-1-v] when flipped. */
static void ref_conv(const gc_dconv *p, const float *x, const float *w, const float *b, float *y) {
    for (int64_t o = 0; o < p->Co; o++)
        for (int64_t i = 0; i < p->OH; i++)
            for (int64_t j = 0; j < p->OW; j++) {
                double s = b ? b[o] : 0.0;
                for (int64_t c = 0; c < p->Ci; c++)
                    for (int64_t u = 0; u < p->KH; u++)
                        for (int64_t v = 0; v < p->KW; v++) {
                            const int64_t ih = i - p->PH + u * p->DH, iw = j - p->PW + v * p->DW;
                            if (ih < 0 || ih >= p->H || iw < 0 || iw >= p->W) continue;
                            const float wv = p->flip ? w[((c * p->Co + o) * p->KH + p->KH - 1 - u) * p->KW + p->KW - 1 - v]
                                                     : w[((o * p->Ci + c) * p->KH + u) * p->KW + v];
                            s += (double)wv * x[(c * p->H + ih) * p->W + iw];
                        }
                y[(o * p->OH + i) * p->OW + j] = (float)s;
            }
}

static const gc_gemm_tier tiers[] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};

typedef struct dcase { int64_t ci, h, w, co, kh, kw, ph, pw, dh, dw; int flip, bias; } dcase;

/* Runs one case on every available tier (and thread counts 1-3 on the best one). */
static void run_case(const dcase *k) {
    gc_dconv p = {k->ci, k->h, k->w, k->co, 0, 0, k->kh, k->kw, k->ph, k->pw, k->dh, k->dw, k->flip, 1, 1, {0}};
    p.OH = k->h + 2 * k->ph - k->dh * (k->kh - 1);
    p.OW = k->w + 2 * k->pw - k->dw * (k->kw - 1);
    char what[128];
    snprintf(what, sizeof what, "%lldx%lldx%lld -> %lld, %lldx%lld pad %lld,%lld dil %lld,%lld%s",
             (long long)k->ci, (long long)k->h, (long long)k->w, (long long)k->co, (long long)k->kh,
             (long long)k->kw, (long long)k->ph, (long long)k->pw, (long long)k->dh, (long long)k->dw,
             k->flip ? " flipped" : "");
    const int64_t nx = k->ci * k->h * k->w, nw = k->ci * k->co * k->kh * k->kw, ny = k->co * p.OH * p.OW;
    const size_t nws = gc_dconv_workspace(&p);
    float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)k->co * 4);
    float *yr = malloc((size_t)ny * 4), *y = malloc((size_t)ny * 4), *y1 = malloc((size_t)ny * 4);
    float *ws = nws == SIZE_MAX ? NULL : gc_alloc_array(nws, sizeof(float));
    if (!x || !w || !b || !yr || !y || !y1 || !ws) { FAILF("%s: no memory", what); goto done; }
    fill(x, nx); fill(w, nw); fill(b, k->co);
    ref_conv(&p, x, w, k->bias ? b : NULL, yr);
    const double terms = (double)(k->ci * k->kh * k->kw + 1);
    for (size_t t = 0; t < sizeof tiers / sizeof tiers[0]; t++) {
        if (!gc_gemm_tier_available(tiers[t])) continue;
        for (int64_t i = 0; i < ny; i++) y[i] = NAN;
        gc_dconv_run(NULL, tiers[t], &p, x, w, k->bias ? b : NULL, y, ws);
        double e = 0;
        for (int64_t i = 0; i < ny; i++) {
            const double d = fabs((double)y[i] - yr[i]);
            if (!(d <= e)) e = d;
        }
        if (getenv("GC_TEST_VERBOSE")) printf("  %-52s %-8s %.1e\n", what, gc_gemm_tier_name(tiers[t]), e / terms);
        if (!(e <= 1e-6 * terms)) FAILF("%s %s: max error %g > %g", what, gc_gemm_tier_name(tiers[t]), e, 1e-6 * terms);
    }
    for (int nt = 1; nt <= 3; nt++) {   /* the best tier: same bits for 1, 2, 3 threads */
        gc_pool *pl = NULL;
        if (gc_pool_create(nt, &pl)) { FAILF("%s: no thread pool", what); break; }
        for (int64_t i = 0; i < ny; i++) y1[i] = NAN;
        gc_dconv_run(pl, GC_GEMM_AUTO, &p, x, w, k->bias ? b : NULL, y1, ws);
        gc_pool_free(pl);
        if (nt == 1) memcpy(y, y1, (size_t)ny * 4);
        else if (memcmp(y, y1, (size_t)ny * 4)) FAILF("%s: %d threads differ from 1", what, nt);
    }
done:
    free(x); free(w); free(b); free(yr); free(y); free(y1); gc_free(ws);
}

/* Small filters: threads split output rows into padded bands. */
TEST(rows_schedule) {
    const dcase cs[] = {
        {3, 30, 31, 5, 3, 3, 1, 1, 1, 1, 0, 1},      /* RGB-like first layer, Co < MR */
        {7, 13, 50, 9, 3, 3, 1, 1, 1, 1, 0, 1},      /* rows wider than a panel */
        {5, 9, 4, 17, 3, 3, 1, 1, 1, 1, 0, 0},       /* a panel spans many rows */
        {6, 11, 12, 10, 5, 5, 2, 2, 1, 1, 0, 1},     /* AlexNet conv2 shape, scaled down */
        {4, 12, 10, 6, 3, 2, 0, 1, 2, 3, 0, 1},      /* asymmetric kernel, dilation */
        {2, 7, 9, 3, 1, 1, 0, 0, 1, 1, 0, 1},        /* 1x1 */
        {33, 8, 8, 11, 3, 3, 1, 1, 1, 1, 0, 1},      /* C not a multiple of the K block */
        {1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 0, 1},        /* 1x1 image */
        {3, 200, 5, 4, 3, 3, 1, 1, 1, 1, 0, 1},      /* several bands per thread */
        {3, 6, 7, 4, 1, 1, 1, 1, 1, 1, 0, 1},        /* padding wider than the kernel: rows keep two borders */
        {4, 7, 8, 5, 3, 3, 3, 3, 1, 1, 0, 1},        /* the same for 3x3 */
        {3, 9, 10, 4, 3, 3, 4, 4, 2, 2, 0, 1},       /* padding = the dilated kernel's reach: shared borders */
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) run_case(&cs[i]);
}

/* Large filters (weights > 2^18 floats) or very wide images: threads split the weight
 * panels over one shared padded input. */
TEST(panels_schedule) {
    const dcase cs[] = {
        {130, 14, 14, 229, 3, 3, 1, 1, 1, 1, 0, 1},  /* VGG conv5-like, Co not a multiple of MR */
        {300, 5, 7, 100, 3, 3, 1, 1, 1, 1, 0, 0},
        {64, 9, 9, 90, 7, 7, 3, 3, 1, 1, 0, 1},
        {8, 3, 6000, 4, 3, 3, 1, 1, 1, 1, 0, 1},     /* small filter, but no 1-row band fits */
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) run_case(&cs[i]);
}

/* The input-gradient form: flipped taps, weights (Ci, Co, KH, KW). */
TEST(flipped_weights) {
    const dcase cs[] = {
        {9, 12, 13, 7, 3, 3, 1, 1, 1, 1, 1, 0},
        {5, 10, 9, 4, 5, 3, 4, 2, 1, 1, 1, 0},       /* padding (K-1)*D - P of a 5x3 layer */
        {260, 6, 6, 130, 3, 3, 2, 2, 1, 1, 1, 0},    /* panels schedule */
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) run_case(&cs[i]);
}

/* The AVX-512 kernel's 32- and 16-lane forms (a band's last pixels) give the 48-lane
 * kernel's bits on their lanes: packed and row weights, partial rows (m < MR), bias, and
 * adding to partial sums (load). */
TEST(avx512_narrow_forms) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX512)) { printf("  (no AVX-512 on this CPU: skipped)\n"); return; }
    enum { K = 37, MR = 8, LD = 64 };
    float a[MR * K], b[K + 48 + 8], y0[MR * LD], y1[MR * LD], bias[MR];
    int64_t off[K];
    fill(a, MR * K); fill(b, K + 56); fill(bias, MR);
    for (int p = 0; p < K; p++) off[p] = (p * 7) % (K + 8);
    gc_dc_ukernel forms[2] = {gc_dconv_ukernel_avx512_8x16, gc_dconv_ukernel_avx512_8x32};
    for (int nv = 1; nv <= 2; nv++)
        for (int variant = 0; variant < 4; variant++) {
            const int lanes = nv == 1 ? 13 : 29, m = variant == 3 ? 5 : MR, load = variant == 2;
            const int64_t rs = variant == 1 ? 1 : K, ks = variant == 1 ? MR : 1;
            gc_dc_map map = {2, {0, 3}, {((uint64_t)1 << 7) - 1, (((uint64_t)1 << lanes) - 1) & ~(((uint64_t)1 << 7) - 1)}};
            fill(y0, MR * LD);
            memcpy(y1, y0, sizeof y0);
            gc_dconv_ukernel_avx512_8x48(K, a, rs, ks, b, off, y0, LD, &map, m, load, variant == 0 ? bias : NULL);
            forms[nv - 1](K, a, rs, ks, b, off, y1, LD, &map, m, load, variant == 0 ? bias : NULL);
            if (memcmp(y0, y1, sizeof y0)) FAILF("8x%d form, variant %d: differs from the 8x48 kernel", 16 * nv, variant);
        }
}

/* The channel-vectorised form (gc_dconv_run_packed) gives gc_dconv_run's bits on 1-3 threads:
 * two K blocks, rows of one to three pixel tiles, a last channel block of fewer than 32,
 * dilation, no bias; and a session's conv2d (weights prepared once) gives them too. */
TEST(channel_form_same_bits) {
    if (!gc_gemm_tier_available(GC_GEMM_AVX512)) { printf("  (no AVX-512 on this CPU: skipped)\n"); return; }
    const dcase cs[] = {
        {16, 15, 15, 64, 5, 5, 2, 2, 1, 1, 0, 1},    /* AlexNet conv2's form, scaled: 2 K blocks, 2 tiles */
        {8, 9, 9, 32, 3, 3, 1, 1, 1, 1, 0, 1},       /* one tile of 9 */
        {6, 13, 13, 60, 3, 3, 1, 1, 1, 1, 0, 1},     /* 28 channels in the last block */
        {5, 12, 12, 32, 3, 3, 2, 2, 2, 2, 0, 0},     /* dilation 2, no bias */
        {4, 30, 30, 32, 3, 3, 1, 1, 1, 1, 0, 1},     /* three tiles a row */
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        const dcase *k = &cs[ci];
        gc_dconv p = {k->ci, k->h, k->w, k->co, 0, 0, k->kh, k->kw, k->ph, k->pw, k->dh, k->dw, 0, 1, 1, {0}};
        p.OH = k->h + 2 * k->ph - k->dh * (k->kh - 1);
        p.OW = k->w + 2 * k->pw - k->dw * (k->kw - 1);
        const size_t np = gc_dconv_chan_floats(GC_GEMM_AVX512, &p);
        if (!np) { FAILF("case %zu: the channel form does not apply", ci); continue; }
        const int64_t nx = k->ci * k->h * k->w, nw = k->ci * k->co * k->kh * k->kw, ny = k->co * p.OH * p.OW;
        float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)k->co * 4);
        float *y0 = malloc((size_t)ny * 4), *y1 = malloc((size_t)ny * 4);
        float *ws = gc_alloc_array(gc_dconv_workspace(&p), sizeof(float)), *pk = gc_alloc_array(np, sizeof(float));
        fill(x, nx); fill(w, nw); fill(b, k->co);
        gc_dconv_run(NULL, GC_GEMM_AVX512, &p, x, w, k->bias ? b : NULL, y0, ws);
        gc_dconv_chan_pack(&p, w, pk);
        for (int nt = 1; nt <= 3; nt++) {
            gc_pool *pl = NULL;
            if (gc_pool_create(nt, &pl)) { FAILF("no thread pool"); break; }
            for (int with_slots = 0; with_slots < 2; with_slots++) { /* each worker's own padded input */
                const size_t st = (gc_dconv_slot_floats(&p) + 15) & ~(size_t)15;
                float *sl = with_slots ? gc_alloc_array(st * (size_t)nt + 1, sizeof(float)) : NULL;
                p.slots = (gc_slots){sl, st, nt};
                for (int64_t i = 0; i < ny; i++) y1[i] = NAN;
                gc_dconv_run_packed(pl, GC_GEMM_AVX512, &p, x, w, pk, k->bias ? b : NULL, y1, ws);
                if (memcmp(y0, y1, (size_t)ny * 4))
                    FAILF("case %zu, %d threads%s: differs from gc_dconv_run", ci, nt, with_slots ? ", slots" : "");
                gc_free(sl);
                p.slots = (gc_slots){0};
            }
            gc_pool_free(pl);
        }
        free(x); free(w); free(b); free(y0); free(y1); gc_free(ws); gc_free(pk);
    }
    /* a session: AlexNet's conv2 shape at full size, prepared weights */
    gc_model *m = NULL;
    gc_conv2d_params c = gc_conv2d_defaults(64, 192, 5);
    c.pad_h = c.pad_w = 2;
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "conv", NULL, &c, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 7));
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 64, .height = 27, .width = 27, .threads = 2};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_dconv p = {64, 27, 27, 192, 27, 27, 5, 5, 2, 2, 1, 1, 0, 1, 1, {0}};
    const int64_t nx = 64 * 27 * 27, ny = 192 * 27 * 27;
    float *x = malloc((size_t)nx * 4), *y0 = malloc((size_t)ny * 4);
    float *ws = gc_alloc_array(gc_dconv_workspace(&p), sizeof(float));
    gc_tensor wt, bt, y;
    fill(x, nx);
    if (s && !gc_session_forward(s, x) && !gc_session_activation(s, "conv", &y) &&
        !gc_model_param(m, "conv.weight", &wt) && !gc_model_param(m, "conv.bias", &bt)) {
        gc_dconv_run(NULL, GC_GEMM_AVX512, &p, x, wt.data, bt.data, y0, ws);
        CHECK(gc_dconv_chan_floats(GC_GEMM_AVX512, &p) > 0);
        CHECK(memcmp(y0, y.data, (size_t)ny * 4) == 0);
    } else
        FAILF("session: %s", gc_last_error());
    gc_session_free(s);
    gc_model_free(m);
    free(x); free(y0); gc_free(ws);
}

/* The channel form at strides above 1 (AlexNet's 11x11/4 conv1, a 7x7/2 stem, 2x3 strides with
 * dilation) against naive loops, and the same bits on 1-3 threads; AVX2's and AVX-512's. */
TEST(channel_form_strided) {
    static const gc_gemm_tier tiers[] = {GC_GEMM_AVX2, GC_GEMM_AVX512}; /* the tiers with the form */
    for (size_t ti = 0; ti < 2; ti++) {
    const gc_gemm_tier tier = tiers[ti];
    if (!gc_gemm_tier_available(tier)) { printf("  (no %s on this CPU: skipped)\n", gc_gemm_tier_name(tier)); continue; }
    typedef struct { int64_t ci, h, w, co, kh, kw, ph, pw, dh, dw, sh, sw; int bias; } scase;
    const scase cs[] = {
        {3, 39, 41, 40, 11, 11, 2, 2, 1, 1, 4, 4, 1},
        {3, 22, 20, 64, 7, 7, 3, 3, 1, 1, 2, 2, 1},
        {5, 17, 23, 33, 3, 5, 1, 2, 2, 1, 2, 3, 0},
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        const scase *k = &cs[ci];
        gc_dconv p = {k->ci, k->h, k->w, k->co, 0, 0, k->kh, k->kw, k->ph, k->pw, k->dh, k->dw, 0, k->sh, k->sw, {0}};
        p.OH = (k->h + 2 * k->ph - k->dh * (k->kh - 1) - 1) / k->sh + 1;
        p.OW = (k->w + 2 * k->pw - k->dw * (k->kw - 1) - 1) / k->sw + 1;
        const size_t np = gc_dconv_chan_floats(tier, &p);
        if (!np) { FAILF("%s strided case %zu: the channel form does not apply", gc_gemm_tier_name(tier), ci); continue; }
        const int64_t nx = k->ci * k->h * k->w, nw = k->ci * k->co * k->kh * k->kw, ny = k->co * p.OH * p.OW;
        float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)k->co * 4);
        float *y0 = malloc((size_t)ny * 4), *y1 = malloc((size_t)ny * 4), *yr = malloc((size_t)ny * 4);
        float *ws = gc_alloc_array(gc_dconv_workspace(&p), sizeof(float)), *pk = gc_alloc_array(np, sizeof(float));
        fill(x, nx); fill(w, nw); fill(b, k->co);
        for (int64_t o = 0; o < k->co; o++) /* naive loops, in double */
            for (int64_t i = 0; i < p.OH; i++)
                for (int64_t j = 0; j < p.OW; j++) {
                    double sum = k->bias ? b[o] : 0.0;
                    for (int64_t c = 0; c < k->ci; c++)
                        for (int64_t u = 0; u < k->kh; u++)
                            for (int64_t v = 0; v < k->kw; v++) {
                                const int64_t ih = i * k->sh - k->ph + u * k->dh, iw = j * k->sw - k->pw + v * k->dw;
                                if (ih >= 0 && ih < k->h && iw >= 0 && iw < k->w)
                                    sum += (double)w[((o * k->ci + c) * k->kh + u) * k->kw + v] * x[(c * k->h + ih) * k->w + iw];
                            }
                    yr[(o * p.OH + i) * p.OW + j] = (float)sum;
                }
        gc_dconv_chan_pack(&p, w, pk);
        const double terms = (double)(k->ci * k->kh * k->kw + 1);
        for (int nt = 1; nt <= 3; nt++) {
            gc_pool *pl = NULL;
            if (gc_pool_create(nt, &pl)) { FAILF("no thread pool"); break; }
            for (int64_t i = 0; i < ny; i++) y1[i] = NAN;
            gc_dconv_run_packed(pl, tier, &p, x, w, pk, k->bias ? b : NULL, y1, ws);
            if (nt > 1) { /* the same bits with each worker's own padded input */
                const size_t st = (gc_dconv_slot_floats(&p) + 15) & ~(size_t)15;
                float *sl = gc_alloc_array(st * (size_t)nt + 1, sizeof(float)), *y2 = malloc((size_t)ny * 4);
                p.slots = (gc_slots){sl, st, nt};
                for (int64_t i = 0; i < ny; i++) y2[i] = NAN;
                gc_dconv_run_packed(pl, tier, &p, x, w, pk, k->bias ? b : NULL, y2, ws);
                if (memcmp(y1, y2, (size_t)ny * 4)) FAILF("strided case %zu, %d threads: slots change the bits", ci, nt);
                p.slots = (gc_slots){0};
                gc_free(sl);
                free(y2);
            }
            gc_pool_free(pl);
            if (nt == 1) {
                memcpy(y0, y1, (size_t)ny * 4);
                double e = 0;
                for (int64_t i = 0; i < ny; i++) {
                    const double d = fabs((double)y1[i] - yr[i]);
                    if (!(d <= e)) e = d;
                }
                if (!(e <= 1e-6 * terms)) FAILF("%s strided case %zu: max error %g > %g", gc_gemm_tier_name(tier), ci, e, 1e-6 * terms);
            } else if (memcmp(y0, y1, (size_t)ny * 4)) FAILF("strided case %zu: %d threads differ from 1", ci, nt);
        }
        free(x); free(w); free(b); free(y0); free(y1); free(yr); gc_free(ws); gc_free(pk);
    }
    }
}

/* gc_session_config.no_winograd: a 3x3 layer that would run Winograd runs direct instead,
 * closer to the reference (plain rounding) than Winograd's result. */
TEST(session_no_winograd) {
    gc_model *m = NULL;
    gc_conv2d_params c = gc_conv2d_defaults(16, 24, 3);
    c.pad_h = c.pad_w = 1;
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "conv", NULL, &c, NULL, NULL));
    CHECK_OK(gc_model_init_random(m, 5));
    const int64_t nx = 16 * 40 * 36;
    float *x = malloc((size_t)nx * sizeof(float));
    fill(x, nx);
    gc_tensor y[3];
    gc_session *s[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {   /* reference, Winograd, direct */
        gc_session_config cfg = {.batch = 1, .channels = 16, .height = 40, .width = 36,
                                 .kernels = i ? GC_KERNELS_AUTO : GC_KERNELS_REFERENCE, .no_winograd = i == 2};
        CHECK_OK(gc_session_create(m, &cfg, &s[i]));
        if (!s[i]) goto done;
        CHECK_OK(gc_session_forward(s[i], x));
        CHECK_OK(gc_session_activation(s[i], "conv", &y[i]));
    }
    const int64_t ny = 24 * 40 * 36;
    double e_wino = 0, e_direct = 0;
    for (int64_t i = 0; i < ny; i++) {
        const double ew = fabs((double)y[1].data[i] - y[0].data[i]), ed = fabs((double)y[2].data[i] - y[0].data[i]);
        if (!(ew <= e_wino)) e_wino = ew;
        if (!(ed <= e_direct)) e_direct = ed;
    }
    if (getenv("GC_TEST_VERBOSE")) printf("  max error: Winograd %.2e, direct %.2e\n", e_wino, e_direct);
    CHECK(e_direct <= 1e-6 * 145);
    CHECK(e_wino <= 5e-6 * 145);
    CHECK(e_direct < e_wino);   /* a different, more exact path ran */
done:
    for (int i = 0; i < 3; i++) gc_session_free(s[i]);
    gc_model_free(m);
    free(x);
}

int main(void) {
    gc_rng_seed(&rng, 11);
    RUN(rows_schedule);
    RUN(panels_schedule);
    RUN(flipped_weights);
    RUN(avx512_narrow_forms);
    RUN(channel_form_same_bits);
    RUN(channel_form_strided);
    RUN(session_no_winograd);
    return test_summary("conv_direct");
}
