/* image.c - image objects, the decoder dispatcher, file loading and
 * 8-bit conversions. */
#include "image_internal.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES ((int64_t)1 << 31) /* encoded files larger than 2 GB are refused */

/* ---- Objects ---------------------------------------------------------------- */
gc_image_limits gc_image_limits_default(void) {
    gc_image_limits l = {(int64_t)1 << 28, 1 << 20};
    return l;
}

void gc_image_release(gc_image *img) {
    if (!img) return;
    gc_free(img->data);
    memset(img, 0, sizeof *img);
}

void gc_buffer_free(void *buf) { gc_free(buf); }

gc_status gc_image_alloc(gc_image *img, int32_t width, int32_t height, int32_t channels, int32_t bit_depth) {
    if (!img) return gc_error(GC_ERR_INVALID_ARGUMENT, "image: NULL image");
    memset(img, 0, sizeof *img);
    if (channels < 1 || channels > 4) return gc_error(GC_ERR_INVALID_ARGUMENT, "image: %d channels (1..4)", channels);
    if (bit_depth != 8 && bit_depth != 16) return gc_error(GC_ERR_INVALID_ARGUMENT, "image: bit depth %d (8 or 16)", bit_depth);
    if (width < 1 || height < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "image: size %d x %d", width, height);
    size_t n;
    if (gc_mul_size((size_t)width, (size_t)height, &n) || gc_mul_size(n, (size_t)(channels * bit_depth / 8), &n))
        return gc_error(GC_ERR_OUT_OF_MEMORY, "image: %d x %d x %d pixels overflow", width, height, channels);
    img->data = gc_calloc(n, 1);
    if (!img->data) return GC_ERR_OUT_OF_MEMORY;
    img->width = width; img->height = height; img->channels = channels; img->bit_depth = bit_depth;
    return GC_OK;
}

/* ---- Dispatcher and files ------------------------------------------------------- */
gc_status gc_image_decode(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!buf || !out) return gc_error(GC_ERR_INVALID_ARGUMENT, "image: NULL argument");
    const uint8_t *p = buf;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return gc_image_decode_png(buf, len, limits, out);
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return gc_image_decode_jpeg(buf, len, limits, out);
    if (len >= 2 && p[0] == 'P' && (p[1] == '2' || p[1] == '3' || p[1] == '5' || p[1] == '6'))
        return gc_image_decode_pnm(buf, len, limits, out);
    return gc_error(GC_ERR_UNSUPPORTED, "image: unrecognised format (not PNG, JPEG or PPM/PGM)");
}

gc_status gc_image_load(const char *path, const gc_image_limits *limits, gc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return gc_error(GC_ERR_INVALID_ARGUMENT, "image: NULL argument");
    char qp[256];
    gc_quote(qp, sizeof qp, path, strlen(path));
    FILE *f = fopen(path, "rb");
    if (!f) return gc_error(GC_ERR_IO, "%s: %s", qp, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) { /* a directory "seeks" to LONG_MAX */
        fclose(f);
        return gc_error(GC_ERR_IO, "%s: not a regular file", qp);
    }
    long sz = -1;
    if (fseek(f, 0, SEEK_END) == 0) sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) {
        int e = errno;
        fclose(f);
        return gc_error(GC_ERR_IO, "%s: cannot determine size: %s", qp, strerror(e));
    }
    if ((int64_t)sz > MAX_FILE_BYTES) { fclose(f); return gc_error(GC_ERR_LIMIT, "%s: file of %ld bytes is too large", qp, sz); }
    uint8_t *buf = gc_alloc((size_t)sz);
    if (!buf) { fclose(f); return GC_ERR_OUT_OF_MEMORY; }
    size_t got = fread(buf, 1, (size_t)sz, f);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (got != (size_t)sz) { gc_free(buf); return gc_error(GC_ERR_IO, "%s: short read: %s", qp, e ? strerror(e) : "file changed"); }
    gc_status st = gc_image_decode(buf, got, limits, out);
    gc_free(buf);
    if (st) gc_error_prefix(st, qp);
    return st;
}

gc_status gc_image_save_encoded(const gc_image *img, const char *path, const char *fmt,
                                gc_status (*encode)(const gc_image *, uint8_t **, size_t *)) {
    if (!path) return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: NULL path", fmt);
    uint8_t *buf;
    size_t n;
    gc_status st = encode(img, &buf, &n);
    if (st) return st;
    char qp[256];
    gc_quote(qp, sizeof qp, path, strlen(path));
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = gc_error(GC_ERR_IO, "%s: %s", qp, strerror(errno));
    } else {
        size_t put = fwrite(buf, 1, n, f);
        int e = errno;
        if (fclose(f) != 0 && put == n) { put = 0; e = errno; }
        if (put != n) st = gc_error(GC_ERR_IO, "%s: write failed: %s", qp, strerror(e));
    }
    gc_free(buf);
    return st;
}

/* ---- Conversions ------------------------------------------------------------------- */
gc_status gc_image_check(const gc_image *im, const char *who) {
    if (!im || !im->data || im->width < 1 || im->height < 1 || im->channels < 1 || im->channels > 4 ||
        (im->bit_depth != 8 && im->bit_depth != 16))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: not a valid image", who);
    return GC_OK;
}

/* Sample i of an image as 8 bits (16-bit rounded). */
static inline uint8_t s8(const gc_image *im, size_t i) {
    if (im->bit_depth == 8) return ((const uint8_t *)im->data)[i];
    return (uint8_t)(((uint32_t)((const uint16_t *)im->data)[i] * 255 + 32767) / 65535);
}

gc_status gc_image_to_rgb8(const gc_image *in, gc_image *out) {
    if (!out || out == in) return gc_error(GC_ERR_INVALID_ARGUMENT, "image_to_rgb8: out is NULL or in");
    if (gc_image_check(in, "image_to_rgb8")) return GC_ERR_INVALID_ARGUMENT;
    gc_status st = gc_image_alloc(out, in->width, in->height, 3, 8);
    if (st) return st;
    size_t n = (size_t)in->width * (size_t)in->height, c = (size_t)in->channels;
    uint8_t *o = out->data; /* (h, w, 3) */
    for (size_t i = 0; i < n; i++) {
        if (c >= 3) { o[3 * i] = s8(in, c * i); o[3 * i + 1] = s8(in, c * i + 1); o[3 * i + 2] = s8(in, c * i + 2); }
        else o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = s8(in, c * i);
    }
    return GC_OK;
}

gc_status gc_image_to_gray8(const gc_image *in, gc_image *out) {
    if (!out || out == in) return gc_error(GC_ERR_INVALID_ARGUMENT, "image_to_gray8: out is NULL or in");
    if (gc_image_check(in, "image_to_gray8")) return GC_ERR_INVALID_ARGUMENT;
    gc_status st = gc_image_alloc(out, in->width, in->height, 1, 8);
    if (st) return st;
    size_t n = (size_t)in->width * (size_t)in->height, c = (size_t)in->channels;
    uint8_t *o = out->data; /* (h, w) */
    for (size_t i = 0; i < n; i++) {
        if (c >= 3) o[i] = (uint8_t)((19595u * s8(in, c * i) + 38470u * s8(in, c * i + 1) + 7471u * s8(in, c * i + 2) + 32768u) >> 16);
        else o[i] = s8(in, c * i);
    }
    return GC_OK;
}
