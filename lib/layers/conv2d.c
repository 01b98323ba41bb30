/* conv2d.c - 2-D cross-correlation (torch.nn.Conv2d): reference loops (the oracle and
 * GC_KERNELS_REFERENCE), and fast paths: Winograd F(4x4,3x3) for most 3x3 stride-1 layers,
 * direct convolution (kernels/conv_direct*.c) for the other stride-1 layers and, in inference
 * sessions, for strided ones (AVX-512: its channel form at the layer's stride, chan_strided_ok;
 * other tiers: space to depth, for large kernels, s2d_ok), GEMM on im2col column tiles for the
 * other strided ones (1x1 stride-1 layers: GEMM on the input itself); the accurate forward
 * (kernels/conv_accurate.c) when the context asks for it.
 *   y[n,o,i,j] = b[o] + sum_{c in group(o), u, v} w[o,c,u,v] * x[n, c, i*s_h - p_h + u*d_h, j*s_w - p_w + v*d_w]
 *   (x is zero outside the image); out = floor((H + 2p - d(k-1) - 1) / s) + 1. */
#include "layer.h"
#include "kernels/conv.h"
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* ------------------------------------------------------------ parameters */

static gc_status conv_check(const gc_layer *l) {
    const gc_conv2d_params *p = &l->p.conv;
    int64_t t;
    if (p->in_channels < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: in_channels %lld < 1", (long long)p->in_channels);
    if (p->out_channels < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: out_channels %lld < 1", (long long)p->out_channels);
    if (p->kernel_h < 1 || p->kernel_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: kernel %lldx%lld has a size < 1", (long long)p->kernel_h, (long long)p->kernel_w);
    if (p->stride_h < 1 || p->stride_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: stride %lldx%lld has a value < 1", (long long)p->stride_h, (long long)p->stride_w);
    if (p->pad_h < 0 || p->pad_w < 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: padding %lldx%lld is negative", (long long)p->pad_h, (long long)p->pad_w);
    if (p->dilation_h < 1 || p->dilation_w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: dilation %lldx%lld has a value < 1", (long long)p->dilation_h, (long long)p->dilation_w);
    if (p->groups < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: groups %lld < 1", (long long)p->groups);
    if (p->in_channels % p->groups)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: groups %lld does not divide in_channels %lld", (long long)p->groups, (long long)p->in_channels);
    if (p->out_channels % p->groups)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: groups %lld does not divide out_channels %lld", (long long)p->groups, (long long)p->out_channels);
    if (gc_mul_i64(p->out_channels, p->in_channels / p->groups, &t) || gc_mul_i64(t, p->kernel_h, &t) ||
        gc_mul_i64(t, p->kernel_w, &t) || (uint64_t)t > SIZE_MAX / sizeof(float))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: weight size overflows");
    if (gc_mul_i64(p->dilation_h, p->kernel_h, &t) || gc_mul_i64(p->dilation_w, p->kernel_w, &t) ||
        gc_mul_i64(p->pad_h, 2, &t) || gc_mul_i64(p->pad_w, 2, &t))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "conv2d: padding or dilated kernel size overflows");
    return GC_OK;
}

static int conv_params(const gc_layer *l, gc_shape s[GC_MAX_PARAMS], const char *n[GC_MAX_PARAMS]) {
    const gc_conv2d_params *p = &l->p.conv;
    s[0] = (gc_shape){4, {p->out_channels, p->in_channels / p->groups, p->kernel_h, p->kernel_w}};
    n[0] = "weight";
    if (!p->bias) return 1;
    s[1] = (gc_shape){1, {p->out_channels, 1, 1, 1}};
    n[1] = "bias";
    return 2;
}

/* ----------------------------------------------------------------- shapes */

/* floor((n + 2p - d(k-1) - 1) / s) + 1, or -1 when < 1 or on overflow. */
static int64_t conv_out(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d) {
    int64_t num;
    if (gc_add_i64(n, 2 * p, &num)) return -1;
    num -= d * (k - 1) + 1;
    return num < 0 ? -1 : num / s + 1;
}

static gc_status conv_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    const gc_conv2d_params *p = &l->p.conv;
    char b[96];
    gc_shape_format(b, sizeof b, in);
    if (in->ndim != 4 || in->d[1] != p->in_channels || in->d[0] < 1 || in->d[2] < 1 || in->d[3] < 1)
        return gc_error(GC_ERR_SHAPE, "conv2d expects 4-D input with %lld channels, got %s", (long long)p->in_channels, b);
    int64_t oh = conv_out(in->d[2], p->kernel_h, p->stride_h, p->pad_h, p->dilation_h);
    int64_t ow = conv_out(in->d[3], p->kernel_w, p->stride_w, p->pad_w, p->dilation_w);
    if (oh < 1 || ow < 1)
        return gc_error(GC_ERR_SHAPE, "conv2d: input %s is too small for kernel %lldx%lld (dilation %lldx%lld, padding %lldx%lld)",
                        b, (long long)p->kernel_h, (long long)p->kernel_w, (long long)p->dilation_h,
                        (long long)p->dilation_w, (long long)p->pad_h, (long long)p->pad_w);
    *out = (gc_shape){4, {in->d[0], p->out_channels, oh, ow}};
    if (gc_shape_numel(out) < 0) return gc_error(GC_ERR_SHAPE, "conv2d: output size for input %s overflows", b);
    return GC_OK;
}

static size_t conv_none(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    (void)l; (void)in; (void)out;
    return 0;
}

/* ---------------------------------------------------------------- forward */

/* Outputs planes [lo, hi) of the N * O (image, channel) planes. */
GC_TSAN_LEAF static void conv_forward_ref_planes(void *arg, int64_t lo, int64_t hi, int worker) {
    const gc_layer_ctx *c = arg;
    const gc_conv2d_params *p = &c->layer->p.conv;
    (void)worker;
    const int64_t N = c->in.d[0], C = c->in.d[1], H = c->in.d[2], W = c->in.d[3];
    const int64_t O = c->out.d[1], OH = c->out.d[2], OW = c->out.d[3];
    const int64_t KH = p->kernel_h, KW = p->kernel_w, SH = p->stride_h, SW = p->stride_w;
    const int64_t PH = p->pad_h, PW = p->pad_w, DH = p->dilation_h, DW = p->dilation_w;
    const int64_t CG = C / p->groups, OG = O / p->groups;
    const float *x = c->x;                                    /* (N, C, H, W) */
    const float *wt = c->param[0];                            /* (O, CG, KH, KW) */
    const float *bias = c->param[1];                          /* (O) or NULL */
    float *y = c->y;                                          /* (N, O, OH, OW) */
    /* one sum per output, in double, rounded once: the oracle's error is the float result's own
       rounding, not the growth of a long float sum (which the fast paths are checked against) */
    (void)N;
    for (int64_t t = lo; t < hi; t++) {
        const int64_t n = t / O, o = t % O, c0 = (o / OG) * CG;
        const float *w = wt + o * CG * KH * KW;
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                double s = bias ? bias[o] : 0.0;
                for (int64_t ci = 0; ci < CG; ci++) {
                    const float *xp = x + (n * C + c0 + ci) * H * W;
                    for (int64_t u = 0; u < KH; u++) {
                        const int64_t ih = i * SH - PH + u * DH;
                        if (ih < 0 || ih >= H) continue;
                        for (int64_t v = 0; v < KW; v++) {
                            const int64_t iw = j * SW - PW + v * DW;
                            if (iw >= 0 && iw < W) s += (double)w[(ci * KH + u) * KW + v] * xp[ih * W + iw];
                        }
                    }
                }
                y[(t * OH + i) * OW + j] = (float)s;
            }
    }
}

static void conv_forward_ref(const gc_layer_ctx *c) {
    gc_pool_for(c->pool, c->in.d[0] * c->out.d[1], 1, 0, conv_forward_ref_planes, (void *)c);
}

/* --------------------------------------------------------------- backward */

/* dx[n,c] = sum_{o in group(c), u, v} w[o,c,u,v] * dy[n,o] scattered back through the window;
 * dw[o,c,u,v] = sum_{n,i,j} dy[n,o,i,j] * x[n,c,ih,iw];  db[o] = sum_{n,i,j} dy[n,o,i,j]. */
/* dx planes [t0, t1) of the N * C (image, channel) planes. */
GC_TSAN_LEAF static void conv_backward_ref_dx(void *arg, int64_t t0, int64_t t1, int worker) {
    const gc_layer_ctx *c = arg;
    const gc_conv2d_params *p = &c->layer->p.conv;
    const int64_t C = c->in.d[1], H = c->in.d[2], W = c->in.d[3];
    const int64_t O = c->out.d[1], OH = c->out.d[2], OW = c->out.d[3];
    const int64_t KH = p->kernel_h, KW = p->kernel_w, SH = p->stride_h, SW = p->stride_w;
    const int64_t PH = p->pad_h, PW = p->pad_w, DH = p->dilation_h, DW = p->dilation_w;
    const int64_t CG = C / p->groups, OG = O / p->groups;
    const float *dy = c->dy;                /* (N, O, OH, OW) */
    const float *wt = c->param[0];          /* (O, CG, KH, KW) */
    float *dx = c->dx;                      /* (N, C, H, W) */
    (void)worker;
    {
        for (int64_t t = t0; t < t1; t++) {
            const int64_t n = t / C, ch = t % C, ci = ch % CG, o0 = (ch / CG) * OG;
            float *dxp = dx + t * H * W;
            memset(dxp, 0, (size_t)(H * W) * sizeof(float));
            for (int64_t oo = 0; oo < OG; oo++) {
                const int64_t o = o0 + oo;
                const float *w = wt + (o * CG + ci) * KH * KW;
                for (int64_t i = 0; i < OH; i++) {
                    const float *restrict dyr = dy + ((n * O + o) * OH + i) * OW;
                    for (int64_t u = 0; u < KH; u++) {
                        const int64_t ih = i * SH - PH + u * DH;
                        if (ih < 0 || ih >= H) continue;
                        float *restrict dxr = dxp + ih * W;
                        for (int64_t v = 0; v < KW; v++) {
                            const float wv = w[u * KW + v];
                            const int64_t off = v * DW - PW;
                            int64_t lo, hi;
                            gc_valid_range(off, SW, W, OW, &lo, &hi);
                            for (int64_t j = lo; j < hi; j++) dxr[j * SW + off] += wv * dyr[j];
                        }
                    }
                }
            }
        }
    }
}

/* dw and db of output channels [o0, o1). */
GC_TSAN_LEAF static void conv_backward_ref_params(void *arg, int64_t o0, int64_t o1, int worker) {
    const gc_layer_ctx *c = arg;
    const gc_conv2d_params *p = &c->layer->p.conv;
    const int64_t N = c->in.d[0], C = c->in.d[1], H = c->in.d[2], W = c->in.d[3];
    const int64_t O = c->out.d[1], OH = c->out.d[2], OW = c->out.d[3];
    const int64_t KH = p->kernel_h, KW = p->kernel_w, SH = p->stride_h, SW = p->stride_w;
    const int64_t PH = p->pad_h, PW = p->pad_w, DH = p->dilation_h, DW = p->dilation_w;
    const int64_t CG = C / p->groups, OG = O / p->groups;
    const float *x = c->x;                  /* (N, C, H, W) */
    const float *dy = c->dy;                /* (N, O, OH, OW) */
    float *dw = c->dparam[0];               /* (O, CG, KH, KW) or NULL */
    float *db = p->bias ? c->dparam[1] : NULL; /* (O) or NULL */
    (void)worker;
    {
        for (int64_t o = o0; o < o1; o++) {
            const int64_t c0 = (o / OG) * CG;
            if (db) {
                double s = 0;
                for (int64_t n = 0; n < N; n++) {
                    const float *dyp = dy + (n * O + o) * OH * OW;
                    for (int64_t k = 0; k < OH * OW; k++) s += dyp[k];
                }
                db[o] = (float)s;
            }
            if (!dw) continue;
            for (int64_t ci = 0; ci < CG; ci++)
                for (int64_t u = 0; u < KH; u++)
                    for (int64_t v = 0; v < KW; v++) {
                        const int64_t off = v * DW - PW;
                        int64_t lo, hi;
                        gc_valid_range(off, SW, W, OW, &lo, &hi);
                        double s = 0;
                        for (int64_t n = 0; n < N; n++) {
                            const float *xp = x + (n * C + c0 + ci) * H * W;
                            for (int64_t i = 0; i < OH; i++) {
                                const int64_t ih = i * SH - PH + u * DH;
                                if (ih < 0 || ih >= H) continue;
                                const float *dyr = dy + ((n * O + o) * OH + i) * OW;
                                const float *xr = xp + ih * W;
                                for (int64_t j = lo; j < hi; j++) s += (double)dyr[j] * xr[j * SW + off];
                            }
                        }
                        dw[((o * CG + ci) * KH + u) * KW + v] = (float)s;
                    }
        }
    }
}

static void conv_backward_ref(const gc_layer_ctx *c) {
    if (c->dx) gc_pool_for(c->pool, c->in.d[0] * c->in.d[1], 1, 0, conv_backward_ref_dx, (void *)c);
    if (c->dparam[0] || (c->layer->p.conv.bias && c->dparam[1]))
        gc_pool_for(c->pool, c->out.d[1], 1, 0, conv_backward_ref_params, (void *)c);
}

/* ------------------------------------------------------------- fast paths */

#define COL_FLOATS ((int64_t)1 << 20)   /* im2col column tile budget (4 MB) */

/* One layer call's geometry and the algorithm chosen from the shapes. */
typedef struct conv_plan {
    gc_gemm_tier tier;          /* the tier it was made for */
    gc_conv_geom g;             /* per group */
    int64_t N, G, O, OG, K, P;  /* batch, groups, out channels (total, per group), K = CG*KH*KW, P = OH*OW */
    int64_t NT;                 /* columns per im2col tile */
    int pointwise;              /* 1x1, stride 1, no padding: col is the input itself */
    int wino_fwd, wino_bwd;     /* Winograd for the forward / input gradient */
    gc_winograd wf, wb;         /* their problems */
    int direct_fwd, direct_bwd; /* else direct stride-1 convolution (per image and group) */
    gc_dconv df, db;            /* its problems */
    int depthwise;              /* one input channel per group: the depthwise kernels, both ways */
    gc_dwconv dw;               /* its problem */
    int s2d;                    /* strided forward as a stride-1 direct convolution on the input
                                   rearranged space-to-depth (s2d_ok) */
    gc_dconv ds;                /* its problem: C*pa*pb channels, kernel ceil(KH/SH) x ceil(KW/SW) */
    int chan_s;                 /* instead, where s2d or chan_strided_ok applies and the tier has it,
                                   the direct convolution's channel form at the layer's own stride
                                   (no zero taps, no rearranged input) with weights the session packed */
    gc_dconv dc;                /* its problem */
    int64_t pa, pb;             /* space to depth: the row and column phases kept (those the kernel
                                   reaches: min(stride, kernel); a 1x1/2 layer keeps one, a subsample) */
    int acc_s2d, acc_ref;       /* accurate forward (gc_layer_ctx.accurate): strided layers space to
                                   depth whatever the zero taps cost; depthwise and the other strided
                                   ones on the reference loops (their sums are as accurate) */
} conv_plan;

/* A stride-s convolution is a stride-1 one on the input cut into s x s blocks stacked as
 * channels (space to depth: xs[(c*SH + a)*SW + b][i][j] = x_padded[c][i*SH + a][j*SW + b]) with
 * the kernel cut the same way, ws[o][(c*SH + a)*SW + b][u][v] = w[o][c][u*SH + a][v*SW + b] (0
 * past the kernel; phases a >= KH or b >= KW, which no tap reaches, are left out). It then
 * runs on the direct kernel at 80-90 % of the peak instead of the
 * im2col GEMM's 30-50 % (AlexNet's 11x11/4 conv1: 3 -> 48 channels, 3x3 kernel), paying for the
 * zero taps the cut adds: taken when they add at most 35 % (11x11/4: 19 %, 7x7/2: 31 %; not
 * 3x3/2: 78 %). Sessions without parameter gradients only, so training keeps its bits. */
static int s2d_ok(const gc_conv2d_params *p, int training) {
    const int64_t kh = (p->kernel_h + p->stride_h - 1) / p->stride_h, kw = (p->kernel_w + p->stride_w - 1) / p->stride_w;
    return !training && p->groups == 1 && p->dilation_h == 1 && p->dilation_w == 1 &&
           (p->stride_h > 1 || p->stride_w > 1) && p->stride_h <= 16 && p->stride_w <= 16 &&
           100 * kh * p->stride_h * kw * p->stride_w <= 135 * p->kernel_h * p->kernel_w;
}

/* The direct convolution's channel form at the layer's stride also pays for strided kernels that
 * space to depth would cut into too many zero taps (it computes none): ResNet-50's 3x3/2
 * layer2.0.conv2 (128 channels, 28 x 28 out) 0.74-0.76 -> 0.53-0.55 ms on 2 threads (far, Zen 5)
 * against im2col + GEMM; MobileNetV2's and EfficientNet-B0's 3x3/2 stems (3 -> 32 channels,
 * 112 x 112 out) 0.12-0.18 -> 0.12-0.16 ms. Not 1x1 kernels (ResNet-50's 1x1/2 downsample:
 * 0.54-0.56 -> 0.65-0.69 ms: one tap per channel, and the GEMM already skips nothing). Sessions
 * without parameter gradients only, as s2d_ok; where the channel form applies (AVX-512,
 * gc_dconv_chan_floats) and the output is not the few-pixels GEMM's. */
static int chan_strided_ok(const gc_conv2d_params *p, int training) {
    return !training && p->groups == 1 && p->dilation_h == 1 && p->dilation_w == 1 &&
           (p->stride_h > 1 || p->stride_w > 1) && p->kernel_h * p->kernel_w > 1;
}

/* Winograd pays off from a few channels on unless an image has few 4x4 output tiles: it
 * transforms every weight on each call, and its GEMMs have one row per tile (measured, 1 and 2
 * threads: it wins from 9 tiles on for 512x512 filters (VGG conv5, AlexNet conv3-5 at batch 1),
 * from ~64 tiles for small filters (64x64 at 14x14 is a draw), and loses at 7x7 and below).
 * The tiles are counted per image, not per batch: a layer runs the same algorithm at every
 * batch size, so each row of a batch has the bits of that image run alone (gc_explain_batch
 * relies on it). Training sessions (parameter gradients) count the whole batch's tiles
 * instead: their batches of small images (Fashion-MNIST's 28 x 28: 49 tiles each) are where
 * Winograd pays most, nobody compares their rows with single images, and the shipped models were
 * trained, and reproduce bit for bit, with that choice. The input gradient form needs
 * pad <= 2. few: also from 4 tiles for filters of 512 x 512 and more, the AVX2 forward's choice
 * (no few-pixels GEMM there; the direct kernel fills 63 of its 96 lanes at 7x7): ResNet-50's
 * layer4 3x3 4.5 -> 2.5-2.7 ms on one Zen 3 core with their U^T kept (37.7 MB a layer), 3.6
 * with the weights transformed in the call; not its input gradient (6.6 -> 8.0 ms). */
static int wino_ok(const gc_conv2d_params *p, int few, int64_t images, int64_t C, int64_t O, int64_t OH, int64_t OW) {
    const int64_t tiles = images * ((OH + 3) / 4) * ((OW + 3) / 4);
    return p->kernel_h == 3 && p->kernel_w == 3 && p->stride_h == 1 && p->stride_w == 1 &&
           p->dilation_h == 1 && p->dilation_w == 1 && p->groups == 1 && C >= 8 && O >= 8 &&
           (tiles >= 9 || (few && tiles >= 4 && C * O >= 262144)) && (tiles >= 64 || C * O >= 16384);
}

/* wino: 0 never chooses Winograd (gc_session_config.no_winograd); training: nonzero for a
 * session with parameter gradients (Winograd by the batch's tiles); tier: the resolved kernel
 * tier. */
static void conv_plan_make(const gc_layer *l, const gc_shape *in, const gc_shape *out, int wino, int training,
                           gc_gemm_tier tier, conv_plan *q) {
    const gc_conv2d_params *p = &l->p.conv;
    memset(q, 0, sizeof *q);
    q->tier = tier;
    q->G = p->groups;
    q->g = (gc_conv_geom){in->d[1] / p->groups, in->d[2], in->d[3], out->d[2], out->d[3], p->kernel_h, p->kernel_w,
                          p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dilation_h, p->dilation_w};
    q->N = in->d[0];
    q->O = out->d[1];
    q->OG = q->O / q->G;
    q->K = q->g.C * q->g.KH * q->g.KW;
    q->P = q->g.OH * q->g.OW;
    q->pointwise = p->kernel_h == 1 && p->kernel_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    q->NT = COL_FLOATS / q->K;
    if (q->NT < 16) q->NT = 16;
    if (q->NT > q->P) q->NT = q->P;
    q->wino_fwd = wino && wino_ok(p, tier == GC_GEMM_AVX2, training ? q->N : 1, in->d[1], q->O, out->d[2], out->d[3]);
    q->wino_bwd = wino && wino_ok(p, 0, training ? q->N : 1, in->d[1], q->O, out->d[2], out->d[3]) && p->pad_h <= 2 &&
                  p->pad_w <= 2;
    q->wf = (gc_winograd){q->N, in->d[1], in->d[2], in->d[3], q->O, out->d[2], out->d[3], p->pad_h, p->pad_w, 0, 0, 0, 0, NULL, {0}, NULL};
    q->wb = (gc_winograd){q->N, q->O, out->d[2], out->d[3], in->d[1], in->d[2], in->d[3], 2 - p->pad_h, 2 - p->pad_w, 1, 0, 0, 0,
                          NULL, {0}, NULL};
    /* Direct: stride 1 (1x1 without padding is a plain GEMM already) unless the output is small
     * enough for the few-pixels GEMM, whose 7-pixel rows waste fewer lanes than the direct
     * kernel's rows of the padded width (7x7: 63 of 96 lanes); the input gradient as a
     * convolution of dy needs padding (K-1)*D - P >= 0. */
    const int64_t eh = (p->kernel_h - 1) * p->dilation_h, ew = (p->kernel_w - 1) * p->dilation_w;
    const int stride1 = p->stride_h == 1 && p->stride_w == 1 && !q->pointwise;
    q->depthwise = q->g.C == 1 && q->G > 1;
    q->direct_fwd = stride1 && !q->depthwise && !gc_pxgemm_applies(tier, q->P);
    q->direct_bwd = stride1 && !q->depthwise && p->pad_h <= eh && p->pad_w <= ew;
    q->dw = (gc_dwconv){q->N, q->G, q->g.H, q->g.W, q->OG, q->g.OH, q->g.OW, p->kernel_h, p->kernel_w,
                        p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dilation_h, p->dilation_w, 0, 0, 0};
    q->df = (gc_dconv){q->g.C, q->g.H, q->g.W, q->OG, q->g.OH, q->g.OW, p->kernel_h, p->kernel_w,
                       p->pad_h, p->pad_w, p->dilation_h, p->dilation_w, 0, 1, 1, {0}};
    q->db = (gc_dconv){q->OG, q->g.OH, q->g.OW, q->g.C, q->g.H, q->g.W, p->kernel_h, p->kernel_w,
                       eh - p->pad_h, ew - p->pad_w, p->dilation_h, p->dilation_w, 1, 1, 1, {0}};
    q->s2d = s2d_ok(p, training) && !q->depthwise && !gc_pxgemm_applies(tier, q->P);
    q->dc = (gc_dconv){q->g.C, q->g.H, q->g.W, q->O, q->g.OH, q->g.OW, p->kernel_h, p->kernel_w, p->pad_h, p->pad_w,
                       1, 1, 0, p->stride_h, p->stride_w, {0}};
    q->chan_s = (q->s2d || chan_strided_ok(p, training)) && !q->depthwise && !gc_pxgemm_applies(tier, q->P) &&
                gc_dconv_chan_floats(tier, &q->dc) > 0;
    q->acc_s2d = (p->stride_h > 1 || p->stride_w > 1) && p->groups == 1 && p->dilation_h == 1 && p->dilation_w == 1 &&
                 p->stride_h <= 16 && p->stride_w <= 16;
    q->acc_ref = q->depthwise || ((p->stride_h > 1 || p->stride_w > 1) && !q->acc_s2d);
    if (q->s2d || q->acc_s2d) {
        const int64_t kh = (p->kernel_h + p->stride_h - 1) / p->stride_h, kw = (p->kernel_w + p->stride_w - 1) / p->stride_w;
        q->pa = p->kernel_h < p->stride_h ? p->kernel_h : p->stride_h;
        q->pb = p->kernel_w < p->stride_w ? p->kernel_w : p->stride_w;
        q->ds = (gc_dconv){q->g.C * q->pa * q->pb, q->g.OH + kh - 1, q->g.OW + kw - 1, q->O, q->g.OH, q->g.OW,
                           kh, kw, 0, 0, 1, 1, 0, 1, 1, {0}};
    }
}

/* Floats of the space-to-depth input (one image) and of the cut kernel. */
/* Floats of a product of sizes rounded up to 16; SIZE_MAX / 4 on overflow (absurd shapes from a
 * file: the workspace is then refused, and two of them still add without wrapping). */
static size_t floats16(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t n;
    if (gc_mul_i64(a, b, &n) || gc_mul_i64(n, c, &n) || gc_mul_i64(n, d, &n) || n > (int64_t)(SIZE_MAX / 8)) return SIZE_MAX / 4;
    return (size_t)((n + 15) & ~(int64_t)15);
}
static size_t s2d_input_floats(const conv_plan *q) { return floats16(q->ds.Ci, q->ds.H, q->ds.W, 1); }
/* The kernels take the workers' scratch from the session's slots (gc_layer_ctx.slots). */
static void plan_slots(conv_plan *q, gc_slots s) { q->wf.slots = q->wb.slots = q->df.slots = q->db.slots = q->dc.slots = q->ds.slots = s; }

static size_t s2d_weight_floats(const conv_plan *q) { return floats16(q->O, q->ds.Ci, q->ds.KH, q->ds.KW); }

/* ws (O, C*pa*pb, KH', KW') from w (O, C, KH, KW). */
static void s2d_weights(const gc_conv2d_params *p, const conv_plan *q, const float *w, float *ws) {
    const int64_t SH = p->stride_h, SW = p->stride_w, KH = p->kernel_h, KW = p->kernel_w, C = q->g.C;
    const int64_t kh = q->ds.KH, kw = q->ds.KW, pa = q->pa, pb = q->pb;
    for (int64_t o = 0; o < q->O; o++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t a = 0; a < pa; a++)
                for (int64_t b = 0; b < pb; b++)
                    for (int64_t u = 0; u < kh; u++)
                        for (int64_t v = 0; v < kw; v++) {
                            const int64_t r = u * SH + a, t = v * SW + b;
                            ws[(((o * C + c) * pa + a) * pb + b) * kh * kw + u * kw + v] =
                                r < KH && t < KW ? w[((o * C + c) * KH + r) * KW + t] : 0.0f;
                        }
}

typedef struct s2d_job {
    const gc_conv2d_params *p;
    const conv_plan *q;
    const float *x; /* (C, H, W): one image */
    float *xs;      /* (C*pa*pb, H', W') */
} s2d_job;

/* Rows [t0, t1) of the C*pa*pb*H' rows of xs. */
static void s2d_input_rows(void *arg, int64_t t0, int64_t t1, int worker) {
    const s2d_job *j = arg;
    const gc_conv2d_params *p = j->p;
    const int64_t SH = p->stride_h, SW = p->stride_w, H = j->q->g.H, W = j->q->g.W, Hs = j->q->ds.H, Ws = j->q->ds.W;
    const int64_t pa = j->q->pa, pb = j->q->pb;
    (void)worker;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t i = t % Hs, cab = t / Hs, b = cab % pb, a = cab / pb % pa, c = cab / (pb * pa);
        const int64_t r = i * SH + a - p->pad_h; /* the input row */
        float *d = j->xs + t * Ws;
        if (r < 0 || r >= H) { memset(d, 0, (size_t)Ws * sizeof(float)); continue; }
        const float *src = j->x + (c * H + r) * W;
        for (int64_t k = 0; k < Ws; k++) {
            const int64_t col = k * SW + b - p->pad_w;
            d[k] = col >= 0 && col < W ? src[col] : 0.0f;
        }
    }
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Max over the packed tiers of the GEMM workspace. */
static size_t gemm_ws(int64_t M, int64_t N, int64_t K) {
    size_t s = 0;
    for (int t = GC_GEMM_PORTABLE; t < GC_GEMM_TIER_COUNT; t++) s = max_size(s, gc_gemm_workspace((gc_gemm_tier)t, M, N, K, 1));
    return (s + 15) & ~(size_t)15;
}

/* Floats: an im2col tile + GEMM packing for the three products, or Winograd's or the direct
 * convolution's scratch, whichever is largest. */
static size_t conv_workspace_of(const conv_plan *pq);

/* The tiers whose plans differ (the few-pixels GEMM runs with AVX-512 and, for fewer pixel
 * counts, AVX2; Winograd at 4 tiles only with AVX2: wino_ok). */
static const gc_gemm_tier plan_tiers[3] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};

/* The most any tier's plan needs, training or not. */
static size_t conv_workspace(const gc_layer *l, const gc_shape *in, const gc_shape *out) {
    conv_plan q;
    size_t s = 0;
    for (int training = 0; training < 2; training++)
        for (int t = 0; t < 3; t++) {
            conv_plan_make(l, in, out, 1, training, plan_tiers[t], &q);
            s = max_size(s, conv_workspace_of(&q));
        }
    return s;
}

/* Floats of one worker's slot (gc_layer_ctx.slots): Winograd's, the direct convolution's row
 * bands or the accurate forward's, forward or backward, any tier's plan, training or not. */
static size_t conv_slot_floats(const gc_layer *l, const gc_shape *in, const gc_shape *out, int workers) {
    conv_plan q;
    size_t s = 0;
    for (int training = 0; training < 2; training++)
        for (int t = 0; t < 3; t++) {
            conv_plan_make(l, in, out, 1, training, plan_tiers[t], &q);
            const int px = gc_pxgemm_applies(q.tier, q.P);
            if (q.wino_fwd) s = max_size(s, gc_winograd_slot_floats(&q.wf));
            if (q.wino_bwd) s = max_size(s, gc_winograd_slot_floats(&q.wb));
            if (q.direct_fwd) s = max_size(s, gc_dconv_slot_floats(&q.df));
            if (q.chan_s) s = max_size(s, gc_dconv_slot_floats(&q.dc));
            if (q.s2d) s = max_size(s, gc_dconv_slot_floats(&q.ds));
            if (q.direct_bwd) s = max_size(s, gc_dconv_slot_floats(&q.db));
            if (!q.depthwise && !q.wino_fwd && !q.direct_fwd && !q.s2d && !px)
                s = max_size(s, gc_gemm_cols_slot_floats(plan_tiers[t]));
            if (px && !q.depthwise && !q.wino_fwd && !q.direct_fwd)
                s = max_size(s, gc_pxgemm_slot_floats(q.OG, q.P, q.K, workers)); /* the few-pixels GEMM's pixel panels */
            if (q.acc_s2d) s = max_size(s, gc_aconv_slot_floats(&q.ds, workers));
            else if (!q.acc_ref) s = max_size(s, gc_aconv_slot_floats(&q.df, workers));
        }
    return s;
}

static size_t conv_workspace_of(const conv_plan *pq) {
    const conv_plan q = *pq;
    size_t col = 0, s, g;
    int64_t t;
    if (!q.pointwise) {
        if (gc_mul_i64(q.K, q.NT, &t) || (uint64_t)t > SIZE_MAX / 16) return SIZE_MAX;
        col = ((size_t)t + 15) & ~(size_t)15;
    }
    g = max_size(gemm_ws(q.OG, q.NT, q.K), max_size(gemm_ws(q.K, q.NT, q.OG), gemm_ws(q.OG, q.K, q.NT)));
    if (q.pointwise) g = max_size(g, max_size(gemm_ws(q.OG, q.P, q.K), max_size(gemm_ws(q.K, q.P, q.OG), gemm_ws(q.OG, q.K, q.P))));
    s = col + g;
    if (!q.wino_fwd && !q.direct_fwd && !q.depthwise && gc_pxgemm_applies(q.tier, q.P)) { /* the few-pixels GEMM */
        size_t pw = gc_pxgemm_workspace(q.OG, q.P, q.K), cl = q.pointwise ? 0 : (size_t)((q.K * q.P + 15) & ~(int64_t)15);
        s = max_size(s, pw == SIZE_MAX || pw > SIZE_MAX - cl ? SIZE_MAX : pw + cl);
    }
    if (q.depthwise) s = max_size(s, gc_dwconv_workspace_bwd(&q.dw));
    if (q.wino_fwd) s = max_size(s, gc_winograd_shared_floats(&q.wf)); /* the workers' slots: conv_slot_floats */
    if (q.wino_bwd) s = max_size(s, gc_winograd_shared_floats(&q.wb));
    if (q.direct_fwd) s = max_size(s, gc_dconv_shared_floats(&q.df));
    if (q.chan_s) s = max_size(s, gc_dconv_shared_floats(&q.dc));
    if (q.s2d) {
        const size_t d = gc_dconv_shared_floats(&q.ds), a = s2d_input_floats(&q) + s2d_weight_floats(&q);
        s = max_size(s, d > SIZE_MAX - a ? SIZE_MAX : d + a);
    }
    if (q.acc_s2d) {
        const size_t d = gc_aconv_shared_floats(&q.ds), a = s2d_input_floats(&q) + s2d_weight_floats(&q);
        s = max_size(s, d > SIZE_MAX - a ? SIZE_MAX : d + a);
    } else if (!q.acc_ref)
        s = max_size(s, gc_aconv_shared_floats(&q.df));
    if (q.direct_bwd) s = max_size(s, gc_dconv_shared_floats(&q.db));
    return s;
}

static gc_gemm_tier conv_tier(const gc_layer_ctx *c) { return gc_gemm_resolve((gc_gemm_tier)c->kernels); }

/* ---------------------------------------------------------------- prepared weights
 * A forward that is a GEMM on im2col tiles (or, 1x1, on the input) multiplies by the same
 * weights every call: the session packs them once, per group, for the tier's micro-kernel
 * (gc_gemm_pack_a; the GEMM adds the bias in its stores), or for the few-pixels GEMM when the
 * output is small (gc_pxgemm_pack). A Winograd forward reads its U^T blocks transformed once
 * (gc_winograd_weights) in layers whose backward never runs (gc_layer_ctx.forward_only): they
 * take 4x the weights (ResNet-50: 56 MB, VGG-16: 236 MB), which a session that runs backward
 * through the layer would keep beside the weights its backward reads (ResNet-50's Guided
 * Grad-CAM: 363 -> 416 MB), and whose forward is then mostly the accurate one, which does not
 * read them. */

/* The forward is the few-pixels GEMM. */
static int pixels_path(const gc_layer_ctx *c, const conv_plan *q) {
    return !q->wino_fwd && !q->direct_fwd && !q->depthwise && gc_pxgemm_applies(conv_tier(c), q->P);
}

/* Floats of one group's packed weights (64-byte multiple), 0 when forward is not a GEMM. */
static size_t packed_group_floats(const gc_layer_ctx *c, const conv_plan *q) {
    if (c->kernels == GC_KERNELS_REFERENCE || q->wino_fwd || q->direct_fwd || q->depthwise) return 0;
    const size_t n = pixels_path(c, q) ? gc_pxgemm_packed_floats(q->OG, q->K) : gc_gemm_pack_a_size(conv_tier(c), q->OG, q->K);
    return n > SIZE_MAX - 15 ? SIZE_MAX : (n + 15) & ~(size_t)15;
}

static size_t conv_prepared_floats(const gc_layer_ctx *c) {
    conv_plan q;
    conv_plan_make(c->layer, &c->in, &c->out, !c->no_winograd, c->param_grads, conv_tier(c), &q);
    if (c->kernels != GC_KERNELS_REFERENCE && q.chan_s) return gc_dconv_chan_floats(conv_tier(c), &q.dc);
    if (c->kernels != GC_KERNELS_REFERENCE && q.s2d) return s2d_weight_floats(&q);
    if (c->kernels != GC_KERNELS_REFERENCE && q.wino_fwd) { /* not direct_fwd's form: the forward never takes it */
        if (!c->forward_only) return 0;
        const size_t u = gc_winograd_weights_floats(conv_tier(c), &q.wf);
        return u ? u : SIZE_MAX;
    }
    size_t n;
    if (c->kernels != GC_KERNELS_REFERENCE && q.direct_fwd) /* the direct convolution's channel form */
        return gc_mul_size(gc_dconv_chan_floats(conv_tier(c), &q.df), (size_t)q.G, &n) ? SIZE_MAX : n;
    return gc_mul_size(packed_group_floats(c, &q), (size_t)q.G, &n) ? SIZE_MAX : n;
}

static void conv_prepare(const gc_layer_ctx *c, float *prep) {
    conv_plan q;
    conv_plan_make(c->layer, &c->in, &c->out, !c->no_winograd, c->param_grads, conv_tier(c), &q);
    if (c->kernels != GC_KERNELS_REFERENCE && q.chan_s) {
        gc_dconv_chan_pack(&q.dc, c->param[0], prep);
        return;
    }
    if (c->kernels != GC_KERNELS_REFERENCE && q.s2d) {
        s2d_weights(&c->layer->p.conv, &q, c->param[0], prep);
        return;
    }
    if (c->kernels != GC_KERNELS_REFERENCE && q.wino_fwd) {
        if (c->forward_only) gc_winograd_weights(c->pool, conv_tier(c), &q.wf, c->param[0], prep);
        return;
    }
    if (c->kernels != GC_KERNELS_REFERENCE && q.direct_fwd) {
        const size_t per = gc_dconv_chan_floats(conv_tier(c), &q.df);
        for (int64_t gr = 0; per && gr < q.G; gr++) gc_dconv_chan_pack(&q.df, c->param[0] + gr * q.OG * q.K, prep + gr * per);
        return;
    }
    const size_t per = packed_group_floats(c, &q);
    const int px = pixels_path(c, &q);
    for (int64_t gr = 0; per && gr < q.G; gr++) {
        const float *wg = c->param[0] + gr * q.OG * q.K;
        if (px) gc_pxgemm_pack(q.OG, q.K, wg, prep + gr * per);
        else gc_gemm_pack_a(conv_tier(c), 0, q.OG, q.K, wg, q.K, prep + gr * per);
    }
}

/* y planes [t0, t1) of the N * O planes += their channel's bias (the unpacked GEMM paths). */
static void add_bias_planes(void *arg, int64_t t0, int64_t t1, int worker) {
    const gc_layer_ctx *c = arg;
    const int64_t O = c->out.d[1], P = c->out.d[2] * c->out.d[3];
    (void)worker;
    for (int64_t t = t0; t < t1; t++) {
        float *yr = c->y + t * P;
        const float b = c->param[1][t % O];
        for (int64_t k = 0; k < P; k++) yr[k] += b;
    }
}

/* The forward of gc_layer_ctx.accurate: each output one double sum, rounded once. */
static void conv_forward_accurate(const gc_layer_ctx *c) {
    conv_plan q;
    conv_plan_make(c->layer, &c->in, &c->out, 0, c->param_grads, conv_tier(c), &q);
    plan_slots(&q, c->slots);
    if (q.acc_ref) { conv_forward_ref(c); return; }
    const gc_gemm_tier tier = conv_tier(c);
    const float *bias = c->param[1];
    const int64_t HW = q.g.H * q.g.W, CG = q.g.C;
    if (q.acc_s2d) {
        float *xs = c->ws, *wcut = c->ws + s2d_input_floats(&q), *aws = wcut + s2d_weight_floats(&q);
        s2d_weights(&c->layer->p.conv, &q, c->param[0], wcut);
        for (int64_t n = 0; n < q.N; n++) {
            s2d_job j = {&c->layer->p.conv, &q, c->x + n * CG * HW, xs};
            const int64_t rows = q.ds.Ci * q.ds.H;
            gc_pool_for(c->pool, rows, rows >= 64 ? rows / 64 : 1, 0, s2d_input_rows, &j);
            gc_aconv_run(c->pool, tier, &q.ds, xs, wcut, bias, c->y + n * q.O * q.P, aws);
        }
        return;
    }
    for (int64_t n = 0; n < q.N; n++)
        for (int64_t gr = 0; gr < q.G; gr++)
            gc_aconv_run(c->pool, tier, &q.df, c->x + (n * q.G + gr) * CG * HW, c->param[0] + gr * q.OG * q.K,
                         bias ? bias + gr * q.OG : NULL, c->y + (n * q.G + gr) * q.OG * q.P, c->ws);
}

/* What a path did as it stored y (conv_forward does the rest): c->epi's values, a ReLU's bits,
 * c->res. A path that cannot add the residual applies no epilogue when there is one. */
enum { STORED_VALUES = 1, STORED_BITS = 2, STORED_RES = 4 };

/* y = W * col (+ bias) per image and group; returns its STORED_* flags. */
static int conv_forward_paths(const gc_layer_ctx *c) {
    if (c->kernels == GC_KERNELS_REFERENCE) { conv_forward_ref(c); return 0; }
    if (c->accurate) { conv_forward_accurate(c); return 0; }
    const float *x = c->x;                                    /* (N, C, H, W) */
    const float *wt = c->param[0];                            /* (O, CG, KH, KW) */
    const float *bias = c->param[1];                          /* (O) or NULL */
    float *y = c->y;                                          /* (N, O, OH, OW) */
    const gc_gemm_tier tier = conv_tier(c);
    conv_plan q;
    conv_plan_make(c->layer, &c->in, &c->out, !c->no_winograd, c->param_grads, conv_tier(c), &q);
    plan_slots(&q, c->slots);
    const int epi = c->epi.op == GC_EPI_RELU || c->epi.op == GC_EPI_CLAMP ? c->epi.op : GC_EPI_NONE;
    if (q.depthwise) { /* the activation's values in the stores (a ReLU's bits are left to conv_forward) */
        q.dw.epi = c->res ? GC_EPI_NONE : epi, q.dw.epi_lo = c->epi.lo, q.dw.epi_hi = c->epi.hi;
        gc_dwconv_forward(c->pool, tier, &q.dw, x, wt, bias, y, c->ws);
        return q.dw.epi != GC_EPI_NONE ? STORED_VALUES : 0;
    }
    if (q.wino_fwd) { /* the activation in the output transform, a ReLU's bits as tiles */
        q.wf.epi = c->res ? GC_EPI_NONE : epi, q.wf.epi_lo = c->epi.lo, q.wf.epi_hi = c->epi.hi;
        if (q.wf.epi == GC_EPI_RELU && c->epi.mask) {
            c->epi.mask[0] = GC_EPI_BITS_TILES;
            q.wf.epi_bits = (uint16_t *)(void *)(c->epi.mask + 1);
        }
        q.wf.U = c->prep; /* the weights the session transformed, or NULL */
        gc_winograd_run(c->pool, tier, &q.wf, x, wt, bias, y, c->ws);
        return c->res || epi != c->epi.op ? 0 : STORED_VALUES | STORED_BITS;
    }
    const int64_t HW = q.g.H * q.g.W, CG = q.g.C;
    if (q.chan_s && c->prep) { /* the channel form at the layer's stride, the session's packed weights */
        for (int64_t n = 0; n < q.N; n++)
            gc_dconv_run_packed(c->pool, tier, &q.dc, x + n * CG * HW, wt, c->prep, bias, y + n * q.O * q.P, c->ws);
        return 0;
    }
    if (q.s2d && !q.chan_s) { /* the cut kernel from the session's prepared weights, or cut here */
        float *xs = c->ws, *wcut = c->ws + s2d_input_floats(&q), *dws = wcut + s2d_weight_floats(&q);
        const float *wk = c->prep ? c->prep : wcut;
        if (!c->prep) s2d_weights(&c->layer->p.conv, &q, wt, wcut);
        for (int64_t n = 0; n < q.N; n++) {
            s2d_job j = {&c->layer->p.conv, &q, x + n * CG * HW, xs};
            const int64_t rows = q.ds.Ci * q.ds.H;
            gc_pool_for(c->pool, rows, rows >= 64 ? rows / 64 : 1, 0, s2d_input_rows, &j);
            gc_dconv_run(c->pool, tier, &q.ds, xs, wk, bias, y + n * q.O * q.P, dws);
        }
        return 0;
    }
    if (q.direct_fwd) { /* with the session's channel-form weights when it prepared them */
        const size_t per = c->prep ? gc_dconv_chan_floats(tier, &q.df) : 0;
        for (int64_t n = 0; n < q.N; n++)
            for (int64_t gr = 0; gr < q.G; gr++)
                gc_dconv_run_packed(c->pool, tier, &q.df, x + (n * q.G + gr) * CG * HW, wt + gr * q.OG * q.K,
                                    per ? c->prep + gr * per : NULL, bias ? bias + gr * q.OG : NULL,
                                    y + (n * q.G + gr) * q.OG * q.P, c->ws);
        return 0;
    }
    float *col = c->ws;                                       /* (K, NT) column tile */
    float *gws = q.pointwise ? c->ws : c->ws + ((q.K * q.NT + 15) & ~(int64_t)15);
    const size_t per = c->prep ? packed_group_floats(c, &q) : 0; /* packed weights of a group */
    const int px = per && pixels_path(c, &q);
    for (int64_t n = 0; n < q.N; n++)
        for (int64_t gr = 0; gr < q.G; gr++) {
            const float *xg = x + (n * q.G + gr) * CG * HW, *wg = wt + gr * q.OG * q.K;
            const float *pg = per ? c->prep + gr * per : NULL, *bg = bias ? bias + gr * q.OG : NULL;
            float *yg = y + (n * q.G + gr) * q.OG * q.P;
            const float *rg = c->res ? c->res + (n * q.G + gr) * q.OG * q.P : NULL; /* the residual at yg */
            if (px) { /* few pixels: each worker lowers and packs its pixels in its slot, or the whole im2col
                         matrix (or the input) is packed for all, pixels on the tile rows */
                const gc_im2col_src src = {&q.g, xg};
                const gc_px_matrix mat = {xg, q.P};
                if (gc_pxgemm_run_slots(c->pool, tier, q.OG, q.P, q.K, pg, q.pointwise ? gc_px_pack_matrix : gc_im2col_pack,
                                        q.pointwise ? (const void *)&mat : (const void *)&src, bg, rg, yg, c->slots, epi,
                                        c->epi.lo, c->epi.hi))
                    continue;
                const float *b = xg;
                float *pws = c->ws;
                if (!q.pointwise) {
                    gc_im2col_tile(c->pool, &q.g, xg, 0, q.P, c->ws, q.P);
                    b = c->ws;
                    pws = c->ws + ((q.K * q.P + 15) & ~(int64_t)15);
                }
                gc_pxgemm_run(c->pool, tier, q.OG, q.P, q.K, pg, b, bg, rg, yg, pws, epi, c->epi.lo, c->epi.hi);
                continue;
            }
            if (pg && q.g.KH * q.g.KW > 1) { /* each worker lowers and packs the pixels it multiplies, in its slot
                                                (not 1x1/2: ResNet-50's 1.02 -> 1.10 ms near that way) */
                const gc_im2col_src src = {&q.g, xg};
                if (gc_gemm_prepacked_cols_fn(c->pool, tier, q.OG, q.P, q.K, 1.0f, pg, gc_im2col_pack, &src, 0.0f, yg,
                                              q.P, c->slots, bg, rg, epi, c->epi.lo, c->epi.hi))
                    continue;
            }
            for (int64_t p0 = 0; p0 < q.P; p0 += q.pointwise ? q.P : q.NT) {
                const int64_t np = q.pointwise ? q.P : q.P - p0 < q.NT ? q.P - p0 : q.NT;
                const float *b = xg;   /* the input itself (1x1) or its im2col tile */
                if (!q.pointwise) gc_im2col_tile(c->pool, &q.g, xg, p0, np, col, np), b = col;
                if (pg && q.pointwise) /* each worker packs the input columns (pixels) it multiplies */
                    gc_gemm_prepacked_cols(c->pool, tier, q.OG, np, q.K, 1.0f, pg, b, np, 0.0f, yg + p0, q.P, gws,
                                           c->slots, bg, rg ? rg + p0 : NULL, epi, c->epi.lo, c->epi.hi);
                else if (pg) gc_gemm_prepacked_epi(c->pool, tier, q.OG, np, q.K, 1.0f, pg, 0, b, np, 0.0f, yg + p0, q.P, gws, bg,
                                                   rg ? rg + p0 : NULL, epi, c->epi.lo, c->epi.hi);
                else gc_gemm(c->pool, tier, 0, 0, q.OG, np, q.K, 1.0f, wg, q.K, b, np, 0.0f, yg + p0, q.P, gws);
            }
        }
    /* the few-pixels and the prepacked GEMMs added the bias, the residual and the activation's values */
    if (px || per) return (c->res ? STORED_RES : 0) | (epi != GC_EPI_NONE ? STORED_VALUES : 0);
    if (!bias) return 0;
    gc_pool_for(c->pool, q.N * q.O, q.P >= 8192 ? 1 : 8192 / q.P, 0, add_bias_planes, (void *)c);
    return 0;
}

/* The forward of whichever path, then what it left of the fused residual add (c->res) and
 * activation (c->epi) over the output. */
static void conv_forward(const gc_layer_ctx *c) {
    const int stored = conv_forward_paths(c);
    const int64_t n = gc_shape_numel(&c->out);
    if (c->res && !(stored & STORED_RES)) gc_epilogue_run_res(c->pool, c->kernels, &c->epi, c->y, c->res, n);
    else if (!(stored & STORED_BITS)) gc_epilogue_run(c->pool, c->kernels, &c->epi, c->y, n, stored & STORED_VALUES);
}

/* db[o] for channels [o0, o1): the sum of dy over the batch and pixels, in double. */
static void bias_grad_channels(void *arg, int64_t o0, int64_t o1, int worker) {
    const gc_layer_ctx *c = arg;
    const int64_t N = c->out.d[0], O = c->out.d[1], P = c->out.d[2] * c->out.d[3];
    (void)worker;
    for (int64_t o = o0; o < o1; o++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *dyp = c->dy + (n * O + o) * P;
            for (int64_t k = 0; k < P; k++) s += dyp[k];
        }
        c->dparam[1][o] = (float)s;
    }
}

/* dx = col2im(W^T dy) or Winograd with flipped weights; dW = sum_n dy col^T; db = sum dy. */
static void conv_backward(const gc_layer_ctx *c) {
    if (c->kernels == GC_KERNELS_REFERENCE) { conv_backward_ref(c); return; }
    const gc_conv2d_params *p = &c->layer->p.conv;
    const float *x = c->x;                     /* (N, C, H, W) */
    const float *dy = c->dy;                   /* (N, O, OH, OW) */
    const float *wt = c->param[0];      /* (O, CG, KH, KW) */
    float *dx = c->dx;                         /* (N, C, H, W) or NULL */
    float *dw = c->dparam[0];                  /* (O, CG, KH, KW) or NULL */
    float *db = p->bias ? c->dparam[1] : NULL; /* (O) or NULL */
    const gc_gemm_tier tier = conv_tier(c);
    conv_plan q;
    conv_plan_make(c->layer, &c->in, &c->out, !c->no_winograd, c->param_grads, conv_tier(c), &q);
    plan_slots(&q, c->slots);
    const int64_t HW = q.g.H * q.g.W, CG = q.g.C;
    float *col = c->ws;                        /* (K, NT) column tile */
    float *gws = q.pointwise ? c->ws : c->ws + ((q.K * q.NT + 15) & ~(int64_t)15);

    if (q.depthwise) {
        gc_dwconv_backward(c->pool, tier, &q.dw, x, wt, dy, dx, dw, db, c->ws);
        return;
    }
    if (dx && q.wino_bwd) {
        gc_winograd_run(c->pool, tier, &q.wb, dy, wt, NULL, dx, c->ws);
    } else if (dx && q.direct_bwd) {
        for (int64_t n = 0; n < q.N; n++)
            for (int64_t gr = 0; gr < q.G; gr++)
                gc_dconv_run(c->pool, tier, &q.db, dy + (n * q.G + gr) * q.OG * q.P, wt + gr * q.OG * q.K, NULL,
                             dx + (n * q.G + gr) * CG * HW, c->ws);
    } else if (dx) {
        if (!q.pointwise) memset(dx, 0, (size_t)(q.N * q.G * CG * HW) * sizeof(float));
        for (int64_t n = 0; n < q.N; n++)
            for (int64_t gr = 0; gr < q.G; gr++) {
                const float *dyg = dy + (n * q.G + gr) * q.OG * q.P, *wg = wt + gr * q.OG * q.K;
                float *dxg = dx + (n * q.G + gr) * CG * HW;
                if (q.pointwise) {
                    gc_gemm(c->pool, tier, 1, 0, q.K, q.P, q.OG, 1.0f, wg, q.K, dyg, q.P, 0.0f, dxg, q.P, gws);
                    continue;
                }
                for (int64_t p0 = 0; p0 < q.P; p0 += q.NT) {
                    const int64_t np = q.P - p0 < q.NT ? q.P - p0 : q.NT;
                    gc_gemm(c->pool, tier, 1, 0, q.K, np, q.OG, 1.0f, wg, q.K, dyg + p0, q.P, 0.0f, col, np, gws);
                    gc_col2im_tile(c->pool, &q.g, col, p0, np, dxg, np);
                }
            }
    }
    if (dw)
        for (int64_t gr = 0; gr < q.G; gr++) {
            float *dwg = dw + gr * q.OG * q.K;
            float beta = 0.0f;
            for (int64_t n = 0; n < q.N; n++) {
                const float *xg = x + (n * q.G + gr) * CG * HW, *dyg = dy + (n * q.G + gr) * q.OG * q.P;
                for (int64_t p0 = 0; p0 < q.P; p0 += q.NT) {
                    const int64_t np = q.P - p0 < q.NT ? q.P - p0 : q.NT;
                    const float *b = xg + p0;
                    int64_t ldb = q.P;
                    if (!q.pointwise) {
                        gc_im2col_tile(c->pool, &q.g, xg, p0, np, col, np);
                        b = col;
                        ldb = np;
                    }
                    gc_gemm(c->pool, tier, 0, 1, q.OG, q.K, np, 1.0f, dyg + p0, q.P, b, ldb, beta, dwg, q.K, gws);
                    beta = 1.0f;
                }
            }
        }
    if (db) gc_pool_for(c->pool, q.O, 1, 0, bias_grad_channels, (void *)c);
}

static const gc_hparam conv_hp[] = {
    GC_HPI(conv.in_channels, "in_channels"), GC_HPI(conv.out_channels, "out_channels"),
    GC_HPI(conv.kernel_h, "kernel_h"), GC_HPI(conv.kernel_w, "kernel_w"),
    GC_HPI(conv.stride_h, "stride_h"), GC_HPI(conv.stride_w, "stride_w"),
    GC_HPI(conv.pad_h, "pad_h"), GC_HPI(conv.pad_w, "pad_w"),
    GC_HPI(conv.dilation_h, "dilation_h"), GC_HPI(conv.dilation_w, "dilation_w"),
    GC_HPI(conv.groups, "groups"), GC_HPB(conv.bias, "bias")};

const gc_layer_ops gc_conv2d_ops = {
    .name = "conv2d",
    .min_inputs = 1, .max_inputs = 1,
    .traits = GC_TRAIT_CHANNEL_LINEAR | GC_TRAIT_EPILOGUE | GC_TRAIT_RESIDUAL,
    .backward_reads = GC_READS_X_PARAMS,
    .param_roles = {GC_PARAM_WEIGHT, GC_PARAM_BIAS},
    GC_HPARAMS(conv_hp),
    .check_params = conv_check,
    .param_shapes = conv_params,
    .infer = conv_infer,
    .workspace = conv_workspace,
    .state_bytes = conv_none,
    .forward = conv_forward,
    .backward = conv_backward,
    .slot_floats = conv_slot_floats,
    .prepared_floats = conv_prepared_floats,
    .prepare = conv_prepare,
};
