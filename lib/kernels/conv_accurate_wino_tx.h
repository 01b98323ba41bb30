/* conv_accurate_wino_tx.h - Winograd F(4x4, 3x3)'s transforms in double for the accurate
 * convolution, 8 lanes at a time with the GNU vector extension. Included once per ISA with
 * AW_TX_NAME set (conv_accurate_wino.c, conv_accurate_avx2.c, conv_accurate_avx512.c); not a
 * header of its own. The matrices are winograd_tx.h's (winograd_f43.h). */
#include "kernels/winograd_f43.h"
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef double awv __attribute__((vector_size(64)));

/* aw_bt6, aw_g6, aw_at4: F(4x4, 3x3)'s B^T, G and A^T on columns of 8 doubles. */
WG_F43(awv, double, aw)

#if defined(__AVX512F__)
/* 16 floats of a row of W from column s, zero outside [0, W) (masked: nothing outside is read). */
static inline __m512 aw_row16(const float *row, int64_t W, int64_t s) {
    const int64_t lo = s < 0 ? (-s < 16 ? -s : 16) : 0, hi = W - s < 16 ? (W - s > 0 ? W - s : 0) : 16;
    const __mmask16 m = (__mmask16)(hi > lo ? ((1u << hi) - 1u) & ~((1u << lo) - 1u) : 0u);
    return _mm512_maskz_loadu_ps(m, (const float *)((uintptr_t)row + (uintptr_t)(s * 4)));
}
#endif

/* The 6x6 patches of one segment's tiles (lanes l < cnt; the rest unused) of channel xc. */
static inline void aw_patches(const aw_geom *g, const float *xc, const aw_seg *s, awv d[6][6]) {
    const gc_dconv *p = g->p;
    const int64_t H = p->H, W = p->W, h0 = 4 * s->ty - p->PH, w0 = 4 * s->tx - p->PW;
#if defined(__AVX512F__)
    /* lane l, column j: float 4l + j of the row from w0 (j < 4), or 4l + j - 4 from w0 + 4 */
    const __m512i pick[4] = {_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0),
                             _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 0, 0, 0, 0, 0, 0, 0, 0),
                             _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 0, 0, 0, 0, 0, 0, 0, 0),
                             _mm512_setr_epi32(3, 7, 11, 15, 19, 23, 27, 31, 0, 0, 0, 0, 0, 0, 0, 0)};
    for (int r = 0; r < 6; r++) {
        const int64_t ih = h0 + r;
        if (ih < 0 || ih >= H) {
            memset(d[r], 0, sizeof d[r]);
            continue;
        }
        const float *row = xc + ih * W;
        const __m512 a0 = aw_row16(row, W, w0), a1 = aw_row16(row, W, w0 + 16);
        const __m512 b0 = aw_row16(row, W, w0 + 4), b1 = aw_row16(row, W, w0 + 20);
        for (int j = 0; j < 6; j++) {
            const __m512 v = j < 4 ? _mm512_permutex2var_ps(a0, pick[j], a1) : _mm512_permutex2var_ps(b0, pick[j - 4], b1);
            d[r][j] = (awv)_mm512_cvtps_pd(_mm512_castps512_ps256(v));
        }
    }
#else
    double t[6][6][8] = {{{0}}};
    for (int l = 0; l < s->cnt; l++)
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 6; j++) {
                const int64_t ih = h0 + r, iw = w0 + 4 * l + j;
                t[r][j][l] = ih >= 0 && ih < H && iw >= 0 && iw < W ? xc[ih * W + iw] : 0.0;
            }
    memcpy(d, t, sizeof t);
#endif
}

/* n < 8 lanes of v to dst. */
static inline void aw_store_lanes(double *dst, awv v, int n) {
#if defined(__AVX512F__)
    _mm512_mask_storeu_pd(dst, (__mmask8)((1u << n) - 1u), (__m512d)v);
#else
    memcpy(dst, &v, (size_t)n * sizeof(double));
#endif
}

/* V (36, C, ld): items (c, segment); each segment's tiles to lanes tl .. tl + cnt - 1. */
static void aw_input(const aw_geom *g, const float *x, int64_t t0, int64_t tc, double *V, int64_t lo, int64_t hi) {
    const gc_dconv *p = g->p;
    const int64_t C = p->Ci, ns = aw_seg_count(g, t0, tc), ld = g->ld;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t c = it / ns;
        aw_seg s;
        if (!aw_seg_of(g, t0, tc, it % ns, &s)) continue;
        awv d[6][6], t[6][6], col[6], o6[6];
        aw_patches(g, x + c * p->H * p->W, &s, d);
        for (int r = 0; r < 6; r++) aw_bt6(d[r], t[r]);     /* rows: t = d B */
        for (int j = 0; j < 6; j++) {                       /* columns: B^T t */
            for (int r = 0; r < 6; r++) col[r] = t[r][j];
            aw_bt6(col, o6);
            for (int i = 0; i < 6; i++) {
                double *dst = V + ((i * 6 + j) * C + c) * ld + s.tl;
                if (s.cnt == 8) memcpy(dst, &o6[i], sizeof(awv));
                else aw_store_lanes(dst, o6[i], s.cnt);
            }
        }
        if (s.tl + s.cnt == tc)                              /* lanes the products read past tc: zero */
            for (int xi = 0; xi < 36; xi++)
                for (int64_t l = tc; l < (tc + 7) / 8 * 8; l++) V[(xi * C + c) * ld + l] = 0.0;
    }
}

/* The 9 taps of 8 input channels (lanes, n of them valid) from src, their 72 floats. */
static inline void aw_taps(const float *src, int n, awv g[9]) {
#if defined(__AVX512F__)
    if (n == 8) {
        const __m256i idx = _mm256_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63);
        for (int u = 0; u < 9; u++) g[u] = (awv)_mm512_cvtps_pd(_mm256_i32gather_ps(src + u, idx, 4));
        return;
    }
#endif
    double t[9][8] = {{0}};
    for (int l = 0; l < n; l++)
        for (int u = 0; u < 9; u++) t[u][l] = src[9 * l + u];
    memcpy(g, t, sizeof t);
}

/* U (36, np * mr, ACC_WROW): output channel o0 + r, input channel c0 + c of xi at
 * (xi * np * mr + r) * ACC_WROW + c; items (r, block of 8 channels), lanes the channels. */
static void aw_weights(const aw_geom *g, const float *w, int64_t o0, int64_t np, int64_t c0, int64_t cb, double *U,
                       int64_t lo, int64_t hi) {
    const gc_dconv *p = g->p;
    const int64_t C = p->Ci, rows = np * g->mr, nb = (cb + 7) / 8;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t r = it / nb, b = it % nb, o = o0 + r, n = cb - 8 * b < 8 ? cb - 8 * b : 8;
        awv gv[9], t[6][3], col[3], o6[6];
        if (o < p->Co) aw_taps(w + (o * C + c0 + 8 * b) * 9, (int)n, gv);
        else memset(gv, 0, sizeof gv);
        for (int j = 0; j < 3; j++) {                       /* columns: t[.][j] = G g[.][j] */
            for (int u = 0; u < 3; u++) col[u] = gv[3 * u + j];
            aw_g6(col, o6);
            for (int i = 0; i < 6; i++) t[i][j] = o6[i];
        }
        for (int i = 0; i < 6; i++) {                       /* rows: U[i][.] = t[i][.] G^T */
            aw_g6(t[i], o6);
            for (int j = 0; j < 6; j++) memcpy(U + ((i * 6 + j) * rows + r) * ACC_WROW + 8 * b, &o6[j], sizeof(awv));
        }
    }
}

/* y channels o0 + r (r < og) from M (36, rows, ld): items (r, segment). */
static void aw_output(const aw_geom *g, const double *M, int64_t rows, int64_t o0, int64_t og, int64_t t0, int64_t tc,
                      const float *bias, float *y, int64_t lo, int64_t hi) {
    const gc_dconv *p = g->p;
    const int64_t OH = p->OH, OW = p->OW, ns = aw_seg_count(g, t0, tc);
    (void)og;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t r = it / ns, o = o0 + r;
        aw_seg s;
        if (!aw_seg_of(g, t0, tc, it % ns, &s)) continue;
        awv m[6][6], tt[4][6], col[6], r4[4], v[4][4];
        for (int xi = 0; xi < 36; xi++) {
            const double *src = M + (xi * rows + r) * g->ld + s.tl;
#if defined(__AVX512F__)
            m[xi / 6][xi % 6] = (awv)_mm512_maskz_loadu_pd((__mmask8)((1u << s.cnt) - 1u), src);
#else
            double t[8] = {0};
            memcpy(t, src, (size_t)s.cnt * sizeof(double));
            memcpy(&m[xi / 6][xi % 6], t, sizeof t);
#endif
        }
        for (int j = 0; j < 6; j++) {                       /* columns: A^T m */
            for (int k = 0; k < 6; k++) col[k] = m[k][j];
            aw_at4(col, r4);
            for (int i = 0; i < 4; i++) tt[i][j] = r4[i];
        }
        const awv bv = (bias ? (double)bias[o] : 0.0) - (awv){0};
        for (int i = 0; i < 4; i++) {                       /* rows: t A */
            aw_at4(tt[i], r4);
            for (int j = 0; j < 4; j++) v[i][j] = r4[j] + bv;
        }
        float *yo = y + o * OH * OW;
        const int64_t i0 = 4 * s.ty, j0 = 4 * s.tx, nw = OW - j0 < 4 * s.cnt ? OW - j0 : 4 * s.cnt;
#if defined(__AVX512F__)
        /* output row i: float 4l + j of the 32 is v[i][j] lane l: two permutes of (v0|v1, v2|v3) */
        const __m512i lo16 = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
        const __m512i hi16 = _mm512_setr_epi32(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
        const __mmask16 mlo = (__mmask16)(nw >= 16 ? 0xFFFFu : (1u << nw) - 1u);
        const __mmask16 mhi = (__mmask16)(nw >= 32 ? 0xFFFFu : nw > 16 ? (1u << (nw - 16)) - 1u : 0u);
        for (int i = 0; i < 4 && i0 + i < OH; i++) {
            const __m512 a = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps((__m512d)v[i][0])),
                                                _mm512_cvtpd_ps((__m512d)v[i][1]), 1);
            const __m512 b = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps((__m512d)v[i][2])),
                                                _mm512_cvtpd_ps((__m512d)v[i][3]), 1);
            float *yr = yo + (i0 + i) * OW + j0;
            _mm512_mask_storeu_ps(yr, mlo, _mm512_permutex2var_ps(a, lo16, b));
            if (mhi) _mm512_mask_storeu_ps(yr + 16, mhi, _mm512_permutex2var_ps(a, hi16, b));
        }
#else
        double out[4][4][8];
        memcpy(out, v, sizeof out);
        for (int64_t i = 0; i < 4 && i0 + i < OH; i++)
            for (int64_t k = 0; k < nw; k++) yo[(i0 + i) * OW + j0 + k] = (float)out[i][k % 4][k / 4];
#endif
    }
}

const aw_tx AW_TX_NAME = {aw_input, aw_weights, aw_output};
