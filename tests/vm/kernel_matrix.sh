#!/usr/bin/env bash
# Regenerates the rule x kernel matrix (docs/KERNELS.md, rules/*/tests/matrix.json):
# every pack's cases run by `rtrace-drop test` on this machine's kernel and
# inside QEMU guests booting Debian 12's 6.1 and 6.12 (tests/vm/vm.sh),
# where function probes work. Root; about 10-20 minutes.
#   tests/vm/kernel_matrix.sh [BINARY]      (default build/plain/rtrace-drop)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build/plain/rtrace-drop}
out=$PWD/${MATRIX_DIR:-build/kernel-matrix}
mkdir -p "$out"
rm -f "$out"/*.json
"$bin" list rules > "$out/rules.txt" 2>/dev/null
echo "kernel_matrix: this machine ($(uname -r))" >&2
# -v: a failed case's run and events go to the log (stderr), to see why.
"$bin" test -v --json rules > "$out/host.json" || echo "kernel_matrix: some cases failed here" >&2
for k in ${MATRIX_KERNELS:-6.1 6.12}; do
    echo "kernel_matrix: Debian's $k in QEMU" >&2
    VM_RW_DIRS="$out" VM_TIMEOUT=${VM_TIMEOUT:-3000} RTRACE_DROP_REQUIRE_KERNEL=1 \
        tests/vm/vm.sh run "$k" -- sh -c "$bin test -v --json rules > $out/guest-$k.json" ||
        echo "kernel_matrix: some cases failed on $k" >&2
done
python3 tests/vm/kernel_matrix.py --rules "$out/rules.txt" --docs docs/KERNELS.md --packs rules "$out/host.json" "$out"/guest-*.json
