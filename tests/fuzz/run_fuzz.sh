#!/usr/bin/env bash
# Bounded fuzz run: fuzzer binary, seconds, scratch corpus dir, dictionary
# (or -), then seed corpus folders. RTD_FUZZ_SECONDS, when set, replaces
# the seconds (`make fuzz` runs every target longer this way).
set -euo pipefail
fuzzer=$1 seconds=${RTD_FUZZ_SECONDS:-$2} scratch=$3 dict=$4
shift 4
mkdir -p "$scratch"
dict_arg=()
[ "$dict" != - ] && dict_arg=(-dict="$dict")
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  "${dict_arg[@]}" -print_final_stats=1 "$scratch" "$@"
