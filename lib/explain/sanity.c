/* sanity.c - the model-randomisation sanity check of Adebayo et al. (2018), cascading form:
 * a private copy of the model has its parameterised layers re-initialised from the output
 * down, one more at each step, and every method's map at each step is compared with the
 * trained model's by Spearman rank correlation and SSIM. */
#include "core/core.h"
#include "explain/maps.h"
#include "net/model.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- model copy */

/* A copy of src whose parameters belong to it (so they can be changed). */
static gc_status model_copy(const gc_model *src, gc_model **out) {
    gc_model *m;
    gc_status st = gc_model_create(&m);
    if (st) return st;
    for (int i = 0; i < src->n_layers && !st; i++) {
        const gc_layer *l = &src->layers[i];
        const int n = gc_model_layer_input_count(src, i);
        const char **in = n ? gc_alloc_array((size_t)n, sizeof *in) : NULL; /* (n) input names */
        if (n && !in) {
            st = GC_ERR_OUT_OF_MEMORY;
            break;
        }
        for (int k = 0; k < n; k++) in[k] = gc_model_layer_input_at(src, i, k);
        st = gc_model_add_layer(m, l->kind, l->name, in, n, &l->p, (const float *const *)l->param, l->n_params, 0);
        gc_free(in);
    }
    for (int a = 0; a < src->n_aliases && !st; a++)
        st = gc_model_add_alias(m, src->aliases[a].name, src->layers[src->aliases[a].layer].name);
    if (!st) st = gc_model_set_preprocess(m, &src->pre);
    if (!st && src->n_labels) st = gc_model_set_labels(m, src->n_labels, (const char *const *)src->labels);
    if (st) {
        gc_model_free(m);
        return gc_error_prefix(st, "gc_sanity_cascade: copying the model");
    }
    *out = m;
    return GC_OK;
}

static int has_init_params(const gc_layer *l) {
    const unsigned *role = gc_layer_ops_of(l->kind)->param_roles;
    for (int j = 0; j < l->n_params; j++)
        if (role[j] & GC_PARAM_INIT) return 1;
    return 0;
}

/* PyTorch's default initialisation of one layer (as gc_model_init_random), its own stream. */
static void randomise_layer(gc_model *m, int i, uint64_t seed) {
    gc_layer *l = &m->layers[i];
    const unsigned *role = gc_layer_ops_of(l->kind)->param_roles;
    gc_rng r;
    gc_rng_seed(&r, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
    int64_t fan_in = 1;
    for (int d = 1; l->n_params && d < l->param_shape[0].ndim; d++) fan_in *= l->param_shape[0].d[d];
    const float bound = 1.0f / sqrtf((float)fan_in);
    for (int j = 0; j < l->n_params; j++) {
        if (!(role[j] & GC_PARAM_INIT)) continue;
        const int64_t n = gc_shape_numel(&l->param_shape[j]);
        for (int64_t k = 0; k < n; k++) l->param[j][k] = (2.0f * gc_rng_uniform(&r) - 1.0f) * bound;
    }
    m->generation++;
}

/* ---------------------------------------------------------------- SSIM */

/* SSIM as gc_eval_ssim says; a, b: (h*w) scratch for the scaled maps */
static double ssim(const float *x, const float *y, int64_t h, int64_t w, float *a, float *b) {
    gc_map_normalize_minmax(x, h * w, a);
    gc_map_normalize_minmax(y, h * w, b);
    const int64_t wh = h < 7 ? h : 7, ww = w < 7 ? w : 7, N = wh * ww;
    const double C1 = 1e-4, C2 = 9e-4, cov = N > 1 ? (double)N / (double)(N - 1) : 1.0;
    double total = 0;
    int64_t count = 0;
    for (int64_t i0 = 0; i0 + wh <= h; i0++)
        for (int64_t j0 = 0; j0 + ww <= w; j0++) {
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
            for (int64_t i = i0; i < i0 + wh; i++)
                for (int64_t j = j0; j < j0 + ww; j++) {
                    const double u = a[i * w + j], v = b[i * w + j];
                    sa += u, sb += v, saa += u * u, sbb += v * v, sab += u * v;
                }
            const double mx = sa / N, my = sb / N;
            const double vx = cov * (saa / N - mx * mx), vy = cov * (sbb / N - my * my), vxy = cov * (sab / N - mx * my);
            total += (2 * mx * my + C1) * (2 * vxy + C2) / ((mx * mx + my * my + C1) * (vx + vy + C2));
            count++;
        }
    return total / (double)count;
}

gc_status gc_eval_ssim(const float *x, const float *y, int h, int w, double *out) {
    if (!x || !y || !out || h < 1 || w < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_ssim: NULL map or output, or size %d x %d", h, w);
    const int64_t n = (int64_t)h * w;
    if (gc_first_nonfinite(x, n) >= 0 || gc_first_nonfinite(y, n) >= 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_ssim: a map value is not finite");
    float *a = gc_alloc_array((size_t)(2 * n), sizeof(float)); /* (2, h, w) the scaled maps */
    if (!a) return GC_ERR_OUT_OF_MEMORY;
    *out = ssim(x, y, h, w, a, a + n);
    gc_free(a);
    return GC_OK;
}

/* ---------------------------------------------------------------- the cascade */

void gc_sanity_result_free(gc_sanity_result *r) {
    if (!r) return;
    gc_free(r->methods);
    gc_free(r->layers);
    gc_free(r->spearman);
    gc_free(r->ssim);
    gc_free(r->maps);
    memset(r, 0, sizeof *r);
}

/* The compared map of method mi in e into out (H x W): a 2-D map as it is, a C x H x W map
 * as sum_c |v| (Adebayo et al. compare absolute values of gradient maps). */
static gc_status compared_map(const gc_explanation *e, const gc_method_info *mi, int64_t H, int64_t W, float *out) {
    const gc_tensor *t = gc_explanation_map(e, mi->map);
    if (!t) return gc_error(GC_ERR_STATE, "gc_sanity_cascade: method %s gave no map %s", mi->name, mi->map);
    if (t->ndim == 2 && t->shape[0] == H && t->shape[1] == W) {
        memcpy(out, t->data, (size_t)(H * W) * sizeof(float));
        return GC_OK;
    }
    if (t->ndim == 3 && t->shape[1] == H && t->shape[2] == W) {
        for (int64_t i = 0; i < H * W; i++) {
            double s = 0;
            for (int64_t c = 0; c < t->shape[0]; c++) s += fabs((double)t->data[c * H * W + i]);
            out[i] = (float)s;
        }
        return GC_OK;
    }
    return gc_error(GC_ERR_SHAPE, "gc_sanity_cascade: map %s is not at the input's size", mi->map);
}

gc_status gc_sanity_cascade(const gc_model *model, const gc_session_config *cfg, const float *input,
                            const gc_explain_request *req, uint64_t seed, gc_sanity_result *out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sanity_cascade: out is NULL");
    memset(out, 0, sizeof *out);
    if (!model || !cfg || !input || !req)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sanity_cascade: NULL model, config, input or request");
    if (req->target == GC_TARGET_TOPK ? req->top_k != 1 : req->target == GC_TARGET_CLASSES && req->n_classes != 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sanity_cascade: the request must have one target");
    const unsigned bits = req->methods ? req->methods : GC_METHOD_GRADCAM;
    gc_model *m = NULL;
    gc_session *s = NULL;
    float *scratch = NULL;
    gc_status st = model_copy(model, &m);
    if (st) return st;
    if ((st = gc_session_create(m, cfg, &s))) goto fail;
    gc_explain_request rq = *req;
    gc_explain_result res;
    if ((st = gc_explain(s, input, &rq, &res))) goto fail;
    if (res.count != 1) {
        st = gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sanity_cascade: the request must have one target");
        goto fail;
    }
    if (rq.target == GC_TARGET_TOP1 || rq.target == GC_TARGET_TOPK) /* keep the trained model's class */
        rq.target = GC_TARGET_CLASS, rq.class_index = res.items[0].class_index;
    out->class_index = res.items[0].class_index;
    const int64_t H = cfg->height, W = cfg->width, HW = H * W;
    int nm = 0, steps = 1;
    for (int i = 0; i < gc_method_count(); i++) nm += (gc_method_at(i)->bit & bits) != 0;
    for (int i = 0; i < m->n_layers; i++) steps += has_init_params(&m->layers[i]);
    out->steps = steps, out->n_methods = nm, out->height = (int)H, out->width = (int)W;
    out->methods = gc_alloc_array((size_t)nm, sizeof *out->methods);
    out->layers = gc_alloc_array((size_t)steps, sizeof *out->layers);
    out->spearman = gc_alloc_array((size_t)(steps * nm), sizeof(double));
    out->ssim = gc_alloc_array((size_t)(steps * nm), sizeof(double));
    out->maps = gc_alloc_array((size_t)steps * (size_t)nm * (size_t)HW, sizeof(float));
    scratch = gc_alloc_array((size_t)(2 * HW), sizeof(float));
    if (!out->methods || !out->layers || !out->spearman || !out->ssim || !out->maps || !scratch) {
        st = GC_ERR_OUT_OF_MEMORY;
        goto fail;
    }
    nm = 0;
    for (int i = 0; i < gc_method_count(); i++)
        if (gc_method_at(i)->bit & bits) out->methods[nm++] = gc_method_at(i);
    int li = m->n_layers; /* next layer to randomise is below li */
    for (int step = 0; step < steps; step++) {
        out->layers[step] = NULL;
        if (step > 0) {
            do li--; while (!has_init_params(&m->layers[li]));
            randomise_layer(m, li, seed);
            out->layers[step] = gc_model_layer_name(model, li);
            if ((st = gc_explain(s, input, &rq, &res))) {
                char pre[160];
                snprintf(pre, sizeof pre, "gc_sanity_cascade: step %d (%.100s re-initialised)", step,
                         gc_model_layer_name(model, li));
                st = gc_error_prefix(st, pre);
                goto fail;
            }
        }
        for (int k = 0; k < nm; k++) {
            float *map = out->maps + ((size_t)step * (size_t)nm + (size_t)k) * (size_t)HW;
            const float *ref = out->maps + (size_t)k * (size_t)HW;
            if ((st = compared_map(&res.items[0], out->methods[k], H, W, map))) goto fail;
            double rho = 1;
            if (step > 0 && (st = gc_eval_spearman(ref, map, HW, &rho))) goto fail;
            if (step == 0) {
                /* a constant map has no ranks: 0, as gc_eval_spearman says of it */
                int constant = 1;
                for (int64_t i = 1; i < HW && constant; i++) constant = map[i] == map[0];
                rho = constant ? 0 : 1;
            }
            out->spearman[step * nm + k] = rho;
            out->ssim[step * nm + k] = ssim(ref, map, H, W, scratch, scratch + HW);
        }
    }
    gc_free(scratch);
    gc_session_free(s);
    gc_model_free(m);
    return GC_OK;
fail:
    gc_free(scratch);
    gc_session_free(s);
    gc_model_free(m);
    gc_sanity_result_free(out);
    return st;
}
