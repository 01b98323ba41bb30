/* ref_image.c - reference decodes for the image tests. */
#include "ref_image.h"
#include "../test.h"

int test_load_ref(const char *path, gc_image *img) {
    size_t n;
    uint8_t *p = test_read_file(path, &n);
    memset(img, 0, sizeof *img);
    if (!p || n < 20 || memcmp(p, "GCRF", 4)) { free(p); return 0; }
    uint32_t h[4]; /* width, height, channels, bit depth */
    for (int i = 0; i < 4; i++) h[i] = p[4 + 4 * i] | p[5 + 4 * i] << 8 | p[6 + 4 * i] << 16 | (uint32_t)p[7 + 4 * i] << 24;
    size_t ns = (size_t)h[0] * h[1] * h[2];
    if (n != 20 + ns * (h[3] / 8) || gc_image_alloc(img, (int32_t)h[0], (int32_t)h[1], (int32_t)h[2], (int32_t)h[3])) {
        free(p);
        return 0;
    }
    for (size_t i = 0; i < ns; i++) {
        if (h[3] == 8) ((uint8_t *)img->data)[i] = p[20 + i];
        else ((uint16_t *)img->data)[i] = (uint16_t)(p[20 + 2 * i] | p[21 + 2 * i] << 8);
    }
    free(p);
    return 1;
}

int test_same_image(const gc_image *a, const gc_image *b) {
    if (!a->data || !b->data || a->width != b->width || a->height != b->height || a->channels != b->channels ||
        a->bit_depth != b->bit_depth)
        return 0;
    return memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels * (a->bit_depth / 8)) == 0;
}
