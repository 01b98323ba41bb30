#!/usr/bin/env python3
"""Makes the JPEG decoder fixtures in tests/data/jpeg/ (development time only).

Sources are synthetic (smooth gradients + sharp detail + noise) at odd sizes;
they are encoded with libjpeg-turbo's cjpeg and the references are djpeg's
default decodes (fancy upsampling, islow IDCT) stored as PPM/PGM. EXIF
orientation files are copies of one JPEG with a hand-built APP1 segment.
Needs: cjpeg/djpeg (libjpeg-turbo-progs), numpy, PIL.
"""
import os, struct, subprocess
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "jpeg")
os.makedirs(OUT, exist_ok=True)


def source(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 110 * np.sin(x / w * 3.1 + y / h * 1.3)
    g = 40 + 180 * (y / h)
    b = 128 + 100 * np.cos((x - w / 3) * (y - h / 2) / (w * h) * 20)
    img = np.stack([r, g, b], -1)
    img[(x // 6 + y // 6) % 2 == 0, :] += 40 * (x < w / 3)[(x // 6 + y // 6) % 2 == 0, None]  # checker detail
    img[(np.abs(x - y * w / h) < 1.5)] = [250, 20, 20]                                       # diagonal line
    img[h // 2:h // 2 + 2, :, :] = 0                                                           # black bar
    img += rng.normal(0, 6, img.shape)                                                         # texture
    return np.clip(img, 0, 255).astype(np.uint8)


def save_src(name, arr):
    p = os.path.join("/tmp", name + ".ppm")
    Image.fromarray(arr).save(p)
    return p


def encode(src, name, args):
    jpg = os.path.join(OUT, name + ".jpg")
    subprocess.run(["cjpeg"] + args + ["-outfile", jpg, src], check=True)
    return jpg


def reference(jpg, name):
    gray = Image.open(jpg).mode == "L"
    ref = os.path.join(OUT, name + (".pgm" if gray else ".ppm"))
    subprocess.run(["djpeg", "-pnm", "-outfile", ref, jpg], check=True)


def exif_app1(orientation, big_endian):
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    entries = [(0x010F, 2, 4, b"Cam\0"), (0x0112, 3, 1, struct.pack(e + "HH", orientation, 0))]
    ifd = struct.pack(e + "H", len(entries))
    for tag, typ, cnt, val in entries:
        ifd += struct.pack(e + "HHI", tag, typ, cnt) + val
    ifd += struct.pack(e + "I", 0)
    body = b"Exif\0\0" + tiff + ifd
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def with_app1(jpg, name, app1):
    data = open(jpg, "rb").read()
    open(os.path.join(OUT, name + ".jpg"), "wb").write(data[:2] + app1 + data[2:])


# custom progression: non-interleaved DC, spectral bands, 3 levels of AC refinement
SCANS = "/tmp/jpeg_scans.txt"
open(SCANS, "w").write("""0: 0-0, 0, 2;
1,2: 0-0, 0, 1;
0: 1-9, 0, 3;
0: 10-63, 0, 3;
1: 1-63, 0, 0;
2: 1-63, 0, 1;
0: 0-0, 2, 1;
0: 0-0, 1, 0;
1,2: 0-0, 1, 0;
0: 1-63, 3, 2;
0: 1-63, 2, 1;
0: 1-63, 1, 0;
2: 1-63, 1, 0;
""")

a = save_src("jpeg_src_a", source(61, 45, 1))
b = save_src("jpeg_src_b", source(127, 93, 2))
c = save_src("jpeg_src_c", source(17, 3, 3))
d = save_src("jpeg_src_d", source(1, 1, 4))

cases = [
    (b, "b_444_q95", ["-quality", "95", "-sample", "1x1"]),
    (b, "b_420_q50", ["-quality", "50"]),
    (b, "b_prog420_q75", ["-quality", "75", "-progressive"]),
    (b, "b_rst3B_q75", ["-quality", "75", "-restart", "3B"]),
    (a, "a_444_q50", ["-quality", "50", "-sample", "1x1"]),
    (a, "a_422_q95", ["-quality", "95", "-sample", "2x1"]),
    (a, "a_420_q95", ["-quality", "95"]),
    (a, "a_411_q95", ["-quality", "95", "-sample", "4x1"]),
    (a, "a_440_q95", ["-quality", "95", "-sample", "1x2"]),
    (a, "a_mixed_q95", ["-quality", "95", "-sample", "2x2,1x2,2x1"]),
    (a, "a_42x_q95", ["-quality", "95", "-sample", "4x2"]),
    (a, "a_gray_q95", ["-quality", "95", "-grayscale"]),
    (a, "a_prog420_q95", ["-quality", "95", "-progressive"]),
    (a, "a_proggray_q50", ["-quality", "50", "-progressive", "-grayscale"]),
    (a, "a_progrst_q75", ["-quality", "75", "-progressive", "-restart", "2B"]),
    (a, "a_scans444_q90", ["-quality", "90", "-sample", "1x1", "-scans", SCANS]),
    (a, "a_rst1_q75", ["-quality", "75", "-restart", "1"]),
    (a, "a_opt_q50", ["-quality", "50", "-optimize"]),
    (c, "c_420_17x3", ["-quality", "90"]),
    (d, "d_420_1x1", ["-quality", "90"]),
]
for src, name, args in cases:
    reference(encode(src, name, args), name)

encode(a, "arith", ["-arithmetic"])
base = os.path.join(OUT, "a_420_q95.jpg")
with_app1(base, "orient2_le", exif_app1(2, False))
with_app1(base, "orient3_be", exif_app1(3, True))
with_app1(base, "orient5_le", exif_app1(5, False))
with_app1(base, "orient6_le", exif_app1(6, False))
with_app1(base, "orient7_be", exif_app1(7, True))
with_app1(base, "orient8_be", exif_app1(8, True))
bad = bytearray(exif_app1(6, False))
bad[14:18] = struct.pack("<I", 0xFFFF0000)  # IFD0 offset far outside the block
with_app1(base, "orient_bad_exif", bytes(bad))
