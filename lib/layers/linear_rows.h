/* linear_rows.h - the AVX-512 forms of linear.c's row-wise batch paths (linear_avx512.c):
 * the same bits as the portable forms (internal). */
#ifndef GC_LINEAR_ROWS_H
#define GC_LINEAR_ROWS_H

#include "core/pool.h"
#include <stddef.h>
#include <stdint.h>

/* y (N, O) = x (N, I) W^T (W: O x I), each row with the batch-1 arithmetic; ws: at least
 * gc_linear_rows_dot_avx512_ws(O) floats (used when N > 1). */
void gc_linear_rows_dot_avx512(gc_pool *pool, const float *x, int64_t N, const float *w, int64_t O, int64_t I, float *y,
                               float *ws);
size_t gc_linear_rows_dot_avx512_ws(int64_t O);
/* dx (N, I) = dy (N, O) W, each element summed over o in order. */
void gc_linear_rows_times_w_avx512(gc_pool *pool, const float *dy, int64_t N, const float *w, int64_t O, int64_t I, float *dx);

/* y (N, O) = x (N, I) W^T + bias (or NULL), each output one double sum of exact products rounded
 * once (the accurate forward; linear_accurate_tx.h), the portable build's bits. */
void gc_linear_accurate_avx512(gc_pool *pool, const float *x, int64_t N, const float *w, const float *bias, int64_t O,
                               int64_t I, float *y);

#endif
