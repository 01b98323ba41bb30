/* tensor.c - owned float32 tensors. */
#include "core.h"
#include <string.h>

gc_status gc_tensor_alloc(gc_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_tensor_alloc: tensor is NULL");
    memset(t, 0, sizeof *t);
    if (!shape) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_tensor_alloc: shape is NULL");
    if (ndim < 1 || ndim > GC_MAX_DIMS)
        return gc_error(GC_ERR_SHAPE, "gc_tensor_alloc: ndim %d outside 1..%d", ndim, GC_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return gc_error(GC_ERR_SHAPE, "gc_tensor_alloc: dimension %d is %lld", i, (long long)shape[i]);
        if (gc_mul_i64(n, shape[i], &n) || (uint64_t)n > SIZE_MAX / sizeof(float))
            return gc_error(GC_ERR_OUT_OF_MEMORY, "gc_tensor_alloc: element count overflows");
    }
    float *d = gc_calloc((size_t)n, sizeof(float));
    if (!d) return GC_ERR_OUT_OF_MEMORY;
    t->data = d;
    t->ndim = ndim;
    t->owns_data = 1;
    for (int i = 0; i < GC_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    return GC_OK;
}

void gc_tensor_release(gc_tensor *t) {
    if (!t) return;
    if (t->owns_data) gc_free(t->data);
    memset(t, 0, sizeof *t);
}

int64_t gc_tensor_numel(const gc_tensor *t) {
    if (!t || !t->data || t->ndim < 1) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim && i < GC_MAX_DIMS; i++) n *= t->shape[i];
    return n;
}
