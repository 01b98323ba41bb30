"""Tests of the Python binding (unittest, standard library only; NumPy used when present).

Run from the repository root: PYTHONPATH=python python3 python/tests/test_binding.py
(tests/test_python.c runs it from make test, with and without NumPy). Ends with the line
"pytests: N passed, N failed, N skipped". GRADCAM_LAYOUT names the C compiler's struct layout
(written by tests/test_python.c); GRADCAM_TEST_TMP a scratch folder.
"""
import array
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import gradcam  # noqa: E402
from gradcam import _ffi  # noqa: E402

MODEL = os.path.join(ROOT, "weights", "shapes.gcw")
DATA = os.path.join(ROOT, "examples", "data")
SHAPES = ["shape0_triangle", "shape1_ring", "shape2_star", "shape3_disc", "shape4_cross", "shape5_square"]
TMP = os.environ.get("GRADCAM_TEST_TMP") or tempfile.mkdtemp(prefix="gc_pytest_")


def flat(x):
    """Every value of an array the binding returned, as a list of Python floats."""
    if gradcam.HAVE_NUMPY:
        return [float(v) for v in x.reshape(-1)]
    return [float(v) for v in x.cast("B").cast(x.format)]


def read_npy(path):
    """A little-endian float32 .npy file (version 1.0) as (shape, values)."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:6] == b"\x93NUMPY"
    hl = struct.unpack("<H", b[8:10])[0]
    header = b[10:10 + hl].decode("latin1")
    assert "'<f4'" in header
    shape = tuple(int(v) for v in header.split("(")[1].split(")")[0].split(",") if v.strip())
    data = array.array("f", b[10 + hl:])
    assert sys.byteorder == "little"
    return shape, list(data)


class Layout(unittest.TestCase):
    def test_structs_match_the_c_compiler(self):
        path = os.environ.get("GRADCAM_LAYOUT")
        if not path:
            self.skipTest("GRADCAM_LAYOUT not set (tests/test_python.c writes it)")
        with open(path) as f:
            c = json.load(f)
        self.assertEqual(set(c), set(_ffi.STRUCTS))
        import ctypes
        for name, st in _ffi.STRUCTS.items():
            self.assertEqual(ctypes.sizeof(st), c[name]["size"], name)
            py = [(f, getattr(st, f).offset) for f, _ in st._fields_]
            self.assertEqual(py, [tuple(v) for v in c[name]["fields"]], name)


class Basics(unittest.TestCase):
    def test_version_is_the_headers(self):
        with open(os.path.join(ROOT, "include", "gradcam.h")) as f:
            h = f.read()
        want = h.split('#define GC_VERSION_STRING "')[1].split('"')[0]
        self.assertEqual(gradcam.version(), want)

    def test_numpy_or_buffers(self):
        m = gradcam.Model(MODEL)
        x, _ = m.preprocess(os.path.join(DATA, "shape1_ring.png"))
        if gradcam.HAVE_NUMPY:
            import numpy
            self.assertIsInstance(x, numpy.ndarray)
            self.assertEqual(x.dtype, numpy.float32)
        else:
            self.assertIsInstance(x, memoryview)
            self.assertEqual(x.format, "f")
        self.assertEqual(tuple(x.shape), (1, 3) + m.input_size)
        s = m.session()
        a = flat(s.forward(x))
        b = flat(s.forward(x.tolist()))                     # nested lists
        c = flat(s.forward(array.array("f", flat(x))))      # a buffer
        self.assertEqual(a, b)
        self.assertEqual(a, c)

    def test_methods_table(self):
        ms = gradcam.methods()
        names = [m.name for m in ms]
        for n in ("gradcam", "counterfactual", "guided_backprop", "guided_gradcam", "scorecam", "saliency"):
            self.assertIn(n, names)
        allbits = 0
        for m in ms:
            allbits |= m.bit
        self.assertEqual(gradcam.method_bits("all"), allbits)
        self.assertEqual(gradcam.method_bits(["gradcam", "cam"]), gradcam.method_bits("gradcam,cam"))


class Models(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = gradcam.Model(MODEL)

    def test_model_facts(self):
        m = self.m
        self.assertEqual(m.labels, ["disc", "square", "triangle", "cross", "ring", "star"])
        self.assertIn(m.default_layer, m.layers)
        with open(MODEL, "rb") as f:
            m2 = gradcam.Model.from_bytes(f.read())
        self.assertEqual(m2.layers, m.layers)

    def test_classify_the_sample_images(self):
        for stem in SHAPES:
            p = self.m.classify(os.path.join(DATA, stem + ".png"), top=3)
            self.assertEqual(len(p), 3)
            self.assertEqual(p[0].label, stem.split("_")[1], stem)
            self.assertGreaterEqual(p[0].probability, p[1].probability)
            self.assertAlmostEqual(sum(q.probability for q in self.m.classify(
                os.path.join(DATA, stem + ".png"), top=6)), 1.0, places=6)

    def test_maps_equal_the_c_program(self):
        """examples/gradcam (C) and the binding run the same library: the same bits."""
        out = os.path.join(TMP, "cprog")
        exe = os.path.join(ROOT, "examples", "gradcam")
        if not os.access(exe, os.X_OK):
            self.skipTest("examples/gradcam not built")
        img = os.path.join(DATA, "shape1_ring.png")
        subprocess.run([exe, MODEL, img, "--counterfactual", "-o", out], check=True, capture_output=True)
        e = self.m.explain(img, methods="guided_gradcam,counterfactual")
        t = e[0]
        self.assertEqual((t.class_index, t.label), (4, "ring"))
        for ours, theirs in [("gradcam", "gradcam"), ("gradcam_up", "gradcam_up"), ("guided_backprop", "guided"),
                             ("guided_gradcam", "guided_gradcam"), ("counterfactual", "counterfactual")]:
            shape, vals = read_npy(os.path.join(out, "shape1_ring_c4_%s.npy" % theirs))
            self.assertEqual(tuple(t.maps[ours].shape), shape, ours)
            self.assertEqual(flat(t.maps[ours]), vals, ours)
        # and the same figure, pixel for pixel
        fig = e.figure()
        ref = gradcam.load_image(os.path.join(out, "shape1_ring_c4_figure.png"))
        self.assertEqual((fig.width, fig.height), (ref.width, ref.height))
        self.assertEqual(bytes(fig.pixels()), bytes(ref.pixels()))

    def test_methods_figure_equals_the_c_program(self):
        """examples/gradcam --method (gc_render_methods) and Explanation.methods_figure."""
        out = os.path.join(TMP, "cprog_methods")
        exe = os.path.join(ROOT, "examples", "gradcam")
        img = os.path.join(DATA, "shape4_cross.png")
        r = subprocess.run([exe, MODEL, img, "--method", "gradcam,scorecam,saliency", "-o", out], capture_output=True)
        if r.returncode != 0 and b"--method" in r.stderr:
            self.skipTest("examples/gradcam has no --method")
        self.assertEqual(r.returncode, 0, r.stderr)
        e = self.m.explain(img, methods="gradcam,scorecam,saliency")
        # the program's panels are in table order, as methods_figure's default
        order = [m.name for m in gradcam.methods() if m.name in ("gradcam", "scorecam", "saliency")]
        fig = e.methods_figure()
        self.assertEqual(bytes(fig.pixels()), bytes(e.methods_figure(methods=order).pixels()))
        ref = gradcam.load_image(os.path.join(out, "shape4_cross_c3_figure.png"))
        self.assertEqual((fig.width, fig.height), (ref.width, ref.height))
        self.assertEqual(bytes(fig.pixels()), bytes(ref.pixels()))
        for name in ("scorecam_up", "saliency"):
            shape, vals = read_npy(os.path.join(out, "shape4_cross_c3_%s.npy" % name))
            self.assertEqual(flat(e[0].maps[name]), vals, name)
        with self.assertRaises(gradcam.GradcamError) as cm:
            e.methods_figure(methods=["gradcam", "nosuch"])
        self.assertIn("nosuch", str(cm.exception))

    def test_sanity_cascade(self):
        img = os.path.join(DATA, "shape4_cross.png")
        r = self.m.sanity(img, methods="gradcam,saliency", seed=3)
        self.assertEqual(r.methods, ["gradcam", "saliency"])
        self.assertEqual(r.class_index, 3)
        self.assertIsNone(r.layers[0])
        convs = [n for n in self.m.layers if self.m.layer_kind(n) in ("conv2d", "linear")]
        self.assertEqual(sorted(r.layers[1:]), sorted(convs))  # every such layer, once
        self.assertEqual(r.spearman[0], [1.0, 1.0])
        self.assertEqual(tuple(r.maps.shape), (len(r.layers), 2, 64, 64))
        # step 0's maps are the trained model's: SSIM with the explain call's map is 1
        m0 = flat(r.maps)[:64 * 64]
        e = self.m.explain(img, methods="gradcam")
        self.assertAlmostEqual(gradcam.ssim(m0, e[0].maps["gradcam_up"], shape=(64, 64)), 1.0, places=12)
        self.assertLess(min(row[0] for row in r.spearman[1:]), 0.9)  # randomised weights change the map

    def test_every_method(self):
        img = os.path.join(DATA, "shape2_star.png")
        h, w = self.m.input_size
        params = {"batch": 8, "ig_steps": 4, "noise_samples": 2}
        for info in gradcam.methods():
            e = self.m.explain(img, methods=info.name, params=params)
            t = e[0]
            self.assertIn(info.map, t.maps, info.name)
            shape = tuple(t.maps[info.map].shape)  # input methods: (3, H, W), occlusion (H, W)
            self.assertEqual(shape[-2:], (h, w), info.name)
            self.assertEqual(len(shape), 3 if info.input_level and info.name != "occlusion" else 2, info.name)
            v = flat(t.maps[info.map])
            self.assertTrue(all(math.isfinite(x) for x in v), info.name)
            self.assertTrue(any(x != 0 for x in v), info.name)

    def test_targets(self):
        img = os.path.join(DATA, "pair0_triangle_cross.png")
        top = self.m.explain(img, top_k=2)
        self.assertEqual(len(top), 2)
        self.assertEqual(sorted(t.label for t in top), ["cross", "triangle"])
        listed = self.m.explain(img, target=[top[1].class_index, top[0].class_index])
        self.assertEqual([t.class_index for t in listed], [top[1].class_index, top[0].class_index])
        self.assertEqual(flat(listed[1].maps["gradcam"]), flat(top[0].maps["gradcam"]))
        one = self.m.explain(img, target=top[1].class_index)
        self.assertEqual(flat(one[0].maps["gradcam"]), flat(top[1].maps["gradcam"]))
        # a gradient over the outputs: one-hot on the class gives the class's map
        g = [0.0] * 6
        g[top[0].class_index] = 1.0
        grad = self.m.explain(img, output_grad=g)
        self.assertEqual(grad[0].class_index, -1)
        self.assertEqual(flat(grad[0].maps["gradcam"]), flat(top[0].maps["gradcam"]))
        # another layer
        other = [n for n in self.m.layers if n != self.m.default_layer and self.m.layer_kind(n) == "relu"][0]
        e = self.m.explain(img, layer=other)
        self.assertEqual(e.layer, other)

    def test_explain_batch_equals_single_calls(self):
        names = SHAPES[:3]
        xs = []
        for name in names:
            x, _ = self.m.preprocess(os.path.join(DATA, name + ".png"))
            xs += flat(x)
        h, w = self.m.input_size
        one, four = self.m.session(), self.m.session(batch=4)
        got = four.explain_batch(xs, n=3, methods="gradcam,guided_gradcam", top_k=2)
        self.assertEqual(len(got), 3)
        for i, e in enumerate(got):
            ref = one.explain(xs[i * 3 * h * w:(i + 1) * 3 * h * w], methods="gradcam,guided_gradcam", top_k=2)
            self.assertEqual([t.class_index for t in e], [t.class_index for t in ref])
            for t, r in zip(e, ref):
                self.assertEqual(sorted(t.maps), sorted(r.maps))
                for k in r.maps:
                    self.assertEqual(flat(t.maps[k]), flat(r.maps[k]), k)
        with self.assertRaises(gradcam.GradcamError) as cm:
            four.explain_batch(xs, n=5)
        self.assertIn("n = 5", cm.exception.message)
        with self.assertRaises(gradcam.GradcamError) as cm:
            four.explain_batch(xs, n=2)
        self.assertIn("values expected", cm.exception.message)

    def test_floored_and_forward_only_sessions(self):
        """A session floored at the Grad-CAM layer gives the full session's Grad-CAM maps and
        refuses guided backprop; a forward-only session classifies alike and explains nothing."""
        x, _ = self.m.preprocess(os.path.join(DATA, SHAPES[0] + ".png"))
        xs = flat(x)
        full = self.m.session()
        floor = self.m.session(backward_floor=self.m.default_layer)
        fwd = self.m.session(forward_only=True)
        a, b = full.explain(xs, methods="gradcam", top_k=2), floor.explain(xs, methods="gradcam", top_k=2)
        for t, r in zip(a, b):
            self.assertEqual(t.class_index, r.class_index)
            for k in r.maps:
                self.assertEqual(flat(t.maps[k]), flat(r.maps[k]), k)
        self.assertEqual(flat(fwd.forward(xs)), flat(full.forward(xs)))
        with self.assertRaises(gradcam.GradcamError) as cm:
            floor.explain(xs, methods="guided_backprop")
        self.assertIn("backward_floor", cm.exception.message)
        with self.assertRaises(gradcam.GradcamError) as cm:
            fwd.explain(xs, methods="gradcam")
        self.assertIn("forward only", cm.exception.message)
        with self.assertRaises(gradcam.GradcamError):
            self.m.session(backward_floor="no_such_layer")


class Errors(unittest.TestCase):
    """Deliberate bad calls raise GradcamError naming the problem."""

    def test_missing_model_file(self):
        with self.assertRaises(gradcam.GradcamError) as cm:
            gradcam.Model("/nonexistent/model.gcw")
        self.assertEqual(cm.exception.status, "GC_ERR_IO")
        self.assertIn("/nonexistent/model.gcw", str(cm.exception))

    def test_class_out_of_range(self):
        m = gradcam.Model(MODEL)
        with self.assertRaises(gradcam.GradcamError) as cm:
            m.explain(os.path.join(DATA, "shape1_ring.png"), target=99)
        self.assertEqual(cm.exception.status, "GC_ERR_INVALID_ARGUMENT")
        self.assertIn("99", cm.exception.message)

    def test_unknown_method_and_layer(self):
        with self.assertRaises(gradcam.GradcamError) as cm:
            gradcam.method_bits("gradcam,nosuchmethod")
        self.assertIn("nosuchmethod", str(cm.exception))
        m = gradcam.Model(MODEL)
        with self.assertRaises(gradcam.GradcamError) as cm:
            m.explain(os.path.join(DATA, "shape1_ring.png"), layer="features.99")
        self.assertEqual(cm.exception.status, "GC_ERR_NOT_FOUND")
        self.assertIn("features.99", str(cm.exception))

    def test_bad_arrays_and_images(self):
        m = gradcam.Model(MODEL)
        s = m.session()
        with self.assertRaises(gradcam.GradcamError) as cm:
            s.forward([1.0, 2.0, 3.0])
        self.assertIn("3", str(cm.exception))
        with self.assertRaises(gradcam.GradcamError) as cm:
            s.forward([float("nan")] * (3 * 64 * 64))
        self.assertEqual(cm.exception.status, "GC_ERR_NUMERIC")
        with self.assertRaises(gradcam.GradcamError) as cm:
            gradcam.decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
        self.assertEqual(cm.exception.status, "GC_ERR_FORMAT")
        self.assertTrue(cm.exception.message)


    def test_closed_model(self):
        m = gradcam.Model(MODEL)
        s = m.session()
        x = [0.0] * (3 * 64 * 64)
        s.forward(x)
        m.close()
        with self.assertRaises(gradcam.GradcamError) as cm:
            s.forward(x)
        self.assertEqual(cm.exception.status, "GC_ERR_STATE")
        self.assertIn("closed", str(cm.exception))


class Images(unittest.TestCase):
    def test_decode_encode_roundtrip(self):
        path = os.path.join(DATA, "shape3_disc.png")
        a = gradcam.load_image(path)
        with open(path, "rb") as f:
            b = gradcam.decode_image(f.read())
        self.assertEqual((a.width, a.height, a.channels, a.bit_depth), (b.width, b.height, b.channels, b.bit_depth))
        self.assertEqual(bytes(a.pixels()), bytes(b.pixels()))
        c = gradcam.decode_image(a.encode_png())
        self.assertEqual(bytes(c.pixels()), bytes(a.pixels()))
        px = a.pixels()
        self.assertEqual(tuple(px.shape), (a.height, a.width, a.channels))
        d = gradcam.Image.from_pixels(px if gradcam.HAVE_NUMPY else bytes(px), a.width, a.height, a.channels)
        self.assertEqual(bytes(d.pixels()), bytes(px))
        r = a.resize(16, 8)
        self.assertEqual((r.width, r.height), (16, 8))
        out = os.path.join(TMP, "rt.png")
        a.save_png(out)
        self.assertEqual(bytes(gradcam.load_image(out).pixels()), bytes(px))

    def test_overlay_and_gradient_images(self):
        m = gradcam.Model(MODEL)
        e = m.explain(os.path.join(DATA, "shape4_cross.png"), methods="guided_gradcam,scorecam")
        ov = e.overlay(name="scorecam_up")
        self.assertEqual((ov.width, ov.height), (e.image.width, e.image.height))
        g = gradcam.render_gradient(e[0].maps["guided_backprop"])
        self.assertEqual((g.width, g.height, g.channels), (64, 64, 3))
        path = e.save_figure(os.path.join(TMP, "cross.png"))
        self.assertGreater(gradcam.load_image(path).width, 3 * 64)


class Evaluation(unittest.TestCase):
    def test_boxes_and_maps(self):
        self.assertAlmostEqual(gradcam.box_iou((0, 0, 9, 9), (5, 5, 14, 14)), 25 / 175)
        h, w = 20, 30
        mp = [[0.0] * w for _ in range(h)]
        for y in range(4, 9):
            for x in range(10, 17):
                mp[y][x] = 1.0
        b = gradcam.localize(mp)
        self.assertEqual(tuple(b)[:4], (10, 4, 16, 8))
        self.assertEqual(b.area, 35)
        iou, ok = gradcam.eval_localization(mp, [(10, 4, 16, 8)])
        self.assertEqual((iou, ok), (1.0, True))
        self.assertTrue(gradcam.eval_pointing(mp, (10, 4, 16, 8)))
        self.assertFalse(gradcam.eval_pointing(mp, (25, 15, 29, 19), tol=1))
        c = gradcam.center_map(9, 9, 0.25)
        v = flat(c)
        self.assertEqual(v.index(max(v)), 40)
        r1, r2 = flat(gradcam.random_map(5, 5, 7)), flat(gradcam.random_map(5, 5, 7))
        self.assertEqual(r1, r2)
        self.assertTrue(all(0 <= x < 1 for x in r1))
        self.assertAlmostEqual(gradcam.spearman(r1, r1), 1.0)
        self.assertAlmostEqual(gradcam.spearman(r1, [-x for x in r1]), -1.0)

    def test_occlusion_and_curves(self):
        m = gradcam.Model(MODEL)
        x, _ = m.preprocess(os.path.join(DATA, "shape5_square.png"))
        s = m.session(batch=4)
        e = m.explain(os.path.join(DATA, "shape5_square.png"))
        cls = e[0].class_index
        occ = s.occlusion(flat(x), cls, patch=8, stride=4)
        self.assertEqual(tuple(occ.shape), (64, 64))
        rho = gradcam.spearman(occ, e[0].maps["gradcam_up"])
        self.assertTrue(-1 <= rho <= 1)
        curve, auc = s.curve("deletion", x, e[0].maps["gradcam_up"], cls, 8)
        self.assertEqual(len(flat(curve)), 9)
        self.assertTrue(0 <= auc <= 1)
        ins, iauc = s.curve("insertion", x, e[0].maps["gradcam_up"], cls, 8)
        self.assertGreater(iauc, auc)  # a faithful map: insertion beats deletion
        with self.assertRaises(gradcam.GradcamError):
            s.curve("sideways", x, e[0].maps["gradcam_up"], cls, 8)

    def test_shapes_dataset(self):
        rgb, mask, info = gradcam.shapes_generate(3, 11, 2, 64, 64)
        self.assertEqual(tuple(rgb.shape), (3, 64, 64))
        self.assertEqual(len(info["labels"]), 2)
        self.assertEqual(len(info["boxes"]), 2)
        self.assertIn(1, set(flat(mask)) if gradcam.HAVE_NUMPY else set(mask.cast("B").tolist()))


if __name__ == "__main__":
    r = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    bad = len(r.failures) + len(r.errors)
    print("pytests: %d passed, %d failed, %d skipped" % (r.testsRun - bad - len(r.skipped), bad, len(r.skipped)))
    sys.exit(1 if bad else 0)
