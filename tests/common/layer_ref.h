/* layer_ref.h - naive layer references for tests, written independently of
 * lib/layers: double precision, explicit padded buffers, output sizes found by
 * counting window positions. Outputs are float arrays the caller sizes from
 * the ref_*_out functions. Semantics are PyTorch's (NCHW). */
#ifndef GC_LAYER_REF_H
#define GC_LAYER_REF_H

#include "gradcam.h"

/* Number of windows (dilated extent d(k-1)+1) that fit in n + 2p cells. */
int64_t ref_conv_out(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d);
/* Pooling windows; in ceil mode also partial windows that start inside the
 * image or the left padding. */
int64_t ref_pool_out(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode);

/* x (N, C, H, W), w (O, C/groups, kh, kw), b (O) or NULL -> y (N, O, OH, OW). */
void ref_conv2d(const gc_conv2d_params *p, int64_t N, int64_t H, int64_t W,
                const float *x, const float *w, const float *b, float *y);
/* x (N, C, H, W) -> y (N, C, OH, OW). */
void ref_maxpool2d(const gc_pool2d_params *p, int64_t N, int64_t C, int64_t H, int64_t W,
                   const float *x, float *y);
void ref_avgpool2d(const gc_pool2d_params *p, int64_t N, int64_t C, int64_t H, int64_t W,
                   const float *x, float *y);
void ref_adaptive_avgpool2d(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const float *x, float *y);
/* x (N, I), w (O, I), b (O) or NULL -> y (N, O). */
void ref_linear(int64_t N, int64_t I, int64_t O, const float *x, const float *w, const float *b, float *y);
/* Over C of x (N, C, S). */
void ref_softmax(int64_t N, int64_t C, int64_t S, const float *x, float *y);
void ref_lrn(const gc_lrn_params *p, int64_t N, int64_t C, int64_t S, const float *x, float *y);
/* g, b, mean, var (C). */
void ref_batchnorm2d(int64_t N, int64_t C, int64_t S, float eps, const float *g, const float *b,
                     const float *mean, const float *var, const float *x, float *y);

/* NumPy broadcasting of a (na dimensions da[]) with b (nb, db[]): the result's
 * dimensions into out[] (max(na, nb) of them, returned), or -1 if some pair of
 * sizes (aligned at the last dimension) differs with neither of them 1. */
int ref_broadcast_shape(int na, const int64_t *da, int nb, const int64_t *db, int64_t *out);
/* y = a op b over the broadcast shape, row-major, op one of: */
enum { REF_ADD = 0, REF_MUL = 1, REF_SUB = 2, REF_DIV = 3 };
void ref_binary(int op, int na, const int64_t *da, const float *a, int nb, const int64_t *db,
                const float *b, float *y);
/* torch.cat(xs, dim=1) of n inputs (N, c[k], S) -> y (N, sum c, S). */
void ref_concat(int n, int64_t N, const int64_t *c, int64_t S, const float *const *xs, float *y);
/* x (N, C, H, W) inside a (N, C, top + H + bottom, left + W + right) canvas of `value`. */
void ref_pad(int64_t N, int64_t C, int64_t H, int64_t W, int64_t top, int64_t bottom, int64_t left,
             int64_t right, float value, const float *x, float *y);
/* Channel shuffle as exporters write it: x (N, C, S) read as (N, g, C/g, S), transposed to
 * (N, C/g, g, S), written out row-major as (N, C, S). */
void ref_channel_shuffle(int64_t N, int64_t C, int64_t S, int64_t g, const float *x, float *y);
/* The activation (gc_activation_op formulas, PyTorch semantics) of one value,
 * and its derivative away from the kinks. */
double ref_activation(const gc_activation_params *p, double x);
double ref_activation_grad(const gc_activation_params *p, double x);

#endif
