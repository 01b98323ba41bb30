/* explain.h - the capture stage and the method table behind gc_explain (internal).
 *
 * gc_explain and gc_explain_batch (explain.c) validate the request, run the capture stage
 * (one forward pass of the session's batch, each image's targets, the target layer's
 * activation A and, when a method needs it, the gradient of every target's score at A: one
 * batched backward), then size one buffer for every image's maps and one scratch region
 * shared by the images, and run the requested methods of the table in its order. A method
 * is one table entry: what it needs, how many floats it carves for maps and for scratch, and
 * a function that fills named maps of one image (a capture), or one that does every image
 * of the batch at once (its backward passes batched over the images). */
#ifndef GC_EXPLAIN_H
#define GC_EXPLAIN_H

#include "core/core.h"
#include "explain/maps.h"
#include "net/session.h"

#define GC_EXPLAIN_MAPS_PER_TARGET 96

struct capture;

typedef struct explain_state {
    float          *buf;        /* all maps of the last request */
    size_t          buf_floats;
    gc_explanation *items;      /* (cap_items) */
    gc_map         *maps;       /* (cap_items, GC_EXPLAIN_MAPS_PER_TARGET) */
    int             cap_items;
    gc_session     *head;       /* batch-K session after head_layer (top-K), or NULL */
    char            head_layer[64];
    int64_t         head_k;
    gc_session     *batch;      /* whole network at batch batch_n (Score-CAM, IG, SmoothGrad,
                                   occlusion), or NULL */
    int64_t         batch_n;
    gc_session     *abl;        /* batch-abl_n session after abl_layer (Ablation-CAM), or NULL */
    char            abl_layer[64];
    int64_t         abl_n;
    gc_session     *one;        /* batch-1 whole network (Ablation-CAM's side inputs in a batch), or NULL */
    float          *pad;        /* (pad_floats) the inputs of a batch of fewer images than the session's */
    size_t          pad_floats;
    struct capture *cs;         /* (cap_cs) one capture per image of the request */
    int             cap_cs;
} explain_state;

/* What every method reads about one image: made once per request by the capture stage
 * (one per image of a batch; they share the session and the scratch region). */
typedef struct capture {
    gc_session             *s;
    const gc_model         *m;
    const gc_explain_request *req;
    gc_method_params        p;         /* the request's, defaults filled in */
    unsigned                methods;   /* requested bits with what they imply */
    explain_state          *st;
    const float            *input;     /* (Cin, H, W) caller's: this image */
    int                     img, n_img; /* this image of the n_img explained */
    int64_t                 batch;     /* the session's batch (rows n_img.. are padding) */
    int                     abl_fed;   /* the capture's forward fed Ablation-CAM's session */
    int                     accurate;  /* the capture's forward summed in double (ACCURATE_METHODS) */
    int64_t                 Cin, H, W, HW;
    const char             *layer;     /* the target layer (model's copy of the name) */
    int                     li;
    int64_t                 C, h, w, hw; /* A's shape */
    const float            *A;         /* (C, h, w) the target layer's output (copy) */
    const float            *dA;        /* (k, C, h, w) d score / d A per target, or NULL */
    const float            *guided_at_layer; /* guided rule's gradient at A (one target, pair) */
    int                     k;         /* targets */
    int                     targets[GC_EXPLAIN_MAX_TARGETS]; /* class or -1 (caller's gradient) */
    int64_t                 classes;
    const float            *logits, *probs; /* (classes) */
    const float            *onehots;   /* (k, classes) output gradient of each target; image
                                          i's follow image i-1's: (batch, k, classes) */
    float                  *rows;      /* (batch, classes) scratch: one output gradient per row */
    float                  *cur, *end; /* carving cursor in st->buf (this image's maps) */
    float                  *scr, *scr_end; /* scratch cursor (shared; reset before each run) */
} capture;

/* What a method needs from the capture stage. */
enum {
    NEED_LAYER_GRAD = 1u << 0, /* dA */
    NEED_CLASS      = 1u << 1, /* a class target (not GC_TARGET_GRADIENT) */
};

typedef struct method_entry {
    gc_method_info info;
    unsigned       implies;  /* bits that must run first (their maps are read) */
    unsigned       needs;    /* NEED_* */
    /* floats carved for all targets of one image: maps (each rounded up to 16) */
    size_t       (*floats)(const capture *c);
    /* fills the maps of every target of one image; GC_OK or a status with its message */
    gc_status    (*run)(capture *c);
    /* floats of scratch (gc_x_scratch) one run uses, or NULL for none */
    size_t       (*scratch)(const capture *c);
    /* every image at once (cs[0..cs->n_img-1]), or NULL: run once per image */
    gc_status    (*run_batch)(capture *cs);
} method_entry;

/* Table order is run order (explain.c). */
extern const method_entry gc_methods_cam[];      /* methods_cam.c: Grad-CAM family, CAM */
extern const int          gc_methods_cam_count;
extern const method_entry gc_methods_input[];    /* methods_input.c: gradients at the input */
extern const int          gc_methods_input_count;
extern const method_entry gc_methods_score[];    /* methods_score.c: Score-CAM, Ablation-CAM, Eigen */
extern const int          gc_methods_score_count;

/* ---- helpers shared by the method files (explain.c) */

static inline size_t fl16(int64_t n) { return (size_t)((n + 15) & ~(int64_t)15); }
/* n floats from the image's part of the request's buffer (64-byte aligned), or NULL when the
 * sizing was wrong. gc_x_scratch: n floats of scratch, valid during one run only. */
float *gc_x_carve(capture *c, int64_t n);
float *gc_x_scratch(capture *c, int64_t n);
/* The explanation of target t of the capture's image. */
static inline gc_explanation *gc_x_item(const capture *c, int t) { return &c->st->items[c->img * c->k + t]; }
/* A new map of target t, registered under name (static storage); its data is carved.
 * ndim 1..3, shape d0 x d1 x d2. NULL (with an error set) if out of room. */
float *gc_x_map(capture *c, int t, unsigned method, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2);
/* Registers data already carved (e.g. a legacy field's map) under name. */
gc_status gc_x_register(capture *c, int t, unsigned method, const char *name, const gc_tensor *view);
void gc_x_view(gc_tensor *t, float *data, int ndim, int64_t d0, int64_t d1, int64_t d2);
/* A layer map (h x w): map = ReLU(raw) into "<name>", "<name>_up" bilinear at H x W;
 * raw may be NULL when the map is already final (non-negative or signed by definition). */
gc_status gc_x_layer_maps(capture *c, int t, unsigned method, const char *name, const char *name_up,
                          const float *map);
size_t gc_x_layer_floats(const capture *c); /* what gc_x_layer_maps carves per target */

/* The methods whose maps follow the forward pass's switches (ReLU signs, max-pool winners)
 * below the target layer to the input: their forward passes sum in double
 * (gc_session_set_accurate). */
#define ACCURATE_METHODS                                                                              \
    (GC_METHOD_GUIDED_BACKPROP | GC_METHOD_GUIDED_GRADCAM | GC_METHOD_DECONVNET | GC_METHOD_SALIENCY | \
     GC_METHOD_INPUT_X_GRADIENT | GC_METHOD_INTEGRATED_GRADIENTS | GC_METHOD_SMOOTHGRAD)
/* gc_session_forward of s (feeding `feed`'s side inputs when it is not NULL), with the accurate
 * sums when `accurate` is nonzero. */
gc_status gc_x_forward(gc_session *s, const float *input, gc_session *feed, int accurate);

/* Sessions kept with the request's state: the whole network at batch n, and the layers
 * after the target layer at batch n (fed with the side inputs during a forward of s). */
gc_status gc_x_batch_session(capture *c, int64_t n, gc_session **out);
gc_status gc_x_after_session(capture *c, int64_t n, gc_session **out);
/* Before a forward pass of the session after the target layer (gc_x_after_session) for the
 * capture's image: fills the tensors it reads besides the target layer's output (a residual
 * join's other branch), unless the capture's forward pass did (c->abl_fed) or there are none:
 * a forward pass of the image through a batch-1 session kept with the state. */
gc_status gc_x_feed_after(capture *c, gc_session *after);

/* Weighted-sum layer maps of target t (methods_cam.c): names n[0..3] get the weights (C),
 * raw = sum_k w_k A^k, ReLU(raw) and its resized copy; gc_x_weighted_floats counts them for
 * every target. */
gc_status gc_x_weighted_maps(capture *c, int t, unsigned bit, const char *const n[4], const double *w);
size_t    gc_x_weighted_floats(const capture *c);

/* CAM's output layer (GAP + [flatten] + linear after the target layer), or -1 (methods_cam.c). */
int gc_x_cam_head(const capture *c);

/* The scalar score of target t from an output row y (classes values): y[c] or sum g*y. */
double gc_x_score(const capture *c, int t, const float *y);

#endif
