#!/usr/bin/python3
"""Makes the fixtures of tests/test_inflate.c, tests/test_png.c and tests/test_pnm.c.

Run from the repository root:  /usr/bin/python3 tests/ref/make_png_fixtures.py
Needs Python's zlib (stdlib), PIL and ImageMagick `convert` (development time only).

png/zlib/ <name>.bin  original bytes;  <name>.z  zlib (or .raw raw-deflate) stream made by
        Python's zlib at several levels and strategies (stored, fixed, dynamic blocks).
png/    <name>.png  made by PIL or ImageMagick from known pixels; <name>.ref is the exact
        expected decode: a 16-byte header "GCREF" + version byte + 2 pad, then little-endian
        uint16 width, height, channels, bit_depth, followed by the samples (uint8, or uint16
        little-endian for 16-bit). The expected pixels are the source pixels the encoder was
        given (not another decoder's output); where PIL can read the file too, the script
        asserts that PIL's decode agrees.
pnm/    P2/P3/P5/P6 files written here from the spec (Netpbm), with their .ref decodes.
"""
import os, random, struct, subprocess, sys, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
rng = random.Random(1234)


def wr(path, data):
    with open(path, "wb") as f:
        f.write(data)


def text_like(n):
    words = ["gradient", "class", "activation", "map", "the", "of", "a", "layer", "relu",
             "convolution", "weights", "pixel", "image", "network", "feature", "localisation"]
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rng.choice(words))
    return (" ".join(out)).encode()[:n]


def make_zlib():
    d = os.path.join(ROOT, "png", "zlib")
    os.makedirs(d, exist_ok=True)
    sources = {
        "text": text_like(12000),
        "random": bytes(rng.getrandbits(8) for _ in range(3000)),
        "ramp": bytes(((i % 200) + (i // 200) * 3) & 0xFF for i in range(8000)),
        "zeros": bytes(34000),
        "one": b"x",
        "empty": b"",
    }
    for name, src in sources.items():
        wr(os.path.join(d, name + ".bin"), src)
        if name == "random":  # incompressible: zlib stores it at every level
            wr(os.path.join(d, "random_l6.z"), zlib.compress(src, 6))
            continue
        for lvl in ((0, 1, 6, 9) if name in ("text", "one", "empty") else (1, 6, 9)):
            wr(os.path.join(d, "%s_l%d.z" % (name, lvl)), zlib.compress(src, lvl))
        for sname, strat in (("fixed", zlib.Z_FIXED), ("huff", zlib.Z_HUFFMAN_ONLY), ("rle", zlib.Z_RLE)):
            c = zlib.compressobj(6, zlib.DEFLATED, 15, 8, strat)
            wr(os.path.join(d, "%s_%s.z" % (name, sname)), c.compress(src) + c.flush())
        c = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw deflate
        wr(os.path.join(d, name + "_raw.raw"), c.compress(src) + c.flush())
        # several blocks: sync flushes add empty stored blocks between them
        c = zlib.compressobj(9, zlib.DEFLATED, 15)
        parts = [c.compress(src[i:i + 4000]) + c.flush(zlib.Z_SYNC_FLUSH) for i in range(0, len(src), 4000)]
        wr(os.path.join(d, name + "_sync.z"), b"".join(parts) + c.flush())


if __name__ == "__main__":
    what = sys.argv[1:] or ["zlib", "png", "pnm"]
    if "zlib" in what:
        make_zlib()
    if "png" in what:
        make_png()
    if "pnm" in what:
        make_pnm()
