/* libFuzzer harness: inflate (raw and zlib) on arbitrary bytes, and a
 * deflate -> inflate round trip of the input itself. */
#include "core/core.h"
#include "image/deflate.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *out = NULL, *z = NULL, *back = NULL;
    size_t n = 0, zn = 0, bn = 0;
    if (gc_inflate_raw(data, size, 1 << 24, 0, &out, &n, NULL) == GC_OK) gc_free(out);
    if (gc_inflate_zlib(data, size, 1 << 24, 0, &out, &n) == GC_OK) gc_free(out);
    int level = size ? data[0] % 10 : 6;
    if (gc_deflate_zlib(data, size, level, &z, &zn) != GC_OK) abort();
    if (gc_inflate_zlib(z, zn, size + 1, size, &back, &bn) != GC_OK || bn != size || (size && memcmp(back, data, size)))
        abort();
    gc_free(z);
    gc_free(back);
    return 0;
}
