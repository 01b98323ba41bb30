/* cluttered_fashion - writes the "cluttered Fashion-MNIST" localisation benchmark: test items
 * of Fashion-MNIST placed at seeded positions on larger black canvases, with clutter cut from
 * other test items of other classes (never inside the item's box or 2 pixels around it), as
 * PNG files and a CSV of ground-truth boxes that examples/evaluate reads:
 *
 *   ./examples/cluttered_fashion --out eval-out/cluttered --n 500
 *   ./examples/evaluate --model weights/fashion.gcw --csv eval-out/cluttered/cluttered.csv \
 *       --input-size 112 --out eval-out/cluttered-report
 *
 * Canvas i shows test item i (items first..first+n-1 of the 10,000); the box is the tight box
 * of the item's non-zero pixels. Deterministic for the seed. */
#include "gradcam.h"
#include "common/cli.h"
#include "common/fashion.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROG "cluttered_fashion"

static void usage(FILE *f) {
    fprintf(f, "usage: cluttered_fashion [--data DIR] [--out DIR] [--n N] [--first I] [--seed S] [--side N]\n"
               "                         [--clutter N] [--frag N]\n"
               "Writes N canvases (PNG, grey) and DIR/cluttered.csv (image,class,x0,y0,x1,y1).\n"
               "defaults: --data " FASHION_DIR " --out cluttered --n 500 --first 0 --seed 18\n"
               "          --side 112 --clutter 8 --frag 10\n"
               "ranges: --n 1..10000, --first 0..9999, --side 40..1024, --clutter 0..256, --frag 4..20.\n");
}

int main(int argc, char **argv) {
    const char *data = FASHION_DIR, *out = "cluttered";
    int n = 500, first = 0;
    uint64_t seed = 18;
    clutter_params cp = {112, 8, 10};
    char q[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        struct { const char *name; int *dst, lo, hi; } ints[] = {
            {"--n", &n, 1, 10000}, {"--first", &first, 0, 9999}, {"--side", &cp.side, 40, 1024},
            {"--clutter", &cp.n_clutter, 0, 256}, {"--frag", &cp.frag, 4, 20}};
        int k = 0, n_ints = (int)(sizeof ints / sizeof ints[0]), ok = 1;
        while (k < n_ints && strcmp(a, ints[k].name)) k++;
        if (k == n_ints && strcmp(a, "--seed") && strcmp(a, "--data") && strcmp(a, "--out")) {
            cli_error(PROG, "unknown option %s (try --help)", cli_q(q, sizeof q, a));
            return 2;
        }
        if (!v) { cli_error(PROG, "%s needs a value (try --help)", a); return 2; }
        i++;
        if (k < n_ints) ok = cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].dst);
        else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &seed);
        else if (!strcmp(a, "--data")) data = v;
        else out = v;
        if (!ok) { cli_error(PROG, "bad value \"%s\" for %s (try --help)", cli_q(q, sizeof q, v), a); return 2; }
    }
    if (!cli_make_outdir(PROG, out)) return 1;
    fashion_set te;
    if (!fashion_load(PROG, data, 0, &te)) return 1;
    if (first + n > te.n) n = (int)(te.n - first);
    char path[4096];
    snprintf(path, sizeof path, "%s/cluttered.csv", out);
    FILE *csv = fopen(path, "w");
    gc_image img = {0};
    int rc = 1;
    if (!csv) { cli_error(PROG, "cannot write %s: %s", cli_q(q, sizeof q, path), strerror(errno)); goto done; }
    if (gc_image_alloc(&img, cp.side, cp.side, 1, 8)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
    fprintf(csv, "image,class,x0,y0,x1,y1\n");
    for (int i = 0; i < n; i++) {
        gc_box b;
        int64_t t = first + i;
        clutter_canvas(&te, &cp, seed, (uint64_t)t, t, img.data, &b);
        char name[64];
        snprintf(name, sizeof name, "cluttered%05lld.png", (long long)t);
        snprintf(path, sizeof path, "%s/%s", out, name);
        if (gc_image_save_png(&img, path)) { cli_error(PROG, "%s", gc_last_error()); goto done; }
        fprintf(csv, "%s,%d,%d,%d,%d,%d\n", name, te.labels[t], b.x0, b.y0, b.x1, b.y1);
    }
    printf("%s: %d canvases %dx%d (%d fragments of %dx%d each, seed %llu) and cluttered.csv in %s\n", PROG, n,
           cp.side, cp.side, cp.n_clutter, cp.frag, cp.frag, (unsigned long long)seed, cli_q(q, sizeof q, out));
    rc = 0;
done:
    if (csv && (ferror(csv) | fclose(csv)) && !rc) { cli_error(PROG, "cluttered.csv: write failed"); rc = 1; }
    gc_image_release(&img);
    fashion_release(&te);
    return rc;
}
