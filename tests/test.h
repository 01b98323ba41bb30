/* test.h - a minimal test harness: CHECK macros and a summary line.
 *
 * Each tests/test_<module>.c defines tests with TEST(name) and lists them in
 * main() with RUN(name); main ends with `return test_summary("module");`,
 * which prints "module: N passed, N failed". tests/run.sh adds them up. */
#ifndef GC_TEST_H
#define GC_TEST_H

#include "gradcam.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* unused in helpers that include this header for test_read_file (tests/common/ref_image.c) */
#define TEST_MAYBE_UNUSED __attribute__((unused))
static int test_passed TEST_MAYBE_UNUSED, test_failed TEST_MAYBE_UNUSED, test_cur_failed TEST_MAYBE_UNUSED;
static const char *test_cur_name TEST_MAYBE_UNUSED = "";

#define TEST(name) static void name(void)
#define RUN(name)                                                                          \
    do {                                                                                   \
        test_cur_name = #name;                                                             \
        test_cur_failed = 0;                                                               \
        name();                                                                            \
        if (test_cur_failed) test_failed++; else test_passed++;                            \
    } while (0)

#define FAILF(...)                                                                         \
    do {                                                                                   \
        fprintf(stderr, "FAIL %s (%s:%d): ", test_cur_name, __FILE__, __LINE__);          \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fprintf(stderr, "\n");                                                             \
        test_cur_failed = 1;                                                               \
    } while (0)

#define CHECK(cond)                                                                        \
    do { if (!(cond)) FAILF("%s", #cond); } while (0)

/* A call expected to succeed; prints the library's message otherwise. */
#define CHECK_OK(call)                                                                     \
    do {                                                                                   \
        gc_status st_ = (call);                                                            \
        if (st_ != GC_OK) FAILF("%s -> %s: %s", #call, gc_status_string(st_), gc_last_error()); \
    } while (0)

/* A call expected to fail with `status` and a non-empty message. */
#define CHECK_FAILS(call, status)                                                          \
    do {                                                                                   \
        gc_clear_error();                                                                  \
        gc_status st_ = (call);                                                            \
        if (st_ != (status))                                                               \
            FAILF("%s -> %s, expected %s", #call, gc_status_string(st_), gc_status_string(status)); \
        else if (!gc_last_error()[0])                                                      \
            FAILF("%s failed without a message", #call);                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
    do {                                                                                   \
        double a_ = (a), b_ = (b);                                                         \
        if (!(fabs(a_ - b_) <= (tol))) FAILF("%s = %g, %s = %g, |diff| %g > %g", #a, a_, #b, b_, fabs(a_ - b_), (double)(tol)); \
    } while (0)

/* Max |a-b| / max(max|b|, floor) over n floats. */
static inline double test_rel_err(const float *a, const float *b, int64_t n, double floor_) {
    double md = 0, mb = floor_;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= md)) md = d; /* NaN propagates as failure */
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return md / mb;
}

/* The whole file in a malloc'd buffer (release with free()) and its size;
 * NULL if it cannot be opened or read completely. */
static inline uint8_t *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *p = NULL;
    long sz = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (sz >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = malloc(sz > 0 ? (size_t)sz : 1)) &&
        fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) *n = (size_t)sz;
    return p;
}

static inline int test_summary(const char *module) {
    printf("%s: %d passed, %d failed\n", module, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
