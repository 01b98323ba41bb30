#!/usr/bin/env python3
"""gcw_convert.py - convert a torchvision VGG/AlexNet/ResNet checkpoint to a .gcw file.

usage: gcw_convert.py INPUT OUTPUT.gcw [--arch NAME] [--labels FILE]
                      [--preset torchvision|caffe] [--input-size H[xW]] [--resize-shorter N]
                      [--bgr | --rgb] [--scale S] [--mean A,B,C] [--std A,B,C]
                      [--max-output-bytes N] [--max-inflate-bytes N]

INPUT is a PyTorch state dict saved with torch.save (the legacy serialization
that torchvision's downloadable vgg16-397923af.pth / alexnet-owt-7be5be79.pth
use, or the zip archive of current torch.save), or a .safetensors file.
The architecture is detected from the state dict's keys and shapes (--arch
forces one): vgg11/13/16/19 and their _bn variants, alexnet, and the ResNet
family - resnet18/34/50/101/152, resnext50_32x4d, resnext101_32x8d,
resnext101_64x4d, wide_resnet50_2, wide_resnet101_2, or any other ResNet
layout of BasicBlocks or Bottlenecks (named e.g. resnet(bottleneck,[3,4,6,3])).
Widths, groups and the class count come from the tensor shapes. Output is a
.gcw version 2 file; layer names follow torchvision's modules (docs/format.md).
Python 3 standard library only. Pickled data is never executed: only an
allow-list of PyTorch tensor-rebuild functions and storage types is honoured;
any other global is refused by name. Each pickle's opcodes are walked first
(pickletools, nothing run): opcodes torch.save never writes and memo indices
past the opcode count are refused; dictionary keys must be strings or small
integers, so that loading takes time linear in the pickle's size. A tensor
view may not hold more elements than its storage, and all tensors together no
more float32 data than the distinct storages they view (--max-output-bytes);
zip members are inflated with a running bound, 64 MiB in all by default
(--max-inflate-bytes). The output may not be the input. The .gcw layout is
docs/format.md; docs/security.md lists what is refused.
"""
import argparse
import array
import collections
import inspect
import io
import itertools
import json
import math
import os
import pickle
import pickletools
import re
import struct
import sys
import zipfile
import zlib

import onnx_import  # .onnx inputs: tools/onnx_import.py (docs/onnx.md)

MAX_PICKLE = 64 << 20          # bytes of pickle we are willing to parse (zip data.pkl)
MAX_NUMEL = 1 << 32            # elements in one storage / tensor
MAX_HEADER = 16 << 20          # safetensors JSON header (parsing 1 MB costs ~12 MB and ~0.1 s)
MAX_OPS = 1 << 20               # opcodes in one pickle
MAX_INDEX = 1 << 62            # any size, stride or offset (checked before they are multiplied)
MAX_KEY_INT = 1 << 60          # integer dictionary keys: below this they cannot collide in a hash table
DEFAULT_MAX_INFLATE = 64 << 20  # bytes inflated from compressed zip members, all together (--max-inflate-bytes)
MAX_INPUT_SIDE = 1 << 16       # --input-size and --resize-shorter: what gc_image_preprocess accepts
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001


class ConvertError(Exception):
    pass


def fail(msg):
    raise ConvertError(msg)


# ---------------------------------------------------------------- tensors

DTYPES = {  # name: (element size, struct/array code or None)
    'f32': 4, 'f16': 2, 'f64': 8, 'bf16': 2, 'i64': 8, 'i32': 4, 'i16': 2, 'i8': 1, 'u8': 1, 'bool': 1,
}
FLOATS = ('f32', 'f16', 'f64', 'bf16')


class Frozen:
    """Objects the unpickler may hand out: a BUILD opcode cannot alter them."""
    def __setstate__(self, state):
        raise ConvertError('refusing to load: the pickle tries to set the state of a %s' % type(self).__name__)


class Storage(Frozen):
    """Raw little-endian bytes of numel elements of dtype; data filled in later."""
    def __init__(self, dtype, key, numel, root=None):
        self.dtype, self.key, self.numel = dtype, key, numel
        self.root = root or self  # the storage whose bytes these are (legacy views share their root's)
        self.data = None       # bytes-like, numel * element size
        self.reader = None     # or a callable returning the bytes (lazy)

    def bytes(self):
        if self.data is None:
            if self.reader is None:
                fail('storage %s has no data in the file' % self.key)
            self.data = self.reader()
        return self.data


class Tensor(Frozen):
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numel(self):
        n = 1
        for s in self.size:
            n *= s
        return n

    def validate(self, name):
        st = self.storage
        if not isinstance(st, Storage):
            fail('%s: tensor without a storage' % name)
        if len(self.size) != len(self.stride) or len(self.size) > 8:
            fail('%s: size and stride disagree' % name)
        if not all(type(v) is int for v in (self.offset,) + self.size + self.stride):
            fail('%s: non-integer size, stride or offset' % name)
        if self.offset < 0 or any(s < 0 for s in self.size) or any(s < 0 for s in self.stride):
            fail('%s: negative size, stride or offset' % name)
        if any(v > MAX_INDEX for v in (self.offset,) + self.size + self.stride):
            fail('%s: a size, stride or offset above 2^62' % name)
        n = self.numel()
        if n > MAX_NUMEL:
            fail('%s: %d elements exceed the limit of %d' % (name, n, MAX_NUMEL))
        if n:
            last = self.offset + sum((s - 1) * d for s, d in zip(self.size, self.stride))
            if last >= st.numel:
                fail('%s: view reaches element %d of a storage of %d' % (name, last, st.numel))
            if n > st.numel:
                fail('%s: view of %d elements on a storage of %d (overlapping strides)' % (name, n, st.numel))

    def f32_bytes(self, name):
        """Contiguous little-endian float32 bytes (C order)."""
        st = self.storage
        if st.dtype not in FLOATS:
            fail('%s: dtype %s is not a floating-point type' % (name, st.dtype))
        es = DTYPES[st.dtype]
        raw = st.bytes()
        if len(raw) != st.numel * es:
            fail('%s: storage holds %d bytes, expected %d' % (name, len(raw), st.numel * es))
        n = self.numel()
        c_stride, acc = [], 1
        for s in reversed(self.size):
            c_stride.append(acc)
            acc *= s
        c_stride.reverse()
        contiguous = all(s == 1 or d == c for s, d, c in zip(self.size, self.stride, c_stride))
        if contiguous:
            span = raw[self.offset * es:(self.offset + n) * es]
            return to_f32(span, st.dtype)
        # strided view: convert the covered range, then gather row by row
        last = self.offset + sum((s - 1) * d for s, d in zip(self.size, self.stride))
        src = array.array('f', to_f32(raw[self.offset * es:(last + 1) * es], st.dtype))
        if sys.byteorder != 'little':
            src.byteswap()
        out = array.array('f')
        *outer, inner = self.size or (1,)
        *ostride, istride = self.stride or (1,)
        for idx in itertools.product(*[range(s) for s in outer]):
            base = sum(i * d for i, d in zip(idx, ostride))
            out.extend(src[base:base + (inner - 1) * istride + 1:istride] if istride else array.array('f', [src[base]]) * inner)
        if sys.byteorder != 'little':
            out.byteswap()
        return out.tobytes()


def to_f32(raw, dtype):
    raw = bytes(raw)
    if dtype == 'f32':
        return raw
    if dtype == 'f64':
        a = array.array('d', raw)
        if sys.byteorder != 'little':
            a.byteswap()
        b = array.array('f', a)
    elif dtype == 'f16':
        b = array.array('f')
        step = 1 << 20
        for i in range(0, len(raw), 2 * step):
            chunk = raw[i:i + 2 * step]
            b.extend(struct.unpack('<%de' % (len(chunk) // 2), chunk))
    elif dtype == 'bf16':
        out = bytearray(len(raw) * 2)       # bfloat16 is the high half of a float32
        out[2::4] = raw[0::2]
        out[3::4] = raw[1::2]
        return bytes(out)
    else:
        fail('cannot convert %s to float32' % dtype)
    if sys.byteorder != 'little':
        b.byteswap()
    return b.tobytes()


# ---------------------------------------------------------------- restricted unpickling

class StorageType(Frozen):
    def __init__(self, dtype):
        self.dtype = dtype


class Marker(Frozen):
    def __init__(self, name):
        self.name = name


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list)) and len(size) <= 8 and
            len(stride) <= 8):
        fail('a tensor with a malformed size or stride (tuples of at most 8 integers expected)')
    return Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(data, Tensor):
        fail('_rebuild_parameter of something that is not a tensor')
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor, _rebuild_parameter) or not isinstance(new_type, Marker):
        fail('_rebuild_from_type_v2 with an unexpected function or type')
    return func(*args)


STORAGE_TYPES = {
    'FloatStorage': 'f32', 'HalfStorage': 'f16', 'DoubleStorage': 'f64', 'BFloat16Storage': 'bf16',
    'LongStorage': 'i64', 'IntStorage': 'i32', 'ShortStorage': 'i16', 'CharStorage': 'i8',
    'ByteStorage': 'u8', 'BoolStorage': 'bool',
}


def check_key(k):
    """Dictionary keys the unpickler may insert: strings (whose hashes are
    salted per process) and integers below 2^60 (distinct ones never share a
    hash). Anything else - huge integers, floats, tuples, frozensets - can be
    chosen to collide, which makes building the dictionary quadratic."""
    if type(k) is str or k is None or type(k) is bool or (type(k) is int and -MAX_KEY_INT < k < MAX_KEY_INT):
        return
    fail('refusing to load: a dictionary key of type %s%s (torch.save writes string or small integer keys; '
         'other keys can be chosen to collide in the hash table)'
         % (type(k).__name__, ' beyond 2^60' if type(k) is int else ''))


class StateDict(collections.OrderedDict):
    """collections.OrderedDict as the unpickler builds it. torch.save sets the
    state dict's _metadata with BUILD; that state is dropped, so a pickle
    cannot shadow methods (items, get) with instance attributes. Python 2
    pickles pass the items as a list of pairs; their keys are checked."""
    def __init__(self, *args):
        super().__init__()
        if len(args) > 1:
            fail('refusing to load: OrderedDict called with %d arguments' % len(args))
        for pair in (args[0] if args else ()):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                fail('refusing to load: OrderedDict called with something that is not a list of pairs')
            check_key(pair[0])
            self[pair[0]] = pair[1]

    def __setstate__(self, state):
        if not (isinstance(state, dict) and all(isinstance(k, str) for k in state)):
            raise ConvertError('refusing to load: the pickle sets an unexpected state on an OrderedDict')


ALLOWED = {
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch._tensor', '_rebuild_from_type_v2'): _rebuild_from_type_v2,
    ('torch', 'Tensor'): Marker('torch.Tensor'),
    ('torch.nn.parameter', 'Parameter'): Marker('torch.nn.Parameter'),
    ('collections', 'OrderedDict'): StateDict,
}
for _n, _d in STORAGE_TYPES.items():
    ALLOWED[('torch', _n)] = StorageType(_d)

# Opcodes torch.save never writes (objects built without a REDUCE of an
# allowed global, copyreg extension codes, sets); refused before unpickling.
REFUSED_OPS = {'INST', 'OBJ', 'NEWOBJ', 'NEWOBJ_EX', 'EXT1', 'EXT2', 'EXT4', 'PERSID', 'BYTEARRAY8',
               'NEXT_BUFFER', 'READONLY_BUFFER', 'EMPTY_SET', 'ADDITEMS', 'FROZENSET'}


def prescan(f):
    """Walks the opcodes of the pickle at f's position without running any,
    then rewinds: refuses opcodes torch.save never writes, memo indices past
    the number of opcodes read (the C unpickler would size its memo table by
    the index) and pickles of more than MAX_OPS opcodes."""
    start = f.tell()
    n = 0
    for op, arg, _ in pickletools.genops(f):
        n += 1
        if n > MAX_OPS:
            fail('pickle has more than %d opcodes' % MAX_OPS)
        if op.name in REFUSED_OPS:
            fail('refusing to load: the pickle uses the %s opcode, which torch.save never writes; '
                 'nothing was executed' % op.name)
        if op.name in ('PUT', 'BINPUT', 'LONG_BINPUT', 'GET', 'BINGET', 'LONG_BINGET') and \
                not (isinstance(arg, int) and 0 <= arg < n):
            fail('pickle memo index %r out of range' % (arg,))
    f.seek(start)


class Bounded:
    """A read-only view of a file up to byte `end`: reads never ask for more
    than what is left (a length field of 2^40 does not allocate 2^40 bytes)."""
    def __init__(self, f, end):
        self.f, self.end = f, end

    def read(self, n=-1):
        left = max(0, self.end - self.f.tell())
        return self.f.read(left if n is None or n < 0 else min(n, left))

    def readline(self):
        return self.f.readline(max(0, self.end - self.f.tell()))

    def tell(self):
        return self.f.tell()

    def seek(self, pos):
        return self.f.seek(pos)


class SafeUnpickler(pickle._Unpickler):
    """Resolves only allow-listed globals; storages come from persistent ids.
    The pure-Python unpickler, because its opcode table can be narrowed:
    dictionary keys are checked before they are hashed (check_key), and BUILD
    applies only to a state dict (torch.save's _metadata), never to an
    allow-listed function, class or stand-in. Every opcode does work bounded
    by its own size, so loading takes time linear in the pickle's length."""
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, f, storages=None):
        super().__init__(f)
        self.storages = storages if storages is not None else {}

    def find_class(self, module, name):
        obj = ALLOWED.get((module, name))
        if obj is None:
            raise ConvertError('refusing to load: the pickle references the global %s.%s, which is not on '
                               'the allow-list (only PyTorch tensor rebuild functions and storage types '
                               'are accepted); nothing was executed' % (module, name))
        return obj

    def load_build(self):
        inst = self.stack[-2] if len(self.stack) >= 2 else None
        if type(inst) is not StateDict:
            what = {StateDict: 'the OrderedDict class'}.get(inst) if isinstance(inst, type) else None
            what = what or ('the function ' + inst.__name__ if inspect.isfunction(inst) else
                            'a ' + type(inst).__name__)
            fail('refusing to load: the pickle tries to set the state of %s with BUILD (torch.save sets state only '
                 'on an OrderedDict); nothing was executed' % what)
        pickle._Unpickler.load_build(self)
    dispatch[pickle.BUILD[0]] = load_build

    def load_setitem(self):
        check_key(self.stack[-2])
        pickle._Unpickler.load_setitem(self)
    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self):
        items = self.pop_mark()
        d = self.stack[-1]
        for i in range(0, len(items) - 1, 2):
            check_key(items[i])
            d[items[i]] = items[i + 1]
    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_dict(self):
        items = self.pop_mark()
        d = {}
        for i in range(0, len(items) - 1, 2):
            check_key(items[i])
            d[items[i]] = items[i + 1]
        self.append(d)
    dispatch[pickle.DICT[0]] = load_dict

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != 'storage':
            raise ConvertError('unsupported persistent id in pickle (only tensor storages are accepted)')
        stype, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(stype, StorageType) or not isinstance(key, str) or type(numel) is not int:
            raise ConvertError('malformed storage reference in pickle')
        if numel < 0 or numel > MAX_NUMEL:
            raise ConvertError('storage %s claims %s elements (limit %d)'
                               % (key, numel if abs(numel) < MAX_INDEX else 'over 2^62', MAX_NUMEL))
        st = self.storages.get(key)
        if st is None:
            st = self.storages[key] = Storage(stype.dtype, key, numel)
        elif st.dtype != stype.dtype or st.numel != numel:
            raise ConvertError('storage %s is referenced with different types or sizes' % key)
        view = pid[5] if len(pid) == 6 else None
        if view is not None:  # legacy storage view: (view_key, offset, size) of the root storage
            if not (isinstance(view, tuple) and len(view) == 3 and all(type(v) is int for v in view[1:])):
                raise ConvertError('malformed storage view in pickle')
            _, off, size = view
            if off < 0 or size < 0 or off > numel or size > numel - off:
                raise ConvertError('a storage view lies outside storage %s' % key)
            v = Storage(stype.dtype, '%s[%d:%d]' % (key, off, off + size), size, root=st)
            es = DTYPES[stype.dtype]
            v.reader = lambda st=st, off=off, size=size, es=es: st.bytes()[off * es:(off + size) * es]
            return v
        return st


def safe_load(f, storages=None):
    try:
        prescan(f)
        return SafeUnpickler(f, storages).load()
    except ConvertError:
        raise
    except RecursionError:
        fail('pickle nests too deeply')
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            struct.error, MemoryError, OverflowError, UnicodeDecodeError, NotImplementedError) as e:
        fail('corrupt or truncated pickle: %s' % (str(e)[:200] or type(e).__name__))


# ---------------------------------------------------------------- readers

def read_legacy(path):
    storages = {}
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        fb = Bounded(f, size)
        if safe_load(fb) != LEGACY_MAGIC:
            fail('%s: not a PyTorch file (bad magic number)' % path)
        if safe_load(fb) != LEGACY_PROTOCOL:
            fail('%s: unsupported legacy protocol version' % path)
        info = safe_load(fb)
        if not isinstance(info, dict) or info.get('little_endian', True) is not True:
            fail('%s: big-endian checkpoints are not supported' % path)
        obj = safe_load(fb, storages)
        keys = safe_load(fb)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            fail('%s: malformed storage key list' % path)
        for k in keys:
            st = storages.get(k)
            if st is None:
                fail('%s: storage %s is listed but never referenced' % (path, k))
            hdr = f.read(8)
            if len(hdr) != 8:
                fail('%s: truncated before storage %s' % (path, k))
            (numel,) = struct.unpack('<q', hdr)
            if numel != st.numel:
                fail('%s: storage %s has %d elements, the pickle said %d' % (path, k, numel, st.numel))
            nbytes = numel * DTYPES[st.dtype]
            if f.tell() + nbytes > size:
                fail('%s: truncated: storage %s needs %d bytes past the end' % (path, k, f.tell() + nbytes - size))
            st.data = f.read(nbytes)
            if len(st.data) != nbytes:
                fail('%s: truncated in storage %s' % (path, k))
    return obj


class Budget:
    """Bytes inflated from compressed zip members so far, against --max-inflate-bytes."""
    def __init__(self, limit):
        self.limit, self.used = limit, 0


def zip_member(path, f, size, zi, budget):
    """The bytes of zip member zi, found through its local header. Stored data
    must be exactly as long as the member claims; deflated data is inflated
    with a running bound, so a member that inflates past its declared size is
    refused one byte later (Python's zipfile inflates up to 2 GiB and then
    keeps the declared prefix); the CRC covers all of it; every inflated byte
    counts against the budget."""
    name = one_line(zi.filename, 100)
    where = '%s: zip member %s' % (path, name)
    if zi.flag_bits & 1:
        fail('%s is encrypted' % where)
    f.seek(zi.header_offset)
    h = f.read(30)
    if len(h) != 30 or h[:4] != b'PK\x03\x04':
        fail('%s: no local header at offset %d' % (where, zi.header_offset))
    n, m = struct.unpack('<HH', h[26:30])
    start = zi.header_offset + 30 + n + m
    if start + zi.compress_size > size:
        fail('%s: %d bytes of data claimed past the end of the file' % (where, zi.compress_size))
    f.seek(start)
    if zi.compress_type == zipfile.ZIP_STORED:
        if zi.compress_size != zi.file_size:
            fail('%s: stored with %d bytes but claims %d' % (where, zi.compress_size, zi.file_size))
        data = f.read(zi.file_size)
    elif zi.compress_type == zipfile.ZIP_DEFLATED:
        if zi.file_size > budget.limit - budget.used:
            fail('%s would inflate to %d bytes; with %d inflated before, that passes the limit of %d '
                 '(--max-inflate-bytes; torch.save never compresses)' % (where, zi.file_size, budget.used, budget.limit))
        d, out, got, left = zlib.decompressobj(-15), [], 0, zi.compress_size
        while left > 0 and not d.eof:
            chunk = f.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)
            while chunk and not d.eof:
                piece = d.decompress(chunk, zi.file_size - got + 1)     # never more than one byte too many
                got += len(piece)
                if got > zi.file_size:
                    fail('%s inflates past its declared %d bytes' % (where, zi.file_size))
                out.append(piece)
                if not piece and d.unconsumed_tail == chunk:
                    break
                chunk = d.unconsumed_tail
        budget.used += got
        if not d.eof or got != zi.file_size:
            fail('%s: compressed data ends after %d of its %d bytes' % (where, got, zi.file_size))
        data = b''.join(out)
    else:
        fail('%s: compression method %d is not supported (torch.save stores members)' % (where, zi.compress_type))
    if len(data) != zi.file_size:
        fail('%s is truncated' % where)
    if zlib.crc32(data) != zi.CRC:
        fail('%s: CRC mismatch' % where)
    return data


def read_zip(path, max_inflate=DEFAULT_MAX_INFLATE):
    storages = {}
    budget = Budget(max_inflate)
    try:
        with open(path, 'rb') as f, zipfile.ZipFile(f) as z:
            size = os.fstat(f.fileno()).st_size
            names = z.namelist()
            pkl = [n for n in names if n == 'data.pkl' or n.endswith('/data.pkl')]
            if len(pkl) != 1:
                fail('%s: zip archive without a single data.pkl (not a torch.save file)' % path)
            prefix = pkl[0][:-len('data.pkl')]
            info = z.getinfo(pkl[0])
            if info.file_size > MAX_PICKLE:
                fail('%s: data.pkl of %d bytes exceeds the limit of %d' % (path, info.file_size, MAX_PICKLE))
            if prefix + 'byteorder' in names:
                bo = z.getinfo(prefix + 'byteorder')
                if bo.file_size > 64 or zip_member(path, f, size, bo, budget).strip() not in (b'little', b''):
                    fail('%s: big-endian checkpoints are not supported' % path)
            obj = safe_load(io.BytesIO(zip_member(path, f, size, info, budget)), storages)
            for key, st in storages.items():
                name = prefix + 'data/' + key
                try:
                    zi = z.getinfo(name)
                except KeyError:
                    fail('%s: storage %s is missing from the archive' % (path, key))
                need = st.numel * DTYPES[st.dtype]
                if zi.file_size != need:
                    fail('%s: storage %s has %d bytes, %d expected' % (path, key, zi.file_size, need))
                st.data = zip_member(path, f, size, zi, budget)
    except zipfile.BadZipFile as e:
        fail('%s: corrupt or truncated zip archive (%s)' % (path, e))
    except (EOFError, OSError, ValueError, NotImplementedError, zlib.error) as e:
        fail('%s: cannot read the zip archive (%s)' % (path, e))
    return obj


SAFETENSORS_DTYPES = {'F32': 'f32', 'F16': 'f16', 'F64': 'f64', 'BF16': 'bf16', 'I64': 'i64', 'I32': 'i32',
                      'I16': 'i16', 'I8': 'i8', 'U8': 'u8', 'BOOL': 'bool'}


def read_safetensors(path):
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        hdr = f.read(8)
        if len(hdr) != 8:
            fail('%s: truncated safetensors header' % path)
        (n,) = struct.unpack('<Q', hdr)
        if n > MAX_HEADER:
            fail('%s: safetensors header of %d bytes exceeds the limit of %d' % (path, n, MAX_HEADER))
        if 8 + n > size:
            fail('%s: safetensors header of %d bytes does not fit the file' % (path, n))
        try:
            meta = json.loads(f.read(n).decode('utf-8'))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            fail('%s: malformed safetensors JSON header (%s)' % (path, str(e)[:100]))
    if not isinstance(meta, dict):
        fail('%s: safetensors header is not an object' % path)
    data_start, data_len = 8 + n, size - 8 - n
    out, spans = collections.OrderedDict(), []
    for name, e in meta.items():
        if name == '__metadata__':
            continue
        if not isinstance(e, dict) or set(e) != {'dtype', 'shape', 'data_offsets'}:
            fail('%s: malformed entry for %s' % (path, name))
        dt, shape, offs = e['dtype'], e['shape'], e['data_offsets']
        if dt not in SAFETENSORS_DTYPES:
            fail('%s: %s has unsupported dtype %r' % (path, name, dt))
        if not (isinstance(shape, list) and len(shape) <= 8 and all(isinstance(s, int) and s >= 0 for s in shape)):
            fail('%s: %s has a malformed shape' % (path, name))
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
            fail('%s: %s has malformed data_offsets' % (path, name))
        dtype = SAFETENSORS_DTYPES[dt]
        numel = 1
        for s in shape:
            numel *= s
        if numel > MAX_NUMEL:
            fail('%s: %s has too many elements' % (path, name))
        b, e_ = offs
        if not (0 <= b <= e_ <= data_len) or e_ - b != numel * DTYPES[dtype]:
            fail('%s: %s: data_offsets %r do not match its shape or the file size' % (path, name, offs))
        spans.append((b, e_, name))
        st = Storage(dtype, name, numel)
        st.reader = lambda b=b, e_=e_: _read_span(path, data_start + b, e_ - b)
        stride, acc = [], 1
        for s in reversed(shape):
            stride.append(acc)
            acc *= s
        out[name] = Tensor(st, 0, shape, list(reversed(stride)))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            fail('%s: tensors %s and %s overlap' % (path, n0, n1))
    return out


def _read_span(path, off, n):
    with open(path, 'rb') as f:
        f.seek(off)
        d = f.read(n)
    if len(d) != n:
        fail('%s: truncated tensor data' % path)
    return d


def read_checkpoint(path, max_inflate=DEFAULT_MAX_INFLATE):
    try:
        with open(path, 'rb') as f:
            head = f.read(8)
    except OSError as e:
        fail('%s: %s' % (path, e.strerror or e))
    if head[:4] == b'PK\x03\x04':
        obj = read_zip(path, max_inflate)
    elif len(head) == 8 and head[:1] == b'\x80':
        obj = read_legacy(path)
    elif len(head) == 8 and path.endswith('.safetensors'):
        obj = read_safetensors(path)
    elif len(head) == 8:
        try:
            obj = read_safetensors(path)
        except ConvertError:
            fail('%s: not a PyTorch (.pth legacy or zip) or .safetensors file' % path)
    else:
        fail('%s: file too short' % path)
    return state_dict_of(obj, path)


def state_dict_of(obj, path):
    if isinstance(obj, dict) and not any(isinstance(v, Tensor) for v in obj.values()):
        for k in ('state_dict', 'model', 'model_state_dict'):
            if isinstance(obj.get(k), dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict):
        fail('%s: the file does not hold a state dict' % path)
    sd = collections.OrderedDict()
    for k, v in obj.items():
        if not isinstance(k, str):
            fail('%s: state dict key of type %s' % (path, type(k).__name__))
        if not isinstance(v, Tensor):
            fail('%s: %s is not a tensor' % (path, k))
        if k.endswith('num_batches_tracked'):
            continue
        v.validate(k)
        sd[k[7:] if k.startswith('module.') else k] = v
    return sd


# ---------------------------------------------------------------- architectures

VGG_CFGS = {
    'vgg11': [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
    'vgg13': [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
    'vgg16': [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
    'vgg19': [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M',
              512, 512, 512, 512, 'M'],
}
# torchvision ResNets: name -> (block, blocks per stage, groups, width_per_group)
RESNETS = {
    'resnet18': ('basic', (2, 2, 2, 2), 1, 64),
    'resnet34': ('basic', (3, 4, 6, 3), 1, 64),
    'resnet50': ('bottleneck', (3, 4, 6, 3), 1, 64),
    'resnet101': ('bottleneck', (3, 4, 23, 3), 1, 64),
    'resnet152': ('bottleneck', (3, 8, 36, 3), 1, 64),
    'resnext50_32x4d': ('bottleneck', (3, 4, 6, 3), 32, 4),
    'resnext101_32x8d': ('bottleneck', (3, 4, 23, 3), 32, 8),
    'resnext101_64x4d': ('bottleneck', (3, 4, 23, 3), 64, 4),
    'wide_resnet50_2': ('bottleneck', (3, 4, 6, 3), 1, 128),
    'wide_resnet101_2': ('bottleneck', (3, 4, 23, 3), 1, 128),
}
SUPPORTED = sorted(list(VGG_CFGS) + [k + '_bn' for k in VGG_CFGS] + ['alexnet']) + list(RESNETS)

HPARAMS = {  # kind: [(key, type)] with type 0 integer, 1 float (docs/format.md)
    'conv2d': [(k, 0) for k in ('in_channels', 'out_channels', 'kernel_h', 'kernel_w', 'stride_h', 'stride_w',
                                'pad_h', 'pad_w', 'dilation_h', 'dilation_w', 'groups', 'bias')],
    'relu': [],
    'maxpool2d': [(k, 0) for k in ('kernel_h', 'kernel_w', 'stride_h', 'stride_w', 'pad_h', 'pad_w',
                                   'dilation_h', 'dilation_w', 'ceil_mode', 'count_include_pad')],
    'adaptive_avgpool2d': [('out_h', 0), ('out_w', 0)],
    'linear': [('in_features', 0), ('out_features', 0), ('bias', 0)],
    'dropout': [('p', 1)],
    'flatten': [],
    'batchnorm2d': [('num_features', 0), ('eps', 1)],
    'add': [],
}
PARAM_SUFFIXES = {'conv2d': ('weight', 'bias'), 'linear': ('weight', 'bias'),
                  'batchnorm2d': ('weight', 'bias', 'running_mean', 'running_var')}

# One layer record (docs/format.md, version 2): inputs are names of earlier
# layers or 'input'; aliases are further names of this layer's output.
Layer = collections.namedtuple('Layer', 'kind name inputs aliases hp')


class Graph:
    def __init__(self, sd):
        self.sd, self.layers, self.used = sd, [], set()
        self.primary = {'input'}    # what an input list may name: layers so far (not aliases)
        self.names = {'input'}      # layer names and aliases so far

    def shape(self, key):
        t = self.sd.get(key)
        return None if t is None else t.size

    def need(self, key, ndim):
        s = self.shape(key)
        if s is None:
            fail('%s is missing from the state dict' % key)
        if len(s) != ndim:
            fail('%s has %d dimensions, expected %d' % (key, len(s), ndim))
        if 0 in s:      # .gcw dimensions are >= 1 (docs/format.md); every other shape follows from these
            fail('%s has shape %s: an empty dimension' % (key, 'x'.join(map(str, s))))
        return s

    def add(self, kind, name, inputs=None, aliases=(), **hp):
        """Appends a layer reading `inputs` (default: the previous layer, or the
        network input for the first one); returns its name."""
        if inputs is None:
            inputs = [self.layers[-1].name if self.layers else 'input']
        # the builders make every name, so a violation of docs/format.md's graph rules is a bug here
        assert inputs and all(i in self.primary for i in inputs), (name, inputs)
        assert not ({name} | set(aliases)) & self.names and len(set(aliases)) == len(aliases), name
        self.primary.add(name)
        self.names |= {name} | set(aliases)
        self.layers.append(Layer(kind, name, list(inputs), list(aliases), hp))
        for suf in PARAM_SUFFIXES.get(kind, ()):
            if suf == 'bias' and not hp.get('bias', 1):
                continue
            self.used.add(name + '.' + suf)
        return name

    def conv(self, name, cin, k, stride=1, pad=0, bias=None, grouped=False, inputs=None):
        """A k x k convolution of cin channels; returns its output channels.
        bias None: as the state dict has it; False: the layout has none (a
        stray bias is then refused by finish()). grouped: the group count is
        cin / weight.shape[1] (else 1)."""
        w = self.need(name + '.weight', 4)
        groups = cin // w[1] if grouped and w[1] and cin % w[1] == 0 else 1
        if w[1] * groups != cin or w[2] != k or w[3] != k:
            fail('%s.weight has shape %s, expected (out, %s, %d, %d)'
                 % (name, 'x'.join(map(str, w)), '%d/groups' % cin if grouped else cin, k, k))
        if w[0] % groups:
            fail('%s.weight: %d groups (%d input channels / %d per group) do not divide %d output channels'
                 % (name, groups, cin, w[1], w[0]))
        if bias is None:
            bias = name + '.bias' in self.sd
        if bias and self.shape(name + '.bias') != (w[0],):
            fail('%s.bias does not match %d output channels' % (name, w[0]))
        self.add('conv2d', name, inputs, in_channels=cin, out_channels=w[0], kernel_h=k, kernel_w=k,
                 stride_h=stride, stride_w=stride, pad_h=pad, pad_w=pad, dilation_h=1, dilation_w=1,
                 groups=groups, bias=int(bias))
        return w[0]

    def linear(self, name, fin):
        w = self.need(name + '.weight', 2)
        if w[1] != fin:
            fail('%s.weight has %d inputs, expected %d' % (name, w[1], fin))
        bias = name + '.bias' in self.sd
        if bias and self.shape(name + '.bias') != (w[0],):
            fail('%s.bias does not match %d outputs' % (name, w[0]))
        self.add('linear', name, in_features=fin, out_features=w[0], bias=int(bias))
        return w[0]

    def bn(self, name, c, inputs=None):
        for s in PARAM_SUFFIXES['batchnorm2d']:
            if self.shape(name + '.' + s) != (c,):
                fail('%s.%s missing or not of shape (%d)' % (name, s, c))
        return self.add('batchnorm2d', name, inputs, num_features=c, eps=1e-5)

    def pool(self, name, k, s, pad=0):
        self.add('maxpool2d', name, kernel_h=k, kernel_w=k, stride_h=s, stride_w=s, pad_h=pad, pad_w=pad,
                 dilation_h=1, dilation_w=1, ceil_mode=0, count_include_pad=1)

    def finish(self):
        extra = [k for k in self.sd if k not in self.used]
        if extra:
            fail('state dict has tensors this architecture does not use: %s' % ', '.join(extra[:8]))


def vgg_conv_indices(cfg, bn):
    idx, out = 0, []
    for v in cfg:
        if v == 'M':
            idx += 1
        else:
            out.append(idx)
            idx += 3 if bn else 2
    return out


def build_vgg(sd, arch):
    bn = arch.endswith('_bn')
    cfg = VGG_CFGS[arch[:-3] if bn else arch]
    g = Graph(sd)
    idx, c = 0, 3
    for v in cfg:
        if v == 'M':
            g.pool('features.%d' % idx, 2, 2)
            idx += 1
            continue
        c = g.conv('features.%d' % idx, c, 3, 1, 1)
        idx += 1
        if bn:
            g.bn('features.%d' % idx, c)
            idx += 1
        g.add('relu', 'features.%d' % idx)
        idx += 1
    g.add('adaptive_avgpool2d', 'avgpool', out_h=7, out_w=7)
    g.add('flatten', 'flatten')
    f = g.linear('classifier.0', c * 49)
    g.add('relu', 'classifier.1')
    g.add('dropout', 'classifier.2', p=0.5)
    f = g.linear('classifier.3', f)
    g.add('relu', 'classifier.4')
    g.add('dropout', 'classifier.5', p=0.5)
    g.linear('classifier.6', f)
    g.finish()
    return g


def build_alexnet(sd):
    g = Graph(sd)
    c = g.conv('features.0', 3, 11, 4, 2)
    g.add('relu', 'features.1')
    g.pool('features.2', 3, 2)
    c = g.conv('features.3', c, 5, 1, 2)
    g.add('relu', 'features.4')
    g.pool('features.5', 3, 2)
    c = g.conv('features.6', c, 3, 1, 1)
    g.add('relu', 'features.7')
    c = g.conv('features.8', c, 3, 1, 1)
    g.add('relu', 'features.9')
    c = g.conv('features.10', c, 3, 1, 1)
    g.add('relu', 'features.11')
    g.pool('features.12', 3, 2)
    g.add('adaptive_avgpool2d', 'avgpool', out_h=6, out_w=6)
    g.add('flatten', 'flatten')
    g.add('dropout', 'classifier.0', p=0.5)
    f = g.linear('classifier.1', c * 36)
    g.add('relu', 'classifier.2')
    g.add('dropout', 'classifier.3', p=0.5)
    f = g.linear('classifier.4', f)
    g.add('relu', 'classifier.5')
    g.linear('classifier.6', f)
    g.finish()
    return g


# ResNet (torchvision v1.5: the stride sits on the 3x3 conv of a Bottleneck).
# Block layerL.B calls its one `relu` module two (BasicBlock) or three
# (Bottleneck) times; call n > 0 is the layer `layerL.B.relu_n`, as torch.fx
# and torch.onnx name repeated calls. The block's final relu is also the output
# of the modules `layerL.B` (and `layerL` for a stage's last block): aliases.

def resnet_blocks(sd, stage):
    """Blocks in stage `stage`: layerL.0, layerL.1, ... as long as they have a
    conv1 (a gap leaves later blocks' tensors unused, refused by finish())."""
    n = 0
    while 'layer%d.%d.conv1.weight' % (stage, n) in sd:
        n += 1
    if n == 0:
        fail('layer%d.0.conv1.weight is missing from the state dict (not a ResNet?)' % stage)
    return n


def resnet_block(g, p, x, cin, stride, bottleneck, aliases):
    """Block p (e.g. 'layer2.0') reading layer x of cin channels. Returns the
    name of its final relu, its output channels and its signature: the conv
    widths (and the 3x3 conv's groups for a Bottleneck)."""
    relu = iter([p + '.relu', p + '.relu_1', p + '.relu_2'])
    if bottleneck:
        w1 = g.conv(p + '.conv1', cin, 1, bias=False, inputs=[x])
        g.bn(p + '.bn1', w1)
        g.add('relu', next(relu))
        w2 = g.conv(p + '.conv2', w1, 3, stride, 1, bias=False, grouped=True)
        groups = g.layers[-1].hp['groups']
        g.bn(p + '.bn2', w2)
        g.add('relu', next(relu))
        cout = g.conv(p + '.conv3', w2, 1, bias=False)
        main = g.bn(p + '.bn3', cout)
        sig = (w1, w2, cout, groups)
    else:
        w1 = g.conv(p + '.conv1', cin, 3, stride, 1, bias=False, inputs=[x])
        g.bn(p + '.bn1', w1)
        g.add('relu', next(relu))
        cout = g.conv(p + '.conv2', w1, 3, 1, 1, bias=False)
        main = g.bn(p + '.bn2', cout)
        sig = (w1, cout)
    identity = x
    if p + '.downsample.0.weight' in g.sd:
        ds = g.conv(p + '.downsample.0', cin, 1, stride, bias=False, inputs=[x])
        if ds != cout:
            fail('%s.downsample.0 has %d output channels, the block %d' % (p, ds, cout))
        identity = g.bn(p + '.downsample.1', ds)
    elif stride != 1 or cin != cout:
        fail('%s changes the shape (stride %d, %d -> %d channels) but the state dict has no '
             '%s.downsample.0.weight' % (p, stride, cin, cout, p))
    g.add('add', p + '.add', [main, identity])
    return g.add('relu', next(relu), aliases=aliases), cout, sig


def resnet_name(bottleneck, blocks, stem, sigs):
    """The torchvision name whose block type, counts, widths and groups match
    exactly, else a descriptive one such as resnet(bottleneck,[3,4,6,3],groups=4).
    sigs: per stage, the list of block signatures (resnet_block)."""
    for name, (kind, counts, groups, wpg) in RESNETS.items():
        if (kind == 'bottleneck') != bottleneck or counts != tuple(blocks) or stem != 64:
            continue
        planes = [64 << s for s in range(4)]
        if bottleneck:
            want = [(q * wpg // 64 * groups,) * 2 + (4 * q, groups) for q in planes]
        else:
            want = [(q, q) for q in planes]
        if all(all(sig == w for sig in stage) for stage, w in zip(sigs, want)):
            return name
    groups = sorted({sig[3] for stage in sigs for sig in stage}) if bottleneck else [1]
    return 'resnet(%s,[%s]%s)' % ('bottleneck' if bottleneck else 'basic', ','.join(map(str, blocks)),
                                  '' if groups == [1] else ',groups=' + '/'.join(map(str, groups)))


def build_resnet(sd, forced=None):
    """Any torchvision-style ResNet: block type from the keys, blocks per stage
    from the layerL.B prefixes, widths, groups and classes from the shapes.
    forced: an --arch name whose block type and block counts must match.
    Returns (architecture name, graph)."""
    if forced is not None and 'layer1.0.conv1.weight' not in sd:
        fail('--arch %s: the state dict has no layer1.0.conv1.weight, so it is not a ResNet; supported: %s '
             '(or leave --arch out to detect the layout)' % (forced, ', '.join(SUPPORTED)))
    bottleneck = 'layer1.0.conv3.weight' in sd
    blocks = [resnet_blocks(sd, s) for s in range(1, 5)]
    if forced is not None:
        kind, counts, _, _ = RESNETS[forced]
        if (kind == 'bottleneck') != bottleneck or tuple(blocks) != counts:
            fail('--arch %s: the state dict has %s blocks %s per stage, %s has %s blocks %s'
                 % (forced, 'bottleneck' if bottleneck else 'basic', blocks, forced, kind, list(counts)))
    g = Graph(sd)
    stem = c = g.conv('conv1', 3, 7, 2, 3, bias=False)
    g.bn('bn1', c)
    g.add('relu', 'relu')
    g.pool('maxpool', 3, 2, 1)
    x, sigs = 'maxpool', []
    for s, n in enumerate(blocks, 1):
        sigs.append([])
        for b in range(n):
            p = 'layer%d.%d' % (s, b)
            aliases = [p, 'layer%d' % s] if b == n - 1 else [p]
            x, c, sig = resnet_block(g, p, x, c, 2 if s > 1 and b == 0 else 1, bottleneck, aliases)
            sigs[-1].append(sig)
    g.add('adaptive_avgpool2d', 'avgpool', out_h=1, out_w=1)
    g.add('flatten', 'flatten')
    g.linear('fc', c)
    g.finish()
    return forced or resnet_name(bottleneck, blocks, stem, sigs), g


def detect_arch(sd):
    """'resnet' (any ResNet layout; build_resnet names it), 'alexnet' or a VGG name."""
    if 'layer1.0.conv1.weight' in sd:
        return 'resnet'
    convs = sorted(int(k.split('.')[1]) for k in sd
                   if k.startswith('features.') and k.endswith('.weight') and k.count('.') == 2
                   and k.split('.')[1].isdigit() and len(sd[k].size) == 4)
    if convs == [0, 3, 6, 8, 10] and 'classifier.1.weight' in sd:
        return 'alexnet'
    for name, cfg in VGG_CFGS.items():
        for bn in (False, True):
            if convs == vgg_conv_indices(cfg, bn) and 'classifier.0.weight' in sd:
                return name + ('_bn' if bn else '')
    fail('unknown layout (conv layers at features.%s); supported: %s (or pass --arch)'
         % (','.join(map(str, convs)) or '<none>', ', '.join(SUPPORTED)))


def build_graph(sd, arch):
    """(architecture name, graph) for --arch, or for the layout detected when arch is None."""
    if arch is None:
        arch = detect_arch(sd)
        if arch == 'resnet':
            return build_resnet(sd)
    if arch in RESNETS:
        return build_resnet(sd, arch)
    if arch == 'alexnet':
        return arch, build_alexnet(sd)
    if arch in SUPPORTED:
        return arch, build_vgg(sd, arch)
    fail('unknown --arch %s; supported: %s' % (arch, ', '.join(SUPPORTED)))


# ---------------------------------------------------------------- preprocessing metadata

# A pixel p (0..255) of channel c, in `order`, becomes (p * scale - mean[c]) / std[c] (docs/format.md).
Preprocess = collections.namedtuple('Preprocess', 'height width resize_shorter order scale mean std')
RGB, BGR = 0, 1
PRESETS = {
    'torchvision': Preprocess(224, 224, 256, RGB, 1.0 / 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    'caffe': Preprocess(224, 224, 256, BGR, 1.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
}
VALUE_OPTIONS = ('--input-size', '--resize-shorter', '--scale', '--mean', '--std', '--max-output-bytes',
                 '--max-inflate-bytes')


def bad_option(opt, val, why):
    fail("%s '%s': %s" % (opt, one_line(val, 80), why))


def parse_size(opt, val, text, what, lo, hi=MAX_INPUT_SIDE):
    if not re.fullmatch(r'-?[0-9]{1,20}', text):
        bad_option(opt, val, "%s '%s' is not an integer" % (what, one_line(text, 40)) if not
                   re.fullmatch(r'-?[0-9]+', text) else '%s must be %d..%d' % (what, lo, hi))
    n = int(text)
    if not lo <= n <= hi:
        bad_option(opt, val, '%s must be %d..%d' % (what, lo, hi))
    return n


def parse_f32(opt, val, text, what, nonzero):
    """text as a float32: finite, representable, non-zero if asked (after rounding)."""
    try:
        if '/' in text and opt == '--scale':
            a, b = text.split('/', 1)
            x = float(a) / float(b)
        else:
            x = float(text)
    except ZeroDivisionError:
        bad_option(opt, val, '%s divides by zero' % what)
    except (ValueError, OverflowError):
        bad_option(opt, val, "%s '%s' is not a number" % (what, one_line(text, 40)))
    if not math.isfinite(x):
        bad_option(opt, val, '%s must be finite' % what)
    try:
        y = struct.unpack('<f', struct.pack('<f', x))[0]
    except OverflowError:
        bad_option(opt, val, '%s is out of the float32 range' % what)
    if nonzero and y == 0.0:
        bad_option(opt, val, '%s must be non-zero (as float32)' % what)
    return y


def parse_triple(opt, val, nonzero):
    parts = val.split(',')
    if len(parts) != 3:
        bad_option(opt, val, 'expected 3 comma-separated numbers, got %d' % len(parts))
    return tuple(parse_f32(opt, val, t.strip(), 'channel %d' % c, nonzero) for c, t in enumerate(parts))


def preprocess_of(a):
    """The preset, then each explicit option. Preset mean/std follow a changed
    colour order (reversed); explicit --mean/--std are in the final order."""
    p = PRESETS[a.preset]
    h, w, rs, order, scale, mean, std = p
    if a.order is not None and a.order != order:
        order, mean, std = a.order, mean[::-1], std[::-1]
    if a.input_size is not None:
        m = re.fullmatch(r'([^xX]*)(?:[xX](.*))?', a.input_size, re.DOTALL)
        hs, ws = m.group(1), m.group(2)
        h = parse_size('--input-size', a.input_size, hs, 'height', 1)
        w = h if ws is None else parse_size('--input-size', a.input_size, ws, 'width', 1)
    if a.resize_shorter is not None:
        rs = parse_size('--resize-shorter', a.resize_shorter, a.resize_shorter, 'size', 0)
    if a.scale is not None:
        scale = parse_f32('--scale', a.scale, a.scale.strip(), 'scale', True)
    if a.mean is not None:
        mean = parse_triple('--mean', a.mean, False)
    if a.std is not None:
        std = parse_triple('--std', a.std, True)
    p = Preprocess(h, w, rs, order, scale, tuple(mean), tuple(std))
    check_pixels(p)
    return p


def f32(x):
    """x rounded to float32 as C does; OverflowError where C gives an infinity."""
    return struct.unpack('<f', struct.pack('<f', x))[0]


def check_pixels(p):
    """Every pixel value 0..255 must preprocess to a finite float32, computed
    as gc_image_preprocess does: v = p / 255 (scale 1/255) or p * scale, then
    (v - mean) / std, each step in float32. The extremes 0 and 255 decide."""
    ts = p.scale == f32(1.0 / 255.0)
    for c in range(3):
        for px in (0.0, 255.0):
            try:
                v = f32(px / 255.0) if ts else f32(px * p.scale)
                f32(f32(v - p.mean[c]) / p.std[c])
            except OverflowError:
                fail('preprocessing would turn pixel value %d of channel %d into infinity: (%g x %g - %g) / %g is '
                     'beyond float32 (check --scale, --mean and --std)'
                     % (px, c, px, p.scale, p.mean[c], p.std[c]))


def join_option_values(argv):
    """'--mean -1,2,3' -> '--mean=-1,2,3': the word after a value option is its
    value even when it starts with '-' (argparse would take it for an option)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == '--':
            return out + argv[i:]
        if argv[i] in VALUE_OPTIONS and i + 1 < len(argv):
            out.append(argv[i] + '=' + argv[i + 1])
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def describe(p):
    crop = 'shorter side %d, centre crop' % p.resize_shorter if p.resize_shorter else 'resized'
    return 'input %dx%d (%s), %s' % (p.height, p.width, crop, 'BGR' if p.order == BGR else 'RGB')


# ---------------------------------------------------------------- .gcw writer

MAGIC = b'\x89GCW\r\n\x1a\n'
GCW_VERSION = 2     # layer records with input and alias lists


def pstr(s):
    b = s.encode('utf-8')
    return struct.pack('<I', len(b)) + b


def pad64(n):
    return (n + 63) & ~63


def write_gcw(path, g, labels, pre):
    graph = bytearray()
    for layer in g.layers:
        graph += pstr(layer.kind) + pstr(layer.name)
        for names in (layer.inputs, layer.aliases):      # version 2: counted lists
            graph += struct.pack('<I', len(names)) + b''.join(pstr(n) for n in names)
        keys = HPARAMS[layer.kind]
        graph += struct.pack('<I', len(keys))
        for key, typ in keys:
            graph += pstr(key) + struct.pack('<I', typ)
            graph += struct.pack('<q', layer.hp[key]) if typ == 0 else struct.pack('<d', layer.hp[key])
    tensors, dirb, off = [], bytearray(), 0
    for layer in g.layers:
        for suf in PARAM_SUFFIXES.get(layer.kind, ()):
            key = layer.name + '.' + suf
            if key not in g.used:
                continue
            t = g.sd[key]
            nb = t.numel() * 4
            dirb += pstr(key) + struct.pack('<II', 0, len(t.size))
            dirb += struct.pack('<4q', *(list(t.size) + [1] * (4 - len(t.size))))
            dirb += struct.pack('<QQ', off, nb)
            tensors.append((key, t, nb))
            off += pad64(nb)
    meta = struct.pack('<iiiI', pre.height, pre.width, pre.resize_shorter, pre.order)
    meta += struct.pack('<7f', pre.scale, *(pre.mean + pre.std))
    meta += struct.pack('<I', len(labels)) + b''.join(pstr(s) for s in labels)
    graph_off = 128
    dir_off = graph_off + len(graph)
    meta_off = dir_off + len(dirb)
    data_off = pad64(meta_off + len(meta))
    n_tensors = len(tensors)
    hdr = MAGIC + struct.pack('<IIQII', GCW_VERSION, 128, data_off + off, len(g.layers), n_tensors)
    hdr += struct.pack('<8Q', graph_off, len(graph), dir_off, len(dirb), meta_off, len(meta), data_off, off)
    hdr += bytes(32)
    tmp = path + '.tmp'
    try:
        with open(tmp, 'wb') as f:
            f.write(hdr + graph + dirb + meta)
            f.write(bytes(data_off - f.tell()))
            for key, t, nb in tensors:
                b = t.f32_bytes(key)
                if len(b) != nb:
                    fail('%s: internal size mismatch' % key)
                f.write(b)
                f.write(bytes(pad64(nb) - nb))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return data_off + off, n_tensors


def read_labels(path, n_classes):
    try:
        with open(path, 'r', encoding='utf-8-sig') as f:     # a byte-order mark is not part of the first label
            lines = f.read().split('\n')
    except (OSError, UnicodeDecodeError) as e:
        fail('%s: cannot read labels (%s)' % (path, e))
    if lines and lines[-1] == '':
        lines.pop()
    labels = [s.rstrip('\r') for s in lines]
    for i, s in enumerate(labels):
        b = s.encode('utf-8')
        if not 1 <= len(b) <= 1023 or any(c < 0x20 for c in b):
            fail('%s: label on line %d must be 1..1023 bytes without control characters' % (path, i + 1))
    if len(labels) != n_classes:
        fail('%s: %d labels for a network with %d outputs' % (path, len(labels), n_classes))
    return labels


def one_line(msg, limit=400):
    """A message as one printable line (names from the file may hold control
    characters), cut to limit characters."""
    s = ''.join(c if c.isprintable() else '\\x%02x' % ord(c) if ord(c) < 256 else '?' for c in str(msg))
    return s if len(s) <= limit else s[:limit] + '...'


class ArgParser(argparse.ArgumentParser):
    """Usage errors as one 'gcw_convert: error:' line and status 1, like every other error."""
    def error(self, message):
        raise ConvertError('%s (see --help)' % message)


HELP_EPILOG = '''preprocessing metadata (read back by gc_model_preprocess):
  A pixel value p (0..255) of channel c, after reordering to the colour order,
  becomes (p * scale - mean[c]) / std[c]. The image's shorter side is resized
  to --resize-shorter, then the centre H x W is cropped (0: resized straight
  to H x W). The preset gives every field; each explicit option overrides one.
  torchvision: 224x224, shorter side 256, RGB, scale 1/255,
               mean 0.485,0.456,0.406, std 0.229,0.224,0.225
  caffe:       224x224, shorter side 256, BGR, scale 1,
               mean 103.939,116.779,123.68 (BGR mean pixel), std 1,1,1
  --bgr/--rgb against the preset's order reverses the preset's mean and std
  (same per-colour values); --mean and --std are taken in the final order.
  Checked before anything is read or written: sizes 1..65536
  (--resize-shorter 0..65536, the sizes gc_image_preprocess takes), scale
  finite and non-zero, mean finite, std finite and non-zero, all
  representable as float32, and every pixel value 0..255 must come out
  finite. A value starting with '-' may follow its option (--mean -1,0,1).

limits (docs/security.md):
  --max-output-bytes N  most float32 tensor data written; default: 4 bytes per
                        element of the distinct storages the tensors view, so
                        tensors sharing one storage cannot multiply it
  --max-inflate-bytes N most data inflated from compressed zip members, all
                        together (default 64 MiB; torch.save never compresses)
  The output may not be the input or the labels file.'''


def parse_limit(opt, text):
    if text is None:
        return None
    if not re.fullmatch(r'[0-9]{1,19}', text) or not 1 <= int(text) < 1 << 63:
        bad_option(opt, text, 'a byte count 1..2^63-1 expected')
    return int(text)


def check_paths(a):
    """The output (and its temporary name) may not be the input or the labels
    file: writing it would destroy what is being read."""
    for src, what in ((a.input, 'input'), (a.labels, 'labels file')):
        for dst in (a.output, a.output + '.tmp'):
            if not src:
                continue
            try:
                same = os.path.samefile(src, dst)
            except OSError:      # one of them does not exist (yet)
                same = os.path.abspath(src) == os.path.abspath(dst)
            if same:
                fail('%s: the output %s %s the %s; refusing to write over it'
                     % (src, a.output, 'is' if dst == a.output else 'would be written as %s, which is' % dst, what))


def check_output_size(g, cap):
    """Refuses before writing when the tensors would write more float32 data
    than cap (default: 4 bytes per element of the distinct storages they view:
    each stored element at most once). Returns the bytes that will be written."""
    used = [g.sd[k] for k in sorted(g.used)]
    written = sum(4 * t.numel() for t in used)
    roots = {id(t.storage.root): t.storage.root for t in used}
    present = 4 * sum(r.numel for r in roots.values())
    limit = present if cap is None else cap
    if written > limit:
        if cap is None:
            fail('the %d tensors would write %d bytes of float32 data, but the %d distinct storages they view hold '
                 '%d elements (%d bytes as float32): tensors overlap in a shared storage (--max-output-bytes N '
                 'allows up to N bytes)' % (len(used), written, len(roots), present // 4, present))
        fail('the %d tensors would write %d bytes of float32 data, more than --max-output-bytes %d'
             % (len(used), written, cap))
    return written


def main(argv):
    ap = ArgParser(
        prog='gcw_convert.py', formatter_class=argparse.RawDescriptionHelpFormatter, epilog=HELP_EPILOG,
        description='Convert a torchvision VGG/AlexNet/ResNet checkpoint (.pth legacy or zip, .safetensors) '
                    'to .gcw (version 2). Supported architectures: ' + ', '.join(SUPPORTED) + ', and any other '
                    'ResNet layout of BasicBlocks or Bottlenecks; detected from the keys and shapes.')
    ap.add_argument('input', help='state dict: torch.save file (.pth) or .safetensors')
    ap.add_argument('output', help='.gcw file to write')
    ap.add_argument('--arch', help='architecture (default: detected from the keys and shapes); for a ResNet '
                    'name, the block type and blocks per stage must match')
    ap.add_argument('--labels', help='text file with one class name per line, in output order')
    ap.add_argument('--preset', choices=sorted(PRESETS), default='torchvision',
                    help='preprocessing the model was trained with (default: torchvision)')
    ap.add_argument('--input-size', metavar='H[xW]', help='network input (crop) size; H alone: H x H')
    ap.add_argument('--resize-shorter', metavar='N', help='shorter side before the centre crop; 0: resize to H x W')
    order = ap.add_mutually_exclusive_group()
    order.add_argument('--bgr', dest='order', action='store_const', const=BGR, help='input channels in BGR order')
    order.add_argument('--rgb', dest='order', action='store_const', const=RGB, help='input channels in RGB order')
    ap.add_argument('--scale', metavar='S', help='factor applied to 0..255 pixels first (a number or A/B, e.g. 1/255)')
    ap.add_argument('--mean', metavar='A,B,C', help='per-channel mean, subtracted after scaling')
    ap.add_argument('--std', metavar='A,B,C', help='per-channel divisor, non-zero')
    ap.add_argument('--max-output-bytes', metavar='N', help='most float32 tensor data to write (see below)')
    ap.add_argument('--max-inflate-bytes', metavar='N', help='most data to inflate from compressed zip members')
    try:
        a = ap.parse_args(join_option_values(list(argv)))
        pre = preprocess_of(a)
        max_out = parse_limit('--max-output-bytes', a.max_output_bytes)
        max_inflate = parse_limit('--max-inflate-bytes', a.max_inflate_bytes)
        check_paths(a)
        if onnx_import.is_onnx(a.input):
            arch, g = onnx_import.build_graph(a.input, (pre.height, pre.width) if a.input_size else None)
            pre = onnx_import.preprocess_for(pre, g, a.input_size is not None, a.resize_shorter is not None)
            onnx_import.register(HPARAMS, PARAM_SUFFIXES)
            n_classes = g.n_classes
        else:
            sd = read_checkpoint(a.input, DEFAULT_MAX_INFLATE if max_inflate is None else max_inflate)
            arch, g = build_graph(sd, a.arch)
            n_classes = g.layers[-1].hp['out_features']
        labels = read_labels(a.labels, n_classes) if a.labels else []
        check_output_size(g, max_out)
        size, nt = write_gcw(a.output, g, labels, pre)
    except onnx_import.OnnxError as e:  # may list many operators: a longer line
        print('gcw_convert: error: %s' % one_line(e, 4000), file=sys.stderr)
        return 1
    except ConvertError as e:
        print('gcw_convert: error: %s' % one_line(e), file=sys.stderr)
        return 1
    except OSError as e:
        print('gcw_convert: error: %s' % one_line(e), file=sys.stderr)
        return 1
    except MemoryError:
        print('gcw_convert: error: out of memory', file=sys.stderr)
        return 1
    except Exception as e:  # malformed input that slipped past the checks: still one line, status 1
        print('gcw_convert: error: malformed input (%s: %s)' % (type(e).__name__, one_line(e, 200)), file=sys.stderr)
        return 1
    params = sum(g.sd[k].numel() for k in g.used)
    print('%s: %s, %d layers, %d tensors, %d parameters, %d classes%s, %s, %d bytes'
          % (a.output, arch, len(g.layers), nt, params, n_classes,
             ' (labelled)' if labels else '', describe(pre), size))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
