/* test_jpeg.c - JPEG decoder against libjpeg-turbo djpeg references
 * (tests/data/jpeg, made by tests/ref/make_jpeg_fixtures.py), EXIF
 * orientation, refusals, truncation and bit-flip robustness. */
#include "test.h"
#include "core/core.h"
#include <stdint.h>
#include <time.h>

#define DIR "tests/data/jpeg/"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Binary PGM/PPM with maxval 255 (the djpeg references). */
typedef struct { int w, h, c; uint8_t *px; } pnm;

static int read_pnm(const char *path, pnm *img) {
    size_t   len;
    uint8_t *b = test_read_file(path, &len);
    if (!b) return 0;
    int w, h, maxv, off = 0;
    char kind;
    if (sscanf((const char *)b, "P%c %d %d %d%n", &kind, &w, &h, &maxv, &off) != 4 || maxv != 255) { free(b); return 0; }
    img->c = kind == '6' ? 3 : 1;
    img->w = w;
    img->h = h;
    off++; /* single whitespace after maxval */
    size_t n = (size_t)w * h * img->c;
    if ((size_t)off + n > len) { free(b); return 0; }
    img->px = malloc(n);
    memcpy(img->px, b + off, n);
    free(b);
    return 1;
}

static void release(gc_image *img) { gc_image_release(img); }

/* Mean and 99.9th percentile of |a - b| over n samples; returns the max. */
static int diff_stats(const uint8_t *a, const uint8_t *b, size_t n, double *mean, int *p999) {
    size_t hist[256] = {0};
    double sum = 0;
    int    mx = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        hist[d]++;
        sum += d;
        if (d > mx) mx = d;
    }
    *mean = n ? sum / (double)n : 0;
    size_t need = (size_t)ceil(0.999 * (double)n), acc = 0;
    *p999 = 0;
    for (int d = 0; d < 256; d++) {
        acc += hist[d];
        if (acc >= need) { *p999 = d; break; }
    }
    return mx;
}

static gc_status decode_file(const char *path, gc_image *img) {
    size_t   len;
    uint8_t *b = test_read_file(path, &len);
    if (!b) { FAILF("cannot read %s", path); return GC_ERR_IO; }
    gc_status st = gc_image_decode_jpeg(b, len, NULL, img);
    free(b);
    return st;
}

/* Offset of the first marker segment `code` before the first scan's data
 * (or the first SOS itself), walking segment lengths; -1 if absent. */
static long find_segment(const uint8_t *b, size_t len, int code) {
    size_t p = 2;
    while (p + 4 <= len && b[p] == 0xFF) {
        if (b[p + 1] == code) return (long)p;
        if (b[p + 1] == 0xDA) return -1;
        p += 2 + (size_t)((b[p + 2] << 8) | b[p + 3]);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Accuracy against djpeg                                                    */
/* ------------------------------------------------------------------------ */

static const char *fixtures[] = {
    "b_444_q95", "b_420_q50", "b_prog420_q75", "b_rst3B_q75", "a_444_q50", "a_422_q95",
    "a_420_q95", "a_411_q95", "a_440_q95", "a_mixed_q95", "a_42x_q95", "a_gray_q95",
    "a_prog420_q95", "a_proggray_q50", "a_progrst_q75", "a_scans444_q90", "a_rst1_q75", "a_opt_q50",
    "c_420_17x3", "d_420_1x1"};

static void check_against_reference(const char *jpg, const char *refname, int orientation) {
    char path[256];
    pnm  ref = {0};
    snprintf(path, sizeof path, DIR "%s.ppm", refname);
    if (!read_pnm(path, &ref)) {
        snprintf(path, sizeof path, DIR "%s.pgm", refname);
        if (!read_pnm(path, &ref)) { FAILF("no reference for %s", refname); return; }
    }
    /* orientation applied to the reference independently: transpose, then flips */
    if (orientation >= 5) {
        uint8_t *t = malloc((size_t)ref.w * ref.h * ref.c);
        for (int y = 0; y < ref.h; y++)
            for (int x = 0; x < ref.w; x++)
                memcpy(t + ((size_t)x * ref.h + y) * ref.c, ref.px + ((size_t)y * ref.w + x) * ref.c, (size_t)ref.c);
        free(ref.px);
        ref.px = t;
        int w = ref.w; ref.w = ref.h; ref.h = w;
    }
    int flip_h = orientation == 2 || orientation == 3 || orientation == 6 || orientation == 7;
    int flip_v = orientation == 3 || orientation == 4 || orientation == 7 || orientation == 8;
    for (int y = 0; y < ref.h; y++)
        for (int x = 0; x < ref.w / 2 && flip_h; x++)
            for (int k = 0; k < ref.c; k++) {
                uint8_t *a = ref.px + ((size_t)y * ref.w + x) * ref.c + k, *b = ref.px + ((size_t)y * ref.w + ref.w - 1 - x) * ref.c + k;
                uint8_t  s = *a; *a = *b; *b = s;
            }
    for (int y = 0; y < ref.h / 2 && flip_v; y++)
        for (size_t i = 0; i < (size_t)ref.w * ref.c; i++) {
            uint8_t *a = ref.px + (size_t)y * ref.w * ref.c + i, *b = ref.px + (size_t)(ref.h - 1 - y) * ref.w * ref.c + i;
            uint8_t  s = *a; *a = *b; *b = s;
        }

    gc_image img;
    snprintf(path, sizeof path, DIR "%s.jpg", jpg);
    gc_status st = decode_file(path, &img);
    if (st != GC_OK) {
        FAILF("%s: %s: %s", jpg, gc_status_string(st), gc_last_error());
    } else if (img.width != ref.w || img.height != ref.h || img.channels != ref.c || img.bit_depth != 8) {
        FAILF("%s: got %dx%dx%d (depth %d), reference %dx%dx%d", jpg, img.width, img.height, img.channels,
              img.bit_depth, ref.w, ref.h, ref.c);
    } else {
        double mean;
        int    p999, mx = diff_stats(img.data, ref.px, (size_t)ref.w * ref.h * ref.c, &mean, &p999);
        printf("  %-16s %3dx%-3d c%d  mean|diff| %.4f  p99.9 %d  max %d\n", jpg, img.width, img.height, img.channels, mean, p999, mx);
        if (!(mean <= 1.5 && p999 <= 8)) FAILF("%s: mean %.3f p99.9 %d over tolerance", jpg, mean, p999);
    }
    release(&img);
    free(ref.px);
}

TEST(matches_djpeg) {
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) check_against_reference(fixtures[i], fixtures[i], 1);
}

TEST(exif_orientation) {
    check_against_reference("orient2_le", "a_420_q95", 2);
    check_against_reference("orient3_be", "a_420_q95", 3);
    check_against_reference("orient5_le", "a_420_q95", 5);
    check_against_reference("orient6_le", "a_420_q95", 6);
    check_against_reference("orient7_be", "a_420_q95", 7);
    check_against_reference("orient8_be", "a_420_q95", 8);
    check_against_reference("orient_bad_exif", "a_420_q95", 1); /* bad block ignored */
}

/* ------------------------------------------------------------------------ */
/* Refusals                                                                  */
/* ------------------------------------------------------------------------ */

TEST(refuses_unsupported_variants) {
    gc_image img;
    size_t   len;
    CHECK_FAILS(decode_file(DIR "arith.jpg", &img), GC_ERR_UNSUPPORTED);
    CHECK(strstr(gc_last_error(), "arithmetic") != NULL);
    CHECK(img.data == NULL && img.width == 0);

    uint8_t *b = test_read_file(DIR "a_gray_q95.jpg", &len);
    long     sof = find_segment(b, len, 0xC0);
    CHECK(sof > 0);
    if (b && sof > 0) {
        b[sof + 4] = 12; /* precision */
        CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_UNSUPPORTED);
        CHECK(strstr(gc_last_error(), "12-bit") != NULL);
        b[sof + 4] = 8;
        b[sof + 1] = 0xC3; /* lossless */
        CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_UNSUPPORTED);
        b[sof + 1] = 0xC5; /* hierarchical */
        CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_UNSUPPORTED);
        b[sof + 1] = 0xC0;
        CHECK_OK(gc_image_decode_jpeg(b, len, NULL, &img));
        release(&img);
    }
    free(b);
}

TEST(limits_checked_before_allocation) {
    gc_image img;
    size_t   len;
    uint8_t *b = test_read_file(DIR "a_420_q95.jpg", &len);
    long     sof = find_segment(b, len, 0xC0);
    CHECK(sof > 0);
    if (!b || sof <= 0) { free(b); return; }
    gc_image_limits small = {100, 1 << 20};
    CHECK_FAILS(gc_image_decode_jpeg(b, len, &small, &img), GC_ERR_LIMIT);
    gc_image_limits narrow = {1 << 28, 60}; /* width is 61 */
    CHECK_FAILS(gc_image_decode_jpeg(b, len, &narrow, &img), GC_ERR_LIMIT);
    gc_image_limits exact = {61 * 45, 61};
    CHECK_OK(gc_image_decode_jpeg(b, len, &exact, &img));
    release(&img);
    b[sof + 5] = 60000 >> 8, b[sof + 6] = 60000 & 255; /* height */
    b[sof + 7] = 60000 >> 8, b[sof + 8] = 60000 & 255; /* width */
    CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_LIMIT);
    /* within the limits, but far more blocks than the file has bits: refused
     * before the planes are allocated */
    b[sof + 5] = 16000 >> 8, b[sof + 6] = 16000 & 255;
    b[sof + 7] = 16000 >> 8, b[sof + 8] = 16000 & 255;
    CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "coded data") != NULL);
    free(b);
}

TEST(refuses_bad_tables_and_scans) {
    gc_image img;
    size_t   len;
    uint8_t *orig = test_read_file(DIR "a_420_q95.jpg", &len), *b = malloc(len);
    long     dht = find_segment(orig, len, 0xC4), sof = find_segment(orig, len, 0xC0), sos = find_segment(orig, len, 0xDA);
    CHECK(dht > 0 && sof > 0 && sos > 0);
    if (!orig || dht <= 0 || sof <= 0 || sos <= 0) { free(orig); free(b); return; }

    /* over-subscribed code lengths: three codes of length 1, same total */
    memcpy(b, orig, len);
    int total = 0;
    for (int i = 0; i < 16; i++) total += b[dht + 5 + i];
    memset(b + dht + 5, 0, 16);
    b[dht + 5] = 3;
    b[dht + 5 + 15] = (uint8_t)(total - 3);
    CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "prefix") != NULL);

    /* quantisation table 3 is never defined */
    memcpy(b, orig, len);
    b[sof + 12] = 3; /* first component's Tq */
    CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "quantisation") != NULL);

    /* Huffman table 3 is never defined */
    memcpy(b, orig, len);
    b[sos + 6] = 0x33; /* first scan component's Td/Ta */
    CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "Huffman") != NULL);

    /* scan names a component the frame does not have */
    memcpy(b, orig, len);
    b[sos + 5] = 77;
    CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_FORMAT);

    /* SOF with two components */
    memcpy(b, orig, len);
    b[sof + 9] = 2;
    CHECK(gc_image_decode_jpeg(b, len, NULL, &img) != GC_OK && gc_last_error()[0]);

    CHECK_FAILS(gc_image_decode_jpeg(orig, 1, NULL, &img), GC_ERR_FORMAT);
    CHECK_FAILS(gc_image_decode_jpeg(NULL, len, NULL, &img), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_image_decode_jpeg(orig, len, NULL, NULL), GC_ERR_INVALID_ARGUMENT);
    free(orig);
    free(b);
}

TEST(refuses_malformed_progression) {
    gc_image img;
    size_t   len;
    uint8_t *orig = test_read_file(DIR "a_prog420_q95.jpg", &len), *b = malloc(len);
    long     sos = find_segment(orig, len, 0xDA);
    CHECK(sos > 0);
    if (!orig || sos <= 0) { free(orig); free(b); return; }
    int ns = orig[sos + 4];
    long ss = sos + 5 + 2 * ns; /* Ss, Se, Ah/Al follow the component list */
    CHECK(orig[ss] == 0 && orig[ss + 1] == 0);
    struct { int ss, se, ahal; } bad[] = {{0, 5, -1}, {1, 5, -1}, {3, 2, -1}, {0, 0, 0x0E}, {0, 0, 0x30}, {0, 0, 0x10}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(b, orig, len);
        b[ss] = (uint8_t)bad[i].ss;
        b[ss + 1] = (uint8_t)bad[i].se;
        if (bad[i].ahal >= 0) b[ss + 2] = (uint8_t)bad[i].ahal;
        CHECK_FAILS(gc_image_decode_jpeg(b, len, NULL, &img), GC_ERR_FORMAT);
    }
    CHECK_OK(gc_image_decode_jpeg(orig, len, NULL, &img));
    release(&img);
    free(orig);
    free(b);
}

TEST(tolerates_fill_bytes_and_trailing_data) {
    gc_image a, b2;
    size_t   len;
    uint8_t *orig = test_read_file(DIR "a_420_q95.jpg", &len);
    long     dqt = find_segment(orig, len, 0xDB);
    CHECK(dqt > 0);
    if (!orig || dqt <= 0) { free(orig); return; }
    /* 0xFF fill bytes before a marker (B.1.1.2) and junk after EOI */
    uint8_t *b = malloc(len + 8);
    memcpy(b, orig, (size_t)dqt);
    memset(b + dqt, 0xFF, 3);
    memcpy(b + dqt + 3, orig + dqt, len - (size_t)dqt);
    memcpy(b + len + 3, "junk!", 5);
    CHECK_OK(gc_image_decode_jpeg(orig, len, NULL, &a));
    CHECK_OK(gc_image_decode_jpeg(b, len + 8, NULL, &b2));
    CHECK(a.data && b2.data && memcmp(a.data, b2.data, 61 * 45 * 3) == 0);
    release(&b2);
    CHECK_OK(gc_image_decode(orig, len, NULL, &b2)); /* the dispatcher finds JPEG by signature */
    CHECK(b2.data && b2.width == 61 && memcmp(a.data, b2.data, 61 * 45 * 3) == 0);
    release(&a);
    release(&b2);
    free(b);
    free(orig);
}

/* ------------------------------------------------------------------------ */
/* Robustness                                                                */
/* ------------------------------------------------------------------------ */

static void truncate_everywhere(const char *path) {
    size_t   len;
    uint8_t *orig = test_read_file(path, &len);
    if (!orig) { FAILF("cannot read %s", path); return; }
    int bad = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *b = malloc(n ? n : 1); /* exact size so ASan sees any over-read */
        memcpy(b, orig, n);
        gc_image  img;
        gc_clear_error();
        gc_status st = gc_image_decode_jpeg(b, n, NULL, &img);
        if (st == GC_OK || !gc_last_error()[0] || img.data) bad++;
        if (st == GC_OK) release(&img);
        free(b);
    }
    if (bad) FAILF("%s: %d truncations accepted or failed without message", path, bad);
    free(orig);
}

TEST(truncated_files_refused) {
    truncate_everywhere(DIR "a_420_q95.jpg");
    truncate_everywhere(DIR "a_prog420_q95.jpg");
    truncate_everywhere(DIR "a_rst1_q75.jpg");
}

static void flip_bits(const char *path, int count, uint64_t seed) {
    size_t   len;
    uint8_t *orig = test_read_file(path, &len);
    if (!orig) { FAILF("cannot read %s", path); return; }
    gc_rng rng;
    gc_rng_seed(&rng, seed);
    int ok = 0, refused = 0;
    for (int i = 0; i < count; i++) {
        uint8_t *b = malloc(len);
        memcpy(b, orig, len);
        int nflip = 1 + (int)(gc_rng_next(&rng) % 4);
        for (int k = 0; k < nflip; k++) {
            uint64_t r = gc_rng_next(&rng);
            b[(r >> 3) % len] ^= (uint8_t)(1u << (r & 7));
        }
        gc_image  img;
        gc_clear_error();
        gc_status st = gc_image_decode_jpeg(b, len, NULL, &img);
        if (st == GC_OK) {
            ok++;
            if (!img.data || img.width < 1 || img.height < 1 || (img.channels != 1 && img.channels != 3))
                FAILF("%s flip %d: OK but image is %dx%dx%d", path, i, img.width, img.height, img.channels);
            release(&img);
        } else {
            refused++;
            if (!gc_last_error()[0]) FAILF("%s flip %d: %s without message", path, i, gc_status_string(st));
            if (img.data) FAILF("%s flip %d: failure left data", path, i);
        }
        free(b);
    }
    printf("  %s: %d bit-flipped copies decoded, %d refused\n", path, ok, refused);
    free(orig);
}

TEST(bit_flips_never_crash) {
    flip_bits(DIR "a_420_q95.jpg", 200, 1);
    flip_bits(DIR "a_prog420_q95.jpg", 200, 2);
    flip_bits(DIR "a_progrst_q75.jpg", 100, 3);
    flip_bits(DIR "b_rst3B_q75.jpg", 100, 4);
}

int main(void) {
    RUN(matches_djpeg);
    RUN(exif_orientation);
    RUN(refuses_unsupported_variants);
    RUN(limits_checked_before_allocation);
    RUN(refuses_bad_tables_and_scans);
    RUN(refuses_malformed_progression);
    RUN(tolerates_fill_bytes_and_trailing_data);
    RUN(truncated_files_refused);
    RUN(bit_flips_never_crash);
    return test_summary("jpeg");
}
