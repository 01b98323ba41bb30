/* methods_score.c - layer methods that weigh channels by running the network again or by
 * the activation's principal direction: Score-CAM (masked inputs, batched whole-network
 * forwards), Ablation-CAM (channels zeroed, batched through the layers after the target),
 * Eigen-CAM and Eigen-Grad-CAM (first principal component, cyclic Jacobi in double). */
#include "explain/explain.h"
#include <math.h>
#include <string.h>

static int64_t batch_of(const capture *c, int64_t n) { return n < c->p.batch ? n : c->p.batch; }

/* ---------------------------------------------------------------- Score-CAM */

/* Per channel k: H_k = A^k resized to H x W and min-max scaled to [0, 1]; the weight of
 * target c is softmax(y(x * H_k))_c, the class probability of the masked input (every
 * channel of x times H_k). A constant channel has no mask and weight 0 (the authors' code
 * skips it). Map: ReLU(sum_k w_k A^k). One set of masked forwards serves every target, and
 * a mask equal bit for bit to an earlier channel's (same hash, then compared) is not run
 * again: that channel takes the earlier one's weights. */
static size_t scorecam_floats(const capture *c) { return gc_x_weighted_floats(c); }
static size_t scorecam_scratch(const capture *c) {
    const int64_t B = batch_of(c, c->C);
    return fl16(B * c->Cin * c->HW) + 2 * fl16(c->HW) + fl16(2 * c->k * c->C) + fl16(B) + 2 * fl16(2 * c->C);
}

/* H_k into up (HW): 1, or 0 when the resized channel is constant (no mask). */
static int scorecam_mask(const capture *c, int64_t k, float *up) {
    gc_map_resize_bilinear(c->A + k * c->hw, c->h, c->w, up, c->H, c->W);
    float lo = up[0], hi = up[0];
    for (int64_t i = 1; i < c->HW; i++) {
        lo = up[i] < lo ? up[i] : lo;
        hi = up[i] > hi ? up[i] : hi;
    }
    if (!(hi > lo)) return 0;
    const float range = hi - lo;
    for (int64_t i = 0; i < c->HW; i++) up[i] = (up[i] - lo) / range;
    return 1;
}

static uint64_t mask_hash(const float *up, int64_t n) { /* FNV-1a over the 32-bit words */
    uint64_t h = 1469598103934665603u;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, up + i, sizeof u);
        h = (h ^ u) * 1099511628211u;
    }
    return h;
}

static gc_status scorecam_run(capture *c) {
    static const char *const n[4] = {"scorecam_weights", "scorecam_raw", "scorecam", "scorecam_up"};
    const int64_t C = c->C, HW = c->HW, Cin = c->Cin, B = batch_of(c, C), ni = Cin * HW;
    gc_session *b;
    gc_status rc = gc_x_batch_session(c, B, &b);
    if (rc) return rc;
    float *in = gc_x_scratch(c, B * ni), *up = gc_x_scratch(c, HW), *up2 = gc_x_scratch(c, HW);
    double *wts = (double *)(void *)gc_x_scratch(c, 2 * c->k * C); /* (k, C) */
    float *chan = gc_x_scratch(c, B);                              /* channel of each row */
    uint64_t *hash = (uint64_t *)(void *)gc_x_scratch(c, 2 * C);   /* (C) of live channels */
    int64_t *same = (int64_t *)(void *)gc_x_scratch(c, 2 * C);     /* (C) earlier equal mask, -1, -2: none */
    if (!same) return GC_ERR_STATE;
    memset(wts, 0, (size_t)(c->k * C) * sizeof(double));
    int64_t rows = 0;
    for (int64_t k = 0; k <= C; k++) {
        if (k < C) {
            same[k] = -2; /* no mask */
            if (!scorecam_mask(c, k, up)) continue;
            same[k] = -1;
            hash[k] = mask_hash(up, HW);
            for (int64_t j = 0; j < k && same[k] < 0; j++)
                if (same[j] == -1 && hash[j] == hash[k] && scorecam_mask(c, j, up2) &&
                    !memcmp(up, up2, (size_t)HW * sizeof(float)))
                    same[k] = j;
            if (same[k] >= 0) continue;
            float *row = in + rows * ni;
            for (int64_t ch = 0; ch < Cin; ch++)
                for (int64_t i = 0; i < HW; i++) row[ch * HW + i] = c->input[ch * HW + i] * up[i];
            chan[rows++] = (float)k;
        }
        if (rows == B || (k == C && rows > 0)) {
            for (int64_t r = rows; r < B; r++) memcpy(in + r * ni, in + (rows - 1) * ni, (size_t)ni * sizeof(float));
            gc_tensor y;
            if ((rc = gc_session_forward(b, in)) || (rc = gc_session_output(b, &y))) return rc;
            for (int64_t r = 0; r < rows; r++) {
                const float *yr = y.data + r * c->classes;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < c->classes; j++) mx = yr[j] > mx ? yr[j] : mx;
                for (int64_t j = 0; j < c->classes; j++) sum += exp((double)yr[j] - mx);
                for (int t = 0; t < c->k; t++)
                    wts[t * C + (int64_t)chan[r]] = exp((double)yr[c->targets[t]] - mx) / sum;
            }
            rows = 0;
        }
    }
    for (int64_t k = 0; k < C; k++)
        if (same[k] >= 0)
            for (int t = 0; t < c->k; t++) wts[t * C + k] = wts[t * C + same[k]];
    for (int t = 0; t < c->k; t++)
        if ((rc = gc_x_weighted_maps(c, t, GC_METHOD_SCORECAM, n, wts + t * C))) return rc;
    return GC_OK;
}

/* ---------------------------------------------------------------- Ablation-CAM */

/* w_k = (s - s_k) / s, s the target's score and s_k the score with channel k of A set to 0
 * (the layers after the target layer at batch params.batch, fed the other tensors they
 * read during the capture's forward pass). Map: ReLU(sum_k w_k A^k). */
static size_t ablation_floats(const capture *c) { return gc_x_weighted_floats(c); }
static size_t ablation_scratch(const capture *c) {
    const int64_t B = batch_of(c, c->C);
    return fl16(B * c->C * c->hw) + fl16(2 * c->k * c->C);
}

static gc_status ablation_run(capture *c) {
    static const char *const n[4] = {"ablationcam_weights", "ablationcam_raw", "ablationcam", "ablationcam_up"};
    const int64_t C = c->C, hw = c->hw, an = C * hw;
    const int64_t B = batch_of(c, C);
    gc_session *b;
    gc_status rc = gc_x_after_session(c, B, &b);
    if (rc || (rc = gc_x_feed_after(c, b))) return rc;
    float *in = gc_x_scratch(c, B * an);
    double *wts = (double *)(void *)gc_x_scratch(c, 2 * c->k * C);
    if (!wts) return GC_ERR_STATE;
    double s[GC_EXPLAIN_MAX_TARGETS];
    for (int t = 0; t < c->k; t++) {
        s[t] = gc_x_score(c, t, c->logits);
        if (s[t] == 0)
            return gc_error(GC_ERR_NUMERIC, "gc_explain: Ablation-CAM divides by the target's score, which is 0");
    }
    float *rows_in = in;
    for (int64_t k0 = 0; k0 < C; k0 += B) {
        const int64_t used = C - k0 < B ? C - k0 : B;
        for (int64_t r = 0; r < B; r++) {
            memcpy(rows_in + r * an, c->A, (size_t)an * sizeof(float));
            if (r < used) memset(rows_in + r * an + (k0 + r) * hw, 0, (size_t)hw * sizeof(float));
        }
        gc_tensor y;
        if ((rc = gc_session_forward(b, rows_in)) || (rc = gc_session_output(b, &y))) return rc;
        for (int64_t r = 0; r < used; r++)
            for (int t = 0; t < c->k; t++)
                wts[t * C + k0 + r] = (s[t] - gc_x_score(c, t, y.data + r * c->classes)) / s[t];
    }
    for (int t = 0; t < c->k; t++)
        if ((rc = gc_x_weighted_maps(c, t, GC_METHOD_ABLATIONCAM, n, wts + t * C))) return rc;
    return GC_OK;
}

/* ---------------------------------------------------------------- Eigen-CAM */

/* Eigenvector of the largest eigenvalue of the symmetric n x n matrix a (destroyed), by
 * cyclic Jacobi rotations; v: n x n scratch; out: n. Returns the eigenvalue. */
static double top_eigenvector(double *a, double *v, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) v[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int64_t p = 0; p < n; p++) {
            diag += a[p * n + p] * a[p * n + p];
            for (int64_t q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (int64_t p = 0; p < n; p++)
            for (int64_t q = p + 1; q < n; q++) {
                const double apq = a[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                const double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (int64_t r = 0; r < n; r++) { /* columns p, q */
                    const double x = a[r * n + p], y = a[r * n + q];
                    a[r * n + p] = cs * x - sn * y;
                    a[r * n + q] = sn * x + cs * y;
                }
                for (int64_t r = 0; r < n; r++) { /* rows p, q */
                    const double x = a[p * n + r], y = a[q * n + r];
                    a[p * n + r] = cs * x - sn * y;
                    a[q * n + r] = sn * x + cs * y;
                }
                for (int64_t r = 0; r < n; r++) {
                    const double x = v[r * n + p], y = v[r * n + q];
                    v[r * n + p] = cs * x - sn * y;
                    v[r * n + q] = sn * x + cs * y;
                }
            }
    }
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (a[i * n + i] > a[best * n + best]) best = i;
    for (int64_t i = 0; i < n; i++) out[i] = v[i * n + best];
    return a[best * n + best];
}

/* Projection of the rows of M (hw x C, M_ic = X[c][i], centred per channel) on its first
 * right singular vector v, signed so that sum_c v_c >= 0: raw (hw). X is C x hw floats. */
static void eigen_projection(const float *X, int64_t C, int64_t hw, double *work, float *raw) {
    double *M = work;                      /* (hw, C) centred */
    const int64_t n = hw <= C ? hw : C;    /* the smaller Gram matrix */
    double *G = M + hw * C, *V = G + n * n, *u = V + n * n, *p = u + n;
    for (int64_t k = 0; k < C; k++) {
        double mean = 0;
        for (int64_t i = 0; i < hw; i++) mean += X[k * hw + i];
        mean /= (double)hw;
        for (int64_t i = 0; i < hw; i++) M[i * C + k] = X[k * hw + i] - mean;
    }
    if (hw <= C) { /* G = M M^T; p = M v = sigma u; sum_c v_c = (1^T M^T u) / sigma */
        for (int64_t i = 0; i < hw; i++)
            for (int64_t j = 0; j <= i; j++) {
                double acc = 0;
                for (int64_t k = 0; k < C; k++) acc += M[i * C + k] * M[j * C + k];
                G[i * n + j] = G[j * n + i] = acc;
            }
        const double lam = top_eigenvector(G, V, n, u);
        double sigma = sqrt(lam > 0 ? lam : 0), sgn = 0;
        for (int64_t i = 0; i < hw; i++) {
            double rs = 0;
            for (int64_t k = 0; k < C; k++) rs += M[i * C + k];
            sgn += u[i] * rs;
        }
        for (int64_t i = 0; i < hw; i++) p[i] = (sgn < 0 ? -sigma : sigma) * u[i];
    } else { /* G = M^T M; p = M v */
        for (int64_t a = 0; a < C; a++)
            for (int64_t b = 0; b <= a; b++) {
                double acc = 0;
                for (int64_t i = 0; i < hw; i++) acc += M[i * C + a] * M[i * C + b];
                G[a * n + b] = G[b * n + a] = acc;
            }
        top_eigenvector(G, V, n, u);
        double sgn = 0;
        for (int64_t k = 0; k < C; k++) sgn += u[k];
        for (int64_t i = 0; i < hw; i++) {
            double acc = 0;
            for (int64_t k = 0; k < C; k++) acc += M[i * C + k] * u[k];
            p[i] = sgn < 0 ? -acc : acc;
        }
    }
    for (int64_t i = 0; i < hw; i++) raw[i] = (float)p[i];
}

static size_t eigen_work_floats(const capture *c) { /* scratch */
    const int64_t n = c->hw <= c->C ? c->hw : c->C;
    return fl16(2 * (c->hw * c->C + 2 * n * n + n + c->hw)) + fl16(c->C * c->hw);
}

static size_t eigen_floats(const capture *c) {
    return (size_t)c->k * (fl16(c->hw) + fl16(c->hw) + gc_x_layer_floats(c));
}

/* raw = the projection, map = ReLU(raw) */
static gc_status eigen_run(capture *c, int grad) {
    const unsigned bit = grad ? GC_METHOD_EIGEN_GRADCAM : GC_METHOD_EIGENCAM;
    const char *rn = grad ? "eigen_gradcam_raw" : "eigencam_raw", *mn = grad ? "eigen_gradcam" : "eigencam";
    const char *un = grad ? "eigen_gradcam_up" : "eigencam_up";
    const int64_t n = c->hw <= c->C ? c->hw : c->C;
    double *work = (double *)(void *)gc_x_scratch(c, 2 * (c->hw * c->C + 2 * n * n + n + c->hw));
    float *X = gc_x_scratch(c, c->C * c->hw);
    if (!X) return GC_ERR_STATE;
    for (int t = 0; t < c->k; t++) {
        float *raw = gc_x_map(c, t, bit, rn, 2, c->h, c->w, 1);
        if (!raw) return GC_ERR_STATE;
        if (grad) {
            const float *g = c->dA + t * c->C * c->hw;
            for (int64_t i = 0; i < c->C * c->hw; i++) X[i] = g[i] * c->A[i];
            eigen_projection(X, c->C, c->hw, work, raw);
        } else if (t == 0) {
            eigen_projection(c->A, c->C, c->hw, work, raw);
        } else {
            memcpy(raw, gc_explanation_map(gc_x_item(c, 0), rn)->data, (size_t)c->hw * sizeof(float));
        }
        float *relu = gc_x_carve(c, c->hw);
        if (!relu) return GC_ERR_STATE;
        for (int64_t i = 0; i < c->hw; i++) relu[i] = raw[i] > 0 ? raw[i] : 0.0f;
        gc_status rc = gc_x_layer_maps(c, t, bit, mn, un, relu);
        if (rc) return rc;
    }
    return GC_OK;
}
static gc_status eigencam_run(capture *c) { return eigen_run(c, 0); }
static gc_status eigen_gradcam_run(capture *c) { return eigen_run(c, 1); }

/* ---------------------------------------------------------------- table */

const method_entry gc_methods_score[] = {
    {{"scorecam", "Score-CAM", GC_METHOD_SCORECAM, 0, "scorecam_up"}, 0, NEED_CLASS, scorecam_floats, scorecam_run,
     scorecam_scratch, NULL},
    {{"ablationcam", "Ablation-CAM", GC_METHOD_ABLATIONCAM, 0, "ablationcam_up"}, 0, 0, ablation_floats, ablation_run,
     ablation_scratch, NULL},
    {{"eigencam", "Eigen-CAM", GC_METHOD_EIGENCAM, 0, "eigencam_up"}, 0, 0, eigen_floats, eigencam_run,
     eigen_work_floats, NULL},
    {{"eigen_gradcam", "Eigen-Grad-CAM", GC_METHOD_EIGEN_GRADCAM, 0, "eigen_gradcam_up"}, 0, NEED_LAYER_GRAD,
     eigen_floats, eigen_gradcam_run, eigen_work_floats, NULL},
};
const int gc_methods_score_count = (int)(sizeof gc_methods_score / sizeof *gc_methods_score);
