#!/bin/bash
# Benchmark: `provision run` per device on the virtual STM32F427 through unmodified OpenOCD
# (the recipe's backend), split by phase, next to OpenOCD alone programming the same bootloader
# and signed application unencrypted (reset init, erase their sectors, flash write_image,
# verify_image: `program` without its padding of a small image to the whole sector) into
# another virtual chip in the same run. Both chips run with the sim's --realtime flash timings:
# every erase and program operation takes the datasheet's typical time in wall time too
# (DS9405 §6.3 "Flash memory programming", sim/flash_stm32f4.c; docs/recipes.md lists them),
# charged for what each side asks: OpenOCD 0.12's stm32f2x driver erases at x8 and programs a
# half-word per operation (x16) through its loader; the stub erases and programs at the
# parallelism the recipe's supply range allows (x32 for the demo's 2.7-3.6 V) and skips sectors
# that are already blank. Each round runs both on fresh chips, interleaved, so load on the
# machine hits both alike. Both sides start their own OpenOCD; its start (init: scan chain,
# examine; then exit) is also measured alone on a fresh chip and reported, with the ratio both
# including it (whole processes) and excluding it from both sides. Prints ms per device per
# phase, the peer's ms, the ratios (goal <= 0.8), the flash operations each side had the chip
# do (erases with their parallelism, program operations by size, flash busy time: the sim's
# operation log and counters) and the debug round trips per device of each side. Non-sanitized
# build (BUILD=build/bench), a throwaway SoftHSM2 token; loopback only; every process it starts
# is stopped.
# Usage: bench/provision_bench.sh [devices [app_kb [used]]]   (default 5 devices, the demo
# application, factory-fresh chips)
# app_kb: pad the application with pseudo-random bytes to that many KB, a production-size image
# (the stub's upload is a fixed cost per device; this shows the cost per byte).
# used: chips whose every sector holds old contents (sim --used-flash), so both sides erase.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-5}
APP_KB=${2:-0}
USED=${3:-}
case "$USED" in
"") chips="factory-fresh" used_args=() ;;
used) chips="used (every sector holding old contents)" used_args=(--used-flash 0xFFFFFF) ;;
*) echo "bench-provision: third argument: 'used' or nothing, not '$USED'" >&2; exit 2 ;;
esac
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
chmod 600 "$tmp/pin" "$tmp/so-pin"
sed -e "s|image: ../build/arm/stub-loader/stub.bin|image: $STUB|" \
    -e "s|image: ../build/arm/firmware/bootloader.bin|image: $tmp/bootloader.sealed|" \
    -e "s|image: ../build/arm/firmware/app_v1.img|image: $tmp/app.sealed|" \
    -e "s|interface: ./openocd/|interface: $ROOT/recipes/openocd/|" \
    recipes/demo-stm32f427.yaml >"$tmp/recipe.yaml"
"$PROVISION" keys init --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" \
    --so-pin-file "$tmp/so-pin" >/dev/null
"$PROVISION" keys seal --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" "$BOOT" \
    "$tmp/bootloader.sealed" >/dev/null
# the application, signed by the token's image-signing key, then sealed (as tools/demo.sh does);
# OpenOCD alone programs the same signed image, unencrypted
APP_BIN=$ROOT/build/arm/firmware/app_v1.bin
if [ "$APP_KB" -gt 0 ]; then
    # the demo application, then deterministic pseudo-random bytes up to APP_KB KB (less the
    # image header and signature area the signer adds)
    cp "$APP_BIN" "$tmp/app_big.bin"
    pad=$((APP_KB * 1024 - $(stat -c %s "$APP_BIN") - 512))
    head -c "$pad" /dev/zero | openssl enc -aes-128-ctr -nosalt -iv 00000000000000000000000000000000 \
        -K 00000000000000000000000000000000 >>"$tmp/app_big.bin"
    APP_BIN=$tmp/app_big.bin
fi
"$PROVISION" image sign --pin-file "$tmp/pin" --in "$APP_BIN" \
    --out "$tmp/app.img" --image-version 1.0.0 --pkcs11 --token provision-demo \
    --key-label image-signing >/dev/null
"$PROVISION" keys seal --recipe "$tmp/recipe.yaml" --pin-file "$tmp/pin" "$tmp/app.img" \
    "$tmp/app.sealed" >/dev/null
APP_ADDR=0x08010000 # layout.application.address of the demo recipe

start_sim() { # $1: state file
    rm -f "$tmp/counters.json" "$tmp/ops"
    "$SIM" --state "$1" --create "${used_args[@]}" --realtime --bitbang-port 0 \
        --counters-file "$tmp/counters.json" --flash-op-log "$tmp/ops" \
        --quiet >"$tmp/sim.out" 2>"$tmp/sim.err" &
    sim_pid=$!
    for _ in $(seq 400); do # up to 20 s on a loaded machine
        grep -q "listening" "$tmp/sim.out" 2>/dev/null && break
        sleep 0.05
    done
    port=$(sed -n 's/.*bitbang=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sim.out")
    [ -n "$port" ] || { echo "bench-provision: sim did not start ($1):"; cat "$tmp/sim.out" "$tmp/sim.err"; exit 1; }
}
stop_sim() { # power off; the counters file is written at exit
    kill -TERM "$sim_pid"
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=""
}
counter() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$tmp/counters.json"; }
# What the chip's flash did (sim --flash-op-log, counters): "flash_ms erases erase_par progs
# prog_bytes", erase_par the parallelisms used (x8, x32/... or -), prog_bytes the sizes.
flash_work() {
    awk -v ns="$(counter flash_ns)" '
    / erase / { e++; par[$NF] = 1 }
    / program / { p++; sz[$NF] = 1 }
    END {
        ep = ""; for (k in par) ep = ep (ep == "" ? "" : "/") k
        ps = ""; for (k in sz) ps = ps (ps == "" ? "" : "/") k
        printf "%.0f %d %s %d %s\n", ns / 1e6, e, ep == "" ? "-" : ep, p, ps == "" ? "-" : ps
    }' "$tmp/ops"
}
now_ms() { date +%s%3N; }

OCD_ARGS=(-c "adapter driver remote_bitbang" -c "remote_bitbang host 127.0.0.1" -f target/stm32f4x.cfg
    -c "stm32f4x.cpu configure -event reset-start {}"
    -c "stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; mww 0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; mmw 0x40023808 0x00001000 0; mmw 0x40023808 0x00000002 0 }"
    -c "gdb_port disabled" -c "telnet_port disabled" -c "tcl_port disabled")

# N rounds; each: provision run, OpenOCD alone, OpenOCD start alone, each on a fresh chip
: >"$tmp/runs"
: >"$tmp/peer"
: >"$tmp/start"
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
    echo "$((t1 - t0)) $(counter dbg_round_trips) $(flash_work) $phases" >>"$tmp/runs"

    start_sim "$tmp/plain$i.state"
    t0=$(now_ms)
    openocd "${OCD_ARGS[@]}" -c "remote_bitbang port $port" \
        -c init -c "reset init" \
        -c "flash erase_address pad 0x08000000 $(stat -c %s "$BOOT")" \
        -c "flash erase_address pad $APP_ADDR $(stat -c %s "$tmp/app.img")" \
        -c "flash write_image $BOOT 0x08000000 bin" -c "verify_image $BOOT 0x08000000 bin" \
        -c "flash write_image $tmp/app.img $APP_ADDR bin" \
        -c "verify_image $tmp/app.img $APP_ADDR bin" -c shutdown >"$tmp/ocd.log" 2>&1 || {
        echo "bench-provision: openocd program failed:"
        cat "$tmp/ocd.log"
        exit 1
    }
    t1=$(now_ms)
    stop_sim
    [ "$(grep -c "verified [0-9]* bytes" "$tmp/ocd.log")" = 2 ] || { echo "bench-provision: no verify:"; cat "$tmp/ocd.log"; exit 1; }
    echo "$((t1 - t0)) $(counter dbg_round_trips) $(flash_work)" >>"$tmp/peer"

    start_sim "$tmp/start$i.state"
    t0=$(now_ms)
    openocd "${OCD_ARGS[@]}" -c "remote_bitbang port $port" -c init -c shutdown \
        >"$tmp/ocd-start.log" 2>&1 || {
        echo "bench-provision: openocd init failed:"
        cat "$tmp/ocd-start.log"
        exit 1
    }
    t1=$(now_ms)
    stop_sim
    echo "$((t1 - t0)) $(counter dbg_round_trips)" >>"$tmp/start"
done

read -r peer_ms peer_rt peer_fl peer_e peer_ep peer_p peer_ps < <(awk '{ m += $1; r += $2; f += $3; e += $4; p += $6; ep = $5; ps = $7 }
    END { printf "%.1f %.1f %.1f %.1f %s %.1f %s\n", m / NR, r / NR, f / NR, e / NR, ep, p / NR, ps }' "$tmp/peer")
read -r start_ms start_rt < <(awk '{ m += $1; r += $2 } END { printf "%.1f %.1f\n", m / NR, r / NR }' "$tmp/start")
awk -v n="$N" -v ocd_ms="$peer_ms" -v ocd_rt="$peer_rt" -v st_ms="$start_ms" -v st_rt="$start_rt" \
    -v ocd_fl="$peer_fl" -v ocd_e="$peer_e" -v ocd_ep="$peer_ep" -v ocd_p="$peer_p" -v ocd_ps="$peer_ps" \
    -v chips="$chips" -v bytes="$(stat -c %s "$BOOT")" -v app="$(stat -c %s "$tmp/app.img")" '
{
    wall += $1; rt += $2; fl += $3; er += $4; ep = $5; pr += $6; ps = $7
    for (i = 8; i <= NF; i++) { split($i, kv, ":"); ph[kv[1]] += kv[2]; if (!(kv[1] in seen)) { seen[kv[1]] = 1; order[++np] = kv[1] } }
}
END {
    w = wall / n; r = rt / n
    printf "bench-provision: %d devices, each round on %s virtual chips with --realtime flash\n  timings (DS9405 typical), through OpenOCD 0.12.0 -> remote_bitbang -> sim\n", n, chips
    printf "provision run: bootloader %d + application %d bytes (sealed at rest) + key slot over the\n  encrypted session, verify, RDP Level 2\n", bytes, app
    printf "  ms per device (whole provision process):   %6.0f\n", w
    for (i = 1; i <= np; i++) printf "    %-9s %6.0f ms%s\n", order[i], ph[order[i]] / n, order[i] == "identify" ? "  (includes starting OpenOCD)" : ""
    printf "  (reserve includes the install: the trusted side streams the erase and write frames\n   during its begin; erase and write show what is left after it)\n"
    printf "  flash busy per device (datasheet time):    %6.0f ms: %.1f erases at %s, %.0f program ops of %s bytes\n", fl / n, er / n, ep, pr / n, ps
    printf "  debug round trips per device:              %6.0f\n", r
    printf "OpenOCD alone: the same bootloader %d + application %d bytes unencrypted: reset init,\n  erase, flash write_image + verify_image each (whole openocd process)\n", bytes, app
    printf "  ms per device:                             %6.0f\n", ocd_ms
    printf "  flash busy per device (datasheet time):    %6.0f ms: %.1f erases at %s, %.0f program ops of %s bytes\n", ocd_fl, ocd_e, ocd_ep, ocd_p, ocd_ps
    printf "  debug round trips per device:              %6.0f\n", ocd_rt
    printf "OpenOCD start alone (init: scan chain, examine; exit), in both of the above:\n"
    printf "  ms:                                        %6.0f\n", st_ms
    printf "  debug round trips:                         %6.0f\n", st_rt
    printf "ratio provision / OpenOCD alone, whole processes:       %.2f  (goal <= 0.8)\n", w / ocd_ms
    printf "ratio with the OpenOCD start excluded from both sides:  %.2f  (%.0f ms vs %.0f ms)\n", (w - st_ms) / (ocd_ms - st_ms), w - st_ms, ocd_ms - st_ms
    printf "round trips provision / OpenOCD alone:                  %.2f  (%.0f vs %.0f; %.0f vs %.0f without the start)\n", r / ocd_rt, r, ocd_rt, r - st_rt, ocd_rt - st_rt
}' "$tmp/runs"
