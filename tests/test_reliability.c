/* test_reliability.c - the library side of issue 14: gc_quote, the one
 * routine that makes input-derived text safe for a message, and the messages
 * that use it (.npy headers, PNM magic, paths); directories given as files. */
#include "test.h"
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- quoting */

TEST(quote) {
    char b[64];
    CHECK(strcmp(gc_quote(b, sizeof b, "abc", 3), "abc") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, "a\nb\x1b[31m", 8), "a\\x0ab\\x1b[31m") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, "a\\b", 3), "a\\\\b") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, "\xff\x7f\x00z", 4), "\\xff\\x7f\\x00z") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, NULL, 5), "") == 0);
    /* cut at an escape boundary, marked with "..." */
    CHECK(strcmp(gc_quote(b, 10, "abcdefghijk", 11), "abcdef...") == 0);
    CHECK(strcmp(gc_quote(b, 10, "abcde\x01xyz", 9), "abcde...") == 0);
    CHECK(strcmp(gc_quote(b, 10, "abcdefghi", 9), "abcdefghi") == 0); /* fits exactly */
    CHECK(strcmp(gc_quote(b, 3, "abcdef", 6), "") == 0);
    CHECK(strcmp(gc_quote(b, 1, "abc", 3), "") == 0);
    /* every byte value: the result is printable ASCII */
    char all[256], big[1100];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    gc_quote(big, sizeof big, all, 256);
    int printable = 1;
    for (const char *p = big; *p; p++) printable &= *p >= 0x20 && *p < 0x7f;
    CHECK(printable && strlen(big) == 4 * (256 - 95) + 95 + 1);
}

static int has(const char *needle) {
    if (strstr(gc_last_error(), needle)) return 1;
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", gc_last_error(), needle);
    return 0;
}

static int message_is_printable(void) {
    for (const char *p = gc_last_error(); *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) return 0;
    return 1;
}

/* A crafted .npy header: its text reached the terminal raw (issue 14). */
TEST(npy_header_text_is_quoted) {
    static const char *heads[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '\n\x1b[2J\x1b[31mred': 1}",
        "{'descr': '\x1b]0;title\x07', 'fortran_order': False, 'shape': (1,), }",
    };
    static const char *want[] = {"'\\x0a\\x1b[2J\\x1b[31mred'", "'\\x1b]0;title\\x07'"};
    for (int k = 0; k < 2; k++) {
        uint8_t buf[256];
        size_t n = strlen(heads[k]);
        memcpy(buf, "\x93NUMPY\x01\x00", 8);
        buf[8] = (uint8_t)n, buf[9] = 0;
        memcpy(buf + 10, heads[k], n);
        memset(buf + 10 + n, 0, 4);
        gc_tensor t;
        gc_status st = gc_npy_load_memory(buf, 10 + n + 4, &t);
        CHECK(st == GC_ERR_FORMAT || st == GC_ERR_UNSUPPORTED);
        CHECK(message_is_printable() && has(want[k]));
    }
}

TEST(pnm_magic_is_quoted) {
    gc_image img;
    CHECK_FAILS(gc_image_decode_pnm("P\x1b 1 1 255\n\0", 13, NULL, &img), GC_ERR_FORMAT);
    CHECK(message_is_printable() && has("P\\x1b"));
}

/* A directory given where a file is expected: was "file of 9223372036854775807 bytes" (issue 14). */
TEST(directories_are_not_files) {
    char dir[] = "/tmp/test_reliability_XXXXXX", sub[64];
    if (!mkdtemp(dir)) { CHECK(0); return; }
    snprintf(sub, sizeof sub, "%s/x\x1b[31m.png", dir);
    CHECK(mkdir(sub, 0700) == 0);
    gc_image img;
    gc_tensor t;
    CHECK_FAILS(gc_image_load(sub, NULL, &img), GC_ERR_IO);
    CHECK(has("not a regular file") && !strstr(gc_last_error(), "9223372036854775807") && message_is_printable());
    CHECK_FAILS(gc_npy_load(sub, &t), GC_ERR_IO);
    CHECK(has("not a regular file") && message_is_printable());
    gc_model *m = NULL;
    CHECK_FAILS(gc_model_open(dir, &m), GC_ERR_IO);
    CHECK(has("not a regular file"));
    rmdir(sub);
    rmdir(dir);
}

int main(void) {
    RUN(quote);
    RUN(npy_header_text_is_quoted);
    RUN(pnm_magic_is_quoted);
    RUN(directories_are_not_files);
    return test_summary("reliability");
}
