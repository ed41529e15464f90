#!/bin/bash
# Benchmark: `hsm-bridge serve` (SoftHSM2 token, the demo recipe's bootloader and signed
# application sealed at rest, mutual TLS 1.3) driven by emulated stations and chips
# (bench/bridge_load.c on bench/emu_stub.c: the stub's real session code on a fake STM32F427 per
# client thread; every device is a whole session of four requests, checked on the fake flash).
#
#  1. throughput of one bridge, with an SQLite ledger and then with a PostgreSQL one (a throwaway
#     server on a Unix socket, started here): sessions per second from N concurrent clients, and
#     the bridge's time per session (the sum of the four requests' round trips as the client saw
#     them, less the emulated stub's work on the frames that arrived meanwhile) at p50 and p99;
#  2. WAN: one client, one device after the other, through a loopback TCP proxy that delays every
#     byte by half the round trip each way (bench/delay_proxy.c; the kernel has no netem), at 0,
#     20 and 100 ms: ms per device against local + 4 x RTT + 10 %, with the station's connection
#     kept (four round trips per device) and with a new TLS connection per device (one more for
#     the TLS handshake; a real WAN adds one more for TCP's).
#
# Non-sanitized build (BUILD=build/bench SANITIZE=, as bench-provision); loopback only; a
# throwaway token, ledger and PostgreSQL; every process it starts is stopped.
# Usage: bench/bridge_bench.sh [devices [clients]]   (default 400 devices, 4 clients)
# BRIDGE_BENCH_PARTS="sqlite postgresql wan" (the default) chooses the parts to run;
# BRIDGE_BENCH_WRAP="env LD_PRELOAD=..." (or any command prefix that execs its arguments) runs
# `hsm-bridge serve` under it, for experiments and profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-400}
CLIENTS=${2:-4}
PARTS=" ${BRIDGE_BENCH_PARTS:-sqlite postgresql wan} "
BUILD_DIR=build/bench
BIN=$ROOT/$BUILD_DIR/host/bin
BOOT=$ROOT/build/arm/firmware/bootloader.bin
STUB=$ROOT/build/arm/stub-loader/stub.bin
APP_BIN=$ROOT/build/arm/firmware/app_v1.bin

make -s BUILD=$BUILD_DIR SANITIZE= "$BIN/hsm-bridge" "$BIN/provision" "$BIN/bridge_load" \
    "$BIN/delay_proxy" >/dev/null
[ -e "$BOOT" ] && [ -e "$STUB" ] && [ -e "$APP_BIN" ] || make -s device >/dev/null

tmp=$(mktemp -d /tmp/bench_bridge.XXXXXX)
chmod 755 "$tmp" # PostgreSQL's own user must reach its directory in here
PIDS=()
PG_DATA=""
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$PG_DATA" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# token, keys, sealed bootloader, signed and sealed application, recipe with a large quota
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
    -e "s|^quota: .*|quota: 1000000|" \
    recipes/demo-stm32f427.yaml >"$tmp/recipe.yaml"
"$BIN/provision" keys init --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" \
    --so-pin-file "$tmp/so-pin" >/dev/null
"$BIN/provision" keys seal --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" "$BOOT" \
    "$tmp/bootloader.sealed" >/dev/null
"$BIN/provision" image sign --pin-file "$tmp/pin" --in "$APP_BIN" \
    --out "$tmp/app.img" --image-version 1.0.0 --pkcs11 --token provision-demo \
    --key-label image-signing >/dev/null
"$BIN/provision" keys seal --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" "$tmp/app.img" \
    "$tmp/app.sealed" >/dev/null
PRODUCT=$(sed -n 's/^product: *//p' "$tmp/recipe.yaml")
BATCH=$(sed -n 's/^batch: *//p' "$tmp/recipe.yaml")

# bridge_config LEDGER: the bridge's configuration for that ledger URL
bridge_config() {
    cat >"$tmp/bridge.yaml" <<CONF
listen: 127.0.0.1:0
tls: {cert: bridge.crt, key: bridge.key, station_ca: station-ca.crt}
token: {pin_file: pin}
ledger: "$1"
products: [recipe.yaml]
session_ttl_s: 120
shutdown_grace_s: 2
CONF
}
BRIDGE_PID=""
URL=""
start_bridge() { # the configured bridge; sets URL and BRIDGE_PID
    : >"$tmp/serve.log"
    # shellcheck disable=SC2086 # the wrapper is words
    ${BRIDGE_BENCH_WRAP:-} "$BIN/hsm-bridge" serve --config "$tmp/bridge.yaml" 2>"$tmp/serve.log" &
    BRIDGE_PID=$!
    PIDS+=("$BRIDGE_PID")
    URL=""
    for _ in $(seq 300); do
        URL=$(sed -n 's/.*listening on \(https:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$tmp/serve.log" | head -1)
        [ -n "$URL" ] && break
        kill -0 "$BRIDGE_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$URL" ] || { echo "bench-bridge: the bridge did not start:"; cat "$tmp/serve.log"; exit 1; }
}
stop_bridge() {
    kill -TERM "$BRIDGE_PID" 2>/dev/null || true
    wait "$BRIDGE_PID" 2>/dev/null || true
}

# station CA, the bridge's certificate, one station (every client thread presents it)
bridge_config "sqlite:$tmp/ledger.db"
"$BIN/hsm-bridge" ca init --config "$tmp/bridge.yaml" --cn "bench station CA" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/bridge.key" \
    -subj /CN=bridge -out "$tmp/bridge.csr" 2>/dev/null
"$BIN/hsm-bridge" tls-cert --config "$tmp/bridge.yaml" --csr "$tmp/bridge.csr" --san 127.0.0.1 \
    -o "$tmp/bridge.crt" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/station.key" \
    -subj /CN=line -out "$tmp/station.csr" 2>/dev/null
# enroll LABEL: enrols bench-line into the configured bridge's registry (its ledger), with a
# certificate of its own, station-LABEL.crt (a registry knows the certificate it enrolled)
enroll() {
    "$BIN/hsm-bridge" station enroll bench-line --csr "$tmp/station.csr" \
        --rights "$PRODUCT/$BATCH" --config "$tmp/bridge.yaml" -o "$tmp/station-$1.crt" >/dev/null
}
enroll sqlite
# load LABEL ARGS...: bridge_load as station bench-line of that registry; fails unless every
# device was locked and checked
load() {
    local label=$1
    shift
    "$BIN/bridge_load" --cert "$tmp/station-$label.crt" --key "$tmp/station.key" \
        --ca "$tmp/station-ca.crt" --product "$PRODUCT" --batch "$BATCH" \
        --boot "$BOOT" --app "$tmp/app.img" "$@" >"$tmp/load.out" || true
    if ! grep -q "^result .*refused=0 broken=0" "$tmp/load.out"; then
        echo "bench-bridge: not every device was locked:"
        cat "$tmp/load.out"
        tail -5 "$tmp/serve.log"
        exit 1
    fi
}

echo "bench-bridge: hsm-bridge serve on loopback, SoftHSM2 $(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || echo '?'), $(nproc) cores;"
echo "  emulated stations: the stub's session code on a fake STM32F427 per client thread,"
echo "  bootloader $(stat -c %s "$BOOT") + application $(stat -c %s "$tmp/app.img") bytes + key slot per device, RDP Level 2"

throughput() { # $1: label
    echo
    echo "== throughput, $1 ledger: $N devices from $CLIENTS concurrent clients"
    load "$1" --url "$URL" --devices "$N" --clients "$CLIENTS" --warmup 3
    cat "$tmp/load.out"
    echo "  (new TLS connection per device; with the connection kept per client thread:)"
    load "$1" --url "$URL" --devices "$N" --clients "$CLIENTS" --warmup 3 --reuse
    sed -n 's/^  wall/  kept: wall/p; /p50.*p90/s/^ */  kept: /p' "$tmp/load.out"
}

if [[ $PARTS == *" sqlite "* ]]; then
    start_bridge
    throughput sqlite
    stop_bridge
fi

# PostgreSQL: a throwaway cluster on a Unix socket in $tmp/pg
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ $PARTS != *" postgresql "* ]]; then
    :
elif [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && id postgres >/dev/null 2>&1; then
    mkdir -p "$tmp/pg"
    chown postgres: "$tmp/pg"
    PG_DATA=$tmp/pg/data
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --no-sync \
        -E UTF8 --locale=C >"$tmp/initdb.log" 2>&1
    # durable commits as a production server would have them (fsync and synchronous_commit on)
    printf "listen_addresses = ''\nunix_socket_directories = '%s'\nport = 5432\nmax_connections = 40\n" \
        "$tmp/pg" >>"$PG_DATA/postgresql.conf"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$tmp/pg/server.log" -w start \
        >/dev/null
    bridge_config "postgresql:///postgres?host=$tmp/pg&port=5432&user=postgres"
    enroll postgresql
    start_bridge
    throughput postgresql
    # Scale-out as ARCHITECTURE.md has it: a second bridge on the same PostgreSQL ledger (opened
    # once the first listens: SoftHSM2's file store fails opens that overlap), the clients
    # spread over both; each station keeps its device's requests on one connection, one bridge.
    URL1=$URL
    PID1=$BRIDGE_PID
    cp "$tmp/serve.log" "$tmp/serve1.log"
    start_bridge
    echo
    echo "== throughput, postgresql ledger, two bridges: $N devices from $CLIENTS concurrent clients"
    load postgresql --url "$URL1" --url "$URL" --devices "$N" --clients "$CLIENTS" --warmup 3
    cat "$tmp/load.out"
    load postgresql --url "$URL1" --url "$URL" --devices "$N" --clients "$CLIENTS" --warmup 3 \
        --reuse
    sed -n 's/^  wall/  kept: wall/p; /p50.*p90/s/^ */  kept: /p' "$tmp/load.out"
    stop_bridge
    BRIDGE_PID=$PID1
    stop_bridge
else
    echo "bench-bridge: no PostgreSQL server binaries: the PostgreSQL run is skipped"
fi

# WAN: one client through the delay proxy, SQLite ledger
bridge_config "sqlite:$tmp/ledger.db"
start_bridge
PORT=${URL##*:}
echo
echo "== WAN: one client, devices one after the other, through a loopback delay proxy"
printf "  %-8s %-28s %-28s\n" "RTT" "kept connection: ms/device" "new connection: ms/device"
declare -A local_ms
for rtt in 0 20 100; do
    "$BIN/delay_proxy" --target "127.0.0.1:$PORT" --rtt-ms "$rtt" >"$tmp/proxy.out" &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    for _ in $(seq 100); do grep -q listening "$tmp/proxy.out" && break; sleep 0.05; done
    PPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/proxy.out")
    n=$((rtt == 0 ? 40 : rtt == 20 ? 20 : 8))
    line=""
    for mode in kept new; do
        extra=()
        [ "$mode" = kept ] && extra=(--reuse)
        load sqlite --url "https://127.0.0.1:$PPORT" --devices "$n" --clients 1 --warmup 1 \
            "${extra[@]}"
        ms=$(sed -n 's/.*device_mean_ms=\([0-9.]*\).*/\1/p' "$tmp/load.out")
        [ "$rtt" = 0 ] && local_ms[$mode]=$ms
        rts=$([ "$mode" = kept ] && echo 4 || echo 5)
        bound=$(awk -v l="${local_ms[$mode]}" -v r="$rtt" -v k="$rts" 'BEGIN { printf "%.1f", (l + k * r) * 1.1 }')
        verdict=$(awk -v m="$ms" -v b="$bound" 'BEGIN { print (m <= b) ? "within" : "OVER" }')
        line+=$(printf "%-28s " "$(printf "%.1f (%s %s)" "$ms" "$verdict" "$bound")")
    done
    printf "  %-8s %s\n" "${rtt} ms" "$line"
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
done
echo "  (bound: (local + k x RTT) x 1.1; k = 4 requests with the connection kept, 5 with a new"
echo "   TLS connection per device: its handshake costs one round trip; a real WAN adds TCP's)"
stop_bridge
