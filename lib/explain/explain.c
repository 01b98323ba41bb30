/* explain.c - gc_explain: the capture stage and the method table.
 *
 * Per request: forward once; when a method needs the gradient at the target layer, one
 * backward from the targets' one-hot gradients down to that layer (K > 1 targets: one
 * batched backward through a second session that starts after the target layer and holds
 * K copies of its activation, and of every other tensor the layers after it read, copied in
 * during the forward pass). With one target, that backward and guided backprop share the
 * pass through the head (gc_session_backward_pair: each linear layer's weights are read
 * once for both rules). Then every requested method of the table runs in table order
 * (methods_cam.c, methods_input.c, methods_score.c), filling named maps carved from one
 * buffer kept with the session and grown only when a request needs more. */
#include "explain/explain.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static void state_free(void *p) {
    explain_state *st = p;
    if (!st) return;
    gc_free(st->buf);
    gc_free(st->items);
    gc_free(st->maps);
    gc_session_free(st->head);
    gc_session_free(st->batch);
    gc_session_free(st->abl);
    gc_free(st);
}

/* ---------------------------------------------------------------- the table */

static const method_entry *entry_at(int i) {
    if (i < 0) return NULL;
    if (i < gc_methods_cam_count) return &gc_methods_cam[i];
    i -= gc_methods_cam_count;
    if (i < gc_methods_input_count) return &gc_methods_input[i];
    i -= gc_methods_input_count;
    if (i < gc_methods_score_count) return &gc_methods_score[i];
    return NULL;
}

int gc_method_count(void) { return gc_methods_cam_count + gc_methods_input_count + gc_methods_score_count; }

const gc_method_info *gc_method_at(int i) {
    const method_entry *e = entry_at(i);
    return e ? &e->info : NULL;
}

const gc_method_info *gc_method_find(const char *name) {
    for (int i = 0; name && i < gc_method_count(); i++)
        if (strcmp(entry_at(i)->info.name, name) == 0) return &entry_at(i)->info;
    return NULL;
}

gc_status gc_method_parse(const char *list, unsigned *bits) {
    if (!list || !bits) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_method_parse: list or bits is NULL");
    *bits = 0;
    char q[96];
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char name[40];
        if (n == 0) return gc_error(GC_ERR_INVALID_ARGUMENT, "method list \"%s\": empty name", gc_quote(q, sizeof q, list, strlen(list)));
        const gc_method_info *mi = NULL;
        if (n < sizeof name) {
            memcpy(name, p, n);
            name[n] = 0;
            mi = gc_method_find(name);
            if (!mi && strcmp(name, "all") == 0) *bits |= GC_METHOD_ALL;
        }
        if (mi) *bits |= mi->bit;
        else if (!(n < sizeof name && strcmp(name, "all") == 0)) {
            char qn[64];
            return gc_error(GC_ERR_INVALID_ARGUMENT, "unknown method \"%s\" (gc_method_at lists them, or \"all\")",
                            gc_quote(qn, sizeof qn, p, n));
        }
        if (!e) break;
        p = e + 1;
    }
    return GC_OK;
}

gc_method_params gc_method_params_defaults(void) {
    gc_method_params p = {0};
    p.batch = 32;
    p.ig_steps = 32;
    p.noise_samples = 16;
    p.noise_sigma = 0.15f;
    p.noise_seed = 1;
    p.noise_base = GC_METHOD_SALIENCY;
    return p;
}

const gc_tensor *gc_explanation_map(const gc_explanation *e, const char *name) {
    for (int i = 0; e && name && i < e->n_maps; i++)
        if (strcmp(e->maps[i].name, name) == 0) return &e->maps[i].t;
    return NULL;
}

/* ---------------------------------------------------------------- targets */

static void softmax(const float *y, int64_t n, float *p) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) mx = y[i] > mx ? y[i] : mx;
    for (int64_t i = 0; i < n; i++) sum += exp((double)y[i] - mx);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(exp((double)y[i] - mx) / sum);
}

/* The k largest outputs, best first (ties: lower index first). */
static void top_k(const float *y, int64_t n, int k, int *out) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int64_t i = 0; i < n; i++) {
            int taken = 0;
            for (int t = 0; t < j; t++) taken |= out[t] == (int)i;
            if (!taken && (best < 0 || y[i] > y[best])) best = (int)i;
        }
        out[j] = best;
    }
}

double gc_x_score(const capture *c, int t, const float *y) {
    if (c->targets[t] >= 0) return y[c->targets[t]];
    double sc = 0;
    for (int64_t i = 0; i < c->classes; i++) sc += (double)c->req->output_grad[i] * y[i];
    return sc;
}

/* ---------------------------------------------------------------- buffers */

static gc_status reserve(explain_state *st, size_t floats, int items) {
    if (floats > st->buf_floats) {
        gc_free(st->buf);
        st->buf_floats = 0;
        st->buf = gc_alloc_array(floats, sizeof(float));
        if (!st->buf) return GC_ERR_OUT_OF_MEMORY;
        st->buf_floats = floats;
    }
    if (items > st->cap_items) {
        gc_free(st->items);
        gc_free(st->maps);
        st->cap_items = 0;
        st->items = gc_calloc((size_t)items, sizeof *st->items);
        st->maps = gc_calloc((size_t)items * GC_EXPLAIN_MAPS_PER_TARGET, sizeof *st->maps);
        if (!st->items || !st->maps) return GC_ERR_OUT_OF_MEMORY;
        st->cap_items = items;
    }
    return GC_OK;
}

float *gc_x_carve(capture *c, int64_t n) {
    float *p = c->cur;
    if (n < 0 || (int64_t)fl16(n) > c->end - c->cur) {
        gc_error(GC_ERR_STATE, "gc_explain: a method carved more than it sized");
        return NULL;
    }
    c->cur += fl16(n); /* keep 64-byte alignment */
    return p;
}

void gc_x_view(gc_tensor *t, float *data, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    memset(t, 0, sizeof *t);
    t->data = data;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim > 1 ? d1 : 1;
    t->shape[2] = ndim > 2 ? d2 : 1;
    t->shape[3] = 1;
}

gc_status gc_x_register(capture *c, int t, unsigned method, const char *name, const gc_tensor *view) {
    gc_explanation *e = &c->st->items[t];
    if (e->n_maps >= GC_EXPLAIN_MAPS_PER_TARGET)
        return gc_error(GC_ERR_STATE, "gc_explain: more than %d maps per target", GC_EXPLAIN_MAPS_PER_TARGET);
    gc_map *m = &c->st->maps[(size_t)t * GC_EXPLAIN_MAPS_PER_TARGET + (size_t)e->n_maps++];
    m->name = name;
    m->method = method;
    m->t = *view;
    return GC_OK;
}

float *gc_x_map(capture *c, int t, unsigned method, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    int64_t n = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
    float *p = gc_x_carve(c, n);
    if (!p) return NULL;
    gc_tensor v;
    gc_x_view(&v, p, ndim, d0, d1, d2);
    return gc_x_register(c, t, method, name, &v) ? NULL : p;
}

size_t gc_x_layer_floats(const capture *c) { return fl16(c->hw) + fl16(c->HW); }

gc_status gc_x_layer_maps(capture *c, int t, unsigned method, const char *name, const char *name_up, const float *map) {
    float *m = gc_x_map(c, t, method, name, 2, c->h, c->w, 1);
    float *up = m ? gc_x_map(c, t, method, name_up, 2, c->H, c->W, 1) : NULL;
    if (!up) return GC_ERR_STATE;
    memmove(m, map, (size_t)c->hw * sizeof(float)); /* map may be where m was carved */
    gc_map_resize_bilinear(m, c->h, c->w, up, c->H, c->W);
    return GC_OK;
}

/* ---------------------------------------------------------------- sessions */

/* Batch-K session starting after `layer`, cached in (*slot, name, k) while layer and K stay. */
static gc_status after_session(gc_session *s, const char *layer, int64_t k, gc_session **slot, char *name,
                               size_t cap, int64_t *slot_k, const char *what) {
    if (!*slot || *slot_k != k || strcmp(name, layer) != 0) {
        gc_session_free(*slot);
        *slot = NULL;
        gc_session_config cfg = *gc_session_config_of(s);
        cfg.batch = k;
        cfg.param_grads = 0;
        cfg.input_layer = layer;
        cfg.keep = NULL;
        cfg.keep_all = 0;
        gc_status rc = gc_session_create_head(gc_session_model(s), &cfg, slot);
        if (rc) return gc_error_prefix(rc, what);
        gc_strlcpy(name, layer, cap);
        *slot_k = k;
    }
    return GC_OK;
}

gc_status gc_x_after_session(capture *c, int64_t n, gc_session **out) {
    explain_state *st = c->st;
    gc_status rc = after_session(c->s, c->layer, n, &st->abl, st->abl_layer, sizeof st->abl_layer, &st->abl_n,
                                 "Ablation-CAM head session");
    if (rc) return rc;
    *out = st->abl;
    return GC_OK;
}

gc_status gc_x_batch_session(capture *c, int64_t n, gc_session **out) {
    explain_state *st = c->st;
    if (!st->batch || st->batch_n != n) {
        gc_session_free(st->batch);
        st->batch = NULL;
        gc_session_config cfg = *gc_session_config_of(c->s);
        cfg.batch = n;
        cfg.param_grads = 0;
        cfg.keep = NULL;
        cfg.keep_all = 0;
        gc_status rc = gc_session_create(c->m, &cfg, &st->batch);
        if (rc) return gc_error_prefix(rc, "batched session");
        st->batch_n = n;
    }
    *out = st->batch;
    return GC_OK;
}

/* ---------------------------------------------------------------- non-finite maps */

/* "class 3" or "the caller's gradient" (for messages). */
static const char *target_name(const gc_explanation *e, char *b, size_t cap) {
    if (e->class_index < 0) snprintf(b, cap, "the caller's gradient");
    else snprintf(b, cap, "class %d", e->class_index);
    return b;
}

/* A map of target e that came out non-finite is an error naming where: the first layer whose
 * backward pass gives a non-finite gradient (found by a second, checking pass with the same
 * rule), or the step after the gradients (channel weights, the products) that overflowed. */
static gc_status nonfinite_map(gc_session *s, const gc_explanation *e, const float *onehot, const char *layer,
                               const char *map, gc_relu_mode mode, int gradient) {
    char tn[48];
    target_name(e, tn, sizeof tn);
    if (!gradient)
        return gc_error(GC_ERR_NUMERIC, "gc_explain: %s: the %s map is not finite although the gradients it is made of "
                        "are: a product overflows float32 (activations or gradients too large)", tn, map);
    gc_backward_opts bo = {mode == GC_RELU_NORMAL ? layer : NULL, mode, 0};
    const int j = gc_session_backward_nonfinite(s, onehot, &bo);
    if (j < 0)
        return gc_error(GC_ERR_NUMERIC, "gc_explain: %s: the gradient behind the %s map is not finite", tn, map);
    return gc_error(GC_ERR_NUMERIC, "gc_explain: %s: the %s map is not finite: the gradient first becomes non-finite "
                    "in the backward pass of layer %s (%s)", tn, map, gc_model_layer_name(gc_session_model(s), j),
                    gc_layer_kind_name(gc_model_layer_kind(gc_session_model(s), j)));
}

/* Every map of e finite, else the error (one pass over each map: they are small next to the
 * network's activations; the gradient at the target layer is checked when it is computed). */
static gc_status check_maps(gc_session *s, const gc_explanation *e, const float *onehot, const char *layer) {
    const gc_tensor *t;
    const gc_tensor *derived[] = {&e->alpha, &e->cam_raw, &e->cam_up, &e->cam_norm, &e->counterfactual, &e->cam_zhou};
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++)
        if ((t = derived[i])->data && gc_first_nonfinite(t->data, gc_tensor_numel(t)) >= 0)
            return nonfinite_map(s, e, onehot, layer, i == 5 ? "CAM" : "Grad-CAM", GC_RELU_NORMAL, 0);
    if ((t = &e->guided)->data && gc_first_nonfinite(t->data, gc_tensor_numel(t)) >= 0)
        return nonfinite_map(s, e, onehot, layer, "guided backpropagation", GC_RELU_GUIDED, 1);
    if ((t = &e->guided_gradcam)->data && gc_first_nonfinite(t->data, gc_tensor_numel(t)) >= 0)
        return nonfinite_map(s, e, onehot, layer, "Guided Grad-CAM", GC_RELU_GUIDED, 0);
    if ((t = &e->deconvnet)->data && gc_first_nonfinite(t->data, gc_tensor_numel(t)) >= 0)
        return nonfinite_map(s, e, onehot, layer, "deconvnet", GC_RELU_DECONVNET, 1);
    char tn[48];
    for (int i = 0; i < e->n_maps; i++) /* the other methods' maps */
        if (gc_first_nonfinite(e->maps[i].t.data, gc_tensor_numel(&e->maps[i].t)) >= 0)
            return gc_error(GC_ERR_NUMERIC, "gc_explain: %s: the %s map is not finite (a product or sum overflows "
                            "float32, or a gradient is not finite)", target_name(e, tn, sizeof tn), e->maps[i].name);
    return GC_OK;
}

/* ---------------------------------------------------------------- explain */

/* The request's parameters, defaults filled in and checked. */
static gc_status params_of(const gc_explain_request *req, gc_method_params *p) {
    gc_method_params d = gc_method_params_defaults();
    *p = req->params ? *req->params : d;
    if (p->batch == 0) p->batch = d.batch;
    if (p->ig_steps == 0) p->ig_steps = d.ig_steps;
    if (p->noise_samples == 0) p->noise_samples = d.noise_samples;
    if (p->noise_base == 0) p->noise_base = d.noise_base;
    if (p->batch < 1 || p->batch > 4096)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: params.batch %d outside 1..4096", p->batch);
    if (p->ig_steps < 1 || p->ig_steps > 100000)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: params.ig_steps %d outside 1..100000", p->ig_steps);
    if (p->noise_samples < 1 || p->noise_samples > 100000)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: params.noise_samples %d outside 1..100000", p->noise_samples);
    if (!(p->noise_sigma >= 0.0f && p->noise_sigma <= 100.0f))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: params.noise_sigma %g outside 0..100", (double)p->noise_sigma);
    if (p->noise_base != GC_METHOD_SALIENCY && p->noise_base != GC_METHOD_INPUT_X_GRADIENT &&
        p->noise_base != GC_METHOD_GUIDED_BACKPROP && p->noise_base != GC_METHOD_DECONVNET)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: params.noise_base 0x%x is not saliency, input x gradient, "
                        "guided backprop or deconvnet", p->noise_base);
    if (p->occlusion_patch < 0 || p->occlusion_stride < 0 || !isfinite(p->occlusion_fill))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: occlusion patch %d, stride %d, fill %g", p->occlusion_patch,
                        p->occlusion_stride, (double)p->occlusion_fill);
    return GC_OK;
}

gc_status gc_explain(gc_session *s, const float *input, const gc_explain_request *req,
                     gc_explain_result *res) {
    if (!s || !input || !req || !res)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: session, input, request or result is NULL");
    memset(res, 0, sizeof *res);
    const gc_model *m = gc_session_model(s);
    const gc_session_config *cfg = gc_session_config_of(s);
    if (!gc_session_is_full(s)) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: the session starts at an input_layer");
    if (cfg->batch != 1) return gc_error(GC_ERR_SHAPE, "gc_explain: the session has batch %lld; explanations need batch 1", (long long)cfg->batch);
    unsigned methods = req->methods ? req->methods : GC_METHOD_GRADCAM;
    if (methods & ~GC_METHOD_ALL)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: unknown method bits 0x%x", methods);
    const int n_entries = gc_method_count();
    for (int changed = 1; changed;) { /* what the methods imply */
        changed = 0;
        for (int i = 0; i < n_entries; i++)
            if ((methods & entry_at(i)->info.bit) && (methods | entry_at(i)->implies) != methods) {
                methods |= entry_at(i)->implies;
                changed = 1;
            }
    }
    unsigned needs = 0;
    for (int i = 0; i < n_entries; i++)
        if (methods & entry_at(i)->info.bit) needs |= entry_at(i)->needs;
    const int need_grad = (needs & NEED_LAYER_GRAD) != 0, want_guided = (methods & GC_METHOD_GUIDED_BACKPROP) != 0;

    capture cx;
    memset(&cx, 0, sizeof cx);
    gc_status rc = params_of(req, &cx.p);
    if (rc) return rc;
    const char *layer = req->layer ? req->layer : gc_model_default_layer(m);
    if (!layer) return gc_error(GC_ERR_SHAPE, "gc_explain: the model has no spatial layer to explain at");
    int li = gc_model_find_layer(m, layer);
    char q[128];
    if (li < 0) return gc_error(GC_ERR_NOT_FOUND, "gc_explain: no layer named \"%s\"", gc_quote(q, sizeof q, layer, strlen(layer)));
    /* the model's copy of the name as given (the layer's or one of its aliases): it outlives the request */
    const char *own = gc_model_layer_name(m, li);
    for (int k = 0; k < gc_model_layer_alias_count(m, li); k++)
        if (strcmp(gc_model_layer_alias(m, li, k), layer) == 0) own = gc_model_layer_alias(m, li, k);
    layer = own;

    explain_state *st = gc_session_ext(s);
    if (!st) {
        st = gc_calloc(1, sizeof *st);
        if (!st) return GC_ERR_OUT_OF_MEMORY;
        gc_session_set_ext(s, st, state_free);
    }

    /* what the output and target layer look like; how many targets */
    gc_tensor y, A;
    if ((rc = gc_session_shape(s, layer, &A))) return rc;
    if (A.ndim != 4)
        return gc_error(GC_ERR_SHAPE, "gc_explain: layer %s has a %d-D output; Grad-CAM needs a spatial (N,C,H,W) layer",
                        layer, A.ndim);
    if ((rc = gc_session_shape(s, gc_model_layer_name(m, gc_model_layer_count(m) - 1), &y))) return rc;
    int64_t classes = 1;
    for (int d = 0; d < y.ndim; d++) classes *= y.shape[d];
    const int n_targets = req->target == GC_TARGET_TOPK ? req->top_k : req->target == GC_TARGET_CLASSES ? req->n_classes : 1;
    if (need_grad && n_targets > 1 && li == gc_model_layer_count(m) - 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: %d targets need layers after the target layer %s, but it is the "
                        "network output (is the output a class score vector?)", n_targets, layer);
    if ((methods & GC_METHOD_ABLATIONCAM) && li == gc_model_layer_count(m) - 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: Ablation-CAM runs the layers after the target layer %s, but "
                        "it is the network output", layer);

    /* forward (feeding the top-K head session, or else Ablation-CAM's, what it reads besides
     * the target layer) */
    gc_session *head = NULL, *feed = NULL;
    if (need_grad && n_targets > 1 && n_targets <= GC_EXPLAIN_MAX_TARGETS && n_targets <= classes &&
        (rc = after_session(s, layer, n_targets, &st->head, st->head_layer, sizeof st->head_layer, &st->head_k,
                                       "top-K head session")))
        return rc;
    head = need_grad && n_targets > 1 && n_targets <= GC_EXPLAIN_MAX_TARGETS && n_targets <= classes ? st->head : NULL;
    feed = head;
    if (!feed && (methods & GC_METHOD_ABLATIONCAM)) {
        cx.s = s; cx.m = m; cx.layer = layer; cx.st = st;
        if ((rc = gc_x_after_session(&cx, cx.p.batch < A.shape[1] ? cx.p.batch : A.shape[1], &feed))) return rc;
    }
    if ((rc = feed ? gc_session_forward_feeding(s, input, feed) : gc_session_forward(s, input))) return rc;
    if ((rc = gc_session_output(s, &y)) || (rc = gc_session_activation(s, layer, &A))) return rc;
    int64_t C = A.shape[1], h = A.shape[2], w = A.shape[3], hw = h * w;
    if (gc_first_nonfinite(A.data, C * hw) >= 0) { /* the output is finite, the target layer's is not */
        const int j = gc_session_forward_nonfinite(s, input);
        return gc_error(GC_ERR_NUMERIC, "gc_explain: the output of the target layer %s is not finite (the first layer whose "
                        "output is not finite: %s)", layer, j >= 0 ? gc_model_layer_name(m, j) : layer);
    }

    int k = 1;
    int *tg = cx.targets;
    switch (req->target) {
    case GC_TARGET_TOP1: top_k(y.data, classes, 1, tg); break;
    case GC_TARGET_CLASS:
        if (req->class_index < 0 || req->class_index >= classes)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: class %d outside 0..%lld", req->class_index, (long long)classes - 1);
        tg[0] = req->class_index;
        break;
    case GC_TARGET_TOPK:
        if (req->top_k < 1 || req->top_k > classes || req->top_k > GC_EXPLAIN_MAX_TARGETS)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: top_k %d outside 1..%lld", req->top_k,
                            (long long)(classes < GC_EXPLAIN_MAX_TARGETS ? classes : GC_EXPLAIN_MAX_TARGETS));
        k = req->top_k;
        top_k(y.data, classes, k, tg);
        break;
    case GC_TARGET_CLASSES:
        if (!req->classes || req->n_classes < 1 || req->n_classes > GC_EXPLAIN_MAX_TARGETS)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: GC_TARGET_CLASSES needs 1..%d classes, got %d%s",
                            GC_EXPLAIN_MAX_TARGETS, req->n_classes, req->classes ? "" : " (NULL list)");
        k = req->n_classes;
        for (int t = 0; t < k; t++) {
            if (req->classes[t] < 0 || req->classes[t] >= classes)
                return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: class %d outside 0..%lld", req->classes[t],
                                (long long)classes - 1);
            tg[t] = req->classes[t];
        }
        break;
    case GC_TARGET_GRADIENT:
        if (!req->output_grad) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: GC_TARGET_GRADIENT without output_grad");
        tg[0] = -1;
        break;
    default: return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: unknown target kind %d", (int)req->target);
    }

    cx.s = s; cx.m = m; cx.req = req; cx.methods = methods; cx.st = st; cx.input = input;
    cx.Cin = cfg->channels; cx.H = cfg->height; cx.W = cfg->width; cx.HW = cx.H * cx.W;
    cx.layer = layer; cx.li = li; cx.C = C; cx.h = h; cx.w = w; cx.hw = hw;
    cx.k = k; cx.classes = classes;
    if ((methods & GC_METHOD_CAM) && gc_x_cam_head(&cx) < 0)
        return gc_error(GC_ERR_UNSUPPORTED, "gc_explain: CAM needs %s to be followed by global average pooling "
                        "(adaptive, to 1x1), an optional flatten and the linear output layer", layer);
    for (int i = 0; i < n_entries; i++) /* what a method refuses before anything is computed */
        if ((methods & entry_at(i)->info.bit) && (entry_at(i)->needs & NEED_CLASS) && req->target == GC_TARGET_GRADIENT)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: %s needs a class target", entry_at(i)->info.title);

    /* one buffer for every map: the capture's, then each method's */
    int64_t a_numel = C * hw;
    size_t total = 2 * fl16(classes) + fl16(k * classes) + fl16(a_numel) + (need_grad ? fl16(k * a_numel) : 0);
    if (need_grad && k > 1) total += fl16(k * a_numel);
    /* the layer gradient and guided backprop of one target: both rules through the head in
     * one pass (the classifier's weights are read once), when the head is a chain */
    const size_t pair = k == 1 && need_grad && want_guided ? gc_session_pair_floats(s, layer) : 0;
    total += fl16((int64_t)pair);
    for (int i = 0; i < n_entries; i++)
        if (methods & entry_at(i)->info.bit) total += entry_at(i)->floats(&cx);
    if ((rc = reserve(st, total, k))) return rc;
    cx.cur = st->buf;
    cx.end = st->buf + total;
    float *logits = gc_x_carve(&cx, classes), *probs = gc_x_carve(&cx, classes);
    float *onehots = gc_x_carve(&cx, k * classes); /* (k, classes) output gradient of each target */
    float *Acopy = gc_x_carve(&cx, a_numel);
    memcpy(logits, y.data, (size_t)classes * sizeof(float));
    memcpy(Acopy, A.data, (size_t)a_numel * sizeof(float));
    softmax(logits, classes, probs);
    cx.logits = logits; cx.probs = probs; cx.onehots = onehots; cx.A = Acopy;
    gc_x_view(&res->logits, logits, 1, classes, 1, 1);
    gc_x_view(&res->probabilities, probs, 1, classes, 1, 1);
    res->layer = layer;
    res->count = k;
    res->items = st->items;

    memset(onehots, 0, (size_t)(k * classes) * sizeof(float));
    for (int t = 0; t < k; t++) {
        gc_explanation *e = &st->items[t];
        memset(e, 0, sizeof *e);
        e->maps = st->maps + (size_t)t * GC_EXPLAIN_MAPS_PER_TARGET;
        e->class_index = tg[t];
        if (tg[t] >= 0) onehots[t * classes + tg[t]] = 1.0f;
        else memcpy(onehots + t * classes, req->output_grad, (size_t)classes * sizeof(float));
        if (tg[t] >= 0) {
            e->score = logits[tg[t]];
            e->probability = probs[tg[t]];
        } else {
            e->score = (float)gc_x_score(&cx, t, logits);
            e->probability = NAN;
        }
    }

    /* d score / d A for every target: (k, C, h, w) */
    if (need_grad) {
        gc_tensor g;
        if (pair) {
            if ((rc = gc_session_backward_pair(s, onehots, layer, GC_RELU_NORMAL, GC_RELU_GUIDED, gc_x_carve(&cx, (int64_t)pair),
                                               &cx.guided_at_layer)) ||
                (rc = gc_session_gradient(s, layer, &g)))
                return rc;
        } else if (k == 1) {
            gc_backward_opts bo = {layer, GC_RELU_NORMAL, 0};
            if ((rc = gc_session_backward(s, onehots, &bo)) || (rc = gc_session_gradient(s, layer, &g))) return rc;
        } else {
            /* the layers after the target at batch k, on k copies of A */
            float *rep = gc_x_carve(&cx, k * a_numel);
            for (int t = 0; t < k; t++) memcpy(rep + t * a_numel, A.data, (size_t)a_numel * sizeof(float));
            gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
            if ((rc = gc_session_forward(head, rep)) || (rc = gc_session_backward(head, onehots, &bo)) ||
                (rc = gc_session_gradient(head, "input", &g)))
                return rc;
        }
        float *dA = gc_x_carve(&cx, k * a_numel);
        memcpy(dA, g.data, (size_t)(k * a_numel) * sizeof(float));
        cx.dA = dA;
        for (int t = 0; t < k; t++) /* checked now: later backward passes reuse its buffer */
            if (gc_first_nonfinite(dA + t * a_numel, a_numel) >= 0)
                return nonfinite_map(s, &st->items[t], onehots + t * classes, layer, "Grad-CAM", GC_RELU_NORMAL, 1);
    }

    /* the methods, in table order */
    for (int i = 0; i < n_entries; i++)
        if ((methods & entry_at(i)->info.bit) && (rc = entry_at(i)->run(&cx))) return rc;
    for (int t = 0; t < k; t++)
        if ((rc = check_maps(s, &st->items[t], onehots + t * classes, layer))) return rc;
    return GC_OK;
}
