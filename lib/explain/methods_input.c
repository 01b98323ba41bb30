/* methods_input.c - the methods whose map lives at the input: guided backprop, Guided
 * Grad-CAM, deconvnet, saliency (the gradient), input x gradient, Integrated Gradients,
 * SmoothGrad / VarGrad and occlusion. The first five use the request's session (one
 * backward per target for all the images of its batch); the others run, image by image,
 * batches through a whole-network session at batch params.batch kept with the explain state. */
#include "explain/explain.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- one backward per target */

static size_t image_floats(const capture *c) { return (size_t)c->k * fl16(c->Cin * c->HW); }

/* d score / d input of target t with the given ReLU rule, for every image of the batch in
 * one backward pass, into a new map `name` of each image (cs[0..n_img-1]). */
static gc_status input_gradients(capture *cs, int t, gc_relu_mode mode, unsigned bit, const char *name) {
    const capture *c = cs;
    const int64_t n = c->Cin * c->HW;
    gc_backward_opts bo = {NULL, mode, 0};
    gc_status rc;
    gc_tensor g;
    if (mode == GC_RELU_GUIDED && c->guided_at_layer) rc = gc_session_backward_from(c->s, c->layer, c->guided_at_layer, &bo);
    else {
        const float *dy = c->onehots + t * c->classes; /* (batch, classes): row r is image r's target t */
        if (c->k > 1 && c->batch > 1) {
            for (int64_t r = 0; r < c->batch; r++)
                memcpy(c->rows + r * c->classes, c->onehots + (r * c->k + t) * c->classes, (size_t)c->classes * sizeof(float));
            dy = c->rows;
        }
        rc = gc_session_backward(c->s, dy, &bo);
    }
    if (rc || (rc = gc_session_gradient(c->s, "input", &g))) return rc;
    for (int i = 0; i < c->n_img; i++) {
        float *img = gc_x_map(&cs[i], t, bit, name, 3, c->Cin, c->H, c->W);
        if (!img) return GC_ERR_STATE;
        memcpy(img, g.data + i * n, (size_t)n * sizeof(float));
    }
    return GC_OK;
}

/* map `name` of target t of c's image */
static float *map_of(const capture *c, int t, const char *name) { return gc_explanation_map(gc_x_item(c, t), name)->data; }

static gc_status guided_run(capture *cs) {
    for (int t = 0; t < cs->k; t++) {
        gc_status rc = input_gradients(cs, t, GC_RELU_GUIDED, GC_METHOD_GUIDED_BACKPROP, "guided_backprop");
        if (rc) return rc;
        for (int i = 0; i < cs->n_img; i++)
            gc_x_view(&gc_x_item(&cs[i], t)->guided, map_of(&cs[i], t, "guided_backprop"), 3, cs->Cin, cs->H, cs->W);
    }
    return GC_OK;
}

/* guided backprop * cam_up, per pixel, every channel */
static gc_status guided_gradcam_run(capture *c) {
    for (int t = 0; t < c->k; t++) {
        gc_explanation *e = gc_x_item(c, t);
        float *gg = gc_x_map(c, t, GC_METHOD_GUIDED_GRADCAM, "guided_gradcam", 3, c->Cin, c->H, c->W);
        if (!gg) return GC_ERR_STATE;
        const float *img = e->guided.data, *up = e->cam_up.data;
        for (int64_t ch = 0; ch < c->Cin; ch++)
            for (int64_t i = 0; i < c->HW; i++) gg[ch * c->HW + i] = img[ch * c->HW + i] * up[i];
        gc_x_view(&e->guided_gradcam, gg, 3, c->Cin, c->H, c->W);
    }
    return GC_OK;
}

static gc_status deconvnet_run(capture *cs) {
    for (int t = 0; t < cs->k; t++) {
        gc_status rc = input_gradients(cs, t, GC_RELU_DECONVNET, GC_METHOD_DECONVNET, "deconvnet");
        if (rc) return rc;
        for (int i = 0; i < cs->n_img; i++)
            gc_x_view(&gc_x_item(&cs[i], t)->deconvnet, map_of(&cs[i], t, "deconvnet"), 3, cs->Cin, cs->H, cs->W);
    }
    return GC_OK;
}

static gc_status saliency_run(capture *cs) {
    for (int t = 0; t < cs->k; t++) {
        gc_status rc = input_gradients(cs, t, GC_RELU_NORMAL, GC_METHOD_SALIENCY, "saliency");
        if (rc) return rc;
    }
    return GC_OK;
}

/* x * d score / d x (the gradient of the saliency map when it was computed, else its own pass) */
static gc_status input_x_gradient_run(capture *cs) {
    const int64_t n = cs->Cin * cs->HW;
    const int have = (cs->methods & GC_METHOD_SALIENCY) != 0;
    for (int t = 0; t < cs->k; t++) {
        gc_status rc;
        if (!have && (rc = input_gradients(cs, t, GC_RELU_NORMAL, GC_METHOD_INPUT_X_GRADIENT, "input_x_gradient")))
            return rc;
        for (int i = 0; i < cs->n_img; i++) {
            capture *c = &cs[i];
            float *img;
            if (have) {
                if (!(img = gc_x_map(c, t, GC_METHOD_INPUT_X_GRADIENT, "input_x_gradient", 3, c->Cin, c->H, c->W)))
                    return GC_ERR_STATE;
                memcpy(img, map_of(c, t, "saliency"), (size_t)n * sizeof(float));
            } else {
                img = map_of(c, t, "input_x_gradient");
            }
            for (int64_t j = 0; j < n; j++) img[j] *= c->input[j];
        }
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- batched gradients */

/* Workspace of a batched gradient method: the batch's inputs (B, Cin, H, W), its output
 * gradient rows (B, classes) and two double accumulators of Cin*H*W. */
static int64_t batch_of(const capture *c, int64_t points) { return points < c->p.batch ? points : c->p.batch; }

static size_t batch_work_floats(const capture *c, int64_t B) { /* scratch */
    const int64_t n = c->Cin * c->HW;
    return fl16(B * n) + fl16(B * c->classes) + 2 * fl16(2 * n);
}

typedef struct batch_work { float *in, *dy; double *sum, *sq; } batch_work;

static gc_status batch_work_carve(capture *c, int64_t B, batch_work *w) {
    const int64_t n = c->Cin * c->HW;
    w->in = gc_x_scratch(c, B * n);
    w->dy = gc_x_scratch(c, B * c->classes);
    w->sum = (double *)(void *)gc_x_scratch(c, 2 * n);
    w->sq = (double *)(void *)gc_x_scratch(c, 2 * n);
    return w->sq ? GC_OK : GC_ERR_STATE;
}

/* Rows 0..used-1 of w->in are inputs; the rest repeat the last one and get zero output
 * gradients. One forward and one backward (rule mode) of the batch session; the input
 * gradients of the used rows are passed to each(row, gradient). */
static gc_status batch_gradients(capture *c, gc_session *b, int64_t B, int64_t used, int t, gc_relu_mode mode,
                                 batch_work *w, const float **grads) {
    const int64_t n = c->Cin * c->HW;
    for (int64_t r = used; r < B; r++) memcpy(w->in + r * n, w->in + (used - 1) * n, (size_t)n * sizeof(float));
    memset(w->dy, 0, (size_t)(B * c->classes) * sizeof(float));
    for (int64_t r = 0; r < used; r++) memcpy(w->dy + r * c->classes, c->onehots + t * c->classes, (size_t)c->classes * sizeof(float));
    gc_backward_opts bo = {NULL, mode, 0};
    gc_tensor g;
    gc_status rc;
    if ((rc = gc_x_forward(b, w->in, NULL, 1)) || (rc = gc_session_backward(b, w->dy, &bo)) ||
        (rc = gc_session_gradient(b, "input", &g)))
        return rc;
    *grads = g.data;
    return GC_OK;
}

/* Integrated Gradients, midpoint rule: (x - x') * (1/m) sum_i grad(x' + (i + 1/2)/m (x - x'));
 * delta = sum(attributions) - (s(x) - s(x')), the completeness error; gap = s(x) - s(x'). */
static size_t ig_floats(const capture *c) { return (size_t)c->k * (fl16(c->Cin * c->HW) + 2 * fl16(1)); }
static size_t ig_scratch(const capture *c) { return batch_work_floats(c, batch_of(c, c->p.ig_steps)); }

static gc_status ig_run(capture *c) {
    const int64_t n = c->Cin * c->HW, m = c->p.ig_steps, B = batch_of(c, m);
    const float *x0 = c->p.ig_baseline;
    gc_session *b;
    batch_work w;
    gc_status rc;
    if ((rc = gc_x_batch_session(c, B, &b)) || (rc = batch_work_carve(c, B, &w))) return rc;
    if (x0 && gc_first_nonfinite(x0, n) >= 0)
        return gc_error(GC_ERR_NUMERIC, "gc_explain: the Integrated Gradients baseline is not finite");
    /* s(x'): the baseline through the batch session */
    for (int64_t r = 0; r < B; r++) {
        if (x0) memcpy(w.in + r * n, x0, (size_t)n * sizeof(float));
        else memset(w.in + r * n, 0, (size_t)n * sizeof(float));
    }
    gc_tensor yb;
    if ((rc = gc_x_forward(b, w.in, NULL, 1)) || (rc = gc_session_output(b, &yb))) return rc;
    double sb[GC_EXPLAIN_MAX_TARGETS];
    for (int t = 0; t < c->k; t++) sb[t] = gc_x_score(c, t, yb.data);
    for (int t = 0; t < c->k; t++) {
        memset(w.sum, 0, (size_t)n * sizeof(double));
        for (int64_t i0 = 0; i0 < m; i0 += B) {
            const int64_t used = m - i0 < B ? m - i0 : B;
            for (int64_t r = 0; r < used; r++) {
                const double a = ((double)(i0 + r) + 0.5) / (double)m;
                float *p = w.in + r * n;
                for (int64_t j = 0; j < n; j++) {
                    const double base = x0 ? x0[j] : 0.0;
                    p[j] = (float)(base + a * ((double)c->input[j] - base));
                }
            }
            const float *g;
            if ((rc = batch_gradients(c, b, B, used, t, GC_RELU_NORMAL, &w, &g))) return rc;
            for (int64_t r = 0; r < used; r++)
                for (int64_t j = 0; j < n; j++) w.sum[j] += g[r * n + j];
        }
        float *attr = gc_x_map(c, t, GC_METHOD_INTEGRATED_GRADIENTS, "integrated_gradients", 3, c->Cin, c->H, c->W);
        float *delta = attr ? gc_x_map(c, t, GC_METHOD_INTEGRATED_GRADIENTS, "integrated_gradients_delta", 1, 1, 1, 1) : NULL;
        float *gap = delta ? gc_x_map(c, t, GC_METHOD_INTEGRATED_GRADIENTS, "integrated_gradients_gap", 1, 1, 1, 1) : NULL;
        if (!gap) return GC_ERR_STATE;
        double total = 0;
        for (int64_t j = 0; j < n; j++) {
            const double v = ((double)c->input[j] - (x0 ? x0[j] : 0.0)) * (w.sum[j] / (double)m);
            attr[j] = (float)v;
            total += v;
        }
        const double sx = gc_x_score(c, t, c->logits);
        gap[0] = (float)(sx - sb[t]);
        delta[0] = (float)(total - (sx - sb[t]));
    }
    return GC_OK;
}

/* SmoothGrad (mean) and VarGrad (variance, E[a^2] - E[a]^2) of the base method's map a over
 * n noisy copies x + sigma (max x - min x) e_j, e_j ~ N(0, 1) from gc_rng seeded with
 * noise_seed (sample-major: every value of sample 0, then of sample 1, ...). The same noise
 * for every target. input x gradient multiplies by the noisy input. */
static size_t smooth_floats(const capture *c) { return (size_t)c->k * 2 * fl16(c->Cin * c->HW); }
static size_t smooth_scratch(const capture *c) { return batch_work_floats(c, batch_of(c, c->p.noise_samples)); }

static gc_status smooth_run(capture *c) {
    const int64_t n = c->Cin * c->HW, S = c->p.noise_samples, B = batch_of(c, S);
    const unsigned base = c->p.noise_base;
    const gc_relu_mode mode = base == GC_METHOD_GUIDED_BACKPROP ? GC_RELU_GUIDED
                              : base == GC_METHOD_DECONVNET     ? GC_RELU_DECONVNET
                                                                : GC_RELU_NORMAL;
    gc_session *b;
    batch_work w;
    gc_status rc;
    if ((rc = gc_x_batch_session(c, B, &b)) || (rc = batch_work_carve(c, B, &w))) return rc;
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        lo = c->input[j] < lo ? c->input[j] : lo;
        hi = c->input[j] > hi ? c->input[j] : hi;
    }
    const double sigma = (double)c->p.noise_sigma * ((double)hi - (double)lo);
    for (int t = 0; t < c->k; t++) {
        gc_rng rng;
        gc_rng_seed(&rng, c->p.noise_seed);
        memset(w.sum, 0, (size_t)n * sizeof(double));
        memset(w.sq, 0, (size_t)n * sizeof(double));
        for (int64_t i0 = 0; i0 < S; i0 += B) {
            const int64_t used = S - i0 < B ? S - i0 : B;
            for (int64_t r = 0; r < used; r++)
                for (int64_t j = 0; j < n; j++)
                    w.in[r * n + j] = (float)((double)c->input[j] + sigma * (double)gc_rng_normal(&rng));
            const float *g;
            if ((rc = batch_gradients(c, b, B, used, t, mode, &w, &g))) return rc;
            for (int64_t r = 0; r < used; r++)
                for (int64_t j = 0; j < n; j++) {
                    double a = g[r * n + j];
                    if (base == GC_METHOD_INPUT_X_GRADIENT) a *= w.in[r * n + j];
                    w.sum[j] += a;
                    w.sq[j] += a * a;
                }
        }
        float *mean = gc_x_map(c, t, GC_METHOD_SMOOTHGRAD, "smoothgrad", 3, c->Cin, c->H, c->W);
        float *var = mean ? gc_x_map(c, t, GC_METHOD_SMOOTHGRAD, "vargrad", 3, c->Cin, c->H, c->W) : NULL;
        if (!var) return GC_ERR_STATE;
        for (int64_t j = 0; j < n; j++) {
            const double mu = w.sum[j] / (double)S, v = w.sq[j] / (double)S - mu * mu;
            mean[j] = (float)mu;
            var[j] = (float)(v > 0 ? v : 0);
        }
    }
    return GC_OK;
}

/* vargrad shares smoothgrad's bit and is made by its pass */
static size_t none_floats(const capture *c) { (void)c; return 0; }
static gc_status none_run(capture *c) { (void)c; return GC_OK; }

/* ---------------------------------------------------------------- occlusion */

static void occlusion_geometry(const capture *c, int *patch, int *stride) {
    const int64_t side = c->H < c->W ? c->H : c->W;
    *patch = c->p.occlusion_patch ? c->p.occlusion_patch : (int)(side / 8 > 1 ? side / 8 : 1);
    *stride = c->p.occlusion_stride ? c->p.occlusion_stride : (*patch / 2 > 1 ? *patch / 2 : 1);
}

static size_t occlusion_floats(const capture *c) { return (size_t)c->k * fl16(c->HW); }

/* gc_eval_occlusion of the target class's logit, through the batch session */
static gc_status occlusion_run(capture *c) {
    int patch, stride;
    occlusion_geometry(c, &patch, &stride);
    gc_session *b;
    gc_status rc = gc_x_batch_session(c, c->p.batch, &b);
    if (rc) return rc;
    gc_occlusion_params op = {patch, stride, c->p.occlusion_fill, 0};
    for (int t = 0; t < c->k; t++) {
        float *map = gc_x_map(c, t, GC_METHOD_OCCLUSION, "occlusion", 2, c->H, c->W, 1);
        if (!map) return GC_ERR_STATE;
        if ((rc = gc_eval_occlusion(b, c->input, c->targets[t], &op, map))) return gc_error_prefix(rc, "gc_explain: occlusion");
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- table */

const method_entry gc_methods_input[] = {
    {{"guided_backprop", "guided backprop", GC_METHOD_GUIDED_BACKPROP, 1, "guided_backprop"}, 0, 0, image_floats,
     NULL, NULL, guided_run},
    {{"guided_gradcam", "Guided Grad-CAM", GC_METHOD_GUIDED_GRADCAM, 1, "guided_gradcam"},
     GC_METHOD_GRADCAM | GC_METHOD_GUIDED_BACKPROP, 0, image_floats, guided_gradcam_run, NULL, NULL},
    {{"deconvnet", "deconvnet", GC_METHOD_DECONVNET, 1, "deconvnet"}, 0, 0, image_floats, NULL, NULL, deconvnet_run},
    {{"saliency", "saliency", GC_METHOD_SALIENCY, 1, "saliency"}, 0, 0, image_floats, NULL, NULL, saliency_run},
    {{"input_x_gradient", "input x gradient", GC_METHOD_INPUT_X_GRADIENT, 1, "input_x_gradient"}, 0, 0, image_floats,
     NULL, NULL, input_x_gradient_run},
    {{"integrated_gradients", "Integrated Gradients", GC_METHOD_INTEGRATED_GRADIENTS, 1, "integrated_gradients"}, 0, 0,
     ig_floats, ig_run, ig_scratch, NULL},
    {{"smoothgrad", "SmoothGrad", GC_METHOD_SMOOTHGRAD, 1, "smoothgrad"}, 0, 0, smooth_floats, smooth_run,
     smooth_scratch, NULL},
    {{"vargrad", "VarGrad", GC_METHOD_VARGRAD, 1, "vargrad"}, 0, 0, none_floats, none_run, NULL, NULL},
    {{"occlusion", "occlusion", GC_METHOD_OCCLUSION, 1, "occlusion"}, 0, NEED_CLASS, occlusion_floats, occlusion_run, NULL, NULL},
};
const int gc_methods_input_count = (int)(sizeof gc_methods_input / sizeof *gc_methods_input);
