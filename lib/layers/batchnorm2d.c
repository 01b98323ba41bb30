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

typedef struct bn_job {
    const gc_layer *l;
    int64_t C, S;
    const float *src; /* (N, C, H, W): x forward, dy backward */
    float *dst;       /* (N, C, H, W): y forward, dx backward */
    int forward;      /* 1: dst = (src - mean) scale + beta; 0: dst = src scale */
} bn_job;

/* Planes [lo, hi) of the N * C (n, channel) planes. */
static void bn_planes_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const bn_job *job = arg;
    float *const *prm = job->l->param;
    const float *g = prm[0], *b = prm[1], *mu = prm[2], *var = prm[3]; /* (C) each */
    const int64_t S = job->S;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const int64_t ch = t % job->C;
        const double scale = g[ch] / sqrt((double)var[ch] + job->l->p.bn.eps);
        const float *x = job->src + t * S;
        float *y = job->dst + t * S;
        if (job->forward)
            for (int64_t k = 0; k < S; k++) y[k] = (float)((x[k] - (double)mu[ch]) * scale + b[ch]);
        else
            for (int64_t k = 0; k < S; k++) y[k] = (float)(x[k] * scale);
    }
}

static void bn_forward(const gc_layer_ctx *c) {
    const int64_t N = c->in.d[0], C = c->in.d[1], S = c->in.d[2] * c->in.d[3];
    bn_job job = {c->layer, C, S, c->x, c->y, 1};
    gc_pool_for(c->pool, N * C, gc_grain(N * C, S, 0), 0, bn_planes_chunk, &job);
}

/* --------------------------------------------------------------- backward */

typedef struct bn_param_job {
    const gc_layer *l;
    int64_t N, C, S;
    const float *x, *dy; /* (N, C, H, W) */
    float *dg, *db;      /* (C) or NULL */
} bn_param_job;

/* dgamma, dbeta of channels [lo, hi), each summed over (n, pixel) in that order. */
static void bn_param_grad_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const bn_param_job *job = arg;
    const float *mu = job->l->param[2], *var = job->l->param[3]; /* (C) each */
    const int64_t C = job->C, S = job->S;
    (void)worker;
    for (int64_t ch = lo; ch < hi; ch++) {
        const double inv = 1.0 / sqrt((double)var[ch] + job->l->p.bn.eps);
        double sg = 0, sb = 0;
        for (int64_t n = 0; n < job->N; n++)
            for (int64_t k = 0; k < S; k++) {
                const int64_t e = (n * C + ch) * S + k;
                sg += job->dy[e] * ((job->x[e] - (double)mu[ch]) * inv);
                sb += job->dy[e];
            }
        if (job->dg) job->dg[ch] = (float)sg;
        if (job->db) job->db[ch] = (float)sb;
    }
}

static void bn_backward(const gc_layer_ctx *c) {
    const int64_t N = c->in.d[0], C = c->in.d[1], S = c->in.d[2] * c->in.d[3];
    if (c->dx) {
        bn_job job = {c->layer, C, S, c->dy, c->dx, 0};
        gc_pool_for(c->pool, N * C, gc_grain(N * C, S, 0), 0, bn_planes_chunk, &job);
    }
    if (c->dparam[0] || c->dparam[1]) {
        bn_param_job job = {c->layer, N, C, S, c->x, c->dy, c->dparam[0], c->dparam[1]};
        gc_pool_for(c->pool, C, gc_grain(C, 2 * N * S, 0), 0, bn_param_grad_chunk, &job);
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
