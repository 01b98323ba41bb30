#!/usr/bin/python3
"""Acceptance check on full-size torchvision networks (development time only;
needs /usr/bin/python3 with torch + torchvision, about 1.5 GB of disk in a
temporary folder, and a built tree: run `make` first).

  /usr/bin/python3 tests/ref/check_full_size.py [--keep DIR] [--only vgg16|alexnet]

1. torchvision vgg16(weights=None) saved with the legacy serialization, and
   alexnet(weights=None) saved with the zip serialization and as .safetensors;
2. converted with tools/gcw_convert.py (timed);
3. examples/classify --logits-out on random 224x224 inputs vs PyTorch logits
   (limit: max |diff| <= 1e-3 * max |logit|);
4. examples/gradcam -c <predicted> -c <runner-up> --counterfactual vs a
   PyTorch autograd implementation of every map (limit: max |diff| <= 5e-3 *
   max |map| and correlation >= 0.999).
Prints one line per comparison and exits non-zero if any limit is missed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, HERE)
from make_explain_fixtures import explain, no_inplace  # noqa: E402

failures = []


def report(name, ours, ref, rel_limit, corr_limit=None):
    ours, ref = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    scale = np.abs(ref).max()
    rel = np.abs(ours - ref).max() / scale if scale > 0 else np.abs(ours).max()
    corr = np.corrcoef(ours, ref)[0, 1] if ours.std() > 0 and ref.std() > 0 else float('nan')
    ok = rel <= rel_limit and (corr_limit is None or corr >= corr_limit or (scale == 0 and rel == 0))
    print('  %-40s max|diff|/max %.2e  corr %.7f  %s' % (name, rel, corr, 'ok' if ok else 'FAIL'))
    if not ok:
        failures.append(name)


def run(cmd):
    t = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.time() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--keep', help='work in this folder and keep the files')
    ap.add_argument('--only', choices=['vgg16', 'alexnet'])
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix='gc_full_')
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    nets = [('vgg16', 'legacy', 29), ('alexnet', 'zip', 11), ('alexnet', 'safetensors', 11)]
    for arch, fmt, layer in nets:
        if args.only and arch != args.only:
            continue
        print('%s (%s)' % (arch, fmt))
        model = getattr(torchvision.models, arch)(weights=None).eval()
        src = os.path.join(work, '%s_%s.%s' % (arch, fmt, 'safetensors' if fmt == 'safetensors' else 'pth'))
        if fmt == 'safetensors':
            from make_model_fixtures import save_safetensors
            save_safetensors(model.state_dict(), src)
        else:
            torch.save(model.state_dict(), src, _use_new_zipfile_serialization=(fmt == 'zip'))
        gcw = os.path.join(work, '%s_%s.gcw' % (arch, fmt))
        dt = run(['python3', 'tools/gcw_convert.py', src, gcw])
        params = sum(p.numel() for p in model.parameters())
        print('  converted in %.1f s; .gcw %d bytes = %d weight bytes + %d' % (
            dt, os.path.getsize(gcw), 4 * params, os.path.getsize(gcw) - 4 * params))

        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(7))
        inputs = []
        for i in range(2):
            p = os.path.join(work, 'in%d.npy' % i)
            np.save(p, x[i].numpy())
            inputs.append(p)
        logits_path = os.path.join(work, 'logits.npy')
        dt = run(['examples/classify', gcw] + inputs + ['--logits-out', logits_path, '-k', '1'])
        with torch.no_grad():
            ref = model.double()(x.double()).numpy()
        ours = np.load(logits_path)
        print('  classify: 2 inputs in %.1f s' % dt)
        d = np.abs(ours - ref).max() / np.abs(ref).max()
        ok = d <= 1e-3
        print('  %-40s max|diff|/max|logit| %.2e  %s' % ('logits', d, 'ok' if ok else 'FAIL'))
        if not ok:
            failures.append(arch + ' logits')

        # Grad-CAM family on input 0: the predicted class and the runner-up (not
        # predicted; on random weights the least likely class has an all-zero map)
        m64 = no_inplace(model).double()
        xi = x[0:1].double()
        with torch.no_grad():
            lg = m64(xi)[0]
        order = torch.argsort(lg, descending=True)
        classes = [int(order[0]), int(order[1])]
        outdir = os.path.join(work, 'out_' + arch)
        cmd = ['examples/gradcam', gcw, inputs[0], '-o', outdir, '--counterfactual', '-q']
        for c in classes:
            cmd += ['-c', str(c)]
        dt = run(cmd)
        print('  gradcam: 2 classes, every map, in %.1f s' % dt)
        js = json.load(open(os.path.join(outdir, 'in0.json')))
        assert [t['class'] for t in js['targets']] == classes
        for c in classes:
            maps, _ = explain(m64, layer, xi, c)
            for ours_name, ref_name in [('gradcam', 'cam'), ('gradcam_up', 'cam_up'), ('guided', 'guided'),
                                        ('guided_gradcam', 'guided_gradcam'), ('counterfactual', 'counterfactual')]:
                o = np.load(os.path.join(outdir, 'in0_c%d_%s.npy' % (c, ours_name)))
                report('%s c%d %s' % (arch, c, ours_name), o, maps[ref_name].detach().numpy(), 5e-3, 0.999)
        del model, m64
    print('FAILED: ' + ', '.join(failures) if failures else 'all within limits')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
