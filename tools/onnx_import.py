"""onnx_import.py - ONNX models to .gcw layer graphs (Python 3 standard library only).

tools/gcw_convert.py calls build_graph() for an INPUT ending in .onnx and writes the result
with its own .gcw writer. The ONNX file is read with our own protobuf reader
(protobuf_wire.py) against the parts of onnx.proto we use; nothing in the file is ever
executed. Initializers become .gcw parameter tensors, nodes become layers; constant
sub-graphs (Shape, Gather, Unsqueeze, Concat, Cast, ... chains that compute a reshape
target, Constant nodes) are evaluated here, with the static shapes of the model's input.
Anything the engine cannot run exactly is refused with one message naming every
unsupported operator and its nodes, or every attribute problem; nothing is written then.
docs/onnx.md is the user's guide (operators, attributes, names, the default layer),
docs/security.md lists the bounds.
"""
import array
import hashlib
import math
import mmap
import os
import struct
import sys

import protobuf_wire as pw

# ---------------------------------------------------------------- limits (docs/security.md)

MAX_FILE = (2 << 30) - 1       # a protobuf message is at most 2 GiB; bigger models use external data
MAX_NUMEL = 1 << 32            # elements of one tensor (as the checkpoint reader)
MAX_RANK = 8                   # dimensions of one tensor
MAX_DIM = 1 << 40              # one declared dimension
MAX_FOLD = 1 << 24             # elements of a tensor computed at conversion time from smaller ones
MAX_NODES = 1 << 20            # nodes of the graph
MAX_NAME = 4096                # bytes of a node or value name in the file
OPSET_MIN, OPSET_MAX = 1, 18   # default-domain operator set versions read (9 to 18 are what exporters write)
FLT_MAX = 3.4028234663852886e38
GCW_NAME = 63                  # .gcw layer name limit (docs/format.md)


class OnnxError(Exception):
    pass


class Unsupported(Exception):
    """A node the engine cannot run as the model says (collected, reported together)."""


def fail(msg):
    raise OnnxError(msg)


# ---------------------------------------------------------------- onnx.proto, the parts we read

F = pw.Field
DIM = {1: F('dim_value', 'int64'), 2: F('dim_param', 'string')}
TENSOR_SHAPE = {1: F('dim', 'message', True, DIM)}
TYPE_TENSOR = {1: F('elem_type', 'int32'), 2: F('shape', 'message', sub=TENSOR_SHAPE)}
TYPE = {1: F('tensor_type', 'message', sub=TYPE_TENSOR), 4: F('sequence_type', 'bytes', span=True),
        5: F('map_type', 'bytes', span=True), 8: F('sparse_tensor_type', 'bytes', span=True),
        9: F('optional_type', 'bytes', span=True)}
VALUE_INFO = {1: F('name', 'string'), 2: F('type', 'message', sub=TYPE)}
STRSTR = {1: F('key', 'string'), 2: F('value', 'string')}
TENSOR = {1: F('dims', 'int64', True), 2: F('data_type', 'int32'), 3: F('segment', 'bytes', span=True),
          4: F('float_data', 'float', True), 5: F('int32_data', 'int32', True),
          6: F('string_data', 'bytes', True, span=True), 7: F('int64_data', 'int64', True),
          8: F('name', 'string'), 9: F('raw_data', 'bytes', span=True),
          13: F('external_data', 'message', True, STRSTR), 14: F('data_location', 'int32'),
          10: F('double_data', 'double', True), 11: F('uint64_data', 'uint64', True)}
ATTR = {1: F('name', 'string'), 21: F('ref_attr_name', 'string'), 20: F('type', 'int32'), 2: F('f', 'float'),
        3: F('i', 'int64'), 4: F('s', 'bytes'), 5: F('t', 'message', sub=TENSOR), 6: F('g', 'bytes', span=True),
        22: F('sparse_tensor', 'bytes', span=True), 14: F('tp', 'bytes', span=True),
        7: F('floats', 'float', True), 8: F('ints', 'int64', True), 9: F('strings', 'bytes', True),
        10: F('tensors', 'message', True, TENSOR), 11: F('graphs', 'bytes', True, span=True),
        23: F('sparse_tensors', 'bytes', True, span=True), 15: F('type_protos', 'bytes', True, span=True)}
NODE = {1: F('input', 'string', True), 2: F('output', 'string', True), 3: F('name', 'string'),
        4: F('op_type', 'string'), 7: F('domain', 'string'), 5: F('attribute', 'message', True, ATTR)}
GRAPH = {1: F('node', 'message', True, NODE), 2: F('name', 'string'), 5: F('initializer', 'message', True, TENSOR),
         15: F('sparse_initializer', 'bytes', True, span=True), 11: F('input', 'message', True, VALUE_INFO),
         12: F('output', 'message', True, VALUE_INFO), 13: F('value_info', 'bytes', True, span=True)}
OPSET = {1: F('domain', 'string'), 2: F('version', 'int64')}
MODEL = {1: F('ir_version', 'int64'), 8: F('opset_import', 'message', True, OPSET),
         2: F('producer_name', 'string'), 3: F('producer_version', 'string'), 7: F('graph', 'message', sub=GRAPH),
         25: F('functions', 'bytes', True, span=True)}

# TensorProto.DataType: name, bytes per element, array typecode of the raw little-endian data
DTYPES = {1: ('float32', 4, 'f'), 2: ('uint8', 1, 'B'), 3: ('int8', 1, 'b'), 4: ('uint16', 2, 'H'),
          5: ('int16', 2, 'h'), 6: ('int32', 4, 'i'), 7: ('int64', 8, 'q'), 9: ('bool', 1, 'B'),
          10: ('float16', 2, None), 11: ('float64', 8, 'd'), 12: ('uint32', 4, 'I'), 13: ('uint64', 8, 'Q'),
          16: ('bfloat16', 2, None)}
DTYPE_NAMES = {0: 'undefined', 8: 'string', 14: 'complex64', 15: 'complex128', 17: 'float8e4m3fn',
               18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz'}
FLOAT_TYPES = ('float32', 'float16', 'bfloat16', 'float64')
INT_TYPES = ('uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'uint32', 'uint64')
INT_RANGE = {'uint8': (0, 255), 'int8': (-128, 127), 'uint16': (0, 65535), 'int16': (-32768, 32767),
             'int32': (-(1 << 31), (1 << 31) - 1), 'int64': (-(1 << 63), (1 << 63) - 1),
             'uint32': (0, (1 << 32) - 1), 'uint64': (0, (1 << 64) - 1), 'bool': (0, 1)}


def dtype_name(code):
    return DTYPES[code][0] if code in DTYPES else DTYPE_NAMES.get(code, 'number %d' % code)


def listing(names, what, limit=6):
    """'node a' / 'nodes a, b, c and 7 more'."""
    shown = ', '.join(names[:limit]) + (' and %d more' % (len(names) - limit) if len(names) > limit else '')
    return '%s%s %s' % (what, '' if len(names) == 1 else 's', shown)


def prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


# ---------------------------------------------------------------- constant tensors

class Const:
    """A tensor known at conversion time: dtype name, shape tuple, flat row-major data
    (array('f') for float32/float16/bfloat16, array('d') for float64, a list of ints
    otherwise, bool as 0/1)."""
    __slots__ = ('dtype', 'shape', 'data')

    def __init__(self, dtype, shape, data):
        self.dtype, self.shape, self.data = dtype, tuple(shape), data

    def numel(self):
        return prod(self.shape)

    def is_float(self):
        return self.dtype in FLOAT_TYPES

    def scalar(self):
        if self.numel() != 1:
            raise Unsupported('a scalar expected, got shape %s' % fmt_shape(self.shape))
        return self.data[0]

    def ints(self):
        if self.is_float():
            raise Unsupported('integers expected, got %s' % self.dtype)
        return [int(v) for v in self.data]


def engine_shape(shape):
    """The engine's shape of a runtime tensor of ONNX shape `shape`: (N, F) and (N, C, H, W)
    as they are, ranks 1 and 3 padded with trailing 1s to 4 dimensions (the engine's input
    is (N, C, H, W): an (N, C, L) input runs as (N, C, L, 1))."""
    r = len(shape)
    return tuple(shape) if r in (2, 4) else tuple(shape) + (1,) * (4 - r)


def fmt_shape(s):
    return '(%s)' % ','.join(str(d) for d in s)


def make_float(shape, values, dtype='float32'):
    """A float constant from Python numbers, rounded to float32 (or kept as float64)."""
    if dtype == 'float64':
        return Const(dtype, shape, array.array('d', values))
    a = array.array('f')
    for v in values:
        try:
            a.append(v)
        except OverflowError:       # beyond float32: an infinity, as float32 arithmetic gives
            a.append(math.copysign(math.inf, v))
    return Const(dtype, shape, a)


def f16_to_f32(bits):
    return struct.unpack('<%de' % len(bits), struct.pack('<%dH' % len(bits), *bits))


def bf16_to_f32(bits):
    return struct.unpack('<%df' % len(bits), struct.pack('<%dI' % len(bits), *[(b & 0xFFFF) << 16 for b in bits]))


def decode_raw(raw, dt, n):
    """Flat values of n elements of dtype dt from little-endian bytes."""
    name, size, code = dt
    if name == 'float16':
        return array.array('f', struct.unpack('<%de' % n, raw))
    if name == 'bfloat16':
        raw = bytes(raw)
        out = bytearray(4 * n)
        out[2::4] = raw[0::2]
        out[3::4] = raw[1::2]
        a = array.array('f')
        a.frombytes(bytes(out))
        if sys.byteorder != 'little':
            a.byteswap()
        return a
    a = array.array(code)
    if a.itemsize != size:        # platforms whose C types differ from the sizes above
        return list(struct.unpack('<%d%s' % (n, {'i': 'i', 'I': 'I', 'q': 'q', 'Q': 'Q'}[code]), raw))
    a.frombytes(raw)              # raw may be a view into the mapped file: one copy
    if sys.byteorder != 'little':
        a.byteswap()
    if name in ('float32', 'float64'):
        return a
    return [v for v in a] if name != 'bool' else [1 if v else 0 for v in a]


class TensorReader:
    """Turns TensorProto dicts into Const, reading external data from files inside the
    model's folder only."""

    def __init__(self, model_path):
        self.folder = os.path.dirname(os.path.abspath(model_path))
        self.real_folder = os.path.realpath(self.folder)

    def external(self, tp, name, nbytes):
        info = {}
        for e in tp['external_data']:
            info[e.get('key', '')] = e.get('value', '')
        loc = info.get('location')
        if not loc:
            fail('%s: external data without a location' % name)
        if '\0' in loc:
            fail('%s: external data path %r contains a NUL byte' % (name, loc))
        if os.path.isabs(loc) or loc.startswith(('/', '\\')) or (len(loc) > 1 and loc[1] == ':'):
            fail('%s: external data path %r is absolute; it must name a file in the model\'s folder' % (name, loc))
        parts = loc.replace('\\', '/').split('/')
        if '..' in parts:
            fail('%s: external data path %r leaves the model\'s folder' % (name, loc))
        path = os.path.join(self.folder, *parts)
        real = os.path.realpath(path)
        if os.path.commonpath([real, self.real_folder]) != self.real_folder or real == self.real_folder:
            fail('%s: external data path %r resolves outside the model\'s folder' % (name, loc))
        try:
            off = int(info.get('offset', '0'))
            length = int(info['length']) if 'length' in info else nbytes
        except ValueError:
            fail('%s: external data offset or length is not an integer' % name)
        if off < 0 or length < 0:
            fail('%s: negative external data offset or length' % name)
        if length != nbytes:
            fail('%s: external data length %d, but the shape and type need %d bytes' % (name, length, nbytes))
        try:
            with open(real, 'rb') as f:
                st = os.fstat(f.fileno())
                import stat
                if not stat.S_ISREG(st.st_mode):
                    fail('%s: external data %r is not a regular file' % (name, loc))
                if off > st.st_size or nbytes > st.st_size - off:
                    fail('%s: external data %r holds %d bytes; %d needed from offset %d'
                         % (name, loc, st.st_size, nbytes, off))
                f.seek(off)
                data = f.read(nbytes)
        except OSError as e:
            fail('%s: cannot read external data %r (%s)' % (name, loc, e.strerror or e))
        if len(data) != nbytes:
            fail('%s: external data %r is truncated' % (name, loc))
        return data

    def read(self, tp, what=None):
        name = 'tensor %r' % (what or tp.get('name') or '')
        code = tp.get('data_type', 0)
        if code not in DTYPES:
            raise Unsupported('%s: tensors of type %s are not supported' % (name, dtype_name(code)))
        dt = DTYPES[code]
        dims = list(tp['dims'])
        if len(dims) > MAX_RANK:
            fail('%s: %d dimensions (limit %d)' % (name, len(dims), MAX_RANK))
        for d in dims:
            if d < 0 or d > MAX_DIM:
                fail('%s: dimension %d out of range' % (name, d))
        n = prod(dims)
        if n > MAX_NUMEL:
            fail('%s: %d elements exceed the limit of %d' % (name, n, MAX_NUMEL))
        if 'segment' in tp:
            fail('%s: segmented tensors are not supported' % name)
        nbytes = n * dt[1]
        if tp.get('data_location', 0) == 1:
            vals = decode_raw(self.external(tp, name, nbytes), dt, n)
        elif tp.get('data_location', 0) != 0:
            fail('%s: unknown data location %d' % (name, tp['data_location']))
        elif 'raw_data' in tp:
            raw = tp['raw_data']
            if len(raw) != nbytes:
                fail('%s: raw data of %d bytes, but %s x %s needs %d' % (name, len(raw), fmt_shape(dims), dt[0], nbytes))
            vals = decode_raw(raw, dt, n)
        else:
            field = {'float32': 'float_data', 'float64': 'double_data', 'int64': 'int64_data',
                     'uint32': 'uint64_data', 'uint64': 'uint64_data'}.get(dt[0], 'int32_data')
            src = tp[field]
            others = [k for k in ('float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data', 'string_data')
                      if k != field and len(tp[k])]
            if others:
                fail('%s: %s data stored in %s' % (name, dt[0], others[0]))
            if len(src) != n:
                fail('%s: %d values for shape %s (%d elements)' % (name, len(src), fmt_shape(dims), n))
            if dt[0] == 'float32':
                vals = src if isinstance(src, array.array) else array.array('f', src)
            elif dt[0] == 'float64':
                vals = src if isinstance(src, array.array) else array.array('d', src)
            elif dt[0] == 'float16':
                vals = array.array('f', f16_to_f32([v & 0xFFFF for v in src]))
            elif dt[0] == 'bfloat16':
                vals = array.array('f', bf16_to_f32([v & 0xFFFF for v in src]))
            else:
                lo, hi = INT_RANGE[dt[0]]
                vals = [int(v) for v in src]
                if any(v < lo or v > hi for v in vals):
                    fail('%s: a value outside the range of %s' % (name, dt[0]))
        return Const(dt[0], dims, vals)


# ---------------------------------------------------------------- reading the model

def load_model(path):
    try:
        size = os.path.getsize(path)
    except OSError as e:
        fail('%s: %s' % (path, e.strerror or e))
    if size > MAX_FILE:
        fail('%s: %d bytes; an ONNX protobuf is at most 2 GiB (larger models keep their weights in external data)'
             % (path, size))
    if size == 0:
        fail('%s: empty file' % path)
    try:
        with open(path, 'rb') as f:     # mapped: initializers' raw data are views into it
            try:
                buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                buf = f.read(MAX_FILE + 1)
    except OSError as e:
        fail('%s: %s' % (path, e.strerror or e))
    if not buf:
        fail('%s: empty file' % path)
    try:
        model = pw.decode(buf, MODEL)
    except pw.WireError as e:
        fail('%s: not a valid ONNX protobuf (%s)' % (path, e))
    except RecursionError:
        fail('%s: messages nested too deeply' % path)
    if 'graph' not in model:
        fail('%s: no graph (not an ONNX model)' % path)
    return model


# ---------------------------------------------------------------- the layer graph we build

class Param:
    """A float32 parameter tensor as tools/gcw_convert.py's writer takes it."""

    class _Root:
        def __init__(self, n):
            self.root, self.numel = self, n

    def __init__(self, shape, data):
        self.size = tuple(int(d) for d in shape)
        self.data = data if isinstance(data, array.array) and data.typecode == 'f' else array.array('f', data)
        assert len(self.data) == prod(self.size)
        self.storage = Param._Root(len(self.data))

    def numel(self):
        return len(self.data)

    def f32_bytes(self, name):
        a = self.data
        if sys.byteorder != 'little':
            a = array.array('f', a)
            a.byteswap()
        return memoryview(a).cast('B')


class Layer:
    """One .gcw layer: kind, input layers ('input' for the network input), hyper-parameters,
    parameters by suffix, the ONNX node it comes from (None for the input's flatten) and a
    tag for a helper layer of a node (its name is then the node's plus ':tag')."""
    __slots__ = ('kind', 'name', 'inputs', 'aliases', 'hp', 'params', 'node', 'tag')

    def __init__(self, kind, inputs, hp, params, node, tag):
        self.kind, self.inputs, self.hp, self.params = kind, list(inputs), hp, params
        self.name, self.aliases, self.node, self.tag = None, [], node, tag


class Dyn:
    """A tensor computed at run time: the layer producing it ('input' for the network
    input), its static shape (ONNX's, which is also the engine's) and the ONNX value name
    it was stored under."""
    __slots__ = ('layer', 'shape', 'vname')

    def __init__(self, layer, shape):
        self.layer, self.shape, self.vname = layer, tuple(shape), None


class Pending:
    """A rank-5 view in ShuffleNet's channel shuffle: x.view(N, g, C/g, H, W), then
    (transposed) its transpose(1, 2); only a Transpose / Reshape completing the pattern
    may read it."""
    __slots__ = ('src', 'groups', 'transposed', 'shape')

    def __init__(self, src, groups, transposed, shape):
        self.src, self.groups, self.transposed, self.shape = src, groups, transposed, tuple(shape)


class Bad:
    """The output of a node that was refused (its readers are skipped)."""


HPARAMS = {  # kind: [(key, type)], type 0 integer, 1 float: docs/format.md
    'conv2d': [(k, 0) for k in ('in_channels', 'out_channels', 'kernel_h', 'kernel_w', 'stride_h', 'stride_w',
                                'pad_h', 'pad_w', 'dilation_h', 'dilation_w', 'groups', 'bias')],
    'relu': [],
    'maxpool2d': [(k, 0) for k in ('kernel_h', 'kernel_w', 'stride_h', 'stride_w', 'pad_h', 'pad_w',
                                   'dilation_h', 'dilation_w', 'ceil_mode', 'count_include_pad')],
    'avgpool2d': [(k, 0) for k in ('kernel_h', 'kernel_w', 'stride_h', 'stride_w', 'pad_h', 'pad_w',
                                   'dilation_h', 'dilation_w', 'ceil_mode', 'count_include_pad')],
    'adaptive_avgpool2d': [('out_h', 0), ('out_w', 0)],
    'linear': [('in_features', 0), ('out_features', 0), ('bias', 0)],
    'dropout': [('p', 1)],
    'flatten': [],
    'softmax': [],
    'lrn': [('size', 0), ('alpha', 1), ('beta', 1), ('k', 1)],
    'batchnorm2d': [('num_features', 0), ('eps', 1)],
    'add': [],
    'mul': [],
    'concat': [('axis', 0)],
    'activation': [('op', 0), ('alpha', 1), ('beta', 1)],
    'sub': [],
    'div': [],
    'pad': [('top', 0), ('bottom', 0), ('left', 0), ('right', 0), ('value', 1)],
    'channel_shuffle': [('groups', 0)],
    'identity': [],
    'constant': [('ndim', 0), ('d0', 0), ('d1', 0), ('d2', 0), ('d3', 0)],
}
PARAM_SUFFIXES = {'conv2d': ('weight', 'bias'), 'linear': ('weight', 'bias'),
                  'batchnorm2d': ('weight', 'bias', 'running_mean', 'running_var'), 'constant': ('value',)}
ACT = {'sigmoid': 0, 'silu': 1, 'hardsigmoid': 2, 'hardswish': 3, 'clamp': 4, 'leaky_relu': 5}


# ---------------------------------------------------------------- nodes and attributes

ATTR_FIELD = {1: 'f', 2: 'i', 3: 's', 4: 't', 5: 'g', 6: 'floats', 7: 'ints', 8: 'strings', 9: 'tensors',
              10: 'graphs', 11: 'sparse_tensor', 12: 'sparse_tensors', 13: 'tp', 14: 'type_protos'}
ATTR_KIND = {'f': 'a float', 'i': 'an integer', 's': 'a string', 't': 'a tensor', 'g': 'a graph',
             'floats': 'floats', 'ints': 'integers', 'strings': 'strings', 'tensors': 'tensors', 'graphs': 'graphs',
             'sparse_tensor': 'a sparse tensor', 'sparse_tensors': 'sparse tensors', 'tp': 'a type',
             'type_protos': 'types'}


class Node:
    def __init__(self, nd, index):
        self.op = nd.get('op_type', '')
        self.domain = nd.get('domain', '')
        self.index = index
        self.raw_name = nd.get('name', '')
        self.inputs, self.outputs = list(nd['input']), list(nd['output'])
        for s in [self.op, self.domain, self.raw_name] + self.inputs + self.outputs:
            if len(s) > MAX_NAME:
                fail('node %d: a name of %d bytes (limit %d)' % (index, len(s), MAX_NAME))
        self.attrs = {}
        for a in nd['attribute']:
            name = a.get('name', '')
            if name in self.attrs:
                fail('node %s: attribute %s given twice' % (self.label(), name))
            if 'ref_attr_name' in a:
                fail('node %s: attribute %s refers to a function attribute' % (self.label(), name))
            field = ATTR_FIELD.get(a.get('type', 0))
            if field is None:           # type missing (old writers): the one field present
                present = [v for v in ATTR_FIELD.values() if v in a and (not isinstance(a[v], list) or a[v])]
                field = present[0] if len(present) == 1 else None
            if field is None:
                fail('node %s: attribute %s has no value or an unknown type' % (self.label(), name))
            self.attrs[name] = (field, a.get(field, [] if field.endswith('s') else None))

    def label(self):
        return self.raw_name or '%s#%d' % (self.op, self.index)

    def _get(self, name, field, default):
        if name not in self.attrs:
            return default
        f, v = self.attrs[name]
        if f != field or v is None:
            raise Unsupported('attribute %s must be %s' % (name, ATTR_KIND[field]))
        return v

    def i(self, name, default=None):
        return self._get(name, 'i', default)

    def f(self, name, default=None):
        v = self._get(name, 'f', default)
        return v

    def ints(self, name, default=None):
        v = self._get(name, 'ints', default)
        return None if v is None else [int(x) for x in v]

    def floats(self, name, default=None):
        v = self._get(name, 'floats', default)
        return None if v is None else [float(x) for x in v]

    def s(self, name, default=None):
        v = self._get(name, 's', None)
        if v is None:
            return default
        try:
            return bytes(v).decode('utf-8')
        except UnicodeDecodeError:
            raise Unsupported('attribute %s is not UTF-8' % name)

    def t(self, name):
        return self._get(name, 't', None)


# Attributes each operator may carry (any other is a problem); those we read are checked
# for the values we implement by the handlers.
ALLOWED_ATTRS = {
    'Conv': {'auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'},
    'Relu': set(), 'Sigmoid': set(), 'Identity': set(),
    'LeakyRelu': {'alpha'}, 'HardSigmoid': {'alpha', 'beta'}, 'HardSwish': set(),
    'Clip': {'min', 'max'},
    'Add': {'broadcast', 'axis'}, 'Sub': {'broadcast', 'axis'}, 'Mul': {'broadcast', 'axis'},
    'Div': {'broadcast', 'axis'},
    'Concat': {'axis'},
    'MaxPool': {'auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'storage_order', 'strides'},
    'AveragePool': {'auto_pad', 'ceil_mode', 'count_include_pad', 'kernel_shape', 'pads', 'strides'},
    'GlobalAveragePool': set(),
    'ReduceMean': {'axes', 'keepdims', 'noop_with_empty_axes'},
    'Flatten': {'axis'}, 'Reshape': {'allowzero', 'shape'}, 'Transpose': {'perm'},
    'Gemm': {'alpha', 'beta', 'transA', 'transB', 'broadcast'}, 'MatMul': set(),
    'BatchNormalization': {'epsilon', 'momentum', 'spatial', 'is_test', 'training_mode'},
    'Dropout': {'ratio', 'seed', 'is_test'},
    'LRN': {'alpha', 'beta', 'bias', 'size'},
    'Softmax': {'axis'},
    'Pad': {'mode', 'pads', 'value'},
    'Constant': {'value', 'value_float', 'value_floats', 'value_int', 'value_ints', 'sparse_value', 'value_string',
                 'value_strings'},
    'Shape': {'start', 'end'}, 'Size': set(), 'Gather': {'axis'}, 'Unsqueeze': {'axes'}, 'Squeeze': {'axes'},
    'Cast': {'to', 'saturate'}, 'Slice': {'starts', 'ends', 'axes'}, 'Split': {'axis', 'split', 'num_outputs'},
    'ConstantOfShape': {'value'}, 'Range': set(), 'Expand': set(), 'Equal': set(), 'Less': set(),
    'Greater': set(), 'Where': set(), 'Not': set(), 'Neg': set(), 'Floor': set(), 'Ceil': set(), 'Sqrt': set(),
    'Abs': set(), 'Min': set(), 'Max': set(),
}
# Operators only ever evaluated at conversion time: every data input must be constant
# (Shape, Size: only the shape is read).
FOLD_ONLY = {'Constant', 'Shape', 'Size', 'Gather', 'Cast', 'ConstantOfShape', 'Range', 'Expand',
             'Equal', 'Less', 'Greater', 'Where', 'Not', 'Neg', 'Floor', 'Ceil', 'Sqrt', 'Abs', 'Min', 'Max'}
SUPPORTED_OPS = sorted(ALLOWED_ATTRS)


# ---------------------------------------------------------------- constant folding

def strides_of(shape):
    st, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        st[i] = acc
        acc *= shape[i]
    return st


def bcast_shape(*shapes):
    r = max(len(s) for s in shapes)
    out = [1] * r
    for s in shapes:
        s = (1,) * (r - len(s)) + tuple(s)
        for i, d in enumerate(s):
            if out[i] == 1:
                out[i] = d
            elif d != 1 and d != out[i]:
                raise Unsupported('shapes %s do not broadcast' % ' and '.join(fmt_shape(x) for x in shapes))
    return tuple(out)


def check_fold_size(n, what='a folded constant'):
    if n > MAX_FOLD:
        fail('%s of %d elements exceeds the limit of %d computed at conversion time' % (what, n, MAX_FOLD))


def gather_index(c, shape):
    """The flat index into c's data of every element of c broadcast to shape."""
    n = prod(shape)
    check_fold_size(n)
    cs = (1,) * (len(shape) - len(c.shape)) + tuple(c.shape)
    st = strides_of(cs)
    st = [0 if cs[i] == 1 else st[i] for i in range(len(shape))]
    idx = [0]
    for d, s in zip(shape, st):
        idx = [b + j * s for b in idx for j in range(d)]
    return idx


def expand_data(c, shape):
    if tuple(c.shape) == tuple(shape):
        return list(c.data)
    if c.numel() == 1:
        return [c.data[0]] * prod(shape)
    return [c.data[i] for i in gather_index(c, shape)]


def fdiv(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def int_div(a, b):
    if b == 0:
        raise Unsupported('integer division by zero in a constant expression')
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


BINARY = {
    'Add': (lambda a, b: a + b, lambda a, b: a + b),
    'Sub': (lambda a, b: a - b, lambda a, b: a - b),
    'Mul': (lambda a, b: a * b, lambda a, b: a * b),
    'Div': (fdiv, int_div),
    'Min': (min, min), 'Max': (max, max),
}
COMPARE = {'Equal': lambda a, b: a == b, 'Less': lambda a, b: a < b, 'Greater': lambda a, b: a > b}


def result(dtype, shape, values):
    if dtype in FLOAT_TYPES:
        return make_float(shape, values, 'float64' if dtype == 'float64' else dtype)
    lo, hi = INT_RANGE.get(dtype, (None, None))
    vals = [int(v) for v in values]
    if lo is not None and any(v < lo or v > hi for v in vals):
        raise Unsupported('a constant expression overflows %s' % dtype)
    return Const(dtype, shape, vals)


def fold_binary(op, a, b):
    if a.dtype != b.dtype:
        raise Unsupported('operands of types %s and %s' % (a.dtype, b.dtype))
    shape = bcast_shape(a.shape, b.shape)
    check_fold_size(prod(shape))
    fn = BINARY[op][0 if a.is_float() else 1]
    if a.shape == b.shape:
        vals = [fn(x, y) for x, y in zip(a.data, b.data)]
    elif b.numel() == 1 and len(b.shape) <= len(a.shape):
        y = b.data[0]
        vals = [fn(x, y) for x in a.data]
    elif a.numel() == 1 and len(a.shape) <= len(b.shape):
        x = a.data[0]
        vals = [fn(x, y) for y in b.data]
    else:
        vals = [fn(x, y) for x, y in zip(expand_data(a, shape), expand_data(b, shape))]
    return result(a.dtype, shape, vals)


def transpose_const(c, perm):
    if len(c.shape) == 2 and list(perm) == [1, 0] and isinstance(c.data, array.array):
        rows, cols = c.shape            # the common case (MatMul's and Gemm's B): column slices, in C
        out = array.array(c.data.typecode)
        for j in range(cols):
            out.extend(c.data[j::cols])
        return Const(c.dtype, (cols, rows), out)
    shape = tuple(c.shape[p] for p in perm)
    st = strides_of(c.shape)
    idx = [0]
    for p in perm:
        s, d = st[p], c.shape[p]
        idx = [b + j * s for b in idx for j in range(d)]
    data = c.data
    vals = [data[i] for i in idx]
    if isinstance(data, array.array):
        vals = array.array(data.typecode, vals)
    return Const(c.dtype, shape, vals)


def norm_axis(axis, rank, what='axis'):
    if not -rank <= axis < rank:
        raise Unsupported('%s %d out of range for rank %d' % (what, axis, rank))
    return axis + rank if axis < 0 else axis


def reshape_target(in_shape, target, allowzero):
    out, neg = [], None
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise Unsupported('reshape: a 0 at dimension %d of a rank-%d input' % (i, len(in_shape)))
            out.append(in_shape[i])
        elif d == -1:
            if neg is not None:
                raise Unsupported('reshape: more than one -1 in the target shape')
            neg = i
            out.append(1)
        elif d < 0:
            raise Unsupported('reshape: negative dimension %d' % d)
        else:
            out.append(d)
    n = prod(in_shape)
    if neg is not None:
        rest = prod(out)
        if rest == 0 or n % rest:
            raise Unsupported('reshape of %s to %s' % (fmt_shape(in_shape), fmt_shape(target)))
        out[neg] = n // rest
    if prod(out) != n:
        raise Unsupported('reshape of %s (%d elements) to %s' % (fmt_shape(in_shape), n, fmt_shape(target)))
    return tuple(out)


def slice_ranges(shape, starts, ends, axes, steps):
    """Per dimension (start, stop, step) as Python's range after ONNX's clamping rules."""
    rng = [(0, d, 1) for d in shape]
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise Unsupported('slice: starts, ends, axes and steps differ in length')
    seen = set()
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = norm_axis(a, len(shape))
        if a in seen:
            raise Unsupported('slice: axis %d given twice' % a)
        seen.add(a)
        d = shape[a]
        if st == 0:
            raise Unsupported('slice: step 0')
        if s < 0:
            s += d
        if e < 0:
            e += d
        if st > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
        else:
            s, e = min(max(s, -1), d - 1), min(max(e, -1), d - 1)
        rng[a] = (s, e, st)
    return rng


def slice_const(c, rng):
    shape = tuple(len(range(*r)) for r in rng)
    st = strides_of(c.shape)
    idx = [0]
    for (s, e, step), k in zip(rng, st):
        idx = [b + j * k for b in idx for j in range(s, e, step)]
    vals = [c.data[i] for i in idx]
    if isinstance(c.data, array.array):
        vals = array.array(c.data.typecode, vals)
    return Const(c.dtype, shape, vals)


def cast_const(c, to):
    if to not in DTYPES:
        raise Unsupported('Cast to %s' % dtype_name(to))
    name = DTYPES[to][0]
    if name in FLOAT_TYPES:
        vals = [float(v) for v in c.data]
        if name == 'float16':
            vals = [struct.unpack('<e', struct.pack('<e', v))[0] if abs(v) <= 65504 or v != v else
                    math.copysign(math.inf, v) for v in vals]
        elif name == 'bfloat16':
            raise Unsupported('Cast to bfloat16')
        return make_float(c.shape, vals, name)
    vals = []
    for v in c.data:
        if isinstance(v, float):
            if v != v or v in (math.inf, -math.inf):
                raise Unsupported('Cast of a non-finite value to %s' % name)
            v = int(v)      # truncation toward zero
        vals.append(1 if (name == 'bool' and v) else 0 if name == 'bool' else int(v))
    lo, hi = INT_RANGE[name]
    if any(v < lo or v > hi for v in vals):
        raise Unsupported('Cast: a value outside the range of %s' % name)
    return Const(name, c.shape, vals)


# ---------------------------------------------------------------- the importer

def window_pads(n, in_hw, k_eff, strides):
    """(begin, end) per spatial dimension from pads / auto_pad."""
    sd = len(in_hw)
    auto = n.s('auto_pad', 'NOTSET')
    pads = n.ints('pads')
    if auto == 'NOTSET':
        pads = pads if pads is not None else [0] * (2 * sd)
        if len(pads) != 2 * sd:
            raise Unsupported('pads %s: %d values expected for a %d-D window' % (pads, 2 * sd, sd))
        if any(p < 0 for p in pads):
            raise Unsupported('negative pads %s' % pads)
        return [(pads[i], pads[i + sd]) for i in range(sd)]
    if auto == 'VALID':
        return [(0, 0)] * sd
    if auto not in ('SAME_UPPER', 'SAME_LOWER'):
        raise Unsupported('auto_pad %s' % auto)
    out = []
    for i in range(sd):
        o = -(-in_hw[i] // strides[i])
        total = max((o - 1) * strides[i] + k_eff[i] - in_hw[i], 0)
        small = total // 2
        out.append((small, total - small) if auto == 'SAME_UPPER' else (total - small, small))
    return out


def out_size(n, k_eff, s, p0, p1, ceil_mode):
    num = n + p0 + p1 - k_eff
    if num < 0:
        return 0
    return (-(-num // s) if ceil_mode else num // s) + 1


def engine_pool_size(n, k, s, p, d, ceil_mode):
    """gc_pool_out_size (PyTorch's rule: with ceil_mode the last window starts inside the
    input or its left padding)."""
    num = n + 2 * p + (s - 1 if ceil_mode else 0) - (d * (k - 1) + 1)
    o = (num // s if num >= 0 else -((-num - 1) // s + 1)) + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def f32_array(c, what):
    if not isinstance(c, Const) or not c.is_float():
        raise Unsupported('%s must be a floating-point constant' % what)
    return c.data if c.dtype != 'float64' else array.array('f', make_float(c.shape, c.data).data)


class Importer:
    def __init__(self, path, input_hw=None):
        self.path = path
        self.model = load_model(path)
        self.graph = self.model['graph']
        self.reader = TensorReader(path)
        self.layers = []
        self.values = {}
        self.const_layers = {}
        self.opset = None
        for o in self.model['opset_import']:
            if o.get('domain', '') in ('', 'ai.onnx'):
                self.opset = o.get('version')
        if self.opset is None:
            fail('%s: no operator set of the default domain is imported' % path)
        if not OPSET_MIN <= self.opset <= OPSET_MAX:
            fail('%s: operator set %d; versions %d to %d are supported' % (path, self.opset, OPSET_MIN, OPSET_MAX))
        self.input_hw = input_hw

    # ------------------------------------------------------------ values

    def lookup(self, name, n):
        v = self.values.get(name)
        if v is not None:
            return v
        tp = self.inits.get(name)
        if tp is None:
            fail('node %s reads %r, which no earlier node, graph input or initializer defines (the graph must be '
                 'topologically sorted)' % (n.label(), name))
        try:
            v = self.reader.read(tp, name)
        except Unsupported as e:        # an initializer of a type we do not read
            fail(str(e))
        self.values[name] = v
        return v

    def emit(self, kind, inputs, hp, n, shape, params=None, tag=None):
        layer = Layer(kind, [x.layer for x in inputs], hp, params or {}, n, tag)
        self.layers.append(layer)
        return Dyn(layer, shape)

    def alias(self, x, n, shape=None):
        """The node's output is the same tensor as x (Identity, Dropout, a no-op), of ONNX
        shape `shape` (default x's; another one only where the engine holds both alike)."""
        if x.layer != 'input':
            x.layer.aliases.append(n)
        return Dyn(x.layer, x.shape if shape is None else shape)

    # ------------------------------------------------------------ the walk

    def run(self):
        g = self.graph
        if len(g['node']) > MAX_NODES:
            fail('%s: %d nodes (limit %d)' % (self.path, len(g['node']), MAX_NODES))
        if g['sparse_initializer']:
            fail('%s: sparse initializers are not supported' % self.path)
        self.inits = {}
        for tp in g['initializer']:
            name = tp.get('name', '')
            if not name:
                fail('%s: an initializer without a name' % self.path)
            if name in self.inits:
                fail('%s: initializer %r defined twice' % (self.path, name))
            self.inits[name] = tp
        nodes = [Node(nd, i) for i, nd in enumerate(g['node'])]
        bad = {}
        for n in nodes:
            key = n.op or '(no op_type)'
            if n.domain not in ('', 'ai.onnx'):
                key = '%s:%s' % (n.domain, key)
            if n.domain not in ('', 'ai.onnx') or n.op not in ALLOWED_ATTRS:
                bad.setdefault(key, []).append(n.label())
        if bad:
            fail('unsupported operators: %s; nothing was written (docs/onnx.md lists what is supported)'
                 % '; '.join('%s (%s)' % (op, listing(v, 'node')) for op, v in sorted(bad.items())))
        self.uses = {}
        for n in nodes:
            for name in n.inputs:
                if name:
                    self.uses[name] = self.uses.get(name, 0) + 1
        outputs = [vi.get('name', '') for vi in g['output']]
        for name in outputs:
            self.uses[name] = self.uses.get(name, 0) + 1
        self.setup_input()
        problems = []
        for n in nodes:
            ins = [None if not name else self.lookup(name, n) for name in n.inputs]
            if any(isinstance(v, Bad) for v in ins):
                outs = [Bad()] * len(n.outputs)
            else:
                try:
                    outs = self.handle(n, ins)
                except Unsupported as e:
                    problems.append('%s %s: %s' % (n.op, n.label(), e))
                    outs = [Bad()] * len(n.outputs)
            for k, name in enumerate(n.outputs):
                if not name:
                    continue
                if name in self.values or name in self.inits:
                    fail('%s: value %r is defined twice (node %s)' % (self.path, name, n.label()))
                v = outs[k] if k < len(outs) else None
                if isinstance(v, Dyn):
                    v = Dyn(v.layer, v.shape)
                    v.vname = name
                if v is None:
                    if self.uses.get(name):
                        problems.append('%s %s: output %d (%s) is used, but only inference outputs are supported'
                                        % (n.op, n.label(), k, name))
                    v = Bad()
                self.values[name] = v
        if problems:
            more = ' and %d more' % (len(problems) - 12) if len(problems) > 12 else ''
            fail('%s%s; nothing was written (docs/onnx.md lists what is supported)' % ('; '.join(problems[:12]), more))
        if len(outputs) != 1:
            fail('%s: the graph has %d outputs; exactly one is supported' % (self.path, len(outputs)))
        return self.finish(outputs[0])

    def setup_input(self):
        g = self.graph
        ins = [vi for vi in g['input'] if vi.get('name', '') not in self.inits]
        if len(ins) != 1:
            fail('%s: the graph has %d inputs besides its initializers (%s); exactly one is supported'
                 % (self.path, len(ins), ', '.join(repr(vi.get('name', '')) for vi in ins[:8])))
        vi = ins[0]
        name = vi.get('name', '')
        tt = vi.get('type', {}).get('tensor_type')
        if tt is None:
            fail('%s: input %r is not a tensor' % (self.path, name))
        if tt.get('elem_type', 0) != 1:
            fail('%s: input %r is of type %s; float32 is supported' % (self.path, name,
                                                                       dtype_name(tt.get('elem_type', 0))))
        dims = (tt.get('shape') or {}).get('dim')
        if dims is None:
            fail('%s: input %r has no shape' % (self.path, name))
        shape = []
        for i, d in enumerate(dims):
            v = d.get('dim_value')
            if v is None or v < 1:
                if i == 0:
                    v = 1           # the batch: the engine takes any
                elif len(dims) == 4 and i >= 2 and self.input_hw:
                    v = self.input_hw[i - 2]
                else:
                    fail('%s: input %r has no size in dimension %d (%s)' % (self.path, name, i,
                                                                         d.get('dim_param', 'unknown')))
            if v > 1 << 31:
                fail('%s: input %r declares dimension %d of %d' % (self.path, name, i, v))
            shape.append(v)
        if not 1 <= len(shape) <= 4:
            fail('%s: input %r has shape %s; inputs of 1 to 4 dimensions are supported'
                 % (self.path, name, fmt_shape(shape)))
        if prod(shape) > MAX_NUMEL:
            fail('%s: input %r of shape %s is too large' % (self.path, name, fmt_shape(shape)))
        self.input_name, self.input_shape = name, tuple(shape)
        x = Dyn('input', shape)
        if len(shape) == 2:     # the engine's input is (N, F, 1, 1): flatten it
            x = self.emit('flatten', [Dyn('input', shape + [1, 1])], {}, None, shape, tag='flatten')
        self.values[name] = x

    def handle(self, n, ins):
        allowed = ALLOWED_ATTRS[n.op]
        extra = sorted(a for a in n.attrs if a not in allowed)
        if extra:
            raise Unsupported('attribute%s %s not supported' % ('s' if len(extra) > 1 else '', ', '.join(extra)))
        present = [v for v in ins if v is not None]
        if n.op in FOLD_ONLY or (present and all(isinstance(v, Const) for v in present) and n.op in FOLDABLE):
            if n.op not in ('Shape', 'Size'):
                for v in present:
                    if not isinstance(v, Const):
                        raise Unsupported('input of %s computed at run time; only constant inputs are folded '
                                          '(the engine has no such layer)' % ('shape ' + fmt_shape(v.shape)
                                                                             if hasattr(v, 'shape') else 'unknown shape'))
            out = getattr(self, 'fold_' + n.op)(n, ins)
            return out if isinstance(out, list) else [out]
        if present and all(isinstance(v, Const) for v in present):
            raise Unsupported('every input is constant (nothing to run)')
        for v in present:
            if isinstance(v, Pending) and n.op not in ('Transpose', 'Reshape', 'Shape'):
                raise Unsupported('reads a rank-5 reshape, which only the channel-shuffle pattern '
                                  '(Reshape, Transpose(0,2,1,3,4), Reshape) may read')
        out = getattr(self, 'op_' + n.op)(n, ins)
        return out if isinstance(out, list) else [out]

    # ------------------------------------------------------------ folding (constant inputs)

    def fold_Identity(self, n, ins):
        return ins[0]

    def fold_Constant(self, n, ins):
        keys = list(n.attrs)
        if len(keys) != 1:
            raise Unsupported('a Constant needs exactly one value attribute, has %d' % len(keys))
        k = keys[0]
        if k == 'value':
            return self.reader.read(n.t('value'), n.label())
        if k == 'value_float':
            return make_float((), [n.f(k)])
        if k == 'value_floats':
            v = n.floats(k)
            return make_float((len(v),), v)
        if k == 'value_int':
            return Const('int64', (), [n.i(k)])
        if k == 'value_ints':
            v = n.ints(k)
            return Const('int64', (len(v),), v)
        raise Unsupported('Constant with %s' % k)

    def fold_Shape(self, n, ins):
        x = ins[0]
        if isinstance(x, Bad) or not hasattr(x, 'shape'):
            raise Unsupported('shape unknown')
        shape = list(x.shape)
        r = len(shape)
        start, end = n.i('start', 0), n.i('end', r)
        start = min(max(start + r if start < 0 else start, 0), r)
        end = min(max(end + r if end < 0 else end, 0), r)
        dims = shape[start:end]
        return Const('int64', (len(dims),), dims)

    def fold_Size(self, n, ins):
        return Const('int64', (), [prod(ins[0].shape)])

    def fold_Gather(self, n, ins):
        data, idx = ins[0], ins[1]
        axis = norm_axis(n.i('axis', 0), len(data.shape))
        d = data.shape[axis]
        ind = []
        for i in idx.ints():
            if not -d <= i < d:
                raise Unsupported('gather index %d out of range for size %d' % (i, d))
            ind.append(i + d if i < 0 else i)
        outer, inner = prod(data.shape[:axis]), prod(data.shape[axis + 1:])
        shape = data.shape[:axis] + tuple(idx.shape) + data.shape[axis + 1:]
        check_fold_size(prod(shape))
        vals = []
        for o in range(outer):
            for i in ind:
                base = (o * d + i) * inner
                vals.extend(data.data[base:base + inner])
        return Const(data.dtype, shape, array.array(data.data.typecode, vals)
                     if isinstance(data.data, array.array) else vals)

    def axes_of(self, n, ins, k, attr='axes'):
        """Axes from attribute `axes` (older opsets) or input k (newer)."""
        if len(ins) > k and ins[k] is not None:
            if not isinstance(ins[k], Const):
                raise Unsupported('axes must be constant')
            return ins[k].ints()
        return n.ints(attr)

    def fold_Unsqueeze(self, n, ins):
        x = ins[0]
        axes = self.axes_of(n, ins, 1)
        if axes is None:
            raise Unsupported('Unsqueeze without axes')
        r = len(x.shape) + len(axes)
        axes = sorted(norm_axis(a, r) for a in axes)
        if len(set(axes)) != len(axes):
            raise Unsupported('Unsqueeze axes repeat')
        shape, it = [], iter(x.shape)
        for i in range(r):
            shape.append(1 if i in axes else next(it))
        return Const(x.dtype, shape, x.data)

    def squeezed_shape(self, n, ins, shape):
        axes = self.axes_of(n, ins, 1)
        if axes is None:
            return [d for d in shape if d != 1]
        axes = {norm_axis(a, len(shape)) for a in axes}
        for a in axes:
            if shape[a] != 1:
                raise Unsupported('Squeeze of axis %d of size %d' % (a, shape[a]))
        return [d for i, d in enumerate(shape) if i not in axes]

    def fold_Squeeze(self, n, ins):
        x = ins[0]
        return Const(x.dtype, self.squeezed_shape(n, ins, list(x.shape)), x.data)

    def fold_Concat(self, n, ins):
        xs = [v for v in ins if v is not None]
        if not xs:
            raise Unsupported('Concat of nothing')
        r = len(xs[0].shape)
        axis = norm_axis(n.i('axis', 1) if self.opset < 4 else self._required(n, 'axis'), r)
        for x in xs:
            if x.dtype != xs[0].dtype or len(x.shape) != r or \
                    any(x.shape[i] != xs[0].shape[i] for i in range(r) if i != axis):
                raise Unsupported('Concat of %s' % ', '.join(fmt_shape(v.shape) for v in xs))
        outer = prod(xs[0].shape[:axis])
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        check_fold_size(prod(shape))
        vals = []
        for o in range(outer):
            for x in xs:
                blk = prod(x.shape[axis:])
                vals.extend(x.data[o * blk:(o + 1) * blk])
        return result(xs[0].dtype, shape, vals) if xs[0].is_float() else Const(xs[0].dtype, shape, vals)

    def _required(self, n, name):
        if name not in n.attrs:
            raise Unsupported('attribute %s is required' % name)
        return n.i(name)

    def fold_Cast(self, n, ins):
        return cast_const(ins[0], self._required(n, 'to'))

    def slice_args(self, n, ins):
        if self.opset < 10:
            starts, ends, axes, steps = n.ints('starts'), n.ints('ends'), n.ints('axes'), None
            if starts is None or ends is None:
                raise Unsupported('Slice without starts or ends')
        else:
            def get(k):
                if len(ins) > k and ins[k] is not None:
                    if not isinstance(ins[k], Const):
                        raise Unsupported('Slice input %d must be constant' % k)
                    return ins[k].ints()
                return None
            starts, ends, axes, steps = get(1), get(2), get(3), get(4)
            if starts is None or ends is None:
                raise Unsupported('Slice without starts or ends')
        return slice_ranges(ins[0].shape, starts, ends, axes, steps)

    def fold_Slice(self, n, ins):
        return slice_const(ins[0], self.slice_args(n, ins))

    def reshape_to(self, n, ins):
        """The output shape of a Reshape: target from input 1 (opset 5 on) or attribute shape."""
        if self.opset < 5:
            target = n.ints('shape')
            if target is None:
                raise Unsupported('Reshape without a shape')
        else:
            if 'shape' in n.attrs:
                raise Unsupported('attribute shape belongs to operator sets before 5')
            if len(ins) < 2 or not isinstance(ins[1], Const):
                raise Unsupported('the target shape must be constant')
            target = ins[1].ints()
        return reshape_target(ins[0].shape, target, n.i('allowzero', 0))

    def fold_Reshape(self, n, ins):
        x = ins[0]
        shape = self.reshape_to(n, ins)
        return Const(x.dtype, shape, x.data)

    def perm_of(self, n, r):
        perm = n.ints('perm', list(range(r - 1, -1, -1)))
        if sorted(perm) != list(range(r)):
            raise Unsupported('perm %s is not a permutation of %d axes' % (perm, r))
        return perm

    def fold_Transpose(self, n, ins):
        x = ins[0]
        check_fold_size(x.numel())
        return transpose_const(x, self.perm_of(n, len(x.shape)))

    def fold_Flatten(self, n, ins):
        x = ins[0]
        r = len(x.shape)
        axis = n.i('axis', 1)
        if not -r <= axis <= r:
            raise Unsupported('axis %d out of range' % axis)
        axis = axis + r if axis < 0 else axis
        return Const(x.dtype, (prod(x.shape[:axis]), prod(x.shape[axis:])), x.data)

    def fold_ConstantOfShape(self, n, ins):
        shape = ins[0].ints()
        if any(d < 0 for d in shape):
            raise Unsupported('negative dimension in %s' % shape)
        check_fold_size(prod(shape), 'ConstantOfShape')
        t = n.t('value')
        v = self.reader.read(t, n.label()) if t is not None else make_float((1,), [0.0])
        if v.numel() != 1:
            raise Unsupported('ConstantOfShape value of %d elements' % v.numel())
        return result(v.dtype, shape, [v.data[0]] * prod(shape)) if v.is_float() else \
            Const(v.dtype, shape, [v.data[0]] * prod(shape))

    def fold_Range(self, n, ins):
        a, b, d = (v.scalar() for v in ins[:3])
        if d == 0:
            raise Unsupported('Range with delta 0')
        count = max(int(math.ceil((b - a) / d)), 0)
        check_fold_size(count, 'Range')
        vals = [a + i * d for i in range(count)]
        return result(ins[0].dtype, (count,), vals) if ins[0].is_float() else Const(ins[0].dtype, (count,), vals)

    def fold_Expand(self, n, ins):
        x, shape = ins[0], ins[1].ints()
        out = bcast_shape(x.shape, tuple(shape))
        check_fold_size(prod(out), 'Expand')
        vals = expand_data(x, out)
        return Const(x.dtype, out, array.array(x.data.typecode, vals) if isinstance(x.data, array.array) else vals)

    def _compare(self, n, ins):
        a, b = ins[0], ins[1]
        if a.dtype != b.dtype:
            raise Unsupported('operands of types %s and %s' % (a.dtype, b.dtype))
        shape = bcast_shape(a.shape, b.shape)
        fn = COMPARE[n.op]
        return Const('bool', shape, [1 if fn(x, y) else 0 for x, y in zip(expand_data(a, shape), expand_data(b, shape))])

    fold_Equal = fold_Less = fold_Greater = _compare

    def fold_Where(self, n, ins):
        c, a, b = ins
        if a.dtype != b.dtype or c.dtype != 'bool':
            raise Unsupported('Where of %s and %s on %s' % (a.dtype, b.dtype, c.dtype))
        shape = bcast_shape(c.shape, a.shape, b.shape)
        vals = [x if k else y for k, x, y in zip(expand_data(c, shape), expand_data(a, shape), expand_data(b, shape))]
        return result(a.dtype, shape, vals) if a.is_float() else Const(a.dtype, shape, vals)

    def _unary(self, n, ins):
        x = ins[0]
        fns = {'Neg': lambda v: -v, 'Abs': abs, 'Not': lambda v: 0 if v else 1,
               'Floor': math.floor, 'Ceil': math.ceil,
               'Sqrt': lambda v: math.sqrt(v) if v >= 0 else math.nan}
        if n.op == 'Not' and x.dtype != 'bool':
            raise Unsupported('Not of %s' % x.dtype)
        if n.op in ('Floor', 'Ceil', 'Sqrt') and not x.is_float():
            raise Unsupported('%s of %s' % (n.op, x.dtype))
        fn = fns[n.op]
        vals = []
        for v in x.data:
            if n.op in ('Floor', 'Ceil') and (v != v or v in (math.inf, -math.inf)):
                vals.append(v)
            else:
                vals.append(fn(v))
        return result(x.dtype, x.shape, vals) if x.dtype != 'bool' else Const('bool', x.shape, vals)

    fold_Neg = fold_Abs = fold_Not = fold_Floor = fold_Ceil = fold_Sqrt = _unary

    def _minmax(self, n, ins):
        xs = [v for v in ins if v is not None]
        acc = xs[0]
        for x in xs[1:]:
            acc = fold_binary(n.op, acc, x)
        return acc

    fold_Min = fold_Max = _minmax

    def _fold_binary(self, n, ins):
        a, b = self.legacy_broadcast(n, ins[0], ins[1])
        return fold_binary(n.op, a, b)

    fold_Add = fold_Sub = fold_Mul = fold_Div = _fold_binary

    def split_sizes(self, n, ins, shape):
        axis = norm_axis(n.i('axis', 0), len(shape))
        d = shape[axis]
        split = None
        if self.opset >= 13 and len(ins) > 1 and ins[1] is not None:
            if not isinstance(ins[1], Const):
                raise Unsupported('split sizes must be constant')
            split = ins[1].ints()
        elif self.opset < 13:
            split = n.ints('split')
        k = len(n.outputs)
        if split is None:
            if 'num_outputs' in n.attrs:
                k = n.i('num_outputs')
                if k != len(n.outputs) or k < 1:
                    raise Unsupported('num_outputs %d for %d outputs' % (k, len(n.outputs)))
                c = -(-d // k)
                split = [c] * (k - 1) + [d - c * (k - 1)]
                if split[-1] < 0:
                    raise Unsupported('cannot split %d into %d parts' % (d, k))
            else:
                if d % k:
                    raise Unsupported('cannot split %d into %d equal parts' % (d, k))
                split = [d // k] * k
        if len(split) != len(n.outputs) or sum(split) != d or any(s < 0 for s in split):
            raise Unsupported('split %s of a dimension of %d into %d outputs' % (split, d, len(n.outputs)))
        return axis, split

    def fold_Split(self, n, ins):
        x = ins[0]
        axis, split = self.split_sizes(n, ins, x.shape)
        outs, start = [], 0
        for s in split:
            rng = [(0, d, 1) for d in x.shape]
            rng[axis] = (start, start + s, 1)
            outs.append(slice_const(x, rng))
            start += s
        return outs

    def legacy_broadcast(self, n, a, b):
        """Opset < 7 binary ops: B broadcast onto A from `axis` when broadcast = 1."""
        if self.opset >= 7:
            if 'broadcast' in n.attrs or 'axis' in n.attrs:
                raise Unsupported('attributes broadcast/axis belong to operator sets before 7')
            return a, b
        if not n.i('broadcast', 0):
            if tuple(a.shape) != tuple(b.shape):
                raise Unsupported('shapes %s and %s differ without broadcast' % (fmt_shape(a.shape), fmt_shape(b.shape)))
            return a, b
        if tuple(a.shape) == tuple(b.shape):
            return a, b
        ra, rb = len(a.shape), len(b.shape)
        axis = n.i('axis', ra - rb)
        axis = axis + ra if axis < 0 else axis
        if not 0 <= axis <= ra - rb:
            raise Unsupported('broadcast axis %d of a rank-%d B onto rank %d' % (axis, rb, ra))
        for i in range(rb):
            if b.shape[i] not in (1, a.shape[axis + i]):
                raise Unsupported('B of shape %s does not broadcast onto %s at axis %d'
                                  % (fmt_shape(b.shape), fmt_shape(a.shape), axis))
        shape = tuple(b.shape) + (1,) * (ra - axis - rb)
        if isinstance(b, Const):
            return a, Const(b.dtype, shape, b.data)
        raise Unsupported('legacy broadcast of a tensor computed at run time')

    # ------------------------------------------------------------ layers (inputs computed at run time)

    def dyn(self, v, what='the input'):
        if not isinstance(v, Dyn):
            raise Unsupported('%s must be computed at run time' % what)
        return v

    def channels(self, v, what='the input'):
        """(N, C, H, W) or (N, C, L) (which the engine holds as (N, C, L, 1))."""
        x = self.dyn(v, what)
        if len(x.shape) not in (3, 4):
            raise Unsupported('%s has shape %s; (N, C, H, W) or (N, C, L) expected' % (what, fmt_shape(x.shape)))
        return x

    def op_Identity(self, n, ins):
        x = self.dyn(ins[0])
        return self.alias(x, n)

    def op_Relu(self, n, ins):
        x = self.dyn(ins[0])
        return self.emit('relu', [x], {}, n, x.shape)

    def activation(self, n, x, op, alpha=0.0, beta=0.0):
        return self.emit('activation', [x], {'op': ACT[op], 'alpha': float(alpha), 'beta': float(beta)}, n, x.shape)

    def op_Sigmoid(self, n, ins):
        return self.activation(n, self.dyn(ins[0]), 'sigmoid')

    def op_LeakyRelu(self, n, ins):
        return self.activation(n, self.dyn(ins[0]), 'leaky_relu', n.f('alpha', 0.01))

    def op_HardSigmoid(self, n, ins):
        return self.activation(n, self.dyn(ins[0]), 'hardsigmoid', n.f('alpha', 0.2), n.f('beta', 0.5))

    def op_HardSwish(self, n, ins):
        return self.activation(n, self.dyn(ins[0]), 'hardswish', 1.0 / 6.0, 0.5)

    def op_Clip(self, n, ins):
        x = self.dyn(ins[0])
        if self.opset < 11:
            lo, hi = n.f('min', -FLT_MAX), n.f('max', FLT_MAX)
        else:
            if n.attrs:
                raise Unsupported('min/max attributes belong to operator sets before 11')
            bounds = []
            for k, default in ((1, -math.inf), (2, math.inf)):
                v = ins[k] if len(ins) > k else None
                if v is None:
                    bounds.append(default)
                elif not isinstance(v, Const) or not v.is_float() or v.numel() != 1:
                    raise Unsupported('min and max must be constant float scalars')
                else:
                    bounds.append(v.data[0])
            lo, hi = bounds
        if lo != lo or hi != hi:
            raise Unsupported('NaN bound')
        if lo <= -FLT_MAX and hi >= FLT_MAX:
            return self.alias(x, n)
        if lo == 0 and hi >= FLT_MAX:
            return self.emit('relu', [x], {}, n, x.shape)
        return self.activation(n, x, 'clamp', max(lo, -FLT_MAX), min(hi, FLT_MAX))

    # ------------------------------------------------------------ element-wise binary ops

    def op_Add(self, n, ins):
        return self.binary(n, ins, 'add')

    def op_Sub(self, n, ins):
        return self.binary(n, ins, 'sub')

    def op_Mul(self, n, ins):
        return self.binary(n, ins, 'mul')

    def op_Div(self, n, ins):
        return self.binary(n, ins, 'div')

    def fused_gate(self, x, s):
        """Mul(x, Sigmoid(x)) is SiLU, Mul(x, HardSigmoid(x)) a hardswish with the same
        constants: one activation layer, if nothing else reads the gate."""
        ls = s.layer
        if ls == 'input' or ls.kind != 'activation' or ls.aliases or ls.inputs[0] is not x.layer or \
                self.uses.get(s.vname, 0) != 1 or s.shape != x.shape:
            return None
        if ls.hp['op'] == ACT['sigmoid']:
            ls.hp['op'] = ACT['silu']
        elif ls.hp['op'] == ACT['hardsigmoid']:
            ls.hp['op'] = ACT['hardswish']
        else:
            return None
        return ls

    def binary(self, n, ins, kind):
        a, b = ins[0], ins[1]
        if len(ins) != 2 or a is None or b is None:
            raise Unsupported('two inputs expected')
        if isinstance(a, Dyn) and isinstance(b, Dyn):
            if self.opset < 7:
                self.legacy_broadcast(n, a, b)
            if len(a.shape) != len(b.shape):
                raise Unsupported('operands of ranks %d and %d' % (len(a.shape), len(b.shape)))
            shape = bcast_shape(a.shape, b.shape)
            if kind == 'mul':
                for x, s in ((a, b), (b, a)):
                    ls = self.fused_gate(x, s)
                    if ls is not None:
                        ls.node = n
                        return Dyn(ls, shape)
            return self.emit(kind, [a, b], {}, n, shape)
        a, b = self.legacy_broadcast(n, a, b)
        x, c, const_first = (a, b, False) if isinstance(a, Dyn) else (b, a, True)
        x = self.dyn(x)
        if not c.is_float():
            raise Unsupported('a %s constant operand' % c.dtype)
        shape = bcast_shape(x.shape, c.shape)
        if shape != x.shape:
            raise Unsupported('the constant %s would enlarge the tensor %s' % (fmt_shape(c.shape), fmt_shape(x.shape)))
        vals = set(c.data)
        neutral = {'add': 0.0, 'sub': 0.0, 'mul': 1.0, 'div': 1.0}[kind]
        if vals == {neutral} and not (const_first and kind in ('sub', 'div')):
            return self.alias(x, n)
        if kind == 'add' and isinstance(x.layer, Layer) and x.layer.kind == 'linear' and not x.layer.hp['bias'] \
                and not x.layer.aliases and self.uses.get(x.vname, 0) == 1 and \
                len(c.shape) <= 2 and c.numel() == x.shape[1] and (len(c.shape) < 2 or c.shape[0] == 1):
            x.layer.hp['bias'] = 1                      # MatMul + Add: the linear layer's bias
            x.layer.params['bias'] = Param((x.shape[1],), f32_array(c, 'the bias'))
            x.layer.node = n
            return Dyn(x.layer, x.shape)
        k = self.constant_layer(c, n, len(x.shape))
        return self.emit(kind, [k, x] if const_first else [x, k], {}, n, shape)

    def constant_layer(self, c, n, rank):
        """A constant layer holding c, lined up for broadcasting with a runtime tensor of ONNX
        rank `rank`: left-padded with 1s to that rank, then shaped as the engine holds such
        a tensor (engine_shape)."""
        if len(c.shape) > rank:
            raise Unsupported('a constant of rank %d with a tensor of rank %d' % (len(c.shape), rank))
        shape = engine_shape((1,) * (rank - len(c.shape)) + tuple(c.shape))
        while len(shape) > 1 and shape[0] == 1 and rank in (2, 4):
            shape = shape[1:]
        if len(shape) > 4 or 0 in shape:
            raise Unsupported('a constant of shape %s' % fmt_shape(c.shape))
        key = (id(c), shape)
        if key not in self.const_layers:
            hp = {'ndim': len(shape)}
            for k in range(4):
                hp['d%d' % k] = shape[k] if k < len(shape) else 1
            self.const_layers[key] = (c, self.emit('constant', [], hp, n, c.shape,
                                                    params={'value': Param(shape, f32_array(c, 'a constant'))},
                                                    tag='const%d' % len(self.const_layers)))
        return self.const_layers[key][1]

    # ------------------------------------------------------------ convolution, pooling, padding

    def pad_layer(self, x, n, top, left, bottom, right, value=0.0, tag='pad'):
        shape = (x.shape[0], x.shape[1], x.shape[2] + top + bottom) + \
            ((x.shape[3] + left + right,) if len(x.shape) == 4 else ())
        return self.emit('pad', [x], self.pad_hp(top, left, bottom, right, value), n, shape, tag=tag)

    def pad_hp(self, top, left, bottom, right, value):
        return {'top': top, 'left': left, 'bottom': bottom, 'right': right, 'value': float(value)}

    def window_args(self, n, x, kernel, dil):
        """A 1-D or 2-D window (kernel, dilations as given) as the engine's 2-D one: an
        (N, C, L) tensor is (N, C, L, 1) there, so a 1-D window of k is k x 1. Returns kernel,
        strides, dilations (2 values each), the effective kernel and (top, left, bottom, right)."""
        sd = len(x.shape) - 2
        strides = n.ints('strides', [1] * sd)
        if len(kernel) != sd or len(strides) != sd or len(dil) != sd:
            raise Unsupported('kernel %s, strides %s, dilations %s for a tensor of shape %s: 1-D and 2-D windows '
                              'are supported' % (kernel, strides, dil, fmt_shape(x.shape)))
        if any(k < 1 for k in kernel) or any(s < 1 for s in strides) or any(d < 1 for d in dil):
            raise Unsupported('kernel %s, strides %s, dilations %s' % (kernel, strides, dil))
        k_eff = [(kernel[i] - 1) * dil[i] + 1 for i in range(sd)]
        pads = window_pads(n, x.shape[2:], k_eff, strides)
        if sd == 1:
            kernel, strides, dil, k_eff, pads = kernel + [1], strides + [1], dil + [1], k_eff + [1], pads + [(0, 0)]
        return kernel, strides, dil, k_eff, (pads[0][0], pads[1][0], pads[0][1], pads[1][1])

    def out_shape(self, x, c, oh, ow):
        return (x.shape[0], c, oh) if len(x.shape) == 3 else (x.shape[0], c, oh, ow)

    def op_Conv(self, n, ins):
        x = self.channels(ins[0])
        if len(ins) < 2 or not isinstance(ins[1], Const):
            raise Unsupported('the weights must be constant')
        w = ins[1]
        if len(w.shape) != len(x.shape):
            raise Unsupported('weights of shape %s for an input of shape %s: 1-D and 2-D convolutions are supported'
                              % (fmt_shape(w.shape), fmt_shape(x.shape)))
        m, cg = w.shape[:2]
        c = x.shape[1]
        group = n.i('group', 1)
        if group < 1 or c % group or cg * group != c or m % group or m < 1:
            raise Unsupported('%d groups, weights %s on %d input channels' % (group, fmt_shape(w.shape), c))
        ks = n.ints('kernel_shape', list(w.shape[2:]))
        if ks != list(w.shape[2:]):
            raise Unsupported('kernel_shape %s differs from the weights %s' % (ks, fmt_shape(w.shape)))
        sd = len(x.shape) - 2
        (kh, kw), strides, dil, k_eff, (pt, pl, pb, pr) = self.window_args(n, x, ks, n.ints('dilations', [1] * sd))
        h, wd = x.shape[2], (x.shape[3] if sd == 2 else 1)
        oh = out_size(h, k_eff[0], strides[0], pt, pb, False)
        ow = out_size(wd, k_eff[1], strides[1], pl, pr, False)
        if oh < 1 or ow < 1:
            raise Unsupported('input %s too small for the kernel' % fmt_shape(x.shape))
        bias = ins[2] if len(ins) > 2 else None
        if bias is not None and (not isinstance(bias, Const) or bias.shape != (m,)):
            raise Unsupported('the bias must be a constant of shape (%d)' % m)
        ph, pw = min(pt, pb), min(pl, pr)
        if (pt, pl) != (pb, pr):
            x = self.pad_layer(x, n, pt - ph, pl - pw, pb - ph, pr - pw)
        params = {'weight': Param((m, cg, kh, kw), f32_array(w, 'the weights'))}
        if bias is not None:
            params['bias'] = Param((m,), f32_array(bias, 'the bias'))
        hp = dict(in_channels=c, out_channels=m, kernel_h=kh, kernel_w=kw, stride_h=strides[0], stride_w=strides[1],
                  pad_h=ph, pad_w=pw, dilation_h=dil[0], dilation_w=dil[1], groups=group, bias=int(bias is not None))
        return self.emit('conv2d', [x], hp, n, self.out_shape(x, m, oh, ow), params)

    def pool(self, n, ins, kind):
        x = self.channels(ins[0])
        ks = n.ints('kernel_shape')
        if ks is None:
            raise Unsupported('kernel_shape is required')
        sd = len(x.shape) - 2
        dil = n.ints('dilations', [1] * sd) if kind == 'maxpool2d' else [1] * sd
        ceil = n.i('ceil_mode', 0)
        if ceil not in (0, 1):
            raise Unsupported('ceil_mode %d' % ceil)
        ks, strides, dil, k_eff, (pt, pl, pb, pr) = self.window_args(n, x, ks, dil)
        cip = n.i('count_include_pad', 0) if kind == 'avgpool2d' else 1
        if cip not in (0, 1):
            raise Unsupported('count_include_pad %d' % cip)
        if kind == 'maxpool2d' and n.i('storage_order', 0) != 0:
            raise Unsupported('storage_order 1')
        h, w = x.shape[2], (x.shape[3] if sd == 2 else 1)
        onnx_hw = [out_size(h, k_eff[0], strides[0], pt, pb, ceil), out_size(w, k_eff[1], strides[1], pl, pr, ceil)]
        if min(onnx_hw) < 1:
            raise Unsupported('input %s too small for the window' % fmt_shape(x.shape))
        # the engine pads symmetrically by at most half the kernel: the rest goes into a pad layer
        ph = min(pt, pb, ks[0] // 2)
        pw = min(pl, pr, ks[1] // 2)
        extra = (pt - ph, pl - pw, pb - ph, pr - pw)
        if any(extra):
            if kind == 'avgpool2d' and not cip:
                raise Unsupported('pads %s with count_include_pad 0: the engine pads average pooling '
                                  'symmetrically by at most half the kernel' % ([pt, pl, pb, pr],))
            x = self.pad_layer(x, n, *extra, value=-FLT_MAX if kind == 'maxpool2d' else 0.0)
            h, w = h + extra[0] + extra[2], w + extra[1] + extra[3]
        hw = [engine_pool_size(h, ks[0], strides[0], ph, dil[0], ceil),
              engine_pool_size(w, ks[1], strides[1], pw, dil[1], ceil)]
        if hw != onnx_hw:
            raise Unsupported('with ceil_mode the output would be %dx%d, the engine makes %dx%d (a last window '
                              'starting in the padding)' % (onnx_hw[0], onnx_hw[1], hw[0], hw[1]))
        hp = dict(kernel_h=ks[0], kernel_w=ks[1], stride_h=strides[0], stride_w=strides[1], pad_h=ph, pad_w=pw,
                  dilation_h=dil[0], dilation_w=dil[1], ceil_mode=ceil, count_include_pad=cip)
        return self.emit(kind, [x], hp, n, self.out_shape(x, x.shape[1], hw[0], hw[1]))

    def op_MaxPool(self, n, ins):
        return [self.pool(n, ins, 'maxpool2d'), None]

    def op_AveragePool(self, n, ins):
        return self.pool(n, ins, 'avgpool2d')

    def op_GlobalAveragePool(self, n, ins):
        x = self.channels(ins[0])
        return self.emit('adaptive_avgpool2d', [x], {'out_h': 1, 'out_w': 1}, n, x.shape[:2] + (1,) * (len(x.shape) - 2))

    def op_ReduceMean(self, n, ins):
        x = self.channels(ins[0])
        r = len(x.shape)
        axes = self.axes_of(n, ins, 1)
        if axes is None or sorted(norm_axis(a, r) for a in axes) != list(range(2, r)):
            raise Unsupported('ReduceMean over axes %s of %s; only over the spatial axes (2, 3 of (N, C, H, W), '
                              '2 of (N, C, L))' % (axes, fmt_shape(x.shape)))
        keep = n.i('keepdims', 1)
        pooled = x.shape[:2] + (1,) * (r - 2)
        if keep:
            return self.emit('adaptive_avgpool2d', [x], {'out_h': 1, 'out_w': 1}, n, pooled)
        p = self.emit('adaptive_avgpool2d', [x], {'out_h': 1, 'out_w': 1}, n, pooled, tag='pool')
        return self.emit('flatten', [p], {}, n, x.shape[:2])

    def op_Pad(self, n, ins):
        x = self.dyn(ins[0])
        mode = n.s('mode', 'constant')
        if mode != 'constant':
            raise Unsupported('mode %s; only constant padding is supported' % mode)
        if self.opset < 11:
            pads, value = n.ints('pads'), n.f('value', 0.0)
            if pads is None:
                raise Unsupported('pads are required')
        else:
            if 'pads' in n.attrs or 'value' in n.attrs:
                raise Unsupported('pads/value attributes belong to operator sets before 11')
            if len(ins) < 2 or not isinstance(ins[1], Const):
                raise Unsupported('pads must be constant')
            pads = ins[1].ints()
            value = 0.0
            if len(ins) > 2 and ins[2] is not None:
                if not isinstance(ins[2], Const) or ins[2].numel() != 1 or not ins[2].is_float():
                    raise Unsupported('the constant value must be a constant float scalar')
                value = ins[2].data[0]
            if len(ins) > 3 and ins[3] is not None:
                axes = ins[3].ints() if isinstance(ins[3], Const) else None
                if axes is None:
                    raise Unsupported('axes must be constant')
                full = [0] * (2 * len(x.shape))
                axes = [norm_axis(a, len(x.shape)) for a in axes]
                if len(pads) != 2 * len(axes) or len(set(axes)) != len(axes):
                    raise Unsupported('%d pads for axes %s' % (len(pads), axes))
                for i, a in enumerate(axes):
                    full[a], full[a + len(x.shape)] = pads[i], pads[i + len(axes)]
                pads = full
        r = len(x.shape)
        if len(pads) != 2 * r:
            raise Unsupported('%d pads for a rank-%d tensor' % (len(pads), r))
        if not any(pads):
            return self.alias(x, n)
        if r not in (3, 4) or pads[0] or pads[1] or pads[r] or pads[r + 1]:
            raise Unsupported('pads %s: only the spatial axes of an (N, C, H, W) or (N, C, L) tensor may be padded'
                              % pads)
        if any(p < 0 for p in pads):
            raise Unsupported('negative pads %s (cropping)' % pads)
        if not math.isfinite(value) or abs(value) > FLT_MAX:
            raise Unsupported('padding value %r' % value)
        if r == 3:
            return self.pad_layer(x, n, pads[2], 0, pads[5], 0, value, tag=None)
        return self.pad_layer(x, n, pads[2], pads[3], pads[6], pads[7], value, tag=None)

    # ------------------------------------------------------------ normalisation, dense, shapes

    def op_BatchNormalization(self, n, ins):
        x = self.channels(ins[0])
        c = x.shape[1]
        if len(ins) != 5 or any(not isinstance(v, Const) for v in ins[1:]):
            raise Unsupported('scale, bias, mean and variance must be constants')
        for v in ins[1:]:
            if v.shape != (c,):
                raise Unsupported('statistics of shape %s for %d channels' % (fmt_shape(v.shape), c))
        if self.opset < 7 and not n.i('is_test', 0):
            raise Unsupported('is_test 0 (training mode)')
        if self.opset < 9 and not n.i('spatial', 1):
            raise Unsupported('spatial 0 (per-activation statistics)')
        if n.i('training_mode', 0):
            raise Unsupported('training_mode 1')
        if len([o for o in n.outputs if o]) > 1:
            raise Unsupported('training-mode outputs (running mean and variance)')
        eps = n.f('epsilon', 1e-5)
        if not eps > 0 or not math.isfinite(eps):
            raise Unsupported('epsilon %r' % eps)
        params = {k: Param((c,), f32_array(v, k)) for k, v in
                  zip(('weight', 'bias', 'running_mean', 'running_var'), ins[1:])}
        if any(v < 0 for v in params['running_var'].data):
            raise Unsupported('a negative variance')
        return self.emit('batchnorm2d', [x], {'num_features': c, 'eps': eps}, n, x.shape, params)

    def op_Dropout(self, n, ins):
        x = self.dyn(ins[0])
        if self.opset < 7 and not n.i('is_test', 0):
            raise Unsupported('is_test 0 (training mode)')
        if len(ins) > 2 and ins[2] is not None:
            t = ins[2]
            if not isinstance(t, Const) or t.numel() != 1 or t.data[0]:
                raise Unsupported('training_mode must be a constant false')
        return [self.alias(x, n), None]

    def op_LRN(self, n, ins):
        x = self.channels(ins[0])
        size = self._required(n, 'size')
        if size < 1 or size % 2 == 0:
            raise Unsupported('size %d: ONNX centres an even window one channel later than the engine '
                              '(PyTorch); odd sizes only' % size)
        alpha, beta, bias = n.f('alpha', 1e-4), n.f('beta', 0.75), n.f('bias', 1.0)
        return self.emit('lrn', [x], {'size': size, 'alpha': alpha, 'beta': beta, 'k': bias}, n, x.shape)

    def op_Softmax(self, n, ins):
        x = self.dyn(ins[0])
        r = len(x.shape)
        if self.opset < 13:
            axis = norm_axis(n.i('axis', 1), r)
            ok = axis == 1 and (r == 2 or prod(x.shape[2:]) == 1)
        else:
            axis = norm_axis(n.i('axis', -1), r)
            ok = axis == 1
        if not ok:
            raise Unsupported('softmax over axis %d of %s; over the channels (axis 1) only' % (axis, fmt_shape(x.shape)))
        return self.emit('softmax', [x], {}, n, x.shape)

    def op_Concat(self, n, ins):
        xs = [v for v in ins if v is not None]
        r = len(xs[0].shape)
        axis = norm_axis(n.i('axis', 1) if self.opset < 4 else self._required(n, 'axis'), r)
        if axis != 1:
            raise Unsupported('concatenation along axis %d; along the channels (1) only' % axis)
        for v in xs:
            if len(v.shape) != r or any(v.shape[i] != xs[0].shape[i] for i in range(r) if i != 1):
                raise Unsupported('inputs of shapes %s' % ', '.join(fmt_shape(v.shape) for v in xs))
        if len(xs) > 1024:
            raise Unsupported('%d inputs (limit 1024)' % len(xs))
        parts = [v if isinstance(v, Dyn) else self.constant_layer(v, n, r) for v in xs]
        if len(parts) == 1:
            return self.alias(parts[0], n)
        shape = (xs[0].shape[0], sum(v.shape[1] for v in xs)) + tuple(xs[0].shape[2:])
        return self.emit('concat', parts, {'axis': 1}, n, shape)

    def op_Flatten(self, n, ins):
        x = self.dyn(ins[0])
        r = len(x.shape)
        axis = n.i('axis', 1)
        axis = axis + r if axis < 0 else axis
        if axis != 1:
            raise Unsupported('Flatten at axis %d; at axis 1 only' % axis)
        if r == 2:
            return self.alias(x, n)
        if r == 1:
            raise Unsupported('Flatten of a rank-1 tensor')
        return self.emit('flatten', [x], {}, n, (x.shape[0], prod(x.shape[1:])))

    def op_Squeeze(self, n, ins):
        x = self.dyn(ins[0])
        shape = self.squeezed_shape(n, ins, list(x.shape))
        if len(x.shape) == 4 and shape == [x.shape[0], x.shape[1]] and x.shape[0] == shape[0]:
            if self.axes_of(n, ins, 1) is None and x.shape[0] == 1:
                raise Unsupported('Squeeze without axes would remove the batch dimension')
            return self.emit('flatten', [x], {}, n, tuple(shape))
        if engine_shape(shape) == engine_shape(x.shape) and shape and shape[0] == x.shape[0]:
            return self.alias(x, n, tuple(shape))
        raise Unsupported('Squeeze of %s to %s' % (fmt_shape(x.shape), fmt_shape(shape)))

    def op_Unsqueeze(self, n, ins):
        x = self.dyn(ins[0])
        shape = self.fold_Unsqueeze(n, [Const('float32', x.shape, None)] + list(ins[1:])).shape
        if engine_shape(shape) == engine_shape(x.shape) and len(shape) <= 4 and shape[0] == x.shape[0]:
            return self.alias(x, n, tuple(shape))
        raise Unsupported('Unsqueeze of %s to %s' % (fmt_shape(x.shape), fmt_shape(shape)))

    def op_Reshape(self, n, ins):
        x = ins[0]
        shape = self.reshape_to(n, ins)
        if isinstance(x, Pending):
            if x.transposed and shape == x.src.shape:
                return self.emit('channel_shuffle', [x.src], {'groups': x.groups}, n, shape)
            raise Unsupported('reshape of a rank-5 view outside the channel-shuffle pattern')
        x = self.dyn(x)
        if engine_shape(shape) == engine_shape(x.shape) and shape[0] == x.shape[0]:   # the same to the engine
            return self.alias(x, n, shape)
        if len(shape) == 2 and len(x.shape) in (3, 4) and shape[0] == x.shape[0]:
            return self.emit('flatten', [x], {}, n, shape)
        if len(x.shape) == 4 and len(shape) == 5 and shape[0] == x.shape[0] and shape[3:] == x.shape[2:] and \
                shape[1] * shape[2] == x.shape[1] and shape[1] > 1:
            return Pending(x, shape[1], False, shape)
        raise Unsupported('reshape of %s to %s (the engine reshapes only (N,C,H,W) to (N,CHW), and the channel '
                          'shuffle)' % (fmt_shape(x.shape), fmt_shape(shape)))

    def op_Transpose(self, n, ins):
        x = ins[0]
        perm = self.perm_of(n, len(x.shape))
        if isinstance(x, Pending):
            if not x.transposed and perm == [0, 2, 1, 3, 4]:
                s = x.shape
                return Pending(x.src, x.groups, True, (s[0], s[2], s[1], s[3], s[4]))
            raise Unsupported('transpose %s of a rank-5 view' % perm)
        x = self.dyn(x)
        if perm == list(range(len(x.shape))):
            return self.alias(x, n)
        raise Unsupported('transpose %s (only inside the channel-shuffle pattern)' % perm)

    def linear(self, n, x, w_out_in, bias, tag=None):
        out_f, in_f = len(w_out_in) // x.shape[1], x.shape[1]
        params = {'weight': Param((out_f, in_f), w_out_in)}
        if bias is not None:
            params['bias'] = Param((out_f,), bias)
        return self.emit('linear', [x], {'in_features': in_f, 'out_features': out_f, 'bias': int(bias is not None)},
                         n, (x.shape[0], out_f), params, tag=tag)

    def op_Gemm(self, n, ins):
        x = self.dyn(ins[0], 'input A')
        if len(x.shape) != 2:
            raise Unsupported('A of shape %s; (N, K) expected' % fmt_shape(x.shape))
        if n.i('transA', 0):
            raise Unsupported('transA 1 (A computed at run time)')
        if len(ins) < 2 or not isinstance(ins[1], Const) or len(ins[1].shape) != 2:
            raise Unsupported('B must be a 2-D constant')
        b = ins[1]
        k = x.shape[1]
        trans_b = n.i('transB', 0)
        if (b.shape[1] if trans_b else b.shape[0]) != k:
            raise Unsupported('B of shape %s for A of %s (transB %d)' % (fmt_shape(b.shape), fmt_shape(x.shape), trans_b))
        w = b if trans_b else transpose_const(b, [1, 0])
        m = w.shape[0]
        alpha, beta = n.f('alpha', 1.0), n.f('beta', 1.0)
        wd = f32_array(w, 'B')
        if alpha != 1.0:
            wd = make_float(w.shape, [alpha * v for v in wd]).data
        c = ins[2] if len(ins) > 2 else None
        if c is None:
            return self.linear(n, x, wd, None)
        out = (x.shape[0], m)
        if isinstance(c, Const):
            if not c.is_float():
                raise Unsupported('C of type %s' % c.dtype)
            if c.numel() == 1 or c.shape in ((m,), (1, m)):     # one bias per output
                vals = [c.data[0]] * m if c.numel() == 1 else list(c.data)
                bias = make_float((m,), [beta * v for v in vals]).data if beta != 1.0 else array.array('f', vals)
                return self.linear(n, x, wd, bias)
            if bcast_shape(out, c.shape) != out:
                raise Unsupported('C of shape %s for an output of %s' % (fmt_shape(c.shape), fmt_shape(out)))
            if beta != 1.0:
                c = make_float(c.shape, [beta * v for v in c.data])
            y = self.linear(n, x, wd, None, tag='gemm')
            return self.emit('add', [y, self.constant_layer(c, n, 2)], {}, n, out)
        c = self.dyn(c, 'C')
        if beta != 1.0 or len(c.shape) != 2 or bcast_shape(out, c.shape) != out:
            raise Unsupported('C computed at run time of shape %s with beta %g' % (fmt_shape(c.shape), beta))
        y = self.linear(n, x, wd, None, tag='gemm')
        return self.emit('add', [y, c], {}, n, out)

    def op_MatMul(self, n, ins):
        x = self.dyn(ins[0], 'input A')
        b = ins[1]
        if len(x.shape) != 2 or not isinstance(b, Const) or len(b.shape) != 2 or b.shape[0] != x.shape[1]:
            raise Unsupported('only (N, K) x constant (K, M) is supported, got %s x %s'
                              % (fmt_shape(x.shape), fmt_shape(b.shape) if hasattr(b, 'shape') else '?'))
        return self.linear(n, x, f32_array(transpose_const(b, [1, 0]), 'B'), None)

    # ------------------------------------------------------------ channel slices

    def select(self, n, x, start, stop, tag):
        """Channels start..stop-1 of x: a 1x1 convolution (linear for (N, F)) with 0/1 weights,
        exact for finite values, until the engine has a slice kind."""
        c, k = x.shape[1], stop - start
        if c * k > 1 << 26:
            raise Unsupported('a channel slice of %d of %d channels is too large' % (k, c))
        w = array.array('f', bytes(4 * c * k))
        for i in range(k):
            w[i * c + start + i] = 1.0
        if len(x.shape) == 2:
            return self.emit('linear', [x], {'in_features': c, 'out_features': k, 'bias': 0}, n, (x.shape[0], k),
                             {'weight': Param((k, c), w)}, tag=tag)
        hp = dict(in_channels=c, out_channels=k, kernel_h=1, kernel_w=1, stride_h=1, stride_w=1, pad_h=0, pad_w=0,
                  dilation_h=1, dilation_w=1, groups=1, bias=0)
        return self.emit('conv2d', [x], hp, n, (x.shape[0], k) + tuple(x.shape[2:]), {'weight': Param((k, c, 1, 1), w)},
                         tag=tag)

    def op_Slice(self, n, ins):
        x = self.dyn(ins[0])
        rng = self.slice_args(n, ins)
        for a, (s, e, st) in enumerate(rng):
            if a != 1 and (s, e, st) != (0, x.shape[a], 1):
                raise Unsupported('slicing axis %d; only the channels (axis 1) may be sliced' % a)
        s, e, st = rng[1]
        if st != 1 or e <= s:
            raise Unsupported('channel slice %d:%d:%d' % (s, e, st))
        if (s, e) == (0, x.shape[1]):
            return self.alias(x, n)
        return self.select(n, x, s, e, None)

    def op_Split(self, n, ins):
        x = self.dyn(ins[0])
        axis, split = self.split_sizes(n, ins, x.shape)
        if axis != 1:
            raise Unsupported('split along axis %d; along the channels (1) only' % axis)
        outs, start = [], 0
        for k, s in enumerate(split):
            if s < 1:
                raise Unsupported('an empty split')
            outs.append(self.select(n, x, start, start + s, str(k)))
            start += s
        return outs

    # ------------------------------------------------------------ the result

    def finish(self, out_name):
        v = self.values.get(out_name)
        if v is None and out_name in self.inits:
            fail('%s: the graph output %r is an initializer (a constant)' % (self.path, out_name))
        if v is None:
            fail('%s: the graph output %r is never computed' % (self.path, out_name))
        if isinstance(v, Const):
            fail('%s: the graph output %r is a constant' % (self.path, out_name))
        if isinstance(v, (Pending, Bad)):
            fail('%s: the graph output %r is a rank-5 view' % (self.path, out_name))
        if not 1 <= len(v.shape) <= 4:
            fail('%s: the graph output has shape %s; 1 to 4 dimensions are supported' % (self.path, fmt_shape(v.shape)))
        if v.layer == 'input':      # the output is the input itself
            v = self.emit('identity', [v], {}, None, v.shape, tag='output')
        keep, stack = set(), [v.layer]
        while stack:
            l = stack.pop()
            if l == 'input' or id(l) in keep:
                continue
            keep.add(id(l))
            stack.extend(l.inputs)
        layers = [l for l in self.layers if id(l) in keep]
        if len(layers) > 4096:
            fail('%s: %d layers; a .gcw file holds at most 4096' % (self.path, len(layers)))
        assert layers[-1] is v.layer
        name_layers(layers, self.input_name)
        self.output_shape = v.shape
        return layers


FOLDABLE = {'Identity', 'Reshape', 'Transpose', 'Flatten', 'Concat', 'Squeeze', 'Unsqueeze', 'Slice', 'Split',
            'Add', 'Sub', 'Mul', 'Div'}


# ---------------------------------------------------------------- names

def valid_name(s):
    return 1 <= len(s) <= GCW_NAME and all(0x21 <= ord(c) <= 0x7E for c in s) and s != 'input'


def scope_paths(raw):
    """Module paths of a node named as torch.onnx names them ("/layer4/layer4.1/relu_1/Relu"):
    ["layer4", "layer4.1", "layer4.1.relu_1"]. A component that extends the one before it
    with ".<something>" (a Sequential's child "layer4.1") adds that suffix, any other is a
    child attribute ("relu_1")."""
    if not raw.startswith('/') or raw.count('/') < 2:
        return []
    comps = raw.strip('/').split('/')[:-1]
    out, prev_disp, full = [], None, ''
    for c in comps:
        if not c:
            return []
        if prev_disp is not None and c.startswith(prev_disp + '.'):
            full = full + c[len(prev_disp):]
        else:
            full = c if not full else full + '.' + c
        out.append(full)
        prev_disp = c
    return out


def clean_name(raw, fallback):
    """A .gcw layer name for a node name: printable ASCII (others become _), at most 63
    bytes: a longer scoped name is shortened to its module path and operator
    ("features.1.0.block.1.avgpool/GlobalAveragePool"), anything else to its first 54
    bytes, '~' and 8 hex digits of its SHA-1."""
    s = ''.join(c if 0x21 <= ord(c) <= 0x7E else '_' for c in raw) or fallback
    if len(s) <= GCW_NAME:
        return s
    paths = scope_paths(raw)
    if paths:
        short = ''.join(c if 0x21 <= ord(c) <= 0x7E else '_' for c in paths[-1] + '/' + raw.rsplit('/', 1)[1])
        if len(short) <= GCW_NAME:
            return short
    return s[:54] + '~' + hashlib.sha1(raw.encode('utf-8')).hexdigest()[:8]


def name_layers(layers, input_name):
    taken = {'input'}

    def unique(base):
        name, k = base, 1
        while name in taken:
            k += 1
            suffix = '_%d' % k
            name = base[:GCW_NAME - len(suffix)] + suffix
        taken.add(name)
        return name

    for i, l in enumerate(layers):
        if l.node is not None:
            base = clean_name(l.node.raw_name, '%s_%d' % (l.node.op, l.node.index))
        else:
            base = clean_name(input_name, 'input')
        if l.tag is not None:
            base = base[:GCW_NAME - len(l.tag) - 1] + ':' + l.tag
        l.name = unique(base)
    # aliases: Identity/Dropout node names, then module paths (innermost first), at most 16
    last = {}
    for l in layers:
        if l.node is not None and l.tag is None:
            for p in scope_paths(l.node.raw_name):
                last[p] = l
    extra = {}
    for p, l in last.items():
        extra.setdefault(id(l), []).append(p)
    for l in layers:
        names = [clean_name(n.raw_name, '') for n in l.aliases if n.raw_name]
        names += sorted(extra.get(id(l), []), key=lambda p: -p.count('.') - p.count('/'))
        l.aliases = []
        for a in names:
            if valid_name(a) and a not in taken and len(l.aliases) < 16:
                taken.add(a)
                l.aliases.append(a)


# ---------------------------------------------------------------- entry point

class GcwLayer:
    __slots__ = ('kind', 'name', 'inputs', 'aliases', 'hp')

    def __init__(self, kind, name, inputs, aliases, hp):
        self.kind, self.name, self.inputs, self.aliases, self.hp = kind, name, inputs, aliases, hp


class GcwGraph:
    """What tools/gcw_convert.py's writer takes: layers (kind, name, inputs, aliases, hp),
    sd (tensor name -> Param) and used (the tensor names to write)."""

    def __init__(self, layers, input_shape, output_shape, opset):
        self.layers, self.sd, self.used = [], {}, set()
        for l in layers:
            keys = HPARAMS[l.kind]
            assert set(l.hp) == {k for k, _ in keys}, (l.kind, sorted(l.hp))
            hp = {k: (int(l.hp[k]) if t == 0 else float(l.hp[k])) for k, t in keys}
            self.layers.append(GcwLayer(l.kind, l.name, [i if i == 'input' else i.name for i in l.inputs],
                                        list(l.aliases), hp))
            for suf, p in l.params.items():
                key = l.name + '.' + suf
                self.sd[key] = p
                self.used.add(key)
        self.input_shape, self.output_shape, self.opset = input_shape, output_shape, opset
        self.n_classes = prod(output_shape[1:])


def is_onnx(path):
    return path.lower().endswith('.onnx')


def build_graph(path, input_hw=None):
    """Reads the ONNX model at path; returns (description, GcwGraph). input_hw: (H, W) for an
    input whose height and width the model leaves open. Raises OnnxError with one message."""
    try:
        imp = Importer(path, input_hw)
        layers = imp.run()
    except RecursionError:
        fail('%s: nested too deeply' % path)
    except OnnxError as e:      # every message names the file once
        msg = str(e)
        raise OnnxError(msg if msg.startswith(path + ':') else '%s: %s' % (path, msg))
    g = GcwGraph(layers, imp.input_shape, imp.output_shape, imp.opset)
    prod_name = imp.model.get('producer_name', '')
    desc = 'ONNX opset %d%s, input %s, output %s' % (imp.opset, ' from ' + prod_name if prod_name else '',
                                                    fmt_shape(imp.input_shape), fmt_shape(imp.output_shape))
    return desc, g


def register(hparams, param_suffixes):
    """Adds the kinds this importer writes to gcw_convert.py's writer tables (docs/format.md)."""
    for k, v in HPARAMS.items():
        hparams.setdefault(k, v)
    for k, v in PARAM_SUFFIXES.items():
        param_suffixes.setdefault(k, v)


def preprocess_for(pre, g, size_given, resize_given):
    """The preprocessing metadata for a converted model: without --input-size the crop is the
    model's own (N, C, H, W) input size, and without --resize-shorter the shorter side is
    resized to 8/7 of it first (torchvision's 256 for 224)."""
    if len(g.input_shape) != 4 or size_given:
        return pre
    h, w = g.input_shape[2], g.input_shape[3]
    if (h, w) == (pre.height, pre.width):
        return pre
    pre = pre._replace(height=h, width=w)
    return pre if resize_given else pre._replace(resize_shorter=min(h, w) * 8 // 7)


def main(argv):
    """Development entry point: onnx_import.py MODEL.onnx [OUT.gcw] lists the layers (and
    writes OUT.gcw with tools/gcw_convert.py's writer and default preprocessing)."""
    import gcw_convert
    if not argv:
        print('usage: onnx_import.py MODEL.onnx [OUT.gcw]', file=sys.stderr)
        return 2
    try:
        desc, g = build_graph(argv[0])
    except OnnxError as e:
        print('onnx_import: error: %s' % gcw_convert.one_line(e, 4000), file=sys.stderr)
        return 1
    print(desc)
    for l in g.layers:
        print('%-14s %-48s <- %s%s' % (l.kind, l.name, ', '.join(l.inputs),
                                      '  = ' + ', '.join(l.aliases) if l.aliases else ''))
    if len(argv) > 1:
        register(gcw_convert.HPARAMS, gcw_convert.PARAM_SUFFIXES)
        pre = preprocess_for(gcw_convert.PRESETS['torchvision'], g, False, False)
        gcw_convert.write_gcw(argv[1], g, [], pre)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
