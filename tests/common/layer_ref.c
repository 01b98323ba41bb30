/* layer_ref.c - naive layer references for tests (see layer_ref.h). */
#include "layer_ref.h"
#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ sizes */

int64_t ref_conv_out(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d) {
    int64_t L = d * (k - 1) + 1, o = 0;
    while (o * s + L <= n + 2 * p) o++;
    return o;
}

int64_t ref_pool_out(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
    int64_t L = d * (k - 1) + 1, o = 0;
    if (!ceil_mode) return ref_conv_out(n, k, s, p, d);
    while (o * s <= n + 2 * p - L + s - 1 && o * s < n + p) o++;
    return o;
}

/* ------------------------------------------------------------ conv */

void ref_conv2d(const gc_conv2d_params *p, int64_t N, int64_t H, int64_t W,
                const float *x, const float *w, const float *b, float *y) {
    const int64_t C = p->in_channels, O = p->out_channels, G = p->groups;
    const int64_t OH = ref_conv_out(H, p->kernel_h, p->stride_h, p->pad_h, p->dilation_h);
    const int64_t OW = ref_conv_out(W, p->kernel_w, p->stride_w, p->pad_w, p->dilation_w);
    const int64_t Hp = H + 2 * p->pad_h, Wp = W + 2 * p->pad_w;
    double *xp = calloc((size_t)(N * C * Hp * Wp), sizeof(double)); /* zero-padded x */
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++)
                xp[(nc * Hp + i + p->pad_h) * Wp + j + p->pad_w] = x[(nc * H + i) * W + j];
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            const int64_t g = o / (O / G), cg = C / G;
            for (int64_t i = 0; i < OH; i++)
                for (int64_t j = 0; j < OW; j++) {
                    double s = b ? b[o] : 0.0;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t u = 0; u < p->kernel_h; u++)
                            for (int64_t v = 0; v < p->kernel_w; v++) {
                                int64_t r = i * p->stride_h + u * p->dilation_h;
                                int64_t q = j * p->stride_w + v * p->dilation_w;
                                s += (double)w[((o * cg + ci) * p->kernel_h + u) * p->kernel_w + v] *
                                     xp[((n * C + g * cg + ci) * Hp + r) * Wp + q];
                            }
                    y[((n * O + o) * OH + i) * OW + j] = (float)s;
                }
        }
    free(xp);
}

/* ------------------------------------------------------------ pooling */

void ref_maxpool2d(const gc_pool2d_params *p, int64_t N, int64_t C, int64_t H, int64_t W,
                   const float *x, float *y) {
    const int64_t OH = ref_pool_out(H, p->kernel_h, p->stride_h, p->pad_h, p->dilation_h, p->ceil_mode);
    const int64_t OW = ref_pool_out(W, p->kernel_w, p->stride_w, p->pad_w, p->dilation_w, p->ceil_mode);
    /* -inf padded copy large enough for every window, overhang included */
    int64_t Hp = (OH - 1) * p->stride_h + p->dilation_h * (p->kernel_h - 1) + 1;
    int64_t Wp = (OW - 1) * p->stride_w + p->dilation_w * (p->kernel_w - 1) + 1;
    if (Hp < H + 2 * p->pad_h) Hp = H + 2 * p->pad_h;
    if (Wp < W + 2 * p->pad_w) Wp = W + 2 * p->pad_w;
    double *xp = malloc((size_t)(Hp * Wp) * sizeof(double));
    for (int64_t nc = 0; nc < N * C; nc++) {
        for (int64_t k = 0; k < Hp * Wp; k++) xp[k] = -INFINITY;
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) xp[(i + p->pad_h) * Wp + j + p->pad_w] = x[(nc * H + i) * W + j];
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                double m = -INFINITY;
                for (int64_t u = 0; u < p->kernel_h; u++)
                    for (int64_t v = 0; v < p->kernel_w; v++) {
                        double e = xp[(i * p->stride_h + u * p->dilation_h) * Wp + j * p->stride_w + v * p->dilation_w];
                        if (e > m) m = e;
                    }
                y[(nc * OH + i) * OW + j] = (float)m;
            }
    }
    free(xp);
}

void ref_avgpool2d(const gc_pool2d_params *p, int64_t N, int64_t C, int64_t H, int64_t W,
                   const float *x, float *y) {
    const int64_t OH = ref_pool_out(H, p->kernel_h, p->stride_h, p->pad_h, 1, p->ceil_mode);
    const int64_t OW = ref_pool_out(W, p->kernel_w, p->stride_w, p->pad_w, 1, p->ceil_mode);
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                double s = 0;
                int64_t padded_rows = 0, padded_cols = 0, real_rows = 0, real_cols = 0;
                for (int64_t u = 0; u < p->kernel_h; u++) {
                    int64_t r = i * p->stride_h - p->pad_h + u;
                    padded_rows += r >= -p->pad_h && r < H + p->pad_h;
                    real_rows += r >= 0 && r < H;
                }
                for (int64_t v = 0; v < p->kernel_w; v++) {
                    int64_t q = j * p->stride_w - p->pad_w + v;
                    padded_cols += q >= -p->pad_w && q < W + p->pad_w;
                    real_cols += q >= 0 && q < W;
                }
                for (int64_t u = 0; u < p->kernel_h; u++)
                    for (int64_t v = 0; v < p->kernel_w; v++) {
                        int64_t r = i * p->stride_h - p->pad_h + u, q = j * p->stride_w - p->pad_w + v;
                        if (r >= 0 && r < H && q >= 0 && q < W) s += x[(nc * H + r) * W + q];
                    }
                double div = p->count_include_pad ? (double)(padded_rows * padded_cols) : (double)(real_rows * real_cols);
                y[(nc * OH + i) * OW + j] = real_rows > 0 && real_cols > 0 ? (float)(s / div) : 0.0f;
            }
}

void ref_adaptive_avgpool2d(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const float *x, float *y) {
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                int64_t r0 = (int64_t)floor((double)i * H / OH), r1 = (int64_t)ceil((double)(i + 1) * H / OH);
                int64_t q0 = (int64_t)floor((double)j * W / OW), q1 = (int64_t)ceil((double)(j + 1) * W / OW);
                double s = 0;
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t q = q0; q < q1; q++) s += x[(nc * H + r) * W + q];
                y[(nc * OH + i) * OW + j] = (float)(s / (double)((r1 - r0) * (q1 - q0)));
            }
}

/* ------------------------------------------------------------ dense and normalisation */

void ref_linear(int64_t N, int64_t I, int64_t O, const float *x, const float *w, const float *b, float *y) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t i = 0; i < I; i++) s += (double)x[n * I + i] * w[o * I + i];
            y[n * O + o] = (float)s;
        }
}

void ref_softmax(int64_t N, int64_t C, int64_t S, const float *x, float *y) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < S; k++) {
            double m = -INFINITY, z = 0;
            for (int64_t c = 0; c < C; c++) m = fmax(m, x[(n * C + c) * S + k]);
            for (int64_t c = 0; c < C; c++) z += exp(x[(n * C + c) * S + k] - m);
            for (int64_t c = 0; c < C; c++) y[(n * C + c) * S + k] = (float)(exp(x[(n * C + c) * S + k] - m) / z);
        }
}

void ref_lrn(const gc_lrn_params *p, int64_t N, int64_t C, int64_t S, const float *x, float *y) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < S; k++) {
                double sq = 0;
                for (int64_t cc = c - p->size / 2; cc <= c + (p->size - 1) / 2; cc++)
                    if (cc >= 0 && cc < C) sq += (double)x[(n * C + cc) * S + k] * x[(n * C + cc) * S + k];
                double d = pow(p->k + (double)p->alpha / p->size * sq, p->beta);
                y[(n * C + c) * S + k] = (float)(x[(n * C + c) * S + k] / d);
            }
}

void ref_batchnorm2d(int64_t N, int64_t C, int64_t S, float eps, const float *g, const float *b,
                     const float *mean, const float *var, const float *x, float *y) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < S; k++) {
                double v = ((double)x[(n * C + c) * S + k] - mean[c]) / sqrt((double)var[c] + eps);
                y[(n * C + c) * S + k] = (float)(v * g[c] + b[c]);
            }
}

/* ------------------------------------------------------------ graph joins and activations */

int ref_broadcast_shape(int na, const int64_t *da, int nb, const int64_t *db, int64_t *out) {
    const int nd = na > nb ? na : nb;
    for (int r = 1; r <= nd; r++) { /* r-th dimension from the right */
        const int64_t sa = r <= na ? da[na - r] : 1, sb = r <= nb ? db[nb - r] : 1;
        if (sa != sb && sa != 1 && sb != 1) return -1;
        out[nd - r] = sa == 1 ? sb : sa;
    }
    return nd;
}

/* Row-major offset in an input of n dimensions d[] of the output position idx[] (nd
 * dimensions, nd >= n): the input's dimension i sits at output dimension nd - n + i
 * and is read at 0 where its size is 1. */
static int64_t bcast_offset(int n, const int64_t *d, int nd, const int64_t *idx) {
    int64_t off = 0;
    for (int i = 0; i < n; i++) off = off * d[i] + (d[i] == 1 ? 0 : idx[nd - n + i]);
    return off;
}

void ref_binary(int op, int na, const int64_t *da, const float *a, int nb, const int64_t *db,
                const float *b, float *y) {
    int64_t od[8], idx[8] = {0};
    const int nd = ref_broadcast_shape(na, da, nb, db, od);
    int64_t total = 1;
    for (int i = 0; i < nd; i++) total *= od[i];
    for (int64_t t = 0; t < total; t++) {
        int64_t rest = t; /* the multi-index of output element t */
        for (int i = nd - 1; i >= 0; i--) idx[i] = rest % od[i], rest /= od[i];
        const double va = a[bcast_offset(na, da, nd, idx)], vb = b[bcast_offset(nb, db, nd, idx)];
        y[t] = (float)(op == REF_MUL ? va * vb : op == REF_SUB ? va - vb : op == REF_DIV ? va / vb : va + vb);
    }
}

void ref_pad(int64_t N, int64_t C, int64_t H, int64_t W, int64_t top, int64_t bottom, int64_t left,
             int64_t right, float value, const float *x, float *y) {
    const int64_t OH = top + H + bottom, OW = left + W + right;
    for (int64_t e = 0; e < N * C * OH * OW; e++) y[e] = value;
    for (int64_t p = 0; p < N * C; p++) /* plane p of x lands at row top, column left of plane p of y */
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) y[(p * OH + top + h) * OW + left + w] = x[(p * H + h) * W + w];
}

void ref_channel_shuffle(int64_t N, int64_t C, int64_t S, int64_t g, const float *x, float *y) {
    const int64_t q = C / g;
    int64_t t = 0; /* row-major position in the transposed (N, q, g, S) array */
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < q; j++)     /* axis 1 of the transpose: axis 2 of (N, g, q, S) */
            for (int64_t i = 0; i < g; i++) /* axis 2 of the transpose: axis 1 */
                for (int64_t s = 0; s < S; s++) y[t++] = x[((n * g + i) * q + j) * S + s];
}

void ref_concat(int n, int64_t N, const int64_t *c, int64_t S, const float *const *xs, float *y) {
    int64_t ctot = 0;
    for (int k = 0; k < n; k++) ctot += c[k];
    for (int64_t b = 0; b < N; b++)
        for (int64_t ch = 0; ch < ctot; ch++) {
            int k = 0;
            int64_t local = ch; /* channel ch of the output is channel `local` of input k */
            while (local >= c[k]) local -= c[k++];
            for (int64_t s = 0; s < S; s++) y[(b * ctot + ch) * S + s] = xs[k][(b * c[k] + local) * S + s];
        }
}

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

double ref_activation(const gc_activation_params *p, double x) {
    const double a = p->alpha, b = p->beta;
    switch (p->op) {
    case GC_ACT_SIGMOID: return ref_sigmoid(x);
    case GC_ACT_SILU: return x * ref_sigmoid(x);
    case GC_ACT_HARDSIGMOID: return fmin(fmax(a * x + b, 0.0), 1.0);
    case GC_ACT_HARDSWISH: return x * fmin(fmax(a * x + b, 0.0), 1.0);
    case GC_ACT_CLAMP: return fmin(fmax(x, a), b);
    case GC_ACT_LEAKY_RELU: return x > 0 ? x : a * x;
    default: return NAN;
    }
}

double ref_activation_grad(const gc_activation_params *p, double x) {
    const double a = p->alpha, b = p->beta, u = a * x + b;
    switch (p->op) {
    case GC_ACT_SIGMOID: return ref_sigmoid(x) * (1.0 - ref_sigmoid(x));
    case GC_ACT_SILU: return ref_sigmoid(x) + x * ref_sigmoid(x) * (1.0 - ref_sigmoid(x));
    case GC_ACT_HARDSIGMOID: return u > 0 && u < 1 ? a : 0.0;
    case GC_ACT_HARDSWISH: return u <= 0 ? 0.0 : u >= 1 ? 1.0 : u + a * x; /* d(x u)/dx inside */
    case GC_ACT_CLAMP: return x > a && x < b ? 1.0 : 0.0;
    case GC_ACT_LEAKY_RELU: return x > 0 ? 1.0 : a;
    default: return NAN;
    }
}
