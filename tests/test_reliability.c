/* test_reliability.c - the library side of issue 14: NaN and infinities are
 * errors (GC_ERR_NUMERIC) that name where they appear - the input element,
 * the parameter element, the first layer whose output (or, in gc_explain,
 * whose backward pass) is non-finite - never a result; gc_quote, the one
 * routine that makes input-derived text safe for a message, and the messages
 * that use it (.npy headers, PNM magic, paths); directories given as files.
 * Oracles: values computed by hand from the construction of each model. */
#include "test.h"
#include "core/core.h"
#include <float.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- models */

/* conv(3->2, 1x1, weight w0) -> relu -> conv(2->2, 1x1, weight w1) -> relu -> gap -> flatten ->
 * linear(2->3, weight wl), biases 0, every weight of a layer the same value. */
static gc_model *chain(float w0, float w1, float wl) {
    gc_model *m = NULL;
    gc_conv2d_params c0 = gc_conv2d_defaults(3, 2, 1), c1 = gc_conv2d_defaults(2, 2, 1);
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params fc = {2, 3, 1};
    float a[6], b[4], l[6];
    for (int i = 0; i < 6; i++) a[i] = w0, l[i] = wl;
    for (int i = 0; i < 4; i++) b[i] = w1;
    if (gc_model_create(&m) || gc_model_add_conv2d(m, "features.0", NULL, &c0, a, NULL) ||
        gc_model_add_relu(m, "features.1", NULL) || gc_model_add_conv2d(m, "features.2", NULL, &c1, b, NULL) ||
        gc_model_add_relu(m, "features.3", NULL) || gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap) ||
        gc_model_add_flatten(m, "flatten", NULL) || gc_model_add_linear(m, "fc", NULL, &fc, l, NULL)) {
        fprintf(stderr, "chain: %s\n", gc_last_error());
        gc_model_free(m);
        return NULL;
    }
    return m;
}

static gc_session *session(const gc_model *m, int h, int w) {
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = h, .width = w};
    if (gc_session_create(m, &cfg, &s)) fprintf(stderr, "session: %s\n", gc_last_error());
    return s;
}

static int has(const char *needle) {
    if (strstr(gc_last_error(), needle)) return 1;
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", gc_last_error(), needle);
    return 0;
}

/* ---------------------------------------------------------------- inputs */

TEST(nonfinite_input_is_refused_with_its_index) {
    gc_model *m = chain(1, 1, 1);
    gc_session *s = m ? session(m, 2, 2) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = 0.5f;
    CHECK_OK(gc_session_forward(s, x));
    x[7] = NAN; /* channel 1, y 1, x 1 */
    CHECK_FAILS(gc_session_forward(s, x), GC_ERR_NUMERIC);
    CHECK(has("input element 7 (n 0, c 1, y 1, x 1) is NaN"));
    gc_tensor y;
    CHECK_FAILS(gc_session_output(s, &y), GC_ERR_STATE); /* a refused forward leaves no result */
    for (int i = 0; i < 12; i++) x[i] = INFINITY; /* the all-Inf array */
    CHECK_FAILS(gc_session_forward(s, x), GC_ERR_NUMERIC);
    CHECK(has("input element 0 (n 0, c 0, y 0, x 0) is inf"));
    x[0] = 1;
    x[1] = -INFINITY;
    CHECK_FAILS(gc_session_forward(s, x), GC_ERR_NUMERIC);
    CHECK(has("input element 1") && has("-inf"));
    gc_explain_request rq = {.methods = GC_METHOD_GRADCAM};
    gc_explain_result r;
    CHECK_FAILS(gc_explain(s, x, &rq, &r), GC_ERR_NUMERIC);
    /* a caller's output gradient is an input too */
    for (int i = 0; i < 12; i++) x[i] = 0.5f;
    CHECK_OK(gc_session_forward(s, x));
    float dy[3] = {1, NAN, 0};
    gc_backward_opts bo = {NULL, GC_RELU_NORMAL, 0};
    CHECK_FAILS(gc_session_backward(s, dy, &bo), GC_ERR_NUMERIC);
    CHECK(has("output_grad element 1"));
    gc_session_free(s);
    gc_model_free(m);
}

/* NaN weights: the ReLU after the convolution turns NaN into 0, so the output looked finite
 * and classify printed a class (issue 14). Parameters are checked when a session is planned. */
TEST(nonfinite_parameters_are_refused_when_planning) {
    gc_model *m = chain(1, 1, 1);
    if (!m) { CHECK(0); return; }
    gc_tensor w;
    CHECK_OK(gc_model_param(m, "features.2.weight", &w));
    w.data[3] = NAN;
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 2, .width = 2};
    CHECK_FAILS(gc_session_create(m, &cfg, &s), GC_ERR_NUMERIC);
    CHECK(s == NULL && has("features.2.weight: element 3 is NaN"));
    w.data[3] = 1;
    CHECK_OK(gc_model_param(m, "fc.bias", &w));
    w.data[2] = -INFINITY;
    CHECK_FAILS(gc_session_create(m, &cfg, &s), GC_ERR_NUMERIC);
    CHECK(has("fc.bias: element 2 is -inf"));
    /* a session that starts after the bad layer does not use it */
    CHECK_OK(gc_model_param(m, "fc.bias", &w));
    w.data[2] = 0;
    CHECK_OK(gc_model_param(m, "features.0.weight", &w));
    w.data[0] = INFINITY;
    cfg.input_layer = "features.1";
    CHECK_OK(gc_session_create(m, &cfg, &s));
    gc_session_free(s);
    gc_model_free(m);
}

/* Finite input and parameters whose products overflow: input 1e20 through 1x1 convolutions of
 * weight 1e10: features.0 gives 3e30 (finite), features.2 2 x 3e30 x 1e10 = 6e40 = inf. The
 * error names features.2, the first layer whose output is not finite. */
TEST(overflow_names_the_first_nonfinite_layer) {
    gc_model *m = chain(1e10f, 1e10f, 1);
    gc_session *s = m ? session(m, 2, 2) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = 1e20f;
    CHECK_FAILS(gc_session_forward(s, x), GC_ERR_NUMERIC);
    CHECK(has("the output of layer features.2 (conv2d) is not finite") && has("element 0 (n 0, c 0, y 0, x 0) is inf"));
    gc_tensor y;
    CHECK_FAILS(gc_session_output(s, &y), GC_ERR_STATE);
    gc_explain_request rq = {.methods = GC_METHOD_GUIDED_GRADCAM};
    gc_explain_result r;
    CHECK_FAILS(gc_explain(s, x, &rq, &r), GC_ERR_NUMERIC);
    CHECK(has("features.2"));
    /* smaller inputs stay finite: features.0 3e25, features.2 2 x 3e25 x 1e10 = 6e35, fc 2 x 6e35 */
    for (int i = 0; i < 12; i++) x[i] = 1e15f;
    CHECK_OK(gc_session_forward(s, x));
    CHECK_OK(gc_session_output(s, &y));
    CHECK_NEAR(y.data[0] / 1.2e36, 1.0, 1e-5);
    gc_session_free(s);
    gc_model_free(m);
}

/* The forward is finite, the backward is not: input 1e-30, weights 1e20. Forward: features.0
 * 3e-10, features.2 6e10, output 1.2e11. Guided backprop to the input: d/dx = 1 (fc) x 1/4 (gap,
 * 2x2) x 2 x 1e20 (features.2) x 2 x 1e20 (features.0) = 1e40 = inf: features.0 is the first
 * layer whose backward gives a non-finite gradient. Grad-CAM at features.3 is finite (1/4). */
TEST(explain_names_the_layer_whose_gradient_overflows) {
    gc_model *m = chain(1e20f, 1e20f, 1);
    gc_session *s = m ? session(m, 2, 2) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = 1e-30f;
    gc_explain_request rq = {.target = GC_TARGET_CLASS, .class_index = 1, .methods = GC_METHOD_GRADCAM};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x, &rq, &r));
    CHECK_NEAR(r.items[0].alpha.data[0], 0.25, 1e-6);
    rq.methods = GC_METHOD_GUIDED_GRADCAM;
    CHECK_FAILS(gc_explain(s, x, &rq, &r), GC_ERR_NUMERIC);
    CHECK(has("class 1") && has("guided backpropagation") && has("backward pass of layer features.0 (conv2d)"));
    rq.methods = GC_METHOD_DECONVNET;
    CHECK_FAILS(gc_explain(s, x, &rq, &r), GC_ERR_NUMERIC);
    CHECK(has("deconvnet") && has("features.0"));
    /* top-K through the batched head: Grad-CAM alone stays finite */
    rq.target = GC_TARGET_TOPK;
    rq.top_k = 2;
    rq.methods = GC_METHOD_GRADCAM;
    CHECK_OK(gc_explain(s, x, &rq, &r));
    CHECK(r.count == 2);
    gc_session_free(s);
    gc_model_free(m);
}

/* Grad-CAM's gradient overflows before the target layer is reached: fc weights 1e30 and a
 * caller gradient of 1e10: d/d(gap) = 1e40. The error names fc. */
TEST(explain_gradcam_gradient_overflow) {
    gc_model *m = chain(1, 1, 1e30f);
    gc_session *s = m ? session(m, 2, 2) : NULL;
    if (!s) { CHECK(0); gc_model_free(m); return; }
    float x[12], g[3] = {1e10f, 0, 0};
    for (int i = 0; i < 12; i++) x[i] = 1e-10f; /* output 3 x 2 x 3e-10 x 1e30 = 1.8e21: finite */
    gc_explain_request rq = {.target = GC_TARGET_GRADIENT, .output_grad = g, .methods = GC_METHOD_GRADCAM};
    gc_explain_result r;
    CHECK_FAILS(gc_explain(s, x, &rq, &r), GC_ERR_NUMERIC);
    CHECK(has("the caller's gradient") && has("Grad-CAM") && has("backward pass of layer fc (linear)"));
    g[0] = 1;
    CHECK_OK(gc_explain(s, x, &rq, &r));
    gc_session_free(s);
    gc_model_free(m);
}

/* An infinity that a sigmoid maps back to 1: the output is finite, so the forward pass is not
 * an error, but Grad-CAM at the infinite layer is (3 x 2e38 overflows). */
TEST(explain_at_a_nonfinite_target_layer) {
    gc_model *m = NULL;
    gc_conv2d_params c = gc_conv2d_defaults(3, 2, 1);
    gc_activation_params sig = gc_activation_defaults(GC_ACT_SIGMOID);
    gc_adaptive_pool2d_params ap = {1, 1};
    gc_linear_params fc = {2, 3, 1};
    float w[6] = {2e38f, 2e38f, 2e38f, 1, 1, 1};
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "features.0", NULL, &c, w, NULL));
    CHECK_OK(gc_model_add_activation(m, "features.1", NULL, &sig));
    CHECK_OK(gc_model_add_adaptive_avgpool2d(m, "avgpool", NULL, &ap));
    CHECK_OK(gc_model_add_flatten(m, "flatten", NULL));
    CHECK_OK(gc_model_add_linear(m, "fc", NULL, &fc, NULL, NULL));
    const char *keep[] = {"features.0", NULL};
    gc_session *s = NULL;
    gc_session_config cfg = {.batch = 1, .channels = 3, .height = 2, .width = 2, .keep = keep};
    CHECK_OK(gc_session_create(m, &cfg, &s));
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = 1;
    CHECK_OK(gc_session_forward(s, x));
    gc_explain_request rq = {.layer = "features.1", .methods = GC_METHOD_GRADCAM};
    gc_explain_result r;
    CHECK_OK(gc_explain(s, x, &rq, &r));
    rq.layer = "features.0";
    CHECK_FAILS(gc_explain(s, x, &rq, &r), GC_ERR_NUMERIC);
    CHECK(has("target layer features.0 is not finite") && has("first layer whose output is not finite: features.0"));
    gc_session_free(s);
    gc_model_free(m);
}

/* A network whose output is spatial has no layers after it to batch top-K targets through:
 * a clear error, not "top-K head session: input_layer ... is the output layer" (issue 14). */
TEST(topk_at_the_output_layer) {
    gc_model *m = NULL;
    gc_conv2d_params c = gc_conv2d_defaults(3, 2, 1);
    CHECK_OK(gc_model_create(&m));
    CHECK_OK(gc_model_add_conv2d(m, "features.0", NULL, &c, NULL, NULL));
    CHECK_OK(gc_model_add_relu(m, "features.1", NULL));
    CHECK_OK(gc_model_init_random(m, 3));
    gc_session *s = session(m, 4, 4);
    if (!s) { CHECK(0); gc_model_free(m); return; }
    float x[48];
    for (int i = 0; i < 48; i++) x[i] = (float)(i % 7) - 3;
    gc_explain_request rq = {.target = GC_TARGET_TOPK, .top_k = 2, .methods = GC_METHOD_GRADCAM};
    gc_explain_result r;
    CHECK_FAILS(gc_explain(s, x, &rq, &r), GC_ERR_INVALID_ARGUMENT);
    CHECK(has("network output") && !strstr(gc_last_error(), "head session"));
    gc_session_free(s);
    gc_model_free(m);
}

TEST(status_string) {
    CHECK(strcmp(gc_status_string(GC_ERR_NUMERIC), "GC_ERR_NUMERIC") == 0);
    CHECK(strcmp(gc_status_string(GC_STATUS_COUNT), "GC_ERR_UNKNOWN") == 0);
}

TEST(first_nonfinite) {
    float v[300];
    for (int i = 0; i < 300; i++) v[i] = (float)i;
    CHECK(gc_first_nonfinite(v, 300) == -1);
    CHECK(gc_first_nonfinite(v, 0) == -1);
    const int at[] = {0, 63, 64, 200, 299};
    for (int k = 0; k < 5; k++) {
        v[at[k]] = k % 2 ? -INFINITY : NAN;
        CHECK(gc_first_nonfinite(v, 300) == at[k]);
        CHECK(gc_first_nonfinite(v, at[k]) == -1);
        v[at[k]] = 0;
    }
    v[100] = FLT_MAX, v[101] = -FLT_MAX, v[102] = 1e-45f;
    CHECK(gc_first_nonfinite(v, 300) == -1);
}

/* ---------------------------------------------------------------- quoting */

TEST(quote) {
    char b[64];
    CHECK(strcmp(gc_quote(b, sizeof b, "abc", 3), "abc") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, "a\nb\x1b[31m", 8), "a\\x0ab\\x1b[31m") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, "a\\b", 3), "a\\\\b") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, "\xff\x7f\x00z", 4), "\\xff\\x7f\\x00z") == 0);
    CHECK(strcmp(gc_quote(b, sizeof b, NULL, 5), "") == 0);
    /* cut at an escape boundary, marked with "..." */
    CHECK(strcmp(gc_quote(b, 10, "abcdefghijk", 11), "abcdef...") == 0);
    CHECK(strcmp(gc_quote(b, 10, "abcde\x01xyz", 9), "abcde...") == 0);
    CHECK(strcmp(gc_quote(b, 10, "abcdefghi", 9), "abcdefghi") == 0); /* fits exactly */
    CHECK(strcmp(gc_quote(b, 3, "abcdef", 6), "") == 0);
    CHECK(strcmp(gc_quote(b, 1, "abc", 3), "") == 0);
    /* every byte value: the result is printable ASCII */
    char all[256], big[1100];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    gc_quote(big, sizeof big, all, 256);
    int printable = 1;
    for (const char *p = big; *p; p++) printable &= *p >= 0x20 && *p < 0x7f;
    CHECK(printable && strlen(big) == 4 * (256 - 95) + 95 + 1);
}

static int message_is_printable(void) {
    for (const char *p = gc_last_error(); *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) return 0;
    return 1;
}

/* A crafted .npy header: its text reached the terminal raw (issue 14). */
TEST(npy_header_text_is_quoted) {
    static const char *heads[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '\n\x1b[2J\x1b[31mred': 1}",
        "{'descr': '\x1b]0;title\x07', 'fortran_order': False, 'shape': (1,), }",
    };
    static const char *want[] = {"'\\x0a\\x1b[2J\\x1b[31mred'", "'\\x1b]0;title\\x07'"};
    for (int k = 0; k < 2; k++) {
        uint8_t buf[256];
        size_t n = strlen(heads[k]);
        memcpy(buf, "\x93NUMPY\x01\x00", 8);
        buf[8] = (uint8_t)n, buf[9] = 0;
        memcpy(buf + 10, heads[k], n);
        memset(buf + 10 + n, 0, 4);
        gc_tensor t;
        gc_status st = gc_npy_load_memory(buf, 10 + n + 4, &t);
        CHECK(st == GC_ERR_FORMAT || st == GC_ERR_UNSUPPORTED);
        CHECK(message_is_printable() && has(want[k]));
    }
}

TEST(pnm_magic_is_quoted) {
    gc_image img;
    CHECK_FAILS(gc_image_decode_pnm("P\x1b 1 1 255\n\0", 13, NULL, &img), GC_ERR_FORMAT);
    CHECK(message_is_printable() && has("P\\x1b"));
}

/* A directory given where a file is expected: was "file of 9223372036854775807 bytes" (issue 14). */
TEST(directories_are_not_files) {
    char dir[] = "/tmp/test_reliability_XXXXXX", sub[64];
    if (!mkdtemp(dir)) { CHECK(0); return; }
    snprintf(sub, sizeof sub, "%s/x\x1b[31m.png", dir);
    CHECK(mkdir(sub, 0700) == 0);
    gc_image img;
    gc_tensor t;
    CHECK_FAILS(gc_image_load(sub, NULL, &img), GC_ERR_IO);
    CHECK(has("not a regular file") && !strstr(gc_last_error(), "9223372036854775807") && message_is_printable());
    CHECK_FAILS(gc_npy_load(sub, &t), GC_ERR_IO);
    CHECK(has("not a regular file") && message_is_printable());
    gc_model *m = NULL;
    CHECK_FAILS(gc_model_open(sub, &m), GC_ERR_IO);
    CHECK(has("not a regular file") && has("x\\x1b[31m.png") && message_is_printable());
    rmdir(sub);
    rmdir(dir);
}

/* Names given to the model builders are quoted where they are refused. */
TEST(builder_names_are_quoted) {
    gc_model *m = NULL;
    CHECK(gc_model_create(&m) == GC_OK);
    CHECK_FAILS(gc_model_add_relu(m, "bad\x1b[2Jname", NULL), GC_ERR_INVALID_ARGUMENT);
    CHECK(message_is_printable() && has("bad\\x1b[2Jname"));
    CHECK_FAILS(gc_model_add_relu(m, "r", "no\nsuch"), GC_ERR_NOT_FOUND);
    CHECK(message_is_printable() && has("no\\x0asuch"));
    CHECK_FAILS(gc_model_add_alias(m, "a\x07", "missing\x07"), GC_ERR_NOT_FOUND);
    CHECK(message_is_printable() && has("a\\x07") && has("missing\\x07"));
    gc_model_free(m);
}

int main(void) {
    RUN(nonfinite_input_is_refused_with_its_index);
    RUN(builder_names_are_quoted);
    RUN(nonfinite_parameters_are_refused_when_planning);
    RUN(overflow_names_the_first_nonfinite_layer);
    RUN(explain_names_the_layer_whose_gradient_overflows);
    RUN(explain_gradcam_gradient_overflow);
    RUN(explain_at_a_nonfinite_target_layer);
    RUN(topk_at_the_output_layer);
    RUN(status_string);
    RUN(first_nonfinite);
    RUN(quote);
    RUN(npy_header_text_is_quoted);
    RUN(pnm_magic_is_quoted);
    RUN(directories_are_not_files);
    return test_summary("reliability");
}
