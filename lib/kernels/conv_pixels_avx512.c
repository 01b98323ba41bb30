/* conv_pixels_avx512.c - AVX-512F micro-kernel 7x64 of the few-pixels GEMM (contract in
 * conv.h): 28 zmm accumulators, 4 loads of B and 7 broadcasts of A per k step. Compiled with
 * -mavx512*; called only after dispatch (gc_pxgemm_applies). */
#include "kernels/conv.h"

#if defined(__AVX512F__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("no-avx512vl,no-avx512dq,no-avx512bw")
#endif
#include <immintrin.h>

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6)

void gc_px_ukernel_avx512_7x64(int64_t k, const float *a, const float *b, float *t) {
#define DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0, c##i##3 = c##i##0;
    ROWS(DECL)
#undef DECL
    for (int64_t p = 0; p < k; p++, a += GC_PX_MR, b += GC_PX_NR) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32),
                     b3 = _mm512_loadu_ps(b + 48);
#define STEP(i)                                                                            \
    {                                                                                      \
        const __m512 ai = _mm512_set1_ps(a[i]);                                            \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                        \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                        \
        c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);                                        \
        c##i##3 = _mm512_fmadd_ps(ai, b3, c##i##3);                                        \
    }
        ROWS(STEP)
#undef STEP
    }
#define STORE(i)                                                                           \
    _mm512_storeu_ps(t + i * GC_PX_NR, c##i##0);                                           \
    _mm512_storeu_ps(t + i * GC_PX_NR + 16, c##i##1);                                      \
    _mm512_storeu_ps(t + i * GC_PX_NR + 32, c##i##2);                                      \
    _mm512_storeu_ps(t + i * GC_PX_NR + 48, c##i##3);
    ROWS(STORE)
#undef STORE
}

#else /* built without AVX-512: never dispatched (gc_pxgemm_applies) */
void gc_px_ukernel_avx512_7x64(int64_t k, const float *a, const float *b, float *t) {
    (void)k; (void)a; (void)b; (void)c; (void)ldc; (void)accumulate;
}
#endif
