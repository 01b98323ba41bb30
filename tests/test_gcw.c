/* test_gcw.c - .gcw save/open round trips, corrupt and truncated files, .npy I/O. */
#include "test.h"
#include "net/gcw.h"
#include <stdint.h>
#include <unistd.h>

/* A mutated file may hold valid but absurd sizes (an adaptive pool of 10^7 x
 * 10^7): the session must then fail with GC_ERR_OUT_OF_MEMORY, which under
 * AddressSanitizer needs allocator_may_return_null. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* ---------------------------------------------------------------- helpers */

static const char *LABELS[5] = {"tench", "goldfish", "great white shark", "tiger shark", "hammerhead \xc3\xa9"};

/* Every layer kind: conv(bias) bn relu maxpool avgpool lrn conv(no bias, groups)
 * adaptive flatten dropout linear linear(no bias) softmax. 5 outputs. */
static gc_model *make_model(void) {
    gc_model *m = NULL;
    if (gc_model_create(&m)) return NULL;
    gc_conv2d_params c1 = gc_conv2d_defaults(3, 4, 3);
    c1.pad_h = 1, c1.pad_w = 2, c1.stride_w = 2;
    float mean[4] = {0.1f, -0.2f, 0.3f, 0.0f}, var[4] = {1.5f, 0.5f, 2.0f, 1.0f};
    float gam[4] = {1.1f, 0.9f, 1.0f, 1.2f}, bet[4] = {0.01f, 0.02f, -0.03f, 0.0f};
    gc_batchnorm2d_params bn = {4, 1e-3f};
    gc_pool2d_params mp = gc_pool2d_defaults(2), ap = gc_pool2d_defaults(3);
    mp.ceil_mode = 1;
    ap.stride_h = ap.stride_w = 1, ap.pad_h = ap.pad_w = 1, ap.count_include_pad = 0;
    gc_lrn_params lrn = {3, 2e-4f, 0.75f, 1.5f};
    gc_conv2d_params c2 = gc_conv2d_defaults(4, 6, 1);
    c2.groups = 2, c2.bias = 0;
    gc_adaptive_pool2d_params ad = {2, 3};
    gc_linear_params l1 = {36, 7, 1}, l2 = {7, 5, 0};
    int bad = gc_model_add_conv2d(m, "c1", NULL, &c1, NULL, NULL) ||
              gc_model_add_batchnorm2d(m, "bn", NULL, &bn, gam, bet, mean, var) ||
              gc_model_add_relu(m, "r1", NULL) || gc_model_add_maxpool2d(m, "mp", NULL, &mp) ||
              gc_model_add_avgpool2d(m, "ap", NULL, &ap) || gc_model_add_lrn(m, "lrn", NULL, &lrn) ||
              gc_model_add_conv2d(m, "c2", "lrn", &c2, NULL, NULL) ||
              gc_model_add_adaptive_avgpool2d(m, "ad", NULL, &ad) || gc_model_add_flatten(m, "flatten", NULL) ||
              gc_model_add_dropout(m, "drop", NULL, 0.25f) || gc_model_add_linear(m, "fc1", NULL, &l1, NULL, NULL) ||
              gc_model_add_linear(m, "fc2", "fc1", &l2, NULL, NULL) || gc_model_add_softmax(m, "prob", NULL) ||
              gc_model_init_random(m, 7);
    gc_preprocess p = {96, 80, 0, GC_COLOR_BGR, 1.0f, {103.939f, 116.779f, 123.68f}, {1, 1, 1}};
    bad = bad || gc_model_set_preprocess(m, &p) || gc_model_set_labels(m, 5, LABELS);
    if (bad) {
        fprintf(stderr, "make_model: %s\n", gc_last_error());
        gc_model_free(m);
        return NULL;
    }
    return m;
}

static void check_same(const gc_model *a, const gc_model *b) {
    CHECK(a->n_layers == b->n_layers);
    for (int i = 0; i < a->n_layers && i < b->n_layers; i++) {
        const gc_layer *x = &a->layers[i], *y = &b->layers[i];
        char hx[512], hy[512];
        gc_gcw_format_hparams(x, hx, sizeof hx);
        gc_gcw_format_hparams(y, hy, sizeof hy);
        CHECK(strcmp(x->name, y->name) == 0 && x->kind == y->kind && x->n_inputs == y->n_inputs);
        for (int k = 0; k < x->n_inputs && k < y->n_inputs; k++) CHECK(x->inputs[k] == y->inputs[k]);
        CHECK(gc_model_layer_alias_count(a, i) == gc_model_layer_alias_count(b, i));
        for (int k = 0; k < gc_model_layer_alias_count(a, i); k++)
            CHECK(strcmp(gc_model_layer_alias(a, i, k), gc_model_layer_alias(b, i, k)) == 0);
        CHECK(strcmp(hx, hy) == 0);
        CHECK(x->n_params == y->n_params);
        for (int j = 0; j < x->n_params && j < y->n_params; j++) {
            CHECK(memcmp(&x->param_shape[j], &y->param_shape[j], sizeof x->param_shape[j]) == 0);
            CHECK(memcmp(x->param[j], y->param[j], (size_t)gc_shape_numel(&x->param_shape[j]) * 4) == 0);
            CHECK((uintptr_t)y->param[j] % 64 == 0);
        }
    }
    /* float hyper-parameters exactly (the string above prints %g) */
    CHECK(a->layers[1].p.bn.eps == b->layers[1].p.bn.eps);
    CHECK(a->layers[5].p.lrn.alpha == b->layers[5].p.lrn.alpha && a->layers[5].p.lrn.beta == b->layers[5].p.lrn.beta &&
          a->layers[5].p.lrn.k == b->layers[5].p.lrn.k);
    CHECK(a->layers[9].p.dropout_p == b->layers[9].p.dropout_p);
    CHECK(memcmp(&a->pre, &b->pre, sizeof a->pre) == 0);
    CHECK(a->n_labels == b->n_labels);
    for (int i = 0; i < a->n_labels && i < b->n_labels; i++) CHECK(strcmp(a->labels[i], b->labels[i]) == 0);
}

static int has(const char *needle) { return strstr(gc_last_error(), needle) != NULL; }

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* First occurrence of the n bytes at s (string literals may hold NULs: see FIND). */
static uint8_t *findn(uint8_t *buf, size_t len, const char *s, size_t n) {
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, s, n) == 0) return buf + i;
    return NULL;
}
#define find(buf, len, lit) findn(buf, len, lit, sizeof(lit) - 1)

/* Opens a patched copy; returns the status (model freed). */
static gc_status open_copy(const uint8_t *buf, size_t len, void (*patch)(uint8_t *, size_t)) {
    uint8_t *c = malloc(len);
    memcpy(c, buf, len);
    if (patch) patch(c, len);
    gc_model *m = (gc_model *)1;
    gc_clear_error();
    gc_status st = gc_model_open_memory(c, len, &m);
    if (st && m) FAILF("failed open left *out non-NULL");
    if (st && !gc_last_error()[0]) FAILF("failed open without a message");
    gc_model_free(st ? NULL : m);
    free(c);
    return st;
}

/* Directory entry i: returns a pointer to it (name length first). */
static uint8_t *dir_entry(uint8_t *b, int i) {
    uint8_t *p = b + rd64(b + 48);
    for (int k = 0; k < i; k++) {
        uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8;
        p += 4 + n + 8 + 32 + 16;
    }
    return p;
}
static uint8_t *entry_off(uint8_t *e) { return e + 4 + e[0] + 8 + 32; }

/* ---------------------------------------------------------------- round trips */

TEST(round_trip_memory_and_file) {
    gc_model *m = make_model();
    CHECK(m != NULL);
    if (!m) return;
    void *buf;
    size_t len;
    CHECK_OK(gc_model_save_memory(m, &buf, &len));
    gc_model *r;
    CHECK_OK(gc_model_open_memory(buf, len, &r));
    if (r) { check_same(m, r); gc_model_free(r); }

    char path[] = "/tmp/test_gcw_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_OK(gc_model_save(m, path));
    CHECK_OK(gc_model_open(path, &r));
    if (r) {
        check_same(m, r);
        /* parameters live in the mapping: not copied, 64-byte aligned */
        const char *lo = r->backing, *hi = lo + r->backing_len;
        const char *w = (const char *)r->layers[0].param[0];
        CHECK(r->borrowed && w >= lo && w < hi);
        CHECK(r->backing_len == len);
        CHECK_FAILS(gc_model_init_random(r, 1), GC_ERR_STATE);
        /* save of a mapped model reproduces the same bytes */
        void *b2;
        size_t l2;
        CHECK_OK(gc_model_save_memory(r, &b2, &l2));
        CHECK(l2 == len && memcmp(b2, buf, len) == 0);
        gc_model_buffer_free(b2);
        gc_model_free(r);
    }
    FILE *f = fopen(path, "rb");
    uint8_t *fb = malloc(len + 1);
    size_t got = f ? fread(fb, 1, len + 1, f) : 0;
    if (f) fclose(f);
    CHECK(got == len && memcmp(fb, buf, len) == 0);
    free(fb);
    unlink(path);
    gc_model_buffer_free(buf);
    gc_model_free(m);
}

TEST(forward_matches_after_reopen) {
    gc_model *m = make_model(), *r = NULL;
    if (!m) { CHECK(0); return; }
    void *buf;
    size_t len;
    CHECK_OK(gc_model_save_memory(m, &buf, &len));
    CHECK_OK(gc_model_open_memory(buf, len, &r));
    gc_model_buffer_free(buf);
    gc_session_config cfg = {.batch = 2, .channels = 3, .height = 11, .width = 13};
    gc_session *s1 = NULL, *s2 = NULL;
    CHECK_OK(gc_session_create(m, &cfg, &s1));
    CHECK_OK(gc_session_create(r, &cfg, &s2));
    if (s1 && s2) {
        float x[2 * 3 * 11 * 13];
        for (int i = 0; i < 2 * 3 * 11 * 13; i++) x[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
        gc_tensor y1, y2;
        CHECK_OK(gc_session_forward(s1, x));
        CHECK_OK(gc_session_forward(s2, x));
        CHECK_OK(gc_session_output(s1, &y1));
        CHECK_OK(gc_session_output(s2, &y2));
        CHECK(gc_tensor_numel(&y1) == 10 && gc_tensor_numel(&y2) == 10);
        CHECK(memcmp(y1.data, y2.data, 10 * sizeof(float)) == 0);
    }
    gc_session_free(s1);
    gc_session_free(s2);
    gc_model_free(r);
    gc_model_free(m);
}

/* The read() path gc_model_open falls back to when mmap fails: same model, a private copy
 * (overwriting the file afterwards changes nothing, as it would through a mapping), the
 * same refusals. */
TEST(read_fallback) {
    gc_model *m = make_model(), *r = NULL;
    if (!m) { CHECK(0); return; }
    char path[] = "/tmp/test_gcw_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_OK(gc_model_save(m, path));
    CHECK_OK(gc_gcw_open_unmapped(path, &r));
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        for (long i = 0; i < n; i++) fputc(0xFF, f);
        fclose(f);
    }
    if (r) {
        check_same(m, r);
        const char *lo = r->backing, *w = (const char *)r->layers[0].param[0];
        CHECK(r->borrowed && w >= lo && w < lo + r->backing_len && ((uintptr_t)w & 63) == 0);
        gc_model_free(r);
    }
    f = fopen(path, "wb");   /* a truncated file and an empty one */
    CHECK(f != NULL);
    if (f) { fwrite("GCW", 1, 3, f); fclose(f); }
    CHECK_FAILS(gc_gcw_open_unmapped(path, &r), GC_ERR_FORMAT);
    CHECK(r == NULL);
    f = fopen(path, "wb");
    if (f) fclose(f);
    CHECK_FAILS(gc_gcw_open_unmapped(path, &r), GC_ERR_FORMAT);
    CHECK_FAILS(gc_gcw_open_unmapped("/nonexistent/x.gcw", &r), GC_ERR_IO);
    unlink(path);
    gc_model_free(m);
}

TEST(written_layout_matches_spec) {
    gc_model *m = make_model();
    if (!m) { CHECK(0); return; }
    void *vb;
    size_t len;
    CHECK_OK(gc_model_save_memory(m, &vb, &len));
    uint8_t *b = vb;
    CHECK(memcmp(b, "\x89GCW\r\n\x1a\n", 8) == 0);
    CHECK(b[8] == 2 && b[12] == 128 && rd64(b + 16) == len);
    CHECK(b[24] == 13 && b[28] == 2 + 4 + 1 + 2 + 1); /* layers; tensors c1(2) bn(4) c2(1) fc1(2) fc2(1) */
    uint64_t data_off = rd64(b + 80), data_size = rd64(b + 88);
    CHECK(data_off % 64 == 0 && data_off + data_size == len);
    /* first tensor c1.weight: 4x3x3x5 floats at data offset 0, stored as is */
    uint8_t *e = dir_entry(b, 0);
    CHECK(e[0] == 9 && memcmp(e + 4, "c1.weight", 9) == 0);
    CHECK(rd64(entry_off(e)) == 0 && rd64(entry_off(e) + 8) == 4 * 3 * 3 * 3 * 4);
    CHECK(memcmp(b + data_off, m->layers[0].param[0], 4 * 3 * 3 * 3 * 4) == 0);
    for (int i = 0; i < 10; i++) CHECK(rd64(entry_off(dir_entry(b, i))) % 64 == 0);
    gc_model_buffer_free(vb);
    gc_model_free(m);
}

/* ---------------------------------------------------------------- corrupt files */

static uint8_t *g_buf;
static size_t g_len;

static void p_magic(uint8_t *b, size_t n) { (void)n; b[3] = 'X'; }
static void p_version3(uint8_t *b, size_t n) { (void)n; b[8] = 3; }
static void p_version0(uint8_t *b, size_t n) { (void)n; b[8] = 0; }
static void p_reserved(uint8_t *b, size_t n) { (void)n; b[120] = 1; }
static void p_data_unaligned(uint8_t *b, size_t n) { (void)n; wr64(b + 80, rd64(b + 80) - 8); wr64(b + 88, rd64(b + 88) + 8); }
static void p_graph_huge(uint8_t *b, size_t n) { (void)n; wr64(b + 40, UINT64_MAX - 64); }
static void p_meta_off_wrap(uint8_t *b, size_t n) { (void)n; wr64(b + 64, UINT64_MAX - 8); }
static void p_tensor_out(uint8_t *b, size_t n) { (void)n; wr64(entry_off(dir_entry(b, 2)), rd64(b + 88)); }
static void p_tensor_overlap(uint8_t *b, size_t n) { (void)n; wr64(entry_off(dir_entry(b, 1)), 0); }
static void p_tensor_misaligned(uint8_t *b, size_t n) { (void)n; wr64(entry_off(dir_entry(b, 1)), 4); }
static void p_tensor_nbytes(uint8_t *b, size_t n) { (void)n; wr64(entry_off(dir_entry(b, 1)) + 8, 8); }
static void p_tensor_dtype(uint8_t *b, size_t n) { (void)n; uint8_t *e = dir_entry(b, 0); e[4 + e[0]] = 1; }
/* c1.weight 4x3x3x3 -> 4x3x3x2 (nbytes kept consistent): a shape mismatch */
static void p_shape(uint8_t *b, size_t n) {
    (void)n;
    uint8_t *e = dir_entry(b, 0), *sh = e + 4 + e[0] + 8;
    wr64(sh + 24, 2);
    wr64(entry_off(e) + 8, 4 * 3 * 3 * 2 * 4);
}
static void p_kind(uint8_t *b, size_t n) { uint8_t *p = find(b, 4096 < n ? 4096 : n, "lrn"); if (p) p[2] = 'x'; }
/* The 3rd str "lrn" is c2's input (1st: the lrn layer's kind, 2nd: its name). */
static uint8_t *c2_input(uint8_t *b, size_t n) {
    uint8_t *p = b;
    for (int k = 0; k < 3 && p; k++) p = find(p + (k ? 7 : 0), n - (size_t)(p + (k ? 7 : 0) - b), "\x03\0\0\0lrn");
    return p;
}
static void p_input(uint8_t *b, size_t n) { uint8_t *p = c2_input(b, n); if (p) memcpy(p + 4, "zzz", 3); }
static void p_forward_ref(uint8_t *b, size_t n) { uint8_t *p = c2_input(b, n); if (p) memcpy(p + 4, "fc1", 3); }
static void p_dup_name(uint8_t *b, size_t n) { uint8_t *p = find(b, n, "\x02\0\0\0r1"); if (p) memcpy(p + 4, "mp", 2); }
static void p_hparam_bad(uint8_t *b, size_t n) {
    /* c2 groups=2 -> 3 (does not divide 4 in_channels) */
    uint8_t *p = find(b, n, "\x06\0\0\0groups");
    if (p) p = find(p + 10, n - (size_t)(p + 10 - b), "\x06\0\0\0groups");
    if (p) p[10 + 4] = 3;
}
static void p_hparam_key(uint8_t *b, size_t n) { uint8_t *p = find(b, n, "ceil_mode"); if (p) p[0] = 'k'; }
static void p_bool(uint8_t *b, size_t n) { uint8_t *p = find(b, n, "ceil_mode"); if (p) p[9 + 4] = 2; }
static void p_name_space(uint8_t *b, size_t n) { uint8_t *p = find(b, n, "\x02\0\0\0ad"); if (p) p[5] = ' '; }
static void p_label_ctrl(uint8_t *b, size_t n) { uint8_t *p = find(b, n, "goldfish"); if (p) p[3] = '\n'; }
static void p_label_count(uint8_t *b, size_t n) {
    uint8_t *p = find(b, n, "\x05\0\0\0tench") ;
    if (p) p[-4 + 0] = 6; /* n_labels 5 -> 6: runs out of section */
}
static void p_order(uint8_t *b, size_t n) { (void)n; b[rd64(b + 64) + 12] = 7; }
static void p_std0(uint8_t *b, size_t n) { (void)n; memset(b + rd64(b + 64) + 32, 0, 4); }

TEST(corrupt_files_are_refused_with_a_message) {
    gc_model *m = make_model();
    if (!m) { CHECK(0); return; }
    CHECK_OK(gc_model_save_memory(m, (void **)&g_buf, &g_len));
    gc_model_free(m);
    CHECK(open_copy(g_buf, g_len, NULL) == GC_OK);

    struct { void (*f)(uint8_t *, size_t); gc_status st; const char *msg; } cases[] = {
        {p_magic, GC_ERR_FORMAT, "magic"},
        {p_version3, GC_ERR_UNSUPPORTED, "version"},
        {p_version0, GC_ERR_FORMAT, "version"},
        {p_reserved, GC_ERR_FORMAT, "reserved"},
        {p_data_unaligned, GC_ERR_FORMAT, "multiple of 64"},
        {p_graph_huge, GC_ERR_FORMAT, "graph section"},
        {p_meta_off_wrap, GC_ERR_FORMAT, "metadata section"},
        {p_tensor_out, GC_ERR_FORMAT, "outside the data section"},
        {p_tensor_overlap, GC_ERR_FORMAT, "overlap"},
        {p_tensor_misaligned, GC_ERR_FORMAT, "multiple of 64"},
        {p_tensor_nbytes, GC_ERR_FORMAT, "does not match its shape"},
        {p_tensor_dtype, GC_ERR_FORMAT, "dtype"},
        {p_shape, GC_ERR_FORMAT, "c1.weight: shape 4x3x3x3 expected, file has 4x3x3x2"},
        {p_kind, GC_ERR_FORMAT, "unknown layer kind \"lrx\""},
        {p_input, GC_ERR_FORMAT, "\"zzz\" is not an earlier layer"},
        {p_forward_ref, GC_ERR_FORMAT, "\"fc1\" is not an earlier layer"},
        {p_dup_name, GC_ERR_FORMAT, "mp"},
        {p_hparam_bad, GC_ERR_FORMAT, "c2: conv2d: groups"},
        {p_hparam_key, GC_ERR_FORMAT, "keil_mode"},
        {p_bool, GC_ERR_FORMAT, "ceil_mode must be 0 or 1"},
        {p_name_space, GC_ERR_FORMAT, "name"},
        {p_label_ctrl, GC_ERR_FORMAT, "label 1"},
        {p_label_count, GC_ERR_FORMAT, "label"},
        {p_order, GC_ERR_FORMAT, "colour order"},
        {p_std0, GC_ERR_FORMAT, "std"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc_status st = open_copy(g_buf, g_len, cases[i].f);
        if (st != cases[i].st || !has(cases[i].msg))
            FAILF("case %zu: got %s \"%s\", expected %s with \"%s\"", i, gc_status_string(st), gc_last_error(),
                  gc_status_string(cases[i].st), cases[i].msg);
    }
}

TEST(every_truncation_is_refused) {
    if (!g_buf) { CHECK(0); return; }
    int bad = 0;
    for (size_t n = 0; n < g_len; n++) {
        if (open_copy(g_buf, n, NULL) != GC_ERR_FORMAT) bad++;
        /* the same with the header's file size patched to agree */
        uint8_t *c = malloc(g_len);
        memcpy(c, g_buf, g_len);
        if (n >= 24) wr64(c + 16, n);
        gc_model *m;
        gc_clear_error();
        gc_status st = gc_model_open_memory(c, n, &m);
        if (st != GC_ERR_FORMAT || !gc_last_error()[0]) bad++;
        if (!st) gc_model_free(m);
        free(c);
    }
    CHECK(bad == 0);
}

TEST(bit_flips_never_crash) {
    if (!g_buf) { CHECK(0); return; }
    size_t head = (size_t)rd64(g_buf + 80); /* everything before the data */
    int refused = 0, total = 0;
    for (size_t i = 0; i < head; i++)
        for (int bit = 0; bit < 8; bit++) {
            g_buf[i] ^= (uint8_t)(1u << bit);
            gc_status st = open_copy(g_buf, g_len, NULL); /* checks message on failure */
            g_buf[i] ^= (uint8_t)(1u << bit);
            refused += st != GC_OK;
            total++;
        }
    /* most flips must be caught; the rest change a value that is still valid
     * (label text, float hyper-parameters, padding) */
    CHECK(refused > total / 2);
    CHECK(open_copy(g_buf, g_len, NULL) == GC_OK);
}

/* Random 1..4-byte overwrites of the head; a file that still opens must also
 * plan (or be refused with a message) and run (when its session is small). */
TEST(random_mutations_never_crash) {
    if (!g_buf) { CHECK(0); return; }
    size_t head = (size_t)rd64(g_buf + 80);
    uint64_t r = 0x9E3779B97F4A7C15ull;
    int opened = 0;
    uint8_t *c = malloc(g_len);
    float x[3 * 11 * 13] = {0};
    for (int it = 0; it < 4000; it++) {
        memcpy(c, g_buf, g_len);
        int k = 1 + (int)(r >> 62);
        for (int j = 0; j < k; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(r >> 33) % head;
            c[at] = (uint8_t)(r >> 24);
        }
        gc_model *m = NULL;
        gc_clear_error();
        gc_status st = gc_model_open_memory(c, g_len, &m);
        if (st) {
            if (!gc_last_error()[0]) FAILF("iteration %d: refused without a message", it);
            continue;
        }
        opened++;
        gc_session_config cfg = {.batch = 1, .channels = 3, .height = 11, .width = 13};
        gc_session *s = NULL;
        st = gc_session_create(m, &cfg, &s);
        if (st == GC_OK && !s) FAILF("iteration %d: gc_session_create returned GC_OK without a session "
                                     "(an arena allocation failure must return GC_ERR_OUT_OF_MEMORY)", it);
        else if (st == GC_OK && gc_session_memory(s) < (64u << 20)) CHECK_OK(gc_session_forward(s, x));
        else if (st != GC_OK && !gc_last_error()[0]) FAILF("iteration %d: session refused without a message", it);
        gc_session_free(s);
        gc_model_free(m);
    }
    free(c);
    CHECK(opened < 4000);
}

TEST(label_count_must_match_output) {
    gc_model *m = NULL;
    gc_linear_params lp = {4, 3, 1};
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc", NULL, &lp, NULL, NULL));
    CHECK_OK(gc_model_add_dropout(m, "drop", NULL, 0.5f));
    CHECK_OK(gc_model_set_labels(m, 2, LABELS));
    void *buf;
    size_t len;
    CHECK_OK(gc_model_save_memory(m, &buf, &len));
    gc_model *r = NULL;
    CHECK_FAILS(gc_model_open_memory(buf, len, &r), GC_ERR_FORMAT);
    CHECK(has("2 labels for 3 network outputs"));
    CHECK(r == NULL);
    gc_model_buffer_free(buf);
    CHECK_OK(gc_model_set_labels(m, 3, LABELS));
    CHECK_OK(gc_model_save_memory(m, &buf, &len));
    CHECK_OK(gc_model_open_memory(buf, len, &r));
    CHECK(gc_model_label_count(r) == 3 && strcmp(gc_model_label(r, 2), "great white shark") == 0);
    gc_model_free(r);
    gc_model_buffer_free(buf);
    gc_model_free(m);
}

TEST(open_errors) {
    gc_model *m = (gc_model *)1;
    CHECK_FAILS(gc_model_open("/nonexistent/x.gcw", &m), GC_ERR_IO);
    CHECK(m == NULL);
    CHECK_FAILS(gc_model_open("/tmp", &m), GC_ERR_IO);
    CHECK_FAILS(gc_model_open(NULL, &m), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_open_memory(NULL, 10, &m), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_model_open_memory("", 0, &m), GC_ERR_FORMAT);
    gc_model *e = NULL;
    CHECK_OK(gc_model_create(&e));
    CHECK_FAILS(gc_model_save(e, "/tmp/never_written.gcw"), GC_ERR_LIMIT); /* no layers */
    CHECK_OK(gc_model_add_relu(e, "r", NULL));
    CHECK_FAILS(gc_model_save(e, "/nonexistent/dir/x.gcw"), GC_ERR_IO);
    gc_model_free(e);
}

/* ---------------------------------------------------------------- .npy */

static gc_status npy_from(const char *hdr, const void *data, size_t n, gc_tensor *t) {
    size_t hl = strlen(hdr);
    uint8_t *b = malloc(10 + hl + n + 1);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)hl, b[9] = (uint8_t)(hl >> 8);
    memcpy(b + 10, hdr, hl);
    if (n) memcpy(b + 10 + hl, data, n);
    gc_clear_error();
    gc_status st = gc_npy_load_memory(b, 10 + hl + n, t);
    free(b);
    return st;
}

TEST(npy_round_trip) {
    char path[] = "/tmp/test_npy_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    for (int nd = 1; nd <= 4; nd++) {
        int64_t shape[4] = {2, 3, 1, 5};
        gc_tensor t, r;
        CHECK_OK(gc_tensor_alloc(&t, nd, shape));
        for (int64_t i = 0; i < gc_tensor_numel(&t); i++) t.data[i] = (float)i * 0.5f - 3.25f;
        CHECK_OK(gc_npy_save(path, &t));
        CHECK_OK(gc_npy_load(path, &r));
        CHECK(r.ndim == nd && memcmp(r.shape, t.shape, sizeof r.shape) == 0);
        CHECK(r.data && memcmp(r.data, t.data, (size_t)gc_tensor_numel(&t) * 4) == 0);
        /* header length makes the data start at a multiple of 64 */
        FILE *f = fopen(path, "rb");
        uint8_t h[10] = {0};
        CHECK(f && fread(h, 1, 10, f) == 10);
        if (f) fclose(f);
        CHECK((10 + (h[8] | h[9] << 8)) % 64 == 0);
        gc_tensor_release(&t);
        gc_tensor_release(&r);
    }
    unlink(path);
}

TEST(npy_reads_numpy_files) {
    /* written by numpy (tests/ref/make_model_fixtures.py): (3,64,64) '<f4',
     * data = the last 3*64*64*4 bytes of the file */
    const char *p = "tests/data/models/vgg16_small_in1.npy";
    gc_tensor t;
    CHECK_OK(gc_npy_load(p, &t));
    CHECK(t.ndim == 3 && t.shape[0] == 3 && t.shape[1] == 64 && t.shape[2] == 64);
    FILE *f = fopen(p, "rb");
    float *raw = malloc(3 * 64 * 64 * 4);
    CHECK(f && fseek(f, -(long)(3 * 64 * 64 * 4), SEEK_END) == 0 && fread(raw, 4, 3 * 64 * 64, f) == 3 * 64 * 64);
    if (f) fclose(f);
    CHECK(t.data && memcmp(raw, t.data, 3 * 64 * 64 * 4) == 0);
    free(raw);
    gc_tensor_release(&t);
    CHECK_FAILS(gc_npy_load("/nonexistent.npy", &t), GC_ERR_IO);
}

TEST(npy_malformed) {
    float d[6] = {1, 2, 3, 4, 5, 6};
    double dd[2] = {1.5, -2.25};
    gc_tensor t;
    CHECK_OK(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", d, 24, &t));
    CHECK(t.ndim == 2 && t.shape[1] == 3 && t.data[5] == 6.0f);
    gc_tensor_release(&t);
    CHECK_OK(npy_from("{\"shape\":(2,),\"fortran_order\":False,\"descr\":\"<f8\"}", dd, 16, &t));
    CHECK(t.ndim == 1 && t.data[0] == 1.5f && t.data[1] == -2.25f);
    gc_tensor_release(&t);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", d, 24, &t), GC_ERR_UNSUPPORTED);
    CHECK_FAILS(npy_from("{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", d, 24, &t), GC_ERR_UNSUPPORTED);
    CHECK_FAILS(npy_from("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", d, 24, &t), GC_ERR_UNSUPPORTED);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", d, 4, &t), GC_ERR_UNSUPPORTED);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,6), }", d, 24, &t), GC_ERR_UNSUPPORTED);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", d, 0, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'shape': (6,), }", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (6,)}", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("{'descr': '<f4', 'fortran_order': False, 'shape': (6,", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(npy_from("not a dict", d, 24, &t), GC_ERR_FORMAT);
    CHECK_FAILS(gc_npy_load_memory("\x93NUMPZ\x01\x00\x00\x00", 10, &t), GC_ERR_FORMAT);
    CHECK(t.data == NULL);

    /* every truncation of a valid file */
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
    size_t hl = strlen(h), n = 10 + hl + 24;
    uint8_t *b = malloc(n);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)hl, b[9] = 0;
    memcpy(b + 10, h, hl);
    memcpy(b + 10 + hl, d, 24);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        gc_clear_error();
        gc_status st = gc_npy_load_memory(b, k, &t);
        if (st == GC_OK || !gc_last_error()[0]) bad++;
        gc_tensor_release(&t);
    }
    CHECK(bad == 0);
    CHECK_OK(gc_npy_load_memory(b, n, &t));
    gc_tensor_release(&t);
    free(b);
}

int main(void) {
    RUN(round_trip_memory_and_file);
    RUN(forward_matches_after_reopen);
    RUN(read_fallback);
    RUN(written_layout_matches_spec);
    RUN(corrupt_files_are_refused_with_a_message);
    RUN(every_truncation_is_refused);
    RUN(bit_flips_never_crash);
    RUN(random_mutations_never_crash);
    RUN(label_count_must_match_output);
    RUN(open_errors);
    RUN(npy_round_trip);
    RUN(npy_reads_numpy_files);
    RUN(npy_malformed);
    gc_model_buffer_free(g_buf);
    return test_summary("gcw");
}
