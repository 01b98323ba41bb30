/* onnx_run.c - runs a .gcw model on one float32 .npy input and writes the network output as
 * .npy: the driver of `make onnx-conformance` (tests/onnx_conformance.py).
 *
 *   onnx_run MODEL.gcw INPUT.npy OUTPUT.npy [--reference]
 *
 * INPUT has 1 to 4 dimensions, taken as (N, C, H, W) with trailing 1s ((N, F) as (N, F, 1, 1),
 * as the converter's models expect). OUTPUT has the shape of the network output (the engine's:
 * an ONNX (N, C, L) output is (N, C, L, 1)). --reference: the reference kernels.
 * Exit status 0, or 1 with one line on stderr. */
#include "gradcam.h"
#include <stdio.h>
#include <string.h>

static int die(const char *what) {
    fprintf(stderr, "onnx_run: %s: %s\n", what, gc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "--reference") != 0)) {
        fprintf(stderr, "usage: onnx_run MODEL.gcw INPUT.npy OUTPUT.npy [--reference]\n");
        return 1;
    }
    gc_model *m = NULL;
    gc_session *s = NULL;
    gc_tensor x = {0}, y;
    int rc = 1;
    if (gc_model_open(argv[1], &m)) return die(argv[1]);
    if (gc_npy_load(argv[2], &x)) {
        rc = die(argv[2]);
        goto done;
    }
    gc_session_config cfg = {.batch = x.shape[0], .channels = x.shape[1], .height = x.shape[2], .width = x.shape[3],
                             .kernels = argc == 5 ? GC_KERNELS_REFERENCE : GC_KERNELS_AUTO}; /* past ndim: 1 */
    if (gc_session_create(m, &cfg, &s)) {
        rc = die("session");
        goto done;
    }
    if (gc_session_forward(s, x.data) || gc_session_output(s, &y)) {
        rc = die("forward");
        goto done;
    }
    if (gc_npy_save(argv[3], &y)) {
        rc = die(argv[3]);
        goto done;
    }
    rc = 0;
done:
    gc_session_free(s);
    gc_model_free(m);
    gc_tensor_release(&x);
    return rc;
}
