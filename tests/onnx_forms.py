#!/usr/bin/env python3
"""onnx_forms.py - the same network written in different ONNX forms converts to the same .gcw.

usage: onnx_forms.py --workdir DIR [-v]

Python 3 standard library only; run by tests/test_onnx.c. Each case builds two (or more)
files with tools/protobuf_wire.py's encoder, converts them with tools/gcw_convert.py and
requires byte-identical .gcw files, so a form no exporter at hand writes is checked against
one the fixtures check against PyTorch:
  external    tests/data/onnx/resnet18_small.onnx with every initializer moved to an
              external-data file (offsets 64-byte aligned, one file) against the original
  batch       the same with the batch dimension named ("N", dynamic_axes) against a fixed 1
  reducemean  opset 18's ReduceMean (axes as an input) against opset 13's (axes attribute)
  pad         opset 18's Pad (axes input, pads for H and W only) against opset 13's (pads of
              every axis) and opset 10's (pads and value as attributes)
  split       opset 18's Split (num_outputs) against opset 13's (split sizes as an input) and
              opset 11's (split attribute)
  clip        opset 11's Clip (bounds as inputs) against opset 6's (bounds as attributes)
Prints one line per case; exits 1 if any differ or fail to convert.
"""
import argparse
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tools'))
import protobuf_wire as pw  # noqa: E402
from onnx_mutations import attr, ftensor, graph, itensor, model, node, s, value_info  # noqa: E402


def convert(path, work):
    out = os.path.join(work, 'converted.gcw')
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'gcw_convert.py'), path, out],
                       capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr.strip()
    with open(out, 'rb') as f:
        return f.read(), ''


def rewrite_fields(buf, fn):
    """buf's fields in order, each passed through fn(num, wire type, raw field bytes, span) ->
    bytes to keep (b'' drops it)."""
    out = bytearray()
    pos = 0
    for num, wt, v, e in pw.fields(buf, 0, len(buf)):
        raw = bytes(buf[pos:e])
        out += fn(num, wt, raw, (v, e) if wt == pw.LEN else None)
        pos = e
    return bytes(out)


def external(src, work):
    """src with every initializer's raw data in weights.bin (TensorProto.data_location 1)."""
    with open(src, 'rb') as f:
        buf = f.read()
    blob = bytearray()

    def tensor_fn(num, wt, raw, span):
        if num == 9:        # raw_data -> external
            data = buf_t[span[0]:span[1]]
            off = len(blob)
            blob.extend(data)
            blob.extend(bytes(-len(blob) % 64))
            ext = b''.join(pw.enc_len(13, s(1, k) + s(2, v)) for k, v in
                           (('location', 'weights.bin'), ('offset', str(off)), ('length', str(len(data)))))
            return ext + pw.enc_int(14, 1)
        return raw

    def graph_fn(num, wt, raw, span):
        nonlocal buf_t
        if num == 5:
            buf_t = graph_buf[span[0]:span[1]]
            return pw.enc_len(5, rewrite_fields(buf_t, tensor_fn))
        return raw

    def model_fn(num, wt, raw, span):
        nonlocal graph_buf
        if num == 7:
            graph_buf = buf[span[0]:span[1]]
            return pw.enc_len(7, rewrite_fields(graph_buf, graph_fn))
        return raw
    buf_t = graph_buf = None
    out = rewrite_fields(buf, model_fn)
    folder = os.path.join(work, 'external')
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'weights.bin'), 'wb') as f:
        f.write(blob)
    path = os.path.join(folder, 'resnet18_small.onnx')
    with open(path, 'wb') as f:
        f.write(out)
    return path


def named_batch(src, work):
    """src with the input's first dimension a name instead of 1."""
    with open(src, 'rb') as f:
        buf = f.read()

    def dim_fn(num, wt, raw, span):      # Dimension: the first dim_value becomes dim_param "N"
        if num == 1 and not state['done']:
            state['done'] = True
            return s(2, 'N')
        return raw

    def nest(fn_inner, field):
        def fn(num, wt, raw, span):
            if num == field:
                return pw.enc_len(field, rewrite_fields(raw[len(raw) - (span[1] - span[0]):], fn_inner))
            return raw
        return fn
    state = {'done': False}
    shape_fn = nest(dim_fn, 1)                 # TensorShapeProto.dim list
    tt_fn = nest(shape_fn, 2)                  # TypeProto.Tensor.shape
    type_fn = nest(tt_fn, 1)                   # TypeProto.tensor_type
    vi_fn = nest(type_fn, 2)                   # ValueInfoProto.type

    def graph_fn(num, wt, raw, span):
        if num == 11 and not state['done']:    # the first graph input
            return pw.enc_len(11, rewrite_fields(raw[len(raw) - (span[1] - span[0]):], vi_fn))
        return raw
    out = rewrite_fields(buf, nest(graph_fn, 7))
    path = os.path.join(work, 'batch_N.onnx')
    with open(path, 'wb') as f:
        f.write(out)
    return path


X = value_info('x', [1, 4, 6, 6])
W = ftensor('w', [4, 4, 3, 3], 0.125)


def conv(out='c'):
    return node('Conv', ['x', 'w'], [out], 'conv', pads=[1, 1, 1, 1])


def reducemean_pair():
    y = value_info('y', [1, 4])
    m13 = model(graph([conv(), node('ReduceMean', ['c'], ['y'], 'mean', axes=[2, 3], keepdims=0)], [W], [X], [y]),
                opset=13)
    m18 = model(graph([conv(), node('ReduceMean', ['c', 'a'], ['y'], 'mean', keepdims=0)], [W, itensor('a', [2, 3])],
                      [X], [y]), opset=18)
    return [('opset 13', m13), ('opset 18', m18)]


def pad_forms():
    y = value_info('y', [1, 4, 9, 10])
    v = ftensor('v', [], 0.5)
    m10 = model(graph([conv(), node('Pad', ['c'], ['y'], 'pad', pads=[0, 0, 1, 3, 0, 0, 2, 1]) +
                       pw.enc_len(5, attr('value', 0.5))], [W], [X], [y]), opset=10)
    m13 = model(graph([conv(), node('Pad', ['c', 'p', 'v'], ['y'], 'pad')],
                      [W, itensor('p', [0, 0, 1, 3, 0, 0, 2, 1]), v], [X], [y]), opset=13)
    m18 = model(graph([conv(), node('Pad', ['c', 'p', 'v', 'a'], ['y'], 'pad')],
                      [W, itensor('p', [1, 3, 2, 1]), v, itensor('a', [2, 3])], [X], [y]), opset=18)
    return [('opset 10', m10), ('opset 13', m13), ('opset 18', m18)]


def split_forms():
    y = value_info('y', [1, 4, 6, 6])
    tail = [node('Concat', ['b', 'a'], ['y'], 'cat', axis=1)]
    m11 = model(graph([conv(), node('Split', ['c'], ['a', 'b'], 'split', axis=1, split=[2, 2])] + tail, [W], [X], [y]),
                opset=11)
    m13 = model(graph([conv(), node('Split', ['c', 'n'], ['a', 'b'], 'split', axis=1)] + tail,
                      [W, itensor('n', [2, 2])], [X], [y]), opset=13)
    m18 = model(graph([conv(), node('Split', ['c'], ['a', 'b'], 'split', axis=1, num_outputs=2)] + tail, [W], [X], [y]),
                opset=18)
    return [('opset 11', m11), ('opset 13', m13), ('opset 18', m18)]


def clip_forms():
    y = value_info('y', [1, 4, 6, 6])
    m6 = model(graph([conv(), node('Clip', ['c'], ['y'], 'clip') + pw.enc_len(5, attr('min', -0.5)) +
                      pw.enc_len(5, attr('max', 1.5))], [W], [X], [y]), opset=6)
    m11 = model(graph([conv(), node('Clip', ['c', 'lo', 'hi'], ['y'], 'clip')],
                      [W, ftensor('lo', [], -0.5), ftensor('hi', [], 1.5)], [X], [y]), opset=11)
    return [('opset 6', m6), ('opset 11', m11)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workdir', required=True)
    ap.add_argument('-v', action='store_true')
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    resnet = os.path.join(ROOT, 'tests', 'data', 'onnx', 'resnet18_small.onnx')
    cases = [('external', [('inline', resnet), ('external data', external(resnet, a.workdir))]),
             ('batch', [('batch 1', resnet), ('batch named N', named_batch(resnet, a.workdir))])]
    for name, forms in (('reducemean', reducemean_pair()), ('pad', pad_forms()), ('split', split_forms()),
                        ('clip', clip_forms())):
        files = []
        for label, data in forms:
            p = os.path.join(a.workdir, '%s_%s.onnx' % (name, label.replace(' ', '')))
            with open(p, 'wb') as f:
                f.write(data)
            files.append((label, p))
        cases.append((name, files))
    failed = 0
    for name, files in cases:
        outs = [(label, convert(p, a.workdir)) for label, p in files]
        bad = [(label, err) for label, (g, err) in outs if g is None]
        same = not bad and all(g == outs[0][1][0] for _, (g, _) in outs)
        failed += not same
        what = ' = '.join(label for label, _ in files)
        print('%-10s %s: %s' % (name, what, 'same .gcw (%d bytes)' % len(outs[0][1][0]) if same else
                                'FAIL ' + ('; '.join('%s: %s' % b for b in bad) or 'the .gcw files differ')))
    print('onnx_forms: %d cases, %d failed' % (len(cases), failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
