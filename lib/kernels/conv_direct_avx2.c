/* conv_direct_avx2.c - AVX2+FMA direct-convolution micro-kernel 4x24: 12 ymm accumulators,
 * 3 unaligned loads of the padded input and 4 broadcasts of the weights per tap (contract
 * in conv.h). Compiled with -mavx2 -mfma; called only after dispatch. */
#include "kernels/conv.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define ROWS(X) X(0) X(1) X(2) X(3)

/* Lane masks of the 8 bits of `bits` (all-ones lanes where set). */
static inline __m256i lane_mask(unsigned bits) {
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), sel), sel);
}

void gc_dconv_ukernel_avx2_4x24(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                const float *bias) {
#define DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;
    ROWS(DECL)
#undef DECL
    for (int64_t p = 0, pa = 0; p < k; p++, pa += ks) {
        const float *bp = b + off[p];
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8),
                     b2 = _mm256_loadu_ps(bp + 16);
#define STEP(i)                                                                            \
    {                                                                                      \
        const __m256 ai = _mm256_broadcast_ss(a + i * rs + pa);                                      \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                        \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                                        \
        c##i##2 = _mm256_fmadd_ps(ai, b2, c##i##2);                                        \
    }
        ROWS(STEP)
#undef STEP
    }
    /* this block's sum, then the earlier blocks' partial sums or the bias: a long K is summed
       in blocks of about DC_KC taps, each from zero, so rounding grows with the block's length
       rather than K's */
    if (load) /* segments are disjoint: masked loads (zero elsewhere) add up */
        for (int s = 0; s < map->nseg; s++) {
            const uint64_t mk = map->mask[s];
            const int full = (mk & 0xFFFFFFu) == 0xFFFFFFu; /* masked moves are slow on AMD */
            const __m256i k0 = lane_mask((unsigned)(mk & 255)), k1 = lane_mask((unsigned)((mk >> 8) & 255)),
                          k2 = lane_mask((unsigned)((mk >> 16) & 255));
            const float *ys = y + map->dst[s];
#define LOAD(i)                                                                            \
    if (i < m) {                                                                           \
        const float *yi = ys + (int64_t)i * ldy;                                           \
        c##i##0 = _mm256_add_ps(c##i##0, full ? _mm256_loadu_ps(yi) : _mm256_maskload_ps(yi, k0)); \
        c##i##1 = _mm256_add_ps(c##i##1, full ? _mm256_loadu_ps(yi + 8) : _mm256_maskload_ps(yi + 8, k1)); \
        c##i##2 = _mm256_add_ps(c##i##2, full ? _mm256_loadu_ps(yi + 16) : _mm256_maskload_ps(yi + 16, k2)); \
    }
            ROWS(LOAD)
#undef LOAD
        }
    else if (bias) {
#define BIAS(i)                                                                            \
    if (i < m) {                                                                           \
        const __m256 bi = _mm256_set1_ps(bias[i]);                                         \
        c##i##0 = _mm256_add_ps(c##i##0, bi);                                              \
        c##i##1 = _mm256_add_ps(c##i##1, bi);                                              \
        c##i##2 = _mm256_add_ps(c##i##2, bi);                                              \
    }
        ROWS(BIAS)
#undef BIAS
    }
    for (int s = 0; s < map->nseg; s++) {
        const uint64_t mk = map->mask[s];
        const int full = (mk & 0xFFFFFFu) == 0xFFFFFFu;
        const __m256i k0 = lane_mask((unsigned)(mk & 255)), k1 = lane_mask((unsigned)((mk >> 8) & 255)),
                      k2 = lane_mask((unsigned)((mk >> 16) & 255));
        float *ys = y + map->dst[s];
#define STORE(i)                                                                           \
    if (i < m) {                                                                           \
        float *yi = ys + (int64_t)i * ldy;                                                 \
        if (full) {                                                                        \
            _mm256_storeu_ps(yi, c##i##0);                                                 \
            _mm256_storeu_ps(yi + 8, c##i##1);                                             \
            _mm256_storeu_ps(yi + 16, c##i##2);                                            \
        } else {                                                                           \
            _mm256_maskstore_ps(yi, k0, c##i##0);                                          \
            _mm256_maskstore_ps(yi + 8, k1, c##i##1);                                      \
            _mm256_maskstore_ps(yi + 16, k2, c##i##2);                                     \
        }                                                                                  \
    }
        ROWS(STORE)
#undef STORE
    }
}

/* ---- the channel-vectorised form (gc_dconv_run_packed; AVX-512's chan_tile, narrower) ----
 * NP (<= 6) pixels of one row (broadcast) by 16 output channels (two vectors of one 32-channel
 * block's packed weights per tap): 12 accumulators. Per K block summed from zero and added to
 * the earlier blocks' sum (the first block: + bias): each output the direct kernels'
 * operations in their order, so their bits. */
static inline __attribute__((always_inline)) void chan_part(const int NP, const float *a, const float *b,
                                                            const int64_t *off, int64_t K, int64_t KC,
                                                            int64_t cstride, const float *bias, float *t,
                                                            const int64_t sw) {
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = K - k0 < KC ? K - k0 : KC;
        const float *bb = b + k0 / KC * cstride, *aa = a + k0 * 32;
        __m256 acc[6][2];
        #pragma GCC unroll 6
        for (int p = 0; p < NP; p++) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
        for (int64_t q = 0; q < kc; q++) {
            const __m256 w0 = _mm256_loadu_ps(aa + q * 32), w1 = _mm256_loadu_ps(aa + q * 32 + 8);
            const float *bp = bb + off[q];
            #pragma GCC unroll 6
            for (int p = 0; p < NP; p++) {
                const __m256 xv = _mm256_broadcast_ss(bp + p * sw);
                acc[p][0] = _mm256_fmadd_ps(w0, xv, acc[p][0]);
                acc[p][1] = _mm256_fmadd_ps(w1, xv, acc[p][1]);
            }
        }
        #pragma GCC unroll 6
        for (int p = 0; p < NP; p++) { /* t (pixel, 16 channels): the running sums */
            __m256 s0 = acc[p][0], s1 = acc[p][1];
            if (k0 > 0) {
                s0 = _mm256_add_ps(s0, _mm256_loadu_ps(t + p * 16));
                s1 = _mm256_add_ps(s1, _mm256_loadu_ps(t + p * 16 + 8));
            } else if (bias) {
                s0 = _mm256_add_ps(s0, _mm256_loadu_ps(bias));
                s1 = _mm256_add_ps(s1, _mm256_loadu_ps(bias + 8));
            }
            _mm256_storeu_ps(t + p * 16, s0);
            _mm256_storeu_ps(t + p * 16 + 8, s1);
        }
    }
}

void gc_dconv_chan_avx2(int np, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC,
                        int64_t cstride, const float *bias, float *y, int64_t ldy, int m, int64_t sw) {
    const int ng = (np + 5) / 6; /* pixel groups of at most 6, as even as they come */
    for (int g = 0, p0 = 0; g < ng; g++) {
        const int p1 = np * (g + 1) / ng, n = p1 - p0;
        for (int h = 0; h * 16 < m; h++) {
            float t[6 * 16];
            const float *ah = a + 16 * h, *bh = bias ? bias + 16 * h : NULL, *bg = b + p0 * sw;
#define NP_CASE(c)                                                                                 \
    case c:                                                                                        \
        if (sw == 1) chan_part(c, ah, bg, off, K, KC, cstride, bh, t, 1);                          \
        else chan_part(c, ah, bg, off, K, KC, cstride, bh, t, sw);                                 \
        break;
            switch (n) {
            NP_CASE(1) NP_CASE(2) NP_CASE(3) NP_CASE(4) NP_CASE(5) NP_CASE(6)
            default: break;
            }
#undef NP_CASE
            const int mh = m - 16 * h < 16 ? m - 16 * h : 16;
            for (int o = 0; o < mh; o++)
                for (int p = 0; p < n; p++) y[(16 * h + o) * ldy + p0 + p] = t[p * 16 + o];
        }
        p0 = p1;
    }
}

#else /* built without AVX2: never dispatched */
void gc_dconv_chan_avx2(int np, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC,
                        int64_t cstride, const float *bias, float *y, int64_t ldy, int m, int64_t sw) {
    (void)np; (void)a; (void)b; (void)off; (void)K; (void)KC; (void)cstride; (void)bias; (void)y; (void)ldy; (void)m;
    (void)sw;
}
void gc_dconv_ukernel_avx2_4x24(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                const float *bias) {
    (void)k; (void)a; (void)rs; (void)ks; (void)b; (void)off; (void)y; (void)ldy; (void)map; (void)m; (void)load; (void)bias;
}
#endif
