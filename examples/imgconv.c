/* imgconv - converts between the image formats libgradcam reads and writes.
 *
 *   imgconv INPUT OUTPUT
 *
 * INPUT: PNG, JPEG, PPM or PGM (recognised by content). OUTPUT by extension:
 *   .ppm  RGB, 8-bit (gray replicated, alpha dropped, 16-bit scaled to 8)
 *   .pgm  gray, 8-bit (RGB -> ITU-R 601 luma)
 *   .png  keeps the channels and the bit depth
 * Exits 0 on success, 1 with "imgconv: <reason>" on stderr otherwise. */
#include "gradcam.h"
#include "common/cli.h"
#include <stdio.h>
#include <string.h>

static int fail(const char *what, gc_status st) {
    cli_error("imgconv", "%s: %s (%s)", what, gc_last_error(), gc_status_string(st));
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k) return 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[n - k + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suffix[i]) return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: imgconv INPUT OUTPUT\n"
               "Decodes a PNG, JPEG, PPM or PGM image and writes OUTPUT by its extension:\n"
               "  .ppm  8-bit RGB (alpha dropped, 16-bit scaled to 8)\n"
               "  .pgm  8-bit gray\n"
               "  .png  same channels and bit depth as the input\n");
        return 0;
    }
    if (argc != 3) {
        cli_error("imgconv", "expected INPUT OUTPUT (see --help)");
        return 1;
    }
    const char *in = argv[1], *out = argv[2];
    int kind = ends_with(out, ".ppm") ? 1 : ends_with(out, ".pgm") ? 2 : ends_with(out, ".png") ? 3 : 0;
    char q[256];
    if (!kind) {
        cli_error("imgconv", "%s: output extension must be .ppm, .pgm or .png", cli_q(q, sizeof q, out));
        return 1;
    }
    gc_image img, conv;
    gc_status st = gc_image_load(in, NULL, &img);
    if (st) return fail("reading", st);
    if (kind == 3) st = gc_image_save_png(&img, out);
    else {
        st = kind == 1 ? gc_image_to_rgb8(&img, &conv) : gc_image_to_gray8(&img, &conv);
        if (!st) {
            st = gc_image_save_pnm(&conv, out);
            gc_image_release(&conv);
        }
    }
    gc_image_release(&img);
    if (st) return fail("writing", st);
    return 0;
}
