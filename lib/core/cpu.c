/* cpu.c - x86-64 feature detection (CPUID + XGETBV) for kernel dispatch. */
#include "core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

gc_cpu_features gc_cpu_detect(void) {
    gc_cpu_features f = {0, 0, 0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return f;
    uint64_t xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (!ymm_ok) return f;
    if (__get_cpuid_max(0, NULL) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    f.fma = fma;
    f.avx2 = ((b >> 5) & 1) && fma;
    f.avx512f = ((b >> 16) & 1) && zmm_ok && f.avx2;
    return f;
}
#else
gc_cpu_features gc_cpu_detect(void) {
    gc_cpu_features f = {0, 0, 0};
    return f;
}
#endif
