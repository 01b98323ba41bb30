/* concat.c - torch.cat(xs, dim=1): inputs (N, C_k, ...) with equal other dimensions
 * -> (N, sum C_k, ...); backward hands each input its slice of dy. */
#include "layer.h"
#include <stdio.h>
#include <string.h>

static gc_status concat_check(const gc_layer *l) {
    if (l->p.concat.axis != 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "concat: axis %lld is not supported (only 1, the channels)",
                        (long long)l->p.concat.axis);
    return GC_OK;
}

static gc_status concat_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    *out = in[0];
    out->d[1] = 0;
    for (int k = 0; k < l->n_inputs; k++) {
        int same = in[k].ndim == in[0].ndim && in[k].ndim >= 2;
        for (int d = 0; same && d < in[k].ndim; d++) same = d == 1 || in[k].d[d] == in[0].d[d];
        if (!same || in[k].d[1] < 1 || gc_add_i64(out->d[1], in[k].d[1], &out->d[1])) {
            char a[96], b[96];
            gc_shape_format(a, sizeof a, &in[0]);
            gc_shape_format(b, sizeof b, &in[k]);
            return gc_error(GC_ERR_SHAPE, "concat: input %d has shape %s, input 0 has %s (all dimensions but the "
                            "channels must agree)", k, b, a);
        }
    }
    if (gc_shape_numel(out) < 1) return gc_error(GC_ERR_SHAPE, "concat: output size overflows");
    return GC_OK;
}

/* Elements per channel of shape s (the dimensions after 1). */
static int64_t inner(const gc_shape *s) {
    int64_t k = 1;
    for (int d = 2; d < s->ndim; d++) k *= s->d[d];
    return k;
}

typedef struct concat_job {
    const gc_layer_ctx *c;
    int64_t S, row; /* elements per channel, per output sample */
} concat_job;

/* y[n, off_k + c] = x_k[n, c] for every input k, samples n in [lo, hi). */
static void concat_forward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const concat_job *job = arg;
    const gc_layer_ctx *c = job->c;
    (void)worker;
    for (int64_t n = lo; n < hi; n++) {
        int64_t off = 0;
        for (int k = 0; k < c->n_in; k++) {
            const int64_t len = c->ins[k].d[1] * job->S;
            memcpy(c->y + n * job->row + off, c->xs[k] + n * len, (size_t)len * sizeof(float));
            off += len;
        }
    }
}

static void concat_forward(const gc_layer_ctx *c) {
    const int64_t N = c->out.d[0], S = inner(&c->out);
    concat_job job = {c, S, c->out.d[1] * S};
    gc_pool_for(c->pool, N, gc_grain(N, job.row, GC_SERIAL_UNITS), 0, concat_forward_chunk, &job);
}

/* Each input's slice of dy, samples n in [lo, hi). */
static void concat_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const concat_job *job = arg;
    const gc_layer_ctx *c = job->c;
    (void)worker;
    for (int64_t n = lo; n < hi; n++) {
        int64_t off = 0;
        for (int k = 0; k < c->n_in; k++) {
            const int64_t len = c->ins[k].d[1] * job->S;
            if (c->dxs[k]) memcpy(c->dxs[k] + n * len, c->dy + n * job->row + off, (size_t)len * sizeof(float));
            off += len;
        }
    }
}

static void concat_backward(const gc_layer_ctx *c) {
    const int64_t N = c->out.d[0], S = inner(&c->out);
    concat_job job = {c, S, c->out.d[1] * S};
    gc_pool_for(c->pool, N, gc_grain(N, job.row, GC_SERIAL_UNITS), 0, concat_backward_chunk, &job);
}

static const gc_hparam concat_hp[] = {GC_HPI(concat.axis, "axis")};

const gc_layer_ops gc_concat_ops = {
    .name = "concat",
    .min_inputs = 1, .max_inputs = GC_MAX_INPUTS,
    GC_HPARAMS(concat_hp),
    .check_params = concat_check,
    .param_shapes = gc_layer_no_params,
    .infer = concat_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = concat_forward,
    .backward = concat_backward,
};
