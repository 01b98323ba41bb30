/* alloc.c - 64-byte aligned, overflow-checked allocation. */
#include "core.h"
#include <stdlib.h>
#include <string.h>

void *gc_alloc(size_t bytes) {
    size_t rounded;
    if (bytes == 0) bytes = 1;
    if (gc_add_size(bytes, GC_ALIGN - 1, &rounded)) {
        gc_error(GC_ERR_OUT_OF_MEMORY, "allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    rounded &= ~(size_t)(GC_ALIGN - 1);
    void *p = aligned_alloc(GC_ALIGN, rounded);
    if (!p) gc_error(GC_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *gc_alloc_array(size_t count, size_t elem_size) {
    size_t bytes;
    if (gc_mul_size(count, elem_size, &bytes)) {
        gc_error(GC_ERR_OUT_OF_MEMORY, "allocation of %zu x %zu bytes overflows", count, elem_size);
        return NULL;
    }
    return gc_alloc(bytes);
}

void *gc_calloc(size_t count, size_t elem_size) {
    void *p = gc_alloc_array(count, elem_size);
    if (p) memset(p, 0, count * elem_size);
    return p;
}

void gc_free(void *p) { free(p); }
