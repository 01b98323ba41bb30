/* pool.h - vectorisable pooling kernels (internal). */
#ifndef GC_KERNELS_POOL_H
#define GC_KERNELS_POOL_H

#include <stdint.h>

/* Max over n 2x2 windows of rows r0 and r0 + W (plane width W), windows at
 * columns 2j, 2j + 1 for j < n, written to y[j], and the winner's index in
 * the plane, base + its offset, to arg[j]. The rule is max-pool's: scan order
 * (0,0) (0,1) (1,0) (1,1), a larger value or a NaN takes over. Branch-free,
 * so the compiler vectorises it. */
void gc_maxpool2x2_row(const float *r0, int64_t W, int64_t base, int64_t n, float *y, int64_t *arg);

/* The same for n 3x3 windows with column stride 2 (ResNet's stem: kernel 3, stride 2):
 * window j covers rows r0, r0 + W, r0 + 2W and columns 2j .. 2j + 2; scan order row by
 * row, a larger value or a NaN takes over. */
void gc_maxpool3x3s2_row(const float *r0, int64_t W, int64_t base, int64_t n, float *y, int64_t *arg);

/* The sum of x[0..n) in double: eight running sums (element i goes to sum i mod 8), added
 * pairwise at the end. One fixed order, so every build gives the same bits; the compiler
 * keeps the eight sums in vector registers. */
double gc_sum_f64(const float *x, int64_t n);

#endif
