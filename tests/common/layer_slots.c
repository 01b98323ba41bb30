/* layer_slots.c - see layer_slots.h. */
#include "layer_slots.h"
#include <stdlib.h>

int test_layer_slots(const gc_layer_ops *ops, const gc_layer *l, const gc_shape *in, const gc_shape *out,
                     gc_slots *s) {
    const size_t f = ops->slot_floats ? ops->slot_floats(l, in, out, GC_MAX_SLOTS) : 0;
    *s = (gc_slots){0};
    if (!f) return 1;
    s->stride = (f + 15) & ~(size_t)15;
    s->n = GC_MAX_SLOTS;
    s->base = aligned_alloc(64, s->stride * GC_MAX_SLOTS * sizeof(float));
    return s->base != NULL;
}
