#!/bin/bash
# `make demo`: provision a virtual STM32F427 end to end, as a production line would: the
# product owner's bridge and a contract manufacturer's station, two processes, two folders.
#
#  1. the product owner (build/demo/bridge): a SoftHSM2 token with the demo recipe's keys (the
#     PIN sits in bridge/pin - it is a demo), the images sealed at rest, the station CA in the
#     token, the bridge's TLS certificate, `hsm-bridge serve` on 127.0.0.1;
#  2. the station (build/demo/station): a key and a certificate request, enrolled by the owner
#     with the right to run the demo batch; it holds its certificate, its key and the CA, and
#     nothing else;
#  3. a fresh virtual chip (build/host/bin/sim, its state file in build/demo);
#  4. `provision run --bridge` through unmodified OpenOCD (the probe is the station's);
#  5. what each side holds, the ledger row and the audit chain;
#  6. a power cycle: the bootloader boots the app; then OpenOCD trying to attach: refused.
# Everything it starts it stops. Rerunning starts from scratch (build/demo is recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
D=${PV_DEMO_DIR:-$ROOT/build/demo}
# The release build by default (make demo builds it); PV_DEMO_BIN picks another (a test build).
BIN=${PV_DEMO_BIN:-$ROOT/build/release/host/bin}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
PROVISION=$BIN/provision
BRIDGE=$BIN/hsm-bridge
SIM=$BIN/sim
PIDS=()

say() { printf '\n\033[1mdemo: %s\033[0m\n' "$*"; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

for f in "$PROVISION" "$BRIDGE" "$SIM" build/arm/firmware/bootloader.bin build/arm/stub-loader/stub.bin; do
    [ -e "$f" ] || { echo "demo: $f is missing: run make all release first" >&2; exit 1; }
done

# Starts the sim on the chip's state file ($1: extra arguments), waits for its listening line.
start_chip() {
    : >"$D/sim.out"
    "$SIM" --state "$D/chip.state" --bitbang-port 0 --usart-port 0 --quiet "$@" \
        >"$D/sim.out" 2>>"$D/sim.log" &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    for _ in $(seq 100); do
        grep -q 'sim: listening' "$D/sim.out" 2>/dev/null && break
        sleep 0.1
    done
    BITBANG=$(sed -n 's/.*bitbang=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/sim.out")
    USART=$(sed -n 's/.*usart=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/sim.out")
    [ -n "$BITBANG" ] && [ -n "$USART" ] || { echo "demo: the sim did not start" >&2; exit 1; }
}
stop_chip() { kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; }

rm -rf "$D"
mkdir -p "$D/tokens"
cat >"$D/softhsm2.conf" <<CONF
directories.tokendir = $D/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF=$D/softhsm2.conf
# With a test build (ASan), keep its leak report of SoftHSM2's own allocations quiet.
export LSAN_OPTIONS=${LSAN_OPTIONS:-print_suppressions=0}
echo 2468 >"$D/pin"
echo 13579246 >"$D/so-pin"
chmod 600 "$D/pin" "$D/so-pin"

# The demo recipe, with its images at their built places, both sealed at rest.
sed -e "s|image: ../build/arm/stub-loader/stub.bin|image: $ROOT/build/arm/stub-loader/stub.bin|" \
    -e "s|image: ../build/arm/firmware/bootloader.bin|image: $D/bootloader.sealed|" \
    -e "s|image: ../build/arm/firmware/app_v1.img|image: $D/app.sealed|" \
    -e "s|interface: ./openocd/|interface: $ROOT/recipes/openocd/|" \
    recipes/demo-stm32f427.yaml >"$D/demo-stm32f427.yaml"
RECIPE=$D/demo-stm32f427.yaml

say "a SoftHSM2 token with the recipe's keys ($D/tokens)"
"$PROVISION" keys init --recipe "$RECIPE" --pin-file "$D/pin" --so-pin-file "$D/so-pin"

say "the bootloader sealed at rest (AES-GCM under the token's at-rest key)"
"$PROVISION" keys seal --recipe "$RECIPE" --pin-file "$D/pin" \
    build/arm/firmware/bootloader.bin "$D/bootloader.sealed"

say "the demo application signed by the token's image-signing key, then sealed at rest"
"$PROVISION" image sign --pin-file "$D/pin" --in build/arm/firmware/app_v1.bin \
    --out "$D/app.img" --image-version 1.0.0 \
    --pkcs11 --token provision-demo --key-label image-signing
"$PROVISION" keys seal --recipe "$RECIPE" --pin-file "$D/pin" "$D/app.img" "$D/app.sealed"

say "a fresh virtual STM32F427"
start_chip --create
cat "$D/sim.out"

say "the product owner's bridge: station CA in the token, its own TLS certificate, hsm-bridge serve"
B=$D/bridge
mkdir -p "$B"
mv "$D/pin" "$D/so-pin" "$B/"
cat >"$B/bridge.yaml" <<CONF
listen: 127.0.0.1:0
tls: {cert: bridge.crt, key: bridge.key, station_ca: station-ca.crt}
token: {pin_file: pin}
ledger: ledger.db
products: [$RECIPE]
session_ttl_s: 120
CONF
"$BRIDGE" ca init --config "$B/bridge.yaml" --cn "demo station CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$B/bridge.key" \
    -subj /CN=bridge -out "$B/bridge.csr" 2>/dev/null
"$BRIDGE" tls-cert --config "$B/bridge.yaml" --csr "$B/bridge.csr" --san 127.0.0.1 \
    -o "$B/bridge.crt"
"$BRIDGE" serve --config "$B/bridge.yaml" 2>"$B/serve.log" &
BRIDGE_PID=$!
PIDS+=("$BRIDGE_PID")
for _ in $(seq 100); do
    grep -q 'listening on' "$B/serve.log" 2>/dev/null && break
    sleep 0.1
done
URL=$(sed -n 's/.*listening on \(https:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$B/serve.log" | head -1)
[ -n "$URL" ] || { cat "$B/serve.log" >&2; echo "demo: the bridge did not start" >&2; exit 1; }
echo "bridge: $URL"

say "the station: a key pair and a request; the owner enrolls it for batch demo-001"
S=$D/station
mkdir -p "$S"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$S/station.key" \
    -subj /CN=line-1 -out "$S/station.csr" 2>/dev/null
"$BRIDGE" station enroll demo-line-1 --csr "$S/station.csr" --rights pv-demo-sensor/demo-001 \
    --config "$B/bridge.yaml" -o "$S/station.crt"
cp "$B/station-ca.crt" "$S/ca.crt"
cp recipes/openocd/sim-remote-bitbang.cfg "$S/adapter.cfg"
"$BRIDGE" station list --config "$B/bridge.yaml"
# The station's configuration: bridge, certificate, key, probe, product and batch; nothing else.
cat >"$S/station.yaml" <<CONF
bridge: {url: "$URL", ca: ca.crt}
cert: station.crt
key: station.key
product: pv-demo-sensor
batch: demo-001
probe:
  target: openocd
  openocd:
    interface: adapter.cfg
    target: target/stm32f4x.cfg
    commands:
      - "stm32f4x.cpu configure -event reset-start {}"
      - "stm32f4x.cpu configure -event reset-init { mww 0x40023804 0x08012008; mww 0x40023C00 0x00000102; mmw 0x40023800 0x01000000 0; sleep 10; mmw 0x40023808 0x00001000 0; mmw 0x40023808 0x00000002 0 }"
CONF

say "provision run --bridge, through OpenOCD $(openocd --version 2>&1 | head -1 | awk '{print $4}') (remote_bitbang JTAG)"
# The station's process gets no token configuration and no PIN.
env -u SOFTHSM2_CONF -u PROVISION_PIN "$PROVISION" run --config "$S/station.yaml" \
    -c "remote_bitbang port $BITBANG"

say "what each side holds"
echo "station ($S): $(cd "$S" && ls | tr '\n' ' ')- its configuration, certificate, key, the CA and the adapter's OpenOCD file; no token, PIN, recipe, image or ledger"
echo "bridge  ($B): $(cd "$B" && ls | tr '\n' ' ')- and the token's keys"
sed -n 's/^/bridge log: /p' "$B/serve.log" | tail -6

say "the ledger row (the bridge's ledger)"
"$PROVISION" ledger list --ledger "$B/ledger.db"
# The audit chain's signatures, checked against the token's audit key (public half only).
"$PROVISION" keys export --recipe "$RECIPE" --pin-file "$B/pin" --key audit -o "$D/audit.pem"
"$PROVISION" ledger verify --ledger "$B/ledger.db" --key "$D/audit.pem"
kill -TERM "$BRIDGE_PID"
wait "$BRIDGE_PID" 2>/dev/null || true

say "power cycle: the bootloader checks the key slot and the application, and boots it (USART1)"
stop_chip
start_chip --gdb-port 0
GDBPORT=$(sed -n 's/.*gdb=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/sim.out")
exec 3<>"/dev/tcp/127.0.0.1/$USART"
timeout 3 cat <&3 >"$D/usart.log" || true
exec 3<&-
tr -d '\r' <"$D/usart.log" | sed -n '1,8p;' | sed 's/^/usart: /'

say "a debugger tries to attach (unmodified OpenOCD)"
set +e
timeout 30 openocd -c "adapter driver remote_bitbang" -c "remote_bitbang host 127.0.0.1" \
    -c "remote_bitbang port $BITBANG" -f target/stm32f4x.cfg \
    -c "stm32f4x.cpu configure -event reset-start {}" -c "gdb_port disabled" \
    -c "telnet_port disabled" -c "tcl_port disabled" -c init -c "mdw 0x08000000" -c shutdown \
    >"$D/openocd-attach.log" 2>&1
rc=$?
set -e
grep -E "Error|JTAG scan chain|not examined" "$D/openocd-attach.log" | head -4
echo "openocd exit status $rc"
if command -v gdb-multiarch >/dev/null; then
    say "and GDB, on the chip's GDB server"
    timeout 30 gdb-multiarch -nx -batch -ex "target extended-remote 127.0.0.1:$GDBPORT" \
        -ex "x/4x 0x08000000" 2>&1 | grep -v '^$' | head -3 || true
    grep -h 'RDP Level 2' "$D/sim.log" | tail -1 || true
fi
say "provision info on the locked chip"
"$PROVISION" info --probe openocd -c "remote_bitbang port $BITBANG" \
    --recipe "$RECIPE" --ledger "$B/ledger.db" 2>&1 || true
stop_chip
say "done: chip $D/chip.state is provisioned and locked (RDP Level 2); ledger $B/ledger.db"
