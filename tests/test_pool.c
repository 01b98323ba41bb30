/* test_pool.c - the session thread pool: every item of a loop runs exactly once, on a worker
 * in range, for awkward sizes and grains, many loops in a row (workers spinning and sleeping
 * between them), capped worker counts, a busy neighbour thread, and the argument errors. */
#include "test.h"
#include "core/core.h"
#include "core/pool.h"
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef struct count_job {
    atomic_int *hits;   /* (n) times item i ran */
    int64_t     grain;
    int         threads;
    atomic_int  bad;    /* a range over grain, empty, out of [0, n) or a worker out of range */
    int64_t     n;
    atomic_int  seen[GC_POOL_MAX];
} count_job;

static void count_fn(void *arg, int64_t lo, int64_t hi, int worker) {
    count_job *j = arg;
    if (lo < 0 || hi > j->n || hi <= lo || hi - lo > j->grain || worker < 0 || worker >= j->threads)
        atomic_fetch_add(&j->bad, 1);
    else {
        for (int64_t i = lo; i < hi; i++) atomic_fetch_add(&j->hits[i], 1);
        atomic_store(&j->seen[worker], 1);
    }
}

/* Runs one loop and checks it; returns the workers that ran a chunk. */
static int run_loop(gc_pool *p, int64_t n, int64_t grain, int max_workers) {
    count_job j = {.grain = grain < 1 ? 1 : grain, .n = n};
    int cap = gc_pool_threads(p);
    if (max_workers > 0 && max_workers < cap) cap = max_workers;
    j.threads = cap;
    j.hits = calloc((size_t)(n > 0 ? n : 1), sizeof *j.hits);
    gc_pool_for(p, n, grain, max_workers, count_fn, &j);
    int once = 1, used = 0;
    for (int64_t i = 0; i < n; i++) once &= atomic_load(&j.hits[i]) == 1;
    for (int w = 0; w < GC_POOL_MAX; w++) used += atomic_load(&j.seen[w]);
    if (!once || atomic_load(&j.bad))
        FAILF("n %lld grain %lld max %d on %d threads: each item once %d, bad ranges %d", (long long)n,
              (long long)grain, max_workers, gc_pool_threads(p), once, atomic_load(&j.bad));
    free(j.hits);
    return used;
}

TEST(pool_covers_every_item_once) {
    const int64_t ns[] = {0, 1, 2, 3, 7, 64, 65, 1000, 4097};
    const int64_t grains[] = {1, 2, 5, 64, 5000};
    for (int t = 1; t <= 4; t++) {
        gc_pool *p = NULL;
        CHECK_OK(gc_pool_create(t, &p));
        CHECK(gc_pool_threads(p) == t);
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t b = 0; b < sizeof grains / sizeof *grains; b++)
                for (int mw = 0; mw <= 2; mw++) run_loop(p, ns[a], grains[b], mw);
        gc_pool_free(p);
    }
    run_loop(NULL, 100, 7, 0);                       /* no pool: inline */
}

/* Workers sleep after their spin; a loop after a pause must wake them (no lost wake-up). */
TEST(pool_wakes_sleeping_workers) {
    gc_pool *p = NULL;
    CHECK_OK(gc_pool_create(3, &p));
    int used = 0;
    for (int r = 0; r < 20; r++) {
        if (r % 4 == 0) nanosleep(&(struct timespec){0, 3000000}, NULL); /* 3 ms: every worker asleep */
        used = run_loop(p, 3000, 1, 0);
    }
    CHECK(used >= 1);
    gc_pool_free(p);
}

/* Many short loops back to back (the spin path), then the pool freed while workers spin. */
TEST(pool_many_loops) {
    gc_pool *p = NULL;
    CHECK_OK(gc_pool_create(2, &p));
    for (int r = 0; r < 20000; r++) run_loop(p, 1 + r % 9, 1, 0);
    gc_pool_free(p);
}

/* A thread that keeps one core busy: loops still complete and cover every item. */
static atomic_int busy_stop;
static void *busy(void *a) {
    (void)a;
    volatile double x = 1;
    while (!atomic_load(&busy_stop)) x = x * 1.0000001 + 1e-9;
    return NULL;
}

TEST(pool_next_to_a_busy_thread) {
    pthread_t b;
    atomic_store(&busy_stop, 0);
    CHECK(pthread_create(&b, NULL, busy, NULL) == 0);
    gc_pool *p = NULL;
    CHECK_OK(gc_pool_create(2, &p));
    for (int r = 0; r < 200; r++) run_loop(p, 10000, 16, 0);
    gc_pool_free(p);
    atomic_store(&busy_stop, 1);
    pthread_join(b, NULL);
}

TEST(pool_errors) {
    gc_pool *p = (gc_pool *)1;
    CHECK_FAILS(gc_pool_create(0, &p), GC_ERR_INVALID_ARGUMENT);
    CHECK(p == NULL);
    CHECK_FAILS(gc_pool_create(GC_POOL_MAX + 1, &p), GC_ERR_INVALID_ARGUMENT);
    CHECK_FAILS(gc_pool_create(2, NULL), GC_ERR_INVALID_ARGUMENT);
    gc_pool_free(NULL);
    CHECK(gc_pool_threads(NULL) == 1);
    const int d = gc_pool_default_threads();
    CHECK(d >= 1 && d <= GC_POOL_MAX);
}

int main(void) {
    RUN(pool_covers_every_item_once);
    RUN(pool_wakes_sleeping_workers);
    RUN(pool_many_loops);
    RUN(pool_next_to_a_busy_thread);
    RUN(pool_errors);
    return test_summary("pool");
}
