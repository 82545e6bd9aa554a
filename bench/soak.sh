#!/usr/bin/env bash
# Soak: every shipped pack loaded (plus a counting rule whose drops the
# kernel also counts) through a bounded drop storm between two namespaces
# this script makes. Prints RSS every INTERVAL, then checks that memory
# stayed flat, that no drop went uncounted (rule DROPS == the kernel's UDP
# NoPorts delta, EVENTS + LOST == DROPS), that Ctrl-C ends it with status 0
# and that nothing of ours stays in the kernel. Not part of `make test`.
#
# METRICS=1 runs it as the systemd unit does (`--metrics 127.0.0.1:PORT
# --quiet`: the kernel counts, no event leaves it) and scrapes /metrics every
# SCRAPE_EVERY seconds (default 1) the whole time, like a Prometheus: then
# the last scrape's rtrace_drop_drops_total for the rule must equal the
# kernel's NoPorts delta too, and no scrape may fail.
#
#   sudo [METRICS=1] bench/soak.sh [path/to/rtrace-drop] [SECONDS=600] [INTERVAL=10]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/release/rtrace-drop}
SECONDS_TOTAL=${2:-600}
INTERVAL=${3:-10}
PY=/usr/bin/python3
NS_A=rtd-soak-$$-a NS_B=rtd-soak-$$-b DEV_A=rtdsk$$a DEV_B=rtdsk$$b
WORK=$(mktemp -d /tmp/rtd-soak.XXXXXX)
METRICS=${METRICS:-}
SCRAPE_EVERY=${SCRAPE_EVERY:-1}
cleanup() {
  [ -n "${SCRAPER:-}" ] && kill "$SCRAPER" 2>/dev/null || true
  [ -n "${TRACER:-}" ] && kill -9 "$TRACER" 2>/dev/null || true
  [ -n "${STORM:-}" ] && kill "$STORM" 2>/dev/null || true
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$DEV_A" type veth peer name "$DEV_B"
ip link set "$DEV_A" netns "$NS_A"
ip link set "$DEV_B" netns "$NS_B"
ip -n "$NS_A" addr add 10.251.0.1/24 dev "$DEV_A"
ip -n "$NS_B" addr add 10.251.0.2/24 dev "$DEV_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$DEV_A" up
ip -n "$NS_B" link set "$DEV_B" up
# A second kind of drop: iptables DROP of TCP SYNs to port 5555 in B.
ip netns exec "$NS_B" iptables -A INPUT -p tcp --dport 5555 -j DROP

no_ports() {  # B's Udp NoPorts
  ip netns exec "$NS_B" awk '/^Udp:/ { if (h) { for (i = 2; i <= NF; i++) if (n[i] == "NoPorts") print $i; exit } ; h = 1; for (i = 2; i <= NF; i++) n[i] = $i }' /proc/net/snmp
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

mode=(--summary)
if [ -n "$METRICS" ]; then
  PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL=http://127.0.0.1:$PORT/metrics
  mode=(--metrics "127.0.0.1:$PORT" --quiet)
fi
"$BIN" run rules tests/data/e2e/udp_noport.rule "${mode[@]}" --ready-file "$WORK/ready" > "$WORK/out" 2> "$WORK/err" &
TRACER=$!
for _ in $(seq 600); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
[ -e "$WORK/ready" ] || { echo "soak: rtrace-drop did not get ready"; cat "$WORK/err"; exit 1; }
before=$(no_ports)
# The scraper: one line per scrape, its ms or "failed".
scraped_drops() {  # e2e.udp_noport's drops in a scrape file
  awk '/^rtrace_drop_drops_total\{/ && /rule="e2e.udp_noport"/ { s += $NF } END { printf "%.0f\n", s }' "$1"
}
if [ -n "$METRICS" ]; then
  (
    while :; do
      t=$(curl -sf -o "$WORK/scrape.txt" -w '%{time_total}' "$URL") && echo "$t" | awk '{ printf "%.3f\n", $1 * 1000 }' || echo failed
      sleep "$SCRAPE_EVERY"
    done >> "$WORK/scrapes"
  ) &
  SCRAPER=$!
fi

# The storm: UDP to a closed port (NO_SOCKET) and SYNs into the DROP rule,
# until the time is up. Bounded: only inside the two namespaces.
(
  end=$(( $(date +%s) + SECONDS_TOTAL ))
  while [ "$(date +%s)" -lt "$end" ]; do
    ip netns exec "$NS_A" "$PY" tests/e2e/traffic.py udp-flood 10.251.0.2 7777 20000 16 > /dev/null
    ip netns exec "$NS_A" "$PY" tests/e2e/traffic.py tcp-connect 10.251.0.2 5555 0.2 > /dev/null
  done
) &
STORM=$!

echo "soak: $SECONDS_TOTAL s, every pack + e2e.udp_noport ${mode[*]}, RSS every $INTERVAL s"
samples=()
t0=$(date +%s)
while kill -0 "$STORM" 2>/dev/null; do
  sleep "$INTERVAL"
  kill -0 "$TRACER" 2>/dev/null || { echo "soak: rtrace-drop died"; cat "$WORK/err"; exit 1; }
  r=$(rss_kb "$TRACER")
  samples+=("$r")
  printf 'soak: t=%4ss rss=%6s kB dropped so far=%s\n' "$(( $(date +%s) - t0 ))" "$r" "$(( $(no_ports) - before ))"
done
wait "$STORM" || true
STORM=
sleep 1
dropped=$(( $(no_ports) - before ))
if [ -n "$METRICS" ]; then
  kill "$SCRAPER" 2>/dev/null || true; wait "$SCRAPER" 2>/dev/null || true
  SCRAPER=
  curl -sf -o "$WORK/final.txt" "$URL" || : > "$WORK/final.txt"
  scraped=$(scraped_drops "$WORK/final.txt")
  scrapes=$(wc -l < "$WORK/scrapes")
  failed=$(grep -c failed "$WORK/scrapes" || true)
  median_ms=$(grep -v failed "$WORK/scrapes" | sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : "n/a" }')
fi
kill -INT "$TRACER"
status=0
wait "$TRACER" || status=$?
TRACER=

row=$(grep -E '^e2e\.udp_noport ' "$WORK/err" | tail -1)
read -r _ hits drops events lost noise _ <<< "$row"
n=${#samples[@]}
first=${samples[$(( n > 6 ? 5 : 0 ))]}   # after the first minute: caches warm
last=${samples[$(( n - 1 ))]}
max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
growth=$(( last - first ))
sleep 2  # the kernel frees maps and programs in deferred work after the last close
leftover=$( { bpftool prog show; bpftool map show; } | grep -c ' name rtd_' || true)

echo "soak: kernel NoPorts delta $dropped; rule drops $drops, events $events, lost $lost"
[ -n "$METRICS" ] && echo "soak: last scrape's rtrace_drop_drops_total $scraped; $scrapes scrapes, $failed failed, median $median_ms ms"
echo "soak: RSS after 1 min $first kB, at the end $last kB (growth $growth kB), peak $max kB"
echo "soak: exit status $status; BPF programs/maps of ours left: $leftover"
echo "soak: RSS target (issue 17: under 40 MB with every pack): $(( last < 40960 ? 1 : 0 ))" | sed 's/: 1$/: met/; s/: 0$/: NOT met/'
fail=0
[ "$drops" = "$dropped" ] || { echo "soak: FAIL: drops $drops != kernel count $dropped"; fail=1; }
if [ -n "$METRICS" ]; then  # --quiet: no event leaves the kernel
  [ "$scraped" = "$dropped" ] || { echo "soak: FAIL: scraped drops $scraped != kernel count $dropped"; fail=1; }
  [ "$failed" = 0 ] && [ "$scrapes" -gt 0 ] || { echo "soak: FAIL: $failed of $scrapes scrapes failed"; fail=1; }
  [ $(( events + lost )) = 0 ] || { echo "soak: FAIL: --quiet sent $events events"; fail=1; }
else
  [ $(( events + lost )) = "$drops" ] || { echo "soak: FAIL: events + lost != drops"; fail=1; }
fi
[ "$growth" -le 4096 ] || { echo "soak: FAIL: RSS grew by $growth kB"; fail=1; }
[ "$status" = 0 ] || { echo "soak: FAIL: exit status $status"; tail -20 "$WORK/err"; fail=1; }
[ "$leftover" = 0 ] || { echo "soak: FAIL: BPF objects left behind"; fail=1; }
[ "$fail" = 0 ] && echo "soak: PASS"
exit "$fail"
