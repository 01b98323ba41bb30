#!/usr/bin/python3
"""Writes tests/data/methods/: the oracles of gc_explain's methods beyond the paper's six
(tests/test_methods_torch.c compares against them), computed by PyTorch in float64 from the
formulas in methods_ref.py.

Run by developers with /usr/bin/python3 (torch, numpy) after `make` (it builds
tests/ref/methods_maps.c for the SmoothGrad noise, our generator's); never by `make test`.

  methods_vgg     VGG-11 layout (make_model_fixtures.vgg) with features [4, M, 8, M, 8, 8, M,
                  16, 16, M, 16, 16, M], classifier 784-16-16-10, Kaiming fan-in weights, biases
                  U(-0.1, 0.1), seed 0, 32x32 input;
                  targets features.14 (4x4, 16 channels; the layers after it: a max pool, two
                  convolutions, the classifier) and features.9 (8x8, 8 channels);
                  methods_vgg_zip.pth, _in0.npy
  resnet18_small  the committed tests/data/resnet fixture (40x40 input), targets layer4
                  (2x2, 8 channels) and layer3.0 (3x3, 8 channels)

Per model, for the top and the bottom class of the float64 logits and each target T:
  <m>_<T>_c<C>_<map>.npy  every layer map of methods_ref.layer_methods (h x w, weights C)
and for the top class:
  <m>_c<C>_<map>.npy      saliency, input_x_gradient, integrated_gradients (16 steps, zero
                          baseline) with _delta and _gap, smoothgrad and vargrad (4 samples,
                          sigma 0.15, seed 7, base saliency), occlusion (patch and stride
                          gc_explain's defaults: min(H,W)/8 and half of it)
  <m>_oracle.json         classes, settings and PyTorch float32's error against float64 for
                          every map
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, HERE)
import make_model_fixtures as mf  # noqa: E402
import methods_ref as mr  # noqa: E402
from make_resnet_fixtures import SmallResNet, BasicBlock  # noqa: E402

OUT = os.path.join(HERE, '..', 'data', 'methods')
RESNET = os.path.join(HERE, '..', 'data', 'resnet')
SIZE_LIMIT = 400 * 1024
IG_STEPS, SAMPLES, SIGMA, SEED = 16, 4, 0.15, 7


def noise(tool, n, shape):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'noise.npy')
        subprocess.run([tool, '--noise', str(SEED), str(n * int(np.prod(shape))), path], check=True)
        return torch.from_numpy(np.load(path).astype(np.float64)).reshape(n, *shape)


def oracle(name, model, x, targets, tool, info):
    """targets: [(name, module getter)], the first the default layer."""
    m64 = mr.no_inplace(model).double().eval()
    import copy
    m32 = copy.deepcopy(m64).float()
    x64, x32 = x.double(), x.float()
    with torch.no_grad():
        logits = m64(x64)[0]
    classes = [int(logits.argmax()), int(logits.argmin())]
    H, W = x.shape[2:]
    patch = max(1, min(H, W) // 8)
    stride = max(1, patch // 2)
    errors = {}
    for tname, get in targets:
        for c in classes:
            r64 = mr.layer_methods(m64, x64, get(m64), c)
            r32 = mr.layer_methods(m32, x32, get(m32), c)
            for k, v in r64.items():
                key = '%s_%s_c%d_%s' % (name, tname, c, k)
                mf.save_npy(os.path.join(OUT, key + '.npy'), v.numpy())
                errors[key] = mr.f32_error(r32[k], v)
    e = noise(tool, SAMPLES, x.shape[1:])
    c = classes[0]
    r64 = mr.input_methods(m64, x64, c, IG_STEPS, e, SIGMA, patch, stride)
    r32 = mr.input_methods(m32, x32, c, IG_STEPS, e.float(), SIGMA, patch, stride)
    for k, v in r64.items():
        key = '%s_c%d_%s' % (name, c, k)
        mf.save_npy(os.path.join(OUT, key + '.npy'), v.numpy())
        errors[key] = mr.f32_error(r32[k], v)
    info.update({'model': name, 'classes': classes, 'targets': [t for t, _ in targets], 'ig_steps': IG_STEPS,
                 'noise_samples': SAMPLES, 'noise_sigma': SIGMA, 'noise_seed': SEED, 'occlusion_patch': patch,
                 'occlusion_stride': stride,
                 'error': 'PyTorch float32 against float64: max|f32 - f64| / max|f64|', 'f32_error': errors})
    with open(os.path.join(OUT, name + '_oracle.json'), 'w') as f:
        json.dump(info, f, indent=1, sort_keys=True)
        f.write('\n')
    worst = max(errors, key=errors.get)
    print('%s: classes %s, %d maps, worst float32 error %.2e (%s)' % (name, classes, len(errors), errors[worst], worst))


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tool = os.path.join(tmp, 'methods_maps')
        subprocess.run(['cc', '-O2', '-I' + os.path.join(ROOT, 'include'), '-I' + os.path.join(ROOT, 'lib'),
                        os.path.join(HERE, 'methods_maps.c'), os.path.join(ROOT, 'lib', 'libgradcam.a'), '-lm', '-lpthread', '-o',
                        tool], check=True)
        torch.manual_seed(0)
        vgg = mf.vgg([4, 'M', 8, 'M', 8, 8, 'M', 16, 16, 'M', 16, 16, 'M'], False, 16, 10)
        for mod in vgg.modules():   # Kaiming fan-in weights: the input moves the logits (with
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):   # PyTorch's default init
                torch.nn.init.kaiming_normal_(mod.weight, nonlinearity='relu')   # the biases
                torch.nn.init.uniform_(mod.bias, -0.1, 0.1)   # dominate and differences cancel)
        torch.save(vgg.state_dict(), os.path.join(OUT, 'methods_vgg_zip.pth'))
        x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
        mf.save_npy(os.path.join(OUT, 'methods_vgg_in0.npy'), x.numpy())
        oracle('methods_vgg', vgg, x, [('features.14', lambda m: m.features[14]), ('features.9', lambda m: m.features[9])],
               tool, {})
        rn = SmallResNet(BasicBlock, [2, 2, 2, 2], [4, 4, 8, 8], 10, 1, 64)
        rn.load_state_dict(torch.load(os.path.join(RESNET, 'resnet18_small_zip.pth')))
        x = torch.from_numpy(np.load(os.path.join(RESNET, 'resnet18_small_in0.npy')))
        oracle('resnet18_small', rn.eval(), x, [('layer4', lambda m: m.layer4), ('layer3.0', lambda m: m.layer3[0])],
               tool, {})
    files = sorted(os.listdir(OUT))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in files)
    print('wrote %s: %d files, %d bytes (limit %d)' % (os.path.normpath(OUT), len(files), total, SIZE_LIMIT))
    if total > SIZE_LIMIT:
        raise SystemExit('tests/data/methods is over the size limit')


if __name__ == '__main__':
    main()
