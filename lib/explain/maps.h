/* maps.h - small operations on 2-D float maps shared by the explainers,
 * the evaluations and the figures (internal). */
#ifndef GC_MAPS_H
#define GC_MAPS_H

#include <stdint.h>

/* Bilinear resize with half-pixel centres (PyTorch align_corners=False,
 * OpenCV INTER_LINEAR): source coordinate (d + 0.5) * in/out - 0.5, clamped
 * at 0; the far neighbour is clamped to the last row/column. */
void gc_map_resize_bilinear(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W);

/* dst = (src - min) / (max - min); zeros if the map is constant. */
void gc_map_normalize_minmax(const float *src, int64_t n, float *dst);

#endif
