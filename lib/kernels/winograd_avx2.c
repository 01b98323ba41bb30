/* winograd_avx2.c - the Winograd transforms built with AVX2 flags, 8 lanes of __m256 wide. winograd_tx.h's 16-lane GNU vectors are lowered by GCC without AVX-512 to
 * scalar lane moves and stack copies (the stride-4 shuffles, the 16x16 transposes, the zero-padded
 * row copies): on Zen 3 its input and output transforms took as long as the products, its weights'
 * transform (each call where the weights are not kept) twice as long. The same
 * arithmetic (WG_F43 on 8 lanes, no contraction in ISO C), so the same bits as the portable
 * transforms (test_conv_fast: winograd_avx2_transforms). */
#define WG_TX_STATIC static __attribute__((unused))
#include "kernels/winograd_tx.h"

#if defined(__AVX2__) && !defined(__AVX512F__)

typedef float v8 __attribute__((vector_size(32)));

/* wg8_bt6, wg8_g6, wg8_at4: F(4x4, 3x3)'s B^T, G and A^T on columns of 8-lane vectors. */
WG_F43(v8, float, wg8)

/* Floats [4j, 4j + 4) of the window from column w0 of a row, zero outside its valid offsets
 * [lo, hi): a plain load inside, a masked one (lanes before the row never read) across an edge. */
static inline __m128 quad(const float *row, int64_t w0, int64_t lo, int64_t hi, int j) {
    const int64_t a = 4 * j;
    const float *src = (const float *)((uintptr_t)row + (uintptr_t)((w0 + a) * 4));
    if (a >= lo && a + 4 <= hi) return _mm_loadu_ps(src);
    if (a + 4 <= lo || a >= hi) return _mm_setzero_ps();
    const __m128i iota = _mm_setr_epi32(0, 1, 2, 3);
    const __m128i m = _mm_and_si128(_mm_cmpgt_epi32(_mm_set1_epi32((int)(hi - a)), iota),
                                    _mm_cmpgt_epi32(iota, _mm_set1_epi32((int)(lo - a) - 1)));
    return _mm_maskload_ps(src, m);
}

/* d[k] lane l = float 32h + 4l + k of the 68-float window from column w0 of row (NULL: outside
 * the image), zero outside the valid offsets [lo, hi): the 16-lane deinterleave4's half h, by
 * 4x4 transposes of the tiles' quads. */
static inline void load_row8(const float *row, int64_t w0, int64_t lo, int64_t hi, int h, v8 d[6]) {
    if (!row || hi <= lo) {
        for (int k = 0; k < 6; k++) d[k] = (v8){0};
        return;
    }
    __m128 qd[9];
    __m256 r[5];                                              /* r[j]: quads j and j + 4 of the half */
    for (int j = 0; j < 9; j++) qd[j] = quad(row, w0, lo, hi, 8 * h + j);
    for (int j = 0; j < 5; j++) r[j] = _mm256_insertf128_ps(_mm256_castps128_ps256(qd[j]), qd[j + 4], 1);
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 u0 = _mm256_unpacklo_ps(r[1], r[2]), u2 = _mm256_unpacklo_ps(r[3], r[4]);   /* shifted one tile */
    d[0] = (v8)_mm256_shuffle_ps(t0, t2, 0x44), d[1] = (v8)_mm256_shuffle_ps(t0, t2, 0xEE);
    d[2] = (v8)_mm256_shuffle_ps(t1, t3, 0x44), d[3] = (v8)_mm256_shuffle_ps(t1, t3, 0xEE);
    d[4] = (v8)_mm256_shuffle_ps(u0, u2, 0x44), d[5] = (v8)_mm256_shuffle_ps(u0, u2, 0xEE);
}

/* The 36 transformed values (xi) of tiles [8h, 8h + 8) (lanes) of segment s, channel c. */
static inline void input_tile8(const gc_winograd *p, const float *x, int64_t c, const wg_seg *s, int h, v8 o[36]) {
    const float *xp = x + (s->n * p->C + c) * p->H * p->W;     /* (H, W) */
    v8 d[6][6], t[6][6], col[6], o6[6];
    const int64_t w0 = 4 * s->tx - p->PW, lo = w0 < 0 ? -w0 : 0, hi = p->W - w0 < 68 ? p->W - w0 : 68;
    const int64_t pa = w0 < 0 ? 0 : w0, pb = p->W < w0 + 68 ? p->W : w0 + 68;
    for (int r = 0; r < 6; r++) {
        const int64_t ih = 4 * s->ty - p->PH + r;
        load_row8(ih >= 0 && ih < p->H ? xp + ih * p->W : NULL, w0, lo, hi, h, d[r]);
        if (!h && ih >= 0 && ih < p->H && c + WG_PF < p->C)   /* the same rows WG_PF channels on */
            for (int64_t cl = pa; cl < pb; cl += 16) __builtin_prefetch(xp + WG_PF * p->H * p->W + ih * p->W + cl);
    }
    for (int r = 0; r < 6; r++) wg8_bt6(d[r], t[r]);          /* rows: t = d B */
    for (int j = 0; j < 6; j++) {                             /* columns: B^T t */
        for (int r = 0; r < 6; r++) col[r] = t[r][j];
        wg8_bt6(col, o6);
        for (int i = 0; i < 6; i++) o[i * 6 + j] = o6[i];
    }
}

/* d + xi * xs <- lanes [l0, l0 + n) of o[xi] for the 36 xi, 1 <= n <= 8: two fixed-size copies
 * that overlap inside the run (nothing outside it is written: the rows around are other
 * channels'). */
static inline void store_run(float *d, int64_t xs, const v8 o[36], int l0, int n) {
    const char *s = (const char *)o + 4 * l0;                /* lane l0 of o[0]; o[xi] 32 bytes on */
    if (n >= 4)
        for (int xi = 0; xi < 36; xi++) {
            memcpy(d + xi * xs, s + 32 * xi, 4 * sizeof(float));
            memcpy(d + xi * xs + n - 4, s + 32 * xi + 4 * (n - 4), 4 * sizeof(float));
        }
    else if (n >= 2)
        for (int xi = 0; xi < 36; xi++) {
            memcpy(d + xi * xs, s + 32 * xi, 2 * sizeof(float));
            memcpy(d + xi * xs + n - 2, s + 32 * xi + 4 * (n - 2), 2 * sizeof(float));
        }
    else
        for (int xi = 0; xi < 36; xi++) memcpy(d + xi * xs, s + 32 * xi, sizeof(float));
}

/* U^T of 8 output channels (lanes) for one input channel from the taps g[u][v]: xi's vector to
 * d + xi * xs (weights16_store's arithmetic, in its order). */
static inline void weights8_store(v8 g[3][3], float *d, int64_t xs) {
    v8 t[6][3], r[6];
    for (int j = 0; j < 3; j++) {                             /* columns: t[.][j] = G g[.][j] */
        v8 col[3] = {g[0][j], g[1][j], g[2][j]}, o6[6];
        wg8_g6(col, o6);
        for (int i = 0; i < 6; i++) t[i][j] = o6[i];
    }
    for (int i = 0; i < 6; i++) {                             /* rows: U[i][.] = t[i][.] G^T */
        wg8_g6(t[i], r);
        for (int j = 0; j < 6; j++) _mm256_storeu_ps(d + (i * 6 + j) * xs, (__m256)r[j]);
    }
}

/* weights_packed (winograd_tx.h) 8 output channels at a time (nr a multiple of 8): unflipped,
 * 8 input channels' 72 taps per output channel as 9 vectors, transposed by 8x8 blocks; flipped
 * (the input gradient's), the 8 channels' taps gathered. */
static void weights_avx2(const gc_winograd *p, const float *w, int64_t o0, int64_t c0, int64_t cb, int nr, float *B) {
    const int64_t C = p->C, O = p->O, xs = wg_xsb(cb);
    const __m256i flip_idx = _mm256_setr_epi32(8, 17, 26, 35, 44, 53, 62, 71);   /* tap 0 of lane l: 9l + 8 */
    for (int g = 0; g < WG_OCH / 8; g++) {
        const int64_t ob = o0 + 8 * g, n = O - ob < 8 ? (O - ob > 0 ? O - ob : 0) : 8;
        float *Bg = B + 8 * g / nr * cb * nr + 8 * g % nr;    /* lane 0, k = 0 */
        int64_t k = 0;
        if (!p->flip)   /* 8 channels at a time: 8 rows of 72 taps (o, c, u), transposed by 8x8 blocks */
            for (; k + 8 <= cb; k += 8) {
                __m256 rows[9][8];                            /* (block of 8 columns, lane = column, row = o) */
                for (int l = 0; l < 8; l++) {
                    if (l >= n) {
                        for (int b = 0; b < 9; b++) rows[b][l] = _mm256_setzero_ps();
                        continue;
                    }
                    const float *wr = w + ((ob + l) * C + c0 + k) * 9;   /* (8 channels, 9 taps) */
                    for (int b = 0; b < 9; b++) rows[b][l] = _mm256_loadu_ps(wr + 8 * b);
                    if (k + 8 * WG_WPF < cb)                  /* WG_WPF blocks ahead */
                        for (int b = 0; b < 9; b += 2) __builtin_prefetch(wr + 72 * WG_WPF + 8 * b);
                }
                for (int b = 0; b < 9; b++) transpose8(rows[b]);   /* rows[b][i]: tap 8b + i, lanes o */
                for (int cl = 0; cl < 8; cl++) {
                    v8 gv[3][3];
                    for (int u = 0; u < 9; u++) gv[u / 3][u % 3] = (v8)rows[(cl * 9 + u) / 8][(cl * 9 + u) % 8];
                    weights8_store(gv, Bg + (k + cl) * nr, xs);
                }
            }
        for (; k < cb; k++) {                                 /* one channel: taps gathered */
            const int64_t c = c0 + k;
            v8 gv[3][3];
            if (p->flip && n == 8) {   /* the 8 channels' taps are 72 consecutive floats */
                const float *src = w + (c * O + ob) * 9;
                for (int u = 0; u < 9; u++)
                    gv[u / 3][u % 3] = (v8)_mm256_i32gather_ps(src, _mm256_sub_epi32(flip_idx, _mm256_set1_epi32(u)), 4);
            } else {
                float gs[9][8] = {{0}};                       /* taps, output-channel-minor */
                if (!p->flip)
                    for (int64_t l = 0; l < n; l++)
                        for (int u = 0; u < 9; u++) gs[u][l] = w[((ob + l) * C + c) * 9 + u];
                else
                    for (int64_t l = 0; l < n; l++)
                        for (int u = 0; u < 9; u++) gs[u][l] = w[(c * O + ob + l) * 9 + 8 - u];
                memcpy(gv, gs, sizeof gv);
            }
            weights8_store(gv, Bg + k * nr, xs);
        }
    }
}

/* input_packed (winograd_tx.h) 8 tiles at a time: the same layout, items and zero rows; a
 * segment's second half only where it has more than 8 tiles. */
static void input_avx2(const gc_winograd *p, const wg_plan *q, const float *x, int64_t t0, int64_t tc, int mr,
                       float *A, int64_t lo, int64_t hi) {
    const int64_t C = p->C, np = (tc + mr - 1) / mr, xs = wg_xsa(tc, mr, C);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t c = it % C;
        wg_seg s;
        if (!seg_of(q, t0, tc, it / C, &s)) continue;
        for (int h = 0; 8 * h < s.cnt; h++) {
            v8 o[36];                                         /* (xi, tile of the half) */
            input_tile8(p, x, c, &s, h, o);
            const int cnt = s.cnt - 8 * h < 8 ? s.cnt - 8 * h : 8;
            for (int l0 = 0, n; l0 < cnt; l0 += n) {          /* runs of lanes within one panel */
                const int64_t t = s.tl + 8 * h + l0, r = t % mr;
                n = (int)(mr - r < cnt - l0 ? mr - r : cnt - l0);
                store_run(A + (t / mr) * C * mr + c * mr + r, xs, o, l0, n);
            }
        }
        if (s.tl + s.cnt == tc)                               /* pad rows of the last panel */
            for (int64_t t = tc; t < np * mr; t++)
                for (int xi = 0; xi < 36; xi++) A[xi * xs + (t / mr) * C * mr + t % mr + c * mr] = 0.0f;
    }
}

/* output_packed (winograd_tx.h) 8 output channels at a time: the 16 outputs of a tile in
 * lanes of channels, then two 8x8 transposes give each channel its rows 0-1 and 2-3. */
#define WG_OPF 2   /* tiles ahead to prefetch in the output transform */

static void output_avx2(const gc_winograd *p, const wg_plan *q, const float *Mt, int64_t o0, int64_t t0, int64_t tc,
                        const float *bias, float *y) {
    const int64_t TT = q->TH * q->TW, O = p->O, xm = wg_xsm(tc), OW = p->OW, plane = p->OH * p->OW;
    const __m256 zero = _mm256_setzero_ps(), lov = _mm256_set1_ps(p->epi_lo), hiv = _mm256_set1_ps(p->epi_hi);
    const int ng = (int)((O - o0 + 7) / 8 < WG_OCH / 8 ? (O - o0 + 7) / 8 : WG_OCH / 8);   /* groups of 8 channels */
    v8 bv[WG_OCH / 8];                                        /* their biases */
    for (int g = 0; g < ng; g++) {
        const int64_t ob = o0 + 8 * g, nl = O - ob < 8 ? O - ob : 8;
        float bs[8] = {0};
        if (bias) memcpy(bs, bias + ob, (size_t)nl * sizeof(float));
        memcpy(&bv[g], bs, sizeof bs);
    }
    /* tile by tile, all groups of its M^T rows (lines read once, the next tiles' fetched meanwhile:
     * the 36 xi rows of a tile are 36 streams the hardware prefetcher does not follow) */
    for (int64_t tl = 0; tl < tc; tl++) {
        const int64_t t = t0 + tl, n = t / TT, ty = t % TT / q->TW, tx = t % q->TW;
        const int64_t nh = p->OH - 4 * ty < 4 ? p->OH - 4 * ty : 4, nw = OW - 4 * tx < 4 ? OW - 4 * tx : 4;
        if (tl + WG_OPF < tc)
            for (int i = 0; i < 36; i++)
                for (int k = 0; k < ng; k += 2) __builtin_prefetch(Mt + i * xm + (tl + WG_OPF) * WG_OCH + 8 * k);
        for (int g = 0; g < ng; g++) {
            const int64_t ob = o0 + 8 * g, nl = O - ob < 8 ? O - ob : 8;
            v8 m[36], tt[4][6], col[6], r4[4];
            __m256 r[16];                                     /* r[4i + j]: output (i, j), lanes o */
            for (int i = 0; i < 36; i++) m[i] = (v8)_mm256_loadu_ps(Mt + i * xm + tl * WG_OCH + 8 * g);
            for (int j = 0; j < 6; j++) {                     /* columns: A^T m */
                for (int k = 0; k < 6; k++) col[k] = m[6 * k + j];
                wg8_at4(col, r4);
                for (int i = 0; i < 4; i++) tt[i][j] = r4[i];
            }
            for (int i = 0; i < 4; i++) {                     /* rows: t A */
                wg8_at4(tt[i], r4);
                for (int j = 0; j < 4; j++) r[4 * i + j] = (__m256)(r4[j] + bv[g]);
            }
            if (p->epi == GC_EPI_RELU)                         /* v > 0 ? v : 0 */
                for (int k = 0; k < 16; k++) r[k] = _mm256_and_ps(r[k], _mm256_cmp_ps(r[k], zero, _CMP_GT_OQ));
            else if (p->epi == GC_EPI_CLAMP)                   /* u = v < lo ? lo : v; u > hi ? hi : u */
                for (int k = 0; k < 16; k++) {
                    const __m256 u = _mm256_blendv_ps(r[k], lov, _mm256_cmp_ps(r[k], lov, _CMP_LT_OQ));
                    r[k] = _mm256_blendv_ps(u, hiv, _mm256_cmp_ps(u, hiv, _CMP_GT_OQ));
                }
            transpose8(r);                                    /* r[l]: outputs 0-7 of channel ob + l */
            transpose8(r + 8);                                /* r[8 + l]: outputs 8-15 */
            for (int64_t l = 0; p->epi_bits && l < nl; l++)   /* a fused ReLU's bits, one tile per uint16 */
                p->epi_bits[(n * O + ob + l) * TT + ty * q->TW + tx] =
                    (uint16_t)(_mm256_movemask_ps(_mm256_cmp_ps(r[l], zero, _CMP_GT_OQ)) |
                               _mm256_movemask_ps(_mm256_cmp_ps(r[8 + l], zero, _CMP_GT_OQ)) << 8);
            float *yt = y + ((n * O + ob) * p->OH + 4 * ty) * OW + 4 * tx;   /* (OH, OW) of channel ob */
            if (nh == 4 && nw == 4)
                for (int64_t l = 0; l < nl; l++) {
                    float *yl = yt + l * plane;
                    _mm_storeu_ps(yl, _mm256_castps256_ps128(r[l]));
                    _mm_storeu_ps(yl + OW, _mm256_extractf128_ps(r[l], 1));
                    _mm_storeu_ps(yl + 2 * OW, _mm256_castps256_ps128(r[8 + l]));
                    _mm_storeu_ps(yl + 3 * OW, _mm256_extractf128_ps(r[8 + l], 1));
                }
            else
                for (int64_t l = 0; l < nl; l++) {
                    float v[16];
                    _mm256_storeu_ps(v, r[l]);
                    _mm256_storeu_ps(v + 8, r[8 + l]);
                    for (int64_t i = 0; i < nh; i++)
                        for (int64_t j = 0; j < nw; j++) yt[l * plane + i * OW + j] = v[4 * i + j];
                }
        }
    }
}

/* gc_gemm_ukernel_avx2_6x16 (gemm_avx2.c) with B fetched WG_BPF k steps ahead (a line of B a
 * step; also in the 4x16 below): the U^T blocks a call reads once from memory (4x the weights:
 * 9.4 MB for a 256 x 256 layer, 37.7 MB for 512 x 512) came in at ~5 GB/s of the core's ~13.
 * Zen 3, 1 thread, gcprof ResNet-50: layer3.x.conv2 1.47-1.57 -> 1.36-1.45 ms, layer4.x.conv2
 * (4x16) 2.8 -> 2.15-2.3; 64 steps ahead was as good for 6x16, worse for 4x16 (2.5). The same
 * arithmetic, so the same bits (test_conv_fast: winograd_avx2_kernels_same_bits). */
#define WG_BPF 32
void gc_wg_ukernel_avx2_6x16(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta,
                             int m, int n, const float *bias) {
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
    ROWS6(DECL)
#undef DECL
    for (int i = 0; i < 6 && i < m; i++) {                    /* C is only touched after the k loop */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < k; p++, a += 6, b += 16) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        _mm_prefetch((const char *)(b + 16 * WG_BPF), _MM_HINT_T0);
#define STEP(i)                                                                            \
    {                                                                                      \
        const __m256 ai = _mm256_broadcast_ss(a + i);                                      \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                        \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                                        \
    }
        ROWS6(STEP)
#undef STEP
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota), k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), iota);
    const int full = n == 16;
#define STORE(i)                                                                           \
    if (i < m) {                                                                           \
        float *ci = c + (int64_t)i * ldc;                                                  \
        __m256 r0 = _mm256_mul_ps(va, c##i##0), r1 = _mm256_mul_ps(va, c##i##1);           \
        if (beta != 0.0f) {                                                                \
            r0 = _mm256_fmadd_ps(vb, full ? _mm256_loadu_ps(ci) : _mm256_maskload_ps(ci, k0), r0); \
            r1 = _mm256_fmadd_ps(vb, full ? _mm256_loadu_ps(ci + 8) : _mm256_maskload_ps(ci + 8, k1), r1); \
        }                                                                                  \
        if (bias) {                                                                        \
            const __m256 bi = _mm256_set1_ps(bias[i]);                                     \
            r0 = _mm256_add_ps(r0, bi), r1 = _mm256_add_ps(r1, bi);                        \
        }                                                                                  \
        if (full) {                                                                        \
            _mm256_storeu_ps(ci, r0), _mm256_storeu_ps(ci + 8, r1);                        \
        } else {                                                                           \
            _mm256_maskstore_ps(ci, k0, r0), _mm256_maskstore_ps(ci + 8, k1, r1);          \
        }                                                                                  \
    }
    ROWS6(STORE)
#undef STORE
#undef ROWS6
}

/* ---------------------------------------------------------------- 4x16 micro-kernel */

/* gc_gemm_ukernel_avx2_6x16's contract and per-element arithmetic (an FMA chain over k, then
 * alpha * acc, + beta * C by FMA, + bias) on 4-row panels, for the products of few tiles
 * (ResNet-50's layer4 at batch 1: 4 tiles, a third of 6-row panels wasted; 512 ch 7x7 on Zen 3,
 * 1 thread: 2.6 -> 2.2-2.5 ms with U^T kept, 3.2 -> 2.9 without). 8 accumulators, what 2 FMA
 * pipes of latency 4 just keep busy: at 16 tiles it ran 1 % slower than 6x16's 18 rows. */
void gc_wg_ukernel_avx2_4x16(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta,
                             int m, int n, const float *bias) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int i = 0; i < 4 && i < m; i++) {                    /* C is only touched after the k loop */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < k; p++, a += 4, b += 16) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        _mm_prefetch((const char *)(b + 16 * WG_BPF), _MM_HINT_T0);
        __m256 ai = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
        ai = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
        ai = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
        ai = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota), k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), iota);
    const int full = n == 16;                                 /* masked moves only at a ragged edge */
    const __m256 acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (int i = 0; i < 4 && i < m; i++) {
        float *ci = c + i * ldc;
        __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
        if (beta != 0.0f) {
            r0 = _mm256_fmadd_ps(vb, full ? _mm256_loadu_ps(ci) : _mm256_maskload_ps(ci, k0), r0);
            r1 = _mm256_fmadd_ps(vb, full ? _mm256_loadu_ps(ci + 8) : _mm256_maskload_ps(ci + 8, k1), r1);
        }
        if (bias) {
            const __m256 bi = _mm256_set1_ps(bias[i]);
            r0 = _mm256_add_ps(r0, bi), r1 = _mm256_add_ps(r1, bi);
        }
        if (full) {
            _mm256_storeu_ps(ci, r0), _mm256_storeu_ps(ci + 8, r1);
        } else {
            _mm256_maskstore_ps(ci, k0, r0), _mm256_maskstore_ps(ci + 8, k1, r1);
        }
    }
}

const gc_wg_tx gc_wg_tx_avx2 = {input_avx2, weights_avx2, output_avx2};

#else /* built without AVX2 (or with AVX-512): winograd_tx.h's; the kernel never dispatched */
const gc_wg_tx gc_wg_tx_avx2 = {input_packed, weights_packed, output_packed};

void gc_wg_ukernel_avx2_4x16(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta,
                             int m, int n, const float *bias) {
    (void)k, (void)a, (void)b, (void)c, (void)ldc, (void)alpha, (void)beta, (void)m, (void)n, (void)bias;
}
void gc_wg_ukernel_avx2_6x16(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta,
                             int m, int n, const float *bias) {
    (void)k, (void)a, (void)b, (void)c, (void)ldc, (void)alpha, (void)beta, (void)m, (void)n, (void)bias;
}
#endif
