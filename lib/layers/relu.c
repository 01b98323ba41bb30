/* relu.c - y = max(x, 0); backward by gc_relu_mode:
 *   normal     dx = dy * [x > 0]
 *   guided     dx = dy * [x > 0] * [dy > 0]   (Springenberg et al.)
 *   deconvnet  dx = dy * [dy > 0]             (Zeiler & Fergus)
 * Forward keeps [x > 0] as one bit per element in the state, so backward
 * needs neither x nor y (they can be freed after the forward pass); none
 * where the session never runs its backward (state NULL). Fused
 * into the convolution before it (gc_epilogue GC_EPI_RELU), it runs no
 * forward: the convolution writes y and the bits (Winograd as 4x4 tiles,
 * kernels/activation.h's GC_EPI_BITS_TILES; the state's first word then says
 * which). gc_epilogue_run (here, beside the mask kernels) applies any
 * epilogue. */
#include "kernels/activation.h"
#include "layer.h"
#include "kernels/gemm.h"
#include "kernels/relu_simd.h"

static gc_status relu_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    (void)l;
    *out = *in;
    return GC_OK;
}

/* One uint64_t of mask bits per 64 elements. Fused into a convolution: a layout word first, and
 * (4-D) room for one uint16_t per 4x4 tile of each plane instead if that is larger. */
static size_t relu_state(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)out;
    size_t words = (size_t)((gc_shape_numel(in) + 63) / 64);
    if (in->ndim == 4) {
        const int64_t tiles = in->d[0] * in->d[1] * ((in->d[2] + 3) / 4) * ((in->d[3] + 3) / 4);
        if ((size_t)((tiles + 3) / 4) > words) words = (size_t)((tiles + 3) / 4);
    }
    return (1 + words) * sizeof(uint64_t);
}

/* ---------------------------------------------------------------- kernels */

/* The reference loops (REFERENCE and PORTABLE tiers), on [lo, hi), lo a
 * multiple of 64. */
static void forward_scalar(const float *x, float *y, uint64_t *mask, int64_t lo, int64_t hi) {
    for (int64_t w = lo; w < hi; w += 64) {
        const int64_t end = w + 64 < hi ? w + 64 : hi;
        uint64_t bits = 0;
        for (int64_t i = w; i < end; i++) {
            const int pos = x[i] > 0.0f;
            y[i] = pos ? x[i] : 0.0f;
            bits |= (uint64_t)pos << (i - w);
        }
        if (mask) mask[w / 64] = bits;
    }
}

static void mask_scalar(const float *y, uint64_t *mask, int64_t lo, int64_t hi) {
    for (int64_t w = lo; w < hi; w += 64) {
        const int64_t end = w + 64 < hi ? w + 64 : hi;
        uint64_t bits = 0;
        for (int64_t i = w; i < end; i++) bits |= (uint64_t)(y[i] > 0.0f) << (i - w);
        mask[w / 64] = bits;
    }
}

static void backward_scalar(const uint64_t *mask, const float *dy, float *dx, int64_t lo, int64_t hi, int mode) {
    for (int64_t w = lo; w < hi; w += 64) {
        const int64_t end = w + 64 < hi ? w + 64 : hi;
        const uint64_t bits = mask[w / 64];
        for (int64_t i = w; i < end; i++) {
            const int pos = (int)((bits >> (i - w)) & 1u);
            const float g = dy[i];
            const int pass = mode == GC_RELU_DECONVNET ? g > 0.0f : mode == GC_RELU_GUIDED ? pos && g > 0.0f : pos;
            dx[i] = pass ? g : 0.0f;
        }
    }
}

/* Work is split in chunks of whole blocks of whole mask words; each chunk runs the kernel of
 * the session's tier (vector kernels give the reference's bits). */
#define RELU_BLOCK ((int64_t)64 * 256)

static int64_t relu_grain(int64_t n) {
    return gc_grain((n + RELU_BLOCK - 1) / RELU_BLOCK, RELU_BLOCK, GC_SERIAL_UNITS) * RELU_BLOCK;
}

typedef struct relu_fwd_job {
    gc_gemm_tier tier;
    const float *x;     /* (n) */
    float *y;           /* (n) */
    uint64_t *mask;     /* (n / 64 rounded up) bit i: x[i] > 0 */
} relu_fwd_job;

static void relu_forward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const relu_fwd_job *job = arg;
    (void)worker;
    if (job->tier == GC_GEMM_AVX512) gc_relu_forward_avx512(job->x, job->y, job->mask, lo, hi);
    else if (job->tier == GC_GEMM_AVX2) gc_relu_forward_avx2(job->x, job->y, job->mask, lo, hi);
    else forward_scalar(job->x, job->y, job->mask, lo, hi);
}

static void relu_forward(const gc_layer_ctx *c) {
    const int64_t n = gc_shape_numel(&c->in);
    relu_fwd_job job = {gc_gemm_resolve((gc_gemm_tier)c->kernels), c->x, c->y, c->state};
    gc_pool_for(c->pool, n, relu_grain(n), 0, relu_forward_chunk, &job);
}

typedef struct relu_bwd_job {
    gc_gemm_tier tier;
    const uint64_t *mask; /* (n / 64 rounded up) */
    const float *dy;      /* (n) */
    float *dx;            /* (n) */
    int mode;             /* gc_relu_mode */
    int64_t H, W;         /* tiles: plane size */
} relu_bwd_job;

/* The bits as 4x4 tiles (GC_EPI_BITS_TILES), planes [p0, p1) of H x W. */
static void backward_tiles_scalar(const uint16_t *tiles, const float *dy, float *dx, int64_t p0, int64_t p1, int64_t H,
                                  int64_t W, int mode) {
    const int64_t TW = (W + 3) / 4, TH = (H + 3) / 4;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t y = 0; y < H; y++) {
            const uint16_t *tr = tiles + (p * TH + y / 4) * TW;
            const int64_t o = (p * H + y) * W;
            for (int64_t x = 0; x < W; x++) {
                const int pos = (tr[x / 4] >> (4 * (y % 4) + x % 4)) & 1;
                const float g = dy[o + x];
                const int pass = mode == GC_RELU_DECONVNET ? g > 0.0f : mode == GC_RELU_GUIDED ? pos && g > 0.0f : pos;
                dx[o + x] = pass ? g : 0.0f;
            }
        }
}

static void relu_backward_planes(void *arg, int64_t lo, int64_t hi, int worker) {
    const relu_bwd_job *job = arg;
    const uint16_t *tiles = (const uint16_t *)(const void *)job->mask;
    (void)worker;
    if (job->tier == GC_GEMM_AVX512) gc_relu_backward_tiles_avx512(tiles, job->dy, job->dx, lo, hi, job->H, job->W, job->mode);
    else if (job->tier == GC_GEMM_AVX2) gc_relu_backward_tiles_avx2(tiles, job->dy, job->dx, lo, hi, job->H, job->W, job->mode);
    else backward_tiles_scalar(tiles, job->dy, job->dx, lo, hi, job->H, job->W, job->mode);
}

static void relu_backward_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const relu_bwd_job *job = arg;
    (void)worker;
    if (job->tier == GC_GEMM_AVX512) gc_relu_backward_avx512(job->mask, job->dy, job->dx, lo, hi, job->mode);
    else if (job->tier == GC_GEMM_AVX2) gc_relu_backward_avx2(job->mask, job->dy, job->dx, lo, hi, job->mode);
    else backward_scalar(job->mask, job->dy, job->dx, lo, hi, job->mode);
}

static void relu_backward(const gc_layer_ctx *c) {
    if (!c->dx) return;
    const int64_t n = gc_shape_numel(&c->in);
    const uint64_t *state = c->state; /* fused: the layout word, then the bits */
    relu_bwd_job job = {gc_gemm_resolve((gc_gemm_tier)c->kernels), c->fused ? state + 1 : state, c->dy, c->dx,
                        (int)c->relu_mode, 0, 0};
    if (c->fused && state[0] == GC_EPI_BITS_TILES) { /* written by Winograd: 4-D */
        job.H = c->in.d[2], job.W = c->in.d[3];
        const int64_t planes = c->in.d[0] * c->in.d[1];
        gc_pool_for(c->pool, planes, gc_grain(planes, (double)(job.H * job.W), GC_SERIAL_UNITS), 0, relu_backward_planes,
                    &job);
        return;
    }
    gc_pool_for(c->pool, n, relu_grain(n), 0, relu_backward_chunk, &job);
}

static int relu_epilogue(const gc_layer *l, gc_epilogue *e) {
    (void)l;
    *e = (gc_epilogue){GC_EPI_RELU, 0.0f, 0.0f, NULL, 0};
    return GC_FUSE_ANY;
}

/* ---------------------------------------------------------------- epilogues */

typedef struct epi_job {
    gc_gemm_tier tier;
    gc_epilogue e;
    float *y;           /* (n) */
    int stored;         /* the values are final: a ReLU's bits only */
    const float *res;   /* (n) added to y first, or NULL */
} epi_job;

static void epi_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const epi_job *job = arg;
    (void)worker;
    for (int64_t i = lo; job->res && i < hi; i++) job->y[i] += job->res[i];
    if (job->e.op == GC_EPI_NONE) return;
    if (job->e.op == GC_EPI_RELU && job->stored) {
        if (!job->e.mask) return; /* no bits kept */
        if (job->tier == GC_GEMM_AVX512) gc_relu_mask_avx512(job->y, job->e.mask, lo, hi);
        else if (job->tier == GC_GEMM_AVX2) gc_relu_mask_avx2(job->y, job->e.mask, lo, hi);
        else mask_scalar(job->y, job->e.mask, lo, hi);
    } else if (job->e.op == GC_EPI_RELU) {
        relu_fwd_job r = {job->tier, job->y, job->y, job->e.mask};
        relu_forward_chunk(&r, lo, hi, worker);
    } else if (job->e.op == GC_EPI_ACT) {
        if (job->tier == GC_GEMM_AVX512) gc_epi_act_avx512(job->e.act, job->e.lo, job->e.hi, job->y + lo, hi - lo);
        else if (job->tier == GC_GEMM_AVX2) gc_epi_act_avx2(job->e.act, job->e.lo, job->e.hi, job->y + lo, hi - lo);
        else gc_epi_act_portable(job->e.act, job->e.lo, job->e.hi, job->y + lo, hi - lo);
    } else if (job->tier == GC_GEMM_AVX512) gc_epi_clamp_avx512(job->e.lo, job->e.hi, job->y + lo, hi - lo);
    else if (job->tier == GC_GEMM_AVX2) gc_epi_clamp_avx2(job->e.lo, job->e.hi, job->y + lo, hi - lo);
    else gc_epi_clamp_portable(job->e.lo, job->e.hi, job->y + lo, hi - lo);
}

/* Chunks of whole mask words. A fused sigmoid or SiLU costs about 8 copies an element (e^x and
 * a division): split as the activation layer does (act_grain, from 8 K elements on, in blocks of
 * 2 K), so EfficientNet's 7x7 and 14x14 epilogues (56 K, 131 K elements) do not run on one
 * thread. */
static int64_t epi_grain(const gc_epilogue *e, int64_t n) {
    if (e->op == GC_EPI_ACT && (e->act == GC_ACT_SIGMOID || e->act == GC_ACT_SILU)) {
        const int64_t blk = RELU_BLOCK / 8;
        return gc_grain((n + blk - 1) / blk, (double)blk * 8.0, GC_SERIAL_UNITS) * blk;
    }
    return relu_grain(n);
}

static void epi_run(gc_pool *pool, int tier, const gc_epilogue *e, float *y, const float *res, int64_t n, int stored) {
    epi_job job = {gc_gemm_resolve((gc_gemm_tier)tier), *e, y, stored, res};
    if (e->op == GC_EPI_RELU && e->mask) { /* flat bits after the layout word */
        e->mask[0] = GC_EPI_BITS_FLAT;
        job.e.mask = e->mask + 1;
    }
    gc_pool_for(pool, n, epi_grain(e, n), 0, epi_chunk, &job);
}

void gc_epilogue_run(gc_pool *pool, int tier, const gc_epilogue *e, float *y, int64_t n, int stored) {
    if (!e || e->op == GC_EPI_NONE || n < 1 || (stored && (e->op != GC_EPI_RELU || !e->mask))) return;
    epi_run(pool, tier, e, y, NULL, n, stored);
}

void gc_epilogue_run_res(gc_pool *pool, int tier, const gc_epilogue *e, float *y, const float *res, int64_t n) {
    if (n >= 1) epi_run(pool, tier, e, y, res, n, 0);
}

const gc_layer_ops gc_relu_ops = {
    .name = "relu",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_ACTIVATION | GC_TRAIT_SAME_SHAPE | GC_TRAIT_STATE_OPTIONAL,
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = relu_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = relu_state,
    .forward = relu_forward,
    .backward = relu_backward,
    .epilogue = relu_epilogue,
};
