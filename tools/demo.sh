#!/bin/bash
# `make demo`: what the project can show end to end today.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: device crypto core for Cortex-M4 (sizes and budgets)"
cat build/arm/size-report.txt
if [ -x build/host/bin/sim ]; then
    echo
    echo "demo: the virtual STM32F427"
    build/host/bin/sim --help | head -20
fi
echo
echo "demo: end-to-end provisioning of a virtual STM32F427 arrives with the station tool (issue 6)."
