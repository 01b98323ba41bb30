/* layer_slots.h - the workers' slots a session gives a layer (gc_layer_ctx.slots), for tests
 * that run a layer's forward and backward directly. */
#ifndef GC_TEST_LAYER_SLOTS_H
#define GC_TEST_LAYER_SLOTS_H

#include "layers/layer.h"

/* GC_MAX_SLOTS slots of ops->slot_floats floats each (64-byte aligned; none when the kind asks
 * for none) into *s, to be released with free(s->base): 1, or 0 when memory is short. */
int test_layer_slots(const gc_layer_ops *ops, const gc_layer *l, const gc_shape *in, const gc_shape *out,
                     gc_slots *s);

#endif
