/* jpeg.c - JPEG decoder (ITU-T T.81): placeholder while the decoder is written. */
#include "core/core.h"
#include <string.h>

gc_status gc_image_decode_jpeg(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out) {
    (void)limits;
    if (out) memset(out, 0, sizeof *out);
    if (!buf || !out) return gc_error(GC_ERR_INVALID_ARGUMENT, "jpeg: NULL argument");
    const uint8_t *p = buf;
    if (len < 4 || p[0] != 0xFF || p[1] != 0xD8) return gc_error(GC_ERR_FORMAT, "jpeg: missing SOI marker");
    return gc_error(GC_ERR_UNSUPPORTED, "jpeg: decoder not implemented yet");
}
