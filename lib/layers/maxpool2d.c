/* maxpool2d.c - torch.nn.MaxPool2d, the reference kernel:
 *   y[n,c,i,j] = max over the window x[n, c, i*s_h - p_h + u*d_h, j*s_w - p_w + v*d_w]
 *   (padding counts as -inf; ties keep the first maximum in scan order, NaN wins).
 *   state: the winning tap per output, for backward (a byte for windows of <= 255 taps); none
 *   in a session that never runs the layer's backward (GC_TRAIT_STATE_OPTIONAL): forward then
 *   finds the same maxima without the taps (maxpool_values_chunk). */
#include "layer.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ parameters */

static gc_status maxpool_check(const gc_layer *l) {
    const gc_pool2d_params *p = &l->p.pool;
    int64_t t;
    if (p->kernel_h < 1 || p->kernel_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "maxpool2d: kernel %lldx%lld has a size < 1", (long long)p->kernel_h, (long long)p->kernel_w);
    if (p->stride_h < 1 || p->stride_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "maxpool2d: stride %lldx%lld has a value < 1", (long long)p->stride_h, (long long)p->stride_w);
    if (p->pad_h < 0 || p->pad_w < 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "maxpool2d: padding %lldx%lld is negative", (long long)p->pad_h, (long long)p->pad_w);
    if (p->pad_h > p->kernel_h / 2 || p->pad_w > p->kernel_w / 2)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "maxpool2d: padding %lldx%lld exceeds half the kernel %lldx%lld",
                        (long long)p->pad_h, (long long)p->pad_w, (long long)p->kernel_h, (long long)p->kernel_w);
    if (p->dilation_h < 1 || p->dilation_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "maxpool2d: dilation %lldx%lld has a value < 1", (long long)p->dilation_h, (long long)p->dilation_w);
    if (gc_mul_i64(p->dilation_h, p->kernel_h, &t) || gc_mul_i64(p->dilation_w, p->kernel_w, &t))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "maxpool2d: dilated kernel size overflows");
    return GC_OK;
}

/* ----------------------------------------------------------------- shapes */

static gc_status maxpool_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    const gc_pool2d_params *p = &l->p.pool;
    gc_status st = gc_expect_4d("maxpool2d", in);
    if (st) return st;
    char b[96]; /* the input shape, for messages below */
    gc_shape_format(b, sizeof b, in);
    int64_t oh = gc_pool_out_size(in->d[2], p->kernel_h, p->stride_h, p->pad_h, p->dilation_h, p->ceil_mode);
    int64_t ow = gc_pool_out_size(in->d[3], p->kernel_w, p->stride_w, p->pad_w, p->dilation_w, p->ceil_mode);
    if (oh < 1 || ow < 1)
        return gc_error(GC_ERR_SHAPE, "maxpool2d: input %s is too small for kernel %lldx%lld (dilation %lldx%lld, padding %lldx%lld)",
                        b, (long long)p->kernel_h, (long long)p->kernel_w, (long long)p->dilation_h,
                        (long long)p->dilation_w, (long long)p->pad_h, (long long)p->pad_w);
    *out = (gc_shape){4, {in->d[0], in->d[1], oh, ow}};
    if (gc_shape_numel(out) < 0) return gc_error(GC_ERR_SHAPE, "maxpool2d: output size for input %s overflows", b);
    return GC_OK;
}

/* The winner of each output: its tap u * kernel_w + v as a byte when the window has at most
 * 255 taps (GC_NO_TAP: an empty window), else its index ih * W + iw in the plane as an
 * int64_t (-1: empty). */
#define GC_NO_TAP 255
static int wide_taps(const gc_pool2d_params *p) {
    return p->kernel_h > 255 || p->kernel_w > 255 || p->kernel_h * p->kernel_w > 255;
}

static size_t maxpool_state(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)in;
    size_t bytes;
    int64_t n = gc_shape_numel(out);
    if (n < 0 || gc_mul_size((size_t)n, wide_taps(&l->p.pool) ? sizeof(int64_t) : 1, &bytes)) return SIZE_MAX;
    return bytes;
}

/* ---------------------------------------------------------------- forward */

typedef void (*row_kernel)(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap);

typedef struct maxpool_job {
    const gc_pool2d_params *p;
    int64_t H, W, OH, OW;
    const float *x;  /* (N, C, H, W) */
    float *y;        /* (N, C, OH, OW) */
    void *state;     /* (N, C, OH, OW) winners (wide_taps), NULL: none kept */
    int wide, fast;  /* wide_taps; dilation 1 */
    row_kernel row;  /* the 2x2/2 or 3x3/2 row kernel of the tier, or NULL */
    int64_t j_lo, j_hi; /* windows [j_lo, j_hi) lie inside the row: the row kernel takes them */
} maxpool_job;

/* Planes [lo, hi) of the N * C. */
static void maxpool_forward_chunk(void *job_, int64_t lo, int64_t hi, int worker) {
    const maxpool_job *job = job_;
    const gc_pool2d_params *p = job->p;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW, j_lo = job->j_lo, j_hi = job->j_hi;
    const int64_t kh = p->kernel_h, kw = p->kernel_w, dh = p->dilation_h, dw = p->dilation_w;
    const int wide = job->wide, fast = job->fast;
    uint8_t *tap8 = job->state;
    int64_t *tap64 = job->state;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const float *xp = job->x + t * H * W;
        for (int64_t i = 0; i < OH; i++) {
            const int64_t h0 = i * p->stride_h - p->pad_h, o = (t * OH + i) * OW;
            int64_t ua = 0, ub = kh; /* clip only windows that leave the image */
            if (h0 < 0 || h0 + (kh - 1) * dh >= H) gc_valid_range(h0, dh, H, kh, &ua, &ub);
            const int row_inside = ua == 0 && ub == kh;
            const int rowk = job->row && row_inside && j_hi > j_lo;
            if (rowk && tap8) /* the windows inside the image (VGG, AlexNet: the whole row) */
                job->row(xp + h0 * W + 2 * j_lo - p->pad_w, W, j_hi - j_lo, job->y + o + j_lo, tap8 + o + j_lo);
            else if (rowk) /* no state: the taps to a scratch row */
                for (int64_t j0 = j_lo; j0 < j_hi; j0 += 256) {
                    uint8_t scratch[256];
                    const int64_t n = j_hi - j0 < 256 ? j_hi - j0 : 256;
                    job->row(xp + h0 * W + 2 * j0 - p->pad_w, W, n, job->y + o + j0, scratch);
                }
            for (int64_t j = 0; j < OW; j++) {
                if (rowk && j == j_lo) { /* done above */
                    j = j_hi - 1;
                    continue;
                }
                const int64_t w0 = j * p->stride_w - p->pad_w;
                float best;
                int64_t bu, bv; /* the winner's tap, (-1, -1): none */
                if (fast && row_inside && w0 >= 0 && w0 + kw <= W) {
                    /* whole window inside, dilation 1: branch-free scan, the same
                       rule as below (first maximum wins, a NaN always takes over) */
                    const float *wp = xp + h0 * W + w0;
                    best = wp[0];
                    bu = bv = 0;
                    for (int64_t u = 0; u < kh; u++)
                        for (int64_t v = (u == 0); v < kw; v++) {
                            const float xv = wp[u * W + v];
                            const int take = (xv > best) | (xv != xv);
                            best = take ? xv : best;
                            bu = take ? u : bu;
                            bv = take ? v : bv;
                        }
                } else {
                    best = -INFINITY;
                    bu = bv = -1;
                    int64_t va = 0, vb = kw;
                    if (w0 < 0 || w0 + (kw - 1) * dw >= W) gc_valid_range(w0, dw, W, kw, &va, &vb);
                    for (int64_t u = ua; u < ub; u++) {
                        const float *xr = xp + (h0 + u * dh) * W + w0;
                        for (int64_t v = va; v < vb; v++) {
                            const float xv = xr[v * dw];
                            if (bu < 0 || xv > best || isnan(xv)) {
                                best = xv;
                                bu = u;
                                bv = v;
                            }
                        }
                    }
                }
                job->y[o + j] = best;
                if (!job->state) continue; /* forward only, a tier or shape without the values kernel */
                if (wide) tap64[o + j] = bu < 0 ? -1 : (h0 + bu * dh) * W + w0 + bv * dw;
                else tap8[o + j] = bu < 0 ? GC_NO_TAP : (uint8_t)(bu * kw + bv);
            }
        }
    }
}

/* ---------------------------------------------------- forward, values only */

typedef void (*values_kernel)(const float *const *rows, int64_t nr, int64_t kw, int64_t W, int64_t c0, int64_t n,
                              float *y, int acc);

typedef struct maxpool_values_job {
    const gc_pool2d_params *p;
    values_kernel values; /* gc_maxpool_s2_values_avx512 or _avx2 */
    int64_t H, W, OH, OW;
    const float *x;  /* (N, C, H, W) */
    float *y;        /* (N, C, OH, OW) */
} maxpool_values_job;

/* Planes [lo, hi) of the N * C without the taps (ctx->state NULL), AVX-512 or AVX2, stride_w 2,
 * kernel_w 2 or 3, dilation_w 1: each output row by gc_maxpool_s2_values_* from its
 * window rows inside the image (the reference's clipped scan skips the others). */
static void maxpool_values_chunk(void *job_, int64_t lo, int64_t hi, int worker) {
    const maxpool_values_job *job = job_;
    const gc_pool2d_params *p = job->p;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW;
    const int64_t kh = p->kernel_h, dh = p->dilation_h;
    enum { R = 16 }; /* window rows per kernel call */
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        const float *xp = job->x + t * H * W;
        for (int64_t i = 0; i < OH; i++) {
            const int64_t h0 = i * p->stride_h - p->pad_h;
            float *yr = job->y + (t * OH + i) * OW;
            int64_t ua = 0, ub = kh;
            if (h0 < 0 || h0 + (kh - 1) * dh >= H) gc_valid_range(h0, dh, H, kh, &ua, &ub);
            if (ua == ub) { /* no window row inside (the reference's empty window) */
                for (int64_t j = 0; j < OW; j++) yr[j] = -INFINITY;
                continue;
            }
            const float *rows[R];
            for (int64_t u0 = ua; u0 < ub; u0 += R) {
                const int64_t nr = ub - u0 < R ? ub - u0 : R;
                for (int64_t u = 0; u < nr; u++) rows[u] = xp + (h0 + (u0 + u) * dh) * W;
                job->values(rows, nr, p->kernel_w, W, -p->pad_w, OW, yr, u0 > ua);
            }
        }
    }
}

static void maxpool_forward(const gc_layer_ctx *c) {
    const gc_pool2d_params *p = &c->layer->p.pool;
    const int64_t NC = c->in.d[0] * c->in.d[1], W = c->in.d[3], OW = c->out.d[3];
    const int fast = p->dilation_h == 1 && p->dilation_w == 1;
    const gc_gemm_tier tier = gc_gemm_resolve((gc_gemm_tier)c->kernels);
    const double cost = (double)c->out.d[2] * OW * p->kernel_h * p->kernel_w; /* window reads per plane */
    /* a forward-only session's, no taps to keep: 3-wide windows, and 2-wide ones on rows of 32
       outputs or more (VGG's first two pools; on its 28 and 14 wide rows the row kernel, whose
       2x2 windows share no columns, was as fast or 10-15 % faster). AVX2: 3-wide windows only
       (on Zen 3 its 2x2 row kernel was 5 to 50 % faster than the values kernel on VGG's planes) */
    if (!c->state && p->stride_w == 2 && p->dilation_w == 1 &&
        ((tier == GC_GEMM_AVX512 && (p->kernel_w == 3 || (p->kernel_w == 2 && OW >= 32))) ||
         (tier == GC_GEMM_AVX2 && p->kernel_w == 3))) {
        maxpool_values_job job = {p, tier == GC_GEMM_AVX512 ? gc_maxpool_s2_values_avx512 : gc_maxpool_s2_values_avx2,
                                  c->in.d[2], W, c->out.d[2], OW, c->x, c->y};
        gc_pool_for(c->pool, NC, gc_grain(NC, cost, 0), 0, maxpool_values_chunk, &job);
        return;
    }
    row_kernel row = NULL;
    if (fast && p->stride_w == 2 && tier != GC_GEMM_REFERENCE) {
        if (p->kernel_h == 2 && p->kernel_w == 2)
            row = tier == GC_GEMM_AVX512 ? gc_maxpool2x2s2_row_avx512
                : tier == GC_GEMM_AVX2   ? gc_maxpool2x2s2_row_avx2 : gc_maxpool2x2s2_row_portable;
        if (p->kernel_h == 3 && p->kernel_w == 3)
            row = tier == GC_GEMM_AVX512 ? gc_maxpool3x3s2_row_avx512
                : tier == GC_GEMM_AVX2   ? gc_maxpool3x3s2_row_avx2 : gc_maxpool3x3s2_row_portable;
    }
    const int64_t room = W + p->pad_w - p->kernel_w, j_lo = (p->pad_w + 1) / 2;
    const int64_t j_hi = room < 0 ? 0 : room / 2 + 1 < OW ? room / 2 + 1 : OW;
    maxpool_job job = {p, c->in.d[2], W, c->out.d[2], OW, c->x, c->y, c->state, wide_taps(p), fast, row, j_lo, j_hi};
    gc_pool_for(c->pool, NC, gc_grain(NC, cost, 0), 0, maxpool_forward_chunk, &job);
}

/* --------------------------------------------------------------- backward */

typedef struct maxpool_bwd_job {
    const gc_pool2d_params *p;
    int64_t H, W, OH, OW;
    const float *dy;    /* (N, C, OH, OW) */
    const void *state;  /* (N, C, OH, OW) winners (wide_taps) */
    float *dx;          /* (N, C, H, W) */
    int wide;
} maxpool_bwd_job;

/* dx[winner] += dy in output order, planes [lo, hi) of the N * C. */
static void maxpool_backward_chunk(void *job_, int64_t lo, int64_t hi, int worker) {
    const maxpool_bwd_job *job = job_;
    const gc_pool2d_params *p = job->p;
    const int64_t H = job->H, W = job->W, OH = job->OH, OW = job->OW, kw = p->kernel_w;
    const uint8_t *tap8 = job->state;
    const int64_t *tap64 = job->state;
    int64_t off[256]; /* byte taps: the tap's offset in the plane from the window's corner */
    (void)worker;
    if (!job->wide)
        for (int64_t k = 0; k < p->kernel_h * kw; k++) off[k] = (k / kw) * p->dilation_h * W + (k % kw) * p->dilation_w;
    for (int64_t t = lo; t < hi; t++) {
        float *dxp = job->dx + t * H * W;
        const float *dyp = job->dy + t * OH * OW;
        memset(dxp, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t i = 0; i < OH; i++) {
            const int64_t o = (t * OH + i) * OW, h0 = i * p->stride_h - p->pad_h;
            for (int64_t j = 0; j < OW; j++) {
                if (job->wide) {
                    if (tap64[o + j] >= 0) dxp[tap64[o + j]] += dyp[i * OW + j];
                } else if (tap8[o + j] != GC_NO_TAP)
                    dxp[h0 * W + j * p->stride_w - p->pad_w + off[tap8[o + j]]] += dyp[i * OW + j];
            }
        }
    }
}

static void maxpool_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const gc_pool2d_params *p = &c->layer->p.pool;
    const int64_t NC = c->in.d[0] * c->in.d[1], HW = c->in.d[2] * c->in.d[3];
    const int64_t OHW = c->out.d[2] * c->out.d[3];
    maxpool_bwd_job job = {p, c->in.d[2], c->in.d[3], c->out.d[2], c->out.d[3], c->dy, c->state, c->dx, wide_taps(p)};
    gc_pool_for(c->pool, NC, gc_grain(NC, (double)HW + 2.0 * OHW, 0), 0, maxpool_backward_chunk, &job);
}

static const gc_hparam maxpool_hp[] = {
    GC_HPI(pool.kernel_h, "kernel_h"), GC_HPI(pool.kernel_w, "kernel_w"),
    GC_HPI(pool.stride_h, "stride_h"), GC_HPI(pool.stride_w, "stride_w"),
    GC_HPI(pool.pad_h, "pad_h"), GC_HPI(pool.pad_w, "pad_w"),
    GC_HPI(pool.dilation_h, "dilation_h"), GC_HPI(pool.dilation_w, "dilation_w"),
    GC_HPB(pool.ceil_mode, "ceil_mode"), GC_HPB(pool.count_include_pad, "count_include_pad")};

const gc_layer_ops gc_maxpool2d_ops = {
    .name = "maxpool2d",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_POOL | GC_TRAIT_STATE_OPTIONAL,
    GC_HPARAMS(maxpool_hp),
    .check_params = maxpool_check,
    .param_shapes = gc_layer_no_params,
    .infer = maxpool_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = maxpool_state,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
};
