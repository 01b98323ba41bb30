/* test_core.c - status messages, tensors, allocation checks, RNG. */
#include "test.h"
#include "core/core.h"
#include <stdint.h>

TEST(status_strings) {
    CHECK(strcmp(gc_status_string(GC_OK), "GC_OK") == 0);
    CHECK(strcmp(gc_status_string(GC_ERR_SHAPE), "GC_ERR_SHAPE") == 0);
    CHECK(strcmp(gc_status_string((gc_status)999), "GC_ERR_UNKNOWN") == 0);
    for (int s = 0; s < GC_STATUS_COUNT; s++) CHECK(gc_status_string((gc_status)s)[0] == 'G');
}

TEST(error_message_is_set_and_cleared) {
    gc_clear_error();
    CHECK(gc_last_error()[0] == 0);
    CHECK(gc_error(GC_ERR_IO, "file %s missing", "x.gcw") == GC_ERR_IO);
    CHECK(strcmp(gc_last_error(), "file x.gcw missing") == 0);
    gc_error_prefix(GC_ERR_IO, "open");
    CHECK(strcmp(gc_last_error(), "open: file x.gcw missing") == 0);
    gc_clear_error();
    CHECK(gc_last_error()[0] == 0);
}

TEST(tensor_alloc_and_release) {
    gc_tensor t;
    int64_t shape[4] = {2, 3, 5, 7};
    CHECK_OK(gc_tensor_alloc(&t, 4, shape));
    CHECK(gc_tensor_numel(&t) == 210);
    CHECK(((uintptr_t)t.data % 64) == 0);
    int zero = 1;
    for (int i = 0; i < 210; i++) zero &= t.data[i] == 0.0f;
    CHECK(zero);
    gc_tensor_release(&t);
    CHECK(t.data == NULL && gc_tensor_numel(&t) == 0);
    gc_tensor_release(&t);
    gc_tensor_release(NULL);
}

TEST(tensor_alloc_rejects_bad_shapes) {
    gc_tensor t;
    int64_t bad[2] = {3, 0}, huge[4] = {INT64_MAX / 2, 4, 1, 1}, ok[1] = {1};
    CHECK_FAILS(gc_tensor_alloc(&t, 2, bad), GC_ERR_SHAPE);
    CHECK_FAILS(gc_tensor_alloc(&t, 0, ok), GC_ERR_SHAPE);
    CHECK_FAILS(gc_tensor_alloc(&t, 5, ok), GC_ERR_SHAPE);
    CHECK_FAILS(gc_tensor_alloc(&t, 4, huge), GC_ERR_OUT_OF_MEMORY);
    CHECK_FAILS(gc_tensor_alloc(NULL, 1, ok), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_tensor_alloc(&t, 1, NULL), GC_ERR_INVALID_ARGUMENT);
}

TEST(alloc_overflow_is_refused) {
    gc_clear_error();
    CHECK(gc_alloc_array(SIZE_MAX / 2, 4) == NULL);
    CHECK(strstr(gc_last_error(), "overflow") != NULL);
    CHECK(gc_alloc(SIZE_MAX - 10) == NULL);
    void *p = gc_alloc(0);
    CHECK(p != NULL);
    gc_free(p);
}

TEST(rng_is_deterministic_and_uniform) {
    gc_rng a, b;
    gc_rng_seed(&a, 7);
    gc_rng_seed(&b, 7);
    double sum = 0, sq = 0;
    int same = 1, in_range = 1;
    for (int i = 0; i < 100000; i++) {
        float u = gc_rng_uniform(&a);
        same &= u == gc_rng_uniform(&b);
        in_range &= u >= 0.0f && u < 1.0f;
        sum += u; sq += (double)u * u;
    }
    CHECK(same && in_range);
    CHECK_NEAR(sum / 100000, 0.5, 0.01);
    CHECK_NEAR(sq / 100000 - (sum / 100000) * (sum / 100000), 1.0 / 12, 0.005);
    double ns = 0, nq = 0;
    for (int i = 0; i < 100000; i++) { double z = gc_rng_normal(&a); ns += z; nq += z * z; }
    CHECK_NEAR(ns / 100000, 0.0, 0.02);
    CHECK_NEAR(nq / 100000, 1.0, 0.02);
}

int main(void) {
    RUN(status_strings);
    RUN(error_message_is_set_and_cleared);
    RUN(tensor_alloc_and_release);
    RUN(tensor_alloc_rejects_bad_shapes);
    RUN(alloc_overflow_is_refused);
    RUN(rng_is_deterministic_and_uniform);
    return test_summary("core");
}
