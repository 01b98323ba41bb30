#!/usr/bin/env python3
"""onnx_mutations.py - hostile and mutated ONNX files through tools/gcw_convert.py.

usage: onnx_mutations.py [--workdir DIR] [--mutations N] [--seed S] [-v]

Builds every input on the fly with tools/protobuf_wire.py's encoder (standard library only,
nothing committed besides the fixtures it mutates):
  wire        protobufs that break the wire format: lengths past the end, varints of 11
              bytes or past 64 bits, groups and unknown wire types, field number 0, wrong
              wire types for known fields, a graph nested 200000 messages deep, 100000
              empty nodes, invalid UTF-8 names
  tensor      lying initializers: raw data shorter or longer than the shape, value counts
              that disagree, dimensions of 2^40, negative dimensions, 9 dimensions, unknown
              and string types, segments, data in the wrong field
  external    external data: paths with .., absolute paths, a symbolic link out of the
              folder, the folder itself, a missing file, offsets and lengths past the end,
              lengths that disagree with the shape, no location
  graph       invalid graphs: no input, two inputs, an int64 or 5-D input, an input
              declaring 2^40 pixels, values read before they are defined or defined twice,
              no or two outputs, a constant output, operator sets 0 and 99, unknown
              operators and domains (every one listed), attributes of the wrong type or
              given twice, shapes that do not fit (Conv, Gemm, Concat, Reshape), folding
              bombs (Expand, ConstantOfShape, Range to 2^40 elements), integer division by
              zero, an output computed from nothing
  truncation  the committed fixtures cut at 60 lengths
  mutation    N seeded random mutations (bit flips, byte edits, insertions, deletions) of
              the committed fixtures
Each case runs the converter's main() in this process under a 20 s alarm (every 50th as a
real `python3 gcw_convert.py` subprocess). Built cases must end with status 1, exactly one
stderr line "gcw_convert: error: ..." and no output file; random mutations may also convert
(status 0, an output, nothing on stderr). Prints one line per category; exits 1 on any
failure.
"""
import argparse
import contextlib
import io
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONVERTER = os.path.join(ROOT, 'tools', 'gcw_convert.py')
FIX = os.path.join(ROOT, 'tests', 'data', 'onnx')
sys.path.insert(0, os.path.join(ROOT, 'tools'))
import gcw_convert  # noqa: E402
import protobuf_wire as pw  # noqa: E402

TIMEOUT = 20


class Hang(BaseException):
    """Raised by the alarm; a BaseException so the converter cannot swallow it."""


# ---------------------------------------------------------------- building ONNX protobufs (onnx.proto numbers)

def s(num, text):
    return pw.enc_len(num, text.encode('utf-8') if isinstance(text, str) else text)


def packed_i64(num, vals):
    return pw.enc_len(num, b''.join(pw.enc_varint(v) for v in vals))


def tensor(name, dims, raw=None, dtype=1, floats=None, extra=b''):
    b = packed_i64(1, dims) + pw.enc_int(2, dtype) + s(8, name)
    if raw is not None:
        b += s(9, raw)
    if floats is not None:
        b += pw.enc_len(4, struct.pack('<%df' % len(floats), *floats))
    return b + extra


def ftensor(name, dims, fill=0.5):
    n = 1
    for d in dims:
        n *= d
    return tensor(name, dims, struct.pack('<%df' % n, *([fill] * n)))


def itensor(name, vals, dims=None):
    return tensor(name, [len(vals)] if dims is None else dims, struct.pack('<%dq' % len(vals), *vals), dtype=7)


def value_info(name, dims, elem=1):
    shape = b''.join(pw.enc_len(1, pw.enc_int(1, d) if isinstance(d, int) else s(2, d)) for d in dims)
    return s(1, name) + pw.enc_len(2, pw.enc_len(1, pw.enc_int(1, elem) + pw.enc_len(2, shape)))


def attr(name, value):
    b = s(1, name)
    if isinstance(value, int):
        return b + pw.enc_int(20, 2) + pw.enc_int(3, value)
    if isinstance(value, float):
        return b + pw.enc_int(20, 1) + pw.enc_float(2, value)
    if isinstance(value, str):
        return b + pw.enc_int(20, 3) + s(4, value)
    if isinstance(value, bytes):        # a tensor
        return b + pw.enc_int(20, 4) + pw.enc_len(5, value)
    if isinstance(value, list):
        return b + pw.enc_int(20, 7) + packed_i64(8, value)
    raise TypeError(value)


def node(op, inputs, outputs, name='', domain=None, **attrs):
    b = b''.join(s(1, i) for i in inputs) + b''.join(s(2, o) for o in outputs) + s(4, op)
    if name:
        b += s(3, name)
    if domain is not None:
        b += s(7, domain)
    return b + b''.join(pw.enc_len(5, attr(k, v)) for k, v in attrs.items())


def graph(nodes, inits=(), inputs=(), outputs=()):
    return (b''.join(pw.enc_len(1, n) for n in nodes) + s(2, 'g') + b''.join(pw.enc_len(5, t) for t in inits) +
            b''.join(pw.enc_len(11, v) for v in inputs) + b''.join(pw.enc_len(12, v) for v in outputs))


def model(g, opset=13, ir=8, domain=''):
    op = s(1, domain) + pw.enc_int(2, opset) if opset is not None else b''
    return pw.enc_int(1, ir) + s(2, 'onnx_mutations') + (pw.enc_len(8, op) if op else b'') + pw.enc_len(7, g)


X = value_info('x', [1, 3, 8, 8])
Y = value_info('y', [1, 4, 8, 8])


def conv_model(**kw):
    """A valid model: Conv 3 -> 4 channels, 3x3, pad 1, then Relu."""
    w = kw.pop('w', ftensor('w', [4, 3, 3, 3]))
    inputs = kw.pop('inputs', [X])
    g = graph([node('Conv', ['x', 'w'], ['c'], 'conv', pads=[1, 1, 1, 1]), node('Relu', ['c'], ['y'], 'relu')],
              [w], inputs, [Y])
    return model(g, **kw)


# ---------------------------------------------------------------- cases

def wire_cases():
    good = conv_model()
    out = [('valid model (sanity: must convert)', good, True)]
    out.append(('length past the end', pw.enc_key(7, pw.LEN) + pw.enc_varint(1 << 30) + b'\x00' * 10, False))
    out.append(('length of 2^63', pw.enc_key(7, pw.LEN) + b'\xff' * 9 + b'\x7f', False))
    out.append(('11-byte varint', pw.enc_key(1, pw.VARINT) + b'\xff' * 10 + b'\x01', False))
    out.append(('varint past 64 bits', pw.enc_key(1, pw.VARINT) + b'\xff' * 9 + b'\x02', False))
    out.append(('truncated varint', pw.enc_key(1, pw.VARINT) + b'\xff\xff', False))
    out.append(('group start', pw.enc_key(7, 3) + good, False))
    out.append(('group end', good + pw.enc_key(9, 4), False))
    out.append(('wire type 7', good + pw.enc_key(9, 7), False))
    out.append(('wire type 6', pw.enc_key(9, 6) + good, False))
    out.append(('field number 0', b'\x02\x00' + good, False))
    out.append(('graph as a varint', pw.enc_int(7, 5), False))
    out.append(('ir_version as bytes', s(1, 'x') + good, False))
    out.append(('truncated 64-bit field', good + pw.enc_key(9, pw.I64) + b'\x01\x02', False))
    out.append(('truncated 32-bit field', good + pw.enc_key(9, pw.I32) + b'\x01', False))
    out.append(('empty file', b'', False))
    out.append(('not a protobuf (PNG signature)', b'\x89PNG\r\n\x1a\n' + b'\x00' * 32, False))
    out.append(('a zip archive (a .pth renamed)', b'PK\x03\x04' + b'\x00' * 60, False))
    deep = b''
    for _ in range(200000):
        deep = pw.enc_len(6, deep)          # subgraph in subgraph in ... (AttributeProto.g)
    out.append(('graph nested 200000 deep in an attribute',
                model(graph([node('Relu', ['x'], ['y'], 'r')] + [pw.enc_len(5, s(1, 'g') + deep)], [], [X],
                            [value_info('y', [1, 3, 8, 8])])), False))
    nested = b''
    for _ in range(100000):
        nested = pw.enc_len(1, nested)       # unknown field 1 of unknown field 1 ...
    out.append(('100000-deep unknown nesting', good + pw.enc_len(99, nested), True))
    out.append(('100000 empty nodes', model(graph([b''] * 100000, [], [X], [Y])), False))
    bad_name = s(1, 'x') + s(2, 'y') + s(4, 'Relu') + s(3, b'\xff\xfe')
    out.append(('invalid UTF-8 node name', model(graph([bad_name], [], [X], [value_info('y', [1, 3, 8, 8])])), False))
    out.append(('opset version as a string', model(graph([], [], [X], [Y]), opset=None) + pw.enc_len(8, s(1, '') + s(2, 'x')),
                False))
    return out


def tensor_cases():
    cases = []

    def with_w(label, w, opset=13):
        cases.append((label, conv_model(w=w, opset=opset), False))
    raw = struct.pack('<108f', *([0.5] * 108))
    with_w('raw data short by 4 bytes', tensor('w', [4, 3, 3, 3], raw[:-4]))
    with_w('raw data long by 4 bytes', tensor('w', [4, 3, 3, 3], raw + b'\0' * 4))
    with_w('107 floats for 108', tensor('w', [4, 3, 3, 3], floats=[0.5] * 107))
    with_w('dims 2^40 x 2^40', tensor('w', [1 << 40, 1 << 40, 3, 3], raw))
    with_w('dims 2^62', tensor('w', [1 << 62], raw))
    with_w('negative dimension', tensor('w', [4, -3, 3, 3], raw))
    with_w('9 dimensions', tensor('w', [1] * 9, raw[:4]))
    with_w('data type 99', tensor('w', [4, 3, 3, 3], raw, dtype=99))
    with_w('string tensor', tensor('w', [1], dtype=8, extra=pw.enc_len(6, b'abc')))
    with_w('segment', tensor('w', [4, 3, 3, 3], raw, extra=pw.enc_len(3, pw.enc_int(1, 0) + pw.enc_int(2, 5))))
    with_w('float data in int64_data', tensor('w', [4, 3, 3, 3], extra=packed_i64(7, [1] * 108)))
    with_w('data location 7', tensor('w', [4, 3, 3, 3], raw, extra=pw.enc_int(14, 7)))
    with_w('int64 weights', itensor('w', [1] * 108, [4, 3, 3, 3]))
    with_w('weights of shape (4,3,3)', ftensor('w', [4, 3, 3]))
    with_w('weights of shape (4,2,3,3) for 3 channels', ftensor('w', [4, 2, 3, 3]))
    with_w('int8 out of range in int32_data', tensor('w', [2], dtype=3, extra=packed_i64(5, [1000, 1])))
    with_w('initializer without a name', tensor('', [4, 3, 3, 3], raw))
    return cases


def external_cases(work):
    sub = os.path.join(work, 'model_dir')
    os.makedirs(sub, exist_ok=True)
    outside = os.path.join(work, 'outside.bin')
    with open(outside, 'wb') as f:
        f.write(struct.pack('<108f', *([0.25] * 108)))
    with open(os.path.join(sub, 'w.bin'), 'wb') as f:
        f.write(struct.pack('<108f', *([0.25] * 108)))
    link = os.path.join(sub, 'link.bin')
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(outside, link)

    def ext(**kv):
        return tensor('w', [4, 3, 3, 3], extra=b''.join(pw.enc_len(13, s(1, k) + s(2, v)) for k, v in kv.items()) +
                      pw.enc_int(14, 1))
    cases = [('inside the folder (sanity: must convert)', ext(location='w.bin'), True),
             ('../outside.bin', ext(location='../outside.bin'), False),
             ('sub/../../outside.bin', ext(location='sub/../../outside.bin'), False),
             ('absolute path', ext(location=outside), False),
             ('/etc/passwd', ext(location='/etc/passwd'), False),
             ('backslashes ..\\outside.bin', ext(location='..\\outside.bin'), False),
             ('symbolic link out of the folder', ext(location='link.bin'), False),
             ('the folder itself', ext(location='.'), False),
             ('missing file', ext(location='nothing.bin'), False),
             ('offset past the end', ext(location='w.bin', offset='1000'), False),
             ('length past the end', ext(location='w.bin', offset='8', length='432'), False),
             ('length not the shape\'s', ext(location='w.bin', length='400'), False),
             ('negative offset', ext(location='w.bin', offset='-8'), False),
             ('offset not a number', ext(location='w.bin', offset='1e3'), False),
             ('no location', ext(offset='0'), False),
             ('NUL in the path', ext(location='w.bin\0x'), False)]
    return [(label, conv_model(w=w), ok, sub) for label, w, ok in cases]


def graph_cases():
    W = ftensor('w', [4, 3, 3, 3])
    relu = [node('Relu', ['x'], ['y'], 'r')]
    YX = value_info('y', [1, 3, 8, 8])
    c = []

    def add(label, g, **kw):
        c.append((label, model(g, **kw), False))
    add('no input', graph(relu, [], [], [YX]))
    add('two inputs', graph([node('Add', ['x', 'z'], ['y'], 'a')], [], [X, value_info('z', [1, 3, 8, 8])], [YX]))
    add('int64 input', graph(relu, [], [value_info('x', [1, 3, 8, 8], elem=7)], [YX]))
    add('5-D input', graph(relu, [], [value_info('x', [1, 3, 2, 8, 8])], [YX]))
    add('input of 2^40 x 2^40 pixels', graph(relu, [], [value_info('x', [1, 3, 1 << 40, 1 << 40])], [YX]))
    add('input with a symbolic channel count', graph(relu, [], [value_info('x', [1, 'C', 8, 8])], [YX]))
    add('value read before it is defined', graph([node('Relu', ['t'], ['y'], 'a'), node('Relu', ['x'], ['t'], 'b')],
                                                 [], [X], [YX]))
    add('value defined twice', graph([node('Relu', ['x'], ['y'], 'a'), node('Relu', ['x'], ['y'], 'b')], [], [X], [YX]))
    add('node output named like an initializer', graph([node('Relu', ['x'], ['w'], 'a')], [W], [X], [YX]))
    add('no output', graph(relu, [], [X], []))
    add('two outputs', graph([node('Relu', ['x'], ['y'], 'a'), node('Relu', ['x'], ['z'], 'b')], [], [X],
                             [YX, value_info('z', [1, 3, 8, 8])]))
    add('constant output', graph([node('Constant', [], ['y'], 'k', value=ftensor('v', [1]))], [], [X], [YX]))
    add('output never computed', graph(relu, [], [X], [value_info('nothing', [1])]))
    add('operator set 99', graph(relu, [], [X], [YX]), opset=99)
    add('operator set 0', graph(relu, [], [X], [YX]), opset=0)
    add('no default-domain operator set', graph(relu, [], [X], [YX]), domain='com.example')
    add('unknown operators, all listed', graph([node('Frobnicate', ['x'], ['a'], 'f1'), node('Frobnicate', ['a'], ['b'], 'f2'),
                                                node('Tanh', ['b'], ['y'], 't')], [], [X], [YX]))
    add('operator of another domain', graph([node('Relu', ['x'], ['y'], 'r', domain='com.microsoft')], [], [X], [YX]))
    add('attribute of the wrong type', graph([node('Conv', ['x', 'w'], ['y'], 'c', group='1')], [W], [X], [Y]))
    add('unknown attribute', graph([node('Relu', ['x'], ['y'], 'r', frobnicate=1)], [], [X], [YX]))
    add('attribute given twice', graph([node('Conv', ['x', 'w'], ['y'], 'c', group=1) + pw.enc_len(5, attr('group', 1))],
                                       [W], [X], [Y]))
    add('3 groups on 3 channels into 4', graph([node('Conv', ['x', 'w'], ['y'], 'c', group=3)], [W], [X], [Y]))
    add('negative pads', graph([node('Conv', ['x', 'w'], ['y'], 'c', pads=[-1, 0, 0, 0])], [W], [X], [Y]))
    add('kernel larger than the input', graph([node('Conv', ['x', 'w'], ['y'], 'c')], [ftensor('w', [4, 3, 9, 9])],
                                              [X], [Y]))
    add('weights computed at run time', graph([node('Relu', ['x'], ['r'], 'r'), node('Conv', ['x', 'r'], ['y'], 'c')],
                                              [], [X], [Y]))
    add('3-D convolution', graph([node('Conv', ['x', 'w'], ['y'], 'c')], [ftensor('w', [4, 3, 1, 3, 3])], [X], [Y]))
    add('Gemm on a 4-D input', graph([node('Gemm', ['x', 'w'], ['y'], 'g')], [ftensor('w', [192, 10])], [X], [Y]))
    add('Concat of mismatched shapes', graph([node('Concat', ['x', 'w'], ['y'], 'c', axis=1)], [ftensor('w', [1, 3, 4, 4])],
                                             [X], [Y]))
    add('Reshape to a wrong element count', graph([node('Reshape', ['x', 's'], ['y'], 'r')], [itensor('s', [1, 7])],
                                                  [X], [Y]))
    add('Reshape with two -1', graph([node('Reshape', ['x', 's'], ['y'], 'r')], [itensor('s', [-1, -1])], [X], [Y]))
    add('Expand to 2^40 elements', graph([node('Expand', ['k', 's'], ['e'], 'e'), node('Add', ['x', 'e'], ['y'], 'a')],
                                         [ftensor('k', [1]), itensor('s', [1 << 20, 1 << 20])], [X], [Y]))
    add('ConstantOfShape of 2^40', graph([node('ConstantOfShape', ['s'], ['e'], 'c'), node('Add', ['x', 'e'], ['y'], 'a')],
                                         [itensor('s', [1 << 40])], [X], [Y]))
    add('Range of 2^40', graph([node('Range', ['a', 'b', 'd'], ['e'], 'r'), node('Add', ['x', 'e'], ['y'], 'a')],
                               [itensor('a', [0], []), itensor('b', [1 << 40], []), itensor('d', [1], [])], [X], [Y]))
    add('integer division by zero', graph([node('Div', ['a', 'b'], ['e'], 'd'),
                                          node('Reshape', ['x', 'e'], ['y'], 'r')],
                                          [itensor('a', [1, 192]), itensor('b', [0, 1])], [X], [Y]))
    add('Gather index out of range', graph([node('Gather', ['a', 'i'], ['e'], 'g'), node('Reshape', ['x', 'e'], ['y'], 'r')],
                                           [itensor('a', [1, 192]), itensor('i', [5])], [X], [Y]))
    add('Slice with step 0', graph([node('Slice', ['x', 'a', 'b', 'c', 'd'], ['y'], 's')],
                                   [itensor('a', [0]), itensor('b', [2]), itensor('c', [1]), itensor('d', [0])], [X], [Y]))
    add('Cast to string', graph([node('Cast', ['a'], ['e'], 'c', to=8), node('Reshape', ['x', 'e'], ['y'], 'r')],
                                [itensor('a', [1, 192])], [X], [Y]))
    add('rank-5 reshape read by a Relu', graph([node('Reshape', ['x', 's'], ['e'], 'r'), node('Relu', ['e'], ['y'], 'u')],
                                               [itensor('s', [1, 3, 1, 8, 8])], [X], [Y]))
    chain = [node('Identity', ['x'], ['i0'], 'i0')] + [node('Identity', ['i%d' % k], ['i%d' % (k + 1)], 'i%d' % (k + 1))
                                                      for k in range(20000)]
    add('20000 Identity nodes then an unknown op', graph(chain + [node('Frobnicate', ['i20000'], ['y'], 'f')], [], [X], [YX]))
    add('a node name of 5000 bytes', graph([node('Frobnicate', ['x'], ['y'], 'n' * 5000)], [], [X], [YX]))
    return c


def fixtures():
    out = []
    for name in ('resnet18_small.onnx', 'squeezenet1_1_small.onnx', 'shufflenet_v2_x1_0_small.onnx'):
        p = os.path.join(FIX, name)
        if os.path.exists(p):
            with open(p, 'rb') as f:
                out.append((name, f.read()))
    return out


def truncation_cases():
    out = []
    for name, data in fixtures():
        for k in range(20):
            cut = len(data) * k // 20 + (k * 7919) % 97
            if cut < len(data):
                out.append(('%s cut at %d of %d' % (name, cut, len(data)), data[:cut], cut == 0 and False))
    return [(l, d, False) for l, d, _ in out]


def mutate_bytes(rng, b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 4)):
        k = rng.randrange(4)
        i = rng.randrange(len(b)) if b else 0
        if k == 0 and b:
            b[i] ^= 1 << rng.randrange(8)
        elif k == 1 and b:
            b[i] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif k == 2:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif b:
            del b[i:i + rng.randint(1, 16)]
    return bytes(b)


def mutation_cases(n, seed):
    rng = random.Random(seed)
    fx = fixtures()
    if not fx:
        return []
    out = []
    for k in range(n):
        name, data = fx[k % len(fx)]
        # the graph structure is at the start of a torch.onnx file, the weights at the end:
        # mutate the first 4 KB more often
        if rng.random() < 0.6:
            head = mutate_bytes(rng, data[:4096])
            out.append(('%s mutation %d (head)' % (name, k), head + data[4096:], True))
        else:
            out.append(('%s mutation %d' % (name, k), mutate_bytes(rng, data), True))
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
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return 'hang', ''
    return p.returncode, p.stderr.decode('utf-8', 'replace')


def check(label, data, folder, may_succeed, must_succeed, sub, verbose):
    path = os.path.join(folder, 'case.onnx')
    out = os.path.join(folder, 'case.gcw')
    with open(path, 'wb') as f:
        f.write(data)
    t = time.time()
    rc, err = (run_subprocess if sub else run_inprocess)(path, out)
    dt = time.time() - t
    lines = err.splitlines()
    problem = None
    if rc == 0 and (may_succeed or must_succeed):
        if lines or not os.path.exists(out):
            problem = 'status 0 with stderr %r or no output' % err[:200]
    elif must_succeed:
        problem = 'a valid model was refused: %r' % err[:300]
    elif rc != 1:
        problem = 'status %s %s' % (rc, err[-300:])
    elif len(lines) != 1 or not lines[0].startswith('gcw_convert: error: '):
        problem = 'stderr is not one "gcw_convert: error:" line: %r' % err[:300]
    elif os.path.exists(out) or os.path.exists(out + '.tmp'):
        problem = 'output written despite the error'
    if verbose or problem:
        print('  %-8s %-60.60s %5.2fs %s' % ('FAIL' if problem else 'ok', label, dt, problem or
                                              (lines[0][:150] if lines else 'converted')))
    for p in (out, out + '.tmp', path):
        if os.path.exists(p):
            os.remove(p)
    return problem is None, rc == 0, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workdir', help='scratch folder (default: a new temporary one)')
    ap.add_argument('--mutations', type=int, default=300)
    ap.add_argument('--seed', type=int, default=15)
    ap.add_argument('--subprocess-every', type=int, default=50)
    ap.add_argument('-v', action='store_true')
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix='onnx_mutations_')
    os.makedirs(work, exist_ok=True)
    ext = external_cases(work)
    cats = [('wire', [(l, d, ok, work) for l, d, ok in wire_cases()], False),
            ('tensor', [(l, d, ok, work) for l, d, ok in tensor_cases()], False),
            ('external', ext, False),
            ('graph', [(l, d, ok, work) for l, d, ok in graph_cases()], False),
            ('truncation', [(l, d, ok, work) for l, d, ok in truncation_cases()], False),
            ('mutation', [(l, d, False, work) for l, d, _ in mutation_cases(a.mutations, a.seed)], True)]
    failed = total = 0
    t0 = time.time()
    for name, cases, may_succeed in cats:
        t1 = time.time()
        ok = conv = subs = 0
        slow = 0.0
        for i, (label, data, must, folder) in enumerate(cases):
            sub = a.subprocess_every > 0 and i % a.subprocess_every == 0
            good, converted, dt = check(label, data, folder, may_succeed, must, sub, a.v)
            ok += good
            conv += converted
            subs += sub
            slow = max(slow, dt)
        total += len(cases)
        failed += len(cases) - ok
        print('%-12s %4d cases, %4d refused cleanly, %d converted, %d failed (%d as subprocesses, slowest %.2f s, '
              'all %.1f s)' % (name, len(cases), ok - conv, conv, len(cases) - ok, subs, slow, time.time() - t1))
    if not a.workdir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print('onnx_mutations: %d cases, %d failed, %.1f s' % (total, failed, time.time() - t0))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
