#!/usr/bin/python3
"""Makes the fixtures of tests/test_inflate.c, tests/test_png.c and tests/test_pnm.c.

Run from the repository root:  /usr/bin/python3 tests/ref/make_png_fixtures.py
Needs Python's zlib (stdlib), PIL and ImageMagick `convert` (development time only).

png/zlib/ <name>.bin  original bytes;  <name>.z  zlib (or .raw raw-deflate) stream made by
        Python's zlib at several levels and strategies (stored, fixed, dynamic blocks).
png/    <name>.png  made by PIL or ImageMagick from known pixels; <name>.ref is the exact
        expected decode: "GCRF", then little-endian uint32 width, height, channels, bit_depth,
        then the samples (uint8, or uint16 little-endian for 16-bit). The expected pixels are
        the source pixels the encoder was given (not another decoder's output); the script
        also asserts that PIL's own decode agrees wherever PIL can represent the result, and
        that IHDR says what was asked for (ImageMagick likes to pick other colour types).
pnm/    P2/P3/P5/P6 files written here from the Netpbm spec from random samples, with their
        .ref decodes (same layout as png/); PIL checks them where it keeps the depth.
ImageMagick reads raw 16-bit input little-endian on this host unless told -endian MSB.
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
        for lvl in (range(10) if name == "text" else (0, 1, 6, 9) if name in ("one", "empty") else (1, 6, 9)):
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


# ---- PNG -------------------------------------------------------------------------------
import numpy as np
from PIL import Image

PNG_DIR = os.path.join(ROOT, "png")
nrng = np.random.default_rng(77)


def write_ref(path, arr, depth):
    """arr: (h, w, c) uint8 or uint16 array of the expected decode."""
    h, w, c = arr.shape
    body = arr.astype("<u2").tobytes() if depth == 16 else arr.astype(np.uint8).tobytes()
    wr(path, b"GCRF" + struct.pack("<4I", w, h, c, depth) + body)


def ihdr(path):
    d = open(path, "rb").read()
    assert d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR", path
    w, h, depth, ct, _, _, il = struct.unpack(">IIBBBBB", d[16:29])
    return w, h, depth, ct, il


def chunks(data):
    pos, out = 8, []
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        out.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return out


def build(chs):
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chs)


def smooth(h, w, c, maxv):
    """Random-walk pixels: compressible like photos, exercising every filter."""
    base = nrng.integers(0, maxv + 1, size=(1, 1, c))
    steps = nrng.integers(-maxv // 16 - 1, maxv // 16 + 2, size=(h, w, c))
    a = (base + np.cumsum(steps, axis=1) + np.cumsum(steps[:, :1], axis=0)) % (maxv + 1)
    return a.astype(np.uint16 if maxv > 255 else np.uint8)


def check(name, want, depth, ct, il):
    p = os.path.join(PNG_DIR, name + ".png")
    got = ihdr(p)
    assert got[2:] == (depth, ct, il), (name, got)


def pil_agrees(name, ref, pil_mode=None):
    im = Image.open(os.path.join(PNG_DIR, name + ".png"))
    if pil_mode:
        im = im.convert(pil_mode)
    a = np.asarray(im)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = a[:, :, None]
    r = ref
    if pil_mode == "RGBA" and ref.shape[2] == 2:  # gray + alpha vs RGBA
        r = np.concatenate([ref[:, :, :1]] * 3 + [ref[:, :, 1:]], axis=2)
    assert a.shape == r.shape and (a.astype(np.int64) == r.astype(np.int64)).all(), (name, a.shape, r.shape)


def im_convert(raw_fmt, arr, depth, out_name, *opts):
    """ImageMagick: raw samples in, PNG out."""
    h, w, c = arr.shape
    src = "/tmp/gc_fixture.raw"
    wr(src, arr.astype(">u2").tobytes() if depth == 16 else arr.astype(np.uint8).tobytes())
    subprocess.check_call(["convert", "-endian", "MSB", "-size", "%dx%d" % (w, h), "-depth", str(depth),
                           "%s:%s" % (raw_fmt, src), "-define", "png:exclude-chunk=date,time"] + list(opts) + [os.path.join(PNG_DIR, out_name + ".png")])


def save_pil(img, name, **kw):
    img.save(os.path.join(PNG_DIR, name + ".png"), **kw)


def make_png():
    os.makedirs(PNG_DIR, exist_ok=True)
    # -- PIL writes: 1/8/16-bit gray, gray+alpha, RGB, RGBA, palettes of 1/2/4/8 bits, tRNS
    a = (nrng.integers(0, 2, size=(21, 37, 1)) * 255).astype(np.uint8)
    save_pil(Image.fromarray(a[:, :, 0]).convert("1"), "g1")
    check("g1", a, 1, 0, 0); write_ref(os.path.join(PNG_DIR, "g1.ref"), a, 8); pil_agrees("g1", a)
    a = smooth(29, 31, 1, 255)
    save_pil(Image.fromarray(a[:, :, 0], "L"), "g8")
    check("g8", a, 8, 0, 0); write_ref(os.path.join(PNG_DIR, "g8.ref"), a, 8); pil_agrees("g8", a)
    a = smooth(17, 23, 1, 65535)
    save_pil(Image.fromarray(a[:, :, 0].astype(np.uint16), "I;16"), "g16")
    check("g16", a, 16, 0, 0); write_ref(os.path.join(PNG_DIR, "g16.ref"), a, 16); pil_agrees("g16", a)
    a = smooth(19, 27, 2, 255)
    save_pil(Image.fromarray(a, "LA"), "ga8")
    check("ga8", a, 8, 4, 0); write_ref(os.path.join(PNG_DIR, "ga8.ref"), a, 8); pil_agrees("ga8", a)
    a = smooth(33, 41, 3, 255)
    save_pil(Image.fromarray(a, "RGB"), "rgb8")
    check("rgb8", a, 8, 2, 0); write_ref(os.path.join(PNG_DIR, "rgb8.ref"), a, 8); pil_agrees("rgb8", a)
    a = smooth(25, 18, 4, 255)
    save_pil(Image.fromarray(a, "RGBA"), "rgba8")
    check("rgba8", a, 8, 6, 0); write_ref(os.path.join(PNG_DIR, "rgba8.ref"), a, 8); pil_agrees("rgba8", a)
    for bits, ncol, (h, w) in ((1, 2, (9, 13)), (2, 4, (11, 7)), (4, 16, (15, 21)), (8, 200, (23, 30))):
        pal = nrng.integers(0, 256, size=(ncol, 3)).astype(np.uint8)
        idx = nrng.integers(0, ncol, size=(h, w)).astype(np.uint8)
        im = Image.fromarray(idx, "P")
        im.putpalette(pal.tobytes())
        name = "p%d" % bits
        save_pil(im, name)
        a = pal[idx]
        check(name, a, bits, 3, 0); write_ref(os.path.join(PNG_DIR, name + ".ref"), a, 8); pil_agrees(name, a, "RGB")
    # palette + partial tRNS (entries past the tRNS length stay opaque)
    pal = nrng.integers(0, 256, size=(12, 3)).astype(np.uint8)
    alpha = np.array([0, 40, 128, 255, 7, 99], np.uint8)
    idx = nrng.integers(0, 12, size=(14, 19)).astype(np.uint8)
    im = Image.fromarray(idx, "P"); im.putpalette(pal.tobytes())
    save_pil(im, "p4_trns", transparency=alpha.tobytes())
    full_a = np.concatenate([alpha, np.full(6, 255, np.uint8)])
    a = np.concatenate([pal[idx], full_a[idx][:, :, None]], axis=2)
    check("p4_trns", a, 4, 3, 0); write_ref(os.path.join(PNG_DIR, "p4_trns.ref"), a, 8); pil_agrees("p4_trns", a, "RGBA")
    # gray and RGB colour keys
    g = smooth(13, 17, 1, 255); key = int(g[3, 4, 0])
    save_pil(Image.fromarray(g[:, :, 0], "L"), "g8_trns", transparency=key)
    a = np.concatenate([g, np.where(g == key, 0, 255).astype(np.uint8)], axis=2)
    check("g8_trns", a, 8, 0, 0); write_ref(os.path.join(PNG_DIR, "g8_trns.ref"), a, 8); pil_agrees("g8_trns", a, "RGBA")
    g = smooth(9, 14, 1, 65535); key = int(g[2, 5, 0])
    save_pil(Image.fromarray(g[:, :, 0].astype(np.uint16), "I;16"), "g16_trns")  # PIL cannot add the key:
    p = os.path.join(PNG_DIR, "g16_trns.png")                                     # insert tRNS by hand
    chs = chunks(open(p, "rb").read())
    wr(p, build(chs[:1] + [(b"tRNS", struct.pack(">H", key))] + chs[1:]))
    a = np.concatenate([g, np.where(g == key, 0, 65535).astype(np.uint16)], axis=2)
    check("g16_trns", a, 16, 0, 0); write_ref(os.path.join(PNG_DIR, "g16_trns.ref"), a, 16)
    im_rgba = subprocess.check_output(["convert", p, "-endian", "MSB", "-depth", "16", "rgba:-"])
    im_rgba = np.frombuffer(im_rgba, ">u2").reshape(9, 14, 4)[:, :, [0, 3]]
    assert (im_rgba.astype(np.int64) == a.astype(np.int64)).all()  # libpng (via ImageMagick) agrees
    c = smooth(12, 15, 3, 255); c[5:7, 2:9] = c[1, 1]; key = tuple(int(v) for v in c[1, 1])
    save_pil(Image.fromarray(c, "RGB"), "rgb8_trns", transparency=key)
    a = np.concatenate([c, np.where((c == key).all(axis=2, keepdims=True), 0, 255).astype(np.uint8)], axis=2)
    check("rgb8_trns", a, 8, 2, 0); write_ref(os.path.join(PNG_DIR, "rgb8_trns.ref"), a, 8); pil_agrees("rgb8_trns", a, "RGBA")
    # -- ImageMagick writes what PIL cannot: 2/4-bit gray, 16-bit RGB/RGBA/gray+alpha, Adam7
    for bits, (h, w) in ((2, (10, 23)), (4, (13, 9))):
        v = nrng.integers(0, 1 << bits, size=(h, w, 1))
        a = (v * 255 // ((1 << bits) - 1)).astype(np.uint8)
        name = "g%d" % bits
        im_convert("gray", a, 8, name, "-define", "png:color-type=0", "-define", "png:bit-depth=%d" % bits)
        check(name, a, bits, 0, 0); write_ref(os.path.join(PNG_DIR, name + ".ref"), a, 8); pil_agrees(name, a)
    a = smooth(19, 22, 3, 65535)
    im_convert("rgb", a, 16, "rgb16", "-define", "png:color-type=2", "-define", "png:bit-depth=16")
    check("rgb16", a, 16, 2, 0); write_ref(os.path.join(PNG_DIR, "rgb16.ref"), a, 16)
    a = smooth(17, 14, 4, 65535)
    im_convert("rgba", a, 16, "rgba16", "-define", "png:color-type=6", "-define", "png:bit-depth=16")
    check("rgba16", a, 16, 6, 0); write_ref(os.path.join(PNG_DIR, "rgba16.ref"), a, 16)
    a = smooth(15, 16, 4, 65535); a[:, :, 1] = a[:, :, 0]; a[:, :, 2] = a[:, :, 0]  # gray RGBA
    im_convert("rgba", a, 16, "ga16", "-define", "png:color-type=4", "-define", "png:bit-depth=16")
    a = a[:, :, [0, 3]]
    check("ga16", a, 16, 4, 0); write_ref(os.path.join(PNG_DIR, "ga16.ref"), a, 16)
    # Adam7: odd sizes leave some passes empty (1x1 has only pass 1)
    for name, fmt, c, depth, ct, (h, w), extra in (
            ("i_rgb8", "rgb", 3, 8, 2, (37, 29), []),
            ("i_rgba16", "rgba", 4, 16, 6, (11, 13), []),
            ("i_g8", "gray", 1, 8, 0, (5, 3), []),
            ("i_g8_1x1", "gray", 1, 8, 0, (1, 1), []),
            ("i_g1", "gray", 1, 1, 0, (19, 17), ["-define", "png:bit-depth=1"]),
            ("i_g4", "gray", 1, 4, 0, (6, 10), ["-define", "png:bit-depth=4"]),
            ("i_ga8", "rgba", 4, 8, 4, (9, 12), [])):
        if depth < 8:
            v = nrng.integers(0, 1 << depth, size=(h, w, c))
            a = (v * 255 // ((1 << depth) - 1)).astype(np.uint8)
        else:
            a = smooth(h, w, c, (1 << depth) - 1)
        if ct == 4:
            a[:, :, 1] = a[:, :, 0]; a[:, :, 2] = a[:, :, 0]
        im_convert(fmt, a, max(depth, 8), name, "-interlace", "PNG", "-define", "png:color-type=%d" % ct,
                   *(extra or ["-define", "png:bit-depth=%d" % depth]))
        if ct == 4:
            a = a[:, :, [0, 3]]
        check(name, a, depth, ct, 1); write_ref(os.path.join(PNG_DIR, name + ".ref"), a, 8 if depth <= 8 else 16)
        if depth == 8 and ct != 4:
            pil_agrees(name, a)
    # -- rewrites of valid files (same expected pixels): every filter type on purpose,
    #    IDAT split into many small chunks, ancillary chunks before and after IDAT
    refilter("rgb8", "f_rgb8", 3)
    refilter("g16", "f_g16", 2)
    refilter("g4", "f_g4", 1)
    refilter("i_rgba16", "f_i_rgba16", 8)
    d = open(os.path.join(PNG_DIR, "rgb8.png"), "rb").read()
    chs = chunks(d)
    idat = b"".join(c for t, c in chs if t == b"IDAT")
    out = [chs[0], (b"gAMA", struct.pack(">I", 45455)), (b"tEXt", b"Comment\x00fixture")]
    out += [(b"IDAT", idat[i:i + 97]) for i in range(0, len(idat), 97)]
    out += [(b"tIME", bytes(7)), (b"IEND", b"")]
    wr(os.path.join(PNG_DIR, "split_idat.png"), build(out))
    wr(os.path.join(PNG_DIR, "split_idat.ref"), open(os.path.join(PNG_DIR, "rgb8.ref"), "rb").read())
    pil_agrees("split_idat", np.asarray(Image.open(os.path.join(PNG_DIR, "rgb8.png"))))
    assert_filters_covered()
    # PIL's RGB -> L conversion of rgb8, the oracle of gc_image_to_gray8
    g = np.asarray(Image.open(os.path.join(PNG_DIR, "rgb8.png")).convert("L"))[:, :, None]
    write_ref(os.path.join(PNG_DIR, "rgb8_gray.ref"), g, 8)


def verify_ours(png_path, ref_path):
    """Development check that PIL (ImageMagick for 16-bit colour, which PIL truncates)
    decodes a PNG written by gc_image_encode_png exactly:
        examples/imgconv tests/data/png/rgba8.png /tmp/o.png
        make_png_fixtures.py verify /tmp/o.png tests/data/png/rgba8.ref
    Done for rgba8, rgb8, g1, g4, g8, g16, ga8, p4_trns, rgb16, rgba16, ga16, i_rgba16:
    all exact."""
    d = open(ref_path, "rb").read()
    w, h, c, depth = struct.unpack("<4I", d[4:20])
    ref = np.frombuffer(d[20:], "<u2" if depth == 16 else np.uint8).reshape(h, w, c)
    if depth == 16 and c > 1:  # PIL keeps only 8 bits of these: ask ImageMagick instead
        fmt = {2: "graya", 3: "rgb", 4: "rgba"}[c] if c != 2 else "rgba"
        out = subprocess.check_output(["convert", png_path, "-endian", "MSB", "-depth", "16", fmt + ":-"])
        a = np.frombuffer(out, ">u2").reshape(h, w, len(fmt))
        a = a[:, :, [0, 3]] if c == 2 else a
        who = "ImageMagick"
    else:
        im = Image.open(png_path)
        a = np.asarray(im)
        a = a[:, :, None] if a.ndim == 2 else a
        who = "PIL (%s)" % im.mode
    assert a.shape == ref.shape and (a.astype(np.int64) == ref.astype(np.int64)).all(), png_path
    print("%s decodes %s exactly as %s" % (who, png_path, ref_path))


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def rows_of(w, h, bits, interlace):
    """(row bytes) of every scanline in stream order."""
    passes = ADAM7 if interlace else ((0, 0, 1, 1),)
    out = []
    for x0, y0, dx, dy in passes:
        pw = (w - x0 + dx - 1) // dx if w > x0 else 0
        ph = (h - y0 + dy - 1) // dy if h > y0 else 0
        if pw and ph:
            out += [(pw * bits + 7) // 8] * ph
            out.append(None)  # pass boundary: the previous row resets
    return out


def refilter(src, dst, spp_bytes):
    """Re-encodes src's IDAT with filter types cycling 0..4 row by row (a Python PNG
    filter written from the spec); the pixels, and so the .ref, stay the same."""
    d = open(os.path.join(PNG_DIR, src + ".png"), "rb").read()
    chs = chunks(d)
    w, h, depth, ct, il = ihdr(os.path.join(PNG_DIR, src + ".png"))
    spp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
    bits = spp * depth
    bpp = max(1, bits // 8)
    raw = zlib.decompress(b"".join(c for t, c in chs if t == b"IDAT"))
    pos, prev, out, k = 0, None, bytearray(), 0
    for n in rows_of(w, h, bits, il):
        if n is None:
            prev = None
            continue
        ftype, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + n])
        pos += 1 + n
        up = prev if prev is not None else bytearray(n)
        for i in range(n):  # unfilter
            a = line[i - bpp] if i >= bpp else 0
            b, c = up[i], (up[i - bpp] if i >= bpp else 0)
            line[i] = (line[i] + [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]) & 255
        f = k % 5; k += 1
        res = bytearray(n)
        for i in range(n):  # filter with type f
            a = line[i - bpp] if i >= bpp else 0
            b, c = up[i], (up[i - bpp] if i >= bpp else 0)
            res[i] = (line[i] - [0, a, b, (a + b) // 2, paeth(a, b, c)][f]) & 255
        out += bytes([f]) + res
        prev = line
    new = [c for c in chs if c[0] != b"IDAT" and c[0] != b"IEND"]
    new += [(b"IDAT", zlib.compress(bytes(out), 9)), (b"IEND", b"")]
    wr(os.path.join(PNG_DIR, dst + ".png"), build(new))
    wr(os.path.join(PNG_DIR, dst + ".ref"), open(os.path.join(PNG_DIR, src + ".ref"), "rb").read())
    if depth <= 8 and not il:
        a = np.asarray(Image.open(os.path.join(PNG_DIR, src + ".png")))
        b = np.asarray(Image.open(os.path.join(PNG_DIR, dst + ".png")))
        assert (a == b).all(), dst


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def assert_filters_covered():
    seen = set()
    for f in sorted(os.listdir(PNG_DIR)):
        if not f.endswith(".png"):
            continue
        p = os.path.join(PNG_DIR, f)
        w, h, depth, ct, il = ihdr(p)
        bits = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct] * depth
        raw = zlib.decompress(b"".join(c for t, c in chunks(open(p, "rb").read()) if t == b"IDAT"))
        pos = 0
        for n in rows_of(w, h, bits, il):
            if n is not None:
                seen.add(raw[pos]); pos += 1 + n
    assert seen == {0, 1, 2, 3, 4}, seen
# ---- PNM -------------------------------------------------------------------------------
PNM_DIR = os.path.join(ROOT, "pnm")


def pnm_expected(v, maxval):
    """Documented decode: maxval <= 255 -> 8-bit, else 16-bit; other maxvals scaled to the
    full range with round-half-up: (v * full + maxval // 2) // maxval."""
    full = 255 if maxval <= 255 else 65535
    return (v * full + maxval // 2) // maxval, (8 if maxval <= 255 else 16)


def make_pnm():
    os.makedirs(PNM_DIR, exist_ok=True)
    cases = [  # name, magic, maxval, (h, w), header text between magic and raster
        ("p5_255", 5, 255, (13, 17), "\n# a comment\n{w} {h}\n# another\n{m}\n"),
        ("p6_255", 6, 255, (9, 11), " {w}\t{h} {m}\n"),
        ("p2_255", 2, 255, (5, 7), "\r\n# plain, CRLF\r\n{w}\r\n{h}\r\n{m}\r\n"),
        ("p3_255", 3, 255, (4, 6), "\n{w} {h}\n{m}\n"),
        ("p5_65535", 5, 65535, (7, 9), "\n{w} {h}\n{m}\n"),
        ("p6_65535", 6, 65535, (5, 8), "\n{w} {h}\n{m}\n"),
        ("p5_1000", 5, 1000, (6, 10), "\n{w} {h}\n{m}\n"),
        ("p6_100", 6, 100, (7, 5), "\n#c\n{w} {h}#x\n{m}\n"),
        ("p2_7", 2, 7, (8, 9), "\n{w} {h}\n{m}\n"),
        ("p3_1", 3, 1, (3, 4), "\n{w} {h}\n{m}\n"),
        ("p2_300", 2, 300, (4, 5), "\n{w} {h}\n{m}\n"),
    ]
    for name, magic, maxval, (h, w), head in cases:
        c = 3 if magic in (3, 6) else 1
        v = nrng.integers(0, maxval + 1, size=(h, w, c))
        v.flat[0], v.flat[1] = 0, maxval
        data = ("P%d" % magic + head.format(w=w, h=h, m=maxval)).encode()
        if magic in (5, 6):
            data += v.astype(">u2" if maxval > 255 else np.uint8).tobytes()
        else:  # plain: uneven whitespace, lines under 70 chars
            toks = [str(x) for x in v.flatten()]
            lines = [" ".join(toks[i:i + 9]) for i in range(0, len(toks), 9)]
            data += ("\n  ".join(lines) + "\n").encode()
        wr(os.path.join(PNM_DIR, name + (".pgm" if c == 1 else ".ppm")), data)
        e, depth = pnm_expected(v, maxval)
        write_ref(os.path.join(PNM_DIR, name + ".ref"), e, depth)
        # PIL agrees wherever it keeps the depth (gray, or maxval <= 255), except at exact
        # .5 ties, which PIL rounds to even. PIL cannot read a comment that directly follows
        # a token ("5#x"), which the Netpbm spec allows (p6_100).
        if name != "p6_100" and (c == 1 or maxval <= 255):
            im = Image.open(os.path.join(PNM_DIR, name + (".pgm" if c == 1 else ".ppm")))
            a = np.asarray(im).astype(np.int64)
            a = a[:, :, None] if a.ndim == 2 else a
            tie = (2 * v * (255 if maxval <= 255 else 65535)) % (2 * maxval) == maxval
            assert a.shape == e.shape and ((a == e) | tie).all(), name


if __name__ == "__main__":
    what = sys.argv[1:] or ["zlib", "png", "pnm"]
    if what[0] == "verify":
        verify_ours(what[1], what[2])
        sys.exit(0)
    if "zlib" in what:
        make_zlib()
    if "png" in what:
        make_png()
    if "pnm" in what:
        make_pnm()
