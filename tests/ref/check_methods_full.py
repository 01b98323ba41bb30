#!/usr/bin/python3
"""check_methods_full.py - the methods of gc_explain beyond the paper's six at full size:
random-init torchvision VGG-16 (target features.29, relu5_3, 512 x 14 x 14) and ResNet-18
(layer4, 512 x 7 x 7) at 224 x 224, against PyTorch float64 (tests/ref/methods_ref.py). The
limit is the design's: max|ours - f64| / max|f64| <= max(2 x PyTorch float32's error, 1e-4).
Development time only: /usr/bin/python3 with torch + torchvision, a built tree (`make`),
about 2 GB of memory and, on 2 cores, some 20 minutes per network (float64 convolutions).

  nice -n 19 /usr/bin/python3 tests/ref/check_methods_full.py [--only vgg16|resnet18] [--keep DIR]
                                                              [--reuse] [--occlusion]
--reuse takes our maps from an earlier run kept with --keep (DIR/<net>_ours/seconds.txt).

Per network: weights seed 0, one N(0, 1) input (seed 7), the top and the bottom class of the
float64 logits; every layer map of methods_ref.layer_methods for both classes (Ablation-CAM's
oracle runs the layers after the target on batches of ablated A, which is the same function;
Score-CAM's masked inputs run once for both classes) and, for the top class, saliency, input x
gradient, Integrated Gradients (16 steps, zero baseline, with delta and gap), SmoothGrad and
VarGrad (8 samples, sigma 0.15, our generator's noise with seed 7, fed to PyTorch) and, with
--occlusion, occlusion (patch 28, stride 14: gc_explain's defaults; 225 more forward passes in
each precision, so off by default: the small fixtures check it).
Ours: tests/ref/methods_maps.c, one gc_explain with all these methods, default kernels (Winograd,
fused paths), batch 32. Prints one line per map and exits non-zero if any is over its limit.
"""
import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, HERE)
import methods_ref as mr  # noqa: E402

IG_STEPS, SAMPLES, SIGMA, SEED = 16, 8, 0.15, 7
METHODS = ('gradcam_pp,xgradcam,hirescam,gradcam_elementwise,layercam,scorecam,ablationcam,eigencam,eigen_gradcam,'
           'saliency,input_x_gradient,integrated_gradients,smoothgrad,occlusion')


def nets():
    def vgg():
        m = torchvision.models.vgg16(weights=None)
        return m, 'features.29', lambda n: n.features[29], \
            lambda n: (lambda A: n.classifier(torch.flatten(n.avgpool(n.features[30](A)), 1)))

    def resnet():
        m = torchvision.models.resnet18(weights=None)
        return m, 'layer4', lambda n: n.layer4, lambda n: (lambda A: n.fc(torch.flatten(n.avgpool(A), 1)))
    return {'vgg16': vgg, 'resnet18': resnet}


def check(name, build, tool, work, failures, reuse, with_occlusion):
    torch.manual_seed(0)
    model, layer, get, tail = build()
    model = mr.no_inplace(model).eval()
    ckpt, gcw = os.path.join(work, name + '.pth'), os.path.join(work, name + '.gcw')
    if not (reuse and os.path.exists(gcw)):
        torch.save(model.state_dict(), ckpt)
        subprocess.run(['python3', os.path.join(ROOT, 'tools', 'gcw_convert.py'), ckpt, gcw], check=True,
                       stdout=subprocess.DEVNULL)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
    np.save(os.path.join(work, name + '_in.npy'), x.numpy())
    m64 = copy.deepcopy(model).double()
    x64 = x.double()
    with torch.no_grad():
        logits = m64(x64)[0]
    classes = [int(logits.argmax()), int(logits.argmin())]
    npath = os.path.join(work, 'noise.npy')
    subprocess.run([tool, '--noise', str(SEED), str(SAMPLES * 3 * 224 * 224), npath], check=True)
    noise = torch.from_numpy(np.load(npath).astype(np.float64)).reshape(SAMPLES, 3, 224, 224)
    refs = {}
    for dtype, m, xx in ((torch.float64, m64, x64), (torch.float32, model.float(), x.float())):
        t = time.time()
        cache = {}
        for c in classes:
            for k, v in mr.layer_methods(m, xx, get(m), c, tail=tail(m), cache=cache).items():
                refs.setdefault(k + '@%d' % c, {})[dtype] = v
        for k, v in mr.input_methods(m, xx, classes[0], IG_STEPS, noise.to(dtype), SIGMA, 28, 14,
                                     with_occlusion=with_occlusion).items():
            refs.setdefault(k + '@%d' % classes[0], {})[dtype] = v
        print('%s: PyTorch %s oracle %.1f s' % (name, dtype, time.time() - t), flush=True)
    out = os.path.join(work, name + '_ours')
    os.makedirs(out, exist_ok=True)
    t = time.time()
    if not (reuse and os.path.exists(os.path.join(out, 'seconds.txt'))):
        subprocess.run([tool, gcw, os.path.join(work, name + '_in.npy'), out, layer, METHODS, '--ig-steps', str(IG_STEPS),
                        '--samples', str(SAMPLES), '--sigma', str(SIGMA), '--seed', str(SEED)] +
                       [str(c) for c in classes], check=True)
    print('%s: classes %s; ours (every method, both classes) %.1f s' % (name, classes, time.time() - t), flush=True)
    worst = 0.0
    for key in sorted(refs):
        k, c = key.split('@')
        f64, f32 = refs[key][torch.float64], refs[key][torch.float32]
        ours = torch.from_numpy(np.load(os.path.join(out, 'c%s_%s.npy' % (c, k))).astype(np.float64))
        ours = ours.reshape(f64.shape)
        if k == 'integrated_gradients_delta':  # ~0 in float64: relative to the gap s(x) - s(x')
            gap = refs['integrated_gradients_gap@' + c][torch.float64].abs().max().item()
            e32, err = (f32 - f64).abs().max().item() / gap, (ours - f64).abs().max().item() / gap
        else:
            e32 = mr.f32_error(f32, f64)
            err = mr.f32_error(ours, f64)
        limit = max(2 * e32, 1e-4)
        ok = err <= limit
        worst = max(worst, err / limit)
        print('  %-9s c%-4s %-28s ours %.2e  float32 %.2e  limit %.2e  %s' % (
            name, c, k, err, e32, limit, 'ok' if ok else 'FAIL'), flush=True)
        if not ok:
            failures.append('%s %s' % (name, key))
    print('%s: %d maps, largest error / limit %.3f' % (name, len(refs), worst), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--only', choices=sorted(nets()))
    ap.add_argument('--keep', help='work in this folder and keep its files')
    ap.add_argument('--reuse', action='store_true', help='our maps and .gcw files from an earlier --keep run')
    ap.add_argument('--occlusion', action='store_true', help='compare occlusion too (225 more forwards per precision)')
    a = ap.parse_args()
    torch.set_num_threads(2)
    work = a.keep or tempfile.mkdtemp(prefix='gc_methods_full_')
    os.makedirs(work, exist_ok=True)
    tool = os.path.join(work, 'methods_maps')
    subprocess.run(['cc', '-O2', '-I' + os.path.join(ROOT, 'include'), '-I' + os.path.join(ROOT, 'lib'),
                    os.path.join(HERE, 'methods_maps.c'), os.path.join(ROOT, 'lib', 'libgradcam.a'), '-lm', '-lpthread', '-o', tool],
                   check=True)
    failures = []
    for name, build in nets().items():
        if not a.only or a.only == name:
            check(name, build, tool, work, failures, a.reuse, a.occlusion)
    if not a.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print('FAILED: %s' % ', '.join(failures))
        return 1
    print('all maps within their limits')
    return 0


if __name__ == '__main__':
    sys.exit(main())
