"""Explaining a data set in shards: one shard of the inputs through the binding, with a JSON
Lines manifest appended as it goes and an evaluation report (docs/cluster.md has the formats).

    python3 -m gradcam.shards MODEL INPUT... -o OUT --shard I/N [--methods M] [--top-k K] [--eval]

Inputs are files and folders (searched recursively for .png .jpg .jpeg .ppm .pgm); their
order, the index of each and the shard of each (index mod N) depend only on the arguments, so
every machine computes the same split. A shard writes OUT/manifest.shard-I-of-N.jsonl and
OUT/report.shard-I-of-N.json; with --shard 0/1 (one machine) OUT/manifest.jsonl and
OUT/report.json. tools/gcmerge joins shards into exactly the one-machine files.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import gradcam

EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".pgm")
MANIFEST_VERSION = 1


def list_inputs(args):
    """[(relative name, path)] in the documented order: arguments in order, a folder's files
    sorted by their path relative to the folder (bytewise). Names are relative to the folder
    given (a file given alone: its base name); two inputs with one name are an error."""
    out, seen = [], {}
    for a in args:
        if os.path.isdir(a):
            found = []
            for d, dirs, files in os.walk(a):
                dirs.sort()
                for f in files:
                    if f.lower().endswith(EXTENSIONS):
                        p = os.path.join(d, f)
                        found.append((os.path.relpath(p, a).replace(os.sep, "/"), p))
            found.sort(key=lambda t: t[0].encode("utf-8", "surrogateescape"))
            out.extend(found)
        elif os.path.isfile(a):
            out.append((os.path.basename(a), a))
        else:
            raise SystemExit("gcshards: %s: no such file or folder" % a)
    for rel, p in out:
        if rel in seen:
            raise SystemExit("gcshards: %s and %s would both be written as %s" % (seen[rel], p, rel))
        seen[rel] = p
    return out


def shard_of(index, n):
    return index % n


def parse_shard(s):
    try:
        i, n = (int(v) for v in s.split("/"))
    except ValueError:
        raise SystemExit("gcshards: --shard I/N expected (0 <= I < N), got %r" % s)
    if not (n >= 1 and 0 <= i < n):
        raise SystemExit("gcshards: --shard I/N expected (0 <= I < N), got %r" % s)
    return i, n


def shard_names(i, n):
    if n == 1:
        return "manifest.jsonl", "report.json"
    return "manifest.shard-%d-of-%d.jsonl" % (i, n), "report.shard-%d-of-%d.json" % (i, n)


def dumps(obj):
    """The one JSON form of every line and report (tools/gcmerge writes the same)."""
    return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(", ", ": "))


def _flat(x):
    if gradcam.HAVE_NUMPY:
        return x.reshape(-1).tolist()
    return x.cast("B").cast(x.format).tolist()


def save_npy(path, arr):
    """float32 .npy (format 1.0), standard library only."""
    shape = tuple(int(d) for d in arr.shape)
    vals = _flat(arr)
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        "".join("%d, " % d for d in shape) if len(shape) != 1 else "%d," % shape[0])
    header = header.replace(", )", ")")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%df" % len(vals), *vals))


def _write_atomic(path, write):
    tmp = path + ".part"
    write(tmp)
    os.replace(tmp, path)


def header(model_path, methods, top_k, eval_steps, total, shard):
    return {"manifest": "libgradcam", "version": MANIFEST_VERSION, "model": model_path, "methods": methods,
            "top_k": top_k, "eval_steps": eval_steps, "inputs": total, "shard": list(shard)}


def explain_one(model, rel, path, out, methods, top_k, eval_steps, session):
    """One input: its files in out, and its manifest record (without index and timing)."""
    t0 = time.perf_counter()
    img = gradcam.load_image(path)
    t1 = time.perf_counter()
    e = model.explain(img, methods=methods, top_k=top_k)
    t2 = time.perf_counter()
    stem = rel.rsplit(".", 1)[0]
    files = []
    infos = {m.name: m for m in gradcam.methods()}
    wanted = [m for m in methods.split(",")]
    os.makedirs(os.path.dirname(os.path.join(out, stem)) or out, exist_ok=True)
    for t in e.targets:
        name = "%s_c%d_figure.png" % (stem, t.class_index)
        _write_atomic(os.path.join(out, name), lambda p: e.figure(e.targets.index(t)).save_png(p))
        files.append(name)
        for m in wanted:
            mp = infos[m].map
            if mp in t.maps:
                name = "%s_c%d_%s.npy" % (stem, t.class_index, mp)
                _write_atomic(os.path.join(out, name), lambda p: save_npy(p, t.maps[mp]))
                files.append(name)
    t3 = time.perf_counter()
    logits, probs = _flat(e.logits), _flat(e.probabilities)  # this run's, the library's softmax
    order = sorted(range(len(logits)), key=lambda c: (-logits[c], c))[:max(5, top_k)]
    preds = [{"class": c, "label": model.label(c), "logit": logits[c], "probability": probs[c]} for c in order]
    rec = {"input": rel, "layer": e.layer, "predictions": preds,
           "targets": [t.class_index for t in e.targets], "files": files}
    if eval_steps:
        # deletion/insertion of the first layer method's map for the best target
        layer_maps = [infos[m].map for m in wanted if not infos[m].input_level]
        if layer_maps:
            x, _ = model.preprocess(img)
            smap = e.targets[0].maps[layer_maps[0]]
            _, dauc = session.curve("deletion", x, smap, e.targets[0].class_index, eval_steps)
            _, iauc = session.curve("insertion", x, smap, e.targets[0].class_index, eval_steps)
            rec["eval"] = {"map": layer_maps[0], "deletion_auc": dauc, "insertion_auc": iauc}
    t4 = time.perf_counter()
    rec["timing"] = {"decode_s": round(t1 - t0, 6), "explain_s": round(t2 - t1, 6), "write_s": round(t3 - t2, 6),
                     "eval_s": round(t4 - t3, 6), "total_s": round(t4 - t0, 6)}
    return rec


def summarise(hdr, records):
    """The evaluation report of a set of manifest records (all of a data set, or one shard's):
    per-input items in index order and means by math.fsum (exactly rounded, so the order of
    summation, hence the split into shards, cannot change a bit)."""
    items, top1, failed = [], {}, 0
    for r in sorted(records, key=lambda r: r["index"]):
        if "error" in r:
            failed += 1
            continue
        p = r["predictions"][0]
        top1[p["label"]] = top1.get(p["label"], 0) + 1
        it = {"index": r["index"], "input": r["input"], "top1": p["class"], "label": p["label"],
              "probability": p["probability"]}
        if "eval" in r:
            it.update({"deletion_auc": r["eval"]["deletion_auc"], "insertion_auc": r["eval"]["insertion_auc"]})
        items.append(it)
    rep = {"report": "libgradcam-eval", "version": MANIFEST_VERSION, "model": hdr["model"], "methods": hdr["methods"],
           "inputs": hdr["inputs"], "shard": hdr["shard"], "explained": len(items), "failed": failed,
           "top1_counts": {k: top1[k] for k in sorted(top1)}}
    ev = [i for i in items if "deletion_auc" in i]
    if ev:
        rep["eval_inputs"] = len(ev)
        rep["mean_deletion_auc"] = math.fsum(i["deletion_auc"] for i in ev) / len(ev)
        rep["mean_insertion_auc"] = math.fsum(i["insertion_auc"] for i in ev) / len(ev)
    rep["items"] = items
    return rep


def run_shard(model_path, inputs, out, shard, methods="gradcam,guided_gradcam", top_k=1, eval_steps=0):
    """Explains the inputs of shard (i, n) of the list `inputs` ([(name, path)], list_inputs'
    order): writes each input's files, appends its manifest line (flushed), and at the end
    writes the shard's report. Returns (manifest path, report path)."""
    i, n = shard
    methods = ",".join(m.name for m in gradcam.methods() if m.bit & gradcam.method_bits(methods)) \
        if methods != "all" else ",".join(m.name for m in gradcam.methods())
    os.makedirs(out, exist_ok=True)
    mname, rname = shard_names(i, n)
    model = gradcam.Model(model_path)
    session = model.session(batch=1) if eval_steps else None
    hdr = header(model_path, methods, top_k, eval_steps, len(inputs), (i, n))
    records = []
    with open(os.path.join(out, mname), "w") as mf:
        mf.write(dumps(hdr) + "\n")
        for k, (rel, path) in enumerate(inputs):
            if shard_of(k, n) != i:
                continue
            try:
                rec = explain_one(model, rel, path, out, methods, top_k, eval_steps, session)
            except gradcam.GradcamError as e:
                rec = {"input": rel, "error": str(e)}
            rec = dict([("index", k)] + list(rec.items()))
            records.append(rec)
            mf.write(dumps(rec) + "\n")
            mf.flush()
    rep = summarise(hdr, records)
    _write_atomic(os.path.join(out, rname), lambda p: open(p, "w").write(dumps(rep) + "\n"))
    model.close()
    return os.path.join(out, mname), os.path.join(out, rname)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m gradcam.shards", description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--shard", default="0/1", help="I/N: this process takes inputs whose index mod N is I")
    ap.add_argument("--methods", default="gradcam,guided_gradcam")
    ap.add_argument("-k", "--top-k", type=int, default=1)
    ap.add_argument("--eval", type=int, default=0, metavar="STEPS",
                    help="deletion/insertion curves of STEPS steps for each input's best target")
    a = ap.parse_args(argv)
    try:
        m, r = run_shard(a.model, list_inputs(a.inputs), a.out, parse_shard(a.shard), a.methods, a.top_k, a.eval)
    except gradcam.GradcamError as e:
        print("gcshards: %s" % e, file=sys.stderr)
        return 1
    print("gcshards: wrote %s and %s" % (m, r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
