/* fashion.h - the Fashion-MNIST data set for the example programs: the four IDX files read
 * with gc_idx_load, the class names, the model's input convention, a seeded batch builder with
 * the training augmentation, and the "cluttered Fashion-MNIST" canvases (a test item at a known
 * place on a larger black canvas, with clutter cut from other items). */
#ifndef GC_EXAMPLES_FASHION_H
#define GC_EXAMPLES_FASHION_H

#include "gradcam.h"
#include <stdint.h>

#define FASHION_DIR     "/usr/share/datasets/fashion-mnist"
#define FASHION_CLASSES 10
#define FASHION_SIDE    28
/* The model's input: grey value v (0..255) replicated into 3 channels as (v / 255) / 0.5, the
 * background 0 is the convolutions' zero padding (so a larger canvas looks the same). */
#define FASHION_STD 0.5f

extern const char *const fashion_class_names[FASHION_CLASSES];

typedef struct fashion_set {
    int64_t  n;      /* images */
    uint8_t *pixels; /* (n, 28, 28) */
    uint8_t *labels; /* (n), 0..9 */
    gc_idx   img, lab;
} fashion_set;

/* Reads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (train: 1 for the training split).
 * Checks the shapes (n x 28 x 28 and n) and labels. Prints "prog: reason" and returns 0 on
 * failure, with nothing held. */
int  fashion_load(const char *prog, const char *dir, int train, fashion_set *s);
void fashion_release(fashion_set *s);

/* One 28 x 28 image into x (3 x 28 x 28, normalised as above). */
void fashion_to_input(const uint8_t *img, float *x);

/* A training batch: images idx[0..n-1] of s into x (n x 3 x 28 x 28) and labels into y.
 * shift > 0: each image moved by a seeded offset in -shift..shift in x and y (zeros enter);
 * flip: mirrored left-right with probability 1/2. The draws depend on (seed, step, i) only. */
void fashion_batch(const fashion_set *s, const int64_t *idx, int n, int shift, int flip, uint64_t seed,
                   uint64_t step, float *x, int *y);

/* A seeded permutation of 0..n-1 for epoch e. */
void fashion_permutation(int64_t n, uint64_t seed, uint64_t epoch, int64_t *perm);

/* splitmix64 step: deterministic 64-bit stream. */
uint64_t fashion_mix(uint64_t *state);

/* ---- Cluttered Fashion-MNIST ------------------------------------------------------------ */
typedef struct clutter_params {
    int side;       /* canvas side, e.g. 112 */
    int n_clutter;  /* fragments, e.g. 8 */
    int frag;       /* fragment side, e.g. 10 (cut from random other test items) */
} clutter_params;

/* Canvas `index` of `seed` (side x side grey bytes): test item target (an index into s) pasted
 * at a seeded position, fragments of other items (never of the target's class) pasted by
 * maximum where they do not touch the target's box. *box: the tight box of the target's
 * non-zero pixels (inclusive). Deterministic in (seed, index, s). */
void clutter_canvas(const fashion_set *s, const clutter_params *p, uint64_t seed, uint64_t index, int64_t target,
                    uint8_t *canvas, gc_box *box);


/* ---- The network and its training -------------------------------------------------------- */
/* VGG-style, input 3 x H x W (28 x 28 in training; any size >= 4 later: fully convolutional
 * up to the global average pool), base width c:
 *   features.0 conv 3->c 3x3 pad 1, .1 ReLU, .2 conv c->c, .3 ReLU, .4 max-pool 2
 *   features.5 conv c->2c, .6 ReLU, .7 conv 2c->2c, .8 ReLU, .9 max-pool 2
 *   features.10 conv 2c->4c, .11 ReLU, .12 conv 4c->4c, .13 ReLU (Grad-CAM's layer, H/4 x W/4)
 *   avgpool (global average), flatten, classifier.0 linear 4c->10.
 * No layer has a bias: the black background (input 0) stays exactly 0 through every layer, so
 * the empty parts of a larger canvas add nothing to the maps or the logits.
 * He-uniform initialisation from seed (1/sqrt(fan_in) for the last layer), labels and the
 * preprocessing metadata (28 x 28, RGB, scale 1/255, mean 0, std FASHION_STD) set. */
gc_status fashion_build(int width, uint64_t seed, gc_model **out);

/* Called on every training batch after augmentation (x: n x 3 x 28 x 28 normalised, y labels);
 * may change x (e.g. paint a cue). */
typedef void (*fashion_batch_hook)(void *ctx, float *x, const int *y, int n, uint64_t step);

typedef struct fashion_train_opts {
    int      epochs, batch, width, shift, flip, quiet, eval_every;
    float    lr;           /* peak; half an epoch of linear warm-up, cosine decay to 0 */
    float    weight_decay;
    uint64_t seed;
    int64_t  subset;       /* train on the first `subset` images (0: all) */
    fashion_batch_hook hook;
    void    *hook_ctx;
    const fashion_set *test; /* may be NULL: accuracy on it every eval_every epochs */
} fashion_train_opts;

/* Trains a fresh network (fashion_build(width, seed)) with SGD (momentum 0.9) on s and returns
 * it in *out (the caller frees it). Prints one line per epoch unless quiet. Deterministic for
 * the options: bit-identical weights for any thread count. Returns 0 after printing why. */
int fashion_train(const char *prog, const fashion_set *s, const fashion_train_opts *o, gc_model **out);

/* Top-1 accuracy of m on the first n images of s (n 0: all), hook (may be NULL) applied to each
 * batch with step = batch index. Returns 0 after printing why. */
int fashion_accuracy(const char *prog, const gc_model *m, const fashion_set *s, int64_t n, fashion_batch_hook hook,
                     void *ctx, double *acc);

/* ---- Figures ---------------------------------------------------------------------------- */
/* Writes n panels (8-bit grey or RGB images of any size) side by side as one PNG at path:
 * each scaled to ph pixels high by nearest neighbour, a title above each and an optional
 * caption line below. Returns 0 after printing why. */
int fashion_figure(const char *prog, const gc_image *panels, const char *const *titles, int n, int ph,
                   const char *caption, const char *path);

/* rows x cols panels (row-major; column widths from the first row's aspect) as one PNG. */
int fashion_grid(const char *prog, const gc_image *panels, const char *const *titles, int rows, int cols, int ph,
                 const char *caption, const char *path);

/* A grey 8-bit image of a (3 x h x w) network input's first channel (v * FASHION_STD * 255). */
gc_status fashion_input_image(const float *x, int h, int w, gc_image *out);

#endif
