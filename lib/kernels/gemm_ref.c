/* gemm_ref.c - reference GEMM: naive triple loop, double accumulation (the oracle). */
#include "kernels/gemm.h"

void gc_gemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc) {
    /* C[i,j] = alpha * sum_p op(A)[i,p] op(B)[p,j] + beta * C[i,j]; beta == 0 never reads C */
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            if (alpha != 0.0f)
                for (int64_t p = 0; p < K; p++) {
                    double a = trans_a ? A[p * lda + i] : A[i * lda + p];
                    double b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
                    s += a * b;
                }
            double r = (double)alpha * s;
            if (beta != 0.0f) r += (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)r;
        }
    }
}
