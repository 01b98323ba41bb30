/* winograd_tx.h - the F(4x4, 3x3) transforms, vectorised 16 tiles / channels wide with the
 * GNU vector extension. Included once per ISA with WG_TX_NAME set (winograd.c,
 * winograd_avx2.c, winograd_avx512.c); the arithmetic is the same in all three (no FMA
 * contraction in ISO C mode), so the transforms agree bit for bit across tiers. */
#include "kernels/winograd_internal.h"

typedef float v16 __attribute__((vector_size(64)));

/* B^T applied to a column of 6 vectors: d -> o (o may alias nothing). */
static inline void bt6(const v16 d[6], v16 o[6]) {
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = (d[3] + d[4]) - 4.0f * (d[1] + d[2]);
    o[2] = (d[4] - d[3]) + 4.0f * (d[1] - d[2]);
    o[3] = (d[4] - d[2]) + 2.0f * (d[3] - d[1]);
    o[4] = (d[4] - d[2]) - 2.0f * (d[3] - d[1]);
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* G applied to 3 vectors -> 6. */
static inline void g6(const v16 g[3], v16 o[6]) {
    const v16 s = g[0] + g[2];
    o[0] = g[0] * (1.0f / 4);
    o[1] = (s + g[1]) * (-1.0f / 6);
    o[2] = (s - g[1]) * (-1.0f / 6);
    o[3] = g[0] * (1.0f / 24) + g[1] * (1.0f / 12) + g[2] * (1.0f / 6);
    o[4] = g[0] * (1.0f / 24) - g[1] * (1.0f / 12) + g[2] * (1.0f / 6);
    o[5] = g[2];
}

/* A^T applied to 6 vectors -> 4. */
static inline void at4(const v16 m[6], v16 o[4]) {
    const v16 a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    o[0] = m[0] + a + c;
    o[1] = b + 2.0f * d;
    o[2] = a + 4.0f * c;
    o[3] = b + 8.0f * d + m[5];
}

static inline void load_n(v16 *v, const float *s, int n) {
    memset(v, 0, sizeof *v);
    memcpy(v, s, (size_t)n * sizeof(float));
}

static inline void store_n(float *d, const v16 *v, int n) { memcpy(d, v, (size_t)n * sizeof(float)); }

/* U (36, oc, C) for output channels [o0, o0 + oc). */
static void weight_transform(const gc_winograd *p, const float *w, int64_t o0, int64_t oc, float *U) {
    const int64_t C = p->C, nb = (C + 15) / 16;
#pragma omp parallel for schedule(static)
    for (int64_t it = 0; it < oc * nb; it++) {
        const int64_t ol = it / nb, c0 = (it % nb) * 16, o = o0 + ol;
        const int n = (int)(C - c0 < 16 ? C - c0 : 16);
        v16 g[3][3], t[6][3], r[6];
        for (int k = 0; k < 9; k++) {
            v16 v = {0};
            for (int l = 0; l < n; l++) {
                const int64_t c = c0 + l;
                v[l] = p->flip ? w[(c * p->O + o) * 9 + 8 - k] : w[(o * C + c) * 9 + k];
            }
            g[k / 3][k % 3] = v;
        }
        for (int j = 0; j < 3; j++) {           /* columns: t[.][j] = G g[.][j] */
            v16 col[3] = {g[0][j], g[1][j], g[2][j]}, o6[6];
            g6(col, o6);
            for (int i = 0; i < 6; i++) t[i][j] = o6[i];
        }
        for (int i = 0; i < 6; i++) {           /* rows: U[i][.] = t[i][.] G^T */
            g6(t[i], r);
            for (int j = 0; j < 6; j++) store_n(U + ((i * 6 + j) * oc + ol) * C + c0, &r[j], n);
        }
    }
}

/* V (36, C, tc) for tiles [t0, t0 + tc). */
static void input_transform(const gc_winograd *p, const wg_plan *q, const float *x, int64_t t0,
                            int64_t tc, float *V) {
    const int64_t C = p->C, ns = seg_count(q, t0, tc);
#pragma omp parallel for schedule(static)
    for (int64_t it = 0; it < C * ns; it++) {
        const int64_t c = it / ns;
        wg_seg s;
        if (!seg_of(q, t0, tc, it % ns, &s)) continue;
        const float *xp = x + (s.n * C + c) * p->H * p->W;   /* (H, W) */
        v16 d[6][6], t[6][6], col[6], o6[6];
        for (int r = 0; r < 6; r++) {
            const int64_t ih = 4 * s.ty - p->PH + r;
            for (int k = 0; k < 6; k++) {
                v16 v = {0};
                if (ih >= 0 && ih < p->H)
                    for (int l = 0; l < s.cnt; l++) {
                        const int64_t iw = 4 * (s.tx + l) - p->PW + k;
                        if (iw >= 0 && iw < p->W) v[l] = xp[ih * p->W + iw];
                    }
                d[r][k] = v;
            }
        }
        for (int r = 0; r < 6; r++) bt6(d[r], t[r]);       /* rows: t = d B */
        for (int j = 0; j < 6; j++) {                        /* columns: B^T t */
            for (int r = 0; r < 6; r++) col[r] = t[r][j];
            bt6(col, o6);
            for (int i = 0; i < 6; i++) store_n(V + ((i * 6 + j) * C + c) * tc + s.tl, &o6[i], s.cnt);
        }
    }
}

/* y[:, o0 : o0 + oc] of tiles [t0, t0 + tc) from M (36, oc, tc), plus bias. */
static void output_transform(const gc_winograd *p, const wg_plan *q, const float *M, int64_t o0,
                             int64_t oc, int64_t t0, int64_t tc, const float *bias, float *y) {
    const int64_t ns = seg_count(q, t0, tc);
#pragma omp parallel for schedule(static)
    for (int64_t it = 0; it < oc * ns; it++) {
        const int64_t ol = it / ns, o = o0 + ol;
        wg_seg s;
        if (!seg_of(q, t0, tc, it % ns, &s)) continue;
        float *yp = y + (s.n * p->O + o) * p->OH * p->OW;   /* (OH, OW) */
        v16 m[6][6], t[4][6], col[6], r4[4];
        for (int i = 0; i < 36; i++) load_n(&m[i / 6][i % 6], M + (i * oc + ol) * tc + s.tl, s.cnt);
        for (int j = 0; j < 6; j++) {                        /* columns: A^T m */
            for (int r = 0; r < 6; r++) col[r] = m[r][j];
            at4(col, r4);
            for (int i = 0; i < 4; i++) t[i][j] = r4[i];
        }
        const float b = bias ? bias[o] : 0.0f;
        for (int i = 0; i < 4; i++) {                        /* rows: t A */
            const int64_t oh = 4 * s.ty + i;
            if (oh >= p->OH) break;
            at4(t[i], r4);
            for (int l = 0; l < s.cnt; l++) {
                const int64_t ow0 = 4 * (s.tx + l);
                for (int j = 0; j < 4 && ow0 + j < p->OW; j++) yp[oh * p->OW + ow0 + j] = r4[j][l] + b;
            }
        }
    }
}

const gc_wg_tx WG_TX_NAME = {weight_transform, input_transform, output_transform};
