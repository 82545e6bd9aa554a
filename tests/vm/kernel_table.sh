#!/usr/bin/env bash
# Writes docs/KERNELS.md's table: how each shipped rule attaches on this
# machine's kernel and on Debian 12's 6.1 and 6.12 (run inside the guest),
# from `rtrace-drop -l`. Usage: tests/vm/kernel_table.sh [BINARY] > table.md
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build/release/rtrace-drop}
work=$(mktemp -d /tmp/rtd-kernel-table.XXXXXX)
trap 'rm -rf "$work"' EXIT

# "    rule.id   probes...   how" -> "rule.id<TAB>how"
methods() {
    awk '/^    [a-z0-9_]+\.[a-z0-9_.]+ / {
        id = $1; line = $0
        # the method column: the part after the probes (two or more spaces apart)
        n = split(line, parts, /  +/)
        how = parts[n]
        if (how ~ /^\(instead of/) how = parts[n-1]
        print id "\t" how
    }'
}
"$bin" -l 2>/dev/null | methods > "$work/host"
host_release=$(uname -r)
for k in 6.1 6.12; do
    tests/vm/vm.sh run "$k" -- sh -c "uname -r; $bin -l 2>/dev/null" > "$work/raw-$k"
    head -1 "$work/raw-$k" > "$work/release-$k"
    tail -n +2 "$work/raw-$k" | methods > "$work/$k"
done
printf '| rule | %s (this machine) | %s | %s |\n| --- | --- | --- | --- |\n' "$host_release" "$(cat "$work/release-6.1")" "$(cat "$work/release-6.12")"
join -t $'\t' -a 1 -e '—' -o 0,1.2,2.2 <(sort "$work/host") <(sort "$work/6.1") > "$work/j1"
join -t $'\t' -a 1 -e '—' -o 0,1.2,1.3,2.2 "$work/j1" <(sort "$work/6.12") |
    awk -F'\t' '$2 != "polled" { printf "| `%s` | %s | %s | %s |\n", $1, $2, $3, $4 }'  # monitors: polled everywhere
