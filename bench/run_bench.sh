#!/usr/bin/env bash
# `rtrace-drop run` start-up (rule text to attached) cold and cached, and of
# the same rules prebuilt into an .rdo object run without a compiler, and
# their peak memory, next to bpftrace 0.17 running an equivalent script, measured in
# the same run. Prints medians of RUNS (default 5). Needs root.
#
#   bench/run_bench.sh [path/to/rtrace-drop] [RUNS]
#
# bench/bench_all.sh (make bench) measures this and the rest of issue 9 in one
# run, as one table; this script still runs alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/release/rtrace-drop}
RUNS=${2:-5}
RULES=tests/data/e2e/drops.rule   # 3 skb:kfree_skb rules (+1 function probe, skipped where kprobes are missing)
WORK=$(mktemp -d /tmp/rtd-run-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# bpftrace finds tracepoints through tracefs.
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing
bpftool btf dump file /sys/kernel/btf/vmlinux > "$WORK/btf.txt"
reason() {  # this kernel's value of SKB_DROP_REASON_$1
  grep -m1 -E "'SKB_DROP_REASON_$1' val=" "$WORK/btf.txt" | sed -E 's/.*val=([0-9]+).*/\1/'
}
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# Starts a tracer, waits until it says it is attached, records ms and peak RSS.
measure() {  # name ready-test command...
  local name=$1 ready=$2; shift 2
  local t0 pid
  rm -f "$WORK/ready" "$WORK/out"
  t0=$(now_ms)
  "$@" > "$WORK/out" 2>"$WORK/err" &
  pid=$!
  for _ in $(seq 3000); do
    if eval "$ready"; then break; fi
    sleep 0.005
  done
  local t=$(( $(now_ms) - t0 ))
  sleep 0.5
  local rss; rss=$(hwm_kb "$pid")
  kill -INT "$pid"; wait "$pid" || true
  echo "$t $rss" >> "$WORK/$name"
}

NF=$(reason NETFILTER_DROP); NS=$(reason NO_SOCKET); RB=$(reason SOCKET_RCVBUFF)
cat > "$WORK/equivalent.bt" <<BT
tracepoint:skb:kfree_skb /args->reason == $NF/ { printf("netfilter %d\n", args->reason); }
tracepoint:skb:kfree_skb /args->reason == $NS/ { printf("no socket %d\n", args->reason); }
tracepoint:skb:kfree_skb /args->reason == $RB/ { \$sk = (struct sock *)args->rx_sk; printf("rcvbuf %d\n", \$sk->sk_rcvbuf); }
BEGIN { printf("ready\n"); }
BT

"$BIN" build "$RULES" -o "$WORK/prebuilt.rdo" 2>/dev/null
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/cache"
  measure prebuilt '[ -f "$WORK/ready" ]' env XDG_CACHE_HOME="$WORK/cache" RTRACE_DROP_NO_COMPILER=1 "$BIN" run "$WORK/prebuilt.rdo" --json --ready-file "$WORK/ready"
  rm -rf "$WORK/cache"
  measure cold '[ -f "$WORK/ready" ]' env XDG_CACHE_HOME="$WORK/cache" "$BIN" run "$RULES" --json --ready-file "$WORK/ready"
  measure cached '[ -f "$WORK/ready" ]' env XDG_CACHE_HOME="$WORK/cache" "$BIN" run "$RULES" --json --ready-file "$WORK/ready"
  if command -v bpftrace >/dev/null; then
    measure bpftrace 'grep -q ready "$WORK/out" 2>/dev/null' bpftrace "$WORK/equivalent.bt"
  fi
done

printf "%-34s %12s %14s\n" "start-up (median of $RUNS)" "ms" "peak RSS MB"
for name in cold cached prebuilt bpftrace; do
  [ -f "$WORK/$name" ] || continue
  ms=$(cut -d' ' -f1 "$WORK/$name" | median)
  kb=$(cut -d' ' -f2 "$WORK/$name" | median)
  label=$name; [ "$name" = bpftrace ] && label="bpftrace $(bpftrace --version | awk '{print $2}')"
  [ "$name" != bpftrace ] && label="rtrace-drop run, $name"
  [ "$name" = prebuilt ] && label="rtrace-drop run x.rdo, no compiler"
  printf "%-34s %12s %14.1f\n" "$label" "$ms" "$(echo "$kb / 1024" | bc -l)"
done
