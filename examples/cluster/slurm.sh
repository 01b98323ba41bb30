#!/bin/sh
# Explain a data set with a Slurm job array: one shard per array task, then one merge job
# (docs/cluster.md). From the repository root, on a file system every node sees:
#
#   N=16
#   jid=$(sbatch --parsable --array=0-$((N-1)) examples/cluster/slurm.sh explain MODEL OUT $N DATA...)
#   sbatch --dependency=afterok:$jid examples/cluster/slurm.sh merge OUT
#
# Task I of the array runs `python3 -m gradcam.shards MODEL DATA... -o OUT --shard I/N`
# (I = $SLURM_ARRAY_TASK_ID): it explains the inputs whose index mod N is I and writes
# OUT/manifest.shard-I-of-N.jsonl and OUT/report.shard-I-of-N.json. The merge job runs
# tools/gcmerge on them and writes OUT/manifest.jsonl and OUT/report.json, exactly the files
# one machine writes for the whole set; it fails, naming them, if inputs or shards are missing.
# Outside Slurm the same commands run by hand (SLURM_ARRAY_TASK_ID=I sh examples/cluster/slurm.sh
# explain ...), which is how tests/test_cluster.c runs them.
#
# Environment: GC_PYTHON (default python3), GC_METHODS (default gradcam,guided_gradcam),
# GC_TOP_K (1), GC_EVAL (0: no deletion/insertion curves; else their steps),
# OMP_NUM_THREADS (default: the task's CPUs, SLURM_CPUS_PER_TASK).
#SBATCH --job-name=gradcam
#SBATCH --cpus-per-task=2
#SBATCH --output=gradcam-%A_%a.log
set -eu
root=${SLURM_SUBMIT_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${GC_PYTHON:-python3}
export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"
cmd=${1:-}
case "$cmd" in
explain)
    [ $# -ge 5 ] || { echo "usage: slurm.sh explain MODEL OUT N DATA..." >&2; exit 2; }
    model=$2 out=$3 n=$4
    shift 4
    : "${SLURM_ARRAY_TASK_ID:?slurm.sh explain runs as a job array task (sbatch --array=0-N-1)}"
    exec "$py" -m gradcam.shards "$model" "$@" -o "$out" --shard "$SLURM_ARRAY_TASK_ID/$n" \
        --methods "${GC_METHODS:-gradcam,guided_gradcam}" -k "${GC_TOP_K:-1}" --eval "${GC_EVAL:-0}"
    ;;
merge)
    [ $# -eq 2 ] || { echo "usage: slurm.sh merge OUT" >&2; exit 2; }
    out=$2
    exec "$py" "$root/tools/gcmerge" -o "$out" "$out"/manifest.shard-*.jsonl "$out"/report.shard-*.json
    ;;
*)
    echo "usage: slurm.sh explain MODEL OUT N DATA... | slurm.sh merge OUT" >&2
    exit 2
    ;;
esac
