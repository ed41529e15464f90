#!/bin/bash
# Benchmark: unmodified OpenOCD 0.12.0 programs a 64 KB random image into the virtual STM32F427
# over remote_bitbang (`flash write_image erase` + `verify_image`), then the sim's instruction
# throughput is measured with a counting loop in SRAM. Prints wall seconds, KB/s, protocol
# characters per payload byte, debug transactions per KB, round trips and MIPS. Uses a
# non-sanitized build (BUILD=build/bench). Loopback only; every process it starts is stopped.
# Usage: bench/sim_openocd.sh [image-KB]   (default 64)
set -euo pipefail
cd "$(dirname "$0")/.."

KB=${1:-64}
BUILD_DIR=build/bench
SIM=$BUILD_DIR/host/bin/sim
LOOP_ITERS=20000000 # 2 instructions each: 40 M instructions for the MIPS figure

make -s BUILD=$BUILD_DIR SANITIZE= "$SIM" >/dev/null

tmp=$(mktemp -d /tmp/bench_sim.XXXXXX)
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

head -c $((KB * 1024)) /dev/urandom >"$tmp/image.bin"
# Counting loop for the MIPS figure: ldr r0,=N; 1: subs r0,#1; bne 1b; bkpt #0; .word N
printf '\x01\x48\x01\x38\xfd\xd1\x00\xbe' >"$tmp/loop.bin"
printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((LOOP_ITERS & 255)) $(((LOOP_ITERS >> 8) & 255)) \
    $(((LOOP_ITERS >> 16) & 255)) $(((LOOP_ITERS >> 24) & 255)))" >>"$tmp/loop.bin"

"$SIM" --state "$tmp/chip.state" --create --uid-seed 1 --bitbang-port 0 \
    --counters-file "$tmp/counters.json" --quiet >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
    grep -q "listening" "$tmp/sim.out" 2>/dev/null && break
    sleep 0.05
done
port=$(sed -n 's/.*bitbang=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sim.out")
[ -n "$port" ] || { echo "bench-sim: sim did not start:"; cat "$tmp/sim.err"; exit 1; }

ocd() {
    openocd -c "adapter driver remote_bitbang" \
        -c "remote_bitbang host 127.0.0.1" -c "remote_bitbang port $port" \
        -f target/stm32f4x.cfg \
        -c "stm32f4x.cpu configure -event reset-start {}" \
        -c "stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; mww 0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; mmw 0x40023808 0x00001000 0; mmw 0x40023808 0x00000002 0 }" \
        -c "gdb_port disabled" -c "telnet_port disabled" -c "tcl_port disabled" \
        -c init "$@"
}

counters() { # value of one key in the counters JSON
    sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$tmp/counters.json"
}
snapshot() { # asks sim for a fresh counters file and waits for it
    rm -f "$tmp/counters.json"
    kill -USR1 "$sim_pid"
    for _ in $(seq 200); do [ -s "$tmp/counters.json" ] && return; sleep 0.01; done
    echo "bench-sim: no counters from sim"; exit 1
}

# Phase 1: programming. The timed window covers the two commands only (init and reset are
# measured separately by OpenOCD's own clock around them).
snapshot
in0=$(counters dbg_bytes_in); tx0=$(counters dbg_transactions); rt0=$(counters dbg_round_trips)
out0=$(counters dbg_bytes_out)
t0=$(date +%s.%N)
ocd -c "reset halt" \
    -c "set t0 [clock milliseconds]" \
    -c "flash write_image erase $tmp/image.bin 0x08000000 bin" \
    -c "verify_image $tmp/image.bin 0x08000000 bin" \
    -c "echo \"bench_ms [expr {[clock milliseconds] - \$t0}]\"" \
    -c shutdown >"$tmp/ocd1.log" 2>&1 || { echo "bench-sim: openocd failed:"; cat "$tmp/ocd1.log"; exit 1; }
t1=$(date +%s.%N)
grep -q "verified $((KB * 1024)) bytes" "$tmp/ocd1.log" || { echo "bench-sim: verify failed:"; cat "$tmp/ocd1.log"; exit 1; }
snapshot
in1=$(counters dbg_bytes_in); tx1=$(counters dbg_transactions); rt1=$(counters dbg_round_trips)
out1=$(counters dbg_bytes_out); fns=$(counters flash_ns)
prog_ms=$(sed -n 's/.*bench_ms \([0-9]*\).*/\1/p' "$tmp/ocd1.log")

# Phase 2: MIPS with a counting loop in SRAM while OpenOCD waits for the halt.
snapshot
i0=$(counters instructions)
ocd -c "reset halt" -c "load_image $tmp/loop.bin 0x20000000 bin" -c "reg xPSR 0x01000000" \
    -c "set t0 [clock milliseconds]" -c "resume 0x20000000" -c "wait_halt 120000" \
    -c "echo \"loop_ms [expr {[clock milliseconds] - \$t0}]\"" -c "reg r0" \
    -c shutdown >"$tmp/ocd2.log" 2>&1 || { echo "bench-sim: openocd (loop) failed:"; cat "$tmp/ocd2.log"; exit 1; }
snapshot
i1=$(counters instructions)
loop_ms=$(sed -n 's/.*loop_ms \([0-9]*\).*/\1/p' "$tmp/ocd2.log")

awk -v kb="$KB" -v t0="$t0" -v t1="$t1" -v ms="$prog_ms" \
    -v din=$((in1 - in0)) -v dout=$((out1 - out0)) -v dtx=$((tx1 - tx0)) -v drt=$((rt1 - rt0)) \
    -v fns="$fns" -v insns=$((i1 - i0)) -v lms="$loop_ms" 'BEGIN {
    bytes = kb * 1024; wall = t1 - t0
    printf "bench-sim: OpenOCD 0.12.0 -> remote_bitbang -> sim, %d KB flash write_image erase + verify_image\n", kb
    printf "  wall, whole OpenOCD run (init, reset halt, write, verify): %.2f s\n", wall
    printf "  wall, write_image erase + verify_image:                    %.2f s  (goal < 5 s)\n", ms / 1000
    printf "  throughput:                     %.1f KB/s\n", kb / (ms / 1000)
    printf "  protocol chars per payload byte: %.1f in, %.2f out\n", din / bytes, dout / bytes
    printf "  debug transactions per KB:      %.0f  (%d in all)\n", dtx / kb, dtx
    printf "  round trips:                    %d  (%.1f per KB)\n", drt, drt / kb
    printf "  device time in flash ops:       %.3f s (device clock, not wall)\n", fns / 1e9
    printf "  sim MIPS (SRAM loop, OpenOCD polling): %.1f  (%d instructions in %.2f s)\n", insns / (lms * 1000), insns, lms / 1000
}'
