/* methods_cam.c - the layer methods made of A and d score / d A: Grad-CAM and its
 * counterfactual, CAM (Zhou et al.), Grad-CAM++, XGrad-CAM, HiResCAM, Grad-CAM
 * element-wise and Layer-CAM. Sums in double; A (C, h, w), g = dA of one target. */
#include "explain/explain.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- Grad-CAM */

static size_t gradcam_floats(const capture *c) {
    return (size_t)c->k * (fl16(c->C) + 2 * fl16(c->hw) + 2 * fl16(c->HW));
}

/* alpha_k = mean (or sum) of g over i,j (eq. 1); raw = sum_k alpha_k A^k; cam = ReLU(raw) (eq. 2) */
static gc_status gradcam_run(capture *c) {
    const int64_t C = c->C, hw = c->hw, HW = c->HW;
    for (int t = 0; t < c->k; t++) {
        gc_explanation *e = gc_x_item(c, t);
        const float *gt = c->dA + t * C * hw;
        float *alpha = gc_x_carve(c, C), *raw = gc_x_carve(c, hw), *cam = gc_x_carve(c, hw);
        float *up = gc_x_carve(c, HW), *norm = gc_x_carve(c, HW);
        if (!norm) return GC_ERR_STATE;
        for (int64_t k = 0; k < C; k++) {
            double sum = 0;
            for (int64_t i = 0; i < hw; i++) sum += gt[k * hw + i];
            alpha[k] = (float)(c->req->alpha_sum ? sum : sum / (double)hw);
        }
        for (int64_t i = 0; i < hw; i++) {
            double acc = 0;
            for (int64_t k = 0; k < C; k++) acc += (double)alpha[k] * c->A[k * hw + i];
            raw[i] = (float)acc;
            cam[i] = raw[i] > 0 ? raw[i] : 0.0f;
        }
        gc_map_resize_bilinear(cam, c->h, c->w, up, c->H, c->W);
        gc_map_normalize_minmax(up, HW, norm);
        gc_x_view(&e->alpha, alpha, 1, C, 1, 1);
        gc_x_view(&e->cam_raw, raw, 2, c->h, c->w, 1);
        gc_x_view(&e->cam, cam, 2, c->h, c->w, 1);
        gc_x_view(&e->cam_up, up, 2, c->H, c->W, 1);
        gc_x_view(&e->cam_norm, norm, 2, c->H, c->W, 1);
        gc_status rc;
        if ((rc = gc_x_register(c, t, GC_METHOD_GRADCAM, "gradcam_weights", &e->alpha)) ||
            (rc = gc_x_register(c, t, GC_METHOD_GRADCAM, "gradcam_raw", &e->cam_raw)) ||
            (rc = gc_x_register(c, t, GC_METHOD_GRADCAM, "gradcam", &e->cam)) ||
            (rc = gc_x_register(c, t, GC_METHOD_GRADCAM, "gradcam_up", &e->cam_up)) ||
            (rc = gc_x_register(c, t, GC_METHOD_GRADCAM, "gradcam_norm", &e->cam_norm)))
            return rc;
    }
    return GC_OK;
}

/* ReLU(sum_k -alpha_k A^k) = ReLU(-raw): weights from the negated gradient */
static size_t counterfactual_floats(const capture *c) { return (size_t)c->k * gc_x_layer_floats(c); }

static gc_status counterfactual_run(capture *c) {
    for (int t = 0; t < c->k; t++) {
        gc_explanation *e = gc_x_item(c, t);
        float *cf = gc_x_map(c, t, GC_METHOD_COUNTERFACTUAL, "counterfactual", 2, c->h, c->w, 1);
        float *up = cf ? gc_x_map(c, t, GC_METHOD_COUNTERFACTUAL, "counterfactual_up", 2, c->H, c->W, 1) : NULL;
        if (!up) return GC_ERR_STATE;
        const float *raw = e->cam_raw.data;
        for (int64_t i = 0; i < c->hw; i++) cf[i] = raw[i] < 0 ? -raw[i] : 0.0f;
        gc_map_resize_bilinear(cf, c->h, c->w, up, c->H, c->W);
        gc_x_view(&e->counterfactual, cf, 2, c->h, c->w, 1);
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- CAM (Zhou et al.) */

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
int gc_x_cam_head(const capture *c) {
    const gc_model *m = c->m;
    int n = gc_model_layer_count(m), i = sole_reader(m, c->li);
    if (i < 0 || gc_model_layer_kind(m, i) != GC_LAYER_ADAPTIVE_AVGPOOL2D) return -1;
    gc_tensor pooled;
    if (gc_session_shape(c->s, gc_model_layer_name(m, i), &pooled) || pooled.ndim != 4 || pooled.shape[2] != 1 ||
        pooled.shape[3] != 1)
        return -1;
    i = sole_reader(m, i);
    if (i >= 0 && gc_model_layer_kind(m, i) == GC_LAYER_FLATTEN) i = sole_reader(m, i);
    if (i != n - 1 || gc_model_layer_kind(m, i) != GC_LAYER_LINEAR) return -1;
    return i;
}

static size_t zhou_floats(const capture *c) { return (size_t)c->k * (fl16(c->hw) + gc_x_layer_floats(c)); }

/* w^c . A with the output layer's weights (signed); cam_zhou_up: ReLU of it, resized */
static gc_status zhou_run(capture *c) {
    char wname[80];
    gc_tensor fw;
    gc_status rc;
    snprintf(wname, sizeof wname, "%s.weight", gc_model_layer_name(c->m, gc_x_cam_head(c)));
    if ((rc = gc_model_param(c->m, wname, &fw))) return rc;
    for (int t = 0; t < c->k; t++) {
        float *map = gc_x_map(c, t, GC_METHOD_CAM, "cam_zhou", 2, c->h, c->w, 1);
        float *relu = gc_x_carve(c, c->hw);
        if (!relu) return GC_ERR_STATE;
        const float *wc = fw.data + (int64_t)c->targets[t] * c->C;
        for (int64_t i = 0; i < c->hw; i++) {
            double acc = 0;
            for (int64_t k = 0; k < c->C; k++) acc += (double)wc[k] * c->A[k * c->hw + i];
            map[i] = (float)acc;
            relu[i] = map[i] > 0 ? map[i] : 0.0f;
        }
        gc_x_view(&gc_x_item(c, t)->cam_zhou, map, 2, c->h, c->w, 1);
        float *up = gc_x_map(c, t, GC_METHOD_CAM, "cam_zhou_up", 2, c->H, c->W, 1);
        if (!up) return GC_ERR_STATE;
        gc_map_resize_bilinear(relu, c->h, c->w, up, c->H, c->W);
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- weighted-sum CAMs */

/* weights (C), raw = sum_k w_k A^k, map = ReLU(raw), up: the map resized */
size_t gc_x_weighted_floats(const capture *c) {
    return (size_t)c->k * (fl16(c->C) + fl16(c->hw) + gc_x_layer_floats(c));
}

gc_status gc_x_weighted_maps(capture *c, int t, unsigned bit, const char *const n[4], const double *wts) {
    float *wv = gc_x_map(c, t, bit, n[0], 1, c->C, 1, 1);
    float *raw = wv ? gc_x_map(c, t, bit, n[1], 2, c->h, c->w, 1) : NULL;
    if (!raw) return GC_ERR_STATE;
    for (int64_t k = 0; k < c->C; k++) wv[k] = (float)wts[k];
    float *relu = c->cur; /* the next carve: the map of gc_x_layer_maps */
    for (int64_t i = 0; i < c->hw; i++) {
        double acc = 0;
        for (int64_t k = 0; k < c->C; k++) acc += wts[k] * c->A[k * c->hw + i];
        raw[i] = (float)acc;
        relu[i] = raw[i] > 0 ? raw[i] : 0.0f;
    }
    return gc_x_layer_maps(c, t, bit, n[2], n[3], relu);
}

/* The maps of a method whose channel weights w_k come from channel k's activation a and
 * gradient g alone (hw values each), for every target: weight(a, g, hw) per channel, then
 * gc_x_weighted_maps. */
typedef double (*channel_weight_fn)(const float *a, const float *g, int64_t hw);
static gc_status channel_weighted_run(capture *c, unsigned bit, const char *const n[4], channel_weight_fn weight) {
    double *wts = (double *)(void *)gc_x_scratch(c, 2 * c->C); /* (C) weights */
    if (!wts) return GC_ERR_STATE;
    for (int t = 0; t < c->k; t++) {
        const float *g = c->dA + t * c->C * c->hw;
        for (int64_t k = 0; k < c->C; k++) wts[k] = weight(c->A + k * c->hw, g + k * c->hw, c->hw);
        gc_status rc = gc_x_weighted_maps(c, t, bit, n, wts);
        if (rc) return rc;
    }
    return GC_OK;
}

/* Grad-CAM++ (eq. 19 with the exponential score): a_ij = g^2 / (2 g^2 + sum_ab A_ab g^3),
 * 0 where g = 0 or the denominator is 0; w_k = sum_ij a_ij ReLU(g_ij) */
static double gradcam_pp_weight(const float *a, const float *gk, int64_t hw) {
    double S = 0, w = 0;
    for (int64_t i = 0; i < hw; i++) S += a[i];
    for (int64_t i = 0; i < hw; i++) {
        double g1 = gk[i], g2 = g1 * g1, den = 2 * g2 + S * g2 * g1;
        if (g1 > 0 && den != 0) w += g2 / den * g1;
    }
    return w;
}
static gc_status gradcam_pp_run(capture *c) {
    static const char *const n[4] = {"gradcam_pp_weights", "gradcam_pp_raw", "gradcam_pp", "gradcam_pp_up"};
    return channel_weighted_run(c, GC_METHOD_GRADCAM_PP, n, gradcam_pp_weight);
}

/* XGrad-CAM: w_k = sum_ij g_ij A_ij / sum_ij A_ij (0 where sum A = 0) */
static double xgradcam_weight(const float *a, const float *gk, int64_t hw) {
    double S = 0, num = 0;
    for (int64_t i = 0; i < hw; i++) {
        S += a[i];
        num += (double)gk[i] * a[i];
    }
    return S != 0 ? num / S : 0.0;
}
static gc_status xgradcam_run(capture *c) {
    static const char *const n[4] = {"xgradcam_weights", "xgradcam_raw", "xgradcam", "xgradcam_up"};
    return channel_weighted_run(c, GC_METHOD_XGRADCAM, n, xgradcam_weight);
}

/* the maps; scratch: the weights in double (C) */
static size_t weighted_floats(const capture *c) { return gc_x_weighted_floats(c); }
static size_t weights_scratch(const capture *c) { return fl16(2 * c->C); }

/* ---------------------------------------------------------------- element-wise CAMs */

typedef enum { EW_HIRES, EW_ELEMENTWISE, EW_LAYER } ew_kind;

/* raw_ij = sum_k f(g, A)_kij: HiResCAM g A, element-wise ReLU(g A), Layer-CAM ReLU(g) A;
 * map = ReLU(raw) */
static gc_status elementwise_run(capture *c, ew_kind kind, unsigned bit, const char *rawn, const char *mapn,
                                 const char *upn) {
    for (int t = 0; t < c->k; t++) {
        const float *g = c->dA + t * c->C * c->hw;
        float *raw = gc_x_map(c, t, bit, rawn, 2, c->h, c->w, 1);
        if (!raw) return GC_ERR_STATE;
        float *relu = c->cur;
        for (int64_t i = 0; i < c->hw; i++) {
            double acc = 0;
            for (int64_t k = 0; k < c->C; k++) {
                double gv = g[k * c->hw + i], av = c->A[k * c->hw + i], p;
                if (kind == EW_HIRES) p = gv * av;
                else if (kind == EW_ELEMENTWISE) p = gv * av > 0 ? gv * av : 0;
                else p = (gv > 0 ? gv : 0) * av;
                acc += p;
            }
            raw[i] = (float)acc;
            relu[i] = raw[i] > 0 ? raw[i] : 0.0f;
        }
        gc_status rc = gc_x_layer_maps(c, t, bit, mapn, upn, relu);
        if (rc) return rc;
    }
    return GC_OK;
}

static size_t elementwise_floats(const capture *c) { return (size_t)c->k * (fl16(c->hw) + gc_x_layer_floats(c)); }
static gc_status hirescam_run(capture *c) {
    return elementwise_run(c, EW_HIRES, GC_METHOD_HIRESCAM, "hirescam_raw", "hirescam", "hirescam_up");
}
static gc_status elementwise_cam_run(capture *c) {
    return elementwise_run(c, EW_ELEMENTWISE, GC_METHOD_GRADCAM_ELEMENTWISE, "gradcam_elementwise_raw",
                           "gradcam_elementwise", "gradcam_elementwise_up");
}
static gc_status layercam_run(capture *c) {
    return elementwise_run(c, EW_LAYER, GC_METHOD_LAYERCAM, "layercam_raw", "layercam", "layercam_up");
}

/* ---------------------------------------------------------------- Layer-CAM fusion */

gc_status gc_layercam_fuse(const float *const *maps, const int *scale, int n, int64_t n_pixels, float gamma,
                           float *out) {
    if (!maps || !out || n < 1 || n_pixels < 1 || !(gamma > 0) || !isfinite(gamma))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_layercam_fuse: NULL maps or out, %d maps of %lld pixels, gamma %g",
                        n, (long long)n_pixels, (double)gamma);
    for (int l = 0; l < n; l++)
        if (!maps[l] || gc_first_nonfinite(maps[l], n_pixels) >= 0)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_layercam_fuse: map %d is NULL or not finite", l);
    for (int64_t i = 0; i < n_pixels; i++) out[i] = 0.0f;
    for (int l = 0; l < n; l++) {
        const float *m = maps[l];
        float mx = m[0];
        for (int64_t i = 1; i < n_pixels; i++) mx = m[i] > mx ? m[i] : mx;
        if (!(mx > 0)) continue;
        for (int64_t i = 0; i < n_pixels; i++) {
            const double r = (double)m[i] / mx, v = scale && scale[l] ? tanh((double)gamma * r) : r;
            out[i] = (float)v > out[i] ? (float)v : out[i];
        }
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- table */

const method_entry gc_methods_cam[] = {
    {{"gradcam", "Grad-CAM", GC_METHOD_GRADCAM, 0, "gradcam_up"}, 0, NEED_LAYER_GRAD, gradcam_floats, gradcam_run, NULL, NULL},
    {{"counterfactual", "counterfactual", GC_METHOD_COUNTERFACTUAL, 0, "counterfactual_up"}, GC_METHOD_GRADCAM,
     NEED_LAYER_GRAD, counterfactual_floats, counterfactual_run, NULL, NULL},
    {{"cam", "CAM", GC_METHOD_CAM, 0, "cam_zhou_up"}, 0, NEED_CLASS, zhou_floats, zhou_run, NULL, NULL},
    {{"gradcam_pp", "Grad-CAM++", GC_METHOD_GRADCAM_PP, 0, "gradcam_pp_up"}, 0, NEED_LAYER_GRAD, weighted_floats,
     gradcam_pp_run, weights_scratch, NULL},
    {{"xgradcam", "XGrad-CAM", GC_METHOD_XGRADCAM, 0, "xgradcam_up"}, 0, NEED_LAYER_GRAD, weighted_floats,
     xgradcam_run, weights_scratch, NULL},
    {{"hirescam", "HiResCAM", GC_METHOD_HIRESCAM, 0, "hirescam_up"}, 0, NEED_LAYER_GRAD, elementwise_floats,
     hirescam_run, NULL, NULL},
    {{"gradcam_elementwise", "Grad-CAM element-wise", GC_METHOD_GRADCAM_ELEMENTWISE, 0, "gradcam_elementwise_up"}, 0,
     NEED_LAYER_GRAD, elementwise_floats, elementwise_cam_run, NULL, NULL},
    {{"layercam", "Layer-CAM", GC_METHOD_LAYERCAM, 0, "layercam_up"}, 0, NEED_LAYER_GRAD, elementwise_floats,
     layercam_run, NULL, NULL},
};
const int gc_methods_cam_count = (int)(sizeof gc_methods_cam / sizeof *gc_methods_cam);
