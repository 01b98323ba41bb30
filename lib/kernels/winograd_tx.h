/* winograd_tx.h - the F(4x4, 3x3) transforms, vectorised 16 lanes wide (input: tiles; weights and
 * output: output channels) with the GNU vector extension, plus AVX-512 masked loads / stores where
 * built with it. Included once per ISA with WG_TX_NAME set (winograd.c, winograd_avx2.c,
 * winograd_avx512.c); the arithmetic is the same in all three (no FMA contraction in ISO C
 * mode), so the transforms agree bit for bit across tiers. */
#include "kernels/winograd_internal.h"
#include "kernels/activation.h" /* GC_EPI_* */
#include "kernels/winograd_f43.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* The three transforms' storage class: winograd_avx2.c replaces the input and output ones with
 * its own 8-lane versions (and leaves these unused) and sets WG_TX_NAME only there. */
#ifndef WG_TX_STATIC
#define WG_TX_STATIC static
#endif

typedef float v16 __attribute__((vector_size(64)));
typedef int v16m __attribute__((vector_size(64)));   /* lane masks of comparisons */

/* wg_bt6, wg_g6, wg_at4: F(4x4, 3x3)'s B^T, G and A^T on columns of 16-lane vectors. */
WG_F43(v16, float, wg)

/* Unaligned access to 16 floats. */
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

/* d[k][l] = b[4l + k] for k < 6, l < 16, b the 68 floats of an input row segment given as
 * a[4h + q] = b[4h + 16q .. + 16) (h < 2, q < 4). GCC: stride-4 lanes picked with two-vector
 * shuffles (vpermt2ps under AVX-512); other compilers: scalar. */
static inline void deinterleave4(const v16 a[8], v16 d[6]) {
#if defined(__GNUC__) && !defined(__clang__)
    typedef int v16i __attribute__((vector_size(64)));
    const v16i lo = {0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28};
    const v16i merge = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    for (int h = 0; h < 2; h++)                   /* h = 1: the window shifted by 4 (k = 4, 5) */
        for (int k = 0; k < (h ? 2 : 4); k++) {
            const v16i m = lo + k;
            const v16 *b = a + 4 * h;
            d[4 * h + k] = __builtin_shuffle(__builtin_shuffle(b[0], b[1], m), __builtin_shuffle(b[2], b[3], m), merge);
        }
#else
    float as[8][16], ds[6][16];
    memcpy(as, a, sizeof as);
    for (int k = 0; k < 6; k++)
        for (int l = 0; l < 16; l++) ds[k][l] = as[(k >> 2) * 4 + (4 * l + (k & 3)) / 16][(4 * l + (k & 3)) % 16];
    memcpy(d, ds, sizeof ds);
#endif
}

/* d = deinterleave4 of the 68-float segment starting at column w0 of input row `row` (W floats; NULL:
 * outside the image), zero outside columns [0, W). AVX-512: masked loads from the row; else
 * through a zero-padded copy. */
static inline void load_row(const float *row, int64_t W, int64_t w0, v16 d[6]) {
    v16 a[8];
    const int64_t lo = w0 < 0 ? -w0 : 0, hi = W - w0 < 68 ? W - w0 : 68;   /* valid offsets [lo, hi) */
    if (!row || hi <= lo) {
        memset(d, 0, 6 * sizeof(v16));
        return;
    }
#if defined(__AVX512F__)
    for (int i = 0; i < 8; i++) {
        const int64_t off = 4 * (i / 4) + 16 * (i % 4), l0 = lo - off, l1 = hi - off;
        const unsigned m1 = l1 >= 16 ? 0xFFFFu : l1 <= 0 ? 0u : (1u << l1) - 1u;
        const unsigned m0 = l0 >= 16 ? 0xFFFFu : l0 <= 0 ? 0u : (1u << l0) - 1u;
        const __mmask16 m = (__mmask16)(m1 & ~m0);
        const float *src = (const float *)((uintptr_t)row + (uintptr_t)((w0 + off) * 4));   /* lanes < lo masked */
        if (m == 0xFFFF) a[i] = *(const v16u *)src;
        else a[i] = (v16)_mm512_maskz_loadu_ps(m, src);
    }
#else
    float b[68] = {0};
    memcpy(b + lo, row + w0 + lo, (size_t)(hi - lo) * sizeof(float));
    for (int i = 0; i < 8; i++) memcpy(&a[i], b + 4 * (i / 4) + 16 * (i % 4), sizeof(v16));
#endif
    deinterleave4(a, d);
}

#define WG_PF 4   /* input channels ahead to prefetch (items run channel by channel) */

/* The 36 transformed values (xi) of 16 tiles (lanes) of segment s, channel c. */
static inline void input_tile16(const gc_winograd *p, const float *x, int64_t c, const wg_seg *s, v16 o[36]) {
    const float *xp = x + (s->n * p->C + c) * p->H * p->W;     /* (H, W) */
    v16 d[6][6], t[6][6], col[6], o6[6];
    const int64_t w0 = 4 * s->tx - p->PW, pa = w0 < 0 ? 0 : w0, pb = p->W < w0 + 68 ? p->W : w0 + 68;
    for (int r = 0; r < 6; r++) {
        const int64_t ih = 4 * s->ty - p->PH + r;
        load_row(ih >= 0 && ih < p->H ? xp + ih * p->W : NULL, p->W, w0, d[r]);
        if (ih >= 0 && ih < p->H && c + WG_PF < p->C)        /* the same rows WG_PF channels on */
            for (int64_t col = pa; col < pb; col += 16) __builtin_prefetch(xp + WG_PF * p->H * p->W + ih * p->W + col);
    }
    for (int r = 0; r < 6; r++) wg_bt6(d[r], t[r]);            /* rows: t = d B */
    for (int j = 0; j < 6; j++) {                             /* columns: B^T t */
        for (int r = 0; r < 6; r++) col[r] = t[r][j];
        wg_bt6(col, o6);
        for (int i = 0; i < 6; i++) o[i * 6 + j] = o6[i];
    }
}

/* A = V^T (36, np, C, mr), np = ceil(tc / mr): tile t's row of xi at ((xi*np + t/mr)*C + c)*mr + t%mr;
 * rows past tc zero. Items [lo, hi) of the C * seg_count items (segment-major: neighbouring
 * items write neighbouring rows). */
WG_TX_STATIC void input_packed(const gc_winograd *p, const wg_plan *q, const float *x, int64_t t0, int64_t tc, int mr,
                         float *A, int64_t lo, int64_t hi) {
    const int64_t C = p->C, np = (tc + mr - 1) / mr, xs = wg_xsa(tc, mr, C);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t c = it % C;
        wg_seg s;
        if (!seg_of(q, t0, tc, it / C, &s)) continue;
        v16 o[36];
        input_tile16(p, x, c, &s, o);
#if defined(__AVX512F__)
        /* runs of lanes within one panel: lanes [l0, l0 + n) to row (tl + l0) % mr of panel (tl + l0) / mr */
        __m512i idx[3];
        __mmask16 msk[3];
        int64_t dst[3];
        int nrun = 0;
        for (int l0 = 0, n; l0 < s.cnt; l0 += n, nrun++) {
            const int64_t t = s.tl + l0, r = t % mr;
            n = (int)(mr - r < s.cnt - l0 ? mr - r : s.cnt - l0);
            idx[nrun] = _mm512_add_epi32(_mm512_set1_epi32(l0), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
            msk[nrun] = (__mmask16)((1u << n) - 1u);
            dst[nrun] = (t / mr) * C * mr + c * mr + r;
        }
        for (int xi = 0; xi < 36; xi++)
            for (int k = 0; k < nrun; k++)
                _mm512_mask_storeu_ps(A + xi * xs + dst[k], msk[k], _mm512_permutexvar_ps(idx[k], (__m512)o[xi]));
#else
        float ls[36][16];                                     /* (xi, tile of the segment) */
        int64_t off[16];                                      /* tile l of the segment -> panel offset */
        memcpy(ls, o, sizeof ls);
        for (int l = 0; l < s.cnt; l++) off[l] = ((s.tl + l) / mr) * C * mr + (s.tl + l) % mr + c * mr;
        for (int xi = 0; xi < 36; xi++)
            for (int l = 0; l < s.cnt; l++) A[xi * xs + off[l]] = ls[xi][l];
#endif
        if (s.tl + s.cnt == tc)                               /* pad rows of the last panel */
            for (int64_t t = tc; t < np * mr; t++)
                for (int xi = 0; xi < 36; xi++) A[xi * xs + (t / mr) * C * mr + t % mr + c * mr] = 0.0f;
    }
}

#if defined(__AVX2__) && !defined(__AVX512F__)
/* a[i][l] <-> a[l][i] (8 x 8): unpacks, in-lane shuffles, then 128-bit halves swapped. */
static inline void transpose8(__m256 a[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_ps(a[i], a[i + 1]), t[i + 1] = _mm256_unpackhi_ps(a[i], a[i + 1]);
    for (int i = 0; i < 8; i += 4) {
        s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44), s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44), s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) a[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20), a[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
}
#endif

/* r[i][l] <-> r[l][i] (16 x 16). AVX-512 (GCC): four butterfly stages of two-vector shuffles,
 * stage s swapping bit s of the row and the lane index; AVX2: four 8x8 blocks by intrinsics
 * (GCC lowers 16-lane GNU shuffles badly without AVX-512: the AVX2 tier ran 1.5x slower with
 * them); else scalar. */
static inline void transpose16(v16 r[16]) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
    typedef int v16i __attribute__((vector_size(64)));
    static const v16i lo[4] = {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
                               {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
                               {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
                               {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}};
    static const v16i hi[4] = {{1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31},
                               {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31},
                               {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31},
                               {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}};
    for (int b = 0; b < 4; b++) {
        const int s = 1 << b;
        for (int i = 0; i < 16; i++) {
            if (i & s) continue;
            const v16 a = r[i], c = r[i + s];
            r[i] = __builtin_shuffle(a, c, lo[b]);
            r[i + s] = __builtin_shuffle(a, c, hi[b]);
        }
    }
#elif defined(__AVX2__) && !defined(__AVX512F__)
    __m256 h[16][2], t[16][2];                                /* h[i][k]: lanes 8k..8k+8 of row i */
    memcpy(h, r, sizeof h);
    for (int bi = 0; bi < 2; bi++)                            /* 8x8 block (bi, bk) to (bk, bi) */
        for (int bk = 0; bk < 2; bk++) {
            __m256 a[8];
            for (int i = 0; i < 8; i++) a[i] = h[8 * bi + i][bk];
            transpose8(a);
            for (int i = 0; i < 8; i++) t[8 * bk + i][bi] = a[i];
        }
    memcpy(r, t, sizeof t);
#else
    float t[16][16], u[16][16];
    memcpy(t, r, sizeof t);
    for (int i = 0; i < 16; i++)
        for (int l = 0; l < 16; l++) u[l][i] = t[i][l];
    memcpy(r, u, sizeof u);
#endif
}

/* U^T of 16 output channels (lanes) for one input channel from the taps g[u][v]: xi's vector
 * to d + xi * xs (nr >= 16), or its halves to d and d + hs (nr == 8: two panels). */
static inline void weights16_store(v16 g[3][3], float *d, int64_t xs, int64_t hs, int nr) {
    v16 t[6][3], r[6];
    for (int j = 0; j < 3; j++) {                             /* columns: t[.][j] = G g[.][j] */
        v16 col[3] = {g[0][j], g[1][j], g[2][j]}, o6[6];
        wg_g6(col, o6);
        for (int i = 0; i < 6; i++) t[i][j] = o6[i];
    }
    for (int i = 0; i < 6; i++) {                             /* rows: U[i][.] = t[i][.] G^T */
        wg_g6(t[i], r);
        for (int j = 0; j < 6; j++) {
            float *dx = d + (i * 6 + j) * xs;
            if (nr >= 16) {
                *(v16u *)dx = r[j];
            } else {
                memcpy(dx, &r[j], 8 * sizeof(float));
                memcpy(dx + hs, (const float *)&r[j] + 8, 8 * sizeof(float));
            }
        }
    }
}

#define WG_WPF 2   /* blocks of 16 input channels ahead to prefetch */

/* B = U^T (36, WG_OCH/nr, cb, nr): output channel o0 + j, input channel c0 + k of xi at
 * ((xi*(WG_OCH/nr) + j/nr)*cb + k)*nr + j%nr; zero for o >= O. nr is 8 or a multiple of 16. */
WG_TX_STATIC void weights_packed(const gc_winograd *p, const float *w, int64_t o0, int64_t c0, int64_t cb, int nr,
                           float *B) {
    const int64_t C = p->C, O = p->O, xs = wg_xsb(cb);
#if defined(__AVX512F__)
    __m512i fi[9][5];                                         /* flip: tap u of lane l is float 9l + 8 - u of */
    __mmask16 fm[9][5];                                       /* the 144: from vector pair q2 = that / 32 */
    for (int u = 0; u < 9; u++)
        for (int q2 = 0; q2 < 5; q2++) {
            int ix[16];
            unsigned m = 0;
            for (int l = 0; l < 16; l++) {
                const int f = 9 * l + 8 - u;
                ix[l] = f - 32 * q2 >= 0 && f - 32 * q2 < 32 ? f - 32 * q2 : 0;
                if (f / 32 == q2) m |= 1u << l;
            }
            fi[u][q2] = _mm512_loadu_si512(ix);
            fm[u][q2] = (__mmask16)m;
        }
#endif
    for (int h = 0; h < WG_OCH / 16; h++) {
        const int64_t ob = o0 + 16 * h, n = O - ob < 16 ? (O - ob > 0 ? O - ob : 0) : 16;
        float *Bh = B + (nr >= 16 ? 16 * h / nr * cb * nr + 16 * h % nr : 2 * h * cb * nr);   /* lane 0, k = 0 */
        int64_t k = 0;
        if (!p->flip)   /* 16 channels at a time: 16 rows of 144 taps (o, c, u), transposed by 16x16 blocks */
            for (; k + 16 <= cb; k += 16) {
                v16 rows[9][16];                              /* (block of 16 columns, lane = column, row = o) */
                if (n < 16) memset(rows, 0, sizeof rows);
                for (int l = 0; l < n; l++) {
                    const float *wr = w + ((ob + l) * C + c0 + k) * 9;   /* (16 channels, 9 taps) */
                    for (int b = 0; b < 9; b++) rows[b][l] = *(const v16u *)(wr + 16 * b);
                    if (k + 16 * WG_WPF < cb)                 /* WG_WPF blocks ahead */
                        for (int b = 0; b < 9; b++) __builtin_prefetch(wr + 144 * WG_WPF + 16 * b);
                }
                for (int b = 0; b < 9; b++) transpose16(rows[b]);   /* rows[b][i]: tap 16b + i, lanes o */
                for (int cl = 0; cl < 16; cl++) {
                    v16 g[3][3];
                    for (int u = 0; u < 9; u++) g[u / 3][u % 3] = rows[(cl * 9 + u) / 16][(cl * 9 + u) % 16];
                    weights16_store(g, Bh + (k + cl) * nr, xs, cb * nr, nr);
                }
            }
        for (; k < cb; k++) {                                 /* one channel: taps gathered */
            const int64_t c = c0 + k;
            float gs[9][16];                                  /* taps, output-channel-minor */
            v16 g[3][3];
#if defined(__AVX512F__)
            if (p->flip && n == 16) {   /* the 16 channels' taps are 144 consecutive floats: lanes picked by permutes */
                const float *src = w + (c * O + ob) * 9;     /* (16 output channels, 9 taps) */
                __m512 v[10];
                for (int b = 0; b < 9; b++) v[b] = _mm512_loadu_ps(src + 16 * b);
                v[9] = v[8];
                for (int u = 0; u < 9; u++) {
                    __m512 acc = _mm512_setzero_ps();
                    for (int q2 = 0; q2 < 5; q2++)
                        acc = _mm512_mask_mov_ps(acc, fm[u][q2], _mm512_permutex2var_ps(v[2 * q2], fi[u][q2], v[2 * q2 + 1]));
                    g[u / 3][u % 3] = (v16)acc;
                }
                weights16_store(g, Bh + k * nr, xs, cb * nr, nr);
                continue;
            }
#endif
            if (n < 16) memset(gs, 0, sizeof gs);
            if (!p->flip)
                for (int64_t l = 0; l < n; l++)
                    for (int u = 0; u < 9; u++) gs[u][l] = w[((ob + l) * C + c) * 9 + u];
            else
                for (int64_t l = 0; l < n; l++)
                    for (int u = 0; u < 9; u++) gs[u][l] = w[(c * O + ob + l) * 9 + 8 - u];
            memcpy(g, gs, sizeof g);
            weights16_store(g, Bh + k * nr, xs, cb * nr, nr);
        }
    }
}

/* Bit k: lane k > 0. */
static inline uint16_t relu_bits(v16 v) {
#if defined(__AVX512F__)
    return (uint16_t)_mm512_cmp_ps_mask((__m512)v, _mm512_setzero_ps(), _CMP_GT_OQ);
#else
    unsigned b = 0;
    for (int k = 0; k < 16; k++) b |= (unsigned)(v[k] > 0.0f) << k;
    return (uint16_t)b;
#endif
}

/* y[:, o0 : min(o0 + WG_OCH, O)] of tiles [t0, t0 + tc) from M^T (36, tc, WG_OCH), plus bias, through
 * the fused activation p->epi (the bits of the activation's own loop; a ReLU's mask bits too). */
WG_TX_STATIC void output_packed(const gc_winograd *p, const wg_plan *q, const float *Mt, int64_t o0, int64_t t0,
                          int64_t tc, const float *bias, float *y) {
    const int64_t TT = q->TH * q->TW, O = p->O, xm = wg_xsm(tc), OW = p->OW;
    for (int h = 0; h < WG_OCH / 16 && o0 + 16 * h < O; h++) {
        const int64_t ob = o0 + 16 * h, nl = O - ob < 16 ? O - ob : 16;
        float bs[16] = {0};                                   /* bias of the 16 output channels */
        v16 bv;
        if (bias) memcpy(bs, bias + ob, (size_t)nl * sizeof(float));
        memcpy(&bv, bs, sizeof bv);
        v16 lov, hiv;                                         /* the clamp's bounds, every lane */
        for (int k = 0; k < 16; k++) lov[k] = p->epi_lo, hiv[k] = p->epi_hi;
        for (int64_t tl = 0; tl < tc; tl++) {
            const int64_t t = t0 + tl, n = t / TT, ty = t % TT / q->TW, tx = t % q->TW;
            const int64_t nh = p->OH - 4 * ty < 4 ? p->OH - 4 * ty : 4, nw = OW - 4 * tx < 4 ? OW - 4 * tx : 4;
            v16 m[6][6], tt[4][6], col[6], r4[4], r[16];          /* r[4i + j]: output (i, j), lanes o */
            for (int i = 0; i < 36; i++) m[i / 6][i % 6] = *(const v16u *)(Mt + i * xm + tl * WG_OCH + 16 * h);
            for (int j = 0; j < 6; j++) {                     /* columns: A^T m */
                for (int k = 0; k < 6; k++) col[k] = m[k][j];
                wg_at4(col, r4);
                for (int i = 0; i < 4; i++) tt[i][j] = r4[i];
            }
            for (int i = 0; i < 4; i++) {                     /* rows: t A */
                wg_at4(tt[i], r4);
                for (int j = 0; j < 4; j++) r[4 * i + j] = r4[j] + bv;
            }
            if (p->epi == GC_EPI_RELU)                         /* a fused activation: v > 0 ? v : 0 */
                for (int k = 0; k < 16; k++) r[k] = (v16)((v16m)r[k] & (r[k] > 0.0f));
            else if (p->epi == GC_EPI_CLAMP)                   /* u = v < lo ? lo : v; u > hi ? hi : u */
                for (int k = 0; k < 16; k++) {
                    const v16m below = r[k] < lov, u = ((v16m)lov & below) | ((v16m)r[k] & ~below);
                    const v16m above = (v16)u > hiv;
                    r[k] = (v16)(((v16m)hiv & above) | (u & ~above));
                }
            transpose16(r);                                   /* r[l]: the 4x4 outputs of channel ob + l */
            for (int64_t l = 0; p->epi_bits && l < nl; l++)   /* a fused ReLU's bits, one tile per uint16 */
                p->epi_bits[(n * O + ob + l) * TT + ty * q->TW + tx] = relu_bits(r[l]);
            float *yt = y + ((n * O + ob) * p->OH + 4 * ty) * OW + 4 * tx;   /* (OH, OW) of channel ob */
            if (nh == 4 && nw == 4)
                for (int64_t l = 0; l < nl; l++)
                    for (int i = 0; i < 4; i++) memcpy(yt + l * p->OH * OW + i * OW, (const float *)&r[l] + 4 * i, 4 * sizeof(float));
            else
                for (int64_t l = 0; l < nl; l++) {
                    float v[16];
                    memcpy(v, &r[l], sizeof v);
                    for (int64_t i = 0; i < nh; i++)
                        for (int64_t j = 0; j < nw; j++) yt[l * p->OH * OW + i * OW + j] = v[4 * i + j];
                }
        }
    }
}

#ifdef WG_TX_NAME
const gc_wg_tx WG_TX_NAME = {input_packed, weights_packed, output_packed};
#endif
