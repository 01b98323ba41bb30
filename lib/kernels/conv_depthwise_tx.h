/* conv_depthwise_tx.h - one output plane of a depthwise convolution from the zero-padded input
 * plane, 16 output columns at a time held in a vector register while every tap is added (GNU
 * vector extension: one zmm with AVX-512, two ymm with AVX2, four xmm in the portable build).
 * Included once per ISA with DW_TX_NAME set (conv_depthwise.c, conv_depthwise_avx2.c,
 * conv_depthwise_avx512.c); taps are added in the same order in all three (and as the
 * reference loops do), so every tier gives the same bits. */
#include "kernels/conv.h"
#include <string.h>

typedef float dw_v16 __attribute__((vector_size(64)));
typedef int dw_i16 __attribute__((vector_size(64)));

/* *v = x[0], x[s], ..., x[15 s]: one load for s = 1, two loads and a shuffle for s = 2 (GCC),
 * lane by lane otherwise. (Out parameters: returning a 64-byte vector from a function changes
 * the ABI in the builds without AVX-512.) */
static inline void dw_load(const float *x, int64_t s, dw_v16 *v) {
    if (s == 1) {
        memcpy(v, x, sizeof *v);
        return;
    }
#if defined(__GNUC__) && !defined(__clang__)
    if (s == 2) {
        const dw_i16 even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
        dw_v16 a, b;
        memcpy(&a, x, sizeof a);
        memcpy(&b, x + 16, sizeof b);
        *v = __builtin_shuffle(a, b, even);
        return;
    }
#endif
    for (int l = 0; l < 16; l++) (*v)[l] = x[l * s];
}

/* yo (OH, OW) = b + sum_{u,v} wo[u,v] xp[(i SH + u DH) * wp + j SW + v DW], xp readable up to
 * 32 floats past its last row (lanes past OW are computed and dropped). */
void DW_TX_NAME(const gc_dwconv *p, const float *xp, int64_t wp, const float *wo, float b, float *yo) {
    for (int64_t i = 0; i < p->OH; i++)
        for (int64_t j0 = 0; j0 < p->OW; j0 += 16) {
            dw_v16 acc = {b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b};
            for (int64_t u = 0; u < p->KH; u++) {
                const float *xr = xp + (i * p->SH + u * p->DH) * wp + j0 * p->SW;
                for (int64_t v = 0; v < p->KW; v++) {
                    const float wv = wo[u * p->KW + v];
                    dw_v16 xv;
                    dw_load(xr + v * p->DW, p->SW, &xv);
                    acc += wv * xv;
                }
            }
            const int64_t n = p->OW - j0 < 16 ? p->OW - j0 : 16;
            memcpy(yo + i * p->OW + j0, &acc, (size_t)n * sizeof(float));
        }
}
