#!/usr/bin/env python3
"""convert_mutations.py - hostile and mutated inputs through tools/gcw_convert.py.

usage: convert_mutations.py [--workdir DIR] [--mutations N] [--seed S] [--only CATS] [--fork] [-v]

Builds every input on the fly (standard library only, nothing committed):
  globals     pickles that name forbidden globals (os.system, builtins.eval,
              subprocess.Popen, posix/nt.system, __builtin__ in protocols 0-2,
              torch internals off the allow-list, dotted-name tricks), called
              through GLOBAL and STACK_GLOBAL + REDUCE, INST, OBJ, NEWOBJ,
              NEWOBJ_EX, BUILD, in the legacy and the zip layout
  pickle      nesting bombs, huge memo indices, absurd string/bytes/frame
              lengths, persistent-id abuse, BUILD tricks on allowed objects
  storage     lying storage sizes: storages shorter than the view, negative or
              huge sizes/strides/offsets, zero-stride amplification, non-int
              fields, missing and compressed (zip bomb) entries
  zip         lying local/central sizes, truncated archives, bombs
  safetensors bad JSON, huge header lengths, offsets past the end, overlaps
  truncation  the committed fixtures cut at many lengths
  limits      the converter's bounds (issue 14): tensors sharing one deflated
              storage, a member inflating past its declared size with the CRC
              of the declared prefix, deflated members over the total inflate
              limit, dictionaries, sets and OrderedDicts of keys that collide
              in a hash table (3 s limit), BUILD on every allow-listed global,
              a 17 MB safetensors header; each refused with a given message
  accepted    inputs the limits must convert (deflated members, a state dict
              inside a training checkpoint, Python 2's OrderedDict of pairs)
  mutation    N seeded random mutations (bit flips, byte edits, insertions,
              deletions; zip structure: declared sizes, CRCs, deflated members
              with junk after their data) of the committed fixtures and of
              generated seeds: pickles, zip members, safetensors headers, raw
              bytes; one in four with a random --max-output-bytes
Each case runs the converter's main() in this process under a 20 s alarm
(a few per category also as a real `python3 gcw_convert.py` subprocess with a
timeout; with --fork every case in a forked child, whose peak memory is
reported). Hostile cases must end with status 1 and exactly one stderr line
"gcw_convert: error: ..."; random mutations may also convert (status 0), and
then the tensor data written may not exceed twice the storage bytes present
(float32 from 2-byte elements at most), or the --max-output-bytes given. A payload that ran would create
DIR/gcw_pwned_marker, checked after every case. Prints one line per category
and exits 1 on any failure. The campaign of docs/security.md:
  python3 tests/convert_mutations.py --fork --mutations 10000 --seed 14
"""
import argparse
import contextlib
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONVERTER = os.path.join(ROOT, 'tools', 'gcw_convert.py')
FIX = os.path.join(ROOT, 'tests', 'data', 'models')
sys.path.insert(0, os.path.join(ROOT, 'tools'))
import gcw_convert  # noqa: E402

MARKER = 'gcw_pwned_marker'
TIMEOUT = 20


class Hang(BaseException):
    """Raised by the alarm; a BaseException so the converter cannot swallow it."""


# ---------------------------------------------------------------- pickle opcodes

def uni(s):  # BINUNICODE
    b = s.encode('utf-8')
    return b'X' + struct.pack('<I', len(b)) + b


def i64(v):  # LONG1, 8 bytes
    return b'\x8a\x08' + struct.pack('<q', v)


def glob(m, n):  # GLOBAL (protocol 0-3)
    return b'c' + m.encode() + b'\n' + n.encode() + b'\n'


def sglob(m, n):  # STACK_GLOBAL (protocol 4)
    return uni(m) + uni(n) + b'\x93'


def p2(body):
    return b'\x80\x02' + body + b'.'


def call_variants(mod, name, arg):
    """(label, pickle) calling mod.name(arg) in every way the format allows."""
    a0 = b"S'" + arg.replace('\\', '\\\\').replace("'", "\\'").encode() + b"'\n"  # protocol 0 STRING
    a2 = uni(arg)
    return [
        ('p0-GLOBAL-REDUCE', glob(mod, name) + b'(' + a0 + b'tR.'),
        ('p1-GLOBAL-REDUCE', glob(mod, name) + b'(' + a2 + b'tR.'),
        ('p2-GLOBAL-REDUCE', p2(glob(mod, name) + a2 + b'\x85R')),
        ('p4-STACK_GLOBAL-REDUCE', b'\x80\x04' + sglob(mod, name) + a2 + b'\x85R.'),
        ('p0-INST', b'(' + a0 + b'i' + mod.encode() + b'\n' + name.encode() + b'\n.'),
        ('p1-OBJ', b'(' + glob(mod, name) + a2 + b'o.'),
        ('p2-NEWOBJ', p2(glob(mod, name) + a2 + b'\x85\x81')),
        ('p4-NEWOBJ_EX', b'\x80\x04' + sglob(mod, name) + a2 + b'\x85}\x92.'),
        # hidden as a value of a state dict next to a plausible key
        ('p2-in-dict', p2(b'}' + uni('features.0.weight') + glob(mod, name) + a2 + b'\x85Rs')),
        # as the state of a BUILD on an allowed OrderedDict
        ('p2-BUILD-state', p2(glob('collections', 'OrderedDict') + b')R' + glob(mod, name) + a2 + b'\x85Rb')),
    ]


FORBIDDEN = [
    ('os', 'system'), ('posix', 'system'), ('nt', 'system'), ('os', 'popen'), ('os', 'execv'),
    ('builtins', 'eval'), ('builtins', 'exec'), ('builtins', 'compile'), ('builtins', '__import__'),
    ('builtins', 'getattr'), ('builtins', 'open'), ('builtins', 'setattr'),
    ('__builtin__', 'eval'), ('__builtin__', 'exec'), ('__builtin__', '__import__'),
    ('subprocess', 'Popen'), ('subprocess', 'call'), ('subprocess', 'check_output'), ('subprocess', 'run'),
    ('torch', 'load'), ('torch.serialization', 'load'), ('torch.storage', '_load_from_bytes'),
    ('torch._C', '_set_grad_enabled'), ('torch._C', '_load_for_lite_interpreter'), ('torch.jit', 'load'),
    ('torch._utils', '_rebuild_device_tensor_from_numpy'), ('torch._utils', '_rebuild_qtensor'),
    ('torch._utils', '_rebuild_wrapper_subclass'), ('torch._tensor', '_rebuild_from_type'),
    ('torch', '_utils._rebuild_tensor'), ('torch._utils ', '_rebuild_tensor'), ('Torch._utils', '_rebuild_tensor'),
    ('torch._utils', '_rebuild_tensor.__globals__'), ('torch.nn.parameter', 'Parameter.__init__'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy', 'frombuffer'), ('copyreg', '_reconstructor'),
    ('copy_reg', '_reconstructor'), ('functools', 'partial'), ('operator', 'attrgetter'),
    ('operator', 'methodcaller'), ('pickle', 'loads'), ('_pickle', 'loads'), ('codecs', 'decode'),
    ('shutil', 'rmtree'), ('importlib', 'import_module'), ('types', 'FunctionType'), ('sys', 'exit'),
    ('collections', 'namedtuple'), ('collections', 'defaultdict'), ('webbrowser', 'open'), ('pty', 'spawn'),
]


def payload_for(mod, name):
    if name in ('eval', 'exec', 'compile'):
        return "open(%r, 'w').close()" % MARKER
    return 'touch ' + MARKER


# ---------------------------------------------------------------- containers

LEGACY_HEAD = (p2(b'\x8a\x0a' + gcw_convert.LEGACY_MAGIC.to_bytes(10, 'little'))
               + p2(b'M' + struct.pack('<H', gcw_convert.LEGACY_PROTOCOL))
               + p2(b'}' + uni('little_endian') + b'\x88s'))


def legacy(obj_pkl, keys=(), storages=b''):
    """A legacy torch.save file: magic, protocol, sys info, the object, the
    storage key list, then raw storages (8-byte count + data each)."""
    keylist = p2(b']' + b''.join(uni(k) + b'a' for k in keys))
    return LEGACY_HEAD + obj_pkl + keylist + storages


def zipped(pkl, members=(), compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', compress) as z:
        z.writestr('archive/data.pkl', pkl)
        z.writestr('archive/byteorder', 'little')
        for name, data in members:
            z.writestr('archive/data/' + name, data)
        z.writestr('archive/version', '3\n')
    return buf.getvalue()


def storage_pid(numel, key='0', stype='FloatStorage', view=None):
    v = b''
    if view is not None:
        v = b'(' + uni(view[0]) + i64(view[1]) + i64(view[2]) + b't'
    return (b'(' + uni('storage') + glob('torch', stype) + uni(key) + uni('cpu') + i64(numel) + v + b'tQ')


def tensor(numel, size, stride, offset=0, key='0', stype='FloatStorage', raw_size=None, raw_stride=None,
           raw_offset=None, view=None):
    sz = raw_size if raw_size is not None else b'(' + b''.join(map(i64, size)) + b't'
    st = raw_stride if raw_stride is not None else b'(' + b''.join(map(i64, stride)) + b't'
    of = raw_offset if raw_offset is not None else i64(offset)
    return (glob('torch._utils', '_rebuild_tensor_v2') + b'(' + storage_pid(numel, key, stype, view) + of + sz + st +
            b'\x89' + glob('collections', 'OrderedDict') + b')RtR')


def sd_pkl(*items):
    """A state dict pickle {name: tensor_pickle, ...}."""
    return p2(b'}' + b''.join(uni(k) + v + b's' for k, v in items))


def safetensors(header, data=b'', raw_len=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack('<Q', len(h) if raw_len is None else raw_len) + h + data


# ---------------------------------------------------------------- cases

def globals_cases():
    out = []
    for mod, name in FORBIDDEN:
        for label, pkl in call_variants(mod, name, payload_for(mod, name)):
            out.append(('%s.%s %s legacy' % (mod, name, label), legacy(pkl), '.pth'))
            out.append(('%s.%s %s zip' % (mod, name, label), zipped(pkl), '.pth'))
    return out


def pickle_cases():
    deep = 20000
    c = [
        ('nested lists', p2(b']' * deep + b'a' * (deep - 1))),
        ('nested tuples via MARK', p2(b'(' * deep + b't' * deep)),
        ('nested dicts', p2(b'}' + (uni('a') + b'}') * deep + b's' * deep)),
        ('nested list in dict value', p2(b'}' + uni('features.0.weight') + b']' * deep + b'a' * (deep - 1) + b's')),
        ('MARK bomb unclosed', p2(b'(' * 100000)),
        ('LONG_BINPUT 0xffffffff', p2(b'N' + b'r' + struct.pack('<I', 0xffffffff))),
        ('BINPUT 255 on first op', p2(b'Nq\xff')),
        ('PUT proto0 huge', b'Np99999999999999999999\n.'),
        ('PUT proto0 negative', b'Np-5\n.'),
        ('LONG_BINGET 0xffffffff', p2(b'j' + struct.pack('<I', 0xffffffff))),
        ('GET unset', p2(b'h\x07')),
        ('BINBYTES8 2^62', b'\x80\x04\x8e' + struct.pack('<Q', 1 << 62) + b'.'),
        ('BINUNICODE8 2^40', b'\x80\x04\x8d' + struct.pack('<Q', 1 << 40) + b'.'),
        ('BYTEARRAY8 2^40', b'\x80\x05\x96' + struct.pack('<Q', 1 << 40) + b'.'),
        ('FRAME 2^40', b'\x80\x04\x95' + struct.pack('<Q', 1 << 40) + b'N.'),
        ('LONG4 2^31-1', p2(b'\x8b' + struct.pack('<i', 0x7fffffff))),
        ('LONG4 negative', p2(b'\x8b' + struct.pack('<i', -5))),
        ('BINSTRING negative', p2(b'T' + struct.pack('<i', -1))),
        ('BINUNICODE 0xffffffff', p2(b'X' + struct.pack('<I', 0xffffffff))),
        ('proto0 LONG 100000 digits', b'L' + b'9' * 100000 + b'L\n.'),
        ('proto0 INT 100000 digits', b'I' + b'9' * 100000 + b'\n.'),
        ('proto0 FLOAT junk', b'Fnan\n.'),
        ('protocol 99', b'\x80\x63N.'),
        ('unknown opcode', p2(b'\xff')),
        ('empty pickle', b''),
        ('STOP only', b'.'),
        ('stack underflow', p2(b'R')),
        ('PERSID text', b'P0\n.'),
        ('BINPERSID not a tuple', p2(uni('storage') + b'Q')),
        ('BINPERSID short tuple', p2(b'(' + uni('storage') + b'tQ')),
        ('BINPERSID numel -1', p2(storage_pid(-1))),
        ('BINPERSID numel 2^62', p2(storage_pid(1 << 62))),
        ('BINPERSID type os.system', p2(b'(' + uni('storage') + glob('os', 'system') + uni('0') + uni('cpu') +
                                        i64(4) + b'tQ')),
        ('BINPERSID nested view key', p2(b'(' + uni('storage') + glob('torch', 'FloatStorage') + uni('0') +
                                         uni('cpu') + i64(4) + b'(' + b']' * deep + b'a' * (deep - 1) + i64(2) +
                                         i64(9) + b'ttQ')),
        ('BINPERSID same key two types', sd_pkl(('a', tensor(4, [4], [1])),
                                                ('b', tensor(4, [4], [1], stype='DoubleStorage')))),
        ('EXT1', p2(b'\x82\x01')),
        ('EXT4', p2(b'\x84' + struct.pack('<I', 0x7fffffff))),
        ('BUILD on a storage type', p2(glob('torch', 'FloatStorage') + b'}' + uni('dtype') + uni('x') + b's' + b'b')),
        ('BUILD slot state on OrderedDict', p2(glob('collections', 'OrderedDict') + b')R' + b'N}' + uni('items') +
                                               glob('torch._utils', '_rebuild_tensor') + b's\x86b')),
        ('BUILD __class__ on OrderedDict', p2(glob('collections', 'OrderedDict') + b')R' + b'N}' + uni('__class__') +
                                              glob('torch', 'Tensor') + b's\x86b')),
        ('BUILD on a tensor', p2(b'}' + uni('w') + tensor(4, [4], [1]) + b'}' + uni('x') + b'Ksbs')),
        ('REDUCE on a marker', p2(glob('torch', 'Tensor') + b')R')),
        ('REDUCE on a storage type', p2(glob('torch', 'FloatStorage') + b')R')),
        ('_rebuild_from_type_v2 with OrderedDict', p2(glob('torch._tensor', '_rebuild_from_type_v2') + b'(' +
                                                      glob('collections', 'OrderedDict') + glob('torch', 'Tensor') +
                                                      b')}tR')),
        ('_rebuild_parameter of a dict', p2(glob('torch._utils', '_rebuild_parameter') + b'(}\x89tR')),
        ('_rebuild_tensor no args', p2(glob('torch._utils', '_rebuild_tensor') + b')R')),
        ('OrderedDict with 1e6 args', p2(glob('collections', 'OrderedDict') + b'(' + b'N' * 100000 + b'tR')),
        ('dict key is a tensor', sd_pkl()[:-2] + tensor(4, [4], [1]) + b'Ks.'),
        ('state dict of ints', sd_pkl(('features.0.weight', b'K\x05'))),
        ('wrong magic legacy', p2(b'K\x05') + p2(b'K\x05')),
        ('key with newline', sd_pkl(('a\nTraceback (most recent call last):\n  x', b'K\x05'))),
        ('key with escape codes', sd_pkl(('\x1b[2J\x1b[31mred', b'K\x05'))),
        ('key of 10 MB', sd_pkl(('k' * (10 << 20), b'K\x05'))),
    ]
    out = []
    for label, pkl in c:
        out.append((label + ' (zip)', zipped(pkl), '.pth'))
        out.append((label + ' (legacy)', legacy(pkl), '.pth'))
    out.append(('bare pickle bomb as first legacy pickle', p2(b']' * deep + b'a' * (deep - 1)), '.pth'))
    return out


def storage_cases():
    w = 'features.0.weight'
    z40 = b'\0' * 40
    one = lambda t, data=z40, key='0': zipped(sd_pkl((w, t)), [(key, data)])  # noqa: E731
    c = [
        ('storage shorter than claimed', one(tensor(10, [10], [1]), b'\0' * 12)),
        ('storage longer than claimed', one(tensor(10, [10], [1]), b'\0' * 44)),
        ('view past storage by offset', one(tensor(10, [5], [1], offset=8))),
        ('view past storage by stride', one(tensor(10, [4, 4], [4, 1]))),
        ('negative offset', one(tensor(10, [5], [1], offset=-1))),
        ('negative size', one(tensor(10, [-5], [1]))),
        ('negative stride', one(tensor(10, [5], [-1], offset=9))),
        ('huge stride 2^62', one(tensor(10, [2, 2], [1 << 62, 1]))),
        ('huge offset 2^62', one(tensor(10, [1], [1], offset=1 << 62))),
        ('huge size 2^40 x 2^40', one(tensor(10, [1 << 40, 1 << 40], [0, 0]))),
        ('zero-stride amplification 2^30', one(tensor(1, [1 << 15, 1 << 15], [0, 0]), b'\0' * 4)),
        ('zero-stride amplification on 10', one(tensor(10, [64, 3, 11, 11], [0, 0, 0, 1]))),
        ('overflowing size product', one(tensor(10, [1 << 32, 1 << 32, 1 << 32], [1, 1, 1]))),
        ('size is a float', one(tensor(10, None, [1], raw_size=b'(G@\x14\x00\x00\x00\x00\x00\x00t'))),
        ('size is bool', one(tensor(10, None, [1], raw_size=b'(\x88t'))),
        ('size is a string', one(tensor(10, None, [1], raw_size=uni('abc')))),
        ('size is an int', one(tensor(10, None, [1], raw_size=b'K\x05'))),
        ('size 9 dims', one(tensor(10, [1] * 9, [1] * 9))),
        ('size and stride lengths differ', one(tensor(10, [2, 5], [1]))),
        ('offset is None', one(tensor(10, [5], [1], raw_offset=b'N'))),
        ('storage numel 2^40', one(tensor(1 << 40, [1], [1]))),
        ('storage numel -1', one(tensor(-1, [1], [1]))),
        ('storage missing from archive', one(tensor(10, [10], [1]), key='1')),
        ('integer storage as weight', one(tensor(10, [10], [1], stype='LongStorage'), b'\0' * 80)),
        ('legacy view past root', zipped(sd_pkl((w, tensor(10, [2], [1], view=('v', 8, 5)))), [('0', z40)])),
        ('legacy view negative', zipped(sd_pkl((w, tensor(10, [2], [1], view=('v', -1, 2)))), [('0', z40)])),
        ('two tensors share a storage past its end',
         zipped(sd_pkl((w, tensor(10, [10], [1])), ('features.0.bias', tensor(10, [4], [1], offset=7))),
                [('0', z40)])),
    ]
    # a whole AlexNet-shaped state dict whose tensors are zero-stride views of
    # one float: a 2 KB file that would expand to ~400 MB of .gcw
    a = 1 << 18
    shapes = [('features.0', (a, 3, 11, 11)), ('features.3', (1, a, 5, 5)), ('features.6', (1, 1, 3, 3)),
              ('features.8', (1, 1, 3, 3)), ('features.10', (1, 1, 3, 3)), ('classifier.1', (1, 36)),
              ('classifier.4', (1, 1)), ('classifier.6', (10, 1))]
    items = []
    for layer, shp in shapes:
        items.append((layer + '.weight', tensor(1, list(shp), [0] * len(shp))))
        items.append((layer + '.bias', tensor(1, [shp[0]], [0])))
    c.append(('zero-stride AlexNet amplification', zipped(sd_pkl(*items), [('0', b'\0' * 4)])))
    out = [(label, data, '.pth') for label, data in c]
    # legacy: storage payload count and length lies
    lw = sd_pkl((w, tensor(10, [10], [1])))
    out += [
        ('legacy storage count mismatch', legacy(lw, ['0'], struct.pack('<q', 11) + b'\0' * 44), '.pth'),
        ('legacy storage count 2^62', legacy(lw, ['0'], struct.pack('<q', 1 << 62)), '.pth'),
        ('legacy storage count negative', legacy(lw, ['0'], struct.pack('<q', -1)), '.pth'),
        ('legacy storage truncated', legacy(lw, ['0'], struct.pack('<q', 10) + b'\0' * 39), '.pth'),
        ('legacy key never referenced', legacy(lw, ['0', '7'], struct.pack('<q', 10) + z40), '.pth'),
        ('legacy key list not strings', legacy(lw)[:-len(p2(b']'))] + p2(b']K\x05a'), '.pth'),
        ('legacy no key list', LEGACY_HEAD + lw, '.pth'),
        ('legacy claims 2^32 floats in a tiny file', legacy(sd_pkl((w, tensor(1 << 32, [1], [1]))), ['0'],
                                                          struct.pack('<q', 1 << 32)), '.pth'),
        ('legacy big-endian', p2(b'\x8a\x0a' + gcw_convert.LEGACY_MAGIC.to_bytes(10, 'little')) +
         p2(b'M' + struct.pack('<H', 1001)) + p2(b'}' + uni('little_endian') + b'\x89s') + lw, '.pth'),
    ]
    return out


def patch_zip_sizes(data, member, file_size=None, compress_size=None):
    """Rewrites the sizes of one member in both its local header and the
    central directory (CRC left alone)."""
    b = bytearray(data)
    name = member.encode()
    i = 0
    while True:
        i = b.find(b'PK\x03\x04', i)
        if i < 0:
            break
        n, m = struct.unpack_from('<HH', b, i + 26)
        if bytes(b[i + 30:i + 30 + n]) == name:
            if compress_size is not None:
                struct.pack_into('<I', b, i + 18, compress_size)
            if file_size is not None:
                struct.pack_into('<I', b, i + 22, file_size)
        i += 4
    i = 0
    while True:
        i = b.find(b'PK\x01\x02', i)
        if i < 0:
            break
        n = struct.unpack_from('<H', b, i + 28)[0]
        if bytes(b[i + 46:i + 46 + n]) == name:
            if compress_size is not None:
                struct.pack_into('<I', b, i + 20, compress_size)
            if file_size is not None:
                struct.pack_into('<I', b, i + 24, file_size)
        i += 4
    return bytes(b)


def zip_cases():
    w = 'features.0.weight'
    pk = sd_pkl((w, tensor(10, [10], [1])))
    good = zipped(pk, [('0', b'\0' * 40)])
    big = 17 << 20  # floats: 68 MB, above the converter's 64 MB inflate limit
    bomb = zipped(sd_pkl((w, tensor(big, [big], [1]))), [('0', bytes(big * 4))], zipfile.ZIP_DEFLATED)
    pbomb = zipped(b'\x80\x02' + b'N0' * (40 << 20) + b'N.', (), zipfile.ZIP_DEFLATED)  # 160 MB data.pkl
    lie = zipped(b'\x80\x02' + b'N0' * (4 << 20) + b'N.', (), zipfile.ZIP_DEFLATED)
    out = [
        ('deflated storage bomb 68 MB', bomb),
        ('deflated data.pkl of 160 MB', pbomb),
        ('data.pkl inflates past its claimed size', patch_zip_sizes(lie, 'archive/data.pkl', file_size=100)),
        ('data.pkl claims 0xffffffff bytes', patch_zip_sizes(good, 'archive/data.pkl', file_size=0xffffffff)),
        ('storage claims 2^31 bytes', patch_zip_sizes(good, 'archive/data/0', file_size=0x80000000)),
        ('storage compress size past the end', patch_zip_sizes(good, 'archive/data/0', compress_size=0x7fffffff)),
        ('storage sizes agree, data short', patch_zip_sizes(good, 'archive/data/0', file_size=40, compress_size=20)),
        ('two data.pkl', zipped(pk, [('../data.pkl', pk)]).replace(b'archive/data/../data.pkl', b'archivx/data.pkl')),
        ('no data.pkl', zipped(pk).replace(b'data.pkl', b'data.pkx')),
        ('big-endian byteorder', zipped(pk, [('0', b'\0' * 40)]).replace(b'little', b'big\n\n\n')),
        ('central directory cut', good[:good.rfind(b'PK\x01\x02')]),
        ('end record only', good[good.rfind(b'PK\x05\x06'):]),
        ('end record says 65535 entries', good[:-22] + good[-22:-12] + struct.pack('<HH', 65535, 65535) +
         good[-8:]),
    ]
    for cut in sorted({1, 2, 3, 4, 10, 29, 30, 31, 60, 100} | {len(good) * k // 23 for k in range(1, 23)}):
        out.append(('small zip cut at %d' % cut, good[:cut]))
    return [(label, data, '.pth') for label, data in out]


def safetensors_cases():
    e = {'dtype': 'F32', 'shape': [2, 2], 'data_offsets': [0, 16]}
    h = lambda **kw: {'features.0.weight': dict(e, **kw)}  # noqa: E731
    d16 = b'\0' * 16
    c = [
        ('header length 2^63', safetensors(h(), d16, raw_len=1 << 63)),
        ('header length 2^64-1', safetensors(h(), d16, raw_len=(1 << 64) - 1)),
        ('header length past the end', safetensors(h(), d16, raw_len=10 ** 6)),
        ('header length 0', safetensors(b'', d16)),
        ('header length into the data', safetensors(h(), d16, raw_len=len(json.dumps(h())) + 8)),
        ('only 7 bytes', b'\x10\0\0\0\0\0\0'),
        ('bad JSON', safetensors(b'{"features.0.weight": {', d16)),
        ('JSON not UTF-8', safetensors(b'{"\xff\xfe": 1}', d16)),
        ('JSON array', safetensors(b'[1, 2, 3]', d16)),
        ('JSON nesting bomb', safetensors(b'[' * 100000 + b']' * 100000, d16)),
        ('JSON object nesting bomb', safetensors(b'{"a":' * 100000 + b'1' + b'}' * 100000, d16)),
        ('JSON 100000-digit integer', safetensors(('{"w": {"dtype": "F32", "shape": [%s], "data_offsets": [0, 4]}}'
                                                   % ('9' * 100000)).encode(), d16)),
        ('JSON NaN offsets', safetensors(b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [NaN, 4]}}', d16)),
        ('offsets past the end', safetensors(h(data_offsets=[0, 1 << 40]), d16)),
        ('offsets reversed', safetensors(h(data_offsets=[16, 0]), d16)),
        ('offsets negative', safetensors(h(data_offsets=[-16, 0]), d16)),
        ('offsets float', safetensors(h(data_offsets=[0.0, 16.0]), d16)),
        ('offsets disagree with shape', safetensors(h(data_offsets=[0, 12]), d16)),
        ('offsets three values', safetensors(h(data_offsets=[0, 8, 16]), d16)),
        ('overlapping tensors', safetensors({'features.0.weight': e, 'features.0.bias': dict(e, shape=[2],
                                             data_offsets=[8, 16])}, d16)),
        ('shape negative', safetensors(h(shape=[-2, -2]), d16)),
        ('shape huge', safetensors(h(shape=[1 << 40, 1 << 40], data_offsets=[0, 16]), d16)),
        ('shape 9 dims', safetensors(h(shape=[1] * 9, data_offsets=[0, 4]), d16)),
        ('shape not a list', safetensors(h(shape='2x2'), d16)),
        ('dtype unknown', safetensors(h(dtype='F128'), d16)),
        ('dtype a list', safetensors(h(dtype=['F32']), d16)),
        ('integer dtype weight', safetensors(h(dtype='I32'), d16)),
        ('entry not an object', safetensors({'features.0.weight': [1, 2]}, d16)),
        ('entry extra key', safetensors(h(extra=1), d16)),
        ('entry missing key', safetensors({'features.0.weight': {'dtype': 'F32', 'shape': [4]}}, d16)),
        ('metadata only', safetensors({'__metadata__': {'format': 'pt'}}, d16)),
        ('empty object', safetensors({}, d16)),
        ('20000 entries', safetensors({'t%d' % i: dict(e, data_offsets=[0, 16]) for i in range(20000)}, d16)),
        ('name with newline', safetensors({'a\nb\x1b[31m': e}, d16)),
        ('data truncated', safetensors(h(), b'\0' * 15)),
    ]
    return [(label, data, '.safetensors') for label, data in c]


def fixtures():
    names = ['alexnet_small_legacy.pth', 'alexnet_small_zip.pth', 'alexnet_small.safetensors',
             'vgg11bn_small_zip.pth', 'bad_view.pth', 'bad_short.pth', 'bad_lie.safetensors']
    out = []
    for n in names:
        with open(os.path.join(FIX, n), 'rb') as f:
            out.append((n, f.read()))
    return out


def truncation_cases():
    out = []
    for n, data in fixtures()[:3]:
        cuts = set(range(0, 17)) | {len(data) * k // 40 for k in range(1, 40)} | {len(data) - 1, len(data) - 8}
        ext = os.path.splitext(n)[1]
        for cut in sorted(cuts):
            out.append(('%s cut at %d of %d' % (n, cut, len(data)), data[:cut], ext))
    return out


def mutate_bytes(rng, b):
    b = bytearray(b)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        k = rng.randrange(7)
        if not b:
            b += bytes([rng.randrange(256)])
        i = rng.randrange(len(b))
        if k == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif k == 1:
            b[i] = rng.choice((0, 1, 0x7f, 0x80, 0xff, rng.randrange(256)))
        elif k == 2:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif k == 3:
            del b[i:i + rng.randrange(1, 17)]
        elif k == 4:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randrange(1, 33)]
        elif k == 5 and i + 4 <= len(b):
            struct.pack_into('<I', b, i, rng.choice((0, 0xffffffff, 0x7fffffff, 0x80000000, 1 << 20)))
        else:
            b[i] = ord(rng.choice('()]}.RbcQ\x80\x93\x94qrhjKMJN')) if rng.random() < 0.5 else b[i] ^ 0xff
    return bytes(b)


def generated_seeds():
    """Seeds built here: every member deflated, tensors sharing one storage, a
    state dict inside a training checkpoint (accepted_cases)."""
    acc = {label: data for label, data, _, _ in accepted_cases()}
    return [('gen_alexnet_deflated.pth', acc['small AlexNet, every member deflated']),
            ('gen_shared_storage.pth', shared_storage_alexnet(32, 8)[0]),
            ('gen_optimizer_checkpoint.pth', acc['state dict inside a checkpoint with an optimizer'])]


def mutate_zip(rng, data):
    """A structural zip mutation: a member's declared size or CRC changed, a
    member deflated with junk after its real bytes (declared size and CRC
    kept), or every member deflated."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        members = [(m, z.read(m)) for m in names]
    m, d = members[rng.randrange(len(members))]
    k = rng.randrange(4)
    if k == 0:
        size = rng.choice((0, 1, len(d) - 1, len(d) + 1, len(d) * 2, 0x7fffffff, 0xffffffff, rng.randrange(1 << 32)))
        out = patch_zip_sizes(data, m, file_size=max(0, size))
        return patch_zip_crc(out, m, zlib.crc32(d[:size])) if rng.random() < 0.5 else out
    if k == 1:
        return zip_member_lie(data, m, bytes(rng.choice((1, 100, 1 << 16, 1 << 22))))
    if k == 2:
        return patch_zip_sizes(data, m, compress_size=rng.choice((0, 1, rng.randrange(1 << 32))))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, body in members:
            z.writestr(name, body)
    return buf.getvalue()


def mutation_cases(n, seed):
    """n seeded mutations, generated one at a time (a campaign of 10,000 would not fit in memory at once)."""
    rng = random.Random(seed)
    fx = fixtures() + generated_seeds()
    for i in range(n):
        out = []
        name, data = fx[rng.randrange(len(fx))]
        ext = os.path.splitext(name)[1]
        how = rng.randrange(4)
        if how == 0 and data[:2] == b'PK':  # mutate data.pkl inside a valid archive (CRC recomputed)
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                members = [(m, z.read(m)) for m in z.namelist()]
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, 'w') as z:
                for m, d in members:
                    z.writestr(m, mutate_bytes(rng, d) if m.endswith('data.pkl') else d)
            out.append(('mutation %d: %s data.pkl' % (i, name), buf.getvalue(), ext))
        elif how == 0 and ext == '.safetensors':  # mutate the JSON header only
            hl = struct.unpack('<Q', data[:8])[0]
            hdr = mutate_bytes(rng, data[8:8 + hl])
            out.append(('mutation %d: %s header' % (i, name), struct.pack('<Q', len(hdr)) + hdr + data[8 + hl:], ext))
        elif how == 1 and ext == '.pth' and data[:2] != b'PK':  # the legacy pickles (first KBs)
            k = min(len(data), 4096)
            out.append(('mutation %d: %s pickles' % (i, name), mutate_bytes(rng, data[:k]) + data[k:], ext))
        elif how == 3 and data[:2] == b'PK':
            out.append(('mutation %d: %s zip structure' % (i, name), mutate_zip(rng, data), ext))
        else:
            out.append(('mutation %d: %s raw' % (i, name), mutate_bytes(rng, data), ext))
        if rng.randrange(4) == 0:  # an explicit output cap, which a conversion must respect
            cap = rng.randrange(1 << 10, 1 << 19)
            out[0] += ({'args': ['--max-output-bytes', str(cap)], 'cap': cap},)
        yield out[0]


# ---------------------------------------------------------------- limits (issue 14)
#
# Cases carry options: 'needle' (a substring the one error line must hold),
# 'limit' (seconds the case may take), 'args' (extra converter arguments),
# 'accept' (the case must convert), 'cap' (a conversion may write at most
# this many bytes of tensor data).

ALEX = [('features.0', 3, 11), ('features.3', None, 5), ('features.6', None, 3), ('features.8', None, 3),
        ('features.10', None, 3), ('classifier.1', 36, None), ('classifier.4', 1, None), ('classifier.6', 1, None)]


def alexnet_shapes(c, f, classes=10):
    """An AlexNet state dict's shapes with conv widths c (64, c, c, c, c) and
    classifier widths f: [(name, shape)]."""
    convs = [('features.0', (64, 3, 11, 11)), ('features.3', (c, 64, 5, 5)), ('features.6', (c, c, 3, 3)),
             ('features.8', (c, c, 3, 3)), ('features.10', (c, c, 3, 3)), ('classifier.1', (f, c * 36)),
             ('classifier.4', (f, f)), ('classifier.6', (classes, f))]
    out = []
    for name, shp in convs:
        out.append((name + '.weight', shp))
        out.append((name + '.bias', (shp[0],)))
    return out


def c_strides(shape):
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= s
    return list(reversed(st))


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def shared_storage_alexnet(c=320, f=80):
    """Every tensor of an AlexNet-shaped state dict is a view of one deflated
    storage of zeros (as big as the largest tensor): the views pass every
    per-view check, their sum is ~5x the storage."""
    shapes = alexnet_shapes(c, f)
    n = max(numel(s) for _, s in shapes)
    items = [(k, tensor(n, list(s), c_strides(s))) for k, s in shapes]
    return zipped(sd_pkl(*items), [('0', bytes(4 * n))], zipfile.ZIP_DEFLATED), sum(4 * numel(s) for _, s in shapes)


def alexnet_zip(c=16, f=8, stored=True, pad=None):
    """A valid small AlexNet zip checkpoint, one storage per tensor (values
    from a counter); pad: {key: extra bytes appended to that storage's member
    (its declared size and CRC still those of the real data)}."""
    shapes = alexnet_shapes(c, f)
    items, members = [], []
    for i, (k, s) in enumerate(shapes):
        items.append((k, tensor(numel(s), list(s), c_strides(s), key=str(i))))
        members.append((str(i), struct.pack('<%df' % numel(s), *[((j * 7) % 13 - 6) / 64.0 for j in range(numel(s))])))
    return zipped(sd_pkl(*items), members, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)


def zip_member_lie(data, member, junk):
    """Rebuilds archive `data` with `member` deflated from its real bytes plus
    `junk`, then restores the member's declared size and CRC to those of the
    real bytes: Python's zipfile inflates it all, keeps the declared prefix and
    finds the CRC right."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(m, z.read(m)) for m in z.namelist()]
    buf = io.BytesIO()
    real = None
    with zipfile.ZipFile(buf, 'w') as z:
        for m, d in members:
            if m == member:
                real = d
                z.writestr(zipfile.ZipInfo(m), d + junk, zipfile.ZIP_DEFLATED)
            else:
                z.writestr(m, d)
    out = patch_zip_sizes(buf.getvalue(), member, file_size=len(real))
    return patch_zip_crc(out, member, zlib.crc32(real))


def patch_zip_crc(data, member, crc):
    b = bytearray(data)
    name = member.encode()
    for sig, name_at, crc_at in ((b'PK\x03\x04', 30, 14), (b'PK\x01\x02', 46, 16)):
        i = 0
        while True:
            i = b.find(sig, i)
            if i < 0:
                break
            n = struct.unpack_from('<H', b, i + (26 if sig == b'PK\x03\x04' else 28))[0]
            if bytes(b[i + name_at:i + name_at + n]) == name:
                struct.pack_into('<I', b, i + crc_at, crc)
            i += 4
    return bytes(b)


P61 = (1 << 61) - 1


def long1(v):
    b = v.to_bytes((v.bit_length() + 8) // 8, 'little', signed=True)
    return b'\x8a' + bytes([len(b)]) + b


def limits_cases():
    w = 'features.0.weight'
    shared, shared_bytes = shared_storage_alexnet()
    good = alexnet_zip()
    lie = zip_member_lie(good, 'archive/data/0', bytes(4 << 20))
    # two deflated storages of 40 MB each: each under 64 MB, together over the inflate limit
    big = 10 << 20
    inflate = zipped(sd_pkl((w, tensor(big, [big], [1], key='0')), ('features.0.bias', tensor(big, [big], [1], key='1'))),
                     [('0', bytes(4 * big)), ('1', bytes(4 * big))], zipfile.ZIP_DEFLATED)
    n = 40000
    coll_dict = b'\x80\x02}(' + b''.join(long1(k * P61) + b'N' for k in range(1, n + 1)) + b'u.'
    coll_set = b'\x80\x04\x8f(' + b''.join(long1(k * P61) for k in range(1, n + 1)) + b'\x90.'
    coll_od = p2(glob('collections', 'OrderedDict') + b'(]' + b'(' +
                 b''.join(long1(k * P61) + b'N\x86' for k in range(1, n + 1)) + b'etR')
    tuple_keys = b'\x80\x02}(' + b''.join(b'K\x01' + long1(k) + b'\x86N' for k in range(1, 1000)) + b'u.'
    float_key = p2(b'}G' + struct.pack('>d', 1.5) + b'Ns')
    huge_size = sd_pkl((w, tensor(10, None, [1], raw_size=b'(\x8b' + struct.pack('<i', 1 << 20) + b'\x01' * (1 << 20) +
                                                  b't')))
    c = [
        ('shared storage: 5x its size in views', shared, '.pth',
         {'needle': 'overlap in a shared storage', 'limit': 10}),
        ('shared storage past --max-output-bytes', shared, '.pth',
         {'needle': 'more than --max-output-bytes', 'args': ['--max-output-bytes', str(shared_bytes - 4)]}),
        ('member inflates past its declared size (CRC of the prefix)', lie, '.pth', {'needle': 'inflates past'}),
        ('deflated storages over the total inflate limit', inflate, '.pth', {'needle': 'max-inflate-bytes'}),
        ('small deflated archive past --max-inflate-bytes', alexnet_zip(stored=False), '.pth',
         {'needle': 'max-inflate-bytes', 'args': ['--max-inflate-bytes', '1000']}),
        ('dict of 40000 colliding integer keys', zipped(coll_dict), '.pth', {'needle': 'dictionary key', 'limit': 3}),
        ('set of 40000 colliding integers', zipped(coll_set), '.pth', {'needle': 'EMPTY_SET', 'limit': 3}),
        ('OrderedDict of 40000 colliding pairs', zipped(coll_od), '.pth', {'needle': 'dictionary key', 'limit': 3}),
        ('dict with tuple keys', zipped(tuple_keys), '.pth', {'needle': 'dictionary key of type tuple'}),
        ('dict with a float key', zipped(float_key), '.pth', {'needle': 'dictionary key of type float'}),
        ('tensor size of a 1 MB integer', zipped(huge_size, [('0', bytes(40))]), '.pth', {'limit': 3}),
        ('safetensors header of 17 MB', safetensors(b'{"a":' + b' ' * (17 << 20) + b'1}'), '.safetensors',
         {'needle': 'exceeds the limit'}),
    ]
    # BUILD on every allow-listed global (functions, the OrderedDict class,
    # markers, storage types), with a dict state and with a slot state
    for (mod, name) in sorted(gcw_convert.ALLOWED):
        for label, state in (('dict', b'}' + uni('x') + b'K\x01s'),
                             ('slots', b'N}' + uni('__defaults__') + b'(K\x01ts\x86')):
            c.append(('BUILD %s on %s.%s' % (label, mod, name), zipped(p2(glob(mod, name) + state + b'b')), '.pth',
                      {'needle': 'set the state'}))
    return c


def accepted_cases():
    """Inputs the new limits must not refuse."""
    shared, shared_bytes = shared_storage_alexnet()
    good = alexnet_zip()
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        pkl = z.read('archive/data.pkl')
        members = [(m[len('archive/data/'):], z.read(m)) for m in z.namelist() if m.startswith('archive/data/')]
    # the state dict inside a training checkpoint with an optimizer keyed by small integers
    opt = (b'}(' + uni('state') + b'}(' + b''.join(b'K' + bytes([i]) + b'}' + uni('step') + b'K\x01s' for i in range(16)) +
           b'u' + uni('param_groups') + b']}' + uni('params') + b'](' + b''.join(b'K' + bytes([i]) for i in range(16)) +
           b'esau')
    wrapped = p2(b'}(' + uni('epoch') + b'K\x05' + uni('optimizer') + opt + uni('state_dict') + pkl[2:-1] + b'u')
    # Python 2's OrderedDict pickle: OrderedDict([[key, value], ...])
    items = [(k, tensor(numel(s), list(s), c_strides(s), key=str(i))) for i, (k, s) in enumerate(alexnet_shapes(16, 8))]
    py2 = p2(glob('collections', 'OrderedDict') + b'(]' + b''.join(b']' + uni(k) + b'a' + v + b'a' + b'a'
                                                                 for k, v in items) + b'tR')
    return [
        ('shared storage under --max-output-bytes', shared, '.pth',
         {'accept': True, 'args': ['--max-output-bytes', str(shared_bytes)], 'cap': shared_bytes}),
        ('small AlexNet, stored', good, '.pth', {'accept': True}),
        ('small AlexNet, every member deflated', alexnet_zip(stored=False), '.pth', {'accept': True}),
        ('state dict inside a checkpoint with an optimizer', zipped(wrapped, members), '.pth', {'accept': True}),
        ('Python 2 OrderedDict of pairs', zipped(py2, members), '.pth', {'accept': True}),
    ]


# ---------------------------------------------------------------- runner

def _alarm(signum, frame):
    raise Hang()


def run_inprocess(path, out, args=(), limit=TIMEOUT):
    err, so = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(so):
            rc = gcw_convert.main([path, out] + list(args))
    except Hang:
        return 'hang', ''
    except SystemExit as e:
        rc = 'SystemExit(%s)' % e.code
    except BaseException as e:  # would have been a traceback
        return 'escaped %s: %s' % (type(e).__name__, str(e)[:200]), err.getvalue()
    finally:
        signal.alarm(0)
    return rc, err.getvalue()


def run_subprocess(path, out, args=(), limit=TIMEOUT):
    try:
        p = subprocess.run([sys.executable, CONVERTER, path, out] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=limit, cwd=os.path.dirname(path))
    except subprocess.TimeoutExpired:
        return 'hang', ''
    return p.returncode, p.stderr.decode('utf-8', 'replace')


PEAK = {'rss': 0, 'added': 0}   # --fork: largest peak resident set (KB) and largest growth, with their cases


def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def run_forked(path, out, args=(), limit=TIMEOUT):
    """run_inprocess in a child process, so that each case's peak memory is
    its own (wait4's ru_maxrss; the growth over the resident set the child
    started with is reported too), under a 4 GiB address-space limit as a
    safety net."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
            start = rss_kb()
            rc, err = run_inprocess(path, out, args, limit)
            os.write(wfd, json.dumps([rc, err, start]).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    chunks = []
    while True:
        b = os.read(rfd, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(rfd)
    _, status, ru = os.wait4(pid, 0)
    if not chunks:
        return 'child died (status %d)' % status, ''
    rc, err, start = json.loads(b''.join(chunks).decode())
    PEAK['last'] = (ru.ru_maxrss, start)
    return rc, err


def present_bytes(data, ext):
    """Bytes of storage data an input holds: the zip's data/ members (as
    declared: a conversion has checked them), else the whole file."""
    if data[:4] == b'PK\x03\x04':
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return sum(i.file_size for i in z.infolist() if '/data/' in i.filename or i.filename.startswith('data/'))
        except Exception:
            return len(data)
    return len(data)


def gcw_data_bytes(path):
    """(tensor data bytes, tensor count) from a .gcw header (docs/format.md)."""
    with open(path, 'rb') as f:
        h = f.read(128)
    n_tensors = struct.unpack_from('<I', h, 28)[0]
    return struct.unpack_from('<Q', h, 32 + 8 * 7)[0], n_tensors


def check(label, data, ext, work, may_succeed, run, verbose, opts=None):
    """One case. Returns (ok, converted, seconds)."""
    opts = opts or {}
    path = os.path.join(work, 'case' + ext)
    out = os.path.join(work, 'case.gcw')
    with open(path, 'wb') as f:
        f.write(data)
    args = opts.get('args', [])
    t = time.time()
    rc, err = run(path, out, args, opts.get('limit', TIMEOUT))
    dt = time.time() - t
    lines = err.splitlines()
    problem = None
    if os.path.exists(os.path.join(work, MARKER)):
        problem = 'CODE WAS EXECUTED (marker file exists)'
    elif opts.get('accept') and rc != 0:
        problem = 'refused a valid input: %s' % err.strip()[:200]
    elif rc == 0 and (may_succeed or opts.get('accept')):
        if lines or not os.path.exists(out):
            problem = 'status 0 with stderr %r or no output' % err[:200]
        else:
            written, nt = gcw_data_bytes(out)
            bound = 2 * present_bytes(data, ext) + 64 * nt   # float32 from (at least) 2-byte elements, 64-byte padding
            cap = opts.get('cap')
            if cap is not None and written > cap + 64 * nt:
                problem = 'wrote %d bytes of tensor data, more than the cap %d' % (written, cap)
            elif cap is None and written > bound:
                problem = 'wrote %d bytes of tensor data from %d bytes of storages' % (written, bound // 2)
    elif rc != 1:
        problem = 'status %s' % (rc,)
    elif len(lines) != 1 or not lines[0].startswith('gcw_convert: error: '):
        problem = 'stderr is not one "gcw_convert: error:" line: %r' % err[:300]
    elif os.path.exists(out) or os.path.exists(out + '.tmp'):
        problem = 'output written despite the error'
    elif opts.get('needle') and opts['needle'] not in lines[0]:
        problem = 'message lacks %r: %s' % (opts['needle'], lines[0][:200])
    if not problem and dt > opts.get('limit', TIMEOUT):
        problem = 'took %.1f s (limit %d s)' % (dt, opts.get('limit', TIMEOUT))
    if verbose or problem:
        print('  %-8s %-60.60s %5.2fs %s' % ('FAIL' if problem else 'ok', label, dt, problem or
                                              (lines[0][:100] if lines else 'converted')))
    for p in (out, out + '.tmp', path):
        if os.path.exists(p):
            os.remove(p)
    return problem is None, rc == 0, dt


CATEGORIES = ['globals', 'pickle', 'storage', 'zip', 'safetensors', 'truncation', 'limits', 'accepted', 'mutation']


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workdir', help='scratch folder (default: a new temporary one)')
    ap.add_argument('--mutations', type=int, default=300)
    ap.add_argument('--seed', type=int, default=8)
    ap.add_argument('--subprocess-every', type=int, default=100,
                    help='run every Nth case of each category as a real subprocess')
    ap.add_argument('--only', help='comma-separated categories (default: all): ' + ','.join(CATEGORIES))
    ap.add_argument('--fork', action='store_true',
                    help='run every case in a forked child and report the slowest case and the largest peak memory')
    ap.add_argument('-v', action='store_true')
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix='convert_mutations_')
    os.makedirs(work, exist_ok=True)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    cwd = os.getcwd()
    os.chdir(work)  # a payload that ran would touch the marker here
    makers = {'globals': (globals_cases, False), 'pickle': (pickle_cases, False), 'storage': (storage_cases, False),
              'zip': (zip_cases, False), 'safetensors': (safetensors_cases, False),
              'truncation': (truncation_cases, False), 'limits': (limits_cases, False),
              'accepted': (accepted_cases, False), 'mutation': (lambda: mutation_cases(a.mutations, a.seed), True)}
    only = a.only.split(',') if a.only else CATEGORIES
    for name in only:
        if name not in makers:
            ap.error('unknown category %s' % name)
    failed = total = 0
    t0 = time.time()
    slowest = (0.0, '')
    for name in only:
        make, may_succeed = makers[name]
        t1 = time.time()
        ok = conv = subs = refused = n = capped = 0
        slow = 0.0
        for i, case in enumerate(make()):
            n += 1
            label, data, ext = case[:3]
            opts = case[3] if len(case) > 3 else {}
            sub = not a.fork and a.subprocess_every > 0 and i % a.subprocess_every == 0
            run = run_forked if a.fork else run_subprocess if sub else run_inprocess
            good, converted, dt = check(label, data, ext, work, may_succeed, run, a.v, opts)
            ok += good
            conv += good and converted
            capped += good and converted and 'cap' in opts
            refused += good and not converted
            subs += sub
            slow = max(slow, dt)
            if dt > slowest[0]:
                slowest = (dt, '%s: %s' % (name, label))
            if a.fork and 'last' in PEAK:
                peak, start = PEAK.pop('last')
                if peak > PEAK['rss']:
                    PEAK['rss'], PEAK['rss_case'], PEAK['start'] = peak, '%s: %s' % (name, label), start
                if peak - start > PEAK['added']:
                    PEAK['added'], PEAK['case'] = peak - start, '%s: %s' % (name, label)
        total += n
        failed += n - ok
        print('%-12s %4d cases, %4d refused cleanly%s, %d failed (%d as subprocesses, slowest %.2f s, all %.1f s)'
              % (name, n, refused,
                 (', %d converted' % conv + (' (%d under a --max-output-bytes cap)' % capped if capped else ''))
                 if may_succeed or name == 'accepted' else '', n - ok, subs, slow,
                 time.time() - t1))
    os.chdir(cwd)
    if not a.workdir:
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)
    if a.fork:
        print('slowest case %.2f s (%s)' % slowest)
        print('largest peak resident set of a case %.0f MB (%s; its process started at %.0f MB); most memory a case '
              'added %.0f MB (%s)' % (PEAK['rss'] / 1024.0, PEAK.get('rss_case', '-'), PEAK.get('start', 0) / 1024.0,
                                      PEAK['added'] / 1024.0, PEAK.get('case', '-')))
    print('convert_mutations: %d cases, %d failed, %.1f s' % (total, failed, time.time() - t0))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
