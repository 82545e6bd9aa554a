#!/usr/bin/env bash
# Cost per dropped packet, every tracer measured in the same run: a bounded
# UDP flood (COUNT datagrams, bench/udp_flood) from namespace A into an
# iptables DROP in namespace B, both made here, with
#   none      no tracer
#   floor     an empty BPF program on skb:kfree_skb (bpftrace, empty action)
#   bpftrace  bpftrace counting drops per reason
#   summary   rtrace-drop run RULES --summary
#   json      rtrace-drop run RULES --json > /dev/null
# CPU is the whole machine's busy time from /proc/stat (user, system, irq,
# softirq: drops are processed in softirq), so the tracer's own user-space
# work counts too. Each figure is the median of RUNS; the added cost is
# against `none` of the same run. Needs root, bpftrace, iptables.
#
#   sudo bench/drop_cost.sh [BUILD_DIR=build/release] [COUNT=1000000] [RUNS=3] [RULES=tests/data/e2e/drops.rule]
#
# bench/bench_all.sh (make bench) measures this and the rest of issue 9 in one
# run, as one table; this script still runs alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
COUNT=${2:-1000000}
RUNS=${3:-3}
RULES=${4:-tests/data/e2e/drops.rule}
BIN=$BUILD/rtrace-drop
FLOOD=$BUILD/bench/udp_flood
NS_A=rtd-cost-$$-a NS_B=rtd-cost-$$-b DEV_A=rtdc$$a DEV_B=rtdc$$b
WORK=$(mktemp -d /tmp/rtd-drop-cost.XXXXXX)
TRACER=
cleanup() {
  [ -n "$TRACER" ] && kill -9 "$TRACER" 2>/dev/null || true
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for tool in bpftrace iptables; do command -v $tool >/dev/null || { echo "drop_cost: needs $tool"; exit 1; }; done
[ -x "$FLOOD" ] || { echo "drop_cost: build $FLOOD first (make build)"; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing

ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add "$DEV_A" type veth peer name "$DEV_B"
ip link set "$DEV_A" netns "$NS_A"; ip link set "$DEV_B" netns "$NS_B"
ip -n "$NS_A" addr add 10.252.0.1/24 dev "$DEV_A"; ip -n "$NS_B" addr add 10.252.0.2/24 dev "$DEV_B"
ip -n "$NS_A" link set "$DEV_A" up; ip -n "$NS_B" link set "$DEV_B" up
ip netns exec "$NS_B" iptables -A INPUT -p udp --dport 9 -j DROP
ip netns exec "$NS_A" "$FLOOD" 10.252.0.2 9 100 > /dev/null; sleep 0.5  # neighbour resolved before timing

busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
dropped() { ip netns exec "$NS_B" iptables -nvxL INPUT | awk '/DROP/ { print $1; exit }'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
HZ=$(getconf CLK_TCK)

start_tracer() {  # name: starts it and waits until it is attached
  rm -f "$WORK/ready" "$WORK/out"
  case $1 in
    none) TRACER=; return ;;
    floor) bpftrace -e 'tracepoint:skb:kfree_skb {} BEGIN { printf("ready\n"); }' > "$WORK/out" 2>&1 & ;;
    bpftrace) bpftrace -e 'tracepoint:skb:kfree_skb { @[args->reason] = count(); } BEGIN { printf("ready\n"); }' > "$WORK/out" 2>&1 & ;;
    summary) "$BIN" run "$RULES" --summary --ready-file "$WORK/ready" > "$WORK/out" 2> "$WORK/err" & ;;
    json) "$BIN" run "$RULES" --json --ready-file "$WORK/ready" > /dev/null 2> "$WORK/err" & ;;
  esac
  TRACER=$!
  for _ in $(seq 3000); do
    { [ -f "$WORK/ready" ] || grep -q ready "$WORK/out" 2>/dev/null; } && break
    sleep 0.01
  done
  sleep 0.5  # let start-up work settle before the clock starts
}
stop_tracer() {
  [ -n "$TRACER" ] || return 0
  kill -INT "$TRACER"; wait "$TRACER" || true
  TRACER=
}

CONFIGS="none floor bpftrace summary json"
for run in $(seq "$RUNS"); do
  for c in $CONFIGS; do
    start_tracer "$c"
    d0=$(dropped); b0=$(busy_jiffies)
    ip netns exec "$NS_A" "$FLOOD" 10.252.0.2 9 "$COUNT" > /dev/null
    sleep 0.2  # the last softirqs and ring-buffer reads
    b1=$(busy_jiffies); d1=$(dropped)
    stop_tracer
    # rtrace-drop's own final counters table: were events lost?
    case $c in summary|json) awk '/^RULE / {t = 1} t && /^rtrace-drop: / {t = 0} t' "$WORK/err" | sed "s/^/  $c run $run: /" >> "$WORK/counters" ;; esac
    # nanoseconds of CPU per dropped packet
    echo "$(( (b1 - b0) * 1000000000 / HZ / (d1 - d0) )) $(( d1 - d0 ))" >> "$WORK/$c"
  done
done

none=$(cut -d' ' -f1 "$WORK/none" | median)
floor=$(( $(cut -d' ' -f1 "$WORK/floor" | median) - none ))
bt=$(( $(cut -d' ' -f1 "$WORK/bpftrace" | median) - none ))
printf "cost per drop, %s datagrams into iptables DROP, median of %s runs, rules: %s\n" "$COUNT" "$RUNS" "$RULES"
printf "%-34s %10s %12s %14s %14s\n" "tracer" "ns/drop" "added ns" "x floor added" "x bpftrace"
for c in $CONFIGS; do
  ns=$(cut -d' ' -f1 "$WORK/$c" | median)
  added=$(( ns - none ))
  label=$c
  case $c in
    none) label="no tracer" ;;
    floor) label="empty program on kfree_skb" ;;
    bpftrace) label="bpftrace $(bpftrace --version | awk '{print $2}'), count per reason" ;;
    summary) label="rtrace-drop --summary" ;;
    json) label="rtrace-drop --json > /dev/null" ;;
  esac
  if [ "$c" = none ]; then
    printf "%-34s %10s %12s %14s %14s\n" "$label" "$ns" "-" "-" "-"
  else
    printf "%-34s %10s %12s %14s %14s\n" "$label" "$ns" "$added" \
      "$( [ "$floor" -gt 0 ] && echo "scale=2; $added / $floor" | bc || echo n/a)" \
      "$( [ "$bt" -gt 0 ] && echo "scale=2; $added / $bt" | bc || echo n/a)"
  fi
done
echo "rtrace-drop counters (EVENTS + LOST = DROPS; LOST > 0 means the ring overflowed):"
cat "$WORK/counters" 2>/dev/null || true
