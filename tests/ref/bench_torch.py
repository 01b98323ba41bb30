#!/usr/bin/python3
"""bench_torch.py - PyTorch timings to set next to tools/gcbench (docs/performance.md).

Times, on torchvision VGG-16 / AlexNet / ResNet-18 / ResNet-50 with random weights at 224x224,
2 threads by default, the median of --reps runs after one warm-up (the same method as gcbench):
  forward        model(x) under torch.no_grad()
  gradcam_lean   Grad-CAM the lean way: the network up to the target layer (features.29 /
                 features.11 / layer4) under no_grad, then the head with autograd from that
                 activation only (no parameter gradients), backward of the top-1 logit, CAM
  gradcam_full   Grad-CAM the common way (hooks on the target layer, whole model in autograd,
                 parameters requiring grad, model.zero_grad() + backward of the top-1 logit)
  guided         guided backprop: every ReLU replaced by the guided rule, input gradient only
  guided_gradcam guided + gradcam_lean on the same image (what gcbench's task does)
Explain tasks at batch N run N single-image explanations (time per batch), as gcbench.
Usage: /usr/bin/python3 tests/ref/bench_torch.py [--model vgg16|alexnet|resnet50|mobilenet_v2|...]... [--batch N]...
       [--task T]... [--threads 2] [--reps 5] [--json]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torchvision

TARGET = {"vgg16": 29, "alexnet": 11, "resnet18": "layer4", "resnet50": "layer4",
          "mobilenet_v2": "features", "efficientnet_b0": "features"}
# the Grad-CAM layer: an index in model.features (a ReLU), the ResNet block output, or the
# whole features module's output (the default layer of the MobileNet/EfficientNet .gcw files)
TASKS = ["forward", "gradcam_lean", "gradcam_full", "guided", "guided_gradcam"]


class GuidedReLUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.clamp(min=0)
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0).to(g.dtype) * (g > 0).to(g.dtype)


class GuidedReLU(nn.Module):
    def forward(self, x):
        return GuidedReLUFn.apply(x)


def build(name):
    m = getattr(torchvision.models, name)(weights=None)
    for mod in m.modules():  # non-trivial batch-norm statistics, as in the fixtures
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m.eval()


def replace_relus(mod):
    """Every nn.ReLU module by the guided rule (a ResNet block calls its one relu module
    two or three times: each call then applies the rule)."""
    for name, child in mod.named_children():
        if isinstance(child, nn.ReLU):
            setattr(mod, name, GuidedReLU())
        else:
            replace_relus(child)


def guided_copy(model):
    import copy
    g = copy.deepcopy(model)
    replace_relus(g)
    for p in g.parameters():
        p.requires_grad_(False)
    return g


def body(model, t, x):
    """The activation of the Grad-CAM layer t."""
    if isinstance(t, int):
        return model.features[:t + 1](x)
    if t == "features":
        return model.features(x)
    m = model
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


def head(model, t, f):
    """Network output from the activation of the Grad-CAM layer t."""
    if isinstance(t, int):
        f = model.features[t + 1:](f)
        f = model.avgpool(f)
        return model.classifier(torch.flatten(f, 1))
    if t == "features":
        return model.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1))
    return model.fc(torch.flatten(model.avgpool(f), 1))


def cam_from(a, g):
    w = g.mean(dim=(2, 3), keepdim=True)
    return torch.relu((w * a).sum(dim=1))


def gradcam_lean(model, t, x):
    with torch.no_grad():
        a = body(model, t, x)
    a.requires_grad_(True)
    out = head(model, t, a)
    cls = int(out[0].argmax())
    (g,) = torch.autograd.grad(out[0, cls], a)
    return cam_from(a.detach(), g)


def gradcam_full(model, t, x):
    store = {}
    layer = model.features[t] if isinstance(t, int) else getattr(model, t if t == "features" else "layer4")

    def fwd_hook(mod, inp, out):
        store["a"] = out
        out.register_hook(lambda g: store.__setitem__("g", g))

    h = layer.register_forward_hook(fwd_hook)
    try:
        out = model(x)
        cls = int(out[0].argmax())
        model.zero_grad()
        out[0, cls].backward()
    finally:
        h.remove()
    return cam_from(store["a"].detach(), store["g"])


def guided(gmodel, x):
    x = x.clone().requires_grad_(True)
    out = gmodel(x)
    cls = int(out[0].argmax())
    (g,) = torch.autograd.grad(out[0, cls], x)
    return g


def run_task(task, model, gmodel, t, xb):
    if task == "forward":
        with torch.no_grad():
            model(xb)
        return
    for i in range(xb.shape[0]):
        x = xb[i:i + 1]
        if task == "gradcam_lean":
            gradcam_lean(model, t, x)
        elif task == "gradcam_full":
            gradcam_full(model, t, x)
        elif task == "guided":
            guided(gmodel, x)
        elif task == "guided_gradcam":
            guided(gmodel, x)
            gradcam_lean(model, t, x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", choices=list(TARGET))
    ap.add_argument("--batch", action="append", type=int)
    ap.add_argument("--task", action="append", choices=TASKS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for name in a.model or ["vgg16"]:
        model = build(name)
        gmodel = guided_copy(model)
        t = TARGET[name]
        for n in a.batch or [1, 8]:
            xb = torch.randn(n, 3, 224, 224)
            if not a.json:
                print(f"{name} batch {n} ({a.threads} threads, torch {torch.__version__})")
                print(f"  {'task':<16}{'median s':>10}{'min s':>10}{'max s':>10}")
            for task in a.task or TASKS:
                run_task(task, model, gmodel, t, xb)  # warm-up
                ts = []
                for _ in range(a.reps):
                    t0 = time.perf_counter()
                    run_task(task, model, gmodel, t, xb)
                    ts.append(time.perf_counter() - t0)
                med = statistics.median(ts)
                if a.json:
                    print(json.dumps({"impl": "torch", "model": name, "task": task, "batch": n,
                                      "threads": a.threads, "median_s": round(med, 4),
                                      "min_s": round(min(ts), 4), "max_s": round(max(ts), 4)}))
                else:
                    print(f"  {task:<16}{med:10.4f}{min(ts):10.4f}{max(ts):10.4f}")


if __name__ == "__main__":
    main()
