#!/bin/bash
# `make fuzz`: a libFuzzer campaign per harness given, each FUZZ_SECONDS (0: no limit) or
# FUZZ_RUNS inputs (-1: no limit), whichever ends first. The corpus grows in
# $FUZZ_DIR/corpus/<name> from the checked-in tests/fuzz/corpus/<name>; a crash is written to
# $FUZZ_DIR/artifacts/<name>/. Prints per harness the executions, execs/s and the final coverage
# (libFuzzer's cov: edges, ft: features) and fails if any harness found something.
set -u
dir=${FUZZ_DIR:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:--1}
summary=()
failed=0
for f in "$@"; do
    h=$(basename "$f")
    mkdir -p "$dir/corpus/$h" "$dir/artifacts/$h"
    seeds=()
    [ -d "tests/fuzz/corpus/$h" ] && seeds=("tests/fuzz/corpus/$h")
    log="$dir/$h.campaign.log"
    echo "fuzz: $h (${secs} s, runs $runs)"
    "$f" -max_total_time="$secs" -runs="$runs" -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$h/" "$dir/corpus/$h" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)
    verdict="ok"
    if [ $rc -ne 0 ]; then
        verdict="FINDING (rc $rc): $(ls -t "$dir/artifacts/$h" | head -1), log $log"
        grep -m1 -E 'ERROR: |runtime error' "$log"
        failed=1
    fi
    line=$(printf '%-26s execs %10s  execs/s %7s  cov %5s  ft %6s  corpus %-10s %s' "$h" \
        "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict")
    echo "$line"
    summary+=("$line")
done
echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
exit $failed
