#!/usr/bin/env python3
"""Fixtures for tests/test_preprocess.c: source images (PNG) and what PIL and
torchvision make of them.

  a.png  97 x 61 RGB, busy (stripes, rings, noise)
  b.png 300 x 200 RGB, smoother photo-like content
  c.png  61 x 97 gray ("L")

  <case>.npy  torchvision Resize + CenterCrop + ToTensor + Normalize output,
              (3, H, W) float32, on Image.open(png).convert("RGB"); the
              Caffe case is computed by hand from PIL's 8-bit crop.
  r_<name>.png  PIL Image.resize(size, BILINEAR) results (8-bit, exact).
  f_in.npy / f_out.npy  PIL mode "F" bilinear resize of a float image.

Run with /usr/bin/python3 (torch, torchvision, PIL, numpy):
  python3 tests/ref/make_preprocess_fixtures.py tests/data/preprocess
"""
import os
import sys

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CAFFE_MEAN_BGR = [104.0, 117.0, 123.0]


def image_a(rng):
    y, x = np.mgrid[0:61, 0:97].astype(np.float64)
    r = 127 + 120 * np.sin(x * 0.9) * np.cos(y * 0.35)
    g = 255 * ((x // 7 + y // 5) % 2)
    b = 127 + 127 * np.cos(np.hypot(x - 40, y - 30) * 0.8)
    img = np.stack([r, g, b], -1) + rng.normal(0, 12, (61, 97, 3))
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def image_b(rng):
    y, x = np.mgrid[0:200, 0:300].astype(np.float64)
    r = 40 + 180 * x / 299
    g = 30 + 150 * (np.sin(y / 23.0) * 0.5 + 0.5)
    b = 200 - 160 * y / 199
    img = np.stack([r, g, b], -1)
    disc = np.hypot(x - 190, y - 90) < 45
    img[disc] = [230, 200, 40]
    img[120:170, 40:110] = [20, 90, 30]
    img[::9, :, :] = 250                                   # thin lines: aliasing if not antialiased
    img[:, ::13, :] //= 3
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def image_c(rng):
    y, x = np.mgrid[0:97, 0:61].astype(np.float64)
    v = 128 + 100 * np.sin(x * 0.5 + y * 0.2) + 20 * ((x + y) % 3) + rng.normal(0, 10, x.shape)
    return Image.fromarray(np.clip(np.rint(v), 0, 255).astype(np.uint8), "L")


def torchvision_case(img, resize, crop, mean=MEAN, std=STD):
    t = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(), T.Normalize(mean, std)])
    return t(img.convert("RGB")).numpy().astype(np.float32)


def caffe_case(img, resize, crop):
    pil = T.CenterCrop(crop)(T.Resize(resize)(img.convert("RGB")))
    a = np.asarray(pil, dtype=np.float32)[:, :, ::-1]      # RGB -> BGR, 0..255
    return (a - np.array(CAFFE_MEAN_BGR, np.float32)).transpose(2, 0, 1).copy()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/preprocess"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    imgs = {"a": image_a(rng), "b": image_b(rng), "c": image_c(rng)}
    for k, im in imgs.items():
        im.save(os.path.join(out, k + ".png"), optimize=True)
    cases = {
        "a_tv": torchvision_case(imgs["a"], 48, (39, 43)),     # 97x61 -> 76x48, round(4.5) = 4, round(16.5) = 16
        "b_tv": torchvision_case(imgs["b"], 48, 40),           # 300x200 -> 72x48 (antialiased shrink)
        "c_tv": torchvision_case(imgs["c"], 70, (50, 40)),     # gray portrait, upscale, non-square crop
        "a_direct": torchvision_case(imgs["a"], (40, 48), (40, 48)),  # Resize((h, w)), no crop
        "a_pad": torchvision_case(imgs["a"], 30, (36, 50)),    # 47x30, crop larger: zero padding
        "b_caffe": caffe_case(imgs["b"], 48, 40),
    }
    for k, v in cases.items():
        np.save(os.path.join(out, k + ".npy"), v)
    resizes = {"r_b_113x67": ("b", (113, 67)), "r_b_37x23": ("b", (37, 23)),
               "r_a_131x90": ("a", (131, 90)), "r_a_150x40": ("a", (150, 40)),
               "r_c_20x50": ("c", (20, 50))}
    for k, (src, size) in resizes.items():
        imgs[src].resize(size, Image.BILINEAR).save(os.path.join(out, k + ".png"), optimize=True)
    f = rng.normal(0, 1, (17, 23)).astype(np.float32)
    fo = np.asarray(Image.fromarray(f, "F").resize((31, 10), Image.BILINEAR), dtype=np.float32)
    np.save(os.path.join(out, "f_in.npy"), f)
    np.save(os.path.join(out, "f_out.npy"), fo)
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print("wrote %d files, %d bytes" % (len(os.listdir(out)), total))


if __name__ == "__main__":
    main()
