/* test_fuzz_corpus.c - replays the fuzzers' seed corpora and every
 * regression file (tests/fuzz/regressions/<harness>/) through the same
 * harness functions `make fuzz` runs; under `make SANITIZE=1 test` this is
 * the regression suite for crashes the fuzzers once found. */
#include "test.h"
#include <dirent.h>

#define LLVMFuzzerTestOneInput fuzz_jpeg
#include "fuzz/fuzz_jpeg.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_png
#include "fuzz/fuzz_png.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_pnm
#include "fuzz/fuzz_pnm.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_inflate
#include "fuzz/fuzz_inflate.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy
#include "fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_gcw
#include "fuzz/fuzz_gcw.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_conv
#include "fuzz/fuzz_conv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput

typedef int (*harness)(const uint8_t *, size_t);

/* Runs every file of dir through h; returns the number of files. */
static int replay(const char *dir, harness h) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        static uint8_t buf[1 << 22];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        h(buf, len);
        n++;
    }
    closedir(d);
    return n;
}

static void run_harness(const char *name, harness h) {
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
    int seeds = replay(dir, h);
    snprintf(dir, sizeof dir, "tests/fuzz/regressions/%s", name);
    int regressions = replay(dir, h);
    if (seeds == 0) FAILF("%s: no seed corpus found in tests/fuzz/corpus/%s", name, name);
    printf("  %-8s %d seeds, %d regression files replayed\n", name, seeds, regressions);
}

TEST(jpeg_corpus) { run_harness("jpeg", fuzz_jpeg); }
TEST(png_corpus) { run_harness("png", fuzz_png); }
TEST(pnm_corpus) { run_harness("pnm", fuzz_pnm); }
TEST(inflate_corpus) { run_harness("inflate", fuzz_inflate); }
TEST(npy_corpus) { run_harness("npy", fuzz_npy); }
TEST(gcw_corpus) { run_harness("gcw", fuzz_gcw); }
TEST(conv_corpus) { run_harness("conv", fuzz_conv); }
TEST(idx_corpus) { run_harness("idx", fuzz_idx); }

int main(void) {
    RUN(jpeg_corpus);
    RUN(png_corpus);
    RUN(pnm_corpus);
    RUN(inflate_corpus);
    RUN(npy_corpus);
    RUN(gcw_corpus);
    RUN(conv_corpus);
    RUN(idx_corpus);
    return test_summary("fuzz_corpus");
}
