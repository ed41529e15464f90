#!/bin/bash
# Run every test program in a directory, each under a timeout and several at once, then show
# each program's output (in name order) and close with the totals ("N passed, N failed") summed
# from cmocka's own summary lines.
#
#   PV_TEST_JOBS     programs at once (default: the number of cores)
#   PV_TEST_TIMEOUT  seconds one program may take before it is killed (default 900)
#
# A program that hangs (a sim that never answers, say) is killed at its timeout and counted as
# one failure; the others still run. The slow programs start first so the run packs well.
set -uo pipefail
dir=${1:?usage: run_tests.sh DIR}
jobs=${PV_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
limit=${PV_TEST_TIMEOUT:-900}
# The programs see it too: their own watchdogs (sim_process.h) stretch to just under it.
export PV_TEST_TIMEOUT=$limit
out=$(mktemp -d /tmp/run_tests.XXXXXX)
trap 'rm -rf "$out"' EXIT

# The slow ones first (whole devices through sims, servers and PostgreSQL), then the rest.
slow='bridge_run bridge_faults provision_run power_sweep bridge_quota stub_sim bridge_demo ledger sim_openocd
      boot_sim update_device update_run update_session bridge_server probe_backends keystore'
programs=()
for s in $slow; do
    [ -x "$dir/test_$s" ] && programs+=("$dir/test_$s")
done
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    case " ${programs[*]} " in *" $t "*) ;; *) programs+=("$t") ;; esac
done

run_one() { # $1: program; writes NAME.out, NAME.rc, NAME.s
    local name start
    name=$(basename "$1")
    start=$(date +%s)
    timeout -k 10 "$limit" "$1" >"$out/$name.out" 2>&1
    echo $? >"$out/$name.rc"
    echo $(($(date +%s) - start)) >"$out/$name.s"
}

running=0
for t in "${programs[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
wait

passed=0 failed=0 count=0 broken=()
for t in $(printf '%s\n' "${programs[@]}" | sort); do
    name=$(basename "$t")
    count=$((count + 1))
    rc=$(cat "$out/$name.rc" 2>/dev/null || echo 1)
    echo "=== $name ($(cat "$out/$name.s" 2>/dev/null || echo '?') s)"
    cat "$out/$name.out"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "run_tests: $name did not finish within $limit s: killed (PV_TEST_TIMEOUT)"
    fi
    p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$out/$name.out" | awk '{s += $4} END {print s + 0}')
    f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$out/$name.out" | awk '{s += $4} END {print s + 0}')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # Crashed, aborted or killed before cmocka could count: one failure for the program.
        failed=$((failed + 1))
    fi
    [ "$rc" -eq 0 ] || broken+=("$name")
done
echo
echo "test programs: $count ($jobs at once), failing: ${broken[*]:-none}"
echo "$passed passed, $failed failed"
[ "$count" -gt 0 ] && [ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
