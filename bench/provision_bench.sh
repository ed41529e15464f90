#!/bin/bash
# Benchmark: `provision run` per device on the virtual STM32F427 through unmodified OpenOCD
# (the recipe's backend), split by phase, next to OpenOCD alone programming the same bootloader
# image unencrypted (`program IMAGE verify`) into another virtual chip in the same run. Prints
# wall time per device, the ratio (goal <= 1.0: security costs no cycle time), and the debug
# round trips per device from the sim's counters. Non-sanitized build (BUILD=build/bench), a
# throwaway SoftHSM2 token; loopback only; every process it starts is stopped.
# Usage: bench/provision_bench.sh [devices]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-5}
BUILD_DIR=build/bench
SIM=$ROOT/$BUILD_DIR/host/bin/sim
PROVISION=$ROOT/$BUILD_DIR/host/bin/provision
BOOT=$ROOT/build/arm/firmware/bootloader.bin
STUB=$ROOT/build/arm/stub-loader/stub.bin

make -s BUILD=$BUILD_DIR SANITIZE= "$BUILD_DIR/host/bin/sim" "$BUILD_DIR/host/bin/provision" >/dev/null
[ -e "$BOOT" ] && [ -e "$STUB" ] || make -s device >/dev/null

tmp=$(mktemp -d /tmp/bench_provision.XXXXXX)
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# token, keys, sealed bootloader, recipe (the demo recipe with absolute paths)
mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$tmp/tokens" >"$tmp/softhsm2.conf"
export SOFTHSM2_CONF=$tmp/softhsm2.conf
echo 2468 >"$tmp/pin"
echo 13579246 >"$tmp/so-pin"
sed -e "s|image: ../build/arm/stub-loader/stub.bin|image: $STUB|" \
    -e "s|image: ../build/arm/firmware/bootloader.bin|image: $tmp/bootloader.sealed|" \
    -e "s|image: ../build/arm/firmware/app_v1.img|image: $ROOT/build/arm/firmware/app_v1.img|" \
    -e "s|interface: ./openocd/|interface: $ROOT/recipes/openocd/|" \
    recipes/demo-stm32f427.yaml >"$tmp/recipe.yaml"
"$PROVISION" keys init --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" \
    --so-pin-file "$tmp/so-pin" >/dev/null
"$PROVISION" keys seal --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" "$BOOT" \
    "$tmp/bootloader.sealed" >/dev/null

start_sim() { # $1: state file
    rm -f "$tmp/counters.json"
    "$SIM" --state "$1" --create --bitbang-port 0 --counters-file "$tmp/counters.json" \
        --quiet >"$tmp/sim.out" 2>"$tmp/sim.err" &
    sim_pid=$!
    for _ in $(seq 100); do
        grep -q "listening" "$tmp/sim.out" 2>/dev/null && break
        sleep 0.05
    done
    port=$(sed -n 's/.*bitbang=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sim.out")
    [ -n "$port" ] || { echo "bench-provision: sim did not start:"; cat "$tmp/sim.err"; exit 1; }
}
stop_sim() { # power off; the counters file is written at exit
    kill -TERM "$sim_pid"
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=""
}
counter() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$tmp/counters.json"; }
now_ms() { date +%s%3N; }

# provision run, N devices, each a fresh chip
: >"$tmp/runs"
for i in $(seq "$N"); do
    start_sim "$tmp/chip$i.state"
    t0=$(now_ms)
    "$PROVISION" run --recipe "$tmp/recipe.yaml" --probe openocd -c "remote_bitbang port $port" \
        --ledger "$tmp/ledger.db" --station bench --pin-file "$tmp/pin" --json \
        >"$tmp/run$i.json" 2>"$tmp/run$i.err" || {
        echo "bench-provision: provision run failed:"
        cat "$tmp/run$i.err" "$tmp/run$i.json"
        exit 1
    }
    t1=$(now_ms)
    stop_sim
    phases=$(sed -n 's/.*"phase_ms":{\([^}]*\)}.*/\1/p' "$tmp/run$i.json" | tr -d '"' | tr ',' ' ')
    echo "$((t1 - t0)) $(counter dbg_round_trips) $phases" >>"$tmp/runs"
done

# OpenOCD alone, the same image unencrypted, into another fresh chip
start_sim "$tmp/plain.state"
t0=$(now_ms)
openocd -c "adapter driver remote_bitbang" -c "remote_bitbang host 127.0.0.1" \
    -c "remote_bitbang port $port" -f target/stm32f4x.cfg \
    -c "stm32f4x.cpu configure -event reset-start {}" \
    -c "stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; mww 0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; mmw 0x40023808 0x00001000 0; mmw 0x40023808 0x00000002 0 }" \
    -c "gdb_port disabled" -c "telnet_port disabled" -c "tcl_port disabled" \
    -c "program $BOOT 0x08000000 verify exit" >"$tmp/ocd.log" 2>&1 || {
    echo "bench-provision: openocd program failed:"
    cat "$tmp/ocd.log"
    exit 1
}
t1=$(now_ms)
stop_sim
grep -q "Verified OK\|verified" "$tmp/ocd.log" || { echo "bench-provision: no verify:"; cat "$tmp/ocd.log"; exit 1; }
ocd_ms=$((t1 - t0))
ocd_rt=$(counter dbg_round_trips)

awk -v n="$N" -v ocd_ms="$ocd_ms" -v ocd_rt="$ocd_rt" -v bytes="$(stat -c %s "$BOOT")" '
{
    wall += $1; rt += $2
    for (i = 3; i <= NF; i++) { split($i, kv, ":"); ph[kv[1]] += kv[2]; if (!(kv[1] in seen)) { seen[kv[1]] = 1; order[++np] = kv[1] } }
}
END {
    printf "bench-provision: provision run through OpenOCD 0.12.0 -> remote_bitbang -> sim, %d devices, bootloader %d bytes + key slot, RDP Level 2\n", n, bytes
    printf "  wall per device (whole provision process):  %6.0f ms\n", wall / n
    for (i = 1; i <= np; i++) printf "    %-9s %6.0f ms\n", order[i], ph[order[i]] / n
    printf "  debug round trips per device:               %6.0f\n", rt / n
    printf "OpenOCD alone: program %d bytes unencrypted + verify (whole openocd process), fresh chip\n", bytes
    printf "  wall:                                       %6.0f ms\n", ocd_ms
    printf "  debug round trips:                          %6.0f\n", ocd_rt
    printf "ratio provision / OpenOCD alone: %.2f  (goal <= 1.0)\n", (wall / n) / ocd_ms
}' "$tmp/runs"
