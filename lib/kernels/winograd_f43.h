/* winograd_f43.h - Winograd F(4x4, 3x3)'s matrices (points 0, 1, -1, 2, -2 and infinity; Lavin
 * & Gray 2016) applied to columns of GNU vectors, for the float transforms (winograd_tx.h) and
 * the double ones of the accurate convolution (conv_accurate_wino_tx.h): WG_F43(V, S, prefix)
 * defines prefix_bt6 (B^T, 6 vectors -> 6), prefix_g6 (G, 3 -> 6) and prefix_at4 (A^T, 6 -> 4)
 * on vectors of type V with constants of scalar type S. o may alias nothing. */
#ifndef GC_KERNELS_WINOGRAD_F43_H
#define GC_KERNELS_WINOGRAD_F43_H

#define WG_F43(V, S, prefix)                                                                                \
    static inline void prefix##_bt6(const V d[6], V o[6]) {                                                 \
        o[0] = (S)4 * d[0] - (S)5 * d[2] + d[4];                                                            \
        o[1] = (d[3] + d[4]) - (S)4 * (d[1] + d[2]);                                                        \
        o[2] = (d[4] - d[3]) + (S)4 * (d[1] - d[2]);                                                        \
        o[3] = (d[4] - d[2]) + (S)2 * (d[3] - d[1]);                                                        \
        o[4] = (d[4] - d[2]) - (S)2 * (d[3] - d[1]);                                                        \
        o[5] = (S)4 * d[1] - (S)5 * d[3] + d[5];                                                            \
    }                                                                                                       \
    static inline void prefix##_g6(const V g[3], V o[6]) {                                                  \
        const V s = g[0] + g[2];                                                                            \
        o[0] = g[0] * ((S)1 / 4);                                                                           \
        o[1] = (s + g[1]) * ((S)-1 / 6);                                                                    \
        o[2] = (s - g[1]) * ((S)-1 / 6);                                                                    \
        o[3] = g[0] * ((S)1 / 24) + g[1] * ((S)1 / 12) + g[2] * ((S)1 / 6);                                 \
        o[4] = g[0] * ((S)1 / 24) - g[1] * ((S)1 / 12) + g[2] * ((S)1 / 6);                                 \
        o[5] = g[2];                                                                                        \
    }                                                                                                       \
    static inline void prefix##_at4(const V m[6], V o[4]) {                                                 \
        const V a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], e = m[3] - m[4];                         \
        o[0] = m[0] + a + c;                                                                                \
        o[1] = b + (S)2 * e;                                                                                \
        o[2] = a + (S)4 * c;                                                                                \
        o[3] = b + (S)8 * e + m[5];                                                                         \
    }

#endif
