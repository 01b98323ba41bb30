/* winograd.c - F(4x4, 3x3) convolution through 36 GEMMs (contract in conv.h), and the
 * portable build of the transforms (winograd_tx.h). */
#define WG_TX_NAME gc_wg_tx_portable
#include "kernels/winograd_tx.h"

size_t gc_winograd_workspace(const gc_winograd *p) {
    wg_plan q;
    if (wg_plan_make(p, &q)) return SIZE_MAX;
    return q.v + (q.u + q.m) * WG_SLOTS;   /* V^T, per slot (U^T block, M^T); q.v < SIZE_MAX / 2 */
}

/* ---------------------------------------------------------------- driver */

#ifdef _OPENMP
#include <omp.h>
static int wg_threads(void) { return omp_get_max_threads() < WG_SLOTS ? omp_get_max_threads() : WG_SLOTS; }
static int wg_slot(void) { return omp_get_thread_num(); }
#else
static int wg_slot(void) { return 0; }
#endif

/* M^T = V^T U^T by the tier's micro-kernel (schedule in winograd_internal.h). */
void gc_winograd_run(gc_gemm_tier tier, const gc_winograd *p, const float *x, const float *w,
                     const float *bias, float *y, float *ws) {
    wg_plan q;
    if (wg_plan_make(p, &q)) return;   /* cannot happen once the workspace was sized */
    gc_gemm_tier rt = gc_gemm_resolve(tier);
    if (rt == GC_GEMM_REFERENCE) rt = GC_GEMM_PORTABLE;
    const gc_wg_tx *tx = rt == GC_GEMM_AVX512 ? &gc_wg_tx_avx512 : rt == GC_GEMM_AVX2 ? &gc_wg_tx_avx2 : &gc_wg_tx_portable;
    const gc_gemm_blocking bl = gc_gemm_blocks(rt);
    gc_gemm_ukernel kern = gc_gemm_kernel_of(rt);
    int mr = bl.mr, nr = bl.nr;
    /* few tiles: 16-row panels where they waste fewer rows than the tier's (16 tiles: 16, not 28) */
    if (rt == GC_GEMM_AVX512 && (q.T + 15) / 16 * 16 < (q.T + mr - 1) / mr * mr)
        kern = gc_gemm_ukernel_avx512_16x16, mr = 16, nr = 16;
    const int64_t C = p->C, nt = (q.T + q.Tc - 1) / q.Tc, no = (p->O + WG_OCH - 1) / WG_OCH;
    float *A = ws;                                            /* V^T (36, np, C, mr) */
#pragma omp parallel num_threads(wg_threads())
    {
        float *B = ws + q.v + wg_slot() * (q.u + q.m);      /* U^T block (36, WG_OCH/nr, cb, nr) */
        float *Mt = B + q.u;                                 /* M^T (36, tc, WG_OCH) */
        for (int64_t ti = 0; ti < nt; ti++) {
            const int64_t t0 = ti * q.Tc, tc = q.T - t0 < q.Tc ? q.T - t0 : q.Tc, np = (tc + mr - 1) / mr;
            const int64_t xa = wg_xsa(tc, mr, C), xm = wg_xsm(tc);
            tx->input(p, &q, x, t0, tc, mr, A);
#pragma omp for schedule(dynamic, 1)
            for (int64_t oi = 0; oi < no; oi++) {
                const int64_t o0 = oi * WG_OCH, on = p->O - o0 < WG_OCH ? p->O - o0 : WG_OCH;
                for (int64_t c0 = 0; c0 < C; c0 += WG_CB) {
                    const int64_t cb = C - c0 < WG_CB ? C - c0 : WG_CB;
                    tx->weights(p, w, o0, c0, cb, nr, B);
                    for (int xi = 0; xi < 36; xi++)
                        for (int64_t jp = 0; jp * nr < on; jp++)
                            for (int64_t ip = 0; ip < np; ip++)
                                kern(cb, A + xi * xa + (ip * C + c0) * mr, B + xi * wg_xsb(cb) + jp * cb * nr,
                                     Mt + xi * xm + ip * mr * WG_OCH + jp * nr, WG_OCH, 1.0f, c0 ? 1.0f : 0.0f,
                                     (int)(tc - ip * mr < mr ? tc - ip * mr : mr), (int)(on - jp * nr < nr ? on - jp * nr : nr),
                                     NULL);
                }
                tx->output(p, &q, Mt, o0, t0, tc, bias, y);
            }
        }
    }
}
