/* binary.c - element-wise joins of two tensors with NumPy broadcasting:
 *   add  y = a + b          da = reduce(dy),      db = reduce(dy)
 *   mul  y = a * b          da = reduce(dy * b),  db = reduce(dy * a)
 *   sub  y = a - b          da = reduce(dy),      db = reduce(-dy)
 *   div  y = a / b          da = reduce(dy / b),  db = reduce(-dy a / b^2)
 * where reduce sums over the dimensions along which that input was broadcast.
 * div is IEEE division: a zero divisor gives inf or NaN, never an error.
 * Shapes are aligned at the last dimension (an input of fewer dimensions is
 * padded with leading 1s); each pair of sizes is equal or one of them is 1. */
#include "layer.h"
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- broadcasting */

/* s right-aligned into 4 dimensions (leading 1s). */
static void align4(const gc_shape *s, int64_t d[4]) {
    for (int k = 0; k < 4; k++) d[k] = 1;
    for (int k = 0; k < s->ndim; k++) d[4 - s->ndim + k] = s->d[k];
}

gc_status gc_broadcast_shape(const char *kind, const gc_shape *in, int n, gc_shape *out) {
    int64_t o[4] = {1, 1, 1, 1};
    int nd = 1;
    for (int i = 0; i < n; i++) {
        int64_t d[4];
        align4(&in[i], d);
        if (in[i].ndim > nd) nd = in[i].ndim;
        for (int k = 0; k < 4; k++) {
            if (d[k] < 1) goto bad;
            if (o[k] == 1) o[k] = d[k];
            else if (d[k] != 1 && d[k] != o[k]) goto bad;
        }
    }
    *out = (gc_shape){nd, {1, 1, 1, 1}};
    for (int k = 0; k < nd; k++) out->d[k] = o[4 - nd + k];
    return GC_OK;
bad:;
    char b[256];
    size_t len = 0;
    b[0] = 0;
    for (int i = 0; i < n && len < sizeof b; i++) {
        char t[96];
        gc_shape_format(t, sizeof t, &in[i]);
        len += (size_t)snprintf(b + len, sizeof b - len, "%s%s", i ? " and " : "", t);
    }
    return gc_error(GC_ERR_SHAPE, "%s: shapes %s do not broadcast (sizes must be equal or 1)", kind, b);
}

/* Element strides of an input in the 4-D output index space (0 along broadcast dimensions). */
static void bstrides(const gc_shape *in, int64_t st[4]) {
    int64_t d[4], s = 1;
    align4(in, d);
    for (int k = 3; k >= 0; k--) {
        st[k] = d[k] == 1 ? 0 : s;
        s *= d[k];
    }
}

static int same_shape(const gc_shape *a, const gc_shape *b) {
    return gc_shape_numel(a) == gc_shape_numel(b) && a->ndim == b->ndim &&
           !memcmp(a->d, b->d, sizeof a->d);
}

/* Folds the trailing dimensions that both inputs walk as one run (each input contiguous along
 * them, or broadcast along all of them) into dimension 3, leaving 1s in their place, so the
 * inner loop is long and unit-stride (a squeeze-excitation gate (N,C,1,1) times (N,C,H,W):
 * N*C rows of H*W); dimensions of size 1 fold always. Returns the new length of dimension 3. */
static int64_t merge_rows(int64_t o[4], int64_t sa[4], int64_t sb[4]) {
    int64_t W = o[3];
    for (int q = 2; q >= 0 && (o[q] == 1 || (sa[q] == W * sa[3] && sb[q] == W * sb[3])); q--) {
        W *= o[q];
        o[q] = 1;
    }
    o[3] = W;
    return W;
}

/* ---------------------------------------------------------------- forward */

typedef enum bin_op { BIN_ADD, BIN_MUL, BIN_SUB, BIN_DIV } bin_op;

/* LOOP(expr) for the expression of op in float av, bv (one loop per op, so each vectorises). */
#define BIN_OP_LOOP(op, LOOP)                                                                      \
    switch (op) {                                                                                  \
    case BIN_ADD: LOOP(av + bv) break;                                                             \
    case BIN_MUL: LOOP(av * bv) break;                                                             \
    case BIN_SUB: LOOP(av - bv) break;                                                             \
    default: LOOP(av / bv) break;                                                                  \
    }

typedef struct bin_job {
    bin_op op;
    const float *a, *b;             /* (ins[0]), (ins[1]) */
    float *y;                       /* (out) */
    int64_t o[4], sa[4], sb[4], W;  /* broadcast: output dims, input strides, row length */
} bin_job;

/* The vector loops below unrolled four times: one 16-byte vector a step made a loop of some 20
 * bytes whose speed depended on where the link put it (on Zen 3, EfficientNet-B0's gates took
 * 0.37 or 0.43 ms as it crossed a 64-byte line or not, with no change to this code). */
#define BIN_UNROLL _Pragma("GCC unroll 4")

/* y[i] = a[i] op b[i] for i in [lo, hi) (both inputs of the output's shape). */
static void same_shape_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const bin_job *job = arg;
    const float *a = job->a, *b = job->b;
    float *y = job->y;
    (void)worker;
#define SAME_LOOP(expr) BIN_UNROLL for (int64_t i = lo; i < hi; i++) { const float av = a[i], bv = b[i]; y[i] = (expr); }
    BIN_OP_LOOP(job->op, SAME_LOOP)
#undef SAME_LOOP
}

/* Rows r in [lo, hi) of the broadcast 4-D index space, W elements each (a unit-stride or
 * broadcast inner loop per case, so the compiler vectorises the common ones). */
static void broadcast_rows_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const bin_job *job = arg;
    const int64_t *o = job->o, *sa = job->sa, *sb = job->sb, W = job->W;
    (void)worker;
#define ROWS_LOOP(expr)                                                                            \
    for (int64_t r = lo; r < hi; r++) {                                                            \
        const int64_t i0 = r / (o[1] * o[2]), i1 = r / o[2] % o[1], i2 = r % o[2];                 \
        const float *ar = job->a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];                           \
        const float *br = job->b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];                           \
        float *yr = job->y + r * W;                                                                \
        if (sa[3] == 1 && sb[3] == 1)                                                              \
            BIN_UNROLL for (int64_t j = 0; j < W; j++) { const float av = ar[j], bv = br[j]; yr[j] = (expr); } \
        else if (sa[3] == 1)                                                                       \
            BIN_UNROLL for (int64_t j = 0; j < W; j++) { const float av = ar[j], bv = br[0]; yr[j] = (expr); } \
        else if (sb[3] == 1)                                                                       \
            BIN_UNROLL for (int64_t j = 0; j < W; j++) { const float av = ar[0], bv = br[j]; yr[j] = (expr); } \
        else                                                                                       \
            for (int64_t j = 0; j < W; j++) { const float av = ar[0], bv = br[0]; yr[j] = (expr); } \
    }
    BIN_OP_LOOP(job->op, ROWS_LOOP)
#undef ROWS_LOOP
}

/* y[i] = op(a[i'], b[i'']) over the broadcast 4-D index space. */
static void broadcast_forward(const gc_layer_ctx *c, bin_op op) {
    bin_job job = {.op = op, .a = c->xs[0], .b = c->xs[1], .y = c->y};
    const int64_t n = gc_shape_numel(&c->out);
    if (same_shape(&c->ins[0], &c->out) && same_shape(&c->ins[1], &c->out)) {
        gc_pool_for(c->pool, n, gc_grain(n, 1, GC_SERIAL_UNITS), 0, same_shape_chunk, &job);
        return;
    }
    align4(&c->out, job.o);
    bstrides(&c->ins[0], job.sa);
    bstrides(&c->ins[1], job.sb);
    job.W = merge_rows(job.o, job.sa, job.sb);
    const int64_t rows = job.o[0] * job.o[1] * job.o[2];
    /* a unit per element read or written (3): EfficientNet's 7x7 squeeze-excitation gates (56 K
     * elements) split over the threads */
    gc_pool_for(c->pool, rows, gc_grain(rows, 3.0 * (double)job.W, GC_SERIAL_UNITS), 0, broadcast_rows_chunk, &job);
}

/* --------------------------------------------------------------- backward */

/* What one output position passes back to input k (g = dy, a and b the inputs there). */
typedef enum grad_term { G_DY, G_NEG_DY, G_DY_A, G_DY_B, G_DY_OVER_B, G_DIV_DB } grad_term;

/* LOOP(expr) for the term's expression in double g, av, bv (unused reads are dead code). */
#define REDUCE_TERM(LOOP)                                                                          \
    switch (term) {                                                                                \
    case G_DY: { LOOP(g) } break;                                                                  \
    case G_NEG_DY: { LOOP(-g) } break;                                                             \
    case G_DY_A: { LOOP(g * av) } break;                                                           \
    case G_DY_B: { LOOP(g * bv) } break;                                                           \
    case G_DY_OVER_B: { LOOP(g / bv) } break;                                                      \
    default: { LOOP(-g * av / (bv * bv)) } break;                                                  \
    }

typedef struct reduce_job {
    grad_term term;
    const float *dy, *a, *b; /* (out), (ins[0]), (ins[1]) */
    float *dx;               /* (ins[k]) */
    int64_t o[4], d[4], sa[4], sb[4], st[4]; /* output dims, input k's dims, a, b and dy strides */
    int64_t rep[4];          /* output positions along q that read one input position */
} reduce_job;

/* Input k broadcast: dx[i] for i in [lo, hi), the sum of its terms over rep positions. */
static void reduce_sum_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const reduce_job *job = arg;
    const grad_term term = job->term;
    const float *dy = job->dy, *a = job->a, *b = job->b;
    float *dx = job->dx;
    const int64_t *d = job->d, *sa = job->sa, *sb = job->sb, *st = job->st, *rep = job->rep;
    (void)worker;
#define SUM_LOOP(EXPR)                                                                             \
    for (int64_t i = lo; i < hi; i++) {                                                            \
        const int64_t c0 = i / (d[1] * d[2] * d[3]), c1 = i / (d[2] * d[3]) % d[1], c2 = i / d[3] % d[2], \
                      c3 = i % d[3];                                                               \
        double acc = 0;                                                                            \
        for (int64_t u0 = 0; u0 < rep[0]; u0++)                                                    \
            for (int64_t u1 = 0; u1 < rep[1]; u1++)                                                \
                for (int64_t u2 = 0; u2 < rep[2]; u2++)                                            \
                    for (int64_t u3 = 0; u3 < rep[3]; u3++) {                                      \
                        const int64_t p0 = d[0] == 1 ? u0 : c0, p1 = d[1] == 1 ? u1 : c1,          \
                                      p2 = d[2] == 1 ? u2 : c2, p3 = d[3] == 1 ? u3 : c3;          \
                        const double g = dy[p0 * st[0] + p1 * st[1] + p2 * st[2] + p3 * st[3]];    \
                        const double av = a[p0 * sa[0] + p1 * sa[1] + p2 * sa[2] + p3 * sa[3]];    \
                        const double bv = b[p0 * sb[0] + p1 * sb[1] + p2 * sb[2] + p3 * sb[3]];    \
                        (void)av; (void)bv;                                                        \
                        acc += (EXPR);                                                             \
                    }                                                                              \
        dx[i] = (float)acc;                                                                        \
    }
    REDUCE_TERM(SUM_LOOP)
#undef SUM_LOOP
}

/* Input k of the output's shape, rows merged (merge_rows: W = o[3] elements a row, a and b
 * unit-stride or broadcast along it): dx at rows [lo, hi). The terms but G_DIV_DB in float:
 * a product or quotient of two floats rounded once from double is the float operation's
 * result (double's 53 bits make the rounding innocuous), so the bits of the double formula
 * (which the loop took per element, strides and all, before), and the loops vectorise
 * (ResNet-50's adds, EfficientNet's gates). */
static void reduce_rows_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const reduce_job *job = arg;
    const grad_term term = job->term;
    const int64_t *o = job->o, *sa = job->sa, *sb = job->sb, W = o[3];
    (void)worker;
    for (int64_t r = lo; r < hi; r++) {
        const int64_t i0 = r / (o[1] * o[2]), i1 = r / o[2] % o[1], i2 = r % o[2];
        const float *ar = job->a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const float *br = job->b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        const float *g = job->dy + r * W;
        float *dx = job->dx + r * W;
        const float *other = term == G_DY_A ? ar : br; /* G_DY_A, G_DY_B, G_DY_OVER_B */
        const int64_t so = term == G_DY_A ? sa[3] : sb[3];
        switch (term) {
        case G_DY: memcpy(dx, g, (size_t)W * sizeof(float)); break;
        case G_NEG_DY: for (int64_t j = 0; j < W; j++) dx[j] = -g[j]; break;
        case G_DY_A:
        case G_DY_B:
            if (so) for (int64_t j = 0; j < W; j++) dx[j] = g[j] * other[j];
            else for (int64_t j = 0; j < W; j++) dx[j] = g[j] * other[0];
            break;
        case G_DY_OVER_B:
            if (so) for (int64_t j = 0; j < W; j++) dx[j] = g[j] / other[j];
            else for (int64_t j = 0; j < W; j++) dx[j] = g[j] / other[0];
            break;
        default:
            for (int64_t j = 0; j < W; j++) {
                const double gv = g[j], av = ar[j * sa[3]], bv = br[j * sb[3]];
                dx[j] = (float)(-gv * av / (bv * bv));
            }
            break;
        }
    }
}

/* Input k broadcast along trailing dimensions only (a squeeze-excitation gate (N, C, 1, 1), a
 * per-channel bias), the other input of the output's shape: dx[i] sums the terms of the L
 * output positions i L .. i L + L - 1, in double, eight running sums (position j to sum
 * j mod 8, added pairwise at the end, gc_sum_f64's order) so the loop vectorises; the general
 * reduce_sum_chunk adds them one after another, a chain that waited ~4 cycles on each
 * (EfficientNet-B0's gates: 3.6 ms of its backward on Zen 3). */
typedef struct reduce_tail_job {
    grad_term term;
    const float *dy, *full, *bc; /* (out), the other input (out), input k (its shape) */
    float *dx;
    int64_t L;
} reduce_tail_job;

static void reduce_tail_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const reduce_tail_job *job = arg;
    const grad_term term = job->term;
    const int64_t L = job->L;
    (void)worker;
    for (int64_t i = lo; i < hi; i++) {
        const float *g = job->dy + i * L, *f = job->full + i * L;
        const double bv = job->bc[i];
        double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t j = 0;
#define TAIL_LOOP(EXPR)                                                                            \
        for (; j + 8 <= L; j += 8)                                                                 \
            for (int q = 0; q < 8; q++) { const double gv = g[j + q], fv = f[j + q]; (void)fv; s[q] += (EXPR); } \
        for (int q = 0; j < L; j++, q++) { const double gv = g[j], fv = f[j]; (void)fv; s[q] += (EXPR); }
        switch (term) {
        case G_DY: TAIL_LOOP(gv) break;
        case G_NEG_DY: TAIL_LOOP(-gv) break;
        case G_DY_A: /* input k is b: dy a */
        case G_DY_B: TAIL_LOOP(gv * fv) break;
        case G_DY_OVER_B: TAIL_LOOP(gv / fv) break; /* input k is a, f is b */
        default: TAIL_LOOP(-gv * fv / (bv * bv)) break; /* input k is b, f is a */
        }
#undef TAIL_LOOP
        job->dx[i] = (float)(((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])));
    }
}

/* dx (input k's shape) = the sum, over the output positions that read each element, of the
 * term (in double). Where input k has the output's shape there is nothing to sum: each
 * element is its one term rounded to float (add, sub and mul: the float result itself). */
static void reduce_grad(const gc_layer_ctx *c, int k, grad_term term) {
    if (!c->dxs[k]) return;
    reduce_job job = {.term = term, .dy = c->dy, .a = c->xs[0], .b = c->xs[1], .dx = c->dxs[k]};
    const int64_t n = gc_shape_numel(&c->ins[k]), total = gc_shape_numel(&c->out);
    int64_t s = 1;
    align4(&c->out, job.o);
    align4(&c->ins[k], job.d);
    bstrides(&c->ins[0], job.sa);
    bstrides(&c->ins[1], job.sb);
    for (int q = 3; q >= 0; q--) job.st[q] = s, s *= job.o[q]; /* output strides */
    if (same_shape(&c->ins[k], &c->out)) {
        const int64_t W = merge_rows(job.o, job.sa, job.sb), rows = job.o[0] * job.o[1] * job.o[2];
        gc_pool_for(c->pool, rows, gc_grain(rows, (double)W, GC_SERIAL_UNITS), 0, reduce_rows_chunk, &job);
        return;
    }
    /* broadcast along trailing dimensions only, the other input full: dimensions [0, q) input
       k's own, [q, 4) of size 1 in it */
    int q = 4;
    while (q > 0 && job.d[q - 1] == 1) q--;
    int tail = same_shape(&c->ins[1 - k], &c->out) && (term != G_DY_B || k == 0) && (term != G_DY_A || k == 1) &&
               (term != G_DIV_DB || k == 1) && (term != G_DY_OVER_B || k == 0);
    for (int p = 0; p < q; p++) tail &= job.d[p] == job.o[p];
    if (tail) {
        reduce_tail_job tj = {term, c->dy, c->xs[1 - k], c->xs[k], c->dxs[k], total / n};
        gc_pool_for(c->pool, n, gc_grain(n, (double)tj.L, GC_SERIAL_UNITS), 0, reduce_tail_chunk, &tj);
        return;
    }
    for (int q = 0; q < 4; q++) job.rep[q] = job.d[q] == 1 ? job.o[q] : 1;
    gc_pool_for(c->pool, n, gc_grain(n, (double)total / (double)n, GC_SERIAL_UNITS), 0, reduce_sum_chunk, &job);
}

static gc_status add_infer(const gc_layer *l, const gc_shape *in, gc_shape *out) {
    return gc_broadcast_shape(gc_layer_kind_name(l->kind), in, 2, out);
}

/* ---------------------------------------------------------------- add */

/* ---------------------------------------------------------------- add with a fused activation
 * The planner fuses the activation after a join into it (GC_TRAIT_EPILOGUE: a ResNet block's
 * ReLU after its residual add), so the sum is not written and read again by a layer of its own
 * (into a buffer last written, in ResNet-50, by a layer split over the threads differently).
 * Same shapes: the activation's values as y is stored (the activation loops' comparisons, the
 * bits the layer gives), then a ReLU's mask bits from y; broadcast: the activation after. */

typedef struct add_epi_job {
    const float *a, *b; /* (n) each */
    float *y;           /* (n) */
    int op;             /* GC_EPI_RELU or GC_EPI_CLAMP */
    float lo, hi;
} add_epi_job;

typedef float add_v4 __attribute__((vector_size(16)));
typedef int32_t add_i4 __attribute__((vector_size(16)));

static void add_epi_chunk(void *arg, int64_t lo, int64_t hi, int worker) {
    const add_epi_job *j = arg;
    const float *a = j->a, *b = j->b;
    float *y = j->y;
    (void)worker;
    if (j->op == GC_EPI_RELU) {
        int64_t i = lo;
        for (; i + 4 <= hi; i += 4) { /* s > 0 ? s : +0 without branches (NaN and -0: +0) */
            add_v4 va, vb;
            memcpy(&va, a + i, sizeof va);
            memcpy(&vb, b + i, sizeof vb);
            const add_v4 s = va + vb;
            const add_i4 r = (add_i4)s & (s > (add_v4){0.0f, 0.0f, 0.0f, 0.0f});
            memcpy(y + i, &r, sizeof r);
        }
        for (; i < hi; i++) {
            const float s = a[i] + b[i];
            y[i] = s > 0.0f ? s : 0.0f;
        }
    } else
        for (int64_t i = lo; i < hi; i++) {
            const float s = a[i] + b[i], u = s < j->lo ? j->lo : s;
            y[i] = u > j->hi ? j->hi : u;
        }
}

static void add_forward(const gc_layer_ctx *c) {
    const int64_t n = gc_shape_numel(&c->out);
    const int op = c->epi.op;
    if ((op == GC_EPI_RELU || op == GC_EPI_CLAMP) && same_shape(&c->ins[0], &c->out) && same_shape(&c->ins[1], &c->out)) {
        add_epi_job j = {c->xs[0], c->xs[1], c->y, op, c->epi.lo, c->epi.hi};
        gc_pool_for(c->pool, n, gc_grain(n, 1, GC_SERIAL_UNITS), 0, add_epi_chunk, &j);
        gc_epilogue_run(c->pool, c->kernels, &c->epi, c->y, n, 1);
        return;
    }
    broadcast_forward(c, BIN_ADD);
    gc_epilogue_run(c->pool, c->kernels, &c->epi, c->y, n, 0);
}

static void add_backward(const gc_layer_ctx *c) {
    reduce_grad(c, 0, G_DY);
    reduce_grad(c, 1, G_DY);
}

const gc_layer_ops gc_add_ops = {
    .name = "add",
    .min_inputs = 2, .max_inputs = 2,
    .traits = GC_TRAIT_EPILOGUE | GC_TRAIT_SUM,
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = add_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = add_forward,
    .backward = add_backward,
};

/* ---------------------------------------------------------------- mul */

static void mul_forward(const gc_layer_ctx *c) { broadcast_forward(c, BIN_MUL); }

static void mul_backward(const gc_layer_ctx *c) {
    reduce_grad(c, 0, G_DY_B);
    reduce_grad(c, 1, G_DY_A);
}

const gc_layer_ops gc_mul_ops = {
    .name = "mul",
    .min_inputs = 2, .max_inputs = 2,
    .backward_reads = GC_READS_X,
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = add_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = mul_forward,
    .backward = mul_backward,
};

/* ---------------------------------------------------------------- sub */

static void sub_forward(const gc_layer_ctx *c) { broadcast_forward(c, BIN_SUB); }

static void sub_backward(const gc_layer_ctx *c) {
    reduce_grad(c, 0, G_DY);
    reduce_grad(c, 1, G_NEG_DY);
}

const gc_layer_ops gc_sub_ops = {
    .name = "sub",
    .min_inputs = 2, .max_inputs = 2,
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = add_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = sub_forward,
    .backward = sub_backward,
};

/* ---------------------------------------------------------------- div */

static void div_forward(const gc_layer_ctx *c) { broadcast_forward(c, BIN_DIV); }

static void div_backward(const gc_layer_ctx *c) {
    reduce_grad(c, 0, G_DY_OVER_B);
    reduce_grad(c, 1, G_DIV_DB);
}

const gc_layer_ops gc_div_ops = {
    .name = "div",
    .min_inputs = 2, .max_inputs = 2,
    .backward_reads = GC_READS_X,
    .check_params = gc_layer_no_check,
    .param_shapes = gc_layer_no_params,
    .infer = add_infer,
    .workspace = gc_layer_no_bytes,
    .state_bytes = gc_layer_no_bytes,
    .forward = div_forward,
    .backward = div_backward,
};
