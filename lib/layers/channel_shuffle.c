/* channel_shuffle.c - ShuffleNet's channel shuffle of (N, C, ...) by g groups, as exporters
 * write it: Reshape (N, g, C/g, ...), Transpose (0, 2, 1, ...), Reshape (N, C, ...):
 *   y[n, j g + i] = x[n, i C/g + j]   (i < g, j < C/g)
 *   dx[n, i C/g + j] = dy[n, j g + i] (the inverse permutation) */
#include "layer.h"
#include <stdio.h>
#include <string.h>

static gc_status shuffle_check(const gc_layer *l) {
    if (l->p.shuffle_groups < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "channel_shuffle: groups %lld must be >= 1",
                        (long long)l->p.shuffle_groups);
    return GC_OK;
}

static gc_status shuffle_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    const int64_t g = l->p.shuffle_groups;
    char b[96];
    gc_shape_format(b, sizeof b, in);
    if (in->ndim < 2 || gc_shape_numel(in) < 1)
        return gc_error(GC_ERR_SHAPE, "channel_shuffle expects (N, C, ...) input, got %s", b);
    if (in->d[1] % g)
        return gc_error(GC_ERR_SHAPE, "channel_shuffle: groups %lld does not divide the %lld channels of %s",
                        (long long)g, (long long)in->d[1], b);
    *out = *in;
    return GC_OK;
}

/* Elements per channel (the dimensions after 1). */
static int64_t inner(const gc_shape *s) {
    int64_t k = 1;
    for (int d = 2; d < s->ndim; d++) k *= s->d[d];
    return k;
}

typedef struct shuffle_job {
    int64_t C, S, g;  /* channels, elements per channel, groups */
    const float *src; /* (N, C, S) */
    float *dst;       /* (N, C, S) */
    int inverse;
} shuffle_job;

/* dst channel q <- src channel perm(q) for (n, q) in [lo, hi) of the N * C; inverse: the other
 * way round. */
static void permute_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const shuffle_job *job = arg;
    const int64_t C = job->C, S = job->S, g = job->g, cpg = C / g;
    (void)worker;
    for (int64_t nq = lo; nq < hi; nq++) {
        const int64_t n = nq / C, co = nq % C, ci = co % g * cpg + co / g; /* output channel co = j g + i */
        const int64_t from = job->inverse ? co : ci, to = job->inverse ? ci : co;
        memcpy(job->dst + (n * C + to) * S, job->src + (n * C + from) * S, (size_t)S * sizeof(float));
    }
}

static void permute(const gc_layer_ctx *c, const float *src, float *dst, int inverse) {
    const int64_t NC = c->in.d[0] * c->in.d[1], S = inner(&c->in);
    shuffle_job j = {c->in.d[1], S, c->layer->p.shuffle_groups, src, dst, inverse};
    gc_pool_for(c->pool, NC, gc_grain(NC, S, GC_SERIAL_UNITS), 0, permute_chunk, &j);
}

static void shuffle_forward(const gc_layer_ctx *c) { permute(c, c->x, c->y, 0); }

static void shuffle_backward(const gc_layer_ctx *c) {
    if (c->dx) permute(c, c->dy, c->dx, 1);
}

static const gc_hparam shuffle_hp[] = {GC_HPI(shuffle_groups, "groups")};

const gc_layer_ops gc_channel_shuffle_ops = {
    .name = "channel_shuffle",
    .min_inputs = 1, .max_inputs = 1,
    GC_HPARAMS(shuffle_hp),
    .check_params = shuffle_check,
    .param_shapes = gc_layer_no_params,
    .infer = shuffle_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = shuffle_forward,
    .backward = shuffle_backward,
};
