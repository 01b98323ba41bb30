/* pool.h - the library's threads: one pool per session, parallel loops over chunks.
 *
 * Why our own and not OpenMP: OpenMP's waits spin (libgomp: up to ~300,000 iterations) and its
 * static loops give each thread a fixed half. When another process takes one of the cores, the
 * thread left running finishes its half and spins at the barrier until the preempted one gets
 * its core back: a 2-thread VGG-16 forward went from 0.15 s to 0.6-0.85 s next to one busy
 * process. Here a loop's chunks are claimed, so the running thread takes over the preempted
 * one's remaining chunks; waits spin only briefly and then block, which frees the core (and
 * lets the kernel move a preempted thread onto it).
 *
 * Locality: each worker first runs its own contiguous share of the chunks (worker w the w-th
 * of T equal parts, like a static schedule, so a split kept from layer to layer keeps data in
 * the core that wrote it) and only then takes chunks left in the other shares.
 *
 * Determinism: which worker runs a chunk varies from run to run; a loop body must therefore
 * compute the same values whoever runs a chunk (the worker index is for choosing a scratch
 * slot, never for deciding what is computed). */
#ifndef GC_CORE_POOL_H
#define GC_CORE_POOL_H

#include "gradcam.h"
#include <stddef.h>
#include <stdint.h>

#define GC_POOL_MAX 64 /* most threads a pool runs */

typedef struct gc_pool gc_pool;

/* Scratch of one worker at the same address for every layer of a session: slot w is
 * base + w * stride floats (64-byte aligned), for workers 0..n-1. A kernel whose threads keep
 * private scratch takes it from here when base is set, so that the lines a worker writes are
 * the ones it wrote in the layer before, already in its own cache. Carved from one shared
 * workspace at offsets that differ from layer to layer, a worker's scratch is partly memory
 * the other core wrote last, and each such line is fetched from that core before it can be
 * written: ~0.3 ms per layer when the two vCPUs are far apart (AlexNet conv3-5, 2 threads).
 * base NULL: the kernel carves its slots from its workspace as before. */
typedef struct gc_slots {
    float  *base;
    size_t  stride;   /* floats between slots, a multiple of 16 */
    int     n;        /* slots */
} gc_slots;

/* Runs chunks [lo, hi) of a loop; worker in 0..threads-1 (the calling thread is 0). */
typedef void (*gc_pool_fn)(void *arg, int64_t lo, int64_t hi, int worker);

/* Starts threads - 1 workers (threads 1..GC_POOL_MAX; 1 starts none). GC_ERR_INVALID_ARGUMENT
 * outside that range, GC_ERR_OUT_OF_MEMORY when memory or a thread cannot be had. */
gc_status gc_pool_create(int threads, gc_pool **out);

/* Stops and joins the workers. NULL-safe. Not while a loop runs. */
void gc_pool_free(gc_pool *p);

/* Threads of p (1 for NULL). */
int gc_pool_threads(const gc_pool *p);

/* The default thread count: OMP_NUM_THREADS's first value when set to a positive number (the
 * variable users of earlier versions set), else the CPUs this process may run on; at most
 * GC_POOL_MAX. */
int gc_pool_default_threads(void);

/* Calls fn(arg, lo, hi, worker) on disjoint ranges covering [0, n), each of at most grain
 * items (grain >= 1; raised when n / grain would exceed a million chunks), on at most
 * max_workers threads (0: all), and returns when every call has returned. Runs inline (one call per grain) for a NULL pool, one thread, or n <= grain.
 * Not reentrant: fn must not call gc_pool_for on the same pool. */
void gc_pool_for(gc_pool *p, int64_t n, int64_t grain, int max_workers, gc_pool_fn fn, void *arg);

#endif
