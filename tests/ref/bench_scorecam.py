#!/usr/bin/python3
"""bench_scorecam.py - Score-CAM's speed, ours against a batched PyTorch Score-CAM, measured
in alternation in the same run (the issue's criterion: ours <= 0.5x PyTorch's time with
all 512 channels of VGG-16's last convolutional layer, PyTorch batch 32, 2 threads).
Development time only: /usr/bin/python3 with torch + torchvision, a built tree (`make`).

  /usr/bin/python3 tests/ref/bench_scorecam.py [--rounds 3] [--threads 2] [--batch 32]

Random-init torchvision VGG-16 (seed 0) converted to .gcw, one N(0,1) 224x224 input (seed 7),
the top class, target features.29 (relu5_3, 512 x 14 x 14). Each round runs, in turn:
  ours    tests/ref/methods_maps.c: gc_explain(GC_METHOD_SCORECAM), params.batch = --batch;
          the time of the gc_explain call (forward, 512 masks, batched forwards, map)
  torch   the same definition in PyTorch float32 (torch.set_num_threads(--threads),
          no_grad): one forward with a hook for A, the masks of every non-constant
          channel, forwards in batches of --batch, softmax, the map; the time of that
Both skip constant channels (mask undefined), as the authors' code does. Prints the CPU and
every round with its ratio, the 1-minute load average before it and both CPU times (ours:
the whole methods_maps process, loading included; threads' spinning counts in both), the medians, the ratio of
the medians and the median of the rounds' ratios (the steadier figure on a shared machine:
each round's two runs are neighbours in time), and the largest difference of the two maps
(relative to the map's maximum). OMP_NUM_THREADS is set to --threads for ours.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')


def torch_scorecam(model, x, c, batch):
    c0 = time.process_time()
    t0 = time.perf_counter()
    with torch.no_grad():
        box = {}
        h = model.features[29].register_forward_hook(lambda m, i, o: box.__setitem__('A', o))
        model(x)
        h.remove()
        A = box['A']
        up = F.interpolate(A.transpose(0, 1), size=x.shape[2:], mode='bilinear', align_corners=False)
        lo = up.amin((1, 2, 3), keepdim=True)
        hi = up.amax((1, 2, 3), keepdim=True)
        idx = torch.nonzero((hi > lo).flatten()).flatten()
        masks = (up - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        w = torch.zeros(A.shape[1])
        for i in range(0, len(idx), batch):
            ks = idx[i:i + batch]
            w[ks] = torch.softmax(model(x * masks[ks]), dim=1)[:, c]
        cam = (w[:, None, None] * A[0]).sum(0).clamp(min=0)
    return time.perf_counter() - t0, time.process_time() - c0, cam.numpy(), len(idx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tool = os.path.join(tmp, 'methods_maps')
        subprocess.run(['cc', '-O2', '-I' + os.path.join(ROOT, 'include'), '-I' + os.path.join(ROOT, 'lib'),
                        os.path.join(HERE, 'methods_maps.c'), os.path.join(ROOT, 'lib', 'libgradcam.a'), '-lm', '-lpthread', '-o',
                        tool], check=True)
        torch.manual_seed(0)
        model = torchvision.models.vgg16(weights=None).eval()
        ckpt, gcw = os.path.join(tmp, 'vgg16.pth'), os.path.join(tmp, 'vgg16.gcw')
        torch.save(model.state_dict(), ckpt)
        subprocess.run(['python3', os.path.join(ROOT, 'tools', 'gcw_convert.py'), ckpt, gcw], check=True,
                       stdout=subprocess.DEVNULL)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
        np.save(os.path.join(tmp, 'in.npy'), x.numpy())
        with torch.no_grad():
            c = int(model(x)[0].argmax())
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        ours_t, torch_t, ratios = [], [], []
        cpu = [ln.split(':', 1)[1].strip() for ln in open('/proc/cpuinfo') if ln.startswith('model name')]
        print('host: %s x %d; torch %s, %d threads, batch %d' % (cpu[0], len(cpu), torch.__version__, a.threads,
                                                                 a.batch), flush=True)
        for r in range(a.rounds):
            load = os.getloadavg()[0]
            out = tempfile.mkdtemp(dir=tmp)
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([tool, gcw, os.path.join(tmp, 'in.npy'), out, 'features.29', 'scorecam', '--batch',
                            str(a.batch), str(c)], check=True, env=env)
            ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
            ours_cpu = ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime
            ours_t.append(float(open(os.path.join(out, 'seconds.txt')).read()))
            ours_cam = np.load(os.path.join(out, 'c%d_scorecam.npy' % c))
            t, torch_cpu, cam, live = torch_scorecam(model, x, c, a.batch)
            torch_t.append(t)
            ratios.append(ours_t[-1] / t)
            print('round %d (load %.1f): ours %.2f s, torch %.2f s, ratio %.3f (%d live channels of 512); CPU time '
                  'ours %.1f s (whole program), torch %.1f s' % (r + 1, load, ours_t[-1], t, ratios[-1], live, ours_cpu,
                                                                   torch_cpu), flush=True)
        diff = np.abs(ours_cam - cam).max() / max(np.abs(cam).max(), 1e-30)
        mo, mt = statistics.median(ours_t), statistics.median(torch_t)
        print('median: ours %.2f s, torch %.2f s, ratio of medians %.3f, median ratio %.3f; map difference %.2e '
              '(relative to max)' % (mo, mt, mo / mt, statistics.median(ratios), diff))


if __name__ == '__main__':
    sys.exit(main())
