/* conv_im2col.c - column tiles of the lowered convolution matrix and their adjoint
 * (contract in conv.h). */
#include "kernels/conv.h"
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Outputs j in [*lo, *hi) whose input j*s + off lies in [0, n_in). */
static void valid_range(int64_t off, int64_t s, int64_t n_in, int64_t n_out, int64_t *lo, int64_t *hi) {
    int64_t a = off < 0 ? (-off - 1) / s + 1 : 0;
    int64_t b = n_in - 1 - off >= 0 ? (n_in - 1 - off) / s + 1 : 0;
    if (b > n_out) b = n_out;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------------ im2col */

void gc_im2col_tile(const gc_conv_geom *g, const float *x, int64_t p0, int64_t np, float *col,
                    int64_t ld) {
    const int64_t KK = g->KH * g->KW, K = g->C * KK;
#pragma omp parallel for schedule(static) if (K * np > 32768)
    for (int64_t k = 0; k < K; k++) {
        const int64_t c = k / KK, u = (k / g->KW) % g->KH, v = k % g->KW;
        const int64_t off = v * g->DW - g->PW;
        int64_t lo, hi;
        valid_range(off, g->SW, g->W, g->OW, &lo, &hi);
        float *restrict row = col + k * ld;   /* (np) */
        for (int64_t p = p0; p < p0 + np;) {
            const int64_t i = p / g->OW, j0 = p % g->OW, j1 = min64(g->OW, j0 + p0 + np - p);
            const int64_t ih = i * g->SH - g->PH + u * g->DH;
            float *restrict r = row + (p - p0);   /* r[j - j0] = col[k, i*OW + j] */
            if (ih < 0 || ih >= g->H) {
                memset(r, 0, (size_t)(j1 - j0) * sizeof(float));
            } else {
                const float *restrict xr = x + (c * g->H + ih) * g->W;
                const int64_t a = max64(j0, lo), b = min64(j1, hi);
                int64_t j = j0;
                for (; j < a && j < j1; j++) r[j - j0] = 0.0f;
                if (g->SW == 1 && b > a) {
                    memcpy(r + (a - j0), xr + a + off, (size_t)(b - a) * sizeof(float));
                    j = b;
                } else {
                    for (; j < b; j++) r[j - j0] = xr[j * g->SW + off];
                }
                for (j = max64(j, b); j < j1; j++) r[j - j0] = 0.0f;
            }
            p += j1 - j0;
        }
    }
}

/* ------------------------------------------------------------------ col2im */

void gc_col2im_tile(const gc_conv_geom *g, const float *col, int64_t p0, int64_t np, float *x,
                    int64_t ld) {
    const int64_t KK = g->KH * g->KW;
#pragma omp parallel for schedule(static) if (g->C * KK * np > 32768)
    for (int64_t c = 0; c < g->C; c++) {
        for (int64_t u = 0; u < g->KH; u++)
            for (int64_t v = 0; v < g->KW; v++) {
                const float *row = col + (c * KK + u * g->KW + v) * ld;   /* (np) */
                const int64_t off = v * g->DW - g->PW;
                int64_t lo, hi;
                valid_range(off, g->SW, g->W, g->OW, &lo, &hi);
                for (int64_t p = p0; p < p0 + np;) {
                    const int64_t i = p / g->OW, j0 = p % g->OW, j1 = min64(g->OW, j0 + p0 + np - p);
                    const int64_t ih = i * g->SH - g->PH + u * g->DH;
                    if (ih >= 0 && ih < g->H) {
                        const float *restrict r = row + (p - p0);
                        float *restrict xr = x + (c * g->H + ih) * g->W;
                        const int64_t a = max64(j0, lo), b = min64(j1, hi);
                        for (int64_t j = a; j < b; j++) xr[j * g->SW + off] += r[j - j0];
                    }
                    p += j1 - j0;
                }
            }
    }
}
