/* winograd.c - F(4x4, 3x3) convolution through 36 GEMMs (contract in conv.h), and the
 * portable build of the transforms (winograd_tx.h). */
#define WG_TX_NAME gc_wg_tx_portable
#include "kernels/winograd_tx.h"

#define WG_FEW4 8   /* tiles up to which the AVX2 tier takes its 4x16 kernel (at 16 tiles it ran 1 % slower than 6x16 with 2 wasted rows) */

/* Floats of the U^T blocks kept for the call in ws: none when the caller gives them (p->U). */
static size_t kept_floats(const gc_winograd *p, const wg_plan *q) { return p->U ? 0 : q->uall; }

/* Per slot: V^T, U^T block, M^T (by tiles, replicated), else U^T block, M^T (V^T shared); no
 * U^T block when the caller gives them all (p->U). */
static size_t slot_floats(const gc_winograd *p, const wg_plan *q) {
    return (q->by_tiles || q->replicated ? q->v : 0) + (p->U ? 0 : q->u) + q->m;
}

/* The plan of the tier (or a few-tiles kernel) whose panels need the most scratch: the sizes
 * hold for any tier's run. */
static int wg_plan_largest(const gc_winograd *p, wg_plan *q) {
    const gc_gemm_tier tiers[3] = {GC_GEMM_PORTABLE, GC_GEMM_AVX2, GC_GEMM_AVX512};
    if (wg_plan_make(p, 16, q)) return 1;
    for (int i = 0; i < 4; i++) {
        wg_plan r;
        if (wg_plan_make(p, i < 3 ? gc_gemm_blocks(tiers[i]).mr : 4, &r)) return 1;   /* 4: the AVX2 few-tiles kernel */
        if (r.v > q->v) *q = r;
    }
    return 0;
}

size_t gc_winograd_workspace(const gc_winograd *p) {
    wg_plan q;
    if (wg_plan_largest(p, &q)) return SIZE_MAX;
    return (q.by_tiles || q.replicated ? 0 : q.v) + kept_floats(p, &q) + slot_floats(p, &q) * WG_SLOTS;   /* each < SIZE_MAX / 8 */
}

size_t gc_winograd_shared_floats(const gc_winograd *p) {
    wg_plan q;
    if (wg_plan_largest(p, &q)) return SIZE_MAX;
    return (q.by_tiles || q.replicated ? 0 : q.v) + kept_floats(p, &q);
}

size_t gc_winograd_slot_floats(const gc_winograd *p) {
    wg_plan q;
    return wg_plan_largest(p, &q) ? 0 : slot_floats(p, &q);
}

/* ---------------------------------------------------------------- driver */

typedef struct wg_job {
    const gc_winograd *p;
    const wg_plan *q;
    const gc_wg_tx *tx;
    gc_gemm_ukernel kern;
    int mr, nr;
    const float *x, *w, *bias;
    float *y, *ws, *A;
    int64_t t0, tc, no;
    int64_t *ready;   /* replicated: (WG_SLOTS) tile chunk + 1 whose V^T the slot holds, element w written by worker w only */
    const float *U;   /* every U^T block, (output chunk, input block) of q->u floats each (q->uall): the
                         caller's (p->U) or transformed first into Uw; or NULL: per block in the slot */
    float *Uw;        /* where wg_weights writes them */
} wg_job;

/* Worker w's slot: the session's (gc_winograd.slots), else carved from ws after the shared V^T. */
static float *wg_slot(const wg_job *j, int w) {
    const wg_plan *q = j->q;
    if (j->p->slots.base) return j->p->slots.base + (size_t)w * j->p->slots.stride;
    return j->ws + (q->by_tiles || q->replicated ? 0 : q->v) + kept_floats(j->p, q) + (size_t)w * slot_floats(j->p, q);
}

/* M^T in a slot whose U^T block starts at b: after it, or at b when the caller gives U (p->U). */
static float *wg_mt(const wg_job *j, float *b) { return b + (j->p->U ? 0 : j->q->u); }

static void wg_input(void *arg, int64_t lo, int64_t hi, int worker) {
    const wg_job *j = arg;
    (void)worker;
    j->tx->input(j->p, j->q, j->x, j->t0, j->tc, j->mr, j->A, lo, hi);
}

/* U^T blocks [lo, hi) of q->uall: (output chunk, block of WG_CB input channels). */
static void wg_weights(void *arg, int64_t lo, int64_t hi, int worker) {
    const wg_job *j = arg;
    const int64_t nb = (j->p->C + WG_CB - 1) / WG_CB;
    (void)worker;
    for (int64_t i = lo; i < hi; i++) {
        const int64_t c0 = i % nb * WG_CB, cb = j->p->C - c0 < WG_CB ? j->p->C - c0 : WG_CB;
        j->tx->weights(j->p, j->w, i / nb * WG_OCH, c0, cb, j->nr, j->Uw + (size_t)i * j->q->u);
    }
}

/* Output-channel chunks [lo, hi) of tile chunk [t0, t0 + tc) from its V^T A, with the U^T
 * block B (unused with j->U) and M^T of one scratch slot. */
static void wg_products(const wg_job *j, int64_t t0, int64_t tc, const float *A, float *Bs, float *Mt, int64_t lo,
                        int64_t hi) {
    const gc_winograd *p = j->p;
    const wg_plan *q = j->q;
    const int mr = j->mr, nr = j->nr;
    const int64_t C = p->C, np = (tc + mr - 1) / mr, xa = wg_xsa(tc, mr, C), xm = wg_xsm(tc);
    for (int64_t oi = lo; oi < hi; oi++) {
        const int64_t o0 = oi * WG_OCH, on = p->O - o0 < WG_OCH ? p->O - o0 : WG_OCH;
        for (int64_t c0 = 0; c0 < C; c0 += WG_CB) {
            const int64_t cb = C - c0 < WG_CB ? C - c0 : WG_CB;
            const float *B = Bs;
            if (j->U) /* transformed before the first chunk, or by the caller */
                B = j->U + (size_t)(oi * ((C + WG_CB - 1) / WG_CB) + c0 / WG_CB) * q->u;
            else
                j->tx->weights(p, j->w, o0, c0, cb, nr, Bs);
            for (int xi = 0; xi < 36; xi++)
                for (int64_t jp = 0; jp * nr < on; jp++)
                    for (int64_t ip = 0; ip < np; ip++)
                        j->kern(cb, A + xi * xa + (ip * C + c0) * mr, B + xi * wg_xsb(cb) + jp * cb * nr,
                                Mt + xi * xm + ip * mr * WG_OCH + jp * nr, WG_OCH, 1.0f, c0 ? 1.0f : 0.0f,
                                (int)(tc - ip * mr < mr ? tc - ip * mr : mr), (int)(on - jp * nr < nr ? on - jp * nr : nr),
                                NULL);
        }
        j->tx->output(p, q, Mt, o0, t0, tc, j->bias, j->y);
    }
}

/* Output-channel chunks [lo, hi) of the current tile chunk, in worker's scratch slot (replicated:
 * with the slot's own V^T, transformed first if the slot does not hold this chunk's yet). */
static void wg_outputs(void *arg, int64_t lo, int64_t hi, int worker) {
    const wg_job *j = arg;
    const wg_plan *q = j->q;
    if (q->replicated) {
        float *A = wg_slot(j, worker), *B = A + q->v;
        if (j->ready[worker] != j->t0 + 1) {
            j->tx->input(j->p, q, j->x, j->t0, j->tc, j->mr, A, 0, j->p->C * seg_count(q, j->t0, j->tc));
            j->ready[worker] = j->t0 + 1;
        }
        wg_products(j, j->t0, j->tc, A, B, wg_mt(j, B), lo, hi);
        return;
    }
    float *B = wg_slot(j, worker);   /* U^T block (36, WG_OCH/nr, cb, nr) unless p->U, M^T */
    wg_products(j, j->t0, j->tc, j->A, B, wg_mt(j, B), lo, hi);
}

/* By tiles: whole tile chunks [lo, hi), each through all three stages in worker's slot. */
static void wg_tile_chunks(void *arg, int64_t lo, int64_t hi, int worker) {
    const wg_job *j = arg;
    const wg_plan *q = j->q;
    float *A = wg_slot(j, worker), *B = A + q->v;
    for (int64_t ci = lo; ci < hi; ci++) {
        int64_t t0, tc;
        wg_chunk(q, j->mr, ci, &t0, &tc);
        j->tx->input(j->p, q, j->x, t0, tc, j->mr, A, 0, j->p->C * seg_count(q, t0, tc));
        wg_products(j, t0, tc, A, B, wg_mt(j, B), 0, j->no);
    }
}

/* The tier's micro-kernel, its panels (the few-tiles kernel where it wastes fewer rows) and
 * transforms, and the plan for them; 1 on overflow or an empty problem. */
static int wg_setup(gc_gemm_tier tier, const gc_winograd *p, wg_job *j, wg_plan *q) {
    gc_gemm_tier rt = gc_gemm_resolve(tier);
    if (rt == GC_GEMM_REFERENCE) rt = GC_GEMM_PORTABLE;
    const gc_gemm_blocking bl = gc_gemm_blocks(rt);
    j->p = p, j->q = q, j->kern = gc_gemm_kernel_of(rt), j->mr = bl.mr, j->nr = bl.nr;
    j->no = (p->O + WG_OCH - 1) / WG_OCH;
    j->tx = rt == GC_GEMM_AVX512 ? &gc_wg_tx_avx512 : rt == GC_GEMM_AVX2 ? &gc_wg_tx_avx2 : &gc_wg_tx_portable;
    if (rt == GC_GEMM_AVX2) j->kern = gc_wg_ukernel_avx2_6x16;   /* the tier's 6x16, fetching U^T ahead */
    if (wg_plan_make(p, j->mr, q)) return 1;
    /* few tiles: 16-row panels where they waste fewer rows than the tier's (16 tiles: 16, not 28) */
    if (rt == GC_GEMM_AVX512 && (q->T + 15) / 16 * 16 < (q->T + j->mr - 1) / j->mr * j->mr) {
        j->kern = gc_gemm_ukernel_avx512_16x16, j->mr = 16, j->nr = 16;
        return wg_plan_make(p, j->mr, q);
    }
    /* AVX2, up to WG_FEW4 tiles: 4-row panels where they waste fewer rows (4, 7 or 8 tiles) */
    if (rt == GC_GEMM_AVX2 && q->T <= WG_FEW4 && (q->T + 3) / 4 * 4 < (q->T + j->mr - 1) / j->mr * j->mr) {
        j->kern = gc_wg_ukernel_avx2_4x16, j->mr = 4, j->nr = 16;
        return wg_plan_make(p, j->mr, q);
    }
    return 0;
}

/* U^T blocks of the whole layer: (output chunks) x (input blocks) of q->u floats each. */
static size_t weights_floats(const wg_job *j, const wg_plan *q) {
    const int64_t blocks = j->no * ((j->p->C + WG_CB - 1) / WG_CB);
    return blocks > (int64_t)(SIZE_MAX / 8 / q->u) ? 0 : (size_t)blocks * q->u;
}

size_t gc_winograd_weights_floats(gc_gemm_tier tier, const gc_winograd *p) {
    wg_job j;
    wg_plan q;
    return wg_setup(tier, p, &j, &q) ? 0 : weights_floats(&j, &q);
}

void gc_winograd_weights(gc_pool *pool, gc_gemm_tier tier, const gc_winograd *p, const float *w, float *U) {
    wg_job j = {0};
    wg_plan q;
    if (wg_setup(tier, p, &j, &q) || !weights_floats(&j, &q)) return;
    j.w = w, j.Uw = U;
    gc_pool_for(pool, (int64_t)(weights_floats(&j, &q) / q.u), 1, 0, wg_weights, &j);
}

/* M^T = V^T U^T by the tier's micro-kernel (schedule in winograd_internal.h). */
void gc_winograd_run(gc_pool *pool, gc_gemm_tier tier, const gc_winograd *p, const float *x, const float *w,
                     const float *bias, float *y, float *ws) {
    wg_plan q;
    wg_job j = {.x = x, .w = w, .bias = bias, .y = y, .ws = ws, .A = ws /* V^T (36, np, C, mr) */};
    if (wg_setup(tier, p, &j, &q)) return;   /* cannot happen once the workspace was sized */
    const int slots = p->slots.base && p->slots.n >= 1 && p->slots.n < WG_SLOTS ? p->slots.n : WG_SLOTS;
    if (p->U) {
        j.U = p->U;
    } else if (q.uall) { /* every U^T block first, after the shared V^T in ws */
        j.U = j.Uw = ws + (q.by_tiles || q.replicated ? 0 : q.v);
        gc_pool_for(pool, (int64_t)(q.uall / q.u), 1, 0, wg_weights, &j);
    }
    if (q.by_tiles) {
        const int64_t nw = wg_workers(p);   /* each its share of the chunks; carved: any chunk to any thread */
        gc_pool_for(pool, q.nt, nw > 1 ? (q.nt + nw - 1) / nw : 1, slots, wg_tile_chunks, &j);
        return;
    }
    int64_t ready[WG_SLOTS] = {0};
    j.ready = ready;
    for (int64_t t0 = 0; t0 < q.T; t0 += q.Tc) {
        j.t0 = t0;
        j.tc = q.T - t0 < q.Tc ? q.T - t0 : q.Tc;
        if (!q.replicated) gc_pool_for(pool, p->C * seg_count(&q, t0, j.tc), 8, 0, wg_input, &j);
        gc_pool_for(pool, j.no, 1, slots, wg_outputs, &j);
    }
}
