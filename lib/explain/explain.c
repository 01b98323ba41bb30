/* explain.c - gc_explain and gc_explain_batch: the capture stage and the method table.
 *
 * Per request: forward once, all N images of the session's batch together; when a method
 * needs the gradient at the target layer, one backward from the targets' one-hot gradients
 * down to that layer (K > 1 targets: one batched backward through a second session that
 * starts after the target layer and holds N x K copies of its activation, image-major, and of
 * every other tensor the layers after it read, copied in during the forward pass). With one
 * target, that backward and guided backprop share the pass through the head
 * (gc_session_backward_pair). Then every requested method of the table runs in table order
 * (methods_cam.c, methods_input.c, methods_score.c), on every image (the input-gradient
 * methods with one backward of the batch per target), filling named maps carved from one
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
    gc_session_free(st->one);
    gc_free(st->pad);
    gc_free(st->cs);
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

float *gc_x_scratch(capture *c, int64_t n) {
    float *p = c->scr;
    if (n < 0 || (int64_t)fl16(n) > c->scr_end - c->scr) {
        gc_error(GC_ERR_STATE, "gc_explain: a method used more scratch than it sized");
        return NULL;
    }
    c->scr += fl16(n);
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
    gc_explanation *e = gc_x_item(c, t);
    if (e->n_maps >= GC_EXPLAIN_MAPS_PER_TARGET)
        return gc_error(GC_ERR_STATE, "gc_explain: more than %d maps per target", GC_EXPLAIN_MAPS_PER_TARGET);
    gc_map *m = &c->st->maps[((size_t)c->img * (size_t)c->k + (size_t)t) * GC_EXPLAIN_MAPS_PER_TARGET + (size_t)e->n_maps++];
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

gc_status gc_x_forward(gc_session *s, const float *input, gc_session *feed, int accurate) {
    gc_session_set_accurate(s, accurate);
    const gc_status rc = feed ? gc_session_forward_feeding(s, input, feed) : gc_session_forward(s, input);
    gc_session_set_accurate(s, 0);
    return rc;
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

/* 1 if a layer downstream of layer li reads an output that does not depend on li's (the
 * network input, the other branch of a residual join; conservatively, a layer computed from
 * constants only): the session after li then has side inputs, filled during a forward pass
 * of the whole network. */
static int after_has_side_inputs(const gc_model *m, int li) {
    const int n = gc_model_layer_count(m);
    unsigned char *down = gc_calloc((size_t)n, 1); /* (n) downstream of li */
    if (!down) return 1; /* then feed: right either way */
    int side = 0;
    down[li] = 1;
    for (int j = li + 1; j < n && !side; j++) {
        const int ni = gc_model_layer_input_count(m, j);
        for (int k = 0; k < ni && !down[j]; k++) {
            const int q = gc_model_find_layer(m, gc_model_layer_input_at(m, j, k));
            down[j] = q >= 0 && down[q];
        }
        for (int k = 0; k < ni && down[j]; k++) { /* a constant runs in the session itself */
            const int q = gc_model_find_layer(m, gc_model_layer_input_at(m, j, k));
            side |= q < 0 || (!down[q] && gc_model_layer_input_count(m, q) > 0);
        }
    }
    gc_free(down);
    return side;
}

gc_status gc_x_feed_after(capture *c, gc_session *after) {
    if (c->abl_fed || !after_has_side_inputs(c->m, c->li)) return GC_OK;
    explain_state *st = c->st;
    if (!st->one) {
        gc_session_config cfg = *gc_session_config_of(c->s);
        cfg.batch = 1;
        cfg.param_grads = 0;
        cfg.keep = NULL;
        cfg.keep_all = 0;
        gc_status rc = gc_session_create(c->m, &cfg, &st->one);
        if (rc) return gc_error_prefix(rc, "batch-1 session feeding Ablation-CAM");
    }
    return gc_x_forward(st->one, c->input, after, c->accurate); /* the side inputs as the capture computed them */
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

/* The output gradient of the whole batch that backpropagates target t of c's image alone
 * (c->rows: that row, zeros elsewhere), for the checking passes that name a bad layer. */
static const float *alone(capture *c, int t) {
    memset(c->rows, 0, (size_t)(c->batch * c->classes) * sizeof(float));
    memcpy(c->rows + c->img * c->classes, c->onehots + t * c->classes, (size_t)c->classes * sizeof(float));
    return c->rows;
}

/* Grows the per-image captures to n. */
static gc_status reserve_captures(explain_state *st, int n) {
    if (n <= st->cap_cs) return GC_OK;
    gc_free(st->cs);
    st->cap_cs = 0;
    if (!(st->cs = gc_calloc((size_t)n, sizeof *st->cs))) return GC_ERR_OUT_OF_MEMORY;
    st->cap_cs = n;
    return GC_OK;
}

/* gc_explain and gc_explain_batch: n images (1 <= n <= the session's batch B) at inputs;
 * rows n..B-1 of the forward pass repeat the last image and their results are dropped. */
static gc_status explain_run(gc_session *s, const float *inputs, int n, const gc_explain_request *req,
                             gc_explain_result *res) {
    const gc_model *m = gc_session_model(s);
    const gc_session_config *cfg = gc_session_config_of(s);
    const int64_t B = cfg->batch, n_in = cfg->channels * cfg->height * cfg->width;
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

    capture cx; /* what every image's capture shares */
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
    for (int d = 1; d < y.ndim; d++) classes *= y.shape[d];
    const int n_targets = req->target == GC_TARGET_TOPK ? req->top_k : req->target == GC_TARGET_CLASSES ? req->n_classes : 1;
    if (need_grad && n_targets > 1 && li == gc_model_layer_count(m) - 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: %d targets need layers after the target layer %s, but it is the "
                        "network output (is the output a class score vector?)", n_targets, layer);
    if ((methods & GC_METHOD_ABLATIONCAM) && li == gc_model_layer_count(m) - 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: Ablation-CAM runs the layers after the target layer %s, but "
                        "it is the network output", layer);

    /* targets: checked before anything runs; chosen per image after the forward pass */
    int k = 1;
    switch (req->target) {
    case GC_TARGET_TOP1: break;
    case GC_TARGET_CLASS:
        if (req->class_index < 0 || req->class_index >= classes)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: class %d outside 0..%lld", req->class_index, (long long)classes - 1);
        break;
    case GC_TARGET_TOPK:
        if (req->top_k < 1 || req->top_k > classes || req->top_k > GC_EXPLAIN_MAX_TARGETS)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: top_k %d outside 1..%lld", req->top_k,
                            (long long)(classes < GC_EXPLAIN_MAX_TARGETS ? classes : GC_EXPLAIN_MAX_TARGETS));
        k = req->top_k;
        break;
    case GC_TARGET_CLASSES:
        if (!req->classes || req->n_classes < 1 || req->n_classes > GC_EXPLAIN_MAX_TARGETS)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: GC_TARGET_CLASSES needs 1..%d classes, got %d%s",
                            GC_EXPLAIN_MAX_TARGETS, req->n_classes, req->classes ? "" : " (NULL list)");
        k = req->n_classes;
        for (int t = 0; t < k; t++)
            if (req->classes[t] < 0 || req->classes[t] >= classes)
                return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: class %d outside 0..%lld", req->classes[t],
                                (long long)classes - 1);
        break;
    case GC_TARGET_GRADIENT:
        if (!req->output_grad) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: GC_TARGET_GRADIENT without output_grad");
        break;
    default: return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: unknown target kind %d", (int)req->target);
    }
    for (int i = 0; i < n_entries; i++) /* what a method refuses before anything is computed */
        if ((methods & entry_at(i)->info.bit) && (entry_at(i)->needs & NEED_CLASS) && req->target == GC_TARGET_GRADIENT)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: %s needs a class target", entry_at(i)->info.title);

    /* the batch: the caller's n images, padded to the session's batch with the last one */
    const float *x = inputs;
    if (n < B) {
        if ((size_t)(B * n_in) > st->pad_floats) {
            gc_free(st->pad);
            st->pad_floats = 0;
            if (!(st->pad = gc_alloc_array((size_t)(B * n_in), sizeof(float)))) return GC_ERR_OUT_OF_MEMORY;
            st->pad_floats = (size_t)(B * n_in);
        }
        memcpy(st->pad, inputs, (size_t)(n * n_in) * sizeof(float));
        for (int64_t r = n; r < B; r++) memcpy(st->pad + r * n_in, inputs + (n - 1) * n_in, (size_t)n_in * sizeof(float));
        x = st->pad;
    }

    /* forward (feeding the top-K head session, or else at batch 1 Ablation-CAM's, what it
     * reads besides the target layer) */
    cx.s = s; cx.m = m; cx.req = req; cx.methods = methods; cx.st = st; cx.layer = layer; cx.li = li;
    gc_session *head = NULL, *feed = NULL;
    if (need_grad && k > 1 &&
        (rc = after_session(s, layer, B * k, &st->head, st->head_layer, sizeof st->head_layer, &st->head_k,
                            "top-K head session")))
        return rc;
    head = need_grad && k > 1 ? st->head : NULL;
    feed = head;
    if (!feed && (methods & GC_METHOD_ABLATIONCAM) && B == 1) {
        if ((rc = gc_x_after_session(&cx, cx.p.batch < A.shape[1] ? cx.p.batch : A.shape[1], &feed))) return rc;
        cx.abl_fed = 1;
    }
    /* the methods that follow the forward pass's switches to the input get the accurate sums
       (gc_session_set_accurate); the layer methods are as exact without them */
    cx.accurate = (methods & ACCURATE_METHODS) != 0;
    if ((rc = gc_x_forward(s, x, feed, cx.accurate))) return rc;
    if ((rc = gc_session_output(s, &y)) || (rc = gc_session_activation(s, layer, &A))) return rc;
    const int64_t C = A.shape[1], h = A.shape[2], w = A.shape[3], hw = h * w, a_numel = C * hw;
    if (gc_first_nonfinite(A.data, B * a_numel) >= 0) { /* the output is finite, the target layer's is not */
        const int j = gc_session_forward_nonfinite(s, x);
        return gc_error(GC_ERR_NUMERIC, "gc_explain: the output of the target layer %s is not finite (the first layer whose "
                        "output is not finite: %s)", layer, j >= 0 ? gc_model_layer_name(m, j) : layer);
    }
    cx.Cin = cfg->channels; cx.H = cfg->height; cx.W = cfg->width; cx.HW = cx.H * cx.W;
    cx.C = C; cx.h = h; cx.w = w; cx.hw = hw;
    cx.k = k; cx.classes = classes; cx.n_img = n; cx.batch = B;
    if ((methods & GC_METHOD_CAM) && gc_x_cam_head(&cx) < 0)
        return gc_error(GC_ERR_UNSUPPORTED, "gc_explain: CAM needs %s to be followed by global average pooling "
                        "(adaptive, to 1x1), an optional flatten and the linear output layer", layer);

    /* one buffer: what the images share (their output gradients, the top-K head's input, the
     * pair's scratch, the methods' scratch), then each image's maps */
    const size_t pair = k == 1 && need_grad && want_guided ? gc_session_pair_floats(s, layer) : 0;
    size_t shared = fl16(B * k * classes) + fl16(B * classes) + (need_grad && k > 1 ? fl16(B * k * a_numel) : 0) +
                    fl16((int64_t)pair);
    size_t scratch = 0, per_image = 2 * fl16(classes) + fl16(a_numel) + (need_grad ? fl16(k * a_numel) : 0);
    for (int i = 0; i < n_entries; i++)
        if (methods & entry_at(i)->info.bit) {
            const method_entry *e = entry_at(i);
            per_image += e->floats(&cx);
            if (e->scratch && e->scratch(&cx) > scratch) scratch = e->scratch(&cx);
        }
    const size_t total = shared + scratch + (size_t)n * per_image;
    if ((rc = reserve(st, total, n * k)) || (rc = reserve_captures(st, n))) return rc;
    cx.cur = st->buf;
    cx.end = st->buf + shared;
    float *onehots = gc_x_carve(&cx, B * k * classes); /* (B, k, classes) output gradient of each target */
    cx.rows = gc_x_carve(&cx, B * classes);
    float *rep = need_grad && k > 1 ? gc_x_carve(&cx, B * k * a_numel) : NULL; /* (B, k, C, h, w) */
    float *pairbuf = pair ? gc_x_carve(&cx, (int64_t)pair) : NULL;
    cx.scr = cx.scr_end = st->buf + shared + scratch;
    cx.onehots = onehots;
    memset(onehots, 0, (size_t)(B * k * classes) * sizeof(float));

    capture *cs = st->cs; /* (n) */
    for (int i = 0; i < n; i++) {
        capture *c = &cs[i];
        *c = cx;
        c->img = i;
        c->input = inputs + i * n_in;
        c->onehots = onehots + (int64_t)i * k * classes;
        c->cur = st->buf + shared + scratch + (size_t)i * per_image;
        c->end = c->cur + per_image;
        const float *yi = y.data + i * classes;
        int *tg = c->targets;
        switch (req->target) {
        case GC_TARGET_TOP1: top_k(yi, classes, 1, tg); break;
        case GC_TARGET_CLASS: tg[0] = req->class_index; break;
        case GC_TARGET_TOPK: top_k(yi, classes, k, tg); break;
        case GC_TARGET_CLASSES: memcpy(tg, req->classes, (size_t)k * sizeof(int)); break;
        default: tg[0] = -1; break;
        }
        float *logits = gc_x_carve(c, classes), *probs = gc_x_carve(c, classes), *Acopy = gc_x_carve(c, a_numel);
        memcpy(logits, yi, (size_t)classes * sizeof(float));
        memcpy(Acopy, A.data + i * a_numel, (size_t)a_numel * sizeof(float));
        softmax(logits, classes, probs);
        c->logits = logits; c->probs = probs; c->A = Acopy;
        gc_explain_result *r = &res[i];
        gc_x_view(&r->logits, logits, 1, classes, 1, 1);
        gc_x_view(&r->probabilities, probs, 1, classes, 1, 1);
        r->layer = layer;
        r->count = k;
        r->items = gc_x_item(c, 0);
        for (int t = 0; t < k; t++) {
            gc_explanation *e = gc_x_item(c, t);
            memset(e, 0, sizeof *e);
            e->maps = st->maps + ((size_t)i * k + t) * GC_EXPLAIN_MAPS_PER_TARGET;
            e->class_index = tg[t];
            float *oh = onehots + ((int64_t)i * k + t) * classes;
            if (tg[t] >= 0) {
                oh[tg[t]] = 1.0f;
                e->score = logits[tg[t]];
                e->probability = probs[tg[t]];
            } else {
                memcpy(oh, req->output_grad, (size_t)classes * sizeof(float));
                e->score = (float)gc_x_score(c, t, logits);
                e->probability = NAN;
            }
        }
    }

    /* d score / d A for every image and target: (n, k, C, h, w), one backward of the batch */
    if (need_grad) {
        gc_tensor g;
        const float *guided_at_layer = NULL;
        if (pair) {
            if ((rc = gc_session_backward_pair(s, onehots, layer, GC_RELU_NORMAL, GC_RELU_GUIDED, pairbuf, &guided_at_layer)) ||
                (rc = gc_session_gradient(s, layer, &g)))
                return rc;
        } else if (k == 1) {
            gc_backward_opts bo = {layer, GC_RELU_NORMAL, 0};
            if ((rc = gc_session_backward(s, onehots, &bo)) || (rc = gc_session_gradient(s, layer, &g))) return rc;
        } else {
            /* the layers after the target at batch B x k, on k copies of each image's A */
            for (int64_t i = 0; i < B; i++)
                for (int t = 0; t < k; t++)
                    memcpy(rep + (i * k + t) * a_numel, A.data + i * a_numel, (size_t)a_numel * sizeof(float));
            gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
            if ((rc = gc_session_forward(head, rep)) || (rc = gc_session_backward(head, onehots, &bo)) ||
                (rc = gc_session_gradient(head, "input", &g)))
                return rc;
        }
        for (int i = 0; i < n; i++) {
            capture *c = &cs[i];
            float *dA = gc_x_carve(c, k * a_numel);
            if (!dA) return GC_ERR_STATE;
            memcpy(dA, g.data + (int64_t)i * k * a_numel, (size_t)(k * a_numel) * sizeof(float));
            c->dA = dA;
            c->guided_at_layer = guided_at_layer;
        }
        for (int i = 0; i < n; i++) /* checked now: later backward passes reuse its buffer */
            for (int t = 0; t < k; t++)
                if (gc_first_nonfinite(cs[i].dA + t * a_numel, a_numel) >= 0)
                    return nonfinite_map(s, gc_x_item(&cs[i], t), alone(&cs[i], t), layer, "Grad-CAM", GC_RELU_NORMAL, 1);
    }

    /* the methods, in table order, on every image */
    for (int i = 0; i < n_entries; i++) {
        const method_entry *e = entry_at(i);
        if (!(methods & e->info.bit)) continue;
        for (int j = 0; j < n; j++) cs[j].scr = st->buf + shared;
        if (e->run_batch) {
            if ((rc = e->run_batch(cs))) return rc;
        } else {
            for (int j = 0; j < n; j++) {
                cs[j].scr = st->buf + shared;
                if ((rc = e->run(&cs[j]))) return rc;
            }
        }
    }
    for (int i = 0; i < n; i++)
        for (int t = 0; t < k; t++)
            if ((rc = check_maps(s, gc_x_item(&cs[i], t), alone(&cs[i], t), layer))) return rc;
    return GC_OK;
}

gc_status gc_explain(gc_session *s, const float *input, const gc_explain_request *req, gc_explain_result *res) {
    if (!s || !input || !req || !res)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: session, input, request or result is NULL");
    memset(res, 0, sizeof *res);
    if (!gc_session_is_full(s)) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: the session starts at an input_layer");
    const int64_t b = gc_session_config_of(s)->batch;
    if (b != 1)
        return gc_error(GC_ERR_SHAPE, "gc_explain: the session has batch %lld; gc_explain needs batch 1 "
                        "(gc_explain_batch explains a batch)", (long long)b);
    const gc_status rc = explain_run(s, input, 1, req, res);
    if (rc) memset(res, 0, sizeof *res);
    return rc;
}

gc_status gc_explain_batch(gc_session *s, const float *inputs, int n, const gc_explain_request *req,
                           gc_explain_result *results) {
    if (!s || !inputs || !req || !results)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain_batch: session, inputs, request or results is NULL");
    if (n < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain_batch: n = %d; explain 1 or more inputs", n);
    if (!gc_session_is_full(s))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain_batch: the session starts at an input_layer");
    const int64_t b = gc_session_config_of(s)->batch;
    if (n > b)
        return gc_error(GC_ERR_SHAPE, "gc_explain_batch: %d inputs, but the session has batch %lld (at most that many)",
                        n, (long long)b);
    memset(results, 0, (size_t)n * sizeof *results);
    const gc_status rc = explain_run(s, inputs, n, req, results);
    if (rc) memset(results, 0, (size_t)n * sizeof *results); /* no image's result on a failure */
    return rc;
}
