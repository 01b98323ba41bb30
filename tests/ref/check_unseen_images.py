#!/usr/bin/python3
"""Acceptance check for the decoders on images made fresh (not the test
fixtures): development time only; needs /usr/bin/python3 with numpy and PIL,
cjpeg/djpeg (libjpeg-turbo-progs) and ImageMagick's convert, and a built
examples/imgconv.

  /usr/bin/python3 tests/ref/check_unseen_images.py [SEED]

JPEG: examples/imgconv's decode vs djpeg's (limits: mean |diff| <= 1.5,
99.9th percentile <= 8). PNG and PPM/PGM: exact vs PIL / ImageMagick.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
IMGCONV = os.path.join(ROOT, 'examples', 'imgconv')
fails = []


def photo(w, h, rng):
    """Smooth gradients, texture, sharp shapes and noise: photo-like content."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / (7 + 5 * c) + y / 11 + c) for c in range(3)], -1)
    img += rng.normal(0, 12, img.shape)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, min(w, h) / 3)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def read_pnm(path):
    im = Image.open(path)
    return np.asarray(im)


def ours(src, ext):
    out = src + '.ours' + ext
    subprocess.run([IMGCONV, src, out], check=True)
    return out


def check_jpeg(name, src):
    ref = src + '.ref.pnm'
    with open(ref, 'wb') as f:
        subprocess.run(['djpeg', '-pnm', src], stdout=f, check=True)
    r = read_pnm(ref).astype(np.int32)
    o = read_pnm(ours(src, '.pgm' if r.ndim == 2 else '.ppm')).astype(np.int32)
    if o.shape != r.shape:
        print('  %-28s shape %s vs %s  FAIL' % (name, o.shape, r.shape))
        fails.append(name)
        return
    d = np.abs(o - r)
    mean, p999 = d.mean(), np.percentile(d, 99.9)
    ok = mean <= 1.5 and p999 <= 8
    print('  %-28s %4dx%-4d mean|diff| %.3f  p99.9 %.1f  max %d  %s' % (name, r.shape[1], r.shape[0], mean, p999, d.max(), 'ok' if ok else 'FAIL'))
    if not ok:
        fails.append(name)


def exact(name, o, r):
    ok = o.shape == r.shape and np.array_equal(o, r)
    print('  %-28s %-16s %s' % (name, 'x'.join(map(str, r.shape)), 'exact' if ok else 'FAIL'))
    if not ok:
        fails.append(name)


def magick_raw(path, channels, depth):
    """Decode with ImageMagick (libpng) to raw samples."""
    fmt = {1: 'gray', 2: 'graya', 3: 'rgb', 4: 'rgba'}[channels]
    out = subprocess.run(['convert', path, '-depth', str(depth), '-endian', 'MSB', fmt + ':-'],
                         check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(out, dtype='>u2' if depth == 16 else np.uint8)


def ours_png_samples(src):
    """imgconv to .png keeps channels and depth; read the samples back with ImageMagick."""
    return ours(src, '.png')


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 2026
    rng = np.random.default_rng(seed)
    work = tempfile.mkdtemp(prefix='gc_unseen_')
    w, h = int(rng.integers(150, 260)), int(rng.integers(100, 200))
    base = photo(w, h, rng)
    ppm = os.path.join(work, 'src.ppm')
    Image.fromarray(base).save(ppm)
    print('JPEG (cjpeg -> imgconv vs djpeg), %dx%d, seed %d' % (w, h, seed))
    for name, args in [('baseline 4:2:0 q85', ['-quality', '85', '-sample', '2x2']),
                       ('baseline 4:2:2 q90', ['-quality', '90', '-sample', '2x1']),
                       ('baseline 4:4:4 q75', ['-quality', '75', '-sample', '1x1']),
                       ('progressive 4:2:0 q80', ['-quality', '80', '-progressive']),
                       ('grayscale q90', ['-quality', '90', '-grayscale']),
                       ('restart 2 rows 4:2:0', ['-quality', '88', '-restart', '2']),
                       ('restart 5 blocks prog', ['-quality', '70', '-restart', '5B', '-progressive']),
                       ('optimized 4:1:1', ['-quality', '92', '-optimize', '-sample', '4x1'])]:
        src = os.path.join(work, name.replace(' ', '_').replace(':', '') + '.jpg')
        with open(src, 'wb') as f:
            subprocess.run(['cjpeg'] + args + [ppm], stdout=f, check=True)
        check_jpeg(name, src)

    print('PNG (imgconv decode -> .png -> ImageMagick vs source samples)')
    alpha = rng.integers(0, 256, (h, w, 1), dtype=np.uint8)
    gray = (base.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    cases = [('RGB 8', Image.fromarray(base), 3, 8, base),
             ('RGBA 8', Image.fromarray(np.concatenate([base, alpha], -1)), 4, 8, np.concatenate([base, alpha], -1)),
             ('gray 8', Image.fromarray(gray), 1, 8, gray)]
    pal = Image.fromarray(base).quantize(64)
    cases.append(('palette 64', pal, 3, 8, np.asarray(pal.convert('RGB'))))
    for name, im, ch, depth, expect in cases:
        for interlace in (0, 1):
            src = os.path.join(work, '%s_%d.png' % (name.replace(' ', '_'), interlace))
            if interlace:
                tmp = src + '.tmp.png'
                im.save(tmp)
                subprocess.run(['convert', tmp, '-interlace', 'PNG', src], check=True)
            else:
                im.save(src)
            o = magick_raw(ours_png_samples(src), ch, depth)
            exact(name + (' interlaced' if interlace else ''), o, expect.ravel())
    # 16-bit RGB and gray via ImageMagick, reference decode by ImageMagick (libpng)
    for name, ch in [('RGB 16', 3), ('gray 16', 1)]:
        src = os.path.join(work, name.replace(' ', '_') + '.png')
        raw = (rng.integers(0, 65536, (h, w, ch))).astype('>u2')
        rawf = src + '.raw'
        raw.tofile(rawf)
        subprocess.run(['convert', '-size', '%dx%d' % (w, h), '-depth', '16', '-endian', 'MSB',
                        ('rgb:' if ch == 3 else 'gray:') + rawf, src], check=True)
        exact(name, magick_raw(ours_png_samples(src), ch, 16), magick_raw(src, ch, 16))

    print('PPM/PGM (imgconv vs PIL)')
    for name, im, ext, ascii_ in [('P6', Image.fromarray(base), '.ppm', False), ('P5', Image.fromarray(gray), '.pgm', False)]:
        src = os.path.join(work, name + ext)
        im.save(src)
        exact(name, read_pnm(ours(src, ext)), np.asarray(im))
    for name, arr, magic in [('P3', base, 'P3'), ('P2', gray, 'P2')]:
        src = os.path.join(work, name + ('.ppm' if magic == 'P3' else '.pgm'))
        with open(src, 'w') as f:
            f.write('%s\n# unseen\n%d %d\n255\n' % (magic, w, h))
            f.write('\n'.join(' '.join(map(str, row)) for row in arr.reshape(h, -1)) + '\n')
        exact(name, read_pnm(ours(src, '.ppm' if magic == 'P3' else '.pgm')), arr)
    print('FAILED: ' + ', '.join(fails) if fails else 'all within limits')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
