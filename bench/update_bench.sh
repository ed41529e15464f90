#!/bin/sh
# make bench-update-bridge: a firmware update of a 128 KB application on the virtual STM32F427, from
# a device provisioned with v1 through hsm-bridge, relayed by `provision update` over the sim's
# USART1. The figures are the ones tests/unit/test_update_run.c prints for its 128 KB update
# (the sanitized test build: host-side times include ASan; the device's instructions and device
# time come from the sim's counters and do not depend on it).
set -eu
prog=${1:-build/host/tests/test_update_run}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$prog" >"$out" 2>&1; then
    cat "$out"
    echo "update_bench: $prog failed" >&2
    exit 1
fi
grep -E '^(update of a|device \(the sim)' "$out"
