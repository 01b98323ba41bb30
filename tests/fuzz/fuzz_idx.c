/* libFuzzer harness: the IDX reader (plain and gzip) from memory, 1 MiB limit. */
#include "gradcam.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_idx a;
    if (gc_idx_decode(data, size, 1 << 20, &a) == GC_OK) {
        int64_t n = 1;
        for (int d = 0; d < a.ndim; d++) n *= a.dims[d];
        if (n != a.count || a.ndim < 1 || a.ndim > GC_MAX_DIMS) abort();
        volatile uint8_t sink = a.data[a.count - 1]; /* the whole array is there */
        (void)sink;
        gc_idx_release(&a);
    }
    return 0;
}
