/* pool_avx512.c - max-pool row kernels, 16 windows a vector (AVX-512F): the stride-2 columns
 * of two loaded vectors by one two-source permute, take = (x > best) | (x unordered), the
 * winner by masked moves, the taps stored as bytes. Loads past the needed columns are
 * masked off, so nothing outside the rows is read. */
#include "kernels/pool.h"
#include <immintrin.h>

static inline __mmask16 first(int64_t k) { /* lanes [0, k) */
    return k >= 16 ? (__mmask16)0xffff : k <= 0 ? (__mmask16)0 : (__mmask16)((1u << k) - 1);
}

/* Taps x at number k: the windows where x takes over get x and k. */
#define STEP(x, k)                                                                                     \
    do {                                                                                               \
        const __m512 x_ = (x);                                                                         \
        const __mmask16 m_ = _mm512_cmp_ps_mask(x_, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(x_, x_, _CMP_UNORD_Q); \
        best = _mm512_mask_mov_ps(best, m_, x_);                                                       \
        t = _mm512_mask_mov_epi32(t, m_, _mm512_set1_epi32(k));                                        \
    } while (0)

void gc_maxpool2x2s2_row_avx512(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        const int64_t c = 2 * (n - j0); /* columns from 2 j0 that the windows read */
        const __mmask16 ma = first(c), mb = first(c - 16);
        const float *p = r0 + 2 * j0;
        const __m512 a0 = _mm512_maskz_loadu_ps(ma, p), b0 = _mm512_maskz_loadu_ps(mb, p + 16);
        const __m512 a1 = _mm512_maskz_loadu_ps(ma, p + W), b1 = _mm512_maskz_loadu_ps(mb, p + W + 16);
        __m512 best = _mm512_permutex2var_ps(a0, ev, b0);
        __m512i t = _mm512_setzero_si512();
        STEP(_mm512_permutex2var_ps(a0, od, b0), 1);
        STEP(_mm512_permutex2var_ps(a1, ev, b1), 2);
        STEP(_mm512_permutex2var_ps(a1, od, b1), 3);
        const __mmask16 mo = first(n - j0);
        _mm512_mask_storeu_ps(y + j0, mo, best);
        _mm512_mask_cvtepi32_storeu_epi8(tap + j0, mo, t);
    }
}

void gc_maxpool3x3s2_row_avx512(const float *r0, int64_t W, int64_t n, float *y, uint8_t *tap) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        const int64_t c = 2 * (n - j0) + 1; /* columns from 2 j0 that the windows read */
        const __mmask16 ma = first(c), mb = first(c - 16), mc = first(c - 2), md = first(c - 18);
        __m512 best = _mm512_setzero_ps();
        __m512i t = _mm512_setzero_si512();
        for (int u = 0; u < 3; u++) {
            const float *p = r0 + u * W + 2 * j0;
            const __m512 a = _mm512_maskz_loadu_ps(ma, p), b = _mm512_maskz_loadu_ps(mb, p + 16);
            const __m512 a2 = _mm512_maskz_loadu_ps(mc, p + 2), b2 = _mm512_maskz_loadu_ps(md, p + 18);
            const __m512 x0 = _mm512_permutex2var_ps(a, ev, b);
            if (u == 0) best = x0;
            else STEP(x0, 3 * u);
            STEP(_mm512_permutex2var_ps(a, od, b), 3 * u + 1);
            STEP(_mm512_permutex2var_ps(a2, ev, b2), 3 * u + 2);
        }
        const __mmask16 mo = first(n - j0);
        _mm512_mask_storeu_ps(y + j0, mo, best);
        _mm512_mask_cvtepi32_storeu_epi8(tap + j0, mo, t);
    }
}

/* lanes l with lo <= l < hi, of [0, 16) */
static inline __mmask16 span(int64_t lo, int64_t hi) {
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return hi <= lo ? (__mmask16)0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* best after tap x: x where x is a NaN, else x > best ? x : best (VMAXPS returns its second
 * operand on a tie, so equal zeros keep best, and on a NaN best, so a NaN best stays). The
 * comparison does not wait on best: one max per tap on the chain. */
static inline __m512 fold(__m512 best, __m512 x) {
    return _mm512_mask_max_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), x, best);
}

/* Whether x holds a NaN or -0 (the values whose ties the order of the taps decides), kept
 * in two vectors without masks: the largest |x| bits (a NaN: above +inf's) and the smallest
 * x bits with the sign flipped (-0: zero). */
typedef struct odd_values {
    __m512i abs_max, flip_min;
} odd_values;
static inline void note_odd(odd_values *v, __m512 x) {
    const __m512i u = _mm512_castps_si512(x), sign = _mm512_set1_epi32((int)0x80000000u);
    v->abs_max = _mm512_max_epu32(v->abs_max, _mm512_andnot_si512(sign, u));
    v->flip_min = _mm512_min_epu32(v->flip_min, _mm512_xor_si512(sign, u));
}
static inline int any_odd(const odd_values *v) {
    return _mm512_cmpgt_epu32_mask(v->abs_max, _mm512_set1_epi32(0x7f800000)) ||
           _mm512_cmpeq_epi32_mask(v->flip_min, _mm512_setzero_si512());
}

static inline __m512 lane_up(__m512 v, __m512 below) { /* (below[15], v[0], .., v[14]) */
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v), _mm512_castps_si512(below), 15));
}
static inline __m512 lane_down(__m512 v, __m512 above) { /* (v[1], .., v[15], above[0]) */
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(above), _mm512_castps_si512(v), 1));
}

/* Columns 2 j0 + [0, 32) of the nr rows, the columns outside [0, W) -inf: their maxima over
 * the rows split into even (e[k]: column 2 j0 + 2k) and odd columns; the values loaded noted
 * in *v (the maxima are the scan's only where none is a NaN or -0). */
static inline void column_max(const float *const *rows, int64_t nr, int64_t W, int64_t j0, __m512 *e, __m512 *o,
                              odd_values *v) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    const int64_t c = 2 * j0;
    __m512 va = ninf, vb = ninf;
    if (c + 32 <= W)
        for (int64_t u = 0; u < nr; u++) {
            const __m512 a = _mm512_loadu_ps(rows[u] + c), b = _mm512_loadu_ps(rows[u] + c + 16);
            note_odd(v, a), note_odd(v, b);
            va = u ? _mm512_max_ps(va, a) : a;
            vb = u ? _mm512_max_ps(vb, b) : b;
        }
    else {
        const __mmask16 ma = span(0, W - c), mb = span(0, W - c - 16);
        for (int64_t u = 0; u < nr; u++) {
            const __m512 a = _mm512_mask_loadu_ps(ninf, ma, rows[u] + c);
            const __m512 b = _mm512_mask_loadu_ps(ninf, mb, rows[u] + c + 16);
            note_odd(v, a), note_odd(v, b);
            va = u ? _mm512_max_ps(va, a) : a;
            vb = u ? _mm512_max_ps(vb, b) : b;
        }
    }
    *e = _mm512_permutex2var_ps(va, ev, vb);
    *o = _mm512_permutex2var_ps(va, od, vb);
}

/* The 16 windows from output j0 by the scan's rule, row by row: each row's taps folded in
 * order (the stride-2 columns c, c + 1 (, c + 2) of two loads each), the rows folded in
 * order. Out of line: the rows with a NaN or -0 only. */
static __attribute__((noinline)) __m512 scan_block(const float *const *rows, int64_t nr, int64_t kw, int64_t W,
                                                   int64_t c0, int64_t j0) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    const int64_t c = c0 + 2 * j0;
    const __mmask16 ma = span(-c, W - c), mb = span(-c - 16, W - c - 16);
    const __mmask16 mc = span(-c - 2, W - c - 2), md = span(-c - 18, W - c - 18);
    __m512 best = ninf;
    for (int64_t u = 0; u < nr; u++) {
        const float *p = rows[u];
        const __m512 a = _mm512_mask_loadu_ps(ninf, ma, p + c), b = _mm512_mask_loadu_ps(ninf, mb, p + c + 16);
        __m512 h = fold(_mm512_permutex2var_ps(a, ev, b), _mm512_permutex2var_ps(a, od, b));
        if (kw == 3) {
            const __m512 a2 = _mm512_mask_loadu_ps(ninf, mc, p + c + 2), b2 = _mm512_mask_loadu_ps(ninf, md, p + c + 18);
            h = fold(h, _mm512_permutex2var_ps(a2, ev, b2));
        }
        best = u ? fold(best, h) : h;
    }
    return best;
}

/* The kernel below with nr, kw and c0 constants where inlined. Where no value the rows load
 * is a NaN or -0, equal values have equal bits, so the maxima do not depend on the order of
 * the taps: the row takes the column maxima over the rows first (one max per row and
 * vector) and then the windows' taps from them (c0 -1, kw 3: O[j-1], E[j], O[j]; c0 0, kw 3:
 * E[j], O[j], E[j+1]; kw 2: the first two), the neighbour from the block before (c0 -1: its
 * O; left to right) or after (c0 0: its E; right to left). Else (and for acc) it starts over
 * with scan_block. */
static inline __attribute__((always_inline)) void values_rows(const float *const *rows, int64_t nr, int64_t kw,
                                                              int64_t c0, int64_t W, int64_t n, float *y, int acc) {
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    const int64_t nblk = (n + 15) / 16;
    if (!acc) {
        odd_values v = {_mm512_setzero_si512(), _mm512_set1_epi32(-1)};
        __m512 ne = ninf, no = ninf; /* the neighbour block's column maxima: column -1 is padding */
        if (c0 >= 0 && kw == 3) column_max(rows, nr, W, 16 * nblk, &ne, &no, &v); /* the last window's column 2n may lie inside */
        for (int64_t q = 0; q < nblk; q++) {
            const int64_t j0 = 16 * (c0 < 0 ? q : nblk - 1 - q);
            __m512 e, o, r;
            column_max(rows, nr, W, j0, &e, &o, &v);
            if (c0 < 0) r = kw == 3 ? _mm512_max_ps(_mm512_max_ps(lane_up(o, no), e), o) : _mm512_max_ps(lane_up(o, no), e);
            else r = kw == 3 ? _mm512_max_ps(_mm512_max_ps(e, o), lane_down(e, ne)) : _mm512_max_ps(e, o);
            ne = e, no = o;
            if (j0 + 16 <= n) _mm512_storeu_ps(y + j0, r);
            else _mm512_mask_storeu_ps(y + j0, span(0, n - j0), r);
        }
        if (!any_odd(&v)) return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        const __mmask16 mo = span(0, n - j0);
        __m512 r = scan_block(rows, nr, kw, W, c0, j0);
        if (acc) r = fold(_mm512_maskz_loadu_ps(mo, y + j0), r);
        _mm512_mask_storeu_ps(y + j0, mo, r);
    }
}

void gc_maxpool_s2_values_avx512(const float *const *rows, int64_t nr, int64_t kw, int64_t W, int64_t c0, int64_t n,
                                 float *y, int acc) {
#define VALUES_ROWS(NR, KW, C0)                      \
    if (nr == (NR) && kw == (KW) && c0 == (C0)) {    \
        values_rows(rows, NR, KW, C0, W, n, y, acc); \
        return;                                      \
    }
    GC_MAXPOOL_S2_SHAPES(VALUES_ROWS)
#undef VALUES_ROWS
    values_rows(rows, nr, kw, c0, W, n, y, acc);
}

void gc_sum4_f64_avx512(const float *x, int64_t ld, int64_t n, double s[4]) {
    __m512d a[4]; /* lane k of row r: gc_sum_f64's sum k */
    for (int r = 0; r < 4; r++) a[r] = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int r = 0; r < 4; r++) a[r] = _mm512_add_pd(a[r], _mm512_cvtps_pd(_mm256_loadu_ps(x + r * ld + i)));
    for (int r = 0; r < 4; r++) {
        double t[8];
        _mm512_storeu_pd(t, a[r]);
        for (int64_t j = i, k = 0; j < n; j++, k++) t[k] += x[r * ld + j];
        s[r] = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    }
}
