#!/bin/sh
# Two examples/gradcam processes on the machine's cores, each with its default threads: the time
# of both together against one after the other (issue 13; docs/performance.md, "Threads").
#   tests/ref/two_processes.sh GRADCAM_BINARY MODEL.gcw [IMAGES]
# IMAGES: images per process (default 16), generated once into /tmp/two_processes/imgs with
# /usr/bin/python3 (NumPy + PIL). Development-time only; never part of make test.
set -eu
G=$(realpath "$1"); M=$(realpath "$2"); N=${3:-16}
D=/tmp/two_processes
mkdir -p "$D/imgs"
if [ "$(ls "$D/imgs" | wc -l)" -ne "$N" ]; then
    rm -f "$D"/imgs/*
    /usr/bin/python3 - "$D/imgs" "$N" <<'PY'
import sys, numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(5)
for i in range(n):
    y, x = np.mgrid[0:256, 0:256]
    img = np.stack([128 + 100 * np.sin(x / (7 + i) + y / (11 + i)), 128 + 90 * np.cos(x / (5 + i)),
                    rng.integers(0, 255, (256, 256))], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(f'{out}/p{i:02d}.png')
PY
fi
one() { rm -rf "$D/out$1"; "$G" "$M" "$D"/imgs/*.png -q -o "$D/out$1" >/dev/null 2>&1 || echo "gradcam failed"; }
t0=$(date +%s.%N); one a; one b; t1=$(date +%s.%N)
one a & one b; wait; t2=$(date +%s.%N)
python3 -c "import sys; a, b, c = map(float, sys.argv[1:]); print(f'one after the other {b - a:.2f} s, together {c - b:.2f} s, ratio {(c - b) / (b - a):.2f}')" "$t0" "$t1" "$t2"
