/* test_relu_fast.c - the vector ReLU kernels (AVX2, AVX-512) and the fast
 * max-pool path give the reference loops' bits: outputs, masks / argmax and
 * backward, with NaN, signed zeros, infinities, ties and awkward sizes. */
#include "test.h"
#include "core/core.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "layers/layer.h"

static const gc_kernels tiers[] = {GC_KERNELS_PORTABLE, GC_KERNELS_AVX2, GC_KERNELS_AVX512};

static void fill_awkward(float *v, int64_t n, gc_rng *r) {
    const float special[] = {0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f};
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = gc_rng_next(r) % 16;
        v[i] = k < 8 ? special[k] : gc_rng_normal(r);
    }
}

/* Runs forward, then backward in `mode`, with the given tier. */
static void run(gc_kernels tier, int mode, int64_t n, const float *x, const float *dy, float *y, uint64_t *mask,
                float *dx) {
    const gc_layer_ops *ops = gc_layer_ops_of(GC_LAYER_RELU);
    gc_layer l;
    memset(&l, 0, sizeof l);
    l.kind = GC_LAYER_RELU;
    gc_shape s = {2, {1, n, 1, 1}};
    gc_layer_ctx c;
    memset(&c, 0, sizeof c);
    c.layer = &l, c.in = s, c.out = s, c.x = x, c.y = y, c.state = mask, c.dy = dy, c.dx = dx;
    c.kernels = tier, c.relu_mode = (gc_relu_mode)mode;
    ops->forward(&c);
    ops->backward(&c);
}

TEST(every_tier_matches_the_reference_bits) {
    const int64_t sizes[] = {1, 15, 16, 17, 63, 64, 65, 100, 1000, 4097, 300001};
    gc_rng rng;
    gc_rng_seed(&rng, 5);
    int tested = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int64_t n = sizes[si], words = (n + 63) / 64;
        float *x = gc_alloc_array((size_t)n, 4), *dy = gc_alloc_array((size_t)n, 4);
        float *y0 = gc_alloc_array((size_t)n, 4), *y1 = gc_alloc_array((size_t)n, 4);
        float *d0 = gc_alloc_array((size_t)n, 4), *d1 = gc_alloc_array((size_t)n, 4);
        uint64_t *m0 = gc_alloc_array((size_t)words, 8), *m1 = gc_alloc_array((size_t)words, 8);
        fill_awkward(x, n, &rng);
        fill_awkward(dy, n, &rng);
        for (int mode = 0; mode < 3; mode++) {
            run(GC_KERNELS_REFERENCE, mode, n, x, dy, y0, m0, d0);
            for (size_t t = 0; t < sizeof tiers / sizeof *tiers; t++) {
                if (!gc_gemm_tier_available((gc_gemm_tier)tiers[t])) continue;
                memset(y1, 0xff, (size_t)n * 4); /* NaN: every output must be written */
                memset(d1, 0xff, (size_t)n * 4);
                run(tiers[t], mode, n, x, dy, y1, m1, d1);
                tested++;
                if (memcmp(y0, y1, (size_t)n * 4) || memcmp(m0, m1, (size_t)words * 8) || memcmp(d0, d1, (size_t)n * 4))
                    FAILF("tier %s, mode %d, n %lld: differs from the reference", gc_gemm_tier_name((gc_gemm_tier)tiers[t]),
                          mode, (long long)n);
            }
        }
        gc_free(x); gc_free(dy); gc_free(y0); gc_free(y1); gc_free(d0); gc_free(d1); gc_free(m0); gc_free(m1);
    }
    CHECK(tested >= (int)(sizeof sizes / sizeof *sizes) * 3);
}

/* The reference itself against the rule table, elementwise. */
TEST(reference_follows_the_rules) {
    const float x[6] = {1.0f, -1.0f, 0.0f, NAN, 2.0f, -0.0f}, dy[6] = {0.5f, 0.5f, 0.5f, 0.5f, -0.5f, NAN};
    float y[6], dx[6];
    uint64_t mask[1];
    const float expect[3][6] = {{0.5f, 0, 0, 0, -0.5f, 0}, {0.5f, 0, 0, 0, 0, 0}, {0.5f, 0.5f, 0.5f, 0.5f, 0, 0}};
    for (int mode = 0; mode < 3; mode++) {
        run(GC_KERNELS_REFERENCE, mode, 6, x, dy, y, mask, dx);
        CHECK(y[0] == 1.0f && y[1] == 0.0f && y[3] == 0.0f && y[4] == 2.0f && !signbit(y[5]));
        CHECK(mask[0] == 0x11u); /* bits 0 and 4 */
        for (int i = 0; i < 6; i++)
            if (!(dx[i] == expect[mode][i])) FAILF("mode %d element %d: %g, expected %g", mode, i, dx[i], expect[mode][i]);
    }
}

/* Max-pool's row kernels (2x2/2 and 3x3/2, every tier) vs the reference tier: outputs,
 * winners and input gradients bit for bit. Values from a small set, so ties and NaNs are
 * common; sizes that leave partial vectors (AlexNet's 55, 27, 13 among them). */
TEST(maxpool_fast_path_matches_the_reference) {
    const gc_layer_ops *ops = gc_layer_ops_of(GC_LAYER_MAXPOOL2D);
    const int64_t sizes[][2] = {{8, 8}, {7, 9}, {224, 224}, {5, 2}, {2, 3}, {13, 13}, {55, 55}, {27, 27}, {3, 67}, {9, 34}};
    gc_rng rng;
    gc_rng_seed(&rng, 9);
    const float pool_vals[] = {1.0f, 2.0f, 2.0f, -1.0f, NAN, -0.0f, 0.0f, 3.0f};
    int cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int variant = 0; variant < 7; variant++) {
            gc_layer l;
            memset(&l, 0, sizeof l);
            l.kind = GC_LAYER_MAXPOOL2D;
            l.p.pool = gc_pool2d_defaults(variant < 4 ? 2 : 3);
            if (variant == 1 || variant == 5) l.p.pool.ceil_mode = 1;
            if (variant == 2 || variant == 6) l.p.pool.pad_h = l.p.pool.pad_w = 1;
            if (variant == 3) l.p.pool.stride_h = 1; /* rows overlap, columns stride 2 */
            if (variant >= 4) l.p.pool.stride_h = l.p.pool.stride_w = 2;
            gc_shape in = {4, {2, 3, sizes[si][0], sizes[si][1]}}, out;
            if (ops->check_params(&l) || ops->infer(&l, &in, &out)) continue;
            int64_t n = gc_shape_numel(&in), m = gc_shape_numel(&out);
            size_t sb = ops->state_bytes(&l, &in, &out);
            float *x = gc_alloc_array((size_t)n, 4), *dy = gc_alloc_array((size_t)m, 4);
            float *y[2] = {gc_alloc_array((size_t)m, 4), gc_alloc_array((size_t)m, 4)};
            float *dx[2] = {gc_alloc_array((size_t)n, 4), gc_alloc_array((size_t)n, 4)};
            void *st[2] = {gc_alloc(sb), gc_alloc(sb)};
            for (int64_t i = 0; i < n; i++) x[i] = pool_vals[gc_rng_next(&rng) % 8];
            for (int64_t i = 0; i < m; i++) dy[i] = i % 7 == 3 ? -0.0f : gc_rng_normal(&rng); /* -0: dx gets 0 + dy */
            for (int k = 0; k < 4; k++) {
                const gc_kernels tier = k ? tiers[k - 1] : GC_KERNELS_REFERENCE;
                if (!gc_gemm_tier_available((gc_gemm_tier)tier)) continue;
                gc_layer_ctx c;
                memset(&c, 0, sizeof c);
                float *yk = y[k > 0], *dxk = dx[k > 0];
                memset(yk, 0xff, (size_t)m * 4); /* NaN: every output must be written */
                memset(dxk, 0xff, (size_t)n * 4);
                memset(st[k > 0], 0x55, sb);
                c.layer = &l, c.in = in, c.out = out, c.x = x, c.y = yk, c.state = st[k > 0], c.dy = dy, c.dx = dxk;
                c.kernels = tier;
                ops->forward(&c);
                ops->backward(&c);
                if (!k) continue;
                cases++;
                if (memcmp(y[0], y[1], (size_t)m * 4) || memcmp(st[0], st[1], sb) || memcmp(dx[0], dx[1], (size_t)n * 4))
                    FAILF("maxpool %lldx%lld variant %d, tier %s: differs from the reference", (long long)sizes[si][0],
                          (long long)sizes[si][1], variant, gc_gemm_tier_name((gc_gemm_tier)tier));
            }
            gc_free(x); gc_free(dy); gc_free(y[0]); gc_free(y[1]); gc_free(dx[0]); gc_free(dx[1]);
            gc_free(st[0]); gc_free(st[1]);
        }
    CHECK(cases >= 100);
}

/* Global average pooling's four-plane sums (AVX-512, AVX2) give gc_sum_f64's bits plane by
 * plane: every length 0..70 and a few long ones, awkward values (NaN, signed zeros,
 * infinities; a NaN sum is a NaN, its sign whatever the compiler's order of the operands
 * gives), values of far apart magnitudes (sums in another order round otherwise). */
static void sum4_case(gc_gemm_tier tier) {
    if (!gc_gemm_tier_available(tier)) return;
    gc_rng r;
    gc_rng_seed(&r, 7);
    const int64_t ld = 12555;
    float *x = malloc((size_t)(4 * ld) * sizeof(float));
    if (!x) { FAILF("out of memory"); return; }
    for (int64_t k = 0; k < 4 * ld; k++) x[k] = gc_rng_normal(&r) * 100.0f;
    for (int64_t n = 0; n <= 12544; n += n < 70 ? 1 : 3125) {
        for (int awk = 0; awk < 3; awk++) {
            if (awk == 1) fill_awkward(x, 4 * ld, &r);
            if (awk == 2) /* magnitudes 2^-60 .. 2^60: the double sums round, so their order shows */
                for (int64_t k = 0; k < 4 * ld; k++) x[k] = ldexpf(gc_rng_normal(&r), (int)(gc_rng_next(&r) % 121) - 60);
            double s[4];
            if (tier == GC_GEMM_AVX512) gc_sum4_f64_avx512(x, ld, n, s);
            else gc_sum4_f64_avx2(x, ld, n, s);
            for (int q = 0; q < 4; q++) {
                const double e = gc_sum_f64(x + q * ld, n);
                if (memcmp(&e, &s[q], sizeof e) && !(isnan(e) && isnan(s[q])))
                    FAILF("%s, n %lld, plane %d: %.17g != %.17g", gc_gemm_tier_name(tier), (long long)n, q, s[q], e);
            }
        }
    }
    free(x);
}

TEST(sum4_matches_sum_bits) {
    sum4_case(GC_GEMM_AVX512);
    sum4_case(GC_GEMM_AVX2);
}

int main(void) {
    RUN(every_tier_matches_the_reference_bits);
    RUN(reference_follows_the_rules);
    RUN(maxpool_fast_path_matches_the_reference);
    RUN(sum4_matches_sum_bits);
    return test_summary("relu_fast");
}
