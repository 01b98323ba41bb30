/* conv_depthwise_tx.h - the output planes of one input plane of a depthwise convolution
 * (gc_dw_plane_fn): the plane zero-padded into scratch, then DW_L output columns at a time held
 * in a vector register while every tap is added (GNU vector extension, one register wide: 16
 * lanes (zmm) with AVX-512, 8 (ymm) with AVX2, 4 (xmm) in the portable build; with 16 lanes
 * under AVX2, GCC split every vector into two ymm and kept the 4x2 blocks on the stack, 12x
 * slower). 3x3 and 5x5 kernels at stride 1 or 2 (MobileNet's, EfficientNet's) have their own
 * unrolled code with several rows and columns in flight; at stride 2 the padded plane keeps
 * even and odd columns apart, so every load is contiguous. With AVX-512, 3x3 kernels (rows of
 * up to GC_DW_DIRECT_W) read the taps straight from the plane instead (gc_dw_direct,
 * dw_block_direct), and small "same" planes at stride 1 run as flat arrays, 16 outputs a vector
 * across rows (gc_dw_flat, dw_flat_block). Included once per ISA with DW_TX_NAME set
 * (conv_depthwise.c, conv_depthwise_avx2.c, conv_depthwise_avx512.c); taps are added in the
 * same order in all cases (and as the reference loops do), each output lane on its own, so
 * every tier, width and path gives the same bits. */
#include "kernels/conv.h"
#include "kernels/activation.h" /* GC_EPI_* */
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* DW_L: lanes of a vector; DW_NC: most vectors a block row holds (dw_block: R x DW_NC
 * accumulators, R <= 4, with a weight and a loaded tap in the registers). */
#if defined(__AVX512F__)
#define DW_L 16
#define DW_NC 2
#elif defined(__AVX2__)
#define DW_L 8
#define DW_NC 3
#else
#define DW_L 4
#define DW_NC 3
#endif
/* DW_CASE: the helpers that every 3x3/5x5, stride-1/2 case is built from, called with constant
 * shapes and forced inline so that each case becomes its own unrolled straight code. Sanitized
 * builds (GC_SANITIZED_BUILD: the Makefile's SANITIZE=1, SANITIZE=thread and fuzz builds) keep
 * them as calls instead: the same arithmetic and the same accesses, checked, at a fraction of the
 * compile time; instrumenting the unrolled cases took gcc 1.5-2 minutes per ISA with ASan + UBSan
 * and clang over 9 (AVX2) and 10 (AVX-512) minutes; as calls 28 s, 17 s and 59 s (Zen 3). */
#ifdef GC_SANITIZED_BUILD
#define DW_CASE static __attribute__((noinline))
#else
#define DW_CASE static inline __attribute__((always_inline))
#endif
typedef float dw_vf __attribute__((vector_size(4 * DW_L)));
typedef int dw_vi __attribute__((vector_size(4 * DW_L)));

/* The epilogue on the DW_L sums in vector a, E (GC_EPI_*) a constant at every use, with the
 * bits of the activation's own loop: ReLU v > 0 ? v : 0; clamp u = v < lo ? lo : v, then
 * u > hi ? hi : u (NaN stays). A macro and a store of a value, not functions taking the
 * accumulator's address: that put the accumulators in memory (2x slower). */
#define DW_EPI(a, E, lo, hi)                                                                       \
    do {                                                                                           \
        if ((E) == GC_EPI_RELU) {                                                                  \
            (a) = (dw_vf)((dw_vi)(a) & ((a) > 0.0f));                                              \
        } else if ((E) == GC_EPI_CLAMP) {                                                          \
            const dw_vi below_ = (a) < (lo), u_ = ((dw_vi)(lo) & below_) | ((dw_vi)(a) & ~below_); \
            const dw_vi above_ = (dw_vf)u_ > (hi);                                                 \
            (a) = (dw_vf)(((dw_vi)(hi) & above_) | (u_ & ~above_));                                \
        }                                                                                          \
    } while (0)

/* y[0, n) = the first n lanes of vector v, 0 < n <= DW_L: one store when n = DW_L; otherwise
 * one masked store with AVX-512 and AVX2 (AVX2's vmaskmovps is slow on AMD, but only the last
 * vector of a row takes it), lane by lane in the portable build (a memcpy of variable length
 * is a call, and went through the stack). */
#if defined(__AVX512F__)
#define DW_STORE(y, v, n)                                                                          \
    do {                                                                                           \
        if ((n) == 16) _mm512_storeu_ps((y), (__m512)(v));                                        \
        else _mm512_mask_storeu_ps((y), (__mmask16)((1u << (n)) - 1), (__m512)(v));               \
    } while (0)
#elif defined(__AVX2__)
static const int32_t dw_tail_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define DW_STORE(y, v, n)                                                                          \
    do {                                                                                           \
        if ((n) == 8) _mm256_storeu_ps((y), (__m256)(v));                                         \
        else _mm256_maskstore_ps((y), _mm256_loadu_si256((const __m256i *)(dw_tail_mask + 8 - (n))), (__m256)(v)); \
    } while (0)
#else
#define DW_STORE(y, v, n)                                                                          \
    do {                                                                                           \
        if ((n) == DW_L) memcpy((y), &(v), sizeof(dw_vf));                                         \
        else                                                                                       \
            for (int l_ = 0; l_ < (n); l_++) (y)[l_] = (v)[l_];                                    \
    } while (0)
#endif

/* Even and odd lanes of two vectors, for __builtin_shuffle. */
#if DW_L == 16
#define DW_EVEN {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}
#elif DW_L == 8
#define DW_EVEN {0, 2, 4, 6, 8, 10, 12, 14}
#else
#define DW_EVEN {0, 2, 4, 6}
#endif
#if DW_L == 16
#define DW_SPLAT(b) ((dw_vf){b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b})
#elif DW_L == 8
#define DW_SPLAT(b) ((dw_vf){b, b, b, b, b, b, b, b})
#else
#define DW_SPLAT(b) ((dw_vf){b, b, b, b})
#endif

/* Whether the AVX2 plane kernel reads the taps straight from the input plane (dw_planes_direct8,
 * no padded copy, no strips): 3x3 and 5x5 kernels at stride 1 or 2, no dilation, rows of at
 * most GC_DW_DIRECT_W pixels (the row of zeros), padding of at most 64. */
static inline int dw_direct8(const gc_dwconv *p) {
    return p->DH == 1 && p->DW == 1 && p->KH == p->KW && (p->KH == 3 || p->KH == 5) && p->SH == p->SW &&
           (p->SH == 1 || p->SH == 2) && p->W <= GC_DW_DIRECT_W && p->PW <= 64 && p->PH <= 64;
}

/* Whether the AVX2 kernel runs a call's planes 8 channels at a time (gc_dw_chan8_avx2): those
 * of dw_direct8 with one output plane per input plane, in strips of output rows whose padded
 * input rows take at most DW_CHAN8_PX pixels (their 8-channel copy: 32 KB), at least 2 output
 * rows a strip (a whole plane of up to 28x28 is one strip). gc_dw_chan8_avx2 runs planes
 * [t0, t1) (image C + channel) of the call, with buf of dw_chan8_floats(p) floats. */
#define DW_CHAN8_PX 1024
static inline int64_t dw_chan8_rows(const gc_dwconv *p) { /* output rows a strip */
    int64_t hp, wp;
    gc_dw_padded_size(p, &hp, &wp);
    const int64_t nb = DW_CHAN8_PX / wp, r = nb < p->KH ? 0 : (nb - p->KH) / p->SH + 1;
    return r < p->OH ? r : p->OH;
}
static inline int dw_chan8(const gc_dwconv *p) {
    return dw_direct8(p) && p->M == 1 && (dw_chan8_rows(p) >= 2 || dw_chan8_rows(p) == p->OH);
}
/* Floats of gc_dw_chan8_avx2's buffer: the padded rows of a strip in 8-channel pixels and what
 * the last block of 8 output pixels reads past them. */
static inline int64_t dw_chan8_floats(const gc_dwconv *p) {
    int64_t hp, wp;
    gc_dw_padded_size(p, &hp, &wp);
    return (((dw_chan8_rows(p) - 1) * p->SH + p->KH) * wp + 8 * p->SW + p->KW) * 8;
}

void gc_dw_chan8_avx2(const gc_dwconv *p, const float *x, const float *w, const float *bias, float *y, int64_t t0,
                      int64_t t1, float *buf);

/* *v = x[0], x[s], ..., x[(DW_L - 1) s]: one load for s = 1, two loads and a shuffle for s = 2
 * (GCC), lane by lane otherwise. (Out parameters: returning a 64-byte vector from a function
 * changes the ABI in the builds without AVX-512.) */
static inline void dw_load(const float *x, int64_t s, dw_vf *v) {
    if (s == 1) {
        memcpy(v, x, sizeof *v);
        return;
    }
#if defined(__GNUC__) && !defined(__clang__)
    if (s == 2) {
        const dw_vi even = DW_EVEN;
        dw_vf a, b;
        memcpy(&a, x, sizeof a);
        memcpy(&b, x + DW_L, sizeof b);
        *v = __builtin_shuffle(a, b, even);
        return;
    }
#endif
    for (int l = 0; l < DW_L; l++) (*v)[l] = x[l * s];
}

/* dst (hp, wp) = src (H, W) at offset (PH, PW), zeros elsewhere. */
static __attribute__((noinline)) void dw_pad(const gc_dwconv *p, const float *src, float *dst, int64_t hp, int64_t wp) {
    memset(dst, 0, (size_t)(hp * wp) * sizeof(float));
    for (int64_t h = 0; h < p->H; h++) memcpy(dst + (h + p->PH) * wp + p->PW, src + h * p->W, (size_t)p->W * sizeof(float));
}

/* The same padded plane with each row split: its even columns, then its odd ones, wq each
 * (2 wq >= wp): padded column 2k + e is at e wq + k. */
static __attribute__((noinline)) void dw_pad_split(const gc_dwconv *p, const float *src, float *dst, int64_t hp, int64_t wq) {
    memset(dst, 0, (size_t)(hp * 2 * wq) * sizeof(float));
    const int64_t W = p->W, w0 = p->PW & 1, w1 = 1 - w0; /* first input column landing even, odd */
    const int64_t e0 = (w0 + p->PW) / 2, o0 = wq + (w1 + p->PW - 1) / 2;
    for (int64_t h = 0; h < p->H; h++) {
        const float *restrict s = src + h * W;
        float *restrict d = dst + (h + p->PH) * 2 * wq;
        int64_t k = 0;
#if defined(__GNUC__) && !defined(__clang__)
        /* 2 DW_L columns a step: two loads, two shuffles; the rest one at a time (no read past the row) */
        const dw_vi even = DW_EVEN;
        const dw_vi odd = even + 1;
        for (; w0 + 2 * k + 2 * DW_L <= W; k += DW_L) {
            dw_vf a, b, e, o;
            memcpy(&a, s + w0 + 2 * k, sizeof a);
            memcpy(&b, s + w0 + 2 * k + DW_L, sizeof b);
            e = __builtin_shuffle(a, b, even);
            o = __builtin_shuffle(a, b, odd);
            memcpy(d + e0 + k, &e, sizeof e);
            memcpy(d + o0 + w0 + k, &o, sizeof o); /* odd lanes are columns w1 + 2 (w0 + k + l) */
        }
#if defined(__AVX512F__)
        if (w0 + 2 * k < W) { /* the last < 32 columns the same way: masked loads and stores */
            const int64_t rem = W - w0 - 2 * k, ne = (rem + 1) / 2, no = rem / 2;
            const __mmask16 ma = (__mmask16)(rem >= 16 ? 0xFFFFu : (1u << rem) - 1);
            const __mmask16 mb = (__mmask16)(rem <= 16 ? 0u : (1u << (rem - 16)) - 1);
            dw_vf a, b, e, o;
            a = (dw_vf)_mm512_maskz_loadu_ps(ma, s + w0 + 2 * k);
            b = (dw_vf)_mm512_maskz_loadu_ps(mb, s + w0 + 2 * k + 16);
            e = __builtin_shuffle(a, b, even);
            o = __builtin_shuffle(a, b, odd);
            _mm512_mask_storeu_ps(d + e0 + k, (__mmask16)((1u << ne) - 1), (__m512)e);
            if (no > 0) _mm512_mask_storeu_ps(d + o0 + w0 + k, (__mmask16)((1u << no) - 1), (__m512)o);
            k += ne;
        }
#endif
#endif
        for (int64_t j = k; w0 + 2 * j < W; j++) d[e0 + j] = s[w0 + 2 * j];
        for (int64_t j = 0; j < w0 && w1 + 2 * j < W; j++) d[o0 + j] = s[w1 + 2 * j];
        for (int64_t j = w0 + k; w1 + 2 * j < W; j++) d[o0 + j] = s[w1 + 2 * j];
    }
}

/* Rows [i, i + R) of the output, columns [j0, j0 + DW_L NC), for a K x K kernel at stride S,
 * no dilation, from rows of wp floats (at stride 2 split ones: output column j, tap v reads
 * (v & 1) wp/2 + j + v/2): R x NC accumulators in registers (independent chains, so the adds overlap
 * instead of waiting on each other), taps added in the same order as below. Called with
 * constant R, NC, K and S, so the loops unroll and every case is its own straight code. */
DW_CASE void dw_block(const float *xp, int64_t wp, const float *wo, float b,
                      float *yo, int64_t OW, int64_t i, int64_t j0, const int R,
                      const int NC, const int K, const int S, const int E,
                      dw_vf lo, dw_vf hi) {
    const int64_t wq = wp / 2; /* stride 2: the odd columns' offset in a split row */
    const dw_vf bv = (dw_vf){0} + b;
    dw_vf acc[4][DW_NC];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = bv;
    for (int u = 0; u < K; u++)
        for (int v = 0; v < K; v++) {
            const float wv = wo[u * K + v];
            for (int r = 0; r < R; r++) {
                const float *xr = xp + ((i + r) * S + u) * wp + j0 + (S == 1 ? v : (v & 1) * wq + (v >> 1));
                for (int c = 0; c < NC; c++) {
                    dw_vf xv;
                    memcpy(&xv, xr + c * DW_L, sizeof xv);
                    acc[r][c] += wv * xv;
                }
            }
        }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < NC; c++) {
            const int64_t j = j0 + DW_L * c, n = OW - j < DW_L ? OW - j : DW_L;
            DW_EPI(acc[r][c], E, lo, hi);
            if (n > 0) DW_STORE(yo + (i + r) * OW + j, acc[r][c], n);
        }
}

/* The whole plane for one (K, S): blocks of 4 rows, then one block of the 1-3 rows left; DW_NC
 * vectors a step, the last step as many as the row has left, so a load starts inside its row
 * and reads at most DW_L - 1 floats past the row's end (the scratch has 64 floats to spare
 * after the last row). (DW_ROW a macro: as an inline function of its own, the AVX-512 build's
 * code changed.) */
#if DW_NC == 3
#define DW_ROW(R)                                                                                  \
    for (int64_t j0 = 0; j0 < OW; j0 += 3 * DW_L) {                                                \
        if (j0 + 2 * DW_L < OW) dw_block(xp, wp, wo, b, yo, OW, i, j0, R, 3, K, S, E, lo, hi);      \
        else if (j0 + DW_L < OW) dw_block(xp, wp, wo, b, yo, OW, i, j0, R, 2, K, S, E, lo, hi);    \
        else dw_block(xp, wp, wo, b, yo, OW, i, j0, R, 1, K, S, E, lo, hi);                         \
    }
#else
#define DW_ROW(R)                                                                                  \
    for (int64_t j0 = 0; j0 < OW; j0 += 2 * DW_L) {                                                \
        if (j0 + DW_L < OW) dw_block(xp, wp, wo, b, yo, OW, i, j0, R, 2, K, S, E, lo, hi);          \
        else dw_block(xp, wp, wo, b, yo, OW, i, j0, R, 1, K, S, E, lo, hi);                         \
    }
#endif
DW_CASE void dw_plane_k(const gc_dwconv *p, const float *xp, int64_t wp,
                        const float *wo, float b, float *yo, const int K,
                        const int S, const int E) {
    const int64_t OH = p->OH, OW = p->OW;
    dw_vf lo, hi; /* the clamp's bounds, every lane */
    for (int l = 0; l < DW_L; l++) lo[l] = p->epi_lo, hi[l] = p->epi_hi;
    int64_t i = 0;
    for (; i + 4 <= OH; i += 4) DW_ROW(4)
    if (OH - i == 3) DW_ROW(3)
    else if (OH - i == 2) DW_ROW(2)
    else if (OH - i == 1) DW_ROW(1)
}

/* yo (OH, OW) = b + sum_{u,v} wo[u,v] xp[(i SH + u DH) * wp + j SW + v DW], xp readable up to
 * 32 floats past its last row (lanes past OW are computed and dropped). */
static void dw_plane_any(const gc_dwconv *p, const float *xp, int64_t wp, const float *wo, float b, float *yo) {
    dw_vf lo, hi;
    for (int l = 0; l < DW_L; l++) lo[l] = p->epi_lo, hi[l] = p->epi_hi;
    for (int64_t i = 0; i < p->OH; i++)
        for (int64_t j0 = 0; j0 < p->OW; j0 += DW_L) {
            dw_vf acc = DW_SPLAT(b);
            for (int64_t u = 0; u < p->KH; u++) {
                const float *xr = xp + (i * p->SH + u * p->DH) * wp + j0 * p->SW;
                for (int64_t v = 0; v < p->KW; v++) {
                    const float wv = wo[u * p->KW + v];
                    dw_vf xv;
                    dw_load(xr + v * p->DW, p->SW, &xv);
                    acc += wv * xv;
                }
            }
            const int64_t n = p->OW - j0 < DW_L ? p->OW - j0 : DW_L;
            DW_EPI(acc, p->epi, lo, hi);
            DW_STORE(yo + i * p->OW + j0, acc, n);
        }
}


#if defined(__AVX512F__)
/* ---- AVX-512: the taps read straight from the input plane (gc_dw_direct) ----
 * No padded copy: a tap row above or below the plane reads a row of zeros (dw_zero_row), and
 * the columns a vector reaches left or right of its row are masked off in the load (zeros, as
 * in the padded copy; masked-off lanes are not read). At stride 2 a tap's 16 columns (every
 * other one) come from two loads and a two-source permute, even or odd lanes; taps v and v + 1
 * share the loads. Each output gets the same products of the same values added in the same
 * order as from the padded plane, so the same bits; what goes is the copy, which on a small
 * plane costs about as much as the taps (and at stride 2 copies four inputs per output). */
static const float dw_zero_row[GC_DW_DIRECT_W + 128];

/* Lanes l of a load at column c whose column c + l is inside a row of W. */
static inline __mmask16 dw_mask(int64_t c, int64_t W) {
    const int64_t lo = c < 0 ? -c : 0, hi = W - c < 16 ? W - c : 16;
    return hi <= lo ? (__mmask16)0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* dw_block's rows [i, i + R), columns [j0, j0 + 16 NC) from the plane x (H, W) itself
 * (dw_zero_row + 64 + c: zeros for columns c from -64 to W + 63). */
DW_CASE void dw_block_direct(const gc_dwconv *p, const float *x,
                             const float *wo, float b, float *yo, int64_t i,
                             int64_t j0, const int R, const int NC, const int K,
                             const int S, const int E, dw_vf lo, dw_vf hi) {
    const int64_t H = p->H, W = p->W, OW = p->OW, c0 = S * j0 - p->PW; /* first column read */
    const float *zr = dw_zero_row + 64;
    const float *rows[4 * 2 + 5]; /* input rows (i S - PH) + q, q < (R - 1) S + K, from column c0 */
    #pragma GCC unroll 16
    for (int q = 0; q < (R - 1) * S + K; q++) {
        const int64_t ir = i * S + q - p->PH;
        rows[q] = (ir >= 0 && ir < H ? x + ir * W : zr) + c0;
    }
    __mmask16 m[2][5], mb[2][3]; /* S 1: tap v's load; S 2: load pair e (columns 2 e on) */
    #pragma GCC unroll 2
    for (int c = 0; c < NC; c++) {
        if (S == 1) {
            #pragma GCC unroll 5
            for (int v = 0; v < K; v++) m[c][v] = dw_mask(c0 + 16 * c + v, W);
        } else {
            #pragma GCC unroll 3
            for (int e = 0; e <= (K - 1) / 2; e++) {
                m[c][e] = dw_mask(c0 + 32 * c + 2 * e, W);
                mb[c][e] = dw_mask(c0 + 32 * c + 2 * e + 16, W);
            }
        }
    }
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const dw_vf bv = (dw_vf){0} + b;
    dw_vf acc[4][2];
    #pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 2
        for (int c = 0; c < NC; c++) acc[r][c] = bv;
    #pragma GCC unroll 5
    for (int u = 0; u < K; u++)
        #pragma GCC unroll 5
        for (int v = 0; v < K; v++) {
            const float wv = wo[u * K + v];
            #pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const float *xr = rows[r * S + u];
                #pragma GCC unroll 2
                for (int c = 0; c < NC; c++) {
                    dw_vf xv;
                    if (S == 1) {
                        xv = (dw_vf)_mm512_maskz_loadu_ps(m[c][v], xr + 16 * c + v);
                    } else {
                        const float *xa = xr + 32 * c + (v & ~1);
                        const __m512 a = _mm512_maskz_loadu_ps(m[c][v >> 1], xa);
                        const __m512 bb = _mm512_maskz_loadu_ps(mb[c][v >> 1], xa + 16);
                        xv = (dw_vf)_mm512_permutex2var_ps(a, v & 1 ? odd : even, bb);
                    }
                    acc[r][c] += wv * xv;
                }
            }
        }
    #pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            const int64_t j = j0 + 16 * c, n = OW - j < 16 ? OW - j : 16;
            DW_EPI(acc[r][c], E, lo, hi);
            if (n > 0) DW_STORE(yo + (i + r) * OW + j, acc[r][c], n);
        }
}

/* Input rows ahead of the blocks on planes of more than DW_PF_PX pixels: block row i (output
 * rows i to i + 3) reads 4 S input rows more than block row i - 4; those of the block at column
 * j0 are fetched into L1 while the block DW_PF_ROWS output rows above is summed. Such a plane
 * comes from L3 or the other core: without it the direct blocks, reading six to nine short rows
 * at a time, were 20-100 % slower than a padded copy, which reads the plane as one stream. */
#define DW_PF_PX 1024
#define DW_PF_ROWS 8
DW_CASE void dw_prefetch(const gc_dwconv *p, const float *x, int64_t i,
                         int64_t j0, const int S, const int NC) {
    const int64_t c0 = S * j0 - p->PW > 0 ? S * j0 - p->PW : 0;
    #pragma GCC unroll 8
    for (int k = 0; k < 4 * S; k++) {
        const int64_t ir = i * S - p->PH + (3 - S) + k;
        if (ir < 0 || ir >= p->H) continue;
        const float *r = x + ir * p->W;
        #pragma GCC unroll 3
        for (int m = 0; m <= S * NC; m++)
            if (c0 + 16 * m < p->W) _mm_prefetch((const char *)(r + c0 + 16 * m), _MM_HINT_T0);
    }
}

/* One row of blocks (output rows i to i + R) across the plane, NC 16-column vectors a block,
 * the last block of a row narrower where the row ends; pf: input rows prefetched ahead. */
DW_CASE void dw_block_row(const gc_dwconv *p, const float *x, const float *wo,
                          float b, float *yo, int64_t i, const int R,
                          const int S, const int E, dw_vf lo, dw_vf hi,
                          int pf) {
    const int NC = S == 1 ? 2 : 1;
    for (int64_t j0 = 0; j0 < p->OW; j0 += 16 * NC) {
        if (pf) dw_prefetch(p, x, i + DW_PF_ROWS, j0, S, NC);
        if (NC == 2 && j0 + 16 < p->OW) dw_block_direct(p, x, wo, b, yo, i, j0, R, 2, 3, S, E, lo, hi);
        else dw_block_direct(p, x, wo, b, yo, i, j0, R, 1, 3, S, E, lo, hi);
    }
}

/* dw_plane_k's blocks from the plane itself, output rows [i0, i1): 4 rows x 32 columns at
 * stride 1, 4 rows x 16 columns at stride 2 (with 32, GCC kept every load, permute and mask
 * of the block live at once and spilled them). */
DW_CASE void dw_rows_direct_k(const gc_dwconv *p, const float *x,
                              const float *wo, float b, float *yo, int64_t i0,
                              int64_t i1, const int S, const int E) {
    dw_vf lo, hi;
    for (int l = 0; l < 16; l++) lo[l] = p->epi_lo, hi[l] = p->epi_hi;
    int64_t i = i0;
    const int pf = p->H * p->W > DW_PF_PX;
    for (; i + 4 <= i1; i += 4) dw_block_row(p, x, wo, b, yo, i, 4, S, E, lo, hi, pf);
    if (i1 - i == 3) dw_block_row(p, x, wo, b, yo, i, 3, S, E, lo, hi, 0);
    else if (i1 - i == 2) dw_block_row(p, x, wo, b, yo, i, 2, S, E, lo, hi, 0);
    else if (i1 - i == 1) dw_block_row(p, x, wo, b, yo, i, 1, S, E, lo, hi, 0);
}

/* Output rows [i0, i1) of the M planes of input plane x, gc_dw_direct(p) true. */
static void dw_rows_direct(const gc_dwconv *p, const float *x, const float *w, const float *bias, float *y,
                           int64_t i0, int64_t i1) {
    const int64_t OHW = p->OH * p->OW;
    for (int64_t m = 0; m < p->M; m++) {
        const float *wo = w + m * 9;
        const float b = bias ? bias[m] : 0.0f;
        float *yo = y + m * OHW;
        if (p->SH == 1) {
            if (p->epi == GC_EPI_CLAMP) dw_rows_direct_k(p, x, wo, b, yo, i0, i1, 1, GC_EPI_CLAMP);
            else if (p->epi == GC_EPI_RELU) dw_rows_direct_k(p, x, wo, b, yo, i0, i1, 1, GC_EPI_RELU);
            else dw_rows_direct_k(p, x, wo, b, yo, i0, i1, 1, GC_EPI_NONE);
        } else {
            if (p->epi == GC_EPI_CLAMP) dw_rows_direct_k(p, x, wo, b, yo, i0, i1, 2, GC_EPI_CLAMP);
            else if (p->epi == GC_EPI_RELU) dw_rows_direct_k(p, x, wo, b, yo, i0, i1, 2, GC_EPI_RELU);
            else dw_rows_direct_k(p, x, wo, b, yo, i0, i1, 2, GC_EPI_NONE);
        }
    }
}

/* ---- AVX-512: small planes at stride 1 as flat arrays (gc_dw_flat) ----
 * With "same" padding at stride 1 (OW = W) the input of output o = i W + j under tap (u, v) is
 * x[o + (u - P) W + (v - P)], P = (K - 1) / 2: a constant offset, so 16 consecutive outputs of the
 * plane, across its rows, take each tap from one load at that offset, the lanes whose input lies
 * outside the plane (above, below, or across a left or right edge) masked off (zeros, as in the
 * padded copy; masked-off lanes are not read). A 7x7 plane is 4 vectors instead of 7 rows of 7
 * lanes, a 14x14 one 13 instead of 14. The masks depend only on the plane's shape: built once
 * per call (dw_flat_masks), for all its planes. The same products of the same values added in
 * the same order as from the padded plane, so the same bits. */
#define DW_FLAT_Q (GC_DW_FLAT_PX / 16) /* vectors of a plane, at most */

/* mk[q K K + u K + v]: the lanes of vector q whose tap (u, v) lies inside the plane, and of
 * those whose output o < H W (zero lanes past it load nothing). */
static void dw_flat_masks(const gc_dwconv *p, uint16_t *mk) {
    const int64_t H = p->H, W = p->W, HW = H * W, K = p->KH, P = (K - 1) / 2, nq = (HW + 15) / 16;
    for (int64_t q = 0; q < nq; q++) {
        unsigned rm[5] = {0}, cm[5] = {0}; /* lanes whose row i + u - P, column j + v - P is inside */
        for (int l = 0; l < 16; l++) {
            const int64_t o = 16 * q + l, i = o / W, j = o % W;
            if (o >= HW) break;
            for (int64_t u = 0; u < K; u++) {
                if (i + u - P >= 0 && i + u - P < H) rm[u] |= 1u << l;
                if (j + u - P >= 0 && j + u - P < W) cm[u] |= 1u << l;
            }
        }
        for (int64_t u = 0; u < K; u++)
            for (int64_t v = 0; v < K; v++) mk[(q * K + u) * K + v] = (uint16_t)(rm[u] & cm[v]);
    }
}

/* Vectors [q, q + R) of one output plane yo from input plane x (H W = HW floats), K and E
 * constant: R accumulators, taps in dw_block's order. */
DW_CASE void dw_flat_block(const float *x, int64_t W, int64_t HW,
                           const uint16_t *mk, const float *wo, float b,
                           float *yo, int64_t q, const int R, const int K,
                           const int E, dw_vf lo, dw_vf hi) {
    const int P = (K - 1) / 2;
    const dw_vf bv = (dw_vf){0} + b;
    dw_vf acc[4];
    #pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = bv;
    /* tap rows not unrolled: with all K K taps unrolled GCC issued the block's loads first and
       kept most of them on the stack (5x5: 100 vectors), 1.5x slower than the padded copy */
    #pragma GCC unroll 1
    for (int u = 0; u < K; u++)
        #pragma GCC unroll 5
        for (int v = 0; v < K; v++) {
            const float wv = wo[u * K + v];
            const float *xr = x + 16 * q + (u - P) * W + (v - P);
            #pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const dw_vf xv = (dw_vf)_mm512_maskz_loadu_ps((__mmask16)mk[((q + r) * K + u) * K + v], xr + 16 * r);
                acc[r] += wv * xv;
            }
        }
    #pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        const int64_t o = 16 * (q + r), n = HW - o < 16 ? HW - o : 16;
        DW_EPI(acc[r], E, lo, hi);
        DW_STORE(yo + o, acc[r], n);
    }
}

/* Planes t in [t0, t1) (t = image C + channel) of a call with gc_dw_flat(p), K and E constant. */
DW_CASE void dw_flat_k(const gc_dwconv *p, const float *x, const float *w,
                       const float *bias, float *y, int64_t t0, int64_t t1,
                       const uint16_t *mk, const int K, const int E) {
    const int64_t W = p->W, HW = p->H * W, nq = (HW + 15) / 16, KK = K * K;
    dw_vf lo, hi;
    for (int l = 0; l < 16; l++) lo[l] = p->epi_lo, hi[l] = p->epi_hi;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t c = t % p->C;
        const float *xt = x + t * HW;
        for (int64_t m = 0; m < p->M; m++) {
            const int64_t o = c * p->M + m;
            const float *wo = w + o * KK;
            const float b = bias ? bias[o] : 0.0f;
            float *yo = y + (t * p->M + m) * HW;
            int64_t q = 0;
            for (; q + 4 <= nq; q += 4) dw_flat_block(xt, W, HW, mk, wo, b, yo, q, 4, K, E, lo, hi);
            if (nq - q == 3) dw_flat_block(xt, W, HW, mk, wo, b, yo, q, 3, K, E, lo, hi);
            else if (nq - q == 2) dw_flat_block(xt, W, HW, mk, wo, b, yo, q, 2, K, E, lo, hi);
            else if (nq - q == 1) dw_flat_block(xt, W, HW, mk, wo, b, yo, q, 1, K, E, lo, hi);
        }
    }
}

#endif

#if defined(__AVX2__) && !defined(__AVX512F__)
/* ---- AVX2: the taps read straight from the input plane (dw_direct8) ----
 * As gc_dw_direct does with AVX-512, with 8-lane vectors: no padded copy; a tap row above or
 * below the plane reads a row of zeros (dw_zero_row), and a vector whose columns reach past
 * the left or right edge of its row loads with a mask (vmaskmovps: masked-off lanes are zeros
 * and are not read; slow-ish on AMD, so only such edge vectors take it, the others plain
 * loads). At stride 2 a tap's 8 columns (every other one) come from two loads and one
 * in-lane shuffle (vshufps: even or odd lanes), which leaves the outputs in the lane order
 * 0 1 4 5 2 3 6 7; every tap of a vector comes in that order, and one vpermpd puts the sums
 * back before the store. Each output gets the same products of the same values added in the
 * same order as from the padded plane, so the same bits. On a small plane the copy cost as much
 * as the taps (7x7: a memset and 7 memcpy calls for 63 vector taps), at stride 2 it copies four
 * inputs per output. */
static const float dw_zero_row[GC_DW_DIRECT_W + 128];

/* Lanes l of a load at column c whose column c + l is inside a row of W. */
static inline __m256i dw_mask8(int64_t c, int64_t W) {
    const int64_t lo = c < 0 ? (c < -8 ? 8 : -c) : 0, hi = W - c < 8 ? (W - c < 0 ? 0 : W - c) : 8;
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), idx),
                            _mm256_cmpgt_epi32(idx, _mm256_set1_epi32((int)lo - 1)));
}

/* y[0, n) = the first n lanes of v, 0 < n < 8, without vmaskmovps (a masked store is slow on
 * AMD: the last vector of every row of a 7x7 plane is one). */
static inline void dw_store_part8(float *y, __m256 v, int64_t n) {
    __m128 h = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(y, h);
        h = _mm256_extractf128_ps(v, 1);
        y += 4, n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)(void *)y, h);
        h = _mm_movehl_ps(h, h);
        y += 2, n -= 2;
    }
    if (n) _mm_store_ss(y, h);
}

/* Output rows [i, i + R), columns [j0, j0 + 8 NC) from the plane x (H, W) itself, K x K taps
 * at stride S; EDGE: some column a load reaches lies outside the row (masked loads), else
 * plain ones. */
DW_CASE void dw_block8(const gc_dwconv *p, const float *x, const float *wo,
                       float b, float *yo, int64_t i, int64_t j0, const int R,
                       const int NC, const int K, const int S, const int E,
                       const int EDGE, dw_vf lo, dw_vf hi) {
    const int64_t H = p->H, W = p->W, OW = p->OW, c0 = S * j0 - p->PW; /* first column read */
    const float *zr = dw_zero_row + 64;
    const float *rows[4 * 2 + 5]; /* input rows (i S - PH) + q, q < (R - 1) S + K, from column c0 */
    #pragma GCC unroll 16
    for (int q = 0; q < (R - 1) * S + K; q++) {
        const int64_t ir = i * S + q - p->PH;
        rows[q] = (ir >= 0 && ir < H ? x + ir * W : zr) + c0;
    }
    const dw_vf bv = (dw_vf){0} + b;
    dw_vf acc[4][3];
    #pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 3
        for (int c = 0; c < NC; c++) acc[r][c] = bv;
    #pragma GCC unroll 5
    for (int u = 0; u < K; u++)
        #pragma GCC unroll 5
        for (int v = 0; v < K; v++) {
            const float wv = wo[u * K + v];
            #pragma GCC unroll 3
            for (int c = 0; c < NC; c++) {
                /* S 1: columns c0 + 8 c + v on; S 2: the pair of loads at c0 + 16 c + (v & ~1) */
                const int64_t off = S == 1 ? 8 * c + v : 16 * c + (v & ~1);
                __m256i ma, mb;
                if (EDGE) {
                    ma = dw_mask8(c0 + off, W);
                    if (S == 2) mb = dw_mask8(c0 + off + 8, W);
                }
                #pragma GCC unroll 4
                for (int r = 0; r < R; r++) {
                    const float *xa = rows[r * S + u] + off;
                    dw_vf xv;
                    if (S == 1) {
                        xv = EDGE ? (dw_vf)_mm256_maskload_ps(xa, ma) : (dw_vf)_mm256_loadu_ps(xa);
                    } else {
                        const __m256 a = EDGE ? _mm256_maskload_ps(xa, ma) : _mm256_loadu_ps(xa);
                        const __m256 bb = EDGE ? _mm256_maskload_ps(xa + 8, mb) : _mm256_loadu_ps(xa + 8);
                        xv = (dw_vf)(v & 1 ? _mm256_shuffle_ps(a, bb, 0xDD) : _mm256_shuffle_ps(a, bb, 0x88));
                    }
                    acc[r][c] += wv * xv;
                }
            }
        }
    #pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 3
        for (int c = 0; c < NC; c++) {
            const int64_t j = j0 + 8 * c, n = OW - j < 8 ? OW - j : 8;
            dw_vf a = acc[r][c];
            if (S == 2) a = (dw_vf)_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd((__m256)a), 0xD8));
            DW_EPI(a, E, lo, hi);
            if (n == 8) _mm256_storeu_ps(yo + (i + r) * OW + j, (__m256)a);
            else if (n > 0) dw_store_part8(yo + (i + r) * OW + j, (__m256)a, n);
        }
}

/* Whether the vector of output columns [j, j + 8) reads only columns inside the row. */
static inline int dw_inside8(const gc_dwconv *p, int64_t j, const int K, const int S) {
    const int64_t c = S * j - p->PW;
    return c >= 0 && c + (S == 1 ? 7 + K - 1 : 15 + K - 1) < p->W;
}

/* One row of blocks (output rows i to i + R): blocks of 3 vectors (S 1) or 1 (S 2) where
 * every load is inside the row, single vectors with masked loads where not. */
DW_CASE void dw_row8(const gc_dwconv *p, const float *x, const float *wo,
                     float b, float *yo, int64_t i, const int R, const int K,
                     const int S, const int E, dw_vf lo, dw_vf hi) {
    const int64_t OW = p->OW;
    for (int64_t j0 = 0; j0 < OW;) {
        if (S == 1 && j0 + 16 < OW && dw_inside8(p, j0 + 16, K, S) && dw_inside8(p, j0, K, S)) {
            dw_block8(p, x, wo, b, yo, i, j0, R, 3, K, S, E, 0, lo, hi);
            j0 += 24;
        } else {
            if (dw_inside8(p, j0, K, S)) dw_block8(p, x, wo, b, yo, i, j0, R, 1, K, S, E, 0, lo, hi);
            else dw_block8(p, x, wo, b, yo, i, j0, R, 1, K, S, E, 1, lo, hi);
            j0 += 8;
        }
    }
}

DW_CASE void dw_plane8_k(const gc_dwconv *p, const float *x, const float *wo,
                         float b, float *yo, const int K, const int S,
                         const int E) {
    dw_vf lo, hi;
    for (int l = 0; l < 8; l++) lo[l] = p->epi_lo, hi[l] = p->epi_hi;
    int64_t i = 0;
    for (; i + 4 <= p->OH; i += 4) dw_row8(p, x, wo, b, yo, i, 4, K, S, E, lo, hi);
    if (p->OH - i == 3) dw_row8(p, x, wo, b, yo, i, 3, K, S, E, lo, hi);
    else if (p->OH - i == 2) dw_row8(p, x, wo, b, yo, i, 2, K, S, E, lo, hi);
    else if (p->OH - i == 1) dw_row8(p, x, wo, b, yo, i, 1, K, S, E, lo, hi);
}

DW_CASE void dw_plane8_e(const gc_dwconv *p, const float *x, const float *wo,
                         float b, float *yo, const int E) {
    if (p->KH == 3) p->SH == 1 ? dw_plane8_k(p, x, wo, b, yo, 3, 1, E) : dw_plane8_k(p, x, wo, b, yo, 3, 2, E);
    else p->SH == 1 ? dw_plane8_k(p, x, wo, b, yo, 5, 1, E) : dw_plane8_k(p, x, wo, b, yo, 5, 2, E);
}

/* The M output planes of input plane x, dw_direct8(p) true. */
static void dw_planes_direct8(const gc_dwconv *p, const float *x, const float *w, const float *bias, float *y) {
    const int64_t OHW = p->OH * p->OW, KK = p->KH * p->KW;
    for (int64_t m = 0; m < p->M; m++) {
        const float *wo = w + m * KK;
        const float b = bias ? bias[m] : 0.0f;
        float *yo = y + m * OHW;
        if (p->epi == GC_EPI_CLAMP) dw_plane8_e(p, x, wo, b, yo, GC_EPI_CLAMP);
        else if (p->epi == GC_EPI_RELU) dw_plane8_e(p, x, wo, b, yo, GC_EPI_RELU);
        else dw_plane8_e(p, x, wo, b, yo, GC_EPI_NONE);
    }
}
#endif

#if defined(__AVX2__) && !defined(__AVX512F__) && defined(DW_TX_CHAN8_NAME)
/* ---- AVX2: small planes 8 channels at a time (gc_dw_chan8_avx2) ----
 * On planes of up to 28x28 the row kernels spend most of their time on the edges (a 7x7 row
 * is one vector of 8 lanes with 7 used, every load masked) and on each plane's own setup. Here
 * 8 input planes are turned into one padded plane of 8-channel pixels (8x8 transposes; the
 * border zeros written once per call), each output pixel's 8 channels summed in one vector
 * (8 pixels of a row at a time: 8 accumulators, one weight vector per tap), and the 8 sums of
 * each channel transposed back into its plane. Each lane is one channel and adds its taps in
 * the same order, zeros of the padding included, so the same bits as the row kernels. */

/* The 8 vectors r[0..8) (8 floats each) transposed in place: r[k][l] = old r[l][k]. */
DW_CASE void dw_tr8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20), r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20), r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31), r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31), r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Output row i, pixels [j0, j0 + 8) of the 8 planes yo[l] = y + l OHW from the 8-channel
 * padded rows xt (rows of wp pixels; output row i reads rows ib S on), weights wt (K K
 * vectors), bias bv. */
DW_CASE void dw_chan8_block(const gc_dwconv *p, const float *xt, int64_t wp,
                            const dw_vf *wt, dw_vf bv, float *y, int64_t OHW,
                            int64_t i, int64_t ib, int64_t j0, const int K,
                            const int S, const int E, dw_vf lo, dw_vf hi) {
    dw_vf acc[8];
    #pragma GCC unroll 8
    for (int q = 0; q < 8; q++) acc[q] = bv;
    #pragma GCC unroll 1
    for (int u = 0; u < K; u++) {
        const float *xr = xt + ((ib * S + u) * wp + j0 * S) * 8;
        #pragma GCC unroll 5
        for (int v = 0; v < K; v++) {
            const dw_vf wv = wt[u * K + v];
            #pragma GCC unroll 8
            for (int q = 0; q < 8; q++) {
                dw_vf xv;
                memcpy(&xv, xr + (q * S + v) * 8, sizeof xv);
                acc[q] += wv * xv;
            }
        }
    }
    __m256 r[8];
    #pragma GCC unroll 8
    for (int q = 0; q < 8; q++) {
        DW_EPI(acc[q], E, lo, hi);
        r[q] = (__m256)acc[q];
    }
    dw_tr8(r);
    const int64_t OW = p->OW, n = OW - j0 < 8 ? OW - j0 : 8;
    float *yr = y + i * OW + j0;
    #pragma GCC unroll 8
    for (int l = 0; l < 8; l++) {
        if (n == 8) _mm256_storeu_ps(yr + l * OHW, r[l]);
        else dw_store_part8(yr + l * OHW, r[l], n);
    }
}

/* Output rows [i0, i1) from xt holding padded rows i0 S on. */
DW_CASE void dw_chan8_k(const gc_dwconv *p, const float *xt, int64_t wp,
                        const dw_vf *wt, dw_vf bv, float *y, int64_t i0,
                        int64_t i1, const int K, const int S, const int E) {
    dw_vf lo, hi;
    for (int l = 0; l < 8; l++) lo[l] = p->epi_lo, hi[l] = p->epi_hi;
    const int64_t OHW = p->OH * p->OW;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j0 = 0; j0 < p->OW; j0 += 8)
            dw_chan8_block(p, xt, wp, wt, bv, y, OHW, i, i - i0, j0, K, S, E, lo, hi);
}

/* Padded rows [r0, r1) of the 8 planes x + l H W into xt's rows 0 on (their left and right
 * padding stays zero; rows of the top or bottom padding are zeroed). A row of a plane is read
 * 8 columns at a time, the last 1-7 with a masked load only where a plain one would read past
 * the plane (elsewhere it reads on into the next row and zeros those lanes). */
static void dw_chan8_in(const gc_dwconv *p, const float *x, float *xt, int64_t wp, int64_t r0, int64_t r1) {
    const int64_t H = p->H, W = p->W, HW = H * W;
    for (int64_t pr = r0; pr < r1; pr++) {
        const int64_t h = pr - p->PH;
        if (h < 0 || h >= H) {
            memset(xt + (pr - r0) * wp * 8, 0, (size_t)wp * 8 * sizeof(float));
            continue;
        }
        for (int64_t w0 = 0; w0 < W; w0 += 8) {
            const int64_t n = W - w0 < 8 ? W - w0 : 8;
            const float *xs = x + h * W + w0;
            __m256 r[8];
            if (n == 8) {
                #pragma GCC unroll 8
                for (int l = 0; l < 8; l++) r[l] = _mm256_loadu_ps(xs + l * HW);
            } else if (h * W + w0 + 8 <= HW) { /* reads on into the next row, inside the plane */
                const __m256 m = _mm256_castsi256_ps(dw_mask8(0, n));
                #pragma GCC unroll 8
                for (int l = 0; l < 8; l++) r[l] = _mm256_and_ps(_mm256_loadu_ps(xs + l * HW), m);
            } else {
                const __m256i m = dw_mask8(0, n);
                #pragma GCC unroll 8
                for (int l = 0; l < 8; l++) r[l] = _mm256_maskload_ps(xs + l * HW, m);
            }
            dw_tr8(r);
            /* all 8 pixels: those past the row are zeros, landing in its right padding, the next
               row's left padding or columns of the next row (written after), or the slack */
            float *d = xt + ((pr - r0) * wp + w0 + p->PW) * 8;
            #pragma GCC unroll 8
            for (int k = 0; k < 8; k++) _mm256_storeu_ps(d + k * 8, r[k]);
        }
    }
}

void DW_TX_CHAN8_NAME(const gc_dwconv *p, const float *x, const float *w, const float *bias, float *y, int64_t t0,
                      int64_t t1, float *buf) {
    int64_t hp, wp;
    gc_dw_padded_size(p, &hp, &wp);
    const int64_t HW = p->H * p->W, OHW = p->OH * p->OW, KK = p->KH * p->KW, C = p->C, rows = dw_chan8_rows(p);
    int64_t t = t0;
    if (t1 - t0 >= 8) memset(buf, 0, (size_t)dw_chan8_floats(p) * sizeof(float));
    for (; t + 8 <= t1; t += 8) {
        dw_vf wt[25], bv;
        for (int64_t l = 0, c = t % C; l < 8; l++, c = c + 1 == C ? 0 : c + 1) {
            for (int64_t k = 0; k < KK; k++) wt[k][l] = w[c * KK + k];
            bv[l] = bias ? bias[c] : 0.0f;
        }
        float *yt = y + t * OHW;
        const int E = p->epi;
        for (int64_t i0 = 0; i0 < p->OH; i0 += rows) {
            const int64_t i1 = i0 + rows < p->OH ? i0 + rows : p->OH;
            const int64_t r1 = (i1 - 1) * p->SH + p->KH;
            dw_chan8_in(p, x + t * HW, buf, wp, i0 * p->SH, r1 < hp ? r1 : hp);
            if (p->KH == 3) {
                if (p->SH == 1) {
                    if (E == GC_EPI_CLAMP) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 3, 1, GC_EPI_CLAMP);
                    else if (E == GC_EPI_RELU) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 3, 1, GC_EPI_RELU);
                    else dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 3, 1, GC_EPI_NONE);
                } else {
                    if (E == GC_EPI_CLAMP) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 3, 2, GC_EPI_CLAMP);
                    else if (E == GC_EPI_RELU) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 3, 2, GC_EPI_RELU);
                    else dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 3, 2, GC_EPI_NONE);
                }
            } else {
                if (p->SH == 1) {
                    if (E == GC_EPI_CLAMP) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 5, 1, GC_EPI_CLAMP);
                    else if (E == GC_EPI_RELU) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 5, 1, GC_EPI_RELU);
                    else dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 5, 1, GC_EPI_NONE);
                } else {
                    if (E == GC_EPI_CLAMP) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 5, 2, GC_EPI_CLAMP);
                    else if (E == GC_EPI_RELU) dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 5, 2, GC_EPI_RELU);
                    else dw_chan8_k(p, buf, wp, wt, bv, yt, i0, i1, 5, 2, GC_EPI_NONE);
                }
            }
        }
    }
    for (; t < t1; t++) { /* the 1-7 planes left: the row kernels */
        const int64_t c = t % C;
        dw_planes_direct8(p, x + t * HW, w + c * KK, bias ? bias + c : NULL, y + t * OHW);
    }
}
#endif

#if defined(DW_TX_FLAT_NAME)
#if defined(__AVX512F__)
void DW_TX_FLAT_NAME(const gc_dwconv *p, const float *x, const float *w, const float *bias, float *y, int64_t t0,
                     int64_t t1) {
    uint16_t mk[DW_FLAT_Q * 25];
    dw_flat_masks(p, mk);
    if (p->KH == 3) {
        if (p->epi == GC_EPI_CLAMP) dw_flat_k(p, x, w, bias, y, t0, t1, mk, 3, GC_EPI_CLAMP);
        else if (p->epi == GC_EPI_RELU) dw_flat_k(p, x, w, bias, y, t0, t1, mk, 3, GC_EPI_RELU);
        else dw_flat_k(p, x, w, bias, y, t0, t1, mk, 3, GC_EPI_NONE);
    } else {
        if (p->epi == GC_EPI_CLAMP) dw_flat_k(p, x, w, bias, y, t0, t1, mk, 5, GC_EPI_CLAMP);
        else if (p->epi == GC_EPI_RELU) dw_flat_k(p, x, w, bias, y, t0, t1, mk, 5, GC_EPI_RELU);
        else dw_flat_k(p, x, w, bias, y, t0, t1, mk, 5, GC_EPI_NONE);
    }
}
#else
/* Built without AVX-512 (never called: gc_dwconv_forward takes this path only on that tier). */
void DW_TX_FLAT_NAME(const gc_dwconv *p, const float *x, const float *w, const float *bias, float *y, int64_t t0,
                     int64_t t1) {
    (void)p, (void)x, (void)w, (void)bias, (void)y, (void)t0, (void)t1;
}
#endif
#endif

/* dw_plane_k for the plane's (K, S), with the epilogue E. */
DW_CASE void dw_plane_e(const gc_dwconv *p, const float *xp, int64_t wp,
                        const float *wo, float b, float *yo, const int E) {
    if (p->KH == 3) p->SH == 1 ? dw_plane_k(p, xp, wp, wo, b, yo, 3, 1, E) : dw_plane_k(p, xp, wp, wo, b, yo, 3, 2, E);
    else p->SH == 1 ? dw_plane_k(p, xp, wp, wo, b, yo, 5, 1, E) : dw_plane_k(p, xp, wp, wo, b, yo, 5, 2, E);
}

void DW_TX_NAME(const gc_dwconv *p, const float *x, float *xp, const float *w, const float *bias, float *y) {
    int64_t hp, wp;
    gc_dw_padded_size(p, &hp, &wp);
    const int64_t KK = p->KH * p->KW, OHW = p->OH * p->OW, K = p->KH, S = p->SH;
    const int fast = p->DH == 1 && p->DW == 1 && p->KW == K && p->SW == S && (K == 3 || K == 5) && (S == 1 || S == 2);
#if defined(__AVX512F__)
    if (gc_dw_direct(p)) {
        (void)xp, (void)hp, (void)fast, (void)KK, (void)OHW;
        dw_rows_direct(p, x, w, bias, y, 0, p->OH);
        return;
    }
#endif
#if defined(__AVX2__) && !defined(__AVX512F__)
    if (dw_direct8(p)) {
        (void)xp, (void)hp, (void)fast, (void)KK, (void)OHW;
        dw_planes_direct8(p, x, w, bias, y);
        return;
    }
#endif
    if (fast && S == 2) {
        wp = (wp + 1) / 2 * 2;
        dw_pad_split(p, x, xp, hp, wp / 2);
    } else {
        dw_pad(p, x, xp, hp, wp);
    }
    for (int64_t m = 0; m < p->M; m++) {
        const float *wo = w + m * KK;
        const float b = bias ? bias[m] : 0.0f;
        float *yo = y + m * OHW;
        if (!fast) dw_plane_any(p, xp, wp, wo, b, yo);
        else if (p->epi == GC_EPI_CLAMP) dw_plane_e(p, xp, wp, wo, b, yo, GC_EPI_CLAMP);
        else if (p->epi == GC_EPI_RELU) dw_plane_e(p, xp, wp, wo, b, yo, GC_EPI_RELU);
        else dw_plane_e(p, xp, wp, wo, b, yo, GC_EPI_NONE);
    }
}
