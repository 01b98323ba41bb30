#!/usr/bin/python3
"""Writes tests/data/resnet/: small networks built from torchvision's ResNet
classes (same modules, so the same state_dict keys), random inputs, PyTorch's
logits and explanation oracles for them.

Run by developers with /usr/bin/python3 (torch 1.13, torchvision 0.14, numpy);
never by `make test`.

  resnet18_small   BasicBlock [2,2,2,2], stage widths 4,4,8,8, 40x40 input
                   (feature maps 20,10,10,5,3,2: odd sizes through the stride-2
                   convs, a 2x2 layer4 map); zip and legacy .pth
  resnet50_small   Bottleneck [3,4,6,3], planes 2,2,4,4 (outputs 8,8,16,16),
                   32x32 input; zip .pth and .safetensors
  resnext50_small  Bottleneck [3,4,6,3], planes 2,2,2,2, groups 4 (3x3 convs
                   of 8 channels, 2 per group, outputs 8), 32x32 input; zip
All have 10 classes, Kaiming (fan-in) weights and non-trivial batch-norm
statistics (running_mean U(-0.5,0.5), running_var U(0.5,2), weight
U(0.5,1.5), bias U(-0.2,0.2)), eval mode.
The .pth files are torch.save of the state dict (archive prefix 'archive/'
in the zip ones); resnet18_small keeps the num_batches_tracked buffers, the
Bottleneck ones are saved without them, as torchvision's older checkpoints
(resnet50-19c8e357.pth) are, which also keeps the folder under 700 KB.

Per model <m>:
  <m>_in0.npy (1,3,H,W), <m>_in1.npy (3,H,W)  random inputs (both shapes
                          the programs accept, as in tests/data/models)
  <m>_logits.npy (2,10)   PyTorch float64 logits of both inputs
  for input 0, the top-1 class C and the bottom class of the float64 logits,
  and each target layer T (layer4 and the inner one given in SMALL below):
  <m>_<T>_c<C>_<map>.npy, map in
     alpha (K)  raw (h,w)  cam (h,w)  cam_up (H,W)  counterfactual (h,w)
  and, not depending on the layer:
  <m>_c<C>_guided.npy (3,H,W), <m>_c<C>_deconvnet.npy (3,H,W)
  Guided Grad-CAM (<T>_c<C>_guided_gradcam) is computed and its error
  recorded, but not stored: it is exactly guided * cam_up of the two stored
  maps, and the 50 KB to 77 KB per model it would take are what keep the
  legacy and .safetensors copies and the 40x40 input within the size limit.
  <m>_oracle.json  classes, targets, shapes and, for every map and the
                   logits, PyTorch float32's error against float64:
                   max|f32 - f64| / max|f64| (max|f32 - f64| when f64 is 0)

Semantics (the paper's, docs/explainers.md; as make_explain_fixtures.py):
  alpha_k = mean_ij d y^c / d A^k_ij, y^c the pre-softmax logit
  raw = sum_k alpha_k A^k, cam = ReLU(raw), counterfactual = ReLU(-raw)
  cam_up = F.interpolate(cam, (H,W), bilinear, align_corners=False)
  guided = d y^c / d x with every ReLU call's backward g * [x > 0] * [g > 0]
  deconvnet = d y^c / d x with every ReLU call's backward g * [g > 0]
  guided_gradcam = guided * cam_up (per channel)
A torchvision block calls its one nn.ReLU module two or three times; every
call gets the rule (the module is replaced by one whose forward applies a
custom autograd function). Call n > 0 of module M is named M_n, the
converter's layer name (docs/format.md), so an inner target such as
layer3.1.relu_1 is the output of the second call of layer3.1.relu.
Maps are computed in float64 (stored as float32) and again in float32 for
the error figures.

`make_resnet_fixtures.py --full DIR` instead writes full-size random-init
torchvision resnet18 (legacy .pth), resnet50 (zip .pth) and resnext50_32x4d
(zip .pth and .safetensors) with the same initialisation and batch-norm
statistics, 224x224 inputs, logits and the same oracles at layer4 and
layer3.1 (not committed; about 350 MB, 40 s), and for the ReLU decisions
float32 cannot settle (undecided(): a float64 input closer to zero than half
of PyTorch float32's largest error on that tensor) the float64 Grad-CAM maps
with one such decision inverted, <m>_flip<j>_<T>_c<C>_<map>.npy, listed under
'undecided_relus' in <m>_oracle.json (a few minutes more).
"""
import collections
import copy
import io
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_model_fixtures import save_npy, save_safetensors  # noqa: E402

OUT = os.path.join(HERE, '..', 'data', 'resnet')
SIZE_LIMIT = 700 * 1024

# name: (block, blocks per stage, planes per stage, groups, width_per_group, input size, inner target,
#        formats, keep num_batches_tracked)
SMALL = {
    'resnet18_small': (BasicBlock, [2, 2, 2, 2], [4, 4, 8, 8], 1, 64, 40, 'layer3.0', ('zip', 'legacy'), True),
    'resnet50_small': (Bottleneck, [3, 4, 6, 3], [2, 2, 4, 4], 1, 64, 32, 'layer2.1', ('zip', 'safetensors'),
                       False),
    # a target inside block layer3.1: the add after it has an input (the identity,
    # layer3.0) that does not depend on the target
    'resnext50_small': (Bottleneck, [3, 4, 6, 3], [2, 2, 2, 2], 4, 64, 32, 'layer3.1.relu_1', ('zip',), False),
}
NOT_STORED = ('_guided_gradcam',)
UNDECIDED_RATIO = 0.5     # undecided(): |x64| below half of PyTorch float32's largest error there
FLIP_MIN = 1e-6           # flipped_oracles(): store a flip's maps only if they move this much
FLIP_MAPS = ('cam', 'cam_up', 'counterfactual')   # = guided * cam_up of stored maps (see above)
FULL = {  # name: (formats, inner target)
    'resnet18': (('legacy',), 'layer3.1'),
    'resnet50': (('zip',), 'layer3.1'),
    'resnext50_32x4d': (('zip', 'safetensors'), 'layer3.1'),
}


# ---------------------------------------------------------------- models

class SmallResNet(ResNet):
    """torchvision's ResNet with the stem and stage widths as given instead of
    64 and 64/128/256/512: the same modules under the same names (so the same
    state_dict keys), built by ResNet._make_layer; forward is ResNet's."""

    def __init__(self, block, layers, planes, num_classes=10, groups=1, width_per_group=64):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation = planes[0], 1
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)


def randomize(model):
    """Kaiming fan-in weights (they keep the forward variance: on these narrow
    copies torchvision's fan-out init let the two inputs' logits differ by as
    little as 5 %, the batch-norm shifts dominating) and batch-norm statistics
    far from the identity (eval mode), so that a converter or engine that
    skipped or misread one would show."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
    nn.init.uniform_(model.fc.bias, -0.1, 0.1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def save(model, out, name, formats, nbt=True):
    sd = model.state_dict()
    if not nbt:
        sd = collections.OrderedDict((k, v) for k, v in sd.items() if not k.endswith('.num_batches_tracked'))
    for fmt, suffix, zipped in (('legacy', '_legacy.pth', False), ('zip', '_zip.pth', True)):
        if fmt in formats:
            buf = io.BytesIO()      # torch.save to a buffer: archive prefix 'archive/', not the file name
            torch.save(sd, buf, _use_new_zipfile_serialization=zipped)
            with open(os.path.join(out, name + suffix), 'wb') as f:
                f.write(buf.getvalue())
    if 'safetensors' in formats:
        save_safetensors(sd, os.path.join(out, name + '.safetensors'))


# ---------------------------------------------------------------- explanations

class RuleReLU(torch.autograd.Function):
    """ReLU forward; backward by rule: 'guided' g * [x > 0] * [g > 0],
    'deconvnet' g * [g > 0], None the ordinary g * [x > 0]. flip: flat indices
    whose decision [x > 0] is inverted, forward and backward (undecided())."""

    @staticmethod
    def forward(ctx, x, rule, flip=None):
        mask = x > 0
        if flip is not None:
            mask = mask.flatten().clone()
            mask[flip] = ~mask[flip]
            mask = mask.view_as(x)
        ctx.save_for_backward(mask)
        ctx.rule = rule
        return x.clamp(min=0) if flip is None else torch.where(mask, x, torch.zeros_like(x))

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        if ctx.rule == 'guided':
            return g * mask * (g > 0), None, None
        if ctx.rule == 'deconvnet':
            return g * (g > 0), None, None
        return g * mask, None, None


class CallReLU(nn.Module):
    """Stands in for one nn.ReLU module, which a torchvision block calls
    several times: every call applies the rule, and its output is recorded in
    acts as <module name> for the first call, <module name>_n for call n (its
    input too, as 'pre:<call name>', when record_inputs); flips maps call
    names to the indices RuleReLU inverts."""

    def __init__(self, name, acts, rule, flips=None, record_inputs=False):
        super().__init__()
        self.name, self.acts, self.rule, self.calls = name, acts, rule, 0
        self.flips, self.record_inputs = flips or {}, record_inputs

    def forward(self, x):
        key = self.name + ('_%d' % self.calls if self.calls else '')
        if self.record_inputs:
            self.acts['pre:' + key] = x.detach()
        y = RuleReLU.apply(x, self.rule, self.flips.get(key))
        self.acts[key] = y
        self.calls += 1
        return y


def instrumented(model, rule=None, hook=None, flips=None, record_inputs=False):
    """A copy of model whose every ReLU call follows rule and is recorded;
    hook: a module name whose output is recorded too (a block or a stage).
    Returns (model, acts); acts is refilled by every forward."""
    m = copy.deepcopy(model)
    acts = {}
    relus = [n for n, mod in m.named_modules() if isinstance(mod, nn.ReLU)]
    for n in relus:
        parent, _, attr = n.rpartition('.')
        setattr(m.get_submodule(parent), attr, CallReLU(n, acts, rule, flips, record_inputs))

    def restart(mod, inp):
        acts.clear()
        for r in m.modules():
            if isinstance(r, CallReLU):
                r.calls = 0
    m.register_forward_pre_hook(restart)
    if hook is not None and not isinstance(m.get_submodule(hook), CallReLU):
        m.get_submodule(hook).register_forward_hook(lambda mod, i, o: acts.__setitem__(hook, o))
    return m, acts


def activation(model, x, target, flips=None):
    """(logits, A): the network's output and the target layer's, in one forward."""
    hook = target if target in dict(model.named_modules()) else None
    m, acts = instrumented(model, hook=hook, flips=flips)
    logits = m(x)
    if target not in acts:
        raise SystemExit('no layer or ReLU call named %s' % target)
    return logits, acts[target]


def input_grad(model, x, c, rule):
    m, _ = instrumented(model, rule)
    x = x.clone().requires_grad_(True)
    m(x)[0, c].backward()
    return x.grad[0]


def gradcam(model, x, target, c, flips=None):
    logits, A = activation(model, x, target, flips)
    (g,) = torch.autograd.grad(logits[0, c], A)
    alpha = g.mean(dim=(2, 3))[0]
    raw = (alpha[:, None, None] * A[0]).sum(0)
    cam = raw.clamp(min=0)
    cam_up = F.interpolate(cam[None, None], size=x.shape[2:], mode='bilinear', align_corners=False)[0, 0]
    return {'alpha': alpha, 'raw': raw, 'cam': cam, 'cam_up': cam_up, 'counterfactual': (-raw).clamp(min=0)}


def all_maps(model, x, targets, classes):
    """Every map for input x (1,3,H,W), keyed as in the file names after '<m>_'."""
    maps = {}
    for c in classes:
        guided = input_grad(model, x, c, 'guided')
        maps['c%d_guided' % c] = guided
        maps['c%d_deconvnet' % c] = input_grad(model, x, c, 'deconvnet')
        for t in targets:
            cm = gradcam(model, x, t, c)
            cm['guided_gradcam'] = guided * cm['cam_up'][None]
            for k, v in cm.items():
                maps['%s_c%d_%s' % (t, c, k)] = v
    return {k: v.detach() for k, v in maps.items()}


def f32_error(f32, f64):
    """max|f32 - f64| / max|f64|; the absolute difference when f64 is all zero."""
    d = (f32.double() - f64).abs().max().item()
    s = f64.abs().max().item()
    return d / s if s > 0 else d


def undecided(m64, m32, x, ratio=UNDECIDED_RATIO):
    """ReLU decisions float32 cannot settle: elements whose float64 input lies
    within ratio x PyTorch float32's largest error on that ReLU call's input
    (max over the tensor) of zero. Returns [(|x64| / that error, call, flat
    index, x64 / max|x64|)], the closest first."""
    ins = []
    for m, t in ((m64, torch.float64), (m32, torch.float32)):
        mi, acts = instrumented(m, record_inputs=True)
        with torch.no_grad():
            mi(x.to(t))
        ins.append({k[4:]: v.flatten().double() for k, v in acts.items() if k.startswith('pre:')})
    found = []
    for k, p64 in ins[0].items():
        e = (ins[1][k] - p64).abs().max().item()
        scale = p64.abs().max().item()
        for i in torch.nonzero(p64.abs() < ratio * e).flatten().tolist():
            found.append((abs(p64[i].item()) / e, k, i, p64[i].item() / scale))
    return sorted(found)


def flipped_oracles(m64, m32, x, targets, classes, maps64, out, name):
    """For every undecided ReLU decision (undecided()) whose inversion moves a
    Grad-CAM map by more than FLIP_MIN of its largest value: the float64 maps
    with that one decision inverted, <name>_flip<j>_<T>_c<C>_<map>.npy. An
    engine computing in float32 may land on either side of such a decision
    (as PyTorch float32 might with another summation order); the acceptance
    check takes either oracle (check_resnet_full.py). Returns the list for
    the oracle file."""
    flips = []
    for ratio, call, i, rel in undecided(m64, m32, x):
        maps = {}
        for c in classes:
            for t in targets:
                cm = gradcam(m64, x.double(), t, c, flips={call: [i]})
                for k in FLIP_MAPS:
                    maps['%s_c%d_%s' % (t, c, k)] = cm[k].detach()
        moved = max(f32_error(v, maps64[k]) for k, v in maps.items())
        entry = {'relu': call, 'index': i, 'input_f64_rel': rel, 'ratio_to_f32_error': ratio, 'moves': moved}
        if moved > FLIP_MIN:
            entry['file'] = 'flip%d' % len([f for f in flips if 'file' in f])
            for k, v in maps.items():
                save_npy(os.path.join(out, '%s_%s_%s.npy' % (name, entry['file'], k)), v.numpy())
        flips.append(entry)
    return flips


def oracles(model, x, targets, out, name, with_flips=False):
    """Logits of both inputs, every map of input 0 in float64 (written as
    float32) and float32's error against them (<name>_oracle.json)."""
    m64, m32 = copy.deepcopy(model).double(), copy.deepcopy(model).float()
    with torch.no_grad():
        logits64, logits32 = m64(x.double()), m32(x.float())
    save_npy(os.path.join(out, name + '_logits.npy'), logits64.numpy())
    top, bottom = int(logits64[0].argmax()), int(logits64[0].argmin())
    maps64 = all_maps(m64, x[:1].double(), targets, [top, bottom])
    maps32 = all_maps(m32, x[:1].float(), targets, [top, bottom])
    errors = {'logits': f32_error(logits32, logits64)}
    shapes = {}
    for k, v in maps64.items():
        if not k.endswith(NOT_STORED):
            save_npy(os.path.join(out, '%s_%s.npy' % (name, k)), v.numpy())
        errors[k] = f32_error(maps32[k], v)
        shapes[k] = list(v.shape)
    flips = flipped_oracles(m64, m32, x[:1], targets, [top, bottom], maps64, out, name) if with_flips else []
    info = {
        'model': name, 'input': list(x[:1].shape), 'classes': [top, bottom], 'targets': targets,
        'logits_f64': logits64.tolist(),
        'error': 'PyTorch float32 against float64: max|f32 - f64| / max|f64| (max|f32 - f64| if f64 is all 0)',
        'f32_error': errors, 'shapes': shapes,
        'not_stored': {'guided_gradcam': 'guided * cam_up (per channel) of the stored maps'},
    }
    if with_flips:
        info['undecided_relus'] = flips
        print('%s: %d undecided ReLU decisions, %d move a Grad-CAM map by more than %g'
              % (name, len(flips), len([f for f in flips if 'file' in f]), FLIP_MIN))
    with open(os.path.join(out, name + '_oracle.json'), 'w') as f:
        json.dump(info, f, indent=1, sort_keys=True)
        f.write('\n')
    worst = max(errors, key=errors.get)
    print('%s: classes %d (top) %d (bottom), %d maps, worst float32 error %.2e (%s)'
          % (name, top, bottom, len(maps64), errors[worst], worst))


def inputs(hw, seed):
    return torch.randn(2, 3, hw, hw, generator=torch.Generator().manual_seed(seed))


def write_inputs(x, out, name):
    save_npy(os.path.join(out, name + '_in0.npy'), x[0:1].numpy())   # (1,3,H,W)
    save_npy(os.path.join(out, name + '_in1.npy'), x[1].numpy())     # (3,H,W)


# ---------------------------------------------------------------- main

def small():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, (block, layers, planes, groups, wpg, hw, inner, formats, nbt)) in enumerate(SMALL.items()):
        torch.manual_seed(seed)
        model = randomize(SmallResNet(block, layers, planes, 10, groups, wpg))
        save(model, OUT, name, formats, nbt)
        x = inputs(hw, 100 + seed)
        write_inputs(x, OUT, name)
        oracles(model, x, ['layer4', inner], OUT, name)
    files = sorted(os.listdir(OUT))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in files)
    print('wrote %s: %d files, %d bytes (limit %d)' % (os.path.normpath(OUT), len(files), total, SIZE_LIMIT))
    if total > SIZE_LIMIT:
        raise SystemExit('tests/data/resnet is over the size limit: shrink the fixtures')


def full(out):
    """Full-size random-init torchvision models for a later acceptance check."""
    os.makedirs(out, exist_ok=True)
    for seed, (name, (formats, inner)) in enumerate(FULL.items()):
        torch.manual_seed(10 + seed)
        model = randomize(getattr(torchvision.models, name)(weights=None))
        save(model, out, name, formats)
        x = inputs(224, 200 + seed)
        write_inputs(x, out, name)
        oracles(model, x, ['layer4', inner], out, name, with_flips=True)
        print('wrote', name, 'to', out)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--full':
        return full(sys.argv[2])
    if len(sys.argv) != 1:
        raise SystemExit('usage: make_resnet_fixtures.py [--full DIR]')
    return small()


if __name__ == '__main__':
    main()
