/* batchnorm2d.c - torch.nn.BatchNorm2d with running statistics (inference):
 *   y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c
 *   dx = dy gamma_c / sqrt(var_c + eps);  dgamma_c = sum dy xhat;  dbeta_c = sum dy. */
#include "layer.h"
#include <math.h>
#include <stdio.h>

/* ------------------------------------------------------------ parameters */

static gc_status bn_check(const gc_layer *l) {
    const gc_batchnorm2d_params *p = &l->p.bn;
    if (p->num_features < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "batchnorm2d: num_features %lld < 1", (long long)p->num_features);
    if ((uint64_t)p->num_features > SIZE_MAX / sizeof(float))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "batchnorm2d: num_features %lld is too large", (long long)p->num_features);
    if (!(p->eps >= 0.0f && isfinite(p->eps)))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "batchnorm2d: eps %g must be finite and >= 0", (double)p->eps);
    return GC_OK;
}

static int bn_params(const gc_layer *l, gc_shape s[GC_MAX_PARAMS], const char *n[GC_MAX_PARAMS]) {
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        s[i] = (gc_shape){1, {l->p.bn.num_features, 1, 1, 1}};
        n[i] = names[i];
    }
    return 4;
}

/* ----------------------------------------------------------------- shapes */

static gc_status bn_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    char b[96];
    gc_shape_format(b, sizeof b, in);
    if (in->ndim != 4 || in->d[1] != l->p.bn.num_features || in->d[0] < 1 || in->d[2] < 1 || in->d[3] < 1)
        return gc_error(GC_ERR_SHAPE, "batchnorm2d expects 4-D input with %lld channels, got %s",
                        (long long)l->p.bn.num_features, b);
    *out = *in;
    return GC_OK;
}

/* ---------------------------------------------------------------- forward */

static void bn_forward(const gc_layer_ctx *c) {
    const gc_layer *l = c->layer;
    const int64_t N = c->in.d[0], C = c->in.d[1], S = c->in.d[2] * c->in.d[3];
    const float *g = l->param[0], *b = l->param[1], *mu = l->param[2], *var = l->param[3]; /* (C) each */
    const float *x = c->x; /* (N, C, H, W) */
    float *y = c->y;       /* (N, C, H, W) */
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < N * C; t++) {
        const int64_t ch = t % C;
        const double scale = g[ch] / sqrt((double)var[ch] + l->p.bn.eps);
        for (int64_t k = 0; k < S; k++) y[t * S + k] = (float)((x[t * S + k] - (double)mu[ch]) * scale + b[ch]);
    }
}

/* --------------------------------------------------------------- backward */

static void bn_backward(const gc_layer_ctx *c) {
    const gc_layer *l = c->layer;
    const int64_t N = c->in.d[0], C = c->in.d[1], S = c->in.d[2] * c->in.d[3];
    const float *g = l->param[0], *mu = l->param[2], *var = l->param[3]; /* (C) each */
    const float *x = c->x, *dy = c->dy; /* (N, C, H, W) */
    float *dx = c->dx;                  /* (N, C, H, W) or NULL */
    float *dg = c->dparam[0], *db = c->dparam[1]; /* (C) or NULL */
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < N * C; t++) {
            const int64_t ch = t % C;
            const double scale = g[ch] / sqrt((double)var[ch] + l->p.bn.eps);
            for (int64_t k = 0; k < S; k++) dx[t * S + k] = (float)(dy[t * S + k] * scale);
        }
    }
    if (dg || db) {
#pragma omp parallel for schedule(static)
        for (int64_t ch = 0; ch < C; ch++) {
            const double inv = 1.0 / sqrt((double)var[ch] + l->p.bn.eps);
            double sg = 0, sb = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < S; k++) {
                    const int64_t e = (n * C + ch) * S + k;
                    sg += dy[e] * ((x[e] - (double)mu[ch]) * inv);
                    sb += dy[e];
                }
            if (dg) dg[ch] = (float)sg;
            if (db) db[ch] = (float)sb;
        }
    }
}

/* y = scale x + shift per channel, for folding into the convolution before it */
static void bn_channel_affine(const gc_layer *l, double *scale, double *shift) {
    const float *g = l->param[0], *b = l->param[1], *mu = l->param[2], *var = l->param[3]; /* (C) each */
    for (int64_t ch = 0; ch < l->p.bn.num_features; ch++) {
        scale[ch] = g[ch] / sqrt((double)var[ch] + l->p.bn.eps);
        shift[ch] = b[ch] - mu[ch] * scale[ch];
    }
}

static const gc_hparam bn_hp[] = {GC_HPI(bn.num_features, "num_features"), GC_HPF(bn.eps, "eps")};

const gc_layer_ops gc_batchnorm2d_ops = {
    .name = "batchnorm2d",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_SAME_SHAPE,
    .backward_reads = GC_READS_X_PARAMS,
    .param_roles = {GC_PARAM_TRAINED | GC_PARAM_ONE | GC_PARAM_BIASLIKE, GC_PARAM_TRAINED | GC_PARAM_BIASLIKE, 0,
                    GC_PARAM_ONE},
    GC_HPARAMS(bn_hp),
    .channel_affine = bn_channel_affine,
    .check_params = bn_check,
    .param_shapes = bn_params,
    .infer = bn_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = bn_forward,
    .backward = bn_backward,
};
