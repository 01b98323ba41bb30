/* idx.c - IDX arrays (the MNIST / Fashion-MNIST file format), plain or gzip:
 * magic 0 0 type ndim, ndim big-endian uint32 dimensions, the values. */
#include "core/core.h"
#include "deflate.h"
#include <stdio.h>
#include <string.h>

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *type_name(int t) {
    switch (t) {
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default:   return NULL;
    }
}

void gc_idx_release(gc_idx *a) {
    if (!a) return;
    gc_free(a->data);
    memset(a, 0, sizeof *a);
}

/* Parses a plain IDX buffer into *out (data copied). */
static gc_status parse(const uint8_t *b, size_t len, int64_t max_bytes, gc_idx *out) {
    if (len < 4) return gc_error(GC_ERR_FORMAT, "idx: truncated header (%zu bytes)", len);
    if (b[0] != 0 || b[1] != 0)
        return gc_error(GC_ERR_FORMAT, "idx: bad magic %02x %02x (an IDX file starts with two zero bytes)", b[0], b[1]);
    int type = b[2], ndim = b[3];
    if (type != 0x08) {
        const char *n = type_name(type);
        if (n) return gc_error(GC_ERR_UNSUPPORTED, "idx: value type 0x%02x (%s); only 0x08 (uint8) is read", type, n);
        return gc_error(GC_ERR_FORMAT, "idx: unknown value type 0x%02x", type);
    }
    if (ndim < 1) return gc_error(GC_ERR_FORMAT, "idx: 0 dimensions");
    if (ndim > GC_MAX_DIMS) return gc_error(GC_ERR_UNSUPPORTED, "idx: %d dimensions (at most %d)", ndim, GC_MAX_DIMS);
    size_t head = 4 + 4 * (size_t)ndim;
    if (len < head) return gc_error(GC_ERR_FORMAT, "idx: truncated header (%zu bytes, %zu needed for %d dimensions)",
                                    len, head, ndim);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        uint32_t v = be32(b + 4 + 4 * d);
        if (v == 0) return gc_error(GC_ERR_FORMAT, "idx: dimension %d is 0", d);
        out->dims[d] = v;
        if (gc_mul_i64(n, (int64_t)v, &n) || n > max_bytes)
            return gc_error(GC_ERR_LIMIT, "idx: %d-dimensional array larger than the limit of %lld bytes", ndim,
                            (long long)max_bytes);
    }
    if ((uint64_t)(len - head) != (uint64_t)n)
        return gc_error(GC_ERR_FORMAT, "idx: the dimensions give %lld values, the file has %zu bytes of data%s",
                        (long long)n, len - head, (uint64_t)(len - head) < (uint64_t)n ? " (truncated)" : "");
    if (!(out->data = gc_alloc((size_t)n))) return GC_ERR_OUT_OF_MEMORY;
    memcpy(out->data, b + head, (size_t)n);
    out->ndim = ndim;
    out->count = n;
    return GC_OK;
}

gc_status gc_idx_decode(const void *buf, size_t len, int64_t max_bytes, gc_idx *out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_idx_decode: out is NULL");
    memset(out, 0, sizeof *out);
    if (!buf) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_idx_decode: buffer is NULL");
    if (max_bytes < 0 || max_bytes > GC_IDX_MAX_BYTES_CAP)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_idx_decode: max_bytes %lld is outside 0..2^40", (long long)max_bytes);
    if (max_bytes == 0) max_bytes = GC_IDX_DEFAULT_MAX_BYTES;
    const uint8_t *b = buf;
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        /* header (at most 4 + 4 * 255 bytes) plus the values */
        size_t max_out = (size_t)max_bytes + 4 + 4 * 255;
        uint8_t *raw;
        size_t n;
        gc_status st = gc_inflate_gzip(b, len, max_out, &raw, &n);
        if (st == GC_ERR_LIMIT)
            return gc_error(GC_ERR_LIMIT, "idx: gzip data inflates past the limit of %lld bytes", (long long)max_bytes);
        if (st) return st;
        st = parse(raw, n, max_bytes, out);
        gc_free(raw);
        if (st) memset(out, 0, sizeof *out);
        return st;
    }
    gc_status st = parse(b, len, max_bytes, out);
    if (st) memset(out, 0, sizeof *out);
    return st;
}

gc_status gc_idx_load(const char *path, int64_t max_bytes, gc_idx *out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_idx_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_idx_load: path is NULL");
    if (max_bytes < 0 || max_bytes > GC_IDX_MAX_BYTES_CAP)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_idx_load: max_bytes %lld is outside 0..2^40", (long long)max_bytes);
    if (max_bytes == 0) max_bytes = GC_IDX_DEFAULT_MAX_BYTES;
    char qp[256];
    gc_quote(qp, sizeof qp, path, strlen(path));
    FILE *f;
    int64_t fsize;
    gc_status ost = gc_open_regular(path, qp, &f, &fsize);
    if (ost) return ost;
    /* a plain file is at most header + max_bytes; a gzip file is smaller than what it inflates to
     * except for tiny or stored data (deflate adds at most 5 bytes per 65535) */
    int64_t cap_file = max_bytes + 4 + 4 * 255 + max_bytes / 8192 + 1024;
    if (fsize > cap_file) {
        fclose(f);
        return gc_error(GC_ERR_LIMIT, "%s: %lld bytes, larger than an IDX file within the limit of %lld bytes", qp,
                        (long long)fsize, (long long)max_bytes);
    }
    size_t size = (size_t)fsize;
    uint8_t *buf = gc_alloc(size ? size : 1);
    if (!buf) { fclose(f); return GC_ERR_OUT_OF_MEMORY; }
    size_t got = size ? fread(buf, 1, size, f) : 0;
    int err = ferror(f);
    fclose(f);
    gc_status st = GC_OK;
    if (err || got != size) st = gc_error(GC_ERR_IO, "read error");
    else st = gc_idx_decode(buf, size, max_bytes, out);
    gc_free(buf);
    return st ? gc_error_prefix(st, qp) : GC_OK;
}
