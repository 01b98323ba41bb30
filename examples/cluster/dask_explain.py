#!/usr/bin/env python3
"""Explain a data set on a Dask cluster: one task per shard, each running the Python binding on
its 1/N of the inputs (gradcam.shards), then tools/gcmerge joins the shards' manifests and
reports into what one machine would have written (docs/cluster.md).

    # a cluster you already run (dask scheduler + dask worker on each machine):
    python3 examples/cluster/dask_explain.py MODEL DATA... -o OUT --shards 16 --scheduler tcp://host:8786
    # this machine only, K worker processes:
    python3 examples/cluster/dask_explain.py MODEL DATA... -o OUT --shards 4 --local-workers 2

OUT must be a folder every worker can write (a shared file system); the workers need the
gradcam package (pip install ./python, or PYTHONPATH=python in their environment) and the
library. Inputs, their order and their shards are computed once, here, and sent to the tasks.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
if os.path.isdir(os.path.join(ROOT, "python", "gradcam")):
    sys.path.insert(0, os.path.join(ROOT, "python"))  # the build tree's binding

from gradcam import shards  # noqa: E402


def explain_shard(model, inputs, out, i, n, methods, top_k, eval_steps):
    """One Dask task: shard i of n: (manifest, report, worker process id)."""
    from gradcam import shards as s
    return s.run_shard(model, inputs, out, (i, n), methods, top_k, eval_steps) + (os.getpid(),)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("inputs", nargs="+", help="image files and folders (recursive)")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--shards", type=int, default=0, help="number of shards (default: 2 per worker)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler")
    ap.add_argument("--local-workers", type=int, default=2, help="without --scheduler: a LocalCluster of K processes")
    ap.add_argument("--threads", type=int, default=1, help="threads of each local worker's sessions (OMP_NUM_THREADS; default 1)")
    ap.add_argument("--methods", default="gradcam,guided_gradcam")
    ap.add_argument("-k", "--top-k", type=int, default=1)
    ap.add_argument("--eval", type=int, default=0, metavar="STEPS", help="deletion/insertion curves of STEPS steps")
    a = ap.parse_args(argv)

    from distributed import Client, LocalCluster

    inputs = shards.list_inputs(a.inputs)
    model = os.path.abspath(a.model)
    out = os.path.abspath(a.out)
    cluster = None
    if a.scheduler:
        client = Client(a.scheduler)
    else:
        # worker processes inherit this environment: the binding's path and one library thread
        # each (K processes x 1 thread: the cores are shared out by processes, not by threads;
        # OMP_NUM_THREADS is what gc_default_threads reads)
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
        os.environ["PYTHONPATH"] = os.pathsep.join([p for p in [os.path.join(ROOT, "python"),
                                                               os.environ.get("PYTHONPATH")] if p])
        cluster = LocalCluster(n_workers=a.local_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        n = a.shards or 2 * max(1, len(client.scheduler_info()["workers"]))
        futures = client.map(explain_shard, [model] * n, [inputs] * n, [out] * n, range(n), [n] * n,
                             [a.methods] * n, [a.top_k] * n, [a.eval] * n, pure=False)
        results = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    files = [p for r in results for p in r[:2]]
    print("dask_explain: %d shards ran in %d worker processes" % (n, len({r[2] for r in results})))
    if n == 1:
        print("dask_explain: %d inputs in 1 shard -> %s" % (len(inputs), out))
        return 0
    rc = subprocess.call([sys.executable, os.path.join(ROOT, "tools", "gcmerge"), "-o", out] + files)
    if rc == 0:
        print("dask_explain: %d inputs in %d shards -> %s" % (len(inputs), n, os.path.join(out, "manifest.jsonl")))
    return rc


if __name__ == "__main__":
    sys.exit(main())
