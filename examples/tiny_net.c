/* tiny_net - builds a small residual CNN in code, runs it forward and backward.
 * Shows the core API in one page: model -> session -> forward -> backward.
 *
 *   input -> conv1 -> relu ------------------------+
 *                       |                          |
 *                       +-> block.conv1 -> block.relu -> block.conv2 -> block.add -> block.relu_1
 *                                                          (identity) ---^            (alias "block")
 *   -> avgpool (global) -> flatten -> fc
 */
#include "gradcam.h"
#include <stdio.h>

/* On failure: one line, then the cleanup at the end of main (every exit path frees everything). */
#define TRY(call) do { gc_status st_ = (call); if (st_ != GC_OK) { \
    fprintf(stderr, "tiny_net: %s: %s\n", gc_status_string(st_), gc_last_error()); goto done; } } while (0)

int main(void) {
    gc_model *m = NULL;
    gc_session *s = NULL;
    int rc = 1;
    TRY(gc_model_create(&m));
    gc_conv2d_params conv = gc_conv2d_defaults(3, 4, 3);            /* 3 -> 4 channels, 3x3 */
    conv.pad_h = conv.pad_w = 1;
    gc_conv2d_params same = gc_conv2d_defaults(4, 4, 3);            /* 4 -> 4, keeps the size */
    same.pad_h = same.pad_w = 1;
    gc_adaptive_pool2d_params gap = {1, 1};                          /* global average pooling */
    gc_linear_params fc = {4, 3, 1};                                 /* 4 -> 3 classes */
    TRY(gc_model_add_conv2d(m, "conv1", NULL, &conv, NULL, NULL));   /* NULL: the layer before */
    TRY(gc_model_add_relu(m, "relu", NULL));
    /* a residual block: two convolutions, then their output plus the block's input */
    TRY(gc_model_add_conv2d(m, "block.conv1", "relu", &same, NULL, NULL));
    TRY(gc_model_add_relu(m, "block.relu", NULL));
    TRY(gc_model_add_conv2d(m, "block.conv2", NULL, &same, NULL, NULL));
    TRY(gc_model_add_add(m, "block.add", "block.conv2", "relu"));
    TRY(gc_model_add_relu(m, "block.relu_1", NULL));
    TRY(gc_model_add_alias(m, "block", "block.relu_1"));           /* the block's output */
    TRY(gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &gap));
    TRY(gc_model_add_flatten(m, "flatten", NULL));
    TRY(gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL));
    TRY(gc_model_init_random(m, 1));
    printf("default Grad-CAM layer: %s\n", gc_model_default_layer(m)); /* "block" */

    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 8, .width = 8}; /* one 3x8x8 image */
    TRY(gc_session_create(m, &cfg, &s));
    float image[3 * 8 * 8];
    for (int i = 0; i < 3 * 8 * 8; i++) image[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    TRY(gc_session_forward(s, image));

    gc_tensor y;
    TRY(gc_session_output(s, &y));
    int best = 0;
    for (int c = 0; c < 3; c++) {
        printf("logit[%d] = %+.5f\n", c, y.data[c]);
        if (y.data[c] > y.data[best]) best = c;
    }

    /* d y_best / d (block output): the quantity Grad-CAM averages. */
    float onehot[3] = {0, 0, 0};
    onehot[best] = 1.0f;
    gc_backward_opts bo = {"block", GC_RELU_NORMAL, 0};
    TRY(gc_session_backward(s, onehot, &bo));
    gc_tensor g;
    TRY(gc_session_gradient(s, "block", &g));
    for (int k = 0; k < 4; k++) {
        double alpha = 0;
        for (int i = 0; i < 64; i++) alpha += g.data[k * 64 + i];
        printf("alpha[%d] = %+.6f  (mean gradient of channel %d)\n", k, alpha / 64, k);
    }

    /* down to the input: the relu output feeds two layers, so its gradient is their sum */
    bo.stop_layer = NULL;
    TRY(gc_session_backward(s, onehot, &bo));
    TRY(gc_session_gradient(s, "input", &g));
    printf("d logit[%d] / d input[0] = %+.6f\n", best, g.data[0]);
    rc = 0;
done:
    gc_session_free(s);
    gc_model_free(m);
    return rc;
}
