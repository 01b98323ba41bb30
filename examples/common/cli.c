/* cli.c - strict numbers, quoted messages and JSON strings for the example programs. */
#include "cli.h"
#include "gradcam.h"
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_parse_long(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s || !(*s == '-' || (*s >= '0' && *s <= '9'))) return 0; /* no spaces, no '+' */
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_parse_int(const char *s, int lo, int hi, int *out) {
    long long v;
    if (!cli_parse_long(s, lo, hi, &v)) return 0;
    *out = (int)v;
    return 1;
}

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !(*s >= '0' && *s <= '9')) return 0; /* strtoull would take "-1" as 2^64 - 1 */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return 0;
    *out = (uint64_t)v;
    return 1;
}

/* A finite double from all of s (strtod, no leading space); 0 if it is not one. */
static int whole_double(const char *s, const char *stop, double *out) {
    if (!s || s == stop || *s == ' ' || *s == '\t' || *s == '\n') return 0;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end != stop || end == s || errno == ERANGE || !isfinite(d)) return 0;
    *out = d;
    return 1;
}

int cli_parse_float(const char *s, int ratio, double lo, double hi, float *out) {
    if (!s) return 0;
    const char *slash = ratio ? strchr(s, '/') : NULL;
    double a, b = 1;
    if (slash) {
        if (!whole_double(s, slash, &a) || !whole_double(slash + 1, slash + 1 + strlen(slash + 1), &b) || b == 0)
            return 0;
    } else if (!whole_double(s, s + strlen(s), &a)) {
        return 0;
    }
    double v = a / b;
    if (!isfinite(v) || fabs(v) > FLT_MAX || v < lo || v > hi) return 0;
    *out = (float)v;
    return 1;
}

const char *cli_q(char *buf, size_t cap, const char *s) {
    return gc_quote(buf, cap, s ? s : "(null)", s ? strlen(s) : 6);
}

static int progress_showing; /* a progress line is on the terminal (main thread only) */
static _Thread_local char last_message[2048]; /* this thread's last cli_error message, for manifests */
static _Thread_local char *capture;           /* (capture_cap) this thread's messages, or NULL: stderr */
static _Thread_local size_t capture_cap;

const char *cli_last_message(void) { return last_message; }

void cli_error_capture(char *buf, size_t cap) {
    capture = cap ? buf : NULL;
    capture_cap = cap;
    if (capture) capture[0] = 0;
}

void cli_error_print(const char *text) {
    if (!text || !*text) return;
    fprintf(stderr, "%s%s", progress_showing ? "\n" : "", text);
    progress_showing = 0;
}

void cli_error(const char *prog, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_message, msg, sizeof msg);
    if (capture) {
        size_t k = strlen(capture);
        if (k + 1 < capture_cap) snprintf(capture + k, capture_cap - k, "%s: %s\n", prog, msg);
        return;
    }
    fprintf(stderr, "%s%s: %s\n", progress_showing ? "\n" : "", prog, msg);
    progress_showing = 0;
}

void cli_progress(const char *prog, const char *fmt, ...) {
    if (!isatty(2)) return; /* a log file gets no carriage returns and escape codes */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\r%s: %s\033[K", prog, msg);
    progress_showing = 1;
}

void cli_progress_end(void) {
    if (progress_showing) fprintf(stderr, "\r\033[K");
    progress_showing = 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_len(const unsigned char *s) {
    const unsigned c = s[0];
    int n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))) return 0;
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))) return 0;
    return n;
}

void cli_json_string(FILE *f, const char *s) {
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (n > 1) {
            fwrite(p, 1, (size_t)n, f);
            p += n;
        } else {
            if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
            else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
            p++;
        }
    }
    fputc('"', f);
}

int cli_make_outdir(const char *prog, const char *dir) {
    if (!mkdir(dir, 0777) || errno == EEXIST) return 1;
    char q[512];
    cli_error(prog, "cannot create %s: %s", cli_q(q, sizeof q, dir), strerror(errno));
    return 0;
}
