#!/usr/bin/python3
"""check_resnet_full.py - acceptance check of the graph engine on full-size torchvision ResNets
(development time only; needs a built tree, `make`, and the files that
`tests/ref/make_resnet_fixtures.py --full DIR` writes: random-init resnet18, resnet50 and
resnext50_32x4d with non-trivial batch-norm statistics, 224x224 inputs, PyTorch float64
logits and maps at layer4 and layer3.1, and PyTorch float32's error on each map).

  /usr/bin/python3 tests/ref/check_resnet_full.py DIR [--only NAME] [--kernels reference]

For each model: convert the checkpoint with tools/gcw_convert.py; examples/classify
--logits-out on both inputs (limit: 1e-4 relative to max |logit|); examples/gradcam -l layer4
and -l layer3.1 for both oracle classes with --counterfactual, on input 0: Grad-CAM (layer and
input resolution), counterfactual, guided backprop and Guided Grad-CAM, each within
max(2 x PyTorch float32's error, 1e-4) of PyTorch float64 (error = max|ours - f64| / max|f64|).
A Grad-CAM map may instead match, within the same limit, PyTorch float64 with one ReLU
decision inverted whose float64 input lies closer to zero than float32 can resolve (the
oracle files list them; make_resnet_fixtures.py); the line then names that decision.
Prints one line per comparison and exits non-zero if a limit is missed. Only the standard
library and NumPy are used here; PyTorch's numbers come from the oracle files.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
failures = []


def err(ours, ref):
    ours, ref = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    if ours.shape != ref.shape:
        return float('inf')
    scale = np.abs(ref).max()
    return np.abs(ours - ref).max() / scale if scale > 0 else np.abs(ours).max()


def report(name, ours, ref, e32, alts=()):
    """alts: (label, oracle) pairs, float64 with one undecided ReLU decision
    inverted (make_resnet_fixtures.py); a map within the limit of one of them
    passes, and the line says which."""
    limit = max(2 * e32, 1e-4)
    e = err(ours, ref)
    ok, how = e <= limit, ''
    if not ok and alts:
        ea, label = min((err(ours, a), label) for label, a in alts)
        if ea <= limit:
            ok, how = True, ' with %s inverted: %.2e' % (label, ea)
    print('  %-46s %.2e  (PyTorch float32 %.2e, limit %.2e)  %s%s'
          % (name, e, e32, limit, 'ok' if ok else 'FAIL', how))
    if not ok:
        failures.append(name)


def checkpoint(d, model):
    for suffix in ('_zip.pth', '_legacy.pth', '.safetensors'):
        p = os.path.join(d, model + suffix)
        if os.path.exists(p):
            return p
    raise SystemExit('no checkpoint for %s in %s' % (model, d))


def check(d, model, work, env):
    o = json.load(open(os.path.join(d, model + '_oracle.json')))
    e32 = o['f32_error']
    gcw = os.path.join(work, model + '.gcw')
    subprocess.run([sys.executable, 'tools/gcw_convert.py', checkpoint(d, model), gcw], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    ins = [os.path.join(d, model + '_in%d.npy' % i) for i in (0, 1)]
    lo = os.path.join(work, model + '_logits.npy')
    subprocess.run(['examples/classify', gcw, *ins, '-k', '1', '--logits-out', lo], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env=env)
    flips = [f for f in o.get('undecided_relus', []) if 'file' in f]
    ref = np.array(o['logits_f64'])
    print(model)
    report(model + ' logits', np.load(lo), ref, e32.get('logits', 0))
    for layer in ('layer4', 'layer3.1'):
        out = os.path.join(work, layer)
        os.makedirs(out, exist_ok=True)
        cmd = ['examples/gradcam', gcw, ins[0], '-l', layer, '--counterfactual', '-o', out, '-q']
        for c in o['classes']:
            cmd += ['-c', str(c)]
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
        stem = os.path.join(out, model + '_in0')
        for c in o['classes']:
            def oracle(key):
                return np.load(os.path.join(d, '%s_%s.npy' % (model, key)))

            def alts(key):
                return [('%s[%d] (float64 input %.1e of its max)' % (f['relu'], f['index'], f['input_f64_rel']),
                         oracle('%s_%s' % (f['file'], key))) for f in flips]
            base = '%s_c%d' % (layer, c)
            report('%s %s gradcam' % (model, base), np.load('%s_c%d_gradcam.npy' % (stem, c)), oracle(base + '_cam'),
                   e32[base + '_cam'], alts(base + '_cam'))
            up = oracle(base + '_cam_up')
            report('%s %s gradcam_up' % (model, base), np.load('%s_c%d_gradcam_up.npy' % (stem, c)), up,
                   e32[base + '_cam_up'], alts(base + '_cam_up'))
            report('%s %s counterfactual' % (model, base), np.load('%s_c%d_counterfactual.npy' % (stem, c)),
                   oracle(base + '_counterfactual'), e32[base + '_counterfactual'], alts(base + '_counterfactual'))
            guided = oracle('c%d_guided' % c)
            if layer == 'layer4':
                report('%s c%d guided' % (model, c), np.load('%s_c%d_guided.npy' % (stem, c)), guided,
                       e32['c%d_guided' % c])
            report('%s %s guided_gradcam' % (model, base), np.load('%s_c%d_guided_gradcam.npy' % (stem, c)),
                   guided * up[None], e32[base + '_guided_gradcam'],
                   [(label, guided * a[None]) for label, a in alts(base + '_cam_up')])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--only')
    ap.add_argument('--keep', help='work in this folder and keep the files')
    a = ap.parse_args()
    models = sorted(os.path.basename(p)[:-len('_oracle.json')] for p in glob.glob(os.path.join(a.dir, '*_oracle.json')))
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        work = a.keep or tmp
        os.makedirs(work, exist_ok=True)
        for m in models:
            if not a.only or a.only == m:
                check(a.dir, m, work, env)
    print('%d failure(s)' % len(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
