/* gemm.c - tier dispatch, BLIS-style packed blocked GEMM driver, portable 6x8 kernel.
 *
 * Loops (BLIS): jc over N by NC | pc over K by KC (pack B block) | ic over M by MC
 * (pack A block) | macro-kernel: jr over NR panels x ir over MR panels -> micro-kernel.
 * The pool's threads share the packed blocks and split packing and the (ic, jr, ir) tiles; K
 * is never split, so every C element is summed in the same order for any thread count. */
#include "kernels/gemm.h"
#include "kernels/activation.h" /* GC_EPI_* */
#include "core/core.h"
#include <string.h>


/* ---- kernel table: micro-kernels registered with their blocks ---- */

typedef struct gemm_impl {
    const char *name;
    gc_gemm_ukernel kernel; /* NULL: reference / auto */
    gc_gemm_ukernel_epi ekernel; /* the same with an epilogue in its stores (the driver's) */
    gc_gemm_ukernel_ldb dkernel; /* ekernel on B's rows in place, full NR panels, or NULL */
    int dmin_n;             /* N from which the by-columns run uses dkernel (AVX2, Zen 3: 2-12 % slower
                               than packed at ResNet-50's N = 196 and 49, 4-19 % faster at 784, 3136) */
    int mr, nr;             /* register block */
    int mc, kc, nc;         /* cache blocks: A block MC x KC (L2), B panel KC x NR (L1) */
} gemm_impl;

static const gemm_impl gemm_impls[GC_GEMM_TIER_COUNT] = {
    [GC_GEMM_AUTO]      = {"auto", NULL, NULL, NULL, 0, 0, 0, 0, 0, 0},
    [GC_GEMM_REFERENCE] = {"reference", NULL, NULL, NULL, 0, 0, 0, 0, 0, 0},
    [GC_GEMM_PORTABLE]  = {"portable", gc_gemm_ukernel_portable_6x8, gc_gemm_ukernel_portable_6x8_epi, NULL, 0,
                           6, 8, 240, 256, 4096},
    [GC_GEMM_AVX2]      = {"avx2", gc_gemm_ukernel_avx2_6x16, gc_gemm_ukernel_avx2_6x16_epi, gc_gemm_ukernel_avx2_6x16_ldb,
                           512, 6, 16, 192, 256, 4096},
    [GC_GEMM_AVX512]    = {"avx512", gc_gemm_ukernel_avx512_14x32, gc_gemm_ukernel_avx512_14x32_epi,
                           gc_gemm_ukernel_avx512_14x32_ldb, 0,
                           14, 32, 336, 256, 4096},
};
_Static_assert(sizeof gemm_impls / sizeof gemm_impls[0] == GC_GEMM_TIER_COUNT,
               "one table row per tier");

/* Products below this many multiply-adds run on one thread. */
#define GEMM_PAR_MIN ((int64_t)1 << 19)

/* ---- dispatch ---- */

int gc_gemm_tier_available(gc_gemm_tier tier) {
    gc_cpu_features f;
    switch (tier) {
    case GC_GEMM_AUTO: case GC_GEMM_REFERENCE: case GC_GEMM_PORTABLE: return 1;
    case GC_GEMM_AVX2: f = gc_cpu_detect(); return f.avx2 && f.fma;
    case GC_GEMM_AVX512: f = gc_cpu_detect(); return f.avx512f && f.avx2 && f.fma;
    default: return 0;
    }
}

gc_gemm_tier gc_gemm_best_tier(void) {
    if (gc_gemm_tier_available(GC_GEMM_AVX512)) return GC_GEMM_AVX512;
    if (gc_gemm_tier_available(GC_GEMM_AVX2)) return GC_GEMM_AVX2;
    return GC_GEMM_PORTABLE;
}

/* Per-call check with the same conditions as gc_gemm_tier_available, but from the
 * feature bits libgcc caches at start-up (checked against the OS's XSAVE state):
 * CPUID itself traps in virtual machines (~20 us measured), too slow for every call. */
static int tier_runs(gc_gemm_tier t) {
#if defined(__x86_64__) || defined(__i386__)
    switch (t) {
    case GC_GEMM_AVX512:
        if (!__builtin_cpu_supports("avx512f")) return 0;
        /* fall through */
    case GC_GEMM_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return t == GC_GEMM_REFERENCE || t == GC_GEMM_PORTABLE;
    }
#else
    return t == GC_GEMM_REFERENCE || t == GC_GEMM_PORTABLE;
#endif
}

gc_gemm_tier gc_gemm_resolve(gc_gemm_tier tier) {
    if (tier != GC_GEMM_AUTO && (unsigned)tier < GC_GEMM_TIER_COUNT && tier_runs(tier)) return tier;
    return tier_runs(GC_GEMM_AVX512) ? GC_GEMM_AVX512
         : tier_runs(GC_GEMM_AVX2)   ? GC_GEMM_AVX2 : GC_GEMM_PORTABLE;
}

const char *gc_gemm_tier_name(gc_gemm_tier tier) {
    return (unsigned)tier < GC_GEMM_TIER_COUNT ? gemm_impls[tier].name : "unknown";
}

int gc_gemm_tier_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < GC_GEMM_TIER_COUNT; t++)
        if (strcmp(name, gemm_impls[t].name) == 0) return t;
    return -1;
}

gc_gemm_blocking gc_gemm_blocks(gc_gemm_tier tier) {
    const gemm_impl *im = &gemm_impls[gc_gemm_resolve(tier)];
    gc_gemm_blocking b = {im->mr, im->nr, im->mc, im->kc, im->nc};
    return b;
}

gc_gemm_ukernel gc_gemm_kernel_of(gc_gemm_tier tier) { return gemm_impls[gc_gemm_resolve(tier)].kernel; }

/* ---- workspace: two packing slots (double buffering), each a B block (KC x NC) and an
 * A chunk (MA x KC, MA = GEMM_MA_BLOCKS * MC rows), 16-float aligned ---- */

#define GEMM_MA_BLOCKS 4

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t clip_block(int64_t n, int64_t blk, int64_t mult) {
    return n >= blk ? blk : round_up(n, mult);
}

typedef struct gemm_dims { int64_t kc, nc, mc, ma, b_floats, a_floats; } gemm_dims;

static gemm_dims gemm_sizes(const gemm_impl *im, int64_t M, int64_t N, int64_t K) {
    gemm_dims d;
    d.kc = K >= im->kc ? im->kc : K;
    d.nc = clip_block(N, im->nc, im->nr);
    d.mc = clip_block(M, im->mc, im->mr);
    d.ma = clip_block(M, (int64_t)im->mc * GEMM_MA_BLOCKS, im->mr);
    d.b_floats = round_up(d.kc * d.nc, 16);
    d.a_floats = round_up(d.kc * d.ma, 16);
    return d;
}

size_t gc_gemm_workspace(gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, int nthreads) {
    (void)nthreads;
    const gemm_impl *im = &gemm_impls[gc_gemm_resolve(tier)];
    if (!im->kernel || M <= 0 || N <= 0 || K <= 0) return 0;
    gemm_dims d = gemm_sizes(im, M, N, K);
    return (size_t)(2 * (d.b_floats + d.a_floats));
}

/* ---- 4-float vectors (GNU vector extension: SSE2 on baseline x86-64) ---- */

typedef float gemm_v4 __attribute__((vector_size(16)));

static gemm_v4 load4(const float *p) { gemm_v4 v; memcpy(&v, p, sizeof v); return v; }
static void store4(float *p, gemm_v4 v) { memcpy(p, &v, sizeof v); }

#if defined(__clang__)
#define GEMM_SHUF(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
typedef int gemm_i4 __attribute__((vector_size(16)));
#define GEMM_SHUF(a, b, i, j, k, l) __builtin_shuffle(a, b, (gemm_i4){i, j, k, l})
#endif

/* ---- packing (zero-padded micro-panels) ----
 * Register-block widths are passed as constants through always-inline helpers so
 * the copies unroll and vectorise; pack_* dispatch on the tier's MR / NR. */

#define GEMM_INLINE static inline __attribute__((always_inline))

/* dst[p*w + r] = src[r*ld + p] for r < rows, p < kb (a transposing copy, 4x4 blocks in
 * registers); rows..w-1 zero. Packs op(A) for trans_a == 0 and op(B) for trans_b != 0. */
static void pack_t(const float *src, int64_t ld, int rows, int64_t kb, float *dst, int w) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *s0 = src + r * ld, *s1 = s0 + ld, *s2 = s1 + ld, *s3 = s2 + ld;
        float *d = dst + r;
        int64_t p = 0;
        for (; p + 4 <= kb; p += 4, d += 4 * w) {
            gemm_v4 a0 = load4(s0 + p), a1 = load4(s1 + p), a2 = load4(s2 + p), a3 = load4(s3 + p);
            gemm_v4 u0 = GEMM_SHUF(a0, a1, 0, 4, 1, 5), u1 = GEMM_SHUF(a0, a1, 2, 6, 3, 7);
            gemm_v4 u2 = GEMM_SHUF(a2, a3, 0, 4, 1, 5), u3 = GEMM_SHUF(a2, a3, 2, 6, 3, 7);
            store4(d, GEMM_SHUF(u0, u2, 0, 1, 4, 5));
            store4(d + w, GEMM_SHUF(u0, u2, 2, 3, 6, 7));
            store4(d + 2 * w, GEMM_SHUF(u1, u3, 0, 1, 4, 5));
            store4(d + 3 * w, GEMM_SHUF(u1, u3, 2, 3, 6, 7));
        }
        for (; p < kb; p++, d += w) {
            d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p];
        }
    }
    for (; r < rows; r++)
        for (int64_t p = 0; p < kb; p++) dst[p * w + r] = src[r * ld + p];
    for (r = rows; r < w; r++)
        for (int64_t p = 0; p < kb; p++) dst[p * w + r] = 0.0f;
}

/* dst (kb, mr): rows i0..i0+m-1, cols p0..p0+kb-1 of op(A); rows m..mr-1 zero. */
GEMM_INLINE void pack_a_w(const float *A, int64_t lda, int64_t i0, int64_t p0, int64_t kb,
                          int m, float *dst, const int MR) {
    for (int64_t p = 0; p < kb; p++, dst += MR) { /* trans_a: rows of A^T are contiguous */
        const float *s = A + (p0 + p) * lda + i0;
        if (m == MR)
            for (int r = 0; r < MR; r++) dst[r] = s[r];
        else
            for (int r = 0; r < MR; r++) dst[r] = r < m ? s[r] : 0.0f;
    }
}

static void pack_a(int ta, const float *A, int64_t lda, int64_t i0, int64_t p0, int64_t kb,
                   int m, int mr, float *dst) {
    if (!ta) { pack_t(A + i0 * lda + p0, lda, m, kb, dst, mr); return; }
    switch (mr) {
    case 6: pack_a_w(A, lda, i0, p0, kb, m, dst, 6); break;
    case 14: pack_a_w(A, lda, i0, p0, kb, m, dst, 14); break;
    default:
        for (int64_t p = 0; p < kb; p++)
            for (int r = 0; r < mr; r++) dst[p * mr + r] = r < m ? A[(p0 + p) * lda + i0 + r] : 0.0f;
    }
}

/* Row p of the packed op(B) block from a contiguous row s of nb floats (trans_b == 0):
 * panel jp gets columns jp*NR.. at dst + jp * pstride; the last panel is zero-padded. */
GEMM_INLINE void pack_b_row_w(const float *s, int64_t nb, float *dst, int64_t pstride,
                              const int NR) {
    int64_t j = 0;
    for (; j + NR <= nb; j += NR, dst += pstride) {
        /* B rows stream from memory: fetch 4 KB ahead (measured +10-15% for M <= 128) */
        __builtin_prefetch((const void *)((uintptr_t)(s + j) + 4096));
        for (int c = 0; c < NR; c++) dst[c] = s[j + c];
    }
    if (j < nb)
        for (int c = 0; c < NR; c++) dst[c] = j + c < nb ? s[j + c] : 0.0f;
}

static void pack_b_row(const float *s, int64_t nb, int nr, float *dst, int64_t pstride) {
    switch (nr) {
    case 8: pack_b_row_w(s, nb, dst, pstride, 8); break;
    case 16: pack_b_row_w(s, nb, dst, pstride, 16); break;
    case 32: pack_b_row_w(s, nb, dst, pstride, 32); break;
    default:
        for (int64_t j = 0; j < (nb + nr - 1) / nr * nr; j++)
            dst[j / nr * pstride + j % nr] = j < nb ? s[j] : 0.0f;
    }
}

/* ---- packed driver ---- */

/* One step = (jc, pc, ia): the B block (KC x NC) and an A chunk of up to MA rows packed into
 * slot (step & 1), then the chunk's (ic, jr, ir) tiles. A pool loop per step computes step
 * s's tiles and packs step s + 1 into the other slot: its join is the step's only wait.
 * Double buffering makes that enough: step s + 1 overwrites the slot of step s - 1, whose
 * tiles finished in the loop before. Tiles are numbered ic-major, then jr, then ir, so a
 * worker's own share is a band of C it keeps from one K block to the next. */
typedef struct gemm_step {
    int64_t jc, nb, npb, pc, kb, ia, ma;
    float   beta;         /* beta for the first K block, 1 after */
    const float *bias;    /* row bias on the last K block, else NULL */
    const float *res;     /* the job's residual on the last K block, else NULL */
    int    epi;           /* the job's epilogue on the last K block, else GC_EPI_NONE */
    float  *bp, *ap;      /* the step's packing slot */
    const float *apc;     /* op(A) panels the tiles read: ap, or the prepacked chunk */
} gemm_step;

typedef struct gemm_job {
    const gemm_impl *im;
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc, Mp;
    float alpha;
    int epi;                /* GC_EPI_* in the last K block's stores, with lo, hi */
    float lo, hi;
    const float *res;       /* residual (M x N at ldc) in the last K block's stores, or NULL */
    const float *A, *pa, *B;
    float *C;
    gemm_dims d;
    const gemm_step *cur;   /* tiles of this step, or NULL */
    const gemm_step *next;  /* packing of this step, or NULL */
    int64_t tiles;          /* tiles of cur */
    int64_t packs_b;        /* B packing items of next (rows, or panels when tb) */
} gemm_job;

static void gemm_step_make(const gemm_job *g, float *const bslot[2], float *const aslot[2], int64_t s_idx,
                           int64_t jc, int64_t pc, int64_t ia, float beta, const float *bias, gemm_step *st) {
    st->jc = jc;
    st->nb = g->N - jc < g->d.nc ? g->N - jc : g->d.nc;
    st->npb = (st->nb + g->im->nr - 1) / g->im->nr;
    st->pc = pc;
    st->kb = g->K - pc < g->d.kc ? g->K - pc : g->d.kc;
    st->ia = ia;
    st->ma = g->M - ia < g->d.ma ? g->M - ia : g->d.ma;
    st->beta = pc == 0 ? beta : 1.0f;
    st->bias = pc + st->kb == g->K ? bias : NULL;
    st->res = pc + st->kb == g->K ? g->res : NULL;
    st->epi = pc + st->kb == g->K ? g->epi : GC_EPI_NONE;
    st->bp = bslot[s_idx & 1];
    st->ap = aslot[s_idx & 1];
    st->apc = g->pa ? g->pa + pc * g->Mp + ia * st->kb : st->ap;
}

/* Tiles of step st: ic blocks of mc rows, each npb x ceil(rows / mr). */
static int64_t gemm_tiles(const gemm_job *g, const gemm_step *st) {
    const int64_t full = st->ma / g->d.mc, rest = st->ma % g->d.mc, mr = g->im->mr;
    return st->npb * (full * ((g->d.mc + mr - 1) / mr) + (rest + mr - 1) / mr);
}

static void gemm_tile(const gemm_job *g, const gemm_step *st, int64_t t) {
    const int mr = g->im->mr, nr = g->im->nr;
    const int64_t per_block = st->npb * ((g->d.mc + mr - 1) / mr), ib = t / per_block, r = t % per_block;
    const int64_t ic = ib * g->d.mc, mb = st->ma - ic < g->d.mc ? st->ma - ic : g->d.mc;
    const int64_t npa = (mb + mr - 1) / mr, jp = r / npa, ip = r % npa;
    const int64_t m = mb - ip * mr < mr ? mb - ip * mr : mr, n = st->nb - jp * nr < nr ? st->nb - jp * nr : nr;
    const int64_t at = (st->ia + ic + ip * mr) * g->ldc + st->jc + jp * nr;
    g->im->ekernel(st->kb, st->apc + ic * st->kb + ip * mr * st->kb, st->bp + jp * nr * st->kb, g->C + at, g->ldc,
                   g->alpha, st->beta, (int)m, (int)n, st->bias ? st->bias + st->ia + ic + ip * mr : NULL,
                   st->res ? st->res + at : NULL, st->epi, g->lo, g->hi);
}

static void gemm_pack(const gemm_job *g, const gemm_step *st, int64_t i) {
    const int mr = g->im->mr, nr = g->im->nr;
    if (i < g->packs_b) {
        if (!g->tb) { /* row by row: B is read sequentially */
            pack_b_row(g->B + (st->pc + i) * g->ldb + st->jc, st->nb, nr, st->bp + i * nr, nr * st->kb);
        } else {
            const int64_t n = st->nb - i * nr < nr ? st->nb - i * nr : nr;
            pack_t(g->B + (st->jc + i * nr) * g->ldb + st->pc, g->ldb, (int)n, st->kb, st->bp + i * nr * st->kb, nr);
        }
        return;
    }
    const int64_t ip = i - g->packs_b, m = st->ma - ip * mr < mr ? st->ma - ip * mr : mr;
    pack_a(g->ta, g->A, g->lda, st->ia + ip * mr, st->pc, st->kb, (int)m, mr, st->ap + ip * mr * st->kb);
}

static void gemm_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const gemm_job *g = arg;
    (void)worker;
    for (int64_t t = lo; t < hi; t++) {
        if (t < g->tiles) gemm_tile(g, g->cur, t);
        else gemm_pack(g, g->next, t - g->tiles);
    }
}

/* pa: op(A) prepacked by gc_gemm_pack_a (A unused), or NULL to pack per step. bias: row bias
 * added in the last K block's stores, or NULL; epi, lo, hi: the epilogue after it there. */
static void gemm_packed(gc_pool *pool, const gemm_impl *im, int ta, int tb, int64_t M, int64_t N, int64_t K,
                        float alpha, const float *A, int64_t lda, const float *pa, const float *B,
                        int64_t ldb, float beta, float *C, int64_t ldc, float *ws, const float *bias,
                        const float *res, int epi, float lo, float hi) {
    gemm_job g = {.im = im, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                  .Mp = round_up(M, im->mr), .alpha = alpha, .epi = epi, .lo = lo, .hi = hi, .res = res, .A = A, .pa = pa,
                  .B = B, .C = C, .d = gemm_sizes(im, M, N, K)};
    float *const bslot[2] = {ws, ws + g.d.b_floats};         /* (NC/nr panels, KC, nr) packed op(B) */
    float *const aslot[2] = {ws + 2 * g.d.b_floats,           /* (MA/mr panels, KC, mr) packed op(A) */
                             ws + 2 * g.d.b_floats + g.d.a_floats};
    int64_t work;
    const int par = gc_mul_i64(M, N, &work) || gc_mul_i64(work, K, &work) || work >= GEMM_PAR_MIN;
    gemm_step st[2];
    int64_t step = 0;
    for (int64_t jc = 0; jc < N; jc += g.d.nc)
        for (int64_t pc = 0; pc < K; pc += g.d.kc)
            for (int64_t ia = 0; ia < M; ia += g.d.ma, step++) {
                gemm_step *nx = &st[step & 1];
                gemm_step_make(&g, bslot, aslot, step, jc, pc, ia, beta, bias, nx);
                g.next = nx;
                g.packs_b = g.tb ? nx->npb : nx->kb;
                const int64_t packs = g.packs_b + (pa ? 0 : (nx->ma + im->mr - 1) / im->mr);
                gc_pool_for(par ? pool : NULL, g.tiles + packs, 4, 0, gemm_chunk, &g);
                g.cur = nx;
                g.tiles = gemm_tiles(&g, nx);
            }
    g.next = NULL;   /* the last step's tiles */
    gc_pool_for(par ? pool : NULL, g.tiles, 4, 0, gemm_chunk, &g);
}

/* ---- by columns, each worker packing its own op(B) (gc_gemm_prepacked_cols) ----
 * Chunk i of the loop is the i-th of nch equal runs of NR-column panels; per K block the
 * worker running it packs the chunk's columns into its slot (KC x cols, as NR-wide panels) and
 * multiplies every MR-row panel of the prepacked op(A) by them, B panel by B panel (the B
 * micro-panel stays in L1 while the A panels stream, as in gemm_packed's tiles). The same
 * micro-kernel on the same K blocks as gemm_packed: the same bits. */

#ifndef GEMM_DIRECT_K
#define GEMM_DIRECT_K 1024 /* K up to which the by-columns run reads B's rows in place (K blocks of
                              KC each read in place; ResNet-50's K = 512 layers on 28x28 were 4-9 %
                              faster so than packed, Zen 5) */
#endif

#define GEMM_COLS_SLOT ((int64_t)1 << 16) /* floats of a worker's slot: KC x (at most) 256 columns */

typedef struct gemm_cols_job {
    const gemm_impl *im;
    int64_t M, N, K, kc, ldb, ldc, Mp, npanels, nch;
    float alpha, beta, lo, hi;
    int epi;
    const float *pa, *B, *bias, *res;
    float *C;
    gc_slots slots;
    gc_gemm_pack_b_fn pack_b; /* or NULL: B's rows */
    const void *ctx;
} gemm_cols_job;

static void gemm_cols_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const gemm_cols_job *g = arg;
    const int mr = g->im->mr, nr = g->im->nr;
    float *bp = g->slots.base + (size_t)worker * g->slots.stride; /* (panels, kb, nr) packed op(B) */
    const int64_t nmb = (g->M + mr - 1) / mr, ntiles = g->npanels * nmb;
    for (int64_t ch = lo; ch < hi; ch++) {
        /* tiles [t0, t1) numbered panel-major (jp * nmb + row block): the chunk's panels [p0, p1),
           the first and last perhaps for only some of their row blocks */
        const int64_t t0 = ch * ntiles / g->nch, t1 = (ch + 1) * ntiles / g->nch;
        if (t0 >= t1) continue;
        const int64_t p0 = t0 / nmb, p1 = (t1 - 1) / nmb + 1;
        const int64_t j0 = p0 * nr, nb = (p1 * nr < g->N ? p1 * nr : g->N) - j0, np = p1 - p0;
        for (int64_t pc = 0; pc < g->K; pc += g->kc) {
            const int64_t kb = g->K - pc < g->kc ? g->K - pc : g->kc;
            const int last = pc + kb == g->K;
            const float beta = pc == 0 ? g->beta : 1.0f;
            const float *ap = g->pa + pc * g->Mp;       /* (Mp / mr panels, kb, mr) */
            /* K up to GEMM_DIRECT_K: full panels straight from B's rows, only a last partial one packed */
            const int direct = !g->pack_b && g->im->dkernel && g->K <= GEMM_DIRECT_K && g->N >= g->im->dmin_n;
            const int64_t jd = direct ? nb / nr : 0;  /* panels read in place */
            if (g->pack_b) g->pack_b(g->ctx, pc, kb, j0, nb, nr, bp);
            else if (jd < np)
                for (int64_t p = 0; p < kb; p++)
                    pack_b_row(g->B + (pc + p) * g->ldb + j0 + jd * nr, nb - jd * nr, nr, bp + jd * nr * kb + p * nr,
                               nr * kb);
            for (int64_t jp = 0; jp < jd; jp++) {
                const float *bj = g->B + pc * g->ldb + j0 + jp * nr;
                const int64_t tp = (p0 + jp) * nmb, ie = (t1 - tp < nmb ? t1 - tp : nmb) * mr;
                for (int64_t i = (t0 > tp ? t0 - tp : 0) * mr; i < ie && i < g->M; i += mr) {
                    const int m = (int)(g->M - i < mr ? g->M - i : mr);
                    const int64_t at = i * g->ldc + j0 + jp * nr;
                    g->im->dkernel(kb, ap + i * kb, bj, g->ldb, g->C + at, g->ldc, g->alpha, beta, m,
                                   last && g->bias ? g->bias + i : NULL, last && g->res ? g->res + at : NULL,
                                   last ? g->epi : GC_EPI_NONE, g->lo, g->hi);
                }
            }
            for (int64_t jp = jd; jp < np; jp++) {
                const int n = (int)(nb - jp * nr < nr ? nb - jp * nr : nr);
                const int64_t tp = (p0 + jp) * nmb, ie = (t1 - tp < nmb ? t1 - tp : nmb) * mr;
                for (int64_t i = (t0 > tp ? t0 - tp : 0) * mr; i < ie && i < g->M; i += mr) {
                    const int m = (int)(g->M - i < mr ? g->M - i : mr);
                    const int64_t at = i * g->ldc + j0 + jp * nr;
                    g->im->ekernel(kb, ap + i * kb, bp + jp * nr * kb, g->C + at, g->ldc, g->alpha, beta, m, n,
                                   last && g->bias ? g->bias + i : NULL, last && g->res ? g->res + at : NULL,
                                   last ? g->epi : GC_EPI_NONE, g->lo, g->hi);
                }
            }
        }
    }
}

size_t gc_gemm_cols_slot_floats(gc_gemm_tier tier) {
    return gemm_impls[gc_gemm_resolve(tier)].kernel ? (size_t)GEMM_COLS_SLOT : 0;
}

/* ---- M == 1 (a row vector times a matrix): unpacked, memory-bound paths ---- */

/* sum_p x[p] y[p] with 16 fixed partial sums (order independent of threads). */
static float dot(const float *x, const float *y, int64_t K) {
    gemm_v4 s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    int64_t p = 0;
    for (; p + 16 <= K; p += 16) {
        s0 += load4(x + p) * load4(y + p);
        s1 += load4(x + p + 4) * load4(y + p + 4);
        s2 += load4(x + p + 8) * load4(y + p + 8);
        s3 += load4(x + p + 12) * load4(y + p + 12);
    }
    gemm_v4 s = (s0 + s1) + (s2 + s3);
    float r = (s[0] + s[1]) + (s[2] + s[3]);
    for (; p < K; p++) r += x[p] * y[p];
    return r;
}

/* c[j] = alpha * sum_p a[p*sa] B[p, j] + beta * c[j], B rows contiguous (trans_b == 0);
 * c accumulates in place four rows of B at a time, one column chunk per pool item. */
typedef struct gemv_job {
    int64_t N, K, sa, ldb;
    float alpha, beta;
    const float *a, *B;
    float *c;
} gemv_job;

enum { GEMV_CHUNK = 2048 };

static void gemv_rows_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const gemv_job *g = arg;
    const int64_t K = g->K, sa = g->sa, ldb = g->ldb;
    const float alpha = g->alpha, *a = g->a;
    (void)worker;
    for (int64_t ch = lo; ch < hi; ch++) {
        const int64_t j0 = ch * GEMV_CHUNK, n = g->N - j0 < GEMV_CHUNK ? g->N - j0 : GEMV_CHUNK;
        float *cj = g->c + j0; /* (n) */
        for (int64_t j = 0; j < n; j++) cj[j] = g->beta == 0.0f ? 0.0f : g->beta * cj[j];
        int64_t p = 0;
        for (; p + 4 <= K; p += 4) {
            const float s0 = alpha * a[p * sa], s1 = alpha * a[(p + 1) * sa];
            const float s2 = alpha * a[(p + 2) * sa], s3 = alpha * a[(p + 3) * sa];
            const float *b0 = g->B + p * ldb + j0, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
            int64_t j = 0;
            for (; j + 4 <= n; j += 4) {
                gemm_v4 r = load4(cj + j) + ((s0 * load4(b0 + j) + s1 * load4(b1 + j)) +
                                             (s2 * load4(b2 + j) + s3 * load4(b3 + j)));
                memcpy(cj + j, &r, sizeof r);
            }
            for (; j < n; j++) cj[j] += (s0 * b0[j] + s1 * b1[j]) + (s2 * b2[j] + s3 * b3[j]);
        }
        for (; p < K; p++) {
            const float s = alpha * a[p * sa], *b = g->B + p * ldb + j0;
            for (int64_t j = 0; j < n; j++) cj[j] += s * b[j];
        }
    }
}

/* c[j] = alpha * dot(a, B[j, :]) + beta * c[j], a and B rows contiguous (trans_b != 0). */
static void gemv_dots_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const gemv_job *g = arg;
    (void)worker;
    for (int64_t j = lo; j < hi; j++) {
        const float r = g->alpha * dot(g->a, g->B + j * g->ldb, g->K);
        g->c[j] = g->beta == 0.0f ? r : r + g->beta * g->c[j];
    }
}

/* ---- entry points ---- */

/* C = beta * C (K == 0 or alpha == 0: A and B are not read). */
static void gemm_scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
}

/* M == 1 without packing; a[p * sa] is op(A)[0, p]. Returns 0 if the layout does not fit. */
static int gemm_row_vector(gc_pool *pool, int tb, int64_t N, int64_t K, float alpha, const float *a, int64_t sa,
                           const float *B, int64_t ldb, float beta, float *C) {
    int64_t work;
    if (!(gc_mul_i64(N, K, &work) || work >= GEMM_PAR_MIN)) pool = NULL;
    gemv_job g = {.N = N, .K = K, .sa = sa, .ldb = ldb, .alpha = alpha, .beta = beta, .a = a, .B = B, .c = C};
    if (!tb) {
        gc_pool_for(pool, (N + GEMV_CHUNK - 1) / GEMV_CHUNK, 1, 0, gemv_rows_chunk, &g);
        return 1;
    }
    if (sa == 1) { /* a chunk of rows of B: at least 64 KB of it */
        gc_pool_for(pool, N, K >= 16384 ? 1 : 16384 / K, 0, gemv_dots_chunk, &g);
        return 1;
    }
    return 0;
}

void gc_gemm(gc_pool *pool, gc_gemm_tier tier, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
             float *C, int64_t ldc, float *workspace) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { gemm_scale_c(M, N, beta, C, ldc); return; }
    const gc_gemm_tier t = gc_gemm_resolve(tier);
    if (t == GC_GEMM_REFERENCE) {
        gc_gemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M == 1 && gemm_row_vector(pool, trans_b, N, K, alpha, A, trans_a ? lda : 1, B, ldb, beta, C))
        return;
    gemm_packed(pool, &gemm_impls[t], trans_a, trans_b, M, N, K, alpha, A, lda, NULL, B, ldb, beta, C,
                ldc, workspace, NULL, NULL, GC_EPI_NONE, 0.0f, 0.0f);
}

/* ---- prepacked op(A): per K block of KC, round_up(M, MR) rows as MR-row panels ---- */

size_t gc_gemm_pack_a_size(gc_gemm_tier tier, int64_t M, int64_t K) {
    const gemm_impl *im = &gemm_impls[gc_gemm_resolve(tier)];
    if (M <= 0 || K <= 0) return 0;
    int64_t rows = (!im->kernel || M == 1) ? M : (M > INT64_MAX - im->mr ? -1 : round_up(M, im->mr));
    size_t n;
    if (rows < 0 || gc_mul_size((size_t)rows, (size_t)K, &n)) return 0;
    return n;
}

void gc_gemm_pack_a(gc_gemm_tier tier, int trans_a, int64_t M, int64_t K, const float *A,
                    int64_t lda, float *packed) {
    const gc_gemm_tier t = gc_gemm_resolve(tier);
    const gemm_impl *im = &gemm_impls[t];
    if (M <= 0 || K <= 0) return;
    if (!im->kernel || M == 1) { /* dense op(A), M x K row-major */
        for (int64_t i = 0; i < M; i++)
            for (int64_t p = 0; p < K; p++)
                packed[i * K + p] = trans_a ? A[p * lda + i] : A[i * lda + p];
        return;
    }
    const int mr = im->mr;
    const int64_t Mp = round_up(M, mr), npa = Mp / mr;
    for (int64_t pc = 0; pc < K; pc += im->kc) {
        const int64_t kb = K - pc < im->kc ? K - pc : im->kc;
        for (int64_t ip = 0; ip < npa; ip++) {
            int64_t m = M - ip * mr < mr ? M - ip * mr : mr;
            pack_a(trans_a, A, lda, ip * mr, pc, kb, (int)m, mr, packed + pc * Mp + ip * mr * kb);
        }
    }
}

/* C[i, :] += bias[i] (the unfused paths). */
static void add_row_bias(int64_t M, int64_t N, const float *bias, float *C, int64_t ldc) {
    for (int64_t i = 0; bias && i < M; i++)
        for (int64_t j = 0; j < N; j++) C[i * ldc + j] += bias[i];
}

/* The epilogue over one row of C, with the activation loops' comparisons (the portable
 * micro-kernel's stores and the unfused paths). */
static inline void epi_row(float *c, int64_t n, int epi, float lo, float hi) {
    if (epi == GC_EPI_RELU)
        for (int64_t j = 0; j < n; j++) c[j] = c[j] > 0.0f ? c[j] : 0.0f;
    else if (epi == GC_EPI_CLAMP)
        for (int64_t j = 0; j < n; j++) {
            const float u = c[j] < lo ? lo : c[j];
            c[j] = u > hi ? hi : u;
        }
}

/* The unfused paths' residual (res at ldc, or NULL) and epilogue. */
static void epi_rows(int64_t M, int64_t N, float *C, int64_t ldc, const float *res, int epi, float lo, float hi) {
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; res && j < N; j++) C[i * ldc + j] += res[i * ldc + j];
        epi_row(C + i * ldc, N, epi, lo, hi);
    }
}

void gc_gemm_prepacked_epi(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *packed_a, int trans_b, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc, float *workspace, const float *row_bias, const float *res,
                           int epi, float lo, float hi) {
    if (M <= 0 || N <= 0) return;
    if (epi != GC_EPI_RELU && epi != GC_EPI_CLAMP) epi = GC_EPI_NONE;
    const gc_gemm_tier t = gc_gemm_resolve(tier);
    if (K <= 0 || alpha == 0.0f) {
        gemm_scale_c(M, N, beta, C, ldc);
    } else if (t == GC_GEMM_REFERENCE) {
        gc_gemm_ref(0, trans_b, M, N, K, alpha, packed_a, K, B, ldb, beta, C, ldc);
    } else if (!(M == 1 && gemm_row_vector(pool, trans_b, N, K, alpha, packed_a, 1, B, ldb, beta, C))) {
        gemm_packed(pool, &gemm_impls[t], 0, trans_b, M, N, K, alpha, NULL, 0, packed_a, B, ldb, beta, C,
                    ldc, workspace, row_bias, res, epi, lo, hi);
        return;
    }
    add_row_bias(M, N, row_bias, C, ldc);
    epi_rows(M, N, C, ldc, res, epi, lo, hi);
}

/* The by-columns run (pack_b NULL: op(B) = B); 0 where it does not apply. */
static int gemm_cols(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *packed_a, const float *B, int64_t ldb, gc_gemm_pack_b_fn pack_b, const void *ctx,
                     float beta, float *C, int64_t ldc, gc_slots slots, const float *row_bias, const float *res,
                     int epi, float lo, float hi) {
    const gemm_impl *im = &gemm_impls[gc_gemm_resolve(tier)];
    const int T = gc_pool_threads(pool);
    if (M <= 1 || N <= 0 || K <= 0 || alpha == 0.0f || !im->kernel || !slots.base || slots.n < 1 ||
        slots.stride < (size_t)GEMM_COLS_SLOT)
        return 0;
    if (epi != GC_EPI_RELU && epi != GC_EPI_CLAMP) epi = GC_EPI_NONE;
    const int64_t kc = K >= im->kc ? im->kc : K, npanels = (N + im->nr - 1) / im->nr;
    int64_t work, per = GEMM_COLS_SLOT / (kc * im->nr); /* panels a slot holds */
    const int par = gc_mul_i64(M, N, &work) || gc_mul_i64(work, K, &work) || work >= GEMM_PAR_MIN;
    const int64_t W = par ? (T < slots.n ? T : slots.n) : 1;
    /* W equal shares of equal chunks of the (panel, row block) tiles: worker w's are the w-th W-th.
       A chunk's tiles touch at most ceil(npanels / nch) + 1 panels, so chunks hold per - 1 panels'
       tiles at most. Split by tiles, not whole panels: ResNet-50's 14x14 1x1 layers have 13 panels
       of 16 pixels, 6 + 7 as whole panels on 2 threads (one thread 8 % longer than the mean) */
    per--; /* >= 7: kc <= 256, nr <= 32 */
    int64_t nch = W * ((npanels + W * per - 1) / (W * per));
    const int64_t ntiles = npanels * ((M + im->mr - 1) / im->mr);
    if (nch > ntiles) nch = ntiles;
    gemm_cols_job g = {.im = im, .M = M, .N = N, .K = K, .kc = kc, .ldb = ldb, .ldc = ldc, .Mp = round_up(M, im->mr),
                       .npanels = npanels, .nch = nch, .alpha = alpha, .beta = beta, .lo = lo, .hi = hi, .epi = epi,
                       .pa = packed_a, .B = B, .bias = row_bias, .res = res, .C = C, .slots = slots, .pack_b = pack_b, .ctx = ctx};
    gc_pool_for(par ? pool : NULL, nch, 1, (int)W, gemm_cols_chunk, &g);
    return 1;
}

void gc_gemm_prepacked_cols(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *packed_a, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                            float *workspace, gc_slots slots, const float *row_bias, const float *res, int epi,
                            float lo, float hi) {
    if (!gemm_cols(pool, tier, M, N, K, alpha, packed_a, B, ldb, NULL, NULL, beta, C, ldc, slots, row_bias, res, epi,
                   lo, hi))
        gc_gemm_prepacked_epi(pool, tier, M, N, K, alpha, packed_a, 0, B, ldb, beta, C, ldc, workspace, row_bias, res,
                              epi, lo, hi);
}

int gc_gemm_prepacked_cols_fn(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                              const float *packed_a, gc_gemm_pack_b_fn pack_b, const void *ctx, float beta, float *C,
                              int64_t ldc, gc_slots slots, const float *row_bias, const float *res, int epi, float lo,
                              float hi) {
    return pack_b && gemm_cols(pool, tier, M, N, K, alpha, packed_a, NULL, 0, pack_b, ctx, beta, C, ldc, slots,
                               row_bias, res, epi, lo, hi);
}

void gc_gemm_prepacked(gc_pool *pool, gc_gemm_tier tier, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *packed_a, int trans_b, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc, float *workspace, const float *row_bias) {
    gc_gemm_prepacked_epi(pool, tier, M, N, K, alpha, packed_a, trans_b, B, ldb, beta, C, ldc, workspace, row_bias,
                          NULL, GC_EPI_NONE, 0.0f, 0.0f);
}

/* ---- portable micro-kernel 6x8 (GNU vector extension; SSE2 on baseline x86-64) ----
 * Inlined into the plain entry (epi GC_EPI_NONE, folded away) and the one with an epilogue,
 * which stores the activation loops' comparisons element by element. */

GEMM_INLINE void kernel_6x8(int64_t k, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                            float beta, int m, int n, const float *bias, const float *res, int epi, float lo,
                            float hi) {
    enum { MR = 6, NR = 8 };
    gemm_v4 acc[MR][2]; /* (MR, NR) accumulator tile */
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = (gemm_v4){0, 0, 0, 0};
    for (int64_t p = 0; p < k; p++, a += MR, b += NR) {
        gemm_v4 b0, b1;
        memcpy(&b0, b, sizeof b0);
        memcpy(&b1, b + 4, sizeof b1);
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {
            gemm_v4 ai = {a[i], a[i], a[i], a[i]};
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
    }
    float t[MR][NR];
    memcpy(t, acc, sizeof t);
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) ci[j] = alpha * t[i][j];
        else
            for (int j = 0; j < n; j++) ci[j] = alpha * t[i][j] + beta * ci[j];
        if (bias)
            for (int j = 0; j < n; j++) ci[j] += bias[i];
        if (res)
            for (int j = 0; j < n; j++) ci[j] += res[i * ldc + j];
        epi_row(ci, n, epi, lo, hi);
    }
}

void gc_gemm_ukernel_portable_6x8(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta, int m, int n, const float *bias) {
    kernel_6x8(k, a, b, c, ldc, alpha, beta, m, n, bias, NULL, GC_EPI_NONE, 0.0f, 0.0f);
}

void gc_gemm_ukernel_portable_6x8_epi(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                      float alpha, float beta, int m, int n, const float *bias,
                                      const float *res, int epi, float lo, float hi) {
    kernel_6x8(k, a, b, c, ldc, alpha, beta, m, n, bias, res, epi, lo, hi);
}
