"""Tests of the many-machine recipes (unittest, standard library; Dask where installed).

A data set in nested folders is explained once in one process (gradcam.shards, --shard 0/1);
then in shards by the Slurm script's commands run by hand and merged by its merge step
(tools/gcmerge), and by examples/cluster/dask_explain.py on a real LocalCluster of two worker
processes. Each merged result must equal the one-process run: report.json byte for byte, the
manifest line for line apart from the timing values, every file written byte for byte. gcmerge's
refusals name the problem. Ends with "pytests: N passed, N failed, N skipped".
"""
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import gradcam  # noqa: E402
from gradcam import shards  # noqa: E402

MODEL = os.path.join(ROOT, "weights", "shapes.gcw")
TMP = tempfile.mkdtemp(prefix="gc_cluster_", dir=os.environ.get("GRADCAM_TEST_TMP"))
DATA = os.path.join(TMP, "data")
OPTS = ["--methods", "gradcam,guided_gradcam", "-k", "2", "--eval", "8"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.path.join(ROOT, "python"))
GCMERGE = [sys.executable, os.path.join(ROOT, "tools", "gcmerge")]


def make_data():
    """13 inputs: the sample images in two folders (one name in both, so the outputs must be
    kept apart by folder) and synthetic shapes written as PNG."""
    src = os.path.join(ROOT, "examples", "data")
    for sub, names in (("a", ["shape0_triangle", "shape1_ring", "shape2_star", "pair0_triangle_cross"]),
                       ("b/deep", ["shape3_disc", "shape4_cross", "shape5_square", "shape0_triangle"])):
        os.makedirs(os.path.join(DATA, sub), exist_ok=True)
        for n in names:
            shutil.copy(os.path.join(src, n + ".png"), os.path.join(DATA, sub, n + ".png"))
    os.makedirs(os.path.join(DATA, "gen"), exist_ok=True)
    for k in range(5):
        rgb, _, _ = gradcam.shapes_generate(42, k, 1, 64, 64)
        v = rgb.reshape(-1).tolist() if gradcam.HAVE_NUMPY else rgb.cast("B").cast("f").tolist()
        hw = 64 * 64
        px = bytes(int(round(v[c * hw + i] * 255)) for i in range(hw) for c in range(3))
        gradcam.Image.from_pixels(px, 64, 64, 3).save_png(os.path.join(DATA, "gen", "g%d.png" % k))


def manifest_lines(path):
    """The manifest's rows with the timing values removed; each line must be canonical JSON."""
    rows = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            assert shards.dumps(r) + "\n" == line, "not canonical: %s" % line[:80]
            r.pop("timing", None)
            rows.append(r)
    return rows


def tree(d):
    out = set()
    for base, _, files in os.walk(d):
        for f in files:
            rel = os.path.relpath(os.path.join(base, f), d)
            if not (f.startswith("manifest.shard-") or f.startswith("report.shard-")):
                out.add(rel)
    return out


class Cluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        make_data()
        cls.one = os.path.join(TMP, "one")
        r = subprocess.run([sys.executable, "-m", "gradcam.shards", MODEL, DATA, "-o", cls.one] + OPTS, env=ENV,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    def assertSameAsOneProcess(self, out):
        self.assertEqual(manifest_lines(os.path.join(out, "manifest.jsonl")),
                         manifest_lines(os.path.join(self.one, "manifest.jsonl")))
        with open(os.path.join(out, "report.json"), "rb") as a, open(os.path.join(self.one, "report.json"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(tree(out), tree(self.one))
        for rel in tree(self.one) - {"manifest.jsonl"}:  # the manifest's timing values differ
            self.assertTrue(filecmp.cmp(os.path.join(out, rel), os.path.join(self.one, rel), shallow=False), rel)

    def test_one_process_run(self):
        rows = manifest_lines(os.path.join(self.one, "manifest.jsonl"))
        self.assertEqual(rows[0]["inputs"], 13)
        self.assertEqual(rows[0]["shard"], [0, 1])
        self.assertEqual([r["index"] for r in rows[1:]], list(range(13)))
        names = [r["input"] for r in rows[1:]]
        self.assertIn("a/shape0_triangle.png", names)
        self.assertIn("b/deep/shape0_triangle.png", names)
        for r in rows[1:]:
            self.assertEqual(len(r["targets"]), 2)
            for f in r["files"]:
                self.assertTrue(os.path.isfile(os.path.join(self.one, f)), f)
        rep = json.load(open(os.path.join(self.one, "report.json")))
        self.assertEqual(rep["explained"], 13)
        self.assertEqual(sum(rep["top1_counts"].values()), 13)
        self.assertTrue(0 <= rep["mean_deletion_auc"] < rep["mean_insertion_auc"] <= 1)

    def test_slurm_array_then_merge(self):
        out = os.path.join(TMP, "slurm")
        script = os.path.join(ROOT, "examples", "cluster", "slurm.sh")
        env = dict(ENV, GC_PYTHON=sys.executable, GC_TOP_K="2", GC_EVAL="8", GC_METHODS="gradcam,guided_gradcam")
        for i in (2, 0, 1):  # the array's tasks, in any order
            r = subprocess.run(["sh", script, "explain", MODEL, out, "3", DATA], env=dict(env, SLURM_ARRAY_TASK_ID=str(i)),
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(out, "manifest.shard-1-of-3.jsonl")))
        self.assertFalse(os.path.exists(os.path.join(out, "manifest.jsonl")))
        r = subprocess.run(["sh", script, "merge", out], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("13 inputs from 3 shards", r.stdout)
        self.assertSameAsOneProcess(out)

    def test_gcmerge_refusals(self):
        out = os.path.join(TMP, "refuse")
        for i in range(2):
            subprocess.run([sys.executable, "-m", "gradcam.shards", MODEL, DATA, "-o", out, "--shard", "%d/2" % i,
                            "-k", "2"], env=ENV, check=True, capture_output=True)
        m0, m1 = (os.path.join(out, "manifest.shard-%d-of-2.jsonl" % i) for i in range(2))
        r0, r1 = (os.path.join(out, "report.shard-%d-of-2.json" % i) for i in range(2))

        def merge(*files):
            r = subprocess.run(GCMERGE + ["-o", os.path.join(out, "m")] + list(files), capture_output=True, text=True)
            return r.returncode, r.stderr

        self.assertEqual(merge(m0, m1, r0, r1)[0], 0)
        rc, err = merge(m0)
        self.assertEqual(rc, 1)
        self.assertIn("shards missing: 1/2", err)
        rc, err = merge(m0, m0)
        self.assertEqual(rc, 1)
        self.assertIn("already given", err)
        # an interrupted shard: its last line cut in the middle
        lines = open(m1).read().splitlines(True)
        cut = os.path.join(out, "cut", "manifest.shard-1-of-2.jsonl")
        os.makedirs(os.path.dirname(cut), exist_ok=True)
        with open(cut, "w") as f:
            f.write("".join(lines[:-1]) + lines[-1][:40])
        missing = json.loads(lines[-1])["index"]
        rc, err = merge(m0, cut)
        self.assertEqual(rc, 1)
        self.assertIn("incomplete", err)
        self.assertIn("index %d" % missing, err)
        # shards of another run (other options) do not mix
        other = os.path.join(TMP, "other")
        subprocess.run([sys.executable, "-m", "gradcam.shards", MODEL, DATA, "-o", other, "--shard", "1/2", "-k", "1"],
                       env=ENV, check=True, capture_output=True)
        rc, err = merge(m0, os.path.join(other, "manifest.shard-1-of-2.jsonl"))
        self.assertEqual(rc, 1)
        self.assertIn("top_k", err)
        # a report that disagrees with the manifests
        rep = json.load(open(r1))
        rep["items"][0]["probability"] = 0.5
        bad = os.path.join(out, "cut", "report.shard-1-of-2.json")
        with open(bad, "w") as f:
            f.write(shards.dumps(rep) + "\n")
        rc, err = merge(m0, m1, r0, bad)
        self.assertEqual(rc, 1)
        self.assertIn("disagree", err)

    def test_dask_local_cluster_two_workers(self):
        try:
            import distributed  # noqa: F401
        except ImportError:
            self.skipTest("distributed (Debian python3-distributed) is not installed for %s" % sys.executable)
        out = os.path.join(TMP, "dask")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "cluster", "dask_explain.py"), MODEL, DATA,
                            "-o", out, "--shards", "4", "--local-workers", "2"] + OPTS,
                           env=dict(os.environ, PYTHONPATH=""), capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("4 shards ran in 2 worker processes", r.stdout)
        self.assertIn("13 inputs from 4 shards", r.stdout)
        self.assertSameAsOneProcess(out)


if __name__ == "__main__":
    res = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    bad = len(res.failures) + len(res.errors)
    print("pytests: %d passed, %d failed, %d skipped" % (res.testsRun - bad - len(res.skipped), bad, len(res.skipped)))
    if not bad:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1 if bad else 0)
