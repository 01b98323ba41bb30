/* libFuzzer harness: the JPEG decoder from memory. */
#include "gradcam.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_image_limits lim = gc_image_limits_default();
    lim.max_pixels = 1 << 22; /* keep each run fast; the limit path itself is tested */
    gc_image img;
    if (gc_image_decode_jpeg(data, size, &lim, &img) == GC_OK) gc_image_release(&img);
    return 0;
}
