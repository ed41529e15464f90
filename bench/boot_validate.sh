#!/bin/bash
# Benchmark: device time and instructions the bootloader spends validating a 256 KB application
# at 168 MHz, from the virtual chip's counters (bench/boot_validate.c does the measuring). Uses
# a non-sanitized sim (BUILD=build/bench) for speed; the counters do not depend on it.
# Usage: bench/boot_validate.sh [application-KB]   (default 256)
set -euo pipefail
cd "$(dirname "$0")/.."

KB=${1:-256}
make -s firmware build/host/bin/provision build/host/bench/boot_validate >/dev/null
make -s BUILD=build/bench SANITIZE= build/bench/host/bin/sim >/dev/null

elf=build/arm/firmware/bootloader.elf
sym() { # address of a bootloader symbol, or fail naming it
    local a
    a=$(arm-none-eabi-nm "$elf" | awk -v s="$1" '$3 == s {print "0x" $1}')
    [ -n "$a" ] || { echo "bench-boot: symbol $1 not in $elf" >&2; exit 1; }
    echo "$a"
}
build/host/bench/boot_validate build/bench/host/bin/sim build/host/bin/provision \
    build/arm/firmware "$KB" "$(sym boot_check_image)" "$(sym pv_image_verify)" \
    "$(sym pv_ed25519_verify)" "$(sym plat_jump)"
