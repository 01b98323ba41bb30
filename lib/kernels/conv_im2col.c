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

static const float *x_row(const float *x, const gc_conv_geom *g, int64_t c, int64_t ih) { return x + (c * g->H + ih) * g->W; }

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

/* d[t] for t < run: output columns j + t of one input row xr (at this tap's offset), those in
 * [lo, hi) read at stride SW, the others padding. */
static inline void copy_run(float *d, const float *xr, int64_t j, int64_t run, int64_t lo, int64_t hi, int64_t SW) {
    const int64_t a = lo - j < 0 ? 0 : lo - j > run ? run : lo - j;
    const int64_t b = hi - j < a ? a : hi - j > run ? run : hi - j;
    for (int64_t t = 0; t < a; t++) d[t] = 0.0f;
    if (SW == 1)
        for (int64_t t = a; t < b; t++) d[t] = xr[j + t];
    else
        for (int64_t t = a; t < b; t++) d[t] = xr[(j + t) * SW];
    for (int64_t t = b; t < run; t++) d[t] = 0.0f;
}

/* Row by row: each row's runs of pixels in order (a 1x1 kernel's row is one input plane read in
 * order; panels of 16 or more pixels have long runs). */
static void im2col_pack_rows(const gc_im2col_src *s, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr, float *dst) {
    const gc_conv_geom *g = s->g;
    const int64_t KK = g->KH * g->KW, SW = g->SW;
    for (int64_t k = p0; k < p0 + kb; k++) {
        const int64_t c = k / KK, u = (k / g->KW) % g->KH, v = k % g->KW;
        const int64_t off = v * g->DW - g->PW;
        int64_t lo, hi;
        valid_range(off, SW, g->W, g->OW, &lo, &hi);
        float *r = dst + (k - p0) * nr;           /* panel 0's row k; panel jp's at + jp * kb * nr */
        int64_t i = j0 / g->OW, j = j0 % g->OW;  /* output row and column of chunk column q */
        int in = 0;                               /* q % nr */
        for (int64_t q = 0; q < nb;) {            /* a run: to the panel's, the output row's or the chunk's end */
            int64_t run = g->OW - j < nr - in ? g->OW - j : nr - in;
            if (nb - q < run) run = nb - q;
            float *d = r + in;
            const int64_t ih = i * g->SH - g->PH + u * g->DH;
            if (ih < 0 || ih >= g->H) {
                for (int64_t t = 0; t < run; t++) d[t] = 0.0f;
            } else {
                copy_run(d, x_row(s->x, g, c, ih) + off, j, run, lo, hi, SW);
            }
            q += run, j += run, in += (int)run;
            if (j == g->OW) j = 0, i++;
            if (in == nr) in = 0, r += kb * nr;
        }
        for (int t = in; in && t < nr; t++) r[t] = 0.0f; /* the last panel's padding columns */
    }
}

/* Per block of 64 rows, runs of the chunk's pixels (within one output row and one panel) outer
 * and the block's rows inner: a run's output row, columns and destination are worked out once for
 * 64 rows instead of once per row (ResNet-50's 7x7 layers: runs of 7 pixels, 4608 rows), the
 * rows' kernel taps step without divisions and their valid column ranges come from a table per
 * tap column. Not for a 1x1 kernel (strided: 1x1/2 downsamples): 64 rows are then 64 input planes
 * read side by side, which the hardware prefetcher does not follow (ResNet-50's 1x1/2 downsamples
 * 0.58-0.61 -> 0.63-0.67 ms far that way), nor for the packed GEMM's 32-pixel panels (long runs
 * already; layer2.0.conv2 0.76-0.78 -> 0.82-0.90 ms far). */
static void im2col_pack_runs(const gc_im2col_src *s, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr, float *dst) {
    const gc_conv_geom *g = s->g;
    const int64_t KK = g->KH * g->KW, SW = g->SW;
    enum { TAPS = 16, KBLK = 64 };
    int64_t vlo[TAPS], vhi[TAPS]; /* valid output columns of tap column v (v < TAPS) */
    for (int64_t v = 0; v < g->KW && v < TAPS; v++) valid_range(v * g->DW - g->PW, SW, g->W, g->OW, &vlo[v], &vhi[v]);
    for (int64_t k0 = 0; k0 < kb; k0 += KBLK) {
        const int64_t k1 = kb - k0 < KBLK ? kb : k0 + KBLK;
        const int64_t c0 = (p0 + k0) / KK, u0 = ((p0 + k0) / g->KW) % g->KH, v0 = (p0 + k0) % g->KW;
        int64_t i = j0 / g->OW, j = j0 % g->OW; /* output row and column of chunk column q */
        int in = 0;                             /* q % nr */
        float *r = dst;                         /* the current panel's row p0 */
        for (int64_t q = 0; q < nb;) {          /* a run: to the panel's, the output row's or the chunk's end */
            int64_t run = g->OW - j < nr - in ? g->OW - j : nr - in;
            if (nb - q < run) run = nb - q;
            int64_t c = c0, u = u0, v = v0;
            float *d = r + k0 * nr + in;
            for (int64_t k = k0; k < k1; k++, d += nr) {
                const int64_t ih = i * g->SH - g->PH + u * g->DH, off = v * g->DW - g->PW;
                if (ih < 0 || ih >= g->H) {
                    for (int64_t t = 0; t < run; t++) d[t] = 0.0f;
                } else {
                    int64_t lo, hi;
                    if (v < TAPS) lo = vlo[v], hi = vhi[v];
                    else valid_range(off, SW, g->W, g->OW, &lo, &hi);
                    copy_run(d, x_row(s->x, g, c, ih) + off, j, run, lo, hi, SW);
                }
                if (++v == g->KW) {
                    v = 0;
                    if (++u == g->KH) u = 0, c++;
                }
            }
            q += run, j += run, in += (int)run;
            if (j == g->OW) j = 0, i++;
            if (in == nr) in = 0, r += kb * nr;
        }
        if (in) /* the last panel's padding columns */
            for (int64_t k = k0; k < k1; k++)
                for (int t = in; t < nr; t++) r[k * nr + t] = 0.0f;
    }
}

void gc_im2col_pack(const void *ctx, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr, float *dst) {
    const gc_im2col_src *s = ctx;
    if (s->g->KH * s->g->KW > 1 && nr < 16) im2col_pack_runs(s, p0, kb, j0, nb, nr, dst);
    else im2col_pack_rows(s, p0, kb, j0, nb, nr, dst);
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
