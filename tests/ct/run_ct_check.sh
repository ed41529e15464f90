#!/bin/bash
# The constant-time check (`make ct-check`, part of `make test`): for each build directory given
# (lib/ and the check compiled at one optimisation level each, no sanitizers), run ct_check under
# valgrind memcheck with the secrets marked undefined; any report (a branch, conditional move or
# address that depends on a secret) fails. Then the self-test: the leaky variants in
# ct_selftest must each be reported in the leaky function, and the clean one must not, or the
# checker itself is broken.
#
#   run_ct_check.sh build/ct/Os build/ct/O2
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: run_ct_check.sh BUILD_DIR..."; exit 2; }
command -v valgrind >/dev/null || { echo "ct-check: valgrind is missing (make deps)"; exit 1; }
VG=(valgrind --tool=memcheck --error-exitcode=1 --track-origins=yes --leak-check=no
    --num-callers=30)
fail=0

# run LOG PROGRAM ARGS...: valgrind's exit status; its report in LOG, the program's output in LOG.out
run() {
    local log=$1
    shift
    "${VG[@]}" --log-file="$log" "$@" >"$log.out" 2>&1
}

for dir in "$@"; do
    opt=$(basename "$dir")
    start=$(date +%s)
    if run "$dir/ct_check.log" "$dir/ct_check"; then
        echo "ct-check: -$opt: no branch or index on a secret, $(($(date +%s) - start)) s"; tail -1 "$dir/ct_check.log.out"
    else
        cat "$dir/ct_check.log.out" "$dir/ct_check.log"
        echo "ct-check: -$opt: FAILED: code depends on a secret (reports above, in $dir/ct_check.log)"
        fail=1
    fi

    # Self-test: each leak must be reported, inside the function that leaks.
    for leak in "memcmp:Conditional jump or move depends on uninitialised value:leaky_tag_ok" \
        "index:Use of uninitialised value of size:leaky_lookup"; do
        IFS=: read -r mode what where <<<"$leak"
        log=$dir/ct_selftest_$mode.log
        if run "$log" "$dir/ct_selftest" "$mode"; then
            cat "$log.out" "$log"
            echo "ct-check: -$opt: self-test FAILED: the $mode leak was not reported"
            fail=1
        elif ! grep -q "$what" "$log" || ! grep -A8 "$what" "$log" | grep -q "$where"; then
            cat "$log.out" "$log"
            echo "ct-check: -$opt: self-test FAILED: the $mode leak was not reported as '$what' in $where"
            fail=1
        else
            echo "ct-check: -$opt: self-test: the $mode leak is reported ('$what' in $where)"
        fi
    done
    log=$dir/ct_selftest_clean.log
    if ! run "$log" "$dir/ct_selftest" clean; then
        cat "$log.out" "$log"
        echo "ct-check: -$opt: self-test FAILED: the constant-time tag check was reported"
        fail=1
    fi
done
exit $fail
