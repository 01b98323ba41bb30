/* test_relu_fast.c - the vector ReLU kernels (AVX2, AVX-512) give the
 * reference loops' bits: outputs, masks and all three backward rules, with
 * NaN, signed zeros, infinities and lengths that are not multiples of 64. */
#include "test.h"
#include "core/core.h"
#include "kernels/gemm.h"
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

int main(void) {
    RUN(every_tier_matches_the_reference_bits);
    RUN(reference_follows_the_rules);
    return test_summary("relu_fast");
}
