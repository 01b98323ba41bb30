/* image_internal.h - helpers shared by the image codecs (read-only for
 * decoders other than PNG/PNM: keep small and stable). */
#ifndef GC_IMAGE_INTERNAL_H
#define GC_IMAGE_INTERNAL_H

#include "core/core.h"

/* Checks width x height against limits (NULL: gc_image_limits_default) and
 * returns GC_ERR_LIMIT naming the format, GC_ERR_FORMAT for a zero or
 * negative dimension, GC_OK otherwise. Call before allocating pixels. */
static inline gc_status gc_image_check_size(const gc_image_limits *lim, int64_t w, int64_t h,
                                            const char *fmt) {
    gc_image_limits d = gc_image_limits_default();
    if (!lim) lim = &d;
    if (w < 1 || h < 1) return gc_error(GC_ERR_FORMAT, "%s: empty image (%lld x %lld)", fmt, (long long)w, (long long)h);
    if (w > lim->max_dimension || h > lim->max_dimension)
        return gc_error(GC_ERR_LIMIT, "%s: %lld x %lld exceeds the dimension limit %d", fmt,
                        (long long)w, (long long)h, (int)lim->max_dimension);
    if (w > INT64_MAX / h || w * h > lim->max_pixels)
        return gc_error(GC_ERR_LIMIT, "%s: %lld x %lld exceeds the pixel limit %lld", fmt,
                        (long long)w, (long long)h, (long long)lim->max_pixels);
    return GC_OK;
}

/* Encodes img with `encode` (e.g. gc_image_encode_png) and writes the bytes
 * to path; GC_ERR_IO naming the path and strerror on a write failure. fmt
 * names the format in messages. */
gc_status gc_image_save_encoded(const gc_image *img, const char *path, const char *fmt,
                                gc_status (*encode)(const gc_image *, uint8_t **, size_t *));

/* Checks that img is a usable image (data, size, 1..4 channels, 8/16 bit);
 * GC_ERR_INVALID_ARGUMENT naming `who` otherwise. */
gc_status gc_image_check(const gc_image *img, const char *who);

#endif
