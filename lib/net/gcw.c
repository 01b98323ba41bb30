/* gcw.c - reading, validating and writing .gcw model files (docs/format.md). */
#include "net/gcw.h"
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE   128
#define MAX_LAYERS    4096
#define MAX_TENSORS   16384
#define MAX_HPARAMS   32
#define MAX_LABELS    100000
#define MAX_LABEL_LEN 1023
#define TNAME_MAX     128 /* buffer: 127 bytes + NUL */
#define PRE_SIZE      44

static const uint8_t MAGIC[8] = {0x89, 'G', 'C', 'W', 0x0D, 0x0A, 0x1A, 0x0A};

#define MAX_INPUTS    GC_MAX_INPUTS
#define MAX_ALIASES   GC_MAX_ALIASES

/* ---------------------------------------------------------------- hyper-parameters
 * Each kind lists its .gcw keys in its registry entry (gc_layer_ops.hparams). */

void gc_gcw_format_hparams(const gc_layer *l, char *buf, size_t cap) {
    size_t k = 0;
    if (!cap) return;
    buf[0] = 0;
    const gc_layer_ops *ops = gc_layer_ops_of(l->kind);
    for (int d = 0; ops && d < ops->n_hparams && k < cap; d++) {
        const gc_hparam *h = &ops->hparams[d];
        const char *src = (const char *)&l->p + h->off;
        int64_t i64;
        int b;
        float f;
        const char *sep = d ? " " : "";
        if (h->type == GC_HP_I64) {
            memcpy(&i64, src, sizeof i64);
            k += (size_t)snprintf(buf + k, cap - k, "%s%s=%lld", sep, h->key, (long long)i64);
        } else if (h->type == GC_HP_F32) {
            memcpy(&f, src, sizeof f);
            k += (size_t)snprintf(buf + k, cap - k, "%s%s=%g", sep, h->key, (double)f);
        } else {
            memcpy(&b, src, sizeof b);
            if (h->type == GC_HP_ENUM) k += (size_t)snprintf(buf + k, cap - k, "%s%s=%s", sep, h->key, h->names[b]);
            else k += (size_t)snprintf(buf + k, cap - k, "%s%s=%d", sep, h->key, b);
        }
    }
}

/* ---------------------------------------------------------------- bounded little-endian reader */

typedef struct rd {
    const uint8_t *p; /* (len) section bytes */
    size_t len, pos;
} rd;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int rd_u32(rd *r, uint32_t *v) {
    if (r->len - r->pos < 4) return 0;
    *v = le32(r->p + r->pos);
    r->pos += 4;
    return 1;
}
static int rd_u64(rd *r, uint64_t *v) {
    if (r->len - r->pos < 8) return 0;
    *v = le64(r->p + r->pos);
    r->pos += 8;
    return 1;
}
static int rd_str(rd *r, const uint8_t **s, uint32_t *n) {
    if (!rd_u32(r, n) || r->len - r->pos < *n) return 0;
    *s = r->p + r->pos;
    r->pos += *n;
    return 1;
}

/* A name of 1..cap-1 bytes in 0x21..0x7E, copied NUL-terminated into dst. */
static int take_name(const uint8_t *s, uint32_t n, char *dst, size_t cap) {
    if (n == 0 || n >= cap) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7E) return 0;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 1;
}

static void shape_str(char *b, size_t cap, int ndim, const int64_t *d) {
    size_t k = 0;
    b[0] = 0;
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(b + k, cap - k, i ? "x%lld" : "%lld", (long long)d[i]);
}

/* ---------------------------------------------------------------- parsed records */

typedef struct pl {
    gc_layer_kind   kind;
    char            name[GC_NAME_MAX];
    int             n_inputs, n_aliases;
    char          (*inputs)[GC_NAME_MAX];   /* (n_inputs) */
    char            aliases[MAX_ALIASES][GC_NAME_MAX];
    gc_layer_params p;
} pl;

typedef struct pt {
    char     name[TNAME_MAX];
    int      ndim;
    int64_t  shape[GC_MAX_DIMS];
    uint64_t off, nbytes;
    int      used;
} pt;

static int pt_by_name(const void *a, const void *b) {
    return strcmp(((const pt *)a)->name, ((const pt *)b)->name);
}
static int pt_by_off(const void *a, const void *b) {
    uint64_t x = (*(pt *const *)a)->off, y = (*(pt *const *)b)->off;
    return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------- graph */

/* A layer record (docs/format.md, "Graph section"; version 1 has one input, no aliases). */
static gc_status parse_layer(rd *r, int i, uint32_t version, pl *L) {
    const uint8_t *s;
    uint32_t n, nh;
    char kind[GC_NAME_MAX];
    if (!rd_str(r, &s, &n)) return gc_error(GC_ERR_FORMAT, "graph: layer %d: truncated kind", i);
    if (!take_name(s, n, kind, sizeof kind)) return gc_error(GC_ERR_FORMAT, "graph: layer %d: invalid kind name", i);
    int k;
    for (k = 0; k < GC_LAYER_KIND_COUNT; k++)
        if (gc_layer_ops_of((gc_layer_kind)k) && strcmp(kind, gc_layer_kind_name((gc_layer_kind)k)) == 0) break;
    if (k == GC_LAYER_KIND_COUNT) return gc_error(GC_ERR_FORMAT, "graph: layer %d: unknown layer kind \"%s\"", i, kind);
    L->kind = (gc_layer_kind)k;
    const gc_layer_ops *ops = gc_layer_ops_of(L->kind);
    if (!rd_str(r, &s, &n)) return gc_error(GC_ERR_FORMAT, "graph: layer %d: truncated name", i);
    if (!take_name(s, n, L->name, sizeof L->name))
        return gc_error(GC_ERR_FORMAT, "graph: layer %d: name must be 1..%d printable characters", i, GC_NAME_MAX - 1);
    uint32_t ni = 1, na = 0;
    if (version >= 2) {
        if (!rd_u32(r, &ni)) return gc_error(GC_ERR_FORMAT, "%s: truncated input count", L->name);
        if (ni < (uint32_t)ops->min_inputs || ni > (uint32_t)ops->max_inputs)
            return gc_error(GC_ERR_FORMAT, "%s: %u inputs; %s takes %d..%d", L->name, ni, kind, ops->min_inputs,
                            ops->max_inputs);
        /* each input takes at least 5 bytes: bounds the allocation by the section size */
        if (ni > (r->len - r->pos) / 5) return gc_error(GC_ERR_FORMAT, "%s: %u inputs do not fit the graph section", L->name, ni);
    } else if (ops->min_inputs > 1 || ops->max_inputs < 1) {
        return gc_error(GC_ERR_FORMAT, "%s: %s takes %d..%d inputs; version 1 records have one", L->name, kind,
                        ops->min_inputs, ops->max_inputs);
    }
    if (!(L->inputs = gc_alloc_array(ni, sizeof *L->inputs))) return GC_ERR_OUT_OF_MEMORY;
    L->n_inputs = (int)ni;
    for (uint32_t j = 0; j < ni; j++) {
        if (!rd_str(r, &s, &n)) return gc_error(GC_ERR_FORMAT, "%s: truncated input name", L->name);
        if (!take_name(s, n, L->inputs[j], sizeof L->inputs[j])) return gc_error(GC_ERR_FORMAT, "%s: invalid input name", L->name);
    }
    if (version >= 2) {
        if (!rd_u32(r, &na)) return gc_error(GC_ERR_FORMAT, "%s: truncated alias count", L->name);
        if (na > MAX_ALIASES) return gc_error(GC_ERR_FORMAT, "%s: %u aliases (limit %d)", L->name, na, MAX_ALIASES);
        for (uint32_t j = 0; j < na; j++) {
            if (!rd_str(r, &s, &n)) return gc_error(GC_ERR_FORMAT, "%s: truncated alias", L->name);
            if (!take_name(s, n, L->aliases[j], sizeof L->aliases[j]))
                return gc_error(GC_ERR_FORMAT, "%s: alias %u must be 1..%d printable characters", L->name, j, GC_NAME_MAX - 1);
        }
    }
    L->n_aliases = (int)na;
    if (!rd_u32(r, &nh)) return gc_error(GC_ERR_FORMAT, "%s: truncated hyper-parameter count", L->name);
    if (nh > MAX_HPARAMS) return gc_error(GC_ERR_FORMAT, "%s: %u hyper-parameters (limit %d)", L->name, nh, MAX_HPARAMS);

    int seen[MAX_HPARAMS] = {0};
    memset(&L->p, 0, sizeof L->p);
    for (uint32_t h = 0; h < nh; h++) {
        char key[GC_NAME_MAX];
        uint32_t type;
        uint64_t v;
        if (!rd_str(r, &s, &n) || !rd_u32(r, &type) || !rd_u64(r, &v))
            return gc_error(GC_ERR_FORMAT, "%s: truncated hyper-parameter %u", L->name, h);
        if (!take_name(s, n, key, sizeof key)) return gc_error(GC_ERR_FORMAT, "%s: invalid hyper-parameter name", L->name);
        int d;
        for (d = 0; d < ops->n_hparams; d++)
            if (strcmp(ops->hparams[d].key, key) == 0) break;
        if (d == ops->n_hparams) return gc_error(GC_ERR_FORMAT, "%s: %s has no hyper-parameter \"%s\"", L->name, kind, key);
        if (seen[d]) return gc_error(GC_ERR_FORMAT, "%s: hyper-parameter %s given twice", L->name, key);
        seen[d] = 1;
        const gc_hparam *def = &ops->hparams[d];
        char *dst = (char *)&L->p + def->off;
        if (type != (def->type == GC_HP_F32 ? 1u : 0u))
            return gc_error(GC_ERR_FORMAT, "%s: hyper-parameter %s has type %u, expected %s", L->name, key, type,
                            def->type == GC_HP_F32 ? "1 (float)" : "0 (integer)");
        if (def->type == GC_HP_I64) {
            int64_t x = (int64_t)v;
            memcpy(dst, &x, sizeof x);
        } else if (def->type == GC_HP_BOOL || def->type == GC_HP_ENUM) {
            uint64_t lim = 1;
            if (def->type == GC_HP_ENUM)
                for (lim = 0; def->names[lim + 1]; lim++) {}
            if (v > lim && def->type == GC_HP_BOOL)
                return gc_error(GC_ERR_FORMAT, "%s: %s must be 0 or 1, file has %lld", L->name, key, (long long)v);
            if (v > lim) return gc_error(GC_ERR_FORMAT, "%s: %s must be 0..%llu, file has %lld", L->name, key,
                                         (unsigned long long)lim, (long long)v);
            int x = (int)v;
            memcpy(dst, &x, sizeof x);
        } else {
            double x;
            memcpy(&x, &v, sizeof x);
            if (!isfinite(x) || fabs(x) > FLT_MAX) return gc_error(GC_ERR_FORMAT, "%s: %s = %g is not a finite float", L->name, key, x);
            float f = (float)x;
            memcpy(dst, &f, sizeof f);
        }
    }
    for (int d = 0; d < ops->n_hparams; d++)
        if (!seen[d]) return gc_error(GC_ERR_FORMAT, "%s: hyper-parameter %s missing", L->name, ops->hparams[d].key);
    return GC_OK;
}

/* ---------------------------------------------------------------- tensor directory */

static gc_status parse_tensor(rd *r, int i, pt *T) {
    const uint8_t *s;
    uint32_t n, dtype, ndim;
    if (!rd_str(r, &s, &n)) return gc_error(GC_ERR_FORMAT, "tensor directory: entry %d truncated", i);
    if (!take_name(s, n, T->name, sizeof T->name))
        return gc_error(GC_ERR_FORMAT, "tensor directory: entry %d: name must be 1..%d printable characters", i, TNAME_MAX - 1);
    uint64_t sh[GC_MAX_DIMS];
    if (!rd_u32(r, &dtype) || !rd_u32(r, &ndim)) return gc_error(GC_ERR_FORMAT, "%s: directory entry truncated", T->name);
    for (int d = 0; d < GC_MAX_DIMS; d++)
        if (!rd_u64(r, &sh[d])) return gc_error(GC_ERR_FORMAT, "%s: directory entry truncated", T->name);
    if (!rd_u64(r, &T->off) || !rd_u64(r, &T->nbytes)) return gc_error(GC_ERR_FORMAT, "%s: directory entry truncated", T->name);
    if (dtype != 0) return gc_error(GC_ERR_FORMAT, "%s: dtype %u is not supported (only 0 = float32)", T->name, dtype);
    if (ndim < 1 || ndim > GC_MAX_DIMS) return gc_error(GC_ERR_FORMAT, "%s: ndim %u outside 1..%d", T->name, ndim, GC_MAX_DIMS);
    T->ndim = (int)ndim;
    size_t bytes = sizeof(float);
    for (int d = 0; d < GC_MAX_DIMS; d++) {
        if (d >= T->ndim ? sh[d] != 1 : (sh[d] < 1 || sh[d] > (uint64_t)INT64_MAX))
            return gc_error(GC_ERR_FORMAT, "%s: dimension %d is %lld", T->name, d, (long long)sh[d]);
        T->shape[d] = (int64_t)sh[d];
        if (sh[d] > SIZE_MAX || gc_mul_size(bytes, (size_t)sh[d], &bytes))
            return gc_error(GC_ERR_FORMAT, "%s: size overflows", T->name);
    }
    if (T->nbytes != bytes)
        return gc_error(GC_ERR_FORMAT, "%s: byte size %llu does not match its shape (%zu)", T->name,
                        (unsigned long long)T->nbytes, bytes);
    if (T->off % 64) return gc_error(GC_ERR_FORMAT, "%s: offset %llu is not a multiple of 64", T->name, (unsigned long long)T->off);
    return GC_OK;
}

/* ---------------------------------------------------------------- metadata */

static gc_status parse_meta(rd *r, gc_preprocess *pre, int *n_labels, const uint8_t ***lab, uint32_t **lab_len) {
    if (r->len < PRE_SIZE + 4) return gc_error(GC_ERR_FORMAT, "metadata: section of %zu bytes is too small", r->len);
    const uint8_t *p = r->p;
    pre->input_height = (int32_t)le32(p);
    pre->input_width = (int32_t)le32(p + 4);
    pre->resize_shorter = (int32_t)le32(p + 8);
    uint32_t order = le32(p + 12);
    if (order > 1) return gc_error(GC_ERR_FORMAT, "metadata: unknown colour order %u", order);
    pre->order = (gc_color_order)order;
    float f[7];
    for (int i = 0; i < 7; i++) {
        uint32_t u = le32(p + 16 + 4 * i);
        memcpy(&f[i], &u, 4);
    }
    pre->scale = f[0];
    for (int c = 0; c < 3; c++) pre->mean[c] = f[1 + c], pre->std[c] = f[4 + c];
    r->pos = PRE_SIZE;
    uint32_t n;
    rd_u32(r, &n);
    if (n > MAX_LABELS) return gc_error(GC_ERR_FORMAT, "metadata: %u labels (limit %d)", n, MAX_LABELS);
    /* each label takes at least 4 bytes: bounds the allocation by the section size */
    if ((size_t)n > (r->len - r->pos) / 4) return gc_error(GC_ERR_FORMAT, "metadata: %u labels do not fit the section", n);
    *n_labels = (int)n;
    if (n == 0) return GC_OK;
    *lab = gc_alloc_array(n, sizeof **lab);
    *lab_len = gc_alloc_array(n, sizeof **lab_len);
    if (!*lab || !*lab_len) return GC_ERR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *s;
        uint32_t len;
        if (!rd_str(r, &s, &len)) return gc_error(GC_ERR_FORMAT, "metadata: label %u truncated", i);
        if (len < 1 || len > MAX_LABEL_LEN) return gc_error(GC_ERR_FORMAT, "metadata: label %u has %u bytes (1..%d)", i, len, MAX_LABEL_LEN);
        for (uint32_t j = 0; j < len; j++)
            if (s[j] < 0x20) return gc_error(GC_ERR_FORMAT, "metadata: label %u contains control byte 0x%02x", i, s[j]);
        (*lab)[i] = s;
        (*lab_len)[i] = len;
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- whole file */

typedef struct section { const char *name; uint64_t off, size; } section;

static gc_status check_sections(const uint8_t *b, size_t len, section sec[4]) {
    static const char *names[4] = {"graph", "tensor directory", "metadata", "data"};
    for (int i = 0; i < 4; i++) {
        sec[i].name = names[i];
        sec[i].off = le64(b + 32 + 16 * i);
        sec[i].size = le64(b + 40 + 16 * i);
        uint64_t end;
        if (__builtin_add_overflow(sec[i].off, sec[i].size, &end) || end > len || sec[i].off < HEADER_SIZE)
            return gc_error(GC_ERR_FORMAT, "%s section (offset %llu, %llu bytes) lies outside the file of %zu bytes",
                            names[i], (unsigned long long)sec[i].off, (unsigned long long)sec[i].size, len);
    }
    if (sec[3].off % 64) return gc_error(GC_ERR_FORMAT, "data offset %llu is not a multiple of 64", (unsigned long long)sec[3].off);
    if (sec[3].off + sec[3].size != len)
        return gc_error(GC_ERR_FORMAT, "data section ends at %llu, file has %zu bytes",
                        (unsigned long long)(sec[3].off + sec[3].size), len);
    for (int i = 0; i < 3; i++) {
        if (sec[i].off + sec[i].size > sec[3].off)
            return gc_error(GC_ERR_FORMAT, "%s section runs into the data section", names[i]);
        for (int j = 0; j < i; j++)
            if (sec[i].off < sec[j].off + sec[j].size && sec[j].off < sec[i].off + sec[i].size)
                return gc_error(GC_ERR_FORMAT, "%s and %s sections overlap", names[j], names[i]);
    }
    return GC_OK;
}

/* Width of the network output if the graph shows it: a linear layer, reached from the output
 * through single-input layers that keep their input's shape. -1 if unknown. */
static int64_t output_width(const gc_model *m) {
    for (int i = m->n_layers - 1; i >= 0; i = m->layers[i].inputs[0]) {
        const gc_layer *l = &m->layers[i];
        if (l->kind == GC_LAYER_LINEAR) return l->p.linear.out_features;
        if (!(gc_layer_ops_of(l->kind)->traits & GC_TRAIT_SAME_SHAPE)) return -1;
    }
    return -1;
}

static gc_status parse_file(const uint8_t *b, size_t len, gc_model **out) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) return gc_error(GC_ERR_UNSUPPORTED, ".gcw needs a little-endian host");
    if (len < HEADER_SIZE) return gc_error(GC_ERR_FORMAT, "file of %zu bytes is shorter than the %d-byte header", len, HEADER_SIZE);
    if (memcmp(b, MAGIC, 8) != 0) return gc_error(GC_ERR_FORMAT, "not a .gcw file (bad magic)");
    uint32_t version = le32(b + 8);
    if (version == 0) return gc_error(GC_ERR_FORMAT, "version 0 is invalid");
    if (version > GC_GCW_VERSION)
        return gc_error(GC_ERR_UNSUPPORTED, "file version %u is newer than this library's %d", version, GC_GCW_VERSION);
    if (le32(b + 12) != HEADER_SIZE) return gc_error(GC_ERR_FORMAT, "header size %u, expected %d", le32(b + 12), HEADER_SIZE);
    if (le64(b + 16) != len)
        return gc_error(GC_ERR_FORMAT, "header says %llu bytes, file has %zu (truncated or padded)", (unsigned long long)le64(b + 16), len);
    for (int i = 96; i < HEADER_SIZE; i++)
        if (b[i]) return gc_error(GC_ERR_FORMAT, "reserved header byte %d is not zero", i);
    uint32_t n_layers = le32(b + 24), n_tensors = le32(b + 28);
    if (n_layers < 1 || n_layers > MAX_LAYERS) return gc_error(GC_ERR_FORMAT, "%u layers (must be 1..%d)", n_layers, MAX_LAYERS);
    if (n_tensors > MAX_TENSORS) return gc_error(GC_ERR_FORMAT, "%u tensors (limit %d)", n_tensors, MAX_TENSORS);
    section sec[4];
    gc_status st = check_sections(b, len, sec);
    if (st) return st;

    gc_model *m = NULL;
    pl *L = gc_calloc(n_layers, sizeof *L);
    pt *T = gc_calloc(n_tensors ? n_tensors : 1, sizeof *T);
    pt **byoff = gc_alloc_array(n_tensors ? n_tensors : 1, sizeof *byoff);
    const char **inputs = gc_alloc_array(MAX_INPUTS, sizeof *inputs); /* one layer's, for gc_model_add_layer */
    const uint8_t **lab = NULL;
    uint32_t *lab_len = NULL;
    char **labs = NULL;
    int n_labels = 0;
    if (!L || !T || !byoff || !inputs) { st = GC_ERR_OUT_OF_MEMORY; goto done; }

    /* graph */
    rd r = {b + sec[0].off, (size_t)sec[0].size, 0};
    for (uint32_t i = 0; i < n_layers; i++)
        if ((st = parse_layer(&r, (int)i, version, &L[i]))) goto done;
    if (r.pos != r.len) { st = gc_error(GC_ERR_FORMAT, "graph: %zu bytes left over after %u layers", r.len - r.pos, n_layers); goto done; }

    /* tensor directory: names unique, data inside the region, no overlaps */
    r = (rd){b + sec[1].off, (size_t)sec[1].size, 0};
    for (uint32_t i = 0; i < n_tensors; i++) {
        if ((st = parse_tensor(&r, (int)i, &T[i]))) goto done;
        uint64_t end;
        if (__builtin_add_overflow(T[i].off, T[i].nbytes, &end) || end > sec[3].size) {
            st = gc_error(GC_ERR_FORMAT, "%s: bytes %llu..%llu lie outside the data section of %llu bytes", T[i].name,
                          (unsigned long long)T[i].off, (unsigned long long)(T[i].off + T[i].nbytes),
                          (unsigned long long)sec[3].size);
            goto done;
        }
    }
    if (r.pos != r.len) { st = gc_error(GC_ERR_FORMAT, "tensor directory: %zu bytes left over", r.len - r.pos); goto done; }
    qsort(T, n_tensors, sizeof *T, pt_by_name);
    for (uint32_t i = 0; i < n_tensors; i++) byoff[i] = &T[i];
    qsort(byoff, n_tensors, sizeof *byoff, pt_by_off);
    for (uint32_t i = 1; i < n_tensors; i++) {
        if (strcmp(T[i - 1].name, T[i].name) == 0) { st = gc_error(GC_ERR_FORMAT, "tensor %s appears twice", T[i].name); goto done; }
        if (byoff[i - 1]->off + byoff[i - 1]->nbytes > byoff[i]->off) {
            st = gc_error(GC_ERR_FORMAT, "tensors %s and %s overlap", byoff[i - 1]->name, byoff[i]->name);
            goto done;
        }
    }

    /* metadata */
    gc_preprocess pre;
    r = (rd){b + sec[2].off, (size_t)sec[2].size, 0};
    if ((st = parse_meta(&r, &pre, &n_labels, &lab, &lab_len))) goto done;
    if (r.pos != r.len) { st = gc_error(GC_ERR_FORMAT, "metadata: %zu bytes left over", r.len - r.pos); goto done; }

    /* build: graph references, hyper-parameters, tensor shapes */
    if ((st = gc_model_create(&m))) goto done;
    const uint8_t *data = b + sec[3].off;
    for (uint32_t i = 0; i < n_layers; i++) {
        pl *l = &L[i];
        if (strcmp(l->name, "input") == 0) { st = gc_error(GC_ERR_FORMAT, "layer %u is named \"input\" (reserved)", i); goto done; }
        if (gc_model_find_layer(m, l->name) >= 0) { st = gc_error(GC_ERR_FORMAT, "layer name %s is used twice", l->name); goto done; }
        for (int k = 0; k < l->n_inputs; k++) {
            int j = gc_model_find_layer(m, l->inputs[k]);
            if (strcmp(l->inputs[k], "input") != 0 && (j < 0 || strcmp(m->layers[j].name, l->inputs[k]) != 0)) {
                st = gc_error(GC_ERR_FORMAT, "%s: input \"%s\" is not an earlier layer", l->name, l->inputs[k]);
                goto done;
            }
            inputs[k] = l->inputs[k];
        }
        const gc_layer_ops *ops = gc_layer_ops_of(l->kind);
        gc_layer tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.kind = l->kind;
        tmp.p = l->p;
        if ((st = ops->check_params(&tmp))) { st = gc_error_prefix(GC_ERR_FORMAT, l->name); goto done; }
        gc_shape shapes[GC_MAX_PARAMS];
        const char *suffix[GC_MAX_PARAMS];
        const float *ptr[GC_MAX_PARAMS];
        int np = ops->param_shapes(&tmp, shapes, suffix);
        for (int j = 0; j < np; j++) {
            pt key;
            snprintf(key.name, sizeof key.name, "%s.%s", l->name, suffix[j]);
            pt *t = n_tensors ? bsearch(&key, T, n_tensors, sizeof *T, pt_by_name) : NULL;
            char want[96], have[96];
            shape_str(want, sizeof want, shapes[j].ndim, shapes[j].d);
            if (!t) { st = gc_error(GC_ERR_FORMAT, "%s: tensor missing (shape %s expected)", key.name, want); goto done; }
            int same = t->ndim == shapes[j].ndim;
            for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == shapes[j].d[d];
            if (!same) {
                shape_str(have, sizeof have, t->ndim, t->shape);
                st = gc_error(GC_ERR_FORMAT, "%s: shape %s expected, file has %s", key.name, want, have);
                goto done;
            }
            t->used = 1;
            ptr[j] = (const float *)(const void *)(data + t->off);
        }
        st = gc_model_add_layer(m, l->kind, l->name, inputs, l->n_inputs, &l->p, ptr, np, 1);
        for (int k = 0; !st && k < l->n_aliases; k++) st = gc_model_add_alias(m, l->aliases[k], l->name);
        if (st) {
            if (st != GC_ERR_OUT_OF_MEMORY) st = gc_error_prefix(GC_ERR_FORMAT, "graph");
            goto done;
        }
    }
    for (uint32_t i = 0; i < n_tensors; i++)
        if (!T[i].used) { st = gc_error(GC_ERR_FORMAT, "tensor %s belongs to no layer parameter", T[i].name); goto done; }

    if ((st = gc_model_set_preprocess(m, &pre))) { st = gc_error_prefix(GC_ERR_FORMAT, "metadata"); goto done; }
    int64_t width = output_width(m);
    if (n_labels && width >= 0 && width != n_labels) {
        st = gc_error(GC_ERR_FORMAT, "metadata: %d labels for %lld network outputs", n_labels, (long long)width);
        goto done;
    }
    if (n_labels) {
        labs = gc_calloc((size_t)n_labels, sizeof *labs);
        if (!labs) { st = GC_ERR_OUT_OF_MEMORY; goto done; }
        for (int i = 0; i < n_labels; i++) {
            if (!(labs[i] = gc_alloc(lab_len[i] + 1))) { st = GC_ERR_OUT_OF_MEMORY; goto done; }
            memcpy(labs[i], lab[i], lab_len[i]);
            labs[i][lab_len[i]] = 0;
        }
        if ((st = gc_model_set_labels(m, n_labels, (const char *const *)labs))) {
            if (st != GC_ERR_OUT_OF_MEMORY) st = gc_error_prefix(GC_ERR_FORMAT, "metadata");
            goto done;
        }
    }

done:
    if (labs)
        for (int i = 0; i < n_labels; i++) gc_free(labs[i]);
    gc_free(labs);
    gc_free(lab);
    gc_free(lab_len);
    for (uint32_t i = 0; L && i < n_layers; i++) gc_free(L[i].inputs);
    gc_free(L);
    gc_free(T);
    gc_free(byoff);
    gc_free(inputs);
    if (st) {
        gc_model_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

/* ---------------------------------------------------------------- opening */

static void release_map(void *p, size_t len) { munmap(p, len); }
static void release_alloc(void *p, size_t len) { (void)len; gc_free(p); }

static gc_status open_backed(void *base, size_t len, void (*release)(void *, size_t), gc_model **out) {
    gc_status st = parse_file(base, len, out);
    if (st) {
        release(base, len);
        return st;
    }
    (*out)->backing = base;
    (*out)->backing_len = len;
    (*out)->backing_release = release;
    return GC_OK;
}

gc_status gc_model_open_memory(const void *buf, size_t len, gc_model **out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_open_memory: out is NULL");
    *out = NULL;
    if (!buf && len) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_open_memory: buffer is NULL");
    void *copy = gc_alloc(len);
    if (!copy) return GC_ERR_OUT_OF_MEMORY;
    if (len) memcpy(copy, buf, len);
    return open_backed(copy, len, release_alloc, out);
}

/* gc_model_open, mapping the file unless no_map (then, as when mmap fails, read into one
 * aligned buffer). */
static gc_status open_file(const char *path, int no_map, gc_model **out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_open: out is NULL");
    *out = NULL;
    if (!path) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_open: path is NULL");
    char qp[256];
    gc_quote(qp, sizeof qp, path, strlen(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gc_error(GC_ERR_IO, "%s: cannot open: %s", qp, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return gc_error(GC_ERR_IO, "%s: not a regular file", qp);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return gc_error(GC_ERR_LIMIT, "%s: file too large for this machine", qp);
    }
    size_t len = (size_t)sb.st_size;
    void *base = len && !no_map ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    void (*release)(void *, size_t) = release_map;
    if (base == MAP_FAILED) {
        /* fallback: read everything into one aligned buffer */
        release = release_alloc;
        base = gc_alloc(len);
        if (!base) { close(fd); return GC_ERR_OUT_OF_MEMORY; }
        size_t got = 0;
        while (got < len) {
            ssize_t k = read(fd, (char *)base + got, len - got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                gc_free(base);
                close(fd);
                return gc_error(GC_ERR_IO, "%s: read failed after %zu of %zu bytes", qp, got, len);
            }
            got += (size_t)k;
        }
    }
    close(fd);
    gc_status st = open_backed(base, len, release, out);
    return st ? gc_error_prefix(st, qp) : GC_OK;
}

gc_status gc_model_open(const char *path, gc_model **out) { return open_file(path, 0, out); }

gc_status gc_gcw_open_unmapped(const char *path, gc_model **out) { return open_file(path, 1, out); }

/* ---------------------------------------------------------------- writing */

typedef struct wb {
    uint8_t *p; /* (cap) growing head buffer */
    size_t   len, cap;
    int      oom;
} wb;

static void put(wb *w, const void *src, size_t n) {
    if (w->oom) return;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->len < n) {
            if (gc_mul_size(cap, 2, &cap)) { w->oom = 1; return; }
        }
        uint8_t *np = gc_alloc(cap);
        if (!np) { w->oom = 1; return; }
        if (w->len) memcpy(np, w->p, w->len);
        gc_free(w->p);
        w->p = np;
        w->cap = cap;
    }
    if (n) memcpy(w->p + w->len, src, n);
    w->len += n;
}
static void put_u32(wb *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, 4);
}
static void put_u64(wb *w, uint64_t v) {
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}
static void put_str(wb *w, const char *s) {
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}
static void set_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void set_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static size_t pad64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Builds everything before the data region into w (padded to 64) and the
 * data size into *data_size. */
static gc_status build_head(const gc_model *m, wb *w, size_t *data_size) {
    int n_tensors = 0;
    if (m->n_layers < 1 || m->n_layers > MAX_LAYERS)
        return gc_error(GC_ERR_LIMIT, "save: %d layers (the format holds 1..%d)", m->n_layers, MAX_LAYERS);
    if (m->n_labels > MAX_LABELS) return gc_error(GC_ERR_LIMIT, "save: %d labels (limit %d)", m->n_labels, MAX_LABELS);
    for (int i = 0; i < m->n_labels; i++)
        for (const char *s = m->labels[i]; *s; s++)
            if ((unsigned char)*s < 0x20) return gc_error(GC_ERR_INVALID_ARGUMENT, "save: label %d contains a control character", i);
    uint8_t hdr[HEADER_SIZE] = {0};
    put(w, hdr, sizeof hdr);

    size_t graph_off = w->len;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *l = &m->layers[i];
        const gc_layer_ops *ops = gc_layer_ops_of(l->kind);
        put_str(w, gc_layer_kind_name(l->kind));
        put_str(w, l->name);
        put_u32(w, (uint32_t)l->n_inputs);
        for (int k = 0; k < l->n_inputs; k++) put_str(w, gc_model_layer_input_at(m, i, k));
        int na = gc_model_layer_alias_count(m, i);
        put_u32(w, (uint32_t)na);
        for (int k = 0; k < na; k++) put_str(w, gc_model_layer_alias(m, i, k));
        put_u32(w, (uint32_t)ops->n_hparams);
        for (int d = 0; d < ops->n_hparams; d++) {
            const gc_hparam *h = &ops->hparams[d];
            const char *src = (const char *)&l->p + h->off;
            put_str(w, h->key);
            put_u32(w, h->type == GC_HP_F32 ? 1 : 0);
            if (h->type == GC_HP_I64) {
                int64_t x;
                memcpy(&x, src, sizeof x);
                put_u64(w, (uint64_t)x);
            } else if (h->type == GC_HP_BOOL || h->type == GC_HP_ENUM) {
                int x;
                memcpy(&x, src, sizeof x);
                put_u64(w, (uint64_t)x);
            } else {
                float f;
                memcpy(&f, src, sizeof f);
                double x = f;
                uint64_t u;
                memcpy(&u, &x, sizeof u);
                put_u64(w, u);
            }
        }
        n_tensors += l->n_params;
    }
    size_t graph_size = w->len - graph_off;
    if (n_tensors > MAX_TENSORS) return gc_error(GC_ERR_LIMIT, "save: %d tensors (limit %d)", n_tensors, MAX_TENSORS);

    size_t dir_off = w->len, off = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *l = &m->layers[i];
        for (int j = 0; j < l->n_params; j++) {
            char name[TNAME_MAX];
            snprintf(name, sizeof name, "%s.%s", l->name, gc_model_param_suffix(l, j));
            put_str(w, name);
            put_u32(w, 0);
            put_u32(w, (uint32_t)l->param_shape[j].ndim);
            for (int d = 0; d < GC_MAX_DIMS; d++)
                put_u64(w, d < l->param_shape[j].ndim ? (uint64_t)l->param_shape[j].d[d] : 1);
            size_t nbytes = (size_t)gc_shape_numel(&l->param_shape[j]) * sizeof(float);
            put_u64(w, off);
            put_u64(w, nbytes);
            if (gc_add_size(off, pad64(nbytes), &off)) return gc_error(GC_ERR_LIMIT, "save: data size overflows");
        }
    }
    size_t dir_size = w->len - dir_off;

    size_t meta_off = w->len;
    const gc_preprocess *p = &m->pre;
    put_u32(w, (uint32_t)p->input_height);
    put_u32(w, (uint32_t)p->input_width);
    put_u32(w, (uint32_t)p->resize_shorter);
    put_u32(w, (uint32_t)p->order);
    float f[7] = {p->scale, p->mean[0], p->mean[1], p->mean[2], p->std[0], p->std[1], p->std[2]};
    for (int i = 0; i < 7; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        put_u32(w, u);
    }
    put_u32(w, (uint32_t)m->n_labels);
    for (int i = 0; i < m->n_labels; i++) put_str(w, m->labels[i]);
    size_t meta_size = w->len - meta_off;
    static const uint8_t zeros[64];
    put(w, zeros, pad64(w->len) - w->len);
    if (w->oom) return GC_ERR_OUT_OF_MEMORY;

    size_t data_off = w->len, file_size;
    if (gc_add_size(data_off, off, &file_size)) return gc_error(GC_ERR_LIMIT, "save: file size overflows");
    uint8_t *h = w->p;
    memcpy(h, MAGIC, 8);
    set_u32(h + 8, GC_GCW_VERSION);
    set_u32(h + 12, HEADER_SIZE);
    set_u64(h + 16, file_size);
    set_u32(h + 24, (uint32_t)m->n_layers);
    set_u32(h + 28, (uint32_t)n_tensors);
    uint64_t s[8] = {graph_off, graph_size, dir_off, dir_size, meta_off, meta_size, data_off, off};
    for (int i = 0; i < 8; i++) set_u64(h + 32 + 8 * i, s[i]);
    *data_size = off;
    return GC_OK;
}

gc_status gc_model_save_memory(const gc_model *m, void **buf, size_t *len) {
    if (!m || !buf || !len) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_save_memory: NULL argument");
    *buf = NULL;
    *len = 0;
    wb w = {0};
    size_t data_size, total;
    gc_status st = build_head(m, &w, &data_size);
    if (st) { gc_free(w.p); return st; }
    if (gc_add_size(w.len, data_size, &total)) { gc_free(w.p); return gc_error(GC_ERR_OUT_OF_MEMORY, "save: size overflows"); }
    uint8_t *out = gc_calloc(total, 1);
    if (!out) { gc_free(w.p); return GC_ERR_OUT_OF_MEMORY; }
    memcpy(out, w.p, w.len);
    size_t pos = w.len;
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i].n_params; j++) {
            size_t nb = (size_t)gc_shape_numel(&m->layers[i].param_shape[j]) * sizeof(float);
            memcpy(out + pos, m->layers[i].param[j], nb);
            pos += pad64(nb);
        }
    gc_free(w.p);
    *buf = out;
    *len = total;
    return GC_OK;
}

void gc_model_buffer_free(void *buf) { gc_free(buf); }

gc_status gc_model_save(const gc_model *m, const char *path) {
    if (!m || !path) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_model_save: NULL argument");
    wb w = {0};
    size_t data_size;
    gc_status st = build_head(m, &w, &data_size);
    if (st) { gc_free(w.p); return st; }
    char qp[256];
    gc_quote(qp, sizeof qp, path, strlen(path));
    FILE *f = fopen(path, "wb");
    if (!f) { gc_free(w.p); return gc_error(GC_ERR_IO, "%s: cannot create: %s", qp, strerror(errno)); }
    static const uint8_t zeros[64];
    int ok = fwrite(w.p, 1, w.len, f) == w.len;
    for (int i = 0; ok && i < m->n_layers; i++)
        for (int j = 0; ok && j < m->layers[i].n_params; j++) {
            size_t nb = (size_t)gc_shape_numel(&m->layers[i].param_shape[j]) * sizeof(float);
            ok = fwrite(m->layers[i].param[j], 1, nb, f) == nb &&
                 fwrite(zeros, 1, pad64(nb) - nb, f) == pad64(nb) - nb;
        }
    gc_free(w.p);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return gc_error(GC_ERR_IO, "%s: write failed", qp);
    return GC_OK;
}
