/* model.c - building models in code, parameter access, metadata. */
#include "model.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- create */

gc_preprocess gc_preprocess_torchvision(void) {
    gc_preprocess p = {224, 224, 256, GC_COLOR_RGB, 1.0f / 255.0f,
                       {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
    return p;
}

gc_status gc_model_create(gc_model **out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_create: out is NULL");
    *out = NULL;
    gc_model *m = gc_calloc(1, sizeof *m);
    if (!m) return GC_ERR_OUT_OF_MEMORY;
    m->pre = gc_preprocess_torchvision();
    *out = m;
    return GC_OK;
}

void gc_model_free(gc_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) {
        gc_free(m->layers[i].inputs);
        if (!m->borrowed)
            for (int j = 0; j < m->layers[i].n_params; j++) gc_free(m->layers[i].param[j]);
    }
    gc_free(m->aliases);
    for (int i = 0; i < m->n_labels; i++) gc_free(m->labels[i]);
    gc_free(m->labels);
    gc_free(m->layers);
    if (m->backing_release) m->backing_release(m->backing, m->backing_len);
    gc_free(m);
}

/* ---------------------------------------------------------------- layers */

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= GC_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~') return 0;
    return 1;
}

int gc_model_find_layer(const gc_model *m, const char *name) {
    if (!m || !name) return -1;
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return i;
    for (int k = 0; k < m->n_aliases; k++)
        if (strcmp(m->aliases[k].name, name) == 0) return m->aliases[k].layer;
    return -1;
}

/* A new name must be valid, not "input", and not yet a layer name or alias. */
static gc_status check_new_name(const gc_model *m, const char *name, const char *what) {
    char q[128];
    if (!valid_name(name) || strcmp(name, "input") == 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT,
                        "%s \"%s\" must be 1..%d printable characters without spaces and not \"input\"",
                        what, gc_quote(q, sizeof q, name, strlen(name)), GC_NAME_MAX - 1);
    if (gc_model_find_layer(m, name) >= 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s \"%s\" is already used", what, name);
    return GC_OK;
}

const char *gc_model_param_suffix(const gc_layer *l, int slot) {
    gc_shape shapes[GC_MAX_PARAMS];
    const char *suffix[GC_MAX_PARAMS];
    int n = gc_layer_ops_of(l->kind)->param_shapes(l, shapes, suffix);
    return slot >= 0 && slot < n ? suffix[slot] : NULL;
}

/* Frees what add_layer allocated for l. */
static void layer_release(gc_layer *l, int borrowed) {
    gc_free(l->inputs);
    for (int k = 0; !borrowed && k < l->n_params; k++) gc_free(l->param[k]);
}

gc_status gc_model_add_layer(gc_model *m, gc_layer_kind kind, const char *name,
                             const char *const *inputs, int n_inputs, const gc_layer_params *p,
                             const float *const *params, int n_params, int borrow) {
    if (!m || !name || !p || (!inputs && n_inputs))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "add layer: NULL model, name, inputs or params");
    const gc_layer_ops *ops = gc_layer_ops_of(kind);
    char q[128], q2[128];
    if (!ops)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "add layer %s: unknown kind %d", gc_quote(q, sizeof q, name, strlen(name)),
                        (int)kind);
    gc_status st = check_new_name(m, name, "layer name");
    if (st) return st;
    if (m->n_layers > 0 && m->borrowed != borrow)
        return gc_error(GC_ERR_STATE, "add layer %s: cannot mix owned and borrowed parameters", name);
    if (n_inputs < ops->min_inputs || n_inputs > ops->max_inputs) {
        if (ops->min_inputs == ops->max_inputs)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: %s takes %d input%s, %d given", name, ops->name,
                            ops->min_inputs, ops->min_inputs == 1 ? "" : "s", n_inputs);
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: %s takes %d..%d inputs, %d given", name, ops->name,
                        ops->min_inputs, ops->max_inputs, n_inputs);
    }

    gc_layer l;
    memset(&l, 0, sizeof l);
    memcpy(l.name, name, strlen(name) + 1);
    l.kind = kind;
    l.p = *p;
    if ((st = ops->check_params(&l))) return gc_error_prefix(st, name);
    const char *suffix[GC_MAX_PARAMS];
    l.n_params = ops->param_shapes(&l, l.param_shape, suffix);
    if (params && n_params != l.n_params)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: %s takes %d parameter tensors, %d given",
                        name, ops->name, l.n_params, n_params);
    if (!(l.inputs = gc_alloc_array((size_t)n_inputs, sizeof *l.inputs))) return GC_ERR_OUT_OF_MEMORY;
    l.n_inputs = n_inputs;
    l.spatial = !(ops->traits & GC_TRAIT_FLAT);
    for (int k = 0; k < n_inputs; k++) {
        int in = m->n_layers - 1;
        if (inputs[k] && strcmp(inputs[k], "input") == 0) in = -1;
        else if (inputs[k] && (in = gc_model_find_layer(m, inputs[k])) < 0) {
            gc_free(l.inputs);
            return gc_error(GC_ERR_NOT_FOUND, "add layer %s: input layer \"%s\" does not exist (yet)", name,
                            gc_quote(q2, sizeof q2, inputs[k], strlen(inputs[k])));
        }
        l.inputs[k] = in;
        if (in >= 0 && !m->layers[in].spatial) l.spatial = 0;
    }

    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 16;
        gc_layer *nl = gc_alloc_array((size_t)cap, sizeof *nl);
        if (!nl) { gc_free(l.inputs); return GC_ERR_OUT_OF_MEMORY; }
        if (m->n_layers) memcpy(nl, m->layers, (size_t)m->n_layers * sizeof *nl);
        gc_free(m->layers);
        m->layers = nl;
        m->cap_layers = cap;
    }

    for (int j = 0; j < l.n_params; j++) {
        const float *src = params ? params[j] : NULL;
        if (borrow) {
            if (!src) {
                gc_free(l.inputs);
                return gc_error(GC_ERR_INVALID_ARGUMENT, "%s.%s: borrowed parameter is NULL", name, suffix[j]);
            }
            l.param[j] = (float *)src;
            continue;
        }
        int64_t n = gc_shape_numel(&l.param_shape[j]);
        float *d = n < 0 ? NULL : gc_alloc_array((size_t)n, sizeof(float));
        if (!d) {
            l.n_params = j;
            layer_release(&l, 0);
            return n < 0 ? gc_error(GC_ERR_OUT_OF_MEMORY, "%s.%s: size overflows", name, suffix[j])
                         : GC_ERR_OUT_OF_MEMORY;
        }
        if (src) memcpy(d, src, (size_t)n * sizeof(float));
        else {
            const float v = (ops->param_roles[j] & GC_PARAM_ONE) ? 1.0f : 0.0f;
            for (int64_t i = 0; i < n; i++) d[i] = v;
        }
        l.param[j] = d;
    }
    m->borrowed = borrow;
    m->layers[m->n_layers++] = l;
    return GC_OK;
}

gc_status gc_model_add_alias(gc_model *m, const char *alias, const char *layer) {
    if (!m || !alias || !layer) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_add_alias: NULL argument");
    int i = gc_model_find_layer(m, layer);
    char q[128], q2[128];
    if (i < 0)
        return gc_error(GC_ERR_NOT_FOUND, "alias %s: no layer named \"%s\"", gc_quote(q, sizeof q, alias, strlen(alias)),
                        gc_quote(q2, sizeof q2, layer, strlen(layer)));
    gc_status st = check_new_name(m, alias, "alias");
    if (st) return st;
    if (gc_model_layer_alias_count(m, i) >= GC_MAX_ALIASES)
        return gc_error(GC_ERR_LIMIT, "alias %s: layer %s has %d aliases already", alias, m->layers[i].name,
                        GC_MAX_ALIASES);
    if (m->n_aliases == m->cap_aliases) {
        int cap = m->cap_aliases ? 2 * m->cap_aliases : 16;
        gc_alias *na = gc_alloc_array((size_t)cap, sizeof *na);
        if (!na) return GC_ERR_OUT_OF_MEMORY;
        if (m->n_aliases) memcpy(na, m->aliases, (size_t)m->n_aliases * sizeof *na);
        gc_free(m->aliases);
        m->aliases = na;
        m->cap_aliases = cap;
    }
    gc_alias *a = &m->aliases[m->n_aliases++];
    memcpy(a->name, alias, strlen(alias) + 1);
    a->layer = i;
    return GC_OK;
}

/* Public per-kind builders: thin wrappers over gc_model_add_layer. */

gc_conv2d_params gc_conv2d_defaults(int64_t in_channels, int64_t out_channels, int64_t kernel) {
    gc_conv2d_params p = {in_channels, out_channels, kernel, kernel, 1, 1, 0, 0, 1, 1, 1, 1};
    return p;
}

gc_pool2d_params gc_pool2d_defaults(int64_t kernel) {
    gc_pool2d_params p = {kernel, kernel, kernel, kernel, 0, 0, 1, 1, 0, 1};
    return p;
}

#define ADD_CHECK(ptr) \
    if (!(ptr)) return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: parameters are NULL", name ? name : "layer")

gc_status gc_model_add_conv2d(gc_model *m, const char *name, const char *input,
                              const gc_conv2d_params *p, const float *weight, const float *bias) {
    ADD_CHECK(p);
    gc_layer_params lp = {.conv = *p};
    const float *t[2] = {weight, bias};
    return gc_model_add_layer(m, GC_LAYER_CONV2D, name, &input, 1, &lp, t, p->bias ? 2 : 1, 0);
}

gc_status gc_model_add_relu(gc_model *m, const char *name, const char *input) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    return gc_model_add_layer(m, GC_LAYER_RELU, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_maxpool2d(gc_model *m, const char *name, const char *input, const gc_pool2d_params *p) {
    ADD_CHECK(p);
    gc_layer_params lp = {.pool = *p};
    return gc_model_add_layer(m, GC_LAYER_MAXPOOL2D, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_avgpool2d(gc_model *m, const char *name, const char *input, const gc_pool2d_params *p) {
    ADD_CHECK(p);
    gc_layer_params lp = {.pool = *p};
    return gc_model_add_layer(m, GC_LAYER_AVGPOOL2D, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_adaptive_avgpool2d(gc_model *m, const char *name, const char *input,
                                          const gc_adaptive_pool2d_params *p) {
    ADD_CHECK(p);
    gc_layer_params lp = {.apool = *p};
    return gc_model_add_layer(m, GC_LAYER_ADAPTIVE_AVGPOOL2D, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_linear(gc_model *m, const char *name, const char *input,
                              const gc_linear_params *p, const float *weight, const float *bias) {
    ADD_CHECK(p);
    gc_layer_params lp = {.linear = *p};
    const float *t[2] = {weight, bias};
    return gc_model_add_layer(m, GC_LAYER_LINEAR, name, &input, 1, &lp, t, p->bias ? 2 : 1, 0);
}

gc_status gc_model_add_dropout(gc_model *m, const char *name, const char *input, float p) {
    gc_layer_params lp = {.dropout_p = p};
    return gc_model_add_layer(m, GC_LAYER_DROPOUT, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_flatten(gc_model *m, const char *name, const char *input) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    return gc_model_add_layer(m, GC_LAYER_FLATTEN, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_softmax(gc_model *m, const char *name, const char *input) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    return gc_model_add_layer(m, GC_LAYER_SOFTMAX, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_lrn(gc_model *m, const char *name, const char *input, const gc_lrn_params *p) {
    ADD_CHECK(p);
    gc_layer_params lp = {.lrn = *p};
    return gc_model_add_layer(m, GC_LAYER_LRN, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_batchnorm2d(gc_model *m, const char *name, const char *input,
                                   const gc_batchnorm2d_params *p, const float *weight,
                                   const float *bias, const float *running_mean,
                                   const float *running_var) {
    ADD_CHECK(p);
    gc_layer_params lp = {.bn = *p};
    const float *t[4] = {weight, bias, running_mean, running_var};
    return gc_model_add_layer(m, GC_LAYER_BATCHNORM2D, name, &input, 1, &lp, t, 4, 0);
}

gc_status gc_model_add_add(gc_model *m, const char *name, const char *a, const char *b) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    const char *in[2] = {a, b};
    return gc_model_add_layer(m, GC_LAYER_ADD, name, in, 2, &lp, NULL, 0, 0);
}

gc_status gc_model_add_mul(gc_model *m, const char *name, const char *a, const char *b) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    const char *in[2] = {a, b};
    return gc_model_add_layer(m, GC_LAYER_MUL, name, in, 2, &lp, NULL, 0, 0);
}

gc_status gc_model_add_concat(gc_model *m, const char *name, int n, const char *const *inputs) {
    ADD_CHECK(inputs);
    gc_layer_params lp = {.concat = {1}};
    return gc_model_add_layer(m, GC_LAYER_CONCAT, name, inputs, n, &lp, NULL, 0, 0);
}

gc_status gc_model_add_activation(gc_model *m, const char *name, const char *input, const gc_activation_params *p) {
    ADD_CHECK(p);
    gc_layer_params lp = {.act = *p};
    return gc_model_add_layer(m, GC_LAYER_ACTIVATION, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_sub(gc_model *m, const char *name, const char *a, const char *b) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    const char *in[2] = {a, b};
    return gc_model_add_layer(m, GC_LAYER_SUB, name, in, 2, &lp, NULL, 0, 0);
}

gc_status gc_model_add_div(gc_model *m, const char *name, const char *a, const char *b) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    const char *in[2] = {a, b};
    return gc_model_add_layer(m, GC_LAYER_DIV, name, in, 2, &lp, NULL, 0, 0);
}

gc_status gc_model_add_pad(gc_model *m, const char *name, const char *input, const gc_pad_params *p) {
    ADD_CHECK(p);
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    lp.pad = *p;
    return gc_model_add_layer(m, GC_LAYER_PAD, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_channel_shuffle(gc_model *m, const char *name, const char *input, int64_t groups) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    lp.shuffle_groups = groups;
    return gc_model_add_layer(m, GC_LAYER_CHANNEL_SHUFFLE, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_identity(gc_model *m, const char *name, const char *input) {
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    return gc_model_add_layer(m, GC_LAYER_IDENTITY, name, &input, 1, &lp, NULL, 0, 0);
}

gc_status gc_model_add_constant(gc_model *m, const char *name, int ndim, const int64_t *shape, const float *value) {
    ADD_CHECK(shape);
    if (ndim < 1 || ndim > GC_MAX_DIMS)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "%s: constant: ndim %d is outside 1..%d", name ? name : "layer", ndim,
                        GC_MAX_DIMS);
    gc_layer_params lp;
    memset(&lp, 0, sizeof lp);
    lp.constant.ndim = ndim;
    for (int k = 0; k < GC_MAX_DIMS; k++) lp.constant.d[k] = k < ndim ? shape[k] : 1;
    const float *t[1] = {value};
    return gc_model_add_layer(m, GC_LAYER_CONSTANT, name, NULL, 0, &lp, t, 1, 0);
}

/* ---------------------------------------------------------------- params */

gc_status gc_model_init_random(gc_model *m, uint64_t seed) {
    if (!m) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_init_random: model is NULL");
    if (m->borrowed) return gc_error(GC_ERR_STATE, "gc_model_init_random: weights are mapped read-only from a file");
    gc_rng r;
    gc_rng_seed(&r, seed);
    for (int i = 0; i < m->n_layers; i++) {
        gc_layer *l = &m->layers[i];
        const unsigned *role = gc_layer_ops_of(l->kind)->param_roles;
        /* PyTorch: kaiming_uniform(a=sqrt(5)) gives bound 1/sqrt(fan_in), bias too. */
        int64_t fan_in = 1;
        for (int d = 1; l->n_params && d < l->param_shape[0].ndim; d++) fan_in *= l->param_shape[0].d[d];
        float bound = 1.0f / sqrtf((float)fan_in);
        for (int j = 0; j < l->n_params; j++) {
            if (!(role[j] & GC_PARAM_INIT)) continue;
            int64_t n = gc_shape_numel(&l->param_shape[j]);
            for (int64_t k = 0; k < n; k++) l->param[j][k] = (2.0f * gc_rng_uniform(&r) - 1.0f) * bound;
        }
    }
    m->generation++;
    return GC_OK;
}

int gc_model_find_param(const gc_model *m, const char *name, int *slot) {
    if (!m || !name) return -1;
    const char *dot = strrchr(name, '.');
    if (!dot) return -1;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *l = &m->layers[i];
        size_t n = strlen(l->name);
        if ((size_t)(dot - name) != n || strncmp(name, l->name, n) != 0) continue;
        for (int j = 0; j < l->n_params; j++) {
            if (strcmp(dot + 1, gc_model_param_suffix(l, j)) == 0) {
                *slot = j;
                return i;
            }
        }
    }
    return -1;
}

static void shape_to_view(const gc_shape *s, float *data, gc_tensor *view) {
    memset(view, 0, sizeof *view);
    view->data = data;
    view->ndim = s->ndim;
    for (int i = 0; i < GC_MAX_DIMS; i++) view->shape[i] = i < s->ndim ? s->d[i] : 1;
}

gc_status gc_model_param(const gc_model *m, const char *name, gc_tensor *view) {
    if (!m || !name || !view) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_param: NULL argument");
    int slot, i = gc_model_find_param(m, name, &slot);
    if (i < 0) return gc_error(GC_ERR_NOT_FOUND, "no parameter named \"%.100s\"", name);
    shape_to_view(&m->layers[i].param_shape[slot], m->layers[i].param[slot], view);
    return GC_OK;
}

int64_t gc_model_param_count(const gc_model *m) {
    int64_t n = 0;
    if (!m) return 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i].n_params; j++) n += gc_shape_numel(&m->layers[i].param_shape[j]);
    return n;
}

/* ---------------------------------------------------------------- queries */

int gc_model_layer_count(const gc_model *m) { return m ? m->n_layers : 0; }

const char *gc_model_layer_name(const gc_model *m, int i) {
    return m && i >= 0 && i < m->n_layers ? m->layers[i].name : NULL;
}

gc_layer_kind gc_model_layer_kind(const gc_model *m, int i) {
    return m && i >= 0 && i < m->n_layers ? m->layers[i].kind : GC_LAYER_KIND_COUNT;
}

const char *gc_model_layer_input(const gc_model *m, int i) { return gc_model_layer_input_at(m, i, 0); }

int gc_model_layer_input_count(const gc_model *m, int i) {
    return m && i >= 0 && i < m->n_layers ? m->layers[i].n_inputs : 0;
}

const char *gc_model_layer_input_at(const gc_model *m, int i, int k) {
    if (!m || i < 0 || i >= m->n_layers || k < 0 || k >= m->layers[i].n_inputs) return NULL;
    int in = m->layers[i].inputs[k];
    return in < 0 ? "input" : m->layers[in].name;
}

int gc_model_layer_alias_count(const gc_model *m, int i) {
    int n = 0;
    for (int k = 0; m && k < m->n_aliases; k++) n += m->aliases[k].layer == i;
    return n;
}

const char *gc_model_layer_alias(const gc_model *m, int i, int k) {
    for (int a = 0; m && k >= 0 && a < m->n_aliases; a++)
        if (m->aliases[a].layer == i && k-- == 0) return m->aliases[a].name;
    return NULL;
}

/* The name to report for layer i: its last alias (the outermost module, e.g. "layer4"
 * for the last ReLU of block layer4.1), else its own. */
static const char *display_name(const gc_model *m, int i) {
    int n = gc_model_layer_alias_count(m, i);
    return n ? gc_model_layer_alias(m, i, n - 1) : m->layers[i].name;
}

/* The last spatial output read by a flat layer (the global pooling before a classifier), looked
 * through from pooling to what it pools: VGG-16 flatten <- avgpool <- features.30 (max pool) <-
 * features.29 (ReLU), ResNet avgpool <- layer4. Without a flat layer (a fully convolutional
 * network): the last spatial activation, else the last spatial layer. */
const char *gc_model_default_layer(const gc_model *m) {
    if (!m) return NULL;
    int pooled = -1, last_act = -1, last_spatial = -1;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *l = &m->layers[i];
        if (l->spatial) {
            last_spatial = i;
            if (gc_layer_ops_of(l->kind)->traits & GC_TRAIT_ACTIVATION) last_act = i;
            continue;
        }
        for (int k = 0; k < l->n_inputs; k++)
            if (l->inputs[k] >= 0 && m->layers[l->inputs[k]].spatial && l->inputs[k] > pooled) pooled = l->inputs[k];
    }
    if (pooled < 0) pooled = last_act >= 0 ? last_act : last_spatial;
    while (pooled >= 0 && (gc_layer_ops_of(m->layers[pooled].kind)->traits & GC_TRAIT_POOL) &&
           m->layers[pooled].n_inputs == 1 && m->layers[pooled].inputs[0] >= 0)
        pooled = m->layers[pooled].inputs[0];
    return pooled >= 0 ? display_name(m, pooled) : NULL;
}

/* ---------------------------------------------------------------- metadata */

gc_status gc_model_set_preprocess(gc_model *m, const gc_preprocess *p) {
    if (!m || !p) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_set_preprocess: NULL argument");
    if (p->input_height < 1 || p->input_width < 1 || p->resize_shorter < 0)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: input size %dx%d / resize %d invalid",
                        (int)p->input_height, (int)p->input_width, (int)p->resize_shorter);
    if (p->order != GC_COLOR_RGB && p->order != GC_COLOR_BGR)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: unknown colour order %d", (int)p->order);
    if (!isfinite(p->scale) || p->scale == 0.0f)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: scale must be finite and non-zero");
    for (int c = 0; c < 3; c++)
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f)
            return gc_error(GC_ERR_INVALID_ARGUMENT, "preprocess: mean/std of channel %d invalid", c);
    m->pre = *p;
    return GC_OK;
}

const gc_preprocess *gc_model_preprocess(const gc_model *m) { return m ? &m->pre : NULL; }

gc_status gc_model_set_labels(gc_model *m, int n, const char *const *labels) {
    if (!m || n < 0 || (n > 0 && !labels))
        return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_set_labels: bad arguments");
    for (int i = 0; i < n; i++) {
        size_t len = labels[i] ? strlen(labels[i]) : 0;
        if (len == 0 || len > 1023 || strchr(labels[i], '\n'))
            return gc_error(GC_ERR_INVALID_ARGUMENT, "label %d must be 1..1023 bytes without newline", i);
    }
    char **copy = n ? gc_calloc((size_t)n, sizeof *copy) : NULL;
    if (n && !copy) return GC_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(labels[i]);
        copy[i] = gc_alloc(len + 1);
        if (!copy[i]) {
            for (int k = 0; k < i; k++) gc_free(copy[k]);
            gc_free(copy);
            return GC_ERR_OUT_OF_MEMORY;
        }
        memcpy(copy[i], labels[i], len + 1);
    }
    for (int i = 0; i < m->n_labels; i++) gc_free(m->labels[i]);
    gc_free(m->labels);
    m->labels = copy;
    m->n_labels = n;
    return GC_OK;
}

int gc_model_label_count(const gc_model *m) { return m ? m->n_labels : 0; }

const char *gc_model_label(const gc_model *m, int i) {
    return m && i >= 0 && i < m->n_labels ? m->labels[i] : NULL;
}
