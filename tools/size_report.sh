#!/bin/bash
# Print the device size table (text = code + rodata, data, bss per module) and check the budgets
# from the foundation issue: the RAM stub's crypto <= 6 KB, Ed25519 verify + SHA-512 <= 6 KB more.
set -euo pipefail
armdir=$1
shift
printf '%-36s %7s %6s %6s\n' "device module (-Os, cortex-m4)" text data bss
total=0
for o in "$@"; do
    read -r t d b _ < <(arm-none-eabi-size -B "$o" | tail -1)
    printf '%-36s %7d %6d %6d\n' "${o#"$armdir"/}" "$t" "$d" "$b"
    total=$((total + t))
done
printf '%-36s %7d\n' "all of lib/ (before link-time gc)" "$total"
echo
fail=0
# Flash footprint (text + rodata + data) of a budget image, less the probe's own budget_* code.
size_of() {
    local all probe
    all=$(arm-none-eabi-size -B "$1" | tail -1 | awk '{print $1 + $2}')
    probe=$(arm-none-eabi-nm -S "$1" | awk '$4 ~ /^budget_/ && $3 ~ /[Tt]/ {print $2}' |
        while read -r h; do echo $((16#$h)); done | awk '{s += $1} END {print s + 0}')
    echo $((all - probe))
}
stub=$(size_of "$armdir/budget/stub_crypto.elf")
ed=$(size_of "$armdir/budget/ed25519_verify.elf")
extra=$((ed - stub))
printf 'budget: stub crypto (X25519, ChaCha20-Poly1305, SHA-256, HMAC/HKDF, Noise NK) %5d / 6144 bytes\n' "$stub"
printf 'budget: Ed25519 verify + SHA-512, on top of the stub set              %5d / 6144 bytes\n' "$extra"
[ "$stub" -le 6144 ] || { echo "budget: FAIL stub crypto is over 6 KB"; fail=1; }
[ "$extra" -le 6144 ] || { echo "budget: FAIL Ed25519 verify is over 6 KB"; fail=1; }
exit $fail
