/* pool.h - vectorisable pooling kernels (internal). */
#ifndef GC_KERNELS_POOL_H
#define GC_KERNELS_POOL_H

#include <stdint.h>

/* Max-pool row kernels: n windows of one output row whose taps all lie inside the plane
 * (width W), window j's top-left tap at r0 + 2j (column stride 2). Each writes the maximum
 * to y[j] and the winning tap u * k + v (row u, column v of the k x k window) to tap[j].
 * The rule is max-pool's: taps in scan order (row by row), a larger value or a NaN takes
 * over (so the first maximum wins, and the last NaN). Every tier gives the same bits.
 *   2x2: rows r0, r0 + W, columns 2j, 2j + 1 (VGG's 2x2/2)
 *   3x3: rows r0 .. r0 + 2W, columns 2j .. 2j + 2 (AlexNet's and ResNet's 3x3/2) */
#define GC_MAXPOOL_ROW_KERNELS(sfx)                                                                  \
    void gc_maxpool2x2s2_row_##sfx(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap); \
    void gc_maxpool3x3s2_row_##sfx(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap);
GC_MAXPOOL_ROW_KERNELS(portable)
GC_MAXPOOL_ROW_KERNELS(avx2)
GC_MAXPOOL_ROW_KERNELS(avx512)
#undef GC_MAXPOOL_ROW_KERNELS

/* Max-pool values only (a session that never runs the layer's backward keeps no taps): the
 * same maxima, the same bits, as the row kernels above and the reference scan. Window j of
 * an output row reads columns c0 + 2j + v (v < kw; kw 2 or 3, c0 -1 or 0: padding at most 1,
 * column stride 2) of each of the nr input rows rows[0..nr) in that order; columns outside
 * [0, W) are padding and count as -inf (as good as skipped: the reference's first tap
 * inside takes over from them). The order of the taps matters only between equal values of
 * other bits (+0 and -0) and between NaNs; where neither is loaded the kernel takes the
 * maxima in any order, elsewhere in scan order. acc 0 writes y[0..n); acc 1 folds the rows
 * into y (the maxima of the window's earlier rows; "a larger value or a NaN takes over"
 * picks one winner by a total order on the taps, so the two parts' winners give it). */
void gc_maxpool_s2_values_avx512(const float *const *rows, int64_t nr, int64_t kw, int64_t W, int64_t c0, int64_t n,
                                 float *y, int acc);
/* The window shapes both values kernels build as their own unrolled code, X(NR, KW, C0) each:
 * ResNet's 3x3/2 pad 1 (3 rows, and 2 at the plane's first and last output rows), AlexNet's
 * 3x3/2 and VGG's 2x2/2; other shapes take the general loop. */
#define GC_MAXPOOL_S2_SHAPES(X) X(3, 3, -1) X(2, 3, -1) X(3, 3, 0) X(2, 2, 0)
void gc_maxpool_s2_values_avx2(const float *const *rows, int64_t nr, int64_t kw, int64_t W, int64_t c0, int64_t n,
                               float *y, int acc);

/* The sum of x[0..n) in double: eight running sums (element i goes to sum i mod 8), added
 * pairwise at the end. One fixed order, so every build gives the same bits; the compiler
 * keeps the eight sums in vector registers. */
double gc_sum_f64(const float *x, int64_t n);
/* gc_sum_f64 of the four rows x, x + ld, x + 2 ld, x + 3 ld into s[0..3], the same bits, their
 * four chains of additions side by side (AVX-512F: one chain alone waits on each addition,
 * ~3 cycles per 8 values). */
void gc_sum4_f64_avx512(const float *x, int64_t ld, int64_t n, double s[4]);
/* The same with two AVX2 vectors of four sums a row (eight chains side by side). */
void gc_sum4_f64_avx2(const float *x, int64_t ld, int64_t n, double s[4]);

#endif
