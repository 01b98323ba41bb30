/* ref_image.h - reference decodes for the image tests: the ".ref" files
 * written by tests/ref/make_png_fixtures.py ("GCRF", little-endian u32
 * width, height, channels, bit depth, then the samples, little-endian). */
#ifndef GC_TEST_REF_IMAGE_H
#define GC_TEST_REF_IMAGE_H

#include "gradcam.h"

/* Loads path into *img (release with gc_image_release); 0 on any problem. */
int test_load_ref(const char *path, gc_image *img);

/* 1 if a and b have the same size, layout and samples. */
int test_same_image(const gc_image *a, const gc_image *b);

#endif
