#!/bin/bash
# `make fuzz`: a libFuzzer campaign per harness given, each FUZZ_RUNS inputs (-1: no limit) or
# FUZZ_SECONDS (0: no limit), whichever ends first, FUZZ_JOBS harnesses at a time (one per core),
# each as FUZZ_WORKERS processes (default 1) that share its corpus (libFuzzer reloads it) and are
# stopped together when their inputs add up to FUZZ_RUNS: a slow harness can use every core.
# The corpus grows in $FUZZ_DIR/corpus/<name> from the checked-in tests/fuzz/corpus/<name>;
# tests/fuzz/<name>.dict, when there is one, is the harness's dictionary, tests/fuzz/<name>.options
# its own libFuzzer flags (one a line, # comments); a crash is written to
# $FUZZ_DIR/artifacts/<name>/. Prints per harness the executions, execs/s, the final coverage
# (libFuzzer's cov: edges, ft: features), whether 10^7 executions were reached, and the verdict;
# fails if any harness found something. A campaign stopped with SIGINT (libFuzzer exits 72 with its
# final figures) counts as ended, not as a finding. An input that runs longer than FUZZ_TIMEOUT
# seconds (default 60; the inputs take milliseconds) is a finding: libFuzzer saves it as timeout-*.
#
# Each harness's line is also kept in $FUZZ_DIR/report-lines/<name>.txt with the date and command of
# its run, and $FUZZ_DIR/report.txt is rewritten from all of them, so campaigns run a few harnesses
# at a time (FUZZ_ONLY) add up to one report. FUZZ_REPORT_ONLY=1 runs nothing: it reads each
# harness's last campaign log again (e.g. after a run that did not get to write its line).
set -u
dir=${FUZZ_DIR:-build/fuzz}
secs=${FUZZ_SECONDS:-3600}
runs=${FUZZ_RUNS:-10000000}
jobs=${FUZZ_JOBS:-1}
workers=${FUZZ_WORKERS:-1}
timeout=${FUZZ_TIMEOUT:-60}
cmd=${FUZZ_COMMAND:-tests/fuzz/campaign.sh $*}
goal=10000000
mkdir -p "$dir/report-lines"

# One harness's campaign (or its log read again); its line goes to stdout and report-lines/.
# Returns 1 on a finding.
campaign() {
    local f=$1 h rc started log execs rate cov ft corp reached verdict line
    h=$(basename "$f")
    mkdir -p "$dir/corpus/$h" "$dir/artifacts/$h"
    local seeds=() dict=()
    [ -d "tests/fuzz/corpus/$h" ] && seeds=("tests/fuzz/corpus/$h")
    [ -f "tests/fuzz/$h.dict" ] && dict=("-dict=tests/fuzz/$h.dict")
    local opts=()
    [ -f "tests/fuzz/$h.options" ] && mapfile -t opts < <(grep -v '^#' "tests/fuzz/$h.options")
    log="$dir/$h.campaign.log"
    if [ -n "${FUZZ_REPORT_ONLY:-}" ]; then
        [ -f "$log" ] || return 0
        started="log of $(date -u -r "$log" +%Y-%m-%dT%H:%MZ)"
        rc=0
        grep -qE '==ERROR|ERROR: libFuzzer|runtime error|deadly signal|out-of-memory' "$log" && rc=1
    else
        started=$(date -u +%Y-%m-%dT%H:%MZ)
        local w pids=() r goal_met=0 alive n sum
        echo "fuzz: $h (runs $runs, at most ${secs} s, $workers process(es))"
        # One process runs FUZZ_RUNS itself; several run without a limit and are stopped together
        # (SIGINT: each prints its final figures) once their counts add up to FUZZ_RUNS.
        local wruns=$runs
        [ "$workers" -gt 1 ] && wruns=-1
        for w in $(seq 1 "$workers"); do
            "$f" -timeout="$timeout" "${dict[@]}" "${opts[@]}" -max_total_time="$secs" -runs="$wruns" \
                -print_final_stats=1 -artifact_prefix="$dir/artifacts/$h/" "$dir/corpus/$h" \
                "${seeds[@]}" >"$log.$w" 2>&1 &
            pids+=($!)
        done
        while [ "$workers" -gt 1 ]; do
            sleep 5
            alive=0
            sum=0
            for w in $(seq 1 "$workers"); do
                kill -0 "${pids[$((w - 1))]}" 2>/dev/null && alive=$((alive + 1))
                # the last input count a process printed (with each new input found and at each
                # power of two: behind the true count, by more where little new is found)
                n=$(tail -c 65536 "$log.$w" | grep -ao '^#[0-9]*' | tail -1 | tr -d '#')
                sum=$((sum + ${n:-0}))
            done
            if [ "$runs" -gt 0 ] && [ "$sum" -ge "$runs" ]; then
                goal_met=1
                kill -INT "${pids[@]}" 2>/dev/null
                break
            fi
            # one ended (its time is up, or a finding): the others stop with it
            if [ "$alive" -lt "$workers" ]; then
                kill -INT "${pids[@]}" 2>/dev/null
                break
            fi
        done
        rc=0
        for w in "${pids[@]}"; do
            wait "$w"
            r=$?
            [ "$r" -eq 72 ] && [ "$goal_met" -eq 1 ] && r=0 # stopped at the goal, not interrupted
            # a finding outranks an interruption (72), which outranks a clean end
            if [ "$r" -ne 0 ] && [ "$r" -ne 72 ]; then
                rc=$r
            elif [ "$r" -eq 72 ] && [ "$rc" -eq 0 ]; then
                rc=72
            fi
        done
        cat "$log".[0-9]* >"$log"
        rm -f "$log".[0-9]*
    fi
    # Summed over the processes: executions and rates; the most any process saw: coverage.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{ s += $NF } END { if (NR) print s }')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{ s += $NF } END { if (NR) print s }')
    cov=$(grep -o 'cov: [0-9]*' "$log" | awk '$NF > m { m = $NF } END { if (NR) print m }')
    ft=$(grep -o 'ft: [0-9]*' "$log" | awk '$NF > m { m = $NF } END { if (NR) print m }')
    corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)
    reached=no
    [ -n "${execs:-}" ] && [ "$execs" -ge "$goal" ] && reached=yes
    verdict="no finding"
    if [ "$rc" -eq 72 ]; then
        # libFuzzer's -interrupted_exitcode: stopped by SIGINT, with its final figures
        verdict="no finding (interrupted)"
        rc=0
    elif [ "$rc" -ne 0 ]; then
        # slow-unit-* files are inputs that merely took long (e.g. a paused process), not crashes
        verdict="FINDING (rc $rc): $(ls -t "$dir/artifacts/$h" | grep -v '^slow-unit-' | head -1), log $log"
        grep -m1 -E 'ERROR: |runtime error' "$log"
    fi
    line=$(printf '%-22s execs %10s  execs/s %6s  cov %5s  ft %6s  corpus %-10s 10^7 %-3s  %s  [%s]' \
        "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$reached" "$verdict" \
        "$started")
    echo "$line"
    printf '%s\n  command: %s\n' "$line" "$cmd" >"$dir/report-lines/$h.txt"
    [ "$rc" -eq 0 ]
}

# At most $jobs campaigns at once; each one's exit status is collected as it ends.
failed=0
running=0
for f in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    campaign "$f" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done

{
    echo "# libFuzzer campaigns (tests/fuzz/campaign.sh), one line per harness: its last run"
    echo "# (start time in brackets, UTC) and the command that ran it. cov = edges, ft = features;"
    echo "# 10^7 = whether the run reached 10^7 executions. Written $(date -u +%Y-%m-%dT%H:%MZ)."
    cat "$dir"/report-lines/*.txt
} >"$dir/report.txt"
# The same as a Markdown table, for docs/fuzzing.md's "Last figures".
{
    echo "| harness | executions | execs/s | cov | ft | corpus | 10^7 | verdict | started (UTC) | command |"
    echo "|---|---:|---:|---:|---:|---|---|---|---|---|"
    for l in "$dir"/report-lines/*.txt; do
        awk 'NR == 1 { h = $1; ex = $3; r = $5; cv = $7; ft = $9; co = $11; ok = $13
                       v = $0; sub(/.*10\^7 (yes|no) +/, "", v); st = v
                       sub(/ +\[[^]]*\]$/, "", v); sub(/.*\[/, "", st); sub(/\]$/, "", st) }
             NR == 2 { c = $0; sub(/^ *command: /, "", c) }
             END { printf "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | `%s` |\n",
                          h, ex, r, cv, ft, co, ok, v, st, c }' "$l"
    done
    echo
    awk 'function add(l, x) { return l == "" ? x : l ", " x }
         FNR == 1 { n++; if ($13 == "yes") { y++; ok = add(ok, "`" $1 "`") }
                         else short = add(short, "`" $1 "` " $3)
                    if ($0 ~ /FINDING/) f = add(f, "`" $1 "`") }
         END { printf "**10^7 reached: %d of %d**: %s.", y, n, ok
               if (short != "") printf " Short of it: %s.", short
               printf " Findings: %s.", f != "" ? f : "none" }' "$dir"/report-lines/*.txt
    none=
    for f in "$dir"/fuzz_*; do
        h=$(basename "$f")
        [ -f "$f" ] && [ -x "$f" ] && [ ! -f "$dir/report-lines/$h.txt" ] && none="${none:+$none, }\`$h\`"
    done
    [ -n "$none" ] && printf ' No campaign yet: %s.' "$none"
    echo
} >"$dir/report.md"
echo "fuzz: summary of this run (all harnesses so far: $dir/report.txt)"
for f in "$@"; do
    head -1 "$dir/report-lines/$(basename "$f").txt" 2>/dev/null | sed 's/^/  /'
done
exit $failed
