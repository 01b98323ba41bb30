/* session.c - planning, forward and backward over a model's layer graph.
 *
 * Planning infers every layer's output shape for one input shape and lays
 * out one arena: the input copy, every activation, every output gradient,
 * the input gradient, parameter gradients (if asked), per-layer state, one
 * accumulation buffer and one scratch workspace sized to the largest need.
 * Forward and backward then only index into it. */
#include "model.h"
#include "session.h"
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
    unsigned char    *grad_ok;    /* (n + 1) which gradients the last backward made; [n] = input */
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

/* Byte offsets within the arena, each rounded up to GC_ALIGN. */
typedef struct { size_t off; int overflow; } layout;

static size_t take(layout *lay, int64_t count, size_t elem) {
    size_t bytes, start = lay->off, end;
    if (count < 0 || gc_mul_size((size_t)count, elem, &bytes) ||
        gc_add_size(start, bytes, &end) || gc_add_size(end, GC_ALIGN - 1, &end)) {
        lay->overflow = 1;
        return 0;
    }
    lay->off = end & ~(size_t)(GC_ALIGN - 1);
    return start;
}

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
    s->pgrad_ok = gc_calloc(n, 1);
    s->seconds = gc_calloc(2 * n, sizeof *s->seconds);
    gc_status st = GC_ERR_OUT_OF_MEMORY;
    if (!s->shape || !s->act || !s->grad || !s->pgrad || !s->state || !s->grad_ok || !s->pgrad_ok || !s->seconds)
        goto fail;
    if (gc_shape_numel(&net_in) < 0) {
        st = gc_error(GC_ERR_SHAPE, "gc_session_create: input size overflows");
        goto fail;
    }
    if ((st = plan_shapes(s, &net_in))) goto fail;

    /* Lay out the arena: offsets first, then one allocation. */
    layout lay = {0, 0};
    size_t *off = gc_calloc(3 * n + n * GC_MAX_PARAMS, sizeof *off);
    if (!off) { st = GC_ERR_OUT_OF_MEMORY; goto fail; }
    int64_t in_numel = gc_shape_numel(&s->in_shape), largest = in_numel;
    size_t ws_floats = 0;
    size_t off_input = take(&lay, in_numel, sizeof(float));
    size_t off_grad_in = take(&lay, in_numel, sizeof(float));
    for (size_t i = (size_t)s->first; i < n; i++) {
        const gc_layer *l = &m->layers[i];
        const gc_layer_ops *ops = gc_layer_ops_of(l->kind);
        const gc_shape *in = producer(s, (int)i) < 0 ? &s->in_shape : &s->shape[l->input];
        int64_t numel = gc_shape_numel(&s->shape[i]);
        if (numel > largest) largest = numel;
        off[3 * i] = take(&lay, numel, sizeof(float));
        off[3 * i + 1] = take(&lay, numel, sizeof(float));
        off[3 * i + 2] = take(&lay, (int64_t)ops->state_bytes(l, in, &s->shape[i]), 1);
        size_t w = ops->workspace(l, in, &s->shape[i]);
        if (w > ws_floats) ws_floats = w;
        for (int j = 0; cfg->param_grads && j < l->n_params; j++) {
            int trainable = !(l->kind == GC_LAYER_BATCHNORM2D && j >= 2);
            if (trainable) off[3 * n + i * GC_MAX_PARAMS + j] = take(&lay, gc_shape_numel(&l->param_shape[j]), sizeof(float));
        }
    }
    size_t off_accum = take(&lay, largest, sizeof(float));
    size_t off_ws = take(&lay, (int64_t)ws_floats, sizeof(float));
    size_t limit = cfg->max_bytes ? cfg->max_bytes : GC_SESSION_DEFAULT_MAX_BYTES;
    if (lay.overflow || lay.off > limit) {
        gc_free(off);
        st = lay.overflow ? gc_error(GC_ERR_LIMIT, "gc_session_create: buffer sizes overflow")
                          : gc_error(GC_ERR_LIMIT, "gc_session_create: the plan needs %zu bytes, more than the limit of "
                                                   "%zu (gc_session_config.max_bytes)", lay.off, limit);
        goto fail;
    }
    s->arena = gc_alloc(lay.off);
    if (!s->arena) {
        gc_free(off);
        st = GC_ERR_OUT_OF_MEMORY;
        goto fail;
    }
    s->arena_bytes = lay.off;
    char *base = s->arena;
    s->input = (float *)(base + off_input);
    s->grad_in = (float *)(base + off_grad_in);
    s->accum = (float *)(base + off_accum);
    s->ws = (float *)(base + off_ws);
    for (size_t i = (size_t)s->first; i < n; i++) {
        const gc_layer *l = &m->layers[i];
        s->act[i] = (float *)(base + off[3 * i]);
        s->grad[i] = (float *)(base + off[3 * i + 1]);
        s->state[i] = base + off[3 * i + 2];
        for (int j = 0; cfg->param_grads && j < l->n_params; j++) {
            int trainable = !(l->kind == GC_LAYER_BATCHNORM2D && j >= 2);
            if (trainable) s->pgrad[i * GC_MAX_PARAMS + j] = (float *)(base + off[3 * n + i * GC_MAX_PARAMS + j]);
        }
    }
    gc_free(off);
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

gc_status gc_session_backward(gc_session *s, const float *output_grad, const gc_backward_opts *opts) {
    if (!s || !output_grad || !opts)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward: session, output_grad or opts is NULL");
    if (!s->forward_done) return gc_error(GC_ERR_STATE, "gc_session_backward: no forward pass has run");
    if (opts->relu_mode != GC_RELU_NORMAL && opts->relu_mode != GC_RELU_GUIDED &&
        opts->relu_mode != GC_RELU_DECONVNET)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_backward: unknown relu_mode %d", (int)opts->relu_mode);
    if (opts->param_grads && !s->cfg.param_grads)
        return gc_error(GC_ERR_STATE, "gc_session_backward: parameter gradients asked for, but the session "
                                      "was created without param_grads");
    int stop = -1;
    if (opts->stop_layer && (stop = lookup(s, opts->stop_layer, "gc_session_backward")) == -2)
        return GC_ERR_NOT_FOUND;
    memset(s->grad_ok, 0, (size_t)s->n + 1);
    memset(s->pgrad_ok, 0, (size_t)s->n);
    for (int i = 0; i < s->n; i++) s->seconds[2 * i + 1] = 0;
    int last = s->n - 1;
    memcpy(s->grad[last], output_grad, (size_t)gc_shape_numel(&s->shape[last]) * sizeof(float));
    s->grad_ok[last] = 1;

    for (int i = last; i > stop && i >= s->first; i--) {
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
    if (i < 0) view_of(&s->in_shape, s->input, view);
    else view_of(&s->shape[i], s->act[i], view);
    return GC_OK;
}

gc_status gc_session_gradient(const gc_session *s, const char *name, gc_tensor *view) {
    if (!s || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_session_gradient: NULL argument");
    int i = lookup(s, name, "gc_session_gradient");
    if (i == -2) return name ? GC_ERR_NOT_FOUND : GC_ERR_INVALID_ARGUMENT;
    if (!s->grad_ok[i < 0 ? s->n : i])
        return gc_error(GC_ERR_STATE, "gc_session_gradient: the last backward pass did not reach \"%s\"", name);
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
