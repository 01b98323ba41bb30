/* finite.c - finding NaN and infinities (the non-finite policy, docs/security.md). */
#include "core.h"
#include <math.h>
#include <string.h>

/* A float is NaN or infinite when its exponent bits are all ones. Blocks of 64
 * are OR-reduced branch-free (the compiler vectorises the fixed-count loop);
 * only a block that holds one is searched element by element. */
int64_t gc_first_nonfinite(const float *p, int64_t n) {
    enum { B = 64 };
    int64_t i = 0;
    for (; i + B <= n; i += B) {
        uint32_t u[B], bad = 0;
        memcpy(u, p + i, sizeof u);
        for (int k = 0; k < B; k++) bad |= (uint32_t)((u[k] & 0x7f800000u) == 0x7f800000u);
        if (bad) break;
    }
    for (; i < n; i++)
        if (!isfinite(p[i])) return i;
    return -1;
}

const char *gc_nonfinite_name(float x) {
    return isnan(x) ? "NaN" : x > 0 ? "inf" : x < 0 ? "-inf" : "finite";
}
