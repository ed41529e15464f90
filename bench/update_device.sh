#!/bin/bash
# Benchmark: the bootloader's update mode installing an application of KB kilobytes (default 128)
# on the virtual chip at 168 MHz: device time, instructions and flash time per phase, wall time,
# link bytes per image byte (bench/update_device.c does the measuring). Uses a non-sanitized sim
# (BUILD=build/bench) for speed; the counters do not depend on it.
# Usage: bench/update_device.sh [application-KB]
set -euo pipefail
cd "$(dirname "$0")/.."

KB=${1:-128}
make -s firmware build/host/bin/provision build/host/bench/update_device >/dev/null
make -s BUILD=build/bench SANITIZE= build/bench/host/bin/sim >/dev/null
build/host/bench/update_device build/bench/host/bin/sim build/host/bin/provision \
    build/arm/firmware "$KB"
