#!/bin/bash
# Size report and budget check of the RAM stub (run by stub-loader.mk after the link).
#   stub_budget.sh STUB.elf STUB.bin RESERVED_STACK "INDIRECT_TARGETS" FILE.ci...
# Prints text+rodata (= stub.bin, what is loaded), bss, the worst-case stack depth computed from
# GCC's -fcallgraph-info=su call graphs (-fstack-usage figures per function, summed along the
# deepest call path from stub_main; indirect calls count as the deepest of INDIRECT_TARGETS, the
# Noise provider's functions), then the SRAM plan: image, bss, stack, mailbox and the two frame
# slots the host gets out of the SRAM budget (PV_STUB_SRAM_BUDGET). Fails (exit 1) if text+rodata exceeds 8 KB, the
# computed stack exceeds the reserved one, or less than 2 KB per slot would remain.
set -euo pipefail
elf=$1 bin=$2 reserved=$3 indirect=$4
shift 4

TEXT_BUDGET=8192
MIN_SLOT=2048

sym() { arm-none-eabi-nm "$elf" | awk -v s="$1" '$3 == s {print $1}'; }
hex() { echo $((16#$1)); }
base=$(hex "$(sym __stub_start)")
bss=$(($(hex "$(sym __bss_end)") - $(hex "$(sym __bss_start)")))
ram_end=$(hex "$(sym __stub_ram_end)")
image=$(stat -c %s "$bin")
# PV_MBOX_LEN and PV_STUB_SRAM_BUDGET from the shared wire-format header, evaluated by the shell.
mbox=$(printf '#include "proto/proto.h"\nPV_MBOX_LEN\n' | arm-none-eabi-gcc -E -P -Ilib - |
    tail -1 | tr -d 'u')
mbox=$((mbox))
SRAM_BUDGET=$(printf '#include "proto/proto.h"\nPV_STUB_SRAM_BUDGET\n' | arm-none-eabi-gcc -E -P -Ilib - |
    tail -1 | tr -d 'u')
SRAM_BUDGET=$((SRAM_BUDGET))

# Worst-case stack: nodes "title" with "N bytes (static|dynamic...)", edges caller -> callee.
# GCC titles static functions "file:name", so titles are unique across files. Assembly routines
# (stub_idle) have no node: 32 bytes are assumed for each callee without one.
stack_report=$(awk -v indirect="$indirect" '
/^node:/ {
    t = $0; sub(/.*title: "/, "", t); sub(/".*/, "", t)
    if (!match($0, /[0-9]+ bytes \([a-z,]+\)/)) next   # declared here, defined elsewhere
    split(substr($0, RSTART, RLENGTH), w, " ")
    q = w[3]; gsub(/[()]/, "", q)
    bytes[t] = w[1] + 0; qual[t] = q; byname[name(t)] = t
    next
}
/^edge:/ {
    s = $0; sub(/.*sourcename: "/, "", s); sub(/".*/, "", s)
    d = $0; sub(/.*targetname: "/, "", d); sub(/".*/, "", d)
    nc[s]++; callee[s, nc[s]] = d
}
function name(t) { sub(/.*:/, "", t); return t }
function depth(k,   i, j, n, m, d, c, tg) {
    if (k in memo) return memo[k]
    if (k in active) { print "RECURSION " name(k); bad = 1; return 0 }
    if (!(k in bytes)) { unknown[name(k)] = 1; return 32 }
    if (qual[k] != "static") { print "DYNAMIC " name(k) " " qual[k]; bad = 1 }
    active[k] = 1
    m = 0; best[k] = ""
    for (i = 1; i <= nc[k]; i++) {
        c = callee[k, i]
        n = c == "__indirect_call" ? split(indirect, tg, " ") : 1
        if (c != "__indirect_call") tg[1] = c
        for (j = 1; j <= n; j++) {
            if (tg[j] in byname) tg[j] = byname[tg[j]]
            d = depth(tg[j])
            if (d > m) { m = d; best[k] = tg[j] }
        }
    }
    delete active[k]
    memo[k] = bytes[k] + m
    return memo[k]
}
END {
    total = depth("stub_main")
    for (k = "stub_main"; k != ""; k = best[k])
        path = path (path == "" ? "" : " > ") name(k) "(" (k in bytes ? bytes[k] : 32) ")"
    for (u in unknown) un = un " " u
    print "STACK " total
    print "PATH " path
    if (un != "") print "UNKNOWN" un " (no call graph: 32 bytes assumed each)"
    if (bad) print "BAD"
}' "$@")
stack=$(sed -n 's/^STACK //p' <<<"$stack_report")
path=$(sed -n 's/^PATH //p' <<<"$stack_report")

slot0=$(((ram_end + mbox + 7) & ~7))
slot=$((((base + SRAM_BUDGET - slot0) / 2) & ~7))
fail=0
printf 'stub: text+rodata %5d / %d bytes (stub.bin)\n' "$image" "$TEXT_BUDGET"
printf 'stub: data            0 bytes (the linker script refuses initialised data)\n'
printf 'stub: bss         %5d bytes\n' "$bss"
printf 'stub: stack       %5d bytes worst case (-fstack-usage call graph), %d reserved\n' \
    "$stack" "$reserved"
printf 'stub:   deepest path: %s\n' "$path"
grep -E '^(UNKNOWN|RECURSION|DYNAMIC)' <<<"$stack_report" | sed 's/^/stub:   /' || true
printf 'stub: SRAM plan   image %d + bss %d + stack %d + mailbox %d + 2 slots x %d = %d / %d bytes\n' \
    "$image" "$bss" "$reserved" "$mbox" "$slot" $((slot0 - base + 2 * slot)) "$SRAM_BUDGET"
[ "$image" -le "$TEXT_BUDGET" ] || { echo "stub: FAIL text+rodata over $TEXT_BUDGET bytes"; fail=1; }
[ -n "$stack" ] && [ "$stack" -le "$reserved" ] ||
    { echo "stub: FAIL worst-case stack $stack over the $reserved reserved (STUB_STACK)"; fail=1; }
grep -q '^BAD' <<<"$stack_report" && { echo "stub: FAIL stack not bounded statically"; fail=1; }
[ "$slot" -ge "$MIN_SLOT" ] || { echo "stub: FAIL slots of $slot bytes, under $MIN_SLOT"; fail=1; }
exit $fail
