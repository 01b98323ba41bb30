/* winograd.c - F(4x4, 3x3) convolution through 36 GEMMs (contract in conv.h), and the
 * portable build of the transforms (winograd_tx.h). */
#define WG_TX_NAME gc_wg_tx_portable
#include "kernels/winograd_tx.h"

size_t gc_winograd_workspace(const gc_winograd *p) {
    wg_plan q;
    if (wg_plan_make(p, &q)) return SIZE_MAX;
    size_t s = q.v;
    if (s > SIZE_MAX - q.u - q.m) return SIZE_MAX;
    if (q.fused)   /* U, U packed, per slot (V, M, GEMM packing); all small by WG_FUSE_OC */
        return q.u + 36 * q.pa + (s + q.m + q.g) * WG_SLOTS;
    if (q.g > (SIZE_MAX - s - q.u - q.m) / WG_SLOTS) return SIZE_MAX;
    return s + q.u + q.m + q.g * WG_SLOTS;
}

/* ---------------------------------------------------------------- driver */

#ifdef _OPENMP
#include <omp.h>
static int wg_threads(void) { return omp_get_max_threads() < WG_SLOTS ? omp_get_max_threads() : WG_SLOTS; }
static int wg_slot(void) { return omp_get_thread_num(); }
#else
static int wg_slot(void) { return 0; }
#endif

void gc_winograd_run(gc_gemm_tier tier, const gc_winograd *p, const float *x, const float *w,
                     const float *bias, float *y, float *ws) {
    wg_plan q;
    if (wg_plan_make(p, &q)) return;   /* cannot happen once the workspace was sized */
    float *V = ws, *U = V + q.v, *M = U + q.u, *G = M + q.m;
    const gc_gemm_tier rt = gc_gemm_resolve(tier);
    const gc_wg_tx *tx = rt == GC_GEMM_AVX512 ? &gc_wg_tx_avx512 : rt == GC_GEMM_AVX2 ? &gc_wg_tx_avx2 : &gc_wg_tx_portable;
    const int64_t nt = (q.T + q.Tc - 1) / q.Tc, no = (p->O + q.Oc - 1) / q.Oc;
    if (q.fused) {
        float *Uf = ws, *Up = ws + q.u, *slots = Up + 36 * q.pa;   /* U (36, O, C), U packed, slots */
        tx->weights(p, w, 0, p->O, Uf);
#pragma omp parallel for schedule(dynamic, 1)
        for (int xi = 0; xi < 36; xi++) gc_gemm_pack_a(rt, 0, p->O, p->C, Uf + xi * p->O * p->C, p->C, Up + xi * q.pa);
        /* The transforms' parallel loops nested in this region run on the calling thread. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(wg_threads())
        for (int64_t ti = 0; ti < nt; ti++) {
            float *Vs = slots + wg_slot() * (q.v + q.m + q.g), *Ms = Vs + q.v, *Gs = Ms + q.m;
            const int64_t t0 = ti * q.Tc, tc = q.T - t0 < q.Tc ? q.T - t0 : q.Tc;
            tx->input(p, &q, x, t0, tc, Vs);
            for (int xi = 0; xi < 36; xi++)
                gc_gemm_prepacked(rt, p->O, tc, p->C, 1.0f, Up + xi * q.pa, 0, Vs + xi * p->C * tc, tc, 0.0f,
                                  Ms + xi * p->O * tc, tc, Gs);
            tx->output(p, &q, Ms, 0, p->O, t0, tc, bias, y);
        }
        return;
    }
    /* Loop order: recompute whichever transform is cheaper to redo (V: 36*C*T floats per
     * extra output chunk; U: 36*O*C per extra tile chunk); with one chunk of either, none. */
    const int t_outer = no == 1 || (nt > 1 && q.T * (no - 1) > p->O * (nt - 1));
    if (no == 1) tx->weights(p, w, 0, p->O, U);
    for (int64_t a = 0; a < (t_outer ? nt : no); a++)
        for (int64_t b = 0; b < (t_outer ? no : nt); b++) {
            const int64_t ti = t_outer ? a : b, oi = t_outer ? b : a;
            const int64_t t0 = ti * q.Tc, tc = q.T - t0 < q.Tc ? q.T - t0 : q.Tc;
            const int64_t o0 = oi * q.Oc, oc = p->O - o0 < q.Oc ? p->O - o0 : q.Oc;
            if (t_outer ? b == 0 : (nt > 1 || a == 0)) tx->input(p, &q, x, t0, tc, V);
            if (no > 1 && (t_outer || b == 0)) tx->weights(p, w, o0, oc, U);
            /* 36 independent GEMMs, one thread each (gc_gemm nested in the region runs on
             * its calling thread), each with its own packing slot: no barriers. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(wg_threads())
            for (int xi = 0; xi < 36; xi++)
                gc_gemm(rt, 0, 0, oc, tc, p->C, 1.0f, U + xi * oc * p->C, p->C, V + xi * p->C * tc, tc,
                        0.0f, M + xi * oc * tc, tc, G + wg_slot() * q.g);
            tx->output(p, &q, M, o0, oc, t0, tc, bias, y);
        }
}
