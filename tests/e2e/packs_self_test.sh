#!/bin/sh
# Every shipped pack's own cases (rules/*/tests/*.toml, docs/PACKS.md) on
# this kernel: rules it cannot run are skipped, every other case must pass.
# The results (JSON, JUnit) go to OUT_DIR/host.* for the kernel matrix
# (tests/vm/kernel_matrix.py). Usage: packs_self_test.sh RTRACE_DROP RULES_DIR OUT_DIR
set -u
binary=$1 rules=$2 out=$3
if [ "$(id -u)" -ne 0 ]; then
  [ "${RTRACE_DROP_REQUIRE_KERNEL:-}" = 1 ] && { echo "needs root (RTRACE_DROP_REQUIRE_KERNEL=1)"; exit 1; }
  echo "skipped: needs root"; exit 77
fi
mkdir -p "$out"
XDG_CACHE_HOME=${XDG_CACHE_HOME:-/tmp/rtd-e2e-cache} "$binary" test -v --json --junit "$out/host.xml" "$rules" > "$out/host.json.tmp"
status=$?
mv "$out/host.json.tmp" "$out/host.json"
python3 -c "
import json, sys
r = json.load(open('$out/host.json'))
for c in r['cases']:
    for row in c['rows']:
        print(f\"{row['rule']:<28} {c['pack'] + '/' + c['case']:<48} {row['result']:<8} {row['fired']:>5}  {row['expected']:<6} {row['note']}\")
print(r['totals'])"
exit $status
