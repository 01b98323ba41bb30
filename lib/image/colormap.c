/* colormap.c - OpenCV's COLORMAP_JET. OpenCV stores 256 float samples of the
 * piecewise-linear jet (x = i / 255):
 *   r = clamp(min(4x - 1.5, 4.5 - 4x)), g = clamp(min(4x - 0.5, 3.5 - 4x)),
 *   b = clamp(min(4x + 0.5, 2.5 - 4x)),
 * interpolates them at linspace(0, 1, 256) in float (interp1) and converts
 * to 8 bits with round-half-even of the float product v * 255. The float
 * steps decide ties (most ramp values are k + 0.5), so they are replayed
 * here operation for operation. */
#include "image_internal.h"
#include <math.h>
#include <string.h>

/* ---- Table entries ---------------------------------------------------------------- */
static const double JET_UP[3] = {-1.5, -0.5, 0.5}, JET_DOWN[3] = {4.5, 3.5, 2.5}; /* r, g, b */

/* OpenCV's stored sample i of channel ch (0 r, 1 g, 2 b) as a float. */
static float jet_sample(int ch, int i) {
    double x = (double)i / 255.0, up = 4.0 * x + JET_UP[ch], down = JET_DOWN[ch] - 4.0 * x;
    double v = up < down ? up : down;
    return (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
}

/* interp1 at x_i between samples i-1 and i, then saturate_cast<uchar>(v * 255). */
static uint8_t jet_channel(int ch, int i) {
    float y = jet_sample(ch, i);
    if (i > 0) {
        const float step = 1.0f / 255.0f;
        float x0 = 0.0f + (float)(i - 1) * step, x1 = 0.0f + (float)i * step, y0 = jet_sample(ch, i - 1);
        float dx = x1 - x0, dy = y - y0, num = dx * dy, q = num / dx;
        y = y0 + q;
    }
    float v = y * 255.0f;
    v = nearbyintf(v);
    return (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
}

void gc_colormap_jet(int index, uint8_t rgb[3]) {
    if (!rgb) return;
    if (index < 0) index = 0;
    if (index > 255) index = 255;
    for (int ch = 0; ch < 3; ch++) rgb[ch] = jet_channel(ch, index);
}

int gc_colormap_index(float v) {
    if (!(v > 0.0f)) return 0; /* NaN and v <= 0 */
    if (v >= 1.0f) return 255;
    return (int)(v * 255.0f);
}

/* ---- Maps to images ---------------------------------------------------------------- */
gc_status gc_colormap_jet_image(const float *map, int32_t height, int32_t width, gc_image *out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "colormap_jet_image: NULL output");
    memset(out, 0, sizeof *out);
    if (!map) return gc_error(GC_ERR_INVALID_ARGUMENT, "colormap_jet_image: NULL map");
    if (width < 1 || height < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "colormap_jet_image: size %d x %d", height, width);
    gc_status st = gc_image_alloc(out, width, height, 3, 8);
    if (st) return st;
    uint8_t lut[256][3]; /* (index, rgb) */
    for (int i = 0; i < 256; i++) gc_colormap_jet(i, lut[i]);
    uint8_t *o = out->data; /* (h, w, 3) */
    size_t n = (size_t)width * (size_t)height;
    for (size_t i = 0; i < n; i++) memcpy(o + 3 * i, lut[gc_colormap_index(map[i])], 3);
    return GC_OK;
}
