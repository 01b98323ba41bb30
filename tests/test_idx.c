/* test_idx.c - the IDX reader (gc_idx_decode / gc_idx_load) against fixtures written by
 * Python's struct, gzip and zlib (tests/ref/make_idx_fixtures.py): every valid form decodes to
 * the values Python wrote, every hostile file is refused with its status and a message naming
 * the fault, every truncation is refused, and no single-byte change of a gzip file yields
 * values other than the original's (CRC-32). With the Fashion-MNIST package installed, its four
 * files decode to the sizes, class counts and pixel sums Python's gzip gives. */
#include "test.h"
#include <ctype.h>
#include <sys/stat.h>

#define DIR "tests/data/idx/"

static const char *status_name(gc_status s) {
    static const struct { gc_status s; const char *n; } t[] = {
        {GC_ERR_FORMAT, "GC_ERR_FORMAT"}, {GC_ERR_UNSUPPORTED, "GC_ERR_UNSUPPORTED"},
        {GC_ERR_LIMIT, "GC_ERR_LIMIT"}, {GC_ERR_IO, "GC_ERR_IO"}, {GC_OK, "GC_OK"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) if (t[i].s == s) return t[i].n;
    return "other";
}

static int empty(const gc_idx *a) { return a->ndim == 0 && a->count == 0 && a->data == NULL; }

typedef struct expect { char name[64]; int ndim; int64_t dims[4]; int64_t n; uint8_t *v; } expect;

/* Reads expected.txt: name ndim dims... hex. Returns the count (at most cap). */
static int read_expected(expect *e, int cap) {
    size_t len = 0;
    uint8_t *txt = test_read_file(DIR "expected.txt", &len);
    if (!txt) { FAILF("cannot read " DIR "expected.txt"); return 0; }
    char *s = (char *)txt, *save = NULL;
    s[len - 1] = 0;
    int k = 0;
    for (char *line = strtok_r(s, "\n", &save); line && k < cap; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        expect *x = &e[k];
        int off = 0;
        if (sscanf(line, "%63s %d%n", x->name, &x->ndim, &off) != 2) { FAILF("bad line %s", line); break; }
        char *p = line + off;
        x->n = 1;
        for (int d = 0; d < x->ndim; d++) { x->dims[d] = strtoll(p, &p, 10); x->n *= x->dims[d]; }
        while (*p == ' ') p++;
        if ((int64_t)strlen(p) != 2 * x->n) { FAILF("%s: hex length", x->name); break; }
        x->v = malloc((size_t)x->n);
        for (int64_t i = 0; i < x->n; i++) { unsigned b; sscanf(p + 2 * i, "%2x", &b); x->v[i] = (uint8_t)b; }
        k++;
    }
    free(txt);
    return k;
}

static int same(const gc_idx *a, const expect *x) {
    if (a->ndim != x->ndim || a->count != x->n) return 0;
    for (int d = 0; d < x->ndim; d++) if (a->dims[d] != x->dims[d]) return 0;
    return memcmp(a->data, x->v, (size_t)x->n) == 0;
}

static expect E[16];
static int n_expected;

TEST(valid_files) {
    CHECK(n_expected == 7);
    for (int k = 0; k < n_expected; k++) {
        char path[4096];
        snprintf(path, sizeof path, DIR "%s", E[k].name);
        gc_idx a;
        CHECK_OK(gc_idx_load(path, 0, &a));
        if (!same(&a, &E[k])) FAILF("%s: decoded values differ from Python's", E[k].name);
        gc_idx_release(&a);
        CHECK(empty(&a));
        size_t len = 0;
        uint8_t *buf = test_read_file(path, &len);
        if (!buf) { FAILF("cannot read %s", path); continue; }
        CHECK_OK(gc_idx_decode(buf, len, 0, &a));
        if (!same(&a, &E[k])) FAILF("%s (memory): decoded values differ from Python's", E[k].name);
        /* the limit is inclusive: exactly the value count passes, one less is refused */
        gc_idx b;
        CHECK_OK(gc_idx_decode(buf, len, E[k].n, &b));
        gc_idx_release(&b);
        CHECK_FAILS(gc_idx_decode(buf, len, E[k].n - 1 ? E[k].n - 1 : 0, &b), E[k].n - 1 ? GC_ERR_LIMIT : GC_OK);
        CHECK(empty(&b) || E[k].n == 1);
        gc_idx_release(&a);
        free(buf);
    }
}

TEST(hostile_files) {
    size_t len = 0;
    uint8_t *txt = test_read_file(DIR "hostile.txt", &len);
    if (!txt) { FAILF("cannot read " DIR "hostile.txt"); return; }
    char *s = (char *)txt, *save = NULL;
    s[len - 1] = 0;
    int n = 0;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char name[64], status[32];
        int off = 0;
        if (sscanf(line, "%63s %31s %n", name, status, &off) != 2) { FAILF("bad line %s", line); continue; }
        const char *words = line + off;
        char path[4096];
        snprintf(path, sizeof path, DIR "%s", name);
        for (int mb = 0; mb < 2; mb++) { /* default limit and 1 MiB */
            gc_idx a = {3, {1}, 1, (uint8_t *)1};
            gc_clear_error();
            gc_status st = gc_idx_load(path, mb ? 1 << 20 : 0, &a);
            if (strcmp(status_name(st), status))
                FAILF("%s (max_bytes %d): %s (%s), expected %s", name, mb ? 1 << 20 : 0, status_name(st),
                      gc_last_error(), status);
            else if (!strstr(gc_last_error(), words) || !strstr(gc_last_error(), name))
                FAILF("%s: message \"%s\" should name the file and say \"%s\"", name, gc_last_error(), words);
            if (!empty(&a)) FAILF("%s: output not emptied on failure", name);
        }
        n++;
    }
    CHECK(n == 25);
    free(txt);
}

/* Every proper prefix of a valid file is refused (never a short array). */
TEST(truncations) {
    for (int k = 0; k < n_expected; k++) {
        char path[4096];
        snprintf(path, sizeof path, DIR "%s", E[k].name);
        size_t len = 0;
        uint8_t *buf = test_read_file(path, &len);
        if (!buf) { FAILF("cannot read %s", path); continue; }
        for (size_t cut = 0; cut < len; cut++) {
            gc_idx a;
            uint8_t *copy = malloc(cut + 1); /* exact-size copy: ASan sees any over-read */
            memcpy(copy, buf, cut);
            gc_status st = gc_idx_decode(copy, cut, 0, &a);
            if (st != GC_ERR_FORMAT) FAILF("%s cut to %zu bytes: %s, expected GC_ERR_FORMAT", E[k].name, cut,
                                           status_name(st));
            if (!empty(&a)) FAILF("%s cut: output not empty", E[k].name);
            free(copy);
        }
        free(buf);
    }
}

/* Any one byte of a gzip fixture changed (three patterns per byte): refused with a message, or
 * decoded to exactly the original values (header bytes such as the time stamp do not matter). */
TEST(gzip_byte_changes) {
    int refused = 0, accepted = 0;
    for (int k = 0; k < n_expected; k++) {
        if (!strstr(E[k].name, ".gz")) continue;
        char path[4096];
        snprintf(path, sizeof path, DIR "%s", E[k].name);
        size_t len = 0;
        uint8_t *buf = test_read_file(path, &len);
        if (!buf) { FAILF("cannot read %s", path); continue; }
        size_t step = len > 600 ? len / 300 : 1;
        for (size_t i = 0; i < len; i += step) {
            static const uint8_t x[3] = {0x01, 0x80, 0xFF};
            for (int p = 0; p < 3; p++) {
                uint8_t *copy = malloc(len);
                memcpy(copy, buf, len);
                copy[i] ^= x[p];
                gc_idx a;
                gc_clear_error();
                gc_status st = gc_idx_decode(copy, len, 0, &a);
                if (st == GC_OK) {
                    accepted++;
                    if (!same(&a, &E[k])) FAILF("%s byte %zu ^ 0x%02x: wrong values accepted", E[k].name, i, x[p]);
                } else {
                    refused++;
                    if (!gc_last_error()[0]) FAILF("%s byte %zu: refused without a message", E[k].name, i);
                }
                gc_idx_release(&a);
                free(copy);
            }
        }
        free(buf);
    }
    printf("  gzip byte changes: %d refused, %d decoded to the original values\n", refused, accepted);
    CHECK(refused > 0);
}

TEST(arguments) {
    gc_idx a;
    uint8_t b[8] = {0};
    CHECK_FAILS(gc_idx_decode(NULL, 8, 0, &a), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_idx_decode(b, 8, -1, &a), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_idx_decode(b, 8, GC_IDX_MAX_BYTES_CAP + 1, &a), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_idx_decode(b, 8, 0, NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_idx_load(NULL, 0, &a), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_idx_load("tests/data/idx", 0, &a), GC_ERR_IO);
    CHECK(strstr(gc_last_error(), "not a regular file") != NULL);
    CHECK_FAILS(gc_idx_load(DIR "no-such-file.gz", 0, &a), GC_ERR_IO);
    CHECK(strstr(gc_last_error(), "no-such-file.gz") != NULL);
    /* a plain file far larger than the limit is refused before it is read */
    CHECK_FAILS(gc_idx_load(DIR "images10.idx.gz", 16, &a), GC_ERR_LIMIT);
    gc_idx_release(NULL);
}

/* The real data set, when its package is installed: sizes, balanced classes and pixel sums as
 * Python's gzip module reads them. */
TEST(fashion_mnist) {
    static const struct { const char *file; int ndim; int64_t n, sum; } F[4] = {
        {"train-images-idx3-ubyte.gz", 3, 60000, 3431114169LL}, {"train-labels-idx1-ubyte.gz", 1, 60000, 270000},
        {"t10k-images-idx3-ubyte.gz", 3, 10000, 573469082LL}, {"t10k-labels-idx1-ubyte.gz", 1, 10000, 45000}};
    const char *dir = "/usr/share/datasets/fashion-mnist/";
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        printf("  SKIP fashion_mnist: %s is missing (apt-get install dataset-fashion-mnist)\n", dir);
        return;
    }
    for (int f = 0; f < 4; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s", dir, F[f].file);
        gc_idx a;
        CHECK_OK(gc_idx_load(path, 0, &a));
        CHECK(a.ndim == F[f].ndim && a.dims[0] == F[f].n);
        if (a.ndim == 3) CHECK(a.dims[1] == 28 && a.dims[2] == 28);
        int64_t sum = 0, count[10] = {0};
        for (int64_t i = 0; i < a.count; i++) {
            sum += a.data[i];
            if (a.ndim == 1) count[a.data[i] < 10 ? a.data[i] : 0]++;
        }
        if (sum != F[f].sum) FAILF("%s: value sum %lld, Python's gzip gives %lld", F[f].file, (long long)sum,
                                   (long long)F[f].sum);
        for (int c = 0; a.ndim == 1 && c < 10; c++) CHECK(count[c] == F[f].n / 10);
        gc_idx_release(&a);
    }
}

int main(void) {
    n_expected = read_expected(E, 16);
    RUN(valid_files);
    RUN(hostile_files);
    RUN(truncations);
    RUN(gzip_byte_changes);
    RUN(arguments);
    RUN(fashion_mnist);
    for (int k = 0; k < n_expected; k++) free(E[k].v);
    return test_summary("idx");
}
