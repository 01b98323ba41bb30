#!/bin/sh
# Runs each fuzz harness for SECONDS on a scratch copy of its seed corpus and
# prints one line per harness: executions, seconds, and any finding.
# usage: tests/fuzz/run.sh SECONDS TARGET...
secs=$1; shift
status=0
for t in "$@"; do
    work=build/fuzz/corpus/$t; art=build/fuzz/artifacts/$t
    mkdir -p "$work" "$art"
    log=build/fuzz/$t.log
    build/fuzz/$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    if [ $rc -ne 0 ] || ls "$art" | grep -q .; then
        echo "fuzz $t: FINDING (exit $rc) - see $log and $art/"; status=1
    else
        echo "fuzz $t: ${runs:-?} executions in ${secs} s, no finding"
    fi
done
exit $status
