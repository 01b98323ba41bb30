/* conv_accurate_wino_tx.h - Winograd F(4x4, 3x3)'s transforms in double for the accurate
 * convolution, 8 lanes at a time with the GNU vector extension. Included once per ISA with
 * AW_TX_NAME set (conv_accurate_wino.c, conv_accurate_avx2.c, conv_accurate_avx512.c); not a
 * header of its own. The matrices are winograd_tx.h's (points 0, 1, -1, 2, -2 and infinity). */
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef double awv __attribute__((vector_size(64)));

/* B^T applied to a column of 6 vectors. */
static inline void aw_bt6(const awv d[6], awv o[6]) {
    o[0] = 4.0 * d[0] - 5.0 * d[2] + d[4];
    o[1] = (d[3] + d[4]) - 4.0 * (d[1] + d[2]);
    o[2] = (d[4] - d[3]) + 4.0 * (d[1] - d[2]);
    o[3] = (d[4] - d[2]) + 2.0 * (d[3] - d[1]);
    o[4] = (d[4] - d[2]) - 2.0 * (d[3] - d[1]);
    o[5] = 4.0 * d[1] - 5.0 * d[3] + d[5];
}

/* G applied to 3 vectors -> 6. */
static inline void aw_g6(const awv g[3], awv o[6]) {
    const awv s = g[0] + g[2];
    o[0] = g[0] * (1.0 / 4);
    o[1] = (s + g[1]) * (-1.0 / 6);
    o[2] = (s - g[1]) * (-1.0 / 6);
    o[3] = g[0] * (1.0 / 24) + g[1] * (1.0 / 12) + g[2] * (1.0 / 6);
    o[4] = g[0] * (1.0 / 24) - g[1] * (1.0 / 12) + g[2] * (1.0 / 6);
    o[5] = g[2];
}

/* A^T applied to 6 vectors -> 4. */
static inline void aw_at4(const awv m[6], awv o[4]) {
    const awv a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    o[0] = m[0] + a + c;
    o[1] = b + 2.0 * d;
    o[2] = a + 4.0 * c;
    o[3] = b + 8.0 * d + m[5];
}

/* V (36, C, ld): items (c, block of 8 lanes); lane l of block b is tile t0 + 8b + l. */
static void aw_input(const aw_geom *g, const float *x, int64_t t0, int64_t tc, double *V, int64_t lo, int64_t hi) {
    const gc_dconv *p = g->p;
    const int64_t H = p->H, W = p->W, C = p->Ci, nb = g->ld / 8;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t c = it / nb, b = it % nb;
        const float *xc = x + c * H * W;
        double d[6][6][8];                                  /* (row, column, lane) of the 6x6 patches */
        for (int l = 0; l < 8; l++) {
            const int64_t tl = 8 * b + l, t = t0 + tl, ty = t / g->TW, tx = t % g->TW;
            const int64_t h0 = 4 * ty - p->PH, w0 = 4 * tx - p->PW;
            if (tl >= tc) {
                for (int r = 0; r < 6; r++)
                    for (int j = 0; j < 6; j++) d[r][j][l] = 0.0;
            } else if (h0 >= 0 && h0 + 6 <= H && w0 >= 0 && w0 + 6 <= W) {
                for (int r = 0; r < 6; r++)
                    for (int j = 0; j < 6; j++) d[r][j][l] = xc[(h0 + r) * W + w0 + j];
            } else {
                for (int r = 0; r < 6; r++)
                    for (int j = 0; j < 6; j++) {
                        const int64_t ih = h0 + r, iw = w0 + j;
                        d[r][j][l] = ih >= 0 && ih < H && iw >= 0 && iw < W ? xc[ih * W + iw] : 0.0;
                    }
            }
        }
        awv dv[6][6], t[6][6], col[6], o6[6];
        memcpy(dv, d, sizeof dv);
        for (int r = 0; r < 6; r++) aw_bt6(dv[r], t[r]);   /* rows: t = d B */
        for (int j = 0; j < 6; j++) {                       /* columns: B^T t */
            for (int r = 0; r < 6; r++) col[r] = t[r][j];
            aw_bt6(col, o6);
            for (int i = 0; i < 6; i++) memcpy(V + ((i * 6 + j) * C + c) * g->ld + 8 * b, &o6[i], sizeof(awv));
        }
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

/* y channels o0 + r (r < og) from M (36, rows, ld): items (r, block of 8 tiles). */
static void aw_output(const aw_geom *g, const double *M, int64_t rows, int64_t o0, int64_t og, int64_t t0, int64_t tc,
                      const float *bias, float *y, int64_t lo, int64_t hi) {
    const gc_dconv *p = g->p;
    const int64_t OH = p->OH, OW = p->OW, nb = (tc + 7) / 8;
    (void)og;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t r = it / nb, b = it % nb, o = o0 + r;
        awv m[6][6], tt[4][6], col[6], r4[4];
        for (int xi = 0; xi < 36; xi++) memcpy(&m[xi / 6][xi % 6], M + (xi * rows + r) * g->ld + 8 * b, sizeof(awv));
        for (int j = 0; j < 6; j++) {                       /* columns: A^T m */
            for (int k = 0; k < 6; k++) col[k] = m[k][j];
            aw_at4(col, r4);
            for (int i = 0; i < 4; i++) tt[i][j] = r4[i];
        }
        double out[4][4][8];                                /* (row, column, lane) */
        const awv bv = (bias ? (double)bias[o] : 0.0) - (awv){0};
        for (int i = 0; i < 4; i++) {                       /* rows: t A */
            aw_at4(tt[i], r4);
            for (int j = 0; j < 4; j++) {
                const awv v = r4[j] + bv;
                memcpy(out[i][j], &v, sizeof v);
            }
        }
        float *yo = y + o * OH * OW;
        for (int l = 0; l < 8 && 8 * b + l < tc; l++) {
            const int64_t t = t0 + 8 * b + l, i0 = 4 * (t / g->TW), j0 = 4 * (t % g->TW);
            const int64_t nh = OH - i0 < 4 ? OH - i0 : 4, nw = OW - j0 < 4 ? OW - j0 : 4;
            for (int64_t i = 0; i < nh; i++)
                for (int64_t j = 0; j < nw; j++) yo[(i0 + i) * OW + j0 + j] = (float)out[i][j][l];
        }
    }
}

const aw_tx AW_TX_NAME = {aw_input, aw_weights, aw_output};
