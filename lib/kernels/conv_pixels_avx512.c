/* conv_pixels_avx512.c - AVX-512F micro-kernel 7x64 of the few-pixels GEMM (contract in
 * conv.h): 28 zmm accumulators, 4 loads of B and 7 broadcasts of A per k step. Compiled with
 * -mavx512*; called only after dispatch (gc_pxgemm_applies). */
#include "kernels/conv.h"
#include "kernels/activation.h" /* GC_EPI_* */

#if defined(__AVX512F__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512vl,no-avx512dq,no-avx512bw")
#endif
#include <immintrin.h>

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6)

/* The kernel on the first 16 * W columns of the panel (b's rows stay 64 floats apart): each
 * column's sum is the same chain of fused multiply-adds whatever W, so a narrower kernel on a
 * last panel with fewer channels gives the same bits and skips the empty columns' work. With acc
 * the chain goes on from the sums in t (K summed in chunks: the same bits as in one go). Step p < npf
 * also prefetches the line at pf + 64 p into L2 (the weights multiplied next, so they stream from
 * memory while this tile computes instead of stalling the next tile). */
static inline __attribute__((always_inline)) void ukernel(int64_t k, const float *a, int64_t as, const float *b,
                                                          float *t, const int W, int acc, const char *pf, int64_t npf) {
#define DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0, c##i##3 = c##i##0;
    ROWS(DECL)
#undef DECL
    if (acc) {
#define LOAD(i)                                                                            \
    c##i##0 = _mm512_loadu_ps(t + i * GC_PX_NR);                                           \
    if (W > 1) c##i##1 = _mm512_loadu_ps(t + i * GC_PX_NR + 16);                           \
    if (W > 2) c##i##2 = _mm512_loadu_ps(t + i * GC_PX_NR + 32);                           \
    if (W > 3) c##i##3 = _mm512_loadu_ps(t + i * GC_PX_NR + 48);
        ROWS(LOAD)
#undef LOAD
    }
    /* 28 accumulators, 3 columns of B and the broadcast fill the 32 registers: the fourth column
     * is a memory operand of each row's multiply-add (its address hidden from the compiler per
     * row, which would otherwise keep it in a register and spill an accumulator: a store and
     * reload on every k step, ResNet-50's 14x14 and 7x7 layers 54-77 % of the peak). */
    for (int64_t p = 0; p < k; p++, a += as, b += GC_PX_NR) {
        if (p < npf) _mm_prefetch(pf + 64 * p, _MM_HINT_T1);
        const __m512 b0 = _mm512_loadu_ps(b), b1 = W > 1 ? _mm512_loadu_ps(b + 16) : b0,
                     b2 = W > 2 ? _mm512_loadu_ps(b + 32) : b0;
#define STEP(i)                                                                            \
    {                                                                                      \
        const __m512 ai = _mm512_set1_ps(a[i]);                                            \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                        \
        if (W > 1) c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                             \
        if (W > 2) c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);                             \
        if (W > 3) {                                                                       \
            const float *b3 = b + 48;                                                      \
            __asm__ volatile("" : "+r"(b3));                                               \
            c##i##3 = _mm512_fmadd_ps(ai, _mm512_loadu_ps(b3), c##i##3);                   \
        }                                                                                  \
    }
        ROWS(STEP)
#undef STEP
    }
#define STORE(i)                                                                           \
    _mm512_storeu_ps(t + i * GC_PX_NR, c##i##0);                                           \
    if (W > 1) _mm512_storeu_ps(t + i * GC_PX_NR + 16, c##i##1);                           \
    if (W > 2) _mm512_storeu_ps(t + i * GC_PX_NR + 32, c##i##2);                           \
    if (W > 3) _mm512_storeu_ps(t + i * GC_PX_NR + 48, c##i##3);
    ROWS(STORE)
#undef STORE
}

void gc_px_ukernel_avx512(int64_t k, const float *a, int64_t as, const float *b, float *t, int64_t nc, int acc,
                          const char *pf, int64_t npf) {
    if (nc > 48) ukernel(k, a, as, b, t, 4, acc, pf, npf);
    else if (nc > 32) ukernel(k, a, as, b, t, 3, acc, pf, npf);
    else if (nc > 16) ukernel(k, a, as, b, t, 2, acc, pf, npf);
    else ukernel(k, a, as, b, t, 1, acc, pf, npf);
}

/* One tile's stores: y[(c) P + r] = epi(t[r * 64 + c] + bias[c]) for pixels r < n, channels
 * c < nc. Per 16 channels the 7 pixel rows (and a zero eighth) are transposed in registers
 * (unpack, shuffle, two-source permute), so each channel's 7 pixels go out in one masked store
 * instead of 7 scalar ones. The epilogue's bits are the activation loop's: ReLU max(v, 0) is
 * v > 0 ? v : 0, clamp max(lo, v) then min(hi, u) are v < lo ? lo : v, u > hi ? hi : u (the
 * second operand is returned when either is NaN). */
/* A channel's n pixels as stored: the residual's, then the epilogue (with a residual it comes
 * after the transpose, in the layout res has). */
static inline __m512 px_res_epi(__m512 v, const float *r, __mmask16 m, int epi, __m512 zero, __m512 lov, __m512 hiv) {
    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, r));
    if (epi == GC_EPI_RELU) v = _mm512_max_ps(v, zero);
    else if (epi == GC_EPI_CLAMP) v = _mm512_min_ps(hiv, _mm512_max_ps(lov, v));
    return v;
}

void gc_px_store_avx512(const float *t, const float *bias, const float *res, int epi, float lo, float hi, float *y,
                        int64_t P, int64_t n, int64_t nc) {
    const __m512 zero = _mm512_setzero_ps(), lov = _mm512_set1_ps(lo), hiv = _mm512_set1_ps(hi);
    const __m512i ia = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i ib = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    for (int64_t q = 0; q * 16 < nc; q++) {
        const __m512 b = _mm512_loadu_ps(bias + 16 * q);
        __m512 v[8];
        for (int r = 0; r < 7; r++) {
            __m512 x = _mm512_add_ps(_mm512_loadu_ps(t + r * GC_PX_NR + 16 * q), b);
            if (!res && epi == GC_EPI_RELU) x = _mm512_max_ps(x, zero); /* with res: after it, below */
            else if (!res && epi == GC_EPI_CLAMP) x = _mm512_min_ps(hiv, _mm512_max_ps(lov, x));
            v[r] = x;
        }
        v[7] = zero;
        __m512 u[8], s[8];
        for (int r = 0; r < 8; r += 2) {
            u[r] = _mm512_unpacklo_ps(v[r], v[r + 1]);
            u[r + 1] = _mm512_unpackhi_ps(v[r], v[r + 1]);
        }
        /* per 128-bit lane L (columns 4L..4L+3): s[k] column 4L+k rows 0-3, s[4+k] rows 4-7 */
        for (int h = 0; h < 2; h++) {
            s[4 * h + 0] = _mm512_shuffle_ps(u[4 * h], u[4 * h + 2], 0x44);
            s[4 * h + 1] = _mm512_shuffle_ps(u[4 * h], u[4 * h + 2], 0xEE);
            s[4 * h + 2] = _mm512_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0x44);
            s[4 * h + 3] = _mm512_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0xEE);
        }
        for (int k = 0; k < 4; k++) {
            const __m512 za = _mm512_permutex2var_ps(s[k], ia, s[4 + k]); /* columns k, 4 + k */
            const __m512 zb = _mm512_permutex2var_ps(s[k], ib, s[4 + k]); /* columns 8 + k, 12 + k */
            const int64_t c0 = 16 * q + k;
            __m512 w[4] = {za, _mm512_shuffle_f32x4(za, za, 0xEE), zb, _mm512_shuffle_f32x4(zb, zb, 0xEE)};
            for (int e = 0; e < 4; e++) {
                const int64_t ch = c0 + 4 * e;
                if (ch >= nc) continue;
                if (res) w[e] = px_res_epi(w[e], res + ch * P, m, epi, zero, lov, hiv);
                _mm512_mask_storeu_ps(y + ch * P, m, w[e]);
            }
        }
    }
}

#else /* built without AVX-512: never dispatched (gc_pxgemm_applies) */
void gc_px_ukernel_avx512(int64_t k, const float *a, int64_t as, const float *b, float *t, int64_t nc, int acc,
                          const char *pf, int64_t npf) {
    (void)k; (void)a; (void)as; (void)b; (void)t; (void)nc; (void)acc; (void)pf; (void)npf;
}
void gc_px_store_avx512(const float *t, const float *bias, const float *res, int epi, float lo, float hi, float *y,
                        int64_t P, int64_t n, int64_t nc) {
    (void)t; (void)bias; (void)res; (void)epi; (void)lo; (void)hi; (void)y; (void)P; (void)n; (void)nc;
}
#endif
