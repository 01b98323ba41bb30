/* status.c - status names and the thread-local detail message. */
#include "core.h"
#include <stdio.h>
#include <string.h>

static const char *const status_names[GC_STATUS_COUNT] = {
    [GC_OK]                   = "GC_OK",
    [GC_ERR_INVALID_ARGUMENT] = "GC_ERR_INVALID_ARGUMENT",
    [GC_ERR_SHAPE]            = "GC_ERR_SHAPE",
    [GC_ERR_NOT_FOUND]        = "GC_ERR_NOT_FOUND",
    [GC_ERR_OUT_OF_MEMORY]    = "GC_ERR_OUT_OF_MEMORY",
    [GC_ERR_IO]               = "GC_ERR_IO",
    [GC_ERR_FORMAT]           = "GC_ERR_FORMAT",
    [GC_ERR_UNSUPPORTED]      = "GC_ERR_UNSUPPORTED",
    [GC_ERR_LIMIT]            = "GC_ERR_LIMIT",
    [GC_ERR_STATE]            = "GC_ERR_STATE",
    [GC_ERR_NUMERIC]          = "GC_ERR_NUMERIC",
};
_Static_assert(GC_STATUS_COUNT == 11, "status_names out of step with gc_status");

/* The only mutable static state in the library, and it is per thread. */
static _Thread_local char last_error[512];

const char *gc_status_string(gc_status status) {
    if ((unsigned)status >= GC_STATUS_COUNT) return "GC_ERR_UNKNOWN";
    return status_names[status];
}

const char *gc_last_error(void) { return last_error; }

void gc_clear_error(void) { last_error[0] = 0; }

gc_status gc_error(gc_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

gc_status gc_error_prefix(gc_status status, const char *prefix) {
    char tmp[sizeof last_error];
    size_t n = strlen(prefix);
    if (n > sizeof tmp / 2) n = sizeof tmp / 2;
    memcpy(tmp, prefix, n);
    memcpy(tmp + n, ": ", 2);
    gc_strlcpy(tmp + n + 2, last_error, sizeof tmp - n - 2);
    memcpy(last_error, tmp, sizeof last_error);
    return status;
}

int gc_strlcpy(char *dst, const char *src, size_t cap) {
    size_t n = strlen(src);
    if (cap == 0) return 0;
    if (n >= cap) {
        memcpy(dst, src, cap - 1);
        dst[cap - 1] = 0;
        return 0;
    }
    memcpy(dst, src, n + 1);
    return 1;
}

/* Bytes one input byte becomes in gc_quote's output, written to e (>= 4 bytes) if not NULL. */
static size_t quote_byte(unsigned char c, char *e) {
    static const char hex[] = "0123456789abcdef";
    char t[4];
    size_t n;
    if (c >= 0x20 && c < 0x7f && c != '\\') t[0] = (char)c, n = 1;
    else if (c == '\\') t[0] = t[1] = '\\', n = 2;
    else t[0] = '\\', t[1] = 'x', t[2] = hex[c >> 4], t[3] = hex[c & 15], n = 4;
    if (e) memcpy(e, t, n);
    return n;
}

const char *gc_quote(char *dst, size_t cap, const void *src, size_t len) {
    if (!dst || cap == 0) return dst;
    const unsigned char *p = src;
    if (!p) len = 0;
    size_t need = 0;
    for (size_t i = 0; i < len && need < cap; i++) need += quote_byte(p[i], NULL);
    const size_t room = need < cap ? cap - 1 : cap >= 4 ? cap - 4 : 0; /* leave space for "..." when cut */
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char e[4];
        size_t n = quote_byte(p[i], e);
        if (k + n > room) break;
        memcpy(dst + k, e, n);
        k += n;
    }
    if (need >= cap && cap >= 4) memcpy(dst + k, "...", 3), k += 3;
    dst[k] = 0;
    return dst;
}
