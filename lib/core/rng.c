/* rng.c - xoshiro256** seeded by splitmix64 (Blackman & Vigna). */
#include "core.h"
#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gc_rng_seed(gc_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gc_rng_next(gc_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

float gc_rng_uniform(gc_rng *r) { return (float)(gc_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float gc_rng_normal(gc_rng *r) {
    /* Box-Muller; u1 in (0,1] so the log is finite. */
    float u1 = 1.0f - gc_rng_uniform(r), u2 = gc_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}
