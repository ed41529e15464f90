#!/bin/bash
# make soak: the full power cut sweep (tests/unit/test_power_sweep.c with PV_POWER_SWEEP=full):
# a cut at every flash operation of a provisioning run, each followed by reruns, split into
# SOAK_JOBS shards that run side by side (each its own token, bridge and ledger). Every cut's
# line is shown as it ends, prefixed with its shard; the end sums the shards' totals.
#
#   tests/soak_power_sweep.sh TEST_PROGRAM [BIN_DIR]
#   SOAK_JOBS             shards at once (default 2)
#   PV_POWER_SWEEP_FROM   first operation to cut (default 1)
#   PV_POWER_SWEEP_TO     last operation to cut (default: the run's last)
#   BIN_DIR               provision, hsm-bridge and sim to drive (default: the test's own build)
#
# Exit status 0 when every cut of every shard ended locked with one row counted once.
set -uo pipefail
prog=${1:?usage: soak_power_sweep.sh TEST_PROGRAM [BIN_DIR]}
bin=${2:-}
[ -z "$bin" ] || bin=$(cd "$bin" && pwd) || exit 2
jobs=${SOAK_JOBS:-2}
case "$jobs" in '' | *[!0-9]* | 0)
    echo "soak: SOAK_JOBS=$jobs: expected a number >= 1" >&2
    exit 2
    ;;
esac
out=$(mktemp -d /tmp/soak_power_sweep.XXXXXX)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
pids=()
for ((i = 0; i < jobs; i++)); do
    (
        PV_POWER_SWEEP=full PV_POWER_SWEEP_SHARD="$i/$jobs" PV_POWER_SWEEP_BIN="$bin" \
            "$prog" >"$out/$i.out" 2>&1
        echo $? >"$out/$i.rc"
    ) &
    pids+=($!)
    # each shard's cut lines as they come, with the shard named
    tail -n +1 -F "$out/$i.out" 2>/dev/null | sed -u -n "s/^\(cut .*\|power sweep: .*\)/[$i\/$jobs] \1/p" &
    pids+=($!)
done
for ((i = 0; i < jobs; i++)); do
    wait "${pids[$((2 * i))]}"
done
sleep 1
for ((i = 0; i < jobs; i++)); do
    kill "${pids[$((2 * i + 1))]}" 2>/dev/null
done
wait 2>/dev/null

# the totals from the cut lines themselves, so a shard that was stopped still counts
passed=0 failed=0 ops=? rc=0
for ((i = 0; i < jobs; i++)); do
    p=$(grep -cE '^cut [0-9]+/[0-9]+ .*: locked, 1 row, counted once, boots' "$out/$i.out")
    f=$(grep -cE '^cut [0-9]+/[0-9]+ .*: FAILED' "$out/$i.out")
    passed=$((passed + p)) failed=$((failed + f))
    o=$(sed -n -E 's/^power sweep: a run performs ([0-9]+) flash operations.*/\1/p' "$out/$i.out" | head -n 1)
    [ -n "$o" ] && ops=$o
    if ! grep -qE '^power sweep: [0-9]+ flash operations per run' "$out/$i.out"; then
        echo "soak: shard $i/$jobs ended before its totals (exit $(cat "$out/$i.rc" 2>/dev/null)):"
        tail -n 40 "$out/$i.out"
        rc=1
    fi
    [ "$(cat "$out/$i.rc" 2>/dev/null)" = 0 ] || rc=1
    grep -E '^cut .*FAILED' "$out/$i.out" | sed "s/^/[$i\/$jobs] /"
done
cuts=$((passed + failed))
secs=$(($(date +%s) - start))
echo "soak: power cut sweep: $ops flash operations per run; $cuts cuts in $jobs shard(s): $passed passed, $failed failed; ${secs} s"
exit $rc
