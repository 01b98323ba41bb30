"""ctypes declarations of include/gradcam.h: finding the library, the structs, the prototypes.

Struct layouts mirror the header field for field; tests/test_python.c prints the C compiler's
sizeof/offsetof of each and python/tests/test_binding.py compares them with these.
"""
import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (POINTER, Structure, c_char_p, c_double, c_float, c_int, c_int32, c_int64,
                    c_size_t, c_uint, c_uint8, c_uint64, c_void_p)

SONAME = "libgradcam.so.0"


def _candidates():
    env = os.environ.get("GRADCAM_LIBRARY")
    if env:
        yield env
        return
    # the build tree: python/gradcam/ -> ../../lib
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.normpath(os.path.join(here, "..", "..", "lib", SONAME))
    if os.path.exists(tree):
        yield tree
    yield SONAME  # the loader's search path (ldconfig, LD_LIBRARY_PATH)
    found = ctypes.util.find_library("gradcam")
    if found:
        yield found
    try:  # an installed gradcam.pc knows where its prefix put the library
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "gradcam"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if libdir:
            yield os.path.join(libdir, SONAME)
    except (OSError, subprocess.SubprocessError):
        pass


def load():
    tried = []
    for c in _candidates():
        try:
            return ctypes.CDLL(c), c
        except OSError as e:
            tried.append("%s (%s)" % (c, e))
    raise ImportError("gradcam: cannot load the libgradcam shared library; tried " + "; ".join(tried) +
                      ". Build it (make) or install it (make install), or set GRADCAM_LIBRARY to its path")


# ---------------------------------------------------------------- structs

MAX_DIMS = 4


class Tensor(Structure):
    _fields_ = [("data", POINTER(c_float)), ("shape", c_int64 * MAX_DIMS), ("ndim", c_int),
                ("owns_data", c_int)]


class Image(Structure):
    _fields_ = [("width", c_int32), ("height", c_int32), ("channels", c_int32), ("bit_depth", c_int32),
                ("data", c_void_p)]


class ImageLimits(Structure):
    _fields_ = [("max_pixels", c_int64), ("max_dimension", c_int32)]


class Preprocess(Structure):
    _fields_ = [("input_height", c_int32), ("input_width", c_int32), ("resize_shorter", c_int32),
                ("order", c_int), ("scale", c_float), ("mean", c_float * 3), ("std", c_float * 3)]


class PreprocessInfo(Structure):
    _fields_ = [("resized_width", c_int32), ("resized_height", c_int32), ("crop_left", c_int32),
                ("crop_top", c_int32), ("x", c_double), ("y", c_double), ("width", c_double),
                ("height", c_double)]


class Box(Structure):
    _fields_ = [("x0", c_int32), ("y0", c_int32), ("x1", c_int32), ("y1", c_int32), ("area", c_int64)]


class ShapesInfo(Structure):
    _fields_ = [("n_objects", c_int), ("label", c_int * 2), ("box", Box * 2)]


class SessionConfig(Structure):
    _fields_ = [("batch", c_int64), ("channels", c_int64), ("height", c_int64), ("width", c_int64),
                ("param_grads", c_int), ("input_layer", c_char_p), ("max_bytes", c_size_t),
                ("kernels", c_int), ("keep", POINTER(c_char_p)), ("keep_all", c_int), ("no_fold", c_int),
                ("no_winograd", c_int), ("threads", c_int), ("no_fuse", c_int), ("backward_floor", c_char_p),
                ("forward_only", c_int)]


class MethodParams(Structure):
    _fields_ = [("batch", c_int), ("ig_steps", c_int), ("ig_baseline", POINTER(c_float)),
                ("noise_samples", c_int), ("noise_sigma", c_float), ("noise_seed", c_uint64),
                ("noise_base", c_uint), ("occlusion_patch", c_int), ("occlusion_stride", c_int),
                ("occlusion_fill", c_float)]


class MethodInfo(Structure):
    _fields_ = [("name", c_char_p), ("title", c_char_p), ("bit", c_uint), ("input_level", c_int),
                ("map", c_char_p)]


class ExplainRequest(Structure):
    _fields_ = [("target", c_int), ("class_index", c_int), ("top_k", c_int), ("classes", POINTER(c_int)),
                ("n_classes", c_int), ("output_grad", POINTER(c_float)), ("layer", c_char_p),
                ("methods", c_uint), ("alpha_sum", c_int), ("params", POINTER(MethodParams))]


class Map(Structure):
    _fields_ = [("name", c_char_p), ("method", c_uint), ("t", Tensor)]


EXPLANATION_TENSORS = ("alpha", "cam_raw", "cam", "cam_up", "cam_norm", "counterfactual", "guided",
                       "guided_gradcam", "deconvnet", "cam_zhou")


class Explanation(Structure):
    _fields_ = ([("class_index", c_int), ("score", c_float), ("probability", c_float)] +
                [(n, Tensor) for n in EXPLANATION_TENSORS] +
                [("n_maps", c_int), ("maps", POINTER(Map))])


class ExplainResult(Structure):
    _fields_ = [("layer", c_char_p), ("count", c_int), ("items", POINTER(Explanation)),
                ("logits", Tensor), ("probabilities", Tensor)]


class SanityResult(Structure):
    _fields_ = [("steps", c_int), ("n_methods", c_int), ("height", c_int), ("width", c_int),
                ("class_index", c_int), ("methods", POINTER(POINTER(MethodInfo))), ("layers", POINTER(c_char_p)),
                ("spearman", POINTER(c_double)), ("ssim", POINTER(c_double)), ("maps", POINTER(c_float))]


class OcclusionParams(Structure):
    _fields_ = [("patch", c_int), ("stride", c_int), ("fill", c_float), ("use_probability", c_int)]


class OverlayOpts(Structure):
    _fields_ = [("alpha", c_float), ("box_threshold", c_float), ("draw_box", c_int)]


class FigureOpts(Structure):
    _fields_ = [("panel_height", c_int32), ("overlay", OverlayOpts), ("text_scale", c_int32),
                ("order", c_int), ("label", c_char_p)]


STRUCTS = {
    "gc_tensor": Tensor, "gc_image": Image, "gc_image_limits": ImageLimits, "gc_preprocess": Preprocess,
    "gc_preprocess_info": PreprocessInfo, "gc_box": Box, "gc_shapes_info": ShapesInfo, "gc_session_config": SessionConfig,
    "gc_method_params": MethodParams, "gc_method_info": MethodInfo, "gc_explain_request": ExplainRequest,
    "gc_map": Map, "gc_explanation": Explanation, "gc_explain_result": ExplainResult,
    "gc_occlusion_params": OcclusionParams, "gc_sanity_result": SanityResult, "gc_overlay_opts": OverlayOpts, "gc_figure_opts": FigureOpts,
}

# ---------------------------------------------------------------- prototypes

P = POINTER
_S = c_int  # gc_status
PROTOTYPES = {
    "gc_version": (c_char_p, []),
    "gc_status_string": (c_char_p, [c_int]),
    "gc_last_error": (c_char_p, []),
    "gc_clear_error": (None, []),
    "gc_tensor_release": (None, [P(Tensor)]),
    "gc_model_open": (_S, [c_char_p, P(c_void_p)]),
    "gc_model_open_memory": (_S, [c_void_p, c_size_t, P(c_void_p)]),
    "gc_model_free": (None, [c_void_p]),
    "gc_model_layer_count": (c_int, [c_void_p]),
    "gc_model_layer_name": (c_char_p, [c_void_p, c_int]),
    "gc_model_layer_kind": (c_int, [c_void_p, c_int]),
    "gc_layer_kind_name": (c_char_p, [c_int]),
    "gc_model_label_count": (c_int, [c_void_p]),
    "gc_model_label": (c_char_p, [c_void_p, c_int]),
    "gc_model_default_layer": (c_char_p, [c_void_p]),
    "gc_model_preprocess": (P(Preprocess), [c_void_p]),
    "gc_session_create": (_S, [c_void_p, P(SessionConfig), P(c_void_p)]),
    "gc_session_free": (None, [c_void_p]),
    "gc_session_forward": (_S, [c_void_p, P(c_float)]),
    "gc_session_output": (_S, [c_void_p, P(Tensor)]),
    "gc_method_count": (c_int, []),
    "gc_method_at": (P(MethodInfo), [c_int]),
    "gc_method_parse": (_S, [c_char_p, P(c_uint)]),
    "gc_method_params_defaults": (MethodParams, []),
    "gc_explain": (_S, [c_void_p, P(c_float), P(ExplainRequest), P(ExplainResult)]),
    "gc_explain_batch": (_S, [c_void_p, P(c_float), c_int, P(ExplainRequest), P(ExplainResult)]),
    "gc_image_release": (None, [P(Image)]),
    "gc_image_decode": (_S, [c_void_p, c_size_t, P(ImageLimits), P(Image)]),
    "gc_image_load": (_S, [c_char_p, P(ImageLimits), P(Image)]),
    "gc_image_alloc": (_S, [P(Image), c_int32, c_int32, c_int32, c_int32]),
    "gc_image_to_rgb8": (_S, [P(Image), P(Image)]),
    "gc_image_resize": (_S, [P(Image), c_int32, c_int32, P(Image)]),
    "gc_image_encode_png": (_S, [P(Image), P(P(c_uint8)), P(c_size_t)]),
    "gc_image_save_png": (_S, [P(Image), c_char_p]),
    "gc_image_save_pnm": (_S, [P(Image), c_char_p]),
    "gc_buffer_free": (None, [c_void_p]),
    "gc_image_preprocess": (_S, [P(Image), P(Preprocess), P(Tensor), P(PreprocessInfo)]),
    "gc_box_iou": (c_double, [P(Box), P(Box)]),
    "gc_eval_localization": (_S, [P(c_float), c_int, c_int, P(Box), c_int, P(c_double), P(c_int)]),
    "gc_eval_pointing_tolerance": (c_double, [c_int, c_int]),
    "gc_eval_pointing": (_S, [P(c_float), c_int, c_int, P(Box), c_double, P(c_int)]),
    "gc_eval_occlusion": (_S, [c_void_p, P(c_float), c_int, P(OcclusionParams), P(c_float)]),
    "gc_eval_spearman": (_S, [P(c_float), P(c_float), c_int64, P(c_double)]),
    "gc_eval_curve": (_S, [c_void_p, c_int, P(c_float), P(c_float), P(c_float), c_int, c_int, P(c_float),
                           P(c_double)]),
    "gc_eval_ssim": (_S, [P(c_float), P(c_float), c_int, c_int, P(c_double)]),
    "gc_sanity_cascade": (_S, [c_void_p, P(SessionConfig), P(c_float), P(ExplainRequest), c_uint64,
                               P(SanityResult)]),
    "gc_sanity_result_free": (None, [P(SanityResult)]),
    "gc_method_find": (P(MethodInfo), [c_char_p]),
    "gc_render_methods": (_S, [P(Image), P(PreprocessInfo), P(Explanation), P(P(MethodInfo)), c_int,
                               P(FigureOpts), P(Image)]),
    "gc_eval_center_map": (_S, [c_int, c_int, c_double, P(c_float)]),
    "gc_eval_random_map": (_S, [c_int, c_int, c_uint64, P(c_float)]),
    "gc_map_localize": (_S, [P(c_float), c_int32, c_int32, c_float, P(Box)]),
    "gc_overlay_defaults": (OverlayOpts, []),
    "gc_figure_defaults": (FigureOpts, []),
    "gc_render_overlay": (_S, [P(Image), P(c_float), c_int32, c_int32, P(PreprocessInfo), P(OverlayOpts),
                               P(Image), P(Box)]),
    "gc_render_gradient": (_S, [P(c_float), c_int32, c_int32, c_int32, c_int, P(Image)]),
    "gc_render_figure": (_S, [P(Image), P(PreprocessInfo), P(Explanation), P(FigureOpts), P(Image)]),
    "gc_shapes_generate": (_S, [c_uint64, c_uint64, c_int, c_int, c_int, P(c_float), P(c_uint8), P(ShapesInfo)]),
}


def bind(lib):
    for name, (res, args) in PROTOTYPES.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args
    return lib
