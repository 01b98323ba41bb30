/* input.c - loading inputs and preprocessing options for the examples. */
#include "input.h"
#include "cli.h"
#include <float.h>
#include <math.h>
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
        "  --resize N       resize the shorter side to N before cropping (0..65536; 0: straight\n"
        "                   to the crop)\n"
        "  --crop N|HxW     network input (crop) size, 1..65536 each\n"
        "  --scale S        multiply 0..255 pixels by S first, a number or A/B (torchvision 1/255,\n"
        "                   Caffe 1)\n"
        "  --mean A,B,C     per-channel mean subtracted after scaling (in channel order)\n"
        "  --std A,B,C      per-channel divisor after the mean, non-zero\n"
        "  --rgb | --bgr    channel order of the network input\n"
        "  --caffe          Caffe style: BGR, scale 1, mean 103.939,116.779,123.68, std 1\n"
        "Every pixel value 0..255 must come out finite; inputs (and .npy arrays) must be finite.\n");
}

/* n comma-separated finite floats, non-zero if asked. */
static int parse_floats(const char *s, float *v, int n, int nonzero) {
    char buf[256];
    if (strlen(s) >= sizeof buf) return 0;
    strcpy(buf, s);
    char *p = buf;
    for (int i = 0; i < n; i++) {
        char *comma = strchr(p, ',');
        if ((comma != NULL) != (i < n - 1)) return 0;
        if (comma) *comma = 0;
        if (!cli_parse_float(p, 0, -FLT_MAX, FLT_MAX, &v[i]) || (nonzero && v[i] == 0.0f)) return 0;
        p = comma + 1;
    }
    return 1;
}

static int parse_size(const char *s, int *h, int *w) {
    char buf[64];
    if (strlen(s) >= sizeof buf) return 0;
    strcpy(buf, s);
    char *x = strchr(buf, 'x');
    if (x) *x = 0;
    return cli_parse_int(buf, 1, 65536, h) && cli_parse_int(x ? x + 1 : buf, 1, 65536, w);
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
        cli_error(prog, "%s needs a value (try --help)", a);
        return -1;
    }
    const char *v = argv[++*i];
    int ok;
    if (!strcmp(a, "--resize")) ok = cli_parse_int(v, 0, 65536, &o->resize);
    else if (!strcmp(a, "--crop")) ok = parse_size(v, &o->crop_h, &o->crop_w);
    else if (!strcmp(a, "--scale"))
        ok = o->has_scale = cli_parse_float(v, 1, -FLT_MAX, FLT_MAX, &o->scale) && o->scale != 0;
    else if (!strcmp(a, "--mean")) ok = o->has_mean = parse_floats(v, o->mean, 3, 0);
    else ok = o->has_std = parse_floats(v, o->std, 3, 1);
    char q[128];
    if (!ok) cli_error(prog, "bad value \"%s\" for %s (try --help)", cli_q(q, sizeof q, v), a);
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

int cli_preprocess_check(const char *prog, const gc_preprocess *p) {
    const int ts = p->scale == 1.0f / 255.0f; /* as gc_image_preprocess: ToTensor divides */
    for (int c = 0; c < 3; c++)
        for (int px = 0; px <= 255; px += 255) {
            volatile float v = (float)px; /* float arithmetic, step by step, as the library does it */
            v = ts ? v / 255.0f : v * p->scale;
            v = (v - p->mean[c]) / p->std[c];
            if (!isfinite(v)) {
                cli_error(prog, "preprocessing turns pixel value %d of channel %d into %s: (%d x %g - %g) / %g is "
                          "beyond float32 (check --scale, --mean and --std, or the model's metadata)", px, c,
                          isnan(v) ? "NaN" : "infinity", px, (double)p->scale, (double)p->mean[c], (double)p->std[c]);
                return 0;
            }
        }
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int cli_input_load(const char *prog, const char *path, cli_input *in) {
    memset(in, 0, sizeof *in);
    char q[256];
    if (ends_with(path, ".npy") || ends_with(path, ".NPY")) {
        gc_tensor *x = &in->x;
        if (gc_npy_load(path, x)) {
            cli_error(prog, "%s", gc_last_error()); /* the message names the file */
            return 0;
        }
        if (x->ndim == 3 && x->shape[0] == 3) {
            x->shape[3] = x->shape[2], x->shape[2] = x->shape[1], x->shape[1] = 3, x->shape[0] = 1, x->ndim = 4;
            return 1;
        }
        if (x->ndim == 4 && x->shape[0] == 1 && x->shape[1] == 3) return 1;
        char sh[128];
        size_t k = (size_t)snprintf(sh, sizeof sh, "%lld", (long long)x->shape[0]);
        for (int i = 1; i < x->ndim && k < sizeof sh; i++)
            k += (size_t)snprintf(sh + k, sizeof sh - k, "x%lld", (long long)x->shape[i]);
        cli_error(prog, "%s: input shape %s, expected (3,H,W) or (1,3,H,W)", cli_q(q, sizeof q, path), sh);
        gc_tensor_release(x);
        return 0;
    }
    if (gc_image_load(path, NULL, &in->image)) {
        cli_error(prog, "%s", gc_last_error());
        return 0;
    }
    in->is_image = 1;
    return 1;
}

void cli_input_size(const cli_input *in, const gc_preprocess *pre, int64_t *h, int64_t *w) {
    *h = in->is_image ? pre->input_height : in->x.shape[2];
    *w = in->is_image ? pre->input_width : in->x.shape[3];
}

int cli_input_prepare(const char *prog, const char *path, const gc_preprocess *pre, cli_input *in) {
    if (!in->is_image || in->x.data) return 1;
    if (gc_image_preprocess(&in->image, pre, &in->x, &in->info)) {
        char q[256];
        cli_error(prog, "%s: %s", cli_q(q, sizeof q, path), gc_last_error());
        return 0;
    }
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
