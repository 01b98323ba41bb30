/* test_pnm.c - PGM/PPM (P2/P3/P5/P6) decode against script-made fixtures
 * (checked with PIL), maxval scaling, writers, corrupt input. */
#include "test.h"
#include "common/ref_image.h"
#include "core/core.h"
#include <stdint.h>

#define NDIR "tests/data/pnm/"

static const char *fixtures[] = {"p5_255.pgm", "p6_255.ppm", "p2_255.pgm", "p3_255.ppm", "p5_65535.pgm",
                                 "p6_65535.ppm", "p5_1000.pgm", "p6_100.ppm", "p2_7.pgm", "p3_1.ppm", "p2_300.pgm"};
#define NFIX (int)(sizeof fixtures / sizeof fixtures[0])

TEST(decode_matches_reference) {
    for (int i = 0; i < NFIX; i++) {
        char path[256], rpath[256];
        size_t n;
        snprintf(path, sizeof path, NDIR "%s", fixtures[i]);
        snprintf(rpath, sizeof rpath, NDIR "%.*s.ref", (int)strlen(fixtures[i]) - 4, fixtures[i]);
        uint8_t *p = test_read_file(path, &n);
        gc_image img, ref;
        if (!p || !test_load_ref(rpath, &ref)) { FAILF("%s: fixture missing", fixtures[i]); free(p); continue; }
        gc_status st = gc_image_decode_pnm(p, n, NULL, &img);
        if (st) FAILF("%s: %s", fixtures[i], gc_last_error());
        else if (!test_same_image(&img, &ref)) FAILF("%s: pixels differ", fixtures[i]);
        gc_image_release(&img); gc_image_release(&ref); free(p);
    }
}

TEST(maxval_scaling_by_hand) {
    gc_image img;
    /* maxval 3: 0, 1, 2, 3 -> 0, 85, 170, 255; maxval 2: 1 -> (255 + 1) / 2 = 128 */
    static const char a[] = "P2 4 1 3 0 1 2 3";
    CHECK_OK(gc_image_decode_pnm(a, sizeof a - 1, NULL, &img));
    const uint8_t *d = img.data;
    CHECK(img.bit_depth == 8 && d[0] == 0 && d[1] == 85 && d[2] == 170 && d[3] == 255);
    gc_image_release(&img);
    static const char b[] = "P2 1 1 2 1";
    CHECK_OK(gc_image_decode_pnm(b, sizeof b - 1, NULL, &img));
    CHECK(((uint8_t *)img.data)[0] == 128);
    gc_image_release(&img);
    /* maxval 256 -> 16-bit: 128 -> (128 * 65535 + 128) / 256 = 32768 */
    static const uint8_t c[] = {'P', '5', ' ', '1', ' ', '1', ' ', '2', '5', '6', '\n', 0, 128};
    CHECK_OK(gc_image_decode_pnm(c, sizeof c, NULL, &img));
    CHECK(img.bit_depth == 16 && ((uint16_t *)img.data)[0] == 32768);
    gc_image_release(&img);
}

TEST(writers_round_trip) {
    gc_rng r;
    gc_rng_seed(&r, 21);
    for (int c = 1; c <= 3; c += 2) {
        for (int depth = 8; depth <= 16; depth += 8) {
            gc_image img, back;
            CHECK_OK(gc_image_alloc(&img, 7, 5, c, depth));
            size_t ns = (size_t)7 * 5 * c;
            for (size_t i = 0; i < ns; i++) {
                if (depth == 8) ((uint8_t *)img.data)[i] = (uint8_t)gc_rng_next(&r);
                else ((uint16_t *)img.data)[i] = (uint16_t)gc_rng_next(&r);
            }
            uint8_t *enc; size_t en;
            CHECK_OK(gc_image_encode_pnm(&img, &enc, &en));
            char head[32];
            snprintf(head, sizeof head, "P%c\n7 5\n%d\n", c == 1 ? '5' : '6', depth == 8 ? 255 : 65535);
            CHECK(en == strlen(head) + ns * (depth / 8) && memcmp(enc, head, strlen(head)) == 0);
            if (depth == 16) { /* big-endian samples */
                uint16_t v0 = ((uint16_t *)img.data)[0];
                CHECK(enc[strlen(head)] == v0 >> 8 && enc[strlen(head) + 1] == (v0 & 0xFF));
            }
            CHECK_OK(gc_image_decode_pnm(enc, en, NULL, &back));
            CHECK(test_same_image(&img, &back));
            gc_buffer_free(enc);
            gc_image_release(&back);
            CHECK_OK(gc_image_save_pnm(&img, "build/test_pnm_tmp.pnm"));
            CHECK_OK(gc_image_load("build/test_pnm_tmp.pnm", NULL, &back));
            CHECK(test_same_image(&img, &back));
            gc_image_release(&back); gc_image_release(&img);
        }
    }
    remove("build/test_pnm_tmp.pnm");
    gc_image ga;
    uint8_t *enc; size_t en;
    CHECK_OK(gc_image_alloc(&ga, 2, 2, 2, 8));
    CHECK_FAILS(gc_image_encode_pnm(&ga, &enc, &en), GC_ERR_UNSUPPORTED);
    CHECK_FAILS(gc_image_save_pnm(&ga, "/nonexistent_dir/x.pgm"), GC_ERR_UNSUPPORTED);
    gc_image_release(&ga);
    CHECK_OK(gc_image_alloc(&ga, 2, 2, 1, 8));
    CHECK_FAILS(gc_image_save_pnm(&ga, "/nonexistent_dir/x.pgm"), GC_ERR_IO);
    CHECK(strstr(gc_last_error(), "/nonexistent_dir/x.pgm") != NULL);
    gc_image_release(&ga);
}

TEST(refuses_bad_headers) {
    gc_image img;
    struct { const char *s; gc_status st; } bad[] = {
        {"P1 1 1 1", GC_ERR_UNSUPPORTED}, {"P4 1 1 x", GC_ERR_UNSUPPORTED}, {"P7\nWIDTH 1\n", GC_ERR_UNSUPPORTED},
        {"P9 1 1 255 x", GC_ERR_FORMAT}, {"P5", GC_ERR_FORMAT}, {"P5 3", GC_ERR_FORMAT},
        {"P5 1 1 0 x", GC_ERR_FORMAT}, {"P5 1 1 65536 xx", GC_ERR_FORMAT}, {"P5 0 1 255 ", GC_ERR_FORMAT},
        {"P5 -1 1 255 x", GC_ERR_FORMAT}, {"P5 2 2 255 xyz", GC_ERR_FORMAT}, {"P2 2 1 5 3 6", GC_ERR_FORMAT},
        {"P2 2 1 5 3 x", GC_ERR_FORMAT}, {"P2 2 1 5 3", GC_ERR_FORMAT}, {"P5 1 1 255", GC_ERR_FORMAT},
        {"P5 100000 100000 255 x", GC_ERR_LIMIT}, {"P6 99999999999 1 255 x", GC_ERR_FORMAT},
        {"P5x1 1 255 x", GC_ERR_FORMAT}, {"P3 1 1 255 1 2 3a", GC_ERR_FORMAT}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gc_clear_error();
        gc_status st = gc_image_decode_pnm(bad[i].s, strlen(bad[i].s), NULL, &img);
        if (st != bad[i].st) FAILF("\"%s\" -> %s (%s), expected %s", bad[i].s, gc_status_string(st), gc_last_error(), gc_status_string(bad[i].st));
        else if (!gc_last_error()[0] || img.data) FAILF("\"%s\": no message or data left", bad[i].s);
    }
    /* a raw sample above maxval */
    static const uint8_t over[] = {'P', '5', ' ', '1', ' ', '1', ' ', '9', '\n', 10};
    CHECK_FAILS(gc_image_decode_pnm(over, sizeof over, NULL, &img), GC_ERR_FORMAT);
    gc_image_limits lim = {10, 100};
    static const char ok[] = "P2 4 4 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
    CHECK_FAILS(gc_image_decode_pnm(ok, sizeof ok - 1, &lim, &img), GC_ERR_LIMIT);
    CHECK_OK(gc_image_decode_pnm(ok, sizeof ok - 1, NULL, &img));
    gc_image_release(&img);
}

TEST(truncated_and_flipped_never_crash) {
    gc_rng r;
    gc_rng_seed(&r, 8);
    int nomsg = 0, trunc_ok = 0;
    for (int i = 0; i < NFIX; i++) {
        char path[256];
        size_t n;
        snprintf(path, sizeof path, NDIR "%s", fixtures[i]);
        uint8_t *p = test_read_file(path, &n);
        if (!p) { FAILF("%s missing", path); continue; }
        for (size_t k = 0; k < n; k++) {
            gc_image img;
            gc_clear_error();
            gc_status st = gc_image_decode_pnm(p, k, NULL, &img);
            if (st == GC_OK) { trunc_ok += fixtures[i][1] >= '5'; gc_image_release(&img); }
            else if (!gc_last_error()[0] || img.data) nomsg++;
        }
        uint8_t *c = malloc(n);
        for (int t = 0; t < 300; t++) {
            memcpy(c, p, n);
            for (int f = 0, nf = 1 + (int)(gc_rng_next(&r) % 3); f < nf; f++)
                c[gc_rng_next(&r) % n] ^= (uint8_t)(1u << (gc_rng_next(&r) % 8));
            gc_image img;
            gc_clear_error();
            gc_status st = gc_image_decode_pnm(c, n, NULL, &img);
            if (st == GC_OK) gc_image_release(&img);
            else if (!gc_last_error()[0] || img.data) nomsg++;
        }
        free(c); free(p);
    }
    CHECK(nomsg == 0);
    CHECK(trunc_ok == 0); /* every truncated raw file fails (a plain one cut after its
                             last digit is complete: numbers may end at EOF) */
}

int main(void) {
    RUN(decode_matches_reference);
    RUN(maxval_scaling_by_hand);
    RUN(writers_round_trip);
    RUN(refuses_bad_headers);
    RUN(truncated_and_flipped_never_crash);
    return test_summary("pnm");
}
