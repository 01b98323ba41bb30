/* sgd.c - stochastic gradient descent with momentum and weight decay
 * (torch.optim.SGD semantics, dampening 0, no Nesterov). */
#include "net/model.h"
#include "net/session.h"
#include <stdio.h>
#include <string.h>

/* One trained parameter tensor. */
typedef struct {
    float  *w;       /* (numel) model memory, updated in place */
    float  *v;       /* (numel) momentum buffer */
    int64_t numel;
    int     decay;   /* weight decay applies */
    char    name[GC_NAME_MAX + 16];
} sgd_param;

struct gc_sgd {
    gc_model     *m;
    gc_sgd_params p;
    sgd_param    *params;  /* (n) */
    int           n;
};

static unsigned role(const gc_layer *l, int slot) { return gc_layer_ops_of(l->kind)->param_roles[slot]; }

static int trainable(const gc_layer *l, int slot) { return (role(l, slot) & GC_PARAM_TRAINED) != 0; }

static gc_status check_hparams(const gc_sgd_params *p) {
    if (!(p->lr > 0) || !(p->lr < 1e30f)) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd: lr %g must be > 0 and < 1e30", p->lr);
    if (!(p->momentum >= 0 && p->momentum < 1))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd: momentum %g outside [0, 1)", p->momentum);
    if (!(p->weight_decay >= 0 && p->weight_decay < 1e30f))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd: weight_decay %g must be >= 0", p->weight_decay);
    return GC_OK;
}

/* --------------------------------------------------------------- lifetime */

void gc_sgd_free(gc_sgd *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n; i++) gc_free(opt->params[i].v);
    gc_free(opt->params);
    gc_free(opt);
}

gc_status gc_sgd_create(gc_model *m, const gc_sgd_params *p, gc_sgd **out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd_create: out is NULL");
    *out = NULL;
    if (!m || !p) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd_create: model or params is NULL");
    if (m->borrowed) return gc_error(GC_ERR_STATE, "gc_sgd_create: weights are mapped read-only from a file");
    gc_status st = check_hparams(p);
    if (st) return st;
    gc_sgd *o = gc_calloc(1, sizeof *o);
    if (!o) return GC_ERR_OUT_OF_MEMORY;
    o->m = m;
    o->p = *p;
    int count = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i].n_params; j++) count += trainable(&m->layers[i], j);
    o->params = gc_calloc((size_t)count, sizeof *o->params);
    if (!o->params) { gc_free(o); return GC_ERR_OUT_OF_MEMORY; }
    for (int i = 0; i < m->n_layers; i++) {
        gc_layer *l = &m->layers[i];
        for (int j = 0; j < l->n_params; j++) {
            if (!trainable(l, j)) continue;
            sgd_param *q = &o->params[o->n];
            q->w = l->param[j];
            q->numel = gc_shape_numel(&l->param_shape[j]);
            q->decay = !(p->no_bias_decay && (role(l, j) & GC_PARAM_BIASLIKE));
            snprintf(q->name, sizeof q->name, "%s.%s", l->name, gc_model_param_suffix(l, j));
            q->v = gc_calloc((size_t)q->numel, sizeof(float));
            if (!q->v) { gc_sgd_free(o); return GC_ERR_OUT_OF_MEMORY; }
            o->n++;
        }
    }
    *out = o;
    return GC_OK;
}

gc_status gc_sgd_set_lr(gc_sgd *opt, float lr) {
    if (!opt) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd_set_lr: optimizer is NULL");
    gc_sgd_params p = opt->p;
    p.lr = lr;
    gc_status st = check_hparams(&p);
    if (st) return st;
    opt->p = p;
    return GC_OK;
}

/* ------------------------------------------------------------------- step */

/* d = g + wd * w;  v = mu * v + d;  w -= lr * v */
gc_status gc_sgd_step(gc_sgd *opt, const gc_session *s) {
    if (!opt || !s) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd_step: optimizer or session is NULL");
    if (gc_session_model(s) != opt->m)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_sgd_step: the session belongs to another model");
    gc_tensor g;
    for (int i = 0; i < opt->n; i++) { /* check all before touching any */
        gc_status st = gc_session_param_grad(s, opt->params[i].name, &g);
        if (st) return gc_error_prefix(st, "gc_sgd_step");
    }
    const float lr = opt->p.lr, mu = opt->p.momentum;
    for (int i = 0; i < opt->n; i++) {
        sgd_param *q = &opt->params[i];
        gc_session_param_grad(s, q->name, &g);
        const float wd = q->decay ? opt->p.weight_decay : 0.0f;
        const float *gd = g.data;  /* (numel) */
        for (int64_t k = 0; k < q->numel; k++) {
            float d = gd[k] + wd * q->w[k];
            q->v[k] = mu * q->v[k] + d;
            q->w[k] -= lr * q->v[k];
        }
    }
    opt->m->generation++; /* sessions refresh what they derived from the weights */
    return GC_OK;
}
