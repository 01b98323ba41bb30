#!/usr/bin/env python3
"""convert_mutations.py - hostile and mutated inputs through tools/gcw_convert.py.

usage: convert_mutations.py [--workdir DIR] [--mutations N] [--seed S] [-v]

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
  mutation    N seeded random mutations (bit flips, byte edits, insertions,
              deletions) of the committed fixtures' pickles, zip members,
              safetensors headers and raw bytes
Each case runs the converter's main() in this process under a 20 s alarm
(a few per category also as a real `python3 gcw_convert.py` subprocess with a
timeout). Hostile cases must end with status 1 and exactly one stderr line
"gcw_convert: error: ..."; random mutations may also convert (status 0). A
payload that ran would create DIR/gcw_pwned_marker, checked after every case.
Prints one line per category and exits 1 on any failure.
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


def mutation_cases(n, seed):
    rng = random.Random(seed)
    fx = fixtures()
    out = []
    for i in range(n):
        name, data = fx[rng.randrange(len(fx))]
        ext = os.path.splitext(name)[1]
        how = rng.randrange(3)
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
        else:
            out.append(('mutation %d: %s raw' % (i, name), mutate_bytes(rng, data), ext))
    return out


# ---------------------------------------------------------------- runner

def _alarm(signum, frame):
    raise Hang()


def run_inprocess(path, out):
    err, so = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(so):
            rc = gcw_convert.main([path, out])
    except Hang:
        return 'hang', ''
    except SystemExit as e:
        rc = 'SystemExit(%s)' % e.code
    except BaseException as e:  # would have been a traceback
        return 'escaped %s: %s' % (type(e).__name__, str(e)[:200]), err.getvalue()
    finally:
        signal.alarm(0)
    return rc, err.getvalue()


def run_subprocess(path, out):
    try:
        p = subprocess.run([sys.executable, CONVERTER, path, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT, cwd=os.path.dirname(path))
    except subprocess.TimeoutExpired:
        return 'hang', ''
    return p.returncode, p.stderr.decode('utf-8', 'replace')


def check(label, data, ext, work, may_succeed, sub, verbose):
    path = os.path.join(work, 'case' + ext)
    out = os.path.join(work, 'case.gcw')
    with open(path, 'wb') as f:
        f.write(data)
    t = time.time()
    rc, err = (run_subprocess if sub else run_inprocess)(path, out)
    dt = time.time() - t
    lines = err.splitlines()
    problem = None
    if os.path.exists(os.path.join(work, MARKER)):
        problem = 'CODE WAS EXECUTED (marker file exists)'
    elif rc == 0 and may_succeed:
        if lines or not os.path.exists(out):
            problem = 'status 0 with stderr %r or no output' % err[:200]
    elif rc != 1:
        problem = 'status %s' % (rc,)
    elif len(lines) != 1 or not lines[0].startswith('gcw_convert: error: '):
        problem = 'stderr is not one "gcw_convert: error:" line: %r' % err[:300]
    elif os.path.exists(out) or os.path.exists(out + '.tmp'):
        problem = 'output written despite the error'
    if verbose or problem:
        print('  %-8s %-60.60s %5.2fs %s' % ('FAIL' if problem else 'ok', label, dt, problem or
                                              (lines[0][:100] if lines else 'converted')))
    for p in (out, out + '.tmp', path):
        if os.path.exists(p):
            os.remove(p)
    return problem is None, rc == 0, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workdir', help='scratch folder (default: a new temporary one)')
    ap.add_argument('--mutations', type=int, default=300)
    ap.add_argument('--seed', type=int, default=8)
    ap.add_argument('--subprocess-every', type=int, default=100,
                    help='run every Nth case of each category as a real subprocess')
    ap.add_argument('-v', action='store_true')
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix='convert_mutations_')
    os.makedirs(work, exist_ok=True)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    cwd = os.getcwd()
    os.chdir(work)  # a payload that ran would touch the marker here
    cats = [('globals', globals_cases, False), ('pickle', pickle_cases, False), ('storage', storage_cases, False),
            ('zip', zip_cases, False), ('safetensors', safetensors_cases, False),
            ('truncation', truncation_cases, False), ('mutation', lambda: mutation_cases(a.mutations, a.seed), True)]
    failed = total = 0
    t0 = time.time()
    for name, make, may_succeed in cats:
        t1 = time.time()
        cases = make()
        ok = conv = subs = 0
        slow = 0.0
        for i, (label, data, ext) in enumerate(cases):
            sub = a.subprocess_every > 0 and i % a.subprocess_every == 0
            good, converted, dt = check(label, data, ext, work, may_succeed, sub, a.v)
            ok += good
            conv += converted
            subs += sub
            slow = max(slow, dt)
        total += len(cases)
        failed += len(cases) - ok
        print('%-12s %4d cases, %4d refused cleanly%s, %d failed (%d as subprocesses, slowest %.2f s, all %.1f s)'
              % (name, len(cases), len(cases) - conv - (len(cases) - ok),
                 ', %d converted' % conv if may_succeed else '', len(cases) - ok, subs, slow, time.time() - t1))
    os.chdir(cwd)
    if not a.workdir:
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)
    print('convert_mutations: %d cases, %d failed, %.1f s' % (total, failed, time.time() - t0))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
