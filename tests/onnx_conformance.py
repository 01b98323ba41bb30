#!/usr/bin/env python3
"""onnx_conformance.py - ONNX's own backend tests against tools/gcw_convert.py and the engine
(`make onnx-conformance`; Python 3 standard library only).

    onnx_conformance.py --data DIR --run DRIVER [--jobs N] [--verbose] [--only SUBSTRING]

DIR is the test data of the onnx package (Debian: libonnx-testdata, /usr/share/libonnx-testdata/
data): folders node/, pytorch-converted/, pytorch-operator/, simple/ (and real/, whose models
are not shipped), each test a folder with model.onnx and test_data_set_N/ holding input_K.pb
and output_K.pb (TensorProto). For every data set of every test:

  - the model's first graph input stays the network input; every other input becomes an
    initializer holding that data set's value (so Conv's W, Gemm's B, Pad's pads, Clip's
    bounds are constants, as in an exported model - the engine has one input);
  - tools/gcw_convert.py converts it. Exit status 1 with one line on stderr is a refusal
    (the op, an attribute or an input the converter does not claim); anything else (another
    status, a traceback, more lines, a timeout) is a failure;
  - DRIVER (tests/onnx_run.c) runs the .gcw on input_0 and the output is compared with
    output_0: same shape (the engine holds rank-1 and rank-3 tensors with trailing 1s up
    to 4 dimensions), |ours - expected| <= 1e-7 + 1e-3 |expected| per element
    (the tolerances of ONNX's backend test runner), NaN where NaN is expected.

A test passes when every data set passes, is refused when the converter refuses it, and
fails otherwise. Prints one line per failure, then the counts; --verbose also lists the
refusals with their reasons. Exit status 1 if any test failed.
"""
import argparse
import concurrent.futures
import math
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
import onnx_import  # noqa: E402
import protobuf_wire as pw  # noqa: E402

SUITES = ('node', 'pytorch-converted', 'pytorch-operator', 'simple')
RTOL, ATOL = 1e-3, 1e-7
TIMEOUT = 60


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def load_tensor(path):
    """A TensorProto file as (dtype name, shape, flat values)."""
    tp = pw.decode(read(path), onnx_import.TENSOR)
    c = onnx_import.TensorReader(path).read(tp, os.path.basename(path))
    return c.dtype, c.shape, c.data


def write_npy(path, shape, values):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ''.join('%d, ' % d for d in shape)
    hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode('latin-1'))
        f.write(struct.pack('<%df' % len(values), *values))


def read_npy(path):
    b = read(path)
    n = struct.unpack('<H', b[8:10])[0]
    hdr = b[10:10 + n].decode('latin-1')
    shape = tuple(int(v) for v in hdr.split('(')[1].split(')')[0].split(',') if v.strip())
    data = b[10 + n:]
    return shape, struct.unpack('<%df' % (len(data) // 4), data)


def frozen_model(model_bytes, dataset):
    """The model with every graph input but the first turned into an initializer holding
    the data set's value (protobuf: fields of the graph appended to it are merged)."""
    model = pw.decode(model_bytes, onnx_import.MODEL)
    g = model.get('graph', {})
    inits = {t.get('name') for t in g.get('initializer', [])}
    ins = [vi.get('name', '') for vi in g.get('input', []) if vi.get('name', '') not in inits]
    extra = b''
    for k, name in enumerate(ins):
        if k == 0:
            continue
        p = os.path.join(dataset, 'input_%d.pb' % k)
        if not os.path.exists(p):
            return None, ins
        extra += pw.enc_len(5, read(p) + pw.enc_len(8, name.encode('utf-8')))
    if not extra:
        return model_bytes, ins
    out = bytearray()
    for num, wt, v, e in pw.fields(model_bytes, 0, len(model_bytes)):
        if num == 7:
            out += pw.enc_len(7, bytes(model_bytes[v:e]) + extra)
        elif wt == pw.LEN:
            out += pw.enc_len(num, model_bytes[v:e])
        elif wt == pw.VARINT:
            out += pw.enc_int(num, v)
        elif wt == pw.I32:
            out += pw.enc_key(num, pw.I32) + v.to_bytes(4, 'little')
        else:
            out += pw.enc_key(num, pw.I64) + v.to_bytes(8, 'little')
    return bytes(out), ins


def close(a, b):
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b):
        return a == b
    return abs(a - b) <= ATOL + RTOL * abs(b)


def run_test(test, driver, work):
    """('pass' | 'refused' | 'fail', message, op types)."""
    model_path = os.path.join(test, 'model.onnx')
    model_bytes = read(model_path)
    try:
        m = pw.decode(model_bytes, onnx_import.MODEL)
        ops = sorted({n.get('op_type', '') for n in m.get('graph', {}).get('node', [])})
    except pw.WireError:
        ops = []
    sets = sorted(d for d in os.listdir(test) if d.startswith('test_data_set_'))
    if not sets:
        return 'refused', 'no data sets', ops
    for ds in sets:
        dsp = os.path.join(test, ds)
        frozen, ins = frozen_model(model_bytes, dsp)
        if frozen is None:
            return 'refused', 'a data set lacks an input', ops
        onnx_path = os.path.join(work, 'model.onnx')
        with open(onnx_path, 'wb') as f:
            f.write(frozen)
        gcw = os.path.join(work, 'model.gcw')
        if os.path.exists(gcw):
            os.remove(gcw)
        try:
            r = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'gcw_convert.py'), onnx_path, gcw],
                               capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return 'fail', 'converter timed out', ops
        err = r.stderr.strip().split('\n')
        if r.returncode == 1:
            if len(err) != 1 or not err[0].startswith('gcw_convert: error: ') or os.path.exists(gcw):
                return 'fail', 'refusal is not one line (or wrote a file): %r' % r.stderr[-300:], ops
            return 'refused', err[0][len('gcw_convert: error: '):].replace(onnx_path + ': ', ''), ops
        if r.returncode != 0:
            return 'fail', 'converter exit status %d: %s' % (r.returncode, r.stderr[-300:]), ops
        outs = [f for f in os.listdir(dsp) if f.startswith('output_')]
        if outs != ['output_0.pb']:
            return 'fail', 'converted a model with %d outputs' % len(outs), ops
        dt, shape, vals = load_tensor(os.path.join(dsp, 'input_0.pb'))
        if dt != 'float32':
            return 'fail', 'converted a model whose input is %s' % dt, ops
        xin, yout = os.path.join(work, 'x.npy'), os.path.join(work, 'y.npy')
        write_npy(xin, shape, vals)
        try:
            r = subprocess.run([driver, gcw, xin, yout], capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return 'fail', 'the engine timed out', ops
        if r.returncode != 0:
            return 'fail', 'engine: %s' % r.stderr.strip()[-300:], ops
        edt, eshape, evals = load_tensor(os.path.join(dsp, 'output_0.pb'))
        oshape, ovals = read_npy(yout)
        if tuple(oshape[:len(eshape)]) != tuple(eshape) or any(d != 1 for d in oshape[len(eshape):]):
            return 'fail', 'output shape %s, expected %s' % (oshape, tuple(eshape)), ops
        bad = [i for i, (a, b) in enumerate(zip(ovals, evals)) if not close(a, float(b))]
        if bad:
            i = bad[0]
            return 'fail', '%s: %d of %d values differ (first at %d: %r, expected %r)' % (
                ds, len(bad), len(evals), i, ovals[i], evals[i]), ops
    return 'pass', '', ops


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default='/usr/share/libonnx-testdata/data')
    ap.add_argument('--run', required=True, help='the driver (tests/onnx_run.c, built)')
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 2)
    ap.add_argument('--only', help='run the tests whose folder name contains this')
    ap.add_argument('--verbose', action='store_true')
    a = ap.parse_args()
    if not os.path.isdir(a.data):
        print('onnx_conformance: %s: no ONNX test data (Debian: apt-get install libonnx-testdata)' % a.data)
        return 1
    tests = []
    for s in SUITES:
        d = os.path.join(a.data, s)
        if os.path.isdir(d):
            tests += [os.path.join(d, t) for t in sorted(os.listdir(d))
                      if os.path.exists(os.path.join(d, t, 'model.onnx')) and (not a.only or a.only in t)]
    with tempfile.TemporaryDirectory() as tmp:
        def job(i_t):
            i, t = i_t
            work = os.path.join(tmp, str(i))
            os.makedirs(work)
            try:
                return t, run_test(t, a.run, work)
            except Exception as e:      # the runner's own trouble: count it as a failure
                return t, ('fail', 'runner: %s: %s' % (type(e).__name__, e), [])
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
            results = list(ex.map(job, enumerate(tests)))
    counts = {'pass': 0, 'refused': 0, 'fail': 0}
    per_op = {}
    for t, (status, msg, ops) in results:
        counts[status] += 1
        name = os.path.relpath(t, a.data)
        if status == 'fail':
            print('FAIL %s: %s' % (name, msg))
        elif status == 'refused' and a.verbose:
            print('refused %s: %s' % (name, msg))
        for op in ops:
            per_op.setdefault(op, {'pass': 0, 'refused': 0, 'fail': 0})[status] += 1
    if a.verbose:
        print('\nper operator (tests whose model uses it): passed / refused / failed')
        for op in sorted(per_op):
            if op in onnx_import.ALLOWED_ATTRS:
                c = per_op[op]
                print('  %-20s %4d %4d %4d' % (op, c['pass'], c['refused'], c['fail']))
    print('onnx-conformance: %d tests: %d passed, %d refused, %d failed'
          % (len(results), counts['pass'], counts['refused'], counts['fail']))
    return 1 if counts['fail'] else 0


if __name__ == '__main__':
    sys.exit(main())
