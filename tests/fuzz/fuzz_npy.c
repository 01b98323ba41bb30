/* libFuzzer harness: the .npy reader from memory. */
#include "gradcam.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_tensor t;
    if (gc_npy_load_memory(data, size, &t) == GC_OK) gc_tensor_release(&t);
    return 0;
}
