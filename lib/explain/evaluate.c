/* evaluate.c - the paper's localisation and faithfulness measures (pointing
 * game, localisation IoU, occlusion, rank correlation) and RISE's deletion /
 * insertion curves, on plain float maps. */
#include "net/session.h"
#include "core/core.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- boxes */

double gc_box_iou(const gc_box *a, const gc_box *b) {
    if (!a || !b) return 0;
    int64_t ix = (int64_t)(a->x1 < b->x1 ? a->x1 : b->x1) - (a->x0 > b->x0 ? a->x0 : b->x0) + 1;
    int64_t iy = (int64_t)(a->y1 < b->y1 ? a->y1 : b->y1) - (a->y0 > b->y0 ? a->y0 : b->y0) + 1;
    int64_t aa = ((int64_t)a->x1 - a->x0 + 1) * ((int64_t)a->y1 - a->y0 + 1);
    int64_t ab = ((int64_t)b->x1 - b->x0 + 1) * ((int64_t)b->y1 - b->y0 + 1);
    if (ix <= 0 || iy <= 0 || aa <= 0 || ab <= 0) return 0;
    return (double)(ix * iy) / (double)(aa + ab - ix * iy);
}

static gc_status check_map(const char *fn, const float *map, int h, int w) {
    if (!map) return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: map is NULL", fn);
    if (h < 1 || w < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: map size %dx%d", fn, w, h);
    return GC_OK;
}

gc_status gc_eval_localization(const float *map, int h, int w, const gc_box *gt, int n_gt, double *iou,
                               int *correct) {
    gc_status st = check_map("gc_eval_localization", map, h, w);
    if (st) return st;
    if (!gt || n_gt < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_localization: no ground-truth box");
    gc_box b;
    if ((st = gc_map_localize(map, h, w, 0.15f, &b))) return st;
    double best = 0;
    for (int i = 0; b.area > 0 && i < n_gt; i++) {
        double v = gc_box_iou(&b, &gt[i]);
        if (v > best) best = v;
    }
    if (iou) *iou = best;
    if (correct) *correct = best >= 0.5;
    return GC_OK;
}

/* -------------------------------------------------------------- pointing */

double gc_eval_pointing_tolerance(int h, int w) { return 15.0 * (h < w ? h : w) / 224.0; }

gc_status gc_eval_pointing(const float *map, int h, int w, const gc_box *box, double tol, int *hit) {
    gc_status st = check_map("gc_eval_pointing", map, h, w);
    if (st) return st;
    if (!box || !hit) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_pointing: box or hit is NULL");
    if (!(tol >= 0)) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_pointing: tolerance %g < 0", tol);
    *hit = 0;
    int64_t n = (int64_t)h * w, best = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(map[i])) return GC_OK;
        if (map[i] > map[best]) best = i;
    }
    double x = (double)(best % w), y = (double)(best / w);
    *hit = x >= box->x0 - tol && x <= box->x1 + tol && y >= box->y0 - tol && y <= box->y1 + tol;
    return GC_OK;
}

/* ---------------------------------------------------------- session runs */

/* The session's input shape and class count, checked for single-image runs. */
typedef struct { int64_t B, C, H, W, classes; } run_shape;

static gc_status run_shape_of(const char *fn, gc_session *s, const float *input, run_shape *r) {
    if (!s || !input) return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: session or input is NULL", fn);
    if (!gc_session_is_full(s))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: the session must run the whole network (no input_layer)", fn);
    const gc_session_config *c = gc_session_config_of(s);
    r->B = c->batch; r->C = c->channels; r->H = c->height; r->W = c->width;
    return GC_OK;
}

/* First forward (batch holds B images): learns the class count, checks class_index. */
static gc_status first_run(const char *fn, gc_session *s, run_shape *r, const float *batch, int class_index) {
    gc_tensor y;
    gc_status st = gc_session_forward(s, batch);
    if (!st) st = gc_session_output(s, &y);
    if (st) return gc_error_prefix(st, fn);
    if (y.ndim != 2 || y.shape[0] != r->B)
        return gc_error(GC_ERR_SHAPE, "%s: the network output must be (batch, classes)", fn);
    r->classes = y.shape[1];
    if (class_index < 0 || class_index >= r->classes)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: class %d outside 0..%lld", fn, class_index,
                        (long long)r->classes - 1);
    return GC_OK;
}

/* Score of class c in output row z: the logit, or its softmax probability. */
static double score_of(const float *z, int64_t classes, int c, int prob) {
    if (!prob) return z[c];
    double mx = z[0], se = 0;
    for (int64_t k = 1; k < classes; k++) if (z[k] > mx) mx = z[k];
    for (int64_t k = 0; k < classes; k++) se += exp((double)z[k] - mx);
    return exp((double)z[c] - mx) / se;
}

/* Runs the n images (n <= B) in batch (B x C x H x W) and writes their scores. */
static gc_status run_batch(gc_session *s, const run_shape *r, const float *batch, int n, int c, int prob,
                           double *scores) {
    gc_tensor y;
    gc_status st = gc_session_forward(s, batch);
    if (!st) st = gc_session_output(s, &y);
    if (st) return st;
    for (int i = 0; i < n; i++) scores[i] = score_of(y.data + i * r->classes, r->classes, c, prob);
    return GC_OK;
}

/* ------------------------------------------------------------- occlusion */

/* Patch offsets along one axis: 0, stride, ... and one flush with the end. */
static int64_t offsets(int64_t size, int64_t patch, int64_t stride, int64_t *out) {
    int64_t n = 0, p = 0;
    for (; p + patch <= size; p += stride) out[n++] = p;
    if (out[n - 1] + patch < size) out[n++] = size - patch;
    return n;
}

gc_status gc_eval_occlusion(gc_session *s, const float *input, int class_index, const gc_occlusion_params *p,
                            float *map) {
    const char *fn = "gc_eval_occlusion";
    if (!p || !map) return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: params or map is NULL", fn);
    run_shape r;
    gc_status st = run_shape_of(fn, s, input, &r);
    if (st) return st;
    if (p->patch < 1 || p->stride < 1 || p->patch > r.H || p->patch > r.W)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: patch %d / stride %d for a %lldx%lld input", fn, p->patch,
                        p->stride, (long long)r.W, (long long)r.H);
    const int64_t plane = r.H * r.W, img = r.C * plane;
    int64_t *oy = gc_alloc_array((size_t)r.H + 1, sizeof *oy), *ox = gc_alloc_array((size_t)r.W + 1, sizeof *ox);
    float *batch = gc_alloc_array((size_t)(r.B * img), sizeof(float));  /* (B, C, H, W) occluded copies */
    double *sc = gc_alloc_array((size_t)r.B, sizeof(double));          /* (B) scores */
    double *sum = gc_calloc((size_t)plane, sizeof(double));             /* (H, W) summed drops */
    int32_t *cnt = gc_calloc((size_t)plane, sizeof(int32_t));           /* (H, W) covering patches */
    if (!oy || !ox || !batch || !sc || !sum || !cnt) { st = GC_ERR_OUT_OF_MEMORY; goto done; }
    int64_t ny = offsets(r.H, p->patch, p->stride, oy), nx = offsets(r.W, p->patch, p->stride, ox);
    int64_t total = ny * nx, P = p->patch;
    for (int64_t i = 0; i < r.B; i++) memcpy(batch + i * img, input, (size_t)img * sizeof(float));
    if ((st = first_run(fn, s, &r, batch, class_index))) goto done;
    if ((st = run_batch(s, &r, batch, 1, class_index, p->use_probability, sc))) goto done;
    const double base = sc[0];
    for (int64_t t0 = 0; t0 < total; t0 += r.B) {
        int n = (int)(total - t0 < r.B ? total - t0 : r.B);
        for (int i = 0; i < n; i++) { /* slot i: input with the patch at position t0 + i */
            int64_t t = t0 + i, y0 = oy[t / nx], x0 = ox[t % nx];
            float *b = batch + i * img;
            memcpy(b, input, (size_t)img * sizeof(float));
            for (int64_t c = 0; c < r.C; c++)
                for (int64_t y = y0; y < y0 + P; y++)
                    for (int64_t x = x0; x < x0 + P; x++) b[c * plane + y * r.W + x] = p->fill;
        }
        if ((st = run_batch(s, &r, batch, n, class_index, p->use_probability, sc))) goto done;
        for (int i = 0; i < n; i++) {
            int64_t t = t0 + i, y0 = oy[t / nx], x0 = ox[t % nx];
            for (int64_t y = y0; y < y0 + P; y++)
                for (int64_t x = x0; x < x0 + P; x++) {
                    sum[y * r.W + x] += base - sc[i];
                    cnt[y * r.W + x]++;
                }
        }
    }
    for (int64_t i = 0; i < plane; i++) map[i] = cnt[i] ? (float)(sum[i] / cnt[i]) : 0.0f;
done:
    gc_free(oy); gc_free(ox); gc_free(batch); gc_free(sc); gc_free(sum); gc_free(cnt);
    return st;
}

/* ---------------------------------------------------------------- ranking */

typedef struct { float v; int64_t i; } keyed;

/* Ascending by value, ties by index (a stable, deterministic order). */
static int cmp_up(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}
/* Descending by value (NaN last), ties by index. */
static int cmp_down(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    int na = isnan(a->v), nb = isnan(b->v);
    if (na != nb) return na - nb;
    if (!na && a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* rank[i] = 1-based rank of v[i], ties averaged; k is scratch (n). */
static void ranks(const float *v, int64_t n, keyed *k, double *rank) {
    for (int64_t i = 0; i < n; i++) { k[i].v = v[i]; k[i].i = i; }
    qsort(k, (size_t)n, sizeof *k, cmp_up);
    for (int64_t a = 0; a < n;) {
        int64_t b = a;
        while (b + 1 < n && k[b + 1].v == k[a].v) b++;
        double avg = 0.5 * (double)(a + b) + 1.0;
        for (int64_t j = a; j <= b; j++) rank[k[j].i] = avg;
        a = b + 1;
    }
}

gc_status gc_eval_spearman(const float *a, const float *b, int64_t n, double *rho) {
    if (!a || !b || !rho) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_spearman: NULL argument");
    if (n < 2) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_spearman: n = %lld < 2", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (isnan(a[i]) || isnan(b[i]))
            return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_spearman: NaN at %lld", (long long)i);
    double *ra = gc_alloc_array((size_t)n, 2 * sizeof(double)); /* (2, n) ranks of a, then b */
    keyed *k = gc_alloc_array((size_t)n, sizeof *k);             /* (n) sort scratch */
    if (!ra || !k) { gc_free(ra); gc_free(k); return GC_ERR_OUT_OF_MEMORY; }
    double *rb = ra + n;
    ranks(a, n, k, ra);
    ranks(b, n, k, rb);
    /* Pearson on ranks (both have mean (n + 1) / 2) */
    double m = 0.5 * (double)(n + 1), sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        double da = ra[i] - m, db = rb[i] - m;
        sab += da * db; saa += da * da; sbb += db * db;
    }
    *rho = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
    gc_free(ra);
    gc_free(k);
    return GC_OK;
}

/* -------------------------------------------------- deletion / insertion */

gc_status gc_eval_curve(gc_session *s, gc_eval_curve_kind kind, const float *input, const float *baseline,
                        const float *map, int class_index, int steps, float *curve, double *auc) {
    const char *fn = kind == GC_EVAL_INSERTION ? "gc_eval_curve (insertion)" : "gc_eval_curve (deletion)";
    if (kind != GC_EVAL_DELETION && kind != GC_EVAL_INSERTION)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_curve: unknown kind %d", (int)kind);
    if (!map || !curve) return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: map or curve is NULL", fn);
    run_shape r;
    gc_status st = run_shape_of(fn, s, input, &r);
    if (st) return st;
    const int64_t plane = r.H * r.W, img = r.C * plane;
    if (steps < 1 || steps > plane)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: steps %d outside 1..%lld", fn, steps, (long long)plane);
    keyed *order = gc_alloc_array((size_t)plane, sizeof *order);      /* (H*W) pixels, most important first */
    float *cur = gc_alloc_array((size_t)img, sizeof(float));           /* (C, H, W) image being edited */
    float *batch = gc_alloc_array((size_t)(r.B * img), sizeof(float)); /* (B, C, H, W) */
    double *sc = gc_alloc_array((size_t)r.B, sizeof(double));
    if (!order || !cur || !batch || !sc) { st = GC_ERR_OUT_OF_MEMORY; goto done; }
    for (int64_t i = 0; i < r.B; i++) memcpy(batch + i * img, input, (size_t)img * sizeof(float));
    if ((st = first_run(fn, s, &r, batch, class_index))) goto done;
    for (int64_t i = 0; i < plane; i++) { order[i].v = map[i]; order[i].i = i; }
    qsort(order, (size_t)plane, sizeof *order, cmp_down);
    /* deletion: input -> baseline; insertion: baseline -> input */
    const float *from = kind == GC_EVAL_DELETION ? input : baseline, *to = kind == GC_EVAL_DELETION ? baseline : input;
    if (from) memcpy(cur, from, (size_t)img * sizeof(float));
    else memset(cur, 0, (size_t)img * sizeof(float));
    const int64_t per = (plane + steps - 1) / steps;
    int64_t done_px = 0;
    for (int k0 = 0; k0 <= steps; k0 += (int)r.B) {
        int n = (int)(steps + 1 - k0 < r.B ? steps + 1 - k0 : r.B);
        for (int i = 0; i < n; i++) { /* slot i: after k0 + i steps */
            int64_t want = (int64_t)(k0 + i) * per;
            if (want > plane) want = plane;
            for (; done_px < want; done_px++) {
                int64_t q = order[done_px].i;
                for (int64_t c = 0; c < r.C; c++) cur[c * plane + q] = to ? to[c * plane + q] : 0.0f;
            }
            memcpy(batch + i * img, cur, (size_t)img * sizeof(float));
        }
        if ((st = run_batch(s, &r, batch, n, class_index, 1, sc))) goto done;
        for (int i = 0; i < n; i++) curve[k0 + i] = (float)sc[i];
    }
    if (auc) { /* trapezoids of width 1 / steps */
        double a = 0;
        for (int k = 0; k < steps; k++) a += 0.5 * ((double)curve[k] + curve[k + 1]);
        *auc = a / steps;
    }
done:
    gc_free(order); gc_free(cur); gc_free(batch); gc_free(sc);
    return st;
}

/* ------------------------------------------------------------- baselines */

gc_status gc_eval_center_map(int h, int w, double sigma_frac, float *map) {
    gc_status st = check_map("gc_eval_center_map", map, h, w);
    if (st) return st;
    if (!(sigma_frac > 0)) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_eval_center_map: sigma_frac %g <= 0", sigma_frac);
    double sg = sigma_frac * (h < w ? h : w), cy = 0.5 * (h - 1), cx = 0.5 * (w - 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) /* exp(-(dx^2 + dy^2) / (2 sigma^2)) */
            map[(int64_t)y * w + x] = (float)exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * sg * sg));
    return GC_OK;
}

gc_status gc_eval_random_map(int h, int w, uint64_t seed, float *map) {
    gc_status st = check_map("gc_eval_random_map", map, h, w);
    if (st) return st;
    gc_rng r;
    gc_rng_seed(&r, seed);
    for (int64_t i = 0; i < (int64_t)h * w; i++) map[i] = gc_rng_uniform(&r);
    return GC_OK;
}
