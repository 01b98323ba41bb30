/* maps.c - resizing and normalising 2-D maps. */
#include "maps.h"
#include <math.h>

/* For output index d: left source index, right source index, right weight. */
static void source_index(int64_t d, int64_t in, int64_t out, int64_t *i0, int64_t *i1, float *t) {
    double scale = (double)in / (double)out;
    double src = ((double)d + 0.5) * scale - 0.5;
    if (src < 0) src = 0;
    int64_t lo = (int64_t)src;
    if (lo > in - 1) lo = in - 1;
    *i0 = lo;
    *i1 = lo + 1 < in ? lo + 1 : in - 1;
    *t = (float)(src - (double)lo);
}

void gc_map_resize_bilinear(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W) {
    for (int64_t y = 0; y < H; y++) {
        int64_t y0, y1;
        float ty;
        source_index(y, h, H, &y0, &y1, &ty);
        for (int64_t x = 0; x < W; x++) {
            int64_t x0, x1;
            float tx;
            source_index(x, w, W, &x0, &x1, &tx);
            float top = src[y0 * w + x0] * (1.0f - tx) + src[y0 * w + x1] * tx;
            float bot = src[y1 * w + x0] * (1.0f - tx) + src[y1 * w + x1] * tx;
            dst[y * W + x] = top * (1.0f - ty) + bot * ty;
        }
    }
}

void gc_map_normalize_minmax(const float *src, int64_t n, float *dst) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (src[i] < lo) lo = src[i];
        if (src[i] > hi) hi = src[i];
    }
    float range = hi - lo;
    for (int64_t i = 0; i < n; i++) dst[i] = range > 0 ? (src[i] - lo) / range : 0.0f;
}
