/* core.h - internal helpers shared by every part of the library:
 * error reporting, checked sizes, aligned allocation, a seeded RNG. */
#ifndef GC_CORE_H
#define GC_CORE_H

#include "gradcam.h"
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GC_ALIGN 64

/* GC_TSAN_LEAF: a loop body that reads and writes only the buffers handed to it, left out of
 * ThreadSanitizer's instrumentation (the Makefile does the same for whole leaf files, LEAF_TSAN):
 * TSan checks every element access of such loops at ~20x their cost, while what it is there for,
 * how the pool hands the ranges out and what threads share, stays instrumented around them. */
#if defined(__GNUC__) && defined(__SANITIZE_THREAD__)
#define GC_TSAN_LEAF __attribute__((no_sanitize("thread")))
#else
#define GC_TSAN_LEAF
#endif

/* Records a printf-style detail message for gc_last_error() and returns
 * status, so failures read: return gc_error(GC_ERR_SHAPE, "...", ...); */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
gc_status gc_error(gc_status status, const char *fmt, ...);

/* Opens path (its quoted form qp, for messages) for reading: *f a regular file, *size (unless
 * NULL) its length. GC_ERR_IO "qp: cannot open: reason" or "qp: not a regular file" otherwise (a folder
 * opens but reads as nothing). */
gc_status gc_open_regular(const char *path, const char *qp, FILE **f, int64_t *size);

/* Prefixes the current detail message with "prefix: " (used to add context
 * such as a layer name while an error propagates up). Returns status. */
gc_status gc_error_prefix(gc_status status, const char *prefix);

/* Checked arithmetic: return 1 on overflow (result unspecified), 0 otherwise. */
static inline int gc_mul_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline int gc_add_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out);
}
static inline int gc_mul_i64(int64_t a, int64_t b, int64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline int gc_add_i64(int64_t a, int64_t b, int64_t *out) {
    return __builtin_add_overflow(a, b, out);
}

/* 64-byte aligned allocation. On failure (including a size that does not fit)
 * these set the error message and return NULL; the caller returns
 * GC_ERR_OUT_OF_MEMORY. gc_alloc leaves memory uninitialised, gc_calloc zeroes
 * it. Zero-size requests return a valid unique pointer. */
void *gc_alloc(size_t bytes);
void *gc_calloc(size_t count, size_t elem_size);
void *gc_alloc_array(size_t count, size_t elem_size);
void  gc_free(void *p);

/* Index of the first NaN or infinity among p[0..n-1], or -1 if all are finite.
 * One pass, vectorisable; used only on inputs, outputs and maps (never on every
 * activation of a forward pass). */
int64_t gc_first_nonfinite(const float *p, int64_t n);
/* "NaN", "inf" or "-inf" (for messages about x). */
const char *gc_nonfinite_name(float x);

/* Copies at most cap-1 bytes and terminates; returns 0 if src did not fit. */
int gc_strlcpy(char *dst, const char *src, size_t cap);

/* Deterministic RNG (splitmix64 seeding, xoshiro256**). Caller-owned state,
 * so no globals. */
typedef struct gc_rng { uint64_t s[4]; } gc_rng;
void     gc_rng_seed(gc_rng *r, uint64_t seed);
uint64_t gc_rng_next(gc_rng *r);
float    gc_rng_uniform(gc_rng *r);               /* [0, 1) */
float    gc_rng_normal(gc_rng *r);                /* N(0, 1) */

/* CPU features, detected once per call (cheap); no cached global. */
typedef struct gc_cpu_features { int avx2, fma, avx512f; } gc_cpu_features;
gc_cpu_features gc_cpu_detect(void);

#endif
