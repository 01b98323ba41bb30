/*
 * gradcam.h - libgradcam public API.
 *
 * libgradcam runs convolutional networks forward and backward on the CPU and
 * explains their decisions with Grad-CAM, guided backpropagation and Guided
 * Grad-CAM. Everything is plain C11; runtime dependencies are libc (with its
 * POSIX threads: each session runs its own) and libm.
 *
 * Objects
 *   gc_model    the network: a graph of named layers plus their weights.
 *               Built in code (gc_model_create + gc_model_add_*) or opened
 *               from a .gcw file. Treat it as immutable once built; one model
 *               may be shared by any number of threads.
 *   gc_session  per-thread mutable state for one model and one input shape:
 *               every activation and gradient buffer and one scratch
 *               workspace, all allocated by gc_session_create. Forward and
 *               backward never allocate.
 *   gc_tensor   a float32 array with an int64 shape (NCHW for images).
 *
 * Errors
 *   Every fallible call returns a gc_status. GC_OK is 0. On failure the
 *   calling thread's gc_last_error() names what was wrong, e.g.
 *   "features.0: conv2d expects 3 input channels, got 4". The library never
 *   prints, never exits and never aborts on bad input.
 *
 * Worked example (a two-layer network, forward then backward):
 *
 *   gc_model *m; gc_session *s;
 *   gc_model_create(&m);
 *   gc_conv2d_params cp = gc_conv2d_defaults(3, 8, 3);   // 3->8 channels, 3x3
 *   cp.pad_h = cp.pad_w = 1;
 *   gc_model_add_conv2d(m, "features.0", NULL, &cp, NULL, NULL);
 *   gc_model_add_relu(m, "features.1", NULL);
 *   gc_model_init_random(m, 42);
 *   gc_session_config cfg = {.batch = 1, .channels = 3, .height = 32, .width = 32};
 *   gc_session_create(m, &cfg, &s);
 *   gc_session_forward(s, image);                       // 1x3x32x32 floats
 *   gc_tensor y; gc_session_output(s, &y);              // 1x8x32x32 view
 *   gc_backward_opts bo = { NULL, GC_RELU_NORMAL, 0 };  // down to the input
 *   gc_session_backward(s, dy, &bo);                    // dy has y's shape
 *   gc_tensor dx; gc_session_gradient(s, "input", &dx);
 *   gc_session_free(s); gc_model_free(m);
 */
#ifndef GRADCAM_H
#define GRADCAM_H

#include <stddef.h>
#include <stdint.h>

/* Version of this header; gc_version() gives the library's at run time. The
 * shared library's soname carries the major number (libgradcam.so.0). */
#define GC_VERSION_MAJOR 0
#define GC_VERSION_MINOR 1
#define GC_VERSION_PATCH 0
#define GC_VERSION_STRING "0.1.0"

/* GC_API marks the public API. The library is compiled with hidden
 * visibility, so lib/libgradcam.so exports exactly what this header declares:
 * every declaration between GC_API_BEGIN and GC_API_END below (one pragma
 * pair, so a new declaration needs no marker of its own), and any single
 * declaration written with GC_API. Other compilers see empty macros. */
#if defined(__GNUC__) || defined(__clang__)
#define GC_API       __attribute__((visibility("default")))
#define GC_API_BEGIN _Pragma("GCC visibility push(default)")
#define GC_API_END   _Pragma("GCC visibility pop")
#else
#define GC_API
#define GC_API_BEGIN
#define GC_API_END
#endif

#ifdef __cplusplus
extern "C" {
#endif
GC_API_BEGIN

/* The library's version, "MAJOR.MINOR.PATCH" (GC_VERSION_STRING of the
 * header it was built with). Static storage, never NULL. */
GC_API const char *gc_version(void);

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

typedef enum gc_status {
    GC_OK = 0,
    GC_ERR_INVALID_ARGUMENT, /* a NULL pointer or an out-of-range value in a call */
    GC_ERR_SHAPE,            /* a tensor shape does not fit what is expected      */
    GC_ERR_NOT_FOUND,        /* an unknown layer, tensor or metadata name         */
    GC_ERR_OUT_OF_MEMORY,    /* an allocation failed or its size overflowed       */
    GC_ERR_IO,               /* a file could not be opened, read or written       */
    GC_ERR_FORMAT,           /* a file is corrupt, truncated or not of its format */
    GC_ERR_UNSUPPORTED,      /* valid input that this library does not handle     */
    GC_ERR_LIMIT,            /* a size exceeds a configured safety limit          */
    GC_ERR_STATE,            /* calls in the wrong order (backward before forward)*/
    GC_ERR_NUMERIC,          /* NaN or infinity: in an input or a parameter, or a
                                result (layer output, gradient, map) overflowed;
                                the message names the first place it appears  */
    GC_STATUS_COUNT
} gc_status;

/* Short constant name of a status ("GC_ERR_SHAPE"); never NULL. */
const char *gc_status_string(gc_status status);

/* Detail message of the calling thread's most recent failure; "" when none.
 * Never NULL. The buffer is thread-local and overwritten by the next failing
 * call on the same thread. */
const char *gc_last_error(void);

/* Clears the calling thread's detail message. */
void gc_clear_error(void);

/* Text from a file or a user (a name, a header field, a path) made safe to
 * quote in a message: bytes 0x20..0x7E are kept, except that a backslash is
 * doubled; every other byte (control characters, escape sequences, bytes
 * past ASCII) becomes \xHH. dst (cap >= 1 bytes) is always NUL-terminated;
 * what does not fit is cut at an escape boundary and ends in "...". Returns
 * dst, so the call can be a printf argument. Every message of the library
 * quotes input-derived text this way, and so do the example programs. */
const char *gc_quote(char *dst, size_t cap, const void *src, size_t len);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------ */

#define GC_MAX_DIMS 4

/* A float32 array in row-major order (NCHW for images, OIHW for conv
 * weights, out x in for linear weights). Views returned by the library have
 * owns_data = 0 and point into library memory; they stay valid as the call
 * that returned them documents. A tensor made by gc_tensor_alloc owns its
 * data and is released with gc_tensor_release. */
typedef struct gc_tensor {
    float  *data;
    int64_t shape[GC_MAX_DIMS]; /* entries past ndim are 1 */
    int     ndim;               /* 1..GC_MAX_DIMS */
    int     owns_data;
} gc_tensor;

/* Allocates a zero-filled tensor of ndim dimensions (64-byte aligned data).
 * Fails with GC_ERR_SHAPE for ndim outside 1..GC_MAX_DIMS or a dimension
 * < 1, GC_ERR_OUT_OF_MEMORY if the byte count overflows or allocation fails.
 * On failure *t is left empty (data NULL). */
gc_status gc_tensor_alloc(gc_tensor *t, int ndim, const int64_t *shape);

/* Frees data if the tensor owns it and empties the struct. NULL-safe. */
void gc_tensor_release(gc_tensor *t);

/* Number of elements (product of the shape); 0 for an empty tensor. */
int64_t gc_tensor_numel(const gc_tensor *t);

/* ------------------------------------------------------------------------ */
/* Models: building a network in code                                        */
/* ------------------------------------------------------------------------ */

typedef struct gc_model gc_model;

/* Layer kinds. Semantics follow PyTorch's modules of the same name. */
typedef enum gc_layer_kind {
    GC_LAYER_CONV2D = 0,         /* torch.nn.Conv2d (cross-correlation, OIHW)  */
    GC_LAYER_RELU,               /* torch.nn.ReLU                               */
    GC_LAYER_MAXPOOL2D,          /* torch.nn.MaxPool2d                          */
    GC_LAYER_AVGPOOL2D,          /* torch.nn.AvgPool2d                          */
    GC_LAYER_ADAPTIVE_AVGPOOL2D, /* torch.nn.AdaptiveAvgPool2d                  */
    GC_LAYER_LINEAR,             /* torch.nn.Linear, on (N, in_features)        */
    GC_LAYER_DROPOUT,            /* torch.nn.Dropout, identity (inference)      */
    GC_LAYER_FLATTEN,            /* torch.flatten(x, 1): (N,C,H,W) -> (N,CHW)   */
    GC_LAYER_SOFTMAX,            /* torch.nn.Softmax(dim=1)                     */
    GC_LAYER_LRN,                /* torch.nn.LocalResponseNorm (across channels)*/
    GC_LAYER_BATCHNORM2D,        /* torch.nn.BatchNorm2d, running statistics    */
    GC_LAYER_ADD,                /* a + b, NumPy broadcasting (residual joins)  */
    GC_LAYER_MUL,                /* a * b, NumPy broadcasting (SE gates)        */
    GC_LAYER_CONCAT,             /* torch.cat(inputs, dim=1)                    */
    GC_LAYER_ACTIVATION,         /* sigmoid, SiLU, hardsigmoid, hardswish,
                                    clamp (ReLU6), leaky ReLU: gc_activation_op */
    GC_LAYER_SUB,                /* a - b, NumPy broadcasting                   */
    GC_LAYER_DIV,                /* a / b, NumPy broadcasting (b = 0: inf/NaN)  */
    GC_LAYER_PAD,                /* constant padding of H and W (ONNX Pad)      */
    GC_LAYER_CHANNEL_SHUFFLE,    /* ShuffleNet's channel shuffle (groups)       */
    GC_LAYER_IDENTITY,           /* y = x (ONNX Identity)                       */
    GC_LAYER_CONSTANT,           /* no input: a stored tensor (ONNX initializer)*/
    GC_LAYER_KIND_COUNT
} gc_layer_kind;

/* Lower-case kind name ("conv2d", "maxpool2d", ...); "?" when out of range. */
const char *gc_layer_kind_name(gc_layer_kind kind);

typedef struct gc_conv2d_params {
    int64_t in_channels, out_channels;
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;     /* >= 1 */
    int64_t pad_h, pad_w;           /* zero padding, >= 0 */
    int64_t dilation_h, dilation_w; /* >= 1 */
    int64_t groups;                 /* divides in_ and out_channels */
    int     bias;                   /* nonzero: has a bias of out_channels */
} gc_conv2d_params;

/* stride 1, padding 0, dilation 1, groups 1, with bias. */
gc_conv2d_params gc_conv2d_defaults(int64_t in_channels, int64_t out_channels, int64_t kernel);

typedef struct gc_pool2d_params {
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;     /* >= 1 (PyTorch's default is the kernel) */
    int64_t pad_h, pad_w;           /* <= kernel / 2 */
    int64_t dilation_h, dilation_w; /* max pool only; 1 for average pool */
    int     ceil_mode;
    int     count_include_pad;      /* average pool only (PyTorch default 1) */
} gc_pool2d_params;

/* kernel k, stride k, no padding, dilation 1, floor mode, count_include_pad. */
gc_pool2d_params gc_pool2d_defaults(int64_t kernel);

typedef struct gc_adaptive_pool2d_params {
    int64_t out_h, out_w;
} gc_adaptive_pool2d_params;

typedef struct gc_linear_params {
    int64_t in_features, out_features;
    int     bias;
} gc_linear_params;

typedef struct gc_lrn_params {
    int64_t size;  /* channels in the window */
    float   alpha, beta, k;
} gc_lrn_params;

typedef struct gc_batchnorm2d_params {
    int64_t num_features;
    float   eps;
} gc_batchnorm2d_params;

/* Element-wise activations other than ReLU (one layer kind, as ggml's unary
 * op). alpha and beta are the op's constants:
 *   SIGMOID      y = 1 / (1 + exp(-x))                       (nn.Sigmoid)
 *   SILU         y = x sigmoid(x)                            (nn.SiLU, swish)
 *   HARDSIGMOID  y = clamp(alpha x + beta, 0, 1)             (nn.Hardsigmoid: 1/6, 1/2)
 *   HARDSWISH    y = x clamp(alpha x + beta, 0, 1)           (nn.Hardswish: 1/6, 1/2)
 *   CLAMP        y = min(max(x, alpha), beta)                (nn.Hardtanh; nn.ReLU6: 0, 6)
 *   LEAKY_RELU   y = x if x > 0 else alpha x                 (nn.LeakyReLU: 0.01)
 * Backward is the true derivative in every gc_relu_mode (the guided and
 * deconvnet rules apply at ReLU layers only, as pytorch-grad-cam and Captum
 * do); at a kink the derivative is PyTorch's (CLAMP: 1 strictly inside
 * (alpha, beta); HARDSWISH: PyTorch's piecewise formula). */
typedef enum gc_activation_op {
    GC_ACT_SIGMOID = 0, GC_ACT_SILU, GC_ACT_HARDSIGMOID, GC_ACT_HARDSWISH, GC_ACT_CLAMP,
    GC_ACT_LEAKY_RELU, GC_ACT_COUNT
} gc_activation_op;

typedef struct gc_activation_params {
    gc_activation_op op;
    float            alpha, beta;
} gc_activation_params;

/* The op with PyTorch's default constants (HARDSIGMOID / HARDSWISH 1/6 and
 * 1/2, CLAMP 0 and 6 = ReLU6, LEAKY_RELU 0.01, others 0). */
gc_activation_params gc_activation_defaults(gc_activation_op op);

typedef struct gc_concat_params {
    int64_t axis;  /* 1 (channels): the only axis supported */
} gc_concat_params;

/* Constant padding of the last two dimensions of a 4-D (N, C, H, W) tensor
 * (ONNX Pad, mode "constant", on H and W): the output is
 * (N, C, top + H + bottom, left + W + right), the input at rows top.. and
 * columns left.., every other cell `value`. Each amount >= 0 (no cropping);
 * value finite. Backward crops. Asymmetric convolution or pooling padding is
 * a pad before the layer: value 0 before a convolution or an average pool
 * counting the padding; before a max pool -FLT_MAX (-3.4028235e38), which
 * gives PyTorch's -inf padding whenever a window holds a value above
 * -FLT_MAX (a window that holds a real cell always does, unless that cell is
 * -inf or -FLT_MAX itself). */
typedef struct gc_pad_params {
    int64_t top, bottom, left, right;
    float   value;
} gc_pad_params;

/* Creates an empty model. Free with gc_model_free. */
gc_status gc_model_create(gc_model **out);

/* Frees a model and everything it owns. NULL-safe. Sessions made from the
 * model must be freed first. */
void gc_model_free(gc_model *model);

/* Adding layers. A model is a directed acyclic graph: layers are added in
 * topological order, each reads the outputs of layers added before it (or
 * the network input), and an output may feed any number of layers.
 *
 * name   unique layer name (e.g. "features.28"), 1..63 bytes of printable
 *        ASCII; "input" is reserved for the network input.
 * input  name (or alias) of the layer whose output feeds this one, "input"
 *        for the network input, or NULL for the layer added just before (the
 *        network input for the first layer).
 * Weights are copied into the model; NULL weight/bias pointers leave zeros
 * (see gc_model_init_random). Parameter tensors are named "<name>.weight",
 * "<name>.bias" (batch-norm adds ".running_mean" and ".running_var"; a
 * constant has one, "<name>.value"), with PyTorch's shapes: conv OIHW =
 * out x in/groups x kh x kw, linear out x in.
 * The last layer added is the network output. Hyper-parameters are checked
 * here (GC_ERR_INVALID_ARGUMENT naming the bad one); shapes are checked
 * against the input when a session is created. */
gc_status gc_model_add_conv2d(gc_model *m, const char *name, const char *input,
                              const gc_conv2d_params *p, const float *weight, const float *bias);
gc_status gc_model_add_relu(gc_model *m, const char *name, const char *input);
gc_status gc_model_add_maxpool2d(gc_model *m, const char *name, const char *input,
                                 const gc_pool2d_params *p);
gc_status gc_model_add_avgpool2d(gc_model *m, const char *name, const char *input,
                                 const gc_pool2d_params *p);
gc_status gc_model_add_adaptive_avgpool2d(gc_model *m, const char *name, const char *input,
                                          const gc_adaptive_pool2d_params *p);
gc_status gc_model_add_linear(gc_model *m, const char *name, const char *input,
                              const gc_linear_params *p, const float *weight, const float *bias);
gc_status gc_model_add_dropout(gc_model *m, const char *name, const char *input, float p);
gc_status gc_model_add_flatten(gc_model *m, const char *name, const char *input);
gc_status gc_model_add_softmax(gc_model *m, const char *name, const char *input);
gc_status gc_model_add_lrn(gc_model *m, const char *name, const char *input,
                           const gc_lrn_params *p);
/* weight = gamma, bias = beta; mean/var are the running statistics
 * (NULL: mean 0, var 1, gamma 1, beta 0). */
gc_status gc_model_add_batchnorm2d(gc_model *m, const char *name, const char *input,
                                   const gc_batchnorm2d_params *p,
                                   const float *weight, const float *bias,
                                   const float *running_mean, const float *running_var);

/* Layers with several inputs (a, b, inputs[k]: names as `input` above, NULL
 * meaning the layer added just before). add and mul broadcast as NumPy does
 * (shapes aligned at the last dimension; each pair of sizes equal or one of
 * them 1): a residual join adds two (N, C, H, W) tensors, a squeeze-excitation
 * gate multiplies (N, C, H, W) by (N, C, 1, 1). concat joins 1..1024 inputs
 * along the channels (their other dimensions equal). */
gc_status gc_model_add_add(gc_model *m, const char *name, const char *a, const char *b);
gc_status gc_model_add_mul(gc_model *m, const char *name, const char *a, const char *b);
gc_status gc_model_add_concat(gc_model *m, const char *name, int n, const char *const *inputs);
gc_status gc_model_add_activation(gc_model *m, const char *name, const char *input,
                                  const gc_activation_params *p);

/* sub and div broadcast like add and mul: a - b and a / b (per-channel
 * normalisation (x - mean) / std with mean and std constants of shape
 * (1, C, 1, 1) or (C, 1, 1)). div does not look at values: a zero divisor
 * gives inf or NaN (IEEE division), forward and backward
 * (da = dy / b, db = -dy a / b^2, each summed over the dimensions along which
 * that input was broadcast). */
gc_status gc_model_add_sub(gc_model *m, const char *name, const char *a, const char *b);
gc_status gc_model_add_div(gc_model *m, const char *name, const char *a, const char *b);

/* gc_pad_params above. */
gc_status gc_model_add_pad(gc_model *m, const char *name, const char *input, const gc_pad_params *p);

/* ShuffleNet's channel shuffle of (N, C, ...) by groups g (>= 1, dividing C):
 * what exporters write as Reshape (N, g, C/g, H, W), Transpose (0, 2, 1, 3, 4),
 * Reshape (N, C, H, W), i.e. y[n, j g + i] = x[n, i C/g + j] for i < g,
 * j < C/g. Backward applies the inverse permutation. */
gc_status gc_model_add_channel_shuffle(gc_model *m, const char *name, const char *input, int64_t groups);

/* y = x (ONNX Identity). */
gc_status gc_model_add_identity(gc_model *m, const char *name, const char *input);

/* A layer with no input whose output is its parameter "<name>.value": a
 * tensor of ndim (1..4) dimensions shape[0..ndim) (each >= 1), copied from
 * value (NULL: zeros). The output does not depend on the batch: a (1, C, 1, 1)
 * or (C, 1, 1) constant lines up with (N, C, H, W) tensors by broadcasting in
 * add, mul, sub and div. It is a model constant (an ONNX initializer, a
 * normalisation mean), not a trained parameter: gc_model_init_random leaves
 * it alone, SGD never changes it, and backward with param_grads computes no
 * gradient for it. The gradient with respect to the value is the gradient of
 * the constant's output: pass the constant as stop_layer and read it with
 * gc_session_gradient. Constants run in every session, also in sessions that
 * start at an input_layer (there whenever a layer of the session reads them,
 * directly or through layers that read only constants). */
gc_status gc_model_add_constant(gc_model *m, const char *name, int ndim, const int64_t *shape,
                                const float *value);

/* A second name for layer `layer`'s output: torchvision calls the output of
 * a ResNet block's last ReLU "layer4.1" (the block) and "layer4" (the stage)
 * too. Aliases work wherever a layer name is taken (target layer, keep,
 * stop_layer, input_layer, gc_model_find_layer); the same rules as for layer
 * names apply, at most 16 per layer. */
gc_status gc_model_add_alias(gc_model *m, const char *alias, const char *layer);

/* Fills every weight and bias with PyTorch's default initialisation
 * (uniform in +-1/sqrt(fan_in)) from a deterministic generator seeded with
 * seed. Batch-norm statistics are left alone. Fails with GC_ERR_STATE on a
 * model whose weights are mapped from a file. */
gc_status gc_model_init_random(gc_model *m, uint64_t seed);

/* Number of layers, and facts about layer i (0 <= i < count, in
 * topological order). Strings stay valid as long as the model. */
int         gc_model_layer_count(const gc_model *m);
const char *gc_model_layer_name(const gc_model *m, int i);       /* NULL if out of range */
gc_layer_kind gc_model_layer_kind(const gc_model *m, int i);     /* GC_LAYER_KIND_COUNT if out of range */
const char *gc_model_layer_input(const gc_model *m, int i);      /* its first input: "input" or a layer
                                                                     name; NULL for a constant (no input) */
int         gc_model_layer_input_count(const gc_model *m, int i); /* 0 if out of range */
const char *gc_model_layer_input_at(const gc_model *m, int i, int k); /* input k; NULL if out of range */
int         gc_model_layer_alias_count(const gc_model *m, int i);
const char *gc_model_layer_alias(const gc_model *m, int i, int k);    /* NULL if out of range */
/* Index of the layer called name (or with that alias), or -1. */
int         gc_model_find_layer(const gc_model *m, const char *name);

/* A read-only view of parameter `name` ("features.0.weight"). The view
 * stays valid as long as the model. GC_ERR_NOT_FOUND if there is none. */
gc_status gc_model_param(const gc_model *m, const char *name, gc_tensor *view);

/* Total number of parameter floats. */
int64_t gc_model_param_count(const gc_model *m);

/* Preprocessing the model expects, stored in .gcw files. A pixel p in 0..255
 * of channel c (after reordering to `order`) becomes (p * scale - mean[c]) / std[c].
 * torchvision: RGB, scale 1/255, ImageNet mean/std, resize shorter side to
 * 256 then centre-crop 224. Caffe: BGR, scale 1, mean = BGR mean pixel, std 1. */
typedef enum gc_color_order { GC_COLOR_RGB = 0, GC_COLOR_BGR = 1 } gc_color_order;

typedef struct gc_preprocess {
    int32_t        input_height, input_width; /* network input (crop) size */
    int32_t        resize_shorter;            /* shorter side before the crop; 0: resize
                                                 straight to the input size */
    gc_color_order order;
    float          scale;
    float          mean[3], std[3];           /* in `order` */
} gc_preprocess;

/* torchvision ImageNet defaults (224 crop of 256, RGB, mean .485 .456 .406,
 * std .229 .224 .225, scale 1/255). */
gc_preprocess gc_preprocess_torchvision(void);

/* Copies p into the model (all fields checked: sizes >= 1, std != 0). */
gc_status gc_model_set_preprocess(gc_model *m, const gc_preprocess *p);
/* Never NULL: the torchvision defaults until set. Valid as long as the model. */
const gc_preprocess *gc_model_preprocess(const gc_model *m);

/* Class labels (copied; each 1..1023 bytes, no newline). n must equal the
 * number of network outputs when a session is planned, or be 0. */
gc_status   gc_model_set_labels(gc_model *m, int n, const char *const *labels);
int         gc_model_label_count(const gc_model *m);
const char *gc_model_label(const gc_model *m, int i); /* NULL if out of range */

/* ------------------------------------------------------------------------ */
/* Sessions: forward and backward                                            */
/* ------------------------------------------------------------------------ */

typedef struct gc_session gc_session;

/* Kernel tier used by a session's layers. AUTO picks the fastest the CPU
 * supports (checked at run time; no -march needed). REFERENCE forces the
 * plain loops every faster kernel is tested against. A tier the CPU cannot
 * run falls back to the best one it can. Values match lib/kernels/gemm.h. */
typedef enum gc_kernels {
    GC_KERNELS_AUTO = 0,
    GC_KERNELS_REFERENCE,
    GC_KERNELS_PORTABLE, /* packed, cache-blocked C, any x86-64 */
    GC_KERNELS_AVX2,
    GC_KERNELS_AVX512
} gc_kernels;

typedef struct gc_session_config {
    int64_t batch, channels, height, width; /* the network input shape, NCHW */
    int     param_grads; /* nonzero: also plan buffers for weight/bias
                            gradients (needed for backward with param_grads) */
    const char *input_layer; /* NULL: run the whole network. A layer name:
                            run only the layers after it; the session's input
                            ("input") is then that layer's output for the
                            network input shape above (e.g. the classifier
                            head fed with features.29). Not retained. */
    size_t max_bytes;    /* refuse plans needing more memory than this with
                            GC_ERR_LIMIT; 0: GC_SESSION_DEFAULT_MAX_BYTES */
    gc_kernels kernels;  /* GC_KERNELS_AUTO: the fastest this CPU runs */
    const char *const *keep; /* NULL-terminated layer names whose outputs stay
                            readable after forward (gc_session_activation);
                            the output and gc_model_default_layer always are.
                            Not retained. */
    int keep_all;        /* nonzero: every activation and every gradient stays
                            readable (debugging, tests); costs memory. Without
                            it buffers are shared by lifetime and only the
                            stop layer's gradient survives a backward pass. */
    int no_fold;         /* nonzero: batch-norm layers run as written. By default a
                            batch-norm whose input is a convolution read by nothing
                            else is folded into it (weights scaled per channel when
                            the session is planned and after gc_model_init_random or
                            gc_sgd_step): one pass over the activation less, rounding
                            within a few float32 ulps of the unfolded result. The
                            convolution's own output is then not materialised (list it
                            in keep to have it). Never with param_grads, keep_all or
                            the reference kernels. */
    int no_winograd;     /* nonzero: 3x3 convolutions run direct instead of
                            Winograd F(4x4,3x3): plain rounding of the sum
                            (Winograd's error is up to ~10x larger, still
                            ~1e-6 relative; docs/performance.md) and usually
                            slower; gcbench --no-winograd measures it */
    int threads;         /* threads the session's passes use; 0: OMP_NUM_THREADS
                            when set, else the CPUs this process may run on
                            (at most 64). Each session starts its own threads;
                            they sleep between passes. Results are the same,
                            bit for bit, for any count. */
    int no_fuse;         /* nonzero: activations run as layers of their own. By
                            default a ReLU or clamp (ReLU6) whose input is a
                            convolution's output (after a folded batch-norm or not)
                            read by nothing else is applied by the convolution as it
                            stores: one pass over the activation less, the same bits.
                            The convolution's own output is then not materialised
                            (list it in keep to have it). Never with keep_all or the
                            reference kernels. */
    const char *backward_floor; /* NULL: backward passes may stop anywhere, down to the
                            input (guided backprop, input gradients). A layer name:
                            they stop at that layer's output or at a layer downstream
                            of it (Grad-CAM, CAM and counterfactual maps at that layer,
                            top-K heads after it), as PyTorch runs the layers below a
                            Grad-CAM target under no_grad. The layers whose backward
                            then never runs keep nothing for it: no ReLU masks, their
                            inputs' buffers reused at once, activations that need their
                            input for backward (sigmoid, SiLU, hard-swish, ...) applied
                            by the producing convolution as it stores, and Winograd
                            layers keep their transformed weights (4x their 3x3
                            weights: ResNet-50 56 MB, VGG-16 236 MB) instead of
                            transforming them on every forward. The values are
                            the same bits. A backward pass asked to stop below the
                            floor is refused (GC_ERR_STATE). The layer's output stays
                            readable, like the default layer's. A layer that does not
                            run in the session (before input_layer) sets no floor.
                            The name is copied. */
    int forward_only;    /* nonzero: the session never runs backward (classification,
                            inference): the floor above every layer. Every backward
                            call is refused with GC_ERR_STATE. */
} gc_session_config;

#define GC_SESSION_DEFAULT_MAX_BYTES ((size_t)16 << 30) /* 16 GiB */

/* Plans a session: infers every layer's output shape for the input shape,
 * checks shapes against the weights, and allocates all activation and
 * gradient buffers and one scratch workspace sized to the largest need
 * (gc_session_memory tells how much; GC_ERR_LIMIT above cfg->max_bytes).
 * The model must outlive the session and must not change while sessions
 * exist. The parameters of every layer the session runs are checked to be
 * finite (one pass over them; after a change of the weights they are not
 * checked again). Errors: GC_ERR_SHAPE naming the first layer that does not
 * fit, GC_ERR_LIMIT (refused from the shapes, before the arena is allocated),
 * GC_ERR_NUMERIC naming the first NaN or infinite parameter element,
 * GC_ERR_OUT_OF_MEMORY. */
gc_status gc_session_create(const gc_model *m, const gc_session_config *cfg, gc_session **out);

/* NULL-safe. */
void gc_session_free(gc_session *s);

/* The threads a session with gc_session_config.threads = 0 starts: the first
 * value of OMP_NUM_THREADS when it is a positive number, else the CPUs this
 * process may run on (its affinity mask); at most 64. */
int gc_default_threads(void);

/* Runs the network on input (batch*channels*height*width floats, NCHW,
 * caller-owned, not retained). Never allocates.
 * Non-finite values (docs/security.md): an input holding a NaN or an
 * infinity is refused with GC_ERR_NUMERIC naming the first such element and
 * its (n, c, y, x); an output that comes out non-finite is GC_ERR_NUMERIC
 * naming the first layer whose output is non-finite (found by a second,
 * checking pass that runs only then: the normal path scans the input and the
 * output once each, never the other activations). After a failure the
 * session holds no result (gc_session_output and backward give
 * GC_ERR_STATE). An intermediate infinity that later layers map to finite
 * values (a sigmoid of +inf) is not an error. */
gc_status gc_session_forward(gc_session *s, const float *input);

/* View of the network output (last layer) after a forward pass. Valid until
 * the session is freed; contents change with the next forward. */
gc_status gc_session_output(const gc_session *s, gc_tensor *view);

/* View of the output of layer `name` (or "input") after a forward pass.
 * Same lifetime as gc_session_output. GC_ERR_NOT_FOUND for unknown names,
 * GC_ERR_STATE for a layer the session does not keep (see keep, keep_all). */
gc_status gc_session_activation(const gc_session *s, const char *name, gc_tensor *view);

/* The planned output shape of layer `name` (or "input") in view->shape and
 * view->ndim, with view->data NULL; needs no forward pass and works for
 * layers whose outputs are not kept. */
gc_status gc_session_shape(const gc_session *s, const char *name, gc_tensor *view);

/* ReLU rule used by backward. x is the ReLU's input, g the incoming gradient. */
typedef enum gc_relu_mode {
    GC_RELU_NORMAL = 0, /* g * [x > 0]            (true gradient)          */
    GC_RELU_GUIDED,     /* g * [x > 0] * [g > 0]  (guided backprop)        */
    GC_RELU_DECONVNET   /* g * [g > 0]            (Zeiler-Fergus deconvnet)*/
} gc_relu_mode;

typedef struct gc_backward_opts {
    const char  *stop_layer;  /* propagate down to the output of this layer;
                                 NULL or "input": down to the network input */
    gc_relu_mode relu_mode;
    int          param_grads; /* nonzero: compute weight/bias gradients of
                                 every layer the backward pass runs through
                                 (the session must be planned with them) */
} gc_backward_opts;

/* Propagates output_grad (the gradient of some scalar with respect to the
 * network output, same shape as gc_session_output) backward through every
 * layer after stop_layer. Requires a forward pass on the current input.
 * Parameter gradients overwrite (never accumulate). Never allocates.
 * output_grad must be finite (GC_ERR_NUMERIC names the first bad element);
 * the gradients computed are not checked (gc_explain checks its maps). */
gc_status gc_session_backward(gc_session *s, const float *output_grad, const gc_backward_opts *opts);

/* View of the gradient with respect to the output of layer `name` (or
 * "input") after a backward pass: the stop layer's (the input's when the
 * pass went all the way down); with keep_all also every layer the pass ran
 * through. GC_ERR_STATE for others. */
gc_status gc_session_gradient(const gc_session *s, const char *name, gc_tensor *view);

/* View of the gradient of parameter `name` ("classifier.6.weight") after a
 * backward pass with param_grads. GC_ERR_STATE if it was not computed. */
gc_status gc_session_param_grad(const gc_session *s, const char *name, gc_tensor *view);

/* Bytes this session allocated (activations, gradients, workspace). */
size_t gc_session_memory(const gc_session *s);

/* Profiling: when on, forward and backward record each layer's wall-clock
 * time (monotonic clock). gc_session_layer_seconds returns layer i's time in
 * the last forward (backward = 0) or backward (backward = 1) pass, 0 for
 * layers the pass skipped or when profiling is off, -1 for a bad index. */
void   gc_session_set_profiling(gc_session *s, int on);
double gc_session_layer_seconds(const gc_session *s, int layer, int backward);

/* ------------------------------------------------------------------------ */
/* Explanations: Grad-CAM, counterfactual, CAM, guided backprop, deconvnet   */
/* ------------------------------------------------------------------------ */
/* One forward pass is shared by every method and target of a request.
 * Semantics (docs/explainers.md has the formulas):
 *   score        y^c, the pre-softmax output of class c (or sum(g * y) for a
 *                caller gradient g)
 *   alpha_k      mean over i,j of d score / d A^k_ij (eq. 1), or the sum
 *   cam_raw      sum_k alpha_k A^k              (signed, layer resolution)
 *   cam          ReLU(cam_raw)                  (eq. 2)
 *   counterfactual ReLU(sum_k -alpha_k A^k)     (weights from the negated gradient)
 *   cam_up       cam resized bilinearly to the input size with half-pixel
 *                centres (PyTorch align_corners=False, OpenCV INTER_LINEAR)
 *   cam_norm     cam_up min-max scaled to [0, 1] (all zeros if constant)
 *   guided       d score / d input with guided ReLUs (C x H x W)
 *   guided_gradcam guided * cam_up (per pixel, every channel)
 *   deconvnet    d score / d input with deconvnet ReLUs
 *   cam_zhou     CAM of Zhou et al.: sum_k w^c_k A^k, for a layer followed
 *                by global average pooling and a linear output layer
 * Grad-CAM's backward stops at the target layer and computes no parameter
 * gradients; top-K targets share one batched backward through the layers
 * after it. The model is never modified. */

/* Methods, one request bit each (gc_explain_request.methods). The first six
 * are the Grad-CAM paper's; the rest follow the other libraries' method sets
 * (docs/explainers.md has each definition, its paper and how
 * pytorch-grad-cam, Captum and torch-cam differ). Layer methods explain at
 * the target layer and return an h x w map "<name>" (ReLU applied), its
 * signed form "<name>_raw" where there is one, and "<name>_up" resized to
 * the input (H x W); input methods return a C x H x W map "<name>". */
enum {
    GC_METHOD_GRADCAM         = 1u << 0, /* alpha, cam_raw, cam, cam_up, cam_norm */
    GC_METHOD_COUNTERFACTUAL  = 1u << 1,
    GC_METHOD_GUIDED_BACKPROP = 1u << 2,
    GC_METHOD_GUIDED_GRADCAM  = 1u << 3, /* implies Grad-CAM and guided backprop */
    GC_METHOD_DECONVNET       = 1u << 4,
    GC_METHOD_CAM             = 1u << 5,
    GC_METHOD_ALL_GRADIENT    = 0x1fu,   /* the paper's gradient maps (everything above but CAM) */
    GC_METHOD_GRADCAM_PP      = 1u << 6,  /* Grad-CAM++ (Chattopadhay et al. 2018) */
    GC_METHOD_XGRADCAM        = 1u << 7,  /* XGrad-CAM (Fu et al. 2020) */
    GC_METHOD_HIRESCAM        = 1u << 8,  /* HiResCAM (Draelos & Carin 2020) */
    GC_METHOD_GRADCAM_ELEMENTWISE = 1u << 9, /* pytorch-grad-cam's GradCAMElementWise */
    GC_METHOD_LAYERCAM        = 1u << 10, /* Layer-CAM (Jiang et al. 2021) */
    GC_METHOD_SCORECAM        = 1u << 11, /* Score-CAM (Wang et al. 2020), batched forwards */
    GC_METHOD_ABLATIONCAM     = 1u << 12, /* Ablation-CAM (Desai & Ramaswamy 2020), batched head */
    GC_METHOD_EIGENCAM        = 1u << 13, /* Eigen-CAM (Muhammad & Yeasin 2020) */
    GC_METHOD_EIGEN_GRADCAM   = 1u << 14, /* Eigen-CAM of gradient x activation */
    GC_METHOD_SALIENCY        = 1u << 15, /* vanilla gradient d score / d input (Simonyan et al. 2014) */
    GC_METHOD_INPUT_X_GRADIENT = 1u << 16,/* input * gradient (Shrikumar et al. 2016) */
    GC_METHOD_INTEGRATED_GRADIENTS = 1u << 17, /* Sundararajan et al. 2017, midpoint rule */
    GC_METHOD_SMOOTHGRAD      = 1u << 18, /* SmoothGrad and VarGrad of one set of noisy samples */
    GC_METHOD_VARGRAD         = 1u << 18, /* (the same bit: both maps come from the same passes) */
    GC_METHOD_OCCLUSION       = 1u << 19, /* occlusion sensitivity (Zeiler & Fergus), batched */
    GC_METHOD_ALL             = 0xfffffu  /* every method */
};

/* Parameters of the methods that have any; gc_method_params_defaults() gives
 * the documented defaults, and a request without params uses them. */
typedef struct gc_method_params {
    int          batch;          /* inputs per batched pass (Score-CAM, Ablation-CAM,
                                    Integrated Gradients, SmoothGrad, occlusion); default 32 */
    int          ig_steps;       /* Integrated Gradients: midpoint-rule steps m; default 32 */
    const float *ig_baseline;    /* C x H x W baseline x' (network-input domain); NULL:
                                    zeros. Not retained. */
    int          noise_samples;  /* SmoothGrad/VarGrad: n noisy copies; default 16 */
    float        noise_sigma;    /* noise standard deviation as a fraction of
                                    max(x) - min(x) (Smilkov et al.); default 0.15 */
    uint64_t     noise_seed;     /* the noise: N(0,1) values of gc's seeded generator,
                                    sample-major; default 1 */
    unsigned     noise_base;     /* the gradient method smoothed: GC_METHOD_SALIENCY
                                    (default), GC_METHOD_INPUT_X_GRADIENT,
                                    GC_METHOD_GUIDED_BACKPROP or GC_METHOD_DECONVNET */
    int          occlusion_patch, occlusion_stride; /* default 1/8 of the shorter side
                                    (at least 1) and half of that: 0 picks them */
    float        occlusion_fill; /* default 0 */
} gc_method_params;

gc_method_params gc_method_params_defaults(void);

/* What each method is, for programs that list or choose methods by name. */
typedef struct gc_method_info {
    const char *name;   /* "gradcam_pp": the name gc_method_parse takes and the
                           prefix of the method's maps */
    const char *title;  /* "Grad-CAM++" */
    unsigned    bit;    /* the GC_METHOD_* bit that requests it */
    int         input_level; /* 1: its map is C x H x W at the input; 0: a layer map */
    const char *map;    /* its map at the input resolution, the one to score and
                           show: "gradcam_pp_up" (H x W) or "saliency" (C x H x W) */
} gc_method_info;

/* The methods in table order (the order gc_explain runs them); vargrad is
 * its own entry sharing smoothgrad's bit. gc_method_at returns NULL outside
 * 0..gc_method_count()-1; gc_method_find NULL for an unknown name. Static
 * storage, never freed. */
int                   gc_method_count(void);
const gc_method_info *gc_method_at(int i);
const gc_method_info *gc_method_find(const char *name);

/* "gradcam,scorecam,saliency" or "all" to request bits; GC_ERR_INVALID_ARGUMENT
 * naming an unknown or empty name. */
gc_status gc_method_parse(const char *list, unsigned *bits);

typedef enum gc_target_kind {
    GC_TARGET_TOP1 = 0,  /* the predicted class (default) */
    GC_TARGET_CLASS,     /* class_index */
    GC_TARGET_TOPK,      /* the top_k predicted classes, best first */
    GC_TARGET_GRADIENT,  /* a caller vector over the outputs (captioning, VQA heads) */
    GC_TARGET_CLASSES    /* the n_classes classes listed in classes, in that order */
} gc_target_kind;

#define GC_EXPLAIN_MAX_TARGETS 64

typedef struct gc_explain_request {
    gc_target_kind target;
    int            class_index;  /* GC_TARGET_CLASS: 0..classes-1 */
    int            top_k;        /* GC_TARGET_TOPK: 1..min(classes, GC_EXPLAIN_MAX_TARGETS) */
    const int     *classes;      /* GC_TARGET_CLASSES: n_classes indices; not retained */
    int            n_classes;    /* 1..GC_EXPLAIN_MAX_TARGETS */
    const float   *output_grad;  /* GC_TARGET_GRADIENT: one value per output
                                    element of the (batch 1) output; not retained */
    const char    *layer;        /* target layer; NULL: gc_model_default_layer */
    unsigned       methods;      /* GC_METHOD_* bits; 0 means GC_METHOD_GRADCAM */
    int            alpha_sum;    /* nonzero: alpha is the sum, not the mean (differ by Z = h*w) */
    const gc_method_params *params; /* NULL: gc_method_params_defaults(); not retained */
} gc_explain_request;

/* One named map of an explanation. */
typedef struct gc_map {
    const char *name;   /* "gradcam_up", "scorecam_weights", ...; static storage */
    unsigned    method; /* the GC_METHOD_* bit of the method that made it */
    gc_tensor   t;      /* view, as the fields of gc_explanation */
} gc_map;

/* One target's maps. Tensors are views into the session (owns_data 0),
 * valid until the next gc_explain on the session or its free; maps not
 * requested are empty (data NULL). */
typedef struct gc_explanation {
    int       class_index;      /* -1 for GC_TARGET_GRADIENT */
    float     score;            /* y^c (logit), or sum(g * y) */
    float     probability;      /* softmax(y)[c]; NaN for GC_TARGET_GRADIENT */
    gc_tensor alpha;            /* (K)      channel weights */
    gc_tensor cam_raw;          /* (h, w)   signed map */
    gc_tensor cam;              /* (h, w)   ReLU map */
    gc_tensor cam_up;           /* (H, W)   ReLU map at input resolution, not normalised */
    gc_tensor cam_norm;         /* (H, W)   cam_up scaled to [0, 1] for display */
    gc_tensor counterfactual;   /* (h, w) */
    gc_tensor guided;           /* (C, H, W) guided backprop */
    gc_tensor guided_gradcam;   /* (C, H, W) */
    gc_tensor deconvnet;        /* (C, H, W) */
    gc_tensor cam_zhou;         /* (h, w)   CAM (Zhou et al.), signed */
    int           n_maps;       /* every map computed, the six methods' above included */
    const gc_map *maps;         /* (n_maps), in the order the methods ran */
} gc_explanation;

/* The map called name in e (a view in e's storage), or NULL. */
const gc_tensor *gc_explanation_map(const gc_explanation *e, const char *name);

typedef struct gc_explain_result {
    const char           *layer;        /* the target layer used */
    int                   count;        /* number of targets */
    const gc_explanation *items;        /* (count) best first for top-K */
    gc_tensor             logits;       /* (classes) the network output */
    gc_tensor             probabilities;/* (classes) softmax of the output */
} gc_explain_result;

/* Name of the default target layer: the last spatial output that feeds the
 * global pooling before the classifier, looked through pooling (and dropout,
 * identity, pad) to the activation before it. That is the output read by the last layer
 * whose own output is flat (flatten, linear) and whose input is spatial,
 * followed back through pooling layers: VGG-16 "features.29" (relu5_3, before
 * the last max pool), AlexNet "features.11", a torchvision ResNet "layer4"
 * (the last block's output, pytorch-grad-cam's model.layer4[-1]; its last
 * alias is returned). A network with no flat layer: its last spatial
 * activation, else its last spatial layer. NULL if there is none. */
const char *gc_model_default_layer(const gc_model *m);

/* Explains the network's decision on one input (1 x C x H x W floats, the
 * session's input shape; the session must have batch 1 and no input_layer;
 * gc_explain_batch explains several on a session of a larger batch).
 * Runs one forward pass, then the backward passes the methods need.
 * The target layer's output must be kept by the session (it is for the
 * default layer; list another one in gc_session_config.keep), else
 * GC_ERR_STATE.
 * Errors: GC_ERR_NOT_FOUND unknown layer; GC_ERR_INVALID_ARGUMENT class out
 * of range, top_k outside 1..classes, unknown method bits, NULL gradient;
 * GC_ERR_SHAPE non-spatial target layer or batch != 1; GC_ERR_UNSUPPORTED
 * CAM on a network without a GAP + linear head; GC_ERR_INVALID_ARGUMENT for
 * several targets when the target layer is the network output (nothing to
 * batch them through); GC_ERR_NUMERIC for a non-finite input or output (as
 * gc_session_forward), a non-finite target-layer output (naming the first
 * layer whose output is not finite), or a map that comes out non-finite:
 * the message names the target, the map and the first layer whose backward
 * pass gives a non-finite gradient (a second, checking pass with the same
 * ReLU rule finds it), or says that the product of finite gradients and
 * activations overflowed. No map is returned then. Result buffers are kept
 * in the session and reused (they grow only when a request needs more). */
gc_status gc_explain(gc_session *s, const float *input, const gc_explain_request *req,
                     gc_explain_result *result);

/* Explains n inputs at once: inputs holds n x C x H x W floats (caller-owned, not
 * retained), s is a session of batch B >= n with no input_layer, and results[i]
 * (n of them, caller-owned) receives input i's explanation exactly as
 * gc_explain would give it on a batch-1 session of the same model. One forward
 * pass runs the B images together (rows n..B-1 repeat the last input; their
 * results are dropped), so the classifier's weights are read once per batch; the
 * gradient at the target layer of every image and target comes from one backward
 * pass (the top-K head session at batch B x K); guided backprop, deconvnet,
 * saliency and input x gradient take one backward pass of the batch per target;
 * the methods that run their own batches (Score-CAM, Ablation-CAM, Integrated
 * Gradients, SmoothGrad, occlusion) run image by image. Every request field means
 * what it means for gc_explain, for each image; GC_TARGET_GRADIENT's output_grad
 * is one image's (classes values), used for every image.
 * Numbers: each image's logits, targets and maps are bit-identical to a
 * gc_explain of that image on a batch-1 session (every layer computes a row of
 * a batch as it computes that input alone; for the linear layers of sessions
 * without param_grads this holds up to batch 64, above it their forward is a
 * GEMM whose logits differ in the last bits: docs/explainers.md, "Batches").
 * The result views are valid until the next gc_explain or gc_explain_batch on
 * the session or its free.
 * Errors: those of gc_explain (a failure in any image fails the call, and no
 * result is returned); GC_ERR_INVALID_ARGUMENT for NULL pointers, n < 1 or a
 * session with an input_layer; GC_ERR_SHAPE for n greater than the session's
 * batch. */
gc_status gc_explain_batch(gc_session *s, const float *inputs, int n, const gc_explain_request *req,
                           gc_explain_result *results);

/* Layer-CAM's fusion of several layers (Jiang et al. 2021, sec. 3.3): n maps
 * of one input and class at n layers, each resized to the same n_pixels
 * (the "layercam_up" maps of requests at each layer), combined as
 *   out = max over l of f_l(M_l),  f_l(M) = tanh(gamma M / max M) where
 *   scale[l] is nonzero (the paper scales the shallow layers, gamma = 2),
 *   else M / max M,
 * element-wise; a map whose maximum is not positive contributes zeros.
 * (The paper leaves the deep layers' maps unscaled; dividing them by their
 * maximum too makes the fusion independent of each layer's scale.) scale
 * may be NULL (no layer scaled). Errors: GC_ERR_INVALID_ARGUMENT for NULL
 * maps or out, n < 1, n_pixels < 1, gamma <= 0 or non-finite values. */
gc_status gc_layercam_fuse(const float *const *maps, const int *scale, int n, int64_t n_pixels, float gamma,
                           float *out);

/* ------------------------------------------------------------------------ */
/* Model files (.gcw)                                                        */
/* ------------------------------------------------------------------------ */
/* (section owned by the model-file work; see docs/format.md) */
/* The .gcw format is specified in docs/format.md: a little-endian header,
 * the layer graph, a tensor directory and metadata (preprocessing, labels),
 * then float32 tensors at 64-byte aligned offsets so they can be used in
 * place. Readers validate every byte they use and refuse a bad file with
 * GC_ERR_FORMAT and a message naming what is wrong, e.g.
 * "features.28.weight: shape 512x512x3x3 expected, file has 512x256x3x3";
 * a file of a newer version gets GC_ERR_UNSUPPORTED. */
#define GC_GCW_VERSION 2

/* Opens a .gcw file. The file is mapped read-only (or, if mapping fails,
 * read into one aligned buffer); parameters point into it and are never
 * copied, so opening is cheap for any size. The mapping lives until
 * gc_model_free; the file must not be truncated or rewritten meanwhile (a
 * mapped page that vanishes faults). The model is immutable
 * (gc_model_init_random refuses it).
 * Errors: GC_ERR_IO (cannot open/read), GC_ERR_FORMAT, GC_ERR_UNSUPPORTED,
 * GC_ERR_OUT_OF_MEMORY. On failure *out is NULL. */
gc_status gc_model_open(const char *path, gc_model **out);

/* Same from len bytes at buf. The bytes are copied into one 64-byte aligned
 * allocation owned by the model (so the caller may free buf at once). */
gc_status gc_model_open_memory(const void *buf, size_t len, gc_model **out);

/* Writes the model (graph, parameters, preprocessing, labels) as a .gcw file.
 * Errors: GC_ERR_IO, GC_ERR_LIMIT (a limit of the format is exceeded, e.g. a
 * label or name too long for it), GC_ERR_INVALID_ARGUMENT. */
gc_status gc_model_save(const gc_model *m, const char *path);

/* Same into a new buffer: *buf (64-byte aligned, *len bytes) is owned by the
 * caller and released with gc_model_buffer_free. */
gc_status gc_model_save_memory(const gc_model *m, void **buf, size_t *len);
void      gc_model_buffer_free(void *buf);

/* .npy files (NumPy format 1.0-3.0 read, 1.0 written): little-endian
 * float32 ('<f4'; '<f8' is accepted and rounded to float32), C order, 1..4
 * dimensions, each >= 1. Malformed headers and a shape that disagrees with
 * the data size are GC_ERR_FORMAT; other dtypes, Fortran order or more
 * dimensions GC_ERR_UNSUPPORTED; a path that is not a regular file (a
 * folder) GC_ERR_IO. Values are not checked here (gc_session_forward refuses
 * non-finite inputs). Header text quoted in a message goes through
 * gc_quote. On success *out owns its data (gc_tensor_release); on failure
 * it is empty. */
gc_status gc_npy_load(const char *path, gc_tensor *out);
gc_status gc_npy_load_memory(const void *buf, size_t len, gc_tensor *out);
/* Writes t (t->ndim dimensions) as '<f4', C order, format version 1.0. */
gc_status gc_npy_save(const char *path, const gc_tensor *t);

/* IDX arrays, the file format of MNIST and Fashion-MNIST (as distributed:
 * gzip-compressed, or plain). Layout: two zero bytes, the value type (0x08
 * unsigned byte), the number of dimensions, each dimension as a big-endian
 * uint32, then the values in C order. Only uint8 arrays of 1..4 dimensions,
 * each >= 1, are read (other value types and more dimensions are
 * GC_ERR_UNSUPPORTED). A gzip file (recognised by its magic 1f 8b) is one
 * RFC 1952 member inflated with the library's own decoder, its CRC-32 and
 * size checked. Malformed or truncated data, a data size other than the
 * dimensions' product and trailing bytes are GC_ERR_FORMAT; an array of
 * more than max_bytes values, or gzip data inflating past it, is
 * GC_ERR_LIMIT (checked before allocating). max_bytes 0 means
 * GC_IDX_DEFAULT_MAX_BYTES; it must be at most 2^40. gc_idx_load refuses a
 * path that is not a regular file with GC_ERR_IO and prefixes messages with
 * the quoted path. On success *out owns its data (gc_idx_release, NULL-safe);
 * on failure it is empty. */
#define GC_IDX_DEFAULT_MAX_BYTES ((int64_t)1 << 28) /* 256 MiB */
#define GC_IDX_MAX_BYTES_CAP     ((int64_t)1 << 40)
typedef struct gc_idx {
    int      ndim;              /* 1..4 */
    int64_t  dims[GC_MAX_DIMS]; /* dims[0..ndim-1], e.g. 60000 x 28 x 28 */
    int64_t  count;             /* product of the dimensions = bytes of data */
    uint8_t *data;              /* count values, C order */
} gc_idx;
gc_status gc_idx_decode(const void *buf, size_t len, int64_t max_bytes, gc_idx *out);
gc_status gc_idx_load(const char *path, int64_t max_bytes, gc_idx *out);
void      gc_idx_release(gc_idx *a);

/* ------------------------------------------------------------------------ */
/* Images                                                                    */
/* ------------------------------------------------------------------------ */
/* Decoded images are interleaved samples, row-major, top row first, no row
 * padding. Decoders read from memory (the path variants read the file and
 * call them), check every size against limits before allocating, and refuse
 * corrupt or truncated data with GC_ERR_FORMAT, unsupported variants with
 * GC_ERR_UNSUPPORTED, oversize images with GC_ERR_LIMIT. */
typedef struct gc_image {
    int32_t width, height;
    int32_t channels;  /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    int32_t bit_depth; /* 8: data is uint8_t; 16: data is uint16_t (native endian) */
    void   *data;      /* height * width * channels samples, owned by the image */
} gc_image;

typedef struct gc_image_limits {
    int64_t max_pixels;    /* width * height; default 1 << 28 */
    int32_t max_dimension; /* width and height; default 1 << 20 */
} gc_image_limits;

/* The defaults above. */
gc_image_limits gc_image_limits_default(void);

/* Frees the pixels and empties the struct. NULL-safe. */
void gc_image_release(gc_image *img);

/* Decodes PNG, JPEG or PPM/PGM, recognised by signature. limits may be NULL
 * (defaults). gc_image_load refuses a path that is not a regular file with
 * GC_ERR_IO. On failure *out is empty. */
gc_status gc_image_decode(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out);
gc_status gc_image_load(const char *path, const gc_image_limits *limits, gc_image *out);

/* One format each.
 * PNG: every colour type and bit depth, Adam7, CRC checked on every chunk;
 *   ancillary chunks ignored (no gamma or colour management), unknown
 *   critical chunks refused (GC_ERR_UNSUPPORTED). Output:
 *     gray 1/2/4-bit -> 8-bit, v * 255 / (2^depth - 1); 8/16-bit kept;
 *     palette -> RGB 8-bit (indices past PLTE are black);
 *     tRNS on gray/RGB adds an alpha channel (0 where the pixel equals the
 *     key, max otherwise); tRNS on a palette gives RGBA;
 *     gray+alpha, RGB, RGBA kept at 8 or 16 bits.
 *   IDAT data that inflates past the expected size is GC_ERR_FORMAT.
 * PNM: P2/P5 (gray, 1 channel), P3/P6 (RGB); maxval 1..65535. maxval <= 255
 *   gives 8-bit, larger gives 16-bit samples; a maxval other than 255 or
 *   65535 is scaled to the full range as (v * full + maxval / 2) / maxval.
 *   Samples above maxval are GC_ERR_FORMAT; P1/P4 (bitmaps) and P7 (PAM)
 *   are GC_ERR_UNSUPPORTED; only the first image of a file is read. */
gc_status gc_image_decode_png(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out);
gc_status gc_image_decode_jpeg(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out);
gc_status gc_image_decode_pnm(const void *buf, size_t len, const gc_image_limits *limits, gc_image *out);

/* Allocates zero-filled pixels for a width x height image of channels
 * (1..4) samples of bit_depth (8 or 16) and fills every field. On failure
 * *img is empty (GC_ERR_INVALID_ARGUMENT, GC_ERR_OUT_OF_MEMORY). */
gc_status gc_image_alloc(gc_image *img, int32_t width, int32_t height, int32_t channels, int32_t bit_depth);

/* Conversions into a new image (*out is allocated; release with
 * gc_image_release; in and out must differ). 16-bit samples become
 * (v * 255 + 32767) / 65535. Alpha is dropped, not composited.
 *   to_rgb8:  gray is replicated into R, G and B.
 *   to_gray8: RGB becomes (19595 R + 38470 G + 7471 B + 32768) >> 16 on the
 *             8-bit values (ITU-R 601 luma, as PIL's convert("L")). */
gc_status gc_image_to_rgb8(const gc_image *in, gc_image *out);
gc_status gc_image_to_gray8(const gc_image *in, gc_image *out);

/* Writers. The encode variants return a buffer of *out_len bytes in *out,
 * owned by the caller and released with gc_buffer_free (never free()).
 *   PNG: any channel count 1..4 (gray, gray+alpha, RGB, RGBA), 8 or 16 bit,
 *        non-interlaced, zlib level 6, per-row filter chosen by the
 *        minimum sum of absolute differences.
 *   PNM: binary P5 for 1 channel, P6 for 3; maxval 255 (8-bit) or 65535
 *        (16-bit, big-endian samples). Other channel counts fail with
 *        GC_ERR_UNSUPPORTED (convert with gc_image_to_rgb8 first).
 * The save variants write the file (GC_ERR_IO naming the path on failure). */
gc_status gc_image_encode_png(const gc_image *img, uint8_t **out, size_t *out_len);
gc_status gc_image_save_png(const gc_image *img, const char *path);
gc_status gc_image_encode_pnm(const gc_image *img, uint8_t **out, size_t *out_len);
gc_status gc_image_save_pnm(const gc_image *img, const char *path);

/* Frees a buffer returned by an encoder. NULL-safe. */
void gc_buffer_free(void *buf);

/* ---- Resizing and preprocessing -------------------------------------------- */

/* Resizes an 8-bit image (1..4 channels, each resampled on its own) to
 * width x height exactly as PIL's Image.resize((width, height),
 * Image.BILINEAR) does for "L" and "RGB" images: a triangle filter whose
 * support is widened by the scale factor when shrinking (antialiasing),
 * sample centres at (d + 0.5) * in / out, weights normalised per output
 * sample and quantised to 22-bit fixed point, a horizontal then a vertical
 * pass with 8-bit rounding (floor of the sum plus one half) in between. A
 * pass whose size does not change is skipped. (PIL premultiplies alpha for
 * "LA"/"RGBA"; this function does not.) Errors: GC_ERR_INVALID_ARGUMENT,
 * GC_ERR_UNSUPPORTED for 16-bit images, GC_ERR_LIMIT for a target beyond
 * the default image limits. *out is allocated (gc_image_release). */
gc_status gc_image_resize(const gc_image *in, int32_t width, int32_t height, gc_image *out);

/* The same filter on planar float data, as PIL's mode "F": src is
 * (channels, height, width), dst (channels, out_height, out_width), caller
 * allocated, not aliased. Sums in double, float between the passes. */
gc_status gc_image_resize_float(const float *src, int32_t channels, int32_t height, int32_t width,
                                float *dst, int32_t out_height, int32_t out_width);

/* Where the network input comes from in the original image. */
typedef struct gc_preprocess_info {
    int32_t resized_width, resized_height; /* size after the resize step */
    int32_t crop_left, crop_top;           /* crop offset in the resized image;
                                              negative: torchvision's zero padding */
    double  x, y, width, height;           /* the crop in original-image pixel units
                                              (edges: pixel i spans [i, i + 1)) */
} gc_preprocess_info;

/* Geometry of gc_image_preprocess for a width x height image, without
 * pixels. torchvision semantics:
 *   resize_shorter > 0: Resize(resize_shorter) - the shorter side becomes
 *     resize_shorter, the longer int(resize_shorter * long / short);
 *   resize_shorter == 0: Resize((input_height, input_width));
 *   then CenterCrop((input_height, input_width)): top = round((h - ch) / 2)
 *     with Python's round (ties to even), same for left; a crop larger than
 *     the image is centred on zero padding (offset -((ch - h) // 2)).
 * Errors: GC_ERR_INVALID_ARGUMENT (bad parameters: sizes 1..65536, finite
 * scale/mean, finite non-zero std), GC_ERR_LIMIT (resized image too big). */
gc_status gc_preprocess_plan(int32_t width, int32_t height, const gc_preprocess *p, gc_preprocess_info *info);

/* Turns any decoded image into the network input described by p: a new
 * (1, 3, input_height, input_width) tensor in *out (owned by the caller,
 * gc_tensor_release). Steps: gray is replicated to RGB, alpha dropped and
 * 16-bit samples reduced to 8 bits (gc_image_to_rgb8); resize with
 * gc_image_resize (PIL bilinear, antialiased); centre crop (padding is
 * black, pixel 0); channels reordered to p->order; each 8-bit value v of
 * channel c becomes (v * scale - mean[c]) / std[c] in float32, where a
 * scale of exactly 1/255.f is applied as v / 255 (torchvision's ToTensor),
 * so torchvision's Resize + CenterCrop + ToTensor + Normalize on a PIL RGB
 * image is reproduced bit for bit. Caffe style: order BGR, scale 1, mean
 * the BGR mean pixel, std 1. info (may be NULL) receives the geometry, for
 * mapping heatmaps back onto the original (gc_render_overlay). */
gc_status gc_image_preprocess(const gc_image *img, const gc_preprocess *p, gc_tensor *out, gc_preprocess_info *info);

/* ---- Colour map and text ----------------------------------------------------- */

/* Entry index (clamped to 0..255) of OpenCV's COLORMAP_JET as R, G, B:
 * dark blue (0, 0, 128) at 0, cyan, yellow, dark red (128, 0, 0) at 255;
 * bit-identical to cv2.applyColorMap (channels swapped from OpenCV's BGR). */
void gc_colormap_jet(int index, uint8_t rgb[3]);

/* Colour-map index of a value in [0, 1]: (int)(v * 255) in float, as
 * np.uint8(255 * v) in the usual Grad-CAM scripts; v <= 0 or NaN gives 0,
 * v >= 1 gives 255. */
int gc_colormap_index(float v);

/* A height x width map (values in [0, 1]) coloured with jet into a new RGB8
 * image (*out, gc_image_release). */
gc_status gc_colormap_jet_image(const float *map, int32_t height, int32_t width, gc_image *out);

/* A built-in 5 x 8 bitmap font for ASCII 32..126 (other bytes draw '?').
 * Each character advances GC_FONT_ADVANCE * scale pixels; ink occupies
 * GC_FONT_HEIGHT * scale rows from y (capitals on the first 7, descenders
 * on the 8th). */
#define GC_FONT_ADVANCE 6
#define GC_FONT_HEIGHT  8

/* Width in pixels of text drawn at scale (strlen * GC_FONT_ADVANCE * scale). */
int32_t gc_text_width(const char *text, int32_t scale);

/* Draws text with its top-left corner at (x, y) on an 8-bit image, clipped
 * to the image; each font pixel becomes a scale x scale block (scale 1..64).
 * RGB(A) pixels get color, gray ones color[0]; alpha is set to 255. */
gc_status gc_image_draw_text(gc_image *img, int32_t x, int32_t y, const char *text, int32_t scale,
                             const uint8_t color[3]);

/* ------------------------------------------------------------------------ */
/* Training                                                                  */
/* ------------------------------------------------------------------------ */
/* Enough to train a small classifier built in code: a loss with its
 * gradient, and SGD with momentum and weight decay. A step reads the
 * parameter gradients of the session's last backward pass (planned and run
 * with param_grads) and updates the model's parameters in place. Sessions
 * planned with param_grads read the weights at every forward, so one session
 * can be reused across steps (the one exception to "the model must not
 * change while sessions exist": only the values change, never shapes).
 * Other sessions keep derived copies (batch-norm folded into convolutions,
 * weights packed for the GEMM), refreshed at the next forward after
 * gc_model_init_random or gc_sgd_step. Everything is sequential
 * and deterministic: the same seed, data order and calls give bit-identical
 * weights. */

/* Softmax cross-entropy averaged over a batch:
 *   loss = (1/N) sum_n [ logsumexp(z_n) - z_n[label_n] ]
 *   grad = (softmax(z_n) - onehot(label_n)) / N        (d loss / d z)
 * logits (N x classes, row-major), labels (N) in 0..classes-1. Computed in
 * double with the maximum subtracted (stable for any finite logits).
 * loss or grad (N x classes) may be NULL when not wanted; grad may alias
 * logits. Errors: GC_ERR_INVALID_ARGUMENT for NULL logits/labels, N or
 * classes < 1, a label out of range (named with its row). */
gc_status gc_loss_softmax_xent(const float *logits, int64_t batch, int64_t classes,
                               const int *labels, float *loss, float *grad);

/* SGD with PyTorch's semantics (torch.optim.SGD, dampening 0, no Nesterov):
 *   d = g + weight_decay * w;  v = momentum * v + d;  w -= lr * v
 * with v starting at zero (so the first step uses v = d, as PyTorch).
 * Trained parameters: conv/linear weights and biases, batch-norm weight and
 * bias (never its running statistics). PyTorch decays every parameter,
 * biases included; set no_bias_decay to exempt biases (and batch-norm
 * parameters) from weight decay. */
typedef struct gc_sgd_params {
    float lr;            /* > 0 */
    float momentum;      /* 0 <= momentum < 1 */
    float weight_decay;  /* >= 0 */
    int   no_bias_decay; /* nonzero: no decay on biases / batch-norm */
} gc_sgd_params;

typedef struct gc_sgd gc_sgd;

/* Creates an optimizer for model m (which it keeps a pointer to and whose
 * parameters it updates; m must outlive it) with zeroed momentum buffers.
 * Errors: GC_ERR_INVALID_ARGUMENT (NULL, bad hyper-parameter),
 * GC_ERR_STATE if m's weights are mapped read-only from a file,
 * GC_ERR_OUT_OF_MEMORY. Free with gc_sgd_free (NULL-safe). */
gc_status gc_sgd_create(gc_model *m, const gc_sgd_params *p, gc_sgd **out);
void      gc_sgd_free(gc_sgd *opt);

/* One update from the parameter gradients of s's last backward pass.
 * Errors: GC_ERR_INVALID_ARGUMENT if s was made from another model,
 * GC_ERR_STATE if the session lacks a parameter's gradient (not planned
 * with param_grads, or no backward with param_grads since the last forward);
 * nothing is updated then. */
gc_status gc_sgd_step(gc_sgd *opt, const gc_session *s);

/* Changes the learning rate (schedules); > 0. */
gc_status gc_sgd_set_lr(gc_sgd *opt, float lr);

/* ------------------------------------------------------------------------ */
/* Synthetic shapes dataset                                                  */
/* ------------------------------------------------------------------------ */
/* A seeded generator of labelled images with ground-truth boxes, for
 * training small models and measuring explanations. An image shows one
 * object (or two of different classes, the paper's "cat and dog" case) on
 * a textured background: a smooth two-colour gradient, faint stripes,
 * soft blobs and per-pixel noise. Each object has a random class, centre,
 * size (diameter 20%..40% of the shorter side; 20%..36% with two objects),
 * rotation and colour (kept apart from the background's colours). Object
 * edges are anti-aliased (4x4 supersampling).
 *
 * Determinism: image `index` of `seed` depends on (seed, index, n_objects,
 * size) only, never on what else was generated. The background, the
 * objects and the noise draw from separate streams, so n_objects = 0 gives
 * exactly the background (noise included) of the same (seed, index).
 * Classes of one-object images come in blocks: indices 6k..6k+5 hold a
 * seeded permutation of the 6 classes (exact balance over aligned blocks).
 * Two-object images have two different classes and boxes that do not
 * overlap. */
#define GC_SHAPES_CLASSES 6
typedef enum gc_shapes_class {
    GC_SHAPES_DISC = 0, GC_SHAPES_SQUARE, GC_SHAPES_TRIANGLE,
    GC_SHAPES_CROSS, GC_SHAPES_RING, GC_SHAPES_STAR
} gc_shapes_class;

/* "disc", "square", "triangle", "cross", "ring", "star"; NULL out of range. */
const char *gc_shapes_class_name(int cls);

/* A box in pixel coordinates, inclusive: pixel (x, y) is inside when
 * x0 <= x <= x1 and y0 <= y <= y1 (x is the column). area is the number of
 * pixels of the region the box was drawn around (the object's pixels for
 * dataset boxes, the component's for localisation boxes); area 0 means no
 * region (nothing to box). Geometry (IoU, pointing) uses the corners only. */
typedef struct gc_box { int32_t x0, y0, x1, y1; int64_t area; } gc_box;

typedef struct gc_shapes_info {
    int    n_objects;  /* 0, 1 or 2 */
    int    label[2];   /* label[k]: class of object k (k < n_objects) */
    gc_box box[2];     /* tight box of every pixel the object covers (area: their count) */
} gc_shapes_info;

/* Renders image `index` of `seed` with n_objects (0..2) objects into rgb
 * (3 x height x width floats, planar CHW, RGB, values k/255 in [0, 1] so
 * an 8-bit copy is exact) and describes it in *info. mask (height x width,
 * may be NULL) receives 0 for background, 1 or 2 for the object covering
 * the pixel most. Sizes 16..4096. Errors: GC_ERR_INVALID_ARGUMENT. */
gc_status gc_shapes_generate(uint64_t seed, uint64_t index, int n_objects,
                             int height, int width, float *rgb, uint8_t *mask,
                             gc_shapes_info *info);

/* ------------------------------------------------------------------------ */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------ */
/* The measures of the Grad-CAM paper (section 4) and of RISE, on plain
 * row-major float maps of height h and width w (the input resolution). */

/* Intersection over union of two inclusive pixel boxes (0 if disjoint). */
double gc_box_iou(const gc_box *a, const gc_box *b);

/* Localisation (paper section 4.1): the box of the map's largest component
 * above 15% of its maximum (gc_map_localize with threshold 0.15; a map
 * with no positive value gives no box and IoU 0); *iou = its best IoU with any
 * of the n_gt ground-truth boxes; *correct = iou >= 0.5. Either output may
 * be NULL. */
gc_status gc_eval_localization(const float *map, int h, int w, const gc_box *gt, int n_gt,
                               double *iou, int *correct);

/* The pointing-game tolerance for an h x w image: 15 pixels at 224 scaled
 * with the shorter side, tol = 15 * min(h, w) / 224 (4.29 px at 64 x 64). */
double gc_eval_pointing_tolerance(int h, int w);

/* Pointing game: *hit = 1 when the map's maximum (the first in row-major
 * order on ties) lies within tol pixels of the box, i.e. inside
 * [x0 - tol, x1 + tol] x [y0 - tol, y1 + tol]. A map with NaN is a miss. */
gc_status gc_eval_pointing(const float *map, int h, int w, const gc_box *box, double tol, int *hit);

/* Occlusion sensitivity (Zeiler & Fergus): a patch x patch square of value
 * fill (in the network-input domain, every channel) slides over the input
 * with stride; for each position the drop score(input) - score(occluded) of
 * class_index is recorded; map (h x w, the session's input size) is the
 * mean drop over the positions whose patch covers the pixel (positions are
 * 0, stride, ... and one flush with the far edge). score is the logit, or
 * the softmax probability when use_probability is set. The session must
 * run the whole network (no input_layer); its batch may be > 1, then that
 * many occluded copies go through each forward. input is one image
 * (C x H x W). The session's output is overwritten. */
typedef struct gc_occlusion_params {
    int   patch, stride;   /* >= 1, patch <= min(h, w) */
    float fill;
    int   use_probability;
} gc_occlusion_params;
gc_status gc_eval_occlusion(gc_session *s, const float *input, int class_index,
                            const gc_occlusion_params *p, float *map);

/* Spearman rank correlation of two maps of n values: Pearson correlation of
 * their ranks, tied values getting the average of their ranks. 0 when
 * either map is constant; GC_ERR_INVALID_ARGUMENT for NaN or n < 2.
 * Uses 2n doubles and n int64 of scratch allocated here. */
gc_status gc_eval_spearman(const float *a, const float *b, int64_t n, double *rho);

/* Deletion / insertion curves (RISE, Petsiuk et al. 2018). Pixels are
 * ranked by map value, highest first (ties in row-major order). Deletion
 * starts from input and, step by step, replaces ceil(h*w/steps) more pixels
 * (all channels) by baseline; insertion starts from baseline and puts back
 * pixels of input in the same order. curve (steps + 1 values) gets the
 * softmax probability of class_index after 0, 1, ..., steps steps, and
 * *auc the trapezoid area under it on x in [0, 1] (also in [0, 1]).
 * Low deletion and high insertion areas mean a faithful map. baseline
 * (C x H x W) may be NULL: zeros. Session as for gc_eval_occlusion
 * (batch > 1 runs that many steps per forward). steps 1..h*w. */
typedef enum gc_eval_curve_kind { GC_EVAL_DELETION = 0, GC_EVAL_INSERTION = 1 } gc_eval_curve_kind;
gc_status gc_eval_curve(gc_session *s, gc_eval_curve_kind kind, const float *input,
                        const float *baseline, const float *map, int class_index, int steps,
                        float *curve, double *auc);

/* Baseline maps. Centre: a Gaussian centred on the image,
 * exp(-(dx^2 + dy^2) / (2 sigma^2)) with sigma = sigma_frac * min(h, w)
 * (distances from the centre ((w-1)/2, (h-1)/2)). Random: uniform [0, 1)
 * values from a generator seeded with seed. */
gc_status gc_eval_center_map(int h, int w, double sigma_frac, float *map);
gc_status gc_eval_random_map(int h, int w, uint64_t seed, float *map);

/* Structural similarity (Wang et al. 2004) of two h x w maps, each first
 * min-max scaled to [0, 1] (a constant map to zeros), with scikit-image's
 * defaults for data range 1: the mean over every 7 x 7 window lying inside
 * the map (the whole map when it is smaller) of
 *   (2 mx my + C1)(2 cxy + C2) / ((mx^2 + my^2 + C1)(vx + vy + C2)),
 * sample (co)variances, C1 = 0.01^2, C2 = 0.03^2. 1 for equal maps.
 * Errors: GC_ERR_INVALID_ARGUMENT for NULL, sizes < 1 or a non-finite value.
 * Scratch 2 h w floats allocated here. */
gc_status gc_eval_ssim(const float *a, const float *b, int h, int w, double *ssim);

/* Sanity check by cascading model randomisation (Adebayo et al. 2018): on a
 * private copy of the model, the layers with initialised parameters
 * (convolutions, linear layers) are re-initialised one more at each step,
 * from the output layer down (PyTorch's default init, as
 * gc_model_init_random, each layer its own stream of seed), and the
 * request's methods explain input again for the class the trained model
 * was explained for. Each method's map at the input (gc_method_info.map:
 * an H x W map as it is, a C x H x W map as sum over channels of |value|)
 * is compared with the trained model's by gc_eval_spearman and
 * gc_eval_ssim. Maps that stay similar while the weights they explain are
 * destroyed do not explain the model. */
typedef struct gc_sanity_result {
    int                    steps;       /* 1 + the layers re-initialised (step 0: trained) */
    int                    n_methods;
    int                    height, width;
    int                    class_index; /* the class explained (-1: a caller gradient) */
    const gc_method_info **methods;     /* (n_methods) in table order */
    const char           **layers;      /* (steps) the layer re-initialised at each step
                                           (the model's names; NULL at step 0) */
    double                *spearman;    /* (steps, n_methods) rank correlation with step 0 */
    double                *ssim;        /* (steps, n_methods) SSIM with step 0 */
    float                 *maps;        /* (steps, n_methods, height, width) the compared maps */
} gc_sanity_result;

/* cfg: the session configuration for the copy (batch 1, the input's shape,
 * the target layer in keep when it is not the default); req: one target
 * (TOP1, CLASS, a one-class list or GC_TARGET_GRADIENT) and the methods.
 * The model is not changed; the copy needs as much memory as its weights.
 * Errors: those of gc_explain (naming the step), GC_ERR_INVALID_ARGUMENT,
 * GC_ERR_OUT_OF_MEMORY. Free the result with gc_sanity_result_free
 * (NULL-safe); its layer names live as long as the model. */
gc_status gc_sanity_cascade(const gc_model *m, const gc_session_config *cfg, const float *input,
                            const gc_explain_request *req, uint64_t seed, gc_sanity_result *out);
void      gc_sanity_result_free(gc_sanity_result *r);

/* ------------------------------------------------------------------------ */
/* Figures                                                                   */
/* ------------------------------------------------------------------------ */
/* Pictures of an explanation, returned as RGB8 images to save with
 * gc_image_save_png. The heatmap goes back onto the original photo at its
 * original resolution through the preprocessing crop (gc_preprocess_info). */

/* Weakly-supervised localisation (Grad-CAM paper, sec. 4.1): pixels with
 * map >= threshold * max(map) (threshold in 0..1, the paper's 0.15), the
 * largest 8-connected component of them (ties: the first met in raster
 * order), its bounding box with the component's area in box->area. A map
 * whose maximum is not positive gives an empty box (area 0) and GC_OK;
 * NaN values are never above the threshold. map is height x width,
 * row-major. Scratch: h * w bytes and h * w int64 allocated here. */
gc_status gc_map_localize(const float *map, int32_t height, int32_t width, float threshold, gc_box *box);

typedef struct gc_overlay_opts {
    float alpha;         /* heat weight: out = (1 - alpha) * image + alpha * jet; default 0.5 */
    float box_threshold; /* gc_map_localize threshold; default 0.15 */
    int   draw_box;      /* nonzero: draw the box as a 2-pixel green outline; default 1 */
} gc_overlay_opts;

gc_overlay_opts gc_overlay_defaults(void);

/* Heatmap overlay on the original image, at the original's resolution.
 * map (map_height x map_width, e.g. cam_norm at the network input size or
 * cam at the layer's) is min-max scaled to [0, 1], then sampled bilinearly
 * (half-pixel centres) at every original pixel whose centre lies inside the
 * crop rectangle (crop NULL: the whole image); those pixels are blended
 * with the jet colour of the value (gc_colormap_index), rounded to nearest;
 * pixels outside the crop keep their colour. The box is computed on the
 * sampled heat (0 outside the crop) and, if box is not NULL, returned in
 * original-image coordinates. *out is a new RGB8 image (gc_image_release).
 * Errors: GC_ERR_INVALID_ARGUMENT (NULL, sizes, non-finite map values,
 * alpha/threshold outside 0..1, empty crop). */
gc_status gc_render_overlay(const gc_image *original, const float *map, int32_t map_height, int32_t map_width,
                            const gc_preprocess_info *crop, const gc_overlay_opts *opts, gc_image *out, gc_box *box);

/* A gradient image (guided backprop, Guided Grad-CAM, deconvnet; 1 or 3
 * channels, planar channels x height x width in the network's colour order)
 * as the papers show it, with pytorch-grad-cam's deprocess_image made
 * independent of the map's scale:
 *   v = (x - mean) / (std + 1e-5 max|x|) * 0.1 + 0.5, clipped to [0, 1],
 * * 255, truncated to 8 bits; mean and (population) std over all values.
 * (pytorch-grad-cam adds an absolute 1e-5, which turns maps whose std is
 * near or below it — random-init networks, Guided Grad-CAM — into a flat
 * grey; for maps of size ~1 the two agree.) Multiplying the map by any
 * positive factor gives the same picture; a constant map is mid-grey. BGR
 * input is swapped to RGB; one channel is shown gray. New RGB8 image. */
gc_status gc_render_gradient(const float *chw, int32_t channels, int32_t height, int32_t width,
                             gc_color_order order, gc_image *out);

typedef struct gc_figure_opts {
    int32_t         panel_height; /* every panel is scaled to this height; default 224 */
    gc_overlay_opts overlay;      /* default gc_overlay_defaults() */
    int32_t         text_scale;   /* caption font scale 1..8; default 2 */
    gc_color_order  order;        /* colour order of the gradient maps (the model's); default RGB */
    const char     *label;        /* caption text (e.g. gc_model_label); NULL: "class <index>" */
} gc_figure_opts;

gc_figure_opts gc_figure_defaults(void);

/* One side-by-side figure for one explained target:
 *   original | Grad-CAM overlay (+ box) | guided backprop | Guided Grad-CAM
 * [| counterfactual overlay, when e->counterfactual was computed]
 * with a title above each panel and a caption "<label>  score S  p P".
 * The first two panels show the whole original (aspect kept), the last two
 * the network input; all are scaled to panel_height with gc_image_resize.
 * The Grad-CAM map is e->cam_norm (else cam_up, else cam). The Guided
 * Grad-CAM panel shows guided backprop times the Grad-CAM map scaled to
 * [0, 1] (pytorch-grad-cam's cam_mask * gb; e->guided_gradcam, the paper's
 * product with the unnormalised map, only says whether it was computed). A
 * missing map gives a gray "not computed" panel, a map whose values are all
 * equal a gray panel saying "all zero" or "constant". Every panel is the
 * same whatever positive factor a map is multiplied by. crop as for
 * gc_render_overlay.
 * *out is a new RGB8 image (gc_image_release). */
gc_status gc_render_figure(const gc_image *original, const gc_preprocess_info *crop, const gc_explanation *e,
                           const gc_figure_opts *opts, gc_image *out);

/* One figure of several methods for one explained target: the original,
 * then one titled panel per method (gc_method_info.title) showing its map
 * gc_method_info.map in e: a 2-D map as gc_render_overlay draws it on the
 * original (with its localisation box when opts->overlay.draw_box), a
 * C x H x W map as gc_render_gradient draws it at the network input. Rows
 * of up to 6 methods, the original at the start of the first; a caption as
 * gc_render_figure's. A map e lacks gives a gray "not computed" panel, a
 * constant one "all zero" or "constant". n is 1..64; methods are entries of
 * gc_method_at / gc_method_find. *out is a new RGB8 image (gc_image_release). */
gc_status gc_render_methods(const gc_image *original, const gc_preprocess_info *crop, const gc_explanation *e,
                            const gc_method_info *const *methods, int n, const gc_figure_opts *opts, gc_image *out);

GC_API_END

#ifdef __cplusplus
}
#endif

#endif /* GRADCAM_H */
