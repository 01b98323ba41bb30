/* c2c_probe - how far apart the two cores a 2-thread measurement runs on are: the round
 * trip of one cache line passed back and forth between two threads (each spins until the
 * other has written its turn). On one machine the figure is ~50 ns for neighbouring cores;
 * a virtual machine whose host placed its two vCPUs far apart shows a few hundred. Quote it
 * next to 2-thread timings (docs/performance.md). */
#define _GNU_SOURCE /* CPU_SET, pthread_setaffinity_np */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUNDS = 200000 };

static _Alignas(64) _Atomic long turn; /* the one line both threads write */

typedef struct { int cpu; long rounds; } arg;

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

/* The partner: answers odd turns. */
static void *partner(void *p) {
    const arg *a = p;
    pin(a->cpu);
    for (long i = 1; i < 2 * a->rounds; i += 2) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != i) {}
        atomic_store_explicit(&turn, i + 1, memory_order_release);
    }
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Nanoseconds per round trip, best of `reps` runs. */
static double probe(int cpu0, int cpu1, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        arg a = {cpu1, ROUNDS};
        pthread_t t;
        atomic_store(&turn, 0);
        if (pthread_create(&t, NULL, partner, &a)) return -1;
        pin(cpu0);
        double t0 = now();
        for (long i = 0; i < 2 * ROUNDS; i += 2) {
            atomic_store_explicit(&turn, i + 1, memory_order_release);
            while (atomic_load_explicit(&turn, memory_order_acquire) != i + 2) {}
        }
        double dt = now() - t0;
        pthread_join(t, NULL);
        if (dt / ROUNDS * 1e9 < best) best = dt / ROUNDS * 1e9;
    }
    return best;
}

int main(int argc, char **argv) {
    int cpu0 = 0, cpu1 = 1, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: c2c_probe [--cpus A,B] [--reps N]\n"
                   "Round trip of one cache line between two threads pinned to CPUs A and B\n"
                   "(default 0,1; -1 leaves a thread unpinned), best of N runs of %d round\n"
                   "trips, in nanoseconds. ~50 ns: neighbouring cores; a few hundred: the\n"
                   "host placed the two vCPUs far apart, and 2-thread timings suffer.\n", ROUNDS);
            return 0;
        } else if (!strcmp(argv[i], "--cpus") && i + 1 < argc && sscanf(argv[i + 1], "%d,%d", &cpu0, &cpu1) == 2) {
            i++;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc && (reps = atoi(argv[i + 1])) > 0 && reps <= 100) {
            i++;
        } else {
            fprintf(stderr, "c2c_probe: bad argument %s (try --help)\n", argv[i]);
            return 2;
        }
    }
    double ns = probe(cpu0, cpu1, reps);
    if (ns < 0) {
        fprintf(stderr, "c2c_probe: cannot start a thread: %s\n", strerror(errno));
        return 1;
    }
    printf("cache-line round trip between CPUs %d and %d: %.0f ns\n", cpu0, cpu1, ns);
    return 0;
}
