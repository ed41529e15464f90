#!/bin/bash
# Size table of the firmware images and the bootloader's flash budget: text/data/bss per image,
# what each module contributes to the bootloader (from the link map), and the flash footprint
# (bootloader.bin, padding included) against the budget. Exits 1 over budget.
# Usage: firmware/size_report.sh BUDGET bootloader.bin bootloader.elf bootloader.map [app.elf...]
set -euo pipefail
budget=$1 bin=$2 elf=$3 map=$4
shift 4
printf '%-36s %7s %6s %6s\n' "firmware image (-Os, cortex-m4)" text data bss
for e in "$elf" "$@"; do
    read -r t d b _ < <(arm-none-eabi-size -B "$e" | tail -1)
    printf '%-36s %7d %6d %6d\n' "$(basename "$e")" "$t" "$d" "$b"
done
echo "bootloader flash by module (code + constants, after --gc-sections):"
# Map lines after "Linker script and memory map" (before it: discarded sections):
# " .text.name  0xADDR  0xSIZE  file.o", or the name alone with the rest on the next line.
awk '
    function hex(s,    v, i, c) {
        v = 0; s = tolower(substr(s, 3))
        for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
        return v
    }
    function add(size, file) { n = split(file, p, "/"); sum[p[n]] += hex(size) }
    /^Linker script and memory map/ { linked = 1 }
    !linked { next }
    /^ \.(text|rodata|isr_vector|pv_layout)/ {
        if (NF >= 4) { add($3, $4) } else if (NF == 1) { pending = 1 }
        next
    }
    pending && NF >= 3 && $1 ~ /^0x/ { add($2, $3) }
    { pending = 0 }
    END { for (f in sum) if (sum[f] > 0) printf "  %-30s %6d\n", f, sum[f] }
' "$map" | sort -k2 -n -r
size=$(stat -c %s "$bin")
printf 'budget: bootloader flash (bootloader.bin)  %5d / %d bytes\n' "$size" "$budget"
if [ "$size" -gt "$budget" ]; then
    echo "budget: FAIL the bootloader is over its $budget-byte budget"
    exit 1
fi
