#!/usr/bin/python3
"""throughput.py - images per second of a whole data-set run (issue 17): examples/gradcam over a
folder of JPEG photos against a PyTorch script doing the same work, alternately, on one model.

    flock /tmp/heavy.lock nice -n 19 /usr/bin/python3 tests/ref/throughput.py [--count 1000]
          [--model vgg16] [--rounds 2] [--threads 2] [--work /tmp/gc_throughput] [--gradcam PROG]

Made here, once (kept in --work): --count JPEG "photos" of mixed sizes (320..1280 px a side,
smooth colour fields, shapes, noise and texture; PIL, quality 90, seeded), and the torchvision
model with random weights (seeded) saved as a state dict and converted by tools/gcw_convert.py,
so both sides run the same weights. Then, --rounds times, alternately:

  ours     examples/gradcam MODEL.gcw PHOTOS/ --method gradcam -q -o OUT: per photo decode,
           preprocess (resize 256, centre crop 224, ImageNet normalisation), Grad-CAM at the
           default layer (features.29 for VGG-16), the figure (original | Grad-CAM overlay, 224
           px high, gc_render_methods) as PNG, plus the two maps as .npy, a JSON summary, the
           manifest and the gallery
  pytorch  this script: per photo PIL decode, torchvision resize 256 / centre crop 224 /
           normalise, lean Grad-CAM (the network up to the target layer under no_grad, the head
           with autograd from that activation, backward of the top-1 logit, ReLU(sum alpha A)),
           bilinear upsampling to 224, min-max, the jet colour map over the crop region of the
           original, the figure (original | overlay, 224 px high) written as PNG by PIL

Both with --threads threads (OMP_NUM_THREADS, torch.set_num_threads). Prints each run's images
per second, the medians and their ratio, and the machine's load before and after.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = {"vgg16": ("features", 30), "resnet18": ("layer4", None), "resnet50": ("layer4", None)}


def make_photos(folder, count, seed=17):
    import random
    from PIL import Image, ImageDraw, ImageFilter
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        path = os.path.join(folder, "p%04d.jpg" % i)
        if os.path.exists(path):
            continue
        w, h = rng.randint(320, 1280), rng.randint(320, 1280)
        # a smooth colour field (a small random image scaled up), shapes, texture, noise
        small = Image.new("RGB", (4, 4))
        small.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(16)])
        im = small.resize((w, h), Image.BICUBIC)
        d = ImageDraw.Draw(im)
        for _ in range(rng.randint(2, 8)):
            x0, y0 = rng.randrange(w), rng.randrange(h)
            x1, y1 = x0 + rng.randint(20, w // 2), y0 + rng.randint(20, h // 2)
            col = tuple(rng.randrange(256) for _ in range(3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col)
        for _ in range(rng.randint(5, 40)):
            d.line([rng.randrange(w), rng.randrange(h), rng.randrange(w), rng.randrange(h)],
                   fill=tuple(rng.randrange(256) for _ in range(3)), width=rng.randint(1, 4))
        im = im.filter(ImageFilter.GaussianBlur(0.8))
        noise = Image.effect_noise((w, h), rng.uniform(8, 30)).convert("RGB")
        im = Image.blend(im, noise, 0.12)
        im.save(path, quality=90)


def make_model(name, work):
    import torch
    import torchvision
    pth, gcw = os.path.join(work, name + ".pth"), os.path.join(work, name + ".gcw")
    if not os.path.exists(gcw):
        torch.manual_seed(0)
        m = getattr(torchvision.models, name)(weights=None).eval()
        torch.save(m.state_dict(), pth)
        subprocess.check_call([sys.executable, os.path.join(REPO, "tools/gcw_convert.py"), pth, gcw],
                              stdout=subprocess.DEVNULL)
    return pth, gcw


def run_ours(prog, gcw, photos, out, threads):
    subprocess.call(["rm", "-rf", out])
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    rc = subprocess.call([prog, gcw, photos, "--method", "gradcam", "-q", "-o", out],
                         env=env, stdout=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if rc:
        raise SystemExit("examples/gradcam exited %d" % rc)
    return dt


class Pipeline:
    """The PyTorch side: everything per photo, as a script would do it."""

    def __init__(self, name, pth, threads):
        import torch
        import torchvision
        from torchvision import transforms
        torch.set_num_threads(threads)
        self.torch = torch
        m = getattr(torchvision.models, name)(weights=None)
        m.load_state_dict(torch.load(pth))
        self.m = m.eval()
        self.name = name
        self.tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                      transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        import numpy as np
        self.np = np
        # OpenCV's COLORMAP_JET as gc_colormap_jet documents it (RGB)
        v = np.arange(256) / 255.0
        def ch(c):
            return np.clip(1.5 - np.abs(4 * v - c), 0, 1)
        self.jet = (np.stack([ch(3), ch(2), ch(1)], 1) * 255).round().astype(np.uint8)

    def cam(self, x):
        torch, m = self.torch, self.m
        with torch.no_grad():
            if self.name == "vgg16":
                a = m.features[:30](x)
            else:
                a = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
        a = a.detach().requires_grad_(True)
        if self.name == "vgg16":
            y = m.classifier(torch.flatten(m.avgpool(m.features[30](a)), 1))
        else:
            y = m.fc(torch.flatten(m.avgpool(a), 1))
        c = int(y.argmax())
        (g,) = torch.autograd.grad(y[0, c], a)
        w = g.mean((2, 3), keepdim=True)
        cam = torch.relu((w * a).sum(1, keepdim=True))
        up = torch.nn.functional.interpolate(cam, size=(224, 224), mode="bilinear", align_corners=False)[0, 0]
        return cam[0, 0].detach().numpy(), up.detach().numpy(), c

    def one(self, path, out):
        from PIL import Image
        np = self.np
        img = Image.open(path).convert("RGB")
        x = self.tf(img).unsqueeze(0)
        cam, up, c = self.cam(x)
        lo, hi = up.min(), up.max()
        norm = (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)
        # the overlay on the original: the map over the crop region (resize 256 then crop 224)
        W, H = img.size
        s = 256.0 / min(W, H)
        cw, ch = 224 / s, 224 / s
        x0, y0 = (W - cw) / 2, (H - ch) / 2
        heat = Image.fromarray((norm * 255).astype(np.uint8)).resize((max(1, round(cw)), max(1, round(ch))),
                                                                     Image.BILINEAR)
        col = Image.fromarray(self.jet[np.asarray(heat)])
        over = img.copy()
        box = (round(x0), round(y0))
        region = over.crop((box[0], box[1], box[0] + col.size[0], box[1] + col.size[1]))
        over.paste(Image.blend(region, col, 0.5), box)
        ph = 224
        pw = max(1, round(W * ph / H))
        fig = Image.new("RGB", (2 * pw + 8, ph + 24), (255, 255, 255))
        fig.paste(img.resize((pw, ph), Image.BILINEAR), (0, 12))
        fig.paste(over.resize((pw, ph), Image.BILINEAR), (pw + 8, 12))
        stem = os.path.splitext(os.path.basename(path))[0]
        fig.save(os.path.join(out, "%s_c%d_figure.png" % (stem, c)))
        np.save(os.path.join(out, "%s_c%d_gradcam.npy" % (stem, c)), cam)


def run_torch(pipe, photos, out):
    subprocess.call(["rm", "-rf", out])
    os.makedirs(out)
    files = sorted(os.path.join(photos, f) for f in os.listdir(photos) if f.endswith(".jpg"))
    t0 = time.perf_counter()
    for f in files:
        pipe.one(f, out)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--model", default="vgg16", choices=sorted(TARGET))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/gc_throughput")
    ap.add_argument("--gradcam", default=os.path.join(REPO, "examples/gradcam"),
                    help="the program to time (a copy of a plain -O2 build: not a sanitizer build)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    photos = os.path.join(a.work, "photos%d" % a.count)
    t = time.perf_counter()
    make_photos(photos, a.count)
    pth, gcw = make_model(a.model, a.work)
    print("data and model ready (%.0f s): %d photos, %s" % (time.perf_counter() - t, a.count, gcw), flush=True)
    pipe = Pipeline(a.model, pth, a.threads)
    print("load before: %s" % open("/proc/loadavg").read().strip(), flush=True)
    ours, theirs = [], []
    for r in range(a.rounds):
        dt = run_ours(a.gradcam, gcw, photos, os.path.join(a.work, "out_ours"), a.threads)
        ours.append(a.count / dt)
        print("round %d  ours     %7.2f images/s (%.1f s)" % (r + 1, ours[-1], dt), flush=True)
        dt = run_torch(pipe, photos, os.path.join(a.work, "out_torch"))
        theirs.append(a.count / dt)
        print("round %d  pytorch  %7.2f images/s (%.1f s)" % (r + 1, theirs[-1], dt), flush=True)
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print("load after: %s" % open("/proc/loadavg").read().strip())
    print("median: ours %.2f images/s, pytorch %.2f images/s, ratio %.2f" % (mo, mt, mo / mt))


if __name__ == "__main__":
    main()
