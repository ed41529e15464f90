#!/bin/bash
# The constant-time check (`make ct-check`, part of `make test`): for each build directory given
# (lib/ and the check compiled by one compiler at one optimisation level, no sanitizers), run
# ct_check under valgrind memcheck with the secrets marked undefined; any report (a branch,
# conditional move or address that depends on a secret) fails. Then the self-test: the leaky
# variants in ct_selftest must each be reported in the leaky function, and the clean one must
# not, or the checker itself is broken. Builds are checked several at once (PV_TEST_JOBS, default
# the number of cores); the reports are printed in the order given.
#
#   run_ct_check.sh build/ct/gcc-Os build/ct/gcc-O2 build/ct/clang-Os build/ct/clang-O2
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: run_ct_check.sh BUILD_DIR..."; exit 2; }
command -v valgrind >/dev/null || { echo "ct-check: valgrind is missing (make deps)"; exit 1; }
VG=(valgrind --tool=memcheck --error-exitcode=1 --track-origins=yes --leak-check=no
    --num-callers=30)
jobs=${PV_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}

# run LOG PROGRAM ARGS...: valgrind's exit status; its report in LOG, the program's output in
# LOG.out
run() {
    local log=$1
    shift
    "${VG[@]}" --log-file="$log" "$@" >"$log.out" 2>&1
}

# check DIR: prints its findings; exit status 1 if any
check() {
    local dir=$1 name fail=0 start log leak mode what where
    name=$(basename "$dir" | sed 's/-/ -/')
    start=$(date +%s)
    if run "$dir/ct_check.log" "$dir/ct_check"; then
        echo "ct-check: $name: no branch or index on a secret ($(($(date +%s) - start)) s)"
    else
        cat "$dir/ct_check.log.out" "$dir/ct_check.log"
        echo "ct-check: $name: FAILED: code depends on a secret (reports above, in $dir/ct_check.log)"
        fail=1
    fi

    # Self-test: each leak must be reported, inside the function that leaks.
    for leak in "memcmp:Conditional jump or move depends on uninitialised value:leaky_tag_ok" \
        "index:Use of uninitialised value of size:leaky_lookup"; do
        IFS=: read -r mode what where <<<"$leak"
        log=$dir/ct_selftest_$mode.log
        if run "$log" "$dir/ct_selftest" "$mode"; then
            cat "$log.out" "$log"
            echo "ct-check: $name: self-test FAILED: the $mode leak was not reported"
            fail=1
        # Not "grep | grep -q": with pipefail, the first grep's SIGPIPE when -q stops reading
        # early would fail the pipeline although the leak was found.
        elif ! grep -A8 "$what" "$log" | grep "$where" >/dev/null; then
            cat "$log.out" "$log"
            echo "ct-check: $name: self-test FAILED: the $mode leak was not reported as '$what' in $where"
            fail=1
        else
            echo "ct-check: $name: self-test: the $mode leak is reported ('$what' in $where)"
        fi
    done
    log=$dir/ct_selftest_clean.log
    if ! run "$log" "$dir/ct_selftest" clean; then
        cat "$log.out" "$log"
        echo "ct-check: $name: self-test FAILED: the constant-time tag check was reported"
        fail=1
    fi
    return $fail
}

running=0
for dir in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    (
        check "$dir" >"$dir/ct_report.txt" 2>&1
        echo $? >"$dir/ct_report.rc"
    ) &
    running=$((running + 1))
done
wait

fail=0
for dir in "$@"; do
    cat "$dir/ct_report.txt"
    [ "$(cat "$dir/ct_report.rc" 2>/dev/null)" = 0 ] || fail=1
done
tail -1 "$1/ct_check.log.out"
[ $fail = 0 ] && echo "ct-check: passed ($# builds)" || echo "ct-check: FAILED"
exit $fail
