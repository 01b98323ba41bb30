#!/usr/bin/python3
"""Writes tests/data/explain/: Grad-CAM, counterfactual, guided backprop,
deconvnet and Guided Grad-CAM computed by PyTorch autograd on the small
torchvision-topology models of make_model_fixtures.py (run that first).

Run by developers with /usr/bin/python3 (torch + numpy); never by `make test`.

For each model and its input 0, for the predicted class and the least likely
class, it writes <model>_c<C>_<map>.npy with map in
  alpha (K)  raw (h,w)  cam (h,w)  cam_up (H,W)  counterfactual (h,w)
  guided (3,H,W)  guided_gradcam (3,H,W)  deconvnet (3,H,W)
and <model>_classes.npy = [predicted, least likely].

Semantics (the paper's, docs/explainers.md):
  alpha_k = mean_ij d y^c / d A^k_ij, y^c the pre-softmax logit
  raw = sum_k alpha_k A^k, cam = ReLU(raw), counterfactual = ReLU(-raw)
  cam_up = F.interpolate(cam, (H,W), bilinear, align_corners=False)
  guided = d y^c / d x with every ReLU's backward g * [x > 0] * [g > 0]
  deconvnet = d y^c / d x with every ReLU's backward g * [g > 0]
  guided_gradcam = guided * cam_up
Everything runs in float64 and is stored as float32.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_model_fixtures as mf  # noqa: E402

MODELS = os.path.join(HERE, '..', 'data', 'models')
OUT = os.path.join(HERE, '..', 'data', 'explain')


class RuleReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rule):
        ctx.save_for_backward(x)
        ctx.rule = rule
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if ctx.rule == 'guided':
            return g * (x > 0) * (g > 0), None
        return g * (g > 0), None  # deconvnet


class RuleReLUModule(nn.Module):
    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def forward(self, x):
        return RuleReLU.apply(x, self.rule)


def with_rule(model, rule):
    """A copy of model whose ReLUs use the given backward rule."""
    import copy
    m = copy.deepcopy(model)
    for seq in (m.features, m.classifier):
        for i, mod in enumerate(seq):
            if isinstance(mod, nn.ReLU):
                seq[i] = RuleReLUModule(rule)
    return m


def no_inplace(model):
    for mod in model.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
    return model


def input_grad(model, x, c):
    x = x.clone().requires_grad_(True)
    model(x)[0, c].backward()
    return x.grad[0]


def explain(model, layer_index, x, c):
    acts = {}
    h = model.features[layer_index].register_forward_hook(lambda m, i, o: acts.__setitem__('A', o))
    logits = model(x)
    h.remove()
    A = acts['A']
    (g,) = torch.autograd.grad(logits[0, c], A)
    alpha = g.mean(dim=(2, 3))[0]
    raw = (alpha[:, None, None] * A[0]).sum(0)
    cam = raw.clamp(min=0)
    H, W = x.shape[2:]
    cam_up = F.interpolate(cam[None, None], size=(H, W), mode='bilinear', align_corners=False)[0, 0]
    guided = input_grad(with_rule(model, 'guided'), x, c)
    deconv = input_grad(with_rule(model, 'deconvnet'), x, c)
    return {
        'alpha': alpha, 'raw': raw, 'cam': cam, 'cam_up': cam_up,
        'counterfactual': (-raw).clamp(min=0), 'guided': guided,
        'guided_gradcam': guided * cam_up[None], 'deconvnet': deconv,
    }, logits[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    specs = [
        ('vgg16_small', mf.vgg([2, 2, 'M', 4, 4, 'M', 8, 8, 8, 'M', 16, 16, 16, 'M', 16, 16, 16, 'M'], False, 32, 10), 29),
        ('alexnet_small', mf.alexnet([4, 12, 24, 16, 16], 32, 10), 11),
    ]
    for name, model, layer in specs:
        model.load_state_dict(torch.load(os.path.join(MODELS, name + '_zip.pth')))
        model = no_inplace(model).eval().double()
        x = torch.from_numpy(np.load(os.path.join(MODELS, name + '_in0.npy'))).double()
        with torch.no_grad():
            logits = model(x)[0]
        classes = [int(logits.argmax()), int(logits.argmin())]
        np.save(os.path.join(OUT, name + '_classes.npy'), np.array(classes, dtype='<f4'))
        for c in classes:
            maps, _ = explain(model, layer, x, c)
            for k, v in maps.items():
                np.save(os.path.join(OUT, '%s_c%d_%s.npy' % (name, c, k)), v.detach().numpy().astype('<f4'))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print('wrote %s: %d files, %d bytes' % (OUT, len(os.listdir(OUT)), total))


if __name__ == '__main__':
    main()
