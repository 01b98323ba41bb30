/* session.h - what layers above lib/net may know about a session (internal). */
#ifndef GC_SESSION_H
#define GC_SESSION_H

#include "gradcam.h"

const gc_model          *gc_session_model(const gc_session *s);
const gc_session_config *gc_session_config_of(const gc_session *s);
/* 1 if the session runs the whole network (no input_layer). */
int gc_session_is_full(const gc_session *s);

/* One extension slot for per-session state owned by a higher layer (the
 * explainer's buffers). Set once; free_fn runs in gc_session_free. */
void *gc_session_ext(const gc_session *s);
void  gc_session_set_ext(gc_session *s, void *ext, void (*free_fn)(void *));

/* Forward passes after this sum every convolution and linear output in double and round it
 * once (0 turns it off; off when a session is created). The explanations whose maps follow
 * the ReLU signs and max-pool winners below the target layer to the input need it: a float
 * sum's error reorders near-ties that exact arithmetic decides (kernels/conv_accurate.c). */
void gc_session_set_accurate(gc_session *s, int on);

/* A session that starts at cfg->input_layer inside a branching graph: layers downstream
 * of it may also read outputs that do not depend on it ("side inputs", e.g. the other
 * branch of a residual join). They are filled by gc_session_forward_feeding. */
gc_status gc_session_create_head(const gc_model *m, const gc_session_config *cfg, gc_session **out);

/* gc_session_forward on s (the whole network, batch N) that also copies every side input of
 * `head` (same model, batch N x K) into it as it is computed: each image's K times, image-major
 * (head row n K + k is image n). */
gc_status gc_session_forward_feeding(gc_session *s, const float *input, gc_session *head);

/* Backward as gc_session_backward, but starting from `grad`, the gradient of layer `from`'s
 * output (copied into the session), down to opts->stop_layer. */
gc_status gc_session_backward_from(gc_session *s, const char *from, const float *grad,
                                   const gc_backward_opts *opts);

/* Two backward passes of the same output gradient through the layers after stop_layer, with
 * ReLU rules mode_a and mode_b, in one sweep: linear layers at batch 1 read their weights
 * once for both (gc_layer_ops.backward_pair). Stream a ends as gc_session_backward(s, output_grad,
 * {stop_layer, mode_a}) would (same bits; gradient of stop_layer readable); stream b's
 * gradient of stop_layer's output is left in scratch, at *grad_b (each bit as its own pass
 * would give). Only when the layers after stop_layer form a chain:
 * gc_session_pair_floats tells the scratch size, 0 when the pair does not apply. No
 * parameter gradients. */
size_t gc_session_pair_floats(const gc_session *s, const char *stop_layer);
gc_status gc_session_backward_pair(gc_session *s, const float *output_grad, const char *stop_layer,
                                   gc_relu_mode mode_a, gc_relu_mode mode_b, float *scratch,
                                   const float **grad_b);

/* Locating a non-finite value (after a checked pass found one): a forward pass on input that
 * stops after the first layer whose output holds a NaN or infinity and returns its index, -1
 * if there is none; a backward pass (as gc_session_backward, no parameter gradients) that
 * stops after the first layer whose backward writes a non-finite gradient and returns its
 * index, -1 if none, -2 if the pass cannot run. Either leaves the session needing a new
 * forward pass. */
int gc_session_forward_nonfinite(gc_session *s, const float *input);
int gc_session_backward_nonfinite(gc_session *s, const float *output_grad, const gc_backward_opts *opts);

#endif
