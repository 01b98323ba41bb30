/* conv_direct_avx512.c - AVX-512F direct-convolution micro-kernel 8x48: 24 zmm accumulators,
 * 3 unaligned loads of the padded input and 8 broadcasts of the weights per tap (contract
 * in conv.h), and its 8x32 and 8x16 forms for a band's last pixels (the same operations on
 * fewer lanes: the same bits). Compiled with -mavx512*; called only after dispatch. */
#include "kernels/conv.h"

#if defined(__AVX512F__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512vl,no-avx512dq,no-avx512bw")
#endif
#include <immintrin.h>

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* NV: 16-lane vectors per row (3, 2 or 1); a constant once inlined. */
static inline __attribute__((always_inline)) void
dc_avx512(const int NV, int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off, float *y,
          int64_t ldy, const gc_dc_map *map, int m, int load, const float *bias) {
    /* c<i>0..2: row i of the (MR, 48) accumulator tile, lanes 0-15, 16-31, 32-47 */
#define DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;
    ROWS(DECL)
#undef DECL
    for (int64_t p = 0, pa = 0; p < k; p++, pa += ks) {
        const float *bp = b + off[p];
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = NV > 1 ? _mm512_loadu_ps(bp + 16) : b0,
                     b2 = NV > 2 ? _mm512_loadu_ps(bp + 32) : b0;
#define STEP(i)                                                                            \
    {                                                                                      \
        const __m512 ai = _mm512_set1_ps(a[i * rs + pa]);                                            \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                        \
        if (NV > 1) c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                            \
        if (NV > 2) c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);                            \
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
            const __mmask16 k0 = (__mmask16)mk, k1 = (__mmask16)(mk >> 16), k2 = (__mmask16)(mk >> 32);
            const float *ys = y + map->dst[s];
#define LOAD(i)                                                                            \
    if (i < m) {                                                                           \
        const float *yi = ys + (int64_t)i * ldy;                                           \
        c##i##0 = _mm512_add_ps(c##i##0, _mm512_maskz_loadu_ps(k0, yi));                   \
        if (NV > 1) c##i##1 = _mm512_add_ps(c##i##1, _mm512_maskz_loadu_ps(k1, yi + 16));  \
        if (NV > 2) c##i##2 = _mm512_add_ps(c##i##2, _mm512_maskz_loadu_ps(k2, yi + 32));  \
    }
            ROWS(LOAD)
#undef LOAD
        }
    else if (bias) {
#define BIAS(i)                                                                            \
    if (i < m) {                                                                           \
        const __m512 bi = _mm512_set1_ps(bias[i]);                                         \
        c##i##0 = _mm512_add_ps(c##i##0, bi);                                              \
        if (NV > 1) c##i##1 = _mm512_add_ps(c##i##1, bi);                                  \
        if (NV > 2) c##i##2 = _mm512_add_ps(c##i##2, bi);                                  \
    }
        ROWS(BIAS)
#undef BIAS
    }
    for (int s = 0; s < map->nseg; s++) {
        const uint64_t mk = map->mask[s];
        const __mmask16 k0 = (__mmask16)mk, k1 = (__mmask16)(mk >> 16), k2 = (__mmask16)(mk >> 32);
        float *ys = y + map->dst[s];
#define STORE(i)                                                                           \
    if (i < m) {                                                                           \
        float *yi = ys + (int64_t)i * ldy;                                                 \
        _mm512_mask_storeu_ps(yi, k0, c##i##0);                                            \
        if (NV > 1) _mm512_mask_storeu_ps(yi + 16, k1, c##i##1);                           \
        if (NV > 2) _mm512_mask_storeu_ps(yi + 32, k2, c##i##2);                           \
    }
        ROWS(STORE)
#undef STORE
    }
}

#define DC_FORM(nr, nv)                                                                                           \
    void gc_dconv_ukernel_avx512_8x##nr(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b,          \
                                        const int64_t *off, float *y, int64_t ldy, const gc_dc_map *map, int m,    \
                                        int load, const float *bias) {                                             \
        dc_avx512(nv, k, a, rs, ks, b, off, y, ldy, map, m, load, bias);                                           \
    }
DC_FORM(48, 3)
DC_FORM(32, 2)
DC_FORM(16, 1)
#undef DC_FORM

#else /* built without AVX-512: never dispatched */
#define DC_FORM(nr)                                                                                               \
    void gc_dconv_ukernel_avx512_8x##nr(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b,          \
                                        const int64_t *off, float *y, int64_t ldy, const gc_dc_map *map, int m,    \
                                        int load, const float *bias) {                                             \
        (void)k; (void)a; (void)rs; (void)ks; (void)b; (void)off; (void)y; (void)ldy; (void)map; (void)m;          \
        (void)load; (void)bias;                                                                                    \
    }
DC_FORM(48)
DC_FORM(32)
DC_FORM(16)
#endif
