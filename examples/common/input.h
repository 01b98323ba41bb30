/* input.h - what the example programs share: turning an INPUT argument
 * (an image file or a preprocessed .npy) into a network input, the
 * preprocessing options of the command line, and file-name stems. */
#ifndef GC_EXAMPLES_INPUT_H
#define GC_EXAMPLES_INPUT_H

#include "gradcam.h"
#include <stdio.h>

/* Command-line overrides of the model's preprocessing. */
typedef struct cli_preprocess {
    int   resize;          /* -1: model's; else shorter side (0: straight to the crop size) */
    int   crop_h, crop_w;  /* 0: model's */
    int   order;           /* -1: model's; else gc_color_order */
    int   has_scale, has_mean, has_std;
    float scale, mean[3], std[3];
} cli_preprocess;

void cli_preprocess_init(cli_preprocess *o);
/* Consumes argv[*i] (and its value) if it is a preprocessing option:
 * returns 1 if consumed, 0 if not one, -1 after printing a usage error. */
int cli_preprocess_option(const char *prog, int argc, char **argv, int *i, cli_preprocess *o);
void cli_preprocess_help(FILE *f);
/* The model's preprocessing with the overrides applied. */
gc_preprocess cli_preprocess_apply(const cli_preprocess *o, const gc_preprocess *model);

/* 1 if every pixel value 0..255 becomes a finite float under p (computed as
 * gc_image_preprocess does); else prints "prog: ..." naming the value, the
 * channel and the fields, and returns 0. A model's metadata or the options
 * can ask for more than float32 holds (a std of 1e-45, a scale of 1e38). */
int cli_preprocess_check(const char *prog, const gc_preprocess *p);

/* One loaded input. For images, `image` keeps the decoded original and
 * `info` where the network input was cropped from. */
typedef struct cli_input {
    gc_tensor          x;        /* (1, 3, H, W); for an image after cli_input_prepare */
    int                is_image;
    gc_image           image;
    gc_preprocess_info info;
} cli_input;

/* Reads path: a float32 .npy of shape (3,H,W) or (1,3,H,W), used as is, or
 * a PNG/JPEG/PPM/PGM image, decoded (not yet preprocessed: the caller plans
 * its session from the shapes first, cli_input_size). Prints "prog: reason"
 * and returns 0 on failure, with nothing held. */
int  cli_input_load(const char *prog, const char *path, cli_input *in);
/* The network input size: the array's H and W, or pre's crop for an image. */
void cli_input_size(const cli_input *in, const gc_preprocess *pre, int64_t *h, int64_t *w);
/* An image preprocessed with pre into in->x (nothing to do for an array).
 * Prints "prog: path: reason" and returns 0 on failure. */
int  cli_input_prepare(const char *prog, const char *path, const gc_preprocess *pre, cli_input *in);
void cli_input_release(cli_input *in);

/* File name without folders and without its last extension. */
void cli_stem(const char *path, char *out, size_t cap);

#endif
