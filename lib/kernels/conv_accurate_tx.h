/* conv_accurate_tx.h - the accurate convolution's tile kernel, compiled once per ISA
 * (conv_accurate.c portable, conv_accurate_avx2.c, conv_accurate_avx512.c); included, not a
 * header of its own. The includer defines ACC_TILE and ACC_SUMS (the functions' names), ACC_VL (doubles per
 * vector: 8, 4 or 2) and ACC_MR (output channels per tile: 8 or 4), so that the MR x 3
 * accumulator vectors fit the ISA's registers. A tile is MR output channels by NR = 3 VL flat
 * output pixels; its sums stay in double vectors over every tap. Products of two floats are
 * exact in double, so each output is one double sum of exact products, rounded to float once. */
#include <string.h>

#define ACC_CAT2(a, b) a##b
#define ACC_CAT(a, b) ACC_CAT2(a, b)

typedef double ACC_VEC __attribute__((vector_size(8 * ACC_VL)));

/* The sums of one tile: a[r][k] = sum over the K taps t of wp[t*wt + r*wr] * xd[q0 + off[t] + VL*k
 * + lane], vectors k < nv (wt, wr, nv: constants where it is inlined). */
static inline void ACC_CAT(ACC_TILE, _sums)(int64_t K, const double *xd, const double *wp, int64_t wt, int64_t wr,
                                            const int64_t *off, int64_t q0, int nv, ACC_VEC a[ACC_MR][3]) {
    memset(a, 0, sizeof(ACC_VEC) * ACC_MR * 3);
    for (int64_t t = 0; t < K; t++) {
        const double *b = xd + q0 + off[t];
        ACC_VEC bv[3];
#pragma GCC unroll 3
        for (int k = 0; k < nv; k++) memcpy(&bv[k], b + ACC_VL * k, 8 * ACC_VL);
        const double *w = wp + t * wt;
#pragma GCC unroll 8
        for (int r = 0; r < ACC_MR; r++) {
            const ACC_VEC wv = w[r * wr] - (ACC_VEC){0}; /* in every lane */
#pragma GCC unroll 3
            for (int k = 0; k < nv; k++) a[r][k] += wv * bv[k];
        }
    }
}

/* Output rows o0 .. o0 + m - 1 (m <= MR), flat pixels q0 .. q0 + NR - 1 of the padded width
 * Wp; pixel q = i * Wp + j is stored when i < OH and j < OW. xd: the padded input in double;
 * wp: this panel's weights, K x MR doubles (tap-major); off: the K taps' offsets in xd. */
void ACC_TILE(int64_t K, const double *xd, const double *wp, const int64_t *off, int64_t q0, int m, int64_t Wp,
              int64_t OH, int64_t OW, const float *bias, float *y, int64_t o0) {
    ACC_VEC a[ACC_MR][3];
    ACC_CAT(ACC_TILE, _sums)(K, xd, wp, ACC_MR, 1, off, q0, 3, a);
    double s[ACC_MR][3 * ACC_VL];
    memcpy(s, a, sizeof s);
    for (int l = 0; l < 3 * ACC_VL; l++) {
        const int64_t q = q0 + l, i = q / Wp, j = q % Wp;
        if (i >= OH || j >= OW) continue;
        for (int r = 0; r < m; r++)
            y[(o0 + r) * OH * OW + i * OW + j] = (float)(s[r][l] + (bias ? (double)bias[o0 + r] : 0.0));
    }
}

/* The same sums with the weights row-major (row r at wp + r * ACC_WROW, K <= ACC_WROW), over
 * the first n lanes rounded up to whole vectors, unrounded: row r's lanes to s + r * lds + q0
 * (r < m), or added to what is there (acc). */
void ACC_SUMS(int64_t K, const double *xd, const double *wp, const int64_t *off, int64_t q0, int n, int m, double *s,
              int64_t lds, int acc) {
    ACC_VEC a[ACC_MR][3];
    const int nv = n >= 3 * ACC_VL ? 3 : (n + ACC_VL - 1) / ACC_VL;
    if (m > ACC_MR) m = ACC_MR;
    if (nv == 3) ACC_CAT(ACC_TILE, _sums)(K, xd, wp, 1, ACC_WROW, off, q0, 3, a);
    else if (nv == 2) ACC_CAT(ACC_TILE, _sums)(K, xd, wp, 1, ACC_WROW, off, q0, 2, a);
    else ACC_CAT(ACC_TILE, _sums)(K, xd, wp, 1, ACC_WROW, off, q0, 1, a);
    for (int r = 0; r < m; r++) {
        double *d = s + r * lds + q0;
        for (int k = 0; k < nv; k++) { /* whole vectors: fixed-size copies, no library calls */
            if (acc) {
                ACC_VEC v;
                memcpy(&v, d + ACC_VL * k, sizeof v);
                a[r][k] += v;
            }
            memcpy(d + ACC_VL * k, &a[r][k], sizeof a[r][k]);
        }
    }
}
