/* gemm.h - single-precision GEMM in three tiers, internal API.
 *
 *   C = alpha * op(A) * op(B) + beta * C        (row-major, strided)
 *
 * op(A) is M x K: trans_a == 0 reads A[i*lda + p], trans_a != 0 reads A[p*lda + i]
 * (A stored K x M). op(B) is K x N: trans_b == 0 reads B[p*ldb + j], trans_b != 0
 * reads B[j*ldb + p] (B stored N x K). C is M x N with C[i*ldc + j].
 *
 * Tiers (BLIS structure, see docs/gemm.md):
 *   REFERENCE  naive triple loop with double accumulation; the oracle.
 *   PORTABLE   packed, cache-blocked GEMM, plain-C (GNU vector extension) 6x8 kernel.
 *   AVX2       same driver, AVX2+FMA intrinsics micro-kernel 6x16.
 *   AVX512     same driver, AVX-512F intrinsics micro-kernel 14x32.
 *   AUTO       the best tier available on this CPU (gc_gemm_best_tier()).
 * The tier is always an argument; nothing global selects it. A tier that is not
 * available on this CPU (or out of range) is silently replaced by the best
 * available one, identically in gc_gemm_workspace and gc_gemm, so no illegal
 * instruction is ever executed and the workspace always fits.
 *
 * Contract of gc_gemm:
 *   - M, N <= 0: nothing happens. K <= 0 or alpha == 0: C = beta * C and A, B
 *     are not read.
 *   - beta == 0: C is never read (it may hold NaN or garbage); it is overwritten.
 *   - No allocation: packing buffers come from `workspace`, which must hold at
 *     least gc_gemm_workspace(tier, M, N, K, nthreads) floats and be 64-byte
 *     aligned for best speed (gc_alloc gives that). It may be NULL when that
 *     size is 0 (REFERENCE tier). It must not overlap A, B or C; C must not
 *     overlap A or B.
 *   - lda >= (trans_a ? M : K), ldb >= (trans_b ? K : N), ldc >= N; the caller
 *     validates shapes (this is an internal kernel, it does not report errors).
 *   - M == 1 (a row vector times a matrix, e.g. a linear layer at batch 1) skips
 *     packing in the packed tiers when op(B) rows or both operands are contiguous
 *     (trans_b == 0, or trans_b != 0 with unit-stride op(A)): it is memory-bound.
 *   - Threads: pool's (NULL: the caller alone) over disjoint M/N tiles of C
 *     (never over K). Each C element is summed in the same order for any thread
 *     count, so results are bit-identical for 1..n threads. Small products run
 *     on the caller.
 *   - Not reentrant on the same workspace: concurrent calls need separate
 *     workspaces. Different workspaces may be used concurrently.
 */
#ifndef GC_KERNELS_GEMM_H
#define GC_KERNELS_GEMM_H

#include "core/pool.h"
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GC_GEMM_AUTO = 0,
    GC_GEMM_REFERENCE,
    GC_GEMM_PORTABLE,
    GC_GEMM_AVX2,
    GC_GEMM_AVX512,
    GC_GEMM_TIER_COUNT
} gc_gemm_tier;

/* Best tier this CPU runs (AVX512 > AVX2 > PORTABLE), from gc_cpu_detect(). */
gc_gemm_tier gc_gemm_best_tier(void);

/* 1 if `tier` can run on this CPU (AUTO, REFERENCE and PORTABLE always), else 0. */
int gc_gemm_tier_available(gc_gemm_tier tier);

/* "auto", "reference", "portable", "avx2", "avx512"; "unknown" out of range.
 * Static string, never NULL. */
const char *gc_gemm_tier_name(gc_gemm_tier tier);

/* Tier named by `name` (the strings above); returns -1 if unknown. For tools
 * and tests that take the tier from a command line or environment variable. */
int gc_gemm_tier_from_name(const char *name);

/* Tier actually used for `tier` (AUTO or unavailable -> best available). Cheap (no
 * CPUID: uses the feature bits the compiler runtime caches at start-up); agrees with
 * gc_gemm_tier_available / gc_gemm_best_tier, which call gc_cpu_detect(). */
gc_gemm_tier gc_gemm_resolve(gc_gemm_tier tier);

/* Register block (MR x NR) and cache blocks (MC, KC, NC) of a resolved tier;
 * all zero for REFERENCE. For documentation, benchmarks and tests. */
typedef struct gc_gemm_blocking { int mr, nr, mc, kc, nc; } gc_gemm_blocking;
gc_gemm_blocking gc_gemm_blocks(gc_gemm_tier tier);

/* Floats of packing workspace gc_gemm needs for these sizes. Bounded by the
 * cache blocks (at most (MC + NC) * KC plus padding), so it never overflows;
 * independent of nthreads (kept in the signature for future per-thread
 * buffers). 0 for REFERENCE or empty products. */
size_t gc_gemm_workspace(gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, int nthreads);

void gc_gemm(gc_pool *pool, gc_gemm_tier tier, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
             float beta, float *C, int64_t ldc, float *workspace);

/* ---- prepacked A (constant operands such as convolution weights) ----
 * Packing op(A) once at planning time removes its per-call packing cost (large
 * for small N). The packed form belongs to the resolved tier: pack and multiply
 * with the same `tier` value. Results are bit-identical to gc_gemm with the same
 * tier and operands.
 *   gc_gemm_pack_a_size  floats for op(A) (M x K) packed for `tier`; 0 if M or K
 *                        <= 0 or the size overflows (caller reports GC_ERR_OUT_OF_MEMORY).
 *   gc_gemm_pack_a       writes it into `packed` (caller-owned, that many floats).
 *   gc_gemm_prepacked    C = alpha * op(A) * op(B) + beta * C (+ row_bias[i] on row i,
 *                        row_bias NULL: none) with op(A) from `packed_a`; same contract
 *                        and workspace as gc_gemm. The bias is added in the store of
 *                        the last K block: each element is rounded as
 *                        fl(fl(alpha * acc + beta * C) + bias), as a separate pass would. */
size_t gc_gemm_pack_a_size(gc_gemm_tier tier, int64_t M, int64_t K);
void gc_gemm_pack_a(gc_gemm_tier tier, int trans_a, int64_t M, int64_t K, const float *A,
                    int64_t lda, float *packed);
void gc_gemm_prepacked(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *packed_a, int trans_b, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc, float *workspace, const float *row_bias);

/* gc_gemm_prepacked with, in the same stores after the bias, a residual and then an
 * element-wise map: res NULL, or an M x N matrix at C's ldc added to each element (a fused
 * residual add: fl(v + res), v the biased value), then epi (a fused activation:
 * kernels/activation.h's GC_EPI_* ops): GC_EPI_RELU stores v > 0 ? v : 0, GC_EPI_CLAMP
 * u = v < lo ? lo : v then u > hi ? hi : u, GC_EPI_NONE (or any other value) nothing more.
 * Each element gets the bits separate passes over C would give it (NaN: 0 for the ReLU, kept
 * by the clamp; -0 becomes +0 in the ReLU). Applied once, on the last K block's stores, on
 * every tier and path. res may not overlap C. */
void gc_gemm_prepacked_epi(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *packed_a, int trans_b, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc, float *workspace, const float *row_bias, const float *res,
                           int epi, float lo, float hi);

/* gc_gemm_prepacked_epi with op(B) = B (trans_b 0) split over the workers by columns: worker w
 * multiplies the w-th of equal runs of C's columns (rows of NR-column panels), packing those
 * columns of B into its own slot (slots.base + w * slots.stride) itself, so no packed panel is
 * written by one core and read by another, and a layer whose input was written by the same
 * split (the previous layer's columns: pixels) reads it from its own core. Runs on at most
 * slots.n workers. Same bits as gc_gemm_prepacked_epi (the same micro-kernel over the same K
 * blocks). Needs slots.stride >= gc_gemm_cols_slot_floats(tier); without slots (base NULL),
 * for M <= 1 or the reference tier it is gc_gemm_prepacked_epi with `workspace`. */
size_t gc_gemm_cols_slot_floats(gc_gemm_tier tier);

/* Writes rows [p0, p0 + kb) and columns [j0, j0 + nb) of op(B) as nr-column panels: column
 * j0 + jp * nr + jj of row p0 + p at dst[(jp * kb + p) * nr + jj], zero for jj past nb in the
 * last panel (the layout the packed GEMM's own packing writes). For operands that are not
 * stored as a matrix (a convolution's lowered input: gc_im2col_pack). */
typedef void (*gc_gemm_pack_b_fn)(const void *ctx, int64_t p0, int64_t kb, int64_t j0, int64_t nb, int nr,
                                  float *dst);

/* gc_gemm_prepacked_cols with op(B) written by pack_b(ctx, ...) into each worker's slot. Returns
 * 0 (nothing done) where gc_gemm_prepacked_cols would not run by columns (no slots, slots too
 * small, M <= 1, K or N <= 0, alpha == 0, the reference tier): the caller then materialises op(B). */
int gc_gemm_prepacked_cols_fn(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                              const float *packed_a, gc_gemm_pack_b_fn pack_b, const void *ctx, float beta, float *C,
                              int64_t ldc, gc_slots slots, const float *row_bias, const float *res, int epi, float lo,
                              float hi);
void gc_gemm_prepacked_cols(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *packed_a, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                            float *workspace, gc_slots slots, const float *row_bias, const float *res, int epi,
                            float lo, float hi);

/* The reference tier directly (gemm_ref.c); same contract, no workspace. */
void gc_gemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc);

/* ---- micro-kernel interface (shared by gemm.c and the per-ISA files) ----
 * Computes the MR x NR product of a packed A micro-panel a (k x MR, MR floats
 * per step) and a packed B micro-panel b (k x NR, NR floats per step), then
 * updates the m x n top-left corner (m <= MR, n <= NR) of C:
 *   C = alpha * acc + beta * C (+ bias[i] on row i when bias is not NULL), and beta == 0
 *   never reads C.
 * Packed panels are zero-padded, so the full register tile is always computed. */
typedef void (*gc_gemm_ukernel)(int64_t k, const float *a, const float *b, float *c,
                                int64_t ldc, float alpha, float beta, int m, int n, const float *bias);

/* The same with, in the stores after the bias, a residual (res: NULL, or the m x n corner's
 * residual, at c's ldc) and then an epilogue (gc_gemm_prepacked_epi's res, epi, lo, hi). */
typedef void (*gc_gemm_ukernel_epi)(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                    float alpha, float beta, int m, int n, const float *bias,
                                    const float *res, int epi, float lo, float hi);

/* An epilogue kernel on NR full columns read in place: row p of B at b + p * ldb. */
typedef void (*gc_gemm_ukernel_ldb)(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                                    float alpha, float beta, int m, const float *bias, const float *res, int epi,
                                    float lo, float hi);

/* Micro-kernel of `tier` after gc_gemm_resolve (MR x NR from gc_gemm_blocks); NULL for
 * REFERENCE. For callers that write packed panels themselves (Winograd). */
gc_gemm_ukernel gc_gemm_kernel_of(gc_gemm_tier tier);

void gc_gemm_ukernel_portable_6x8(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias);
void gc_gemm_ukernel_avx2_6x16(int64_t k, const float *a, const float *b, float *c,
                               int64_t ldc, float alpha, float beta, int m, int n, const float *bias);
void gc_gemm_ukernel_avx512_14x32(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias);
void gc_gemm_ukernel_portable_6x8_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                      float alpha, float beta, int m, int n, const float *bias,
                                      const float *res, int epi, float lo, float hi);
void gc_gemm_ukernel_avx2_6x16_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                   float alpha, float beta, int m, int n, const float *bias,
                                   const float *res, int epi, float lo, float hi);
void gc_gemm_ukernel_avx512_14x32_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                      float alpha, float beta, int m, int n, const float *bias,
                                      const float *res, int epi, float lo, float hi);
/* The AVX-512 14x32 kernel (n = 32 columns) on B's rows in place: row p at b + p * ldb. */
void gc_gemm_ukernel_avx512_14x32_ldb(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                                      float alpha, float beta, int m, const float *bias, const float *res, int epi,
                                      float lo, float hi);
/* The AVX2 6x16 kernel (n = 16 columns) on B's rows in place: row p at b + p * ldb. */
void gc_gemm_ukernel_avx2_6x16_ldb(int64_t k, const float *a, const float *b, int64_t ldb, float *c, int64_t ldc,
                                   float alpha, float beta, int m, const float *bias, const float *res, int epi,
                                   float lo, float hi);
/* AVX-512 16x16, for products of few rows (Winograd with 16 tiles); same contract. */
void gc_gemm_ukernel_avx512_16x16(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias);

#endif
