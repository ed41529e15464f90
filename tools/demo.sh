#!/bin/bash
# `make demo`: provision a virtual STM32F427 end to end, as a production station would.
#
#  1. a SoftHSM2 token with the demo recipe's keys, in build/demo (own SOFTHSM2_CONF and token
#     directory; the PIN sits in build/demo/pin - it is a demo);
#  2. the bootloader sealed at rest under the token's at-rest key;
#  3. a fresh virtual chip (build/host/bin/sim, its state file in build/demo);
#  4. `provision run` through unmodified OpenOCD (the recipe's openocd backend);
#  5. the UID, image digest, RDP level and ledger row; the bootloader's first words;
#  6. a power cycle, then OpenOCD trying to attach: refused, RDP Level 2.
# Everything it starts it stops. Rerunning starts from scratch (build/demo is recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
D=$ROOT/build/demo
PROVISION=$ROOT/build/host/bin/provision
SIM=$ROOT/build/host/bin/sim
PIDS=()

say() { printf '\n\033[1mdemo: %s\033[0m\n' "$*"; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

for f in "$PROVISION" "$SIM" build/arm/firmware/bootloader.bin build/arm/stub-loader/stub.bin; do
    [ -e "$f" ] || { echo "demo: $f is missing: run make all first" >&2; exit 1; }
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
# The tools are the test build (ASan): keep its leak report of SoftHSM2's own allocations quiet.
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
PV_PKCS11_PIN=$(cat "$D/pin") "$PROVISION" image sign --in build/arm/firmware/app_v1.bin \
    --out "$D/app.img" --image-version 1.0.0 \
    --pkcs11 --token provision-demo --key-label image-signing
"$PROVISION" keys seal --recipe "$RECIPE" --pin-file "$D/pin" "$D/app.img" "$D/app.sealed"

say "a fresh virtual STM32F427"
start_chip --create
cat "$D/sim.out"

# OpenOCD is the recipe's backend; older trees without it fall back to the sim's GDB server.
if grep -q pv_probe_openocd_ops provisioner/probe_openocd.c 2>/dev/null; then
    say "provision run, through OpenOCD $(openocd --version 2>&1 | head -1 | awk '{print $4}') (remote_bitbang JTAG)"
    PROBE=(--probe openocd -c "remote_bitbang port $BITBANG")
else
    say "provision run, through the sim's GDB server (the OpenOCD backend is not in this tree yet)"
    stop_chip
    start_chip --gdb-port 0
    PROBE=(--probe "gdb:127.0.0.1:$(sed -n 's/.*gdb=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/sim.out")")
fi
"$PROVISION" run --recipe "$RECIPE" "${PROBE[@]}" --ledger "$D/ledger.db" \
    --station demo-station --pin-file "$D/pin"

say "the ledger row"
"$PROVISION" ledger list --ledger "$D/ledger.db"
# The audit chain's signatures, checked against the token's audit key (public half only).
"$PROVISION" keys export --recipe "$RECIPE" --pin-file "$D/pin" --key audit -o "$D/audit.pem"
"$PROVISION" ledger verify --ledger "$D/ledger.db" --key "$D/audit.pem"

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
    --recipe "$RECIPE" --ledger "$D/ledger.db" 2>&1 || true
stop_chip
say "done: chip $D/chip.state is provisioned and locked (RDP Level 2); ledger $D/ledger.db"
