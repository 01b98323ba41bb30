/* npy.c - NumPy .npy files: float32 (or float64, converted) C-order arrays. */
#include "core.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- header dict parser */

typedef struct hp {
    const char *s; /* (n) header text */
    size_t      n, i;
} hp;

static void skip_ws(hp *h) {
    while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t')) h->i++;
}

static int eat(hp *h, char c) {
    skip_ws(h);
    if (h->i < h->n && h->s[h->i] == c) { h->i++; return 1; }
    return 0;
}

/* A quoted string ('...' or "...") of at most cap-1 bytes, no escapes. */
static int parse_str(hp *h, char *dst, size_t cap) {
    skip_ws(h);
    if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"')) return 0;
    char q = h->s[h->i++];
    size_t k = 0;
    while (h->i < h->n && h->s[h->i] != q) {
        if (h->s[h->i] == '\\' || k + 1 >= cap) return 0;
        dst[k++] = h->s[h->i++];
    }
    if (h->i >= h->n) return 0;
    h->i++;
    dst[k] = 0;
    return 1;
}

static int parse_word(hp *h, const char *w) {
    skip_ws(h);
    size_t k = strlen(w);
    if (h->n - h->i < k || memcmp(h->s + h->i, w, k) != 0) return 0;
    h->i += k;
    return 1;
}

/* "(d0, d1, ...)" with an optional trailing comma; up to 8 entries read. */
static int parse_shape(hp *h, int64_t *d, int *ndim) {
    if (!eat(h, '(')) return 0;
    *ndim = 0;
    for (;;) {
        if (eat(h, ')')) return 1;
        skip_ws(h);
        if (h->i >= h->n || h->s[h->i] < '0' || h->s[h->i] > '9') return 0;
        int64_t v = 0;
        while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
            if (gc_mul_i64(v, 10, &v) || gc_add_i64(v, h->s[h->i] - '0', &v)) return 0;
            h->i++;
        }
        if (h->i < h->n && h->s[h->i] == 'L') h->i++; /* Python 2 long suffix */
        if (*ndim >= 8) return 0;
        d[(*ndim)++] = v;
        if (!eat(h, ',')) return eat(h, ')');
    }
}

/* ---------------------------------------------------------------- load */

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

gc_status gc_npy_load_memory(const void *buf, size_t len, gc_tensor *out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_npy_load_memory: out is NULL");
    memset(out, 0, sizeof *out);
    if (!buf) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_npy_load_memory: buffer is NULL");
    const uint8_t *b = buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) return gc_error(GC_ERR_FORMAT, "npy: bad magic (not a .npy file)");
    size_t hlen, hstart;
    if (b[6] == 1) hlen = (size_t)b[8] | (size_t)b[9] << 8, hstart = 10;
    else if (b[6] == 2 || b[6] == 3) {
        if (len < 12) return gc_error(GC_ERR_FORMAT, "npy: truncated header");
        hlen = le32(b + 8), hstart = 12;
    } else return gc_error(GC_ERR_UNSUPPORTED, "npy: format version %d.%d", b[6], b[7]);
    if (hlen > 65536 || len - hstart < hlen) return gc_error(GC_ERR_FORMAT, "npy: header of %zu bytes does not fit the file", hlen);

    hp h = {(const char *)b + hstart, hlen, 0};
    char descr[16] = "", key[32];
    int fortran = -1, ndim = -1, seen_descr = 0;
    int64_t d[8];
    if (!eat(&h, '{')) return gc_error(GC_ERR_FORMAT, "npy: header is not a dictionary");
    while (!eat(&h, '}')) {
        if (!parse_str(&h, key, sizeof key) || !eat(&h, ':')) return gc_error(GC_ERR_FORMAT, "npy: malformed header");
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            if (!parse_str(&h, descr, sizeof descr)) return gc_error(GC_ERR_FORMAT, "npy: descr is not a simple dtype string");
            seen_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && fortran < 0) {
            if (parse_word(&h, "True")) fortran = 1;
            else if (parse_word(&h, "False")) fortran = 0;
            else return gc_error(GC_ERR_FORMAT, "npy: fortran_order is not True/False");
        } else if (strcmp(key, "shape") == 0 && ndim < 0) {
            if (!parse_shape(&h, d, &ndim)) return gc_error(GC_ERR_FORMAT, "npy: malformed shape");
        } else {
            char q[96];
            return gc_error(GC_ERR_FORMAT, "npy: unexpected or repeated header key '%s'", gc_quote(q, sizeof q, key, strlen(key)));
        }
        if (!eat(&h, ',')) {
            if (!eat(&h, '}')) return gc_error(GC_ERR_FORMAT, "npy: malformed header");
            break;
        }
    }
    skip_ws(&h);
    while (h.i < h.n && (h.s[h.i] == ' ' || h.s[h.i] == '\n')) h.i++;
    if (h.i != h.n) return gc_error(GC_ERR_FORMAT, "npy: trailing bytes after the header dictionary");
    if (!seen_descr || fortran < 0 || ndim < 0) return gc_error(GC_ERR_FORMAT, "npy: header lacks descr, fortran_order or shape");

    size_t esize;
    if (strcmp(descr, "<f4") == 0) esize = 4;
    else if (strcmp(descr, "<f8") == 0) esize = 8;
    else {
        char q[80];
        return gc_error(GC_ERR_UNSUPPORTED, "npy: dtype '%s' is not supported (need '<f4' or '<f8')",
                        gc_quote(q, sizeof q, descr, strlen(descr)));
    }
    if (fortran) return gc_error(GC_ERR_UNSUPPORTED, "npy: Fortran-order arrays are not supported");
    if (ndim < 1 || ndim > GC_MAX_DIMS) return gc_error(GC_ERR_UNSUPPORTED, "npy: %d dimensions (need 1..%d)", ndim, GC_MAX_DIMS);
    size_t count = 1, bytes;
    for (int i = 0; i < ndim; i++) {
        if (d[i] < 1) return gc_error(GC_ERR_FORMAT, "npy: dimension %d is %lld (empty arrays are not supported)", i, (long long)d[i]);
        if ((uint64_t)d[i] > SIZE_MAX || gc_mul_size(count, (size_t)d[i], &count))
            return gc_error(GC_ERR_FORMAT, "npy: shape size overflows");
    }
    size_t avail = len - hstart - hlen;
    if (gc_mul_size(count, esize, &bytes) || bytes != avail)
        return gc_error(GC_ERR_FORMAT, "npy: shape needs %zu elements of %zu bytes, file holds %zu data bytes", count, esize, avail);

    gc_status st = gc_tensor_alloc(out, ndim, d);
    if (st) return st;
    const uint8_t *src = b + hstart + hlen; /* (count * esize) little-endian */
    for (size_t i = 0; i < count; i++) {
        if (esize == 4) {
            uint32_t u = le32(src + 4 * i);
            memcpy(&out->data[i], &u, 4);
        } else {
            uint64_t u = (uint64_t)le32(src + 8 * i) | (uint64_t)le32(src + 8 * i + 4) << 32;
            double x;
            memcpy(&x, &u, 8);
            out->data[i] = (float)x;
        }
    }
    return GC_OK;
}

gc_status gc_npy_load(const char *path, gc_tensor *out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_npy_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_npy_load: path is NULL");
    char qp[256];
    gc_quote(qp, sizeof qp, path, strlen(path));
    FILE *f;
    gc_status ost = gc_open_regular(path, qp, &f, NULL);
    if (ost) return ost;
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = gc_alloc(cap);
    gc_status st = buf ? GC_OK : GC_ERR_OUT_OF_MEMORY;
    while (st == GC_OK) {
        if (len == cap) {
            size_t ncap;
            uint8_t *nb = gc_mul_size(cap, 2, &ncap) ? NULL : gc_alloc(ncap);
            if (!nb) { st = GC_ERR_OUT_OF_MEMORY; break; }
            memcpy(nb, buf, len);
            gc_free(buf);
            buf = nb;
            cap = ncap;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0) {
            if (ferror(f)) st = gc_error(GC_ERR_IO, "%s: read error", qp);
            break;
        }
    }
    fclose(f);
    if (st == GC_OK) st = gc_npy_load_memory(buf, len, out);
    gc_free(buf);
    return st ? gc_error_prefix(st, qp) : GC_OK;
}

/* ---------------------------------------------------------------- save */

gc_status gc_npy_save(const char *path, const gc_tensor *t) {
    if (!path || !t || !t->data || t->ndim < 1 || t->ndim > GC_MAX_DIMS)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_npy_save: NULL path or empty tensor");
    char hdr[256];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < t->ndim; i++)
        k += snprintf(hdr + k, sizeof hdr - (size_t)k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, t->ndim == 1 ? ",), }" : "), }");
    while ((10 + k + 1) % 64) hdr[k++] = ' ';
    hdr[k++] = '\n';
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)k, (uint8_t)(k >> 8)};
    int64_t n = gc_tensor_numel(t);
    char qp[256];
    gc_quote(qp, sizeof qp, path, strlen(path));
    FILE *f = fopen(path, "wb");
    if (!f) return gc_error(GC_ERR_IO, "%s: cannot create: %s", qp, strerror(errno));
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)k, f) == (size_t)k;
    for (int64_t i = 0; ok && i < n; i++) {
        uint32_t u;
        memcpy(&u, &t->data[i], 4);
        uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        ok = fwrite(b, 1, 4, f) == 4;
    }
    if (fclose(f) != 0) ok = 0;
    return ok ? GC_OK : gc_error(GC_ERR_IO, "%s: write failed", qp);
}
