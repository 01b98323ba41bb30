/* localize.c - weakly-supervised localisation: threshold a map at a fraction
 * of its maximum and box the largest 8-connected component. */
#include "core/core.h"
#include <math.h>
#include <string.h>

gc_status gc_map_localize(const float *map, int32_t height, int32_t width, float threshold, gc_box *box) {
    if (box) memset(box, 0, sizeof *box);
    if (!map || !box) return gc_error(GC_ERR_INVALID_ARGUMENT, "map_localize: NULL map or box");
    if (height < 1 || width < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "map_localize: size %d x %d", height, width);
    if (!(threshold >= 0.0f && threshold <= 1.0f))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "map_localize: threshold %g (0..1 of the maximum)", (double)threshold);
    int64_t h = height, w = width, n = h * w;
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) if (map[i] > mx) mx = map[i]; /* NaN never wins */
    if (!(mx > 0.0f) || !isfinite(mx)) return GC_OK;              /* nothing to box */
    float thr = threshold * mx;
    uint8_t *seen = gc_calloc((size_t)n, 1);                      /* (h, w) visited */
    int64_t *stack = gc_alloc_array((size_t)n, sizeof(int64_t)); /* pixels to expand */
    if (!seen || !stack) { gc_free(seen); gc_free(stack); return GC_ERR_OUT_OF_MEMORY; }
    for (int64_t s = 0; s < n; s++) {
        if (seen[s] || !(map[s] >= thr)) continue;
        int64_t top = 0, area = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
        stack[top++] = s;
        seen[s] = 1;
        while (top) {
            int64_t p = stack[--top], py = p / w, px = p % w;
            area++;
            if (px < x0) x0 = px;
            if (px > x1) x1 = px;
            if (py < y0) y0 = py;
            if (py > y1) y1 = py;
            for (int64_t dy = -1; dy <= 1; dy++)
                for (int64_t dx = -1; dx <= 1; dx++) {
                    int64_t qy = py + dy, qx = px + dx, q = qy * w + qx;
                    if (qy < 0 || qy >= h || qx < 0 || qx >= w || seen[q] || !(map[q] >= thr)) continue;
                    seen[q] = 1;
                    stack[top++] = q;
                }
        }
        if (area > box->area) {
            box->x0 = (int32_t)x0; box->y0 = (int32_t)y0; box->x1 = (int32_t)x1; box->y1 = (int32_t)y1;
            box->area = area;
        }
    }
    gc_free(seen);
    gc_free(stack);
    return GC_OK;
}
