/* model.h - the model object (internal): layers, parameters, metadata.
 *
 * Parameters either belong to the model (built in code: one gc_alloc per
 * tensor, mutable for training) or are borrowed from a buffer the model
 * keeps alive (a mapped .gcw file: read-only, never copied). */
#ifndef GC_MODEL_H
#define GC_MODEL_H

#include "layers/layer.h"

/* A second name of a layer's output (gc_model_add_alias). */
typedef struct gc_alias {
    char name[GC_NAME_MAX];
    int  layer;
} gc_alias;

struct gc_model {
    gc_layer      *layers;     /* (n_layers) in topological order */
    int            n_layers, cap_layers;
    gc_alias      *aliases;    /* (n_aliases) */
    int            n_aliases, cap_aliases;
    uint64_t       generation; /* bumped whenever parameter values change in place
                                  (init, SGD): sessions refresh derived copies */
    int            borrowed;   /* params point into `backing`, not owned */
    gc_preprocess  pre;
    char         **labels;     /* (n_labels) owned strings */
    int            n_labels;
    /* what keeps borrowed parameters alive: released by gc_model_free */
    void          *backing;
    size_t         backing_len;
    void         (*backing_release)(void *backing, size_t len);
};

/* Adds a layer reading n_inputs outputs named in inputs[] (layer names or
 * aliases, "input", or NULL for the layer added just before). params: n
 * tensors in the kind's param_shapes order (NULL array or NULL entries: 0, or
 * 1 for GC_PARAM_ONE slots). borrow = 0 copies them into model memory;
 * borrow = 1 keeps the pointers (which must stay valid until gc_model_free:
 * see backing). */
gc_status gc_model_add_layer(gc_model *m, gc_layer_kind kind, const char *name,
                             const char *const *inputs, int n_inputs, const gc_layer_params *p,
                             const float *const *params, int n_params, int borrow);

/* Finds a parameter by full name "<layer>.<suffix>"; returns the layer index
 * and sets *slot, or -1. */
int gc_model_find_param(const gc_model *m, const char *name, int *slot);

/* Name suffix of parameter slot of layer l. */
const char *gc_model_param_suffix(const gc_layer *l, int slot);

#endif
