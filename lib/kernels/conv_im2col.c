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

typedef struct col_job {
    const gc_conv_geom *g;
    const float *src;
    float *dst;
    int64_t p0, np, ld;
} col_job;

/* Rows [k0, k1) of col. */
static void im2col_rows(void *arg, int64_t k0, int64_t k1, int worker) {
    const col_job *jb = arg;
    const gc_conv_geom *g = jb->g;
    const float *x = jb->src;
    float *col = jb->dst;
    const int64_t KK = g->KH * g->KW, p0 = jb->p0, np = jb->np, ld = jb->ld;
    (void)worker;
    for (int64_t k = k0; k < k1; k++) {
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

/* Chunks of at least 32 K floats. */
static int64_t col_grain(int64_t per_item) { return per_item >= 32768 ? 1 : 32768 / (per_item > 0 ? per_item : 1); }

void gc_im2col_tile(gc_pool *pool, const gc_conv_geom *g, const float *x, int64_t p0, int64_t np, float *col,
                    int64_t ld) {
    col_job jb = {g, x, col, p0, np, ld};
    gc_pool_for(pool, g->C * g->KH * g->KW, col_grain(np), 0, im2col_rows, &jb);
}

/* ------------------------------------------------------------------ col2im */

/* Channels [c0, c1) of x. */
static void col2im_channels(void *arg, int64_t c0, int64_t c1, int worker) {
    const col_job *jb = arg;
    const gc_conv_geom *g = jb->g;
    const float *col = jb->src;
    float *x = jb->dst;
    const int64_t KK = g->KH * g->KW, p0 = jb->p0, np = jb->np, ld = jb->ld;
    (void)worker;
    for (int64_t c = c0; c < c1; c++) {
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

void gc_col2im_tile(gc_pool *pool, const gc_conv_geom *g, const float *col, int64_t p0, int64_t np, float *x,
                    int64_t ld) {
    col_job jb = {g, col, x, p0, np, ld};
    gc_pool_for(pool, g->C, col_grain(g->KH * g->KW * np), 0, col2im_channels, &jb);
}
