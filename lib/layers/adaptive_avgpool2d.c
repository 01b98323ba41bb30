/* adaptive_avgpool2d.c - torch.nn.AdaptiveAvgPool2d, the reference kernel:
 *   y[n,c,i,j] = mean of x[n, c, a_i..b_i-1, a_j..b_j-1],
 *   a_i = floor(i*H/OH), b_i = ceil((i+1)*H/OH) (windows may overlap; OH may exceed H). */
#include "layer.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Window [*a, *b) of output i of o along an axis of n (overflow-free for n, o < 2^62). */
static void window(int64_t i, int64_t o, int64_t n, int64_t *a, int64_t *b) {
    *a = (int64_t)(((__int128)i * n) / o);
    *b = (int64_t)(((__int128)(i + 1) * n + o - 1) / o);
}

/* ------------------------------------------------------------ parameters */

static gc_status apool_check(const gc_layer *l) {
    const gc_adaptive_pool2d_params *p = &l->p.apool;
    if (p->out_h < 1 || p->out_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "adaptive_avgpool2d: output size %lldx%lld has a value < 1",
                        (long long)p->out_h, (long long)p->out_w);
    return GC_OK;
}

/* ----------------------------------------------------------------- shapes */

static gc_status apool_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    const gc_adaptive_pool2d_params *p = &l->p.apool;
    gc_status st = gc_expect_4d("adaptive_avgpool2d", in);
    if (st) return st;
    char b[96]; /* the input shape, for messages below */
    gc_shape_format(b, sizeof b, in);
    *out = (gc_shape){4, {in->d[0], in->d[1], p->out_h, p->out_w}};
    if (gc_shape_numel(out) < 0)
        return gc_error(GC_ERR_SHAPE, "adaptive_avgpool2d: output size %lldx%lld for input %s overflows",
                        (long long)p->out_h, (long long)p->out_w, b);
    return GC_OK;
}

/* ---------------------------------------------------------------- forward */

typedef struct apool_job {
    int64_t H, W, OH, OW;
    const float *src; /* (N, C, H, W) x forward, (N, C, OH, OW) dy backward */
    float *dst;       /* (N, C, OH, OW) y forward, (N, C, H, W) dx backward */
    gc_gemm_tier tier; /* AVX-512, AVX2: global pooling sums four planes at a time (gc_sum4_f64_*) */
} apool_job;

/* Work per (n, channel) plane: windows of about H / OH + 1 by W / OW + 1 cells. */
static double apool_cost(const apool_job *job) {
    return (double)(job->H + job->OH) * (double)(job->W + job->OW);
}

/* Global pooling of planes [lo, hi) of the N * C. */
static void apool_global_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const apool_job *job = arg;
    const int64_t HW = job->H * job->W;
    (void)worker;
    int64_t t = lo;
    for (; (job->tier == GC_GEMM_AVX512 || job->tier == GC_GEMM_AVX2) && t + 4 <= hi; t += 4) {
        double s[4];
        if (job->tier == GC_GEMM_AVX512) gc_sum4_f64_avx512(job->src + t * HW, HW, HW, s);
        else gc_sum4_f64_avx2(job->src + t * HW, HW, HW, s);
        for (int r = 0; r < 4; r++) job->dst[t + r] = (float)(s[r] / ((double)job->H * job->W));
    }
    for (; t < hi; t++) job->dst[t] = (float)(gc_sum_f64(job->src + t * HW, HW) / ((double)job->H * job->W));
}

/* Planes [lo, hi) of the N * C. */
static void apool_forward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const apool_job *job = arg;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const float *xp = job->src + t * H * W;
        for (int64_t i = 0; i < OH; i++) {
            int64_t h0, h1;
            window(i, OH, H, &h0, &h1);
            for (int64_t j = 0; j < OW; j++) {
                int64_t w0, w1;
                window(j, OW, W, &w0, &w1);
                double s = 0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * W + iw];
                job->dst[(t * OH + i) * OW + j] = (float)(s / ((double)(h1 - h0) * (double)(w1 - w0)));
            }
        }
    }
}

/* Elements [lo, hi) when every window is one cell (the output size is the input's: VGG's and
 * AlexNet's heads at 224 x 224): dst = src + 0, the summing loops' value (-0 becomes +0). */
static void apool_copy(void *arg, int64_t lo, int64_t hi, int worker) {
    const apool_job *job = arg;
    (void)worker;
    for (int64_t k = lo; k < hi; k++) job->dst[k] = job->src[k] + 0.0f;
}

static void apool_forward(const gc_layer_ctx *c) {
    const int64_t NC = c->in.d[0] * c->in.d[1], H = c->in.d[2], W = c->in.d[3];
    apool_job job = {H, W, c->out.d[2], c->out.d[3], c->x, c->y,
                     gc_gemm_resolve((gc_gemm_tier)c->kernels)};
    if (job.OH == H && job.OW == W) {
        const int64_t n = gc_shape_numel(&c->out);
        gc_pool_for(c->pool, n, gc_grain(n, 2.0, GC_SERIAL_UNITS), 0, apool_copy, &job);
    } else if (job.OH == 1 && job.OW == 1) /* global pooling (the classifier head, squeeze-excitation) */
        gc_pool_for(c->pool, NC, gc_grain(NC, (double)H * W, GC_SERIAL_UNITS), 0, apool_global_chunk, &job);
    else
        gc_pool_for(c->pool, NC, gc_grain(NC, apool_cost(&job), GC_SERIAL_UNITS), 0, apool_forward_chunk, &job);
}

/* --------------------------------------------------------------- backward */

/* dx[window] += dy / window size, planes [lo, hi) of the N * C. */
static void apool_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const apool_job *job = arg;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        float *dxp = job->dst + t * H * W;
        memset(dxp, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t i = 0; i < OH; i++) {
            int64_t h0, h1;
            window(i, OH, H, &h0, &h1);
            for (int64_t j = 0; j < OW; j++) {
                int64_t w0, w1;
                window(j, OW, W, &w0, &w1);
                const float g = (float)(job->src[(t * OH + i) * OW + j] / ((double)(h1 - h0) * (double)(w1 - w0)));
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) dxp[ih * W + iw] += g;
            }
        }
    }
}

/* Global pooling's backward, planes [lo, hi): each dx plane dy / (H W), written once (the value
 * of the loop above, 0 + g: -0 becomes +0), four at a store (this file is built at -O2, where
 * GCC 12 kept the plain loop scalar). */
typedef float apool_v4 __attribute__((vector_size(16)));
static void apool_global_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const apool_job *job = arg;
    const int64_t HW = job->H * job->W;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const float g = 0.0f + (float)(job->src[t] / ((double)job->H * job->W));
        float *dxp = job->dst + t * HW;
        const apool_v4 gv = {g, g, g, g};
        int64_t k = 0;
        for (; k + 8 <= HW; k += 8) memcpy(dxp + k, &gv, sizeof gv), memcpy(dxp + k + 4, &gv, sizeof gv);
        for (; k < HW; k++) dxp[k] = g;
    }
}

static void apool_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const int64_t NC = c->in.d[0] * c->in.d[1];
    apool_job job = {c->in.d[2], c->in.d[3], c->out.d[2], c->out.d[3], c->dy, c->dx, GC_GEMM_REFERENCE}; /* backward: no four-plane sums */
    if (job.OH == job.H && job.OW == job.W) {
        const int64_t n = gc_shape_numel(&c->in);
        gc_pool_for(c->pool, n, gc_grain(n, 2.0, GC_SERIAL_UNITS), 0, apool_copy, &job);
        return;
    }
    if (job.OH == 1 && job.OW == 1) /* squeeze-excitation, the classifier head */
        gc_pool_for(c->pool, NC, gc_grain(NC, (double)job.H * job.W, GC_SERIAL_UNITS), 0, apool_global_backward_chunk, &job);
    else
        gc_pool_for(c->pool, NC, gc_grain(NC, apool_cost(&job), GC_SERIAL_UNITS), 0, apool_backward_chunk, &job);
}

static const gc_hparam apool_hp[] = {GC_HPI(apool.out_h, "out_h"), GC_HPI(apool.out_w, "out_w")};

const gc_layer_ops gc_adaptive_avgpool2d_ops = {
    .name = "adaptive_avgpool2d",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_POOL,
    GC_HPARAMS(apool_hp),
    .check_params = apool_check,
    .param_shapes = gc_layer_no_params,
    .infer = apool_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = apool_forward,
    .backward = apool_backward,
};
