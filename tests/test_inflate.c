/* test_inflate.c - checksums, inflate against Python zlib streams, deflate
 * round trips and ratios, corrupt streams and bombs. */
#include "test.h"
#include "core/core.h"
#include "image/deflate.h"
#include "common/shell.h"
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ZDIR "tests/data/png/zlib/"

TEST(checksums_known_values) {
    const uint8_t *s = (const uint8_t *)"123456789";
    CHECK(gc_crc32(0, s, 9) == 0xCBF43926u);   /* the CRC-32 check value */
    CHECK(gc_adler32(1, s, 9) == 0x091E01DEu); /* Adler-32 of "123456789" */
    CHECK(gc_crc32(gc_crc32(0, s, 4), s + 4, 5) == 0xCBF43926u);
    CHECK(gc_adler32(1, NULL, 0) == 1);
    /* long run of 0xFF: exercises the modulo batching against a naive sum */
    static uint8_t big[100000];
    memset(big, 0xFF, sizeof big);
    uint64_t a = 1, b = 0;
    for (size_t i = 0; i < sizeof big; i++) { a = (a + 0xFF) % 65521; b = (b + a) % 65521; }
    CHECK(gc_adler32(1, big, sizeof big) == (uint32_t)(b << 16 | a));
}

TEST(inflate_python_zlib_streams) {
    static const char *src[] = {"text", "random", "ramp", "zeros", "one", "empty"};
    static const char *var[] = {"_l0.z", "_l1.z", "_l2.z", "_l3.z", "_l4.z", "_l5.z", "_l6.z", "_l7.z", "_l8.z",
                                "_l9.z", "_fixed.z", "_huff.z", "_rle.z", "_sync.z", "_raw.raw"};
    const int nvar = (int)(sizeof var / sizeof var[0]);
    int files = 0;
    for (int i = 0; i < 6; i++) {
        char path[256];
        size_t bn, zn;
        snprintf(path, sizeof path, ZDIR "%s.bin", src[i]);
        uint8_t *bin = test_read_file(path, &bn);
        CHECK(bin != NULL);
        if (!bin) continue;
        for (int v = 0; v < nvar; v++) {
            snprintf(path, sizeof path, ZDIR "%s%s", src[i], var[v]);
            uint8_t *z = test_read_file(path, &zn);
            if (!z) continue;
            files++;
            uint8_t *out = NULL;
            size_t on = 0, used = 0;
            gc_status st = v == nvar - 1 ? gc_inflate_raw(z, zn, 1 << 20, 0, &out, &on, &used)
                                  : gc_inflate_zlib(z, zn, 1 << 20, 0, &out, &on);
            if (st) FAILF("%s: %s", path, gc_last_error());
            else {
                if (on != bn || memcmp(out, bin, bn)) FAILF("%s: decoded bytes differ", path);
                if (v == nvar - 1 && used != zn) FAILF("%s: consumed %zu of %zu", path, used, zn);
            }
            gc_free(out);
            free(z);
        }
        free(bin);
    }
    CHECK(files >= 46);
}

static void round_trip(const uint8_t *data, size_t n, int level, double max_ratio, const char *what) {
    uint8_t *z = NULL, *back = NULL;
    size_t zn = 0, bn = 0;
    gc_status st = gc_deflate_zlib(data, n, level, &z, &zn);
    if (st) { FAILF("%s level %d: deflate: %s", what, level, gc_last_error()); return; }
    st = gc_inflate_zlib(z, zn, n + 1, n, &back, &bn);
    if (st) FAILF("%s level %d: inflate: %s", what, level, gc_last_error());
    else if (bn != n || (n && memcmp(back, data, n))) FAILF("%s level %d: round trip differs", what, level);
    if (n && (double)zn / (double)n > max_ratio)
        FAILF("%s level %d: ratio %.4f > %.4f", what, level, (double)zn / (double)n, max_ratio);
    gc_free(z);
    gc_free(back);
}

TEST(deflate_round_trips) {
    gc_rng r;
    gc_rng_seed(&r, 5);
    size_t n = 300000;
    uint8_t *rnd = malloc(n), *rep = malloc(n), *txt = malloc(n);
    for (size_t i = 0; i < n; i++) rnd[i] = (uint8_t)gc_rng_next(&r);
    for (size_t i = 0; i < n; i++) rep[i] = (uint8_t)"abcabcabd-0123"[i % 14];
    /* words drawn at random: compressible but not periodic */
    static const char *w[] = {"grad ", "cam ", "relu ", "pool ", "conv ", "the ", "feature ", "map "};
    for (size_t i = 0; i < n;) {
        const char *s = w[gc_rng_next(&r) % 8];
        while (*s && i < n) txt[i++] = (uint8_t)*s++;
    }
    for (int lvl = 0; lvl <= 9; lvl++) {
        round_trip(rnd, 70000, lvl, 1.01, "random");
        round_trip(txt, 70000, lvl, lvl ? 0.45 : 1.01, "words");
        round_trip(rep, 70000, lvl, lvl ? 0.01 : 1.01, "periodic");
    }
    round_trip(rnd, n, 6, 1.001, "random");     /* stored blocks: <0.1% overhead */
    round_trip(txt, n, 9, 0.40, "words");
    round_trip(NULL, 0, 6, 1, "empty");
    round_trip((const uint8_t *)"Q", 1, 6, 20, "one byte");
    round_trip((const uint8_t *)"Q", 1, 0, 20, "one byte");
    /* every length 0..600 of the word data at level 6 (block edge cases) */
    for (size_t k = 0; k <= 600; k += 7) round_trip(txt, k, 6, 20, "short");
    free(rnd); free(rep); free(txt);
}

TEST(deflate_large_mixed) {
    size_t n = (3u << 20) / 2; /* 1.5 MB: many blocks, windows wrap many times */
    uint8_t *d = malloc(n);
    gc_rng r;
    gc_rng_seed(&r, 9);
    for (size_t i = 0; i < n; i++) {
        size_t seg = (i >> 14) % 3;
        d[i] = seg == 0 ? (uint8_t)gc_rng_next(&r) : seg == 1 ? (uint8_t)(i / 40) : (uint8_t)((i * 7) % 29);
    }
    round_trip(d, n, 6, 0.50, "mixed");
    round_trip(d, n, 1, 0.55, "mixed");
    free(d);
}

/* Matches that end exactly at the input's end, of every length modulo 8 (the match finder
 * compares 8 bytes at a time), long ones cut at 258, and a lazy match one byte on: round trips
 * at every level; then photo-like data (noise on a ramp with repeated rows, as a filtered
 * figure) at levels 1, 4, 6 and 9 also through Python's zlib when python3 is there. */
TEST(deflate_match_edges_and_python_zlib) {
    gc_rng r;
    gc_rng_seed(&r, 11);
    uint8_t base[700];
    for (size_t i = 0; i < sizeof base; i++) base[i] = (uint8_t)gc_rng_next(&r);
    uint8_t *d = malloc(4000);
    for (size_t extra = 1; extra <= 20; extra++)
        for (int lvl = 1; lvl <= 9; lvl++) {
            size_t n = 700 + 250 + extra; /* the tail repeats the start: a match of 250 + extra */
            memcpy(d, base, 700);
            memcpy(d + 700, base, n - 700);
            d[701] ^= 1; /* the match at 700 is short; the one at 702 is longer (lazy) */
            round_trip(d, n, lvl, 1.0, "tail match");
        }
    enum { W = 600, H = 40 };
    size_t n = (size_t)W * H;
    uint8_t *img = malloc(n);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            img[y * W + x] = (y % 5 == 4) ? img[(y - 1) * W + x] : (uint8_t)(x / 3 + y + (gc_rng_next(&r) % 9));
    round_trip(img, n, 6, 0.9, "photo-like");
    if (test_run("python3 -c 'import zlib' > /dev/null 2>&1")) {
        printf("  Python zlib part skipped: no python3\n");
        free(d); free(img);
        return;
    }
    char dir[] = "/tmp/gc_zlib_XXXXXX", p[64];
    if (!mkdtemp(dir)) { FAILF("mkdtemp"); free(d); free(img); return; }
    snprintf(p, sizeof p, "%s/raw", dir);
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(img, 1, n, f) == n);
    if (f) fclose(f);
    static const int levels[] = {1, 4, 6, 9};
    for (int k = 0; k < 4; k++) {
        uint8_t *z = NULL;
        size_t zn = 0;
        CHECK_OK(gc_deflate_zlib(img, n, levels[k], &z, &zn));
        snprintf(p, sizeof p, "%s/l%d.z", dir, levels[k]);
        f = fopen(p, "wb");
        CHECK(f && z && fwrite(z, 1, zn, f) == zn);
        if (f) fclose(f);
        gc_free(z);
        CHECK(test_run("python3 -c \"import sys, zlib\n"
                       "assert zlib.decompress(open(sys.argv[1], 'rb').read()) == open(sys.argv[2], 'rb').read()\" "
                       "%s/l%d.z %s/raw", dir, levels[k], dir) == 0);
    }
    test_run("rm -rf %s", dir);
    free(d);
    free(img);
}

TEST(inflate_rejects_bad_streams) {
    uint8_t *out = (uint8_t *)1;
    size_t on = 7;
    static const uint8_t type3[] = {0x78, 0x9C, 0x07, 0x00};
    CHECK_FAILS(gc_inflate_zlib(type3, sizeof type3, 100, 0, &out, &on), GC_ERR_FORMAT);
    CHECK(out == NULL && on == 0);
    static const uint8_t badhdr[] = {0x78, 0x9D, 0x03, 0x00};
    CHECK_FAILS(gc_inflate_zlib(badhdr, sizeof badhdr, 100, 0, &out, &on), GC_ERR_FORMAT);
    static const uint8_t dict[] = {0x78, 0xBB, 0, 0, 0, 0};
    CHECK_FAILS(gc_inflate_zlib(dict, sizeof dict, 100, 0, &out, &on), GC_ERR_UNSUPPORTED);
    /* stored block whose NLEN is not the complement */
    static const uint8_t stored[] = {0x01, 0x05, 0x00, 0x00, 0x00, 'a', 'b', 'c', 'd', 'e'};
    CHECK_FAILS(gc_inflate_raw(stored, sizeof stored, 100, 0, &out, &on, NULL), GC_ERR_FORMAT);
    /* fixed block starting with length 3 / distance 1: reaches before the start */
    static const uint8_t far[] = {0x03, 0x02, 0x00, 0x00};
    CHECK_FAILS(gc_inflate_raw(far, sizeof far, 100, 0, &out, &on, NULL), GC_ERR_FORMAT);
    CHECK(strstr(gc_last_error(), "distance") != NULL);
    /* the same with a literal first is fine: 'a' then copy 3 */
    uint8_t *c; size_t cn;
    CHECK_OK(gc_deflate_raw((const uint8_t *)"aaaa", 4, 6, &c, &cn));
    CHECK_OK(gc_inflate_raw(c, cn, 100, 0, &out, &on, NULL));
    CHECK(on == 4 && memcmp(out, "aaaa", 4) == 0);
    gc_free(out); gc_free(c);
    CHECK_FAILS(gc_inflate_zlib(NULL, 0, 100, 0, &out, &on), GC_ERR_FORMAT);
    CHECK_FAILS(gc_inflate_zlib(NULL, 0, 100, 0, NULL, &on), GC_ERR_INVALID_ARGUMENT);
}

TEST(inflate_bomb_hits_limit) {
    size_t n = 4u << 20;
    uint8_t *zeros = calloc(n, 1), *z, *out = NULL;
    size_t zn, on;
    CHECK_OK(gc_deflate_zlib(zeros, n, 9, &z, &zn));
    CHECK(zn < 8192); /* 4 MB of zeros is ~1000:1 */
    CHECK_FAILS(gc_inflate_zlib(z, zn, 1u << 20, 0, &out, &on), GC_ERR_LIMIT);
    CHECK(out == NULL);
    CHECK_OK(gc_inflate_zlib(z, zn, n, 0, &out, &on));
    CHECK(on == n);
    gc_free(out);
    gc_free(z);
    free(zeros);
}

TEST(inflate_survives_corruption) {
    size_t bn, zn;
    uint8_t *bin = test_read_file(ZDIR "text.bin", &bn), *z = test_read_file(ZDIR "text_l9.z", &zn);
    CHECK(bin && z);
    if (!bin || !z) { free(bin); free(z); return; }
    int ok = 0, failed = 0, nomsg = 0;
    for (size_t k = 0; k < zn; k++) { /* every truncation */
        uint8_t *out = NULL; size_t on;
        gc_clear_error();
        gc_status st = gc_inflate_zlib(z, k, 1 << 20, 0, &out, &on);
        if (st == GC_OK) ok++; else { failed++; if (!gc_last_error()[0]) nomsg++; }
        gc_free(out);
    }
    CHECK(ok == 0 && failed == (int)zn && nomsg == 0);
    gc_rng r;
    gc_rng_seed(&r, 77);
    uint8_t *c = malloc(zn);
    int wrong = 0;
    for (int t = 0; t < 2000; t++) { /* random bit flips: never a silent wrong answer */
        memcpy(c, z, zn);
        int flips = 1 + (int)(gc_rng_next(&r) % 3);
        for (int f = 0; f < flips; f++) { size_t at = gc_rng_next(&r) % zn; c[at] ^= (uint8_t)(1u << (gc_rng_next(&r) % 8)); }
        uint8_t *out = NULL; size_t on;
        gc_clear_error();
        gc_status st = gc_inflate_zlib(c, zn, 1 << 20, 0, &out, &on);
        if (st == GC_OK && (on != bn || memcmp(out, bin, bn))) wrong++; /* Adler-32 should catch it */
        if (st != GC_OK && !gc_last_error()[0]) nomsg++;
        gc_free(out);
    }
    CHECK(wrong == 0 && nomsg == 0);
    free(c); free(bin); free(z);
}

int main(void) {
    RUN(checksums_known_values);
    RUN(inflate_python_zlib_streams);
    RUN(deflate_round_trips);
    RUN(deflate_large_mixed);
    RUN(deflate_match_edges_and_python_zlib);
    RUN(inflate_rejects_bad_streams);
    RUN(inflate_bomb_hits_limit);
    RUN(inflate_survives_corruption);
    return test_summary("inflate");
}
