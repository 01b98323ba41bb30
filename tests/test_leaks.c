/* test_leaks.c - no memory growth across 10 000 gc_explain calls on one
 * session, and none across repeated model/session/image life cycles.
 *
 * Oracle: the heap in use (glibc mallinfo2: arena bytes in use plus mmapped
 * blocks) and the resident set (/proc/self/statm) after a warm-up of 100
 * calls that exercise every request kind, against the same after 10 000
 * more; gc_session_memory must not change. Under AddressSanitizer the
 * allocator is replaced (mallinfo2 reads 0, the quarantine holds freed
 * blocks), so there only LeakSanitizer's exit check applies. */
#include "test.h"
#include <malloc.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static size_t heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* conv(3->8) relu maxpool conv(8->8) relu gap flatten linear(8->6) */
static gc_model *tiny_model(void) {
    gc_model *m = NULL;
    gc_conv2d_params c1 = gc_conv2d_defaults(3, 8, 3), c2 = gc_conv2d_defaults(8, 8, 3);
    c1.pad_h = c1.pad_w = c2.pad_h = c2.pad_w = 1;
    gc_pool2d_params mp = gc_pool2d_defaults(2);
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params lp = {8, 6, 1};
    if (gc_model_create(&m) || gc_model_add_conv2d(m, "c1", NULL, &c1, NULL, NULL) || gc_model_add_relu(m, "r1", NULL) ||
        gc_model_add_maxpool2d(m, "p1", NULL, &mp) || gc_model_add_conv2d(m, "c2", NULL, &c2, NULL, NULL) ||
        gc_model_add_relu(m, "r2", NULL) || gc_model_add_adaptive_avgpool2d(m, "gap", NULL, &ap) ||
        gc_model_add_flatten(m, "flat", NULL) || gc_model_add_linear(m, "fc", NULL, &lp, NULL, NULL) ||
        gc_model_init_random(m, 11)) {
        gc_model_free(m);
        return NULL;
    }
    return m;
}

/* Call i of the sequence: every request kind in turn, inputs varying. */
static gc_status explain_once(gc_session *s, float *x, int i) {
    static const int classes[3] = {5, 0, 2};
    float g[6] = {1, -1, 0.5f, 0, 0, 2};
    gc_explain_request r = {0};
    switch (i % 6) {
    case 0: r.target = GC_TARGET_TOP1; r.methods = GC_METHOD_GRADCAM; break;
    case 1: r.target = GC_TARGET_TOPK; r.top_k = 6; r.methods = GC_METHOD_ALL_GRADIENT; break;
    case 2: r.target = GC_TARGET_CLASS; r.class_index = i % 6; r.methods = GC_METHOD_GUIDED_GRADCAM | GC_METHOD_CAM; break;
    case 3: r.target = GC_TARGET_CLASSES; r.classes = classes; r.n_classes = 3; r.methods = GC_METHOD_DECONVNET; r.layer = "r1"; break;
    case 4: r.target = GC_TARGET_GRADIENT; r.output_grad = g; r.methods = GC_METHOD_COUNTERFACTUAL; break;
    default: r.target = GC_TARGET_CLASS; r.class_index = 99; break; /* an error path */
    }
    x[i % (3 * 16 * 16)] += 0.01f;
    gc_explain_result res;
    gc_status st = gc_explain(s, x, &r, &res);
    return i % 6 == 5 ? (st == GC_ERR_INVALID_ARGUMENT ? GC_OK : GC_ERR_STATE) : st;
}

TEST(ten_thousand_explains_do_not_grow_memory) {
    gc_model *m = tiny_model();
    CHECK(m != NULL);
    if (!m) return;
    const char *keep[2] = {"r1", NULL};
    /* a tiny net: one thread */
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 16, .width = 16, .keep = keep, .threads = 1};
    gc_session *s = NULL;
    CHECK_OK(gc_session_create(m, &cfg, &s));
    float *x = calloc(3 * 16 * 16, sizeof *x);
    int fails = 0;
    for (int i = 0; i < 100; i++) fails += explain_once(s, x, i) != GC_OK;
    size_t mem0 = gc_session_memory(s), heap0 = heap_bytes(), rss0 = rss_bytes(), heap_mid = 0;
    for (int i = 100; i < 10100; i++) {
        if (i == 5100) heap_mid = heap_bytes();
        fails += explain_once(s, x, i) != GC_OK;
    }
    size_t mem1 = gc_session_memory(s), heap1 = heap_bytes(), rss1 = rss_bytes();
    CHECK(fails == 0);
    CHECK(mem1 == mem0);
    printf("  session %zu bytes; heap in use %zu -> %zu -> %zu bytes (after 100, 5100, 10100 calls), RSS %zu -> %zu kB%s\n",
           mem0, heap0, heap_mid, heap1, rss0 >> 10, rss1 >> 10,
           SANITIZED ? " (sanitizer build: only LeakSanitizer applies)" : "");
    if (!SANITIZED) {
        /* glibc counts blocks parked in its per-thread cache as in use, so
         * the heap may wobble by a few cached blocks; a leak of even one
         * 32-byte block per call would add 160 kB between 5100 and 10100 */
        CHECK(heap1 <= heap_mid + 4096 && heap1 <= heap0 + (64u << 10));
        CHECK(rss1 <= rss0 + (512u << 10)); /* page-level noise only */
    }
    free(x);
    gc_session_free(s);
    gc_model_free(m);
}

TEST(life_cycles_do_not_grow_memory) {
    /* model build/save/open, session create/free, image encode/decode,
     * failing opens: 300 rounds after a warm-up of 20 */
    size_t heap0 = 0, heap_mid = 0;
    int fails = 0;
    for (int round = 0; round < 320; round++) {
        if (round == 20) heap0 = heap_bytes();
        if (round == 170) heap_mid = heap_bytes();
        gc_model *m = tiny_model(), *m2 = NULL;
        void *buf = NULL;
        size_t len = 0;
        fails += !m || gc_model_save_memory(m, &buf, &len) != GC_OK;
        if (buf) {
            fails += gc_model_open_memory(buf, len, &m2) != GC_OK;
            ((uint8_t *)buf)[len / 2] ^= 0xff;                   /* corrupt: may or may not fail, never leaks */
            gc_model *m3 = NULL;
            if (gc_model_open_memory(buf, len / 3, &m3) == GC_OK) fails++; /* truncated: must fail */
            gc_model_free(m3);
        }
        gc_model_buffer_free(buf);
        /* two threads: starting and stopping the session's worker is part of each cycle */
        gc_session_config cfg = {.batch = 2, .channels = 3, .height = 16, .width = 16, .param_grads = 1, .threads = 2};
        gc_session *s = NULL;
        fails += m2 && gc_session_create(m2, &cfg, &s) != GC_OK;
        cfg.max_bytes = 4096; /* refused plan (GC_ERR_LIMIT) */
        gc_session *s2 = NULL;
        fails += m2 && gc_session_create(m2, &cfg, &s2) == GC_OK;
        gc_session_free(s2);
        gc_session_free(s);
        gc_model_free(m2);
        gc_model_free(m);
        gc_image img, back;
        uint8_t *png = NULL;
        size_t plen = 0;
        fails += gc_image_alloc(&img, 9, 7, 3, 8) != GC_OK;
        fails += gc_image_encode_png(&img, &png, &plen) != GC_OK;
        fails += gc_image_decode(png, plen, NULL, &back) != GC_OK;
        gc_image_release(&back);
        fails += gc_image_decode(png, plen / 2, NULL, &back) == GC_OK;
        gc_image_release(&back);
        gc_buffer_free(png);
        gc_image_release(&img);
    }
    size_t heap1 = heap_bytes();
    CHECK(fails == 0);
    printf("  heap in use %zu -> %zu -> %zu bytes (after 20, 170, 320 life cycles)\n", heap0, heap_mid, heap1);
    if (!SANITIZED) CHECK(heap1 <= heap_mid + 4096); /* 150 cycles: any per-cycle leak shows */
}

int main(void) {
    RUN(ten_thousand_explains_do_not_grow_memory);
    RUN(life_cycles_do_not_grow_memory);
    return test_summary("leaks");
}
