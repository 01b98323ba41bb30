/* libFuzzer harness: the PPM/PGM decoder from memory. */
#include "gradcam.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_image_limits lim = gc_image_limits_default();
    lim.max_pixels = 1 << 22;
    gc_image img;
    if (gc_image_decode_pnm(data, size, &lim, &img) == GC_OK) gc_image_release(&img);
    if (gc_image_decode(data, size, &lim, &img) == GC_OK) gc_image_release(&img);
    return 0;
}
