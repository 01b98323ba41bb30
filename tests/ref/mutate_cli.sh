#!/bin/sh
# Dev-time: the CLI mutation test (tests/test_cli_mutations.c) at scale
# against AddressSanitizer + UBSan + LeakSanitizer builds of the examples.
# The SANITIZE=1 build rewrites examples/* in place, so it runs in a separate
# clone of the committed tree.
#   tests/ref/mutate_cli.sh [RUNS_PER_PAIR] [SEED] [CLONE_DIR]
# RUNS_PER_PAIR 300 gives ~4000 runs (2700 images through imgconv and
# classify, 450 through gradcam, 600 .gcw and 600 .npy through classify).
set -eu
runs=${1:-300}; seed=${2:-1}; clone=${3:-/tmp/libgradcam_mutate_cli}
src=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$clone/.git" ] || git clone -q "$src" "$clone"
cd "$clone"
git pull -q "$src" HEAD
make -j2 SANITIZE=1 all build/omp1-san1/tests/test_cli_mutations >/dev/null
GC_CLI_MUTATIONS=$runs GC_CLI_SEED=$seed ./build/omp1-san1/tests/test_cli_mutations
