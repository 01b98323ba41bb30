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

/* ---- the channel-vectorised form (gc_dconv_run_packed): 32 output channels (two vectors of
 * packed weights per tap) by NP pixels of one row (broadcast), per K block summed from zero and
 * added to the earlier blocks' sum (the first block: + bias), in registers: each output the
 * 8x48 kernel's operations in its order, so its bits. */
static inline __attribute__((always_inline)) void
chan_tile(const int NP, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC, int64_t cstride,
          const float *bias, float *y, int64_t ldy, int m, const int64_t sw) {
    __m512 tot[14][2];
    #pragma GCC unroll 14
    for (int p = 0; p < NP; p++) tot[p][0] = tot[p][1] = _mm512_setzero_ps(); /* (K >= 1: overwritten) */
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = K - k0 < KC ? K - k0 : KC;
        const float *bb = b + k0 / KC * cstride, *aa = a + k0 * 32;
        __m512 acc[14][2];
        #pragma GCC unroll 14
        for (int p = 0; p < NP; p++) acc[p][0] = acc[p][1] = _mm512_setzero_ps();
        for (int64_t t = 0; t < kc; t++) {
            const __m512 w0 = _mm512_load_ps(aa + t * 32), w1 = _mm512_load_ps(aa + t * 32 + 16);
            const float *bp = bb + off[t];
            #pragma GCC unroll 14
            for (int p = 0; p < NP; p++) {
                const __m512 xv = _mm512_set1_ps(bp[p * sw]);
                acc[p][0] = _mm512_fmadd_ps(w0, xv, acc[p][0]);
                acc[p][1] = _mm512_fmadd_ps(w1, xv, acc[p][1]);
            }
        }
        #pragma GCC unroll 14
        for (int p = 0; p < NP; p++) {
            if (k0 == 0 && bias) {
                tot[p][0] = _mm512_add_ps(acc[p][0], _mm512_loadu_ps(bias));
                tot[p][1] = _mm512_add_ps(acc[p][1], _mm512_loadu_ps(bias + 16));
            } else if (k0 == 0) {
                tot[p][0] = acc[p][0];
                tot[p][1] = acc[p][1];
            } else {
                tot[p][0] = _mm512_add_ps(acc[p][0], tot[p][0]);
                tot[p][1] = _mm512_add_ps(acc[p][1], tot[p][1]);
            }
        }
    }
    float t[14][32] __attribute__((aligned(64))); /* (pixel, channel): written out transposed */
    #pragma GCC unroll 14
    for (int p = 0; p < NP; p++) {
        _mm512_store_ps(t[p], tot[p][0]);
        _mm512_store_ps(t[p] + 16, tot[p][1]);
    }
    for (int o = 0; o < m; o++)
        for (int p = 0; p < NP; p++) y[o * ldy + p] = t[p][o];
}

void gc_dconv_chan_avx512(int np, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC,
                          int64_t cstride, const float *bias, float *y, int64_t ldy, int m, int64_t sw) {
    /* stride 1 with constant offsets; other strides through a multiply */
#define NP_CASE(n)                                                                                \
    case n:                                                                                       \
        if (sw == 1) chan_tile(n, a, b, off, K, KC, cstride, bias, y, ldy, m, 1);                 \
        else chan_tile(n, a, b, off, K, KC, cstride, bias, y, ldy, m, sw);                        \
        break;
    switch (np) {
    NP_CASE(1) NP_CASE(2) NP_CASE(3) NP_CASE(4) NP_CASE(5) NP_CASE(6) NP_CASE(7)
    NP_CASE(8) NP_CASE(9) NP_CASE(10) NP_CASE(11) NP_CASE(12) NP_CASE(13) NP_CASE(14)
    default: break;
    }
#undef NP_CASE
}

#else /* built without AVX-512: never dispatched */
void gc_dconv_chan_avx512(int np, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC,
                          int64_t cstride, const float *bias, float *y, int64_t ldy, int m, int64_t sw) {
    (void)np; (void)a; (void)b; (void)off; (void)K; (void)KC; (void)cstride; (void)bias; (void)y; (void)ldy; (void)m;
    (void)sw;
}
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
