#!/usr/bin/python3
"""ssim_ref.py - the SSIM values tests/test_sanity.c expects, from Wang et al. (2004) as
scikit-image's structural_similarity computes it by default for data range 1 (7 x 7 uniform
window, sample covariances, K1 = 0.01, K2 = 0.03, the mean over the windows lying inside the
map), written here with numpy only; each map min-max scaled to [0, 1] first, as gc_eval_ssim.

  /usr/bin/python3 tests/ref/ssim_ref.py      prints the values to paste into tests/test_sanity.c
"""
import numpy as np


def maps(h, w):
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    a = np.sin(0.7 * i + 0.3 * j) + 0.1 * i
    b = np.cos(0.5 * i - 0.4 * j) * (1 + 0.05 * j)
    c = np.where((i + j) % 3 == 0, 1.0, 0.0)
    return [x.astype(np.float32) for x in (a, b, c)]


def scale(x):
    x = x.astype(np.float64)
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def ssim(x, y):
    x, y = scale(x), scale(y)
    wh, ww = min(7, x.shape[0]), min(7, x.shape[1])
    n = wh * ww
    cov = n / (n - 1)
    C1, C2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for i in range(x.shape[0] - wh + 1):
        for j in range(x.shape[1] - ww + 1):
            u, v = x[i:i + wh, j:j + ww], y[i:i + wh, j:j + ww]
            mx, my = u.mean(), v.mean()
            vx = cov * ((u * u).mean() - mx * mx)
            vy = cov * ((v * v).mean() - my * my)
            vxy = cov * ((u * v).mean() - mx * my)
            vals.append((2 * mx * my + C1) * (2 * vxy + C2) / ((mx * mx + my * my + C1) * (vx + vy + C2)))
    return float(np.mean(vals))


if __name__ == '__main__':
    for h, w in ((9, 11), (5, 4)):
        a, b, c = maps(h, w)
        print('%dx%d: ssim(a,b) %.12f  ssim(a,c) %.12f  ssim(b,c) %.12f' % (h, w, ssim(a, b), ssim(a, c), ssim(b, c)))
