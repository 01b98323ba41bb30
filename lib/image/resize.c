/* resize.c - antialiased bilinear resizing with PIL's arithmetic
 * (Image.resize(size, BILINEAR)): a triangle filter whose support grows with
 * the downscale factor, a horizontal then a vertical pass, 8-bit results
 * between passes in 22-bit fixed point. */
#include "image_internal.h"
#include <math.h>
#include <string.h>

#define PRECISION_BITS 22 /* 32 - 8 - 2, as PIL */

/* ---- Filter coefficients ------------------------------------------------------ */
/* One pass from `in` samples to `out`: for output d, the taps are source
 * samples first[d] .. first[d] + count[d] - 1 with weights kk[d * ksize + t]. */
typedef struct coeffs {
    int64_t  ksize;
    int32_t *first, *count; /* (out) */
    double  *kk;            /* (out, ksize) normalised to sum 1 */
    int32_t *ik;            /* (out, ksize) kk in fixed point, or NULL */
} coeffs;

static void coeffs_free(coeffs *c) {
    gc_free(c->first); gc_free(c->count); gc_free(c->kk); gc_free(c->ik);
    memset(c, 0, sizeof *c);
}

static double triangle(double x) { x = fabs(x); return x < 1.0 ? 1.0 - x : 0.0; }

static gc_status coeffs_build(int64_t in, int64_t out, int fixed, coeffs *c) {
    memset(c, 0, sizeof *c);
    double scale = (double)in / (double)out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;                 /* triangle support 1, widened */
    c->ksize = (int64_t)ceil(support) * 2 + 1;
    size_t n;
    if (gc_mul_size((size_t)out, (size_t)c->ksize, &n))
        return gc_error(GC_ERR_OUT_OF_MEMORY, "resize: %lld x %lld filter taps overflow", (long long)out, (long long)c->ksize);
    c->first = gc_alloc_array((size_t)out, sizeof(int32_t));
    c->count = gc_alloc_array((size_t)out, sizeof(int32_t));
    c->kk = gc_calloc(n, sizeof(double));
    if (fixed) c->ik = gc_calloc(n, sizeof(int32_t));
    if (!c->first || !c->count || !c->kk || (fixed && !c->ik)) { coeffs_free(c); return GC_ERR_OUT_OF_MEMORY; }
    for (int64_t d = 0; d < out; d++) {
        double center = ((double)d + 0.5) * scale, ss = 1.0 / filterscale, ww = 0.0;
        int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        double *k = c->kk + d * c->ksize;
        for (int64_t t = 0; t < hi - lo; t++) { k[t] = triangle(((double)(t + lo) - center + 0.5) * ss); ww += k[t]; }
        for (int64_t t = 0; t < hi - lo; t++) if (ww != 0.0) k[t] /= ww;
        c->first[d] = (int32_t)lo;
        c->count[d] = (int32_t)(hi - lo);
        if (fixed)
            for (int64_t t = 0; t < c->ksize; t++)
                c->ik[d * c->ksize + t] = (int32_t)(k[t] < 0 ? -0.5 + k[t] * (1 << PRECISION_BITS)
                                                             : 0.5 + k[t] * (1 << PRECISION_BITS));
    }
    return GC_OK;
}

static inline uint8_t clip8(int64_t acc) {
    acc >>= PRECISION_BITS;
    return (uint8_t)(acc < 0 ? 0 : acc > 255 ? 255 : acc);
}

/* ---- 8-bit passes --------------------------------------------------------------- */
/* src (h, w, ch) -> dst (h, W, ch) */
static void pass_h8(const uint8_t *src, int64_t h, int64_t w, int64_t ch, const coeffs *c, uint8_t *dst, int64_t W) {
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < W; x++) {
            const int32_t *k = c->ik + x * c->ksize;
            const uint8_t *s = src + (y * w + c->first[x]) * ch;
            for (int64_t q = 0; q < ch; q++) {
                int64_t acc = 1 << (PRECISION_BITS - 1);
                for (int32_t t = 0; t < c->count[x]; t++) acc += (int64_t)s[t * ch + q] * k[t];
                dst[(y * W + x) * ch + q] = clip8(acc);
            }
        }
}

/* src (h, w, ch) -> dst (H, w, ch) */
static void pass_v8(const uint8_t *src, int64_t w, int64_t ch, const coeffs *c, uint8_t *dst, int64_t H) {
    int64_t row = w * ch;
    for (int64_t y = 0; y < H; y++) {
        const int32_t *k = c->ik + y * c->ksize;
        const uint8_t *s = src + (int64_t)c->first[y] * row;
        for (int64_t i = 0; i < row; i++) {
            int64_t acc = 1 << (PRECISION_BITS - 1);
            for (int32_t t = 0; t < c->count[y]; t++) acc += (int64_t)s[t * row + i] * k[t];
            dst[y * row + i] = clip8(acc);
        }
    }
}

gc_status gc_image_resize(const gc_image *in, int32_t width, int32_t height, gc_image *out) {
    if (!out || out == in) return gc_error(GC_ERR_INVALID_ARGUMENT, "image_resize: out is NULL or in");
    memset(out, 0, sizeof *out);
    if (gc_image_check(in, "image_resize")) return GC_ERR_INVALID_ARGUMENT;
    if (in->bit_depth != 8) return gc_error(GC_ERR_UNSUPPORTED, "image_resize: 16-bit image (convert with gc_image_to_rgb8 first)");
    if (width < 1 || height < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "image_resize: target size %d x %d", width, height);
    gc_status st = gc_image_check_size(NULL, width, height, "image_resize");
    if (st) return st == GC_ERR_FORMAT ? GC_ERR_INVALID_ARGUMENT : st;
    int64_t w = in->width, h = in->height, ch = in->channels;
    coeffs cx = {0}, cy = {0};
    gc_image tmp = {0};
    int need_h = width != w, need_v = height != h;
    if ((st = coeffs_build(w, width, 1, &cx)) || (st = coeffs_build(h, height, 1, &cy))) goto done;
    if ((st = gc_image_alloc(out, width, height, (int32_t)ch, 8))) goto done;
    const uint8_t *src = in->data;
    if (need_h && need_v) {
        if ((st = gc_image_alloc(&tmp, width, (int32_t)h, (int32_t)ch, 8))) goto done;
        pass_h8(src, h, w, ch, &cx, tmp.data, width);
        pass_v8(tmp.data, width, ch, &cy, out->data, height);
    } else if (need_h) {
        pass_h8(src, h, w, ch, &cx, out->data, width);
    } else if (need_v) {
        pass_v8(src, w, ch, &cy, out->data, height);
    } else {
        memcpy(out->data, src, (size_t)(w * h * ch));
    }
done:
    coeffs_free(&cx); coeffs_free(&cy); gc_image_release(&tmp);
    if (st) gc_image_release(out);
    return st;
}

/* ---- Float passes (PIL mode "F": double sums, float between passes) ------------- */
gc_status gc_image_resize_float(const float *src, int32_t channels, int32_t height, int32_t width,
                                float *dst, int32_t out_height, int32_t out_width) {
    if (!src || !dst) return gc_error(GC_ERR_INVALID_ARGUMENT, "image_resize_float: NULL buffer");
    if (channels < 1 || height < 1 || width < 1 || out_height < 1 || out_width < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "image_resize_float: sizes %d x %d x %d -> %d x %d",
                        channels, height, width, out_height, out_width);
    int64_t h = height, w = width, H = out_height, W = out_width;
    coeffs cx = {0}, cy = {0};
    gc_status st;
    size_t n;
    if (gc_mul_size((size_t)h, (size_t)W, &n))
        return gc_error(GC_ERR_OUT_OF_MEMORY, "image_resize_float: %lld x %lld overflows", (long long)h, (long long)W);
    float *tmp = gc_alloc_array(n, sizeof(float)); /* (h, W) one channel after the horizontal pass */
    if (!tmp) return GC_ERR_OUT_OF_MEMORY;
    if ((st = coeffs_build(w, W, 0, &cx)) || (st = coeffs_build(h, H, 0, &cy))) goto done;
    for (int64_t q = 0; q < channels; q++) {
        const float *s = src + q * h * w;
        float *d = dst + q * H * W;
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < W; x++) {
                const double *k = cx.kk + x * cx.ksize;
                double acc = 0.0;
                for (int32_t t = 0; t < cx.count[x]; t++) acc += (double)s[y * w + cx.first[x] + t] * k[t];
                tmp[y * W + x] = W == w ? s[y * w + x] : (float)acc;
            }
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                const double *k = cy.kk + y * cy.ksize;
                double acc = 0.0;
                for (int32_t t = 0; t < cy.count[y]; t++) acc += (double)tmp[(cy.first[y] + t) * W + x] * k[t];
                d[y * W + x] = H == h ? tmp[y * W + x] : (float)acc;
            }
    }
done:
    coeffs_free(&cx); coeffs_free(&cy); gc_free(tmp);
    return st;
}
