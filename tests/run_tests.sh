#!/bin/bash
# Run every test program in a directory, show its output, and close with the totals
# ("N passed, N failed") summed from cmocka's own summary lines.
set -uo pipefail
dir=${1:?usage: run_tests.sh DIR}
passed=0 failed=0 programs=0 broken=()
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    programs=$((programs + 1))
    name=$(basename "$t")
    echo "=== $name"
    out=$("$t" 2>&1)
    rc=$?
    echo "$out"
    p=$(grep -E '^\[  PASSED  \] [0-9]+ test' <<<"$out" | awk '{s += $4} END {print s + 0}')
    f=$(grep -E '^\[  FAILED  \] [0-9]+ test' <<<"$out" | awk '{s += $4} END {print s + 0}')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        # Crashed or aborted before cmocka could count: one failure for the program.
        failed=$((failed + 1))
    fi
    [ $rc -eq 0 ] || broken+=("$name")
done
echo
echo "test programs: $programs, failing: ${broken[*]:-none}"
echo "$passed passed, $failed failed"
[ "$programs" -gt 0 ] && [ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
