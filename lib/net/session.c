/* session.c - planning, forward and backward over a model's layer graph (a DAG).
 *
 * Planning infers every layer's output shape for one input shape and lays
 * out one arena: the input copy, every activation, every output gradient,
 * the input gradient, parameter gradients (if asked), per-layer state, the
 * accumulation space for gradients of outputs read by several layers,
 * batch-norm parameters folded into convolutions, and one scratch workspace
 * sized to the largest need. Activations that read only a convolution's output
 * are fused into it (applied as it stores), and so are residual adds (the
 * convolution adds the other input as it stores). Forward and backward then only
 * index into it. */
#include "model.h"
#include "session.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gc_session {
    const gc_model   *m;
    gc_session_config cfg;
    int               n;          /* layers of the model */
    int               root;       /* input_layer, or -1: the session starts at the network input */
    unsigned char    *run;        /* (n) the layer runs in this session (all, or those downstream of root) */
    unsigned char    *bwd;        /* (n) the layer's backward may run: downstream of the floor (all without) */
    int               floor;      /* backward_floor's layer, -1: none, n: forward only */
    char              floor_name[GC_NAME_MAX]; /* cfg.backward_floor points here */
    int               head;       /* created by gc_session_create_head: side inputs allowed */
    gc_shape          in_shape;   /* session input: network input or root's output */
    gc_shape         *shape;      /* (n) output shape of each layer */
    float            *input;      /* (in_shape) copy of the last forward input */
    float           **act;        /* (n) layer outputs (a folded layer's is its consumer's) */
    float           **side;       /* (n) the side inputs' buffers (act of layers that do not run), else NULL */
    float           **grad;       /* (n) d loss / d layer output */
    float            *grad_in;    /* (in_shape) d loss / d input */
    float           **pgrad;      /* (n * GC_MAX_PARAMS) or NULL entries */
    void            **state;      /* (n) per-layer forward -> backward state */
    float            *accum;      /* (largest sum of a layer's input sizes) for fan-out sums */
    float            *ws;         /* workspace */
    gc_slots          slots;      /* the workers' own scratch (gc_layer_ops.slot_floats) */
    unsigned char    *act_kept;   /* (n + 1) outputs readable after forward; [n] = input */
    unsigned char    *grad_ok;    /* (n + 1) gradients readable after backward; [n] = input */
    unsigned char    *pgrad_ok;   /* (n) */
    unsigned char    *reach;      /* (n + 1) scratch of a backward pass: downstream of its stop */
    int              *folded_into;/* (n) channel-affine layer whose parameters layer i carries, or -1 */
    int              *folded_from;/* (n) layer that computes layer i's output for it, or -1 */
    int              *fused_into; /* (n) activation or residual add whose output layer i's forward writes
                                     (applying it), or -1 */
    int              *fused_from; /* (n) layer whose output is layer i's input that i's writer computes (i a
                                     fused activation or add), or -1 */
    gc_epilogue      *epi;        /* (n) what layer i's forward applies to its output as it stores */
    int              *res_slot;   /* (n) slot layer i's forward adds to its output before epi (a fused add's
                                     other input), or -1 */
    float           **fparam;     /* (n * GC_MAX_PARAMS) folded parameters (arena) */
    float           **prep;       /* (n) prepared parameters (gc_layer_ops.prepare; arena) or NULL */
    uint64_t          fold_gen;   /* model generation the folded and prepared parameters were made from */
    int               max_in;     /* most inputs of one layer */
    gc_shape         *cx_in;      /* (max_in) scratch of layer_ctx */
    const float     **cx_x;       /* (max_in) */
    float           **cx_dx;      /* (max_in) */
    int               forward_done;
    void             *arena;
    size_t            arena_bytes;
    int               profile;    /* record per-layer times */
    int               accurate;   /* forward passes sum in double (gc_session_set_accurate) */
    double           *seconds;    /* (2 * n) forward, backward time of each layer */
    void             *ext;        /* state of a higher layer (explainer) */
    void            (*ext_free)(void *);
    gc_pool          *pool;       /* the session's threads (cfg.threads) */
};

/* ---------------------------------------------------------------- graph helpers */

static const gc_layer_ops *ops_of(const gc_session *s, int i) { return gc_layer_ops_of(s->m->layers[i].kind); }

/* Slot of input k of layer i: a layer index, or n for the session input. */
static int in_slot(const gc_session *s, int i, int k) {
    int j = s->m->layers[i].inputs[k];
    return j == s->root ? s->n : j;
}

static const gc_shape *slot_shape(const gc_session *s, int slot) {
    return slot == s->n ? &s->in_shape : &s->shape[slot];
}

/* The layer whose forward writes layer i's output: i, or the convolution a batch-norm is folded
 * into, or (for a fused activation or add) the one that writes its input, through a chain
 * (convolution -> add -> ReLU). */
static int writer(const gc_session *s, int i) {
    while (s->fused_from[i] >= 0) i = s->fused_from[i];
    return s->folded_from[i] >= 0 ? s->folded_from[i] : i;
}

/* The layer whose output layer i's forward writes: i, its folded consumer, the adds and
 * activations fused after either. */
static int written(const gc_session *s, int i) {
    if (s->folded_into[i] >= 0) i = s->folded_into[i];
    while (s->fused_into[i] >= 0) i = s->fused_into[i];
    return i;
}

static float *slot_act(const gc_session *s, int slot) { return slot == s->n ? s->input : s->act[slot]; }
static float *slot_grad(const gc_session *s, int slot) { return slot == s->n ? s->grad_in : s->grad[slot]; }

/* ---------------------------------------------------------------- planning */

void gc_session_free(gc_session *s) {
    if (!s) return;
    if (s->ext_free) s->ext_free(s->ext);
    gc_pool_free(s->pool);
    gc_free(s->arena);
    gc_free(s->run);
    gc_free(s->bwd);
    gc_free(s->shape);
    gc_free(s->act);
    gc_free(s->side);
    gc_free(s->grad);
    gc_free(s->pgrad);
    gc_free(s->state);
    gc_free(s->grad_ok);
    gc_free(s->act_kept);
    gc_free(s->pgrad_ok);
    gc_free(s->reach);
    gc_free(s->folded_into);
    gc_free(s->folded_from);
    gc_free(s->fused_into);
    gc_free(s->fused_from);
    gc_free(s->epi);
    gc_free(s->res_slot);
    gc_free(s->fparam);
    gc_free(s->prep);
    gc_free(s->cx_in);
    gc_free(s->cx_x);
    gc_free(s->cx_dx);
    gc_free(s->seconds);
    gc_free(s);
}

/* Which layers run, their shapes, and the checks that need them. A session that starts at the
 * network input runs every layer; one that starts at root runs root's descendants and the
 * constants they read: layers without inputs and layers that read only such (they cost next to
 * nothing, and no caller could feed them as side inputs). */
static gc_status plan_shapes(gc_session *s, const gc_shape *net_in) {
    const gc_model *m = s->m;
    enum { DEP = 1, KONST = 2, READ = 4 };
    unsigned char *f = gc_calloc((size_t)s->n, 1); /* (n) DEP: downstream of root; KONST: of no input at
                                                      all; READ: a layer of the session reads it */
    if (!f) return GC_ERR_OUT_OF_MEMORY;
    gc_status st = GC_OK;
    for (int i = 0; i < s->n; i++) {
        const gc_layer *l = &m->layers[i];
        int side = 0;
        f[i] = KONST;
        for (int k = 0; k < l->n_inputs; k++) {
            const int j = l->inputs[k];
            if (j == s->root || (j >= 0 && (f[j] & DEP))) f[i] |= DEP;
            if (j < 0 || !(f[j] & KONST)) f[i] &= (unsigned char)~KONST;
        }
        const int runs = s->root < 0 || (i != s->root && f[i]);
        s->run[i] = (unsigned char)runs;
        gc_shape *ins = s->cx_in;
        for (int k = 0; k < l->n_inputs; k++) {
            int j = l->inputs[k];
            ins[k] = j < 0 ? *net_in : s->shape[j];
            /* 2 (the network input, which cannot be fed) wins whatever the order of the inputs */
            if (runs && j != s->root && (j < 0 || !s->run[j]) && side < 2) side = j < 0 ? 2 : 1;
        }
        if ((st = gc_layer_ops_of(l->kind)->infer(l, ins, &s->shape[i]))) {
            st = gc_error_prefix(st, l->name);
            goto done;
        }
        if (gc_shape_numel(&s->shape[i]) < 1) {
            st = gc_error(GC_ERR_SHAPE, "%s: output size overflows or is empty", l->name);
            goto done;
        }
        if (side == 2 || (side && !s->head)) {
            st = gc_error(GC_ERR_UNSUPPORTED, "%s also reads %s, which does not depend on the session's input "
                          "layer %s (a session that starts inside a branching graph needs the other branch)",
                          l->name, side == 2 ? "the network input" : "an earlier layer", m->layers[s->root].name);
            goto done;
        }
    }
    if (s->root >= 0) /* constants that no layer of the session reads stay idle */
        for (int i = s->n - 1; i >= 0; i--) {
            if (s->run[i] && !(f[i] & (DEP | READ))) s->run[i] = 0;
            for (int k = 0; s->run[i] && k < m->layers[i].n_inputs; k++)
                if (m->layers[i].inputs[k] >= 0) f[m->layers[i].inputs[k]] |= READ;
        }
    s->in_shape = s->root >= 0 ? s->shape[s->root] : *net_in;
    if (s->root >= 0 && !(f[s->n - 1] & DEP)) {
        st = gc_error(GC_ERR_INVALID_ARGUMENT, "input_layer %s: the network output does not depend on it",
                      m->layers[s->root].name);
        goto done;
    }
    const gc_shape *out = &s->shape[s->n - 1];
    int64_t per_sample = gc_shape_numel(out) / out->d[0];
    if (m->n_labels > 0 && per_sample != m->n_labels)
        st = gc_error(GC_ERR_SHAPE, "model has %d class labels but its output has %lld values per sample",
                      m->n_labels, (long long)per_sample);
done:
    gc_free(f);
    return st;
}

/* ---------------------------------------------------------------- non-finite values
 *
 * Policy (docs/security.md): inputs and parameters must be finite; an output that comes out
 * non-finite is an error naming the first layer whose output is non-finite. The normal path
 * scans only the input (before the forward) and the network output (after it); only when the
 * output is bad does a second, checking forward pass find the layer. Parameters are scanned
 * once, when a session is planned. */

/* " (n 0, c 1, y 2, x 3)" for flat index i of a 4-D shape, "" otherwise. */
static void coords(const gc_shape *sh, int64_t i, char *b, size_t cap) {
    b[0] = 0;
    if (sh->ndim != 4) return;
    const int64_t x = i % sh->d[3], y = i / sh->d[3] % sh->d[2], c = i / (sh->d[3] * sh->d[2]) % sh->d[1];
    snprintf(b, cap, " (n %lld, c %lld, y %lld, x %lld)", (long long)(i / (sh->d[3] * sh->d[2] * sh->d[1])),
             (long long)c, (long long)y, (long long)x);
}

static gc_status check_params_finite(const gc_session *s) {
    for (int i = 0; i < s->n; i++) {
        const gc_layer *l = &s->m->layers[i];
        for (int k = 0; s->run[i] && k < l->n_params; k++) {
            const int64_t bad = gc_first_nonfinite(l->param[k], gc_shape_numel(&l->param_shape[k]));
            if (bad >= 0)
                return gc_error(GC_ERR_NUMERIC, "gc_session_create: %s.%s: element %lld is %s (a model's parameters "
                                "must be finite)", l->name, gc_model_param_suffix(l, k), (long long)bad,
                                gc_nonfinite_name(l->param[k][bad]));
        }
    }
    return GC_OK;
}

/* GC_OK if the n floats at p (what, of shape sh) are finite, else GC_ERR_NUMERIC naming the first. */
static gc_status check_finite(const char *fn, const char *what, const float *p, const gc_shape *sh) {
    const int64_t bad = gc_first_nonfinite(p, gc_shape_numel(sh));
    if (bad < 0) return GC_OK;
    char at[128];
    coords(sh, bad, at, sizeof at);
    return gc_error(GC_ERR_NUMERIC, "%s: %s element %lld%s is %s (%ss must be finite)", fn, what, (long long)bad, at,
                    gc_nonfinite_name(p[bad]), what);
}

/* Readers of each layer's output among the layers that run: count in *n_readers, and the
 * one reader (when there is one) in *reader. */
static void readers(const gc_session *s, int *n_readers, int *reader) {
    for (int i = 0; i < s->n; i++) n_readers[i] = 0, reader[i] = -1;
    for (int i = 0; i < s->n; i++)
        for (int k = 0; s->run[i] && k < s->m->layers[i].n_inputs; k++) {
            int j = s->m->layers[i].inputs[k];
            if (j >= 0) n_readers[j]++, reader[j] = i;
        }
}

/* The backward floor (gc_session_config.backward_floor, forward_only): bwd[i] for the layers
 * downstream of the floor layer, whose backward a pass stopping at or after the floor may run;
 * every layer without a floor, none forward only. A floor that does not run in the session
 * (upstream of input_layer) or is its input sets none. */
static gc_status plan_floor(gc_session *s, const gc_session_config *cfg) {
    s->floor = -1;
    s->cfg.backward_floor = NULL;
    if (cfg->forward_only) s->floor = s->n;
    else if (cfg->backward_floor) {
        const int f = gc_model_find_layer(s->m, cfg->backward_floor);
        if (f < 0) {
            char q[128];
            return gc_error(GC_ERR_NOT_FOUND, "gc_session_create: no layer named \"%s\" for backward_floor",
                            gc_quote(q, sizeof q, cfg->backward_floor, strlen(cfg->backward_floor)));
        }
        if (s->run[f] && f != s->root) {
            s->floor = f;
            gc_strlcpy(s->floor_name, s->m->layers[f].name, sizeof s->floor_name);
            s->cfg.backward_floor = s->floor_name;
        }
    }
    for (int i = 0; i < s->n; i++) {
        s->bwd[i] = s->floor < 0 && s->run[i];
        for (int k = 0; s->floor >= 0 && s->floor < s->n && s->run[i] && k < s->m->layers[i].n_inputs && !s->bwd[i]; k++) {
            const int j = s->m->layers[i].inputs[k];
            s->bwd[i] = j >= 0 && (j == s->floor || s->bwd[j]);
        }
    }
    return GC_OK;
}

/* A gradient of layer i's output is computed by some backward pass (i == n: the session input). */
static int grad_needed(const gc_session *s, int i) {
    if (s->floor < 0) return 1;
    return i < s->n && (i == s->floor || s->bwd[i]);
}

/* Batch-norm folding: a channel-affine layer b (inference batch-norm) whose only input is a
 * GC_TRAIT_CHANNEL_LINEAR layer c (a convolution) read by nothing else is computed by c with
 * folded parameters (w' = w scale, b' = b scale + shift): one pass over the activation less.
 * Not when c's own output must stay visible (kept, the default layer, the session input),
 * when parameter gradients are planned (training changes the weights under us), with the
 * reference kernels (the oracle runs every layer as written) or with keep_all. */
static void plan_folds(gc_session *s, const unsigned char *kept, const int *n_readers, const int *reader) {
    for (int i = 0; i < s->n; i++) s->folded_into[i] = s->folded_from[i] = -1;
    if (s->cfg.no_fold || s->cfg.param_grads || s->cfg.kernels == GC_KERNELS_REFERENCE || s->cfg.keep_all) return;
    for (int c = 0; c < s->n; c++) {
        const int b = reader[c];
        if (!s->run[c] || kept[c] || n_readers[c] != 1 || c == s->root || c == s->n - 1) continue;
        const gc_layer_ops *pb = ops_of(s, b);
        if (!(ops_of(s, c)->traits & GC_TRAIT_CHANNEL_LINEAR) || !pb->channel_affine ||
            s->m->layers[b].n_inputs != 1 || (pb->backward_reads & GC_READS_X))
            continue;
        s->folded_into[c] = b;
        s->folded_from[b] = c;
    }
}

/* Activation fusion: an element-wise activation a with an epilogue (relu, clamp; any where its
 * backward never runs: GC_FUSE_FORWARD) whose only
 * input p is read by nothing else is applied by the layer that computes p's output (p itself,
 * or the convolution p is folded into) as that layer stores: a's forward is skipped and p's
 * output is never materialised (p's gradient is: a's backward writes it, reading y where it
 * reads x; a ReLU's mask bits are written by the epilogue).
 * Not when p's output must stay visible (kept, the default layer, the session input), when
 * p's backward reads its output, with the reference kernels (the oracle runs every layer as
 * written), keep_all or no_fuse. Parameter gradients are fine: the bits are the same. */
static void plan_fuses(gc_session *s, const unsigned char *kept, const int *n_readers) {
    for (int i = 0; i < s->n; i++) {
        s->fused_into[i] = s->fused_from[i] = -1;
        s->epi[i] = (gc_epilogue){GC_EPI_NONE, 0.0f, 0.0f, NULL, 0};
    }
    if (s->cfg.no_fuse || s->cfg.kernels == GC_KERNELS_REFERENCE || s->cfg.keep_all) return;
    for (int a = 0; a < s->n; a++) {
        const gc_layer *la = &s->m->layers[a];
        const gc_layer_ops *oa = ops_of(s, a);
        gc_epilogue e;
        const int fuse = s->run[a] && la->n_inputs == 1 && oa->epilogue ? oa->epilogue(la, &e) : 0;
        if (!fuse || (fuse == GC_FUSE_FORWARD && s->bwd[a])) continue;
        const int p = in_slot(s, a, 0);
        if (p == s->n || !s->run[p] || kept[p] || n_readers[p] != 1 || (ops_of(s, p)->backward_reads & GC_READS_Y))
            continue;
        const int w = s->folded_from[p] >= 0 ? s->folded_from[p] : p; /* the layer whose forward writes p */
        if (!(ops_of(s, w)->traits & GC_TRAIT_EPILOGUE) || (ops_of(s, w)->backward_reads & GC_READS_Y)) continue;
        s->fused_into[p] = a;
        s->fused_from[a] = p;
        s->epi[w] = e;
    }
}

static int same_dims(const gc_shape *a, const gc_shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->d[d] != b->d[d]) return 0;
    return 1;
}

/* Residual-add fusion (after plan_fuses): an add a of two same-shape tensors, one of them (p)
 * read by nothing else and computed by a GC_TRAIT_RESIDUAL layer w (a convolution, maybe with a
 * batch-norm folded in) that applies no activation of its own, and the other (r) ready before w
 * runs, is computed by w: w adds r as it stores p, then the add's own fused activation. The add's
 * forward is skipped and p's output never materialised (p's gradient is: the add's backward,
 * which reads neither input, writes it). Same conditions as plan_fuses for p; the bits are the
 * add's (fl(p + r), then the activation). */
static void plan_joins(gc_session *s, const unsigned char *kept, const int *n_readers) {
    for (int i = 0; i < s->n; i++) s->res_slot[i] = -1;
    if (s->cfg.no_fuse || s->cfg.kernels == GC_KERNELS_REFERENCE || s->cfg.keep_all) return;
    for (int a = 0; a < s->n; a++) {
        const gc_layer *la = &s->m->layers[a];
        if (!s->run[a] || !(ops_of(s, a)->traits & GC_TRAIT_SUM) || la->n_inputs != 2 || la->inputs[0] == la->inputs[1])
            continue;
        const int in0 = in_slot(s, a, 0), in1 = in_slot(s, a, 1);
        if (!same_dims(slot_shape(s, in0), &s->shape[a]) || !same_dims(slot_shape(s, in1), &s->shape[a])) continue;
        /* p: the input computed last (the other must be ready when p's writer runs) */
        const int w0 = in0 == s->n ? -1 : writer(s, in0), w1 = in1 == s->n ? -1 : writer(s, in1);
        const int p = w0 > w1 ? in0 : in1, r = w0 > w1 ? in1 : in0;
        if (p == s->n || !s->run[p] || kept[p] || n_readers[p] != 1 || s->fused_into[p] >= 0) continue;
        const int w = writer(s, p);
        if (r != s->n && s->run[r] && writer(s, r) >= w) continue;
        const gc_layer_ops *ow = ops_of(s, w);
        if (!(ow->traits & GC_TRAIT_RESIDUAL) || (ow->backward_reads & GC_READS_Y) || s->epi[w].op != GC_EPI_NONE)
            continue;
        s->fused_into[p] = a;
        s->fused_from[a] = p;
        s->epi[w] = s->epi[a]; /* the activation fused into the add, if any */
        s->epi[a] = (gc_epilogue){GC_EPI_NONE, 0.0f, 0.0f, NULL, 0};
        s->res_slot[w] = r;
    }
}

static void layer_ctx(gc_session *s, int i, gc_layer_ctx *c);

/* Fills the folded parameters of every folded pair from the model's current values
 * (scratch: the workspace, planned to hold two doubles per channel), then the prepared
 * ones (from the folded parameters where there are some). */
static void refresh_derived(gc_session *s) {
    for (int c = 0; c < s->n; c++) {
        const int b = s->folded_into[c];
        if (b < 0) continue;
        const gc_layer *lc = &s->m->layers[c];
        const int64_t O = lc->param_shape[0].d[0], K = gc_shape_numel(&lc->param_shape[0]) / O;
        double *scale = (double *)(void *)s->ws, *shift = scale + O; /* (O) each */
        ops_of(s, b)->channel_affine(&s->m->layers[b], scale, shift);
        const float *w = lc->param[0], *bias = lc->n_params > 1 ? lc->param[1] : NULL; /* (O, K), (O) */
        float *fw = s->fparam[c * GC_MAX_PARAMS], *fb = s->fparam[c * GC_MAX_PARAMS + 1];
        for (int64_t o = 0; o < O; o++) {
            for (int64_t k = 0; k < K; k++) fw[o * K + k] = (float)(w[o * K + k] * scale[o]);
            fb[o] = (float)((bias ? bias[o] : 0.0) * scale[o] + shift[o]);
        }
    }
    for (int i = 0; i < s->n; i++) {
        if (!s->prep[i]) continue;
        gc_layer_ctx c;
        layer_ctx(s, i, &c);
        ops_of(s, i)->prepare(&c, s->prep[i]);
    }
    s->fold_gen = s->m->generation;
}

/* ---------------------------------------------------------------- arena plan
 *
 * Every buffer gets a lifetime on one timeline: step 0 copies the input,
 * forward runs layer i at step i + 1, backward runs layer i at step 2n - i,
 * and END is after the last step. Buffers whose lifetimes do not overlap
 * share memory (greedy placement, largest first). Activations live until
 * their last forward reader unless something reads them later: the
 * output, kept layers, and whatever a backward reads (GC_READS_*), which
 * stay to END because backward may run several times per forward. A
 * gradient lives from the backward step that first writes it (its reader
 * that runs backward first) to the step that reads it; the gradient a pass
 * ends on is its last write, so it survives until the next pass. keep_all
 * gives every buffer the whole timeline. A folded pair shares the
 * consumer's buffers. */

enum { B_INPUT, B_GRAD_IN, B_ACT, B_GRAD, B_STATE, B_PGRAD, B_FOLD, B_PREP, B_ACCUM, B_WS, B_SLOTS };

typedef struct plan_buf {
    size_t bytes, off;
    int    t0, t1;         /* live over steps [t0, t1] */
    int    what, layer, slot;
} plan_buf;

static int by_size_desc(const void *a, const void *b) {
    const plan_buf *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    if (x->what != y->what) return x->what - y->what; /* stable order */
    if (x->layer != y->layer) return x->layer - y->layer;
    return x->slot - y->slot;
}

static int by_offset(const void *a, const void *b) {
    const plan_buf *x = *(plan_buf *const *)a, *y = *(plan_buf *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Lowest 64-aligned offset where b fits beside the placed buffers that are
 * live at the same time; returns the end of the placement or 0 on overflow. */
static size_t place(plan_buf *b, plan_buf **live, int n_live) {
    qsort(live, (size_t)n_live, sizeof *live, by_offset);
    size_t off = 0, end;
    for (int k = 0; k < n_live; k++) {
        if (gc_add_size(off, b->bytes, &end)) return 0;
        if (end <= live[k]->off) break;
        size_t e = live[k]->off + live[k]->bytes;
        if (e > off) off = e;
    }
    b->off = off;
    return gc_add_size(off, b->bytes, &end) ? 0 : end;
}

/* Layers named in cfg->keep (names or aliases; "input" is always kept) into kept[]. */
static gc_status mark_keep_list(const gc_session *s, unsigned char *kept) {
    for (const char *const *k = s->cfg.keep; k && *k; k++) {
        if (strcmp(*k, "input") == 0) continue;
        int i = gc_model_find_layer(s->m, *k);
        char q[128];
        if (i < 0) return gc_error(GC_ERR_NOT_FOUND, "gc_session_create: keep names no layer \"%s\"", gc_quote(q, sizeof q, *k, strlen(*k)));
        kept[i] = 1;
    }
    return GC_OK;
}

static gc_status plan_arena(gc_session *s) {
    const gc_model *m = s->m;
    const gc_session_config *cfg = &s->cfg;
    const int n = s->n, END = 2 * n + 1, all = cfg->keep_all != 0;
    const int dflt = gc_model_find_layer(m, gc_model_default_layer(m));
    int *last_fwd = gc_alloc_array((size_t)n + 1, sizeof(int));   /* last forward reader; [n] = input */
    int *first_bwd = gc_alloc_array((size_t)n + 1, sizeof(int));  /* first backward writer of the gradient */
    int *n_readers = gc_alloc_array((size_t)n, sizeof(int)), *reader = gc_alloc_array((size_t)n, sizeof(int));
    unsigned char *want = gc_calloc((size_t)n, 1);                /* outputs the caller asked to keep */
    const size_t max_bufs = (6 + GC_MAX_PARAMS) * (size_t)n + 4; /* per layer at most act, grad, state, prep, 2 fold, param grads */
    plan_buf *bufs = gc_calloc(max_bufs, sizeof *bufs);
    plan_buf **live = gc_calloc(max_bufs, sizeof *live);
    gc_status st = GC_ERR_OUT_OF_MEMORY;
    if (!last_fwd || !first_bwd || !n_readers || !reader || !want || !bufs || !live) goto done;
    if ((st = mark_keep_list(s, want))) goto done;
    st = GC_ERR_OUT_OF_MEMORY;
    if (dflt >= 0) want[dflt] = 1;
    if (s->floor >= 0 && s->floor < n) want[s->floor] = 1;
    readers(s, n_readers, reader);
    plan_folds(s, want, n_readers, reader);
    plan_fuses(s, want, n_readers);
    plan_joins(s, want, n_readers);

    /* who reads what, and when */
    s->act_kept[n] = 1; /* the input copy */
    for (int i = 0; i <= n; i++) last_fwd[i] = -1, first_bwd[i] = END;
    int64_t accum = 0;
    for (int i = 0; i < n; i++) {
        if (!s->run[i]) continue;
        const gc_layer *l = &m->layers[i];
        unsigned r = s->bwd[i] ? ops_of(s, i)->backward_reads : 0; /* nothing kept for a backward never run */
        if (s->fused_from[i] >= 0 && (r & GC_READS_X)) r = (r & ~(unsigned)GC_READS_X) | GC_READS_Y; /* y for x */
        const int t_fwd = writer(s, i) + 1;
        const int t_bwd = s->folded_from[i] >= 0 ? 2 * n - s->folded_from[i] : 2 * n - i;
        int64_t sum = 0;
        for (int k = 0; k < l->n_inputs; k++) {
            const int slot = in_slot(s, i, k);
            if (last_fwd[slot] < t_fwd) last_fwd[slot] = t_fwd;
            if (t_bwd < first_bwd[slot]) first_bwd[slot] = t_bwd;
            if ((r & GC_READS_X) || ((r & GC_READS_X_PARAMS) && cfg->param_grads)) s->act_kept[slot] = 1;
            if (slot < n && !s->run[slot]) s->act_kept[slot] = 1; /* a side input: filled before forward */
            sum += (gc_shape_numel(slot_shape(s, slot)) + 15) & ~(int64_t)15;
        }
        if (sum > accum) accum = sum;
        if (r & GC_READS_Y) s->act_kept[i] = 1;
        if (all || i == n - 1 || want[i]) s->act_kept[i] = 1;
    }

    /* the buffers and their lifetimes */
    int nb = 0;
    size_t ws_floats = 0, slot_floats = 0;
    const int workers = gc_pool_threads(s->pool) < GC_MAX_SLOTS ? gc_pool_threads(s->pool) : GC_MAX_SLOTS;
    s->slots = (gc_slots){0};
#define ADD(what_, layer_, slot_, count_, elem_, t0_, t1_)                                              \
    do {                                                                                            \
        size_t bytes_;                                                                              \
        if ((count_) < 0 || gc_mul_size((size_t)(count_), (elem_), &bytes_) ||                     \
            gc_add_size(bytes_, GC_ALIGN - 1, &bytes_)) {                                          \
            st = gc_error(GC_ERR_LIMIT, "gc_session_create: buffer sizes overflow");              \
            goto done;                                                                              \
        }                                                                                           \
        bufs[nb++] = (plan_buf){bytes_ & ~(size_t)(GC_ALIGN - 1), 0, (t0_), (t1_), (what_), (layer_), (slot_)}; \
    } while (0)
    int64_t in_numel = gc_shape_numel(&s->in_shape);
    ADD(B_INPUT, -1, 0, in_numel, sizeof(float), 0, END);
    if (s->floor < 0) ADD(B_GRAD_IN, -1, 0, in_numel, sizeof(float), all ? 0 : first_bwd[n], END);
    for (int i = 0; i < n; i++) {
        const gc_layer *l = &m->layers[i];
        const gc_layer_ops *ops = ops_of(s, i);
        int64_t numel = gc_shape_numel(&s->shape[i]);
        if (!s->run[i]) {
            if (s->act_kept[i]) ADD(B_ACT, i, 0, numel, sizeof(float), 0, END); /* side input */
            continue;
        }
        gc_shape *ins = s->cx_in;
        for (int k = 0; k < l->n_inputs; k++) ins[k] = *slot_shape(s, in_slot(s, i, k));
        const int from = s->folded_from[i], t0 = writer(s, i) + 1, g1 = from >= 0 ? 2 * n - from : 2 * n - i;
        if (s->folded_into[i] < 0) { /* a fused producer has a gradient of its own, not an output */
            int act_end = s->act_kept[i] ? END : (last_fwd[i] > t0 ? last_fwd[i] : t0);
            int g0 = i == n - 1 ? 2 * n - i : first_bwd[i];
            if (s->fused_into[i] < 0) ADD(B_ACT, i, 0, numel, sizeof(float), all ? 0 : t0, act_end);
            if ((g0 <= g1 || all) && grad_needed(s, i)) ADD(B_GRAD, i, 0, numel, sizeof(float), all ? 0 : g0, all ? END : g1);
        }
        if (from < 0 && (s->bwd[i] || !(ops->traits & GC_TRAIT_STATE_OPTIONAL)))
            ADD(B_STATE, i, 0, (int64_t)ops->state_bytes(l, ins, &s->shape[i]), 1, 0, END);
        size_t w = ops->workspace(l, ins, &s->shape[i]);
        if (w > ws_floats) ws_floats = w;
        w = ops->slot_floats ? ops->slot_floats(l, ins, &s->shape[i], workers) : 0;
        if (w > slot_floats) slot_floats = w;
        for (int k = 0; cfg->param_grads && k < l->n_params; k++)
            if (ops->param_roles[k] & GC_PARAM_TRAINED)
                ADD(B_PGRAD, i, k, gc_shape_numel(&l->param_shape[k]), sizeof(float), 0, END);
        if (ops->prepare && cfg->kernels != GC_KERNELS_REFERENCE && !cfg->param_grads) { /* training: read live */
            gc_layer_ctx pc = {.layer = l, .in = ins[0], .out = s->shape[i], .n_in = l->n_inputs, .ins = ins,
                               .kernels = cfg->kernels, .no_winograd = cfg->no_winograd, .forward_only = !s->bwd[i]};
            const size_t pf = ops->prepared_floats(&pc);
            if (pf == SIZE_MAX || pf > (size_t)INT64_MAX) {
                st = gc_error(GC_ERR_LIMIT, "gc_session_create: %s: prepared parameters overflow", l->name);
                goto done;
            }
            if (pf) ADD(B_PREP, i, 0, (int64_t)pf, sizeof(float), 0, END);
        }
        if (s->folded_into[i] >= 0) {
            const int64_t O = l->param_shape[0].d[0];
            ADD(B_FOLD, i, 0, gc_shape_numel(&l->param_shape[0]), sizeof(float), 0, END);
            ADD(B_FOLD, i, 1, O, sizeof(float), 0, END);
            if ((size_t)(4 * O) > ws_floats) ws_floats = (size_t)(4 * O); /* refresh_folds' scale, shift */
        }
    }
    ADD(B_ACCUM, -1, 0, accum, sizeof(float), n + 1, END);
    ADD(B_WS, -1, 0, (int64_t)ws_floats, sizeof(float), 0, END);
    if (slot_floats) { /* one block, each slot starting on a cache line of its own */
        s->slots.n = workers;
        s->slots.stride = slot_floats > SIZE_MAX - 15 ? SIZE_MAX : (slot_floats + 15) & ~(size_t)15;
        if (s->slots.stride > (size_t)INT64_MAX / GC_MAX_SLOTS) {
            st = gc_error(GC_ERR_LIMIT, "gc_session_create: buffer sizes overflow");
            goto done;
        }
        ADD(B_SLOTS, -1, 0, (int64_t)s->slots.stride * s->slots.n, sizeof(float), 0, END);
    }
#undef ADD

    /* place, largest first */
    qsort(bufs, (size_t)nb, sizeof *bufs, by_size_desc);
    size_t total = 0;
    for (int b = 0; b < nb; b++) {
        int n_live = 0;
        for (int k = 0; k < b; k++)
            if (bufs[k].t0 <= bufs[b].t1 && bufs[b].t0 <= bufs[k].t1) live[n_live++] = &bufs[k];
        size_t end = place(&bufs[b], live, n_live);
        if (!end && bufs[b].bytes) {
            st = gc_error(GC_ERR_LIMIT, "gc_session_create: buffer sizes overflow");
            goto done;
        }
        if (end > total) total = end;
    }
    size_t limit = cfg->max_bytes ? cfg->max_bytes : GC_SESSION_DEFAULT_MAX_BYTES;
    if (total > limit) {
        st = gc_error(GC_ERR_LIMIT, "gc_session_create: the plan needs %zu bytes, more than the limit of %zu "
                                    "(gc_session_config.max_bytes)", total, limit);
        goto done;
    }
    if (!(s->arena = gc_alloc(total))) goto done;
    s->arena_bytes = total;
    char *base = s->arena;
    for (int b = 0; b < nb; b++) {
        void *p = base + bufs[b].off;
        int i = bufs[b].layer;
        switch (bufs[b].what) {
        case B_INPUT: s->input = p; break;
        case B_GRAD_IN: s->grad_in = p; break;
        case B_ACT: s->act[i] = p; break;
        case B_GRAD: s->grad[i] = p; break;
        case B_STATE: s->state[i] = p; break;
        case B_PGRAD: s->pgrad[i * GC_MAX_PARAMS + bufs[b].slot] = p; break;
        case B_FOLD: s->fparam[i * GC_MAX_PARAMS + bufs[b].slot] = p; break;
        case B_PREP: s->prep[i] = p; break;
        case B_ACCUM: s->accum = p; break;
        case B_SLOTS: s->slots.base = p; break;
        default: s->ws = p; break;
        }
    }
    for (int p = n - 1; p >= 0; p--) /* a fused producer writes the output of what is fused after it (and */
        if (s->fused_into[p] >= 0) {  /* an activation's state); from the end of a chain (add -> ReLU) */
            const int a = s->fused_into[p];
            s->act[p] = s->act[a];
            if (!(ops_of(s, a)->traits & GC_TRAIT_SUM)) s->epi[writer(s, p)].mask = s->state[a];
        }
    for (int c = 0; c < n; c++) /* a folded layer writes its consumer's output and gradient */
        if (s->folded_into[c] >= 0) {
            s->act[c] = s->act[s->folded_into[c]];
            s->grad[c] = s->grad[s->folded_into[c]];
        }
    for (int i = 0; i < n; i++)
        if (!s->run[i]) s->side[i] = s->act[i];
    if (s->root >= 0) s->act_kept[s->root] = 1; /* the session input */
    refresh_derived(s);
    st = GC_OK;
done:
    gc_free(last_fwd);
    gc_free(first_bwd);
    gc_free(n_readers);
    gc_free(reader);
    gc_free(want);
    gc_free(bufs);
    gc_free(live);
    return st;
}

static gc_status session_create(const gc_model *m, const gc_session_config *cfg, int head, gc_session **out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_create: out is NULL");
    *out = NULL;
    if (!m || !cfg) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_create: model or config is NULL");
    if (m->n_layers < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_create: model has no layers");
    if ((unsigned)cfg->kernels > GC_KERNELS_AVX512)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_create: unknown kernels tier %d", (int)cfg->kernels);
    if (cfg->batch < 1 || cfg->channels < 1 || cfg->height < 1 || cfg->width < 1)
        return gc_error(GC_ERR_SHAPE, "gc_session_create: input shape %lldx%lldx%lldx%lld has a dimension < 1",
                        (long long)cfg->batch, (long long)cfg->channels, (long long)cfg->height,
                        (long long)cfg->width);
    if (cfg->threads < 0 || cfg->threads > GC_POOL_MAX)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_create: threads %d outside 0..%d", cfg->threads,
                        GC_POOL_MAX);

    gc_session *s = gc_calloc(1, sizeof *s);
    if (!s) return GC_ERR_OUT_OF_MEMORY;
    s->m = m;
    s->cfg = *cfg;
    s->n = m->n_layers;
    s->root = -1;
    s->head = head;
    gc_shape net_in = {4, {cfg->batch, cfg->channels, cfg->height, cfg->width}};
    s->cfg.input_layer = NULL; /* not retained */
    if (cfg->input_layer && strcmp(cfg->input_layer, "input") != 0) {
        s->root = gc_model_find_layer(m, cfg->input_layer);
        if (s->root < 0) {
            gc_free(s);
            char q[128];
            return gc_error(GC_ERR_NOT_FOUND, "gc_session_create: no layer named \"%s\" for input_layer",
                            gc_quote(q, sizeof q, cfg->input_layer, strlen(cfg->input_layer)));
        }
        if (s->root == s->n - 1) {
            gc_free(s);
            return gc_error(GC_ERR_INVALID_ARGUMENT, "input_layer %s is the output layer: nothing to run",
                            m->layers[m->n_layers - 1].name);
        }
    }
    size_t n = (size_t)s->n;
    s->run = gc_calloc(n, 1);
    s->bwd = gc_calloc(n, 1);
    s->shape = gc_calloc(n, sizeof *s->shape);
    s->act = gc_calloc(n, sizeof *s->act);
    s->side = gc_calloc(n, sizeof *s->side);
    s->grad = gc_calloc(n, sizeof *s->grad);
    s->pgrad = gc_calloc(n * GC_MAX_PARAMS, sizeof *s->pgrad);
    s->fparam = gc_calloc(n * GC_MAX_PARAMS, sizeof *s->fparam);
    s->prep = gc_calloc(n, sizeof *s->prep);
    s->state = gc_calloc(n, sizeof *s->state);
    s->grad_ok = gc_calloc(n + 1, 1);
    s->act_kept = gc_calloc(n + 1, 1);
    s->reach = gc_calloc(n + 1, 1);
    s->pgrad_ok = gc_calloc(n, 1);
    s->folded_into = gc_alloc_array(n, sizeof(int));
    s->folded_from = gc_alloc_array(n, sizeof(int));
    s->fused_into = gc_alloc_array(n, sizeof(int));
    s->fused_from = gc_alloc_array(n, sizeof(int));
    s->epi = gc_alloc_array(n, sizeof *s->epi);
    s->res_slot = gc_alloc_array(n, sizeof *s->res_slot);
    s->seconds = gc_calloc(2 * n, sizeof *s->seconds);
    gc_status st = GC_ERR_OUT_OF_MEMORY;
    if (!s->run || !s->bwd || !s->shape || !s->act || !s->side || !s->grad || !s->pgrad || !s->fparam || !s->prep || !s->state || !s->grad_ok ||
        !s->pgrad_ok || !s->seconds || !s->act_kept || !s->reach || !s->folded_into || !s->folded_from ||
        !s->fused_into || !s->fused_from || !s->epi || !s->res_slot)
        goto fail;
    if (gc_shape_numel(&net_in) < 0) {
        st = gc_error(GC_ERR_SHAPE, "gc_session_create: input size overflows");
        goto fail;
    }
    s->max_in = 1;
    for (int i = 0; i < s->n; i++)
        if (m->layers[i].n_inputs > s->max_in) s->max_in = m->layers[i].n_inputs;
    s->cx_in = gc_alloc_array((size_t)s->max_in, sizeof *s->cx_in); /* also the plans' scratch */
    s->cx_x = gc_alloc_array((size_t)s->max_in, sizeof *s->cx_x);
    s->cx_dx = gc_alloc_array((size_t)s->max_in, sizeof *s->cx_dx);
    if (!s->cx_in || !s->cx_x || !s->cx_dx) goto fail;
    if ((st = plan_shapes(s, &net_in)) || (st = plan_floor(s, cfg))) goto fail;
    if ((st = check_params_finite(s))) goto fail;
    if ((st = gc_pool_create(cfg->threads ? cfg->threads : gc_pool_default_threads(), &s->pool))) goto fail;

    st = plan_arena(s);
    s->cfg.keep = NULL; /* not retained */
    if (st) goto fail;
    *out = s;
    return GC_OK;
fail:
    gc_session_free(s);
    return st;
}

gc_status gc_session_create(const gc_model *m, const gc_session_config *cfg, gc_session **out) {
    return session_create(m, cfg, 0, out);
}

gc_status gc_session_create_head(const gc_model *m, const gc_session_config *cfg, gc_session **out) {
    return session_create(m, cfg, 1, out);
}

size_t gc_session_memory(const gc_session *s) { return s ? s->arena_bytes : 0; }

/* ---------------------------------------------------------------- forward */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void gc_session_set_accurate(gc_session *s, int on) {
    if (s) s->accurate = on != 0;
}

void gc_session_set_profiling(gc_session *s, int on) {
    if (s) s->profile = on != 0;
}

double gc_session_layer_seconds(const gc_session *s, int layer, int backward) {
    if (!s || layer < 0 || layer >= s->n) return -1;
    return s->seconds[2 * layer + (backward != 0)];
}

/* The context of layer i (its inputs in the session's scratch arrays; dxs all NULL). */
static void layer_ctx(gc_session *s, int i, gc_layer_ctx *c) {
    const gc_layer *l = &s->m->layers[i];
    memset(c, 0, sizeof *c);
    c->layer = l;
    c->n_in = l->n_inputs;
    for (int k = 0; k < l->n_inputs; k++) {
        const int slot = in_slot(s, i, k);
        s->cx_in[k] = *slot_shape(s, slot);
        s->cx_x[k] = slot_act(s, slot);
        s->cx_dx[k] = NULL;
    }
    c->ins = s->cx_in;
    c->xs = s->cx_x;
    c->dxs = s->cx_dx;
    if (l->n_inputs) { /* a constant has none */
        c->in = s->cx_in[0];
        c->x = s->cx_x[0];
    }
    c->out = s->shape[i];
    c->y = s->act[i];
    c->param = s->folded_into[i] >= 0 ? (const float *const *)&s->fparam[i * GC_MAX_PARAMS]
                                      : (const float *const *)l->param;
    c->prep = s->prep[i];
    c->epi = s->epi[i];
    c->res = s->res_slot[i] >= 0 ? slot_act(s, s->res_slot[i]) : NULL;
    c->fused = s->fused_from[i] >= 0;
    c->state = s->state[i];
    c->ws = s->ws;
    c->slots = s->slots;
    c->kernels = s->cfg.kernels;
    c->no_winograd = s->cfg.no_winograd;
    c->accurate = s->accurate;
    c->param_grads = s->cfg.param_grads;
    c->forward_only = !s->bwd[i];
    c->pool = s->pool;
}

/* dst[j] = `repeat` copies of each image's slice of layer j's output (image-major). */
static void feed_copy(const gc_session *s, int j, float *const *dst, int repeat) {
    const int64_t nb = s->cfg.batch;
    const size_t bytes = (size_t)(gc_shape_numel(&s->shape[j]) / nb) * sizeof(float);
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < repeat; r++)
            memcpy((char *)dst[j] + (b * repeat + r) * bytes, (const char *)s->act[j] + b * bytes, bytes);
}

/* Forward; after each layer j with dst[j] set (a head session's side input), its output is
 * copied into dst[j] (feed_copy). check: stop after the first layer whose output holds a NaN or
 * infinity and return its index (the layer that owns the output: a folded pair's consumer, a
 * fused activation or add); -1 when every output is finite or check is 0.
 * A layer whose output is to be checked or copied though the next layers are fused into its
 * writer's stores (an unfused session's outputs) runs split: the writer stores it plain, then
 * the fused add runs in place (its output is the same buffer), then the activation. */
static int forward_run(gc_session *s, const float *input, float *const *dst, int repeat, int check) {
    if (s->fold_gen != s->m->generation) refresh_derived(s);
    memcpy(s->input, input, (size_t)gc_shape_numel(&s->in_shape) * sizeof(float));
    s->forward_done = 0;
    for (int i = 0; i < s->n; i++) {
        if (!s->run[i] || s->folded_from[i] >= 0 || s->fused_from[i] >= 0) continue;
        gc_layer_ctx c;
        layer_ctx(s, i, &c);
        const gc_epilogue epi = c.epi;
        int p = s->folded_into[i] >= 0 ? s->folded_into[i] : i; /* the output i computes, before fusions */
        const int a = s->res_slot[i] >= 0 ? s->fused_into[p] : -1; /* the fused add */
        const int split = (check || (dst && (dst[p] || (a >= 0 && dst[a])))) && s->fused_into[p] >= 0;
        if (split) c.epi.op = GC_EPI_NONE, c.res = NULL;
        double t0 = s->profile ? now() : 0;
        gc_layer_ops_of(c.layer->kind)->forward(&c);
        s->seconds[2 * i] = s->profile ? now() - t0 : 0;
        if (split) {
            if (check && gc_first_nonfinite(s->act[p], gc_shape_numel(&s->shape[p])) >= 0) return p;
            if (dst && dst[p]) feed_copy(s, p, dst, repeat);
            if (a >= 0) { /* in place: its output is p's buffer */
                gc_layer_ctx ca;
                layer_ctx(s, a, &ca);
                gc_layer_ops_of(ca.layer->kind)->forward(&ca);
                p = a;
                if (check && gc_first_nonfinite(s->act[p], gc_shape_numel(&s->shape[p])) >= 0) return p;
                if (dst && dst[p]) feed_copy(s, p, dst, repeat);
            }
            gc_epilogue_run(s->pool, s->cfg.kernels, &epi, s->act[p], gc_shape_numel(&s->shape[p]), 0);
        }
        const int j = written(s, i);
        if (j == p && split) continue; /* checked and copied */
        if (check && gc_first_nonfinite(s->act[j], gc_shape_numel(&s->shape[j])) >= 0) return j;
        if (dst && dst[j]) feed_copy(s, j, dst, repeat);
    }
    s->forward_done = 1;
    memset(s->grad_ok, 0, (size_t)s->n + 1);
    memset(s->pgrad_ok, 0, (size_t)s->n);
    return -1;
}

/* The error for a forward pass whose output came out non-finite from a finite input: a second,
 * checking pass names the first layer whose output is non-finite. */
static gc_status nonfinite_output(gc_session *s, const float *input, const char *fn) {
    const int j = forward_run(s, input, NULL, 0, 1);
    s->forward_done = 0;
    if (j < 0) {
        const gc_shape *sh = &s->shape[s->n - 1];
        return check_finite(fn, "network output", s->act[s->n - 1], sh);
    }
    const int64_t bad = gc_first_nonfinite(s->act[j], gc_shape_numel(&s->shape[j]));
    char at[128];
    coords(&s->shape[j], bad, at, sizeof at);
    const int c = s->fused_from[j] >= 0 || s->folded_from[j] >= 0 ? writer(s, j) : -1;
    return gc_error(GC_ERR_NUMERIC, "%s: the output of layer %s (%s%s%s) is not finite: element %lld%s is %s, though its "
                    "inputs are finite (it is the first such layer; the parameters or the input are too large)",
                    fn, s->m->layers[j].name, gc_layer_kind_name(s->m->layers[j].kind), c >= 0 ? ", computed with " : "",
                    c >= 0 ? s->m->layers[c].name : "", (long long)bad, at, gc_nonfinite_name(s->act[j][bad]));
}

/* A forward pass with the input and output checks. */
static gc_status forward_checked(gc_session *s, const float *input, float *const *dst, int repeat, const char *fn) {
    s->forward_done = 0;
    gc_status st = check_finite(fn, "input", input, &s->in_shape);
    if (st) return st;
    forward_run(s, input, dst, repeat, 0);
    if (gc_first_nonfinite(s->act[s->n - 1], gc_shape_numel(&s->shape[s->n - 1])) >= 0)
        return nonfinite_output(s, input, fn);
    return GC_OK;
}

gc_status gc_session_forward(gc_session *s, const float *input) {
    if (!s || !input) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_forward: session or input is NULL");
    return forward_checked(s, input, NULL, 0, "gc_session_forward");
}

int gc_session_forward_nonfinite(gc_session *s, const float *input) {
    const int j = forward_run(s, input, NULL, 0, 1);
    s->forward_done = 0;
    return j;
}

/* ---------------------------------------------------------------- head sessions */

gc_status gc_session_forward_feeding(gc_session *s, const float *input, gc_session *head) {
    if (!s || !input || !head) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_forward_feeding: NULL argument");
    if (head->m != s->m || s->root >= 0 || head->cfg.batch % s->cfg.batch != 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_forward_feeding: not a whole-network session of the head's "
                        "model whose batch divides the head's");
    for (int i = 0; i < head->n; i++) /* the head's side inputs must be outputs this session computes */
        if (head->side[i] && (!s->run[i] || s->folded_into[i] >= 0))
            return gc_error(GC_ERR_STATE, "gc_session_forward_feeding: %s is not computed by the session",
                            s->m->layers[i].name);
    return forward_checked(s, input, head->side, (int)(head->cfg.batch / s->cfg.batch), "gc_session_forward_feeding");
}

/* ---------------------------------------------------------------- backward */

/* Index of layer `name`, -1 for the session input ("input", or the
 * input_layer itself); -2 (with message) if unknown or not in this session. */
static int lookup(const gc_session *s, const char *name, const char *what) {
    if (!name) {
        gc_error(GC_ERR_INVALID_ARGUMENT, "%s: name is NULL", what);
        return -2;
    }
    if (strcmp(name, "input") == 0) return -1;
    int i = gc_model_find_layer(s->m, name);
    char q[128];
    if (i < 0) gc_error(GC_ERR_NOT_FOUND, "%s: no layer named \"%s\"", what, gc_quote(q, sizeof q, name, strlen(name)));
    else if (i == s->root) return -1;
    else if (!s->run[i]) {
        gc_error(GC_ERR_NOT_FOUND, "%s: layer \"%s\" does not run in this session (it is not downstream of the "
                 "session's input layer)", what, name);
        return -2;
    }
    return i < 0 ? -2 : i;
}

static int valid_mode(gc_relu_mode m) {
    return m == GC_RELU_NORMAL || m == GC_RELU_GUIDED || m == GC_RELU_DECONVNET;
}

/* Start of every backward pass: no gradient readable, no layer timed. */
static void backward_begin(gc_session *s) {
    memset(s->grad_ok, 0, (size_t)s->n + 1);
    memset(s->pgrad_ok, 0, (size_t)s->n);
    for (int i = 0; i < s->n; i++) s->seconds[2 * i + 1] = 0;
}

/* A layer computed by the layer before it has no gradient of its own input to stop at. */
static gc_status check_not_folded(const gc_session *s, int i, const char *what) {
    if (i >= 0 && s->folded_into[i] >= 0)
        return gc_error(GC_ERR_STATE, "%s: the output of %s is not materialised: this session folds %s into it "
                        "(list %s in gc_session_config.keep to keep it)", what, s->m->layers[i].name,
                        s->m->layers[s->folded_into[i]].name, s->m->layers[i].name);
    return GC_OK;
}

/* A layer whose output is written with the activation after it applied has no output of its own
 * to read (its gradient exists: the activation's backward writes it). */
static gc_status check_not_fused(const gc_session *s, int i, const char *what) {
    if (i >= 0 && s->fused_into[i] >= 0)
        return gc_error(GC_ERR_STATE, "%s: the output of %s is not materialised: this session applies %s as it is "
                        "stored (list %s in gc_session_config.keep to keep it)", what, s->m->layers[i].name,
                        s->m->layers[s->fused_into[i]].name, s->m->layers[i].name);
    return GC_OK;
}

/* Checks shared by the backward entry points; the stop index in *stop (-1: input). */
static gc_status backward_check(const gc_session *s, const char *what, gc_relu_mode mode, int param_grads,
                                const char *stop_layer, int *stop) {
    *stop = -1;
    if (!s->forward_done) return gc_error(GC_ERR_STATE, "%s: no forward pass has run", what);
    if (!valid_mode(mode))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: unknown relu_mode %d", what, (int)mode);
    if (param_grads && !s->cfg.param_grads)
        return gc_error(GC_ERR_STATE, "%s: parameter gradients asked for, but the session "
                                      "was created without param_grads", what);
    if (stop_layer && (*stop = lookup(s, stop_layer, what)) == -2) return GC_ERR_NOT_FOUND;
    if (s->floor == s->n)
        return gc_error(GC_ERR_STATE, "%s: the session was planned forward only (gc_session_config.forward_only)", what);
    if (s->floor >= 0 && *stop != s->floor && (*stop < 0 || !s->bwd[*stop]))
        return gc_error(GC_ERR_STATE, "%s: the session was planned with backward_floor %s: a backward pass cannot stop "
                        "at %s, below it", what, s->floor_name, *stop < 0 ? "the input" : s->m->layers[*stop].name);
    return check_not_folded(s, *stop, what);
}

/* reach[i]: layer i lies downstream of stop (stop -1: the session input); reach[n]: the
 * session input is the stop. */
static void mark_reach(gc_session *s, int stop) {
    const int slot0 = stop < 0 ? s->n : stop;
    memset(s->reach, 0, (size_t)s->n + 1);
    s->reach[slot0] = 1;
    for (int i = (stop < 0 ? 0 : stop + 1); i < s->n; i++) {
        if (!s->run[i]) continue;
        for (int k = 0; k < s->m->layers[i].n_inputs && !s->reach[i]; k++) s->reach[i] = s->reach[in_slot(s, i, k)];
    }
}

/* dst += a over [lo, hi): a gradient added where its tensor fans out. */
typedef struct accum_job { float *dst; const float *a; } accum_job;

static void accum_range(void *arg, int64_t lo, int64_t hi, int worker) {
    const accum_job *j = arg;
    (void)worker;
    for (int64_t e = lo; e < hi; e++) j->dst[e] += j->a[e];
}

/* Backward of layer i from grad[i] into the gradients of those of its inputs that lie on a
 * path from the stop (accumulating where another reader already wrote one). */
static void backward_layer(gc_session *s, int i, const gc_backward_opts *opts) {
    gc_layer_ctx c;
    layer_ctx(s, i, &c);
    const gc_layer *l = c.layer;
    float *acc = s->accum;
    int needed = 0;
    for (int k = 0; k < l->n_inputs; k++) {
        const int slot = in_slot(s, i, k);
        if (!s->reach[slot]) continue;
        int dup = s->grad_ok[slot];
        for (int q = 0; q < k && !dup; q++) dup = in_slot(s, i, q) == slot && s->cx_dx[q];
        if (dup) {
            s->cx_dx[k] = acc;
            acc += (gc_shape_numel(slot_shape(s, slot)) + 15) & ~(int64_t)15;
        } else {
            s->cx_dx[k] = slot_grad(s, slot);
        }
        needed = 1;
    }
    c.dx = s->cx_dx[0];
    c.dy = s->grad[i];
    c.relu_mode = opts->relu_mode;
    if (opts->param_grads) {
        for (int k = 0; k < l->n_params; k++) c.dparam[k] = s->pgrad[i * GC_MAX_PARAMS + k];
        s->pgrad_ok[i] = 1;
    }
    if (!needed && !opts->param_grads) return;
    double t0 = s->profile ? now() : 0;
    gc_layer_ops_of(l->kind)->backward(&c);
    s->seconds[2 * i + 1] = s->profile ? now() - t0 : 0;
    for (int k = 0; k < l->n_inputs; k++) {
        if (!s->cx_dx[k]) continue;
        const int slot = in_slot(s, i, k);
        float *dst = slot_grad(s, slot);
        if (s->cx_dx[k] != dst) {
            const accum_job j = {dst, s->cx_dx[k]};
            gc_pool_for(s->pool, gc_shape_numel(slot_shape(s, slot)), 65536, 0, accum_range, (void *)&j);
        }
        s->grad_ok[slot] = 1;
    }
}

/* Backward from the gradient of layer `from`'s output down to (not through) layer `stop`.
 * check: stop after the first layer whose backward writes a non-finite gradient of one of its
 * inputs and return that layer's index; -1 otherwise. */
static int backward_run(gc_session *s, int from, const float *grad, int stop, const gc_backward_opts *opts, int check) {
    backward_begin(s);
    mark_reach(s, stop);
    float *g0 = from < 0 ? s->grad_in : s->grad[from];
    if (g0 != grad)
        memcpy(g0, grad, (size_t)gc_shape_numel(from < 0 ? &s->in_shape : &s->shape[from]) * sizeof(float));
    s->grad_ok[from < 0 ? s->n : from] = 1;

    for (int i = from; i > stop && i >= 0; i--) {
        if (!s->run[i] || !s->grad_ok[i] || !s->reach[i]) continue; /* nothing to pass on toward stop */
        if (s->folded_from[i] >= 0) { /* its producer computes both: the gradient is shared */
            s->grad_ok[s->folded_from[i]] = 1;
            continue;
        }
        backward_layer(s, i, opts);
        for (int k = 0; check && k < s->m->layers[i].n_inputs; k++) {
            const int slot = in_slot(s, i, k);
            if (s->reach[slot] && gc_first_nonfinite(slot_grad(s, slot), gc_shape_numel(slot_shape(s, slot))) >= 0)
                return i;
        }
    }
    if (!s->cfg.keep_all) {
        /* only the gradient the pass ended on is sure to be intact */
        int keep = stop < 0 ? s->n : stop;
        for (int i = 0; i <= s->n; i++)
            if (i != keep) s->grad_ok[i] = 0;
    }
    return -1;
}

gc_status gc_session_backward(gc_session *s, const float *output_grad, const gc_backward_opts *opts) {
    if (!s || !output_grad || !opts)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward: session, output_grad or opts is NULL");
    int stop;
    gc_status rc = backward_check(s, "gc_session_backward", opts->relu_mode, opts->param_grads, opts->stop_layer, &stop);
    if (rc || (rc = check_finite("gc_session_backward", "output_grad", output_grad, &s->shape[s->n - 1]))) return rc;
    backward_run(s, s->n - 1, output_grad, stop, opts, 0);
    return GC_OK;
}

int gc_session_backward_nonfinite(gc_session *s, const float *output_grad, const gc_backward_opts *opts) {
    int stop;
    if (backward_check(s, "gc_session_backward_nonfinite", opts->relu_mode, 0, opts->stop_layer, &stop)) return -2;
    const int i = backward_run(s, s->n - 1, output_grad, stop, opts, 1);
    memset(s->grad_ok, 0, (size_t)s->n + 1);
    return i;
}

gc_status gc_session_backward_from(gc_session *s, const char *from, const float *grad, const gc_backward_opts *opts) {
    if (!s || !grad || !opts)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward_from: session, grad or opts is NULL");
    int f, stop;
    gc_status rc = backward_check(s, "gc_session_backward_from", opts->relu_mode, opts->param_grads, opts->stop_layer, &stop);
    if (rc) return rc;
    if ((f = lookup(s, from, "gc_session_backward_from")) == -2) return GC_ERR_NOT_FOUND;
    if ((rc = check_not_folded(s, f, "gc_session_backward_from"))) return rc;
    if (f < stop) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward_from: %s comes before the stop layer", from);
    if ((rc = check_finite("gc_session_backward_from", "grad", grad, f < 0 ? &s->in_shape : &s->shape[f]))) return rc;
    backward_run(s, f, grad, stop, opts, 0);
    return GC_OK;
}

/* ---------------------------------------------------------------- two gradients at once */

/* Index of stop_layer if the layers after it form a chain (each reads only the one before
 * it, none folded) and it is a layer of this session; else -2. */
static int pair_stop(const gc_session *s, const char *stop_layer) {
    int stop = gc_model_find_layer(s->m, stop_layer);
    if (stop < 0 || !s->run[stop] || stop == s->root || stop >= s->n - 1 || s->folded_into[stop] >= 0) return -2;
    for (int i = stop + 1; i < s->n; i++)
        if (s->m->layers[i].n_inputs != 1 || s->m->layers[i].inputs[0] != i - 1 || s->folded_into[i] >= 0 ||
            s->folded_from[i] >= 0)
            return -2;
    return stop;
}

size_t gc_session_pair_floats(const gc_session *s, const char *stop_layer) {
    const int stop = stop_layer ? pair_stop(s, stop_layer) : -2;
    if (stop == -2) return 0;
    int64_t most = 0;
    for (int i = stop; i < s->n; i++)
        if (gc_shape_numel(&s->shape[i]) > most) most = gc_shape_numel(&s->shape[i]);
    return 2 * (((size_t)most + 15) & ~(size_t)15);
}

gc_status gc_session_backward_pair(gc_session *s, const float *output_grad, const char *stop_layer,
                                   gc_relu_mode mode_a, gc_relu_mode mode_b, float *scratch, const float **grad_b) {
    if (!s || !output_grad || !stop_layer || !scratch || !grad_b)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward_pair: NULL argument");
    int stop;
    gc_status rc = backward_check(s, "gc_session_backward_pair", mode_a, 0, stop_layer, &stop);
    if (rc) return rc;
    if (!valid_mode(mode_b))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward_pair: unknown relu_mode %d", (int)mode_b);
    if ((rc = check_finite("gc_session_backward_pair", "output_grad", output_grad, &s->shape[s->n - 1]))) return rc;
    const size_t half = gc_session_pair_floats(s, stop_layer) / 2;   /* 0: not a chain after stop */
    if (!half)
        return gc_error(GC_ERR_UNSUPPORTED, "gc_session_backward_pair: the layers after %s are not a chain", stop_layer);
    backward_begin(s);
    const int last = s->n - 1;
    float *gb[2] = {scratch, scratch + half};   /* stream b's dy and dx, swapped per layer */
    memcpy(s->grad[last], output_grad, (size_t)gc_shape_numel(&s->shape[last]) * sizeof(float));
    memcpy(gb[0], output_grad, (size_t)gc_shape_numel(&s->shape[last]) * sizeof(float));
    for (int i = last; i > stop; i--) {
        gc_layer_ctx c;
        layer_ctx(s, i, &c);
        const gc_layer_ops *ops = gc_layer_ops_of(c.layer->kind);
        double t0 = s->profile ? now() : 0;
        c.dy = s->grad[i];
        c.dx = s->cx_dx[0] = s->grad[i - 1];
        c.relu_mode = mode_a;
        if (!ops->backward_pair || !ops->backward_pair(&c, gb[0], gb[1])) {
            ops->backward(&c);
            c.dy = gb[0];
            c.dx = s->cx_dx[0] = gb[1];
            c.relu_mode = mode_b;
            ops->backward(&c);
        }
        s->seconds[2 * i + 1] = s->profile ? now() - t0 : 0;
        float *t = gb[0];
        gb[0] = gb[1];
        gb[1] = t;
    }
    s->grad_ok[stop] = 1;
    *grad_b = gb[0];
    return GC_OK;
}

/* ---------------------------------------------------------------- views */

static void view_of(const gc_shape *sh, float *data, gc_tensor *v) {
    memset(v, 0, sizeof *v);
    v->data = data;
    v->ndim = sh->ndim;
    for (int i = 0; i < GC_MAX_DIMS; i++) v->shape[i] = i < sh->ndim ? sh->d[i] : 1;
}

gc_status gc_session_output(const gc_session *s, gc_tensor *view) {
    if (!s || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_output: NULL argument");
    if (!s->forward_done) return gc_error(GC_ERR_STATE, "gc_session_output: no forward pass has run");
    view_of(&s->shape[s->n - 1], s->act[s->n - 1], view);
    return GC_OK;
}

gc_status gc_session_activation(const gc_session *s, const char *name, gc_tensor *view) {
    if (!s || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_activation: NULL argument");
    int i = lookup(s, name, "gc_session_activation");
    if (i == -2) return name ? GC_ERR_NOT_FOUND : GC_ERR_INVALID_ARGUMENT;
    if (!s->forward_done) return gc_error(GC_ERR_STATE, "gc_session_activation: no forward pass has run");
    gc_status rc = check_not_folded(s, i, "gc_session_activation");
    if (rc || (rc = check_not_fused(s, i, "gc_session_activation"))) return rc;
    if (i >= 0 && !s->act_kept[i])
        return gc_error(GC_ERR_STATE, "gc_session_activation: the output of \"%s\" is not kept by this session "
                                      "(list it in gc_session_config.keep, or set keep_all)", name);
    if (i < 0) view_of(&s->in_shape, s->input, view);
    else view_of(&s->shape[i], s->act[i], view);
    return GC_OK;
}

gc_status gc_session_shape(const gc_session *s, const char *name, gc_tensor *view) {
    if (!s || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_shape: NULL argument");
    int i = lookup(s, name, "gc_session_shape");
    if (i == -2) return name ? GC_ERR_NOT_FOUND : GC_ERR_INVALID_ARGUMENT;
    view_of(i < 0 ? &s->in_shape : &s->shape[i], NULL, view);
    return GC_OK;
}

gc_status gc_session_gradient(const gc_session *s, const char *name, gc_tensor *view) {
    if (!s || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_gradient: NULL argument");
    int i = lookup(s, name, "gc_session_gradient");
    if (i == -2) return name ? GC_ERR_NOT_FOUND : GC_ERR_INVALID_ARGUMENT;
    if (!s->grad_ok[i < 0 ? s->n : i] || (i >= 0 && s->folded_into[i] >= 0))
        return gc_error(GC_ERR_STATE, "gc_session_gradient: no gradient of \"%s\" from the last backward pass (it "
                                      "keeps only its stop layer's unless the session has keep_all)", name);
    if (i < 0) view_of(&s->in_shape, s->grad_in, view);
    else view_of(&s->shape[i], s->grad[i], view);
    return GC_OK;
}

gc_status gc_session_param_grad(const gc_session *s, const char *name, gc_tensor *view) {
    if (!s || !name || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_param_grad: NULL argument");
    int slot, i = gc_model_find_param(s->m, name, &slot);
    char q[128];
    if (i < 0) return gc_error(GC_ERR_NOT_FOUND, "gc_session_param_grad: no parameter named \"%s\"", gc_quote(q, sizeof q, name, strlen(name)));
    float *g = s->pgrad[i * GC_MAX_PARAMS + slot];
    if (!s->pgrad_ok[i] || !g)
        return gc_error(GC_ERR_STATE, "gc_session_param_grad: the last backward pass did not compute \"%s\"", name);
    view_of(&s->m->layers[i].param_shape[slot], g, view);
    return GC_OK;
}

/* ---------------------------------------------------------------- internal */

const gc_model *gc_session_model(const gc_session *s) { return s->m; }
const gc_session_config *gc_session_config_of(const gc_session *s) { return &s->cfg; }
int gc_session_is_full(const gc_session *s) { return s->root < 0; }
void *gc_session_ext(const gc_session *s) { return s->ext; }

void gc_session_set_ext(gc_session *s, void *ext, void (*free_fn)(void *)) {
    s->ext = ext;
    s->ext_free = free_fn;
}
