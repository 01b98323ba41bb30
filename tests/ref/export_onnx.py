#!/usr/bin/python3
"""export_onnx.py - torchvision models with random weights (non-trivial batch-norm statistics,
as bench_torch.py builds them) exported with torch.onnx.export, for timing ONNX Runtime next to
gcbench (tests/ref/bench_ort.js). Development only; the .onnx files are not committed.
Usage: /usr/bin/python3 tests/ref/export_onnx.py OUTDIR [--model NAME]... [--opset 13] [--size 224]
"""
import argparse
import os

import torch

from bench_torch import build


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--model", action="append")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for name in a.model or ["resnet50"]:
        torch.manual_seed(0)
        m = build(name)
        x = torch.randn(1, 3, a.size, a.size)
        path = os.path.join(a.outdir, "%s_op%d.onnx" % (name, a.opset))
        torch.onnx.export(m, x, path, opset_version=a.opset, input_names=["input"], output_names=["logits"])
        print("wrote", path)


if __name__ == "__main__":
    main()
