#!/usr/bin/env bash
# Scrape cost of `run --metrics` with a full label table: the agent runs
# every shipped pack with --metrics on 127.0.0.1 and --quiet, is scraped
# SCRAPES times as it starts (the baseline: only the series the host's own
# drops made), then bench/fill_drops puts SERIES label sets into its
# rtd_drops and it is scraped SCRAPES times again. Prints the scrape time
# (curl's time_total: connect, the exporter reading the kernel's maps,
# serialising, transfer) median and p90 for both, as ratios, the series a
# scrape returns, `promtool check metrics` on the big scrape, and the
# agent's RSS before and after. Needs root; touches no network but
# 127.0.0.1.
#
#   sudo bench/scrape_bench.sh [BUILD_DIR=build/release] [SERIES=10000] [SCRAPES=50]
#   env: SCRAPE_RESULTS=FILE  also append "key value" lines there (bench/bench_all.sh)
#
# Target (issue 17): a scrape of 10,000 series under 50 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
SERIES=${2:-10000}
SCRAPES=${3:-50}
BIN=$(realpath "$BUILD/rtrace-drop")
FILL=$BUILD/bench/fill_drops
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/rtd-scrape.XXXXXX)
AGENT=
cleanup() {
  [ -n "$AGENT" ] && kill -9 "$AGENT" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for f in "$BIN" "$FILL"; do [ -x "$f" ] || { echo "scrape_bench: build $f first (make build)"; exit 1; }; done
for tool in curl promtool; do command -v $tool > /dev/null || { echo "scrape_bench: needs $tool (make deps installs it)"; exit 1; }; done
[ "$(id -u)" -eq 0 ] || { echo "scrape_bench: needs root"; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing

PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT/metrics
"$BIN" run --metrics "127.0.0.1:$PORT" --metrics-max-series $(( SERIES + 1000 )) --quiet --ready-file "$WORK/ready" \
  > "$WORK/out" 2> "$WORK/err" &
AGENT=$!
for _ in $(seq 1200); do
  [ -e "$WORK/ready" ] && break
  kill -0 "$AGENT" 2>/dev/null || { echo "scrape_bench: the agent exited:"; cat "$WORK/err"; exit 1; }
  sleep 0.1
done
[ -e "$WORK/ready" ] || { echo "scrape_bench: the agent was not ready in 120 s"; exit 1; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$AGENT/status"; }

# scrapes NAME: SCRAPES timed scrapes (ms, one per line, in $WORK/NAME), the last one kept
scrapes() {
  for _ in $(seq "$SCRAPES"); do
    curl -sf -o "$WORK/$1.txt" -w '%{time_total}\n' "$URL" | awk '{ printf "%.3f\n", $1 * 1000 }' >> "$WORK/$1"
  done
}
series() { grep -vc '^#' "$WORK/$1.txt"; }
quantile() { sort -n "$WORK/$1" | awk -v q="$2" '{ a[NR] = $1 } END { i = int(q * (NR - 1)) + 1; print a[i] }'; }

curl -sf -o /dev/null "$URL"  # the exporter's first request (its thread warms up)
rss0=$(rss_kb)
scrapes base
"$FILL" "$AGENT" "$SERIES" > /dev/null
scrapes full
sleep 2
rss1=$(rss_kb)
promtool_out=$(promtool check metrics < "$WORK/full.txt" 2>&1) && lint=clean || lint="not clean: $promtool_out"
kill -INT "$AGENT"; wait "$AGENT" || true
AGENT=

base_series=$(series base) full_series=$(series full)
b50=$(quantile base 0.5) b90=$(quantile base 0.9) f50=$(quantile full 0.5) f90=$(quantile full 0.9)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
met=$(awk -v a="$f50" 'BEGIN { print (a < 50) ? "yes" : "NO" }')
echo "scrape of /metrics, $SCRAPES scrapes each, every pack loaded (curl time_total, ms):"
printf '%-44s %12s %12s %8s\n' "" "median ms" "p90 ms" "series"
printf '%-44s %12s %12s %8s\n' "the host's own drops only (baseline)" "$b50" "$b90" "$base_series"
printf '%-44s %12s %12s %8s\n' "+ $SERIES label sets in rtd_drops" "$f50" "$f90" "$full_series"
echo "ratio full / baseline: median $(ratio "$f50" "$b50"), p90 $(ratio "$f90" "$b90"); target: median < 50 ms with $SERIES series: $met"
echo "promtool check metrics on the full scrape: $lint"
awk -v a="$rss0" -v b="$rss1" -v n="$SCRAPES" 'BEGIN { printf "agent RSS: %.1f MB before the fill, %.1f MB 2 s after %d scrapes of the full table\n", a / 1024, b / 1024, n }'
if [ -n "${SCRAPE_RESULTS:-}" ]; then
  {
    while read -r v; do echo "scrape.base $v"; done < "$WORK/base"
    while read -r v; do echo "scrape.full $v"; done < "$WORK/full"
    echo "scrape.series $full_series"
    echo "scrape.rss0 $rss0"
    echo "scrape.rss1 $rss1"
  } >> "$SCRAPE_RESULTS"
fi
