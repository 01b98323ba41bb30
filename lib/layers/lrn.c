/* lrn.c - torch.nn.LocalResponseNorm(size, alpha, beta, k) across channels:
 *   s_c = k + alpha/size * sum_{c' = c - size/2}^{c + (size-1)/2} x_{c'}^2   (missing channels are 0)
 *   y_c = x_c * s_c^-beta
 *   dx_j = dy_j s_j^-beta - (2 alpha beta / size) x_j sum_{c = j - (size-1)/2}^{j + size/2} dy_c x_c s_c^(-beta-1)
 *   state: s (N, C, S) saved by forward for backward. */
#include "layer.h"
#include <math.h>
#include <stdio.h>

/* ------------------------------------------------------------ parameters */

static gc_status lrn_check(const gc_layer *l) {
    const gc_lrn_params *p = &l->p.lrn;
    if (p->size < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "lrn: size %lld < 1", (long long)p->size);
    if (!(p->alpha >= 0.0f && isfinite(p->alpha)))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "lrn: alpha %g must be finite and >= 0", (double)p->alpha);
    if (!isfinite(p->beta)) return gc_error(GC_ERR_INVALID_ARGUMENT, "lrn: beta %g must be finite", (double)p->beta);
    if (!(p->k > 0.0f && isfinite(p->k)))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "lrn: k %g must be finite and > 0", (double)p->k);
    return GC_OK;
}

/* ----------------------------------------------------------------- shapes */

static gc_status lrn_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    char b[96];
    gc_shape_format(b, sizeof b, in);
    if (in->ndim < 3 || in->ndim > GC_MAX_DIMS)
        return gc_error(GC_ERR_SHAPE, "lrn expects 3-D or 4-D input, got %s", b);
    for (int i = 0; i < in->ndim; i++)
        if (in->d[i] < 1) return gc_error(GC_ERR_SHAPE, "lrn: bad input shape %s", b);
    *out = *in;
    return GC_OK;
}

static size_t lrn_state(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)out;
    size_t bytes;
    int64_t n = gc_shape_numel(in);
    if (n < 0 || gc_mul_size((size_t)n, sizeof(float), &bytes)) return SIZE_MAX;
    return bytes;
}

static int64_t inner_size(const gc_shape *s) {
    int64_t k = 1;
    for (int i = 2; i < s->ndim; i++) k *= s->d[i];
    return k;
}

/* ---------------------------------------------------------------- forward */

#define LRN_POW_UNITS 32 /* a pow() against a float read and written */

typedef struct lrn_job {
    const gc_lrn_params *p;
    int64_t C, S;
    const float *x, *dy; /* (N, C, S); dy backward */
    float *sc;           /* (N, C, S) s: written forward, read backward */
    float *out;          /* (N, C, S) y forward, dx backward */
} lrn_job;

/* Planes t = n C + channel in [lo, hi) of the N * C. */
static void lrn_forward_chunk(void *arg, int64_t lo_t, int64_t hi_t, int worker) {
    const lrn_job *job = arg;
    const gc_lrn_params *p = job->p;
    const int64_t C = job->C, S = job->S;
    const int64_t lo = p->size / 2, hi = (p->size - 1) / 2;
    const double a = (double)p->alpha / (double)p->size;
    const float *x = job->x;
    (void)worker;
    for (int64_t t = lo_t; t < hi_t; t++) {
        const int64_t n = t / C, ch = t % C;
        const int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= C ? C - 1 : ch + hi;
        for (int64_t k = 0; k < S; k++) {
            double sq = 0;
            for (int64_t cc = c0; cc <= c1; cc++) {
                const double v = x[(n * C + cc) * S + k];
                sq += v * v;
            }
            const double s = p->k + a * sq;
            job->sc[t * S + k] = (float)s;
            job->out[t * S + k] = (float)(x[t * S + k] * pow(s, -(double)p->beta));
        }
    }
}

static void lrn_forward(const gc_layer_ctx *c) {
    const gc_lrn_params *p = &c->layer->p.lrn;
    const int64_t N = c->in.d[0], C = c->in.d[1], S = inner_size(&c->in);
    lrn_job job = {p, C, S, c->x, NULL, c->state, c->y};
    const double cost = (double)S * ((double)p->size + LRN_POW_UNITS);
    gc_pool_for(c->pool, N * C, gc_grain(N * C, cost, 0), 0, lrn_forward_chunk, &job);
}

/* --------------------------------------------------------------- backward */

/* Planes t = n C + j in [lo, hi) of the N * C. */
static void lrn_backward_chunk(void *arg, int64_t lo_t, int64_t hi_t, int worker) {
    const lrn_job *job = arg;
    const gc_lrn_params *p = job->p;
    const int64_t C = job->C, S = job->S;
    const int64_t lo = (p->size - 1) / 2, hi = p->size / 2; /* channels c whose window holds j */
    const double beta = p->beta, f = 2.0 * (double)p->alpha * beta / (double)p->size;
    const float *x = job->x, *dy = job->dy, *sc = job->sc;
    (void)worker;
    for (int64_t t = lo_t; t < hi_t; t++) {
        const int64_t n = t / C, j = t % C;
        const int64_t c0 = j - lo < 0 ? 0 : j - lo, c1 = j + hi >= C ? C - 1 : j + hi;
        for (int64_t k = 0; k < S; k++) {
            double acc = 0;
            for (int64_t cc = c0; cc <= c1; cc++) {
                const int64_t e = (n * C + cc) * S + k;
                acc += (double)dy[e] * x[e] * pow(sc[e], -beta - 1.0);
            }
            job->out[t * S + k] = (float)(dy[t * S + k] * pow(sc[t * S + k], -beta) - f * x[t * S + k] * acc);
        }
    }
}

static void lrn_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const gc_lrn_params *p = &c->layer->p.lrn;
    const int64_t N = c->in.d[0], C = c->in.d[1], S = inner_size(&c->in);
    lrn_job job = {p, C, S, c->x, c->dy, c->state, c->dx};
    const double cost = (double)S * ((double)p->size + 1.0) * LRN_POW_UNITS;
    gc_pool_for(c->pool, N * C, gc_grain(N * C, cost, 0), 0, lrn_backward_chunk, &job);
}

static const gc_hparam lrn_hp[] = {GC_HPI(lrn.size, "size"), GC_HPF(lrn.alpha, "alpha"), GC_HPF(lrn.beta, "beta"),
                                    GC_HPF(lrn.k, "k")};

const gc_layer_ops gc_lrn_ops = {
    .name = "lrn",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_SAME_SHAPE,
    GC_HPARAMS(lrn_hp),
    .backward_reads = GC_READS_X,
    .check_params = lrn_check,
    .param_shapes = gc_layer_no_params,
    .infer = lrn_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = lrn_state,
    .forward = lrn_forward,
    .backward = lrn_backward,
};
