/* test_png.c - PNG decode against PIL/ImageMagick-made fixtures (expected
 * pixels = the encoder's source pixels), encoder round trips, corruption,
 * limits, conversions and the format dispatcher. */
#include "test.h"
#include "common/ref_image.h"
#include "core/core.h"
#include "image/deflate.h"
#include <stdint.h>

#define PDIR "tests/data/png/"

static const char *fixtures[] = {
    "g1", "g2", "g4", "g8", "g16", "ga8", "ga16", "rgb8", "rgb16", "rgba8", "rgba16",
    "p1", "p2", "p4", "p8", "p4_trns", "g8_trns", "g16_trns", "rgb8_trns",
    "i_rgb8", "i_rgba16", "i_g8", "i_g8_1x1", "i_g1", "i_g4", "i_ga8",
    "f_rgb8", "f_g16", "f_g4", "f_i_rgba16", "split_idat"};
#define NFIX (int)(sizeof fixtures / sizeof fixtures[0])

static int decode_fixture(const char *name, gc_image *img, gc_image *ref, uint8_t **bytes, size_t *n) {
    char path[256];
    snprintf(path, sizeof path, PDIR "%s.png", name);
    *bytes = test_read_file(path, n);
    snprintf(path, sizeof path, PDIR "%s.ref", name);
    if (!*bytes || !test_load_ref(path, ref)) { FAILF("%s: fixture missing", name); return 0; }
    gc_status st = gc_image_decode_png(*bytes, *n, NULL, img);
    if (st) { FAILF("%s: %s: %s", name, gc_status_string(st), gc_last_error()); gc_image_release(ref); return 0; }
    return 1;
}

TEST(decode_matches_reference) {
    for (int i = 0; i < NFIX; i++) {
        gc_image img, ref;
        uint8_t *b; size_t n;
        if (!decode_fixture(fixtures[i], &img, &ref, &b, &n)) { free(b); continue; }
        if (!test_same_image(&img, &ref))
            FAILF("%s: got %dx%dx%d/%d, expected %dx%dx%d/%d or pixels differ", fixtures[i], img.width, img.height,
                  img.channels, img.bit_depth, ref.width, ref.height, ref.channels, ref.bit_depth);
        gc_image_release(&img); gc_image_release(&ref); free(b);
    }
}

TEST(encode_round_trips_fixtures) {
    for (int i = 0; i < NFIX; i++) {
        gc_image img, ref, back;
        uint8_t *b, *enc; size_t n, en;
        if (!decode_fixture(fixtures[i], &img, &ref, &b, &n)) { free(b); continue; }
        CHECK_OK(gc_image_encode_png(&img, &enc, &en));
        CHECK_OK(gc_image_decode_png(enc, en, NULL, &back));
        if (!test_same_image(&back, &ref)) FAILF("%s: re-encoded image differs", fixtures[i]);
        gc_buffer_free(enc);
        gc_image_release(&back); gc_image_release(&img); gc_image_release(&ref); free(b);
    }
}

TEST(encode_synthetic_and_compresses) {
    gc_rng r;
    gc_rng_seed(&r, 3);
    for (int c = 1; c <= 4; c++) {
        for (int depth = 8; depth <= 16; depth += 8) {
            gc_image img, back;
            int w = 61 + c, h = 47;
            CHECK_OK(gc_image_alloc(&img, w, h, c, depth));
            size_t ns = (size_t)w * h * c;
            for (size_t i = 0; i < ns; i++) { /* smooth gradients plus a little noise */
                size_t x = (i / c) % w, y = i / c / w;
                uint32_t v = (uint32_t)(x * 3 + y * 2 + (i % c) * 40 + gc_rng_next(&r) % 3);
                if (depth == 8) ((uint8_t *)img.data)[i] = (uint8_t)v;
                else ((uint16_t *)img.data)[i] = (uint16_t)(v * 251);
            }
            uint8_t *enc; size_t en;
            CHECK_OK(gc_image_encode_png(&img, &enc, &en));
            CHECK_OK(gc_image_decode_png(enc, en, NULL, &back));
            CHECK(test_same_image(&img, &back));
            if ((double)en > 0.6 * (double)(ns * (depth / 8))) FAILF("c=%d depth=%d: %zu bytes for %zu raw", c, depth, en, ns * (depth / 8));
            gc_buffer_free(enc);
            gc_image_release(&img); gc_image_release(&back);
        }
    }
    gc_image one, back;
    CHECK_OK(gc_image_alloc(&one, 1, 1, 3, 8));
    ((uint8_t *)one.data)[1] = 200;
    CHECK_OK(gc_image_save_png(&one, "build/test_png_one.png"));
    CHECK_OK(gc_image_load("build/test_png_one.png", NULL, &back));
    CHECK(test_same_image(&one, &back));
    gc_image_release(&one); gc_image_release(&back);
    remove("build/test_png_one.png");
}

/* Fixes the CRC of the chunk containing byte `at` so corruption reaches the decoder. */
static void fix_crc(uint8_t *p, size_t n, size_t at) {
    size_t pos = 8;
    while (pos + 12 <= n) {
        uint32_t len = (uint32_t)p[pos] << 24 | p[pos + 1] << 16 | p[pos + 2] << 8 | p[pos + 3];
        if (len > n - pos - 12) return;
        if (at < pos + 8 + len) {
            if (at >= pos + 4) {
                uint32_t c = gc_crc32(0, p + pos + 4, (size_t)len + 4);
                p[pos + 8 + len] = (uint8_t)(c >> 24); p[pos + 9 + len] = (uint8_t)(c >> 16);
                p[pos + 10 + len] = (uint8_t)(c >> 8); p[pos + 11 + len] = (uint8_t)c;
            }
            return;
        }
        pos += 12 + len;
    }
}

static int try_decode(const uint8_t *p, size_t n, int *nomsg) {
    gc_image img;
    gc_clear_error();
    gc_status st = gc_image_decode_png(p, n, NULL, &img);
    if (st) { if (!gc_last_error()[0] || img.data) (*nomsg)++; return 0; }
    gc_image_release(&img);
    return 1;
}

TEST(truncated_and_flipped_never_crash) {
    gc_rng r;
    gc_rng_seed(&r, 11);
    int nomsg = 0, trunc_ok = 0, decoded = 0, refused = 0;
    for (int i = 0; i < NFIX; i++) {
        char path[256];
        size_t n;
        snprintf(path, sizeof path, PDIR "%s.png", fixtures[i]);
        uint8_t *p = test_read_file(path, &n);
        if (!p) { FAILF("%s missing", path); continue; }
        for (size_t k = 0; k < n; k++) trunc_ok += try_decode(p, k, &nomsg); /* every truncation */
        uint8_t *c = malloc(n);
        for (int t = 0; t < 300; t++) {
            memcpy(c, p, n);
            size_t at = 0;
            for (int f = 0, nf = 1 + (int)(gc_rng_next(&r) % 4); f < nf; f++) {
                at = gc_rng_next(&r) % n;
                c[at] ^= (uint8_t)(1u << (gc_rng_next(&r) % 8));
            }
            if (t % 2) fix_crc(c, n, at); /* half with valid CRCs: reach IHDR/zlib/filters */
            if (try_decode(c, n, &nomsg)) decoded++; else refused++;
        }
        free(c); free(p);
    }
    CHECK(nomsg == 0);
    CHECK(trunc_ok == 0);            /* IEND is last: no proper prefix is a PNG */
    CHECK(refused > 0 && decoded > 0); /* some flips land in pixels and decode */
}

/* A minimal PNG around an IHDR and a zlib payload. */
static size_t make_png(uint8_t *o, uint32_t w, uint32_t h, int depth, int ct, const uint8_t *z, size_t zn,
                       const char *extra_type) {
    size_t pos = 8;
    memcpy(o, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                        (uint8_t)depth, (uint8_t)ct, 0, 0, 0};
    const char *types[4] = {"IHDR", extra_type, "IDAT", "IEND"};
    const uint8_t *datas[4] = {ihdr, (const uint8_t *)"xx", z, NULL};
    size_t lens[4] = {13, 2, zn, 0};
    for (int i = 0; i < 4; i++) {
        if (!types[i]) continue;
        o[pos] = (uint8_t)(lens[i] >> 24); o[pos + 1] = (uint8_t)(lens[i] >> 16);
        o[pos + 2] = (uint8_t)(lens[i] >> 8); o[pos + 3] = (uint8_t)lens[i];
        memcpy(o + pos + 4, types[i], 4);
        if (lens[i]) memcpy(o + pos + 8, datas[i], lens[i]);
        uint32_t c = gc_crc32(0, o + pos + 4, lens[i] + 4);
        pos += 8 + lens[i];
        o[pos] = (uint8_t)(c >> 24); o[pos + 1] = (uint8_t)(c >> 16); o[pos + 2] = (uint8_t)(c >> 8); o[pos + 3] = (uint8_t)c;
        pos += 4;
    }
    return pos;
}

TEST(limits_and_bombs) {
    static uint8_t buf[1 << 16];
    gc_image img;
    /* 2 x 2 gray: rows "0 a b" */
    static const uint8_t raw[6] = {0, 10, 20, 0, 30, 40};
    uint8_t *z; size_t zn;
    CHECK_OK(gc_deflate_zlib(raw, 6, 6, &z, &zn));
    size_t n = make_png(buf, 2, 2, 8, 0, z, zn, NULL);
    CHECK_OK(gc_image_decode_png(buf, n, NULL, &img));
    CHECK(img.width == 2 && ((uint8_t *)img.data)[3] == 40);
    gc_image_release(&img);
    /* header claiming 100000 x 100000: refused before any allocation */
    n = make_png(buf, 100000, 100000, 8, 6, z, zn, NULL);
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_LIMIT);
    CHECK(img.data == NULL);
    /* within the limits (2^28 pixels of RGBA16 = 2 GB) but 20 bytes of IDAT cannot hold it:
       refused before anything that size is allocated */
    n = make_png(buf, 16384, 16384, 16, 6, z, zn, NULL);
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "cannot hold") != NULL);
    gc_image_limits lim = {100, 1000};
    n = make_png(buf, 20, 20, 8, 0, z, zn, NULL);
    CHECK_FAILS(gc_image_decode_png(buf, n, &lim, &img), GC_ERR_LIMIT);
    lim.max_pixels = 1000; lim.max_dimension = 10;
    CHECK_FAILS(gc_image_decode_png(buf, n, &lim, &img), GC_ERR_LIMIT);
    gc_free(z);
    /* a small IDAT inflating to 64 MB for a 2x2 image: stopped at the expected 6 bytes */
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(big, 1);
    CHECK_OK(gc_deflate_zlib(zeros, big, 9, &z, &zn));
    free(zeros);
    CHECK(zn < sizeof buf - 100);
    n = make_png(buf, 2, 2, 8, 0, z, zn, NULL);
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "longer") != NULL);
    gc_free(z);
    /* too little data, unknown critical chunk, ancillary chunk ignored, no PLTE */
    CHECK_OK(gc_deflate_zlib(raw, 5, 6, &z, &zn));
    n = make_png(buf, 2, 2, 8, 0, z, zn, NULL);
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_FORMAT);
    gc_free(z);
    CHECK_OK(gc_deflate_zlib(raw, 6, 6, &z, &zn));
    n = make_png(buf, 2, 2, 8, 0, z, zn, "ABCD");
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_UNSUPPORTED);
    n = make_png(buf, 2, 2, 8, 0, z, zn, "abCD");
    CHECK_OK(gc_image_decode_png(buf, n, NULL, &img));
    gc_image_release(&img);
    n = make_png(buf, 2, 2, 8, 3, z, zn, NULL);
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_FORMAT);
    n = make_png(buf, 2, 2, 3, 0, z, zn, NULL); /* bit depth 3 */
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_FORMAT);
    n = make_png(buf, 2, 2, 8, 0, z, zn, NULL);
    buf[n - 1] ^= 1; /* IEND CRC */
    CHECK_FAILS(gc_image_decode_png(buf, n, NULL, &img), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "CRC") != NULL);
    CHECK_FAILS(gc_image_decode_png(buf, n - 12, NULL, &img), GC_ERR_FORMAT); /* no IEND */
    CHECK_FAILS(gc_image_decode_png(NULL, 3, NULL, &img), GC_ERR_INVALID_ARGUMENT);
    gc_free(z);
}

TEST(conversions) {
    gc_image img, ref, out;
    uint8_t *b; size_t n;
    /* to_gray8 vs PIL's convert("L") */
    if (decode_fixture("rgb8", &img, &ref, &b, &n)) {
        gc_image gray;
        CHECK(test_load_ref(PDIR "rgb8_gray.ref", &gray));
        CHECK_OK(gc_image_to_gray8(&img, &out));
        CHECK(test_same_image(&out, &gray));
        gc_image_release(&out); gc_image_release(&gray);
        CHECK_OK(gc_image_to_rgb8(&img, &out));
        CHECK(test_same_image(&out, &img));
        gc_image_release(&out); gc_image_release(&img); gc_image_release(&ref);
    }
    free(b);
    /* 16 -> 8 bit: round(v / 257); gray replicated; alpha dropped */
    if (decode_fixture("ga16", &img, &ref, &b, &n)) {
        CHECK_OK(gc_image_to_rgb8(&img, &out));
        int bad = 0;
        for (int i = 0; i < img.width * img.height; i++) {
            uint8_t want = (uint8_t)floor(((uint16_t *)img.data)[2 * i] / 257.0 + 0.5);
            const uint8_t *o = (const uint8_t *)out.data + 3 * i;
            bad += o[0] != want || o[1] != want || o[2] != want;
        }
        CHECK(bad == 0 && out.channels == 3 && out.bit_depth == 8);
        gc_image_release(&out);
        CHECK_OK(gc_image_to_gray8(&img, &out));
        CHECK(out.channels == 1 && ((uint8_t *)out.data)[5] == (uint8_t)floor(((uint16_t *)img.data)[10] / 257.0 + 0.5));
        gc_image_release(&out); gc_image_release(&img); gc_image_release(&ref);
    }
    free(b);
    CHECK_FAILS(gc_image_to_rgb8(NULL, &out), GC_ERR_INVALID_ARGUMENT);
}

TEST(dispatcher_and_files) {
    gc_image img, ref;
    size_t n;
    uint8_t *p = test_read_file(PDIR "p4_trns.png", &n);
    CHECK(p && test_load_ref(PDIR "p4_trns.ref", &ref));
    if (p) {
        CHECK_OK(gc_image_decode(p, n, NULL, &img));
        CHECK(test_same_image(&img, &ref));
        gc_image_release(&img);
    }
    CHECK_OK(gc_image_load(PDIR "p4_trns.png", NULL, &img));
    CHECK(test_same_image(&img, &ref));
    gc_image_release(&img); gc_image_release(&ref); free(p);
    static const uint8_t pgm[] = "P2\n2 1\n3\n0 3\n";
    CHECK_OK(gc_image_decode(pgm, sizeof pgm - 1, NULL, &img));
    CHECK(img.channels == 1 && ((uint8_t *)img.data)[1] == 255);
    gc_image_release(&img);
    CHECK_FAILS(gc_image_decode("GIF89a", 6, NULL, &img), GC_ERR_UNSUPPORTED);
    gc_clear_error(); /* a JPEG signature goes to the JPEG decoder, which refuses the rest */
    CHECK(gc_image_decode("\xFF\xD8\xFF\xE0", 4, NULL, &img) != GC_OK && !strstr(gc_last_error(), "unrecognised"));
    CHECK_FAILS(gc_image_load("tests/data/png/no_such_file.png", NULL, &img), GC_ERR_IO);
    CHECK(strstr(gc_last_error(), "no_such_file.png") != NULL);
    CHECK(img.data == NULL);
}

int main(void) {
    RUN(decode_matches_reference);
    RUN(encode_round_trips_fixtures);
    RUN(encode_synthetic_and_compresses);
    RUN(truncated_and_flipped_never_crash);
    RUN(limits_and_bombs);
    RUN(conversions);
    RUN(dispatcher_and_files);
    return test_summary("png");
}
