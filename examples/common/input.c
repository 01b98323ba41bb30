/* input.c - loading inputs and preprocessing options for the examples. */
#include "input.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_preprocess_init(cli_preprocess *o) {
    memset(o, 0, sizeof *o);
    o->resize = -1;
    o->order = -1;
}

void cli_preprocess_help(FILE *f) {
    fprintf(f,
        "Image inputs (PNG, JPEG, PPM/PGM) are preprocessed as the model's metadata says\n"
        "(gcw_inspect shows it); these options override it:\n"
        "  --resize N       resize the shorter side to N before cropping (0: straight to the crop)\n"
        "  --crop N|HxW     network input (crop) size\n"
        "  --scale S        multiply 0..255 pixels by S first (torchvision 1/255, Caffe 1)\n"
        "  --mean A,B,C     per-channel mean subtracted after scaling (in channel order)\n"
        "  --std A,B,C      per-channel divisor after the mean\n"
        "  --rgb | --bgr    channel order of the network input\n"
        "  --caffe          Caffe style: BGR, scale 1, mean 103.939,116.779,123.68, std 1\n");
}

static int parse_floats(const char *s, float *v, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (errno || end == s) return 0;
        v[i] = (float)d;
        if (i < n - 1) {
            if (*end != ',') return 0;
            s = end + 1;
        } else if (*end) return 0;
    }
    return 1;
}

static int parse_size(const char *s, int *h, int *w) {
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (end == s || a < 1 || a > 65536) return 0;
    if (*end == 'x') {
        const char *t = end + 1;
        b = strtol(t, &end, 10);
        if (end == t || b < 1 || b > 65536) return 0;
    }
    if (*end) return 0;
    *h = (int)a;
    *w = (int)b;
    return 1;
}

int cli_preprocess_option(const char *prog, int argc, char **argv, int *i, cli_preprocess *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "--rgb") || !strcmp(a, "--bgr")) {
        o->order = a[2] == 'b' ? GC_COLOR_BGR : GC_COLOR_RGB;
        return 1;
    }
    if (!strcmp(a, "--caffe")) {
        o->order = GC_COLOR_BGR;
        o->has_scale = o->has_mean = o->has_std = 1;
        o->scale = 1.0f;
        o->mean[0] = 103.939f, o->mean[1] = 116.779f, o->mean[2] = 123.68f;
        o->std[0] = o->std[1] = o->std[2] = 1.0f;
        return 1;
    }
    int known = !strcmp(a, "--resize") || !strcmp(a, "--crop") || !strcmp(a, "--scale") || !strcmp(a, "--mean") ||
                !strcmp(a, "--std");
    if (!known) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value (try --help)\n", prog, a);
        return -1;
    }
    const char *v = argv[++*i];
    int ok;
    if (!strcmp(a, "--resize")) {
        char *end;
        long n = strtol(v, &end, 10);
        ok = end != v && !*end && n >= 0 && n <= 65536;
        o->resize = (int)n;
    } else if (!strcmp(a, "--crop")) ok = parse_size(v, &o->crop_h, &o->crop_w);
    else if (!strcmp(a, "--scale")) ok = (o->has_scale = parse_floats(v, &o->scale, 1)) && o->scale != 0;
    else if (!strcmp(a, "--mean")) ok = o->has_mean = parse_floats(v, o->mean, 3);
    else ok = (o->has_std = parse_floats(v, o->std, 3)) && o->std[0] && o->std[1] && o->std[2];
    if (!ok) fprintf(stderr, "%s: bad value \"%s\" for %s (try --help)\n", prog, v, a);
    return ok ? 1 : -1;
}

gc_preprocess cli_preprocess_apply(const cli_preprocess *o, const gc_preprocess *model) {
    gc_preprocess p = *model;
    if (o->resize >= 0) p.resize_shorter = o->resize;
    if (o->crop_h) p.input_height = o->crop_h, p.input_width = o->crop_w;
    if (o->order >= 0) p.order = (gc_color_order)o->order;
    if (o->has_scale) p.scale = o->scale;
    if (o->has_mean) memcpy(p.mean, o->mean, sizeof p.mean);
    if (o->has_std) memcpy(p.std, o->std, sizeof p.std);
    return p;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int cli_input_load(const char *prog, const char *path, const gc_preprocess *pre, cli_input *in) {
    memset(in, 0, sizeof *in);
    if (ends_with(path, ".npy") || ends_with(path, ".NPY")) {
        gc_tensor *x = &in->x;
        if (gc_npy_load(path, x)) {
            fprintf(stderr, "%s: %s\n", prog, gc_last_error()); /* the message names the file */
            return 0;
        }
        if (x->ndim == 3 && x->shape[0] == 3) {
            x->shape[3] = x->shape[2], x->shape[2] = x->shape[1], x->shape[1] = 3, x->shape[0] = 1, x->ndim = 4;
            return 1;
        }
        if (x->ndim == 4 && x->shape[0] == 1 && x->shape[1] == 3) return 1;
        fprintf(stderr, "%s: %s: input shape %lld", prog, path, (long long)x->shape[0]);
        for (int i = 1; i < x->ndim; i++) fprintf(stderr, "x%lld", (long long)x->shape[i]);
        fprintf(stderr, ", expected (3,H,W) or (1,3,H,W)\n");
        gc_tensor_release(x);
        return 0;
    }
    if (gc_image_load(path, NULL, &in->image)) {
        fprintf(stderr, "%s: %s\n", prog, gc_last_error());
        return 0;
    }
    if (gc_image_preprocess(&in->image, pre, &in->x, &in->info)) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, gc_last_error());
        gc_image_release(&in->image);
        return 0;
    }
    in->is_image = 1;
    return 1;
}

void cli_input_release(cli_input *in) {
    gc_tensor_release(&in->x);
    gc_image_release(&in->image);
    memset(in, 0, sizeof *in);
}

void cli_stem(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}
