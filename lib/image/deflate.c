/* deflate.c - RFC 1951 compressor: LZ77 over a 32 KB window with hash chains
 * and lazy matching, blocks coded with length-limited (package-merge)
 * dynamic Huffman codes, the fixed code or stored, whichever is smallest.
 * Per level, four search limits (the parameters zlib's documentation gives
 * for its levels): the chain length, a match long enough to stop searching
 * (nice), the length from which the next position is not tried (lazy), and
 * the length from which the next position's search walks a quarter of the
 * chain (good). */
#include "deflate.h"
#include <string.h>

#define WSIZE 32768
#define WMASK (WSIZE - 1)
#define HBITS 15
#define HSIZE (1 << HBITS)
#define MIN_MATCH 3
#define MAX_MATCH 258
#define BLOCK_SYMS 16384
#define TOO_FAR 4096 /* a 3-byte match farther than this costs more than literals */

typedef struct pm_node { uint64_t w; int16_t a, b; } pm_node; /* leaf: b = -1, a = rank */

typedef struct sym { uint16_t lit; uint16_t dist; } sym; /* dist 0: literal lit; else length lit */

typedef struct deflater {
    const uint8_t *in;
    size_t n;
    int32_t head[HSIZE]; /* newest position per hash, -1 none */
    int32_t prev[WSIZE]; /* previous position with the same hash, by pos & WMASK */
    sym syms[BLOCK_SYMS];
    int nsyms;
    size_t block_start;  /* first input byte of the pending block */
    int chain, nice, lazy, good;
    /* bit writer */
    uint8_t *out;
    size_t on, ocap;
    uint64_t bb;
    int bc;
    gc_status st;
    pm_node pm[15][2 * 288]; /* package-merge lists, one per level */
} deflater;

/* ---- Tables --------------------------------------------------------------- */

static int len_code(int len) { int c = 28; while (gc_deflate_len_base[c] > len) c--; return c; }
static int dist_code(int d) { int c = 29; while (gc_deflate_dist_base[c] > d) c--; return c; }

/* ---- Bit writer (LSB first) ------------------------------------------------ */
static void w_reserve(deflater *z, size_t more) {
    size_t want;
    if (z->st) return;
    if (gc_add_size(z->on, more, &want)) { z->st = gc_error(GC_ERR_OUT_OF_MEMORY, "deflate: output size overflows"); return; }
    if (want <= z->ocap) return;
    size_t cap = z->ocap ? z->ocap : 1024;
    while (cap < want) cap *= 2;
    uint8_t *p = gc_alloc(cap);
    if (!p) { z->st = GC_ERR_OUT_OF_MEMORY; return; }
    if (z->on) memcpy(p, z->out, z->on);
    gc_free(z->out);
    z->out = p; z->ocap = cap;
}

static void put(deflater *z, uint32_t v, int n) {
    z->bb |= (uint64_t)v << z->bc; z->bc += n;
    if (z->bc >= 32) {
        w_reserve(z, 4);
        if (z->st) { z->bc = 0; z->bb = 0; return; }
        for (int i = 0; i < 4; i++) z->out[z->on++] = (uint8_t)(z->bb >> (8 * i));
        z->bb >>= 32; z->bc -= 32;
    }
}

static void align_byte(deflater *z) {
    w_reserve(z, 8);
    if (z->st) return;
    while (z->bc > 0) { z->out[z->on++] = (uint8_t)z->bb; z->bb >>= 8; z->bc -= 8; }
    z->bb = 0; z->bc = 0;
}

/* ---- Length-limited Huffman code lengths (package-merge) ------------------- */
static void code_lengths(deflater *z, const uint32_t *freq, int n, int limit, uint8_t *len) {
    int rank[288], m = 0;
    memset(len, 0, (size_t)n);
    for (int s = 0; s < n; s++) if (freq[s]) rank[m++] = s;
    if (m == 0) return;
    if (m == 1) { len[rank[0]] = 1; return; }
    for (int i = 1; i < m; i++) { /* insertion sort by (freq, symbol) */
        int s = rank[i], j = i;
        while (j > 0 && freq[rank[j - 1]] > freq[s]) { rank[j] = rank[j - 1]; j--; }
        rank[j] = s;
    }
    int cnt[15];
    for (int i = 0; i < m; i++) z->pm[0][i] = (pm_node){freq[rank[i]], (int16_t)i, -1};
    cnt[0] = m;
    for (int l = 1; l < limit; l++) {
        int np = cnt[l - 1] / 2, i = 0, k = 0, o = 0;
        while (i < m || k < np) {
            uint64_t pw = k < np ? z->pm[l - 1][2 * k].w + z->pm[l - 1][2 * k + 1].w : UINT64_MAX;
            if (i < m && freq[rank[i]] <= pw) z->pm[l][o++] = (pm_node){freq[rank[i]], (int16_t)i, -1}, i++;
            else z->pm[l][o++] = (pm_node){pw, (int16_t)(2 * k), (int16_t)(2 * k + 1)}, k++;
        }
        cnt[l] = o;
    }
    /* count leaf occurrences in the first 2m-2 items of the last list */
    int16_t stack[2 * 288 + 32][2];
    int sp = 0;
    for (int i = 0; i < 2 * m - 2; i++) { stack[sp][0] = (int16_t)(limit - 1); stack[sp][1] = (int16_t)i; sp++; }
    while (sp > 0) {
        sp--;
        int l = stack[sp][0];
        pm_node nd = z->pm[l][stack[sp][1]];
        if (nd.b < 0) { len[rank[nd.a]]++; continue; }
        stack[sp][0] = (int16_t)(l - 1); stack[sp][1] = nd.a; sp++;
        stack[sp][0] = (int16_t)(l - 1); stack[sp][1] = nd.b; sp++;
    }
}

/* Canonical codes, bit-reversed for LSB-first output. */
static void make_codes(const uint8_t *len, int n, uint16_t *code) {
    int count[16] = {0}, next[16];
    for (int s = 0; s < n; s++) count[len[s]]++;
    count[0] = 0;
    int c = 0;
    for (int l = 1; l < 16; l++) { c = (c + count[l - 1]) << 1; next[l] = c; }
    for (int s = 0; s < n; s++) {
        if (!len[s]) { code[s] = 0; continue; }
        uint32_t v = (uint32_t)next[len[s]]++, r = 0;
        for (int i = 0; i < len[s]; i++) { r = (r << 1) | (v & 1); v >>= 1; }
        code[s] = (uint16_t)r;
    }
}

/* A single used symbol gets a partner so every code is complete. */
static void complete(uint8_t *len, int n) {
    int used = 0, last = 0;
    for (int s = 0; s < n; s++) if (len[s]) { used++; last = s; }
    if (used == 0) { len[0] = len[1] = 1; }
    else if (used == 1) { len[last] = 1; len[last == 0 ? 1 : 0] = 1; }
}

/* ---- Blocks ----------------------------------------------------------------- */
static void put_syms(deflater *z, const uint8_t *ll, const uint16_t *lc, const uint8_t *dl, const uint16_t *dc) {
    for (int i = 0; i < z->nsyms && !z->st; i++) {
        sym s = z->syms[i];
        if (!s.dist) { put(z, lc[s.lit], ll[s.lit]); continue; }
        int c = len_code(s.lit), d = dist_code(s.dist);
        put(z, lc[257 + c], ll[257 + c]);
        if (gc_deflate_len_extra[c]) put(z, (uint32_t)(s.lit - gc_deflate_len_base[c]), gc_deflate_len_extra[c]);
        put(z, dc[d], dl[d]);
        if (gc_deflate_dist_extra[d]) put(z, (uint32_t)(s.dist - gc_deflate_dist_base[d]), gc_deflate_dist_extra[d]);
    }
    put(z, lc[256], ll[256]);
}

static void flush_block(deflater *z, size_t end, int final) {
    static const uint8_t cl_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    uint32_t lf[286] = {0}, df[30] = {0};
    uint64_t extra = 0;
    for (int i = 0; i < z->nsyms; i++) {
        sym s = z->syms[i];
        if (!s.dist) { lf[s.lit]++; continue; }
        int c = len_code(s.lit), d = dist_code(s.dist);
        lf[257 + c]++; df[d]++;
        extra += gc_deflate_len_extra[c] + gc_deflate_dist_extra[d];
    }
    lf[256] = 1;
    /* dynamic code lengths, trimmed, then run-length coded */
    uint8_t ll[286], dl[30], all[316], cll[19];
    code_lengths(z, lf, 286, 15, ll); complete(ll, 286);
    code_lengths(z, df, 30, 15, dl); complete(dl, 30);
    int hlit = 286, hdist = 30;
    while (hlit > 257 && !ll[hlit - 1]) hlit--;
    while (hdist > 1 && !dl[hdist - 1]) hdist--;
    memcpy(all, ll, (size_t)hlit); memcpy(all + hlit, dl, (size_t)hdist);
    int tot = hlit + hdist, nrle = 0;
    uint8_t rle[316][2]; /* (symbol 0..18, extra value) */
    uint32_t cf[19] = {0};
    for (int i = 0; i < tot;) {
        int v = all[i], r = 1;
        while (i + r < tot && all[i + r] == v) r++;
        if (v == 0 && r >= 3) {
            int k = r > 138 ? 138 : r;
            rle[nrle][0] = (uint8_t)(k >= 11 ? 18 : 17); rle[nrle][1] = (uint8_t)(k >= 11 ? k - 11 : k - 3);
            nrle++; i += k; continue;
        }
        if (v != 0 && r >= 4) {
            rle[nrle][0] = (uint8_t)v; rle[nrle][1] = 0; nrle++;
            int k = r - 1 > 6 ? 6 : r - 1;
            rle[nrle][0] = 16; rle[nrle][1] = (uint8_t)(k - 3); nrle++;
            i += 1 + k; continue;
        }
        rle[nrle][0] = (uint8_t)v; rle[nrle][1] = 0; nrle++; i++;
    }
    for (int i = 0; i < nrle; i++) cf[rle[i][0]]++;
    code_lengths(z, cf, 19, 7, cll); complete(cll, 19);
    int hclen = 19;
    while (hclen > 4 && !cll[cl_order[hclen - 1]]) hclen--;
    /* costs in bits */
    uint64_t dyn = 3 + 14 + 3 * (uint64_t)hclen + extra, fix = 3 + extra;
    for (int i = 0; i < nrle; i++) {
        int s = rle[i][0];
        dyn += cll[s] + (s == 16 ? 2 : s == 17 ? 3 : s == 18 ? 7 : 0);
    }
    for (int s = 0; s < 286; s++) {
        dyn += (uint64_t)lf[s] * ll[s];
        fix += (uint64_t)lf[s] * (s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8);
    }
    for (int d = 0; d < 30; d++) { dyn += (uint64_t)df[d] * dl[d]; fix += (uint64_t)df[d] * 5; }
    size_t raw = end - z->block_start, chunks = raw / 65535 + (raw % 65535 || !raw);
    uint64_t stored = (uint64_t)raw * 8 + chunks * (3 + 32) + 7 * chunks;
    if (z->chain == 0 || (stored <= dyn && stored <= fix)) {
        const uint8_t *p = z->in + z->block_start;
        do {
            size_t k = raw > 65535 ? 65535 : raw;
            raw -= k;
            put(z, (final && !raw) ? 1 : 0, 3);
            align_byte(z);
            put(z, (uint32_t)k, 16); put(z, (uint32_t)(~k & 0xFFFF), 16);
            w_reserve(z, k);
            if (z->st) return;
            if (k) memcpy(z->out + z->on, p, k);
            z->on += k; p += k;
        } while (raw);
    } else if (fix <= dyn) {
        uint8_t fl[288], fd[30];
        uint16_t fc[288], fdc[30];
        memset(fl, 8, 144); memset(fl + 144, 9, 112); memset(fl + 256, 7, 24); memset(fl + 280, 8, 8);
        memset(fd, 5, 30);
        make_codes(fl, 288, fc); make_codes(fd, 30, fdc);
        put(z, final ? 3 : 2, 3);
        put_syms(z, fl, fc, fd, fdc);
    } else {
        uint16_t lc[286], dc[30], cc[19];
        make_codes(ll, 286, lc); make_codes(dl, 30, dc); make_codes(cll, 19, cc);
        put(z, final ? 5 : 4, 3);
        put(z, (uint32_t)(hlit - 257), 5); put(z, (uint32_t)(hdist - 1), 5); put(z, (uint32_t)(hclen - 4), 4);
        for (int i = 0; i < hclen; i++) put(z, cll[cl_order[i]], 3);
        for (int i = 0; i < nrle; i++) {
            int s = rle[i][0];
            put(z, cc[s], cll[s]);
            if (s >= 16) put(z, rle[i][1], s == 16 ? 2 : s == 17 ? 3 : 7);
        }
        put_syms(z, ll, lc, dl, dc);
    }
    z->nsyms = 0;
    z->block_start = end;
}

/* ---- LZ77 ---------------------------------------------------------------------- */
static inline uint32_t hash3(const uint8_t *p) {
    return (((uint32_t)p[0] << 10) ^ ((uint32_t)p[1] << 5) ^ p[2]) & (HSIZE - 1);
}

static inline void insert(deflater *z, size_t i) {
    if (i + MIN_MATCH > z->n) return;
    uint32_t h = hash3(z->in + i);
    z->prev[i & WMASK] = z->head[h];
    z->head[h] = (int32_t)i;
}

/* The length of the common prefix of q and s, from l on, at most maxlen. */
static inline int match_len(const uint8_t *q, const uint8_t *s, int l, int maxlen) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (l + 8 <= maxlen) { /* 8 bytes at a time: the first differing byte is the lowest set bit's */
        uint64_t a, b;
        memcpy(&a, q + l, 8);
        memcpy(&b, s + l, 8);
        if (a != b) return l + (__builtin_ctzll(a ^ b) >> 3);
        l += 8;
    }
#endif
    while (l < maxlen && q[l] == s[l]) l++;
    return l;
}

/* Longest earlier match for position i (not yet inserted) longer than `beat`
 * (at least 2), walking at most `chain` links; 0 if there is none of 3 or more. */
static int find(deflater *z, size_t i, int *dist, int beat, int chain) {
    size_t avail = z->n - i;
    int maxlen = avail < MAX_MATCH ? (int)avail : MAX_MATCH, best = beat;
    if (maxlen <= best) return 0;
    const uint8_t *s = z->in + i;
    int32_t p = z->head[hash3(s)];
    while (p >= 0 && i - (size_t)p <= WSIZE && chain-- > 0) {
        const uint8_t *q = z->in + p;
        if (q[best] == s[best] && q[0] == s[0] && q[1] == s[1]) {
            int l = match_len(q, s, 2, maxlen);
            if (l > best) {
                best = l; *dist = (int)(i - (size_t)p);
                if (l >= z->nice || l == maxlen) break;
            }
        }
        int32_t np = z->prev[p & WMASK];
        if (np >= p) break;
        p = np;
    }
    if (best == beat || best < MIN_MATCH || (best == MIN_MATCH && *dist > TOO_FAR)) return 0;
    return best;
}

static void emit(deflater *z, uint16_t lit, uint16_t dist, size_t end) {
    z->syms[z->nsyms++] = (sym){lit, dist};
    if (z->nsyms == BLOCK_SYMS) flush_block(z, end, 0);
}

static void lz77(deflater *z) {
    size_t i = 0, n = z->n;
    int len = 0, dist = 0, have = 0; /* have: match for i already found and i inserted */
    while (i < n && !z->st) {
        if (!have) { len = find(z, i, &dist, MIN_MATCH - 1, z->chain); insert(z, i); }
        have = 0;
        if (len >= MIN_MATCH && z->lazy && len < z->lazy && i + 1 < n) {
            /* a longer match one byte on? (a quarter of the chain after a good match) */
            int d2 = 0, l2 = find(z, i + 1, &d2, len, len >= z->good ? z->chain >> 2 : z->chain);
            insert(z, i + 1);
            if (l2 > len) {
                emit(z, z->in[i], 0, i + 1);
                i++; len = l2; dist = d2; have = 1;
                continue;
            }
            emit(z, (uint16_t)len, (uint16_t)dist, i + (size_t)len);
            for (size_t k = i + 2; k < i + (size_t)len; k++) insert(z, k);
            i += (size_t)len;
        } else if (len >= MIN_MATCH) {
            emit(z, (uint16_t)len, (uint16_t)dist, i + (size_t)len);
            for (size_t k = i + 1; k < i + (size_t)len; k++) insert(z, k);
            i += (size_t)len;
        } else {
            emit(z, z->in[i], 0, i + 1);
            i++;
        }
    }
}

/* ---- Entry points ------------------------------------------------------------------ */
gc_status gc_deflate_raw(const uint8_t *in, size_t n, int level, uint8_t **out, size_t *out_len) {
    static const int chains[10] = {0, 4, 8, 32, 16, 32, 128, 256, 1024, 4096};
    static const int nices[10] = {0, 8, 16, 32, 16, 32, 128, 128, 258, 258};
    static const int lazies[10] = {0, 0, 0, 0, 4, 16, 16, 32, 128, 258};
    static const int goods[10] = {0, 4, 4, 4, 4, 8, 8, 8, 32, 32};
    if (!out || !out_len || (!in && n)) return gc_error(GC_ERR_INVALID_ARGUMENT, "deflate: NULL argument");
    if (level < 0 || level > 9) return gc_error(GC_ERR_INVALID_ARGUMENT, "deflate: level %d outside 0..9", level);
    *out = NULL; *out_len = 0;
    if (n > (size_t)INT32_MAX) return gc_error(GC_ERR_LIMIT, "deflate: input of %zu bytes exceeds 2 GB", n);
    deflater *z = gc_alloc(sizeof *z);
    if (!z) return GC_ERR_OUT_OF_MEMORY;
    z->in = in; z->n = n; z->nsyms = 0; z->block_start = 0;
    z->chain = chains[level]; z->nice = nices[level]; z->lazy = lazies[level]; z->good = goods[level];
    z->out = NULL; z->on = 0; z->ocap = 0; z->bb = 0; z->bc = 0; z->st = GC_OK;
    w_reserve(z, n / 2 + 64);
    if (level == 0) {
        flush_block(z, n, 1); /* no symbols: stored always wins */
    } else {
        for (int i = 0; i < HSIZE; i++) z->head[i] = -1;
        lz77(z);
        if (!z->st) flush_block(z, n, 1);
    }
    if (!z->st) align_byte(z);
    gc_status st = z->st;
    if (st) gc_free(z->out);
    else { *out = z->out; *out_len = z->on; }
    gc_free(z);
    return st;
}

gc_status gc_deflate_zlib(const uint8_t *in, size_t n, int level, uint8_t **out, size_t *out_len) {
    uint8_t *raw;
    size_t rn, total;
    gc_status st = gc_deflate_raw(in, n, level, &raw, &rn);
    if (st) return st;
    if (gc_add_size(rn, 6, &total)) { gc_free(raw); return gc_error(GC_ERR_OUT_OF_MEMORY, "deflate: size overflows"); }
    uint8_t *p = gc_alloc(total);
    if (!p) { gc_free(raw); return GC_ERR_OUT_OF_MEMORY; }
    uint32_t a = gc_adler32(1, in, n);
    p[0] = 0x78; /* deflate, 32 KB window */
    p[1] = (uint8_t)(level >= 7 ? 0xDA : level >= 6 ? 0x9C : level >= 2 ? 0x5E : 0x01); /* FLEVEL, FCHECK */
    memcpy(p + 2, raw, rn);
    p[rn + 2] = (uint8_t)(a >> 24); p[rn + 3] = (uint8_t)(a >> 16); p[rn + 4] = (uint8_t)(a >> 8); p[rn + 5] = (uint8_t)a;
    gc_free(raw);
    *out = p; *out_len = total;
    return GC_OK;
}
