/* pool.c - the session thread pool (contract and reasons in pool.h).
 *
 * A loop: the caller stores the job, gives worker w chunks [w C / T, (w + 1) C / T) of the C
 * chunks in its own counter, bumps gen and joins as worker 0. A worker claims chunks from its
 * own counter, then from the others' (fetch-and-add, so a chunk runs once), then decrements
 * pending. Waiting (a worker for the next loop, the caller for pending to reach zero) spins
 * for a few microseconds, which covers the gap between two layers, then sleeps on a
 * condition variable. Sleep and wake-up use the store-then-load pattern on both sides
 * (sleepers / gen, caller_sleeps / pending, all sequentially consistent) and the mutex around
 * the re-check, so no wake-up is lost. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "core/pool.h"
#include "core/core.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_PAUSE() _mm_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

/* Spins before sleeping: a pause is ~10-65 ns (Intel, AMD), so 2000 is ~20-130 us, longer than
 * the serial work between two loops of a pass and far shorter than a scheduler time slice. */
#define POOL_SPINS 2000

typedef struct pool_share {   /* one worker's chunk counter, alone in its cache line */
    _Alignas(64) atomic_llong next;
    long long end;
} pool_share;

typedef struct pool_worker {
    gc_pool *p;
    int      id;
} pool_worker;

struct gc_pool {
    int          threads;
    pthread_t    thr[GC_POOL_MAX];
    pool_worker  who[GC_POOL_MAX];
    pool_share   share[GC_POOL_MAX];
    /* the current loop, written by the caller before gen is bumped */
    gc_pool_fn   fn;
    void        *arg;
    int64_t      n, grain;
    int          active;            /* workers taking part (ids 0..active-1) */
    _Alignas(64) atomic_uint gen;   /* loops started; stop is gen's companion flag */
    atomic_int   stop;
    _Alignas(64) atomic_int pending;     /* workers still in the loop */
    atomic_int   sleepers;               /* workers blocked in wake */
    atomic_int   caller_sleeps;
    pthread_mutex_t mu;
    pthread_cond_t  wake, done;
};

int gc_pool_threads(const gc_pool *p) { return p ? p->threads : 1; }

int gc_pool_default_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (e && *e >= '1' && *e <= '9') {
        long v = strtol(e, NULL, 10);
        return v > GC_POOL_MAX ? GC_POOL_MAX : (int)v;
    }
    long n = 1;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    else
#endif
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > GC_POOL_MAX ? GC_POOL_MAX : (int)n;
}

int gc_default_threads(void) { return gc_pool_default_threads(); }

/* Chunks of share s, then everyone else's. */
static void run_chunks(gc_pool *p, int w) {
    const int T = p->active;
    for (int k = 0; k < T; k++) {
        pool_share *sh = &p->share[(w + k) % T];
        for (;;) {
            const long long c = atomic_fetch_add_explicit(&sh->next, 1, memory_order_relaxed);
            if (c >= sh->end) break;
            const int64_t lo = c * p->grain, hi = lo + p->grain < p->n ? lo + p->grain : p->n;
            p->fn(p->arg, lo, hi, w);
        }
    }
}

static void *worker_main(void *a) {
    const pool_worker *me = a;
    gc_pool *p = me->p;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < POOL_SPINS; i++) {
            POOL_PAUSE();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        if (me->id < p->active) run_chunks(p, me->id);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

gc_status gc_pool_create(int threads, gc_pool **out) {
    if (!out) return gc_error(GC_ERR_INVALID_ARGUMENT, "gc_pool_create: out is NULL");
    *out = NULL;
    if (threads < 1 || threads > GC_POOL_MAX)
        return gc_error(GC_ERR_INVALID_ARGUMENT, "threads %d outside 1..%d", threads, GC_POOL_MAX);
    gc_pool *p = gc_calloc(1, sizeof *p);
    if (!p) return GC_ERR_OUT_OF_MEMORY;
    p->threads = 1;
    if (pthread_mutex_init(&p->mu, NULL)) {
        gc_free(p);
        return gc_error(GC_ERR_OUT_OF_MEMORY, "cannot create the thread pool's mutex");
    }
    if (pthread_cond_init(&p->wake, NULL)) {
        pthread_mutex_destroy(&p->mu);
        gc_free(p);
        return gc_error(GC_ERR_OUT_OF_MEMORY, "cannot create the thread pool's condition variables");
    }
    if (pthread_cond_init(&p->done, NULL)) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        gc_free(p);
        return gc_error(GC_ERR_OUT_OF_MEMORY, "cannot create the thread pool's condition variables");
    }
    for (int i = 1; i < threads; i++) {
        p->who[i] = (pool_worker){p, i};
        if (pthread_create(&p->thr[i], NULL, worker_main, &p->who[i])) {
            gc_pool_free(p);
            return gc_error(GC_ERR_OUT_OF_MEMORY, "cannot start thread %d of %d", i + 1, threads);
        }
        p->threads = i + 1;
    }
    *out = p;
    return GC_OK;
}

void gc_pool_free(gc_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->threads; i++) pthread_join(p->thr[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    gc_free(p);
}

void gc_pool_for(gc_pool *p, int64_t n, int64_t grain, int max_workers, gc_pool_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int T = p ? p->threads : 1;
    if (max_workers > 0 && max_workers < T) T = max_workers;
    const int64_t chunks = (n + grain - 1) / grain;
    if (T > chunks) T = (int)chunks;
    if (T <= 1) {
        for (int64_t lo = 0; lo < n; lo += grain) fn(arg, lo, lo + grain < n ? lo + grain : n, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->grain = grain;
    p->active = T;
    for (int w = 0; w < T; w++) {
        atomic_store_explicit(&p->share[w].next, (long long)(chunks * w / T), memory_order_relaxed);
        p->share[w].end = (long long)(chunks * (w + 1) / T);
    }
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1);                    /* publishes the job (seq_cst) */
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, 0);
    for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) && i < POOL_SPINS; i++) POOL_PAUSE();
    if (atomic_load_explicit(&p->pending, memory_order_acquire)) {
        atomic_store(&p->caller_sleeps, 1);
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending)) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        atomic_store(&p->caller_sleeps, 0);
    }
}
