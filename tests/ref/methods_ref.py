"""methods_ref.py - the methods of gc_explain written in PyTorch from their papers' formulas
(docs/explainers.md), for the development-time oracles: make_methods_fixtures.py (small
models, committed fixtures) and check_methods_full.py (full-size random-init VGG-16 and
ResNet-18 against float64). Never run by `make test`.

Every function takes a model in eval mode (any dtype; float64 is the exact answer), an input
x (1, C, H, W) and the target layer as a module whose output is A. Scores are pre-softmax
logits y_c. Conventions where the libraries differ are ours (docs/explainers.md says how
pytorch-grad-cam, Captum and torch-cam differ):
  Grad-CAM++    w_k = sum_ij ReLU(g) g^2 / (2 g^2 + sum_ab A g^3)   (0 where g = 0 or the
                denominator is 0; no epsilon)
  XGrad-CAM     w_k = sum_ij g A / sum_ij A   (0 where sum A = 0)
  HiResCAM      sum_k g A; element-wise sum_k ReLU(g A); Layer-CAM sum_k ReLU(g) A
  Score-CAM     w_k = softmax(y(x * minmax(up(A_k))))_c, 0 for a constant channel; bilinear
                half-pixel upsampling
  Ablation-CAM  w_k = (y_c - y_c(A with channel k = 0)) / y_c
  Eigen-CAM     M (hw x C) centred per channel, v the first right singular vector with
                sum(v) >= 0, raw = M v; Eigen-Grad-CAM the same on g * A
  every map = ReLU(raw)
  saliency      d y_c / d x;  input x gradient  x * d y_c / d x
  IG            (x - x') * mean_i grad(x' + (i + 1/2)/m (x - x')), x' = 0; delta = sum - gap
  SmoothGrad    mean_j grad(x + sigma (max x - min x) e_j); VarGrad E[g^2] - E[g]^2
  occlusion     gc_eval_occlusion: a fill-0 patch at 0, stride, ... and flush with the far
                edge; each pixel the mean drop of y_c over the patches covering it
"""
import torch
import torch.nn.functional as F


def no_inplace(model):
    for mod in model.modules():
        if isinstance(mod, torch.nn.ReLU):
            mod.inplace = False
    return model


def forward_with(model, x, module, modify=None):
    """(logits, A): one forward recording module's output A (replaced by modify(A) if given)."""
    box = {}

    def hook(mod, inp, out):
        if modify is not None:
            out = modify(out)
        box['A'] = out
        return out
    h = module.register_forward_hook(hook)
    try:
        y = model(x)
    finally:
        h.remove()
    return y, box['A']


def act_grad(model, x, module, c):
    y, A = forward_with(model, x, module)
    (g,) = torch.autograd.grad(y[0, c], A)
    return y.detach(), A.detach(), g.detach()


def relu(t):
    return t.clamp(min=0)


def weighted(w, A):
    raw = (w[:, None, None] * A[0]).sum(0)
    return raw, relu(raw)


def eigen(X):
    """X (C, h, w): the signed projection on the first principal direction."""
    C, h, w = X.shape
    M = X.reshape(C, h * w).T
    M = M - M.mean(0, keepdim=True)
    _, _, Vh = torch.linalg.svd(M, full_matrices=False)
    v = Vh[0]
    if v.sum() < 0:
        v = -v
    return (M @ v).reshape(h, w)


def layer_methods(model, x, module, c, batch=32, tail=None, cache=None):
    """Every layer map of class c: {name: tensor}, names as gc_explain's. tail, if given, maps
    a batch of A (N, C, h, w) to the logits (the layers after the target): Ablation-CAM then
    runs only those, in batches, instead of one whole forward per channel. cache, a dict kept
    between the classes of one model and input, keeps Score-CAM's masked-input probabilities."""
    out = {}
    y, A, g = act_grad(model, x, module, c)
    S = A.sum((2, 3), keepdim=True)
    g2, g3 = g * g, g * g * g
    den = 2 * g2 + S * g3
    a = torch.where((g != 0) & (den != 0), g2 / torch.where(den != 0, den, torch.ones_like(den)), torch.zeros_like(g))
    w = (relu(g) * a).sum((2, 3))[0]
    out['gradcam_pp_weights'] = w
    out['gradcam_pp_raw'], out['gradcam_pp'] = weighted(w, A)
    num = (g * A).sum((2, 3))[0]
    Sk = S[0, :, 0, 0]
    w = torch.where(Sk != 0, num / torch.where(Sk != 0, Sk, torch.ones_like(Sk)), torch.zeros_like(num))
    out['xgradcam_weights'] = w
    out['xgradcam_raw'], out['xgradcam'] = weighted(w, A)
    out['hirescam_raw'] = (g * A)[0].sum(0)
    out['hirescam'] = relu(out['hirescam_raw'])
    out['gradcam_elementwise'] = relu(relu(g * A)[0].sum(0))
    out['layercam'] = relu((relu(g) * A)[0].sum(0))
    H, W = x.shape[2:]
    C = A.shape[1]
    with torch.no_grad():
        up = F.interpolate(A.transpose(0, 1), size=(H, W), mode='bilinear', align_corners=False)  # (C,1,H,W)
        lo = up.amin((1, 2, 3), keepdim=True)
        hi = up.amax((1, 2, 3), keepdim=True)
        live = (hi > lo).flatten()
        masks = (up - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        if cache is not None and 'scorecam_probs' in cache:
            probs = cache['scorecam_probs']
        else:
            probs = torch.zeros(C, y.shape[1], dtype=x.dtype)    # 0 for a constant channel
            idx = torch.nonzero(live).flatten()
            for i in range(0, len(idx), batch):
                ks = idx[i:i + batch]
                probs[ks] = torch.softmax(model(x * masks[ks]), dim=1)
            if cache is not None:
                cache['scorecam_probs'] = probs
        w = probs[:, c].clone()
        out['scorecam_weights'] = w
        out['scorecam_raw'], out['scorecam'] = weighted(w, A)
        s = y[0, c]
        w = torch.zeros(C, dtype=x.dtype)
        for k0 in range(0, C if tail is not None else 0, batch):
            ks = torch.arange(k0, min(C, k0 + batch))
            Ab = A.repeat(len(ks), 1, 1, 1)
            Ab[torch.arange(len(ks)), ks] = 0
            w[ks] = (s - tail(Ab)[:, c]) / s
        for k in range(C if tail is None else 0):
            def zero(o, k=k):
                o = o.clone()
                o[:, k] = 0
                return o
            yk, _ = forward_with(model, x, module, zero)
            w[k] = (s - yk[0, c]) / s
        out['ablationcam_weights'] = w
        out['ablationcam_raw'], out['ablationcam'] = weighted(w, A)
        out['eigencam_raw'] = eigen(A[0])
        out['eigencam'] = relu(out['eigencam_raw'])
        out['eigen_gradcam_raw'] = eigen((g * A)[0])
        out['eigen_gradcam'] = relu(out['eigen_gradcam_raw'])
    return {k: v.detach() for k, v in out.items()}


def input_grads(model, xs, c, batch=32):
    """d y_c / d x for each row of xs (N, C, H, W)."""
    gs = []
    for i in range(0, xs.shape[0], batch):
        xb = xs[i:i + batch].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xb)[:, c].sum(), xb)
        gs.append(g.detach())
    return torch.cat(gs)


def occlusion(model, x, c, patch, stride, fill=0.0):
    H, W = x.shape[2:]

    def offsets(size):
        o = list(range(0, size - patch + 1, stride))
        if o[-1] + patch < size:
            o.append(size - patch)
        return o
    with torch.no_grad():
        base = model(x)[0, c]
        s = torch.zeros(H, W, dtype=x.dtype)
        n = torch.zeros(H, W, dtype=x.dtype)
        for y0 in offsets(H):
            for x0 in offsets(W):
                xo = x.clone()
                xo[:, :, y0:y0 + patch, x0:x0 + patch] = fill
                s[y0:y0 + patch, x0:x0 + patch] += base - model(xo)[0, c]
                n[y0:y0 + patch, x0:x0 + patch] += 1
    return s / n


def input_methods(model, x, c, ig_steps, noise, sigma, patch, stride, batch=32, with_occlusion=True):
    """Every input map of class c; noise (n, C, H, W) N(0,1) values (our generator's)."""
    out = {}
    g = input_grads(model, x, c)[0]
    out['saliency'] = g
    out['input_x_gradient'] = x[0] * g
    alphas = (torch.arange(ig_steps, dtype=x.dtype) + 0.5) / ig_steps
    pts = alphas[:, None, None, None] * x
    gi = input_grads(model, pts, c, batch).mean(0)
    attr = x[0] * gi
    with torch.no_grad():
        gap = model(x)[0, c] - model(torch.zeros_like(x))[0, c]
    out['integrated_gradients'] = attr
    out['integrated_gradients_gap'] = gap.reshape(1)
    out['integrated_gradients_delta'] = (attr.sum() - gap).reshape(1)
    s = sigma * (x.max() - x.min())
    xs = x + s * noise.to(x.dtype)
    gs = input_grads(model, xs, c, batch)
    mu = gs.mean(0)
    out['smoothgrad'] = mu
    out['vargrad'] = relu((gs * gs).mean(0) - mu * mu)
    if with_occlusion:
        out['occlusion'] = occlusion(model, x, c, patch, stride)
    return {k: v.detach() for k, v in out.items()}


def f32_error(f32, f64):
    """max|f32 - f64| / max|f64|; the absolute difference when f64 is all zero."""
    d = (f32.double() - f64).abs().max().item()
    s = f64.abs().max().item()
    return d / s if s > 0 else d
