/* shapes.c - the seeded synthetic shapes dataset (textured background, one
 * or two anti-aliased objects, ground-truth boxes). */
#include "core/core.h"
#include <math.h>
#include <string.h>

#define SS 4             /* supersampling per axis */
#define PI_F 3.14159265358979f

static const char *const class_names[GC_SHAPES_CLASSES] = {"disc", "square", "triangle", "cross", "ring", "star"};

const char *gc_shapes_class_name(int cls) {
    return cls >= 0 && cls < GC_SHAPES_CLASSES ? class_names[cls] : NULL;
}

/* ------------------------------------------------------------------ streams */

enum { STREAM_BACKGROUND = 1, STREAM_NOISE, STREAM_OBJECTS, STREAM_LABELS };

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One generator per (seed, what, a, b): independent of everything else generated. */
static void stream(gc_rng *r, uint64_t seed, uint64_t what, uint64_t a, uint64_t b) {
    gc_rng_seed(r, mix64(mix64(mix64(seed ^ 0x5EEDull) ^ what) + a) ^ mix64(b + 0x9E3779B97F4A7C15ull));
}

static float uni(gc_rng *r, float lo, float hi) { return lo + (hi - lo) * gc_rng_uniform(r); }

/* ------------------------------------------------------------------ shapes */

typedef struct {
    int   cls;
    float cx, cy, rad, cs, sn;  /* centre, radius (px), rotation cos/sin */
    float col[3];
} object;

static int in_polygon(const float *px, const float *py, int n, float u, float v) {
    int in = 0;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((py[i] > v) != (py[j] > v) && u < (px[j] - px[i]) * (v - py[i]) / (py[j] - py[i]) + px[i]) in = !in;
    return in;
}

/* Is (x, y) (pixel units) inside the object? u, v: object frame scaled to radius 1. */
static int inside(const object *o, float x, float y) {
    float dx = x - o->cx, dy = y - o->cy;
    float u = (dx * o->cs + dy * o->sn) / o->rad, v = (-dx * o->sn + dy * o->cs) / o->rad;
    float r2 = u * u + v * v, au = fabsf(u), av = fabsf(v);
    if (r2 > 1.0f) return 0;
    switch (o->cls) {
    case GC_SHAPES_DISC: return 1;
    case GC_SHAPES_SQUARE: return au <= 0.7f && av <= 0.7f;
    case GC_SHAPES_TRIANGLE: {
        static const float tx[3] = {0.0f, 0.8660254f, -0.8660254f}, ty[3] = {-1.0f, 0.5f, 0.5f};
        return in_polygon(tx, ty, 3, u, v);
    }
    case GC_SHAPES_CROSS: return (au <= 0.28f && av <= 0.95f) || (av <= 0.28f && au <= 0.95f);
    case GC_SHAPES_RING: return r2 >= 0.55f * 0.55f;
    default: { /* star: 5 points, outer radius 1, inner 0.42 */
        float sx[10], sy[10];
        for (int k = 0; k < 10; k++) {
            float a = -PI_F / 2 + (float)k * PI_F / 5, rr = (k & 1) ? 0.42f : 1.0f;
            sx[k] = rr * cosf(a);
            sy[k] = rr * sinf(a);
        }
        return in_polygon(sx, sy, 10, u, v);
    }
    }
}

/* ------------------------------------------------------------- background */

typedef struct {
    float c1[3], c2[3], gx, gy;          /* gradient colours, direction (unit) */
    float st_amp, st_kx, st_ky, st_ph;   /* stripes: amp * sin(kx x + ky y + ph) */
    float st_tint[3];
    int   n_blobs;
    float bx[3], by[3], bs[3], bcol[3][3];
} background;

static void draw_background(gc_rng *r, int h, int w, background *b) {
    for (int c = 0; c < 3; c++) { b->c1[c] = uni(r, 0.1f, 0.9f); b->c2[c] = uni(r, 0.1f, 0.9f); }
    float a = uni(r, 0, 2 * PI_F);
    b->gx = cosf(a);
    b->gy = sinf(a);
    b->st_amp = uni(r, 0.0f, 0.08f);
    float f = uni(r, 2.0f, 8.0f) * 2 * PI_F / (float)(h < w ? h : w), sa = uni(r, 0, PI_F);
    b->st_kx = f * cosf(sa);
    b->st_ky = f * sinf(sa);
    b->st_ph = uni(r, 0, 2 * PI_F);
    for (int c = 0; c < 3; c++) b->st_tint[c] = uni(r, 0.5f, 1.0f);
    b->n_blobs = (int)(gc_rng_next(r) % 4);
    for (int k = 0; k < 3; k++) {
        b->bx[k] = uni(r, 0, (float)w);
        b->by[k] = uni(r, 0, (float)h);
        b->bs[k] = uni(r, 0.05f, 0.2f) * (float)(h < w ? h : w);
        for (int c = 0; c < 3; c++) b->bcol[k][c] = uni(r, -0.25f, 0.25f);
    }
}

/* Gradient colour at (x, y): t = projection on the direction, in [0, 1]. */
static void gradient_at(const background *b, int h, int w, float x, float y, float *out) {
    float t = ((x / (float)w - 0.5f) * b->gx + (y / (float)h - 0.5f) * b->gy) * 0.70710678f + 0.5f;
    for (int c = 0; c < 3; c++) out[c] = b->c1[c] + (b->c2[c] - b->c1[c]) * t;
}

/* --------------------------------------------------------------- objects */

static float dist3(const float *a, const float *b) {
    return sqrtf((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

static void place(gc_rng *r, const background *b, int h, int w, int cls, float dmin, float dmax, object *o) {
    float S = (float)(h < w ? h : w);
    o->cls = cls;
    o->rad = uni(r, dmin, dmax) * S / 2;
    o->cx = uni(r, o->rad, (float)w - o->rad);
    o->cy = uni(r, o->rad, (float)h - o->rad);
    float a = uni(r, 0, 2 * PI_F);
    o->cs = cosf(a);
    o->sn = sinf(a);
    float bg[3];
    gradient_at(b, h, w, o->cx, o->cy, bg);
    for (int tries = 0;; tries++) { /* a colour far from the gradient's colours */
        for (int c = 0; c < 3; c++) o->col[c] = gc_rng_uniform(r);
        if ((dist3(o->col, bg) >= 0.45f && dist3(o->col, b->c1) >= 0.3f && dist3(o->col, b->c2) >= 0.3f) ||
            tries == 64)
            break;
    }
}

/* Pixel box the object can touch (clipped), as [x0, x1] x [y0, y1]. */
static void reach(const object *o, int h, int w, gc_box *bx) {
    bx->x0 = (int32_t)floorf(o->cx - o->rad);
    bx->x1 = (int32_t)floorf(o->cx + o->rad);
    bx->y0 = (int32_t)floorf(o->cy - o->rad);
    bx->y1 = (int32_t)floorf(o->cy + o->rad);
    if (bx->x0 < 0) bx->x0 = 0;
    if (bx->y0 < 0) bx->y0 = 0;
    if (bx->x1 > w - 1) bx->x1 = w - 1;
    if (bx->y1 > h - 1) bx->y1 = h - 1;
}

static int disjoint(const gc_box *a, const gc_box *b) {
    return a->x1 + 1 < b->x0 || b->x1 + 1 < a->x0 || a->y1 + 1 < b->y0 || b->y1 + 1 < a->y0;
}

/* ------------------------------------------------------------------ render */

gc_status gc_shapes_generate(uint64_t seed, uint64_t index, int n_objects, int height, int width, float *rgb,
                             uint8_t *mask, gc_shapes_info *info) {
    if (!rgb || !info) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_shapes_generate: rgb or info is NULL");
    if (n_objects < 0 || n_objects > 2)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_shapes_generate: n_objects %d outside 0..2", n_objects);
    if (height < 16 || width < 16 || height > 4096 || width > 4096)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_shapes_generate: size %dx%d outside 16..4096", width, height);
    const int h = height, w = width;
    const uint64_t sz = (uint64_t)h << 16 | (uint64_t)w;
    memset(info, 0, sizeof *info);
    info->n_objects = n_objects;

    gc_rng r;
    background b;
    stream(&r, seed, STREAM_BACKGROUND, index, sz);
    draw_background(&r, h, w, &b);

    object obj[2];
    if (n_objects == 1) {
        /* labels: a seeded permutation of the classes per aligned block */
        int perm[GC_SHAPES_CLASSES];
        for (int k = 0; k < GC_SHAPES_CLASSES; k++) perm[k] = k;
        stream(&r, seed, STREAM_LABELS, index / GC_SHAPES_CLASSES, 0);
        for (int k = GC_SHAPES_CLASSES - 1; k > 0; k--) {
            int j = (int)(gc_rng_next(&r) % (uint64_t)(k + 1)), t = perm[k];
            perm[k] = perm[j];
            perm[j] = t;
        }
        stream(&r, seed, STREAM_OBJECTS, index, sz ^ 1u << 31);
        place(&r, &b, h, w, perm[index % GC_SHAPES_CLASSES], 0.20f, 0.40f, &obj[0]);
    } else if (n_objects == 2) {
        stream(&r, seed, STREAM_OBJECTS, index, sz ^ 2u << 30);
        int c0 = (int)(gc_rng_next(&r) % GC_SHAPES_CLASSES);
        int c1 = (c0 + 1 + (int)(gc_rng_next(&r) % (GC_SHAPES_CLASSES - 1))) % GC_SHAPES_CLASSES;
        for (int tries = 0;; tries++) {
            place(&r, &b, h, w, c0, 0.20f, 0.36f, &obj[0]);
            place(&r, &b, h, w, c1, 0.20f, 0.36f, &obj[1]);
            gc_box a, q;
            reach(&obj[0], h, w, &a);
            reach(&obj[1], h, w, &q);
            if (disjoint(&a, &q)) break;
            if (tries == 200) { /* fall back to opposite corners */
                float rad = 0.28f * (float)(h < w ? h : w) / 2;
                obj[0].rad = obj[1].rad = rad;
                obj[0].cx = rad + 1; obj[0].cy = rad + 1;
                obj[1].cx = (float)w - rad - 1; obj[1].cy = (float)h - rad - 1;
                break;
            }
        }
    }

    /* background + objects: rgb (3, h, w); coverage with SS x SS samples */
    const int64_t plane = (int64_t)h * w;
    for (int k = 0; k < n_objects; k++) {
        info->label[k] = obj[k].cls;
        info->box[k] = (gc_box){w, h, -1, -1, 0};
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float px = (float)x + 0.5f, py = (float)y + 0.5f, col[3];
            gradient_at(&b, h, w, px, py, col);
            float s = b.st_amp * sinf(b.st_kx * px + b.st_ky * py + b.st_ph);
            for (int c = 0; c < 3; c++) col[c] += s * b.st_tint[c];
            for (int k = 0; k < b.n_blobs; k++) {
                float dx = px - b.bx[k], dy = py - b.by[k];
                float g = expf(-(dx * dx + dy * dy) / (2 * b.bs[k] * b.bs[k]));
                for (int c = 0; c < 3; c++) col[c] += g * b.bcol[k][c];
            }
            int best = 0;
            float best_cov = 0;
            for (int k = 0; k < n_objects; k++) {
                const object *o = &obj[k];
                if (px + 1 < o->cx - o->rad || px - 1 > o->cx + o->rad || py + 1 < o->cy - o->rad ||
                    py - 1 > o->cy + o->rad)
                    continue;
                int hits = 0;
                for (int i = 0; i < SS; i++)
                    for (int j = 0; j < SS; j++)
                        hits += inside(o, (float)x + ((float)j + 0.5f) / SS, (float)y + ((float)i + 0.5f) / SS);
                if (!hits) continue;
                float cov = (float)hits / (SS * SS);
                for (int c = 0; c < 3; c++) col[c] = cov * o->col[c] + (1 - cov) * col[c];
                gc_box *bx = &info->box[k];
                if (x < bx->x0) bx->x0 = x;
                if (x > bx->x1) bx->x1 = x;
                if (y < bx->y0) bx->y0 = y;
                if (y > bx->y1) bx->y1 = y;
                bx->area++;
                if (cov > best_cov) { best_cov = cov; best = k + 1; }
            }
            if (mask) mask[(int64_t)y * w + x] = (uint8_t)best;
            for (int c = 0; c < 3; c++) rgb[c * plane + (int64_t)y * w + x] = col[c];
        }

    /* noise (own stream, same with or without objects), clamp, quantise to k/255 */
    stream(&r, seed, STREAM_NOISE, index, sz);
    float sigma = uni(&r, 0.01f, 0.05f);
    for (int64_t i = 0; i < 3 * plane; i++) {
        float v = rgb[i] + sigma * gc_rng_normal(&r);
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        rgb[i] = roundf(v * 255.0f) / 255.0f;
    }
    return GC_OK;
}
