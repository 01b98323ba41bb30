#!/usr/bin/python3
"""onnx_zoo.py - the ONNX model zoo of docs/onnx.md: torchvision classifiers with random
weights and non-trivial batch-norm statistics, exported with torch.onnx.export, converted by
tools/gcw_convert.py and checked against PyTorch float64.

Run by developers with /usr/bin/python3 (torch 1.13, torchvision 0.14, onnx 1.12, numpy);
never by `make test`.

  onnx_zoo.py --full DIR [--only NAME] [--opset 13,17]
      full-size resnet18, mobilenet_v2, mobilenet_v3_small, efficientnet_b0, densenet121,
      squeezenet1_1, shufflenet_v2_x1_0, googlenet, regnet_y_400mf, mnasnet1_0 at 224x224,
      exported at opsets 13 and 17 into DIR, converted, run with examples/classify and
      examples/gradcam, and compared: logits (limit 1e-4 relative), Grad-CAM of the top-1
      class at the converter's default layer (layer resolution and upsampled) and, for the
      networks whose only non-linearity is ReLU, guided backpropagation, each within
      max(2 x PyTorch float32's error, 1e-4) of float64. Prints a table (docs/onnx.md) and
      writes DIR/acceptance.json.
  onnx_zoo.py --small [--only NAME]
      writes tests/data/onnx/: reduced-width copies of the zoo (same torchvision modules,
      fewer channels and blocks, 10 classes), one ONNX file each (opsets 13 and 17
      alternating, value names shortened: shorten_values), float64 oracles (logits, Grad-CAM's
      alpha and map at the default layer, guided backprop for three ReLU networks) for the
      input test_onnx.c generates (lcg_input), and <name>_small_oracle.json with the class,
      the default layer and PyTorch float32's errors.

Errors are max|ours - f64| / max|f64| (max|ours - f64| where f64 is all 0), as in
tests/ref/make_resnet_fixtures.py. Grad-CAM: alpha_k = mean_ij dy^c/dA^k_ij at the target
layer A, cam = ReLU(sum_k alpha_k A^k), cam_up = bilinear resize (align_corners=False).
Guided backprop: every ReLU call's backward g * [x > 0] * [g > 0] (torch.nn.functional.relu
is replaced while it runs, which covers nn.ReLU modules and functional calls).
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import densenet, efficientnet, mnasnet, mobilenetv2, mobilenetv3, regnet
from torchvision.models.googlenet import BasicConv2d, Inception
from torchvision.models import shufflenetv2, squeezenet

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
from make_model_fixtures import save_npy  # noqa: E402
from make_resnet_fixtures import SmallResNet, BasicBlock  # noqa: E402

OUT = os.path.join(ROOT, 'tests', 'data', 'onnx')
SIZE_LIMIT = 400 * 1024
ZOO = ['resnet18', 'mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0', 'densenet121', 'squeezenet1_1',
       'shufflenet_v2_x1_0', 'googlenet', 'regnet_y_400mf', 'mnasnet1_0']
RELU_ONLY = {'resnet18', 'densenet121', 'squeezenet1_1', 'shufflenet_v2_x1_0', 'googlenet', 'mnasnet1_0'}


# ---------------------------------------------------------------- models

def randomize(model, seed):
    """Kaiming fan-in weights, small biases and batch-norm statistics far from the identity
    (eval mode), as make_resnet_fixtures.py."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
    return model.eval()


def full_model(name):
    kw = {'aux_logits': False, 'init_weights': False} if name == 'googlenet' else {}
    return getattr(torchvision.models, name)(weights=None, **kw)


class MiniGoogLeNet(nn.Module):
    """GoogLeNet's layout (torchvision's BasicConv2d and Inception modules, ceil-mode max
    pooling, the same forward) with 8 to 40 channels and three inception blocks."""

    def __init__(self, num_classes=10):
        super().__init__()
        BC, Inc = BasicConv2d, Inception
        self.conv1 = BC(3, 8, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BC(8, 8, kernel_size=1)
        self.conv3 = BC(8, 16, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inc(16, 4, 4, 8, 2, 4, 4)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inc(20, 8, 4, 8, 2, 4, 4)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inc(24, 8, 4, 12, 4, 8, 4)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3a(x))
        x = self.maxpool4(self.inception4a(x))
        x = self.inception5a(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


class OpsNet(nn.Module):
    """The operators and forms the zoo does not use: normalisation inside the graph (Sub, Div
    by constants), asymmetric padding (Pad + Conv), LeakyReLU, max and average pooling with
    padding and ceil_mode (count_include_pad off), Clip (hardtanh), a channel chunk and
    concat (Split or Slice), dilated grouped convolution, hardswish, a multiplication by a
    constant, SiLU, a mean over H and W without keepdims, and MatMul + Add (Keras' Dense)."""

    def __init__(self):
        super().__init__()
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=4)
        self.scale = nn.Parameter(torch.rand(1, 16, 1, 1) + 0.5)
        self.conv3 = nn.Conv2d(16, 12, 1)
        self.act = nn.SiLU()
        self.w = nn.Parameter(torch.randn(12, 10) * 0.3)
        self.b = nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.pad(x, (0, 1, 0, 1))
        x = F.leaky_relu(self.conv1(x), 0.1)
        y = F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True)
        z = F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)
        x = F.hardtanh(torch.cat([y, z], 1), -1.0, 2.0)
        a, b = x.chunk(2, 1)
        x = self.conv2(torch.cat([b, a], 1))
        x = F.hardswish(x) * self.scale
        x = self.act(self.conv3(x))
        return x.mean((2, 3)) @ self.w + self.b


def small_model(name):
    """Reduced-width copies: torchvision's classes and modules, so the same node names."""
    if name.startswith('opsnet'):
        return OpsNet()
    if name == 'resnet18':
        return SmallResNet(BasicBlock, [1, 1, 1, 1], [4, 4, 8, 8], 10)
    if name == 'mobilenet_v2':
        m = mobilenetv2.MobileNetV2(num_classes=10, width_mult=0.25, inverted_residual_setting=[
            [1, 16, 1, 1], [3, 24, 2, 2], [3, 32, 1, 2], [3, 48, 1, 2]])
        m.features[-1] = mobilenetv2.Conv2dNormActivation(16, 24, kernel_size=1, activation_layer=nn.ReLU6)
        m.classifier[1] = nn.Linear(24, 10)
        return m
    if name == 'mobilenet_v3_small':
        conf = mobilenetv3.InvertedResidualConfig
        setting = [conf(16, 3, 16, 16, True, 'RE', 2, 1, 0.5), conf(16, 3, 32, 24, False, 'RE', 2, 1, 0.5),
                   conf(24, 5, 48, 32, True, 'HS', 2, 1, 0.5), conf(32, 5, 48, 32, True, 'HS', 1, 1, 0.5)]
        m = mobilenetv3.MobileNetV3(setting, last_channel=24, num_classes=10)
        m.features[-1] = mobilenetv3.Conv2dNormActivation(16, 32, kernel_size=1, activation_layer=nn.Hardswish)
        m.classifier[0] = nn.Linear(32, 24)
        return m
    if name == 'efficientnet_b0':
        conf = efficientnet.MBConvConfig
        setting = [conf(1, 3, 1, 32, 16, 1, 0.25, 1.0), conf(3, 3, 2, 16, 24, 1, 0.25, 1.0),
                   conf(3, 5, 2, 24, 40, 1, 0.25, 1.0), conf(3, 3, 2, 40, 64, 2, 0.25, 1.0)]
        return efficientnet.EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=32)
    if name == 'densenet121':
        return densenet.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, bn_size=2,
                                 num_classes=10)
    if name == 'squeezenet1_1':
        m = squeezenet.SqueezeNet('1_1', num_classes=10)
        Fire = squeezenet.Fire
        m.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, stride=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True), Fire(8, 2, 4, 4), Fire(8, 2, 4, 4),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True), Fire(8, 4, 8, 8), Fire(16, 4, 8, 8),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True), Fire(16, 4, 12, 12), Fire(24, 4, 12, 12))
        m.classifier[1] = nn.Conv2d(24, 10, kernel_size=1)
        return m
    if name == 'shufflenet_v2_x1_0':
        return shufflenetv2.ShuffleNetV2([2, 2, 1], [8, 16, 24, 32, 48], num_classes=10)
    if name == 'googlenet':
        return MiniGoogLeNet(10)
    if name == 'regnet_y_400mf':
        params = regnet.BlockParams.from_init_params(depth=3, w_0=8, w_a=4.0, w_m=2.0, group_width=4, se_ratio=0.25)
        return regnet.RegNet(params, num_classes=10, stem_width=8)
    if name == 'mnasnet1_0':
        m = mnasnet.MNASNet(0.25, num_classes=10)
        stack = mnasnet._stack
        for i, args in enumerate([(8, 8, 3, 2, 2), (8, 12, 5, 2, 2), (12, 12, 5, 2, 2), (12, 16, 3, 1, 2),
                                  (16, 16, 5, 2, 2), (16, 24, 3, 1, 2)]):
            m.layers[8 + i] = stack(*args, 1, 1 - 0.9997)
        m.layers[14] = nn.Conv2d(24, 24, 1, 1, 0, bias=False)
        m.layers[15] = nn.BatchNorm2d(24, momentum=1 - 0.9997)
        m.classifier[1] = nn.Linear(24, 10)
        return m
    raise SystemExit('unknown model %s' % name)


def export(model, path, opset, hw):
    x = torch.zeros(1, 3, hw, hw)
    torch.onnx.export(model, x, path, opset_version=opset, input_names=['input'], output_names=['logits'])


def shorten_values(path):
    """Renames the intermediate values and initializers of an exported file to v0, v1, ...
    (the node names, which the converter reads, stay): the committed fixtures' names took
    about a third of their bytes."""
    import onnx
    m = onnx.load(path)
    g = m.graph
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    names = {}
    for t in g.initializer:
        names[t.name] = 'v%d' % len(names)
        t.name = names[t.name]
    for n in g.node:
        for i, o in enumerate(n.output):
            if o and o not in keep:
                names[o] = 'v%d' % len(names)
                n.output[i] = names[o]
    for n in g.node:
        for i, v in enumerate(n.input):
            n.input[i] = names.get(v, v)
    onnx.save(m, path)


# ---------------------------------------------------------------- oracles

class GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0) * (g > 0)


def guided(model, x, c):
    """d y^c / d x with every ReLU call guided."""
    orig = F.relu
    F.relu = lambda t, inplace=False: GuidedReLU.apply(t)
    try:
        x = x.clone().requires_grad_(True)
        model(x)[0, c].backward()
    finally:
        F.relu = orig
    return x.grad[0].detach()


def target_forward(model, x, layer):
    """(logits, A): the output and the target layer's activation. layer is the converter's
    default layer: a module path, or "/Relu", DenseNet's F.relu after its features."""
    if layer == '/Relu' and isinstance(model, densenet.DenseNet):
        a = F.relu(model.features(x))
        return model.classifier(torch.flatten(F.adaptive_avg_pool2d(a, (1, 1)), 1)), a
    mods = dict(model.named_modules())
    if layer not in mods:
        raise SystemExit('%s: no module %s for the default layer' % (type(model).__name__, layer))
    acts = {}
    h = mods[layer].register_forward_hook(lambda m, i, o: acts.__setitem__('a', o))
    try:
        logits = model(x)
    finally:
        h.remove()
    return logits, acts['a']


def gradcam(model, x, layer, c):
    logits, a = target_forward(model, x, layer)
    (g,) = torch.autograd.grad(logits[0, c], a)
    alpha = g.mean(dim=(2, 3))[0]
    cam = (alpha[:, None, None] * a[0]).sum(0).clamp(min=0)
    up = F.interpolate(cam[None, None], size=x.shape[2:], mode='bilinear', align_corners=False)[0, 0]
    return {'alpha': alpha.detach(), 'cam': cam.detach(), 'cam_up': up.detach()}


def scope_path(node_name):
    """The module path torch.onnx encodes in a node name ("/layer1/layer1.0/conv1/Conv" ->
    "layer1.0.conv1"), as tools/onnx_import.py reads it."""
    comps = node_name.strip('/').split('/')[:-1]
    full, prev = '', None
    for c in comps:
        full = full + c[len(prev):] if prev is not None and c.startswith(prev + '.') else (full + '.' + c if full else c)
        prev = c
    return full


def as_exported(model, onnx_path):
    """The model with the exported file's parameters: torch.onnx.export folds each batch norm
    that follows a convolution into it (in float32); here every Conv node's weight and bias
    replace its module's, and every batch norm missing from the file becomes an identity. The
    result computes what the ONNX file says, so float64 runs of it are that file's exact
    answer."""
    import onnx
    from onnx import numpy_helper
    m = copy.deepcopy(model)
    g = onnx.load(onnx_path).graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    mods = dict(m.named_modules())
    kept = set()
    for n in g.node:
        path = scope_path(n.name)
        if n.op_type == 'BatchNormalization':
            kept.add(path)
        if n.op_type == 'Conv':
            conv = mods[path]
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(inits[n.input[1]].copy()))
                b = torch.from_numpy(inits[n.input[2]].copy()) if len(n.input) > 2 else None
                if b is not None:
                    if conv.bias is None:
                        conv.bias = nn.Parameter(b.to(conv.weight.dtype))
                    else:
                        conv.bias.copy_(b)
    for name, mod in list(m.named_modules()):
        if isinstance(mod, nn.BatchNorm2d) and name not in kept:
            parent, _, attr = name.rpartition('.')
            setattr(m.get_submodule(parent) if parent else m, attr, nn.Identity())
    return m.eval()


def err(ours, ref):
    ours, ref = np.asarray(ours, dtype=np.float64).ravel(), np.asarray(ref, dtype=np.float64).ravel()
    if ours.shape != ref.shape:
        return float('inf')
    d = np.abs(ours - ref).max()
    s = np.abs(ref).max()
    return float(d / s if s > 0 else d)


def oracles(model, x, layer, relu_only, c=None):
    """Float64 logits and maps for class c (default: the float64 top-1 class), and
    float32's error on each."""
    out = {}
    for dt in (torch.float64, torch.float32):
        m = copy.deepcopy(model).to(dt)
        xx = x.to(dt)
        with torch.no_grad():
            logits = m(xx)
        if c is None:
            c = int(logits[0].argmax())
        maps = {'logits': logits[0].detach()}
        maps.update(gradcam(m, xx, layer, c))
        if relu_only:
            maps['guided'] = guided(m, xx, c)
        out[dt] = maps
    f64, f32 = out[torch.float64], out[torch.float32]
    return c, {k: v.numpy() for k, v in f64.items()}, {k: err(f32[k].numpy(), f64[k].numpy()) for k in f64}


# ---------------------------------------------------------------- the engine

def run(cmd, **kw):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)
    if r.returncode:
        raise RuntimeError('%s: %s' % (' '.join(cmd), (r.stderr or r.stdout).strip()[-2000:]))
    return r.stdout


def convert(onnx_path, gcw_path):
    run(['python3', 'tools/gcw_convert.py', onnx_path, gcw_path])
    info = run(['tools/gcw_inspect', gcw_path])
    m = re.search(r'default Grad-CAM layer: (\S+)', info)
    return m.group(1) if m else None


def engine_maps(gcw, xnpy, c, work, layer):
    logits = os.path.join(work, 'logits.npy')
    run(['examples/classify', gcw, xnpy, '-k', '1', '--logits-out', logits])
    run(['examples/gradcam', gcw, xnpy, '-c', str(c), '-l', layer, '-q', '-o', work])
    stem = os.path.join(work, os.path.splitext(os.path.basename(xnpy))[0] + '_c%d_' % c)
    return {'logits': np.load(logits)[0], 'cam': np.load(stem + 'gradcam.npy'),
            'cam_up': np.load(stem + 'gradcam_up.npy'), 'guided': np.load(stem + 'guided.npy')}


def full(out, only, opsets):
    """The acceptance run. Limits: logits 1e-4 relative; each map max(2 e32, 1e-4), e32 the
    larger of PyTorch float32's errors running the module as written and running the weights
    as exported (torch.onnx.export folds batch norms into convolutions in float32: the
    rounding differs, and a ReLU input within rounding of 0 may switch in one and not the
    other; guided backprop shows it). The table shows e32 of the module in parentheses."""
    os.makedirs(out, exist_ok=True)
    rows, failures = [], 0
    for seed, name in enumerate(ZOO):
        if only and name not in only:
            continue
        torch.manual_seed(seed)
        model = randomize(full_model(name), seed)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1000 + seed))
        xnpy = os.path.join(out, '%s_input.npy' % name)
        np.save(xnpy, x.numpy())
        oracle = None
        for opset in opsets:
            path = os.path.join(out, '%s_op%d.onnx' % (name, opset))
            gcw = path[:-5] + '.gcw'
            row = {'model': name, 'opset': opset}
            try:
                export(model, path, opset, 224)
                layer = convert(path, gcw)
                row['converts'], row['layer'] = True, layer
                if oracle is None or oracle[0] != layer:
                    c, ref, e32m = oracles(model, x, layer, name in RELU_ONLY)
                    oracle = (layer, c, ref, e32m)
                _, c, ref, e32m = oracle
                _, _, e32x = oracles(as_exported(model, path), x, layer, name in RELU_ONLY, c)
                with tempfile.TemporaryDirectory() as work:
                    ours = engine_maps(gcw, xnpy, c, work, layer)
                row['class'] = c
                for k in ('logits', 'cam', 'cam_up', 'guided'):
                    if k not in ref:
                        continue
                    e = err(ours[k], ref[k])
                    lim = 1e-4 if k == 'logits' else max(2 * max(e32x[k], e32m[k]), 1e-4)
                    row[k] = {'error': e, 'limit': lim, 'f32_exported': e32x[k], 'f32_module': e32m[k],
                              'ok': e <= lim}
                    failures += e > lim
            except (RuntimeError, SystemExit, KeyError) as e:
                row['converts'] = row.get('converts', False)
                row['error'] = str(e)[-600:]
                failures += 1
            rows.append(row)
            print(fmt_row(row), flush=True)
    with open(os.path.join(out, 'acceptance.json'), 'w') as f:
        json.dump(rows, f, indent=1)
    print('%d failure(s)' % failures)
    return 1 if failures else 0


def fmt_row(r):
    if 'error' in r and not r.get('converts'):
        return '| %s | %d | no | %s |' % (r['model'], r['opset'], r['error'])
    cells = []
    for k in ('logits', 'cam', 'cam_up', 'guided'):
        v = r.get(k)
        if v is None:
            cells.append('-')
        elif k == 'logits':
            cells.append('%.1e' % v['error'] + ('' if v['ok'] else ' FAIL'))
        else:
            cells.append('%.1e / %.1e (%.1e)%s' % (v['error'], v['limit'], v['f32_module'], '' if v['ok'] else ' FAIL'))
    return '| %s | %d | yes | `%s` | %s |%s' % (r['model'], r['opset'], r.get('layer'), ' | '.join(cells),
                                              (' ' + r['error']) if 'error' in r else '')


# ---------------------------------------------------------------- committed fixtures

def lcg_input(shape, seed):
    """The test input, made the same way by tests/test_onnx.c: a 64-bit LCG (Knuth's
    MMIX constants) seeded with seed, value k/512 - 2 for k = (state >> 40) % 2049:
    every value is exact in float32."""
    s = seed & (2 ** 64 - 1)
    n = int(np.prod(shape))
    vals = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & (2 ** 64 - 1)
        vals[i] = ((s >> 40) % 2049) / 512.0 - 2.0
    return torch.from_numpy(vals.reshape(shape))


SMALL = {  # name: (opset, input size, store guided backprop)
    'resnet18': (13, 40, False),
    'mobilenet_v2': (17, 48, False),
    'mobilenet_v3_small': (13, 48, False),
    'efficientnet_b0': (17, 48, False),
    'densenet121': (13, 40, True),
    'squeezenet1_1': (17, 48, False),
    'shufflenet_v2_x1_0': (13, 40, True),
    'googlenet': (17, 40, True),
    'regnet_y_400mf': (13, 48, False),
    'mnasnet1_0': (17, 48, False),
    'opsnet10': (10, 24, False),
    'opsnet17': (17, 24, False),
}


def small(only):
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, (opset, hw, store_guided)) in enumerate(SMALL.items()):
        if only and name not in only:
            continue
        for f in os.listdir(OUT):
            if f.startswith(name + '_'):
                os.remove(os.path.join(OUT, f))
        torch.manual_seed(seed)
        model = randomize(small_model(name), 100 + seed)
        path = os.path.join(OUT, '%s_small.onnx' % name)
        export(model, path, opset, hw)
        shorten_values(path)
        with tempfile.TemporaryDirectory() as tmp:
            layer = convert(path, os.path.join(tmp, 'm.gcw'))
        x = lcg_input((1, 3, hw, hw), 1000 + seed)
        c, ref, e32 = oracles(model, x.float(), layer, store_guided)
        _, _, e32x = oracles(as_exported(model, path), x.float(), layer, store_guided, c)
        e32 = {k: max(v, e32x[k]) for k, v in e32.items()}
        stem = os.path.join(OUT, '%s_small' % name)
        for k, v in ref.items():
            if k != 'cam_up':        # cam_up is cam resized: tested by test_explain
                save_npy('%s_%s.npy' % (stem, k), v.astype(np.float32))
        info = {'model': name, 'onnx': os.path.basename(path), 'opset': opset, 'input': [1, 3, hw, hw],
                'seed': 1000 + seed, 'class': c, 'default_layer': layer,
                'error': 'PyTorch float32 against float64: max|f32 - f64| / max|f64|, the larger of the module as '
                         'written and the weights as exported',
                'f32_error': {k: v for k, v in e32.items() if k != 'cam_up'}}
        with open(stem + '_oracle.json', 'w') as f:
            json.dump(info, f, indent=1, sort_keys=True)
            f.write('\n')
        print('%s: opset %d, %dx%d, class %d, default layer %s, %d bytes of ONNX'
              % (name, opset, hw, hw, c, layer, os.path.getsize(path)))
    files = sorted(os.listdir(OUT))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in files)
    print('wrote %s: %d files, %d bytes (limit %d)' % (os.path.relpath(OUT, ROOT), len(files), total, SIZE_LIMIT))
    if total > SIZE_LIMIT:
        raise SystemExit('tests/data/onnx is over its size limit: shrink the fixtures')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--full', metavar='DIR')
    ap.add_argument('--small', action='store_true')
    ap.add_argument('--only', help='comma-separated model names')
    ap.add_argument('--opset', default='13,17')
    a = ap.parse_args()
    only = set(a.only.split(',')) if a.only else None
    if a.full:
        return full(a.full, only, [int(v) for v in a.opset.split(',')])
    if a.small:
        return small(only)
    ap.print_help()
    return 2


if __name__ == '__main__':
    sys.exit(main())
