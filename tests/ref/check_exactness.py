#!/usr/bin/python3
"""check_exactness.py - every map of the library's paths against PyTorch float64, next to
PyTorch float32's own error (the project's exactness rule: within max(2 x float32's error,
1e-4), error = max|ours - f64| / max|f64|). Development time only: needs /usr/bin/python3 with
torch + torchvision + numpy, a built tree (`make`), and a C compiler (it builds
tests/ref/explain_maps.c against lib/libgradcam.a).

  /usr/bin/python3 tests/ref/check_exactness.py [--model vgg16|alexnet|resnet50|...]...
        [--input noise|smooth]... [--path default|no-winograd|no-fold|reference]... [--size 224]

For each model (torchvision, random weights with seed 0, non-trivial batch-norm statistics where
there is batch-norm), input (noise: N(0,1); smooth: a few broad Gaussian blobs of each sign per
channel) and class (the top and the bottom of the float64 logits): Grad-CAM at the default layer
(alpha, raw, cam, cam_up), counterfactual, guided backprop, Guided Grad-CAM and deconvnet. Prints
one line per map and path and exits non-zero if a map of the default path misses the rule.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, HERE)
from make_resnet_fixtures import all_maps, f32_error, randomize  # noqa: E402

LAYER = {'vgg16': 'features.29', 'vgg11_bn': 'features.27', 'alexnet': 'features.11'}  # else the ResNet 'layer4'
MAPS = ['alpha', 'raw', 'cam', 'cam_up', 'counterfactual', 'guided', 'guided_gradcam', 'deconvnet']


def smooth_input(size, seed):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing='ij')
    x = torch.zeros(1, 3, size, size, dtype=torch.float64)
    for c in range(3):
        for _ in range(6):
            cy, cx = torch.rand(2, generator=g, dtype=torch.float64) * size
            r = (0.08 + 0.2 * torch.rand(1, generator=g, dtype=torch.float64)) * size
            a = torch.randn(1, generator=g, dtype=torch.float64) * 1.5
            x[0, c] += a * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return x.float()


def build(name):
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)(weights=None)
    if any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules()):
        randomize(m)
    return m.eval()


def ours(tool, gcw, x, layer, classes, path, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    np.save(os.path.join(out, 'in.npy'), x.numpy().astype('<f4'))
    flags = {'default': [], 'no-winograd': ['--no-winograd'], 'no-fold': ['--no-fold'],
             'reference': ['--reference']}[path]
    subprocess.run([tool, gcw, os.path.join(out, 'in.npy'), out, layer] + flags + [str(c) for c in classes],
                   check=True)
    return {'c%d_%s' % (c, k): np.load(os.path.join(out, 'c%d_%s.npy' % (c, k))) for c in classes for k in MAPS}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', action='append')
    ap.add_argument('--input', action='append', choices=['noise', 'smooth'])
    ap.add_argument('--path', action='append', choices=['default', 'no-winograd', 'no-fold', 'reference'])
    ap.add_argument('--size', type=int, default=224)
    a = ap.parse_args()
    misses = 0
    with tempfile.TemporaryDirectory() as tmp:
        tool = os.path.join(tmp, 'explain_maps')
        subprocess.run(['cc', '-O2', '-I' + os.path.join(ROOT, 'include'), os.path.join(HERE, 'explain_maps.c'),
                        os.path.join(ROOT, 'lib', 'libgradcam.a'), '-lm', '-lpthread', '-o', tool], check=True)
        for name in a.model or ['vgg16', 'alexnet']:
            model = build(name)
            layer = LAYER.get(name, 'layer4')
            ckpt, gcw = os.path.join(tmp, name + '.pth'), os.path.join(tmp, name + '.gcw')
            torch.save(model.state_dict(), ckpt)
            subprocess.run(['python3', os.path.join(ROOT, 'tools', 'gcw_convert.py'), ckpt, gcw],
                           check=True, stdout=subprocess.DEVNULL)
            m64, m32 = model.double(), build(name).float()
            for kind in a.input or ['noise', 'smooth']:
                x = torch.randn(1, 3, a.size, a.size, generator=torch.Generator().manual_seed(7)) if kind == 'noise' \
                    else smooth_input(a.size, 7)
                with torch.no_grad():
                    logits = m64(x.double())[0]
                classes = [int(logits.argmax()), int(logits.argmin())]
                f64 = all_maps(m64, x.double(), [layer], classes)
                f32 = all_maps(m32, x.float(), [layer], classes)
                print('%s, %s input, classes %s (top, bottom), layer %s' % (name, kind, classes, layer))
                for path in a.path or ['default']:
                    mine = ours(tool, gcw, x, layer, classes, path, tmp)
                    for c in classes:
                        for k in MAPS:
                            key = 'c%d_%s' % (c, k) if k in ('guided', 'deconvnet') else '%s_c%d_%s' % (layer, c, k)
                            ref = f64[key].numpy()
                            e32 = f32_error(f32[key], f64[key])
                            scale = np.abs(ref).max()
                            got = mine['c%d_%s' % (c, k)].reshape(ref.shape)
                            e = np.abs(got - ref).max() / scale if scale > 0 else np.abs(got).max()
                            limit = max(2 * e32, 1e-4)
                            ok = e <= limit
                            misses += not ok and path == 'default'
                            print('  %-12s c%-4d %-15s ours %.2e  f32 %.2e  limit %.2e  %s'
                                  % (path, c, k, e, e32, limit, 'ok' if ok else 'MISS'))
    print('%d miss(es) on the default path' % misses)
    return 1 if misses else 0


if __name__ == '__main__':
    sys.exit(main())
