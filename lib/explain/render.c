/* render.c - pictures of explanations: jet heatmap overlaid on the original
 * photo (through the preprocessing crop), gradient images as the papers show
 * them, the localisation box, and the side-by-side figure. */
#include "core/core.h"
#include "explain/maps.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const uint8_t BOX_RGB[3] = {0, 255, 0}, WHITE[3] = {255, 255, 255}, BLACK[3] = {0, 0, 0},
                     GREY[3] = {160, 160, 160};

/* ---- Defaults ---------------------------------------------------------------------- */
gc_overlay_opts gc_overlay_defaults(void) {
    gc_overlay_opts o = {0.5f, 0.15f, 1};
    return o;
}

gc_figure_opts gc_figure_defaults(void) {
    gc_figure_opts f = {224, {0.5f, 0.15f, 1}, 2, GC_COLOR_RGB, NULL};
    return f;
}

/* ---- Small drawing helpers ---------------------------------------------------------- */
/* Filled rectangle [x0, x1) x [y0, y1), clipped; img is RGB8. */
static void fill_rect(gc_image *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t c[3]) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    uint8_t *d = img->data; /* (h, w, 3) */
    for (int64_t y = y0; y < y1; y++)
        for (int64_t x = x0; x < x1; x++) memcpy(d + (y * img->width + x) * 3, c, 3);
}

/* 2-pixel outline drawn inside the inclusive box. */
static void draw_box(gc_image *img, const gc_box *b) {
    if (b->area <= 0) return;
    int64_t x0 = b->x0, y0 = b->y0, x1 = (int64_t)b->x1 + 1, y1 = (int64_t)b->y1 + 1; /* exclusive ends */
    int64_t t = x1 - x0 < 2 || y1 - y0 < 2 ? 1 : 2;
    fill_rect(img, x0, y0, x1, y0 + t, BOX_RGB);
    fill_rect(img, x0, y1 - t, x1, y1, BOX_RGB);
    fill_rect(img, x0, y0, x0 + t, y1, BOX_RGB);
    fill_rect(img, x1 - t, y0, x1, y1, BOX_RGB);
}

/* Copies RGB8 src into dst at (x, y), clipped. */
static void blit(gc_image *dst, const gc_image *src, int64_t x, int64_t y) {
    const uint8_t *s = src->data;
    uint8_t *d = dst->data;
    for (int64_t r = 0; r < src->height; r++) {
        if (y + r < 0 || y + r >= dst->height) continue;
        for (int64_t c = 0; c < src->width; c++) {
            if (x + c < 0 || x + c >= dst->width) continue;
            memcpy(d + ((y + r) * dst->width + x + c) * 3, s + (r * src->width + c) * 3, 3);
        }
    }
}

/* ---- Overlay ------------------------------------------------------------------------ */
/* Sample of map (mh, mw) at continuous map coordinates (u, v) in pixel
 * units with half-pixel centres, clamped at the borders (as maps.c). */
static float sample_bilinear(const float *m, int64_t mh, int64_t mw, double u, double v) {
    u = u < 0 ? 0 : u;
    v = v < 0 ? 0 : v;
    int64_t x0 = (int64_t)u, y0 = (int64_t)v;
    if (x0 > mw - 1) x0 = mw - 1;
    if (y0 > mh - 1) y0 = mh - 1;
    int64_t x1 = x0 + 1 < mw ? x0 + 1 : mw - 1, y1 = y0 + 1 < mh ? y0 + 1 : mh - 1;
    float tx = (float)(u - (double)x0), ty = (float)(v - (double)y0);
    if (tx > 1.0f) tx = 1.0f;
    if (ty > 1.0f) ty = 1.0f;
    float top = m[y0 * mw + x0] * (1.0f - tx) + m[y0 * mw + x1] * tx;
    float bot = m[y1 * mw + x0] * (1.0f - tx) + m[y1 * mw + x1] * tx;
    return top * (1.0f - ty) + bot * ty;
}

gc_status gc_render_overlay(const gc_image *original, const float *map, int32_t map_height, int32_t map_width,
                            const gc_preprocess_info *crop, const gc_overlay_opts *opts, gc_image *out, gc_box *box) {
    if (box) memset(box, 0, sizeof *box);
    if (!out || out == original) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: out is NULL or the original");
    memset(out, 0, sizeof *out);
    if (!original || !original->data) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: NULL original image");
    if (!map) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: NULL map");
    if (map_height < 1 || map_width < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: map size %d x %d", map_height, map_width);
    gc_overlay_opts o = opts ? *opts : gc_overlay_defaults();
    if (!(o.alpha >= 0.0f && o.alpha <= 1.0f))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: alpha %g (0..1)", (double)o.alpha);
    if (!(o.box_threshold >= 0.0f && o.box_threshold <= 1.0f))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: box threshold %g (0..1)", (double)o.box_threshold);
    if (crop && !(crop->width > 0 && crop->height > 0 && isfinite(crop->x) && isfinite(crop->y) &&
                  isfinite(crop->width) && isfinite(crop->height)))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: empty or non-finite crop rectangle");
    gc_status st = gc_image_to_rgb8(original, out);
    if (st) return gc_error_prefix(st, "render_overlay");
    int64_t W = out->width, H = out->height, mh = map_height, mw = map_width, n;
    double cx = crop ? crop->x : 0, cy = crop ? crop->y : 0, cw = crop ? crop->width : (double)W,
           ch = crop ? crop->height : (double)H;
    float *norm = gc_alloc_array((size_t)(mh * mw), sizeof(float)); /* (mh, mw) map scaled to [0, 1] */
    float *heat = NULL;                                             /* (H, W) heat; 0 outside the crop */
    if (norm && !gc_mul_i64(H, W, &n)) heat = gc_calloc((size_t)n, sizeof(float));
    if (!norm || !heat) { st = GC_ERR_OUT_OF_MEMORY; goto fail; }
    for (int64_t i = 0; i < mh * mw; i++)
        if (!isfinite(map[i])) { st = gc_error(GC_ERR_INVALID_ARGUMENT, "render_overlay: map value %lld is not finite", (long long)i); goto fail; }
    gc_map_normalize_minmax(map, mh * mw, norm);
    uint8_t lut[256][3]; /* (index, rgb) */
    for (int i = 0; i < 256; i++) gc_colormap_jet(i, lut[i]);
    uint8_t *px = out->data; /* (H, W, 3) */
    for (int64_t y = 0; y < H; y++) {
        double oy = (double)y + 0.5;
        if (oy < cy || oy >= cy + ch) continue;
        double v = (oy - cy) / ch * (double)mh - 0.5;
        for (int64_t x = 0; x < W; x++) {
            double ox = (double)x + 0.5;
            if (ox < cx || ox >= cx + cw) continue;
            float hv = sample_bilinear(norm, mh, mw, (ox - cx) / cw * (double)mw - 0.5, v);
            heat[y * W + x] = hv;
            const uint8_t *c = lut[gc_colormap_index(hv)];
            uint8_t *p = px + (y * W + x) * 3;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)((1.0f - o.alpha) * p[k] + o.alpha * c[k] + 0.5f);
        }
    }
    if (o.draw_box || box) {
        gc_box b;
        if ((st = gc_map_localize(heat, (int32_t)H, (int32_t)W, o.box_threshold, &b))) goto fail;
        if (o.draw_box) draw_box(out, &b);
        if (box) *box = b;
    }
    gc_free(norm);
    gc_free(heat);
    return GC_OK;
fail:
    gc_free(norm);
    gc_free(heat);
    gc_image_release(out);
    return st;
}

/* ---- Gradient images ------------------------------------------------------------------ */
gc_status gc_render_gradient(const float *chw, int32_t channels, int32_t height, int32_t width,
                             gc_color_order order, gc_image *out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_gradient: NULL output");
    memset(out, 0, sizeof *out);
    if (!chw) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_gradient: NULL gradient");
    if ((channels != 1 && channels != 3) || height < 1 || width < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_gradient: shape %d x %d x %d (1 or 3 channels)", channels, height, width);
    if (order != GC_COLOR_RGB && order != GC_COLOR_BGR)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_gradient: unknown colour order %d", (int)order);
    int64_t hw = (int64_t)height * width, n = hw * channels;
    double sum = 0, sq = 0, top = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(chw[i])) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_gradient: value %lld is not finite", (long long)i);
        sum += chw[i];
        top = fabs(chw[i]) > top ? fabs(chw[i]) : top;
    }
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) sq += (chw[i] - mean) * (chw[i] - mean);
    /* population std (numpy's) plus an epsilon relative to the map's size, so the picture does
       not depend on the map's scale; a constant map comes out mid-grey */
    double sd = sqrt(sq / (double)n) + 1e-5 * top;
    if (sd == 0) sd = 1;
    gc_status st = gc_image_alloc(out, width, height, 3, 8);
    if (st) return st;
    uint8_t *o = out->data; /* (h, w, 3) RGB */
    for (int k = 0; k < 3; k++) {
        int src = channels == 1 ? 0 : order == GC_COLOR_BGR ? 2 - k : k;
        for (int64_t i = 0; i < hw; i++) {
            double v = (chw[src * hw + i] - mean) / sd * 0.1 + 0.5; /* x - mean, / (std + 1e-5), * 0.1, + 0.5 */
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            o[i * 3 + k] = (uint8_t)(v * 255.0);
        }
    }
    return GC_OK;
}

/* ---- Figure ---------------------------------------------------------------------------- */
/* img scaled to height ph keeping its aspect; width at least 1. */
static gc_status scale_to_height(const gc_image *img, int32_t ph, gc_image *out) {
    int64_t pw = ((int64_t)img->width * ph + img->height / 2) / img->height;
    if (pw < 1) pw = 1;
    if (pw > (1 << 16)) return gc_error(GC_ERR_LIMIT, "render_figure: panel width %lld", (long long)pw);
    return gc_image_resize(img, (int32_t)pw, ph, out);
}

/* A placeholder panel (ph square) with a short note. */
static gc_status blank_panel(int32_t ph, const char *note, gc_image *out) {
    gc_status st = gc_image_alloc(out, ph, ph, 3, 8);
    if (st) return st;
    fill_rect(out, 0, 0, ph, ph, GREY);
    return gc_image_draw_text(out, (ph - gc_text_width(note, 1)) / 2, (ph - GC_FONT_HEIGHT) / 2, note, 1, BLACK);
}

static int map_2d(const gc_tensor *t) { return t->data && t->ndim == 2 && t->shape[0] >= 1 && t->shape[1] >= 1; }
static int map_3d(const gc_tensor *t) { return t->data && t->ndim == 3 && (t->shape[0] == 1 || t->shape[0] == 3); }

/* "all zero" or "constant" when every value of m (n) is the same, else NULL: such a map has
 * nothing to show, and its panel says so instead of a flat colour that looks like a result. */
static const char *constant_note(const float *m, int64_t n) {
    for (int64_t i = 1; i < n; i++)
        if (m[i] != m[0]) return NULL;
    return m[0] == 0 ? "all zero" : "constant";
}

gc_status gc_render_figure(const gc_image *original, const gc_preprocess_info *crop, const gc_explanation *e,
                           const gc_figure_opts *opts, gc_image *out) {
    if (!out || out == original) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_figure: out is NULL or the original");
    memset(out, 0, sizeof *out);
    if (!original || !original->data || original->width < 1 || original->height < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_figure: not a valid original image");
    if (!e) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_figure: NULL explanation");
    gc_figure_opts f = opts ? *opts : gc_figure_defaults();
    if (f.panel_height < 16 || f.panel_height > 4096)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_figure: panel height %d (16..4096)", f.panel_height);
    if (f.text_scale < 1 || f.text_scale > 8)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_figure: text scale %d (1..8)", f.text_scale);
    const gc_tensor *cam = map_2d(&e->cam_norm) ? &e->cam_norm : map_2d(&e->cam_up) ? &e->cam_up
                         : map_2d(&e->cam) ? &e->cam : NULL;
    if (!cam) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_figure: the explanation has no Grad-CAM map");
    const char *titles[5] = {"original", "Grad-CAM", "guided backprop", "Guided Grad-CAM", "counterfactual"};
    gc_image rgb = {0}, ov = {0}, tmp = {0}, panel[5] = {{0}};
    const int np = map_2d(&e->counterfactual) ? 5 : 4; /* the counterfactual panel when it was computed */
    float *ggc = NULL, *mask = NULL; /* the Guided Grad-CAM panel's map and its normalised Grad-CAM mask */
    gc_status st;
    int32_t P = f.panel_height;
    if ((st = gc_image_to_rgb8(original, &rgb))) goto done;
    gc_overlay_opts oo = f.overlay;
    gc_box box = {0, 0, 0, 0, 0};
    oo.draw_box = 0; /* drawn after scaling, so it stays 2 pixels wide in the panel */
    const gc_tensor *raw = map_2d(&e->cam) ? &e->cam : cam; /* "all zero" or "constant" said of the map itself */
    const char *cam_note = constant_note(raw->data, raw->shape[0] * raw->shape[1]);
    if ((st = scale_to_height(&rgb, P, &panel[0]))) goto done;
    if (cam_note) {
        if ((st = blank_panel(P, cam_note, &panel[1]))) goto done;
    } else if ((st = gc_render_overlay(&rgb, cam->data, (int32_t)cam->shape[0], (int32_t)cam->shape[1], crop, &oo, &ov,
                                       &box)) ||
               (st = scale_to_height(&ov, P, &panel[1]))) {
        goto done;
    }
    if (!cam_note && f.overlay.draw_box && box.area > 0) {
        double sx = (double)panel[1].width / rgb.width, sy = (double)P / rgb.height;
        gc_box pb = {(int32_t)(box.x0 * sx), (int32_t)(box.y0 * sy), (int32_t)((box.x1 + 1) * sx) - 1,
                     (int32_t)((box.y1 + 1) * sy) - 1, box.area};
        if (pb.x1 < pb.x0) pb.x1 = pb.x0;
        if (pb.y1 < pb.y0) pb.y1 = pb.y0;
        draw_box(&panel[1], &pb);
    }
    /* Guided Grad-CAM as people know it (pytorch-grad-cam's cam_mask * gb): guided backprop times
       the Grad-CAM map resized to it and scaled to [0, 1], whatever the product e->guided_gradcam
       holds (the paper's, with the unnormalised map) */
    const gc_tensor *gb = &e->guided;
    if (map_3d(gb) && map_3d(&e->guided_gradcam)) {
        const int64_t C = gb->shape[0], H = gb->shape[1], W = gb->shape[2];
        ggc = gc_alloc_array((size_t)(C * H * W), sizeof(float));
        mask = gc_alloc_array((size_t)(H * W), sizeof(float));
        if (!ggc || !mask) { st = GC_ERR_OUT_OF_MEMORY; goto done; }
        gc_map_resize_bilinear(cam->data, cam->shape[0], cam->shape[1], mask, H, W);
        gc_map_normalize_minmax(mask, H * W, mask);
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < H * W; i++) ggc[c * H * W + i] = gb->data[c * H * W + i] * mask[i];
    }
    const gc_tensor *g[2] = {&e->guided, &e->guided_gradcam};
    for (int k = 0; k < 2; k++) {
        if (!map_3d(g[k])) { if ((st = blank_panel(P, "not computed", &panel[2 + k]))) goto done; continue; }
        const float *d = k == 1 && ggc ? ggc : g[k]->data;
        const char *note = constant_note(d, g[k]->shape[0] * g[k]->shape[1] * g[k]->shape[2]);
        if (note) { if ((st = blank_panel(P, note, &panel[2 + k]))) goto done; continue; }
        if ((st = gc_render_gradient(d, (int32_t)g[k]->shape[0], (int32_t)g[k]->shape[1], (int32_t)g[k]->shape[2],
                                     f.order, &tmp)))
            goto done;
        st = scale_to_height(&tmp, P, &panel[2 + k]);
        gc_image_release(&tmp);
        if (st) goto done;
    }
    if (np == 5) {
        gc_overlay_opts co = f.overlay;
        co.draw_box = 0;
        const gc_tensor *cf = &e->counterfactual;
        const char *note = constant_note(cf->data, cf->shape[0] * cf->shape[1]);
        if (note) {
            if ((st = blank_panel(P, note, &panel[4]))) goto done;
        } else {
            if ((st = gc_render_overlay(&rgb, cf->data, (int32_t)cf->shape[0], (int32_t)cf->shape[1], crop, &co, &tmp, NULL)))
                goto done;
            st = scale_to_height(&tmp, P, &panel[4]);
            gc_image_release(&tmp);
            if (st) goto done;
        }
    }
    /* layout: margin | panel | margin | ... ; title strip above, caption strip below */
    const int32_t M = 6, TS = 1, title_h = GC_FONT_HEIGHT * TS + 8, cap_h = (GC_FONT_HEIGHT + 1) * f.text_scale + 10;
    int64_t fw = M;
    for (int k = 0; k < np; k++) fw += panel[k].width + M;
    int64_t fh = (int64_t)title_h + P + cap_h;
    if ((st = gc_image_alloc(out, (int32_t)fw, (int32_t)fh, 3, 8))) goto done;
    fill_rect(out, 0, 0, fw, fh, WHITE);
    int64_t x = M;
    for (int k = 0; k < np; k++) {
        blit(out, &panel[k], x, title_h);
        int32_t tw = gc_text_width(titles[k], TS);
        gc_image_draw_text(out, (int32_t)(x + (panel[k].width - tw) / 2), 4, titles[k], TS, BLACK);
        x += panel[k].width + M;
    }
    char cap[200], name[96];
    if (f.label) snprintf(name, sizeof name, "%s", f.label);
    else if (e->class_index >= 0) snprintf(name, sizeof name, "class %d", e->class_index);
    else snprintf(name, sizeof name, "gradient target");
    if (isfinite(e->probability)) snprintf(cap, sizeof cap, "%s  score %.3f  p %.3f", name, (double)e->score, (double)e->probability);
    else snprintf(cap, sizeof cap, "%s  score %.3f", name, (double)e->score);
    gc_image_draw_text(out, M, (int32_t)(title_h + P + 5), cap, f.text_scale, BLACK);
done:
    gc_free(ggc);
    gc_free(mask);
    gc_image_release(&rgb); gc_image_release(&ov); gc_image_release(&tmp);
    for (int k = 0; k < 5; k++) gc_image_release(&panel[k]);
    if (st) gc_image_release(out);
    return st;
}

/* ---- Several methods side by side ---------------------------------------------------- */
#define METHOD_COLUMNS 6 /* method panels per row */

/* The panel of one method's map t: a heat overlay on the original (2-D maps, with its box),
   or a gradient image of the network input (C x H x W maps). */
static gc_status method_panel(const gc_image *rgb, const gc_preprocess_info *crop, const gc_tensor *t,
                              const gc_figure_opts *f, gc_image *out) {
    const int32_t P = f->panel_height;
    if (!map_2d(t) && !map_3d(t)) return blank_panel(P, "not computed", out);
    const int64_t n = t->ndim == 2 ? t->shape[0] * t->shape[1] : t->shape[0] * t->shape[1] * t->shape[2];
    const char *note = constant_note(t->data, n);
    if (note) return blank_panel(P, note, out);
    gc_image tmp = {0};
    gc_status st;
    if (t->ndim == 2) {
        gc_overlay_opts oo = f->overlay;
        gc_box box;
        oo.draw_box = 0;
        if ((st = gc_render_overlay(rgb, t->data, (int32_t)t->shape[0], (int32_t)t->shape[1], crop, &oo, &tmp, &box)) ||
            (st = scale_to_height(&tmp, P, out))) {
            gc_image_release(&tmp);
            return st;
        }
        if (f->overlay.draw_box && box.area > 0) {
            double sx = (double)out->width / rgb->width, sy = (double)P / rgb->height;
            gc_box pb = {(int32_t)(box.x0 * sx), (int32_t)(box.y0 * sy), (int32_t)((box.x1 + 1) * sx) - 1,
                         (int32_t)((box.y1 + 1) * sy) - 1, box.area};
            if (pb.x1 < pb.x0) pb.x1 = pb.x0;
            if (pb.y1 < pb.y0) pb.y1 = pb.y0;
            draw_box(out, &pb);
        }
    } else {
        if ((st = gc_render_gradient(t->data, (int32_t)t->shape[0], (int32_t)t->shape[1], (int32_t)t->shape[2], f->order,
                                     &tmp)) ||
            (st = scale_to_height(&tmp, P, out))) {
            gc_image_release(&tmp);
            return st;
        }
    }
    gc_image_release(&tmp);
    return GC_OK;
}

gc_status gc_render_methods(const gc_image *original, const gc_preprocess_info *crop, const gc_explanation *e,
                            const gc_method_info *const *methods, int n, const gc_figure_opts *opts, gc_image *out) {
    if (!out || out == original) return gc_error(GC_ERR_INVALID_ARGUMENT, "render_methods: out is NULL or the original");
    memset(out, 0, sizeof *out);
    if (!original || !original->data || original->width < 1 || original->height < 1)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_methods: not a valid original image");
    if (!e || !methods || n < 1 || n > 64)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_methods: NULL explanation or methods, or %d methods (1..64)", n);
    for (int k = 0; k < n; k++)
        if (!methods[k] || !methods[k]->map)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "render_methods: method %d is NULL", k);
    gc_figure_opts f = opts ? *opts : gc_figure_defaults();
    if (f.panel_height < 16 || f.panel_height > 4096)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_methods: panel height %d (16..4096)", f.panel_height);
    if (f.text_scale < 1 || f.text_scale > 8)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "render_methods: text scale %d (1..8)", f.text_scale);
    gc_image rgb = {0}, panel[65] = {{0}}; /* original, then one per method */
    gc_status st;
    const int32_t P = f.panel_height, M = 6, TS = 1, title_h = GC_FONT_HEIGHT * TS + 8,
                  cap_h = (GC_FONT_HEIGHT + 1) * f.text_scale + 10;
    if ((st = gc_image_to_rgb8(original, &rgb)) || (st = scale_to_height(&rgb, P, &panel[0]))) goto done;
    for (int k = 0; k < n; k++) {
        const gc_tensor none = {0}, *t = gc_explanation_map(e, methods[k]->map);
        if ((st = method_panel(&rgb, crop, t ? t : &none, &f, &panel[k + 1]))) goto done;
    }
    /* rows: the original, then up to METHOD_COLUMNS methods per row; every cell as wide as the widest panel */
    int64_t cw = 0;
    for (int k = 0; k <= n; k++) cw = panel[k].width > cw ? panel[k].width : cw;
    const int cols = 1 + (n < METHOD_COLUMNS ? n : METHOD_COLUMNS), rows = (n + METHOD_COLUMNS - 1) / METHOD_COLUMNS;
    const int64_t fw = M + cols * (cw + M), fh = (int64_t)rows * (title_h + P) + cap_h;
    if (fw > (1 << 16)) { st = gc_error(GC_ERR_LIMIT, "render_methods: figure width %lld", (long long)fw); goto done; }
    if ((st = gc_image_alloc(out, (int32_t)fw, (int32_t)fh, 3, 8))) goto done;
    fill_rect(out, 0, 0, fw, fh, WHITE);
    for (int k = 0; k <= n; k++) {
        const int r = k ? (k - 1) / METHOD_COLUMNS : 0, c = k ? 1 + (k - 1) % METHOD_COLUMNS : 0;
        const int64_t x = M + c * (cw + M), y = (int64_t)r * (title_h + P);
        const char *title = k ? methods[k - 1]->title : "original";
        blit(out, &panel[k], x + (cw - panel[k].width) / 2, y + title_h);
        gc_image_draw_text(out, (int32_t)(x + (cw - gc_text_width(title, TS)) / 2), (int32_t)(y + 4), title, TS, BLACK);
    }
    char cap[200], name[96];
    if (f.label) snprintf(name, sizeof name, "%s", f.label);
    else if (e->class_index >= 0) snprintf(name, sizeof name, "class %d", e->class_index);
    else snprintf(name, sizeof name, "gradient target");
    if (isfinite(e->probability)) snprintf(cap, sizeof cap, "%s  score %.3f  p %.3f", name, (double)e->score, (double)e->probability);
    else snprintf(cap, sizeof cap, "%s  score %.3f", name, (double)e->score);
    gc_image_draw_text(out, M, (int32_t)(rows * (title_h + P) + 5), cap, f.text_scale, BLACK);
done:
    gc_image_release(&rgb);
    for (int k = 0; k <= n && k < 65; k++) gc_image_release(&panel[k]);
    if (st) gc_image_release(out);
    return st;
}
