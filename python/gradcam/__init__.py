"""gradcam: Python binding of libgradcam (ctypes, standard library only).

    import gradcam
    m = gradcam.Model("weights/shapes.gcw")
    m.explain("examples/data/shape1_ring.png").save_figure("ring.png")

Arrays come back as NumPy arrays when NumPy is importable (and GRADCAM_NO_NUMPY is not set),
otherwise as typed memoryviews with a .shape and .tolist(). Arrays go in as NumPy arrays,
anything with the buffer protocol (array.array('f'), memoryview) or nested lists. Every
failure of the library raises GradcamError carrying its status and message. docs/python.md.
"""
import array as _array
import ctypes
import os
import threading
import weakref
from collections import namedtuple
from ctypes import byref, c_double, c_float, c_int, c_size_t, c_uint, c_uint8, c_void_p

from . import _ffi

__all__ = ["GradcamError", "version", "methods", "method_bits", "Image", "Model", "Session",
           "Explanation", "Target", "Prediction", "Box", "load_image", "decode_image", "box_iou",
           "localize", "eval_localization", "pointing_tolerance", "eval_pointing", "spearman",
           "center_map", "random_map", "ssim", "render_overlay", "render_gradient", "shapes_generate",
           "HAVE_NUMPY"]

_lib, LIBRARY_PATH = _ffi.load()
_ffi.bind(_lib)

if os.environ.get("GRADCAM_NO_NUMPY"):
    _np = None
else:
    try:
        import numpy as _np
    except ImportError:
        _np = None
HAVE_NUMPY = _np is not None

_STATUS = ["GC_OK", "GC_ERR_INVALID_ARGUMENT", "GC_ERR_SHAPE", "GC_ERR_NOT_FOUND", "GC_ERR_OUT_OF_MEMORY",
           "GC_ERR_IO", "GC_ERR_FORMAT", "GC_ERR_UNSUPPORTED", "GC_ERR_LIMIT", "GC_ERR_STATE",
           "GC_ERR_NUMERIC"]


class GradcamError(Exception):
    """A failed library call: .status is the status name ("GC_ERR_NOT_FOUND"), .code its
    number, .message the library's detail (gc_last_error)."""

    def __init__(self, code, message, call=""):
        self.code = code
        self.status = _lib.gc_status_string(code).decode()
        self.message = message
        self.call = call
        super().__init__("%s: %s" % (self.status, message or "(no detail)"))


def _check(code, call=""):
    if code != 0:
        raise GradcamError(code, _lib.gc_last_error().decode("utf-8", "replace"), call)


def _arg_error(msg):
    return GradcamError(1, msg)  # GC_ERR_INVALID_ARGUMENT, raised on the Python side


def _b(s):
    return None if s is None else (os.fsencode(s) if isinstance(s, (str, os.PathLike)) else s)


def version():
    """The library's version string (gc_version)."""
    return _lib.gc_version().decode()


# ---------------------------------------------------------------- arrays in and out

def _shape_of(x):
    if _np is not None and isinstance(x, _np.ndarray):
        return tuple(int(d) for d in x.shape)
    if isinstance(x, memoryview):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        shape, cur = [], x
        while isinstance(cur, (list, tuple)):
            shape.append(len(cur))
            if not cur:
                break
            cur = cur[0]
        return tuple(shape)
    try:
        return (len(memoryview(x).cast("B")) // 4,)
    except TypeError:
        raise _arg_error("expected an array, a buffer or a list of numbers, got %s" % type(x).__name__)


def _flatten(x, out):
    for v in x:
        if isinstance(v, (list, tuple)):
            _flatten(v, out)
        else:
            out.append(float(v))


def _floats(x, n=None, what="array"):
    """x as a C float32 array (a ctypes object that keeps the data alive), checked to hold n
    values when n is given."""
    if _np is not None and isinstance(x, _np.ndarray):
        a = _np.ascontiguousarray(x, dtype=_np.float32)
        buf = (c_float * a.size).from_buffer_copy(a.tobytes()) if a.size else (c_float * 0)()
    elif isinstance(x, (list, tuple)):
        flat = []
        _flatten(x, flat)
        buf = (c_float * len(flat))(*flat)
    else:
        try:
            mv = memoryview(x)
        except TypeError:
            raise _arg_error("%s: expected an array, a buffer or a list of numbers, got %s" %
                             (what, type(x).__name__))
        if mv.format in ("f", "<f", "=f"):
            raw = mv.tobytes()
            buf = (c_float * (len(raw) // 4)).from_buffer_copy(raw)
        else:
            flat = [float(v) for v in (mv.cast("B").cast(mv.format) if mv.ndim > 1 else mv)]
            buf = (c_float * len(flat))(*flat)
    if n is not None and len(buf) != n:
        raise _arg_error("%s: %d values expected, got %d" % (what, n, len(buf)))
    return buf


def _out(ptr_or_buf, shape, ctype=c_float, code="f"):
    """A copy of prod(shape) values at ptr as a NumPy array or a typed memoryview."""
    n = 1
    for d in shape:
        n *= int(d)
    nbytes = n * ctypes.sizeof(ctype)
    raw = ctypes.string_at(ptr_or_buf, nbytes) if nbytes else b""
    if _np is not None:
        return _np.frombuffer(raw, dtype={"f": _np.float32, "B": _np.uint8, "H": _np.uint16}[code]).reshape(
            shape).copy()
    mv = memoryview(bytearray(raw)).cast("B")
    if not shape or n == 0:
        return mv.cast(code)
    return mv.cast(code, tuple(int(d) for d in shape))


def _tensor_out(t):
    if not t.data:
        return None
    return _out(t.data, tuple(t.shape[:t.ndim]))


# ---------------------------------------------------------------- methods

MethodInfo = namedtuple("MethodInfo", "name title bit input_level map")


def methods():
    """Every explanation method the library offers, in table order (gc_method_at)."""
    out = []
    for i in range(_lib.gc_method_count()):
        m = _lib.gc_method_at(i).contents
        out.append(MethodInfo(m.name.decode(), m.title.decode(), m.bit, m.input_level, m.map.decode()))
    return out


def method_bits(spec):
    """"gradcam,scorecam" / "all" / a list of names / an int -> GC_METHOD_* bits (gc_method_parse)."""
    if isinstance(spec, int):
        return spec
    if isinstance(spec, (list, tuple)):
        spec = ",".join(spec)
    bits = c_uint(0)
    _check(_lib.gc_method_parse(_b(spec), byref(bits)), "gc_method_parse")
    return bits.value


# ---------------------------------------------------------------- images

class Box(namedtuple("Box", "x0 y0 x1 y1 area")):
    """An inclusive pixel box; area 0 means no region."""
    __slots__ = ()

    def _c(self):
        return _ffi.Box(int(self.x0), int(self.y0), int(self.x1), int(self.y1), int(self.area))


def _box(b):
    if isinstance(b, _ffi.Box):
        return b
    if isinstance(b, Box):
        return b._c()
    b = tuple(b)
    return _ffi.Box(int(b[0]), int(b[1]), int(b[2]), int(b[3]), int(b[4]) if len(b) > 4 else 1)


def _box_out(c):
    return Box(c.x0, c.y0, c.x1, c.y1, c.area)


class Image:
    """A decoded image (gc_image): interleaved samples, row-major, 8 or 16 bits."""

    def __init__(self, _c=None):
        self._c = _c if _c is not None else _ffi.Image()

    def __del__(self):
        if getattr(self, "_c", None) is not None and self._c.data:
            _lib.gc_image_release(byref(self._c))

    width = property(lambda self: self._c.width)
    height = property(lambda self: self._c.height)
    channels = property(lambda self: self._c.channels)
    bit_depth = property(lambda self: self._c.bit_depth)

    def __repr__(self):
        return "<gradcam.Image %dx%d, %d channels, %d-bit>" % (self.width, self.height, self.channels,
                                                               self.bit_depth)

    @classmethod
    def load(cls, path):
        img = cls()
        _check(_lib.gc_image_load(_b(path), None, byref(img._c)), "gc_image_load")
        return img

    @classmethod
    def decode(cls, data):
        """PNG, JPEG or PPM/PGM bytes (any bytes-like object)."""
        data = bytes(data)
        img = cls()
        _check(_lib.gc_image_decode(data, len(data), None, byref(img._c)), "gc_image_decode")
        return img

    @classmethod
    def from_pixels(cls, pixels, width=None, height=None, channels=None):
        """An 8-bit image from (height, width[, channels]) uint8 values: a NumPy array, or
        bytes-like data / a list with width, height and channels given."""
        if _np is not None and isinstance(pixels, _np.ndarray):
            a = _np.ascontiguousarray(pixels)
            if a.dtype != _np.uint8:
                raise _arg_error("Image.from_pixels: uint8 pixels expected, got %s" % a.dtype)
            height, width = a.shape[0], a.shape[1]
            channels = a.shape[2] if a.ndim == 3 else 1
            raw = a.tobytes()
        else:
            if None in (width, height, channels):
                raise _arg_error("Image.from_pixels: width, height and channels are needed without NumPy")
            raw = bytes(pixels) if not isinstance(pixels, list) else bytes(bytearray(pixels))
        img = cls()
        _check(_lib.gc_image_alloc(byref(img._c), int(width), int(height), int(channels), 8), "gc_image_alloc")
        if len(raw) != width * height * channels:
            raise _arg_error("Image.from_pixels: %d bytes for %dx%dx%d" % (len(raw), width, height, channels))
        ctypes.memmove(img._c.data, raw, len(raw))
        return img

    def pixels(self):
        """The samples as (height, width, channels): uint8 or uint16."""
        code, ct = ("B", c_uint8) if self.bit_depth == 8 else ("H", ctypes.c_uint16)
        return _out(self._c.data, (self.height, self.width, self.channels), ct, code)

    def to_rgb8(self):
        out = Image()
        _check(_lib.gc_image_to_rgb8(byref(self._c), byref(out._c)), "gc_image_to_rgb8")
        return out

    def resize(self, width, height):
        out = Image()
        _check(_lib.gc_image_resize(byref(self._c), int(width), int(height), byref(out._c)), "gc_image_resize")
        return out

    def encode_png(self):
        p = ctypes.POINTER(c_uint8)()
        n = c_size_t(0)
        _check(_lib.gc_image_encode_png(byref(self._c), byref(p), byref(n)), "gc_image_encode_png")
        try:
            return ctypes.string_at(p, n.value)
        finally:
            _lib.gc_buffer_free(p)

    def save_png(self, path):
        _check(_lib.gc_image_save_png(byref(self._c), _b(path)), "gc_image_save_png")

    def save_pnm(self, path):
        _check(_lib.gc_image_save_pnm(byref(self._c), _b(path)), "gc_image_save_pnm")


def load_image(path):
    return Image.load(path)


def decode_image(data):
    return Image.decode(data)


def _as_image(x):
    if isinstance(x, Image):
        return x
    if isinstance(x, (str, os.PathLike)):
        return Image.load(x)
    if isinstance(x, (bytes, bytearray)):
        return Image.decode(x)
    if _np is not None and isinstance(x, _np.ndarray) and x.dtype == _np.uint8:
        return Image.from_pixels(x)
    raise _arg_error("expected an image: a path, encoded bytes, a gradcam.Image or a uint8 array; got %s"
                     % type(x).__name__)


# ---------------------------------------------------------------- models and sessions

Prediction = namedtuple("Prediction", "class_index label probability logit")

_TARGET_TOP1, _TARGET_CLASS, _TARGET_TOPK, _TARGET_GRADIENT, _TARGET_CLASSES = range(5)
_KERNELS = {"auto": 0, "reference": 1, "portable": 2, "avx2": 3, "avx512": 4}


class Model:
    """A network opened from a .gcw file (gc_model_open) or bytes (gc_model_open_memory).

    classify() and explain() take an image (path, bytes, Image or uint8 array), preprocess it as
    the model's metadata says and run a batch-1 session the model keeps per thread."""

    def __init__(self, path=None, data=None):
        self._c = c_void_p()
        if data is not None:
            data = bytes(data)
            _check(_lib.gc_model_open_memory(data, len(data), byref(self._c)), "gc_model_open_memory")
        elif path is not None:
            _check(_lib.gc_model_open(_b(path), byref(self._c)), "gc_model_open")
        else:
            raise _arg_error("Model: a path or data is needed")
        self.path = path
        self._local = threading.local()
        self._sessions = weakref.WeakSet()  # every session made from the model: closed with it

    @classmethod
    def from_bytes(cls, data):
        return cls(data=data)

    def close(self):
        """Frees the model and every session made from it (using them afterwards raises)."""
        for s in list(self._sessions):
            s.close()
        self._local = threading.local()
        if self._c:
            _lib.gc_model_free(self._c)
            self._c = c_void_p()

    def __del__(self):
        if getattr(self, "_c", None):
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def layers(self):
        return [_lib.gc_model_layer_name(self._c, i).decode() for i in range(_lib.gc_model_layer_count(self._c))]

    def layer_kind(self, name):
        i = self.layers.index(name)
        return _lib.gc_layer_kind_name(_lib.gc_model_layer_kind(self._c, i)).decode()

    @property
    def labels(self):
        return [_lib.gc_model_label(self._c, i).decode() for i in range(_lib.gc_model_label_count(self._c))]

    def label(self, i):
        s = _lib.gc_model_label(self._c, int(i))
        return s.decode() if s else "class %d" % i

    @property
    def default_layer(self):
        s = _lib.gc_model_default_layer(self._c)
        return s.decode() if s else None

    @property
    def preprocess_config(self):
        p = _lib.gc_model_preprocess(self._c).contents
        return {"input_height": p.input_height, "input_width": p.input_width,
                "resize_shorter": p.resize_shorter, "order": "BGR" if p.order else "RGB", "scale": p.scale,
                "mean": list(p.mean), "std": list(p.std)}

    @property
    def input_size(self):
        p = _lib.gc_model_preprocess(self._c).contents
        return (p.input_height, p.input_width)

    def preprocess(self, image):
        """(input array (1, 3, H, W), geometry dict) for an image (gc_image_preprocess)."""
        t, info = self._preprocess(_as_image(image))
        try:
            return _tensor_out(t), _info_dict(info)
        finally:
            _lib.gc_tensor_release(byref(t))

    def _preprocess(self, img):
        t = _ffi.Tensor()
        info = _ffi.PreprocessInfo()
        _check(_lib.gc_image_preprocess(byref(img._c), _lib.gc_model_preprocess(self._c), byref(t), byref(info)),
               "gc_image_preprocess")
        return t, info

    def session(self, batch=1, height=None, width=None, channels=3, keep=None, kernels="auto",
                max_bytes=0, backward_floor=None, forward_only=False):
        """A new Session of this model (gc_session_create); size defaults to the model's input.
        backward_floor: a layer name below which backward never runs (Grad-CAM at that layer);
        forward_only: no backward at all (gc_session_config's fields of those names)."""
        h, w = self.input_size
        s = Session(self, batch, channels, height or h, width or w, keep, kernels, max_bytes, backward_floor,
                    forward_only)
        self._sessions.add(s)
        return s

    def _session(self, keep):
        key = tuple(keep or ())
        cache = getattr(self._local, "sessions", None)
        if cache is None:
            cache = self._local.sessions = {}
        s = cache.get(key)
        if s is None:
            s = cache[key] = self.session(keep=list(key) or None)
        return s

    def classify(self, image, top=5):
        """The top predictions for an image: [Prediction(class_index, label, probability, logit)]."""
        img = _as_image(image)
        t, _ = self._preprocess(img)
        try:
            s = self._session(None)
            return s._top(s._forward_ptr(t.data), top)
        finally:
            _lib.gc_tensor_release(byref(t))

    def explain(self, image, methods="gradcam", target=None, top_k=None, layer=None, alpha_sum=False,
                params=None, output_grad=None):
        """Explains one image: an Explanation with one Target per explained class.

        methods: "gradcam,guided_gradcam", a list of names, "all" or GC_METHOD_* bits.
        target: None (the top class), a class index, or a list of class indices; top_k: the top k
        classes; output_grad: a gradient over the outputs instead of a class. layer: target layer
        (default gc_model_default_layer). params: dict of gc_method_params fields."""
        img = _as_image(image)
        t, info = self._preprocess(img)
        try:
            s = self._session([layer] if layer else None)
            e = s._explain_ptr(t.data, methods, target, top_k, layer, alpha_sum, params, output_grad)
        finally:
            _lib.gc_tensor_release(byref(t))
        e.image, e.info = img, info
        return e

    def sanity(self, image, methods="gradcam", target=None, layer=None, seed=1):
        """Cascading randomisation (Adebayo et al.; gc_sanity_cascade) of one image: a
        SanityResult(class_index, methods, layers, spearman, ssim, maps), spearman and ssim as
        [step][method] lists against step 0 (the trained model), maps (steps, methods, H, W)."""
        t, _ = self._preprocess(_as_image(image))
        try:
            return _sanity(self, t.data, tuple(t.shape[:4]), methods, target, layer, seed)
        finally:
            _lib.gc_tensor_release(byref(t))


SanityResult = namedtuple("SanityResult", "class_index methods layers spearman ssim maps")


def _sanity(model, x_ptr, shape, methods, target, layer, seed):
    cfg = _ffi.SessionConfig(batch=1, channels=shape[1], height=shape[2], width=shape[3])
    keep = None
    if layer:
        keep = (ctypes.c_char_p * 2)(_b(layer), None)
        cfg.keep = keep
    req = _ffi.ExplainRequest(methods=method_bits(methods), layer=_b(layer))
    if target is not None:
        req.target, req.class_index = _TARGET_CLASS, int(target)
    r = _ffi.SanityResult()
    _check(_lib.gc_sanity_cascade(model._c, byref(cfg), x_ptr, byref(req), int(seed), byref(r)), "gc_sanity_cascade")
    try:
        s, k = r.steps, r.n_methods
        names = [r.methods[j].contents.name.decode() for j in range(k)]
        layers = [None if not r.layers[i] else r.layers[i].decode() for i in range(s)]
        sp = [[r.spearman[i * k + j] for j in range(k)] for i in range(s)]
        ss = [[r.ssim[i * k + j] for j in range(k)] for i in range(s)]
        maps = _out(r.maps, (s, k, r.height, r.width))
        return SanityResult(r.class_index, names, layers, sp, ss, maps)
    finally:
        _lib.gc_sanity_result_free(byref(r))


def _info_dict(i):
    return {f: getattr(i, f) for f, _ in _ffi.PreprocessInfo._fields_}


class Session:
    """Per-thread state for one model and one input shape (gc_session). Inputs are preprocessed
    arrays of batch x channels x height x width values."""

    def __init__(self, model, batch, channels, height, width, keep=None, kernels="auto", max_bytes=0,
                 backward_floor=None, forward_only=False):
        self.model = model
        self.shape = (int(batch), int(channels), int(height), int(width))
        self._keep = None
        if keep:
            self._keep = (ctypes.c_char_p * (len(keep) + 1))(*[_b(k) for k in keep], None)
        if kernels not in _KERNELS:
            raise _arg_error("kernels: one of %s, got %r" % (", ".join(_KERNELS), kernels))
        cfg = _ffi.SessionConfig(batch=self.shape[0], channels=self.shape[1], height=self.shape[2],
                                 width=self.shape[3], max_bytes=max_bytes, kernels=_KERNELS[kernels],
                                 keep=self._keep, backward_floor=_b(backward_floor) if backward_floor else None,
                                 forward_only=1 if forward_only else 0)
        self._c = c_void_p()
        if not model._c:
            raise GradcamError(9, "the model was closed")  # GC_ERR_STATE
        _check(_lib.gc_session_create(model._c, byref(cfg), byref(self._c)), "gc_session_create")

    def close(self):
        if self._c:
            _lib.gc_session_free(self._c)
            self._c = c_void_p()

    def __del__(self):
        if getattr(self, "_c", None):
            self.close()

    def _n(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def _one(self):
        return self.shape[1] * self.shape[2] * self.shape[3]

    def _live(self):
        if not self._c:
            raise GradcamError(9, "the session was closed (or its model was)")  # GC_ERR_STATE

    def _forward_ptr(self, ptr):
        self._live()
        _check(_lib.gc_session_forward(self._c, ptr), "gc_session_forward")
        t = _ffi.Tensor()
        _check(_lib.gc_session_output(self._c, byref(t)), "gc_session_output")
        return _tensor_out(t)

    def forward(self, x):
        """The network output (batch, classes) for input x (gc_session_forward)."""
        buf = _floats(x, self._n(), "Session.forward input")
        return self._forward_ptr(buf)

    def _top(self, logits, top):
        vals = list(logits.reshape(-1)) if _np is not None else logits.cast("B").cast("f").tolist()
        vals = [float(v) for v in vals]
        mx = max(vals)
        import math
        ex = [math.exp(v - mx) for v in vals]
        z = sum(ex)
        order = sorted(range(len(vals)), key=lambda i: (-vals[i], i))[:top]
        return [Prediction(i, self.model.label(i), ex[i] / z, vals[i]) for i in order]

    def classify(self, x, top=5):
        return self._top(self.forward(x), top)

    def explain(self, x, methods="gradcam", target=None, top_k=None, layer=None, alpha_sum=False, params=None,
                output_grad=None):
        """gc_explain on a preprocessed input (1 x C x H x W values); see Model.explain."""
        buf = _floats(x, self._n(), "Session.explain input")
        return self._explain_ptr(buf, methods, target, top_k, layer, alpha_sum, params, output_grad)

    def explain_batch(self, xs, n=None, methods="gradcam", target=None, top_k=None, layer=None, alpha_sum=False,
                      params=None, output_grad=None):
        """gc_explain_batch: n preprocessed inputs (n x C x H x W values, n <= the session's batch;
        default: the batch) explained in one pass; a list of n Explanations, each equal bit for
        bit to Session.explain of that input on a batch-1 session. Other arguments as explain."""
        n = self.shape[0] if n is None else int(n)
        if n < 1 or n > self.shape[0]:
            raise _arg_error("explain_batch: n = %d, the session takes 1..%d inputs" % (n, self.shape[0]))
        buf = _floats(xs, n * self._one(), "Session.explain_batch inputs")
        return self._explain_ptr(buf, methods, target, top_k, layer, alpha_sum, params, output_grad, n)

    def _explain_ptr(self, ptr, methods, target, top_k, layer, alpha_sum, params, output_grad, batch=None):
        self._live()
        req = _ffi.ExplainRequest(methods=method_bits(methods), alpha_sum=1 if alpha_sum else 0, layer=_b(layer))
        keep = []
        if output_grad is not None:
            g = _floats(output_grad, None, "output_grad")
            keep.append(g)
            req.target, req.output_grad = _TARGET_GRADIENT, ctypes.cast(g, ctypes.POINTER(c_float))
        elif top_k is not None:
            req.target, req.top_k = _TARGET_TOPK, int(top_k)
        elif isinstance(target, (list, tuple)):
            cl = (c_int * len(target))(*[int(c) for c in target])
            keep.append(cl)
            req.target, req.classes, req.n_classes = _TARGET_CLASSES, cl, len(target)
        elif target is not None:
            req.target, req.class_index = _TARGET_CLASS, int(target)
        if params:
            mp = _lib.gc_method_params_defaults()
            for k, v in params.items():
                if k == "ig_baseline":
                    b = _floats(v, self._one(), "ig_baseline")
                    keep.append(b)
                    v = ctypes.cast(b, ctypes.POINTER(c_float))
                elif k == "noise_base":
                    v = method_bits(v)
                elif not hasattr(mp, k):
                    raise _arg_error("params: unknown field %r (gc_method_params has %s)" %
                                     (k, ", ".join(f for f, _ in _ffi.MethodParams._fields_)))
                setattr(mp, k, v)
            keep.append(mp)
            req.params = ctypes.pointer(mp)
        if batch is not None:
            rs = (_ffi.ExplainResult * batch)()
            _check(_lib.gc_explain_batch(self._c, ptr, batch, byref(req), rs), "gc_explain_batch")
            return [Explanation._from(self.model, r) for r in rs]
        r = _ffi.ExplainResult()
        _check(_lib.gc_explain(self._c, ptr, byref(req), byref(r)), "gc_explain")
        return Explanation._from(self.model, r)

    def occlusion(self, x, class_index, patch, stride, fill=0.0, use_probability=False):
        """Occlusion sensitivity map (H x W) of one input (gc_eval_occlusion)."""
        self._live()
        buf = _floats(x, self._one(), "occlusion input")
        h, w = self.shape[2], self.shape[3]
        out = (c_float * (h * w))()
        p = _ffi.OcclusionParams(int(patch), int(stride), float(fill), 1 if use_probability else 0)
        _check(_lib.gc_eval_occlusion(self._c, buf, int(class_index), byref(p), out), "gc_eval_occlusion")
        return _out(out, (h, w))

    def curve(self, kind, x, saliency, class_index, steps, baseline=None):
        """Deletion or insertion curve (kind "deletion" / "insertion"; gc_eval_curve):
        (curve of steps + 1 probabilities, area under it)."""
        self._live()
        kinds = {"deletion": 0, "insertion": 1}
        if kind not in kinds:
            raise _arg_error("curve kind: 'deletion' or 'insertion', got %r" % (kind,))
        h, w = self.shape[2], self.shape[3]
        buf = _floats(x, self._one(), "curve input")
        m = _floats(saliency, h * w, "curve map")
        base = _floats(baseline, self._one(), "curve baseline") if baseline is not None else None
        out = (c_float * (int(steps) + 1))() if int(steps) >= 0 else (c_float * 1)()
        auc = c_double(0)
        _check(_lib.gc_eval_curve(self._c, kinds[kind], buf, base, m, int(class_index), int(steps), out, byref(auc)),
               "gc_eval_curve")
        return _out(out, (len(out),)), auc.value


# ---------------------------------------------------------------- explanations

class Target:
    """One explained class: class_index, label, score, probability, maps {name: array}."""

    def __init__(self, model, c):
        self.class_index = c.class_index
        self.label = model.label(c.class_index) if c.class_index >= 0 else None
        self.score = c.score
        self.probability = c.probability
        self.maps = {}
        self._cmaps = []  # (name bytes, method bit, C copy, shape) for gc_render_methods
        for i in range(c.n_maps):
            m = c.maps[i]
            self.maps[m.name.decode()] = _tensor_out(m.t)
            if m.t.data:
                shape = tuple(m.t.shape[:m.t.ndim])
                n = 1
                for d in shape:
                    n *= d
                self._cmaps.append((m.name, m.method, (c_float * n).from_buffer_copy(ctypes.string_at(m.t.data, 4 * n)),
                                    shape))
        # the fixed fields, kept as C arrays for gc_render_figure
        self._fixed = {}
        for f in _ffi.EXPLANATION_TENSORS:
            t = getattr(c, f)
            if t.data:
                n = 1
                for d in t.shape[:t.ndim]:
                    n *= d
                self._fixed[f] = ((c_float * n).from_buffer_copy(ctypes.string_at(t.data, 4 * n)),
                                  tuple(t.shape[:t.ndim]))

    def __getitem__(self, name):
        return self.maps[name]

    def __repr__(self):
        return "<gradcam.Target class %d (%s) score %.4g p %.4g, maps %s>" % (
            self.class_index, self.label, self.score, self.probability, ", ".join(self.maps))

    def _c(self):
        e = _ffi.Explanation(class_index=self.class_index, score=self.score, probability=self.probability)
        fixed = self._fixed
        def fill(t, buf, shape):
            t.data = ctypes.cast(buf, ctypes.POINTER(c_float))
            t.ndim = len(shape)
            for i in range(_ffi.MAX_DIMS):
                t.shape[i] = shape[i] if i < len(shape) else 1

        for f, (buf, shape) in fixed.items():
            fill(getattr(e, f), buf, shape)
        maps = (_ffi.Map * max(1, len(self._cmaps)))()
        for i, (name, bit, buf, shape) in enumerate(self._cmaps):
            maps[i].name, maps[i].method = name, bit
            fill(maps[i].t, buf, shape)
        e.n_maps, e.maps = len(self._cmaps), maps
        return e, (fixed, maps)


class Explanation:
    """gc_explain's result for one input: layer, logits, probabilities, targets (best first)."""

    image = None
    info = None

    @classmethod
    def _from(cls, model, r):
        e = cls()
        e.model = model
        e.layer = r.layer.decode() if r.layer else None
        e.logits = _tensor_out(r.logits)
        e.probabilities = _tensor_out(r.probabilities)
        e.targets = [Target(model, r.items[i]) for i in range(r.count)]
        return e

    def __getitem__(self, k):
        return self.targets[k]

    def __len__(self):
        return len(self.targets)

    def __repr__(self):
        return "<gradcam.Explanation at %s: %s>" % (self.layer, "; ".join(repr(t) for t in self.targets))

    @property
    def maps(self):
        """The first target's maps."""
        return self.targets[0].maps

    def figure(self, target=0, panel_height=224, label=None):
        """The side-by-side figure of one target as an Image (gc_render_figure): original |
        Grad-CAM overlay | guided backprop | Guided Grad-CAM [| counterfactual]; panels of maps
        not computed say so. overlay() shows any other layer method's map."""
        if self.image is None:
            raise _arg_error("figure: this explanation has no original image (use Model.explain)")
        t = self.targets[target]
        e, _keep = t._c()
        o = _lib.gc_figure_defaults()
        o.panel_height = int(panel_height)
        p = _lib.gc_model_preprocess(self.model._c).contents
        o.order = p.order
        lab = label if label is not None else t.label
        lab_b = _b(lab) if lab is not None else None
        o.label = lab_b
        out = Image()
        _check(_lib.gc_render_figure(byref(self.image._c), byref(self.info), byref(e), byref(o), byref(out._c)),
               "gc_render_figure")
        return out

    def methods_figure(self, target=0, methods=None, panel_height=224, label=None):
        """One figure of several methods' maps (gc_render_methods): the original and a titled
        panel per method; methods: names (default: every method computed for the target)."""
        if self.image is None:
            raise _arg_error("methods_figure: this explanation has no original image (use Model.explain)")
        t = self.targets[target]
        if methods is None:
            names = [m.name for m in globals()["methods"]() if m.map in t.maps]
        else:
            names = methods.split(",") if isinstance(methods, str) else list(methods)
        infos = []
        for n in names:
            p = _lib.gc_method_find(_b(n))
            if not p:
                raise _arg_error("methods_figure: unknown method %r" % n)
            infos.append(p)
        arr = (ctypes.POINTER(_ffi.MethodInfo) * max(1, len(infos)))(*infos)
        e, _keep = t._c()
        o = _lib.gc_figure_defaults()
        o.panel_height = int(panel_height)
        o.order = _lib.gc_model_preprocess(self.model._c).contents.order
        lab = label if label is not None else t.label
        lab_b = _b(lab) if lab is not None else None
        o.label = lab_b
        out = Image()
        _check(_lib.gc_render_methods(byref(self.image._c), byref(self.info), byref(e), arr, len(infos), byref(o),
                                      byref(out._c)), "gc_render_methods")
        return out

    def save_figure(self, path, target=0, **kw):
        self.figure(target, **kw).save_png(path)
        return path

    def overlay(self, target=0, name=None, alpha=0.5, draw_box=True):
        """The heatmap overlay of a layer map (default Grad-CAM's) on the original image."""
        t = self.targets[target]
        name = name or ("gradcam_up" if "gradcam_up" in t.maps else next(
            (m.map for m in methods() if not m.input_level and m.map in t.maps), None))
        if name is None or name not in t.maps:
            raise _arg_error("overlay: no map %r (have: %s)" % (name, ", ".join(t.maps)))
        return render_overlay(self.image, t.maps[name], info=self.info, alpha=alpha, draw_box=draw_box)[0]


# ---------------------------------------------------------------- evaluation

def _map2d(m, shape, what):
    shape = tuple(shape) if shape is not None else _shape_of(m)
    if len(shape) != 2:
        raise _arg_error("%s: a 2-D map (height, width) is expected, got shape %s" % (what, shape))
    return _floats(m, shape[0] * shape[1], what), shape[0], shape[1]


def box_iou(a, b):
    return _lib.gc_box_iou(byref(_box(a)), byref(_box(b)))


def localize(saliency, threshold=0.15, shape=None):
    """The paper's localisation box of a map (gc_map_localize)."""
    buf, h, w = _map2d(saliency, shape, "localize")
    b = _ffi.Box()
    _check(_lib.gc_map_localize(buf, h, w, float(threshold), byref(b)), "gc_map_localize")
    return _box_out(b)


def eval_localization(saliency, gt_boxes, shape=None):
    """(best IoU with a ground-truth box, IoU >= 0.5) (gc_eval_localization)."""
    buf, h, w = _map2d(saliency, shape, "eval_localization")
    gts = [_box(b) for b in gt_boxes]
    arr = (_ffi.Box * max(1, len(gts)))(*gts)
    iou, ok = c_double(0), c_int(0)
    _check(_lib.gc_eval_localization(buf, h, w, arr, len(gts), byref(iou), byref(ok)), "gc_eval_localization")
    return iou.value, bool(ok.value)


def pointing_tolerance(height, width):
    return _lib.gc_eval_pointing_tolerance(int(height), int(width))


def eval_pointing(saliency, box, tol=None, shape=None):
    """Pointing game hit (gc_eval_pointing); tol defaults to pointing_tolerance."""
    buf, h, w = _map2d(saliency, shape, "eval_pointing")
    hit = c_int(0)
    _check(_lib.gc_eval_pointing(buf, h, w, byref(_box(box)), pointing_tolerance(h, w) if tol is None else tol,
                                 byref(hit)), "gc_eval_pointing")
    return bool(hit.value)


def spearman(a, b):
    """Spearman rank correlation of two maps of the same size (gc_eval_spearman)."""
    fa = _floats(a, None, "spearman a")
    fb = _floats(b, len(fa), "spearman b")
    rho = c_double(0)
    _check(_lib.gc_eval_spearman(fa, fb, len(fa), byref(rho)), "gc_eval_spearman")
    return rho.value


def ssim(a, b, shape=None):
    """Structural similarity of two maps of one size, each min-max scaled (gc_eval_ssim)."""
    fa, h, w = _map2d(a, shape, "ssim a")
    fb = _floats(b, h * w, "ssim b")
    v = c_double(0)
    _check(_lib.gc_eval_ssim(fa, fb, h, w, byref(v)), "gc_eval_ssim")
    return v.value


def center_map(height, width, sigma_frac=0.25):
    out = (c_float * (max(0, int(height) * int(width)) or 1))()
    _check(_lib.gc_eval_center_map(int(height), int(width), float(sigma_frac), out), "gc_eval_center_map")
    return _out(out, (height, width))


def random_map(height, width, seed=1):
    out = (c_float * (max(0, int(height) * int(width)) or 1))()
    _check(_lib.gc_eval_random_map(int(height), int(width), int(seed), out), "gc_eval_random_map")
    return _out(out, (height, width))


# ---------------------------------------------------------------- rendering and data

def render_overlay(image, saliency, info=None, alpha=0.5, box_threshold=0.15, draw_box=True, shape=None):
    """(overlay Image, Box in original pixels) of a map on an image (gc_render_overlay). info:
    the geometry from Model.preprocess (a dict) or None for the whole image."""
    img = _as_image(image)
    buf, h, w = _map2d(saliency, shape, "render_overlay")
    o = _ffi.OverlayOpts(float(alpha), float(box_threshold), 1 if draw_box else 0)
    ci = None
    if info is not None:
        ci = info if isinstance(info, _ffi.PreprocessInfo) else _ffi.PreprocessInfo(**info)
    out, b = Image(), _ffi.Box()
    _check(_lib.gc_render_overlay(byref(img._c), buf, h, w, byref(ci) if ci is not None else None, byref(o),
                                  byref(out._c), byref(b)), "gc_render_overlay")
    return out, _box_out(b)


def render_gradient(chw, order="RGB", shape=None):
    """A gradient map (channels, height, width) as the papers show it (gc_render_gradient)."""
    shape = tuple(shape) if shape is not None else _shape_of(chw)
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 3:
        raise _arg_error("render_gradient: a (channels, height, width) map is expected, got shape %s" % (shape,))
    buf = _floats(chw, shape[0] * shape[1] * shape[2], "render_gradient")
    out = Image()
    _check(_lib.gc_render_gradient(buf, shape[0], shape[1], shape[2], 1 if order == "BGR" else 0, byref(out._c)),
           "gc_render_gradient")
    return out


def shapes_generate(seed, index, n_objects=1, height=64, width=64):
    """One image of the synthetic shapes data set (gc_shapes_generate): (rgb (3, h, w) floats in
    [0, 1], mask (h, w) uint8, {"labels": [...], "boxes": [Box, ...]})."""
    rgb = (c_float * (3 * max(1, height * width)))()
    mask = (c_uint8 * max(1, height * width))()
    info = _ffi.ShapesInfo()
    _check(_lib.gc_shapes_generate(int(seed), int(index), int(n_objects), int(height), int(width), rgb, mask,
                                   byref(info)), "gc_shapes_generate")
    n = info.n_objects
    return (_out(rgb, (3, height, width)), _out(mask, (height, width), c_uint8, "B"),
            {"labels": [info.label[k] for k in range(n)], "boxes": [_box_out(info.box[k]) for k in range(n)]})
