/* pool_avx2.c - max-pool kernels, 8 windows a vector (AVX2).
 *
 * Row kernels (with taps): the stride-2 columns of two loaded vectors by a shuffle and a lane
 * permute, take = (x > best) | (x unordered), the winner by blends. In the last block of a
 * row, loads past the needed columns are masked off (maskload), so nothing outside the rows
 * is read.
 *
 * Values only (gc_maxpool_s2_values_avx2): plain loads; the ragged ends of a row go through a
 * small buffer instead of masked moves (vmaskmovps is slow on AMD: Zen 3 runs a masked load
 * as several micro-ops). */
#include "kernels/pool.h"
#include <immintrin.h>
#include <string.h>

static inline __m256i first(int64_t k) { /* lanes [0, k) all ones */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t kk = k >= 8 ? 8 : k <= 0 ? 0 : (int32_t)k;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(kk), lane);
}

static inline __m256 evens(__m256 a, __m256 b) { /* a0 a2 a4 a6 b0 b2 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
}
static inline __m256 odds(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

#define STEP(x, k)                                                                                     \
    do {                                                                                               \
        const __m256 x_ = (x);                                                                         \
        const __m256 m_ = _mm256_or_ps(_mm256_cmp_ps(x_, best, _CMP_GT_OQ), _mm256_cmp_ps(x_, x_, _CMP_UNORD_Q)); \
        best = _mm256_blendv_ps(best, x_, m_);                                                         \
        t = _mm256_blendv_ps(t, _mm256_castsi256_ps(_mm256_set1_epi32(k)), m_);                        \
    } while (0)

static inline void put(float *y, uint8_t *tap, int64_t nb, __m256 best, __m256 t) {
    int32_t tv[8];
    if (nb >= 8) _mm256_storeu_ps(y, best);
    else _mm256_maskstore_ps(y, first(nb), best);
    _mm256_storeu_si256((__m256i *)tv, _mm256_castps_si256(t));
    for (int64_t j = 0; j < nb && j < 8; j++) tap[j] = (uint8_t)tv[j];
}

/* Blocks of 8 windows with a block after them read only columns the next windows read too:
 * plain loads; the last block masked loads (vmaskmovps, slow on AMD, at the row's end only). */
static inline __m256 load(const float *p, __m256i m, int full) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

void gc_maxpool2x2s2_row_avx2(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    for (int64_t j0 = 0; j0 < n; j0 += 8) {
        const int64_t c = 2 * (n - j0); /* columns from 2 j0 that the windows read */
        const int full = c >= 16;
        const __m256i ma = first(c), mb = first(c - 8);
        const float *p = r0 + 2 * j0;
        const __m256 a0 = load(p, ma, full), b0 = load(p + 8, mb, full);
        const __m256 a1 = load(p + W, ma, full), b1 = load(p + W + 8, mb, full);
        __m256 best = evens(a0, b0), t = _mm256_setzero_ps();
        STEP(odds(a0, b0), 1);
        STEP(evens(a1, b1), 2);
        STEP(odds(a1, b1), 3);
        put(y + j0, tap + j0, n - j0, best, t);
    }
}

void gc_maxpool3x3s2_row_avx2(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    for (int64_t j0 = 0; j0 < n; j0 += 8) {
        const int64_t c = 2 * (n - j0) + 1; /* columns from 2 j0 that the windows read */
        const int full = c >= 18;           /* b2's last lane, column 2 j0 + 17, too */
        const __m256i ma = first(c), mb = first(c - 8), mc = first(c - 2), md = first(c - 10);
        __m256 best = _mm256_setzero_ps(), t = _mm256_setzero_ps();
        for (int u = 0; u < 3; u++) {
            const float *p = r0 + u * W + 2 * j0;
            const __m256 a = load(p, ma, full), b = load(p + 8, mb, full);
            const __m256 a2 = load(p + 2, mc, full), b2 = load(p + 10, md, full);
            const __m256 x0 = evens(a, b);
            if (u == 0) best = x0;
            else STEP(x0, 3 * u);
            STEP(odds(a, b), 3 * u + 1);
            STEP(evens(a2, b2), 3 * u + 2);
        }
        put(y + j0, tap + j0, n - j0, best, t);
    }
}

/* ------------------------------------------------------------ values only */

/* The maximum over the nr rows of columns [c, c + 8), inside the row (0 <= c, c + 8 <= W);
 * *nan gets lanes set where a loaded value is a NaN (one unordered comparison for two rows). */
static inline __m256 rows_max(const float *const *rows, int64_t nr, int64_t c, __m256 *nan) {
    __m256 acc = _mm256_loadu_ps(rows[0] + c), z;
    int64_t u = 1;
    if (nr % 2 == 0) {
        const __m256 a = _mm256_loadu_ps(rows[1] + c);
        z = _mm256_cmp_ps(acc, a, _CMP_UNORD_Q);
        acc = _mm256_max_ps(acc, a);
        u = 2;
    } else
        z = _mm256_cmp_ps(acc, acc, _CMP_UNORD_Q);
    for (; u + 1 < nr; u += 2) {
        const __m256 a = _mm256_loadu_ps(rows[u] + c), b = _mm256_loadu_ps(rows[u + 1] + c);
        z = _mm256_or_ps(z, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
        acc = _mm256_max_ps(_mm256_max_ps(acc, a), b);
    }
    *nan = _mm256_or_ps(*nan, z);
    return acc;
}

/* rows_max of columns [c, c + 8) for any c (W >= 8), the columns outside [0, W) -inf: inside,
 * straight from the rows; across an end (or past it), from the 8 columns at the end moved
 * into place by a lane permute, so no load leaves the row and none is masked. */
static inline __m256 column_max(const float *const *rows, int64_t nr, int64_t W, int64_t c, __m256 *nan) {
    if (c >= 0 && c + 8 <= W) return rows_max(rows, nr, c, nan);
    const int64_t cl = c < 0 ? 0 : W - 8;
    const int64_t d = c - cl < -8 ? -8 : c - cl > 8 ? 8 : c - cl; /* lane l takes lane l + d */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i col = _mm256_add_epi32(lane, _mm256_set1_epi32((int32_t)d)); /* from cl */
    const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), col),
                                           _mm256_cmpgt_epi32(_mm256_set1_epi32(8), col));
    const __m256 v = _mm256_permutevar8x32_ps(rows_max(rows, nr, cl, nan), col);
    return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), v, _mm256_castsi256_ps(in));
}

/* Whether one of the nr rows (W >= 8) holds a -0 (bits 0x80000000). Out of line: asked only
 * when a window's maximum is a zero (after a ReLU, which gives +0, often), once a call. */
static __attribute__((noinline)) int any_negzero(const float *const *rows, int64_t nr, int64_t W) {
    const __m256i mz = _mm256_set1_epi32((int)0x80000000u);
    __m256i hit = _mm256_setzero_si256();
    for (int64_t u = 0; u < nr; u++)
        for (int64_t c = 0;; c += 8) {
            if (c + 8 > W) c = W - 8;
            hit = _mm256_or_si256(hit, _mm256_cmpeq_epi32(_mm256_loadu_si256((const __m256i *)(rows[u] + c)), mz));
            if (c + 8 == W) break;
        }
    return !_mm256_testz_si256(hit, hit);
}

/* The scan's rule for windows [j0, j1): taps row by row, column by column, a larger value or
 * a NaN takes over, starting from -inf (acc: from y, the maxima of the earlier rows). The
 * reference takes its first tap inside whatever it is; from -inf a tap that is not taken is
 * -inf itself, so the bits agree. */
static __attribute__((noinline)) void scan_windows(const float *const *rows, int64_t nr, int64_t kw, int64_t W,
                                                   int64_t c0, int64_t j0, int64_t j1, float *y, int acc) {
    for (int64_t j = j0; j < j1; j++) {
        float best = acc ? y[j] : -__builtin_inff();
        for (int64_t u = 0; u < nr; u++)
            for (int64_t k = 0; k < kw; k++) {
                const int64_t c = c0 + 2 * j + k;
                if (c < 0 || c >= W) continue;
                const float x = rows[u][c];
                if (x > best || x != x) best = x;
            }
        y[j] = best;
    }
}

/* The kernel with nr, kw and c0 constants where inlined. Windows 8 at a time, j = 8 i + l
 * reading columns c + 2 l + v from c = c0 + 16 i: the column maxima over the rows of [c, c + 16)
 * first (one max per row and vector), kept in registers; then v = 0 and 1 are their even and
 * odd lanes, v = 2 the even ones a lane on, the last from column c + 16 (the next group's
 * first vector, computed here and carried over). Where no tap is a NaN, equal values have
 * equal bits except +0 and -0, so a window's maximum does not depend on the order of its taps
 * unless it is a zero and a tap is a -0: those windows (a comparison with 0 on the result,
 * then any_negzero) go through the scan, and a row with a NaN does. Rows under 8 columns: the
 * scan. */
static inline __attribute__((always_inline)) void values_rows(const float *const *rows, int64_t nr, int64_t kw,
                                                              int64_t c0, int64_t W, int64_t n, float *y) {
    if (W < 8) {
        scan_windows(rows, nr, kw, W, c0, 0, n, y, 0);
        return;
    }
    const __m256i down = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7);
    __m256 nan = _mm256_setzero_ps();
    __m256 zero = _mm256_setzero_ps(); /* lanes where a maximum is a zero */
    __m256 a = column_max(rows, nr, W, c0, &nan);
    for (int64_t j = 0; j < n; j += 8) {
        const int64_t c = c0 + 2 * j, k = n - j < 8 ? n - j : 8;
        const __m256 b = column_max(rows, nr, W, c + 8, &nan);
        const __m256 e = evens(a, b);
        __m256 r = _mm256_max_ps(e, odds(a, b));
        if (kw == 3 || k == 8) a = column_max(rows, nr, W, c + 16, &nan);
        if (kw == 3) { /* columns c + 2 l + 2: e a lane on, column c + 16 last */
            const __m256 next = _mm256_broadcastss_ps(_mm256_castps256_ps128(a));
            r = _mm256_max_ps(r, _mm256_blend_ps(_mm256_permutevar8x32_ps(e, down), next, 0x80));
        }
        if (k == 8) _mm256_storeu_ps(y + j, r);
        else {
            float r8[8];
            _mm256_storeu_ps(r8, r);
            memcpy(y + j, r8, (size_t)k * sizeof(float));
        }
        zero = _mm256_or_ps(zero, _mm256_cmp_ps(r, _mm256_setzero_ps(), _CMP_EQ_OQ)); /* extra lanes too */
    }
    if (!_mm256_testz_ps(nan, nan)) scan_windows(rows, nr, kw, W, c0, 0, n, y, 0);
    else if (!_mm256_testz_ps(zero, zero) && any_negzero(rows, nr, W))
        for (int64_t j = 0; j < n; j++) /* a maximum +0 or -0: the scan's */
            if (y[j] == 0.0f) scan_windows(rows, nr, kw, W, c0, j, j + 1, y, 0);
}

void gc_maxpool_s2_values_avx2(const float *const *rows, int64_t nr, int64_t kw, int64_t W, int64_t c0, int64_t n,
                               float *y, int acc) {
    if (acc) { /* more than 16 window rows (no model we know): the scan from y */
        scan_windows(rows, nr, kw, W, c0, 0, n, y, 1);
        return;
    }
#define VALUES_ROWS(NR, KW, C0)                   \
    if (nr == (NR) && kw == (KW) && c0 == (C0)) { \
        values_rows(rows, NR, KW, C0, W, n, y);   \
        return;                                   \
    }
    GC_MAXPOOL_S2_SHAPES(VALUES_ROWS)
#undef VALUES_ROWS
    values_rows(rows, nr, kw, c0, W, n, y);
}

/* ---------------------------------------------------------- global pooling */

void gc_sum4_f64_avx2(const float *x, int64_t ld, int64_t n, double s[4]) {
    __m256d lo[4], hi[4]; /* row r: gc_sum_f64's sums 0..3 and 4..7 */
    for (int r = 0; r < 4; r++) lo[r] = hi[r] = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int r = 0; r < 4; r++) {
            lo[r] = _mm256_add_pd(lo[r], _mm256_cvtps_pd(_mm_loadu_ps(x + r * ld + i)));
            hi[r] = _mm256_add_pd(hi[r], _mm256_cvtps_pd(_mm_loadu_ps(x + r * ld + i + 4)));
        }
    for (int r = 0; r < 4; r++) {
        double t[8];
        _mm256_storeu_pd(t, lo[r]);
        _mm256_storeu_pd(t + 4, hi[r]);
        for (int64_t j = i, k = 0; j < n; j++, k++) t[k] += x[r * ld + j];
        s[r] = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    }
}
