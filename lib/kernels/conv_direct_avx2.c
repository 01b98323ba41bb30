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

#else /* built without AVX2: never dispatched */
void gc_dconv_ukernel_avx2_4x24(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                const float *bias) {
    (void)k; (void)a; (void)rs; (void)ks; (void)b; (void)off; (void)y; (void)ldy; (void)map; (void)m; (void)load; (void)bias;
}
#endif
