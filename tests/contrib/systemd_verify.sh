#!/bin/bash
# contrib_systemd_verify: install the contrib component into a scratch prefix
# (as `make install` would, @BINDIR@ replaced at install time), then
# `systemd-analyze verify` the unit it wrote. verify wants ExecStart's binary
# to exist: a copy of /bin/true stands in for it. Any line verify prints about
# the unit fails the test (verify exits 0 on an unparsable value, printing it).
#
#   tests/contrib/systemd_verify.sh CMAKE BUILD_DIR
set -euo pipefail
cmake=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

"$cmake" --install "$build" --component contrib --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
unit=$prefix/lib/systemd/system/rtrace-drop.service
for f in "$unit" "$prefix"/share/rtrace-drop/contrib/{prometheus/rtrace-drop.rules.yml,prometheus/prometheus.yml,grafana/rtrace-drop.json,systemd/config.toml,kubernetes/daemonset.yaml,container/Containerfile,check_queries.py}; do
    [ -f "$f" ] || { echo "FAIL: make install did not write $f"; exit 1; }
done
grep -q "^ExecStart=$prefix/bin/rtrace-drop run " "$unit" || { echo "FAIL: ExecStart does not name $prefix/bin/rtrace-drop:"; grep ExecStart= "$unit"; exit 1; }
if grep -n '@[A-Z_]*@' "$unit"; then echo "FAIL: unsubstituted placeholder in $unit"; exit 1; fi

mkdir -p "$prefix/bin"
cp /bin/true "$prefix/bin/rtrace-drop"

# verify's lines about this unit (by name or path), and its status.
verify() {
    local out rc=0
    out=$(systemd-analyze verify --man=no "$1" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -F -e rtrace-drop || true
    [ "$rc" -eq 0 ] || echo "systemd-analyze verify exited $rc"
}

problems=$(verify "$unit")
if [ -n "$problems" ]; then
    echo "FAIL: systemd-analyze verify $unit:"
    printf '%s\n' "$problems"
    exit 1
fi

# The check itself catches a broken unit (a bad value, a missing binary).
mkdir "$tmp/broken"
sed 's/^ProtectSystem=strict$/ProtectSystem=bogus/' "$unit" > "$tmp/broken/rtrace-drop.service"
[ -n "$(verify "$tmp/broken/rtrace-drop.service")" ] || { echo "FAIL: verify did not report ProtectSystem=bogus"; exit 1; }
rm "$prefix/bin/rtrace-drop"
[ -n "$(verify "$unit")" ] || { echo "FAIL: verify did not report the missing binary"; exit 1; }

echo "OK: $unit verifies clean"
