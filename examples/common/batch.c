/* batch.c - input lists, progress bar and JSON for programs over data sets. */
#include "batch.h"
#include "cli.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------- the input list */

static char *dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int push(const char *prog, cli_items *it, const char *path, const char *name) {
    if (it->n == it->cap) {
        int cap = it->cap ? 2 * it->cap : 64;
        cli_item *v = realloc(it->v, (size_t)cap * sizeof *v);
        if (!v) goto oom;
        it->v = v, it->cap = cap;
    }
    cli_item *e = &it->v[it->n];
    e->path = dup(path), e->name = dup(name), e->stem = dup(name);
    if (!e->path || !e->name || !e->stem) {
        free(e->path), free(e->name), free(e->stem);
        goto oom;
    }
    char *slash = strrchr(e->stem, '/'), *dot = strrchr(e->stem, '.');
    if (dot && dot > (slash ? slash + 1 : e->stem)) *dot = 0;
    it->n++;
    return 1;
oom:
    cli_error(prog, "out of memory listing the inputs");
    return 0;
}

static int is_image_name(const char *s) {
    static const char *ext[] = {".png", ".jpg", ".jpeg", ".ppm", ".pgm"};
    size_t n = strlen(s);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t k = strlen(ext[i]);
        if (n > k) {
            size_t j = 0;
            while (j < k && (s[n - k + j] | 0x20) == ext[i][j]) j++;
            if (j == k) return 1;
        }
    }
    return 0;
}

typedef struct found {
    char **rel; /* (n) */
    int    n, cap;
} found;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Collects the image files under root/rel (rel "" at the top), depth-first. */
static int walk(const char *prog, const char *root, const char *rel, const struct stat *skip, found *fd, int depth) {
    char dir[4096], q[256];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    if (depth > 64) {
        cli_error(prog, "%s: folders nested more than 64 deep", cli_q(q, sizeof q, dir));
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        cli_error(prog, "cannot read folder %s: %s", cli_q(q, sizeof q, dir), strerror(errno));
        return 0;
    }
    int ok = 1;
    struct dirent *de;
    while (ok && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char r[4096], p[4096];
        if ((size_t)snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= sizeof r ||
            (size_t)snprintf(p, sizeof p, "%s/%s", root, r) >= sizeof p) {
            cli_error(prog, "%s: path too long", cli_q(q, sizeof q, dir));
            ok = 0;
            break;
        }
        struct stat ls, st;
        if (lstat(p, &ls)) continue; /* vanished meanwhile */
        int is_dir = S_ISDIR(ls.st_mode) || (S_ISLNK(ls.st_mode) && !stat(p, &st) && S_ISDIR(st.st_mode));
        if (is_dir) {
            if (!S_ISDIR(ls.st_mode)) continue; /* a link to a folder: not followed (os.walk's rule) */
            if (skip && ls.st_dev == skip->st_dev && ls.st_ino == skip->st_ino) continue;
            ok = walk(prog, root, r, skip, fd, depth + 1);
        } else if (is_image_name(de->d_name)) {
            if (fd->n == fd->cap) {
                int cap = fd->cap ? 2 * fd->cap : 256;
                char **v = realloc(fd->rel, (size_t)cap * sizeof *v);
                if (!v) { cli_error(prog, "out of memory listing %s", cli_q(q, sizeof q, dir)); ok = 0; break; }
                fd->rel = v, fd->cap = cap;
            }
            if (!(fd->rel[fd->n] = dup(r))) { cli_error(prog, "out of memory"); ok = 0; break; }
            fd->n++;
        }
    }
    closedir(d);
    return ok;
}

static int add_folder(const char *prog, cli_items *it, const char *root, const char *skip_path) {
    struct stat sk;
    int has_skip = skip_path && !stat(skip_path, &sk);
    found fd = {0};
    int ok = walk(prog, root, "", has_skip ? &sk : NULL, &fd, 0);
    if (ok) qsort(fd.rel, (size_t)fd.n, sizeof *fd.rel, cmp_str); /* strcmp: bytewise */
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') rl--;
    for (int i = 0; ok && i < fd.n; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%.*s/%s", (int)rl, root, fd.rel[i]);
        ok = push(prog, it, p, fd.rel[i]);
    }
    for (int i = 0; i < fd.n; i++) free(fd.rel[i]);
    free(fd.rel);
    return ok;
}

int cli_items_add(const char *prog, cli_items *it, const char *arg, const char *skip) {
    struct stat st;
    char q[256];
    if (stat(arg, &st)) {
        cli_error(prog, "%s: %s", cli_q(q, sizeof q, arg), strerror(errno));
        return 0;
    }
    if (S_ISDIR(st.st_mode)) return add_folder(prog, it, arg, skip);
    const char *base = strrchr(arg, '/');
    return push(prog, it, arg, base ? base + 1 : arg);
}

/* The name of a listed file: its path without "." parts and repeated '/', when relative
 * and free of ".."; else its base name. */
static void list_name(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t k = 0;
    int ok = path[0] != '/';
    for (const char *p = path; ok && *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') ok = 0;
        else if (n && !(n == 1 && p[0] == '.')) {
            if (k + n + 2 > cap) ok = 0;
            else {
                if (k) out[k++] = '/';
                memcpy(out + k, p, n);
                k += n;
            }
        }
        p += n + (e != NULL);
    }
    if (!ok || !k) snprintf(out, cap, "%s", base);
    else out[k] = 0;
}

int cli_items_add_list(const char *prog, cli_items *it, const char *list, const char *skip) {
    char q[256];
    FILE *f = strcmp(list, "-") ? fopen(list, "r") : stdin;
    if (!f) {
        cli_error(prog, "cannot open list %s: %s", cli_q(q, sizeof q, list), strerror(errno));
        return 0;
    }
    char line[4096], name[4096];
    int ok = 1, no = 0;
    while (ok && fgets(line, sizeof line, f)) {
        no++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            cli_error(prog, "%s line %d: longer than %d bytes", cli_q(q, sizeof q, list), no, (int)sizeof line - 2);
            ok = 0;
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        struct stat st;
        if (!stat(line, &st) && S_ISDIR(st.st_mode)) {
            ok = add_folder(prog, it, line, skip);
            continue;
        }
        if (stat(line, &st)) {
            cli_error(prog, "%s line %d: %s: %s", cli_q(q, sizeof q, list), no, cli_q(name, sizeof name, line),
                      strerror(errno));
            ok = 0;
            break;
        }
        list_name(line, name, sizeof name);
        ok = push(prog, it, line, name);
    }
    if (ok && ferror(f)) {
        cli_error(prog, "cannot read list %s", cli_q(q, sizeof q, list));
        ok = 0;
    }
    if (f != stdin) fclose(f);
    return ok;
}

static const cli_items *sort_items; /* only during cli_items_check_names' qsort */
static int cmp_stem(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(sort_items->v[i].stem, sort_items->v[j].stem);
    return c ? c : (i > j) - (i < j);
}

int cli_items_check_names(const char *prog, const cli_items *it) {
    int *ix = malloc((size_t)(it->n ? it->n : 1) * sizeof *ix);
    if (!ix) { cli_error(prog, "out of memory"); return 0; }
    for (int i = 0; i < it->n; i++) ix[i] = i;
    sort_items = it;
    qsort(ix, (size_t)it->n, sizeof *ix, cmp_stem);
    sort_items = NULL;
    int ok = 1;
    for (int i = 1; ok && i < it->n; i++)
        if (!strcmp(it->v[ix[i - 1]].stem, it->v[ix[i]].stem)) {
            char a[256], b[256], s[256];
            cli_error(prog, "%s and %s would both be written as %s_* (inputs are named by their path relative to "
                      "the folder they were found in; nothing was run)", cli_q(a, sizeof a, it->v[ix[i - 1]].path),
                      cli_q(b, sizeof b, it->v[ix[i]].path), cli_q(s, sizeof s, it->v[ix[i]].stem));
            ok = 0;
        }
    free(ix);
    return ok;
}

void cli_items_free(cli_items *it) {
    for (int i = 0; i < it->n; i++) free(it->v[i].path), free(it->v[i].name), free(it->v[i].stem);
    free(it->v);
    it->v = NULL, it->n = it->cap = 0;
}

int cli_mkdirs(const char *base, const char *rel) {
    char p[8192];
    size_t bl = (size_t)snprintf(p, sizeof p, "%s/", base);
    if (bl + strlen(rel) >= sizeof p) { errno = ENAMETOOLONG; return 0; }
    strcpy(p + bl, rel);
    for (char *s = p + bl; (s = strchr(s, '/')); s++) {
        *s = 0;
        if (mkdir(p, 0777) && errno != EEXIST) return 0;
        *s = '/';
    }
    return 1;
}

/* ---------------------------------------------------------------- progress bar */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_bar_start(cli_bar *b, int total) {
    b->t0 = cli_now();
    b->total = total, b->done = b->computed = 0;
}

void cli_bar_show(const char *prog, const cli_bar *b, const char *what) {
    char bar[24], eta[32] = "--:--", q[96];
    const int width = 20, fill = b->total ? (int)((long long)width * b->done / b->total) : width;
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
    bar[width] = 0;
    double dt = cli_now() - b->t0, rate = dt > 0 ? b->computed / dt : 0;
    if (rate > 0) {
        long s = (long)((b->total - b->done) / rate + 0.5);
        if (s >= 3600) snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        else snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    cli_progress(prog, "[%s] %d/%d  %.1f/s  ETA %s  %s", bar, b->done, b->total, rate, eta, cli_q(q, sizeof q, what));
}

/* ---------------------------------------------------------------- JSON */

/* The code point of the valid UTF-8 sequence at s and its length, or 0 (RFC 3629). */
static int utf8_decode(const unsigned char *s, unsigned *cp) {
    const unsigned c = s[0];
    int n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))) return 0;
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))) return 0;
    unsigned v = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int i = 1; i < n; i++) v = v << 6 | (s[i] & 0x3f);
    *cp = v;
    return n;
}

void cli_json_ascii(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp;
        int n = utf8_decode(p, &cp);
        if (!n) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        p += n;
        if (cp == '"' || cp == '\\') fprintf(f, "\\%c", (char)cp);
        else if (cp == '\n') fputs("\\n", f);
        else if (cp == '\r') fputs("\\r", f);
        else if (cp == '\t') fputs("\\t", f);
        else if (cp == '\b') fputs("\\b", f);
        else if (cp == '\f') fputs("\\f", f);
        else if (cp < 0x20 || (cp > 0x7f && cp < 0x10000)) fprintf(f, "\\u%04x", cp);
        else if (cp >= 0x10000) fprintf(f, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
        else fputc((int)cp, f);
    }
    fputc('"', f);
}

void cli_json_number(FILE *f, double v) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* Python writes 4.0, not 4, and 1e-05 as C does */
    if (!strpbrk(buf, ".en")) strcat(buf, ".0");
    fputs(buf, f);
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (d < 0) return 0;
        *v = *v << 4 | (unsigned)d;
    }
    return 1;
}

int cli_json_parse_string(const char **pp, char *out, size_t cap) {
    const char *p = *pp;
    size_t k = 0;
    if (*p++ != '"') return 0;
    for (;;) {
        unsigned cp;
        char c = *p++;
        const int esc = c == '\\';
        if (!c || (unsigned char)c < 0x20) return 0;
        if (c == '"') break;
        if (!esc) cp = (unsigned char)c;
        else {
            c = *p++;
            if (c == 'u') {
                if (!hex4(p, &cp)) return 0;
                p += 4;
                if (cp >= 0xd800 && cp < 0xdc00) {
                    unsigned lo;
                    if (p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &lo) || lo < 0xdc00 || lo >= 0xe000) return 0;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp < 0xe000) return 0;
            } else {
                const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *w = c ? strchr(from, c) : NULL;
                if (!w) return 0;
                cp = (unsigned char)to[w - from];
            }
            if (cp == 0) return 0; /* a NUL cannot be in a C string */
        }
        /* bytes as they are (raw UTF-8 passes through); escapes encoded as UTF-8 */
        unsigned char b[4];
        int n = 1;
        if (!esc || cp < 0x80) b[0] = (unsigned char)cp;
        else if (cp < 0x800) b[0] = (unsigned char)(0xc0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3f)), n = 2;
        else if (cp < 0x10000)
            b[0] = (unsigned char)(0xe0 | cp >> 12), b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f)),
            b[2] = (unsigned char)(0x80 | (cp & 0x3f)), n = 3;
        else
            b[0] = (unsigned char)(0xf0 | cp >> 18), b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f)),
            b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f)), b[3] = (unsigned char)(0x80 | (cp & 0x3f)), n = 4;
        if (k + (size_t)n >= cap) return 0;
        memcpy(out + k, b, (size_t)n);
        k += (size_t)n;
    }
    out[k] = 0;
    *pp = p;
    return 1;
}
