#!/bin/bash
# Benchmark: `provision run` per device through a tunneled GDB server: the sim's GDB RSP front end
# behind bench/delay_proxy with RTT ms of injected round-trip delay (default 50), the way a remote
# customer reaches the probe. Prints per device the round trips the proxy saw (turns: the station
# sent after an answer reached it; docs/probes.md "Tunneled probe"), the station's own count of
# its waits, the latency they cost (turns x RTT) and the wall time, by phase. Goal: at most 40
# round trips per device (2 s of latency at 50 ms). Non-sanitized build (BUILD=build/bench), a
# throwaway SoftHSM2 token; loopback only; every process it starts is stopped.
# Usage: bench/tunnel_bench.sh [devices [rtt_ms [app_kb]]]   (default 3 devices, 50 ms, the demo
# application; app_kb pads the application to that many KB as bench/provision_bench.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-3}
RTT=${2:-50}
APP_KB=${3:-0}
BUILD_DIR=build/bench
BIN=$ROOT/$BUILD_DIR/host/bin
BOOT=$ROOT/build/arm/firmware/bootloader.bin
STUB=$ROOT/build/arm/stub-loader/stub.bin

make -s BUILD=$BUILD_DIR SANITIZE= "$BIN/sim" "$BIN/provision" "$BIN/delay_proxy" >/dev/null
[ -e "$BOOT" ] && [ -e "$STUB" ] || make -s device >/dev/null

tmp=$(mktemp -d /tmp/bench_tunnel.XXXXXX)
sim_pid=""
proxy_pid=""
stop() { # $1: pid
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$proxy_pid"
    stop "$sim_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT

wait_line() { # $1: file, $2: text; up to 20 s on a loaded machine
    for _ in $(seq 400); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$tmp/tokens" >"$tmp/softhsm2.conf"
export SOFTHSM2_CONF=$tmp/softhsm2.conf
echo 2468 >"$tmp/pin"
echo 13579246 >"$tmp/so-pin"
chmod 600 "$tmp/pin" "$tmp/so-pin"
sed -e "s|image: ../build/arm/stub-loader/stub.bin|image: $STUB|" \
    -e "s|image: ../build/arm/firmware/bootloader.bin|image: $tmp/bootloader.sealed|" \
    -e "s|image: ../build/arm/firmware/app_v1.img|image: $tmp/app.sealed|" \
    -e "s|interface: ./openocd/|interface: $ROOT/recipes/openocd/|" \
    recipes/demo-stm32f427.yaml >"$tmp/recipe.yaml"
"$BIN/provision" keys init --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" \
    --so-pin-file "$tmp/so-pin" >/dev/null
"$BIN/provision" keys seal --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" "$BOOT" \
    "$tmp/bootloader.sealed" >/dev/null
APP_BIN=$ROOT/build/arm/firmware/app_v1.bin
if [ "$APP_KB" -gt 0 ]; then
    cp "$APP_BIN" "$tmp/app_big.bin"
    pad=$((APP_KB * 1024 - $(stat -c %s "$APP_BIN") - 512))
    head -c "$pad" /dev/zero | openssl enc -aes-128-ctr -nosalt -iv 00000000000000000000000000000000 \
        -K 00000000000000000000000000000000 >>"$tmp/app_big.bin"
    APP_BIN=$tmp/app_big.bin
fi
"$BIN/provision" image sign --pin-file "$tmp/pin" --in "$APP_BIN" \
    --out "$tmp/app.img" --image-version 1.0.0 --pkcs11 --token provision-demo \
    --key-label image-signing >/dev/null
"$BIN/provision" keys seal --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" "$tmp/app.img" \
    "$tmp/app.sealed" >/dev/null

: >"$tmp/runs"
for i in $(seq "$N"); do
    "$BIN/sim" --state "$tmp/chip$i.state" --create --gdb-port 0 --quiet >"$tmp/sim.out" \
        2>"$tmp/sim.err" &
    sim_pid=$!
    wait_line "$tmp/sim.out" listening || { echo "bench-tunnel: sim did not start"; cat "$tmp/sim.err"; exit 1; }
    gport=$(sed -n 's/.*gdb=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sim.out")
    rm -f "$tmp/turns"
    "$BIN/delay_proxy" --target "127.0.0.1:$gport" --rtt-ms "$RTT" --turns "$tmp/turns" \
        >"$tmp/proxy.out" &
    proxy_pid=$!
    wait_line "$tmp/proxy.out" listening || { echo "bench-tunnel: delay_proxy did not start"; exit 1; }
    pport=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/proxy.out")
    t0=$(date +%s%3N)
    "$BIN/provision" run --recipe "$tmp/recipe.yaml" --probe "gdb:127.0.0.1:$pport" \
        --ledger "$tmp/ledger.db" --station bench --pin-file "$tmp/pin" \
        >"$tmp/run$i.out" 2>"$tmp/run$i.err" || {
        echo "bench-tunnel: provision run failed:"
        cat "$tmp/run$i.err" "$tmp/run$i.out"
        exit 1
    }
    t1=$(date +%s%3N)
    wait_line "$tmp/turns" turns || { echo "bench-tunnel: the proxy saw no connection end"; exit 1; }
    stop "$sim_pid"
    sim_pid=""
    stop "$proxy_pid"
    proxy_pid=""
    turns=$(awk '{ t += $4 } END { print t }' "$tmp/turns")
    conns=$(wc -l <"$tmp/turns")
    station=$(sed -n 's/.*provision: probe round trips: \([0-9]*\).*/\1/p' "$tmp/run$i.err")
    phases=$(sed -n 's/.*provision: \([a-z]*\) *done in \([0-9]*\) ms.*/\1:\2/p' "$tmp/run$i.err" | tr '\n' ' ')
    echo "$((t1 - t0)) $turns ${station:-0} $conns $phases" >>"$tmp/runs"
done

awk -v n="$N" -v rtt="$RTT" -v boot="$(stat -c %s "$BOOT")" -v app="$(stat -c %s "$tmp/app.img")" '
{
    wall += $1; turns += $2; st += $3; conns += $4
    if ($2 > worst) worst = $2
    for (i = 5; i <= NF; i++) { split($i, kv, ":"); ph[kv[1]] += kv[2]; if (!(kv[1] in seen)) { seen[kv[1]] = 1; order[++np] = kv[1] } }
}
END {
    printf "bench-tunnel: %d devices, provision run -> delay_proxy (%d ms round trip) -> sim GDB server\n", n, rtt
    printf "  images: bootloader %d + application %d bytes\n", boot, app
    printf "  round trips per device (proxy turns):  %6.1f  (worst %d; goal <= 40)\n", turns / n, worst
    printf "  station waits per device (its count):  %6.1f\n", st / n
    printf "  connections per device:                %6.1f\n", conns / n
    printf "  latency of the round trips:            %6.0f ms per device (turns x %d ms)\n", turns / n * rtt, rtt
    printf "  wall time per device:                  %6.0f ms\n", wall / n
    for (i = 1; i <= np; i++) printf "    %-9s %6.0f ms\n", order[i], ph[order[i]] / n
}' "$tmp/runs"
