/* conv.h - fast convolution building blocks (internal), used by lib/layers/conv2d.c.
 *
 * Geometry of one 2-D convolution (PyTorch cross-correlation, NCHW, OIHW weights):
 *   oh = i*sh - ph + u*dh, input row read by output row i and kernel row u (same for w).
 *
 * im2col / col2im on column tiles (conv_im2col.c)
 *   The lowered matrix of one image and one group is col[k, p], k = (c*KH + u)*KW + v over
 *   the group's CG channels (K = CG*KH*KW rows), p = i*OW + j over output pixels. Only a
 *   tile of columns [p0, p0 + np) is ever materialised, row-major with leading dimension ld.
 *   gc_im2col_tile  writes col (zero where the window leaves the image).
 *   gc_col2im_tile  adds col back into x (the adjoint): x[c, oh, ow] += col[k, p].
 *   Both run on the pool over rows / channels (disjoint writes), so they are deterministic.
 *
 * Winograd F(4x4, 3x3) (winograd.c; Lavin & Gray 2016)
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A on 6x6 input tiles with stride 4, for 3x3 kernels,
 *   stride 1, dilation 1, one group, any padding. The 36 element-wise products summed over
 *   channels are 36 GEMMs, computed transposed (M^T = V^T U^T, tiles x O) by the tier's GEMM
 *   micro-kernel on operands the transforms write in its packed layouts (no gc_gemm
 *   packing; schedule in winograd_internal.h). Tiles of all images of the batch are numbered
 *   together (t = (n*TH + ty)*TW + tx) and processed in chunks, output channels in chunks of
 *   32 and input channels in blocks of 128, so the scratch is bounded (gc_winograd_workspace).
 *   `flip` != 0 uses the weights of the input gradient: w'[c, o, u, v] = w[o, c, 2-u, 2-v]
 *   (then "in" is dy with O channels, "out" is dx with C channels, pad' = 2 - pad).
 *   Error: <= 7e-7 x (terms per output) for inputs in [-1, 1] (tests/test_conv_fast.c,
 *   docs/performance.md). */
#ifndef GC_KERNELS_CONV_H
#define GC_KERNELS_CONV_H

#include "kernels/gemm.h"
#include <stddef.h>
#include <stdint.h>

typedef struct gc_conv_geom {
    int64_t C, H, W;        /* input channels of one group, input height and width */
    int64_t OH, OW;         /* output size */
    int64_t KH, KW, SH, SW, PH, PW, DH, DW;
} gc_conv_geom;

/* col (K x np, leading dim ld) = rows of the lowered matrix of image plane block x (C, H, W)
 * for output pixels [p0, p0 + np). */
void gc_im2col_tile(gc_pool *pool, const gc_conv_geom *g, const float *x, int64_t p0, int64_t np, float *col,
                    int64_t ld);

/* The same rows of the lowered matrix written straight into the packed GEMM's nr-column panels
 * (a gc_gemm_pack_b_fn; ctx a gc_im2col_src): rows [p0, p0 + kb), output pixels [j0, j0 + nb),
 * pixel j0 + jp * nr + jj of row p0 + p at dst[(jp * kb + p) * nr + jj], zero past nb. */
typedef struct gc_im2col_src { const gc_conv_geom *g; const float *x; } gc_im2col_src;
void gc_im2col_pack(const void *ctx, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr, float *dst);

/* x (C, H, W) += col2im of col (K x np, ld) for output pixels [p0, p0 + np). */
void gc_col2im_tile(gc_pool *pool, const gc_conv_geom *g, const float *col, int64_t p0, int64_t np, float *x,
                    int64_t ld);

/* ---- Winograd F(4x4, 3x3) ---- */
typedef struct gc_winograd {
    int64_t N, C, H, W;     /* input batch, channels, size */
    int64_t O, OH, OW;      /* output channels and size */
    int64_t PH, PW;         /* padding */
    int flip;               /* 0: weights (O, C, 3, 3); 1: input-gradient form of (C, O, 3, 3) */
    int epi;                /* GC_EPI_* (kernels/activation.h): applied to y as it is stored, 0: none */
    float epi_lo, epi_hi;   /* GC_EPI_CLAMP's bounds */
    uint16_t *epi_bits;     /* GC_EPI_RELU: its bits as GC_EPI_BITS_TILES, or NULL */
    gc_slots slots;         /* the workers' scratch (gc_winograd_slot_floats each), or base NULL:
                               carved from ws */
    const float *U;         /* the weights transformed once by gc_winograd_weights for this problem
                               and tier (then w is not read and the scratch is smaller), or NULL:
                               transformed on each call */
} gc_winograd;

/* Floats of scratch gc_winograd_run needs for this problem and any tier (its workers' slots
 * included, whether p->slots is set or not; less with p->U set); SIZE_MAX on overflow. */
size_t gc_winograd_workspace(const gc_winograd *p);

/* Floats of one worker's slot (0 on overflow); gc_winograd_run uses at most WG_SLOTS (4)
 * slots, fewer when p->slots.n is smaller. */
size_t gc_winograd_slot_floats(const gc_winograd *p);

/* Floats of ws when p->slots.base is set: the part all workers share; SIZE_MAX on overflow. */
size_t gc_winograd_shared_floats(const gc_winograd *p);

/* Floats of the transformed weights gc_winograd_weights writes for this problem and tier
 * (its U^T blocks in the micro-kernel's panels: 4x the weights and their padding to 32
 * output channels); 0 on overflow or an empty problem. */
size_t gc_winograd_weights_floats(gc_gemm_tier tier, const gc_winograd *p);

/* U (gc_winograd_weights_floats floats) = the transformed weights of w (see flip) that
 * gc_winograd_run with the same problem (p->slots and p->U aside) and tier reads from p->U:
 * the same values it computes from w, so the outputs are the same bits. */
void gc_winograd_weights(gc_pool *pool, gc_gemm_tier tier, const gc_winograd *p, const float *w, float *U);

/* y (N, O, OH, OW) = Winograd convolution of x (N, C, H, W) with w (see flip; or p->U) + bias
 * (O or NULL). tier: a packed gc_gemm tier. ws: gc_winograd_workspace floats. */
void gc_winograd_run(gc_pool *pool, gc_gemm_tier tier, const gc_winograd *p, const float *x, const float *w,
                     const float *bias, float *y, float *ws);

/* ---- direct convolution, stride 1 (conv_direct.c) ----
 * y = conv(x, w) + bias for one image and one group, any kernel size, padding and dilation,
 * stride 1, without im2col: the input is copied once with its zero border (Hp x Wp rows),
 * and output pixels are numbered flat over padded rows, q = i*Wp + j, so that the NR
 * pixels of a micro-panel read NR consecutive floats of the padded input for every tap
 * (c, u, v) at offset c*Hp*Wp + u*DH*Wp + v*DW. Columns j >= OW are computed and never
 * stored. The weights are packed into MR-row panels; the micro-kernel (per ISA) runs a
 * K block of taps for an MR x NR tile and stores through a lane map (gc_dc_map) straight
 * into y. Threads split output rows (small filters: each thread pads its own row bands)
 * or output-channel panels (large filters); each y element is summed in the same order
 * for any thread count.
 * flip = 0: w is (Co, Ci, KH, KW). flip = 1: w is (Ci, Co, KH, KW) used with flipped taps,
 * w'[o, c, u, v] = w[c, o, KH-1-u, KW-1-v]: the input gradient of a stride-1 convolution
 * is gc_dconv with flip = 1, in = dy, out = dx and padding (K-1)*D - P (must be >= 0). */
typedef struct gc_dconv {
    int64_t Ci, H, W;       /* input channels and size */
    int64_t Co, OH, OW;     /* output channels and size (OH = H + 2PH - DH(KH-1)) */
    int64_t KH, KW, PH, PW, DH, DW;
    int flip;
    int64_t SH, SW;         /* stride; 0 or 1: 1. Above 1 only for gc_dconv_run_packed with the
                               channel form's packed weights (gc_dconv_chan_floats > 0) */
    gc_slots slots;         /* gc_dconv_run's workers' row bands (gc_dconv_slot_floats each), or
                               base NULL: carved from ws */
} gc_dconv;

/* Floats of scratch gc_dconv_run needs (any tier, up to GC_DC_SLOTS threads, their slots
 * included); SIZE_MAX on overflow. */
size_t gc_dconv_workspace(const gc_dconv *p);

/* Floats of one worker's slot (0: the problem takes none), and of ws when p->slots.base is set
 * (SIZE_MAX on overflow); any tier. */
size_t gc_dconv_slot_floats(const gc_dconv *p);
size_t gc_dconv_shared_floats(const gc_dconv *p);

/* y (Co, OH, OW) = x (Ci, H, W) convolved with w (+ bias (Co) or NULL). tier: a packed gc_gemm
 * tier (REFERENCE is treated as PORTABLE). ws: gc_dconv_workspace floats. */
void gc_dconv_run(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                  const float *bias, float *y, float *ws);

/* The channel-vectorised form (AVX-512; AVX2 at strides above 1): output channels in vectors (32
 * a tile, the weights packed per tap), the pixels of one row broadcast (up to 14 a tile), so no
 * computed column is wasted; each output the same operations in the same order as gc_dconv_run,
 * so the same bits. It pays where the flat pixel panels waste lanes (narrow images: AlexNet's 27
 * x 27 conv2, 13 x 13 and 14 x 14 layers) and for strided layers, whose flat form needs their
 * input rearranged. gc_dconv_chan_floats: 0 where it does not apply (tier, flip, shapes),
 * else the floats of the weights gc_dconv_chan_pack packs from w (Co, Ci, KH, KW).
 * gc_dconv_run_packed: gc_dconv_run with those packed weights as well (NULL: gc_dconv_run);
 * the same ws. */
size_t gc_dconv_chan_floats(gc_gemm_tier tier, const gc_dconv *p);
void gc_dconv_chan_pack(const gc_dconv *p, const float *w, float *packed);
void gc_dconv_run_packed(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                         const float *packed, const float *bias, float *y, float *ws);

/* ---- accurate convolution, stride 1 (conv_accurate.c) ----
 * The problem of gc_dconv with flip = 0: y (Co, OH, OW) = x (Ci, H, W) convolved with w (Co,
 * Ci, KH, KW) + bias (Co or NULL), each output one double sum of the exact products and the
 * bias, rounded to float once (as the reference loops). For the forward passes of the
 * explanations that follow the network's switches to the input (gc_layer_ctx.accurate).
 * tier: a packed gc_gemm tier. ws: gc_aconv_workspace floats (SIZE_MAX on overflow). */
size_t gc_aconv_workspace(const gc_dconv *p);
/* With p->slots set for n workers: floats of one worker's slot (0: none) and of ws. */
size_t gc_aconv_slot_floats(const gc_dconv *p, int workers);
size_t gc_aconv_shared_floats(const gc_dconv *p);
void gc_aconv_run(gc_pool *pool, gc_gemm_tier tier, const gc_dconv *p, const float *x, const float *w,
                  const float *bias, float *y, float *ws);

/* Micro-kernel interface. Lane l (< NR) of an output tile is flat pixel q0 + l; the map
 * lists up to GC_DC_MAXSEG segments of lanes lying in one output row: lanes with bit l of
 * mask[s] go to y_row + dst[s] + l. */
#define GC_DC_MAXSEG 48
#define GC_DC_SLOTS 16   /* most threads one gc_dconv_run uses */
typedef struct gc_dc_map {
    int nseg;
    int64_t dst[GC_DC_MAXSEG];
    uint64_t mask[GC_DC_MAXSEG];
} gc_dc_map;

/* acc (MR x NR) = sum_p a[r*rs + p*ks] * b[off[p] + l] (summed from zero), plus (load ? y :
 * bias or 0) added last, then stored through map into rows r < m of y (row stride ldy). a: weights, packed (rs = 1,
 * ks = MR) or rows of the weight matrix (rs = K, ks = 1); b: padded input at lane 0 of
 * the panel; off: k tap offsets. */
typedef void (*gc_dc_ukernel)(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                              float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                              const float *bias);
void gc_dconv_ukernel_portable_4x16(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                    float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                    const float *bias);
void gc_dconv_ukernel_avx2_4x24(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                const float *bias);
void gc_dconv_ukernel_avx512_8x48(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                  float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                  const float *bias);
/* The channel-vectorised tile: np (1..14) pixels from b (padded input at the row's first
 * pixel; pixel p at b + p * sw) by m (<= 32) channels of a (packed, (K, 32)), K taps in blocks of KC (block k's taps at
 * b + k * cstride + off[t]), + bias (32 or NULL), stored to y[o * ldy + p]. */
void gc_dconv_chan_avx512(int np, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC,
                          int64_t cstride, const float *bias, float *y, int64_t ldy, int m, int64_t sw);
/* The same with AVX2: 6 pixels by 16 channels at a time. */
void gc_dconv_chan_avx2(int np, const float *a, const float *b, const int64_t *off, int64_t K, int64_t KC,
                        int64_t cstride, const float *bias, float *y, int64_t ldy, int m, int64_t sw);
/* The 8x48 kernel's forms on 32 and 16 lanes (a band's last pixels; the same bits). */
void gc_dconv_ukernel_avx512_8x32(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                  float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                  const float *bias);
void gc_dconv_ukernel_avx512_8x16(int64_t k, const float *a, int64_t rs, int64_t ks, const float *b, const int64_t *off,
                                  float *y, int64_t ldy, const gc_dc_map *map, int m, int load,
                                  const float *bias);

/* ---- depthwise convolution (conv_depthwise.c) ----
 * Groups of one input channel each (C = groups, O = M * C: output channel o reads input channel
 * o / M), any kernel, stride, padding and dilation (MobileNet, EfficientNet: 3x3 and 5x5,
 * strides 1 and 2):
 *   y[n,o,i,j] = b[o] + sum_{u,v} w[o,u,v] x[n, o/M, i*SH - PH + u*DH, j*SW - PW + v*DW].
 * One task per (image, input channel): its plane is copied with its zero border into the
 * thread's scratch, then each of the M output planes sums KH*KW shifted copies of it, row by
 * row, vectorised along the row (u, v in order, the same for any thread count). Backward: dx
 * by adding the shifted dy rows into a padded plane, then cropping; dw and db as sums in
 * double. */
typedef struct gc_dwconv {
    int64_t N, C, H, W;     /* input batch, channels (= groups), size */
    int64_t M, OH, OW;      /* output channels per input channel, output size */
    int64_t KH, KW, SH, SW, PH, PW, DH, DW;
    int epi;                /* GC_EPI_NONE, GC_EPI_RELU (values only) or GC_EPI_CLAMP, applied as y is stored */
    float epi_lo, epi_hi;   /* GC_EPI_CLAMP's bounds */
} gc_dwconv;

#define GC_DW_SLOTS 16   /* most threads a depthwise call uses (one padded plane each) */

/* Floats of scratch (SIZE_MAX on overflow). */
size_t gc_dwconv_workspace(const gc_dwconv *p);

/* y (N, M*C, OH, OW) from x (N, C, H, W), w (M*C, KH, KW), bias (M*C or NULL). tier: the plane
 * kernel's ISA (every tier gives the same bits). */
void gc_dwconv_forward(gc_pool *pool, gc_gemm_tier tier, const gc_dwconv *p, const float *x, const float *w, const float *bias,
                       float *y, float *ws);

/* Padded plane of a depthwise call: the input's H x W inside a border of PH / PW zeros, plus
 * what a window of the last output row or column reaches past the far edge. */
static inline void gc_dw_padded_size(const gc_dwconv *p, int64_t *hp, int64_t *wp) {
    const int64_t rh = (p->OH - 1) * p->SH + (p->KH - 1) * p->DH + 1, rw = (p->OW - 1) * p->SW + (p->KW - 1) * p->DW + 1;
    *hp = rh > p->H + p->PH ? rh : p->H + p->PH;
    *wp = rw > p->W + p->PW ? rw : p->W + p->PW;
}

/* Whether the AVX-512 plane kernel reads the taps straight from the input plane, with no padded
 * copy (conv_depthwise_tx.h, dw_block_direct): 3x3 kernels at stride 1 or 2, no dilation,
 * rows of at most GC_DW_DIRECT_W pixels (the row of zeros it reads above and below the plane),
 * left padding of at most 64. Zen 5, MobileNetV2 in the network: its 28x28 to 7x7 planes
 * 20-40 % faster than with the copy; its 112x112 and 56x56 planes (features.1-4) were 20-100 %
 * slower until the kernel prefetched the rows ahead (the copy reads a plane as one stream, which
 * the hardware prefetcher follows from L3; the direct blocks read six to nine short rows at a
 * time), and 24 % faster since (dw_prefetch). 5x5 kernels keep the copy: 10-100 % slower in a
 * loop on cached data (their masks and loads no longer fit the registers). */
#define GC_DW_DIRECT_W 1024
static inline int gc_dw_direct(const gc_dwconv *p) {
    return p->DH == 1 && p->DW == 1 && p->KH == 3 && p->KW == 3 && p->SH == p->SW && (p->SH == 1 || p->SH == 2) &&
           p->W <= GC_DW_DIRECT_W && p->PW <= 64;
}

/* Whether the AVX-512 kernel runs a call's planes as flat arrays (conv_depthwise_tx.h,
 * gc_dw_flat_avx512): 3x3 or 5x5 kernels at stride 1 with "same" padding (K - 1) / 2, no
 * dilation, planes of at most GC_DW_FLAT_PX pixels (MobileNetV2's and EfficientNet-B0's 7x7 and
 * 14x14 ones): 16 outputs a vector across the plane's rows, where the row kernels use 7 or 14
 * lanes of 16 on such planes; Zen 5, 2 threads, in the network: 7x7 planes 2.3x faster, 14x14
 * ones 5-10 %; 28x28 ones (up to 1024 pixels) measured the same as the row kernels, so they keep
 * them. gc_dw_flat_avx512 runs planes [t0, t1) (image C + channel) of the call. */
#ifndef GC_DW_FLAT_PX
#define GC_DW_FLAT_PX 256
#endif
static inline int gc_dw_flat(const gc_dwconv *p) {
    return p->DH == 1 && p->DW == 1 && p->KH == p->KW && (p->KH == 3 || p->KH == 5) && p->SH == 1 && p->SW == 1 &&
           p->PH == (p->KH - 1) / 2 && p->PW == p->PH && p->OH == p->H && p->OW == p->W && p->H * p->W <= GC_DW_FLAT_PX;
}
void gc_dw_flat_avx512(const gc_dwconv *p, const float *x, const float *w, const float *bias, float *y, int64_t t0,
                       int64_t t1);

/* The output planes (M, OH, OW) of one input plane x (H, W), weights w (M, KH, KW), bias (M or
 * NULL): x is zero-padded into xp (hp (wp + 1) + 64 floats, 64-byte aligned; at stride 2 the
 * fast kernels keep even and odd columns apart there), then each output plane is summed
 * (conv_depthwise_tx.h, per ISA). */
typedef void (*gc_dw_plane_fn)(const gc_dwconv *p, const float *x, float *xp, const float *w, const float *bias,
                               float *y);
void gc_dw_plane_portable(const gc_dwconv *p, const float *x, float *xp, const float *w, const float *bias, float *y);
void gc_dw_plane_avx2(const gc_dwconv *p, const float *x, float *xp, const float *w, const float *bias, float *y);
void gc_dw_plane_avx512(const gc_dwconv *p, const float *x, float *xp, const float *w, const float *bias, float *y);

/* From dy (N, M*C, OH, OW): dx (N, C, H, W), dw (M*C, KH, KW), db (M*C); each may be NULL;
 * x is read only for dw. Overwrites what it writes. Stride 1 with one output channel per
 * input channel: dx is the forward of dy with the flipped kernel (the plane kernel of tier);
 * otherwise it is scattered. ws: gc_dwconv_workspace_bwd floats. */
void gc_dwconv_backward(gc_pool *pool, gc_gemm_tier tier, const gc_dwconv *p, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db, float *ws);
size_t gc_dwconv_workspace_bwd(const gc_dwconv *p);

/* ---- a GEMM for few output pixels (conv_pixels.c) ----
 * y (O, P) = w (O, K) x col (K, P) + bias (O or NULL), for convolutions whose output has few
 * pixels (ResNet's 7x7 and 14x14 layers: P = 49, 196): the usual GEMM puts output channels
 * on the micro-kernel's rows and pixels on its 32 columns, so 49 pixels fill 64 lanes; here
 * pixels are the rows, 7 to a tile (49 = 7 x 7, 196 = 28 x 7), and output channels the 64
 * columns, with the weights packed once (gc_pxgemm_pack) into 64-channel panels of all K.
 * Each tile sums K in registers (a deep K in chunks, the sums carried between them: the same
 * chain of multiply-adds) and is stored transposed into y with the bias; a worker fetches the
 * weights it multiplies next while a panel computes (conv_pixels.c, px_panel). AVX-512 and
 * AVX2 (gc_pxgemm_applies), the same bits on both. Threads split the (channel panel, pixel panel) tiles; each y
 * element is summed in the same order for any thread count. */
#define GC_PX_MR 7
#define GC_PX_NR 64

/* 1 when this path runs for the tier and is worth it for P pixels: AVX-512 or AVX2, P <= 256,
 * and 7-pixel rows waste fewer lanes than the usual GEMM's 32-pixel columns (AVX-512) or more
 * than 1/8 fewer than its 16-pixel ones (AVX2). */
int gc_pxgemm_applies(gc_gemm_tier tier, int64_t P);

/* Floats of w packed for gc_pxgemm_run (0 on overflow), and the packing. */
size_t gc_pxgemm_packed_floats(int64_t O, int64_t K);
void gc_pxgemm_pack(int64_t O, int64_t K, const float *w, float *packed);

/* Floats of scratch gc_pxgemm_run needs (SIZE_MAX on overflow). */
size_t gc_pxgemm_workspace(int64_t O, int64_t P, int64_t K);

/* res: NULL, or an (O, P) residual added after the bias (a fused residual add); then epi:
 * GC_EPI_NONE, GC_EPI_RELU (values only) or GC_EPI_CLAMP (lo, hi), applied as y is stored. */
void gc_pxgemm_run(gc_pool *pool, gc_gemm_tier tier, int64_t O, int64_t P, int64_t K, const float *packed,
                   const float *col, const float *bias, const float *res, float *y, float *ws, int epi, float lo,
                   float hi);

/* The same with each worker lowering and packing the pixel panels it multiplies into its own slot
 * (slots.base + w * slots.stride): pack_b(ctx, 0, K, j0, nb, 7, dst) writes pixels [j0, j0 + nb)
 * as 7-pixel panels (gc_im2col_pack for a convolution's input, gc_px_pack_matrix for a K x P
 * matrix), so no packed panel is written by one core and read by the other (ResNet-50's 14x14
 * layers: the two cores far apart). The workers split the channel panels when O >= 4 P (each then
 * packs every pixel panel), else the pixel panels, in equal runs of tiles. Same bits as
 * gc_pxgemm_run. Returns 0 (nothing done) when the slots are missing or smaller than
 * gc_pxgemm_slot_floats(O, P, K, workers). */
size_t gc_pxgemm_slot_floats(int64_t O, int64_t P, int64_t K, int workers);
int gc_pxgemm_run_slots(gc_pool *pool, gc_gemm_tier tier, int64_t O, int64_t P, int64_t K, const float *packed,
                        gc_gemm_pack_b_fn pack_b, const void *ctx, const float *bias, const float *res, float *y,
                        gc_slots slots, int epi, float lo, float hi);
/* A K x P matrix b (row stride ld) as a gc_gemm_pack_b_fn source. */
typedef struct gc_px_matrix { const float *b; int64_t ld; } gc_px_matrix;
void gc_px_pack_matrix(const void *ctx, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr, float *dst);

/* t (7 x 64, row-major) = a (k x 7) b (k x 64) on the first nc (<= 64) columns rounded up to 16
 * (the rest of t is not written), pixel panel row k at a + k * as, b packed; acc: t += instead
 * (the same bits as one call over both chunks of k). Step p < npf (<= k) also prefetches the
 * cache line at pf + 64 p into L2. */
void gc_px_ukernel_avx512(int64_t k, const float *a, int64_t as, const float *b, float *t, int64_t nc, int acc,
                          const char *pf, int64_t npf);
/* y[c P + r] = epi(t[r * 64 + c] + bias[c] (+ res[c P + r] when res is not NULL)), r < n <= 7,
 * c < nc <= 64 (bias: 64 floats). */
void gc_px_store_avx512(const float *t, const float *bias, const float *res, int epi, float lo, float hi, float *y,
                        int64_t P, int64_t n, int64_t nc);
/* The same two for AVX2 (t's columns past nc rounded up to 8 unwritten). */
void gc_px_ukernel_avx2(int64_t k, const float *a, int64_t as, const float *b, float *t, int64_t nc, int acc,
                        const char *pf, int64_t npf);
void gc_px_store_avx2(const float *t, const float *bias, const float *res, int epi, float lo, float hi, float *y,
                      int64_t P, int64_t n, int64_t nc);

#endif
