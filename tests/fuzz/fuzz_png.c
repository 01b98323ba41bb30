/* libFuzzer harness: the PNG decoder from memory, and re-encoding what decodes. */
#include "gradcam.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_image_limits lim = gc_image_limits_default();
    lim.max_pixels = 1 << 22;
    gc_image img, back;
    if (gc_image_decode_png(data, size, &lim, &img) != GC_OK) return 0;
    uint8_t *png;
    size_t len;
    if (gc_image_encode_png(&img, &png, &len) == GC_OK) {
        /* what we write must decode to the same pixels */
        if (gc_image_decode_png(png, len, &lim, &back) != GC_OK) abort();
        size_t n = (size_t)img.width * (size_t)img.height * (size_t)img.channels * (size_t)(img.bit_depth / 8);
        if (back.width != img.width || back.height != img.height || back.channels != img.channels ||
            back.bit_depth != img.bit_depth || memcmp(back.data, img.data, n) != 0)
            abort();
        gc_image_release(&back);
        gc_buffer_free(png);
    }
    gc_image_release(&img);
    return 0;
}
