/* gradcam.c - gc_explain: Grad-CAM, counterfactual Grad-CAM, CAM, guided
 * backpropagation, Guided Grad-CAM and deconvnet from one forward pass.
 *
 * Per request: forward once; for Grad-CAM, one backward from the targets'
 * one-hot gradients down to the target layer (K > 1 targets: one batched
 * backward through a second session that starts after the target layer and
 * holds K copies of its activation, and of every other tensor the layers
 * after it read, copied in during the forward pass); for guided backprop / deconvnet, one
 * input-gradient backward per target. With one target, Grad-CAM and guided
 * backprop share the pass through the head (gc_session_backward_pair: each
 * linear layer's weights are read once for both rules), then the guided pass
 * continues from the target layer. Maps are carved from one buffer kept
 * with the session and grown only when a request needs more. */
#include "core/core.h"
#include "explain/maps.h"
#include "net/session.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct explain_state {
    float          *buf;        /* all maps of the last request */
    size_t          buf_floats;
    gc_explanation *items;      /* (cap_items) */
    int             cap_items;
    gc_session     *head;       /* batch-K session after head_layer, or NULL */
    char            head_layer[64];
    int64_t         head_k;
} explain_state;

static void state_free(void *p) {
    explain_state *st = p;
    if (!st) return;
    gc_free(st->buf);
    gc_free(st->items);
    gc_session_free(st->head);
    gc_free(st);
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

/* The one layer that reads layer i's output (and reads it once), or -1. */
static int sole_reader(const gc_model *m, int i) {
    int r = -1;
    for (int j = i + 1; j < gc_model_layer_count(m); j++)
        for (int k = 0; k < gc_model_layer_input_count(m, j); k++)
            if (strcmp(gc_model_layer_input_at(m, j, k), gc_model_layer_name(m, i)) == 0) {
                if (r >= 0) return -1;
                r = j;
            }
    return r;
}

/* CAM needs: layer -> global average pool (adaptive, to 1x1) -> [flatten] -> the linear
 * output layer, each read by the next only. Returns the linear layer's index or -1. */
static int cam_head(const gc_model *m, int layer, const gc_session *s) {
    int n = gc_model_layer_count(m), i = sole_reader(m, layer);
    if (i < 0 || gc_model_layer_kind(m, i) != GC_LAYER_ADAPTIVE_AVGPOOL2D) return -1;
    gc_tensor pooled;
    if (gc_session_shape(s, gc_model_layer_name(m, i), &pooled) || pooled.ndim != 4 || pooled.shape[2] != 1 ||
        pooled.shape[3] != 1)
        return -1;
    i = sole_reader(m, i);
    if (i >= 0 && gc_model_layer_kind(m, i) == GC_LAYER_FLATTEN) i = sole_reader(m, i);
    if (i != n - 1 || gc_model_layer_kind(m, i) != GC_LAYER_LINEAR) return -1;
    return i;
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
        st->cap_items = 0;
        st->items = gc_calloc((size_t)items, sizeof *st->items);
        if (!st->items) return GC_ERR_OUT_OF_MEMORY;
        st->cap_items = items;
    }
    return GC_OK;
}

static float *carve(float **cursor, int64_t n) {
    float *p = *cursor;
    *cursor += (n + 15) & ~(int64_t)15; /* keep 64-byte alignment */
    return p;
}

static void set_view(gc_tensor *t, float *data, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    memset(t, 0, sizeof *t);
    t->data = data;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim > 1 ? d1 : 1;
    t->shape[2] = ndim > 2 ? d2 : 1;
    t->shape[3] = 1;
}

/* Batch-K session starting after `layer`, cached while layer and K stay. */
static gc_status head_session(explain_state *st, gc_session *s, const char *layer, int k, gc_session **out) {
    if (!st->head || st->head_k != k || strcmp(st->head_layer, layer) != 0) {
        gc_session_free(st->head);
        st->head = NULL;
        gc_session_config cfg = *gc_session_config_of(s);
        cfg.batch = k;
        cfg.param_grads = 0;
        cfg.input_layer = layer;
        cfg.keep = NULL;
        gc_status rc = gc_session_create_head(gc_session_model(s), &cfg, &st->head);
        if (rc) return gc_error_prefix(rc, "top-K head session");
        gc_strlcpy(st->head_layer, layer, sizeof st->head_layer);
        st->head_k = k;
    }
    *out = st->head;
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
    return GC_OK;
}

/* ---------------------------------------------------------------- explain */

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
    if (methods & ~(GC_METHOD_ALL_GRADIENT | GC_METHOD_CAM))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: unknown method bits 0x%x", methods);
    if (methods & GC_METHOD_GUIDED_GRADCAM) methods |= GC_METHOD_GRADCAM | GC_METHOD_GUIDED_BACKPROP;
    if (methods & GC_METHOD_COUNTERFACTUAL) methods |= GC_METHOD_GRADCAM;
    int want_cam = (methods & GC_METHOD_GRADCAM) != 0, want_guided = (methods & GC_METHOD_GUIDED_BACKPROP) != 0;
    int want_deconv = (methods & GC_METHOD_DECONVNET) != 0, want_zhou = (methods & GC_METHOD_CAM) != 0;

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
    gc_status rc = gc_session_shape(s, layer, &A);
    if (rc) return rc;
    if (A.ndim != 4)
        return gc_error(GC_ERR_SHAPE, "gc_explain: layer %s has a %d-D output; Grad-CAM needs a spatial (N,C,H,W) layer",
                        layer, A.ndim);
    if ((rc = gc_session_shape(s, gc_model_layer_name(m, gc_model_layer_count(m) - 1), &y))) return rc;
    int64_t classes = 1;
    for (int d = 0; d < y.ndim; d++) classes *= y.shape[d];
    const int n_targets = req->target == GC_TARGET_TOPK ? req->top_k : req->target == GC_TARGET_CLASSES ? req->n_classes : 1;
    if (want_cam && n_targets > 1 && li == gc_model_layer_count(m) - 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: %d targets need layers after the target layer %s, but it is the "
                        "network output (is the output a class score vector?)", n_targets, layer);

    /* forward (feeding the top-K head session what it reads besides the target layer) */
    gc_session *head = NULL;
    if (want_cam && n_targets > 1 && n_targets <= GC_EXPLAIN_MAX_TARGETS && n_targets <= classes &&
        (rc = head_session(st, s, layer, n_targets, &head)))
        return rc;
    if ((rc = head ? gc_session_forward_feeding(s, input, head) : gc_session_forward(s, input))) return rc;
    if ((rc = gc_session_output(s, &y)) || (rc = gc_session_activation(s, layer, &A))) return rc;
    int64_t C = A.shape[1], h = A.shape[2], w = A.shape[3], hw = h * w;
    if (gc_first_nonfinite(A.data, C * hw) >= 0) { /* the output is finite, the target layer's is not */
        const int j = gc_session_forward_nonfinite(s, input);
        return gc_error(GC_ERR_NUMERIC, "gc_explain: the output of the target layer %s is not finite (the first layer whose "
                        "output is not finite: %s)", layer, j >= 0 ? gc_model_layer_name(m, j) : layer);
    }
    int64_t Cin = cfg->channels, H = cfg->height, W = cfg->width, HW = H * W;

    int k = 1, targets[GC_EXPLAIN_MAX_TARGETS];
    int *tg = targets;
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
    int zhou_fc = -1;
    if (want_zhou && (zhou_fc = cam_head(m, li, s)) < 0)
        return gc_error(GC_ERR_UNSUPPORTED, "gc_explain: CAM needs %s to be followed by global average pooling "
                        "(adaptive, to 1x1), an optional flatten and the linear output layer", layer);
    if (want_zhou && req->target == GC_TARGET_GRADIENT)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_explain: CAM needs a class target");

    /* one buffer for every map */
    size_t per = 0;
    int64_t sizes[] = {want_cam ? C : 0, want_cam ? hw : 0, want_cam ? hw : 0, want_cam ? HW : 0, want_cam ? HW : 0,
                       (methods & GC_METHOD_COUNTERFACTUAL) ? hw : 0, want_guided ? Cin * HW : 0,
                       (methods & GC_METHOD_GUIDED_GRADCAM) ? Cin * HW : 0, want_deconv ? Cin * HW : 0,
                       want_zhou ? hw : 0};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) per += (size_t)((sizes[i] + 15) & ~15);
    size_t total = 2 * (size_t)((classes + 15) & ~15) + (size_t)((k * classes + 15) & ~15) + per * (size_t)k;
    int64_t a_numel = C * hw;
    if (want_cam && k > 1) total += (size_t)(k * a_numel + 15);
    /* Grad-CAM and guided backprop of one target: both rules through the head in one pass
     * (the classifier's weights are read once), when the head is a chain */
    const size_t pair = k == 1 && want_cam && want_guided ? gc_session_pair_floats(s, layer) : 0;
    total += pair;
    if ((rc = reserve(st, total, k))) return rc;
    float *cur = st->buf;
    float *logits = carve(&cur, classes), *probs = carve(&cur, classes);
    float *onehots = carve(&cur, k * classes); /* (k, classes) output gradient of each target */
    memcpy(logits, y.data, (size_t)classes * sizeof(float));
    softmax(logits, classes, probs);
    set_view(&res->logits, logits, 1, classes, 1, 1);
    set_view(&res->probabilities, probs, 1, classes, 1, 1);
    res->layer = layer;
    res->count = k;
    res->items = st->items;

    memset(onehots, 0, (size_t)(k * classes) * sizeof(float));
    for (int t = 0; t < k; t++) {
        gc_explanation *e = &st->items[t];
        memset(e, 0, sizeof *e);
        e->class_index = tg[t];
        if (tg[t] >= 0) onehots[t * classes + tg[t]] = 1.0f;
        else memcpy(onehots + t * classes, req->output_grad, (size_t)classes * sizeof(float));
        if (tg[t] >= 0) {
            e->score = logits[tg[t]];
            e->probability = probs[tg[t]];
        } else {
            double sc = 0;
            for (int64_t i = 0; i < classes; i++) sc += (double)req->output_grad[i] * logits[i];
            e->score = (float)sc;
            e->probability = NAN;
        }
    }

    /* d score / d A for every target: (k, C, h, w) */
    const float *dA = NULL, *guided_at_layer = NULL; /* guided rule's gradient of A (pair) */
    gc_tensor g;
    if (want_cam) {
        if (pair) {
            if ((rc = gc_session_backward_pair(s, onehots, layer, GC_RELU_NORMAL, GC_RELU_GUIDED, carve(&cur, (int64_t)pair),
                                               &guided_at_layer)) ||
                (rc = gc_session_gradient(s, layer, &g)))
                return rc;
        } else if (k == 1) {
            gc_backward_opts bo = {layer, GC_RELU_NORMAL, 0};
            if ((rc = gc_session_backward(s, onehots, &bo)) || (rc = gc_session_gradient(s, layer, &g))) return rc;
        } else {
            /* the layers after the target at batch k, on k copies of A */
            float *rep = carve(&cur, k * a_numel);
            for (int t = 0; t < k; t++) memcpy(rep + t * a_numel, A.data, (size_t)a_numel * sizeof(float));
            gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
            if ((rc = gc_session_forward(head, rep)) || (rc = gc_session_backward(head, onehots, &bo)) ||
                (rc = gc_session_gradient(head, "input", &g)))
                return rc;
        }
        dA = g.data;
        for (int t = 0; t < k; t++) /* checked now: later backward passes reuse its buffer */
            if (gc_first_nonfinite(dA + t * a_numel, a_numel) >= 0)
                return nonfinite_map(s, &st->items[t], onehots + t * classes, layer, "Grad-CAM", GC_RELU_NORMAL, 1);
    }

    /* Grad-CAM family maps */
    for (int t = 0; want_cam && t < k; t++) {
        gc_explanation *e = &st->items[t];
        const float *gt = dA + t * a_numel;
        float *alpha = carve(&cur, C), *raw = carve(&cur, hw), *cam = carve(&cur, hw);
        float *up = carve(&cur, HW), *norm = carve(&cur, HW);
        for (int64_t c = 0; c < C; c++) {
            double sum = 0;
            for (int64_t i = 0; i < hw; i++) sum += gt[c * hw + i];
            alpha[c] = (float)(req->alpha_sum ? sum : sum / (double)hw);
        }
        for (int64_t i = 0; i < hw; i++) {
            double acc = 0;
            for (int64_t c = 0; c < C; c++) acc += (double)alpha[c] * A.data[c * hw + i];
            raw[i] = (float)acc;
            cam[i] = raw[i] > 0 ? raw[i] : 0.0f;
        }
        gc_map_resize_bilinear(cam, h, w, up, H, W);
        gc_map_normalize_minmax(up, HW, norm);
        set_view(&e->alpha, alpha, 1, C, 1, 1);
        set_view(&e->cam_raw, raw, 2, h, w, 1);
        set_view(&e->cam, cam, 2, h, w, 1);
        set_view(&e->cam_up, up, 2, H, W, 1);
        set_view(&e->cam_norm, norm, 2, H, W, 1);
        if (methods & GC_METHOD_COUNTERFACTUAL) {
            float *cf = carve(&cur, hw);
            for (int64_t i = 0; i < hw; i++) cf[i] = raw[i] < 0 ? -raw[i] : 0.0f; /* ReLU(sum -alpha A) */
            set_view(&e->counterfactual, cf, 2, h, w, 1);
        }
    }

    /* CAM (Zhou et al.): w^c . A with the output layer's weights */
    if (want_zhou) {
        char wname[80];
        gc_tensor fw;
        snprintf(wname, sizeof wname, "%s.weight", gc_model_layer_name(m, zhou_fc));
        if ((rc = gc_model_param(m, wname, &fw))) return rc;
        for (int t = 0; t < k; t++) {
            float *map = carve(&cur, hw);
            const float *wc = fw.data + (int64_t)tg[t] * C;
            for (int64_t i = 0; i < hw; i++) {
                double acc = 0;
                for (int64_t c = 0; c < C; c++) acc += (double)wc[c] * A.data[c * hw + i];
                map[i] = (float)acc;
            }
            set_view(&st->items[t].cam_zhou, map, 2, h, w, 1);
        }
    }

    /* input-gradient methods: one backward per target and rule */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 ? !want_guided : !want_deconv) continue;
        for (int t = 0; t < k; t++) {
            gc_explanation *e = &st->items[t];
            gc_backward_opts bo = {NULL, pass == 0 ? GC_RELU_GUIDED : GC_RELU_DECONVNET, 0};
            if (pass == 0 && guided_at_layer) rc = gc_session_backward_from(s, layer, guided_at_layer, &bo);
            else rc = gc_session_backward(s, onehots + t * classes, &bo);
            if (rc || (rc = gc_session_gradient(s, "input", &g))) return rc;
            float *img = carve(&cur, Cin * HW);
            memcpy(img, g.data, (size_t)(Cin * HW) * sizeof(float));
            set_view(pass == 0 ? &e->guided : &e->deconvnet, img, 3, Cin, H, W);
            if (pass == 0 && (methods & GC_METHOD_GUIDED_GRADCAM)) {
                float *gg = carve(&cur, Cin * HW);
                const float *up = e->cam_up.data;
                for (int64_t c = 0; c < Cin; c++)
                    for (int64_t i = 0; i < HW; i++) gg[c * HW + i] = img[c * HW + i] * up[i];
                set_view(&e->guided_gradcam, gg, 3, Cin, H, W);
            }
        }
    }
    for (int t = 0; t < k; t++)
        if ((rc = check_maps(s, &st->items[t], onehots + t * classes, layer))) return rc;
    return GC_OK;
}
