/* session.c - planning, forward and backward over a model's layer graph.
 *
 * Planning infers every layer's output shape for one input shape and lays
 * out one arena: the input copy, every activation, every output gradient,
 * the input gradient, parameter gradients (if asked), per-layer state, one
 * accumulation buffer and one scratch workspace sized to the largest need.
 * Forward and backward then only index into it. */
#include "model.h"
#include "session.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gc_session {
    const gc_model   *m;
    gc_session_config cfg;
    int               n;          /* layers */
    int               first;      /* first layer run: 0, or input_layer + 1 */
    gc_shape          in_shape;   /* session input: network input or input_layer's output */
    gc_shape         *shape;      /* (n) output shape of each layer */
    float            *input;      /* (in_shape) copy of the last forward input */
    float           **act;        /* (n) layer outputs */
    float           **grad;       /* (n) d loss / d layer output */
    float            *grad_in;    /* (in_shape) d loss / d input */
    float           **pgrad;      /* (n * GC_MAX_PARAMS) or NULL entries */
    void            **state;      /* (n) per-layer forward -> backward state */
    float            *accum;      /* (largest activation) for multi-consumer sums */
    float            *ws;         /* workspace */
    unsigned char    *act_kept;   /* (n + 1) outputs readable after forward; [n] = input */
    unsigned char    *grad_ok;    /* (n + 1) gradients readable after backward; [n] = input */
    unsigned char    *pgrad_ok;   /* (n) */
    int               forward_done;
    void             *arena;
    size_t            arena_bytes;
    int               profile;    /* record per-layer times */
    double           *seconds;    /* (2 * n) forward, backward time of each layer */
    void             *ext;        /* state of a higher layer (explainer) */
    void            (*ext_free)(void *);
};

/* ---------------------------------------------------------------- planning */

void gc_session_free(gc_session *s) {
    if (!s) return;
    if (s->ext_free) s->ext_free(s->ext);
    gc_free(s->arena);
    gc_free(s->shape);
    gc_free(s->act);
    gc_free(s->grad);
    gc_free(s->pgrad);
    gc_free(s->state);
    gc_free(s->grad_ok);
    gc_free(s->act_kept);
    gc_free(s->pgrad_ok);
    gc_free(s->seconds);
    gc_free(s);
}

/* Producer of layer i's input: a layer index, or -1 for the session input. */
static int producer(const gc_session *s, int i) {
    int j = s->m->layers[i].input;
    return j < s->first ? -1 : j;
}

static gc_status plan_shapes(gc_session *s, const gc_shape *net_in) {
    const gc_model *m = s->m;
    for (int i = 0; i < s->n; i++) {
        const gc_layer *l = &m->layers[i];
        const gc_shape *in = l->input < 0 ? net_in : &s->shape[l->input];
        gc_status st = gc_layer_ops_of(l->kind)->infer(l, in, &s->shape[i]);
        if (st) return gc_error_prefix(st, l->name);
        if (gc_shape_numel(&s->shape[i]) < 1)
            return gc_error(GC_ERR_SHAPE, "%s: output size overflows or is empty", l->name);
        if (i >= s->first && l->input >= 0 && l->input < s->first - 1)
            return gc_error(GC_ERR_UNSUPPORTED, "%s reads %s, which comes before the session's input layer %s",
                            l->name, m->layers[l->input].name, m->layers[s->first - 1].name);
    }
    s->in_shape = s->first ? s->shape[s->first - 1] : *net_in;
    if (s->first == s->n)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "input_layer %s is the output layer: nothing to run",
                        m->layers[s->n - 1].name);
    const gc_shape *out = &s->shape[s->n - 1];
    int64_t per_sample = gc_shape_numel(out) / out->d[0];
    if (m->n_labels > 0 && per_sample != m->n_labels)
        return gc_error(GC_ERR_SHAPE, "model has %d class labels but its output has %lld values per sample",
                        m->n_labels, (long long)per_sample);
    return GC_OK;
}

/* ---------------------------------------------------------------- arena plan
 *
 * Every buffer gets a lifetime on one timeline: step 0 copies the input,
 * forward runs layer i at step i + 1, backward runs layer i at step 2n - i,
 * and END is after the last step. Buffers whose lifetimes do not overlap
 * share memory (greedy placement, largest first). Activations live until
 * their last forward consumer unless something reads them later: the
 * output, kept layers, and whatever a backward reads (GC_READS_*), which
 * stay to END because backward may run several times per forward. A
 * gradient lives from the backward step that first writes it to the step
 * that reads it; the gradient a pass ends on is its last write, so it
 * survives until the next pass. keep_all gives every buffer the whole
 * timeline. */

enum { B_INPUT, B_GRAD_IN, B_ACT, B_GRAD, B_STATE, B_PGRAD, B_ACCUM, B_WS };

typedef struct plan_buf {
    size_t bytes, off;
    int    t0, t1;         /* live over steps [t0, t1] */
    int    what, layer, slot;
} plan_buf;

static int by_size_desc(const void *a, const void *b) {
    const plan_buf *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return (x->what * 65536 + x->layer) - (y->what * 65536 + y->layer); /* stable order */
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

static int in_keep_list(const gc_session_config *cfg, const char *name) {
    for (const char *const *k = cfg->keep; k && *k; k++)
        if (strcmp(*k, name) == 0) return 1;
    return 0;
}

static gc_status plan_arena(gc_session *s) {
    const gc_model *m = s->m;
    const gc_session_config *cfg = &s->cfg;
    const int n = s->n, END = 2 * n + 1, all = cfg->keep_all != 0;
    const int dflt = gc_model_find_layer(m, gc_model_default_layer(m));
    int *last_fwd = gc_alloc_array((size_t)n + 1, sizeof(int));   /* last forward reader; [n] = input */
    int *first_bwd = gc_alloc_array((size_t)n + 1, sizeof(int));  /* first backward writer of the gradient */
    plan_buf *bufs = gc_calloc(3 * (size_t)n + (size_t)n * GC_MAX_PARAMS + 4, sizeof *bufs);
    plan_buf **live = gc_calloc(3 * (size_t)n + (size_t)n * GC_MAX_PARAMS + 4, sizeof *live);
    gc_status st = GC_ERR_OUT_OF_MEMORY;
    if (!last_fwd || !first_bwd || !bufs || !live) goto done;

    /* who reads what, and when */
    int multi = 0;
    s->act_kept[n] = 1; /* the input copy */
    for (int i = 0; i <= n; i++) last_fwd[i] = -1, first_bwd[i] = END;
    for (int i = s->first; i < n; i++) {
        const gc_layer_ops *ops = gc_layer_ops_of(m->layers[i].kind);
        int j = producer(s, i), slot = j < 0 ? n : j;
        int t_bwd = 2 * n - i;
        if (last_fwd[slot] >= 0) multi = 1;
        last_fwd[slot] = i + 1;
        if (t_bwd < first_bwd[slot]) first_bwd[slot] = t_bwd;
        unsigned r = ops->backward_reads;
        if ((r & GC_READS_X) || ((r & GC_READS_X_PARAMS) && cfg->param_grads)) s->act_kept[slot] = 1;
        if (r & GC_READS_Y) s->act_kept[i] = 1;
        if (all || i == n - 1 || i == dflt || in_keep_list(cfg, m->layers[i].name)) s->act_kept[i] = 1;
    }

    /* the buffers and their lifetimes */
    int nb = 0;
    size_t ws_floats = 0;
    int64_t largest = gc_shape_numel(&s->in_shape);
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
    ADD(B_GRAD_IN, -1, 0, in_numel, sizeof(float), all ? 0 : first_bwd[n], END);
    for (int i = s->first; i < n; i++) {
        const gc_layer *l = &m->layers[i];
        const gc_layer_ops *ops = gc_layer_ops_of(l->kind);
        int j = producer(s, i);
        const gc_shape *in = j < 0 ? &s->in_shape : &s->shape[j];
        int64_t numel = gc_shape_numel(&s->shape[i]);
        if (numel > largest) largest = numel;
        int act_end = s->act_kept[i] ? END : (last_fwd[i] > i + 1 ? last_fwd[i] : i + 1);
        int g0 = i == n - 1 ? 2 * n - i : first_bwd[i];
        ADD(B_ACT, i, 0, numel, sizeof(float), all ? 0 : i + 1, act_end);
        if (g0 <= 2 * n - i || all) ADD(B_GRAD, i, 0, numel, sizeof(float), all ? 0 : g0, all ? END : 2 * n - i);
        ADD(B_STATE, i, 0, (int64_t)ops->state_bytes(l, in, &s->shape[i]), 1, 0, END);
        size_t w = ops->workspace(l, in, &s->shape[i]);
        if (w > ws_floats) ws_floats = w;
        for (int k = 0; cfg->param_grads && k < l->n_params; k++)
            if (!(l->kind == GC_LAYER_BATCHNORM2D && k >= 2))
                ADD(B_PGRAD, i, k, gc_shape_numel(&l->param_shape[k]), sizeof(float), 0, END);
    }
    if (multi) ADD(B_ACCUM, -1, 0, largest, sizeof(float), n + 1, END);
    ADD(B_WS, -1, 0, (int64_t)ws_floats, sizeof(float), 0, END);
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
        case B_ACCUM: s->accum = p; break;
        default: s->ws = p; break;
        }
    }
    st = GC_OK;
done:
    gc_free(last_fwd);
    gc_free(first_bwd);
    gc_free(bufs);
    gc_free(live);
    return st;
}

gc_status gc_session_create(const gc_model *m, const gc_session_config *cfg, gc_session **out) {
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

    gc_session *s = gc_calloc(1, sizeof *s);
    if (!s) return GC_ERR_OUT_OF_MEMORY;
    s->m = m;
    s->cfg = *cfg;
    s->n = m->n_layers;
    gc_shape net_in = {4, {cfg->batch, cfg->channels, cfg->height, cfg->width}};
    s->cfg.input_layer = NULL; /* not retained */
    if (cfg->input_layer) {
        int x = gc_model_find_layer(m, cfg->input_layer);
        if (x < 0) {
            gc_free(s);
            return gc_error(GC_ERR_NOT_FOUND, "gc_session_create: no layer named \"%.100s\" for input_layer",
                            cfg->input_layer);
        }
        s->first = x + 1;
    }
    size_t n = (size_t)s->n;
    s->shape = gc_calloc(n, sizeof *s->shape);
    s->act = gc_calloc(n, sizeof *s->act);
    s->grad = gc_calloc(n, sizeof *s->grad);
    s->pgrad = gc_calloc(n * GC_MAX_PARAMS, sizeof *s->pgrad);
    s->state = gc_calloc(n, sizeof *s->state);
    s->grad_ok = gc_calloc(n + 1, 1);
    s->act_kept = gc_calloc(n + 1, 1);
    s->pgrad_ok = gc_calloc(n, 1);
    s->seconds = gc_calloc(2 * n, sizeof *s->seconds);
    gc_status st = GC_ERR_OUT_OF_MEMORY;
    if (!s->shape || !s->act || !s->grad || !s->pgrad || !s->state || !s->grad_ok || !s->pgrad_ok || !s->seconds ||
        !s->act_kept)
        goto fail;
    if (gc_shape_numel(&net_in) < 0) {
        st = gc_error(GC_ERR_SHAPE, "gc_session_create: input size overflows");
        goto fail;
    }
    if ((st = plan_shapes(s, &net_in))) goto fail;

    st = plan_arena(s);
    s->cfg.keep = NULL; /* not retained */
    if (st) goto fail;
    *out = s;
    return GC_OK;
fail:
    gc_session_free(s);
    return st;
}

size_t gc_session_memory(const gc_session *s) { return s ? s->arena_bytes : 0; }

/* ---------------------------------------------------------------- forward */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void gc_session_set_profiling(gc_session *s, int on) {
    if (s) s->profile = on != 0;
}

double gc_session_layer_seconds(const gc_session *s, int layer, int backward) {
    if (!s || layer < 0 || layer >= s->n) return -1;
    return s->seconds[2 * layer + (backward != 0)];
}

static void layer_ctx(const gc_session *s, int i, gc_layer_ctx *c) {
    const gc_layer *l = &s->m->layers[i];
    int j = producer(s, i);
    memset(c, 0, sizeof *c);
    c->layer = l;
    c->in = j < 0 ? s->in_shape : s->shape[j];
    c->out = s->shape[i];
    c->x = j < 0 ? s->input : s->act[j];
    c->y = s->act[i];
    c->state = s->state[i];
    c->ws = s->ws;
    c->kernels = s->cfg.kernels;
    c->no_winograd = s->cfg.no_winograd;
}

gc_status gc_session_forward(gc_session *s, const float *input) {
    if (!s || !input) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_forward: session or input is NULL");
    memcpy(s->input, input, (size_t)gc_shape_numel(&s->in_shape) * sizeof(float));
    for (int i = s->first; i < s->n; i++) {
        gc_layer_ctx c;
        layer_ctx(s, i, &c);
        double t0 = s->profile ? now() : 0;
        gc_layer_ops_of(c.layer->kind)->forward(&c);
        s->seconds[2 * i] = s->profile ? now() - t0 : 0;
    }
    s->forward_done = 1;
    memset(s->grad_ok, 0, (size_t)s->n + 1);
    memset(s->pgrad_ok, 0, (size_t)s->n);
    return GC_OK;
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
    if (i < 0) gc_error(GC_ERR_NOT_FOUND, "%s: no layer named \"%.100s\"", what, name);
    else if (i == s->first - 1) return -1;
    else if (i < s->first) {
        gc_error(GC_ERR_NOT_FOUND, "%s: layer \"%s\" comes before this session's input layer", what, name);
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
    return GC_OK;
}

/* Backward from the gradient of layer `from`'s output down to (not through) layer `stop`. */
static void backward_run(gc_session *s, int from, const float *grad, int stop, const gc_backward_opts *opts) {
    backward_begin(s);
    float *g0 = from < 0 ? s->grad_in : s->grad[from];
    if (g0 != grad)
        memcpy(g0, grad, (size_t)gc_shape_numel(from < 0 ? &s->in_shape : &s->shape[from]) * sizeof(float));
    s->grad_ok[from < 0 ? s->n : from] = 1;

    for (int i = from; i > stop && i >= s->first; i--) {
        if (!s->grad_ok[i]) continue; /* not downstream of anything we differentiate */
        gc_layer_ctx c;
        layer_ctx(s, i, &c);
        const gc_layer *l = c.layer;
        int j = producer(s, i); /* -1 = session input */
        int needed = j >= stop;
        int slot = j < 0 ? s->n : j;
        float *dst = j < 0 ? s->grad_in : s->grad[j];
        int add = needed && s->grad_ok[slot];
        c.dy = s->grad[i];
        c.dx = needed ? (add ? s->accum : dst) : NULL;
        c.relu_mode = opts->relu_mode;
        if (opts->param_grads) {
            for (int k = 0; k < l->n_params; k++) c.dparam[k] = s->pgrad[i * GC_MAX_PARAMS + k];
            s->pgrad_ok[i] = 1;
        }
        if (!c.dx && !opts->param_grads) continue;
        double t0 = s->profile ? now() : 0;
        gc_layer_ops_of(l->kind)->backward(&c);
        s->seconds[2 * i + 1] = s->profile ? now() - t0 : 0;
        if (add) {
            int64_t cnt = gc_shape_numel(&c.in);
            for (int64_t k = 0; k < cnt; k++) dst[k] += s->accum[k];
        }
        if (needed) s->grad_ok[slot] = 1;
    }
    if (!s->cfg.keep_all) {
        /* only the gradient the pass ended on is sure to be intact */
        int keep = stop < 0 ? s->n : stop;
        for (int i = 0; i <= s->n; i++)
            if (i != keep) s->grad_ok[i] = 0;
    }
}

gc_status gc_session_backward(gc_session *s, const float *output_grad, const gc_backward_opts *opts) {
    if (!s || !output_grad || !opts)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward: session, output_grad or opts is NULL");
    int stop;
    gc_status rc = backward_check(s, "gc_session_backward", opts->relu_mode, opts->param_grads, opts->stop_layer, &stop);
    if (rc) return rc;
    backward_run(s, s->n - 1, output_grad, stop, opts);
    return GC_OK;
}

gc_status gc_session_backward_from(gc_session *s, const char *from, const float *grad, const gc_backward_opts *opts) {
    if (!s || !grad || !opts)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward_from: session, grad or opts is NULL");
    int f, stop;
    gc_status rc = backward_check(s, "gc_session_backward_from", opts->relu_mode, opts->param_grads, opts->stop_layer, &stop);
    if (rc) return rc;
    if ((f = lookup(s, from, "gc_session_backward_from")) == -2) return GC_ERR_NOT_FOUND;
    if (f < stop) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward_from: %s comes before the stop layer", from);
    backward_run(s, f, grad, stop, opts);
    return GC_OK;
}

/* ---------------------------------------------------------------- two gradients at once */

/* Index of stop_layer if every layer after it is a chain (each reads its predecessor) and
 * it is a layer of this session; else -2. */
static int pair_stop(const gc_session *s, const char *stop_layer) {
    int stop = gc_model_find_layer(s->m, stop_layer);
    if (stop < s->first || stop >= s->n - 1) return -2;
    for (int i = stop + 1; i < s->n; i++)
        if (producer(s, i) != i - 1) return -2;
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
        double t0 = s->profile ? now() : 0;
        c.dy = s->grad[i];
        c.dx = s->grad[i - 1];
        c.relu_mode = mode_a;
        if (c.layer->kind != GC_LAYER_LINEAR || !gc_linear_dx_pair(&c, gb[0], gb[1])) {
            gc_layer_ops_of(c.layer->kind)->backward(&c);
            c.dy = gb[0];
            c.dx = gb[1];
            c.relu_mode = mode_b;
            gc_layer_ops_of(c.layer->kind)->backward(&c);
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
    if (!s->grad_ok[i < 0 ? s->n : i])
        return gc_error(GC_ERR_STATE, "gc_session_gradient: no gradient of \"%s\" from the last backward pass (it "
                                      "keeps only its stop layer's unless the session has keep_all)", name);
    if (i < 0) view_of(&s->in_shape, s->grad_in, view);
    else view_of(&s->shape[i], s->grad[i], view);
    return GC_OK;
}

gc_status gc_session_param_grad(const gc_session *s, const char *name, gc_tensor *view) {
    if (!s || !name || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_param_grad: NULL argument");
    int slot, i = gc_model_find_param(s->m, name, &slot);
    if (i < 0) return gc_error(GC_ERR_NOT_FOUND, "gc_session_param_grad: no parameter named \"%.100s\"", name);
    float *g = s->pgrad[i * GC_MAX_PARAMS + slot];
    if (!s->pgrad_ok[i] || !g)
        return gc_error(GC_ERR_STATE, "gc_session_param_grad: the last backward pass did not compute \"%s\"", name);
    view_of(&s->m->layers[i].param_shape[slot], g, view);
    return GC_OK;
}

/* ---------------------------------------------------------------- internal */

const gc_model *gc_session_model(const gc_session *s) { return s->m; }
const gc_session_config *gc_session_config_of(const gc_session *s) { return &s->cfg; }
int gc_session_is_full(const gc_session *s) { return s->first == 0; }
void *gc_session_ext(const gc_session *s) { return s->ext; }

void gc_session_set_ext(gc_session *s, void *ext, void (*free_fn)(void *)) {
    s->ext = ext;
    s->ext_free = free_fn;
}
