/* pool.c - the session thread pool (contract and reasons in pool.h).
 *
 * A loop: the caller stores the job, gives worker w chunks [w C / T, (w + 1) C / T) of the C
 * chunks in share w, sets `remaining` to C, bumps gen and joins as worker 0. A share is one
 * 64-bit word holding the loop's generation, the share's end and its next chunk; a chunk is
 * claimed by a compare-and-swap of the whole word, so a worker that wakes late, still holding
 * an older generation or word, can never claim (or skip) a chunk of a newer loop. A
 * worker claims from its own share, then from the others', reads the job only after a
 * successful claim (the job cannot change until that chunk is done) and counts the chunks it
 * ran from a share in `remaining` when that share runs out. The caller waits for `remaining`
 * to reach zero, never for a worker that took no chunk: a worker preempted or asleep when the
 * loop starts costs nothing.
 * Waiting (a worker for the next loop, the caller for the last chunks) spins for a few
 * microseconds, which covers the gap between two layers, then sleeps on a condition
 * variable. Sleep and wake-up use the store-then-load pattern on both sides (sleepers / gen,
 * caller_sleeps / remaining, all sequentially consistent) and the mutex around the re-check,
 * so no wake-up is lost. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "core/pool.h"
#include "core/core.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <sched.h> /* sched_yield (POSIX); sched_getaffinity on Linux */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_PAUSE() _mm_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

/* Spins before sleeping: a pause is ~10-65 ns (Intel, AMD; 25 ns on Zen 3), so 2000 is ~20-130 us,
 * longer than the serial work between two loops of a pass and far shorter than a scheduler time
 * slice. Then POOL_YIELDS rounds of sched_yield and a few pauses (~0.4 ms alone on Zen 3) before sleeping: a
 * yield hands the core to another runnable thread if there is one (what sleeping is for) and
 * returns at once if not, where a sleeper's core goes idle and in a virtual machine its wake-up
 * waits for the hypervisor to run that vCPU again (tens of us). A host's stall of more than the
 * spins otherwise cost a pair of sleeps and wake-ups (Zen 3 VM: 6-18 worker and 2-18 caller sleeps
 * per MobileNetV2 / ResNet-50 forward on 2 threads). */
#define POOL_SPINS 2000
#define POOL_YIELDS 400
#define POOL_YIELD_PAUSES 16

/* One round of waiting past the spins: 1 while within the yield budget, else 0 (sleep). */
static int pool_linger(int *round) {
    if (*round >= POOL_YIELDS) return 0;
    ++*round;
    sched_yield();
    for (int i = 0; i < POOL_YIELD_PAUSES; i++) POOL_PAUSE();
    return 1;
}

typedef struct pool_share {   /* one worker's chunks (share_word), alone in its cache line */
    _Alignas(64) _Atomic uint64_t word;
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
    /* the current loop, written by the caller before the shares and gen (atomics: a late
       worker may read them while the next loop's are written, and then fails its claim) */
    _Atomic(gc_pool_fn) fn;
    _Atomic(void *)     arg;
    atomic_llong        n, grain;
    atomic_int          active;          /* shares of the loop (workers 0..active-1) */
    _Alignas(64) atomic_uint gen;        /* loops started */
    atomic_int   stop;
    _Alignas(64) atomic_llong remaining; /* chunks of the loop not yet done */
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

/* A share word: the loop's generation (24 bits), one past the share's last chunk and its next
 * chunk (20 bits each), so a claim checks all three in one compare-and-swap: a worker that
 * read an older loop's word can never claim a chunk of the loop that replaced it. */
#define POOL_CHUNK_BITS 20
#define POOL_CHUNK_MAX ((int64_t)1 << POOL_CHUNK_BITS) /* chunks of one loop, at most */
static uint64_t share_word(unsigned g, int64_t end, int64_t next) {
    return (uint64_t)(g & 0xffffffu) << (2 * POOL_CHUNK_BITS) | (uint64_t)end << POOL_CHUNK_BITS | (uint64_t)next;
}

/* Claims the next chunk of share sh in loop g; -1 when the share is done or the loop is over. */
static long long claim(pool_share *sh, unsigned g) {
    const uint64_t mask = POOL_CHUNK_MAX - 1;
    uint64_t v = atomic_load_explicit(&sh->word, memory_order_acquire);
    for (;;) {
        if ((unsigned)(v >> (2 * POOL_CHUNK_BITS)) != (g & 0xffffffu) || (v & mask) >= (v >> POOL_CHUNK_BITS & mask))
            return -1;
        if (atomic_compare_exchange_weak_explicit(&sh->word, &v, v + 1, memory_order_acq_rel, memory_order_acquire))
            return (long long)(v & mask);
    }
}

/* Worker w's part of loop g: its own share, then what is left in the others'. */
static void run_chunks(gc_pool *p, int w, unsigned g) {
    const int T = atomic_load_explicit(&p->active, memory_order_relaxed);
    if (w >= T) return;
    for (int k = 0; k < T; k++) {
        pool_share *sh = &p->share[(w + k) % T];
        long long c, done = 0;
        while ((c = claim(sh, g)) >= 0) {
            const int64_t n = atomic_load_explicit(&p->n, memory_order_relaxed);
            const int64_t grain = atomic_load_explicit(&p->grain, memory_order_relaxed);
            const int64_t lo = c * grain, hi = lo + grain < n ? lo + grain : n;
            atomic_load_explicit(&p->fn, memory_order_relaxed)(atomic_load_explicit(&p->arg, memory_order_relaxed),
                                                               lo, hi, w);
            done++;
        }
        /* counted once per share, not per chunk: every count moves `remaining`'s line from the
           core that wrote it last (ResNet-50's forward ran ~3300 chunks in 65 loops, each count a
           cache-line transfer of 0.1-1.4 us between this host's two vCPUs) */
        if (done && atomic_fetch_sub(&p->remaining, done) == done && w && atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
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
        for (int r = 0; g == seen && !atomic_load_explicit(&p->stop, memory_order_relaxed) && pool_linger(&r);)
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        run_chunks(p, me->id, g);
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
    if ((n + grain - 1) / grain >= POOL_CHUNK_MAX) grain = (n + POOL_CHUNK_MAX - 2) / (POOL_CHUNK_MAX - 1);
    const int64_t chunks = (n + grain - 1) / grain;
    if (T > chunks) T = (int)chunks;
    if (T <= 1) {
        for (int64_t lo = 0; lo < n; lo += grain) fn(arg, lo, lo + grain < n ? lo + grain : n, 0);
        return;
    }
    const unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->n, n, memory_order_relaxed);
    atomic_store_explicit(&p->grain, grain, memory_order_relaxed);
    atomic_store_explicit(&p->active, T, memory_order_relaxed);
    atomic_store_explicit(&p->remaining, chunks, memory_order_relaxed);
    for (int w = 0; w < T; w++)
        atomic_store_explicit(&p->share[w].word, share_word(g, chunks * (w + 1) / T, chunks * w / T),
                              memory_order_release);
    atomic_store(&p->gen, g);                        /* publishes the loop (seq_cst) */
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, 0, g);
    for (int i = 0; atomic_load_explicit(&p->remaining, memory_order_acquire) && i < POOL_SPINS; i++) POOL_PAUSE();
    for (int r = 0; atomic_load_explicit(&p->remaining, memory_order_acquire) && pool_linger(&r);) {}
    if (atomic_load_explicit(&p->remaining, memory_order_acquire)) {
        atomic_store(&p->caller_sleeps, 1);
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->remaining)) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        atomic_store(&p->caller_sleeps, 0);
    }
}
