/* preprocess.c - torchvision/Caffe input preparation: resize (shorter side
 * or straight), centre crop, channel order, scale, mean/std. */
#include "image_internal.h"
#include <math.h>
#include <string.h>

/* ---- Geometry --------------------------------------------------------------------- */
/* Python's round((size - crop) / 2.0) (ties to even) for size >= crop;
 * -((crop - size) // 2) (torchvision pads, then crops at 0) otherwise. */
static int64_t crop_offset(int64_t size, int64_t crop) {
    if (crop > size) return -((crop - size) / 2);
    int64_t d = size - crop, k = d / 2;
    return (d & 1) && (k & 1) ? k + 1 : k;
}

static gc_status check_params(const gc_preprocess *p) {
    if (!p) return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: NULL parameters");
    if (p->input_height < 1 || p->input_width < 1 || p->input_height > (1 << 16) || p->input_width > (1 << 16))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: input size %d x %d (1..65536)", (int)p->input_height, (int)p->input_width);
    if (p->resize_shorter < 0 || p->resize_shorter > (1 << 16))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: resize_shorter %d (0..65536)", (int)p->resize_shorter);
    if (p->order != GC_COLOR_RGB && p->order != GC_COLOR_BGR)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: unknown colour order %d", (int)p->order);
    if (!isfinite(p->scale)) return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: scale is not finite");
    for (int c = 0; c < 3; c++)
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: channel %d mean %g std %g (finite, std != 0)",
                            c, (double)p->mean[c], (double)p->std[c]);
    return GC_OK;
}

gc_status gc_preprocess_plan(int32_t width, int32_t height, const gc_preprocess *p, gc_preprocess_info *info) {
    if (info) memset(info, 0, sizeof *info);
    gc_status st = check_params(p);
    if (st) return st;
    if (!info) return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess_plan: NULL info");
    if (width < 1 || height < 1) return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess_plan: image size %d x %d", width, height);
    int64_t w = width, h = height, nw, nh;
    if (p->resize_shorter > 0) {
        int64_t s = w <= h ? w : h, l = w <= h ? h : w, ns = p->resize_shorter;
        int64_t nl = (int64_t)((double)(ns * l) / (double)s); /* int(size * long / short) */
        if (nl < 1) nl = 1;
        nw = w <= h ? ns : nl;
        nh = w <= h ? nl : ns;
    } else {
        nw = p->input_width;
        nh = p->input_height;
    }
    if ((st = gc_image_check_size(NULL, nw, nh, "preprocess"))) return st;
    info->resized_width = (int32_t)nw;
    info->resized_height = (int32_t)nh;
    info->crop_left = (int32_t)crop_offset(nw, p->input_width);
    info->crop_top = (int32_t)crop_offset(nh, p->input_height);
    double sx = (double)w / (double)nw, sy = (double)h / (double)nh; /* original pixels per resized pixel */
    info->x = info->crop_left * sx;
    info->y = info->crop_top * sy;
    info->width = p->input_width * sx;
    info->height = p->input_height * sy;
    return GC_OK;
}

/* ---- Pixels ----------------------------------------------------------------------- */
gc_status gc_image_preprocess(const gc_image *img, const gc_preprocess *p, gc_tensor *out, gc_preprocess_info *info) {
    if (out) memset(out, 0, sizeof *out);
    if (info) memset(info, 0, sizeof *info);
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "image_preprocess: NULL output tensor");
    if (gc_image_check(img, "image_preprocess")) return GC_ERR_INVALID_ARGUMENT;
    gc_preprocess_info g;
    gc_status st = gc_preprocess_plan(img->width, img->height, p, &g);
    if (st) return st;
    gc_image rgb = {0}, rs = {0};
    const gc_image *src = img;
    if (img->channels != 3 || img->bit_depth != 8) {
        if ((st = gc_image_to_rgb8(img, &rgb))) return st;
        src = &rgb;
    }
    if (src->width != g.resized_width || src->height != g.resized_height) {
        if ((st = gc_image_resize(src, g.resized_width, g.resized_height, &rs))) goto done;
        src = &rs;
    }
    int64_t H = p->input_height, W = p->input_width, shape[4] = {1, 3, H, W};
    if ((st = gc_tensor_alloc(out, 4, shape))) goto done;
    int ts = p->scale == 1.0f / 255.0f; /* ToTensor divides by 255 */
    const uint8_t *px = src->data;     /* (rh, rw, 3) RGB */
    for (int c = 0; c < 3; c++) {
        int sc = p->order == GC_COLOR_BGR ? 2 - c : c;
        float *o = out->data + c * H * W; /* (H, W) channel c in `order` */
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                int64_t sy = g.crop_top + y, sx = g.crop_left + x;
                int inside = sy >= 0 && sy < g.resized_height && sx >= 0 && sx < g.resized_width;
                float v = inside ? (float)px[(sy * g.resized_width + sx) * 3 + sc] : 0.0f; /* padding is black */
                v = ts ? v / 255.0f : v * p->scale;
                o[y * W + x] = (v - p->mean[c]) / p->std[c];
            }
    }
    if (info) *info = g;
done:
    gc_image_release(&rgb);
    gc_image_release(&rs);
    return st;
}
